/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for scenarios/k8s/k8s_synth and k8s_churn: the synthetic
 * cluster is deterministic, sized as asked and realistic; churn changes
 * what it says it changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scenarios/k8s/k8s_churn.h"
#include "scenarios/k8s/k8s_store.h"
#include "scenarios/k8s/k8s_synth.h"

typedef struct census {
	uint64_t hash;
	size_t objects;
	size_t services, headless, external, slices, endpoints, ready, pods, namespaces;
	size_t max_slice;
	size_t v6_slices;
	size_t not_running;
	bool bad_ip;
} census_t;

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool in_range(const char *ip, uint32_t lo, uint32_t hi)
{
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	return ntohl(a.s_addr) >= lo && ntohl(a.s_addr) <= hi;
}

static int count(void *arg, cJSON *o)
{
	census_t *c = arg;
	char *txt = cJSON_PrintUnformatted(o);
	c->hash = fnv(c->hash ? c->hash : 1469598103934665603ULL, txt);
	free(txt);
	c->objects++;
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind"));
	cJSON *spec = cJSON_GetObjectItem(o, "spec");
	if (!strcmp(kind, "Service")) {
		c->services++;
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "type"));
		const char *cip = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "clusterIP"));
		if (!strcmp(type, "ExternalName"))
			c->external++;
		else if (!strcmp(cip, "None"))
			c->headless++;
		else if (!in_range(cip, 0x0a600001u, 0x0a6ffffeu)) /* 10.96.0.0/12 */
			c->bad_ip = true;
	} else if (!strcmp(kind, "EndpointSlice")) {
		c->slices++;
		cJSON *eps = cJSON_GetObjectItem(o, "endpoints");
		size_t n = (size_t)cJSON_GetArraySize(eps);
		const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(o, "addressType"));
		if (!strcmp(at, "IPv6")) {
			c->v6_slices++;
			/* canonical text, as Go prints it: no ":0:" runs */
			char *t = cJSON_PrintUnformatted(eps);
			if (strstr(t, ":0:") || strstr(t, ":0\""))
				c->bad_ip = true;
			free(t);
			return 0;
		}
		c->endpoints += n;
		if (n > c->max_slice)
			c->max_slice = n;
		cJSON *md = cJSON_GetObjectItem(o, "metadata");
		if (!cJSON_GetObjectItem(cJSON_GetObjectItem(md, "labels"),
					 "kubernetes.io/service-name"))
			c->bad_ip = true;
		cJSON *ep;
		cJSON_ArrayForEach(ep, eps)
		{
			const char *ip = cJSON_GetStringValue(
			    cJSON_GetArrayItem(cJSON_GetObjectItem(ep, "addresses"), 0));
			if (cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(ep, "conditions"),
							     "ready")))
				c->ready++;
			/* kubernetes.default's endpoint is the API server */
			if (!in_range(ip, 0x0af40000u, 0x0afbffffu) && strcmp(ip, "172.18.0.2"))
				c->bad_ip = true;
		}
	} else if (!strcmp(kind, "Pod")) {
		c->pods++;
		const char *phase = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(o, "status"), "phase"));
		if (strcmp(phase, "Running"))
			c->not_running++;
	} else if (!strcmp(kind, "Namespace")) {
		c->namespaces++;
	}
	return 0;
}

static census_t run(const char *spec)
{
	ds_k8s_synth_opts_t o;
	ds_err_t err;
	census_t c = {0};
	assert_int_equal(ds_k8s_synth_parse(spec, &o, &err), DS_OK);
	assert_int_equal(ds_k8s_synth_generate(&o, count, &c, &err), DS_OK);
	return c;
}

static void test_determinism(void **st)
{
	const char *spec = "services=300,endpoints=2000,pods=2600,namespaces=7,seed=42";
	census_t a = run(spec), b = run(spec);
	assert_int_equal(a.hash, b.hash);
	assert_int_equal(a.objects, b.objects);
	census_t c = run("services=300,endpoints=2000,pods=2600,namespaces=7,seed=43");
	assert_true(a.hash != c.hash);
}

static void test_shape(void **st)
{
	census_t c = run("services=500,endpoints=5000,pods=6000,namespaces=10,seed=1,slice=100");
	/* + kubernetes.default and kube-dns */
	assert_int_equal(c.services, 502);
	assert_int_equal(c.namespaces, 10);
	assert_int_equal(c.endpoints, 5000 + 1 + 2);
	assert_true(c.max_slice <= 100);
	assert_true(c.max_slice >= 30); /* skewed: the biggest is 3x the average */
	/* 10% headless and 5% ExternalName by default, give or take */
	assert_in_range(c.headless, 25, 80);
	assert_in_range(c.external, 10, 45);
	/* ~3% of endpoints are not ready */
	assert_in_range(5000 + 3 - c.ready, 60, 250);
	/* every endpoint has a pod, the rest are standalone, two are CoreDNS */
	assert_int_equal(c.pods, 6000 + 2);
	assert_true(c.not_running > 20);
	assert_false(c.bad_ip);
	assert_int_equal(c.v6_slices, 0);
	census_t d = run("services=50,endpoints=300,seed=5,dualstack=1");
	assert_true(d.v6_slices > 0);
	assert_false(d.bad_ip);
}

