/* SPDX-License-Identifier: MIT */
/* Scenario files (see scenario.h and docs/SCENARIOS.md). */
#include "scenarios/scenario.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "lib/wire.h"

typedef struct pctx {
	ds_scn_t *s;
	ds_err_t *err;
	const ds_token_t *tok; /* for error positions */
} pctx_t;

static int DS_PRINTF(2, 3) perr(pctx_t *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ds_errf(c->err, DS_ECONFIG, "%s:%d - %s", c->tok ? c->tok->file : c->s->path,
		       c->tok ? c->tok->line : 0, msg);
}

static char *dup(const char *s)
{
	return s ? ds_xstrdup(s) : NULL;
}

/* Re-create Corefile text from tokens, one source line per line, quoting
 * what was quoted, so an inline block reads like the file it came from. */
static void append_tokens(char **buf, size_t *len, size_t *cap, const ds_token_t *t, size_t n)
{
	int line = n ? t[0].line : 0;
	for (size_t i = 0; i < n; i++) {
		const char *txt = t[i].text;
		size_t need = strlen(txt) * 2 + 8;
		if (*len + need >= *cap) {
			*cap = (*cap + need) * 2;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				abort();
		}
		if (i > 0)
			(*buf)[(*len)++] = t[i].line != line ? '\n' : ' ';
		line = t[i].line;
		/* Lone braces stay block tokens; anything that would split,
		 * comment or quote is quoted, as it was in the source. */
		bool q = t[i].quoted || !*txt || strpbrk(txt, " \t\n#\"") != NULL;
		if (q)
			(*buf)[(*len)++] = '"';
		for (const char *p = txt; *p; p++) {
			if (q && *p == '"')
				(*buf)[(*len)++] = '\\';
			(*buf)[(*len)++] = *p;
		}
		if (q)
			(*buf)[(*len)++] = '"';
	}
	(*buf)[*len] = '\0';
}

static int parse_rate(const char *s, double *out)
{
	char b[64];
	snprintf(b, sizeof(b), "%s", s);
	size_t l = strlen(b);
	double mult = 1;
	if (l && (b[l - 1] == 'k' || b[l - 1] == 'K')) {
		mult = 1e3;
		b[--l] = 0;
	} else if (l && b[l - 1] == 'M') {
		mult = 1e6;
		b[--l] = 0;
	}
	double v;
	if (ds_parse_double(b, &v) < 0 || v < 0 || !isfinite(v))
		return DS_EINVAL;
	*out = v * mult;
	return DS_OK;
}

/* "10%" -> 0.1; "0.1" -> 0.1 */
static int parse_share(const char *s, double *out)
{
	char b[64];
	snprintf(b, sizeof(b), "%s", s);
	size_t l = strlen(b);
	bool pct = l && b[l - 1] == '%';
	if (pct)
		b[--l] = 0;
	double v;
	if (ds_parse_double(b, &v) < 0 || v < 0)
		return DS_EINVAL;
	*out = pct ? v / 100 : v;
	return DS_OK;
}

/* ------------------------------------------------------------ sections */

static int sec_scenario(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_t *s = c->s;
	if (b->nkeys > 1) {
		free(s->name);
		s->name = dup(b->keys[1].text);
	}
	for (size_t d = 0; d < b->ndirs; d++) {
		ds_args_t a;
		ds_err_t e;
		ds_args_init(&a, &b->dirs[d], "scenario", &e);
		ds_args_next(&a);
		c->tok = &b->dirs[d].tokens[0];
		const char *k = b->dirs[d].name;
		const char *v[4];
		size_t n = ds_args_remaining(&a, v, 4);
		if (!strcmp(k, "name") && n == 1) {
			free(s->name);
			s->name = dup(v[0]);
		} else if (!strcmp(k, "description") && n >= 1) {
			free(s->description);
			s->description = dup(v[0]);
		} else if (!strcmp(k, "time_scale") && n == 1) {
			if (ds_parse_double(v[0], &s->time_scale) < 0 || s->time_scale < 1)
				return perr(c, "time_scale must be a number >= 1, got '%s'", v[0]);
		} else if (!strcmp(k, "rate_scale") && n == 1) {
			if (ds_parse_double(v[0], &s->rate_scale) < 0 || s->rate_scale <= 0)
				return perr(c, "rate_scale must be a number > 0, got '%s'", v[0]);
		} else if (!strcmp(k, "seed") && n == 1) {
			long long x;
			if (ds_parse_int(v[0], 0, LLONG_MAX, &x) < 0)
				return perr(c, "bad seed '%s'", v[0]);
			s->seed = (uint64_t)x;
		} else {
			return perr(c, "scenario: unknown or malformed setting '%s'", k);
		}
	}
	return DS_OK;
}

static char *path_rel(const ds_scn_t *s, const char *p)
{
	if (p[0] == '/')
		return dup(p);
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s/%s", s->dir, p);
	char *r = realpath(buf, NULL);
	return r ? r : dup(buf);
}

