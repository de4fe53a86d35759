/* SPDX-License-Identifier: MIT */
/*
 * shard_check MERGED.db SHARD.db...: the merged run's latency histograms
 * must be exactly the union of the shards' raw ones. The union is built
 * here independently of reports/merge.c: every shard's per-second
 * histograms merged through lib/hist.h (ds_store_hist_load). Compared:
 * count, min, max and every bucket of response_time, service_time and
 * sched_lag over the whole run; p50/p99/max of the union against the
 * merged run's histograms, its summary_json, and its phase's hist_bucket
 * rows through the SQL of docs/STORE.md. Prints one line per check;
 * exit 0 when all hold.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "lib/store.h"

static int failures;

static void check(bool ok, const char *what, double want, double got)
{
	printf("%s %-46s union %.0f merged %.0f\n", ok ? "ok  " : "FAIL", what, want, got);
	if (!ok)
		failures++;
}

/* The newest load run of a store, or -1. */
static int64_t load_run(ds_store_t *db)
{
	ds_store_run_t *r = NULL;
	size_t n = 0;
	ds_err_t err;
	if (ds_store_runs_list(db, NULL, "load", NULL, &r, &n, &err) < 0 || !n) {
		ds_store_runs_free(r, n);
		return -1;
	}
	int64_t id = r[n - 1].run_id;
	ds_store_runs_free(r, n);
	return id;
}

static bool same_buckets(const ds_hist_t *a, const ds_hist_t *b)
{
	uint32_t ia = 0, ib = 0;
	uint64_t ca, cb;
	for (;;) {
		bool ma = ds_hist_next(a, &ia, &ca), mb = ds_hist_next(b, &ib, &cb);
		if (ma != mb)
			return false;
		if (!ma)
			return true;
		if (ia != ib || ca != cb)
			return false;
		ia++;
		ib++;
	}
}

/* The SQL percentile of docs/STORE.md over the run's first phase. */
static int64_t sql_quantile(ds_store_t *db, int64_t run_id, const char *metric, double q)
{
	sqlite3 *h = ds_store_handle(db);
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	const char *sql =
	    "SELECT hi FROM (SELECT hi, SUM(count) OVER (ORDER BY idx) AS cum, SUM(count) OVER () "
	    "AS n FROM hist_bucket WHERE phase_id = (SELECT phase_id FROM phase WHERE run_id = ?1 "
	    "AND seq = 0) AND metric = ?2 AND labels = '') WHERE cum >= MAX(1, CEIL(?3 * n)) "
	    "ORDER BY hi LIMIT 1";
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, q);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int main(int argc, char **argv)
{
	static const char *const metrics[] = {"response_time", "service_time", "sched_lag"};
	static const double qs[] = {0.5, 0.99};
	if (argc < 3) {
		fprintf(stderr, "usage: shard_check MERGED.db SHARD.db...\n");
		return 2;
	}
	ds_err_t err;
	ds_store_t *mdb = ds_store_open(argv[1], DS_STORE_RDONLY, &err);
	int64_t mrun = mdb ? load_run(mdb) : -1;
	if (mrun < 0) {
		fprintf(stderr, "shard_check: %s: no merged load run\n", argv[1]);
		return 2;
	}
	ds_store_run_t run;
	if (ds_store_run_get(mdb, mrun, &run, &err) < 0) {
		fprintf(stderr, "shard_check: %s\n", err.msg);
		return 2;
	}
	cJSON *sum = run.summary_json ? cJSON_Parse(run.summary_json) : NULL;
	for (size_t k = 0; k < sizeof(metrics) / sizeof(metrics[0]); k++) {
		const char *metric = metrics[k];
		ds_hist_t u, m;
		ds_hist_init(&u);
		ds_hist_init(&m);
		for (int i = 2; i < argc; i++) {
			ds_store_t *db = ds_store_open(argv[i], DS_STORE_RDONLY, &err);
			int64_t r = db ? load_run(db) : -1;
			if (r < 0 || ds_store_hist_load(db, r, metric, "", INT64_MIN, INT64_MAX, &u,
			                                &err) < 0) {
				fprintf(stderr, "shard_check: %s: cannot read %s\n", argv[i],
				        metric);
				return 2;
			}
			ds_store_close(db);
		}
		if (ds_store_hist_load(mdb, mrun, metric, "", INT64_MIN, INT64_MAX, &m, &err) < 0) {
			fprintf(stderr, "shard_check: %s\n", err.msg);
			return 2;
		}
		char what[96];
		snprintf(what, sizeof(what), "%s count", metric);
		check(u.count == m.count && u.count > 0, what, (double)u.count, (double)m.count);
		snprintf(what, sizeof(what), "%s min", metric);
		check(u.min == m.min, what, (double)u.min, (double)m.min);
		snprintf(what, sizeof(what), "%s max", metric);
		check(u.max == m.max, what, (double)u.max, (double)m.max);
		snprintf(what, sizeof(what), "%s buckets", metric);
		check(same_buckets(&u, &m), what, (double)u.count, (double)m.count);
		for (size_t j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
			int64_t want = ds_hist_quantile(&u, qs[j]);
			snprintf(what, sizeof(what), "%s p%g (histogram)", metric, qs[j] * 100);
			check(want == ds_hist_quantile(&m, qs[j]), what, (double)want,
			      (double)ds_hist_quantile(&m, qs[j]));
			int64_t got = sql_quantile(mdb, mrun, metric, qs[j]);
			snprintf(what, sizeof(what), "%s p%g (hist_bucket SQL)", metric,
			         qs[j] * 100);
			check(want == got, what, (double)want, (double)got);
		}
		if (!strcmp(metric, "response_time")) {
			const cJSON *lat = cJSON_GetObjectItemCaseSensitive(sum, "latency_ms");
			static const char *const keys[] = {"p50", "p99", "max"};
			int64_t want[] = {ds_hist_quantile(&u, 0.5), ds_hist_quantile(&u, 0.99),
			                  u.max};
			for (size_t j = 0; j < 3; j++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(lat, keys[j]);
				double got = cJSON_IsNumber(v) ? v->valuedouble * 1e6 : -1;
				snprintf(what, sizeof(what), "summary_json latency_ms.%s", keys[j]);
				check(fabs(got - (double)want[j]) < 0.5, what, (double)want[j],
				      got);
			}
		}
		ds_hist_free(&u);
		ds_hist_free(&m);
	}
	cJSON_Delete(sum);
	ds_store_run_free(&run);
	ds_store_close(mdb);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
