/* SPDX-License-Identifier: MIT */
/*
 * dnsurge run SCENARIO: start the simulated world on loopback (upstreams,
 * Kubernetes API, the server under test), drive the load phases while
 * firing the timed events, scrape the server's /metrics every second,
 * record everything in the results store, judge the thresholds, print a
 * verdict, stop every process. Exit 0 pass, 1 threshold failed, 2 error.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/store.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "loadgen/load.h"
#include "replay/replay.h"
#include "reports/promql.h"
#include "scenarios/procs.h"
#include "scenarios/run.h"
#include "scenarios/scenario.h"
#include "scenarios/scrape.h"

#define MAX_SECONDS 100000

/* What one second of load looked like, kept for judging thresholds. */
typedef struct sec {
	int64_t t_ns;        /* from the start of the load, real time */
	int64_t dur_ns;
	double target_qps;
	uint64_t sent, answered, timeouts, drops, send_errors, rcode[16];
	ds_hist_t resp;
} sec_t;

typedef struct runner {
	ds_run_opts_t o;
	ds_scn_t *s;
	char work[128];
	char dnsurged[PATH_MAX], self[PATH_MAX];
	/* ports */
	int dns_port, metrics_port, health_port, ready_port, k8s_port, k8s_ctl_port;
	int up_port[DS_SCN_MAX_UPSTREAMS];
	unsigned nup;
	/* processes */
	ds_proc_t up[DS_SCN_MAX_UPSTREAMS];
	char up_cf[DS_SCN_MAX_UPSTREAMS][PATH_MAX];
	char *up_text[DS_SCN_MAX_UPSTREAMS];
	unsigned up_workers[DS_SCN_MAX_UPSTREAMS];
	ds_proc_t k8s;
	ds_proc_t srv, srv2;
	ds_proc_t *cur_srv;
	char srv_cf[PATH_MAX];
	bool srv_has_reload;
	bool srv_stop_asked;       /**< a `server stop` event: its exit is expected */
	char srv_died[768];        /**< how the server under test died, if it did */
	/* recording */
	ds_store_t *db;
	ds_store_writer_t *wr;
	int64_t run_id;
	ds_scraper_t *scr;
	ds_load_t *load;
	ds_replay_t *replay;       /**< instead of load, for a replay scenario */
	ds_rewrite_t *rewrite;
	ds_scn_event_t *speed_ev;  /**< the replay's speed changes */
	size_t nspeed_ev;
	ds_profile_t *prof;
	ds_qsrc_t *qsrc[32];
	size_t nqsrc;
	int64_t start_wall;
	sec_t *secs;
	size_t nsecs;
	atomic_bool interrupted;
	bool tty;
	int events_fired;
	char error[1024];
} runner_t;

static runner_t *g_runner;

/* ---------------------------------------------------------------- ports */

static int free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		int t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (t < 0 || bind(t, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (t >= 0)
				close(t);
			continue;
		}
		socklen_t l = sizeof(sa);
		getsockname(t, (struct sockaddr *)&sa, &l);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		int ok = u >= 0 && bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (u >= 0)
			close(u);
		close(t);
		if (ok)
			return ntohs(sa.sin_port);
	}
	return -1;
}

static int env_port(const char *name)
{
	const char *v = getenv(name);
	long long p;
	if (v && ds_parse_int(v, 1, 65535, &p) == DS_OK)
		return (int)p;
	return free_port();
}

static void set_port_env(const char *name, int port)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", port);
	setenv(name, v, 1);
}

/* ------------------------------------------------------------- helpers */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? DS_OK : -errno;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (!b) {
		fclose(f);
		return NULL;
	}
	size_t r = fread(b, 1, (size_t)n, f);
	b[r] = 0;
	fclose(f);
	return b;
}

static void sleep_ns(int64_t ns)
{
	if (ns <= 0)
		return;
	struct timespec ts = {ns / DS_NS_PER_SEC, ns % DS_NS_PER_SEC};
	nanosleep(&ts, NULL);
}

/* Does a DNS server answer on 127.0.0.1:port (any rcode)? */
static bool dns_answers(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {0, 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t q[64], r[512], name[DS_NAME_MAX];
	ds_name_from_str("ready.probe.invalid.", NULL, name);
	ds_wbuf_t wb;
	ds_wb_init(&wb, q, sizeof(q));
	ds_wb_query(&wb, 0x5151, DS_FLAG_RD, name, DS_TYPE_A, DS_CLASS_IN);
	int n = ds_wb_finish(&wb);
	bool ok = false;
	if (sendto(fd, q, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)) == n) {
		ssize_t m = recv(fd, r, sizeof(r), 0);
		ok = m >= DS_HDR_LEN && ds_rd16(r) == 0x5151;
	}
	close(fd);
	return ok;
}

static size_t discard_body(char *p, size_t s, size_t n, void *u)
{
	return s * n;
}

/* HTTP status of GET url, 0 when nothing answers. */
static long http_status(const char *url, const char *method, const char *body)
{
	CURL *c = curl_easy_init();
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	struct curl_slist *h = NULL;
	if (method) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (body) {
			h = curl_slist_append(h, "Content-Type: application/json");
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		}
	}
	long code = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

static void logf_(runner_t *r, const char *fmt, ...) DS_PRINTF(2, 3);
static void logf_(runner_t *r, const char *fmt, ...)
{
	if (r->o.quiet)
		return;
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	int64_t el = r->start_wall ? ds_wall_ns() - r->start_wall : 0;
	if (r->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "[%7.2fs] %s\n", (double)el / 1e9, line);
}

/* -------------------------------------------------------------- world */

static int start_upstream(runner_t *r, unsigned i, ds_err_t *err)
{
	char log[PATH_MAX], w[16];
	snprintf(log, sizeof(log), "%s/upstream%u.log", r->work, i + 1);
	snprintf(w, sizeof(w), "%u", r->up_workers[i]);
	char *argv[] = {r->dnsurged, (char *)"-conf", r->up_cf[i], (char *)"-workers", w, (char *)"-quiet", NULL};
	char name[32];
	snprintf(name, sizeof(name), "upstream%u", i + 1);
	int rc = ds_proc_start(&r->up[i], name, argv, NULL, log, err);
	if (rc < 0)
		return rc;
	for (int k = 0; k < 100; k++) {
		if (dns_answers(r->up_port[i]))
			return DS_OK;
		if (ds_proc_poll(&r->up[i]))
			break;
		sleep_ns(50 * DS_NS_PER_MS);
	}
	char tail[600];
	return ds_errf(err, DS_EIO, "upstream %u did not start on 127.0.0.1:%d:\n%s", i + 1,
		       r->up_port[i], ds_proc_tail(&r->up[i], tail, sizeof(tail)));
}

/* Replace an upstream's answers (slow, servfail, back to normal) and reload it. */
static void upstream_rewrite(runner_t *r, unsigned i, const char *directives)
{
	char text[8192];
	snprintf(text, sizeof(text), ".:%d {\n\tbind 127.0.0.1\n%s\n}\n", r->up_port[i],
		 directives ? directives : r->up_text[i]);
	write_file(r->up_cf[i], text);
	ds_proc_signal(&r->up[i], SIGUSR1);
}

static int start_k8s(runner_t *r, ds_err_t *err)
{
	char log[PATH_MAX], rf[PATH_MAX], listen[64], ctl[64];
	snprintf(log, sizeof(log), "%s/k8s-sim.log", r->work);
	snprintf(rf, sizeof(rf), "%s/k8s-sim.port", r->work);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", r->k8s_port);
	snprintf(ctl, sizeof(ctl), "127.0.0.1:%d", r->k8s_ctl_port);
	char *argv[64];
	size_t n = 0;
	argv[n++] = r->self;
	argv[n++] = (char *)"k8s-sim";
	argv[n++] = (char *)"--listen";
	argv[n++] = listen;
	argv[n++] = (char *)"--control-listen";
	argv[n++] = ctl;
	argv[n++] = (char *)"--ready-file";
	argv[n++] = rf;
	argv[n++] = (char *)"--quiet";
	for (size_t i = 0; i < r->s->k8s.nargs && n < 62; i++)
		argv[n++] = r->s->k8s.args[i];
	argv[n] = NULL;
	int rc = ds_proc_start(&r->k8s, "k8s-sim", argv, NULL, log, err);
	if (rc < 0)
		return rc;
	struct stat st;
	for (int k = 0; k < 200; k++) {
		if (stat(rf, &st) == 0 && st.st_size > 0)
			return DS_OK;
		if (ds_proc_poll(&r->k8s))
			break;
		sleep_ns(50 * DS_NS_PER_MS);
	}
	char tail[600];
	return ds_errf(err, DS_EIO, "the Kubernetes API simulator did not start:\n%s",
		       ds_proc_tail(&r->k8s, tail, sizeof(tail)));
}

