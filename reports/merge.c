/* SPDX-License-Identifier: MIT */
/*
 * dnsurge report merge: the shards of one load made one run (merge.h).
 * Inputs are read in two passes: runs, intervals and phases first (they
 * fix the time grid), then the histograms row by row straight into the
 * merged seconds, so memory holds one histogram per merged second and
 * metric, never the shards' own.
 */
#include "reports/merge.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/util.h"
#include "reports/cli.h"
#include "reports/fmt.h"
#include "reports/report.h"

/* Writer queue bound: flush (and wait for the disk) every this many intervals. */
#define FLUSH_EVERY 256

/* One input run and what was read of it. */
typedef struct src {
	const char *path;
	ds_store_t *db;
	ds_store_run_t run;
	bool have_run;
	cJSON *params, *summary; /* parsed params_json / summary_json, NULL if none */
	unsigned shard, nshards; /* 1-based shard I of N */
	ds_store_interval_t *iv;
	size_t niv;
	ds_store_phase_t *ph;
	size_t nph;
	int64_t t_first, t_end; /* first interval start, last interval end */
} src_t;

/* A histogram of one merged second, metric and label set. */
typedef struct mhist {
	char *metric, *labels;
	ds_hist_t h;
} mhist_t;

/* One merged second. */
typedef struct slot {
	int64_t key; /* seconds from the anchor */
	ds_store_interval_t iv;
	mhist_t *h;
	size_t nh;
} slot_t;

typedef struct merge {
	src_t *s;
	size_t n;
	slot_t *slots;
	size_t nslots;
	int64_t anchor; /* wall ns of merged second 0 */
	ds_merge_result_t *res;
} merge_t;

/* ------------------------------------------------------------ problems */

static int problem(ds_merge_result_t *r, const char *fmt, ...) DS_PRINTF(2, 3);
static int problem(ds_merge_result_t *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char **p = realloc(r->problems, (r->nproblems + 1) * sizeof(*p));
	if (!p)
		return DS_ENOMEM;
	r->problems = p;
	if (!(p[r->nproblems] = strdup(buf)))
		return DS_ENOMEM;
	r->nproblems++;
	return DS_OK;
}

void ds_merge_result_free(ds_merge_result_t *r)
{
	for (size_t i = 0; i < r->nproblems; i++)
		free(r->problems[i]);
	free(r->problems);
	free(r->summary_json);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------- reading */

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "what" of s for messages: "shard 3/8 (FILE run 12)". */
static const char *who(const src_t *s, char *buf, size_t len)
{
	if (s->nshards)
		snprintf(buf, len, "shard %u/%u (%s run %" PRId64 ")", s->shard, s->nshards,
		         s->path, s->run.run_id);
	else
		snprintf(buf, len, "%s run %" PRId64, s->path, s->run.run_id);
	return buf;
}

static int pick_run(src_t *s, int64_t run_id, ds_err_t *err)
{
	if (run_id > 0) {
		int rc = ds_store_run_get(s->db, run_id, &s->run, err);
		s->have_run = rc == DS_OK;
		return rc;
	}
	ds_store_run_t *runs = NULL;
	size_t n = 0;
	int rc = ds_store_runs_list(s->db, NULL, "load", NULL, &runs, &n, err);
	if (rc < 0)
		return rc;
	if (n != 1) {
		char ids[160] = "";
		for (size_t i = 0, o = 0; i < n && o < sizeof(ids) - 24; i++)
			o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%" PRId64, i ? ", " : "",
			                      runs[i].run_id);
		rc = ds_errf(err, n ? DS_EINVAL : DS_ENOENT,
		             "%s holds %zu load runs%s%s%s: name one as %s:RUN_ID", s->path, n,
		             n ? " (" : "", ids, n ? ")" : "", s->path);
		ds_store_runs_free(runs, n);
		return rc;
	}
	s->run = runs[0];
	s->have_run = true;
	free(runs); /* the strings now belong to s->run */
	return DS_OK;
}

static int read_src(src_t *s, const ds_merge_input_t *in, ds_err_t *err)
{
	s->path = in->path;
	if (access(in->path, F_OK) != 0)
		return ds_errf(err, DS_ENOENT, "%s: no such file", in->path);
	s->db = ds_store_open(in->path, DS_STORE_RDONLY, err);
	if (!s->db)
		return DS_EIO;
	int rc = pick_run(s, in->run_id, err);
	if (rc < 0)
		return rc;
	s->params = s->run.params_json ? cJSON_Parse(s->run.params_json) : NULL;
	s->summary = s->run.summary_json ? cJSON_Parse(s->run.summary_json) : NULL;
	const char *sh = jstr(s->params, "shard");
	unsigned i, k;
	char tail;
	if (sh && sscanf(sh, "%u/%u%c", &i, &k, &tail) == 2 && i >= 1 && i <= k) {
		s->shard = i;
		s->nshards = k;
	}
	if ((rc = ds_store_intervals_load(s->db, s->run.run_id, &s->iv, &s->niv, err)) < 0)
		return rc;
	if ((rc = ds_store_phases_load(s->db, s->run.run_id, &s->ph, &s->nph, err)) < 0)
		return rc;
	s->t_first = s->niv ? s->iv[0].t_ns : s->run.started_ns;
	s->t_end = s->t_first;
	for (size_t j = 0; j < s->niv; j++)
		if (s->iv[j].t_ns + s->iv[j].dur_ns > s->t_end)
			s->t_end = s->iv[j].t_ns + s->iv[j].dur_ns;
	return DS_OK;
}

