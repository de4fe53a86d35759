/* SPDX-License-Identifier: MIT */
/*
 * kubernetes [ZONES...] { endpoint, tls, kubeconfig, namespaces, labels,
 * namespace_labels, pods, endpoint_pod_names, ttl, noendpoints,
 * fallthrough, ignore empty_service, startup_timeout, apiserver_* }:
 * CoreDNS's kubernetes plugin (SPEC.md 8).
 *
 * Setup parses the options and the API credentials (so a bad kubeconfig
 * is a configuration error naming the file and field); start launches the
 * watcher thread and, like CoreDNS, waits up to startup_timeout for the
 * first sync before the server starts answering. Queries read the
 * current view without locks (answer.c); readiness is "synced once".
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/plugins/kubernetes/client.h"
#include "server/plugins/kubernetes/kubernetes.h"
#include "server/src/server.h"

bool ds_k8s_test_noapi;

/* ---------------------------------------------------------------- metrics */

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static int metrics_slot = -1;
static ds_mfam_t *f_latency;
static ds_mhist_t h_latency[2];
static bool have_latency[2];

unsigned ds_k8s_metrics_lock(void)
{
	pthread_mutex_lock(&metrics_mu);
	if (metrics_slot < 0)
		metrics_slot = (int)ds_metrics_tid();
	return (unsigned)metrics_slot;
}

void ds_k8s_metrics_unlock(void)
{
	pthread_mutex_unlock(&metrics_mu);
}

void ds_k8s_observe_latency(int kind, int64_t ns)
{
	static const char *kinds[] = {"cluster_ip", "headless_with_selector"};
	if (kind < 0 || kind > 1)
		return;
	unsigned tid = ds_k8s_metrics_lock();
	if (f_latency) {
		if (!have_latency[kind]) {
			const char *v[] = {kinds[kind]};
			h_latency[kind] = ds_metrics_hseries(f_latency, v);
			have_latency[kind] = true;
		}
		ds_metric_observe(tid, &h_latency[kind], (uint64_t)ns);
	}
	ds_k8s_metrics_unlock();
}

static void create_metrics(ds_k8s_client_metrics_t *m)
{
	static double lat_buckets[20], def_buckets[11];
	static const double defs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
	for (int i = 0; i < 20; i++)
		lat_buckets[i] = 1e6 * (double)(1u << i); /* 1 ms x 2^i, in ns */
	for (int i = 0; i < 11; i++)
		def_buckets[i] = defs[i] * 1e9;
	static const char *lk[] = {"service_kind"};
	static const char *lr[] = {"code", "method", "host"};
	static const char *lv[] = {"verb", "host"};
	ds_mfam_t *lat = ds_metrics_family(
	    "coredns_kubernetes_dns_programming_duration_seconds",
	    "Histogram of the time (in seconds) it took to program a dns instance.", DS_M_HISTOGRAM,
	    lk, 1, lat_buckets, 20, 1e-9);
	m->requests = ds_metrics_family(
	    "coredns_kubernetes_rest_client_requests_total",
	    "Number of HTTP requests, partitioned by status code, method, and host.", DS_M_COUNTER,
	    lr, 3, NULL, 0, 1);
	m->duration = ds_metrics_family("coredns_kubernetes_rest_client_request_duration_seconds",
	                                "Request latency in seconds. Broken down by verb and host.",
	                                DS_M_HISTOGRAM, lv, 2, def_buckets, 11, 1e-9);
	m->ratelimit = ds_metrics_family(
	    "coredns_kubernetes_rest_client_rate_limiter_duration_seconds",
	    "Client side rate limiter latency in seconds. Broken down by verb and host.",
	    DS_M_HISTOGRAM, lv, 2, def_buckets, 11, 1e-9);
	ds_k8s_metrics_lock();
	f_latency = lat;
	ds_k8s_metrics_unlock();
}

/* ------------------------------------------------------------------ setup */

