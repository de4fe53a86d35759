/* SPDX-License-Identifier: MIT */
/*
 * dnsurge report promql / alerts: PromQL expressions and Prometheus rule
 * files evaluated over a stored run's scraped metrics, and the promtool
 * test file that lets Prometheus itself check our numbers.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/store.h"
#include "lib/util.h"
#include "reports/cli.h"
#include "reports/fmt.h"
#include "reports/promql.h"
#include "reports/report.h"
#include "reports/rules.h"
#include "reports/trial.h"

/* The window to judge over: a named phase, else the measured phases, else
 * the whole run. */
static int run_window(ds_store_t *db, int64_t run_id, const char *phase, int64_t *t0, int64_t *t1,
                      char *what, size_t wlen, ds_err_t *err)
{
	ds_trial_t t;
	int rc = ds_trial_load(db, run_id, NULL, &t, err);
	if (rc < 0)
		goto out;
	int64_t end = t.run.ended_ns ? t.run.ended_ns : ds_wall_ns();
	if (phase) {
		rc =
		    ds_errf(err, DS_ENOENT, "run %lld has no phase '%s'", (long long)run_id, phase);
		for (size_t i = 0; i < t.nphases; i++) {
			char seq[16];
			snprintf(seq, sizeof(seq), "%d", t.phases[i].seq);
			if (strcmp(t.phases[i].name, phase) && strcmp(seq, phase))
				continue;
			*t0 = t.phases[i].t0;
			*t1 = t.phases[i].t1 == INT64_MAX ? end : t.phases[i].t1;
			snprintf(what, wlen, "phase '%s'", t.phases[i].name);
			rc = DS_OK;
			break;
		}
		goto out;
	}
	bool any = false;
	*t0 = INT64_MAX;
	*t1 = INT64_MIN;
	for (size_t i = 0; i < t.nphases; i++) {
		if (!t.phases[i].measured)
			continue;
		any = true;
		*t0 = DS_MIN(*t0, t.phases[i].t0);
		*t1 = DS_MAX(*t1, t.phases[i].t1 == INT64_MAX ? end : t.phases[i].t1);
	}
	if (any) {
		snprintf(what, wlen, "the measured phases");
	} else {
		*t0 = t.run.started_ns;
		*t1 = end;
		snprintf(what, wlen, "the whole run");
	}
out:
	ds_trial_free(&t);
	return rc;
}

static void print_result(const ds_promql_result_t *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const ds_promql_elem_t *e = &r->e[i];
		if (r->comparison)
			printf("  %s  %.6g %s %.6g  %s\n", e->series[0] ? e->series : "{}",
			       e->value, r->op, e->threshold, e->held ? "held" : "did not hold");
		else
			printf("  %s  %.6g\n", e->series[0] ? e->series : "(scalar)", e->value);
	}
	if (!r->n)
		printf("  (empty result: no series matched, or no samples in the window)\n");
	if (r->note[0])
		printf("  note: %s\n", r->note);
}

