/* SPDX-License-Identifier: MIT */
/*
 * forward FROM TO... { ... }: CoreDNS's forward, without a thread per
 * query. Each worker keeps one connected UDP socket per upstream with a
 * table of the queries in flight on it (by upstream message ID), and a
 * pool of TCP connections per upstream (one query at a time each, reused
 * until `expire`). A query waits with DS_ASYNC; the answer, a timeout or an
 * error resumes it on the same worker. Health checks run in the control
 * loop and only after an exchange failed, as CoreDNS does.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/util.h"
#include "server/plugins/forward/forward.h"
#include "server/src/server.h"

#define UDP_SLOTS 16384u  /* queries in flight per upstream socket */
#define RX_BATCH 32
#define DEADLINE_NS (5 * DS_NS_PER_SEC)

typedef struct fw_tcp fw_tcp_t;
typedef struct fw_worker fw_worker_t;

/* Per-worker UDP socket to one upstream. */
typedef struct fw_udp {
	int fd;
	bool used;                 /* first use counts as a conn-cache miss */
	uint32_t inflight;
	ds_query_t **slots;        /* indexed by upstream ID & (UDP_SLOTS-1) */
	fw_worker_t *fw;
	uint8_t up;
	char local[DS_ADDRSTR_MAX]; /* for error texts: "read udp LOCAL->UPSTREAM" */
} fw_udp_t;

/* A TCP connection to an upstream; carries one query at a time. */
struct fw_tcp {
	fw_tcp_t *next;            /* idle list */
	fw_worker_t *fw;
	int fd;
	uint8_t up;
	bool connected;
	bool reused;
	ds_query_t *q;
	int64_t last_used, created;
	uint8_t *buf;              /* reply being read (2-byte length + message) */
	size_t rlen;
	size_t woff, wlen;         /* query being written from q->rx */
	uint8_t hdr[2];
	char local[DS_ADDRSTR_MAX];
};

struct fw_worker {
	fw_config_t *c;
	ds_worker_t *w;
	fw_udp_t udp[FW_MAX_UPSTREAMS];
	fw_tcp_t *idle[FW_MAX_UPSTREAMS];
	ds_timer_t sweep;
	uint8_t rbuf[RX_BATCH][65536];
};

/* Per-query state, in q->pstate while the query is with us. */
typedef struct fq {
	ds_timer_t timer;
	int64_t deadline;
	int64_t sent_ns;
	fw_tcp_t *tcp;
	uint16_t up_id;
	uint16_t client_id;
	uint8_t order[FW_MAX_UPSTREAMS];
	uint8_t idx;               /* next position in order */
	uint8_t cur;               /* upstream being asked */
	uint8_t attempts;          /* network errors so far */
	uint8_t fails;             /* down upstreams skipped in this round */
	bool tcp_now;              /* this exchange goes over TCP */
	bool force_tcp;            /* TC + prefer_udp: retry over TCP */
	bool counted;              /* holds a max_concurrent slot */
	bool retried_cached;       /* a cached TCP conn was closed: retried once */
	bool failover_reply;       /* a failover rcode reply is kept in tx */
} fq_t;

_Static_assert(sizeof(fq_t) <= sizeof(((ds_query_t *)0)->pstate), "fq_t too big");

static inline fq_t *FQ(ds_query_t *q)
{
	return (fq_t *)q->pstate;
}

static void try_next(ds_plugin_t *p, ds_query_t *q);
static void finish_query(ds_plugin_t *p, ds_query_t *q, int rc);

/* ---------------------------------------------------------------- setup */

