/* SPDX-License-Identifier: MIT */
/*
 * Corefile lexer and parser (CoreDNS's grammar), canonical form, server
 * block keys, and the ds_args token cursor.
 *
 * The parser reads tokens from one stack ("pending", top = next token):
 * an import pushes the imported tokens on top, so text is pasted in place
 * without copying the rest of the stream. Every token remembers the chain
 * of imports that produced it (struct origin), which is what finds import
 * cycles exactly instead of waiting for the expansion cap.
 *
 * All strings and arrays that end up in the ds_corefile_t live in one
 * arena, so freeing a corefile (or a half-built one after an error) is
 * freeing the arena.
 */
#include "lib/corefile.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

/* An imported file larger than this is refused: it cannot be a Corefile,
 * and reading /dev/zero must end. */
#define MAX_FILE_BYTES (16u << 20)
/* Tokens pushed by all imports together. Real Corefiles have a few
 * thousand; the cap keeps nested snippet bombs within memory. */
#define MAX_TOKENS (1u << 20)

/* ------------------------------------------------------------------ arena */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
};

static void *arena_alloc(struct arena *ar, size_t n)
{
	const size_t align = sizeof(max_align_t);
	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	struct chunk *c = ar->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		c = ds_xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = ar->head;
		ar->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static char *arena_strndup(struct arena *ar, const char *s, size_t n)
{
	char *p = arena_alloc(ar, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static char *arena_strdup(struct arena *ar, const char *s)
{
	return arena_strndup(ar, s, strlen(s));
}

static void arena_free(struct arena *ar)
{
	if (!ar)
		return;
	struct chunk *c = ar->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(ar);
}

/* Make room for one more element of a vector kept in the arena. Growth
 * leaves the old copy behind; doubling bounds that waste to the final size. */
static void *vec_push(struct arena *ar, void *v, size_t *n, size_t *cap, size_t esz)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		void *nv = arena_alloc(ar, ncap * esz);
		if (*n)
			memcpy(nv, v, *n * esz);
		v = nv;
		*cap = ncap;
	}
	(*n)++;
	return v;
}

/* ------------------------------------------------------------- string buf */

/* Out of memory while reading configuration is fatal, as ds_xmalloc(). */
static void *xrealloc(void *p, size_t n)
{
	void *np = realloc(p, n);
	if (!np) {
		fputs("[FATAL] out of memory\n", stderr);
		abort();
	}
	return np;
}

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		b->s = xrealloc(b->s, ncap);
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = 0;
}

/* --------------------------------------------------------------- parser */

/* Where a token's text came from: display name for errors and the
 * directory its relative imports are resolved against. */
struct src {
	const char *file;
	const char *dir;
};

/* One link of the import chain a token was produced by. */
struct origin {
	const struct origin *up;
	const char *snippet; /* snippet name, or NULL for a file */
	bool has_id;         /* file identity known (not a string) */
	dev_t dev;
	ino_t ino;
};

struct tok {
	const char *text;
	const struct src *src;
	const struct origin *org;
	int line, end_line;
	bool quoted;
	char brace; /* '{' or '}' for an unquoted lone brace as written, else 0 */
	bool nl;    /* first token of its line */
};

struct snippet {
	const char *name;
	struct tok *toks;
	size_t n;
};

struct blockb {
	ds_token_t *keys;
	size_t nkeys, capkeys;
	ds_directive_t *dirs;
	size_t ndirs, capdirs;
};

struct parser {
	struct arena *ar;
	ds_err_t *err;
	ds_known_directive_f known;
	void *ctx;

	struct tok *pend; /* malloc'd; top of the stack = next token */
	size_t npend, cappend;
	struct tok cur;
	bool eof;
	size_t total; /* tokens pushed so far */

	struct snippet *snips;
	size_t nsnips, capsnips;
	int snippet_exp, file_exp;

	ds_sblock_t *blocks;
	size_t nblocks, capblocks;

	struct sbuf lexbuf, envbuf, tmp;
};

static int perr(struct parser *p, const struct tok *t, const char *fmt, ...) DS_PRINTF(3, 4);