/* Shortest decimal text that reads back as v. */
static const char *num_text(double v, char *b, size_t len)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(b, len, "%.*g", p, v);
		if (strtod(b, NULL) == v)
			break;
	}
	return b;
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void yaml_sq(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* ranges replaced by the window: window mode as a plain instant query */
static void set_ranges(ds_pq_node_t *n, int64_t w)
{
	if (n->kind == DS_PQ_SEL && n->range_ns)
		n->range_ns = w;
	for (size_t i = 0; i < n->narg; i++)
		set_ranges(n->arg[i], w);
}

/*
 * A promtool unit test holding the run's series (on a regular grid from
 * the first sample: promtool's input_series need one) and our result as
 * the expected samples: `promtool test rules FILE` then checks our
 * evaluator against Prometheus'.
 */
static int write_promtool_test(const char *path, const ds_promql_data_t *d, const char *expr,
                               int64_t t_eval, const ds_promql_result_t *r, ds_err_t *err)
{
	size_t ns = ds_promql_data_count(d);
	int64_t base = INT64_MAX, g = 0;
	for (size_t i = 0; i < ns; i++) {
		const char *txt;
		size_t n;
		const int64_t *t;
		const double *v;
		ds_promql_data_series(d, i, &txt, &n, &t, &v);
		if (n)
			base = DS_MIN(base, t[0]);
	}
	if (base == INT64_MAX)
		return ds_errf(err, DS_EINVAL, "the run has no scraped samples");
	for (size_t i = 0; i < ns; i++) {
		const char *txt;
		size_t n;
		const int64_t *t;
		const double *v;
		ds_promql_data_series(d, i, &txt, &n, &t, &v);
		for (size_t k = 0; k < n; k++) {
			if ((t[k] - base) % DS_NS_PER_MS)
				return ds_errf(
				    err, DS_EINVAL,
				    "sample times are not whole milliseconds apart: promtool "
				    "cannot represent them");
			g = gcd64(g, (t[k] - base) / DS_NS_PER_MS);
		}
	}
	if (!g)
		g = 1000;
	if ((t_eval - base) % DS_NS_PER_MS || t_eval < base)
		return ds_errf(err, DS_EINVAL, "the evaluation time is before the first sample");
	FILE *f = fopen(path, "w");
	if (!f)
		return ds_errf(err, -errno, "%s: %s", path, strerror(errno));
	char b[40];
	fprintf(f,
	        "# Written by dnsurge report promql: the run's scraped series and dnsurge's\n"
	        "# result as the expected samples. Check with: promtool test rules %s\n",
	        path);
	/* promtool loads samples up to each evaluation step only: the step
	 * must land on the evaluation time or later samples stay invisible. */
	int64_t ev = gcd64(g, (t_eval - base) / DS_NS_PER_MS);
	fprintf(f, "rule_files: []\nevaluation_interval: %lldms\ntests:\n",
	        (long long)(ev ? ev : g));
	fprintf(f, "  - interval: %lldms\n    input_series:\n", (long long)g);
	for (size_t i = 0; i < ns; i++) {
		const char *txt;
		size_t n;
		const int64_t *t;
		const double *v;
		ds_promql_data_series(d, i, &txt, &n, &t, &v);
		if (!n)
			continue;
		fprintf(f, "      - series: ");
		yaml_sq(f, txt);
		fprintf(f, "\n        values: '");
		int64_t slot = 0;
		for (size_t k = 0; k < n; k++) {
			int64_t s = (t[k] - base) / DS_NS_PER_MS / g;
			for (; slot < s; slot++)
				fprintf(f, "_ ");
			fprintf(f, "%s%s", num_text(v[k], b, sizeof(b)), k + 1 < n ? " " : "");
			slot = s + 1;
		}
		fprintf(f, "'\n");
	}
	fprintf(f, "    promql_expr_test:\n      - expr: ");
	yaml_sq(f, expr);
	fprintf(f, "\n        eval_time: %lldms\n        exp_samples:\n",
	        (long long)((t_eval - base) / DS_NS_PER_MS));
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].held == 0 || isnan(r->e[i].value))
			continue;
		fprintf(f, "          - labels: ");
		yaml_sq(f, r->e[i].series);
		fprintf(f, "\n            value: %s\n", num_text(r->e[i].value, b, sizeof(b)));
		k++;
	}
	if (!k)
		fprintf(f, "          []\n");
	if (fclose(f) != 0)
		return ds_errf(err, DS_EIO, "%s: write error", path);
	return DS_OK;
}

static int parse_run(const char *cmd, const char *s, int64_t *id)
{
	long long v;
	if (ds_parse_int(s, 1, INT64_MAX, &v) < 0)
		return ds_cli_bad(cmd, "--run: '%s' is not a run id", s);
	*id = v;
	return DS_OK;
}

