/* SPDX-License-Identifier: MIT */
/**
 * \file util.h
 * \brief Parsing of numbers and Go-style durations, as Corefiles write them,
 * and the small string helpers several tools share.
 */
#pragma once

#include <stdint.h>

#include "lib/common.h"

/**
 * Parse a Go duration: "300ms", "1.5s", "1h30m", "2m", "0". Units ns us µs
 * ms s m h. A bare number other than 0 is an error, as in Go.
 * Returns DS_OK or DS_EINVAL; *ns gets the value.
 */
int ds_parse_duration(const char *s, int64_t *ns);
/** Format ns as Go prints durations ("1m30s", "500ms", "0s"). */
const char *ds_fmt_duration(int64_t ns, char *buf, size_t len);
/** Parse a whole decimal integer in [min, max]. */
int ds_parse_int(const char *s, long long min, long long max, long long *out);
/** Parse a decimal floating point number; the whole string must be used. */
int ds_parse_double(const char *s, double *out);
/** Seconds, shortest decimal representation, as Go's %v of a Duration.Seconds(): "0.037990251" */
const char *ds_fmt_seconds(int64_t ns, char *buf, size_t len);
/**
 * Words joined by single spaces into a new string (free() it): \p first,
 * when not NULL, then v[0..n). Rebuilds a command line or a directive's
 * arguments as one text. NULL when out of memory.
 */
char *ds_join_words(const char *first, const char *const *v, size_t n);
