/* SPDX-License-Identifier: MIT */
/*
 * A Go text/template subset: a template is a list of nodes, text or one
 * expression each. Expressions are small trees built at setup; rendering
 * walks them and writes into the caller's buffer, so it allocates nothing.
 */
#include "server/plugins/template/tmpl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ek { E_FIELD, E_STR, E_NUM, E_INDEX, E_PARSEINT, E_META };
enum fld {
	F_NAME,
	F_ZONE,
	F_CLASS,
	F_TYPE,
	F_REMOTE,
	F_MATCH,
	F_GROUP,
	F_GROUPKEY,
	F_QNAME,
	F_QTYPE,
	F_QCLASS,
	F_MSGID,
};

typedef struct expr {
	enum ek k;
	enum fld f;
	char *s; /* literal, or the key of .Group.KEY */
	size_t n;
	long long num;
	struct expr *a[3];
} expr_t;

typedef struct node {
	char *text;
	size_t len;
	expr_t *e; /* NULL: text node */
} node_t;

struct ds_tmpl {
	node_t *nodes;
	size_t n;
	unsigned needs;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) DS_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return DS_EINVAL;
}

static void expr_free(expr_t *e)
{
	if (!e)
		return;
	for (int i = 0; i < 3; i++)
		expr_free(e->a[i]);
	free(e->s);
	free(e);
}

void ds_tmpl_free(ds_tmpl_t *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].text);
		expr_free(t->nodes[i].e);
	}
	free(t->nodes);
	free(t);
}

/* ------------------------------------------------------- action parser */

typedef struct ap {
	const char *s;
	size_t n, i;
	unsigned *needs;
	char *err;
	size_t errlen;
} ap_t;

