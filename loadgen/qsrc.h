/* SPDX-License-Identifier: MIT */
/**
 * \file qsrc.h
 * \brief Query sources: which name and type each query asks for.
 *
 * A source (ds_qsrc_t) is built once, is immutable and is shared by every
 * sending thread. Each thread draws from its own stream (ds_qstream_t).
 * Every random choice of draw g is a pure function of (seed, g), and
 * stream i of n takes draws g = i, i + n, i + 2n ..., so the union of the
 * streams of all threads and all shards is one fixed sequence for a seed,
 * whatever the number of threads or shards, and no two streams repeat a
 * draw (docs/LOAD.md, "Query sources"):
 *
 * - DS_QSRC_FILE: a dnsperf-format file, "name type" per line, used in
 *   order and looped; blank lines and lines starting with ';' or '#' are
 *   skipped.
 * - DS_QSRC_NAMES: n0.<zone> ... n<N-1>.<zone> with Zipf popularity
 *   (P(rank i) proportional to 1/(i+1)^s; s = 0 is uniform).
 * - DS_QSRC_RANDOM: cache busting, r<16 hex digits>.<zone>, never twice the
 *   same name for a seed (the digits are a bijection of the draw number).
 * - DS_QSRC_K8S: Kubernetes service lookups "svc-I.ns-J" from pods in random
 *   namespaces, expanded with the pod's search path as an ndots:5 client
 *   does: the queries a real client sends up to its first success.
 *
 * A share of draws (nxdomain) asks for nx<16 hex>.<zone> instead, a name
 * that does not exist (for K8S: a service that does not exist, which goes
 * through the whole search path). Synthetic sources pick the query type
 * from a weighted mix ("A:70,AAAA:25,SRV:5"; default A).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/wire.h"

typedef enum {
	DS_QSRC_NAMES,
	DS_QSRC_FILE,
	DS_QSRC_RANDOM,
	DS_QSRC_K8S,
} ds_qsrc_kind_t;

#define DS_QSRC_MAX_TYPES 32
/** Longest presentation name handled (without the trailing dot). */
#define DS_QSRC_STR_MAX 256

typedef struct ds_qsrc_cfg {
	ds_qsrc_kind_t kind;
	const char *file;     /**< FILE: path */
	const char *zone;     /**< NAMES, RANDOM and nx names; NULL = "example.com" */
	uint64_t names;       /**< NAMES: how many names; K8S: services (0 = 1000) */
	double zipf;          /**< Zipf exponent for NAMES and K8S services; 0 = uniform */
	double nxdomain;      /**< share of draws for names that do not exist, 0..1 */
	const char *qtypes;   /**< weighted mix "A:70,AAAA:30"; NULL = "A" (not FILE) */
	unsigned namespaces;  /**< K8S: namespaces ns-0..; 0 = 10 */
	const char *domain;   /**< K8S: cluster domain; NULL = "cluster.local" */
	int ndots;            /**< K8S: resolv.conf ndots; 0 = 5 */
	uint64_t seed;        /**< seed of every draw */
} ds_qsrc_cfg_t;

typedef struct ds_qsrc ds_qsrc_t;

/** One query: flat qname (lower case) and type. */
typedef struct ds_qsrc_query {
	uint8_t name[DS_NAME_MAX];
	uint8_t len;
	uint16_t qtype;
} ds_qsrc_query_t;

/** A thread's stream of queries (see the file comment). */
typedef struct ds_qstream {
	const ds_qsrc_t *src;
	uint64_t g;      /**< next draw number */
	uint64_t stride; /**< streams in all */
	/* K8S: queries of the current lookup still to send. */
	uint8_t pend[4][DS_NAME_MAX];
	uint8_t pend_len[4];
	int npend, ipend;
	uint16_t pend_type;
} ds_qstream_t;

/**
 * Build a source. Errors (message in err, exit status 2 material):
 * unreadable file ("FILE: No such file or directory"), a bad line
 * ("FILE:LINE: unknown query type 'XX'"), an empty file, a bad zone,
 * qtype mix or share. Free with ds_qsrc_free().
 */
ds_qsrc_t *ds_qsrc_new(const ds_qsrc_cfg_t *cfg, ds_err_t *err);
/** Free a source; NULL is fine. */
void ds_qsrc_free(ds_qsrc_t *src);
/** Queries in a FILE source; 0 for the others. */
size_t ds_qsrc_file_count(const ds_qsrc_t *src);
/** One line describing the source, e.g. "zipf(1.00) over 10000 names in example.com". */
const char *ds_qsrc_describe(const ds_qsrc_t *src, char *buf, size_t len);

/** Start stream index of count (count >= 1) over src. */
void ds_qsrc_stream(ds_qstream_t *st, const ds_qsrc_t *src, uint64_t index, uint64_t count);
/** Next query of the stream. */
void ds_qsrc_next(ds_qstream_t *st, ds_qsrc_query_t *q);

/**
 * Parse a weighted qtype mix "A:70,AAAA:25,SRV:5" (weights are relative,
 * a missing weight is 1) into types/cumulative weights (normalised to 1).
 * Returns the number of types, or DS_EINVAL with a message.
 */
int ds_qsrc_qtypes_parse(const char *s, uint16_t *types, double *cum, int max, ds_err_t *err);

/**
 * The names a stub resolver tries for name, in order, as glibc and musl
 * do with "search <ns>.svc.<domain> svc.<domain> <domain>" and ndots:
 * a name ending in '.' is tried alone; one with at least ndots dots is
 * tried as is first, then with each search suffix; otherwise the
 * suffixes come first and the bare name last. out gets presentation names
 * without the final dot. Returns how many (at most max), DS_EINVAL if a
 * candidate would be longer than a DNS name.
 */
int ds_qsrc_k8s_expand(const char *name, const char *client_ns, const char *domain, int ndots,
		       char (*out)[DS_QSRC_STR_MAX], int max);

/** Uniform 64-bit value of draw g, salt s: the counter-based generator of all draws. */
uint64_t ds_qsrc_draw(uint64_t seed, uint64_t g, unsigned salt);
