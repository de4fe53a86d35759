/* SPDX-License-Identifier: MIT */
/*
 * Rate profiles. Segments are kept with their cumulative count c0 so the
 * scheduler can turn a query number into a time without integrating.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "loadgen/profile.h"

#define MAX_POINTS 4096

struct point {
	int64_t t;
	double q;
	int kind;     /* DS_SEG_STEP, DS_SEG_RAMP, DS_SEG_SPIKE */
	int64_t dur;  /* spikes */
};

/* "50000", "50k", "1.5M": a finite rate >= 0. */
static int parse_rate(const char *s, double *out)
{
	char buf[64];
	size_t n = strlen(s);
	double mul = 1;
	if (n == 0 || n >= sizeof(buf))
		return DS_EINVAL;
	memcpy(buf, s, n + 1);
	if (buf[n - 1] == 'k' || buf[n - 1] == 'K')
		mul = 1e3;
	else if (buf[n - 1] == 'M' || buf[n - 1] == 'm')
		mul = 1e6;
	if (mul != 1)
		buf[--n] = 0;
	double v;
	if (n == 0 || ds_parse_double(buf, &v) < 0 || !isfinite(v) || v < 0)
		return DS_EINVAL;
	*out = v * mul;
	return DS_OK;
}

static double seg_count(const ds_profile_seg_t *s)
{
	if (s->t1 == INT64_MAX)
		return s->r0 > 0 ? INFINITY : 0;
	return (s->r0 + s->r1) / 2 * (double)(s->t1 - s->t0) / 1e9;
}

static int add_seg(ds_profile_t *p, size_t *cap, int64_t t0, int64_t t1, double r0, double r1,
		   ds_seg_kind_t kind)
{
	if (t1 <= t0)
		return DS_OK;
	if (p->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		ds_profile_seg_t *ns = realloc(p->seg, nc * sizeof(*ns));
		if (!ns)
			return DS_ENOMEM;
		p->seg = ns;
		*cap = nc;
	}
	ds_profile_seg_t *s = &p->seg[p->n];
	*s = (ds_profile_seg_t){.t0 = t0, .t1 = t1, .r0 = r0, .r1 = r1, .kind = kind};
	s->c0 = p->n ? p->seg[p->n - 1].c0 + seg_count(&p->seg[p->n - 1]) : 0;
	p->n++;
	return DS_OK;
}

static ds_profile_t *build(const struct point *pt, size_t np, ds_err_t *err)
{
	ds_profile_t *p = calloc(1, sizeof(*p));
	size_t cap = 0;
	double before = 0; /* rate in force before the current point, for spikes */
	if (!p)
		goto nomem;
	if (pt[0].t > 0 && add_seg(p, &cap, 0, pt[0].t, 0, 0, DS_SEG_IDLE) < 0)
		goto nomem;
	for (size_t i = 0; i < np; i++) {
		int64_t end = i + 1 < np ? pt[i + 1].t : INT64_MAX;
		int rc = DS_OK;
		switch (pt[i].kind) {
		case DS_SEG_STEP:
			rc = add_seg(p, &cap, pt[i].t, end, pt[i].q, pt[i].q, DS_SEG_STEP);
			before = pt[i].q;
			break;
		case DS_SEG_RAMP:
			rc = add_seg(p, &cap, pt[i].t, end, pt[i].q, pt[i + 1].q, DS_SEG_RAMP);
			before = pt[i + 1].q;
			break;
		case DS_SEG_SPIKE:
			rc = add_seg(p, &cap, pt[i].t, pt[i].t + pt[i].dur, pt[i].q, pt[i].q,
				     DS_SEG_SPIKE);
			if (rc == DS_OK)
				rc = add_seg(p, &cap, pt[i].t + pt[i].dur, end, before, before,
					     DS_SEG_STEP);
			break;
		}
		if (rc < 0)
			goto nomem;
	}
	p->last_point_ns = pt[np - 1].t;
	p->last_rate = before;
	return p;
nomem:
	ds_profile_free(p);
	ds_errf(err, DS_ENOMEM, "profile: out of memory");
	return NULL;
}

