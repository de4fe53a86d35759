/* SPDX-License-Identifier: MIT */
/*
 * errors { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }:
 * on the way back, logs the error a plugin below recorded as
 *   [ERROR] plugin/errors: <rcode> <qname> <qtype>: <error>
 * Errors matching a consolidate pattern are counted instead and summarised
 * once per DURATION (first match starts the window). Patterns are POSIX
 * extended regular expressions (close to Go's RE2 for what people write).
 */
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/plugin.h"

typedef struct pattern {
	regex_t re;
	char *text;
	int64_t period;
	ds_log_level_t level;
	bool show_first;
	atomic_uint_fast64_t count;
	atomic_int_fast64_t first_ns;  /* start of the current window, 0 = none */
} pattern_t;

typedef struct errors {
	pattern_t *pats;
	size_t npats;
	ds_timer_t tick;
	bool ticking;
} errors_t;

static int errors_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	errors_t *e = calloc(1, sizeof(*e));
	if (!e)
		return DS_ENOMEM;
	p->ctx = e;
	ds_args_next(a);
	if (ds_args_next_arg(a))
		return ds_args_err_argcount(a);
	while (ds_args_next_block(a)) {
		const char *k = ds_args_val(a);
		if (!strcmp(k, "stacktrace")) {
			continue; /* no panics to trace in C; accepted */
		}
		if (strcmp(k, "consolidate") != 0)
			return ds_args_err(a, "unknown property '%s'", k);
		const char *args[8];
		size_t na = ds_args_remaining(a, args, 8);
		if (na < 2 || na > 4)
			return ds_args_err_argcount(a);
		pattern_t *np = realloc(e->pats, (e->npats + 1) * sizeof(*np));
		if (!np)
			return DS_ENOMEM;
		e->pats = np;
		pattern_t *pt = &e->pats[e->npats];
		memset(pt, 0, sizeof(*pt));
		if (ds_parse_duration(args[0], &pt->period) < 0 || pt->period <= 0)
			return ds_args_err(a, "invalid duration '%s'", args[0]);
		if (strlen(args[1]) > 10000)
			return ds_args_err(a, "regex too long");
		if (regcomp(&pt->re, args[1], REG_EXTENDED | REG_NOSUB) != 0)
			return ds_args_err(a, "invalid regex '%s'", args[1]);
		pt->text = strdup(args[1]);
		pt->level = DS_LOG_ERROR;
		for (size_t i = 2; i < na; i++) {
			if (!strcmp(args[i], "show_first"))
				pt->show_first = true;
			else if (!strcmp(args[i], "warning"))
				pt->level = DS_LOG_WARNING;
			else if (!strcmp(args[i], "error"))
				pt->level = DS_LOG_ERROR;
			else if (!strcmp(args[i], "info"))
				pt->level = DS_LOG_INFO;
			else if (!strcmp(args[i], "debug"))
				pt->level = DS_LOG_DEBUG;
			else {
				regfree(&pt->re);
				free(pt->text);
				return ds_args_err(a, "unknown log level argument in consolidate: '%s'", args[i]);
			}
		}
		e->npats++;
	}
	return DS_OK;
}

static void summarize(pattern_t *pt, bool flush)
{
	int64_t first = atomic_load(&pt->first_ns);
	if (!first)
		return;
	if (!flush && ds_now_ns() - first < pt->period)
		return;
	uint64_t c = atomic_exchange(&pt->count, 0);
	atomic_store(&pt->first_ns, 0);
	if (c == 0 || (pt->show_first && c <= 1))
		return;
	char d[32];
	ds_plog(pt->level, "errors", "%llu errors like '%s' occurred in last %s",
		(unsigned long long)c, pt->text, ds_fmt_duration(pt->period, d, sizeof(d)));
}

static void tick(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	errors_t *e = arg;
	for (size_t i = 0; i < e->npats; i++)
		summarize(&e->pats[i], false);
	ds_timer_start(w, t, 100 * DS_NS_PER_MS);
}

static int errors_start(ds_plugin_t *p, ds_err_t *err)
{
	errors_t *e = p->ctx;
	if (e->npats) {
		ds_timer_init(&e->tick, tick, e);
		ds_timer_start(ds_control_worker(), &e->tick, 100 * DS_NS_PER_MS);
		e->ticking = true;
	}
	return DS_OK;
}

static void errors_stop(ds_plugin_t *p)
{
	errors_t *e = p->ctx;
	if (e->ticking) {
		ds_timer_stop(ds_control_worker(), &e->tick);
		e->ticking = false;
	}
	/* Pending summaries are flushed on shutdown and reload. */
	for (size_t i = 0; i < e->npats; i++)
		summarize(&e->pats[i], true);
}

static int errors_serve(ds_plugin_t *p, ds_query_t *q)
{
	return DS_NEXT;
}

static int errors_done(ds_plugin_t *p, ds_query_t *q, int rc)
{
	if (!q->err[0] || q->proto == DS_PROTO_INTERNAL)
		return rc;
	errors_t *e = p->ctx;
	char name[DS_NAME_MAX * 4 + 1], tb[16];
	ds_name_to_str(q->req.qname, name, sizeof(name));
	char msg[DS_QUERY_ERR_MAX + sizeof(name) + 64];
	snprintf(msg, sizeof(msg), "%d %s %s: %s", rc < 0 ? DS_RCODE_SERVFAIL : rc, name,
		 ds_type_str(q->req.qtype, tb), q->err);
	for (size_t i = 0; i < e->npats; i++) {
		pattern_t *pt = &e->pats[i];
		if (regexec(&pt->re, msg, 0, NULL, 0) != 0)
			continue;
		if (atomic_fetch_add(&pt->count, 1) == 0) {
			int64_t zero = 0;
			atomic_compare_exchange_strong(&pt->first_ns, &zero, ds_now_ns());
			if (pt->show_first)
				ds_plog(pt->level, "errors", "%s", msg);
		}
		return rc;
	}
	ds_plog(DS_LOG_ERROR, "errors", "%s", msg);
	return rc;
}

static void errors_teardown(ds_plugin_t *p)
{
	errors_t *e = p->ctx;
	for (size_t i = 0; i < e->npats; i++) {
		regfree(&e->pats[i].re);
		free(e->pats[i].text);
	}
	free(e->pats);
	free(e);
}

DS_PLUGIN_DEFINE(errors) = {
	.abi = DS_PLUGIN_ABI,
	.name = "errors",
	.flags = DS_PLUGIN_ONCE,
	.setup = errors_setup,
	.start = errors_start,
	.stop = errors_stop,
	.serve = errors_serve,
	.done = errors_done,
	.teardown = errors_teardown,
};
