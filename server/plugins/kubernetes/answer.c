/* SPDX-License-Identifier: MIT */
/*
 * Answering from the view, with CoreDNS's kubernetes rules (SPEC.md 8):
 * the name grammar of parseRequest, findServices/findPods, the qtype
 * dispatch of ServeDNS, and the backend_lookup rules for A/AAAA (CNAME
 * chase of ExternalName), SRV (weights, merging, additional addresses),
 * TXT, CNAME, PTR, NS and SOA.
 *
 * Nothing here allocates. Records are written straight into the reply
 * with names as pointers into the question wherever CoreDNS would have
 * the query's spelling (owner names, the zone part of targets); SRV
 * targets stay uncompressed as RFC 2782 asks. Duplicates are found with
 * the worker's stamp-cleared table. For UDP, writing stops after the
 * first record past the client's limit: the core's truncation would drop
 * everything after it anyway.
 */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "lib/log.h"
#include "server/plugins/kubernetes/kubernetes.h"
#include "server/src/server.h"

enum { R_OK = 0, R_NX = 1 };

/* entry kinds and the names they produce (msg.Domain of CoreDNS's keys) */
enum { W_ADDR = 0, W_CNAME = 1 };
enum { TK_SVC = 0, TK_EP, TK_POD, TK_NSDEF };

typedef struct lbl {
	const uint8_t *p; /* label bytes (no length byte) */
	uint8_t n;
} lbl_t;

typedef struct ent {
	uint8_t what;
	uint8_t fam;
	uint8_t tk;
	uint8_t hlen; /* TK_EP: explicit name length; 0 = dashed IP */
	int32_t port;
	const uint8_t *ip;
	const ds_k8s_svcent_t *se; /* TK_SVC / TK_EP */
	const uint8_t *host;       /* TK_EP name / TK_POD label */
	lbl_t podns;               /* TK_POD */
	const uint8_t *ext;        /* W_CNAME: flat target */
	uint32_t count;            /* pods sharing the IP (verified): entries it stands for */
} ent_t;

typedef struct rreq {
	int kind; /* 0 none (apex, svc, pod), 1 svc, 2 pod */
	lbl_t ns, svc, ep, port, proto;
	bool has_ep, has_port;
} rreq_t;

typedef struct actx {
	ds_k8s_t *k;
	const ds_k8s_view_t *v;
	ds_query_t *q;
	ds_k8s_wctx_t *w;
	ds_wbuf_t *wb;
	uint32_t soft; /* stop adding records past this length */
	bool stop;     /* soft limit or buffer full */
	bool tc;
	const uint8_t *qname; /* flat, lower-case */
	uint16_t zone_off;    /* where the zone starts in qname */
	uint16_t zone_len;
	/* ExternalName target to resolve through the chain */
	bool ext_pending;
	uint8_t ext_target[DS_NAME_MAX];
	/* CNAME chain (CoreDNS's previousRecords) */
	const uint8_t *chain[9];
	int nchain;
	/* duplicate checks: the first few in place (most answers are small),
	 * then in the worker's stamp-cleared table */
	uint32_t nsmall;
	bool spilled;
	uint64_t skey[16];
	uint32_t sval[16];
} actx_t;

typedef bool (*visit_fn)(actx_t *a, void *arg, const ent_t *e);

/* ------------------------------------------------------------ utilities */

static bool lbl_eq(lbl_t a, const char *s, size_t n)
{
	return a.n == n && strncasecmp((const char *)a.p, s, n) == 0;
}

static bool lbl_is(lbl_t a, const char *s)
{
	return lbl_eq(a, s, strlen(s));
}

/* Labels of name before off (the zone), left to right; count returned. */
static int split(const uint8_t *name, size_t off, lbl_t *out, int max)
{
	int n = 0;
	for (size_t i = 0; i < off && name[i];) {
		if (n == max)
			return max + 1;
		out[n].n = name[i];
		out[n].p = name + i + 1;
		n++;
		i += name[i] + 1u;
	}
	return n;
}

static void seen_reset(actx_t *a)
{
	a->nsmall = 0;
	a->spilled = false;
}

static bool seen_big(actx_t *a, uint64_t key, uint32_t val, uint32_t *old);

/* Add key (never 0); false if already there (*old gets its value). */
static bool seen_add(actx_t *a, uint64_t key, uint32_t val, uint32_t *old)
{
	if (!a->spilled) {
		for (uint32_t i = 0; i < a->nsmall; i++)
			if (a->skey[i] == key) {
				if (old)
					*old = a->sval[i];
				return false;
			}
		if (a->nsmall < DS_ARRAY_SIZE(a->skey)) {
			a->skey[a->nsmall] = key;
			a->sval[a->nsmall++] = val;
			return true;
		}
		/* a big answer: move to the worker's table */
		if (++a->w->stamp == 0) {
			memset(a->w->seen, 0, sizeof(a->w->seen));
			a->w->stamp = 1;
		}
		a->spilled = true;
		for (uint32_t i = 0; i < a->nsmall; i++)
			seen_big(a, a->skey[i], a->sval[i], NULL);
	}
	return seen_big(a, key, val, old);
}

static bool seen_big(actx_t *a, uint64_t key, uint32_t val, uint32_t *old)
{
	ds_k8s_seen_t *t = a->w->seen;
	uint32_t st = a->w->stamp;
	uint32_t i = (uint32_t)(key ^ (key >> 32)) & (DS_K8S_SEEN_SLOTS - 1);
	for (uint32_t n = 0; n < DS_K8S_SEEN_SLOTS / 2;
	     n++, i = (i + 1) & (DS_K8S_SEEN_SLOTS - 1)) {
		if (t[i].stamp != st) {
			t[i].stamp = st;
			t[i].key = key;
			t[i].val = val;
			return true;
		}
		if (t[i].key == key) {
			if (old)
				*old = t[i].val;
			return false;
		}
	}
	return true; /* table crowded: no duplicate check beats a lost record */
}

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* FNV-1a over bytes; names fold ASCII case, binary data (addresses,
 * keys) must not: 'a' and 'A' are different octets there. */
static uint64_t hmix(uint64_t h, const void *p, size_t n, bool fold)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];
		if (fold && c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		h = (h ^ c) * 0x100000001b3ULL;
	}
	return h;
}

static uint64_t hbytes(uint64_t h, const void *p, size_t n)
{
	return hmix(h, p, n, true);
}

static uint64_t hraw(uint64_t h, const void *p, size_t n)
{
	return hmix(h, p, n, false);
}

