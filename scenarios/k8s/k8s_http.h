/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_http.h
 * \brief The simulator's HTTP side: the Kubernetes API paths (discovery,
 *        LIST, WATCH, GET/POST/PUT/PATCH/DELETE), the /sim/v1 control API
 *        (stats, churn, faults) and fault injection, on libmicrohttpd.
 *
 * Threads: MHD runs a small pool of polling threads. Watch streams are
 * chunked responses whose content reader suspends the connection when it
 * has nothing to send; a store change resumes the suspended watchers of
 * that resource, and the thread in ds_k8s_http_run() resumes them for
 * bookmarks and timeouts, resumes requests delayed by the "slow" fault,
 * and takes the API listener down and up. So an idle watcher costs no
 * thread and no CPU.
 *
 * "down" closes the API listener and every API connection (clients see
 * connection refused / reset) until it is brought back up by duration_ms,
 * by {"mode":"up"} on the control listener, or by DELETE /sim/v1/fault
 * there. The control listener (optional) never goes down.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/common.h"
#include "scenarios/k8s/k8s_churn.h"
#include "scenarios/k8s/k8s_store.h"

typedef struct ds_k8s_http_opts {
	const char *listen;         /**< "127.0.0.1:0" picks a free port */
	const char *control_listen; /**< second listener for /sim/v1 only, or NULL */
	unsigned threads;           /**< MHD polling threads (0: one per CPU, at least 2) */
	bool log_requests;          /**< one log line per finished request */
	bool watch_list;            /**< serve sendInitialEvents (else 422 it) */
	unsigned bookmark_ms;       /**< bookmark interval (60000) */
	unsigned watch_timeout_s;   /**< watch length without timeoutSeconds (1800) */
	size_t max_body;            /**< largest request body (16 MiB) */
} ds_k8s_http_opts_t;

typedef struct ds_k8s_http ds_k8s_http_t;

/**
 * Bind the listeners and start serving st. churn may be NULL (no churn
 * control). Returns NULL with a message in err when an address cannot be
 * parsed or bound.
 */
ds_k8s_http_t *ds_k8s_http_new(ds_k8s_store_t *st, ds_k8s_churn_t *churn,
			       const ds_k8s_http_opts_t *opts, ds_err_t *err);
/** The bound API port. */
int ds_k8s_http_port(const ds_k8s_http_t *h);
/** The bound control port, or 0 when there is no control listener. */
int ds_k8s_http_control_port(const ds_k8s_http_t *h);
/**
 * Apply a fault specification, the body of POST /sim/v1/fault:
 * {"mode":"down"|"up"|"slow"|"none", "latency_ms":N, "status":429|500|..,
 * "ratio":0..1, "duration_ms":N, "expire_watches":true, "drop_watches":true,
 * "compact":true}. Returns DS_OK or DS_EINVAL with a message.
 */
int ds_k8s_http_fault(ds_k8s_http_t *h, const cJSON *spec, ds_err_t *err);
/** Serve until ds_k8s_http_stop(); returns DS_OK. */
int ds_k8s_http_run(ds_k8s_http_t *h);
/** Make ds_k8s_http_run() return (thread-safe; not async-signal-safe). */
void ds_k8s_http_stop(ds_k8s_http_t *h);
/** Close every listener and connection and free (after run returned). */
void ds_k8s_http_free(ds_k8s_http_t *h);
