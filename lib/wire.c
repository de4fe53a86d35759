/* SPDX-License-Identifier: MIT */
#include "lib/wire.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ---------------------------------------------------------------- names */

size_t ds_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += *p + 1;
	return (size_t)(p - name) + 1;
}

int ds_name_labels(const uint8_t *name)
{
	int n = 0;
	while (*name) {
		name += *name + 1;
		n++;
	}
	return n;
}

void ds_name_lower(uint8_t *name)
{
	while (*name) {
		uint8_t l = *name++;
		for (uint8_t i = 0; i < l; i++, name++)
			*name = lc(*name);
	}
}

bool ds_name_eq(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t l = *a;
		if (l == 0)
			return true;
		a++;
		b++;
		for (uint8_t i = 0; i < l; i++)
			if (lc(a[i]) != lc(b[i]))
				return false;
		a += l;
		b += l;
	}
}

const uint8_t *ds_name_suffix(const uint8_t *name, int labels)
{
	int n = ds_name_labels(name);
	if (labels > n)
		return NULL;
	for (int i = 0; i < n - labels; i++)
		name += *name + 1;
	return name;
}

bool ds_name_in(const uint8_t *name, const uint8_t *zone)
{
	const uint8_t *s = ds_name_suffix(name, ds_name_labels(zone));
	return s && ds_name_eq(s, zone);
}

int ds_name_skip(const uint8_t *msg, size_t len, size_t *pos)
{
	size_t p = *pos;
	for (;;) {
		if (p >= len)
			return DS_EMALF;
		uint8_t l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return DS_EMALF;
			*pos = p + 2;
			return DS_OK;
		}
		if (l & 0xc0)
			return DS_EMALF; /* 0x40/0x80 label types are obsolete */
		p += (size_t)l + 1;
		if (l == 0) {
			*pos = p;
			return DS_OK;
		}
	}
}

int ds_name_unpack(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out)
{
	size_t p = *pos;
	size_t o = 0;
	size_t after = 0;      /* where the in-place name ends, once known */
	int hops = 0;
	size_t limit = p;      /* pointers must go strictly below this */
	for (;;) {
		if (p >= len)
			return DS_EMALF;
		uint8_t l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return DS_EMALF;
			size_t target = ((size_t)(l & 0x3f) << 8) | msg[p + 1];
			if (!after)
				after = p + 2;
			if (target >= limit || ++hops > 127)
				return DS_ELOOP;
			limit = target;
			p = target;
			continue;
		}
		if (l & 0xc0)
			return DS_EMALF;
		if (p + 1 + l > len)
			return DS_EMALF;
		if (o + 1 + l > DS_NAME_MAX)
			return DS_EMALF;
		memcpy(out + o, msg + p, (size_t)l + 1);
		o += (size_t)l + 1;
		p += (size_t)l + 1;
		if (l == 0)
			break;
	}
	*pos = after ? after : p;
	return (int)o;
}

int ds_name_from_str(const char *s, const uint8_t *origin, uint8_t *out)
{
	size_t o = 0;
	if (s[0] == '.' && s[1] == '\0') {
		out[0] = 0;
		return 1;
	}
	if (s[0] == '@' && s[1] == '\0' && origin) {
		size_t n = ds_name_len(origin);
		memcpy(out, origin, n);
		return (int)n;
	}
	bool absolute = false;
	while (*s) {
		size_t lpos = o++;
		uint8_t l = 0;
		if (*s == '.')
			return DS_EINVAL; /* empty label */
		while (*s && *s != '.') {
			int c = (unsigned char)*s++;
			if (c == '\\') {
				if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
				    isdigit((unsigned char)s[2])) {
					c = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
					if (c > 255)
						return DS_EINVAL;
					s += 3;
				} else if (*s) {
					c = (unsigned char)*s++;
				} else {
					return DS_EINVAL;
				}
			}
			if (l == DS_LABEL_MAX || o + 1 >= DS_NAME_MAX)
				return DS_EINVAL;
			out[o++] = (uint8_t)c;
			l++;
		}
		out[lpos] = l;
		if (*s == '.') {
			s++;
			if (*s == '\0')
				absolute = true;
		}
	}
	if (!absolute && origin) {
		size_t n = ds_name_len(origin);
		if (o + n > DS_NAME_MAX)
			return DS_EINVAL;
		memcpy(out + o, origin, n);
		return (int)(o + n);
	}
	out[o++] = 0;
	return (int)o;
}

