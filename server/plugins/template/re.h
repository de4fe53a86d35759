/* SPDX-License-Identifier: MIT */
/**
 * \file re.h
 * \brief Go (RE2) regular expressions of template `match` lines, run with
 *        POSIX <regex.h> after a translation, with fast paths.
 *
 * Patterns that match everything (`.*`, empty) and plain literals with
 * optional ^/$ anchors are matched without regexec(). Others are
 * translated to POSIX extended syntax: (?P<name>..)/(?<name>..) become
 * groups whose names are remembered, (?:..) becomes a group that is not
 * reported, \d \w \s (and negations, also inside brackets) become
 * classes, a leading (?i) becomes REG_ICASE. Lazy quantifiers, other
 * flags, \p classes and backslash forms POSIX cannot say are refused.
 * POSIX picks the leftmost-longest match where RE2 picks leftmost-first,
 * so alternations can capture differently (see README.md).
 */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#define DS_RE_GROUPS_MAX 32

typedef struct ds_re {
	char *src; /**< as written */
	int kind;  /**< see re.c */
	char *lit; /**< literal form */
	size_t litlen;
	bool anchor_start, anchor_end;
	char *posix; /**< translated pattern */
	int cflags;
	int ngroups;                           /**< Go groups including group 0 */
	int nposix;                            /**< POSIX groups including group 0 */
	int go_of_posix[DS_RE_GROUPS_MAX + 1]; /**< Go group of a POSIX group, 0 = (?:) */
	char *names[DS_RE_GROUPS_MAX + 1];     /**< Go group names, NULL if unnamed */
} ds_re_t;

/** Translate and check src (one regcomp as validation). DS_EINVAL with err. */
int ds_re_compile(ds_re_t *re, const char *src, char *err, size_t errlen);
void ds_re_free(ds_re_t *re);
/** True for patterns that match every name whole (`.*` and the like). */
bool ds_re_matches_all(const ds_re_t *re);
/** True when matching needs a regex_t (ds_re_instance). */
bool ds_re_needs_posix(const ds_re_t *re);
/** A compiled regex_t for one thread (glibc's regexec locks per regex_t). */
int ds_re_instance(const ds_re_t *re, regex_t *out);
/**
 * Match s (NUL-terminated, n bytes); on a match fill so/eo for the
 * re->ngroups Go groups (-1 when a group took no part) and return true.
 * inst may be NULL when !ds_re_needs_posix(re).
 */
bool ds_re_match(const ds_re_t *re, const regex_t *inst, const char *s, size_t n, int *so, int *eo);