static int perr(struct parser *p, const struct tok *t, const char *fmt, ...)
{
	char cause[DS_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	return ds_errf(p->err, DS_ECONFIG, "%s:%d - Error during parsing: %s",
		       t && t->src ? t->src->file : "?", t ? t->line : 0, cause);
}

/* ----------------------------------------------------------- env values */

/* One substitution form over s into out. Mirrors CoreDNS where it matters
 * (an empty or unterminated reference stops substitution for the rest of
 * the token) but does not rescan substituted values: a value mentioning
 * its own variable would otherwise loop forever. */
static void env_pass(struct sbuf *out, const char *s, const char *open, const char *close)
{
	size_t olen = strlen(open), clen = strlen(close);
	sb_reset(out);
	for (;;) {
		const char *start = strstr(s, open);
		if (!start)
			break;
		/* The end marker is searched from the start marker itself, as
		 * CoreDNS does, so "{%}" ends at once and stops substitution. */
		const char *end = strstr(start, close);
		if (!end || end <= start + olen)
			break;
		sb_putn(out, s, (size_t)(start - s));
		size_t nlen = (size_t)(end - start) - olen;
		char name[256];
		if (nlen < sizeof(name)) {
			memcpy(name, start + olen, nlen);
			name[nlen] = 0;
			const char *v = getenv(name);
			if (v)
				sb_puts(out, v);
		}
		s = end + clen;
	}
	sb_puts(out, s);
}

/* Substitute {%NAME%} then {$NAME} in s; the result goes to the arena. */
static const char *env_subst(struct parser *p, const char *s)
{
	if (!strchr(s, '{'))
		return arena_strdup(p->ar, s);
	env_pass(&p->envbuf, s, "{%", "%}");
	/* The second pass reads the first pass's output, so copy it aside. */
	sb_reset(&p->tmp);
	sb_puts(&p->tmp, p->envbuf.s ? p->envbuf.s : "");
	env_pass(&p->envbuf, p->tmp.s, "{$", "}");
	return arena_strdup(p->ar, p->envbuf.s ? p->envbuf.s : "");
}

/* ---------------------------------------------------------------- lexer */

/* Byte length of the whitespace character at s (Go's unicode.IsSpace, as
 * CoreDNS's lexer uses), or 0. */
static size_t space_len(const unsigned char *s, size_t left)
{
	switch (s[0]) {
	case ' ': case '\t': case '\n': case '\v': case '\f': case '\r':
		return 1;
	case 0xc2:
		if (left >= 2 && (s[1] == 0x85 || s[1] == 0xa0))
			return 2;
		return 0;
	case 0xe1:
		if (left >= 3 && s[1] == 0x9a && s[2] == 0x80)
			return 3;
		return 0;
	case 0xe2:
		if (left < 3)
			return 0;
		if (s[1] == 0x80 && s[2] >= 0x80 &&
		    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
			return 3;
		if (s[1] == 0x81 && s[2] == 0x9f)
			return 3;
		return 0;
	case 0xe3:
		if (left >= 3 && s[1] == 0x80 && s[2] == 0x80)
			return 3;
		return 0;
	default:
		return 0;
	}
}

struct tokv {
	struct tok *v;
	size_t n, cap;
};

static void emit(struct parser *p, struct tokv *out, const struct src *src,
		 const struct origin *org, int line, int end_line, bool quoted)
{
	const char *raw = p->lexbuf.s ? p->lexbuf.s : "";
	struct tok t = {
		.src = src,
		.org = org,
		.line = line,
		.end_line = end_line,
		.quoted = quoted,
	};
	if (!quoted && (raw[0] == '{' || raw[0] == '}') && raw[1] == 0)
		t.brace = raw[0];
	t.text = env_subst(p, raw);
	t.nl = out->n == 0 || line > out->v[out->n - 1].end_line;
	out->v = vec_push(p->ar, out->v, &out->n, &out->cap, sizeof(*out->v));
	out->v[out->n - 1] = t;
	sb_reset(&p->lexbuf);
}

/* Split buf into tokens the way CoreDNS's lexer does (see corefile.h). */
static int lex(struct parser *p, const struct src *src, const struct origin *org,
	       const char *buf, size_t len, struct tokv *out)
{
	int line = 1, tline = 1;
	bool quoted = false, escaped = false, comment = false, in_tok = false;
	sb_reset(&p->lexbuf);
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == 0) {
			struct tok where = {.src = src, .line = line};
			return perr(p, &where, "NUL byte in input");
		}
		if (quoted) {
			i++;
			if (!escaped) {
				if (ch == '\\') {
					escaped = true;
					continue;
				}
				if (ch == '"') {
					quoted = false;
					in_tok = false;
					emit(p, out, src, org, tline, line, true);
					continue;
				}
			}
			if (ch == '\n')
				line++;
			/* Only \" is an escape; any other backslash stays. */
			if (escaped && ch != '"')
				sb_putc(&p->lexbuf, '\\');
			sb_putc(&p->lexbuf, (char)ch);
			escaped = false;
			continue;
		}
		size_t ws = space_len((const unsigned char *)buf + i, len - i);
		if (ws) {
			i += ws;
			/* CoreDNS drops \r without ending the token. */
			if (ch == '\r')
				continue;
			if (in_tok) {
				in_tok = false;
				emit(p, out, src, org, tline, line, false);
			}
			if (ch == '\n') {
				line++;
				comment = false;
			}
			continue;
		}
		i++;
		if (ch == '#')
			comment = true;
		if (comment)
			continue;
		if (!in_tok) {
			in_tok = true;
			tline = line;
			if (ch == '"') {
				quoted = true;
				continue;
			}
		}
		sb_putc(&p->lexbuf, (char)ch);
	}
	/* An unterminated quote still yields its text, as in CoreDNS. */
	if (in_tok && (!quoted || p->lexbuf.len > 0))
		emit(p, out, src, org, tline, line, quoted);
	return DS_OK;
}

/* --------------------------------------------------------- token stream */

static bool next(struct parser *p)
{
	if (p->npend == 0)
		return false; /* cur stays on the last token, for EOF errors */
	p->cur = p->pend[--p->npend];
	return true;
}

static void push_tok(struct parser *p, const struct tok *t)
{
	if (p->npend == p->cappend) {
		size_t ncap = p->cappend ? p->cappend * 2 : 256;
		p->pend = xrealloc(p->pend, ncap * sizeof(*p->pend));
		p->cappend = ncap;
	}
	p->pend[p->npend++] = *t;
}

static void unread(struct parser *p)
{
	push_tok(p, &p->cur);
}

/* Paste n tokens so that toks[0] is read next. org, if not NULL, replaces
 * the tokens' origin. The first one always starts a line: pasted text
 * does not continue the line of the import that pulled it in. */
static int paste(struct parser *p, const struct tok *at, const struct tok *toks, size_t n,
		 const struct origin *org)
{
	if (n > MAX_TOKENS - p->total)
		return perr(p, at, "configuration too large after imports (more than %u tokens)",
			    MAX_TOKENS);
	p->total += n;
	for (size_t i = n; i-- > 0;) {
		struct tok t = toks[i];
		if (org)
			t.org = org;
		if (i == 0)
			t.nl = true;
		push_tok(p, &t);
	}
	return DS_OK;
}

static bool peek_same_line(const struct parser *p)
{
	return p->npend > 0 && !p->pend[p->npend - 1].nl;
}

static bool is_import(const struct tok *t)
{
	return strcmp(t->text, "import") == 0;
}

/* ---------------------------------------------------------------- paths */

static bool is_abs(const char *s)
{
	return s[0] == '/';
}

/* Lexical clean of an absolute path, like Go's filepath.Clean: no "//",
 * no "." components, ".." folded. Writing never overtakes reading: each
 * component is preceded by at least one '/' that was read. */
static void clean_path(char *s)
{
	char *out = s + 1;
	const char *r = s;
	while (*r) {
		while (*r == '/')
			r++;
		if (!*r)
			break;
		const char *e = strchr(r, '/');
		size_t n = e ? (size_t)(e - r) : strlen(r);
		if (n == 2 && r[0] == '.' && r[1] == '.') {
			while (out > s + 1 && out[-1] != '/')
				out--;
			if (out > s + 1)
				out--;
		} else if (!(n == 1 && r[0] == '.')) {
			if (out > s + 1)
				*out++ = '/';
			memmove(out, r, n);
			out += n;
		}
		r += n;
	}
	*out = 0;
}