static uint64_t dup_ipkey(int fam, const uint8_t *ip)
{
	return mix64(hraw(0xcbf29ce484222325ULL ^ (uint64_t)fam, ip, fam == 6 ? 16 : 4));
}

/* The dashed-IP endpoint name ("10-0-0-1", "fd00--1", "2001-db8--0"). */
static size_t dashed(int fam, const uint8_t *ip, char *out)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(fam == 6 ? AF_INET6 : AF_INET, ip, s, sizeof(s));
	size_t n = 0;
	for (const char *c = s; *c; c++)
		out[n++] = (*c == '.' || *c == ':') ? '-' : *c;
	if (n && out[n - 1] == '-')
		out[n++] = '0';
	out[n] = '\0';
	return n;
}

/* Name of an endpoint: explicit (hostname / pod name) or from its IP. */
static lbl_t ep_name(const ent_t *e, char *buf)
{
	if (e->hlen)
		return (lbl_t){e->host, e->hlen};
	return (lbl_t){(const uint8_t *)buf, (uint8_t)dashed(e->fam, e->ip, buf)};
}

/* ---------------------------------------------------------------- writer */

typedef struct mark {
	uint32_t len;
	uint16_t count[3];
} mark_t;

static mark_t wmark(const actx_t *a)
{
	return (mark_t){a->wb->len, {a->wb->count[0], a->wb->count[1], a->wb->count[2]}};
}

static void wrestore(actx_t *a, mark_t m)
{
	a->wb->len = m.len;
	memcpy(a->wb->count, m.count, sizeof(m.count));
	a->wb->overflow = false;
}

static void put_label(ds_wbuf_t *wb, const uint8_t *p, uint8_t n)
{
	ds_wb_u8(wb, n);
	ds_wb_bytes(wb, p, n);
}

/* The zone as the client spelled it: a pointer into the question. */
static void put_zone_ptr(actx_t *a)
{
	if (a->zone_len == 1)
		ds_wb_u8(a->wb, 0);
	else
		ds_wb_u16(a->wb, (uint16_t)(0xc000 | (DS_HDR_LEN + a->zone_off)));
}

/* The zone as the client spelled it, written out (no compression). */
static void put_zone_full(actx_t *a)
{
	ds_wb_bytes(a->wb, a->q->tx + DS_HDR_LEN + a->zone_off, a->zone_len);
}

/* A target name of an entry (CoreDNS's msg.Domain(Key)). */
static void put_target(actx_t *a, const ent_t *e, bool compress)
{
	ds_wbuf_t *wb = a->wb;
	char buf[64];
	switch (e->tk) {
	case TK_EP: {
		lbl_t h = ep_name(e, buf);
		put_label(wb, h.p, h.n);
	}
		/* fall through */
	case TK_SVC:
		put_label(wb, (const uint8_t *)ds_k8s_svcent_name(e->se), e->se->name_len);
		put_label(wb, (const uint8_t *)ds_k8s_svcent_ns(e->se), e->se->ns_len);
		put_label(wb, (const uint8_t *)"svc", 3);
		break;
	case TK_POD:
		put_label(wb, e->host, e->hlen);
		put_label(wb, e->podns.p, e->podns.n);
		put_label(wb, (const uint8_t *)"pod", 3);
		break;
	default:
		put_label(wb, (const uint8_t *)"ns", 2);
		put_label(wb, (const uint8_t *)"dns", 3);
		break;
	}
	if (compress)
		put_zone_ptr(a);
	else
		put_zone_full(a);
}

/* RR header with the owner as a pointer; returns the rdlength mark. */
static int rr_begin(actx_t *a, uint32_t owner_off, uint16_t type, uint32_t ttl)
{
	uint8_t h[12];
	ds_wr16(h, (uint16_t)(0xc000 | owner_off));
	ds_wr16(h + 2, type);
	ds_wr16(h + 4, DS_CLASS_IN);
	ds_wr32(h + 6, ttl);
	ds_wr16(h + 10, 0);
	if (ds_wb_bytes(a->wb, h, sizeof(h)) < 0)
		return -1;
	a->wb->count[a->wb->section]++;
	return (int)a->wb->len - 2;
}

/* Close the RR begun at mark m (rdlength at rd); false if it did not fit. */
static bool rr_end(actx_t *a, mark_t m, int rd)
{
	if (rd < 0 || a->wb->overflow) {
		wrestore(a, m);
		a->stop = true;
		a->tc = true;
		return false;
	}
	ds_wb_rr_end(a->wb, rd);
	if (a->wb->len > a->soft)
		a->stop = true;
	return true;
}

static uint32_t owner_ok(uint32_t off)
{
	return off < 0x4000;
}

static bool put_addr_rr(actx_t *a, uint32_t owner, const ent_t *e, uint32_t ttl)
{
	mark_t m = wmark(a);
	int rd = rr_begin(a, owner, e->fam == 6 ? DS_TYPE_AAAA : DS_TYPE_A, ttl);
	ds_wb_bytes(a->wb, e->ip, e->fam == 6 ? 16 : 4);
	return rr_end(a, m, rd);
}

static void put_soa(actx_t *a)
{
	ds_k8s_t *k = a->k;
	mark_t m = wmark(a);
	/* for the root zone this points at the question's final zero: the root */
	int rd = rr_begin(a, DS_HDR_LEN + a->zone_off, DS_TYPE_SOA, k->ttl < 300 ? k->ttl : 300);
	put_label(a->wb, (const uint8_t *)"ns", 2);
	put_label(a->wb, (const uint8_t *)"dns", 3);
	put_zone_ptr(a);
	put_label(a->wb, (const uint8_t *)"hostmaster", 10);
	put_zone_ptr(a);
	ds_wb_u32(a->wb, a->v->serial);
	ds_wb_u32(a->wb, 7200);
	ds_wb_u32(a->wb, 1800);
	ds_wb_u32(a->wb, 86400);
	ds_wb_u32(a->wb, k->ttl);
	rr_end(a, m, rd);
}

/* -------------------------------------------------------------- lookups */

static bool ns_exposed(actx_t *a, lbl_t ns)
{
	ds_k8s_t *k = a->k;
	if (k->nnamespaces) {
		bool listed = false;
		for (size_t i = 0; i < k->nnamespaces && !listed; i++)
			listed = strlen(k->namespaces[i]) == ns.n &&
			         memcmp(k->namespaces[i], ns.p, ns.n) == 0;
		if (!listed)
			return false;
	}
	return ds_k8s_view_ns(a->v, ds_k8s_nskey(k->store, (const char *)ns.p, ns.n),
	                      (const char *)ns.p, ns.n);
}

