/* SPDX-License-Identifier: MIT */
#include "lib/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest index any int64 value maps to (that of INT64_MAX). Bins past it
 * exist in the array only because DS_HIST_BINS is rounded up; a decoded
 * blob naming a bucket above this is corrupt. */
#define MAX_IDX ((uint32_t)(((63 - DS_HIST_S) << DS_HIST_S) + (2 * DS_HIST_SUB - 1)))

static const uint8_t dlh1_magic[4] = {'D', 'L', 'H', '1'};
#define DLH1_UNIT_NS 0

void ds_hist_init(ds_hist_t *h)
{
	memset(h->bins, 0, sizeof(h->bins));
	h->count = 0;
	h->min = INT64_MAX;
	h->max = 0;
	h->sum = 0;
}

void ds_hist_free(ds_hist_t *h)
{
	for (size_t b = 0; b < DS_HIST_BINS; b++)
		free(h->bins[b]);
	ds_hist_init(h);
}

void ds_hist_reset(ds_hist_t *h)
{
	for (size_t b = 0; b < DS_HIST_BINS; b++)
		if (h->bins[b])
			memset(h->bins[b], 0, DS_HIST_SUB * sizeof(uint64_t));
	h->count = 0;
	h->min = INT64_MAX;
	h->max = 0;
	h->sum = 0;
}

uint32_t ds_hist_index(int64_t v)
{
	if (v < (int64_t)DS_HIST_SUB)
		return v < 0 ? 0 : (uint32_t)v;
	uint32_t e = (uint32_t)(63 - __builtin_clzll((uint64_t)v)) - DS_HIST_S;
	uint32_t m = (uint32_t)((uint64_t)v >> e);
	return (e << DS_HIST_S) + m;
}

void ds_hist_bucket_bounds(uint32_t idx, int64_t *lo, int64_t *hi)
{
	if (idx < 2 * DS_HIST_SUB) {
		*lo = *hi = idx;
		return;
	}
	if (idx > MAX_IDX)
		idx = MAX_IDX;
	uint32_t e = (idx >> DS_HIST_S) - 1;
	uint64_t m = (idx & (DS_HIST_SUB - 1)) + DS_HIST_SUB;
	/* Unsigned arithmetic: the last bucket's upper bound is exactly
	 * INT64_MAX, and (m + 1) << e would overflow a signed type there. */
	*lo = (int64_t)(m << e);
	*hi = (int64_t)(((m + 1) << e) - 1);
}

static uint64_t *bin_get(ds_hist_t *h, uint32_t b)
{
	if (!h->bins[b])
		h->bins[b] = calloc(DS_HIST_SUB, sizeof(uint64_t));
	return h->bins[b];
}

int ds_hist_add(ds_hist_t *h, int64_t v, uint64_t n)
{
	if (v < 0)
		v = 0;
	if (n == 0)
		return DS_OK;
	uint32_t idx = ds_hist_index(v);
	uint64_t *bin = bin_get(h, idx >> DS_HIST_S);
	if (DS_UNLIKELY(!bin))
		return DS_ENOMEM;
	bin[idx & (DS_HIST_SUB - 1)] += n;
	h->count += n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum += (double)v * (double)n;
	return DS_OK;
}

int ds_hist_merge(ds_hist_t *dst, const ds_hist_t *src)
{
	if (src->count == 0)
		return DS_OK;
	/* Allocate every bin first so a failed allocation leaves dst as it
	 * was instead of half merged. */
	for (uint32_t b = 0; b < DS_HIST_BINS; b++)
		if (src->bins[b] && !bin_get(dst, b))
			return DS_ENOMEM;
	for (uint32_t b = 0; b < DS_HIST_BINS; b++) {
		const uint64_t *s = src->bins[b];
		if (!s)
			continue;
		uint64_t *d = dst->bins[b];
		for (uint32_t i = 0; i < DS_HIST_SUB; i++)
			d[i] += s[i];
	}
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	return DS_OK;
}

int64_t ds_hist_quantile(const ds_hist_t *h, double q)
{
	if (h->count == 0)
		return 0;
	if (!(q > 0)) /* also NaN */
		return h->min;
	if (q >= 1)
		return h->max;
	double r = ceil(q * (double)h->count);
	uint64_t rank = r < 1 ? 1 : (uint64_t)r;
	if (rank > h->count)
		rank = h->count;
	uint64_t cum = 0;
	for (uint32_t b = 0; b < DS_HIST_BINS; b++) {
		const uint64_t *bin = h->bins[b];
		if (!bin)
			continue;
		for (uint32_t i = 0; i < DS_HIST_SUB; i++) {
			cum += bin[i];
			if (cum >= rank) {
				int64_t lo, hi;
				ds_hist_bucket_bounds((b << DS_HIST_S) | i, &lo, &hi);
				return hi < h->max ? hi : h->max;
			}
		}
	}
	/* Unreachable while count equals the sum of the buckets. */
	return h->max;
}

