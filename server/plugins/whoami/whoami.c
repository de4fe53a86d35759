/* SPDX-License-Identifier: MIT */
/*
 * whoami: answers every query with the client's address and port, as
 * CoreDNS's whoami does: an A/AAAA for the client IP and an SRV
 * "_<proto>.<qname>" carrying the client port, both in the additional
 * section, TTL 0, AA set, empty answer section.
 */
#include <arpa/inet.h>
#include <string.h>

#include "server/src/plugin.h"

static int whoami_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_next(&occ[0]);
	if (ds_args_next_arg(&occ[0]))
		return ds_args_err(&occ[0], "whoami takes no arguments");
	return DS_OK;
}

static int whoami_serve(ds_plugin_t *p, ds_query_t *q)
{
	uint8_t qname[DS_NAME_MAX];
	if (ds_query_qname_orig(q, qname) < 0)
		return DS_RCODE_SERVFAIL;
	ds_wbuf_t *wb = &q->resp;
	ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
	ds_wb_section(wb, DS_SEC_ADDITIONAL);
	const ds_sockaddr_t *c = &q->client;
	int port;
	if (c->sa.sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&c->in6.sin6_addr)) {
		ds_wb_rr(wb, qname, DS_TYPE_AAAA, q->req.qclass, 0, &c->in6.sin6_addr, 16);
		port = ntohs(c->in6.sin6_port);
	} else if (c->sa.sa_family == AF_INET6) {
		ds_wb_rr(wb, qname, DS_TYPE_A, q->req.qclass, 0, &c->in6.sin6_addr.s6_addr[12], 4);
		port = ntohs(c->in6.sin6_port);
	} else {
		ds_wb_rr(wb, qname, DS_TYPE_A, q->req.qclass, 0, &c->in4.sin_addr, 4);
		port = ntohs(c->in4.sin_port);
	}
	/* SRV owner: "_udp." + qname ("_udp." for the root). */
	uint8_t owner[DS_NAME_MAX + 5];
	const char *proto = q->proto == DS_PROTO_TCP ? "tcp" : "udp";
	owner[0] = 4;
	owner[1] = '_';
	memcpy(owner + 2, proto, 3);
	size_t ql = ds_name_len(qname);
	if (ql + 5 > DS_NAME_MAX)
		return ds_query_reply(q, p) < 0 ? DS_RCODE_SERVFAIL : DS_RCODE_NOERROR;
	memcpy(owner + 5, qname, ql);
	int m = ds_wb_rr_begin(wb, owner, DS_TYPE_SRV, q->req.qclass, 0);
	ds_wb_u16(wb, 0);
	ds_wb_u16(wb, 0);
	ds_wb_u16(wb, (uint16_t)port);
	ds_wb_u8(wb, 0); /* target "." */
	ds_wb_rr_end(wb, m);
	if (ds_query_reply(q, p) < 0)
		return DS_RCODE_SERVFAIL;
	return DS_RCODE_NOERROR;
}

DS_PLUGIN_DEFINE(whoami) = {
	.abi = DS_PLUGIN_ABI,
	.name = "whoami",
	.flags = DS_PLUGIN_ONCE,
	.setup = whoami_setup,
	.serve = whoami_serve,
};