static void free_src(src_t *s)
{
	if (s->have_run)
		ds_store_run_free(&s->run);
	cJSON_Delete(s->params);
	cJSON_Delete(s->summary);
	free(s->iv);
	ds_store_phases_free(s->ph, s->nph);
	ds_store_close(s->db);
}

/* ----------------------------------------------------------- belonging */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* One rule over every input: a problem naming the first that differs. */
static int agree(merge_t *m, const char *what, const char *(*get)(const src_t *))
{
	const char *v0 = get(&m->s[0]);
	for (size_t i = 1; i < m->n; i++) {
		const char *v = get(&m->s[i]);
		if (!same_str(v0, v)) {
			char a[300], b[300];
			return problem(m->res, "different %s: '%s' in %s, '%s' in %s", what,
			               v0 ? v0 : "(none)", who(&m->s[0], a, sizeof(a)),
			               v ? v : "(none)", who(&m->s[i], b, sizeof(b)));
		}
	}
	return DS_OK;
}

static const char *g_label(const src_t *s)
{
	return s->run.label;
}
static const char *g_scenario(const src_t *s)
{
	return s->run.scenario;
}
static const char *g_target(const src_t *s)
{
	return s->run.target;
}
static const char *g_profile(const src_t *s)
{
	const char *p = jstr(s->params, "profile");
	return p ? p : jstr(s->params, "load_model");
}
static const char *g_spacing(const src_t *s)
{
	return jstr(s->params, "spacing");
}
static const char *g_source(const src_t *s)
{
	return jstr(s->params, "source");
}

static int check_inputs(merge_t *m)
{
	ds_merge_result_t *r = m->res;
	char a[300], b[300];
	int rc = DS_OK;
	for (size_t i = 0; i < m->n && rc == DS_OK; i++) {
		const src_t *s = &m->s[i];
		if (strcmp(s->run.tool, "load"))
			rc = problem(r, "%s is a '%s' run, not a load run", who(s, a, sizeof(a)),
			             s->run.tool);
		else if (s->run.status == DS_STORE_RUNNING)
			rc = problem(r, "%s is still running (or its writer died on another host)",
			             who(s, a, sizeof(a)));
		else if (!s->nshards)
			rc = problem(r, "%s records no shard I/N in its parameters",
			             who(s, a, sizeof(a)));
		for (size_t k = 0; k < i && rc == DS_OK; k++)
			if (s->run.run_id == m->s[k].run.run_id && !strcmp(s->path, m->s[k].path))
				rc = problem(r, "%s is given twice", who(s, a, sizeof(a)));
	}
	if (rc == DS_OK)
		rc = agree(m, "label", g_label);
	if (rc == DS_OK)
		rc = agree(m, "scenario", g_scenario);
	if (rc == DS_OK)
		rc = agree(m, "profile", g_profile);
	if (rc == DS_OK)
		rc = agree(m, "spacing", g_spacing);
	if (rc == DS_OK)
		rc = agree(m, "query source", g_source);
	if (rc == DS_OK)
		rc = agree(m, "target", g_target);
	const src_t *s0 = &m->s[0];
	for (size_t i = 1; i < m->n && rc == DS_OK; i++) {
		const src_t *s = &m->s[i];
		if (s->run.seed != s0->run.seed)
			rc = problem(r,
			             "different seeds (%" PRIu64 " in %s, %" PRIu64 " in %s): the "
			             "shards did not split one query sequence",
			             s0->run.seed, who(s0, a, sizeof(a)), s->run.seed,
			             who(s, b, sizeof(b)));
		else if (s->run.timeout_ns != s0->run.timeout_ns ||
		         s->run.timeout_in_hist != s0->run.timeout_in_hist)
			rc = problem(r,
			             "different timeout policies in %s and %s: their percentiles "
			             "do not mix",
			             who(s0, a, sizeof(a)), who(s, b, sizeof(b)));
	}
	/* Shards 1..N of one N, each once. */
	unsigned nsh = s0->nshards;
	size_t *seen = nsh ? calloc(nsh + 1, sizeof(*seen)) : NULL; /* input index + 1 */
	if (nsh && !seen)
		return DS_ENOMEM;
	for (size_t i = 0; i < m->n && rc == DS_OK && nsh; i++) {
		const src_t *s = &m->s[i];
		const src_t *p =
		    s->nshards == nsh && seen[s->shard] ? &m->s[seen[s->shard] - 1] : NULL;
		if (s->nshards != nsh)
			rc = problem(r, "%s is of %u shards, %s of %u", who(s, a, sizeof(a)),
			             s->nshards, who(s0, b, sizeof(b)), nsh);
		else if (p && p->run.run_id == s->run.run_id && !strcmp(p->path, s->path))
			continue; /* the same input twice: said above */
		else if (p)
			rc = problem(r,
			             "shard %u/%u is given twice (%s run %" PRId64
			             " and %s run %" PRId64 "): its queries would count double",
			             s->shard, nsh, p->path, p->run.run_id, s->path, s->run.run_id);
		else
			seen[s->shard] = i + 1;
	}
	if (rc == DS_OK && nsh) {
		char miss[200] = "";
		size_t o = 0, nmiss = 0;
		for (unsigned k = 1; k <= nsh; k++)
			if (!seen[k] && o < sizeof(miss) - 16) {
				o += (size_t)snprintf(miss + o, sizeof(miss) - o, "%s%u",
				                      nmiss ? ", " : "", k);
				nmiss++;
			}
		if (nmiss)
			rc = problem(r,
			             "shard%s %s of %u missing: the merged run would not be the "
			             "whole load",
			             nmiss > 1 ? "s" : "", miss, nsh);
	}
	free(seen);
	/* Shards of one load run at the same time. */
	int64_t last_start = INT64_MIN, first_end = INT64_MAX;
	size_t ls = 0, fe = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->s[i].t_first > last_start)
			last_start = m->s[i].t_first, ls = i;
		if (m->s[i].t_end < first_end)
			first_end = m->s[i].t_end, fe = i;
	}
	if (rc == DS_OK && last_start >= first_end)
		rc = problem(r, "%s ended before %s started: not one load",
		             who(&m->s[fe], a, sizeof(a)), who(&m->s[ls], b, sizeof(b)));
	return rc;
}

