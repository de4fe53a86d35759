/* SPDX-License-Identifier: MIT */
#include "reports/compare.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "reports/fmt.h"

void ds_cmp_opts_default(ds_cmp_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->alpha = 0.01;
	o->conf = 0.95;
	o->iters = 10000;
	o->seed = 1;
	o->min_trials = 5;
	o->max_invalid_pct = 20;
	/* REPORTS.md §3.2: per-metric minimum effects; rates in percentage points. */
	o->min_effect[DS_TM_P50] = 0.03;
	o->min_effect[DS_TM_P90] = 0.05;
	o->min_effect[DS_TM_P99] = 0.05;
	o->min_effect[DS_TM_P999] = 0.10;
	o->min_effect[DS_TM_MAX] = 0.10;
	o->min_effect[DS_TM_MEAN] = 0.03;
	o->min_effect[DS_TM_QPS] = 0.03;
	o->min_effect[DS_TM_ANSWERED_PCT] = 0.1;
	o->min_effect[DS_TM_LOSS_PCT] = 0.1;
	o->min_effect[DS_TM_ERROR_PCT] = 0.1;
	o->min_effect[DS_TM_SERVFAIL_PCT] = 0.1;
	/* Few gated metrics keep the family-wise false alarm rate near
	 * alpha times their number; max is never gated (one query decides it). */
	o->gated[DS_TM_P50] = o->gated[DS_TM_P99] = o->gated[DS_TM_P999] = true;
	o->gated[DS_TM_QPS] = o->gated[DS_TM_LOSS_PCT] = o->gated[DS_TM_ERROR_PCT] = true;
}

static ds_stats_delta_t kind_of(ds_trial_metric_t m)
{
	return ds_trial_metrics[m].unit == DS_TU_PCT ? DS_STATS_ABS : DS_STATS_RATIO;
}

int ds_cmp_parse_min_effect(ds_cmp_opts_t *o, const char *spec, ds_err_t *err)
{
	char *dup = strdup(spec), *save = NULL;
	int rc = DS_OK;
	if (!dup)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		double v;
		if (!eq) {
			rc = ds_errf(err, DS_EINVAL, "--min-effect: '%s' is not METRIC=VALUE", it);
			break;
		}
		*eq = 0;
		int m = ds_trial_metric_by_name(it);
		size_t l = strlen(eq + 1);
		if (l && eq[l] == '%')
			eq[l] = 0;
		if (m < 0 || ds_parse_double(eq + 1, &v) < 0 || v < 0) {
			rc = ds_errf(
			    err, DS_EINVAL,
			    "--min-effect: '%s=%s' needs a known metric (p50, p90, p99, p99.9, "
			    "max, mean, qps, answered, loss, errors, servfail) and a value >= 0",
			    it, eq + 1);
			break;
		}
		o->min_effect[m] = kind_of((ds_trial_metric_t)m) == DS_STATS_RATIO ? v / 100 : v;
	}
	free(dup);
	return rc;
}

int ds_cmp_parse_gate(ds_cmp_opts_t *o, const char *spec, ds_err_t *err)
{
	bool g[DS_TM_COUNT] = {0};
	char *dup = strdup(spec), *save = NULL;
	if (!dup)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		int m = ds_trial_metric_by_name(it);
		if (m < 0) {
			int rc = ds_errf(err, DS_EINVAL, "--gate: unknown metric '%s'", it);
			free(dup);
			return rc;
		}
		g[m] = true;
	}
	free(dup);
	memcpy(o->gated, g, sizeof(g));
	return DS_OK;
}

const char *ds_cmp_verdict_name(ds_cmp_verdict_t v)
{
	static const char *n[] = {"no_change", "within_noise", "improved",
	                          "regressed", "insufficient", "n/a"};
	return n[v];
}

static void warn(ds_cmp_result_t *r, const char *fmt, ...) DS_PRINTF(2, 3);
static void warn(ds_cmp_result_t *r, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	char **w = realloc(r->warnings, (r->nwarn + 1) * sizeof(*w));
	if (!w) {
		free(s);
		return;
	}
	r->warnings = w;
	w[r->nwarn++] = s;
}

/* Values of metric m over the valid trials that have it. */
static size_t collect(const ds_trial_t *t, size_t n, ds_trial_metric_t m, double *out,
                      int64_t *enough_for_q)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!t[i].valid || isnan(t[i].total.m[m]))
			continue;
		out[k++] = t[i].total.m[m];
		if (enough_for_q && (int64_t)t[i].total.rt.count < *enough_for_q)
			*enough_for_q = (int64_t)t[i].total.rt.count;
	}
	return k;
}

static double spread(const double *x, size_t n, ds_stats_delta_t kind)
{
	if (kind == DS_STATS_RATIO)
		return ds_stats_robust_cv(x, n);
	double med = ds_stats_median(x, n), *d = malloc(n * sizeof(*d));
	if (!d)
		return NAN;
	for (size_t i = 0; i < n; i++)
		d[i] = fabs(x[i] - med);
	double s = 1.4826 * ds_stats_median(d, n);
	free(d);
	return s;
}

