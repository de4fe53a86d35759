/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_synth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rand.h"
#include "lib/util.h"
#include "scenarios/k8s/k8s_util.h"

#define PODS_PER_NODE 110
/* 2025-01-01T00:00:00Z: synthetic objects are "created" in the month after. */
#define BASE_TIME_S 1735689600LL

int ds_k8s_synth_parse(const char *spec, ds_k8s_synth_opts_t *o, ds_err_t *err)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->headless_pct = 10;
	o->external_pct = 5;
	o->slice_size = 100;
	o->system = true;
	bool have_ep = false, have_pods = false, have_ns = false;
	char *dup = strdup(spec ? spec : "");
	if (!dup)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	int rc = DS_OK;
	char *save = NULL;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			rc = ds_errf(err, DS_EINVAL, "--synth: expected key=value, got \"%s\"", kv);
			goto out;
		}
		*eq = 0;
		const char *k = kv, *v = eq + 1;
		long long n;
		if (ds_parse_int(v, 0, k[0] == 's' && !strcmp(k, "seed") ? INT64_MAX : 100000000,
				 &n)) {
			rc = ds_errf(err, DS_EINVAL, "--synth: %s: \"%s\" is not a valid number", k,
				     v);
			goto out;
		}
		if (!strcmp(k, "services")) {
			o->services = (unsigned)n;
		} else if (!strcmp(k, "endpoints")) {
			o->endpoints = (unsigned)n;
			have_ep = true;
		} else if (!strcmp(k, "pods")) {
			o->pods = (unsigned)n;
			have_pods = true;
		} else if (!strcmp(k, "namespaces")) {
			o->namespaces = (unsigned)n;
			have_ns = true;
		} else if (!strcmp(k, "seed")) {
			o->seed = (uint64_t)n;
		} else if (!strcmp(k, "dualstack")) {
			o->dualstack = n != 0;
		} else if (!strcmp(k, "headless")) {
			o->headless_pct = (unsigned)n;
		} else if (!strcmp(k, "externalname")) {
			o->external_pct = (unsigned)n;
		} else if (!strcmp(k, "slice")) {
			o->slice_size = (unsigned)n;
		} else if (!strcmp(k, "system")) {
			o->system = n != 0;
		} else {
			rc = ds_errf(err, DS_EINVAL,
				     "--synth: unknown key \"%s\" (services, endpoints, pods, "
				     "namespaces, seed, dualstack, headless, externalname, slice, "
				     "system)",
				     k);
			goto out;
		}
	}
	if (!have_ep)
		o->endpoints = o->services * 3;
	if (!have_pods)
		o->pods = o->endpoints;
	if (!have_ns)
		o->namespaces = o->services / 20 ? o->services / 20 : 1;
	if (o->namespaces == 0)
		o->namespaces = 1;
	if (o->headless_pct + o->external_pct > 100)
		rc = ds_errf(err, DS_EINVAL, "--synth: headless + externalname exceed 100%%");
	else if (o->slice_size < 1 || o->slice_size > 1000)
		rc = ds_errf(err, DS_EINVAL, "--synth: slice must be 1..1000 (the API's limit)");
	else if (DS_MAX(o->endpoints, o->pods) > DS_K8S_SYNTH_MAX_SLOTS)
		rc = ds_errf(err, DS_EINVAL,
			     "--synth: at most %u endpoints/pods (pod IPs 10.244.0.0 to "
			     "10.251.255.255 at 110 pods per node)",
			     DS_K8S_SYNTH_MAX_SLOTS);
out:
	free(dup);
	return rc;
}

/* ---- generator state ---- */

typedef struct gen {
	const ds_k8s_synth_opts_t *o;
	ds_rng_t rng;
	uint8_t *ipmap; /* cluster IP offsets in 10.96.0.0/12 already used */
	uint64_t slots; /* pod slots: max(endpoints, pods) + 2 for CoreDNS */
	uint64_t perm_a, perm_b;
	ds_k8s_synth_cb cb;
	void *arg;
} gen_t;

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Spread slots over nodes so one service's pods do not share a node. */
static uint64_t perm(const gen_t *g, uint64_t slot)
{
	return (slot * g->perm_a + g->perm_b) % g->slots;
}

