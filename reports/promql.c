/* SPDX-License-Identifier: MIT */
#include "reports/promql.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_PER_S 1000000000LL
#define LOOKBACK_NS (5 * 60 * NS_PER_S)
#define NAME_LABEL "__name__"

struct ds_promql {
	ds_pq_node_t *root;
};

/* ================================================================ labels */

typedef struct {
	const char *k, *v;
} lp_t;

/* A label set, sorted by name; __name__ sorts first ('_' < letters is not
 * true in ASCII, so it is kept by plain strcmp like every other name). */
typedef struct {
	lp_t *l;
	size_t n;
} ls_t;

static int lp_cmp(const void *a, const void *b)
{
	return strcmp(((const lp_t *)a)->k, ((const lp_t *)b)->k);
}

static const char *ls_get(const ls_t *ls, const char *k)
{
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->l[i].k, k))
			return ls->l[i].v;
	return "";
}

/* Prometheus' labels.Compare: pairwise by name then value; a prefix sorts first. */
static int ls_cmp(const ls_t *a, const ls_t *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int c = strcmp(a->l[i].k, b->l[i].k);
		if (c)
			return c;
		c = strcmp(a->l[i].v, b->l[i].v);
		if (c)
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

typedef struct {
	char *b;
	size_t len, cap;
	bool oom;
} sbuf_t;

static void sb_add(sbuf_t *s, const char *fmt, ...) DS_PRINTF(2, 3);
static void sb_add(sbuf_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || s->oom)
		return;
	if (s->len + (size_t)n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 128;
		while (nc < s->len + (size_t)n + 1)
			nc *= 2;
		char *nb = realloc(s->b, nc);
		if (!nb) {
			s->oom = true;
			return;
		}
		s->b = nb;
		s->cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(s->b + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

/* Append v escaped as the exposition format writes label values. */
static void sb_esc(sbuf_t *s, const char *v)
{
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			sb_add(s, "\\%c", *v);
		else if (*v == '\n')
			sb_add(s, "\\n");
		else
			sb_add(s, "%c", *v);
	}
}

/* name{k="v",...} with the labels sorted, as promtool prints series. */
static char *ls_text(const ls_t *ls)
{
	sbuf_t s = {0};
	bool first = true;
	sb_add(&s, "%s", ls_get(ls, NAME_LABEL));
	sb_add(&s, "{");
	for (size_t i = 0; i < ls->n; i++) {
		if (!strcmp(ls->l[i].k, NAME_LABEL))
			continue;
		sb_add(&s, "%s%s=\"", first ? "" : ",", ls->l[i].k);
		sb_esc(&s, ls->l[i].v);
		sb_add(&s, "\"");
		first = false;
	}
	sb_add(&s, "}");
	if (s.oom) {
		free(s.b);
		return NULL;
	}
	return s.b;
}

/*
 * Parse 'k="v",k2="v2"' (braces optional, spaces allowed) into malloc'd
 * names and unescaped values. Returns the count or -1 when malformed.
 */
static int parse_label_text(const char *s, char ***ks, char ***vs)
{
	size_t n = 0, cap = 0;
	char **k = NULL, **v = NULL;
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	bool brace = *p == '{';
	if (brace)
		p++;
	for (;;) {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (!*p || (brace && *p == '}'))
			break;
		const char *k0 = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p == k0)
			goto bad;
		size_t kl = (size_t)(p - k0);
		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != '=')
			goto bad;
		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != '"')
			goto bad;
		char *val = malloc(strlen(p) + 1);
		if (!val)
			goto bad;
		size_t vl = 0;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1]) {
				p++;
				val[vl++] = *p == 'n' ? '\n' : *p;
				p++;
			} else {
				val[vl++] = *p++;
			}
		}
		val[vl] = 0;
		if (*p++ != '"') {
			free(val);
			goto bad;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			char **nk = realloc(k, cap * sizeof(*nk));
			if (nk)
				k = nk;
			char **nv = nk ? realloc(v, cap * sizeof(*nv)) : NULL;
			if (!nk || !nv) {
				free(val);
				goto bad;
			}
			v = nv;
		}
		k[n] = strndup(k0, kl);
		v[n] = val;
		if (!k[n]) {
			free(val);
			goto bad;
		}
		n++;
	}
	*ks = k;
	*vs = v;
	return (int)n;
bad:
	for (size_t i = 0; i < n; i++)
		free(k[i]), free(v[i]);
	free(k);
	free(v);
	return -1;
}

/* ================================================================= data */

struct dser {
	ls_t ls; /* strings owned */
	char *text;
	size_t n, cap;
	int64_t *t;
	double *v;
};

struct ds_promql_data {
	struct dser *s;
	size_t n, cap;
	size_t last; /* series hit by the previous add: samples come in runs */
};

ds_promql_data_t *ds_promql_data_new(void)
{
	return calloc(1, sizeof(ds_promql_data_t));
}

void ds_promql_data_free(ds_promql_data_t *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		for (size_t k = 0; k < d->s[i].ls.n; k++) {
			free((char *)d->s[i].ls.l[k].k);
			free((char *)d->s[i].ls.l[k].v);
		}
		free(d->s[i].ls.l);
		free(d->s[i].text);
		free(d->s[i].t);
		free(d->s[i].v);
	}
	free(d->s);
	free(d);
}

size_t ds_promql_data_count(const ds_promql_data_t *d)
{
	return d->n;
}

void ds_promql_data_series(const ds_promql_data_t *d, size_t i, const char **text, size_t *n,
                           const int64_t **t_ns, const double **value)
{
	*text = d->s[i].text;
	*n = d->s[i].n;
	*t_ns = d->s[i].t;
	*value = d->s[i].v;
}

/* Find or create the series with these (owned) labels; takes ownership. */
static struct dser *series_for(ds_promql_data_t *d, lp_t *l, size_t n)
{
	ls_t ls = {l, n};
	qsort(l, n, sizeof(*l), lp_cmp);
	if (d->last < d->n && !ls_cmp(&d->s[d->last].ls, &ls))
		goto found;
	/* Kept sorted in Prometheus' order: aggregations then add in the order
	 * Prometheus would, and binary search finds series. */
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = ls_cmp(&d->s[mid].ls, &ls);
		if (!c) {
			d->last = mid;
			goto found;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 16;
		struct dser *ns = realloc(d->s, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		d->s = ns;
		d->cap = nc;
	}
	char *text = ls_text(&ls);
	if (!text)
		return NULL;
	memmove(&d->s[lo + 1], &d->s[lo], (d->n - lo) * sizeof(*d->s));
	memset(&d->s[lo], 0, sizeof(*d->s));
	d->s[lo].ls = ls;
	d->s[lo].text = text;
	d->n++;
	d->last = lo;
	return &d->s[lo];
found:
	for (size_t i = 0; i < n; i++) {
		free((char *)l[i].k);
		free((char *)l[i].v);
	}
	free(l);
	return &d->s[d->last];
}

static int sample_add(struct dser *s, int64_t t, double v)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		int64_t *nt = realloc(s->t, nc * sizeof(*nt));
		if (!nt)
			return DS_ENOMEM;
		s->t = nt;
		double *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return DS_ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	size_t i = s->n;
	while (i > 0 && s->t[i - 1] > t)
		i--;
	if (i > 0 && s->t[i - 1] == t) {
		s->v[i - 1] = v; /* one value per time, the later one wins */
		return DS_OK;
	}
	memmove(&s->t[i + 1], &s->t[i], (s->n - i) * sizeof(*s->t));
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->t[i] = t;
	s->v[i] = v;
	s->n++;
	return DS_OK;
}

/* Labels of a new series: name, the parsed pairs, and an extra pair if absent. */
static struct dser *make_series(ds_promql_data_t *d, const char *name, const char *labels,
                                const char *xk, const char *xv, int *rc)
{
	char **k = NULL, **v = NULL;
	int n = parse_label_text(labels ? labels : "", &k, &v);
	*rc = DS_EINVAL;
	if (n < 0)
		return NULL;
	*rc = DS_ENOMEM;
	lp_t *l = calloc((size_t)n + 2, sizeof(*l));
	size_t m = 0;
	bool have_x = false;
	if (!l)
		goto fail;
	for (int i = 0; i < n; i++) {
		if (xk && !strcmp(k[i], xk))
			have_x = true;
		if (!v[i][0]) {
			/* An empty value is the same as no label, in Prometheus too. */
			free(k[i]);
			free(v[i]);
			k[i] = v[i] = NULL;
			continue;
		}
		l[m].k = k[i];
		l[m++].v = v[i];
		k[i] = v[i] = NULL;
	}
	if (name && name[0]) {
		l[m].k = strdup(NAME_LABEL);
		l[m].v = strdup(name);
		m++;
		if (!l[m - 1].k || !l[m - 1].v)
			goto fail;
	}
	if (xk && !have_x) {
		l[m].k = strdup(xk);
		l[m].v = strdup(xv);
		m++;
		if (!l[m - 1].k || !l[m - 1].v)
			goto fail;
	}
	free(k);
	free(v);
	struct dser *s = series_for(d, l, m);
	if (s)
		*rc = DS_OK;
	return s;
fail:
	for (int i = 0; i < n; i++)
		free(k[i]), free(v[i]);
	free(k);
	free(v);
	for (size_t i = 0; l && i < m; i++)
		free((char *)l[i].k), free((char *)l[i].v);
	free(l);
	return NULL;
}

int ds_promql_data_add(ds_promql_data_t *d, const char *name, const char *labels, int64_t t_ns,
                       double value)
{
	int rc;
	struct dser *s = make_series(d, name, labels, NULL, NULL, &rc);
	if (!s)
		return rc;
	return sample_add(s, t_ns, value);
}

