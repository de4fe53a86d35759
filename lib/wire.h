/* SPDX-License-Identifier: MIT */
/**
 * \file wire.h
 * \brief DNS wire format: in-place parsing, names, and a response writer.
 *
 * Nothing here allocates. Parsing works on a view of the packet bytes
 * (ds_msg_t, ds_rr_iter_t); the writer (ds_wbuf_t) appends to a buffer the
 * caller owns, compressing names against what it has already written.
 *
 * Names are handled in "flat" wire form: length-prefixed labels ending in a
 * zero byte, never compressed, at most DS_NAME_MAX bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/common.h"

#define DS_NAME_MAX 255
#define DS_LABEL_MAX 63
#define DS_HDR_LEN 12
#define DS_UDP_MIN 512        /**< UDP payload limit without EDNS */
#define DS_MSG_MAX 65535

/* Header flag bits (second 16-bit word). */
#define DS_FLAG_QR 0x8000
#define DS_FLAG_AA 0x0400
#define DS_FLAG_TC 0x0200
#define DS_FLAG_RD 0x0100
#define DS_FLAG_RA 0x0080
#define DS_FLAG_Z 0x0040
#define DS_FLAG_AD 0x0020
#define DS_FLAG_CD 0x0010
#define DS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DS_RCODE(flags) ((flags)&0xf)

enum ds_rcode {
	DS_RCODE_NOERROR = 0,
	DS_RCODE_FORMERR = 1,
	DS_RCODE_SERVFAIL = 2,
	DS_RCODE_NXDOMAIN = 3,
	DS_RCODE_NOTIMP = 4,
	DS_RCODE_REFUSED = 5,
	DS_RCODE_YXDOMAIN = 6,
	DS_RCODE_YXRRSET = 7,
	DS_RCODE_NXRRSET = 8,
	DS_RCODE_NOTAUTH = 9,
	DS_RCODE_NOTZONE = 10,
	DS_RCODE_BADVERS = 16,
};

enum ds_opcode {
	DS_OPCODE_QUERY = 0,
	DS_OPCODE_IQUERY = 1,
	DS_OPCODE_STATUS = 2,
	DS_OPCODE_NOTIFY = 4,
	DS_OPCODE_UPDATE = 5,
};

enum ds_rrtype {
	DS_TYPE_A = 1,
	DS_TYPE_NS = 2,
	DS_TYPE_CNAME = 5,
	DS_TYPE_SOA = 6,
	DS_TYPE_PTR = 12,
	DS_TYPE_HINFO = 13,
	DS_TYPE_MX = 15,
	DS_TYPE_TXT = 16,
	DS_TYPE_AAAA = 28,
	DS_TYPE_LOC = 29,
	DS_TYPE_SRV = 33,
	DS_TYPE_NAPTR = 35,
	DS_TYPE_DNAME = 39,
	DS_TYPE_OPT = 41,
	DS_TYPE_DS = 43,
	DS_TYPE_RRSIG = 46,
	DS_TYPE_NSEC = 47,
	DS_TYPE_DNSKEY = 48,
	DS_TYPE_NSEC3 = 50,
	DS_TYPE_SVCB = 64,
	DS_TYPE_HTTPS = 65,
	DS_TYPE_IXFR = 251,
	DS_TYPE_AXFR = 252,
	DS_TYPE_ANY = 255,
	DS_TYPE_CAA = 257,
};

enum ds_rrclass {
	DS_CLASS_IN = 1,
	DS_CLASS_CH = 3,
	DS_CLASS_HS = 4,
	DS_CLASS_NONE = 254,
	DS_CLASS_ANY = 255,
};

enum ds_section { DS_SEC_ANSWER = 0, DS_SEC_AUTHORITY = 1, DS_SEC_ADDITIONAL = 2 };

static inline uint16_t ds_rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t ds_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void ds_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void ds_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------- names */

/** Length in bytes of a flat name (including the root byte). */
size_t ds_name_len(const uint8_t *name);
/** Number of labels (root = 0). */
int ds_name_labels(const uint8_t *name);
/** Lower-case a flat name in place (ASCII only, as DNS requires). */
void ds_name_lower(uint8_t *name);
/** Case-insensitive equality of two flat names. */
bool ds_name_eq(const uint8_t *a, const uint8_t *b);
/** True when name is zone or below it (case-insensitive, label boundaries). */
bool ds_name_in(const uint8_t *name, const uint8_t *zone);
/** Pointer to the suffix of name that has `labels` labels (NULL if fewer). */
const uint8_t *ds_name_suffix(const uint8_t *name, int labels);

/**
 * Read a possibly compressed name at *pos in msg into out (flat form).
 * Pointers must point strictly backwards and at most 127 are followed, so
 * loops and forward references fail with DS_ELOOP. *pos is advanced past
 * the name as it appears in place. Returns the flat length or a DS_E* code.
 */
int ds_name_unpack(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out);
/** Skip a name at *pos without expanding it; checks bounds only. */
int ds_name_skip(const uint8_t *msg, size_t len, size_t *pos);

