/* SPDX-License-Identifier: MIT */
/* RE2 -> POSIX ERE translation and matching for the template plugin. */
#include "server/plugins/template/re.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/common.h"

enum { RE_ALL, RE_LITERAL, RE_POSIX };

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

typedef struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = (b->cap ? b->cap * 2 : 64) + n;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_c(sbuf_t *b, char c)
{
	sb_put(b, &c, 1);
}

static bool is_meta(char c)
{
	return strchr(".[]()*+?{}|^$\\", c) != NULL;
}

static bool is_punct_escape(char c)
{
	return c && strchr(".[]()*+?{}|^$\\-/#&~!@%=:;\"',<>_ ", c) != NULL;
}

/* Literal pattern: optional ^, plain or escaped characters, optional $. */
static bool as_literal(ds_re_t *re)
{
	const char *s = re->src;
	size_t n = strlen(s);
	size_t i = 0;
	re->anchor_start = n && s[0] == '^';
	if (re->anchor_start)
		i = 1;
	re->anchor_end = n > i && s[n - 1] == '$' && (n < 2 || s[n - 2] != '\\');
	size_t end = re->anchor_end ? n - 1 : n;
	char *lit = malloc(n + 1);
	size_t o = 0;
	if (!lit)
		return false;
	for (; i < end; i++) {
		char c = s[i];
		if (c == '\\') {
			if (i + 1 >= end || !is_punct_escape(s[i + 1]))
				goto no;
			lit[o++] = s[++i];
		} else if (is_meta(c)) {
			goto no;
		} else {
			lit[o++] = c;
		}
	}
	lit[o] = '\0';
	re->lit = lit;
	re->litlen = o;
	return true;
no:
	free(lit);
	return false;
}

/* Bracket expression at s[*i] == '['; RE2 escapes rewritten for POSIX. */
static int bracket(const char *s, size_t *i, sbuf_t *out, char *err, size_t errlen)
{
	size_t k = *i + 1;
	bool neg = s[k] == '^';
	if (neg)
		k++;
	sbuf_t body = {0};
	bool dash = false, rb = false, bs = false;
	bool first = true;
	for (;; first = false) {
		char c = s[k];
		if (!c) {
			free(body.p);
			return fail(err, errlen, "missing closing ]");
		}
		if (c == ']' && !first)
			break;
		if (c == ']') {
			rb = true;
			k++;
			continue;
		}
		if (c == '[' && s[k + 1] == ':') {
			const char *e = strstr(s + k + 2, ":]");
			if (!e) {
				free(body.p);
				return fail(err, errlen, "bad character class");
			}
			sb_put(&body, s + k, (size_t)(e + 2 - (s + k)));
			k = (size_t)(e + 2 - s);
			continue;
		}
		if (c == '\\') {
			char d = s[k + 1];
			k += 2;
			switch (d) {
			case 'd':
				sb_put(&body, "0-9", 3);
				break;
			case 'w':
				sb_put(&body, "0-9A-Za-z_", 10);
				break;
			case 's':
				sb_put(&body, "\t\n\f\r ", 5);
				break;
			case 'n':
				sb_c(&body, '\n');
				break;
			case 't':
				sb_c(&body, '\t');
				break;
			case '-':
				dash = true;
				break;
			case ']':
				rb = true;
				break;
			case '\\':
				bs = true;
				break;
			default:
				if (!is_punct_escape(d)) {
					free(body.p);
					return fail(err, errlen,
					            "\\%c in a bracket is not supported", d);
				}
				sb_c(&body, d);
			}
			continue;
		}
		sb_c(&body, c);
		k++;
	}
	/* POSIX: ']' first, '-' last, backslash is literal in brackets */
	sb_c(out, '[');
	if (neg)
		sb_c(out, '^');
	if (rb)
		sb_c(out, ']');
	if (body.p)
		sb_put(out, body.p, body.n);
	if (bs)
		sb_c(out, '\\');
	if (dash)
		sb_c(out, '-');
	sb_c(out, ']');
	free(body.p);
	*i = k + 1;
	return DS_OK;
}

