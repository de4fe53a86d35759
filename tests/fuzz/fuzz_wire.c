/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "wire": the DNS message parser and the response writer of
 * lib/wire.h. The input is one DNS message (query or response). Beyond
 * "no crash, no sanitizer report", it checks what callers rely on:
 *
 *  - ds_msg_parse / ds_rr_iter / ds_name_unpack stay inside the message
 *    and agree with each other on counts and offsets; names come out flat,
 *    at most 255 bytes, and survive text and back;
 *  - ds_msg_truncate never grows a message, keeps whole records, keeps
 *    the header counts true and sets TC when it dropped anything;
 *  - ds_msg_finalize fits the limit and mirrors the requester's EDNS;
 *  - writer round trip: a reply built with ds_wb_reply + ds_wb_* from the
 *    parsed records re-parses to the same question and the same records
 *    (names compared case-insensitively: the writer compresses so), and
 *    writing into a small buffer fails cleanly or yields a valid message.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"
#include "tests/fuzz/fuzz.h"

/* Records compared in the round trip; messages with more skip it. */
#define RT_MAX 256

/* --------------------------------------------------------------- names */

static void check_name(const uint8_t *name, int n)
{
	DS_FUZZ_CHECK(n >= 1 && n <= DS_NAME_MAX);
	DS_FUZZ_CHECK(ds_name_len(name) == (size_t)n);
	int labels = ds_name_labels(name);
	DS_FUZZ_CHECK(labels >= 0 && labels <= 127);
	DS_FUZZ_CHECK(ds_name_suffix(name, labels) == name);
	DS_FUZZ_CHECK(ds_name_suffix(name, 0) == name + n - 1);
	DS_FUZZ_CHECK(ds_name_in(name, name + n - 1)); /* everything is under the root */
	/* Text and back gives the same name: escapes must be complete. Each
	 * byte takes at most 4 characters ("\DDD") plus a dot per label. */
	char txt[DS_NAME_MAX * 4 + 2];
	int tl = ds_name_to_str(name, txt, sizeof(txt));
	DS_FUZZ_CHECK(tl > 0 && (size_t)tl < sizeof(txt));
	uint8_t back[DS_NAME_MAX];
	int bl = ds_name_from_str(txt, NULL, back);
	DS_FUZZ_CHECK(bl == n);
	DS_FUZZ_CHECK(memcmp(back, name, (size_t)n) == 0);
	uint8_t low[DS_NAME_MAX];
	memcpy(low, name, (size_t)n);
	ds_name_lower(low);
	DS_FUZZ_CHECK(ds_name_eq(low, name));
	/* A buffer too small must be refused, never overrun. */
	char small[8];
	int sl = ds_name_to_str(name, small, sizeof(small));
	DS_FUZZ_CHECK(sl == DS_ESPACE || (sl > 0 && (size_t)sl < sizeof(small)));
}

/* Unpack at every offset: every byte of a packet can be a name start
 * once a pointer says so. The text round trip of check_name() is most of
 * a run's time, so only the first few names found get it. */
static void unpack_everywhere(const uint8_t *pkt, size_t len)
{
	size_t lim = len < 600 ? len : 600;
	unsigned full = 0;
	for (size_t off = 0; off < lim; off++) {
		uint8_t name[DS_NAME_MAX];
		size_t pos = off;
		int n = ds_name_unpack(pkt, len, &pos, name);
		size_t spos = off;
		int s = ds_name_skip(pkt, len, &spos);
		if (n < 0) {
			DS_FUZZ_CHECK(n == DS_EMALF || n == DS_ELOOP);
			DS_FUZZ_CHECK(pos == off);
			continue;
		}
		if (full++ < 8)
			check_name(name, n);
		else
			DS_FUZZ_CHECK(n <= DS_NAME_MAX && ds_name_len(name) == (size_t)n);
		DS_FUZZ_CHECK(pos > off && pos <= len);
		/* Skipping reads the name in place only: it must agree on its end. */
		DS_FUZZ_CHECK(s == DS_OK && spos == pos);
	}
}

/* ------------------------------------------------------------- records */

/* A record's rdata in a form independent of where it sits: names
 * expanded (lower-cased) for the types that may carry compressed names,
 * the bytes themselves otherwise. */
