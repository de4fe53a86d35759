/* SPDX-License-Identifier: MIT */
#include "server/plugins/kubernetes/jscan.h"

#include <stdlib.h>
#include <string.h>

/* Deeper nesting than any API object has; bounds the depth counter
 * against a server streaming '[' forever. */
#define MAX_DEPTH (1 << 16)

void ds_jscan_reset(ds_jscan_t *s, ds_jscan_mode_t mode)
{
	char *buf = s->buf;
	size_t cap = s->cap;
	/* a huge object's buffer is not kept for the next request */
	if (cap > (4u << 20)) {
		free(buf);
		buf = NULL;
		cap = 0;
	}
	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->cap = cap;
	s->mode = mode;
}

void ds_jscan_free(ds_jscan_t *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = s->len = 0;
}

static bool append(ds_jscan_t *s, const char *p, size_t n)
{
	if (s->len + n > DS_JSCAN_MAX_OBJECT)
		return false;
	if (s->len + n > s->cap) {
		size_t nc = s->cap ? s->cap : 65536;
		while (nc < s->len + n)
			nc *= 2;
		char *nb = realloc(s->buf, nc);
		if (!nb)
			return false;
		s->buf = nb;
		s->cap = nc;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return true;
}

/* The capture that starts at an opening bracket at the current depth,
 * or 0. */
static ds_jscan_what_t starts(const ds_jscan_t *s, char c)
{
	if (s->mode == DS_JSCAN_WATCH)
		return s->depth == 0 && c == '{' ? DS_JSCAN_EVENT : 0;
	if (c != '{')
		return 0;
	if (s->depth == 1 && !strcmp(s->vkey, "metadata"))
		return DS_JSCAN_META;
	if (s->depth == 2 && s->in_items)
		return DS_JSCAN_ITEM;
	return 0;
}

bool ds_jscan_feed(ds_jscan_t *s, const char *p, size_t n, ds_jscan_emit_t emit, void *arg)
{
	if (s->failed)
		return false;
	size_t cs = 0; /* where the capture starts in this chunk */
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (s->in_str) {
			if (s->esc) {
				s->esc = false;
			} else if (c == '\\') {
				s->esc = true;
				/* An escaped key is never "items" or "metadata" as
				 * the API writes them; compare it to nothing. */
				if (s->key_reading)
					s->key_bad = true;
			}
			else if (c == '"')
				s->in_str = s->key_reading = false;
			else if (s->key_reading && s->klen + 1 < sizeof(s->key))
				s->key[s->klen++] = c;
			continue;
		}
		switch (c) {
		case '"':
			s->in_str = true;
			if (!s->capturing && s->mode == DS_JSCAN_LIST && s->depth == 1 &&
			    s->expect_key) {
				s->key_reading = true;
				s->key_bad = false;
				s->klen = 0;
			}
			break;
		case ':':
			if (!s->capturing && s->depth == 1) {
				s->expect_key = false;
				size_t k = s->key_bad ? 0 : s->klen;
				memcpy(s->vkey, s->key, k);
				s->vkey[k] = '\0';
			}
			break;
		case ',':
			if (!s->capturing && s->depth == 1)
				s->expect_key = true;
			break;
		case '{':
		case '[':
			if (!s->capturing) {
				ds_jscan_what_t what = starts(s, c);
				if (what) {
					s->capturing = true;
					s->cap_depth = s->depth;
					s->cap_what = what;
					s->len = 0;
					cs = i;
				} else if (s->mode == DS_JSCAN_LIST && s->depth == 1 && c == '[' &&
				           !strcmp(s->vkey, "items")) {
					s->in_items = true;
				}
			}
			if (++s->depth > MAX_DEPTH)
				goto fail;
			if (s->mode == DS_JSCAN_LIST && s->depth == 1 && c == '{')
				s->expect_key = true;
			break;
		case '}':
		case ']':
			if (--s->depth < 0)
				goto fail;
			if (s->capturing && s->depth == s->cap_depth) {
				if (!append(s, p + cs, i + 1 - cs))
					goto fail;
				s->capturing = false;
				emit(arg, s->cap_what, s->buf, s->len);
				if (s->failed)
					return false;
			} else if (s->mode == DS_JSCAN_LIST && s->depth == 1 && c == ']') {
				s->in_items = false;
			}
			break;
		default:
			break;
		}
	}
	if (s->capturing && !append(s, p + cs, n - cs))
		goto fail;
	return true;
fail:
	s->failed = true;
	return false;
}