int ds_name_to_str(const uint8_t *name, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen < 2)
		return DS_ESPACE;
	if (*name == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (*name) {
		uint8_t l = *name++;
		for (uint8_t i = 0; i < l; i++) {
			uint8_t c = *name++;
			char tmp[5];
			size_t n;
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
			    c == '@' || c == '$') {
				tmp[0] = '\\';
				tmp[1] = (char)c;
				n = 2;
			} else if (c < 0x21 || c > 0x7e) {
				snprintf(tmp, sizeof(tmp), "\\%03u", c);
				n = 4;
			} else {
				tmp[0] = (char)c;
				n = 1;
			}
			if (o + n + 2 > outlen)
				return DS_ESPACE;
			memcpy(out + o, tmp, n);
			o += n;
		}
		out[o++] = '.';
	}
	out[o] = '\0';
	return (int)o;
}

/* ------------------------------------------------------------ messages */

int ds_msg_question_end(const uint8_t *pkt, size_t len)
{
	if (len < DS_HDR_LEN)
		return DS_ESHORT;
	size_t pos = DS_HDR_LEN;
	uint16_t qd = ds_rd16(pkt + 4);
	for (uint16_t i = 0; i < qd; i++) {
		if (ds_name_skip(pkt, len, &pos) < 0 || pos + 4 > len)
			return DS_EMALF;
		pos += 4;
	}
	return (int)pos;
}

int ds_msg_parse(ds_msg_t *m, const uint8_t *pkt, size_t len, bool allow_noq)
{
	if (len < DS_HDR_LEN)
		return DS_ESHORT;
	if (len > DS_MSG_MAX)
		return DS_EMALF;
	m->pkt = pkt;
	m->len = (uint16_t)len;
	m->id = ds_rd16(pkt);
	m->flags = ds_rd16(pkt + 2);
	m->qdcount = ds_rd16(pkt + 4);
	m->ancount = ds_rd16(pkt + 6);
	m->nscount = ds_rd16(pkt + 8);
	m->arcount = ds_rd16(pkt + 10);
	m->has_opt = false;
	m->do_bit = false;
	m->edns_version = 0;
	m->ext_rcode = 0;
	m->udp_size = 0;
	m->opt_off = m->opt_len = 0;
	m->qname_len = 0;
	m->qname[0] = 0;
	m->qtype = m->qclass = 0;
	size_t pos = DS_HDR_LEN;
	m->qname_off = (uint16_t)pos;
	if (m->qdcount == 0) {
		if (!allow_noq)
			return DS_EMALF;
		m->qname_wlen = 0;
	} else {
		if (m->qdcount != 1)
			return DS_EMALF;
		int n = ds_name_unpack(pkt, len, &pos, m->qname);
		if (n < 0)
			return DS_EMALF;
		m->qname_len = (uint8_t)n;
		m->qname_wlen = (uint16_t)(pos - DS_HDR_LEN);
		if (pos + 4 > len)
			return DS_EMALF;
		m->qtype = ds_rd16(pkt + pos);
		m->qclass = ds_rd16(pkt + pos + 2);
		pos += 4;
		ds_name_lower(m->qname);
	}
	m->q_end = (uint16_t)pos;
	/* Walk the remaining records: they must be well formed, and the
	 * additional section may hold the OPT record. */
	unsigned total = (unsigned)m->ancount + m->nscount + m->arcount;
	for (unsigned i = 0; i < total; i++) {
		size_t start = pos;
		if (ds_name_skip(pkt, len, &pos) < 0 || pos + 10 > len)
			return DS_EMALF;
		uint16_t type = ds_rd16(pkt + pos);
		uint16_t rdlen = ds_rd16(pkt + pos + 8);
		size_t rd = pos + 10;
		if (rd + rdlen > len)
			return DS_EMALF;
		if (type == DS_TYPE_OPT) {
			/* Only one OPT, only in additional, owner must be root. */
			if (m->has_opt || i < (unsigned)m->ancount + m->nscount ||
			    pkt[start] != 0)
				return DS_EMALF;
			m->has_opt = true;
			m->udp_size = ds_rd16(pkt + pos + 2);
			m->ext_rcode = pkt[pos + 4];
			m->edns_version = pkt[pos + 5];
			m->do_bit = (pkt[pos + 6] & 0x80) != 0;
			m->opt_off = (uint16_t)start;
			m->opt_len = (uint16_t)(rd + rdlen - start);
			/* Options must tile the rdata exactly. */
			size_t op = rd, oe = rd + rdlen;
			while (op < oe) {
				if (op + 4 > oe)
					return DS_EMALF;
				size_t ol = ds_rd16(pkt + op + 2);
				op += 4 + ol;
				if (op > oe)
					return DS_EMALF;
			}
		}
		pos = rd + rdlen;
	}
	/* Trailing garbage after the last record is tolerated, as most
	 * servers do; the counts are what define the message. */
	return DS_OK;
}

