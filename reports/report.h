/* SPDX-License-Identifier: MIT */
/**
 * \file report.h
 * \brief `dnsurge report`: the verb's entry point and its subcommands
 *        (show, compare, abba, plot, export, import, promql, alerts,
 *        lint-alerts, synth, merge). docs/REPORT.md is the user's guide.
 *
 * Each subcommand parses its own options and returns the process exit
 * status: 0 success (compare: no regression), 1 regression or failed
 * check, 2 usage or input error, 3 inconclusive.
 */
#pragma once

/** `dnsurge report SUBCOMMAND ...`; argv[0] is "report". */
int ds_report_main(int argc, char **argv);

/** `dnsurge report abba ...` (abba.c): interleaved trials, then compare. */
int ds_report_abba_main(int argc, char **argv);
/** `dnsurge report plot ...` (plot.c). */
int ds_report_plot_main(int argc, char **argv);
/** `dnsurge report export ...` (export.c). */
int ds_report_export_main(int argc, char **argv);
/** `dnsurge report import ...` (dnsperf.c). */
int ds_report_import_main(int argc, char **argv);
/** `dnsurge report promql ...` and `alerts ...` (promql_main.c). */
int ds_report_promql_main(int argc, char **argv);
int ds_report_alerts_main(int argc, char **argv);
/** `dnsurge report lint-alerts ...` (lint.c). */
int ds_report_lint_main(int argc, char **argv);
/** `dnsurge report merge ...` (merge.c): the shards of one load as one run. */
int ds_report_merge_main(int argc, char **argv);
