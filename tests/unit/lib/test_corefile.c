/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/corefile: lexer, env substitution, server blocks,
 * snippets, imports, errors with file:line, the canonical form, zone keys,
 * the ds_args cursor, and the users' seed and loopback Corefiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/corefile.h"
#include "lib/log.h"

#ifndef DS_TEST_DATA
#error "DS_TEST_DATA must name tests/data (tests/unit/CMakeLists.txt sets it)"
#endif
#define CF DS_TEST_DATA "/corefile/"

static ds_corefile_t *parse_in(const char *text, const char *dir, ds_known_directive_f known)
{
	ds_corefile_t *cf = NULL;
	ds_err_t err = {{0}};
	int rc = ds_corefile_parse_string("Corefile", text, dir, known, NULL, &cf, &err);
	if (rc != DS_OK)
		print_error("unexpected parse error: %s\n", err.msg);
	assert_int_equal(rc, DS_OK);
	assert_non_null(cf);
	return cf;
}

static ds_corefile_t *parse_ok(const char *text)
{
	return parse_in(text, NULL, NULL);
}

static void parse_err_in(const char *text, const char *dir, ds_known_directive_f known,
			 const char *msg)
{
	ds_corefile_t *cf = (ds_corefile_t *)&cf; /* must be reset to NULL */
	ds_err_t err = {{0}};
	int rc = ds_corefile_parse_string("Corefile", text, dir, known, NULL, &cf, &err);
	assert_int_equal(rc, DS_ECONFIG);
	assert_null(cf);
	assert_string_equal(err.msg, msg);
}

static void parse_err(const char *text, const char *msg)
{
	parse_err_in(text, NULL, NULL, msg);
}

static ds_corefile_t *file_ok(const char *path, ds_known_directive_f known)
{
	ds_corefile_t *cf = NULL;
	ds_err_t err = {{0}};
	int rc = ds_corefile_parse_file(path, known, NULL, &cf, &err);
	if (rc != DS_OK)
		print_error("unexpected parse error: %s\n", err.msg);
	assert_int_equal(rc, DS_OK);
	return cf;
}

static void file_err(const char *path, ds_known_directive_f known, const char *msg)
{
	ds_corefile_t *cf = NULL;
	ds_err_t err = {{0}};
	assert_int_equal(ds_corefile_parse_file(path, known, NULL, &cf, &err), DS_ECONFIG);
	assert_null(cf);
	assert_string_equal(err.msg, msg);
}

/* A directive as text: tokens joined by spaces, a newline before each
 * token that starts a line. */
static const char *dir_str(const ds_directive_t *d)
{
	static char buf[4096];
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < d->ntokens; i++) {
		const char *sep = i == 0 ? "" : d->tokens[i].line_start ? "\n" : " ";
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", sep, d->tokens[i].text);
	}
	return buf;
}

static const char *keys_str(const ds_sblock_t *b)
{
	static char buf[1024];
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < b->nkeys; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      b->keys[i].text);
	return buf;
}

/* ------------------------------------------------------------- lexer */

static void test_lex_tokens_comments_quotes(void **st)
{
	ds_corefile_t *cf = parse_ok("a.org {\n"
				     "\tlog one \"two three\" \"a\\\"b\" \"a\\b\" four#five six\n"
				     "\t# a whole comment line\n"
				     "\twhoami # trailing comment\n"
				     "\tlog \"#not a comment\" x\"y z\"\n"
				     "}\n");
	assert_int_equal(cf->nblocks, 1);
	const ds_sblock_t *b = &cf->blocks[0];
	assert_string_equal(keys_str(b), "a.org");
	assert_int_equal(b->ndirs, 3);
	const ds_directive_t *d = &b->dirs[0];
	assert_string_equal(d->name, "log");
	assert_int_equal(d->ntokens, 6);
	assert_string_equal(d->tokens[2].text, "two three");
	assert_true(d->tokens[2].quoted);
	assert_string_equal(d->tokens[3].text, "a\"b");
	assert_string_equal(d->tokens[4].text, "a\\b");
	assert_string_equal(d->tokens[5].text, "four"); /* '#' cuts the word */
	assert_false(d->tokens[5].quoted);
	for (size_t i = 0; i < d->ntokens; i++)
		assert_int_equal(d->tokens[i].line, 2);
	assert_string_equal(b->dirs[1].name, "whoami");
	assert_int_equal(b->dirs[1].ntokens, 1);
	assert_int_equal(b->dirs[1].tokens[0].line, 4);
	assert_string_equal(b->dirs[1].tokens[0].file, "Corefile");
	/* '#' inside quotes is text; a quote inside a word is a character */
	assert_string_equal(dir_str(&b->dirs[2]), "log #not a comment x\"y z\"");
	ds_corefile_free(cf);
}

static void test_lex_whitespace_cr_unicode(void **st)
{
	/* CRLF files work; a lone \r is dropped without splitting the word;
	 * a no-break space separates tokens as Go's unicode.IsSpace says. */
	ds_corefile_t *cf = parse_ok("a.org {\r\n\twhoami\r\n\tlog a\rb c\xc2\xa0" "d\r\n}\r\n");
	assert_int_equal(cf->blocks[0].ndirs, 2);
	assert_string_equal(dir_str(&cf->blocks[0].dirs[1]), "log ab c d");
	assert_int_equal(cf->blocks[0].dirs[1].tokens[0].line, 3);
	ds_corefile_free(cf);
}

static void test_lex_multiline_quote(void **st)
{
	/* A quoted token may span lines; the token after it on its last
	 * line still belongs to the same directive line. */
	ds_corefile_t *cf = parse_ok(". {\n\tlog \"line1\nline2\" after\n\twhoami\n}\n");
	const ds_sblock_t *b = &cf->blocks[0];
	assert_int_equal(b->ndirs, 2);
	const ds_directive_t *d = &b->dirs[0];
	assert_int_equal(d->ntokens, 3);
	assert_string_equal(d->tokens[1].text, "line1\nline2");
	assert_int_equal(d->tokens[1].line, 2);
	assert_int_equal(d->tokens[1].end_line, 3);
	assert_string_equal(d->tokens[2].text, "after");
	assert_int_equal(d->tokens[2].line, 3);
	assert_false(d->tokens[2].line_start);
	assert_int_equal(b->dirs[1].tokens[0].line, 4);
	ds_corefile_free(cf);
}

static void test_lex_braces_only_alone(void **st)
{
	setenv("DS_T_BRACE", "{", 1);
	/* {common} and {$X} are words; quoted braces and braces made by
	 * substitution do not open blocks. */
	ds_corefile_t *cf =
		parse_ok(". {\n\tlog {common} \"{\" \"}\" {$DS_T_BRACE}\n\twhoami\n}\n");
	const ds_directive_t *d = &cf->blocks[0].dirs[0];
	assert_int_equal(cf->blocks[0].ndirs, 2);
	assert_int_equal(d->ntokens, 5);
	assert_string_equal(d->tokens[1].text, "{common}");
	assert_false(d->tokens[1].quoted);
	assert_string_equal(d->tokens[2].text, "{");
	assert_true(d->tokens[2].quoted);
	assert_true(d->tokens[3].quoted);
	assert_string_equal(d->tokens[4].text, "{");
	assert_true(d->tokens[4].quoted);
	/* ... so a plugin reads them as arguments */
	ds_args_t a;
	const char *args[8];
	ds_args_init(&a, d, "log", NULL);
	assert_true(ds_args_next(&a));
	assert_int_equal(ds_args_remaining(&a, args, 8), 4);
	assert_string_equal(args[3], "{");
	ds_corefile_free(cf);
	unsetenv("DS_T_BRACE");
}