int ds_rr_iter_init(ds_rr_iter_t *it, const uint8_t *pkt, size_t len)
{
	int qe = ds_msg_question_end(pkt, len);
	if (qe < 0)
		return qe;
	it->pkt = pkt;
	it->len = len;
	it->pos = (size_t)qe;
	it->left[0] = ds_rd16(pkt + 6);
	it->left[1] = ds_rd16(pkt + 8);
	it->left[2] = ds_rd16(pkt + 10);
	it->section = 0;
	return DS_OK;
}

int ds_rr_next(ds_rr_iter_t *it, ds_rr_t *rr)
{
	while (it->section < 3 && it->left[it->section] == 0)
		it->section++;
	if (it->section >= 3)
		return 0;
	it->left[it->section]--;
	size_t pos = it->pos;
	rr->owner_off = (uint16_t)pos;
	if (ds_name_skip(it->pkt, it->len, &pos) < 0 || pos + 10 > it->len)
		return DS_EMALF;
	rr->type = ds_rd16(it->pkt + pos);
	rr->rclass = ds_rd16(it->pkt + pos + 2);
	rr->ttl_off = (uint16_t)(pos + 4);
	rr->ttl = ds_rd32(it->pkt + pos + 4);
	rr->rdlen = ds_rd16(it->pkt + pos + 8);
	rr->rdata_off = (uint16_t)(pos + 10);
	if ((size_t)rr->rdata_off + rr->rdlen > it->len)
		return DS_EMALF;
	it->pos = (size_t)rr->rdata_off + rr->rdlen;
	rr->end = (uint16_t)it->pos;
	rr->section = it->section;
	return 1;
}

int ds_msg_truncate(uint8_t *pkt, size_t len, size_t max)
{
	if (len <= max)
		return (int)len;
	ds_rr_iter_t it;
	int rc = ds_rr_iter_init(&it, pkt, len);
	if (rc < 0)
		return rc;
	if ((size_t)it.pos > max) {
		/* Not even the question fits: header only, with TC. */
		return DS_ESPACE;
	}
	/* Find the OPT record (kept) and the last record boundary that
	 * leaves room for it. */
	uint8_t opt[512];
	size_t optlen = 0;
	ds_rr_t rr;
	size_t keep_end = it.pos;
	uint16_t keep[3] = {0, 0, 0};
	bool full = true;
	/* First pass: locate OPT. */
	ds_rr_iter_t it2 = it;
	while ((rc = ds_rr_next(&it2, &rr)) == 1) {
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL) {
			optlen = (size_t)rr.end - rr.owner_off;
			if (optlen > sizeof(opt))
				optlen = 0; /* absurd OPT: drop it */
			else
				memcpy(opt, pkt + rr.owner_off, optlen);
			break;
		}
	}
	if (rc < 0)
		return rc;
	while ((rc = ds_rr_next(&it, &rr)) == 1) {
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL)
			continue;
		if (!full)
			continue;
		if ((size_t)rr.end + optlen <= max && (size_t)rr.owner_off == keep_end) {
			keep_end = rr.end;
			keep[rr.section]++;
		} else {
			full = false;
		}
	}
	if (rc < 0)
		return rc;
	if (keep_end + optlen > max)
		optlen = 0;
	if (optlen) {
		memmove(pkt + keep_end, opt, optlen);
		keep[2]++;
	}
	ds_wr16(pkt + 6, keep[0]);
	ds_wr16(pkt + 8, keep[1]);
	ds_wr16(pkt + 10, keep[2]);
	pkt[2] |= (uint8_t)(DS_FLAG_TC >> 8);
	return (int)(keep_end + optlen);
}

