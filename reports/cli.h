/* SPDX-License-Identifier: MIT */
/**
 * \file cli.h
 * \brief Command-line plumbing shared by the report subcommands: error
 *        messages, durations, and the compare options that `compare` and
 *        `abba` both take.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/common.h"
#include "reports/compare.h"

/** Store used when --db is not given (the measuring tools' default too). */
#define DS_REPORT_DEFAULT_DB "dnsurge.db"

/** Print "dnsurge report CMD: message" to stderr; returns 2 (usage error). */
int ds_cli_bad(const char *cmd, const char *fmt, ...) DS_PRINTF(2, 3);
/** Parse a Go duration for --name; prints the error and returns 2, else DS_OK. */
int ds_cli_duration(const char *cmd, const char *name, const char *arg, int64_t *ns);

/** getopt_long values of the compare options (above any short option). */
enum {
	DS_CO_DB = 1000,
	DS_CO_CAND_DB,
	DS_CO_BASE,
	DS_CO_CAND,
	DS_CO_SCEN,
	DS_CO_ALPHA,
	DS_CO_CONF,
	DS_CO_ITERS,
	DS_CO_SEED,
	DS_CO_MIN_TRIALS,
	DS_CO_MIN_EFFECT,
	DS_CO_GATE,
	DS_CO_MAX_LAG,
	DS_CO_MAX_INVALID,
	DS_CO_STRICT,
	DS_CO_SINCE,
	DS_CO_JSON,
	DS_CO_JUNIT,
	DS_CO_NOSAVE,
};

/** The compare options as getopt_long entries, ending with {"help", 'h'} and {0}. */
extern const struct option ds_cli_compare_options[];
/** Number of entries in ds_cli_compare_options before the terminating {0}. */
extern const size_t ds_cli_compare_noptions;

/** What the compare options set besides ds_cmp_opts_t. */
struct ds_cli_cmp {
	const char *cmd;     /**< "compare" or "abba", for messages */
	const char *db;      /**< --db */
	const char *cand_db; /**< --candidate-db or NULL */
	const char *junit;   /**< --junit FILE or NULL */
	bool json;
	bool no_save;
};

/** Apply one compare option: 1 handled, 0 not a compare option, -1 bad value (printed). */
int ds_cli_compare_opt(int c, const char *arg, ds_cmp_opts_t *o, struct ds_cli_cmp *x);
/** Open the store(s), compare, print, write JUnit; returns the exit status. */
int ds_cli_compare_run(ds_cmp_opts_t *o, const struct ds_cli_cmp *x);
