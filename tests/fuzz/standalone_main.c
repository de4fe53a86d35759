/* SPDX-License-Identifier: MIT */
/*
 * main() for harnesses built without libFuzzer (DS_FUZZ off, gcc or clang,
 * with or without sanitizers): runs every file named on the command line,
 * or found directly in a folder named there, through
 * LLVMFuzzerTestOneInput() once, in name order. This is how the committed
 * corpus and every regression input run in each ordinary CI build.
 *
 * Each input is copied into a buffer of exactly its size, as libFuzzer
 * does, so that ASan catches a read one byte past the end.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* Harnesses that need no setup do not define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
		fclose(f);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	/* malloc(0) may give NULL; an empty input is still an input. */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files directly in dir, sorted so that a run is repeatable. */
static int run_dir(const char *dir, unsigned *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				abort();
			names = nn;
		}
		size_t l = strlen(dir) + strlen(e->d_name) + 2;
		names[count] = malloc(l);
		if (!names[count])
			abort();
		snprintf(names[count], l, "%s/%s", dir, e->d_name);
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), by_name);
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(names[i]) < 0)
				rc = -1;
			else
				(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	unsigned n = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			/* A target with no regression yet has no folder (git keeps
			 * no empty ones): nothing to run, not an error. */
			fprintf(stderr, "%s: no inputs (%s)\n", argv[i], strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &n) < 0 : run_file(argv[i]) < 0)
			rc = 1;
		else if (!S_ISDIR(st.st_mode))
			n++;
	}
	/* stderr: a harness may have pointed stdout elsewhere (fuzz_server). */
	fprintf(stderr, "%s: %u inputs ran\n", argv[0], n);
	return rc;
}