typedef struct {
	bool names;
	uint8_t buf[4 * DS_NAME_MAX + 64];
	size_t len;
} rdata_t;

/* How many names lead the rdata of a type, and how many fixed bytes come
 * before and after them (RFC 1035 and RFC 3597 section 4: the types whose
 * names may be compressed). */
static bool rdata_shape(uint16_t type, int *pre, int *nnames, int *post)
{
	*pre = *post = 0;
	*nnames = 1;
	switch (type) {
	case DS_TYPE_NS:
	case DS_TYPE_CNAME:
	case DS_TYPE_PTR:
	case DS_TYPE_DNAME:
		return true;
	case DS_TYPE_MX:
		*pre = 2;
		return true;
	case DS_TYPE_SRV:
		*pre = 6;
		return true;
	case DS_TYPE_SOA:
		*nnames = 2;
		*post = 20;
		return true;
	default:
		return false;
	}
}

static bool rdata_names(const uint8_t *pkt, size_t len, const ds_rr_t *rr, rdata_t *out)
{
	int pre, nnames, post;
	if (!rdata_shape(rr->type, &pre, &nnames, &post))
		return false;
	size_t end = (size_t)rr->rdata_off + rr->rdlen;
	size_t pos = rr->rdata_off;
	out->len = 0;
	if (pos + (size_t)pre > end)
		return false;
	memcpy(out->buf, pkt + pos, (size_t)pre);
	out->len = (size_t)pre;
	pos += (size_t)pre;
	for (int i = 0; i < nnames; i++) {
		int n = ds_name_unpack(pkt, end, &pos, out->buf + out->len);
		if (n < 0)
			return false;
		ds_name_lower(out->buf + out->len);
		out->len += (size_t)n;
	}
	if (pos + (size_t)post != end)
		return false;
	memcpy(out->buf + out->len, pkt + pos, (size_t)post);
	out->len += (size_t)post;
	return true;
}

/* ---------------------------------------------------------- truncation */

static void check_truncate(const uint8_t *data, size_t size, size_t max)
{
	static uint8_t pkt[DS_MSG_MAX];
	memcpy(pkt, data, size);
	int n = ds_msg_truncate(pkt, size, max);
	if (size <= max) {
		DS_FUZZ_CHECK(n == (int)size);
		DS_FUZZ_CHECK(memcmp(pkt, data, size) == 0);
		return;
	}
	if (n < 0)
		return; /* malformed, or not even the question fits: the caller's call */
	DS_FUZZ_CHECK((size_t)n <= max);
	DS_FUZZ_CHECK((size_t)n < size);
	DS_FUZZ_CHECK(pkt[2] & (DS_FLAG_TC >> 8));
	/* The cut message holds exactly the records its header counts. */
	ds_rr_iter_t it;
	DS_FUZZ_CHECK(ds_rr_iter_init(&it, pkt, (size_t)n) == DS_OK);
	ds_rr_t rr;
	int rc, opts = 0;
	while ((rc = ds_rr_next(&it, &rr)) == 1)
		opts += rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL;
	DS_FUZZ_CHECK(rc == 0);
	DS_FUZZ_CHECK(it.pos == (size_t)n);
	/* Only the additional section's OPT is truncation's business: one
	 * is kept, any other dropped. */
	DS_FUZZ_CHECK(opts <= 1);
	/* What is kept is a prefix of the original (bar the moved OPT and the header). */
	size_t qe = (size_t)ds_msg_question_end(pkt, (size_t)n);
	DS_FUZZ_CHECK(memcmp(pkt + 4, data + 4, 2) == 0);
	DS_FUZZ_CHECK(memcmp(pkt + DS_HDR_LEN, data + DS_HDR_LEN, qe - DS_HDR_LEN) == 0);
}

/* ------------------------------------------------------------ finalize */

static bool find_opt(const uint8_t *pkt, size_t len, ds_rr_t *opt)
{
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return false;
	ds_rr_t rr;
	while (ds_rr_next(&it, &rr) == 1)
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL) {
			*opt = rr;
			return true;
		}
	return false;
}

/* Does the message iterate to exactly its end? */
static bool exact(const uint8_t *pkt, size_t len)
{
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return false;
	ds_rr_t rr;
	int rc;
	while ((rc = ds_rr_next(&it, &rr)) == 1)
		;
	return rc == 0 && it.pos == len;
}

