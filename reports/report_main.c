/* SPDX-License-Identifier: MIT */
#include "reports/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/store.h"
#include "lib/util.h"
#include "reports/cli.h"
#include "reports/compare.h"
#include "reports/show.h"
#include "reports/synth.h"

/* ---------------------------------------------------------------- show */

static int show_main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"db", required_argument, NULL, 'd'},    {"run", required_argument, NULL, 'r'},
	    {"label", required_argument, NULL, 'l'}, {"scenario", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},        {"max-lag", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},        {0},
	};
	const char *db_path = DS_REPORT_DEFAULT_DB, *label = NULL, *scen = NULL;
	int64_t *runs = NULL;
	size_t nruns = 0;
	bool json = false;
	ds_trial_opts_t to = {0};
	ds_trial_t *t = NULL;
	size_t nt = 0;
	ds_store_t *db = NULL;
	ds_err_t err;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_path = optarg;
			break;
		case 'r': {
			long long v;
			int64_t *nr = realloc(runs, (nruns + 1) * sizeof(*nr));
			if (!nr)
				goto out;
			runs = nr;
			if (ds_parse_int(optarg, 1, INT64_MAX, &v) < 0) {
				ds_cli_bad("show", "--run: '%s' is not a run id", optarg);
				goto out;
			}
			runs[nruns++] = v;
			break;
		}
		case 'l':
			label = optarg;
			break;
		case 's':
			scen = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'L':
			if (ds_cli_duration("show", "max-lag", optarg, &to.max_lag_ns) < 0)
				goto out;
			break;
		case 'h':
			printf(
			    "usage: dnsurge report show [--db FILE] [--run ID ... | --label LABEL] "
			    "[--scenario NAME] [--max-lag DUR] [--json]\n\n"
			    "One table per run: every phase and the measured phases together, with "
			    "qps,\nanswered %%, RCODEs, p50/p90/p99/p99.9/max response time, "
			    "timeouts "
			    "and the\ngenerator's schedule lag (a trial is invalid above "
			    "--max-lag, "
			    "default 10ms).\nWithout --run or --label every run in the file is "
			    "shown.\n");
			rc = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (optind < argc) {
		ds_cli_bad("show", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	db = ds_store_open(db_path, DS_STORE_RDONLY, &err);
	if (!db) {
		fprintf(stderr, "dnsurge report show: %s\n", err.msg);
		goto out;
	}
	if (nruns) {
		t = calloc(nruns, sizeof(*t));
		if (!t)
			goto out;
		for (size_t i = 0; i < nruns; i++) {
			nt++;
			if (ds_trial_load(db, runs[i], &to, &t[i], &err) < 0) {
				fprintf(stderr, "dnsurge report show: run %lld: %s\n",
				        (long long)runs[i], err.msg);
				goto out;
			}
		}
	} else if (ds_trial_load_label(db, label, scen, 0, &to, &t, &nt, &err) < 0) {
		fprintf(stderr, "dnsurge report show: %s\n", err.msg);
		goto out;
	}
	if (!nt && (label || scen)) {
		fprintf(stderr, "dnsurge report show: no runs%s%s%s%s%s in %s\n",
		        label ? " labelled '" : "", label ? label : "", label ? "'" : "",
		        scen ? " of scenario " : "", scen ? scen : "", db_path);
		goto out;
	}
	if (json) {
		char *s = ds_show_json(t, nt);
		if (!s)
			goto out;
		puts(s);
		free(s);
	} else {
		ds_show_print(stdout, t, nt);
	}
	rc = 0;
out:
	ds_trials_free(t, nt);
	ds_store_close(db);
	free(runs);
	return rc;
}

/* ------------------------------------------------------------- compare */

static void compare_usage(FILE *f)
{
	fputs("usage: dnsurge report compare --baseline LABEL --candidate LABEL [options]\n"
	      "\n"
	      "Compare the trials (runs) of two labels, scenario by scenario: per trial\n"
	      "p50/p90/p99/p99.9/max, qps, loss, error and SERVFAIL rates from the measured\n"
	      "phases; a two-sided Mann-Whitney U test per metric and a bootstrap interval of\n"
	      "the change of medians. A gated metric regresses when p < alpha AND the change\n"
	      "is larger than its minimum effect in the bad direction.\n"
	      "\n"
	      "  --db FILE              results store (default " DS_REPORT_DEFAULT_DB ")\n"
	      "  --candidate-db FILE    read the candidate's runs from another store\n"
	      "  --scenario NAME        compare only this scenario\n"
	      "  --alpha A              significance level (default 0.01)\n"
	      "  --confidence C         bootstrap interval confidence (default 0.95)\n"
	      "  --bootstrap N          bootstrap resamples (default 10000)\n"
	      "  --seed N               bootstrap seed (default 1): same input, same interval\n"
	      "  --min-trials N         valid trials needed per side (default 5)\n"
	      "  --min-effect SPEC      e.g. p50=3%,p99=5%,p99.9=10%,qps=3%,loss=0.1,errors=0.1\n"
	      "                         (latency/qps in %, rates in percentage points)\n"
	      "  --gate LIST            metrics that decide the exit code\n"
	      "                         (default p50,p99,p99.9,qps,loss,errors)\n"
	      "  --max-lag DUR          trials whose generator lagged more are invalid (10ms)\n"
	      "  --max-invalid PCT      more invalid trials than this is inconclusive (20)\n"
	      "  --strict-noise         baseline noise above a minimum effect is inconclusive\n"
	      "  --since-run ID         only runs with a larger id (what abba uses)\n"
	      "  --json                 print the result as JSON instead of the table\n"
	      "  --junit FILE           also write a JUnit XML report\n"
	      "  --no-save              do not record the comparison in the store\n"
	      "\n"
	      "Exit status: 0 no regression, 1 regression, 2 usage or input error,\n"
	      "3 inconclusive (too few or too many invalid trials).\n",
	      f);
}

static int compare_main(int argc, char **argv)
{
	ds_cmp_opts_t o;
	struct ds_cli_cmp x = {.cmd = "compare", .db = DS_REPORT_DEFAULT_DB};
	int c;
	ds_cmp_opts_default(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", ds_cli_compare_options, NULL)) != -1) {
		if (c == 'h') {
			compare_usage(stdout);
			return 0;
		}
		int k = ds_cli_compare_opt(c, optarg, &o, &x);
		if (k <= 0) {
			if (!k)
				compare_usage(stderr);
			return DS_CMP_ERROR;
		}
	}
	if (optind < argc) {
		ds_cli_bad("compare", "unexpected argument '%s'", argv[optind]);
		return DS_CMP_ERROR;
	}
	return ds_cli_compare_run(&o, &x);
}

/* --------------------------------------------------------------- synth */

static int synth_main(int argc, char **argv)
{
	enum {
		O_DB = 256,
		O_LABEL,
		O_SCEN,
		O_TRIALS,
		O_QPS,
		O_SLOW,
		O_NOISE,
		O_LOSS,
		O_SF,
		O_WARM,
		O_STEADY,
		O_SURGE,
		O_SCRAPE,
		O_RESET,
		O_LAG,
		O_SEED,
		O_START
	};
	static const struct option lo[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"label", required_argument, NULL, O_LABEL},
	    {"scenario", required_argument, NULL, O_SCEN},
	    {"trials", required_argument, NULL, O_TRIALS},
	    {"qps", required_argument, NULL, O_QPS},
	    {"slowdown", required_argument, NULL, O_SLOW},
	    {"noise", required_argument, NULL, O_NOISE},
	    {"loss", required_argument, NULL, O_LOSS},
	    {"servfail", required_argument, NULL, O_SF},
	    {"warmup", required_argument, NULL, O_WARM},
	    {"steady", required_argument, NULL, O_STEADY},
	    {"surge", required_argument, NULL, O_SURGE},
	    {"scrape", required_argument, NULL, O_SCRAPE},
	    {"counter-reset", no_argument, NULL, O_RESET},
	    {"lag-spike", no_argument, NULL, O_LAG},
	    {"seed", required_argument, NULL, O_SEED},
	    {"start", required_argument, NULL, O_START},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	ds_synth_opts_t o = {.noise = -1};
	const char *db_path = DS_REPORT_DEFAULT_DB;
	long long n;
	double v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db_path = optarg;
			break;
		case O_LABEL:
			o.label = optarg;
			break;
		case O_SCEN:
			o.scenario = optarg;
			break;
		case O_TRIALS:
			if (ds_parse_int(optarg, 1, 10000, &n) < 0)
				return ds_cli_bad("synth", "--trials: '%s' is not in 1..10000",
				                  optarg);
			o.trials = (unsigned)n;
			break;
		case O_SEED:
			if (ds_parse_int(optarg, 0, INT64_MAX, &n) < 0)
				return ds_cli_bad("synth", "--seed: '%s' is not a whole number",
				                  optarg);
			o.seed = (uint64_t)n;
			break;
		case O_START:
			if (ds_parse_int(optarg, 1, INT64_MAX / DS_NS_PER_SEC, &n) < 0)
				return ds_cli_bad("synth", "--start: '%s' is not epoch seconds",
				                  optarg);
			o.start_ns = n * DS_NS_PER_SEC;
			break;
		case O_QPS:
		case O_SLOW:
		case O_NOISE:
		case O_LOSS:
		case O_SF:
			if (ds_parse_double(optarg, &v) < 0 || v < 0 || v > 1e7)
				return ds_cli_bad("synth", "--%s: '%s' is not a number >= 0",
				                  lo[c - O_DB].name, optarg);
			if (c == O_QPS)
				o.qps = v;
			if (c == O_SLOW)
				o.slowdown = v;
			if (c == O_NOISE)
				o.noise = v;
			if (c == O_LOSS)
				o.loss_pct = v;
			if (c == O_SF)
				o.servfail_pct = v;
			break;
		case O_WARM:
		case O_STEADY:
		case O_SURGE:
		case O_SCRAPE: {
			int64_t d;
			if (c == O_SCRAPE && !strcmp(optarg, "none")) {
				o.scrape_ns = -1;
				break;
			}
			if (ds_cli_duration("synth", lo[c - O_DB].name, optarg, &d) < 0)
				return 2;
			if (c != O_SURGE && d % DS_NS_PER_SEC)
				return ds_cli_bad("synth", "--%s: whole seconds only",
				                  lo[c - O_DB].name);
			if (c == O_WARM)
				o.warmup_ns = d ? d : -1;
			if (c == O_STEADY)
				o.steady_ns = d;
			if (c == O_SURGE)
				o.surge_ns = d;
			if (c == O_SCRAPE)
				o.scrape_ns = d ? d : -1;
			break;
		}
		case O_RESET:
			o.counter_reset = true;
			break;
		case O_LAG:
			o.lag_spike = true;
			break;
		case 'h':
			printf(
			    "usage: dnsurge report synth --db FILE --label LABEL [--trials N] "
			    "[--slowdown F]\n"
			    "        [--noise SIGMA] [--qps Q] [--loss PCT] [--servfail PCT] "
			    "[--warmup DUR]\n"
			    "        [--steady DUR] [--surge DUR] [--scrape DUR|none] "
			    "[--counter-reset]\n"
			    "        [--lag-spike] [--seed N] [--start EPOCH_S]\n\n"
			    "Write synthetic trials (tool 'synth') for trying the report "
			    "subcommands and for\ntests: a warm-up ramp, a measured steady phase, "
			    "an optional surge, per-second\ncounters and latency histograms, and "
			    "CoreDNS-named scraped metrics. --slowdown\n1.1 makes every latency "
			    "10%% "
			    "slower; --noise is the per-trial lognormal sigma\n(default 0.02). The "
			    "same seed writes the same numbers.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return ds_cli_bad("synth", "unexpected argument '%s'", argv[optind]);
	ds_err_t err;
	ds_store_t *db = ds_store_open(db_path, 0, &err);
	if (!db) {
		fprintf(stderr, "dnsurge report synth: %s\n", err.msg);
		return 2;
	}
	unsigned nt = o.trials ? o.trials : 1;
	int64_t *ids = calloc(nt, sizeof(*ids));
	int rc =
	    ids ? ds_synth_write(db, &o, ids, &err) : ds_errf(&err, DS_ENOMEM, "out of memory");
	if (rc == DS_OK)
		printf("wrote run%s %lld..%lld (label '%s') to %s\n", nt > 1 ? "s" : "",
		       (long long)ids[0], (long long)ids[nt - 1], o.label ? o.label : "synthetic",
		       db_path);
	else
		fprintf(stderr, "dnsurge report synth: %s\n", err.msg);
	free(ids);
	ds_store_close(db);
	return rc == DS_OK ? 0 : 2;
}

/* ---------------------------------------------------------------- main */

static const struct sub {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} subs[] = {
    {"show", show_main, "one run or a label's runs as tables, per phase"},
    {"compare", compare_main, "baseline vs candidate trials: U test, bootstrap CI, exit code"},
    {"abba", ds_report_abba_main, "run two commands in ABBA order N times each, then compare"},
    {"plot", ds_report_plot_main, "PNG/SVG charts through gnuplot"},
    {"export", ds_report_export_main, "runs, phases, intervals or trials as CSV"},
    {"import", ds_report_import_main, "bring dnsperf results in as runs"},
    {"promql", ds_report_promql_main, "evaluate a PromQL expression over a run's scraped metrics"},
    {"alerts", ds_report_alerts_main, "evaluate a Prometheus rules file over a run, offline"},
    {"lint-alerts", ds_report_lint_main, "check alert rules against the metrics dnsurged exports"},
    {"synth", synth_main, "write synthetic trials (tests, demos)"},
    {"merge", ds_report_merge_main, "the shards of one load (load --shard I/N) as one run"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: dnsurge report SUBCOMMAND [options]   (SUBCOMMAND --help for its "
	           "options)\n\nsubcommands:\n");
	for (size_t i = 0; i < DS_ARRAY_SIZE(subs); i++)
		fprintf(f, "  %-12s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\nExit status: 0 ok, 1 regression or failed check, 2 usage or input error, "
	           "3 inconclusive.\n");
}

int ds_report_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *s = argv[1];
	if (!strcmp(s, "-h") || !strcmp(s, "--help") || !strcmp(s, "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(subs); i++)
		if (!strcmp(s, subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "dnsurge report: unknown subcommand '%s'\n\n", s);
	usage(stderr);
	return 2;
}
