/* SPDX-License-Identifier: MIT */
/*
 * file DBFILE [ZONES...] { reload DURATION; fallthrough [ZONES...]; upstream }
 *
 * Authoritative answers from an RFC 1035 zone file, with CoreDNS's lookup
 * (RFC 1034 4.3.2 as CoreDNS walks it):
 *  - SOA/NS at the apex: the apex records (NS with in-zone glue);
 *  - the name is walked label by label from the apex; a DNAME on the way
 *    is applied (DNAME + synthesized CNAME), NS records below the apex are
 *    a referral (AA clear, NS in authority, glue for in-bailiwick targets;
 *    a DS query at the cut itself goes on to the DS records);
 *  - found: CNAME chased inside the zone (at most 9 links; a target the
 *    zone does not have is asked through the server, in the block that
 *    serves it, and its answers follow: DS_ASYNC while that waits; such
 *    lookups nest 8 deep at most), else the records of the type with the apex
 *    NS in authority and the addresses of in-zone MX/SRV targets in
 *    additional, or NODATA with the SOA in authority;
 *  - not found: the wildcard one label up that was last seen on the walk
 *    answers with the qname as owner; else NXDOMAIN with the SOA, or NOERROR
 *    with the SOA when names exist below the qname (empty non-terminal);
 *  - fallthrough: NXDOMAIN, empty non-terminal and wildcard NODATA go to
 *    the next plugin when the qname is in the fallthrough zones;
 *  - AXFR/IXFR are refused (transfers belong to the transfer plugin); ANY
 *    is not special (it gets NODATA, as in CoreDNS).
 * The SOA in negative answers carries its own TTL, as CoreDNS sends it.
 *
 * The file is parsed with ldns at setup and on reload into a compact table:
 * owner names in an open-addressing hash, each with its RRsets in file
 * order, each record as an rdata recipe (bytes and names) written with
 * ds_wbuf_t so names compress. Reload (default 1m, 0 = never) runs on the
 * control loop and swaps in a new table when the SOA serial changed; old
 * tables are freed after a grace period (server/src/grace.h).
 */
#include <ldns/ldns.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/grace.h"
#include "server/src/plugin.h"
#include "server/src/upstream.h"

#define CHASE_MAX 8
#define EXTRA_MAX 64

enum { IT_RAW = 0, IT_NAME = 1, IT_NAME_FLAT = 2 };

/* ---------------------------------------------------------------- table */

typedef struct frec {
	uint32_t ttl;
	uint16_t rclass;
	uint16_t rlen;
	uint32_t roff;      /* recipe in z->recipes */
	uint32_t owner_off; /* own owner in z->pool (SRV keeps its case), or UINT32_MAX */
} frec_t;

typedef struct fset {
	uint16_t type;
	uint16_t n;
	uint32_t first; /* records z->recs[first .. first+n) */
} fset_t;

typedef struct fnode {
	uint32_t name_off;
	uint32_t set_first;
	uint16_t nsets; /* 0: an empty non-terminal (only names below exist) */
} fnode_t;

typedef struct fzone {
	uint8_t origin[DS_NAME_MAX];
	int olabels;
	uint32_t serial;
	uint8_t *pool;
	size_t pool_len, pool_cap;
	fnode_t *nodes;
	size_t nnodes, nodes_cap;
	uint32_t *hash; /* node index + 1 */
	size_t hmask;
	fset_t *sets;
	size_t nsets;
	frec_t *recs;
	size_t nrecs;
	uint8_t *recipes;
	size_t recipes_len, recipes_cap;
	fset_t soa, ns; /* apex SOA and NS, kept out of the nodes as CoreDNS does */
	size_t entries;
} fzone_t;

static void zone_free(fzone_t *z)
{
	if (!z)
		return;
	free(z->pool);
	free(z->nodes);
	free(z->hash);
	free(z->sets);
	free(z->recs);
	free(z->recipes);
	free(z);
}

static uint32_t hash_name(const uint8_t *name)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0, n = ds_name_len(name); i < n; i++)
		h = (h ^ name[i]) * 16777619u;
	return h;
}

static const fnode_t *find(const fzone_t *z, const uint8_t *name)
{
	size_t len = ds_name_len(name);
	for (size_t i = hash_name(name) & z->hmask;; i = (i + 1) & z->hmask) {
		uint32_t v = z->hash[i];
		if (!v)
			return NULL;
		const fnode_t *n = &z->nodes[v - 1];
		/* Names sit end to end in the pool, so a stored name shorter
		 * than the query may be the last one: compare no further than
		 * the pool goes. Within it, equal bytes mean equal names (the
		 * stored name's root byte would differ from a longer name's
		 * next label length). */
		if (len <= z->pool_len - n->name_off && !memcmp(z->pool + n->name_off, name, len))
			return n;
	}
}

/* A node with records: what CoreDNS's tree search finds. */
static const fnode_t *find_rr(const fzone_t *z, const uint8_t *name)
{
	const fnode_t *n = find(z, name);
	return n && n->nsets ? n : NULL;
}

