/* SPDX-License-Identifier: MIT */
/* erratic: fixed answers, and exactly which queries are dropped, truncated
 * and delayed (query numbers count from 0, shared by all queries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "tests/unit/server/harness.h"

static ds_th_t *mk(const char *cf)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fprintf(stderr, "setup: %s\n", err.msg);
	assert_non_null(t);
	return t;
}

static void cfg_fails(const char *cf, const char *want)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_null(t);
	if (!strstr(err.msg, want))
		fprintf(stderr, "error was: %s\n", err.msg);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "Corefile:"));
}

/*
 * erratic drops a query by returning "written" without writing, as in
 * CoreDNS; the server then sends nothing at all, so the client sees a
 * timeout.
 */
static bool dropped(const ds_th_res_t *r)
{
	return !r->answered;
}

static void test_fixed_answers(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  drop 0\n }\n}\n");
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "WWW.example.org.", "A", 0, 500, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "WWW.example.org.\t0\tIN\tA\t192.0.2.53"));
	assert_int_equal(ds_th_query(t, "a.example.org.", "AAAA", 0, 500, &r), 0);
	assert_true(ds_th_has(&r, "a.example.org.\t0\tIN\tAAAA\t2001:db8::53"));
	/* anything else is a SERVFAIL the server writes */
	assert_int_equal(ds_th_query(t, "a.example.org.", "MX", 0, 500, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_int_equal(r.an, 0);
	ds_th_free(t);
}

static void test_drop_every_third(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  drop 3\n }\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 9; i++) {
		assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
		/* query numbers 0, 3, 6 are dropped: no reply at all */
		assert_int_equal(dropped(&r), i % 3 == 0);
	}
	ds_th_free(t);
}

static void test_default_drops_every_second(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
		assert_int_equal(dropped(&r), i % 2 == 0);
		if (!dropped(&r))
			assert_string_equal(r.writer, "erratic");
	}
	ds_th_free(t);
}

static void test_truncate_pattern(void **st)
{
	/* CoreDNS's test is (n & AMOUNT) == 0: for 2 that is 0,1,4,5,8,9 */
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  truncate 2\n }\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
		assert_true(r.answered); /* truncate alone turns the default drop off */
		bool tc = (r.flags & DS_FLAG_TC) != 0;
		assert_int_equal(tc, (i & 2) == 0);
		assert_int_equal(r.an, 1); /* the answer is still there, only TC is set */
	}
	ds_th_free(t);
}

static void test_delay_every_second(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  delay 2 60ms\n }\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 6; i++) {
		int64_t t0 = ds_now_ns();
		assert_int_equal(ds_th_query(t, "a.example.org.", i % 3 ? "A" : "MX", 0, 1000, &r),
		                 0);
		int64_t ms = (ds_now_ns() - t0) / DS_NS_PER_MS;
		assert_true(r.answered);
		if (i % 2 == 0) {
			assert_true(ms >= 55);
			assert_true(ms < 500);
		} else {
			assert_true(ms < 40);
		}
		/* delayed or not, the content is the same */
		assert_int_equal(r.rcode, i % 3 ? DS_RCODE_NOERROR : DS_RCODE_SERVFAIL);
	}
	ds_th_free(t);
}

static void test_axfr(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  truncate 1\n }\n}\n");
	ds_th_res_t r;
	/* n=0: 0&1 == 0 -> truncated transfer without the closing SOA */
	assert_int_equal(ds_th_query(t, "example.org.", "AXFR", DS_TH_TCP, 200, &r), 0);
	assert_int_equal(r.an, 5);
	assert_true(ds_th_has(&r, "example.org.\t0\tIN\tSOA\tsns.dns.icann.org. noc.dns.icann.org. "
	                          "2018050825 7200 3600 1209600 3600"));
	assert_true(ds_th_has(&r, "example.org.\t0\tIN\tNS\tb.example.org."));
	assert_true(ds_th_has(&r, "a.example.org.\t0\tIN\tAAAA\t2001:bd8::53"));
	/* n=1: complete */
	assert_int_equal(ds_th_query(t, "example.org.", "AXFR", DS_TH_TCP, 200, &r), 0);
	assert_int_equal(r.an, 6);
	ds_th_free(t);
}

static void test_ready_window(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  drop 0\n }\n}\n");
	ds_th_res_t r;
	char buf[128];
	for (int i = 0; i < 6; i++) {
		bool ready = ds_gen_ready(ds_th_gen(t), buf, sizeof(buf));
		/* ready after 3 and 4 queries only */
		assert_int_equal(ready, i == 3 || i == 4);
		if (!ready)
			assert_string_equal(buf, "erratic");
		assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
	}
	ds_th_free(t);
}

static void test_delay_zero_keeps_default_drop(void **st)
{
	/* "delay 0" delays nothing; only a non-zero delay or truncate turns the
	 * default drop off, so every second query is still dropped (CoreDNS) */
	ds_th_t *t = mk("example.org:53 {\n erratic {\n  delay 0\n }\n}\n");
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
	assert_true(dropped(&r));
	assert_int_equal(ds_th_query(t, "a.example.org.", "A", 0, 200, &r), 0);
	assert_false(dropped(&r));
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	cfg_fails("example.org:53 {\n erratic {\n  drop -1\n }\n}\n", "illegal amount");
	cfg_fails("example.org:53 {\n erratic {\n  delay 1 2 4\n }\n}\n", "Wrong argument count");
	cfg_fails("example.org:53 {\n erratic {\n  delay 3 bla\n }\n}\n", "invalid duration 'bla'");
	cfg_fails("example.org:53 {\n erratic {\n  truncate 15.a\n }\n}\n", "invalid amount");
	cfg_fails(
	    "example.org:53 {\n erratic {\n  something-else\n }\n}\n",
	    "Corefile:3 - Error during parsing: plugin/erratic: unknown property 'something-else'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_answers),
	    cmocka_unit_test(test_drop_every_third),
	    cmocka_unit_test(test_default_drops_every_second),
	    cmocka_unit_test(test_truncate_pattern),
	    cmocka_unit_test(test_delay_every_second),
	    cmocka_unit_test(test_axfr),
	    cmocka_unit_test(test_ready_window),
	    cmocka_unit_test(test_delay_zero_keeps_default_drop),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