static void test_lex_nul_byte(void **st)
{
	char path[] = "/tmp/ds_corefile_nul_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char data[] = ". {\n\twho\0ami\n}\n";
	assert_int_equal(write(fd, data, sizeof(data) - 1), (ssize_t)(sizeof(data) - 1));
	close(fd);
	char msg[256];
	snprintf(msg, sizeof(msg), "%s:2 - Error during parsing: NUL byte in input", path);
	file_err(path, NULL, msg);
	unlink(path);
}

/* ------------------------------------------------------ environment */

static void test_env_substitution(void **st)
{
	setenv("DS_T_A", "alpha", 1);
	setenv("DS_T_SP", "has space", 1);
	setenv("DS_T_PORT", "1053", 1);
	setenv("DS_T_DIR", "log", 1);
	setenv("DS_T_PCT", "pct", 1);
	setenv("DS_T_IND", "{$DS_T_A}", 1);
	setenv("DS_T_PREF", "{%DS_T_A%}", 1);
	unsetenv("DS_T_UNSET");
	ds_corefile_t *cf = parse_ok(
		".:{$DS_T_PORT} {%DS_T_A%}.org {$DS_T_UNSET} {\n"
		"\t{$DS_T_DIR} {$DS_T_SP} x{$DS_T_A}y {$DS_T_UNSET} {%DS_T_PCT%}{$DS_T_A}\n"
		"\tlog {%DS_T_A} {$} {%DS_T_IND%} {$DS_T_PREF}\n"
		"}\n");
	const ds_sblock_t *b = &cf->blocks[0];
	/* the empty key from an unset variable is skipped */
	assert_string_equal(keys_str(b), ".:1053 alpha.org");
	const ds_directive_t *d = &b->dirs[0];
	assert_string_equal(d->name, "log");
	assert_int_equal(d->ntokens, 5);
	assert_string_equal(d->tokens[1].text, "has space"); /* still one token */
	assert_string_equal(d->tokens[2].text, "xalphay");
	assert_string_equal(d->tokens[3].text, "");
	assert_string_equal(d->tokens[4].text, "pctalpha");
	d = &b->dirs[1];
	/* malformed references stay; {%..%} runs first, so its value is
	 * then seen by the {$..} pass, not the other way round */
	assert_string_equal(dir_str(d), "log {%DS_T_A} {$} alpha {%DS_T_A%}");
	ds_corefile_free(cf);
	/* CoreDNS's own example: an unknown name "PORT$" is empty */
	cf = parse_ok(":{$DS_T_PORT$}\n");
	assert_string_equal(keys_str(&cf->blocks[0]), ":");
	ds_corefile_free(cf);
	const char *vars[] = {"DS_T_A", "DS_T_SP", "DS_T_PORT", "DS_T_DIR",
			      "DS_T_PCT", "DS_T_IND", "DS_T_PREF"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* ------------------------------------------------------------- blocks */

static void test_keys(void **st)
{
	ds_corefile_t *cf = parse_ok("a.org b.org:1053 {\n\twhoami\n}\n"
				     "c.org, d.org {\n\twhoami\n}\n"
				     "e.org,\n  f.org,\n  g.org {\n\twhoami\n}\n"
				     "h.org,i.org \"\" j.org\n{\n\twhoami\n}\n");
	assert_int_equal(cf->nblocks, 4);
	assert_string_equal(keys_str(&cf->blocks[0]), "a.org b.org:1053");
	assert_string_equal(keys_str(&cf->blocks[1]), "c.org d.org");
	assert_string_equal(keys_str(&cf->blocks[2]), "e.org f.org g.org");
	assert_int_equal(cf->blocks[2].keys[2].line, 9);
	/* a comma inside a word does not split it; "" is skipped; "{" may
	 * sit on the next line */
	assert_string_equal(keys_str(&cf->blocks[3]), "h.org,i.org j.org");
	assert_int_equal(cf->blocks[3].ndirs, 1);
	ds_corefile_free(cf);

	/* a block whose only key is empty is dropped */
	cf = parse_ok("\"\" {\n\twhoami\n}\nk.org {\n\twhoami\n}\n");
	assert_int_equal(cf->nblocks, 1);
	assert_string_equal(keys_str(&cf->blocks[0]), "k.org");
	ds_corefile_free(cf);

	/* keys alone make a block without directives */
	cf = parse_ok("example.org");
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 0);
	ds_corefile_free(cf);

	cf = parse_ok("# only a comment\n\n");
	assert_int_equal(cf->nblocks, 0);
	ds_corefile_free(cf);

	parse_err("a.org, {\n\twhoami\n}\n",
		  "Corefile:1 - Error during parsing: Expected another address but had '{' - "
		  "check for extra comma");
	parse_err("a.org,\n", "Corefile:1 - Error during parsing: Unexpected EOF");
}

static void test_braceless_single_block(void **st)
{
	ds_corefile_t *cf = parse_ok("example.org:1053\nwhoami\nlog stdout\n");
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 2);
	assert_string_equal(dir_str(&cf->blocks[0].dirs[1]), "log stdout");
	ds_corefile_free(cf);
	/* without braces the directives run to EOF: a second block's key is
	 * read as a directive */
	parse_err_in("a.org\nwhoami\nb.org {\n\twhoami\n}\n", NULL, ds_corefile_coredns_directive,
		     "Corefile:3 - Error during parsing: Unknown directive 'b.org'");
}

static void test_unknown_directive(void **st)
{
	const char *text = ". {\n\terrors\n\tcahce 30\n}\n";
	parse_err_in(text, NULL, ds_corefile_coredns_directive,
		     "Corefile:3 - Error during parsing: Unknown directive 'cahce'");
	/* NULL accepts every name */
	ds_corefile_t *cf = parse_ok(text);
	assert_string_equal(cf->blocks[0].dirs[1].name, "cahce");
	ds_corefile_free(cf);
}

static void test_brace_errors(void **st)
{
	const char *nomatch =
		"Error during parsing: Unexpected '}' because no matching opening brace";
	char msg[256];
	snprintf(msg, sizeof(msg), "Corefile:1 - %s", nomatch);
	parse_err("}\n", msg);
	snprintf(msg, sizeof(msg), "Corefile:4 - %s", nomatch);
	parse_err(". {\n\twhoami\n}\n}\n", msg);
	/* as in CoreDNS, a "}" on a directive's line is not the block's end */
	snprintf(msg, sizeof(msg), "Corefile:2 - %s", nomatch);
	parse_err(". {\n\twhoami }\n", msg);
	snprintf(msg, sizeof(msg), "Corefile:4 - %s", nomatch);
	parse_err(". {\n\tlog {\n\t\tclass all\n\t} }\n", msg);
	snprintf(msg, sizeof(msg), "Corefile:3 - %s", nomatch);
	parse_err("example.org\nwhoami\n}\n", msg);

	parse_err(". {\n\twhoami\n",
		  "Corefile:2 - Error during parsing: Unexpected EOF, expecting '}' to close the "
		  "'{' on line 1");
	/* the last token being a nested block's "}" does not close the server block */
	parse_err(". {\n\tforward . 1.1.1.1 {\n\t}\n",
		  "Corefile:3 - Error during parsing: Unexpected EOF, expecting '}' to close the "
		  "'{' on line 1");
	parse_err(". {\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3\n",
		  "Corefile:3 - Error during parsing: Unexpected EOF");
}