static int sec_server(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_server_t *sv = &c->s->server;
	char *body = NULL;
	size_t len = 0, cap = 0;
	int rc;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		c->tok = &dir->tokens[0];
		if (!strcmp(dir->name, "corefile")) {
			if (dir->ntokens != 2) {
				rc = perr(c, "server: corefile takes one path (or write the directives inline)");
				goto fail;
			}
			free(sv->cf.path);
			sv->cf.path = path_rel(c->s, dir->tokens[1].text);
		} else if (!strcmp(dir->name, "workers")) {
			long long x;
			if (dir->ntokens != 2 || ds_parse_int(dir->tokens[1].text, 1, 64, &x) < 0) {
				rc = perr(c, "server: workers takes a number 1-64");
				goto fail;
			}
			sv->workers = (unsigned)x;
		} else if (!strcmp(dir->name, "env")) {
			if (dir->ntokens != 3) {
				rc = perr(c, "server: env takes NAME VALUE");
				goto fail;
			}
			sv->env = realloc(sv->env, (sv->nenv + 1) * sizeof(*sv->env));
			sv->env[sv->nenv].name = dup(dir->tokens[1].text);
			sv->env[sv->nenv].value = dup(dir->tokens[2].text);
			sv->nenv++;
		} else {
			if (len)
				body[len++] = '\n';
			append_tokens(&body, &len, &cap, dir->tokens, dir->ntokens);
		}
	}
	if (body && sv->cf.path) {
		rc = perr(c, "server: give either a corefile path or inline directives, not both");
		goto fail;
	}
	if (!body && !sv->cf.path)
		return perr(c, "server: no corefile and no directives");
	/* A later server section replaces an earlier one's directives. */
	free(sv->cf.inline_text);
	sv->cf.inline_text = body;
	return DS_OK;
fail:
	/* The directives collected so far are not kept on an error. */
	free(body);
	return rc;
}

static int sec_upstream(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_t *s = c->s;
	c->tok = &b->keys[0];
	if (s->nups == DS_SCN_MAX_UPSTREAMS)
		return perr(c, "too many upstream sections (max %d)", DS_SCN_MAX_UPSTREAMS);
	ds_scn_upstream_t *u = &s->ups[s->nups++];
	u->name = dup(b->nkeys > 1 ? b->keys[1].text : "");
	u->count = 1;
	u->workers = 1;
	u->file_line = b->keys[0].line;
	char *body = NULL;
	size_t len = 0, cap = 0;
	int rc;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		c->tok = &dir->tokens[0];
		long long x;
		if (!strcmp(dir->name, "count")) {
			if (dir->ntokens != 2 || ds_parse_int(dir->tokens[1].text, 1, 16, &x) < 0) {
				rc = perr(c, "upstream: count takes a number 1-16");
				goto fail;
			}
			u->count = (unsigned)x;
		} else if (!strcmp(dir->name, "workers")) {
			if (dir->ntokens != 2 || ds_parse_int(dir->tokens[1].text, 1, 64, &x) < 0) {
				rc = perr(c, "upstream: workers takes a number 1-64");
				goto fail;
			}
			u->workers = (unsigned)x;
		} else {
			if (len)
				body[len++] = '\n';
			append_tokens(&body, &len, &cap, dir->tokens, dir->ntokens);
		}
	}
	if (!body)
		return perr(c, "upstream: no directives (what should it answer? e.g. template, file, hosts, erratic)");
	u->directives = body;
	if (ds_scn_upstream_count(s) > DS_SCN_MAX_UPSTREAMS)
		return perr(c, "more than %d upstreams in all", DS_SCN_MAX_UPSTREAMS);
	return DS_OK;
fail:
	/* The directives collected so far are not kept on an error (as in sec_server). */
	free(body);
	return rc;
}

static int sec_k8s(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_k8s_t *k = &c->s->k8s;
	k->enabled = true;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		c->tok = &dir->tokens[0];
		/* Each directive is a k8s-sim flag: "synth services=10" -> --synth services=10 */
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", dir->name);
		for (size_t i = 0; i < dir->ntokens; i++) {
			const char *t = i == 0 ? flag : dir->tokens[i].text;
			char *v = (i > 0 && !strcmp(dir->name, "load")) ? path_rel(c->s, t) : dup(t);
			k->args = realloc(k->args, (k->nargs + 1) * sizeof(char *));
			k->args[k->nargs++] = v;
		}
	}
	return DS_OK;
}

