/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_churn.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/rand.h"
#include "scenarios/k8s/k8s_util.h"

static const char *const kind_names[DS_K8S_CHURN_NKINDS] = {
    "endpoint-flap", "endpoint-move", "services", "pods", "mix",
};

const char *ds_k8s_churn_kind_name(ds_k8s_churn_kind_t k)
{
	return k < DS_K8S_CHURN_NKINDS ? kind_names[k] : "?";
}

int ds_k8s_churn_kind_parse(const char *s)
{
	for (int i = 0; i < DS_K8S_CHURN_NKINDS; i++)
		if (!strcmp(s, kind_names[i]))
			return i;
	return -1;
}

/* Objects churn created, oldest first, so deletes keep a steady population. */
#define FIFO_MAX 64

typedef struct fifo {
	char ns[FIFO_MAX][64];
	char name[FIFO_MAX][64];
	size_t head, n;
} fifo_t;

struct ds_k8s_churn {
	ds_k8s_store_t *st;
	ds_rng_t rng; /* only the churn thread (or step's caller) draws from it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started, stop;
	double rate;
	ds_k8s_churn_kind_t kind;
	uint64_t count;
	uint64_t gen; /* bumped by every set() so the pacing restarts */
	atomic_uint_least64_t ops, skipped, behind;
	atomic_uint_least64_t by_kind[DS_K8S_CHURN_NKINDS - 1];
	pthread_mutex_t step_mu; /* one operation at a time: fifos and the rng */
	fifo_t svc_fifo, pod_fifo;
	uint64_t next_id;
	uint32_t next_ip;
};

ds_k8s_churn_t *ds_k8s_churn_new(ds_k8s_store_t *st, uint64_t seed)
{
	ds_k8s_churn_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->st = st;
	ds_rng_seed(&c->rng, seed ^ 0x636875726e2d3031ULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->step_mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->kind = DS_K8S_CHURN_FLAP;
	return c;
}

void ds_k8s_churn_free(ds_k8s_churn_t *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->step_mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* ---- operations ---- */

static void now_stamp(char *out, size_t len)
{
	ds_k8s_fmt_time(ds_wall_ns(), true, out, len);
}

static void set_trigger_time(cJSON *o)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	if (!cJSON_IsObject(ann)) {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
		ann = cJSON_AddObjectToObject(md, "annotations");
	}
	char t[DS_K8S_TIME_MAX];
	now_stamp(t, sizeof(t));
	cJSON *v = cJSON_CreateString(t);
	if (cJSON_GetObjectItemCaseSensitive(ann,
					     "endpoints.kubernetes.io/last-change-trigger-time"))
		cJSON_ReplaceItemInObjectCaseSensitive(
		    ann, "endpoints.kubernetes.io/last-change-trigger-time", v);
	else
		cJSON_AddItemToObject(ann, "endpoints.kubernetes.io/last-change-trigger-time", v);
}

static void set_bool(cJSON *parent, const char *key, bool v)
{
	cJSON *b = cJSON_CreateBool(v);
	if (cJSON_GetObjectItemCaseSensitive(parent, key))
		cJSON_ReplaceItemInObjectCaseSensitive(parent, key, b);
	else
		cJSON_AddItemToObject(parent, key, b);
}

static void set_str(cJSON *parent, const char *key, const char *v)
{
	cJSON *s = cJSON_CreateString(v);
	if (cJSON_GetObjectItemCaseSensitive(parent, key))
		cJSON_ReplaceItemInObjectCaseSensitive(parent, key, s);
	else
		cJSON_AddItemToObject(parent, key, s);
}

static void new_ip(ds_k8s_churn_t *c, bool v6, char *out)
{
	/* A pool synthetic pods never use: a moved endpoint never takes an
	 * address another endpoint still has. */
	uint32_t n = c->next_ip++ % ((1u << 18) - 2) + 1;
	if (v6) {
		struct in6_addr a;
		inet_pton(AF_INET6, "fd00:10:252::", &a);
		a.s6_addr[13] = (uint8_t)(n >> 16);
		a.s6_addr[14] = (uint8_t)(n >> 8);
		a.s6_addr[15] = (uint8_t)n;
		inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN);
	} else {
		sprintf(out, "10.%u.%u.%u", 252 + (n >> 16), (n >> 8) & 255, n & 255);
	}
}

typedef struct epchange {
	ds_k8s_churn_t *c;
	bool move;
} epchange_t;

