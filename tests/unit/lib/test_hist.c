/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/hist: bucket layout, quantile accuracy against exact
 * sorted data, merge, the DLH1 encoding and its rejection of bad blobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "lib/rand.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Equal counts in every bucket and equal count/min/max. */
static void assert_hist_equal(const ds_hist_t *a, const ds_hist_t *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->min, b->min);
	assert_int_equal(a->max, b->max);
	uint32_t i = 0, j = 0;
	uint64_t ca, cb;
	for (;;) {
		bool ma = ds_hist_next(a, &i, &ca);
		bool mb = ds_hist_next(b, &j, &cb);
		assert_int_equal(ma, mb);
		if (!ma)
			break;
		assert_int_equal(i, j);
		assert_int_equal(ca, cb);
		i++;
		j++;
	}
}

static void test_layout(void **st)
{
	/* Exact below 2^(S+1), contiguous buckets, bounds contain the value. */
	for (int64_t v = 0; v < 2 * DS_HIST_SUB; v++) {
		int64_t lo, hi;
		assert_int_equal(ds_hist_index(v), (uint32_t)v);
		ds_hist_bucket_bounds(ds_hist_index(v), &lo, &hi);
		assert_int_equal(lo, v);
		assert_int_equal(hi, v);
	}
	uint32_t top = ds_hist_index(INT64_MAX);
	int64_t prev_hi = -1;
	for (uint32_t idx = 0; idx <= top; idx++) {
		int64_t lo, hi;
		ds_hist_bucket_bounds(idx, &lo, &hi);
		assert_int_equal(lo, prev_hi + 1);
		assert_true(hi >= lo);
		assert_int_equal(ds_hist_index(lo), idx);
		assert_int_equal(ds_hist_index(hi), idx);
		/* relative width at most 2^-S */
		assert_true((double)(hi - lo) <= (double)lo / DS_HIST_SUB);
		prev_hi = hi;
	}
	assert_int_equal(prev_hi, INT64_MAX);
	assert_true(top >> DS_HIST_S < DS_HIST_BINS);
	/* negative values land in bucket 0 */
	assert_int_equal(ds_hist_index(-5), 0);
}

static void test_empty(void **st)
{
	ds_hist_t h, o;
	ds_hist_init(&h);
	ds_hist_init(&o);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.min, INT64_MAX);
	assert_int_equal(h.max, 0);
	assert_int_equal(ds_hist_quantile(&h, 0), 0);
	assert_int_equal(ds_hist_quantile(&h, 0.5), 0);
	assert_int_equal(ds_hist_quantile(&h, 1), 0);
	assert_true(ds_hist_mean(&h) == 0);
	uint32_t i = 0;
	uint64_t c;
	assert_false(ds_hist_next(&h, &i, &c));
	/* empty round trip */
	size_t len;
	uint8_t *b = ds_hist_encode(&h, &len);
	assert_non_null(b);
	assert_int_equal(ds_hist_decode(&o, b, len), DS_OK);
	assert_hist_equal(&h, &o);
	free(b);
	/* merging an empty histogram changes nothing, in either direction */
	assert_int_equal(ds_hist_record(&o, 42), DS_OK);
	assert_int_equal(ds_hist_merge(&o, &h), DS_OK);
	assert_int_equal(o.count, 1);
	assert_int_equal(o.min, 42);
	assert_int_equal(o.max, 42);
	assert_int_equal(ds_hist_merge(&h, &o), DS_OK);
	assert_hist_equal(&h, &o);
	ds_hist_free(&h);
	ds_hist_free(&o);
	/* free leaves it empty and reusable */
	assert_int_equal(h.count, 0);
	assert_int_equal(ds_hist_record(&h, 7), DS_OK);
	assert_int_equal(ds_hist_quantile(&h, 0.5), 7);
	ds_hist_free(&h);
}

