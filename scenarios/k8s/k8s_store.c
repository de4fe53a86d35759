/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/net.h"
#include "scenarios/k8s/k8s_patch.h"
#include "scenarios/k8s/k8s_util.h"

/* ---- resources ---- */

static const char *const svc_fields[] = {"spec.clusterIP", "spec.type", NULL};
static const char *const pod_fields[] = {
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",       "spec.serviceAccountName",
    "status.phase",  "status.podIP",       "status.nominatedNodeName", NULL};
static const char *const ns_fields[] = {"status.phase", NULL};
static const char *const no_fields[] = {NULL};

static const ds_k8s_resinfo_t resinfo[DS_K8S_NRES] = {
    [DS_K8S_SERVICES] = {"services", "service", "Service", "ServiceList", "", "v1", "svc", true,
			 svc_fields},
    [DS_K8S_ENDPOINTSLICES] = {"endpointslices", "endpointslice", "EndpointSlice",
			       "EndpointSliceList", "discovery.k8s.io", "discovery.k8s.io/v1", NULL,
			       true, no_fields},
    [DS_K8S_NAMESPACES] = {"namespaces", "namespace", "Namespace", "NamespaceList", "", "v1", "ns",
			   false, ns_fields},
    [DS_K8S_PODS] = {"pods", "pod", "Pod", "PodList", "", "v1", "po", true, pod_fields},
    [DS_K8S_SERVICEACCOUNTS] = {"serviceaccounts", "serviceaccount", "ServiceAccount",
				"ServiceAccountList", "", "v1", "sa", true, no_fields, true},
    [DS_K8S_CONFIGMAPS] = {"configmaps", "configmap", "ConfigMap", "ConfigMapList", "", "v1",
			   "cm", true, no_fields, true},
    [DS_K8S_DEPLOYMENTS] = {"deployments", "deployment", "Deployment", "DeploymentList", "apps",
			    "apps/v1", "deploy", true, no_fields, true},
    [DS_K8S_JOBS] = {"jobs", "job", "Job", "JobList", "batch", "batch/v1", NULL, true, no_fields,
		     true},
    [DS_K8S_CLUSTERROLES] = {"clusterroles", "clusterrole", "ClusterRole", "ClusterRoleList",
			     "rbac.authorization.k8s.io", "rbac.authorization.k8s.io/v1", NULL,
			     false, no_fields, true},
    [DS_K8S_CLUSTERROLEBINDINGS] = {"clusterrolebindings", "clusterrolebinding",
				    "ClusterRoleBinding", "ClusterRoleBindingList",
				    "rbac.authorization.k8s.io", "rbac.authorization.k8s.io/v1",
				    NULL, false, no_fields, true},
    [DS_K8S_SERVICEMONITORS] = {"servicemonitors", "servicemonitor", "ServiceMonitor",
				"ServiceMonitorList", "monitoring.coreos.com",
				"monitoring.coreos.com/v1", "smon", true, no_fields, true},
};

const ds_k8s_resinfo_t *ds_k8s_res_info(ds_k8s_res_t res)
{
	return &resinfo[res];
}

int ds_k8s_res_by_name(const char *group, const char *name)
{
	for (int i = 0; i < DS_K8S_NRES; i++)
		if (!strcmp(resinfo[i].group, group) && !strcmp(resinfo[i].name, name))
			return i;
	return -1;
}

int ds_k8s_res_by_kind(const char *api_version, const char *kind)
{
	if (!api_version || !kind)
		return -1;
	for (int i = 0; i < DS_K8S_NRES; i++)
		if (!strcmp(resinfo[i].api_version, api_version) && !strcmp(resinfo[i].kind, kind))
			return i;
	return -1;
}

const char *ds_k8s_evtype_name(ds_k8s_evtype_t t)
{
	static const char *names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	return t <= DS_K8S_EV_ERROR ? names[t] : "?";
}

/* ---- Status ---- */

int ds_k8s_status_set(ds_k8s_status_t *st, int code, const char *reason, const char *fmt, ...)
{
	if (st) {
		memset(st, 0, sizeof(*st));
		st->code = code;
		st->reason = reason;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->message, sizeof(st->message), fmt, ap);
		va_end(ap);
	}
	switch (code) {
	case 404:
		return DS_ENOENT;
	case 409:
		return reason && !strcmp(reason, "AlreadyExists") ? DS_EEXIST : DS_EAGAIN;
	case 410:
		return DS_ERANGE;
	case 504:
		return DS_ETIMEDOUT;
	default:
		return code >= 500 ? DS_EIO : DS_EINVAL;
	}
}

/* Status with details naming the object, as NotFound/AlreadyExists carry. */
static int status_obj(ds_k8s_status_t *st, int code, const char *reason, ds_k8s_res_t res,
		      const char *name, const char *fmt, ...) DS_PRINTF(6, 7);
static int status_obj(ds_k8s_status_t *st, int code, const char *reason, ds_k8s_res_t res,
		      const char *name, const char *fmt, ...)
{
	int rc = ds_k8s_status_set(st, code, reason, "%s", "");
	if (st) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->message, sizeof(st->message), fmt, ap);
		va_end(ap);
		snprintf(st->name, sizeof(st->name), "%s", name ? name : "");
		st->kind = resinfo[res].name;
		st->group = resinfo[res].group[0] ? resinfo[res].group : NULL;
	}
	return rc;
}

/* "services" or "endpointslices.discovery.k8s.io", as messages name a resource. */
static const char *qualified(ds_k8s_res_t res)
{
	static const char *q[DS_K8S_NRES] = {
	    [DS_K8S_SERVICES] = "services",
	    [DS_K8S_ENDPOINTSLICES] = "endpointslices.discovery.k8s.io",
	    [DS_K8S_NAMESPACES] = "namespaces",
	    [DS_K8S_PODS] = "pods",
	    [DS_K8S_SERVICEACCOUNTS] = "serviceaccounts",
	    [DS_K8S_CONFIGMAPS] = "configmaps",
	    [DS_K8S_DEPLOYMENTS] = "deployments.apps",
	    [DS_K8S_JOBS] = "jobs.batch",
	    [DS_K8S_CLUSTERROLES] = "clusterroles.rbac.authorization.k8s.io",
	    [DS_K8S_CLUSTERROLEBINDINGS] = "clusterrolebindings.rbac.authorization.k8s.io",
	    [DS_K8S_SERVICEMONITORS] = "servicemonitors.monitoring.coreos.com",
	};
	return q[res];
}

char *ds_k8s_status_json(const ds_k8s_status_t *st)
{
	ds_k8s_buf_t b;
	ds_k8s_buf_init(&b);
	ds_k8s_buf_puts(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
			    "\"status\":\"Failure\",\"message\":");
	ds_k8s_buf_json_str(&b, st->message);
	if (st->reason) {
		ds_k8s_buf_puts(&b, ",\"reason\":");
		ds_k8s_buf_json_str(&b, st->reason);
	}
	if (st->name[0] || st->kind || st->retry_after) {
		ds_k8s_buf_puts(&b, ",\"details\":{");
		const char *sep = "";
		if (st->name[0]) {
			ds_k8s_buf_puts(&b, "\"name\":");
			ds_k8s_buf_json_str(&b, st->name);
			sep = ",";
		}
		if (st->group) {
			ds_k8s_buf_printf(&b, "%s\"group\":", sep);
			ds_k8s_buf_json_str(&b, st->group);
			sep = ",";
		}
		if (st->kind) {
			ds_k8s_buf_printf(&b, "%s\"kind\":", sep);
			ds_k8s_buf_json_str(&b, st->kind);
			sep = ",";
		}
		if (st->retry_after)
			ds_k8s_buf_printf(&b, "%s\"retryAfterSeconds\":%d", sep, st->retry_after);
		ds_k8s_buf_puts(&b, "}");
	}
	ds_k8s_buf_printf(&b, ",\"code\":%d}", st->code);
	return ds_k8s_buf_steal(&b, NULL);
}

/* ---- objects ---- */

ds_k8s_obj_t *ds_k8s_obj_ref(ds_k8s_obj_t *o)
{
	atomic_fetch_add_explicit(&o->ref, 1, memory_order_relaxed);
	return o;
}

static void meta_unref(ds_k8s_meta_t *m)
{
	if (m && atomic_fetch_sub_explicit(&m->ref, 1, memory_order_acq_rel) == 1)
		free(m);
}

void ds_k8s_obj_unref(ds_k8s_obj_t *o)
{
	if (!o || atomic_fetch_sub_explicit(&o->ref, 1, memory_order_acq_rel) != 1)
		return;
	meta_unref(o->meta);
	free(o->json);
	free(o);
}

cJSON *ds_k8s_obj_parse(const ds_k8s_obj_t *o)
{
	return cJSON_ParseWithLength(o->json, o->len);
}

const char *ds_k8s_obj_label(const ds_k8s_obj_t *o, const char *key)
{
	for (size_t i = 0; i < o->meta->nlabels; i++)
		if (!strcmp(o->meta->labels[i].key, key))
			return o->meta->labels[i].val;
	return NULL;
}

/* String at a dotted path ("spec.clusterIP"), or NULL. */
static const char *jpath_str(const cJSON *o, const char *path)
{
	char seg[64];
	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len >= sizeof(seg))
			return NULL;
		memcpy(seg, path, len);
		seg[len] = 0;
		o = cJSON_GetObjectItemCaseSensitive(o, seg);
		path = dot ? dot + 1 : path + len;
	}
	return cJSON_GetStringValue(o);
}

static cJSON *jobj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (cJSON_IsObject(o))
		return o;
	if (o)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

static void jset_str(cJSON *parent, const char *key, const char *val)
{
	cJSON *n = cJSON_CreateString(val);
	if (!n)
		return;
	if (cJSON_GetObjectItemCaseSensitive(parent, key))
		cJSON_ReplaceItemInObjectCaseSensitive(parent, key, n);
	else
		cJSON_AddItemToObject(parent, key, n);
}

/* Copy s into the arena at *p and return the copy. */
static const char *arena_put(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(*p, s, n);
	const char *r = *p;
	*p += n;
	return r;
}