double ds_hist_mean(const ds_hist_t *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}

bool ds_hist_next(const ds_hist_t *h, uint32_t *idx, uint64_t *count)
{
	uint32_t i = *idx;
	while (i <= MAX_IDX) {
		const uint64_t *bin = h->bins[i >> DS_HIST_S];
		if (!bin) {
			/* Skip a whole unallocated octave. */
			i = ((i >> DS_HIST_S) + 1) << DS_HIST_S;
			continue;
		}
		uint64_t c = bin[i & (DS_HIST_SUB - 1)];
		if (c) {
			*idx = i;
			*count = c;
			return true;
		}
		i++;
	}
	return false;
}

/* ---- DLH1 ---- */

/* Unsigned LEB128: at most 10 bytes for 64 bits. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return DS_EINVAL;
		uint8_t c = *(*p)++;
		/* The tenth byte may only carry the top bit of a 64-bit value;
		 * anything more is an overlong or corrupt encoding. */
		if (shift == 63 && c > 1)
			return DS_EINVAL;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return DS_OK;
		}
	}
	return DS_EINVAL;
}

uint8_t *ds_hist_encode(const ds_hist_t *h, size_t *len)
{
	/* Worst case: header plus two 10-byte varints per possible bucket. */
	size_t nb = 0;
	for (uint32_t b = 0; b < DS_HIST_BINS; b++)
		if (h->bins[b])
			nb += DS_HIST_SUB;
	size_t cap = 4 + 2 + 3 * 10 + 8 + nb * 20;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return NULL;
	uint8_t *p = buf;
	memcpy(p, dlh1_magic, 4);
	p += 4;
	*p++ = DS_HIST_S;
	*p++ = DLH1_UNIT_NS;
	p += put_varint(p, h->count);
	p += put_varint(p, (uint64_t)h->min);
	p += put_varint(p, (uint64_t)h->max);
	/* Sum as IEEE 754 binary64 little-endian, whatever the host order. */
	uint64_t bits;
	memcpy(&bits, &h->sum, 8);
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(bits >> (8 * i));
	uint32_t next = 0; /* previous non-empty idx + 1 */
	uint64_t c;
	for (uint32_t i = 0; ds_hist_next(h, &i, &c); i++) {
		p += put_varint(p, i - next);
		p += put_varint(p, c);
		next = i + 1;
	}
	*len = (size_t)(p - buf);
	return buf;
}

int ds_hist_decode(ds_hist_t *h, const uint8_t *buf, size_t len)
{
	ds_hist_t t;
	uint64_t count, min, max, bits, total = 0;
	uint32_t next = 0, first = 0, last = 0;
	double sum;
	int rc = DS_EINVAL;

	/* Decode into a scratch histogram so a corrupt blob leaves h as it
	 * was: callers merge many blobs and must not keep half of one. */
	ds_hist_init(&t);
	if (!buf || len < 6 + 3 + 8 || memcmp(buf, dlh1_magic, 4) != 0)
		goto fail;
	if (buf[4] != DS_HIST_S || buf[5] != DLH1_UNIT_NS)
		goto fail;
	const uint8_t *p = buf + 6, *end = buf + len;
	if (get_varint(&p, end, &count) || get_varint(&p, end, &min) ||
	    get_varint(&p, end, &max))
		goto fail;
	if (min > INT64_MAX || max > INT64_MAX || end - p < 8)
		goto fail;
	bits = 0;
	for (int i = 0; i < 8; i++)
		bits |= (uint64_t)p[i] << (8 * i);
	p += 8;
	memcpy(&sum, &bits, 8);
	if (!isfinite(sum) || sum < 0)
		goto fail;
	while (p < end) {
		uint64_t delta, c;
		if (next > MAX_IDX)
			goto fail;
		if (get_varint(&p, end, &delta) || get_varint(&p, end, &c))
			goto fail;
		if (c == 0 || delta > MAX_IDX - next || total + c < total)
			goto fail;
		uint32_t idx = next + (uint32_t)delta;
		uint64_t *bin = bin_get(&t, idx >> DS_HIST_S);
		if (!bin) {
			rc = DS_ENOMEM;
			goto fail;
		}
		bin[idx & (DS_HIST_SUB - 1)] = c;
		if (total == 0)
			first = idx;
		last = idx;
		total += c;
		next = idx + 1;
	}
	if (total != count)
		goto fail;
	if (count > 0) {
		/* The exact min and max must fall in the first and last buckets,
		 * or quantiles clamped to them would be wrong. */
		if (min > max || ds_hist_index((int64_t)min) != first ||
		    ds_hist_index((int64_t)max) != last)
			goto fail;
		t.count = count;
		t.min = (int64_t)min;
		t.max = (int64_t)max;
		t.sum = sum;
	}
	rc = ds_hist_merge(h, &t);
fail:
	ds_hist_free(&t);
	return rc;
}
