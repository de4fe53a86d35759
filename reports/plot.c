/* SPDX-License-Identifier: MIT */
#include "reports/plot.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "reports/cli.h"
#include "reports/fmt.h"
#include "reports/promql.h"
#include "reports/report.h"
#include "reports/stats.h"

static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"};

char *ds_plot_find_gnuplot(ds_err_t *err)
{
	const char *env = getenv("DNSURGE_GNUPLOT");
	if (env && env[0]) {
		if (access(env, X_OK) == 0)
			return strdup(env);
		ds_errf(err, DS_ENOENT, "DNSURGE_GNUPLOT=%s is not an executable program", env);
		return NULL;
	}
	const char *path = getenv("PATH");
	char *dup = strdup(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	if (!dup)
		return NULL;
	for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = NULL;
		if (asprintf(&p, "%s/gnuplot", d) < 0)
			break;
		if (access(p, X_OK) == 0) {
			free(dup);
			return p;
		}
		free(p);
	}
	free(dup);
	ds_errf(err, DS_ENOENT,
	        "gnuplot is not installed, and the charts are drawn by it: install it "
	        "(Debian/Ubuntu: apt-get install gnuplot-nox) or point DNSURGE_GNUPLOT at it");
	return NULL;
}

/* A string for a gnuplot double-quoted literal (noenhanced text). */
static void gq(FILE *s, const char *t)
{
	fputc('"', s);
	for (; *t; t++) {
		if (*t == '\n') {
			fputs("\\n", s); /* a line break in a title */
			continue;
		}
		if (*t == '"' || *t == '\\')
			fputc('\\', s);
		fputc(*t, s);
	}
	fputc('"', s);
}

/* A file name for a gnuplot single-quoted literal. */
static void gsq(FILE *s, const char *t)
{
	fputc('\'', s);
	for (; *t; t++) {
		if (*t == '\'')
			fputc('\'', s);
		fputc(*t, s);
	}
	fputc('\'', s);
}

static double median_of(double *x, size_t n)
{
	return ds_stats_median(x, n);
}

/* The trial drawn for a group over time: valid, with the median p99. */
static const ds_trial_t *representative(const ds_plot_group_t *g)
{
	const ds_trial_t *best = NULL;
	double *p = malloc((g->n + 1) * sizeof(*p));
	size_t k = 0;
	if (!p)
		return g->n ? &g->t[0] : NULL;
	for (size_t i = 0; i < g->n; i++)
		if (g->t[i].valid && !isnan(g->t[i].total.m[DS_TM_P99]))
			p[k++] = g->t[i].total.m[DS_TM_P99];
	if (k) {
		double med = median_of(p, k), bd = INFINITY;
		for (size_t i = 0; i < g->n; i++) {
			double v = g->t[i].total.m[DS_TM_P99];
			if (g->t[i].valid && !isnan(v) && fabs(v - med) < bd)
				bd = fabs(v - med), best = &g->t[i];
		}
	}
	free(p);
	if (!best) {
		for (size_t i = 0; i < g->n && !best; i++)
			if (g->t[i].valid)
				best = &g->t[i];
		if (!best && g->n)
			best = &g->t[0];
	}
	return best;
}

static void tag_clean(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			*s = '_';
}

/* A chart to draw: its data blocks are in the script already; body holds
 * everything after `reset`, drawn once per format. */
typedef struct chart {
	char base[512]; /* output path without extension */
	char *body;
	size_t blen;
	int w, h;
} chart_t;

typedef struct {
	FILE *data; /* datablocks */
	char *dbuf;
	size_t dlen;
	chart_t *c;
	size_t nc;
	int nblock;
	const ds_plot_opts_t *o;
} plan_t;

static FILE *chart_begin(plan_t *p, const char *kind, const char *tag, int w, int h)
{
	chart_t *nc = realloc(p->c, (p->nc + 1) * sizeof(*nc));
	if (!nc)
		return NULL;
	p->c = nc;
	chart_t *c = &p->c[p->nc];
	memset(c, 0, sizeof(*c));
	snprintf(c->base, sizeof(c->base), "%s/%s-%s%s%s", p->o->out_dir ? p->o->out_dir : ".",
	         p->o->prefix ? p->o->prefix : "dnsurge", kind, tag ? "-" : "", tag ? tag : "");
	c->w = w;
	c->h = h;
	FILE *f = open_memstream(&c->body, &c->blen);
	if (f)
		p->nc++;
	return f;
}

static void style(FILE *s)
{
	fprintf(s, "set termoption noenhanced\n"
	           "set border 3 lw 1 lc rgb '#555555'\n"
	           "set tics nomirror out tc rgb '#333333'\n"
	           "set grid xtics ytics lw 0.6 lc rgb '#e0e0e0'\n"
	           "set key opaque box lc rgb '#cccccc' samplen 2.5 spacing 1.15\n");
}