static void test_nested_blocks(void **st)
{
	ds_corefile_t *cf = parse_ok(". {\n"
				     "\tlog {\n\t\tclass denial error\n\t}\n"
				     "\tforward . 1.1.1.1 {\n"
				     "\t\tpolicy random\n"
				     "\t\tnested {\n\t\t\tdeep 1\n\t\t}\n"
				     "\t}\n"
				     "\twhoami\n"
				     "\tcache 30\n"
				     "\t{\n\t\tsuccess 10\n\t}\n"
				     "\tcache 40 { success 20 }\n"
				     "}\n");
	const ds_sblock_t *b = &cf->blocks[0];
	assert_int_equal(b->ndirs, 5);
	assert_string_equal(dir_str(&b->dirs[0]), "log {\nclass denial error\n}");
	assert_string_equal(dir_str(&b->dirs[1]),
			    "forward . 1.1.1.1 {\npolicy random\nnested {\ndeep 1\n}\n}");
	assert_int_equal(b->dirs[1].tokens[b->dirs[1].ntokens - 1].line, 10);
	assert_string_equal(dir_str(&b->dirs[2]), "whoami");
	/* a "{" opening the next line still belongs to the directive */
	assert_string_equal(dir_str(&b->dirs[3]), "cache 30\n{\nsuccess 10\n}");
	assert_string_equal(dir_str(&b->dirs[4]), "cache 40 { success 20 }");
	ds_corefile_free(cf);
}

/* ----------------------------------------------------------- snippets */

static void test_snippets(void **st)
{
	ds_corefile_t *cf = parse_ok("(common) {\n\terrors\n\tlog {\n\t\tclass all\n\t}\n}\n"
				     ". {\n\timport common\n\twhoami\n}\n"
				     "example.org {\n\timport common\n}\n");
	assert_int_equal(cf->nblocks, 2); /* the snippet is no server */
	const ds_sblock_t *b = &cf->blocks[0];
	assert_string_equal(keys_str(b), ".");
	assert_int_equal(b->ndirs, 3);
	assert_string_equal(b->dirs[0].name, "errors");
	assert_int_equal(b->dirs[0].tokens[0].line, 2); /* where it was written */
	assert_string_equal(dir_str(&b->dirs[1]), "log {\nclass all\n}");
	assert_string_equal(b->dirs[2].name, "whoami");
	assert_int_equal(cf->blocks[1].ndirs, 2);
	ds_corefile_free(cf);

	/* import between server blocks: a snippet holding a whole block */
	cf = parse_ok("(blk) {\n\ta.org {\n\t\twhoami\n\t}\n}\nimport blk\nb.org {\n\twhoami\n}\n");
	assert_int_equal(cf->nblocks, 2);
	assert_string_equal(keys_str(&cf->blocks[0]), "a.org");
	assert_string_equal(keys_str(&cf->blocks[1]), "b.org");
	ds_corefile_free(cf);

	/* only a block whose single key is (name) is a snippet */
	cf = parse_ok("(s) other {\n\twhoami\n}\n(t) {\n}\n");
	assert_int_equal(cf->nblocks, 1);
	assert_string_equal(keys_str(&cf->blocks[0]), "(s) other");
	ds_corefile_free(cf);

	parse_err("(s) {\n\tlog\n}\n(s) {\n\terrors\n}\n",
		  "Corefile:4 - Error during parsing: "
		  "redeclaration of previously declared snippet s");
	parse_err("(s) {\n\tlog\n",
		  "Corefile:2 - Error during parsing: Unexpected EOF, expecting '}'");
	parse_err("(s)\nlog\n",
		  "Corefile:2 - Error during parsing: Unexpected token 'log', expecting '{'");
}

static void test_snippet_cycles_and_cap(void **st)
{
	/* rejected when defined, even if never used */
	parse_err("(loop) {\n\tlog\n\timport loop\n}\n",
		  "Corefile:3 - Error during parsing: "
		  "maximum snippet import depth (10000) exceeded");
	/* a cycle through two snippets is caught where it closes */
	parse_err("(a) {\n\timport b\n}\n(b) {\n\timport a\n}\n. {\n\timport a\n}\n",
		  "Corefile:5 - Error during parsing: "
		  "maximum snippet import depth (10000) exceeded");

	/* exactly the cap is fine, one more is not */
	size_t cap = 64 + 10 * (DS_COREFILE_MAX_EXPANSIONS + 1);
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = (size_t)snprintf(text, cap, "(s) {\n\twhoami\n}\n. {\n");
	for (int i = 0; i < DS_COREFILE_MAX_EXPANSIONS; i++)
		n += (size_t)snprintf(text + n, cap - n, "\timport s\n");
	snprintf(text + n, cap - n, "}\n");
	ds_corefile_t *cf = parse_ok(text);
	assert_int_equal(cf->blocks[0].ndirs, DS_COREFILE_MAX_EXPANSIONS);
	ds_corefile_free(cf);
	n += (size_t)snprintf(text + n, cap - n, "\timport s\n");
	snprintf(text + n, cap - n, "}\n");
	char msg[128];
	snprintf(msg, sizeof(msg),
		 "Corefile:%d - Error during parsing: "
		 "maximum snippet import depth (10000) exceeded",
		 4 + DS_COREFILE_MAX_EXPANSIONS + 1);
	parse_err(text, msg);
	free(text);
}

/* ------------------------------------------------------------ imports */

static void test_import_syntax(void **st)
{
	parse_err("import\n", "Corefile:1 - Error during parsing: Wrong argument count or "
			      "unexpected line ending after 'import'");
	parse_err("import a b\n",
		  "Corefile:1 - Error during parsing: Import takes only one argument (glob pattern "
		  "or file)");
	parse_err(". {\n\timport \"\"\n}\n",
		  "Corefile:2 - Error during parsing: Import requires a non-empty filepath");
	parse_err("import /a*/b*\n", "Corefile:1 - Error during parsing: Glob pattern may only "
				     "contain one wildcard (*), but has others: /a*/b*");
	parse_err("import /x[ab]\n", "Corefile:1 - Error during parsing: Glob pattern may only "
				     "contain one wildcard (*), but has others: /x[ab]");
	/* not first on its line: an ordinary argument */
	ds_corefile_t *cf = parse_ok(". {\n\tlog import x\n}\n");
	assert_string_equal(dir_str(&cf->blocks[0].dirs[0]), "log import x");
	ds_corefile_free(cf);
}