/* Absolute, cleaned form of path relative to dir (dir is absolute). */
static char *abs_join(struct arena *ar, const char *dir, const char *path)
{
	size_t dl = is_abs(path) ? 0 : strlen(dir);
	char *s = arena_alloc(ar, dl + strlen(path) + 3);
	if (is_abs(path))
		strcpy(s, path);
	else
		sprintf(s, "%s/%s", dir, path);
	clean_path(s);
	return s;
}

static char *dir_of(struct arena *ar, const char *abspath)
{
	const char *slash = strrchr(abspath, '/');
	if (!slash || slash == abspath)
		return arena_strdup(ar, "/");
	return arena_strndup(ar, abspath, (size_t)(slash - abspath));
}

static char *cwd_dup(struct arena *ar)
{
	char *c = getcwd(NULL, 0);
	char *r = arena_strdup(ar, c ? c : "/");
	free(c);
	return r;
}

/* Read a whole file. Returns DS_OK, or an errno-style code with *why set. */
static int read_file(const char *path, char **buf, size_t *len, struct stat *st, const char **why)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return DS_ENOENT;
	}
	size_t cap = 4096, n = 0;
	char *b = NULL;
	if (fstat(fd, st) < 0) {
		*why = strerror(errno);
		goto fail;
	}
	if (S_ISDIR(st->st_mode)) {
		*why = "is a directory";
		goto fail;
	}
	b = ds_xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_FILE_BYTES) {
				*why = "file too large";
				goto fail;
			}
			cap *= 2;
			b = xrealloc(b, cap);
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = n;
	return DS_OK;
fail:
	free(b);
	close(fd);
	return DS_EIO;
}

/* ---------------------------------------------------------------- imports */

static const struct snippet *find_snippet(const struct parser *p, const char *name)
{
	for (size_t i = 0; i < p->nsnips; i++)
		if (strcmp(p->snips[i].name, name) == 0)
			return &p->snips[i];
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct matches {
	char **v;
	size_t n, cap;
};

static void matches_add(struct parser *p, struct matches *m, const char *s)
{
	m->v = vec_push(p->ar, m->v, &m->n, &m->cap, sizeof(*m->v));
	m->v[m->n - 1] = arena_strdup(p->ar, s);
}

/* Expand the components of pattern below base (an existing path) into m,
 * like Go's filepath.Glob, which CoreDNS uses: '*' also matches a leading
 * dot, unreadable directories give no matches, and each directory's names
 * come out sorted. */
static void glob_rec(struct parser *p, const char *base, const char *pattern, struct matches *m)
{
	while (*pattern == '/')
		pattern++;
	const char *slash = strchr(pattern, '/');
	size_t clen = slash ? (size_t)(slash - pattern) : strlen(pattern);
	const char *rest = slash ? slash : "";
	char *comp = arena_strndup(p->ar, pattern, clen);
	bool top = strcmp(base, "/") == 0;

	if (!strpbrk(comp, "*?\\")) {
		size_t n = strlen(base) + clen + 2;
		char *path = arena_alloc(p->ar, n);
		snprintf(path, n, "%s%s%s", base, top ? "" : "/", comp);
		struct stat st;
		if (lstat(path, &st) != 0)
			return;
		if (*rest && rest[strspn(rest, "/")])
			glob_rec(p, path, rest, m);
		else
			matches_add(p, m, path);
		return;
	}
	DIR *d = opendir(base);
	if (!d)
		return;
	struct matches here = {0};
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fnmatch(comp, de->d_name, 0) != 0)
			continue;
		size_t n = strlen(base) + strlen(de->d_name) + 2;
		char *path = arena_alloc(p->ar, n);
		snprintf(path, n, "%s%s%s", base, top ? "" : "/", de->d_name);
		here.v = vec_push(p->ar, here.v, &here.n, &here.cap, sizeof(*here.v));
		here.v[here.n - 1] = path;
	}
	closedir(d);
	if (here.n)
		qsort(here.v, here.n, sizeof(*here.v), cmp_str);
	for (size_t i = 0; i < here.n; i++) {
		if (*rest && rest[strspn(rest, "/")])
			glob_rec(p, here.v[i], rest, m);
		else
			matches_add(p, m, here.v[i]);
	}
}

/* Lex one imported file and append its tokens to all. */
static int import_file(struct parser *p, const struct tok *at, const char *path,
		       struct tokv *all)
{
	char *buf = NULL;
	size_t len;
	struct stat st;
	const char *why = NULL;
	int rc;
	if (read_file(path, &buf, &len, &st, &why) != DS_OK) {
		rc = perr(p, at, "Could not import %s: %s", path, why);
		goto fail;
	}
	for (const struct origin *o = at->org; o; o = o->up) {
		if (!o->snippet && o->has_id && o->dev == st.st_dev && o->ino == st.st_ino) {
			rc = perr(p, at, "Import cycle: %s is already being imported", path);
			goto fail;
		}
	}
	struct origin *org = arena_alloc(p->ar, sizeof(*org));
	*org = (struct origin){.up = at->org, .has_id = true, .dev = st.st_dev, .ino = st.st_ino};
	struct src *src = arena_alloc(p->ar, sizeof(*src));
	src->file = arena_strdup(p->ar, path);
	src->dir = dir_of(p->ar, path);
	struct tokv tv = {0};
	rc = lex(p, src, org, buf, len, &tv);
	if (rc)
		goto fail;
	if (tv.n) {
		/* Each file's text starts a line of its own. */
		tv.v[0].nl = true;
		for (size_t i = 0; i < tv.n; i++) {
			all->v = vec_push(p->ar, all->v, &all->n, &all->cap, sizeof(*all->v));
			all->v[all->n - 1] = tv.v[i];
		}
	}
	free(buf);
	return DS_OK;
fail:
	free(buf);
	return rc;
}