static void title(FILE *s, const ds_plot_opts_t *o, const char *what, const char *sub)
{
	char t[512];
	snprintf(t, sizeof(t), "%s%s%s%s%s", o->title ? o->title : "", o->title ? ": " : "", what,
	         sub ? "\n" : "", sub ? sub : "");
	fprintf(s, "set title ");
	gq(s, t);
	fprintf(s, " font ',12'\n");
}

/* Phases as shaded (measured) spans and labelled boundaries. */
static void phase_marks(FILE *s, const ds_trial_t *t, double xmax)
{
	for (size_t i = 0; i < t->nphases; i++) {
		const ds_trial_window_t *w = &t->phases[i];
		double x0 = (double)(w->t0 - t->run.started_ns) / 1e9;
		double x1 = w->t1 == INT64_MAX ? xmax : (double)(w->t1 - t->run.started_ns) / 1e9;
		if (w->measured)
			fprintf(s,
			        "set object rect from %g, graph 0 to %g, graph 1 behind fc rgb "
			        "'#eef3f8' fs solid 1.0 noborder\n",
			        x0, x1);
		if (x0 > 0.001)
			fprintf(s,
			        "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lw 1 lc rgb "
			        "'#888888'\n",
			        x0, x0);
		fprintf(s, "set label ");
		char l[80];
		snprintf(l, sizeof(l), "%s%s", w->name, w->measured ? " (measured)" : "");
		gq(s, l);
		fprintf(s,
		        " at %g, graph 0.96 left offset 0.5,0 tc rgb '#555555' font ',9' front\n",
		        x0);
	}
}

static const char *group_desc(const ds_plot_group_t *g, char *buf, size_t len)
{
	double *q = malloc((g->n + 1) * sizeof(*q));
	size_t k = 0, nv = 0;
	for (size_t i = 0; q && i < g->n; i++)
		if (g->t[i].valid) {
			nv++;
			if (!isnan(g->t[i].total.m[DS_TM_QPS]))
				q[k++] = g->t[i].total.m[DS_TM_QPS];
		}
	char qs[24];
	ds_rfmt_si(k ? median_of(q, k) : NAN, qs, sizeof(qs));
	snprintf(buf, len, "%s, %zu trial%s, %s QPS", g->name, nv, nv == 1 ? "" : "s", qs);
	free(q);
	return buf;
}

/* ------------------------------------------------------------------ lph */

static int plan_lph(plan_t *p, const ds_plot_group_t *g, size_t ng)
{
	enum { NX = 201 };
	double x[NX];
	for (int k = 0; k < NX; k++)
		x[k] = pow(10, -2 + 4.0 * k / (NX - 1));
	int first_block = p->nblock;
	bool any = false;
	double timeout_ms = NAN;
	for (size_t gi = 0; gi < ng; gi++) {
		fprintf(p->data, "$lph%d << EOD\n", p->nblock++);
		double *y = malloc((g[gi].n + 1) * sizeof(*y));
		if (!y)
			return DS_ENOMEM;
		for (int k = 0; k < NX; k++) {
			size_t m = 0;
			for (size_t i = 0; i < g[gi].n; i++) {
				const ds_trial_t *t = &g[gi].t[i];
				double n = (double)t->total.rt.count;
				if (!t->valid || !n || x[k] / 100 * n < 10)
					continue; /* fewer than 10 answers beyond: noise */
				y[m++] =
				    (double)ds_hist_quantile(&t->total.rt, 1 - x[k] / 100) / 1e6;
				if (t->run.timeout_in_hist && t->total.timeouts)
					timeout_ms = (double)t->run.timeout_ns / 1e6;
			}
			if (!m)
				continue;
			double lo = y[0], hi = y[0];
			for (size_t i = 1; i < m; i++)
				lo = fmin(lo, y[i]), hi = fmax(hi, y[i]);
			fprintf(p->data, "%.6g %.6g %.6g %.6g\n", x[k], lo, median_of(y, m), hi);
			any = true;
		}
		free(y);
		fprintf(p->data, "EOD\n");
	}
	if (!any) {
		fprintf(stderr, "dnsurge report plot: no latency histograms in the selected runs: "
		                "no percentile chart\n");
		return DS_OK;
	}
	FILE *s = chart_begin(p, "lph", NULL, p->o->width ? p->o->width : 1000,
	                      p->o->height ? p->o->height : 620);
	if (!s)
		return DS_ENOMEM;
	style(s);
	title(s, p->o, "Response time by slowest percentile",
	      "median over trials (line) and min-max across trials (band); measured phases");
	fprintf(s, "set logscale xy 10\n"
	           "set xrange [0.01:100]\n"
	           "set format x '%%g'\nset format y '%%g'\n"
	           "set xtics ('0.01' 0.01, '0.1' 0.1, '1' 1, '5' 5, '10' 10, '20' 20, '50' 50, "
	           "'100' 100)\n"
	           "set mxtics 10\nset mytics 10\n"
	           "set grid mxtics mytics lw 0.4 lc rgb '#f0f0f0'\n"
	           "set xlabel 'Slowest percentile [%%]'\n"
	           "set ylabel 'Response time [ms]'\n"
	           "set autoscale yfix\nset offsets 0, 0, graph 0.06, graph 0.04\n"
	           "set key top right Left reverse\n");
	if (!isnan(timeout_ms))
		fprintf(s,
		        "set arrow from graph 0, first %g to graph 1, first %g nohead dt 2 lc rgb "
		        "'#999999'\nset label 'timeout' at graph 0.01, first %g offset 0,0.7 tc "
		        "rgb '#777777'\n",
		        timeout_ms, timeout_ms, timeout_ms);
	fprintf(s, "plot ");
	for (size_t gi = 0; gi < ng; gi++) {
		char d[256];
		const char *col = colors[gi % DS_ARRAY_SIZE(colors)];
		int b = first_block + (int)gi;
		fprintf(s,
		        "%s$lph%d u 1:2:4 w filledcurves fs transparent solid 0.18 noborder "
		        "lc rgb '%s' notitle, ",
		        gi ? ", " : "", b, col);
		fprintf(s, "$lph%d u 1:3 w lines lw 2.2 lc rgb '%s' dt %d title ", b, col,
		        gi == 1 ? 1 : 1);
		gq(s, group_desc(&g[gi], d, sizeof(d)));
	}
	fprintf(s, "\n");
	return fclose(s) ? DS_ENOMEM : DS_OK;
}

