/* SPDX-License-Identifier: MIT */
/*
 * Corefile -> generation: server blocks with their zones and listen
 * addresses, plugin instances in plugin.list order, chains, the zone table
 * of every listen address, and the metrics series the generation needs.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "server/src/dnsmetrics.h"
#include "server/src/server.h"

static uint64_t gen_counter;

const ds_plugin_reg_t *ds_plugin_lookup(const char *name)
{
	for (size_t i = 0; i < ds_plugin_table_len; i++)
		if (strcmp(ds_plugin_table[i].name, name) == 0)
			return &ds_plugin_table[i];
	return NULL;
}

/* ------------------------------------------------------ plugin helpers */

size_t ds_block_zones(const ds_block_t *b, const uint8_t *const **zones)
{
	static __thread const uint8_t *tmp[256];
	size_t n = b->nzones < 256 ? b->nzones : 256;
	for (size_t i = 0; i < n; i++)
		tmp[i] = b->zones[i];
	*zones = tmp;
	return n;
}

const char *ds_block_zone_str(const ds_block_t *b, size_t i)
{
	return i < b->nzones ? b->zone_strs[i] : ".";
}

size_t ds_block_listen(const ds_block_t *b, const ds_sockaddr_t **addrs)
{
	*addrs = b->listen;
	return b->nlisten;
}

ds_plugin_t *ds_block_find(const ds_block_t *b, const char *name)
{
	for (size_t i = 0; i < b->nall; i++)
		if (strcmp(b->all[i]->api->name, name) == 0)
			return b->all[i];
	return NULL;
}

const char *ds_block_server_label(const ds_block_t *b, size_t listener)
{
	const ds_gen_t *g = b->gen;
	return listener < g->nlistens ? g->listens[listener].label : "dns://:53";
}

const char *ds_gen_corefile_path(const ds_gen_t *g)
{
	return g->corefile_path;
}

size_t ds_gen_blocks(const ds_gen_t *g, ds_block_t *const **blocks)
{
	*blocks = g->blocks;
	return g->nblocks;
}

int ds_args_duration(ds_args_t *a, int64_t *ns)
{
	if (ds_parse_duration(ds_args_val(a), ns) < 0 || *ns < 0)
		return ds_args_err(a, "invalid duration '%s'", ds_args_val(a));
	return DS_OK;
}

int ds_args_int(ds_args_t *a, long long min, long long max, long long *out)
{
	if (ds_parse_int(ds_args_val(a), min, max, out) < 0)
		return ds_args_err(a, "invalid number '%s' (want %lld..%lld)", ds_args_val(a), min,
				   max);
	return DS_OK;
}

int ds_args_zones(ds_args_t *a, ds_block_t *b, uint8_t (**out)[DS_NAME_MAX], size_t *n)
{
	const char *zs[64];
	size_t k = ds_args_remaining(a, zs, 64);
	if (k > 64)
		return ds_args_err(a, "too many zones");
	size_t cnt = k ? k : b->nzones;
	uint8_t(*z)[DS_NAME_MAX] = ds_xcalloc(cnt ? cnt : 1, DS_NAME_MAX);
	for (size_t i = 0; i < cnt; i++) {
		if (k) {
			char norm[300];
			if (ds_zone_normalize(zs[i], norm, sizeof(norm)) < 0 ||
			    ds_name_from_str(norm, NULL, z[i]) < 0) {
				free(z);
				return ds_args_err(a, "invalid zone '%s'", zs[i]);
			}
			ds_name_lower(z[i]);
		} else {
			memcpy(z[i], b->zones[i], DS_NAME_MAX);
		}
	}
	*out = z;
	*n = cnt;
	return DS_OK;
}

int ds_zone_match(const uint8_t (*zones)[DS_NAME_MAX], size_t n, const uint8_t *qname)
{
	int best = -1, best_labels = -1;
	for (size_t i = 0; i < n; i++) {
		if (!ds_name_in(qname, zones[i]))
			continue;
		int l = ds_name_labels(zones[i]);
		if (l > best_labels) {
			best = (int)i;
			best_labels = l;
		}
	}
	return best;
}