static int change_endpoint(void *arg, cJSON *o, ds_k8s_status_t *status)
{
	epchange_t *ec = arg;
	cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "endpoints");
	int n = cJSON_GetArraySize(eps);
	if (n == 0)
		return DS_EAGAIN;
	cJSON *ep = cJSON_GetArrayItem(eps, (int)ds_rng_below(&ec->c->rng, (uint64_t)n));
	if (!ec->move) {
		cJSON *cond = cJSON_GetObjectItemCaseSensitive(ep, "conditions");
		if (!cJSON_IsObject(cond)) {
			cJSON_DeleteItemFromObjectCaseSensitive(ep, "conditions");
			cond = cJSON_AddObjectToObject(ep, "conditions");
		}
		cJSON *ready = cJSON_GetObjectItemCaseSensitive(cond, "ready");
		/* Unset counts as ready, as CoreDNS reads it. */
		bool was = !ready || cJSON_IsNull(ready) || cJSON_IsTrue(ready);
		set_bool(cond, "ready", !was);
		set_bool(cond, "serving", !was);
	} else {
		const char *at =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "addressType"));
		if (at && !strcmp(at, "FQDN"))
			return DS_EAGAIN;
		char ip[64];
		new_ip(ec->c, at && !strcmp(at, "IPv6"), ip);
		cJSON *addrs = cJSON_CreateArray();
		cJSON_AddItemToArray(addrs, cJSON_CreateString(ip));
		if (cJSON_GetObjectItemCaseSensitive(ep, "addresses"))
			cJSON_ReplaceItemInObjectCaseSensitive(ep, "addresses", addrs);
		else
			cJSON_AddItemToObject(ep, "addresses", addrs);
		cJSON *ref = cJSON_GetObjectItemCaseSensitive(ep, "targetRef");
		const char *pod =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "name"));
		if (pod && !cJSON_GetObjectItemCaseSensitive(ep, "hostname")) {
			/* A replaced pod keeps its owner's prefix and gets a new suffix. */
			static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
			char name[256];
			const char *dash = strrchr(pod, '-');
			int keep = dash ? (int)(dash - pod) : (int)strlen(pod);
			int len = snprintf(name, sizeof(name) - 6, "%.*s-", keep, pod);
			for (int i = 0; i < 5; i++)
				name[len + i] = alnum[ds_rng_below(&ec->c->rng, sizeof(alnum) - 1)];
			name[len + 5] = 0;
			set_str(ref, "name", name);
			char uid[37];
			ds_k8s_uuid(&ec->c->rng, uid);
			set_str(ref, "uid", uid);
		}
		cJSON *cond = cJSON_GetObjectItemCaseSensitive(ep, "conditions");
		if (cJSON_IsObject(cond)) {
			set_bool(cond, "ready", true);
			set_bool(cond, "serving", true);
		}
	}
	set_trigger_time(o);
	return DS_OK;
}

static int cmp_edit(const void *a, const void *b)
{
	const ds_k8s_edit_t *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * endpoint-flap without a parse/print round trip: find one endpoint's
 * conditions and the trigger-time annotation in the stored text and
 * splice new values in. Rebuilding a 100-endpoint slice through cJSON
 * costs hundreds of small allocations; this costs one copy. Returns
 * DS_EINVAL when the text lacks what the splice needs (no conditions.ready,
 * no annotation) so the caller takes the general path, DS_EAGAIN when the
 * slice is empty or was changed meanwhile.
 */
static int flap_fast(ds_k8s_churn_t *c, ds_k8s_obj_t *o)
{
	const char *j = o->json, *end = j + o->len;
	const char *p = ds_k8s_json_find(j, end, "endpoints");
	if (!p || *p != '[')
		return p && !strncmp(p, "null", 4) ? DS_EAGAIN : DS_EINVAL;
	/* The API allows at most 1000 endpoints per slice. */
	const char *eps[1000];
	size_t n = 0;
	for (p++;;) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return DS_EINVAL;
		if (*p == ']')
			break;
		if (*p != '{' || n == DS_ARRAY_SIZE(eps))
			return DS_EINVAL;
		eps[n++] = p;
		if (!(p = ds_k8s_json_skip(p, end)))
			return DS_EINVAL;
		if (p < end && *p == ',')
			p++;
	}
	if (n == 0)
		return DS_EAGAIN;
	const char *ep = eps[ds_rng_below(&c->rng, n)];
	const char *cond = ds_k8s_json_find(ep, end, "conditions");
	if (!cond || *cond != '{')
		return DS_EINVAL;
	const char *cend = ds_k8s_json_skip(cond, end);
	const char *ready = cend ? ds_k8s_json_find(cond, cend, "ready") : NULL;
	if (!ready)
		return DS_EINVAL;
	const char *serving = ds_k8s_json_find(cond, cend, "serving");
	const char *md = ds_k8s_json_find(j, end, "metadata");
	const char *ann = md ? ds_k8s_json_find(md, end, "annotations") : NULL;
	const char *ts =
	    ann ? ds_k8s_json_find(ann, end, "endpoints.kubernetes.io/last-change-trigger-time")
		: NULL;
	if (!ts || *ts != '"')
		return DS_EINVAL;
	/* Unset or null counts as ready, as CoreDNS reads it. */
	bool was = strncmp(ready, "false", 5) != 0;
	const char *now = was ? "false" : "true";
	char t[DS_K8S_TIME_MAX + 2];
	t[0] = '"';
	now_stamp(t + 1, DS_K8S_TIME_MAX);
	strcat(t, "\"");
	ds_k8s_edit_t ed[3];
	size_t ne = 0;
	ed[ne++] = (ds_k8s_edit_t){
	    (size_t)(ready - j), (size_t)(ds_k8s_json_skip(ready, end) - ready), now, strlen(now)};
	if (serving && *serving != 'n')
		ed[ne++] = (ds_k8s_edit_t){(size_t)(serving - j),
					   (size_t)(ds_k8s_json_skip(serving, end) - serving), now,
					   strlen(now)};
	ed[ne++] = (ds_k8s_edit_t){(size_t)(ts - j), (size_t)(ds_k8s_json_skip(ts, end) - ts), t,
				   strlen(t)};
	qsort(ed, ne, sizeof(ed[0]), cmp_edit);
	int rc = ds_k8s_store_splice(c->st, o, ed, ne, NULL);
	return rc == DS_ENOMEM ? DS_EINVAL : rc;
}

