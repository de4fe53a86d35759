/* SPDX-License-Identifier: MIT */
#include "reports/export.h"

#include <csv.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "reports/cli.h"
#include "reports/fmt.h"
#include "reports/report.h"

int ds_export_table_by_name(const char *name)
{
	static const char *n[] = {"runs", "phases", "intervals", "samples"};
	for (size_t i = 0; i < DS_ARRAY_SIZE(n); i++)
		if (!strcmp(name, n[i]))
			return (int)i;
	return -1;
}

/* Plain fields stay plain (numbers read as numbers everywhere); any field
 * a reader could split or trim goes through libcsv's quoting. */
static int field(FILE *f, const char *s)
{
	size_t n = strlen(s);
	bool quote = strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
	int rc = quote ? csv_fwrite(f, s, n) : fputs(s, f);
	return rc == EOF ? DS_EIO : DS_OK;
}

int ds_export_field(FILE *f, const char *s, bool last)
{
	if (field(f, s) < 0 || fputs(last ? "\r\n" : ",", f) < 0)
		return DS_EIO;
	return DS_OK;
}

/* Row builder: fields are formatted into one buffer, then written. */
typedef struct {
	FILE *f;
	int rc;
	bool first_written;
	char buf[128];
} row_t;

static void put_s(row_t *r, const char *s)
{
	if (r->rc != DS_OK)
		return;
	if (r->first_written && fputc(',', r->f) == EOF) {
		r->rc = DS_EIO;
		return;
	}
	r->first_written = true;
	if (field(r->f, s) < 0)
		r->rc = DS_EIO;
}

static void put_i(row_t *r, long long v)
{
	snprintf(r->buf, sizeof(r->buf), "%lld", v);
	put_s(r, r->buf);
}

static void put_d(row_t *r, double v)
{
	if (isnan(v) || isinf(v)) {
		put_s(r, "");
		return;
	}
	/* shortest text that reads back as the same double */
	for (int p = 1; p <= 17; p++) {
		snprintf(r->buf, sizeof(r->buf), "%.*g", p, v);
		if (strtod(r->buf, NULL) == v)
			break;
	}
	put_s(r, r->buf);
}

static void row_end(row_t *r)
{
	if (r->rc == DS_OK && fputs("\r\n", r->f) < 0)
		r->rc = DS_EIO;
	r->first_written = false;
}

static const char *metric_col(int m, char *buf, size_t len)
{
	const ds_trial_metric_info_t *mi = &ds_trial_metrics[m];
	if (mi->unit == DS_TU_NS)
		snprintf(buf, len, "%s_ns", strchr(mi->key, '.') + 1);
	else
		snprintf(buf, len, "%s", mi->key);
	/* "p99.9_ns" is awkward in most tools: p999_ns */
	char *dot = strchr(buf, '.');
	if (dot)
		memmove(dot, dot + 1, strlen(dot));
	return buf;
}

static void window_cols(row_t *r)
{
	static const char *c[] = {"dur_ns", "sent",       "answered",    "timeouts",  "late",
	                          "drops",  "late_sends", "send_errors", "lag_max_ns"};
	char b[48];
	for (size_t i = 0; i < DS_ARRAY_SIZE(c); i++)
		put_s(r, c[i]);
	for (int m = 0; m < DS_TM_COUNT; m++)
		put_s(r, metric_col(m, b, sizeof(b)));
	for (int i = 0; i < 6; i++)
		put_s(r, ds_rfmt_rcode(i, b, sizeof(b)));
	put_s(r, "rcode_other");
}

static void window_vals(row_t *r, const ds_trial_window_t *w)
{
	put_i(r, w->dur_ns);
	put_i(r, (long long)w->sent);
	put_i(r, (long long)w->answered);
	put_i(r, (long long)w->timeouts);
	put_i(r, (long long)w->late);
	put_i(r, (long long)w->drops);
	put_i(r, (long long)w->late_sends);
	put_i(r, (long long)w->send_errors);
	if (w->lag_max_ns >= 0)
		put_i(r, w->lag_max_ns);
	else
		put_s(r, "");
	for (int m = 0; m < DS_TM_COUNT; m++)
		put_d(r, w->m[m]);
	/* the six RCODEs that matter in practice get columns; the rest are "other" */
	uint64_t other = w->rcode_other;
	for (int i = 0; i < DS_STORE_NRCODE; i++) {
		if (i < 6)
			put_i(r, (long long)w->rcode[i]);
		else
			other += w->rcode[i];
	}
	put_i(r, (long long)other);
}