static ds_k8s_meta_t *meta_build(ds_k8s_res_t res, const cJSON *o)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const char *ns =
	    resinfo[res].namespaced
		? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"))
		: "";
	if (!name || !ns)
		return NULL;
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	size_t nl = 0, sz = 0;
	for (const cJSON *l = cJSON_IsObject(labels) ? labels->child : NULL; l; l = l->next) {
		if (!cJSON_IsString(l))
			continue;
		nl++;
		sz += strlen(l->string) + strlen(l->valuestring) + 2;
	}
	const char *const *fk = resinfo[res].fields;
	size_t nf = 2;
	const char *fv[16];
	fv[0] = name;
	fv[1] = ns;
	for (; fk[nf - 2]; nf++) {
		const char *v = jpath_str(o, fk[nf - 2]);
		fv[nf] = v ? v : "";
	}
	for (size_t i = 0; i < nf; i++)
		sz += strlen(fv[i]) + 1;
	sz += 2 * (strlen(ns) + strlen(name) + 2);
	ds_k8s_meta_t *m = malloc(sizeof(*m) + (nl + nf) * sizeof(ds_k8s_kv_t) + sz);
	if (!m)
		return NULL;
	atomic_init(&m->ref, 1);
	ds_k8s_kv_t *kv = (ds_k8s_kv_t *)(m + 1);
	char *p = (char *)(kv + nl + nf);
	char *key = p;
	if (resinfo[res].namespaced)
		p += sprintf(p, "%s/%s", ns, name) + 1;
	else
		p += sprintf(p, "%s", name) + 1;
	m->key = key;
	m->ns = arena_put(&p, ns);
	m->name = arena_put(&p, name);
	m->labels = kv;
	m->nlabels = nl;
	for (const cJSON *l = cJSON_IsObject(labels) ? labels->child : NULL; l; l = l->next) {
		if (!cJSON_IsString(l))
			continue;
		kv->key = arena_put(&p, l->string);
		kv->val = arena_put(&p, l->valuestring);
		kv++;
	}
	m->fields = kv;
	m->nfields = nf;
	for (size_t i = 0; i < nf; i++) {
		kv[i].key = i == 0 ? "metadata.name" : i == 1 ? "metadata.namespace" : fk[i - 2];
		kv[i].val = arena_put(&p, fv[i]);
	}
	return m;
}

#define RV_MARK "@@dnsurge-k8s-sim-resource-version@@"
/* Room reserved for the decimal resourceVersion (UINT64_MAX has 20 digits). */
#define RV_ROOM 20

/*
 * Serialise o with a placeholder where the resourceVersion goes, so the
 * expensive print happens outside the store lock and the commit only
 * writes digits. hint (the size of the previous version, 0 if none) lets
 * the print go into one right-sized buffer instead of a chain of growing
 * reallocs, which under churn cost more than the printing itself.
 */
static ds_k8s_obj_t *obj_build(ds_k8s_res_t res, cJSON *o, size_t hint)
{
	_Static_assert(sizeof(RV_MARK) - 1 >= RV_ROOM, "the RV room is carved out of the marker");
	cJSON *md = jobj(o, "metadata");
	if (!md)
		return NULL;
	jset_str(md, "resourceVersion", RV_MARK);
	ds_k8s_obj_t *obj = calloc(1, sizeof(*obj));
	char *txt = NULL;
	if (!obj)
		goto fail;
	if (hint) {
		int cap = (int)(hint + hint / 8 + 256);
		txt = malloc((size_t)cap);
		if (txt && !cJSON_PrintPreallocated(o, txt, cap, false)) {
			free(txt);
			txt = NULL;
		}
	}
	if (!txt && !(txt = cJSON_PrintUnformatted(o)))
		goto fail;
	char *m = strstr(txt, "\"" RV_MARK "\"");
	if (!m)
		goto fail;
	size_t len = strlen(txt), off = (size_t)(m - txt) + 1, ml = strlen(RV_MARK);
	/* The marker is longer than the room the digits need: shrink in place. */
	memmove(txt + off + RV_ROOM, txt + off + ml, len - off - ml + 1);
	memset(txt + off, '0', RV_ROOM);
	obj->json = txt;
	obj->len = len - ml + RV_ROOM;
	obj->rv_off = off;
	obj->rv_len = RV_ROOM;
	obj->res = res;
	atomic_init(&obj->ref, 1);
	if (!(obj->meta = meta_build(res, o)))
		goto fail;
	return obj;
fail:
	free(txt);
	free(obj);
	return NULL;
}

static void obj_stamp(ds_k8s_obj_t *o, uint64_t rv)
{
	char d[24];
	size_t n = (size_t)snprintf(d, sizeof(d), "%" PRIu64, rv);
	memmove(o->json + o->rv_off + n, o->json + o->rv_off + o->rv_len,
		o->len - o->rv_off - o->rv_len + 1);
	memcpy(o->json + o->rv_off, d, n);
	o->len = o->len - o->rv_len + n;
	o->rv_len = n;
	o->rv = rv;
}

/* A copy of o carrying another resourceVersion (the DELETED event's). */
static ds_k8s_obj_t *obj_restamp(const ds_k8s_obj_t *o, uint64_t rv)
{
	char d[24];
	size_t n = (size_t)snprintf(d, sizeof(d), "%" PRIu64, rv);
	ds_k8s_obj_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	size_t len = o->len - o->rv_len + n;
	if (!(c->json = malloc(len + 1))) {
		free(c);
		return NULL;
	}
	memcpy(c->json, o->json, o->rv_off);
	memcpy(c->json + o->rv_off, d, n);
	memcpy(c->json + o->rv_off + n, o->json + o->rv_off + o->rv_len,
	       o->len - o->rv_off - o->rv_len + 1);
	c->len = len;
	c->rv_off = o->rv_off;
	c->rv_len = n;
	c->rv = rv;
	c->res = o->res;
	atomic_init(&c->ref, 1);
	c->meta = o->meta;
	atomic_fetch_add_explicit(&o->meta->ref, 1, memory_order_relaxed);
	return c;
}

/* ---- store ---- */

typedef struct event {
	uint64_t rv;
	ds_k8s_evtype_t type;
	ds_k8s_obj_t *obj;  /* new state; for DELETED the last state at the deletion's RV */
	ds_k8s_obj_t *prev; /* the version replaced (NULL for ADDED) */
} event_t;

typedef struct resstate {
	ds_k8s_obj_t **objs; /* sorted by meta->key once sealed */
	size_t n, cap;
	event_t *ring;
	uint64_t head;         /* seq of the oldest event kept */
	_Atomic uint64_t tail; /* seq the next event gets */
	uint64_t floor_rv;     /* every event with rv > floor_rv is in the ring */
	uint64_t nevents;
} resstate_t;

typedef struct snapshot {
	uint64_t id;
	ds_k8s_res_t res;
	uint64_t rv;
	int64_t created_ns;
	ds_k8s_obj_t **items;
	size_t n;
} snapshot_t;

/* Service cluster IPs come from 10.96.0.0/12, as kubeadm's default. */
#define SVC_NET 0x0a600000u
#define SVC_BITS 20

struct ds_k8s_store {
	pthread_rwlock_t lock;
	_Atomic uint64_t rv;
	resstate_t r[DS_K8S_NRES];
	size_t history;
	uint64_t added, modified, deleted, compactions;
	bool sealed;
	bool generic_kinds;

	pthread_mutex_t misc_mu; /* rng and the cluster IP map */
	ds_rng_t rng;
	uint8_t *ipmap;

	pthread_mutex_t snap_mu;
	snapshot_t **snaps;
	size_t nsnaps, max_snaps;
	uint64_t next_snap;
	int64_t ttl_ns;

	ds_k8s_notify_fn notify;
	void *notify_ctx;
};

ds_k8s_store_t *ds_k8s_store_new(const ds_k8s_store_opts_t *opts)
{
	ds_k8s_store_opts_t o = opts ? *opts : (ds_k8s_store_opts_t){0};
	ds_k8s_store_t *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->history = o.history ? o.history : 10000;
	st->max_snaps = o.max_snapshots ? o.max_snapshots : 256;
	st->ttl_ns = (int64_t)(o.continue_ttl_s ? o.continue_ttl_s : 300) * DS_NS_PER_SEC;
	ds_rng_seed(&st->rng, o.seed ? o.seed : 1);
	/* Writers must not starve behind a stream of watchers and LISTs. */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&st->misc_mu, NULL);
	pthread_mutex_init(&st->snap_mu, NULL);
	st->ipmap = calloc(1, (1u << SVC_BITS) / 8);
	st->snaps = calloc(st->max_snaps, sizeof(*st->snaps));
	if (!st->ipmap || !st->snaps)
		goto fail;
	/* The network and broadcast addresses are never handed out. */
	st->ipmap[0] |= 1;
	st->ipmap[(1u << SVC_BITS) / 8 - 1] |= 0x80;
	st->generic_kinds = o.generic_kinds;
	for (int i = 0; i < DS_K8S_NRES; i++) {
		/* A resource that is not served never has an event: no ring
		 * (with a large --history, seven unused rings would cost). */
		if (!ds_k8s_store_serves(st, (ds_k8s_res_t)i))
			continue;
		st->r[i].ring = calloc(st->history, sizeof(event_t));
		if (!st->r[i].ring)
			goto fail;
	}
	return st;
fail:
	ds_k8s_store_free(st);
	return NULL;
}

static void snapshot_free(snapshot_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		ds_k8s_obj_unref(s->items[i]);
	free(s->items);
	free(s);
}

static void ring_clear(resstate_t *r, size_t cap)
{
	uint64_t tail = atomic_load(&r->tail);
	for (uint64_t s = r->head; s < tail; s++) {
		event_t *e = &r->ring[s % cap];
		ds_k8s_obj_unref(e->obj);
		ds_k8s_obj_unref(e->prev);
		e->obj = e->prev = NULL;
	}
	r->head = tail;
}

void ds_k8s_store_free(ds_k8s_store_t *st)
{
	if (!st)
		return;
	for (int i = 0; i < DS_K8S_NRES; i++) {
		resstate_t *r = &st->r[i];
		for (size_t j = 0; j < r->n; j++)
			ds_k8s_obj_unref(r->objs[j]);
		free(r->objs);
		if (r->ring)
			ring_clear(r, st->history);
		free(r->ring);
	}
	for (size_t i = 0; st->snaps && i < st->nsnaps; i++)
		snapshot_free(st->snaps[i]);
	free(st->snaps);
	free(st->ipmap);
	pthread_rwlock_destroy(&st->lock);
	pthread_mutex_destroy(&st->misc_mu);
	pthread_mutex_destroy(&st->snap_mu);
	free(st);
}

bool ds_k8s_store_serves(const ds_k8s_store_t *st, ds_k8s_res_t res)
{
	return !resinfo[res].generic || st->generic_kinds;
}