static int compare_metric(const ds_trial_t *b, size_t nb, const ds_trial_t *c, size_t nc,
                          ds_trial_metric_t m, const ds_cmp_opts_t *o, ds_cmp_row_t *row)
{
	const ds_trial_metric_info_t *mi = &ds_trial_metrics[m];
	double *xb = malloc((nb + 1) * sizeof(double)), *xc = malloc((nc + 1) * sizeof(double));
	int rc = DS_ENOMEM;
	if (!xb || !xc)
		goto out;
	memset(row, 0, sizeof(*row));
	row->metric = m;
	row->gated = o->gated[m];
	row->kind = kind_of(m);
	row->min_effect = o->min_effect[m];
	row->base_med = row->cand_med = row->delta = row->ci_lo = row->ci_hi = NAN;
	row->p = row->u = row->base_spread = row->cand_spread = NAN;
	int64_t least = INT64_MAX;
	row->nb = collect(b, nb, m, xb, &least);
	row->nc = collect(c, nc, m, xc, &least);
	rc = DS_OK;
	if (row->nb) {
		row->base_med = ds_stats_median(xb, row->nb);
		row->base_spread = spread(xb, row->nb, row->kind);
	}
	if (row->nc) {
		row->cand_med = ds_stats_median(xc, row->nc);
		row->cand_spread = spread(xc, row->nc, row->kind);
	}
	if (!row->nb && !row->nc) {
		row->verdict = DS_CMP_NA;
		row->gated = false;
		snprintf(row->note, sizeof(row->note), "no trial has it%s",
		         mi->unit == DS_TU_NS ? " (no latency histograms)" : "");
		goto out;
	}
	/* Tail quantiles need enough answers beyond them to mean anything. */
	if (mi->unit == DS_TU_NS && !isnan(mi->q) && mi->q > 0.99 && mi->q < 1 &&
	    (double)least * (1 - mi->q) < 100) {
		row->verdict = DS_CMP_NA;
		row->gated = false;
		snprintf(row->note, sizeof(row->note),
		         "needs %.0f answers per trial, the smallest has %lld", 100 / (1 - mi->q),
		         (long long)least);
		goto out;
	}
	if (row->nb < o->min_trials || row->nc < o->min_trials) {
		row->verdict = DS_CMP_INSUFFICIENT;
		snprintf(row->note, sizeof(row->note), "needs %u valid trials per side",
		         o->min_trials);
		goto out;
	}
	ds_stats_mwu_t t;
	if ((rc = ds_stats_mwu(xb, row->nb, xc, row->nc, &t)) < 0)
		goto out;
	row->p = t.p;
	row->u = t.u;
	row->exact = t.exact;
	row->delta = ds_stats_delta(xb, row->nb, xc, row->nc, row->kind);
	if ((rc = ds_stats_bootstrap(xb, row->nb, xc, row->nc, row->kind, o->iters, o->conf,
	                             o->seed, &row->ci_lo, &row->ci_hi)) < 0)
		goto out;
	if (isnan(row->delta)) {
		row->verdict = DS_CMP_NA;
		row->gated = false;
		snprintf(row->note, sizeof(row->note), "baseline median is 0");
		goto out;
	}
	bool worse = mi->higher_worse ? row->delta > 0 : row->delta < 0;
	bool big = fabs(row->delta) > row->min_effect;
	if (t.p >= o->alpha)
		row->verdict = DS_CMP_NO_CHANGE;
	else if (!big)
		row->verdict = DS_CMP_WITHIN_NOISE;
	else
		row->verdict = worse ? DS_CMP_REGRESSED : DS_CMP_IMPROVED;
	if (row->verdict == DS_CMP_REGRESSED || row->verdict == DS_CMP_IMPROVED) {
		bool up = row->delta > 0;
		row->high_confidence =
		    up ? row->ci_lo > row->min_effect : row->ci_hi < -row->min_effect;
	}
out:
	free(xb);
	free(xc);
	return rc;
}

static bool interleaved(const ds_trial_t *b, size_t nb, const ds_trial_t *c, size_t nc)
{
	int64_t bmin = INT64_MAX, bmax = INT64_MIN, cmin = INT64_MAX, cmax = INT64_MIN;
	for (size_t i = 0; i < nb; i++)
		bmin = DS_MIN(bmin, b[i].run.started_ns), bmax = DS_MAX(bmax, b[i].run.started_ns);
	for (size_t i = 0; i < nc; i++)
		cmin = DS_MIN(cmin, c[i].run.started_ns), cmax = DS_MAX(cmax, c[i].run.started_ns);
	return !(bmax < cmin || cmax < bmin);
}

