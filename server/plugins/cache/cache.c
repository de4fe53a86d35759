/* SPDX-License-Identifier: MIT */
/*
 * cache [TTL] [ZONES...] { success, denial, prefetch, serve_stale,
 * serve_stale_policy, servfail, disable, keepttl }: CoreDNS's cache.
 *
 * Hit: under the item's shard lock, copy its wire bytes into the reply,
 * then patch ID, flags, the client's spelling of the question and every
 * TTL: no allocation, no parsing. Miss: pass on, and on the way back store
 * what the chain below wrote (classified as CoreDNS does) and flatten the
 * reply's TTLs to the stored duration. Prefetch and stale refreshes are
 * sub-queries through the rest of the chain, one in flight per item.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/plugins/cache/cache.h"
#include "server/src/metrics.h"
#include "server/src/server.h"

enum { SC_SKIP = 1, SC_MISS = 2, SC_VERIFY = 3 };

typedef struct cache_metrics {
	uint32_t requests, misses, prefetch, drops, stale;
	uint32_t hits[2], evictions[2]; /* [0] success, [1] denial */
} cache_metrics_t;

typedef struct cache {
	uint8_t (*zones)[DS_NAME_MAX];
	size_t nzones;
	char zones_label[512];
	uint32_t pcap, ncap;
	uint32_t pttl, minpttl, nttl, minnttl;
	int64_t servfail_ns;
	uint32_t prefetch;     /* AMOUNT, 0 = off */
	int64_t prefetch_dur;
	int prefetch_pct;
	int64_t stale_ns;      /* 0 = serve_stale off */
	bool verify;
	uint32_t stale_resp_ttl;
	int64_t recheck_ns;
	bool prefer_positive;
	bool keepttl;
	uint8_t (*pexcept)[DS_NAME_MAX];
	size_t npexcept;
	uint8_t (*nexcept)[DS_NAME_MAX];
	size_t nnexcept;
	ds_ctable_t pcache, ncache;
	cache_metrics_t *m;    /* per generation listener */
	size_t nm;
	ds_plugin_t *self;
} cache_t;

/* ---------------------------------------------------------------- setup */

static int parse_zones_list(ds_args_t *a, ds_block_t *b, uint8_t (**z)[DS_NAME_MAX], size_t *n)
{
	return ds_args_zones(a, b, z, n);
}