/* Remove the RR spanning [off, end) from the additional section. The OPT
 * record's root owner is never a compression target in practice, but
 * names after it could point past it, so only strip it when it is last or
 * nothing follows that points forward of it (we check the simple case). */
static int strip_rr(uint8_t *pkt, size_t len, size_t off, size_t end)
{
	if (end != len)
		memmove(pkt + off, pkt + end, len - end);
	ds_wr16(pkt + 10, (uint16_t)(ds_rd16(pkt + 10) - 1));
	return (int)(len - (end - off));
}

int ds_msg_finalize(uint8_t *pkt, size_t len, size_t cap, const ds_msg_t *req, size_t max)
{
	/* The common case (cache hits, generated answers): no additional
	 * records, so no OPT to find; append the client's view and go. */
	if (len >= DS_HDR_LEN && len + 11 <= cap && len + 11 <= max && ds_rd16(pkt + 10) == 0) {
		if (!req->has_opt)
			return (int)len;
		uint8_t *o = pkt + len;
		o[0] = 0;
		ds_wr16(o + 1, DS_TYPE_OPT);
		ds_wr16(o + 3, req->udp_size);
		o[5] = 0;
		o[6] = 0;
		o[7] = req->do_bit ? 0x80 : 0;
		o[8] = 0;
		ds_wr16(o + 9, 0);
		ds_wr16(pkt + 10, 1);
		return (int)(len + 11);
	}
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return (int)len; /* not ours to judge; send as is */
	ds_rr_t rr;
	int rc;
	bool found = false;
	size_t ooff = 0, oend = 0, ottl = 0;
	while ((rc = ds_rr_next(&it, &rr)) == 1) {
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL) {
			found = true;
			ooff = rr.owner_off;
			oend = rr.end;
			ottl = rr.ttl_off;
			break;
		}
	}
	if (req->has_opt) {
		if (found) {
			/* Mirror the requester's buffer size (the class field) and
			 * DO bit (in the TTL field). Found from the TTL's offset,
			 * not the owner's: an owner other than the root is wrong
			 * but takes more than one byte. */
			ds_wr16(pkt + ottl - 2, req->udp_size);
			if (req->do_bit)
				pkt[ottl + 2] |= 0x80;
			else
				pkt[ottl + 2] &= 0x7f;
		} else if (len + 11 <= cap) {
			uint8_t *o = pkt + len;
			o[0] = 0;
			ds_wr16(o + 1, DS_TYPE_OPT);
			ds_wr16(o + 3, req->udp_size);
			o[5] = 0;
			o[6] = 0;
			o[7] = req->do_bit ? 0x80 : 0;
			o[8] = 0;
			ds_wr16(o + 9, 0);
			len += 11;
			ds_wr16(pkt + 10, (uint16_t)(ds_rd16(pkt + 10) + 1));
		}
	} else if (found) {
		len = (size_t)strip_rr(pkt, len, ooff, oend);
	}
	if (len > max) {
		int n = ds_msg_truncate(pkt, len, max);
		if (n < 0) {
			/* Question does not fit: header alone with TC. */
			ds_wr16(pkt + 4, 0);
			ds_wr16(pkt + 6, 0);
			ds_wr16(pkt + 8, 0);
			ds_wr16(pkt + 10, 0);
			pkt[2] |= (uint8_t)(DS_FLAG_TC >> 8);
			return DS_HDR_LEN;
		}
		return n;
	}
	return (int)len;
}