static const fset_t *set_of(const fzone_t *z, const fnode_t *n, uint16_t type)
{
	if (!n)
		return NULL;
	for (uint16_t i = 0; i < n->nsets; i++)
		if (z->sets[n->set_first + i].type == type)
			return &z->sets[n->set_first + i];
	return NULL;
}

static const uint8_t *node_name(const fzone_t *z, const fnode_t *n)
{
	return z->pool + n->name_off;
}

/* The first name in a record's rdata (CNAME, NS, MX, SRV targets ...). */
static const uint8_t *rec_target(const fzone_t *z, const frec_t *r)
{
	const uint8_t *p = z->recipes + r->roff, *e = p + r->rlen;
	while (p < e) {
		uint8_t tag = *p++;
		if (tag != IT_RAW)
			return p;
		p += 2 + ds_rd16(p);
	}
	return NULL;
}

/* --------------------------------------------------------------- builder */

typedef struct brec {
	uint32_t node;
	uint16_t type;
	uint32_t seq;
	frec_t r;
} brec_t;

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elem);
	if (!np)
		return false;
	*p = np;
	*cap = nc;
	return true;
}

static bool pool_add(fzone_t *z, const uint8_t *name, uint32_t *off)
{
	size_t len = ds_name_len(name);
	if (!grow((void **)&z->pool, &z->pool_cap, z->pool_len + len, 1))
		return false;
	memcpy(z->pool + z->pool_len, name, len);
	*off = (uint32_t)z->pool_len;
	z->pool_len += len;
	return true;
}

static bool rehash(fzone_t *z, size_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));
	if (!h)
		return false;
	free(z->hash);
	z->hash = h;
	z->hmask = cap - 1;
	for (size_t k = 0; k < z->nnodes; k++) {
		size_t i = hash_name(z->pool + z->nodes[k].name_off) & z->hmask;
		while (z->hash[i])
			i = (i + 1) & z->hmask;
		z->hash[i] = (uint32_t)k + 1;
	}
	return true;
}

/* Index of the node for name (lower-case), created if missing; -1 on OOM. */
static long node_get(fzone_t *z, const uint8_t *name)
{
	if ((z->nnodes + 1) * 2 > z->hmask + 1 && !rehash(z, (z->hmask + 1) * 2))
		return -1;
	size_t len = ds_name_len(name);
	size_t i = hash_name(name) & z->hmask;
	for (; z->hash[i]; i = (i + 1) & z->hmask) {
		uint32_t off = z->nodes[z->hash[i] - 1].name_off;
		if (len <= z->pool_len - off && !memcmp(z->pool + off, name, len)) /* as in find() */
			return (long)z->hash[i] - 1;
	}
	if (!grow((void **)&z->nodes, &z->nodes_cap, z->nnodes + 1, sizeof(fnode_t)))
		return -1;
	fnode_t *n = &z->nodes[z->nnodes];
	memset(n, 0, sizeof(*n));
	if (!pool_add(z, name, &n->name_off))
		return -1;
	z->hash[i] = (uint32_t)++z->nnodes;
	return (long)z->nnodes - 1;
}

static bool recipe_put(fzone_t *z, const void *b, size_t n)
{
	if (!grow((void **)&z->recipes, &z->recipes_cap, z->recipes_len + n, 1))
		return false;
	memcpy(z->recipes + z->recipes_len, b, n);
	z->recipes_len += n;
	return true;
}

/* Names RFC 3597 lets a server compress. */
static bool compressible(uint16_t type)
{
	switch (type) {
	case DS_TYPE_NS:
	case DS_TYPE_CNAME:
	case DS_TYPE_PTR:
	case DS_TYPE_MX:
	case DS_TYPE_SOA:
	case 3:
	case 4:
	case 7:
	case 8:
	case 9:
	case 14: /* MD MF MB MG MR MINFO */
		return true;
	default:
		return false;
	}
}

/* CoreDNS lower-cases these targets when it loads a zone. */
static bool lowered(uint16_t type)
{
	return type == DS_TYPE_NS || type == DS_TYPE_SOA || type == DS_TYPE_CNAME ||
	       type == DS_TYPE_MX;
}

static bool make_rec(fzone_t *z, const ldns_rr *rr, frec_t *out)
{
	uint16_t type = (uint16_t)ldns_rr_get_type(rr);
	out->ttl = ldns_rr_ttl(rr);
	out->rclass = (uint16_t)ldns_rr_get_class(rr);
	out->roff = (uint32_t)z->recipes_len;
	out->owner_off = UINT32_MAX;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(f);
		size_t n = ldns_rdf_size(f);
		if (ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME) {
			uint8_t name[DS_NAME_MAX];
			if (n > DS_NAME_MAX)
				return false;
			memcpy(name, d, n);
			if (lowered(type))
				ds_name_lower(name);
			uint8_t tag = compressible(type) ? IT_NAME : IT_NAME_FLAT;
			if (!recipe_put(z, &tag, 1) || !recipe_put(z, name, n))
				return false;
		} else {
			uint8_t h[3] = {IT_RAW, (uint8_t)(n >> 8), (uint8_t)n};
			if (n > 0xffff || !recipe_put(z, h, 3) || !recipe_put(z, d, n))
				return false;
		}
	}
	size_t rl = z->recipes_len - out->roff;
	if (rl > 0xffff)
		return false;
	out->rlen = (uint16_t)rl;
	return true;
}