void fw_order(fw_config_t *c, uint64_t rnd, uint8_t *order)
{
	size_t n = c->nups;
	for (size_t i = 0; i < n; i++)
		order[i] = (uint8_t)i;
	if (c->policy == FW_RANDOM) {
		for (size_t i = n; i > 1; i--) {
			/* splitmix64 step: each swap gets fresh bits */
			rnd += 0x9e3779b97f4a7c15ULL;
			uint64_t z = rnd;
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			z ^= z >> 31;
			size_t j = (size_t)(z % i);
			uint8_t t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	} else if (c->policy == FW_ROUND_ROBIN) {
		unsigned k = atomic_fetch_add(&c->rr, 1) % (unsigned)n;
		/* chosen first, the others in configuration order */
		order[0] = (uint8_t)k;
		size_t o = 1;
		for (size_t i = 0; i < n; i++)
			if (i != k)
				order[o++] = (uint8_t)i;
	}
}

void fw_probe_result(fw_config_t *c, size_t i, bool ok)
{
	fw_upstream_t *u = &c->ups[i];
	if (ok) {
		atomic_store(&u->fails, 0);
		atomic_store(&u->check, false);
	} else {
		atomic_fetch_add(&u->fails, 1);
		ds_metric_inc(ds_metrics_tid(), u->hc_failures);
	}
}

static int parse_rcodes(ds_args_t *a, uint32_t *mask)
{
	int n = 0;
	while (ds_args_next_arg(a)) {
		int r = ds_rcode_from_str(ds_args_val(a));
		if (r < 0 || r > 24)
			return ds_args_err(a, "unknown rcode '%s'", ds_args_val(a));
		*mask |= 1u << r;
		n++;
	}
	if (!n)
		return ds_args_err_argcount(a);
	return DS_OK;
}

static int add_upstream(ds_args_t *a, fw_config_t *c, const char *to)
{
	if (!strncmp(to, "tls://", 6) || !strncmp(to, "https://", 8) || !strncmp(to, "grpc://", 7) ||
	    !strncmp(to, "quic://", 7))
		return ds_args_err(a, "upstream '%s': only plain DNS (dns://) upstreams are supported by dnsurged yet", to);
	if (!strncmp(to, "dns://", 6))
		to += 6;
	if (to[0] == '/') {
		/* A resolv.conf-style file: every nameserver line. */
		FILE *f = fopen(to, "r");
		if (!f)
			return ds_args_err(a, "cannot read upstream file '%s': %s", to, strerror(errno));
		char line[512];
		int found = 0, rc = DS_OK;
		while (fgets(line, sizeof(line), f)) {
			char ns[256];
			if (sscanf(line, " nameserver %255s", ns) == 1) {
				rc = add_upstream(a, c, ns);
				if (rc < 0)
					break;
				found++;
			}
		}
		fclose(f);
		return rc;
	}
	ds_sockaddr_t sa;
	uint8_t ip[16];
	if (ds_ip_parse(to, ip)) {
		ds_addr_parse(to, 53, &sa);
		ds_addr_set_port(&sa, 53);
	} else if (ds_addr_parse(to, 53, &sa) < 0) {
		return ds_args_err(a, "not an IP address or file: '%s' (dnsurged does not resolve upstream names)", to);
	}
	for (size_t i = 0; i < c->nups; i++)
		if (ds_addr_eq(&c->ups[i].addr, &sa))
			return DS_OK; /* duplicates removed */
	if (c->nups == FW_MAX_UPSTREAMS)
		return ds_args_err(a, "more than %d TOs configured: %s", FW_MAX_UPSTREAMS, to);
	fw_upstream_t *u = &c->ups[c->nups++];
	u->addr = sa;
	ds_addr_str(&sa, u->name, sizeof(u->name));
	u->probe_fd = -1;
	u->cfg = c;
	atomic_init(&u->fails, 0);
	atomic_init(&u->check, false);
	return DS_OK;
}

static int fw_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	fw_config_t *c = calloc(1, sizeof(*c));
	if (!c)
		return DS_ENOMEM;
	p->ctx = c;
	c->self = p;
	c->expire_ns = 10 * DS_NS_PER_SEC;
	c->read_timeout_ns = 2 * DS_NS_PER_SEC;
	c->max_fails = 2;
	c->hc_interval_ns = 500 * DS_NS_PER_MS;
	c->hc_domain[0] = 0;
	atomic_init(&c->inflight, 0);
	atomic_init(&c->rr, 0);
	ds_args_next(a);
	if (!ds_args_next_arg(a))
		return ds_args_err_argcount(a);
	char zn[300];
	if (ds_zone_normalize(ds_args_val(a), zn, sizeof(zn)) < 0 ||
	    ds_name_from_str(zn, NULL, c->from) < 0)
		return ds_args_err(a, "invalid FROM zone '%s'", ds_args_val(a));
	ds_name_lower(c->from);
	int ntos = 0;
	while (ds_args_next_arg(a)) {
		int rc = add_upstream(a, c, ds_args_val(a));
		if (rc < 0)
			return rc;
		ntos++;
	}
	if (!ntos)
		return ds_args_err_argcount(a);
	if (!c->nups)
		return ds_args_err(a, "no nameservers found");
	bool max_attempts_set = false;
	while (ds_args_next_block(a)) {
		const char *k = ds_args_val(a);
		long long x;
		int64_t d;
		if (!strcmp(k, "except")) {
			const char *v[64];
			size_t nv = ds_args_remaining(a, v, 64);
			if (!nv || nv > 64)
				return ds_args_err_argcount(a);
			c->except = calloc(nv, DS_NAME_MAX);
			if (!c->except)
				return DS_ENOMEM;
			for (size_t i = 0; i < nv; i++) {
				if (ds_zone_normalize(v[i], zn, sizeof(zn)) < 0 ||
				    ds_name_from_str(zn, NULL, c->except[i]) < 0)
					return ds_args_err(a, "invalid except name '%s'", v[i]);
				ds_name_lower(c->except[i]);
			}
			c->nexcept = nv;
		} else if (!strcmp(k, "force_tcp")) {
			c->force_tcp = true;
		} else if (!strcmp(k, "prefer_udp")) {
			c->prefer_udp = true;
		} else if (!strcmp(k, "expire") || !strcmp(k, "max_age") || !strcmp(k, "read_timeout")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			if (ds_parse_duration(ds_args_val(a), &d) < 0 || d < 0)
				return ds_args_err(a, "invalid %s duration '%s'", k, ds_args_val(a));
			if (!strcmp(k, "expire"))
				c->expire_ns = d;
			else if (!strcmp(k, "max_age"))
				c->max_age_ns = d;
			else
				c->read_timeout_ns = d;
		} else if (!strcmp(k, "max_idle_conns")) {
			if (!ds_args_next_arg(a) || ds_args_int(a, 0, 1 << 20, &x) < 0)
				return a->err && a->err->msg[0] ? DS_ECONFIG : ds_args_err_argcount(a);
		} else if (!strcmp(k, "max_fails")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			if (ds_args_int(a, 0, 1 << 20, &x) < 0)
				return DS_ECONFIG;
			c->max_fails = (unsigned)x;
		} else if (!strcmp(k, "max_connect_attempts")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			if (ds_args_int(a, 0, 255, &x) < 0)
				return DS_ECONFIG;
			c->max_connect_attempts = (unsigned)x;
			max_attempts_set = true;
		} else if (!strcmp(k, "health_check")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			if (ds_parse_duration(ds_args_val(a), &d) < 0 || d < 0)
				return ds_args_err(a, "health_check: invalid duration '%s'", ds_args_val(a));
			c->hc_interval_ns = d;
			while (ds_args_next_arg(a)) {
				if (!strcmp(ds_args_val(a), "no_rec")) {
					c->hc_norec = true;
				} else if (!strcmp(ds_args_val(a), "domain")) {
					if (!ds_args_next_arg(a))
						return ds_args_err_argcount(a);
					if (ds_zone_normalize(ds_args_val(a), zn, sizeof(zn)) < 0 ||
					    ds_name_from_str(zn, NULL, c->hc_domain) < 0)
						return ds_args_err(a, "health_check: invalid domain '%s'", ds_args_val(a));
				} else {
					return ds_args_err(a, "health_check: unknown option '%s'", ds_args_val(a));
				}
			}
		} else if (!strcmp(k, "policy")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			const char *v = ds_args_val(a);
			if (!strcmp(v, "random"))
				c->policy = FW_RANDOM;
			else if (!strcmp(v, "round_robin"))
				c->policy = FW_ROUND_ROBIN;
			else if (!strcmp(v, "sequential"))
				c->policy = FW_SEQUENTIAL;
			else
				return ds_args_err(a, "unknown policy '%s'", v);
		} else if (!strcmp(k, "max_concurrent")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			if (ds_args_int(a, 0, 1 << 30, &x) < 0)
				return DS_ECONFIG;
			c->max_concurrent = (unsigned)x;
		} else if (!strcmp(k, "failfast_all_unhealthy_upstreams")) {
			c->failfast = true;
		} else if (!strcmp(k, "next")) {
			int rc = parse_rcodes(a, &c->next_mask);
			if (rc < 0)
				return rc;
		} else if (!strcmp(k, "failover")) {
			int rc = parse_rcodes(a, &c->failover_mask);
			if (rc < 0)
				return rc;
			if (c->failover_mask & 1u)
				return ds_args_err(a, "NOERROR cannot be a failover rcode");
		} else if (!strcmp(k, "next_on_nodata")) {
			c->next_on_nodata = true;
		} else if (!strcmp(k, "tls") || !strcmp(k, "tls_servername") ||
			   !strcmp(k, "doh_method")) {
			return ds_args_err(a, "'%s': TLS/DoH upstreams are not supported by dnsurged yet", k);
		} else if (!strcmp(k, "source_address") || !strcmp(k, "resolver")) {
			return ds_args_err(a, "'%s' is not supported by dnsurged yet", k);
		} else {
			return ds_args_err(a, "unknown property '%s'", k);
		}
	}
	if (c->max_age_ns && c->max_age_ns < c->expire_ns)
		return ds_args_err(a, "max_age must be at least expire");
	if (!max_attempts_set)
		c->max_connect_attempts = (unsigned)(2 * c->nups);
	/* metrics */
	static const char *none[1];
	static const char *l_dur[] = {"proxy_name", "to", "rcode"};
	static const char *l_hc[] = {"proxy_name", "to"};
	static const char *l_cc[] = {"proxy_name", "to", "proto"};
	ds_mfam_t *f_broken = ds_metrics_family("coredns_forward_healthcheck_broken_total",
		"Counter of the number of complete failures of the healthchecks.", DS_M_COUNTER, none, 0, NULL, 0, 1);
	ds_mfam_t *f_rej = ds_metrics_family("coredns_forward_max_concurrent_rejects_total",
		"Counter of the number of queries rejected because the concurrent queries were at maximum.",
		DS_M_COUNTER, none, 0, NULL, 0, 1);
	ds_mfam_t *f_dur = ds_metrics_family("coredns_proxy_request_duration_seconds",
		"Histogram of the time each request took.", DS_M_HISTOGRAM, l_dur, 3, ds_time_buckets_ns, 16, 1e-9);
	ds_mfam_t *f_hc = ds_metrics_family("coredns_proxy_healthcheck_failures_total",
		"Counter of the number of failed healthchecks.", DS_M_COUNTER, l_hc, 2, NULL, 0, 1);
	ds_mfam_t *f_hit = ds_metrics_family("coredns_proxy_conn_cache_hits_total",
		"Counter of connection cache hits per upstream and protocol.", DS_M_COUNTER, l_cc, 3, NULL, 0, 1);
	ds_mfam_t *f_miss = ds_metrics_family("coredns_proxy_conn_cache_misses_total",
		"Counter of connection cache misses per upstream and protocol.", DS_M_COUNTER, l_cc, 3, NULL, 0, 1);
	ds_metrics_hide_zero(f_dur);
	ds_metrics_hide_zero(f_hit);
	ds_metrics_hide_zero(f_miss);
	c->m_broken = ds_metrics_series(f_broken, none);
	c->m_rejects = ds_metrics_series(f_rej, none);
	for (size_t i = 0; i < c->nups; i++) {
		fw_upstream_t *u = &c->ups[i];
		for (unsigned r = 0; r < FW_NRCODES; r++) {
			char rb[16];
			const char *v[] = {"forward", u->name, r < FW_NRCODES - 1 ? ds_rcode_str(r, rb) : "other"};
			u->dur[r] = ds_metrics_hseries(f_dur, v);
		}
		const char *vh[] = {"forward", u->name};
		u->hc_failures = ds_metrics_series(f_hc, vh);
		for (int t = 0; t < 2; t++) {
			const char *vc[] = {"forward", u->name, t ? "tcp" : "udp"};
			u->conn_hit[t] = ds_metrics_series(f_hit, vc);
			u->conn_miss[t] = ds_metrics_series(f_miss, vc);
		}
	}
	return DS_OK;
}