/* ------------------------------------------------------- time charts */

/* Per-interval p50/p99 (ms) of a run, NAN where no answers. */
static int interval_quantiles(ds_store_t *db, const ds_trial_t *t, double *p50, double *p99,
                              ds_err_t *err)
{
	for (size_t i = 0; i < t->niv; i++)
		p50[i] = p99[i] = NAN;
	sqlite3 *h = ds_store_handle(db);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h,
	                       "SELECT t_ns, counts FROM hist WHERE run_id = ?1 AND metric ="
	                       " 'response_time' AND labels = '' ORDER BY t_ns",
	                       -1, &st, NULL) != SQLITE_OK)
		return ds_errf(err, DS_EIO, "%s: %s", ds_store_path(db), sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, t->run.run_id);
	size_t k = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t ts = sqlite3_column_int64(st, 0);
		while (k < t->niv && t->iv[k].t_ns < ts)
			k++;
		if (k == t->niv || t->iv[k].t_ns != ts)
			continue;
		ds_hist_t hh;
		ds_hist_init(&hh);
		if (ds_hist_decode(&hh, sqlite3_column_blob(st, 1),
		                   (size_t)sqlite3_column_bytes(st, 1)) == DS_OK &&
		    hh.count) {
			p50[k] = (double)ds_hist_quantile(&hh, 0.5) / 1e6;
			p99[k] = (double)ds_hist_quantile(&hh, 0.99) / 1e6;
		}
		ds_hist_free(&hh);
	}
	sqlite3_finalize(st);
	return DS_OK;
}

static double run_span(const ds_trial_t *t)
{
	double x = 0;
	for (size_t i = 0; i < t->niv; i++)
		x = fmax(x, (double)(t->iv[i].t_ns + t->iv[i].dur_ns - t->run.started_ns) / 1e9);
	return x;
}

static void run_subtitle(const ds_trial_t *t, const ds_plot_group_t *g, char *buf, size_t len)
{
	char ts[32];
	snprintf(buf, len, "run %lld '%s'%s, %s%s", (long long)t->run.run_id,
	         t->run.label ? t->run.label : "",
	         g->n > 1 ? " (the trial with the median p99)" : "",
	         ds_rfmt_time(t->run.started_ns, ts, sizeof(ts)),
	         t->summary_only ? ", summary statistics only" : "");
}