static bool zone_is_reverse(const uint8_t *z)
{
	/* CoreDNS's IsReverse: below in-addr.arpa. or ip6.arpa., not the apex */
	static const uint8_t v4[] = "\x07"
	                            "in-addr"
	                            "\x04"
	                            "arpa",
	                     v6[] = "\x03"
	                            "ip6"
	                            "\x04"
	                            "arpa";
	if (ds_name_labels(z) < 3)
		return false;
	const uint8_t *s = ds_name_suffix(z, 2);
	return ds_name_eq(s, v4) || ds_name_eq(s, v6);
}

/* Zones from arguments (CIDRs expand as in server block keys). */
static int parse_zone_args(ds_args_t *a, const char **args, size_t na, uint8_t (**out)[DS_NAME_MAX],
                           size_t *n)
{
	uint8_t(*z)[DS_NAME_MAX] = NULL;
	size_t nz = 0;
	for (size_t i = 0; i < na; i++) {
		ds_zone_key_t zk[DS_ZONE_KEY_MAX];
		ds_err_t e;
		int k = ds_zone_key_parse(args[i], 53, zk, DS_ZONE_KEY_MAX, &e);
		if (k <= 0) {
			free(z);
			return ds_args_err(a, "invalid zone '%s'", args[i]);
		}
		uint8_t(*nzp)[DS_NAME_MAX] = realloc(z, (nz + (size_t)k) * DS_NAME_MAX);
		if (!nzp) {
			free(z);
			return DS_ENOMEM;
		}
		z = nzp;
		for (int j = 0; j < k; j++) {
			if (ds_name_from_str(zk[j].zone, NULL, z[nz]) < 0) {
				free(z);
				return ds_args_err(a, "invalid zone '%s'", args[i]);
			}
			ds_name_lower(z[nz++]);
		}
	}
	*out = z;
	*n = nz;
	return DS_OK;
}

static int parse_selector(ds_args_t *a, const char *opt, const char **v, size_t nv,
                          ds_k8s_selector_t **out)
{
	if (nv == 0)
		return ds_args_err_argcount(a);
	char *text = ds_join_words(NULL, v, nv);
	if (!text)
		return DS_ENOMEM;
	char why[256];
	ds_k8s_selector_free(*out);
	*out = NULL;
	int rc = ds_k8s_selector_parse(text, out, why, sizeof(why));
	if (rc < 0)
		rc = ds_args_err(a, "unable to parse %s selector value: '%s': %s", opt, text, why);
	free(text);
	return rc;
}

