/* SPDX-License-Identifier: MIT */
/*
 * dnsurge report abba: run a baseline and a candidate command N times
 * each in ABBA order (A B B A A B B A ...) so slow drift of the machine
 * hits both sides alike, then compare the runs they recorded.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/store.h"
#include "lib/util.h"
#include "reports/cli.h"
#include "reports/report.h"

enum { O_BCMD = 2000, O_CCMD, O_TRIALS, O_DRY, O_FIRST };

static void usage(FILE *f)
{
	fputs("usage: dnsurge report abba --baseline-cmd CMD --candidate-cmd CMD --trials N\n"
	      "         [--baseline LABEL] [--candidate LABEL] [--db FILE] [--dry-run]\n"
	      "         [compare options]\n"
	      "\n"
	      "Run the two shell commands N times each in ABBA order (A B B A A B B A ...),\n"
	      "one after the other, then compare the runs they recorded (as `dnsurge report\n"
	      "compare --since-run` with the run id before the first trial). Each command\n"
	      "must record one run with its label in the store; it gets in its environment:\n"
	      "  DNSURGE_DB      the store (--db)\n"
	      "  DNSURGE_LABEL   the side's label (--baseline/--candidate, default\n"
	      "                  'baseline'/'candidate')\n"
	      "  DNSURGE_ROLE    'baseline' or 'candidate'\n"
	      "  DNSURGE_TRIAL   1..N, the trial number of that side\n"
	      "  DNSURGE_ORDER   1..2N, the position in the session\n"
	      "e.g. --baseline-cmd 'dnsurge load --target 127.0.0.1:5300 --rate 20k\n"
	      "     --duration 30s --db \"$DNSURGE_DB\" --label \"$DNSURGE_LABEL\"'\n"
	      "Start a fresh server inside the command when trials must be independent.\n"
	      "\n"
	      "  --trials N         trials per side (default 10)\n"
	      "  --first candidate  start with the candidate (B A A B ...)\n"
	      "  --dry-run          print the order and the commands, run nothing\n"
	      "Other options are compare's (dnsurge report compare --help).\n"
	      "\n"
	      "Exit status as compare's; a command that does not record exactly one run\n"
	      "is a missing trial (one that records its run and exits non-zero, such as a\n"
	      "scenario whose threshold failed, is not), and more than --max-invalid %%\n"
	      "missing on a side is inconclusive (3).\n",
	      f);
}

/* Largest run id so far: the session's runs are the ones above it. */
static int max_run_id(const char *path, int64_t *id, ds_err_t *err)
{
	ds_store_t *db = ds_store_open(path, 0, err);
	if (!db)
		return DS_EIO;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(ds_store_handle(db), "SELECT COALESCE(MAX(run_id), 0) FROM run",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else
		rc = ds_errf(err, DS_EIO, "%s: %s", path, sqlite3_errmsg(ds_store_handle(db)));
	sqlite3_finalize(st);
	ds_store_close(db);
	return rc == SQLITE_OK ? DS_OK : rc;
}

/* Runs with label recorded after run id `after`. */
static int count_new(const char *path, const char *label, int64_t after, int64_t *n, ds_err_t *err)
{
	ds_store_t *db = ds_store_open(path, DS_STORE_RDONLY, err);
	if (!db)
		return DS_EIO;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(ds_store_handle(db),
	                            "SELECT COUNT(*) FROM run WHERE run_id > ?1 AND label = ?2", -1,
	                            &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, after);
		sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*n = sqlite3_column_int64(st, 0);
		else
			rc = SQLITE_ERROR;
	}
	if (rc != SQLITE_OK)
		ds_errf(err, DS_EIO, "%s: %s", path, sqlite3_errmsg(ds_store_handle(db)));
	sqlite3_finalize(st);
	ds_store_close(db);
	return rc == SQLITE_OK ? DS_OK : DS_EIO;
}