static int cache_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	cache_t *c = calloc(1, sizeof(*c));
	if (!c)
		return DS_ENOMEM;
	p->ctx = c;
	c->self = p;
	c->pcap = c->ncap = 10000;
	c->pttl = 3600;
	c->nttl = 1800;
	c->minpttl = c->minnttl = 5;
	c->servfail_ns = 5 * DS_NS_PER_SEC;
	c->prefetch_dur = 60 * DS_NS_PER_SEC;
	c->prefetch_pct = 10;
	ds_args_next(a);
	const char *args[64];
	size_t na = ds_args_remaining(a, args, 64);
	size_t zi = 0;
	if (na > 0) {
		long long ttl;
		if (ds_parse_int(args[0], -1000000000LL, 1000000000LL, &ttl) == DS_OK) {
			if (ttl <= 0)
				return ds_args_err(a, "cache TTL can not be zero or negative: %lld", ttl);
			c->pttl = c->nttl = (uint32_t)ttl;
			zi = 1;
		}
	}
	/* Zones: the remaining arguments, else the block's zones. */
	size_t nz = na - zi;
	c->nzones = nz ? nz : p->block->nzones;
	c->zones = calloc(c->nzones ? c->nzones : 1, DS_NAME_MAX);
	if (!c->zones)
		return DS_ENOMEM;
	for (size_t i = 0; i < c->nzones; i++) {
		if (nz) {
			char norm[300];
			if (ds_zone_normalize(args[zi + i], norm, sizeof(norm)) < 0 ||
			    ds_name_from_str(norm, NULL, c->zones[i]) < 0)
				return ds_args_err(a, "invalid zone '%s'", args[zi + i]);
			ds_name_lower(c->zones[i]);
		} else {
			memcpy(c->zones[i], p->block->zones[i], DS_NAME_MAX);
		}
		char zs[300];
		ds_name_to_str(c->zones[i], zs, sizeof(zs));
		size_t o = strlen(c->zones_label);
		snprintf(c->zones_label + o, sizeof(c->zones_label) - o, "%s%s", i ? "," : "", zs);
	}
	while (ds_args_next_block(a)) {
		const char *k = ds_args_val(a);
		const char *v[8];
		long long x;
		if (!strcmp(k, "success") || !strcmp(k, "denial")) {
			bool succ = k[0] == 's';
			size_t nv = ds_args_remaining(a, v, 8);
			if (nv < 1 || nv > 3)
				return ds_args_err_argcount(a);
			if (ds_parse_int(v[0], 1, 1LL << 31, &x) < 0)
				return ds_args_err(a, "invalid %s capacity '%s'", k, v[0]);
			*(succ ? &c->pcap : &c->ncap) = (uint32_t)x;
			if (nv > 1) {
				if (ds_parse_int(v[1], -1000000000LL, 1000000000LL, &x) < 0)
					return ds_args_err(a, "invalid TTL '%s'", v[1]);
				if (x <= 0)
					return ds_args_err(a, "cache TTL can not be zero or negative: %lld", x);
				*(succ ? &c->pttl : &c->nttl) = (uint32_t)x;
			}
			if (nv > 2) {
				if (ds_parse_int(v[2], 0, 1000000000LL, &x) < 0)
					return ds_args_err(a, "invalid minimum TTL '%s'", v[2]);
				*(succ ? &c->minpttl : &c->minnttl) = (uint32_t)x;
			}
		} else if (!strcmp(k, "prefetch")) {
			size_t nv = ds_args_remaining(a, v, 8);
			if (nv < 1 || nv > 3)
				return ds_args_err_argcount(a);
			if (ds_parse_int(v[0], 1, 1LL << 31, &x) < 0)
				return ds_args_err(a, "prefetch amount should be positive: '%s'", v[0]);
			c->prefetch = (uint32_t)x;
			if (nv > 1 && (ds_parse_duration(v[1], &c->prefetch_dur) < 0 || c->prefetch_dur <= 0))
				return ds_args_err(a, "invalid prefetch duration '%s'", v[1]);
			if (nv > 2) {
				size_t l = strlen(v[2]);
				char num[16];
				if (l < 2 || l > 4 || v[2][l - 1] != '%')
					return ds_args_err(a, "last character of percentage should be `%%`, but is: '%s'", v[2]);
				snprintf(num, sizeof(num), "%.*s", (int)(l - 1), v[2]);
				if (ds_parse_int(num, 10, 90, &x) < 0)
					return ds_args_err(a, "percentage should fall in range [10, 90]: %s", v[2]);
				c->prefetch_pct = (int)x;
			}
		} else if (!strcmp(k, "serve_stale")) {
			size_t nv = ds_args_remaining(a, v, 8);
			c->stale_ns = 3600 * DS_NS_PER_SEC;
			size_t i = 0;
			if (nv > i && strcmp(v[i], "immediate") && strcmp(v[i], "verify")) {
				if (ds_parse_duration(v[i], &c->stale_ns) < 0 || c->stale_ns < 0)
					return ds_args_err(a, "invalid value for serve_stale duration: '%s'", v[i]);
				i++;
			}
			if (nv > i) {
				if (!strcmp(v[i], "verify"))
					c->verify = true;
				else if (strcmp(v[i], "immediate"))
					return ds_args_err(a, "invalid value for serve_stale refresh mode: '%s'", v[i]);
				i++;
				int64_t d;
				if (c->verify && nv > i) {
					/* VERIFY_TIMEOUT: forward's own deadline bounds the
					 * wait; parsed for compatibility. */
					if (ds_parse_duration(v[i], &d) < 0)
						return ds_args_err(a, "invalid verify timeout '%s'", v[i]);
					i++;
				}
				if (nv > i) {
					if (ds_parse_duration(v[i], &d) < 0 || d < 0)
						return ds_args_err(a, "invalid response TTL '%s'", v[i]);
					c->stale_resp_ttl = (uint32_t)(d / DS_NS_PER_SEC);
					i++;
				}
				if (nv > i) {
					if (ds_parse_duration(v[i], &d) < 0 || d < 0 || d > 300 * DS_NS_PER_SEC)
						return ds_args_err(a, "invalid failure recheck '%s' (at most 5m)", v[i]);
					c->recheck_ns = d;
					i++;
				}
			}
			if (nv > i)
				return ds_args_err_argcount(a);
		} else if (!strcmp(k, "serve_stale_policy")) {
			size_t nv = ds_args_remaining(a, v, 8);
			if (nv != 1 || strcmp(v[0], "prefer_positive"))
				return ds_args_err(a, "serve_stale_policy takes prefer_positive");
			c->prefer_positive = true;
		} else if (!strcmp(k, "servfail")) {
			size_t nv = ds_args_remaining(a, v, 8);
			if (nv != 1)
				return ds_args_err_argcount(a);
			if (ds_parse_duration(v[0], &c->servfail_ns) < 0 || c->servfail_ns < 0)
				return ds_args_err(a, "invalid servfail duration '%s'", v[0]);
			if (c->servfail_ns > 300 * DS_NS_PER_SEC)
				return ds_args_err(a, "caching SERVFAIL responses over 5 minutes is not permitted");
		} else if (!strcmp(k, "disable")) {
			if (!ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			bool succ = !strcmp(ds_args_val(a), "success");
			if (!succ && strcmp(ds_args_val(a), "denial"))
				return ds_args_err(a, "cache type for disable must be \"success\" or \"denial\"");
			uint8_t(*z)[DS_NAME_MAX];
			size_t zn;
			/* No zones: "." (everything). */
			ds_args_t save = *a;
			if (!ds_args_next_arg(a)) {
				z = calloc(1, DS_NAME_MAX);
				if (!z)
					return DS_ENOMEM;
				zn = 1;
			} else {
				*a = save;
				int rc = parse_zones_list(a, p->block, &z, &zn);
				if (rc < 0)
					return rc;
			}
			if (succ) {
				free(c->pexcept);
				c->pexcept = z;
				c->npexcept = zn;
			} else {
				free(c->nexcept);
				c->nexcept = z;
				c->nnexcept = zn;
			}
		} else if (!strcmp(k, "keepttl")) {
			if (ds_args_next_arg(a))
				return ds_args_err_argcount(a);
			c->keepttl = true;
		} else {
			return ds_args_err(a, "unknown property '%s'", k);
		}
	}
	if (c->prefer_positive && !c->stale_ns)
		return ds_args_err(a, "serve_stale_policy requires serve_stale");
	if (ds_ctable_init(&c->pcache, c->pcap) < 0 || ds_ctable_init(&c->ncache, c->ncap) < 0)
		return DS_ENOMEM;
	return DS_OK;
}