static int k8s_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	ds_k8s_t *k = calloc(1, sizeof(*k));
	if (!k)
		return DS_ENOMEM;
	p->ctx = k;
	k->self = p;
	k->ttl = 5;
	k->startup_timeout_ns = 5 * DS_NS_PER_SEC;
	atomic_init(&k->synced, false);
	ds_args_next(a);
	ds_args_t at_directive = *a;
	const char *args[64];
	size_t na = ds_args_remaining(a, args, 64);
	int rc;
	if (na > 64)
		return ds_args_err(a, "too many zones");
	if (na) {
		if ((rc = parse_zone_args(a, args, na, &k->zones, &k->nzones)) < 0)
			return rc;
	} else {
		k->nzones = p->block->nzones;
		k->zones = calloc(k->nzones ? k->nzones : 1, DS_NAME_MAX);
		if (!k->zones)
			return DS_ENOMEM;
		memcpy(k->zones, p->block->zones, k->nzones * DS_NAME_MAX);
	}
	bool primary = false;
	for (size_t i = 0; i < k->nzones && !primary; i++)
		if (!zone_is_reverse(k->zones[i])) {
			k->primary = i;
			primary = true;
		}
	if (!primary)
		return ds_args_err(a, "non-reverse zone name must be used");
	const char *endpoint = NULL, *tls[3] = {NULL, NULL, NULL};
	const char *kcfg = NULL, *kctx = NULL;
	ds_args_t at_kcfg = *a, at_endpoint = *a;
	while (ds_args_next_block(a)) {
		const char *key = ds_args_val(a);
		const char *v[64];
		ds_args_t here = *a;
		size_t nv = ds_args_remaining(a, v, 64);
		if (!strcmp(key, "endpoint")) {
			if (nv == 0)
				return ds_args_err_argcount(a);
			if (nv > 1)
				ds_plog(DS_LOG_WARNING, "kubernetes",
				        "Multiple endpoints have been deprecated, only the first "
				        "specified endpoint '%s' is used",
				        v[0]);
			endpoint = v[0];
			at_endpoint = here;
		} else if (!strcmp(key, "tls")) {
			if (nv != 3)
				return ds_args_err_argcount(a);
			memcpy(tls, v, sizeof(tls));
		} else if (!strcmp(key, "kubeconfig")) {
			if (nv != 1 && nv != 2)
				return ds_args_err_argcount(a);
			kcfg = v[0];
			kctx = nv == 2 ? v[1] : NULL;
			at_kcfg = here;
		} else if (!strcmp(key, "namespaces")) {
			if (nv == 0)
				return ds_args_err_argcount(a);
			for (size_t i = 0; i < nv && i < 64; i++) {
				char **nn =
				    realloc(k->namespaces, (k->nnamespaces + 1) * sizeof(*nn));
				if (!nn)
					return DS_ENOMEM;
				k->namespaces = nn;
				if (!(k->namespaces[k->nnamespaces] = strdup(v[i])))
					return DS_ENOMEM;
				k->nnamespaces++;
			}
		} else if (!strcmp(key, "labels")) {
			if ((rc = parse_selector(a, "label", v, nv, &k->labels)) < 0)
				return rc;
		} else if (!strcmp(key, "namespace_labels")) {
			if ((rc = parse_selector(a, "namespace_label", v, nv, &k->ns_labels)) < 0)
				return rc;
		} else if (!strcmp(key, "pods")) {
			if (nv != 1)
				return ds_args_err_argcount(a);
			if (!strcmp(v[0], "disabled"))
				k->pod_mode = DS_K8S_PODS_DISABLED;
			else if (!strcmp(v[0], "insecure"))
				k->pod_mode = DS_K8S_PODS_INSECURE;
			else if (!strcmp(v[0], "verified"))
				k->pod_mode = DS_K8S_PODS_VERIFIED;
			else
				return ds_args_err(a,
				                   "wrong value for pods: %s,  must be one of: "
				                   "disabled, verified, insecure",
				                   v[0]);
		} else if (!strcmp(key, "endpoint_pod_names")) {
			if (nv)
				return ds_args_err_argcount(a);
			k->endpoint_pod_names = true;
		} else if (!strcmp(key, "ttl")) {
			long long t;
			if (nv == 0)
				return ds_args_err_argcount(a);
			if (ds_parse_int(v[0], -1000000000LL, 1000000000LL, &t) < 0)
				return ds_args_err(
				    a, "strconv.Atoi: parsing \"%s\": invalid syntax", v[0]);
			if (t < 0 || t > 3600)
				return ds_args_err(a, "ttl must be in range [0, 3600]: %lld", t);
			k->ttl = (uint32_t)t;
		} else if (!strcmp(key, "noendpoints")) {
			if (nv)
				return ds_args_err_argcount(a);
			k->noendpoints = true;
		} else if (!strcmp(key, "fallthrough")) {
			free(k->fall);
			k->fall = NULL;
			k->fall_set = true;
			if (nv == 0) {
				k->fall = calloc(1, DS_NAME_MAX); /* the root: everything */
				if (!k->fall)
					return DS_ENOMEM;
				k->nfall = 1;
			} else if ((rc = parse_zone_args(a, v, nv < 64 ? nv : 64, &k->fall,
			                                 &k->nfall)) < 0) {
				return rc;
			}
		} else if (!strcmp(key, "ignore")) {
			if (nv > 0) {
				if (strcmp(v[0], "empty_service") != 0)
					return ds_args_err(a, "unable to parse ignore value: '%s'",
					                   v[0]);
				k->ignore_empty = true;
			}
		} else if (!strcmp(key, "startup_timeout")) {
			if (nv != 1)
				return ds_args_err_argcount(a);
			if (ds_parse_duration(v[0], &k->startup_timeout_ns) < 0 ||
			    k->startup_timeout_ns < 0)
				return ds_args_err(a, "invalid startup_timeout '%s'", v[0]);
		} else if (!strcmp(key, "apiserver_qps") || !strcmp(key, "apiserver_burst") ||
		           !strcmp(key, "apiserver_max_inflight")) {
			/* client-side throttling: the watcher makes one request per
			 * resource at a time, so these limits are accepted and have
			 * nothing to limit */
			long long x;
			if (nv != 1)
				return ds_args_err_argcount(a);
			if (ds_parse_int(v[0], 0, 1000000000LL, &x) < 0)
				return ds_args_err(a, "invalid %s value '%s'", key, v[0]);
		} else if (!strcmp(key, "multicluster") || !strcmp(key, "zonal")) {
			return ds_args_err(a, "'%s' is not supported by dnsurged yet", key);
		} else {
			return ds_args_err(a, "unknown property '%s'", key);
		}
	}
	if (k->nnamespaces && k->ns_labels)
		return ds_args_err(a, "namespaces and namespace_labels cannot both be set");
	k->objopts.endpoint_pod_names = k->endpoint_pod_names;
	k->objopts.endpoints = !k->noendpoints;
	k->objopts.pods = k->pod_mode == DS_K8S_PODS_VERIFIED;
	k->objopts.labels = k->labels;
	k->objopts.ns_labels = k->ns_labels;
	k->store = ds_k8s_store_new(ds_worker_count() + 1);
	if (!k->store)
		return DS_ENOMEM;
	if (ds_k8s_test_noapi)
		return DS_OK;
	ds_err_t e = {{0}};
	if (kcfg) {
		/* the kubeconfig's cluster wins over endpoint, as in CoreDNS */
		if (ds_k8s_conn_kubeconfig(&k->conn, kcfg, kctx, &e) < 0)
			return ds_args_err(&at_kcfg, "%s", e.msg);
	} else if (endpoint) {
		if (ds_k8s_conn_endpoint(&k->conn, endpoint, tls[0], tls[1], tls[2], &e) < 0)
			return ds_args_err(&at_endpoint, "%s", e.msg);
	} else if (ds_k8s_conn_in_cluster(&k->conn, &e) < 0) {
		return ds_args_err(&at_directive, "%s", e.msg);
	}
	k->api = true;
	return DS_OK;
}