static int run_cmd(const char *cmd, const char *db, const char *label, const char *role,
                   unsigned trial, unsigned order)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char t[16], o[16];
		snprintf(t, sizeof(t), "%u", trial);
		snprintf(o, sizeof(o), "%u", order);
		setenv("DNSURGE_DB", db, 1);
		setenv("DNSURGE_LABEL", label, 1);
		setenv("DNSURGE_ROLE", role, 1);
		setenv("DNSURGE_TRIAL", t, 1);
		setenv("DNSURGE_ORDER", o, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

int ds_report_abba_main(int argc, char **argv)
{
	struct option lo[32];
	static const struct option own[] = {
	    {"baseline-cmd", required_argument, NULL, O_BCMD},
	    {"candidate-cmd", required_argument, NULL, O_CCMD},
	    {"trials", required_argument, NULL, O_TRIALS},
	    {"dry-run", no_argument, NULL, O_DRY},
	    {"first", required_argument, NULL, O_FIRST},
	};
	size_t k = 0;
	for (size_t i = 0; i < DS_ARRAY_SIZE(own); i++)
		lo[k++] = own[i];
	for (size_t i = 0; i <= ds_cli_compare_noptions && k < DS_ARRAY_SIZE(lo); i++)
		lo[k++] = ds_cli_compare_options[i];

	ds_cmp_opts_t o;
	struct ds_cli_cmp x = {.cmd = "abba", .db = DS_REPORT_DEFAULT_DB};
	const char *cmd[2] = {NULL, NULL};
	long long trials = 10;
	bool dry = false, cand_first = false;
	int c;

	ds_cmp_opts_default(&o);
	o.base_label = "baseline";
	o.cand_label = "candidate";
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case O_BCMD:
			cmd[0] = optarg;
			break;
		case O_CCMD:
			cmd[1] = optarg;
			break;
		case O_TRIALS:
			if (ds_parse_int(optarg, 1, 10000, &trials) < 0)
				return ds_cli_bad("abba", "--trials: '%s' is not in 1..10000",
				                  optarg);
			break;
		case O_DRY:
			dry = true;
			break;
		case O_FIRST:
			if (strcmp(optarg, "candidate") && strcmp(optarg, "baseline"))
				return ds_cli_bad("abba", "--first: 'baseline' or 'candidate'");
			cand_first = !strcmp(optarg, "candidate");
			break;
		default: {
			int r = ds_cli_compare_opt(c, optarg, &o, &x);
			if (r <= 0) {
				if (!r)
					usage(stderr);
				return 2;
			}
		}
		}
	}
	if (optind < argc)
		return ds_cli_bad("abba", "unexpected argument '%s'", argv[optind]);
	if (!cmd[0] || !cmd[1])
		return ds_cli_bad("abba", "--baseline-cmd and --candidate-cmd are required");
	if (!strcmp(o.base_label, o.cand_label))
		return ds_cli_bad("abba", "the two labels must differ (both are '%s')",
		                  o.base_label);

	const char *label[2] = {o.base_label, o.cand_label};
	static const char *role[2] = {"baseline", "candidate"};
	unsigned done[2] = {0, 0}, missing[2] = {0, 0};
	unsigned total = 2 * (unsigned)trials;
	ds_err_t err;
	int64_t mark = 0;
	if (!dry && max_run_id(x.db, &mark, &err) < 0) {
		fprintf(stderr, "dnsurge report abba: %s\n", err.msg);
		return 2;
	}
	/* Pairs alternate their order: AB, BA, AB, ... gives A B B A A B B A. */
	for (unsigned i = 0; i < total; i++) {
		unsigned pair = i / 2, pos = i % 2;
		int side = (int)((pair % 2 == 0 ? pos : 1 - pos) ^ (cand_first ? 1u : 0u));
		unsigned trial = ++done[side];
		fprintf(stderr, "abba: %u/%u %s #%u: %s\n", i + 1, total, role[side], trial,
		        cmd[side]);
		if (dry)
			continue;
		int64_t before = 0, after = 0;
		if (count_new(x.db, label[side], mark, &before, &err) < 0) {
			fprintf(stderr, "dnsurge report abba: %s\n", err.msg);
			return 2;
		}
		int st = run_cmd(cmd[side], x.db, label[side], role[side], trial, i + 1);
		if (st > 128 && (st - 128 == SIGINT || st - 128 == SIGTERM)) {
			fprintf(stderr, "dnsurge report abba: interrupted\n");
			return 130;
		}
		if (count_new(x.db, label[side], mark, &after, &err) < 0) {
			fprintf(stderr, "dnsurge report abba: %s\n", err.msg);
			return 2;
		}
		/* A command that exits non-zero after recording its run (a
		 * scenario whose threshold failed, a load run marked invalid)
		 * is still a trial: compare judges the run as recorded. */
		if (after != before + 1) {
			missing[side]++;
			fprintf(stderr,
			        "abba: warning: %s #%u recorded no single run (exit %d, %lld new "
			        "run%s labelled '%s')\n",
			        role[side], trial, st, (long long)(after - before),
			        after - before == 1 ? "" : "s", label[side]);
		} else if (st != 0) {
			fprintf(stderr,
			        "abba: note: %s #%u exited %d; its recorded run is a trial like the "
			        "others\n",
			        role[side], trial, st);
		}
	}
	if (dry)
		return 0;
	o.since_run = mark;
	int rc = ds_cli_compare_run(&o, &x);
	for (int s = 0; s < 2; s++) {
		double pct = 100.0 * missing[s] / (double)trials;
		if (missing[s])
			fprintf(stderr, "abba: %u of %lld %s trials are missing (%.0f%%)\n",
			        missing[s], trials, role[s], pct);
		/* Missing trials explain a comparison that could not be made too. */
		if (pct > o.max_invalid_pct && rc != DS_CMP_REGRESSION)
			rc = DS_CMP_INCONCLUSIVE;
	}
	return rc;
}