static void test_exact_small(void **st)
{
	ds_hist_t h;
	ds_hist_init(&h);
	/* 1..200: every value exact, so quantiles are exact order statistics */
	for (int64_t v = 200; v >= 1; v--)
		assert_int_equal(ds_hist_record(&h, v), DS_OK);
	assert_int_equal(h.count, 200);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 200);
	assert_true(ds_hist_mean(&h) == 100.5);
	assert_int_equal(ds_hist_quantile(&h, 0), 1);
	assert_int_equal(ds_hist_quantile(&h, 0.5), 100);
	assert_int_equal(ds_hist_quantile(&h, 0.99), 198);
	assert_int_equal(ds_hist_quantile(&h, 0.001), 1);
	assert_int_equal(ds_hist_quantile(&h, 1), 200);
	/* n > 1 and negative clamp */
	ds_hist_reset(&h);
	assert_int_equal(ds_hist_add(&h, 3, 10), DS_OK);
	assert_int_equal(ds_hist_add(&h, -9, 10), DS_OK);
	assert_int_equal(ds_hist_add(&h, 99, 0), DS_OK);
	assert_int_equal(h.count, 20);
	assert_int_equal(h.min, 0);
	assert_int_equal(h.max, 3);
	assert_int_equal(ds_hist_quantile(&h, 0.5), 0);
	assert_int_equal(ds_hist_quantile(&h, 0.51), 3);
	ds_hist_free(&h);
}

/* q values probed, including the extremes reports use. */
static const double qs[] = {0.0,  0.000001, 0.001, 0.01, 0.1,   0.25,     0.5,
			    0.75, 0.9,      0.99,  0.999, 0.9999, 0.999999, 1.0};

static void check_quantiles(int64_t *vals, size_t n, const ds_hist_t *h)
{
	qsort(vals, n, sizeof(*vals), cmp_i64);
	for (size_t k = 0; k < DS_ARRAY_SIZE(qs); k++) {
		double q = qs[k];
		int64_t got = ds_hist_quantile(h, q);
		int64_t want;
		if (q == 0) {
			want = vals[0];
			assert_int_equal(got, want);
			continue;
		}
		size_t rank = (size_t)ceil(q * (double)n);
		if (rank < 1)
			rank = 1;
		want = vals[rank - 1];
		/* never below the true value, at most 2^-S above it */
		if (got < want || (double)(got - want) > (double)want / DS_HIST_SUB)
			fail_msg("q=%g n=%zu: got %lld want %lld", q, n, (long long)got,
				 (long long)want);
		assert_true(got <= vals[n - 1]);
	}
	assert_int_equal(ds_hist_quantile(h, 1), vals[n - 1]);
}

static void test_quantiles_random(void **st)
{
	ds_rng_t r;
	ds_rng_seed(&r, 20261125);
	const size_t n = 100000;
	int64_t *vals = malloc(n * sizeof(*vals));
	assert_non_null(vals);
	for (int dist = 0; dist < 4; dist++) {
		ds_hist_t h;
		ds_hist_init(&h);
		for (size_t i = 0; i < n; i++) {
			int64_t v;
			switch (dist) {
			case 0: /* uniform loopback-ish latencies, 20..200 us */
				v = 20000 + (int64_t)ds_rng_below(&r, 180000);
				break;
			case 1: /* log-uniform over 1 ns .. ~17 s */
				v = (int64_t)exp(ds_rng_double(&r) * 37.4);
				break;
			case 2: /* bimodal: cache hits and 2 s timeouts */
				v = ds_rng_below(&r, 100) < 97
					    ? 30000 + (int64_t)ds_rng_below(&r, 5000)
					    : 2000000000 + (int64_t)ds_rng_below(&r, 1000);
				break;
			default: /* full positive int64 range */
				v = (int64_t)(ds_rng_next(&r) >> (1 + ds_rng_below(&r, 63)));
				break;
			}
			vals[i] = v;
			assert_int_equal(ds_hist_record(&h, v), DS_OK);
		}
		assert_int_equal(h.count, n);
		check_quantiles(vals, n, &h);
		ds_hist_free(&h);
	}
	/* tiny n, where ceil(q*N) rounding matters most */
	for (size_t m = 1; m <= 7; m++) {
		ds_hist_t h;
		ds_hist_init(&h);
		for (size_t i = 0; i < m; i++) {
			vals[i] = 1000 + (int64_t)ds_rng_below(&r, 1000000);
			ds_hist_record(&h, vals[i]);
		}
		check_quantiles(vals, m, &h);
		ds_hist_free(&h);
	}
	free(vals);
}

