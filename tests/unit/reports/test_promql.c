/* SPDX-License-Identifier: MIT */
/* Unit tests for reports/promql: the parser (precedence, canonical
 * printing, errors for what is not supported), and the evaluator against
 * values worked out by hand from Prometheus' rules: rate() with counter
 * resets and extrapolation, histogram_quantile() interpolation and its
 * edge cases, aggregation, vector matching, comparisons, window mode,
 * `for:` evaluation, and series read back from a store.
 * (tests/integration/reports/promtool.sh checks the same against promtool.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "reports/promql.h"
#include "reports/synth.h"

#define S DS_NS_PER_SEC
#define T0 (1700000000LL * S) /* a wall time, as stores have */

static ds_promql_data_t *data(void)
{
	ds_promql_data_t *d = ds_promql_data_new();
	assert_non_null(d);
	/* counter with a reset between 30 s and 45 s */
	static const double c[] = {0, 10, 20, 5, 15, 25};
	for (int i = 0; i < 6; i++)
		assert_int_equal(ds_promql_data_add(d, "c", "a=\"x\"", T0 + i * 15 * S, c[i]),
		                 DS_OK);
	/* samples at 10..50 s: 10..50 */
	for (int i = 1; i <= 5; i++)
		assert_int_equal(ds_promql_data_add(d, "e", "", T0 + i * 10 * S, 10.0 * i), DS_OK);
	/* late start: 100, 110, 120 at 30, 40, 50 s */
	for (int i = 3; i <= 5; i++)
		assert_int_equal(ds_promql_data_add(d, "late", "", T0 + i * 10 * S, 70.0 + 10 * i),
		                 DS_OK);
	/* histogram buckets at 60 s (cumulative counts) */
	static const struct {
		const char *le;
		double v;
	} b[] = {{"0.1", 10}, {"0.2", 30}, {"0.4", 40}, {"+Inf", 40}};
	for (int i = 0; i < 4; i++) {
		char l[64];
		snprintf(l, sizeof(l), "{job=\"dns\", le=\"%s\"}", b[i].le);
		assert_int_equal(ds_promql_data_add(d, "h_bucket", l, T0 + 60 * S, b[i].v), DS_OK);
		snprintf(l, sizeof(l), "job=\"other\",le=\"%s\"", b[i].le);
		assert_int_equal(
		    ds_promql_data_add(d, "h_bucket", l, T0 + 60 * S, i == 3 ? 50 : b[i].v), DS_OK);
	}
	/* two series for matching: hits has a type label, requests not */
	assert_int_equal(ds_promql_data_add(d, "hits", "type=\"success\",z=\".\"", T0 + 60 * S, 8),
	                 DS_OK);
	assert_int_equal(ds_promql_data_add(d, "hits", "type=\"denial\",z=\".\"", T0 + 60 * S, 1),
	                 DS_OK);
	assert_int_equal(ds_promql_data_add(d, "req", "z=\".\"", T0 + 60 * S, 10), DS_OK);
	/* empty values are no label at all, as in Prometheus */
	assert_int_equal(ds_promql_data_add(d, "req", "z=\".\",view=\"\"", T0 + 60 * S, 10), DS_OK);
	assert_int_equal(ds_promql_data_add(d, "bad", "k=\"unterminated", T0, 1), DS_EINVAL);
	return d;
}

/* Evaluate at t (seconds after T0); a single-element result's value. */
static double one(const ds_promql_data_t *d, const char *expr, int t, int64_t window_s)
{
	ds_err_t err;
	ds_promql_t *e = ds_promql_parse(expr, &err);
	if (!e)
		fail_msg("%s: %s", expr, err.msg);
	ds_promql_result_t r;
	ds_promql_opts_t o = {.t_ns = T0 + t * S, .window_ns = window_s * S};
	if (ds_promql_eval(e, d, &o, &r, &err) != DS_OK)
		fail_msg("%s: %s", expr, err.msg);
	if (r.n != 1)
		fail_msg("%s: %zu elements", expr, r.n);
	double v = r.e[0].value;
	ds_promql_result_free(&r);
	ds_promql_free(e);
	return v;
}

static size_t count(const ds_promql_data_t *d, const char *expr, int t)
{
	ds_err_t err;
	ds_promql_t *e = ds_promql_parse(expr, &err);
	assert_non_null(e);
	ds_promql_result_t r;
	ds_promql_opts_t o = {.t_ns = T0 + t * S};
	assert_int_equal(ds_promql_eval(e, d, &o, &r, &err), DS_OK);
	size_t n = r.comparison ? r.n_held : r.n;
	ds_promql_result_free(&r);
	ds_promql_free(e);
	return n;
}