static int op_endpoint(ds_k8s_churn_t *c, bool move)
{
	/* Random slices may be empty (services without endpoints): a few
	 * tries find one that is not. */
	for (int tries = 0; tries < 8; tries++) {
		ds_k8s_obj_t *o = ds_k8s_store_pick(c->st, DS_K8S_ENDPOINTSLICES, &c->rng);
		if (!o)
			return DS_ENOENT;
		if (!move) {
			int frc = flap_fast(c, o);
			if (frc != DS_EINVAL) {
				ds_k8s_obj_unref(o);
				if (frc == DS_EAGAIN)
					continue;
				return frc;
			}
		}
		epchange_t ec = {c, move};
		ds_k8s_status_t s;
		int rc = ds_k8s_store_mutate(c->st, DS_K8S_ENDPOINTSLICES, o->meta->ns,
					     o->meta->name, change_endpoint, &ec, NULL, &s);
		ds_k8s_obj_unref(o);
		if (rc == DS_EAGAIN || rc == DS_ENOENT)
			continue;
		return rc;
	}
	return DS_ENOENT;
}

static void fifo_push(fifo_t *f, const char *ns, const char *name)
{
	size_t i = (f->head + f->n) % FIFO_MAX;
	snprintf(f->ns[i], sizeof(f->ns[i]), "%s", ns);
	snprintf(f->name[i], sizeof(f->name[i]), "%s", name);
	f->n++;
}

static bool fifo_pop(fifo_t *f, char *ns, char *name)
{
	if (!f->n)
		return false;
	memcpy(ns, f->ns[f->head], sizeof(f->ns[0]));
	memcpy(name, f->name[f->head], sizeof(f->name[0]));
	f->head = (f->head + 1) % FIFO_MAX;
	f->n--;
	return true;
}

/* Create or delete? Grow to a few, then flip a coin; never past the fifo. */
static bool should_create(ds_k8s_churn_t *c, const fifo_t *f)
{
	if (f->n < 4)
		return true;
	if (f->n >= FIFO_MAX)
		return false;
	return ds_rng_below(&c->rng, 2) == 0;
}

static void random_namespace(ds_k8s_churn_t *c, char *out, size_t len)
{
	ds_k8s_obj_t *ns = ds_k8s_store_pick(c->st, DS_K8S_NAMESPACES, &c->rng);
	snprintf(out, len, "%s", ns ? ns->meta->name : "default");
	ds_k8s_obj_unref(ns);
}