/* ------------------------------------------------------------- strings */

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{DS_TYPE_A, "A"},         {DS_TYPE_NS, "NS"},       {DS_TYPE_CNAME, "CNAME"},
	{DS_TYPE_SOA, "SOA"},     {DS_TYPE_PTR, "PTR"},     {DS_TYPE_HINFO, "HINFO"},
	{DS_TYPE_MX, "MX"},       {DS_TYPE_TXT, "TXT"},     {DS_TYPE_AAAA, "AAAA"},
	{DS_TYPE_LOC, "LOC"},     {DS_TYPE_SRV, "SRV"},     {DS_TYPE_NAPTR, "NAPTR"},
	{DS_TYPE_DNAME, "DNAME"}, {DS_TYPE_OPT, "OPT"},     {DS_TYPE_DS, "DS"},
	{DS_TYPE_RRSIG, "RRSIG"}, {DS_TYPE_NSEC, "NSEC"},   {DS_TYPE_DNSKEY, "DNSKEY"},
	{DS_TYPE_NSEC3, "NSEC3"}, {DS_TYPE_SVCB, "SVCB"},   {DS_TYPE_HTTPS, "HTTPS"},
	{DS_TYPE_IXFR, "IXFR"},   {DS_TYPE_AXFR, "AXFR"},   {DS_TYPE_ANY, "ANY"},
	{DS_TYPE_CAA, "CAA"},     {44, "SSHFP"},            {52, "TLSA"},
	{99, "SPF"},              {49, "DHCID"},            {51, "NSEC3PARAM"},
	{59, "CDS"},              {60, "CDNSKEY"},          {17, "RP"},
	{257, "CAA"},             {256, "URI"},             {250, "TSIG"},
};

const char *ds_type_str(uint16_t type, char *buf)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(type_names); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}

uint16_t ds_type_from_str(const char *s)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(type_names); i++)
		if (strcasecmp(type_names[i].name, s) == 0)
			return type_names[i].type;
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4]) {
		char *end;
		unsigned long v = strtoul(s + 4, &end, 10);
		if (*end == '\0' && v <= 65535)
			return (uint16_t)v;
	}
	return 0;
}

static const char *rcode_names[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
};

const char *ds_rcode_str(unsigned rcode, char *buf)
{
	if (rcode < DS_ARRAY_SIZE(rcode_names))
		return rcode_names[rcode];
	switch (rcode) {
	case 16: return "BADVERS";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 19: return "BADMODE";
	case 20: return "BADNAME";
	case 21: return "BADALG";
	case 22: return "BADTRUNC";
	case 23: return "BADCOOKIE";
	default: break;
	}
	snprintf(buf, 16, "%u", rcode);
	return buf;
}

int ds_rcode_from_str(const char *s)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(rcode_names); i++)
		if (strcasecmp(rcode_names[i], s) == 0)
			return (int)i;
	if (strcasecmp(s, "BADVERS") == 0)
		return 16;
	return -1;
}

const char *ds_class_str(uint16_t c, char *buf)
{
	switch (c) {
	case DS_CLASS_IN: return "IN";
	case DS_CLASS_CH: return "CH";
	case DS_CLASS_HS: return "HS";
	case DS_CLASS_NONE: return "NONE";
	case DS_CLASS_ANY: return "ANY";
	default: snprintf(buf, 16, "CLASS%u", c); return buf;
	}
}

/* -------------------------------------------------------------- writer */

static inline bool wb_room(ds_wbuf_t *wb, size_t n)
{
	if (wb->overflow || (size_t)wb->len + n > wb->cap) {
		wb->overflow = true;
		return false;
	}
	return true;
}