static int cmp_brec(const void *a, const void *b)
{
	const brec_t *x = a, *y = b;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Mark every name between each owner and the apex as existing. */
static bool add_ents(fzone_t *z)
{
	size_t real = z->nnodes;
	for (size_t k = 0; k < real; k++) {
		uint8_t name[DS_NAME_MAX];
		memcpy(name, z->pool + z->nodes[k].name_off,
		       ds_name_len(z->pool + z->nodes[k].name_off));
		if (!ds_name_in(name, z->origin))
			continue;
		const uint8_t *p = name;
		while (ds_name_labels(p) > z->olabels) {
			p += *p + 1;
			if (node_get(z, p) < 0)
				return false;
		}
	}
	return true;
}

/* One record from the file into the builder's arrays. */
static bool add_record(fzone_t *z, const ldns_rr *rr, brec_t **b, size_t *nb, size_t *capb,
                       frec_t **ns, size_t *nns, size_t *capns)
{
	uint16_t type = (uint16_t)ldns_rr_get_type(rr);
	const ldns_rdf *o = ldns_rr_owner(rr);
	uint8_t owner[DS_NAME_MAX], lower[DS_NAME_MAX];
	if (ldns_rdf_size(o) > DS_NAME_MAX)
		return false;
	memcpy(owner, ldns_rdf_data(o), ldns_rdf_size(o));
	memcpy(lower, owner, ldns_rdf_size(o));
	ds_name_lower(lower);
	frec_t r;
	if (!make_rec(z, rr, &r))
		return false;
	if (type == DS_TYPE_NS && ds_name_eq(lower, z->origin)) {
		if (!grow((void **)ns, capns, *nns + 1, sizeof(**ns)))
			return false;
		(*ns)[(*nns)++] = r;
		return true;
	}
	if (type == DS_TYPE_SRV && !ds_name_eq(owner, lower) && !pool_add(z, owner, &r.owner_off))
		return false;
	long node = node_get(z, lower);
	if (node < 0 || !grow((void **)b, capb, *nb + 1, sizeof(**b)))
		return false;
	(*b)[*nb] = (brec_t){(uint32_t)node, type, (uint32_t)*nb, r};
	(*nb)++;
	return true;
}

/*
 * Parse path for origin into a new zone. On a syntax error returns NULL
 * with "file:line: reason" in err. Records are read one by one rather than
 * with ldns_zone_new_frm_fp_l(), which leaks what it read when a later
 * line is bad.
 */
static fzone_t *zone_load(const char *path, const uint8_t *origin, char *err, size_t errlen)
{
	fzone_t *z = NULL;
	ldns_rdf *cur_origin = NULL, *prev = NULL;
	brec_t *b = NULL;
	frec_t *ns = NULL, soarec;
	size_t nb = 0, capb = 0, nns = 0, capns = 0, total = 0;
	bool have_soa = false;
	char ostr[DS_NAME_MAX * 4 + 2];
	ds_name_to_str(origin, ostr, sizeof(ostr));
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
		return NULL;
	}
	z = calloc(1, sizeof(*z));
	cur_origin = ldns_dname_new_frm_data((uint16_t)ds_name_len(origin), origin);
	if (!z || !cur_origin || !rehash(z, 64))
		goto oom;
	memcpy(z->origin, origin, ds_name_len(origin));
	z->olabels = ds_name_labels(origin);
	uint32_t ttl = 3600;
	/* ldns counts the newlines it consumed: after a bad record that is
	 * the record's (last) line number */
	int line = 0;
	while (!feof(fp)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &cur_origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st != LDNS_STATUS_OK) {
			if (st == LDNS_STATUS_SYNTAX_INCLUDE)
				st = LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL;
			snprintf(err, errlen, "%.300s:%d: %s", path, line,
			         ldns_get_errorstr_by_id(st));
			ldns_rr_free(rr);
			goto fail;
		}
		uint16_t type = (uint16_t)ldns_rr_get_type(rr);
		bool ok = true;
		if (type == DS_TYPE_NSEC3 || type == 51 /* NSEC3PARAM */) {
			char os[DS_NAME_MAX * 4 + 2];
			ds_name_to_str(ldns_rdf_data(ldns_rr_owner(rr)), os, sizeof(os));
			snprintf(
			    err, errlen,
			    "NSEC3 zone is not supported, dropping RR: %.200s for zone: %.200s", os,
			    ostr);
			ldns_rr_free(rr);
			goto fail;
		}
		if (type == DS_TYPE_SOA) {
			/* the first SOA is the zone's (and its serial decides reloads) */
			if (!have_soa) {
				z->serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
				ok = make_rec(z, rr, &soarec);
				have_soa = true;
			}
		} else {
			ok = add_record(z, rr, &b, &nb, &capb, &ns, &nns, &capns);
		}
		total++;
		ldns_rr_free(rr);
		if (!ok)
			goto oom;
	}
	fclose(fp);
	fp = NULL;
	if (!have_soa) {
		snprintf(err, errlen, "file \"%.200s\" has no SOA record for origin %.200s", path,
		         ostr);
		goto fail;
	}
	if (!add_ents(z))
		goto oom;
	/* Records grouped by node and type, file order within a set. */
	qsort(b, nb, sizeof(*b), cmp_brec);
	z->recs = calloc(nb + nns + 1, sizeof(*z->recs));
	z->sets = calloc(nb + 2, sizeof(*z->sets));
	if (!z->recs || !z->sets)
		goto oom;
	for (size_t i = 0; i < nb; i++) {
		z->recs[i] = b[i].r;
		fnode_t *n = &z->nodes[b[i].node];
		if (i == 0 || b[i].node != b[i - 1].node || b[i].type != b[i - 1].type) {
			if (n->nsets == 0)
				n->set_first = (uint32_t)z->nsets;
			z->sets[z->nsets++] = (fset_t){b[i].type, 0, (uint32_t)i};
			n->nsets++;
		}
		z->sets[z->nsets - 1].n++;
	}
	z->nrecs = nb;
	z->recs[z->nrecs] = soarec;
	z->soa = (fset_t){DS_TYPE_SOA, 1, (uint32_t)z->nrecs++};
	z->ns = (fset_t){DS_TYPE_NS, (uint16_t)nns, (uint32_t)z->nrecs};
	for (size_t i = 0; i < nns; i++)
		z->recs[z->nrecs++] = ns[i];
	z->entries = total;
	free(b);
	free(ns);
	ldns_rdf_deep_free(cur_origin);
	ldns_rdf_deep_free(prev);
	return z;
