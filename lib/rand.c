/* SPDX-License-Identifier: MIT */
#include "lib/rand.h"

#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void ds_rng_seed(ds_rng_t *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t ds_rng_next(ds_rng_t *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t ds_rng_below(ds_rng_t *r, uint64_t n)
{
	/* Lemire's multiply-shift with rejection: unbiased, one division rarely. */
	uint64_t x = ds_rng_next(r);
	__uint128_t m = (__uint128_t)x * n;
	uint64_t l = (uint64_t)m;
	if (l < n) {
		uint64_t t = -n % n;
		while (l < t) {
			x = ds_rng_next(r);
			m = (__uint128_t)x * n;
			l = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double ds_rng_double(ds_rng_t *r)
{
	return (double)(ds_rng_next(r) >> 11) * 0x1.0p-53;
}

static __thread ds_rng_t tl_rng;
static __thread bool tl_seeded;

static ds_rng_t *tl(void)
{
	if (!tl_seeded) {
		uint64_t seed;
		ds_rand_secure(&seed, sizeof(seed));
		ds_rng_seed(&tl_rng, seed);
		tl_seeded = true;
	}
	return &tl_rng;
}

uint64_t ds_rand64(void)
{
	return ds_rng_next(tl());
}

uint64_t ds_rand_below(uint64_t n)
{
	return ds_rng_below(tl(), n);
}

void ds_rand_secure(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n <= 0) {
			/* getrandom cannot fail after boot on Linux; keep going
			 * with a time-derived value rather than leave zeros. */
			uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid();
			size_t k = len < sizeof(t) ? len : sizeof(t);
			memcpy(p, &t, k);
			n = (ssize_t)k;
		}
		p += n;
		len -= (size_t)n;
	}
}