static int k8s_post(runner_t *r, const char *what, const char *json)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/sim/v1/%s", r->k8s_ctl_port, what);
	long code = http_status(url, "POST", json);
	return code == 200 ? DS_OK : DS_EIO;
}

/* The server under test: a copy of its Corefile in the work folder (so
 * edits never touch the user's file), the scenario's ports in its env. */
static int start_server(runner_t *r, ds_proc_t *p, const char *name, int metrics, int health,
			int ready, ds_err_t *err)
{
	char log[PATH_MAX], w[16];
	snprintf(log, sizeof(log), "%s/%s.log", r->work, name);
	char *argv[8];
	size_t n = 0;
	argv[n++] = r->o.server ? (char *)r->o.server : r->dnsurged;
	argv[n++] = (char *)"-conf";
	argv[n++] = r->srv_cf;
	if (r->s->server.workers) {
		snprintf(w, sizeof(w), "%u", r->s->server.workers);
		argv[n++] = (char *)"-workers";
		argv[n++] = w;
	}
	argv[n] = NULL;
	static char envs[8][64];
	char *env[8];
	snprintf(envs[0], 64, "METRICS_PORT=%d", metrics);
	snprintf(envs[1], 64, "HEALTH_PORT=%d", health);
	snprintf(envs[2], 64, "READY_PORT=%d", ready);
	env[0] = envs[0];
	env[1] = envs[1];
	env[2] = envs[2];
	env[3] = NULL;
	int rc = ds_proc_start(p, name, argv, env, log, err);
	if (rc < 0)
		return rc;
	/* Up when DNS answers and, if it has a ready endpoint, /ready says so. */
	char url[96];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", ready);
	bool dns = false;
	for (int k = 0; k < 600; k++) {
		if (ds_proc_poll(p))
			break;
		if (!dns)
			dns = dns_answers(r->dns_port);
		if (dns) {
			long st = http_status(url, NULL, NULL);
			if (st == 200 || (st == 0 && k > 20))
				return DS_OK;
		}
		sleep_ns(50 * DS_NS_PER_MS);
	}
	char tail[800];
	return ds_errf(err, DS_EIO, "the server under test did not become ready on 127.0.0.1:%d:\n%s",
		       r->dns_port, ds_proc_tail(p, tail, sizeof(tail)));
}

static int setup_world(runner_t *r, ds_err_t *err)
{
	ds_scn_t *s = r->s;
	/* upstream Corefiles */
	unsigned idx = 0;
	for (size_t i = 0; i < s->nups; i++) {
		for (unsigned k = 0; k < s->ups[i].count; k++, idx++) {
			r->up_text[idx] = ds_xstrdup(s->ups[i].directives);
			r->up_workers[idx] = s->ups[i].workers;
			snprintf(r->up_cf[idx], sizeof(r->up_cf[idx]), "%s/upstream%u.Corefile", r->work, idx + 1);
			char text[8192];
			snprintf(text, sizeof(text), ".:%d {\n\tbind 127.0.0.1\n%s\n}\n", r->up_port[idx],
				 r->up_text[idx]);
			if (write_file(r->up_cf[idx], text) < 0)
				return ds_errf(err, DS_EIO, "%s: cannot write", r->up_cf[idx]);
		}
	}
	/* the server's Corefile */
	snprintf(r->srv_cf, sizeof(r->srv_cf), "%s/Corefile", r->work);
	char *text;
	if (s->server.cf.path) {
		text = read_file(s->server.cf.path);
		if (!text)
			return ds_errf(err, DS_ENOENT, "%s: cannot read the server's Corefile: %s",
				       s->server.cf.path, strerror(errno));
	} else {
		size_t n = strlen(s->server.cf.inline_text) + 64;
		text = ds_xmalloc(n);
		snprintf(text, n, ".:{$DNS_PORT} {\n\tbind 127.0.0.1\n%s\n}\n", s->server.cf.inline_text);
	}
	r->srv_has_reload = strstr(text, "reload") != NULL;
	int rc = write_file(r->srv_cf, text);
	free(text);
	if (rc < 0)
		return ds_errf(err, DS_EIO, "%s: cannot write", r->srv_cf);
	for (size_t i = 0; i < s->server.nenv; i++)
		setenv(s->server.env[i].name, s->server.env[i].value, 1);
	if (s->k8s.enabled) {
		logf_(r, "starting the Kubernetes API simulator on 127.0.0.1:%d", r->k8s_port);
		if ((rc = start_k8s(r, err)) < 0)
			return rc;
	}
	for (unsigned i = 0; i < r->nup; i++) {
		if ((rc = start_upstream(r, i, err)) < 0)
			return rc;
	}
	if (r->nup) {
		char ports[200];
		size_t o = 0;
		for (unsigned i = 0; i < r->nup && o < sizeof(ports) - 8; i++)
			o += (size_t)snprintf(ports + o, sizeof(ports) - o, "%s%d", i ? "," : "", r->up_port[i]);
		logf_(r, "%u upstream(s) answering on 127.0.0.1 ports %s", r->nup, ports);
	}
	rc = start_server(r, &r->srv, "server", r->metrics_port, r->health_port, r->ready_port, err);
	if (rc < 0)
		return rc;
	r->cur_srv = &r->srv;
	logf_(r, "server under test ready on 127.0.0.1:%d, metrics on 127.0.0.1:%d (%s)", r->dns_port,
	      r->metrics_port, r->o.server ? r->o.server : r->dnsurged);
	return DS_OK;
}

/* ------------------------------------------------------------ the load */

static ds_qsrc_t *make_qsrc(runner_t *r, const ds_scn_queries_t *q, ds_err_t *err)
{
	ds_qsrc_cfg_t c;
	memset(&c, 0, sizeof(c));
	if (!strcmp(q->kind, "names"))
		c.kind = DS_QSRC_NAMES;
	else if (!strcmp(q->kind, "random"))
		c.kind = DS_QSRC_RANDOM;
	else if (!strcmp(q->kind, "file"))
		c.kind = DS_QSRC_FILE;
	else
		c.kind = DS_QSRC_K8S;
	c.file = q->file;
	c.zone = q->zone;
	c.names = q->names;
	c.zipf = q->zipf;
	c.nxdomain = q->nxdomain;
	c.qtypes = q->qtypes;
	c.namespaces = q->namespaces;
	c.domain = q->domain;
	c.seed = r->s->seed;
	ds_qsrc_t *src = ds_qsrc_new(&c, err);
	if (src && r->nqsrc < DS_ARRAY_SIZE(r->qsrc))
		r->qsrc[r->nqsrc++] = src;
	return src;
}

/* Phases in real time and scaled rates, as one rate profile. */
static ds_profile_t *make_profile(runner_t *r)
{
	ds_scn_t *s = r->s;
	ds_profile_t *p = ds_xcalloc(1, sizeof(*p));
	p->seg = ds_xcalloc(s->load.nphases + 1, sizeof(*p->seg));
	int64_t t = 0;
	double c0 = 0;
	for (size_t i = 0; i < s->load.nphases; i++) {
		const ds_scn_phase_t *ph = &s->load.phases[i];
		int64_t d = (int64_t)((double)ph->dur_ns / s->time_scale);
		ds_profile_seg_t *g = &p->seg[p->n++];
		g->t0 = t;
		g->t1 = t + d;
		g->r0 = ph->r0 * s->rate_scale;
		g->r1 = ph->r1 * s->rate_scale;
		g->c0 = c0;
		g->kind = g->r0 == g->r1 ? DS_SEG_STEP : DS_SEG_RAMP;
		c0 += (g->r0 + g->r1) / 2 * (double)d / 1e9;
		t += d;
	}
	ds_profile_seg_t *g = &p->seg[p->n++];
	*g = (ds_profile_seg_t){.t0 = t, .t1 = INT64_MAX, .r0 = 0, .r1 = 0, .c0 = c0, .kind = DS_SEG_STEP};
	p->last_point_ns = t;
	p->last_rate = 0;
	return p;
}

/* Real start/end (ns from load start) of phase i. */
static void phase_span(const runner_t *r, size_t i, int64_t *t0, int64_t *t1)
{
	int64_t t = 0;
	for (size_t k = 0; k < i; k++)
		t += (int64_t)((double)r->s->load.phases[k].dur_ns / r->s->time_scale);
	*t0 = t;
	*t1 = t + (int64_t)((double)r->s->load.phases[i].dur_ns / r->s->time_scale);
}

static const char *phase_at(const runner_t *r, int64_t t_ns)
{
	for (size_t i = 0; i < r->s->load.nphases; i++) {
		int64_t a, b;
		phase_span(r, i, &a, &b);
		if (t_ns >= a && t_ns < b)
			return r->s->load.phases[i].name;
	}
	return "-";
}

