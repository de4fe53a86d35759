/* SPDX-License-Identifier: MIT */
/*
 * prometheus [ADDRESS] { runtime_metrics }: serves /metrics (text format)
 * on ADDRESS (default localhost:9153) and records coredns_dns_* for every
 * query that passes through the block. Recording happens on the way back
 * (done), so it sees what the plugins below wrote, as CoreDNS does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/src/dnsmetrics.h"
#include "server/src/http.h"
#include "server/src/metrics.h"
#include "server/src/plugin.h"

typedef struct prom {
	char addr[96];
} prom_t;

static int prom_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	prom_t *pr = calloc(1, sizeof(*pr));
	if (!pr)
		return DS_ENOMEM;
	p->ctx = pr;
	snprintf(pr->addr, sizeof(pr->addr), "localhost:9153");
	ds_args_next(a);
	if (ds_args_next_arg(a)) {
		char norm[96];
		if (ds_http_parse_addr(ds_args_val(a), 9153, norm, sizeof(norm)) < 0)
			return ds_args_err(a, "invalid listen address '%s'", ds_args_val(a));
		snprintf(pr->addr, sizeof(pr->addr), "%s", ds_args_val(a));
		if (ds_args_next_arg(a))
			return ds_args_err_argcount(a);
	}
	while (ds_args_next_block(a)) {
		if (strcmp(ds_args_val(a), "runtime_metrics") == 0) {
			/* Go runtime metrics have no C counterpart; process_*
			 * metrics are always exported. Accepted for compatibility. */
			continue;
		}
		return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
	}
	ds_dnsmetrics_init();
	return DS_OK;
}

static int metrics_handler(void *arg, ds_http_resp_t *r)
{
	size_t len;
	r->body = ds_metrics_render(&len);
	r->len = len;
	r->status = 200;
	r->ctype = "text/plain; version=0.0.4; charset=utf-8";
	return DS_OK;
}

static int prom_start(ds_plugin_t *p, ds_err_t *err)
{
	prom_t *pr = p->ctx;
	return ds_http_route(pr->addr, "/metrics", metrics_handler, NULL, p, err);
}

static void prom_stop(ds_plugin_t *p)
{
	prom_t *pr = p->ctx;
	ds_http_unroute(pr->addr, "/metrics", p);
}

static void prom_teardown(ds_plugin_t *p)
{
	free(p->ctx);
}

static int prom_serve(ds_plugin_t *p, ds_query_t *q)
{
	return DS_NEXT;
}

static int prom_done(ds_plugin_t *p, ds_query_t *q, int rc)
{
	if (q->zmetrics && q->proto != DS_PROTO_INTERNAL)
		ds_dnsmetrics_report(q, q->zmetrics, rc);
	return rc;
}

DS_PLUGIN_DEFINE(prometheus) = {
	.abi = DS_PLUGIN_ABI,
	.name = "prometheus",
	.flags = DS_PLUGIN_ONCE,
	.setup = prom_setup,
	.start = prom_start,
	.stop = prom_stop,
	.teardown = prom_teardown,
	.serve = prom_serve,
	.done = prom_done,
};
