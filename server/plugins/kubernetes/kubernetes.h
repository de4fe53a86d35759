/* SPDX-License-Identifier: MIT */
/**
 * \file kubernetes.h
 * \brief The kubernetes plugin instance shared by its files: options,
 *        the view store, the API client, per-worker scratch; the query
 *        answering entry point (answer.c) and test entry points.
 *
 * Files: kubernetes.c (setup, start/stop, readiness, metrics), answer.c
 * (records from the view, CoreDNS's NXDOMAIN/NODATA rules), view.c (the
 * lock-free view), objects.c (API JSON to records), client.c (LIST/WATCH
 * watcher thread), kubeconfig.c (API address, TLS and credentials),
 * labels.c (label selectors).
 */
#pragma once

#include <stdatomic.h>

#include "server/plugins/kubernetes/kubeconfig.h"
#include "server/plugins/kubernetes/objects.h"
#include "server/plugins/kubernetes/view.h"
#include "server/src/metrics.h"
#include "server/src/plugin.h"

typedef struct ds_k8s_client ds_k8s_client_t;

enum { DS_K8S_PODS_DISABLED = 0, DS_K8S_PODS_INSECURE, DS_K8S_PODS_VERIFIED };

#define DS_K8S_MAX_LOCAL 16
#define DS_K8S_SEEN_SLOTS 8192u

/** One instance (one server block's `kubernetes` directive). */
typedef struct ds_k8s {
	ds_plugin_t *self;
	/* options */
	uint8_t (*zones)[DS_NAME_MAX];
	size_t nzones;
	size_t primary; /**< first non-reverse zone: PTR targets */
	bool fall_set;  /**< fallthrough given */
	uint8_t (*fall)[DS_NAME_MAX];
	size_t nfall;
	char **namespaces; /**< `namespaces`: the only ones exposed */
	size_t nnamespaces;
	int pod_mode;
	bool endpoint_pod_names;
	bool noendpoints;
	bool ignore_empty;
	uint32_t ttl;
	int64_t startup_timeout_ns;
	ds_k8s_selector_t *labels, *ns_labels;
	ds_k8s_objopts_t objopts;
	ds_k8s_conn_t conn; /**< API address and credentials */
	bool api;           /**< false: test mode, records come from fixtures */
	/* state */
	ds_k8s_store_t *store;
	atomic_bool synced;
	ds_k8s_client_t *client;
	/* this instance's own addresses, for NS records (CoreDNS's localIPs) */
	uint8_t local_fam[DS_K8S_MAX_LOCAL];
	uint8_t local_ip[DS_K8S_MAX_LOCAL][16];
	size_t nlocal;
} ds_k8s_t;

/** Per-worker scratch: a stamp-cleared table for duplicate checks. */
typedef struct ds_k8s_seen {
	uint64_t key;
	uint32_t stamp;
	uint32_t val;
} ds_k8s_seen_t;

typedef struct ds_k8s_wctx {
	uint32_t stamp;
	uint32_t ext_inflight; /**< ExternalName lookups waiting on this worker */
	ds_k8s_seen_t seen[DS_K8S_SEEN_SLOTS];
} ds_k8s_wctx_t;

/** The plugin's serve(): answer q from the current view (answer.c). */
int ds_k8s_serve(ds_plugin_t *p, ds_query_t *q);

/** Metrics of the programming latency, shared with the client (kubernetes.c). */
void ds_k8s_observe_latency(int kind, int64_t trigger_ns);
/**
 * Serialise metric updates from watcher threads: they share one metrics
 * slot (threads come and go with reloads; slots are never given back).
 * Returns the slot to update while the lock is held.
 */
unsigned ds_k8s_metrics_lock(void);
void ds_k8s_metrics_unlock(void);

/* ---------------------------------------------------------------- tests */

/**
 * When set before a Corefile is set up, kubernetes instances talk to no
 * API: records come from ds_k8s_test_load(), and the instance is not
 * synced until ds_k8s_test_set_synced().
 */
extern bool ds_k8s_test_noapi;
/** The instance of the first block of g that has the plugin, or NULL. */
ds_k8s_t *ds_k8s_test_instance(ds_gen_t *g);
/** Load a JSON fixture of API objects into the instance's view (publishes). */
int ds_k8s_test_load(ds_k8s_t *k, const char *path, ds_err_t *err);
void ds_k8s_test_set_synced(ds_k8s_t *k, bool synced);
/** Replace the instance's own addresses (NS records); fams 4 or 6. */
void ds_k8s_test_set_local(ds_k8s_t *k, const uint8_t *fams, const uint8_t (*ips)[16], size_t n);