void ds_k8s_store_set_notify(ds_k8s_store_t *st, ds_k8s_notify_fn fn, void *ctx)
{
	st->notify = fn;
	st->notify_ctx = ctx;
}

uint64_t ds_k8s_store_rv(ds_k8s_store_t *st)
{
	return atomic_load(&st->rv);
}

size_t ds_k8s_store_count(ds_k8s_store_t *st, ds_k8s_res_t res)
{
	pthread_rwlock_rdlock(&st->lock);
	size_t n = st->r[res].n;
	pthread_rwlock_unlock(&st->lock);
	return n;
}

void ds_k8s_store_stats(ds_k8s_store_t *st, ds_k8s_store_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&st->lock);
	out->rv = atomic_load(&st->rv);
	for (int i = 0; i < DS_K8S_NRES; i++) {
		out->objects[i] = st->r[i].n;
		out->events[i] = st->r[i].nevents;
		out->history_floor[i] = st->r[i].floor_rv;
	}
	out->added = st->added;
	out->modified = st->modified;
	out->deleted = st->deleted;
	out->compactions = st->compactions;
	pthread_rwlock_unlock(&st->lock);
	pthread_mutex_lock(&st->snap_mu);
	out->snapshots = st->nsnaps;
	pthread_mutex_unlock(&st->snap_mu);
}

/* Index of key, or -(insertion point) - 1. Caller holds the lock. */
static ptrdiff_t find(const resstate_t *r, const char *key)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->objs[mid]->meta->key, key);
		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ptrdiff_t)lo - 1;
}

static size_t lower_bound(const resstate_t *r, const char *key)
{
	ptrdiff_t i = find(r, key);
	return i >= 0 ? (size_t)i : (size_t)(-i - 1);
}

/* [*lo, *hi) of the objects in namespace ns (all when ns is NULL). */
static void ns_range(const resstate_t *r, const ds_k8s_resinfo_t *ri, const char *ns, size_t *lo,
		     size_t *hi)
{
	if (!ns || !ri->namespaced) {
		*lo = 0;
		*hi = r->n;
		return;
	}
	/* Keys are "ns/name": the namespace's keys sort between "ns/" and
	 * "ns0" because '0' follows '/'. */
	char k[320];
	snprintf(k, sizeof(k), "%s/", ns);
	*lo = lower_bound(r, k);
	k[strlen(k) - 1] = '0';
	*hi = lower_bound(r, k);
}

static int make_key(ds_k8s_res_t res, const char *ns, const char *name, char *out, size_t len)
{
	int n = resinfo[res].namespaced ? snprintf(out, len, "%s/%s", ns ? ns : "", name)
					: snprintf(out, len, "%s", name);
	return n > 0 && (size_t)n < len ? DS_OK : DS_EINVAL;
}

static int insert_at(resstate_t *r, size_t i, ds_k8s_obj_t *o)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		ds_k8s_obj_t **p = realloc(r->objs, cap * sizeof(*p));
		if (!p)
			return DS_ENOMEM;
		r->objs = p;
		r->cap = cap;
	}
	memmove(&r->objs[i + 1], &r->objs[i], (r->n - i) * sizeof(*r->objs));
	r->objs[i] = o;
	r->n++;
	return DS_OK;
}

static void remove_at(resstate_t *r, size_t i)
{
	memmove(&r->objs[i], &r->objs[i + 1], (r->n - i - 1) * sizeof(*r->objs));
	r->n--;
}

/* Record an event; takes over the references to obj and prev. Lock held. */
static void ring_push(ds_k8s_store_t *st, ds_k8s_res_t res, ds_k8s_evtype_t type, ds_k8s_obj_t *obj,
		      ds_k8s_obj_t *prev)
{
	resstate_t *r = &st->r[res];
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (tail - r->head == st->history) {
		event_t *old = &r->ring[r->head % st->history];
		r->floor_rv = old->rv;
		ds_k8s_obj_unref(old->obj);
		ds_k8s_obj_unref(old->prev);
		r->head++;
	}
	event_t *e = &r->ring[tail % st->history];
	e->rv = obj->rv;
	e->type = type;
	e->obj = obj;
	e->prev = prev;
	r->nevents++;
	if (type == DS_K8S_EV_ADDED)
		st->added++;
	else if (type == DS_K8S_EV_MODIFIED)
		st->modified++;
	else
		st->deleted++;
	/* Release: a watcher that sees the new tail also sees the event. */
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

static uint64_t next_rv(ds_k8s_store_t *st)
{
	return atomic_fetch_add(&st->rv, 1) + 1;
}

static void notify(ds_k8s_store_t *st, ds_k8s_res_t res)
{
	if (st->notify)
		st->notify(st->notify_ctx, res);
}

/* ---- cluster IPs ---- */

static bool ip_bit(ds_k8s_store_t *st, uint32_t off)
{
	return st->ipmap[off / 8] & (1u << (off % 8));
}

/* Offset of ip in the service range, or -1. */
static long svc_off(const char *ip)
{
	struct in_addr a;
	if (!ip || inet_pton(AF_INET, ip, &a) != 1)
		return -1;
	uint32_t v = ntohl(a.s_addr);
	if ((v & ~((1u << SVC_BITS) - 1)) != SVC_NET)
		return -1;
	return (long)(v - SVC_NET);
}

static void ip_mark(ds_k8s_store_t *st, const char *ip, bool used)
{
	long off = svc_off(ip);
	if (off <= 0 || off >= (1L << SVC_BITS) - 1)
		return;
	pthread_mutex_lock(&st->misc_mu);
	if (used)
		st->ipmap[off / 8] |= (uint8_t)(1u << (off % 8));
	else
		st->ipmap[off / 8] &= (uint8_t) ~(1u << (off % 8));
	pthread_mutex_unlock(&st->misc_mu);
}

static int ip_alloc(ds_k8s_store_t *st, char *out, char *out6)
{
	pthread_mutex_lock(&st->misc_mu);
	uint32_t n = 1u << SVC_BITS;
	uint32_t start = (uint32_t)ds_rng_below(&st->rng, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = (start + i) & (n - 1);
		if (ip_bit(st, off))
			continue;
		st->ipmap[off / 8] |= (uint8_t)(1u << (off % 8));
		pthread_mutex_unlock(&st->misc_mu);
		uint32_t v = SVC_NET + off;
		sprintf(out, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
		/* The IPv6 twin mirrors the IPv4 offset so both are predictable. */
		struct in6_addr a6;
		inet_pton(AF_INET6, "fd00:10:96::", &a6);
		a6.s6_addr[13] = (uint8_t)(off >> 16);
		a6.s6_addr[14] = (uint8_t)(off >> 8);
		a6.s6_addr[15] = (uint8_t)off;
		inet_ntop(AF_INET6, &a6, out6, INET6_ADDRSTRLEN);
		return DS_OK;
	}
	pthread_mutex_unlock(&st->misc_mu);
	return DS_ENOSPC;
}

/* ---- validation and defaulting ---- */

static bool dns_label(const char *s, bool letter_first)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return false;
	return !letter_first || (s[0] >= 'a' && s[0] <= 'z');
}

static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

/* RBAC objects only need a name that is one URL path segment: the API
 * server's own roles are named "system:coredns" and the like. */
static bool path_segment(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strpbrk(s, "/%");
}

typedef struct prep {
	char ip[2][64]; /* cluster IPs this prepare allocated, to undo on failure */
	int nip;
} prep_t;

static void prep_undo(ds_k8s_store_t *st, prep_t *p)
{
	for (int i = 0; i < p->nip; i++)
		ip_mark(st, p->ip[i], false);
	p->nip = 0;
}

static int prepare_service(ds_k8s_store_t *st, cJSON *o, const cJSON *old, prep_t *p,
			   ds_k8s_status_t *s)
{
	cJSON *spec = jobj(o, "spec");
	if (!spec)
		return DS_ENOMEM;
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "type"));
	if (!type) {
		jset_str(spec, "type", "ClusterIP");
		type = "ClusterIP";
	}
	const char *name = jpath_str(o, "metadata.name");
	if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer") &&
	    strcmp(type, "ExternalName"))
		return ds_k8s_status_set(s, 422, "Invalid",
					 "Service \"%s\" is invalid: spec.type: Unsupported value: "
					 "\"%s\"",
					 name, type);
	if (!cJSON_GetObjectItemCaseSensitive(spec, "sessionAffinity"))
		jset_str(spec, "sessionAffinity", "None");
	cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports");
	cJSON *port;
	cJSON_ArrayForEach(port, ports)
	{
		if (!cJSON_GetObjectItemCaseSensitive(port, "protocol"))
			jset_str(port, "protocol", "TCP");
		cJSON *pn = cJSON_GetObjectItemCaseSensitive(port, "port");
		if (!cJSON_IsNumber(pn) || pn->valuedouble < 1 || pn->valuedouble > 65535)
			return ds_k8s_status_set(s, 422, "Invalid",
						 "Service \"%s\" is invalid: spec.ports.port: "
						 "Invalid value: must be between 1 and 65535",
						 name);
		if (!cJSON_GetObjectItemCaseSensitive(port, "targetPort"))
			cJSON_AddNumberToObject(port, "targetPort", pn->valuedouble);
	}
	if (!strcmp(type, "ExternalName")) {
		const char *ext =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "externalName"));
		if (!ext || !*ext)
			return ds_k8s_status_set(s, 422, "Invalid",
						 "Service \"%s\" is invalid: spec.externalName: "
						 "Required value",
						 name);
		return DS_OK;
	}
	const char *cip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "clusterIP"));
	const char *old_cip = old ? jpath_str(old, "spec.clusterIP") : NULL;
	const char *old_type = old ? jpath_str(old, "spec.type") : NULL;
	if (old_cip && *old_cip && old_type && strcmp(old_type, "ExternalName")) {
		if (!cip || !*cip) {
			jset_str(spec, "clusterIP", old_cip);
			cJSON *oips = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(old, "spec"), "clusterIPs");
			cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
			if (oips)
				cJSON_AddItemToObject(spec, "clusterIPs",
						      cJSON_Duplicate(oips, true));
			cip = old_cip;
		} else if (strcmp(cip, old_cip)) {
			return ds_k8s_status_set(
			    s, 422, "Invalid",
			    "Service \"%s\" is invalid: spec.clusterIP: Invalid "
			    "value: \"%s\": field is immutable",
			    name, cip);
		}
	}
	const char *pol = jpath_str(o, "spec.ipFamilyPolicy");
	bool dual = pol && (!strcmp(pol, "PreferDualStack") || !strcmp(pol, "RequireDualStack"));
	if (!cip || !*cip) {
		char v4[64], v6[64];
		if (ip_alloc(st, v4, v6))
			return ds_k8s_status_set(s, 500, "InternalError",
						 "failed to allocate a serviceIP: range is full");
		snprintf(p->ip[p->nip++], sizeof(p->ip[0]), "%s", v4);
		jset_str(spec, "clusterIP", v4);
		cJSON *ips = cJSON_CreateArray();
		cJSON_AddItemToArray(ips, cJSON_CreateString(v4));
		if (dual)
			cJSON_AddItemToArray(ips, cJSON_CreateString(v6));
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
		cJSON_AddItemToObject(spec, "clusterIPs", ips);
	} else if (strcmp(cip, "None")) {
		uint8_t buf[16];
		if (!ds_ip_parse(cip, buf))
			return ds_k8s_status_set(
			    s, 422, "Invalid",
			    "Service \"%s\" is invalid: spec.clusterIP: Invalid "
			    "value: \"%s\": must be a valid IP address",
			    name, cip);
		if (!old_cip || strcmp(old_cip, cip))
			ip_mark(st, cip, true);
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs")) {
		cJSON *ips = cJSON_CreateArray();
		cJSON_AddItemToArray(ips, cJSON_CreateString(jpath_str(o, "spec.clusterIP")));
		cJSON_AddItemToObject(spec, "clusterIPs", ips);
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "ipFamilies")) {
		cJSON *fam = cJSON_CreateArray();
		cJSON *ip;
		bool any = false;
		cJSON_ArrayForEach(ip, cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs"))
		{
			const char *v = cJSON_GetStringValue(ip);
			if (!v || !strcmp(v, "None"))
				continue;
			cJSON_AddItemToArray(fam,
					     cJSON_CreateString(strchr(v, ':') ? "IPv6" : "IPv4"));
			any = true;
		}
		if (!any)
			cJSON_AddItemToArray(fam, cJSON_CreateString("IPv4"));
		cJSON_AddItemToObject(spec, "ipFamilies", fam);
	}
	if (!pol)
		jset_str(spec, "ipFamilyPolicy", "SingleStack");
	if (!cJSON_GetObjectItemCaseSensitive(spec, "internalTrafficPolicy"))
		jset_str(spec, "internalTrafficPolicy", "Cluster");
	cJSON *status = jobj(o, "status");
	if (status && !cJSON_GetObjectItemCaseSensitive(status, "loadBalancer"))
		cJSON_AddObjectToObject(status, "loadBalancer");
	return DS_OK;
}