static void test_huge(void **st)
{
	ds_hist_t h, o;
	ds_hist_init(&h);
	ds_hist_init(&o);
	const int64_t big = INT64_MAX / 2;
	assert_int_equal(ds_hist_record(&h, big), DS_OK);
	assert_int_equal(ds_hist_record(&h, big), DS_OK);
	assert_int_equal(ds_hist_record(&h, 1), DS_OK);
	assert_int_equal(ds_hist_quantile(&h, 0.5), big);
	assert_int_equal(ds_hist_quantile(&h, 0.99), big);
	assert_int_equal(ds_hist_quantile(&h, 0), 1);
	assert_true(ds_hist_mean(&h) > 3e18);
	assert_int_equal(ds_hist_record(&h, INT64_MAX), DS_OK);
	assert_int_equal(h.max, INT64_MAX);
	assert_int_equal(ds_hist_quantile(&h, 1), INT64_MAX);
	/* the bucket of INT64_MAX/2 + 1 is wider than one: clamped to max */
	ds_hist_reset(&o);
	ds_hist_record(&o, big + 1);
	assert_int_equal(ds_hist_quantile(&o, 0.5), big + 1);
	size_t len;
	uint8_t *b = ds_hist_encode(&h, &len);
	assert_non_null(b);
	ds_hist_reset(&o);
	assert_int_equal(ds_hist_decode(&o, b, len), DS_OK);
	assert_hist_equal(&h, &o);
	assert_true(o.sum == h.sum);
	free(b);
	ds_hist_free(&h);
	ds_hist_free(&o);
}

static void test_merge(void **st)
{
	ds_rng_t r;
	ds_rng_seed(&r, 7);
	ds_hist_t a, b, u;
	ds_hist_init(&a);
	ds_hist_init(&b);
	ds_hist_init(&u);
	/* a: small values, b: large values, overlapping in the middle */
	for (int i = 0; i < 20000; i++) {
		int64_t v = (int64_t)ds_rng_below(&r, 5000000);
		ds_hist_record(&a, v);
		ds_hist_record(&u, v);
		v = 1000000 + (int64_t)ds_rng_below(&r, 1000000000);
		ds_hist_record(&b, v);
		ds_hist_record(&u, v);
	}
	assert_int_equal(ds_hist_merge(&a, &b), DS_OK);
	assert_hist_equal(&a, &u);
	/* integer-valued sums below 2^53 are exact whatever the order */
	assert_true(a.sum == u.sum);
	for (size_t k = 0; k < DS_ARRAY_SIZE(qs); k++)
		assert_int_equal(ds_hist_quantile(&a, qs[k]), ds_hist_quantile(&u, qs[k]));
	/* reset keeps nothing but the allocation */
	ds_hist_reset(&a);
	assert_int_equal(a.count, 0);
	uint32_t i = 0;
	uint64_t c;
	assert_false(ds_hist_next(&a, &i, &c));
	assert_int_equal(ds_hist_quantile(&a, 0.5), 0);
	ds_hist_free(&a);
	ds_hist_free(&b);
	ds_hist_free(&u);
}

static void test_encode_round_trip(void **st)
{
	ds_rng_t r;
	ds_rng_seed(&r, 99);
	ds_hist_t h, o;
	ds_hist_init(&h);
	ds_hist_init(&o);
	for (int i = 0; i < 50000; i++)
		ds_hist_record(&h, (int64_t)exp(ds_rng_double(&r) * 25));
	ds_hist_record(&h, 0);
	size_t len;
	uint8_t *b = ds_hist_encode(&h, &len);
	assert_non_null(b);
	assert_memory_equal(b, "DLH1", 4);
	assert_int_equal(b[4], DS_HIST_S);
	assert_int_equal(b[5], 0);
	assert_int_equal(ds_hist_decode(&o, b, len), DS_OK);
	assert_hist_equal(&h, &o);
	assert_true(o.sum == h.sum);
	/* decode adds: decoding twice doubles every count */
	assert_int_equal(ds_hist_decode(&o, b, len), DS_OK);
	assert_int_equal(o.count, 2 * h.count);
	assert_int_equal(ds_hist_quantile(&o, 0.9), ds_hist_quantile(&h, 0.9));
	free(b);

	/* a hand-written blob pins the byte format documented in STORE.md:
	 * values 5 x2 and 300 x1 -> buckets 5 and index(300) */
	ds_hist_reset(&h);
	ds_hist_add(&h, 5, 2);
	ds_hist_record(&h, 300);
	b = ds_hist_encode(&h, &len);
	uint32_t i300 = ds_hist_index(300); /* e=1, m=150 -> 278 */
	assert_int_equal(i300, 278);
	const uint8_t want[] = {'D', 'L', 'H', '1', 7, 0, 3, 5, 0xac, 0x02,
				0,   0,   0,   0,   0,   0x60, 0x73, 0x40, /* 310.0 */
				5,   2,   0x90, 0x02, 1};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	free(b);
	ds_hist_free(&h);
	ds_hist_free(&o);
}

