/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_http.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/rand.h"
#include "scenarios/k8s/k8s_load.h"
#include "scenarios/k8s/k8s_select.h"
#include "scenarios/k8s/k8s_util.h"

/* The version kubectl's dispatcher reads to pick a client binary. */
#define K8S_MAJOR "1"
#define K8S_MINOR "32"
#define K8S_GIT_VERSION "v1.32.0"

enum verb {
	V_LIST,
	V_WATCH,
	V_GET,
	V_CREATE,
	V_UPDATE,
	V_PATCH,
	V_DELETE,
	V_DISCOVERY,
	V_CONTROL,
	V_OTHER,
	V_N,
};

static const char *const verb_names[V_N] = {"list",  "watch",  "get",       "create",  "update",
					    "patch", "delete", "discovery", "control", "other"};

typedef struct ds_k8s_http ds_k8s_http_t;

/* One running MHD daemon (the API listener, or the control listener). */
typedef struct inst {
	ds_k8s_http_t *h;
	struct MHD_Daemon *d;
	bool control_only;
	atomic_bool closing;
} inst_t;

/* Per request; created by the URI log callback, freed when it completes. */
typedef struct req {
	inst_t *in;
	char *uri;
	const char *method;
	int64_t start;
	bool started;
	bool delayed; /* the slow fault was applied */
	bool in_delay_list;
	int64_t due;
	struct req *dnext;
	struct MHD_Connection *conn;
	ds_k8s_buf_t body;
	bool too_big;
	int code;
	enum verb verb;
	bool down_after; /* take the API down once this response is sent */
	int64_t up_after_ms;
} req_t;

/* A watch stream: owned by its MHD response. */
typedef struct wstream {
	ds_k8s_http_t *h;
	inst_t *in;
	struct MHD_Connection *conn;
	ds_k8s_res_t res;
	ds_k8s_watch_t *w;
	char *ns, *name;
	ds_k8s_sel_t *lsel, *fsel;
	ds_k8s_buf_t out;
	size_t outpos;
	bool ending;
	bool bookmarks;
	int64_t deadline;
	int64_t next_bm;
	unsigned drop_epoch, expire_epoch;
	bool suspended;   /* guarded by the registry mutex of res */
	atomic_bool gone; /* the client hung up while the stream was parked */
	struct wstream *prev, *next;
} wstream_t;

typedef struct registry {
	pthread_mutex_t mu;
	wstream_t *susp; /* suspended watchers, to resume on a change */
	atomic_uint count;
} registry_t;

typedef struct fault {
	int latency_ms;
	int64_t slow_until; /* 0: until cleared */
	int status;
	double ratio;
	int64_t status_until;
} fault_t;

struct ds_k8s_http {
	ds_k8s_store_t *st;
	ds_k8s_churn_t *churn;
	ds_k8s_http_opts_t o;
	ds_sockaddr_t api_addr, ctl_addr;
	int api_port, ctl_port;
	unsigned threads;

	pthread_mutex_t life_mu;
	pthread_cond_t life_cv;
	pthread_cond_t done_cv;
	inst_t *api; /* NULL while down */
	inst_t *ctl;
	bool quit;
	bool want_down, want_up;
	int64_t up_at; /* come back up then (0: stay down) */
	uint64_t req_gen, done_gen;

	registry_t reg[DS_K8S_NRES];
	atomic_uint drop_epoch, expire_epoch;

	pthread_mutex_t delay_mu;
	req_t *delayed;

	pthread_mutex_t fault_mu;
	fault_t fault;

	int64_t started_ns;
	atomic_uint_least64_t requests[V_N];
	atomic_uint_least64_t responses[6]; /* by first digit */
	atomic_uint_least64_t injected, watch_started, watch_events, watch_dropped, watch_expired;
};

/* ---- small helpers ---- */

static const char *arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static const char *header(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, k);
}

static bool arg_bool(struct MHD_Connection *c, const char *k)
{
	const char *v = arg(c, k);
	bool b = false;
	return v && ds_k8s_parse_bool(v, &b) == DS_OK && b;
}

static enum MHD_Result queue_ct(req_t *rq, struct MHD_Connection *c, int code,
				struct MHD_Response *r, const char *ctype)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
	rq->code = code;
	atomic_fetch_add(&rq->in->h->responses[code / 100 % 6], 1);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result queue(req_t *rq, struct MHD_Connection *c, int code, struct MHD_Response *r)
{
	return queue_ct(rq, c, code, r, "application/json");
}

static enum MHD_Result send_ok(req_t *rq, struct MHD_Connection *c)
{
	rq->verb = V_DISCOVERY;
	return queue_ct(rq, c, 200,
			MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT),
			"text/plain; charset=utf-8");
}

/* Send body (malloc'd; ownership passes to MHD). */
static enum MHD_Result send_owned(req_t *rq, struct MHD_Connection *c, int code, char *body,
				  size_t len)
{
	if (!body)
		return MHD_NO;
	return queue(rq, c, code,
		     MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE));
}

static enum MHD_Result send_buf(req_t *rq, struct MHD_Connection *c, int code, ds_k8s_buf_t *b)
{
	size_t len;
	char *p = ds_k8s_buf_steal(b, &len);
	return send_owned(rq, c, code, p, len);
}

static enum MHD_Result send_status(req_t *rq, struct MHD_Connection *c, const ds_k8s_status_t *s)
{
	char *j = ds_k8s_status_json(s);
	if (!j)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(j), j, MHD_RESPMEM_MUST_FREE);
	if (r && s->retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", s->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	return queue(rq, c, s->code, r);
}

static enum MHD_Result send_error(req_t *rq, struct MHD_Connection *c, int code, const char *reason,
				  const char *fmt, ...) DS_PRINTF(5, 6);
