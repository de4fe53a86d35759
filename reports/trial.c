/* SPDX-License-Identifier: MIT */
#include "reports/trial.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/fmt.h"

const ds_trial_metric_info_t ds_trial_metrics[DS_TM_COUNT] = {
    [DS_TM_P50] = {"p50", "response_time.p50", DS_TU_NS, 0.50, true},
    [DS_TM_P90] = {"p90", "response_time.p90", DS_TU_NS, 0.90, true},
    [DS_TM_P99] = {"p99", "response_time.p99", DS_TU_NS, 0.99, true},
    [DS_TM_P999] = {"p99.9", "response_time.p99.9", DS_TU_NS, 0.999, true},
    [DS_TM_MAX] = {"max", "response_time.max", DS_TU_NS, 1.0, true},
    [DS_TM_MEAN] = {"mean", "response_time.mean", DS_TU_NS, NAN, true},
    [DS_TM_QPS] = {"qps", "qps", DS_TU_QPS, NAN, false},
    [DS_TM_ANSWERED_PCT] = {"answered", "answered_pct", DS_TU_PCT, NAN, false},
    [DS_TM_LOSS_PCT] = {"loss", "loss_pct", DS_TU_PCT, NAN, true},
    [DS_TM_ERROR_PCT] = {"errors", "error_pct", DS_TU_PCT, NAN, true},
    [DS_TM_SERVFAIL_PCT] = {"servfail", "servfail_pct", DS_TU_PCT, NAN, true},
};

int ds_trial_metric_by_name(const char *name)
{
	for (int i = 0; i < DS_TM_COUNT; i++)
		if (!strcmp(name, ds_trial_metrics[i].name) ||
		    !strcmp(name, ds_trial_metrics[i].key))
			return i;
	if (!strcmp(name, "p999"))
		return DS_TM_P999;
	return -1;
}

static double pct(uint64_t num, uint64_t den)
{
	return den ? 100.0 * (double)num / (double)den : NAN;
}

double ds_trial_window_metric(const ds_trial_window_t *w, ds_trial_metric_t m)
{
	const ds_trial_metric_info_t *mi = &ds_trial_metrics[m];
	switch (m) {
	case DS_TM_P50:
	case DS_TM_P90:
	case DS_TM_P99:
	case DS_TM_P999:
	case DS_TM_MAX:
		return w->rt.count ? (double)ds_hist_quantile(&w->rt, mi->q) : NAN;
	case DS_TM_MEAN:
		return w->rt.count ? ds_hist_mean(&w->rt) : NAN;
	case DS_TM_QPS:
		return w->dur_ns > 0 ? (double)w->answered * 1e9 / (double)w->dur_ns : NAN;
	case DS_TM_ANSWERED_PCT:
		return pct(w->answered, w->sent);
	case DS_TM_LOSS_PCT:
		return pct(w->timeouts, w->sent);
	case DS_TM_ERROR_PCT: {
		/* resperf's notion of a failure: NXDOMAIN is an answer, not an error. */
		uint64_t bad = w->answered >= w->rcode[0] + w->rcode[3]
		                   ? w->answered - w->rcode[0] - w->rcode[3]
		                   : 0;
		return pct(bad, w->answered);
	}
	case DS_TM_SERVFAIL_PCT:
		return pct(w->rcode[2], w->answered);
	case DS_TM_COUNT:
		break;
	}
	return NAN;
}

static void window_init(ds_trial_window_t *w, const char *name, int seq)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->seq = seq;
	w->lag_max_ns = -1;
	w->target_qps = w->target_qps_end = NAN;
	ds_hist_init(&w->rt);
	for (int i = 0; i < DS_TM_COUNT; i++)
		w->m[i] = NAN;
}

static void window_add(ds_trial_window_t *w, const ds_store_interval_t *iv)
{
	w->nintervals++;
	w->dur_ns += iv->dur_ns;
	w->sent += iv->sent;
	w->answered += iv->answered;
	w->timeouts += iv->timeouts;
	w->late += iv->late;
	w->drops += iv->drops;
	w->late_sends += iv->late_sends;
	w->send_errors += iv->send_errors;
	w->malformed += iv->malformed;
	w->mismatched += iv->mismatched;
	w->truncated += iv->truncated;
	for (int i = 0; i < DS_STORE_NRCODE; i++)
		w->rcode[i] += iv->rcode[i];
	w->rcode_other += iv->rcode_other;
	if (iv->lag_max_ns > w->lag_max_ns)
		w->lag_max_ns = iv->lag_max_ns;
}

