/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "corefile": the Corefile lexer and parser (lib/corefile.h)
 * with CoreDNS's directive check, server block keys (ds_zone_key_parse,
 * ds_zone_normalize) and the ds_args_* cursor walked the way plugins
 * walk their configuration, nested blocks included.
 *
 * Input: Corefile text (up to the first NUL byte). Imports resolve in a
 * scratch folder holding two small files, "a" (a snippet) and "b" (a
 * block importing it), so `import a`, `import b` and `import *` reach
 * the import paths without touching anything else. Inputs that could
 * import from elsewhere (absolute paths, "..", substitutions) are skipped:
 * see ds_fuzz_import_escapes().
 *
 * Checked beyond crashes: what the strict parse accepts the lenient one
 * accepts too; an error always comes with a message; the canonical form
 * is JSON with one entry per block; keys normalise to lower-case FQDNs
 * with a port in range; the cursor ends within its tokens.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/corefile.h"
#include "tests/fuzz/fuzz.h"

static const char *dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char a[] = "(s) {\n\tlog\n\terrors\n}\n";
	static const char b[] = "example.org:1053 {\n\timport s\n\tcache 30 {\n\t\tsuccess 10\n\t}\n}\n";
	char path[512];
	dir = ds_fuzz_dir();
	if (!dir || ds_fuzz_write("a", a, sizeof(a) - 1, path, sizeof(path)) < 0 ||
	    ds_fuzz_write("b", b, sizeof(b) - 1, path, sizeof(path)) < 0) {
		fprintf(stderr, "fuzz_corefile: cannot write the import fixtures\n");
		abort();
	}
	return 0;
}

static unsigned steps;

/* Walk one line's arguments, then every entry of the block it opens, the
 * way a plugin's setup does; nested blocks are walked as well. */
static void walk(ds_args_t *a, int depth)
{
	while (ds_args_next_arg(a)) {
		DS_FUZZ_CHECK(++steps < 1000000);
		DS_FUZZ_CHECK(ds_args_val(a) != NULL);
	}
	while (ds_args_next_block(a)) {
		DS_FUZZ_CHECK(++steps < 1000000);
		DS_FUZZ_CHECK(a->cursor < a->dir->ntokens);
		char z[256];
		ds_zone_normalize(ds_args_val(a), z, sizeof(z));
		if (depth < 8)
			walk(a, depth + 1);
	}
}

static void check_directive(const ds_directive_t *d)
{
	DS_FUZZ_CHECK(d->ntokens >= 1 && !strcmp(d->name, d->tokens[0].text));
	ds_err_t err = {{0}};
	ds_args_t a;

	/* Every token once, whatever line it is on. */
	ds_args_init(&a, d, "fuzz", &err);
	size_t n = 0;
	while (ds_args_next(&a))
		DS_FUZZ_CHECK(++n <= d->ntokens);
	DS_FUZZ_CHECK(n == d->ntokens);

	/* As a plugin reads it: name, arguments, block entries. */
	ds_args_init(&a, d, "fuzz", &err);
	DS_FUZZ_CHECK(ds_args_next(&a));
	steps = 0;
	walk(&a, 0);
	DS_FUZZ_CHECK(a.cursor == (size_t)-1 || a.cursor < d->ntokens);

	/* Collecting the rest of the line, and the error helpers. */
	ds_args_init(&a, d, "fuzz", &err);
	ds_args_next(&a);
	const char *rest[4];
	size_t r = ds_args_remaining(&a, rest, DS_ARRAY_SIZE(rest));
	DS_FUZZ_CHECK(r < d->ntokens);
	for (size_t i = 0; i < r && i < DS_ARRAY_SIZE(rest); i++)
		DS_FUZZ_CHECK(rest[i] != NULL);
	DS_FUZZ_CHECK(ds_args_line(&a) >= 1 && ds_args_file(&a) != NULL);
	DS_FUZZ_CHECK(ds_args_err_argcount(&a) == DS_ECONFIG && err.msg[0]);
	DS_FUZZ_CHECK(ds_args_err(&a, "%s", ds_args_val(&a)) == DS_ECONFIG);
}

