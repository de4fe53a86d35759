/* SPDX-License-Identifier: MIT */
#include "reports/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rand.h"

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Median of a buffer the caller lets us sort in place. */
static double median_inplace(double *x, size_t n)
{
	if (!n)
		return NAN;
	qsort(x, n, sizeof(*x), cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

double ds_stats_median(const double *x, size_t n)
{
	if (!n)
		return NAN;
	double *c = malloc(n * sizeof(*c));
	if (!c)
		return NAN;
	memcpy(c, x, n * sizeof(*c));
	double m = median_inplace(c, n);
	free(c);
	return m;
}

/* Median absolute deviation around med. */
static double mad(const double *x, size_t n, double med)
{
	double *d = malloc(n * sizeof(*d));
	if (!d)
		return NAN;
	for (size_t i = 0; i < n; i++)
		d[i] = fabs(x[i] - med);
	double m = median_inplace(d, n);
	free(d);
	return m;
}

double ds_stats_robust_cv(const double *x, size_t n)
{
	if (n < 2)
		return 0;
	double med = ds_stats_median(x, n);
	if (med == 0)
		return NAN;
	return 1.4826 * mad(x, n, med) / fabs(med);
}

void ds_stats_modz(const double *x, size_t n, double *z)
{
	if (!n)
		return;
	double med = ds_stats_median(x, n);
	double s = 1.4826 * mad(x, n, med);
	for (size_t i = 0; i < n; i++) {
		double d = fabs(x[i] - med);
		z[i] = s > 0 ? d / s : (d > 0 ? INFINITY : 0);
	}
}

struct ranked {
	double v;
	bool in_b;
};

static int cmp_ranked(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;
	return (a->v > b->v) - (a->v < b->v);
}

double ds_stats_mwu_min_p(size_t na, size_t nb)
{
	/* C(n, k) in floating point: exact enough far beyond the sizes used. */
	double c = 1;
	size_t n = na + nb, k = DS_MIN(na, nb);
	for (size_t i = 1; i <= k; i++)
		c = c * (double)(n - k + i) / (double)i;
	return DS_MIN(1.0, 2 / c);
}

/*
 * Exact permutation distribution of b's rank sum. Ranks are doubled so
 * midranks of ties stay integers; the counts are doubles, which hold
 * C(40, 20) ~ 1.4e11 exactly.
 */
static int exact_p(const unsigned *score, size_t n, size_t nb, unsigned s_obs, double *p)
{
	unsigned maxs = 0;
	for (size_t i = 0; i < n; i++)
		maxs += score[i];
	size_t w = (size_t)maxs + 1;
	double *cnt = calloc((nb + 1) * w, sizeof(*cnt));
	if (!cnt)
		return DS_ENOMEM;
	cnt[0] = 1;
	for (size_t i = 0; i < n; i++) {
		size_t kmax = DS_MIN(i + 1, nb);
		for (size_t k = kmax; k >= 1; k--) {
			double *row = cnt + k * w, *prev = cnt + (k - 1) * w;
			for (size_t s = maxs; s >= score[i]; s--) {
				row[s] += prev[s - score[i]];
				if (s == 0)
					break;
			}
		}
	}
	double total = 0, le = 0, ge = 0;
	const double *last = cnt + nb * w;
	for (size_t s = 0; s <= maxs; s++) {
		total += last[s];
		if (s <= s_obs)
			le += last[s];
		if (s >= s_obs)
			ge += last[s];
	}
	free(cnt);
	*p = DS_MIN(1.0, 2 * DS_MIN(le, ge) / total);
	return DS_OK;
}

int ds_stats_mwu(const double *a, size_t na, const double *b, size_t nb, ds_stats_mwu_t *out)
{
	memset(out, 0, sizeof(*out));
	if (!na || !nb)
		return DS_EINVAL;
	size_t n = na + nb;
	int rc = DS_ENOMEM;
	struct ranked *r = malloc(n * sizeof(*r));
	unsigned *score = malloc(n * sizeof(*score));
	if (!r || !score)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		r[i].in_b = i >= na;
		r[i].v = i < na ? a[i] : b[i - na];
		if (isnan(r[i].v)) {
			rc = DS_EINVAL;
			goto fail;
		}
	}
	qsort(r, n, sizeof(*r), cmp_ranked);

	unsigned s_obs = 0;  /* doubled rank sum of b */
	double tie_term = 0; /* sum of t^3 - t over tie groups */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && r[j + 1].v == r[i].v)
			j++;
		/* 1-based ranks i+1 .. j+1 share the midrank (i+j+2)/2; doubled: i+j+2 */
		unsigned d = (unsigned)(i + j + 2);
		double t = (double)(j - i + 1);
		if (j > i) {
			out->ties = true;
			tie_term += t * t * t - t;
		}
		for (size_t k = i; k <= j; k++) {
			score[k] = d;
			if (r[k].in_b)
				s_obs += d;
		}
		i = j + 1;
	}
	out->u = s_obs / 2.0 - (double)nb * (double)(nb + 1) / 2;

	if (na <= DS_STATS_EXACT_MAX && nb <= DS_STATS_EXACT_MAX) {
		out->exact = true;
		rc = exact_p(score, n, nb, s_obs, &out->p);
		if (rc < 0)
			goto fail;
	} else {
		double N = (double)n, mu = (double)na * (double)nb / 2;
		double var = (double)na * (double)nb / 12 * ((N + 1) - tie_term / (N * (N - 1)));
		if (var <= 0) {
			out->p = 1;
		} else {
			double z = (fabs(out->u - mu) - 0.5) / sqrt(var);
			if (z < 0)
				z = 0;
			out->p = DS_MIN(1.0, erfc(z / M_SQRT2));
		}
	}
	rc = DS_OK;
