/* SPDX-License-Identifier: MIT */
/* Unit tests for reports/compare and reports/trial on synthetic stores
 * written through lib/store.h's writer (reports/synth): a candidate 10 %
 * slower regresses (exit 1), identical distributions pass (exit 0), three
 * trials are inconclusive (exit 3), invalid trials are left out and said
 * so, results are saved, and the JSON and JUnit renderings hold what the
 * table says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/store.h"
#include "reports/compare.h"
#include "reports/show.h"
#include "reports/synth.h"

struct tmp {
	char dir[64], db[128];
};

static void tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/ds_report_test_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/results.db", t->dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmp_clean(struct tmp *t)
{
	nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Short trials keep the tests fast; 10 s at 1000 qps is 10000 answers. */
static void synth(ds_store_t *db, const char *label, unsigned n, double slowdown, uint64_t seed,
                  bool lag_spike)
{
	/* each call's trials start after the previous call's, as real runs do */
	static int64_t next = 1700000000LL * DS_NS_PER_SEC;
	ds_synth_opts_t o = {
	    .start_ns = next,
	    .label = label,
	    .scenario = "resolver-mix",
	    .trials = n,
	    .qps = 1000,
	    .slowdown = slowdown,
	    .noise = 0.02,
	    .warmup_ns = 2 * DS_NS_PER_SEC,
	    .steady_ns = 10 * DS_NS_PER_SEC,
	    .scrape_ns = -1,
	    .lag_spike = lag_spike,
	    .seed = seed,
	};
	ds_err_t err;
	if (ds_synth_write(db, &o, NULL, &err) != DS_OK)
		fail_msg("synth: %s", err.msg);
	next += (int64_t)n * 22 * DS_NS_PER_SEC; /* 12 s trials, 10 s apart */
}

static int compare(ds_store_t *db, const char *b, const char *c, ds_cmp_result_t *r,
                   ds_cmp_opts_t *o)
{
	ds_err_t err;
	ds_cmp_opts_default(o);
	o->base_label = b;
	o->cand_label = c;
	o->iters = 2000;
	int rc = ds_cmp_run(db, db, o, r, &err);
	if (rc != DS_OK)
		fail_msg("compare: %s", err.msg);
	return r->exit_code;
}

static const ds_cmp_row_t *row(const ds_cmp_result_t *r, ds_trial_metric_t m)
{
	assert_int_equal(r->nsc, 1);
	return &r->sc[0].rows[m];
}

static bool warned(const ds_cmp_result_t *r, const char *needle)
{
	for (size_t i = 0; i < r->nwarn; i++)
		if (strstr(r->warnings[i], needle))
			return true;
	return false;
}