static void ap_space(ap_t *p)
{
	while (p->i < p->n && isspace((unsigned char)p->s[p->i]))
		p->i++;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static expr_t *new_expr(enum ek k)
{
	expr_t *e = calloc(1, sizeof(*e));
	if (e)
		e->k = k;
	return e;
}

/* ".A.B" at p->i into a field expression. */
static expr_t *parse_field(ap_t *p)
{
	char path[3][64];
	int np = 0;
	while (p->i < p->n && p->s[p->i] == '.' && np < 3) {
		size_t st = ++p->i;
		while (p->i < p->n && ident_char(p->s[p->i]))
			p->i++;
		size_t l = p->i - st;
		if (l == 0 || l >= sizeof(path[0])) {
			fail(p->err, p->errlen, "bad field name");
			return NULL;
		}
		memcpy(path[np], p->s + st, l);
		path[np++][l] = '\0';
	}
	expr_t *e = new_expr(E_FIELD);
	if (!e)
		return NULL;
	static const struct {
		const char *a, *b;
		enum fld f;
		unsigned need;
	} known[] = {
	    {"Name", NULL, F_NAME, DS_TN_NAME},
	    {"Zone", NULL, F_ZONE, 0},
	    {"Class", NULL, F_CLASS, 0},
	    {"Type", NULL, F_TYPE, 0},
	    {"Remote", NULL, F_REMOTE, DS_TN_REMOTE},
	    {"Match", NULL, F_MATCH, DS_TN_MATCH},
	    {"Group", NULL, F_GROUP, DS_TN_MATCH},
	    {"Question", "Name", F_QNAME, DS_TN_QNAME},
	    {"Question", "Qtype", F_QTYPE, 0},
	    {"Question", "Qclass", F_QCLASS, 0},
	    {"Message", "Id", F_MSGID, 0},
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(known); i++) {
		if (strcmp(path[0], known[i].a) != 0)
			continue;
		if (np == 1 && !known[i].b) {
			e->f = known[i].f;
			*p->needs |= known[i].need;
			return e;
		}
		if (np == 2 && known[i].b && !strcmp(path[1], known[i].b)) {
			e->f = known[i].f;
			*p->needs |= known[i].need;
			return e;
		}
	}
	if (np == 2 && !strcmp(path[0], "Group")) {
		e->f = F_GROUPKEY;
		e->s = strdup(path[1]);
		*p->needs |= DS_TN_MATCH;
		if (e->s)
			return e;
	}
	free(e);
	if (np >= 1 && !strcmp(path[0], "Meta"))
		fail(p->err, p->errlen, ".Meta needs a key: {{ .Meta \"name\" }}");
	else
		fail(p->err, p->errlen, "field .%s%s%s is not supported", np ? path[0] : "",
		     np > 1 ? "." : "", np > 1 ? path[1] : "");
	return NULL;
}

static expr_t *parse_command(ap_t *p);

static expr_t *parse_operand(ap_t *p)
{
	ap_space(p);
	if (p->i >= p->n) {
		fail(p->err, p->errlen, "missing value");
		return NULL;
	}
	char c = p->s[p->i];
	if (c == '(') {
		p->i++;
		expr_t *e = parse_command(p);
		ap_space(p);
		if (e && (p->i >= p->n || p->s[p->i] != ')')) {
			expr_free(e);
			fail(p->err, p->errlen, "unclosed (");
			return NULL;
		}
		p->i++;
		return e;
	}
	if (c == '.')
		return parse_field(p);
	if (c == '"' || c == '`') {
		char q = c;
		size_t st = ++p->i;
		char buf[512];
		size_t o = 0;
		while (p->i < p->n && p->s[p->i] != q) {
			char ch = p->s[p->i++];
			if (q == '"' && ch == '\\' && p->i < p->n) {
				ch = p->s[p->i++];
				ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
			}
			if (o < sizeof(buf) - 1)
				buf[o++] = ch;
		}
		if (p->i >= p->n) {
			fail(p->err, p->errlen, "unterminated string");
			return NULL;
		}
		p->i++;
		(void)st;
		expr_t *e = new_expr(E_STR);
		if (!e || !(e->s = malloc(o + 1))) {
			free(e);
			return NULL;
		}
		memcpy(e->s, buf, o);
		e->s[o] = '\0';
		e->n = o;
		return e;
	}
	if (isdigit((unsigned char)c) || c == '-') {
		char *end;
		long long v = strtoll(p->s + p->i, &end, 10);
		if (end == p->s + p->i) {
			fail(p->err, p->errlen, "bad number");
			return NULL;
		}
		p->i = (size_t)(end - p->s);
		expr_t *e = new_expr(E_NUM);
		if (e)
			e->num = v;
		return e;
	}
	if (c == '$') {
		fail(p->err, p->errlen, "template variables are not supported");
		return NULL;
	}
	size_t st = p->i;
	while (p->i < p->n && ident_char(p->s[p->i]))
		p->i++;
	fail(p->err, p->errlen, "\"%.*s\" is not supported in templates", (int)(p->i - st),
	     p->s + st);
	return NULL;
}

static bool at_word(ap_t *p, const char *w)
{
	size_t l = strlen(w);
	return p->i + l <= p->n && !memcmp(p->s + p->i, w, l) &&
	       (p->i + l == p->n || !ident_char(p->s[p->i + l]));
}

static expr_t *parse_command(ap_t *p)
{
	ap_space(p);
	expr_t *e = NULL;
	if (at_word(p, "index") || at_word(p, "parseInt")) {
		bool idx = at_word(p, "index");
		p->i += idx ? 5 : 8;
		e = new_expr(idx ? E_INDEX : E_PARSEINT);
		if (!e)
			return NULL;
		for (int k = 0; k < (idx ? 2 : 3); k++)
			if (!(e->a[k] = parse_operand(p))) {
				expr_free(e);
				return NULL;
			}
		if (idx &&
		    (e->a[0]->k != E_FIELD || (e->a[0]->f != F_MATCH && e->a[0]->f != F_GROUP))) {
			expr_free(e);
			fail(p->err, p->errlen, "index works on .Match and .Group only");
			return NULL;
		}
	} else if (p->i + 5 <= p->n && !memcmp(p->s + p->i, ".Meta", 5) &&
	           (p->i + 5 == p->n || !ident_char(p->s[p->i + 5]))) {
		p->i += 5;
		e = new_expr(E_META);
		if (!e || !(e->a[0] = parse_operand(p))) {
			expr_free(e);
			return NULL;
		}
	} else if (!(e = parse_operand(p))) {
		return NULL;
	}
	ap_space(p);
	if (p->i < p->n && p->s[p->i] != ')') {
		expr_free(e);
		if (p->s[p->i] == '|')
			fail(p->err, p->errlen, "pipelines are not supported");
		else
			fail(p->err, p->errlen, "unexpected \"%.*s\"", (int)(p->n - p->i),
			     p->s + p->i);
		return NULL;
	}
	return e;
}

static int add_node(ds_tmpl_t *t, const char *text, size_t len, expr_t *e)
{
	node_t *nn = realloc(t->nodes, (t->n + 1) * sizeof(*nn));
	if (!nn)
		return DS_ENOMEM;
	t->nodes = nn;
	node_t *nd = &t->nodes[t->n++];
	nd->text = NULL;
	nd->len = len;
	nd->e = e;
	if (!e) {
		nd->text = malloc(len + 1);
		if (!nd->text)
			return DS_ENOMEM;
		memcpy(nd->text, text, len);
		nd->text[len] = '\0';
	}
	return DS_OK;
}

ds_tmpl_t *ds_tmpl_parse(const char *src, char *err, size_t errlen)
{
	ds_tmpl_t *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	size_t len = strlen(src), i = 0;
	bool trim_next = false;
	while (i <= len) {
		const char *open = strstr(src + i, "{{");
		size_t j = open ? (size_t)(open - src) : len;
		size_t ts = i, te = j;
		if (trim_next)
			while (ts < te && isspace((unsigned char)src[ts]))
				ts++;
		size_t k = j + 2;
		bool trim_prev =
		    open && k + 1 < len && src[k] == '-' && isspace((unsigned char)src[k + 1]);
		if (trim_prev)
			while (te > ts && isspace((unsigned char)src[te - 1]))
				te--;
		if (te > ts && add_node(t, src + ts, te - ts, NULL) < 0)
			goto fail;
		if (!open)
			break;
		if (trim_prev)
			k++;
		/* the action ends at the first "}}" outside a string */
		size_t e = k;
		char q = 0;
		for (; e + 1 < len; e++) {
			char c = src[e];
			if (q) {
				if (c == '\\' && q == '"')
					e++;
				else if (c == q)
					q = 0;
			} else if (c == '"' || c == '`') {
				q = c;
			} else if (c == '}' && src[e + 1] == '}') {
				break;
			}
		}
		if (e + 1 >= len) {
			fail(err, errlen, "unclosed action");
			goto fail;
		}
		size_t ae = e;
		trim_next =
		    ae >= k + 2 && src[ae - 1] == '-' && isspace((unsigned char)src[ae - 2]);
		if (trim_next)
			ae--;
		while (k < ae && isspace((unsigned char)src[k]))
			k++;
		while (ae > k && isspace((unsigned char)src[ae - 1]))
			ae--;
		if (ae - k >= 4 && !memcmp(src + k, "/*", 2) && !memcmp(src + ae - 2, "*/", 2)) {
			i = e + 2;
			continue; /* comment */
		}
		if (ae == k) {
			fail(err, errlen, "missing value for command");
			goto fail;
		}
		static const char *const unsupported[] = {
		    "if",    "else",  "end",      "range",  "with",  "define", "template",
		    "block", "break", "continue", "printf", "print", "len"};
		ap_t p = {src + k, ae - k, 0, &t->needs, err, errlen};
		for (size_t u = 0; u < DS_ARRAY_SIZE(unsupported); u++)
			if (at_word(&p, unsupported[u])) {
				fail(err, errlen, "\"%s\" is not supported in templates",
				     unsupported[u]);
				goto fail;
			}
		expr_t *ex = parse_command(&p);
		if (!ex)
			goto fail;
		if (p.i < p.n) {
			expr_free(ex);
			fail(err, errlen, "unexpected \")\"");
			goto fail;
		}
		if (add_node(t, NULL, 0, ex) < 0) {
			expr_free(ex);
			goto fail;
		}
		i = e + 2;
	}
	return t;
fail:
	ds_tmpl_free(t);
	return NULL;
}

unsigned ds_tmpl_needs(const ds_tmpl_t *t)
{
	return t->needs;
}

bool ds_tmpl_is_static(const ds_tmpl_t *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].e)
			return false;
	return true;
}