static void test_import_files(void **st)
{
	ds_corefile_t *cf = file_ok(CF "import/main.Corefile", ds_corefile_coredns_directive);
	assert_string_equal(cf->path, CF "import/main.Corefile");
	assert_int_equal(cf->nblocks, 3);
	/* the glob's files in name order, though b.conf was written first */
	assert_string_equal(keys_str(&cf->blocks[0]), "a.example");
	assert_string_equal(cf->blocks[0].keys[0].file, CF "import/blocks/a.conf");
	assert_string_equal(keys_str(&cf->blocks[1]), "b.example");
	const ds_sblock_t *b = &cf->blocks[2];
	assert_string_equal(keys_str(b), "example.org");
	assert_int_equal(b->ndirs, 4);
	assert_string_equal(b->dirs[0].name, "errors");
	assert_string_equal(b->dirs[1].name, "log");
	assert_string_equal(dir_str(&b->dirs[2]), "cache 30");
	assert_string_equal(b->dirs[2].tokens[0].file, CF "import/opts/cache.conf");
	assert_int_equal(b->dirs[2].tokens[0].line, 1);
	/* import inside a directive's block */
	assert_string_equal(dir_str(&b->dirs[3]),
			    "forward . 1.1.1.1 {\nmax_concurrent 10\nhealth_check 5s\n}");
	assert_string_equal(b->dirs[3].tokens[4].file, CF "import/opts/forward.conf");
	ds_corefile_free(cf);

	/* relative to the importing file's folder */
	cf = file_ok(CF "import/nested.Corefile", NULL);
	assert_int_equal(cf->blocks[0].ndirs, 1);
	assert_string_equal(cf->blocks[0].dirs[0].tokens[0].file, CF "import/opts/leaf.conf");
	ds_corefile_free(cf);

	/* a snippet defined in one file, used in another */
	cf = file_ok(CF "import/snippet-use.Corefile", NULL);
	assert_int_equal(cf->nblocks, 1);
	assert_string_equal(dir_str(&cf->blocks[0].dirs[0]), "log");
	ds_corefile_free(cf);

	/* a relative top path: imports resolve against its folder */
	char cwd[4096], here[4096], want[4200];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(CF), 0);
	assert_non_null(getcwd(here, sizeof(here))); /* CF may hold a symlink */
	snprintf(want, sizeof(want), "%s/import/opts/leaf.conf", here);
	cf = file_ok("import/nested.Corefile", NULL);
	assert_string_equal(cf->path, "import/nested.Corefile");
	assert_string_equal(cf->blocks[0].dirs[0].tokens[0].file, want);
	ds_corefile_free(cf);
	assert_int_equal(chdir(cwd), 0);

	/* parse_string imports relative to dir; env applies to the path */
	setenv("DS_T_OPTS", "opts", 1);
	cf = parse_in(". {\n\timport {$DS_T_OPTS}/cache.conf\n\timport opts/*.conf\n}\n",
		      CF "import", NULL);
	assert_int_equal(cf->blocks[0].ndirs, 6);
	assert_string_equal(dir_str(&cf->blocks[0].dirs[0]), "cache 30");
	/* the glob opts/ *.conf: cache, forward (two lines), leaf, nested -> leaf */
	assert_string_equal(cf->blocks[0].dirs[1].name, "cache");
	assert_string_equal(cf->blocks[0].dirs[2].name, "max_concurrent");
	assert_string_equal(cf->blocks[0].dirs[4].name, "whoami");
	assert_string_equal(cf->blocks[0].dirs[5].name, "whoami");
	assert_string_equal(cf->blocks[0].dirs[5].tokens[0].file, CF "import/opts/leaf.conf");
	ds_corefile_free(cf);
	unsetenv("DS_T_OPTS");

	/* "." and ".." are folded out of the names errors will show */
	cf = parse_in(". {\n\timport ./opts/../opts//cache.conf\n}\n", CF "import", NULL);
	assert_string_equal(cf->blocks[0].dirs[0].tokens[0].file, CF "import/opts/cache.conf");
	ds_corefile_free(cf);
	cf = parse_in(". {\n\timport " CF "import/opts/./leaf.conf\n}\n", "/", NULL);
	assert_string_equal(cf->blocks[0].dirs[0].tokens[0].file, CF "import/opts/leaf.conf");
	ds_corefile_free(cf);

	/* a glob may match a folder's files */
	cf = parse_in(". {\n\timport subdir/*\n}\n", CF "errors", NULL);
	assert_string_equal(dir_str(&cf->blocks[0].dirs[0]), "whoami");
	ds_corefile_free(cf);
}

static void test_import_errors(void **st)
{
	file_err(CF "errors/imports-unknown.Corefile", ds_corefile_coredns_directive,
		 CF "errors/unknown.conf:2 - Error during parsing: Unknown directive 'bogus'");
	file_err(CF "errors/dir.Corefile", NULL,
		 CF "errors/dir.Corefile:2 - Error during parsing: Could not import " CF
		    "errors/subdir: is a directory");
	file_err(CF "errors/missing.Corefile", NULL,
		 CF "errors/missing.Corefile:3 - Error during parsing: File to import not found: "
		    "nothere.conf");
	parse_err_in("import nothere.conf\n", CF "errors", NULL,
		     "Corefile:1 - Error during parsing: File to import not found: nothere.conf");
	file_err(CF "cycle/a.Corefile", NULL,
		 CF "cycle/b.conf:1 - Error during parsing: Import cycle: " CF
		    "cycle/a.Corefile is already being imported");
	file_err(CF "cycle/self.Corefile", NULL,
		 CF "cycle/self.Corefile:4 - Error during parsing: Import cycle: " CF
		    "cycle/self.Corefile is already being imported");

	ds_corefile_t *cf = NULL;
	ds_err_t err = {{0}};
	assert_int_equal(ds_corefile_parse_file(CF "no/such/Corefile", NULL, NULL, &cf, &err),
			 DS_ENOENT);
	assert_null(cf);
	assert_string_equal(err.msg, CF "no/such/Corefile: No such file or directory");
	assert_int_equal(ds_corefile_parse_file(CF "import", NULL, NULL, &cf, &err), DS_ENOENT);
	assert_string_equal(err.msg, CF "import: is a directory");
}

static void test_import_glob_no_match_warns(void **st)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	ds_log_set_fd(fds[1]);
	ds_corefile_t *cf = parse_in(". {\n\timport nomatch/*.conf\n\twhoami\n}\n", CF, NULL);
	ds_log_set_fd(STDOUT_FILENO);
	close(fds[1]);
	char buf[512] = {0};
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	assert_true(n > 0);
	assert_string_equal(buf,
			    "[WARNING] No files matching import glob pattern: nomatch/*.conf\n");
	assert_int_equal(cf->blocks[0].ndirs, 1);
	ds_corefile_free(cf);
}

/* ---------------------------------------------------------- canonical */

static char *canon(const char *text)
{
	ds_corefile_t *cf = parse_ok(text);
	char *c = ds_corefile_canonical(cf);
	assert_non_null(c);
	ds_corefile_free(cf);
	return c;
}

static void test_canonical(void **st)
{
	char *a = canon(". {\n\twhoami\n}\n");
	assert_string_equal(a, "[{\"keys\":[\".\"],\"directives\":[[[\"whoami\"]]]}]");
	free(a);

	const char *base = ". {\n\twhoami\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3\n\t}\n}\n";
	const char *same[] = {
		"# a comment\n.   {\n   whoami   # hi\n\n\n"
		"\tforward . 1.1.1.1 {\n max_fails 3\n}\n}\n",
		". {\r\n\twhoami\r\n\tforward . \"1.1.1.1\" {\r\n\t\tmax_fails 3\r\n\t}\r\n}\r\n",
		"(s) {\n\twhoami\n}\n"
		". {\n\timport s\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3\n\t}\n}\n",
	};
	const char *differ[] = {
		". {\n\twhoami\n\tforward . 1.1.1.1 {\n\t\tmax_fails 4\n\t}\n}\n",
		". {\n\twhoami\n\tforward 1.1.1.1 . {\n\t\tmax_fails 3\n\t}\n}\n",
		". {\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3\n\t}\n\twhoami\n}\n",
		".:53 {\n\twhoami\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3\n\t}\n}\n",
		". {\n\twhoami\n\tforward . 1.1.1.1 {\n\t\tmax_fails\n3\n\t}\n}\n",
		". {\n\twhoami\n\tforward . 1.1.1.1 {\n\t\tmax_fails 3 \"}\"\n\t}\n}\n",
	};
	char *c0 = canon(base);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		char *c = canon(same[i]);
		assert_string_equal(c, c0);
		free(c);
	}
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		char *c = canon(differ[i]);
		assert_string_not_equal(c, c0);
		free(c);
	}
	free(c0);
	/* a quoted brace differs from the word it spells */
	char *q1 = canon(". {\n\tlog \"{\" x\n}\n");
	char *q2 = canon(". {\n\tlog \"\\\"{\\\"\" x\n}\n");
	assert_string_not_equal(q1, q2);
	free(q1);
	free(q2);
	assert_null(ds_corefile_canonical(NULL));
}

