/* SPDX-License-Identifier: MIT */
/*
 * loadbalance [round_robin] { prefer CIDR... }: on the way back, shuffles
 * the reply whoever below wrote it (file, forward, cache hits ...), as
 * CoreDNS's response writer does:
 *  - only NOERROR replies, never AXFR/IXFR;
 *  - each section on its own: CNAMEs first (as they were), then every type
 *    we do not shuffle (as it was), then A and AAAA together, shuffled,
 *    then MX, shuffled. Shuffling is Fisher-Yates on 16-bit random values
 *    (j + r % (n - j)); two records swap when r is even;
 *  - prefer: afterwards, in answer and additional, addresses inside the
 *    listed subnets move to the front (subnet order, then the rest), and
 *    the section becomes CNAME, addresses, MX, others.
 *
 * The reply is rebuilt rather than permuted in place: a record that moves
 * would break the compression pointers of records that point into it. So
 * each record is read with its names expanded and written again, in the
 * new order, through a ds_wbuf_t into a per-worker scratch buffer, which
 * then replaces the reply. Replies whose order does not change are left
 * untouched. `weighted` is not implemented and is refused at startup.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rand.h"
#include "lib/util.h"
#include "server/src/plugin.h"
#include "server/src/rrcopy.h"

#define MAX_RRS 4096

typedef struct subnet {
	uint8_t ip[16];
	uint8_t bits;
	bool v4;
} subnet_t;

typedef struct lb {
	subnet_t *prefer;
	size_t nprefer;
} lb_t;

/* Per-worker scratch: the rebuilt message and the record index. */
typedef struct scratch {
	uint8_t buf[DS_MSG_MAX];
	ds_rr_t rrs[MAX_RRS];
	uint16_t order[MAX_RRS];
	uint16_t tmp[MAX_RRS];
	uint16_t addr[MAX_RRS];
	bool seen[MAX_RRS];
} scratch_t;

/* ---------------------------------------------------------------- setup */

static int parse_cidr(const char *s, subnet_t *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return DS_EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	long long bits;
	int fam = ds_ip_parse(buf, out->ip);
	if (!fam)
		return DS_EINVAL;
	out->v4 = fam == AF_INET;
	if (ds_parse_int(slash + 1, 0, out->v4 ? 32 : 128, &bits) < 0)
		return DS_EINVAL;
	out->bits = (uint8_t)bits;
	return DS_OK;
}

static int lb_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	lb_t *lb = calloc(1, sizeof(*lb));
	if (!lb)
		return DS_ENOMEM;
	p->ctx = lb;
	for (size_t o = 0; o < n; o++) {
		ds_args_t *a = &occ[o];
		ds_args_next(a);
		if (ds_args_next_arg(a)) {
			const char *pol = ds_args_val(a);
			if (!strcmp(pol, "weighted"))
				return ds_args_err(a,
				                   "policy 'weighted' is not supported by dnsurged "
				                   "yet; use round_robin");
			if (strcmp(pol, "round_robin") != 0)
				return ds_args_err(a, "unknown policy: %s", pol);
			if (ds_args_next_arg(a))
				return ds_args_err(a, "unknown property for round_robin");
		}
		/* Subnets of every occurrence add up, as in CoreDNS. */
		while (ds_args_next_block(a)) {
			if (strcmp(ds_args_val(a), "prefer") != 0)
				return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
			while (ds_args_next_arg(a)) {
				subnet_t sn;
				if (parse_cidr(ds_args_val(a), &sn) < 0)
					return ds_args_err(a, "invalid CIDR \"%s\"",
					                   ds_args_val(a));
				subnet_t *np = realloc(lb->prefer, (lb->nprefer + 1) * sizeof(*np));
				if (!np)
					return DS_ENOMEM;
				lb->prefer = np;
				lb->prefer[lb->nprefer++] = sn;
			}
		}
	}
	return DS_OK;
}

static void lb_teardown(ds_plugin_t *p)
{
	lb_t *lb = p->ctx;
	if (!lb)
		return;
	free(lb->prefer);
	free(lb);
}

static int lb_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	*wctx = malloc(sizeof(scratch_t));
	return *wctx ? DS_OK : DS_ENOMEM;
}

static void lb_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	free(wctx);
}

static int lb_serve(ds_plugin_t *p, ds_query_t *q)
{
	return DS_NEXT;
}

/* -------------------------------------------------------------- shuffle */

static uint16_t rand16(void)
{
	return (uint16_t)ds_rand64();
}

static void shuffle(uint16_t *v, size_t n)
{
	if (n < 2)
		return;
	if (n == 2) {
		if (rand16() % 2 == 0) {
			uint16_t t = v[0];
			v[0] = v[1];
			v[1] = t;
		}
		return;
	}
	for (size_t j = 0; j < n; j++) {
		size_t k = j + rand16() % (n - j);
		uint16_t t = v[j];
		v[j] = v[k];
		v[k] = t;
	}
}

enum cls { C_CNAME, C_REST, C_ADDR, C_MX };

static enum cls classify(uint16_t type)
{
	switch (type) {
	case DS_TYPE_CNAME:
		return C_CNAME;
	case DS_TYPE_A:
	case DS_TYPE_AAAA:
		return C_ADDR;
	case DS_TYPE_MX:
		return C_MX;
	default:
		return C_REST;
	}
}

/* Append the indexes in[0..n) of class c to out. */
static size_t pick(const ds_rr_t *rrs, const uint16_t *in, size_t n, enum cls c, uint16_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (classify(rrs[in[i]].type) == c)
			out[k++] = in[i];
	return k;
}