bool ds_tmpl_is_name(const ds_tmpl_t *t)
{
	size_t actions = 0;
	for (size_t i = 0; i < t->n; i++) {
		const node_t *nd = &t->nodes[i];
		if (nd->e) {
			if (nd->e->k != E_FIELD || nd->e->f != F_NAME)
				return false;
			actions++;
		} else {
			for (size_t k = 0; k < nd->len; k++)
				if (!isspace((unsigned char)nd->text[k]))
					return false;
		}
	}
	return actions == 1;
}

/* ------------------------------------------------------------ execution */

enum vk { V_STR, V_UINT, V_INT, V_MATCH, V_GROUP };

typedef struct val {
	enum vk k;
	const char *s;
	size_t n;
	unsigned long long u;
	long long i;
} val_t;

static val_t str_val(const char *s)
{
	val_t v = {V_STR, s ? s : "", s ? strlen(s) : 0, 0, 0};
	return v;
}

static val_t group_val(const ds_tmpl_data_t *d, int g)
{
	val_t v = {V_STR, "", 0, 0, 0};
	if (g < d->ngroups && d->so[g] >= 0) {
		v.s = d->subject + d->so[g];
		v.n = (size_t)(d->eo[g] - d->so[g]);
	}
	return v;
}

/* Go's Group map: named groups, plus every group under its number. */
static int group_by_key(const ds_tmpl_data_t *d, const char *key, size_t n)
{
	for (int g = d->ngroups - 1; g >= 0; g--)
		if (d->gnames && d->gnames[g] && strlen(d->gnames[g]) == n &&
		    !memcmp(d->gnames[g], key, n))
			return g;
	if (n == 0 || n > 9)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)key[i]))
			return -1;
		v = v * 10 + key[i] - '0';
	}
	/* strconv.Itoa keys have no leading zeros */
	if ((n > 1 && key[0] == '0') || v >= d->ngroups)
		return -1;
	return v;
}