int ds_promql_data_load(ds_promql_data_t *d, ds_store_t *db, int64_t run_id, int64_t t0, int64_t t1,
                        ds_err_t *err)
{
	ds_store_series_t *ss = NULL;
	size_t n = 0;
	int64_t hi = t1 == INT64_MAX ? INT64_MAX : t1 + 1; /* the store's window is half-open */
	int rc = ds_store_series_load(db, run_id, NULL, t0, hi, &ss, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == DS_OK; i++) {
		const char *src = ss[i].source ? ss[i].source : "";
		const char *colon = strchr(src, ':');
		const char *inst = colon ? colon + 1 : src;
		struct dser *s = make_series(d, ss[i].name, ss[i].labels, "instance", inst, &rc);
		if (!s) {
			ds_errf(err, rc, "series %s{%s}: %s", ss[i].name, ss[i].labels,
			        rc == DS_EINVAL ? "malformed labels" : "out of memory");
			break;
		}
		for (size_t k = 0; k < ss[i].n && rc == DS_OK; k++)
			rc = sample_add(s, ss[i].t_ns[k], ss[i].value[k]);
		if (rc < 0)
			ds_errf(err, rc, "out of memory");
	}
	ds_store_series_free(ss, n);
	return rc;
}

/* ================================================================ lexer */

typedef enum {
	T_EOF,
	T_NUM,
	T_DUR,
	T_STR,
	T_ID,
	T_LP,
	T_RP,
	T_LB,
	T_RB,
	T_LS,
	T_RS,
	T_COMMA,
	T_COLON,
	T_OP, /* binary/unary operators and matcher operators */
} tok_kind_t;

typedef struct {
	const char *src;
	size_t pos;
	tok_kind_t k;
	size_t start;
	char text[256];
	double num;
	int64_t dur;
	ds_err_t *err;
	bool failed;
} lexer_t;

static void lerr(lexer_t *L, size_t at, const char *fmt, ...) DS_PRINTF(3, 4);
static void lerr(lexer_t *L, size_t at, const char *fmt, ...)
{
	if (L->failed)
		return;
	L->failed = true;
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ds_errf(L->err, DS_EINVAL, "1:%zu: %s", at + 1, msg);
}

static int64_t unit_ns(const char *u, size_t n)
{
	if (n == 2 && !strncmp(u, "ms", 2))
		return 1000000LL;
	if (n != 1)
		return 0;
	switch (*u) {
	case 's':
		return NS_PER_S;
	case 'm':
		return 60 * NS_PER_S;
	case 'h':
		return 3600 * NS_PER_S;
	case 'd':
		return 86400 * NS_PER_S;
	case 'w':
		return 7 * 86400 * NS_PER_S;
	case 'y':
		return 365 * 86400 * NS_PER_S;
	}
	return 0;
}

static bool id_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static bool id_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

static void lex(lexer_t *L)
{
	const char *s = L->src;
	size_t p = L->pos;
	while (isspace((unsigned char)s[p]))
		p++;
	L->start = p;
	L->text[0] = 0;
	if (!s[p]) {
		L->k = T_EOF;
		L->pos = p;
		return;
	}
	char c = s[p];
	/* A duration: digits followed by a unit, possibly repeated (1h30m),
	 * and nothing name-like after it. */
	if (isdigit((unsigned char)c)) {
		int64_t total = 0;
		size_t r = p;
		bool ok = true;
		while (ok && isdigit((unsigned char)s[r])) {
			int64_t v = 0;
			while (isdigit((unsigned char)s[r]))
				v = v * 10 + (s[r++] - '0');
			size_t a = r;
			while (isalpha((unsigned char)s[r]))
				r++;
			int64_t m = r > a ? unit_ns(s + a, r - a) : 0;
			ok = m != 0;
			total += v * m;
		}
		if (ok && !isalnum((unsigned char)s[r]) && s[r] != '_' && s[r] != '.') {
			L->k = T_DUR;
			L->dur = total;
			snprintf(L->text, sizeof(L->text), "%.*s", (int)(r - p), s + p);
			L->pos = r;
			return;
		}
	}
	if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[p + 1]))) {
		char *end;
		L->num = strtod(s + p, &end);
		L->k = T_NUM;
		snprintf(L->text, sizeof(L->text), "%.*s", (int)(end - (s + p)), s + p);
		L->pos = (size_t)(end - s);
		return;
	}
	if (id_start((unsigned char)c)) {
		size_t q = p;
		while (id_char((unsigned char)s[q]))
			q++;
		snprintf(L->text, sizeof(L->text), "%.*s", (int)(q - p), s + p);
		L->pos = q;
		if (!strcasecmp(L->text, "inf") || !strcasecmp(L->text, "nan")) {
			L->k = T_NUM;
			L->num = !strcasecmp(L->text, "inf") ? INFINITY : NAN;
			return;
		}
		L->k = T_ID;
		return;
	}
	if (c == '"' || c == '\'' || c == '`') {
		size_t q = p + 1, o = 0;
		while (s[q] && s[q] != c) {
			char ch = s[q];
			if (ch == '\\' && c != '`' && s[q + 1]) {
				q++;
				ch = s[q] == 'n' ? '\n' : s[q] == 't' ? '\t' : s[q];
			}
			if (o + 1 < sizeof(L->text))
				L->text[o++] = ch;
			q++;
		}
		L->text[o] = 0;
		if (s[q] != c) {
			lerr(L, p, "unterminated string");
			L->k = T_EOF;
			return;
		}
		L->k = T_STR;
		L->pos = q + 1;
		return;
	}
	static const char *ops[] = {"==", "!=", "=~", "!~", ">=", "<=", "+", "-",
	                            "*",  "/",  "%",  "^",  ">",  "<",  "="};
	for (size_t i = 0; i < DS_ARRAY_SIZE(ops); i++) {
		size_t l = strlen(ops[i]);
		if (!strncmp(s + p, ops[i], l)) {
			L->k = T_OP;
			snprintf(L->text, sizeof(L->text), "%s", ops[i]);
			L->pos = p + l;
			return;
		}
	}
	L->pos = p + 1;
	L->text[0] = c;
	L->text[1] = 0;
	switch (c) {
	case '(':
		L->k = T_LP;
		return;
	case ')':
		L->k = T_RP;
		return;
	case '{':
		L->k = T_LB;
		return;
	case '}':
		L->k = T_RB;
		return;
	case '[':
		L->k = T_LS;
		return;
	case ']':
		L->k = T_RS;
		return;
	case ',':
		L->k = T_COMMA;
		return;
	case ':':
		L->k = T_COLON;
		return;
	}
	lerr(L, p, "unexpected character '%c'", c);
	L->k = T_EOF;
}

/* =============================================================== nodes */

ds_pq_node_t *ds_pq_node_new(ds_pq_kind_t k, const char *str)
{
	ds_pq_node_t *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = k;
	if (str && !(n->str = strdup(str))) {
		free(n);
		return NULL;
	}
	return n;
}

int ds_pq_node_add(ds_pq_node_t *n, ds_pq_node_t *child)
{
	ds_pq_node_t **a = realloc(n->arg, (n->narg + 1) * sizeof(*a));
	if (!a)
		return DS_ENOMEM;
	n->arg = a;
	a[n->narg++] = child;
	return DS_OK;
}

static void matcher_free(ds_pq_matcher_t *m)
{
	free(m->name);
	free(m->value);
	if (m->re) {
		regfree(m->re);
		free(m->re);
	}
}

void ds_pq_node_free(ds_pq_node_t *n)
{
	if (!n)
		return;
	free(n->str);
	for (size_t i = 0; i < n->nm; i++)
		matcher_free(&n->m[i]);
	free(n->m);
	for (size_t i = 0; i < n->narg; i++)
		ds_pq_node_free(n->arg[i]);
	free(n->arg);
	for (size_t i = 0; i < n->nlabels; i++)
		free(n->labels[i]);
	free(n->labels);
	free(n);
}

static int matcher_compile(ds_pq_matcher_t *m, char *errbuf, size_t len)
{
	if (m->op != DS_PQ_RE && m->op != DS_PQ_NRE)
		return DS_OK;
	/* Prometheus anchors regular expressions at both ends. */
	size_t l = strlen(m->value) + 5;
	char *pat = malloc(l);
	m->re = malloc(sizeof(regex_t));
	if (!pat || !m->re) {
		free(pat);
		free(m->re);
		m->re = NULL;
		return DS_ENOMEM;
	}
	snprintf(pat, l, "^(%s)$", m->value);
	int rc = regcomp(m->re, pat, REG_EXTENDED | REG_NOSUB);
	free(pat);
	if (rc) {
		regerror(rc, m->re, errbuf, len);
		free(m->re);
		m->re = NULL;
		return DS_EINVAL;
	}
	return DS_OK;
}

ds_pq_node_t *ds_pq_node_dup(const ds_pq_node_t *n)
{
	ds_pq_node_t *d = ds_pq_node_new(n->kind, n->str);
	char eb[64];
	if (!d)
		return NULL;
	d->pos = n->pos;
	d->num = n->num;
	d->range_ns = n->range_ns;
	d->offset_ns = n->offset_ns;
	d->without = n->without;
	d->grouped = n->grouped;
	d->on = n->on;
	d->bool_mod = n->bool_mod;
	if (n->nm) {
		d->m = calloc(n->nm, sizeof(*d->m));
		if (!d->m)
			goto fail;
		for (size_t i = 0; i < n->nm; i++) {
			d->nm++;
			d->m[i].op = n->m[i].op;
			d->m[i].name = strdup(n->m[i].name);
			d->m[i].value = strdup(n->m[i].value);
			if (!d->m[i].name || !d->m[i].value ||
			    matcher_compile(&d->m[i], eb, sizeof(eb)) < 0)
				goto fail;
		}
	}
	for (size_t i = 0; i < n->narg; i++) {
		ds_pq_node_t *c = ds_pq_node_dup(n->arg[i]);
		if (!c || ds_pq_node_add(d, c) < 0) {
			ds_pq_node_free(c);
			goto fail;
		}
	}
	if (n->nlabels) {
		d->labels = calloc(n->nlabels, sizeof(char *));
		if (!d->labels)
			goto fail;
		for (size_t i = 0; i < n->nlabels; i++) {
			d->nlabels++;
			if (!(d->labels[i] = strdup(n->labels[i])))
				goto fail;
		}
	}
	return d;
fail:
	ds_pq_node_free(d);
	return NULL;
}

