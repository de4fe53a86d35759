/* SPDX-License-Identifier: MIT */
/**
 * \file common.h
 * \brief Error codes and small macros shared by every part of dnsurge.
 *
 * Functions return int: DS_OK (0) on success, a negative DS_E* code on
 * failure. Constructors return NULL on failure. ds_strerror() names a code.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DS_LIKELY(x)   __builtin_expect(!!(x), 1)
#define DS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/** Error codes: negative errno values, plus project codes below -4096. */
enum {
	DS_OK = 0,
	DS_ENOMEM = -ENOMEM,
	DS_EINVAL = -EINVAL,
	DS_ENOENT = -ENOENT,
	DS_EEXIST = -EEXIST,
	DS_ENOSPC = -ENOSPC,
	DS_ERANGE = -ERANGE,
	DS_EAGAIN = -EAGAIN,
	DS_ETIMEDOUT = -ETIMEDOUT,
	DS_EIO = -EIO,
	DS_ECONFIG = -4097,   /**< configuration error (message already formatted) */
	DS_EMALF = -4098,     /**< malformed wire data */
	DS_ESHORT = -4099,    /**< wire data too short */
	DS_ELOOP = -4100,     /**< name compression loop */
	DS_ESPACE = -4101,    /**< output buffer full */
};

/** Human-readable text for a DS_E* code (or a negative errno). */
const char *ds_strerror(int err);

/** Size of the buffer an error message is formatted into. */
#define DS_ERRMSG_MAX 512

/** An error message filled by functions that explain what went wrong. */
typedef struct ds_err {
	char msg[DS_ERRMSG_MAX];
} ds_err_t;

/** Format into err (if not NULL); returns code so callers can `return ds_errf(...)`. */
int ds_errf(ds_err_t *err, int code, const char *fmt, ...) DS_PRINTF(3, 4);

/** Allocation helpers that abort on out-of-memory at startup/config time only. */
void *ds_xmalloc(size_t n);
void *ds_xcalloc(size_t n, size_t sz);
void *ds_xrealloc(void *p, size_t n);
char *ds_xstrdup(const char *s);
