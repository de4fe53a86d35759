/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for scenarios/k8s/k8s_store: objects and Status errors,
 * LIST paging and resourceVersion semantics, the event ring with 410
 * Expired, watch filtering and the watch-list initial events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/k8s/k8s_store.h"

static cJSON *svc(const char *ns, const char *name, const char *app)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Service");
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	if (ns)
		cJSON_AddStringToObject(md, "namespace", ns);
	cJSON *l = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(l, "app", app);
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	cJSON *ports = cJSON_AddArrayToObject(spec, "ports");
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "port", 80);
	cJSON_AddItemToArray(ports, p);
	return o;
}

static ds_k8s_store_t *mkstore(size_t history, int nsvc)
{
	ds_k8s_store_opts_t o = {.history = history, .seed = 7};
	ds_k8s_store_t *st = ds_k8s_store_new(&o);
	assert_non_null(st);
	ds_err_t err;
	for (int i = 0; i < nsvc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%02d", i);
		cJSON *s = svc("a", name, i % 2 ? "odd" : "even");
		assert_int_equal(ds_k8s_store_load(st, s, &err), DS_OK);
		cJSON_Delete(s);
	}
	assert_int_equal(ds_k8s_store_seal(st, NULL, &err), DS_OK);
	return st;
}

static const char *jstr(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, a), b));
}

