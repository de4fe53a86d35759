/* SPDX-License-Identifier: MIT */
/**
 * \file rand.h
 * \brief Fast per-thread PRNG (xoshiro256**) and kernel randomness.
 *
 * ds_rand_*() use thread-local state seeded from getrandom(), so they need
 * no locks; they are not for secrets. ds_rand_secure() is.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** State of one generator; ds_rng_seed() sets it. */
typedef struct ds_rng {
	uint64_t s[4];
} ds_rng_t;

void ds_rng_seed(ds_rng_t *r, uint64_t seed);
uint64_t ds_rng_next(ds_rng_t *r);
/** Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t ds_rng_below(ds_rng_t *r, uint64_t n);
/** Uniform double in [0, 1). */
double ds_rng_double(ds_rng_t *r);

/** Thread-local generator, seeded from the kernel on first use. */
uint64_t ds_rand64(void);
uint64_t ds_rand_below(uint64_t n);
/** Fill buf from getrandom() (CSPRNG). */
void ds_rand_secure(void *buf, size_t len);
