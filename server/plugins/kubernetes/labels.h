/* SPDX-License-Identifier: MIT */
/**
 * \file labels.h
 * \brief Kubernetes label selectors for the `labels` and
 *        `namespace_labels` options: parsed (and so validated) at setup,
 *        sent to the API as labelSelector, and matched again on every
 *        object received so a server that ignores the parameter cannot
 *        widen what the DNS shows.
 *
 * Syntax (what the API's selector parser accepts for LabelSelectors):
 * comma-separated requirements `key`, `!key`, `key=value`, `key==value`,
 * `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`; spaces around
 * tokens are ignored. Keys are `[prefix/]name`, names and values at most
 * 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/common.h"

typedef struct ds_k8s_selector ds_k8s_selector_t;

/**
 * Parse a selector. Returns DS_OK with *out set (free with
 * ds_k8s_selector_free()), or DS_EINVAL with a reason in err.
 */
int ds_k8s_selector_parse(const char *text, ds_k8s_selector_t **out, char *err, size_t errlen);
void ds_k8s_selector_free(ds_k8s_selector_t *s);
/** The selector as given (what goes in the labelSelector parameter). */
const char *ds_k8s_selector_text(const ds_k8s_selector_t *s);
/** Do the labels (a JSON object of strings, or NULL) satisfy s? NULL s matches all. */
bool ds_k8s_selector_match(const ds_k8s_selector_t *s, const cJSON *labels);
