/* SPDX-License-Identifier: MIT */
/* Query filters and zone rewrites of `dnsurge replay` (rewrite.h). */
#include <stdlib.h>
#include <string.h>

#include "replay/rewrite.h"

#define MAX_RULES 256

struct zmap {
	uint8_t from[DS_NAME_MAX], to[DS_NAME_MAX];
	int from_labels;
	size_t from_len, to_len;
};

struct ds_rewrite {
	uint16_t qtypes[MAX_RULES];
	size_t nqtypes;
	uint8_t (*zones)[DS_NAME_MAX];
	size_t nzones;
	struct zmap *maps;
	size_t nmaps;
};

ds_rewrite_t *ds_rewrite_new(void)
{
	ds_rewrite_t *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return NULL;
	rw->zones = calloc(MAX_RULES, sizeof(*rw->zones));
	rw->maps = calloc(MAX_RULES, sizeof(*rw->maps));
	if (!rw->zones || !rw->maps) {
		ds_rewrite_free(rw);
		return NULL;
	}
	return rw;
}

void ds_rewrite_free(ds_rewrite_t *rw)
{
	if (!rw)
		return;
	free(rw->zones);
	free(rw->maps);
	free(rw);
}

/* Parse a presentation name; lower-cased since zones compare without case. */
static int parse_name(const char *s, size_t n, uint8_t *out)
{
	char buf[1024];
	if (n == 0 || n >= sizeof(buf))
		return DS_EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	int l = ds_name_from_str(buf, NULL, out);
	if (l < 0)
		return DS_EINVAL;
	ds_name_lower(out);
	return l;
}

int ds_rewrite_add_filter(ds_rewrite_t *rw, const char *spec, ds_err_t *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || !eq[1])
		return ds_errf(err, DS_EINVAL,
			       "--filter '%s': expected qtype=TYPE,... or zone=NAME,...", spec);
	size_t kl = (size_t)(eq - spec);
	bool qt = kl == 5 && !strncmp(spec, "qtype", 5);
	bool zn = kl == 4 && !strncmp(spec, "zone", 4);
	if (!qt && !zn)
		return ds_errf(err, DS_EINVAL, "--filter '%s': unknown kind (qtype or zone)", spec);
	for (const char *p = eq + 1; *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		char item[300];
		if (n == 0 || n >= sizeof(item))
			return ds_errf(err, DS_EINVAL, "--filter '%s': empty or overlong item", spec);
		memcpy(item, p, n);
		item[n] = 0;
		if (qt) {
			uint16_t t = ds_type_from_str(item);
			if (!t)
				return ds_errf(err, DS_EINVAL, "--filter '%s': unknown type '%s'", spec,
					       item);
			if (rw->nqtypes == MAX_RULES)
				return ds_errf(err, DS_EINVAL, "--filter: at most %d types", MAX_RULES);
			rw->qtypes[rw->nqtypes++] = t;
		} else {
			if (rw->nzones == MAX_RULES)
				return ds_errf(err, DS_EINVAL, "--filter: at most %d zones", MAX_RULES);
			if (parse_name(item, n, rw->zones[rw->nzones]) < 0)
				return ds_errf(err, DS_EINVAL, "--filter '%s': '%s' is not a name", spec,
					       item);
			rw->nzones++;
		}
		p = c ? c + 1 : p + n;
	}
	return DS_OK;
}

int ds_rewrite_add_zone(ds_rewrite_t *rw, const char *spec, ds_err_t *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return ds_errf(err, DS_EINVAL,
			       "--rewrite-zone '%s': expected FROM=TO (e.g. example.com=test.lab)",
			       spec);
	if (rw->nmaps == MAX_RULES)
		return ds_errf(err, DS_EINVAL, "--rewrite-zone: at most %d rules", MAX_RULES);
	struct zmap *m = &rw->maps[rw->nmaps];
	int fl = parse_name(spec, (size_t)(eq - spec), m->from);
	int tl = parse_name(eq + 1, strlen(eq + 1), m->to);
	if (fl < 0 || tl < 0)
		return ds_errf(err, DS_EINVAL, "--rewrite-zone '%s': not two names", spec);
	for (size_t i = 0; i < rw->nmaps; i++)
		if (ds_name_eq(rw->maps[i].from, m->from))
			return ds_errf(err, DS_EINVAL, "--rewrite-zone '%s': that zone is rewritten twice",
				       spec);
	m->from_len = (size_t)fl;
	m->to_len = (size_t)tl;
	m->from_labels = ds_name_labels(m->from);
	rw->nmaps++;
	return DS_OK;
}