int ds_wb_bytes(ds_wbuf_t *wb, const void *data, size_t n)
{
	if (!wb_room(wb, n))
		return DS_ESPACE;
	memcpy(wb->p + wb->len, data, n);
	wb->len += (uint32_t)n;
	return DS_OK;
}

int ds_wb_u8(ds_wbuf_t *wb, uint8_t v)
{
	return ds_wb_bytes(wb, &v, 1);
}

int ds_wb_u16(ds_wbuf_t *wb, uint16_t v)
{
	if (!wb_room(wb, 2))
		return DS_ESPACE;
	ds_wr16(wb->p + wb->len, v);
	wb->len += 2;
	return DS_OK;
}

int ds_wb_u32(ds_wbuf_t *wb, uint32_t v)
{
	if (!wb_room(wb, 4))
		return DS_ESPACE;
	ds_wr32(wb->p + wb->len, v);
	wb->len += 4;
	return DS_OK;
}

/* Does the (possibly compressed) name at off in the buffer equal the flat
 * name? Case-insensitive. The buffer is our own output, so pointers in it
 * are well formed and point backwards. */
static bool name_at_eq(const uint8_t *buf, size_t off, const uint8_t *name)
{
	for (int guard = 0; guard < 128; guard++) {
		uint8_t l = buf[off];
		if ((l & 0xc0) == 0xc0) {
			off = ((size_t)(l & 0x3f) << 8) | buf[off + 1];
			continue;
		}
		if (l != *name)
			return false;
		if (l == 0)
			return true;
		for (uint8_t i = 1; i <= l; i++)
			if (lc(buf[off + i]) != lc(name[i]))
				return false;
		off += (size_t)l + 1;
		name += l + 1;
	}
	return false;
}

int ds_wb_name(ds_wbuf_t *wb, const uint8_t *name, bool compress)
{
	const uint8_t *suffix = name;
	int ptr = -1;
	/* Find the longest suffix already in the buffer. */
	if (compress) {
		for (; *suffix; suffix += *suffix + 1) {
			for (uint16_t i = 0; i < wb->ncmp; i++) {
				if (name_at_eq(wb->p, wb->cmp[i], suffix)) {
					ptr = wb->cmp[i];
					break;
				}
			}
			if (ptr >= 0)
				break;
		}
	} else {
		suffix = name + ds_name_len(name) - 1; /* everything but the root */
	}
	size_t plen = (size_t)(suffix - name);
	size_t need = plen + (ptr >= 0 ? 2 : 1);
	if (!wb_room(wb, need))
		return DS_ESPACE;
	/* Remember where each new label starts so later names can point here. */
	const uint8_t *l = name;
	size_t at = wb->len;
	while (l < suffix) {
		if (at < 0x4000 && wb->ncmp < DS_WB_CMP_MAX)
			wb->cmp[wb->ncmp++] = (uint16_t)at;
		at += *l + 1;
		l += *l + 1;
	}
	memcpy(wb->p + wb->len, name, plen);
	wb->len += (uint32_t)plen;
	if (ptr >= 0) {
		ds_wr16(wb->p + wb->len, (uint16_t)(0xc000 | ptr));
		wb->len += 2;
	} else {
		wb->p[wb->len++] = 0;
	}
	return DS_OK;
}

