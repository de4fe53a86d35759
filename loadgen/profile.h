/* SPDX-License-Identifier: MIT */
/**
 * \file profile.h
 * \brief Rate profiles: the query rate of a run as a function of time.
 *
 * A profile is a list of segments over time relative to its start. In
 * each segment the rate is constant (a step) or changes linearly (a
 * ramp), so the expected number of queries sent before time t, Lambda(t),
 * is piecewise quadratic and can be inverted exactly: the scheduler
 * (sched.h) turns query number k into the time Lambda^-1(k).
 *
 * Text syntax (docs/LOAD.md), points separated by commas:
 *
 *     TIME:RATE          step: RATE from TIME on
 *     TIME:RATE~         ramp: RATE at TIME, linearly to the next point's rate
 *     TIME:RATE+DUR      spike: RATE for DUR, then back to the rate before
 *
 * TIME and DUR are Go durations ("0s", "1m30s", "500ms"), strictly
 * increasing; RATE is queries per second, with an optional k or M suffix
 * ("50k", "1.5M"). Before the first point the rate is 0.
 *
 *     0s:1000,30s:50000~,60s:500000,90s:1000,100s:1000+5s
 */
#pragma once

#include <stdint.h>

#include "lib/common.h"

typedef enum {
	DS_SEG_STEP,
	DS_SEG_RAMP,
	DS_SEG_SPIKE,
	DS_SEG_IDLE, /**< rate 0 before the first point */
} ds_seg_kind_t;

/** One segment [t0, t1) with rate r0 at t0 going linearly to r1 at t1. */
typedef struct ds_profile_seg {
	int64_t t0, t1;  /**< ns from the profile start; the last t1 is INT64_MAX */
	double r0, r1;   /**< queries per second; r0 == r1 except in ramps */
	double c0;       /**< Lambda(t0): expected queries before t0 */
	ds_seg_kind_t kind;
} ds_profile_seg_t;

typedef struct ds_profile {
	size_t n;               /**< segments, at least 1 */
	ds_profile_seg_t *seg;
	int64_t last_point_ns;  /**< time of the last point written */
	double last_rate;       /**< rate held after the last point */
} ds_profile_t;

/**
 * Parse a profile (syntax above). Returns NULL and an error naming the
 * offending point ("profile point 3 '60s:abc': bad rate") on error.
 * Free with ds_profile_free().
 */
ds_profile_t *ds_profile_parse(const char *text, ds_err_t *err);
/** A profile of one constant rate from 0 on. NULL on ENOMEM or a rate < 0. */
ds_profile_t *ds_profile_constant(double qps);
/** Free a profile; NULL is fine. */
void ds_profile_free(ds_profile_t *p);
/** Rate at t (ns from the start). */
double ds_profile_rate(const ds_profile_t *p, int64_t t);
/** Lambda(t): expected number of queries in [0, t). */
double ds_profile_count(const ds_profile_t *p, int64_t t);
/**
 * Lambda^-1(c): the earliest time by which c queries are due, or
 * INT64_MAX when the profile never reaches c (its rate drops to 0).
 */
int64_t ds_profile_time_of(const ds_profile_t *p, double c);
/** Short text for a segment: "step 1000 qps", "ramp 1000->50000 qps". */
const char *ds_profile_seg_str(const ds_profile_seg_t *s, char *buf, size_t len);