static enum MHD_Result send_error(req_t *rq, struct MHD_Connection *c, int code, const char *reason,
				  const char *fmt, ...)
{
	ds_k8s_status_t s;
	ds_k8s_status_set(&s, code, reason, "%s", "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s.message, sizeof(s.message), fmt, ap);
	va_end(ap);
	return send_status(rq, c, &s);
}

static enum MHD_Result not_found(req_t *rq, struct MHD_Connection *c)
{
	return send_error(rq, c, 404, "NotFound",
			  "the server could not find the requested resource");
}

static enum MHD_Result send_obj(req_t *rq, struct MHD_Connection *c, int code,
				const ds_k8s_obj_t *o)
{
	char *p = malloc(o->len + 1);
	if (!p)
		return MHD_NO;
	memcpy(p, o->json, o->len + 1);
	return send_owned(rq, c, code, p, o->len);
}

static enum MHD_Result send_cjson(req_t *rq, struct MHD_Connection *c, int code, cJSON *j)
{
	char *p = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return send_owned(rq, c, code, p, p ? strlen(p) : 0);
}

/* ---- discovery ---- */

static void resource_entry(ds_k8s_buf_t *b, ds_k8s_res_t res, bool first)
{
	const ds_k8s_resinfo_t *ri = ds_k8s_res_info(res);
	ds_k8s_buf_printf(b,
			  "%s{\"name\":\"%s\",\"singularName\":\"%s\",\"namespaced\":%s,"
			  "\"kind\":\"%s\",\"verbs\":[\"create\",\"delete\",\"get\",\"list\","
			  "\"patch\",\"update\",\"watch\"]",
			  first ? "" : ",", ri->name, ri->singular,
			  ri->namespaced ? "true" : "false", ri->kind);
	if (ri->short_name)
		ds_k8s_buf_printf(b, ",\"shortNames\":[\"%s\"]", ri->short_name);
	/* `kubectl get all` lists the kinds in category "all". */
	if (res == DS_K8S_SERVICES || res == DS_K8S_PODS || res == DS_K8S_DEPLOYMENTS ||
	    res == DS_K8S_JOBS)
		ds_k8s_buf_puts(b, ",\"categories\":[\"all\"]");
	ds_k8s_buf_puts(b, "}");
}

/* The version ("v1") a served API group is at, or NULL if none is served. */
static const char *group_version(ds_k8s_http_t *h, const char *group)
{
	for (int i = 0; i < DS_K8S_NRES; i++) {
		const ds_k8s_resinfo_t *ri = ds_k8s_res_info((ds_k8s_res_t)i);
		if (ds_k8s_store_serves(h->st, (ds_k8s_res_t)i) && ri->group[0] &&
		    !strcmp(ri->group, group))
			return strchr(ri->api_version, '/') + 1;
	}
	return NULL;
}

static void group_entry(ds_k8s_buf_t *b, const char *group, const char *version)
{
	ds_k8s_buf_printf(b,
			  "\"name\":\"%s\",\"versions\":[{\"groupVersion\":\"%s/%s\","
			  "\"version\":\"%s\"}],\"preferredVersion\":{\"groupVersion\":"
			  "\"%s/%s\",\"version\":\"%s\"}",
			  group, group, version, version, group, version, version);
}

/* The served resources of one group (core: ""), by name as the API server lists them. */
static void resource_list(ds_k8s_http_t *h, ds_k8s_buf_t *b, const char *group)
{
	bool done[DS_K8S_NRES] = {0};
	for (bool first = true;; first = false) {
		int pick = -1;
		for (int i = 0; i < DS_K8S_NRES; i++) {
			const ds_k8s_resinfo_t *ri = ds_k8s_res_info((ds_k8s_res_t)i);
			if (done[i] || !ds_k8s_store_serves(h->st, (ds_k8s_res_t)i) ||
			    strcmp(ri->group, group))
				continue;
			if (pick < 0 ||
			    strcmp(ri->name, ds_k8s_res_info((ds_k8s_res_t)pick)->name) < 0)
				pick = i;
		}
		if (pick < 0)
			return;
		done[pick] = true;
		resource_entry(b, (ds_k8s_res_t)pick, first);
	}
}

/* seg: "api"[, "v1"] or "apis"[, GROUP[, VERSION]], the group and version served. */
static enum MHD_Result discovery(req_t *rq, struct MHD_Connection *c, char **seg, int n)
{
	ds_k8s_http_t *h = rq->in->h;
	ds_k8s_buf_t b;
	ds_k8s_buf_init(&b);
	rq->verb = V_DISCOVERY;
	if (!strcmp(seg[0], "api") && n == 1) {
		char addr[DS_ADDRSTR_MAX];
		ds_addr_str(&h->api_addr, addr, sizeof(addr));
		ds_k8s_buf_printf(&b,
				  "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],"
				  "\"serverAddressByClientCIDRs\":[{\"clientCIDR\":\"0.0.0.0/0\","
				  "\"serverAddress\":\"%s\"}]}",
				  addr);
	} else if (!strcmp(seg[0], "api") && n == 2) {
		ds_k8s_buf_puts(&b, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\","
				    "\"groupVersion\":\"v1\",\"resources\":[");
		resource_list(h, &b, "");
		ds_k8s_buf_puts(&b, "]}");
	} else if (n == 1) {
		/* Groups in the order of the resources: discovery.k8s.io first. */
		ds_k8s_buf_puts(&b,
				"{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
		const char *sep = "";
		for (int i = 0; i < DS_K8S_NRES; i++) {
			const ds_k8s_resinfo_t *ri = ds_k8s_res_info((ds_k8s_res_t)i);
			bool seen = false;
			for (int k = 0; k < i && !seen; k++)
				seen = !strcmp(ds_k8s_res_info((ds_k8s_res_t)k)->group, ri->group);
			if (seen || !ri->group[0] || !ds_k8s_store_serves(h->st, (ds_k8s_res_t)i))
				continue;
			ds_k8s_buf_printf(&b, "%s{", sep);
			group_entry(&b, ri->group, group_version(h, ri->group));
			ds_k8s_buf_puts(&b, "}");
			sep = ",";
		}
		ds_k8s_buf_puts(&b, "]}");
	} else if (n == 2) {
		ds_k8s_buf_puts(&b, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",");
		group_entry(&b, seg[1], group_version(h, seg[1]));
		ds_k8s_buf_puts(&b, "}");
	} else {
		ds_k8s_buf_printf(&b,
				  "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\","
				  "\"groupVersion\":\"%s/%s\",\"resources\":[",
				  seg[1], seg[2]);
		resource_list(h, &b, seg[1]);
		ds_k8s_buf_puts(&b, "]}");
	}
	return send_buf(rq, c, 200, &b);
}

static enum MHD_Result send_version(req_t *rq, struct MHD_Connection *c)
{
	ds_k8s_buf_t b;
	ds_k8s_buf_init(&b);
	rq->verb = V_DISCOVERY;
	ds_k8s_buf_puts(&b, "{\"major\":\"" K8S_MAJOR "\",\"minor\":\"" K8S_MINOR
			    "\",\"gitVersion\":\"" K8S_GIT_VERSION
			    "\",\"gitCommit\":\"dnsurge-k8s-sim\",\"gitTreeState\":\"clean\","
			    "\"buildDate\":\"2025-01-01T00:00:00Z\",\"goVersion\":\"go1.23.0\","
			    "\"compiler\":\"gc\",\"platform\":\"linux/amd64\"}");
	return send_buf(rq, c, 200, &b);
}

/* ---- LIST ---- */

typedef struct lstream {
	ds_k8s_list_t l;
	char *head;
	size_t headlen;
	size_t seg, off; /* segment: 0 head, then item/comma..., then foot */
} lstream_t;

static const char list_foot[] = "]}";

static void lstream_free(void *cls)
{
	lstream_t *ls = cls;
	ds_k8s_list_release(&ls->l);
	free(ls->head);
	free(ls);
}

static ssize_t lstream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	lstream_t *ls = cls;
	size_t nseg = 2 + (ls->l.n ? 2 * ls->l.n - 1 : 0);
	size_t w = 0;
	while (w < max && ls->seg < nseg) {
		const char *src;
		size_t len;
		if (ls->seg == 0) {
			src = ls->head;
			len = ls->headlen;
		} else if (ls->seg == nseg - 1) {
			src = list_foot;
			len = sizeof(list_foot) - 1;
		} else if ((ls->seg - 1) % 2 == 0) {
			const ds_k8s_obj_t *o = ls->l.items[(ls->seg - 1) / 2];
			src = o->json;
			len = o->len;
		} else {
			src = ",";
			len = 1;
		}
		size_t n = DS_MIN(len - ls->off, max - w);
		memcpy(buf + w, src + ls->off, n);
		w += n;
		ls->off += n;
		if (ls->off == len) {
			ls->seg++;
			ls->off = 0;
		}
	}
	return w ? (ssize_t)w : MHD_CONTENT_READER_END_OF_STREAM;
}

typedef struct selectors {
	ds_k8s_sel_t *l, *f;
} selectors_t;

static void sel_free(selectors_t *s)
{
	ds_k8s_sel_free(s->l);
	ds_k8s_sel_free(s->f);
	s->l = s->f = NULL;
}

static int parse_selectors(struct MHD_Connection *c, ds_k8s_res_t res, selectors_t *s,
			   ds_k8s_status_t *st)
{
	ds_err_t e;
	memset(s, 0, sizeof(*s));
	if (!(s->l = ds_k8s_labelsel_parse(arg(c, "labelSelector"), &e)))
		return ds_k8s_status_set(st, 400, "BadRequest", "%s", e.msg);
	if (!(s->f = ds_k8s_fieldsel_parse(arg(c, "fieldSelector"), &e))) {
		sel_free(s);
		return ds_k8s_status_set(st, 400, "BadRequest", "%s", e.msg);
	}
	int rc = ds_k8s_store_check_fields(res, s->f, st);
	if (rc)
		sel_free(s);
	return rc;
}

static enum MHD_Result do_list(req_t *rq, struct MHD_Connection *c, ds_k8s_res_t res,
			       const char *ns)
{
	ds_k8s_http_t *h = rq->in->h;
	ds_k8s_status_t st;
	selectors_t sel;
	rq->verb = V_LIST;
	if (parse_selectors(c, res, &sel, &st))
		return send_status(rq, c, &st);
	ds_k8s_listopts_t lo = {
	    .filter = {.ns = ns, .labels = sel.l, .fields = sel.f},
	    .cont = arg(c, "continue"),
	    .rv = arg(c, "resourceVersion"),
	    .rv_match = arg(c, "resourceVersionMatch"),
	};
	const char *lim = arg(c, "limit");
	if (lim && *lim) {
		char *end;
		errno = 0;
		long v = strtol(lim, &end, 10);
		if (errno || *end || v < 0) {
			sel_free(&sel);
			return send_error(rq, c, 400, "BadRequest", "invalid limit \"%s\"", lim);
		}
		lo.limit = v;
	}
	lstream_t *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		sel_free(&sel);
		return MHD_NO;
	}
	int rc = ds_k8s_store_list(h->st, res, &lo, &ls->l, &st);
	sel_free(&sel);
	if (rc) {
		free(ls);
		return send_status(rq, c, &st);
	}
	const ds_k8s_resinfo_t *ri = ds_k8s_res_info(res);
	ds_k8s_buf_t b;
	ds_k8s_buf_init(&b);
	ds_k8s_buf_printf(&b,
			  "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{"
			  "\"resourceVersion\":\"%" PRIu64 "\"",
			  ri->list_kind, ri->api_version, ls->l.rv);
	if (ls->l.cont) {
		ds_k8s_buf_puts(&b, ",\"continue\":");
		ds_k8s_buf_json_str(&b, ls->l.cont);
	}
	if (ls->l.remaining > 0)
		ds_k8s_buf_printf(&b, ",\"remainingItemCount\":%ld", ls->l.remaining);
	ds_k8s_buf_puts(&b, "},\"items\":[");
	ls->head = ds_k8s_buf_steal(&b, &ls->headlen);
	if (!ls->head) {
		lstream_free(ls);
		return MHD_NO;
	}
	/* The size is known up front, so MHD sends Content-Length and streams
	 * the stored JSON without building one big buffer. */
	uint64_t total = ls->headlen + sizeof(list_foot) - 1 + (ls->l.n ? ls->l.n - 1 : 0);
	for (size_t i = 0; i < ls->l.n; i++)
		total += ls->l.items[i]->len;
	struct MHD_Response *r =
	    MHD_create_response_from_callback(total, 64 * 1024, lstream_read, ls, lstream_free);
	if (!r) {
		lstream_free(ls);
		return MHD_NO;
	}
	return queue(rq, c, 200, r);
}