int ds_wb_reply(ds_wbuf_t *wb, const ds_msg_t *req, unsigned rcode, uint16_t flags)
{
	wb->len = 0;
	wb->count[0] = wb->count[1] = wb->count[2] = 0;
	wb->section = DS_SEC_ANSWER;
	wb->overflow = false;
	wb->ncmp = 0;
	if (!wb_room(wb, DS_HDR_LEN))
		return DS_ESPACE;
	uint16_t f = (uint16_t)(DS_FLAG_QR | (req->flags & (0x7800 | DS_FLAG_RD | DS_FLAG_CD)) |
				flags | (rcode & 0xf));
	uint8_t *h = wb->p;
	ds_wr16(h, req->id);
	ds_wr16(h + 2, f);
	ds_wr16(h + 4, req->qdcount ? 1 : 0);
	memset(h + 6, 0, 6);
	wb->len = DS_HDR_LEN;
	if (req->qdcount) {
		size_t qlen = (size_t)req->q_end - req->qname_off;
		/* A name with a pointer anywhere in it (even one whose last
		 * byte happens to be 0, as C0 00 is) must not be copied as
		 * is: the pointer would land in the reply's header. In place,
		 * a name is as long as its flat form exactly when it holds
		 * no pointer (a pointer's 2 bytes stand for a suffix of 1 or
		 * at least 3 bytes). */
		if (req->qname_off + req->qname_wlen != req->q_end - 4 ||
		    req->qname_wlen != req->qname_len) {
			/* The question name was compressed (legal, rare): write
			 * it out flat, keeping the case from the packet. */
			uint8_t flat[DS_NAME_MAX];
			size_t pos = req->qname_off;
			if (ds_name_unpack(req->pkt, req->len, &pos, flat) < 0)
				return DS_EMALF;
			if (ds_wb_name(wb, flat, false) < 0)
				return DS_ESPACE;
			if (ds_wb_u16(wb, req->qtype) < 0 || ds_wb_u16(wb, req->qclass) < 0)
				return DS_ESPACE;
		} else {
			if (!wb_room(wb, qlen))
				return DS_ESPACE;
			memcpy(wb->p + wb->len, req->pkt + req->qname_off, qlen);
			wb->len += (uint32_t)qlen;
		}
		/* Every label of the question is a pointer target. */
		for (size_t o = DS_HDR_LEN; wb->p[o] && (wb->p[o] & 0xc0) == 0 &&
					    wb->ncmp < DS_WB_CMP_MAX;
		     o += wb->p[o] + 1u)
			wb->cmp[wb->ncmp++] = (uint16_t)o;
	}
	return DS_OK;
}

int ds_wb_query(ds_wbuf_t *wb, uint16_t id, uint16_t flags, const uint8_t *qname, uint16_t qtype,
		uint16_t qclass)
{
	wb->len = 0;
	wb->count[0] = wb->count[1] = wb->count[2] = 0;
	wb->section = DS_SEC_ANSWER;
	wb->overflow = false;
	wb->ncmp = 0;
	if (!wb_room(wb, DS_HDR_LEN))
		return DS_ESPACE;
	ds_wr16(wb->p, id);
	ds_wr16(wb->p + 2, flags);
	ds_wr16(wb->p + 4, 1);
	memset(wb->p + 6, 0, 6);
	wb->len = DS_HDR_LEN;
	ds_wb_name(wb, qname, false);
	ds_wb_u16(wb, qtype);
	ds_wb_u16(wb, qclass);
	return wb->overflow ? DS_ESPACE : DS_OK;
}

int ds_wb_rr_begin(ds_wbuf_t *wb, const uint8_t *owner, uint16_t type, uint16_t rclass,
		   uint32_t ttl)
{
	uint32_t start = wb->len;
	ds_wb_name(wb, owner, true);
	ds_wb_u16(wb, type);
	ds_wb_u16(wb, rclass);
	ds_wb_u32(wb, ttl);
	ds_wb_u16(wb, 0);
	if (wb->overflow) {
		wb->len = start;
		return DS_ESPACE;
	}
	wb->count[wb->section]++;
	return (int)(wb->len - 2);
}

void ds_wb_rr_end(ds_wbuf_t *wb, int mark)
{
	if (mark < 0 || wb->overflow)
		return;
	ds_wr16(wb->p + mark, (uint16_t)(wb->len - (uint32_t)mark - 2));
}

int ds_wb_rr(ds_wbuf_t *wb, const uint8_t *owner, uint16_t type, uint16_t rclass, uint32_t ttl,
	     const void *rdata, uint16_t rdlen)
{
	int m = ds_wb_rr_begin(wb, owner, type, rclass, ttl);
	if (m < 0)
		return m;
	if (ds_wb_bytes(wb, rdata, rdlen) < 0) {
		wb->count[wb->section]--;
		return DS_ESPACE;
	}
	ds_wb_rr_end(wb, m);
	return DS_OK;
}