oom:
	snprintf(err, errlen, "%.300s: out of memory or oversized record", path);
fail:
	if (fp)
		fclose(fp);
	free(b);
	free(ns);
	zone_free(z);
	ldns_rdf_deep_free(cur_origin);
	ldns_rdf_deep_free(prev);
	return NULL;
}

/* ---------------------------------------------------------------- state */

typedef struct zslot {
	uint8_t origin[DS_NAME_MAX];
	char *path;
	_Atomic(fzone_t *) cur; /* NULL: not loaded (SERVFAIL) */
} zslot_t;

typedef struct filep {
	zslot_t *zs;
	size_t nzs;
	uint8_t (*origins)[DS_NAME_MAX]; /* for ds_zone_match, same order as zs */
	uint8_t (*fall)[DS_NAME_MAX];
	size_t nfall;
	int64_t reload;
	ds_grace_t grace; /* old zone tables wait here for readers to leave */
	ds_timer_t tick;
	bool ticking;
} filep_t;

static void zone_free_any(void *z)
{
	zone_free(z);
}

static void swap_in(filep_t *f, zslot_t *s, fzone_t *z)
{
	ds_grace_retire(&f->grace, atomic_exchange(&s->cur, z), zone_free_any);
}

static void tick(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	filep_t *f = arg;
	ds_grace_reclaim(&f->grace, false);
	for (size_t i = 0; i < f->nzs; i++) {
		zslot_t *s = &f->zs[i];
		char err[512];
		char ostr[DS_NAME_MAX * 4 + 2];
		ds_name_to_str(s->origin, ostr, sizeof(ostr));
		fzone_t *z = zone_load(s->path, s->origin, err, sizeof(err));
		if (!z) {
			ds_plog(DS_LOG_ERROR, "file", "Failed to reload zone \"%s\": %s", ostr,
			        err);
			continue;
		}
		fzone_t *cur = atomic_load(&s->cur);
		if (cur && cur->serial == z->serial) {
			zone_free(z); /* the serial decides, as in CoreDNS */
			continue;
		}
		uint32_t serial = z->serial;
		swap_in(f, s, z);
		ds_plog(DS_LOG_INFO, "file",
		        "Successfully reloaded zone \"%s\" in \"%s\" with %u SOA serial", ostr,
		        s->path, serial);
	}
	int64_t next = f->reload;
	if (ds_grace_pending(&f->grace) && next > DS_NS_PER_SEC)
		next = DS_NS_PER_SEC;
	ds_timer_start(w, t, next);
}

/* ---------------------------------------------------------------- setup */

static void file_teardown(ds_plugin_t *p)
{
	filep_t *f = p->ctx;
	if (!f)
		return;
	ds_grace_fini(&f->grace);
	for (size_t i = 0; i < f->nzs; i++) {
		zone_free(atomic_load(&f->zs[i].cur));
		free(f->zs[i].path);
	}
	free(f->zs);
	free(f->origins);
	free(f->fall);
	free(f);
}