/* The current token is "import" at the start of a line. Replace it and
 * its argument by what it names; the next next() reads the first pasted
 * token. */
static int do_import(struct parser *p)
{
	struct tok imp = p->cur;
	if (!peek_same_line(p))
		return perr(p, &imp, "Wrong argument count or unexpected line ending after '%s'",
			    imp.text);
	next(p);
	struct tok arg = p->cur;
	const char *pattern = arg.text;
	if (!*pattern)
		return perr(p, &arg, "Import requires a non-empty filepath");
	if (peek_same_line(p)) {
		next(p);
		return perr(p, &p->cur, "Import takes only one argument (glob pattern or file)");
	}

	const struct snippet *sn = find_snippet(p, pattern);
	if (sn) {
		if (p->snippet_exp >= DS_COREFILE_MAX_EXPANSIONS)
			return perr(p, &arg, "maximum snippet import depth (%d) exceeded",
				    DS_COREFILE_MAX_EXPANSIONS);
		/* A snippet reached again through its own expansion would only
		 * stop at the cap; say so now with the same words. */
		for (const struct origin *o = arg.org; o; o = o->up)
			if (o->snippet && strcmp(o->snippet, sn->name) == 0)
				return perr(p, &arg, "maximum snippet import depth (%d) exceeded",
					    DS_COREFILE_MAX_EXPANSIONS);
		p->snippet_exp++;
		struct origin *org = arena_alloc(p->ar, sizeof(*org));
		*org = (struct origin){.up = arg.org, .snippet = sn->name};
		return paste(p, &arg, sn->toks, sn->n, org);
	}

	if (p->file_exp >= DS_COREFILE_MAX_EXPANSIONS)
		return perr(p, &arg, "maximum file import depth (%d) exceeded",
			    DS_COREFILE_MAX_EXPANSIONS);
	p->file_exp++;
	char *glob_pat = abs_join(p->ar, arg.src->dir, pattern);
	size_t stars = 0, qmarks = 0;
	for (const char *c = glob_pat; *c; c++) {
		stars += *c == '*';
		qmarks += *c == '?';
	}
	/* Several wildcards can make matching take very long. */
	if (stars > 1 || qmarks > 1 || (strchr(glob_pat, '[') && strchr(glob_pat, ']')))
		return perr(p, &arg,
			    "Glob pattern may only contain one wildcard (*), but has others: %s",
			    glob_pat);
	if (strchr(glob_pat, '['))
		return perr(p, &arg, "Failed to use import pattern %s: syntax error in pattern",
			    pattern);

	struct matches m = {0};
	if (strpbrk(glob_pat, "*?\\")) {
		glob_rec(p, "/", glob_pat, &m);
	} else {
		struct stat st;
		if (lstat(glob_pat, &st) == 0)
			matches_add(p, &m, glob_pat);
	}
	if (m.n == 0) {
		if (strpbrk(glob_pat, "*?[]")) {
			ds_log(DS_LOG_WARNING, "No files matching import glob pattern: %s",
			       pattern);
			return DS_OK;
		}
		return perr(p, &arg, "File to import not found: %s", pattern);
	}
	struct tokv all = {0};
	for (size_t i = 0; i < m.n; i++) {
		int rc = import_file(p, &arg, m.v[i], &all);
		if (rc)
			return rc;
	}
	return paste(p, &arg, all.v, all.n, NULL);
}

/* --------------------------------------------------------------- blocks */

static ds_token_t out_tok(const struct tok *t)
{
	ds_token_t o = {
		.text = t->text,
		.file = t->src->file,
		.line = t->line,
		.end_line = t->end_line,
		.line_start = t->nl,
		/* ds_args tells braces by "unquoted and lone", so a brace made
		 * by substitution must not look like one. */
		.quoted = t->quoted || (!t->brace && (strcmp(t->text, "{") == 0 ||
						      strcmp(t->text, "}") == 0)),
	};
	return o;
}

static int addresses(struct parser *p, struct blockb *b)
{
	bool expecting = false;
	for (;;) {
		if (is_import(&p->cur) && p->cur.nl) {
			int rc = do_import(p);
			if (rc)
				return rc;
			if (!next(p)) {
				if (expecting)
					return perr(p, &p->cur, "Unexpected EOF");
				p->eof = true;
				return DS_OK;
			}
			continue;
		}
		struct tok t = p->cur;
		if (t.brace == '{') {
			if (expecting)
				return perr(p, &t,
					    "Expected another address but had '%s' - check for "
					    "extra comma",
					    t.text);
			return DS_OK;
		}
		if (t.brace == '}')
			return perr(p, &t, "Unexpected '}' because no matching opening brace");
		size_t len = strlen(t.text);
		if (len) {
			/* A trailing comma says another key follows, maybe on the
			 * next line. */
			expecting = t.text[len - 1] == ',';
			if (expecting)
				t.text = arena_strndup(p->ar, t.text, len - 1);
			if (*t.text) {
				b->keys = vec_push(p->ar, b->keys, &b->nkeys, &b->capkeys,
						   sizeof(*b->keys));
				b->keys[b->nkeys - 1] = out_tok(&t);
			}
		}
		bool has = next(p);
		if (expecting && !has)
			return perr(p, &p->cur, "Unexpected EOF");
		if (!has) {
			p->eof = true;
			return DS_OK;
		}
		if (!expecting && p->cur.nl)
			return DS_OK;
	}
}

/* The current token starts a directive line: collect it with its
 * arguments and any block it opens. */
static int directive(struct parser *p, struct blockb *b)
{
	struct tok name = p->cur;
	if (p->known && !p->known(name.text, p->ctx))
		return perr(p, &name, "Unknown directive '%s'", name.text);
	ds_token_t *toks = NULL;
	size_t n = 0, cap = 0;
	toks = vec_push(p->ar, toks, &n, &cap, sizeof(*toks));
	toks[0] = out_tok(&name);
	int nesting = 0;
	while (next(p)) {
		const struct tok *t = &p->cur;
		if (t->brace == '{') {
			nesting++;
		} else if (t->nl && nesting == 0) {
			unread(p);
			break;
		} else if (t->brace == '}' && nesting > 0) {
			nesting--;
		} else if (t->brace == '}') {
			return perr(p, t, "Unexpected '}' because no matching opening brace");
		} else if (is_import(t) && t->nl) {
			int rc = do_import(p);
			if (rc)
				return rc;
			continue;
		}
		toks = vec_push(p->ar, toks, &n, &cap, sizeof(*toks));
		toks[n - 1] = out_tok(t);
	}
	if (nesting > 0)
		return perr(p, &p->cur, "Unexpected EOF");
	b->dirs = vec_push(p->ar, b->dirs, &b->ndirs, &b->capdirs, sizeof(*b->dirs));
	b->dirs[b->ndirs - 1] =
		(ds_directive_t){.name = toks[0].text, .tokens = toks, .ntokens = n};
	return DS_OK;
}

