/* SPDX-License-Identifier: MIT */
/*
 * RR presentation text -> ds_prr_t, and ds_prr_t -> wire. The rdata
 * recipe is a list of items: tag 0 = raw bytes (u16 length, bytes),
 * tag 1 = a flat name that may be compressed, tag 2 = a flat name that
 * must not be (SRV, DNAME targets: RFC 3597 section 4).
 */
#include "server/plugins/template/rrtext.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { IT_RAW = 0, IT_NAME = 1, IT_NAME_FLAT = 2 };

typedef struct tok {
	const char *p;
	size_t n;
	bool quoted;
} tok_t;

typedef struct lex {
	const char *s;
	size_t n, i;
	bool bad; /* unterminated quote */
} lex_t;

static bool lex_next(lex_t *l, tok_t *t)
{
	for (;;) {
		while (l->i < l->n &&
		       (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' ||
		        l->s[l->i] == '\r' || l->s[l->i] == '(' || l->s[l->i] == ')'))
			l->i++;
		if (l->i < l->n && l->s[l->i] == ';') {
			while (l->i < l->n && l->s[l->i] != '\n')
				l->i++;
			continue;
		}
		break;
	}
	if (l->i >= l->n)
		return false;
	t->quoted = l->s[l->i] == '"';
	if (t->quoted) {
		size_t st = ++l->i;
		while (l->i < l->n && l->s[l->i] != '"')
			l->i += l->s[l->i] == '\\' ? 2 : 1;
		if (l->i >= l->n) {
			l->bad = true;
			return false;
		}
		t->p = l->s + st;
		t->n = l->i - st;
		l->i++;
		return true;
	}
	size_t st = l->i;
	while (l->i < l->n) {
		char c = l->s[l->i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' ||
		    c == ';' || c == '"')
			break;
		l->i += c == '\\' && l->i + 1 < l->n ? 2 : 1;
	}
	t->p = l->s + st;
	t->n = l->i - st;
	return true;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) DS_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return DS_EINVAL;
}

static bool tok_cstr(const tok_t *t, char *buf, size_t len)
{
	if (t->n >= len)
		return false;
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	return true;
}

