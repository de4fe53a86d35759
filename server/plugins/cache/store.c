/* SPDX-License-Identifier: MIT */
/* The cache's sharded tables and the TTL rules (see cache.h). */
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "server/plugins/cache/cache.h"

int64_t (*ds_cache_clock)(void) = ds_now_ns;

uint64_t ds_cache_key(const uint8_t *qname, uint16_t qtype, uint16_t qclass, bool do_bit, bool cd)
{
	/* FNV-1 (multiply, then xor), 64 bit. */
	uint64_t h = 14695981039346656037ULL;
	const uint64_t prime = 1099511628211ULL;
#define FNV(b)                          \
	do {                            \
		h *= prime;             \
		h ^= (uint8_t)(b);      \
	} while (0)
	FNV(do_bit ? '1' : '0');
	FNV(cd ? '1' : '0');
	FNV(qtype >> 8);
	FNV(qtype & 0xff);
	FNV(qclass >> 8);
	FNV(qclass & 0xff);
	/* qname in presentation form, as CoreDNS hashes its string: labels
	 * joined by dots with a trailing dot ("." for the root). */
	const uint8_t *p = qname;
	if (*p == 0) {
		FNV('.');
	} else {
		while (*p) {
			uint8_t l = *p++;
			for (uint8_t i = 0; i < l; i++, p++)
				FNV(*p);
			FNV('.');
		}
	}
#undef FNV
	return h;
}

uint32_t ds_cache_msg_ttl(const uint8_t *pkt, size_t len, ds_resp_type_t t)
{
	if (t != DS_RT_NOERROR && t != DS_RT_NAMEERROR && t != DS_RT_NODATA)
		return 5;
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return 5;
	uint32_t min = 3600;
	bool any = false;
	ds_rr_t rr;
	while (ds_rr_next(&it, &rr) == 1) {
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL)
			continue;
		any = true;
		if (rr.ttl < min)
			min = rr.ttl;
	}
	return any ? min : 5;
}

int ds_ctable_init(ds_ctable_t *t, uint32_t capacity)
{
	memset(t, 0, sizeof(*t));
	uint32_t sc = capacity / DS_CACHE_SHARDS;
	if (sc < 4)
		sc = 4;
	t->shard_cap = sc;
	uint32_t slots = 8;
	while (slots < sc * 2)
		slots *= 2;
	for (int i = 0; i < DS_CACHE_SHARDS; i++) {
		ds_cshard_t *s = &t->shards[i];
		pthread_spin_init(&s->lock, PTHREAD_PROCESS_PRIVATE);
		s->slots = calloc(slots, sizeof(*s->slots));
		if (!s->slots)
			return DS_ENOMEM;
		s->mask = slots - 1;
		s->cap = sc;
		s->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
	}
	atomic_init(&t->entries, 0);
	return DS_OK;
}

void ds_ctable_free(ds_ctable_t *t)
{
	for (int i = 0; i < DS_CACHE_SHARDS; i++) {
		ds_cshard_t *s = &t->shards[i];
		if (!s->slots)
			continue;
		for (uint32_t k = 0; k <= s->mask; k++)
			free(s->slots[k]);
		free(s->slots);
		s->slots = NULL;
		pthread_spin_destroy(&s->lock);
	}
}

long ds_ctable_len(ds_ctable_t *t)
{
	return atomic_load_explicit(&t->entries, memory_order_relaxed);
}

/* The shard index uses the low bits; the slot index the high bits so
 * the keys of one shard spread over its slots. */
static inline uint32_t slot_of(const ds_cshard_t *s, uint64_t key)
{
	return (uint32_t)(key >> 40) & s->mask;
}

ds_centry_t *ds_cshard_find(ds_cshard_t *s, uint64_t key)
{
	for (uint32_t i = slot_of(s, key);; i = (i + 1) & s->mask) {
		ds_centry_t *e = s->slots[i];
		if (!e)
			return NULL;
		if (e->key == key)
			return e;
	}
}

/* Remove the item at slot i, shifting later items of the probe run back
 * so lookups never stop at a hole they should have passed. */
static void remove_at(ds_cshard_t *s, uint32_t i)
{
	free(s->slots[i]);
	s->slots[i] = NULL;
	s->count--;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & s->mask;
		ds_centry_t *e = s->slots[j];
		if (!e)
			return;
		uint32_t home = slot_of(s, e->key);
		/* Move e into the hole if its home is not in (i, j]. */
		bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			s->slots[i] = e;
			s->slots[j] = NULL;
			i = j;
		}
	}
}

