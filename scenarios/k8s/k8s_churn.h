/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_churn.h
 * \brief Scripted churn: a thread that changes the store at a given rate,
 *        the way a busy cluster does, so watchers (and the DNS servers
 *        behind them) see a steady stream of events.
 *
 * Kinds:
 * - endpoint-flap: one endpoint of a random EndpointSlice toggles
 *   ready/serving;
 * - endpoint-move: one endpoint gets a new pod IP and pod name, as when
 *   a pod is replaced (new IPs come from 10.252.0.0/14 and
 *   fd00:10:252::/64, which synthetic pods never use);
 * - services: a "churn-<n>" Service with a one-to-three endpoint slice is
 *   created, or the oldest one deleted, keeping a small population;
 * - pods: a "churn-pod-<n>" Pod is created or the oldest deleted;
 * - mix: 60% flap, 20% move, 10% services, 10% pods.
 * Every slice change sets endpoints.kubernetes.io/last-change-trigger-time
 * to the wall clock (RFC 3339 with nanoseconds) so a scenario can measure
 * how long the change takes to show in DNS.
 */
#pragma once

#include <stdint.h>

#include "lib/common.h"
#include "scenarios/k8s/k8s_store.h"

typedef enum ds_k8s_churn_kind {
	DS_K8S_CHURN_FLAP,
	DS_K8S_CHURN_MOVE,
	DS_K8S_CHURN_SERVICES,
	DS_K8S_CHURN_PODS,
	DS_K8S_CHURN_MIX,
	DS_K8S_CHURN_NKINDS,
} ds_k8s_churn_kind_t;

/** "endpoint-flap", "endpoint-move", "services", "pods", "mix". */
const char *ds_k8s_churn_kind_name(ds_k8s_churn_kind_t k);
/** Parse a kind name; -1 if unknown. */
int ds_k8s_churn_kind_parse(const char *s);

typedef struct ds_k8s_churn ds_k8s_churn_t;

/** A churn generator for st (not running until a rate is set). NULL on ENOMEM. */
ds_k8s_churn_t *ds_k8s_churn_new(ds_k8s_store_t *st, uint64_t seed);
/** Stop the thread (if any) and free. */
void ds_k8s_churn_free(ds_k8s_churn_t *c);
/**
 * Set the rate (operations per second; 0 stops) and kind; count > 0 stops
 * after that many operations. Starts the thread on first use.
 * Returns DS_OK or DS_ENOMEM / an errno from pthread_create.
 */
int ds_k8s_churn_set(ds_k8s_churn_t *c, double rate, ds_k8s_churn_kind_t kind, uint64_t count);
/**
 * Do one operation now on the caller's thread. Returns DS_OK, DS_ENOENT
 * when there is nothing to change (no slice with endpoints), or an error.
 */
int ds_k8s_churn_step(ds_k8s_churn_t *c, ds_k8s_churn_kind_t kind);

typedef struct ds_k8s_churn_stats {
	double rate;
	ds_k8s_churn_kind_t kind;
	uint64_t count; /**< operations asked for (0 = unlimited) */
	uint64_t ops;   /**< operations done since start */
	uint64_t by_kind[DS_K8S_CHURN_NKINDS - 1];
	uint64_t skipped; /**< nothing to change, or an error */
	uint64_t behind;  /**< operations the thread could not fit in time */
} ds_k8s_churn_stats_t;
void ds_k8s_churn_stats(ds_k8s_churn_t *c, ds_k8s_churn_stats_t *out);
