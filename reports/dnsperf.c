/* SPDX-License-Identifier: MIT */
#include "reports/dnsperf.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/wire.h"
#include "reports/cli.h"
#include "reports/report.h"

static void run_init(ds_dnsperf_t *r)
{
	memset(r, 0, sizeof(*r));
	r->lat_avg_s = r->lat_min_s = r->lat_max_s = r->lat_stddev_s = NAN;
	r->run_time_s = r->qps = r->req_size = r->resp_size = NAN;
	r->timeout_ns = 5 * DS_NS_PER_SEC;
}

void ds_dnsperf_free(ds_dnsperf_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].command);
		free(r[i].target);
		free(r[i].int_t_ns);
		free(r[i].int_qps);
	}
	free(r);
}

/* Value after "key:" on a statistics line, with leading blanks skipped. */
static const char *after(const char *line, const char *key)
{
	const char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t l = strlen(key);
	if (strncmp(p, key, l))
		return NULL;
	p += l;
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* -t and -S from the command line dnsperf echoes. */
static void command_opts(ds_dnsperf_t *r)
{
	const char *c = r->command;
	for (const char *p = c; p && (p = strstr(p, " -")); p++) {
		char o = p[2];
		if ((o != 't' && o != 'S' && o != 'm') || (p[3] != ' ' && p[3] != '\t'))
			continue;
		const char *v = p + 4;
		if (o == 'm')
			continue;
		double d = strtod(v, NULL);
		if (o == 't' && d > 0)
			r->timeout_ns = (int64_t)(d * 1e9);
		if (o == 'S' && d > 0)
			r->stats_interval_s = d;
	}
}

static const char *mode_of(const char *cmd)
{
	const char *p = cmd ? strstr(cmd, " -m ") : NULL;
	static char m[8];
	if (!p)
		return "udp";
	snprintf(m, sizeof(m), "%.*s", (int)strcspn(p + 4, " \t"), p + 4);
	return m;
}

static int add_interval(ds_dnsperf_t *r, int64_t t, double qps)
{
	int64_t *nt = realloc(r->int_t_ns, (r->nint + 1) * sizeof(*nt));
	if (!nt)
		return DS_ENOMEM;
	r->int_t_ns = nt;
	double *nq = realloc(r->int_qps, (r->nint + 1) * sizeof(*nq));
	if (!nq)
		return DS_ENOMEM;
	r->int_qps = nq;
	nt[r->nint] = t;
	nq[r->nint++] = qps;
	return DS_OK;
}

/* "NOERROR 4500 (75.00%), REFUSED 1500 (25.00%)" */
static int parse_rcodes(ds_dnsperf_t *r, const char *s)
{
	while (*s) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		char name[32];
		unsigned long long n;
		int used = 0;
		if (sscanf(s, "%31s %llu%n", name, &n, &used) != 2)
			return DS_EINVAL;
		int rc = ds_rcode_from_str(name);
		if (rc < 0 && isdigit((unsigned char)name[0]))
			rc = atoi(name);
		r->rcode[rc >= 0 && rc < DS_STORE_NRCODE ? rc : DS_STORE_NRCODE] += n;
		s += used;
		const char *close = strchr(s, ')');
		s = close ? close + 1 : s + strlen(s);
	}
	return DS_OK;
}

static void run_clear(ds_dnsperf_t *r)
{
	free(r->command);
	free(r->target);
	free(r->int_t_ns);
	free(r->int_qps);
	run_init(r);
}

/* Close the run being read: append it to the list if it had statistics. */
static int finish(ds_dnsperf_t *cur, int64_t started_local, ds_dnsperf_t **runs, size_t *nr,
                  size_t lineno, ds_err_t *err)
{
	if (isnan(cur->run_time_s))
		return ds_errf(err, DS_EINVAL, "line %zu: statistics without 'Run time (s)'",
		               lineno);
	cur->started_ns = started_local;
	/* -S lines carry exact epoch times; "Started at" only local seconds. */
	if (cur->nint && cur->stats_interval_s > 0)
		cur->started_ns = cur->int_t_ns[0] - (int64_t)(cur->stats_interval_s * 1e9);
	ds_dnsperf_t *n = realloc(*runs, (*nr + 1) * sizeof(*n));
	if (!n)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	*runs = n;
	n[(*nr)++] = *cur;
	run_init(cur);
	return DS_OK;
}