static bool tok_eq(const tok_t *t, const char *s)
{
	size_t n = strlen(s);
	if (t->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((t->p[i] | 0x20) != (s[i] | 0x20))
			return false;
	return true;
}

static bool parse_uint(const tok_t *t, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (t->n == 0 || t->quoted)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(t->p[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* A TTL as zone files write it: "3600", "1h30m", "2W" (miekg's stringToTTL). */
static bool parse_ttl(const tok_t *t, uint32_t *out)
{
	uint64_t total = 0, cur = 0;
	bool digits = false;
	if (t->n == 0 || t->quoted)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		char c = t->p[i];
		if (c >= '0' && c <= '9') {
			cur = cur * 10 + (uint64_t)(c - '0');
			digits = true;
			if (cur > UINT32_MAX)
				return false;
			continue;
		}
		uint64_t mult;
		switch (c | 0x20) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		case 'w':
			mult = 604800;
			break;
		default:
			return false;
		}
		if (!digits)
			return false;
		total += cur * mult;
		cur = 0;
		digits = false;
		if (total > UINT32_MAX)
			return false;
	}
	total += cur;
	if (total > UINT32_MAX)
		return false;
	*out = (uint32_t)total;
	return true;
}

static int parse_class(const tok_t *t)
{
	static const struct {
		const char *n;
		int c;
	} cl[] = {{"IN", 1}, {"CS", 2}, {"CH", 3}, {"HS", 4}, {"NONE", 254}, {"ANY", 255}};
	for (size_t i = 0; i < DS_ARRAY_SIZE(cl); i++)
		if (tok_eq(t, cl[i].n))
			return cl[i].c;
	if (t->n > 5 && tok_eq(&(tok_t){t->p, 5, false}, "CLASS")) {
		uint64_t v;
		tok_t num = {t->p + 5, t->n - 5, false};
		if (parse_uint(&num, 65535, &v))
			return (int)v;
	}
	return -1;
}

static bool parse_name(const tok_t *t, uint8_t *out)
{
	char buf[DS_NAME_MAX * 4 + 2];
	if (t->quoted || !tok_cstr(t, buf, sizeof(buf)))
		return false;
	if (!strcmp(buf, "@")) {
		out[0] = 0;
		return true;
	}
	return ds_name_from_str(buf, NULL, out) >= 0;
}

static bool put(ds_prr_t *r, const void *b, size_t n)
{
	if (r->rlen + n > DS_PRR_RDATA_MAX)
		return false;
	memcpy(r->rdata + r->rlen, b, n);
	r->rlen = (uint16_t)(r->rlen + n);
	return true;
}

static bool put_raw(ds_prr_t *r, const void *b, size_t n)
{
	uint8_t h[3] = {IT_RAW, (uint8_t)(n >> 8), (uint8_t)n};
	return n <= 0xffff && put(r, h, 3) && put(r, b, n);
}

static bool put_u16(ds_prr_t *r, uint16_t v)
{
	uint8_t b[2];
	ds_wr16(b, v);
	return put_raw(r, b, 2);
}

static bool put_u32(ds_prr_t *r, uint32_t v)
{
	uint8_t b[4];
	ds_wr32(b, v);
	return put_raw(r, b, 4);
}

static bool put_name(ds_prr_t *r, const uint8_t *name, bool compress)
{
	uint8_t tag = compress ? IT_NAME : IT_NAME_FLAT;
	return put(r, &tag, 1) && put(r, name, ds_name_len(name));
}

/* A character-string's content with \X and \DDD escapes resolved. */
static size_t unescape(const tok_t *t, uint8_t *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < t->n && o < cap; i++) {
		char c = t->p[i];
		if (c != '\\' || i + 1 >= t->n) {
			out[o++] = (uint8_t)c;
			continue;
		}
		if (i + 3 < t->n && t->p[i + 1] >= '0' && t->p[i + 1] <= '9' &&
		    t->p[i + 2] >= '0' && t->p[i + 2] <= '9' && t->p[i + 3] >= '0' &&
		    t->p[i + 3] <= '9') {
			int v = (t->p[i + 1] - '0') * 100 + (t->p[i + 2] - '0') * 10 +
			        (t->p[i + 3] - '0');
			out[o++] = (uint8_t)v;
			i += 3;
		} else {
			out[o++] = (uint8_t)t->p[++i];
		}
	}
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 3597: \# LEN HEX... */
static int generic_rdata(lex_t *l, ds_prr_t *r, char *err, size_t errlen)
{
	tok_t t;
	uint64_t want;
	if (!lex_next(l, &t) || !parse_uint(&t, 65535, &want))
		return fail(err, errlen, "bad generic rdata length");
	uint8_t buf[DS_PRR_RDATA_MAX];
	size_t got = 0;
	int hi = -1;
	while (lex_next(l, &t)) {
		for (size_t i = 0; i < t.n; i++) {
			int v = hexval(t.p[i]);
			if (v < 0)
				return fail(err, errlen, "bad hex in generic rdata");
			if (hi < 0) {
				hi = v;
				continue;
			}
			if (got == sizeof(buf))
				return fail(err, errlen, "generic rdata too long");
			buf[got++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || got != want)
		return fail(err, errlen, "generic rdata length %llu does not match its data",
		            (unsigned long long)want);
	return put_raw(r, buf, got) ? DS_OK : fail(err, errlen, "rdata too long");
}

static int rdata(lex_t *l, ds_prr_t *r, char *err, size_t errlen)
{
	tok_t t;
	uint64_t v;
	uint8_t name[DS_NAME_MAX];
	char buf[INET6_ADDRSTRLEN + 1];
	size_t save = l->i;
	if (lex_next(l, &t) && !t.quoted && t.n == 2 && t.p[0] == '\\' && t.p[1] == '#')
		return generic_rdata(l, r, err, errlen);
	l->i = save;
	switch (r->type) {
	case DS_TYPE_A:
	case DS_TYPE_AAAA: {
		uint8_t ip[16];
		bool v4 = r->type == DS_TYPE_A;
		if (!lex_next(l, &t) || !tok_cstr(&t, buf, sizeof(buf)) ||
		    inet_pton(v4 ? AF_INET : AF_INET6, buf, ip) != 1)
			return fail(err, errlen, "bad %s address", v4 ? "A" : "AAAA");
		put_raw(r, ip, v4 ? 4 : 16);
		break;
	}
	case DS_TYPE_NS:
	case DS_TYPE_CNAME:
	case DS_TYPE_PTR:
	case DS_TYPE_DNAME:
		if (!lex_next(l, &t) || !parse_name(&t, name))
			return fail(err, errlen, "bad target name");
		put_name(r, name, r->type != DS_TYPE_DNAME);
		break;
	case DS_TYPE_MX:
		if (!lex_next(l, &t) || !parse_uint(&t, 65535, &v))
			return fail(err, errlen, "bad MX preference");
		put_u16(r, (uint16_t)v);
		if (!lex_next(l, &t) || !parse_name(&t, name))
			return fail(err, errlen, "bad MX exchange");
		put_name(r, name, true);
		break;
	case DS_TYPE_SRV:
		for (int i = 0; i < 3; i++) {
			if (!lex_next(l, &t) || !parse_uint(&t, 65535, &v))
				return fail(err, errlen, "bad SRV priority, weight or port");
			put_u16(r, (uint16_t)v);
		}
		if (!lex_next(l, &t) || !parse_name(&t, name))
			return fail(err, errlen, "bad SRV target");
		put_name(r, name, false);
		break;
	case DS_TYPE_SOA:
		for (int i = 0; i < 2; i++) {
			if (!lex_next(l, &t) || !parse_name(&t, name))
				return fail(err, errlen, "bad SOA name");
			put_name(r, name, true);
		}
		if (!lex_next(l, &t) || !parse_uint(&t, UINT32_MAX, &v))
			return fail(err, errlen, "bad SOA serial");
		put_u32(r, (uint32_t)v);
		for (int i = 0; i < 4; i++) {
			uint32_t ttl;
			if (!lex_next(l, &t) || !parse_ttl(&t, &ttl))
				return fail(err, errlen, "bad SOA timer");
			put_u32(r, ttl);
		}
		break;
	case DS_TYPE_TXT: {
		bool any = false;
		while (lex_next(l, &t)) {
			uint8_t s[DS_PRR_RDATA_MAX];
			size_t n = unescape(&t, s, sizeof(s));
			/* miekg/dns splits long strings into 255-byte pieces */
			for (size_t o = 0; o < n || (n == 0 && o == 0);) {
				size_t k = n - o > 255 ? 255 : n - o;
				uint8_t lb = (uint8_t)k;
				if (!put_raw(r, &lb, 1) || !put_raw(r, s + o, k))
					return fail(err, errlen, "TXT too long");
				o += k;
				if (n == 0)
					break;
			}
			any = true;
		}
		if (!any)
			return fail(err, errlen, "bad TXT");
		break;
	}
	case DS_TYPE_CAA: {
		if (!lex_next(l, &t) || !parse_uint(&t, 255, &v))
			return fail(err, errlen, "bad CAA flag");
		uint8_t fl = (uint8_t)v;
		put_raw(r, &fl, 1);
		if (!lex_next(l, &t) || t.quoted || t.n == 0 || t.n > 255)
			return fail(err, errlen, "bad CAA tag");
		uint8_t tl = (uint8_t)t.n;
		put_raw(r, &tl, 1);
		put_raw(r, t.p, t.n);
		if (!lex_next(l, &t))
			return fail(err, errlen, "bad CAA value");
		uint8_t s[DS_PRR_RDATA_MAX];
		size_t n = unescape(&t, s, sizeof(s));
		if (!put_raw(r, s, n))
			return fail(err, errlen, "CAA too long");
		break;
	}
	default: {
		char tb[16];
		return fail(err, errlen, "type %s is not supported in templates (use \\# LEN HEX)",
		            ds_type_str(r->type, tb));
	}
	}
	if (lex_next(l, &t))
		return fail(err, errlen, "extra text after rdata: \"%.*s\"", (int)t.n, t.p);
	if (r->rlen >= DS_PRR_RDATA_MAX - 8)
		return fail(err, errlen, "rdata too long");
	return DS_OK;
}

int ds_rrtext_parse(const char *text, size_t len, bool has_owner, ds_prr_t *out, char *err,
                    size_t errlen)
{
	lex_t l = {text, len, 0, false};
	tok_t t;
	out->has_owner = has_owner;
	out->owner[0] = 0;
	out->ttl = 3600;
	out->rclass = DS_CLASS_IN;
	out->type = 0;
	out->rlen = 0;
	if (has_owner) {
		if (!lex_next(&l, &t))
			return fail(err, errlen, "empty record");
		if (!parse_name(&t, out->owner))
			return fail(err, errlen, "bad owner name \"%.*s\"", (int)t.n, t.p);
	}
	bool have_ttl = false, have_class = false;
	for (;;) {
		if (!lex_next(&l, &t))
			return fail(err, errlen, "no type in \"%.*s\"", (int)len, text);
		int c = parse_class(&t);
		if (c >= 0 && !have_class) {
			out->rclass = (uint16_t)c;
			have_class = true;
			continue;
		}
		if (!have_ttl && t.n && t.p[0] >= '0' && t.p[0] <= '9') {
			if (!parse_ttl(&t, &out->ttl))
				return fail(err, errlen, "not a TTL: \"%.*s\"", (int)t.n, t.p);
			have_ttl = true;
			continue;
		}
		char tb[32];
		if (t.quoted || !tok_cstr(&t, tb, sizeof(tb)) ||
		    !(out->type = ds_type_from_str(tb)))
			return fail(err, errlen, "not a type: \"%.*s\"", (int)t.n, t.p);
		break;
	}
	int rc = rdata(&l, out, err, errlen);
	if (rc == DS_OK && l.bad)
		return fail(err, errlen, "unterminated quote");
	return rc;
}

int ds_prr_write(ds_wbuf_t *wb, const uint8_t *owner, const ds_prr_t *r)
{
	int m = ds_wb_rr_begin(wb, owner ? owner : r->owner, r->type, r->rclass, r->ttl);
	if (m < 0)
		return DS_ESPACE;
	for (size_t i = 0; i < r->rlen;) {
		uint8_t tag = r->rdata[i++];
		if (tag == IT_RAW) {
			size_t n = ds_rd16(r->rdata + i);
			ds_wb_bytes(wb, r->rdata + i + 2, n);
			i += 2 + n;
		} else {
			const uint8_t *name = r->rdata + i;
			ds_wb_name(wb, name, tag == IT_NAME);
			i += ds_name_len(name);
		}
	}
	ds_wb_rr_end(wb, m);
	return wb->overflow ? DS_ESPACE : DS_OK;
}

const uint8_t *ds_prr_first_name(const ds_prr_t *r)
{
	for (size_t i = 0; i < r->rlen;) {
		uint8_t tag = r->rdata[i++];
		if (tag != IT_RAW)
			return r->rdata + i;
		i += 2 + ds_rd16(r->rdata + i);
	}
	return NULL;
}