static bool ns_filtered_out(actx_t *a, const ds_k8s_svcent_t *se)
{
	/* reverse lookups only check exposure when `namespaces` is set */
	if (!a->k->nnamespaces)
		return false;
	return !ns_exposed(a, (lbl_t){(const uint8_t *)ds_k8s_svcent_ns(se), se->ns_len});
}

static lbl_t strip_us(lbl_t l)
{
	if (l.n && l.p[0] == '_') {
		l.p++;
		l.n--;
	}
	return l;
}

/* CoreDNS's parseRequest: false = errInvalidRequest. */
static bool parse_request(const uint8_t *name, size_t zone_off, rreq_t *r)
{
	memset(r, 0, sizeof(*r));
	lbl_t s[8];
	int n = split(name, zone_off, s, 7);
	if (n == 0 || (n == 1 && (lbl_is(s[0], "svc") || lbl_is(s[0], "pod"))))
		return true;
	if (n > 7)
		return false;
	int last = n - 1;
	if (lbl_is(s[last], "svc"))
		r->kind = 1;
	else if (lbl_is(s[last], "pod"))
		r->kind = 2;
	else
		return false;
	if (--last < 0)
		return true;
	r->ns = s[last];
	if (--last < 0)
		return true;
	r->svc = s[last];
	if (--last < 0)
		return true;
	if (last == 0) {
		r->ep = s[0];
		r->has_ep = true;
		return true;
	}
	if (last == 1) {
		r->proto = strip_us(s[1]);
		r->port = strip_us(s[0]);
		r->has_port = true;
		return true;
	}
	return false;
}

static bool port_match(const rreq_t *r, const ds_k8s_port_t *p)
{
	if (r->port.n &&
	    !(r->port.n == p->nlen && strncasecmp((const char *)r->port.p, p->name, p->nlen) == 0))
		return false;
	if (r->proto.n && !(r->proto.n == p->plen &&
	                    strncasecmp((const char *)r->proto.p, p->proto, p->plen) == 0))
		return false;
	return true;
}

/* CoreDNS's findServices. */
static int find_services(actx_t *a, const rreq_t *r, visit_fn f, void *arg)
{
	ds_k8s_t *k = a->k;
	/* the namespace is exposed: records() checked */
	if (!r->svc.n)
		return R_OK; /* <ns>.svc.<zone>: NODATA */
	uint64_t key = ds_k8s_svckey(k->store, (const char *)r->ns.p, r->ns.n,
	                             (const char *)r->svc.p, r->svc.n);
	const ds_k8s_svcent_t *se = ds_k8s_view_svc(a->v, key, (const char *)r->ns.p, r->ns.n,
	                                            (const char *)r->svc.p, r->svc.n);
	if (!se || !se->svc)
		return R_NX;
	const ds_k8s_svc_t *svc = se->svc;
	if (k->ignore_empty && svc->type == DS_K8S_CLUSTERIP && se->naddr == 0)
		return R_NX;
	ent_t e = {.se = se};
	if (svc->type == DS_K8S_EXTERNAL) {
		if (r->has_ep || r->port.n || r->proto.n || !ds_k8s_svc_ext(svc))
			return R_NX;
		e.what = W_CNAME;
		e.ext = ds_k8s_svc_ext(svc);
		e.tk = TK_SVC;
		f(a, arg, &e);
		return R_OK;
	}
	int rc = R_NX;
	if (svc->type == DS_K8S_HEADLESS || r->has_ep) {
		char buf[64];
		for (unsigned si = 0; si < se->nslices && !a->stop; si++) {
			const ds_k8s_slice_t *sl = se->slices[si];
			const uint8_t *nm = ds_k8s_slice_names(sl);
			e.fam = sl->alen == 16 ? 6 : 4;
			e.tk = TK_EP;
			for (uint32_t i = 0; i < sl->naddr && !a->stop; i++) {
				e.ip = ds_k8s_slice_addr(sl, i);
				e.hlen = nm[0];
				e.host = nm + 1;
				nm += 1u + nm[0];
				if (r->has_ep) {
					lbl_t h = ep_name(&e, buf);
					if (!(h.n == r->ep.n &&
					      strncasecmp((const char *)h.p, (const char *)r->ep.p,
					                  h.n) == 0))
						continue;
				}
				size_t off = 0;
				for (unsigned pi = 0; pi < sl->nports && !a->stop; pi++) {
					ds_k8s_port_t p;
					ds_k8s_port_at(sl->data, &off, &p);
					if (!port_match(r, &p))
						continue;
					e.port = p.port;
					rc = R_OK;
					if (!f(a, arg, &e))
						return rc;
				}
			}
		}
		return rc;
	}
	/* ClusterIP */
	size_t off = 0;
	e.tk = TK_SVC;
	for (unsigned pi = 0; pi < svc->nports && !a->stop; pi++) {
		ds_k8s_port_t p;
		ds_k8s_port_at(svc->data, &off, &p);
		if (!port_match(r, &p))
			continue;
		rc = R_OK;
		e.port = p.port;
		for (unsigned i = 0; i < svc->nips; i++) {
			e.fam = svc->fam[i];
			e.ip = svc->ip[i];
			if (!f(a, arg, &e))
				return rc;
		}
	}
	return rc;
}

/* A dashed pod label to an IP as CoreDNS reads it: three dashes and no
 * "--" make IPv4, anything else IPv6; canon tells whether the text is
 * the address's canonical spelling (what verified mode compares). */
static int pod_ip(lbl_t l, uint8_t ip[16], bool *canon)
{
	char s[64], c[INET6_ADDRSTRLEN];
	if (l.n >= sizeof(s))
		return 0;
	int dashes = 0;
	bool dd = false;
	for (unsigned i = 0; i < l.n; i++) {
		dashes += l.p[i] == '-';
		if (i && l.p[i] == '-' && l.p[i - 1] == '-')
			dd = true;
	}
	bool v4 = dashes == 3 && !dd;
	for (unsigned i = 0; i < l.n; i++)
		s[i] = l.p[i] == '-' ? (v4 ? '.' : ':') : (char)l.p[i];
	s[l.n] = '\0';
	int fam = v4 ? AF_INET : AF_INET6;
	if (inet_pton(fam, s, ip) != 1)
		return 0;
	inet_ntop(fam, ip, c, sizeof(c));
	*canon = strcmp(c, s) == 0;
	return v4 ? 4 : 6;
}