static double entries_fn(void *arg)
{
	return (double)ds_ctable_len(arg);
}

static int cache_start(ds_plugin_t *p, ds_err_t *err)
{
	cache_t *c = p->ctx;
	ds_gen_t *g = p->gen;
	static const char *l3[] = {"server", "zones", "view"};
	static const char *l4[] = {"server", "type", "zones", "view"};
	ds_mfam_t *f_req = ds_metrics_family("coredns_cache_requests_total", "The count of cache requests.", DS_M_COUNTER, l3, 3, NULL, 0, 1);
	ds_mfam_t *f_hit = ds_metrics_family("coredns_cache_hits_total", "The count of cache hits.", DS_M_COUNTER, l4, 4, NULL, 0, 1);
	ds_mfam_t *f_miss = ds_metrics_family("coredns_cache_misses_total", "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.", DS_M_COUNTER, l3, 3, NULL, 0, 1);
	ds_mfam_t *f_pf = ds_metrics_family("coredns_cache_prefetch_total", "The number of times the cache has prefetched a cached item.", DS_M_COUNTER, l3, 3, NULL, 0, 1);
	ds_mfam_t *f_drop = ds_metrics_family("coredns_cache_drops_total", "The number responses that are not cached, because the reply is malformed.", DS_M_COUNTER, l3, 3, NULL, 0, 1);
	ds_mfam_t *f_stale = ds_metrics_family("coredns_cache_served_stale_total", "The number of requests served from stale cache entries.", DS_M_COUNTER, l3, 3, NULL, 0, 1);
	ds_mfam_t *f_ev = ds_metrics_family("coredns_cache_evictions_total", "The count of cache evictions.", DS_M_COUNTER, l4, 4, NULL, 0, 1);
	ds_mfam_t *f_ent = ds_metrics_family("coredns_cache_entries", "The number of elements in the cache.", DS_M_GAUGE, l4, 4, NULL, 0, 1);
	c->nm = g->nlistens ? g->nlistens : 1;
	c->m = calloc(c->nm, sizeof(*c->m));
	if (!c->m)
		return DS_ENOMEM;
	for (size_t li = 0; li < g->nlistens; li++) {
		const char *srv = g->listens[li].label;
		cache_metrics_t *m = &c->m[li];
		const char *v3[] = {srv, c->zones_label, ""};
		m->requests = ds_metrics_series(f_req, v3);
		m->misses = ds_metrics_series(f_miss, v3);
		m->prefetch = ds_metrics_series(f_pf, v3);
		m->drops = ds_metrics_series(f_drop, v3);
		m->stale = ds_metrics_series(f_stale, v3);
		for (int t = 0; t < 2; t++) {
			const char *v4[] = {srv, t ? "denial" : "success", c->zones_label, ""};
			m->hits[t] = ds_metrics_series(f_hit, v4);
			m->evictions[t] = ds_metrics_series(f_ev, v4);
			ds_metrics_gauge_fn(f_ent, v4, entries_fn, t ? &c->ncache : &c->pcache);
		}
	}
	return DS_OK;
}