static void slot_ip4(const gen_t *g, uint64_t slot, char *out)
{
	uint64_t s = perm(g, slot);
	uint32_t v =
	    0x0af40000u + (uint32_t)(s / PODS_PER_NODE) * 256u + 2u + (uint32_t)(s % PODS_PER_NODE);
	sprintf(out, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

/* Text as Go prints an IPv6 address (RFC 5952), as real objects carry. */
static void canon6(char *s)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, s, &a) == 1 && inet_ntop(AF_INET6, &a, buf, sizeof(buf)))
		strcpy(s, buf);
}

static void slot_ip6(const gen_t *g, uint64_t slot, char *out)
{
	uint64_t s = perm(g, slot);
	sprintf(out, "fd00:10:244:%x::%x", (unsigned)(s / PODS_PER_NODE),
		(unsigned)(s % PODS_PER_NODE + 2));
	canon6(out);
}

static unsigned slot_node(const gen_t *g, uint64_t slot)
{
	return (unsigned)(perm(g, slot) / PODS_PER_NODE);
}

static void node_name(unsigned n, char *out)
{
	sprintf(out, "node-%04u", n);
}

static const char *zone_of(unsigned n)
{
	static const char *z[] = {"zone-a", "zone-b", "zone-c"};
	return z[n % 3];
}

static void rand_suffix(gen_t *g, char *out, int n)
{
	/* The alphabet Kubernetes uses for generated names (no vowels). */
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	for (int i = 0; i < n; i++)
		out[i] = alnum[ds_rng_below(&g->rng, sizeof(alnum) - 1)];
	out[n] = 0;
}

static void add_time(gen_t *g, cJSON *parent, const char *key, int64_t t_s)
{
	char buf[DS_K8S_TIME_MAX];
	(void)g;
	cJSON_AddStringToObject(parent, key,
				ds_k8s_fmt_time(t_s * 1000000000LL, false, buf, sizeof(buf)));
}

static cJSON *new_obj(const char *av, const char *kind, const char *ns, const char *name,
		      const char *uid, int64_t created, gen_t *g, cJSON **md)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", av);
	cJSON_AddStringToObject(o, "kind", kind);
	*md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(*md, "name", name);
	if (ns)
		cJSON_AddStringToObject(*md, "namespace", ns);
	cJSON_AddStringToObject(*md, "uid", uid);
	add_time(g, *md, "creationTimestamp", created);
	return o;
}

static int emit(gen_t *g, cJSON *o)
{
	if (!o)
		return DS_ENOMEM;
	int rc = g->cb(g->arg, o);
	cJSON_Delete(o);
	return rc;
}

static uint32_t alloc_cip(gen_t *g)
{
	for (;;) {
		uint32_t off = (uint32_t)ds_rng_below(&g->rng, (1u << 20) - 2) + 1;
		if (g->ipmap[off / 8] & (1u << (off % 8)))
			continue;
		g->ipmap[off / 8] |= (uint8_t)(1u << (off % 8));
		return off;
	}
}