/* ------------------------------------------------------- health checks */

static void probe_close(fw_upstream_t *u)
{
	if (u->probe_fd >= 0) {
		ds_worker_del_fd(ds_control_worker(), u->probe_fd);
		close(u->probe_fd);
		u->probe_fd = -1;
	}
	u->probe_inflight = false;
}

static void probe_io(ds_worker_t *w, int fd, uint32_t ev, void *arg);

static void probe_send(fw_config_t *c, size_t i)
{
	fw_upstream_t *u = &c->ups[i];
	int type = c->force_tcp ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(u->addr.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fw_probe_result(c, i, false);
		return;
	}
	int r = connect(fd, &u->addr.sa, ds_addr_len(&u->addr));
	if (r < 0 && errno != EINPROGRESS) {
		close(fd);
		fw_probe_result(c, i, false);
		return;
	}
	ds_wbuf_t wb;
	uint8_t *b = u->probe_buf;
	ds_wb_init(&wb, b + 2, sizeof(u->probe_buf) - 2);
	u->probe_id = (uint16_t)ds_rand64();
	ds_wb_query(&wb, u->probe_id, c->hc_norec ? 0 : DS_FLAG_RD, c->hc_domain, DS_TYPE_NS, DS_CLASS_IN);
	int len = ds_wb_finish(&wb);
	ds_wr16(b, (uint16_t)len);
	u->probe_len = (size_t)len;
	u->probe_rlen = 0;
	u->probe_tcp_sent = false;
	u->probe_fd = fd;
	u->probe_inflight = true;
	/* Health-check clients time out after 1 s. */
	u->probe_deadline = ds_now_ns() + DS_NS_PER_SEC;
	if (type == SOCK_DGRAM) {
		if (send(fd, b + 2, (size_t)len, 0) < 0) {
			probe_close(u);
			fw_probe_result(c, i, false);
			return;
		}
		ds_worker_add_fd(ds_control_worker(), fd, EPOLLIN, probe_io, &c->ups[i]);
	} else {
		ds_worker_add_fd(ds_control_worker(), fd, EPOLLOUT | EPOLLIN, probe_io, &c->ups[i]);
	}
}