static void window_finish(ds_trial_window_t *w)
{
	for (int i = 0; i < DS_TM_COUNT; i++)
		w->m[i] = ds_trial_window_metric(w, (ds_trial_metric_t)i);
}

/* Unlabelled histograms are the tool's overall view; per-label ones (per
 * qtype, per protocol) only when that is all there is, since merging both
 * would count every answer twice. */
static int load_hist(ds_store_t *db, int64_t run_id, int64_t t0, int64_t t1, ds_hist_t *h,
                     ds_err_t *err)
{
	int rc = ds_store_hist_load(db, run_id, "response_time", "", t0, t1, h, err);
	if (rc == DS_OK && !h->count)
		rc = ds_store_hist_load(db, run_id, "response_time", NULL, t0, t1, h, err);
	return rc;
}

/* Imported runs carry only summary statistics: take mean and max from there. */
static void summary_latency(ds_trial_t *t)
{
	if (!t->run.summary_json)
		return;
	cJSON *j = cJSON_Parse(t->run.summary_json);
	if (!j)
		return;
	const cJSON *avg = cJSON_GetObjectItemCaseSensitive(j, "latency_avg_s");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(j, "latency_max_s");
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "summary_only");
	if (cJSON_IsTrue(so))
		t->summary_only = true;
	if (t->summary_only && t->total.answered) {
		if (cJSON_IsNumber(avg))
			t->total.m[DS_TM_MEAN] = avg->valuedouble * 1e9;
		if (cJSON_IsNumber(max))
			t->total.m[DS_TM_MAX] = max->valuedouble * 1e9;
	}
	cJSON_Delete(j);
}

/* The generator judged its own run (status 'invalid' with a reason, by
 * the limits it was given); that verdict stands. --max-lag / --max-late
 * re-judge stored runs by stricter or looser limits when asked. */
static void judge(ds_trial_t *t, const ds_trial_opts_t *o)
{
	bool lag_set = o && o->max_lag_ns > 0;
	bool late_set = o && o->max_late_pct > 0;
	int64_t max_lag = lag_set ? o->max_lag_ns : 0;
	double max_late = late_set ? o->max_late_pct : 0;
	const ds_trial_window_t *w = &t->total;
	char a[32], b[32];

	t->valid = true;
	t->why[0] = 0;
	if (w->lag_max_ns < 0)
		snprintf(t->lag, sizeof(t->lag), "n/a (not measured)");
	else if (lag_set && w->lag_max_ns > max_lag)
		snprintf(t->lag, sizeof(t->lag), "INVALID (max %s > %s)",
		         ds_rfmt_lat((double)w->lag_max_ns, a, sizeof(a)),
		         ds_rfmt_lat((double)max_lag, b, sizeof(b)));
	else
		snprintf(t->lag, sizeof(t->lag), "%s (max %s)",
		         t->run.status == DS_STORE_INVALID ? "INVALID" : "ok",
		         ds_rfmt_lat((double)w->lag_max_ns, a, sizeof(a)));

	if (t->run.status != DS_STORE_OK)
		snprintf(t->why, sizeof(t->why), "run %s%s%s", ds_store_status_name(t->run.status),
		         t->run.invalid_reason ? ": " : "",
		         t->run.invalid_reason ? t->run.invalid_reason : "");
	else if (!w->answered)
		snprintf(t->why, sizeof(t->why), "no answers in the measured phases");
	else if (lag_set && w->lag_max_ns > max_lag)
		snprintf(t->why, sizeof(t->why),
		         "generator schedule lag reached %s (limit %s): it measured itself",
		         ds_rfmt_lat((double)w->lag_max_ns, a, sizeof(a)),
		         ds_rfmt_lat((double)max_lag, b, sizeof(b)));
	else if (late_set && w->sent && pct(w->late_sends + w->drops, w->sent + w->drops) > max_late)
		snprintf(t->why, sizeof(t->why),
		         "generator sent %.3f%% of queries late or dropped them (limit %g%%)",
		         pct(w->late_sends + w->drops, w->sent + w->drops), max_late);
	if (t->why[0])
		t->valid = false;
}