static void test_snippet_starts_line(void **st)
{
	/* The pasted text's first line number equals the line of the "{"
	 * before it, but it still starts a line of its own. */
	const char *pasted = "(o) {\n\tmax_fails 1 } . { forward x {\n\t\timport o\n\t}\n}\n";
	ds_corefile_t *cf = parse_ok(pasted);
	const ds_directive_t *d = &cf->blocks[0].dirs[0];
	assert_string_equal(dir_str(d), "forward x {\nmax_fails 1\n}");
	assert_int_equal(d->tokens[2].line, d->tokens[3].line);
	assert_true(d->tokens[3].line_start);
	ds_corefile_free(cf);
	char *c1 = canon(pasted);
	char *c2 = canon(". {\n\tforward x {\n\t\tmax_fails 1\n\t}\n}\n");
	assert_string_equal(c1, c2);
	free(c1);
	/* a snippet whose text starts on its "{" line */
	c1 = canon("(o) { max_fails 1\n}\n. {\n\tforward x {\n\t\timport o\n\t}\n}\n");
	assert_string_equal(c1, c2);
	free(c1);
	free(c2);
}

/* --------------------------------------------------------------- keys */

static void test_zone_keys(void **st)
{
	static const struct {
		const char *key;
		int dns_port;
		ds_scheme_t scheme;
		const char *zone;
		int port;
	} ok[] = {
		{".", 53, DS_SCHEME_DNS, ".", 53},
		{".:53", 1053, DS_SCHEME_DNS, ".", 53},
		{"example.org", 1053, DS_SCHEME_DNS, "example.org.", 1053},
		{"Example.ORG.:5300", 53, DS_SCHEME_DNS, "example.org.", 5300},
		{"dns://example.org", 53, DS_SCHEME_DNS, "example.org.", 53},
		{"tls://example.org", 53, DS_SCHEME_TLS, "example.org.", 853},
		{"TLS://example.org:8853", 53, DS_SCHEME_TLS, "example.org.", 8853},
		{"quic://.", 53, DS_SCHEME_QUIC, ".", 853},
		{"grpc://.", 53, DS_SCHEME_GRPC, ".", 443},
		{"https://example.org", 53, DS_SCHEME_HTTPS, "example.org.", 443},
		{"https3://example.org", 53, DS_SCHEME_HTTPS3, "example.org.", 443},
		{"example.org:65535", 53, DS_SCHEME_DNS, "example.org.", 65535},
		{"10.0.0.0/24", 53, DS_SCHEME_DNS, "0.0.10.in-addr.arpa.", 53},
		{"10.0.0.0/8:5353", 53, DS_SCHEME_DNS, "10.in-addr.arpa.", 5353},
		{"10.1.2.3/16", 53, DS_SCHEME_DNS, "1.10.in-addr.arpa.", 53},
		{"0.0.0.0/0", 53, DS_SCHEME_DNS, "in-addr.arpa.", 53},
		{"192.168.1.7/32", 53, DS_SCHEME_DNS, "7.1.168.192.in-addr.arpa.", 53},
		{"fd00::/64", 53, DS_SCHEME_DNS, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", 53},
		{"2001:db8::/32:5300", 53, DS_SCHEME_DNS, "8.b.d.0.1.0.0.2.ip6.arpa.", 5300},
		{"::/0", 53, DS_SCHEME_DNS, "ip6.arpa.", 53},
	};
	ds_zone_key_t z[DS_ZONE_KEY_MAX];
	ds_err_t err = {{0}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int n = ds_zone_key_parse(ok[i].key, ok[i].dns_port, z, DS_ZONE_KEY_MAX, &err);
		if (n != 1)
			print_error("key %s: %s\n", ok[i].key, err.msg);
		assert_int_equal(n, 1);
		assert_int_equal(z[0].scheme, ok[i].scheme);
		assert_string_equal(z[0].zone, ok[i].zone);
		assert_int_equal(z[0].port, ok[i].port);
	}

	/* non-octet boundaries round up and enumerate */
	assert_int_equal(ds_zone_key_parse("10.0.0.0/27", 53, z, DS_ZONE_KEY_MAX, &err), 32);
	assert_string_equal(z[0].zone, "0.0.0.10.in-addr.arpa.");
	assert_string_equal(z[31].zone, "31.0.0.10.in-addr.arpa.");
	assert_int_equal(z[31].port, 53);
	assert_int_equal(ds_zone_key_parse("tls://10.0.0.64/27", 53, z, DS_ZONE_KEY_MAX, &err), 32);
	assert_string_equal(z[0].zone, "64.0.0.10.in-addr.arpa.");
	assert_string_equal(z[31].zone, "95.0.0.10.in-addr.arpa.");
	assert_int_equal(z[31].port, 853);
	assert_int_equal(ds_zone_key_parse("10.0.0.0/17", 53, z, DS_ZONE_KEY_MAX, &err), 128);
	assert_string_equal(z[127].zone, "127.0.10.in-addr.arpa.");
	assert_int_equal(ds_zone_key_parse("10.0.0.0/25", 53, z, DS_ZONE_KEY_MAX, &err), 128);
	assert_int_equal(ds_zone_key_parse("fd00::/62", 53, z, DS_ZONE_KEY_MAX, &err), 4);
	assert_string_equal(z[3].zone, "3.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
	assert_int_equal(ds_zone_key_parse("fd00::/65", 53, z, DS_ZONE_KEY_MAX, &err), 8);
	assert_string_equal(z[7].zone, "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
	assert_int_equal(ds_zone_key_parse("10.0.0.0/27", 53, z, 4, &err), DS_ENOSPC);
	assert_string_equal(err.msg,
			    "server block key '10.0.0.0/27' expands to 32 zones, more than 4");

	static const struct {
		const char *key, *msg;
	} bad[] = {
		{"foo://example.org",
		 "unknown scheme 'foo' in server block key 'foo://example.org'"},
		{"example.org:0",
		 "invalid port '0' in server block key 'example.org:0': must be 1..65535"},
		{"example.org:65536",
		 "invalid port '65536' in server block key 'example.org:65536': must be 1..65535"},
		{"example.org:", "expecting data after last colon: \"example.org:\""},
		{"example.org:abc", "invalid port 'abc' in server block key 'example.org:abc'"},
		{"example.org:-1", "invalid port '-1' in server block key 'example.org:-1'"},
		{"10.0.0.0/33", "invalid CIDR '10.0.0.0/33' in server block key '10.0.0.0/33'"},
		{"10.0.0/24", "invalid CIDR '10.0.0/24' in server block key '10.0.0/24'"},
		{"fd00::/129", "invalid CIDR 'fd00::/129' in server block key 'fd00::/129'"},
		{"a..b", "zone is not a valid domain name: a..b"},
		{":53", "no zone in server block key ':53'"},
		{"dns://", "no zone in server block key 'dns://'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(ds_zone_key_parse(bad[i].key, 53, z, DS_ZONE_KEY_MAX, &err),
				 DS_ECONFIG);
		assert_string_equal(err.msg, bad[i].msg);
	}
}

static void test_zone_normalize(void **st)
{
	char out[256];
	assert_int_equal(ds_zone_normalize("Cluster.Local", out, sizeof(out)), DS_OK);
	assert_string_equal(out, "cluster.local.");
	assert_int_equal(ds_zone_normalize("in-addr.arpa.", out, sizeof(out)), DS_OK);
	assert_string_equal(out, "in-addr.arpa.");
	assert_int_equal(ds_zone_normalize(".", out, sizeof(out)), DS_OK);
	assert_string_equal(out, ".");
	assert_int_equal(ds_zone_normalize("10.0.0.0/27", out, sizeof(out)), DS_OK);
	assert_string_equal(out, "0.0.0.10.in-addr.arpa.");
	assert_int_equal(ds_zone_normalize("a..b", out, sizeof(out)), DS_EINVAL);
	assert_int_equal(ds_zone_normalize("", out, sizeof(out)), DS_EINVAL);
	assert_int_equal(ds_zone_normalize("10.0.0.0/99", out, sizeof(out)), DS_EINVAL);
	assert_int_equal(ds_zone_normalize("example.org", out, 12), DS_ENOSPC);
	assert_int_equal(ds_zone_normalize("example.org", out, 13), DS_OK);
	char label[80];
	memset(label, 'a', 64);
	label[64] = 0;
	assert_int_equal(ds_zone_normalize(label, out, sizeof(out)), DS_EINVAL);
}

/* --------------------------------------------------------------- args */

static const char *args_corefile = ". {\n"			     /* 1 */
				   "\thealth {\n"		     /* 2 */
				   "\t\tlameduck 5s\n"		     /* 3 */
				   "\t}\n"			     /* 4 */
				   "\tforward . 1.1.1.1 1.0.0.1 {\n" /* 5 */
				   "\t\thealth_check 5s\n"	     /* 6 */
				   "\t\tmax_concurrent 1000\n"	     /* 7 */
				   "\t}\n"			     /* 8 */
				   "\tcache 30 {\n"		     /* 9 */
				   "\t\tsuccess 9984 30\n"	     /* 10 */
				   "\t\tdenial 9984 5\n"	     /* 11 */
				   "\t\tprefetch 10 2m 20%\n"	     /* 12 */
				   "\t}\n"			     /* 13 */
				   "\tlog\n"			     /* 14 */
				   "\thosts {\n"		     /* 15 */
				   "\t\tfallthrough\n"		     /* 16 */
				   "\t\tnested a {\n"		     /* 17 */
				   "\t\t\tinner 1\n"		     /* 18 */
				   "\t\t\tinner 2\n"		     /* 19 */
				   "\t\t}\n"			     /* 20 */
				   "\t\tafter x\n"		     /* 21 */
				   "\t}\n"			     /* 22 */
				   "\thealth { lameduck 7s }\n"	     /* 23 */
				   "\tcache 5 {\n\t}\n"		     /* 24 */
				   "}\n";

static void test_args_walk(void **st)
{
	ds_corefile_t *cf = parse_ok(args_corefile);
	const ds_sblock_t *b = &cf->blocks[0];
	assert_int_equal(b->ndirs, 7);
	ds_err_t err = {{0}};
	ds_args_t a;
	const char *v[4];

	/* health { lameduck 5s } */
	ds_args_init(&a, &b->dirs[0], "health", &err);
	assert_string_equal(ds_args_val(&a), "");
	assert_int_equal(ds_args_line(&a), 2);
	assert_true(ds_args_next(&a));
	assert_string_equal(ds_args_val(&a), "health");
	assert_int_equal(ds_args_remaining(&a, v, 4), 0);
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "lameduck");
	assert_int_equal(a.nesting, 1);
	assert_true(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "5s");
	assert_false(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "5s");
	assert_false(ds_args_next_block(&a));
	assert_int_equal(a.nesting, 0);
	assert_string_equal(ds_args_val(&a), "}");
	assert_false(ds_args_next(&a));

	/* forward . 1.1.1.1 1.0.0.1 { ... } */
	ds_args_init(&a, &b->dirs[1], "forward", &err);
	assert_true(ds_args_next(&a));
	assert_int_equal(ds_args_remaining(&a, v, 4), 3);
	assert_string_equal(v[0], ".");
	assert_string_equal(v[2], "1.0.0.1");
	assert_false(ds_args_next_arg(&a)); /* never onto "{" */
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "health_check");
	assert_int_equal(ds_args_line(&a), 6);
	assert_int_equal(ds_args_remaining(&a, v, 4), 1);
	assert_string_equal(v[0], "5s");
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "max_concurrent");
	/* arguments left unread are skipped by the next call */
	assert_false(ds_args_next_block(&a));
	assert_false(ds_args_next(&a));

	/* remaining: more than max are counted, not stored */
	ds_args_init(&a, &b->dirs[1], "forward", &err);
	ds_args_next(&a);
	v[1] = NULL;
	assert_int_equal(ds_args_remaining(&a, v, 1), 3);
	assert_string_equal(v[0], ".");
	assert_null(v[1]);

	/* cache 30 { success 9984 30 / denial 9984 5 / prefetch 10 2m 20% } */
	static const char *const want[][4] = {
		{"success", "9984", "30", NULL},
		{"denial", "9984", "5", NULL},
		{"prefetch", "10", "2m", "20%"},
	};
	ds_args_init(&a, &b->dirs[2], "cache", &err);
	assert_true(ds_args_next(&a));
	assert_true(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "30");
	size_t i = 0;
	while (ds_args_next_block(&a)) {
		assert_true(i < 3);
		assert_string_equal(ds_args_val(&a), want[i][0]);
		size_t n = ds_args_remaining(&a, v, 4);
		assert_int_equal(n, want[i][3] ? 3 : 2);
		for (size_t j = 0; j < n; j++)
			assert_string_equal(v[j], want[i][j + 1]);
		i++;
	}
	assert_int_equal(i, 3);

	/* no block */
	ds_args_init(&a, &b->dirs[3], "log", &err);
	assert_true(ds_args_next(&a));
	assert_false(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "log");
	assert_false(ds_args_next_arg(&a));

	/* an outer walk skips a nested block it does not enter */
	ds_args_init(&a, &b->dirs[4], "hosts", &err);
	ds_args_next(&a);
	const char *seen[8];
	i = 0;
	while (ds_args_next_block(&a) && i < 8)
		seen[i++] = ds_args_val(&a);
	assert_int_equal(i, 3);
	assert_string_equal(seen[0], "fallthrough");
	assert_string_equal(seen[1], "nested");
	assert_string_equal(seen[2], "after");
	assert_false(ds_args_next(&a));

	/* ... and walks it when asked, after reading the line's arguments */
	ds_args_init(&a, &b->dirs[4], "hosts", &err);
	ds_args_next(&a);
	assert_true(ds_args_next_block(&a));
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "nested");
	assert_true(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "a");
	assert_true(ds_args_next_block(&a));
	assert_int_equal(a.nesting, 2);
	assert_string_equal(ds_args_val(&a), "inner");
	assert_true(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "1");
	assert_true(ds_args_next_block(&a));
	assert_int_equal(ds_args_line(&a), 19);
	assert_false(ds_args_next_block(&a)); /* inner "}" */
	assert_int_equal(a.nesting, 1);
	assert_int_equal(ds_args_line(&a), 20);
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "after");
	assert_false(ds_args_next_block(&a));
	assert_int_equal(a.nesting, 0);

	/* one-line block: one entry, and "}" is no argument */
	ds_args_init(&a, &b->dirs[5], "health", &err);
	ds_args_next(&a);
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "lameduck");
	assert_int_equal(ds_args_remaining(&a, v, 4), 1);
	assert_string_equal(v[0], "7s");
	assert_false(ds_args_next_block(&a));
	assert_false(ds_args_next(&a));

	/* empty block */
	ds_args_init(&a, &b->dirs[6], "cache", &err);
	ds_args_next(&a);
	ds_args_next_arg(&a);
	assert_false(ds_args_next_block(&a));
	assert_int_equal(a.nesting, 0);
	assert_false(ds_args_next(&a));

	/* before the start next_arg moves onto the name */
	ds_args_init(&a, &b->dirs[3], "log", &err);
	assert_true(ds_args_next_arg(&a));
	assert_string_equal(ds_args_val(&a), "log");
	ds_corefile_free(cf);
}

