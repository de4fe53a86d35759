/* SPDX-License-Identifier: MIT */
/* End-of-run report (summary.h). */
#include <stdio.h>
#include <string.h>

#include "lib/wire.h"
#include "loadgen/summary.h"

const char *ds_summary_rcode_name(unsigned rc, char *buf)
{
	const char *n = ds_rcode_str(rc, buf);
	/* Unnamed codes come back as a bare number; a JSON key or a table
	 * row reads better with a prefix. */
	if (n[0] >= '0' && n[0] <= '9')
		snprintf(buf, 16, "RCODE%u", rc & 0xfff);
	else if (n != buf)
		snprintf(buf, 16, "%s", n);
	return buf;
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

static double secs(const ds_load_result_t *r)
{
	return r->elapsed_ns > 0 ? (double)r->elapsed_ns / 1e9 : 0;
}

static cJSON *lat_obj(const ds_hist_t *h)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	bool any = h->count > 0;
	cJSON_AddNumberToObject(o, "p50", any ? ms(ds_hist_quantile(h, 0.50)) : 0);
	cJSON_AddNumberToObject(o, "p90", any ? ms(ds_hist_quantile(h, 0.90)) : 0);
	cJSON_AddNumberToObject(o, "p99", any ? ms(ds_hist_quantile(h, 0.99)) : 0);
	cJSON_AddNumberToObject(o, "p999", any ? ms(ds_hist_quantile(h, 0.999)) : 0);
	cJSON_AddNumberToObject(o, "max", any ? ms(h->max) : 0);
	cJSON_AddNumberToObject(o, "mean", any ? ds_hist_mean(h) / 1e6 : 0);
	cJSON_AddNumberToObject(o, "count", (double)h->count);
	return o;
}