/**
 * Presentation text ("www.Example.org." or relative "www") to flat form.
 * Handles \. and \DDD escapes; a relative name gets origin appended (or
 * the root if origin is NULL). Returns the flat length or DS_EINVAL.
 */
int ds_name_from_str(const char *s, const uint8_t *origin, uint8_t *out);
/** Flat name to presentation text with a trailing dot; escapes as dig does. */
int ds_name_to_str(const uint8_t *name, char *out, size_t outlen);

/* ------------------------------------------------------------ messages */

/** What a query looks like, parsed in place (no copies but qname). */
typedef struct ds_msg {
	const uint8_t *pkt;
	uint16_t len;
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount, ancount, nscount, arcount;
	uint16_t qname_off;   /**< offset of the question name in pkt */
	uint16_t qname_wlen;  /**< its length as it appears in pkt */
	uint16_t q_end;       /**< offset just after the question */
	uint16_t qtype, qclass;
	uint8_t qname_len;    /**< flat length of qname */
	uint8_t qname[DS_NAME_MAX]; /**< flat, lower-cased */
	/* EDNS(0) from the OPT record, if any. */
	bool has_opt;
	bool do_bit;
	uint8_t edns_version;
	uint8_t ext_rcode;
	uint16_t udp_size;    /**< as sent; see ds_msg_udp_limit() */
	uint16_t opt_off;     /**< offset of the OPT RR (its owner name) */
	uint16_t opt_len;     /**< total length of the OPT RR */
} ds_msg_t;

/**
 * Parse a query (or any message with one question) in place.
 * Returns DS_OK; DS_ESHORT when there is not even a header (drop it);
 * DS_EMALF when the header is there but the rest is not (FORMERR).
 * qdcount other than 1 is DS_EMALF unless allow_noq and it is 0.
 */
int ds_msg_parse(ds_msg_t *m, const uint8_t *pkt, size_t len, bool allow_noq);

/** UDP payload size a response to m may use: max(512, EDNS size). */
static inline uint16_t ds_msg_udp_limit(const ds_msg_t *m)
{
	return (m->has_opt && m->udp_size > DS_UDP_MIN) ? m->udp_size : DS_UDP_MIN;
}

/** One resource record as it sits in a packet. */
typedef struct ds_rr {
	uint16_t owner_off;
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t ttl_off;     /**< offset of the TTL field */
	uint16_t rdata_off;
	uint16_t rdlen;
	uint16_t end;         /**< offset just after this RR */
	uint8_t section;      /**< enum ds_section */
} ds_rr_t;

/** Iterator over answer, authority and additional records. */
typedef struct ds_rr_iter {
	const uint8_t *pkt;
	size_t len;
	size_t pos;
	uint16_t left[3];
	uint8_t section;
} ds_rr_iter_t;

/** Start after the question section(s); DS_EMALF on a broken header/question. */
int ds_rr_iter_init(ds_rr_iter_t *it, const uint8_t *pkt, size_t len);
/** 1 = rr filled, 0 = end, < 0 = malformed. */
int ds_rr_next(ds_rr_iter_t *it, ds_rr_t *rr);

/** Offset after the question section of pkt, or < 0 if malformed. */
int ds_msg_question_end(const uint8_t *pkt, size_t len);

/**
 * Cut a response to fit max bytes, as a DNS server must for UDP: whole
 * records are dropped from the end (additional first, then authority,
 * then answer) while any OPT record is kept; TC is set if anything was
 * dropped. Names only point backwards, so cutting the tail is safe.
 * Returns the new length or < 0 if the message is malformed.
 */
int ds_msg_truncate(uint8_t *pkt, size_t len, size_t max);

/** Name of a qtype ("A", "TYPE65280"); buf needs 16 bytes. */
const char *ds_type_str(uint16_t type, char *buf);
/** qtype from its name, case-insensitive, including TYPEnnn; 0 if unknown. */
uint16_t ds_type_from_str(const char *s);
/** Name of an rcode ("NOERROR", or the number as text); buf needs 16 bytes. */
const char *ds_rcode_str(unsigned rcode, char *buf);
/** rcode from its name; -1 if unknown. */
int ds_rcode_from_str(const char *s);
/** Class name ("IN", "CH", "CLASS7"); buf needs 16 bytes. */
const char *ds_class_str(uint16_t c, char *buf);

/* -------------------------------------------------------------- writer */

#define DS_WB_CMP_MAX 96

/**
 * Response writer over a caller-owned buffer. Counts are kept per section
 * and written into the header by ds_wb_finish(). Once an append fails
 * (no room), `overflow` stays set and later appends do nothing, so code can
 * write a whole message and check once.
 */
typedef struct ds_wbuf {
	uint8_t *p;
	uint32_t len;
	uint32_t cap;
	uint16_t count[3];
	uint8_t section;      /**< section new RRs are counted in */
	bool overflow;
	uint16_t ncmp;
	uint16_t cmp[DS_WB_CMP_MAX]; /**< offsets of names usable as pointer targets */
} ds_wbuf_t;