static void test_parse(void **st)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"sum  BY(le)(rate(x_bucket{a=~'b.*',c!=\"d\"}[5m]))",
	     "sum by (le) (rate(x_bucket{a=~\"b.*\", c!=\"d\"}[5m]))"},
	    {"sum(rate(x[1h30m])) without (a, b)", "sum without (a, b) (rate(x[1h30m]))"},
	    {"a / on(z) b > bool 0.5", "a / on(z) b > bool 0.5"},
	    {"-x offset 5m", "-x offset 5m"},
	    {"{__name__=\"x\"}", "{__name__=\"x\"}"},
	    {"histogram_quantile(0.99, x) > 5e-3", "histogram_quantile(0.99, x) > 0.005"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ds_err_t err;
		ds_promql_t *e = ds_promql_parse(ok[i].in, &err);
		if (!e)
			fail_msg("%s: %s", ok[i].in, err.msg);
		char *s = ds_promql_format(e);
		assert_string_equal(s, ok[i].out);
		free(s);
		ds_promql_free(e);
	}
	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {"rate(x[5m:1m])", "subqueries"},
	    {"topk(3, x)", "not supported"},
	    {"a * on(b) group_left c", "group_left"},
	    {"x +", "unexpected end"},
	    {"rate(x[5m]", "expected ')'"},
	    {"nosuchfn(x)", "'nosuchfn' is not supported"},
	    {"x{a=~\"(\"}", "bad regular expression"},
	    {"(x)[5m]", "can only follow a series selector"},
	    {"histogram_quantile(0.9)", "takes 2 arguments"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ds_err_t err;
		ds_promql_t *e = ds_promql_parse(bad[i].in, &err);
		if (e)
			fail_msg("%s parsed", bad[i].in);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("%s: '%s' lacks '%s'", bad[i].in, err.msg, bad[i].msg);
	}
}

static void test_arith(void **st)
{
	ds_promql_data_t *d = data();
	assert_float_equal(one(d, "1 + 2 * 3", 0, 0), 7, 0);
	assert_float_equal(one(d, "-2 ^ 2", 0, 0), -4, 0);
	assert_float_equal(one(d, "2 ^ 3 ^ 2", 0, 0), 512, 0);
	assert_float_equal(one(d, "(1 + 2) * 3", 0, 0), 9, 0);
	assert_float_equal(one(d, "7 % 4", 0, 0), 3, 0);
	assert_float_equal(one(d, "1 < bool 2", 0, 0), 1, 0);
	assert_float_equal(one(d, "time()", 10, 0), 1700000010, 0);
	/* the newest sample within 5 minutes */
	assert_float_equal(one(d, "e", 45, 0), 40, 0);
	assert_float_equal(one(d, "e offset 20s", 45, 0), 20, 0);
	assert_int_equal(count(d, "e", 50 + 301), 0);
	assert_float_equal(one(d, "scalar(e) * 2", 50, 0), 100, 0);
	assert_float_equal(one(d, "clamp_max(e, 25)", 50, 0), 25, 0);
	ds_promql_data_free(d);
}

static void test_rate(void **st)
{
	ds_promql_data_t *d = data();
	/* samples 10 20 5 15 25 in [15 s, 75 s] (both ends included): increase
	 * 25 - 10 plus 20 lost at the reset = 35, over 60 s; the samples touch
	 * both edges, so no extrapolation */
	assert_float_equal(one(d, "rate(c[1m])", 75, 0), 35.0 / 60, 1e-15);
	assert_float_equal(one(d, "increase(c[1m])", 75, 0), 35, 1e-12);
	/* samples 10..50 at 10..50 s, window [0, 60]: 10 s gaps at both ends are
	 * below 1.1 x the 10 s spacing, so extrapolate to the edges: 40 over 40 s
	 * becomes 60 over 60 s */
	assert_float_equal(one(d, "increase(e[1m])", 60, 0), 60, 1e-12);
	assert_float_equal(one(d, "rate(e[1m])", 60, 0), 1, 1e-15);
	/* 100, 110, 120 at 30..50 s in [0, 60]: 30 s to the start is more than
	 * 1.1 x 10 s, so only half a spacing (5 s) there, 10 s at the end:
	 * 20 x (20 + 5 + 10) / 20 = 35 */
	assert_float_equal(one(d, "increase(late[1m])", 60, 0), 35, 1e-12);
	/* delta() does not know about resets: 25 - 10 */
	assert_float_equal(one(d, "delta(c[1m])", 75, 0), 15, 1e-12);
	/* irate: the last two samples */
	assert_float_equal(one(d, "irate(c[1m])", 75, 0), 10.0 / 15, 1e-15);
	assert_float_equal(one(d, "irate(c[1m])", 45, 0), 5.0 / 15, 1e-15);
	assert_float_equal(one(d, "max_over_time(c[1m])", 75, 0), 25, 0);
	assert_float_equal(one(d, "avg_over_time(e[1m])", 60, 0), 30, 1e-12);
	assert_float_equal(one(d, "count_over_time(c[30s])", 75, 0), 3, 0);
	/* one sample is not a rate */
	assert_int_equal(count(d, "rate(c[10s])", 75), 0);
	/* window mode: ranges become the window, evaluated at its end */
	assert_float_equal(one(d, "increase(e[5m])", 60, 60), 60, 1e-12);
	ds_promql_data_free(d);
}