/* ---- WATCH ---- */

static void reg_unlink(registry_t *g, wstream_t *ws)
{
	if (ws->prev)
		ws->prev->next = ws->next;
	else
		g->susp = ws->next;
	if (ws->next)
		ws->next->prev = ws->prev;
	ws->prev = ws->next = NULL;
}

/*
 * MHD does not watch a suspended connection, so a client that hung up on
 * a quiet watch would hold its socket until the next event or the watch
 * timeout. Peeking at the socket finds those.
 */
static bool peer_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	char b;
	ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

enum wake_mode {
	WAKE_ALL,  /* a change, a fault, shutting down */
	WAKE_DUE,  /* bookmarks and timeouts due by now */
	WAKE_REAP, /* WAKE_DUE, and watchers whose client went away */
};

/* Resume suspended watchers of res. */
static void wake(ds_k8s_http_t *h, ds_k8s_res_t res, enum wake_mode mode, int64_t now)
{
	registry_t *g = &h->reg[res];
	pthread_mutex_lock(&g->mu);
	for (wstream_t *ws = g->susp, *next; ws; ws = next) {
		next = ws->next;
		bool due = mode == WAKE_ALL || now >= ws->deadline ||
			   (ws->bookmarks && now >= ws->next_bm);
		if (!due && mode == WAKE_REAP && peer_gone(ws->conn)) {
			atomic_store(&ws->gone, true);
			due = true;
		}
		if (!due)
			continue;
		reg_unlink(g, ws);
		ws->suspended = false;
		MHD_resume_connection(ws->conn);
	}
	pthread_mutex_unlock(&g->mu);
}

static void store_changed(void *ctx, ds_k8s_res_t res)
{
	wake(ctx, res, WAKE_ALL, 0);
}

static void fmt_event(wstream_t *ws, const ds_k8s_wev_t *e)
{
	const ds_k8s_resinfo_t *ri = ds_k8s_res_info(ws->res);
	ds_k8s_buf_t *b = &ws->out;
	switch (e->type) {
	case DS_K8S_EV_BOOKMARK:
		ds_k8s_buf_printf(
		    b,
		    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":"
		    "\"%s\",\"metadata\":{\"resourceVersion\":\"%" PRIu64 "\"%s}}}\n",
		    ri->kind, ri->api_version, e->rv,
		    e->initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":"
				     "\"true\"}"
				   : "");
		break;
	case DS_K8S_EV_ERROR: {
		char *j = ds_k8s_status_json(&e->error);
		ds_k8s_buf_puts(b, "{\"type\":\"ERROR\",\"object\":");
		ds_k8s_buf_puts(b, j ? j : "{}");
		ds_k8s_buf_puts(b, "}\n");
		free(j);
		ws->ending = true; /* a real server closes the stream after an ERROR */
		if (e->error.code == 410)
			atomic_fetch_add(&ws->h->watch_expired, 1);
		break;
	}
	default:
		ds_k8s_buf_printf(b, "{\"type\":\"%s\",\"object\":", ds_k8s_evtype_name(e->type));
		ds_k8s_buf_put(b, e->obj->json, e->obj->len);
		ds_k8s_buf_puts(b, "}\n");
		break;
	}
	atomic_fetch_add(&ws->h->watch_events, 1);
}

static ssize_t wstream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	wstream_t *ws = cls;
	ds_k8s_http_t *h = ws->h;
	ds_k8s_wev_t ev[64];
	for (;;) {
		if (ws->outpos < ws->out.len) {
			size_t n = DS_MIN(max, ws->out.len - ws->outpos);
			memcpy(buf, ws->out.p + ws->outpos, n);
			ws->outpos += n;
			if (ws->outpos == ws->out.len)
				ws->out.len = ws->outpos = 0;
			return (ssize_t)n;
		}
		if (ws->out.oom)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (ws->ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (atomic_load(&ws->in->closing) || atomic_load(&ws->gone))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (atomic_load(&h->drop_epoch) != ws->drop_epoch) {
			/* Cut without the final chunk: the client sees the
			 * connection break, not a clean end of the watch. */
			atomic_fetch_add(&h->watch_dropped, 1);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (atomic_load(&h->expire_epoch) != ws->expire_epoch) {
			ws->expire_epoch = atomic_load(&h->expire_epoch);
			ds_k8s_watch_expire(ws->w);
		}
		size_t n = ds_k8s_watch_next(ws->w, ev, DS_ARRAY_SIZE(ev));
		if (n) {
			for (size_t i = 0; i < n; i++) {
				fmt_event(ws, &ev[i]);
				ds_k8s_obj_unref(ev[i].obj);
			}
			continue;
		}
		int64_t now = ds_now_ns();
		if (now >= ws->deadline) {
			ws->ending = true;
			continue;
		}
		if (ws->bookmarks && now >= ws->next_bm) {
			ds_k8s_wev_t bm = {.type = DS_K8S_EV_BOOKMARK,
					   .rv = ds_k8s_watch_rv(ws->w)};
			fmt_event(ws, &bm);
			ws->next_bm = now + (int64_t)h->o.bookmark_ms * DS_NS_PER_MS;
			continue;
		}
		/* Nothing to send: park the connection until a change, a
		 * bookmark or the timeout. Checking for news under the registry
		 * lock closes the race with a writer's wake(). */
		registry_t *g = &h->reg[ws->res];
		pthread_mutex_lock(&g->mu);
		if (ds_k8s_watch_pending(ws->w) || atomic_load(&ws->in->closing) ||
		    atomic_load(&h->drop_epoch) != ws->drop_epoch ||
		    atomic_load(&h->expire_epoch) != ws->expire_epoch) {
			pthread_mutex_unlock(&g->mu);
			continue;
		}
		ws->suspended = true;
		ws->prev = NULL;
		ws->next = g->susp;
		if (g->susp)
			g->susp->prev = ws;
		g->susp = ws;
		MHD_suspend_connection(ws->conn);
		pthread_mutex_unlock(&g->mu);
		return 0;
	}
}

static void wstream_free(void *cls)
{
	wstream_t *ws = cls;
	registry_t *g = &ws->h->reg[ws->res];
	pthread_mutex_lock(&g->mu);
	if (ws->suspended)
		reg_unlink(g, ws);
	pthread_mutex_unlock(&g->mu);
	atomic_fetch_sub(&g->count, 1);
	ds_k8s_watch_close(ws->w);
	ds_k8s_sel_free(ws->lsel);
	ds_k8s_sel_free(ws->fsel);
	free(ws->ns);
	free(ws->name);
	ds_k8s_buf_free(&ws->out);
	free(ws);
}

static enum MHD_Result do_watch(req_t *rq, struct MHD_Connection *c, ds_k8s_res_t res,
				const char *ns, const char *name)
{
	ds_k8s_http_t *h = rq->in->h;
	ds_k8s_status_t st;
	selectors_t sel;
	rq->verb = V_WATCH;
	bool initial = arg_bool(c, "sendInitialEvents");
	const char *match = arg(c, "resourceVersionMatch");
	bool bookmarks = arg_bool(c, "allowWatchBookmarks");
	if (initial) {
		/* A server without the WatchList feature says this, and
		 * client-go then falls back to LIST + WATCH. */
		if (!h->o.watch_list)
			return send_error(
			    rq, c, 422, "Invalid",
			    "sendInitialEvents: Forbidden: sendInitialEvents is "
			    "forbidden for watch unless the WatchList feature gate is "
			    "enabled");
		if (!match || strcmp(match, "NotOlderThan"))
			return send_error(rq, c, 422, "Invalid",
					  "resourceVersionMatch: Forbidden: sendInitialEvents "
					  "requires setting resourceVersionMatch to NotOlderThan");
		if (!bookmarks)
			return send_error(rq, c, 422, "Invalid",
					  "allowWatchBookmarks: Forbidden: sendInitialEvents "
					  "requires allowWatchBookmarks=true");
	} else if (match && *match) {
		return send_error(rq, c, 422, "Invalid",
				  "resourceVersionMatch: Forbidden: resourceVersionMatch is "
				  "forbidden for watch unless sendInitialEvents is provided");
	}
	int64_t timeout_s = h->o.watch_timeout_s;
	const char *ts = arg(c, "timeoutSeconds");
	if (ts && *ts) {
		char *end;
		errno = 0;
		long long v = strtoll(ts, &end, 10);
		if (errno || *end || v < 0)
			return send_error(rq, c, 400, "BadRequest", "invalid timeoutSeconds \"%s\"",
					  ts);
		if (v > 0)
			timeout_s = v;
	}
	if (parse_selectors(c, res, &sel, &st))
		return send_status(rq, c, &st);
	wstream_t *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		sel_free(&sel);
		return MHD_NO;
	}
	ws->h = h;
	ws->in = rq->in;
	ws->conn = c;
	ws->res = res;
	ws->lsel = sel.l;
	ws->fsel = sel.f;
	ws->ns = ns ? strdup(ns) : NULL;
	ws->name = name ? strdup(name) : NULL;
	ws->bookmarks = bookmarks;
	int64_t now = ds_now_ns();
	ws->deadline = now + timeout_s * DS_NS_PER_SEC;
	ws->next_bm = now + (int64_t)h->o.bookmark_ms * DS_NS_PER_MS;
	ws->drop_epoch = atomic_load(&h->drop_epoch);
	ws->expire_epoch = atomic_load(&h->expire_epoch);
	ds_k8s_buf_init(&ws->out);
	ds_k8s_watchopts_t wo = {
	    .filter = {.ns = ws->ns, .name = ws->name, .labels = ws->lsel, .fields = ws->fsel},
	    .rv = arg(c, "resourceVersion"),
	    .send_initial = initial,
	};
	ws->w = ds_k8s_watch_open(h->st, res, &wo);
	atomic_fetch_add(&h->reg[res].count, 1);
	atomic_fetch_add(&h->watch_started, 1);
	if (!ws->w) {
		wstream_free(ws);
		return MHD_NO;
	}
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
								   wstream_read, ws, wstream_free);
	if (!r) {
		wstream_free(ws);
		return MHD_NO;
	}
	return queue(rq, c, 200, r);
}

