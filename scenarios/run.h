/* SPDX-License-Identifier: MIT */
/**
 * \file run.h
 * \brief `dnsurge run`: the scenario runner (run.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/store.h"

typedef struct ds_run_opts {
	const char *scenario;
	const char *db;          /**< NULL = do not record */
	const char *label;
	const char *server;      /**< dnsurged binary under test; NULL = the one next to dnsurge */
	double time_scale;       /**< 0 = the scenario's */
	double rate_scale;       /**< 0 = the scenario's */
	double rate_factor;      /**< 0 = 1: multiplies the (scenario's or given) rate scale */
	uint64_t seed;
	bool seed_set;
	const char *junit;
	bool json;
	bool keep;
	bool quiet;
} ds_run_opts_t;

/** The `dnsurge run` verb; argv[0] is "run". Exit 0 pass, 1 threshold failed, 2 error. */
int ds_run_main(int argc, char **argv);
