/* SPDX-License-Identifier: MIT */
#include "tests/unit/server/harness.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "server/src/metrics.h"

struct ds_th {
	ds_gen_t *gen;
	char path[256];
	char dir[128];
};

static bool metrics_ready;

ds_th_t *ds_th_new(const char *corefile, ds_err_t *err)
{
	ds_th_t *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->dir, sizeof(t->dir), "/tmp/ds_th_XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return NULL;
	}
	snprintf(t->path, sizeof(t->path), "%s/Corefile", t->dir);
	FILE *f = fopen(t->path, "w");
	if (!f) {
		free(t);
		return NULL;
	}
	fputs(corefile, f);
	fclose(f);
	ds_listen_disabled = true;
	if (!ds_workers) {
		ds_nworkers = 1;
		if (!metrics_ready) {
			ds_metrics_init(1);
			metrics_ready = true;
		}
		ds_workers = calloc(2, sizeof(ds_worker_t));
		ds_worker_setup(&ds_workers[0], 0, false);
		ds_worker_setup(&ds_workers[1], 1, true);
	}
	if (ds_gen_build(t->path, 53, &t->gen, err) < 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		atomic_store(&ds_workers[i].next_gen, t->gen);
		ds_worker_turn(&ds_workers[i], 0);
	}
	if (ds_gen_start(t->gen, err) < 0)
		goto fail;
	return t;
fail:
	if (t->gen) {
		ds_gen_free(t->gen);
		t->gen = NULL;
	}
	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return NULL;
}

ds_gen_t *ds_th_gen(ds_th_t *t)
{
	return t->gen;
}

void ds_th_run(ds_th_t *t, int ms)
{
	int64_t end = ds_now_ns() + (int64_t)ms * DS_NS_PER_MS;
	while (ds_now_ns() < end) {
		ds_worker_turn(&ds_workers[0], 1);
		ds_worker_turn(&ds_workers[1], 0);
	}
}

void ds_th_free(ds_th_t *t)
{
	if (!t)
		return;
	ds_gen_stop(t->gen);
	/* Drain: let in-flight work finish, then drop the workers' holds. */
	ds_th_run(t, 10);
	for (int i = 0; i < 2; i++) {
		ds_worker_t *w = &ds_workers[i];
		for (int k = 0; k < DS_MAX_GENS; k++) {
			if (w->refs[k].gen == t->gen) {
				ds_gen_t *g = t->gen;
				for (size_t b = 0; b < g->nblocks; b++)
					for (size_t j = 0; j < g->blocks[b]->nall; j++) {
						ds_plugin_t *p = g->blocks[b]->all[j];
						if (p->api->worker_fini && p->wctx)
							p->api->worker_fini(p, w, p->wctx[w->id]);
					}
				w->refs[k].gen = NULL;
			}
		}
		w->gen = NULL;
	}
	ds_gen_free(t->gen);
	unlink(t->path);
	rmdir(t->dir);
	free(t);
}

struct waiter {
	bool done;
	bool abandoned; /* the test stopped waiting: recycle the query when it ends */
};

static void th_complete(ds_query_t *q, int rc)
{
	struct waiter *wt = (struct waiter *)q->conn;
	wt->done = true;
	if (wt->abandoned) {
		ds_worker_gen_drop(q->worker, q->gen);
		ds_query_put(q->worker, q);
		free(wt);
	}
}

static void fill(ds_th_res_t *res, ds_query_t *q)
{
	res->answered = q->resp_len >= DS_HDR_LEN;
	res->len = q->resp_len;
	memcpy(res->wire, q->tx, q->resp_len);
	snprintf(res->writer, sizeof(res->writer), "%s", q->writer ? q->writer : "");
	res->text[0] = '\0';
	if (!res->answered)
		return;
	res->flags = ds_rd16(res->wire + 2);
	res->rcode = DS_RCODE(res->flags);
	res->an = ds_rd16(res->wire + 6);
	res->ns = ds_rd16(res->wire + 8);
	res->ar = ds_rd16(res->wire + 10);
	ds_msg_t m;
	bool ext = ds_msg_parse(&m, res->wire, res->len, true) == DS_OK && m.has_opt;
	ldns_pkt *pkt = NULL;
	if (ldns_wire2pkt(&pkt, res->wire, res->len) == LDNS_STATUS_OK) {
		res->rcode = ldns_pkt_get_rcode(pkt);
		if (ext)
			res->rcode |= m.ext_rcode << 4; /* extended rcode from the OPT */
		char *s = ldns_pkt2str(pkt);
		if (s) {
			snprintf(res->text, sizeof(res->text), "%s", s);
			free(s);
		}
		ldns_pkt_free(pkt);
	} else {
		snprintf(res->text, sizeof(res->text), "(unparsable reply)");
	}
}