int ds_block_bind(ds_block_t *b, const ds_sockaddr_t *addr)
{
	ds_sockaddr_t *nl = realloc(b->listen, (b->nlisten + 1) * sizeof(*nl));
	if (!nl)
		return DS_ENOMEM;
	b->listen = nl;
	b->listen[b->nlisten++] = *addr;
	return DS_OK;
}

/* ------------------------------------------------------------ building */

static void free_block(ds_block_t *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nall; i++) {
		ds_plugin_t *p = b->all[i];
		if (p->api->teardown)
			p->api->teardown(p);
		free(p->wctx);
		free(p);
	}
	free(b->all);
	free(b->chain);
	for (size_t i = 0; i < b->nzones; i++)
		free(b->zone_strs[i]);
	free(b->zone_strs);
	free(b->zones);
	free(b->ports);
	free(b->listen);
	free(b->server_labels);
	free(b);
}

static ds_plugin_t *new_instance(ds_block_t *b, const ds_plugin_api_t *api, ds_gen_t *g)
{
	ds_plugin_t *p = ds_xcalloc(1, sizeof(*p));
	p->api = api;
	p->block = b;
	p->gen = g;
	p->nworkers = ds_nworkers + 1; /* workers + the control loop */
	p->wctx = ds_xcalloc(p->nworkers, sizeof(void *));
	b->all = realloc(b->all, (b->nall + 1) * sizeof(*b->all));
	if (!b->all)
		abort();
	b->all[b->nall++] = p;
	return p;
}

