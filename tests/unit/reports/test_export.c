/* SPDX-License-Identifier: MIT */
/* Unit tests for reports/export (CSV read back with libcsv's own parser:
 * quoting of commas, quotes and line breaks, numbers exact) and
 * reports/dnsperf (dnsperf 2.10 outputs captured against dnsurged: with
 * -S lines, without, with every query lost; stored as summary-only runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <csv.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "reports/dnsperf.h"
#include "reports/export.h"
#include "reports/synth.h"

/* ------------------------------------------------------ CSV reading back */

struct table {
	char *cell[64][96];
	size_t rows, col;
};

/* libcsv's field bytes are not NUL-terminated: copied, not strndup'ed
 * (which may scan past them for a NUL). */
static void on_field(void *s, size_t len, void *u)
{
	struct table *t = u;
	if (t->rows < 64 && t->col < 96) {
		char *c = malloc(len + 1);
		assert_non_null(c);
		if (len)
			memcpy(c, s, len);
		c[len] = '\0';
		t->cell[t->rows][t->col] = c;
	}
	t->col++;
}

static void on_row(int c, void *u)
{
	struct table *t = u;
	t->rows++;
	t->col = 0;
}

static void parse_csv(const char *buf, size_t len, struct table *t)
{
	struct csv_parser p;
	memset(t, 0, sizeof(*t));
	assert_int_equal(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL), 0);
	assert_int_equal(csv_parse(&p, buf, len, on_field, on_row, t), len);
	assert_int_equal(csv_fini(&p, on_field, on_row, t), 0);
	csv_free(&p);
}

static void table_free(struct table *t)
{
	for (size_t r = 0; r < 64; r++)
		for (size_t c = 0; c < 96; c++)
			free(t->cell[r][c]);
}

