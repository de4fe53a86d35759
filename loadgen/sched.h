/* SPDX-License-Identifier: MIT */
/**
 * \file sched.h
 * \brief Open-loop send schedule: the intended send time of every query.
 *
 * A schedule is one stream of a profile (profile.h). Query number c in
 * the profile's "count space" is due at Lambda^-1(c); with constant
 * spacing, stream i of n takes c = i, i + n, i + 2n ... so n streams
 * (threads, and shards of several processes) together send exactly the
 * profile, interleaved and disjoint. With Poisson spacing each stream
 * steps c by n times an exponential variate: a Poisson process of rate
 * r(t)/n, and the sum of n such streams is a Poisson process of r(t).
 *
 * Times are absolute (the caller's clock, CLOCK_MONOTONIC ns in the
 * engine) so the schedule never depends on when the caller looks: a
 * sender that falls behind finds every missed query still due, at its
 * original intended time (no coordinated omission). Nothing here reads a
 * clock, so tests drive it with made-up "now" values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/rand.h"
#include "loadgen/profile.h"

typedef struct ds_sched {
	const ds_profile_t *p; /**< borrowed; must outlive the schedule */
	int64_t origin;        /**< absolute time of profile time 0 */
	int64_t end;           /**< no query is due at or after this (INT64_MAX = none) */
	unsigned index, count; /**< this stream is index of count */
	bool poisson;
	ds_rng_t rng;
	double c;              /**< count-space position of the next query */
	int64_t next;          /**< its absolute intended time; INT64_MAX when none is left */
	uint64_t popped;       /**< queries taken so far */
} ds_sched_t;

/**
 * Start stream index (0-based) of count over profile p from origin on;
 * queries at or after end are not scheduled. seed drives the Poisson
 * gaps (each stream should get its own).
 */
void ds_sched_init(ds_sched_t *s, const ds_profile_t *p, int64_t origin, int64_t end,
		   unsigned index, unsigned count, bool poisson, uint64_t seed);

/** Intended time of the next query, INT64_MAX when there is none. */
static inline int64_t ds_sched_peek(const ds_sched_t *s)
{
	return s->next;
}

/** Take the next query: returns its intended time (INT64_MAX if none) and advances. */
int64_t ds_sched_pop(ds_sched_t *s);

/**
 * Take up to max queries due at or before now, their intended times into
 * out (in order). Returns how many.
 */
size_t ds_sched_due(ds_sched_t *s, int64_t now, int64_t *out, size_t max);

/**
 * Number of this stream's queries due before absolute time t: exact for
 * constant spacing, the expectation for Poisson. Used for the target rate
 * of an interval and to count queries never sent when a run ends.
 */
double ds_sched_expected(const ds_sched_t *s, int64_t t);