static void jstr(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

cJSON *ds_summary_json(const ds_summary_in_t *in)
{
	const ds_load_result_t *r = in->r;
	const ds_meter_t *t = &r->total;
	double s = secs(r);
	char b[16];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	jstr(o, "tool", in->tool ? in->tool : "load");
	jstr(o, "label", in->label);
	jstr(o, "target", in->target);
	jstr(o, "load_model", r->closed_loop ? "closed" : "open");
	jstr(o, "spacing", r->closed_loop ? NULL : in->spacing);
	jstr(o, "profile", r->closed_loop ? NULL : in->profile);
	if (r->closed_loop)
		cJSON_AddNumberToObject(o, "max_outstanding", in->max_outstanding);
	jstr(o, "source", in->source);
	char shard[32];
	snprintf(shard, sizeof(shard), "%u/%u", in->shard_index + 1, in->shard_count);
	jstr(o, "shard", shard);
	cJSON_AddNumberToObject(o, "seed", (double)in->seed);
	cJSON_AddNumberToObject(o, "elapsed_s", s);
	cJSON_AddNumberToObject(o, "scheduled", r->closed_loop ? 0 : r->scheduled);
	cJSON_AddNumberToObject(o, "sent", (double)t->sent);
	cJSON_AddNumberToObject(o, "answered", (double)t->answered);
	cJSON_AddNumberToObject(o, "timeouts", (double)t->timeouts);
	cJSON_AddNumberToObject(o, "late", (double)t->late);
	cJSON_AddNumberToObject(o, "mismatched", (double)t->mismatched);
	cJSON_AddNumberToObject(o, "malformed", (double)t->malformed);
	cJSON_AddNumberToObject(o, "truncated", (double)t->truncated);
	cJSON_AddNumberToObject(o, "send_errors", (double)t->send_errors);
	cJSON_AddNumberToObject(o, "refused", (double)t->refused);
	cJSON_AddNumberToObject(o, "drops", (double)t->drops);
	cJSON_AddNumberToObject(o, "socket_drops", (double)r->sock_drops);
	cJSON_AddNumberToObject(o, "host_udp_rcvbuf_errors", (double)r->host_rcvbuf_errors);
	if (t->conn_opened || t->conn_failed) {
		cJSON_AddNumberToObject(o, "conn_opened", (double)t->conn_opened);
		cJSON_AddNumberToObject(o, "conn_failed", (double)t->conn_failed);
	}
	cJSON_AddNumberToObject(o, "qps", s > 0 ? (double)t->answered / s : 0);
	cJSON_AddNumberToObject(o, "sent_qps", s > 0 ? (double)t->sent / s : 0);
	cJSON_AddNumberToObject(o, "target_qps",
				r->closed_loop || s <= 0 ? 0 : r->scheduled / s);
	cJSON_AddNumberToObject(o, "answered_pct",
				t->sent ? 100.0 * (double)t->answered / (double)t->sent : 0);
	cJSON_AddItemToObject(o, "latency_ms", lat_obj(&t->response));
	cJSON_AddItemToObject(o, "service_ms", lat_obj(&t->service));
	cJSON *rc = cJSON_AddObjectToObject(o, "rcodes");
	for (unsigned i = 0; rc && i < 16; i++)
		if (t->rcode[i])
			cJSON_AddNumberToObject(rc, ds_summary_rcode_name(i, b), (double)t->rcode[i]);
	cJSON *lag = cJSON_AddObjectToObject(o, "schedule_lag_ms");
	if (lag) {
		bool any = t->lag.count > 0;
		cJSON_AddNumberToObject(lag, "p50", any ? ms(ds_hist_quantile(&t->lag, 0.5)) : 0);
		cJSON_AddNumberToObject(lag, "p99", any ? ms(ds_hist_quantile(&t->lag, 0.99)) : 0);
		cJSON_AddNumberToObject(lag, "max", any ? ms(t->lag.max) : 0);
		cJSON_AddNumberToObject(lag, "worst_second_p99",
					r->lag_p99_max_ns >= 0 ? ms(r->lag_p99_max_ns) : 0);
		cJSON_AddNumberToObject(lag, "late_sends", (double)t->late_sends);
	}
	cJSON_AddNumberToObject(o, "timeout_ms", ms(in->timeout_ns));
	cJSON_AddBoolToObject(o, "timeout_in_hist", in->timeout_in_hist);
	cJSON_AddBoolToObject(o, "valid", r->valid);
	jstr(o, "invalid_reason", r->valid ? NULL : r->invalid_reason);
	jstr(o, "status", in->status);
	jstr(o, "db", in->db);
	if (in->run_id >= 0)
		cJSON_AddNumberToObject(o, "run_id", (double)in->run_id);
	else
		cJSON_AddNullToObject(o, "run_id");
	return o;
}

static void pct_line(FILE *f, const char *name, const ds_hist_t *h)
{
	if (!h->count) {
		fprintf(f, "  %-22s -\n", name);
		return;
	}
	fprintf(f, "  %-22s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n",
		name, ms(ds_hist_quantile(h, 0.5)), ms(ds_hist_quantile(h, 0.9)),
		ms(ds_hist_quantile(h, 0.99)), ms(ds_hist_quantile(h, 0.999)), ms(h->max),
		ds_hist_mean(h) / 1e6);
}

void ds_summary_print(FILE *f, const ds_summary_in_t *in)
{
	const ds_load_result_t *r = in->r;
	const ds_meter_t *t = &r->total;
	double s = secs(r);
	double sent = t->sent ? (double)t->sent : 1;
	char b[16];
	fprintf(f, "\nStatistics:\n\n");
	if (in->model)
		fprintf(f, "  Load model:            %s\n", in->model);
	else if (r->closed_loop)
		fprintf(f, "  Load model:            CLOSED LOOP, %u queries outstanding (not comparable with open-loop latency)\n",
			in->max_outstanding);
	else
		fprintf(f, "  Load model:            open loop, %s spacing, profile %s\n",
			in->spacing ? in->spacing : "constant", in->profile ? in->profile : "-");
	fprintf(f, "  Target:                %s%s%s\n", in->target ? in->target : "-",
		in->label ? ", label " : "", in->label ? in->label : "");
	if (in->source)
		fprintf(f, "  Queries from:          %s\n", in->source);
	if (in->shard_count > 1)
		fprintf(f, "  Shard:                 %u of %u\n", in->shard_index + 1, in->shard_count);
	if (!r->closed_loop)
		fprintf(f, "  Queries scheduled:     %.0f\n", r->scheduled);
	fprintf(f, "  Queries sent:          %llu\n", (unsigned long long)t->sent);
	fprintf(f, "  Queries completed:     %llu (%.2f%%)\n", (unsigned long long)t->answered,
		100.0 * (double)t->answered / sent);
	fprintf(f, "  Queries lost:          %llu (%.2f%%) [timeouts after %.0f ms]\n",
		(unsigned long long)t->timeouts, 100.0 * (double)t->timeouts / sent,
		ms(in->timeout_ns));
	fprintf(f, "  Late / mismatched / malformed answers: %llu / %llu / %llu\n",
		(unsigned long long)t->late, (unsigned long long)t->mismatched,
		(unsigned long long)t->malformed);
	fprintf(f, "  Generator: send errors %llu, never sent %llu, socket drops %llu; refused by target %llu\n",
		(unsigned long long)t->send_errors, (unsigned long long)t->drops,
		(unsigned long long)r->sock_drops, (unsigned long long)t->refused);
	if (t->conn_opened || t->conn_failed)
		fprintf(f, "  Connections:           %llu opened, %llu failed\n",
			(unsigned long long)t->conn_opened, (unsigned long long)t->conn_failed);
	fprintf(f, "\n  Response codes:       ");
	bool first = true;
	for (unsigned i = 0; i < 16; i++) {
		if (!t->rcode[i])
			continue;
		fprintf(f, "%s %s %llu (%.2f%%)", first ? "" : ",", ds_summary_rcode_name(i, b),
			(unsigned long long)t->rcode[i],
			100.0 * (double)t->rcode[i] / (double)(t->answered ? t->answered : 1));
		first = false;
	}
	if (first)
		fprintf(f, " none");
	fprintf(f, "\n  Average packet size:   request %.0f, response %.0f\n",
		(double)t->bytes_sent / sent,
		t->answered + t->late ? (double)t->bytes_recv / (double)(t->answered + t->late) : 0);
	fprintf(f, "  Run time (s):          %.3f\n", s);
	fprintf(f, "  Queries per second:    %.1f answered, %.1f sent", s > 0 ? (double)t->answered / s : 0,
		s > 0 ? (double)t->sent / s : 0);
	if (!r->closed_loop && s > 0)
		fprintf(f, ", %.1f scheduled", r->scheduled / s);
	fprintf(f, "\n\n");
	pct_line(f, r->closed_loop ? "Latency (ms):" : "Response time (ms):", &t->response);
	if (!r->closed_loop)
		pct_line(f, "Service time (ms):", &t->service);
	if (in->timeout_in_hist && t->timeouts)
		fprintf(f, "  (percentiles include %llu timeouts at %.0f ms)\n",
			(unsigned long long)t->timeouts, ms(in->timeout_ns));
	if (!r->closed_loop)
		fprintf(f, "  Schedule lag:          p99 %.3f ms, max %.3f ms, worst second p99 %.3f ms\n",
			t->lag.count ? ms(ds_hist_quantile(&t->lag, 0.99)) : 0,
			t->lag.count ? ms(t->lag.max) : 0,
			r->lag_p99_max_ns > 0 ? ms(r->lag_p99_max_ns) : 0);
	if (r->valid)
		fprintf(f, "\n  Result:                valid");
	else
		fprintf(f, "\n  Result:                INVALID: %s", r->invalid_reason);
	if (in->status && strcmp(in->status, "ok") && strcmp(in->status, "invalid"))
		fprintf(f, " (run %s)", in->status);
	fprintf(f, "\n");
	if (in->db && in->run_id >= 0)
		fprintf(f, "  Recorded:              %s, run %lld\n", in->db, (long long)in->run_id);
	fprintf(f, "\n");
}

void ds_summary_progress(FILE *f, const ds_load_snap_t *s, const char *target)
{
	const ds_meter_t *m = s->m;
	double d = s->dur_ns > 0 ? (double)s->dur_ns / 1e9 : 1;
	fprintf(f,
		"\r\033[K%6.0fs  %s  sent %.0f qps  answered %.0f qps (%.2f%%)  p99 %.3f ms  timeouts %llu",
		(double)(s->t_ns + s->dur_ns) / 1e9, target, (double)m->sent / d,
		(double)m->answered / d,
		m->sent ? 100.0 * (double)m->answered / (double)m->sent : 0.0,
		m->response.count ? (double)ds_hist_quantile(&m->response, 0.99) / 1e6 : 0.0,
		(unsigned long long)m->timeouts);
	if (s->final)
		fputc('\n', f);
	fflush(f);
}

void ds_summary_interval(const ds_load_snap_t *s, double target_qps, bool lag, bool tcp,
			 ds_store_interval_t *iv, ds_store_hist_ref_t h[3])
{
	const ds_meter_t *m = s->m;
	ds_store_interval_init(iv, s->t_wall_ns, s->dur_ns);
	iv->target_qps = target_qps;
	iv->sent = m->sent;
	iv->answered = m->answered;
	iv->timeouts = m->timeouts;
	iv->late = m->late;
	iv->mismatched = m->mismatched;
	iv->malformed = m->malformed;
	iv->truncated = m->truncated;
	iv->send_errors = m->send_errors;
	iv->drops = m->drops;
	iv->outstanding = s->outstanding;
	iv->bytes_sent = m->bytes_sent;
	iv->bytes_recv = m->bytes_recv;
	if (lag && m->lag.count) {
		iv->lag_p99_ns = ds_hist_quantile(&m->lag, 0.99);
		iv->lag_max_ns = m->lag.max;
	}
	iv->late_sends = m->late_sends;
	if (tcp) {
		iv->conn_active = s->conn_active;
		iv->conn_opened = (int64_t)m->conn_opened;
		iv->conn_failed = (int64_t)m->conn_failed;
	}
	for (int i = 0; i < 16; i++)
		iv->rcode[i] = m->rcode[i];
	h[0] = (ds_store_hist_ref_t){.metric = "response_time", .hist = &m->response};
	h[1] = (ds_store_hist_ref_t){.metric = "service_time", .hist = &m->service};
	h[2] = (ds_store_hist_ref_t){.metric = "sched_lag", .hist = lag ? &m->lag : NULL};
}