static void test_args_errors(void **st)
{
	ds_corefile_t *cf = parse_ok(args_corefile);
	const ds_sblock_t *b = &cf->blocks[0];
	ds_err_t err = {{0}};
	ds_args_t a;

	ds_args_init(&a, &b->dirs[2], "cache", &err);
	ds_args_next(&a);
	ds_args_next_arg(&a);
	ds_args_next_block(&a);
	assert_int_equal(ds_args_err(&a, "bad thing %d", 42), DS_ECONFIG);
	assert_string_equal(err.msg,
			    "Corefile:10 - Error during parsing: plugin/cache: bad thing 42");

	ds_args_init(&a, &b->dirs[0], "health", &err);
	ds_args_next(&a);
	ds_args_next_block(&a);
	ds_args_next_arg(&a);
	assert_int_equal(ds_args_err_argcount(&a), DS_ECONFIG);
	assert_string_equal(err.msg, "Corefile:3 - Error during parsing: plugin/health: Wrong "
				     "argument count or unexpected line ending after '5s'");

	/* on a block's "{" */
	ds_args_init(&a, &b->dirs[0], "health", &err);
	ds_args_next(&a);
	ds_args_next(&a);
	assert_string_equal(ds_args_val(&a), "{");
	ds_args_err_argcount(&a);
	assert_string_equal(err.msg, "Corefile:2 - Error during parsing: plugin/health: "
				     "Unexpected token '{', expecting argument");

	/* before the start it points at the directive name */
	ds_args_init(&a, &b->dirs[3], NULL, &err);
	ds_args_err(&a, "oops");
	assert_string_equal(err.msg, "Corefile:14 - Error during parsing: oops");
	assert_string_equal(ds_args_file(&a), "Corefile");

	/* a NULL err is allowed */
	ds_args_init(&a, &b->dirs[3], "log", NULL);
	assert_int_equal(ds_args_err(&a, "x"), DS_ECONFIG);
	ds_corefile_free(cf);
}

