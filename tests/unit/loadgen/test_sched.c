/* SPDX-License-Identifier: MIT */
/* Unit tests for loadgen/sched on a fake clock: exact intended times at a
 * constant rate, streams that partition the schedule, ramps that
 * integrate to the right count, and the mean rate of Poisson spacing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "loadgen/sched.h"

#define S DS_NS_PER_SEC
#define ORIGIN (1000 * S) /* any monotonic time */

static void test_constant_exact(void **state)
{
	ds_profile_t *p = ds_profile_constant(1000);
	ds_sched_t s;
	ds_sched_init(&s, p, ORIGIN, INT64_MAX, 0, 1, false, 1);
	for (int64_t k = 0; k < 100000; k++)
		assert_int_equal(ds_sched_pop(&s), ORIGIN + k * DS_NS_PER_MS);
	/* A rate that does not divide a second still rounds each time
	 * from the exact value, never accumulating error. */
	ds_profile_t *q = ds_profile_constant(3);
	ds_sched_init(&s, q, ORIGIN, INT64_MAX, 0, 1, false, 1);
	for (int64_t k = 0; k < 3000; k++)
		assert_int_equal(ds_sched_pop(&s), ORIGIN + llround(k * 1e9 / 3));
	ds_profile_free(p);
	ds_profile_free(q);
}

static void test_due_fake_clock(void **state)
{
	ds_profile_t *p = ds_profile_constant(1000);
	ds_sched_t s;
	int64_t out[4096];
	ds_sched_init(&s, p, ORIGIN, ORIGIN + 2 * S, 0, 1, false, 1);
	/* Nothing is due before the origin. */
	assert_int_equal(ds_sched_due(&s, ORIGIN - 1, out, 4096), 0);
	/* 0, 1, ... 500 ms are due at 500 ms. */
	assert_int_equal(ds_sched_due(&s, ORIGIN + S / 2, out, 4096), 501);
	assert_int_equal(out[500], ORIGIN + S / 2);
	/* A sender that wakes late finds every missed query still due at
	 * its original time. */
	size_t n = ds_sched_due(&s, ORIGIN + 10 * S, out, 4096);
	assert_int_equal(n, 1499);
	assert_int_equal(out[0], ORIGIN + 501 * DS_NS_PER_MS);
	assert_int_equal(ds_sched_peek(&s), INT64_MAX);
	assert_true(ds_sched_expected(&s, ORIGIN + 10 * S) == 2000);
	ds_profile_free(p);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_streams_partition(void **state)
{
	/* 2 shards x 3 threads = 6 streams at rate/6 each make the profile. */
	ds_profile_t *p = ds_profile_constant(6000);
	int64_t *all = calloc(60000, sizeof(int64_t));
	size_t n = 0;
	for (unsigned i = 0; i < 6; i++) {
		ds_sched_t s;
		ds_sched_init(&s, p, ORIGIN, ORIGIN + 10 * S, i, 6, false, 1);
		n += ds_sched_due(&s, ORIGIN + 100 * S, all + n, 60000 - n);
		assert_true(fabs(ds_sched_expected(&s, ORIGIN + 10 * S) - 10000) < 1e-9);
	}
	assert_int_equal(n, 60000);
	qsort(all, n, sizeof(int64_t), cmp_i64);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(all[k], ORIGIN + llround(k * 1e9 / 6000));
	free(all);
	ds_profile_free(p);
}

static void test_ramp_count(void **state)
{
	ds_err_t err;
	ds_profile_t *p = ds_profile_parse("0s:0~,10s:1000~,20s:0,30s:0", &err);
	assert_non_null(p);
	ds_sched_t s;
	ds_sched_init(&s, p, ORIGIN, INT64_MAX, 0, 1, false, 1);
	int64_t buf[1024];
	size_t up = 0, down = 0, last = 0;
	size_t k;
	while ((k = ds_sched_due(&s, ORIGIN + 10 * S - 1, buf, 1024)) > 0)
		up += k;
	while ((k = ds_sched_due(&s, ORIGIN + 30 * S, buf, 1024)) > 0) {
		down += k;
		last = (size_t)buf[k - 1];
	}
	/* Up the ramp 1000/2*10 = 5000 queries, down again 5000. */
	assert_int_equal(up, 5000);
	assert_int_equal(down, 5000);
	assert_true((int64_t)last < ORIGIN + 20 * S);
	/* Times rise ever faster on the way up: the gaps shrink. */
	ds_sched_init(&s, p, ORIGIN, INT64_MAX, 0, 1, false, 1);
	int64_t a = ds_sched_pop(&s), b = ds_sched_pop(&s), c = ds_sched_pop(&s);
	assert_true(b - a > c - b);
	ds_profile_free(p);
}

static void test_poisson_rate(void **state)
{
	ds_profile_t *p = ds_profile_constant(10000);
	ds_sched_t s;
	ds_sched_init(&s, p, ORIGIN, ORIGIN + 20 * S, 0, 1, true, 42);
	int64_t prev = ORIGIN, t;
	double n = 0, sum = 0, sum2 = 0;
	while ((t = ds_sched_pop(&s)) != INT64_MAX) {
		double gap = (double)(t - prev);
		sum += gap;
		sum2 += gap * gap;
		prev = t;
		n++;
	}
	/* 200000 expected; 3 sigma is about 1350. */
	assert_true(fabs(n - 200000) < 2000);
	double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
	/* Exponential gaps: standard deviation equals the mean. */
	assert_true(fabs(sd / mean - 1) < 0.03);
	assert_true(fabs(mean - 1e5) < 1e3);
	/* Four Poisson streams of a quarter each add up to the rate too. */
	double total = 0;
	for (unsigned i = 0; i < 4; i++) {
		ds_sched_init(&s, p, ORIGIN, ORIGIN + 20 * S, i, 4, true, 42);
		while (ds_sched_pop(&s) != INT64_MAX)
			total++;
	}
	assert_true(fabs(total - 200000) < 2000);
	ds_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_exact),
		cmocka_unit_test(test_due_fake_clock),
		cmocka_unit_test(test_streams_partition),
		cmocka_unit_test(test_ramp_count),
		cmocka_unit_test(test_poisson_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