/* ------------------------------------------------------------- merging */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The merged second nearest t: the shards' own seconds start wherever each
 * process started, and nearest keeps each of them whole. */
static int64_t key_of(const merge_t *m, int64_t t)
{
	int64_t d = t - m->anchor + DS_NS_PER_SEC / 2;
	return d >= 0 ? d / DS_NS_PER_SEC : -((-d + DS_NS_PER_SEC - 1) / DS_NS_PER_SEC);
}

static slot_t *slot_of(merge_t *m, int64_t t)
{
	int64_t k = key_of(m, t);
	size_t lo = 0, hi = m->nslots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->slots[mid].key < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nslots && m->slots[lo].key == k ? &m->slots[lo] : NULL;
}

static int make_slots(merge_t *m)
{
	size_t total = 0;
	m->anchor = INT64_MAX;
	for (size_t i = 0; i < m->n; i++) {
		total += m->s[i].niv;
		if (m->s[i].t_first < m->anchor)
			m->anchor = m->s[i].t_first;
	}
	int64_t *keys = malloc((total ? total : 1) * sizeof(*keys));
	if (!keys)
		return DS_ENOMEM;
	size_t nk = 0;
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->s[i].niv; j++)
			keys[nk++] = key_of(m, m->s[i].iv[j].t_ns);
	qsort(keys, nk, sizeof(*keys), cmp_i64);
	m->slots = calloc(nk ? nk : 1, sizeof(*m->slots));
	if (!m->slots) {
		free(keys);
		return DS_ENOMEM;
	}
	for (size_t i = 0; i < nk; i++) {
		if (m->nslots && m->slots[m->nslots - 1].key == keys[i])
			continue;
		slot_t *s = &m->slots[m->nslots++];
		s->key = keys[i];
		ds_store_interval_init(&s->iv, m->anchor + keys[i] * DS_NS_PER_SEC, 0);
	}
	free(keys);
	return DS_OK;
}

static void add_opt(int64_t *d, int64_t x)
{
	if (x >= 0)
		*d = (*d < 0 ? 0 : *d) + x;
}

/* Counters add; the lag p99 is replaced by the merged histogram's later. */
static void iv_add(ds_store_interval_t *d, const ds_store_interval_t *x)
{
	if (x->dur_ns > d->dur_ns)
		d->dur_ns = x->dur_ns;
	if (!isnan(x->target_qps))
		d->target_qps =
		    isnan(d->target_qps) ? x->target_qps : d->target_qps + x->target_qps;
	d->sent += x->sent;
	d->answered += x->answered;
	d->timeouts += x->timeouts;
	d->late += x->late;
	d->mismatched += x->mismatched;
	d->malformed += x->malformed;
	d->truncated += x->truncated;
	d->send_errors += x->send_errors;
	d->drops += x->drops;
	d->outstanding += x->outstanding;
	d->bytes_sent += x->bytes_sent;
	d->bytes_recv += x->bytes_recv;
	d->lag_p99_ns = DS_MAX(d->lag_p99_ns, x->lag_p99_ns);
	d->lag_max_ns = DS_MAX(d->lag_max_ns, x->lag_max_ns);
	d->late_sends += x->late_sends;
	add_opt(&d->conn_active, x->conn_active);
	add_opt(&d->conn_opened, x->conn_opened);
	add_opt(&d->conn_failed, x->conn_failed);
	for (int i = 0; i < DS_STORE_NRCODE; i++)
		d->rcode[i] += x->rcode[i];
	d->rcode_other += x->rcode_other;
}

static mhist_t *slot_hist(slot_t *s, const char *metric, const char *labels)
{
	for (size_t i = 0; i < s->nh; i++)
		if (!strcmp(s->h[i].metric, metric) && !strcmp(s->h[i].labels, labels))
			return &s->h[i];
	mhist_t *p = realloc(s->h, (s->nh + 1) * sizeof(*p));
	if (!p)
		return NULL;
	s->h = p;
	mhist_t *h = &p[s->nh];
	h->metric = strdup(metric);
	h->labels = strdup(labels);
	ds_hist_init(&h->h);
	if (!h->metric || !h->labels) {
		free(h->metric);
		free(h->labels);
		return NULL;
	}
	s->nh++;
	return h;
}

static void slot_free(slot_t *s)
{
	for (size_t i = 0; i < s->nh; i++) {
		free(s->h[i].metric);
		free(s->h[i].labels);
		ds_hist_free(&s->h[i].h);
	}
	free(s->h);
	s->h = NULL;
	s->nh = 0;
}

