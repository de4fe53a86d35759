/* SPDX-License-Identifier: MIT */
/* API objects (cJSON) to compact view records; fixture files for tests. */
#include "server/plugins/kubernetes/objects.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/net.h"
#include "lib/wire.h"

#define SVC_NAME_LABEL "kubernetes.io/service-name"
#define TRIGGER_ANNOTATION "endpoints.kubernetes.io/last-change-trigger-time"

int ds_k8s_kind_from_str(const char *kind)
{
	if (!kind)
		return -1;
	if (!strcmp(kind, "Service"))
		return DS_K8S_K_SVC;
	if (!strcmp(kind, "EndpointSlice"))
		return DS_K8S_K_SLICE;
	if (!strcmp(kind, "Namespace"))
		return DS_K8S_K_NS;
	if (!strcmp(kind, "Pod"))
		return DS_K8S_K_POD;
	return -1;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A lower-cased copy of a name into buf (names are DNS labels: <= 253). */
static size_t lname(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; s && s[n] && n < cap; n++)
		buf[n] = (char)tolower((unsigned char)s[n]);
	return s && s[n] ? 0 : n; /* too long: treated as missing */
}

bool ds_k8s_parse_time(const char *s, int64_t *ns)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return false;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		for (; digits < 9; digits++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return false;
		off = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	time_t t = timegm(&tm);
	*ns = ((int64_t)t - off) * 1000000000LL + frac;
	return true;
}

/* A port list as the packed form; none at all becomes the -1 sentinel
 * (a Service's or slice's portless records). */
static int pack_ports(const cJSON *ports, bool svc, uint8_t **out, size_t *len, unsigned *n)
{
	size_t cap = 64, used = 0;
	unsigned cnt = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return DS_ENOMEM;
	const cJSON *p;
	const cJSON *list = cJSON_IsArray(ports) ? ports : NULL;
	cJSON_ArrayForEach(p, list)
	{
		const cJSON *pn = get(p, "port");
		/* the API's int32; anything else is no port (the -1 of a nil port) */
		int32_t port = cJSON_IsNumber(pn) && pn->valuedouble >= -2147483648.0 &&
		                       pn->valuedouble <= 2147483647.0
		                   ? (int32_t)pn->valuedouble
		                   : -1;
		const char *name = str(p, "name");
		const char *proto = str(p, "protocol");
		/* the API server defaults a Service port's protocol to TCP */
		if (!proto && svc)
			proto = "TCP";
		size_t nl = name ? strlen(name) : 0, pl = proto ? strlen(proto) : 0;
		if (nl > 255 || pl > 255)
			continue;
		if (used + 6 + nl + pl > cap) {
			cap = (used + 6 + nl + pl) * 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return DS_ENOMEM;
			}
			buf = nb;
		}
		used += ds_k8s_port_pack(buf + used, port, proto ? proto : "", pl, name ? name : "",
		                         nl);
		cnt++;
	}
	if (cnt == 0)
		used = ds_k8s_port_pack(buf, -1, "", 0, "", 0), cnt = 1;
	*out = buf;
	*len = used;
	*n = cnt;
	return DS_OK;
}

static int apply_svc(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, bool del, const cJSON *obj,
                     bool *skipped)
{
	const cJSON *md = get(obj, "metadata"), *spec = get(obj, "spec");
	char ns[256], name[256];
	size_t nsl = lname(str(md, "namespace"), ns, sizeof(ns));
	size_t nl = lname(str(md, "name"), name, sizeof(name));
	if (!nsl || !nl) {
		*skipped = true;
		return DS_OK;
	}
	if (del || !ds_k8s_selector_match(o->labels, get(md, "labels")))
		return ds_k8s_store_del_svc(s, ns, nsl, name, nl);
	const char *type = str(spec, "type");
	uint8_t fams[2], ips[2][16];
	unsigned nips = 0;
	uint8_t kind = DS_K8S_CLUSTERIP;
	uint8_t ext[DS_NAME_MAX];
	bool ext_ok = false, ext_is_ip = false;
	if (type && !strcmp(type, "ExternalName")) {
		kind = DS_K8S_EXTERNAL;
		const char *en = str(spec, "externalName");
		uint8_t tmp[16];
		if (!en || !en[0] || ds_ip_parse(en, tmp))
			ext_is_ip = true; /* an IP (or nothing) is never answered */
		else if (ds_name_from_str(en, NULL, ext) > 0)
			ext_ok = true;
		else
			ext_is_ip = true;
	} else {
		const cJSON *cips = get(spec, "clusterIPs");
		const cJSON *first = cJSON_IsArray(cips) ? cJSON_GetArrayItem(cips, 0) : NULL;
		const char *c0 =
		    cJSON_IsString(first) ? first->valuestring : str(spec, "clusterIP");
		if (c0 && !strcmp(c0, "None")) {
			kind = DS_K8S_HEADLESS;
		} else if (first) {
			const cJSON *c;
			cJSON_ArrayForEach(c, cips)
			{
				if (nips < 2 && cJSON_IsString(c)) {
					int f = ds_ip_parse(c->valuestring, ips[nips]);
					if (f) {
						if (f == AF_INET)
							memset(ips[nips] + 4, 0, 12);
						fams[nips++] = f == AF_INET ? 4 : 6;
					}
				}
			}
		} else if (c0) {
			int f = ds_ip_parse(c0, ips[0]);
			if (f) {
				if (f == AF_INET)
					memset(ips[0] + 4, 0, 12);
				fams[nips++] = f == AF_INET ? 4 : 6;
			}
		}
	}
	uint8_t *ports;
	size_t plen;
	unsigned np;
	if (pack_ports(get(spec, "ports"), true, &ports, &plen, &np) < 0)
		return DS_ENOMEM;
	ds_k8s_svc_t *v = ds_k8s_svc_new(kind, fams, (const uint8_t(*)[16])ips, nips, ports, plen,
	                                 np, ext_ok ? ext : NULL, ext_is_ip);
	free(ports);
	if (!v)
		return DS_ENOMEM;
	return ds_k8s_store_put_svc(s, ns, nsl, name, nl, v);
}

