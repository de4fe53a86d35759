/* SPDX-License-Identifier: MIT */
#include "server/src/dnsmetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

/* The qtypes CoreDNS names in its `type` label; everything else is "other". */
static const uint16_t type_codes[DS_DNSM_NTYPES - 1] = {
	DS_TYPE_A,    DS_TYPE_AAAA,  DS_TYPE_CNAME, DS_TYPE_DNSKEY, DS_TYPE_DS,
	DS_TYPE_MX,   DS_TYPE_NSEC3, DS_TYPE_NSEC,  DS_TYPE_NS,     DS_TYPE_PTR,
	DS_TYPE_RRSIG, DS_TYPE_SOA,  DS_TYPE_SRV,   DS_TYPE_TXT,    DS_TYPE_HTTPS,
	DS_TYPE_SVCB, DS_TYPE_IXFR,  DS_TYPE_AXFR,  DS_TYPE_ANY,
};

static ds_mfam_t *f_req, *f_do, *f_dur, *f_reqsz, *f_respsz, *f_resp;

unsigned ds_dnsmetrics_type_idx(uint16_t qtype)
{
	for (unsigned i = 0; i < DS_DNSM_NTYPES - 1; i++)
		if (type_codes[i] == qtype)
			return i;
	return DS_DNSM_NTYPES - 1;
}

void ds_dnsmetrics_init(void)
{
	if (f_req)
		return;
	static const char *l_req[] = {"server", "zone", "view", "proto", "family", "type"};
	static const char *l_szv[] = {"server", "zone", "view"};
	static const char *l_szvp[] = {"server", "zone", "view", "proto"};
	static const char *l_resp[] = {"server", "zone", "view", "rcode", "plugin"};
	f_req = ds_metrics_family("coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family.",
				  DS_M_COUNTER, l_req, 6, NULL, 0, 1);
	f_do = ds_metrics_family("coredns_dns_do_requests_total", "Counter of DNS requests with DO bit set per zone.",
				 DS_M_COUNTER, l_szv, 3, NULL, 0, 1);
	f_dur = ds_metrics_family("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each request took per zone.",
				  DS_M_HISTOGRAM, l_szv, 3, ds_time_buckets_ns, 16, 1e-9);
	f_reqsz = ds_metrics_family("coredns_dns_request_size_bytes", "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
				    DS_M_HISTOGRAM, l_szvp, 4, ds_size_buckets, 14, 1);
	f_respsz = ds_metrics_family("coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
				     DS_M_HISTOGRAM, l_szvp, 4, ds_size_buckets, 14, 1);
	f_resp = ds_metrics_family("coredns_dns_responses_total", "Counter of response status codes.",
				   DS_M_COUNTER, l_resp, 5, NULL, 0, 1);
	/* Every combination is created up front so the query path never
	 * touches the registry; CoreDNS shows only series that were used. */
	ds_metrics_hide_zero(f_req);
	ds_metrics_hide_zero(f_do);
	ds_metrics_hide_zero(f_dur);
	ds_metrics_hide_zero(f_reqsz);
	ds_metrics_hide_zero(f_respsz);
	ds_metrics_hide_zero(f_resp);
}

ds_dnsm_zone_t *ds_dnsmetrics_zone(const char *server, const char *zone, const ds_block_t *b)
{
	ds_dnsmetrics_init();
	ds_dnsm_zone_t *z = ds_xcalloc(1, sizeof(*z));
	z->block = b;
	static const char *protos[2] = {"udp", "tcp"};
	static const char *fams[2] = {"1", "2"};
	char tb[16];
	for (int p = 0; p < 2; p++)
		for (int f = 0; f < 2; f++)
			for (unsigned t = 0; t < DS_DNSM_NTYPES; t++) {
				const char *tn = t < DS_DNSM_NTYPES - 1 ? ds_type_str(type_codes[t], tb) : "other";
				const char *v[] = {server, zone, "", protos[p], fams[f], tn};
				z->req[p][f][t] = ds_metrics_series(f_req, v);
			}
	const char *v3[] = {server, zone, ""};
	z->do_req = ds_metrics_series(f_do, v3);
	z->duration = ds_metrics_hseries(f_dur, v3);
	for (int p = 0; p < 2; p++) {
		const char *v4[] = {server, zone, "", protos[p]};
		z->req_size[p] = ds_metrics_hseries(f_reqsz, v4);
		z->resp_size[p] = ds_metrics_hseries(f_respsz, v4);
	}
	z->nwriters = 1 + (b ? b->nchain : 0);
	z->resp = ds_xcalloc(DS_DNSM_NRCODES * z->nwriters, sizeof(uint32_t));
	for (unsigned r = 0; r < DS_DNSM_NRCODES; r++) {
		char rb[16];
		const char *rn = r < DS_DNSM_NRCODES - 1 ? ds_rcode_str(r, rb) : "other";
		for (size_t wi = 0; wi < z->nwriters; wi++) {
			const char *pn = wi == 0 ? "" : b->chain[wi - 1]->api->name;
			const char *v[] = {server, zone, "", rn, pn};
			z->resp[r * z->nwriters + wi] = ds_metrics_series(f_resp, v);
		}
	}
	return z;
}

void ds_dnsmetrics_zone_free(ds_dnsm_zone_t *z)
{
	if (!z)
		return;
	free(z->resp);
	free(z);
}

static void record(const ds_query_t *q, const ds_dnsm_zone_t *z, int rcode, size_t writer)
{
	unsigned tid = q->worker->id;
	int p = q->proto == DS_PROTO_TCP ? 1 : 0;
	int f = q->client.sa.sa_family == AF_INET6 ? 1 : 0;
	/* An IPv4 client on a dual-stack socket arrives v4-mapped: family 1. */
	if (f && IN6_IS_ADDR_V4MAPPED(&q->client.in6.sin6_addr))
		f = 0;
	ds_metric_inc(tid, z->req[p][f][ds_dnsmetrics_type_idx(q->req.qtype)]);
	if (q->req.do_bit)
		ds_metric_inc(tid, z->do_req);
	ds_metric_observe(tid, &z->duration, (uint64_t)(ds_now_ns() - q->start_ns));
	ds_metric_observe(tid, &z->req_size[p], q->req.len);
	ds_metric_observe(tid, &z->resp_size[p], q->written ? q->resp_len : 0);
	unsigned r = rcode >= 0 && rcode < DS_DNSM_NRCODES - 1 ? (unsigned)rcode : DS_DNSM_NRCODES - 1;
	ds_metric_inc(tid, z->resp[r * z->nwriters + writer]);
}

void ds_dnsmetrics_report(const ds_query_t *q, const ds_dnsm_zone_t *z, int rc)
{
	int rcode = rc;
	size_t writer = 0;
	if (q->written && !(rc >= 0 && (rc == DS_RCODE_SERVFAIL || rc == DS_RCODE_REFUSED ||
					rc == DS_RCODE_FORMERR || rc == DS_RCODE_NOTIMP))) {
		rcode = DS_RCODE(ds_rd16(q->tx + 2));
		/* Match the writer's name against the chain by pointer. */
		const ds_block_t *b = z->block;
		for (size_t i = 0; b && i < b->nchain; i++)
			if (b->chain[i]->api->name == q->writer) {
				writer = i + 1;
				break;
			}
	} else if (rc < 0) {
		rcode = DS_RCODE_SERVFAIL;
	}
	record(q, z, rcode, writer);
}

void ds_dnsmetrics_dropped(const ds_query_t *q, const ds_listen_t *l, int rcode)
{
	if (l->dropped)
		record(q, l->dropped, rcode, 0);
}