static int op_services(ds_k8s_churn_t *c)
{
	char ns[64], name[64];
	ds_k8s_status_t s;
	if (!should_create(c, &c->svc_fifo)) {
		fifo_pop(&c->svc_fifo, ns, name);
		/* The slice goes first, as the controller removes it when the
		 * service disappears. Both may already be gone via the API. */
		char slice[80];
		snprintf(slice, sizeof(slice), "%s-churn", name);
		ds_k8s_store_delete(c->st, DS_K8S_ENDPOINTSLICES, ns, slice, NULL, &s);
		int rc = ds_k8s_store_delete(c->st, DS_K8S_SERVICES, ns, name, NULL, &s);
		return rc == DS_ENOENT ? DS_OK : rc;
	}
	random_namespace(c, ns, sizeof(ns));
	snprintf(name, sizeof(name), "churn-%llu", (unsigned long long)c->next_id++);
	cJSON *svc = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(svc, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "app", name);
	cJSON_AddStringToObject(labels, "dnsurge.io/churn", "true");
	cJSON *spec = cJSON_AddObjectToObject(svc, "spec");
	cJSON *ports = cJSON_AddArrayToObject(spec, "ports");
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", "http");
	cJSON_AddNumberToObject(p, "port", 80);
	cJSON_AddNumberToObject(p, "targetPort", 8080);
	cJSON_AddItemToArray(ports, p);
	cJSON *sel = cJSON_AddObjectToObject(spec, "selector");
	cJSON_AddStringToObject(sel, "app", name);
	int rc = ds_k8s_store_create(c->st, DS_K8S_SERVICES, ns, svc, NULL, &s);
	cJSON_Delete(svc);
	if (rc)
		return rc;
	cJSON *es = cJSON_CreateObject();
	md = cJSON_AddObjectToObject(es, "metadata");
	char slice[80];
	snprintf(slice, sizeof(slice), "%s-churn", name);
	cJSON_AddStringToObject(md, "name", slice);
	cJSON_AddStringToObject(md, "namespace", ns);
	labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "kubernetes.io/service-name", name);
	cJSON_AddStringToObject(labels, "endpointslice.kubernetes.io/managed-by",
				"endpointslice-controller.k8s.io");
	cJSON_AddStringToObject(es, "addressType", "IPv4");
	cJSON *eps = cJSON_AddArrayToObject(es, "endpoints");
	unsigned n = 1 + (unsigned)ds_rng_below(&c->rng, 3);
	for (unsigned i = 0; i < n; i++) {
		char ip[64];
		new_ip(c, false, ip);
		cJSON *ep = cJSON_CreateObject();
		cJSON *addrs = cJSON_AddArrayToObject(ep, "addresses");
		cJSON_AddItemToArray(addrs, cJSON_CreateString(ip));
		cJSON *cond = cJSON_AddObjectToObject(ep, "conditions");
		cJSON_AddBoolToObject(cond, "ready", true);
		cJSON_AddBoolToObject(cond, "serving", true);
		cJSON_AddBoolToObject(cond, "terminating", false);
		cJSON_AddItemToArray(eps, ep);
	}
	cJSON *sp = cJSON_AddArrayToObject(es, "ports");
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", "http");
	cJSON_AddNumberToObject(p, "port", 8080);
	cJSON_AddStringToObject(p, "protocol", "TCP");
	cJSON_AddItemToArray(sp, p);
	set_trigger_time(es);
	rc = ds_k8s_store_create(c->st, DS_K8S_ENDPOINTSLICES, ns, es, NULL, &s);
	cJSON_Delete(es);
	fifo_push(&c->svc_fifo, ns, name);
	return rc;
}

static int op_pods(ds_k8s_churn_t *c)
{
	char ns[64], name[64];
	ds_k8s_status_t s;
	if (!should_create(c, &c->pod_fifo)) {
		fifo_pop(&c->pod_fifo, ns, name);
		int rc = ds_k8s_store_delete(c->st, DS_K8S_PODS, ns, name, NULL, &s);
		return rc == DS_ENOENT ? DS_OK : rc;
	}
	random_namespace(c, ns, sizeof(ns));
	snprintf(name, sizeof(name), "churn-pod-%llu", (unsigned long long)c->next_id++);
	char ip[64];
	new_ip(c, false, ip);
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "dnsurge.io/churn", "true");
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	cJSON *ctrs = cJSON_AddArrayToObject(spec, "containers");
	cJSON *ct = cJSON_CreateObject();
	cJSON_AddStringToObject(ct, "name", "app");
	cJSON_AddStringToObject(ct, "image", "registry.example.net/churn:1.0");
	cJSON_AddItemToArray(ctrs, ct);
	cJSON_AddStringToObject(spec, "nodeName", "node-0000");
	cJSON *st = cJSON_AddObjectToObject(o, "status");
	cJSON_AddStringToObject(st, "phase", "Running");
	cJSON_AddStringToObject(st, "podIP", ip);
	cJSON *ips = cJSON_AddArrayToObject(st, "podIPs");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "ip", ip);
	cJSON_AddItemToArray(ips, a);
	int rc = ds_k8s_store_create(c->st, DS_K8S_PODS, ns, o, NULL, &s);
	cJSON_Delete(o);
	if (!rc)
		fifo_push(&c->pod_fifo, ns, name);
	return rc;
}

