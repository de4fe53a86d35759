/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "k8s_stream": the kubernetes client's streaming splitter
 * (server/plugins/kubernetes/jscan.h), which cuts the bytes of a LIST
 * response or a WATCH stream into single objects as curl delivers them.
 *
 * Input: one byte of options (bit 0: watch stream, else list response;
 * the rest seeds the chunking), then the stream.
 *
 * Checked beyond crashes:
 *  - chunking does not matter: the stream fed whole and fed in chunks of
 *    1-64 bytes (sizes from the seed) emits the same objects in the same
 *    order, with the same outcome;
 *  - every emitted object opens with '{' and is at most the size limit;
 *  - on well-formed JSON the splitter agrees with a full parser (cJSON):
 *    a watch stream's events are exactly its top-level objects; a list's
 *    emitted objects are exactly its top-level "metadata" object and the
 *    objects of its top-level "items" array, in order (the comparison is
 *    skipped when the text has a backslash: an escaped key is a key the
 *    splitter does not match by design).
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/plugins/kubernetes/jscan.h"
#include "tests/fuzz/fuzz.h"

#define MAX_OBJS 4096

struct seen {
	size_t n;
	ds_jscan_what_t what[MAX_OBJS];
	const char *at[MAX_OBJS]; /* copies, freed by seen_free */
	size_t len[MAX_OBJS];
	bool overflow;
};

static void on_obj(void *arg, ds_jscan_what_t what, const char *obj, size_t len)
{
	struct seen *s = arg;
	DS_FUZZ_CHECK(len >= 2 && obj[0] == '{' && len <= DS_JSCAN_MAX_OBJECT);
	DS_FUZZ_CHECK(what == DS_JSCAN_ITEM || what == DS_JSCAN_META || what == DS_JSCAN_EVENT);
	if (s->n == MAX_OBJS) {
		s->overflow = true;
		return;
	}
	char *c = malloc(len ? len : 1);
	if (!c)
		abort();
	memcpy(c, obj, len);
	s->what[s->n] = what;
	s->at[s->n] = c;
	s->len[s->n] = len;
	s->n++;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free((void *)s->at[i]);
}

/* Parsed emitted object i printed compactly equals the printed v. */
static bool same(const struct seen *s, size_t i, const cJSON *v)
{
	cJSON *o = cJSON_ParseWithLength(s->at[i], s->len[i]);
	if (!o)
		return false;
	char *a = cJSON_PrintUnformatted(o), *b = cJSON_PrintUnformatted(v);
	bool eq = a && b && strcmp(a, b) == 0;
	free(a);
	free(b);
	cJSON_Delete(o);
	return eq;
}

/* Past JSON white space. */
static const char *skip_ws(const char *q, const char *e)
{
	while (q < e && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
		q++;
	return q;
}

static void check_list(const struct seen *s, const char *p, size_t n)
{
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	if (!doc)
		return;
	/* Only a single object with nothing but white space after it. */
	if (!cJSON_IsObject(doc) || skip_ws(end, p + n) != p + n) {
		cJSON_Delete(doc);
		return;
	}
	size_t k = 0;
	for (const cJSON *m = doc->child; m; m = m->next) {
		if (!strcmp(m->string, "metadata") && cJSON_IsObject(m)) {
			DS_FUZZ_CHECK(k < s->n && s->what[k] == DS_JSCAN_META && same(s, k, m));
			k++;
		} else if (!strcmp(m->string, "items") && cJSON_IsArray(m)) {
			for (const cJSON *e = m->child; e; e = e->next) {
				if (!cJSON_IsObject(e))
					continue;
				DS_FUZZ_CHECK(k < s->n && s->what[k] == DS_JSCAN_ITEM && same(s, k, e));
				k++;
			}
		}
	}
	DS_FUZZ_CHECK(k == s->n);
	cJSON_Delete(doc);
}

static void check_watch(const struct seen *s, const char *p, size_t n)
{
	/* The top-level values, all parsed before any is compared: a stream
	 * with a value cJSON refuses is not well-formed. */
	cJSON *vals = cJSON_CreateArray();
	const char *q = p, *e = p + n;
	while ((q = skip_ws(q, e)) < e) {
		const char *end = NULL;
		cJSON *v = cJSON_ParseWithLengthOpts(q, (size_t)(e - q), &end, 0);
		if (!v) {
			cJSON_Delete(vals);
			return;
		}
		cJSON_AddItemToArray(vals, v);
		q = end;
	}
	size_t k = 0;
	for (const cJSON *v = vals->child; v; v = v->next) {
		if (!cJSON_IsObject(v))
			continue;
		DS_FUZZ_CHECK(k < s->n && s->what[k] == DS_JSCAN_EVENT && same(s, k, v));
		k++;
	}
	DS_FUZZ_CHECK(k == s->n);
	cJSON_Delete(vals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	ds_jscan_mode_t mode = data[0] & 1 ? DS_JSCAN_WATCH : DS_JSCAN_LIST;
	uint32_t seed = data[0] >> 1;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;

	static struct seen whole, chunked;
	whole.n = chunked.n = 0;
	whole.overflow = chunked.overflow = false;
	ds_jscan_t a = {0}, b = {0};
	ds_jscan_reset(&a, mode);
	ds_jscan_reset(&b, mode);
	bool ok_a = ds_jscan_feed(&a, p, n, on_obj, &whole);
	bool ok_b = true;
	for (size_t off = 0; off < n && ok_b;) {
		seed = seed * 1103515245u + 12345u;
		size_t k = 1 + (seed >> 16) % 64;
		if (k > n - off)
			k = n - off;
		ok_b = ds_jscan_feed(&b, p + off, k, on_obj, &chunked);
		off += k;
	}
	DS_FUZZ_CHECK(ok_a == ok_b);
	DS_FUZZ_CHECK(ds_jscan_complete(&a) == ds_jscan_complete(&b));
	DS_FUZZ_CHECK(whole.n == chunked.n && whole.overflow == chunked.overflow);
	for (size_t i = 0; i < whole.n; i++) {
		DS_FUZZ_CHECK(whole.what[i] == chunked.what[i] && whole.len[i] == chunked.len[i]);
		DS_FUZZ_CHECK(memcmp(whole.at[i], chunked.at[i], whole.len[i]) == 0);
	}
	if (ok_a && !whole.overflow) {
		if (mode == DS_JSCAN_WATCH)
			check_watch(&whole, p, n);
		else if (!memchr(p, '\\', n))
			check_list(&whole, p, n);
	}
	seen_free(&whole);
	seen_free(&chunked);
	ds_jscan_free(&a);
	ds_jscan_free(&b);
	return 0;
}