/* ---- single objects ---- */

/* The request body as JSON (or YAML); NULL with a Status filled. */
static cJSON *body_json(req_t *rq, struct MHD_Connection *c, ds_k8s_status_t *st)
{
	const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (rq->too_big) {
		ds_k8s_status_set(st, 413, "RequestEntityTooLarge",
				  "the request body is too large");
		return NULL;
	}
	if (ct && strstr(ct, "protobuf")) {
		ds_k8s_status_set(st, 415, "UnsupportedMediaType",
				  "the simulator speaks JSON only, not %s", ct);
		return NULL;
	}
	const char *p = rq->body.p ? rq->body.p : "";
	cJSON *j = NULL;
	if (ct && strstr(ct, "yaml")) {
		ds_err_t e;
		cJSON *docs = ds_k8s_yaml_parse(p, rq->body.len, &e);
		if (docs && cJSON_GetArraySize(docs) == 1)
			j = cJSON_DetachItemFromArray(docs, 0);
		cJSON_Delete(docs);
	} else {
		j = cJSON_ParseWithLength(p, rq->body.len);
	}
	if (!j)
		ds_k8s_status_set(st, 400, "BadRequest", "the request body is not valid %s",
				  ct && strstr(ct, "yaml") ? "YAML" : "JSON");
	return j;
}

static enum MHD_Result do_object(req_t *rq, struct MHD_Connection *c, const char *method,
				 ds_k8s_res_t res, const char *ns, const char *name)
{
	ds_k8s_http_t *h = rq->in->h;
	ds_k8s_status_t st;
	ds_k8s_obj_t *o = NULL;
	int rc, code = 200;
	if (!strcmp(method, "GET")) {
		rq->verb = V_GET;
		rc = ds_k8s_store_get(h->st, res, ns, name, &o, &st);
	} else if (!strcmp(method, "DELETE")) {
		rq->verb = V_DELETE;
		rc = ds_k8s_store_delete(h->st, res, ns, name, &o, &st);
	} else if (!strcmp(method, "PUT")) {
		rq->verb = V_UPDATE;
		cJSON *j = body_json(rq, c, &st);
		if (!j)
			return send_status(rq, c, &st);
		rc = ds_k8s_store_update(h->st, res, ns, name, j, &o, &st);
		cJSON_Delete(j);
	} else if (!strcmp(method, "PATCH")) {
		rq->verb = V_PATCH;
		const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
		ds_k8s_patch_type_t pt;
		if (ct && !strncmp(ct, "application/merge-patch+json", 28))
			pt = DS_K8S_PATCH_MERGE;
		else if (ct && !strncmp(ct, "application/strategic-merge-patch+json", 38))
			pt = DS_K8S_PATCH_STRATEGIC;
		else if (ct && !strncmp(ct, "application/json-patch+json", 27))
			pt = DS_K8S_PATCH_JSON;
		else
			return send_error(
			    rq, c, 415, "UnsupportedMediaType",
			    "the body of the request was in an unknown format - "
			    "accepted media types include: application/json-patch+json, "
			    "application/merge-patch+json, "
			    "application/strategic-merge-patch+json (server-side apply is "
			    "not simulated)");
		if (rq->too_big)
			return send_error(rq, c, 413, "RequestEntityTooLarge",
					  "the request body is too large");
		cJSON *j = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
		if (!j)
			return send_error(rq, c, 400, "BadRequest", "the patch is not valid JSON");
		rc = ds_k8s_store_patch(h->st, res, ns, name, pt, j, &o, &st);
		cJSON_Delete(j);
	} else {
		return send_error(
		    rq, c, 405, "MethodNotAllowed",
		    "the server does not allow this method on the requested resource");
	}
	if (rc)
		return send_status(rq, c, &st);
	enum MHD_Result ret = send_obj(rq, c, code, o);
	ds_k8s_obj_unref(o);
	return ret;
}

static enum MHD_Result do_create(req_t *rq, struct MHD_Connection *c, ds_k8s_res_t res,
				 const char *ns)
{
	ds_k8s_status_t st;
	rq->verb = V_CREATE;
	cJSON *j = body_json(rq, c, &st);
	if (!j)
		return send_status(rq, c, &st);
	ds_k8s_obj_t *o;
	int rc = ds_k8s_store_create(rq->in->h->st, res, ns, j, &o, &st);
	cJSON_Delete(j);
	if (rc)
		return send_status(rq, c, &st);
	enum MHD_Result ret = send_obj(rq, c, 201, o);
	ds_k8s_obj_unref(o);
	return ret;
}

/*
 * Resource URLs below /api/v1 or /apis/GROUP/VERSION:
 *   [watch/][namespaces/NS/]RES[/NAME[/status]]  and  namespaces[/NAME[/status]]
 */
static enum MHD_Result resource(req_t *rq, struct MHD_Connection *c, const char *method,
				const char *group, char **r, int m)
{
	bool watch = false;
	if (m > 0 && !strcmp(r[0], "watch")) {
		watch = true; /* the deprecated /watch/ path form */
		r++;
		m--;
	}
	if (m == 0)
		return not_found(rq, c);
	const char *ns = NULL, *name = NULL, *sub = NULL;
	int res;
	if (!strcmp(r[0], "namespaces") && m >= 3 && ds_k8s_res_by_name(group, r[2]) >= 0) {
		ns = r[1];
		res = ds_k8s_res_by_name(group, r[2]);
		name = m >= 4 ? r[3] : NULL;
		sub = m >= 5 ? r[4] : NULL;
		if (m > 5 || !ds_k8s_res_info(res)->namespaced)
			return not_found(rq, c);
	} else {
		res = ds_k8s_res_by_name(group, r[0]);
		if (res < 0 || m > 3)
			return not_found(rq, c);
		name = m >= 2 ? r[1] : NULL;
		sub = m >= 3 ? r[2] : NULL;
		if (name && ds_k8s_res_info(res)->namespaced)
			return not_found(rq, c);
	}
	if ((sub && strcmp(sub, "status")) ||
	    !ds_k8s_store_serves(rq->in->h->st, (ds_k8s_res_t)res))
		return not_found(rq, c);
	if (!watch && !strcmp(method, "GET"))
		watch = arg_bool(c, "watch");
	if (watch) {
		if (strcmp(method, "GET"))
			return send_error(rq, c, 405, "MethodNotAllowed", "watch needs GET");
		return do_watch(rq, c, (ds_k8s_res_t)res, ns, name);
	}
	if (!name) {
		if (!strcmp(method, "GET"))
			return do_list(rq, c, (ds_k8s_res_t)res, ns);
		if (!strcmp(method, "POST")) {
			if (ds_k8s_res_info(res)->namespaced && !ns)
				return send_error(rq, c, 405, "MethodNotAllowed",
						  "create needs a namespace in the URL");
			return do_create(rq, c, (ds_k8s_res_t)res, ns);
		}
		return send_error(rq, c, 405, "MethodNotAllowed",
				  "the server does not allow this method on the requested "
				  "resource (deletecollection is not simulated)");
	}
	return do_object(rq, c, method, (ds_k8s_res_t)res, ns, name);
}