/* ============================================================== parser */

typedef struct {
	lexer_t L;
} parser_t;

static const char *agg_ops[] = {"sum",    "avg",    "min",  "max",     "count",    "group",
                                "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values"};

static const struct fn_info {
	const char *name;
	int nargs;      /* -1: 1 to 2 (round, vector...) handled by name */
	bool range_arg; /* first (or second, for quantile_over_time) argument is a range */
} fns[] = {
    {"rate", 1, true},
    {"increase", 1, true},
    {"delta", 1, true},
    {"irate", 1, true},
    {"avg_over_time", 1, true},
    {"min_over_time", 1, true},
    {"max_over_time", 1, true},
    {"sum_over_time", 1, true},
    {"count_over_time", 1, true},
    {"histogram_quantile", 2, false},
    {"abs", 1, false},
    {"ceil", 1, false},
    {"floor", 1, false},
    {"sqrt", 1, false},
    {"exp", 1, false},
    {"ln", 1, false},
    {"log2", 1, false},
    {"log10", 1, false},
    {"clamp_min", 2, false},
    {"clamp_max", 2, false},
    {"clamp", 3, false},
    {"scalar", 1, false},
    {"vector", 1, false},
    {"time", 0, false},
    {"absent", 1, false},
};

static const struct fn_info *fn_find(const char *name)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(fns); i++)
		if (!strcmp(fns[i].name, name))
			return &fns[i];
	return NULL;
}

static bool is_agg(const char *s)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(agg_ops); i++)
		if (!strcasecmp(s, agg_ops[i]))
			return true;
	return false;
}

static int prec_of(const lexer_t *L)
{
	if (L->k == T_ID) {
		if (!strcasecmp(L->text, "or"))
			return 1;
		if (!strcasecmp(L->text, "and") || !strcasecmp(L->text, "unless"))
			return 2;
		if (!strcasecmp(L->text, "atan2"))
			return 5;
		return 0;
	}
	if (L->k != T_OP)
		return 0;
	const char *t = L->text;
	if (!strcmp(t, "==") || !strcmp(t, "!=") || !strcmp(t, ">") || !strcmp(t, "<") ||
	    !strcmp(t, ">=") || !strcmp(t, "<="))
		return 3;
	if (!strcmp(t, "+") || !strcmp(t, "-"))
		return 4;
	if (!strcmp(t, "*") || !strcmp(t, "/") || !strcmp(t, "%"))
		return 5;
	if (!strcmp(t, "^"))
		return 6;
	return 0;
}

static bool is_cmp_op(const char *op)
{
	return !strcmp(op, "==") || !strcmp(op, "!=") || !strcmp(op, ">") || !strcmp(op, "<") ||
	       !strcmp(op, ">=") || !strcmp(op, "<=");
}

static bool is_set_op(const char *op)
{
	return !strcmp(op, "and") || !strcmp(op, "or") || !strcmp(op, "unless");
}

static ds_pq_node_t *parse_expr(parser_t *P, int minprec);

static bool expect(parser_t *P, tok_kind_t k, const char *what)
{
	if (P->L.k != k) {
		lerr(&P->L, P->L.start, "expected %s, found '%s'", what,
		     P->L.k == T_EOF ? "end of input" : P->L.text);
		return false;
	}
	lex(&P->L);
	return true;
}

/* ( label, label, ... ) */
static bool parse_label_list(parser_t *P, ds_pq_node_t *n)
{
	if (!expect(P, T_LP, "'('"))
		return false;
	while (P->L.k == T_ID) {
		char **nl = realloc(n->labels, (n->nlabels + 1) * sizeof(*nl));
		if (!nl)
			return false;
		n->labels = nl;
		if (!(nl[n->nlabels] = strdup(P->L.text)))
			return false;
		n->nlabels++;
		lex(&P->L);
		if (P->L.k != T_COMMA)
			break;
		lex(&P->L);
	}
	return expect(P, T_RP, "')' after the label list");
}

static bool parse_matchers(parser_t *P, ds_pq_node_t *n)
{
	lex(&P->L); /* { */
	while (P->L.k == T_ID) {
		ds_pq_matcher_t m = {0};
		char eb[128];
		m.name = strdup(P->L.text);
		lex(&P->L);
		if (P->L.k != T_OP || (strcmp(P->L.text, "=") && strcmp(P->L.text, "!=") &&
		                       strcmp(P->L.text, "=~") && strcmp(P->L.text, "!~"))) {
			lerr(&P->L, P->L.start,
			     "expected a label matcher operator (=, !=, =~, !~)");
			free(m.name);
			return false;
		}
		m.op = !strcmp(P->L.text, "=")    ? DS_PQ_EQ
		       : !strcmp(P->L.text, "!=") ? DS_PQ_NE
		       : !strcmp(P->L.text, "=~") ? DS_PQ_RE
		                                  : DS_PQ_NRE;
		lex(&P->L);
		if (P->L.k != T_STR) {
			lerr(&P->L, P->L.start, "expected a quoted label value");
			free(m.name);
			return false;
		}
		m.value = strdup(P->L.text);
		size_t at = P->L.start;
		lex(&P->L);
		ds_pq_matcher_t *nm = realloc(n->m, (n->nm + 1) * sizeof(*nm));
		if (!nm || !m.name || !m.value) {
			matcher_free(&m);
			return false;
		}
		n->m = nm;
		n->m[n->nm++] = m;
		if (matcher_compile(&n->m[n->nm - 1], eb, sizeof(eb)) < 0) {
			lerr(&P->L, at, "bad regular expression: %s", eb);
			return false;
		}
		if (P->L.k != T_COMMA)
			break;
		lex(&P->L);
	}
	return expect(P, T_RB, "'}'");
}

static ds_pq_node_t *parse_postfix(parser_t *P, ds_pq_node_t *n)
{
	if (P->L.k == T_LS) {
		size_t at = P->L.start;
		lex(&P->L);
		if (P->L.k != T_DUR) {
			lerr(&P->L, P->L.start, "expected a duration in the range, e.g. [5m]");
			goto fail;
		}
		int64_t d = P->L.dur;
		lex(&P->L);
		/* ':' also starts a name (recording rules use them): here it is a step */
		if (P->L.k == T_COLON || (P->L.k == T_ID && P->L.text[0] == ':')) {
			lerr(&P->L, at, "subqueries ([range:step]) are not supported");
			goto fail;
		}
		if (!expect(P, T_RS, "']'"))
			goto fail;
		if (n->kind != DS_PQ_SEL || n->range_ns) {
			lerr(&P->L, at, "a range [..] can only follow a series selector");
			goto fail;
		}
		n->range_ns = d;
	}
	if (P->L.k == T_ID && !strcasecmp(P->L.text, "offset")) {
		lex(&P->L);
		bool neg = P->L.k == T_OP && !strcmp(P->L.text, "-");
		if (neg)
			lex(&P->L);
		if (P->L.k != T_DUR || n->kind != DS_PQ_SEL) {
			lerr(&P->L, P->L.start, "offset needs a selector and a duration");
			goto fail;
		}
		n->offset_ns = neg ? -P->L.dur : P->L.dur;
		lex(&P->L);
	}
	if (P->L.k == T_ID && !strcmp(P->L.text, "@")) {
		lerr(&P->L, P->L.start, "the @ modifier is not supported");
		goto fail;
	}
	return n;
fail:
	ds_pq_node_free(n);
	return NULL;
}

