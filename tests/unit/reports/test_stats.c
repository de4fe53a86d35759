/* SPDX-License-Identifier: MIT */
/* Unit tests for reports/stats: medians and spread, the Mann-Whitney U
 * statistic and its exact and approximate two-sided p-values against
 * values computed independently (brute-force enumeration of every split
 * in Python, and textbook table entries), and the bootstrap interval's
 * determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "reports/stats.h"

static void test_median_spread(void **st)
{
	double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2}, one[] = {7};
	assert_float_equal(ds_stats_median(odd, 3), 3, 0);
	assert_float_equal(ds_stats_median(even, 4), 2.5, 0);
	assert_float_equal(ds_stats_median(one, 1), 7, 0);
	assert_true(isnan(ds_stats_median(NULL, 0)));
	/* MAD of {1,2,3,4,100} around 3 is 1: CV = 1.4826 / 3 */
	double x[] = {1, 2, 3, 4, 100};
	assert_float_equal(ds_stats_robust_cv(x, 5), 1.4826 / 3, 1e-12);
	double z[5];
	ds_stats_modz(x, 5, z);
	assert_float_equal(z[2], 0, 0);
	assert_true(z[4] > 10); /* the 100 is an outlier by hyperfine's rule */
	assert_true(z[0] < 10);
	double c[] = {2, 2, 2};
	ds_stats_modz(c, 3, z);
	assert_float_equal(z[0], 0, 0);
	assert_float_equal(ds_stats_geomean((double[]){1, 4}, 2), 2, 1e-12);
	assert_true(isnan(ds_stats_geomean((double[]){1, -4}, 2)));
}

struct mwu_case {
	const char *name;
	double a[10], b[10];
	size_t na, nb;
	double u, p;
};

/*
 * Reference values: U counted pair by pair and p = min(1, 2 min(P(U <= u),
 * P(U >= u))) by enumerating every way to split the pooled values
 * (tests/unit/reports/mwu_ref.py's method, run with Python 3 by hand; no
 * rank arithmetic shared with the C code). The n = 5 cases are also the
 * textbook table: two-sided critical U at alpha 0.05 is 2 (p = 8/252),
 * U = 3 is not significant (p = 14/252), and complete separation gives the
 * smallest p, 2/252.
 */
static const struct mwu_case cases[] = {
    {"separated n=5", {1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, 5, 5, 25, 0.007936507936507936},
    {"U=2 n=5", {1, 2, 3, 4, 7}, {5, 6, 8, 9, 10}, 5, 5, 23, 0.031746031746031744},
    {"U=3 n=5", {1, 2, 3, 5, 7}, {4, 6, 8, 9, 10}, 5, 5, 22, 0.05555555555555555},
    {"n=4+6", {1.1, 2.2, 3.3, 4.4}, {0.5, 2.5, 5.0, 6.0, 7.0, 8.0}, 4, 6, 18, 0.2571428571428571},
    {"ties", {1, 2, 2, 3, 4}, {2, 3, 3, 5, 6}, 5, 5, 19, 0.21428571428571427},
    {"n=10",
     {10, 12, 13, 15, 16, 18, 19, 21, 22, 24},
     {14, 17, 20, 23, 25, 26, 27, 28, 29, 30},
     10,
     10,
     84,
     0.00893069778518695},
    {"n=3", {1, 2, 3}, {4, 5, 6}, 3, 3, 9, 0.1},
};

static void test_mwu_exact(void **st)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mwu_case *c = &cases[i];
		ds_stats_mwu_t r;
		assert_int_equal(ds_stats_mwu(c->a, c->na, c->b, c->nb, &r), DS_OK);
		if (fabs(r.u - c->u) > 1e-9 || fabs(r.p - c->p) > 1e-12)
			fail_msg("%s: U %g p %.17g, want U %g p %.17g", c->name, r.u, r.p, c->u,
			         c->p);
		assert_true(r.exact);
		/* swapping the groups mirrors U and keeps p */
		ds_stats_mwu_t s;
		assert_int_equal(ds_stats_mwu(c->b, c->nb, c->a, c->na, &s), DS_OK);
		assert_float_equal(s.u, (double)(c->na * c->nb) - c->u, 1e-9);
		assert_float_equal(s.p, c->p, 1e-12);
	}
	ds_stats_mwu_t r;
	double same[] = {3, 3, 3};
	assert_int_equal(ds_stats_mwu(same, 3, same, 3, &r), DS_OK);
	assert_float_equal(r.p, 1, 0);
	assert_true(r.ties);
	assert_int_equal(ds_stats_mwu(same, 0, same, 3, &r), DS_EINVAL);
	double nan[] = {1, NAN};
	assert_int_equal(ds_stats_mwu(nan, 2, same, 3, &r), DS_EINVAL);
}

static void test_mwu_min_p(void **st)
{
	/* benchstat's table: 0.333 (2), 0.1 (3), 0.0286 (4), 0.0079 (5) */
	assert_float_equal(ds_stats_mwu_min_p(2, 2), 1.0 / 3, 1e-12);
	assert_float_equal(ds_stats_mwu_min_p(3, 3), 0.1, 1e-12);
	assert_float_equal(ds_stats_mwu_min_p(4, 4), 2.0 / 70, 1e-12);
	assert_float_equal(ds_stats_mwu_min_p(5, 5), 2.0 / 252, 1e-12);
}