/* ---- control API ---- */

static cJSON *fault_json(ds_k8s_http_t *h)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&h->life_mu);
	bool down = h->api == NULL;
	int64_t up_at = h->up_at;
	pthread_mutex_unlock(&h->life_mu);
	pthread_mutex_lock(&h->fault_mu);
	fault_t f = h->fault;
	pthread_mutex_unlock(&h->fault_mu);
	int64_t now = ds_now_ns();
	cJSON_AddStringToObject(j, "api", down ? "down" : "up");
	if (down && up_at)
		cJSON_AddNumberToObject(j, "up_in_ms", (double)((up_at - now) / DS_NS_PER_MS));
	cJSON_AddNumberToObject(j, "latency_ms", f.latency_ms);
	if (f.latency_ms && f.slow_until)
		cJSON_AddNumberToObject(j, "slow_for_ms",
					(double)((f.slow_until - now) / DS_NS_PER_MS));
	cJSON_AddNumberToObject(j, "status", f.status);
	cJSON_AddNumberToObject(j, "ratio", f.ratio);
	if (f.status && f.status_until)
		cJSON_AddNumberToObject(j, "status_for_ms",
					(double)((f.status_until - now) / DS_NS_PER_MS));
	return j;
}

static cJSON *churn_json(ds_k8s_http_t *h)
{
	cJSON *j = cJSON_CreateObject();
	if (!h->churn)
		return j;
	ds_k8s_churn_stats_t cs;
	ds_k8s_churn_stats(h->churn, &cs);
	cJSON_AddNumberToObject(j, "rate", cs.rate);
	cJSON_AddStringToObject(j, "kind", ds_k8s_churn_kind_name(cs.kind));
	cJSON_AddNumberToObject(j, "count", (double)cs.count);
	cJSON_AddNumberToObject(j, "ops", (double)cs.ops);
	cJSON *bk = cJSON_AddObjectToObject(j, "by_kind");
	for (int i = 0; i < DS_K8S_CHURN_NKINDS - 1; i++)
		cJSON_AddNumberToObject(bk, ds_k8s_churn_kind_name((ds_k8s_churn_kind_t)i),
					(double)cs.by_kind[i]);
	cJSON_AddNumberToObject(j, "skipped", (double)cs.skipped);
	cJSON_AddNumberToObject(j, "behind", (double)cs.behind);
	return j;
}

static cJSON *stats_json(ds_k8s_http_t *h)
{
	ds_k8s_store_stats_t ss;
	ds_k8s_store_stats(h->st, &ss);
	cJSON *j = cJSON_CreateObject();
	char rv[24];
	snprintf(rv, sizeof(rv), "%" PRIu64, ss.rv);
	cJSON_AddNumberToObject(j, "uptime_s", (double)(ds_now_ns() - h->started_ns) / 1e9);
	cJSON_AddNumberToObject(j, "port", h->api_port);
	if (h->ctl_port)
		cJSON_AddNumberToObject(j, "control_port", h->ctl_port);
	cJSON_AddStringToObject(j, "resourceVersion", rv);
	cJSON *objs = cJSON_AddObjectToObject(j, "objects");
	cJSON *ev = cJSON_AddObjectToObject(j, "events");
	cJSON *evr = cJSON_CreateObject();
	cJSON *w = cJSON_AddObjectToObject(j, "watchers");
	cJSON *wr = cJSON_CreateObject();
	cJSON *hist = cJSON_AddObjectToObject(j, "history");
	cJSON *floor = cJSON_CreateObject();
	unsigned watchers = 0;
	for (int i = 0; i < DS_K8S_NRES; i++) {
		if (!ds_k8s_store_serves(h->st, (ds_k8s_res_t)i))
			continue;
		const char *n = ds_k8s_res_info((ds_k8s_res_t)i)->name;
		unsigned wc = atomic_load(&h->reg[i].count);
		watchers += wc;
		cJSON_AddNumberToObject(objs, n, (double)ss.objects[i]);
		cJSON_AddNumberToObject(evr, n, (double)ss.events[i]);
		cJSON_AddNumberToObject(wr, n, wc);
		snprintf(rv, sizeof(rv), "%" PRIu64, ss.history_floor[i]);
		cJSON_AddStringToObject(floor, n, rv);
	}
	cJSON_AddNumberToObject(ev, "total", (double)(ss.added + ss.modified + ss.deleted));
	cJSON_AddNumberToObject(ev, "added", (double)ss.added);
	cJSON_AddNumberToObject(ev, "modified", (double)ss.modified);
	cJSON_AddNumberToObject(ev, "deleted", (double)ss.deleted);
	cJSON_AddItemToObject(ev, "by_resource", evr);
	cJSON_AddNumberToObject(w, "connected", watchers);
	cJSON_AddItemToObject(w, "by_resource", wr);
	cJSON_AddNumberToObject(w, "started", (double)atomic_load(&h->watch_started));
	cJSON_AddNumberToObject(w, "events_sent", (double)atomic_load(&h->watch_events));
	cJSON_AddNumberToObject(w, "dropped", (double)atomic_load(&h->watch_dropped));
	cJSON_AddNumberToObject(w, "expired", (double)atomic_load(&h->watch_expired));
	cJSON_AddItemToObject(hist, "floor", floor);
	cJSON_AddNumberToObject(hist, "compactions", (double)ss.compactions);
	cJSON_AddNumberToObject(hist, "continue_snapshots", (double)ss.snapshots);
	cJSON *rq = cJSON_AddObjectToObject(j, "requests");
	uint64_t total = 0;
	for (int i = 0; i < V_N; i++) {
		uint64_t v = atomic_load(&h->requests[i]);
		total += v;
		cJSON_AddNumberToObject(rq, verb_names[i], (double)v);
	}
	cJSON_AddNumberToObject(rq, "total", (double)total);
	cJSON *rs = cJSON_AddObjectToObject(j, "responses");
	for (int i = 2; i < 6; i++) {
		char k[8];
		snprintf(k, sizeof(k), "%dxx", i);
		cJSON_AddNumberToObject(rs, k, (double)atomic_load(&h->responses[i]));
	}
	cJSON_AddNumberToObject(rs, "injected", (double)atomic_load(&h->injected));
	cJSON_AddItemToObject(j, "churn", churn_json(h));
	cJSON_AddItemToObject(j, "fault", fault_json(h));
	return j;
}

/* Ask the lifecycle thread to take the API down or up; optionally wait. */
static void lifecycle(ds_k8s_http_t *h, bool down, int64_t up_at, bool wait)
{
	pthread_mutex_lock(&h->life_mu);
	if (down) {
		h->want_down = true;
		h->want_up = false;
		h->up_at = up_at;
	} else {
		h->want_up = true;
		h->want_down = false;
		h->up_at = 0;
	}
	uint64_t gen = ++h->req_gen;
	pthread_cond_broadcast(&h->life_cv);
	while (wait && h->done_gen < gen && !h->quit)
		pthread_cond_wait(&h->done_cv, &h->life_mu);
	pthread_mutex_unlock(&h->life_mu);
}

static int num_field(const cJSON *spec, const char *key, double min, double max, double *out,
		     bool *have, ds_err_t *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
	*have = v != NULL;
	if (!v)
		return DS_OK;
	if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max)
		return ds_errf(err, DS_EINVAL, "\"%s\" must be a number in [%g, %g]", key, min,
			       max);
	*out = v->valuedouble;
	return DS_OK;
}

static int bool_field(const cJSON *spec, const char *key, bool *out, ds_err_t *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
	*out = false;
	if (!v)
		return DS_OK;
	if (!cJSON_IsBool(v))
		return ds_errf(err, DS_EINVAL, "\"%s\" must be true or false", key);
	*out = cJSON_IsTrue(v);
	return DS_OK;
}