static int set_fall(ds_args_t *a, filep_t *f)
{
	const char *zs[64];
	size_t k = ds_args_remaining(a, zs, 64);
	if (k > 64)
		return ds_args_err(a, "too many zones");
	free(f->fall);
	f->nfall = k ? k : 1;
	f->fall = calloc(f->nfall, DS_NAME_MAX);
	if (!f->fall)
		return DS_ENOMEM;
	for (size_t i = 0; i < k; i++) {
		char norm[300];
		if (ds_zone_normalize(zs[i], norm, sizeof(norm)) < 0 ||
		    ds_name_from_str(norm, NULL, f->fall[i]) < 0)
			return ds_args_err(a, "invalid zone '%s'", zs[i]);
		ds_name_lower(f->fall[i]);
	}
	return DS_OK;
}

static int file_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	filep_t *f = calloc(1, sizeof(*f));
	if (!f)
		return DS_ENOMEM;
	p->ctx = f;
	f->reload = 60 * DS_NS_PER_SEC;
	/* A file that cannot be opened is fatal only without reload, so we
	 * remember the first such error and decide after the whole block. */
	char open_err[512] = "";
	ds_args_t open_at = {0};
	int rc;
	for (size_t o = 0; o < n; o++) {
		ds_args_t *a = &occ[o];
		ds_args_next(a);
		if (!ds_args_next_arg(a))
			return ds_args_err_argcount(a);
		const char *path = ds_args_val(a);
		ds_args_t at = *a;
		uint8_t(*zones)[DS_NAME_MAX] = NULL;
		size_t nz = 0;
		if ((rc = ds_args_zones(a, p->block, &zones, &nz)) < 0)
			return rc;
		for (size_t i = 0; i < nz; i++) {
			/* A zone named twice: the later line wins, as in CoreDNS. */
			for (size_t k = 0; k < f->nzs; k++) {
				if (!ds_name_eq(f->zs[k].origin, zones[i]))
					continue;
				zone_free(atomic_load(&f->zs[k].cur));
				free(f->zs[k].path);
				f->nzs--;
				memmove(&f->zs[k], &f->zs[k + 1], (f->nzs - k) * sizeof(*f->zs));
				memmove(f->origins[k], f->origins[k + 1],
				        (f->nzs - k) * DS_NAME_MAX);
				break;
			}
			zslot_t *ns = realloc(f->zs, (f->nzs + 1) * sizeof(*ns));
			uint8_t(*no)[DS_NAME_MAX] = realloc(f->origins, (f->nzs + 1) * DS_NAME_MAX);
			if (ns)
				f->zs = ns;
			if (no)
				f->origins = no;
			if (!ns || !no) {
				free(zones);
				return DS_ENOMEM;
			}
			zslot_t *s = &f->zs[f->nzs];
			memset(s, 0, sizeof(*s));
			memcpy(s->origin, zones[i], DS_NAME_MAX);
			memcpy(f->origins[f->nzs], zones[i], DS_NAME_MAX);
			s->path = ds_xstrdup(path);
			atomic_init(&s->cur, NULL);
			f->nzs++;
			FILE *fp = fopen(path, "r");
			if (!fp) {
				if (!open_err[0]) {
					snprintf(open_err, sizeof(open_err), "open %.300s: %s",
					         path, strerror(errno));
					open_at = at;
				}
				continue;
			}
			fclose(fp);
			char err[512];
			fzone_t *z = zone_load(path, zones[i], err, sizeof(err));
			if (!z) {
				free(zones);
				return ds_args_err(&at, "%s", err);
			}
			atomic_store(&s->cur, z);
		}
		free(zones);
		while (ds_args_next_block(a)) {
			const char *k = ds_args_val(a);
			const char *v[4];
			if (!strcmp(k, "reload")) {
				size_t nv = ds_args_remaining(a, v, 4);
				if (nv < 1)
					return ds_args_err(a, "reload duration value is expected");
				if (nv > 1)
					return ds_args_err_argcount(a);
				if (ds_parse_duration(v[0], &f->reload) < 0)
					return ds_args_err(a, "invalid duration '%s'", v[0]);
				if (f->reload < 0)
					return ds_args_err(
					    a, "invalid negative duration for reload '%s'", v[0]);
			} else if (!strcmp(k, "fallthrough")) {
				if ((rc = set_fall(a, f)) < 0)
					return rc;
			} else if (!strcmp(k, "upstream")) {
				ds_args_remaining(a, v, 4); /* accepted, ignored, as in CoreDNS */
			} else {
				return ds_args_err(a, "unknown property '%s'", k);
			}
		}
	}
	if (open_err[0]) {
		if (f->reload == 0)
			return ds_args_err(&open_at, "%s", open_err);
		char d[32];
		ds_plog(DS_LOG_WARNING, "file", "Failed to open \"%s\": trying again in %s",
		        open_err, ds_fmt_duration(f->reload, d, sizeof(d)));
	}
	return ds_grace_init(&f->grace, p->nworkers, "file");
}

static int file_start(ds_plugin_t *p, ds_err_t *err)
{
	filep_t *f = p->ctx;
	if (f->reload > 0) {
		ds_timer_init(&f->tick, tick, f);
		ds_timer_start(ds_control_worker(), &f->tick, f->reload);
		f->ticking = true;
	}
	return DS_OK;
}

