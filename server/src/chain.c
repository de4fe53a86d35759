/* SPDX-License-Identifier: MIT */
/*
 * From a received request to a reply: the checks the server makes before
 * any plugin (malformed, opcode, EDNS version, zone, class), the plugin
 * chain runner with CoreDNS's return-code protocol, and the finishing
 * touches every reply gets (bare reply for unwritten rcodes, EDNS mirroring,
 * truncation to the client's buffer).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "server/src/dnsmetrics.h"
#include "server/src/server.h"

/* Query flags kept in udata (server-internal bits). */
#define QF_IN_HANDLE (1u << 0)
#define QF_DONE (1u << 1)
#define QF_UNWINDING (1u << 2)

static inline bool rc_not_written(int rc)
{
	return rc == DS_RCODE_SERVFAIL || rc == DS_RCODE_REFUSED || rc == DS_RCODE_FORMERR ||
	       rc == DS_RCODE_NOTIMP;
}

/* ------------------------------------------------------------- replies */

int ds_query_reply(ds_query_t *q, ds_plugin_t *p)
{
	int n = ds_wb_finish(&q->resp);
	if (n < 0)
		return n;
	q->resp_len = (uint32_t)n;
	q->written = true;
	q->writer = p ? p->api->name : "";
	return DS_OK;
}

int ds_query_reply_raw(ds_query_t *q, ds_plugin_t *p, const uint8_t *msg, size_t len)
{
	if (len > q->tx_cap || len < DS_HDR_LEN)
		return DS_ESPACE;
	if (msg != q->tx)
		memcpy(q->tx, msg, len);
	q->resp_len = (uint32_t)len;
	q->written = true;
	q->writer = p ? p->api->name : "";
	return DS_OK;
}

void ds_query_error(ds_query_t *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
}

void *ds_plugin_wctx(const ds_plugin_t *p, const ds_query_t *q)
{
	return p->wctx[q->worker->id];
}

unsigned ds_query_worker_id(const ds_query_t *q)
{
	return q->worker->id;
}

int ds_query_qname_orig(const ds_query_t *q, uint8_t *out)
{
	size_t pos = q->req.qname_off;
	return ds_name_unpack(q->req.pkt, q->req.len, &pos, out);
}

/* Header-only (or header + question) reply with rcode, written by the server. */
static void bare_reply(ds_query_t *q, unsigned rcode)
{
	ds_wb_init(&q->resp, q->tx, q->tx_cap);
	if (ds_wb_reply(&q->resp, &q->req, rcode & 0xf, 0) < 0) {
		q->resp_len = 0;
		return;
	}
	int n = ds_wb_finish(&q->resp);
	q->resp_len = n > 0 ? (uint32_t)n : 0;
	q->written = true;
	q->writer = "";
}

/* FORMERR for a request whose header is readable but the rest is not:
 * echo the header only, as there is no question we can trust. */
static void formerr_header_only(ds_query_t *q)
{
	uint8_t *t = q->tx;
	memcpy(t, q->rx, 2);
	uint16_t f = ds_rd16(q->rx + 2);
	ds_wr16(t + 2, (uint16_t)(DS_FLAG_QR | (f & (0x7800 | DS_FLAG_RD | DS_FLAG_CD)) |
				  DS_RCODE_FORMERR));
	memset(t + 4, 0, 8);
	q->resp_len = DS_HDR_LEN;
	q->written = true;
	q->writer = "";
}

void ds_chain_finalize(ds_query_t *q, int rc)
{
	if (!q->written || q->resp_len == 0) {
		if (rc >= 0 && !rc_not_written(rc)) {
			/* "Written" rcode but nothing written: the client gets no
			 * reply at all, as in CoreDNS (erratic's drop). */
			q->resp_len = 0;
			return;
		}
		if (rc < 0)
			rc = DS_RCODE_SERVFAIL;
		bare_reply(q, (unsigned)rc);
		if (q->resp_len == 0)
			return;
	}
	size_t max = q->proto == DS_PROTO_UDP ? ds_msg_udp_limit(&q->req) : DS_MSG_MAX;
	int n = ds_msg_finalize(q->tx, q->resp_len, q->tx_cap, &q->req, max);
	q->resp_len = n > 0 ? (uint32_t)n : 0;
}

/* ------------------------------------------------------------- runner */

static void finish(ds_query_t *q, int rc)
{
	ds_chain_finalize(q, rc);
	q->udata |= QF_DONE;
	if (!(q->udata & QF_IN_HANDLE))
		q->complete(q, rc);
}