static void test_regression(void **st)
{
	struct tmp t;
	tmp_make(&t);
	ds_err_t err;
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	/* interleaved like an ABBA session, so no drift warning is due */
	for (int i = 0; i < 5; i++) {
		synth(db, "v1.2", 1, 1.0, 100 + (uint64_t)i, false);
		synth(db, "v1.3", 1, 1.1, 200 + (uint64_t)i, false);
		synth(db, "v1.3", 1, 1.1, 300 + (uint64_t)i, false);
		synth(db, "v1.2", 1, 1.0, 400 + (uint64_t)i, false);
	}
	ds_cmp_result_t r;
	ds_cmp_opts_t o;
	assert_int_equal(compare(db, "v1.2", "v1.3", &r, &o), DS_CMP_REGRESSION);
	const ds_cmp_row_t *p50 = row(&r, DS_TM_P50), *p99 = row(&r, DS_TM_P99);
	assert_int_equal(p50->verdict, DS_CMP_REGRESSED);
	assert_int_equal(p99->verdict, DS_CMP_REGRESSED);
	assert_int_equal(p50->nb, 10);
	assert_int_equal(p50->nc, 10);
	assert_true(p50->delta > 0.07 && p50->delta < 0.13);
	assert_true(p50->ci_lo < p50->delta && p50->delta < p50->ci_hi);
	assert_true(p50->p < 0.001);
	/* the rate did not change */
	assert_int_equal(row(&r, DS_TM_QPS)->verdict, DS_CMP_NO_CHANGE);
	assert_int_equal(row(&r, DS_TM_LOSS_PCT)->verdict, DS_CMP_NO_CHANGE);
	/* 10000 answers per trial are too few for a p99.9 */
	assert_int_equal(row(&r, DS_TM_P999)->verdict, DS_CMP_NA);
	assert_false(warned(&r, "interleave"));
	assert_non_null(strstr(r.verdict, "p50"));

	/* the table says the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ds_cmp_print(f, &r, &o);
	fclose(f);
	assert_non_null(strstr(buf, "REGRESSED"));
	assert_non_null(strstr(buf, "exit 1"));
	free(buf);

	/* JSON: parseable, with the verdict */
	char *js = ds_cmp_json(&r, &o);
	cJSON *j = cJSON_Parse(js);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "verdict")->valuestring, "regressed");
	cJSON *m0 = cJSON_GetArrayItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "scenarios"), 0),
	                        "metrics"),
	    DS_TM_P50);
	assert_string_equal(cJSON_GetObjectItem(m0, "verdict")->valuestring, "regressed");
	assert_float_equal(cJSON_GetObjectItem(m0, "p")->valuedouble, p50->p, 1e-15);
	cJSON_Delete(j);
	free(js);

	/* JUnit: one failure per regressed gated metric */
	char junit[160];
	snprintf(junit, sizeof(junit), "%s/junit.xml", t.dir);
	assert_int_equal(ds_cmp_junit(junit, &r, &o, &err), DS_OK);
	f = fopen(junit, "r");
	assert_non_null(f);
	char x[16384];
	size_t n = fread(x, 1, sizeof(x) - 1, f);
	x[n] = 0;
	fclose(f);
	assert_non_null(strstr(x, "failures=\"2\""));
	assert_non_null(strstr(x, "name=\"p50\""));
	ds_cmp_result_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