/*
 * Validate and default obj for res. url_ns is the namespace of the request
 * URL (NULL when none); old is the current version for updates (NULL on
 * create). loading keeps uid/creationTimestamp/status as given.
 */
static int prepare(ds_k8s_store_t *st, ds_k8s_res_t res, cJSON *o, const char *url_ns,
		   const cJSON *old, prep_t *p, ds_k8s_status_t *s)
{
	const ds_k8s_resinfo_t *ri = &resinfo[res];
	if (!cJSON_IsObject(o))
		return ds_k8s_status_set(s, 400, "BadRequest", "the body must be a JSON object");
	const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "apiVersion"));
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "kind"));
	if ((av && strcmp(av, ri->api_version)) || (kind && strcmp(kind, ri->kind)))
		return ds_k8s_status_set(s, 400, "BadRequest",
					 "the API version in the data (%s) or kind (%s) does not "
					 "match the expected %s %s",
					 av ? av : "", kind ? kind : "", ri->api_version, ri->kind);
	jset_str(o, "apiVersion", ri->api_version);
	jset_str(o, "kind", ri->kind);
	cJSON *md = jobj(o, "metadata");
	if (!md)
		return DS_ENOMEM;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const char *gen =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "generateName"));
	if ((!name || !*name) && gen && *gen && !old) {
		static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
		char buf[300];
		pthread_mutex_lock(&st->misc_mu);
		/* The API server cuts the prefix to 58 bytes so that the name
		 * with its 5 random characters is still a DNS label; cutting
		 * also keeps the suffix inside buf (snprintf returns the
		 * untruncated length). */
		int n = snprintf(buf, sizeof(buf), "%.58s", gen);
		for (int i = 0; i < 5; i++)
			buf[n + i] = alnum[ds_rng_below(&st->rng, sizeof(alnum) - 1)];
		pthread_mutex_unlock(&st->misc_mu);
		buf[n + 5] = 0;
		jset_str(md, "name", buf);
		name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	}
	if (!name || !*name)
		return ds_k8s_status_set(s, 422, "Invalid",
					 "%s \"\" is invalid: metadata.name: Required value: name "
					 "or generateName is required",
					 ri->kind);
	bool label_name = res == DS_K8S_SERVICES || res == DS_K8S_NAMESPACES;
	bool rbac = res == DS_K8S_CLUSTERROLES || res == DS_K8S_CLUSTERROLEBINDINGS;
	if (rbac && !path_segment(name))
		return status_obj(s, 422, "Invalid", res, name,
				  "%s \"%s\" is invalid: metadata.name: Invalid value: \"%s\": "
				  "may not be '.' or '..' and may not contain '/' or '%%'",
				  ri->kind, name, name);
	if (!rbac &&
	    (label_name ? !dns_label(name, res == DS_K8S_SERVICES) : !dns_subdomain(name)))
		return status_obj(s, 422, "Invalid", res, name,
				  "%s \"%s\" is invalid: metadata.name: Invalid value: \"%s\": a "
				  "lowercase RFC 1123 %s must consist of lower case alphanumeric "
				  "characters or '-'",
				  ri->kind, name, name, label_name ? "label" : "subdomain");
	const char *ons = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	if (ri->namespaced) {
		if (ons && *ons && url_ns && strcmp(ons, url_ns))
			return ds_k8s_status_set(s, 400, "BadRequest",
						 "the namespace of the provided object does not "
						 "match the namespace sent on the request");
		if (!ons || !*ons)
			jset_str(md, "namespace", url_ns ? url_ns : "default");
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	}
	cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	if (labels && !cJSON_IsObject(labels) && !cJSON_IsNull(labels))
		return ds_k8s_status_set(s, 400, "BadRequest", "metadata.labels must be a map");
	cJSON *lmap = cJSON_IsObject(labels) ? labels : NULL;
	cJSON *l;
	cJSON_ArrayForEach(l, lmap)
	{
		ds_err_t e;
		if (!cJSON_IsString(l))
			return ds_k8s_status_set(s, 400, "BadRequest",
						 "label \"%s\" must have a string value",
						 l->string);
		if (ds_k8s_label_key_check(l->string, &e) ||
		    ds_k8s_label_value_check(l->valuestring, &e))
			return status_obj(s, 422, "Invalid", res, name,
					  "%s \"%s\" is invalid: metadata.labels: %s", ri->kind,
					  name, e.msg);
	}
	if (old) {
		const char *uid = jpath_str(old, "metadata.uid");
		const char *ct = jpath_str(old, "metadata.creationTimestamp");
		if (uid)
			jset_str(md, "uid", uid);
		if (ct)
			jset_str(md, "creationTimestamp", ct);
	} else {
		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"))) {
			char uid[37];
			pthread_mutex_lock(&st->misc_mu);
			ds_k8s_uuid(&st->rng, uid);
			pthread_mutex_unlock(&st->misc_mu);
			jset_str(md, "uid", uid);
		}
		if (!cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(md, "creationTimestamp"))) {
			char t[DS_K8S_TIME_MAX];
			jset_str(md, "creationTimestamp",
				 ds_k8s_fmt_time(ds_wall_ns(), false, t, sizeof(t)));
		}
	}
	switch (res) {
	case DS_K8S_SERVICES:
		return prepare_service(st, o, old, p, s);
	case DS_K8S_ENDPOINTSLICES: {
		const char *at =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "addressType"));
		if (!at || (strcmp(at, "IPv4") && strcmp(at, "IPv6") && strcmp(at, "FQDN")))
			return status_obj(s, 422, "Invalid", res, name,
					  "EndpointSlice.discovery.k8s.io \"%s\" is invalid: "
					  "addressType: Required value",
					  name);
		cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "endpoints");
		if (eps && !cJSON_IsArray(eps) && !cJSON_IsNull(eps))
			return ds_k8s_status_set(s, 400, "BadRequest", "endpoints must be a list");
		return DS_OK;
	}
	case DS_K8S_NAMESPACES: {
		cJSON *lab = jobj(md, "labels");
		/* Real servers label every namespace with its own name. */
		if (lab)
			jset_str(lab, "kubernetes.io/metadata.name", name);
		cJSON *spec = jobj(o, "spec");
		if (spec && !cJSON_GetObjectItemCaseSensitive(spec, "finalizers")) {
			cJSON *f = cJSON_AddArrayToObject(spec, "finalizers");
			cJSON_AddItemToArray(f, cJSON_CreateString("kubernetes"));
		}
		cJSON *status = jobj(o, "status");
		if (status && !cJSON_GetObjectItemCaseSensitive(status, "phase"))
			jset_str(status, "phase", "Active");
		return DS_OK;
	}
	case DS_K8S_PODS: {
		cJSON *status = jobj(o, "status");
		if (status && !cJSON_GetObjectItemCaseSensitive(status, "phase"))
			jset_str(status, "phase", "Pending");
		return DS_OK;
	}
	default:
		return DS_OK;
	}
}

static void release_ips(ds_k8s_store_t *st, const ds_k8s_obj_t *o)
{
	if (o->res != DS_K8S_SERVICES)
		return;
	for (size_t i = 0; i < o->meta->nfields; i++)
		if (!strcmp(o->meta->fields[i].key, "spec.clusterIP"))
			ip_mark(st, o->meta->fields[i].val, false);
}

/* ---- loading ---- */