/* Directive lines up to the "}" closing the block (*closed) or EOF. */
static int directives(struct parser *p, struct blockb *b, bool *closed)
{
	*closed = false;
	while (next(p)) {
		if (p->cur.brace == '}') {
			*closed = true;
			return DS_OK;
		}
		int rc = is_import(&p->cur) ? do_import(p) : directive(p, b);
		if (rc)
			return rc;
	}
	return DS_OK;
}

static int define_snippet(struct parser *p, const char *name)
{
	if (find_snippet(p, name))
		return perr(p, &p->cur, "redeclaration of previously declared snippet %s", name);
	if (p->cur.brace != '{')
		return perr(p, &p->cur, "Unexpected token '%s', expecting '{'", p->cur.text);
	struct tokv tv = {0};
	int depth = 1;
	while (next(p)) {
		if (p->cur.brace == '}' && --depth == 0)
			break;
		if (p->cur.brace == '{')
			depth++;
		tv.v = vec_push(p->ar, tv.v, &tv.n, &tv.cap, sizeof(*tv.v));
		tv.v[tv.n - 1] = p->cur;
	}
	if (depth != 0)
		return perr(p, &p->cur, "Unexpected EOF, expecting '}'");
	/* CoreDNS refuses a snippet that imports itself when it is defined,
	 * even if it is never used. */
	for (size_t i = 0; i + 1 < tv.n; i++) {
		if (is_import(&tv.v[i]) && (i == 0 || tv.v[i].nl) &&
		    strcmp(tv.v[i + 1].text, name) == 0)
			return perr(p, &tv.v[i], "maximum snippet import depth (%d) exceeded",
				    DS_COREFILE_MAX_EXPANSIONS);
	}
	p->snips = vec_push(p->ar, p->snips, &p->nsnips, &p->capsnips, sizeof(*p->snips));
	p->snips[p->nsnips - 1] = (struct snippet){.name = name, .toks = tv.v, .n = tv.n};
	return DS_OK;
}

/* One server block (or snippet); the current token is its first. */
static int parse_one(struct parser *p)
{
	struct blockb b = {0};
	bool closed;
	int rc;
	p->eof = false;
	rc = addresses(p, &b);
	if (rc)
		return rc;
	if (!p->eof) {
		size_t kl = b.nkeys == 1 ? strlen(b.keys[0].text) : 0;
		if (kl >= 2 && b.keys[0].text[0] == '(' && b.keys[0].text[kl - 1] == ')') {
			const char *name = arena_strndup(p->ar, b.keys[0].text + 1, kl - 2);
			return define_snippet(p, name);
		}
		bool braces = p->cur.brace == '{';
		struct tok open = p->cur;
		if (!braces)
			unread(p); /* a file with one block may omit the braces */
		rc = directives(p, &b, &closed);
		if (rc)
			return rc;
		if (braces && !closed)
			return perr(p, &p->cur,
				    "Unexpected EOF, expecting '}' to close the '{' on line %d",
				    open.line);
		if (!braces && closed)
			return perr(p, &p->cur, "Unexpected '}' because no matching opening brace");
	}
	/* A block whose keys were all empty ("") is dropped, as CoreDNS does. */
	if (b.nkeys == 0)
		return DS_OK;
	p->blocks = vec_push(p->ar, p->blocks, &p->nblocks, &p->capblocks, sizeof(*p->blocks));
	p->blocks[p->nblocks - 1] = (ds_sblock_t){
		.keys = b.keys, .nkeys = b.nkeys, .dirs = b.dirs, .ndirs = b.ndirs};
	return DS_OK;
}

static int parse_buf(const char *name, const char *text, size_t len, const char *dir,
		     const struct stat *id, ds_known_directive_f known, void *ctx,
		     ds_corefile_t **out, ds_err_t *err)
{
	struct parser p = {.err = err, .known = known, .ctx = ctx};
	ds_corefile_t *cf = NULL;
	int rc;
	p.ar = ds_xcalloc(1, sizeof(*p.ar));

	struct src *src = arena_alloc(p.ar, sizeof(*src));
	src->file = arena_strdup(p.ar, name);
	src->dir = arena_strdup(p.ar, dir);
	struct origin *org = arena_alloc(p.ar, sizeof(*org));
	*org = (struct origin){0};
	if (id) {
		org->has_id = true;
		org->dev = id->st_dev;
		org->ino = id->st_ino;
	}
	struct tokv tv = {0};
	rc = lex(&p, src, org, text, len, &tv);
	if (rc)
		goto fail;
	rc = paste(&p, NULL, tv.v, tv.n, NULL);
	if (rc)
		goto fail;
	while (next(&p)) {
		rc = parse_one(&p);
		if (rc)
			goto fail;
	}

	cf = ds_xcalloc(1, sizeof(*cf));
	cf->path = src->file;
	cf->blocks = p.blocks;
	cf->nblocks = p.nblocks;
	cf->priv = p.ar;
	*out = cf;
	rc = DS_OK;
	goto done;
fail:
	arena_free(p.ar);
done:
	free(p.pend);
	free(p.lexbuf.s);
	free(p.envbuf.s);
	free(p.tmp.s);
	return rc;
}