static void cache_stop(ds_plugin_t *p)
{
	cache_t *c = p->ctx;
	static const char *l4[] = {"server", "type", "zones", "view"};
	ds_mfam_t *f_ent = ds_metrics_family("coredns_cache_entries", "The number of elements in the cache.", DS_M_GAUGE, l4, 4, NULL, 0, 1);
	ds_gen_t *g = p->gen;
	/* The gauges must not call into a cache that is about to go. A
	 * replacing generation with the same labels has set its own. */
	for (size_t li = 0; li < g->nlistens; li++)
		for (int t = 0; t < 2; t++) {
			const char *v4[] = {g->listens[li].label, t ? "denial" : "success", c->zones_label, ""};
			ds_metrics_gauge_fn(f_ent, v4, NULL, NULL);
		}
}

static void cache_teardown(ds_plugin_t *p)
{
	cache_t *c = p->ctx;
	if (!c)
		return;
	ds_ctable_free(&c->pcache);
	ds_ctable_free(&c->ncache);
	free(c->zones);
	free(c->pexcept);
	free(c->nexcept);
	free(c->m);
	free(c);
}

/* -------------------------------------------------------------- helpers */

static inline cache_metrics_t *qm(cache_t *c, const ds_query_t *q)
{
	return &c->m[q->listener < c->nm ? q->listener : 0];
}

static bool in_list(const uint8_t (*z)[DS_NAME_MAX], size_t n, const uint8_t *name)
{
	for (size_t i = 0; i < n; i++)
		if (ds_name_in(name, z[i]))
			return true;
	return false;
}

/* Does the stored question equal the query's? (hash collision guard) */
static inline bool matches(const ds_centry_t *e, const ds_query_t *q)
{
	if (e->qtype != q->req.qtype || e->qclass != q->req.qclass)
		return false;
	if (e->qname_wlen != q->req.qname_len)
		return false;
	/* e->wire + 12 holds the flat question name (upstream's case). */
	return ds_name_eq(e->wire + DS_HDR_LEN, q->req.qname);
}

static inline bool usable(const cache_t *c, const ds_centry_t *e, int64_t now, int64_t *ttl)
{
	*ttl = ds_centry_ttl(e, now);
	return *ttl > 0 || (c->stale_ns > 0 && -*ttl < c->stale_ns / DS_NS_PER_SEC);
}

