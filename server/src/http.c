/* SPDX-License-Identifier: MIT */
#include "server/src/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/net.h"

typedef struct route {
	char path[64];
	ds_http_handler h;
	void *arg;
	const void *owner;
	struct route *next;
} route_t;

typedef struct listener {
	char addr[96];
	ds_sockaddr_t sa;
	struct MHD_Daemon *d;
	route_t *routes;
	struct listener *next;
} listener_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static listener_t *listeners;

void ds_http_text(ds_http_resp_t *r, int status, const char *text)
{
	r->status = status;
	r->body = ds_xstrdup(text);
	r->len = strlen(text);
}

int ds_http_parse_addr(const char *addr, int default_port, char *norm, size_t len)
{
	/* "localhost" is what CoreDNS's defaults say; resolve it the way a
	 * loopback-only listener means it. */
	const char *a = addr;
	char tmp[128];
	if (strncmp(addr, "localhost", 9) == 0 && (addr[9] == ':' || addr[9] == '\0')) {
		snprintf(tmp, sizeof(tmp), "127.0.0.1%s", addr + 9);
		a = tmp;
	}
	ds_sockaddr_t sa;
	if (ds_addr_parse(a, default_port, &sa) < 0)
		return DS_EINVAL;
	if (ds_addr_port(&sa) == 0 && default_port)
		ds_addr_set_port(&sa, default_port);
	ds_addr_str(&sa, norm, len);
	return DS_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	listener_t *l = cls;
	ds_http_resp_t r = {404, NULL, 0, NULL};
	ds_http_handler h = NULL;
	void *arg = NULL;
	pthread_mutex_lock(&lock);
	for (route_t *rt = l->routes; rt; rt = rt->next) {
		if (strcmp(rt->path, url) == 0) {
			h = rt->h;
			arg = rt->arg;
			/* newest route for the path wins (reload overlap) */
		}
	}
	pthread_mutex_unlock(&lock);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		ds_http_text(&r, 405, "method not allowed\n");
	} else if (h) {
		if (h(arg, &r) < 0 && !r.body)
			ds_http_text(&r, 500, "internal error\n");
	} else {
		ds_http_text(&r, 404, "404 page not found\n");
	}
	if (!r.body) {
		r.body = ds_xstrdup("");
		r.len = 0;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", r.ctype ? r.ctype : "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int open_listener(listener_t *l, ds_err_t *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	if (l->sa.sa.sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (l->sa.sa.sa_family == AF_INET6 && ds_addr_is_any(&l->sa))
		flags |= MHD_USE_DUAL_STACK;
	l->d = MHD_start_daemon(flags, (uint16_t)ds_addr_port(&l->sa), NULL, NULL, on_request, l,
				MHD_OPTION_SOCK_ADDR, &l->sa.sa, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)5, MHD_OPTION_END);
	if (!l->d)
		return ds_errf(err, DS_ECONFIG, "listen tcp %s: cannot bind HTTP listener", l->addr);
	return DS_OK;
}

int ds_http_route(const char *addr, const char *path, ds_http_handler h, void *arg,
		  const void *owner, ds_err_t *err)
{
	char norm[96];
	if (ds_http_parse_addr(addr, 0, norm, sizeof(norm)) < 0)
		return ds_errf(err, DS_ECONFIG, "invalid listen address '%s'", addr);
	pthread_mutex_lock(&lock);
	listener_t *l;
	for (l = listeners; l; l = l->next)
		if (strcmp(l->addr, norm) == 0)
			break;
	if (!l) {
		l = ds_xcalloc(1, sizeof(*l));
		snprintf(l->addr, sizeof(l->addr), "%s", norm);
		char tmp[128];
		const char *a = addr;
		if (strncmp(addr, "localhost", 9) == 0) {
			snprintf(tmp, sizeof(tmp), "127.0.0.1%s", addr + 9);
			a = tmp;
		}
		ds_addr_parse(a, 0, &l->sa);
		int rc = open_listener(l, err);
		if (rc < 0) {
			pthread_mutex_unlock(&lock);
			free(l);
			return rc;
		}
		l->next = listeners;
		listeners = l;
	}
	route_t *r = ds_xcalloc(1, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->h = h;
	r->arg = arg;
	r->owner = owner;
	/* append: later registrations (a reload's) take precedence */
	route_t **pp = &l->routes;
	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	pthread_mutex_unlock(&lock);
	return DS_OK;
}

void ds_http_unroute(const char *addr, const char *path, const void *owner)
{
	char norm[96];
	if (ds_http_parse_addr(addr, 0, norm, sizeof(norm)) < 0)
		return;
	listener_t *stop = NULL;
	pthread_mutex_lock(&lock);
	listener_t **lp = &listeners;
	while (*lp) {
		listener_t *l = *lp;
		if (strcmp(l->addr, norm) != 0) {
			lp = &l->next;
			continue;
		}
		route_t **pp = &l->routes;
		while (*pp) {
			route_t *r = *pp;
			if (r->owner == owner && strcmp(r->path, path) == 0) {
				*pp = r->next;
				free(r);
				continue;
			}
			pp = &r->next;
		}
		if (!l->routes) {
			*lp = l->next;
			stop = l;
		}
		break;
	}
	pthread_mutex_unlock(&lock);
	/* Stop outside the lock: the daemon's thread may be in on_request. */
	if (stop) {
		MHD_stop_daemon(stop->d);
		free(stop);
	}
}

void ds_http_shutdown(void)
{
	pthread_mutex_lock(&lock);
	listener_t *l = listeners;
	listeners = NULL;
	pthread_mutex_unlock(&lock);
	while (l) {
		listener_t *n = l->next;
		MHD_stop_daemon(l->d);
		route_t *r = l->routes;
		while (r) {
			route_t *rn = r->next;
			free(r);
			r = rn;
		}
		free(l);
		l = n;
	}
}