static int build_block(ds_gen_t *g, const ds_sblock_t *sb, int dns_port, ds_block_t **out,
		       ds_err_t *err)
{
	ds_block_t *b = ds_xcalloc(1, sizeof(*b));
	b->gen = g;
	b->src = sb;
	ds_args_t *occ = NULL;
	int rc = DS_OK;
	/* Keys -> zones and ports. */
	for (size_t k = 0; k < sb->nkeys; k++) {
		const ds_token_t *t = &sb->keys[k];
		ds_zone_key_t zk[256];
		ds_err_t kerr;
		int n = ds_zone_key_parse(t->text, dns_port, zk, 256, &kerr);
		if (n < 0) {
			rc = ds_errf(err, DS_ECONFIG, "%s:%d - Error during parsing: %s", t->file,
				     t->line, kerr.msg);
			goto fail;
		}
		for (int i = 0; i < n; i++) {
			if (zk[i].scheme != DS_SCHEME_DNS) {
				rc = ds_errf(err, DS_ECONFIG,
					     "%s:%d - Error during parsing: server block key '%s': only "
					     "dns:// servers are supported by dnsurged yet",
					     t->file, t->line, t->text);
				goto fail;
			}
			size_t z = b->nzones++;
			b->zones = realloc(b->zones, b->nzones * DS_NAME_MAX);
			b->zone_strs = realloc(b->zone_strs, b->nzones * sizeof(char *));
			b->ports = realloc(b->ports, b->nzones * sizeof(int));
			if (!b->zones || !b->zone_strs || !b->ports)
				abort();
			if (ds_name_from_str(zk[i].zone, NULL, b->zones[z]) < 0) {
				rc = ds_errf(err, DS_ECONFIG,
					     "%s:%d - Error during parsing: invalid zone '%s'", t->file,
					     t->line, zk[i].zone);
				goto fail;
			}
			ds_name_lower(b->zones[z]);
			b->zone_strs[z] = ds_xstrdup(zk[i].zone);
			b->ports[z] = zk[i].port;
		}
	}
	if (b->nzones == 0) {
		rc = ds_errf(err, DS_ECONFIG, "%s - Error during parsing: server block without a key",
			     g->corefile_path);
		goto fail;
	}
	/* Plugins in plugin.list order; unknown to us = not built yet. */
	for (size_t d = 0; d < sb->ndirs; d++) {
		const ds_plugin_reg_t *r = ds_plugin_lookup(sb->dirs[d].name);
		if (!r || !r->api) {
			const ds_token_t *t = &sb->dirs[d].tokens[0];
			rc = ds_errf(err, DS_ECONFIG,
				     "%s:%d - Error during parsing: plugin/%s: this plugin is not "
				     "built into dnsurged yet",
				     t->file, t->line, sb->dirs[d].name);
			goto fail;
		}
	}
	occ = ds_xcalloc(sb->ndirs ? sb->ndirs : 1, sizeof(*occ));
	for (size_t i = 0; i < ds_plugin_table_len; i++) {
		const ds_plugin_reg_t *r = &ds_plugin_table[i];
		if (!r->api)
			continue;
		size_t n = 0;
		for (size_t d = 0; d < sb->ndirs; d++)
			if (strcmp(sb->dirs[d].name, r->name) == 0)
				ds_args_init(&occ[n++], &sb->dirs[d], r->name, err);
		if (n == 0)
			continue;
		if ((r->api->flags & DS_PLUGIN_ONCE) && n > 1) {
			ds_args_next(&occ[1]);
			rc = ds_args_err(&occ[1], "this plugin can only be used once per Server Block");
			goto fail;
		}
		size_t ninst = (r->api->flags & DS_PLUGIN_MULTI) ? n : 1;
		for (size_t k = 0; k < ninst; k++) {
			ds_plugin_t *p = new_instance(b, r->api, g);
			if (r->api->setup) {
				rc = r->api->setup(p, (r->api->flags & DS_PLUGIN_MULTI) ? &occ[k] : occ,
						   (r->api->flags & DS_PLUGIN_MULTI) ? 1 : n);
				if (rc < 0) {
					if (err && !err->msg[0])
						ds_errf(err, rc, "plugin/%s: setup failed: %s", r->name,
							ds_strerror(rc));
					goto fail;
				}
			}
		}
	}
	/* Chain: query-path plugins in order. */
	b->chain = ds_xcalloc(b->nall ? b->nall : 1, sizeof(*b->chain));
	for (size_t i = 0; i < b->nall; i++) {
		ds_plugin_t *p = b->all[i];
		if (!p->api->serve || (p->api->flags & DS_PLUGIN_GLOBAL))
			continue;
		if (b->nchain >= DS_CHAIN_MAX - 2) {
			rc = ds_errf(err, DS_ECONFIG, "%s: too many plugins in one server block",
				     g->corefile_path);
			goto fail;
		}
		p->index = (unsigned)b->nchain;
		b->chain[b->nchain++] = p;
		const char *nm = p->api->name;
		if (!strcmp(nm, "chaos") || !strcmp(nm, "forward") || !strcmp(nm, "proxy"))
			b->any_class = true;
	}
	for (size_t i = 0; i + 1 < b->nchain; i++)
		b->chain[i]->next = b->chain[i + 1];
	/* No bind: listen on every address (IPv6 wildcard is dual-stack). */
	if (b->nlisten == 0) {
		ds_sockaddr_t any;
		ds_addr_parse("", 0, &any);
		ds_block_bind(b, &any);
	}
	free(occ);
	*out = b;
	return DS_OK;
fail:
	free(occ);
	free_block(b);
	return rc;
}