static void test_args_hand_built(void **st)
{
	/* Tokens made by hand carry only file and line. */
	ds_token_t t[] = {
		{.text = "sub", .file = "f", .line = 1},
		{.text = "a", .file = "f", .line = 1},
		{.text = "{", .file = "f", .line = 1},
		{.text = "b", .file = "f", .line = 2},
		{.text = "c", .file = "f", .line = 2},
		{.text = "d", .file = "f", .line = 3},
		{.text = "}", .file = "f", .line = 4},
	};
	ds_directive_t d = {.name = "sub", .tokens = t, .ntokens = 7};
	ds_args_t a;
	ds_args_init(&a, &d, "sub", NULL);
	assert_true(ds_args_next(&a));
	assert_true(ds_args_next_arg(&a));
	assert_false(ds_args_next_arg(&a));
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "b");
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "d");
	assert_false(ds_args_next_block(&a));
	assert_false(ds_args_next(&a));
	/* an unclosed hand-built block ends the walk without reading past the end */
	d.ntokens = 6;
	ds_args_init(&a, &d, "sub", NULL);
	ds_args_next(&a);
	ds_args_next_arg(&a);
	assert_true(ds_args_next_block(&a));
	assert_true(ds_args_next_block(&a));
	assert_false(ds_args_next_block(&a));
	assert_int_equal(a.nesting, 0);
	assert_false(ds_args_next(&a));
}

static void test_args_across_import(void **st)
{
	ds_corefile_t *cf = file_ok(CF "import/main.Corefile", NULL);
	const ds_directive_t *d = &cf->blocks[2].dirs[3];
	ds_args_t a;
	ds_args_init(&a, d, "forward", NULL);
	ds_args_next(&a);
	assert_int_equal(ds_args_remaining(&a, NULL, 0), 2);
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "max_concurrent");
	assert_string_equal(ds_args_file(&a), CF "import/opts/forward.conf");
	assert_true(ds_args_next_block(&a));
	assert_string_equal(ds_args_val(&a), "health_check");
	assert_true(ds_args_next_arg(&a));
	assert_false(ds_args_next_block(&a));
	assert_string_equal(ds_args_file(&a), CF "import/main.Corefile");
	ds_corefile_free(cf);
}

/* ------------------------------------------------------------- names */

static void test_coredns_directives(void **st)
{
	const char *yes[] = {"root", "metadata", "errors", "log", "cache", "kubernetes",
			     "forward", "loop", "reload", "ready", "health", "prometheus",
			     "loadbalance", "bind", "whoami", "view", "nomad", "k8s_external",
			     "grpc_server", "https3", "multisocket", "proxyproto"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(ds_corefile_coredns_directive(yes[i], NULL));
	const char *no[] = {"cahce", "proxy", "import", "", "Forward", "forward ", "bogus"};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(ds_corefile_coredns_directive(no[i], NULL));
	assert_false(ds_corefile_coredns_directive(NULL, NULL));
}

/* ------------------------------------------------- the users' files */

static const ds_directive_t *find_dir(const ds_sblock_t *b, const char *name)
{
	for (size_t i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i].name, name) == 0)
			return &b->dirs[i];
	return NULL;
}

