/* SPDX-License-Identifier: MIT */
#include "lib/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ds_strerror(int err)
{
	switch (err) {
	case DS_OK: return "ok";
	case DS_ECONFIG: return "configuration error";
	case DS_EMALF: return "malformed DNS message";
	case DS_ESHORT: return "DNS message too short";
	case DS_ELOOP: return "name compression loop";
	case DS_ESPACE: return "buffer too small";
	default: break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

int ds_errf(ds_err_t *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Out of memory while building configuration is not recoverable in any
 * useful way; per-query paths never call these. */
void *ds_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("[FATAL] out of memory\n", stderr);
		abort();
	}
	return p;
}

void *ds_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("[FATAL] out of memory\n", stderr);
		abort();
	}
	return q;
}

void *ds_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p) {
		fputs("[FATAL] out of memory\n", stderr);
		abort();
	}
	return p;
}

char *ds_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ds_xmalloc(n);
	memcpy(p, s, n);
	return p;
}