static void cip4(uint32_t off, char *out)
{
	uint32_t v = 0x0a600000u + off;
	sprintf(out, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

static void cip6(uint32_t off, char *out)
{
	sprintf(out, "fd00:10:96::%x:%x", off >> 16, off & 0xffff);
	canon6(out);
}

typedef struct port {
	const char *name; /* NULL: unnamed */
	int port, target;
	const char *proto;
} port_t;

typedef struct ptmpl {
	int n;
	port_t p[3];
} ptmpl_t;

static const ptmpl_t port_templates[] = {
    {1, {{"http", 80, 8080, "TCP"}}},
    {2, {{"http", 80, 8080, "TCP"}, {"https", 443, 8443, "TCP"}}},
    {2, {{"grpc", 9090, 9090, "TCP"}, {"metrics", 9100, 9100, "TCP"}}},
    {2, {{"dns", 53, 5353, "UDP"}, {"dns-tcp", 53, 5353, "TCP"}}},
    {1, {{NULL, 8080, 8080, "TCP"}}},
    {1, {{"postgres", 5432, 5432, "TCP"}}},
    {1, {{"redis", 6379, 6379, "TCP"}}},
    {3, {{"http", 80, 8080, "TCP"}, {"grpc", 9090, 9090, "TCP"}, {"metrics", 9100, 9100, "TCP"}}},
};

typedef enum { SVC_CLUSTERIP, SVC_HEADLESS, SVC_EXTERNAL } svctype_t;

typedef struct svcdesc {
	const char *ns;
	const char *name;
	svctype_t type;
	bool statefulset; /* endpoints carry hostnames = pod names "<svc>-<k>" */
	const ptmpl_t *ports;
	unsigned nendpoints;
	uint64_t first_slot;
	char uid[37];
	int64_t created;
	const char *app;       /* label app= */
	const char *fixed_cip; /* system services */
} svcdesc_t;

static void add_ports(cJSON *arr, const ptmpl_t *t, bool service)
{
	for (int i = 0; i < t->n; i++) {
		cJSON *p = cJSON_CreateObject();
		if (t->p[i].name)
			cJSON_AddStringToObject(p, "name", t->p[i].name);
		cJSON_AddNumberToObject(p, "port", service ? t->p[i].port : t->p[i].target);
		cJSON_AddStringToObject(p, "protocol", t->p[i].proto);
		if (service)
			cJSON_AddNumberToObject(p, "targetPort", t->p[i].target);
		cJSON_AddItemToArray(arr, p);
	}
}

static int gen_service(gen_t *g, const svcdesc_t *s, char *ip4, char *ip6)
{
	cJSON *md;
	cJSON *o = new_obj("v1", "Service", s->ns, s->name, s->uid, s->created, g, &md);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "app", s->app);
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	if (s->type == SVC_EXTERNAL) {
		char ext[300];
		snprintf(ext, sizeof(ext), "%s.%s.external.example.net", s->name, s->ns);
		cJSON_AddStringToObject(spec, "type", "ExternalName");
		cJSON_AddStringToObject(spec, "externalName", ext);
	} else {
		cJSON_AddStringToObject(spec, "type", "ClusterIP");
		cJSON *ips = cJSON_AddArrayToObject(spec, "clusterIPs");
		cJSON *fam = cJSON_AddArrayToObject(spec, "ipFamilies");
		if (s->type == SVC_HEADLESS) {
			cJSON_AddStringToObject(spec, "clusterIP", "None");
			cJSON_AddItemToArray(ips, cJSON_CreateString("None"));
		} else {
			cJSON_AddStringToObject(spec, "clusterIP", ip4);
			cJSON_AddItemToArray(ips, cJSON_CreateString(ip4));
			if (g->o->dualstack)
				cJSON_AddItemToArray(ips, cJSON_CreateString(ip6));
		}
		cJSON_AddItemToArray(fam, cJSON_CreateString("IPv4"));
		if (g->o->dualstack)
			cJSON_AddItemToArray(fam, cJSON_CreateString("IPv6"));
		cJSON_AddStringToObject(spec, "ipFamilyPolicy",
					g->o->dualstack ? "PreferDualStack" : "SingleStack");
		cJSON *sel = cJSON_AddObjectToObject(spec, "selector");
		cJSON_AddStringToObject(sel, "app", s->app);
		cJSON_AddStringToObject(spec, "sessionAffinity", "None");
		cJSON_AddStringToObject(spec, "internalTrafficPolicy", "Cluster");
	}
	add_ports(cJSON_AddArrayToObject(spec, "ports"), s->ports, true);
	cJSON *status = cJSON_AddObjectToObject(o, "status");
	cJSON_AddObjectToObject(status, "loadBalancer");
	return emit(g, o);
}

/* Per endpoint facts shared by its slice entry and its pod. */
typedef struct epdesc {
	char pod[128];
	char uid[37];
	bool ready;
	uint64_t slot;
} epdesc_t;

static int gen_slices(gen_t *g, const svcdesc_t *s, const epdesc_t *eps, bool v6)
{
	unsigned per = g->o->slice_size;
	for (unsigned first = 0; first < s->nendpoints || first == 0; first += per) {
		char sfx[8], name[200], uid[37];
		rand_suffix(g, sfx, 5);
		snprintf(name, sizeof(name), "%s-%s", s->name, sfx);
		ds_k8s_uuid(&g->rng, uid);
		int64_t created = s->created + (int64_t)ds_rng_below(&g->rng, 60);
		cJSON *md;
		cJSON *o = new_obj("discovery.k8s.io/v1", "EndpointSlice", s->ns, name, uid,
				   created, g, &md);
		char gen_name[200];
		snprintf(gen_name, sizeof(gen_name), "%s-", s->name);
		cJSON_AddStringToObject(md, "generateName", gen_name);
		cJSON *labels = cJSON_AddObjectToObject(md, "labels");
		cJSON_AddStringToObject(labels, "app", s->app);
		cJSON_AddStringToObject(labels, "endpointslice.kubernetes.io/managed-by",
					"endpointslice-controller.k8s.io");
		cJSON_AddStringToObject(labels, "kubernetes.io/service-name", s->name);
		if (s->type == SVC_HEADLESS)
			cJSON_AddStringToObject(labels, "service.kubernetes.io/headless", "");
		cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
		add_time(g, ann, "endpoints.kubernetes.io/last-change-trigger-time",
			 created + (int64_t)ds_rng_below(&g->rng, 3600));
		cJSON *owners = cJSON_AddArrayToObject(md, "ownerReferences");
		cJSON *own = cJSON_CreateObject();
		cJSON_AddStringToObject(own, "apiVersion", "v1");
		cJSON_AddBoolToObject(own, "blockOwnerDeletion", true);
		cJSON_AddBoolToObject(own, "controller", true);
		cJSON_AddStringToObject(own, "kind", "Service");
		cJSON_AddStringToObject(own, "name", s->name);
		cJSON_AddStringToObject(own, "uid", s->uid);
		cJSON_AddItemToArray(owners, own);
		cJSON_AddStringToObject(o, "addressType", v6 ? "IPv6" : "IPv4");
		cJSON *arr = cJSON_AddArrayToObject(o, "endpoints");
		for (unsigned k = first; k < s->nendpoints && k < first + per; k++) {
			const epdesc_t *e = &eps[k];
			char ip[64], node[32];
			if (v6)
				slot_ip6(g, e->slot, ip);
			else
				slot_ip4(g, e->slot, ip);
			unsigned n = slot_node(g, e->slot);
			node_name(n, node);
			cJSON *ep = cJSON_CreateObject();
			cJSON *addrs = cJSON_AddArrayToObject(ep, "addresses");
			cJSON_AddItemToArray(addrs, cJSON_CreateString(ip));
			cJSON *cond = cJSON_AddObjectToObject(ep, "conditions");
			cJSON_AddBoolToObject(cond, "ready", e->ready);
			cJSON_AddBoolToObject(cond, "serving", e->ready);
			cJSON_AddBoolToObject(cond, "terminating", false);
			if (s->statefulset)
				cJSON_AddStringToObject(ep, "hostname", e->pod);
			cJSON_AddStringToObject(ep, "nodeName", node);
			cJSON *ref = cJSON_AddObjectToObject(ep, "targetRef");
			cJSON_AddStringToObject(ref, "kind", "Pod");
			cJSON_AddStringToObject(ref, "name", e->pod);
			cJSON_AddStringToObject(ref, "namespace", s->ns);
			cJSON_AddStringToObject(ref, "uid", e->uid);
			cJSON_AddStringToObject(ep, "zone", zone_of(n));
			cJSON_AddItemToArray(arr, ep);
		}
		add_ports(cJSON_AddArrayToObject(o, "ports"), s->ports, false);
		int rc = emit(g, o);
		if (rc)
			return rc;
		if (s->nendpoints == 0)
			break;
	}
	return DS_OK;
}

typedef struct poddesc {
	const char *ns;
	const char *name;
	const char *uid;
	const char *app;
	const char *owner_kind; /* ReplicaSet, StatefulSet, Job */
	const char *owner_name;
	const char *phase;
	bool ready;
	bool scheduled;
	uint64_t slot;
	int64_t created;
	const ptmpl_t *ports;
} poddesc_t;

static int gen_pod(gen_t *g, const poddesc_t *p)
{
	cJSON *md;
	cJSON *o = new_obj("v1", "Pod", p->ns, p->name, p->uid, p->created, g, &md);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "app", p->app);
	cJSON *owners = cJSON_AddArrayToObject(md, "ownerReferences");
	cJSON *own = cJSON_CreateObject();
	cJSON_AddStringToObject(own, "apiVersion",
				strcmp(p->owner_kind, "Job") ? "apps/v1" : "batch/v1");
	cJSON_AddBoolToObject(own, "blockOwnerDeletion", true);
	cJSON_AddBoolToObject(own, "controller", true);
	cJSON_AddStringToObject(own, "kind", p->owner_kind);
	cJSON_AddStringToObject(own, "name", p->owner_name);
	char ouid[37];
	ds_k8s_uuid(&g->rng, ouid);
	cJSON_AddStringToObject(own, "uid", ouid);
	cJSON_AddItemToArray(owners, own);
	unsigned n = slot_node(g, p->slot);
	char node[32], ip[64], ip6[64], host[32];
	node_name(n, node);
	slot_ip4(g, p->slot, ip);
	slot_ip6(g, p->slot, ip6);
	snprintf(host, sizeof(host), "172.18.%u.%u", n / 250, n % 250 + 2);
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	cJSON *ctrs = cJSON_AddArrayToObject(spec, "containers");
	cJSON *c = cJSON_CreateObject();
	char image[200];
	snprintf(image, sizeof(image), "registry.example.net/%s:1.%u", p->app,
		 (unsigned)ds_rng_below(&g->rng, 20));
	cJSON_AddStringToObject(c, "image", image);
	cJSON_AddStringToObject(c, "imagePullPolicy", "IfNotPresent");
	cJSON_AddStringToObject(c, "name", "app");
	if (p->ports) {
		cJSON *ports = cJSON_AddArrayToObject(c, "ports");
		for (int i = 0; i < p->ports->n; i++) {
			cJSON *pp = cJSON_CreateObject();
			cJSON_AddNumberToObject(pp, "containerPort", p->ports->p[i].target);
			if (p->ports->p[i].name)
				cJSON_AddStringToObject(pp, "name", p->ports->p[i].name);
			cJSON_AddStringToObject(pp, "protocol", p->ports->p[i].proto);
			cJSON_AddItemToArray(ports, pp);
		}
	}
	cJSON_AddObjectToObject(c, "resources");
	cJSON_AddItemToArray(ctrs, c);
	cJSON_AddStringToObject(spec, "dnsPolicy", "ClusterFirst");
	if (p->scheduled)
		cJSON_AddStringToObject(spec, "nodeName", node);
	cJSON_AddStringToObject(spec, "restartPolicy",
				strcmp(p->owner_kind, "Job") ? "Always" : "Never");
	cJSON_AddStringToObject(spec, "schedulerName", "default-scheduler");
	cJSON_AddStringToObject(spec, "serviceAccountName", "default");
	cJSON *status = cJSON_AddObjectToObject(o, "status");
	cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
	cJSON *rc_ = cJSON_CreateObject();
	cJSON_AddStringToObject(rc_, "type", "Ready");
	cJSON_AddStringToObject(rc_, "status", p->ready ? "True" : "False");
	cJSON_AddItemToArray(conds, rc_);
	if (p->scheduled) {
		cJSON_AddStringToObject(status, "hostIP", host);
		cJSON_AddStringToObject(status, "podIP", ip);
		cJSON *ips = cJSON_AddArrayToObject(status, "podIPs");
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "ip", ip);
		cJSON_AddItemToArray(ips, a);
		if (g->o->dualstack) {
			cJSON *b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "ip", ip6);
			cJSON_AddItemToArray(ips, b);
		}
		add_time(g, status, "startTime", p->created + 2);
	}
	cJSON_AddStringToObject(status, "phase", p->phase);
	cJSON_AddStringToObject(status, "qosClass", "BestEffort");
	return emit(g, o);
}