static ds_pq_node_t *parse_agg(parser_t *P)
{
	ds_pq_node_t *n = ds_pq_node_new(DS_PQ_AGG, NULL);
	if (!n)
		return NULL;
	n->pos = (int)P->L.start;
	n->str = strdup(P->L.text);
	for (char *c = n->str; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	lex(&P->L);
	if (strcmp(n->str, "sum") && strcmp(n->str, "avg") && strcmp(n->str, "min") &&
	    strcmp(n->str, "max") && strcmp(n->str, "count") && strcmp(n->str, "group")) {
		lerr(&P->L, (size_t)n->pos, "aggregation '%s' is not supported", n->str);
		goto fail;
	}
	if (P->L.k == T_ID && (!strcasecmp(P->L.text, "by") || !strcasecmp(P->L.text, "without"))) {
		n->without = !strcasecmp(P->L.text, "without");
		n->grouped = true;
		lex(&P->L);
		if (!parse_label_list(P, n))
			goto fail;
	}
	if (!expect(P, T_LP, "'(' after the aggregation"))
		goto fail;
	ds_pq_node_t *a = parse_expr(P, 1);
	if (!a || ds_pq_node_add(n, a) < 0) {
		ds_pq_node_free(a);
		goto fail;
	}
	if (P->L.k == T_COMMA) {
		lerr(&P->L, P->L.start, "aggregation '%s' takes one argument", n->str);
		goto fail;
	}
	if (!expect(P, T_RP, "')'"))
		goto fail;
	if (!n->grouped && P->L.k == T_ID &&
	    (!strcasecmp(P->L.text, "by") || !strcasecmp(P->L.text, "without"))) {
		n->without = !strcasecmp(P->L.text, "without");
		n->grouped = true;
		lex(&P->L);
		if (!parse_label_list(P, n))
			goto fail;
	}
	return n;
fail:
	ds_pq_node_free(n);
	return NULL;
}

static ds_pq_node_t *parse_primary(parser_t *P)
{
	lexer_t *L = &P->L;
	ds_pq_node_t *n = NULL;
	size_t at = L->start;
	switch (L->k) {
	case T_NUM:
		n = ds_pq_node_new(DS_PQ_NUM, NULL);
		if (!n)
			return NULL;
		n->num = L->num;
		n->pos = (int)at;
		lex(L);
		return n;
	case T_DUR:
		lerr(L, at, "a duration is not a value here");
		return NULL;
	case T_STR:
		n = ds_pq_node_new(DS_PQ_STR, L->text);
		if (n)
			n->pos = (int)at;
		lex(L);
		return n;
	case T_LP: {
		lex(L);
		ds_pq_node_t *in = parse_expr(P, 1);
		if (!in)
			return NULL;
		if (!expect(P, T_RP, "')'")) {
			ds_pq_node_free(in);
			return NULL;
		}
		n = ds_pq_node_new(DS_PQ_PAREN, NULL);
		if (!n || ds_pq_node_add(n, in) < 0) {
			ds_pq_node_free(in);
			ds_pq_node_free(n);
			return NULL;
		}
		n->pos = (int)at;
		return parse_postfix(P, n);
	}
	case T_LB:
		n = ds_pq_node_new(DS_PQ_SEL, NULL);
		if (!n)
			return NULL;
		n->pos = (int)at;
		if (!parse_matchers(P, n)) {
			ds_pq_node_free(n);
			return NULL;
		}
		return parse_postfix(P, n);
	case T_ID: {
		char name[256];
		snprintf(name, sizeof(name), "%s", L->text);
		if (is_agg(name)) {
			/* "sum" followed by ( or by/without is the aggregation. */
			lexer_t peek = *L;
			lex(&peek);
			if (peek.k == T_LP ||
			    (peek.k == T_ID &&
			     (!strcasecmp(peek.text, "by") || !strcasecmp(peek.text, "without"))))
				return parse_agg(P);
		}
		lexer_t peek = *L;
		lex(&peek);
		if (peek.k == T_LP) {
			const struct fn_info *fi = fn_find(name);
			if (!fi) {
				lerr(L, at, "function '%s' is not supported", name);
				return NULL;
			}
			n = ds_pq_node_new(DS_PQ_CALL, name);
			if (!n)
				return NULL;
			n->pos = (int)at;
			lex(L); /* name */
			lex(L); /* ( */
			while (L->k != T_RP && !L->failed) {
				ds_pq_node_t *a = parse_expr(P, 1);
				if (!a || ds_pq_node_add(n, a) < 0) {
					ds_pq_node_free(a);
					ds_pq_node_free(n);
					return NULL;
				}
				if (L->k != T_COMMA)
					break;
				lex(L);
			}
			if (!expect(P, T_RP, "')' after the arguments")) {
				ds_pq_node_free(n);
				return NULL;
			}
			bool ok = (int)n->narg == fi->nargs ||
			          (!strcmp(name, "clamp") && n->narg == 3) ||
			          (!strcmp(name, "time") && n->narg == 0);
			if (!ok) {
				lerr(L, at, "%s() takes %d argument%s, got %zu", name, fi->nargs,
				     fi->nargs == 1 ? "" : "s", n->narg);
				ds_pq_node_free(n);
				return NULL;
			}
			return parse_postfix(P, n);
		}
		static const char *kw[] = {"by",         "without",     "on",    "ignoring",
		                           "group_left", "group_right", "bool",  "offset",
		                           "and",        "or",          "unless"};
		for (size_t i = 0; i < DS_ARRAY_SIZE(kw); i++)
			if (!strcasecmp(name, kw[i])) {
				lerr(L, at, "unexpected '%s'", name);
				return NULL;
			}
		n = ds_pq_node_new(DS_PQ_SEL, name);
		if (!n)
			return NULL;
		n->pos = (int)at;
		lex(L);
		if (L->k == T_LB && !parse_matchers(P, n)) {
			ds_pq_node_free(n);
			return NULL;
		}
		return parse_postfix(P, n);
	}
	default:
		lerr(L, at, "unexpected %s", L->k == T_EOF ? "end of input" : L->text);
		return NULL;
	}
}

static ds_pq_node_t *parse_unary(parser_t *P)
{
	lexer_t *L = &P->L;
	if (L->k == T_OP && (!strcmp(L->text, "-") || !strcmp(L->text, "+"))) {
		bool neg = L->text[0] == '-';
		size_t at = L->start;
		lex(L);
		/* Unary minus binds looser than ^: -2^2 is -4. */
		ds_pq_node_t *in = parse_expr(P, 6);
		if (!in || !neg)
			return in;
		if (in->kind == DS_PQ_NUM) {
			in->num = -in->num;
			return in;
		}
		ds_pq_node_t *n = ds_pq_node_new(DS_PQ_NEG, NULL);
		if (!n || ds_pq_node_add(n, in) < 0) {
			ds_pq_node_free(in);
			ds_pq_node_free(n);
			return NULL;
		}
		n->pos = (int)at;
		return n;
	}
	return parse_primary(P);
}

static ds_pq_node_t *parse_expr(parser_t *P, int minprec)
{
	lexer_t *L = &P->L;
	ds_pq_node_t *lhs = parse_unary(P);
	while (lhs && !L->failed) {
		int prec = prec_of(L);
		if (!prec || prec < minprec)
			break;
		char op[8];
		snprintf(op, sizeof(op), "%.7s", L->text);
		for (char *c = op; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		size_t at = L->start;
		lex(L);
		ds_pq_node_t *b = ds_pq_node_new(DS_PQ_BIN, op);
		if (!b)
			goto fail;
		b->pos = (int)at;
		if (L->k == T_ID && !strcasecmp(L->text, "bool")) {
			if (!is_cmp_op(op)) {
				lerr(L, L->start, "bool is only for comparison operators");
				ds_pq_node_free(b);
				goto fail;
			}
			b->bool_mod = true;
			lex(L);
		}
		if (L->k == T_ID &&
		    (!strcasecmp(L->text, "on") || !strcasecmp(L->text, "ignoring"))) {
			b->on = !strcasecmp(L->text, "on");
			b->grouped = true;
			lex(L);
			if (!parse_label_list(P, b)) {
				ds_pq_node_free(b);
				goto fail;
			}
		}
		if (L->k == T_ID &&
		    (!strcasecmp(L->text, "group_left") || !strcasecmp(L->text, "group_right"))) {
			lerr(L, L->start, "%s (many-to-one matching) is not supported", L->text);
			ds_pq_node_free(b);
			goto fail;
		}
		if (!strcmp(op, "atan2")) {
			lerr(L, at, "atan2 is not supported");
			ds_pq_node_free(b);
			goto fail;
		}
		/* ^ is right-associative, everything else left. */
		ds_pq_node_t *rhs = parse_expr(P, prec == 6 ? prec : prec + 1);
		if (!rhs) {
			ds_pq_node_free(b);
			goto fail;
		}
		if (ds_pq_node_add(b, lhs) < 0) {
			ds_pq_node_free(rhs);
			ds_pq_node_free(b);
			goto fail;
		}
		lhs = NULL;
		if (ds_pq_node_add(b, rhs) < 0) {
			ds_pq_node_free(rhs);
			ds_pq_node_free(b);
			return NULL;
		}
		lhs = b;
	}
	if (L->failed)
		goto fail;
	return lhs;
fail:
	ds_pq_node_free(lhs);
	return NULL;
}

ds_promql_t *ds_promql_parse(const char *text, ds_err_t *err)
{
	parser_t P = {{.src = text, .err = err}};
	ds_promql_t *e = calloc(1, sizeof(*e));
	if (!e) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	lex(&P.L);
	e->root = parse_expr(&P, 1);
	if (e->root && P.L.k != T_EOF)
		lerr(&P.L, P.L.start, "unexpected '%s' after the expression", P.L.text);
	if (!e->root || P.L.failed) {
		if (!P.L.failed)
			ds_errf(err, DS_ENOMEM, "out of memory");
		ds_promql_free(e);
		return NULL;
	}
	return e;
}

void ds_promql_free(ds_promql_t *e)
{
	if (!e)
		return;
	ds_pq_node_free(e->root);
	free(e);
}

ds_pq_node_t *ds_promql_root(ds_promql_t *e)
{
	return e->root;
}

ds_promql_t *ds_promql_from_node(ds_pq_node_t *n)
{
	ds_promql_t *e = calloc(1, sizeof(*e));
	if (e)
		e->root = n;
	return e;
}

/* ============================================================= printer */

const char *ds_promql_fmt_duration(int64_t ns, char *buf, size_t len)
{
	static const struct {
		int64_t ns;
		const char *u;
	} units[] = {{365 * 86400 * NS_PER_S, "y"},
	             {7 * 86400 * NS_PER_S, "w"},
	             {86400 * NS_PER_S, "d"},
	             {3600 * NS_PER_S, "h"},
	             {60 * NS_PER_S, "m"},
	             {NS_PER_S, "s"},
	             {1000000, "ms"}};
	size_t o = 0;
	buf[0] = 0;
	if (ns <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(units) && ns; i++) {
		if (ns < units[i].ns)
			continue;
		int n =
		    snprintf(buf + o, len - o, "%lld%s", (long long)(ns / units[i].ns), units[i].u);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
		ns %= units[i].ns;
	}
	return buf;
}

static void fmt_num(sbuf_t *s, double v)
{
	if (isnan(v)) {
		sb_add(s, "NaN");
		return;
	}
	if (isinf(v)) {
		sb_add(s, v > 0 ? "Inf" : "-Inf");
		return;
	}
	/* Shortest text that reads back as the same double. */
	char b[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(b, sizeof(b), "%.*g", p, v);
		if (strtod(b, NULL) == v)
			break;
	}
	sb_add(s, "%s", b);
}

static void fmt_str(sbuf_t *s, const char *v)
{
	sb_add(s, "\"");
	sb_esc(s, v);
	sb_add(s, "\"");
}

static void fmt_labels(sbuf_t *s, char **l, size_t n)
{
	sb_add(s, "(");
	for (size_t i = 0; i < n; i++)
		sb_add(s, "%s%s", i ? ", " : "", l[i]);
	sb_add(s, ")");
}

static void fmt_node(sbuf_t *s, const ds_pq_node_t *n)
{
	char d[32];
	switch (n->kind) {
	case DS_PQ_NUM:
		fmt_num(s, n->num);
		break;
	case DS_PQ_STR:
		fmt_str(s, n->str);
		break;
	case DS_PQ_SEL:
		if (n->str)
			sb_add(s, "%s", n->str);
		if (n->nm || !n->str) {
			sb_add(s, "{");
			for (size_t i = 0; i < n->nm; i++) {
				static const char *ops[] = {"=", "!=", "=~", "!~"};
				sb_add(s, "%s%s%s", i ? ", " : "", n->m[i].name, ops[n->m[i].op]);
				fmt_str(s, n->m[i].value);
			}
			sb_add(s, "}");
		}
		if (n->range_ns)
			sb_add(s, "[%s]", ds_promql_fmt_duration(n->range_ns, d, sizeof(d)));
		if (n->offset_ns)
			sb_add(s, " offset %s%s", n->offset_ns < 0 ? "-" : "",
			       ds_promql_fmt_duration(llabs(n->offset_ns), d, sizeof(d)));
		break;
	case DS_PQ_CALL:
		sb_add(s, "%s(", n->str);
		for (size_t i = 0; i < n->narg; i++) {
			if (i)
				sb_add(s, ", ");
			fmt_node(s, n->arg[i]);
		}
		sb_add(s, ")");
		break;
	case DS_PQ_AGG:
		sb_add(s, "%s", n->str);
		if (n->grouped) {
			sb_add(s, n->without ? " without " : " by ");
			fmt_labels(s, n->labels, n->nlabels);
			sb_add(s, " ");
		}
		sb_add(s, "(");
		fmt_node(s, n->arg[0]);
		sb_add(s, ")");
		break;
	case DS_PQ_BIN:
		fmt_node(s, n->arg[0]);
		sb_add(s, " %s ", n->str);
		if (n->bool_mod)
			sb_add(s, "bool ");
		if (n->grouped) {
			sb_add(s, n->on ? "on" : "ignoring");
			fmt_labels(s, n->labels, n->nlabels);
			sb_add(s, " ");
		}
		fmt_node(s, n->arg[1]);
		break;
	case DS_PQ_NEG:
		sb_add(s, "-");
		fmt_node(s, n->arg[0]);
		break;
	case DS_PQ_PAREN:
		sb_add(s, "(");
		fmt_node(s, n->arg[0]);
		sb_add(s, ")");
		break;
	}
}

char *ds_pq_node_format(const ds_pq_node_t *n)
{
	sbuf_t s = {0};
	sb_add(&s, "%s", "");
	fmt_node(&s, n);
	if (s.oom) {
		free(s.b);
		return NULL;
	}
	return s.b;
}

char *ds_promql_format(const ds_promql_t *e)
{
	return ds_pq_node_format(e->root);
}

/* ========================================================== evaluation */

/* Evaluation allocates from an arena freed in one go; errors and running
 * out of memory unwind to ds_promql_eval() with longjmp, so the
 * evaluator itself has no cleanup paths. */
struct blk {
	struct blk *next;
	size_t used, cap;
	max_align_t data[];
};

enum { V_SCALAR, V_VECTOR, V_MATRIX, V_STRING };

typedef struct {
	ls_t ls;
	double v;
} smp_t;

typedef struct {
	ls_t ls;
	const int64_t *t;
	const double *v;
	size_t n;
} mser_t;

typedef struct {
	int type;
	double s;
	const char *str;
	smp_t *e;
	size_t n, cap;
	mser_t *m;
	size_t nm;
	int64_t range_ns, t_ns; /* for matrices: the range and its end */
} val_t;

typedef struct {
	struct blk *arena;
	jmp_buf jb;
	ds_err_t *err;
	int code;
	const ds_promql_data_t *d;
	int64_t t, window, lookback;
	char note[256];
} ctx_t;

static void ev_fail(ctx_t *c, int code, const char *fmt, ...) DS_PRINTF(3, 4);
static void ev_fail(ctx_t *c, int code, const char *fmt, ...)
{
	char msg[DS_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ds_errf(c->err, code, "%s", msg);
	c->code = code;
	longjmp(c->jb, 1);
}

static void *amalloc(ctx_t *c, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	struct blk *b = c->arena;
	if (!b || b->used + n > b->cap) {
		size_t cap = n > 65536 ? n : 65536;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			ev_fail(c, DS_ENOMEM, "out of memory");
		b->next = c->arena;
		b->used = 0;
		b->cap = cap;
		c->arena = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static void arena_free(ctx_t *c)
{
	while (c->arena) {
		struct blk *n = c->arena->next;
		free(c->arena);
		c->arena = n;
	}
}

static void vec_push(ctx_t *c, val_t *v, ls_t ls, double x)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 16;
		smp_t *ne = amalloc(c, nc * sizeof(*ne));
		if (v->n)
			memcpy(ne, v->e, v->n * sizeof(*ne));
		v->e = ne;
		v->cap = nc;
	}
	v->e[v->n].ls = ls;
	v->e[v->n++].v = x;
}

static val_t vec_new(void)
{
	val_t v = {.type = V_VECTOR};
	return v;
}

static ls_t ls_del(ctx_t *c, ls_t in, const char *k)
{
	ls_t o = {amalloc(c, (in.n + 1) * sizeof(lp_t)), 0};
	for (size_t i = 0; i < in.n; i++)
		if (strcmp(in.l[i].k, k))
			o.l[o.n++] = in.l[i];
	return o;
}

static bool in_list(char **l, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i], k))
			return true;
	return false;
}

