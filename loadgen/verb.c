/* SPDX-License-Identifier: MIT */
/* Command-line plumbing of `dnsurge load` and `dnsurge replay` (verb.h). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "loadgen/verb.h"

void ds_verb_init(ds_verb_t *v, const char *name, int64_t *timeout_ns, bool *timeout_in_hist,
		  int64_t *max_lag_ns)
{
	memset(v, 0, sizeof(*v));
	v->name = name;
	v->timeout_ns = timeout_ns;
	v->timeout_in_hist = timeout_in_hist;
	v->max_lag_ns = max_lag_ns;
	v->db_path = "dnsurge.db";
	v->run_id = -1;
}

int ds_verb_bad(const char *verb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "dnsurge %s: ", verb);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return DS_VERB_EXIT_USAGE;
}

int ds_verb_uint(const char *verb, const char *opt, const char *s, long long min, long long max,
		 long long *out)
{
	if (ds_parse_int(s, min, max, out) < 0)
		return ds_verb_bad(verb, "--%s: '%s' is not a whole number in %lld..%lld", opt, s,
				   min, max);
	return 0;
}

int ds_verb_duration(const char *verb, const char *opt, const char *s, int64_t *out)
{
	if (ds_parse_duration(s, out) < 0 || *out < 0)
		return ds_verb_bad(verb, "--%s: '%s' is not a duration (e.g. 500ms, 2s, 1m30s)", opt,
				   s);
	return 0;
}

const char *ds_verb_localhost(const char *s, char *buf, size_t size)
{
	if (strncmp(s, "localhost:", 10))
		return s;
	snprintf(buf, size, "127.0.0.1:%s", s + 10);
	return buf;
}

int ds_verb_opt(ds_verb_t *v, int o, const char *arg)
{
	int64_t d;
	switch (o) {
	case DS_VERB_O_TIMEOUT:
		if (ds_verb_duration(v->name, "timeout", arg, &d))
			return -1;
		if (d <= 0)
			return ds_verb_bad(v->name, "--timeout: must be more than 0"), -1;
		*v->timeout_ns = d;
		return 1;
	case DS_VERB_O_NOTIH:
		*v->timeout_in_hist = false;
		return 1;
	case DS_VERB_O_MAXLAG:
		return ds_verb_duration(v->name, "max-lag", arg, v->max_lag_ns) ? -1 : 1;
	case DS_VERB_O_JSON:
		v->json = true;
		return 1;
	case DS_VERB_O_DB:
		v->db_path = arg;
		return 1;
	case DS_VERB_O_NODB:
		v->no_db = true;
		return 1;
	case DS_VERB_O_LABEL:
		v->label = arg;
		return 1;
	}
	return 0;
}

cJSON *ds_verb_params(int argc, char **argv)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "argv");
	for (int i = 0; a && i < argc; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
	return o;
}

int ds_verb_record_begin(ds_verb_t *v, cJSON *params, uint64_t seed, int argc, char **argv)
{
	ds_err_t err = {{0}};
	char *cfg_text = NULL, *pj = NULL;
	int rc = 0;
	if (v->no_db)
		goto out;
	v->db = ds_store_open(v->db_path, 0, &err);
	if (!v->db) {
		rc = ds_verb_bad(v->name, "%s", err.msg);
		goto out;
	}
	/* The command line as the run's config text: "dnsurge" and argv. */
	cfg_text = ds_join_words("dnsurge", (const char *const *)argv, (size_t)argc);
	pj = cJSON_PrintUnformatted(params);
	ds_store_run_info_t ri = {
		.tool = v->name,
		.label = v->label,
		.scenario = "",
		.target = v->target,
		.config_text = cfg_text,
		.params_json = pj,
		.seed = seed,
		.timeout_ns = *v->timeout_ns,
		.timeout_in_hist = *v->timeout_in_hist,
	};
	if (ds_store_run_begin(v->db, &ri, &v->run_id, &err) < 0) {
		rc = ds_verb_bad(v->name, "%s", err.msg);
		goto out;
	}
	v->wr = ds_store_writer_start(v->db, v->run_id, NULL, &err);
	if (!v->wr) {
		ds_store_run_end(v->db, v->run_id, DS_STORE_FAILED, err.msg, NULL, NULL);
		rc = ds_verb_bad(v->name, "%s", err.msg);
	}
out:
	free(pj);
	free(cfg_text);
	cJSON_Delete(params);
	return rc;
}

int ds_verb_interval(ds_verb_t *v, const ds_load_snap_t *s, double target_qps, bool lag, bool tcp)
{
	ds_store_interval_t iv;
	ds_store_hist_ref_t h[3];
	ds_summary_interval(s, target_qps, lag, tcp, &iv, h);
	if (v->store_err == DS_OK)
		v->store_err = ds_store_writer_interval(v->wr, &iv, h, 3);
	return v->store_err;
}