static inline void ds_wb_init(ds_wbuf_t *wb, uint8_t *buf, size_t cap)
{
	wb->p = buf;
	wb->len = 0;
	wb->cap = (uint32_t)(cap > DS_MSG_MAX ? DS_MSG_MAX : cap);
	wb->count[0] = wb->count[1] = wb->count[2] = 0;
	wb->section = DS_SEC_ANSWER;
	wb->overflow = false;
	wb->ncmp = 0;
}

/**
 * Start a response to req: copies ID, opcode, RD and CD, sets QR, the
 * rcode, plus `flags` (e.g. DS_FLAG_AA); copies the question bytes as
 * they were sent (so the client's case is kept).
 */
int ds_wb_reply(ds_wbuf_t *wb, const ds_msg_t *req, unsigned rcode, uint16_t flags);
/** Start a query (for forwarding, health checks, load generation). */
int ds_wb_query(ds_wbuf_t *wb, uint16_t id, uint16_t flags, const uint8_t *qname, uint16_t qtype,
		uint16_t qclass);
/** Append raw bytes. */
int ds_wb_bytes(ds_wbuf_t *wb, const void *data, size_t n);
int ds_wb_u8(ds_wbuf_t *wb, uint8_t v);
int ds_wb_u16(ds_wbuf_t *wb, uint16_t v);
int ds_wb_u32(ds_wbuf_t *wb, uint32_t v);
/** Append a flat name, compressed against names already written if compress. */
int ds_wb_name(ds_wbuf_t *wb, const uint8_t *name, bool compress);
/** Choose the section following RRs are counted in. */
static inline void ds_wb_section(ds_wbuf_t *wb, enum ds_section s)
{
	wb->section = (uint8_t)s;
}
/**
 * Append an RR header (owner, type, class, ttl, rdlength placeholder) and
 * count it; returns the offset of the rdlength field for ds_wb_rr_end(),
 * or < 0 on overflow.
 */
int ds_wb_rr_begin(ds_wbuf_t *wb, const uint8_t *owner, uint16_t type, uint16_t rclass,
		   uint32_t ttl);
/** Fill in the rdlength of the RR started at mark. */
void ds_wb_rr_end(ds_wbuf_t *wb, int mark);
/** Whole RR with opaque rdata (A, AAAA, TXT ...). */
int ds_wb_rr(ds_wbuf_t *wb, const uint8_t *owner, uint16_t type, uint16_t rclass, uint32_t ttl,
	     const void *rdata, uint16_t rdlen);
/** Append an OPT RR to the additional section. */
int ds_wb_opt(ds_wbuf_t *wb, uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool do_bit);
/** Write the counts into the header; returns the message length or DS_ESPACE. */
int ds_wb_finish(ds_wbuf_t *wb);
/** Set the rcode (low 4 bits) in the header of a message being written. */
static inline void ds_wb_set_rcode(ds_wbuf_t *wb, unsigned rcode)
{
	if (wb->len >= DS_HDR_LEN)
		wb->p[3] = (uint8_t)((wb->p[3] & 0xf0) | (rcode & 0xf));
}

/* ------------------------------------------------------------ helpers */

/**
 * Make an answer carry the requester's EDNS view, as CoreDNS's server does
 * before writing: if req had OPT, the response's OPT (added when missing)
 * carries req's UDP size and DO bit; if req had no OPT, any OPT in the
 * response is removed. Then cut to `max` bytes. Returns the new length.
 */
int ds_msg_finalize(uint8_t *pkt, size_t len, size_t cap, const ds_msg_t *req, size_t max);

/** Copy a header ID into a response. */
static inline void ds_msg_set_id(uint8_t *pkt, uint16_t id)
{
	ds_wr16(pkt, id);
}

/* ------------------------------------------------------ classification */

/** What kind of answer a response is (CoreDNS's response.Typify). */
typedef enum ds_resp_type {
	DS_RT_NOERROR = 0,   /**< NOERROR with answers, or plain NOERROR */
	DS_RT_NAMEERROR,     /**< NXDOMAIN with SOA */
	DS_RT_NODATA,        /**< NOERROR, no answers, SOA in authority */
	DS_RT_DELEGATION,    /**< NOERROR, NS in authority, no SOA */
	DS_RT_SERVERERROR,   /**< SERVFAIL or NOTIMP */
	DS_RT_META,          /**< NOTIFY, AXFR, IXFR */
	DS_RT_UPDATE,        /**< UPDATE */
	DS_RT_OTHERERROR,    /**< everything else (REFUSED, NXDOMAIN without SOA, expired RRSIGs with DO) */
} ds_resp_type_t;

/**
 * Classify a response. do_bit: the request had DO set (then expired or
 * not-yet-valid RRSIGs make it DS_RT_OTHERERROR); now: Unix time.
 */
ds_resp_type_t ds_resp_typify(const uint8_t *pkt, size_t len, bool do_bit, uint32_t now);
/** Log class of a type: 0 success, 1 denial, 2 error (CoreDNS's Classify). */
int ds_resp_class(ds_resp_type_t t);