int ds_k8s_store_load(ds_k8s_store_t *st, cJSON *obj, ds_err_t *err)
{
	const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"));
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
	int res = ds_k8s_res_by_kind(av, kind);
	if (res < 0 || !ds_k8s_store_serves(st, (ds_k8s_res_t)res))
		return ds_errf(err, DS_ENOENT, "unsupported kind %s %s", av ? av : "?",
			       kind ? kind : "?");
	prep_t p = {0};
	ds_k8s_status_t s;
	const char *ns = jpath_str(obj, "metadata.namespace");
	/* Over HTTP the namespace comes from the URL and must exist; a
	 * loaded object names its own, and seal would then fail to create
	 * a Namespace of that name: refuse it here, naming the object. */
	if (resinfo[res].namespaced && ns && *ns && !dns_label(ns, false)) {
		const char *name = jpath_str(obj, "metadata.name");
		return ds_errf(err, DS_EINVAL,
			       "%s \"%s\" is invalid: metadata.namespace: Invalid value: \"%s\": a "
			       "lowercase RFC 1123 label must consist of lower case alphanumeric "
			       "characters or '-'",
			       resinfo[res].kind, name ? name : "", ns);
	}
	char nsbuf[256];
	snprintf(nsbuf, sizeof(nsbuf), "%s", ns ? ns : "");
	int rc = prepare(st, (ds_k8s_res_t)res, obj, nsbuf[0] ? nsbuf : NULL, NULL, &p, &s);
	if (rc)
		return ds_errf(err, rc == DS_ENOMEM ? rc : DS_EINVAL, "%s", s.message);
	ds_k8s_obj_t *o = obj_build((ds_k8s_res_t)res, obj, 0);
	if (!o)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	obj_stamp(o, next_rv(st));
	resstate_t *r = &st->r[res];
	/* Appended unsorted: one sort at seal beats 150k sorted inserts. */
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		ds_k8s_obj_t **np = realloc(r->objs, cap * sizeof(*np));
		if (!np) {
			ds_k8s_obj_unref(o);
			return ds_errf(err, DS_ENOMEM, "out of memory");
		}
		r->objs = np;
		r->cap = cap;
	}
	r->objs[r->n++] = o;
	return DS_OK;
}

static int cmp_key_rv(const void *a, const void *b)
{
	const ds_k8s_obj_t *x = *(ds_k8s_obj_t *const *)a, *y = *(ds_k8s_obj_t *const *)b;
	int c = strcmp(x->meta->key, y->meta->key);
	if (c)
		return c;
	return x->rv < y->rv ? -1 : x->rv > y->rv;
}

static void sort_dedupe(ds_k8s_store_t *st, resstate_t *r, size_t *dups)
{
	if (r->n > 1)
		qsort(r->objs, r->n, sizeof(*r->objs), cmp_key_rv);
	size_t w = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (w && !strcmp(r->objs[w - 1]->meta->key, r->objs[i]->meta->key)) {
			/* Later files override earlier ones, as a re-apply would. */
			release_ips(st, r->objs[w - 1]);
			ds_k8s_obj_unref(r->objs[w - 1]);
			r->objs[w - 1] = r->objs[i];
			(*dups)++;
			continue;
		}
		r->objs[w++] = r->objs[i];
	}
	r->n = w;
}

static int add_namespace(ds_k8s_store_t *st, const char *name, ds_err_t *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Namespace");
	int rc = ds_k8s_store_load(st, o, err);
	cJSON_Delete(o);
	return rc;
}

int ds_k8s_store_seal(ds_k8s_store_t *st, size_t *dups, ds_err_t *err)
{
	size_t d = 0;
	static const char *const sys[] = {"default", "kube-system", "kube-public",
					  "kube-node-lease"};
	for (int i = 0; i < DS_K8S_NRES; i++)
		sort_dedupe(st, &st->r[i], &d);
	resstate_t *nsr = &st->r[DS_K8S_NAMESPACES];
	size_t before = nsr->n;
	/* A loaded Service in a namespace nobody declared would be invisible
	 * to CoreDNS (it needs the Namespace object), so declare it. */
	for (size_t i = 0; i < DS_ARRAY_SIZE(sys); i++)
		if (find(nsr, sys[i]) < 0 && add_namespace(st, sys[i], err))
			return DS_ENOMEM;
	for (int i = 0; i < DS_K8S_NRES; i++) {
		if (!resinfo[i].namespaced)
			continue;
		const char *last = NULL;
		for (size_t j = 0; j < st->r[i].n; j++) {
			const char *ns = st->r[i].objs[j]->meta->ns;
			if (last && !strcmp(last, ns))
				continue;
			last = ns;
			resstate_t sorted = *nsr;
			sorted.n = before;
			bool have = find(&sorted, ns) >= 0;
			/* Namespaces added here are not sorted yet: few, so scan them. */
			for (size_t k = before; k < nsr->n && !have; k++)
				have = !strcmp(nsr->objs[k]->meta->name, ns);
			if (!have && add_namespace(st, ns, err))
				return DS_ENOMEM;
		}
	}
	sort_dedupe(st, nsr, &d);
	uint64_t rv = atomic_load(&st->rv);
	for (int i = 0; i < DS_K8S_NRES; i++)
		st->r[i].floor_rv = rv;
	st->sealed = true;
	if (dups)
		*dups = d;
	return DS_OK;
}

/* ---- single-object API ---- */

int ds_k8s_store_get(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
		     ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	char key[600];
	*out = NULL;
	if (make_key(res, ns, name, key, sizeof(key)))
		return status_obj(status, 404, "NotFound", res, name, "%s \"%s\" not found",
				  qualified(res), name);
	pthread_rwlock_rdlock(&st->lock);
	ptrdiff_t i = find(&st->r[res], key);
	if (i >= 0)
		*out = ds_k8s_obj_ref(st->r[res].objs[i]);
	pthread_rwlock_unlock(&st->lock);
	if (i < 0)
		return status_obj(status, 404, "NotFound", res, name, "%s \"%s\" not found",
				  qualified(res), name);
	return DS_OK;
}

int ds_k8s_store_create(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, cJSON *obj,
			ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	prep_t p = {0};
	if (out)
		*out = NULL;
	if (!ds_k8s_store_serves(st, res))
		return ds_k8s_status_set(status, 404, "NotFound",
					 "the server could not find the requested resource");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	/* The server owns these on create. */
	cJSON_DeleteItemFromObjectCaseSensitive(md, "uid");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "creationTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "deletionTimestamp");
	int rc = prepare(st, res, obj, ns, NULL, &p, status);
	if (rc)
		goto fail;
	ds_k8s_obj_t *o = obj_build(res, obj, 0);
	if (!o) {
		rc = ds_k8s_status_set(status, 500, "InternalError", "out of memory");
		goto fail;
	}
	resstate_t *r = &st->r[res];
	pthread_rwlock_wrlock(&st->lock);
	if (resinfo[res].namespaced && find(&st->r[DS_K8S_NAMESPACES], o->meta->ns) < 0) {
		pthread_rwlock_unlock(&st->lock);
		rc = status_obj(status, 404, "NotFound", DS_K8S_NAMESPACES, o->meta->ns,
				"namespaces \"%s\" not found", o->meta->ns);
		ds_k8s_obj_unref(o);
		goto fail;
	}
	ptrdiff_t i = find(r, o->meta->key);
	if (i >= 0) {
		pthread_rwlock_unlock(&st->lock);
		rc = status_obj(status, 409, "AlreadyExists", res, o->meta->name,
				"%s \"%s\" already exists", qualified(res), o->meta->name);
		ds_k8s_obj_unref(o);
		goto fail;
	}
	obj_stamp(o, next_rv(st));
	if (insert_at(r, (size_t)(-i - 1), o)) {
		pthread_rwlock_unlock(&st->lock);
		ds_k8s_obj_unref(o);
		rc = ds_k8s_status_set(status, 500, "InternalError", "out of memory");
		goto fail;
	}
	ring_push(st, res, DS_K8S_EV_ADDED, ds_k8s_obj_ref(o), NULL);
	if (out)
		*out = ds_k8s_obj_ref(o);
	pthread_rwlock_unlock(&st->lock);
	notify(st, res);
	return DS_OK;
fail:
	prep_undo(st, &p);
	return rc;
}

/*
 * What prepare() needs to know of the version being replaced: a copy of
 * these few fields saves parsing the whole object a second time.
 */
static cJSON *old_facts(const cJSON *cur)
{
	static const char *const paths[][2] = {
	    {"metadata", "uid"},    {"metadata", "creationTimestamp"},
	    {"spec", "type"},       {"spec", "clusterIP"},
	    {"spec", "clusterIPs"},
	};
	cJSON *f = cJSON_CreateObject();
	for (size_t i = 0; f && i < DS_ARRAY_SIZE(paths); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cur, paths[i][0]), paths[i][1]);
		if (!v)
			continue;
		cJSON *parent = jobj(f, paths[i][0]);
		cJSON *c = cJSON_Duplicate(v, true);
		if (parent && c)
			cJSON_AddItemToObject(parent, paths[i][1], c);
		else
			cJSON_Delete(c);
	}
	return f;
}

/* fn for ds_k8s_store_mutate: replaces *obj. */
typedef int (*replace_fn)(void *arg, cJSON **obj, const ds_k8s_obj_t *cur, ds_k8s_status_t *status);

static int replace_common(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			  replace_fn fn, void *arg, ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	if (out)
		*out = NULL;
	/* Optimistic: build outside the lock, commit only if nobody changed
	 * the object meanwhile; a few retries absorb concurrent churn. */
	for (int attempt = 0; attempt < 16; attempt++) {
		ds_k8s_obj_t *cur;
		int rc = ds_k8s_store_get(st, res, ns, name, &cur, status);
		if (rc)
			return rc;
		cJSON *o = ds_k8s_obj_parse(cur);
		cJSON *old = o ? old_facts(o) : NULL;
		prep_t p = {0};
		if (!o || !old) {
			rc = ds_k8s_status_set(status, 500, "InternalError", "out of memory");
			goto fail;
		}
		if ((rc = fn(arg, &o, cur, status)))
			goto fail;
		const char *nn = jpath_str(o, "metadata.name");
		const char *nns = jpath_str(o, "metadata.namespace");
		if (nn && strcmp(nn, cur->meta->name)) {
			rc =
			    ds_k8s_status_set(status, 400, "BadRequest",
					      "the name of the object (%s) does not match the name "
					      "on the URL (%s)",
					      nn, cur->meta->name);
			goto fail;
		}
		if (resinfo[res].namespaced && nns && *nns && strcmp(nns, cur->meta->ns)) {
			rc =
			    ds_k8s_status_set(status, 400, "BadRequest",
					      "the namespace of the provided object does not match "
					      "the namespace sent on the request");
			goto fail;
		}
		if (cJSON_IsObject(o)) {
			cJSON *md = jobj(o, "metadata");
			if (md && !nn)
				jset_str(md, "name", cur->meta->name);
		}
		if ((rc = prepare(st, res, o, resinfo[res].namespaced ? cur->meta->ns : NULL, old,
				  &p, status)))
			goto fail;
		ds_k8s_obj_t *nobj = obj_build(res, o, cur->len);
		if (!nobj) {
			rc = ds_k8s_status_set(status, 500, "InternalError", "out of memory");
			goto fail;
		}
		resstate_t *r = &st->r[res];
		pthread_rwlock_wrlock(&st->lock);
		ptrdiff_t i = find(r, cur->meta->key);
		if (i < 0 || r->objs[i] != cur) {
			pthread_rwlock_unlock(&st->lock);
			ds_k8s_obj_unref(nobj);
			prep_undo(st, &p);
			cJSON_Delete(o);
			cJSON_Delete(old);
			ds_k8s_obj_unref(cur);
			continue;
		}
		obj_stamp(nobj, next_rv(st));
		r->objs[i] = nobj;
		/* The array's reference to cur moves to the event's prev. */
		ring_push(st, res, DS_K8S_EV_MODIFIED, ds_k8s_obj_ref(nobj), cur);
		if (out)
			*out = ds_k8s_obj_ref(nobj);
		pthread_rwlock_unlock(&st->lock);
		notify(st, res);
		cJSON_Delete(o);
		cJSON_Delete(old);
		ds_k8s_obj_unref(cur);
		return DS_OK;
	fail:
		prep_undo(st, &p);
		cJSON_Delete(o);
		cJSON_Delete(old);
		ds_k8s_obj_unref(cur);
		return rc;
	}
	return status_obj(status, 409, "Conflict", res, name,
			  "Operation cannot be fulfilled on %s \"%s\": the object has been "
			  "modified; please apply your changes to the latest version and try again",
			  qualified(res), name);
}