/* A service with its slices and backing pods. */
static int gen_backed(gen_t *g, svcdesc_t *s)
{
	char ip4[64] = "", ip6[64] = "";
	if (s->type == SVC_CLUSTERIP) {
		if (s->fixed_cip) {
			snprintf(ip4, sizeof(ip4), "%s", s->fixed_cip);
			unsigned off = (unsigned)strtoul(strrchr(s->fixed_cip, '.') + 1, NULL, 10);
			cip6(off, ip6);
		} else {
			uint32_t off = alloc_cip(g);
			cip4(off, ip4);
			cip6(off, ip6);
		}
	}
	int rc = gen_service(g, s, ip4, ip6);
	if (rc || s->type == SVC_EXTERNAL)
		return rc;
	epdesc_t *eps = calloc(s->nendpoints ? s->nendpoints : 1, sizeof(*eps));
	if (!eps)
		return DS_ENOMEM;
	char hash[12];
	rand_suffix(g, hash, 10);
	for (unsigned k = 0; k < s->nendpoints; k++) {
		epdesc_t *e = &eps[k];
		e->slot = s->first_slot + k;
		if (s->statefulset) {
			snprintf(e->pod, sizeof(e->pod), "%s-%u", s->name, k);
		} else {
			char sfx[8];
			rand_suffix(g, sfx, 5);
			snprintf(e->pod, sizeof(e->pod), "%s-%s-%s", s->name, hash, sfx);
		}
		ds_k8s_uuid(&g->rng, e->uid);
		/* A few endpoints are not ready, as in any live cluster. */
		e->ready = ds_rng_below(&g->rng, 100) >= 3;
	}
	rc = gen_slices(g, s, eps, false);
	if (!rc && g->o->dualstack)
		rc = gen_slices(g, s, eps, true);
	char owner[200];
	snprintf(owner, sizeof(owner), "%s-%s", s->name, hash);
	for (unsigned k = 0; k < s->nendpoints && !rc; k++) {
		if (eps[k].slot >= g->o->pods && !s->fixed_cip)
			break; /* more endpoints than pods: the rest have no Pod object */
		poddesc_t p = {
		    .ns = s->ns,
		    .name = eps[k].pod,
		    .uid = eps[k].uid,
		    .app = s->app,
		    .owner_kind = s->statefulset ? "StatefulSet" : "ReplicaSet",
		    .owner_name = s->statefulset ? s->name : owner,
		    .phase = "Running",
		    .ready = eps[k].ready,
		    .scheduled = true,
		    .slot = eps[k].slot,
		    .created = s->created + 5,
		    .ports = s->ports,
		};
		rc = gen_pod(g, &p);
	}
	free(eps);
	return rc;
}