static void progress(runner_t *r, const ds_load_snap_t *sn)
{
	const ds_meter_t *m = sn->m;
	double ans = m->sent ? 100.0 * (double)m->answered / (double)m->sent : 100.0;
	double p99 = m->response.count ? (double)ds_hist_quantile(&m->response, 0.99) / 1e6 : 0;
	double total = (double)ds_scn_duration(r->s) / r->s->time_scale / 1e9;
	char line[256];
	snprintf(line, sizeof(line),
		 "[%6.1fs/%.0fs] %-10s target %8.0f qps  achieved %8.0f  answered %6.2f%%  p99 %7.2fms  timeouts %llu",
		 (double)sn->t_ns / 1e9 + (double)sn->dur_ns / 1e9, total, phase_at(r, sn->t_ns),
		 sn->target_qps, (double)m->sent / ((double)sn->dur_ns / 1e9), ans, p99,
		 (unsigned long long)m->timeouts);
	if (r->tty)
		fprintf(stderr, "\r\033[K%s", line);
}

static void on_interval(const ds_load_snap_t *sn, void *user)
{
	runner_t *r = user;
	const ds_meter_t *m = sn->m;
	if (!r->start_wall)
		r->start_wall = sn->t_wall_ns - sn->t_ns;
	if (sn->dur_ns <= 0)
		return;
	if (!r->o.quiet)
		progress(r, sn);
	if (r->nsecs < MAX_SECONDS) {
		sec_t *s = &r->secs[r->nsecs++];
		s->t_ns = sn->t_ns;
		s->dur_ns = sn->dur_ns;
		s->target_qps = sn->target_qps;
		s->sent = m->sent;
		s->answered = m->answered;
		s->timeouts = m->timeouts;
		s->drops = m->drops;
		s->send_errors = m->send_errors;
		memcpy(s->rcode, m->rcode, sizeof(s->rcode));
		ds_hist_init(&s->resp);
		ds_hist_merge(&s->resp, &m->response);
	}
	if (!r->wr)
		return;
	ds_store_interval_t iv;
	ds_store_interval_init(&iv, sn->t_wall_ns, sn->dur_ns);
	iv.target_qps = sn->target_qps;
	iv.sent = m->sent;
	iv.answered = m->answered;
	iv.timeouts = m->timeouts;
	iv.late = m->late;
	iv.mismatched = m->mismatched;
	iv.malformed = m->malformed;
	iv.truncated = m->truncated;
	iv.send_errors = m->send_errors;
	iv.drops = m->drops;
	iv.outstanding = sn->outstanding;
	iv.bytes_sent = m->bytes_sent;
	iv.bytes_recv = m->bytes_recv;
	if (m->lag.count) {
		iv.lag_p99_ns = ds_hist_quantile(&m->lag, 0.99);
		iv.lag_max_ns = m->lag.max;
	}
	iv.late_sends = m->late_sends;
	for (int i = 0; i < 16; i++)
		iv.rcode[i] = m->rcode[i];
	ds_store_hist_ref_t h[3] = {
		{.metric = "response_time", .hist = &m->response},
		{.metric = "service_time", .hist = &m->service},
		{.metric = "sched_lag", .hist = &m->lag},
	};
	ds_store_writer_interval(r->wr, &iv, h, 3);
}

/* A server under test that exits on its own (a crash, an abort) is a
 * finding: say so at once, naming its log, and fail the run. */
static void watch_server(runner_t *r, int64_t t0)
{
	ds_proc_t *p = r->cur_srv;
	if (r->srv_died[0] || r->srv_stop_asked || !p || !ds_proc_poll(p))
		return;
	char how[64];
	if (WIFSIGNALED(p->status))
		snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(p->status),
			 strsignal(WTERMSIG(p->status)));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(p->status));
	snprintf(r->srv_died, sizeof(r->srv_died), "server under test %s at %.2fs; see %s", how,
		 (double)(ds_now_ns() - t0) / 1e9, p->log);
	logf_(r, "%s", r->srv_died);
}

/* --------------------------------------------------------------- events */

static void fire(runner_t *r, const ds_scn_event_t *e)
{
	ds_err_t err = {{0}};
	unsigned first = e->upstream < 0 ? 0 : (unsigned)e->upstream;
	unsigned last = e->upstream < 0 ? r->nup : (unsigned)e->upstream + 1;
	char json[256];
	/* A replay's speed changes are the phases' own schedule, not scripted
	 * events: not counted or logged. */
	if (e->kind != DS_EV_LOAD_SPEED) {
		r->events_fired++;
		logf_(r, "event: %s", e->text);
	}
	switch (e->kind) {
	case DS_EV_LOAD_SPEED:
		if (r->replay && ds_replay_set_speed(r->replay, e->value, &err) < 0)
			logf_(r, "replay speed: %s", err.msg);
		break;
	case DS_EV_UP_STOP:
		for (unsigned i = first; i < last; i++) {
			ds_proc_signal(&r->up[i], SIGCONT);
			ds_proc_signal(&r->up[i], SIGKILL);
			ds_proc_stop(&r->up[i], 100);
		}
		break;
	case DS_EV_UP_START:
		for (unsigned i = first; i < last; i++)
			if (ds_proc_poll(&r->up[i]) && start_upstream(r, i, &err) < 0)
				logf_(r, "event failed: %s", err.msg);
		break;
	case DS_EV_UP_BLACKHOLE:
		for (unsigned i = first; i < last; i++)
			ds_proc_signal(&r->up[i], SIGSTOP);
		break;
	case DS_EV_UP_RESUME:
		for (unsigned i = first; i < last; i++)
			ds_proc_signal(&r->up[i], SIGCONT);
		break;
	case DS_EV_UP_SLOW: {
		char d[64], dir[128];
		ds_fmt_duration(e->dur_ns, d, sizeof(d));
		snprintf(dir, sizeof(dir), "\terratic {\n\t\tdelay 1 %s\n\t}", d);
		for (unsigned i = first; i < last; i++)
			upstream_rewrite(r, i, dir);
		break;
	}
	case DS_EV_UP_SERVFAIL:
		for (unsigned i = first; i < last; i++)
			upstream_rewrite(r, i, "\ttemplate ANY ANY {\n\t\trcode SERVFAIL\n\t}");
		break;
	case DS_EV_UP_FAST:
		for (unsigned i = first; i < last; i++)
			upstream_rewrite(r, i, NULL);
		break;
	case DS_EV_SRV_RELOAD:
		ds_proc_signal(r->cur_srv, SIGUSR1);
		break;
	case DS_EV_SRV_EDIT: {
		char *text = read_file(r->srv_cf);
		char *at = text ? strstr(text, e->s1) : NULL;
		if (!at) {
			logf_(r, "event failed: '%s' is not in the Corefile", e->s1);
			free(text);
			break;
		}
		size_t n = strlen(text) - strlen(e->s1) + strlen(e->s2) + 1;
		char *nt = ds_xmalloc(n);
		snprintf(nt, n, "%.*s%s%s", (int)(at - text), text, e->s2, at + strlen(e->s1));
		write_file(r->srv_cf, nt);
		free(nt);
		free(text);
		/* The reload plugin notices by itself; without it, signal. */
		if (!r->srv_has_reload)
			ds_proc_signal(r->cur_srv, SIGUSR1);
		break;
	}
	case DS_EV_SRV_STOP:
		r->srv_stop_asked = true;
		ds_proc_signal(r->cur_srv, SIGTERM);
		break;
	case DS_EV_SRV_ROLLOUT: {
		/* A new instance shares the DNS port (SO_REUSEPORT); the old
		 * one gets SIGTERM once the new one is ready, as in a rolling
		 * update. It has its own HTTP ports; the scraper follows it. */
		ds_proc_t *nu = r->cur_srv == &r->srv ? &r->srv2 : &r->srv;
		ds_proc_t *old = r->cur_srv;
		int m = free_port(), h = free_port(), rd = free_port();
		if (start_server(r, nu, nu == &r->srv2 ? "server-new" : "server", m, h, rd, &err) < 0) {
			logf_(r, "event failed: %s", err.msg);
			break;
		}
		r->cur_srv = nu;
		ds_proc_signal(old, SIGTERM);
		char url[96];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", m);
		if (r->scr)
			ds_scraper_set_url(r->scr, url);
		break;
	}
	case DS_EV_K8S_CHURN:
		snprintf(json, sizeof(json), "{\"rate\":%g,\"kind\":\"%s\"}", e->value, e->s1);
		if (k8s_post(r, "churn", json) < 0)
			logf_(r, "event failed: churn request refused");
		break;
	case DS_EV_K8S_DOWN:
		k8s_post(r, "fault", "{\"mode\":\"down\"}");
		break;
	case DS_EV_K8S_UP:
		k8s_post(r, "fault", "{\"mode\":\"up\"}");
		break;
	case DS_EV_K8S_SLOW:
		snprintf(json, sizeof(json), "{\"mode\":\"slow\",\"latency_ms\":%lld}",
			 (long long)(e->dur_ns / DS_NS_PER_MS));
		k8s_post(r, "fault", json);
		break;
	case DS_EV_K8S_ERRORS:
		snprintf(json, sizeof(json), "{\"status\":%d,\"ratio\":%g}", e->status, e->value);
		k8s_post(r, "fault", json);
		break;
	case DS_EV_K8S_EXPIRE:
		k8s_post(r, "fault", "{\"expire_watches\":true}");
		break;
	case DS_EV_K8S_DROP:
		k8s_post(r, "fault", "{\"drop_watches\":true}");
		break;
	case DS_EV_LOAD_QUERIES: {
		ds_qsrc_t *src = make_qsrc(r, &e->queries, &err);
		if (!src || ds_load_set_qsrc(r->load, src, &err) < 0)
			logf_(r, "event failed: %s", err.msg);
		break;
	}
	}
}