static void test_crud_and_status(void **state)
{
	ds_k8s_store_t *st = mkstore(64, 0);
	ds_k8s_status_t s;
	ds_k8s_obj_t *o = NULL;
	/* the system namespaces exist after seal */
	assert_int_equal(ds_k8s_store_count(st, DS_K8S_NAMESPACES), 4);
	cJSON *in = svc(NULL, "web", "web");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "default", in, &o, &s), DS_OK);
	cJSON_Delete(in);
	cJSON *j = ds_k8s_obj_parse(o);
	assert_string_equal(jstr(j, "metadata", "namespace"), "default");
	assert_non_null(jstr(j, "metadata", "uid"));
	char rv[24];
	snprintf(rv, sizeof(rv), "%" PRIu64, o->rv);
	assert_string_equal(jstr(j, "metadata", "resourceVersion"), rv);
	const char *cip = jstr(j, "spec", "clusterIP");
	assert_non_null(cip);
	assert_int_equal(strncmp(cip, "10.", 3), 0);
	assert_string_equal(jstr(j, "spec", "type"), "ClusterIP");
	cJSON_Delete(j);
	uint64_t rv1 = o->rv;
	ds_k8s_obj_unref(o);

	/* 409 AlreadyExists, shaped like the API server's Status */
	in = svc("default", "web", "web");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "default", in, NULL, &s),
			 DS_EEXIST);
	cJSON_Delete(in);
	assert_int_equal(s.code, 409);
	assert_string_equal(s.reason, "AlreadyExists");
	assert_string_equal(s.message, "services \"web\" already exists");
	char *sj = ds_k8s_status_json(&s);
	cJSON *status = cJSON_Parse(sj);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(status, "kind")), "Status");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(status, "status")), "Failure");
	assert_int_equal(cJSON_GetObjectItem(status, "code")->valueint, 409);
	assert_string_equal(jstr(status, "details", "name"), "web");
	assert_string_equal(jstr(status, "details", "kind"), "services");
	cJSON_Delete(status);
	free(sj);

	/* 404s */
	assert_int_equal(ds_k8s_store_get(st, DS_K8S_ENDPOINTSLICES, "default", "x", &o, &s),
			 DS_ENOENT);
	assert_string_equal(s.message, "endpointslices.discovery.k8s.io \"x\" not found");
	assert_string_equal(s.group, "discovery.k8s.io");
	in = svc(NULL, "web", "web");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "nope", in, NULL, &s), DS_ENOENT);
	assert_string_equal(s.message, "namespaces \"nope\" not found");
	/* the body's namespace must match the URL's */
	cJSON_AddStringToObject(cJSON_GetObjectItem(in, "metadata"), "namespace", "kube-system");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "default", in, NULL, &s),
			 DS_EINVAL);
	assert_int_equal(s.code, 400);
	cJSON_Delete(in);

	/* PUT with a stale resourceVersion: 409 Conflict */
	in = svc("default", "web", "web2");
	cJSON_AddStringToObject(cJSON_GetObjectItem(in, "metadata"), "resourceVersion", "1");
	assert_int_equal(ds_k8s_store_update(st, DS_K8S_SERVICES, "default", "web", in, NULL, &s),
			 DS_EAGAIN);
	assert_int_equal(s.code, 409);
	assert_string_equal(s.reason, "Conflict");
	snprintf(rv, sizeof(rv), "%" PRIu64, rv1);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(in, "metadata"), "resourceVersion",
				  cJSON_CreateString(rv));
	assert_int_equal(ds_k8s_store_update(st, DS_K8S_SERVICES, "default", "web", in, &o, &s),
			 DS_OK);
	assert_true(o->rv > rv1);
	assert_string_equal(ds_k8s_obj_label(o, "app"), "web2");
	ds_k8s_obj_unref(o);
	/* the cluster IP survives an update that does not mention it ... */
	assert_int_equal(ds_k8s_store_get(st, DS_K8S_SERVICES, "default", "web", &o, &s), DS_OK);
	j = ds_k8s_obj_parse(o);
	assert_non_null(jstr(j, "spec", "clusterIP"));
	ds_k8s_obj_unref(o);
	/* ... and cannot be changed */
	cJSON_AddStringToObject(cJSON_GetObjectItem(in, "spec"), "clusterIP", "10.96.99.99");
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(in, "metadata"), "resourceVersion");
	assert_int_equal(ds_k8s_store_update(st, DS_K8S_SERVICES, "default", "web", in, NULL, &s),
			 DS_EINVAL);
	assert_int_equal(s.code, 422);
	cJSON_Delete(in);
	cJSON_Delete(j);

	/* merge patch */
	cJSON *p = cJSON_Parse("{\"metadata\":{\"labels\":{\"tier\":\"fe\"}}}");
	assert_int_equal(ds_k8s_store_patch(st, DS_K8S_SERVICES, "default", "web",
					    DS_K8S_PATCH_MERGE, p, &o, &s),
			 DS_OK);
	assert_string_equal(ds_k8s_obj_label(o, "tier"), "fe");
	assert_string_equal(ds_k8s_obj_label(o, "app"), "web2");
	uint64_t before = o->rv;
	ds_k8s_obj_unref(o);
	cJSON_Delete(p);

	/* DELETE returns the last state at the deletion's resourceVersion */
	assert_int_equal(ds_k8s_store_delete(st, DS_K8S_SERVICES, "default", "web", &o, &s), DS_OK);
	assert_int_equal(o->rv, before + 1);
	assert_int_equal(o->rv, ds_k8s_store_rv(st));
	j = ds_k8s_obj_parse(o);
	snprintf(rv, sizeof(rv), "%" PRIu64, o->rv);
	assert_string_equal(jstr(j, "metadata", "resourceVersion"), rv);
	cJSON_Delete(j);
	ds_k8s_obj_unref(o);
	assert_int_equal(ds_k8s_store_get(st, DS_K8S_SERVICES, "default", "web", &o, &s),
			 DS_ENOENT);
	assert_int_equal(ds_k8s_store_delete(st, DS_K8S_SERVICES, "default", "web", &o, &s),
			 DS_ENOENT);
	ds_k8s_store_free(st);
}

static int list(ds_k8s_store_t *st, ds_k8s_listopts_t *lo, ds_k8s_list_t *l, ds_k8s_status_t *s)
{
	return ds_k8s_store_list(st, DS_K8S_SERVICES, lo, l, s);
}

