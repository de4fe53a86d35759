/* SPDX-License-Identifier: MIT */
#include "server/src/upstream.h"

#include <stdlib.h>

#include "server/src/rrcopy.h"

#define CHUNK 16

struct ds_upstream_chunk {
	struct ds_upstream_chunk *next;
	_Alignas(max_align_t) unsigned char mem[];
};

void ds_upstream_pool_init(ds_upstream_pool_t *pool, size_t size)
{
	size_t a = _Alignof(ds_upstream_t);
	pool->stride = (sizeof(ds_upstream_t) + size + a - 1) / a * a;
	pool->free = pool->active = NULL;
	pool->chunks = NULL;
}

void ds_upstream_pool_fini(ds_upstream_pool_t *pool)
{
	while (pool->chunks) {
		struct ds_upstream_chunk *c = pool->chunks;
		pool->chunks = c->next;
		free(c);
	}
	pool->free = pool->active = NULL;
}

ds_upstream_t *ds_upstream_get(ds_upstream_pool_t *pool, ds_query_t *q, int depth)
{
	if (!pool)
		return NULL;
	if (!pool->free) {
		struct ds_upstream_chunk *c = calloc(1, sizeof(*c) + CHUNK * pool->stride);
		if (!c)
			return NULL;
		c->next = pool->chunks;
		pool->chunks = c;
		for (size_t i = 0; i < CHUNK; i++) {
			ds_upstream_t *u = (ds_upstream_t *)(c->mem + i * pool->stride);
			u->pool = pool;
			u->next_free = pool->free;
			pool->free = u;
		}
	}
	ds_upstream_t *u = pool->free;
	pool->free = u->next_free;
	u->prev_act = NULL;
	u->next_act = pool->active;
	if (pool->active)
		pool->active->prev_act = u;
	pool->active = u;
	u->q = q;
	u->depth = depth;
	u->sub = NULL;
	return u;
}

void ds_upstream_put(ds_upstream_t *u)
{
	ds_upstream_pool_t *pool = u->pool;
	if (u->prev_act)
		u->prev_act->next_act = u->next_act;
	else
		pool->active = u->next_act;
	if (u->next_act)
		u->next_act->prev_act = u->prev_act;
	u->q = u->sub = NULL;
	u->next_free = pool->free;
	pool->free = u;
}

int ds_upstream_depth(const ds_upstream_pool_t *pool, const ds_query_t *q)
{
	if (q->proto != DS_PROTO_INTERNAL)
		return 0;
	for (const ds_upstream_t *u = pool ? pool->active : NULL; u; u = u->next_act)
		if (u->sub == q)
			return u->depth + 1;
	return 0;
}

ds_block_t *ds_upstream_block(const ds_query_t *q, const uint8_t *name)
{
	ds_block_t *const *blocks;
	size_t nb = ds_gen_blocks(q->gen, &blocks);
	ds_block_t *best = NULL;
	int best_labels = -1;
	for (size_t i = 0; i < nb; i++) {
		const uint8_t *const *zones;
		size_t nz = ds_block_zones(blocks[i], &zones);
		for (size_t k = 0; k < nz; k++) {
			int l = ds_name_labels(zones[k]);
			if (l > best_labels && ds_name_in(name, zones[k])) {
				best = blocks[i];
				best_labels = l;
			}
		}
	}
	return best;
}

/* Append the answer section of a finished lookup to q's reply. */
static void append_answers(ds_query_t *q, const ds_query_t *sub, unsigned opts)
{
	ds_wbuf_t *wb = &q->resp;
	if (sub->resp_len < DS_HDR_LEN)
		return;
	const uint8_t *pkt = sub->tx;
	size_t len = sub->resp_len;
	if ((opts & DS_UPSTREAM_TC) && wb->len >= DS_HDR_LEN)
		wb->p[2] =
		    (uint8_t)((wb->p[2] & ~(DS_FLAG_TC >> 8)) | (pkt[2] & (DS_FLAG_TC >> 8)));
	ds_rr_iter_t it;
	ds_rr_t rr;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return;
	/* names may point anywhere in the lookup's reply: they are expanded */
	while (ds_rr_next(&it, &rr) == 1 && rr.section == DS_SEC_ANSWER)
		if (ds_rrcopy(wb, pkt, len, &rr) < 0)
			return;
}

static void lookup_done(ds_query_t *sub, int rc, void *arg)
{
	ds_upstream_t *u = arg;
	append_answers(u->q, sub, u->opts);
	u->sub = NULL;
	if (u->in_launch) {
		u->done_sync = true; /* ds_upstream_ask() tells its caller */
		return;
	}
	u->cb(u);
}

int ds_upstream_ask(ds_upstream_t *u, ds_block_t *b, const uint8_t *name, unsigned opts,
		    ds_upstream_cb cb)
{
	ds_query_t *q = u->q;
	u->cb = cb;
	u->opts = opts;
	u->in_launch = true;
	u->done_sync = false;
	u->sub = ds_subquery_new(q->worker, b, NULL, name, q->req.qtype, DS_FLAG_RD, false,
				 lookup_done, u);
	if (u->sub)
		ds_subquery_run(u->sub);
	u->in_launch = false;
	if (u->done_sync)
		return DS_OK;
	return u->sub ? DS_ASYNC : DS_EAGAIN;
}
