/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_select.h
 * \brief Kubernetes label and field selectors: parsing and matching.
 *
 * Label selectors use the API server's grammar: requirements separated by
 * commas, each `key`, `!key`, `key=v`, `key==v`, `key!=v`,
 * `key in (a,b)`, `key notin (a,b)`, `key>N`, `key<N`. `!=` and `notin`
 * also match objects without the key, as on a real server. Keys are
 * qualified names (optional DNS-subdomain prefix and '/'), values are
 * label values (at most 63 characters, alphanumeric at both ends).
 *
 * Field selectors are comma-separated `field=v`, `field==v`, `field!=v`,
 * with `\,` `\=` `\\` escapes in values. Which fields a resource supports
 * is the store's business (ds_k8s_store_check_fields()).
 *
 * A parsed selector is immutable and may be shared by threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/common.h"

/** A key/value pair: a label, or a selectable field and its value. */
typedef struct ds_k8s_kv {
	const char *key;
	const char *val;
} ds_k8s_kv_t;

typedef enum ds_k8s_selop {
	DS_K8S_SEL_EQ,
	DS_K8S_SEL_NE,
	DS_K8S_SEL_IN,
	DS_K8S_SEL_NOTIN,
	DS_K8S_SEL_EXISTS,
	DS_K8S_SEL_NOTEXISTS,
	DS_K8S_SEL_GT,
	DS_K8S_SEL_LT,
} ds_k8s_selop_t;

/** One requirement. EQ/NE/GT/LT have exactly one value. */
typedef struct ds_k8s_selreq {
	char *key;
	ds_k8s_selop_t op;
	char **vals;
	size_t nvals;
} ds_k8s_selreq_t;

/** A selector: the AND of its requirements; no requirements matches all. */
typedef struct ds_k8s_sel {
	ds_k8s_selreq_t *reqs;
	size_t n;
} ds_k8s_sel_t;

/**
 * Parse a label selector. NULL or "" gives an empty selector. Returns NULL
 * on a syntax or validation error (message in err) or ENOMEM.
 */
ds_k8s_sel_t *ds_k8s_labelsel_parse(const char *s, ds_err_t *err);
/** Parse a field selector; NULL on error (message in err). */
ds_k8s_sel_t *ds_k8s_fieldsel_parse(const char *s, ds_err_t *err);
/** Free a selector (NULL is fine). */
void ds_k8s_sel_free(ds_k8s_sel_t *sel);
/** True when sel is NULL or has no requirements. */
bool ds_k8s_sel_empty(const ds_k8s_sel_t *sel);
/**
 * True when the n key/value pairs satisfy every requirement. For field
 * selectors pass every supported field, with "" for absent ones.
 */
bool ds_k8s_sel_match(const ds_k8s_sel_t *sel, const ds_k8s_kv_t *kv, size_t n);
/**
 * The value an EQ requirement on key demands, or NULL: lets a LIST on
 * metadata.name=X or metadata.namespace=Y narrow its scan.
 */
const char *ds_k8s_sel_eq_value(const ds_k8s_sel_t *sel, const char *key);
/** Check a label key (qualified name); DS_OK or DS_EINVAL with a message. */
int ds_k8s_label_key_check(const char *key, ds_err_t *err);
/** Check a label value; DS_OK or DS_EINVAL with a message. */
int ds_k8s_label_value_check(const char *val, ds_err_t *err);
