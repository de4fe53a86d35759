/* SPDX-License-Identifier: MIT */
/* Unit tests for scenarios/k8s/k8s_select: label and field selectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "scenarios/k8s/k8s_select.h"
#include "scenarios/k8s/k8s_store.h"

static const ds_k8s_kv_t web[] = {
    {"app", "web"}, {"tier", "frontend"}, {"version", "3"}, {"example.com/team", "edge"}};
static const ds_k8s_kv_t db[] = {{"app", "db"}, {"version", "12"}};

static bool lmatch(const char *sel, const ds_k8s_kv_t *kv, size_t n)
{
	ds_err_t err;
	ds_k8s_sel_t *s = ds_k8s_labelsel_parse(sel, &err);
	if (!s)
		fail_msg("parse \"%s\": %s", sel, err.msg);
	bool m = ds_k8s_sel_match(s, kv, n);
	ds_k8s_sel_free(s);
	return m;
}

#define WEB(s) lmatch(s, web, DS_ARRAY_SIZE(web))
#define DB(s) lmatch(s, db, DS_ARRAY_SIZE(db))

static void test_label_equality(void **st)
{
	assert_true(WEB(""));
	assert_true(WEB("app=web"));
	assert_true(WEB("app==web"));
	assert_false(DB("app=web"));
	assert_true(WEB("app = web , tier=frontend"));
	assert_false(WEB("app=web,tier=backend"));
	/* != also selects objects without the key, as the API server does */
	assert_true(DB("tier!=frontend"));
	assert_false(WEB("tier!=frontend"));
	assert_true(WEB("example.com/team=edge"));
}

static void test_label_sets_and_existence(void **st)
{
	assert_true(WEB("app in (web,api)"));
	assert_false(DB("app in (web, api)"));
	assert_true(DB("app notin (web,api)"));
	/* notin matches a missing key */
	assert_true(DB("tier notin (frontend)"));
	assert_true(WEB("tier"));
	assert_false(DB("tier"));
	assert_true(DB("!tier"));
	assert_false(WEB("!tier"));
	assert_true(WEB("app in (web),!missing,tier"));
	/* a key literally named "in" is still a key */
	assert_false(WEB("in"));
	assert_true(WEB("version>2"));
	assert_false(DB("version<12"));
	assert_true(DB("version<13"));
}

static void test_label_errors(void **st)
{
	ds_err_t err;
	const char *bad[] = {"app=",     "=web",     "app in web", "app in (web",
			     "app=web,", "!app=web", "a b",        "app=we b",
			     "-app=web", "app=-web", "version>x",  "app in (a,-b)"};
	/* "app=" is fine (selects the empty value); the rest are not */
	ds_k8s_sel_t *s = ds_k8s_labelsel_parse(bad[0], &err);
	assert_non_null(s);
	assert_false(ds_k8s_sel_match(s, web, DS_ARRAY_SIZE(web)));
	const ds_k8s_kv_t empty[] = {{"app", ""}};
	assert_true(ds_k8s_sel_match(s, empty, 1));
	ds_k8s_sel_free(s);
	for (size_t i = 1; i < DS_ARRAY_SIZE(bad); i++) {
		s = ds_k8s_labelsel_parse(bad[i], &err);
		if (s)
			fail_msg("\"%s\" should not parse", bad[i]);
		assert_true(strlen(err.msg) > 0);
	}
}

static bool fmatch(const char *sel, const ds_k8s_kv_t *kv, size_t n)
{
	ds_err_t err;
	ds_k8s_sel_t *s = ds_k8s_fieldsel_parse(sel, &err);
	if (!s)
		fail_msg("parse \"%s\": %s", sel, err.msg);
	bool m = ds_k8s_sel_match(s, kv, n);
	ds_k8s_sel_free(s);
	return m;
}

static void test_field_selectors(void **st)
{
	const ds_k8s_kv_t running[] = {{"metadata.name", "web-1"},
				       {"metadata.namespace", "default"},
				       {"status.phase", "Running"}};
	const ds_k8s_kv_t done[] = {{"metadata.name", "job-1"},
				    {"metadata.namespace", "batch"},
				    {"status.phase", "Succeeded"}};
	/* CoreDNS's pod watch */
	const char *coredns = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";
	assert_true(fmatch(coredns, running, 3));
	assert_false(fmatch(coredns, done, 3));
	/* kubectl 1.20 delete waits on metadata.name= */
	assert_true(fmatch("metadata.name=web-1", running, 3));
	assert_true(fmatch("metadata.name==web-1,metadata.namespace=default", running, 3));
	assert_false(fmatch("metadata.name=web-1", done, 3));
	assert_true(fmatch("", done, 3));
	/* escapes */
	const ds_k8s_kv_t odd[] = {{"metadata.name", "a,b=c"}};
	assert_true(fmatch("metadata.name=a\\,b\\=c", odd, 1));
	ds_err_t err;
	assert_null(ds_k8s_fieldsel_parse("metadata.name", &err));
	assert_null(ds_k8s_fieldsel_parse("metadata.name=a\\x", &err));
	ds_k8s_sel_t *s = ds_k8s_fieldsel_parse("metadata.name=x", &err);
	assert_string_equal(ds_k8s_sel_eq_value(s, "metadata.name"), "x");
	assert_null(ds_k8s_sel_eq_value(s, "metadata.namespace"));
	ds_k8s_sel_free(s);
}

static void test_supported_fields(void **st)
{
	ds_err_t err;
	ds_k8s_status_t s;
	ds_k8s_sel_t *f = ds_k8s_fieldsel_parse("status.phase!=Failed", &err);
	assert_int_equal(ds_k8s_store_check_fields(DS_K8S_PODS, f, &s), DS_OK);
	assert_int_equal(ds_k8s_store_check_fields(DS_K8S_ENDPOINTSLICES, f, &s), DS_EINVAL);
	assert_int_equal(s.code, 400);
	assert_string_equal(s.message, "field label not supported: status.phase");
	ds_k8s_sel_free(f);
	f = ds_k8s_fieldsel_parse("metadata.namespace=a,spec.clusterIP=None", &err);
	assert_int_equal(ds_k8s_store_check_fields(DS_K8S_SERVICES, f, &s), DS_OK);
	ds_k8s_sel_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_equality),
	    cmocka_unit_test(test_label_sets_and_existence),
	    cmocka_unit_test(test_label_errors),
	    cmocka_unit_test(test_field_selectors),
	    cmocka_unit_test(test_supported_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