/* Every prefix and every single-byte change of a valid blob either decodes
 * to a self-consistent histogram or is refused, leaving the target as it
 * was; none may crash (ASan checks the reads). */
static void test_decode_corrupt(void **st)
{
	ds_rng_t r;
	ds_rng_seed(&r, 3);
	ds_hist_t h, o;
	ds_hist_init(&h);
	ds_hist_init(&o);
	for (int i = 0; i < 300; i++)
		ds_hist_record(&h, 1000 + (int64_t)ds_rng_below(&r, 100000000));
	size_t len;
	uint8_t *b = ds_hist_encode(&h, &len);
	assert_non_null(b);
	ds_hist_record(&o, 77);

	assert_int_equal(ds_hist_decode(&o, NULL, 0), DS_EINVAL);
	for (size_t n = 0; n < len; n++) {
		uint8_t *t = malloc(n ? n : 1); /* exact size so ASan sees overreads */
		memcpy(t, b, n);
		assert_int_equal(ds_hist_decode(&o, t, n), DS_EINVAL);
		free(t);
	}
	assert_int_equal(o.count, 1);
	assert_int_equal(o.min, 77);

	uint8_t *t = malloc(len);
	for (size_t k = 0; k < len; k++) {
		for (int x = 1; x < 256; x <<= 1) {
			memcpy(t, b, len);
			t[k] ^= (uint8_t)x;
			ds_hist_t d;
			ds_hist_init(&d);
			int rc = ds_hist_decode(&d, t, len);
			if (rc == DS_OK) {
				uint64_t total = 0, c;
				for (uint32_t i = 0; ds_hist_next(&d, &i, &c); i++)
					total += c;
				assert_int_equal(total, d.count);
				assert_true(d.count == 0 || d.min <= d.max);
			} else {
				assert_int_equal(rc, DS_EINVAL);
				assert_int_equal(d.count, 0);
			}
			ds_hist_free(&d);
		}
	}
	free(t);

	/* specific refusals */
	const uint8_t hdr[] = {'D', 'L', 'H', '1', 7, 0};
	uint8_t x[64];
#define BLOB(...)                                                                                  \
	do {                                                                                       \
		const uint8_t tail[] = {__VA_ARGS__};                                              \
		memcpy(x, hdr, 6);                                                                 \
		memcpy(x + 6, tail, sizeof(tail));                                                 \
		xl = 6 + sizeof(tail);                                                             \
	} while (0)
	size_t xl;
	/* valid baseline: one value 5 */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_OK);
	assert_int_equal(o.count, 2);
	/* wrong S */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1);
	x[4] = 5;
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* count does not match the buckets */
	BLOB(2, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* zero count pair */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1, 0, 0);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* min outside the first bucket */
	BLOB(1, 6, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* index beyond the last bucket */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 0xff, 0xff, 0x03, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* overlong varint (11 bytes) */
	BLOB(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 5, 5, 0, 0, 0, 0,
	     0, 0, 0x14, 0x40, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* min above INT64_MAX */
	BLOB(1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 5, 0, 0, 0, 0, 0, 0,
	     0x14, 0x40, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* NaN sum */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 5, 1);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* dangling varint at the end */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1, 0x80);
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
	/* bad magic */
	BLOB(1, 5, 5, 0, 0, 0, 0, 0, 0, 0x14, 0x40, 5, 1);
	x[3] = '2';
	assert_int_equal(ds_hist_decode(&o, x, xl), DS_EINVAL);
#undef BLOB
	assert_int_equal(o.count, 2);
	free(b);
	ds_hist_free(&h);
	ds_hist_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_exact_small),
		cmocka_unit_test(test_quantiles_random),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