static void test_list_paging(void **state)
{
	ds_k8s_store_t *st = mkstore(64, 25);
	ds_k8s_status_t s;
	ds_k8s_list_t l;
	ds_k8s_listopts_t lo = {.limit = 10};
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.n, 10);
	assert_non_null(l.cont);
	assert_int_equal(l.remaining, 15);
	assert_string_equal(l.items[0]->meta->name, "svc-00");
	uint64_t rv = l.rv;
	char *tok = strdup(l.cont);
	ds_k8s_list_release(&l);

	/* Changes between pages do not show: the pages form one consistent list. */
	ds_k8s_obj_t *o;
	assert_int_equal(ds_k8s_store_delete(st, DS_K8S_SERVICES, "a", "svc-12", NULL, &s), DS_OK);
	cJSON *n = svc("a", "svc-10a", "new");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "a", n, &o, &s), DS_OK);
	ds_k8s_obj_unref(o);
	cJSON_Delete(n);

	lo.cont = tok;
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.rv, rv);
	assert_string_equal(l.items[0]->meta->name, "svc-10");
	assert_string_equal(l.items[2]->meta->name, "svc-12");
	char *tok2 = strdup(l.cont);
	ds_k8s_list_release(&l);
	lo.cont = tok2;
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.n, 5);
	assert_null(l.cont);
	ds_k8s_list_release(&l);
	/* a finished paged list's token is gone: 410 Expired */
	assert_int_equal(list(st, &lo, &l, &s), DS_ERANGE);
	assert_int_equal(s.code, 410);
	assert_string_equal(s.reason, "Expired");
	/* garbage: 400 */
	lo.cont = "not-a-token";
	assert_int_equal(list(st, &lo, &l, &s), DS_EINVAL);
	assert_int_equal(s.code, 400);

	/* a compaction expires continue tokens */
	lo.cont = NULL;
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	free(tok);
	tok = strdup(l.cont);
	ds_k8s_list_release(&l);
	ds_k8s_store_compact(st);
	lo.cont = tok;
	assert_int_equal(list(st, &lo, &l, &s), DS_ERANGE);

	/* RV=0 is served whole, as the watch cache ignores limit */
	lo.cont = NULL;
	lo.rv = "0";
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.n, 25);
	assert_null(l.cont);
	ds_k8s_list_release(&l);

	/* selectors and namespaces */
	ds_err_t err;
	ds_k8s_sel_t *ls = ds_k8s_labelsel_parse("app=odd", &err);
	ds_k8s_listopts_t sel = {.filter = {.ns = "a", .labels = ls}, .limit = 5};
	assert_int_equal(list(st, &sel, &l, &s), DS_OK);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.remaining, 7); /* 12 odd services are left after the delete */
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(ds_k8s_obj_label(l.items[i], "app"), "odd");
	ds_k8s_list_release(&l);
	sel.filter.ns = "b";
	assert_int_equal(list(st, &sel, &l, &s), DS_OK);
	assert_int_equal(l.n, 0);
	ds_k8s_list_release(&l);
	ds_k8s_sel_free(ls);
	free(tok);
	free(tok2);
	ds_k8s_store_free(st);
}

static void test_list_resource_versions(void **state)
{
	ds_k8s_store_t *st = mkstore(64, 3);
	ds_k8s_status_t s;
	ds_k8s_list_t l;
	uint64_t rv0 = ds_k8s_store_rv(st);
	cJSON *p = cJSON_Parse("{\"metadata\":{\"labels\":{\"app\":\"changed\"}}}");
	assert_int_equal(
	    ds_k8s_store_patch(st, DS_K8S_SERVICES, "a", "svc-00", DS_K8S_PATCH_MERGE, p, NULL, &s),
	    DS_OK);
	cJSON_Delete(p);
	assert_int_equal(ds_k8s_store_delete(st, DS_K8S_SERVICES, "a", "svc-01", NULL, &s), DS_OK);
	cJSON *n = svc("a", "svc-99", "new");
	assert_int_equal(ds_k8s_store_create(st, DS_K8S_SERVICES, "a", n, NULL, &s), DS_OK);
	cJSON_Delete(n);

	/* Exact: the list as it was, rebuilt from the history */
	char rv[24];
	snprintf(rv, sizeof(rv), "%" PRIu64, rv0);
	ds_k8s_listopts_t lo = {.rv = rv, .rv_match = "Exact"};
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.rv, rv0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0]->meta->name, "svc-00");
	assert_string_equal(ds_k8s_obj_label(l.items[0], "app"), "even");
	assert_string_equal(l.items[1]->meta->name, "svc-01");
	assert_string_equal(l.items[2]->meta->name, "svc-02");
	ds_k8s_list_release(&l);
	/* NotOlderThan an old RV: the current state */
	lo.rv_match = "NotOlderThan";
	assert_int_equal(list(st, &lo, &l, &s), DS_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[2]->meta->name, "svc-99");
	assert_int_equal(l.rv, ds_k8s_store_rv(st));
	ds_k8s_list_release(&l);
	/* the future: 504 Too large resource version */
	snprintf(rv, sizeof(rv), "%" PRIu64, ds_k8s_store_rv(st) + 5);
	assert_int_equal(list(st, &lo, &l, &s), DS_ETIMEDOUT);
	assert_int_equal(s.code, 504);
	assert_non_null(strstr(s.message, "Too large resource version"));
	/* older than the history: 410 */
	ds_k8s_store_compact(st);
	snprintf(rv, sizeof(rv), "%" PRIu64, rv0);
	lo.rv_match = "Exact";
	assert_int_equal(list(st, &lo, &l, &s), DS_ERANGE);
	assert_int_equal(s.code, 410);
	lo.rv = "x";
	assert_int_equal(list(st, &lo, &l, &s), DS_EINVAL);
	ds_k8s_store_free(st);
}