int ds_dnsperf_parse(const char *text, ds_dnsperf_t **out, size_t *n, ds_err_t *err)
{
	ds_dnsperf_t *runs = NULL, cur;
	size_t nr = 0, lineno = 0;
	bool in_stats = false, have_sent = false;
	int64_t started_local = 0;
	int rc = DS_OK;

	*out = NULL;
	*n = 0;
	run_init(&cur);
	for (const char *p = text; *p && rc == DS_OK;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)DS_MIN(len, sizeof(line) - 1), p);
		size_t ll = strlen(line);
		if (ll && line[ll - 1] == '\r')
			line[ll - 1] = 0;
		p += len + (eol ? 1 : 0);
		lineno++;
		const char *v;
		double a, b;
		if (after(line, "DNS Performance Testing Tool")) {
			/* concatenated outputs: a banner starts the next run */
			if (have_sent)
				rc = finish(&cur, started_local, &runs, &nr, lineno, err);
			else
				run_clear(&cur);
			in_stats = have_sent = false;
			started_local = 0;
		} else if ((v = after(line, "[Status] Command line:"))) {
			free(cur.command);
			cur.command = strdup(v);
			command_opts(&cur);
		} else if ((v = after(line, "[Status] Sending queries (to "))) {
			char t[128];
			snprintf(t, sizeof(t), "%.*s/%s", (int)strcspn(v, ")"), v,
			         mode_of(cur.command));
			free(cur.target);
			cur.target = strdup(t);
		} else if ((v = after(line, "[Status] Started at:"))) {
			struct tm tm = {0};
			/* ctime() format in the local time zone of the machine that ran it */
			if (strptime(v, "%a %b %d %H:%M:%S %Y", &tm)) {
				tm.tm_isdst = -1;
				started_local = (int64_t)mktime(&tm) * DS_NS_PER_SEC;
			}
		} else if (!in_stats && isdigit((unsigned char)line[0]) &&
		           sscanf(line, "%lf: %lf", &a, &b) == 2 && a > 1e8) {
			rc = add_interval(&cur, (int64_t)llround(a * 1e6) * 1000, b);
			if (rc < 0)
				ds_errf(err, rc, "out of memory");
		} else if (!strcmp(line, "Statistics:")) {
			in_stats = true;
		} else if (!in_stats) {
			continue;
		} else if ((v = after(line, "Queries sent:"))) {
			cur.sent = strtoull(v, NULL, 10);
			have_sent = true;
		} else if ((v = after(line, "Queries completed:"))) {
			cur.completed = strtoull(v, NULL, 10);
		} else if ((v = after(line, "Queries lost:"))) {
			cur.lost = strtoull(v, NULL, 10);
		} else if ((v = after(line, "Queries interrupted:"))) {
			cur.interrupted = strtoull(v, NULL, 10);
		} else if ((v = after(line, "Response codes:"))) {
			if (parse_rcodes(&cur, v) < 0)
				rc = ds_errf(err, DS_EINVAL,
				             "line %zu: cannot read the response codes", lineno);
		} else if ((v = after(line, "Average packet size:"))) {
			sscanf(v, "request %lf, response %lf", &cur.req_size, &cur.resp_size);
		} else if ((v = after(line, "Run time (s):"))) {
			cur.run_time_s = strtod(v, NULL);
		} else if ((v = after(line, "Queries per second:"))) {
			cur.qps = strtod(v, NULL);
		} else if ((v = after(line, "Average Latency (s):"))) {
			if (sscanf(v, "%lf (min %lf, max %lf)", &cur.lat_avg_s, &cur.lat_min_s,
			           &cur.lat_max_s) < 1)
				rc = ds_errf(err, DS_EINVAL, "line %zu: cannot read the latency",
				             lineno);
		} else if ((v = after(line, "Latency StdDev (s):"))) {
			cur.lat_stddev_s = strtod(v, NULL);
		} else if (after(line, "Connection Statistics:")) {
			/* TCP/DoT/DoH connection figures: not the queries', not stored */
			in_stats = false;
		}
	}
	if (rc == DS_OK && have_sent)
		rc = finish(&cur, started_local, &runs, &nr, lineno, err);
	if (rc == DS_OK && !nr)
		rc = ds_errf(err, DS_EINVAL,
		             "no dnsperf statistics block ('Statistics:' with "
		             "'Queries sent:') found");
	run_clear(&cur);
	if (rc < 0) {
		ds_dnsperf_free(runs, nr);
		return rc;
	}
	*out = runs;
	*n = nr;
	return DS_OK;
}

