/* SPDX-License-Identifier: MIT */
/**
 * \file export.h
 * \brief CSV export of stored results (`dnsurge report export --csv`),
 *        written with libcsv's quoting so any CSV reader gets the fields
 *        back exactly.
 *
 * Tables: `runs` (one row per run with its measured-phase metrics),
 * `phases`, `intervals` (per-second counters, RCODEs and p50/p99) and
 * `samples` (scraped metrics). Column lists are in docs/REPORT.md.
 * Numbers are written in C locale, doubles in their shortest exact form,
 * absent values as empty fields.
 */
#pragma once

#include <stdio.h>

#include "reports/trial.h"

typedef enum {
	DS_EXPORT_RUNS,
	DS_EXPORT_PHASES,
	DS_EXPORT_INTERVALS,
	DS_EXPORT_SAMPLES,
} ds_export_table_t;

/** Table by name ("runs", "phases", "intervals", "samples"); -1 if unknown. */
int ds_export_table_by_name(const char *name);

/** Write one CSV field (quoted by libcsv when it needs to be) and its separator. */
int ds_export_field(FILE *f, const char *s, bool last);

/**
 * Write table for the trials (loaded with ds_trial_load) to f, header
 * first. db is needed for intervals (per-interval histograms) and
 * samples. Returns DS_OK, DS_EIO on a write error, or the store's error.
 */
int ds_export_csv(FILE *f, ds_store_t *db, ds_export_table_t table, const ds_trial_t *t, size_t n,
                  ds_err_t *err);