static void file_stop(ds_plugin_t *p)
{
	filep_t *f = p->ctx;
	if (f->ticking) {
		ds_timer_stop(ds_control_worker(), &f->tick);
		f->ticking = false;
	}
}

/* ---------------------------------------------------------------- serve */

/* Write the records of set s, owned by owner (NULL: their own names). */
static void write_set(ds_wbuf_t *wb, const fzone_t *z, const fnode_t *node, const fset_t *s,
                      const uint8_t *owner)
{
	if (!s)
		return;
	for (uint16_t i = 0; i < s->n; i++) {
		const frec_t *r = &z->recs[s->first + i];
		const uint8_t *o = owner;
		if (!o)
			o = r->owner_off != UINT32_MAX ? z->pool + r->owner_off
			    : node                     ? node_name(z, node)
			                               : z->origin;
		int m = ds_wb_rr_begin(wb, o, s->type, r->rclass, r->ttl);
		if (m < 0)
			return;
		const uint8_t *p = z->recipes + r->roff, *e = p + r->rlen;
		while (p < e) {
			uint8_t tag = *p++;
			if (tag == IT_RAW) {
				size_t n = ds_rd16(p);
				ds_wb_bytes(wb, p + 2, n);
				p += 2 + n;
			} else {
				ds_wb_name(wb, p, tag == IT_NAME);
				p += ds_name_len(p);
			}
		}
		ds_wb_rr_end(wb, m);
	}
}

/* A and AAAA of name, if we have it (glue and additional processing). */
static void write_addrs(ds_wbuf_t *wb, const fzone_t *z, const uint8_t *name)
{
	const fnode_t *n = find_rr(z, name);
	write_set(wb, z, n, set_of(z, n, DS_TYPE_A), NULL);
	write_set(wb, z, n, set_of(z, n, DS_TYPE_AAAA), NULL);
}

/* Glue for the NS set s: addresses of targets at or below its owner. */
static void write_glue(ds_wbuf_t *wb, const fzone_t *z, const fset_t *s, const uint8_t *owner)
{
	for (uint16_t i = 0; s && i < s->n; i++) {
		const uint8_t *t = rec_target(z, &z->recs[s->first + i]);
		if (t && ds_name_in(t, owner))
			write_addrs(wb, z, t);
	}
}

/*
 * Follow a CNAME chain from target inside the zone, appending each link
 * and finally the records of qtype. Returns the target the zone does not
 * have (to be asked through the server, as CoreDNS does), or NULL.
 */
static const uint8_t *chase(ds_wbuf_t *wb, const fzone_t *z, const uint8_t *target, uint16_t qtype)
{
	const fnode_t *n = target ? find_rr(z, target) : NULL;
	for (int i = 0; n; i++) {
		const fset_t *cn = set_of(z, n, DS_TYPE_CNAME);
		if (!cn) {
			write_set(wb, z, n, set_of(z, n, qtype), NULL);
			return NULL;
		}
		write_set(wb, z, n, cn, NULL);
		if (i >= CHASE_MAX)
			return NULL;
		target = rec_target(z, &z->recs[cn->first]);
		n = target ? find_rr(z, target) : NULL;
	}
	return target;
}

/* qname with the DNAME owner's part replaced by its target, or false. */
static bool dname_target(const fzone_t *z, const uint8_t *qname, const fnode_t *n, const fset_t *dn,
                         uint8_t *out)
{
	const uint8_t *owner = node_name(z, n);
	int ql = ds_name_labels(qname), ol = ds_name_labels(owner);
	if (ql <= ol)
		return false;
	const uint8_t *suffix = ds_name_suffix(qname, ol);
	const uint8_t *tgt = rec_target(z, &z->recs[dn->first]);
	size_t pl = (size_t)(suffix - qname), tl = tgt ? ds_name_len(tgt) : 0;
	if (!tgt || pl + tl > DS_NAME_MAX)
		return false;
	memcpy(out, qname, pl);
	memcpy(out + pl, tgt, tl);
	return true;
}

static bool falls(const filep_t *f, const uint8_t *qname)
{
	return f->nfall &&
	       ds_zone_match((const uint8_t(*)[DS_NAME_MAX])f->fall, f->nfall, qname) >= 0;
}

static int finish(ds_query_t *q, ds_plugin_t *p)
{
	return ds_query_reply(q, p) < 0 ? DS_RCODE_SERVFAIL : DS_RCODE_NOERROR;
}

/* lookup() wrote the answer up to a target outside the zone, in ext. */
#define NEED_LOOKUP (-20000)

/* After a chase: the target to look up, or the apex NS and the reply. */
static int after_chase(ds_plugin_t *p, ds_query_t *q, const fzone_t *z, const uint8_t *target,
                       int depth, uint8_t *ext)
{
	if (target && depth < DS_UPSTREAM_DEPTH_MAX) {
		memcpy(ext, target, ds_name_len(target));
		return NEED_LOOKUP;
	}
	ds_wb_section(&q->resp, DS_SEC_AUTHORITY);
	write_set(&q->resp, z, NULL, &z->ns, z->origin);
	return finish(q, p);
}