static void unwind(ds_query_t *q, int rc)
{
	while (q->depth > 0) {
		ds_plugin_t *p = q->stack[--q->depth];
		rc = p->api->done(p, q, rc);
		if (rc == DS_ASYNC) {
			q->udata |= QF_UNWINDING;
			return;
		}
	}
	q->udata &= ~(uint64_t)QF_UNWINDING;
	finish(q, rc);
}

static void run(ds_query_t *q)
{
	ds_block_t *b = q->block;
	while (q->pos < b->nchain) {
		ds_plugin_t *p = b->chain[q->pos];
		int rc = p->api->serve(p, q);
		if (rc == DS_NEXT) {
			if (p->api->done && q->depth < DS_CHAIN_MAX)
				q->stack[q->depth++] = p;
			q->pos++;
			continue;
		}
		if (rc == DS_ASYNC)
			return;
		unwind(q, rc);
		return;
	}
	/* Fell off the end: CoreDNS's NextOrFailure. */
	if (b->nchain)
		ds_query_error(q, "plugin/%s: no next plugin found", b->chain[b->nchain - 1]->api->name);
	unwind(q, DS_RCODE_SERVFAIL);
}

void ds_query_resume(ds_query_t *q, int rc)
{
	if (q->udata & QF_UNWINDING) {
		unwind(q, rc);
		return;
	}
	if (rc == DS_NEXT) {
		ds_plugin_t *p = q->block->chain[q->pos];
		if (p->api->done && q->depth < DS_CHAIN_MAX)
			q->stack[q->depth++] = p;
		q->pos++;
		run(q);
		return;
	}
	if (rc == DS_ASYNC)
		return;
	unwind(q, rc);
}

/* Longest zone of listener l that contains qname (DS: the closest to the
 * root, so the parent side answers); "." only as the last resort. */
static const struct ds_zone_ent *match_zone(const ds_listen_t *l, const ds_msg_t *m)
{
	const struct ds_zone_ent *best = NULL;
	int best_labels = -1;
	bool ds = m->qtype == DS_TYPE_DS;
	for (size_t i = 0; i < l->nzones; i++) {
		const struct ds_zone_ent *z = &l->zones[i];
		if (z->zone[0] == 0)
			continue;
		if (!ds_name_in(m->qname, z->zone))
			continue;
		int n = ds_name_labels(z->zone);
		if (!best || (ds ? n < best_labels : n > best_labels)) {
			best = z;
			best_labels = n;
		}
	}
	if (best)
		return best;
	for (size_t i = 0; i < l->nzones; i++)
		if (l->zones[i].zone[0] == 0)
			return &l->zones[i];
	return NULL;
}

static void start_query(ds_worker_t *w, ds_query_t *q)
{
	q->written = false;
	q->resp_len = 0;
	q->writer = NULL;
	q->err[0] = '\0';
	q->depth = 0;
	q->pos = 0;
	q->udata = QF_IN_HANDLE;
	q->worker = w;
	q->gen = w->gen;
	ds_worker_gen_hold(w, q->gen);
	ds_wb_init(&q->resp, q->tx, q->tx_cap);
}