/* A growable byte buffer for building slices. */
typedef struct bbuf {
	uint8_t *p;
	size_t len, cap;
} bbuf_t;

static int bput(bbuf_t *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = (b->len + n) * 2 + 64;
		uint8_t *np = realloc(b->p, nc);
		if (!np)
			return DS_ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return DS_OK;
}

static void report_latency(ds_k8s_store_t *s, uint64_t svckey, const cJSON *md,
                           ds_k8s_latency_fn lat, void *arg)
{
	if (!lat)
		return;
	const char *tt = str(get(md, "annotations"), TRIGGER_ANNOTATION);
	int64_t ns;
	if (!tt || !ds_k8s_parse_time(tt, &ns))
		return;
	const ds_k8s_svcent_t *e = ds_k8s_store_svcent(s, svckey);
	if (!e || !e->svc || e->svc->type == DS_K8S_EXTERNAL)
		return;
	lat(arg, e->svc->type == DS_K8S_HEADLESS ? DS_K8S_LAT_HEADLESS : DS_K8S_LAT_CLUSTER_IP, ns);
}

static int apply_slice(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, bool del, const cJSON *obj,
                       ds_k8s_latency_fn lat, void *lat_arg, bool *skipped)
{
	const cJSON *md = get(obj, "metadata");
	char ns[256], name[256], svc[256];
	size_t nsl = lname(str(md, "namespace"), ns, sizeof(ns));
	size_t nl = lname(str(md, "name"), name, sizeof(name));
	if (!nsl || !nl) {
		*skipped = true;
		return DS_OK;
	}
	uint64_t key = ds_k8s_objkey(s, DS_K8S_K_SLICE, ns, nsl, name, nl);
	size_t sl_len = lname(str(get(md, "labels"), SVC_NAME_LABEL), svc, sizeof(svc));
	const char *at = str(obj, "addressType");
	int alen = at && !strcmp(at, "IPv4") ? 4 : at && !strcmp(at, "IPv6") ? 16 : 0;
	bool changed = false;
	int rc;
	if (del || !o->endpoints || !sl_len || !alen ||
	    !ds_k8s_selector_match(o->labels, get(md, "labels"))) {
		/* FQDN slices and slices of no service never make records */
		if (!del && (!sl_len || !alen))
			*skipped = true;
		rc = ds_k8s_store_del_slice(s, key, &changed);
		if (rc == DS_OK && sl_len)
			report_latency(s, ds_k8s_svckey(s, ns, nsl, svc, sl_len), md, lat, lat_arg);
		return rc;
	}
	uint64_t svckey = ds_k8s_svckey(s, ns, nsl, svc, sl_len);
	uint8_t *ports;
	size_t plen;
	unsigned np;
	if (pack_ports(get(obj, "ports"), false, &ports, &plen, &np) < 0)
		return DS_ENOMEM;
	bbuf_t addrs = {0}, names = {0};
	uint32_t naddr = 0;
	rc = DS_OK;
	const cJSON *ep;
	cJSON_ArrayForEach(ep, get(obj, "endpoints"))
	{
		const cJSON *ready = get(get(ep, "conditions"), "ready");
		if (cJSON_IsFalse(ready))
			continue; /* ready unset counts as ready */
		const char *host = str(ep, "hostname");
		const char *pod = o->endpoint_pod_names ? str(get(ep, "targetRef"), "name") : NULL;
		const char *nm = host && host[0]                     ? host
		                 : pod && pod[0] && strlen(pod) < 64 ? pod
		                                                     : "";
		size_t nml = strlen(nm);
		if (nml > 63)
			nml = 0; /* not a label: fall back to the dashed IP */
		const cJSON *a;
		cJSON_ArrayForEach(a, get(ep, "addresses"))
		{
			uint8_t ip[16];
			if (!cJSON_IsString(a))
				continue;
			int f = ds_ip_parse(a->valuestring, ip);
			if (!f || (f == AF_INET) != (alen == 4))
				continue;
			uint8_t l = (uint8_t)nml;
			if (bput(&addrs, ip, (size_t)alen) < 0 || bput(&names, &l, 1) < 0 ||
			    bput(&names, nm, nml) < 0) {
				rc = DS_ENOMEM;
				goto out;
			}
			naddr++;
		}
	}
	ds_k8s_slice_t *sl = ds_k8s_slice_new(key, svckey, (uint8_t)alen, ports, plen, np, addrs.p,
	                                      naddr, names.p, names.len);
	if (!sl) {
		rc = DS_ENOMEM;
		goto out;
	}
	rc = ds_k8s_store_put_slice(s, ns, nsl, svc, sl_len, sl, &changed);
	/* as CoreDNS: every processed add, update or delete of a slice of an
	 * existing service, whether or not it changed what the DNS shows
	 * (so list items count too, with their old trigger times) */
	if (rc == DS_OK)
		report_latency(s, svckey, md, lat, lat_arg);
out:
	free(ports);
	free(addrs.p);
	free(names.p);
	return rc;
}