static void touch(ds_k8s_store_t *st, const char *name, const char *app)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "{\"metadata\":{\"labels\":{\"app\":\"%s\"}}}", app);
	cJSON *p = cJSON_Parse(buf);
	ds_k8s_status_t s;
	assert_int_equal(
	    ds_k8s_store_patch(st, DS_K8S_SERVICES, "a", name, DS_K8S_PATCH_MERGE, p, NULL, &s),
	    DS_OK);
	cJSON_Delete(p);
}

static size_t drain(ds_k8s_watch_t *w, ds_k8s_wev_t *ev, size_t max)
{
	size_t n = 0, got;
	while (n < max && (got = ds_k8s_watch_next(w, ev + n, max - n)))
		n += got;
	return n;
}

static void release(ds_k8s_wev_t *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ds_k8s_obj_unref(ev[i].obj);
}

static void test_ring_and_410(void **state)
{
	ds_k8s_store_t *st = mkstore(16, 2);
	uint64_t rv0 = ds_k8s_store_rv(st);
	char rv[24];
	ds_k8s_wev_t ev[64];
	/* a slow watcher that the ring overtakes */
	ds_k8s_watchopts_t slow = {0};
	snprintf(rv, sizeof(rv), "%" PRIu64, rv0);
	slow.rv = rv;
	ds_k8s_watch_t *ws = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	assert_false(ds_k8s_watch_pending(ws));
	for (int i = 0; i < 10; i++)
		touch(st, "svc-00", i % 2 ? "x" : "y");
	/* within the history: every change, in order */
	ds_k8s_watch_t *w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	assert_true(ds_k8s_watch_pending(w));
	size_t n = drain(w, ev, 64);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ev[i].type, DS_K8S_EV_MODIFIED);
		assert_int_equal(ev[i].obj->rv, rv0 + 1 + i);
	}
	release(ev, n);
	assert_int_equal(ds_k8s_watch_rv(w), ds_k8s_store_rv(st));
	ds_k8s_watch_close(w);
	for (int i = 0; i < 20; i++)
		touch(st, "svc-01", i % 2 ? "x" : "y");
	/* rv0 has fallen out of the 16-event ring: ERROR 410 Expired */
	w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	n = drain(w, ev, 64);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, DS_K8S_EV_ERROR);
	assert_int_equal(ev[0].error.code, 410);
	assert_string_equal(ev[0].error.reason, "Expired");
	assert_non_null(strstr(ev[0].error.message, "too old resource version"));
	assert_int_equal(ds_k8s_watch_next(w, ev, 64), 0); /* finished */
	ds_k8s_watch_close(w);
	/* the overtaken watcher also ends with 410 */
	n = drain(ws, ev, 64);
	assert_true(n >= 1);
	assert_int_equal(ev[n - 1].type, DS_K8S_EV_ERROR);
	assert_int_equal(ev[n - 1].error.code, 410);
	release(ev, n);
	ds_k8s_watch_close(ws);
	/* recent enough: fine */
	snprintf(rv, sizeof(rv), "%" PRIu64, ds_k8s_store_rv(st) - 3);
	w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	n = drain(w, ev, 64);
	assert_int_equal(n, 3);
	release(ev, n);
	ds_k8s_watch_close(w);
	/* future: 504; garbage: 400 */
	snprintf(rv, sizeof(rv), "%" PRIu64, ds_k8s_store_rv(st) + 10);
	w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	assert_int_equal(drain(w, ev, 64), 1);
	assert_int_equal(ev[0].error.code, 504);
	ds_k8s_watch_close(w);
	/* expiry on demand (the expire_watches fault) */
	slow.rv = NULL;
	w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &slow);
	n = drain(w, ev, 64);
	assert_int_equal(n, 2); /* synthetic ADDED for both services */
	release(ev, n);
	ds_k8s_watch_expire(w);
	assert_true(ds_k8s_watch_pending(w));
	assert_int_equal(drain(w, ev, 64), 1);
	assert_int_equal(ev[0].error.code, 410);
	ds_k8s_watch_close(w);
	ds_k8s_store_free(st);
}