/* Validate a fault spec; *down_ms < 0 when the spec does not ask for down. */
typedef struct fault_req {
	const char *mode; /* NULL, or points at modebuf */
	char modebuf[8];
	double latency, status, ratio, duration;
	bool have_latency, have_status, have_ratio, have_duration;
	bool expire, drop, compact;
} fault_req_t;

static int fault_parse(const cJSON *spec, fault_req_t *f, ds_err_t *err)
{
	static const char *const known[] = {"mode",         "latency_ms",  "status",
					    "ratio",        "duration_ms", "expire_watches",
					    "drop_watches", "compact"};
	memset(f, 0, sizeof(*f));
	if (!cJSON_IsObject(spec))
		return ds_errf(err, DS_EINVAL, "a fault must be a JSON object");
	for (const cJSON *k = spec->child; k; k = k->next) {
		bool ok = false;
		for (size_t i = 0; i < DS_ARRAY_SIZE(known) && !ok; i++)
			ok = !strcmp(k->string, known[i]);
		if (!ok)
			return ds_errf(err, DS_EINVAL, "unknown fault field \"%s\"", k->string);
	}
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(spec, "mode");
	if (mode) {
		const char *m = cJSON_GetStringValue(mode);
		if (!m || (strcmp(m, "down") && strcmp(m, "up") && strcmp(m, "slow") &&
			   strcmp(m, "none")))
			return ds_errf(err, DS_EINVAL,
				       "\"mode\" must be \"down\", \"up\", \"slow\" or \"none\"");
		/* A copy: the request's JSON is freed before the mode is acted on. */
		snprintf(f->modebuf, sizeof(f->modebuf), "%s", m);
		f->mode = f->modebuf;
	}
	int rc;
	if ((rc = num_field(spec, "latency_ms", 0, 3600000, &f->latency, &f->have_latency, err)) ||
	    (rc = num_field(spec, "status", 0, 599, &f->status, &f->have_status, err)) ||
	    (rc = num_field(spec, "ratio", 0, 1, &f->ratio, &f->have_ratio, err)) ||
	    (rc = num_field(spec, "duration_ms", 0, 86400000, &f->duration, &f->have_duration,
			    err)) ||
	    (rc = bool_field(spec, "expire_watches", &f->expire, err)) ||
	    (rc = bool_field(spec, "drop_watches", &f->drop, err)) ||
	    (rc = bool_field(spec, "compact", &f->compact, err)))
		return rc;
	if (f->have_status && f->status != 0 && f->status < 400)
		return ds_errf(err, DS_EINVAL,
			       "\"status\" must be an HTTP error code (4xx/5xx) or 0");
	if (f->mode && !strcmp(f->mode, "slow") && !f->have_latency)
		return ds_errf(err, DS_EINVAL, "mode \"slow\" needs \"latency_ms\"");
	return DS_OK;
}

/* Everything but taking the API down/up, which needs the caller's context. */
static void fault_apply(ds_k8s_http_t *h, const fault_req_t *f)
{
	int64_t now = ds_now_ns();
	int64_t until =
	    f->have_duration && f->duration > 0 ? now + (int64_t)f->duration * DS_NS_PER_MS : 0;
	pthread_mutex_lock(&h->fault_mu);
	if (f->mode && !strcmp(f->mode, "none"))
		memset(&h->fault, 0, sizeof(h->fault));
	if ((f->mode && !strcmp(f->mode, "slow")) || (f->have_latency && !f->mode)) {
		h->fault.latency_ms = (int)f->latency;
		h->fault.slow_until = until;
	}
	if (f->have_status) {
		h->fault.status = (int)f->status;
		h->fault.ratio = f->have_ratio ? f->ratio : 1.0;
		h->fault.status_until = until;
	} else if (f->have_ratio) {
		h->fault.ratio = f->ratio;
	}
	pthread_mutex_unlock(&h->fault_mu);
	if (f->compact || f->expire)
		ds_k8s_store_compact(h->st);
	if (f->expire)
		atomic_fetch_add(&h->expire_epoch, 1);
	if (f->drop)
		atomic_fetch_add(&h->drop_epoch, 1);
	if (f->expire || f->drop)
		for (int i = 0; i < DS_K8S_NRES; i++)
			wake(h, (ds_k8s_res_t)i, WAKE_ALL, 0);
	pthread_mutex_lock(&h->life_mu);
	pthread_cond_broadcast(&h->life_cv); /* new deadlines for the lifecycle loop */
	pthread_mutex_unlock(&h->life_mu);
}

static int64_t down_until(const fault_req_t *f)
{
	return f->have_duration && f->duration > 0
		   ? ds_now_ns() + (int64_t)f->duration * DS_NS_PER_MS
		   : 0;
}

int ds_k8s_http_fault(ds_k8s_http_t *h, const cJSON *spec, ds_err_t *err)
{
	fault_req_t f;
	int rc = fault_parse(spec, &f, err);
	if (rc)
		return rc;
	fault_apply(h, &f);
	if (f.mode && !strcmp(f.mode, "down"))
		lifecycle(h, true, down_until(&f), false);
	else if (f.mode && (!strcmp(f.mode, "up") || !strcmp(f.mode, "none")))
		lifecycle(h, false, 0, false);
	return DS_OK;
}

static enum MHD_Result control(req_t *rq, struct MHD_Connection *c, const char *method, char **seg,
			       int n)
{
	ds_k8s_http_t *h = rq->in->h;
	rq->verb = V_CONTROL;
	const char *what = n == 3 ? seg[2] : "";
	if (n != 3 || strcmp(seg[1], "v1"))
		return not_found(rq, c);
	if (!strcmp(what, "stats") && !strcmp(method, "GET"))
		return send_cjson(rq, c, 200, stats_json(h));
	if (!strcmp(what, "churn") && !strcmp(method, "GET"))
		return send_cjson(rq, c, 200, churn_json(h));
	if (!strcmp(what, "fault") && !strcmp(method, "GET"))
		return send_cjson(rq, c, 200, fault_json(h));
	if (!strcmp(what, "fault") && !strcmp(method, "DELETE")) {
		fault_req_t f = {.mode = "none"};
		fault_apply(h, &f);
		lifecycle(h, false, 0, rq->in->control_only);
		return send_cjson(rq, c, 200, fault_json(h));
	}
	if (strcmp(method, "POST") || (strcmp(what, "churn") && strcmp(what, "fault")))
		return send_error(
		    rq, c,
		    strcmp(what, "churn") && strcmp(what, "fault") && strcmp(what, "stats") ? 404
											    : 405,
		    strcmp(what, "churn") && strcmp(what, "fault") && strcmp(what, "stats")
			? "NotFound"
			: "MethodNotAllowed",
		    "control API: GET stats|churn|fault, POST churn|fault, DELETE fault");
	cJSON *j = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
	if (!j)
		return send_error(rq, c, 400, "BadRequest", "the body must be a JSON object");
	ds_err_t err;
	enum MHD_Result ret;
	if (!strcmp(what, "churn")) {
		const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "rate");
		const char *kind =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kind"));
		const cJSON *count = cJSON_GetObjectItemCaseSensitive(j, "count");
		int k = kind ? ds_k8s_churn_kind_parse(kind) : DS_K8S_CHURN_FLAP;
		if (!h->churn) {
			ret =
			    send_error(rq, c, 503, "ServiceUnavailable", "churn is not available");
		} else if (!cJSON_IsNumber(rate) || rate->valuedouble < 0 ||
			   rate->valuedouble > 1e6) {
			ret = send_error(rq, c, 400, "BadRequest",
					 "\"rate\" must be a number of operations per second "
					 "(0 stops)");
		} else if (k < 0) {
			ret = send_error(rq, c, 400, "BadRequest",
					 "\"kind\" must be endpoint-flap, endpoint-move, services, "
					 "pods or mix");
		} else if (count && (!cJSON_IsNumber(count) || count->valuedouble < 0)) {
			ret = send_error(rq, c, 400, "BadRequest", "\"count\" must be >= 0");
		} else {
			ds_k8s_churn_set(h->churn, rate->valuedouble, (ds_k8s_churn_kind_t)k,
					 count ? (uint64_t)count->valuedouble : 0);
			ret = send_cjson(rq, c, 200, churn_json(h));
		}
		cJSON_Delete(j);
		return ret;
	}
	fault_req_t f;
	if (fault_parse(j, &f, &err)) {
		cJSON_Delete(j);
		return send_error(rq, c, 400, "BadRequest", "%s", err.msg);
	}
	cJSON_Delete(j);
	fault_apply(h, &f);
	bool down = f.mode && !strcmp(f.mode, "down");
	bool up = f.mode && (!strcmp(f.mode, "up") || !strcmp(f.mode, "none"));
	if (down && !rq->in->control_only) {
		if (!f.have_duration || f.duration <= 0)
			return send_error(
			    rq, c, 400, "BadRequest",
			    "mode \"down\" on the API listener needs \"duration_ms\" "
			    "(nothing could bring it back); use --control-listen for an "
			    "open-ended outage");
		/* Our own listener: answer first, go down once the answer is out. */
		rq->down_after = true;
		rq->up_after_ms = (int64_t)f.duration;
		cJSON *fj = fault_json(h);
		cJSON_ReplaceItemInObjectCaseSensitive(fj, "api", cJSON_CreateString("down"));
		return send_cjson(rq, c, 200, fj);
	}
	if (down || up)
		lifecycle(h, down, down ? down_until(&f) : 0, true);
	return send_cjson(rq, c, 200, fault_json(h));
}