static void num(cJSON *o, const char *k, double v)
{
	if (!isnan(v))
		cJSON_AddNumberToObject(o, k, v);
}

int ds_dnsperf_store(ds_store_t *db, const ds_dnsperf_t *r, const char *label, const char *scenario,
                     const char *source, int64_t *run_id, ds_err_t *err)
{
	int64_t start = r->started_ns ? r->started_ns : ds_wall_ns();
	int64_t dur = (int64_t)llround(r->run_time_s * 1e9);
	if (dur <= 0)
		dur = 1;
	cJSON *pj = cJSON_CreateObject(), *sj = cJSON_CreateObject();
	char *pjs = NULL, *sjs = NULL;
	ds_store_writer_t *w = NULL;
	int rc = DS_ENOMEM;
	if (!pj || !sj)
		goto fail;
	cJSON_AddStringToObject(pj, "imported_from", source ? source : "");
	cJSON_AddStringToObject(pj, "format", "dnsperf text output");
	cJSON_AddStringToObject(pj, "load_model", "closed");
	cJSON_AddBoolToObject(pj, "summary_only", true);
	cJSON_AddStringToObject(sj, "source", "dnsperf");
	cJSON_AddBoolToObject(sj, "summary_only", true);
	num(sj, "queries_sent", (double)r->sent);
	num(sj, "queries_completed", (double)r->completed);
	num(sj, "queries_lost", (double)r->lost);
	num(sj, "queries_interrupted", (double)r->interrupted);
	num(sj, "run_time_s", r->run_time_s);
	num(sj, "qps", r->qps);
	num(sj, "latency_avg_s", r->lat_avg_s);
	num(sj, "latency_min_s", r->lat_min_s);
	num(sj, "latency_max_s", r->lat_max_s);
	num(sj, "latency_stddev_s", r->lat_stddev_s);
	num(sj, "avg_request_size", r->req_size);
	num(sj, "avg_response_size", r->resp_size);
	cJSON *rcs = cJSON_AddObjectToObject(sj, "rcodes");
	for (int i = 0; i <= DS_STORE_NRCODE; i++) {
		char b[16];
		if (r->rcode[i])
			num(rcs, i < DS_STORE_NRCODE ? ds_rcode_str((unsigned)i, b) : "other",
			    (double)r->rcode[i]);
	}
	pjs = cJSON_PrintUnformatted(pj);
	sjs = cJSON_PrintUnformatted(sj);
	if (!pjs || !sjs)
		goto fail;
	ds_store_run_info_t ri = {
	    .tool = "dnsperf",
	    .label = label,
	    .scenario = scenario,
	    .target = r->target,
	    .config_text = r->command,
	    .params_json = pjs,
	    .timeout_ns = r->timeout_ns,
	    .started_ns = start,
	};
	rc = ds_store_run_begin(db, &ri, run_id, err);
	if (rc < 0)
		goto fail;
	w = ds_store_writer_start(db, *run_id, NULL, err);
	if (!w) {
		rc = DS_EIO;
		goto fail;
	}
	/* All dnsperf tells is the totals: one interval spanning the run. */
	ds_store_interval_t iv;
	ds_store_interval_init(&iv, start, dur);
	iv.sent = r->sent;
	iv.answered = r->completed;
	iv.timeouts = r->lost;
	for (int i = 0; i < DS_STORE_NRCODE; i++)
		iv.rcode[i] = r->rcode[i];
	iv.rcode_other = r->rcode[DS_STORE_NRCODE];
	if (!isnan(r->req_size))
		iv.bytes_sent = (uint64_t)llround(r->req_size * (double)r->sent);
	if (!isnan(r->resp_size))
		iv.bytes_recv = (uint64_t)llround(r->resp_size * (double)r->completed);
	ds_store_phase_t ph = {.seq = 0,
	                       .name = "dnsperf",
	                       .start_ns = start,
	                       .end_ns = start + dur,
	                       .target = r->command,
	                       .target_qps = NAN,
	                       .target_qps_end = NAN,
	                       .measured = true};
	if ((rc = ds_store_writer_phase(w, &ph)) < 0 ||
	    (rc = ds_store_writer_interval(w, &iv, NULL, 0)) < 0)
		goto fail;
	/* -S lines are answers per second only: a scraped-style series keeps them
	 * without inventing the counters they do not have. */
	for (size_t i = 0; i < r->nint; i++) {
		ds_store_scrape_t *sc = ds_store_scrape_new("dnsperf:-S", r->int_t_ns[i]);
		if (!sc || ds_store_scrape_add(sc, "dnsperf_interval_qps", "", "gauge",
		                               r->int_qps[i]) < 0) {
			ds_store_scrape_free(sc);
			rc = DS_ENOMEM;
			goto fail;
		}
		if ((rc = ds_store_writer_scrape(w, sc)) < 0)
			goto fail;
	}
	rc = ds_store_writer_stop(w, err);
	w = NULL;
	if (rc < 0)
		goto fail;
	rc = ds_store_run_end(db, *run_id, DS_STORE_OK, NULL, sjs, err);
fail:
	if (w) {
		ds_store_writer_error(w, err);
		ds_store_writer_stop(w, NULL);
	}
	if (rc == DS_ENOMEM)
		ds_errf(err, rc, "out of memory");
	free(pjs);
	free(sjs);
	cJSON_Delete(pj);
	cJSON_Delete(sj);
	return rc;
}