static void test_watch_filters(void **state)
{
	ds_k8s_store_t *st = mkstore(64, 4);
	ds_err_t err;
	ds_k8s_sel_t *ls = ds_k8s_labelsel_parse("app=even", &err);
	char rv[24];
	snprintf(rv, sizeof(rv), "%" PRIu64, ds_k8s_store_rv(st));
	ds_k8s_watchopts_t wo = {.filter = {.labels = ls}, .rv = rv};
	ds_k8s_watch_t *w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &wo);
	ds_k8s_sel_t *fs = ds_k8s_fieldsel_parse("metadata.name=svc-01", &err);
	ds_k8s_watchopts_t wn = {.filter = {.fields = fs}, .rv = rv};
	ds_k8s_watch_t *byname = ds_k8s_watch_open(st, DS_K8S_SERVICES, &wn);
	ds_k8s_watchopts_t wns = {.filter = {.ns = "other"}, .rv = rv};
	ds_k8s_watch_t *other = ds_k8s_watch_open(st, DS_K8S_SERVICES, &wns);
	touch(st, "svc-00", "odd");  /* leaves the selection: DELETED */
	touch(st, "svc-01", "even"); /* enters it: ADDED */
	touch(st, "svc-01", "even"); /* stays: MODIFIED */
	touch(st, "svc-03", "odd2"); /* never in it: nothing */
	ds_k8s_wev_t ev[16];
	size_t n = drain(w, ev, 16);
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].type, DS_K8S_EV_DELETED);
	assert_string_equal(ev[0].obj->meta->name, "svc-00");
	assert_int_equal(ev[1].type, DS_K8S_EV_ADDED);
	assert_string_equal(ev[1].obj->meta->name, "svc-01");
	assert_int_equal(ev[2].type, DS_K8S_EV_MODIFIED);
	release(ev, n);
	n = drain(byname, ev, 16);
	assert_int_equal(n, 2);
	assert_string_equal(ev[0].obj->meta->name, "svc-01");
	release(ev, n);
	assert_int_equal(drain(other, ev, 16), 0);
	/* bookmarks may carry the global RV once a watcher is caught up */
	assert_int_equal(ds_k8s_watch_rv(other), ds_k8s_store_rv(st));
	ds_k8s_watch_close(w);
	ds_k8s_watch_close(byname);
	ds_k8s_watch_close(other);
	ds_k8s_sel_free(ls);
	ds_k8s_sel_free(fs);
	ds_k8s_store_free(st);
}

