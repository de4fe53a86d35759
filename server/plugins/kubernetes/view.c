/* SPDX-License-Identifier: MIT */
/*
 * The kubernetes view: sharded copy-on-write hash multimaps of immutable
 * records, one writer, lock-free readers, epoch-based reclamation. See
 * view.h for the model; this file keeps three rules:
 *
 *  - nothing a published view references is ever written again, except
 *    the `gen` fields that only the writer reads (relist bookkeeping);
 *  - a batch copies a shard at most once (the dirty bitmap), then edits
 *    its private copy in place until the batch is published;
 *  - whatever a batch replaces goes to that batch's retire list and is
 *    freed once every reader slot is idle or shows a newer epoch.
 */
#include "server/plugins/kubernetes/view.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/rand.h"

/* --------------------------------------------------------------- hashing */

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Bytes are folded eight at a time; case is folded so API names and query
 * labels hash alike whatever their spelling. */
static uint64_t hupd(uint64_t h, const void *data, size_t n, bool fold)
{
	const uint8_t *p = data;
	h ^= (uint64_t)n * 0x9e3779b97f4a7c15ULL;
	while (n > 0) {
		uint64_t w = 0;
		size_t k = n < 8 ? n : 8;
		for (size_t i = 0; i < k; i++) {
			uint8_t c = p[i];
			if (fold && c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			w |= (uint64_t)c << (8 * i);
		}
		h = rotl64(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
		p += k;
		n -= k;
	}
	return h;
}

struct ds_k8s_store;
static uint64_t seed_of(const ds_k8s_store_t *s);

static inline uint64_t nonzero(uint64_t h)
{
	return h ? h : 0x5a5a5a5a5a5a5a5aULL;
}

uint64_t ds_k8s_svckey(const ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                       size_t namelen)
{
	uint64_t h = hupd(seed_of(s) ^ 0x5356430000000001ULL, ns, nslen, true);
	h = hupd(h, name, namelen, true);
	/* the low bit tags reverse-index values (cluster IP or endpoint) */
	return nonzero(fmix(h)) & ~(uint64_t)1;
}

uint64_t ds_k8s_nskey(const ds_k8s_store_t *s, const char *ns, size_t nslen)
{
	return nonzero(fmix(hupd(seed_of(s) ^ 0x4e53000000000002ULL, ns, nslen, true)));
}

uint64_t ds_k8s_ipkey(const ds_k8s_store_t *s, int fam, const uint8_t *ip)
{
	return nonzero(
	    fmix(hupd(seed_of(s) ^ (fam == 6 ? 0x4950360000000006ULL : 0x4950340000000004ULL), ip,
	              fam == 6 ? 16 : 4, false)));
}

uint64_t ds_k8s_objkey(const ds_k8s_store_t *s, int kind, const char *ns, size_t nslen,
                       const char *name, size_t namelen)
{
	uint64_t h = hupd(seed_of(s) ^ (0x4f424a0000000000ULL + (uint64_t)kind), ns, nslen, true);
	return nonzero(fmix(hupd(h, name, namelen, true)));
}

/* ---------------------------------------------------------------- blobs */

void ds_k8s_port_at(const uint8_t *ports, size_t *off, ds_k8s_port_t *out)
{
	const uint8_t *p = ports + *off;
	memcpy(&out->port, p, 4);
	out->plen = p[4];
	out->nlen = p[5];
	out->proto = (const char *)p + 6;
	out->name = out->proto + out->plen;
	*off += 6u + out->plen + out->nlen;
}

size_t ds_k8s_port_pack(uint8_t *buf, int32_t port, const char *proto, size_t plen,
                        const char *name, size_t nlen)
{
	memcpy(buf, &port, 4);
	buf[4] = (uint8_t)plen;
	buf[5] = (uint8_t)nlen;
	memcpy(buf + 6, proto, plen);
	memcpy(buf + 6 + plen, name, nlen);
	return 6 + plen + nlen;
}

static size_t svc_size(const ds_k8s_svc_t *v)
{
	return sizeof(*v) + v->ports_len + v->ext_len;
}

static size_t slice_size(const ds_k8s_slice_t *sl)
{
	return sizeof(*sl) + sl->ports_len + (size_t)sl->naddr * sl->alen + sl->names_len;
}

/* Where a service entry keeps its copy of the Service (8-byte aligned). */
static size_t svcent_svc_off(size_t nslices, size_t nslen, size_t namelen)
{
	size_t o = sizeof(ds_k8s_svcent_t) + nslices * sizeof(void *) + nslen + namelen;
	return (o + 7) & ~(size_t)7;
}

static size_t svcent_size(const ds_k8s_svcent_t *e)
{
	size_t o = svcent_svc_off(e->nslices, e->ns_len, e->name_len);
	return e->svc ? o + svc_size(e->svc) : o;
}

static size_t nsent_size(const ds_k8s_nsent_t *n)
{
	return sizeof(*n) + n->len;
}

static size_t shard_size(const ds_k8s_shard_t *sh)
{
	return sh ? sizeof(*sh) + ((size_t)sh->mask + 1) * sizeof(ds_k8s_ent_t) : 0;
}

ds_k8s_svc_t *ds_k8s_svc_new(uint8_t type, const uint8_t *fams, const uint8_t (*ips)[16],
                             unsigned nips, const uint8_t *ports, size_t ports_len, unsigned nports,
                             const uint8_t *ext, bool ext_is_ip)
{
	size_t elen = ext ? strlen((const char *)ext) + 1 : 0; /* flat names end in 0 */
	if (nips > 2 || ports_len > 65535 || nports > 65535 || elen > 255)
		return NULL;
	ds_k8s_svc_t *v = calloc(1, sizeof(*v) + ports_len + elen);
	if (!v)
		return NULL;
	v->type = type;
	v->nips = (uint8_t)nips;
	for (unsigned i = 0; i < nips; i++) {
		v->fam[i] = fams[i];
		memcpy(v->ip[i], ips[i], 16);
	}
	v->ext_is_ip = ext_is_ip;
	v->ext_len = (uint8_t)elen;
	v->nports = (uint16_t)nports;
	v->ports_len = (uint16_t)ports_len;
	if (ports_len)
		memcpy(v->data, ports, ports_len);
	if (elen)
		memcpy(v->data + ports_len, ext, elen);
	return v;
}

ds_k8s_slice_t *ds_k8s_slice_new(uint64_t key, uint64_t svckey, uint8_t alen, const uint8_t *ports,
                                 size_t ports_len, unsigned nports, const uint8_t *addrs,
                                 uint32_t naddr, const uint8_t *names, size_t names_len)
{
	if (ports_len > 65535 || nports > 65535 || (alen != 4 && alen != 16))
		return NULL;
	size_t alen_total = (size_t)naddr * alen;
	ds_k8s_slice_t *sl = calloc(1, sizeof(*sl) + ports_len + alen_total + names_len);
	if (!sl)
		return NULL;
	sl->key = key;
	sl->svckey = svckey;
	sl->naddr = naddr;
	sl->nports = (uint16_t)nports;
	sl->ports_len = (uint16_t)ports_len;
	sl->alen = alen;
	sl->names_len = (uint32_t)names_len;
	if (ports_len)
		memcpy(sl->data, ports, ports_len);
	if (alen_total)
		memcpy(sl->data + ports_len, addrs, alen_total);
	if (names_len)
		memcpy(sl->data + ports_len + alen_total, names, names_len);
	return sl;
}

/* -------------------------------------------------------- writer's maps */

/* Mutable open-addressing map for the writer's own indexes (slices and
 * pods by object name): never seen by readers. */
typedef struct wslot {
	uint64_t key, a, b;
} wslot_t;

typedef struct wmap {
	wslot_t *e;
	uint32_t mask, count;
} wmap_t;

static wslot_t *wmap_get(wmap_t *m, uint64_t key)
{
	if (!m->e)
		return NULL;
	for (uint32_t i = (uint32_t)key & m->mask;; i = (i + 1) & m->mask) {
		if (m->e[i].key == key)
			return &m->e[i];
		if (m->e[i].key == 0)
			return NULL;
	}
}

static int wmap_grow(wmap_t *m)
{
	uint32_t ncap = m->e ? (m->mask + 1) * 2 : 64;
	wslot_t *ne = calloc(ncap, sizeof(*ne));
	if (!ne)
		return DS_ENOMEM;
	for (uint32_t i = 0; m->e && i <= m->mask; i++) {
		if (!m->e[i].key)
			continue;
		uint32_t j = (uint32_t)m->e[i].key & (ncap - 1);
		while (ne[j].key)
			j = (j + 1) & (ncap - 1);
		ne[j] = m->e[i];
	}
	free(m->e);
	m->e = ne;
	m->mask = ncap - 1;
	return DS_OK;
}

static int wmap_put(wmap_t *m, uint64_t key, uint64_t a, uint64_t b)
{
	wslot_t *w = wmap_get(m, key);
	if (w) {
		w->a = a;
		w->b = b;
		return DS_OK;
	}
	if (!m->e || (m->count + 1) * 10 > (m->mask + 1) * 7)
		if (wmap_grow(m) < 0)
			return DS_ENOMEM;
	uint32_t i = (uint32_t)key & m->mask;
	while (m->e[i].key)
		i = (i + 1) & m->mask;
	m->e[i] = (wslot_t){key, a, b};
	m->count++;
	return DS_OK;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void probe_delete(void *base, size_t esz, uint32_t mask, uint32_t i)
{
	uint8_t *e = base;
	for (;;) {
		uint32_t j = i;
		for (;;) {
			j = (j + 1) & mask;
			uint64_t k;
			memcpy(&k, e + (size_t)j * esz, 8);
			if (k == 0) {
				memset(e + (size_t)i * esz, 0, esz);
				return;
			}
			uint32_t home = (uint32_t)k & mask;
			/* j's entry may move to i if its home is not in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		memcpy(e + (size_t)i * esz, e + (size_t)j * esz, esz);
		i = j;
	}
}

static void wmap_del(wmap_t *m, uint64_t key)
{
	wslot_t *w = wmap_get(m, key);
	if (!w)
		return;
	probe_delete(m->e, sizeof(*w), m->mask, (uint32_t)(w - m->e));
	m->count--;
}

/* ---------------------------------------------------------------- store */

struct rbatch {
	uint64_t tag;
	void **p;
	size_t n;
	struct rbatch *next;
};

/* A set of (ipkey, value) pairs for reverse-index diffs. */
typedef struct pset {
	ds_k8s_ent_t *e;
	uint32_t mask, count;
} pset_t;

struct ds_k8s_store {
	struct ds_k8s_store_pub pub; /* must stay first: readers cast to it */
	uint64_t seed;
	ds_k8s_view_t *next; /* the batch being built, NULL when none */
	uint64_t dirty[DS_K8S_NTABLES][DS_K8S_SHARDS / 64];
	void **ret; /* what this batch replaced */
	size_t nret, capret;
	struct rbatch *rhead, *rtail;
	size_t nbatches;
	wmap_t slices; /* slicekey -> slice blob */
	wmap_t pods;   /* podkey -> (ipkey, nskey48 | gen16) */
	uint32_t gen[DS_K8S_NKINDS];
	bool serial_touch;
	int64_t copy_ns;       /* spent copying shards in this batch */
	pset_t ps_old, ps_new; /* scratch for reverse-index diffs */
};

static uint64_t seed_of(const ds_k8s_store_t *s)
{
	return s->seed;
}

ds_k8s_store_t *ds_k8s_store_new(unsigned nreaders)
{
	ds_k8s_store_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->seed = ds_rand64();
	s->pub.nslots = nreaders ? nreaders : 1;
	s->pub.slots = aligned_alloc(64, sizeof(struct ds_k8s_rslot) * s->pub.nslots);
	ds_k8s_view_t *v = calloc(1, sizeof(*v));
	if (!s->pub.slots || !v) {
		free(s->pub.slots);
		free(v);
		free(s);
		return NULL;
	}
	for (unsigned i = 0; i < s->pub.nslots; i++)
		atomic_init(&s->pub.slots[i].epoch, 0);
	atomic_init(&s->pub.epoch, 1);
	atomic_init(&s->pub.cur, v);
	for (int k = 0; k < DS_K8S_NKINDS; k++)
		s->gen[k] = 1;
	return s;
}

const ds_k8s_view_t *ds_k8s_store_view(const ds_k8s_store_t *s)
{
	return atomic_load_explicit(&((ds_k8s_store_t *)s)->pub.cur, memory_order_relaxed);
}

/* The view the writer edits: the open batch, opened on first use. */
static ds_k8s_view_t *wview(ds_k8s_store_t *s)
{
	if (!s->next) {
		ds_k8s_view_t *n = malloc(sizeof(*n));
		if (!n)
			return NULL;
		memcpy(n, ds_k8s_store_view(s), sizeof(*n));
		s->next = n;
	}
	return s->next;
}

/* The view the writer reads: the open batch if any, else the published one. */
static const ds_k8s_view_t *rview(const ds_k8s_store_t *s)
{
	return s->next ? s->next : ds_k8s_store_view(s);
}

static int retire(ds_k8s_store_t *s, void *p)
{
	if (!p)
		return DS_OK;
	if (s->nret == s->capret) {
		size_t n = s->capret ? s->capret * 2 : 64;
		void **np = realloc(s->ret, n * sizeof(*np));
		if (!np)
			return DS_ENOMEM; /* leaking beats a use-after-free */
		s->ret = np;
		s->capret = n;
	}
	s->ret[s->nret++] = p;
	return DS_OK;
}

/* ---------------------------------------------------------------- shards */

static bool is_dirty(const ds_k8s_store_t *s, int t, unsigned si)
{
	return (s->dirty[t][si / 64] >> (si % 64)) & 1;
}

static ds_k8s_shard_t *shard_alloc(uint32_t cap)
{
	ds_k8s_shard_t *sh = calloc(1, sizeof(*sh) + (size_t)cap * sizeof(ds_k8s_ent_t));
	if (sh)
		sh->mask = cap - 1;
	return sh;
}

static void shard_insert(ds_k8s_shard_t *sh, uint64_t key, uint64_t val)
{
	uint32_t i = (uint32_t)key & sh->mask;
	while (sh->e[i].key)
		i = (i + 1) & sh->mask;
	sh->e[i].key = key;
	sh->e[i].val = val;
	sh->count++;
}

/* A shard of capacity cap holding src's entries. */
static ds_k8s_shard_t *shard_rebuild(const ds_k8s_shard_t *src, uint32_t cap)
{
	ds_k8s_shard_t *sh = shard_alloc(cap);
	if (!sh || !src)
		return sh;
	for (uint32_t i = 0; i <= src->mask; i++)
		if (src->e[i].key)
			shard_insert(sh, src->e[i].key, src->e[i].val);
	return sh;
}

static uint32_t cap_for(uint32_t count)
{
	uint32_t cap = 8;
	/* load at most 1/2 after a rebuild, so inserts in the batch rarely regrow */
	while (cap < count * 2 + 2)
		cap *= 2;
	return cap;
}

/*
 * The private, writable copy of the shard for key in table t, with room
 * for `add` more entries. The published original is retired.
 */
static ds_k8s_shard_t *shard_w(ds_k8s_store_t *s, int t, uint64_t key, uint32_t add)
{
	ds_k8s_view_t *v = wview(s);
	if (!v)
		return NULL;
	unsigned si = (unsigned)(key >> (64 - DS_K8S_SHARD_BITS));
	ds_k8s_shard_t *old = v->t[t][si];
	uint32_t cnt = old ? old->count : 0;
	if (is_dirty(s, t, si)) {
		if (old && (old->count + add) * 4 <= (old->mask + 1) * 3)
			return old;
		/* private and too full: grow; nobody else ever saw it */
		ds_k8s_shard_t *n = shard_rebuild(old, cap_for(cnt + add));
		if (!n)
			return NULL;
		v->bytes += shard_size(n) - shard_size(old);
		free(old);
		v->t[t][si] = n;
		return n;
	}
	uint32_t cap = cap_for(cnt + add);
	/* keep the capacity when it is still comfortable, shrink when sparse */
	if (old && (cnt + add) * 4 <= (old->mask + 1) * 3 && (old->mask + 1) <= cap * 4)
		cap = old->mask + 1;
	int64_t t0 = ds_now_ns();
	ds_k8s_shard_t *n = shard_rebuild(old, cap);
	s->copy_ns += ds_now_ns() - t0;
	if (!n)
		return NULL;
	if (old && retire(s, old) < 0) {
		free(n);
		return NULL;
	}
	v->bytes += shard_size(n) - shard_size(old);
	v->t[t][si] = n;
	s->dirty[t][si / 64] |= 1ULL << (si % 64);
	return n;
}

static int tab_add(ds_k8s_store_t *s, int t, uint64_t key, uint64_t val)
{
	ds_k8s_shard_t *sh = shard_w(s, t, key, 1);
	if (!sh)
		return DS_ENOMEM;
	shard_insert(sh, key, val);
	return DS_OK;
}

/* Pointer to the (private) value of the first entry under key for which
 * match(val, arg) holds, or NULL. */
static uint64_t *tab_find_w(ds_k8s_store_t *s, int t, uint64_t key,
                            bool (*match)(uint64_t, const void *), const void *arg)
{
	const ds_k8s_view_t *v = rview(s);
	const ds_k8s_shard_t *sh = v->t[t][key >> (64 - DS_K8S_SHARD_BITS)];
	if (!sh)
		return NULL;
	bool found = false;
	for (uint32_t i = (uint32_t)key & sh->mask; sh->e[i].key; i = (i + 1) & sh->mask)
		if (sh->e[i].key == key && match(sh->e[i].val, arg)) {
			found = true;
			break;
		}
	if (!found)
		return NULL;
	ds_k8s_shard_t *w = shard_w(s, t, key, 0);
	if (!w)
		return NULL;
	for (uint32_t i = (uint32_t)key & w->mask; w->e[i].key; i = (i + 1) & w->mask)
		if (w->e[i].key == key && match(w->e[i].val, arg))
			return &w->e[i].val;
	return NULL;
}

static bool tab_del(ds_k8s_store_t *s, int t, uint64_t key, bool (*match)(uint64_t, const void *),
                    const void *arg)
{
	uint64_t *pv = tab_find_w(s, t, key, match, arg);
	if (!pv)
		return false;
	ds_k8s_ent_t *e = (ds_k8s_ent_t *)(void *)((uint8_t *)pv - offsetof(ds_k8s_ent_t, val));
	ds_k8s_view_t *v = wview(s);
	ds_k8s_shard_t *sh = v->t[t][key >> (64 - DS_K8S_SHARD_BITS)];
	probe_delete(sh->e, sizeof(ds_k8s_ent_t), sh->mask, (uint32_t)(e - sh->e));
	sh->count--;
	return true;
}

static bool match_val(uint64_t v, const void *arg)
{
	return v == *(const uint64_t *)arg;
}

/* ---------------------------------------------------------------- lookups */

static bool svcent_is(const ds_k8s_svcent_t *e, const char *ns, size_t nslen, const char *name,
                      size_t namelen)
{
	return e->ns_len == nslen && e->name_len == namelen &&
	       strncasecmp(ds_k8s_svcent_ns(e), ns, nslen) == 0 &&
	       strncasecmp(ds_k8s_svcent_name(e), name, namelen) == 0;
}

const ds_k8s_svcent_t *ds_k8s_view_svc(const ds_k8s_view_t *v, uint64_t svckey, const char *ns,
                                       size_t nslen, const char *name, size_t namelen)
{
	ds_k8s_iter_t it;
	uint64_t val;
	ds_k8s_find(v, DS_K8S_T_SVC, svckey, &it);
	while (ds_k8s_next(&it, &val)) {
		const ds_k8s_svcent_t *e = (const ds_k8s_svcent_t *)(uintptr_t)val;
		if (svcent_is(e, ns, nslen, name, namelen))
			return e;
	}
	return NULL;
}

const ds_k8s_svcent_t *ds_k8s_view_svc_bykey(const ds_k8s_view_t *v, uint64_t svckey)
{
	ds_k8s_iter_t it;
	uint64_t val;
	ds_k8s_find(v, DS_K8S_T_SVC, svckey, &it);
	return ds_k8s_next(&it, &val) ? (const ds_k8s_svcent_t *)(uintptr_t)val : NULL;
}

bool ds_k8s_view_ns(const ds_k8s_view_t *v, uint64_t nskey, const char *ns, size_t nslen)
{
	/* The seeded 64-bit key alone decides: not reading the entry saves a
	 * cache miss on every query (a false match needs a 64-bit collision
	 * between two namespace names). */
	ds_k8s_iter_t it;
	uint64_t val;
	ds_k8s_find(v, DS_K8S_T_NS, nskey, &it);
	return ds_k8s_next(&it, &val);
}

const ds_k8s_svcent_t *ds_k8s_store_svcent(ds_k8s_store_t *s, uint64_t svckey)
{
	return ds_k8s_view_svc_bykey(rview(s), svckey);
}

/* ------------------------------------------------------ reverse index */

static void pset_clear(pset_t *p)
{
	if (p->e && p->count)
		memset(p->e, 0, ((size_t)p->mask + 1) * sizeof(*p->e));
	p->count = 0;
}

static int pset_add(pset_t *p, uint64_t key, uint64_t val)
{
	if (!p->e || (p->count + 1) * 2 > p->mask + 1) {
		uint32_t ncap = p->e ? (p->mask + 1) * 2 : 256;
		ds_k8s_ent_t *ne = calloc(ncap, sizeof(*ne));
		if (!ne)
			return DS_ENOMEM;
		for (uint32_t i = 0; p->e && i <= p->mask; i++) {
			if (!p->e[i].key)
				continue;
			uint32_t j = (uint32_t)p->e[i].key & (ncap - 1);
			while (ne[j].key)
				j = (j + 1) & (ncap - 1);
			ne[j] = p->e[i];
		}
		free(p->e);
		p->e = ne;
		p->mask = ncap - 1;
	}
	uint32_t i = (uint32_t)key & p->mask;
	for (; p->e[i].key; i = (i + 1) & p->mask)
		if (p->e[i].key == key && p->e[i].val == val)
			return DS_OK;
	p->e[i].key = key;
	p->e[i].val = val;
	p->count++;
	return DS_OK;
}

static bool pset_has(const pset_t *p, uint64_t key, uint64_t val)
{
	if (!p->e)
		return false;
	for (uint32_t i = (uint32_t)key & p->mask; p->e[i].key; i = (i + 1) & p->mask)
		if (p->e[i].key == key && p->e[i].val == val)
			return true;
	return false;
}

/* The (ipkey, reverse value) pairs a service entry puts in the reverse index. */
static int rev_collect(ds_k8s_store_t *s, const ds_k8s_svcent_t *e, pset_t *out)
{
	pset_clear(out);
	if (!e)
		return DS_OK;
	const ds_k8s_svc_t *v = e->svc;
	if (v && v->type == DS_K8S_CLUSTERIP)
		for (unsigned i = 0; i < v->nips; i++)
			if (pset_add(out, ds_k8s_ipkey(s, v->fam[i], v->ip[i]),
			             e->key | DS_K8S_REV_CLUSTER) < 0)
				return DS_ENOMEM;
	for (unsigned k = 0; k < e->nslices; k++) {
		const ds_k8s_slice_t *sl = e->slices[k];
		for (uint32_t i = 0; i < sl->naddr; i++)
			if (pset_add(
			        out,
			        ds_k8s_ipkey(s, sl->alen == 16 ? 6 : 4, ds_k8s_slice_addr(sl, i)),
			        e->key) < 0)
				return DS_ENOMEM;
	}
	return DS_OK;
}

static int rev_update(ds_k8s_store_t *s, const ds_k8s_svcent_t *o, const ds_k8s_svcent_t *n)
{
	if (rev_collect(s, o, &s->ps_old) < 0 || rev_collect(s, n, &s->ps_new) < 0)
		return DS_ENOMEM;
	for (uint32_t i = 0; s->ps_old.e && i <= s->ps_old.mask; i++) {
		ds_k8s_ent_t *x = &s->ps_old.e[i];
		if (x->key && !pset_has(&s->ps_new, x->key, x->val))
			tab_del(s, DS_K8S_T_REV, x->key, match_val, &x->val);
	}
	for (uint32_t i = 0; s->ps_new.e && i <= s->ps_new.mask; i++) {
		ds_k8s_ent_t *x = &s->ps_new.e[i];
		if (x->key && !pset_has(&s->ps_old, x->key, x->val))
			if (tab_add(s, DS_K8S_T_REV, x->key, x->val) < 0)
				return DS_ENOMEM;
	}
	return DS_OK;
}

/* ------------------------------------------------------- service entries */

/*
 * A service entry holds its own copy of the Service (svc may be NULL):
 * a query then touches one record, not two. A slice change copies those
 * few dozen bytes along.
 */
static ds_k8s_svcent_t *svcent_new(uint64_t key, const char *ns, size_t nslen, const char *name,
                                   size_t namelen, const ds_k8s_svc_t *svc, uint32_t gen,
                                   const ds_k8s_slice_t *const *slices, size_t n)
{
	if (nslen > 255 || namelen > 255 || n > 65535)
		return NULL;
	size_t off = svcent_svc_off(n, nslen, namelen);
	ds_k8s_svcent_t *e = malloc(off + (svc ? svc_size(svc) : 0));
	if (!e)
		return NULL;
	e->key = key;
	e->svc = NULL;
	if (svc) {
		memcpy((uint8_t *)e + off, svc, svc_size(svc));
		e->svc = (const ds_k8s_svc_t *)(const void *)((uint8_t *)e + off);
	}
	e->gen = gen;
	e->nslices = (uint16_t)n;
	e->ns_len = (uint8_t)nslen;
	e->name_len = (uint8_t)namelen;
	e->naddr = 0;
	for (size_t i = 0; i < n; i++) {
		e->slices[i] = slices[i];
		e->naddr += slices[i]->naddr;
	}
	char *names = (char *)&e->slices[n];
	memcpy(names, ns, nslen);
	memcpy(names + nslen, name, namelen);
	return e;
}

static bool match_svcent(uint64_t v, const void *arg)
{
	return v == (uint64_t)(uintptr_t)arg;
}

/*
 * Put n in place of o (either may be NULL) in the service table and the
 * reverse index, and account for the change. o is retired by the caller's
 * choice of what else goes with it (see the callers).
 */
static int svcent_swap(ds_k8s_store_t *s, const ds_k8s_svcent_t *o, ds_k8s_svcent_t *n)
{
	ds_k8s_view_t *v = wview(s);
	if (!v)
		return DS_ENOMEM;
	if (rev_update(s, o, n) < 0)
		return DS_ENOMEM;
	uint64_t key = o ? o->key : n->key;
	if (o && n) {
		uint64_t *pv = tab_find_w(s, DS_K8S_T_SVC, key, match_svcent, o);
		if (!pv)
			return DS_EINVAL;
		*pv = (uint64_t)(uintptr_t)n;
	} else if (o) {
		tab_del(s, DS_K8S_T_SVC, key, match_svcent, o);
	} else if (n) {
		if (tab_add(s, DS_K8S_T_SVC, key, (uint64_t)(uintptr_t)n) < 0)
			return DS_ENOMEM;
	}
	v = wview(s);
	if (o) {
		v->bytes -= svcent_size(o);
		v->nsvc -= o->svc != NULL;
		retire(s, (void *)o);
	}
	if (n) {
		v->bytes += svcent_size(n);
		v->nsvc += n->svc != NULL;
	}
	return DS_OK;
}

static const ds_k8s_svcent_t *find_svcent(ds_k8s_store_t *s, uint64_t key, const char *ns,
                                          size_t nslen, const char *name, size_t namelen)
{
	return ds_k8s_view_svc(rview(s), key, ns, nslen, name, namelen);
}

static bool svc_equal(const ds_k8s_svc_t *a, const ds_k8s_svc_t *b)
{
	size_t n = svc_size(a);
	return n == svc_size(b) && memcmp(a, b, n) == 0;
}

int ds_k8s_store_put_svc(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                         size_t namelen, ds_k8s_svc_t *svc)
{
	uint64_t key = ds_k8s_svckey(s, ns, nslen, name, namelen);
	const ds_k8s_svcent_t *o = find_svcent(s, key, ns, nslen, name, namelen);
	if (o && o->svc && svc_equal(o->svc, svc)) {
		/* the same content again (a relist, a status-only update) */
		((ds_k8s_svcent_t *)o)->gen = s->gen[DS_K8S_K_SVC];
		free(svc);
		return DS_OK;
	}
	ds_k8s_svcent_t *n = svcent_new(key, ns, nslen, name, namelen, svc, s->gen[DS_K8S_K_SVC],
	                                o ? o->slices : NULL, o ? o->nslices : 0);
	free(svc); /* copied into the entry */
	if (!n)
		return DS_ENOMEM;
	int rc = svcent_swap(s, o, n);
	if (rc < 0) {
		free(n);
		return rc;
	}
	s->serial_touch = true;
	return DS_OK;
}

int ds_k8s_store_del_svc(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                         size_t namelen)
{
	uint64_t key = ds_k8s_svckey(s, ns, nslen, name, namelen);
	const ds_k8s_svcent_t *o = find_svcent(s, key, ns, nslen, name, namelen);
	if (!o || !o->svc)
		return DS_OK;
	ds_k8s_svcent_t *n = NULL;
	if (o->nslices) {
		n = svcent_new(key, ns, nslen, name, namelen, NULL, 0, o->slices, o->nslices);
		if (!n)
			return DS_ENOMEM;
	}
	int rc = svcent_swap(s, o, n);
	if (rc < 0) {
		free(n);
		return rc;
	}
	s->serial_touch = true;
	return DS_OK;
}

/* ----------------------------------------------------------------- slices */

static bool slice_equal(const ds_k8s_slice_t *a, const ds_k8s_slice_t *b)
{
	if (a->key != b->key || a->svckey != b->svckey || a->naddr != b->naddr ||
	    a->nports != b->nports || a->ports_len != b->ports_len || a->alen != b->alen ||
	    a->names_len != b->names_len)
		return false;
	return memcmp(a->data, b->data, slice_size(a) - sizeof(*a)) == 0;
}

/* A copy of e's slices with `drop` removed and `add` appended (either NULL). */
static int slices_edit(const ds_k8s_svcent_t *e, const ds_k8s_slice_t *drop,
                       const ds_k8s_slice_t *add, const ds_k8s_slice_t ***out, size_t *n)
{
	size_t have = e ? e->nslices : 0;
	const ds_k8s_slice_t **v = malloc((have + 1) * sizeof(*v));
	if (!v)
		return DS_ENOMEM;
	size_t k = 0;
	bool replaced = false;
	for (size_t i = 0; i < have; i++) {
		if (e->slices[i] == drop) {
			/* keep the position of a slice that is updated in place */
			if (add && !replaced) {
				v[k++] = add;
				replaced = true;
			}
			continue;
		}
		v[k++] = e->slices[i];
	}
	if (add && !replaced)
		v[k++] = add;
	*out = v;
	*n = k;
	return DS_OK;
}

/* The service entry under key that holds slice sl (keys may collide). */
static const ds_k8s_svcent_t *svcent_with(ds_k8s_store_t *s, uint64_t key, const ds_k8s_slice_t *sl)
{
	ds_k8s_iter_t it;
	uint64_t val;
	ds_k8s_find(rview(s), DS_K8S_T_SVC, key, &it);
	while (ds_k8s_next(&it, &val)) {
		const ds_k8s_svcent_t *e = (const ds_k8s_svcent_t *)(uintptr_t)val;
		for (unsigned i = 0; i < e->nslices; i++)
			if (e->slices[i] == sl)
				return e;
	}
	return NULL;
}

/* Move a slice out of (drop) and/or into (add) the service entry svckey. */
static int svcent_slices(ds_k8s_store_t *s, uint64_t svckey, const char *ns, size_t nslen,
                         const char *svc, size_t svclen, const ds_k8s_slice_t *drop,
                         const ds_k8s_slice_t *add)
{
	const ds_k8s_svcent_t *o =
	    add ? find_svcent(s, svckey, ns, nslen, svc, svclen) : svcent_with(s, svckey, drop);
	if (!o && !add)
		return DS_OK;
	const ds_k8s_slice_t **v;
	size_t n;
	if (slices_edit(o, drop, add, &v, &n) < 0)
		return DS_ENOMEM;
	ds_k8s_svcent_t *ne = NULL;
	if (n || (o && o->svc)) {
		if (o)
			ne = svcent_new(svckey, ds_k8s_svcent_ns(o), o->ns_len,
			                ds_k8s_svcent_name(o), o->name_len, o->svc, o->gen, v, n);
		else
			ne = svcent_new(svckey, ns, nslen, svc, svclen, NULL, 0, v, n);
		if (!ne) {
			free(v);
			return DS_ENOMEM;
		}
	}
	free(v);
	int rc = svcent_swap(s, o, ne);
	if (rc < 0)
		free(ne);
	return rc;
}

int ds_k8s_store_put_slice(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *svc,
                           size_t svclen, ds_k8s_slice_t *sl, bool *changed)
{
	*changed = false;
	sl->gen = s->gen[DS_K8S_K_SLICE];
	wslot_t *w = wmap_get(&s->slices, sl->key);
	ds_k8s_slice_t *old = w ? (ds_k8s_slice_t *)(uintptr_t)w->a : NULL;
	if (old && slice_equal(old, sl)) {
		old->gen = sl->gen;
		free(sl);
		return DS_OK;
	}
	int rc;
	if (old && old->svckey != sl->svckey) {
		/* the service-name label changed: leave the old service first */
		rc = svcent_slices(s, old->svckey, NULL, 0, NULL, 0, old, NULL);
		if (rc < 0)
			goto fail;
		rc = svcent_slices(s, sl->svckey, ns, nslen, svc, svclen, NULL, sl);
	} else {
		rc = svcent_slices(s, sl->svckey, ns, nslen, svc, svclen, old, sl);
	}
	if (rc < 0)
		goto fail;
	rc = wmap_put(&s->slices, sl->key, (uint64_t)(uintptr_t)sl, 0);
	if (rc < 0)
		return rc; /* the view holds sl; only our index lost it */
	ds_k8s_view_t *v = wview(s);
	v->bytes += slice_size(sl);
	v->naddr += sl->naddr;
	if (old) {
		v->bytes -= slice_size(old);
		v->naddr -= old->naddr;
		retire(s, old);
	} else {
		v->nslice++;
	}
	s->serial_touch = true;
	*changed = true;
	return DS_OK;
fail:
	free(sl);
	return rc;
}

int ds_k8s_store_del_slice(ds_k8s_store_t *s, uint64_t slicekey, bool *changed)
{
	*changed = false;
	wslot_t *w = wmap_get(&s->slices, slicekey);
	if (!w)
		return DS_OK;
	ds_k8s_slice_t *old = (ds_k8s_slice_t *)(uintptr_t)w->a;
	int rc = svcent_slices(s, old->svckey, NULL, 0, NULL, 0, old, NULL);
	if (rc < 0)
		return rc;
	wmap_del(&s->slices, slicekey);
	ds_k8s_view_t *v = wview(s);
	v->bytes -= slice_size(old);
	v->naddr -= old->naddr;
	v->nslice--;
	retire(s, old);
	s->serial_touch = true;
	*changed = true;
	return DS_OK;
}

/* ------------------------------------------------------------ namespaces */

struct nsarg {
	const char *ns;
	size_t len;
};

static bool match_ns(uint64_t v, const void *arg)
{
	const struct nsarg *a = arg;
	const ds_k8s_nsent_t *n = (const ds_k8s_nsent_t *)(uintptr_t)v;
	return n->len == a->len && strncasecmp(n->name, a->ns, a->len) == 0;
}

int ds_k8s_store_put_ns(ds_k8s_store_t *s, const char *ns, size_t nslen)
{
	if (nslen > 255)
		return DS_EINVAL;
	uint64_t key = ds_k8s_nskey(s, ns, nslen);
	struct nsarg a = {ns, nslen};
	const ds_k8s_view_t *rv = rview(s);
	ds_k8s_iter_t it;
	uint64_t val;
	ds_k8s_find(rv, DS_K8S_T_NS, key, &it);
	while (ds_k8s_next(&it, &val))
		if (match_ns(val, &a)) {
			((ds_k8s_nsent_t *)(uintptr_t)val)->gen = s->gen[DS_K8S_K_NS];
			return DS_OK;
		}
	ds_k8s_nsent_t *n = malloc(sizeof(*n) + nslen);
	if (!n)
		return DS_ENOMEM;
	n->key = key;
	n->gen = s->gen[DS_K8S_K_NS];
	n->len = (uint8_t)nslen;
	memcpy(n->name, ns, nslen);
	if (tab_add(s, DS_K8S_T_NS, key, (uint64_t)(uintptr_t)n) < 0) {
		free(n);
		return DS_ENOMEM;
	}
	ds_k8s_view_t *v = wview(s);
	v->bytes += nsent_size(n);
	v->nns++;
	return DS_OK;
}

int ds_k8s_store_del_ns(ds_k8s_store_t *s, const char *ns, size_t nslen)
{
	uint64_t key = ds_k8s_nskey(s, ns, nslen);
	struct nsarg a = {ns, nslen};
	uint64_t *pv = tab_find_w(s, DS_K8S_T_NS, key, match_ns, &a);
	if (!pv)
		return DS_OK;
	ds_k8s_nsent_t *n = (ds_k8s_nsent_t *)(uintptr_t)*pv;
	uint64_t val = *pv;
	tab_del(s, DS_K8S_T_NS, key, match_val, &val);
	ds_k8s_view_t *v = wview(s);
	v->bytes -= nsent_size(n);
	v->nns--;
	retire(s, n);
	return DS_OK;
}

/* ------------------------------------------------------------------ pods */

static bool match_podns(uint64_t v, const void *arg)
{
	return (v & DS_K8S_POD_NSMASK) == *(const uint64_t *)arg;
}

static int pod_ref(ds_k8s_store_t *s, uint64_t ipk, uint64_t nsv)
{
	uint64_t *pv = tab_find_w(s, DS_K8S_T_POD, ipk, match_podns, &nsv);
	if (pv) {
		/* pods sharing an IP in a namespace (host network) are counted */
		if ((*pv & 0xffff) != 0xffff)
			(*pv)++;
		return DS_OK;
	}
	int rc = tab_add(s, DS_K8S_T_POD, ipk, nsv | 1);
	if (rc == DS_OK)
		wview(s)->npod++;
	return rc;
}

static void pod_unref(ds_k8s_store_t *s, uint64_t ipk, uint64_t nsv)
{
	uint64_t *pv = tab_find_w(s, DS_K8S_T_POD, ipk, match_podns, &nsv);
	if (!pv)
		return;
	if ((*pv & 0xffff) > 1) {
		(*pv)--;
		return;
	}
	tab_del(s, DS_K8S_T_POD, ipk, match_podns, &nsv);
	wview(s)->npod--;
}

int ds_k8s_store_put_pod(ds_k8s_store_t *s, uint64_t podkey, int fam, const uint8_t *ip,
                         const char *ns, size_t nslen)
{
	uint64_t nsv = ds_k8s_nskey(s, ns, nslen) & DS_K8S_POD_NSMASK;
	uint64_t ipk = fam ? ds_k8s_ipkey(s, fam, ip) : 0;
	uint64_t gen = s->gen[DS_K8S_K_POD] & 0xffff;
	wslot_t *w = wmap_get(&s->pods, podkey);
	if (w) {
		if (w->a == ipk && (w->b & DS_K8S_POD_NSMASK) == nsv) {
			w->b = nsv | gen;
			return DS_OK;
		}
		uint64_t oipk = w->a, onsv = w->b & DS_K8S_POD_NSMASK;
		w->a = ipk;
		w->b = nsv | gen;
		if (oipk)
			pod_unref(s, oipk, onsv);
	} else if (wmap_put(&s->pods, podkey, ipk, nsv | gen) < 0) {
		return DS_ENOMEM;
	}
	s->serial_touch = true;
	return ipk ? pod_ref(s, ipk, nsv) : DS_OK;
}

int ds_k8s_store_del_pod(ds_k8s_store_t *s, uint64_t podkey)
{
	wslot_t *w = wmap_get(&s->pods, podkey);
	if (!w)
		return DS_OK;
	uint64_t ipk = w->a, nsv = w->b & DS_K8S_POD_NSMASK;
	wmap_del(&s->pods, podkey);
	if (ipk)
		pod_unref(s, ipk, nsv);
	s->serial_touch = true;
	return DS_OK;
}

/* ---------------------------------------------------------------- relists */

void ds_k8s_store_begin_list(ds_k8s_store_t *s, int kind)
{
	if (++s->gen[kind] == 0)
		s->gen[kind] = 1;
}

int ds_k8s_store_sweep(ds_k8s_store_t *s, int kind)
{
	uint32_t g = s->gen[kind];
	uint64_t *keys = NULL;
	size_t n = 0, cap = 0;
	int rc = DS_OK;
#define PUSH(k)                                                                                    \
	do {                                                                                       \
		if (n == cap) {                                                                    \
			cap = cap ? cap * 2 : 64;                                                  \
			uint64_t *nk = realloc(keys, cap * sizeof(*nk));                           \
			if (!nk) {                                                                 \
				rc = DS_ENOMEM;                                                    \
				goto out;                                                          \
			}                                                                          \
			keys = nk;                                                                 \
		}                                                                                  \
		keys[n++] = (k);                                                                   \
	} while (0)
	if (kind == DS_K8S_K_SLICE || kind == DS_K8S_K_POD) {
		wmap_t *m = kind == DS_K8S_K_SLICE ? &s->slices : &s->pods;
		for (uint32_t i = 0; m->e && i <= m->mask; i++) {
			if (!m->e[i].key)
				continue;
			uint32_t have = kind == DS_K8S_K_SLICE
			                    ? ((ds_k8s_slice_t *)(uintptr_t)m->e[i].a)->gen
			                    : (uint32_t)(m->e[i].b & 0xffff);
			if (have != (kind == DS_K8S_K_SLICE ? g : (g & 0xffff)))
				PUSH(m->e[i].key);
		}
		for (size_t i = 0; i < n && rc == DS_OK; i++) {
			bool ch;
			rc = kind == DS_K8S_K_SLICE ? ds_k8s_store_del_slice(s, keys[i], &ch)
			                            : ds_k8s_store_del_pod(s, keys[i]);
		}
		goto out;
	}
	/* Services and namespaces live in the view's tables: collect the
	 * stale entries first, then delete them by name. */
	int t = kind == DS_K8S_K_SVC ? DS_K8S_T_SVC : DS_K8S_T_NS;
	const ds_k8s_view_t *v = rview(s);
	for (unsigned si = 0; si < DS_K8S_SHARDS; si++) {
		const ds_k8s_shard_t *sh = v->t[t][si];
		for (uint32_t i = 0; sh && i <= sh->mask; i++) {
			if (!sh->e[i].key)
				continue;
			if (t == DS_K8S_T_SVC) {
				const ds_k8s_svcent_t *e =
				    (const ds_k8s_svcent_t *)(uintptr_t)sh->e[i].val;
				if (e->svc && e->gen != g)
					PUSH(sh->e[i].val);
			} else {
				const ds_k8s_nsent_t *ne =
				    (const ds_k8s_nsent_t *)(uintptr_t)sh->e[i].val;
				if (ne->gen != g)
					PUSH(sh->e[i].val);
			}
		}
	}
	for (size_t i = 0; i < n && rc == DS_OK; i++) {
		/* copy the names: the entry is retired by the delete */
		char a[256], b[256];
		if (t == DS_K8S_T_SVC) {
			const ds_k8s_svcent_t *e = (const ds_k8s_svcent_t *)(uintptr_t)keys[i];
			size_t al = e->ns_len, bl = e->name_len;
			memcpy(a, ds_k8s_svcent_ns(e), al);
			memcpy(b, ds_k8s_svcent_name(e), bl);
			rc = ds_k8s_store_del_svc(s, a, al, b, bl);
		} else {
			const ds_k8s_nsent_t *ne = (const ds_k8s_nsent_t *)(uintptr_t)keys[i];
			size_t al = ne->len;
			memcpy(a, ne->name, al);
			rc = ds_k8s_store_del_ns(s, a, al);
		}
	}
out:
#undef PUSH
	free(keys);
	return rc;
}

/* -------------------------------------------------------------- publish */

bool ds_k8s_store_pending(const ds_k8s_store_t *s)
{
	return s->next != NULL;
}

void ds_k8s_store_touch_serial(ds_k8s_store_t *s)
{
	s->serial_touch = true;
}

size_t ds_k8s_store_retired(const ds_k8s_store_t *s)
{
	return s->nbatches;
}

size_t ds_k8s_store_index_bytes(const ds_k8s_store_t *s)
{
	size_t b = 0;
	if (s->slices.e)
		b += ((size_t)s->slices.mask + 1) * sizeof(wslot_t);
	if (s->pods.e)
		b += ((size_t)s->pods.mask + 1) * sizeof(wslot_t);
	return b;
}

static void free_batch(struct rbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->p[i]);
	free(b->p);
	free(b);
}

void ds_k8s_store_reclaim(ds_k8s_store_t *s)
{
	uint64_t min = UINT64_MAX;
	for (unsigned i = 0; i < s->pub.nslots; i++) {
		uint64_t e = atomic_load_explicit(&s->pub.slots[i].epoch, memory_order_seq_cst);
		if (e && e < min)
			min = e;
	}
	while (s->rhead && s->rhead->tag <= min) {
		struct rbatch *b = s->rhead;
		s->rhead = b->next;
		if (!s->rhead)
			s->rtail = NULL;
		s->nbatches--;
		free_batch(b);
	}
}

int ds_k8s_store_publish(ds_k8s_store_t *s)
{
	if (!s->next) {
		ds_k8s_store_reclaim(s);
		return DS_OK;
	}
	ds_k8s_view_t *old = (ds_k8s_view_t *)ds_k8s_store_view(s);
	ds_k8s_view_t *n = s->next;
	n->seq = old->seq + 1;
	if (s->serial_touch)
		n->serial = (uint32_t)time(NULL);
	s->serial_touch = false;
	struct rbatch *b = calloc(1, sizeof(*b));
	if (!b || retire(s, old) < 0) {
		free(b);
		return DS_ENOMEM;
	}
	atomic_store_explicit(&s->pub.cur, n, memory_order_seq_cst);
	/* Readers that announce this epoch or later loaded n (or newer). */
	b->tag = atomic_fetch_add_explicit(&s->pub.epoch, 1, memory_order_seq_cst) + 1;
	b->p = s->ret;
	b->n = s->nret;
	s->ret = NULL;
	s->nret = s->capret = 0;
	if (s->rtail)
		s->rtail->next = b;
	else
		s->rhead = b;
	s->rtail = b;
	s->nbatches++;
	s->next = NULL;
	s->copy_ns = 0;
	memset(s->dirty, 0, sizeof(s->dirty));
	ds_k8s_store_reclaim(s);
	return DS_OK;
}

int64_t ds_k8s_store_batch_ns(const ds_k8s_store_t *s)
{
	return s->copy_ns;
}

void ds_k8s_store_free(ds_k8s_store_t *s)
{
	if (!s)
		return;
	ds_k8s_store_publish(s);
	while (s->rhead) {
		struct rbatch *b = s->rhead;
		s->rhead = b->next;
		free_batch(b);
	}
	ds_k8s_view_t *v = (ds_k8s_view_t *)ds_k8s_store_view(s);
	for (int t = 0; t < DS_K8S_NTABLES; t++) {
		for (unsigned si = 0; si < DS_K8S_SHARDS; si++) {
			ds_k8s_shard_t *sh = v->t[t][si];
			for (uint32_t i = 0; sh && i <= sh->mask; i++) {
				if (!sh->e[i].key)
					continue;
				if (t == DS_K8S_T_SVC) {
					ds_k8s_svcent_t *e =
					    (ds_k8s_svcent_t *)(uintptr_t)sh->e[i].val;
					for (unsigned k = 0; k < e->nslices; k++)
						free((void *)e->slices[k]);
					free(e);
				} else if (t == DS_K8S_T_NS) {
					free((void *)(uintptr_t)sh->e[i].val);
				}
			}
			free(sh);
		}
	}
	free(v);
	free(s->ret);
	free(s->slices.e);
	free(s->pods.e);
	free(s->ps_old.e);
	free(s->ps_new.e);
	free(s->pub.slots);
	free(s);
}