/* Group (address, port) of every block zone into listen entries. */
static int build_listens(ds_gen_t *g, ds_err_t *err)
{
	for (size_t bi = 0; bi < g->nblocks; bi++) {
		ds_block_t *b = g->blocks[bi];
		for (size_t zi = 0; zi < b->nzones; zi++) {
			for (size_t ai = 0; ai < b->nlisten; ai++) {
				ds_sockaddr_t a = b->listen[ai];
				ds_addr_set_port(&a, b->ports[zi]);
				ds_listen_t *l = NULL;
				for (size_t i = 0; i < g->nlistens; i++)
					if (ds_addr_eq(&g->listens[i].addr, &a))
						l = &g->listens[i];
				if (!l) {
					g->listens = realloc(g->listens, (g->nlistens + 1) * sizeof(*l));
					if (!g->listens)
						abort();
					l = &g->listens[g->nlistens];
					memset(l, 0, sizeof(*l));
					l->addr = a;
					l->listener_idx = (uint16_t)g->nlistens++;
					char h[DS_ADDRSTR_MAX];
					if (ds_addr_is_any(&a))
						snprintf(l->label, sizeof(l->label), "dns://:%d",
							 b->ports[zi]);
					else
						snprintf(l->label, sizeof(l->label), "dns://%s",
							 ds_addr_str(&a, h, sizeof(h)));
				}
				for (size_t k = 0; k < l->nzones; k++) {
					if (ds_name_eq(l->zones[k].zone, b->zones[zi])) {
						if (l->zones[k].block == b)
							goto next_addr; /* same key twice */
						return ds_errf(err, DS_ECONFIG,
							       "cannot serve dns://%s:%d - it is already defined",
							       b->zone_strs[zi], b->ports[zi]);
					}
				}
				l->zones = realloc(l->zones, (l->nzones + 1) * sizeof(*l->zones));
				if (!l->zones)
					abort();
				memset(&l->zones[l->nzones], 0, sizeof(l->zones[0]));
				memcpy(l->zones[l->nzones].zone, b->zones[zi], DS_NAME_MAX);
				l->zones[l->nzones].block = b;
				l->zones[l->nzones].zone_idx = (uint16_t)zi;
				l->nzones++;
			next_addr:;
			}
		}
	}
	return DS_OK;
}

static const char *default_corefile(int port, char *buf, size_t len)
{
	snprintf(buf, len, ".:%d {\n\twhoami\n\tlog\n}\n", port);
	return buf;
}

int ds_gen_build(const char *path, int dns_port, ds_gen_t **out, ds_err_t *err)
{
	ds_gen_t *g = ds_xcalloc(1, sizeof(*g));
	int rc;
	g->id = ++gen_counter;
	atomic_init(&g->released, 0);
	if (path) {
		g->corefile_path = ds_xstrdup(path);
		rc = ds_corefile_parse_file(path, ds_corefile_coredns_directive, NULL, &g->cf, err);
	} else {
		char def[64];
		g->corefile_path = ds_xstrdup("Corefile");
		rc = ds_corefile_parse_string("Corefile", default_corefile(dns_port, def, sizeof(def)),
					      NULL, ds_corefile_coredns_directive, NULL, &g->cf, err);
	}
	if (rc < 0)
		goto fail;
	g->canonical = ds_corefile_canonical(g->cf);
	if (g->canonical) {
		unsigned char md[SHA512_DIGEST_LENGTH];
		SHA512((const unsigned char *)g->canonical, strlen(g->canonical), md);
		for (int i = 0; i < SHA512_DIGEST_LENGTH; i++)
			snprintf(g->sha512 + 2 * i, 3, "%02x", md[i]);
	}
	g->blocks = ds_xcalloc(g->cf->nblocks ? g->cf->nblocks : 1, sizeof(*g->blocks));
	for (size_t i = 0; i < g->cf->nblocks; i++) {
		rc = build_block(g, &g->cf->blocks[i], dns_port, &g->blocks[g->nblocks], err);
		if (rc < 0)
			goto fail;
		g->nblocks++;
	}
	rc = build_listens(g, err);
	if (rc < 0)
		goto fail;
	*out = g;
	return DS_OK;
fail:
	ds_gen_free(g);
	return rc < 0 ? rc : DS_ECONFIG;
}

/* Metrics of a generation: coredns_dns_* series for blocks that have the
 * prometheus plugin, coredns_plugin_enabled for every chain plugin. */