static void test_watch_list(void **state)
{
	ds_k8s_store_t *st = mkstore(64, 5);
	ds_k8s_watchopts_t wo = {.send_initial = true};
	ds_k8s_watch_t *w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &wo);
	uint64_t rv = ds_k8s_store_rv(st);
	touch(st, "svc-02", "late");
	ds_k8s_wev_t ev[16];
	/* small batches: the bookmark must come after the last ADDED */
	size_t n = 0, got;
	while ((got = ds_k8s_watch_next(w, ev + n, 2)))
		n += got;
	assert_int_equal(n, 7);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ev[i].type, DS_K8S_EV_ADDED);
	/* the initial state is the one at open time */
	assert_string_equal(ds_k8s_obj_label(ev[2].obj, "app"), "even");
	assert_int_equal(ev[5].type, DS_K8S_EV_BOOKMARK);
	assert_true(ev[5].initial_end);
	assert_int_equal(ev[5].rv, rv);
	assert_int_equal(ev[6].type, DS_K8S_EV_MODIFIED);
	assert_string_equal(ds_k8s_obj_label(ev[6].obj, "app"), "late");
	release(ev, n);
	ds_k8s_watch_close(w);
	/* a plain watch without RV: ADDED, no bookmark */
	ds_k8s_watchopts_t plain = {.filter = {.ns = "a"}};
	w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &plain);
	n = drain(w, ev, 16);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ev[i].type, DS_K8S_EV_ADDED);
	release(ev, n);
	ds_k8s_watch_close(w);
	ds_k8s_store_free(st);
}

static void test_namespace_cascade_and_load(void **state)
{
	ds_k8s_store_opts_t o = {.seed = 1};
	ds_k8s_store_t *st = ds_k8s_store_new(&o);
	ds_err_t err;
	cJSON *s1 = svc("team", "api", "api");
	cJSON *s2 = svc("team", "api", "api-v2");
	cJSON *s3 = svc("other", "db", "db");
	assert_int_equal(ds_k8s_store_load(st, s1, &err), DS_OK);
	assert_int_equal(ds_k8s_store_load(st, s2, &err), DS_OK);
	assert_int_equal(ds_k8s_store_load(st, s3, &err), DS_OK);
	cJSON *cm = cJSON_Parse(
	    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}");
	assert_int_equal(ds_k8s_store_load(st, cm, &err), DS_ENOENT);
	cJSON *badname = svc("team", "Bad_Name", "x");
	assert_int_equal(ds_k8s_store_load(st, badname, &err), DS_EINVAL);
	size_t dups = 0;
	assert_int_equal(ds_k8s_store_seal(st, &dups, &err), DS_OK);
	assert_int_equal(dups, 1);
	/* the last load wins; the namespaces used are created */
	ds_k8s_obj_t *obj;
	ds_k8s_status_t s;
	assert_int_equal(ds_k8s_store_get(st, DS_K8S_SERVICES, "team", "api", &obj, &s), DS_OK);
	assert_string_equal(ds_k8s_obj_label(obj, "app"), "api-v2");
	ds_k8s_obj_unref(obj);
	assert_int_equal(ds_k8s_store_count(st, DS_K8S_NAMESPACES), 6);
	assert_int_equal(ds_k8s_store_get(st, DS_K8S_NAMESPACES, NULL, "team", &obj, &s), DS_OK);
	assert_string_equal(ds_k8s_obj_label(obj, "kubernetes.io/metadata.name"), "team");
	ds_k8s_obj_unref(obj);
	/* deleting a namespace deletes what is in it, with events */
	char rv[24];
	snprintf(rv, sizeof(rv), "%" PRIu64, ds_k8s_store_rv(st));
	ds_k8s_watchopts_t wo = {.rv = rv};
	ds_k8s_watch_t *w = ds_k8s_watch_open(st, DS_K8S_SERVICES, &wo);
	assert_int_equal(ds_k8s_store_delete(st, DS_K8S_NAMESPACES, NULL, "team", NULL, &s), DS_OK);
	assert_int_equal(ds_k8s_store_count(st, DS_K8S_SERVICES), 1);
	ds_k8s_wev_t ev[4];
	size_t n = drain(w, ev, 4);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, DS_K8S_EV_DELETED);
	assert_string_equal(ev[0].obj->meta->key, "team/api");
	release(ev, n);
	ds_k8s_watch_close(w);
	cJSON_Delete(s1);
	cJSON_Delete(s2);
	cJSON_Delete(s3);
	cJSON_Delete(cm);
	cJSON_Delete(badname);
	ds_k8s_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crud_and_status),
	    cmocka_unit_test(test_list_paging),
	    cmocka_unit_test(test_list_resource_versions),
	    cmocka_unit_test(test_ring_and_410),
	    cmocka_unit_test(test_watch_filters),
	    cmocka_unit_test(test_watch_list),
	    cmocka_unit_test(test_namespace_cascade_and_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