bool ds_chain_handle(ds_worker_t *w, const ds_listen_t *l, ds_query_t *q, size_t len)
{
	start_query(w, q);
	/* w->now is taken when the batch was read: one clock read per batch,
	 * and the duration metrics include the time a query waited in it. */
	q->start_ns = w->now;
	q->listener = l->listener_idx;
	q->block = NULL;
	int rc = ds_msg_parse(&q->req, q->rx, len, true);
	if (rc == DS_ESHORT)
		return true; /* not even a header: drop silently */
	uint16_t flags = ds_rd16(q->rx + 2);
	if (flags & DS_FLAG_QR) {
		/* A response sent to us (reflection or stray): never answer. */
		return true;
	}
	if (rc < 0) {
		formerr_header_only(q);
		ds_dnsmetrics_dropped(q, l, DS_RCODE_FORMERR);
		return true;
	}
	/* The message acceptance rules of the DNS library CoreDNS uses. */
	unsigned opcode = DS_OPCODE(flags);
	if (opcode != DS_OPCODE_QUERY && opcode != DS_OPCODE_NOTIFY) {
		bare_reply(q, DS_RCODE_NOTIMP);
		ds_chain_finalize(q, DS_RCODE_NOTIMP);
		ds_dnsmetrics_dropped(q, l, DS_RCODE_NOTIMP);
		return true;
	}
	if (q->req.qdcount != 1 || q->req.ancount > 1 || q->req.nscount > 1 ||
	    q->req.arcount > 2) {
		bare_reply(q, DS_RCODE_FORMERR);
		ds_chain_finalize(q, DS_RCODE_FORMERR);
		ds_dnsmetrics_dropped(q, l, DS_RCODE_FORMERR);
		return true;
	}
	if (q->req.has_opt && q->req.edns_version != 0) {
		/* BADVERS = 16: upper bits 1 in the OPT, 0 in the header. */
		ds_wb_reply(&q->resp, &q->req, 0, 0);
		ds_wb_section(&q->resp, DS_SEC_ADDITIONAL);
		ds_wb_opt(&q->resp, q->req.udp_size, 1, 0, q->req.do_bit);
		int n = ds_wb_finish(&q->resp);
		q->resp_len = n > 0 ? (uint32_t)n : 0;
		q->written = true;
		ds_dnsmetrics_dropped(q, l, DS_RCODE_BADVERS);
		return true;
	}
	const struct ds_zone_ent *z = match_zone(l, &q->req);
	if (!z || !z->block->nchain) {
		bare_reply(q, DS_RCODE_REFUSED);
		ds_chain_finalize(q, DS_RCODE_REFUSED);
		ds_dnsmetrics_dropped(q, l, DS_RCODE_REFUSED);
		return true;
	}
	if (q->req.qclass != DS_CLASS_IN && !z->block->any_class) {
		bare_reply(q, DS_RCODE_REFUSED);
		ds_chain_finalize(q, DS_RCODE_REFUSED);
		ds_dnsmetrics_dropped(q, l, DS_RCODE_REFUSED);
		return true;
	}
	q->block = z->block;
	q->zmetrics = z->metrics;
	q->zone = z->zone;
	q->zone_idx = z->zone_idx;
	memset(q->pscratch, 0, sizeof(q->pscratch[0]) * z->block->nchain);
	run(q);
	q->udata &= ~(uint64_t)QF_IN_HANDLE;
	return (q->udata & QF_DONE) != 0;
}

/* ---------------------------------------------------------- sub-queries */

struct subq {
	void (*cb)(ds_query_t *sub, int rc, void *arg);
	void *arg;
};

static void subq_complete(ds_query_t *q, int rc)
{
	struct subq *s = (struct subq *)&q->pscratch[DS_CHAIN_MAX - 1];
	s->cb(q, rc, s->arg);
	ds_worker_gen_drop(q->worker, q->gen);
	ds_query_put(q->worker, q);
}

ds_query_t *ds_subquery_new(ds_worker_t *w, ds_block_t *b, ds_plugin_t *from,
			    const uint8_t *qname, uint16_t qtype, uint16_t flags, bool do_bit,
			    void (*cb)(ds_query_t *sub, int rc, void *arg), void *arg)
{
	if (b->nchain >= DS_CHAIN_MAX - 1)
		return NULL;
	ds_query_t *q = ds_query_get(w);
	if (!q)
		return NULL;
	ds_wbuf_t wb;
	ds_wb_init(&wb, q->rx, q->rx_cap);
	ds_wb_query(&wb, (uint16_t)ds_rng_next(&w->rng), flags, qname, qtype, DS_CLASS_IN);
	if (do_bit) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 4096, 0, 0, true);
	}
	int len = ds_wb_finish(&wb);
	if (len < 0 || ds_msg_parse(&q->req, q->rx, (size_t)len, false) < 0) {
		ds_query_put(w, q);
		return NULL;
	}
	q->written = false;
	q->resp_len = 0;
	q->writer = NULL;
	q->err[0] = '\0';
	q->depth = 0;
	q->udata = 0;
	q->worker = w;
	q->gen = b->gen;
	ds_worker_gen_hold(w, q->gen);
	ds_wb_init(&q->resp, q->tx, q->tx_cap);
	q->proto = DS_PROTO_INTERNAL;
	memset(&q->client, 0, sizeof(q->client));
	memset(&q->local, 0, sizeof(q->local));
	q->start_ns = ds_now_ns();
	q->block = b;
	q->listener = 0;
	int zi = ds_zone_match((const uint8_t(*)[DS_NAME_MAX])b->zones, b->nzones, q->req.qname);
	q->zone_idx = (uint16_t)(zi < 0 ? 0 : zi);
	q->zone = b->zones[q->zone_idx];
	q->pos = (uint8_t)(from ? from->index : 0);
	memset(q->pscratch, 0, sizeof(q->pscratch[0]) * b->nchain);
	q->complete = subq_complete;
	struct subq *s = (struct subq *)&q->pscratch[DS_CHAIN_MAX - 1];
	s->cb = cb;
	s->arg = arg;
	return q;
}

void ds_subquery_run(ds_query_t *sub)
{
	run(sub);
}
