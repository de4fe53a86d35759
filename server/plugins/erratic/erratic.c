/* SPDX-License-Identifier: MIT */
/*
 * erratic { drop [AMOUNT]; truncate [AMOUNT]; delay [AMOUNT [DURATION]]; large }:
 * a test upstream that answers every A with 192.0.2.53 and every AAAA with
 * 2001:db8::53 (TTL 0, owner as the client wrote it, AA set), other types
 * with SERVFAIL and AXFR with a tiny zone, and misbehaves on purpose.
 *
 * One query counter per instance, shared by all workers (an atomic, as in
 * CoreDNS): query number n (from 0) is dropped when n % drop == 0, delayed
 * when n % delay == 0, and truncated when (n & truncate) == 0. The last
 * one is a bitwise AND in CoreDNS, not a modulo; we keep it so a scenario
 * sees the same pattern against both servers (see README.md).
 *
 * A delay never blocks the worker: the reply is written at once, the query
 * is parked on a worker timer (DS_ASYNC) and released when it fires. Timer
 * records come from a per-worker free list that grows in chunks, so the
 * query path does not allocate once the pool is warm.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "server/src/plugin.h"

#define CHUNK 64

typedef struct erratic {
	uint64_t drop, delay, truncate;
	int64_t duration;
	bool large;
	atomic_uint_fast64_t q; /* queries seen, the Nth-query decisions key on it */
} erratic_t;

typedef struct delayed {
	ds_timer_t t;
	ds_query_t *q;
	int rc;
	struct delayed *next;
	struct wstate *ws;
} delayed_t;

typedef struct chunk {
	struct chunk *next;
	delayed_t d[CHUNK];
} chunk_t;

typedef struct wstate {
	ds_worker_t *w;
	delayed_t *free;
	chunk_t *chunks;
} wstate_t;

/* ---------------------------------------------------------------- setup */

/* One optional non-negative AMOUNT, as CoreDNS reads it (a 32-bit int). */
static int amount(ds_args_t *a, const char *v, uint64_t *out)
{
	long long n;
	if (ds_parse_int(v, -2147483648LL, 2147483647LL, &n) < 0)
		return ds_args_err(a, "invalid amount '%s'", v);
	if (n < 0)
		return ds_args_err(a, "illegal amount value given \"%s\"", v);
	*out = (uint64_t)n;
	return DS_OK;
}

static int erratic_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	erratic_t *e = calloc(1, sizeof(*e));
	if (!e)
		return DS_ENOMEM;
	p->ctx = e;
	atomic_init(&e->q, 0);
	e->drop = 2;
	bool saw_drop = false;
	for (size_t o = 0; o < n; o++) {
		ds_args_t *a = &occ[o];
		ds_args_next(a);
		/* CoreDNS ignores words after "erratic"; so do we, to run the same files. */
		while (ds_args_next_arg(a))
			;
		while (ds_args_next_block(a)) {
			const char *k = ds_args_val(a);
			const char *v[4];
			size_t nv = ds_args_remaining(a, v, 4);
			int rc;
			if (!strcmp(k, "drop")) {
				if (nv > 1)
					return ds_args_err_argcount(a);
				/* A bare "drop" keeps the default and, as in CoreDNS, does
				 * not count as having asked for drops (see below). */
				if (nv == 0)
					continue;
				if ((rc = amount(a, v[0], &e->drop)) < 0)
					return rc;
				saw_drop = true;
			} else if (!strcmp(k, "delay")) {
				if (nv > 2)
					return ds_args_err_argcount(a);
				e->delay = 2;
				e->duration = 100 * DS_NS_PER_MS;
				if (nv >= 1 && (rc = amount(a, v[0], &e->delay)) < 0)
					return rc;
				if (nv == 2 &&
				    (ds_parse_duration(v[1], &e->duration) < 0 || e->duration < 0))
					return ds_args_err(a, "invalid duration '%s'", v[1]);
			} else if (!strcmp(k, "truncate")) {
				if (nv > 1)
					return ds_args_err_argcount(a);
				e->truncate = 2;
				if (nv == 1 && (rc = amount(a, v[0], &e->truncate)) < 0)
					return rc;
			} else if (!strcmp(k, "large")) {
				e->large = true;
			} else {
				return ds_args_err(a, "unknown property '%s'", k);
			}
		}
	}
	/* Asking for delays or truncation without an explicit drop turns the
	 * default drop off. */
	if ((e->delay > 0 || e->truncate > 0) && !saw_drop)
		e->drop = 0;
	return DS_OK;
}