/* CoreDNS's findPods. */
static int find_pods(actx_t *a, const rreq_t *r, visit_fn f, void *arg)
{
	ds_k8s_t *k = a->k;
	if (k->pod_mode == DS_K8S_PODS_DISABLED)
		return R_NX;
	/* the namespace is exposed: records() checked */
	if (!r->svc.n)
		return R_OK;
	uint8_t ip[16];
	bool canon;
	int fam = pod_ip(r->svc, ip, &canon);
	ent_t e = {.what = W_ADDR,
	           .fam = (uint8_t)fam,
	           .ip = ip,
	           .tk = TK_POD,
	           .host = r->svc.p,
	           .hlen = r->svc.n,
	           .podns = r->ns,
	           .count = 1};
	if (k->pod_mode == DS_K8S_PODS_INSECURE) {
		if (!fam)
			return R_NX;
		f(a, arg, &e);
		return R_OK;
	}
	if (!fam || !canon)
		return R_NX;
	uint64_t nsv = ds_k8s_nskey(k->store, (const char *)r->ns.p, r->ns.n) & DS_K8S_POD_NSMASK;
	ds_k8s_iter_t it;
	uint64_t val;
	uint32_t n = 0;
	ds_k8s_find(a->v, DS_K8S_T_POD, ds_k8s_ipkey(k->store, fam, ip), &it);
	while (ds_k8s_next(&it, &val))
		if ((val & DS_K8S_POD_NSMASK) == nsv)
			n += (uint32_t)(val & 0xffff);
	if (!n)
		return R_NX;
	e.count = n;
	f(a, arg, &e);
	return R_OK;
}

static bool is_reverse(const uint8_t *name)
{
	static const uint8_t v4[] = "\x07"
	                            "in-addr"
	                            "\x04"
	                            "arpa",
	                     v6[] = "\x03"
	                            "ip6"
	                            "\x04"
	                            "arpa";
	int n = ds_name_labels(name);
	if (n < 3)
		return false;
	const uint8_t *s = ds_name_suffix(name, 2);
	return ds_name_eq(s, v4) || ds_name_eq(s, v6);
}

/* CoreDNS's Records: name relative to the matched zone. */
static int records(actx_t *a, const uint8_t *name, size_t zone_off, visit_fn f, void *arg)
{
	rreq_t r;
	if (!parse_request(name, zone_off, &r))
		return R_NX;
	if (r.kind == 0)
		return R_OK;
	if (is_reverse(name))
		return R_NX;
	if (!ns_exposed(a, r.ns))
		return R_NX;
	return r.kind == 2 ? find_pods(a, &r, f, arg) : find_services(a, &r, f, arg);
}

/* CoreDNS's nsAddrs: the names and addresses of this server's service. */
static void ns_addrs(actx_t *a, visit_fn f, void *arg)
{
	ds_k8s_t *k = a->k;
	bool any = false;
	for (size_t li = 0; li < k->nlocal && !a->stop; li++) {
		int fam = k->local_fam[li];
		const uint8_t *lip = k->local_ip[li];
		ds_k8s_iter_t it;
		uint64_t val;
		ds_k8s_find(a->v, DS_K8S_T_REV, ds_k8s_ipkey(k->store, fam, lip), &it);
		while (ds_k8s_next(&it, &val)) {
			if (val & DS_K8S_REV_CLUSTER)
				continue;
			const ds_k8s_svcent_t *se = ds_k8s_view_svc_bykey(a->v, val);
			if (!se)
				continue;
			for (unsigned si = 0; si < se->nslices; si++) {
				const ds_k8s_slice_t *sl = se->slices[si];
				bool has = false;
				for (uint32_t i = 0; i < sl->naddr && !has; i++)
					has = (sl->alen == 16) == (fam == 6) &&
					      memcmp(ds_k8s_slice_addr(sl, i), lip, sl->alen) == 0;
				if (!has || !se->svc)
					continue;
				ent_t e = {.what = W_ADDR, .se = se};
				if (se->svc->type == DS_K8S_HEADLESS) {
					const uint8_t *nm = ds_k8s_slice_names(sl);
					e.tk = TK_EP;
					e.fam = sl->alen == 16 ? 6 : 4;
					for (uint32_t i = 0; i < sl->naddr; i++) {
						e.ip = ds_k8s_slice_addr(sl, i);
						e.hlen = nm[0];
						e.host = nm + 1;
						nm += 1u + nm[0];
						any = true;
						f(a, arg, &e);
					}
				} else {
					e.tk = TK_SVC;
					for (unsigned i = 0; i < se->svc->nips; i++) {
						e.fam = se->svc->fam[i];
						e.ip = se->svc->ip[i];
						any = true;
						f(a, arg, &e);
					}
				}
			}
		}
	}
	if (any)
		return;
	for (size_t li = 0; li < k->nlocal; li++) {
		ent_t e = {
		    .what = W_ADDR, .tk = TK_NSDEF, .fam = k->local_fam[li], .ip = k->local_ip[li]};
		f(a, arg, &e);
	}
}

/* "ns.dns.<zone>" */
static bool is_default_ns(const uint8_t *name, size_t zone_off)
{
	return zone_off == 7 && memcmp(name,
	                               "\x02"
	                               "ns"
	                               "\x03"
	                               "dns",
	                               7) == 0;
}

struct svcfilter {
	visit_fn f;
	void *arg;
	uint16_t qtype;
	bool srv;
};

static bool services_visit(actx_t *a, void *arg, const ent_t *e)
{
	struct svcfilter *sf = arg;
	/* SRV for ExternalName services does not exist in CoreDNS */
	if (sf->srv && e->what == W_CNAME)
		return true;
	return sf->f(a, sf->arg, e);
}

static bool nsdef_visit(actx_t *a, void *arg, const ent_t *e)
{
	struct svcfilter *sf = arg;
	if ((e->fam == 6 ? DS_TYPE_AAAA : DS_TYPE_A) != sf->qtype)
		return true;
	ent_t x = *e;
	x.tk = TK_NSDEF; /* the key is the queried name: ns.dns.<zone> */
	return sf->f(a, sf->arg, &x);
}

/* CoreDNS's Services for qtypes other than TXT and NS. */
static int services(actx_t *a, const uint8_t *name, size_t zone_off, uint16_t qtype, visit_fn f,
                    void *arg)
{
	struct svcfilter sf = {f, arg, qtype, qtype == DS_TYPE_SRV};
	if (is_default_ns(name, zone_off)) {
		ns_addrs(a, nsdef_visit, &sf);
		return R_OK;
	}
	return records(a, name, zone_off, services_visit, &sf);
}

/* ------------------------------------------------------------- A / AAAA */

