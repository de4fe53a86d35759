/* SPDX-License-Identifier: MIT */
/* Answer diffs on respdiff's criteria (diff.h). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"
#include "replay/diff.h"

#define FLAG_MASK                                                                             \
	(DS_FLAG_QR | DS_FLAG_AA | DS_FLAG_TC | DS_FLAG_RD | DS_FLAG_RA | DS_FLAG_AD | DS_FLAG_CD)
#define TYPE_TSIG 250
#define TEXT_MAX 240

/* One record in canonical form in the scratch buffer. */
struct crr {
	uint32_t off, len;
	uint8_t section;
};

/* A message reduced to what is compared. */
struct canon {
	unsigned rcode;
	uint16_t flags;
	size_t first, n; /* its records: entries [first, first + n) of the scratch */
	size_t nsec[3];
};

static const char *class_names[DS_DIFF_NCLASS] = {"rcode",     "flags",      "answer",
						  "authority", "additional", "no_answer"};

const char *ds_diff_class_name(int c)
{
	return c >= 0 && c < DS_DIFF_NCLASS ? class_names[c] : "?";
}

void ds_diff_scratch_free(ds_diff_scratch_t *s)
{
	free(s->buf);
	free(s->off);
	memset(s, 0, sizeof(*s));
}

/* Entries live in s->off reinterpreted as struct crr (sized in crr units). */
static struct crr *entries(ds_diff_scratch_t *s)
{
	return (struct crr *)(void *)s->off;
}

static int reserve(ds_diff_scratch_t *s, size_t used, size_t more)
{
	if (used + more <= s->cap)
		return DS_OK;
	size_t nc = s->cap ? s->cap : 4096;
	while (nc < used + more)
		nc *= 2;
	uint8_t *nb = realloc(s->buf, nc);
	if (!nb)
		return DS_ENOMEM;
	s->buf = nb;
	s->cap = nc;
	return DS_OK;
}

static int add_entry(ds_diff_scratch_t *s, size_t n, struct crr e)
{
	size_t need = (n + 1) * sizeof(struct crr);
	if (need > s->offcap * sizeof(size_t)) {
		size_t nc = s->offcap ? s->offcap * 2 : 256;
		while (nc * sizeof(size_t) < need)
			nc *= 2;
		size_t *no = realloc(s->off, nc * sizeof(size_t));
		if (!no)
			return DS_ENOMEM;
		s->off = no;
		s->offcap = nc;
	}
	entries(s)[n] = e;
	return DS_OK;
}

/* Append a name read at *pos (bounded by end) expanded, lower-cased, rewritten. */
static int put_name(ds_diff_scratch_t *s, size_t *used, const uint8_t *pkt, size_t len,
		    size_t *pos, size_t end, const ds_rewrite_t *rw)
{
	uint8_t n[DS_NAME_MAX], r[DS_NAME_MAX];
	if (*pos >= end)
		return DS_EMALF;
	int l = ds_name_unpack(pkt, len, pos, n);
	if (l < 0 || *pos > end)
		return DS_EMALF;
	const uint8_t *src = n;
	int rl = rw ? ds_rewrite_name(rw, n, r) : 0;
	if (rl > 0) {
		src = r;
		l = rl;
	}
	if (reserve(s, *used, (size_t)l) < 0)
		return DS_ENOMEM;
	memcpy(s->buf + *used, src, (size_t)l);
	ds_name_lower(s->buf + *used);
	*used += (size_t)l;
	return DS_OK;
}

static int put_bytes(ds_diff_scratch_t *s, size_t *used, const uint8_t *p, size_t n)
{
	if (reserve(s, *used, n) < 0)
		return DS_ENOMEM;
	memcpy(s->buf + *used, p, n);
	*used += n;
	return DS_OK;
}

/*
 * Layout of rdata with names: fixed bytes before the names, names, and
 * whether the rest is copied. Types not listed are compared as bytes.
 */