static int apply_ns(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, bool del, const cJSON *obj,
                    bool *skipped)
{
	const cJSON *md = get(obj, "metadata");
	char ns[256];
	size_t nsl = lname(str(md, "name"), ns, sizeof(ns));
	if (!nsl) {
		*skipped = true;
		return DS_OK;
	}
	if (del || !ds_k8s_selector_match(o->ns_labels, get(md, "labels")))
		return ds_k8s_store_del_ns(s, ns, nsl);
	return ds_k8s_store_put_ns(s, ns, nsl);
}

static int apply_pod(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, bool del, const cJSON *obj,
                     bool *skipped)
{
	if (!o->pods)
		return DS_OK;
	const cJSON *md = get(obj, "metadata"), *st = get(obj, "status");
	char ns[256], name[256];
	size_t nsl = lname(str(md, "namespace"), ns, sizeof(ns));
	size_t nl = lname(str(md, "name"), name, sizeof(name));
	if (!nsl || !nl) {
		*skipped = true;
		return DS_OK;
	}
	uint64_t key = ds_k8s_objkey(s, DS_K8S_K_POD, ns, nsl, name, nl);
	const char *phase = str(st, "phase");
	const cJSON *dts = get(md, "deletionTimestamp");
	/* the phases the watch's field selector leaves out, and pods on their way out */
	if (del || (dts && !cJSON_IsNull(dts)) ||
	    (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") ||
	               !strcmp(phase, "Unknown"))) ||
	    !ds_k8s_selector_match(o->labels, get(md, "labels")))
		return ds_k8s_store_del_pod(s, key);
	uint8_t ip[16];
	const char *pip = str(st, "podIP");
	int f = pip ? ds_ip_parse(pip, ip) : 0;
	return ds_k8s_store_put_pod(s, key, f == AF_INET ? 4 : f == AF_INET6 ? 6 : 0, ip, ns, nsl);
}

int ds_k8s_apply(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, int kind, bool del, const cJSON *obj,
                 ds_k8s_latency_fn lat, void *lat_arg, bool *skipped)
{
	bool sk = false;
	int rc = DS_OK;
	if (!cJSON_IsObject(obj)) {
		sk = true;
	} else {
		switch (kind) {
		case DS_K8S_K_SVC:
			rc = apply_svc(s, o, del, obj, &sk);
			break;
		case DS_K8S_K_SLICE:
			rc = apply_slice(s, o, del, obj, lat, lat_arg, &sk);
			break;
		case DS_K8S_K_NS:
			rc = apply_ns(s, o, del, obj, &sk);
			break;
		case DS_K8S_K_POD:
			rc = apply_pod(s, o, del, obj, &sk);
			break;
		default:
			sk = true;
			break;
		}
	}
	if (skipped)
		*skipped = sk;
	return rc;
}

int ds_k8s_load_file(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, const char *path, ds_err_t *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ds_errf(err, DS_ENOENT, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return ds_errf(err, DS_ENOMEM, "%s: out of memory", path);
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	cJSON *doc = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!doc)
		return ds_errf(err, DS_EINVAL, "%s: not valid JSON", path);
	const cJSON *items = cJSON_IsArray(doc) ? doc : get(doc, "items");
	int rc = DS_OK;
	if (!items) {
		int k = ds_k8s_kind_from_str(str(doc, "kind"));
		rc = ds_k8s_apply(s, o, k, false, doc, NULL, NULL, NULL);
	} else {
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			int k = ds_k8s_kind_from_str(str(it, "kind"));
			if (k < 0)
				continue;
			rc = ds_k8s_apply(s, o, k, false, it, NULL, NULL, NULL);
			if (rc < 0)
				break;
		}
	}
	cJSON_Delete(doc);
	if (rc < 0)
		return ds_errf(err, rc, "%s: %s", path, ds_strerror(rc));
	return ds_k8s_store_publish(s);
}