static int conflict(ds_k8s_status_t *status, const ds_k8s_obj_t *cur)
{
	return status_obj(status, 409, "Conflict", cur->res, cur->meta->name,
			  "Operation cannot be fulfilled on %s \"%s\": the object has been "
			  "modified; please apply your changes to the latest version and try again",
			  qualified(cur->res), cur->meta->name);
}

/* A resourceVersion in the new body must be the current one (optimistic concurrency). */
static int check_rv(const cJSON *o, const ds_k8s_obj_t *cur, ds_k8s_status_t *status)
{
	const char *rv = jpath_str(o, "metadata.resourceVersion");
	if (!rv || !*rv)
		return DS_OK;
	char want[24];
	snprintf(want, sizeof(want), "%" PRIu64, cur->rv);
	return strcmp(rv, want) ? conflict(status, cur) : DS_OK;
}

static int update_fn(void *arg, cJSON **obj, const ds_k8s_obj_t *cur, ds_k8s_status_t *status)
{
	const cJSON *body = arg;
	int rc = check_rv(body, cur, status);
	if (rc)
		return rc;
	cJSON *copy = cJSON_Duplicate(body, true);
	if (!copy)
		return ds_k8s_status_set(status, 500, "InternalError", "out of memory");
	cJSON_Delete(*obj);
	*obj = copy;
	return DS_OK;
}

int ds_k8s_store_update(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			cJSON *obj, ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	return replace_common(st, res, ns, name, update_fn, obj, out, status);
}

typedef struct patch_arg {
	ds_k8s_patch_type_t type;
	const cJSON *patch;
} patch_arg_t;

static int patch_fn(void *arg, cJSON **obj, const ds_k8s_obj_t *cur, ds_k8s_status_t *status)
{
	patch_arg_t *pa = arg;
	ds_err_t e;
	int rc;
	if (pa->type == DS_K8S_PATCH_JSON) {
		rc = ds_k8s_json_patch(obj, pa->patch, &e);
		if (rc == DS_EINVAL)
			return ds_k8s_status_set(status, 422, "Invalid", "%s", e.msg);
	} else {
		if (!cJSON_IsObject(pa->patch))
			return ds_k8s_status_set(status, 400, "BadRequest",
						 "a merge patch must be a JSON object");
		rc = ds_k8s_merge_patch(obj, pa->patch, pa->type == DS_K8S_PATCH_STRATEGIC);
	}
	if (rc)
		return ds_k8s_status_set(status, 500, "InternalError", "out of memory");
	return check_rv(*obj, cur, status);
}

int ds_k8s_store_patch(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
		       ds_k8s_patch_type_t type, const cJSON *patch, ds_k8s_obj_t **out,
		       ds_k8s_status_t *status)
{
	patch_arg_t pa = {type, patch};
	return replace_common(st, res, ns, name, patch_fn, &pa, out, status);
}

typedef struct mutate_arg {
	ds_k8s_mutate_fn fn;
	void *arg;
} mutate_arg_t;

static int mutate_fn(void *arg, cJSON **obj, const ds_k8s_obj_t *cur, ds_k8s_status_t *status)
{
	mutate_arg_t *ma = arg;
	return ma->fn(ma->arg, *obj, status);
}

int ds_k8s_store_mutate(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			ds_k8s_mutate_fn fn, void *arg, ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	mutate_arg_t ma = {fn, arg};
	return replace_common(st, res, ns, name, mutate_fn, &ma, out, status);
}

/* Remove objs[i] with a DELETED event. Lock held. */
static ds_k8s_obj_t *delete_at(ds_k8s_store_t *st, ds_k8s_res_t res, size_t i)
{
	resstate_t *r = &st->r[res];
	ds_k8s_obj_t *cur = r->objs[i];
	ds_k8s_obj_t *del = obj_restamp(cur, next_rv(st));
	if (!del) {
		/* Out of memory: deliver the last version rather than lose the event. */
		del = ds_k8s_obj_ref(cur);
	}
	remove_at(r, i);
	release_ips(st, cur);
	ring_push(st, res, DS_K8S_EV_DELETED, del, cur);
	return del;
}

int ds_k8s_store_delete(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			ds_k8s_obj_t **out, ds_k8s_status_t *status)
{
	char key[600];
	if (out)
		*out = NULL;
	if (make_key(res, ns, name, key, sizeof(key)))
		return status_obj(status, 404, "NotFound", res, name, "%s \"%s\" not found",
				  qualified(res), name);
	pthread_rwlock_wrlock(&st->lock);
	ptrdiff_t i = find(&st->r[res], key);
	if (i < 0) {
		pthread_rwlock_unlock(&st->lock);
		return status_obj(status, 404, "NotFound", res, name, "%s \"%s\" not found",
				  qualified(res), name);
	}
	ds_k8s_obj_t *del = delete_at(st, res, (size_t)i);
	if (out)
		*out = ds_k8s_obj_ref(del);
	bool cascade = res == DS_K8S_NAMESPACES;
	if (cascade) {
		/* Namespace deletion is immediate here: its contents go with it,
		 * without the Terminating phase of a real server. */
		for (int k = 0; k < DS_K8S_NRES; k++) {
			if (!resinfo[k].namespaced)
				continue;
			size_t lo, hi;
			ns_range(&st->r[k], &resinfo[k], name, &lo, &hi);
			while (hi > lo)
				delete_at(st, (ds_k8s_res_t)k, --hi);
		}
	}
	pthread_rwlock_unlock(&st->lock);
	if (cascade) {
		for (int k = 0; k < DS_K8S_NRES; k++)
			notify(st, (ds_k8s_res_t)k);
	} else {
		notify(st, res);
	}
	return DS_OK;
}

int ds_k8s_store_splice(ds_k8s_store_t *st, ds_k8s_obj_t *cur, const ds_k8s_edit_t *ed, size_t n,
			ds_k8s_obj_t **out)
{
	if (out)
		*out = NULL;
	size_t len = cur->len - cur->rv_len + RV_ROOM;
	for (size_t i = 0; i < n; i++)
		len = len - ed[i].len + ed[i].tlen;
	ds_k8s_obj_t *o = calloc(1, sizeof(*o));
	char *txt = malloc(len + 1);
	if (!o || !txt) {
		free(o);
		free(txt);
		return DS_ENOMEM;
	}
	/* Copy cur's text with the edits and the resourceVersion room applied
	 * in offset order. */
	size_t from = 0, w = 0, rv_off = 0;
	bool rv_done = false;
	for (size_t i = 0; i <= n; i++) {
		size_t at = i < n ? ed[i].off : cur->len;
		if (!rv_done && cur->rv_off < at) {
			memcpy(txt + w, cur->json + from, cur->rv_off - from);
			w += cur->rv_off - from;
			rv_off = w;
			memset(txt + w, '0', RV_ROOM);
			w += RV_ROOM;
			from = cur->rv_off + cur->rv_len;
			rv_done = true;
		}
		memcpy(txt + w, cur->json + from, at - from);
		w += at - from;
		if (i == n)
			break;
		memcpy(txt + w, ed[i].text, ed[i].tlen);
		w += ed[i].tlen;
		from = at + ed[i].len;
	}
	txt[w] = 0;
	o->json = txt;
	o->len = w;
	o->rv_off = rv_off;
	o->rv_len = RV_ROOM;
	o->res = cur->res;
	atomic_init(&o->ref, 1);
	o->meta = cur->meta;
	atomic_fetch_add_explicit(&cur->meta->ref, 1, memory_order_relaxed);
	resstate_t *r = &st->r[cur->res];
	pthread_rwlock_wrlock(&st->lock);
	ptrdiff_t i = find(r, cur->meta->key);
	if (i < 0 || r->objs[i] != cur) {
		pthread_rwlock_unlock(&st->lock);
		ds_k8s_obj_unref(o);
		return DS_EAGAIN;
	}
	obj_stamp(o, next_rv(st));
	r->objs[i] = o;
	/* The array's reference to cur moves to the event's prev. */
	ring_push(st, cur->res, DS_K8S_EV_MODIFIED, ds_k8s_obj_ref(o), cur);
	if (out)
		*out = ds_k8s_obj_ref(o);
	pthread_rwlock_unlock(&st->lock);
	notify(st, cur->res);
	return DS_OK;
}

ds_k8s_obj_t *ds_k8s_store_pick(ds_k8s_store_t *st, ds_k8s_res_t res, ds_rng_t *rng)
{
	ds_k8s_obj_t *o = NULL;
	pthread_rwlock_rdlock(&st->lock);
	resstate_t *r = &st->r[res];
	if (r->n)
		o = ds_k8s_obj_ref(r->objs[ds_rng_below(rng, r->n)]);
	pthread_rwlock_unlock(&st->lock);
	return o;
}