/* ---- request entry ---- */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	req_t *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	rq->in = cls;
	rq->uri = strdup(uri ? uri : "");
	rq->start = ds_now_ns();
	rq->verb = V_OTHER;
	ds_k8s_buf_init(&rq->body);
	return rq;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	inst_t *in = cls;
	ds_k8s_http_t *h = in->h;
	req_t *rq = *con_cls;
	if (!rq)
		return;
	if (h->o.log_requests)
		ds_log(DS_LOG_INFO, "k8s-sim: %s %s %d %.3fms%s", rq->method ? rq->method : "-",
		       rq->uri, rq->code, (double)(ds_now_ns() - rq->start) / 1e6,
		       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	if (rq->down_after && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		lifecycle(h, true, ds_now_ns() + rq->up_after_ms * DS_NS_PER_MS, false);
	ds_k8s_buf_free(&rq->body);
	free(rq->uri);
	free(rq);
	*con_cls = NULL;
}

static bool inject_error(ds_k8s_http_t *h, req_t *rq, struct MHD_Connection *c,
			 enum MHD_Result *ret)
{
	pthread_mutex_lock(&h->fault_mu);
	int status = h->fault.status;
	double ratio = h->fault.ratio;
	pthread_mutex_unlock(&h->fault_mu);
	if (!status || (double)(ds_rand64() >> 11) / 9007199254740992.0 >= ratio)
		return false;
	ds_k8s_status_t s;
	switch (status) {
	case 429:
		ds_k8s_status_set(&s, 429, "TooManyRequests",
				  "Too many requests, please try again later.");
		s.retry_after = 1;
		break;
	case 500:
		ds_k8s_status_set(&s, 500, "InternalError",
				  "Internal error occurred: injected fault");
		break;
	case 503:
		ds_k8s_status_set(&s, 503, "ServiceUnavailable",
				  "the server is currently unable to handle the request");
		break;
	case 504:
		ds_k8s_status_set(
		    &s, 504, "Timeout",
		    "the server was unable to return a response in the time allotted");
		break;
	default:
		ds_k8s_status_set(&s, status, "InternalError", "injected fault (%d)", status);
		break;
	}
	atomic_fetch_add(&h->injected, 1);
	*ret = send_status(rq, c, &s);
	return true;
}

/* Park the request for the slow fault; false when it must go on now. */
static bool delay(ds_k8s_http_t *h, req_t *rq, struct MHD_Connection *c)
{
	pthread_mutex_lock(&h->fault_mu);
	int ms = h->fault.latency_ms;
	pthread_mutex_unlock(&h->fault_mu);
	if (rq->delayed || ms <= 0)
		return false;
	rq->delayed = true;
	rq->due = ds_now_ns() + (int64_t)ms * DS_NS_PER_MS;
	rq->conn = c;
	pthread_mutex_lock(&h->delay_mu);
	if (atomic_load(&rq->in->closing)) {
		pthread_mutex_unlock(&h->delay_mu);
		return false;
	}
	MHD_suspend_connection(c);
	rq->in_delay_list = true;
	rq->dnext = h->delayed;
	h->delayed = rq;
	pthread_mutex_unlock(&h->delay_mu);
	pthread_mutex_lock(&h->life_mu);
	pthread_cond_broadcast(&h->life_cv);
	pthread_mutex_unlock(&h->life_mu);
	return true;
}

#define MAX_SEGS 12

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	inst_t *in = cls;
	ds_k8s_http_t *h = in->h;
	req_t *rq = *con_cls;
	if (!rq)
		return MHD_NO;
	if (!rq->started) {
		rq->started = true;
		rq->method = method;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->body.len + *upload_size > h->o.max_body)
			rq->too_big = true;
		else
			ds_k8s_buf_put(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (atomic_load(&in->closing))
		return MHD_NO;
	char path[2048];
	snprintf(path, sizeof(path), "%s", url);
	char *seg[MAX_SEGS];
	int n = 0;
	char *save = NULL;
	for (char *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEGS) {
			n = -1;
			break;
		}
		seg[n++] = s;
	}
	enum MHD_Result ret;
	bool is_control = n >= 1 && !strcmp(seg[0], "sim");
	const char *gv = NULL;
	bool health = n == 1 && (!strcmp(seg[0], "healthz") || !strcmp(seg[0], "readyz") ||
				 !strcmp(seg[0], "livez"));
	if (!is_control) {
		if (in->control_only) {
			ret = health ? send_ok(rq, c) : not_found(rq, c);
			goto out;
		}
		if (delay(h, rq, c))
			return MHD_YES;
		if (inject_error(h, rq, c, &ret))
			goto out;
	}
	if (n <= 0) {
		ret = not_found(rq, c);
	} else if (is_control) {
		ret = control(rq, c, method, seg, n);
	} else if (health) {
		ret = send_ok(rq, c);
	} else if (n == 1 && !strcmp(seg[0], "version")) {
		ret = send_version(rq, c);
	} else if (!strcmp(seg[0], "api") && (n == 1 || (!strcmp(seg[1], "v1")))) {
		if (n <= 2 && strcmp(method, "GET")) {
			ret = send_error(rq, c, 405, "MethodNotAllowed", "discovery is read-only");
		} else if (n <= 2) {
			ret = discovery(rq, c, seg, n);
		} else {
			ret = resource(rq, c, method, "", seg + 2, n - 2);
		}
	} else if (!strcmp(seg[0], "apis") &&
		   (n == 1 ||
		    ((gv = group_version(h, seg[1])) && (n == 2 || !strcmp(seg[2], gv))))) {
		if (n <= 3 && strcmp(method, "GET")) {
			ret = send_error(rq, c, 405, "MethodNotAllowed", "discovery is read-only");
		} else if (n <= 3) {
			ret = discovery(rq, c, seg, n);
		} else {
			ret = resource(rq, c, method, seg[1], seg + 3, n - 3);
		}
	} else {
		/* /openapi/v2, /openapi/v3 and everything else: kubectl treats a
		 * 404 here as "no schema" and carries on with --validate=false. */
		ret = not_found(rq, c);
	}
out:
	atomic_fetch_add(&h->requests[rq->verb], 1);
	return ret;
}

/* ---- listeners and lifecycle ---- */

static int bind_listen(const ds_sockaddr_t *addr, int *port, ds_err_t *err)
{
	char s[DS_ADDRSTR_MAX];
	int fd = socket(ds_addr_family(addr), SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ds_errf(err, -errno, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &addr->sa, ds_addr_len(addr)) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		return ds_errf(err, -e, "listen %s: %s", ds_addr_str(addr, s, sizeof(s)),
			       strerror(e));
	}
	ds_sockaddr_t bound;
	socklen_t len = sizeof(bound);
	getsockname(fd, &bound.sa, &len);
	*port = ds_addr_port(&bound);
	return fd;
}

static inst_t *inst_start(ds_k8s_http_t *h, const ds_sockaddr_t *addr, bool control, int *port,
			  ds_err_t *err)
{
	int fd = bind_listen(addr, port, err);
	if (fd < 0)
		return NULL;
	inst_t *in = calloc(1, sizeof(*in));
	if (!in) {
		close(fd);
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	in->h = h;
	in->control_only = control;
	atomic_init(&in->closing, false);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;
	if (ds_addr_family(addr) == AF_INET6)
		flags |= MHD_USE_IPv6;
	unsigned threads = control ? 1 : h->threads;
	in->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, in, MHD_OPTION_LISTEN_SOCKET, fd,
				 MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
				 MHD_OPTION_CONNECTION_LIMIT, 16384u, MHD_OPTION_CONNECTION_TIMEOUT,
				 600u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
				 MHD_OPTION_URI_LOG_CALLBACK, uri_log, in,
				 MHD_OPTION_NOTIFY_COMPLETED, completed, in, MHD_OPTION_END);
	if (!in->d) {
		char s[DS_ADDRSTR_MAX];
		close(fd);
		free(in);
		ds_errf(err, DS_EIO, "cannot start the HTTP server on %s",
			ds_addr_str(addr, s, sizeof(s)));
		return NULL;
	}
	return in;
}