int ds_k8s_churn_step(ds_k8s_churn_t *c, ds_k8s_churn_kind_t kind)
{
	pthread_mutex_lock(&c->step_mu);
	if (kind == DS_K8S_CHURN_MIX) {
		unsigned r = (unsigned)ds_rng_below(&c->rng, 10);
		kind = r < 6   ? DS_K8S_CHURN_FLAP
		       : r < 8 ? DS_K8S_CHURN_MOVE
		       : r < 9 ? DS_K8S_CHURN_SERVICES
			       : DS_K8S_CHURN_PODS;
	}
	int rc;
	switch (kind) {
	case DS_K8S_CHURN_FLAP:
		rc = op_endpoint(c, false);
		break;
	case DS_K8S_CHURN_MOVE:
		rc = op_endpoint(c, true);
		break;
	case DS_K8S_CHURN_SERVICES:
		rc = op_services(c);
		break;
	case DS_K8S_CHURN_PODS:
		rc = op_pods(c);
		break;
	default:
		rc = DS_EINVAL;
		break;
	}
	pthread_mutex_unlock(&c->step_mu);
	if (rc == DS_OK) {
		atomic_fetch_add(&c->ops, 1);
		atomic_fetch_add(&c->by_kind[kind], 1);
	} else {
		atomic_fetch_add(&c->skipped, 1);
	}
	return rc;
}

/* ---- pacing thread ---- */

static void *churn_thread(void *arg)
{
	ds_k8s_churn_t *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		if (c->rate <= 0) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		/* Open loop: operation k is due at start + k/rate, so a slow
		 * operation does not lower the rate; what cannot be caught up
		 * within a second is counted as behind and dropped. */
		uint64_t gen = c->gen;
		double rate = c->rate;
		ds_k8s_churn_kind_t kind = c->kind;
		uint64_t limit = c->count;
		int64_t start = ds_now_ns();
		uint64_t done = 0;
		while (!c->stop && c->gen == gen && (!limit || done < limit)) {
			int64_t now = ds_now_ns();
			uint64_t due = (uint64_t)((double)(now - start) * rate / 1e9);
			if (limit && due > limit)
				due = limit;
			if (due > done + (uint64_t)rate + 1) {
				uint64_t skip = due - done - (uint64_t)rate;
				atomic_fetch_add(&c->behind, skip);
				done += skip;
			}
			if (done < due) {
				pthread_mutex_unlock(&c->mu);
				uint64_t batch = DS_MIN(due - done, 64);
				for (uint64_t i = 0; i < batch; i++)
					ds_k8s_churn_step(c, kind);
				done += batch;
				pthread_mutex_lock(&c->mu);
				continue;
			}
			int64_t next = start + (int64_t)((double)(done + 1) * 1e9 / rate);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t wait = DS_MIN(next - now, 100 * DS_NS_PER_MS);
			ts.tv_sec += (time_t)(wait / DS_NS_PER_SEC);
			ts.tv_nsec += (long)(wait % DS_NS_PER_SEC);
			if (ts.tv_nsec >= DS_NS_PER_SEC) {
				ts.tv_sec++;
				ts.tv_nsec -= DS_NS_PER_SEC;
			}
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
		if (c->gen == gen && limit && done >= limit)
			c->rate = 0; /* the requested count is done */
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int ds_k8s_churn_set(ds_k8s_churn_t *c, double rate, ds_k8s_churn_kind_t kind, uint64_t count)
{
	pthread_mutex_lock(&c->mu);
	c->rate = rate;
	c->kind = kind;
	c->count = count;
	c->gen++;
	int rc = DS_OK;
	if (!c->started && rate > 0) {
		rc = -pthread_create(&c->thread, NULL, churn_thread, c);
		c->started = rc == DS_OK;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void ds_k8s_churn_stats(ds_k8s_churn_t *c, ds_k8s_churn_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->mu);
	out->rate = c->rate;
	out->kind = c->kind;
	out->count = c->count;
	pthread_mutex_unlock(&c->mu);
	out->ops = atomic_load(&c->ops);
	out->skipped = atomic_load(&c->skipped);
	out->behind = atomic_load(&c->behind);
	for (int i = 0; i < DS_K8S_CHURN_NKINDS - 1; i++)
		out->by_kind[i] = atomic_load(&c->by_kind[i]);
}