static void erratic_teardown(ds_plugin_t *p)
{
	free(p->ctx);
}

/* --------------------------------------------------------------- worker */

static int erratic_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	wstate_t *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return DS_ENOMEM;
	ws->w = w;
	*wctx = ws;
	return DS_OK;
}

static void erratic_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	wstate_t *ws = wctx;
	if (!ws)
		return;
	chunk_t *c = ws->chunks;
	while (c) {
		chunk_t *next = c->next;
		/* Only reached with queries still parked when the process is torn
		 * down: their timers must not fire into freed memory. */
		for (size_t i = 0; i < CHUNK; i++)
			if (ds_timer_armed(&c->d[i].t))
				ds_timer_stop(w, &c->d[i].t);
		free(c);
		c = next;
	}
	free(ws);
}

static delayed_t *delayed_get(wstate_t *ws)
{
	if (!ws->free) {
		chunk_t *c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->next = ws->chunks;
		ws->chunks = c;
		for (size_t i = 0; i < CHUNK; i++) {
			c->d[i].t.heap_idx = -1;
			c->d[i].ws = ws;
			c->d[i].next = ws->free;
			ws->free = &c->d[i];
		}
	}
	delayed_t *d = ws->free;
	ws->free = d->next;
	return d;
}

static void delay_fired(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	delayed_t *d = arg;
	ds_query_t *q = d->q;
	int rc = d->rc;
	d->q = NULL;
	d->next = d->ws->free;
	d->ws->free = d;
	ds_query_resume(q, rc);
}

/* ---------------------------------------------------------------- serve */

static const uint8_t addr4[4] = {192, 0, 2, 53};
static const uint8_t addr6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};

/* "<label>.<qname>" into out; false when it would be too long. */
static bool prefixed(uint8_t *out, const char *label, const uint8_t *qname)
{
	size_t ll = strlen(label), ql = ds_name_len(qname);
	if (1 + ll + ql > DS_NAME_MAX)
		return false;
	out[0] = (uint8_t)ll;
	memcpy(out + 1, label, ll);
	memcpy(out + 1 + ll, qname, ql);
	return true;
}

/* The small zone CoreDNS's erratic transfers, under qname. */
static void write_axfr(ds_wbuf_t *wb, const uint8_t *qname, bool trunc)
{
	static const uint8_t soa_rdata_tail[20] = {
	    0x78, 0x49, 0x03, 0x09, /* serial 2018050825 */
	    0,    0,    0x1c, 0x20, /* refresh 7200 */
	    0,    0,    0x0e, 0x10, /* retry 3600 */
	    0,    0x12, 0x75, 0,    /* expire 1209600 */
	    0,    0,    0x0e, 0x10, /* minimum 3600 */
	};
	uint8_t mname[DS_NAME_MAX], rname[DS_NAME_MAX], a[DS_NAME_MAX], b[DS_NAME_MAX];
	ds_name_from_str("sns.dns.icann.org.", NULL, mname);
	ds_name_from_str("noc.dns.icann.org.", NULL, rname);
	bool ok_a = prefixed(a, "a", qname), ok_b = prefixed(b, "b", qname);
	static const uint8_t aaaa_a[16] = {0x20, 0x01, 0x0b, 0xd8, 0, 0, 0, 0,
	                                   0,    0,    0,    0,    0, 0, 0, 0x53};
	static const uint8_t aaaa_b[16] = {0x20, 0x01, 0x05, 0, 0, 0, 0, 0,
	                                   0,    0,    0,    0, 0, 0, 0, 0x54};
	for (int pass = 0; pass < (trunc ? 1 : 2); pass++) {
		int m = ds_wb_rr_begin(wb, qname, DS_TYPE_SOA, DS_CLASS_IN, 0);
		ds_wb_name(wb, mname, true);
		ds_wb_name(wb, rname, true);
		ds_wb_bytes(wb, soa_rdata_tail, sizeof(soa_rdata_tail));
		ds_wb_rr_end(wb, m);
		if (pass == 1 || !ok_a || !ok_b)
			continue;
		m = ds_wb_rr_begin(wb, qname, DS_TYPE_NS, DS_CLASS_IN, 0);
		ds_wb_name(wb, b, true);
		ds_wb_rr_end(wb, m);
		m = ds_wb_rr_begin(wb, qname, DS_TYPE_NS, DS_CLASS_IN, 0);
		ds_wb_name(wb, a, true);
		ds_wb_rr_end(wb, m);
		ds_wb_rr(wb, a, DS_TYPE_AAAA, DS_CLASS_IN, 0, aaaa_a, 16);
		ds_wb_rr(wb, b, DS_TYPE_AAAA, DS_CLASS_IN, 0, aaaa_b, 16);
	}
}

