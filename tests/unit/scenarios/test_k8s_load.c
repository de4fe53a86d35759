/* SPDX-License-Identifier: MIT */
/* Unit tests for scenarios/k8s/k8s_load and k8s_util: input files and formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/k8s/k8s_load.h"
#include "scenarios/k8s/k8s_util.h"

typedef struct seen {
	int n;
	char kinds[8][32];
	char names[8][64];
	cJSON *first;
} seen_t;

static int collect(void *arg, cJSON *obj, const char *where)
{
	seen_t *s = arg;
	const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "kind"));
	const char *n =
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
	if (s->n < 8) {
		snprintf(s->kinds[s->n], 32, "%s", k ? k : "");
		snprintf(s->names[s->n], 64, "%s", n ? n : "");
	}
	if (!s->first)
		s->first = cJSON_Duplicate(obj, true);
	s->n++;
	return 0;
}

static void test_yaml_multidoc(void **st)
{
	const char *y = "---\n"
			"apiVersion: v1\n"
			"kind: Service\n"
			"metadata:\n"
			"  name: web\n"
			"  labels: {on: \"yes\", port: '80'}\n"
			"spec:\n"
			"  ports:\n"
			"  - port: 80\n"
			"    name: http\n"
			"  publishNotReadyAddresses: false\n"
			"  x: ~\n"
			"  f: 1.5\n"
			"  s: yes\n"
			"---\n"
			"apiVersion: discovery.k8s.io/v1\n"
			"kind: EndpointSlice\n"
			"metadata: {name: web-1}\n"
			"---\n";
	seen_t s = {0};
	ds_err_t err;
	assert_int_equal(ds_k8s_load_buf(y, strlen(y), "t.yaml", collect, &s, &err), DS_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kinds[0], "Service");
	assert_string_equal(s.kinds[1], "EndpointSlice");
	assert_string_equal(s.names[1], "web-1");
	cJSON *spec = cJSON_GetObjectItem(s.first, "spec");
	cJSON *port =
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "ports"), 0), "port");
	assert_true(cJSON_IsNumber(port));
	assert_int_equal(port->valueint, 80);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(spec, "publishNotReadyAddresses")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(spec, "x")));
	assert_true(cJSON_GetObjectItem(spec, "f")->valuedouble == 1.5);
	/* YAML 1.2: "yes" is a string, quoted numbers stay strings */
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "s")), "yes");
	cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(s.first, "metadata"), "labels");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(labels, "port")), "80");
	cJSON_Delete(s.first);
}

static void test_typed_list(void **st)
{
	/* A raw API list: items carry no kind or apiVersion. */
	const char *j = "{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\","
			"\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
			"{\"metadata\":{\"name\":\"b\"}}]}";
	seen_t s = {0};
	ds_err_t err;
	assert_int_equal(ds_k8s_load_buf(j, strlen(j), "t.json", collect, &s, &err), DS_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kinds[0], "EndpointSlice");
	assert_string_equal(s.names[1], "b");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s.first, "apiVersion")),
			    "discovery.k8s.io/v1");
	cJSON_Delete(s.first);
	/* kubectl get -o json: kind List, items with kinds */
	const char *l = "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{\"kind\":\"Pod\","
			"\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\"}}]}";
	memset(&s, 0, sizeof(s));
	assert_int_equal(ds_k8s_load_buf(l, strlen(l), "l.json", collect, &s, &err), DS_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kinds[0], "Pod");
	cJSON_Delete(s.first);
}

static void test_bad_input(void **st)
{
	seen_t s = {0};
	ds_err_t err;
	assert_int_equal(ds_k8s_load_buf("{\"a\":", 5, "x.json", collect, &s, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "x.json"));
	const char *y = "a: [1, 2\n";
	assert_int_equal(ds_k8s_load_buf(y, strlen(y), "y.yaml", collect, &s, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "y.yaml"));
	const char *notobj = "- 1\n- 2\n";
	assert_int_equal(ds_k8s_load_buf(notobj, strlen(notobj), "z.yaml", collect, &s, &err),
			 DS_EINVAL);
	assert_int_equal(ds_k8s_load_file("/nonexistent/file.yaml", collect, &s, &err), DS_ENOENT);
	assert_int_equal(s.n, 0);
}

static void test_util_formats(void **st)
{
	char t[DS_K8S_TIME_MAX];
	/* Go's RFC3339Nano trims trailing zeros */
	assert_string_equal(
	    ds_k8s_fmt_time(1735689600LL * 1000000000LL + 120000000, true, t, sizeof(t)),
	    "2025-01-01T00:00:00.12Z");
	assert_string_equal(ds_k8s_fmt_time(1735689600LL * 1000000000LL, true, t, sizeof(t)),
			    "2025-01-01T00:00:00Z");
	assert_string_equal(ds_k8s_fmt_time(1735689661LL * 1000000000LL + 5, false, t, sizeof(t)),
			    "2025-01-01T00:01:01Z");
	const char *in[] = {"", "a", "ab", "abc", "{\"rv\":12}"};
	for (size_t i = 0; i < 5; i++) {
		char *e = ds_k8s_b64url_encode(in[i], strlen(in[i]));
		size_t len;
		char *d = ds_k8s_b64url_decode(e, &len);
		assert_non_null(d);
		assert_int_equal(len, strlen(in[i]));
		assert_memory_equal(d, in[i], len);
		free(e);
		free(d);
	}
	assert_null(ds_k8s_b64url_decode("a$b", NULL));
	bool b;
	assert_int_equal(ds_k8s_parse_bool("True", &b), DS_OK);
	assert_true(b);
	assert_int_equal(ds_k8s_parse_bool("0", &b), DS_OK);
	assert_false(b);
	assert_int_equal(ds_k8s_parse_bool("yes", &b), DS_EINVAL);
	ds_k8s_buf_t buf;
	ds_k8s_buf_init(&buf);
	ds_k8s_buf_json_str(&buf, "a\"b\\c\n\x01");
	assert_string_equal(buf.p, "\"a\\\"b\\\\c\\n\\u0001\"");
	ds_k8s_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_multidoc),
	    cmocka_unit_test(test_typed_list),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_util_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