/* queries KIND [key value]...  (tokens after "queries") */
static int parse_queries(pctx_t *c, const ds_token_t *t, size_t n, ds_scn_queries_t *q)
{
	memset(q, 0, sizeof(*q));
	if (n < 1)
		return perr(c, "queries: which kind? names, random, file or k8s");
	q->kind = dup(t[0].text);
	if (strcmp(q->kind, "names") && strcmp(q->kind, "random") && strcmp(q->kind, "file") &&
	    strcmp(q->kind, "k8s"))
		return perr(c, "queries: unknown kind '%s' (names, random, file, k8s)", q->kind);
	size_t i = 1;
	if (!strcmp(q->kind, "file")) {
		if (n < 2)
			return perr(c, "queries file: which file?");
		q->file = path_rel(c->s, t[1].text);
		i = 2;
	} else if (!strcmp(q->kind, "names") && n > 1 && strchr("0123456789", t[1].text[0])) {
		long long x;
		if (ds_parse_int(t[1].text, 1, 1LL << 40, &x) < 0)
			return perr(c, "queries names: bad count '%s'", t[1].text);
		q->names = (uint64_t)x;
		i = 2;
	}
	for (; i < n; i += 2) {
		const char *k = t[i].text;
		if (i + 1 >= n)
			return perr(c, "queries: '%s' needs a value", k);
		const char *v = t[i + 1].text;
		long long x;
		if (!strcmp(k, "zone")) {
			free(q->zone); /* a repeated setting: the last one counts */
			q->zone = dup(v);
		} else if (!strcmp(k, "zipf")) {
			if (ds_parse_double(v, &q->zipf) < 0 || q->zipf < 0)
				return perr(c, "queries: bad zipf '%s'", v);
		} else if (!strcmp(k, "nxdomain")) {
			if (parse_share(v, &q->nxdomain) < 0 || q->nxdomain > 1)
				return perr(c, "queries: bad nxdomain share '%s' (e.g. 10%%)", v);
		} else if (!strcmp(k, "qtypes")) {
			free(q->qtypes);
			q->qtypes = dup(v);
		} else if (!strcmp(k, "services") || !strcmp(k, "count")) {
			if (ds_parse_int(v, 1, 1LL << 40, &x) < 0)
				return perr(c, "queries: bad %s '%s'", k, v);
			q->names = (uint64_t)x;
		} else if (!strcmp(k, "namespaces")) {
			if (ds_parse_int(v, 1, 1 << 20, &x) < 0)
				return perr(c, "queries: bad namespaces '%s'", v);
			q->namespaces = (unsigned)x;
		} else if (!strcmp(k, "domain")) {
			free(q->domain);
			q->domain = dup(v);
		} else {
			return perr(c, "queries: unknown setting '%s'", k);
		}
	}
	return DS_OK;
}

static void queries_free(ds_scn_queries_t *q)
{
	free(q->kind);
	free(q->zone);
	free(q->file);
	free(q->qtypes);
	free(q->domain);
}