/* Every firing of every event, in real time, sorted. */
typedef struct firing {
	int64_t at;
	const ds_scn_event_t *e;
} firing_t;

static int cmp_firing(const void *a, const void *b)
{
	const firing_t *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

static firing_t *schedule(runner_t *r, size_t *n)
{
	size_t cap = 16, k = 0;
	firing_t *f = ds_xmalloc(cap * sizeof(*f));
	double ts = r->s->time_scale;
	for (size_t i = 0; i < r->s->nevents; i++) {
		const ds_scn_event_t *e = &r->s->events[i];
		int64_t t = e->at_ns;
		do {
			if (k == cap) {
				cap *= 2;
				f = realloc(f, cap * sizeof(*f));
				if (!f)
					abort();
			}
			f[k].at = (int64_t)((double)t / ts);
			f[k].e = e;
			k++;
			t += e->every_ns;
		} while (e->every_ns && t < e->until_ns && k < 1000000);
	}
	f = ds_xrealloc(f, (k + r->nspeed_ev + 1) * sizeof(*f));
	for (size_t i = 0; i < r->nspeed_ev; i++)
		f[k++] = (firing_t){.at = r->speed_ev[i].at_ns, .e = &r->speed_ev[i]};
	qsort(f, k, sizeof(*f), cmp_firing);
	*n = k;
	return f;
}

/* A replay follows its phases' speeds: a change at each phase start and
 * every 250 ms along a ramp (real time; a replay runs at time scale 1). */
static void make_speed_events(runner_t *r)
{
	const ds_scn_load_t *l = &r->s->load;
	int64_t step = 250 * DS_NS_PER_MS;
	size_t cap = 0;
	for (size_t i = 0; i < l->nphases; i++)
		cap += 1 + (size_t)(l->phases[i].r0 != l->phases[i].r1 ? l->phases[i].dur_ns / step : 0);
	r->speed_ev = ds_xcalloc(cap, sizeof(*r->speed_ev));
	int64_t t = 0;
	for (size_t i = 0; i < l->nphases; i++) {
		const ds_scn_phase_t *ph = &l->phases[i];
		for (int64_t d = 0; d < ph->dur_ns && r->nspeed_ev < cap; d += step) {
			ds_scn_event_t *e = &r->speed_ev[r->nspeed_ev++];
			e->kind = DS_EV_LOAD_SPEED;
			e->at_ns = t + d;
			e->value = (ph->r0 + (ph->r1 - ph->r0) * (double)d / (double)ph->dur_ns) * r->s->rate_scale;
			if (ph->r0 == ph->r1)
				break;
		}
		t += ph->dur_ns;
	}
}

/* ---------------------------------------------------------- thresholds */

typedef struct verdict {
	const ds_scn_threshold_t *th;
	double observed;
	int passed;          /* 1, 0, -1 not evaluable */
	char detail[1024];
} verdict_t;

static bool compare(double v, const char *op, double t)
{
	if (!strcmp(op, "<"))
		return v < t;
	if (!strcmp(op, "<="))
		return v <= t;
	if (!strcmp(op, ">"))
		return v > t;
	if (!strcmp(op, ">="))
		return v >= t;
	if (!strcmp(op, "=="))
		return v == t;
	return v != t;
}

/* Is second s in the threshold's scope? */
static bool in_scope(const runner_t *r, const ds_scn_threshold_t *th, const sec_t *s)
{
	if (th->win1_ns > 0) {
		double story = (double)s->t_ns * r->s->time_scale;
		return story >= (double)th->win0_ns && story < (double)th->win1_ns;
	}
	for (size_t i = 0; i < r->s->load.nphases; i++) {
		const ds_scn_phase_t *ph = &r->s->load.phases[i];
		bool want = false;
		if (th->nphases) {
			for (size_t k = 0; k < th->nphases; k++)
				want |= !strcmp(th->phases[k], ph->name);
		} else {
			want = ph->measured;
		}
		if (!want)
			continue;
		int64_t a, b;
		phase_span(r, i, &a, &b);
		if (s->t_ns >= a && s->t_ns < b)
			return true;
	}
	return false;
}

static void scope_wall(const runner_t *r, const ds_scn_threshold_t *th, int64_t *w0, int64_t *w1)
{
	if (th->win1_ns > 0) {
		*w0 = r->start_wall + (int64_t)((double)th->win0_ns / r->s->time_scale);
		*w1 = r->start_wall + (int64_t)((double)th->win1_ns / r->s->time_scale);
		return;
	}
	*w0 = INT64_MAX;
	*w1 = 0;
	for (size_t i = 0; i < r->s->load.nphases; i++) {
		bool want = false;
		if (th->nphases) {
			for (size_t k = 0; k < th->nphases; k++)
				want |= !strcmp(th->phases[k], r->s->load.phases[i].name);
		} else {
			want = r->s->load.phases[i].measured;
		}
		if (!want)
			continue;
		int64_t a, b;
		phase_span(r, i, &a, &b);
		if (r->start_wall + a < *w0)
			*w0 = r->start_wall + a;
		if (r->start_wall + b > *w1)
			*w1 = r->start_wall + b;
	}
}

/* Increase of a counter over [w0, w1] summed over its series (resets handled). */
static int counter_increase(runner_t *r, const char *name, int64_t w0, int64_t w1, double *out,
			    size_t *nseries)
{
	ds_store_series_t *ss = NULL;
	size_t n = 0;
	ds_err_t err;
	/* one scrape before the window so the first second counts */
	if (ds_store_series_load(r->db, r->run_id, name, w0 - 1500 * DS_NS_PER_MS, w1 + 1500 * DS_NS_PER_MS,
				 &ss, &n, &err) < 0)
		return DS_EIO;
	double total = 0;
	for (size_t i = 0; i < n; i++) {
		const ds_store_series_t *s = &ss[i];
		for (size_t k = 1; k < s->n; k++) {
			double d = s->value[k] - s->value[k - 1];
			total += d >= 0 ? d : s->value[k];
		}
	}
	*out = total;
	*nseries = n;
	ds_store_series_free(ss, n);
	return DS_OK;
}

static void judge(runner_t *r, const ds_scn_threshold_t *th, verdict_t *v)
{
	memset(v, 0, sizeof(*v));
	v->th = th;
	v->passed = -1;
	v->observed = NAN;
	if (th->kind == DS_TH_SERVER_UP) {
		v->passed = r->srv_died[0] ? 0 : 1;
		snprintf(v->detail, sizeof(v->detail), "%s", r->srv_died[0] ? r->srv_died : "running");
		return;
	}
	uint64_t sent = 0, ans = 0, to = 0, rc[16] = {0};
	double target = 0, dur = 0;
	ds_hist_t h;
	ds_hist_init(&h);
	size_t nsec = 0;
	for (size_t i = 0; i < r->nsecs; i++) {
		const sec_t *s = &r->secs[i];
		if (!in_scope(r, th, s))
			continue;
		nsec++;
		sent += s->sent;
		ans += s->answered;
		to += s->timeouts;
		for (int k = 0; k < 16; k++)
			rc[k] += s->rcode[k];
		target += s->target_qps * (double)s->dur_ns / 1e9;
		dur += (double)s->dur_ns / 1e9;
		if (th->kind == DS_TH_LATENCY)
			ds_hist_merge(&h, &s->resp);
	}
	if (!nsec && th->kind != DS_TH_CACHE_HIT && th->kind != DS_TH_PROMQL) {
		snprintf(v->detail, sizeof(v->detail), "no load measured in this scope");
		ds_hist_free(&h);
		return;
	}
	/* Shares of queries are taken over the queries that ended in the
	 * scope (answered or timed out): answers are counted in the second
	 * they arrive and timeouts when they expire, so `sent` in a scope
	 * does not match them at its edges (a query sent in the last
	 * millisecond of a phase is answered in the next one). */
	uint64_t done = ans + to;
	switch (th->kind) {
	case DS_TH_SERVER_UP:
		break; /* judged above */
	case DS_TH_LATENCY:
		if (!h.count) {
			snprintf(v->detail, sizeof(v->detail), "no answers in scope");
			break;
		}
		v->observed = (double)ds_hist_quantile(&h, th->quantile) / 1e9;
		snprintf(v->detail, sizeof(v->detail), "%llu latencies over %zu s, from intended send time",
			 (unsigned long long)h.count, nsec);
		break;
	case DS_TH_LOSS:
		v->observed = done ? (double)to / (double)done : 0;
		snprintf(v->detail, sizeof(v->detail), "%llu of %llu queries unanswered",
			 (unsigned long long)to, (unsigned long long)done);
		break;
	case DS_TH_LOST:
		v->observed = (double)to;
		snprintf(v->detail, sizeof(v->detail), "of %llu sent", (unsigned long long)sent);
		break;
	case DS_TH_SERVFAIL:
		v->observed = ans ? (double)rc[DS_RCODE_SERVFAIL] / (double)ans : 0;
		snprintf(v->detail, sizeof(v->detail), "%llu SERVFAIL of %llu answers",
			 (unsigned long long)rc[DS_RCODE_SERVFAIL], (unsigned long long)ans);
		break;
	case DS_TH_RCODE:
		v->observed = ans ? (double)rc[th->rcode & 15] / (double)ans : 0;
		snprintf(v->detail, sizeof(v->detail), "%llu of %llu answers",
			 (unsigned long long)rc[th->rcode & 15], (unsigned long long)ans);
		break;
	case DS_TH_ERRORS: {
		/* Anything but NOERROR and NXDOMAIN, and no answer at all. */
		uint64_t bad = ans - rc[DS_RCODE_NOERROR] - rc[DS_RCODE_NXDOMAIN] + to;
		v->observed = done ? (double)bad / (double)done : 0;
		snprintf(v->detail, sizeof(v->detail), "%llu errors or timeouts of %llu queries",
			 (unsigned long long)bad, (unsigned long long)done);
		break;
	}
	case DS_TH_ANSWERED:
		v->observed = done ? (double)ans / (double)done : 0;
		snprintf(v->detail, sizeof(v->detail), "%llu of %llu", (unsigned long long)ans,
			 (unsigned long long)done);
		break;
	case DS_TH_QPS:
		v->observed = dur > 0 ? (double)ans / dur : 0;
		snprintf(v->detail, sizeof(v->detail), "answers per second over %.1f s", dur);
		break;
	case DS_TH_THROUGHPUT:
		v->observed = target > 0 ? (double)ans / target : 0;
		snprintf(v->detail, sizeof(v->detail), "answers / scheduled queries");
		break;
	case DS_TH_CACHE_HIT: {
		int64_t w0, w1;
		scope_wall(r, th, &w0, &w1);
		double hits, reqs;
		size_t nh, nr;
		if (!r->db || counter_increase(r, "coredns_cache_hits_total", w0, w1, &hits, &nh) < 0 ||
		    counter_increase(r, "coredns_cache_requests_total", w0, w1, &reqs, &nr) < 0 || !nr) {
			snprintf(v->detail, sizeof(v->detail),
				 "no coredns_cache_* series were scraped (is prometheus on METRICS_PORT?)");
			break;
		}
		if (reqs <= 0) {
			snprintf(v->detail, sizeof(v->detail), "no cache requests in the window");
			break;
		}
		v->observed = hits / reqs;
		snprintf(v->detail, sizeof(v->detail),
			 "increase(coredns_cache_hits_total) / increase(coredns_cache_requests_total) = %.0f / %.0f",
			 hits, reqs);
		break;
	}
	case DS_TH_PROMQL: {
		int64_t w0, w1;
		scope_wall(r, th, &w0, &w1);
		ds_promql_result_t pr;
		ds_err_t perr2 = {{0}};
		memset(&pr, 0, sizeof(pr));
		if (ds_promql_check(r->db, r->run_id, th->promql, w0, w1, &pr, &perr2) < 0) {
			snprintf(v->detail, sizeof(v->detail), "%s", perr2.msg);
			ds_promql_result_free(&pr);
			break;
		}
		if (pr.n == 0) {
			snprintf(v->detail, sizeof(v->detail), "no data for the expression in the window%s%s",
				 pr.note[0] ? "; " : "", pr.note);
			ds_promql_result_free(&pr);
			break;
		}
		if (!th->op[0]) {
			/* An alert condition: passes when it would not fire. */
			v->observed = pr.firing ? 1 : 0;
			v->passed = pr.firing ? 0 : 1;
			snprintf(v->detail, sizeof(v->detail), "%zu of %zu series %s%s%s", pr.n_held, pr.n,
				 pr.firing ? "fire" : "quiet", pr.note[0] ? "; " : "", pr.note);
			ds_promql_result_free(&pr);
			ds_hist_free(&h);
			return;
		}
		/* EXPR OP VALUE: judge the worst series against the value. */
		bool upper = th->op[0] == '<';
		double worst = NAN;
		const char *which = "";
		for (size_t i = 0; i < pr.n; i++) {
			double x = pr.e[i].value;
			if (isnan(x))
				continue;
			if (isnan(worst) || (upper ? x > worst : x < worst)) {
				worst = x;
				which = pr.e[i].series;
			}
		}
		v->observed = worst;
		snprintf(v->detail, sizeof(v->detail), "%s%s%zu series%s%s", which, which[0] ? " of " : "",
			 pr.n, pr.note[0] ? "; " : "", pr.note);
		ds_promql_result_free(&pr);
		break;
	}
	}
	ds_hist_free(&h);
	if (!isnan(v->observed))
		v->passed = compare(v->observed, th->op, th->value) ? 1 : 0;
}

static void fmt_value(const ds_scn_threshold_t *th, double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (th->kind) {
	case DS_TH_LATENCY:
		if (v < 1e-3)
			snprintf(buf, len, "%.1fus", v * 1e6);
		else
			snprintf(buf, len, "%.4gms", v * 1e3);
		break;
	case DS_TH_LOSS:
	case DS_TH_SERVFAIL:
	case DS_TH_ERRORS:
	case DS_TH_ANSWERED:
	case DS_TH_RCODE:
	case DS_TH_THROUGHPUT:
		snprintf(buf, len, "%.3g%%", v * 100);
		break;
	case DS_TH_CACHE_HIT:
		snprintf(buf, len, "%.4f", v);
		break;
	default:
		snprintf(buf, len, "%.6g", v);
	}
}

static void xml_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static int write_junit(runner_t *r, const verdict_t *v, size_t n, const char *error, double secs)
{
	FILE *f = fopen(r->o.junit, "w");
	if (!f)
		return -errno;
	int failures = 0, errors = error ? 1 : 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].passed != 1 && !v[i].th->warn)
			failures++;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	fprintf(f, "<testsuite name=\"dnsurge.");
	xml_escape(f, r->s ? r->s->name : "scenario");
	fprintf(f, "\" tests=\"%zu\" failures=\"%d\" errors=\"%d\" time=\"%.3f\">\n", n + (error ? 1 : 0),
		failures, errors, secs);
	for (size_t i = 0; i < n; i++) {
		char obs[64];
		fmt_value(v[i].th, v[i].observed, obs, sizeof(obs));
		fprintf(f, "  <testcase classname=\"dnsurge.");
		xml_escape(f, r->s->name);
		fprintf(f, "\" name=\"");
		xml_escape(f, v[i].th->text);
		fprintf(f, "\">\n");
		if (v[i].passed != 1 && !v[i].th->warn) {
			fprintf(f, "    <failure message=\"measured %s", obs);
			fprintf(f, "\">");
			xml_escape(f, v[i].detail);
			fprintf(f, "</failure>\n");
		}
		fprintf(f, "    <system-out>measured ");
		xml_escape(f, obs);
		fprintf(f, "; ");
		xml_escape(f, v[i].detail);
		fprintf(f, "</system-out>\n  </testcase>\n");
	}
	if (error) {
		fprintf(f, "  <testcase classname=\"dnsurge\" name=\"run\">\n    <error message=\"");
		xml_escape(f, error);
		fprintf(f, "\"/>\n  </testcase>\n");
	}
	fprintf(f, "</testsuite>\n</testsuites>\n");
	return fclose(f) == 0 ? DS_OK : -errno;
}