int ds_corefile_parse_string(const char *name, const char *text, const char *dir,
			     ds_known_directive_f known, void *ctx, ds_corefile_t **out,
			     ds_err_t *err)
{
	*out = NULL;
	if (!text)
		return ds_errf(err, DS_EINVAL, "no Corefile text");
	struct arena *tmp = ds_xcalloc(1, sizeof(*tmp));
	char *cwd = cwd_dup(tmp);
	const char *absdir = dir ? abs_join(tmp, cwd, dir) : cwd;
	int rc = parse_buf(name ? name : "Corefile", text, strlen(text), absdir, NULL, known, ctx,
			   out, err);
	arena_free(tmp);
	return rc;
}

int ds_corefile_parse_file(const char *path, ds_known_directive_f known, void *ctx,
			   ds_corefile_t **out, ds_err_t *err)
{
	*out = NULL;
	char *buf = NULL;
	size_t len;
	struct stat st;
	const char *why = NULL;
	if (!path)
		return ds_errf(err, DS_ENOENT, "no Corefile path");
	if (read_file(path, &buf, &len, &st, &why) != DS_OK)
		return ds_errf(err, DS_ENOENT, "%s: %s", path, why);
	struct arena *tmp = ds_xcalloc(1, sizeof(*tmp));
	const char *dir = dir_of(tmp, abs_join(tmp, cwd_dup(tmp), path));
	int rc = parse_buf(path, buf, len, dir, &st, known, ctx, out, err);
	arena_free(tmp);
	free(buf);
	return rc;
}

void ds_corefile_free(ds_corefile_t *cf)
{
	if (!cf)
		return;
	arena_free(cf->priv);
	free(cf);
}

/* ------------------------------------------------------------ canonical */

static cJSON *canon_tok(const ds_token_t *t)
{
	/* A quoted brace means something else than a block brace; keep the
	 * two apart so that edit changes the hash. */
	if (t->quoted && (strcmp(t->text, "{") == 0 || strcmp(t->text, "}") == 0)) {
		cJSON *o = cJSON_CreateObject();
		if (o && !cJSON_AddStringToObject(o, "quoted", t->text)) {
			cJSON_Delete(o);
			return NULL;
		}
		return o;
	}
	return cJSON_CreateString(t->text);
}

/* [{"keys":[...],"directives":[[[tok,...],[tok,...]], ...]}, ...]: each
 * directive is its lines, each line its tokens. Line numbers, comments and
 * spacing are left out; where lines break inside a directive is kept
 * because it changes what the tokens mean. */
char *ds_corefile_canonical(const ds_corefile_t *cf)
{
	char *out = NULL;
	cJSON *root = cJSON_CreateArray();
	if (!root || !cf)
		goto fail;
	for (size_t b = 0; b < cf->nblocks; b++) {
		const ds_sblock_t *sb = &cf->blocks[b];
		cJSON *blk = cJSON_CreateObject();
		if (!blk)
			goto fail;
		cJSON_AddItemToArray(root, blk);
		cJSON *keys = cJSON_AddArrayToObject(blk, "keys");
		cJSON *dirs = cJSON_AddArrayToObject(blk, "directives");
		if (!keys || !dirs)
			goto fail;
		for (size_t k = 0; k < sb->nkeys; k++) {
			cJSON *s = cJSON_CreateString(sb->keys[k].text);
			if (!s)
				goto fail;
			cJSON_AddItemToArray(keys, s);
		}
		for (size_t d = 0; d < sb->ndirs; d++) {
			const ds_directive_t *dir = &sb->dirs[d];
			cJSON *lines = cJSON_CreateArray(), *line = NULL;
			if (!lines)
				goto fail;
			cJSON_AddItemToArray(dirs, lines);
			for (size_t i = 0; i < dir->ntokens; i++) {
				if (!line || dir->tokens[i].line_start) {
					line = cJSON_CreateArray();
					if (!line)
						goto fail;
					cJSON_AddItemToArray(lines, line);
				}
				cJSON *t = canon_tok(&dir->tokens[i]);
				if (!t)
					goto fail;
				cJSON_AddItemToArray(line, t);
			}
		}
	}
	out = cJSON_PrintUnformatted(root);
fail:
	cJSON_Delete(root);
	return out;
}

/* ------------------------------------------------------- coredns names */

/* CoreDNS's plugin.cfg, in its order. */
static const char *const coredns_plugins[] = {
	"root", "metadata", "geoip", "cancel", "proxyproto", "quic", "grpc_server", "https",
	"https3", "timeouts", "multisocket", "reload", "nsid", "bufsize", "bind", "debug",
	"trace", "ready", "health", "pprof", "shed", "prometheus", "errors", "log", "dnstap",
	"local", "dns64", "any", "chaos", "loadbalance", "tsig", "rewrite", "autopath", "acl",
	"cache", "header", "dnssec", "tls", "minimal", "template", "transfer", "hosts",
	"route53", "azure", "clouddns", "k8s_external", "kubernetes", "file", "auto",
	"secondary", "etcd", "loop", "forward", "grpc", "erratic", "whoami", "on", "sign",
	"view", "nomad",
};

bool ds_corefile_coredns_directive(const char *name, void *ctx)
{
	(void)ctx;
	if (!name)
		return false;
	for (size_t i = 0; i < DS_ARRAY_SIZE(coredns_plugins); i++)
		if (strcmp(coredns_plugins[i], name) == 0)
			return true;
	return false;
}

/* ----------------------------------------------------------------- keys */

static const struct {
	const char *name;
	ds_scheme_t scheme;
	int port; /* 0: the -dns.port value */
} schemes[] = {
	{"dns", DS_SCHEME_DNS, 0},	  {"tls", DS_SCHEME_TLS, 853},
	{"quic", DS_SCHEME_QUIC, 853},	  {"grpc", DS_SCHEME_GRPC, 443},
	{"https", DS_SCHEME_HTTPS, 443}, {"https3", DS_SCHEME_HTTPS3, 443},
};

/* Reverse zones of a CIDR. The prefix is rounded up to the next label
 * boundary (octet for IPv4, nibble for IPv6) and the networks in between
 * are listed, as CoreDNS does. Writes up to max zones of zlen bytes each
 * into zones (stride zstride); returns the count they need, DS_EINVAL if
 * s is not a CIDR, DS_ENOSPC if a zone does not fit zlen. */