/* Signature of a label set for matching and grouping: on = only the
 * listed labels, else all but the listed ones (and never the name). */
static const char *ls_sig(ctx_t *c, ls_t ls, bool on, char **l, size_t nl)
{
	size_t len = 1;
	for (size_t i = 0; i < ls.n; i++)
		len += strlen(ls.l[i].k) + strlen(ls.l[i].v) + 2;
	char *s = amalloc(c, len), *p = s;
	for (size_t i = 0; i < ls.n; i++) {
		const char *k = ls.l[i].k;
		bool listed = in_list(l, nl, k);
		if (on ? !listed : (listed || !strcmp(k, NAME_LABEL)))
			continue;
		p += sprintf(p, "%s\xff%s\xff", k, ls.l[i].v);
	}
	*p = 0;
	return s;
}

static bool match_one(const ds_pq_matcher_t *m, const char *v)
{
	switch (m->op) {
	case DS_PQ_EQ:
		return !strcmp(v, m->value);
	case DS_PQ_NE:
		return strcmp(v, m->value) != 0;
	case DS_PQ_RE:
		return regexec(m->re, v, 0, NULL, 0) == 0;
	case DS_PQ_NRE:
		return regexec(m->re, v, 0, NULL, 0) != 0;
	}
	return false;
}

static bool series_matches(const ds_pq_node_t *n, const struct dser *s)
{
	if (n->str && strcmp(ls_get(&s->ls, NAME_LABEL), n->str))
		return false;
	for (size_t i = 0; i < n->nm; i++)
		if (!match_one(&n->m[i], ls_get(&s->ls, n->m[i].name)))
			return false;
	return true;
}