static int gen_namespace(gen_t *g, const char *name, unsigned i)
{
	static const char *teams[] = {"payments", "search", "platform", "identity",
				      "media",    "growth", "data",     "edge"};
	char uid[37];
	ds_k8s_uuid(&g->rng, uid);
	cJSON *md;
	cJSON *o = new_obj("v1", "Namespace", NULL, name, uid,
			   BASE_TIME_S + (int64_t)ds_rng_below(&g->rng, 86400), g, &md);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "kubernetes.io/metadata.name", name);
	cJSON_AddStringToObject(labels, "team", teams[i % DS_ARRAY_SIZE(teams)]);
	cJSON_AddStringToObject(labels, "env", i % 4 == 3 ? "staging" : "prod");
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	cJSON *fin = cJSON_AddArrayToObject(spec, "finalizers");
	cJSON_AddItemToArray(fin, cJSON_CreateString("kubernetes"));
	cJSON *status = cJSON_AddObjectToObject(o, "status");
	cJSON_AddStringToObject(status, "phase", "Active");
	return emit(g, o);
}

static int gen_system(gen_t *g)
{
	static const ptmpl_t https = {1, {{"https", 443, 6443, "TCP"}}};
	static const ptmpl_t dns = {
	    3,
	    {{"dns", 53, 53, "UDP"}, {"dns-tcp", 53, 53, "TCP"}, {"metrics", 9153, 9153, "TCP"}}};
	/* kubernetes.default: its endpoint is the API server, not a pod. */
	char uid[37];
	ds_k8s_uuid(&g->rng, uid);
	svcdesc_t k = {.ns = "default",
		       .name = "kubernetes",
		       .type = SVC_CLUSTERIP,
		       .ports = &https,
		       .created = BASE_TIME_S,
		       .app = "kubernetes",
		       .fixed_cip = "10.96.0.1"};
	snprintf(k.uid, sizeof(k.uid), "%s", uid);
	char ip6[64];
	cip6(1, ip6);
	int rc = gen_service(g, &k, "10.96.0.1", ip6);
	if (rc)
		return rc;
	cJSON *md;
	ds_k8s_uuid(&g->rng, uid);
	cJSON *o = new_obj("discovery.k8s.io/v1", "EndpointSlice", "default", "kubernetes", uid,
			   BASE_TIME_S, g, &md);
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "kubernetes.io/service-name", "kubernetes");
	cJSON_AddStringToObject(o, "addressType", "IPv4");
	cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
	cJSON *ep = cJSON_CreateObject();
	cJSON *addrs = cJSON_AddArrayToObject(ep, "addresses");
	cJSON_AddItemToArray(addrs, cJSON_CreateString("172.18.0.2"));
	cJSON *cond = cJSON_AddObjectToObject(ep, "conditions");
	cJSON_AddBoolToObject(cond, "ready", true);
	cJSON_AddItemToArray(eps, ep);
	add_ports(cJSON_AddArrayToObject(o, "ports"), &https, false);
	if ((rc = emit(g, o)))
		return rc;
	/* kube-dns: two CoreDNS pods in the last two pod slots. */
	svcdesc_t d = {.ns = "kube-system",
		       .name = "kube-dns",
		       .type = SVC_CLUSTERIP,
		       .ports = &dns,
		       .nendpoints = 2,
		       .first_slot = g->slots - 2,
		       .created = BASE_TIME_S,
		       .app = "kube-dns",
		       .fixed_cip = "10.96.0.10"};
	ds_k8s_uuid(&g->rng, d.uid);
	return gen_backed(g, &d);
}

