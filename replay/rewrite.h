/* SPDX-License-Identifier: MIT */
/**
 * \file rewrite.h
 * \brief Which captured queries `dnsurge replay` sends, and under which names.
 *
 * A rule set holds filters (`--filter qtype=A,AAAA`, `--filter
 * zone=example.com`) and zone rewrites (`--rewrite-zone FROM=TO`):
 *
 * - a query is kept when it passes every kind of filter given: its qtype
 *   is one of the qtype filters (if any), and its name is at or below one
 *   of the zone filters (if any). Filters see the name as captured, before
 *   any rewrite;
 * - a name at or below FROM is moved below TO, keeping the labels in front
 *   of FROM as they were (case included). When several FROM zones hold a
 *   name, the longest wins.
 *
 * The same rewrite is applied to the names of a captured response when it
 * is diffed against the answer to the rewritten query (diff.h), so a zone
 * moved to another name still compares equal.
 *
 * A rule set is built once and then only read, from any number of threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/wire.h"

typedef struct ds_rewrite ds_rewrite_t;

/** An empty rule set (keeps everything, rewrites nothing); NULL on ENOMEM. */
ds_rewrite_t *ds_rewrite_new(void);
/** Free. NULL is fine. */
void ds_rewrite_free(ds_rewrite_t *rw);

/**
 * Add a filter: "qtype=A,AAAA,TYPE65" or "zone=example.com,example.net".
 * Repeating a kind adds to its list. DS_EINVAL with err set for an unknown
 * kind, type or a bad name.
 */
int ds_rewrite_add_filter(ds_rewrite_t *rw, const char *spec, ds_err_t *err);
/**
 * Add a zone rewrite "FROM=TO" (presentation names, trailing dot
 * optional; "." is the root). DS_EINVAL with err set when malformed or
 * when FROM is given twice.
 */
int ds_rewrite_add_zone(ds_rewrite_t *rw, const char *spec, ds_err_t *err);

/** True when the set has at least one zone rewrite. */
bool ds_rewrite_renames(const ds_rewrite_t *rw);
/** True when the set has at least one filter. */
bool ds_rewrite_filters(const ds_rewrite_t *rw);

/** Whether a query (parsed with its lower-cased qname) passes the filters. */
bool ds_rewrite_keep(const ds_rewrite_t *rw, const ds_msg_t *q);

/**
 * Rewrite the flat name `name` into out (DS_NAME_MAX bytes). Returns the
 * flat length of out, 0 when no rule applies (out untouched) or DS_ERANGE
 * when the result would be longer than 255 bytes.
 */
int ds_rewrite_name(const ds_rewrite_t *rw, const uint8_t *name, uint8_t *out);

/**
 * Rewrite the question name of a query message into out (cap bytes).
 * The header and the question's type and class are kept; the records
 * after the question are copied with their owner names written out
 * uncompressed (their rdata is copied as is: a query's records, OPT and
 * TSIG, hold no compressed names). Returns the new length, 0 when no rule
 * applies to the name (out untouched), or < 0: DS_EMALF for a message that
 * cannot be rewritten, DS_ERANGE for a name too long, DS_ESPACE.
 */
int ds_rewrite_query(const ds_rewrite_t *rw, const uint8_t *pkt, size_t len, uint8_t *out,
		     size_t cap);
