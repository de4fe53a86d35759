/* SPDX-License-Identifier: MIT */
/**
 * \file rrcopy.h
 * \brief Copy a resource record from one DNS message into a reply being
 *        written, its names expanded.
 *
 * A record's rdata may hold names compressed against the message it came
 * from (NS, CNAME, PTR, MX, SOA ... as RFC 3597 allows); copying its bytes
 * into another message would point them at the wrong place. The plugins
 * that rewrite or merge answers (loadbalance, and file and template through
 * server/src/upstream.h) copy records with this instead.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/wire.h"

/**
 * Write rr (parsed from pkt[0..len)) into wb, owner and rdata names
 * expanded; names the writer may compress are compressed against wb.
 * DS_OK, DS_EMALF (a name in rr does not parse), or DS_ESPACE (wb is full).
 */
int ds_rrcopy(ds_wbuf_t *wb, const uint8_t *pkt, size_t len, const ds_rr_t *rr);