/* Write e as the reply to q with TTL ttl on every record (shard lock held). */
static void emit(const cache_t *c, ds_query_t *q, const ds_centry_t *e, uint32_t ttl)
{
	uint8_t *t = q->tx;
	memcpy(t, e->wire, e->len);
	ds_wr16(t, q->req.id);
	uint16_t sf = ds_rd16(e->wire + 2);
	uint16_t rf = q->req.flags;
	/* SetReply copies ID, opcode, RD and CD; AA is always set; RA and the
	 * rcode come from the stored answer; AD only if the client asked. */
	uint16_t f = (uint16_t)(DS_FLAG_QR | (rf & (0x7800 | DS_FLAG_RD | DS_FLAG_CD)) | DS_FLAG_AA |
				(sf & DS_FLAG_RA) | (sf & 0xf));
	if ((sf & DS_FLAG_AD) && (q->req.do_bit || (rf & DS_FLAG_AD)))
		f |= DS_FLAG_AD;
	ds_wr16(t + 2, f);
	/* The client's spelling of the name (0x20 randomisation survives). */
	if (q->req.qname_wlen == e->qname_wlen)
		memcpy(t + DS_HDR_LEN, q->rx + q->req.qname_off, e->qname_wlen);
	for (uint16_t i = 0; i < e->nttl; i++)
		ds_wr32(t + e->ttl_offs[i], ttl);
	q->resp_len = e->len;
	q->written = true;
	q->writer = c->self->api->name;
}

/* ------------------------------------------------------------ refreshes */

static void store_response(cache_t *c, const ds_query_t *q, const uint8_t *resp, size_t len,
			   bool prefetch, uint32_t hits, uint32_t *duration_out, int listener);

static void refresh_done(ds_query_t *sub, int rc, void *arg)
{
	cache_t *c = arg;
	uint64_t *d = ds_subquery_data(sub);
	uint64_t key = d[0];
	uint32_t hits = (uint32_t)d[1];
	bool ok = false;
	if (sub->written && sub->resp_len >= DS_HDR_LEN) {
		unsigned r = DS_RCODE(ds_rd16(sub->tx + 2));
		ok = (r == DS_RCODE_NOERROR || r == DS_RCODE_NXDOMAIN) &&
		     !(ds_rd16(sub->tx + 2) & DS_FLAG_TC);
		if (ok)
			store_response(c, sub, sub->tx, sub->resp_len, true, hits, NULL, -1);
	}
	/* The old item (if it is still there) is no longer being refreshed;
	 * after a failure it waits failure_recheck before the next try. */
	for (int t = 0; t < 2; t++) {
		ds_ctable_t *tab = t ? &c->ncache : &c->pcache;
		ds_cshard_t *s = ds_ctable_shard(tab, key);
		pthread_spin_lock(&s->lock);
		ds_centry_t *e = ds_cshard_find(s, key);
		if (e) {
			e->refreshing = false;
			if (!ok)
				e->recheck_ns = ds_cache_clock() + c->recheck_ns;
		}
		pthread_spin_unlock(&s->lock);
	}
}

static void start_refresh(cache_t *c, ds_query_t *q, uint64_t key, uint32_t hits)
{
	uint16_t flags = DS_FLAG_RD | DS_FLAG_AD | (q->req.flags & DS_FLAG_CD);
	ds_query_t *sub = ds_subquery_new(q->worker, q->block, c->self->next, q->req.qname,
					  q->req.qtype, flags, q->req.do_bit, refresh_done, c);
	if (!sub) {
		/* No slot: let a later hit try again. */
		for (int t = 0; t < 2; t++) {
			ds_ctable_t *tab = t ? &c->ncache : &c->pcache;
			ds_cshard_t *s = ds_ctable_shard(tab, key);
			pthread_spin_lock(&s->lock);
			ds_centry_t *e = ds_cshard_find(s, key);
			if (e)
				e->refreshing = false;
			pthread_spin_unlock(&s->lock);
		}
		return;
	}
	ds_subquery_data(sub)[0] = key;
	ds_subquery_data(sub)[1] = hits;
	ds_subquery_run(sub);
}