static int cidr_zones(const char *s, char *zones, size_t zstride, size_t zlen, size_t max)
{
	const char *slash = strchr(s, '/');
	char ip[INET6_ADDRSTRLEN + 1];
	size_t iplen = (size_t)(slash - s);
	if (!slash || iplen == 0 || iplen >= sizeof(ip))
		return DS_EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = 0;
	const char *pfx = slash + 1;
	if (!*pfx || strlen(pfx) > 3 || pfx[strspn(pfx, "0123456789")])
		return DS_EINVAL;
	int prefix = atoi(pfx);
	unsigned char addr[16];
	bool v4 = strchr(ip, ':') == NULL;
	if (inet_pton(v4 ? AF_INET : AF_INET6, ip, addr) != 1)
		return DS_EINVAL;
	int bits = v4 ? 32 : 128, unit = v4 ? 8 : 4;
	if (prefix > bits)
		return DS_EINVAL;
	/* Labels of the reverse name, most significant first. */
	unsigned digit[32];
	int ndigits = bits / unit;
	for (int i = 0; i < ndigits; i++)
		digit[i] = v4 ? addr[i] : (i % 2 ? addr[i / 2] & 0x0f : addr[i / 2] >> 4);
	int boundary = (prefix + unit - 1) / unit * unit;
	int nlab = boundary / unit;
	unsigned count = 1u << (boundary - prefix);
	unsigned base = 0;
	if (nlab > 0) {
		/* Only the last label can be partly inside the prefix. */
		int inside = prefix - (nlab - 1) * unit;
		unsigned keep = ((1u << unit) - 1) & ~((1u << (unit - inside)) - 1);
		base = digit[nlab - 1] & keep;
	}
	for (unsigned k = 0; k < count && k < max; k++) {
		char *z = zones + (size_t)k * zstride;
		size_t used = 0;
		for (int i = nlab - 1; i >= 0; i--) {
			unsigned v = i == nlab - 1 ? base + k : digit[i];
			int w = snprintf(z + used, zlen - used, v4 ? "%u." : "%x.", v);
			if (w < 0 || (size_t)w >= zlen - used)
				return DS_ENOSPC;
			used += (size_t)w;
		}
		int w = snprintf(z + used, zlen - used, "%s", v4 ? "in-addr.arpa." : "ip6.arpa.");
		if (w < 0 || (size_t)w >= zlen - used)
			return DS_ENOSPC;
	}
	return (int)count;
}

/* Lower-case FQDN of a domain name; DS_EINVAL for empty labels, labels
 * over 63 bytes or a name over 255 bytes on the wire. */
static int name_fqdn(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);
	if (n == 0)
		return DS_EINVAL;
	if (strcmp(s, ".") == 0) {
		if (outlen < 2)
			return DS_ENOSPC;
		strcpy(out, ".");
		return DS_OK;
	}
	bool dot = s[n - 1] == '.';
	size_t len = n + !dot;
	if (len > 254) /* + the root label's length byte = 255 on the wire */
		return DS_EINVAL;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (lab == 0)
				return DS_EINVAL;
			lab = 0;
		} else if (++lab > 63) {
			return DS_EINVAL;
		}
	}
	if (len + 1 > outlen)
		return DS_ENOSPC;
	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	if (!dot)
		out[n++] = '.';
	out[n] = 0;
	return DS_OK;
}

int ds_zone_normalize(const char *in, char *out, size_t outlen)
{
	if (!in || !out || outlen == 0)
		return DS_EINVAL;
	if (strchr(in, '/')) {
		int n = cidr_zones(in, out, outlen, outlen, 1);
		return n < 0 ? n : DS_OK;
	}
	return name_fqdn(in, out, outlen);
}

int ds_zone_key_parse(const char *key, int dns_port, ds_zone_key_t *out, size_t max,
		      ds_err_t *err)
{
	if (!key)
		return ds_errf(err, DS_ECONFIG, "empty server block key");
	ds_scheme_t scheme = DS_SCHEME_DNS;
	int port = dns_port;
	const char *rest = key;
	const char *sep = strstr(key, "://");
	if (sep) {
		size_t sl = (size_t)(sep - key);
		size_t i;
		for (i = 0; i < DS_ARRAY_SIZE(schemes); i++)
			if (strlen(schemes[i].name) == sl &&
			    strncasecmp(key, schemes[i].name, sl) == 0)
				break;
		if (i == DS_ARRAY_SIZE(schemes))
			return ds_errf(err, DS_ECONFIG,
				       "unknown scheme '%.*s' in server block key '%s'", (int)sl,
				       key, key);
		scheme = schemes[i].scheme;
		if (schemes[i].port)
			port = schemes[i].port;
		rest = sep + 3;
	}
	char host[512];
	if (strlen(rest) >= sizeof(host))
		return ds_errf(err, DS_ECONFIG, "specified zone is too long: %s", key);
	strcpy(host, rest);
	/* The port is what follows the last colon when it is a number; a
	 * colon followed by "/len" belongs to an IPv6 CIDR. */
	char *colon = strrchr(host, ':');
	if (colon) {
		const char *ps = colon + 1;
		if (!*ps)
			return ds_errf(err, DS_ECONFIG, "expecting data after last colon: \"%s\"",
				       key);
		if (!ps[strspn(ps, "0123456789")]) {
			long v = strlen(ps) > 5 ? 0 : strtol(ps, NULL, 10);
			if (v < 1 || v > 65535)
				return ds_errf(err, DS_ECONFIG,
					       "invalid port '%s' in server block key '%s': "
					       "must be 1..65535",
					       ps, key);
			port = (int)v;
			*colon = 0;
		} else if (!strchr(ps, '/')) {
			return ds_errf(err, DS_ECONFIG,
				       "invalid port '%s' in server block key '%s'", ps, key);
		}
	}
	if (!*host)
		return ds_errf(err, DS_ECONFIG, "no zone in server block key '%s'", key);
	int n;
	if (strchr(host, '/')) {
		char zones[DS_ZONE_KEY_MAX][sizeof(out->zone)];
		n = cidr_zones(host, &zones[0][0], sizeof(zones[0]), sizeof(zones[0]),
			       DS_ZONE_KEY_MAX);
		if (n < 0)
			return ds_errf(err, DS_ECONFIG,
				       "invalid CIDR '%s' in server block key '%s'", host, key);
		if ((size_t)n > max)
			return ds_errf(err, DS_ENOSPC,
				       "server block key '%s' expands to %d zones, more than %zu",
				       key, n, max);
		for (int i = 0; i < n; i++) {
			out[i].scheme = scheme;
			out[i].port = port;
			memcpy(out[i].zone, zones[i], sizeof(out[i].zone));
		}
		return n;
	}
	if (max < 1)
		return ds_errf(err, DS_ENOSPC, "no room for the zone of server block key '%s'",
			       key);
	if (name_fqdn(host, out[0].zone, sizeof(out[0].zone)) != DS_OK)
		return ds_errf(err, DS_ECONFIG, "zone is not a valid domain name: %s", host);
	out[0].scheme = scheme;
	out[0].port = port;
	return 1;
}