void ds_verb_phase(ds_verb_t *v, const ds_store_phase_t *p)
{
	if (v->store_err == DS_OK)
		v->store_err = ds_store_writer_phase(v->wr, p);
}

/* Read by the handler: the object set last is the one running. */
static void (*volatile g_stop)(void *);
static void *volatile g_stop_obj;
static struct sigaction g_old;

static void on_sigint(int sig)
{
	(void)sig;
	if (g_stop && g_stop_obj)
		g_stop(g_stop_obj);
}

void ds_verb_sigint(void (*stop)(void *), void *stop_obj)
{
	if (!stop_obj) {
		sigaction(SIGINT, &g_old, NULL);
		g_stop_obj = NULL;
		g_stop = NULL;
		return;
	}
	struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};
	sigemptyset(&sa.sa_mask);
	g_stop = stop;
	g_stop_obj = stop_obj;
	sigaction(SIGINT, &sa, &g_old);
}

static bool interrupted(const ds_verb_t *v, const ds_load_result_t *r)
{
	return r->end == DS_LOAD_END_STOPPED && v->store_err == DS_OK;
}

void ds_verb_summary_in(const ds_verb_t *v, const ds_load_result_t *r, bool start_failed,
			ds_summary_in_t *si)
{
	const char *status = start_failed		 ? "failed"
			     : v->store_err != DS_OK ? "failed"
			     : interrupted(v, r)     ? "aborted"
			     : r->valid		     ? "ok"
						     : "invalid";
	*si = (ds_summary_in_t){
		.r = r,
		.target = v->target,
		.source = v->source,
		.label = v->label,
		.status = status,
		.db = v->no_db ? NULL : v->db_path,
		.run_id = v->run_id,
		.timeout_ns = *v->timeout_ns,
		.timeout_in_hist = *v->timeout_in_hist,
		.shard_count = 1,
		.tool = v->name,
	};
}

/* End the stored run; returns the status, "failed" if the store failed. */
static const char *record_end(ds_verb_t *v, const ds_summary_in_t *si, const char *summary,
			      int64_t duration_ns)
{
	const ds_load_result_t *r = si->r;
	const char *status = si->status;
	ds_err_t err = {{0}};
	int wrc = ds_store_writer_stop(v->wr, &err);
	v->wr = NULL;
	char reason[600], of[64] = "";
	ds_store_status_t st = DS_STORE_OK;
	const char *why = NULL;
	if (wrc < 0 || v->store_err < 0) {
		st = DS_STORE_FAILED;
		why = wrc < 0 ? err.msg : ds_strerror(v->store_err);
		fprintf(stderr, "dnsurge %s: results store: %s\n", v->name, why);
		status = "failed";
	} else if (interrupted(v, r)) {
		st = DS_STORE_ABORTED;
		if (duration_ns)
			snprintf(of, sizeof(of), " of %.1f s", (double)duration_ns / 1e9);
		snprintf(reason, sizeof(reason), "interrupted (SIGINT) after %.1f s%s%s%s",
			 (double)r->elapsed_ns / 1e9, of, r->valid ? "" : "; also invalid: ",
			 r->valid ? "" : r->invalid_reason);
		why = reason;
	} else if (!r->valid) {
		st = DS_STORE_INVALID;
		why = r->invalid_reason;
	}
	if (ds_store_run_end(v->db, v->run_id, st, why, summary, &err) < 0) {
		fprintf(stderr, "dnsurge %s: results store: %s\n", v->name, err.msg);
		status = "failed";
	}
	return status;
}

int ds_verb_finish(ds_verb_t *v, ds_summary_in_t *si, cJSON *js, int64_t duration_ns,
		   void (*print_more)(FILE *f, void *arg), void *arg)
{
	if (v->wr) {
		char *sj = js ? cJSON_PrintUnformatted(js) : NULL;
		si->status = record_end(v, si, sj, duration_ns);
		free(sj);
		if (js)
			cJSON_ReplaceItemInObject(js, "status", cJSON_CreateString(si->status));
	}
	if (v->json) {
		char *out = js ? cJSON_PrintUnformatted(js) : NULL;
		if (out)
			printf("%s\n", out);
		free(out);
	} else {
		ds_summary_print(stdout, si);
		if (print_more)
			print_more(stdout, arg);
	}
	fflush(stdout);
	cJSON_Delete(js);
	if (!strcmp(si->status, "failed"))
		return DS_VERB_EXIT_FAILED;
	if (interrupted(v, si->r))
		return DS_VERB_EXIT_INTERRUPTED;
	return si->r->valid ? 0 : DS_VERB_EXIT_INVALID;
}

void ds_verb_close(ds_verb_t *v)
{
	if (v->wr)
		ds_store_writer_stop(v->wr, NULL);
	v->wr = NULL;
	ds_store_close(v->db);
	v->db = NULL;
}