static int lookup(ds_plugin_t *p, ds_query_t *q, const fzone_t *z, int depth, uint8_t *ext)
{
	filep_t *f = p->ctx;
	if (!z)
		return DS_RCODE_SERVFAIL; /* not loaded (yet) */
	uint16_t qtype = q->req.qtype;
	if (qtype == DS_TYPE_AXFR || qtype == DS_TYPE_IXFR)
		return DS_RCODE_REFUSED;
	const uint8_t *qname = q->req.qname;
	ds_wbuf_t *wb = &q->resp;
	if (ds_name_eq(qname, z->origin) && (qtype == DS_TYPE_SOA || qtype == DS_TYPE_NS)) {
		ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
		if (qtype == DS_TYPE_SOA) {
			write_set(wb, z, NULL, &z->soa, z->origin);
			ds_wb_section(wb, DS_SEC_AUTHORITY);
			write_set(wb, z, NULL, &z->ns, z->origin);
		} else {
			write_set(wb, z, NULL, &z->ns, z->origin);
			ds_wb_section(wb, DS_SEC_ADDITIONAL);
			write_glue(wb, z, &z->ns, z->origin);
		}
		return finish(q, p);
	}

	/* Walk from the apex down, one label at a time. */
	int extra = ds_name_labels(qname) - z->olabels;
	const fnode_t *elem = NULL, *wild = NULL;
	bool found = false;
	for (int i = 0; i <= extra; i++) {
		const uint8_t *part = ds_name_suffix(qname, z->olabels + i);
		const fnode_t *n = find_rr(z, part);
		found = n != NULL;
		if (!found) {
			/* remember the wildcard at this level; a later one wins */
			if (part[0]) {
				uint8_t w[DS_NAME_MAX];
				const uint8_t *parent = part + part[0] + 1;
				size_t pl = ds_name_len(parent);
				if (pl + 2 <= DS_NAME_MAX) {
					w[0] = 1;
					w[1] = '*';
					memcpy(w + 2, parent, pl);
					const fnode_t *wn = find_rr(z, w);
					if (wn)
						wild = wn;
				}
			}
			continue;
		}
		elem = n;
		const fset_t *dn = set_of(z, n, DS_TYPE_DNAME);
		uint8_t tgt[DS_NAME_MAX];
		if (dn && dname_target(z, qname, n, dn, tgt)) {
			ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
			write_set(wb, z, n, dn, NULL);
			int m = ds_wb_rr_begin(wb, qname, DS_TYPE_CNAME, DS_CLASS_IN,
			                       z->recs[dn->first].ttl);
			if (m >= 0) {
				ds_wb_name(wb, tgt, true);
				ds_wb_rr_end(wb, m);
			}
			return after_chase(p, q, z, chase(wb, z, tgt, qtype), depth, ext);
		}
		const fset_t *ns = set_of(z, n, DS_TYPE_NS);
		if (ns) {
			/* a DS query at the cut is answered from the parent side */
			if (qtype == DS_TYPE_DS && i == extra)
				continue;
			ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, 0);
			ds_wb_section(wb, DS_SEC_AUTHORITY);
			write_set(wb, z, n, ns, NULL);
			ds_wb_section(wb, DS_SEC_ADDITIONAL);
			write_glue(wb, z, ns, node_name(z, n));
			return finish(q, p);
		}
	}

	if (found) {
		const fset_t *cn = set_of(z, elem, DS_TYPE_CNAME);
		ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
		if (cn && qtype != DS_TYPE_CNAME) {
			write_set(wb, z, elem, cn, NULL);
			const uint8_t *x = chase(wb, z, rec_target(z, &z->recs[cn->first]), qtype);
			return after_chase(p, q, z, x, depth, ext);
		}
		const fset_t *rrs = set_of(z, elem, qtype);
		if (!rrs) {
			ds_wb_section(wb, DS_SEC_AUTHORITY);
			write_set(wb, z, NULL, &z->soa, z->origin);
			return finish(q, p);
		}
		write_set(wb, z, elem, rrs, NULL);
		ds_wb_section(wb, DS_SEC_AUTHORITY);
		write_set(wb, z, NULL, &z->ns, z->origin);
		ds_wb_section(wb, DS_SEC_ADDITIONAL);
		if (qtype == DS_TYPE_MX || qtype == DS_TYPE_SRV) {
			for (uint16_t i = 0; i < rrs->n && i < EXTRA_MAX; i++) {
				const uint8_t *t = rec_target(z, &z->recs[rrs->first + i]);
				if (t && ds_name_in(t, z->origin))
					write_addrs(wb, z, t);
			}
		}
		return finish(q, p);
	}

	if (wild) {
		const fset_t *cn = set_of(z, wild, DS_TYPE_CNAME);
		const fset_t *rrs = set_of(z, wild, qtype);
		bool via_cname = cn && qtype != DS_TYPE_CNAME;
		if (!via_cname && !rrs && falls(f, qname))
			return DS_NEXT;
		ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
		if (via_cname) {
			write_set(wb, z, wild, cn, qname);
			const uint8_t *x = chase(wb, z, rec_target(z, &z->recs[cn->first]), qtype);
			return after_chase(p, q, z, x, depth, ext);
		} else if (!rrs) {
			ds_wb_section(wb, DS_SEC_AUTHORITY);
			write_set(wb, z, NULL, &z->soa, z->origin);
		} else {
			write_set(wb, z, wild, rrs, qname);
			ds_wb_section(wb, DS_SEC_AUTHORITY);
			write_set(wb, z, NULL, &z->ns, z->origin);
		}
		return finish(q, p);
	}

	/* Not there: NXDOMAIN, or NODATA when names exist below it. */
	bool ent = find(z, qname) != NULL;
	if (falls(f, qname))
		return DS_NEXT;
	ds_wb_reply(wb, &q->req, ent ? DS_RCODE_NOERROR : DS_RCODE_NXDOMAIN, DS_FLAG_AA);
	ds_wb_section(wb, DS_SEC_AUTHORITY);
	write_set(wb, z, NULL, &z->soa, z->origin);
	if (ds_query_reply(q, p) < 0)
		return DS_RCODE_SERVFAIL;
	return ent ? DS_RCODE_NOERROR : DS_RCODE_NXDOMAIN;
}