int ds_th_raw(ds_th_t *t, const uint8_t *req, size_t len, unsigned opts, int timeout_ms,
	      ds_th_res_t *res)
{
	ds_worker_t *w = &ds_workers[0];
	ds_query_t *q = ds_query_get(w);
	if (!q)
		return DS_ENOMEM;
	if (len > q->rx_cap)
		len = q->rx_cap;
	memcpy(q->rx, req, len);
	struct waiter *wt = calloc(1, sizeof(*wt));
	if (!wt) {
		ds_query_put(w, q);
		return DS_ENOMEM;
	}
	q->proto = (opts & DS_TH_TCP) ? DS_PROTO_TCP : DS_PROTO_UDP;
	ds_addr_parse((opts & DS_TH_V6) ? "[::1]:40000" : "127.0.0.1:40000", 0, &q->client);
	ds_addr_parse((opts & DS_TH_V6) ? "[::1]:53" : "127.0.0.1:53", 0, &q->local);
	q->conn = wt;
	q->complete = th_complete;
	memset(res, 0, sizeof(*res));
	const ds_listen_t *l = &t->gen->listens[0];
	/* Pick the listener whose zones match best: tests with several
	 * blocks on different ports ask the first listener. */
	bool sync = ds_chain_handle(w, l, q, len);
	if (!sync) {
		int64_t end = ds_now_ns() + (int64_t)timeout_ms * DS_NS_PER_MS;
		while (!wt->done && ds_now_ns() < end) {
			ds_worker_turn(w, 1);
			ds_worker_turn(&ds_workers[1], 0);
		}
		if (!wt->done) {
			wt->abandoned = true; /* the query stays with the plugin */
			return DS_ETIMEDOUT;
		}
	}
	free(wt);
	fill(res, q);
	ds_worker_gen_drop(w, q->gen);
	ds_query_put(w, q);
	return DS_OK;
}

int ds_th_query(ds_th_t *t, const char *qname, const char *qtype, unsigned opts,
		int timeout_ms, ds_th_res_t *res)
{
	uint8_t name[DS_NAME_MAX], buf[512];
	if (ds_name_from_str(qname, NULL, name) < 0)
		return DS_EINVAL;
	uint16_t type = ds_type_from_str(qtype);
	if (!type)
		return DS_EINVAL;
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, sizeof(buf));
	uint16_t flags = (opts & DS_TH_NORD) ? 0 : DS_FLAG_RD;
	if (opts & DS_TH_CD)
		flags |= DS_FLAG_CD;
	ds_wb_query(&wb, (uint16_t)(ds_now_ns() & 0xffff), flags, name, type, DS_CLASS_IN);
	if (opts & (DS_TH_DO | DS_TH_EDNS)) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 1232, 0, 0, (opts & DS_TH_DO) != 0);
	}
	int n = ds_wb_finish(&wb);
	if (n < 0)
		return n;
	return ds_th_raw(t, buf, (size_t)n, opts, timeout_ms, res);
}

bool ds_th_has(const ds_th_res_t *res, const char *s)
{
	const char *a = strstr(res->text, ";; ANSWER SECTION:");
	const char *e = a ? strstr(a, ";; AUTHORITY SECTION:") : NULL;
	if (!a)
		return false;
	const char *hit = strstr(a, s);
	return hit && (!e || hit < e);
}

/* ------------------------------------------------------ fake upstream */

#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static int up_answer(ds_th_up_t *u, const uint8_t *req, size_t len, bool tcp, uint8_t *out,
		     size_t cap)
{
	ds_msg_t m;
	if (ds_msg_parse(&m, req, len, false) < 0)
		return -1;
	u->last_id = m.id;
	u->last_do = m.do_bit;
	ds_wbuf_t wb;
	ds_wb_init(&wb, out, cap);
	uint8_t soa_owner[DS_NAME_MAX], mname[DS_NAME_MAX], rname[DS_NAME_MAX];
	ds_name_from_str("example.", NULL, soa_owner);
	ds_name_from_str("ns.example.", NULL, mname);
	ds_name_from_str("host.example.", NULL, rname);
	switch (u->mode) {
	case DS_TH_UP_DROP:
		return 0;
	case DS_TH_UP_WRONGQ: {
		uint8_t other[DS_NAME_MAX];
		ds_name_from_str("other.example.", NULL, other);
		ds_wb_query(&wb, m.id, DS_FLAG_QR | DS_FLAG_RD | DS_FLAG_RA, other, m.qtype, m.qclass);
		break;
	}
	case DS_TH_UP_SERVFAIL:
		ds_wb_reply(&wb, &m, DS_RCODE_SERVFAIL, DS_FLAG_RA);
		break;
	case DS_TH_UP_REFUSED:
		ds_wb_reply(&wb, &m, DS_RCODE_REFUSED, DS_FLAG_RA);
		break;
	case DS_TH_UP_TRUNCATE:
		if (!tcp) {
			ds_wb_reply(&wb, &m, DS_RCODE_NOERROR, DS_FLAG_RA | DS_FLAG_TC);
			break;
		}
		/* the whole answer over TCP */
		__attribute__((fallthrough));
	case DS_TH_UP_ANSWER:
	case DS_TH_UP_BIG: {
		ds_wb_reply(&wb, &m, DS_RCODE_NOERROR, DS_FLAG_RA);
		int n = u->mode == DS_TH_UP_BIG || (u->mode == DS_TH_UP_TRUNCATE && tcp) ? 60 : 1;
		for (int i = 0; i < n; i++) {
			uint8_t a[4] = {10, 0, (uint8_t)(i >> 8), (uint8_t)(i + 1)};
			if (m.qtype == DS_TYPE_AAAA) {
				uint8_t a6[16] = {0};
				a6[15] = (uint8_t)(i + 1);
				ds_wb_rr(&wb, m.qname, DS_TYPE_AAAA, DS_CLASS_IN, u->ttl, a6, 16);
			} else {
				ds_wb_rr(&wb, m.qname, DS_TYPE_A, DS_CLASS_IN, u->ttl, a, 4);
			}
		}
		break;
	}
	case DS_TH_UP_NXDOMAIN:
	case DS_TH_UP_NODATA:
	case DS_TH_UP_NXDOMAIN_NOSOA:
		ds_wb_reply(&wb, &m, u->mode == DS_TH_UP_NODATA ? DS_RCODE_NOERROR : DS_RCODE_NXDOMAIN,
			    DS_FLAG_RA);
		if (u->mode != DS_TH_UP_NXDOMAIN_NOSOA) {
			ds_wb_section(&wb, DS_SEC_AUTHORITY);
			int mk = ds_wb_rr_begin(&wb, soa_owner, DS_TYPE_SOA, DS_CLASS_IN, u->ttl);
			ds_wb_name(&wb, mname, true);
			ds_wb_name(&wb, rname, true);
			ds_wb_u32(&wb, 1);
			ds_wb_u32(&wb, 3600);
			ds_wb_u32(&wb, 600);
			ds_wb_u32(&wb, 86400);
			ds_wb_u32(&wb, 300);
			ds_wb_rr_end(&wb, mk);
		}
		break;
	}
	if (m.has_opt) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 4096, 0, 0, m.do_bit);
	}
	return ds_wb_finish(&wb);
}

