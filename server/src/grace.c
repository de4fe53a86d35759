/* SPDX-License-Identifier: MIT */
#include "server/src/grace.h"

#include <stdlib.h>

#include "lib/common.h"
#include "lib/log.h"

int ds_grace_init(ds_grace_t *g, unsigned nworkers, const char *plugin)
{
	g->nslots = nworkers;
	g->plugin = plugin;
	g->nretired = 0;
	g->slots = calloc(nworkers ? nworkers : 1, sizeof(*g->slots));
	return g->slots ? DS_OK : DS_ENOMEM;
}

bool ds_grace_retire(ds_grace_t *g, void *obj, void (*free_fn)(void *))
{
	if (!obj)
		return true;
	uint64_t *snap = calloc(g->nslots ? g->nslots : 1, sizeof(*snap));
	if (!snap || g->nretired == DS_GRACE_RETIRED_MAX) {
		free(snap);
		ds_plog(DS_LOG_WARNING, g->plugin, "too many tables waiting to be freed");
		return false;
	}
	/* seq_cst against the caller's exchange: a worker whose counter is
	 * even here will load the new pointer on its next read. */
	for (unsigned i = 0; i < g->nslots; i++)
		snap[i] = atomic_load(&g->slots[i].seq);
	g->retired[g->nretired++] = (struct ds_grace_retired){obj, free_fn, snap};
	return true;
}

/* True when every worker that was inside a read at retirement has left. */
static bool passed(const ds_grace_t *g, const uint64_t *snap)
{
	for (unsigned i = 0; i < g->nslots; i++)
		if ((snap[i] & 1) && atomic_load(&g->slots[i].seq) == snap[i])
			return false;
	return true;
}

void ds_grace_reclaim(ds_grace_t *g, bool all)
{
	size_t k = 0;
	for (size_t i = 0; i < g->nretired; i++) {
		struct ds_grace_retired *r = &g->retired[i];
		if (all || passed(g, r->snap)) {
			r->free_fn(r->obj);
			free(r->snap);
		} else {
			g->retired[k++] = *r;
		}
	}
	g->nretired = k;
}

void ds_grace_fini(ds_grace_t *g)
{
	ds_grace_reclaim(g, true);
	free(g->slots);
	g->slots = NULL;
	g->nslots = 0;
}