/* First index with t >= x. */
static size_t lower_bound(const int64_t *t, size_t n, int64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static val_t eval(ctx_t *c, const ds_pq_node_t *n, int64_t t);

static val_t eval_selector(ctx_t *c, const ds_pq_node_t *n, int64_t t)
{
	int64_t at = t - n->offset_ns;
	if (n->range_ns) {
		val_t v = {.type = V_MATRIX};
		int64_t range = c->window > 0 ? c->window : n->range_ns;
		if (c->window > 0 && n->range_ns != c->window && !c->note[0]) {
			char a[32], b[32];
			snprintf(c->note, sizeof(c->note), "[%s] evaluated over the %s window",
			         ds_promql_fmt_duration(n->range_ns, a, sizeof(a)),
			         ds_promql_fmt_duration(c->window, b, sizeof(b)));
		}
		v.range_ns = range;
		v.t_ns = at;
		v.m = amalloc(c, (c->d->n + 1) * sizeof(mser_t));
		for (size_t i = 0; i < c->d->n; i++) {
			const struct dser *s = &c->d->s[i];
			if (!series_matches(n, s))
				continue;
			/* Prometheus 2.x ranges are closed: [t - range, t]. */
			size_t a = lower_bound(s->t, s->n, at - range);
			size_t b = lower_bound(s->t, s->n, at + 1);
			if (b <= a)
				continue;
			v.m[v.nm++] = (mser_t){s->ls, s->t + a, s->v + a, b - a};
		}
		return v;
	}
	val_t v = vec_new();
	for (size_t i = 0; i < c->d->n; i++) {
		const struct dser *s = &c->d->s[i];
		if (!series_matches(n, s))
			continue;
		size_t b = lower_bound(s->t, s->n, at + 1);
		if (!b || s->t[b - 1] < at - c->lookback)
			continue;
		vec_push(c, &v, s->ls, s->v[b - 1]);
	}
	return v;
}

/* rate(), increase(), delta(): Prometheus' extrapolatedRate(). */
static val_t eval_rate(ctx_t *c, val_t m, bool counter, bool rate)
{
	val_t out = vec_new();
	double range_s = (double)m.range_ns / 1e9;
	int64_t start = m.t_ns - m.range_ns, end = m.t_ns;
	for (size_t i = 0; i < m.nm; i++) {
		const mser_t *s = &m.m[i];
		if (s->n < 2)
			continue;
		double result = s->v[s->n - 1] - s->v[0];
		if (counter) {
			double prev = s->v[0];
			for (size_t k = 1; k < s->n; k++) {
				if (s->v[k] < prev)
					result += prev; /* a reset: the counter restarted from 0 */
				prev = s->v[k];
			}
		}
		double to_start = (double)(s->t[0] - start) / 1e9;
		double to_end = (double)(end - s->t[s->n - 1]) / 1e9;
		double sampled = (double)(s->t[s->n - 1] - s->t[0]) / 1e9;
		double avg = sampled / (double)(s->n - 1);
		if (counter && result > 0 && s->v[0] >= 0) {
			/* Never extrapolate a counter below zero. */
			double to_zero = sampled * (s->v[0] / result);
			if (to_zero < to_start)
				to_start = to_zero;
		}
		double thresh = avg * 1.1, interval = sampled;
		interval += to_start < thresh ? to_start : avg / 2;
		interval += to_end < thresh ? to_end : avg / 2;
		double factor = interval / sampled;
		if (rate)
			factor /= range_s;
		result *= factor;
		vec_push(c, &out, ls_del(c, s->ls, NAME_LABEL), result);
	}
	return out;
}

static val_t eval_irate(ctx_t *c, val_t m)
{
	val_t out = vec_new();
	for (size_t i = 0; i < m.nm; i++) {
		const mser_t *s = &m.m[i];
		if (s->n < 2)
			continue;
		double last = s->v[s->n - 1], prev = s->v[s->n - 2];
		double r = last < prev ? last : last - prev;
		int64_t dt = s->t[s->n - 1] - s->t[s->n - 2];
		if (!dt)
			continue;
		vec_push(c, &out, ls_del(c, s->ls, NAME_LABEL), r / ((double)dt / 1e9));
	}
	return out;
}

/* Neumaier's compensated summation step (what Prometheus calls kahanSumInc). */
static void kahan_inc(double inc, double *sum, double *comp)
{
	double t = *sum + inc;
	if (fabs(*sum) >= fabs(inc))
		*comp += (*sum - t) + inc;
	else
		*comp += (inc - t) + *sum;
	*sum = t;
}

static val_t eval_over_time(ctx_t *c, val_t m, const char *fn)
{
	val_t out = vec_new();
	for (size_t i = 0; i < m.nm; i++) {
		const mser_t *s = &m.m[i];
		double r;
		if (!strcmp(fn, "count_over_time")) {
			r = (double)s->n;
		} else if (!strcmp(fn, "sum_over_time")) {
			double sum = 0, comp = 0;
			for (size_t k = 0; k < s->n; k++)
				kahan_inc(s->v[k], &sum, &comp);
			r = isinf(sum) ? sum : sum + comp;
		} else if (!strcmp(fn, "avg_over_time")) {
			/* Incremental mean with compensation, as Prometheus computes it,
			 * so results agree to the last bit. */
			double mean = 0, count = 0, comp = 0;
			for (size_t k = 0; k < s->n; k++) {
				double v = s->v[k];
				count++;
				if (isinf(mean)) {
					if (isinf(v) && (mean > 0) == (v > 0))
						continue;
					if (!isinf(v) && !isnan(v))
						continue;
				}
				kahan_inc(v / count - mean / count, &mean, &comp);
			}
			r = isinf(mean) ? mean : mean + comp;
		} else {
			bool mx = !strcmp(fn, "max_over_time");
			r = s->v[0];
			for (size_t k = 1; k < s->n; k++)
				if (mx ? (s->v[k] > r || isnan(r)) : (s->v[k] < r || isnan(r)))
					r = s->v[k];
		}
		vec_push(c, &out, ls_del(c, s->ls, NAME_LABEL), r);
	}
	return out;
}

typedef struct {
	double le, count;
} bucket_t;

static int bucket_cmp(const void *a, const void *b)
{
	double x = ((const bucket_t *)a)->le, y = ((const bucket_t *)b)->le;
	return (x > y) - (x < y);
}

/* Prometheus' bucketQuantile() for classic buckets. */
static double bucket_quantile(double q, bucket_t *b, size_t n)
{
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(b, n, sizeof(*b), bucket_cmp);
	if (!n || !isinf(b[n - 1].le) || b[n - 1].le < 0)
		return NAN;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) { /* coalesce equal bounds */
		if (k && b[k - 1].le == b[i].le)
			b[k - 1].count += b[i].count;
		else
			b[k++] = b[i];
	}
	n = k;
	for (size_t i = 1; i < n; i++) /* force monotonic counts */
		if (b[i].count < b[i - 1].count)
			b[i].count = b[i - 1].count;
	if (n < 2)
		return NAN;
	double obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	double rank = q * obs;
	size_t i = 0;
	while (i < n - 1 && b[i].count < rank)
		i++;
	if (i == n - 1)
		return b[n - 2].le;
	if (i == 0 && b[0].le <= 0)
		return b[0].le;
	double start = 0, end = b[i].le, count = b[i].count;
	if (i > 0) {
		start = b[i - 1].le;
		count -= b[i - 1].count;
		rank -= b[i - 1].count;
	}
	return start + (end - start) * (rank / count);
}

static double parse_le(const char *s, bool *ok)
{
	char *end;
	*ok = false;
	if (!s[0])
		return NAN;
	double v = strtod(s, &end);
	*ok = !*end;
	return v;
}

static val_t eval_hquantile(ctx_t *c, double q, val_t in)
{
	/* Group the buckets by their labels without le and the name. */
	const char **sig = amalloc(c, (in.n + 1) * sizeof(*sig));
	size_t *grp = amalloc(c, (in.n + 1) * sizeof(*grp));
	char *lel[] = {"le"};
	size_t ng = 0;
	size_t *first = amalloc(c, (in.n + 1) * sizeof(*first));
	for (size_t i = 0; i < in.n; i++) {
		bool ok;
		parse_le(ls_get(&in.e[i].ls, "le"), &ok);
		if (!ok) {
			grp[i] = SIZE_MAX;
			continue;
		}
		const char *s = ls_sig(c, in.e[i].ls, false, lel, 1);
		size_t g = 0;
		while (g < ng && strcmp(sig[g], s))
			g++;
		if (g == ng) {
			sig[ng] = s;
			first[ng++] = i;
		}
		grp[i] = g;
	}
	val_t out = vec_new();
	bucket_t *b = amalloc(c, (in.n + 1) * sizeof(*b));
	for (size_t g = 0; g < ng; g++) {
		size_t nb = 0;
		for (size_t i = 0; i < in.n; i++) {
			if (grp[i] != g)
				continue;
			bool ok;
			b[nb].le = parse_le(ls_get(&in.e[i].ls, "le"), &ok);
			b[nb++].count = in.e[i].v;
		}
		ls_t ls = ls_del(c, ls_del(c, in.e[first[g]].ls, "le"), NAME_LABEL);
		vec_push(c, &out, ls, bucket_quantile(q, b, nb));
	}
	return out;
}

static double scalar_of(ctx_t *c, const ds_pq_node_t *n, int64_t t, const char *what)
{
	val_t v = eval(c, n, t);
	if (v.type != V_SCALAR)
		ev_fail(c, DS_EINVAL, "%s needs a scalar (a number), not a %s", what,
		        v.type == V_VECTOR ? "vector" : "range vector");
	return v.s;
}

static val_t eval_call(ctx_t *c, const ds_pq_node_t *n, int64_t t)
{
	const char *f = n->str;
	const struct fn_info *fi = fn_find(f);
	if (!strcmp(f, "time")) {
		val_t v = {.type = V_SCALAR, .s = (double)t / 1e9};
		return v;
	}
	if (!strcmp(f, "vector")) {
		val_t v = vec_new();
		vec_push(c, &v, (ls_t){0}, scalar_of(c, n->arg[0], t, "vector()"));
		return v;
	}
	if (!strcmp(f, "histogram_quantile")) {
		double q = scalar_of(c, n->arg[0], t, "histogram_quantile()'s first argument");
		val_t in = eval(c, n->arg[1], t);
		if (in.type != V_VECTOR)
			ev_fail(c, DS_EINVAL,
			        "histogram_quantile() needs an instant vector of buckets");
		return eval_hquantile(c, q, in);
	}
	val_t a = eval(c, n->arg[0], t);
	if (fi->range_arg) {
		if (a.type != V_MATRIX)
			ev_fail(c, DS_EINVAL, "%s() needs a range vector, e.g. %s(x[5m])", f, f);
		if (!strcmp(f, "rate"))
			return eval_rate(c, a, true, true);
		if (!strcmp(f, "increase"))
			return eval_rate(c, a, true, false);
		if (!strcmp(f, "delta"))
			return eval_rate(c, a, false, false);
		if (!strcmp(f, "irate"))
			return eval_irate(c, a);
		return eval_over_time(c, a, f);
	}
	if (a.type == V_MATRIX)
		ev_fail(c, DS_EINVAL, "%s() needs an instant vector, not a range vector", f);
	if (!strcmp(f, "scalar")) {
		if (a.type != V_VECTOR)
			ev_fail(c, DS_EINVAL, "scalar() needs an instant vector");
		val_t v = {.type = V_SCALAR, .s = a.n == 1 ? a.e[0].v : NAN};
		return v;
	}
	if (!strcmp(f, "absent")) {
		if (a.type != V_VECTOR)
			ev_fail(c, DS_EINVAL, "absent() needs an instant vector");
		val_t v = vec_new();
		if (!a.n) {
			/* labels of the equality matchers, as Prometheus does */
			const ds_pq_node_t *s = n->arg[0];
			ls_t ls = {amalloc(c, (s->nm + 1) * sizeof(lp_t)), 0};
			if (s->kind == DS_PQ_SEL)
				for (size_t i = 0; i < s->nm; i++)
					if (s->m[i].op == DS_PQ_EQ &&
					    strcmp(s->m[i].name, NAME_LABEL))
						ls.l[ls.n++] = (lp_t){s->m[i].name, s->m[i].value};
			qsort(ls.l, ls.n, sizeof(lp_t), lp_cmp);
			vec_push(c, &v, ls, 1);
		}
		return v;
	}
	if (a.type != V_VECTOR)
		ev_fail(c, DS_EINVAL, "%s() needs an instant vector", f);
	double lo = -INFINITY, hi = INFINITY;
	if (!strcmp(f, "clamp_min"))
		lo = scalar_of(c, n->arg[1], t, "clamp_min()");
	if (!strcmp(f, "clamp_max"))
		hi = scalar_of(c, n->arg[1], t, "clamp_max()");
	if (!strcmp(f, "clamp")) {
		lo = scalar_of(c, n->arg[1], t, "clamp()");
		hi = scalar_of(c, n->arg[2], t, "clamp()");
		if (lo > hi)
			return vec_new();
	}
	val_t out = vec_new();
	for (size_t i = 0; i < a.n; i++) {
		double x = a.e[i].v, r = x;
		if (!strcmp(f, "abs"))
			r = fabs(x);
		else if (!strcmp(f, "ceil"))
			r = ceil(x);
		else if (!strcmp(f, "floor"))
			r = floor(x);
		else if (!strcmp(f, "sqrt"))
			r = sqrt(x);
		else if (!strcmp(f, "exp"))
			r = exp(x);
		else if (!strcmp(f, "ln"))
			r = log(x);
		else if (!strcmp(f, "log2"))
			r = log2(x);
		else if (!strcmp(f, "log10"))
			r = log10(x);
		else
			r = fmax(lo, fmin(hi, x));
		vec_push(c, &out, ls_del(c, a.e[i].ls, NAME_LABEL), r);
	}
	return out;
}