static void test_seed_and_loopback_corefiles(void **st)
{
	setenv("DNS_PORT", "10053", 1);
	setenv("UPSTREAM_1", "20001", 1);
	setenv("UPSTREAM_2", "20002", 1);
	setenv("UPSTREAM_3", "20003", 1);
	setenv("UPSTREAM_4", "20004", 1);
	setenv("METRICS_PORT", "29153", 1);
	setenv("HEALTH_PORT", "28080", 1);
	setenv("READY_PORT", "28181", 1);
	setenv("K8S_API", "http://127.0.0.1:6443", 1);
	static const struct {
		const char *name;
		size_t ndirs; /* seed; loopback adds bind */
		const char *upstreams[4];
		const char *cache_ttl;
	} files[] = {
		{"01-plugin-architecture", 9, {"1.1.1.1", "1.0.0.1"}, "30"},
		{"02-financeflow", 8, {"1.1.1.1", "1.0.0.1"}, "300"},
		{"03-gamestream", 8, {"8.8.8.8", "8.8.4.4"}, "600"},
		{"04-healthtech", 8, {"9.9.9.9", "149.112.112.112"}, "120"},
		{"05-week2-configmap", 11, {"1.1.1.1", "1.0.0.1"}, "30"},
		{"06-week4-performance-tuned",
		 11,
		 {"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"},
		 "300"},
	};
	static const char *const kinds[] = {"seed", "loopback"};
	size_t parsed = 0;
	for (size_t k = 0; k < 2; k++) {
		bool loop = k == 1;
		char dirpath[512];
		snprintf(dirpath, sizeof(dirpath), DS_TEST_DATA "/corefiles/%s", kinds[k]);
		/* every *.Corefile in the folder must parse, listed or not */
		DIR *dir = opendir(dirpath);
		assert_non_null(dir);
		struct dirent *de;
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			if (l < 9 || strcmp(de->d_name + l - 9, ".Corefile") != 0)
				continue;
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
			ds_corefile_t *cf = file_ok(path, ds_corefile_coredns_directive);
			assert_int_equal(cf->nblocks, 1);
			char *c = ds_corefile_canonical(cf);
			assert_non_null(c);
			free(c);
			ds_corefile_free(cf);
			parsed++;
		}
		closedir(dir);

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s.Corefile", dirpath, files[i].name);
			ds_corefile_t *cf = file_ok(path, ds_corefile_coredns_directive);
			const ds_sblock_t *b = &cf->blocks[0];
			assert_int_equal(b->nkeys, 1);
			assert_string_equal(b->keys[0].text, loop ? ".:10053" : ".:53");
			ds_zone_key_t z[1];
			assert_int_equal(ds_zone_key_parse(b->keys[0].text, 53, z, 1, NULL), 1);
			assert_string_equal(z[0].zone, ".");
			assert_int_equal(z[0].port, loop ? 10053 : 53);
			assert_int_equal(b->ndirs, files[i].ndirs + loop);
			assert_string_equal(b->dirs[0].name, loop ? "bind" : "errors");
			for (size_t d = 0; d < b->ndirs; d++)
				assert_true(ds_corefile_coredns_directive(b->dirs[d].name, NULL));

			/* forward's upstreams after substitution */
			const ds_directive_t *fwd = find_dir(b, "forward");
			assert_non_null(fwd);
			ds_args_t a;
			const char *v[8];
			ds_args_init(&a, fwd, "forward", NULL);
			assert_true(ds_args_next(&a));
			size_t n = ds_args_remaining(&a, v, 8);
			size_t nup = files[i].upstreams[3] ? 4 : 2;
			assert_int_equal(n, 1 + nup);
			assert_string_equal(v[0], ".");
			for (size_t u = 0; u < nup; u++) {
				char want[64];
				if (loop)
					snprintf(want, sizeof(want), "127.0.0.1:%d",
						 20001 + (int)u);
				else
					snprintf(want, sizeof(want), "%s", files[i].upstreams[u]);
				assert_string_equal(v[1 + u], want);
			}
			size_t entries = 0;
			while (ds_args_next_block(&a))
				entries++;
			assert_true(entries >= 2);
			assert_false(ds_args_next(&a));

			/* cache TTL and its block */
			const ds_directive_t *cache = find_dir(b, "cache");
			assert_non_null(cache);
			ds_args_init(&a, cache, "cache", NULL);
			ds_args_next(&a);
			assert_int_equal(ds_args_remaining(&a, v, 8), 1);
			assert_string_equal(v[0], files[i].cache_ttl);
			assert_true(ds_args_next_block(&a));
			assert_string_equal(ds_args_val(&a), "success");
			assert_int_equal(ds_args_remaining(&a, v, 8), 2);
			assert_string_equal(v[0], "9984");

			/* kubernetes: zones, then a block; loopback points at K8S_API */
			const ds_directive_t *k8s = find_dir(b, "kubernetes");
			assert_non_null(k8s);
			assert_string_equal(k8s->tokens[1].text, "cluster.local");
			if (loop) {
				ds_args_init(&a, k8s, "kubernetes", NULL);
				ds_args_next(&a);
				ds_args_remaining(&a, NULL, 0);
				assert_true(ds_args_next_block(&a));
				assert_string_equal(ds_args_val(&a), "endpoint");
				assert_true(ds_args_next_arg(&a));
				assert_string_equal(ds_args_val(&a), "http://127.0.0.1:6443");
				const ds_directive_t *prom = find_dir(b, "prometheus");
				assert_string_equal(prom->tokens[1].text, "127.0.0.1:29153");
				const ds_directive_t *health = find_dir(b, "health");
				assert_string_equal(health->tokens[1].text, "127.0.0.1:28080");
			} else {
				assert_string_equal(find_dir(b, "prometheus")->tokens[1].text,
						    ":9153");
			}
			ds_corefile_free(cf);
		}
	}
	assert_true(parsed >= 12);
	const char *vars[] = {"DNS_PORT",     "UPSTREAM_1",  "UPSTREAM_2",
			      "UPSTREAM_3",   "UPSTREAM_4",  "METRICS_PORT",
			      "HEALTH_PORT",  "READY_PORT",  "K8S_API"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* ---------------------------------------------------------- robustness */

/* Inputs the fuzz loop found troublesome, and odd shapes; each must
 * parse or fail cleanly (no crash, no leak under ASan). */
static void test_odd_inputs(void **st)
{
	static const char *const inputs[] = {
		"",
		"\n\n\n",
		"{",
		"}",
		"{}",
		"\"",
		"\"\\",
		"\"abc",
		"(",
		"()",
		"() {\n}\nimport \"\"\n",
		"a {\n{\n",
		"import",
		"import }{$\"",
		"import {$}",
		"import {%}",
		"import {$$}",
		"import {%%}",
		"import /*/*.txt",
		"import /\\?\\?\\?/\\?*\\?o", /* escaped: trigraphs */
		"import /?\\?",
		"import /[a-z]",
		"import /",
		"import /proc/self",
		"a,\n,\n,",
		". {\n\tforward . {\n\t\t}\n\t}\n}\n",
		"(s) {\n\timport s2\n}\n(s2) {\n\timport s\n}\nimport s\n",
		"{$}{%}{%%}{$$}",
		"\xc2",
		"\xe2\x80",
		"#\"\n\"#",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		ds_corefile_t *cf = NULL;
		ds_err_t err = {{0}};
		int rc = ds_corefile_parse_string("Corefile", inputs[i], "/", NULL, NULL, &cf,
						  &err);
		assert_true(rc == DS_OK || rc == DS_ECONFIG);
		if (rc == DS_OK) {
			char *c = ds_corefile_canonical(cf);
			assert_non_null(c);
			free(c);
			for (size_t b = 0; b < cf->nblocks; b++) {
				for (size_t d = 0; d < cf->blocks[b].ndirs; d++) {
					ds_args_t a;
					ds_args_init(&a, &cf->blocks[b].dirs[d], "x", NULL);
					while (ds_args_next(&a))
						while (ds_args_next_block(&a))
							ds_args_remaining(&a, NULL, 0);
				}
			}
			ds_corefile_free(cf);
		} else {
			assert_null(cf);
			assert_non_null(strstr(err.msg, " - Error during parsing: "));
		}
	}
	/* the strings CoreDNS's own fuzzing found all fail */
	parse_err("import /[a-z]", "Corefile:1 - Error during parsing: Glob pattern may only "
				   "contain one wildcard (*), but has others: /[a-z]");
	parse_err("import {$}", "Corefile:1 - Error during parsing: File to import not found: {$}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lex_tokens_comments_quotes),
		cmocka_unit_test(test_lex_whitespace_cr_unicode),
		cmocka_unit_test(test_lex_multiline_quote),
		cmocka_unit_test(test_lex_braces_only_alone),
		cmocka_unit_test(test_lex_nul_byte),
		cmocka_unit_test(test_env_substitution),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_braceless_single_block),
		cmocka_unit_test(test_unknown_directive),
		cmocka_unit_test(test_brace_errors),
		cmocka_unit_test(test_nested_blocks),
		cmocka_unit_test(test_snippets),
		cmocka_unit_test(test_snippet_cycles_and_cap),
		cmocka_unit_test(test_import_syntax),
		cmocka_unit_test(test_import_files),
		cmocka_unit_test(test_import_errors),
		cmocka_unit_test(test_import_glob_no_match_warns),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_snippet_starts_line),
		cmocka_unit_test(test_zone_keys),
		cmocka_unit_test(test_zone_normalize),
		cmocka_unit_test(test_args_walk),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_hand_built),
		cmocka_unit_test(test_args_across_import),
		cmocka_unit_test(test_coredns_directives),
		cmocka_unit_test(test_seed_and_loopback_corefiles),
		cmocka_unit_test(test_odd_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