/* ---------------------------------------------------------------- serve */

enum hit { H_MISS, H_FRESH, H_STALE, H_STALE_VERIFY };

/* Look key up in one table; on a usable item write the reply (under the
 * lock) and decide on a refresh. */
static enum hit try_table(cache_t *c, ds_ctable_t *tab, ds_query_t *q, uint64_t key, int64_t now,
			  bool *refresh, uint32_t *hits, bool skip_servfail)
{
	ds_cshard_t *s = ds_ctable_shard(tab, key);
	enum hit h = H_MISS;
	pthread_spin_lock(&s->lock);
	ds_centry_t *e = ds_cshard_find(s, key);
	int64_t ttl;
	if (!e || !matches(e, q) || !usable(c, e, now, &ttl) || (skip_servfail && e->servfail)) {
		pthread_spin_unlock(&s->lock);
		return H_MISS;
	}
	if (ttl > 0) {
		h = H_FRESH;
		uint32_t out = c->keepttl ? e->orig_ttl : (uint32_t)ttl;
		if (c->prefetch) {
			/* AMOUNT hits with no gap of DURATION or more. */
			if (now - e->last_hit_ns > c->prefetch_dur)
				e->hits = 1;
			else
				e->hits++;
			e->last_hit_ns = now;
			int64_t thr = (int64_t)ceil((double)c->prefetch_pct / 100.0 * e->orig_ttl);
			if (e->hits >= c->prefetch && ttl <= thr && !e->refreshing) {
				e->refreshing = true;
				*refresh = true;
				*hits = e->hits;
			}
		}
		emit(c, q, e, out);
	} else if (c->verify) {
		h = H_STALE_VERIFY;
	} else {
		h = H_STALE;
		if (!e->refreshing && now >= e->recheck_ns) {
			e->refreshing = true;
			*refresh = true;
			*hits = e->hits;
		}
		emit(c, q, e, c->stale_resp_ttl);
	}
	pthread_spin_unlock(&s->lock);
	return h;
}

static int cache_serve(ds_plugin_t *p, ds_query_t *q)
{
	cache_t *c = p->ctx;
	uint64_t *sc = ds_query_scratch(q, p);
	if (!in_list((const uint8_t(*)[DS_NAME_MAX])c->zones, c->nzones, q->req.qname)) {
		sc[0] = SC_SKIP;
		return DS_NEXT;
	}
	bool cd = (q->req.flags & DS_FLAG_CD) != 0;
	uint64_t key = ds_cache_key(q->req.qname, q->req.qtype, q->req.qclass, q->req.do_bit, cd);
	cache_metrics_t *m = qm(c, q);
	unsigned tid = q->worker->id;
	ds_metric_inc(tid, m->requests);
	int64_t now = ds_cache_clock();
	bool refresh = false;
	uint32_t hits = 0;
	enum hit h = H_MISS;
	int type = 0;
	/* Denial first, then success; a cached SERVFAIL yields to a usable
	 * success item. prefer_positive puts success first. */
	if (c->prefer_positive) {
		h = try_table(c, &c->pcache, q, key, now, &refresh, &hits, false);
		type = 0;
	}
	if (h == H_MISS) {
		h = try_table(c, &c->ncache, q, key, now, &refresh, &hits, true);
		type = 1;
	}
	if (h == H_MISS && !c->prefer_positive) {
		h = try_table(c, &c->pcache, q, key, now, &refresh, &hits, false);
		type = 0;
	}
	if (h == H_MISS) {
		h = try_table(c, &c->ncache, q, key, now, &refresh, &hits, false);
		type = 1;
	}
	if (h == H_MISS) {
		ds_metric_inc(tid, m->misses);
		sc[0] = SC_MISS;
		sc[1] = key;
		return DS_NEXT;
	}
	ds_metric_inc(tid, m->hits[type]);
	if (h == H_STALE_VERIFY) {
		/* Ask upstream first; done() falls back to the stale item. */
		sc[0] = SC_VERIFY;
		sc[1] = key;
		return DS_NEXT;
	}
	if (h == H_STALE)
		ds_metric_inc(tid, m->stale);
	if (refresh) {
		if (h == H_FRESH)
			ds_metric_inc(tid, m->prefetch);
		start_refresh(c, q, key, hits);
	}
	return DS_RCODE_NOERROR;
}