struct actx_a {
	uint16_t qtype;
	uint32_t owner;      /* where the owner name is in the message */
	const uint8_t *name; /* the name being resolved (flat) */
	bool wrote;
};

static int do_a(actx_t *a, const uint8_t *name, uint32_t owner, uint16_t qtype, bool *wrote);

static bool chain_has(const actx_t *a, const uint8_t *target)
{
	for (int i = 0; i < a->nchain; i++)
		if (ds_name_eq(a->chain[i], target))
			return true;
	return false;
}

static bool a_visit(actx_t *a, void *arg, const ent_t *e)
{
	struct actx_a *st = arg;
	ds_k8s_t *k = a->k;
	if (e->what == W_ADDR) {
		if ((e->fam == 6 ? DS_TYPE_AAAA : DS_TYPE_A) != st->qtype)
			return true;
		/* (a name has addresses or one CNAME, never both: a chain
		 * below does not disturb this level's duplicate checks) */
		if (!seen_add(a, dup_ipkey(e->fam, e->ip), 0, NULL))
			return true;
		if (put_addr_rr(a, st->owner, e, k->ttl))
			st->wrote = true;
		return !a->stop;
	}
	/* ExternalName: CNAME, then the target's addresses */
	const uint8_t *t = e->ext;
	if (ds_name_in(t, st->name) || a->nchain > 7 || chain_has(a, t) || !owner_ok(st->owner))
		return true;
	mark_t m = wmark(a);
	int rd = rr_begin(a, st->owner, DS_TYPE_CNAME, k->ttl);
	uint32_t toff = a->wb->len;
	ds_wb_bytes(a->wb, t, ds_name_len(t));
	if (!rr_end(a, m, rd))
		return false;
	const uint8_t *zone = a->qname + a->zone_off;
	if (ds_name_in(t, zone)) {
		/* in the zone: resolve it here; keep the CNAME only if that gives records */
		uint8_t lower[DS_NAME_MAX];
		memcpy(lower, t, ds_name_len(t));
		ds_name_lower(lower);
		a->chain[a->nchain++] = t;
		bool w2 = false;
		int rc = owner_ok(toff) ? do_a(a, lower, toff, st->qtype, &w2) : R_NX;
		a->nchain--;
		if (rc != R_OK || !w2)
			wrestore(a, m);
		else
			st->wrote = true;
		return !a->stop;
	}
	/* elsewhere: ask the whole chain (after the view is let go) */
	if (!a->ext_pending) {
		a->ext_pending = true;
		memcpy(a->ext_target, t, ds_name_len(t));
	}
	st->wrote = true;
	return true;
}

/* CoreDNS's A()/AAAA(): records for name (flat, lower-case) with owner at owner. */
static int do_a(actx_t *a, const uint8_t *name, uint32_t owner, uint16_t qtype, bool *wrote)
{
	struct actx_a st = {qtype, owner, name, false};
	seen_reset(a);
	size_t zone_off = ds_name_len(name) - a->zone_len;
	int rc = services(a, name, zone_off, qtype, a_visit, &st);
	*wrote = st.wrote;
	return rc;
}

/* ------------------------------------------------------------------ SRV */

struct srv_st {
	uint32_t n;
	uint16_t weight;
	int pass; /* 0 count, 1 answers, 2 additional */
};

static uint64_t target_key(actx_t *a, const ent_t *e, uint64_t salt)
{
	char buf[64];
	uint64_t h = 0xcbf29ce484222325ULL ^ salt;
	h = hraw(h, &e->tk, 1);
	if (e->tk == TK_EP) {
		lbl_t n = ep_name(e, buf);
		h = hraw(h, &n.n, 1);
		h = hbytes(h, n.p, n.n);
	}
	if (e->tk == TK_POD) {
		h = hraw(h, &e->hlen, 1);
		h = hbytes(h, e->host, e->hlen);
		h = hbytes(h, e->podns.p, e->podns.n);
	} else if (e->se) {
		h = hraw(h, &e->se->key, 8);
	}
	return h;
}

static bool srv_visit(actx_t *a, void *arg, const ent_t *e)
{
	struct srv_st *st = arg;
	if (st->pass == 0) {
		st->n += e->count ? e->count : 1;
		return true;
	}
	if (e->port == -1)
		return true;
	uint64_t tk = target_key(a, e, 0);
	if (st->pass == 1) {
		uint16_t port = (uint16_t)e->port;
		if (!seen_add(a, mix64(tk ^ ((uint64_t)port << 1 | 1)), 0, NULL))
			return true;
		mark_t m = wmark(a);
		int rd = rr_begin(a, DS_HDR_LEN, DS_TYPE_SRV, a->k->ttl);
		ds_wb_u16(a->wb, 0);
		ds_wb_u16(a->wb, st->weight);
		ds_wb_u16(a->wb, port);
		uint32_t toff = a->wb->len;
		put_target(a, e, false);
		if (!rr_end(a, m, rd))
			return false;
		/* remember where the target is for the additional owner names */
		seen_add(a, mix64(tk), toff, NULL);
		return !a->stop;
	}
	if (!seen_add(a, mix64(tk ^ dup_ipkey(e->fam, e->ip) ^ 0x2), 0, NULL))
		return true;
	uint32_t toff = 0;
	seen_add(a, mix64(tk), 0, &toff);
	mark_t m = wmark(a);
	int rd;
	if (toff && owner_ok(toff)) {
		rd = rr_begin(a, toff, e->fam == 6 ? DS_TYPE_AAAA : DS_TYPE_A, a->k->ttl);
	} else {
		uint32_t at = a->wb->len;
		put_target(a, e, true);
		uint8_t h[10];
		ds_wr16(h, e->fam == 6 ? DS_TYPE_AAAA : DS_TYPE_A);
		ds_wr16(h + 2, DS_CLASS_IN);
		ds_wr32(h + 4, a->k->ttl);
		ds_wr16(h + 8, 0);
		ds_wb_bytes(a->wb, h, sizeof(h));
		a->wb->count[a->wb->section]++;
		rd = a->wb->overflow || a->wb->len < at + 10 ? -1 : (int)a->wb->len - 2;
	}
	ds_wb_bytes(a->wb, e->ip, e->fam == 6 ? 16 : 4);
	rr_end(a, m, rd);
	return !a->stop;
}