static int translate(ds_re_t *re, char *err, size_t errlen)
{
	const char *s = re->src;
	sbuf_t out = {0};
	size_t i = 0;
	int go = 0, px = 0;
	re->cflags = REG_EXTENDED;
	if (!strncmp(s, "(?i)", 4)) {
		re->cflags |= REG_ICASE;
		i = 4;
	}
	sb_put(&out, "", 0);
	while (s[i]) {
		char c = s[i];
		if (c == '[') {
			int rc = bracket(s, &i, &out, err, errlen);
			if (rc < 0) {
				free(out.p);
				return rc;
			}
			continue;
		}
		if (c == '\\') {
			char d = s[i + 1];
			i += 2;
			switch (d) {
			case 'd':
				sb_put(&out, "[0-9]", 5);
				break;
			case 'D':
				sb_put(&out, "[^0-9]", 6);
				break;
			case 'w':
				sb_put(&out, "[0-9A-Za-z_]", 12);
				break;
			case 'W':
				sb_put(&out, "[^0-9A-Za-z_]", 13);
				break;
			case 's':
				sb_put(&out, "[[:space:]]", 11);
				break;
			case 'S':
				sb_put(&out, "[^[:space:]]", 12);
				break;
			case 'b':
				sb_put(&out, "\\b", 2);
				break;
			case 'B':
				sb_put(&out, "\\B", 2);
				break;
			case 'A':
				sb_c(&out, '^');
				break;
			case 'z':
				sb_c(&out, '$');
				break;
			case 'n':
				sb_c(&out, '\n');
				break;
			case 't':
				sb_c(&out, '\t');
				break;
			default:
				if (!is_punct_escape(d)) {
					free(out.p);
					return fail(err, errlen, "\\%c is not supported",
					            d ? d : ' ');
				}
				sb_c(&out, '\\');
				sb_c(&out, d);
			}
			continue;
		}
		if (c == '(') {
			if (px >= DS_RE_GROUPS_MAX) {
				free(out.p);
				return fail(err, errlen, "more than %d groups", DS_RE_GROUPS_MAX);
			}
			if (s[i + 1] == '?') {
				const char *nm = NULL;
				size_t skip;
				if (s[i + 2] == ':') {
					skip = 3;
				} else if (s[i + 2] == 'P' && s[i + 3] == '<') {
					nm = s + i + 4;
					skip = 4;
				} else if (s[i + 2] == '<') {
					nm = s + i + 3;
					skip = 3;
				} else {
					free(out.p);
					return fail(err, errlen, "(?%c is not supported", s[i + 2]);
				}
				px++;
				if (nm) {
					const char *e = strchr(nm, '>');
					if (!e || e == nm) {
						free(out.p);
						return fail(err, errlen, "bad group name");
					}
					go++;
					re->go_of_posix[px] = go;
					re->names[go] = strndup(nm, (size_t)(e - nm));
					skip = (size_t)(e + 1 - (s + i));
				} else {
					re->go_of_posix[px] = 0;
				}
				sb_c(&out, '(');
				i += skip;
				continue;
			}
			px++;
			go++;
			re->go_of_posix[px] = go;
			sb_c(&out, '(');
			i++;
			continue;
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') && s[i + 1] == '?') {
			free(out.p);
			return fail(err, errlen, "lazy quantifier %c? is not supported", c);
		}
		sb_c(&out, c);
		i++;
	}
	if (out.oom) {
		free(out.p);
		return DS_ENOMEM;
	}
	re->posix = out.p;
	re->ngroups = go + 1;
	re->nposix = px + 1;
	return DS_OK;
}

int ds_re_compile(ds_re_t *re, const char *src, char *err, size_t errlen)
{
	memset(re, 0, sizeof(*re));
	re->src = strdup(src);
	if (!re->src)
		return DS_ENOMEM;
	re->ngroups = 1;
	re->nposix = 1;
	if (!strcmp(src, ".*") || !strcmp(src, "^.*") || !strcmp(src, ".*$") ||
	    !strcmp(src, "^.*$")) {
		re->kind = RE_ALL;
		return DS_OK;
	}
	if (as_literal(re)) {
		re->kind = RE_LITERAL;
		return DS_OK;
	}
	re->kind = RE_POSIX;
	int rc = translate(re, err, errlen);
	if (rc < 0)
		return rc;
	regex_t r;
	int e = regcomp(&r, re->posix, re->cflags);
	if (e != 0) {
		char msg[128];
		regerror(e, &r, msg, sizeof(msg));
		return fail(err, errlen, "%s", msg);
	}
	regfree(&r);
	return DS_OK;
}

void ds_re_free(ds_re_t *re)
{
	free(re->src);
	free(re->lit);
	free(re->posix);
	for (int i = 0; i <= DS_RE_GROUPS_MAX; i++)
		free(re->names[i]);
	memset(re, 0, sizeof(*re));
}

bool ds_re_matches_all(const ds_re_t *re)
{
	return re->kind == RE_ALL;
}

bool ds_re_needs_posix(const ds_re_t *re)
{
	return re->kind == RE_POSIX;
}

int ds_re_instance(const ds_re_t *re, regex_t *out)
{
	return regcomp(out, re->posix, re->cflags) == 0 ? DS_OK : DS_EINVAL;
}

bool ds_re_match(const ds_re_t *re, const regex_t *inst, const char *s, size_t n, int *so, int *eo)
{
	if (re->kind == RE_ALL) {
		so[0] = 0;
		eo[0] = (int)n;
		return true;
	}
	if (re->kind == RE_LITERAL) {
		size_t l = re->litlen;
		const char *hit = NULL;
		if (l > n)
			return false;
		if (re->anchor_start && re->anchor_end)
			hit = l == n && !memcmp(s, re->lit, l) ? s : NULL;
		else if (re->anchor_start)
			hit = !memcmp(s, re->lit, l) ? s : NULL;
		else if (re->anchor_end)
			hit = !memcmp(s + n - l, re->lit, l) ? s + n - l : NULL;
		else
			hit = memmem(s, n, re->lit, l);
		if (!hit)
			return false;
		so[0] = (int)(hit - s);
		eo[0] = so[0] + (int)l;
		return true;
	}
	regmatch_t pm[DS_RE_GROUPS_MAX + 1];
	if (!inst || regexec(inst, s, (size_t)re->nposix, pm, 0) != 0)
		return false;
	for (int g = 0; g < re->ngroups; g++)
		so[g] = eo[g] = -1;
	so[0] = (int)pm[0].rm_so;
	eo[0] = (int)pm[0].rm_eo;
	for (int k = 1; k < re->nposix; k++) {
		int g = re->go_of_posix[k];
		if (g > 0 && pm[k].rm_so >= 0) {
			so[g] = (int)pm[k].rm_so;
			eo[g] = (int)pm[k].rm_eo;
		}
	}
	return true;
}
