/* SPDX-License-Identifier: MIT */
/* Unit tests for loadgen/meter, the recording path of every answer:
 * quantiles against the exact sorted values, timeouts in the histograms,
 * and merging across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "lib/rand.h"
#include "loadgen/meter.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t exact_q(const int64_t *v, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

/* Reported quantile: never below the true value, at most 2^-7 above. */
static void assert_close(int64_t got, int64_t want)
{
	if (got < want || (double)got > (double)want * (1 + 1.0 / 128) + 1)
		fail_msg("quantile %lld, exact %lld", (long long)got, (long long)want);
}

static void test_quantiles(void **state)
{
	enum { N = 200000 };
	ds_rng_t r;
	ds_rng_seed(&r, 5);
	int64_t *resp = malloc(N * sizeof(int64_t)), *serv = malloc(N * sizeof(int64_t));
	ds_meter_t a, b;
	ds_meter_init(&a);
	ds_meter_init(&b);
	for (size_t i = 0; i < N; i++) {
		/* log-uniform service times 10 us .. 100 ms, lag 0 .. 200 us */
		int64_t svc = (int64_t)(1e4 * pow(1e4, ds_rng_double(&r)));
		int64_t lag = (int64_t)ds_rng_below(&r, 200000);
		int64_t intended = 1000000000 + (int64_t)i * 1000;
		int64_t sent = intended + lag;
		/* two "threads" that are merged afterwards */
		ds_meter_t *m = i % 2 ? &a : &b;
		ds_meter_sent(m, intended, sent, 40, 1000000, true);
		ds_meter_answer(m, intended, sent, sent + svc, i % 10 ? 0 : 3, false, 60);
		resp[i] = svc + lag;
		serv[i] = svc;
	}
	assert_int_equal(ds_meter_merge(&a, &b), DS_OK);
	assert_int_equal(a.sent, N);
	assert_int_equal(a.answered, N);
	assert_int_equal(a.rcode[0], N * 9 / 10);
	assert_int_equal(a.rcode[3], N / 10);
	assert_int_equal(a.bytes_recv, 60ULL * N);
	qsort(resp, N, sizeof(int64_t), cmp_i64);
	qsort(serv, N, sizeof(int64_t), cmp_i64);
	static const double qs[] = {0.001, 0.5, 0.9, 0.99, 0.999, 1.0};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		assert_close(ds_hist_quantile(&a.response, qs[i]), exact_q(resp, N, qs[i]));
		assert_close(ds_hist_quantile(&a.service, qs[i]), exact_q(serv, N, qs[i]));
	}
	assert_int_equal(a.response.max, resp[N - 1]);
	assert_int_equal(a.service.min, serv[0]);
	/* response = service + lag, so it is never the smaller one. */
	assert_true(ds_hist_quantile(&a.response, 0.5) >= ds_hist_quantile(&a.service, 0.5));
	assert_int_equal(a.lag.count, N);
	free(resp);
	free(serv);
	ds_meter_free(&a);
	ds_meter_free(&b);
}

static void test_timeouts_in_hist(void **state)
{
	ds_meter_t m;
	ds_meter_init(&m);
	for (int i = 0; i < 980; i++)
		ds_meter_answer(&m, 0, 0, 100000, 0, false, 50);
	for (int i = 0; i < 20; i++)
		ds_meter_timeout(&m, 2000000000, true);
	assert_int_equal(m.timeouts, 20);
	/* 2 % timed out: p99 sits on the 2 s plateau, p50 does not. */
	assert_true(ds_hist_quantile(&m.response, 0.99) >= 2000000000);
	assert_int_equal(m.response.max, 2000000000);
	assert_true(ds_hist_quantile(&m.response, 0.5) < 101000);
	ds_meter_reset(&m);
	assert_int_equal(m.response.count, 0);
	for (int i = 0; i < 20; i++)
		ds_meter_timeout(&m, 2000000000, false);
	assert_int_equal(m.timeouts, 20);
	assert_int_equal(m.response.count, 0);
	ds_meter_free(&m);
}

static void test_lag_limit(void **state)
{
	ds_meter_t m;
	ds_meter_init(&m);
	ds_meter_sent(&m, 1000, 1000 + 500000, 30, 1000000, true);
	ds_meter_sent(&m, 1000, 1000 + 1500000, 30, 1000000, true);
	ds_meter_sent(&m, 1000, 1000 + 9000000, 30, 1000000, false);
	assert_int_equal(m.sent, 3);
	assert_int_equal(m.late_sends, 1);
	assert_int_equal(m.lag.count, 2);
	assert_int_equal(m.lag.max, 1500000);
	ds_meter_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_timeouts_in_hist),
		cmocka_unit_test(test_lag_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
