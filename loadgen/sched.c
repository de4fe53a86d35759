/* SPDX-License-Identifier: MIT */
/*
 * Open-loop schedule: count-space stepping plus the profile's inverse.
 */
#include <math.h>

#include "loadgen/sched.h"

static void place(ds_sched_t *s)
{
	int64_t t = ds_profile_time_of(s->p, s->c);
	if (t == INT64_MAX || t > INT64_MAX - s->origin || s->origin + t >= s->end)
		s->next = INT64_MAX;
	else
		s->next = s->origin + t;
}

static double exp1(ds_rng_t *r)
{
	/* 1 - U is in (0, 1], so the log is finite. */
	return -log(1.0 - ds_rng_double(r));
}

void ds_sched_init(ds_sched_t *s, const ds_profile_t *p, int64_t origin, int64_t end,
		   unsigned index, unsigned count, bool poisson, uint64_t seed)
{
	*s = (ds_sched_t){.p = p, .origin = origin, .end = end, .index = index,
			  .count = count ? count : 1, .poisson = poisson};
	ds_rng_seed(&s->rng, seed ^ (0x9E3779B97F4A7C15ULL * (index + 1)));
	s->c = poisson ? s->count * exp1(&s->rng) : (double)index;
	place(s);
}

int64_t ds_sched_pop(ds_sched_t *s)
{
	int64_t t = s->next;
	if (t == INT64_MAX)
		return t;
	s->popped++;
	if (s->poisson)
		s->c += s->count * exp1(&s->rng);
	else
		/* From the index rather than by repeated addition, so the
		 * count stays an exact integer however long the run. */
		s->c = (double)s->index + (double)s->popped * s->count;
	place(s);
	return t;
}

size_t ds_sched_due(ds_sched_t *s, int64_t now, int64_t *out, size_t max)
{
	size_t n = 0;
	while (n < max && s->next <= now)
		out[n++] = ds_sched_pop(s);
	return n;
}

double ds_sched_expected(const ds_sched_t *s, int64_t t)
{
	if (t > s->end)
		t = s->end;
	if (t <= s->origin)
		return 0;
	double lam = ds_profile_count(s->p, t - s->origin);
	if (s->poisson)
		return lam / s->count;
	/* Queries index, index + n, ... strictly below lam. */
	double k = ceil((lam - s->index) / s->count);
	return k > 0 ? k : 0;
}