void ds_k8s_store_compact(ds_k8s_store_t *st)
{
	pthread_rwlock_wrlock(&st->lock);
	uint64_t rv = atomic_load(&st->rv);
	for (int i = 0; i < DS_K8S_NRES; i++) {
		ring_clear(&st->r[i], st->history);
		st->r[i].floor_rv = rv;
	}
	st->compactions++;
	pthread_rwlock_unlock(&st->lock);
	pthread_mutex_lock(&st->snap_mu);
	for (size_t i = 0; i < st->nsnaps; i++)
		snapshot_free(st->snaps[i]);
	st->nsnaps = 0;
	pthread_mutex_unlock(&st->snap_mu);
}

/* ---- selection ---- */

int ds_k8s_store_check_fields(ds_k8s_res_t res, const ds_k8s_sel_t *fsel, ds_k8s_status_t *st)
{
	for (size_t i = 0; fsel && i < fsel->n; i++) {
		const char *k = fsel->reqs[i].key;
		bool ok = !strcmp(k, "metadata.name") || !strcmp(k, "metadata.namespace");
		for (const char *const *f = resinfo[res].fields; !ok && *f; f++)
			ok = !strcmp(k, *f);
		if (!ok)
			return ds_k8s_status_set(st, 400, "BadRequest",
						 "field label not supported: %s", k);
	}
	return DS_OK;
}

bool ds_k8s_filter_match(const ds_k8s_filter_t *f, const ds_k8s_obj_t *o)
{
	const ds_k8s_meta_t *m = o->meta;
	if (f->ns && resinfo[o->res].namespaced && strcmp(f->ns, m->ns))
		return false;
	if (f->name && strcmp(f->name, m->name))
		return false;
	if (!ds_k8s_sel_match(f->labels, m->labels, m->nlabels))
		return false;
	return ds_k8s_sel_match(f->fields, m->fields, m->nfields);
}

/* ---- LIST ---- */

typedef struct objvec {
	ds_k8s_obj_t **v;
	size_t n, cap;
} objvec_t;

static int vec_push(objvec_t *v, ds_k8s_obj_t *o)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		ds_k8s_obj_t **p = realloc(v->v, cap * sizeof(*p));
		if (!p)
			return DS_ENOMEM;
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = ds_k8s_obj_ref(o);
	return DS_OK;
}

static void vec_free(objvec_t *v)
{
	for (size_t i = 0; i < v->n; i++)
		ds_k8s_obj_unref(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* Keys touched after an RV, mapped to their state at that RV. */
typedef struct ovr {
	const char *key;
	ds_k8s_obj_t *state; /* NULL: did not exist */
	bool seen;
} ovr_t;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static ovr_t *ovr_find(ovr_t *t, size_t cap, const char *key, bool *found)
{
	size_t i = hash_str(key) & (cap - 1);
	while (t[i].key) {
		if (!strcmp(t[i].key, key)) {
			*found = true;
			return &t[i];
		}
		i = (i + 1) & (cap - 1);
	}
	*found = false;
	return &t[i];
}

static int cmp_key(const void *a, const void *b)
{
	const ds_k8s_obj_t *x = *(ds_k8s_obj_t *const *)a, *y = *(ds_k8s_obj_t *const *)b;
	return strcmp(x->meta->key, y->meta->key);
}

/*
 * The objects as they were at rv, rebuilt by undoing the events after it:
 * the state of a key at rv is the prev of its first event after rv.
 * Lock held.
 */
static int list_at(ds_k8s_store_t *st, ds_k8s_res_t res, const ds_k8s_filter_t *f, uint64_t rv,
		   objvec_t *out)
{
	resstate_t *r = &st->r[res];
	uint64_t tail = atomic_load(&r->tail);
	size_t cap = 16;
	while (cap < 2 * (tail - r->head) + 2)
		cap *= 2;
	ovr_t *t = calloc(cap, sizeof(*t));
	objvec_t extra = {0};
	int rc = DS_ENOMEM;
	if (!t)
		return DS_ENOMEM;
	for (uint64_t s = r->head; s < tail; s++) {
		event_t *e = &r->ring[s % st->history];
		if (e->rv <= rv)
			continue;
		bool found;
		ovr_t *slot = ovr_find(t, cap, e->obj->meta->key, &found);
		if (found)
			continue;
		slot->key = e->obj->meta->key;
		slot->state = e->type == DS_K8S_EV_ADDED ? NULL : e->prev;
	}
	size_t lo, hi;
	ns_range(r, &resinfo[res], f->ns, &lo, &hi);
	objvec_t cur = {0};
	for (size_t i = lo; i < hi; i++) {
		bool found;
		ovr_t *slot = ovr_find(t, cap, r->objs[i]->meta->key, &found);
		ds_k8s_obj_t *o = r->objs[i];
		if (found) {
			slot->seen = true;
			o = slot->state;
		}
		if (o && ds_k8s_filter_match(f, o) && vec_push(&cur, o))
			goto fail;
	}
	for (size_t i = 0; i < cap; i++)
		if (t[i].key && !t[i].seen && t[i].state && ds_k8s_filter_match(f, t[i].state) &&
		    vec_push(&extra, t[i].state))
			goto fail;
	if (extra.n) {
		qsort(extra.v, extra.n, sizeof(*extra.v), cmp_key);
		/* Merge the deleted-since objects into the sorted result. */
		objvec_t m = {0};
		size_t a = 0, b = 0;
		while (a < cur.n || b < extra.n) {
			bool take_a =
			    b >= extra.n ||
			    (a < cur.n && strcmp(cur.v[a]->meta->key, extra.v[b]->meta->key) < 0);
			if (vec_push(&m, take_a ? cur.v[a++] : extra.v[b++])) {
				vec_free(&m);
				goto fail;
			}
		}
		vec_free(&cur);
		cur = m;
	}
	*out = cur;
	cur = (objvec_t){0};
	rc = DS_OK;
fail:
	vec_free(&cur);
	vec_free(&extra);
	free(t);
	return rc;
}

static int parse_rv(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return DS_EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return DS_EINVAL;
	*out = v;
	return DS_OK;
}

static char *token_encode(uint64_t rv, uint64_t id, size_t off)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf),
			 "{\"v\":\"dnsurge.k8s-sim/v1\",\"rv\":%" PRIu64 ",\"id\":%" PRIu64
			 ",\"off\":%zu}",
			 rv, id, off);
	return ds_k8s_b64url_encode(buf, (size_t)n);
}

static int token_decode(const char *tok, uint64_t *rv, uint64_t *id, size_t *off)
{
	size_t len;
	char *txt = ds_k8s_b64url_decode(tok, &len);
	if (!txt)
		return DS_EINVAL;
	cJSON *j = cJSON_ParseWithLength(txt, len);
	free(txt);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rv");
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "off");
	int rc = DS_EINVAL;
	if (cJSON_IsString(v) && !strcmp(v->valuestring, "dnsurge.k8s-sim/v1") &&
	    cJSON_IsNumber(r) && cJSON_IsNumber(i) && cJSON_IsNumber(o) && o->valuedouble >= 0) {
		*rv = (uint64_t)r->valuedouble;
		*id = (uint64_t)i->valuedouble;
		*off = (size_t)o->valuedouble;
		rc = DS_OK;
	}
	cJSON_Delete(j);
	return rc;
}

/* Drop expired snapshots. snap_mu held. */
static void snaps_expire(ds_k8s_store_t *st, int64_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < st->nsnaps; i++) {
		if (now - st->snaps[i]->created_ns > st->ttl_ns)
			snapshot_free(st->snaps[i]);
		else
			st->snaps[w++] = st->snaps[i];
	}
	st->nsnaps = w;
}

static int list_page(ds_k8s_store_t *st, ds_k8s_res_t res, const ds_k8s_listopts_t *o,
		     ds_k8s_list_t *out, ds_k8s_status_t *status)
{
	uint64_t trv, id;
	size_t off;
	if (o->rv && *o->rv)
		return ds_k8s_status_set(status, 400, "BadRequest",
					 "specifying resource version is not allowed when using "
					 "continue");
	if (token_decode(o->cont, &trv, &id, &off))
		return ds_k8s_status_set(status, 400, "BadRequest",
					 "continue key is not valid: incorrect encoded start "
					 "resourceVersion (version meta.k8s.io/v1)");
	pthread_mutex_lock(&st->snap_mu);
	snaps_expire(st, ds_now_ns());
	size_t si = 0;
	while (si < st->nsnaps && st->snaps[si]->id != id)
		si++;
	if (si == st->nsnaps) {
		pthread_mutex_unlock(&st->snap_mu);
		return ds_k8s_status_set(status, 410, "Expired",
					 "The provided continue parameter is too old to display a "
					 "consistent list result. You can start a new list without "
					 "the continue parameter.");
	}
	snapshot_t *s = st->snaps[si];
	if (s->res != res || off > s->n) {
		pthread_mutex_unlock(&st->snap_mu);
		return ds_k8s_status_set(status, 400, "BadRequest",
					 "continue key is not valid for this request");
	}
	size_t end = o->limit > 0 && (size_t)o->limit < s->n - off ? off + (size_t)o->limit : s->n;
	out->items = malloc((end - off + 1) * sizeof(*out->items));
	if (!out->items) {
		pthread_mutex_unlock(&st->snap_mu);
		return ds_k8s_status_set(status, 500, "InternalError", "out of memory");
	}
	for (size_t i = off; i < end; i++)
		out->items[out->n++] = ds_k8s_obj_ref(s->items[i]);
	out->rv = s->rv;
	out->remaining = (long)(s->n - end);
	if (end < s->n) {
		out->cont = token_encode(s->rv, s->id, end);
	} else {
		/* The last page was served: nobody needs the snapshot now. */
		memmove(&st->snaps[si], &st->snaps[si + 1],
			(st->nsnaps - si - 1) * sizeof(*st->snaps));
		st->nsnaps--;
		snapshot_free(s);
	}
	pthread_mutex_unlock(&st->snap_mu);
	return DS_OK;
}

