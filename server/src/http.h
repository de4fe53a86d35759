/* SPDX-License-Identifier: MIT */
/**
 * \file http.h
 * \brief HTTP endpoints (/health, /ready, /metrics) on libmicrohttpd.
 *
 * Routes are registered per listen address; one daemon serves every route
 * on an address and is closed when its last route goes. Routes carry an
 * owner so a reload can register the new generation's routes before the
 * old generation removes its own, without closing the port in between.
 * Handlers run on libmicrohttpd's thread: they must be thread-safe.
 */
#pragma once

#include <stddef.h>

#include "lib/common.h"

typedef struct ds_http_resp {
	int status;
	char *body;          /**< malloc'd, freed by the HTTP layer */
	size_t len;
	const char *ctype;   /**< Content-Type, default "text/plain; charset=utf-8" */
} ds_http_resp_t;

/** Fill resp for a GET of the route's path; return DS_OK. */
typedef int (*ds_http_handler)(void *arg, ds_http_resp_t *resp);

/**
 * Serve GET `path` on `addr` ("host:port", ":port", "localhost:port",
 * "[::1]:port"). Fails with err set when the address is invalid or the
 * port cannot be bound.
 */
int ds_http_route(const char *addr, const char *path, ds_http_handler h, void *arg,
		  const void *owner, ds_err_t *err);
/** Remove owner's route; the daemon closes when no route is left. */
void ds_http_unroute(const char *addr, const char *path, const void *owner);
/** Parse an HTTP listen address as the plugins accept it. */
int ds_http_parse_addr(const char *addr, int default_port, char *norm, size_t len);
/** Close everything (process exit). */
void ds_http_shutdown(void);
/** Set a response body from a string. */
void ds_http_text(ds_http_resp_t *r, int status, const char *text);