static void test_parse_errors(void **st)
{
	ds_k8s_synth_opts_t o;
	ds_err_t err;
	assert_int_equal(ds_k8s_synth_parse("services=10", &o, &err), DS_OK);
	assert_int_equal(o.endpoints, 30);
	assert_int_equal(o.pods, 30);
	assert_int_equal(o.namespaces, 1);
	assert_int_equal(ds_k8s_synth_parse("services=x", &o, &err), DS_EINVAL);
	assert_int_equal(ds_k8s_synth_parse("servces=1", &o, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "servces"));
	assert_int_equal(ds_k8s_synth_parse("services=1,slice=0", &o, &err), DS_EINVAL);
	assert_int_equal(ds_k8s_synth_parse("services=1,headless=80,externalname=30", &o, &err),
			 DS_EINVAL);
	assert_int_equal(ds_k8s_synth_parse("endpoints=300000", &o, &err), DS_EINVAL);
}

static int load(void *arg, cJSON *o)
{
	ds_err_t err;
	return ds_k8s_store_load(arg, o, &err);
}

static const char *annotation(const ds_k8s_obj_t *o, char *buf, size_t len)
{
	cJSON *j = ds_k8s_obj_parse(o);
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "annotations"),
	    "endpoints.kubernetes.io/last-change-trigger-time"));
	snprintf(buf, len, "%s", v ? v : "");
	cJSON_Delete(j);
	return buf;
}

static void test_churn(void **st)
{
	ds_k8s_store_opts_t so = {.seed = 3};
	ds_k8s_store_t *s = ds_k8s_store_new(&so);
	ds_k8s_synth_opts_t o;
	ds_err_t err;
	assert_int_equal(ds_k8s_synth_parse("services=20,seed=3,externalname=0", &o, &err), DS_OK);
	assert_int_equal(ds_k8s_synth_generate(&o, load, s, &err), DS_OK);
	assert_int_equal(ds_k8s_store_seal(s, NULL, &err), DS_OK);
	ds_k8s_churn_t *c = ds_k8s_churn_new(s, 3);
	uint64_t rv = ds_k8s_store_rv(s);
	char rvs[24];
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	ds_k8s_watchopts_t wo = {.rv = rvs};
	ds_k8s_watch_t *w = ds_k8s_watch_open(s, DS_K8S_ENDPOINTSLICES, &wo);
	assert_int_equal(ds_k8s_churn_step(c, DS_K8S_CHURN_FLAP), DS_OK);
	assert_int_equal(ds_k8s_churn_step(c, DS_K8S_CHURN_MOVE), DS_OK);
	ds_k8s_wev_t ev[4];
	size_t n = ds_k8s_watch_next(w, ev, 4);
	assert_int_equal(n, 2);
	char t[64];
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ev[i].type, DS_K8S_EV_MODIFIED);
		/* a fresh RFC 3339 trigger time, not the synthetic 2025 one */
		annotation(ev[i].obj, t, sizeof(t));
		assert_true(strlen(t) > 20);
		assert_true(strncmp(t, "2025-", 5) != 0);
		ds_k8s_obj_unref(ev[i].obj);
	}
	ds_k8s_watch_close(w);
	size_t svcs = ds_k8s_store_count(s, DS_K8S_SERVICES);
	assert_int_equal(ds_k8s_churn_step(c, DS_K8S_CHURN_SERVICES), DS_OK);
	assert_int_equal(ds_k8s_store_count(s, DS_K8S_SERVICES), svcs + 1);
	size_t pods = ds_k8s_store_count(s, DS_K8S_PODS);
	assert_int_equal(ds_k8s_churn_step(c, DS_K8S_CHURN_PODS), DS_OK);
	assert_int_equal(ds_k8s_store_count(s, DS_K8S_PODS), pods + 1);
	/* the thread honours count */
	assert_int_equal(ds_k8s_churn_set(c, 2000, DS_K8S_CHURN_MIX, 50), DS_OK);
	ds_k8s_churn_stats_t cs;
	for (int i = 0; i < 200; i++) {
		ds_k8s_churn_stats(c, &cs);
		if (cs.ops + cs.skipped >= 54)
			break;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	ds_k8s_churn_stats(c, &cs);
	assert_int_equal(cs.ops + cs.skipped, 54);
	assert_int_equal(ds_k8s_churn_kind_parse("endpoint-flap"), DS_K8S_CHURN_FLAP);
	assert_int_equal(ds_k8s_churn_kind_parse("nope"), -1);
	ds_k8s_churn_free(c);
	ds_k8s_store_free(s);
}