static void run_cols(row_t *r)
{
	static const char *c[] = {"run_id", "label", "tool",           "scenario",   "target",
	                          "status", "valid", "invalid_reason", "started_ns", "ended_ns"};
	for (size_t i = 0; i < DS_ARRAY_SIZE(c); i++)
		put_s(r, c[i]);
}

static void run_vals(row_t *r, const ds_trial_t *t)
{
	put_i(r, t->run.run_id);
	put_s(r, t->run.label ? t->run.label : "");
	put_s(r, t->run.tool ? t->run.tool : "");
	put_s(r, t->run.scenario ? t->run.scenario : "");
	put_s(r, t->run.target ? t->run.target : "");
	put_s(r, ds_store_status_name(t->run.status));
	put_i(r, t->valid);
	put_s(r, t->why);
	put_i(r, t->run.started_ns);
	if (t->run.ended_ns)
		put_i(r, t->run.ended_ns);
	else
		put_s(r, "");
}

static int export_intervals(row_t *r, ds_store_t *db, const ds_trial_t *t, size_t n, ds_err_t *err)
{
	static const char *c[] = {
	    "run_id",     "label",       "t_ns",        "t_s",         "dur_ns",     "target_qps",
	    "sent",       "answered",    "timeouts",    "late",        "mismatched", "malformed",
	    "truncated",  "send_errors", "drops",       "outstanding", "lag_p99_ns", "lag_max_ns",
	    "late_sends", "conn_active", "conn_opened", "conn_failed"};
	char b[32];
	for (size_t i = 0; i < DS_ARRAY_SIZE(c); i++)
		put_s(r, c[i]);
	for (int i = 0; i < DS_STORE_NRCODE; i++)
		put_s(r, ds_rfmt_rcode(i, b, sizeof(b)));
	put_s(r, "rcode_other");
	put_s(r, "p50_ns");
	put_s(r, "p99_ns");
	row_end(r);
	sqlite3 *h = ds_store_handle(db);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(h,
	                            "SELECT counts FROM hist WHERE run_id = ?1 AND metric ="
	                            " 'response_time' AND labels = '' AND t_ns = ?2",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ds_errf(err, DS_EIO, "%s: %s", ds_store_path(db), sqlite3_errmsg(h));
	for (size_t k = 0; k < n && r->rc == DS_OK; k++) {
		const ds_trial_t *x = &t[k];
		for (size_t i = 0; i < x->niv && r->rc == DS_OK; i++) {
			const ds_store_interval_t *iv = &x->iv[i];
			put_i(r, x->run.run_id);
			put_s(r, x->run.label ? x->run.label : "");
			put_i(r, iv->t_ns);
			put_d(r, (double)(iv->t_ns - x->run.started_ns) / 1e9);
			put_i(r, iv->dur_ns);
			put_d(r, iv->target_qps);
			const uint64_t u[] = {iv->sent,       iv->answered,    iv->timeouts,
			                      iv->late,       iv->mismatched,  iv->malformed,
			                      iv->truncated,  iv->send_errors, iv->drops,
			                      iv->outstanding};
			for (size_t j = 0; j < DS_ARRAY_SIZE(u); j++)
				put_i(r, (long long)u[j]);
			const int64_t g[] = {iv->lag_p99_ns, iv->lag_max_ns};
			for (size_t j = 0; j < 2; j++)
				if (g[j] >= 0)
					put_i(r, g[j]);
				else
					put_s(r, "");
			put_i(r, (long long)iv->late_sends);
			const int64_t cn[] = {iv->conn_active, iv->conn_opened, iv->conn_failed};
			for (size_t j = 0; j < 3; j++)
				if (cn[j] >= 0)
					put_i(r, cn[j]);
				else
					put_s(r, "");
			for (int j = 0; j < DS_STORE_NRCODE; j++)
				put_i(r, (long long)iv->rcode[j]);
			put_i(r, (long long)iv->rcode_other);
			ds_hist_t h1;
			ds_hist_init(&h1);
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, x->run.run_id);
			sqlite3_bind_int64(st, 2, iv->t_ns);
			if (sqlite3_step(st) == SQLITE_ROW)
				ds_hist_decode(&h1, sqlite3_column_blob(st, 0),
				               (size_t)sqlite3_column_bytes(st, 0));
			if (h1.count) {
				put_i(r, ds_hist_quantile(&h1, 0.5));
				put_i(r, ds_hist_quantile(&h1, 0.99));
			} else {
				put_s(r, "");
				put_s(r, "");
			}
			ds_hist_free(&h1);
			row_end(r);
		}
	}
	sqlite3_finalize(st);
	return r->rc == DS_OK ? DS_OK : ds_errf(err, DS_EIO, "write error");
}