/* -------------------------------------------------------------- storing */

/* A NOERROR answer must answer the question: follow CNAMEs from qname and
 * find the qtype (CoreDNS does not cache a chain that goes nowhere). */
static bool answers_question(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qtype)
{
	if (qtype == DS_TYPE_ANY || qtype == DS_TYPE_CNAME)
		return true;
	uint8_t cur[DS_NAME_MAX];
	memcpy(cur, qname, ds_name_len(qname));
	for (int hop = 0; hop < 16; hop++) {
		ds_rr_iter_t it;
		if (ds_rr_iter_init(&it, pkt, len) < 0)
			return false;
		ds_rr_t rr;
		bool next = false;
		while (ds_rr_next(&it, &rr) == 1 && rr.section == DS_SEC_ANSWER) {
			uint8_t owner[DS_NAME_MAX];
			size_t pos = rr.owner_off;
			if (ds_name_unpack(pkt, len, &pos, owner) < 0)
				return false;
			if (!ds_name_eq(owner, cur))
				continue;
			if (rr.type == qtype || rr.type == DS_TYPE_DNAME || rr.type == DS_TYPE_RRSIG)
				return true;
			if (rr.type == DS_TYPE_CNAME) {
				pos = rr.rdata_off;
				if (ds_name_unpack(pkt, len, &pos, cur) < 0)
					return false;
				next = true;
				break;
			}
		}
		if (!next)
			return false;
	}
	return false;
}

/* Does the response's question equal the request's? */
static bool question_matches(const ds_query_t *q, const uint8_t *resp, size_t len)
{
	ds_msg_t m;
	if (ds_msg_parse(&m, resp, len, false) < 0)
		return false;
	return m.qtype == q->req.qtype && m.qclass == q->req.qclass && ds_name_eq(m.qname, q->req.qname);
}

static void store_response(cache_t *c, const ds_query_t *q, const uint8_t *resp, size_t len,
			   bool prefetch, uint32_t hits, uint32_t *duration_out, int listener)
{
	uint16_t f = ds_rd16(resp + 2);
	ds_resp_type_t t = ds_resp_typify(resp, len, q->req.do_bit, (uint32_t)time(NULL));
	bool has_soa = false;
	if (t == DS_RT_NOERROR && ds_rd16(resp + 6) > 0 &&
	    !answers_question(resp, len, q->req.qname, q->req.qtype)) {
		/* An answer that does not answer: NODATA if there is an SOA,
		 * otherwise not worth keeping. */
		ds_rr_iter_t it;
		ds_rr_t rr;
		if (ds_rr_iter_init(&it, resp, len) == 0)
			while (ds_rr_next(&it, &rr) == 1)
				if (rr.section == DS_SEC_AUTHORITY && rr.type == DS_TYPE_SOA)
					has_soa = true;
		t = has_soa ? DS_RT_NODATA : DS_RT_OTHERERROR;
	}
	uint32_t msg_ttl = ds_cache_msg_ttl(resp, len, t);
	uint32_t duration;
	if (t == DS_RT_NAMEERROR || t == DS_RT_NODATA)
		duration = ds_cache_clamp(msg_ttl, c->minnttl, c->nttl);
	else if (t == DS_RT_SERVERERROR)
		duration = (uint32_t)(c->servfail_ns / DS_NS_PER_SEC);
	else
		duration = ds_cache_clamp(msg_ttl, c->minpttl, c->pttl);
	if (duration_out)
		*duration_out = duration;
	bool has_key = !(f & DS_FLAG_TC) && t != DS_RT_OTHERERROR && t != DS_RT_META &&
		       t != DS_RT_UPDATE;
	if (!has_key || duration == 0)
		return;
	cache_metrics_t *m = listener >= 0 ? &c->m[(size_t)listener < c->nm ? (size_t)listener : 0] : NULL;
	unsigned tid = q->worker->id;
	if (!question_matches(q, resp, len)) {
		if (m)
			ds_metric_inc(tid, m->drops);
		return;
	}
	bool cd = (q->req.flags & DS_FLAG_CD) != 0;
	uint64_t key = ds_cache_key(q->req.qname, q->req.qtype, q->req.qclass, q->req.do_bit, cd);
	bool success = t == DS_RT_NOERROR || t == DS_RT_DELEGATION;
	if (success && in_list((const uint8_t(*)[DS_NAME_MAX])c->pexcept, c->npexcept, q->req.qname))
		return;
	if (!success && in_list((const uint8_t(*)[DS_NAME_MAX])c->nexcept, c->nnexcept, q->req.qname))
		return;
	ds_centry_t *e = ds_centry_new(resp, len, key, duration, ds_cache_clock());
	if (!e)
		return;
	e->hits = hits;
	e->last_hit_ns = ds_cache_clock();
	ds_ctable_t *tab = success ? &c->pcache : &c->ncache;
	bool ev = ds_ctable_put(tab, e);
	if (ev && m)
		ds_metric_inc(tid, m->evictions[success ? 0 : 1]);
	/* A refreshed positive answer replaces a negative one. */
	if (prefetch && success)
		ds_ctable_del(&c->ncache, key);
}