/* ------------------------------------------------------------ lookups */

/* A reply waiting for the server's answer about an out-of-zone target. */
typedef struct wait {
	ds_plugin_t *p;
	size_t zi;
} wait_t;

static int file_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	ds_upstream_pool_t *pool = malloc(sizeof(*pool));
	if (!pool)
		return DS_ENOMEM;
	ds_upstream_pool_init(pool, sizeof(wait_t));
	*wctx = pool;
	return DS_OK;
}

static void file_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	ds_upstream_pool_t *pool = wctx;
	if (!pool)
		return;
	ds_upstream_pool_fini(pool);
	free(pool);
}

/* The apex NS of the zone as it is now, and the reply. */
static int finish_with_ns(ds_plugin_t *p, ds_query_t *q, size_t zi)
{
	filep_t *f = p->ctx;
	unsigned wid = ds_query_worker_id(q);
	uint64_t v = ds_grace_enter(&f->grace, wid);
	const fzone_t *z = atomic_load(&f->zs[zi].cur);
	ds_wb_section(&q->resp, DS_SEC_AUTHORITY);
	if (z)
		write_set(&q->resp, z, NULL, &z->ns, z->origin);
	ds_grace_leave(&f->grace, wid, v);
	return finish(q, p);
}

static void lookup_done(ds_upstream_t *u)
{
	wait_t *wt = ds_upstream_data(u);
	ds_query_t *q = u->q;
	ds_plugin_t *p = wt->p;
	size_t zi = wt->zi;
	ds_upstream_put(u);
	ds_query_resume(q, finish_with_ns(p, q, zi));
}

/*
 * Ask the server about target (the sub-query goes to the block serving it)
 * and add its answers after the CNAMEs; DS_ASYNC if that takes a while.
 * Outside any table's grace period, so the lookup may come back to us.
 */
static int ask(ds_plugin_t *p, ds_query_t *q, size_t zi, int depth, const uint8_t *target)
{
	ds_block_t *b = ds_upstream_block(q, target);
	ds_upstream_t *u = b ? ds_upstream_get(ds_plugin_wctx(p, q), q, depth) : NULL;
	if (!u)
		return finish_with_ns(p, q, zi);
	wait_t *wt = ds_upstream_data(u);
	wt->p = p;
	wt->zi = zi;
	if (ds_upstream_ask(u, b, target, 0, lookup_done) == DS_ASYNC)
		return DS_ASYNC;
	ds_upstream_put(u);
	return finish_with_ns(p, q, zi);
}

static int file_serve(ds_plugin_t *p, ds_query_t *q)
{
	filep_t *f = p->ctx;
	int zi = ds_zone_match((const uint8_t(*)[DS_NAME_MAX])f->origins, f->nzs, q->req.qname);
	if (zi < 0)
		return DS_NEXT;
	unsigned wid = ds_query_worker_id(q);
	if (DS_UNLIKELY(wid >= f->grace.nslots))
		return DS_RCODE_SERVFAIL;
	int depth = ds_upstream_depth(ds_plugin_wctx(p, q), q);
	uint8_t ext[DS_NAME_MAX];
	uint64_t v = ds_grace_enter(&f->grace, wid);
	int rc = lookup(p, q, atomic_load(&f->zs[zi].cur), depth, ext);
	ds_grace_leave(&f->grace, wid, v);
	if (rc == NEED_LOOKUP)
		rc = ask(p, q, (size_t)zi, depth, ext);
	return rc;
}

DS_PLUGIN_DEFINE(file) = {
    .abi = DS_PLUGIN_ABI,
    .name = "file",
    .setup = file_setup,
    .start = file_start,
    .stop = file_stop,
    .worker_init = file_worker_init,
    .worker_fini = file_worker_fini,
    .serve = file_serve,
    .teardown = file_teardown,
};