static int rdata_shape(uint16_t type, size_t *lead, int *names)
{
	switch (type) {
	case DS_TYPE_NS:
	case DS_TYPE_CNAME:
	case DS_TYPE_PTR:
	case DS_TYPE_DNAME:
	case 3: /* MD */
	case 4: /* MF */
	case 7: /* MB */
	case 8: /* MG */
	case 9: /* MR */
		*lead = 0;
		*names = 1;
		return 1;
	case DS_TYPE_MX:
	case 18: /* AFSDB */
	case 21: /* RT */
	case 36: /* KX */
		*lead = 2;
		*names = 1;
		return 1;
	case DS_TYPE_SOA:
	case 14: /* MINFO */
	case 17: /* RP */
		*lead = 0;
		*names = 2;
		return 1;
	case 26: /* PX */
		*lead = 2;
		*names = 2;
		return 1;
	case DS_TYPE_SRV:
		*lead = 6;
		*names = 1;
		return 1;
	default:
		return 0;
	}
}

/* Canonical rdata of rr into the scratch. */
static int put_rdata(ds_diff_scratch_t *s, size_t *used, const uint8_t *pkt, size_t len,
		     const ds_rr_t *rr, const ds_rewrite_t *rw)
{
	size_t pos = rr->rdata_off, end = (size_t)rr->rdata_off + rr->rdlen;
	size_t lead;
	int names;
	if (rr->type == DS_TYPE_NAPTR) {
		/* order, preference, then flags, services, regexp strings, then a name */
		size_t p = pos + 4;
		for (int i = 0; i < 3; i++) {
			if (p >= end)
				return DS_EMALF;
			p += 1u + pkt[p];
		}
		if (p > end || put_bytes(s, used, pkt + pos, p - pos) < 0)
			return DS_EMALF;
		pos = p;
		return put_name(s, used, pkt, len, &pos, end, rw) < 0 || pos != end ? DS_EMALF
										      : DS_OK;
	}
	if (!rdata_shape(rr->type, &lead, &names))
		return put_bytes(s, used, pkt + pos, rr->rdlen);
	if (lead > rr->rdlen || put_bytes(s, used, pkt + pos, lead) < 0)
		return DS_EMALF;
	pos += lead;
	for (int i = 0; i < names; i++)
		if (put_name(s, used, pkt, len, &pos, end, rw) < 0)
			return DS_EMALF;
	/* SOA's counters and anything else after the names */
	return put_bytes(s, used, pkt + pos, end - pos);
}

