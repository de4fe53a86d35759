/* SPDX-License-Identifier: MIT */
/**
 * \file objects.h
 * \brief From Kubernetes API objects (JSON) to the view's compact records:
 *        the subset of Services, EndpointSlices, Namespaces and Pods the
 *        DNS needs, as CoreDNS's object conversion keeps it.
 *
 * Kept: Service type, clusterIPs (or clusterIP), ports, externalName;
 * EndpointSlice ready addresses (ready true or unset), ports (nil port
 * -1, nil name/protocol ""; none: one -1 sentinel), endpoint hostname and,
 * with endpoint_pod_names, the targetRef name when shorter than 64;
 * Namespace names; Pod IPs of pods not being deleted. An object that does
 * not match the configured label selector is treated as deleted. Names are
 * stored lower-case (they are DNS labels).
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/plugins/kubernetes/labels.h"
#include "server/plugins/kubernetes/view.h"

/** What the plugin's options make of API objects. */
typedef struct ds_k8s_objopts {
	bool endpoint_pod_names;
	bool endpoints;                     /**< false with noendpoints: slices ignored */
	bool pods;                          /**< pods verified: Pods kept */
	const ds_k8s_selector_t *labels;    /**< Services, EndpointSlices, Pods */
	const ds_k8s_selector_t *ns_labels; /**< Namespaces */
} ds_k8s_objopts_t;

/** Service kinds of the programming-latency metric. */
enum { DS_K8S_LAT_CLUSTER_IP = 0, DS_K8S_LAT_HEADLESS = 1 };

/**
 * Called for every EndpointSlice add, update or delete applied (list items
 * included, as CoreDNS records them) of a service that exists, when the
 * slice carries endpoints.kubernetes.io/last-change-trigger-time: kind is
 * DS_K8S_LAT_*, trigger_ns the annotation as Unix ns.
 */
typedef void (*ds_k8s_latency_fn)(void *arg, int kind, int64_t trigger_ns);

/** Kinds by their API name ("Service"...), -1 if not one we follow. */
int ds_k8s_kind_from_str(const char *kind);

/**
 * Apply one object: upsert (ADDED/MODIFIED, list items) or delete
 * (DELETED) of kind DS_K8S_K_*. Malformed objects are skipped (return
 * DS_OK; *skipped set if not NULL). lat may be NULL.
 */
int ds_k8s_apply(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, int kind, bool del, const cJSON *obj,
                 ds_k8s_latency_fn lat, void *lat_arg, bool *skipped);

/**
 * Load a fixture: a JSON file holding one object, an array of objects or
 * a List ({"items": [...]}) of mixed kinds, each with its "kind". Applies
 * them as upserts and publishes. Errors (unreadable, not JSON) name the
 * file in err.
 */
int ds_k8s_load_file(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, const char *path, ds_err_t *err);

/** Parse an RFC 3339 timestamp ("2024-05-01T10:00:00.123Z") to Unix ns; false if invalid. */
bool ds_k8s_parse_time(const char *s, int64_t *ns);