static void probe_io(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	fw_upstream_t *u = arg;
	fw_config_t *c = u->cfg;
	size_t i = (size_t)(u - c->ups);
	bool ok = false, done = false;
	uint8_t buf[4096];
	if (!c->force_tcp) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n >= DS_HDR_LEN && ds_rd16(buf) == u->probe_id) {
			ok = true; /* any reply at all means the upstream is alive */
			done = true;
		} else if (n < 0 && errno != EAGAIN) {
			done = true;
		}
	} else {
		if ((ev & EPOLLOUT) && !u->probe_tcp_sent) {
			ssize_t n = write(fd, u->probe_buf, u->probe_len + 2);
			if (n != (ssize_t)(u->probe_len + 2)) {
				done = true;
			} else {
				u->probe_tcp_sent = true;
				ds_worker_mod_fd(w, fd, EPOLLIN, probe_io, u);
			}
		}
		if (!done && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n >= 2 + DS_HDR_LEN)
				ok = true;
			done = n >= 0 || errno != EAGAIN;
		}
	}
	if (done) {
		probe_close(u);
		fw_probe_result(c, i, ok);
	}
}

/* Every health_check interval: probe upstreams that failed an exchange,
 * until a probe succeeds; give up on probes older than their timeout. */
static void hc_tick(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	fw_config_t *c = arg;
	int64_t now = ds_now_ns();
	for (size_t i = 0; i < c->nups; i++) {
		fw_upstream_t *u = &c->ups[i];
		if (u->probe_inflight && now >= u->probe_deadline) {
			probe_close(u);
			fw_probe_result(c, i, false);
		}
		if (!u->probe_inflight && atomic_load(&u->check))
			probe_send(c, i);
	}
	int64_t iv = c->hc_interval_ns > 0 ? c->hc_interval_ns : 500 * DS_NS_PER_MS;
	ds_timer_start(w, t, iv < 100 * DS_NS_PER_MS ? 100 * DS_NS_PER_MS : iv);
}

static int fw_start(ds_plugin_t *p, ds_err_t *err)
{
	fw_config_t *c = p->ctx;
	if (c->max_fails == 0)
		return DS_OK; /* never marked down, never checked */
	ds_timer_init(&c->hc_timer, hc_tick, c);
	ds_timer_start(ds_control_worker(), &c->hc_timer, c->hc_interval_ns);
	c->hc_running = true;
	return DS_OK;
}

static void fw_stop(ds_plugin_t *p)
{
	fw_config_t *c = p->ctx;
	if (c->hc_running) {
		ds_timer_stop(ds_control_worker(), &c->hc_timer);
		c->hc_running = false;
	}
	for (size_t i = 0; i < c->nups; i++)
		probe_close(&c->ups[i]);
}