fail:
	free(score);
	free(r);
	return rc;
}

static double delta_of(double ma, double mb, ds_stats_delta_t kind)
{
	if (kind == DS_STATS_ABS)
		return mb - ma;
	return ma == 0 ? NAN : mb / ma - 1;
}

double ds_stats_delta(const double *a, size_t na, const double *b, size_t nb, ds_stats_delta_t kind)
{
	return delta_of(ds_stats_median(a, na), ds_stats_median(b, nb), kind);
}

int ds_stats_bootstrap(const double *a, size_t na, const double *b, size_t nb,
                       ds_stats_delta_t kind, unsigned iters, double conf, uint64_t seed,
                       double *lo, double *hi)
{
	*lo = *hi = NAN;
	if (!na || !nb || iters < 10 || !(conf > 0 && conf < 1))
		return DS_EINVAL;
	int rc = DS_ENOMEM;
	double *ra = malloc(na * sizeof(*ra));
	double *rb = malloc(nb * sizeof(*rb));
	double *d = malloc(iters * sizeof(*d));
	if (!ra || !rb || !d)
		goto fail;
	ds_rng_t rng;
	ds_rng_seed(&rng, seed);
	size_t nd = 0;
	for (unsigned it = 0; it < iters; it++) {
		/* Draw a's resample then b's, always in this order: the interval
		 * depends only on the inputs and the seed. */
		for (size_t i = 0; i < na; i++)
			ra[i] = a[ds_rng_below(&rng, na)];
		for (size_t i = 0; i < nb; i++)
			rb[i] = b[ds_rng_below(&rng, nb)];
		double v = delta_of(median_inplace(ra, na), median_inplace(rb, nb), kind);
		if (!isnan(v))
			d[nd++] = v;
	}
	rc = DS_OK;
	if (!nd)
		goto fail;
	qsort(d, nd, sizeof(*d), cmp_double);
	double tail = (1 - conf) / 2;
	size_t il = (size_t)floor((double)nd * tail);
	size_t ih = (size_t)ceil((double)nd * (1 - tail));
	ih = ih ? ih - 1 : 0;
	if (il >= nd)
		il = nd - 1;
	if (ih >= nd)
		ih = nd - 1;
	*lo = d[il];
	*hi = d[ih];
fail:
	free(d);
	free(rb);
	free(ra);
	return rc;
}

double ds_stats_geomean(const double *x, size_t n)
{
	if (!n)
		return NAN;
	double s = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(x[i] > 0))
			return NAN;
		s += log(x[i]);
	}
	return exp(s / (double)n);
}
