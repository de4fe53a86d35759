/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"

void ds_k8s_buf_init(ds_k8s_buf_t *b)
{
	memset(b, 0, sizeof(*b));
}

void ds_k8s_buf_free(ds_k8s_buf_t *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int ds_k8s_buf_reserve(ds_k8s_buf_t *b, size_t n)
{
	if (b->oom)
		return DS_ENOMEM;
	if (b->len + n + 1 <= b->cap)
		return DS_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return DS_ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return DS_OK;
}

void ds_k8s_buf_put(ds_k8s_buf_t *b, const void *s, size_t n)
{
	if (ds_k8s_buf_reserve(b, n) != DS_OK)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void ds_k8s_buf_puts(ds_k8s_buf_t *b, const char *s)
{
	ds_k8s_buf_put(b, s, strlen(s));
}

void ds_k8s_buf_printf(ds_k8s_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || ds_k8s_buf_reserve(b, (size_t)n) != DS_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void ds_k8s_buf_json_str(ds_k8s_buf_t *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	ds_k8s_buf_put(b, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ds_k8s_buf_put(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
			ds_k8s_buf_put(b, "\\\"", 2);
			break;
		case '\\':
			ds_k8s_buf_put(b, "\\\\", 2);
			break;
		case '\n':
			ds_k8s_buf_put(b, "\\n", 2);
			break;
		case '\r':
			ds_k8s_buf_put(b, "\\r", 2);
			break;
		case '\t':
			ds_k8s_buf_put(b, "\\t", 2);
			break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			ds_k8s_buf_put(b, u, 6);
		}
		}
	}
	ds_k8s_buf_put(b, run, (size_t)(s - run));
	ds_k8s_buf_put(b, "\"", 1);
}

char *ds_k8s_buf_steal(ds_k8s_buf_t *b, size_t *len)
{
	if (b->oom || !b->p) {
		ds_k8s_buf_free(b);
		return NULL;
	}
	char *p = b->p;
	if (len)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

const char *ds_k8s_fmt_time(int64_t wall_ns, bool nanos, char *out, size_t len)
{
	time_t sec = (time_t)(wall_ns / DS_NS_PER_SEC);
	long frac = (long)(wall_ns % DS_NS_PER_SEC);
	if (frac < 0) {
		frac += DS_NS_PER_SEC;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (nanos && frac) {
		char f[16];
		snprintf(f, sizeof(f), ".%09ld", frac);
		/* Go trims trailing zeros of the fraction in RFC3339Nano. */
		size_t fl = strlen(f);
		while (f[fl - 1] == '0')
			f[--fl] = 0;
		snprintf(out + n, len - n, "%sZ", f);
	} else {
		snprintf(out + n, len - n, "Z");
	}
	return out;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *ds_k8s_b64url_encode(const void *data, size_t len)
{
	const unsigned char *d = data;
	char *out = malloc(len / 3 * 4 + 5);
	if (!out)
		return NULL;
	size_t o = 0, i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = b64chars[(v >> 6) & 63];
	}
	out[o] = 0;
	return out;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

char *ds_k8s_b64url_decode(const char *s, size_t *outlen)
{
	size_t len = strlen(s);
	while (len && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return NULL;
	char *out = malloc(len / 4 * 3 + 4);
	if (!out)
		return NULL;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	if (outlen)
		*outlen = o;
	return out;
}

void ds_k8s_uuid(ds_rng_t *r, char out[37])
{
	uint64_t a = ds_rng_next(r), b = ds_rng_next(r);
	/* Version 4, variant 10xx, as real API servers hand out. */
	a = (a & ~0xf000ULL) | 0x4000ULL;
	b = (b & ~(3ULL << 62)) | (2ULL << 62);
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
		 (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff), (unsigned)(b >> 48),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

int ds_k8s_parse_bool(const char *s, bool *out)
{
	static const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < DS_ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i])) {
			*out = true;
			return DS_OK;
		}
		if (!strcmp(s, f[i])) {
			*out = false;
			return DS_OK;
		}
	}
	return DS_EINVAL;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

const char *ds_k8s_json_skip(const char *p, const char *end)
{
	p = skip_ws(p, end);
	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
			p++;
		return p;
	}
	/* Containers: track depth; strings may hold brackets. */
	int depth = 0;
	while (p < end) {
		char c = *p;
		if (c == '"') {
			if (!(p = skip_string(p, end)))
				return NULL;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

const char *ds_k8s_json_find(const char *obj, const char *end, const char *key)
{
	size_t kl = strlen(key);
	const char *p = skip_ws(obj, end);
	if (p >= end || *p != '{')
		return NULL;
	p++;
	for (;;) {
		p = skip_ws(p, end);
		if (p >= end || *p != '"')
			return NULL;
		const char *k = p + 1;
		if (!(p = skip_string(p, end)))
			return NULL;
		bool match = (size_t)(p - 1 - k) == kl && !memcmp(k, key, kl);
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		p = skip_ws(p + 1, end);
		if (match)
			return p;
		if (!(p = ds_k8s_json_skip(p, end)))
			return NULL;
		p = skip_ws(p, end);
		if (p >= end || *p != ',')
			return NULL;
		p++;
	}
}
