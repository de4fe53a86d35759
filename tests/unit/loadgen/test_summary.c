/* SPDX-License-Identifier: MIT */
/* Unit tests for loadgen/summary: the shape of the JSON object (fields,
 * types, units) and the text report's key lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/summary.h"

static void fill(ds_load_result_t *r)
{
	memset(r, 0, sizeof(*r));
	ds_meter_init(&r->total);
	for (int i = 0; i < 1000; i++) {
		ds_meter_sent(&r->total, 0, 1000 + i, 40, 1000000, true);
		ds_meter_answer(&r->total, 0, 1000 + i, 1000000 + 1000 * i, i < 900 ? 0 : 3, false,
				80);
	}
	ds_meter_timeout(&r->total, 2000000000, true);
	r->total.sent++;
	r->elapsed_ns = 2000000000;
	r->scheduled = 1001;
	r->lag_p99_max_ns = 1500;
	r->valid = true;
}

static cJSON *get(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		fail_msg("no field '%s'", k);
	return v;
}

static void test_json_shape(void **state)
{
	ds_load_result_t r;
	fill(&r);
	ds_summary_in_t in = {.r = &r, .target = "127.0.0.1:53/udp", .spacing = "constant",
			      .profile = "0s:500", .status = "ok", .run_id = 7,
			      .timeout_ns = 2000000000, .timeout_in_hist = true, .shard_count = 1};
	cJSON *o = ds_summary_json(&in);
	assert_non_null(o);
	assert_true(get(o, "sent")->valuedouble == 1001);
	assert_true(get(o, "answered")->valuedouble == 1000);
	assert_true(get(o, "timeouts")->valuedouble == 1);
	assert_true(fabs(get(o, "qps")->valuedouble - 500) < 1e-9);
	cJSON *lat = get(o, "latency_ms");
	static const char *keys[] = {"p50", "p90", "p99", "p999", "max"};
	for (size_t i = 0; i < 5; i++)
		assert_true(cJSON_IsNumber(get(lat, keys[i])));
	/* milliseconds: answers took 1..2 ms, the timeout 2 s is the max */
	assert_true(get(lat, "p50")->valuedouble > 1.4 && get(lat, "p50")->valuedouble < 1.6);
	assert_true(get(lat, "max")->valuedouble == 2000);
	cJSON *rc = get(o, "rcodes");
	assert_true(get(rc, "NOERROR")->valuedouble == 900);
	assert_true(get(rc, "NXDOMAIN")->valuedouble == 100);
	assert_int_equal(cJSON_GetArraySize(rc), 2);
	cJSON *lag = get(o, "schedule_lag_ms");
	assert_true(cJSON_IsNumber(get(lag, "p99")) && cJSON_IsNumber(get(lag, "max")));
	assert_true(fabs(get(lag, "max")->valuedouble - 0.001999) < 1e-9);
	assert_true(cJSON_IsTrue(get(o, "valid")));
	assert_true(cJSON_IsNull(get(o, "invalid_reason")));
	assert_string_equal(get(o, "load_model")->valuestring, "open");
	assert_true(cJSON_IsTrue(get(o, "timeout_in_hist")));
	assert_true(get(o, "run_id")->valuedouble == 7);
	cJSON_Delete(o);

	r.valid = false;
	r.closed_loop = true;
	snprintf(r.invalid_reason, sizeof(r.invalid_reason), "schedule lag p99 3 ms");
	in.max_outstanding = 100;
	in.run_id = -1;
	o = ds_summary_json(&in);
	assert_true(cJSON_IsFalse(get(o, "valid")));
	assert_string_equal(get(o, "invalid_reason")->valuestring, "schedule lag p99 3 ms");
	assert_string_equal(get(o, "load_model")->valuestring, "closed");
	assert_true(get(o, "max_outstanding")->valuedouble == 100);
	assert_true(cJSON_IsNull(get(o, "run_id")));
	cJSON_Delete(o);
	ds_meter_free(&r.total);
}

static void test_text(void **state)
{
	ds_load_result_t r;
	fill(&r);
	ds_summary_in_t in = {.r = &r, .target = "[::1]:5300/udp", .spacing = "poisson",
			      .profile = "0s:500", .status = "ok", .run_id = -1,
			      .timeout_ns = 2000000000, .timeout_in_hist = true, .shard_count = 1};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ds_summary_print(f, &in);
	fclose(f);
	assert_non_null(strstr(buf, "Queries sent:          1001"));
	assert_non_null(strstr(buf, "Queries completed:     1000 (99.90%)"));
	assert_non_null(strstr(buf, "NOERROR 900 (90.00%)"));
	assert_non_null(strstr(buf, "open loop, poisson spacing"));
	assert_non_null(strstr(buf, "percentiles include 1 timeouts at 2000 ms"));
	assert_non_null(strstr(buf, "Result:                valid"));
	free(buf);
	r.closed_loop = true;
	buf = NULL;
	f = open_memstream(&buf, &len);
	ds_summary_print(f, &in);
	fclose(f);
	assert_non_null(strstr(buf, "CLOSED LOOP"));
	free(buf);
	ds_meter_free(&r.total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_shape),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