static int export_samples(row_t *r, ds_store_t *db, const ds_trial_t *t, size_t n, ds_err_t *err)
{
	static const char *c[] = {"run_id", "label", "source", "name",
	                          "labels", "mtype", "t_ns",   "value"};
	for (size_t i = 0; i < DS_ARRAY_SIZE(c); i++)
		put_s(r, c[i]);
	row_end(r);
	for (size_t k = 0; k < n && r->rc == DS_OK; k++) {
		ds_store_series_t *ss = NULL;
		size_t ns = 0;
		int rc = ds_store_series_load(db, t[k].run.run_id, NULL, INT64_MIN, INT64_MAX, &ss,
		                              &ns, err);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < ns; i++)
			for (size_t j = 0; j < ss[i].n; j++) {
				put_i(r, t[k].run.run_id);
				put_s(r, t[k].run.label ? t[k].run.label : "");
				put_s(r, ss[i].source);
				put_s(r, ss[i].name);
				put_s(r, ss[i].labels);
				put_s(r, ss[i].mtype ? ss[i].mtype : "");
				put_i(r, ss[i].t_ns[j]);
				put_d(r, ss[i].value[j]);
				row_end(r);
			}
		ds_store_series_free(ss, ns);
	}
	return r->rc == DS_OK ? DS_OK : ds_errf(err, DS_EIO, "write error");
}

int ds_export_csv(FILE *f, ds_store_t *db, ds_export_table_t table, const ds_trial_t *t, size_t n,
                  ds_err_t *err)
{
	row_t r = {.f = f};
	switch (table) {
	case DS_EXPORT_RUNS:
		run_cols(&r);
		put_s(&r, "summary_only");
		put_s(&r, "lag");
		window_cols(&r);
		row_end(&r);
		for (size_t i = 0; i < n; i++) {
			run_vals(&r, &t[i]);
			put_i(&r, t[i].summary_only);
			put_s(&r, t[i].lag);
			window_vals(&r, &t[i].total);
			row_end(&r);
		}
		break;
	case DS_EXPORT_PHASES:
		put_s(&r, "run_id");
		put_s(&r, "label");
		put_s(&r, "seq");
		put_s(&r, "phase");
		put_s(&r, "measured");
		put_s(&r, "start_ns");
		put_s(&r, "end_ns");
		put_s(&r, "target_qps");
		put_s(&r, "target_qps_end");
		window_cols(&r);
		row_end(&r);
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < t[i].nphases; k++) {
				const ds_trial_window_t *w = &t[i].phases[k];
				put_i(&r, t[i].run.run_id);
				put_s(&r, t[i].run.label ? t[i].run.label : "");
				put_i(&r, w->seq);
				put_s(&r, w->name);
				put_i(&r, w->measured);
				put_i(&r, w->t0);
				if (w->t1 != INT64_MAX)
					put_i(&r, w->t1);
				else
					put_s(&r, "");
				put_d(&r, w->target_qps);
				put_d(&r, w->target_qps_end);
				window_vals(&r, w);
				row_end(&r);
			}
		break;
	case DS_EXPORT_INTERVALS:
		return export_intervals(&r, db, t, n, err);
	case DS_EXPORT_SAMPLES:
		return export_samples(&r, db, t, n, err);
	}
	if (r.rc != DS_OK || fflush(f) != 0)
		return ds_errf(err, DS_EIO, "write error");
	return DS_OK;
}