int ds_report_promql_main(int argc, char **argv)
{
	enum { O_DB = 256, O_RUN, O_PHASE, O_AT, O_PT, O_EXPR };
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"run", required_argument, NULL, O_RUN},
	    {"phase", required_argument, NULL, O_PHASE},
	    {"at", required_argument, NULL, O_AT},
	    {"promtool-test", required_argument, NULL, O_PT},
	    {"expr", required_argument, NULL, O_EXPR},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *phase = NULL, *pt = NULL, *expr = NULL;
	int64_t run = 0, at = -1;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db_path = optarg;
			break;
		case O_RUN:
			if (parse_run("promql", optarg, &run) < 0)
				return 2;
			break;
		case O_PHASE:
			phase = optarg;
			break;
		case O_AT:
			if (ds_cli_duration("promql", "at", optarg, &at) < 0)
				return 2;
			break;
		case O_PT:
			pt = optarg;
			break;
		case O_EXPR:
			expr = optarg;
			break;
		case 'h':
			printf(
			    "usage: dnsurge report promql --run ID [--db FILE] [--phase NAME|SEQ | "
			    "--at DUR]\n"
			    "         [--promtool-test FILE] EXPR\n\n"
			    "Evaluate a PromQL expression over the metrics run ID scraped. By "
			    "default over the\nmeasured phases as one window (--phase: that "
			    "phase): "
			    "every range [..] becomes\nthe window, evaluated at its end. --at DUR "
			    "(time since the run started)\nevaluates at that instant exactly as "
			    "Prometheus would, ranges as written.\n--promtool-test FILE writes a "
			    "`promtool test rules` file with the run's series\nand this result as "
			    "the expected samples.\n\nExit status: 0 evaluated (and a top-level "
			    "comparison held for every series),\n1 a comparison did not hold or "
			    "there was nothing to compare, 2 error.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!expr && optind < argc)
		expr = argv[optind++];
	if (optind < argc)
		return ds_cli_bad("promql", "unexpected argument '%s'", argv[optind]);
	if (!expr || !run)
		return ds_cli_bad("promql", "--run ID and an expression are required");

	ds_err_t err;
	ds_store_t *db = NULL;
	ds_promql_t *e = ds_promql_parse(expr, &err);
	ds_promql_data_t *d = NULL;
	ds_promql_result_t r = {0};
	char what[64], *text = NULL;
	if (!e) {
		fprintf(stderr, "dnsurge report promql: %s\n", err.msg);
		return 2;
	}
	db = ds_store_open(db_path, DS_STORE_RDONLY, &err);
	if (!db)
		goto fail;
	int64_t t0, t1;
	if (run_window(db, run, phase, &t0, &t1, what, sizeof(what), &err) < 0)
		goto fail;
	ds_promql_opts_t o = {0};
	if (at >= 0) {
		ds_store_run_t ri;
		if (ds_store_run_get(db, run, &ri, &err) < 0)
			goto fail;
		o.t_ns = ri.started_ns + at;
		ds_store_run_free(&ri);
		snprintf(what, sizeof(what), "the instant %s after the start",
		         ds_promql_fmt_duration(at, (char[32]){0}, 32));
	} else {
		o.t_ns = t1;
		o.window_ns = t1 - t0;
	}
	d = ds_promql_data_new();
	if (!d || ds_promql_data_load(d, db, run, INT64_MIN, INT64_MAX, &err) < 0)
		goto fail;
	if (ds_promql_eval(e, d, &o, &r, &err) < 0)
		goto fail;
	char dur[32];
	printf("run %lld, %s%s%s:\n", (long long)run, what, o.window_ns ? ", " : "",
	       o.window_ns ? ds_promql_fmt_duration(o.window_ns, dur, sizeof(dur)) : "");
	print_result(&r);
	if (pt) {
		ds_pq_node_t *root = ds_pq_node_dup(ds_promql_root(e));
		if (root && o.window_ns)
			set_ranges(root, o.window_ns);
		text = root ? ds_pq_node_format(root) : NULL;
		ds_pq_node_free(root);
		if (!text || write_promtool_test(pt, d, text, o.t_ns, &r, &err) < 0)
			goto fail;
	}
	rc = r.comparison && (!r.n || r.n_held < r.n) ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "dnsurge report promql: %s\n", err.msg);
	rc = 2;
out:
	free(text);
	ds_promql_result_free(&r);
	ds_promql_data_free(d);
	ds_promql_free(e);
	ds_store_close(db);
	return rc;
}