static void test_histogram_quantile(void **st)
{
	ds_promql_data_t *d = data();
	/* 10 / 30 / 40 / 40 at le 0.1 / 0.2 / 0.4 / +Inf: rank 20 lies in
	 * (0.1, 0.2] with 20 in the bucket and 10 before: 0.1 + 0.1 x 10/20 */
	assert_float_equal(one(d, "histogram_quantile(0.5, h_bucket{job=\"dns\"})", 60, 0), 0.15,
	                   1e-15);
	/* rank 39.6 in (0.2, 0.4]: 0.2 + 0.2 x 9.6/10 */
	assert_float_equal(one(d, "histogram_quantile(0.99, h_bucket{job=\"dns\"})", 60, 0), 0.392,
	                   1e-15);
	/* the job="other" series has 10 in +Inf: rank 49.5 falls there, and
	 * Prometheus answers with the highest finite bound */
	assert_float_equal(one(d, "histogram_quantile(0.99, h_bucket{job=\"other\"})", 60, 0), 0.4,
	                   0);
	assert_true(isinf(one(d, "histogram_quantile(1.5, h_bucket{job=\"dns\"})", 60, 0)));
	/* without +Inf there is no quantile */
	assert_true(
	    isnan(one(d, "histogram_quantile(0.5, h_bucket{job=\"dns\",le!=\"+Inf\"})", 60, 0)));
	/* one result per label set without le; sum by (le) merges them */
	assert_int_equal(count(d, "histogram_quantile(0.5, h_bucket)", 60), 2);
	assert_float_equal(one(d, "histogram_quantile(0.5, sum by (le) (h_bucket))", 60, 0),
	                   0.1 + 0.1 * (45.0 - 20) / 40, 1e-15);
	ds_promql_data_t *m = ds_promql_data_new();
	/* counts going down (scrape races) are forced monotonic: 10, 10, 20 */
	ds_promql_data_add(m, "b", "le=\"0.1\"", T0, 10);
	ds_promql_data_add(m, "b", "le=\"0.2\"", T0, 8);
	ds_promql_data_add(m, "b", "le=\"+Inf\"", T0, 20);
	assert_float_equal(one(m, "histogram_quantile(0.5, b)", 0, 0), 0.1, 1e-15);
	ds_promql_data_free(m);
	ds_promql_data_free(d);
}

static void test_matching(void **st)
{
	ds_promql_data_t *d = data();
	/* hits carries type, req does not: one-to-one matching finds nothing */
	assert_int_equal(count(d, "hits / req", 60), 0);
	assert_float_equal(one(d, "sum without (type) (hits) / req", 60, 0), 0.9, 1e-15);
	assert_float_equal(one(d, "sum(hits) / sum(req)", 60, 0), 0.9, 1e-15);
	assert_int_equal(count(d, "hits and on(z) req", 60), 2);
	assert_int_equal(count(d, "hits unless on(type) req", 60), 2);
	assert_int_equal(count(d, "sum by (type) (hits)", 60), 2);
	assert_float_equal(one(d, "count(hits)", 60, 0), 2, 0);
	ds_promql_data_free(d);
}