static void test_no_change(void **st)
{
	struct tmp t;
	tmp_make(&t);
	ds_err_t err;
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	for (int i = 0; i < 5; i++) {
		synth(db, "a", 1, 1.0, 10 + (uint64_t)i, false);
		synth(db, "b", 1, 1.0, 20 + (uint64_t)i, false);
		synth(db, "b", 1, 1.0, 30 + (uint64_t)i, false);
		synth(db, "a", 1, 1.0, 40 + (uint64_t)i, false);
	}
	ds_cmp_result_t r;
	ds_cmp_opts_t o;
	o.save_db = NULL;
	assert_int_equal(compare(db, "a", "b", &r, &o), DS_CMP_PASS);
	for (int m = 0; m < DS_TM_COUNT; m++) {
		const ds_cmp_row_t *x = row(&r, (ds_trial_metric_t)m);
		assert_int_not_equal(x->verdict, DS_CMP_REGRESSED);
		assert_int_not_equal(x->verdict, DS_CMP_INSUFFICIENT);
	}
	assert_string_equal(r.verdict, "no regression");
	ds_cmp_result_free(&r);

	/* saved: comparison rows and per-trial summaries */
	ds_cmp_opts_default(&o);
	o.base_label = "a";
	o.cand_label = "b";
	o.iters = 500;
	o.save_db = db;
	assert_int_equal(ds_cmp_run(db, db, &o, &r, &err), DS_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(ds_store_handle(db),
	                                    "SELECT COUNT(*), SUM(verdict = 'regressed') FROM "
	                                    "comparison WHERE metric = 'response_time.p99'",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1);
	assert_int_equal(sqlite3_column_int(q, 1), 0);
	sqlite3_finalize(q);
	assert_int_equal(
	    sqlite3_prepare_v2(ds_store_handle(db),
	                       "SELECT COUNT(DISTINCT run_id) FROM trial_summary WHERE "
	                       "metric = 'qps'",
	                       -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 20);
	sqlite3_finalize(q);
	ds_cmp_result_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

static void test_too_few(void **st)
{
	struct tmp t;
	tmp_make(&t);
	ds_err_t err;
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	/* three trials per side, even with a 30 % slowdown, decide nothing */
	synth(db, "old", 3, 1.0, 1, false);
	synth(db, "new", 3, 1.3, 2, false);
	ds_cmp_result_t r;
	ds_cmp_opts_t o;
	assert_int_equal(compare(db, "old", "new", &r, &o), DS_CMP_INCONCLUSIVE);
	assert_int_equal(row(&r, DS_TM_P99)->verdict, DS_CMP_INSUFFICIENT);
	assert_true(warned(&r, "only 3 valid baseline and 3 valid candidate trials"));
	/* all old trials ran before all new ones */
	assert_true(warned(&r, "interleave"));
	assert_non_null(strstr(r.verdict, "INCONCLUSIVE"));
	ds_cmp_result_free(&r);

	/* unknown label: an input error (exit 2) */
	ds_cmp_opts_default(&o);
	o.base_label = "old";
	o.cand_label = "nope";
	assert_int_equal(ds_cmp_run(db, db, &o, &r, &err), DS_ENOENT);
	assert_non_null(strstr(err.msg, "no runs labelled 'nope'"));
	ds_cmp_result_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

static void test_invalid_trials(void **st)
{
	struct tmp t;
	tmp_make(&t);
	ds_err_t err;
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	synth(db, "base", 6, 1.0, 5, false);
	synth(db, "cand", 4, 1.0, 6, false);
	synth(db, "cand", 2, 1.0, 7, true); /* generator lag: invalid */

	ds_trial_t *tr;
	size_t n;
	assert_int_equal(ds_trial_load_label(db, "cand", NULL, 0, NULL, &tr, &n, &err), DS_OK);
	assert_int_equal(n, 6);
	assert_true(tr[0].valid);
	assert_false(tr[5].valid);
	assert_non_null(strstr(tr[5].why, "schedule lag"));
	assert_non_null(strstr(tr[5].lag, "INVALID"));
	assert_non_null(strstr(tr[0].lag, "ok"));
	/* the measured phase is the steady one: 10 s at 1000 qps */
	assert_int_equal(tr[0].total.nintervals, 10);
	assert_int_equal(tr[0].total.sent, 10000);
	assert_float_equal(tr[0].total.m[DS_TM_QPS], 1000, 1e-9);
	assert_int_equal(tr[0].nphases, 2);
	assert_false(tr[0].phases[0].measured);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ds_show_print(f, tr, 1);
	fclose(f);
	assert_non_null(strstr(buf, "steady *"));
	assert_non_null(strstr(buf, "trial valid"));
	free(buf);
	ds_trials_free(tr, n);

	ds_cmp_result_t r;
	ds_cmp_opts_t o;
	/* 4 valid of 6: too few, and a third invalid */
	assert_int_equal(compare(db, "base", "cand", &r, &o), DS_CMP_INCONCLUSIVE);
	assert_int_equal(r.sc[0].nc_valid, 4);
	assert_int_equal(r.sc[0].nc_total, 6);
	assert_true(warned(&r, "is invalid and left out"));
	assert_true(warned(&r, "are invalid"));
	ds_cmp_result_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

static void test_options(void **st)
{
	ds_cmp_opts_t o;
	ds_err_t err;
	ds_cmp_opts_default(&o);
	assert_float_equal(o.alpha, 0.01, 0);
	assert_float_equal(o.min_effect[DS_TM_P99], 0.05, 0);
	assert_int_equal(ds_cmp_parse_min_effect(&o, "p99=7%,loss=0.5,p99.9=12", &err), DS_OK);
	assert_float_equal(o.min_effect[DS_TM_P99], 0.07, 1e-15);
	assert_float_equal(o.min_effect[DS_TM_LOSS_PCT], 0.5, 0);
	assert_float_equal(o.min_effect[DS_TM_P999], 0.12, 1e-15);
	assert_int_equal(ds_cmp_parse_min_effect(&o, "p98=1", &err), DS_EINVAL);
	assert_int_equal(ds_cmp_parse_min_effect(&o, "p99", &err), DS_EINVAL);
	assert_int_equal(ds_cmp_parse_gate(&o, "p50,qps", &err), DS_OK);
	assert_true(o.gated[DS_TM_P50] && o.gated[DS_TM_QPS]);
	assert_false(o.gated[DS_TM_P99]);
	assert_int_equal(ds_cmp_parse_gate(&o, "p50,bogus", &err), DS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regression), cmocka_unit_test(test_no_change),
	    cmocka_unit_test(test_too_few),    cmocka_unit_test(test_invalid_trials),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
