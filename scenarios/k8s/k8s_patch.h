/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_patch.h
 * \brief PATCH bodies the simulator accepts: JSON merge patch (RFC 7386),
 *        strategic merge patch treated as a merge patch, and JSON patch
 *        (RFC 6902).
 *
 * Strategic merge patches are applied as merge patches with their `$...`
 * directive keys ($setElementOrder/..., $retainKeys, $patch, ...) ignored,
 * so lists are replaced rather than merged by key. kubectl apply still
 * works for the objects the simulator serves because its patches carry
 * whole lists for EndpointSlice endpoints.
 */
#pragma once

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "lib/common.h"

/**
 * Apply patch to *target in place (RFC 7386). *target may be replaced (a
 * non-object patch replaces the whole document); the old tree is freed.
 * With strategic true, keys starting with '$' are skipped at every level.
 * Returns DS_OK or DS_ENOMEM.
 */
int ds_k8s_merge_patch(cJSON **target, const cJSON *patch, bool strategic);

/**
 * Apply an RFC 6902 operation list (add, remove, replace, move, copy,
 * test) to *target. All or nothing: on error *target is unchanged.
 * Returns DS_OK, DS_EINVAL (bad operation, missing path, failed test;
 * message in err) or DS_ENOMEM.
 */
int ds_k8s_json_patch(cJSON **target, const cJSON *ops, ds_err_t *err);