static char *slurp(const char *path, ds_err_t *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		ds_errf(err, -errno, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *b = NULL;
	size_t n = 0, cap = 0, r;
	char buf[8192];
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (n + r + 1 > cap) {
			cap = (n + r + 1) * 2;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				b = NULL;
				ds_errf(err, DS_ENOMEM, "out of memory");
				goto out;
			}
			b = nb;
		}
		memcpy(b + n, buf, r);
		n += r;
	}
	if (!b)
		b = calloc(1, 1);
	else
		b[n] = 0;
out:
	if (f != stdin)
		fclose(f);
	return b;
}

int ds_report_import_main(int argc, char **argv)
{
	enum { O_DB = 256, O_FROM, O_LABEL, O_SCEN };
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"from", required_argument, NULL, O_FROM},
	    {"label", required_argument, NULL, O_LABEL},
	    {"scenario", required_argument, NULL, O_SCEN},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *label = "", *scen = "";
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
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
		case O_FROM:
			if (strcmp(optarg, "dnsperf"))
				return ds_cli_bad("import", "--from: only 'dnsperf' is supported");
			break;
		case 'h':
			printf(
			    "usage: dnsurge report import [--from dnsperf] --db FILE --label LABEL "
			    "[--scenario NAME]\n         FILE...   ('-' reads stdin)\n\n"
			    "Bring dnsperf results in as runs (tool 'dnsperf'): each statistics "
			    "block of the\ntext output is one run with the totals, RCODEs, qps and "
			    "mean/min/max\nlatency; -S lines are kept as a series "
			    "'dnsperf_interval_qps'. dnsperf reports\nno percentiles, so none are "
			    "invented: reports show the run as summary-only.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc)
		return ds_cli_bad("import", "give one or more dnsperf output files");
	ds_err_t err;
	ds_store_t *db = ds_store_open(db_path, 0, &err);
	if (!db) {
		fprintf(stderr, "dnsurge report import: %s\n", err.msg);
		return 2;
	}
	int rc = 0;
	for (int i = optind; i < argc && !rc; i++) {
		ds_dnsperf_t *runs = NULL;
		size_t n = 0;
		char *text = slurp(argv[i], &err);
		if (!text || ds_dnsperf_parse(text, &runs, &n, &err) < 0) {
			fprintf(stderr, "dnsurge report import: %s%s%s\n", text ? argv[i] : "",
			        text ? ": " : "", err.msg);
			rc = 2;
		}
		for (size_t k = 0; k < n && !rc; k++) {
			int64_t id;
			if (ds_dnsperf_store(db, &runs[k], label, scen, argv[i], &id, &err) < 0) {
				fprintf(stderr, "dnsurge report import: %s: %s\n", argv[i],
				        err.msg);
				rc = 2;
				break;
			}
			printf("%s: run %lld: %llu queries, %.1f qps, summary statistics only\n",
			       argv[i], (long long)id, (unsigned long long)runs[k].sent,
			       runs[k].qps);
		}
		ds_dnsperf_free(runs, n);
		free(text);
	}
	ds_store_close(db);
	return rc;
}