static void side_warnings(const char *side, const ds_trial_t *t, size_t n, ds_cmp_result_t *r)
{
	const char *cfg = NULL, *host = NULL;
	bool cfg_differs = false, host_differs = false, tih = false;
	for (size_t i = 0; i < n; i++) {
		if (!t[i].valid)
			warn(r, "%s run %lld is invalid and left out: %s", side,
			     (long long)t[i].run.run_id, t[i].why);
		if (t[i].run.config_sha256) {
			if (cfg && strcmp(cfg, t[i].run.config_sha256))
				cfg_differs = true;
			cfg = t[i].run.config_sha256;
		}
		if (t[i].run.hostname) {
			if (host && strcmp(host, t[i].run.hostname))
				host_differs = true;
			host = t[i].run.hostname;
		}
		if (t[i].run.timeout_in_hist && t[i].total.timeouts)
			tih = true;
	}
	if (cfg_differs)
		warn(r, "%s trials did not all use the same configuration (config_sha256 differs)",
		     side);
	if (host_differs)
		warn(r, "%s trials ran on different hosts", side);
	if (tih)
		warn(r, "%s latency percentiles include timed-out queries at the timeout value",
		     side);
}

static void noise_warnings(const char *scen, const ds_trial_t *t, size_t n, const char *side,
                           const ds_cmp_row_t *row, const ds_cmp_opts_t *o, ds_cmp_result_t *r,
                           bool *too_noisy)
{
	ds_trial_metric_t m = row->metric;
	const char *mn = ds_trial_metrics[m].name;
	if (row->verdict == DS_CMP_NA || row->verdict == DS_CMP_INSUFFICIENT)
		return;
	double sp = !strcmp(side, "baseline") ? row->base_spread : row->cand_spread;
	if (!strcmp(side, "baseline") && row->gated && sp > row->min_effect) {
		if (row->kind == DS_STATS_RATIO)
			warn(r,
			     "%s: baseline %s varies %.1f%% between trials (robust CV), more than "
			     "its "
			     "%.1f%% minimum effect: this machine is too noisy to resolve it",
			     scen, mn, sp * 100, row->min_effect * 100);
		else
			warn(r,
			     "%s: baseline %s varies %.3f pp between trials, more than its %.3f pp "
			     "minimum effect: this machine is too noisy to resolve it",
			     scen, mn, sp, row->min_effect);
		*too_noisy = true;
	}
	/* Outliers stay in the test (U is robust to them) but deserve a look. */
	double *x = malloc(n * sizeof(*x)), *z = malloc(n * sizeof(*z));
	int64_t *id = malloc(n * sizeof(*id));
	size_t k = 0;
	if (x && z && id) {
		for (size_t i = 0; i < n; i++)
			if (t[i].valid && !isnan(t[i].total.m[m])) {
				id[k] = t[i].run.run_id;
				x[k++] = t[i].total.m[m];
			}
		ds_stats_modz(x, k, z);
		for (size_t i = 0; k >= 3 && i < k; i++)
			if (z[i] > 10)
				warn(r,
				     "%s: %s run %lld has an outlying %s (modified z-score %.0f > "
				     "10)",
				     scen, side, (long long)id[i], mn, isinf(z[i]) ? 999.0 : z[i]);
	}
	free(x);
	free(z);
	free(id);
	(void)o;
}

int ds_cmp_scenario(const char *scenario, const ds_trial_t *b, size_t nb, const ds_trial_t *c,
                    size_t nc, const ds_cmp_opts_t *o, ds_cmp_scen_t *out, ds_cmp_result_t *r)
{
	int rc = DS_ENOMEM;
	memset(out, 0, sizeof(*out));
	out->scenario = strdup(scenario);
	out->base_ids = calloc(nb + 1, sizeof(int64_t));
	out->cand_ids = calloc(nc + 1, sizeof(int64_t));
	if (!out->scenario || !out->base_ids || !out->cand_ids)
		return rc;
	out->nb_total = nb;
	out->nc_total = nc;
	for (size_t i = 0; i < nb; i++)
		if (b[i].valid)
			out->base_ids[out->nb_valid++] = b[i].run.run_id;
	for (size_t i = 0; i < nc; i++)
		if (c[i].valid)
			out->cand_ids[out->nc_valid++] = c[i].run.run_id;
	for (int m = 0; m < DS_TM_COUNT; m++) {
		rc = compare_metric(b, nb, c, nc, (ds_trial_metric_t)m, o, &out->rows[m]);
		if (rc < 0)
			return rc;
	}
	return DS_OK;
}

static void scen_free(ds_cmp_scen_t *s)
{
	free(s->scenario);
	free(s->base_ids);
	free(s->cand_ids);
}

void ds_cmp_result_free(ds_cmp_result_t *r)
{
	for (size_t i = 0; i < r->nsc; i++)
		scen_free(&r->sc[i]);
	free(r->sc);
	for (size_t i = 0; i < r->nwarn; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

/* Trials of one scenario, as a view into the loaded array (copied structs). */
static size_t pick(const ds_trial_t *t, size_t n, const char *scen, ds_trial_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].run.scenario ? t[i].run.scenario : "", scen))
			out[k++] = t[i];
	return k;
}

static bool has_scen(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

static char *ids_json(const int64_t *ids, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)ids[i]));
	char *s = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return s;
}