static void fw_teardown(ds_plugin_t *p)
{
	fw_config_t *c = p->ctx;
	if (!c)
		return;
	free(c->except);
	free(c);
}

/* ------------------------------------------------------------- workers */

static void udp_readable(ds_worker_t *w, int fd, uint32_t ev, void *arg);
static void tcp_io(ds_worker_t *w, int fd, uint32_t ev, void *arg);

static void sweep_idle(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	fw_worker_t *fw = arg;
	int64_t now = ds_now_ns();
	for (size_t i = 0; i < fw->c->nups; i++) {
		fw_tcp_t **pp = &fw->idle[i];
		while (*pp) {
			fw_tcp_t *x = *pp;
			if (now - x->last_used > fw->c->expire_ns ||
			    (fw->c->max_age_ns && now - x->created > fw->c->max_age_ns)) {
				*pp = x->next;
				ds_worker_del_fd(w, x->fd);
				close(x->fd);
				free(x->buf);
				free(x);
				continue;
			}
			pp = &x->next;
		}
	}
	/* CoreDNS cleans its connection cache on a 10 s ticker too. */
	ds_timer_start(w, t, DS_MIN(fw->c->expire_ns ? fw->c->expire_ns : 10 * DS_NS_PER_SEC,
				    10 * DS_NS_PER_SEC));
}

static int fw_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	fw_config_t *c = p->ctx;
	if (w->is_control) {
		*wctx = NULL;
		return DS_OK;
	}
	fw_worker_t *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return DS_ENOMEM;
	fw->c = c;
	fw->w = w;
	for (size_t i = 0; i < FW_MAX_UPSTREAMS; i++) {
		fw->udp[i].fd = -1;
		fw->udp[i].fw = fw;
		fw->udp[i].up = (uint8_t)i;
	}
	ds_timer_init(&fw->sweep, sweep_idle, fw);
	ds_timer_start(w, &fw->sweep, 10 * DS_NS_PER_SEC);
	*wctx = fw;
	return DS_OK;
}

static void fw_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	fw_worker_t *fw = wctx;
	if (!fw)
		return;
	ds_timer_stop(w, &fw->sweep);
	for (size_t i = 0; i < FW_MAX_UPSTREAMS; i++) {
		fw_udp_t *u = &fw->udp[i];
		if (u->fd >= 0) {
			ds_worker_del_fd(w, u->fd);
			close(u->fd);
		}
		free(u->slots);
		fw_tcp_t *x = fw->idle[i];
		while (x) {
			fw_tcp_t *n = x->next;
			ds_worker_del_fd(w, x->fd);
			close(x->fd);
			free(x->buf);
			free(x);
			x = n;
		}
	}
	free(fw);
}

static fw_udp_t *udp_sock(fw_worker_t *fw, uint8_t up)
{
	fw_udp_t *u = &fw->udp[up];
	if (u->fd >= 0)
		return u;
	const ds_sockaddr_t *a = &fw->c->ups[up].addr;
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int buf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	/* Connected: the kernel filters foreign sources and reports ICMP
	 * port-unreachable (upstream down) as ECONNREFUSED. */
	if (connect(fd, &a->sa, ds_addr_len(a)) < 0) {
		close(fd);
		return NULL;
	}
	if (!u->slots) {
		u->slots = calloc(UDP_SLOTS, sizeof(*u->slots));
		if (!u->slots) {
			close(fd);
			return NULL;
		}
	}
	u->fd = fd;
	ds_sockaddr_t la;
	socklen_t ll = sizeof(la);
	if (getsockname(fd, &la.sa, &ll) == 0)
		ds_addr_str(&la, u->local, sizeof(u->local));
	ds_worker_add_fd(fw->w, fd, EPOLLIN, udp_readable, u);
	return u;
}

/* ------------------------------------------------------------ exchange */

static void query_timeout(ds_worker_t *w, ds_timer_t *t, void *arg);

static void release_slot(fw_worker_t *fw, ds_query_t *q)
{
	fq_t *f = FQ(q);
	if (!f->tcp_now) {
		fw_udp_t *u = &fw->udp[f->cur];
		uint32_t s = f->up_id & (UDP_SLOTS - 1);
		if (u->slots && u->slots[s] == q) {
			u->slots[s] = NULL;
			u->inflight--;
		}
	}
}

static void tcp_close(fw_tcp_t *x)
{
	ds_worker_del_fd(x->fw->w, x->fd);
	close(x->fd);
	free(x->buf);
	free(x);
}

/* A network-level failure of the current exchange: health-check the
 * upstream, count an attempt, try the next one. */
static void exchange_failed(ds_plugin_t *p, ds_query_t *q, const char *why)
{
	fw_config_t *c = p->ctx;
	fw_worker_t *fw = ds_plugin_wctx(p, q);
	fq_t *f = FQ(q);
	const char *local = f->tcp_now ? (f->tcp ? f->tcp->local : "") : fw->udp[f->cur].local;
	ds_query_error(q, "%s %s->%s: %s", f->tcp_now ? "read tcp" : "read udp", local,
		       c->ups[f->cur].name, why);
	if (c->max_fails != 0)
		atomic_store(&c->ups[f->cur].check, true);
	f->attempts++;
	try_next(p, q);
}