static void gen_metrics(ds_gen_t *g)
{
	static const char *l_pe[] = {"server", "zone", "view", "name"};
	ds_mfam_t *pe = ds_metrics_family("coredns_plugin_enabled",
					  "A metric that indicates whether a plugin is enabled on per server and zone basis.",
					  DS_M_GAUGE, l_pe, 4, NULL, 0, 1);
	ds_metrics_family_clear(pe);
	for (size_t li = 0; li < g->nlistens; li++) {
		ds_listen_t *l = &g->listens[li];
		bool any_prom = false;
		for (size_t k = 0; k < l->nzones; k++) {
			ds_block_t *b = l->zones[k].block;
			const char *zs = b->zone_strs[l->zones[k].zone_idx];
			for (size_t c = 0; c < b->nchain; c++) {
				const char *v[] = {l->label, zs, "", b->chain[c]->api->name};
				ds_metric_set(ds_metrics_series(pe, v), 1);
			}
			if (!ds_block_find(b, "prometheus"))
				continue;
			any_prom = true;
			l->zones[k].metrics = ds_dnsmetrics_zone(l->label, zs, b);
		}
		if (any_prom)
			l->dropped = ds_dnsmetrics_zone(l->label, "dropped", NULL);
	}
}

int ds_gen_start(ds_gen_t *g, ds_err_t *err)
{
	gen_metrics(g);
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		for (size_t j = 0; j < b->nall; j++) {
			ds_plugin_t *p = b->all[j];
			if (!p->api->start)
				continue;
			int rc = p->api->start(p, err);
			if (rc < 0) {
				if (err && !err->msg[0])
					ds_errf(err, rc, "plugin/%s: %s", p->api->name, ds_strerror(rc));
				return rc;
			}
		}
	}
	g->started = true;
	return DS_OK;
}

void ds_gen_stop(ds_gen_t *g)
{
	if (!g->started)
		return;
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		for (size_t j = 0; j < b->nall; j++)
			if (b->all[j]->api->stop)
				b->all[j]->api->stop(b->all[j]);
	}
	g->started = false;
}

int64_t ds_gen_shutdown(ds_gen_t *g)
{
	int64_t delay = 0;
	/* plugin.list order across blocks: ready closes before health sleeps */
	for (size_t r = 0; r < ds_plugin_table_len; r++) {
		for (size_t i = 0; i < g->nblocks; i++) {
			ds_block_t *b = g->blocks[i];
			for (size_t j = 0; j < b->nall; j++) {
				ds_plugin_t *p = b->all[j];
				if (p->api != ds_plugin_table[r].api || !p->api->shutdown)
					continue;
				int64_t d = p->api->shutdown(p);
				if (d > delay)
					delay = d;
			}
		}
	}
	return delay;
}

bool ds_gen_ready(ds_gen_t *g, char *buf, size_t len)
{
	/* Names of not-ready plugins, sorted and comma-joined (CoreDNS). */
	const char *names[64];
	size_t n = 0;
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		for (size_t j = 0; j < b->nall; j++) {
			ds_plugin_t *p = b->all[j];
			if (!p->api->ready || p->api->ready(p))
				continue;
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				if (!strcmp(names[k], p->api->name))
					dup = true;
			if (!dup && n < 64)
				names[n++] = p->api->name;
		}
	}
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			const char *t = names[k];
			names[k] = names[k - 1];
			names[k - 1] = t;
		}
	size_t o = 0;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", names[i]);
	return n == 0;
}

void ds_gen_free(ds_gen_t *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nblocks; i++)
		free_block(g->blocks[i]);
	free(g->blocks);
	for (size_t i = 0; i < g->nlistens; i++) {
		for (size_t k = 0; k < g->listens[i].nzones; k++)
			ds_dnsmetrics_zone_free(g->listens[i].zones[k].metrics);
		ds_dnsmetrics_zone_free(g->listens[i].dropped);
		free(g->listens[i].zones);
	}
	free(g->listens);
	if (g->cf)
		ds_corefile_free(g->cf);
	free(g->canonical);
	free(g->corefile_path);
	free(g);
}
