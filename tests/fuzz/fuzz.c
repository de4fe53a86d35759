/* SPDX-License-Identifier: MIT */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

void ds_fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

/* Harnesses may leave files of any name behind (imports, captures), so
 * the whole folder goes, not a list of what was written. */
static void cleanup(void)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

const char *ds_fuzz_dir(void)
{
	if (dir[0])
		return dir;
	/* tmpfs keeps per-execution writes off the disk; /tmp otherwise. */
	snprintf(dir, sizeof(dir), "%s/ds_fuzz_XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return NULL;
	}
	atexit(cleanup);
	return dir;
}

int ds_fuzz_write(const char *name, const void *data, size_t len, char *path, size_t pathlen)
{
	const char *d = ds_fuzz_dir();
	if (!d || (size_t)snprintf(path, pathlen, "%s/%s", d, name) >= pathlen)
		return -1;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	bool ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

/* ASCII white space as the Corefile lexer takes it (NUL is not). */
static bool ascii_space(char c)
{
	return c && strchr(" \t\n\v\f\r", c);
}

bool ds_fuzz_import_escapes(const void *text, size_t len)
{
	const char *t = text, *end = t + len;
	for (const char *p = memmem(t, len, "import", 6); p;
	     p = memmem(p + 1, (size_t)(end - p - 1), "import", 6)) {
		const char *a = p + 6;
		/* Everything the lexer may take for white space: ASCII's six
		 * and, to be safe, any byte of a UTF-8 sequence (the lexer
		 * knows U+0085, U+00A0, U+2000... too). A narrower set let
		 * "import\v/tmp/x*" read this machine's /tmp every run. */
		while (a < end && (ascii_space(*a) || (unsigned char)*a >= 0x80))
			a++;
		/* The argument: up to the closing quote if quoted, else up to
		 * white space; a quote in the middle starts a quoted part. */
		bool quoted = a < end && *a == '"';
		if (quoted)
			a++;
		if (a < end && *a == '/')
			return true;
		for (const char *c = a; c < end; c++) {
			if (*c == '"') {
				if (quoted)
					break;
				quoted = true;
				continue;
			}
			/* Only ASCII white space ends the scan: going on past a
			 * non-ASCII byte checks more, never less. */
			if (!quoted && ascii_space(*c))
				break;
			if (*c == '\\' || *c == '{' || (*c == '.' && c + 1 < end && c[1] == '.'))
				return true;
		}
	}
	return false;
}