static void test_errors(void **st)
{
	ds_promql_data_t *d = data();
	static const struct {
		const char *expr, *msg;
	} bad[] = {
	    {"hits / ignoring(type) req", "many-to-one"},
	    {"1 > 2", "bool"},
	    {"rate(e)", "range vector"},
	    {"sum(e[1m])", "instant vector"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ds_err_t err;
		ds_promql_t *e = ds_promql_parse(bad[i].expr, &err);
		assert_non_null(e);
		ds_promql_result_t r;
		ds_promql_opts_t o = {.t_ns = T0 + 60 * S};
		assert_int_equal(ds_promql_eval(e, d, &o, &r, &err), DS_EINVAL);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("%s: '%s' lacks '%s'", bad[i].expr, err.msg, bad[i].msg);
		ds_promql_result_free(&r);
		ds_promql_free(e);
	}
	ds_promql_data_free(d);
}

static void test_comparison(void **st)
{
	ds_promql_data_t *d = data();
	ds_err_t err;
	ds_promql_t *e = ds_promql_parse("hits > 2", &err);
	ds_promql_result_t r;
	ds_promql_opts_t o = {.t_ns = T0 + 60 * S};
	assert_int_equal(ds_promql_eval(e, d, &o, &r, &err), DS_OK);
	/* both sides kept: what was compared and with what */
	assert_true(r.comparison);
	assert_string_equal(r.op, ">");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.n_held, 1);
	assert_true(r.firing);
	for (size_t i = 0; i < r.n; i++) {
		assert_float_equal(r.e[i].threshold, 2, 0);
		assert_int_equal(r.e[i].held, r.e[i].value > 2);
	}
	assert_string_equal(r.e[1].series, "hits{type=\"success\",z=\".\"}");
	ds_promql_result_free(&r);
	ds_promql_free(e);
	ds_promql_data_free(d);
}

static void test_for(void **st)
{
	/* a gauge above 5 from 40 s to 100 s */
	ds_promql_data_t *d = ds_promql_data_new();
	for (int i = 0; i <= 12; i++)
		ds_promql_data_add(d, "g", "", T0 + i * 10 * S, i >= 4 && i <= 10 ? 9 : 1);
	ds_err_t err;
	ds_promql_t *e = ds_promql_parse("g > 5", &err);
	ds_promql_for_t f;
	assert_int_equal(ds_promql_eval_for(e, d, T0, T0 + 120 * S, 10 * S, 60 * S, &f, &err),
	                 DS_OK);
	assert_int_equal(f.steps, 12);
	assert_int_equal(f.active_steps, 7);
	assert_int_equal(f.longest_ns, 60 * S);
	assert_true(f.fired);
	assert_int_equal(f.fired_at_ns, T0 + 100 * S);
	assert_float_equal(f.worst, 9, 0);
	assert_int_equal(ds_promql_eval_for(e, d, T0, T0 + 120 * S, 10 * S, 61 * S, &f, &err),
	                 DS_OK);
	assert_false(f.fired);
	ds_promql_free(e);
	ds_promql_data_free(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void test_store(void **st)
{
	char dir[64], db_path[128];
	snprintf(dir, sizeof(dir), "/tmp/ds_promql_test_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/r.db", dir);
	ds_err_t err;
	ds_store_t *db = ds_store_open(db_path, 0, &err);
	assert_non_null(db);
	ds_synth_opts_t o = {.label = "x",
	                     .qps = 500,
	                     .steady_ns = 30 * S,
	                     .warmup_ns = -1,
	                     .scrape_ns = 5 * S,
	                     .counter_reset = true,
	                     .start_ns = T0,
	                     .seed = 3};
	int64_t id;
	assert_int_equal(ds_synth_write(db, &o, &id, &err), DS_OK);
	ds_promql_result_t r;
	/* requests counted over the whole steady phase, across the restart:
	 * 30 s at 500 qps */
	assert_int_equal(ds_promql_check(db, id, "sum(increase(coredns_dns_requests_total[5m]))",
	                                 T0, T0 + 30 * S, &r, &err),
	                 DS_OK);
	assert_int_equal(r.n, 1);
	assert_float_equal(r.e[0].value, 15000, 1e-6);
	assert_non_null(strstr(r.note, "[5m] evaluated over the 30s window"));
	ds_promql_result_free(&r);
	assert_int_equal(ds_promql_check(db, id,
	                                 "histogram_quantile(0.99, sum by (le) "
	                                 "(rate(coredns_dns_request_duration_seconds_bucket[5m]))) "
	                                 "< 0.016",
	                                 T0, T0 + 30 * S, &r, &err),
	                 DS_OK);
	assert_true(r.comparison);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.n_held, 1);
	assert_string_equal(r.e[0].series, "{}"); /* sum by (le) kept only le */
	ds_promql_result_free(&r);
	assert_int_equal(ds_promql_check(db, id, "rate(", T0, T0 + 30 * S, &r, &err), DS_EINVAL);
	ds_promql_result_free(&r);
	ds_store_close(db);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),      cmocka_unit_test(test_arith),
	    cmocka_unit_test(test_rate),       cmocka_unit_test(test_histogram_quantile),
	    cmocka_unit_test(test_matching),   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_comparison), cmocka_unit_test(test_for),
	    cmocka_unit_test(test_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