int ds_report_export_main(int argc, char **argv)
{
	enum { O_DB = 256, O_RUN, O_LABEL, O_SCEN, O_TABLE, O_OUT, O_CSV };
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"run", required_argument, NULL, O_RUN},
	    {"label", required_argument, NULL, O_LABEL},
	    {"scenario", required_argument, NULL, O_SCEN},
	    {"table", required_argument, NULL, O_TABLE},
	    {"output", required_argument, NULL, O_OUT},
	    {"csv", no_argument, NULL, O_CSV},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *label = NULL, *scen = NULL, *out = NULL;
	int table = DS_EXPORT_RUNS, c, rc = 2;
	int64_t *runs = NULL;
	size_t nruns = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db_path = optarg;
			break;
		case O_LABEL:
			label = optarg;
			break;
		case O_SCEN:
			scen = optarg;
			break;
		case O_CSV:
			break; /* the only format */
		case O_OUT:
		case 'o':
			out = optarg;
			break;
		case O_TABLE:
			table = ds_export_table_by_name(optarg);
			if (table < 0) {
				free(runs);
				return ds_cli_bad("export",
				                  "--table: runs, phases, intervals or samples");
			}
			break;
		case O_RUN: {
			long long v;
			int64_t *nr = realloc(runs, (nruns + 1) * sizeof(*nr));
			if (!nr || ds_parse_int(optarg, 1, INT64_MAX, &v) < 0) {
				free(nr ? nr : runs);
				return ds_cli_bad("export", "--run: '%s' is not a run id", optarg);
			}
			runs = nr;
			runs[nruns++] = v;
			break;
		}
		case 'h':
			printf(
			    "usage: dnsurge report export --csv [--db FILE] [--table "
			    "runs|phases|intervals|samples]\n"
			    "         [--run ID ... | --label LABEL] [--scenario NAME] [-o "
			    "FILE]\n\n"
			    "Write stored results as CSV (RFC 4180, CRLF line ends, fields quoted "
			    "when needed):\nruns (default: one row per run, the measured phases' "
			    "metrics), phases,\nintervals (per-second counters, RCODEs, p50/p99) "
			    "or "
			    "samples (scraped metrics).\nLatencies are in ns, rates in percent.\n");
			free(runs);
			return 0;
		default:
			free(runs);
			return 2;
		}
	}
	if (optind < argc) {
		free(runs);
		return ds_cli_bad("export", "unexpected argument '%s'", argv[optind]);
	}
	ds_err_t err;
	ds_trial_t *t = NULL;
	size_t nt = 0;
	FILE *f = stdout;
	ds_store_t *db = ds_store_open(db_path, DS_STORE_RDONLY, &err);
	if (!db)
		goto fail;
	if (nruns) {
		t = calloc(nruns, sizeof(*t));
		if (!t) {
			ds_errf(&err, DS_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < nruns; i++) {
			nt++;
			if (ds_trial_load(db, runs[i], NULL, &t[i], &err) < 0)
				goto fail;
		}
	} else if (ds_trial_load_label(db, label, scen, 0, NULL, &t, &nt, &err) < 0) {
		goto fail;
	}
	if (out && !(f = fopen(out, "w"))) {
		ds_errf(&err, -errno, "%s: %s", out, strerror(errno));
		f = stdout;
		goto fail;
	}
	if (ds_export_csv(f, db, (ds_export_table_t)table, t, nt, &err) < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "dnsurge report export: %s\n", err.msg);
	rc = 2;
done:
	if (f != stdout && fclose(f) != 0 && rc == 0) {
		fprintf(stderr, "dnsurge report export: %s: write error\n", out);
		rc = 2;
	}
	ds_trials_free(t, nt);
	ds_store_close(db);
	free(runs);
	return rc;
}