/* ----------------------------------------------------------------- load */

/* Prefix err's message (it may not be formatted into itself). */
static int err_prefix(ds_err_t *err, int code, const char *prefix)
{
	char m[DS_ERRMSG_MAX];
	snprintf(m, sizeof(m), "%s", err->msg);
	return ds_errf(err, code, "%s%s", prefix, m);
}

/* A query-mix load: the phases are the generator's rate profile. */
static int start_load(runner_t *r, ds_err_t *err)
{
	ds_qsrc_t *src = make_qsrc(r, &r->s->load.queries, err);
	if (!src)
		return err_prefix(err, DS_ECONFIG, "queries: ");
	r->prof = make_profile(r);
	ds_load_cfg_t lc;
	ds_load_cfg_init(&lc);
	ds_addr_parse("127.0.0.1", r->dns_port, &lc.target);
	ds_addr_set_port(&lc.target, r->dns_port);
	lc.tcp = r->s->load.tcp;
	lc.profile = r->prof;
	lc.qsrc = src;
	lc.duration_ns = (int64_t)((double)ds_scn_duration(r->s) / r->s->time_scale);
	lc.timeout_ns = r->s->load.timeout_ns;
	lc.timeout_in_hist = true;
	lc.max_lag_ns = r->s->load.max_lag_ns;
	lc.threads = r->s->load.threads;
	lc.seed = r->s->seed;
	lc.on_interval = on_interval;
	lc.user = r;
	r->load = ds_load_new(&lc, err);
	if (!r->load || ds_load_start(r->load, err) < 0)
		return err_prefix(err, DS_EIO, "load: ");
	return DS_OK;
}