/* ------------------------------------------------------------------ start */

/* CoreDNS's boundIPs: with explicit bind addresses (plain IPs, which its
 * CIDR parse rejects) none; listening on any address, every non-loopback
 * interface address. */
static void local_ips(ds_k8s_t *k)
{
	const ds_sockaddr_t *ls;
	size_t nl = ds_block_listen(k->self->block, &ls);
	k->nlocal = 0;
	if (nl != 1 || !ds_addr_is_any(&ls[0]))
		return;
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i && k->nlocal < DS_K8S_MAX_LOCAL; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s =
			    (const struct sockaddr_in *)(void *)i->ifa_addr;
			k->local_fam[k->nlocal] = 4;
			memset(k->local_ip[k->nlocal], 0, 16);
			memcpy(k->local_ip[k->nlocal++], &s->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s =
			    (const struct sockaddr_in6 *)(void *)i->ifa_addr;
			k->local_fam[k->nlocal] = 6;
			memcpy(k->local_ip[k->nlocal++], &s->sin6_addr, 16);
		}
	}
	freeifaddrs(ifa);
}

static int k8s_start(ds_plugin_t *p, ds_err_t *err)
{
	ds_k8s_t *k = p->ctx;
	ds_k8s_client_metrics_t m;
	create_metrics(&m);
	local_ips(k);
	if (!k->api)
		return DS_OK;
	int rc = ds_k8s_client_start(k, &m, err);
	if (rc < 0)
		return rc;
	/* CoreDNS waits for the first sync, then starts answering anyway */
	int64_t start = ds_now_ns(), next_log = start + 500 * DS_NS_PER_MS;
	while (!atomic_load(&k->synced)) {
		int64_t now = ds_now_ns();
		if (now - start >= k->startup_timeout_ns) {
			ds_plog(DS_LOG_WARNING, "kubernetes",
			        "starting server with unsynced Kubernetes API");
			break;
		}
		if (now >= next_log) {
			ds_plog(DS_LOG_INFO, "kubernetes",
			        "waiting for Kubernetes API before starting server");
			next_log += 500 * DS_NS_PER_MS;
		}
		usleep(5000);
	}
	return DS_OK;
}

