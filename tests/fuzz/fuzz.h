/* SPDX-License-Identifier: MIT */
/**
 * \file fuzz.h
 * \brief What every harness in tests/fuzz shares: the libFuzzer entry
 *        points and scratch files for code under test that only reads paths.
 *
 * Each fuzz_<target>.c defines LLVMFuzzerTestOneInput() (and may define
 * LLVMFuzzerInitialize()). With DS_FUZZ=ON it is linked against libFuzzer;
 * otherwise against standalone_main.c, which replays the committed corpus
 * and regression inputs through the same function (docs/FUZZING.md).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Run one input; returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/** Optional one-time setup; a harness that has nothing to set up leaves it out. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/** Check an invariant of the code under test: report and abort when it fails. */
#define DS_FUZZ_CHECK(cond)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ds_fuzz_fail(__FILE__, __LINE__, #cond);                                   \
	} while (0)

/** Print where an invariant failed and abort (libFuzzer then saves the input). */
_Noreturn void ds_fuzz_fail(const char *file, int line, const char *what);

/**
 * True when Corefile-syntax text of len bytes may import a file from
 * outside ds_fuzz_dir(): an import argument that is absolute, climbs with
 * "..", holds a backslash escape or an environment substitution. Imports
 * read whole files, and one of /dev/zero or a terminal would hang the
 * fuzzer instead of testing the parser, so harnesses skip such inputs.
 * Conservative: any "import" followed by such an argument counts.
 */
bool ds_fuzz_import_escapes(const void *text, size_t len);

/**
 * A folder private to this process for scratch files, created on first use
 * on /dev/shm when it exists (inputs are written once per execution) and
 * removed at exit. NULL if it cannot be created.
 */
const char *ds_fuzz_dir(void);

/**
 * Write data to ds_fuzz_dir()/name, replacing what was there, and put the
 * file's path into path (pathlen bytes). Returns 0, or -1 on error.
 */
int ds_fuzz_write(const char *name, const void *data, size_t len, char *path, size_t pathlen);