static bool in_subnet(const subnet_t *sn, const uint8_t *pkt, const ds_rr_t *rr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *ip = pkt + rr->rdata_off;
	bool v4;
	if (rr->type == DS_TYPE_A && rr->rdlen == 4) {
		v4 = true;
	} else if (rr->type == DS_TYPE_AAAA && rr->rdlen == 16) {
		/* a mapped address counts as IPv4, as Go's To4 says */
		v4 = !memcmp(ip, mapped, 12);
		if (v4)
			ip += 12;
	} else {
		return false;
	}
	if (v4 != sn->v4)
		return false;
	unsigned bits = sn->bits;
	for (unsigned i = 0; bits; i++) {
		unsigned b = bits >= 8 ? 8 : bits;
		uint8_t mask = (uint8_t)(0xff << (8 - b));
		if ((ip[i] & mask) != (sn->ip[i] & mask))
			return false;
		bits -= b;
	}
	return true;
}

/* CoreDNS's roundRobin() order for one section, in place. */
static void round_robin(const ds_rr_t *rrs, uint16_t *v, size_t n, uint16_t *tmp)
{
	size_t k = pick(rrs, v, n, C_CNAME, tmp);
	k += pick(rrs, v, n, C_REST, tmp + k);
	size_t na = pick(rrs, v, n, C_ADDR, tmp + k);
	shuffle(tmp + k, na);
	k += na;
	size_t nm = pick(rrs, v, n, C_MX, tmp + k);
	shuffle(tmp + k, nm);
	memcpy(v, tmp, n * sizeof(*v));
}

/* CoreDNS's reorderPreferredSubnets() for one section, in place. */
static void prefer(const lb_t *lb, const uint8_t *pkt, scratch_t *s, uint16_t *v, size_t n)
{
	const ds_rr_t *rrs = s->rrs;
	uint16_t *tmp = s->tmp, *addr = s->addr;
	bool *seen = s->seen;
	size_t k = pick(rrs, v, n, C_CNAME, tmp);
	size_t na = pick(rrs, v, n, C_ADDR, addr);
	memset(seen, 0, na * sizeof(*seen));
	for (size_t sn = 0; sn < lb->nprefer; sn++)
		for (size_t i = 0; i < na; i++)
			if (!seen[i] && in_subnet(&lb->prefer[sn], pkt, &rrs[addr[i]])) {
				tmp[k++] = addr[i];
				seen[i] = true;
			}
	for (size_t i = 0; i < na; i++)
		if (!seen[i])
			tmp[k++] = addr[i];
	k += pick(rrs, v, n, C_MX, tmp + k);
	pick(rrs, v, n, C_REST, tmp + k);
	memcpy(v, tmp, n * sizeof(*v));
}

/* ------------------------------------------------------------- rewrite */

static int lb_done(ds_plugin_t *p, ds_query_t *q, int rc)
{
	lb_t *lb = p->ctx;
	scratch_t *s = ds_plugin_wctx(p, q);
	if (!s || !q->written || q->resp_len < DS_HDR_LEN)
		return rc;
	const uint8_t *pkt = q->tx;
	size_t len = q->resp_len;
	if (DS_RCODE(ds_rd16(pkt + 2)) != DS_RCODE_NOERROR)
		return rc;
	ds_msg_t m;
	if (ds_msg_parse(&m, pkt, len, false) < 0)
		return rc;
	if (m.qtype == DS_TYPE_AXFR || m.qtype == DS_TYPE_IXFR)
		return rc;
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return rc;
	size_t n = 0, nsec[3] = {0, 0, 0};
	int r;
	while ((r = ds_rr_next(&it, &s->rrs[n])) == 1) {
		nsec[s->rrs[n].section]++;
		if (++n == MAX_RRS)
			return rc; /* absurdly large: leave it alone */
	}
	if (r < 0)
		return rc;
	bool changed = false;
	size_t base = 0;
	for (int sec = 0; sec < 3; sec++) {
		uint16_t *v = s->order + base;
		for (size_t i = 0; i < nsec[sec]; i++)
			v[i] = (uint16_t)(base + i);
		round_robin(s->rrs, v, nsec[sec], s->tmp);
		if (lb->nprefer && sec != DS_SEC_AUTHORITY)
			prefer(lb, pkt, s, v, nsec[sec]);
		for (size_t i = 0; i < nsec[sec]; i++)
			changed |= v[i] != base + i;
		base += nsec[sec];
	}
	if (!changed)
		return rc;
	ds_wbuf_t wb;
	ds_wb_init(&wb, s->buf, sizeof(s->buf));
	if (ds_wb_reply(&wb, &m, 0, 0) < 0)
		return rc;
	memcpy(s->buf, pkt, 4); /* ID and flags exactly as written below us */
	base = 0;
	for (int sec = 0; sec < 3; sec++) {
		ds_wb_section(&wb, (enum ds_section)sec);
		for (size_t i = 0; i < nsec[sec]; i++)
			if (ds_rrcopy(&wb, pkt, len, &s->rrs[s->order[base + i]]) < 0)
				return rc;
		base += nsec[sec];
	}
	int nl = ds_wb_finish(&wb);
	if (nl < 0 || (uint32_t)nl > q->tx_cap)
		return rc;
	memcpy(q->tx, s->buf, (size_t)nl);
	q->resp_len = (uint32_t)nl;
	return rc;
}

DS_PLUGIN_DEFINE(loadbalance) = {
    .abi = DS_PLUGIN_ABI,
    .name = "loadbalance",
    .setup = lb_setup,
    .worker_init = lb_worker_init,
    .worker_fini = lb_worker_fini,
    .serve = lb_serve,
    .done = lb_done,
    .teardown = lb_teardown,
};