int ds_k8s_synth_generate(const ds_k8s_synth_opts_t *o, ds_k8s_synth_cb cb, void *arg,
			  ds_err_t *err)
{
	gen_t g = {.o = o, .cb = cb, .arg = arg};
	ds_rng_seed(&g.rng, o->seed);
	g.ipmap = calloc(1, (1u << 20) / 8);
	unsigned *weights = NULL;
	svcdesc_t *svcs = NULL;
	char **names = NULL;
	int rc = DS_ENOMEM;
	if (!g.ipmap)
		goto fail;
	/* 10.96.0.1 and 10.96.0.10 belong to the system services. */
	g.ipmap[0] |= 1 << 1;
	g.ipmap[1] |= 1 << 2;
	g.slots = (uint64_t)DS_MAX(o->endpoints, o->pods) + 2;
	g.perm_b = ds_rng_below(&g.rng, g.slots);
	g.perm_a = 7919;
	while (gcd(g.perm_a, g.slots) != 1)
		g.perm_a += 2;

	names = calloc(o->namespaces + (size_t)o->services, sizeof(char *));
	svcs = calloc(o->services ? o->services : 1, sizeof(*svcs));
	weights = calloc(o->services ? o->services : 1, sizeof(*weights));
	if (!names || !svcs || !weights)
		goto fail;
	for (unsigned i = 0; i < o->namespaces; i++) {
		char n[32];
		snprintf(n, sizeof(n), "ns-%u", i);
		if (!(names[i] = strdup(n)))
			goto fail;
		if ((rc = gen_namespace(&g, names[i], i)))
			goto fail;
	}
	/* Decide types first, then spread the endpoints over the services
	 * that have them, skewed so a few services are large. */
	uint64_t wsum = 0;
	for (unsigned i = 0; i < o->services; i++) {
		svcdesc_t *s = &svcs[i];
		char n[32];
		snprintf(n, sizeof(n), "svc-%u", i);
		if (!(names[o->namespaces + i] = strdup(n))) {
			rc = DS_ENOMEM;
			goto fail;
		}
		s->name = names[o->namespaces + i];
		s->app = s->name;
		s->ns = names[i % o->namespaces];
		unsigned r = (unsigned)ds_rng_below(&g.rng, 100);
		s->type = r < o->external_pct                     ? SVC_EXTERNAL
			  : r < o->external_pct + o->headless_pct ? SVC_HEADLESS
								  : SVC_CLUSTERIP;
		s->statefulset = s->type == SVC_HEADLESS && ds_rng_below(&g.rng, 2);
		s->ports = &port_templates[ds_rng_below(&g.rng, DS_ARRAY_SIZE(port_templates))];
		s->created = BASE_TIME_S + 86400 + (int64_t)ds_rng_below(&g.rng, 30 * 86400);
		ds_k8s_uuid(&g.rng, s->uid);
		if (s->type != SVC_EXTERNAL) {
			double u = ds_rng_double(&g.rng);
			weights[i] = 1 + (unsigned)(15.0 * u * u * u * u);
			wsum += weights[i];
		}
	}
	uint64_t given = 0;
	for (unsigned i = 0; i < o->services && wsum; i++) {
		svcs[i].nendpoints = (unsigned)((uint64_t)o->endpoints * weights[i] / wsum);
		given += svcs[i].nendpoints;
	}
	for (unsigned i = 0; given < o->endpoints && wsum; i = (i + 1) % o->services) {
		if (svcs[i].type == SVC_EXTERNAL)
			continue;
		svcs[i].nendpoints++;
		given++;
	}
	uint64_t slot = 0;
	for (unsigned i = 0; i < o->services; i++) {
		svcs[i].first_slot = slot;
		slot += svcs[i].nendpoints;
		if ((rc = gen_backed(&g, &svcs[i])))
			goto fail;
	}
	/* Pods no service selects: batch jobs in every phase. */
	for (; slot < o->pods; slot++) {
		char name[64], app[32], sfx[8], uid[37];
		unsigned job = (unsigned)(slot % 50);
		snprintf(app, sizeof(app), "batch-%u", job);
		rand_suffix(&g, sfx, 5);
		snprintf(name, sizeof(name), "job-%u-%s", (unsigned)slot, sfx);
		ds_k8s_uuid(&g.rng, uid);
		unsigned r = (unsigned)ds_rng_below(&g.rng, 100);
		const char *phase = r < 85   ? "Running"
				    : r < 95 ? "Succeeded"
				    : r < 98 ? "Failed"
					     : "Pending";
		poddesc_t p = {
		    .ns = names[ds_rng_below(&g.rng, o->namespaces)],
		    .name = name,
		    .uid = uid,
		    .app = app,
		    .owner_kind = "Job",
		    .owner_name = app,
		    .phase = phase,
		    .ready = !strcmp(phase, "Running"),
		    .scheduled = strcmp(phase, "Pending") != 0,
		    .slot = slot,
		    .created = BASE_TIME_S + 86400 + (int64_t)ds_rng_below(&g.rng, 30 * 86400),
		};
		if ((rc = gen_pod(&g, &p)))
			goto fail;
	}
	if (o->system && (rc = gen_system(&g)))
		goto fail;
	rc = DS_OK;
fail:
	if (rc == DS_ENOMEM)
		ds_errf(err, rc, "out of memory generating the synthetic cluster");
	else if (rc)
		ds_errf(err, rc, "synthetic object rejected");
	if (names)
		for (size_t i = 0; i < o->namespaces + (size_t)o->services; i++)
			free(names[i]);
	free(names);
	free(svcs);
	free(weights);
	free(g.ipmap);
	return rc;
}