bool ds_rewrite_renames(const ds_rewrite_t *rw)
{
	return rw && rw->nmaps > 0;
}

bool ds_rewrite_filters(const ds_rewrite_t *rw)
{
	return rw && (rw->nqtypes > 0 || rw->nzones > 0);
}

bool ds_rewrite_keep(const ds_rewrite_t *rw, const ds_msg_t *q)
{
	if (!rw)
		return true;
	if (rw->nqtypes) {
		size_t i = 0;
		while (i < rw->nqtypes && rw->qtypes[i] != q->qtype)
			i++;
		if (i == rw->nqtypes)
			return false;
	}
	if (rw->nzones) {
		if (!q->qname_len)
			return false;
		size_t i = 0;
		while (i < rw->nzones && !ds_name_in(q->qname, rw->zones[i]))
			i++;
		if (i == rw->nzones)
			return false;
	}
	return true;
}

int ds_rewrite_name(const ds_rewrite_t *rw, const uint8_t *name, uint8_t *out)
{
	if (!rw || !rw->nmaps)
		return 0;
	const struct zmap *best = NULL;
	for (size_t i = 0; i < rw->nmaps; i++) {
		const struct zmap *m = &rw->maps[i];
		if ((!best || m->from_labels > best->from_labels) && ds_name_in(name, m->from))
			best = m;
	}
	if (!best)
		return 0;
	/* The labels in front of FROM keep their bytes (and case). */
	size_t prefix = (size_t)(ds_name_suffix(name, best->from_labels) - name);
	if (prefix + best->to_len > DS_NAME_MAX)
		return DS_ERANGE;
	memmove(out, name, prefix);
	memcpy(out + prefix, best->to, best->to_len);
	return (int)(prefix + best->to_len);
}

int ds_rewrite_query(const ds_rewrite_t *rw, const uint8_t *pkt, size_t len, uint8_t *out,
		     size_t cap)
{
	if (!rw || !rw->nmaps)
		return 0;
	if (len < DS_HDR_LEN || ds_rd16(pkt + 4) != 1)
		return DS_EMALF;
	uint8_t name[DS_NAME_MAX], nn[DS_NAME_MAX];
	size_t pos = DS_HDR_LEN;
	int l = ds_name_unpack(pkt, len, &pos, name);
	if (l < 0 || pos + 4 > len)
		return DS_EMALF;
	int nl = ds_rewrite_name(rw, name, nn);
	if (nl <= 0)
		return nl;
	ds_wbuf_t wb;
	ds_wb_init(&wb, out, cap);
	ds_wb_bytes(&wb, pkt, DS_HDR_LEN);
	ds_wb_bytes(&wb, nn, (size_t)nl);
	ds_wb_bytes(&wb, pkt + pos, 4);
	pos += 4;
	unsigned nrr = (unsigned)ds_rd16(pkt + 6) + ds_rd16(pkt + 8) + ds_rd16(pkt + 10);
	for (unsigned i = 0; i < nrr; i++) {
		uint8_t owner[DS_NAME_MAX];
		if (ds_name_unpack(pkt, len, &pos, owner) < 0 || pos + 10 > len)
			return DS_EMALF;
		size_t rdl = ds_rd16(pkt + pos + 8);
		if (pos + 10 + rdl > len)
			return DS_EMALF;
		ds_wb_name(&wb, owner, false);
		ds_wb_bytes(&wb, pkt + pos, 10 + rdl);
		pos += 10 + rdl;
	}
	if (wb.overflow)
		return DS_ESPACE;
	/* The counts of the header copied above stay right: every record
	 * was copied. */
	return (int)wb.len;
}