/* strict: the message passed ds_msg_parse, so it has at most one OPT,
 * with the root as owner, in the additional section. */
static void check_finalize(const uint8_t *data, size_t size, const ds_msg_t *req, size_t max,
			   bool strict)
{
	static uint8_t pkt[DS_MSG_MAX + 64];
	size_t cap = size + 11 <= DS_MSG_MAX ? size + 11 : size;
	memcpy(pkt, data, size);
	int n = ds_msg_finalize(pkt, size, cap, req, max);
	DS_FUZZ_CHECK(n >= 0);
	DS_FUZZ_CHECK((size_t)n <= cap);
	if (ds_msg_question_end(data, size) < 0) {
		/* Not a message it can judge: sent as is, or with the OPT
		 * appended by the fast path for replies without additionals. */
		DS_FUZZ_CHECK((size_t)n == size || ((size_t)n == size + 11 && ds_rd16(data + 10) == 0));
		return;
	}
	DS_FUZZ_CHECK((size_t)n <= max || n == DS_HDR_LEN);
	if (!exact(data, size))
		return; /* trailing bytes or a broken record: only the size is promised */
	DS_FUZZ_CHECK(exact(pkt, (size_t)n));
	if (!strict)
		return;
	ds_rr_t opt;
	bool has = find_opt(pkt, (size_t)n, &opt);
	if (!req->has_opt) {
		DS_FUZZ_CHECK(!has);
		return;
	}
	if (!has)
		return; /* no room for one, or dropped to fit */
	/* The OPT carries the requester's size and DO bit. */
	DS_FUZZ_CHECK(opt.rclass == req->udp_size);
	DS_FUZZ_CHECK(((opt.ttl >> 15) & 1) == (uint32_t)req->do_bit);
}

/* ---------------------------------------------------------- round trip */

typedef struct {
	uint16_t type, rclass;
	uint32_t ttl;
	uint8_t section;
	uint8_t owner[DS_NAME_MAX];
	rdata_t rd;
} rec_t;

static rec_t recs[RT_MAX];

static int write_rec(ds_wbuf_t *wb, const uint8_t *pkt, const rec_t *r, const ds_rr_t *rr)
{
	ds_wb_section(wb, (enum ds_section)r->section);
	int mark = ds_wb_rr_begin(wb, r->owner, r->type, r->rclass, r->ttl);
	if (mark < 0)
		return mark;
	if (r->rd.names) {
		int pre, nnames, post;
		rdata_shape(r->type, &pre, &nnames, &post);
		const uint8_t *p = r->rd.buf;
		ds_wb_bytes(wb, p, (size_t)pre);
		p += pre;
		for (int i = 0; i < nnames; i++) {
			ds_wb_name(wb, p, true);
			p += ds_name_len(p);
		}
		ds_wb_bytes(wb, p, (size_t)post);
	} else {
		ds_wb_bytes(wb, pkt + rr->rdata_off, rr->rdlen);
	}
	ds_wb_rr_end(wb, mark);
	return wb->overflow ? DS_ESPACE : DS_OK;
}