static void up_udp(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	ds_th_up_t *u = arg;
	uint8_t buf[4096], out[65535];
	for (;;) {
		ds_sockaddr_t from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &fl);
		if (n < 0)
			return;
		u->udp_queries++;
		int r = up_answer(u, buf, (size_t)n, false, out, sizeof(out));
		if (r > 0)
			sendto(fd, out, (size_t)r, 0, &from.sa, fl);
	}
}

static void up_tcp_conn(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	ds_th_up_t *u = arg;
	uint8_t buf[4096], out[65537];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		ds_worker_del_fd(w, fd);
		close(fd);
		return;
	}
	/* Tests send one small query per read. */
	if (n < 2 || (size_t)n < 2u + ds_rd16(buf))
		return;
	u->tcp_queries++;
	int r = up_answer(u, buf + 2, ds_rd16(buf), true, out + 2, sizeof(out) - 2);
	if (r > 0) {
		ds_wr16(out, (uint16_t)r);
		ssize_t wn = write(fd, out, (size_t)r + 2);
		(void)wn;
	}
}

static void up_accept(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c >= 0)
		ds_worker_add_fd(w, c, EPOLLIN, up_tcp_conn, arg);
}

ds_th_up_t *ds_th_up_new(ds_th_up_mode_t mode, uint32_t ttl)
{
	if (!ds_workers) {
		/* the worker loop must exist to serve the sockets */
		ds_nworkers = 1;
		if (!metrics_ready) {
			ds_metrics_init(1);
			metrics_ready = true;
		}
		ds_workers = calloc(2, sizeof(ds_worker_t));
		ds_worker_setup(&ds_workers[0], 0, false);
		ds_worker_setup(&ds_workers[1], 1, true);
	}
	ds_th_up_t *u = calloc(1, sizeof(*u));
	u->mode = mode;
	u->ttl = ttl;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int tries = 0; tries < 50; tries++) {
		u->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sa.sin_port = 0;
		int one = 1;
		setsockopt(u->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(u->tcp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(u->tcp_fd, 64) < 0) {
			close(u->tcp_fd);
			continue;
		}
		socklen_t sl = sizeof(sa);
		getsockname(u->tcp_fd, (struct sockaddr *)&sa, &sl);
		u->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (bind(u->udp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(u->udp_fd);
			close(u->tcp_fd);
			continue;
		}
		u->port = ntohs(sa.sin_port);
		ds_worker_add_fd(&ds_workers[0], u->udp_fd, EPOLLIN, up_udp, u);
		ds_worker_add_fd(&ds_workers[0], u->tcp_fd, EPOLLIN, up_accept, u);
		return u;
	}
	free(u);
	return NULL;
}

void ds_th_up_close(ds_th_up_t *u)
{
	if (u->udp_fd >= 0) {
		ds_worker_del_fd(&ds_workers[0], u->udp_fd);
		close(u->udp_fd);
		u->udp_fd = -1;
	}
	if (u->tcp_fd >= 0) {
		ds_worker_del_fd(&ds_workers[0], u->tcp_fd);
		close(u->tcp_fd);
		u->tcp_fd = -1;
	}
}

void ds_th_up_free(ds_th_up_t *u)
{
	if (!u)
		return;
	ds_th_up_close(u);
	free(u);
}
