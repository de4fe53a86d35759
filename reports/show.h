/* SPDX-License-Identifier: MIT */
/**
 * \file show.h
 * \brief `dnsurge report show`: runs as tables (one row per phase and one
 *        for the measured phases together) or as JSON.
 */
#pragma once

#include <stdio.h>

#include "reports/trial.h"

/** Print the trials as text tables, one block per run. */
void ds_show_print(FILE *f, const ds_trial_t *t, size_t n);
/**
 * The trials as a JSON array (malloc'd string, NULL on ENOMEM): run
 * fields, validity, and per phase and in total the counters, RCODEs and
 * every metric of ds_trial_metrics (latencies in ns, null when absent).
 */
char *ds_show_json(const ds_trial_t *t, size_t n);
/** "NOERROR 97.0% NXDOMAIN 3.0% SERVFAIL 0.1%": the top RCODEs of a window (by answers). */
const char *ds_show_rcodes(const ds_trial_window_t *w, int top, char *buf, size_t len);
