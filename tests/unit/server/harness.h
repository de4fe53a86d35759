/* SPDX-License-Identifier: MIT */
/**
 * \file harness.h
 * \brief Run queries through a real dnsurged chain in a unit test.
 *
 * ds_th_new() builds a configuration generation from Corefile text (as
 * dnsurged would), starts its plugins, and sets up one worker (id 0) plus
 * the control loop, with no DNS sockets. ds_th_query() sends a query
 * through the chain of the block that matches it and, if a plugin holds
 * the query (upstream wait, delay), turns the worker's loop until it
 * completes. Responses are returned as wire bytes and as ldns text.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/src/server.h"

typedef struct ds_th ds_th_t;

/** Query options. */
enum {
	DS_TH_TCP = 1 << 0,   /**< as if received over TCP (no truncation) */
	DS_TH_DO = 1 << 1,    /**< EDNS with the DO bit */
	DS_TH_EDNS = 1 << 2,  /**< EDNS (bufsize 1232) without DO */
	DS_TH_NORD = 1 << 3,  /**< RD clear */
	DS_TH_CD = 1 << 4,    /**< CD set */
	DS_TH_V6 = 1 << 5,    /**< client ::1 instead of 127.0.0.1 */
};

/** Build from Corefile text; NULL with err->msg on a config error. */
ds_th_t *ds_th_new(const char *corefile, ds_err_t *err);
void ds_th_free(ds_th_t *t);

/** Result of one query. */
typedef struct ds_th_res {
	bool answered;        /**< false: dropped (no reply) or timed out */
	int rcode;            /**< rcode of the reply (incl. extended bits) */
	uint16_t flags;       /**< header flags of the reply */
	uint8_t wire[65535];
	size_t len;
	char text[16384];     /**< ldns presentation of the reply */
	unsigned an, ns, ar;  /**< section counts */
	char writer[32];      /**< plugin that wrote it ("" = the server) */
} ds_th_res_t;

/**
 * Ask qname/qtype (e.g. "www.example.org.", "A") with opts. Waits up to
 * timeout_ms for asynchronous plugins. Returns 0 or a negative error.
 */
int ds_th_query(ds_th_t *t, const char *qname, const char *qtype, unsigned opts,
		int timeout_ms, ds_th_res_t *res);
/** Send raw request bytes (malformed input tests). */
int ds_th_raw(ds_th_t *t, const uint8_t *req, size_t len, unsigned opts, int timeout_ms,
	      ds_th_res_t *res);
/** Turn the worker and control loops for ms milliseconds (timers, prefetch). */
void ds_th_run(ds_th_t *t, int ms);
/** The generation under test. */
ds_gen_t *ds_th_gen(ds_th_t *t);
/** True when the answer section of res holds an RR whose text contains s. */
bool ds_th_has(const ds_th_res_t *res, const char *s);

/* ------------------------------------------------------ fake upstream */

/** How the fake upstream answers. */
typedef enum {
	DS_TH_UP_ANSWER = 0,  /**< A 10.0.0.1 (and AAAA ::1) with ttl */
	DS_TH_UP_NXDOMAIN,    /**< NXDOMAIN with an SOA (TTL ttl, MINIMUM 300) */
	DS_TH_UP_NXDOMAIN_NOSOA,
	DS_TH_UP_NODATA,      /**< NOERROR, no answer, SOA */
	DS_TH_UP_SERVFAIL,
	DS_TH_UP_REFUSED,
	DS_TH_UP_DROP,        /**< never answer */
	DS_TH_UP_TRUNCATE,    /**< over UDP: TC set, no records; over TCP: the full answer */
	DS_TH_UP_BIG,         /**< 60 A records (does not fit 512 bytes) */
	DS_TH_UP_WRONGQ,      /**< answer a different question */
} ds_th_up_mode_t;

/**
 * A DNS server on 127.0.0.1 (UDP and TCP, same port) served by the test's
 * worker loop, so dnsurged's forward can talk to it inside ds_th_query().
 */
typedef struct ds_th_up {
	int port;
	ds_th_up_mode_t mode;
	uint32_t ttl;
	unsigned udp_queries, tcp_queries;
	int udp_fd, tcp_fd;
	uint16_t last_id;
	bool last_do;
} ds_th_up_t;

/** Start a fake upstream (call before ds_th_new so the port can go in the Corefile). */
ds_th_up_t *ds_th_up_new(ds_th_up_mode_t mode, uint32_t ttl);
/** Close its sockets (the port then refuses: an upstream that is down). */
void ds_th_up_close(ds_th_up_t *u);
void ds_th_up_free(ds_th_up_t *u);