static void push_str(char ***v, size_t *n, char *str)
{
	*v = ds_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = str;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A replay load takes its timing from the capture: phases give speeds
 * (xN), the story runs in real time, and nothing may change the query
 * mix; a query-mix load has no speeds. */
static int check_replay(pctx_t *c)
{
	ds_scn_t *s = c->s;
	ds_scn_load_t *l = &s->load;
	bool replay = l->nreplay > 0;
	c->tok = NULL;
	if (!replay && (l->nfilters || l->nrewrites))
		return ds_errf(c->err, DS_ECONFIG, "%s:%d - load: filter and rewrite_zone need a replay (load { replay FILE })",
			       s->path, l->filter_line);
	for (size_t i = 0; i < l->nphases; i++) {
		if (l->phases[i].speed == replay)
			continue;
		return ds_errf(c->err, DS_ECONFIG, "%s:%d - load: phase '%s': %s", s->path, l->phases[i].line,
			       l->phases[i].name,
			       replay ? "a replay's phases give speeds (x1, x10, x1~x10), not rates"
				      : "a speed (xN) needs a replay (load { replay FILE })");
	}
	if (!replay)
		return DS_OK;
	for (size_t i = 0; i < l->nreplay; i++) {
		FILE *f = fopen(l->replay[i], "rb");
		if (!f)
			return ds_errf(c->err, DS_ECONFIG, "%s:%d - load: replay: cannot read %s: %s", s->path,
				       l->replay_line, l->replay[i], strerror(errno));
		fclose(f);
	}
	if (l->tcp_line)
		return ds_errf(c->err, DS_ECONFIG, "%s:%d - load: protocol does not apply to a replay: each client uses the transport it was captured with",
			       s->path, l->tcp_line);
	if (s->time_scale != 1)
		return ds_errf(c->err, DS_ECONFIG, "%s:%d - load: a replay runs in real time: time_scale must be 1",
			       s->path, l->replay_line);
	for (size_t i = 0; i < s->nevents; i++)
		if (s->events[i].kind == DS_EV_LOAD_QUERIES)
			return ds_errf(c->err, DS_ECONFIG, "%s:%d - event: a replay's queries come from the capture",
				       s->path, s->events[i].line);
	return DS_OK;
}

static int sec_load(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_load_t *l = &c->s->load;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		const ds_token_t *t = dir->tokens;
		size_t n = dir->ntokens;
		c->tok = &t[0];
		long long x;
		if (!strcmp(dir->name, "replay")) {
			if (n < 2)
				return perr(c, "load: replay FILE... (pcap or pcapng captures, relative to the scenario)");
			if (l->queries.kind)
				return perr(c, "load: replay and queries exclude each other: the capture is the query mix");
			for (size_t i = 1; i < n; i++)
				push_str(&l->replay, &l->nreplay, path_rel(c->s, t[i].text));
			l->replay_line = t[0].line;
		} else if (!strcmp(dir->name, "filter") || !strcmp(dir->name, "rewrite_zone")) {
			bool f = !strcmp(dir->name, "filter");
			if (n != 2 || !strchr(t[1].text, '='))
				return perr(c, f ? "load: filter qtype=A,AAAA or filter zone=example.com"
						 : "load: rewrite_zone FROM=TO");
			if (!l->filter_line)
				l->filter_line = t[0].line;
			if (f)
				push_str(&l->filters, &l->nfilters, dup(t[1].text));
			else
				push_str(&l->rewrites, &l->nrewrites, dup(t[1].text));
		} else if (!strcmp(dir->name, "queries")) {
			if (l->nreplay)
				return perr(c, "load: replay and queries exclude each other: the capture is the query mix");
			queries_free(&l->queries);
			int rc = parse_queries(c, t + 1, n - 1, &l->queries);
			if (rc < 0)
				return rc;
		} else if (!strcmp(dir->name, "protocol")) {
			if (n != 2 || (strcmp(t[1].text, "udp") && strcmp(t[1].text, "tcp")))
				return perr(c, "load: protocol is udp or tcp");
			l->tcp = !strcmp(t[1].text, "tcp");
			l->tcp_line = t[0].line;
		} else if (!strcmp(dir->name, "timeout")) {
			if (n != 2 || ds_parse_duration(t[1].text, &l->timeout_ns) < 0 || l->timeout_ns <= 0)
				return perr(c, "load: timeout takes a duration, e.g. 2s");
		} else if (!strcmp(dir->name, "max_lag")) {
			if (n != 2 || ds_parse_duration(t[1].text, &l->max_lag_ns) < 0 || l->max_lag_ns <= 0)
				return perr(c, "load: max_lag takes a duration, e.g. 1ms");
		} else if (!strcmp(dir->name, "threads")) {
			if (n != 2 || ds_parse_int(t[1].text, 1, 64, &x) < 0)
				return perr(c, "load: threads takes a number 1-64");
			l->threads = (unsigned)x;
		} else if (!strcmp(dir->name, "phase")) {
			if (n < 4 || n > 5)
				return perr(c, "load: phase NAME DURATION RATE[~RATE] [warmup|measure]");
			ds_scn_phase_t ph = {0};
			ph.name = dup(t[1].text);
			ph.line = t[0].line;
			ph.measured = strcmp(ph.name, "warmup") != 0;
			if (ds_parse_duration(t[2].text, &ph.dur_ns) < 0 || ph.dur_ns <= 0) {
				free(ph.name);
				return perr(c, "load: phase '%s': bad duration '%s'", t[1].text, t[2].text);
			}
			/* ds_scn_duration() and the runner add the phases up in
			 * int64 ns: keep the sum representable (292 years). */
			if (ph.dur_ns > INT64_MAX - ds_scn_duration(c->s)) {
				free(ph.name);
				return perr(c, "load: phase '%s': the phases add up to more than 292 years",
					    t[1].text);
			}
			char rb[64];
			snprintf(rb, sizeof(rb), "%s", t[3].text);
			char *tilde = strchr(rb, '~');
			if (tilde)
				*tilde = 0;
			/* x2 or x1~x10: speeds of a replay */
			ph.speed = rb[0] == 'x';
			bool speed_ok = !tilde || (tilde[1] == 'x') == ph.speed;
			if (!speed_ok || parse_rate(rb + ph.speed, &ph.r0) < 0 ||
			    (tilde && parse_rate(tilde + 1 + ph.speed, &ph.r1) < 0) ||
			    (ph.speed && (ph.r0 <= 0 || (tilde && ph.r1 <= 0)))) {
				free(ph.name);
				return perr(c, "load: phase '%s': bad rate '%s' (e.g. 50k or 5k~50k; a replay's speed: x2 or x1~x10)",
					    t[1].text, t[3].text);
			}
			if (!tilde)
				ph.r1 = ph.r0;
			if (n == 5) {
				if (!strcmp(t[4].text, "warmup"))
					ph.measured = false;
				else if (!strcmp(t[4].text, "measure"))
					ph.measured = true;
				else {
					free(ph.name);
					return perr(c, "load: phase '%s': '%s' is not warmup or measure", t[1].text,
						    t[4].text);
				}
			}
			l->phases = realloc(l->phases, (l->nphases + 1) * sizeof(*l->phases));
			l->phases[l->nphases++] = ph;
		} else {
			return perr(c, "load: unknown setting '%s'", dir->name);
		}
	}
	return DS_OK;
}

static int parse_time(pctx_t *c, const char *s, int64_t *ns)
{
	if (ds_parse_duration(s, ns) < 0 || *ns < 0)
		return perr(c, "bad time '%s' (e.g. 30s, 5m)", s);
	return DS_OK;
}

