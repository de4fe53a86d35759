/* SPDX-License-Identifier: MIT */
#include "reports/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/store.h"
#include "lib/util.h"

int ds_cli_bad(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "dnsurge report %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

int ds_cli_duration(const char *cmd, const char *name, const char *arg, int64_t *ns)
{
	if (ds_parse_duration(arg, ns) < 0 || *ns < 0)
		return ds_cli_bad(cmd, "--%s: '%s' is not a duration (e.g. 10ms, 30s, 1m30s)", name,
		                  arg);
	return DS_OK;
}

const struct option ds_cli_compare_options[] = {
    {"db", required_argument, NULL, DS_CO_DB},
    {"candidate-db", required_argument, NULL, DS_CO_CAND_DB},
    {"baseline", required_argument, NULL, DS_CO_BASE},
    {"candidate", required_argument, NULL, DS_CO_CAND},
    {"scenario", required_argument, NULL, DS_CO_SCEN},
    {"alpha", required_argument, NULL, DS_CO_ALPHA},
    {"confidence", required_argument, NULL, DS_CO_CONF},
    {"bootstrap", required_argument, NULL, DS_CO_ITERS},
    {"seed", required_argument, NULL, DS_CO_SEED},
    {"min-trials", required_argument, NULL, DS_CO_MIN_TRIALS},
    {"min-effect", required_argument, NULL, DS_CO_MIN_EFFECT},
    {"gate", required_argument, NULL, DS_CO_GATE},
    {"max-lag", required_argument, NULL, DS_CO_MAX_LAG},
    {"max-invalid", required_argument, NULL, DS_CO_MAX_INVALID},
    {"strict-noise", no_argument, NULL, DS_CO_STRICT},
    {"since-run", required_argument, NULL, DS_CO_SINCE},
    {"json", no_argument, NULL, DS_CO_JSON},
    {"junit", required_argument, NULL, DS_CO_JUNIT},
    {"no-save", no_argument, NULL, DS_CO_NOSAVE},
    {"help", no_argument, NULL, 'h'},
    {0},
};
const size_t ds_cli_compare_noptions = DS_ARRAY_SIZE(ds_cli_compare_options) - 1;

int ds_cli_compare_opt(int c, const char *arg, ds_cmp_opts_t *o, struct ds_cli_cmp *x)
{
	ds_err_t err;
	double v;
	long long n;
	switch (c) {
	case DS_CO_DB:
		x->db = arg;
		return 1;
	case DS_CO_CAND_DB:
		x->cand_db = arg;
		return 1;
	case DS_CO_BASE:
		o->base_label = arg;
		return 1;
	case DS_CO_CAND:
		o->cand_label = arg;
		return 1;
	case DS_CO_SCEN:
		o->scenario = arg;
		return 1;
	case DS_CO_ALPHA:
		if (ds_parse_double(arg, &v) < 0 || !(v > 0 && v < 1))
			return ds_cli_bad(x->cmd, "--alpha: '%s' is not in (0, 1)", arg), -1;
		o->alpha = v;
		return 1;
	case DS_CO_CONF:
		if (ds_parse_double(arg, &v) < 0 || !(v > 0 && v < 1))
			return ds_cli_bad(x->cmd, "--confidence: '%s' is not in (0, 1)", arg), -1;
		o->conf = v;
		return 1;
	case DS_CO_ITERS:
		if (ds_parse_int(arg, 100, 10000000, &n) < 0)
			return ds_cli_bad(x->cmd, "--bootstrap: '%s' is not in 100..10000000", arg),
			       -1;
		o->iters = (unsigned)n;
		return 1;
	case DS_CO_SEED:
		if (ds_parse_int(arg, 0, INT64_MAX, &n) < 0)
			return ds_cli_bad(x->cmd, "--seed: '%s' is not a whole number", arg), -1;
		o->seed = (uint64_t)n;
		return 1;
	case DS_CO_MIN_TRIALS:
		if (ds_parse_int(arg, 2, 1000, &n) < 0)
			return ds_cli_bad(x->cmd, "--min-trials: '%s' is not in 2..1000", arg), -1;
		o->min_trials = (unsigned)n;
		return 1;
	case DS_CO_MIN_EFFECT:
		if (ds_cmp_parse_min_effect(o, arg, &err) < 0)
			return ds_cli_bad(x->cmd, "%s", err.msg), -1;
		return 1;
	case DS_CO_GATE:
		if (ds_cmp_parse_gate(o, arg, &err) < 0)
			return ds_cli_bad(x->cmd, "%s", err.msg), -1;
		return 1;
	case DS_CO_MAX_LAG:
		return ds_cli_duration(x->cmd, "max-lag", arg, &o->trial.max_lag_ns) < 0 ? -1 : 1;
	case DS_CO_MAX_INVALID:
		if (ds_parse_double(arg, &v) < 0 || v < 0 || v > 100)
			return ds_cli_bad(x->cmd, "--max-invalid: '%s' is not a percentage", arg),
			       -1;
		o->max_invalid_pct = v;
		return 1;
	case DS_CO_STRICT:
		o->strict_noise = true;
		return 1;
	case DS_CO_SINCE:
		if (ds_parse_int(arg, 0, INT64_MAX, &n) < 0)
			return ds_cli_bad(x->cmd, "--since-run: '%s' is not a run id", arg), -1;
		o->since_run = n;
		return 1;
	case DS_CO_JSON:
		x->json = true;
		return 1;
	case DS_CO_JUNIT:
		x->junit = arg;
		return 1;
	case DS_CO_NOSAVE:
		x->no_save = true;
		return 1;
	}
	return 0;
}

int ds_cli_compare_run(ds_cmp_opts_t *o, const struct ds_cli_cmp *x)
{
	ds_store_t *db = NULL, *cdb = NULL;
	ds_cmp_result_t r = {0};
	ds_err_t err;
	int rc = DS_CMP_ERROR;

	if (!o->base_label || !o->cand_label) {
		ds_cli_bad(x->cmd, "--baseline LABEL and --candidate LABEL are required");
		return DS_CMP_ERROR;
	}
	if (!x->no_save) {
		/* Saving is a convenience: a read-only store is still compared. */
		db = ds_store_open(x->db, 0, &err);
		if (!db && (strstr(err.msg, "read-only") || strstr(err.msg, "not writable")))
			fprintf(stderr, "dnsurge report %s: %s: the comparison is not saved\n",
			        x->cmd, err.msg);
		else if (!db)
			goto fail;
	}
	if (!db) {
		db = ds_store_open(x->db, DS_STORE_RDONLY, &err);
		if (!db)
			goto fail;
	} else {
		o->save_db = db;
	}
	cdb = db;
	if (x->cand_db) {
		cdb = ds_store_open(x->cand_db, DS_STORE_RDONLY, &err);
		if (!cdb)
			goto fail;
	}
	if (ds_cmp_run(db, cdb, o, &r, &err) < 0)
		goto fail;
	if (x->json) {
		char *s = ds_cmp_json(&r, o);
		if (s)
			puts(s);
		free(s);
	} else {
		ds_cmp_print(stdout, &r, o);
	}
	if (x->junit && ds_cmp_junit(x->junit, &r, o, &err) < 0)
		goto fail;
	rc = r.exit_code;
	goto out;
fail:
	fprintf(stderr, "dnsurge report %s: %s\n", x->cmd, err.msg);
	rc = DS_CMP_ERROR;
out:
	ds_cmp_result_free(&r);
	if (cdb != db)
		ds_store_close(cdb);
	ds_store_close(db);
	return rc;
}