static void k8s_stop(ds_plugin_t *p)
{
	ds_k8s_t *k = p->ctx;
	if (k)
		ds_k8s_client_stop(k);
}

static void k8s_teardown(ds_plugin_t *p)
{
	ds_k8s_t *k = p->ctx;
	if (!k)
		return;
	ds_k8s_client_stop(k);
	ds_k8s_store_free(k->store);
	ds_k8s_selector_free(k->labels);
	ds_k8s_selector_free(k->ns_labels);
	ds_k8s_conn_free(&k->conn);
	for (size_t i = 0; i < k->nnamespaces; i++)
		free(k->namespaces[i]);
	free(k->namespaces);
	free(k->zones);
	free(k->fall);
	free(k);
}

static int k8s_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	/* the control loop answers no queries (and is not given back its
	 * state at exit) */
	if (ds_worker_id(w) >= ds_worker_count()) {
		*wctx = NULL;
		return DS_OK;
	}
	ds_k8s_wctx_t *x = calloc(1, sizeof(*x));
	if (!x)
		return DS_ENOMEM;
	*wctx = x;
	return DS_OK;
}

static void k8s_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	free(wctx);
}

static bool k8s_ready(ds_plugin_t *p)
{
	ds_k8s_t *k = p->ctx;
	return atomic_load(&k->synced);
}

/* ------------------------------------------------------------------ tests */

ds_k8s_t *ds_k8s_test_instance(ds_gen_t *g)
{
	ds_block_t *const *bs;
	size_t n = ds_gen_blocks(g, &bs);
	for (size_t i = 0; i < n; i++) {
		ds_plugin_t *p = ds_block_find(bs[i], "kubernetes");
		if (p)
			return p->ctx;
	}
	return NULL;
}

int ds_k8s_test_load(ds_k8s_t *k, const char *path, ds_err_t *err)
{
	return ds_k8s_load_file(k->store, &k->objopts, path, err);
}

void ds_k8s_test_set_synced(ds_k8s_t *k, bool synced)
{
	atomic_store(&k->synced, synced);
}

void ds_k8s_test_set_local(ds_k8s_t *k, const uint8_t *fams, const uint8_t (*ips)[16], size_t n)
{
	k->nlocal = n < DS_K8S_MAX_LOCAL ? n : DS_K8S_MAX_LOCAL;
	for (size_t i = 0; i < k->nlocal; i++) {
		k->local_fam[i] = fams[i];
		memcpy(k->local_ip[i], ips[i], 16);
	}
}

DS_PLUGIN_DEFINE(kubernetes) = {
    .abi = DS_PLUGIN_ABI,
    .name = "kubernetes",
    .flags = DS_PLUGIN_ONCE,
    .setup = k8s_setup,
    .start = k8s_start,
    .worker_init = k8s_worker_init,
    .worker_fini = k8s_worker_fini,
    .serve = ds_k8s_serve,
    .ready = k8s_ready,
    .stop = k8s_stop,
    .teardown = k8s_teardown,
};
