/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_util.h
 * \brief Small helpers the Kubernetes API simulator shares: a growable byte
 *        buffer, JSON string escaping, Kubernetes time stamps, base64url,
 *        random UIDs and Go-style boolean parsing.
 *
 * Nothing here takes locks; a buffer belongs to one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/rand.h"

/**
 * A growable byte buffer. After an allocation failure `oom` stays set and
 * later appends do nothing, so a caller can append a whole document and
 * check once at the end.
 */
typedef struct ds_k8s_buf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
} ds_k8s_buf_t;

/** An empty buffer (no allocation until the first append). */
void ds_k8s_buf_init(ds_k8s_buf_t *b);
/** Free the storage and reset to empty. */
void ds_k8s_buf_free(ds_k8s_buf_t *b);
/** Make room for n more bytes plus a NUL. DS_OK or DS_ENOMEM (and oom set). */
int ds_k8s_buf_reserve(ds_k8s_buf_t *b, size_t n);
/** Append n bytes; the buffer is kept NUL-terminated. */
void ds_k8s_buf_put(ds_k8s_buf_t *b, const void *s, size_t n);
/** Append a C string. */
void ds_k8s_buf_puts(ds_k8s_buf_t *b, const char *s);
/** Append formatted text. */
void ds_k8s_buf_printf(ds_k8s_buf_t *b, const char *fmt, ...) DS_PRINTF(2, 3);
/** Append s as a quoted, escaped JSON string. */
void ds_k8s_buf_json_str(ds_k8s_buf_t *b, const char *s);
/**
 * Hand the NUL-terminated contents to the caller (free() it) and reset the
 * buffer. Returns NULL if an append failed or nothing was appended.
 */
char *ds_k8s_buf_steal(ds_k8s_buf_t *b, size_t *len);

/**
 * Format a wall-clock time (ns since the epoch, UTC) the way Go's
 * time.RFC3339 (nanos false: "2025-01-02T03:04:05Z") or RFC3339Nano (nanos
 * true: trailing zeros of the fraction trimmed, no fraction when zero)
 * prints it. Returns out.
 */
const char *ds_k8s_fmt_time(int64_t wall_ns, bool nanos, char *out, size_t len);
/** Size that fits any ds_k8s_fmt_time() result. */
#define DS_K8S_TIME_MAX 40

/** Encode len bytes as unpadded base64url into a malloc'd string (NULL on ENOMEM). */
char *ds_k8s_b64url_encode(const void *data, size_t len);
/**
 * Decode base64url (padding optional, standard '+' '/' also accepted) into
 * a malloc'd NUL-terminated buffer; *outlen gets the byte count. NULL if
 * the text is not base64 or on ENOMEM.
 */
char *ds_k8s_b64url_decode(const char *s, size_t *outlen);

/** A random version-4 UUID in text form ("xxxxxxxx-xxxx-4xxx-..."), from r. */
void ds_k8s_uuid(ds_rng_t *r, char out[37]);

/**
 * Skip one JSON value (object, array, string, number or literal) starting
 * at p (leading whitespace allowed). Returns the first byte after it, or
 * NULL if the text up to end is not a complete value. Does not validate
 * beyond what skipping needs: it is for text the simulator serialised.
 */
const char *ds_k8s_json_skip(const char *p, const char *end);
/**
 * In the JSON object starting at obj, the value of key (a member name
 * without escapes). Returns a pointer to the value's first byte, or NULL.
 */
const char *ds_k8s_json_find(const char *obj, const char *end, const char *key);

/**
 * Parse a boolean as Go's strconv.ParseBool does (1 t T TRUE true True,
 * 0 f F FALSE false False). Returns DS_OK or DS_EINVAL.
 */
int ds_k8s_parse_bool(const char *s, bool *out);