static int plan_qps(plan_t *p, ds_store_t *db, const ds_plot_group_t *g, ds_err_t *err)
{
	const ds_trial_t *t = representative(g);
	if (!t || !t->niv)
		return DS_OK;
	double *p50 = malloc(t->niv * sizeof(double)), *p99 = malloc(t->niv * sizeof(double));
	int rc = DS_ENOMEM;
	bool fails = false, target = false, lat = false;
	double ymax = 0, lmin = INFINITY, lmax = 0;
	if (!p50 || !p99)
		goto out;
	if ((rc = interval_quantiles(db, t, p50, p99, err)) < 0)
		goto out;
	int b = p->nblock++;
	fprintf(p->data, "$qps%d << EOD\n", b);
	for (size_t i = 0; i < t->niv; i++) {
		const ds_store_interval_t *iv = &t->iv[i];
		double d = (double)iv->dur_ns / 1e9;
		double x = (double)(iv->t_ns - t->run.started_ns) / 1e9 + d / 2;
		uint64_t good = iv->rcode[0] + iv->rcode[3];
		double fail = iv->answered > good ? (double)(iv->answered - good) / d : 0;
		fails |= fail > 0;
		target |= !isnan(iv->target_qps);
		lat |= !isnan(p50[i]);
		fprintf(p->data, "%.4f %.6g %.6g %.6g %.6g ", x,
		        isnan(iv->target_qps) ? NAN : iv->target_qps, (double)iv->sent / d,
		        (double)iv->answered / d, fail);
		fprintf(p->data, isnan(p50[i]) ? "NaN NaN\n" : "%.6g %.6g\n", p50[i], p99[i]);
		ymax = fmax(ymax,
		            fmax((double)iv->sent / d, isnan(iv->target_qps) ? 0 : iv->target_qps));
		if (!isnan(p50[i]))
			lmin = fmin(lmin, p50[i]), lmax = fmax(lmax, p99[i]);
	}
	fprintf(p->data, "EOD\n");
	char tag[96], sub[256];
	snprintf(tag, sizeof(tag), "%s", g->tag);
	tag_clean(tag);
	int w = p->o->width ? p->o->width : 1000;
	int h = p->o->height ? p->o->height * 7 / 5 : 840;
	FILE *s = chart_begin(p, "qps", tag, w, h);
	rc = DS_ENOMEM;
	if (!s)
		goto out;
	double xmax = run_span(t);
	run_subtitle(t, g, sub, sizeof(sub));
	char tt[512];
	snprintf(tt, sizeof(tt), "%s%sThroughput and latency over time\n%s",
	         p->o->title ? p->o->title : "", p->o->title ? ": " : "", sub);
	style(s);
	fprintf(s, "set multiplot layout 2,1 margins 0.09,0.97,0.08,0.90 spacing 0,0.09 title ");
	gq(s, tt);
	fprintf(s, " font ',12'\n");
	/* headroom above the data for the legend and the phase names */
	fprintf(s,
	        "set xrange [0:%g]\nset yrange [0:%g]\nset format y '%s'\n"
	        "set ylabel 'Queries per second'\n"
	        "set key at graph 0.5, graph 0.92 center top horizontal Left reverse noopaque "
	        "nobox\n",
	        xmax, ymax > 0 ? ymax * 1.3 : 1, ymax >= 1e5 ? "%.1s%c" : "%g");
	phase_marks(s, t, xmax);
	fprintf(s, "plot ");
	if (target)
		fprintf(s, "$qps%d u 1:2 w lines lw 1.5 dt 2 lc rgb '#555555' title 'target', ", b);
	fprintf(s,
	        "$qps%d u 1:3 w lines lw 2 lc rgb '#1f77b4' title 'sent', "
	        "$qps%d u 1:4 w lines lw 2 lc rgb '#2ca02c' title 'answered'",
	        b, b);
	if (fails)
		fprintf(s,
		        ", $qps%d u 1:5 w lines lw 2 lc rgb '#d62728' title 'failed (not "
		        "NOERROR/NXDOMAIN)'",
		        b);
	fprintf(s, "\n");
	fprintf(s, "unset title\nunset label\nunset arrow\nunset object\n");
	phase_marks(s, t, xmax);
	fprintf(s, "set xlabel 'Time since the run started [s]'\nset ylabel 'Response time "
	           "[ms]'\nset format y '%%g'\n");
	if (lat)
		fprintf(s,
		        "set logscale y 10\nset mytics 10\nset yrange [%g:%g]\n"
		        "plot $qps%d u 1:6 w lines lw 2 lc rgb '#1f77b4' title 'p50', "
		        "$qps%d u 1:7 w lines lw 2 lc rgb '#d62728' title 'p99'\n",
		        lmin / 1.6, lmax * 6, b, b);
	else
		fprintf(s, "set yrange [0:1]\nset label 'no latency histograms in this run' at "
		           "graph 0.5, graph 0.5 center\nplot NaN notitle\n");
	fprintf(s, "unset multiplot\n");
	rc = fclose(s) ? DS_ENOMEM : DS_OK;
out:
	free(p50);
	free(p99);
	return rc;
}

static const char *rcode_color(int rc)
{
	switch (rc) {
	case 0:
		return "#2ca02c";
	case 1:
		return "#9467bd";
	case 2:
		return "#d62728";
	case 3:
		return "#1f77b4";
	case 5:
		return "#ff7f0e";
	default:
		return "#7f7f7f";
	}
}

