/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_synth.h
 * \brief A deterministic synthetic cluster: namespaces, Services of every
 *        type, EndpointSlices of up to slice_size endpoints and Pods with
 *        the fields real clusters carry.
 *
 * Layout (stable, so scenarios can name objects without listing them):
 * - namespaces "ns-0" .. "ns-(K-1)";
 * - service i is "svc-<i>" in namespace "ns-<i mod K>"; its type, ports
 *   and endpoint count come from the seeded generator;
 * - endpoints are pods: each pod slot lives on node "node-<n>" (110 per
 *   node) with IP 10.244.0.0 + 256*n + 2 + slot, so 10.244.0.0/16 holds
 *   the first 256 nodes (28,160 pods) and bigger clusters continue up to
 *   10.251.255.255; when dual-stack also fd00:10:244:<n>::<slot+2>. Slots
 *   are spread over nodes by a seeded permutation;
 * - cluster IPs come from 10.96.0.0/12 (and fd00:10:96::/108 when
 *   dual-stack); 10.96.0.1 is kubernetes.default and 10.96.0.10 kube-dns,
 *   both added unless system=0;
 * - pods beyond the endpoints are standalone "job-..." pods, some
 *   Succeeded/Failed/Pending so CoreDNS's status.phase selector matters.
 * Every timestamp derives from the seed, so the same options give
 * byte-identical objects.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/common.h"

typedef struct ds_k8s_synth_opts {
	unsigned services;
	unsigned endpoints;
	unsigned pods;
	unsigned namespaces;
	uint64_t seed;
	bool dualstack;
	unsigned headless_pct; /**< share of headless services (10) */
	unsigned external_pct; /**< share of ExternalName services (5) */
	unsigned slice_size;   /**< endpoints per EndpointSlice (100) */
	bool system;           /**< add kubernetes.default and kube-dns (true) */
} ds_k8s_synth_opts_t;

/** Largest number of pod slots (endpoints or pods, whichever is more). */
#define DS_K8S_SYNTH_MAX_SLOTS (2048u * 110u - 2u)

/**
 * Parse "services=N,endpoints=M,pods=P,namespaces=K,seed=S,dualstack=1,
 * headless=PCT,externalname=PCT,slice=N,system=0". Unset keys default:
 * endpoints 3 per service, pods = endpoints, namespaces services/20 (at
 * least 1), seed 1. Returns DS_OK or DS_EINVAL with a message.
 */
int ds_k8s_synth_parse(const char *spec, ds_k8s_synth_opts_t *o, ds_err_t *err);

/** Called for each generated object (borrowed; deleted after the call). */
typedef int (*ds_k8s_synth_cb)(void *arg, cJSON *obj);

/**
 * Generate the cluster, calling cb for each object in a fixed order
 * (namespaces, then per service its Service, EndpointSlices and Pods, then
 * standalone pods). A non-zero return from cb stops and is returned.
 */
int ds_k8s_synth_generate(const ds_k8s_synth_opts_t *o, ds_k8s_synth_cb cb, void *arg,
			  ds_err_t *err);