static int do_srv(actx_t *a)
{
	struct srv_st st = {0};
	int rc = services(a, a->qname, a->zone_off, DS_TYPE_SRV, srv_visit, &st);
	if (rc != R_OK || st.n == 0)
		return rc;
	/* CoreDNS: every record weighs 100/(100 x candidates) x 100, floored, at least 1 */
	double w1 = 100.0 / (double)(100ULL * st.n);
	w1 *= 100;
	double fw = floor(w1);
	st.weight = fw < 1 ? 1 : fw > 65535 ? 65535 : (uint16_t)fw;
	seen_reset(a);
	st.pass = 1;
	services(a, a->qname, a->zone_off, DS_TYPE_SRV, srv_visit, &st);
	if (a->stop)
		return R_OK;
	ds_wb_section(a->wb, DS_SEC_ADDITIONAL);
	st.pass = 2;
	services(a, a->qname, a->zone_off, DS_TYPE_SRV, srv_visit, &st);
	ds_wb_section(a->wb, DS_SEC_ANSWER);
	return R_OK;
}

/* ------------------------------------------------------- other qtypes */

static bool any_visit(actx_t *a, void *arg, const ent_t *e)
{
	(*(uint32_t *)arg)++;
	return false;
}

static bool first_visit(actx_t *a, void *arg, const ent_t *e)
{
	*(ent_t *)arg = *e;
	return false;
}

static int do_txt(actx_t *a)
{
	lbl_t s[2];
	if (split(a->qname, a->zone_off, s, 1) == 1 && lbl_is(s[0], "dns-version")) {
		mark_t m = wmark(a);
		int rd = rr_begin(a, DS_HDR_LEN, DS_TYPE_TXT, 28800);
		ds_wb_bytes(a->wb,
		            "\x05"
		            "1.1.0",
		            6);
		rr_end(a, m, rd);
		return R_OK;
	}
	/* CoreDNS: another type's record at the name makes NODATA, else NXDOMAIN */
	uint32_t n = 0;
	records(a, a->qname, a->zone_off, any_visit, &n);
	return n ? R_OK : R_NX;
}

static int do_cname(actx_t *a)
{
	ent_t e = {.what = W_ADDR};
	int rc = services(a, a->qname, a->zone_off, DS_TYPE_CNAME, first_visit, &e);
	if (rc == R_OK && e.what == W_CNAME) {
		mark_t m = wmark(a);
		int rd = rr_begin(a, DS_HDR_LEN, DS_TYPE_CNAME, a->k->ttl);
		ds_wb_bytes(a->wb, e.ext, ds_name_len(e.ext));
		rr_end(a, m, rd);
	}
	return rc;
}

/* dnsutil.ExtractAddressFromReverse: 4 decimal labels (in-addr) or 32
 * one-hex-digit labels (ip6; up to 35 labels, the leftmost extra ones are
 * ignored as Go's slicing does). */
static int reverse_ip(const uint8_t *name, uint8_t ip[16])
{
	lbl_t s[40];
	int n = split(name, DS_NAME_MAX, s, 39);
	if (n > 39 || n < 3)
		return 0;
	if (lbl_is(s[n - 1], "arpa") && lbl_is(s[n - 2], "in-addr")) {
		if (n - 2 != 4)
			return 0;
		for (int i = 0; i < 4; i++) {
			lbl_t l = s[3 - i];
			if (l.n == 0 || l.n > 3 || (l.n > 1 && l.p[0] == '0'))
				return 0;
			unsigned v = 0;
			for (unsigned j = 0; j < l.n; j++) {
				if (l.p[j] < '0' || l.p[j] > '9')
					return 0;
				v = v * 10 + (l.p[j] - '0');
			}
			if (v > 255)
				return 0;
			ip[i] = (uint8_t)v;
		}
		return 4;
	}
	if (lbl_is(s[n - 1], "arpa") && lbl_is(s[n - 2], "ip6")) {
		int m = n - 2;
		if (m / 4 != 8)
			return 0;
		/* reversed: the label next to ip6.arpa is the first nibble */
		for (int i = 0; i < 32; i++) {
			lbl_t l = s[m - 1 - i];
			if (l.n != 1)
				return 0;
			uint8_t c = l.p[0];
			int v = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                               : -1;
			if (v < 0)
				return 0;
			if (i % 2 == 0)
				ip[i / 2] = (uint8_t)(v << 4);
			else
				ip[i / 2] |= (uint8_t)v;
		}
		return 6;
	}
	return 0;
}

static void put_ptr_target(actx_t *a, const ds_k8s_svcent_t *se, const ent_t *ep)
{
	char buf[64];
	if (ep) {
		lbl_t h = ep_name(ep, buf);
		put_label(a->wb, h.p, h.n);
	}
	put_label(a->wb, (const uint8_t *)ds_k8s_svcent_name(se), se->name_len);
	put_label(a->wb, (const uint8_t *)ds_k8s_svcent_ns(se), se->ns_len);
	put_label(a->wb, (const uint8_t *)"svc", 3);
	const uint8_t *pz = a->k->zones[a->k->primary];
	ds_wb_bytes(a->wb, pz, ds_name_len(pz));
}

static bool put_ptr(actx_t *a, const ds_k8s_svcent_t *se, const ent_t *ep)
{
	/* identical targets (a skewed slice twice) are written once */
	uint64_t h = 0xcbf29ce484222325ULL;
	char buf[64];
	if (ep) {
		lbl_t n = ep_name(ep, buf);
		h = hraw(h, &n.n, 1);
		h = hbytes(h, n.p, n.n);
	}
	h = hraw(h, &se->key, 8);
	if (!seen_add(a, mix64(h), 0, NULL))
		return true;
	mark_t m = wmark(a);
	int rd = rr_begin(a, DS_HDR_LEN, DS_TYPE_PTR, a->k->ttl);
	put_ptr_target(a, se, ep);
	return rr_end(a, m, rd) && !a->stop;
}

