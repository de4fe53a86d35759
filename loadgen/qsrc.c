/* SPDX-License-Identifier: MIT */
/*
 * Query sources. Draws come from a counter-based generator (a hash of the
 * seed and the draw number) instead of a sequential PRNG, so a stream can
 * start at any draw and the streams of threads and shards partition one
 * sequence without coordination.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "loadgen/qsrc.h"

/* Zipf tables above this would cost more memory than a test machine should spend. */
#define MAX_NAMES 20000000ULL

struct fentry {
	uint32_t off;
	uint8_t len;
	uint16_t qtype;
};

struct ds_qsrc {
	ds_qsrc_kind_t kind;
	uint64_t seed;
	double nx;
	uint8_t zone[DS_NAME_MAX];
	size_t zone_len;
	char zone_str[DS_QSRC_STR_MAX];
	/* qtype mix */
	uint16_t qt[DS_QSRC_MAX_TYPES];
	double qcum[DS_QSRC_MAX_TYPES];
	int nqt;
	/* NAMES, K8S services: Zipf CDF (cumulative, last = 1) */
	uint64_t n;
	double zipf;
	double *cdf;
	/* FILE */
	char *path;
	uint8_t *names;
	struct fentry *ent;
	size_t nent;
	/* K8S */
	unsigned nns;
	char domain[DS_QSRC_STR_MAX];
	int ndots;
};

/* splitmix64's finalizer: a bijection of 64-bit values. */
static inline uint64_t fmix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

uint64_t ds_qsrc_draw(uint64_t seed, uint64_t g, unsigned salt)
{
	return fmix(fmix(g * 8 + salt + 0x9E3779B97F4A7C15ULL) ^ seed);
}

static inline double unit(uint64_t x)
{
	return (double)(x >> 11) * 0x1.0p-53;
}

/* Unique 64-bit value per draw: a bijection of g (for a fixed seed). */
static inline uint64_t uniq(uint64_t seed, uint64_t g)
{
	return fmix(g + fmix(seed) * 2 + 1);
}

static uint16_t pick_type(const ds_qsrc_t *s, uint64_t r)
{
	double u = unit(r);
	for (int i = 0; i < s->nqt - 1; i++)
		if (u < s->qcum[i])
			return s->qt[i];
	return s->qt[s->nqt - 1];
}

