/* SPDX-License-Identifier: MIT */
/* Several server blocks on one address (longest zone wins, DS goes to the
 * parent side, "." is the last resort), chain order from plugin.list, the
 * return-code protocol and "no next plugin". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/server/harness.h"

/* Each block answers with its own address, so the answer says which
 * block served the query. */
static const char *blocks =
	"example.org:53 {\n"
	" template IN ANY {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n"
	"}\n"
	"sub.example.org:53 {\n"
	" template IN ANY {\n  answer \"{{ .Name }} 60 IN A 10.0.0.2\"\n }\n"
	"}\n"
	".:53 {\n"
	" template IN ANY {\n  answer \"{{ .Name }} 60 IN A 10.0.0.3\"\n }\n"
	"}\n";

static ds_th_t *mk(const char *cf)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fail_msg("config: %s", err.msg);
	return t;
}

static void test_longest_zone_wins(void **st)
{
	ds_th_t *t = mk(blocks);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "www.example.org.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.1"));
	assert_int_equal(ds_th_query(t, "a.b.sub.example.org.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.2"));
	assert_int_equal(ds_th_query(t, "sub.example.org.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.2"));
	/* case does not matter for matching */
	assert_int_equal(ds_th_query(t, "X.SUB.Example.ORG.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.2"));
	/* the root block takes what nothing else matched */
	assert_int_equal(ds_th_query(t, "example.net.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.3"));
	/* DS goes to the parent side of a cut: the highest matching zone */
	assert_int_equal(ds_th_query(t, "sub.example.org.", "DS", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.1"));
	ds_th_free(t);
}

static void test_no_root_block_refuses(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n template IN ANY {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n}\n");
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "example.net.", "A", 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
	ds_th_free(t);
}

static void test_chain_order_is_plugin_list_order(void **st)
{
	/* Written with whoami first: it still runs after template (plugin.list
	 * order), so template answers and whoami is never reached for A. */
	ds_th_t *t = mk(".:53 {\n whoami\n template IN A {\n  answer \"{{ .Name }} 60 IN A 10.9.9.9\"\n }\n}\n");
	ds_block_t *b = ds_th_gen(t)->blocks[0];
	assert_int_equal(b->nchain, 2);
	assert_string_equal(b->chain[0]->api->name, "template");
	assert_string_equal(b->chain[1]->api->name, "whoami");
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "a.example.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.9.9.9"));
	assert_string_equal(r.writer, "template");
	/* AAAA does not match the template: it passes to whoami */
	assert_int_equal(ds_th_query(t, "a.example.", "AAAA", 0, 100, &r), 0);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);
}

static void test_no_next_plugin(void **st)
{
	/* A plugin that passes the query on at the end of the chain: SERVFAIL
	 * written by the server, and the error names the plugin. */
	ds_th_t *t = mk(".:53 {\n errors\n cache\n}\n");
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "a.example.", "A", 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, "");
	ds_th_free(t);
}

static void test_plugins_in_every_block_are_separate(void **st)
{
	/* two blocks, two caches: one block's cache does not answer the other */
	ds_th_t *t = mk("a.example:53 {\n cache\n template IN A {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n}\n"
			"b.example:53 {\n cache\n template IN A {\n  answer \"{{ .Name }} 60 IN A 10.0.0.2\"\n }\n}\n");
	ds_gen_t *g = ds_th_gen(t);
	assert_int_equal(g->nblocks, 2);
	assert_ptr_not_equal(ds_block_find(g->blocks[0], "cache")->ctx,
			     ds_block_find(g->blocks[1], "cache")->ctx);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "x.b.example.", "A", 0, 100, &r), 0);
	assert_true(ds_th_has(&r, "10.0.0.2"));
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	static const char *bad[] = {
		".:53 {\n whoami\n}\n.:53 {\n whoami\n}\n",
		".:53 {\n etcd\n}\n",
		"tls://.:853 {\n whoami\n}\n",
		".:53 {\n whoami\n whoami\n}\n",
	};
	static const char *want[] = {
		"cannot serve dns://.:53 - it is already defined",
		"plugin/etcd: this plugin is not built into dnsurged yet",
		"only dns:// servers are supported",
		"can only be used once per Server Block",
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		ds_err_t err = {{0}};
		ds_th_t *t = ds_th_new(bad[i], &err);
		assert_null(t);
		if (!strstr(err.msg, want[i]))
			fail_msg("config %zu: got '%s', want '%s'", i, err.msg, want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_zone_wins),
		cmocka_unit_test(test_no_root_block_refuses),
		cmocka_unit_test(test_chain_order_is_plugin_list_order),
		cmocka_unit_test(test_no_next_plugin),
		cmocka_unit_test(test_plugins_in_every_block_are_separate),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
