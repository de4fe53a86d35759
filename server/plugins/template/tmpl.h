/* SPDX-License-Identifier: MIT */
/**
 * \file tmpl.h
 * \brief The subset of Go's text/template the template plugin's records use,
 *        compiled at setup and rendered per query without allocating.
 *
 * Supported: text; actions `{{ .Name }}`, `.Zone`, `.Class`, `.Type`,
 * `.Remote`, `.Match` (printed as Go prints a slice), `.Group.NAME`,
 * `.Question.Name|Qtype|Qclass`, `.Message.Id`, `.Meta "KEY"` (always ""
 * here: no metadata plugin); the functions `index .Match N`,
 * `index .Group "NAME"` and `parseInt STRING BASE BITS`; string and number
 * literals; parentheses; `{{-`/`-}}` trimming and template comments.
 * Anything else (if, range, with, variables, pipelines, unknown fields or
 * functions) is refused by ds_tmpl_parse() with a reason.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

typedef struct ds_tmpl ds_tmpl_t;

/** What a rendering may read; fields the template never uses may be left NULL. */
typedef struct ds_tmpl_data {
	const char *name;   /**< .Name: qname, lower case, presentation form */
	const char *zone;   /**< .Zone */
	const char *cls;    /**< .Class */
	const char *type;   /**< .Type */
	const char *remote; /**< .Remote: client IP */
	const char *qname;  /**< .Question.Name: qname as the client wrote it */
	uint16_t qtype, qclass, id;
	const char *subject;       /**< the string the regex matched (the name) */
	const int *so, *eo;        /**< group g spans subject[so[g], eo[g]); so[g] < 0: unset */
	int ngroups;               /**< entries in so/eo, group 0 = the whole match */
	const char *const *gnames; /**< name of group g or NULL, ngroups entries */
} ds_tmpl_data_t;

/** Fields a template reads, so a query computes only those. */
enum {
	DS_TN_NAME = 1 << 0,
	DS_TN_REMOTE = 1 << 1,
	DS_TN_QNAME = 1 << 2,
	DS_TN_MATCH = 1 << 3,
};

/** Compile src; NULL with a reason in err. */
ds_tmpl_t *ds_tmpl_parse(const char *src, char *err, size_t errlen);
void ds_tmpl_free(ds_tmpl_t *t);
/** DS_TN_* bits of what t reads. */
unsigned ds_tmpl_needs(const ds_tmpl_t *t);
/** True when t has no actions (its text is fixed). */
bool ds_tmpl_is_static(const ds_tmpl_t *t);
/** True when t is exactly one `{{ .Name }}` action (maybe with blanks around). */
bool ds_tmpl_is_name(const ds_tmpl_t *t);

/**
 * Render into out (NUL-terminated). Returns the length, or DS_ESPACE when
 * it does not fit, or DS_EINVAL on an execution error (index out of
 * range, bad parseInt input) with the reason in err.
 */
int ds_tmpl_render(const ds_tmpl_t *t, const ds_tmpl_data_t *d, char *out, size_t cap, char *err,
                   size_t errlen);