static val_t eval_agg(ctx_t *c, const ds_pq_node_t *n, int64_t t)
{
	val_t in = eval(c, n->arg[0], t);
	if (in.type != V_VECTOR)
		ev_fail(c, DS_EINVAL, "%s() needs an instant vector", n->str);
	const char *op = n->str;
	size_t ng = 0;
	const char **sig = amalloc(c, (in.n + 1) * sizeof(*sig));
	ls_t *gls = amalloc(c, (in.n + 1) * sizeof(*gls));
	double *acc = amalloc(c, (in.n + 1) * sizeof(*acc));
	double *cnt = amalloc(c, (in.n + 1) * sizeof(*cnt));
	for (size_t i = 0; i < in.n; i++) {
		const smp_t *e = &in.e[i];
		/* by (..) keeps the listed labels; without (..) drops them and the name */
		const char *s = ls_sig(c, e->ls, !n->without, n->labels, n->nlabels);
		size_t g = 0;
		while (g < ng && strcmp(sig[g], s))
			g++;
		if (g == ng) {
			ls_t ls = {amalloc(c, (e->ls.n + 1) * sizeof(lp_t)), 0};
			for (size_t k = 0; k < e->ls.n; k++) {
				const char *key = e->ls.l[k].k;
				bool listed = in_list(n->labels, n->nlabels, key);
				if (n->without ? (listed || !strcmp(key, NAME_LABEL)) : !listed)
					continue;
				ls.l[ls.n++] = e->ls.l[k];
			}
			sig[ng] = s;
			gls[ng] = ls;
			acc[ng] = e->v;
			cnt[ng] = 1;
			if (!strcmp(op, "avg"))
				acc[ng] = e->v;
			ng++;
			continue;
		}
		cnt[g]++;
		if (!strcmp(op, "sum"))
			acc[g] += e->v;
		else if (!strcmp(op, "avg"))
			acc[g] += e->v / cnt[g] - acc[g] / cnt[g];
		else if (!strcmp(op, "min")) {
			if (acc[g] > e->v || isnan(acc[g]))
				acc[g] = e->v;
		} else if (!strcmp(op, "max")) {
			if (acc[g] < e->v || isnan(acc[g]))
				acc[g] = e->v;
		}
	}
	val_t out = vec_new();
	for (size_t g = 0; g < ng; g++) {
		double v = acc[g];
		if (!strcmp(op, "count"))
			v = cnt[g];
		else if (!strcmp(op, "group"))
			v = 1;
		vec_push(c, &out, gls[g], v);
	}
	return out;
}

static double arith(ctx_t *c, const char *op, double a, double b, bool *keep)
{
	*keep = true;
	switch (op[0]) {
	case '+':
		return a + b;
	case '-':
		return a - b;
	case '*':
		return a * b;
	case '/':
		return a / b;
	case '%':
		return fmod(a, b);
	case '^':
		return pow(a, b);
	}
	bool r = false;
	if (!strcmp(op, "=="))
		r = a == b;
	else if (!strcmp(op, "!="))
		r = a != b;
	else if (!strcmp(op, ">"))
		r = a > b;
	else if (!strcmp(op, "<"))
		r = a < b;
	else if (!strcmp(op, ">="))
		r = a >= b;
	else if (!strcmp(op, "<="))
		r = a <= b;
	else
		ev_fail(c, DS_EINVAL, "operator %s is not supported", op);
	*keep = r;
	return r;
}

/* The labels a binary operation's result element gets. */
static ls_t result_labels(ctx_t *c, const ds_pq_node_t *n, ls_t ls, bool drop_name)
{
	if (drop_name)
		ls = ls_del(c, ls, NAME_LABEL);
	if (n->grouped) {
		ls_t o = {amalloc(c, (ls.n + 1) * sizeof(lp_t)), 0};
		for (size_t i = 0; i < ls.n; i++) {
			bool listed = in_list(n->labels, n->nlabels, ls.l[i].k);
			if (n->on ? listed : !listed)
				o.l[o.n++] = ls.l[i];
		}
		ls = o;
	}
	return ls;
}

/* One-to-one matching: for each lhs element, the index of its rhs partner
 * (SIZE_MAX if none). Errors on duplicates as Prometheus does. */
static size_t *match_vectors(ctx_t *c, const ds_pq_node_t *n, val_t l, val_t r)
{
	const char **rs = amalloc(c, (r.n + 1) * sizeof(*rs));
	const char **lsig = amalloc(c, (l.n + 1) * sizeof(*lsig));
	size_t *p = amalloc(c, (l.n + 1) * sizeof(*p));
	for (size_t j = 0; j < r.n; j++) {
		rs[j] = ls_sig(c, r.e[j].ls, n->on, n->labels, n->nlabels);
		for (size_t k = 0; k < j; k++)
			if (!strcmp(rs[k], rs[j]))
				ev_fail(c, DS_EINVAL,
				        "found duplicate series for the match group on the right "
				        "side of "
				        "'%s': many-to-many matching not allowed",
				        n->str);
	}
	for (size_t i = 0; i < l.n; i++) {
		lsig[i] = ls_sig(c, l.e[i].ls, n->on, n->labels, n->nlabels);
		p[i] = SIZE_MAX;
		for (size_t j = 0; j < r.n; j++)
			if (!strcmp(lsig[i], rs[j])) {
				p[i] = j;
				break;
			}
		for (size_t k = 0; k < i && p[i] != SIZE_MAX; k++)
			if (p[k] == p[i])
				ev_fail(c, DS_EINVAL,
				        "multiple matches for labels on the left side of '%s': "
				        "many-to-one matching must be explicit (group_left)",
				        n->str);
	}
	return p;
}

static val_t eval_bin_vals(ctx_t *c, const ds_pq_node_t *n, val_t l, val_t r)
{
	const char *op = n->str;
	bool cmp = is_cmp_op(op), keep;
	if (l.type == V_MATRIX || r.type == V_MATRIX || l.type == V_STRING || r.type == V_STRING)
		ev_fail(c, DS_EINVAL, "operator %s needs scalars or instant vectors", op);
	if (is_set_op(op)) {
		if (l.type != V_VECTOR || r.type != V_VECTOR)
			ev_fail(c, DS_EINVAL, "set operator %s needs two instant vectors", op);
		val_t out = vec_new();
		const char **rs = amalloc(c, (r.n + 1) * sizeof(*rs));
		for (size_t j = 0; j < r.n; j++)
			rs[j] = ls_sig(c, r.e[j].ls, n->on, n->labels, n->nlabels);
		const char **lsg = amalloc(c, (l.n + 1) * sizeof(*lsg));
		for (size_t i = 0; i < l.n; i++) {
			lsg[i] = ls_sig(c, l.e[i].ls, n->on, n->labels, n->nlabels);
			bool found = false;
			for (size_t j = 0; j < r.n && !found; j++)
				found = !strcmp(lsg[i], rs[j]);
			if (!strcmp(op, "or") || (!strcmp(op, "and") == found))
				vec_push(c, &out, l.e[i].ls, l.e[i].v);
		}
		if (!strcmp(op, "or"))
			for (size_t j = 0; j < r.n; j++) {
				bool found = false;
				for (size_t i = 0; i < l.n && !found; i++)
					found = !strcmp(lsg[i], rs[j]);
				if (!found)
					vec_push(c, &out, r.e[j].ls, r.e[j].v);
			}
		return out;
	}
	if (l.type == V_SCALAR && r.type == V_SCALAR) {
		if (cmp && !n->bool_mod)
			ev_fail(c, DS_EINVAL,
			        "comparisons between scalars must use the bool modifier");
		val_t v = {.type = V_SCALAR, .s = arith(c, op, l.s, r.s, &keep)};
		return v;
	}
	val_t out = vec_new();
	bool drop = !cmp || n->bool_mod;
	if (l.type == V_SCALAR || r.type == V_SCALAR) {
		bool vl = l.type == V_VECTOR;
		val_t vec = vl ? l : r;
		for (size_t i = 0; i < vec.n; i++) {
			double a = vl ? vec.e[i].v : l.s, b = vl ? r.s : vec.e[i].v;
			double x = arith(c, op, a, b, &keep);
			if (cmp && !n->bool_mod) {
				if (keep)
					vec_push(c, &out, vec.e[i].ls, vec.e[i].v);
				continue;
			}
			vec_push(c, &out, drop ? ls_del(c, vec.e[i].ls, NAME_LABEL) : vec.e[i].ls,
			         x);
		}
		return out;
	}
	size_t *p = match_vectors(c, n, l, r);
	for (size_t i = 0; i < l.n; i++) {
		if (p[i] == SIZE_MAX)
			continue;
		double x = arith(c, op, l.e[i].v, r.e[p[i]].v, &keep);
		if (cmp && !n->bool_mod && !keep)
			continue;
		vec_push(c, &out, result_labels(c, n, l.e[i].ls, drop),
		         cmp && !n->bool_mod ? l.e[i].v : x);
	}
	return out;
}