static void flatten(ds_query_t *q, uint32_t ttl)
{
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, q->tx, q->resp_len) < 0)
		return;
	ds_rr_t rr;
	while (ds_rr_next(&it, &rr) == 1)
		if (!(rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL))
			ds_wr32(q->tx + rr.ttl_off, ttl);
}

static int cache_done(ds_plugin_t *p, ds_query_t *q, int rc)
{
	cache_t *c = p->ctx;
	uint64_t *sc = ds_query_scratch(q, p);
	if (sc[0] == SC_SKIP || sc[0] == 0)
		return rc;
	bool written = q->written && q->resp_len >= DS_HDR_LEN && rc >= 0 &&
		       !(rc == DS_RCODE_SERVFAIL || rc == DS_RCODE_REFUSED ||
			 rc == DS_RCODE_FORMERR || rc == DS_RCODE_NOTIMP);
	if (sc[0] == SC_VERIFY) {
		bool fresh = false;
		if (written) {
			uint16_t f = ds_rd16(q->tx + 2);
			unsigned r = DS_RCODE(f);
			fresh = (r == DS_RCODE_NOERROR || r == DS_RCODE_NXDOMAIN) && !(f & DS_FLAG_TC) &&
				question_matches(q, q->tx, q->resp_len);
		}
		if (!fresh) {
			/* The upstream failed: the stale item answers. */
			uint64_t key = sc[1];
			for (int t = 0; t < 2; t++) {
				ds_ctable_t *tab = t ? &c->ncache : &c->pcache;
				ds_cshard_t *s = ds_ctable_shard(tab, key);
				pthread_spin_lock(&s->lock);
				ds_centry_t *e = ds_cshard_find(s, key);
				int64_t ttl;
				if (e && matches(e, q) && usable(c, e, ds_cache_clock(), &ttl)) {
					emit(c, q, e, c->stale_resp_ttl);
					pthread_spin_unlock(&s->lock);
					ds_metric_inc(q->worker->id, qm(c, q)->stale);
					return DS_RCODE_NOERROR;
				}
				pthread_spin_unlock(&s->lock);
			}
			return rc;
		}
	}
	if (!written)
		return rc;
	uint32_t duration = 0;
	store_response(c, q, q->tx, q->resp_len, false, 0, &duration, q->listener);
	/* The client sees the TTL the item was stored with, on every record. */
	flatten(q, duration);
	if (!q->req.do_bit && !(q->req.flags & DS_FLAG_AD))
		q->tx[3] &= (uint8_t)~DS_FLAG_AD;
	return rc;
}

DS_PLUGIN_DEFINE(cache) = {
	.abi = DS_PLUGIN_ABI,
	.name = "cache",
	.flags = DS_PLUGIN_ONCE,
	.setup = cache_setup,
	.start = cache_start,
	.stop = cache_stop,
	.teardown = cache_teardown,
	.serve = cache_serve,
	.done = cache_done,
};