static int plan_rate(plan_t *p, const ds_plot_group_t *g)
{
	const ds_trial_t *t = representative(g);
	if (!t || !t->niv)
		return DS_OK;
	/* RCODEs worth a line: at least 0.1 % of the run's answers. */
	int shown[DS_STORE_NRCODE + 1], ns = 0;
	for (int r = 0; r <= DS_STORE_NRCODE; r++) {
		uint64_t c = r < DS_STORE_NRCODE ? t->total.rcode[r] : t->total.rcode_other;
		if (t->total.answered && (double)c >= 0.001 * (double)t->total.answered)
			shown[ns++] = r;
	}
	int b = p->nblock++;
	fprintf(p->data, "$rate%d << EOD\n", b);
	for (size_t i = 0; i < t->niv; i++) {
		const ds_store_interval_t *iv = &t->iv[i];
		if (!iv->sent)
			continue;
		double x = (double)(iv->t_ns - t->run.started_ns + iv->dur_ns / 2) / 1e9;
		fprintf(p->data, "%.4f %.6g", x, 100.0 * (double)iv->answered / (double)iv->sent);
		for (int k = 0; k < ns; k++) {
			uint64_t c =
			    shown[k] < DS_STORE_NRCODE ? iv->rcode[shown[k]] : iv->rcode_other;
			fprintf(p->data, " %.6g", 100.0 * (double)c / (double)iv->sent);
		}
		fprintf(p->data, "\n");
	}
	fprintf(p->data, "EOD\n");
	char tag[96], sub[256];
	snprintf(tag, sizeof(tag), "%s", g->tag);
	tag_clean(tag);
	FILE *s = chart_begin(p, "rate", tag, p->o->width ? p->o->width : 1000,
	                      p->o->height ? p->o->height : 600);
	if (!s)
		return DS_ENOMEM;
	double xmax = run_span(t);
	run_subtitle(t, g, sub, sizeof(sub));
	style(s);
	title(s, p->o, "Response rate and RCODEs over time", sub);
	fprintf(s,
	        "set xrange [0:%g]\nset yrange [-1:113]\nset ytics 0, 10, 100\nset mytics 5\n"
	        "set grid mytics lw 0.4 lc rgb '#f0f0f0'\n"
	        "set xlabel 'Time since the run started [s]'\n"
	        "set ylabel 'Share of queries sent [%%]'\n"
	        "set key center right\n",
	        xmax);
	phase_marks(s, t, xmax);
	fprintf(s, "plot $rate%d u 1:2 w lines lw 2.5 lc rgb '#222222' title 'answered'", b);
	for (int k = 0; k < ns; k++) {
		char nm[24];
		ds_rfmt_rcode(shown[k] < DS_STORE_NRCODE ? shown[k] : -1, nm, sizeof(nm));
		fprintf(s, ", $rate%d u 1:%d w lines lw 1.8 lc rgb '%s' title ", b, 3 + k,
		        rcode_color(shown[k]));
		gq(s, nm);
	}
	fprintf(s, "\n");
	return fclose(s) ? DS_ENOMEM : DS_OK;
}

