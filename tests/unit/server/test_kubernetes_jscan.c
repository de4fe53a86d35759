/* SPDX-License-Identifier: MIT */
/* Unit tests for the kubernetes client's stream splitter (jscan.h): a
 * LIST page cut into its metadata and items, a watch stream into events,
 * the same objects however the bytes are chunked, strings that hold
 * brackets and quotes, and malformed or oversized streams refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/plugins/kubernetes/jscan.h"

struct got {
	int n;
	ds_jscan_what_t what[16];
	char obj[16][256];
};

static void on_obj(void *arg, ds_jscan_what_t what, const char *obj, size_t len)
{
	struct got *g = arg;
	assert_true(g->n < 16 && len < 256);
	g->what[g->n] = what;
	memcpy(g->obj[g->n], obj, len);
	g->obj[g->n][len] = '\0';
	g->n++;
}

/* Feed text in chunks of `chunk` bytes (0: whole). */
static bool feed(ds_jscan_t *s, const char *text, size_t chunk, struct got *g)
{
	size_t n = strlen(text);
	if (!chunk)
		chunk = n;
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		if (!ds_jscan_feed(s, text + off, k, on_obj, g))
			return false;
	}
	return true;
}

static const char *list_page =
	"{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"resourceVersion\":\"42\",\"continue\":\"abc\"},"
	"\"items\":[{\"metadata\":{\"name\":\"a}\\\"[\"}},"
	"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"ports\":[{\"port\":53}]}}]}";

static void test_list_page(void **state)
{
	(void)state;
	for (size_t chunk = 0; chunk <= 7; chunk++) {
		ds_jscan_t s = {0};
		ds_jscan_reset(&s, DS_JSCAN_LIST);
		struct got g = {0};
		assert_true(feed(&s, list_page, chunk, &g));
		assert_true(ds_jscan_complete(&s));
		assert_int_equal(g.n, 3);
		assert_int_equal(g.what[0], DS_JSCAN_META);
		assert_string_equal(g.obj[0], "{\"resourceVersion\":\"42\",\"continue\":\"abc\"}");
		assert_int_equal(g.what[1], DS_JSCAN_ITEM);
		/* Brackets and an escaped quote inside a string do not cut. */
		assert_string_equal(g.obj[1], "{\"metadata\":{\"name\":\"a}\\\"[\"}}");
		assert_int_equal(g.what[2], DS_JSCAN_ITEM);
		assert_string_equal(g.obj[2],
		                    "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"ports\":[{\"port\":53}]}}");
		ds_jscan_free(&s);
	}
}

static void test_list_other_keys(void **state)
{
	(void)state;
	/* Only the top level's "items" and "metadata" are cut out: nested
	 * keys of the same names and a string value "items" are not. */
	const char *t = "{\"x\":{\"items\":[{\"a\":1}]},\"kind\":\"items\",\"y\":[{\"metadata\":{}}],"
	                "\"items\":[]}";
	ds_jscan_t s = {0};
	ds_jscan_reset(&s, DS_JSCAN_LIST);
	struct got g = {0};
	assert_true(feed(&s, t, 3, &g));
	assert_int_equal(g.n, 0);
	assert_true(ds_jscan_complete(&s));
	ds_jscan_free(&s);
}

static void test_watch_stream(void **state)
{
	(void)state;
	const char *t = "{\"type\":\"ADDED\",\"object\":{\"a\":[1,{\"b\":\"}\"}]}}\n"
	                "{\"type\":\"BOOKMARK\",\"object\":{}}\n"
	                "{\"type\":\"ERROR\",\"object\":{\"code\":410}}\n";
	for (size_t chunk = 0; chunk <= 5; chunk++) {
		ds_jscan_t s = {0};
		ds_jscan_reset(&s, DS_JSCAN_WATCH);
		struct got g = {0};
		assert_true(feed(&s, t, chunk, &g));
		assert_int_equal(g.n, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(g.what[i], DS_JSCAN_EVENT);
		assert_string_equal(g.obj[0], "{\"type\":\"ADDED\",\"object\":{\"a\":[1,{\"b\":\"}\"}]}}");
		assert_string_equal(g.obj[2], "{\"type\":\"ERROR\",\"object\":{\"code\":410}}");
		assert_true(ds_jscan_complete(&s));
		ds_jscan_free(&s);
	}
}

static void test_incomplete_and_malformed(void **state)
{
	(void)state;
	ds_jscan_t s = {0};
	struct got g = {0};
	/* A stream cut in the middle of an event is not complete. */
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	assert_true(feed(&s, "{\"type\":\"ADDED\",\"object\":{", 0, &g));
	assert_int_equal(g.n, 0);
	assert_false(ds_jscan_complete(&s));
	/* A close without an open fails the stream, and it stays failed. */
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	assert_false(feed(&s, "{}}", 0, &g));
	assert_int_equal(g.n, 1);
	assert_false(ds_jscan_complete(&s));
	assert_false(feed(&s, "{}", 0, &g));
	assert_int_equal(g.n, 1);
	/* Reset starts over. */
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	assert_true(feed(&s, "{}", 0, &g));
	assert_int_equal(g.n, 2);
	ds_jscan_free(&s);
}

static void test_depth_bound(void **state)
{
	(void)state;
	/* A server streaming '[' forever is cut off, not counted to overflow. */
	size_t n = 70000;
	char *t = malloc(n + 1);
	memset(t, '[', n);
	t[n] = '\0';
	ds_jscan_t s = {0};
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	struct got g = {0};
	assert_false(feed(&s, t, 4096, &g));
	assert_true(s.failed);
	ds_jscan_free(&s);
	free(t);
}

static void test_oversized_object(void **state)
{
	(void)state;
	/* One event over the limit fails the stream instead of growing
	 * the buffer without end. */
	size_t chunk = 1 << 20;
	char *t = malloc(chunk);
	memset(t, ' ', chunk);
	ds_jscan_t s = {0};
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	struct got g = {0};
	assert_true(ds_jscan_feed(&s, "{\"a\":\"", 6, on_obj, &g));
	bool ok = true;
	size_t fed = 6;
	while (ok && fed <= DS_JSCAN_MAX_OBJECT) {
		ok = ds_jscan_feed(&s, t, chunk, on_obj, &g);
		fed += chunk;
	}
	assert_false(ok);
	assert_true(s.failed);
	assert_int_equal(g.n, 0);
	/* The next stream does not keep the 64 MB buffer. */
	ds_jscan_reset(&s, DS_JSCAN_WATCH);
	assert_null(s.buf);
	ds_jscan_free(&s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_page),
		cmocka_unit_test(test_list_other_keys),
		cmocka_unit_test(test_watch_stream),
		cmocka_unit_test(test_incomplete_and_malformed),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_oversized_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