/* A replay load: the captures, looped to fill the phases, at the phases'
 * speeds (changed by the event loop, make_speed_events). */
static int start_replay(runner_t *r, ds_err_t *err)
{
	const ds_scn_load_t *l = &r->s->load;
	if (r->s->time_scale != 1)
		return ds_errf(err, DS_EINVAL, "a replay runs in real time: --time-scale must be 1");
	if (l->nfilters || l->nrewrites) {
		char pos[PATH_MAX + 32];
		snprintf(pos, sizeof(pos), "%s:%d - load: ", r->s->path, l->filter_line);
		r->rewrite = ds_rewrite_new();
		if (!r->rewrite)
			return ds_errf(err, DS_ENOMEM, "out of memory");
		for (size_t i = 0; i < l->nfilters; i++)
			if (ds_rewrite_add_filter(r->rewrite, l->filters[i], err) < 0)
				return err_prefix(err, DS_ECONFIG, pos);
		for (size_t i = 0; i < l->nrewrites; i++)
			if (ds_rewrite_add_zone(r->rewrite, l->rewrites[i], err) < 0)
				return err_prefix(err, DS_ECONFIG, pos);
	}
	make_speed_events(r);
	ds_replay_cfg_t rc;
	ds_replay_cfg_init(&rc);
	rc.files = (const char *const *)l->replay;
	rc.nfiles = l->nreplay;
	ds_addr_parse("127.0.0.1", r->dns_port, &rc.target);
	ds_addr_set_port(&rc.target, r->dns_port);
	rc.speed = l->phases[0].r0 * r->s->rate_scale;
	rc.loops = UINT_MAX; /* as many passes as the phases take */
	rc.duration_ns = ds_scn_duration(r->s);
	rc.rewrite = r->rewrite;
	if (l->timeout_ns)
		rc.timeout_ns = l->timeout_ns;
	rc.timeout_in_hist = true;
	if (l->max_lag_ns)
		rc.max_lag_ns = l->max_lag_ns;
	if (l->threads)
		rc.threads = l->threads;
	rc.on_interval = on_interval;
	rc.user = r;
	r->replay = ds_replay_new(&rc, err);
	if (!r->replay || ds_replay_start(r->replay, err) < 0)
		return err_prefix(err, DS_EIO, "replay: ");
	return DS_OK;
}

/* ----------------------------------------------------------------- main */

static void on_sigint(int sig)
{
	if (g_runner) {
		atomic_store(&g_runner->interrupted, true);
		if (g_runner->load)
			ds_load_stop(g_runner->load);
		if (g_runner->replay)
			ds_replay_stop(g_runner->replay);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dnsurge run SCENARIO [options]\n"
		"\n"
		"Run a surge scenario on loopback: upstreams, Kubernetes API simulator and the\n"
		"server under test are started, the load phases run with the timed events,\n"
		"thresholds are judged. Exit 0 pass, 1 a threshold failed, 2 error.\n"
		"\n"
		"  --db FILE          results store (default dnsurge.db)\n"
		"  --no-db            do not record\n"
		"  --label NAME       label of this run (the version or config under test)\n"
		"  --server BINARY    dnsurged binary under test (default: the one next to dnsurge)\n"
		"  --time-scale X     story seconds per real second (overrides the scenario)\n"
		"  --rate-scale X     multiply every rate (overrides the scenario)\n"
		"  --rate-factor X    multiply the rate scale in force by X (e.g. 0.3 for a slow build)\n"
		"  --seed N           query stream seed\n"
		"  --junit FILE       write a JUnit XML report\n"
		"  --json             print the verdict as one JSON object on stdout\n"
		"  --keep             keep the work folder (Corefiles, logs)\n"
		"  --quiet            no progress or event lines\n"
		"  -h, --help\n"
		"\nScenario format: docs/SCENARIOS.md\n");
}