static int erratic_serve(ds_plugin_t *p, ds_query_t *q)
{
	erratic_t *e = p->ctx;
	uint64_t nr = atomic_fetch_add_explicit(&e->q, 1, memory_order_relaxed);
	bool drop = e->drop > 0 && nr % e->drop == 0;
	bool delay = e->delay > 0 && nr % e->delay == 0;
	bool trunc = e->truncate > 0 && (nr & e->truncate) == 0;

	int rc = DS_RCODE_NOERROR;
	uint8_t qname[DS_NAME_MAX];
	uint16_t qtype = q->req.qtype;
	bool answers = qtype == DS_TYPE_A || qtype == DS_TYPE_AAAA || qtype == DS_TYPE_AXFR;
	if (!answers) {
		rc = DS_RCODE_SERVFAIL; /* nothing written: the server replies SERVFAIL */
	} else {
		if (ds_query_qname_orig(q, qname) < 0)
			return DS_RCODE_SERVFAIL;
		ds_wbuf_t *wb = &q->resp;
		uint16_t fl = DS_FLAG_AA | (trunc && qtype != DS_TYPE_AXFR ? DS_FLAG_TC : 0);
		ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, fl);
		if (qtype == DS_TYPE_A) {
			for (int i = 0; i < (e->large ? 30 : 1); i++)
				ds_wb_rr(wb, qname, DS_TYPE_A, DS_CLASS_IN, 0, addr4, 4);
		} else if (qtype == DS_TYPE_AAAA) {
			ds_wb_rr(wb, qname, DS_TYPE_AAAA, DS_CLASS_IN, 0, addr6, 16);
		} else {
			/* Truncation of a transfer leaves out the closing SOA. */
			write_axfr(wb, qname, trunc);
		}
	}
	/* A dropped query gets no reply at all: "answered, but nothing written"
	 * in the return-code protocol, as CoreDNS's erratic returns it. */
	if (drop) {
		q->written = false;
		q->resp_len = 0;
		return DS_RCODE_NOERROR;
	}
	if (answers && ds_query_reply(q, p) < 0)
		return DS_RCODE_SERVFAIL;
	if (!delay || e->duration <= 0)
		return rc;
	wstate_t *ws = ds_plugin_wctx(p, q);
	delayed_t *d = ws ? delayed_get(ws) : NULL;
	if (!d)
		return rc; /* out of memory: answer now rather than never */
	d->q = q;
	d->rc = rc;
	ds_timer_init(&d->t, delay_fired, d);
	ds_timer_start(q->worker, &d->t, e->duration);
	return DS_ASYNC;
}

/* Ready only while the query count is in [3, 5): CoreDNS flips it on
 * purpose so readiness probing can be tested. */
static bool erratic_ready(ds_plugin_t *p)
{
	erratic_t *e = p->ctx;
	uint64_t n = atomic_load_explicit(&e->q, memory_order_relaxed);
	return n >= 3 && n < 5;
}

DS_PLUGIN_DEFINE(erratic) = {
    .abi = DS_PLUGIN_ABI,
    .name = "erratic",
    .setup = erratic_setup,
    .worker_init = erratic_worker_init,
    .worker_fini = erratic_worker_fini,
    .serve = erratic_serve,
    .ready = erratic_ready,
    .teardown = erratic_teardown,
};