static void test_mwu_normal(void **st)
{
	/* Groups above 20 use the normal approximation with tie and continuity
	 * correction; references from the same formula evaluated in Python. */
	static const double a[] = {98.721,  102.557, 98.87,   98.425,  95.35,   98.933, 105.56,
	                           102.121, 105.184, 101.245, 101.974, 100.927, 91.67,  104.276,
	                           102.532, 102.494, 91.543,  91.281,  95.552,  97.659, 101.527,
	                           99.77,   102.605, 96.789,  101.544};
	static const double b[] = {105.971, 100.694, 112.588, 106.783, 109.985, 100.898,
	                           100.302, 102.28,  103.468, 107.16,  105.242, 101.763,
	                           99.215,  101.397, 110.105, 99.96,   105.224, 106.133,
	                           96.551,  104.242, 110.531, 93.928,  102.392, 103.469,
	                           99.914,  106.487, 103.689, 96.677,  108.139, 107.347};
	ds_stats_mwu_t r;
	assert_int_equal(ds_stats_mwu(a, 25, b, 30, &r), DS_OK);
	assert_false(r.exact);
	assert_float_equal(r.u, 561, 1e-9);
	assert_float_equal(r.p, 0.00171548394132384, 1e-12);

	double ta[25], tb[25];
	for (int i = 0; i < 25; i++) {
		ta[i] = i < 10 ? 1 : i < 20 ? 2 : 3;
		tb[i] = i < 8 ? 2 : i < 18 ? 3 : 4;
	}
	assert_int_equal(ds_stats_mwu(ta, 25, tb, 25, &r), DS_OK);
	assert_true(r.ties);
	assert_float_equal(r.u, 520, 1e-9);
	assert_float_equal(r.p, 2.709688748624907e-05, 1e-15);

	double sa[21], sb[21];
	for (int i = 0; i < 21; i++)
		sa[i] = i, sb[i] = 100 + i;
	assert_int_equal(ds_stats_mwu(sa, 21, sb, 21, &r), DS_OK);
	assert_float_equal(r.p, 3.125399998400882e-08, 1e-18);
}

static void test_exact_limit(void **st)
{
	/* 20+20 is still exact; the DP must agree with the symmetric case:
	 * complete separation gives 2 / C(40, 20). */
	double a[20], b[20];
	for (int i = 0; i < 20; i++)
		a[i] = i, b[i] = 50 + i;
	ds_stats_mwu_t r;
	assert_int_equal(ds_stats_mwu(a, 20, b, 20, &r), DS_OK);
	assert_true(r.exact);
	assert_float_equal(r.p, 2 / 137846528820.0, 1e-22);
}

static void test_bootstrap(void **st)
{
	double a[] = {100, 102, 98, 101, 99, 100, 103, 97, 100, 101};
	double b[] = {110, 112, 108, 111, 109, 110, 113, 107, 110, 111};
	double lo1, hi1, lo2, hi2, lo3, hi3;
	assert_int_equal(
	    ds_stats_bootstrap(a, 10, b, 10, DS_STATS_RATIO, 10000, 0.95, 42, &lo1, &hi1), DS_OK);
	assert_int_equal(
	    ds_stats_bootstrap(a, 10, b, 10, DS_STATS_RATIO, 10000, 0.95, 42, &lo2, &hi2), DS_OK);
	/* the same seed gives the very same interval, bit for bit */
	assert_memory_equal(&lo1, &lo2, sizeof(lo1));
	assert_memory_equal(&hi1, &hi2, sizeof(hi1));
	double d = ds_stats_delta(a, 10, b, 10, DS_STATS_RATIO);
	assert_float_equal(d, 0.10, 1e-12);
	assert_true(lo1 <= d && d <= hi1);
	assert_true(lo1 > 0.05 && hi1 < 0.15);
	/* another seed: another (close) interval */
	assert_int_equal(
	    ds_stats_bootstrap(a, 10, b, 10, DS_STATS_RATIO, 10000, 0.95, 43, &lo3, &hi3), DS_OK);
	assert_true(lo3 != lo1 || hi3 != hi1);
	assert_float_equal(lo3, lo1, 0.01);
	/* constant groups: the change is exact */
	double c1[] = {5, 5, 5}, c2[] = {6, 6, 6};
	assert_int_equal(ds_stats_bootstrap(c1, 3, c2, 3, DS_STATS_ABS, 100, 0.95, 1, &lo1, &hi1),
	                 DS_OK);
	assert_float_equal(lo1, 1, 0);
	assert_float_equal(hi1, 1, 0);
	/* a zero baseline has no ratio */
	double z[] = {0, 0};
	assert_int_equal(ds_stats_bootstrap(z, 2, c2, 3, DS_STATS_RATIO, 100, 0.95, 1, &lo1, &hi1),
	                 DS_OK);
	assert_true(isnan(lo1) && isnan(hi1));
	assert_int_equal(ds_stats_bootstrap(c1, 3, c2, 3, DS_STATS_ABS, 5, 0.95, 1, &lo1, &hi1),
	                 DS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_median_spread), cmocka_unit_test(test_mwu_exact),
	    cmocka_unit_test(test_mwu_min_p),     cmocka_unit_test(test_mwu_normal),
	    cmocka_unit_test(test_exact_limit),   cmocka_unit_test(test_bootstrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