static int parse_action(pctx_t *c, const ds_token_t *t, size_t n, ds_scn_event_t *e)
{
	if (n < 2)
		return perr(c, "event: what should happen? e.g. 'upstream all stop', 'server reload'");
	const char *obj = t[0].text, *verb = t[1].text;
	if (!strcmp(obj, "upstream")) {
		if (n < 3)
			return perr(c, "event: upstream N|NAME|all ACTION");
		e->upstream = -1;
		if (strcmp(t[1].text, "all")) {
			long long x;
			if (ds_parse_int(t[1].text, 1, DS_SCN_MAX_UPSTREAMS, &x) == 0) {
				e->upstream = (int)x - 1;
			} else {
				/* by name: the first replica of that section */
				int idx = 0, found = -1;
				for (size_t i = 0; i < c->s->nups; i++) {
					if (!strcmp(c->s->ups[i].name, t[1].text))
						found = idx;
					idx += (int)c->s->ups[i].count;
				}
				if (found < 0)
					return perr(c, "event: no upstream '%s'", t[1].text);
				e->upstream = found;
			}
		}
		verb = t[2].text;
		if (!strcmp(verb, "stop"))
			e->kind = DS_EV_UP_STOP;
		else if (!strcmp(verb, "start"))
			e->kind = DS_EV_UP_START;
		else if (!strcmp(verb, "blackhole"))
			e->kind = DS_EV_UP_BLACKHOLE;
		else if (!strcmp(verb, "resume"))
			e->kind = DS_EV_UP_RESUME;
		else if (!strcmp(verb, "fast"))
			e->kind = DS_EV_UP_FAST;
		else if (!strcmp(verb, "servfail"))
			e->kind = DS_EV_UP_SERVFAIL;
		else if (!strcmp(verb, "slow")) {
			e->kind = DS_EV_UP_SLOW;
			if (n != 4 || ds_parse_duration(t[3].text, &e->dur_ns) < 0 || e->dur_ns <= 0)
				return perr(c, "event: upstream ... slow DELAY (e.g. 200ms)");
			return DS_OK;
		} else
			return perr(c, "event: unknown upstream action '%s' (stop, start, blackhole, resume, slow, fast, servfail)", verb);
		if (n != 3)
			return perr(c, "event: unexpected '%s' after upstream %s", t[3].text, verb);
		return DS_OK;
	}
	if (!strcmp(obj, "server")) {
		if (!strcmp(verb, "reload"))
			e->kind = DS_EV_SRV_RELOAD;
		else if (!strcmp(verb, "stop"))
			e->kind = DS_EV_SRV_STOP;
		else if (!strcmp(verb, "rollout"))
			e->kind = DS_EV_SRV_ROLLOUT;
		else if (!strcmp(verb, "edit")) {
			if (n != 4)
				return perr(c, "event: server edit \"OLD TEXT\" \"NEW TEXT\"");
			e->kind = DS_EV_SRV_EDIT;
			e->s1 = dup(t[2].text);
			e->s2 = dup(t[3].text);
			return DS_OK;
		} else
			return perr(c, "event: unknown server action '%s' (reload, edit, stop, rollout)", verb);
		if (n != 2)
			return perr(c, "event: unexpected '%s' after server %s", t[2].text, verb);
		return DS_OK;
	}
	if (!strcmp(obj, "k8s")) {
		if (!strcmp(verb, "churn")) {
			e->kind = DS_EV_K8S_CHURN;
			if (n < 3 || parse_rate(t[2].text, &e->value) < 0)
				return perr(c, "event: k8s churn RATE [KIND] (events per second, 0 stops)");
			e->s1 = dup(n > 3 ? t[3].text : "endpoint-flap");
			return DS_OK;
		}
		if (!strcmp(verb, "down"))
			e->kind = DS_EV_K8S_DOWN;
		else if (!strcmp(verb, "up"))
			e->kind = DS_EV_K8S_UP;
		else if (!strcmp(verb, "expire"))
			e->kind = DS_EV_K8S_EXPIRE;
		else if (!strcmp(verb, "drop"))
			e->kind = DS_EV_K8S_DROP;
		else if (!strcmp(verb, "slow")) {
			e->kind = DS_EV_K8S_SLOW;
			if (n != 3 || ds_parse_duration(t[2].text, &e->dur_ns) < 0)
				return perr(c, "event: k8s slow DELAY");
			return DS_OK;
		} else if (!strcmp(verb, "errors")) {
			e->kind = DS_EV_K8S_ERRORS;
			long long st;
			if (n != 4 || ds_parse_int(t[2].text, 400, 599, &st) < 0 ||
			    parse_share(t[3].text, &e->value) < 0)
				return perr(c, "event: k8s errors STATUS SHARE (e.g. 429 50%%)");
			e->status = (int)st;
			return DS_OK;
		} else
			return perr(c, "event: unknown k8s action '%s' (churn, down, up, slow, errors, expire, drop)", verb);
		return DS_OK;
	}
	if (!strcmp(obj, "load") && !strcmp(verb, "queries")) {
		e->kind = DS_EV_LOAD_QUERIES;
		return parse_queries(c, t + 2, n - 2, &e->queries);
	}
	return perr(c, "event: unknown target '%s' (upstream, server, k8s, load)", obj);
}

