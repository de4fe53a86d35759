/* SPDX-License-Identifier: MIT */
/**
 * \file clock.h
 * \brief Monotonic and wall clocks in nanoseconds.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#define DS_NS_PER_SEC 1000000000LL
#define DS_NS_PER_MS 1000000LL
#define DS_NS_PER_US 1000LL

/** CLOCK_MONOTONIC in ns: for intervals, deadlines, latency. */
static inline int64_t ds_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec;
}

/** CLOCK_REALTIME in ns since the epoch: for timestamps stored or shown. */
static inline int64_t ds_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec;
}
