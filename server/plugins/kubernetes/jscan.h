/* SPDX-License-Identifier: MIT */
/**
 * \file jscan.h
 * \brief The streaming splitter of the kubernetes plugin's API client: cuts
 *        a LIST response (`{"metadata":{...},"items":[{...},...]}`) or a
 *        WATCH stream (`{...}\n{...}\n...`) into single objects as the
 *        bytes arrive, so a 100k-object list is never held or parsed whole.
 *
 * It tracks only what it needs: string and escape state, nesting depth,
 * and at depth 1 of a list the key whose value starts (`metadata`,
 * `items`). It does not validate JSON; each object it emits is parsed by
 * the caller, which refuses what is not JSON. Cutting is independent of
 * how the bytes are chunked: any split of a stream gives the same objects.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/** What a stream is. */
typedef enum {
	DS_JSCAN_LIST = 0,  /**< one LIST response object */
	DS_JSCAN_WATCH = 1, /**< a sequence of watch event objects */
} ds_jscan_mode_t;

/** What an emitted object is. */
typedef enum {
	DS_JSCAN_ITEM = 1, /**< an element of a list's top-level `items` array */
	DS_JSCAN_META,     /**< a list's top-level `metadata` object */
	DS_JSCAN_EVENT,    /**< a top-level object of a watch stream */
} ds_jscan_what_t;

/** Objects larger than this are refused (the stream fails). */
#define DS_JSCAN_MAX_OBJECT (64u << 20)

typedef struct ds_jscan {
	ds_jscan_mode_t mode;
	int depth;
	bool in_str, esc;
	bool expect_key, key_reading, key_bad;
	char key[16];
	size_t klen;
	char vkey[16]; /* key whose value is being read at depth 1 */
	bool in_items;
	bool capturing;
	int cap_depth;
	ds_jscan_what_t cap_what;
	char *buf; /* the object being captured, across chunks */
	size_t len, cap;
	bool failed; /* set by ds_jscan_feed, or by the caller's emit */
} ds_jscan_t;

/** Receives one whole object; obj is valid until the next feed. */
typedef void (*ds_jscan_emit_t)(void *arg, ds_jscan_what_t what, const char *obj, size_t len);

/**
 * Start a new stream in mode. Keeps the capture buffer of an earlier
 * stream for reuse unless it grew past 4 MB. A zeroed ds_jscan_t is a
 * valid initial state.
 */
void ds_jscan_reset(ds_jscan_t *s, ds_jscan_mode_t mode);

/**
 * Feed the next n bytes of the stream; complete objects go to emit in
 * order. false on a malformed stream (a close without an open) or an
 * object over DS_JSCAN_MAX_OBJECT, and the stream is then failed.
 */
bool ds_jscan_feed(ds_jscan_t *s, const char *p, size_t n, ds_jscan_emit_t emit, void *arg);

/** True when the stream ended between objects (no open object or array). */
static inline bool ds_jscan_complete(const ds_jscan_t *s)
{
	return !s->failed && s->depth == 0 && !s->in_str;
}

/** Free the capture buffer. */
void ds_jscan_free(ds_jscan_t *s);
