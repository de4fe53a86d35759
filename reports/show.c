/* SPDX-License-Identifier: MIT */
#include "reports/show.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "reports/fmt.h"

const char *ds_show_rcodes(const ds_trial_window_t *w, int top, char *buf, size_t len)
{
	bool used[DS_STORE_NRCODE + 1] = {0};
	size_t o = 0;
	buf[0] = 0;
	if (!w->answered) {
		snprintf(buf, len, "-");
		return buf;
	}
	for (int k = 0; k < top; k++) {
		int best = -2;
		uint64_t bc = 0;
		for (int i = 0; i <= DS_STORE_NRCODE; i++) {
			uint64_t c = i < DS_STORE_NRCODE ? w->rcode[i] : w->rcode_other;
			if (!used[i] && c > bc)
				best = i, bc = c;
		}
		if (best < -1 || !bc)
			break;
		used[best] = true;
		char nm[16];
		ds_rfmt_rcode(best == DS_STORE_NRCODE ? -1 : best, nm, sizeof(nm));
		double p = 100.0 * (double)bc / (double)w->answered;
		int n = snprintf(buf + o, len - o, "%s%s %.*f%%", o ? " " : "", nm,
		                 p >= 99.95 || p < 0.05 ? 2 : 1, p);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

static void row(FILE *f, const ds_trial_window_t *w, const char *name, bool lag)
{
	char d[24], q[24], a[24], rc[64], p[5][24], to[24], lg[24];
	ds_rfmt_dur(w->dur_ns, d, sizeof(d));
	ds_rfmt_si(w->m[DS_TM_QPS], q, sizeof(q));
	ds_rfmt_pct(w->m[DS_TM_ANSWERED_PCT], a, sizeof(a));
	ds_show_rcodes(w, 3, rc, sizeof(rc));
	static const ds_trial_metric_t pm[5] = {DS_TM_P50, DS_TM_P90, DS_TM_P99, DS_TM_P999,
	                                        DS_TM_MAX};
	for (int i = 0; i < 5; i++)
		ds_rfmt_lat(w->m[pm[i]], p[i], sizeof(p[i]));
	snprintf(to, sizeof(to), "%llu", (unsigned long long)w->timeouts);
	if (w->lag_max_ns >= 0)
		ds_rfmt_lat((double)w->lag_max_ns, lg, sizeof(lg));
	else
		snprintf(lg, sizeof(lg), "-");
	fprintf(f, "  ");
	ds_rfmt_cell(f, name, 12, true);
	const char *cells[] = {d, q, a};
	const int wd[] = {8, 8, 9};
	for (int i = 0; i < 3; i++)
		ds_rfmt_cell(f, cells[i], wd[i], false);
	fputs("  ", f);
	ds_rfmt_cell(f, rc, 32, true);
	for (int i = 0; i < 5; i++)
		ds_rfmt_cell(f, p[i], 8, false);
	ds_rfmt_cell(f, to, 9, false);
	fprintf(f, "  %s\n", lag ? lg : "");
}

void ds_show_print(FILE *f, const ds_trial_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const ds_trial_t *x = &t[i];
		char ts[32], lat[24];
		if (i)
			fputc('\n', f);
		fprintf(f,
		        "run %lld  label '%s'  tool %s  scenario '%s'  target %s  started %s  %s\n",
		        (long long)x->run.run_id, x->run.label ? x->run.label : "",
		        x->run.tool ? x->run.tool : "?", x->run.scenario ? x->run.scenario : "",
		        x->run.target && x->run.target[0] ? x->run.target : "-",
		        ds_rfmt_time(x->run.started_ns, ts, sizeof(ts)),
		        ds_store_status_name(x->run.status));
		fprintf(f, "  %-12s%8s%8s%9s  %-32s%8s%8s%8s%8s%8s%9s  %s\n", "phase", "time",
		        "qps", "answered", "rcodes", "p50", "p90", "p99", "p99.9", "max",
		        "timeouts", "lag max");
		for (size_t k = 0; k < x->nphases; k++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "%s%s", x->phases[k].name,
			         x->phases[k].measured ? " *" : "");
			row(f, &x->phases[k], nm, true);
		}
		if (x->summary_only) {
			/* Only what dnsperf printed exists: say so instead of dashes. */
			char mx[24];
			row(f, &x->total, "measured", true);
			fprintf(f,
			        "  summary statistics only (imported from %s): no percentiles; "
			        "mean %s, max %s\n",
			        x->run.tool, ds_rfmt_lat(x->total.m[DS_TM_MEAN], lat, sizeof(lat)),
			        ds_rfmt_lat(x->total.m[DS_TM_MAX], mx, sizeof(mx)));
		} else {
			row(f, &x->total, x->nphases ? "measured" : "run", true);
		}
		fprintf(f, "  schedule lag: %s; trial %s%s\n", x->lag,
		        x->valid ? "valid" : "INVALID: ", x->valid ? "" : x->why);
	}
	if (n > 1 || !n)
		fprintf(f, "%s%zu run%s; '*' = measured phase (the 'measured' row merges them)\n",
		        n ? "\n" : "", n, n == 1 ? "" : "s");
}