static void query_timeout(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	ds_query_t *q = arg;
	ds_plugin_t *p = (ds_plugin_t *)q->pstate[31];
	fw_worker_t *fw = ds_plugin_wctx(p, q);
	fq_t *f = FQ(q);
	release_slot(fw, q);
	if (f->tcp_now && f->tcp) {
		f->tcp->q = NULL;
		tcp_close(f->tcp); /* a connection with a late answer is useless */
		f->tcp = NULL;
	}
	exchange_failed(p, q, "i/o timeout");
}

static int send_udp(ds_plugin_t *p, fw_worker_t *fw, ds_query_t *q)
{
	fq_t *f = FQ(q);
	fw_config_t *c = fw->c;
	fw_udp_t *u = udp_sock(fw, f->cur);
	if (!u)
		return DS_EIO;
	ds_metric_inc(q->worker->id, u->used ? c->ups[f->cur].conn_hit[0] : c->ups[f->cur].conn_miss[0]);
	u->used = true;
	if (u->inflight >= UDP_SLOTS - 1)
		return DS_EAGAIN;
	/* A random ID whose low bits name a free slot. */
	uint16_t id = (uint16_t)ds_rng_next(&q->worker->rng);
	uint32_t s = id & (UDP_SLOTS - 1);
	for (uint32_t k = 0; u->slots[s]; k++) {
		s = (s + 1) & (UDP_SLOTS - 1);
		if (k > UDP_SLOTS)
			return DS_EAGAIN;
	}
	id = (uint16_t)((id & ~(UDP_SLOTS - 1)) | s);
	f->up_id = id;
	ds_wr16(q->rx, id);
	ssize_t n = send(u->fd, q->rx, q->req.len, 0);
	ds_wr16(q->rx, f->client_id);
	if (n < 0)
		return -errno;
	u->slots[s] = q;
	u->inflight++;
	return DS_OK;
}

static void tcp_want(fw_tcp_t *x, uint32_t ev)
{
	ds_worker_mod_fd(x->fw->w, x->fd, ev, tcp_io, x);
}

static fw_tcp_t *tcp_get(fw_worker_t *fw, uint8_t up, ds_query_t *q)
{
	fw_config_t *c = fw->c;
	int64_t now = ds_now_ns();
	while (fw->idle[up]) {
		fw_tcp_t *x = fw->idle[up];
		fw->idle[up] = x->next;
		if (now - x->last_used > c->expire_ns ||
		    (c->max_age_ns && now - x->created > c->max_age_ns)) {
			tcp_close(x);
			continue;
		}
		x->next = NULL;
		x->reused = true;
		ds_metric_inc(q->worker->id, c->ups[up].conn_hit[1]);
		return x;
	}
	ds_metric_inc(q->worker->id, c->ups[up].conn_miss[1]);
	const ds_sockaddr_t *a = &c->ups[up].addr;
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &a->sa, ds_addr_len(a)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	fw_tcp_t *x = calloc(1, sizeof(*x));
	if (!x) {
		close(fd);
		return NULL;
	}
	x->fw = fw;
	x->fd = fd;
	x->up = up;
	x->created = now;
	ds_sockaddr_t la;
	socklen_t ll = sizeof(la);
	if (getsockname(fd, &la.sa, &ll) == 0)
		ds_addr_str(&la, x->local, sizeof(x->local));
	if (ds_worker_add_fd(fw->w, fd, EPOLLOUT, tcp_io, x) < 0) {
		close(fd);
		free(x);
		return NULL;
	}
	return x;
}

static void tcp_write(fw_tcp_t *x)
{
	ds_query_t *q = x->q;
	while (x->woff < x->wlen) {
		ssize_t n;
		if (x->woff < 2) {
			struct iovec iov[2] = {{x->hdr + x->woff, 2 - x->woff}, {q->rx, q->req.len}};
			n = writev(x->fd, iov, 2);
		} else {
			n = write(x->fd, q->rx + (x->woff - 2), x->wlen - x->woff);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				tcp_want(x, EPOLLOUT | EPOLLIN);
				return;
			}
			break;
		}
		x->woff += (size_t)n;
	}
	tcp_want(x, EPOLLIN);
}

static int send_tcp(ds_plugin_t *p, fw_worker_t *fw, ds_query_t *q)
{
	fq_t *f = FQ(q);
	fw_tcp_t *x = tcp_get(fw, f->cur, q);
	if (!x)
		return DS_EIO;
	x->q = q;
	x->rlen = 0;
	f->tcp = x;
	f->up_id = (uint16_t)ds_rng_next(&q->worker->rng);
	ds_wr16(q->rx, f->up_id);
	ds_wr16(x->hdr, q->req.len);
	x->woff = 0;
	x->wlen = (size_t)q->req.len + 2;
	x->connected = x->connected || x->reused;
	if (x->connected)
		tcp_write(x);
	return DS_OK;
}

static void send_current(ds_plugin_t *p, ds_query_t *q)
{
	fw_config_t *c = p->ctx;
	fw_worker_t *fw = ds_plugin_wctx(p, q);
	fq_t *f = FQ(q);
	f->sent_ns = ds_now_ns();
	int rc = f->tcp_now ? send_tcp(p, fw, q) : send_udp(p, fw, q);
	if (rc < 0) {
		exchange_failed(p, q, rc == DS_EAGAIN ? "too many queries in flight" : ds_strerror(rc));
		return;
	}
	int64_t left = f->deadline - f->sent_ns;
	int64_t to = c->read_timeout_ns < left ? c->read_timeout_ns : left;
	ds_timer_start(q->worker, &f->timer, to > 0 ? to : 0);
}