static int col(const struct table *t, const char *name)
{
	for (int c = 0; c < 96 && t->cell[0][c]; c++)
		if (!strcmp(t->cell[0][c], name))
			return c;
	fail_msg("no column %s", name);
	return -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void test_field_quoting(void **st)
{
	static const char *fields[] = {"plain",    "a,b", "say \"hi\"", "two\nlines",
	                               " padded ", "",    "1.25"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(ds_export_field(f, fields[i], i == 6), DS_OK);
	fclose(f);
	/* plain fields stay unquoted, the rest are quoted the RFC 4180 way */
	assert_memory_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\"", 24);
	struct table t;
	parse_csv(buf, len, &t);
	assert_int_equal(t.rows, 1);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(t.cell[0][i], fields[i]);
	table_free(&t);
	free(buf);
}

static void test_round_trip(void **st)
{
	char dir[64], path[128];
	snprintf(dir, sizeof(dir), "/tmp/ds_export_test_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	ds_err_t err;
	ds_store_t *db = ds_store_open(path, 0, &err);
	assert_non_null(db);
	/* a label a naive CSV writer would break */
	ds_synth_opts_t o = {.label = "v1.3, \"rc1\"\nbuild 7",
	                     .scenario = "mix,udp",
	                     .qps = 300,
	                     .warmup_ns = 2 * DS_NS_PER_SEC,
	                     .steady_ns = 5 * DS_NS_PER_SEC,
	                     .scrape_ns = 5 * DS_NS_PER_SEC,
	                     .servfail_pct = 2,
	                     .trials = 2,
	                     .seed = 9};
	assert_int_equal(ds_synth_write(db, &o, NULL, &err), DS_OK);
	ds_trial_t *t;
	size_t n;
	assert_int_equal(ds_trial_load_label(db, o.label, NULL, 0, NULL, &t, &n, &err), DS_OK);
	assert_int_equal(n, 2);

	for (int table = DS_EXPORT_RUNS; table <= DS_EXPORT_SAMPLES; table++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		assert_int_equal(ds_export_csv(f, db, (ds_export_table_t)table, t, n, &err), DS_OK);
		fclose(f);
		struct table ct;
		parse_csv(buf, len, &ct);
		int cl = col(&ct, "label");
		assert_string_equal(ct.cell[1][cl], o.label);
		if (table == DS_EXPORT_RUNS) {
			assert_int_equal(ct.rows, 3);
			for (size_t r = 0; r < 2; r++) {
				const ds_trial_window_t *w = &t[r].total;
				assert_int_equal(
				    strtoll(ct.cell[1 + r][col(&ct, "run_id")], NULL, 10),
				    t[r].run.run_id);
				assert_string_equal(ct.cell[1 + r][col(&ct, "scenario")],
				                    "mix,udp");
				assert_int_equal(
				    strtoull(ct.cell[1 + r][col(&ct, "sent")], NULL, 10), w->sent);
				assert_int_equal(
				    strtoull(ct.cell[1 + r][col(&ct, "SERVFAIL")], NULL, 10),
				    w->rcode[2]);
				/* doubles come back bit for bit */
				double p99 = strtod(ct.cell[1 + r][col(&ct, "p99_ns")], NULL);
				double qps = strtod(ct.cell[1 + r][col(&ct, "qps")], NULL);
				double err_pct =
				    strtod(ct.cell[1 + r][col(&ct, "error_pct")], NULL);
				assert_memory_equal(&p99, &w->m[DS_TM_P99], sizeof(double));
				assert_memory_equal(&qps, &w->m[DS_TM_QPS], sizeof(double));
				assert_memory_equal(&err_pct, &w->m[DS_TM_ERROR_PCT],
				                    sizeof(double));
				assert_string_equal(ct.cell[1 + r][col(&ct, "p999_ns")],
				                    isnan(w->m[DS_TM_P999])
				                        ? ""
				                        : ct.cell[1 + r][col(&ct, "p999_ns")]);
			}
		} else if (table == DS_EXPORT_PHASES) {
			assert_int_equal(ct.rows, 1 + 4);
			assert_string_equal(ct.cell[2][col(&ct, "phase")], "steady");
			assert_string_equal(ct.cell[2][col(&ct, "measured")], "1");
		} else if (table == DS_EXPORT_INTERVALS) {
			assert_int_equal(ct.rows, 1 + 2 * 7);
			assert_string_equal(ct.cell[1][col(&ct, "t_s")], "0");
			assert_string_equal(ct.cell[1][col(&ct, "sent")], "60"); /* 0.2 x 300 */
			assert_true(strtod(ct.cell[3][col(&ct, "p99_ns")], NULL) > 0);
		} else {
			assert_true(ct.rows > 10);
			assert_non_null(strstr(ct.cell[1][col(&ct, "name")], "coredns_"));
		}
		table_free(&ct);
		free(buf);
	}
	ds_trials_free(t, n);
	ds_store_close(db);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* --------------------------------------------------------------- dnsperf */

static char *slurp(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", DS_REPORT_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *b = calloc(1, 65536);
	size_t n = fread(b, 1, 65535, f);
	b[n] = 0;
	fclose(f);
	return b;
}

static void test_dnsperf_parse(void **st)
{
	ds_dnsperf_t *r;
	size_t n;
	ds_err_t err;
	char *a = slurp("dnsperf-interval.txt");
	assert_int_equal(ds_dnsperf_parse(a, &r, &n, &err), DS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(r->sent, 6000);
	assert_int_equal(r->completed, 6000);
	assert_int_equal(r->lost, 0);
	assert_int_equal(r->rcode[0], 4500);
	assert_int_equal(r->rcode[5], 1500);
	assert_float_equal(r->run_time_s, 3.000202, 0);
	assert_float_equal(r->qps, 1999.865342, 0);
	assert_float_equal(r->lat_avg_s, 0.000093, 0);
	assert_float_equal(r->lat_min_s, 0.000025, 0);
	assert_float_equal(r->lat_max_s, 0.008554, 0);
	assert_float_equal(r->lat_stddev_s, 0.000330, 0);
	assert_float_equal(r->req_size, 31, 0);
	assert_string_equal(r->target, "127.0.0.1:15353/udp");
	assert_non_null(strstr(r->command, "-Q 2000 -S 1"));
	assert_int_equal(r->nint, 2);
	assert_int_equal(r->int_t_ns[0], 1795646289043956000LL);
	assert_float_equal(r->int_qps[1], 2001.736037, 0);
	/* -S 1: the run began one interval before the first line */
	assert_int_equal(r->started_ns, 1795646288043956000LL);
	ds_dnsperf_free(r, n);

	/* two outputs in one file: two runs */
	char *b = slurp("dnsperf-plain.txt"), *c = slurp("dnsperf-lost.txt");
	char *both = malloc(strlen(b) + strlen(c) + 1);
	strcpy(both, b);
	strcat(both, c);
	assert_int_equal(ds_dnsperf_parse(both, &r, &n, &err), DS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].sent, 800);
	assert_int_equal(r[0].nint, 0);
	assert_int_equal(r[1].sent, 8);
	assert_int_equal(r[1].lost, 8);
	assert_int_equal(r[1].completed, 0);
	assert_int_equal(r[1].timeout_ns, 1000000000LL); /* -t 1 */
	assert_true(isnan(r[1].lat_stddev_s));
	ds_dnsperf_free(r, n);

	assert_int_equal(ds_dnsperf_parse("just some text\n", &r, &n, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "no dnsperf statistics"));
	free(a);
	free(b);
	free(c);
	free(both);
}

static void test_dnsperf_store(void **st)
{
	char dir[64], path[128];
	snprintf(dir, sizeof(dir), "/tmp/ds_dnsperf_test_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	ds_err_t err;
	ds_store_t *db = ds_store_open(path, 0, &err);
	assert_non_null(db);
	char *a = slurp("dnsperf-interval.txt");
	ds_dnsperf_t *r;
	size_t n;
	assert_int_equal(ds_dnsperf_parse(a, &r, &n, &err), DS_OK);
	int64_t id;
	assert_int_equal(ds_dnsperf_store(db, r, "coredns-1.11", "old", "x.txt", &id, &err), DS_OK);
	ds_trial_t t;
	assert_int_equal(ds_trial_load(db, id, NULL, &t, &err), DS_OK);
	assert_string_equal(t.run.tool, "dnsperf");
	assert_true(t.summary_only);
	assert_true(t.valid);
	assert_int_equal(t.total.sent, 6000);
	assert_int_equal(t.total.rcode[5], 1500);
	/* what dnsperf said, not a made-up percentile */
	assert_true(isnan(t.total.m[DS_TM_P50]));
	assert_true(isnan(t.total.m[DS_TM_P99]));
	assert_float_equal(t.total.m[DS_TM_MEAN], 93000, 1e-6);
	assert_float_equal(t.total.m[DS_TM_MAX], 8554000, 1e-6);
	assert_float_equal(t.total.m[DS_TM_QPS], 6000 / 3.000202, 1e-6);
	assert_float_equal(t.total.m[DS_TM_ERROR_PCT], 25, 1e-12);
	assert_int_equal(t.run.started_ns, 1795646288043956000LL);
	assert_non_null(strstr(t.lag, "n/a"));
	ds_trial_free(&t);
	ds_store_series_t *ss;
	size_t ns;
	assert_int_equal(ds_store_series_load(db, id, "dnsperf_interval_qps", INT64_MIN, INT64_MAX,
	                                      &ss, &ns, &err),
	                 DS_OK);
	assert_int_equal(ns, 1);
	assert_int_equal(ss[0].n, 2);
	ds_store_series_free(ss, ns);
	ds_dnsperf_free(r, n);
	free(a);
	ds_store_close(db);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_field_quoting),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_dnsperf_parse),
	    cmocka_unit_test(test_dnsperf_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
