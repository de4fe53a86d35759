/* SPDX-License-Identifier: MIT */
/*
 * reload [INTERVAL] [JITTER]: re-read the Corefile every INTERVAL (plus a
 * random offset in [-JITTER/2, JITTER/2)), hash its parsed form (imports
 * expanded, variables substituted, comments and layout gone) with SHA-512,
 * and reload when the hash changes. The reload itself is the server's
 * (same as SIGUSR1): the new configuration is built while the old one
 * serves; a broken file leaves the old one running. A hash is remembered
 * even when its reload fails, so the same broken file is tried only once.
 * Process-wide: one instance of the generation runs the timer.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/util.h"
#include "server/src/server.h"

typedef struct reload {
	int64_t interval, jitter;
	ds_timer_t timer;
	bool running;
	char last[129];
} reload_t;

static int reload_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	reload_t *r = calloc(1, sizeof(*r));
	if (!r)
		return DS_ENOMEM;
	p->ctx = r;
	r->interval = 30 * DS_NS_PER_SEC;
	r->jitter = 15 * DS_NS_PER_SEC;
	ds_args_next(a);
	const char *v[4];
	size_t nv = ds_args_remaining(a, v, 4);
	if (nv > 2)
		return ds_args_err_argcount(a);
	if (nv >= 1) {
		if (ds_parse_duration(v[0], &r->interval) < 0)
			return ds_args_err(a, "invalid interval '%s'", v[0]);
		if (r->interval < 2 * DS_NS_PER_SEC)
			return ds_args_err(a, "interval value must be greater or equal to 2s");
	}
	if (nv >= 2) {
		if (ds_parse_duration(v[1], &r->jitter) < 0)
			return ds_args_err(a, "invalid jitter '%s'", v[1]);
		if (r->jitter != 0 && r->jitter < DS_NS_PER_SEC)
			return ds_args_err(a, "jitter value must be greater or equal to 1s");
	}
	if (r->jitter > r->interval / 2)
		r->jitter = r->interval / 2;
	return DS_OK;
}

static void arm(reload_t *r)
{
	int64_t off = 0;
	if (r->jitter > 0)
		off = (int64_t)ds_rand_below((uint64_t)r->jitter) - r->jitter / 2;
	ds_timer_start(ds_control_worker(), &r->timer, r->interval + off);
}

static void hash_hex(const char *s, size_t n, char out[129])
{
	unsigned char md[SHA512_DIGEST_LENGTH];
	SHA512((const unsigned char *)s, n, md);
	for (int i = 0; i < SHA512_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void tick(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	ds_plugin_t *p = arg;
	reload_t *r = p->ctx;
	const char *path = ds_gen_corefile_path(p->gen);
	ds_corefile_t *cf = NULL;
	ds_err_t err = {{0}};
	char h[129];
	if (ds_corefile_parse_file(path, ds_corefile_coredns_directive, NULL, &cf, &err) == DS_OK) {
		char *canon = ds_corefile_canonical(cf);
		hash_hex(canon ? canon : "", canon ? strlen(canon) : 0, h);
		free(canon);
		ds_corefile_free(cf);
	} else {
		/* Unparsable: hash the bytes so an unchanged broken file is
		 * not retried (and not logged) every interval. */
		FILE *f = fopen(path, "r");
		char buf[65536];
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f)
			fclose(f);
		hash_hex(buf, n, h);
	}
	if (strcmp(h, p->gen->sha512) != 0 && strcmp(h, r->last) != 0) {
		memcpy(r->last, h, sizeof(r->last));
		ds_server_request_reload();
	}
	arm(r);
}

static int reload_start(ds_plugin_t *p, ds_err_t *err)
{
	reload_t *r = p->ctx;
	ds_gen_t *g = p->gen;
	/* Only the first reload instance of the generation runs. */
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_plugin_t *o = ds_block_find(g->blocks[i], "reload");
		if (o && o != p && ((reload_t *)o->ctx)->running)
			return DS_OK;
	}
	ds_plog(DS_LOG_INFO, "reload", "Running configuration SHA512 = %s", g->sha512);
	memcpy(r->last, g->sha512, sizeof(r->last));
	ds_timer_init(&r->timer, tick, p);
	r->running = true;
	arm(r);
	return DS_OK;
}

static void reload_stop(ds_plugin_t *p)
{
	reload_t *r = p->ctx;
	if (r->running) {
		ds_timer_stop(ds_control_worker(), &r->timer);
		r->running = false;
	}
}

static void reload_teardown(ds_plugin_t *p)
{
	free(p->ctx);
}

DS_PLUGIN_DEFINE(reload) = {
	.abi = DS_PLUGIN_ABI,
	.name = "reload",
	.flags = 0,
	.setup = reload_setup,
	.start = reload_start,
	.stop = reload_stop,
	.teardown = reload_teardown,
};
