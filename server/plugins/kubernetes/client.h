/* SPDX-License-Identifier: MIT */
/**
 * \file client.h
 * \brief The kubernetes plugin's API client: one watcher thread per
 *        instance running paged LIST + WATCH for Services, EndpointSlices
 *        (discovery.k8s.io/v1), Namespaces and, for `pods verified`, Pods,
 *        over one libcurl multi handle.
 *
 * Per resource: LIST ?limit=500 following `continue`, then WATCH
 * ?allowWatchBookmarks=true&resourceVersion=RV&timeoutSeconds=300..600.
 * Bodies are split into objects as they stream in (never a DOM of a whole
 * list) and applied to the view store; what arrived is published as soon as
 * curl has nothing more to hand over, but at most once per
 * DS_K8S_COALESCE_NS (DS_K8S_COALESCE_LIST_NS while a LIST runs; longer
 * when publishing and the copies it needs take more than a fifth of the
 * time): a lone change shows at once, a burst is batched; a completed
 * list is published at once. Every event (bookmarks too) moves the
 * resourceVersion on; a stream that ends is re-watched from it; a 410
 * (HTTP or an ERROR event) relists: upserts as the pages come, then one
 * sweep of what the new list lacks, so the view is never empty meanwhile.
 * Errors back off exponentially (0.8 s doubling to 30 s, Retry-After
 * honoured). The instance is synced once every resource listed once.
 */
#pragma once

#include "server/plugins/kubernetes/kubernetes.h"

/** Least time between two publications of watch events (the batching window). */
#define DS_K8S_COALESCE_NS (2 * DS_NS_PER_MS)
/** The window while a LIST runs: pages are bulk, nobody waits for each item. */
#define DS_K8S_COALESCE_LIST_NS (100 * DS_NS_PER_MS)

/** Metric handles the client records into (created in the control thread). */
typedef struct ds_k8s_client_metrics {
	ds_mfam_t *requests;  /**< coredns_kubernetes_rest_client_requests_total */
	ds_mfam_t *duration;  /**< ..._request_duration_seconds */
	ds_mfam_t *ratelimit; /**< ..._rate_limiter_duration_seconds */
} ds_k8s_client_metrics_t;

/** Start the watcher thread of k (k->conn, k->store set). */
int ds_k8s_client_start(ds_k8s_t *k, const ds_k8s_client_metrics_t *m, ds_err_t *err);
/** Stop and join the thread, free the client (pending changes are published). */
void ds_k8s_client_stop(ds_k8s_t *k);

/** Counters, for tests. */
typedef struct ds_k8s_client_stats {
	uint64_t lists;   /**< LIST requests (pages) */
	uint64_t watches; /**< WATCH requests */
	uint64_t relists; /**< lists started after the first one */
	uint64_t errors;  /**< failed requests */
	uint64_t events;  /**< watch events applied */
	uint64_t publishes;
} ds_k8s_client_stats_t;

void ds_k8s_client_get_stats(ds_k8s_t *k, ds_k8s_client_stats_t *out);

/** Backoff bounds (tests shorten them). */
extern int64_t ds_k8s_backoff_base_ns, ds_k8s_backoff_max_ns;