bool ds_ctable_put(ds_ctable_t *t, ds_centry_t *e)
{
	ds_cshard_t *s = ds_ctable_shard(t, e->key);
	bool evicted = false;
	pthread_spin_lock(&s->lock);
	uint32_t i;
	for (i = slot_of(s, e->key); s->slots[i]; i = (i + 1) & s->mask) {
		if (s->slots[i]->key == e->key) {
			free(s->slots[i]);
			s->slots[i] = e;
			pthread_spin_unlock(&s->lock);
			return false;
		}
	}
	if (s->count >= s->cap) {
		/* Full: drop one random item of this shard, as CoreDNS does. */
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 7;
		s->rng ^= s->rng << 17;
		uint32_t k = (uint32_t)s->rng & s->mask;
		while (!s->slots[k])
			k = (k + 1) & s->mask;
		remove_at(s, k);
		evicted = true;
		atomic_fetch_sub_explicit(&t->entries, 1, memory_order_relaxed);
		for (i = slot_of(s, e->key); s->slots[i]; i = (i + 1) & s->mask)
			;
	}
	s->slots[i] = e;
	s->count++;
	atomic_fetch_add_explicit(&t->entries, 1, memory_order_relaxed);
	pthread_spin_unlock(&s->lock);
	return evicted;
}

void ds_ctable_del(ds_ctable_t *t, uint64_t key)
{
	ds_cshard_t *s = ds_ctable_shard(t, key);
	pthread_spin_lock(&s->lock);
	for (uint32_t i = slot_of(s, key); s->slots[i]; i = (i + 1) & s->mask) {
		if (s->slots[i]->key == key) {
			remove_at(s, i);
			atomic_fetch_sub_explicit(&t->entries, 1, memory_order_relaxed);
			break;
		}
	}
	pthread_spin_unlock(&s->lock);
}

ds_centry_t *ds_centry_new(const uint8_t *pkt, size_t len, uint64_t key, uint32_t ttl,
			   int64_t now_ns)
{
	if (len < DS_HDR_LEN || ds_rd16(pkt + 4) != 1)
		return NULL;
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return NULL;
	/* The question name must be written out flat (it is, in practice) so
	 * a hit can copy the client's spelling over it. */
	size_t pos = DS_HDR_LEN;
	while (pos < len && pkt[pos] && (pkt[pos] & 0xc0) == 0)
		pos += pkt[pos] + 1u;
	if (pos >= len || pkt[pos] != 0)
		return NULL;
	uint16_t qwlen = (uint16_t)(pos + 1 - DS_HDR_LEN);
	uint16_t offs[512];
	size_t n = 0, keep = len;
	ds_rr_t rr;
	int rc;
	while ((rc = ds_rr_next(&it, &rr)) == 1) {
		if (rr.type == DS_TYPE_OPT && rr.section == DS_SEC_ADDITIONAL) {
			if (rr.end != len)
				return NULL; /* OPT not last: cannot cut it out safely */
			keep = rr.owner_off;
			continue;
		}
		if (n == DS_ARRAY_SIZE(offs))
			return NULL;
		offs[n++] = rr.ttl_off;
	}
	if (rc < 0)
		return NULL;
	ds_centry_t *e = malloc(sizeof(*e) + keep + n * sizeof(uint16_t) + 1);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->stored_ns = now_ns;
	e->orig_ttl = ttl;
	e->qname_wlen = qwlen;
	e->qtype = ds_rd16(pkt + DS_HDR_LEN + qwlen);
	e->qclass = ds_rd16(pkt + DS_HDR_LEN + qwlen + 2);
	e->len = (uint16_t)keep;
	e->nttl = (uint16_t)n;
	memcpy(e->wire, pkt, keep);
	if (keep != len)
		ds_wr16(e->wire + 10, (uint16_t)(ds_rd16(e->wire + 10) - 1));
	/* The TTL offsets live after the wire bytes, 2-byte aligned. */
	uintptr_t o = (uintptr_t)(e->wire + keep);
	o = (o + 1) & ~(uintptr_t)1;
	e->ttl_offs = (uint16_t *)o;
	memcpy(e->ttl_offs, offs, n * sizeof(uint16_t));
	unsigned rcode = DS_RCODE(ds_rd16(pkt + 2));
	e->servfail = rcode == DS_RCODE_SERVFAIL || rcode == DS_RCODE_NOTIMP;
	return e;
}