static ds_k8s_obj_t *only_slice(ds_k8s_store_t *s)
{
	ds_k8s_obj_t *o;
	ds_k8s_status_t status;
	assert_int_equal(
	    ds_k8s_store_get(s, DS_K8S_ENDPOINTSLICES, "default", "web-1", &o, &status), DS_OK);
	return o;
}

static void flap_and_check(ds_k8s_store_t *s, ds_k8s_churn_t *c)
{
	ds_k8s_obj_t *before = only_slice(s);
	assert_int_equal(ds_k8s_churn_step(c, DS_K8S_CHURN_FLAP), DS_OK);
	ds_k8s_obj_t *after = only_slice(s);
	assert_true(after->rv > before->rv);
	cJSON *a = ds_k8s_obj_parse(after), *b = ds_k8s_obj_parse(before);
	assert_non_null(a); /* the spliced text is still JSON */
	char rv[24];
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)after->rv);
	cJSON *md = cJSON_GetObjectItem(a, "metadata");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(md, "resourceVersion")), rv);
	const char *t = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(md, "annotations"),
				"endpoints.kubernetes.io/last-change-trigger-time"));
	assert_non_null(t);
	assert_true(strncmp(t, "2025-", 5) != 0);
	int flipped = 0;
	for (int i = 0; i < 3; i++) {
		cJSON *ca = cJSON_GetObjectItem(
		    cJSON_GetArrayItem(cJSON_GetObjectItem(a, "endpoints"), i), "conditions");
		cJSON *cb = cJSON_GetObjectItem(
		    cJSON_GetArrayItem(cJSON_GetObjectItem(b, "endpoints"), i), "conditions");
		/* unset or null means ready */
		bool ra = !cJSON_IsFalse(cJSON_GetObjectItem(ca, "ready"));
		bool rb = !cJSON_IsFalse(cJSON_GetObjectItem(cb, "ready"));
		if (ra == rb)
			continue;
		flipped++;
		/* serving, when the endpoint has it, follows ready */
		cJSON *sv = cJSON_GetObjectItem(ca, "serving");
		if (sv)
			assert_int_equal(cJSON_IsTrue(sv), ra);
	}
	assert_int_equal(flipped, 1);
	/* nothing else changed: same labels, same addresses */
	assert_string_equal(ds_k8s_obj_label(after, "kubernetes.io/service-name"), "web");
	assert_true(
	    cJSON_Compare(cJSON_GetObjectItem(a, "ports"), cJSON_GetObjectItem(b, "ports"), 1));
	cJSON_Delete(a);
	cJSON_Delete(b);
	ds_k8s_obj_unref(before);
	ds_k8s_obj_unref(after);
}

static void test_flap_splice(void **st)
{
	/* With the annotation the flap is spliced into the text; without it
	 * (a slice loaded from a file) the general path adds it. */
	const char *with =
	    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
	    "{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/"
	    "service-name\":\"web\"},\"annotations\":{\"endpoints.kubernetes.io/last-change-"
	    "trigger-time\":\"2025-01-01T00:00:00Z\"}},\"addressType\":\"IPv4\",\"endpoints\":["
	    "{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":true,\"serving\":true}},"
	    "{\"addresses\":[\"10.244.0.3\"],\"conditions\":{\"ready\":false,\"serving\":false}},"
	    "{\"addresses\":[\"10.244.0.4\"],\"conditions\":{\"ready\":null,\"serving\":true}}],"
	    "\"ports\":[{\"name\":\"http\",\"port\":80}]}";
	const char *without =
	    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
	    "{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/"
	    "service-name\":\"web\"}},\"addressType\":\"IPv4\",\"endpoints\":["
	    "{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":true}},"
	    "{\"addresses\":[\"10.244.0.3\"],\"conditions\":{}},"
	    "{\"addresses\":[\"10.244.0.4\"]}],\"ports\":[{\"name\":\"http\",\"port\":80}]}";
	const char *docs[] = {with, without};
	for (int d = 0; d < 2; d++) {
		ds_k8s_store_opts_t so = {.seed = 1};
		ds_k8s_store_t *s = ds_k8s_store_new(&so);
		ds_err_t err;
		cJSON *o = cJSON_Parse(docs[d]);
		assert_int_equal(ds_k8s_store_load(s, o, &err), DS_OK);
		cJSON_Delete(o);
		assert_int_equal(ds_k8s_store_seal(s, NULL, &err), DS_OK);
		ds_k8s_churn_t *c = ds_k8s_churn_new(s, (uint64_t)d + 1);
		for (int i = 0; i < 20; i++)
			flap_and_check(s, c);
		ds_k8s_churn_free(c);
		ds_k8s_store_free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_determinism),  cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_flap_splice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