int ds_wb_opt(ds_wbuf_t *wb, uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool do_bit)
{
	if (!wb_room(wb, 11))
		return DS_ESPACE;
	uint8_t *o = wb->p + wb->len;
	o[0] = 0;
	ds_wr16(o + 1, DS_TYPE_OPT);
	ds_wr16(o + 3, udp_size);
	o[5] = ext_rcode;
	o[6] = version;
	o[7] = do_bit ? 0x80 : 0;
	o[8] = 0;
	ds_wr16(o + 9, 0);
	wb->len += 11;
	wb->count[DS_SEC_ADDITIONAL]++;
	return DS_OK;
}

int ds_wb_finish(ds_wbuf_t *wb)
{
	if (wb->overflow || wb->len < DS_HDR_LEN)
		return DS_ESPACE;
	ds_wr16(wb->p + 6, wb->count[0]);
	ds_wr16(wb->p + 8, wb->count[1]);
	ds_wr16(wb->p + 10, wb->count[2]);
	return (int)wb->len;
}

/* ------------------------------------------------------ classification */

/* RFC 1982 serial arithmetic: is a earlier than b? */
static bool serial_lt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

ds_resp_type_t ds_resp_typify(const uint8_t *pkt, size_t len, bool do_bit, uint32_t now)
{
	if (len < DS_HDR_LEN)
		return DS_RT_OTHERERROR;
	uint16_t flags = ds_rd16(pkt + 2);
	unsigned opcode = DS_OPCODE(flags), rcode = DS_RCODE(flags);
	if (opcode == DS_OPCODE_UPDATE)
		return DS_RT_UPDATE;
	if (opcode == DS_OPCODE_NOTIFY)
		return DS_RT_META;
	if (ds_rd16(pkt + 4) > 0) {
		size_t pos = DS_HDR_LEN;
		if (ds_name_skip(pkt, len, &pos) < 0 || pos + 4 > len)
			return DS_RT_OTHERERROR;
		uint16_t qt = ds_rd16(pkt + pos);
		if (qt == DS_TYPE_AXFR || qt == DS_TYPE_IXFR)
			return DS_RT_META;
	}
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return DS_RT_OTHERERROR;
	ds_rr_t rr;
	int rc;
	bool soa = false;
	int ns = 0;
	while ((rc = ds_rr_next(&it, &rr)) == 1) {
		if (do_bit && rr.type == DS_TYPE_RRSIG && rr.rdlen >= 16) {
			uint32_t exp = ds_rd32(pkt + rr.rdata_off + 8);
			uint32_t inc = ds_rd32(pkt + rr.rdata_off + 12);
			if (serial_lt(exp, now) || serial_lt(now, inc))
				return DS_RT_OTHERERROR;
		}
		if (rr.section == DS_SEC_AUTHORITY) {
			if (rr.type == DS_TYPE_SOA)
				soa = true;
			else if (rr.type == DS_TYPE_NS)
				ns++;
		}
	}
	if (rc < 0)
		return DS_RT_OTHERERROR;
	if (ds_rd16(pkt + 6) > 0 && rcode == DS_RCODE_NOERROR)
		return DS_RT_NOERROR;
	if (soa && rcode == DS_RCODE_NOERROR)
		return DS_RT_NODATA;
	if (soa && rcode == DS_RCODE_NXDOMAIN)
		return DS_RT_NAMEERROR;
	if (rcode == DS_RCODE_SERVFAIL || rcode == DS_RCODE_NOTIMP)
		return DS_RT_SERVERERROR;
	if (ns > 0 && rcode == DS_RCODE_NOERROR)
		return DS_RT_DELEGATION;
	if (rcode == DS_RCODE_NOERROR)
		return DS_RT_NOERROR;
	return DS_RT_OTHERERROR;
}

int ds_resp_class(ds_resp_type_t t)
{
	switch (t) {
	case DS_RT_NOERROR:
	case DS_RT_DELEGATION: return 0;
	case DS_RT_NAMEERROR:
	case DS_RT_NODATA: return 1;
	default: return 2;
	}
}