/* Every histogram row of s's run, decoded straight into its merged second. */
static int merge_hists(merge_t *m, src_t *s, ds_err_t *err)
{
	sqlite3 *h = ds_store_handle(s->db);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	    h, "SELECT metric, labels, t_ns, counts FROM hist WHERE run_id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ds_errf(err, DS_EIO, "%s: %s", s->path, sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, s->run.run_id);
	int ret = DS_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *metric = (const char *)sqlite3_column_text(st, 0);
		const char *labels = (const char *)sqlite3_column_text(st, 1);
		slot_t *sl = slot_of(m, sqlite3_column_int64(st, 2));
		const void *blob = sqlite3_column_blob(st, 3);
		int len = sqlite3_column_bytes(st, 3);
		/* A histogram of a second without an interval row (a writer that
		 * died between the two) has nowhere to go; none is ever written. */
		if (!sl || !metric)
			continue;
		mhist_t *mh = slot_hist(sl, metric, labels ? labels : "");
		if (!mh) {
			ret = ds_errf(err, DS_ENOMEM, "out of memory");
			break;
		}
		if (ds_hist_decode(&mh->h, blob, (size_t)len) < 0) {
			ret = ds_errf(err, DS_EINVAL, "%s run %" PRId64 ": a corrupt %s histogram",
			              s->path, s->run.run_id, metric);
			break;
		}
	}
	if (ret == DS_OK && rc != SQLITE_DONE)
		ret = ds_errf(err, DS_EIO, "%s: %s", s->path, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	return ret;
}

/* Phase seq of every input merged; out has room for the largest seq + 1. */
static size_t merge_phases(merge_t *m, ds_store_phase_t *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++) {
		const src_t *s = &m->s[i];
		for (size_t j = 0; j < s->nph; j++) {
			const ds_store_phase_t *p = &s->ph[j];
			if (p->seq < 0 || (size_t)p->seq >= cap)
				continue;
			ds_store_phase_t *d = &out[p->seq];
			/* An aborted shard's last phase never ended: its data does. */
			int64_t end = p->end_ns ? p->end_ns : s->t_end;
			if (!d->name) {
				*d = *p;
				d->end_ns = end;
				if ((size_t)p->seq + 1 > n)
					n = (size_t)p->seq + 1;
				continue;
			}
			d->start_ns = DS_MIN(d->start_ns, p->start_ns);
			d->end_ns = DS_MAX(d->end_ns, end);
			if (!isnan(p->target_qps))
				d->target_qps = isnan(d->target_qps)
				                    ? p->target_qps
				                    : d->target_qps + p->target_qps;
			if (!isnan(p->target_qps_end))
				d->target_qps_end = isnan(d->target_qps_end)
				                        ? p->target_qps_end
				                        : d->target_qps_end + p->target_qps_end;
			d->measured = d->measured || p->measured;
		}
	}
	/* Within a run phases follow each other; shards that started apart
	 * would make them overlap, and an interval count in two phases. */
	for (size_t k = 0; k + 1 < n; k++)
		if (out[k].name && out[k + 1].name && out[k].end_ns > out[k + 1].start_ns)
			out[k].end_ns = out[k + 1].start_ns;
	return n;
}

/* -------------------------------------------------------------- output */

static int status_rank(ds_store_status_t s)
{
	switch (s) {
	case DS_STORE_OK:
		return 0;
	case DS_STORE_INVALID:
		return 1;
	case DS_STORE_RUNNING: /* only with --force: treated as an aborted shard */
	case DS_STORE_ABORTED:
		return 2;
	default:
		return 3;
	}
}

static cJSON *lat_json(const ds_hist_t *h)
{
	cJSON *o = cJSON_CreateObject();
	bool any = h->count > 0;
	static const struct {
		const char *k;
		double q;
	} qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
	for (size_t i = 0; i < DS_ARRAY_SIZE(qs); i++)
		cJSON_AddNumberToObject(o, qs[i].k,
		                        any ? (double)ds_hist_quantile(h, qs[i].q) / 1e6 : 0);
	cJSON_AddNumberToObject(o, "max", any ? (double)h->max / 1e6 : 0);
	cJSON_AddNumberToObject(o, "mean", any ? ds_hist_mean(h) / 1e6 : 0);
	cJSON_AddNumberToObject(o, "count", (double)h->count);
	return o;
}

static cJSON *provenance(const merge_t *m)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < m->n; i++) {
		const src_t *s = &m->s[i];
		cJSON *o = cJSON_CreateObject();
		char sh[32];
		snprintf(sh, sizeof(sh), "%u/%u", s->shard, s->nshards);
		cJSON_AddStringToObject(o, "file", s->path);
		cJSON_AddNumberToObject(o, "run_id", (double)s->run.run_id);
		cJSON_AddStringToObject(o, "shard", sh);
		cJSON_AddStringToObject(o, "hostname", s->run.hostname);
		cJSON_AddStringToObject(o, "status", ds_store_status_name(s->run.status));
		if (s->run.invalid_reason)
			cJSON_AddStringToObject(o, "invalid_reason", s->run.invalid_reason);
		cJSON_AddNumberToObject(o, "started_ns", (double)s->run.started_ns);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *problems_json(const ds_merge_result_t *r)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < r->nproblems; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->problems[i]));
	return a;
}

/* The first input's parameters, made those of the whole load. */
static char *merged_params(const merge_t *m, bool forced)
{
	cJSON *o = m->s[0].params ? cJSON_Duplicate(m->s[0].params, true) : cJSON_CreateObject();
	if (!o)
		return NULL;
	/* One shard's command line and shard are not the merged run's. */
	cJSON_DeleteItemFromObjectCaseSensitive(o, "argv");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "shard");
	cJSON_AddNumberToObject(o, "shards", m->s[0].nshards);
	cJSON_AddItemToObject(o, "merged_from", provenance(m));
	if (forced)
		cJSON_AddItemToObject(o, "merge_forced", problems_json(m->res));
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* The distinct command lines of the shards, one per line, sorted: the
 * same Job gives the same text (and config hash) every time it runs. */