static void round_trip(const uint8_t *pkt, size_t len, const ds_msg_t *m, size_t cap)
{
	static uint8_t out[DS_MSG_MAX];
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return;
	unsigned total = (unsigned)m->ancount + m->nscount + m->arcount;
	if (total > RT_MAX)
		return;
	ds_rr_t rrs[RT_MAX];
	unsigned n = 0;
	int rc;
	while (n < RT_MAX && (rc = ds_rr_next(&it, &rrs[n])) == 1) {
		rec_t *r = &recs[n];
		size_t pos = rrs[n].owner_off;
		int nl = ds_name_unpack(pkt, len, &pos, r->owner);
		if (nl < 0)
			return; /* ds_msg_parse only skips owners: the writer needs them whole */
		r->type = rrs[n].type;
		r->rclass = rrs[n].rclass;
		r->ttl = rrs[n].ttl;
		r->section = rrs[n].section;
		r->rd.names = rdata_names(pkt, len, &rrs[n], &r->rd);
		n++;
	}
	DS_FUZZ_CHECK(n == total);
	ds_wbuf_t wb;
	ds_wb_init(&wb, out, cap);
	rc = ds_wb_reply(&wb, m, DS_RCODE(m->flags), DS_FLAG_AA);
	if (rc < 0) {
		DS_FUZZ_CHECK(rc == DS_ESPACE && cap < DS_MSG_MAX);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		if (write_rec(&wb, pkt, &recs[i], &rrs[i]) < 0)
			break;
	int wl = ds_wb_finish(&wb);
	if (wl < 0) {
		/* Only running out of room may stop the writer. */
		DS_FUZZ_CHECK(wl == DS_ESPACE && wb.overflow);
		return;
	}
	DS_FUZZ_CHECK((size_t)wl <= cap);

	/* The reply re-parses to the same question and the same records. */
	ds_msg_t m2;
	rc = ds_msg_parse(&m2, out, (size_t)wl, true);
	DS_FUZZ_CHECK(rc == DS_OK);
	DS_FUZZ_CHECK(m2.id == m->id);
	DS_FUZZ_CHECK(m2.flags & DS_FLAG_QR);
	DS_FUZZ_CHECK(m2.qdcount == m->qdcount);
	DS_FUZZ_CHECK(m2.qname_len == m->qname_len);
	DS_FUZZ_CHECK(memcmp(m2.qname, m->qname, m->qname_len) == 0);
	DS_FUZZ_CHECK(m2.qtype == m->qtype && m2.qclass == m->qclass);
	DS_FUZZ_CHECK(m2.ancount == m->ancount && m2.nscount == m->nscount &&
		      m2.arcount == m->arcount);
	DS_FUZZ_CHECK(m2.has_opt == m->has_opt);
	DS_FUZZ_CHECK(exact(out, (size_t)wl));
	DS_FUZZ_CHECK(ds_rr_iter_init(&it, out, (size_t)wl) == DS_OK);
	for (unsigned i = 0; i < n; i++) {
		ds_rr_t rr;
		DS_FUZZ_CHECK(ds_rr_next(&it, &rr) == 1);
		const rec_t *r = &recs[i];
		DS_FUZZ_CHECK(rr.type == r->type && rr.rclass == r->rclass && rr.ttl == r->ttl &&
			      rr.section == r->section);
		uint8_t owner[DS_NAME_MAX];
		size_t pos = rr.owner_off;
		int nl = ds_name_unpack(out, (size_t)wl, &pos, owner);
		DS_FUZZ_CHECK(nl > 0);
		DS_FUZZ_CHECK(ds_name_eq(owner, r->owner));
		if (r->rd.names) {
			rdata_t rd;
			DS_FUZZ_CHECK(rdata_names(out, (size_t)wl, &rr, &rd));
			DS_FUZZ_CHECK(rd.len == r->rd.len && memcmp(rd.buf, r->rd.buf, rd.len) == 0);
		} else {
			DS_FUZZ_CHECK(rr.rdlen == rrs[i].rdlen);
			DS_FUZZ_CHECK(memcmp(out + rr.rdata_off, pkt + rrs[i].rdata_off, rr.rdlen) == 0);
		}
	}
	/* Typify reads the writer's output as it would a reply from upstream. */
	ds_resp_type_t t = ds_resp_typify(out, (size_t)wl, m->do_bit, 1700000000u);
	DS_FUZZ_CHECK(t <= DS_RT_OTHERERROR);
	/* Cut the reply as UDP would: no growth, still a valid message. */
	check_truncate(out, (size_t)wl, DS_UDP_MIN);
}

/* ---------------------------------------------------------------- entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A DNS message is at most 64 KiB; offsets in ds_rr_t are 16 bits. */
	if (size > DS_MSG_MAX)
		return 0;
	unpack_everywhere(data, size);

	ds_msg_t m;
	int rc = ds_msg_parse(&m, data, size, true);
	ds_msg_t mq;
	int src = ds_msg_parse(&mq, data, size, false);
	DS_FUZZ_CHECK(rc == DS_OK || rc == DS_ESHORT || rc == DS_EMALF);
	DS_FUZZ_CHECK(src == DS_OK || src == DS_ESHORT || src == DS_EMALF);
	/* Refusing an empty question is the only thing strict mode adds. */
	DS_FUZZ_CHECK(src != DS_OK || rc == DS_OK);
	DS_FUZZ_CHECK(rc != DS_OK || src == DS_OK || m.qdcount == 0);
	if (rc == DS_OK) {
		DS_FUZZ_CHECK(m.qdcount <= 1);
		DS_FUZZ_CHECK(m.q_end <= size);
		DS_FUZZ_CHECK((int)m.q_end == ds_msg_question_end(data, size));
		if (m.qdcount) {
			check_name(m.qname, m.qname_len);
			for (size_t i = 0; i < m.qname_len; i++)
				DS_FUZZ_CHECK(m.qname[i] < 'A' || m.qname[i] > 'Z');
			DS_FUZZ_CHECK(m.qname_off + m.qname_wlen + 4u == m.q_end);
		}
		if (m.has_opt) {
			DS_FUZZ_CHECK((size_t)m.opt_off + m.opt_len <= size);
			DS_FUZZ_CHECK(data[m.opt_off] == 0);
		}
		DS_FUZZ_CHECK(ds_msg_udp_limit(&m) >= DS_UDP_MIN);
	}

	/* The iterator on its own (it does not require one question). */
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, data, size) == DS_OK) {
		ds_rr_t rr;
		unsigned n[3] = {0, 0, 0};
		uint8_t last = 0;
		size_t prev = it.pos;
		while ((rc = ds_rr_next(&it, &rr)) == 1) {
			DS_FUZZ_CHECK(rr.section < 3 && rr.section >= last);
			last = rr.section;
			n[rr.section]++;
			DS_FUZZ_CHECK(rr.owner_off == prev);
			DS_FUZZ_CHECK(rr.rdata_off + (size_t)rr.rdlen == rr.end);
			DS_FUZZ_CHECK(rr.end <= size && rr.rdata_off >= rr.owner_off + 11u);
			prev = rr.end;
		}
		DS_FUZZ_CHECK(rc == 0 || rc == DS_EMALF);
		DS_FUZZ_CHECK(n[0] <= ds_rd16(data + 6) && n[1] <= ds_rd16(data + 8) &&
			      n[2] <= ds_rd16(data + 10));
		/* ds_msg_parse walks the same records: where it accepts, so must the iterator. */
		DS_FUZZ_CHECK(rc == 0 || !(rc == DS_EMALF && ds_msg_parse(&m, data, size, true) == DS_OK));
	}

	for (int d = 0; d < 2; d++) {
		ds_resp_type_t t = ds_resp_typify(data, size, d, 1700000000u);
		DS_FUZZ_CHECK(t <= DS_RT_OTHERERROR);
		int c = ds_resp_class(t);
		DS_FUZZ_CHECK(c >= 0 && c <= 2);
	}

	if (size >= DS_HDR_LEN) {
		/* Limits from the last input byte too, so any cut point is reachable. */
		size_t lims[] = {DS_HDR_LEN, DS_UDP_MIN, size / 2, size - 1, size,
				 DS_HDR_LEN + (size_t)data[size - 1] * 4};
		for (size_t i = 0; i < DS_ARRAY_SIZE(lims); i++)
			check_truncate(data, size, lims[i]);
	}

	if (size < DS_HDR_LEN)
		return 0;
	/* Finalize the input as the answer to a request without EDNS, and
	 * to requests with EDNS and either DO bit. Responses come from
	 * plugins and upstreams, so they need not pass ds_msg_parse. */
	bool strict = ds_msg_parse(&m, data, size, true) == DS_OK;
	ds_msg_t req = {.has_opt = false};
	for (int variant = 0; variant < 3; variant++) {
		if (variant > 0) {
			req.has_opt = true;
			req.do_bit = variant == 2;
			req.udp_size = (uint16_t)(ds_rd16(data) ^ (variant * 0x1234));
		}
		size_t lims[] = {DS_UDP_MIN, ds_msg_udp_limit(&req), size, size / 2 + 6};
		for (size_t i = 0; i < DS_ARRAY_SIZE(lims); i++)
			check_finalize(data, size, &req, lims[i], strict);
	}
	if (!strict)
		return 0;
	round_trip(data, size, &m, DS_MSG_MAX);
	/* A small buffer: the writer must stop cleanly. */
	round_trip(data, size, &m, DS_HDR_LEN + (size_t)data[0] * 2);
	return 0;
}