/* Pick the next upstream to ask and send, or finish with SERVFAIL. */
static void try_next(ds_plugin_t *p, ds_query_t *q)
{
	fw_config_t *c = p->ctx;
	fq_t *f = FQ(q);
	for (;;) {
		int64_t now = ds_now_ns();
		if (now >= f->deadline ||
		    (c->max_connect_attempts && f->attempts >= c->max_connect_attempts)) {
			if (f->failover_reply) {
				q->err[0] = '\0';
				finish_query(p, q, DS_RCODE_NOERROR);
				return;
			}
			if (!q->err[0])
				ds_query_error(q, "no healthy proxies");
			finish_query(p, q, DS_RCODE_SERVFAIL);
			return;
		}
		if (f->idx >= c->nups) {
			f->idx = 0;
			f->fails = 0;
			if (f->failover_reply) {
				/* every upstream answered with a failover rcode */
				q->err[0] = '\0';
				finish_query(p, q, DS_RCODE_NOERROR);
				return;
			}
		}
		uint8_t up = f->order[f->idx++];
		if (fw_down(c, up)) {
			f->fails++;
			if (f->fails < c->nups)
				continue;
			/* All down: the health checks themselves may be what is
			 * broken; try a random one anyway (or fail fast). */
			ds_metric_inc(q->worker->id, c->m_broken);
			if (c->failfast) {
				ds_query_error(q, "no healthy proxies");
				finish_query(p, q, DS_RCODE_SERVFAIL);
				return;
			}
			up = (uint8_t)ds_rng_below(&q->worker->rng, c->nups);
			f->fails = 0;
		}
		f->cur = up;
		bool tcp;
		if (c->force_tcp || f->force_tcp)
			tcp = true;
		else if (c->prefer_udp)
			tcp = false;
		else
			tcp = q->proto != DS_PROTO_UDP; /* TCP clients and internal refreshes */
		f->tcp_now = tcp;
		send_current(p, q);
		return;
	}
}

static void finish_query(ds_plugin_t *p, ds_query_t *q, int rc)
{
	fw_config_t *c = p->ctx;
	fq_t *f = FQ(q);
	ds_timer_stop(q->worker, &f->timer);
	if (f->counted) {
		atomic_fetch_sub(&c->inflight, 1);
		f->counted = false;
	}
	ds_wr16(q->rx, f->client_id);
	ds_query_resume(q, rc);
}

/* An answer arrived for q's current exchange. */
static void got_reply(ds_plugin_t *p, ds_query_t *q, const uint8_t *buf, size_t len)
{
	fw_config_t *c = p->ctx;
	fq_t *f = FQ(q);
	ds_timer_stop(q->worker, &f->timer);
	ds_msg_t m;
	if (ds_msg_parse(&m, buf, len, true) < 0 || m.qtype != q->req.qtype ||
	    m.qclass != q->req.qclass || !ds_name_eq(m.qname, q->req.qname)) {
		/* Not an answer to our question: FORMERR to the client. */
		ds_wb_reply(&q->resp, &q->req, DS_RCODE_FORMERR, 0);
		ds_query_reply(q, p);
		finish_query(p, q, DS_RCODE_NOERROR);
		return;
	}
	uint16_t fl = ds_rd16(buf + 2);
	unsigned rcode = DS_RCODE(fl);
	if ((fl & DS_FLAG_TC) && !f->tcp_now && c->prefer_udp && !c->force_tcp) {
		/* Truncated over UDP with prefer_udp: same upstream, over TCP. */
		f->force_tcp = true;
		f->tcp_now = true;
		send_current(p, q);
		return;
	}
	unsigned ri = rcode < FW_NRCODES - 1 ? rcode : FW_NRCODES - 1;
	ds_metric_observe(q->worker->id, &c->ups[f->cur].dur[ri], (uint64_t)(ds_now_ns() - f->sent_ns));
	if (c->failover_mask & (1u << rcode)) {
		/* Keep this reply in case every upstream says the same. */
		ds_query_reply_raw(q, p, buf, len);
		ds_wr16(q->tx, f->client_id);
		f->failover_reply = true;
		try_next(p, q);
		return;
	}
	bool nodata = c->next_on_nodata && rcode == DS_RCODE_NOERROR && ds_rd16(buf + 6) == 0;
	if (((c->next_mask & (1u << rcode)) || nodata) && p->next && p->next->api == p->api) {
		q->written = false;
		finish_query(p, q, DS_NEXT);
		return;
	}
	if (ds_query_reply_raw(q, p, buf, len) < 0) {
		ds_query_error(q, "reply too large");
		finish_query(p, q, DS_RCODE_SERVFAIL);
		return;
	}
	ds_wr16(q->tx, f->client_id);
	q->err[0] = '\0'; /* earlier failed tries are not this query's error */
	finish_query(p, q, DS_RCODE_NOERROR);
}

