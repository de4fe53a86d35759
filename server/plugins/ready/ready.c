/* SPDX-License-Identifier: MIT */
/*
 * ready [ADDRESS] { monitor until-ready|continuously }: GET /ready is 200
 * "OK" when every plugin that reports readiness (in blocks with ready) is
 * ready, else 503 with the sorted, comma-joined names of those that are
 * not. until-ready (default) remembers a plugin once it was ready. On
 * shutdown the listener closes first, so probes fail during lameduck.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "server/src/http.h"
#include "server/src/server.h"

typedef struct ready {
	char addr[96];
	bool continuously;
	atomic_bool shutting;
	pthread_mutex_t mu;
	ds_plugin_t **sticky;   /* plugins that were ready once (until-ready) */
	size_t nsticky;
	ds_plugin_t *self;
	bool routed;
} ready_t;

static int ready_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	ready_t *r = calloc(1, sizeof(*r));
	if (!r)
		return DS_ENOMEM;
	p->ctx = r;
	r->self = p;
	pthread_mutex_init(&r->mu, NULL);
	snprintf(r->addr, sizeof(r->addr), ":8181");
	ds_args_next(a);
	if (ds_args_next_arg(a)) {
		char norm[96];
		const char *v = ds_args_val(a);
		if (!strchr(v, ':') || ds_http_parse_addr(v, 0, norm, sizeof(norm)) < 0)
			return ds_args_err(a, "invalid ready address '%s': want host:port", v);
		snprintf(r->addr, sizeof(r->addr), "%s", v);
		if (ds_args_next_arg(a))
			return ds_args_err_argcount(a);
	}
	while (ds_args_next_block(a)) {
		if (strcmp(ds_args_val(a), "monitor") != 0)
			return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
		if (!ds_args_next_arg(a))
			return ds_args_err_argcount(a);
		if (!strcmp(ds_args_val(a), "until-ready"))
			r->continuously = false;
		else if (!strcmp(ds_args_val(a), "continuously"))
			r->continuously = true;
		else
			return ds_args_err(a, "monitor type must be until-ready or continuously, got '%s'",
					   ds_args_val(a));
	}
	return DS_OK;
}

static bool is_sticky(ready_t *r, ds_plugin_t *p)
{
	for (size_t i = 0; i < r->nsticky; i++)
		if (r->sticky[i] == p)
			return true;
	return false;
}

static int ready_handler(void *arg, ds_http_resp_t *resp)
{
	ready_t *r = arg;
	if (atomic_load(&r->shutting)) {
		ds_http_text(resp, 503, "Shutting down");
		return DS_OK;
	}
	ds_gen_t *g = r->self->gen;
	const char *names[64];
	size_t nn = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		if (!ds_block_find(b, "ready"))
			continue;
		for (size_t j = 0; j < b->nall; j++) {
			ds_plugin_t *p = b->all[j];
			if (!p->api->ready)
				continue;
			if (!r->continuously && is_sticky(r, p))
				continue;
			if (p->api->ready(p)) {
				if (!r->continuously) {
					ds_plugin_t **ns = realloc(r->sticky, (r->nsticky + 1) * sizeof(*ns));
					if (ns) {
						r->sticky = ns;
						r->sticky[r->nsticky++] = p;
					}
				}
				continue;
			}
			bool dup = false;
			for (size_t k = 0; k < nn; k++)
				dup |= !strcmp(names[k], p->api->name);
			if (!dup && nn < 64)
				names[nn++] = p->api->name;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (nn == 0) {
		ds_http_text(resp, 200, "OK");
		return DS_OK;
	}
	for (size_t i = 1; i < nn; i++)
		for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			const char *t = names[k];
			names[k] = names[k - 1];
			names[k - 1] = t;
		}
	char body[1024];
	size_t o = 0;
	body[0] = '\0';
	for (size_t i = 0; i < nn && o < sizeof(body); i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%s%s", i ? "," : "", names[i]);
	ds_plog(DS_LOG_INFO, "ready", "Plugins not ready: \"%s\"", body);
	ds_http_text(resp, 503, body);
	return DS_OK;
}

static int ready_start(ds_plugin_t *p, ds_err_t *err)
{
	ready_t *r = p->ctx;
	int rc = ds_http_route(r->addr, "/ready", ready_handler, r, p, err);
	r->routed = rc == DS_OK;
	return rc;
}

static void ready_unroute(ds_plugin_t *p)
{
	ready_t *r = p->ctx;
	if (r->routed) {
		ds_http_unroute(r->addr, "/ready", p);
		r->routed = false;
	}
}

static int64_t ready_shutdown(ds_plugin_t *p)
{
	ready_t *r = p->ctx;
	atomic_store(&r->shutting, true);
	ready_unroute(p);
	return 0;
}

static void ready_teardown(ds_plugin_t *p)
{
	ready_t *r = p->ctx;
	pthread_mutex_destroy(&r->mu);
	free(r->sticky);
	free(r);
}

DS_PLUGIN_DEFINE(ready) = {
	.abi = DS_PLUGIN_ABI,
	.name = "ready",
	.flags = DS_PLUGIN_ONCE,
	.setup = ready_setup,
	.start = ready_start,
	.stop = ready_unroute,
	.shutdown = ready_shutdown,
	.teardown = ready_teardown,
};
