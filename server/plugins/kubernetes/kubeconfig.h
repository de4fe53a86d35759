/* SPDX-License-Identifier: MIT */
/**
 * \file kubeconfig.h
 * \brief Where the kubernetes plugin finds the API and how it
 *        authenticates: `endpoint URL` (+ `tls CERT KEY CACERT`), a
 *        kubeconfig file (optionally a context other than the current
 *        one), or the in-cluster service account.
 *
 * Kubeconfig subset: current-context; contexts[].context.{cluster,user};
 * clusters[].cluster.{server, certificate-authority(-data),
 * insecure-skip-tls-verify, tls-server-name}; users[].user.{token,
 * tokenFile, client-certificate(-data), client-key(-data), username,
 * password}. Relative file paths are relative to the kubeconfig's
 * directory. exec and auth-provider credential plugins are not supported
 * (a clear error). In-cluster: https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT, the service account token (re-read every
 * minute, tokens rotate) and CA. Secrets are never logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

typedef struct ds_k8s_conn {
	char *server;     /**< "https://host:port", no trailing slash */
	char *host;       /**< "host:port": the metrics' host label */
	char *token;      /**< bearer token, or NULL */
	char *token_file; /**< token re-read from here, or NULL */
	char *username, *password;
	char *ca_file;
	uint8_t *ca_data;
	size_t ca_len;
	char *cert_file;
	uint8_t *cert_data;
	size_t cert_len;
	char *key_file;
	uint8_t *key_data;
	size_t key_len;
	bool insecure; /**< insecure-skip-tls-verify */
	char *tls_server_name;
	char *origin; /**< what this came from, for messages ("kubeconfig FILE") */
} ds_k8s_conn_t;

/** Directory of the in-cluster service account files (tests change it). */
extern const char *ds_k8s_sa_dir;

/**
 * From `endpoint URL` and optional tls files (any may be NULL). A URL
 * without a scheme is https. Errors: DS_EINVAL with err set.
 */
int ds_k8s_conn_endpoint(ds_k8s_conn_t *c, const char *url, const char *cert, const char *key,
                         const char *ca, ds_err_t *err);
/**
 * From a kubeconfig file; context NULL = its current-context. Errors name
 * the file and the field: "kubeconfig /x/config: user \"u\": invalid
 * base64 in client-key-data".
 */
int ds_k8s_conn_kubeconfig(ds_k8s_conn_t *c, const char *path, const char *context, ds_err_t *err);
/** From the service account of the pod we run in. */
int ds_k8s_conn_in_cluster(ds_k8s_conn_t *c, ds_err_t *err);
void ds_k8s_conn_free(ds_k8s_conn_t *c);

/**
 * The token to send now: the static one, or the token file's content
 * (re-read when older than a minute; *buf is a malloc'd cache the caller
 * keeps). Returns NULL when there is none.
 */
const char *ds_k8s_conn_token(const ds_k8s_conn_t *c, char **buf, int64_t *read_ns);

/** Standard base64 (padding optional, whitespace ignored). Returns DS_OK or DS_EINVAL. */
int ds_k8s_base64(const char *in, uint8_t **out, size_t *len);