static int sec_events(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_t *s = c->s;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		const ds_token_t *t = dir->tokens;
		size_t n = dir->ntokens;
		c->tok = &t[0];
		ds_scn_event_t e;
		memset(&e, 0, sizeof(e));
		e.line = t[0].line;
		size_t a0;
		int rc;
		if (!strcmp(dir->name, "at")) {
			if (n < 3)
				return perr(c, "event: at TIME ACTION");
			if ((rc = parse_time(c, t[1].text, &e.at_ns)) < 0)
				return rc;
			a0 = 2;
		} else if (!strcmp(dir->name, "every")) {
			if (n < 7 || strcmp(t[2].text, "from") || strcmp(t[4].text, "to"))
				return perr(c, "event: every INTERVAL from T1 to T2 ACTION");
			if ((rc = parse_time(c, t[1].text, &e.every_ns)) < 0 ||
			    (rc = parse_time(c, t[3].text, &e.at_ns)) < 0 ||
			    (rc = parse_time(c, t[5].text, &e.until_ns)) < 0)
				return rc;
			if (e.every_ns <= 0 || e.until_ns <= e.at_ns)
				return perr(c, "event: every needs an interval > 0 and T2 after T1");
			a0 = 6;
		} else {
			return perr(c, "events: lines start with 'at' or 'every', not '%s'", dir->name);
		}
		size_t o = 0;
		for (size_t i = 0; i < n && o < sizeof(e.text) - 2; i++)
			o += (size_t)snprintf(e.text + o, sizeof(e.text) - o, "%s%s", i ? " " : "", t[i].text);
		rc = parse_action(c, t + a0, n - a0, &e);
		if (rc < 0) {
			free(e.s1);
			free(e.s2);
			queries_free(&e.queries);
			return rc;
		}
		s->events = realloc(s->events, (s->nevents + 1) * sizeof(*s->events));
		s->events[s->nevents++] = e;
	}
	return DS_OK;
}

static bool is_op(const char *s)
{
	return !strcmp(s, "<") || !strcmp(s, "<=") || !strcmp(s, ">") || !strcmp(s, ">=") ||
	       !strcmp(s, "==") || !strcmp(s, "!=");
}

/* METRIC... OP VALUE [phase NAME...] [window FROM TO] [warn]
 * promql "EXPR" [OP VALUE] ...: without OP the expression is an alert
 * condition, and the threshold passes when it returns no sample. */
static void threshold_free(ds_scn_threshold_t *th)
{
	free_strs(th->phases, th->nphases);
	free(th->promql);
}