static int parse_opts(int argc, char **argv, ds_run_opts_t *o)
{
	static const struct option lo[] = {
		{"db", required_argument, NULL, 'd'},   {"no-db", no_argument, NULL, 'N'},
		{"label", required_argument, NULL, 'l'}, {"server", required_argument, NULL, 's'},
		{"time-scale", required_argument, NULL, 't'},
		{"rate-scale", required_argument, NULL, 'r'}, {"seed", required_argument, NULL, 'S'},
		{"rate-factor", required_argument, NULL, 'F'},
		{"junit", required_argument, NULL, 'j'}, {"json", no_argument, NULL, 'J'},
		{"keep", no_argument, NULL, 'k'},        {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->db = "dnsurge.db";
	optind = 1;
	opterr = 0;
	int c;
	long long x;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'N': o->db = NULL; break;
		case 'l': o->label = optarg; break;
		case 's': o->server = optarg; break;
		case 't':
			if (ds_parse_double(optarg, &o->time_scale) < 0 || o->time_scale < 1) {
				fprintf(stderr, "dnsurge run: --time-scale must be a number >= 1\n");
				return 2;
			}
			break;
		case 'r':
			if (ds_parse_double(optarg, &o->rate_scale) < 0 || o->rate_scale <= 0) {
				fprintf(stderr, "dnsurge run: --rate-scale must be a number > 0\n");
				return 2;
			}
			break;
		case 'F':
			if (ds_parse_double(optarg, &o->rate_factor) < 0 || o->rate_factor <= 0) {
				fprintf(stderr, "dnsurge run: --rate-factor must be a number > 0\n");
				return 2;
			}
			break;
		case 'S':
			if (ds_parse_int(optarg, 0, LLONG_MAX, &x) < 0) {
				fprintf(stderr, "dnsurge run: --seed must be a number\n");
				return 2;
			}
			o->seed = (uint64_t)x;
			o->seed_set = true;
			break;
		case 'j': o->junit = optarg; break;
		case 'J': o->json = true; break;
		case 'k': o->keep = true; break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); return 1;
		default:
			fprintf(stderr, "dnsurge run: unknown or incomplete option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "dnsurge run: give exactly one scenario file\n");
		usage(stderr);
		return 2;
	}
	o->scenario = argv[optind];
	return 0;
}

static char *config_text(runner_t *r)
{
	char *cf = read_file(r->srv_cf);
	size_t n = strlen(r->s->text) + (cf ? strlen(cf) : 0) + 64;
	char *t = ds_xmalloc(n);
	snprintf(t, n, "%s\n# --- server Corefile ---\n%s", r->s->text, cf ? cf : "");
	free(cf);
	return t;
}

int ds_run_main(int argc, char **argv)
{
	runner_t *r = ds_xcalloc(1, sizeof(*r));
	int exit_code = 2;
	ds_err_t err = {{0}};
	verdict_t *v = NULL;
	size_t nv = 0;
	firing_t *fires = NULL;
	int rc = parse_opts(argc, argv, &r->o);
	if (rc) {
		free(r);
		return rc == 1 ? 0 : 2;
	}
	g_runner = r;
	r->tty = isatty(STDERR_FILENO) && !r->o.quiet;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* binaries: dnsurged next to us */
	ssize_t sl = readlink("/proc/self/exe", r->self, sizeof(r->self) - 1);
	if (sl <= 0) {
		fprintf(stderr, "dnsurge run: cannot find my own program\n");
		goto out;
	}
	r->self[sl] = 0;
	snprintf(r->dnsurged, sizeof(r->dnsurged), "%s", r->self);
	char *slash = strrchr(r->dnsurged, '/');
	snprintf(slash + 1, sizeof(r->dnsurged) - (size_t)(slash + 1 - r->dnsurged), "dnsurged");
	if (access(r->dnsurged, X_OK) != 0) {
		fprintf(stderr, "dnsurge run: %s: not found (dnsurged is built next to dnsurge)\n", r->dnsurged);
		goto out;
	}
	if (r->o.server && access(r->o.server, X_OK) != 0) {
		fprintf(stderr, "dnsurge run: --server %s: not an executable\n", r->o.server);
		goto out;
	}
	/* Ports first: the scenario may refer to them ({$DNS_PORT} ...), and
	 * HTTP ports stay placeholders so each server instance gets its own. */
	/* DNSURGE_<NAME>_PORT pins a port (an outside Prometheus scraping
	 * the run knows where to look); the rest are picked free. */
	r->dns_port = env_port("DNSURGE_DNS_PORT");
	r->metrics_port = env_port("DNSURGE_METRICS_PORT");
	r->health_port = env_port("DNSURGE_HEALTH_PORT");
	r->ready_port = env_port("DNSURGE_READY_PORT");
	r->k8s_port = free_port();
	r->k8s_ctl_port = free_port();
	set_port_env("DNS_PORT", r->dns_port);
	setenv("METRICS_PORT", "{$METRICS_PORT}", 1);
	setenv("HEALTH_PORT", "{$HEALTH_PORT}", 1);
	setenv("READY_PORT", "{$READY_PORT}", 1);
	char kapi[64];
	snprintf(kapi, sizeof(kapi), "http://127.0.0.1:%d", r->k8s_port);
	setenv("K8S_API", kapi, 1);
	for (int i = 0; i < DS_SCN_MAX_UPSTREAMS; i++) {
		char n[32];
		r->up_port[i] = free_port();
		snprintf(n, sizeof(n), "UPSTREAM_%d", i + 1);
		set_port_env(n, r->up_port[i]);
	}
	r->s = ds_scn_parse(r->o.scenario, &err);
	if (!r->s) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (r->o.time_scale > 0)
		r->s->time_scale = r->o.time_scale;
	if (r->o.rate_scale > 0)
		r->s->rate_scale = r->o.rate_scale;
	if (r->o.rate_factor > 0)
		r->s->rate_scale *= r->o.rate_factor;
	if (r->o.seed_set)
		r->s->seed = r->o.seed;
	r->nup = ds_scn_upstream_count(r->s);
	snprintf(r->work, sizeof(r->work), "/tmp/dnsurge-run-XXXXXX");
	if (!mkdtemp(r->work)) {
		fprintf(stderr, "dnsurge run: cannot make a work folder: %s\n", strerror(errno));
		goto out;
	}
	r->secs = ds_xcalloc(MAX_SECONDS, sizeof(sec_t));
	struct sigaction sa = {.sa_handler = on_sigint};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	double story = (double)ds_scn_duration(r->s) / 1e9;
	logf_(r, "scenario %s: %.0fs of story in %.1fs (time scale %g, rate scale %g)", r->s->name,
	      story, story / r->s->time_scale, r->s->time_scale, r->s->rate_scale);
	if (r->s->load.nreplay)
		logf_(r, "replaying %s%s, looped to fill the phases, at their speeds x rate scale",
		      r->s->load.replay[0], r->s->load.nreplay > 1 ? " and the files after it" : "");
	if (setup_world(r, &err) < 0) {
		snprintf(r->error, sizeof(r->error), "%s", err.msg);
		fprintf(stderr, "dnsurge run: %s\n", err.msg);
		goto stop;
	}
	/* now the real HTTP ports, for the scraper and later instances */
	set_port_env("METRICS_PORT", r->metrics_port);
	set_port_env("HEALTH_PORT", r->health_port);
	set_port_env("READY_PORT", r->ready_port);
	/* recording: with --no-db a throwaway store in the work folder still
	 * holds the scraped metrics that thresholds are judged from */
	{
		char tmpdb[200];
		snprintf(tmpdb, sizeof(tmpdb), "%s/results.db", r->work);
		r->db = ds_store_open(r->o.db ? r->o.db : tmpdb, 0, &err);
		if (!r->db) {
			snprintf(r->error, sizeof(r->error), "%s", err.msg);
			fprintf(stderr, "dnsurge run: %s\n", err.msg);
			goto stop;
		}
		char target[64];
		snprintf(target, sizeof(target), "127.0.0.1:%d/%s", r->dns_port, r->s->load.tcp ? "tcp" : "udp");
		char *ct = config_text(r);
		cJSON *pj = cJSON_CreateObject();
		cJSON_AddStringToObject(pj, "scenario_file", r->o.scenario);
		cJSON_AddNumberToObject(pj, "time_scale", r->s->time_scale);
		cJSON_AddNumberToObject(pj, "rate_scale", r->s->rate_scale);
		cJSON_AddStringToObject(pj, "server", r->o.server ? r->o.server : r->dnsurged);
		char *params = cJSON_PrintUnformatted(pj);
		cJSON_Delete(pj);
		ds_store_run_info_t ri = {
			.tool = "run", .label = r->o.label ? r->o.label : "", .scenario = r->s->name,
			.target = target, .config_text = ct, .params_json = params, .seed = r->s->seed,
			.timeout_ns = r->s->load.timeout_ns, .timeout_in_hist = true,
		};
		rc = ds_store_run_begin(r->db, &ri, &r->run_id, &err);
		free(ct);
		free(params);
		if (rc < 0) {
			snprintf(r->error, sizeof(r->error), "%s", err.msg);
			fprintf(stderr, "dnsurge run: %s\n", err.msg);
			goto stop;
		}
		r->wr = ds_store_writer_start(r->db, r->run_id, NULL, &err);
		if (!r->wr) {
			snprintf(r->error, sizeof(r->error), "%s", err.msg);
			goto stop;
		}
		char url[96];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", r->metrics_port);
		r->scr = ds_scraper_start(url, DS_NS_PER_SEC, r->wr, &err);
	}
	/* load */
	if (r->s->load.nreplay ? start_replay(r, &err) < 0 : start_load(r, &err) < 0) {
		snprintf(r->error, sizeof(r->error), "%s", err.msg);
		fprintf(stderr, "dnsurge run: %s\n", r->error);
		goto stop;
	}
	int64_t t0 = ds_now_ns();
	r->start_wall = r->replay ? ds_replay_start_wall(r->replay) : ds_load_start_wall(r->load);
	if (r->wr) {
		for (size_t i = 0; i < r->s->load.nphases; i++) {
			int64_t a, b;
			phase_span(r, i, &a, &b);
			const ds_scn_phase_t *ph = &r->s->load.phases[i];
			char tgt[96];
			if (ph->speed && ph->r0 == ph->r1)
				snprintf(tgt, sizeof(tgt), "replay x%g", ph->r0 * r->s->rate_scale);
			else if (ph->speed)
				snprintf(tgt, sizeof(tgt), "replay x%g->x%g", ph->r0 * r->s->rate_scale,
					 ph->r1 * r->s->rate_scale);
			else if (ph->r0 == ph->r1)
				snprintf(tgt, sizeof(tgt), "step %.0f qps", ph->r0 * r->s->rate_scale);
			else
				snprintf(tgt, sizeof(tgt), "ramp %.0f->%.0f qps", ph->r0 * r->s->rate_scale,
					 ph->r1 * r->s->rate_scale);
			ds_store_phase_t p = {.seq = (int)i, .name = ph->name, .start_ns = r->start_wall + a,
					      .end_ns = 0, .target = tgt, .target_qps = ph->speed ? NAN : ph->r0 * r->s->rate_scale,
					      .target_qps_end = ph->speed ? NAN : ph->r1 * r->s->rate_scale,
					      .measured = ph->measured};
			ds_store_writer_phase(r->wr, &p);
		}
	}
	/* events, in real time, while the load runs */
	size_t nf;
	fires = schedule(r, &nf);
	for (size_t i = 0; i < nf && !atomic_load(&r->interrupted); i++) {
		while (!atomic_load(&r->interrupted)) {
			int64_t d = t0 + fires[i].at - ds_now_ns();
			if (d <= 0)
				break;
			watch_server(r, t0);
			sleep_ns(d < 50 * DS_NS_PER_MS ? d : 50 * DS_NS_PER_MS);
		}
		if (!atomic_load(&r->interrupted))
			fire(r, fires[i].e);
	}
	/* the rest of the load, still watching the server */
	int64_t load_end = t0 + (int64_t)((double)ds_scn_duration(r->s) / r->s->time_scale);
	while (!atomic_load(&r->interrupted) && ds_now_ns() < load_end) {
		watch_server(r, t0);
		sleep_ns(50 * DS_NS_PER_MS);
	}
	watch_server(r, t0);
	if (r->replay)
		ds_replay_wait(r->replay);
	else
		ds_load_wait(r->load);
	if (r->tty)
		fprintf(stderr, "\n");
	const ds_load_result_t *res = r->replay ? &ds_replay_result(r->replay)->load : ds_load_result(r->load);
	if (r->wr) {
		for (size_t i = 0; i < r->s->load.nphases; i++) {
			int64_t a, b;
			phase_span(r, i, &a, &b);
			const ds_scn_phase_t *ph = &r->s->load.phases[i];
			ds_store_phase_t p = {.seq = (int)i, .name = ph->name, .start_ns = r->start_wall + a,
					      .end_ns = r->start_wall + b, .target = NULL,
					      .target_qps = ph->speed ? NAN : ph->r0 * r->s->rate_scale,
					      .target_qps_end = ph->speed ? NAN : ph->r1 * r->s->rate_scale,
					      .measured = ph->measured};
			ds_store_writer_phase(r->wr, &p);
		}
	}
	ds_scraper_stop(r->scr);
	r->scr = NULL;
	if (r->wr) {
		if (ds_store_writer_stop(r->wr, &err) < 0)
			fprintf(stderr, "dnsurge run: results store: %s\n", err.msg);
		r->wr = NULL;
	}
	/* thresholds; a server that died fails the run whatever they say */
	if (r->srv_died[0]) {
		r->s->th = ds_xrealloc(r->s->th, (r->s->nth + 1) * sizeof(*r->s->th));
		ds_scn_threshold_t *dt = &r->s->th[r->s->nth++];
		memset(dt, 0, sizeof(*dt));
		dt->kind = DS_TH_SERVER_UP;
		snprintf(dt->text, sizeof(dt->text), "server under test stays up");
	}
	nv = r->s->nth;
	v = ds_xcalloc(nv ? nv : 1, sizeof(*v));
	bool failed = false;
	for (size_t i = 0; i < nv; i++) {
		judge(r, &r->s->th[i], &v[i]);
		if (v[i].passed != 1 && !r->s->th[i].warn)
			failed = true;
		if (r->db) {
			ds_store_assertion_t a = {
				.phase_seq = -1, .name = r->s->th[i].text, .expr = r->s->th[i].text,
				.observed = v[i].observed, .threshold = r->s->th[i].value,
				.op = r->s->th[i].op[0] ? r->s->th[i].op : NULL, .passed = v[i].passed,
				.severity = r->s->th[i].warn ? "warn" : "fail", .detail = v[i].detail,
			};
			ds_store_assertion_put(r->db, r->run_id, &a, &err);
		}
	}
	if (atomic_load(&r->interrupted)) {
		snprintf(r->error, sizeof(r->error), "interrupted");
		exit_code = 2;
	} else {
		exit_code = failed ? 1 : 0;
	}
	/* verdict */
	if (!r->o.quiet || !r->o.json) {
		FILE *out = r->o.json ? stderr : stdout;
		fprintf(out, "\nscenario %s%s%s: %llu queries sent, %llu answered, %llu timed out%s\n",
			r->s->name, r->o.label ? " label " : "", r->o.label ? r->o.label : "",
			(unsigned long long)res->total.sent, (unsigned long long)res->total.answered,
			(unsigned long long)res->total.timeouts,
			res->valid ? "" : "  [INVALID measurement]");
		if (!res->valid)
			fprintf(out, "  invalid: %s\n", res->invalid_reason);
		if (r->replay) {
			const ds_replay_result_t *rr = ds_replay_result(r->replay);
			fprintf(out, "  replay: %llu clients, %llu queries over TCP, %llu filtered out, %llu renamed\n",
				(unsigned long long)rr->clients, (unsigned long long)rr->tcp_queries,
				(unsigned long long)rr->filtered, (unsigned long long)rr->rewritten);
			if (rr->capture_error[0])
				fprintf(out, "  capture: %s\n", rr->capture_error);
		}
		fprintf(out, "\n  %-52s %-12s %-12s %s\n", "threshold", "measured", "result", "detail");
		for (size_t i = 0; i < nv; i++) {
			char obs[64];
			fmt_value(v[i].th, v[i].observed, obs, sizeof(obs));
			const char *res_s = v[i].passed == 1 ? "pass" : v[i].passed == 0 ? "FAIL" : "NOT EVALUABLE";
			if (r->s->th[i].warn && v[i].passed != 1)
				res_s = "warn";
			fprintf(out, "  %-52.52s %-12s %-12s %s\n", r->s->th[i].text, obs, res_s, v[i].detail);
		}
		fprintf(out, "\n  verdict: %s\n", exit_code == 0 ? "PASS" : exit_code == 1 ? "FAIL" : "ERROR");
	}
	if (r->db) {
		cJSON *sj = cJSON_CreateObject();
		cJSON_AddNumberToObject(sj, "sent", (double)res->total.sent);
		cJSON_AddNumberToObject(sj, "answered", (double)res->total.answered);
		cJSON_AddNumberToObject(sj, "timeouts", (double)res->total.timeouts);
		cJSON_AddNumberToObject(sj, "events_fired", r->events_fired);
		cJSON_AddStringToObject(sj, "verdict", exit_code == 0 ? "pass" : exit_code == 1 ? "fail" : "error");
		char *sum = cJSON_PrintUnformatted(sj);
		cJSON_Delete(sj);
		ds_store_status_t st = exit_code == 2 ? DS_STORE_ABORTED : res->valid ? DS_STORE_OK : DS_STORE_INVALID;
		ds_store_run_end(r->db, r->run_id, st, res->valid ? NULL : res->invalid_reason, sum, &err);
		free(sum);
	}
	if (r->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "scenario", r->s->name);
		cJSON_AddStringToObject(o, "verdict", exit_code == 0 ? "pass" : exit_code == 1 ? "fail" : "error");
		cJSON_AddNumberToObject(o, "run_id", (double)r->run_id);
		cJSON_AddNumberToObject(o, "sent", (double)res->total.sent);
		cJSON_AddNumberToObject(o, "answered", (double)res->total.answered);
		cJSON_AddNumberToObject(o, "timeouts", (double)res->total.timeouts);
		cJSON_AddBoolToObject(o, "valid", res->valid);
		if (r->replay) {
			cJSON *rj = ds_replay_result_json(ds_replay_result(r->replay));
			if (rj)
				cJSON_AddItemToObject(o, "replay", rj);
		}
		cJSON *ta = cJSON_AddArrayToObject(o, "thresholds");
		for (size_t i = 0; i < nv; i++) {
			cJSON *t = cJSON_CreateObject();
			cJSON_AddStringToObject(t, "threshold", r->s->th[i].text);
			if (isnan(v[i].observed))
				cJSON_AddNullToObject(t, "measured");
			else
				cJSON_AddNumberToObject(t, "measured", v[i].observed);
			cJSON_AddStringToObject(t, "result", v[i].passed == 1 ? "pass" : v[i].passed == 0 ? "fail" : "not_evaluable");
			cJSON_AddStringToObject(t, "detail", v[i].detail);
			cJSON_AddItemToArray(ta, t);
		}
		char *js = cJSON_Print(o);
		printf("%s\n", js);
		free(js);
		cJSON_Delete(o);
	}
stop:
	/* Stop everything, the server first (lameduck honoured up to 10 s). */
	if (r->load) {
		ds_load_stop(r->load);
		ds_load_free(r->load);
		r->load = NULL;
	}
	ds_replay_free(r->replay); /* stops and waits */
	r->replay = NULL;
	ds_scraper_stop(r->scr);
	r->scr = NULL;
	if (r->wr) {
		ds_store_writer_stop(r->wr, &err);
		r->wr = NULL;
		if (r->db && exit_code == 2)
			ds_store_run_end(r->db, r->run_id, DS_STORE_FAILED, r->error[0] ? r->error : "error", NULL, &err);
	}
	if (r->srv.pid)
		ds_proc_stop(&r->srv, 10000);
	if (r->srv2.pid)
		ds_proc_stop(&r->srv2, 10000);
	for (unsigned i = 0; i < r->nup; i++)
		if (r->up[i].pid)
			ds_proc_stop(&r->up[i], 2000);
	if (r->k8s.pid)
		ds_proc_stop(&r->k8s, 2000);
	ds_procs_kill_all();
	if (ds_procs_running() > 0) {
		fprintf(stderr, "dnsurge run: child processes left behind\n");
		exit_code = 2;
	}
	if (r->o.junit && r->s) {
		double secs = r->start_wall ? (double)(ds_wall_ns() - r->start_wall) / 1e9 : 0;
		if (write_junit(r, v, nv, exit_code == 2 ? (r->error[0] ? r->error : "error") : NULL, secs) < 0)
			fprintf(stderr, "dnsurge run: cannot write %s: %s\n", r->o.junit, strerror(errno));
	}
	if (r->work[0] && !r->o.keep) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->work);
		if (strncmp(r->work, "/tmp/dnsurge-run-", 17) == 0) {
			int sr = system(cmd);
			(void)sr;
		}
	} else if (r->work[0]) {
		fprintf(stderr, "dnsurge run: work folder kept: %s\n", r->work);
	}
out:
	if (r->db)
		ds_store_close(r->db);
	free(fires);
	free(v);
	for (size_t i = 0; i < r->nsecs; i++)
		ds_hist_free(&r->secs[i].resp);
	free(r->secs);
	for (size_t i = 0; i < r->nqsrc; i++)
		ds_qsrc_free(r->qsrc[i]);
	ds_profile_free(r->prof);
	ds_rewrite_free(r->rewrite);
	free(r->speed_ev);
	for (unsigned i = 0; i < DS_SCN_MAX_UPSTREAMS; i++)
		free(r->up_text[i]);
	ds_scn_free(r->s);
	g_runner = NULL;
	free(r);
	curl_global_cleanup();
	return exit_code;
}