static uint64_t pick_zipf(const ds_qsrc_t *s, uint64_t r)
{
	double u = unit(r);
	if (!s->cdf)
		return (uint64_t)(u * (double)s->n) % s->n;
	uint64_t lo = 0, hi = s->n - 1;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (s->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Flat name: one label (prefix + number or hex), then zone. Hand-made
 * digits: this runs for every query and printf costs more than the rest. */
static uint8_t put_label(uint8_t *out, const char *prefix, uint64_t v, bool hex, const uint8_t *zone,
			 size_t zlen)
{
	static const char xd[] = "0123456789abcdef";
	uint8_t *p = out + 1;
	while (*prefix)
		*p++ = (uint8_t)*prefix++;
	if (hex) {
		for (int sh = 60; sh >= 0; sh -= 4)
			*p++ = (uint8_t)xd[(v >> sh) & 15];
	} else {
		char d[20];
		int n = 0;
		do {
			d[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (n)
			*p++ = (uint8_t)d[--n];
	}
	out[0] = (uint8_t)(p - out - 1);
	memcpy(p, zone, zlen);
	return (uint8_t)(p - out + zlen);
}

int ds_qsrc_qtypes_parse(const char *s, uint16_t *types, double *cum, int max, ds_err_t *err)
{
	char buf[512];
	int n = 0;
	double total = 0;
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return ds_errf(err, DS_EINVAL, "qtypes: empty or too long");
	strcpy(buf, s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		double w = 1;
		if (colon) {
			*colon = 0;
			if (ds_parse_double(colon + 1, &w) < 0 || !isfinite(w) || w < 0)
				return ds_errf(err, DS_EINVAL, "qtypes: bad weight '%s' for %s",
					       colon + 1, tok);
		}
		uint16_t t = ds_type_from_str(tok);
		if (!t)
			return ds_errf(err, DS_EINVAL, "qtypes: unknown query type '%s'", tok);
		if (n == max)
			return ds_errf(err, DS_EINVAL, "qtypes: more than %d types", max);
		types[n] = t;
		total += w;
		cum[n++] = total;
	}
	if (n == 0 || total <= 0)
		return ds_errf(err, DS_EINVAL, "qtypes: weights add up to 0");
	for (int i = 0; i < n; i++)
		cum[i] /= total;
	return n;
}

int ds_qsrc_k8s_expand(const char *name, const char *client_ns, const char *domain, int ndots,
		       char (*out)[DS_QSRC_STR_MAX], int max)
{
	size_t nl = strlen(name);
	int n = 0;
	if (nl && name[nl - 1] == '.') {
		if (max < 1 || nl > DS_QSRC_STR_MAX - 1)
			return DS_EINVAL;
		memcpy(out[0], name, nl - 1);
		out[0][nl - 1] = 0;
		return 1;
	}
	int dots = 0;
	for (const char *p = name; *p; p++)
		dots += *p == '.';
	char search[3][DS_QSRC_STR_MAX];
	if ((size_t)snprintf(search[0], sizeof(search[0]), "%s.svc.%s", client_ns, domain) >=
		    sizeof(search[0]) ||
	    (size_t)snprintf(search[1], sizeof(search[1]), "svc.%s", domain) >= sizeof(search[1]))
		return DS_EINVAL;
	snprintf(search[2], sizeof(search[2]), "%s", domain);
	bool bare_first = dots >= ndots;
	if (nl > 253)
		return DS_EINVAL;
	if (bare_first && n < max)
		memcpy(out[n++], name, nl + 1);
	for (int i = 0; i < 3 && n < max; i++) {
		/* 253 characters is the longest name that fits 255 wire bytes. */
		size_t sl = strlen(search[i]);
		if (nl + 1 + sl > 253)
			return DS_EINVAL;
		memcpy(out[n], name, nl);
		out[n][nl] = '.';
		memcpy(out[n] + nl + 1, search[i], sl + 1);
		n++;
	}
	if (!bare_first && n < max)
		memcpy(out[n++], name, nl + 1);
	return n;
}

static int load_file(ds_qsrc_t *s, const char *path, ds_err_t *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, ncap = 0, ecap = 0, nbytes = 0;
	unsigned long lineno = 0;
	int rc = DS_OK;
	if (!f)
		return ds_errf(err, DS_ENOENT, "%s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t l = strlen(p);
		while (l && (p[l - 1] == '\n' || p[l - 1] == '\r' || p[l - 1] == ' ' ||
			     p[l - 1] == '\t'))
			p[--l] = 0;
		if (!*p || *p == ';' || *p == '#')
			continue;
		char *save = NULL;
		char *name = strtok_r(p, " \t", &save);
		char *type = strtok_r(NULL, " \t", &save);
		char *extra = strtok_r(NULL, " \t", &save);
		if (!type || extra) {
			rc = ds_errf(err, DS_EINVAL, "%s:%lu: expected 'NAME TYPE', got '%s%s%s%s'",
				     path, lineno, name, type ? " " : "", type ? type : "",
				     extra ? " ..." : "");
			goto fail;
		}
		uint16_t qt = ds_type_from_str(type);
		if (!qt) {
			rc = ds_errf(err, DS_EINVAL, "%s:%lu: unknown query type '%s'", path, lineno,
				     type);
			goto fail;
		}
		uint8_t flat[DS_NAME_MAX];
		int fl = ds_name_from_str(name, NULL, flat);
		if (fl < 0) {
			rc = ds_errf(err, DS_EINVAL, "%s:%lu: bad name '%s'", path, lineno, name);
			goto fail;
		}
		ds_name_lower(flat);
		if (nbytes + (size_t)fl > ncap) {
			size_t nc = ncap ? ncap * 2 : 4096;
			uint8_t *nn = realloc(s->names, nc);
			if (!nn)
				goto nomem;
			s->names = nn;
			ncap = nc;
		}
		if (s->nent == ecap) {
			size_t nc = ecap ? ecap * 2 : 256;
			struct fentry *ne = realloc(s->ent, nc * sizeof(*ne));
			if (!ne)
				goto nomem;
			s->ent = ne;
			ecap = nc;
		}
		if (nbytes > UINT32_MAX - DS_NAME_MAX) {
			rc = ds_errf(err, DS_EINVAL, "%s:%lu: file too large", path, lineno);
			goto fail;
		}
		memcpy(s->names + nbytes, flat, (size_t)fl);
		s->ent[s->nent++] = (struct fentry){.off = (uint32_t)nbytes, .len = (uint8_t)fl,
						    .qtype = qt};
		nbytes += (size_t)fl;
	}
	if (ferror(f)) {
		rc = ds_errf(err, DS_EIO, "%s: read error: %s", path, strerror(errno));
		goto fail;
	}
	if (!s->nent)
		rc = ds_errf(err, DS_EINVAL, "%s: no queries in the file", path);
	goto fail;
nomem:
	rc = ds_errf(err, DS_ENOMEM, "%s: out of memory", path);
fail:
	free(line);
	fclose(f);
	return rc;
}

static int build_zipf(ds_qsrc_t *s, ds_err_t *err)
{
	if (s->zipf == 0)
		return DS_OK; /* uniform: no table */
	s->cdf = malloc(s->n * sizeof(double));
	if (!s->cdf)
		return ds_errf(err, DS_ENOMEM, "zipf table for %llu names: out of memory",
			       (unsigned long long)s->n);
	double acc = 0;
	for (uint64_t i = 0; i < s->n; i++) {
		acc += pow((double)(i + 1), -s->zipf);
		s->cdf[i] = acc;
	}
	for (uint64_t i = 0; i < s->n; i++)
		s->cdf[i] /= acc;
	s->cdf[s->n - 1] = 1.0;
	return DS_OK;
}

ds_qsrc_t *ds_qsrc_new(const ds_qsrc_cfg_t *cfg, ds_err_t *err)
{
	ds_qsrc_t *s = calloc(1, sizeof(*s));
	if (!s) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	s->kind = cfg->kind;
	s->seed = cfg->seed;
	s->nx = cfg->nxdomain;
	s->zipf = cfg->zipf;
	if (!(cfg->nxdomain >= 0 && cfg->nxdomain <= 1)) {
		ds_errf(err, DS_EINVAL, "nxdomain share must be between 0 and 100%%");
		goto fail;
	}
	if (!(cfg->zipf >= 0 && cfg->zipf <= 10)) {
		ds_errf(err, DS_EINVAL, "zipf exponent must be between 0 and 10");
		goto fail;
	}
	const char *zone = cfg->zone ? cfg->zone : "example.com";
	int zl = ds_name_from_str(zone, NULL, s->zone);
	/* Room for the longest label we put in front ("nx" + 16 hex). */
	if (zl < 0 || zl > DS_NAME_MAX - 20) {
		ds_errf(err, DS_EINVAL, "bad zone '%s'", zone);
		goto fail;
	}
	ds_name_lower(s->zone);
	s->zone_len = (size_t)zl;
	ds_name_to_str(s->zone, s->zone_str, sizeof(s->zone_str));
	int nq = ds_qsrc_qtypes_parse(cfg->qtypes ? cfg->qtypes : "A", s->qt, s->qcum,
				      DS_QSRC_MAX_TYPES, err);
	if (nq < 0)
		goto fail;
	s->nqt = nq;
	switch (cfg->kind) {
	case DS_QSRC_FILE:
		if (!cfg->file) {
			ds_errf(err, DS_EINVAL, "no query file");
			goto fail;
		}
		s->path = strdup(cfg->file);
		if (!s->path || load_file(s, cfg->file, err) < 0)
			goto fail;
		break;
	case DS_QSRC_NAMES:
	case DS_QSRC_K8S:
		s->n = cfg->names ? cfg->names : (cfg->kind == DS_QSRC_K8S ? 1000 : 10000);
		if (s->n > MAX_NAMES) {
			ds_errf(err, DS_EINVAL, "at most %llu names", MAX_NAMES);
			goto fail;
		}
		if (build_zipf(s, err) < 0)
			goto fail;
		if (cfg->kind == DS_QSRC_K8S) {
			s->nns = cfg->namespaces ? cfg->namespaces : 10;
			s->ndots = cfg->ndots ? cfg->ndots : 5;
			const char *dom = cfg->domain ? cfg->domain : "cluster.local";
			size_t dl = strlen(dom);
			while (dl && dom[dl - 1] == '.')
				dl--;
			if (dl == 0 || dl > 200 || s->ndots < 1 || s->ndots > 15) {
				ds_errf(err, DS_EINVAL, "bad cluster domain or ndots");
				goto fail;
			}
			memcpy(s->domain, dom, dl);
			s->domain[dl] = 0;
		}
		break;
	case DS_QSRC_RANDOM:
		break;
	default:
		ds_errf(err, DS_EINVAL, "unknown query source");
		goto fail;
	}
	return s;
fail:
	ds_qsrc_free(s);
	return NULL;
}

void ds_qsrc_free(ds_qsrc_t *s)
{
	if (!s)
		return;
	free(s->cdf);
	free(s->names);
	free(s->ent);
	free(s->path);
	free(s);
}

size_t ds_qsrc_file_count(const ds_qsrc_t *s)
{
	return s->kind == DS_QSRC_FILE ? s->nent : 0;
}

const char *ds_qsrc_describe(const ds_qsrc_t *s, char *buf, size_t len)
{
	char nx[48] = "";
	if (s->nx > 0)
		snprintf(nx, sizeof(nx), ", %.2f%% NXDOMAIN", s->nx * 100);
	switch (s->kind) {
	case DS_QSRC_FILE:
		snprintf(buf, len, "file %s (%zu queries)%s", s->path, s->nent, nx);
		break;
	case DS_QSRC_NAMES:
		snprintf(buf, len, "%s %llu names in %s%s",
			 s->zipf > 0 ? "zipf over" : "uniform over", (unsigned long long)s->n,
			 s->zone_str, nx);
		break;
	case DS_QSRC_RANDOM:
		snprintf(buf, len, "random subdomains of %s%s", s->zone_str, nx);
		break;
	case DS_QSRC_K8S:
		snprintf(buf, len, "kubernetes: %llu services in %u namespaces, %s, ndots:%d%s",
			 (unsigned long long)s->n, s->nns, s->domain, s->ndots, nx);
		break;
	}
	return buf;
}

void ds_qsrc_stream(ds_qstream_t *st, const ds_qsrc_t *src, uint64_t index, uint64_t count)
{
	memset(st, 0, sizeof(*st));
	st->src = src;
	st->g = index;
	st->stride = count ? count : 1;
}

static void str_to_flat(const char *s, uint8_t *out, uint8_t *len)
{
	int l = ds_name_from_str(s, NULL, out);
	/* Candidates were length-checked when expanded; keep a valid root otherwise. */
	if (l < 0) {
		out[0] = 0;
		l = 1;
	}
	*len = (uint8_t)l;
}

static void k8s_lookup(ds_qstream_t *st, uint64_t g)
{
	const ds_qsrc_t *s = st->src;
	char name[DS_QSRC_STR_MAX], cns[32], fqdn[DS_QSRC_STR_MAX];
	char cand[4][DS_QSRC_STR_MAX];
	unsigned client = (unsigned)(ds_qsrc_draw(s->seed, g, 2) % s->nns);
	bool miss = s->nx > 0 && unit(ds_qsrc_draw(s->seed, g, 3)) < s->nx;
	uint64_t svc = pick_zipf(s, ds_qsrc_draw(s->seed, g, 1));
	unsigned ns = (unsigned)(svc % s->nns);
	snprintf(cns, sizeof(cns), "ns-%u", client);
	if (miss)
		snprintf(name, sizeof(name), "nosvc-%016llx.ns-%u",
			 (unsigned long long)uniq(s->seed, g), ns);
	else if (ns == client)
		/* A pod names a service of its own namespace by its short name. */
		snprintf(name, sizeof(name), "svc-%llu", (unsigned long long)svc);
	else
		snprintf(name, sizeof(name), "svc-%llu.ns-%u", (unsigned long long)svc, ns);
	/* The domain is at most 200 characters (checked at build time). */
	snprintf(fqdn, sizeof(fqdn), "svc-%llu.ns-%u.svc.%.200s", (unsigned long long)svc, ns,
		 s->domain);
	int n = ds_qsrc_k8s_expand(name, cns, s->domain, s->ndots, cand, 4);
	if (n <= 0) {
		n = 1;
		memcpy(cand[0], fqdn, sizeof(fqdn));
	}
	st->npend = 0;
	for (int i = 0; i < n; i++) {
		str_to_flat(cand[i], st->pend[st->npend], &st->pend_len[st->npend]);
		st->npend++;
		/* A client stops at its first answer: the service's own name. */
		if (!miss && !strcmp(cand[i], fqdn))
			break;
	}
	st->ipend = 0;
	st->pend_type = pick_type(s, ds_qsrc_draw(s->seed, g, 4));
}

void ds_qsrc_next(ds_qstream_t *st, ds_qsrc_query_t *q)
{
	const ds_qsrc_t *s = st->src;
	if (s->kind == DS_QSRC_K8S) {
		if (st->ipend >= st->npend) {
			k8s_lookup(st, st->g);
			st->g += st->stride;
		}
		memcpy(q->name, st->pend[st->ipend], st->pend_len[st->ipend]);
		q->len = st->pend_len[st->ipend];
		q->qtype = st->pend_type;
		st->ipend++;
		return;
	}
	uint64_t g = st->g;
	st->g += st->stride;
	if (s->nx > 0 && unit(ds_qsrc_draw(s->seed, g, 3)) < s->nx) {
		q->len = put_label(q->name, "nx", uniq(s->seed, g), true, s->zone, s->zone_len);
		q->qtype = s->kind == DS_QSRC_FILE ? s->ent[g % s->nent].qtype
						   : pick_type(s, ds_qsrc_draw(s->seed, g, 4));
		return;
	}
	switch (s->kind) {
	case DS_QSRC_FILE: {
		const struct fentry *e = &s->ent[g % s->nent];
		memcpy(q->name, s->names + e->off, e->len);
		q->len = e->len;
		q->qtype = e->qtype;
		return;
	}
	case DS_QSRC_NAMES:
		q->len = put_label(q->name, "n", pick_zipf(s, ds_qsrc_draw(s->seed, g, 1)), false,
				   s->zone, s->zone_len);
		break;
	default: /* DS_QSRC_RANDOM */
		q->len = put_label(q->name, "r", uniq(s->seed, g), true, s->zone, s->zone_len);
		break;
	}
	q->qtype = pick_type(s, ds_qsrc_draw(s->seed, g, 4));
}