static void udp_readable(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	fw_udp_t *u = arg;
	fw_worker_t *fw = u->fw;
	ds_plugin_t *p = fw->c->self;
	for (int round = 0; round < 8; round++) {
		struct mmsghdr mm[RX_BATCH];
		struct iovec iov[RX_BATCH];
		for (int i = 0; i < RX_BATCH; i++) {
			iov[i].iov_base = fw->rbuf[i];
			iov[i].iov_len = sizeof(fw->rbuf[i]);
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, mm, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				/* The upstream's port is closed (ICMP). We cannot
				 * tell which query it was for: every query in
				 * flight on this socket fails over now rather than
				 * waiting out its timeout. */
				for (uint32_t s = 0; s < UDP_SLOTS && u->inflight; s++) {
					ds_query_t *q = u->slots[s];
					if (!q)
						continue;
					u->slots[s] = NULL;
					u->inflight--;
					ds_timer_stop(w, &FQ(q)->timer);
					exchange_failed(p, q, "connection refused");
				}
				continue;
			}
			return;
		}
		for (int i = 0; i < n; i++) {
			size_t len = mm[i].msg_len;
			if (len < DS_HDR_LEN)
				continue;
			uint16_t id = ds_rd16(fw->rbuf[i]);
			uint32_t s = id & (UDP_SLOTS - 1);
			ds_query_t *q = u->slots[s];
			if (!q || FQ(q)->up_id != id)
				continue; /* late or foreign: ignored, as CoreDNS does */
			u->slots[s] = NULL;
			u->inflight--;
			got_reply(p, q, fw->rbuf[i], len);
		}
		if (n < RX_BATCH)
			return;
	}
}

static void tcp_io(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	fw_tcp_t *x = arg;
	fw_worker_t *fw = x->fw;
	ds_plugin_t *p = fw->c->self;
	ds_query_t *q = x->q;
	if (!q) {
		/* Idle connection: the peer closed it or sent junk. Drop it. */
		fw_tcp_t **pp = &fw->idle[x->up];
		while (*pp && *pp != x)
			pp = &(*pp)->next;
		if (*pp)
			*pp = x->next;
		tcp_close(x);
		return;
	}
	if (!x->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			FQ(q)->tcp = NULL;
			tcp_close(x);
			ds_timer_stop(w, &FQ(q)->timer);
			exchange_failed(p, q, strerror(err));
			return;
		}
		x->connected = true;
		tcp_write(x);
		return;
	}
	if ((ev & EPOLLOUT) && x->woff < x->wlen) {
		tcp_write(x);
		if (x->woff < x->wlen)
			return;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (!x->buf) {
		x->buf = malloc(65537);
		if (!x->buf)
			return;
	}
	for (;;) {
		ssize_t n = read(fd, x->buf + x->rlen, 65537 - x->rlen);
		if (n > 0) {
			x->rlen += (size_t)n;
			if (x->rlen >= 2 && x->rlen >= 2u + ds_rd16(x->buf)) {
				size_t mlen = ds_rd16(x->buf);
				if (mlen < DS_HDR_LEN || ds_rd16(x->buf + 2) != FQ(q)->up_id)
					goto broken;
				x->q = NULL;
				FQ(q)->tcp = NULL;
				x->last_used = ds_now_ns();
				x->rlen = 0;
				/* Back to the pool for the next query. */
				x->next = fw->idle[x->up];
				fw->idle[x->up] = x;
				tcp_want(x, EPOLLIN);
				ds_timer_stop(w, &FQ(q)->timer);
				got_reply(p, q, x->buf + 2, mlen);
				return;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		goto broken;
	}
broken:;
	/* Closed before the answer. A reused connection the upstream had
	 * closed meanwhile is retried once on a fresh one. */
	bool reused = x->reused;
	FQ(q)->tcp = NULL;
	x->q = NULL;
	tcp_close(x);
	ds_timer_stop(w, &FQ(q)->timer);
	if (reused && !FQ(q)->retried_cached) {
		FQ(q)->retried_cached = true;
		send_current(p, q);
		return;
	}
	exchange_failed(p, q, "connection closed");
}

/* ---------------------------------------------------------------- serve */

static int fw_serve(ds_plugin_t *p, ds_query_t *q)
{
	fw_config_t *c = p->ctx;
	if (!ds_name_in(q->req.qname, c->from))
		return DS_NEXT;
	for (size_t i = 0; i < c->nexcept; i++)
		if (ds_name_in(q->req.qname, c->except[i]) && !ds_name_eq(q->req.qname, c->from))
			return DS_NEXT;
	if (q->worker->is_control)
		return DS_RCODE_SERVFAIL;
	fq_t *f = FQ(q);
	memset(f, 0, sizeof(*f));
	if (c->max_concurrent) {
		long n = atomic_fetch_add(&c->inflight, 1) + 1;
		if (n > (long)c->max_concurrent) {
			atomic_fetch_sub(&c->inflight, 1);
			ds_metric_inc(q->worker->id, c->m_rejects);
			ds_query_error(q, "concurrent queries exceeded maximum %u", c->max_concurrent);
			return DS_RCODE_REFUSED;
		}
		f->counted = true;
	}
	f->client_id = q->req.id;
	f->deadline = ds_now_ns() + DEADLINE_NS;
	fw_order(c, ds_rng_next(&q->worker->rng), f->order);
	ds_timer_init(&f->timer, query_timeout, q);
	/* The timer callback finds the plugin through the last word. */
	q->pstate[31] = (uint64_t)(uintptr_t)p;
	q->err[0] = '\0';
	try_next(p, q);
	return DS_ASYNC;
}

DS_PLUGIN_DEFINE(forward) = {
	.abi = DS_PLUGIN_ABI,
	.name = "forward",
	.flags = DS_PLUGIN_MULTI,
	.setup = fw_setup,
	.start = fw_start,
	.stop = fw_stop,
	.teardown = fw_teardown,
	.worker_init = fw_worker_init,
	.worker_fini = fw_worker_fini,
	.serve = fw_serve,
};