static int plan_cache(plan_t *p, ds_store_t *db, const ds_plot_group_t *g, size_t ng, ds_err_t *err)
{
	static const char *expr = "sum(rate(coredns_cache_hits_total[1m])) / "
	                          "sum(rate(coredns_cache_requests_total[1m]))";
	ds_promql_t *e = ds_promql_parse(expr, err);
	if (!e)
		return DS_EINVAL;
	int first = p->nblock, rc = DS_OK;
	const ds_trial_t **rep = calloc(ng + 1, sizeof(*rep));
	double *avg = calloc(ng + 1, sizeof(*avg));
	bool any = false;
	double xmax = 0;
	if (!rep || !avg) {
		rc = DS_ENOMEM;
		goto out;
	}
	for (size_t gi = 0; gi < ng; gi++) {
		const ds_trial_t *t = rep[gi] = representative(&g[gi]);
		avg[gi] = NAN;
		fprintf(p->data, "$cache%d << EOD\n", p->nblock++);
		ds_promql_data_t *d = t ? ds_promql_data_new() : NULL;
		if (t && (!d || ds_promql_data_load(d, db, t->run.run_id, INT64_MIN, INT64_MAX,
		                                    err) < 0)) {
			ds_promql_data_free(d);
			rc = DS_EIO;
			goto out;
		}
		/* The scrape times of the request counter: one ratio per scrape interval. */
		const int64_t *ts = NULL;
		size_t nts = 0;
		for (size_t i = 0; d && i < ds_promql_data_count(d); i++) {
			const char *txt;
			const double *v;
			size_t n;
			const int64_t *tt;
			ds_promql_data_series(d, i, &txt, &n, &tt, &v);
			if (!strncmp(txt, "coredns_cache_requests_total{", 29) && n > nts)
				ts = tt, nts = n;
		}
		for (size_t k = 1; k < nts; k++) {
			ds_promql_result_t r;
			ds_promql_opts_t o = {.t_ns = ts[k], .window_ns = ts[k] - ts[k - 1]};
			if (ds_promql_eval(e, d, &o, &r, err) == DS_OK && r.n == 1 &&
			    !isnan(r.e[0].value)) {
				double x = (double)(ts[k] - t->run.started_ns) / 1e9;
				fprintf(p->data, "%.4f %.6g\n", x, 100 * r.e[0].value);
				xmax = fmax(xmax, x);
				any = true;
			}
			ds_promql_result_free(&r);
		}
		if (t && t->total.t1 > t->total.t0) {
			ds_promql_result_t r;
			ds_promql_opts_t o = {.t_ns = t->total.t1,
			                      .window_ns = t->total.t1 - t->total.t0};
			if (ds_promql_eval(e, d, &o, &r, err) == DS_OK && r.n == 1)
				avg[gi] = 100 * r.e[0].value;
			ds_promql_result_free(&r);
		}
		ds_promql_data_free(d);
		fprintf(p->data, "EOD\n");
	}
	if (!any) {
		fprintf(stderr,
		        "dnsurge report plot: no coredns_cache_hits_total/"
		        "coredns_cache_requests_total scrapes in the selected runs: no cache "
		        "chart\n");
		goto out;
	}
	FILE *s = chart_begin(p, "cache", NULL, p->o->width ? p->o->width : 1000,
	                      p->o->height ? p->o->height : 600);
	if (!s) {
		rc = DS_ENOMEM;
		goto out;
	}
	style(s);
	char sub[256];
	snprintf(sub, sizeof(sub),
	         "coredns_cache_hits_total / coredns_cache_requests_total per "
	         "scrape interval%s",
	         ng > 1 ? "; median-p99 trials" : "");
	title(s, p->o, "Cache hit ratio over time", sub);
	fprintf(s,
	        "set xrange [0:%g]\nset yrange [0:112]\nset ytics 0, 10, 100\n"
	        "set xlabel 'Time since the run started [s]'\nset ylabel 'Cache hit ratio [%%]'\n"
	        "set key bottom right\n",
	        xmax);
	/* the phases of the first run; trials of one scenario share them */
	if (rep[0])
		phase_marks(s, rep[0], xmax);
	fprintf(s, "plot ");
	for (size_t gi = 0; gi < ng; gi++) {
		const char *col = colors[gi % DS_ARRAY_SIZE(colors)];
		char l[256];
		snprintf(l, sizeof(l), "%s, run %lld", g[gi].name,
		         rep[gi] ? (long long)rep[gi]->run.run_id : 0LL);
		fprintf(s, "%s$cache%d u 1:2 w linespoints pt 7 ps 0.6 lw 2 lc rgb '%s' title ",
		        gi ? ", " : "", first + (int)gi, col);
		gq(s, l);
		if (!isnan(avg[gi])) {
			snprintf(l, sizeof(l), "%.1f%% over the measured phases", avg[gi]);
			fprintf(s, ", %g w lines dt 2 lw 1.2 lc rgb '%s' title ", avg[gi], col);
			gq(s, l);
		}
	}
	fprintf(s, "\n");
	rc = fclose(s) ? DS_ENOMEM : DS_OK;
out:
	free(rep);
	free(avg);
	ds_promql_free(e);
	return rc;
}

/* ------------------------------------------------------------- running */