static int cmp_crr(const void *a, const void *b, void *arg)
{
	const struct crr *x = a, *y = b;
	const uint8_t *base = arg;
	if (x->section != y->section)
		return x->section < y->section ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(base + x->off, base + y->off, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/*
 * Reduce pkt to struct canon: records appended to the scratch from entry
 * *nent on (sorted by section, then bytes). *used is the scratch buffer
 * fill level.
 */
static int canonize(const uint8_t *pkt, size_t len, const ds_diff_opts_t *o, const ds_rewrite_t *rw,
		    ds_diff_scratch_t *s, size_t *used, size_t *nent, struct canon *c)
{
	memset(c, 0, sizeof(*c));
	if (len < DS_HDR_LEN)
		return DS_EMALF;
	uint16_t fl = ds_rd16(pkt + 2);
	c->flags = fl & FLAG_MASK;
	c->rcode = DS_RCODE(fl);
	c->first = *nent;
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return DS_EMALF;
	ds_rr_t rr;
	int r;
	while ((r = ds_rr_next(&it, &rr)) > 0) {
		if (rr.type == DS_TYPE_OPT) {
			c->rcode |= (unsigned)(rr.ttl >> 24) << 4;
			continue;
		}
		if (rr.type == TYPE_TSIG && rr.section == DS_SEC_ADDITIONAL)
			continue;
		size_t start = *used;
		size_t pos = rr.owner_off;
		if (put_name(s, used, pkt, len, &pos, len, rw) < 0)
			return DS_EMALF;
		uint8_t fixed[8];
		ds_wr16(fixed, rr.type);
		ds_wr16(fixed + 2, rr.rclass);
		ds_wr32(fixed + 4, o && o->ttl ? rr.ttl : 0);
		if (put_bytes(s, used, fixed, 8) < 0)
			return DS_ENOMEM;
		int e = put_rdata(s, used, pkt, len, &rr, rw);
		if (e < 0)
			return e;
		int ae = add_entry(s, *nent, (struct crr){.off = (uint32_t)start,
							   .len = (uint32_t)(*used - start),
							   .section = rr.section});
		if (ae < 0)
			return ae;
		(*nent)++;
		c->nsec[rr.section]++;
	}
	if (r < 0)
		return DS_EMALF;
	c->n = *nent - c->first;
	if (c->n > 1)
		qsort_r(entries(s) + c->first, c->n, sizeof(struct crr), cmp_crr, s->buf);
	return DS_OK;
}

/* Records of one section of c: index of the first and the count. */
static size_t sec_first(const struct canon *c, int sec)
{
	size_t f = c->first;
	for (int i = 0; i < sec; i++)
		f += c->nsec[i];
	return f;
}

static bool sec_equal(const ds_diff_scratch_t *s, const struct canon *a, const struct canon *b,
		      int sec)
{
	if (a->nsec[sec] != b->nsec[sec])
		return false;
	const struct crr *e = (const struct crr *)(const void *)s->off;
	size_t fa = sec_first(a, sec), fb = sec_first(b, sec);
	for (size_t i = 0; i < a->nsec[sec]; i++) {
		const struct crr *x = &e[fa + i], *y = &e[fb + i];
		if (x->len != y->len || memcmp(s->buf + x->off, s->buf + y->off, x->len))
			return false;
	}
	return true;
}

/* Compare two canonical forms already in s. */
static int compare_canon(const ds_diff_scratch_t *s, const struct canon *e, const struct canon *g)
{
	int m = 0;
	if (e->rcode != g->rcode)
		m |= 1 << DS_DIFF_RCODE;
	if (e->flags != g->flags)
		m |= 1 << DS_DIFF_FLAGS;
	if (!sec_equal(s, e, g, DS_SEC_ANSWER))
		m |= 1 << DS_DIFF_ANSWER;
	if (!sec_equal(s, e, g, DS_SEC_AUTHORITY))
		m |= 1 << DS_DIFF_AUTHORITY;
	if (!sec_equal(s, e, g, DS_SEC_ADDITIONAL))
		m |= 1 << DS_DIFF_ADDITIONAL;
	return m;
}

int ds_diff_compare(const uint8_t *exp, size_t elen, const uint8_t *got, size_t glen,
		    const ds_diff_opts_t *o, ds_diff_scratch_t *s)
{
	size_t used = 0, nent = 0;
	struct canon e, g;
	int r = canonize(exp, elen, o, o ? o->expected_rw : NULL, s, &used, &nent, &e);
	if (r == DS_OK)
		r = canonize(got, glen, o, NULL, s, &used, &nent, &g);
	if (r < 0)
		return r;
	return compare_canon(s, &e, &g);
}

/* ------------------------------------------------------------ text */

struct tbuf {
	char s[TEXT_MAX + 8];
	size_t n;
	bool full;
};

static void tput(struct tbuf *t, const char *fmt, ...) DS_PRINTF(2, 3);

static void tput(struct tbuf *t, const char *fmt, ...)
{
	if (t->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(t->s + t->n, TEXT_MAX + 1 - t->n, fmt, ap);
	va_end(ap);
	if (w < 0 || t->n + (size_t)w > TEXT_MAX) {
		/* Examples are for a quick look: cut long ones visibly. */
		t->n = TEXT_MAX;
		memcpy(t->s + TEXT_MAX - 3, "...", 4);
		t->full = true;
		return;
	}
	t->n += (size_t)w;
}

/* Read a flat name at *p (within [.., end)) as text. */
static bool flat_name(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	const uint8_t *q = *p;
	while (q < end && *q)
		q += 1u + *q;
	if (q >= end)
		return false;
	if (ds_name_to_str(*p, out, cap) < 0)
		snprintf(out, cap, "?");
	*p = q + 1;
	return true;
}

/* One canonical record as "name TTL TYPE rdata". */
static void render_rr(struct tbuf *t, const uint8_t *r, size_t len, bool ttl)
{
	const uint8_t *end = r + len, *p = r;
	char name[1024], tb[16];
	if (!flat_name(&p, end, name, sizeof(name)) || p + 8 > end) {
		tput(t, "?");
		return;
	}
	uint16_t type = ds_rd16(p);
	uint32_t tt = ds_rd32(p + 4);
	p += 8;
	tput(t, "%s ", name);
	if (ttl)
		tput(t, "%u ", tt);
	tput(t, "%s", ds_type_str(type, tb));
	size_t rl = (size_t)(end - p);
	char a[64];
	size_t lead;
	int names;
	if (type == DS_TYPE_A && rl == 4) {
		tput(t, " %s", inet_ntop(AF_INET, p, a, sizeof(a)));
	} else if (type == DS_TYPE_AAAA && rl == 16) {
		tput(t, " %s", inet_ntop(AF_INET6, p, a, sizeof(a)));
	} else if (type != DS_TYPE_NAPTR && rdata_shape(type, &lead, &names) && lead <= rl) {
		for (size_t i = 0; i + 2 <= lead; i += 2)
			tput(t, " %u", ds_rd16(p + i));
		p += lead;
		for (int i = 0; i < names; i++) {
			if (!flat_name(&p, end, name, sizeof(name)))
				return;
			tput(t, " %s", name);
		}
		if (type == DS_TYPE_SOA && end - p >= 4)
			tput(t, " %u", ds_rd32(p));
	} else if (type == DS_TYPE_TXT && rl > 0) {
		size_t l = p[0] < rl - 1 ? p[0] : rl - 1;
		tput(t, " \"%.*s\"%s", (int)DS_MIN(l, 60), (const char *)p + 1,
		     l > 60 || 1 + l < rl ? "..." : "");
	} else {
		tput(t, " \\# %zu ", rl);
		for (size_t i = 0; i < rl && i < 16; i++)
			tput(t, "%02x", p[i]);
		if (rl > 16)
			tput(t, "...");
	}
}

static void render_section(struct tbuf *t, const ds_diff_scratch_t *s, const struct canon *c,
			   int sec, bool ttl)
{
	if (!c->nsec[sec]) {
		tput(t, "(empty)");
		return;
	}
	const struct crr *e = (const struct crr *)(const void *)s->off;
	size_t f = sec_first(c, sec);
	for (size_t i = 0; i < c->nsec[sec] && !t->full; i++) {
		if (i)
			tput(t, "; ");
		render_rr(t, s->buf + e[f + i].off, e[f + i].len, ttl);
	}
}

static void render_flags(struct tbuf *t, uint16_t f)
{
	static const struct {
		uint16_t bit;
		const char *name;
	} fl[] = {{DS_FLAG_QR, "qr"}, {DS_FLAG_AA, "aa"}, {DS_FLAG_TC, "tc"}, {DS_FLAG_RD, "rd"},
		  {DS_FLAG_RA, "ra"}, {DS_FLAG_AD, "ad"}, {DS_FLAG_CD, "cd"}};
	bool any = false;
	for (size_t i = 0; i < DS_ARRAY_SIZE(fl); i++)
		if (f & fl[i].bit) {
			tput(t, "%s%s", any ? " " : "", fl[i].name);
			any = true;
		}
	if (!any)
		tput(t, "(none)");
}

static void render_summary(struct tbuf *t, const struct canon *c)
{
	char b[16];
	tput(t, "%s, %zu answer%s", ds_rcode_str(c->rcode, b), c->nsec[0],
	     c->nsec[0] == 1 ? "" : "s");
}

static void render_side(struct tbuf *t, const ds_diff_scratch_t *s, const struct canon *c,
			int cls, bool ttl)
{
	char b[16];
	if (!c) {
		tput(t, "no answer");
		return;
	}
	switch (cls) {
	case DS_DIFF_RCODE:
		tput(t, "%s", ds_rcode_str(c->rcode, b));
		break;
	case DS_DIFF_FLAGS:
		render_flags(t, c->flags);
		break;
	case DS_DIFF_ANSWER:
	case DS_DIFF_AUTHORITY:
	case DS_DIFF_ADDITIONAL:
		render_section(t, s, c, cls - DS_DIFF_ANSWER, ttl);
		break;
	default:
		render_summary(t, c);
	}
}

static void question_text(struct tbuf *t, const uint8_t *pkt, size_t len, const ds_rewrite_t *rw)
{
	ds_msg_t m;
	char name[1024], b[16];
	if (!pkt || ds_msg_parse(&m, pkt, len, true) < 0 || !m.qdcount) {
		tput(t, "(no question)");
		return;
	}
	uint8_t flat[DS_NAME_MAX], r[DS_NAME_MAX];
	size_t pos = m.qname_off;
	/* The name as sent (case kept), not the lower-cased copy. */
	if (ds_name_unpack(pkt, len, &pos, flat) < 0)
		memcpy(flat, m.qname, m.qname_len);
	const uint8_t *n = flat;
	if (rw && ds_rewrite_name(rw, flat, r) > 0)
		n = r;
	if (ds_name_to_str(n, name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "?");
	tput(t, "%s %s", name, ds_type_str(m.qtype, b));
}

/* ----------------------------------------------------------- summary */

void ds_diff_sum_init(ds_diff_sum_t *s, unsigned max_examples)
{
	memset(s, 0, sizeof(*s));
	s->max_examples = max_examples;
}

static void ex_free(ds_diff_example_t *e)
{
	free(e->question);
	free(e->expected);
	free(e->got);
}

void ds_diff_sum_free(ds_diff_sum_t *s)
{
	for (int c = 0; c < DS_DIFF_NCLASS; c++) {
		for (unsigned i = 0; i < s->nex[c]; i++)
			ex_free(&s->ex[c][i]);
		free(s->ex[c]);
		s->ex[c] = NULL;
		s->nex[c] = 0;
	}
	ds_diff_scratch_free(&s->scratch);
}

static int ex_add(ds_diff_sum_t *s, int c, const char *q, const char *e, const char *g)
{
	if (s->nex[c] >= s->max_examples)
		return DS_OK;
	if (!s->ex[c]) {
		s->ex[c] = calloc(s->max_examples, sizeof(ds_diff_example_t));
		if (!s->ex[c])
			return DS_ENOMEM;
	}
	ds_diff_example_t *x = &s->ex[c][s->nex[c]];
	x->question = strdup(q);
	x->expected = strdup(e);
	x->got = strdup(g);
	if (!x->question || !x->expected || !x->got) {
		ex_free(x);
		memset(x, 0, sizeof(*x));
		return DS_ENOMEM;
	}
	s->nex[c]++;
	return DS_OK;
}

int ds_diff_add(ds_diff_sum_t *s, const uint8_t *exp, size_t elen, const uint8_t *got,
		size_t glen, const ds_diff_opts_t *o)
{
	if (!exp && !got) {
		s->both_silent++;
		return 0;
	}
	s->compared++;
	size_t used = 0, nent = 0;
	struct canon e, g;
	const ds_rewrite_t *rw = o ? o->expected_rw : NULL;
	int r = DS_OK;
	if (exp)
		r = canonize(exp, elen, o, rw, &s->scratch, &used, &nent, &e);
	if (r == DS_OK && got)
		r = canonize(got, glen, o, NULL, &s->scratch, &used, &nent, &g);
	if (r == DS_EMALF) {
		s->malformed++;
		return r;
	}
	if (r < 0)
		return r;
	int mask;
	if (!exp || !got) {
		mask = 1 << DS_DIFF_NO_ANSWER;
		if (!got)
			s->no_answer_got++;
		else
			s->no_answer_expected++;
	} else {
		mask = compare_canon(&s->scratch, &e, &g);
	}
	if (!mask) {
		s->equal++;
		return 0;
	}
	s->different++;
	bool ttl = o && o->ttl;
	for (int c = 0; c < DS_DIFF_NCLASS; c++) {
		if (!(mask & (1 << c)))
			continue;
		s->count[c]++;
		if (s->nex[c] >= s->max_examples)
			continue;
		struct tbuf q = {0}, te = {0}, tg = {0};
		if (got)
			question_text(&q, got, glen, NULL);
		else
			question_text(&q, exp, elen, rw);
		render_side(&te, &s->scratch, exp ? &e : NULL, c, ttl);
		render_side(&tg, &s->scratch, got ? &g : NULL, c, ttl);
		if (ex_add(s, c, q.s, te.s, tg.s) < 0)
			return DS_ENOMEM;
	}
	return mask;
}

int ds_diff_merge(ds_diff_sum_t *d, const ds_diff_sum_t *s)
{
	d->compared += s->compared;
	d->equal += s->equal;
	d->different += s->different;
	d->malformed += s->malformed;
	d->no_answer_got += s->no_answer_got;
	d->no_answer_expected += s->no_answer_expected;
	d->both_silent += s->both_silent;
	for (int c = 0; c < DS_DIFF_NCLASS; c++) {
		d->count[c] += s->count[c];
		for (unsigned i = 0; i < s->nex[c]; i++) {
			const ds_diff_example_t *x = &s->ex[c][i];
			if (ex_add(d, c, x->question, x->expected, x->got) < 0)
				return DS_ENOMEM;
		}
	}
	return DS_OK;
}

cJSON *ds_diff_json(const ds_diff_sum_t *s, const char *mode)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", mode);
	cJSON_AddNumberToObject(o, "compared", (double)s->compared);
	cJSON_AddNumberToObject(o, "equal", (double)s->equal);
	cJSON_AddNumberToObject(o, "different", (double)s->different);
	cJSON_AddNumberToObject(o, "malformed", (double)s->malformed);
	cJSON_AddNumberToObject(o, "no_answer_target", (double)s->no_answer_got);
	cJSON_AddNumberToObject(o, "no_answer_expected", (double)s->no_answer_expected);
	cJSON_AddNumberToObject(o, "both_silent", (double)s->both_silent);
	cJSON *cl = cJSON_AddObjectToObject(o, "classes");
	for (int c = 0; cl && c < DS_DIFF_NCLASS; c++) {
		cJSON *x = cJSON_AddObjectToObject(cl, class_names[c]);
		if (!x)
			break;
		cJSON_AddNumberToObject(x, "count", (double)s->count[c]);
		cJSON *a = cJSON_AddArrayToObject(x, "examples");
		for (unsigned i = 0; a && i < s->nex[c]; i++) {
			cJSON *e = cJSON_CreateObject();
			if (!e)
				break;
			cJSON_AddStringToObject(e, "question", s->ex[c][i].question);
			cJSON_AddStringToObject(e, "expected", s->ex[c][i].expected);
			cJSON_AddStringToObject(e, "got", s->ex[c][i].got);
			cJSON_AddItemToArray(a, e);
		}
	}
	return o;
}

void ds_diff_print(FILE *f, const ds_diff_sum_t *s, const char *mode)
{
	fprintf(f, "Diff (expected: %s):\n\n",
		!strcmp(mode, "capture") ? "the capture's responses" : "the other server's answers");
	fprintf(f, "  Compared:              %llu (equal %llu, different %llu, malformed %llu)\n",
		(unsigned long long)s->compared, (unsigned long long)s->equal,
		(unsigned long long)s->different, (unsigned long long)s->malformed);
	if (s->both_silent)
		fprintf(f, "  Neither side answered: %llu (not compared)\n",
			(unsigned long long)s->both_silent);
	for (int c = 0; c < DS_DIFF_NCLASS; c++) {
		if (!s->count[c])
			continue;
		fprintf(f, "  %-22s %llu", class_names[c], (unsigned long long)s->count[c]);
		if (c == DS_DIFF_NO_ANSWER)
			fprintf(f, " (target silent %llu, expected side silent %llu)",
				(unsigned long long)s->no_answer_got,
				(unsigned long long)s->no_answer_expected);
		fputc('\n', f);
		for (unsigned i = 0; i < s->nex[c]; i++)
			fprintf(f, "      %s\n        expected: %s\n        got:      %s\n",
				s->ex[c][i].question, s->ex[c][i].expected, s->ex[c][i].got);
	}
	fputc('\n', f);
}