static val_t eval(ctx_t *c, const ds_pq_node_t *n, int64_t t)
{
	switch (n->kind) {
	case DS_PQ_NUM: {
		val_t v = {.type = V_SCALAR, .s = n->num};
		return v;
	}
	case DS_PQ_STR: {
		val_t v = {.type = V_STRING, .str = n->str};
		return v;
	}
	case DS_PQ_SEL:
		return eval_selector(c, n, t);
	case DS_PQ_CALL:
		return eval_call(c, n, t);
	case DS_PQ_AGG:
		return eval_agg(c, n, t);
	case DS_PQ_PAREN:
		return eval(c, n->arg[0], t);
	case DS_PQ_NEG: {
		val_t v = eval(c, n->arg[0], t);
		if (v.type == V_SCALAR) {
			v.s = -v.s;
			return v;
		}
		if (v.type != V_VECTOR)
			ev_fail(c, DS_EINVAL, "unary minus needs a scalar or an instant vector");
		val_t out = vec_new();
		for (size_t i = 0; i < v.n; i++)
			vec_push(c, &out, ls_del(c, v.e[i].ls, NAME_LABEL), -v.e[i].v);
		return out;
	}
	case DS_PQ_BIN:
		return eval_bin_vals(c, n, eval(c, n->arg[0], t), eval(c, n->arg[1], t));
	}
	ev_fail(c, DS_EINVAL, "unknown node");
	return (val_t){0};
}

static const ds_pq_node_t *strip_paren(const ds_pq_node_t *n)
{
	while (n->kind == DS_PQ_PAREN)
		n = n->arg[0];
	return n;
}

static void elem_add(ctx_t *c, ds_promql_result_t *r, ls_t ls, double v, double thr, int held)
{
	ds_promql_elem_t *ne = realloc(r->e, (r->n + 1) * sizeof(*ne));
	if (!ne)
		ev_fail(c, DS_ENOMEM, "out of memory");
	r->e = ne;
	ds_promql_elem_t *e = &r->e[r->n];
	e->series = ls_text(&ls);
	if (!e->series)
		ev_fail(c, DS_ENOMEM, "out of memory");
	r->n++;
	e->value = v;
	e->threshold = thr;
	e->held = held;
	r->n_held += held == 1;
}

/* Fill r from the tree: a top-level filtering comparison keeps both sides. */
static void eval_top(ctx_t *c, const ds_pq_node_t *root, ds_promql_result_t *r)
{
	const ds_pq_node_t *n = strip_paren(root);
	bool keep;
	if (n->kind == DS_PQ_BIN && is_cmp_op(n->str) && !n->bool_mod) {
		val_t l = eval(c, n->arg[0], c->t), rv = eval(c, n->arg[1], c->t);
		if (l.type == V_SCALAR && rv.type == V_SCALAR)
			ev_fail(c, DS_EINVAL,
			        "comparisons between scalars must use the bool modifier");
		if (l.type == V_MATRIX || rv.type == V_MATRIX)
			ev_fail(c, DS_EINVAL, "operator %s needs scalars or instant vectors",
			        n->str);
		r->comparison = true;
		snprintf(r->op, sizeof(r->op), "%s", n->str);
		if (rv.type == V_SCALAR) {
			for (size_t i = 0; i < l.n; i++) {
				arith(c, n->str, l.e[i].v, rv.s, &keep);
				elem_add(c, r, l.e[i].ls, l.e[i].v, rv.s, keep);
			}
		} else if (l.type == V_SCALAR) {
			for (size_t i = 0; i < rv.n; i++) {
				arith(c, n->str, l.s, rv.e[i].v, &keep);
				elem_add(c, r, rv.e[i].ls, rv.e[i].v, l.s, keep);
			}
		} else {
			size_t *p = match_vectors(c, n, l, rv);
			size_t unmatched = 0;
			for (size_t i = 0; i < l.n; i++) {
				if (p[i] == SIZE_MAX) {
					unmatched++;
					continue;
				}
				arith(c, n->str, l.e[i].v, rv.e[p[i]].v, &keep);
				elem_add(c, r, result_labels(c, n, l.e[i].ls, false), l.e[i].v,
				         rv.e[p[i]].v, keep);
			}
			if (unmatched && !c->note[0])
				snprintf(c->note, sizeof(c->note),
				         "%zu left-side series had no partner on the right",
				         unmatched);
		}
		r->firing = r->n_held > 0;
		return;
	}
	val_t v = eval(c, root, c->t);
	if (v.type == V_SCALAR) {
		r->scalar = true;
		elem_add(c, r, (ls_t){0}, v.s, NAN, -1);
		free(r->e[0].series);
		r->e[0].series = strdup("");
		if (!r->e[0].series)
			ev_fail(c, DS_ENOMEM, "out of memory");
	} else if (v.type == V_VECTOR) {
		for (size_t i = 0; i < v.n; i++)
			elem_add(c, r, v.e[i].ls, v.e[i].v, NAN, -1);
	} else {
		ev_fail(c, DS_EINVAL, "the expression must give a scalar or an instant vector");
	}
	r->firing = r->n > 0;
}

int ds_promql_eval(const ds_promql_t *e, const ds_promql_data_t *d, const ds_promql_opts_t *o,
                   ds_promql_result_t *r, ds_err_t *err)
{
	memset(r, 0, sizeof(*r));
	ctx_t *c = calloc(1, sizeof(*c));
	if (!c)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	c->err = err;
	c->d = d;
	c->t = o->t_ns;
	c->window = o->window_ns;
	c->lookback = o->lookback_ns > 0 ? o->lookback_ns : LOOKBACK_NS;
	int rc = DS_OK;
	if (setjmp(c->jb) == 0) {
		eval_top(c, e->root, r);
		snprintf(r->note, sizeof(r->note), "%s", c->note);
	} else {
		rc = c->code;
	}
	arena_free(c);
	free(c);
	return rc;
}

void ds_promql_result_free(ds_promql_result_t *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].series);
	free(r->e);
	memset(r, 0, sizeof(*r));
}

int ds_promql_check(ds_store_t *db, int64_t run_id, const char *expr, int64_t t0_ns, int64_t t1_ns,
                    ds_promql_result_t *r, ds_err_t *err)
{
	memset(r, 0, sizeof(*r));
	if (t1_ns <= t0_ns)
		return ds_errf(err, DS_EINVAL, "empty window");
	ds_promql_t *e = ds_promql_parse(expr, err);
	if (!e)
		return DS_EINVAL;
	ds_promql_data_t *d = ds_promql_data_new();
	int rc = d ? DS_OK : ds_errf(err, DS_ENOMEM, "out of memory");
	/* Instant selectors may look back 5 minutes before the window's end. */
	if (rc == DS_OK)
		rc = ds_promql_data_load(d, db, run_id, DS_MIN(t0_ns, t1_ns - LOOKBACK_NS), t1_ns,
		                         err);
	if (rc == DS_OK) {
		ds_promql_opts_t o = {.t_ns = t1_ns, .window_ns = t1_ns - t0_ns};
		rc = ds_promql_eval(e, d, &o, r, err);
	}
	ds_promql_data_free(d);
	ds_promql_free(e);
	return rc;
}

int ds_promql_eval_for(const ds_promql_t *e, const ds_promql_data_t *d, int64_t t0, int64_t t1,
                       int64_t step, int64_t for_ns, ds_promql_for_t *out, ds_err_t *err)
{
	memset(out, 0, sizeof(*out));
	out->worst = NAN;
	if (step <= 0)
		return ds_errf(err, DS_EINVAL, "the evaluation step must be positive");
	int64_t active_since = -1;
	for (int64_t t = t0 + step; t <= t1; t += step) {
		ds_promql_result_t r;
		ds_promql_opts_t o = {.t_ns = t};
		int rc = ds_promql_eval(e, d, &o, &r, err);
		if (rc < 0) {
			ds_promql_result_free(&r);
			return rc;
		}
		out->steps++;
		for (size_t i = 0; i < r.n; i++)
			if (r.e[i].held != 0 && !isnan(r.e[i].value) &&
			    (isnan(out->worst) || r.e[i].value > out->worst))
				out->worst = r.e[i].value;
		if (r.firing) {
			out->active_steps++;
			if (active_since < 0)
				active_since = t;
			/* Prometheus fires once the alert has been pending for `for`. */
			if (t - active_since > out->longest_ns)
				out->longest_ns = t - active_since;
			if (!out->fired && t - active_since >= for_ns) {
				out->fired = true;
				out->fired_at_ns = t;
			}
		} else {
			active_since = -1;
		}
		ds_promql_result_free(&r);
	}
	return DS_OK;
}