static void inst_stop(ds_k8s_http_t *h, inst_t *in)
{
	if (!in)
		return;
	/* MHD must not be stopped with suspended connections: flag the
	 * instance closing (no connection suspends again after that), then
	 * resume every parked watcher and delayed request. */
	atomic_store(&in->closing, true);
	for (int i = 0; i < DS_K8S_NRES; i++)
		wake(h, (ds_k8s_res_t)i, WAKE_ALL, 0);
	pthread_mutex_lock(&h->delay_mu);
	for (req_t **p = &h->delayed; *p;) {
		req_t *rq = *p;
		if (rq->in != in) {
			p = &rq->dnext;
			continue;
		}
		*p = rq->dnext;
		rq->in_delay_list = false;
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_unlock(&h->delay_mu);
	MHD_stop_daemon(in->d);
	free(in);
}

ds_k8s_http_t *ds_k8s_http_new(ds_k8s_store_t *st, ds_k8s_churn_t *churn,
			       const ds_k8s_http_opts_t *opts, ds_err_t *err)
{
	ds_k8s_http_t *h = calloc(1, sizeof(*h));
	if (!h) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	h->st = st;
	h->churn = churn;
	h->o = *opts;
	if (!h->o.bookmark_ms)
		h->o.bookmark_ms = 60000;
	if (!h->o.watch_timeout_s)
		h->o.watch_timeout_s = 1800;
	if (!h->o.max_body)
		h->o.max_body = 16u << 20;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	h->threads = opts->threads ? opts->threads : (unsigned)DS_MAX(ncpu, 2);
	h->started_ns = ds_now_ns();
	pthread_mutex_init(&h->life_mu, NULL);
	pthread_cond_init(&h->life_cv, NULL);
	pthread_cond_init(&h->done_cv, NULL);
	pthread_mutex_init(&h->delay_mu, NULL);
	pthread_mutex_init(&h->fault_mu, NULL);
	for (int i = 0; i < DS_K8S_NRES; i++)
		pthread_mutex_init(&h->reg[i].mu, NULL);
	ds_k8s_store_set_notify(st, store_changed, h);
	if (ds_addr_parse(opts->listen, -1, &h->api_addr) || ds_addr_port(&h->api_addr) < 0) {
		ds_errf(err, DS_EINVAL, "--listen %s: expected HOST:PORT", opts->listen);
		goto fail;
	}
	if (opts->control_listen && (ds_addr_parse(opts->control_listen, -1, &h->ctl_addr) ||
				     ds_addr_port(&h->ctl_addr) < 0)) {
		ds_errf(err, DS_EINVAL, "--control-listen %s: expected HOST:PORT",
			opts->control_listen);
		goto fail;
	}
	if (!(h->api = inst_start(h, &h->api_addr, false, &h->api_port, err)))
		goto fail;
	/* Coming back up after "down" must reuse the port clients know. */
	ds_addr_set_port(&h->api_addr, h->api_port);
	if (opts->control_listen &&
	    !(h->ctl = inst_start(h, &h->ctl_addr, true, &h->ctl_port, err)))
		goto fail;
	return h;
fail:
	ds_k8s_store_set_notify(st, NULL, NULL);
	ds_k8s_http_free(h);
	return NULL;
}

int ds_k8s_http_port(const ds_k8s_http_t *h)
{
	return h->api_port;
}

int ds_k8s_http_control_port(const ds_k8s_http_t *h)
{
	return h->ctl_port;
}

void ds_k8s_http_stop(ds_k8s_http_t *h)
{
	pthread_mutex_lock(&h->life_mu);
	h->quit = true;
	pthread_cond_broadcast(&h->life_cv);
	pthread_cond_broadcast(&h->done_cv);
	pthread_mutex_unlock(&h->life_mu);
}

/* Resume delayed requests that are due; returns the next due time (or 0). */
static int64_t resume_due(ds_k8s_http_t *h, int64_t now)
{
	int64_t next = 0;
	pthread_mutex_lock(&h->delay_mu);
	for (req_t **p = &h->delayed; *p;) {
		req_t *rq = *p;
		if (rq->due <= now) {
			*p = rq->dnext;
			rq->in_delay_list = false;
			MHD_resume_connection(rq->conn);
			continue;
		}
		if (!next || rq->due < next)
			next = rq->due;
		p = &rq->dnext;
	}
	pthread_mutex_unlock(&h->delay_mu);
	return next;
}

int ds_k8s_http_run(ds_k8s_http_t *h)
{
	int64_t next_reap = 0;
	pthread_mutex_lock(&h->life_mu);
	while (!h->quit) {
		int64_t now = ds_now_ns();
		bool bring_up =
		    h->want_up || (!h->api && !h->want_down && h->up_at && now >= h->up_at);
		if (h->want_down) {
			h->want_down = false;
			inst_t *in = h->api;
			h->api = NULL;
			pthread_mutex_unlock(&h->life_mu);
			if (in)
				ds_log(DS_LOG_INFO, "k8s-sim: API down");
			inst_stop(h, in);
			pthread_mutex_lock(&h->life_mu);
		} else if (bring_up) {
			h->want_up = false;
			h->up_at = 0;
			if (!h->api) {
				pthread_mutex_unlock(&h->life_mu);
				ds_err_t err;
				int port;
				inst_t *in = inst_start(h, &h->api_addr, false, &port, &err);
				if (!in)
					ds_log(DS_LOG_ERROR,
					       "k8s-sim: cannot bring the API back up: %s",
					       err.msg);
				else
					ds_log(DS_LOG_INFO, "k8s-sim: API up on port %d", port);
				pthread_mutex_lock(&h->life_mu);
				h->api = in;
				if (!in) /* the port may be taken for a moment: try again */
					h->up_at = ds_now_ns() + 200 * DS_NS_PER_MS;
			}
		}
		h->done_gen = h->req_gen;
		pthread_cond_broadcast(&h->done_cv);
		pthread_mutex_unlock(&h->life_mu);

		now = ds_now_ns();
		pthread_mutex_lock(&h->fault_mu);
		if (h->fault.latency_ms && h->fault.slow_until && now >= h->fault.slow_until)
			h->fault.latency_ms = 0;
		if (h->fault.status && h->fault.status_until && now >= h->fault.status_until)
			h->fault.status = 0;
		int64_t next = 0;
		if (h->fault.latency_ms && h->fault.slow_until)
			next = h->fault.slow_until;
		if (h->fault.status && h->fault.status_until &&
		    (!next || h->fault.status_until < next))
			next = h->fault.status_until;
		pthread_mutex_unlock(&h->fault_mu);
		int64_t due = resume_due(h, now);
		if (due && (!next || due < next))
			next = due;
		/* Bookmarks and watch timeouts have second granularity: a scan
		 * every 100 ms of the parked watchers is plenty. */
		bool reap = now >= next_reap;
		if (reap)
			next_reap = now + DS_NS_PER_SEC;
		for (int i = 0; i < DS_K8S_NRES; i++)
			wake(h, (ds_k8s_res_t)i, reap ? WAKE_REAP : WAKE_DUE, now);

		pthread_mutex_lock(&h->life_mu);
		if (h->quit || h->want_down || h->want_up)
			continue;
		int64_t wait_until = now + 100 * DS_NS_PER_MS;
		if (next && next < wait_until)
			wait_until = next;
		if (!h->api && h->up_at && h->up_at < wait_until)
			wait_until = h->up_at;
		int64_t wait = wait_until - ds_now_ns();
		if (wait <= 0)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(wait / DS_NS_PER_SEC);
		ts.tv_nsec += (long)(wait % DS_NS_PER_SEC);
		if (ts.tv_nsec >= DS_NS_PER_SEC) {
			ts.tv_sec++;
			ts.tv_nsec -= DS_NS_PER_SEC;
		}
		pthread_cond_timedwait(&h->life_cv, &h->life_mu, &ts);
	}
	pthread_mutex_unlock(&h->life_mu);
	return DS_OK;
}

void ds_k8s_http_free(ds_k8s_http_t *h)
{
	if (!h)
		return;
	inst_stop(h, h->api);
	inst_stop(h, h->ctl);
	h->api = h->ctl = NULL;
	ds_k8s_store_set_notify(h->st, NULL, NULL);
	for (int i = 0; i < DS_K8S_NRES; i++)
		pthread_mutex_destroy(&h->reg[i].mu);
	pthread_mutex_destroy(&h->life_mu);
	pthread_cond_destroy(&h->life_cv);
	pthread_cond_destroy(&h->done_cv);
	pthread_mutex_destroy(&h->delay_mu);
	pthread_mutex_destroy(&h->fault_mu);
	free(h);
}
