/* SPDX-License-Identifier: MIT */
/**
 * \file rrtext.h
 * \brief Resource records from RFC 1035 presentation text, without ldns, for
 *        the template plugin's query path.
 *
 * A record is parsed once into a ds_prr_t: owner, type, class, TTL and an
 * rdata "recipe" (raw bytes and names), which ds_prr_write() appends to a
 * reply with the names compressed where RFC 3597 allows it. Parsing does
 * not allocate; a recipe holds at most DS_PRR_RDATA_MAX bytes.
 *
 * Text: `OWNER [TTL] [CLASS] TYPE RDATA` (TTL and CLASS in either order,
 * defaults 3600 and IN, as miekg/dns's NewRR). Relative names are taken
 * as relative to the root. Parentheses group, `;` starts a comment.
 * Types: A, AAAA, NS, CNAME, PTR, DNAME, MX, SRV, TXT, SOA, CAA, and any
 * type (also TYPEnnn) in RFC 3597 form `\# LEN HEX`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/wire.h"

#define DS_PRR_RDATA_MAX 4096

/** One parsed record. */
typedef struct ds_prr {
	uint8_t owner[DS_NAME_MAX]; /**< flat, as written (case kept) */
	bool has_owner;
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t rlen;                   /**< bytes used in rdata */
	uint8_t rdata[DS_PRR_RDATA_MAX]; /**< recipe, see rrtext.c */
} ds_prr_t;

/**
 * Parse text[0..len) into *out. With has_owner false the text starts at
 * the TTL/class/type (the owner is supplied when writing). Returns DS_OK,
 * or DS_EINVAL with a reason in err (like "not a TTL: \"x\"").
 */
int ds_rrtext_parse(const char *text, size_t len, bool has_owner, ds_prr_t *out, char *err,
                    size_t errlen);

/**
 * Append r to wb as one record in wb's current section; owner overrides
 * r->owner when not NULL. Returns DS_OK or DS_ESPACE.
 */
int ds_prr_write(ds_wbuf_t *wb, const uint8_t *owner, const ds_prr_t *r);

/** The first name in r's rdata (a CNAME's target ...), or NULL. */
const uint8_t *ds_prr_first_name(const ds_prr_t *r);