static int sec_thresholds(pctx_t *c, const ds_sblock_t *b)
{
	ds_scn_t *s = c->s;
	for (size_t d = 0; d < b->ndirs; d++) {
		const ds_directive_t *dir = &b->dirs[d];
		const ds_token_t *t = dir->tokens;
		size_t n = dir->ntokens;
		c->tok = &t[0];
		ds_scn_threshold_t th;
		int rc;
		memset(&th, 0, sizeof(th));
		th.line = t[0].line;
		size_t o = 0;
		for (size_t i = 0; i < n && o < sizeof(th.text) - 2; i++)
			o += (size_t)snprintf(th.text + o, sizeof(th.text) - o, "%s%s", i ? " " : "", t[i].text);
		const char *m = t[0].text;
		size_t i;
		bool time_value = false;
		if (!strcmp(m, "promql")) {
			if (n < 2)
				return perr(c, "threshold: promql \"EXPR\" [OP VALUE]");
			th.kind = DS_TH_PROMQL;
			th.promql = dup(t[1].text);
			i = 2;
			if (i < n && is_op(t[i].text)) {
				if (i + 1 >= n || parse_share(t[i + 1].text, &th.value) < 0)
					goto bad_value;
				snprintf(th.op, sizeof(th.op), "%s", t[i].text);
				i += 2;
			}
		} else {
			size_t opi = 0;
			while (opi < n && !is_op(t[opi].text))
				opi++;
			if (opi == n || opi + 1 >= n)
				goto free_bad;
			if (!strcmp(m, "latency") || (m[0] == 'p' && opi == 1)) {
				const char *pq = !strcmp(m, "latency") ? (opi > 1 ? t[1].text : "p99") : m;
				double qv;
				if (pq[0] != 'p' || ds_parse_double(pq + 1, &qv) < 0 || qv <= 0 || qv > 100)
					return perr(c, "threshold: latency takes a percentile like p50, p99, p99.9");
				th.kind = DS_TH_LATENCY;
				th.quantile = qv / 100;
				time_value = true;
			} else if (!strcmp(m, "rcode")) {
				if (opi != 2 || ds_rcode_from_str(t[1].text) < 0)
					return perr(c, "threshold: rcode NAME OP SHARE, e.g. 'rcode REFUSED < 0.1%%'");
				th.kind = DS_TH_RCODE;
				th.rcode = ds_rcode_from_str(t[1].text);
			} else {
				static const struct {
					const char *n;
					ds_th_kind_t k;
				} simple[] = {
					{"loss", DS_TH_LOSS}, {"lost", DS_TH_LOST}, {"servfail", DS_TH_SERVFAIL},
					{"errors", DS_TH_ERRORS}, {"answered", DS_TH_ANSWERED}, {"qps", DS_TH_QPS},
					{"throughput", DS_TH_THROUGHPUT}, {"cache_hit_ratio", DS_TH_CACHE_HIT},
				};
				size_t k;
				for (k = 0; k < DS_ARRAY_SIZE(simple); k++)
					if (!strcmp(m, simple[k].n))
						break;
				if (k == DS_ARRAY_SIZE(simple) || opi != 1)
					return perr(c, "threshold: unknown metric '%s' (latency pNN, loss, lost, servfail, errors, answered, qps, throughput, rcode NAME, cache_hit_ratio, promql)", m);
				th.kind = simple[k].k;
			}
			snprintf(th.op, sizeof(th.op), "%s", t[opi].text);
			const char *v = t[opi + 1].text;
			if (time_value) {
				int64_t ns;
				if (ds_parse_duration(v, &ns) < 0)
					return perr(c, "threshold: '%s' is not a duration (e.g. 5ms)", v);
				th.value = (double)ns / 1e9;
			} else if (th.kind == DS_TH_QPS || th.kind == DS_TH_LOST) {
				if (parse_rate(v, &th.value) < 0)
					goto bad_value;
			} else if (parse_share(v, &th.value) < 0) {
				goto bad_value;
			}
			i = opi + 2;
		}
		/* scope */
		while (i < n) {
			const char *k = t[i].text;
			if (!strcmp(k, "phase")) {
				i++;
				while (i < n && strcmp(t[i].text, "window") && strcmp(t[i].text, "warn")) {
					th.phases = realloc(th.phases, (th.nphases + 1) * sizeof(char *));
					th.phases[th.nphases++] = dup(t[i].text);
					i++;
				}
			} else if (!strcmp(k, "window")) {
				if (i + 2 >= n) {
					rc = perr(c, "threshold: window FROM TO");
					goto drop;
				}
				if ((rc = parse_time(c, t[i + 1].text, &th.win0_ns)) < 0 ||
				    (rc = parse_time(c, t[i + 2].text, &th.win1_ns)) < 0)
					goto drop;
				if (th.win1_ns <= th.win0_ns) {
					rc = perr(c, "threshold: window end must be after its start");
					goto drop;
				}
				i += 3;
			} else if (!strcmp(k, "warn")) {
				th.warn = true;
				i++;
			} else {
				rc = perr(c, "threshold: unexpected '%s' (phase NAME..., window FROM TO, warn)", k);
				goto drop;
			}
		}
		s->th = realloc(s->th, (s->nth + 1) * sizeof(*s->th));
		s->th[s->nth++] = th;
		continue;
	bad_value:
		rc = perr(c, "threshold: bad value in '%s'", th.text);
	drop: /* a refused threshold: its phases and expression go */
		threshold_free(&th);
		return rc;
	free_bad:
		return perr(c, "threshold: METRIC OP VALUE, e.g. 'latency p99 < 5ms'");
	}
	return DS_OK;
}

/* ----------------------------------------------------------------- main */

