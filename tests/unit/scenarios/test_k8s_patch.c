/* SPDX-License-Identifier: MIT */
/* Unit tests for scenarios/k8s/k8s_patch: merge, strategic-as-merge and JSON patch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "scenarios/k8s/k8s_patch.h"

static void expect(cJSON *got, const char *want)
{
	cJSON *w = cJSON_Parse(want);
	assert_non_null(w);
	if (!cJSON_Compare(got, w, true)) {
		char *g = cJSON_PrintUnformatted(got);
		fail_msg("got %s, want %s", g, want);
	}
	cJSON_Delete(w);
}

static void merge(const char *target, const char *patch, bool smp, const char *want)
{
	cJSON *t = cJSON_Parse(target), *p = cJSON_Parse(patch);
	assert_int_equal(ds_k8s_merge_patch(&t, p, smp), DS_OK);
	expect(t, want);
	cJSON_Delete(t);
	cJSON_Delete(p);
}

static void test_merge_rfc7386(void **st)
{
	/* Examples from RFC 7386 appendix A. */
	merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", false, "{\"a\":\"c\"}");
	merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", false, "{\"a\":\"b\",\"b\":\"c\"}");
	merge("{\"a\":\"b\"}", "{\"a\":null}", false, "{}");
	merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", false, "{\"b\":\"c\"}");
	merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", false, "{\"a\":\"c\"}");
	merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", false, "{\"a\":[\"b\"]}");
	merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", false,
	      "{\"a\":{\"b\":\"d\"}}");
	merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", false, "{\"a\":[1]}");
	merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", false, "[\"c\",\"d\"]");
	merge("{\"a\":\"b\"}", "[\"c\"]", false, "[\"c\"]");
	merge("{\"e\":null}", "{\"a\":1}", false, "{\"e\":null,\"a\":1}");
	merge("[1,2]", "{\"a\":\"b\",\"c\":null}", false, "{\"a\":\"b\"}");
	merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", false, "{\"a\":{\"bb\":{}}}");
}

static void test_strategic_as_merge(void **st)
{
	/* kubectl apply's patch for an EndpointSlice: directives are ignored,
	 * lists replaced. */
	merge("{\"metadata\":{\"labels\":{\"a\":\"1\"}},\"endpoints\":[{\"addresses\":[\"10.0.0."
	      "1\"]}]}",
	      "{\"$setElementOrder/ports\":[{\"port\":80}],\"metadata\":{\"$retainKeys\":[\"x\"],"
	      "\"labels\":{\"b\":\"2\"}},\"endpoints\":[{\"addresses\":[\"10.0.0.2\"]}]}",
	      true,
	      "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"endpoints\":[{\"addresses\":"
	      "[\"10.0.0.2\"]}]}");
	/* the same keys in a plain merge patch are kept as data */
	merge("{}", "{\"$x\":1}", false, "{\"$x\":1}");
}

static int jpatch(const char *target, const char *ops, const char *want)
{
	cJSON *t = cJSON_Parse(target), *p = cJSON_Parse(ops);
	ds_err_t err;
	int rc = ds_k8s_json_patch(&t, p, &err);
	expect(t, rc == DS_OK ? want : target);
	cJSON_Delete(t);
	cJSON_Delete(p);
	return rc;
}

static void test_json_patch(void **st)
{
	assert_int_equal(jpatch("{\"a\":{\"b\":1}}",
				"[{\"op\":\"add\",\"path\":\"/a/c\",\"value\":2},"
				"{\"op\":\"replace\",\"path\":\"/a/b\",\"value\":3}]",
				"{\"a\":{\"b\":3,\"c\":2}}"),
			 DS_OK);
	assert_int_equal(jpatch("{\"l\":[1,2,3]}",
				"[{\"op\":\"remove\",\"path\":\"/l/1\"},"
				"{\"op\":\"add\",\"path\":\"/l/-\",\"value\":4},"
				"{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0}]",
				"{\"l\":[0,1,3,4]}"),
			 DS_OK);
	assert_int_equal(jpatch("{\"a\":1,\"b\":{}}",
				"[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b/a\"},"
				"{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/c\"},"
				"{\"op\":\"test\",\"path\":\"/c\",\"value\":1}]",
				"{\"b\":{\"a\":1},\"c\":1}"),
			 DS_OK);
	/* "~1" escapes '/', as in label keys */
	assert_int_equal(jpatch("{\"labels\":{}}",
				"[{\"op\":\"add\",\"path\":\"/labels/example.com~1team\","
				"\"value\":\"edge\"}]",
				"{\"labels\":{\"example.com/team\":\"edge\"}}"),
			 DS_OK);
	/* all or nothing: a failing test leaves the target as it was */
	assert_int_equal(jpatch("{\"a\":1}",
				"[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2},"
				"{\"op\":\"test\",\"path\":\"/a\",\"value\":9}]",
				NULL),
			 DS_EINVAL);
	assert_int_equal(jpatch("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/nope\"}]", NULL),
			 DS_EINVAL);
	assert_int_equal(
	    jpatch("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", NULL),
	    DS_EINVAL);
	assert_int_equal(jpatch("{\"a\":1}", "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", NULL),
			 DS_EINVAL);
	assert_int_equal(jpatch("{\"a\":1}", "{\"op\":\"add\"}", NULL), DS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_rfc7386),
	    cmocka_unit_test(test_strategic_as_merge),
	    cmocka_unit_test(test_json_patch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