int ds_trial_load(ds_store_t *db, int64_t run_id, const ds_trial_opts_t *o, ds_trial_t *t,
                  ds_err_t *err)
{
	ds_store_phase_t *ph = NULL;
	size_t nph = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	window_init(&t->total, "measured", -1);
	rc = ds_store_run_get(db, run_id, &t->run, err);
	if (rc < 0)
		goto fail;
	rc = ds_store_intervals_load(db, run_id, &t->iv, &t->niv, err);
	if (rc < 0)
		goto fail;
	rc = ds_store_phases_load(db, run_id, &ph, &nph, err);
	if (rc < 0)
		goto fail;
	if (nph) {
		t->phases = calloc(nph, sizeof(*t->phases));
		if (!t->phases) {
			rc = ds_errf(err, DS_ENOMEM, "out of memory");
			goto fail;
		}
	}
	bool any_measured = false;
	for (size_t i = 0; i < nph; i++) {
		ds_trial_window_t *w = &t->phases[i];
		window_init(w, ph[i].name ? ph[i].name : "", ph[i].seq);
		t->nphases++;
		w->phase_id = ph[i].phase_id;
		w->t0 = ph[i].start_ns;
		w->t1 = ph[i].end_ns ? ph[i].end_ns : INT64_MAX;
		w->measured = ph[i].measured;
		w->target_qps = ph[i].target_qps;
		w->target_qps_end = ph[i].target_qps_end;
		any_measured |= w->measured;
	}
	ds_trial_window_t *tot = &t->total;
	tot->measured = true;
	tot->t0 = INT64_MAX;
	tot->t1 = INT64_MIN;
	for (size_t k = 0; k < t->niv; k++) {
		const ds_store_interval_t *iv = &t->iv[k];
		bool in_measured = !any_measured;
		for (size_t i = 0; i < t->nphases; i++) {
			ds_trial_window_t *w = &t->phases[i];
			if (iv->t_ns < w->t0 || iv->t_ns >= w->t1)
				continue;
			window_add(w, iv);
			in_measured |= w->measured;
		}
		if (in_measured) {
			window_add(tot, iv);
			tot->t0 = DS_MIN(tot->t0, iv->t_ns);
			tot->t1 = DS_MAX(tot->t1, iv->t_ns + iv->dur_ns);
		}
	}
	for (size_t i = 0; i < t->nphases; i++) {
		ds_trial_window_t *w = &t->phases[i];
		rc = load_hist(db, run_id, w->t0, w->t1, &w->rt, err);
		if (rc < 0)
			goto fail;
		if (w->measured) {
			rc = ds_hist_merge(&tot->rt, &w->rt);
			if (rc < 0) {
				ds_errf(err, rc, "out of memory");
				goto fail;
			}
		}
		window_finish(w);
	}
	if (!any_measured) {
		rc = load_hist(db, run_id, INT64_MIN, INT64_MAX, &tot->rt, err);
		if (rc < 0)
			goto fail;
	}
	if (tot->t0 > tot->t1)
		tot->t0 = tot->t1 = t->run.started_ns;
	if (t->nphases == 1) {
		tot->target_qps = t->phases[0].target_qps;
		tot->target_qps_end = t->phases[0].target_qps_end;
	}
	window_finish(tot);
	summary_latency(t);
	judge(t, o);
	rc = DS_OK;
fail:
	ds_store_phases_free(ph, nph);
	return rc;
}

void ds_trial_free(ds_trial_t *t)
{
	for (size_t i = 0; i < t->nphases; i++)
		ds_hist_free(&t->phases[i].rt);
	free(t->phases);
	ds_hist_free(&t->total.rt);
	free(t->iv);
	ds_store_run_free(&t->run);
	memset(t, 0, sizeof(*t));
}

void ds_trials_free(ds_trial_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ds_trial_free(&t[i]);
	free(t);
}

int ds_trial_load_label(ds_store_t *db, const char *label, const char *scenario, int64_t since_run,
                        const ds_trial_opts_t *o, ds_trial_t **out, size_t *n, ds_err_t *err)
{
	ds_store_run_t *runs = NULL;
	size_t nr = 0, k = 0;
	ds_trial_t *t = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	rc = ds_store_runs_list(db, label, NULL, scenario, &runs, &nr, err);
	if (rc < 0)
		return rc;
	if (nr) {
		t = calloc(nr, sizeof(*t));
		if (!t) {
			rc = ds_errf(err, DS_ENOMEM, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < nr; i++) {
		if (runs[i].run_id <= since_run)
			continue;
		rc = ds_trial_load(db, runs[i].run_id, o, &t[k], err);
		k++;
		if (rc < 0)
			goto fail;
	}
	ds_store_runs_free(runs, nr);
	*out = t;
	*n = k;
	return DS_OK;
fail:
	ds_store_runs_free(runs, nr);
	ds_trials_free(t, k);
	return rc;
}