static char *merged_config(const merge_t *m)
{
	const char **v = calloc(m->n, sizeof(*v));
	if (!v)
		return NULL;
	size_t nv = 0, len = 1;
	for (size_t i = 0; i < m->n; i++) {
		const char *c = m->s[i].run.config_text ? m->s[i].run.config_text : "";
		bool dup = false;
		for (size_t k = 0; k < nv && !dup; k++)
			dup = !strcmp(v[k], c);
		if (!dup) {
			v[nv++] = c;
			len += strlen(c) + 1;
		}
	}
	for (size_t i = 1; i < nv; i++)
		for (size_t k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
			const char *t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	char *s = malloc(len);
	if (s) {
		s[0] = 0;
		for (size_t i = 0; i < nv; i++) {
			strcat(s, v[i]);
			if (i + 1 < nv)
				strcat(s, "\n");
		}
	}
	free(v);
	return s;
}

typedef struct totals {
	ds_store_interval_t iv;
	ds_hist_t rt, svc, lag;
} totals_t;

static char *merged_summary(const merge_t *m, const totals_t *t, const char *label,
                            ds_store_status_t st, const char *reason, const char *out_path,
                            int64_t run_id, bool forced)
{
	const src_t *s0 = &m->s[0];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	double secs = 0;
	int64_t end = INT64_MIN;
	for (size_t i = 0; i < m->n; i++)
		end = DS_MAX(end, m->s[i].t_end);
	secs = end > m->anchor ? (double)(end - m->anchor) / 1e9 : 0;
	double scheduled = 0, refused = 0, sock_drops = 0, worst_lag_p99 = 0, host_rcvbuf = 0;
	for (size_t i = 0; i < m->n; i++) {
		const cJSON *sj = m->s[i].summary;
		scheduled += jnum(sj, "scheduled");
		refused += jnum(sj, "refused");
		sock_drops += jnum(sj, "socket_drops");
		worst_lag_p99 = DS_MAX(worst_lag_p99,
		                       jnum(cJSON_GetObjectItemCaseSensitive(sj, "schedule_lag_ms"),
		                            "worst_second_p99"));
		/* Host-wide counter: shards on one host each saw all of it. */
		bool first_of_host = true;
		for (size_t k = 0; k < i && first_of_host; k++)
			first_of_host = strcmp(m->s[k].run.hostname, m->s[i].run.hostname) != 0;
		if (first_of_host) {
			double mx = 0;
			for (size_t k = i; k < m->n; k++)
				if (!strcmp(m->s[k].run.hostname, m->s[i].run.hostname))
					mx = DS_MAX(
					    mx, jnum(m->s[k].summary, "host_udp_rcvbuf_errors"));
			host_rcvbuf += mx;
		}
	}
	const ds_store_interval_t *v = &t->iv;
	cJSON_AddStringToObject(o, "tool", "load");
	cJSON_AddStringToObject(o, "label", label);
	cJSON_AddStringToObject(o, "target", s0->run.target);
	const char *lm = jstr(s0->params, "load_model");
	cJSON_AddStringToObject(o, "load_model", lm ? lm : "open");
	if (jstr(s0->params, "spacing"))
		cJSON_AddStringToObject(o, "spacing", jstr(s0->params, "spacing"));
	if (jstr(s0->params, "profile"))
		cJSON_AddStringToObject(o, "profile", jstr(s0->params, "profile"));
	if (jstr(s0->params, "source"))
		cJSON_AddStringToObject(o, "source", jstr(s0->params, "source"));
	cJSON_AddNumberToObject(o, "shards", s0->nshards);
	cJSON_AddNumberToObject(o, "seed", (double)s0->run.seed);
	cJSON_AddNumberToObject(o, "elapsed_s", secs);
	cJSON_AddNumberToObject(o, "scheduled", scheduled);
	cJSON_AddNumberToObject(o, "sent", (double)v->sent);
	cJSON_AddNumberToObject(o, "answered", (double)v->answered);
	cJSON_AddNumberToObject(o, "timeouts", (double)v->timeouts);
	cJSON_AddNumberToObject(o, "late", (double)v->late);
	cJSON_AddNumberToObject(o, "mismatched", (double)v->mismatched);
	cJSON_AddNumberToObject(o, "malformed", (double)v->malformed);
	cJSON_AddNumberToObject(o, "truncated", (double)v->truncated);
	cJSON_AddNumberToObject(o, "send_errors", (double)v->send_errors);
	cJSON_AddNumberToObject(o, "refused", refused);
	cJSON_AddNumberToObject(o, "drops", (double)v->drops);
	cJSON_AddNumberToObject(o, "socket_drops", sock_drops);
	cJSON_AddNumberToObject(o, "host_udp_rcvbuf_errors", host_rcvbuf);
	if (v->conn_opened >= 0) {
		cJSON_AddNumberToObject(o, "conn_opened", (double)v->conn_opened);
		cJSON_AddNumberToObject(o, "conn_failed", (double)DS_MAX(v->conn_failed, 0));
	}
	cJSON_AddNumberToObject(o, "qps", secs > 0 ? (double)v->answered / secs : 0);
	cJSON_AddNumberToObject(o, "sent_qps", secs > 0 ? (double)v->sent / secs : 0);
	cJSON_AddNumberToObject(o, "target_qps", secs > 0 ? scheduled / secs : 0);
	cJSON_AddNumberToObject(o, "answered_pct",
	                        v->sent ? 100.0 * (double)v->answered / (double)v->sent : 0);
	cJSON_AddItemToObject(o, "latency_ms", lat_json(&t->rt));
	cJSON_AddItemToObject(o, "service_ms", lat_json(&t->svc));
	cJSON *rc = cJSON_AddObjectToObject(o, "rcodes");
	for (int i = 0; rc && i < DS_STORE_NRCODE; i++)
		if (v->rcode[i]) {
			char b[24];
			cJSON_AddNumberToObject(rc, ds_rfmt_rcode(i, b, sizeof(b)),
			                        (double)v->rcode[i]);
		}
	if (rc && v->rcode_other)
		cJSON_AddNumberToObject(rc, "other", (double)v->rcode_other);
	cJSON *lag = cJSON_AddObjectToObject(o, "schedule_lag_ms");
	if (lag) {
		bool any = t->lag.count > 0;
		cJSON_AddNumberToObject(lag, "p50",
		                        any ? (double)ds_hist_quantile(&t->lag, 0.5) / 1e6 : 0);
		cJSON_AddNumberToObject(lag, "p99",
		                        any ? (double)ds_hist_quantile(&t->lag, 0.99) / 1e6 : 0);
		cJSON_AddNumberToObject(lag, "max", any ? (double)t->lag.max / 1e6 : 0);
		cJSON_AddNumberToObject(lag, "worst_second_p99", worst_lag_p99);
		cJSON_AddNumberToObject(lag, "late_sends", (double)v->late_sends);
	}
	cJSON_AddNumberToObject(o, "timeout_ms", (double)s0->run.timeout_ns / 1e6);
	cJSON_AddBoolToObject(o, "timeout_in_hist", s0->run.timeout_in_hist);
	cJSON_AddBoolToObject(o, "valid", st == DS_STORE_OK);
	if (reason)
		cJSON_AddStringToObject(o, "invalid_reason", reason);
	else
		cJSON_AddNullToObject(o, "invalid_reason");
	cJSON_AddStringToObject(o, "status", ds_store_status_name(st));
	cJSON_AddStringToObject(o, "db", out_path);
	cJSON_AddNumberToObject(o, "run_id", (double)run_id);
	cJSON_AddItemToObject(o, "merged_from", provenance(m));
	if (forced)
		cJSON_AddItemToObject(o, "merge_forced", problems_json(m->res));
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* Worst status of the inputs and a reason naming every shard not ok. */
static ds_store_status_t merged_status(const merge_t *m, char *reason, size_t len)
{
	ds_store_status_t worst = DS_STORE_OK;
	size_t o = 0;
	reason[0] = 0;
	for (size_t i = 0; i < m->n; i++) {
		const src_t *s = &m->s[i];
		ds_store_status_t st =
		    s->run.status == DS_STORE_RUNNING ? DS_STORE_ABORTED : s->run.status;
		if (st == DS_STORE_OK)
			continue;
		if (status_rank(st) > status_rank(worst))
			worst = st;
		char w[300];
		if (o < len)
			o += (size_t)snprintf(reason + o, len - o, "%s%s %s: %s", o ? "; " : "",
			                      who(s, w, sizeof(w)), ds_store_status_name(st),
			                      s->run.invalid_reason ? s->run.invalid_reason
			                                            : "no reason recorded");
	}
	return worst;
}

/* Write the merged run into out: intervals with their histograms, then the
 * phases (their hist_bucket rows are built from those), then the end. */
static int write_run(merge_t *m, const char *out_path, const ds_merge_opts_t *o, ds_err_t *err)
{
	ds_merge_result_t *res = m->res;
	const src_t *s0 = &m->s[0];
	bool forced = res->nproblems > 0;
	const char *label = o->label ? o->label : s0->run.label;
	char *params = merged_params(m, forced);
	char *config = merged_config(m);
	ds_store_t *db = NULL;
	ds_store_writer_t *w = NULL;
	ds_store_phase_t *ph = NULL;
	totals_t t;
	memset(&t, 0, sizeof(t));
	ds_store_interval_init(&t.iv, m->anchor, 0);
	ds_hist_init(&t.rt);
	ds_hist_init(&t.svc);
	ds_hist_init(&t.lag);
	int rc = DS_ENOMEM;
	if (!params || !config) {
		ds_errf(err, rc, "out of memory");
		goto fail;
	}
	int64_t started = INT64_MAX, ended = 0;
	for (size_t i = 0; i < m->n; i++) {
		started = DS_MIN(started, m->s[i].run.started_ns);
		ended = DS_MAX(ended, m->s[i].run.ended_ns ? m->s[i].run.ended_ns : m->s[i].t_end);
	}
	if (!(db = ds_store_open(out_path, 0, err))) {
		rc = DS_EIO;
		goto fail;
	}
	ds_store_run_info_t ri = {
	    .tool = "load",
	    .label = label,
	    .scenario = s0->run.scenario,
	    .target = s0->run.target,
	    .config_text = config,
	    .params_json = params,
	    .seed = s0->run.seed,
	    .timeout_ns = s0->run.timeout_ns,
	    .timeout_in_hist = s0->run.timeout_in_hist,
	    .started_ns = started,
	};
	if ((rc = ds_store_run_begin(db, &ri, &res->run_id, err)) < 0)
		goto fail;
	/* The queue must never coalesce two seconds into one (that keeps
	 * totals, not the seconds): room for all, flushed as it goes. */
	ds_store_writer_opts_t wo = {.max_queued_intervals = FLUSH_EVERY * 2};
	if (!(w = ds_store_writer_start(db, res->run_id, &wo, err))) {
		rc = DS_EIO;
		goto fail_run;
	}
	for (size_t i = 0; i < m->nslots; i++) {
		slot_t *sl = &m->slots[i];
		ds_store_hist_ref_t refs[16];
		size_t nr = 0;
		for (size_t k = 0; k < sl->nh && nr < DS_ARRAY_SIZE(refs); k++) {
			const mhist_t *h = &sl->h[k];
			refs[nr++] = (ds_store_hist_ref_t){h->metric, h->labels, &h->h};
			ds_hist_t *tot = !strcmp(h->metric, "response_time")  ? &t.rt
			                 : !strcmp(h->metric, "service_time") ? &t.svc
			                 : !strcmp(h->metric, "sched_lag")    ? &t.lag
			                                                      : NULL;
			if (tot && ds_hist_merge(tot, &h->h) < 0) {
				rc = ds_errf(err, DS_ENOMEM, "out of memory");
				goto fail_writer;
			}
			/* The second's lag p99 over every shard, not the worst shard's. */
			if (!strcmp(h->metric, "sched_lag") && !h->labels[0] && h->h.count)
				sl->iv.lag_p99_ns = ds_hist_quantile(&h->h, 0.99);
		}
		iv_add(&t.iv, &sl->iv);
		if ((rc = ds_store_writer_interval(w, &sl->iv, refs, nr)) < 0) {
			ds_store_writer_error(w, err);
			goto fail_writer;
		}
		slot_free(sl);
		if ((i + 1) % FLUSH_EVERY == 0 && (rc = ds_store_writer_flush(w)) < 0) {
			ds_store_writer_error(w, err);
			goto fail_writer;
		}
	}
	size_t cap = 0;
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->s[i].nph; j++)
			cap = DS_MAX(cap, (size_t)DS_MAX(m->s[i].ph[j].seq, 0) + 1);
	if (cap && !(ph = calloc(cap, sizeof(*ph)))) {
		rc = ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail_writer;
	}
	size_t nph = cap ? merge_phases(m, ph, cap) : 0;
	for (size_t k = 0; k < nph; k++) {
		if (!ph[k].name)
			continue;
		if ((rc = ds_store_writer_phase(w, &ph[k])) < 0) {
			ds_store_writer_error(w, err);
			goto fail_writer;
		}
		res->nphases++;
	}
	ds_store_writer_stats_t ws;
	ds_store_writer_stats(w, &ws);
	rc = ds_store_writer_stop(w, err);
	w = NULL;
	if (rc < 0)
		goto fail_run;
	if (ws.coalesced_intervals) {
		rc = ds_errf(err, DS_EIO, "%s: the writer merged %" PRIu64 " seconds (queue full)",
		             out_path, ws.coalesced_intervals);
		goto fail_run;
	}
	res->nintervals = m->nslots;
	char reason[1024];
	res->status = merged_status(m, reason, sizeof(reason));
	const char *why = res->status == DS_STORE_OK ? NULL : reason;
	res->summary_json =
	    merged_summary(m, &t, label, res->status, why, out_path, res->run_id, forced);
	if (!res->summary_json) {
		rc = ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail_run;
	}
	if ((rc = ds_store_run_end(db, res->run_id, res->status, why, res->summary_json, err)) < 0)
		goto fail;
	/* run_end stamps "now"; the load ended when its last shard did, and
	 * the host is every shard's, not the one that merged. */
	sqlite3_stmt *st = NULL;
	sqlite3 *h = ds_store_handle(db);
	char host[64];
	bool one_host = true;
	for (size_t i = 1; i < m->n && one_host; i++)
		one_host = !strcmp(m->s[i].run.hostname, s0->run.hostname);
	snprintf(host, sizeof(host), "%zu hosts", m->n);
	if (sqlite3_prepare_v2(h, "UPDATE run SET ended_ns = ?2, hostname = ?3 WHERE run_id = ?1",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = ds_errf(err, DS_EIO, "%s: %s", out_path, sqlite3_errmsg(h));
		goto fail;
	}
	sqlite3_bind_int64(st, 1, res->run_id);
	sqlite3_bind_int64(st, 2, ended);
	sqlite3_bind_text(st, 3, one_host ? s0->run.hostname : host, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? DS_OK
	         : ds_errf(err, DS_EIO, "%s: %s", out_path, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	goto out;

fail_writer:
	ds_store_writer_stop(w, NULL);
	w = NULL;
fail_run:
	/* Leave no 'running' row behind: the next open would call it aborted
	 * without saying why. */
	ds_store_run_end(db, res->run_id, DS_STORE_FAILED, err->msg, NULL, NULL);
fail:
out:
	free(ph);
	ds_hist_free(&t.rt);
	ds_hist_free(&t.svc);
	ds_hist_free(&t.lag);
	ds_store_close(db);
	free(params);
	free(config);
	return rc;
}

int ds_merge(const char *out_path, const ds_merge_input_t *in, size_t n, const ds_merge_opts_t *o,
             ds_merge_result_t *res, ds_err_t *err)
{
	static const ds_merge_opts_t defaults = {0};
	merge_t m = {.n = n, .res = res};
	int rc = DS_OK;
	if (!o)
		o = &defaults;
	if (!n)
		return ds_errf(err, DS_EINVAL, "no input runs");
	if (!(m.s = calloc(n, sizeof(*m.s))))
		return ds_errf(err, DS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((rc = read_src(&m.s[i], &in[i], err)) < 0)
			goto out;
	if ((rc = check_inputs(&m)) < 0) {
		ds_errf(err, rc, "out of memory");
		goto out;
	}
	if (res->nproblems && !o->force) {
		rc = ds_errf(err, DS_EINVAL, "the inputs do not belong together (%s%s)",
		             res->problems[0], res->nproblems > 1 ? "; ..." : "");
		goto out;
	}
	if ((rc = make_slots(&m)) < 0) {
		ds_errf(err, rc, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m.s[i].niv; j++)
			iv_add(&slot_of(&m, m.s[i].iv[j].t_ns)->iv, &m.s[i].iv[j]);
	for (size_t i = 0; i < n; i++)
		if ((rc = merge_hists(&m, &m.s[i], err)) < 0)
			goto out;
	rc = write_run(&m, out_path, o, err);
out:
	for (size_t i = 0; i < m.nslots; i++)
		slot_free(&m.slots[i]);
	free(m.slots);
	for (size_t i = 0; i < n; i++)
		free_src(&m.s[i]);
	free(m.s);
	return rc;
}

/* ----------------------------------------------------------------- CLI */

static void usage(FILE *f)
{
	fputs(
	    "usage: dnsurge report merge [--label LABEL] [--force] [--json] OUT.db IN.db[:RUN]...\n"
	    "\n"
	    "Make the runs of the shards of one load (`dnsurge load --shard I/N`, one store\n"
	    "per process or pod) one run of the whole load in OUT.db (created if missing):\n"
	    "seconds aligned by wall clock and added, histograms merged bucket by bucket\n"
	    "(every percentile is exact), phases by seq, status the worst of the shards'.\n"
	    "An input file must hold one load run, or name it as FILE:RUN_ID.\n"
	    "\n"
	    "Refused (exit 2) unless --force: inputs that are not ended load runs of one\n"
	    "label, scenario, profile, query source, seed, target and timeout policy,\n"
	    "shards 1..N of one N each exactly once, overlapping in time.\n"
	    "\n"
	    "  --label LABEL   label of the merged run (default: the inputs')\n"
	    "  --force         merge anyway, recording the reasons in the run\n"
	    "  --json          print the merged run's summary as JSON\n"
	    "\n"
	    "Exit status: 0 merged and every shard ok, 3 merged but a shard was invalid,\n"
	    "aborted or failed (so is the merged run), 2 refused or error.\n",
	    f);
}

/* "FILE" or "FILE:RUN_ID" (the suffix only when FILE itself does not exist). */
static int parse_input(const char *arg, ds_merge_input_t *in, char **owned)
{
	const char *colon = strrchr(arg, ':');
	long long id;
	in->path = arg;
	in->run_id = 0;
	*owned = NULL;
	if (!colon || access(arg, F_OK) == 0 || ds_parse_int(colon + 1, 1, INT64_MAX, &id) < 0)
		return DS_OK;
	if (!(*owned = strndup(arg, (size_t)(colon - arg))))
		return DS_ENOMEM;
	in->path = *owned;
	in->run_id = id;
	return DS_OK;
}

int ds_report_merge_main(int argc, char **argv)
{
	enum { O_LABEL = 2000, O_FORCE, O_JSON };
	static const struct option lo[] = {
	    {"label", required_argument, NULL, O_LABEL},
	    {"force", no_argument, NULL, O_FORCE},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	ds_merge_opts_t o = {0};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_LABEL:
			o.label = optarg;
			break;
		case O_FORCE:
			o.force = true;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		ds_cli_bad("merge", "give the output store and at least one input");
		usage(stderr);
		return 2;
	}
	const char *out = argv[optind++];
	size_t n = (size_t)(argc - optind);
	ds_merge_input_t *in = calloc(n, sizeof(*in));
	char **owned = calloc(n, sizeof(*owned));
	ds_merge_result_t res;
	memset(&res, 0, sizeof(res));
	ds_err_t err = {{0}};
	int ret = 2;
	if (!in || !owned)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (parse_input(argv[optind + (int)i], &in[i], &owned[i]) < 0)
			goto out;
	int rc = ds_merge(out, in, n, &o, &res, &err);
	for (size_t i = 0; i < res.nproblems; i++)
		fprintf(stderr, "dnsurge report merge: %s%s\n", o.force ? "forced: " : "",
		        res.problems[i]);
	if (rc < 0) {
		if (!(rc == DS_EINVAL && res.nproblems))
			fprintf(stderr, "dnsurge report merge: %s\n", err.msg);
		else
			fprintf(stderr, "dnsurge report merge: refused (nothing written); --force "
			                "merges anyway\n");
		goto out;
	}
	if (json) {
		puts(res.summary_json);
	} else {
		cJSON *j = cJSON_Parse(res.summary_json);
		const cJSON *lat = cJSON_GetObjectItemCaseSensitive(j, "latency_ms");
		char a[16], b[16], d[16], e[16], q[16];
		printf("merged %zu shard run%s into %s run %" PRId64 " ('%s'): %zu seconds, %zu "
		       "phases\n",
		       n, n > 1 ? "s" : "", out, res.run_id, jstr(j, "label"), res.nintervals,
		       res.nphases);
		printf("sent %.0f, answered %.0f (%s), %s qps; response time p50 %s, p99 %s, "
		       "max %s\n",
		       jnum(j, "sent"), jnum(j, "answered"),
		       ds_rfmt_pct(jnum(j, "answered_pct"), a, sizeof(a)),
		       ds_rfmt_si(jnum(j, "qps"), q, sizeof(q)),
		       ds_rfmt_lat(jnum(lat, "p50") * 1e6, b, sizeof(b)),
		       ds_rfmt_lat(jnum(lat, "p99") * 1e6, d, sizeof(d)),
		       ds_rfmt_lat(jnum(lat, "max") * 1e6, e, sizeof(e)));
		printf("status %s%s%s\n", ds_store_status_name(res.status),
		       jstr(j, "invalid_reason") ? ": " : "",
		       jstr(j, "invalid_reason") ? jstr(j, "invalid_reason") : "");
		cJSON_Delete(j);
	}
	ret = res.status == DS_STORE_OK ? 0 : 3;
out:
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	free(in);
	ds_merge_result_free(&res);
	return ret;
}