static int run_gnuplot(const char *gp, const char *script, size_t len, ds_err_t *err)
{
	int fd[2];
	if (pipe(fd) < 0)
		return ds_errf(err, DS_EIO, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return ds_errf(err, DS_EIO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execl(gp, "gnuplot", (char *)NULL);
		_exit(127);
	}
	close(fd[0]);
	/* gnuplot dying early must not kill us with SIGPIPE */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd[1], script + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd[1]);
	signal(SIGPIPE, old);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return ds_errf(err, DS_EIO, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return ds_errf(err, DS_EIO, "gnuplot (%s) failed with status %d", gp,
		               WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return DS_OK;
}

int ds_plot(ds_store_t *db, const ds_plot_group_t *g, size_t ng, const ds_plot_opts_t *o,
            ds_err_t *err)
{
	plan_t p = {.o = o};
	char *gp = NULL, *script = NULL;
	size_t slen = 0;
	int rc = DS_ENOMEM;
	gp = ds_plot_find_gnuplot(err);
	if (!gp)
		return DS_ENOENT;
	p.data = open_memstream(&p.dbuf, &p.dlen);
	if (!p.data)
		goto out;
	if (o->kinds & DS_PLOT_LPH && (rc = plan_lph(&p, g, ng)) < 0)
		goto out;
	for (size_t i = 0; i < ng; i++) {
		if (o->kinds & DS_PLOT_RATE && (rc = plan_rate(&p, &g[i])) < 0)
			goto out;
		if (o->kinds & DS_PLOT_QPS && (rc = plan_qps(&p, db, &g[i], err)) < 0)
			goto out;
	}
	if (o->kinds & DS_PLOT_CACHE && (rc = plan_cache(&p, db, g, ng, err)) < 0)
		goto out;
	if (fclose(p.data)) {
		p.data = NULL;
		rc = DS_ENOMEM;
		goto out;
	}
	p.data = NULL;
	if (!p.nc) {
		rc = ds_errf(err, DS_ENOENT, "nothing to draw in the selected runs");
		goto out;
	}
	FILE *s = open_memstream(&script, &slen);
	if (!s) {
		rc = DS_ENOMEM;
		goto out;
	}
	fprintf(s, "# dnsurge report plot: data blocks, then one chart per output file\n");
	fwrite(p.dbuf, 1, p.dlen, s);
	for (size_t i = 0; i < p.nc; i++) {
		for (int fmt = 0; fmt < 2; fmt++) {
			if ((fmt == 0 && !o->png) || (fmt == 1 && !o->svg))
				continue;
			char path[600];
			snprintf(path, sizeof(path), "%s.%s", p.c[i].base, fmt ? "svg" : "png");
			if (fmt == 0)
				fprintf(s,
				        "set terminal pngcairo size %d,%d font 'DejaVu Sans,10' "
				        "linewidth 1\n",
				        p.c[i].w, p.c[i].h);
			else
				fprintf(s,
				        "set terminal svg size %d,%d font 'DejaVu Sans,10' "
				        "background '#ffffff'\n",
				        p.c[i].w, p.c[i].h);
			fprintf(s, "set output ");
			gsq(s, path);
			fprintf(s, "\nreset\n");
			fwrite(p.c[i].body, 1, p.c[i].blen, s);
			fprintf(s, "unset output\n");
		}
	}
	if (fclose(s)) {
		rc = DS_ENOMEM;
		goto out;
	}
	if (o->script) {
		FILE *f = fopen(o->script, "w");
		if (!f || fwrite(script, 1, slen, f) != slen || fclose(f)) {
			rc = ds_errf(err, DS_EIO, "%s: cannot write the script", o->script);
			goto out;
		}
	}
	rc = run_gnuplot(gp, script, slen, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < p.nc; i++)
		for (int fmt = 0; fmt < 2; fmt++) {
			if ((fmt == 0 && !o->png) || (fmt == 1 && !o->svg))
				continue;
			char path[600];
			struct stat sb;
			snprintf(path, sizeof(path), "%s.%s", p.c[i].base, fmt ? "svg" : "png");
			if (stat(path, &sb) < 0 || !sb.st_size) {
				rc = ds_errf(err, DS_EIO, "gnuplot wrote nothing to %s", path);
				goto out;
			}
			printf("%s\n", path);
		}
	rc = DS_OK;
out:
	if (p.data)
		fclose(p.data);
	free(p.dbuf);
	for (size_t i = 0; i < p.nc; i++)
		free(p.c[i].body);
	free(p.c);
	free(script);
	free(gp);
	return rc;
}

/* ----------------------------------------------------------------- verb */

static int parse_kinds(const char *s, unsigned *k)
{
	char *dup = strdup(s), *save = NULL;
	*k = 0;
	if (!dup)
		return DS_ENOMEM;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "lph"))
			*k |= DS_PLOT_LPH;
		else if (!strcmp(t, "rate"))
			*k |= DS_PLOT_RATE;
		else if (!strcmp(t, "qps"))
			*k |= DS_PLOT_QPS;
		else if (!strcmp(t, "cache"))
			*k |= DS_PLOT_CACHE;
		else if (!strcmp(t, "all"))
			*k |= DS_PLOT_ALL;
		else {
			free(dup);
			return DS_EINVAL;
		}
	}
	free(dup);
	return DS_OK;
}