int ds_report_alerts_main(int argc, char **argv)
{
	enum { O_DB = 256, O_RUN, O_RULES, O_STEP, O_PHASE };
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"run", required_argument, NULL, O_RUN},
	    {"rules", required_argument, NULL, O_RULES},
	    {"step", required_argument, NULL, O_STEP},
	    {"phase", required_argument, NULL, O_PHASE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *rules_path = NULL, *phase = NULL;
	int64_t run = 0, step = 5 * DS_NS_PER_SEC;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db_path = optarg;
			break;
		case O_RUN:
			if (parse_run("alerts", optarg, &run) < 0)
				return 2;
			break;
		case O_RULES:
			rules_path = optarg;
			break;
		case O_PHASE:
			phase = optarg;
			break;
		case O_STEP:
			if (ds_cli_duration("alerts", "step", optarg, &step) < 0 || !step)
				return ds_cli_bad("alerts", "--step must be a positive duration");
			break;
		case 'h':
			printf(
			    "usage: dnsurge report alerts --run ID --rules FILE [--db FILE] "
			    "[--phase NAME|SEQ]\n         [--step DUR]\n\n"
			    "Evaluate every alerting rule of a Prometheus rule file over a run's "
			    "scraped metrics:\nonce over the measured phases as one window (ranges "
			    "become the window), and\nas Prometheus' rule manager would, every "
			    "--step (default 5s) over the whole\nrun with the rule's ranges and "
			    "`for:`, saying whether and when it would\nhave fired.\n\n"
			    "Exit status: 0 no alert would have fired, 1 some would, 2 error.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return ds_cli_bad("alerts", "unexpected argument '%s'", argv[optind]);
	if (!run || !rules_path)
		return ds_cli_bad("alerts", "--run ID and --rules FILE are required");

	ds_err_t err;
	ds_rules_t rs = {0};
	ds_store_t *db = NULL;
	ds_promql_data_t *d = NULL;
	ds_store_run_t ri = {0};
	int rc = 2, fired = 0;
	char what[64], a[32], b[32];
	if (ds_rules_load(rules_path, &rs, &err) < 0)
		goto fail;
	db = ds_store_open(db_path, DS_STORE_RDONLY, &err);
	if (!db)
		goto fail;
	int64_t t0, t1;
	if (run_window(db, run, phase, &t0, &t1, what, sizeof(what), &err) < 0 ||
	    ds_store_run_get(db, run, &ri, &err) < 0)
		goto fail;
	d = ds_promql_data_new();
	if (!d || ds_promql_data_load(d, db, run, INT64_MIN, INT64_MAX, &err) < 0)
		goto fail;
	int64_t end = ri.ended_ns ? ri.ended_ns : ds_wall_ns();
	printf("run %lld '%s': %s (%s) as one window; every %s over the whole run (%s)\n",
	       (long long)run, ri.label ? ri.label : "", what,
	       ds_promql_fmt_duration(t1 - t0, a, sizeof(a)),
	       ds_promql_fmt_duration(step, b, sizeof(b)),
	       ds_rfmt_dur(end - ri.started_ns, (char[32]){0}, 32));
	for (size_t i = 0; i < rs.n; i++) {
		const ds_rule_t *x = &rs.r[i];
		if (!x->alert)
			continue;
		printf("\n%s:%d: %s%s%s\n  %s\n", rs.path, x->line, x->alert,
		       x->for_ns ? " for " : "",
		       x->for_ns ? ds_promql_fmt_duration(x->for_ns, a, sizeof(a)) : "", x->expr);
		ds_promql_t *e = ds_promql_parse(x->expr, &err);
		if (!e) {
			printf("  cannot evaluate: %s\n", err.msg);
			continue;
		}
		ds_promql_result_t r;
		ds_promql_opts_t o = {.t_ns = t1, .window_ns = t1 - t0};
		if (ds_promql_eval(e, d, &o, &r, &err) < 0) {
			printf("  cannot evaluate: %s\n", err.msg);
		} else {
			printf("  over the window: %s\n",
			       !r.n       ? "empty result (no matching series: never fires)"
			       : r.firing ? "condition holds"
			                  : "condition does not hold");
			print_result(&r);
		}
		ds_promql_result_free(&r);
		ds_promql_for_t fo;
		if (ds_promql_eval_for(e, d, ri.started_ns, end, step, x->for_ns, &fo, &err) < 0) {
			printf("  stepwise: %s\n", err.msg);
		} else if (fo.fired) {
			fired++;
			printf(
			    "  stepwise: FIRES at +%s (active in %zu of %zu steps, longest %s)\n",
			    ds_rfmt_dur(fo.fired_at_ns - ri.started_ns, a, sizeof(a)),
			    fo.active_steps, fo.steps, ds_rfmt_dur(fo.longest_ns, b, sizeof(b)));
		} else {
			printf(
			    "  stepwise: does not fire (active in %zu of %zu steps, longest %s)\n",
			    fo.active_steps, fo.steps, ds_rfmt_dur(fo.longest_ns, b, sizeof(b)));
		}
		ds_promql_free(e);
	}
	printf("\n%d alert%s would have fired\n", fired, fired == 1 ? "" : "s");
	rc = fired ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "dnsurge report alerts: %s\n", err.msg);
	rc = 2;
out:
	ds_store_run_free(&ri);
	ds_promql_data_free(d);
	ds_store_close(db);
	ds_rules_free(&rs);
	return rc;
}