ds_profile_t *ds_profile_parse(const char *text, ds_err_t *err)
{
	struct point *pt = NULL;
	char *copy = NULL;
	ds_profile_t *p = NULL;
	size_t np = 0;
	if (!text || !*text) {
		ds_errf(err, DS_EINVAL, "profile: empty");
		return NULL;
	}
	copy = strdup(text);
	pt = calloc(MAX_POINTS, sizeof(*pt));
	if (!copy || !pt) {
		ds_errf(err, DS_ENOMEM, "profile: out of memory");
		goto fail;
	}
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		/* Spaces after commas read naturally; keep them legal. */
		while (*tok == ' ')
			tok++;
		size_t tl = strlen(tok);
		while (tl && tok[tl - 1] == ' ')
			tok[--tl] = 0;
		size_t idx = np + 1;
		if (np == MAX_POINTS) {
			ds_errf(err, DS_EINVAL, "profile: more than %d points", MAX_POINTS);
			goto fail;
		}
		char *colon = strchr(tok, ':');
		if (!colon) {
			ds_errf(err, DS_EINVAL, "profile point %zu '%s': expected TIME:RATE", idx,
				tok);
			goto fail;
		}
		*colon = 0;
		struct point *q = &pt[np];
		if (ds_parse_duration(tok, &q->t) < 0 || q->t < 0) {
			ds_errf(err, DS_EINVAL, "profile point %zu '%s:%s': bad time '%s' (use 0s, 30s, 1m30s)",
				idx, tok, colon + 1, tok);
			goto fail;
		}
		char *rate = colon + 1;
		q->kind = DS_SEG_STEP;
		size_t rl = strlen(rate);
		char *plus = strchr(rate, '+');
		if (rl && rate[rl - 1] == '~') {
			q->kind = DS_SEG_RAMP;
			rate[rl - 1] = 0;
		} else if (plus) {
			*plus = 0;
			q->kind = DS_SEG_SPIKE;
			if (ds_parse_duration(plus + 1, &q->dur) < 0 || q->dur <= 0) {
				ds_errf(err, DS_EINVAL,
					"profile point %zu: bad spike duration '%s' (use e.g. +5s)", idx,
					plus + 1);
				goto fail;
			}
		}
		if (parse_rate(rate, &q->q) < 0) {
			ds_errf(err, DS_EINVAL,
				"profile point %zu: bad rate '%s' (queries per second, e.g. 5000, 50k, 1.5M)",
				idx, rate);
			goto fail;
		}
		if (np && q->t <= pt[np - 1].t) {
			ds_errf(err, DS_EINVAL,
				"profile point %zu: time %s is not after the previous point's", idx, tok);
			goto fail;
		}
		if (np && pt[np - 1].kind == DS_SEG_SPIKE && pt[np - 1].t + pt[np - 1].dur > q->t) {
			ds_errf(err, DS_EINVAL, "profile point %zu: starts inside the previous spike",
				idx);
			goto fail;
		}
		if (np && pt[np - 1].kind == DS_SEG_RAMP && q->kind == DS_SEG_SPIKE) {
			ds_errf(err, DS_EINVAL,
				"profile point %zu: a ramp must end at a step or ramp point, not a spike",
				idx);
			goto fail;
		}
		np++;
	}
	if (np == 0) {
		ds_errf(err, DS_EINVAL, "profile: no points");
		goto fail;
	}
	if (pt[np - 1].kind == DS_SEG_RAMP) {
		ds_errf(err, DS_EINVAL, "profile: the last point is a ramp with no point to ramp to");
		goto fail;
	}
	p = build(pt, np, err);
fail:
	free(pt);
	free(copy);
	return p;
}

ds_profile_t *ds_profile_constant(double qps)
{
	if (!(qps >= 0) || !isfinite(qps))
		return NULL;
	struct point pt = {.t = 0, .q = qps, .kind = DS_SEG_STEP};
	return build(&pt, 1, NULL);
}

