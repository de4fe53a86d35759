/* SPDX-License-Identifier: MIT */
/**
 * \file dnsmetrics.h
 * \brief The coredns_dns_* metrics: families, per-zone series handles,
 *        and recording (done by the prometheus plugin, and by the server
 *        for queries that never reach a chain: zone "dropped").
 */
#pragma once

#include "server/src/server.h"

#define DS_DNSM_NTYPES 20
#define DS_DNSM_NRCODES 25 /* 0..23 named, 24 = anything else */

/** Series handles for one (server label, zone). */
typedef struct ds_dnsm_zone {
	uint32_t req[2][2][DS_DNSM_NTYPES]; /**< [proto][family][type] */
	uint32_t do_req;
	ds_mhist_t duration;
	ds_mhist_t req_size[2];
	ds_mhist_t resp_size[2];
	uint32_t *resp;   /**< [rcode][writer], writer 0 = server, i+1 = chain[i] */
	size_t nwriters;
	const ds_block_t *block;
} ds_dnsm_zone_t;

/** Create the families (idempotent). */
void ds_dnsmetrics_init(void);
/** Series for (server label, zone) of block b; NULL b = the "dropped" zone. */
ds_dnsm_zone_t *ds_dnsmetrics_zone(const char *server, const char *zone, const ds_block_t *b);
void ds_dnsmetrics_zone_free(ds_dnsm_zone_t *z);
/** Record a finished query that went through a chain with prometheus. */
void ds_dnsmetrics_report(const ds_query_t *q, const ds_dnsm_zone_t *z, int rc);
/** Record a query the server answered itself before any chain. */
void ds_dnsmetrics_dropped(const ds_query_t *q, const ds_listen_t *l, int rcode);
/** Index of a qtype in the type label set. */
unsigned ds_dnsmetrics_type_idx(uint16_t qtype);