static void check_key(const char *key)
{
	ds_zone_key_t z[DS_ZONE_KEY_MAX];
	ds_err_t err = {{0}};
	int n = ds_zone_key_parse(key, 53, z, DS_ZONE_KEY_MAX, &err);
	if (n < 0) {
		DS_FUZZ_CHECK(err.msg[0] != '\0');
		return;
	}
	DS_FUZZ_CHECK(n >= 1 && n <= DS_ZONE_KEY_MAX);
	for (int i = 0; i < n; i++) {
		size_t l = strnlen(z[i].zone, sizeof(z[i].zone));
		DS_FUZZ_CHECK(l >= 1 && l < sizeof(z[i].zone));
		DS_FUZZ_CHECK(z[i].zone[l - 1] == '.');
		for (size_t k = 0; k < l; k++)
			DS_FUZZ_CHECK(z[i].zone[k] < 'A' || z[i].zone[k] > 'Z');
		DS_FUZZ_CHECK(z[i].port >= 1 && z[i].port <= 65535);
		DS_FUZZ_CHECK(z[i].scheme <= DS_SCHEME_HTTPS3);
	}
	/* Fewer slots than zones: refused, never overrun. */
	ds_zone_key_t one;
	int m = ds_zone_key_parse(key, 53, &one, 1, &err);
	DS_FUZZ_CHECK(n == 1 ? m == 1 : m == DS_ENOSPC);
	char norm[256], tiny[4];
	ds_zone_normalize(key, norm, sizeof(norm));
	int t = ds_zone_normalize(key, tiny, sizeof(tiny));
	DS_FUZZ_CHECK(t == DS_OK || t == DS_EINVAL || t == DS_ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ds_fuzz_import_escapes(data, size))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ds_corefile_t *cf = NULL, *lax = NULL;
	ds_err_t err = {{0}}, lerr = {{0}};
	int rc = ds_corefile_parse_string("Corefile", text, dir, ds_corefile_coredns_directive,
					  NULL, &cf, &err);
	int lrc = ds_corefile_parse_string("Corefile", text, dir, NULL, NULL, &lax, &lerr);
	DS_FUZZ_CHECK((rc == DS_OK) == (cf != NULL));
	DS_FUZZ_CHECK((lrc == DS_OK) == (lax != NULL));
	DS_FUZZ_CHECK(rc == DS_OK || err.msg[0] != '\0');
	/* The directive check only refuses more. */
	DS_FUZZ_CHECK(rc != DS_OK || lrc == DS_OK);
	if (lax) {
		char *canon = ds_corefile_canonical(lax);
		DS_FUZZ_CHECK(canon != NULL);
		cJSON *j = cJSON_Parse(canon);
		DS_FUZZ_CHECK(cJSON_IsArray(j));
		DS_FUZZ_CHECK((size_t)cJSON_GetArraySize(j) == lax->nblocks);
		cJSON_Delete(j);
		if (cf) {
			/* Same text, same parse: the check changes nothing else. */
			char *c2 = ds_corefile_canonical(cf);
			DS_FUZZ_CHECK(c2 && !strcmp(c2, canon));
			free(c2);
		}
		free(canon);
		for (size_t b = 0; b < lax->nblocks; b++) {
			const ds_sblock_t *sb = &lax->blocks[b];
			for (size_t k = 0; k < sb->nkeys; k++)
				check_key(sb->keys[k].text);
			for (size_t d = 0; d < sb->ndirs; d++)
				check_directive(&sb->dirs[d]);
		}
	}
	ds_corefile_free(cf);
	ds_corefile_free(lax);
	free(text);
	return 0;
}
