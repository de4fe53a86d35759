/* SPDX-License-Identifier: MIT */
/* Unit tests for loadgen/profile: the profile syntax (good and bad), rates
 * and counts of steps, ramps and spikes, and the count inverse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "lib/clock.h"
#include "loadgen/profile.h"

#define S DS_NS_PER_SEC

static void test_constant(void **state)
{
	ds_err_t err;
	ds_profile_t *p = ds_profile_parse("0s:1000", &err);
	assert_non_null(p);
	assert_int_equal(p->n, 1);
	assert_true(ds_profile_rate(p, 5 * S) == 1000);
	assert_true(fabs(ds_profile_count(p, 10 * S) - 10000) < 1e-6);
	assert_int_equal(ds_profile_time_of(p, 2500), 2500 * DS_NS_PER_MS);
	assert_true(p->last_rate == 1000);
	ds_profile_free(p);
}

static void test_issue_example(void **state)
{
	ds_err_t err;
	ds_profile_t *p = ds_profile_parse("0s:1000,30s:50000~,60s:500000,90s:1000", &err);
	assert_non_null(p);
	assert_int_equal(p->n, 4);
	assert_int_equal(p->seg[1].kind, DS_SEG_RAMP);
	/* Halfway up the ramp the rate is halfway between its ends. */
	assert_true(fabs(ds_profile_rate(p, 45 * S) - 275000) < 1e-6);
	assert_true(fabs(ds_profile_count(p, 30 * S) - 30000) < 1e-6);
	/* The ramp sends the area of its trapezoid. */
	double ramp = ds_profile_count(p, 60 * S) - ds_profile_count(p, 30 * S);
	assert_true(fabs(ramp - (50000.0 + 500000.0) / 2 * 30) < 1e-3);
	assert_true(ds_profile_rate(p, 95 * S) == 1000);
	assert_int_equal(p->last_point_ns, 90 * S);
	ds_profile_free(p);
}

static void test_spike_and_units(void **state)
{
	ds_err_t err;
	ds_profile_t *p = ds_profile_parse("0s:100, 10s:1k+2s, 20s:0", &err);
	assert_non_null(p);
	assert_true(ds_profile_rate(p, 11 * S) == 1000);
	/* After the spike the rate goes back to what it was. */
	assert_true(ds_profile_rate(p, 13 * S) == 100);
	assert_true(ds_profile_rate(p, 25 * S) == 0);
	assert_true(fabs(ds_profile_count(p, 20 * S) - 3800) < 1e-6);
	assert_true(fabs(ds_profile_count(p, 99 * S) - 3800) < 1e-6);
	assert_int_equal(ds_profile_time_of(p, 3800), INT64_MAX);
	assert_true(p->last_rate == 0);
	ds_profile_free(p);
	p = ds_profile_parse("500ms:1.5M", &err);
	assert_non_null(p);
	assert_int_equal(p->seg[0].kind, DS_SEG_IDLE);
	assert_true(ds_profile_rate(p, 1 * S) == 1.5e6);
	assert_true(ds_profile_rate(p, 100 * DS_NS_PER_MS) == 0);
	/* The first query waits for the first point. */
	assert_int_equal(ds_profile_time_of(p, 0), 500 * DS_NS_PER_MS);
	ds_profile_free(p);
}

static void test_inverse(void **state)
{
	ds_err_t err;
	ds_profile_t *p = ds_profile_parse("0s:10~,10s:20000~,20s:5000,30s:0~,40s:100", &err);
	assert_non_null(p);
	for (double c = 0; c < ds_profile_count(p, 45 * S); c += 777.7) {
		int64_t t = ds_profile_time_of(p, c);
		assert_true(t != INT64_MAX);
		assert_true(fabs(ds_profile_count(p, t) - c) < 0.01);
	}
	ds_profile_free(p);
}

struct bad_case {
	const char *text;
	const char *msg;
};

static void test_bad(void **state)
{
	static const struct bad_case cases[] = {
		{"", "empty"},
		{"abc", "point 1 'abc': expected TIME:RATE"},
		{"10s", "expected TIME:RATE"},
		{"0s:", "point 1: bad rate"},
		{"0s:-5", "bad rate '-5'"},
		{"0s:5qps", "bad rate"},
		{"x:5", "bad time"},
		{"10s:5,5s:6", "point 2: time 5s is not after"},
		{"0s:1000~", "last point is a ramp"},
		{"0s:10,5s:20+10s,10s:30", "point 3: starts inside the previous spike"},
		{"0s:5~,10s:50+1s", "a ramp must end at a step"},
		{"0s:5+0s", "bad spike duration"},
		{"0s:1e400", "bad rate"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ds_err_t err = {{0}};
		ds_profile_t *p = ds_profile_parse(cases[i].text, &err);
		if (p || !strstr(err.msg, cases[i].msg))
			fail_msg("'%s': got '%s', want '%s'", cases[i].text, err.msg, cases[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_issue_example),
		cmocka_unit_test(test_spike_and_units),
		cmocka_unit_test(test_inverse),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