static int eval(const expr_t *e, const ds_tmpl_data_t *d, val_t *out, char *err, size_t errlen);

static int parse_uint_go(const char *s, size_t n, long long base, long long bits,
                         unsigned long long *out, char *err, size_t errlen)
{
	char buf[80];
	if (n == 0 || n >= sizeof(buf))
		return fail(err, errlen,
		            "error calling parseInt: strconv.ParseUint: parsing \"%.*s\": "
		            "invalid syntax",
		            (int)n, s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (bits == 0)
		bits = 64;
	if (bits < 0 || bits > 64 || (base != 0 && (base < 2 || base > 36)))
		return fail(err, errlen, "error calling parseInt: invalid base or bit size");
	const char *p = buf;
	if (base == 0) {
		base = 10;
		if (p[0] == '0' && p[1]) {
			char c = (char)(p[1] | 0x20);
			if (c == 'x') {
				base = 16;
				p += 2;
			} else if (c == 'o') {
				base = 8;
				p += 2;
			} else if (c == 'b') {
				base = 2;
				p += 2;
			} else {
				base = 8;
				p += 1;
			}
		}
	}
	unsigned long long v = 0, max = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
	if (!*p)
		goto bad;
	for (; *p; p++) {
		int dv;
		char c = *p;
		if (c >= '0' && c <= '9')
			dv = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			dv = (c | 0x20) - 'a' + 10;
		else
			goto bad;
		if (dv >= base)
			goto bad;
		if (v > (max - (unsigned long long)dv) / (unsigned long long)base)
			return fail(err, errlen,
			            "error calling parseInt: strconv.ParseUint: parsing "
			            "\"%s\": value out of range",
			            buf);
		v = v * (unsigned long long)base + (unsigned long long)dv;
	}
	*out = v;
	return DS_OK;
bad:
	return fail(err, errlen,
	            "error calling parseInt: strconv.ParseUint: parsing \"%s\": "
	            "invalid syntax",
	            buf);
}

static int eval(const expr_t *e, const ds_tmpl_data_t *d, val_t *out, char *err, size_t errlen)
{
	val_t a, b, c;
	int rc;
	switch (e->k) {
	case E_STR:
		*out = (val_t){V_STR, e->s, e->n, 0, 0};
		return DS_OK;
	case E_NUM:
		*out = (val_t){V_INT, NULL, 0, 0, e->num};
		return DS_OK;
	case E_META:
		/* no metadata plugin: every key reads as empty, as in CoreDNS */
		*out = str_val("");
		return DS_OK;
	case E_FIELD:
		switch (e->f) {
		case F_NAME:
			*out = str_val(d->name);
			break;
		case F_ZONE:
			*out = str_val(d->zone);
			break;
		case F_CLASS:
			*out = str_val(d->cls);
			break;
		case F_TYPE:
			*out = str_val(d->type);
			break;
		case F_REMOTE:
			*out = str_val(d->remote);
			break;
		case F_QNAME:
			*out = str_val(d->qname);
			break;
		case F_QTYPE:
			*out = (val_t){V_UINT, NULL, 0, d->qtype, 0};
			break;
		case F_QCLASS:
			*out = (val_t){V_UINT, NULL, 0, d->qclass, 0};
			break;
		case F_MSGID:
			*out = (val_t){V_UINT, NULL, 0, d->id, 0};
			break;
		case F_MATCH:
			*out = (val_t){V_MATCH, NULL, 0, 0, 0};
			break;
		case F_GROUP:
			*out = (val_t){V_GROUP, NULL, 0, 0, 0};
			break;
		case F_GROUPKEY: {
			int g = group_by_key(d, e->s, strlen(e->s));
			/* a missing map key prints as Go's "<no value>" */
			*out = g < 0 ? str_val("<no value>") : group_val(d, g);
			break;
		}
		}
		return DS_OK;
	case E_INDEX:
		if ((rc = eval(e->a[1], d, &b, err, errlen)) < 0)
			return rc;
		if (e->a[0]->f == F_MATCH) {
			long long ix = b.k == V_INT ? b.i : b.k == V_UINT ? (long long)b.u : -1;
			if (b.k == V_STR)
				return fail(err, errlen,
				            "error calling index: cannot index slice/array "
				            "with type string");
			if (ix < 0 || ix >= d->ngroups)
				return fail(err, errlen,
				            "error calling index: index out of range: %lld", ix);
			*out = group_val(d, (int)ix);
			return DS_OK;
		}
		if (b.k != V_STR)
			return fail(err, errlen,
			            "error calling index: value has type int; should be string");
		int g = group_by_key(d, b.s, b.n);
		*out = g < 0 ? str_val("") : group_val(d, g);
		return DS_OK;
	case E_PARSEINT:
		if ((rc = eval(e->a[0], d, &a, err, errlen)) < 0 ||
		    (rc = eval(e->a[1], d, &b, err, errlen)) < 0 ||
		    (rc = eval(e->a[2], d, &c, err, errlen)) < 0)
			return rc;
		if (a.k != V_STR || (b.k != V_INT && b.k != V_UINT) ||
		    (c.k != V_INT && c.k != V_UINT))
			return fail(err, errlen, "wrong argument types for parseInt");
		unsigned long long u = 0;
		if ((rc = parse_uint_go(a.s, a.n, b.k == V_INT ? b.i : (long long)b.u,
		                        c.k == V_INT ? c.i : (long long)c.u, &u, err, errlen)) < 0)
			return rc;
		*out = (val_t){V_UINT, NULL, 0, u, 0};
		return DS_OK;
	}
	return fail(err, errlen, "bad expression");
}

static bool emit(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o + n >= cap)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

int ds_tmpl_render(const ds_tmpl_t *t, const ds_tmpl_data_t *d, char *out, size_t cap, char *err,
                   size_t errlen)
{
	size_t o = 0;
	if (cap == 0)
		return DS_ESPACE;
	for (size_t i = 0; i < t->n; i++) {
		const node_t *nd = &t->nodes[i];
		if (!nd->e) {
			if (!emit(out, cap, &o, nd->text, nd->len))
				return DS_ESPACE;
			continue;
		}
		val_t v;
		int rc = eval(nd->e, d, &v, err, errlen);
		if (rc < 0)
			return rc;
		char num[24];
		switch (v.k) {
		case V_STR:
			if (!emit(out, cap, &o, v.s, v.n))
				return DS_ESPACE;
			break;
		case V_UINT:
		case V_INT: {
			int n = v.k == V_UINT ? snprintf(num, sizeof(num), "%llu", v.u)
			                      : snprintf(num, sizeof(num), "%lld", v.i);
			if (!emit(out, cap, &o, num, (size_t)n))
				return DS_ESPACE;
			break;
		}
		case V_MATCH:
			/* Go prints a []string as [a b c] */
			if (!emit(out, cap, &o, "[", 1))
				return DS_ESPACE;
			for (int g = 0; g < d->ngroups; g++) {
				val_t gv = group_val(d, g);
				if ((g && !emit(out, cap, &o, " ", 1)) ||
				    !emit(out, cap, &o, gv.s, gv.n))
					return DS_ESPACE;
			}
			if (!emit(out, cap, &o, "]", 1))
				return DS_ESPACE;
			break;
		case V_GROUP:
			return fail(err, errlen, "printing .Group is not supported");
		}
	}
	out[o] = '\0';
	return (int)o;
}