static int do_ptr(actx_t *a)
{
	uint8_t ip[16];
	int fam = reverse_ip(a->qname, ip);
	if (!fam) {
		uint32_t n = 0;
		return records(a, a->qname, a->zone_off, any_visit, &n);
	}
	ds_k8s_t *k = a->k;
	uint64_t ipk = ds_k8s_ipkey(k->store, fam, ip);
	ds_k8s_iter_t it;
	uint64_t val;
	seen_reset(a);
	/* a cluster IP: the first service that has it */
	ds_k8s_find(a->v, DS_K8S_T_REV, ipk, &it);
	while (ds_k8s_next(&it, &val)) {
		if (!(val & DS_K8S_REV_CLUSTER))
			continue;
		const ds_k8s_svcent_t *se = ds_k8s_view_svc_bykey(a->v, val & ~(uint64_t)1);
		if (!se || !se->svc || ns_filtered_out(a, se))
			continue;
		bool has = false;
		for (unsigned i = 0; i < se->svc->nips && !has; i++)
			has = se->svc->fam[i] == fam &&
			      memcmp(se->svc->ip[i], ip, fam == 6 ? 16 : 4) == 0;
		if (!has)
			continue;
		put_ptr(a, se, NULL);
		return R_OK;
	}
	/* else every endpoint with that address */
	bool any = false;
	ds_k8s_find(a->v, DS_K8S_T_REV, ipk, &it);
	while (ds_k8s_next(&it, &val) && !a->stop) {
		if (val & DS_K8S_REV_CLUSTER)
			continue;
		const ds_k8s_svcent_t *se = ds_k8s_view_svc_bykey(a->v, val);
		if (!se || ns_filtered_out(a, se))
			continue;
		for (unsigned si = 0; si < se->nslices && !a->stop; si++) {
			const ds_k8s_slice_t *sl = se->slices[si];
			if ((sl->alen == 16) != (fam == 6))
				continue;
			const uint8_t *nm = ds_k8s_slice_names(sl);
			for (uint32_t i = 0; i < sl->naddr && !a->stop; i++) {
				ent_t e = {.fam = (uint8_t)fam,
				           .ip = ds_k8s_slice_addr(sl, i),
				           .hlen = nm[0],
				           .host = nm + 1};
				nm += 1u + nm[0];
				if (memcmp(e.ip, ip, sl->alen) != 0)
					continue;
				any = true;
				put_ptr(a, se, &e);
			}
		}
	}
	return any ? R_OK : R_NX;
}

struct ns_st {
	int pass;
};

static bool ns_visit(actx_t *a, void *arg, const ent_t *e)
{
	struct ns_st *st = arg;
	uint64_t tk = target_key(a, e, 7);
	if (st->pass == 1) {
		if (!seen_add(a, mix64(tk), 0, NULL))
			return true;
		mark_t m = wmark(a);
		int rd = rr_begin(a, DS_HDR_LEN, DS_TYPE_NS, a->k->ttl);
		uint32_t toff = a->wb->len;
		put_target(a, e, true);
		if (rr_end(a, m, rd))
			seen_add(a, mix64(tk ^ 0x55), toff, NULL);
		return !a->stop;
	}
	/* glue for every address, as CoreDNS appends it before its duplicate check */
	uint32_t toff = 0;
	seen_add(a, mix64(tk ^ 0x55), 0, &toff);
	if (toff && owner_ok(toff))
		put_addr_rr(a, toff, e, a->k->ttl);
	return !a->stop;
}

static int do_ns_apex(actx_t *a)
{
	struct ns_st st = {1};
	seen_reset(a);
	ns_addrs(a, ns_visit, &st);
	if (a->stop)
		return R_OK;
	ds_wb_section(a->wb, DS_SEC_ADDITIONAL);
	st.pass = 2;
	ns_addrs(a, ns_visit, &st);
	ds_wb_section(a->wb, DS_SEC_ANSWER);
	return R_OK;
}

/* ------------------------------------------------------- ExternalName */

typedef struct k8s_async {
	ds_plugin_t *p;
	uint8_t state;
} k8s_async_t;

enum { AS_IN_SERVE = 1, AS_WAITING = 2, AS_DONE = 3 };

_Static_assert(sizeof(k8s_async_t) <= sizeof(((ds_query_t *)0)->pstate), "pstate too small");

/* Copy one name from msg at *pos (compressed or not) into the reply, flat. */
static bool copy_name(ds_wbuf_t *wb, const uint8_t *msg, size_t len, size_t *pos)
{
	uint8_t n[DS_NAME_MAX];
	if (ds_name_unpack(msg, len, pos, n) < 0)
		return false;
	return ds_wb_bytes(wb, n, ds_name_len(n)) == DS_OK;
}

/* Append the answer section of a sub-query's reply to q's reply. */
static void append_answers(ds_query_t *q, const uint8_t *m, size_t len)
{
	ds_wbuf_t *wb = &q->resp;
	ds_rr_iter_t it;
	ds_rr_t rr;
	if (ds_rr_iter_init(&it, m, len) < 0)
		return;
	while (ds_rr_next(&it, &rr) == 1 && rr.section == DS_SEC_ANSWER) {
		uint32_t start = wb->len;
		uint16_t cnt = wb->count[DS_SEC_ANSWER];
		size_t pos = rr.owner_off;
		bool ok = copy_name(wb, m, len, &pos);
		uint8_t h[10];
		ds_wr16(h, rr.type);
		ds_wr16(h + 2, rr.rclass);
		ds_wr32(h + 4, rr.ttl);
		ds_wr16(h + 8, 0);
		ok = ok && ds_wb_bytes(wb, h, sizeof(h)) == DS_OK;
		uint32_t rdstart = wb->len;
		size_t rp = rr.rdata_off, rend = (size_t)rr.rdata_off + rr.rdlen;
		switch (rr.type) {
		case DS_TYPE_CNAME:
		case DS_TYPE_DNAME:
		case DS_TYPE_NS:
		case DS_TYPE_PTR:
			ok = ok && copy_name(wb, m, len, &rp);
			break;
		case DS_TYPE_MX:
			ok = ok && rr.rdlen >= 2 && ds_wb_bytes(wb, m + rp, 2) == DS_OK;
			rp += 2;
			ok = ok && copy_name(wb, m, len, &rp);
			break;
		case DS_TYPE_SRV:
			ok = ok && rr.rdlen >= 6 && ds_wb_bytes(wb, m + rp, 6) == DS_OK;
			rp += 6;
			ok = ok && copy_name(wb, m, len, &rp);
			break;
		default:
			ok = ok && ds_wb_bytes(wb, m + rp, rr.rdlen) == DS_OK;
			rp = rend;
			break;
		}
		if (!ok || wb->overflow) {
			wb->len = start;
			wb->count[DS_SEC_ANSWER] = cnt;
			wb->overflow = false;
			q->tx[2] |= DS_FLAG_TC >> 8;
			return;
		}
		ds_wr16(wb->p + rdstart - 2, (uint16_t)(wb->len - rdstart));
		wb->count[DS_SEC_ANSWER]++;
	}
}

static void ext_done(ds_query_t *sub, int rc, void *arg)
{
	ds_query_t *q = arg;
	k8s_async_t *st = (k8s_async_t *)q->pstate;
	ds_plugin_t *p = st->p;
	ds_k8s_wctx_t *w = ds_plugin_wctx(p, q);
	w->ext_inflight--;
	if (sub->written && sub->resp_len >= DS_HDR_LEN) {
		if (ds_rd16(sub->tx + 2) & DS_FLAG_TC)
			q->tx[2] |= DS_FLAG_TC >> 8;
		append_answers(q, sub->tx, sub->resp_len);
	}
	ds_query_reply(q, p);
	if (st->state == AS_IN_SERVE) {
		st->state = AS_DONE;
		return;
	}
	ds_query_resume(q, DS_RCODE_NOERROR);
}