/* ----------------------------------------------------------------- args */

static bool tok_brace(const ds_token_t *t, char c)
{
	return !t->quoted && t->text[0] == c && t->text[1] == 0;
}

static bool same_file(const ds_token_t *a, const ds_token_t *b)
{
	return a->file == b->file || (a->file && b->file && strcmp(a->file, b->file) == 0);
}

/* Does n continue the line of t? Parser tokens say so with line_start;
 * hand-built ones are judged by file and line alone. */
static bool same_line(const ds_token_t *t, const ds_token_t *n)
{
	int end = t->end_line > t->line ? t->end_line : t->line;
	return !n->line_start && same_file(t, n) && n->line == end;
}

static bool at_token(const ds_args_t *a)
{
	return a->dir && a->cursor < a->dir->ntokens;
}

void ds_args_init(ds_args_t *a, const ds_directive_t *dir, const char *plugin, ds_err_t *err)
{
	a->dir = dir;
	a->cursor = (size_t)-1;
	a->nesting = 0;
	a->plugin = plugin;
	a->err = err;
}

bool ds_args_next(ds_args_t *a)
{
	/* (size_t)-1 + 1 wraps to 0: the first call lands on the name. */
	if (!a->dir || a->cursor + 1 >= a->dir->ntokens)
		return false;
	a->cursor++;
	return true;
}

bool ds_args_next_arg(ds_args_t *a)
{
	if (!a->dir)
		return false;
	if (a->cursor == (size_t)-1)
		return ds_args_next(a);
	if (a->cursor + 1 >= a->dir->ntokens)
		return false;
	const ds_token_t *cur = &a->dir->tokens[a->cursor], *n = cur + 1;
	if (!same_line(cur, n) || tok_brace(n, '{') || tok_brace(n, '}'))
		return false;
	a->cursor++;
	return true;
}

bool ds_args_next_block(ds_args_t *a)
{
	if (!at_token(a))
		return false;
	const ds_token_t *t = a->dir->tokens;
	size_t n = a->dir->ntokens, c = a->cursor;
	if (c + 1 < n && tok_brace(&t[c + 1], '{') && same_line(&t[c], &t[c + 1])) {
		if (c + 2 >= n) {
			a->cursor = c + 1;
			return false;
		}
		if (tok_brace(&t[c + 2], '}')) {
			a->cursor = c + 2; /* "{ }": opened and closed at once */
			return false;
		}
		a->cursor = c + 2;
		a->nesting++;
		return true;
	}
	if (a->nesting == 0)
		return false;
	/* Skip the rest of this entry, and any block it opens, up to the
	 * next entry or the "}" that closes the block being walked. */
	int depth = tok_brace(&t[c], '{') ? 1 : 0;
	for (size_t i = c + 1; i < n; i++) {
		if (tok_brace(&t[i], '{')) {
			depth++;
		} else if (tok_brace(&t[i], '}')) {
			if (depth == 0) {
				a->cursor = i;
				a->nesting--;
				return false;
			}
			depth--;
		} else if (depth == 0 && !same_line(&t[i - 1], &t[i])) {
			a->cursor = i;
			return true;
		}
	}
	/* Ran off the end: the block was not closed (hand-built tokens). */
	a->cursor = n - 1;
	a->nesting = 0;
	return false;
}

const char *ds_args_val(const ds_args_t *a)
{
	return at_token(a) ? a->dir->tokens[a->cursor].text : "";
}

/* The token errors should point at: the current one, else the nearest. */
static const ds_token_t *err_tok(const ds_args_t *a)
{
	if (!a->dir || a->dir->ntokens == 0)
		return NULL;
	if (a->cursor == (size_t)-1)
		return &a->dir->tokens[0];
	if (a->cursor >= a->dir->ntokens)
		return &a->dir->tokens[a->dir->ntokens - 1];
	return &a->dir->tokens[a->cursor];
}

int ds_args_line(const ds_args_t *a)
{
	const ds_token_t *t = err_tok(a);
	return t ? t->line : 0;
}

const char *ds_args_file(const ds_args_t *a)
{
	const ds_token_t *t = err_tok(a);
	return t && t->file ? t->file : "Corefile";
}

size_t ds_args_remaining(ds_args_t *a, const char **out, size_t max)
{
	size_t n = 0;
	while (ds_args_next_arg(a)) {
		if (n < max && out)
			out[n] = ds_args_val(a);
		n++;
	}
	return n;
}

int ds_args_err(ds_args_t *a, const char *fmt, ...)
{
	char msg[DS_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->plugin)
		return ds_errf(a->err, DS_ECONFIG, "%s:%d - Error during parsing: plugin/%s: %s",
			       ds_args_file(a), ds_args_line(a), a->plugin, msg);
	return ds_errf(a->err, DS_ECONFIG, "%s:%d - Error during parsing: %s", ds_args_file(a),
		       ds_args_line(a), msg);
}

int ds_args_err_argcount(ds_args_t *a)
{
	if (at_token(a) && tok_brace(&a->dir->tokens[a->cursor], '{'))
		return ds_args_err(a, "Unexpected token '{', expecting argument");
	return ds_args_err(a, "Wrong argument count or unexpected line ending after '%s'",
			   ds_args_val(a));
}