static int save_trials(sqlite3 *h, sqlite3_stmt *ts, const ds_trial_t *t, size_t nt)
{
	for (size_t i = 0; i < nt; i++) {
		int64_t pid = 0;
		for (size_t k = 0; k < t[i].nphases && !pid; k++)
			if (t[i].phases[k].measured)
				pid = t[i].phases[k].phase_id;
		if (!pid)
			continue; /* the table needs a phase to hang the numbers on */
		for (int m = 0; m < DS_TM_COUNT; m++) {
			if (isnan(t[i].total.m[m]))
				continue;
			sqlite3_reset(ts);
			sqlite3_bind_int64(ts, 1, t[i].run.run_id);
			sqlite3_bind_int64(ts, 2, pid);
			sqlite3_bind_text(ts, 3, ds_trial_metrics[m].key, -1, SQLITE_STATIC);
			sqlite3_bind_double(ts, 4, t[i].total.m[m]);
			int rc = sqlite3_step(ts);
			if (rc != SQLITE_DONE)
				return rc;
		}
	}
	(void)h;
	return SQLITE_OK;
}

/* Comparison rows, and trial_summary rows for the trials stored in db
 * (nb/nc are 0 for a side read from another file). */
static int save(ds_store_t *db, const ds_cmp_result_t *r, const ds_cmp_opts_t *o,
                const ds_trial_t *b, size_t nb, const ds_trial_t *c, size_t nc, ds_err_t *err)
{
	sqlite3 *h = ds_store_handle(db);
	sqlite3_stmt *ins = NULL, *ts = NULL;
	int rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_prepare_v2(
	    h,
	    "INSERT INTO comparison (created_ns, scenario, base_label, cand_label, metric, n_base,"
	    " n_cand, base_center, cand_center, delta, delta_kind, ci_lo, ci_hi, p_value, alpha,"
	    " min_effect, test, verdict, gated, run_ids_base, run_ids_cand) VALUES (?1, ?2, ?3,"
	    " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'mann-whitney-u', ?17,"
	    " ?18, ?19, ?20)",
	    -1, &ins, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	int64_t now = ds_wall_ns();
	for (size_t i = 0; i < r->nsc; i++) {
		const ds_cmp_scen_t *s = &r->sc[i];
		char *jb = ids_json(s->base_ids, s->nb_valid),
		     *jc = ids_json(s->cand_ids, s->nc_valid);
		for (int m = 0; m < DS_TM_COUNT; m++) {
			const ds_cmp_row_t *row = &s->rows[m];
			if (row->verdict == DS_CMP_NA)
				continue;
			sqlite3_reset(ins);
			sqlite3_clear_bindings(ins);
			sqlite3_bind_int64(ins, 1, now);
			sqlite3_bind_text(ins, 2, s->scenario, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 3, o->base_label, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 4, o->cand_label, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 5, ds_trial_metrics[m].key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 6, (int64_t)row->nb);
			sqlite3_bind_int64(ins, 7, (int64_t)row->nc);
			double v[] = {row->base_med, row->cand_med, row->delta};
			for (int k = 0; k < 3; k++)
				if (!isnan(v[k]))
					sqlite3_bind_double(ins, 8 + k, v[k]);
			sqlite3_bind_text(ins, 11, row->kind == DS_STATS_RATIO ? "ratio" : "abs",
			                  -1, SQLITE_STATIC);
			double w[] = {row->ci_lo, row->ci_hi, row->p};
			for (int k = 0; k < 3; k++)
				if (!isnan(w[k]))
					sqlite3_bind_double(ins, 12 + k, w[k]);
			sqlite3_bind_double(ins, 15, o->alpha);
			sqlite3_bind_double(ins, 16, row->min_effect);
			sqlite3_bind_text(ins, 17, ds_cmp_verdict_name(row->verdict), -1,
			                  SQLITE_STATIC);
			sqlite3_bind_int(ins, 18, row->gated);
			if (jb)
				sqlite3_bind_text(ins, 19, jb, -1, SQLITE_TRANSIENT);
			if (jc)
				sqlite3_bind_text(ins, 20, jc, -1, SQLITE_TRANSIENT);
			rc = sqlite3_step(ins);
			if (rc != SQLITE_DONE)
				break;
			rc = SQLITE_OK;
		}
		free(jb);
		free(jc);
		if (rc != SQLITE_OK)
			goto fail;
	}
	rc = sqlite3_prepare_v2(h,
	                        "INSERT OR REPLACE INTO trial_summary (run_id, phase_id, metric,"
	                        " value) VALUES (?1, ?2, ?3, ?4)",
	                        -1, &ts, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if ((rc = save_trials(h, ts, b, nb)) != SQLITE_OK ||
	    (rc = save_trials(h, ts, c, nc)) != SQLITE_OK)
		goto fail;
	sqlite3_finalize(ins);
	sqlite3_finalize(ts);
	rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return DS_OK;
	ins = ts = NULL;
fail:;
	int code = ds_errf(err, DS_EIO, "results store %s: saving the comparison: %s",
	                   ds_store_path(db), sqlite3_errmsg(h));
	sqlite3_finalize(ins);
	sqlite3_finalize(ts);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	return code;
}

int ds_cmp_run(ds_store_t *base_db, ds_store_t *cand_db, const ds_cmp_opts_t *o, ds_cmp_result_t *r,
               ds_err_t *err)
{
	ds_trial_t *b = NULL, *c = NULL, *vb = NULL, *vc = NULL;
	size_t nb = 0, nc = 0, nscen = 0;
	char **scen = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = ds_trial_load_label(base_db, o->base_label, o->scenario, o->since_run, &o->trial, &b,
	                         &nb, err);
	if (rc < 0)
		goto fail;
	rc = ds_trial_load_label(cand_db, o->cand_label, o->scenario, o->since_run, &o->trial, &c,
	                         &nc, err);
	if (rc < 0)
		goto fail;
	if (!nb || !nc) {
		rc = ds_errf(err, DS_ENOENT, "no runs labelled '%s'%s%s%s in %s",
		             !nb ? o->base_label : o->cand_label,
		             o->scenario ? " for scenario '" : "", o->scenario ? o->scenario : "",
		             o->scenario ? "'" : "", ds_store_path(!nb ? base_db : cand_db));
		goto fail;
	}
	/* Scenarios both sides ran, in the baseline's order. */
	scen = calloc(nb, sizeof(*scen));
	vb = calloc(nb, sizeof(*vb));
	vc = calloc(nc, sizeof(*vc));
	if (!scen || !vb || !vc) {
		rc = ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < nb; i++) {
		const char *s = b[i].run.scenario ? b[i].run.scenario : "";
		if (!has_scen(scen, nscen, s))
			scen[nscen++] = (char *)s;
	}
	for (size_t i = 0; i < nc; i++) {
		const char *s = c[i].run.scenario ? c[i].run.scenario : "";
		if (!has_scen(scen, nscen, s)) {
			warn(r,
			     "scenario '%s' has candidate runs but no baseline runs: not compared",
			     s);
		}
	}
	r->sc = calloc(nscen, sizeof(*r->sc));
	if (!r->sc) {
		rc = ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	bool regression = false, inconclusive = false;
	char regs[200] = "", inc[200] = "";
	for (size_t i = 0; i < nscen; i++) {
		size_t kb = pick(b, nb, scen[i], vb), kc = pick(c, nc, scen[i], vc);
		const char *sn = scen[i][0] ? scen[i] : "(no scenario)";
		if (!kc) {
			warn(r,
			     "scenario '%s' has baseline runs but no candidate runs: not compared",
			     sn);
			continue;
		}
		ds_cmp_scen_t *s = &r->sc[r->nsc];
		rc = ds_cmp_scenario(scen[i], vb, kb, vc, kc, o, s, r);
		r->nsc++;
		if (rc < 0) {
			ds_errf(err, rc, "out of memory");
			goto fail;
		}
		side_warnings("baseline", vb, kb, r);
		side_warnings("candidate", vc, kc, r);
		if (!interleaved(vb, kb, vc, kc) && kb > 1 && kc > 1)
			warn(r,
			     "%s: all baseline trials ran before or after all candidate trials: "
			     "slow "
			     "drift of the machine looks like a change; interleave them (dnsurge "
			     "report "
			     "abba)",
			     sn);
		size_t mn = DS_MIN(s->nb_valid, s->nc_valid);
		double minp = ds_stats_mwu_min_p(s->nb_valid, s->nc_valid);
		if (mn < o->min_trials) {
			warn(r,
			     "%s: only %zu valid baseline and %zu valid candidate trials; at least "
			     "%u "
			     "per side are needed (10 or more recommended)",
			     sn, s->nb_valid, s->nc_valid, o->min_trials);
			inconclusive = true;
			snprintf(inc + strlen(inc), sizeof(inc) - strlen(inc),
			         "%s%s: too few trials", inc[0] ? ", " : "", sn);
		} else if (minp >= o->alpha) {
			warn(r,
			     "%s: with %zu+%zu trials the smallest possible p-value is %.4f, not "
			     "below alpha %g: nothing can be significant",
			     sn, s->nb_valid, s->nc_valid, minp, o->alpha);
			inconclusive = true;
			snprintf(inc + strlen(inc), sizeof(inc) - strlen(inc),
			         "%s%s: too few trials", inc[0] ? ", " : "", sn);
		} else if (mn < 10) {
			warn(r,
			     "%s: %zu+%zu trials: only large changes can be detected; 10 or more "
			     "per "
			     "side are recommended",
			     sn, s->nb_valid, s->nc_valid);
		}
		double bad_b = 100.0 * (double)(kb - s->nb_valid) / (double)kb;
		double bad_c = 100.0 * (double)(kc - s->nc_valid) / (double)kc;
		if (bad_b > o->max_invalid_pct || bad_c > o->max_invalid_pct) {
			warn(r,
			     "%s: %.0f%% of baseline and %.0f%% of candidate trials are invalid "
			     "(limit %g%%)",
			     sn, bad_b, bad_c, o->max_invalid_pct);
			if (!inconclusive)
				snprintf(inc + strlen(inc), sizeof(inc) - strlen(inc),
				         "%s%s: too many invalid trials", inc[0] ? ", " : "", sn);
			inconclusive = true;
		}
		bool noisy = false;
		for (int m = 0; m < DS_TM_COUNT; m++) {
			const ds_cmp_row_t *row = &s->rows[m];
			if (row->gated) {
				noise_warnings(sn, vb, kb, "baseline", row, o, r, &noisy);
				noise_warnings(sn, vc, kc, "candidate", row, o, r, &noisy);
			}
			if (row->gated && row->verdict == DS_CMP_REGRESSED) {
				regression = true;
				snprintf(regs + strlen(regs), sizeof(regs) - strlen(regs),
				         "%s%s/%s", regs[0] ? ", " : "", sn,
				         ds_trial_metrics[m].name);
			}
		}
		if (noisy && o->strict_noise) {
			inconclusive = true;
			snprintf(inc + strlen(inc), sizeof(inc) - strlen(inc), "%s%s: too noisy",
			         inc[0] ? ", " : "", sn);
		}
	}
	if (!r->nsc) {
		rc = ds_errf(err, DS_ENOENT, "labels '%s' and '%s' have no scenario in common",
		             o->base_label, o->cand_label);
		goto fail;
	}
	if (regression) {
		r->exit_code = DS_CMP_REGRESSION;
		snprintf(r->verdict, sizeof(r->verdict), "REGRESSED: %s", regs);
	} else if (inconclusive) {
		r->exit_code = DS_CMP_INCONCLUSIVE;
		snprintf(r->verdict, sizeof(r->verdict), "INCONCLUSIVE: %s", inc);
	} else {
		r->exit_code = DS_CMP_PASS;
		snprintf(r->verdict, sizeof(r->verdict), "no regression");
	}
	if (o->save_db) {
		rc = save(o->save_db, r, o, b, base_db == o->save_db ? nb : 0, c,
		          cand_db == o->save_db ? nc : 0, err);
		if (rc < 0)
			goto fail;
	}
	rc = DS_OK;
fail:
	free(scen);
	free(vb);
	free(vc);
	ds_trials_free(b, nb);
	ds_trials_free(c, nc);
	return rc;
}

/* ------------------------------------------------------------ output */

static const char *value_str(const ds_cmp_row_t *row, double v, char *buf, size_t len)
{
	switch (ds_trial_metrics[row->metric].unit) {
	case DS_TU_NS:
		return ds_rfmt_lat(v, buf, len);
	case DS_TU_QPS:
		return ds_rfmt_si(v, buf, len);
	case DS_TU_PCT:
		return ds_rfmt_pct(v, buf, len);
	}
	return "-";
}

static const char *cell(const ds_cmp_row_t *row, bool base, char *buf, size_t len)
{
	char v[32];
	size_t n = base ? row->nb : row->nc;
	double med = base ? row->base_med : row->cand_med;
	double sp = base ? row->base_spread : row->cand_spread;
	if (!n) {
		snprintf(buf, len, "-");
		return buf;
	}
	value_str(row, med, v, sizeof(v));
	if (isnan(sp) || n < 2)
		snprintf(buf, len, "%s", v);
	else if (row->kind == DS_STATS_RATIO)
		snprintf(buf, len, "%s ± %.0f%%", v, sp * 100);
	else
		snprintf(buf, len, "%s ± %.2fpp", v, sp);
	return buf;
}

static const char *change_str(const ds_cmp_row_t *row, char *buf, size_t len)
{
	char n[16];
	snprintf(n, sizeof(n), "n=%zu+%zu", row->nb, row->nc);
	switch (row->verdict) {
	case DS_CMP_NA:
		snprintf(buf, len, "n/a (%s)", row->note);
		return buf;
	case DS_CMP_INSUFFICIENT:
		snprintf(buf, len, "insufficient (%s, %s)", n, row->note);
		return buf;
	case DS_CMP_NO_CHANGE:
		snprintf(buf, len, "~ (p=%.3f %s)", row->p, n);
		return buf;
	default:
		break;
	}
	if (row->kind == DS_STATS_RATIO)
		snprintf(buf, len, "%+.2f%% [%+.1f%%, %+.1f%%] (p=%.3f %s)", row->delta * 100,
		         row->ci_lo * 100, row->ci_hi * 100, row->p, n);
	else
		snprintf(buf, len, "%+.3fpp [%+.3f, %+.3f] (p=%.3f %s)", row->delta, row->ci_lo,
		         row->ci_hi, row->p, n);
	return buf;
}

static const char *mark(const ds_cmp_row_t *row)
{
	switch (row->verdict) {
	case DS_CMP_REGRESSED:
		return row->gated ? "REGRESSED" : "regressed";
	case DS_CMP_IMPROVED:
		return "improved";
	case DS_CMP_WITHIN_NOISE:
		return "within noise";
	default:
		return "";
	}
}

void ds_cmp_print(FILE *f, const ds_cmp_result_t *r, const ds_cmp_opts_t *o)
{
	char a[48], b[48], d[160];
	fprintf(f,
	        "baseline '%s' vs candidate '%s': two-sided Mann-Whitney U, alpha %g; "
	        "%g%% bootstrap interval of the change of medians (%u resamples, seed %llu)\n",
	        o->base_label, o->cand_label, o->alpha, o->conf * 100, o->iters,
	        (unsigned long long)o->seed);
	for (size_t i = 0; i < r->nsc; i++) {
		const ds_cmp_scen_t *s = &r->sc[i];
		char head[96];
		snprintf(head, sizeof(head), "%s", s->scenario[0] ? s->scenario : "(no scenario)");
		fputc('\n', f);
		ds_rfmt_cell(f, head, 16, true);
		ds_rfmt_cell(f, o->base_label, 20, true);
		ds_rfmt_cell(f, o->cand_label, 20, true);
		fputs("vs base\n", f);
		snprintf(a, sizeof(a), "%zu/%zu valid", s->nb_valid, s->nb_total);
		snprintf(b, sizeof(b), "%zu/%zu valid", s->nc_valid, s->nc_total);
		ds_rfmt_cell(f, "trials", 16, true);
		ds_rfmt_cell(f, a, 20, true);
		fprintf(f, "%s\n", b);
		for (int m = 0; m < DS_TM_COUNT; m++) {
			const ds_cmp_row_t *row = &s->rows[m];
			if (m == DS_TM_ANSWERED_PCT)
				continue; /* the complement of loss: one of the two is enough */
			char name[32];
			snprintf(name, sizeof(name), "%s%s", ds_trial_metrics[m].name,
			         row->gated ? "" : " (info)");
			ds_rfmt_cell(f, name, 16, true);
			ds_rfmt_cell(f, cell(row, true, a, sizeof(a)), 20, true);
			ds_rfmt_cell(f, cell(row, false, b, sizeof(b)), 20, true);
			fputs(change_str(row, d, sizeof(d)), f);
			const char *mk = mark(row);
			if (mk[0])
				fprintf(f, "  %s%s", mk,
				        row->high_confidence ? " (high confidence)" : "");
			fputc('\n', f);
		}
	}
	if (r->nsc > 1) {
		fprintf(f, "\n%-16s", "geomean");
		for (int m = 0; m < DS_TM_COUNT; m++) {
			if (kind_of((ds_trial_metric_t)m) != DS_STATS_RATIO)
				continue;
			double *x = malloc(r->nsc * sizeof(*x));
			size_t k = 0;
			for (size_t i = 0; x && i < r->nsc; i++)
				if (!isnan(r->sc[i].rows[m].delta))
					x[k++] = 1 + r->sc[i].rows[m].delta;
			double g = ds_stats_geomean(x, k);
			free(x);
			if (!isnan(g))
				fprintf(f, " %s %+.2f%%", ds_trial_metrics[m].name, (g - 1) * 100);
		}
		fputc('\n', f);
	}
	if (r->nwarn)
		fputc('\n', f);
	for (size_t i = 0; i < r->nwarn; i++)
		fprintf(f, "warning: %s\n", r->warnings[i]);
	fprintf(f, "\nverdict: %s (exit %d)\n", r->verdict, r->exit_code);
}

static void num(cJSON *o, const char *k, double v)
{
	if (isnan(v) || isinf(v))
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, v);
}

char *ds_cmp_json(const ds_cmp_result_t *r, const ds_cmp_opts_t *o)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "baseline", o->base_label);
	cJSON_AddStringToObject(j, "candidate", o->cand_label);
	cJSON *m = cJSON_AddObjectToObject(j, "method");
	cJSON_AddStringToObject(m, "test", "mann-whitney-u two-sided");
	num(m, "alpha", o->alpha);
	num(m, "confidence", o->conf);
	num(m, "bootstrap_resamples", o->iters);
	num(m, "seed", (double)o->seed);
	num(m, "min_trials", o->min_trials);
	cJSON *sa = cJSON_AddArrayToObject(j, "scenarios");
	for (size_t i = 0; i < r->nsc; i++) {
		const ds_cmp_scen_t *s = &r->sc[i];
		cJSON *so = cJSON_CreateObject();
		cJSON_AddItemToArray(sa, so);
		cJSON_AddStringToObject(so, "scenario", s->scenario);
		num(so, "baseline_trials", (double)s->nb_total);
		num(so, "baseline_valid", (double)s->nb_valid);
		num(so, "candidate_trials", (double)s->nc_total);
		num(so, "candidate_valid", (double)s->nc_valid);
		cJSON *ib = cJSON_AddArrayToObject(so, "baseline_runs");
		for (size_t k = 0; k < s->nb_valid; k++)
			cJSON_AddItemToArray(ib, cJSON_CreateNumber((double)s->base_ids[k]));
		cJSON *ic = cJSON_AddArrayToObject(so, "candidate_runs");
		for (size_t k = 0; k < s->nc_valid; k++)
			cJSON_AddItemToArray(ic, cJSON_CreateNumber((double)s->cand_ids[k]));
		cJSON *ma = cJSON_AddArrayToObject(so, "metrics");
		for (int k = 0; k < DS_TM_COUNT; k++) {
			const ds_cmp_row_t *row = &s->rows[k];
			cJSON *mo = cJSON_CreateObject();
			cJSON_AddItemToArray(ma, mo);
			cJSON_AddStringToObject(mo, "metric", ds_trial_metrics[k].name);
			cJSON_AddStringToObject(mo, "key", ds_trial_metrics[k].key);
			static const char *units[] = {"ns", "per_second", "percent"};
			cJSON_AddStringToObject(mo, "unit", units[ds_trial_metrics[k].unit]);
			cJSON_AddBoolToObject(mo, "gated", row->gated);
			num(mo, "n_base", (double)row->nb);
			num(mo, "n_cand", (double)row->nc);
			num(mo, "base_median", row->base_med);
			num(mo, "cand_median", row->cand_med);
			num(mo, "base_spread", row->base_spread);
			num(mo, "cand_spread", row->cand_spread);
			cJSON_AddStringToObject(mo, "delta_kind",
			                        row->kind == DS_STATS_RATIO ? "ratio" : "abs");
			num(mo, "delta", row->delta);
			num(mo, "ci_lo", row->ci_lo);
			num(mo, "ci_hi", row->ci_hi);
			num(mo, "p", row->p);
			num(mo, "u", row->u);
			cJSON_AddBoolToObject(mo, "exact", row->exact);
			num(mo, "min_effect", row->min_effect);
			cJSON_AddStringToObject(mo, "verdict", ds_cmp_verdict_name(row->verdict));
			cJSON_AddBoolToObject(mo, "high_confidence", row->high_confidence);
			if (row->note[0])
				cJSON_AddStringToObject(mo, "note", row->note);
		}
	}
	cJSON *wa = cJSON_AddArrayToObject(j, "warnings");
	for (size_t i = 0; i < r->nwarn; i++)
		cJSON_AddItemToArray(wa, cJSON_CreateString(r->warnings[i]));
	static const char *names[] = {"pass", "regressed", "error", "inconclusive"};
	cJSON_AddStringToObject(j, "verdict", names[r->exit_code]);
	cJSON_AddStringToObject(j, "summary", r->verdict);
	num(j, "exit_code", r->exit_code);
	char *s = cJSON_Print(j);
	cJSON_Delete(j);
	return s;
}

