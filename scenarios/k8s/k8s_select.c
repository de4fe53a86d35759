/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_select.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ds_k8s_sel_free(ds_k8s_sel_t *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++) {
		free(sel->reqs[i].key);
		for (size_t j = 0; j < sel->reqs[i].nvals; j++)
			free(sel->reqs[i].vals[j]);
		free(sel->reqs[i].vals);
	}
	free(sel->reqs);
	free(sel);
}

bool ds_k8s_sel_empty(const ds_k8s_sel_t *sel)
{
	return !sel || sel->n == 0;
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* The name part of a qualified name and a label value share one rule. */
static bool valid_name63(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool valid_subdomain(const char *s, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t l = i - start;
		if (l == 0 || l > 63)
			return false;
		for (size_t j = start; j < i; j++) {
			char c = s[j];
			if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
				return false;
		}
		if (s[start] == '-' || s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

int ds_k8s_label_key_check(const char *key, ds_err_t *err)
{
	const char *slash = strchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	if (slash && !valid_subdomain(key, (size_t)(slash - key)))
		return ds_errf(err, DS_EINVAL,
			       "invalid label key \"%s\": prefix part must be a DNS subdomain",
			       key);
	if (!valid_name63(name, strlen(name)))
		return ds_errf(err, DS_EINVAL,
			       "invalid label key \"%s\": name part must consist of alphanumeric "
			       "characters, '-', '_' or '.', and must start and end with an "
			       "alphanumeric character (at most 63 characters)",
			       key);
	return DS_OK;
}

int ds_k8s_label_value_check(const char *val, ds_err_t *err)
{
	if (*val && !valid_name63(val, strlen(val)))
		return ds_errf(
		    err, DS_EINVAL,
		    "invalid label value \"%s\": a valid label must be an empty string or "
		    "consist of alphanumeric characters, '-', '_' or '.', and must start "
		    "and end with an alphanumeric character (at most 63 characters)",
		    val);
	return DS_OK;
}

/* ---- label selector lexer ---- */

typedef enum {
	T_END,
	T_IDENT,
	T_NOT, /* ! */
	T_EQ,  /* = */
	T_DEQ, /* == */
	T_NE,  /* != */
	T_GT,
	T_LT,
	T_IN,
	T_NOTIN,
	T_OPEN,
	T_CLOSE,
	T_COMMA,
} tok_t;

typedef struct lexer {
	const char *p;
	char *text; /* last identifier, malloc'd */
} lexer_t;

static bool special(char c)
{
	return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>' ||
	       isspace((unsigned char)c);
}

/* in/notin are keywords only where an operator may appear; the parser
 * asks for that with kw=true so that a key named "in" still works. */
static tok_t lex(lexer_t *lx, bool kw)
{
	free(lx->text);
	lx->text = NULL;
	while (isspace((unsigned char)*lx->p))
		lx->p++;
	char c = *lx->p;
	if (!c)
		return T_END;
	lx->p++;
	switch (c) {
	case '(':
		return T_OPEN;
	case ')':
		return T_CLOSE;
	case ',':
		return T_COMMA;
	case '>':
		return T_GT;
	case '<':
		return T_LT;
	case '!':
		if (*lx->p == '=') {
			lx->p++;
			return T_NE;
		}
		return T_NOT;
	case '=':
		if (*lx->p == '=') {
			lx->p++;
			return T_DEQ;
		}
		return T_EQ;
	default:
		break;
	}
	const char *start = lx->p - 1;
	while (*lx->p && !special(*lx->p))
		lx->p++;
	size_t len = (size_t)(lx->p - start);
	lx->text = strndup(start, len);
	if (kw && len == 2 && !memcmp(start, "in", 2))
		return T_IN;
	if (kw && len == 5 && !memcmp(start, "notin", 5))
		return T_NOTIN;
	return T_IDENT;
}

/* Peek without consuming: keeps the lexer simple at the cost of re-lexing. */
static tok_t peek(lexer_t *lx, bool kw)
{
	lexer_t save = {lx->p, NULL};
	tok_t t = lex(&save, kw);
	free(save.text);
	return t;
}

static int add_val(ds_k8s_selreq_t *r, const char *v)
{
	char **vals = realloc(r->vals, (r->nvals + 1) * sizeof(*vals));
	if (!vals)
		return DS_ENOMEM;
	r->vals = vals;
	if (!(vals[r->nvals] = strdup(v)))
		return DS_ENOMEM;
	r->nvals++;
	return DS_OK;
}

static ds_k8s_selreq_t *new_req(ds_k8s_sel_t *sel)
{
	ds_k8s_selreq_t *reqs = realloc(sel->reqs, (sel->n + 1) * sizeof(*reqs));
	if (!reqs)
		return NULL;
	sel->reqs = reqs;
	memset(&reqs[sel->n], 0, sizeof(reqs[0]));
	return &reqs[sel->n++];
}

static int parse_requirement(lexer_t *lx, ds_k8s_sel_t *sel, ds_err_t *err)
{
	bool negate = false;
	tok_t t = lex(lx, false);
	if (t == T_NOT) {
		negate = true;
		t = lex(lx, false);
	}
	if (t != T_IDENT)
		return ds_errf(err, DS_EINVAL,
			       "unable to parse requirement: found '%s', expected: identifier",
			       t == T_END ? "" : "operator");
	ds_k8s_selreq_t *r = new_req(sel);
	if (!r || !(r->key = strdup(lx->text)))
		return DS_ENOMEM;
	int rc = ds_k8s_label_key_check(r->key, err);
	if (rc)
		return rc;
	tok_t op = peek(lx, true);
	if (negate) {
		if (op != T_END && op != T_COMMA)
			return ds_errf(err, DS_EINVAL,
				       "unable to parse requirement: '!%s' takes no operator",
				       r->key);
		r->op = DS_K8S_SEL_NOTEXISTS;
		return DS_OK;
	}
	if (op == T_END || op == T_COMMA) {
		r->op = DS_K8S_SEL_EXISTS;
		return DS_OK;
	}
	op = lex(lx, true);
	switch (op) {
	case T_EQ:
	case T_DEQ:
		r->op = DS_K8S_SEL_EQ;
		break;
	case T_NE:
		r->op = DS_K8S_SEL_NE;
		break;
	case T_GT:
		r->op = DS_K8S_SEL_GT;
		break;
	case T_LT:
		r->op = DS_K8S_SEL_LT;
		break;
	case T_IN:
		r->op = DS_K8S_SEL_IN;
		break;
	case T_NOTIN:
		r->op = DS_K8S_SEL_NOTIN;
		break;
	default:
		return ds_errf(err, DS_EINVAL,
			       "unable to parse requirement: found '%s', expected: in, notin, =, "
			       "==, !=, gt, lt",
			       lx->text ? lx->text : "operator");
	}
	if (r->op == DS_K8S_SEL_IN || r->op == DS_K8S_SEL_NOTIN) {
		if (lex(lx, false) != T_OPEN)
			return ds_errf(err, DS_EINVAL,
				       "unable to parse requirement: expected '(' after in/notin");
		for (;;) {
			t = lex(lx, false);
			if (t == T_CLOSE && r->nvals == 0)
				break; /* "in ()" is an empty set, as the server accepts */
			if (t == T_IDENT) {
				if ((rc = ds_k8s_label_value_check(lx->text, err)) ||
				    (rc = add_val(r, lx->text)))
					return rc;
				t = lex(lx, false);
			} else if ((rc = add_val(r, ""))) {
				return rc;
			}
			if (t == T_CLOSE)
				break;
			if (t != T_COMMA)
				return ds_errf(
				    err, DS_EINVAL,
				    "unable to parse requirement: expected ',' or ')' in "
				    "the value set of '%s'",
				    r->key);
		}
		return DS_OK;
	}
	t = peek(lx, false);
	if (t == T_END || t == T_COMMA) {
		if (r->op == DS_K8S_SEL_GT || r->op == DS_K8S_SEL_LT)
			return ds_errf(err, DS_EINVAL,
				       "unable to parse requirement: '%s' needs "
				       "an integer value",
				       r->key);
		return add_val(r, ""); /* "key=" selects the empty value */
	}
	if (lex(lx, false) != T_IDENT)
		return ds_errf(err, DS_EINVAL,
			       "unable to parse requirement: expected a value for '%s'", r->key);
	if (r->op == DS_K8S_SEL_GT || r->op == DS_K8S_SEL_LT) {
		char *end;
		errno = 0;
		(void)strtoll(lx->text, &end, 10);
		if (errno || *end || end == lx->text)
			return ds_errf(err, DS_EINVAL,
				       "unable to parse requirement: for 'gt', 'lt' operators, the "
				       "value must be an integer, not \"%s\"",
				       lx->text);
	} else if ((rc = ds_k8s_label_value_check(lx->text, err))) {
		return rc;
	}
	return add_val(r, lx->text);
}

ds_k8s_sel_t *ds_k8s_labelsel_parse(const char *s, ds_err_t *err)
{
	ds_k8s_sel_t *sel = calloc(1, sizeof(*sel));
	lexer_t lx = {s ? s : "", NULL};
	if (!sel)
		goto fail;
	if (peek(&lx, false) == T_END)
		return sel;
	for (;;) {
		int rc = parse_requirement(&lx, sel, err);
		if (rc) {
			if (rc == DS_ENOMEM)
				ds_errf(err, rc, "out of memory");
			goto fail;
		}
		tok_t t = lex(&lx, false);
		if (t == T_END)
			break;
		if (t != T_COMMA) {
			ds_errf(err, DS_EINVAL,
				"unable to parse requirement: found '%s', expected: ',' or end of "
				"selector",
				lx.text ? lx.text : "operator");
			goto fail;
		}
	}
	free(lx.text);
	return sel;
fail:
	free(lx.text);
	ds_k8s_sel_free(sel);
	return NULL;
}

/* ---- field selectors ---- */

/* Split at unescaped c; returns a pointer to the separator or NULL. */
static const char *find_unescaped(const char *s, const char *end, char c)
{
	for (const char *p = s; p < end; p++) {
		if (*p == '\\' && p + 1 < end) {
			p++;
			continue;
		}
		if (*p == c)
			return p;
	}
	return NULL;
}

static char *unescape(const char *s, size_t len, ds_err_t *err)
{
	char *out = malloc(len + 1);
	if (!out) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\') {
			if (i + 1 >= len || !strchr("\\,=", s[i + 1])) {
				free(out);
				ds_errf(err, DS_EINVAL,
					"invalid field selector: invalid escape "
					"sequence in \"%.*s\"",
					(int)len, s);
				return NULL;
			}
			i++;
		}
		out[o++] = s[i];
	}
	out[o] = 0;
	return out;
}

static int parse_field_term(ds_k8s_sel_t *sel, const char *s, const char *end, ds_err_t *err)
{
	/* "!=" and "==" before "=": the server tries operators in that order. */
	static const struct {
		const char *text;
		ds_k8s_selop_t op;
	} ops[] = {{"!=", DS_K8S_SEL_NE}, {"==", DS_K8S_SEL_EQ}, {"=", DS_K8S_SEL_EQ}};
	for (size_t i = 0; i < DS_ARRAY_SIZE(ops); i++) {
		size_t ol = strlen(ops[i].text);
		const char *p = NULL;
		for (const char *q = s; q + ol <= end; q++) {
			if (*q == '\\') {
				q++;
				continue;
			}
			if (!memcmp(q, ops[i].text, ol)) {
				p = q;
				break;
			}
		}
		if (!p)
			continue;
		ds_k8s_selreq_t *r = new_req(sel);
		if (!r)
			return ds_errf(err, DS_ENOMEM, "out of memory");
		r->op = ops[i].op;
		while (s < p && *s == ' ')
			s++;
		if (!(r->key = strndup(s, (size_t)(p - s))))
			return ds_errf(err, DS_ENOMEM, "out of memory");
		if (!*r->key)
			return ds_errf(err, DS_EINVAL, "invalid field selector: empty field name");
		char *v = unescape(p + ol, (size_t)(end - p - ol), err);
		if (!v)
			return DS_EINVAL;
		r->vals = malloc(sizeof(char *));
		if (!r->vals) {
			free(v);
			return ds_errf(err, DS_ENOMEM, "out of memory");
		}
		r->vals[0] = v;
		r->nvals = 1;
		return DS_OK;
	}
	return ds_errf(err, DS_EINVAL, "invalid selector: '%.*s'; can't understand '%.*s'",
		       (int)(end - s), s, (int)(end - s), s);
}

ds_k8s_sel_t *ds_k8s_fieldsel_parse(const char *s, ds_err_t *err)
{
	ds_k8s_sel_t *sel = calloc(1, sizeof(*sel));
	if (!sel) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	if (!s || !*s)
		return sel;
	const char *end = s + strlen(s);
	while (s < end) {
		const char *comma = find_unescaped(s, end, ',');
		const char *tend = comma ? comma : end;
		if (tend > s && parse_field_term(sel, s, tend, err))
			goto fail;
		s = comma ? comma + 1 : end;
	}
	return sel;
fail:
	ds_k8s_sel_free(sel);
	return NULL;
}

/* ---- matching ---- */

static const char *lookup(const ds_k8s_kv_t *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].val;
	return NULL;
}

static bool in_set(const ds_k8s_selreq_t *r, const char *v)
{
	for (size_t i = 0; i < r->nvals; i++)
		if (!strcmp(r->vals[i], v))
			return true;
	return false;
}

static bool req_match(const ds_k8s_selreq_t *r, const char *v)
{
	switch (r->op) {
	case DS_K8S_SEL_EQ:
		return v && !strcmp(v, r->vals[0]);
	case DS_K8S_SEL_NE:
		return !v || strcmp(v, r->vals[0]);
	case DS_K8S_SEL_IN:
		return v && in_set(r, v);
	case DS_K8S_SEL_NOTIN:
		return !v || !in_set(r, v);
	case DS_K8S_SEL_EXISTS:
		return v != NULL;
	case DS_K8S_SEL_NOTEXISTS:
		return v == NULL;
	case DS_K8S_SEL_GT:
	case DS_K8S_SEL_LT: {
		if (!v)
			return false;
		char *end;
		errno = 0;
		long long have = strtoll(v, &end, 10);
		if (errno || *end || end == v)
			return false;
		long long want = strtoll(r->vals[0], NULL, 10);
		return r->op == DS_K8S_SEL_GT ? have > want : have < want;
	}
	}
	return false;
}

bool ds_k8s_sel_match(const ds_k8s_sel_t *sel, const ds_k8s_kv_t *kv, size_t n)
{
	if (!sel)
		return true;
	for (size_t i = 0; i < sel->n; i++)
		if (!req_match(&sel->reqs[i], lookup(kv, n, sel->reqs[i].key)))
			return false;
	return true;
}

const char *ds_k8s_sel_eq_value(const ds_k8s_sel_t *sel, const char *key)
{
	if (!sel)
		return NULL;
	for (size_t i = 0; i < sel->n; i++)
		if (sel->reqs[i].op == DS_K8S_SEL_EQ && !strcmp(sel->reqs[i].key, key))
			return sel->reqs[i].vals[0];
	return NULL;
}