ds_scn_t *ds_scn_parse(const char *path, ds_err_t *err)
{
	ds_scn_t *s = ds_xcalloc(1, sizeof(*s));
	s->path = dup(path);
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	char *rp = realpath(dirname(tmp), NULL);
	s->dir = rp ? rp : dup(".");
	snprintf(tmp, sizeof(tmp), "%s", path);
	char *base = basename(tmp);
	char *dot = strrchr(base, '.');
	if (dot)
		*dot = 0;
	s->name = dup(base);
	s->time_scale = 1;
	s->rate_scale = 1;
	s->seed = 1;
	s->load.timeout_ns = 2 * 1000000000LL;
	s->load.max_lag_ns = 1000000; /* 1 ms, as dnsurge load */
	s->load.threads = 1;
	FILE *f = fopen(path, "r");
	if (!f) {
		ds_errf(err, DS_ENOENT, "%s: cannot read scenario: %s", path, strerror(errno));
		goto fail;
	}
	size_t cap = 65536, len = 0;
	s->text = ds_xmalloc(cap);
	size_t r;
	while ((r = fread(s->text + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (len + 1 >= cap) {
			cap *= 2;
			s->text = realloc(s->text, cap);
		}
	}
	s->text[len] = 0;
	fclose(f);
	ds_corefile_t *cf = NULL;
	if (ds_corefile_parse_file(path, NULL, NULL, &cf, err) < 0)
		goto fail;
	pctx_t c = {s, err, NULL};
	int rc = DS_OK;
	bool have_server = false, have_load = false;
	for (size_t i = 0; i < cf->nblocks && rc == DS_OK; i++) {
		const ds_sblock_t *b = &cf->blocks[i];
		c.tok = &b->keys[0];
		const char *sec = b->keys[0].text;
		if (!strcmp(sec, "scenario"))
			rc = sec_scenario(&c, b);
		else if (!strcmp(sec, "server")) {
			rc = sec_server(&c, b);
			have_server = true;
		} else if (!strcmp(sec, "upstream"))
			rc = sec_upstream(&c, b);
		else if (!strcmp(sec, "k8s"))
			rc = sec_k8s(&c, b);
		else if (!strcmp(sec, "load")) {
			rc = sec_load(&c, b);
			have_load = true;
		} else if (!strcmp(sec, "events"))
			rc = sec_events(&c, b);
		else if (!strcmp(sec, "thresholds"))
			rc = sec_thresholds(&c, b);
		else
			rc = perr(&c, "unknown section '%s' (scenario, server, upstream, k8s, load, events, thresholds)", sec);
	}
	if (rc == DS_OK && !have_server) {
		c.tok = NULL;
		rc = perr(&c, "no server section: what is under test?");
	}
	if (rc == DS_OK && (!have_load || s->load.nphases == 0)) {
		c.tok = NULL;
		rc = perr(&c, "no load phases: add a load section with at least one 'phase NAME DURATION RATE'");
	}
	if (rc == DS_OK)
		rc = check_replay(&c);
	if (rc == DS_OK && !s->load.queries.kind && !s->load.nreplay)
		parse_queries(&c, &(ds_token_t){.text = "names"}, 1, &s->load.queries);
	/* Every threshold's phases must exist, every event must fall inside the run. */
	for (size_t i = 0; rc == DS_OK && i < s->nth; i++) {
		for (size_t k = 0; k < s->th[i].nphases; k++) {
			bool found = false;
			for (size_t p = 0; p < s->load.nphases; p++)
				found |= !strcmp(s->load.phases[p].name, s->th[i].phases[k]);
			if (!found) {
				ds_errf(err, DS_ECONFIG, "%s:%d - threshold: no phase named '%s'", s->path,
					s->th[i].line, s->th[i].phases[k]);
				rc = DS_ECONFIG;
			}
		}
	}
	for (size_t i = 0; rc == DS_OK && i < s->nevents; i++) {
		ds_scn_event_t *e = &s->events[i];
		if (e->kind >= DS_EV_UP_STOP && e->kind <= DS_EV_UP_SERVFAIL &&
		    (ds_scn_upstream_count(s) == 0 ||
		     (e->upstream >= 0 && (unsigned)e->upstream >= ds_scn_upstream_count(s)))) {
			ds_errf(err, DS_ECONFIG, "%s:%d - event: there is no such upstream", s->path, e->line);
			rc = DS_ECONFIG;
		}
		if (e->kind >= DS_EV_K8S_CHURN && e->kind <= DS_EV_K8S_ERRORS && !s->k8s.enabled) {
			ds_errf(err, DS_ECONFIG, "%s:%d - event: k8s action without a k8s section", s->path, e->line);
			rc = DS_ECONFIG;
		}
		if (e->at_ns > ds_scn_duration(s)) {
			ds_errf(err, DS_ECONFIG, "%s:%d - event: at %.1fs is after the load ends (%.1fs)",
				s->path, e->line, (double)e->at_ns / 1e9, (double)ds_scn_duration(s) / 1e9);
			rc = DS_ECONFIG;
		}
	}
	ds_corefile_free(cf);
	if (rc < 0)
		goto fail;
	return s;
fail:
	ds_scn_free(s);
	return NULL;
}

int64_t ds_scn_duration(const ds_scn_t *s)
{
	int64_t t = 0;
	for (size_t i = 0; i < s->load.nphases; i++)
		t += s->load.phases[i].dur_ns;
	return t;
}

unsigned ds_scn_upstream_count(const ds_scn_t *s)
{
	unsigned n = 0;
	for (size_t i = 0; i < s->nups; i++)
		n += s->ups[i].count;
	return n;
}

void ds_scn_free(ds_scn_t *s)
{
	if (!s)
		return;
	free(s->path);
	free(s->dir);
	free(s->name);
	free(s->description);
	free(s->text);
	free(s->server.cf.path);
	free(s->server.cf.inline_text);
	for (size_t i = 0; i < s->server.nenv; i++) {
		free(s->server.env[i].name);
		free(s->server.env[i].value);
	}
	free(s->server.env);
	for (size_t i = 0; i < s->nups; i++) {
		free(s->ups[i].name);
		free(s->ups[i].directives);
	}
	for (size_t i = 0; i < s->k8s.nargs; i++)
		free(s->k8s.args[i]);
	free(s->k8s.args);
	queries_free(&s->load.queries);
	for (size_t i = 0; i < s->load.nphases; i++)
		free(s->load.phases[i].name);
	free(s->load.phases);
	free_strs(s->load.replay, s->load.nreplay);
	free_strs(s->load.filters, s->load.nfilters);
	free_strs(s->load.rewrites, s->load.nrewrites);
	for (size_t i = 0; i < s->nevents; i++) {
		free(s->events[i].s1);
		free(s->events[i].s2);
		queries_free(&s->events[i].queries);
	}
	free(s->events);
	for (size_t i = 0; i < s->nth; i++)
		threshold_free(&s->th[i]);
	free(s->th);
	free(s);
}