/* The block that would answer name on q's listener (CoreDNS re-queries
 * the whole server, not only this block). */
static ds_block_t *block_for(ds_query_t *q, const uint8_t *name)
{
	ds_gen_t *g = q->gen;
	if (!g || !g->nlistens)
		return q->block;
	const ds_listen_t *l = &g->listens[q->listener < g->nlistens ? q->listener : 0];
	ds_block_t *best = NULL;
	int bl = -1;
	for (size_t i = 0; i < l->nzones; i++) {
		if (!ds_name_in(name, l->zones[i].zone))
			continue;
		int n = ds_name_labels(l->zones[i].zone);
		if (n > bl) {
			bl = n;
			best = l->zones[i].block;
		}
	}
	return best;
}

/* ---------------------------------------------------------------- serve */

static bool fall_through(const ds_k8s_t *k, const uint8_t *qname)
{
	if (!k->fall_set)
		return false;
	return ds_zone_match((const uint8_t(*)[DS_NAME_MAX])k->fall, k->nfall, qname) >= 0;
}

/* Is the zone part of the question all lower-case (CoreDNS compares the
 * lower-cased name with the zone as spelled: NS is only answered then)? */
static bool zone_lower(const actx_t *a)
{
	const uint8_t *z = a->q->tx + DS_HDR_LEN + a->zone_off;
	for (size_t i = 0; i < a->zone_len; i++)
		if (z[i] >= 'A' && z[i] <= 'Z')
			return false;
	return true;
}

int ds_k8s_serve(ds_plugin_t *p, ds_query_t *q)
{
	ds_k8s_t *k = p->ctx;
	const uint8_t *qname = q->req.qname;
	int zi = ds_zone_match((const uint8_t(*)[DS_NAME_MAX])k->zones, k->nzones, qname);
	if (zi < 0)
		return DS_NEXT;
	uint16_t qtype = q->req.qtype;
	if (qtype == DS_TYPE_AXFR || qtype == DS_TYPE_IXFR)
		return DS_RCODE_REFUSED;
	actx_t a = {.k = k, .q = q, .wb = &q->resp, .qname = qname};
	a.w = ds_plugin_wctx(p, q);
	if (!a.w)
		return DS_NEXT; /* not a DNS worker (the control loop): nothing to answer with */
	a.zone_len = (uint16_t)ds_name_len(k->zones[zi]);
	a.zone_off = (uint16_t)(q->req.qname_len - a.zone_len);
	a.soft = q->proto == DS_PROTO_UDP ? ds_msg_udp_limit(&q->req) : DS_MSG_MAX;
	if (ds_wb_reply(a.wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA) < 0)
		return DS_RCODE_SERVFAIL;
	mark_t after_q = wmark(&a);
	unsigned rid = ds_query_worker_id(q);
	uint64_t saved;
	a.v = ds_k8s_view_enter(k->store, rid, &saved);
	int rc = R_OK;
	bool wrote;
	switch (qtype) {
	case DS_TYPE_A:
	case DS_TYPE_AAAA:
		rc = do_a(&a, qname, DS_HDR_LEN, qtype, &wrote);
		break;
	case DS_TYPE_TXT:
		rc = do_txt(&a);
		break;
	case DS_TYPE_CNAME:
		rc = do_cname(&a);
		break;
	case DS_TYPE_PTR:
		rc = do_ptr(&a);
		break;
	case DS_TYPE_SRV:
		rc = do_srv(&a);
		break;
	case DS_TYPE_SOA:
		if (a.zone_off == 0)
			put_soa(&a);
		break;
	case DS_TYPE_NS:
		if (a.zone_off == 0 && zone_lower(&a)) {
			rc = do_ns_apex(&a);
			break;
		}
		/* fall through */
	default: {
		/* existence as an A lookup sees it: NODATA or NXDOMAIN */
		uint32_t n = 0;
		rc = services(&a, qname, a.zone_off, DS_TYPE_A, any_visit, &n);
		break;
	}
	}
	if (rc == R_NX) {
		if (fall_through(k, qname)) {
			ds_k8s_view_exit(k->store, rid, saved);
			return DS_NEXT;
		}
		wrestore(&a, after_q);
		/* before the first sync a missing name may just not be known yet */
		ds_wb_set_rcode(a.wb, atomic_load_explicit(&k->synced, memory_order_relaxed)
		                          ? DS_RCODE_NXDOMAIN
		                          : DS_RCODE_SERVFAIL);
		ds_wb_section(a.wb, DS_SEC_AUTHORITY);
		put_soa(&a);
		ds_k8s_view_exit(k->store, rid, saved);
		ds_query_reply(q, p);
		return DS_RCODE_NOERROR;
	}
	if (a.wb->count[DS_SEC_ANSWER] == 0) {
		wrestore(&a, after_q);
		ds_wb_section(a.wb, DS_SEC_AUTHORITY);
		put_soa(&a);
		ds_k8s_view_exit(k->store, rid, saved);
		ds_query_reply(q, p);
		return DS_RCODE_NOERROR;
	}
	ds_k8s_view_exit(k->store, rid, saved);
	if (a.tc)
		q->tx[2] |= DS_FLAG_TC >> 8;
	if (!a.ext_pending) {
		ds_query_reply(q, p);
		return DS_RCODE_NOERROR;
	}
	/* ExternalName outside our zones: the rest of the answer comes from
	 * the whole chain, as CoreDNS's upstream lookup does. */
	ds_block_t *b = block_for(q, a.ext_target);
	ds_query_t *sub = NULL;
	if (b && a.w->ext_inflight < 32)
		sub = ds_subquery_new(q->worker, b, NULL, a.ext_target, qtype, DS_FLAG_RD,
		                      q->req.do_bit, ext_done, q);
	if (!sub) {
		ds_query_reply(q, p);
		return DS_RCODE_NOERROR;
	}
	k8s_async_t *st = (k8s_async_t *)q->pstate;
	st->p = p;
	st->state = AS_IN_SERVE;
	a.w->ext_inflight++;
	ds_subquery_run(sub);
	if (st->state == AS_DONE)
		return DS_RCODE_NOERROR;
	st->state = AS_WAITING;
	return DS_ASYNC;
}