void ds_profile_free(ds_profile_t *p)
{
	if (!p)
		return;
	free(p->seg);
	free(p);
}

static const ds_profile_seg_t *seg_at(const ds_profile_t *p, int64_t t)
{
	size_t lo = 0, hi = p->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (p->seg[mid].t0 <= t)
			lo = mid;
		else
			hi = mid;
	}
	return &p->seg[lo];
}

double ds_profile_rate(const ds_profile_t *p, int64_t t)
{
	const ds_profile_seg_t *s = seg_at(p, t);
	if (t < s->t0)
		return 0;
	if (s->kind != DS_SEG_RAMP)
		return s->r0;
	return s->r0 + (s->r1 - s->r0) * (double)(t - s->t0) / (double)(s->t1 - s->t0);
}

double ds_profile_count(const ds_profile_t *p, int64_t t)
{
	if (t <= 0)
		return 0;
	const ds_profile_seg_t *s = seg_at(p, t);
	double x = (double)(t - s->t0) / 1e9;
	if (s->kind != DS_SEG_RAMP)
		return s->c0 + s->r0 * x;
	double len = (double)(s->t1 - s->t0) / 1e9;
	return s->c0 + s->r0 * x + (s->r1 - s->r0) * x * x / (2 * len);
}

/* Time within segment s at which the count reaches c (c0 <= c). */
static int64_t seg_time(const ds_profile_seg_t *s, double c)
{
	double d = c - s->c0;
	double x;
	/* A step of rate 0 sends nothing, not even at its first instant. */
	if (d <= 0)
		return s->kind == DS_SEG_RAMP || s->r0 > 0 ? s->t0 : INT64_MAX;
	if (s->kind != DS_SEG_RAMP || s->r0 == s->r1) {
		if (s->r0 <= 0)
			return INT64_MAX;
		x = d / s->r0;
	} else {
		double len = (double)(s->t1 - s->t0) / 1e9;
		double a = (s->r1 - s->r0) / (2 * len);
		double disc = s->r0 * s->r0 + 4 * a * d;
		if (disc < 0)
			disc = 0;
		/* 2d / (r0 + sqrt(...)) rather than the textbook form: no
		 * cancellation when the ramp is nearly flat. */
		double den = s->r0 + sqrt(disc);
		if (den <= 0)
			return INT64_MAX;
		x = 2 * d / den;
	}
	double t = (double)s->t0 + x * 1e9;
	if (t >= 9.2e18)
		return INT64_MAX;
	return llround(t);
}

int64_t ds_profile_time_of(const ds_profile_t *p, double c)
{
	size_t lo = 0, hi = p->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (p->seg[mid].c0 <= c)
			lo = mid;
		else
			hi = mid;
	}
	/* Segments of rate 0 share c0 with the next; step to the one that
	 * actually sends so the time is the earliest. */
	while (lo + 1 < p->n && p->seg[lo + 1].c0 <= c)
		lo++;
	const ds_profile_seg_t *s = &p->seg[lo];
	if (s->t1 != INT64_MAX && c >= s->c0 + seg_count(s))
		return INT64_MAX;
	int64_t t = seg_time(s, c);
	if (t != INT64_MAX && s->t1 != INT64_MAX && t > s->t1)
		t = s->t1;
	return t;
}

const char *ds_profile_seg_str(const ds_profile_seg_t *s, char *buf, size_t len)
{
	switch (s->kind) {
	case DS_SEG_RAMP:
		snprintf(buf, len, "ramp %.0f->%.0f qps", s->r0, s->r1);
		break;
	case DS_SEG_SPIKE:
		snprintf(buf, len, "spike %.0f qps", s->r0);
		break;
	case DS_SEG_IDLE:
		snprintf(buf, len, "idle");
		break;
	default:
		snprintf(buf, len, "step %.0f qps", s->r0);
		break;
	}
	return buf;
}