static void xml_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			/* control characters are not allowed in XML 1.0 */
			if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
				fputc(*s, f);
		}
	}
}

int ds_cmp_junit(const char *path, const ds_cmp_result_t *r, const ds_cmp_opts_t *o, ds_err_t *err)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return ds_errf(err, -errno, "--junit %s: %s", path, strerror(errno));
	size_t tests = 0, fails = 0, skips = 0;
	for (size_t i = 0; i < r->nsc; i++)
		for (int m = 0; m < DS_TM_COUNT; m++) {
			const ds_cmp_row_t *row = &r->sc[i].rows[m];
			if (!o->gated[m])
				continue;
			tests++;
			fails += row->gated && row->verdict == DS_CMP_REGRESSED;
			skips += row->verdict == DS_CMP_INSUFFICIENT || row->verdict == DS_CMP_NA;
		}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
	        "<testsuites name=\"dnsurge report compare\" tests=\"%zu\" failures=\"%zu\" "
	        "skipped=\"%zu\">\n",
	        tests, fails, skips);
	for (size_t i = 0; i < r->nsc; i++) {
		const ds_cmp_scen_t *s = &r->sc[i];
		fprintf(f, "  <testsuite name=\"");
		xml_esc(f, o->base_label);
		fprintf(f, " vs ");
		xml_esc(f, o->cand_label);
		fprintf(f, ": ");
		xml_esc(f, s->scenario[0] ? s->scenario : "(no scenario)");
		fprintf(f, "\">\n");
		for (int m = 0; m < DS_TM_COUNT; m++) {
			const ds_cmp_row_t *row = &s->rows[m];
			if (!o->gated[m])
				continue;
			char d[160], a[48], b[48];
			fprintf(f, "    <testcase classname=\"");
			xml_esc(f, s->scenario[0] ? s->scenario : "default");
			fprintf(f, "\" name=\"%s\" time=\"0\">\n", ds_trial_metrics[m].name);
			change_str(row, d, sizeof(d));
			if (row->gated && row->verdict == DS_CMP_REGRESSED) {
				fprintf(f, "      <failure message=\"regressed ");
				xml_esc(f, d);
				fprintf(f, "\">baseline ");
				xml_esc(f, cell(row, true, a, sizeof(a)));
				fprintf(f, ", candidate ");
				xml_esc(f, cell(row, false, b, sizeof(b)));
				fprintf(f, ", minimum effect %g%s</failure>\n",
				        row->kind == DS_STATS_RATIO ? row->min_effect * 100
				                                    : row->min_effect,
				        row->kind == DS_STATS_RATIO ? "%" : " pp");
			} else if (row->verdict == DS_CMP_INSUFFICIENT ||
			           row->verdict == DS_CMP_NA) {
				fprintf(f, "      <skipped message=\"");
				xml_esc(f, d);
				fprintf(f, "\"/>\n");
			} else {
				fprintf(f, "      <system-out>");
				xml_esc(f, d);
				fprintf(f, "</system-out>\n");
			}
			fprintf(f, "    </testcase>\n");
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	if (fclose(f) != 0)
		return ds_errf(err, DS_EIO, "--junit %s: write error", path);
	return DS_OK;
}