static void num(cJSON *o, const char *k, double v)
{
	if (isnan(v) || isinf(v))
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, v);
}

static cJSON *window_json(const ds_trial_window_t *w)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", w->name);
	if (w->seq >= 0)
		num(o, "seq", w->seq);
	cJSON_AddBoolToObject(o, "measured", w->measured);
	num(o, "t0_ns", (double)w->t0);
	num(o, "t1_ns", w->t1 == INT64_MAX ? NAN : (double)w->t1);
	num(o, "target_qps", w->target_qps);
	num(o, "target_qps_end", w->target_qps_end);
	num(o, "intervals", (double)w->nintervals);
	num(o, "dur_ns", (double)w->dur_ns);
	num(o, "sent", (double)w->sent);
	num(o, "answered", (double)w->answered);
	num(o, "timeouts", (double)w->timeouts);
	num(o, "late", (double)w->late);
	num(o, "drops", (double)w->drops);
	num(o, "late_sends", (double)w->late_sends);
	num(o, "send_errors", (double)w->send_errors);
	num(o, "lag_max_ns", w->lag_max_ns < 0 ? NAN : (double)w->lag_max_ns);
	cJSON *rc = cJSON_AddObjectToObject(o, "rcodes");
	for (int i = 0; i <= DS_STORE_NRCODE; i++) {
		uint64_t c = i < DS_STORE_NRCODE ? w->rcode[i] : w->rcode_other;
		char nm[16];
		if (c)
			num(rc, ds_rfmt_rcode(i == DS_STORE_NRCODE ? -1 : i, nm, sizeof(nm)),
			    (double)c);
	}
	cJSON *m = cJSON_AddObjectToObject(o, "metrics");
	for (int i = 0; i < DS_TM_COUNT; i++)
		num(m, ds_trial_metrics[i].key, w->m[i]);
	return o;
}

char *ds_show_json(const ds_trial_t *t, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const ds_trial_t *x = &t[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(a, o);
		num(o, "run_id", (double)x->run.run_id);
		cJSON_AddStringToObject(o, "label", x->run.label ? x->run.label : "");
		cJSON_AddStringToObject(o, "tool", x->run.tool ? x->run.tool : "");
		cJSON_AddStringToObject(o, "scenario", x->run.scenario ? x->run.scenario : "");
		cJSON_AddStringToObject(o, "target", x->run.target ? x->run.target : "");
		cJSON_AddStringToObject(o, "status", ds_store_status_name(x->run.status));
		num(o, "started_ns", (double)x->run.started_ns);
		cJSON_AddBoolToObject(o, "valid", x->valid);
		if (!x->valid)
			cJSON_AddStringToObject(o, "invalid_reason", x->why);
		cJSON_AddStringToObject(o, "schedule_lag", x->lag);
		cJSON_AddBoolToObject(o, "summary_only", x->summary_only);
		cJSON *ph = cJSON_AddArrayToObject(o, "phases");
		for (size_t k = 0; k < x->nphases; k++)
			cJSON_AddItemToArray(ph, window_json(&x->phases[k]));
		cJSON_AddItemToObject(o, "measured", window_json(&x->total));
	}
	char *s = cJSON_Print(a);
	cJSON_Delete(a);
	return s;
}
