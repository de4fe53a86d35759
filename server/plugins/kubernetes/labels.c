/* SPDX-License-Identifier: MIT */
/* Label selectors: a small hand-written parser and matcher (see labels.h). */
#include "server/plugins/kubernetes/labels.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_EXISTS, OP_NOTEXISTS, OP_EQ, OP_NE, OP_IN, OP_NOTIN };

typedef struct req {
	enum op op;
	char *key;
	char **vals;
	size_t nvals;
} req_t;

struct ds_k8s_selector {
	char *text;
	req_t *reqs;
	size_t nreqs;
};

typedef struct lex {
	const char *p;
	char *err;
	size_t errlen;
} lex_t;

static int fail(lex_t *l, const char *fmt, ...) DS_PRINTF(2, 3);
static int fail(lex_t *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return DS_EINVAL;
}

static void skip_ws(lex_t *l)
{
	while (*l->p == ' ' || *l->p == '\t')
		l->p++;
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* A run of word characters (key, value or keyword). */
static char *word(lex_t *l)
{
	skip_ws(l);
	const char *s = l->p;
	while (word_char(*l->p))
		l->p++;
	return strndup(s, (size_t)(l->p - s));
}

static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool valid_key(const char *k)
{
	const char *slash = strchr(k, '/');
	if (!slash)
		return valid_name(k, strlen(k));
	size_t plen = (size_t)(slash - k);
	if (plen == 0 || plen > 253 || strchr(slash + 1, '/'))
		return false;
	for (size_t i = 0; i < plen; i++) {
		char c = k[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return false;
	}
	return valid_name(slash + 1, strlen(slash + 1));
}

static bool valid_value(const char *v)
{
	return v[0] == '\0' || valid_name(v, strlen(v));
}

static int add_val(req_t *r, char *v)
{
	char **nv = realloc(r->vals, (r->nvals + 1) * sizeof(*nv));
	if (!nv) {
		free(v);
		return DS_ENOMEM;
	}
	r->vals = nv;
	r->vals[r->nvals++] = v;
	return DS_OK;
}

static void req_free(req_t *r)
{
	free(r->key);
	for (size_t i = 0; i < r->nvals; i++)
		free(r->vals[i]);
	free(r->vals);
}

static int parse_req(lex_t *l, req_t *r)
{
	skip_ws(l);
	bool neg = false;
	if (*l->p == '!') {
		neg = true;
		l->p++;
	}
	r->key = word(l);
	if (!r->key)
		return DS_ENOMEM;
	if (!valid_key(r->key))
		return fail(l, "invalid label key \"%s\"", r->key);
	skip_ws(l);
	if (neg) {
		r->op = OP_NOTEXISTS;
		return DS_OK;
	}
	if (*l->p == ',' || *l->p == '\0') {
		r->op = OP_EXISTS;
		return DS_OK;
	}
	if (l->p[0] == '!' && l->p[1] == '=') {
		r->op = OP_NE;
		l->p += 2;
	} else if (l->p[0] == '=' && l->p[1] == '=') {
		r->op = OP_EQ;
		l->p += 2;
	} else if (l->p[0] == '=') {
		r->op = OP_EQ;
		l->p += 1;
	} else {
		char *kw = word(l);
		if (!kw)
			return DS_ENOMEM;
		if (!strcmp(kw, "in"))
			r->op = OP_IN;
		else if (!strcmp(kw, "notin"))
			r->op = OP_NOTIN;
		else {
			int rc = fail(l, "found '%s', expected: '=', '!=', '==', 'in', notin'",
			              kw[0] ? kw : l->p);
			free(kw);
			return rc;
		}
		free(kw);
		skip_ws(l);
		if (*l->p != '(')
			return fail(l, "found '%s', expected: '('", l->p);
		l->p++;
		for (;;) {
			char *v = word(l);
			if (!v || add_val(r, v) < 0)
				return DS_ENOMEM;
			if (!valid_value(r->vals[r->nvals - 1]))
				return fail(l, "invalid label value \"%s\"", r->vals[r->nvals - 1]);
			skip_ws(l);
			if (*l->p == ',') {
				l->p++;
				continue;
			}
			if (*l->p == ')') {
				l->p++;
				return DS_OK;
			}
			return fail(l, "found '%s', expected: ',' or ')'",
			            *l->p ? l->p : "end of string");
		}
	}
	char *v = word(l);
	if (!v || add_val(r, v) < 0)
		return DS_ENOMEM;
	if (!valid_value(r->vals[0]))
		return fail(l, "invalid label value \"%s\"", r->vals[0]);
	return DS_OK;
}

int ds_k8s_selector_parse(const char *text, ds_k8s_selector_t **out, char *err, size_t errlen)
{
	lex_t l = {text, err, errlen};
	ds_k8s_selector_t *s = calloc(1, sizeof(*s));
	int rc = DS_ENOMEM;
	if (!s || !(s->text = strdup(text)))
		goto fail;
	skip_ws(&l);
	if (*l.p == '\0') {
		rc = fail(&l, "empty selector");
		goto fail;
	}
	for (;;) {
		req_t *nr = realloc(s->reqs, (s->nreqs + 1) * sizeof(*nr));
		if (!nr) {
			rc = DS_ENOMEM;
			goto fail;
		}
		s->reqs = nr;
		memset(&s->reqs[s->nreqs], 0, sizeof(req_t));
		rc = parse_req(&l, &s->reqs[s->nreqs++]);
		if (rc < 0)
			goto fail;
		skip_ws(&l);
		if (*l.p == '\0')
			break;
		if (*l.p != ',') {
			rc = fail(&l, "found '%s', expected: ',' or 'end of string'", l.p);
			goto fail;
		}
		l.p++;
	}
	*out = s;
	return DS_OK;
fail:
	if (rc == DS_ENOMEM)
		snprintf(err, errlen, "out of memory");
	ds_k8s_selector_free(s);
	*out = NULL;
	return rc == DS_ENOMEM ? rc : DS_EINVAL;
}

void ds_k8s_selector_free(ds_k8s_selector_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nreqs; i++)
		req_free(&s->reqs[i]);
	free(s->reqs);
	free(s->text);
	free(s);
}

const char *ds_k8s_selector_text(const ds_k8s_selector_t *s)
{
	return s ? s->text : "";
}

static bool in_vals(const req_t *r, const char *v)
{
	for (size_t i = 0; i < r->nvals; i++)
		if (!strcmp(r->vals[i], v))
			return true;
	return false;
}

bool ds_k8s_selector_match(const ds_k8s_selector_t *s, const cJSON *labels)
{
	if (!s)
		return true;
	for (size_t i = 0; i < s->nreqs; i++) {
		const req_t *r = &s->reqs[i];
		const cJSON *lv = labels ? cJSON_GetObjectItemCaseSensitive(labels, r->key) : NULL;
		const char *v = cJSON_IsString(lv) ? lv->valuestring : NULL;
		bool ok;
		switch (r->op) {
		case OP_EXISTS:
			ok = v != NULL;
			break;
		case OP_NOTEXISTS:
			ok = v == NULL;
			break;
		case OP_EQ:
			ok = v && !strcmp(v, r->vals[0]);
			break;
		case OP_NE:
			ok = !v || strcmp(v, r->vals[0]) != 0;
			break;
		case OP_IN:
			ok = v && in_vals(r, v);
			break;
		default:
			ok = !v || !in_vals(r, v);
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}