int ds_k8s_store_list(ds_k8s_store_t *st, ds_k8s_res_t res, const ds_k8s_listopts_t *o,
		      ds_k8s_list_t *out, ds_k8s_status_t *status)
{
	memset(out, 0, sizeof(*out));
	out->remaining = -1;
	if (o->cont && *o->cont)
		return list_page(st, res, o, out, status);
	bool any = o->rv && !strcmp(o->rv, "0");
	bool exact = o->rv_match && !strcmp(o->rv_match, "Exact");
	uint64_t want = 0;
	if (o->rv_match && *o->rv_match && strcmp(o->rv_match, "Exact") &&
	    strcmp(o->rv_match, "NotOlderThan"))
		return ds_k8s_status_set(status, 422, "Invalid",
					 "resourceVersionMatch: Unsupported value: \"%s\"",
					 o->rv_match);
	if (o->rv_match && *o->rv_match && (!o->rv || !*o->rv))
		return ds_k8s_status_set(status, 422, "Invalid",
					 "resourceVersionMatch: Forbidden: resourceVersionMatch is "
					 "forbidden unless resourceVersion is provided");
	if (o->rv && *o->rv && parse_rv(o->rv, &want))
		return ds_k8s_status_set(status, 400, "BadRequest",
					 "invalid resource version \"%s\"", o->rv);
	if (exact && want == 0)
		return ds_k8s_status_set(status, 422, "Invalid",
					 "resourceVersionMatch: Forbidden: resourceVersionMatch "
					 "\"exact\" is forbidden for resourceVersion \"0\"");
	objvec_t v = {0};
	pthread_rwlock_rdlock(&st->lock);
	resstate_t *r = &st->r[res];
	uint64_t now = atomic_load(&st->rv);
	int rc = DS_OK;
	if (want > now) {
		pthread_rwlock_unlock(&st->lock);
		return ds_k8s_status_set(
		    status, 504, "Timeout",
		    "Too large resource version: %" PRIu64 ", current: %" PRIu64, want, now);
	}
	if (exact && want < now) {
		if (want < r->floor_rv) {
			pthread_rwlock_unlock(&st->lock);
			return ds_k8s_status_set(status, 410, "Expired",
						 "too old resource version: %" PRIu64 " (%" PRIu64
						 ")",
						 want, r->floor_rv + 1);
		}
		rc = list_at(st, res, &o->filter, want, &v);
		now = want;
	} else {
		size_t lo, hi;
		ns_range(r, &resinfo[res], o->filter.ns, &lo, &hi);
		for (size_t i = lo; i < hi && rc == DS_OK; i++)
			if (ds_k8s_filter_match(&o->filter, r->objs[i]))
				rc = vec_push(&v, r->objs[i]);
	}
	pthread_rwlock_unlock(&st->lock);
	if (rc) {
		vec_free(&v);
		return ds_k8s_status_set(status, 500, "InternalError", "out of memory");
	}
	out->rv = now;
	/* RV=0 is served whole, as the watch cache ignores limit for it. */
	if (o->limit > 0 && !any && v.n > (size_t)o->limit) {
		snapshot_t *s = calloc(1, sizeof(*s));
		out->items = malloc((size_t)o->limit * sizeof(*out->items));
		if (!s || !out->items) {
			free(s);
			free(out->items);
			out->items = NULL;
			vec_free(&v);
			return ds_k8s_status_set(status, 500, "InternalError", "out of memory");
		}
		for (long i = 0; i < o->limit; i++)
			out->items[out->n++] = ds_k8s_obj_ref(v.v[i]);
		s->res = res;
		s->rv = now;
		s->created_ns = ds_now_ns();
		s->items = v.v;
		s->n = v.n;
		pthread_mutex_lock(&st->snap_mu);
		snaps_expire(st, s->created_ns);
		if (st->nsnaps == st->max_snaps) {
			/* Full: the oldest paged LIST loses (its next page gets 410). */
			snapshot_free(st->snaps[0]);
			memmove(&st->snaps[0], &st->snaps[1],
				(st->nsnaps - 1) * sizeof(*st->snaps));
			st->nsnaps--;
		}
		s->id = ++st->next_snap;
		st->snaps[st->nsnaps++] = s;
		pthread_mutex_unlock(&st->snap_mu);
		out->cont = token_encode(now, s->id, (size_t)o->limit);
		out->remaining = (long)(v.n - (size_t)o->limit);
		return DS_OK;
	}
	out->items = v.v;
	out->n = v.n;
	return DS_OK;
}

void ds_k8s_list_release(ds_k8s_list_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		ds_k8s_obj_unref(l->items[i]);
	free(l->items);
	free(l->cont);
	memset(l, 0, sizeof(*l));
}

/* ---- WATCH ---- */

struct ds_k8s_watch {
	ds_k8s_store_t *st;
	ds_k8s_res_t res;
	ds_k8s_filter_t filter;
	ds_k8s_obj_t **init; /* synthetic ADDED still to deliver */
	size_t ninit, ipos;
	bool init_bookmark;
	uint64_t init_rv;
	uint64_t seq; /* next ring event to look at */
	uint64_t rv;  /* everything up to here has been delivered */
	bool finished;
	bool has_err;
	ds_k8s_status_t err;
	atomic_bool expire;
};

ds_k8s_watch_t *ds_k8s_watch_open(ds_k8s_store_t *st, ds_k8s_res_t res,
				  const ds_k8s_watchopts_t *opts)
{
	ds_k8s_watch_t *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->st = st;
	w->res = res;
	w->filter = opts->filter;
	atomic_init(&w->expire, false);
	uint64_t want = 0;
	bool initial = opts->send_initial || !opts->rv || !*opts->rv || !strcmp(opts->rv, "0");
	if (opts->rv && *opts->rv && parse_rv(opts->rv, &want)) {
		w->has_err = true;
		ds_k8s_status_set(&w->err, 400, "BadRequest", "invalid resource version \"%s\"",
				  opts->rv);
		return w;
	}
	pthread_rwlock_rdlock(&st->lock);
	resstate_t *r = &st->r[res];
	uint64_t now = atomic_load(&st->rv);
	uint64_t tail = atomic_load(&r->tail);
	if (want > now) {
		w->has_err = true;
		ds_k8s_status_set(&w->err, 504, "Timeout",
				  "Too large resource version: %" PRIu64 ", current: %" PRIu64,
				  want, now);
	} else if (initial) {
		objvec_t v = {0};
		size_t lo, hi;
		ns_range(r, &resinfo[res], opts->filter.ns, &lo, &hi);
		for (size_t i = lo; i < hi; i++) {
			if (ds_k8s_filter_match(&opts->filter, r->objs[i]) &&
			    vec_push(&v, r->objs[i])) {
				pthread_rwlock_unlock(&st->lock);
				vec_free(&v);
				free(w);
				return NULL;
			}
		}
		w->init = v.v;
		w->ninit = v.n;
		w->seq = tail;
		w->rv = now;
		w->init_rv = now;
		w->init_bookmark = opts->send_initial;
	} else if (want < r->floor_rv) {
		w->has_err = true;
		ds_k8s_status_set(&w->err, 410, "Expired",
				  "too old resource version: %" PRIu64 " (%" PRIu64 ")", want,
				  r->floor_rv + 1);
	} else {
		/* First event after want: the ring is ordered by rv. */
		uint64_t lo = r->head, hi = tail;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (r->ring[mid % st->history].rv <= want)
				lo = mid + 1;
			else
				hi = mid;
		}
		w->seq = lo;
		w->rv = want;
	}
	pthread_rwlock_unlock(&st->lock);
	return w;
}

bool ds_k8s_watch_pending(ds_k8s_watch_t *w)
{
	if (w->finished)
		return false;
	if (w->has_err || w->ipos < w->ninit || w->init_bookmark || atomic_load(&w->expire))
		return true;
	return atomic_load_explicit(&w->st->r[w->res].tail, memory_order_acquire) > w->seq;
}

uint64_t ds_k8s_watch_rv(ds_k8s_watch_t *w)
{
	return w->rv;
}

void ds_k8s_watch_expire(ds_k8s_watch_t *w)
{
	atomic_store(&w->expire, true);
}

static size_t emit_error(ds_k8s_watch_t *w, ds_k8s_wev_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = DS_K8S_EV_ERROR;
	ev->error = w->err;
	w->finished = true;
	return 1;
}

size_t ds_k8s_watch_next(ds_k8s_watch_t *w, ds_k8s_wev_t *ev, size_t max)
{
	if (w->finished || max == 0)
		return 0;
	if (atomic_load(&w->expire) && !w->has_err) {
		w->has_err = true;
		ds_k8s_status_set(&w->err, 410, "Expired",
				  "too old resource version: %" PRIu64 " (%" PRIu64 ")", w->rv,
				  ds_k8s_store_rv(w->st) + 1);
	}
	if (w->has_err)
		return emit_error(w, ev);
	size_t n = 0;
	while (w->ipos < w->ninit && n < max) {
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].type = DS_K8S_EV_ADDED;
		ev[n++].obj = w->init[w->ipos++]; /* the reference moves to the caller */
	}
	if (w->ipos == w->ninit && w->init) {
		free(w->init);
		w->init = NULL;
	}
	if (w->ipos == w->ninit && w->init_bookmark && n < max) {
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].type = DS_K8S_EV_BOOKMARK;
		ev[n].rv = w->init_rv;
		ev[n++].initial_end = true;
		w->init_bookmark = false;
	}
	if (n == max || w->ipos < w->ninit)
		return n;
	ds_k8s_store_t *st = w->st;
	resstate_t *r = &st->r[w->res];
	pthread_rwlock_rdlock(&st->lock);
	if (w->seq < r->head) {
		/* The ring overtook this watcher: it was too slow to keep up. */
		uint64_t floor = r->floor_rv;
		pthread_rwlock_unlock(&st->lock);
		w->has_err = true;
		ds_k8s_status_set(&w->err, 410, "Expired",
				  "too old resource version: %" PRIu64 " (%" PRIu64 ")", w->rv,
				  floor + 1);
		if (n)
			return n;
		return emit_error(w, ev);
	}
	uint64_t tail = atomic_load(&r->tail);
	while (w->seq < tail && n < max) {
		event_t *e = &r->ring[w->seq % st->history];
		w->seq++;
		w->rv = e->rv;
		ds_k8s_evtype_t t = e->type;
		bool now_in = ds_k8s_filter_match(&w->filter, e->obj);
		if (t == DS_K8S_EV_MODIFIED) {
			bool was_in = ds_k8s_filter_match(&w->filter, e->prev);
			if (!was_in && !now_in)
				continue;
			if (!was_in)
				t = DS_K8S_EV_ADDED;
			else if (!now_in)
				t = DS_K8S_EV_DELETED;
		} else if (!now_in) {
			continue;
		}
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].type = t;
		ev[n++].obj = ds_k8s_obj_ref(e->obj);
	}
	if (w->seq == tail)
		w->rv = atomic_load(&st->rv);
	pthread_rwlock_unlock(&st->lock);
	return n;
}

void ds_k8s_watch_close(ds_k8s_watch_t *w)
{
	if (!w)
		return;
	for (size_t i = w->ipos; i < w->ninit; i++)
		ds_k8s_obj_unref(w->init[i]);
	free(w->init);
	free(w);
}