int ds_report_plot_main(int argc, char **argv)
{
	enum {
		O_DB = 256,
		O_BASE,
		O_CAND,
		O_LABEL,
		O_RUN,
		O_SCEN,
		O_KIND,
		O_FMT,
		O_OUT,
		O_PREFIX,
		O_TITLE,
		O_SIZE,
		O_SCRIPT
	};
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"baseline", required_argument, NULL, O_BASE},
	    {"candidate", required_argument, NULL, O_CAND},
	    {"label", required_argument, NULL, O_LABEL},
	    {"run", required_argument, NULL, O_RUN},
	    {"scenario", required_argument, NULL, O_SCEN},
	    {"kind", required_argument, NULL, O_KIND},
	    {"format", required_argument, NULL, O_FMT},
	    {"out", required_argument, NULL, O_OUT},
	    {"prefix", required_argument, NULL, O_PREFIX},
	    {"title", required_argument, NULL, O_TITLE},
	    {"size", required_argument, NULL, O_SIZE},
	    {"script", required_argument, NULL, O_SCRIPT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *scen = NULL;
	const char *labels[16];
	const char *roles[16];
	int64_t runs[64];
	size_t nl = 0, nr = 0;
	ds_plot_opts_t o = {.kinds = DS_PLOT_ALL, .png = true, .svg = true};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db_path = optarg;
			break;
		case O_BASE:
		case O_CAND:
		case O_LABEL:
			if (nl == DS_ARRAY_SIZE(labels))
				return ds_cli_bad("plot", "at most %zu labels",
				                  DS_ARRAY_SIZE(labels));
			roles[nl] = c == O_BASE ? "baseline" : c == O_CAND ? "candidate" : NULL;
			labels[nl++] = optarg;
			break;
		case O_RUN: {
			long long v;
			if (nr == DS_ARRAY_SIZE(runs) || ds_parse_int(optarg, 1, INT64_MAX, &v) < 0)
				return ds_cli_bad("plot",
				                  "--run: '%s' is not a run id (at most %zu)",
				                  optarg, DS_ARRAY_SIZE(runs));
			runs[nr++] = v;
			break;
		}
		case O_SCEN:
			o.title = scen = optarg;
			break;
		case O_KIND:
			if (parse_kinds(optarg, &o.kinds) < 0)
				return ds_cli_bad("plot",
				                  "--kind: a list of lph, rate, qps, cache, all");
			break;
		case O_FMT:
			o.png = strstr(optarg, "png") != NULL;
			o.svg = strstr(optarg, "svg") != NULL;
			if (!o.png && !o.svg)
				return ds_cli_bad("plot", "--format: png, svg or png,svg");
			break;
		case O_OUT:
			o.out_dir = optarg;
			break;
		case O_PREFIX:
			o.prefix = optarg;
			break;
		case O_TITLE:
			o.title = optarg;
			break;
		case O_SCRIPT:
			o.script = optarg;
			break;
		case O_SIZE:
			if (sscanf(optarg, "%dx%d", &o.width, &o.height) != 2 || o.width < 200 ||
			    o.height < 150 || o.width > 10000 || o.height > 10000)
				return ds_cli_bad("plot",
				                  "--size: WIDTHxHEIGHT in pixels, e.g. 1200x700");
			break;
		case 'h':
			printf(
			    "usage: dnsurge report plot [--db FILE] (--baseline LABEL --candidate "
			    "LABEL |\n         --label LABEL ... | --run ID ...) [--scenario NAME] "
			    "[--kind LIST]\n         [--format png,svg] [--out DIR] [--prefix "
			    "NAME] "
			    "[--title TEXT]\n         [--size WxH] [--script FILE]\n\n"
			    "Charts through gnuplot, as PNG and SVG: lph (response time by slowest "
			    "percentile,\nline = median over trials, band = min-max), rate "
			    "(answered %% and RCODEs over\ntime), qps (target/sent/answered/failed "
			    "QPS and p50/p99 over time, phases\nmarked), cache (cache hit ratio "
			    "from scraped CoreDNS counters). --kind picks\nsome (default all). "
			    "Files: DIR/PREFIX-lph.png, DIR/PREFIX-qps-LABEL.png ...\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return ds_cli_bad("plot", "unexpected argument '%s'", argv[optind]);
	if (!nl && !nr)
		return ds_cli_bad("plot", "choose runs: --baseline/--candidate, --label or --run");
	if (o.out_dir && mkdir(o.out_dir, 0777) < 0 && errno != EEXIST)
		return ds_cli_bad("plot", "--out %s: %s", o.out_dir, strerror(errno));

	ds_err_t err;
	ds_plot_group_t g[80];
	char names[80][160], tags[80][96];
	size_t ng = 0;
	int rc = 2;
	ds_store_t *db = ds_store_open(db_path, DS_STORE_RDONLY, &err);
	if (!db)
		goto fail;
	for (size_t i = 0; i < nl; i++) {
		ds_plot_group_t *x = &g[ng];
		memset(x, 0, sizeof(*x));
		if (ds_trial_load_label(db, labels[i], scen, 0, NULL, &x->t, &x->n, &err) < 0)
			goto fail;
		ng++;
		if (!x->n) {
			ds_errf(&err, DS_ENOENT, "no runs labelled '%s'%s%s in %s", labels[i],
			        scen ? " for scenario " : "", scen ? scen : "", db_path);
			goto fail;
		}
		snprintf(names[i], sizeof(names[i]), "%s%s%s%s", labels[i], roles[i] ? " (" : "",
		         roles[i] ? roles[i] : "", roles[i] ? ")" : "");
		snprintf(tags[i], sizeof(tags[i]), "%s", labels[i]);
		x->name = names[i];
		x->tag = tags[i];
	}
	for (size_t i = 0; i < nr; i++) {
		ds_plot_group_t *x = &g[ng];
		memset(x, 0, sizeof(*x));
		x->t = calloc(1, sizeof(*x->t));
		if (!x->t) {
			ds_errf(&err, DS_ENOMEM, "out of memory");
			goto fail;
		}
		x->n = 1;
		ng++;
		if (ds_trial_load(db, runs[i], NULL, x->t, &err) < 0)
			goto fail;
		snprintf(names[nl + i], sizeof(names[0]), "run %lld '%s'", (long long)runs[i],
		         x->t->run.label ? x->t->run.label : "");
		snprintf(tags[nl + i], sizeof(tags[0]), "run%lld", (long long)runs[i]);
		x->name = names[nl + i];
		x->tag = tags[nl + i];
	}
	if (ds_plot(db, g, ng, &o, &err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "dnsurge report plot: %s\n", err.msg);
	rc = 2;
out:
	for (size_t i = 0; i < ng; i++)
		ds_trials_free(g[i].t, g[i].n);
	ds_store_close(db);
	return rc;
}
