/* SPDX-License-Identifier: MIT */
#include "reports/lint.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reports/cli.h"
#include "reports/promql.h"
#include "reports/report.h"

/* ============================================================= catalog */

struct cmetric {
	char *name;
	char *type; /* counter, gauge, histogram (its _bucket/_sum/_count), summary, untyped */
	char **labels;
	size_t nl;
	bool bucket; /* a histogram's _bucket series */
	bool deprecated;
};

struct ds_lint_catalog {
	struct cmetric *m;
	size_t n;
	bool builtin;
};

/* CoreDNS 1.14 (docs/coredns METRICS.md), which dnsurged follows, plus the
 * process collector and Prometheus' own `up`. */
static const struct {
	const char *name, *type, *labels;
	bool deprecated;
} builtin[] = {
    {"coredns_build_info", "gauge", "version,revision,goversion", false},
    {"coredns_panics_total", "counter", "", false},
    {"coredns_plugin_enabled", "gauge", "server,zone,view,name", false},
    {"coredns_dns_requests_total", "counter", "server,zone,view,proto,family,type", false},
    {"coredns_dns_request_duration_seconds", "histogram", "server,zone,view", false},
    {"coredns_dns_request_size_bytes", "histogram", "server,zone,view,proto", false},
    {"coredns_dns_response_size_bytes", "histogram", "server,zone,view,proto", false},
    {"coredns_dns_do_requests_total", "counter", "server,zone,view", false},
    {"coredns_dns_responses_total", "counter", "server,zone,view,rcode,plugin", false},
    {"coredns_dns_https_responses_total", "counter", "server,status", false},
    {"coredns_dns_https3_responses_total", "counter", "server,status", false},
    {"coredns_dns_quic_responses_total", "counter", "server,status", false},
    {"coredns_cache_entries", "gauge", "server,type,zones,view", false},
    {"coredns_cache_requests_total", "counter", "server,zones,view", false},
    {"coredns_cache_hits_total", "counter", "server,type,zones,view", false},
    {"coredns_cache_misses_total", "counter", "server,zones,view", true},
    {"coredns_cache_prefetch_total", "counter", "server,zones,view", false},
    {"coredns_cache_drops_total", "counter", "server,zones,view", false},
    {"coredns_cache_served_stale_total", "counter", "server,zones,view", false},
    {"coredns_cache_evictions_total", "counter", "server,type,zones,view", false},
    {"coredns_forward_healthcheck_broken_total", "counter", "", false},
    {"coredns_forward_max_concurrent_rejects_total", "counter", "", false},
    {"coredns_proxy_request_duration_seconds", "histogram", "proxy_name,to,rcode", false},
    {"coredns_proxy_healthcheck_failures_total", "counter", "proxy_name,to", false},
    {"coredns_proxy_conn_cache_hits_total", "counter", "proxy_name,to,proto", false},
    {"coredns_proxy_conn_cache_misses_total", "counter", "proxy_name,to,proto", false},
    {"coredns_kubernetes_dns_programming_duration_seconds", "histogram", "service_kind", false},
    {"coredns_kubernetes_rest_client_request_duration_seconds", "histogram", "verb,host", false},
    {"coredns_kubernetes_rest_client_rate_limiter_duration_seconds", "histogram", "verb,host",
     false},
    {"coredns_kubernetes_rest_client_requests_total", "counter", "code,method,host", false},
    {"coredns_health_request_duration_seconds", "histogram", "", false},
    {"coredns_health_request_failures_total", "counter", "", false},
    {"coredns_reload_failed_total", "counter", "", false},
    {"coredns_reload_version_info", "gauge", "hash,value", false},
    {"process_cpu_seconds_total", "counter", "", false},
    {"process_resident_memory_bytes", "gauge", "", false},
    {"process_virtual_memory_bytes", "gauge", "", false},
    {"process_open_fds", "gauge", "", false},
    {"process_max_fds", "gauge", "", false},
    {"process_start_time_seconds", "gauge", "", false},
    {"up", "gauge", "", false},
};

/* Names CoreDNS dropped, with what replaced them and the labels they had. */
static const struct renamed {
	const char *old, *now, *version, *old_labels;
} renames[] = {
    {"coredns_dns_request_count_total", "coredns_dns_requests_total", "1.7.0",
     "server,zone,proto,family"},
    {"coredns_dns_request_type_count_total", "coredns_dns_requests_total", "1.7.0",
     "server,zone,type"},
    {"coredns_dns_response_rcode_count_total", "coredns_dns_responses_total", "1.7.0",
     "server,zone,rcode"},
    {"coredns_dns_request_do_count_total", "coredns_dns_do_requests_total", "1.7.0", "server,zone"},
    {"coredns_panic_count_total", "coredns_panics_total", "1.7.0", ""},
    {"coredns_cache_size", "coredns_cache_entries", "1.7.0", "server,type"},
    {"coredns_reload_failed_count_total", "coredns_reload_failed_total", "1.7.0", ""},
    {"coredns_forward_healthcheck_broken_count_total", "coredns_forward_healthcheck_broken_total",
     "1.7.0", ""},
    {"coredns_forward_max_concurrent_reject_count_total",
     "coredns_forward_max_concurrent_rejects_total", "1.7.0", ""},
    {"coredns_forward_request_count_total", "coredns_proxy_request_duration_seconds_count",
     "1.7.0 and 1.11.0", "to"},
    {"coredns_forward_requests_total", "coredns_proxy_request_duration_seconds_count", "1.11.0",
     "to"},
    {"coredns_forward_response_rcode_count_total", "coredns_proxy_request_duration_seconds_count",
     "1.7.0 and 1.11.0", "to,rcode"},
    {"coredns_forward_responses_total", "coredns_proxy_request_duration_seconds_count", "1.11.0",
     "to,rcode"},
    {"coredns_forward_request_duration_seconds_bucket",
     "coredns_proxy_request_duration_seconds_bucket", "1.11.0", "to,rcode,le"},
    {"coredns_forward_request_duration_seconds_sum", "coredns_proxy_request_duration_seconds_sum",
     "1.11.0", "to,rcode"},
    {"coredns_forward_request_duration_seconds_count",
     "coredns_proxy_request_duration_seconds_count", "1.11.0", "to,rcode"},
    {"coredns_forward_healthcheck_failure_count_total", "coredns_proxy_healthcheck_failures_total",
     "1.7.0 and 1.11.0", "to"},
    {"coredns_forward_healthcheck_failures_total", "coredns_proxy_healthcheck_failures_total",
     "1.11.0", "to"},
    {"coredns_forward_conn_cache_hits_total", "coredns_proxy_conn_cache_hits_total", "1.11.0",
     "to,proto"},
    {"coredns_forward_conn_cache_misses_total", "coredns_proxy_conn_cache_misses_total", "1.11.0",
     "to,proto"},
};

/* Labels Prometheus' scrape puts on every series. */
static bool target_label(const char *l)
{
	return !strcmp(l, "instance") || !strcmp(l, "job");
}

void ds_lint_catalog_free(ds_lint_catalog_t *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->m[i].name);
		free(c->m[i].type);
		for (size_t k = 0; k < c->m[i].nl; k++)
			free(c->m[i].labels[k]);
		free(c->m[i].labels);
	}
	free(c->m);
	free(c);
}

size_t ds_lint_catalog_size(const ds_lint_catalog_t *c)
{
	return c->n;
}

static struct cmetric *cat_find(const ds_lint_catalog_t *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->m[i].name, name))
			return &c->m[i];
	return NULL;
}

static bool has_label(const struct cmetric *m, const char *l)
{
	for (size_t i = 0; i < m->nl; i++)
		if (!strcmp(m->labels[i], l))
			return true;
	return false;
}

static struct cmetric *cat_add(ds_lint_catalog_t *c, const char *name, const char *type)
{
	struct cmetric *m = cat_find(c, name);
	if (m)
		return m;
	struct cmetric *nm = realloc(c->m, (c->n + 1) * sizeof(*nm));
	if (!nm)
		return NULL;
	c->m = nm;
	m = &c->m[c->n];
	memset(m, 0, sizeof(*m));
	m->name = strdup(name);
	m->type = strdup(type);
	if (!m->name || !m->type) {
		free(m->name);
		free(m->type);
		return NULL;
	}
	c->n++;
	return m;
}

static int add_label(struct cmetric *m, const char *l, size_t len)
{
	for (size_t i = 0; i < m->nl; i++)
		if (strlen(m->labels[i]) == len && !strncmp(m->labels[i], l, len))
			return DS_OK;
	char **nl = realloc(m->labels, (m->nl + 1) * sizeof(*nl));
	if (!nl)
		return DS_ENOMEM;
	m->labels = nl;
	if (!(nl[m->nl] = strndup(l, len)))
		return DS_ENOMEM;
	m->nl++;
	return DS_OK;
}

static int add_labels_csv(struct cmetric *m, const char *csv)
{
	while (*csv) {
		size_t l = strcspn(csv, ",");
		if (l && add_label(m, csv, l) < 0)
			return DS_ENOMEM;
		csv += l;
		if (*csv)
			csv++;
	}
	return DS_OK;
}

ds_lint_catalog_t *ds_lint_catalog_builtin(void)
{
	ds_lint_catalog_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->builtin = true;
	for (size_t i = 0; i < DS_ARRAY_SIZE(builtin); i++) {
		char n[160];
		if (strcmp(builtin[i].type, "histogram")) {
			struct cmetric *m = cat_add(c, builtin[i].name, builtin[i].type);
			if (!m || add_labels_csv(m, builtin[i].labels) < 0)
				goto fail;
			m->deprecated = builtin[i].deprecated;
			continue;
		}
		static const char *suf[] = {"_bucket", "_sum", "_count"};
		for (int k = 0; k < 3; k++) {
			snprintf(n, sizeof(n), "%s%s", builtin[i].name, suf[k]);
			struct cmetric *m = cat_add(c, n, "histogram");
			if (!m || add_labels_csv(m, builtin[i].labels) < 0 ||
			    (k == 0 && add_label(m, "le", 2) < 0))
				goto fail;
			m->bucket = k == 0;
		}
	}
	return c;
fail:
	ds_lint_catalog_free(c);
	return NULL;
}

ds_lint_catalog_t *ds_lint_catalog_parse(const char *text, ds_err_t *err)
{
	ds_lint_catalog_t *c = calloc(1, sizeof(*c));
	struct {
		char name[160], type[16];
	} *types = NULL;
	size_t ntypes = 0;
	if (!c)
		goto oom;
	/* First the TYPE lines, so samples before their TYPE still get it. */
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char nm[160], ty[16];
		if (len > 7 && !strncmp(p, "# TYPE ", 7) &&
		    sscanf(p + 7, "%159s %15s", nm, ty) == 2) {
			void *nt = realloc(types, (ntypes + 1) * sizeof(*types));
			if (!nt)
				goto oom;
			types = nt;
			snprintf(types[ntypes].name, sizeof(types[ntypes].name), "%s", nm);
			snprintf(types[ntypes].type, sizeof(types[ntypes].type), "%s", ty);
			ntypes++;
		}
		p += len + (eol ? 1 : 0);
	}
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p, *end = p + len;
		p += len + (eol ? 1 : 0);
		while (q < end && isspace((unsigned char)*q))
			q++;
		if (q >= end || *q == '#')
			continue;
		const char *n0 = q;
		while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == ':'))
			q++;
		char name[160];
		snprintf(name, sizeof(name), "%.*s", (int)(q - n0), n0);
		if (!name[0])
			continue;
		const char *type = "untyped";
		bool bucket = false;
		for (size_t i = 0; i < ntypes; i++) {
			size_t bl = strlen(types[i].name);
			if (!strcmp(types[i].name, name)) {
				type = types[i].type;
				break;
			}
			if (!strncmp(name, types[i].name, bl) &&
			    (!strcmp(name + bl, "_bucket") || !strcmp(name + bl, "_sum") ||
			     !strcmp(name + bl, "_count")) &&
			    (!strcmp(types[i].type, "histogram") ||
			     !strcmp(types[i].type, "summary"))) {
				type = types[i].type;
				bucket =
				    !strcmp(name + bl, "_bucket") && !strcmp(type, "histogram");
				break;
			}
		}
		struct cmetric *m = cat_add(c, name, type);
		if (!m)
			goto oom;
		m->bucket |= bucket;
		if (q < end && *q == '{') {
			q++;
			while (q < end && *q != '}') {
				while (q < end && (isspace((unsigned char)*q) || *q == ','))
					q++;
				const char *l0 = q;
				while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
					q++;
				if (q > l0 && add_label(m, l0, (size_t)(q - l0)) < 0)
					goto oom;
				while (q < end && *q != '"' && *q != '}')
					q++;
				if (q < end && *q == '"') {
					for (q++; q < end && *q != '"'; q++)
						if (*q == '\\')
							q++;
					q++;
				}
			}
		}
	}
	free(types);
	if (!c->n) {
		ds_lint_catalog_free(c);
		ds_errf(err, DS_EINVAL, "no metric samples in the text");
		return NULL;
	}
	return c;
oom:
	free(types);
	ds_lint_catalog_free(c);
	ds_errf(err, DS_ENOMEM, "out of memory");
	return NULL;
}

struct membuf {
	char *b;
	size_t n;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *u)
{
	struct membuf *m = u;
	size_t add = sz * nm;
	if (m->n + add > 64 * 1024 * 1024)
		return 0; /* a /metrics page is never that big */
	char *nb = realloc(m->b, m->n + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + m->n, p, add);
	m->b = nb;
	m->n += add;
	m->b[m->n] = 0;
	return add;
}

ds_lint_catalog_t *ds_lint_catalog_load(const char *src, ds_err_t *err)
{
	struct membuf m = {0};
	ds_lint_catalog_t *c = NULL;
	if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8)) {
		CURL *h = curl_easy_init();
		if (!h) {
			ds_errf(err, DS_ENOMEM, "cannot start libcurl");
			return NULL;
		}
		long code = 0;
		curl_easy_setopt(h, CURLOPT_URL, src);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(h);
		if (rc != CURLE_OK || code != 200) {
			ds_errf(err, DS_EIO, "%s: %s", src,
			        rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP status is not 200");
			free(m.b);
			return NULL;
		}
	} else {
		FILE *f = fopen(src, "rb");
		if (!f) {
			ds_errf(err, -errno, "%s: %s", src, strerror(errno));
			return NULL;
		}
		char buf[8192];
		size_t r;
		while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
			if (!on_data(buf, 1, r, &m))
				break;
		fclose(f);
	}
	if (!m.b) {
		ds_errf(err, DS_EINVAL, "%s: empty", src);
		return NULL;
	}
	c = ds_lint_catalog_parse(m.b, err);
	if (!c)
		ds_errf(err, DS_EINVAL, "%s: not Prometheus text exposition (%s)", src, err->msg);
	free(m.b);
	return c;
}

/* ============================================================ analysis */

#define MAXL 48

/* The label names an expression's result can carry, when we can tell. */
typedef struct {
	bool known, scalar;
	size_t n;
	const char *l[MAXL];
} sl_t;

static bool sl_has(const sl_t *s, const char *l)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->l[i], l))
			return true;
	return false;
}

static void sl_add(sl_t *s, const char *l)
{
	if (!sl_has(s, l) && s->n < MAXL)
		s->l[s->n++] = l;
}

static void sl_del(sl_t *s, const char *l)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->l[i], l)) {
			s->l[i] = s->l[--s->n];
			return;
		}
}

typedef struct {
	const ds_lint_catalog_t *c;
	ds_lint_rule_t *out;
	const ds_rule_t *rule;
	bool oom;
} lctx_t;

static void finding(lctx_t *x, const char *code, ds_lint_severity_t sev, const char *fmt, ...)
    DS_PRINTF(4, 5);
static void finding(lctx_t *x, const char *code, ds_lint_severity_t sev, const char *fmt, ...)
{
	ds_lint_rule_t *o = x->out;
	ds_lint_finding_t *nf = realloc(o->f, (o->n + 1) * sizeof(*nf));
	if (!nf) {
		x->oom = true;
		return;
	}
	o->f = nf;
	ds_lint_finding_t *f = &o->f[o->n];
	memset(f, 0, sizeof(*f));
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&f->message, fmt, ap) < 0) {
		va_end(ap);
		x->oom = true;
		return;
	}
	va_end(ap);
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->f[i].code, code) && !strcmp(o->f[i].message, f->message)) {
			free(f->message); /* the same problem twice in one rule: say it once */
			return;
		}
	f->code = code;
	f->severity = sev;
	f->line = o->line;
	f->rule = strdup(o->rule ? o->rule : "");
	if (!f->rule) {
		free(f->message);
		x->oom = true;
		return;
	}
	o->n++;
}

static size_t lev(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = malloc((lb + 1) * sizeof(*row));
	if (!row)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			size_t v = DS_MIN(DS_MIN(row[j] + 1, row[j - 1] + 1), sub);
			prev = cur;
			row[j] = v;
		}
	}
	size_t r = row[lb];
	free(row);
	return r;
}

static const char *closest(const ds_lint_catalog_t *c, const char *name)
{
	size_t best = SIZE_MAX;
	const char *b = NULL;
	for (size_t i = 0; i < c->n; i++) {
		size_t d = lev(name, c->m[i].name);
		if (d < best)
			best = d, b = c->m[i].name;
	}
	return best <= 6 ? b : NULL;
}

static void labels_text(const struct cmetric *m, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < m->nl && o < len; i++) {
		int r = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", m->labels[i]);
		if (r < 0)
			break;
		o += (size_t)r;
	}
	if (!m->nl)
		snprintf(buf, len, "none");
}

/* A metric of the same family that has every label the matchers want. */
static const char *metric_with_labels(const ds_lint_catalog_t *c, const char *like,
                                      const ds_pq_node_t *sel)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	for (size_t i = 0; i < c->n; i++) {
		const struct cmetric *m = &c->m[i];
		bool all = true;
		for (size_t k = 0; k < sel->nm && all; k++)
			if (strcmp(sel->m[k].name, "__name__") && !target_label(sel->m[k].name))
				all = has_label(m, sel->m[k].name);
		if (!all || strcmp(m->type, "counter"))
			continue;
		size_t d = lev(like, m->name);
		if (d < bestd)
			bestd = d, best = m->name;
	}
	return best;
}

/* Whether a matcher accepts the empty value, i.e. a series without the label. */
static bool matches_empty(const ds_pq_matcher_t *m)
{
	switch (m->op) {
	case DS_PQ_EQ:
		return !m->value[0];
	case DS_PQ_NE:
		return m->value[0] != 0;
	default:
		break;
	}
	size_t l = strlen(m->value) + 5;
	char *pat = malloc(l);
	regex_t re;
	bool hit = false;
	if (!pat)
		return false;
	snprintf(pat, l, "^(%s)$", m->value);
	if (!regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) {
		hit = regexec(&re, "", 0, NULL, 0) == 0;
		regfree(&re);
	}
	free(pat);
	return hit == (m->op == DS_PQ_RE);
}

static ds_pq_node_t *wrap_agg(ds_pq_node_t *in, const char *op, bool without, const char **l,
                              size_t nl)
{
	ds_pq_node_t *a = ds_pq_node_new(DS_PQ_AGG, op);
	if (!a)
		return NULL;
	if (nl) {
		a->grouped = true;
		a->without = without;
		a->labels = calloc(nl, sizeof(char *));
		for (size_t i = 0; a->labels && i < nl; i++)
			if ((a->labels[i] = strdup(l[i])))
				a->nlabels++;
	}
	if (ds_pq_node_add(a, in) < 0) {
		ds_pq_node_free(a);
		return NULL;
	}
	return a;
}

static ds_pq_node_t *wrap_call(ds_pq_node_t *in, const char *fn)
{
	ds_pq_node_t *c = ds_pq_node_new(DS_PQ_CALL, fn);
	if (!c || ds_pq_node_add(c, in) < 0) {
		ds_pq_node_free(c);
		return NULL;
	}
	return c;
}

static ds_pq_node_t *strip(ds_pq_node_t *n)
{
	while (n->kind == DS_PQ_PAREN)
		n = n->arg[0];
	return n;
}

static bool is_cmp(const char *op)
{
	return !strcmp(op, "==") || !strcmp(op, "!=") || !strcmp(op, ">") || !strcmp(op, "<") ||
	       !strcmp(op, ">=") || !strcmp(op, "<=");
}

/* Find the instant _bucket selector under n that no range function wraps. */
static ds_pq_node_t **raw_bucket(const lctx_t *x, ds_pq_node_t **np)
{
	ds_pq_node_t *n = *np;
	if (n->kind == DS_PQ_SEL && !n->range_ns && n->str) {
		const struct cmetric *m = cat_find(x->c, n->str);
		if ((m && m->bucket) || (!m && strstr(n->str, "_bucket")))
			return np;
		return NULL;
	}
	if (n->kind == DS_PQ_CALL)
		return NULL; /* rate() etc.: a range, or something else entirely */
	for (size_t i = 0; i < n->narg; i++) {
		ds_pq_node_t **r = raw_bucket(x, &n->arg[i]);
		if (r)
			return r;
	}
	return NULL;
}

static sl_t check(lctx_t *x, ds_pq_node_t *n, ds_pq_node_t **fixp);

static sl_t check_sel(lctx_t *x, ds_pq_node_t *n, ds_pq_node_t **fixp)
{
	sl_t s = {0};
	char lt[256];
	if (!n->str)
		return s;
	const struct cmetric *m = cat_find(x->c, n->str);
	if (!m) {
		const struct renamed *rn = NULL;
		for (size_t i = 0; i < DS_ARRAY_SIZE(renames); i++)
			if (!strcmp(renames[i].old, n->str))
				rn = &renames[i];
		if (rn) {
			const struct cmetric *now = cat_find(x->c, rn->now);
			const char *target = rn->now;
			finding(x, "renamed-metric", DS_LINT_ERROR,
			        "%s does not exist: CoreDNS %s replaced it with %s, and dnsurged "
			        "exports only the current names, so the selector matches nothing",
			        n->str, rn->version, rn->now);
			/* matchers on labels the old metric never had */
			for (size_t k = 0; k < n->nm; k++) {
				const char *l = n->m[k].name;
				if (target_label(l) || !strcmp(l, "__name__"))
					continue;
				bool had = false;
				for (const char *p = rn->old_labels; *p;) {
					size_t len = strcspn(p, ",");
					if (len == strlen(l) && !strncmp(p, l, len))
						had = true;
					p += len + (p[len] ? 1 : 0);
				}
				if (had || (now && has_label(now, l)))
					continue;
				const char *alt = metric_with_labels(x->c, rn->now, n);
				char was[128];
				snprintf(was, sizeof(was), "%s",
				         rn->old_labels[0] ? rn->old_labels : "none");
				finding(x, "missing-label", DS_LINT_ERROR,
				        "%s never had the label '%s' (its labels were %s)%s%s%s",
				        n->str, l, was, alt ? "; series with the label '" : "",
				        alt ? l : "", alt ? "' are " : "");
				if (alt) {
					/* append the metric name to the last message */
					ds_lint_finding_t *f = &x->out->f[x->out->n - 1];
					char *nm = NULL;
					if (asprintf(&nm, "%s%s", f->message, alt) >= 0) {
						free(f->message);
						f->message = nm;
					}
					target = alt;
				}
			}
			if (fixp && *fixp) {
				free((*fixp)->str);
				(*fixp)->str = strdup(target);
			}
			m = cat_find(x->c, target);
		} else {
			const char *near = closest(x->c, n->str);
			bool ours = !strncmp(n->str, "coredns_", 8) || !x->c->builtin;
			finding(x, "unknown-metric", ours ? DS_LINT_ERROR : DS_LINT_WARNING,
			        "%s is not %s%s%s%s", n->str,
			        x->c->builtin ? "a metric CoreDNS or dnsurged exports"
			                      : "in the given /metrics",
			        near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
			return s;
		}
		if (!m)
			return s;
	}
	if (m->deprecated)
		finding(x, "deprecated-metric", DS_LINT_WARNING,
		        "%s is deprecated; derive it from the other counters (e.g. cache misses = "
		        "requests - hits)",
		        m->name);
	for (size_t k = 0; k < n->nm; k++) {
		const ds_pq_matcher_t *mt = &n->m[k];
		if (!strcmp(mt->name, "__name__") || target_label(mt->name) ||
		    has_label(m, mt->name))
			continue;
		labels_text(m, lt, sizeof(lt));
		if (matches_empty(mt))
			finding(x, "no-op-filter", DS_LINT_WARNING,
			        "%s has no '%s' label (labels: %s): the matcher %s%s\"%s\" selects "
			        "everything",
			        m->name, mt->name, lt, mt->name,
			        mt->op == DS_PQ_NE    ? "!="
			        : mt->op == DS_PQ_NRE ? "!~"
			                              : "=~",
			        mt->value);
		else if (!strcmp(n->str, m->name)) /* renamed ones were reported above */
			finding(x, "missing-label", DS_LINT_ERROR,
			        "%s has no '%s' label (labels: %s): the selector matches nothing",
			        m->name, mt->name, lt);
	}
	/* In Kubernetes most answers are NXDOMAIN (search-path expansion). */
	for (size_t k = 0; k < n->nm; k++) {
		const ds_pq_matcher_t *mt = &n->m[k];
		if (strcmp(mt->name, "rcode") || mt->op != DS_PQ_NE || strcmp(mt->value, "NOERROR"))
			continue;
		finding(
		    x, "nxdomain-error", DS_LINT_WARNING,
		    "rcode!=\"NOERROR\" counts NXDOMAIN answers as errors; with Kubernetes "
		    "search paths (ndots:5) most answers are NXDOMAIN, so this is mostly normal "
		    "traffic");
		if (fixp && *fixp)
			for (size_t j = 0; j < (*fixp)->nm; j++) {
				ds_pq_matcher_t *fm = &(*fixp)->m[j];
				if (!strcmp(fm->name, "rcode") && fm->op == DS_PQ_NE) {
					free(fm->value);
					fm->value = strdup("NOERROR|NXDOMAIN");
					fm->op = DS_PQ_NRE;
					/* the printer needs only the text; the fix is re-parsed */
				}
			}
	}
	s.known = true;
	for (size_t i = 0; i < m->nl; i++)
		sl_add(&s, m->labels[i]);
	return s;
}

static sl_t check(lctx_t *x, ds_pq_node_t *n, ds_pq_node_t **fixp)
{
	sl_t s = {0};
	switch (n->kind) {
	case DS_PQ_NUM:
		s.known = s.scalar = true;
		return s;
	case DS_PQ_STR:
		return s;
	case DS_PQ_SEL:
		return check_sel(x, n, fixp);
	case DS_PQ_PAREN:
	case DS_PQ_NEG:
		return check(x, n->arg[0], fixp ? &(*fixp)->arg[0] : NULL);
	case DS_PQ_CALL: {
		sl_t a[3] = {{0}};
		for (size_t i = 0; i < n->narg && i < 3; i++)
			a[i] = check(x, n->arg[i], fixp ? &(*fixp)->arg[i] : NULL);
		const char *f = n->str;
		if (!strcmp(f, "rate") || !strcmp(f, "increase") || !strcmp(f, "irate")) {
			const ds_pq_node_t *sel = strip(n->arg[0]);
			const struct cmetric *m =
			    sel->kind == DS_PQ_SEL && sel->str ? cat_find(x->c, sel->str) : NULL;
			if (m && !strcmp(m->type, "gauge"))
				finding(
				    x, "rate-of-gauge", DS_LINT_WARNING,
				    "%s() of %s, a gauge: rates are for counters (use delta() or "
				    "deriv())",
				    f, m->name);
		}
		if (!strcmp(f, "histogram_quantile")) {
			ds_pq_node_t **raw = raw_bucket(x, &n->arg[1]);
			if (raw) {
				char rng[16] = "5m";
				if (x->rule && x->rule->for_ns >= 60LL * 1000000000LL)
					ds_promql_fmt_duration(x->rule->for_ns, rng, sizeof(rng));
				finding(
				    x, "raw-buckets", DS_LINT_ERROR,
				    "histogram_quantile() over the raw cumulative %s counters (no "
				    "rate() or increase()): that is the quantile of every query "
				    "since "
				    "the server started, not of the last %s; one slow spell keeps "
				    "it "
				    "high for hours and a new regression barely moves it",
				    (*raw)->str, rng);
				if (fixp && *fixp) {
					ds_pq_node_t **fraw = raw_bucket(x, &(*fixp)->arg[1]);
					if (fraw) {
						int64_t r = x->rule && x->rule->for_ns >=
						                           60LL * 1000000000LL
						                ? x->rule->for_ns
						                : 300LL * 1000000000LL;
						ds_pq_node_t *sel = *fraw;
						sel->range_ns = r;
						ds_pq_node_t *w = wrap_call(sel, "rate");
						const char *le[] = {"le"};
						/* a bare selector also needs the sum over its other
						 * labels */
						if (w && fraw == &(*fixp)->arg[1])
							w = wrap_agg(w, "sum", false, le, 1);
						if (w)
							*fraw = w;
						else
							x->oom = true;
					}
				}
			} else if (a[1].known && !sl_has(&a[1], "le")) {
				finding(x, "not-buckets", DS_LINT_ERROR,
				        "histogram_quantile() needs histogram buckets with their "
				        "'le' label; "
				        "this argument has none (an aggregation dropped it, or it "
				        "is not a "
				        "_bucket series): the result is always empty");
			}
			s = a[1];
			sl_del(&s, "le");
			return s;
		}
		if (!strcmp(f, "scalar") || !strcmp(f, "time")) {
			s.known = s.scalar = true;
			return s;
		}
		if (!strcmp(f, "vector")) {
			s.known = true;
			return s;
		}
		if (!strcmp(f, "absent"))
			return s;
		return a[0];
	}
	case DS_PQ_AGG: {
		sl_t a = check(x, n->arg[0], fixp ? &(*fixp)->arg[0] : NULL);
		if (!a.known)
			return s;
		s.known = true;
		if (n->without) {
			s = a;
			for (size_t i = 0; i < n->nlabels; i++)
				sl_del(&s, n->labels[i]);
		} else {
			for (size_t i = 0; i < n->nlabels; i++)
				if (sl_has(&a, n->labels[i]))
					sl_add(&s, n->labels[i]);
		}
		return s;
	}
	case DS_PQ_BIN: {
		sl_t l = check(x, n->arg[0], fixp ? &(*fixp)->arg[0] : NULL);
		sl_t r = check(x, n->arg[1], fixp ? &(*fixp)->arg[1] : NULL);
		const char *op = n->str;
		bool set = !strcmp(op, "and") || !strcmp(op, "or") || !strcmp(op, "unless");
		if (l.scalar)
			return r;
		if (r.scalar)
			return l;
		if (!l.known || !r.known)
			return s;
		/* What one-to-one matching compares: the label sets without the ignored
		 * (or with only the on()) labels. */
		sl_t lm = {.known = true}, rm = {.known = true};
		for (size_t i = 0; i < l.n; i++) {
			bool listed = false;
			for (size_t k = 0; k < n->nlabels; k++)
				listed |= !strcmp(n->labels[k], l.l[i]);
			if (n->on ? listed : !listed)
				sl_add(&lm, l.l[i]);
		}
		for (size_t i = 0; i < r.n; i++) {
			bool listed = false;
			for (size_t k = 0; k < n->nlabels; k++)
				listed |= !strcmp(n->labels[k], r.l[i]);
			if (n->on ? listed : !listed)
				sl_add(&rm, r.l[i]);
		}
		const char *lx[MAXL], *rx[MAXL];
		size_t nlx = 0, nrx = 0;
		for (size_t i = 0; i < lm.n; i++)
			if (!sl_has(&rm, lm.l[i]))
				lx[nlx++] = lm.l[i];
		for (size_t i = 0; i < rm.n; i++)
			if (!sl_has(&lm, rm.l[i]))
				rx[nrx++] = rm.l[i];
		if ((nlx || nrx) && !(set && !strcmp(op, "or"))) {
			char a[256] = "", b[256] = "";
			for (size_t i = 0; i < nlx; i++)
				snprintf(a + strlen(a), sizeof(a) - strlen(a), "%s%s",
				         i ? ", " : "", lx[i]);
			for (size_t i = 0; i < nrx; i++)
				snprintf(b + strlen(b), sizeof(b) - strlen(b), "%s%s",
				         i ? ", " : "", rx[i]);
			char why[700];
			if (nlx && nrx)
				snprintf(why, sizeof(why),
				         "the left side has %s that the right side lacks, "
				         "and the right side has %s that the left side lacks",
				         a, b);
			else if (nlx)
				snprintf(why, sizeof(why),
				         "the left side has %s that the right side lacks", a);
			else
				snprintf(why, sizeof(why),
				         "the right side has %s that the left side lacks", b);
			finding(
			    x, "no-match", DS_LINT_ERROR,
			    "the two sides of '%s' never match: %s; one-to-one matching needs the "
			    "same labels on both sides, so the result is always empty and the rule "
			    "can never fire",
			    op, why);
			if (fixp && *fixp) {
				/* Sum the extra labels away on the side that has them. */
				if (nlx) {
					ds_pq_node_t *w =
					    wrap_agg((*fixp)->arg[0], "sum", true, lx, nlx);
					if (w)
						(*fixp)->arg[0] = w;
				}
				if (nrx) {
					ds_pq_node_t *w =
					    wrap_agg((*fixp)->arg[1], "sum", true, rx, nrx);
					if (w)
						(*fixp)->arg[1] = w;
				}
			}
		}
		s = l;
		if (set && !strcmp(op, "or"))
			for (size_t i = 0; i < r.n; i++)
				sl_add(&s, r.l[i]);
		if (n->grouped && !set) {
			s = lm;
		}
		return s;
	}
	}
	return s;
}

/* The alert compares a per-second rate but its text formats the value as
 * a percentage: almost always a missing division by the total. */
static void check_ratio(lctx_t *x, ds_pq_node_t *root, ds_pq_node_t **fixp)
{
	ds_pq_node_t *n = strip(root);
	if (!x->rule || n->kind != DS_PQ_BIN || !is_cmp(n->str) || n->bool_mod)
		return;
	bool pct = false;
	for (size_t i = 0; i < x->rule->nannotations; i++)
		pct |= strstr(x->rule->annotations[i].value, "humanizePercentage") != NULL;
	ds_pq_node_t *l = strip(n->arg[0]), *r = strip(n->arg[1]);
	if (!pct || r->kind != DS_PQ_NUM || r->num >= 1 || l->kind != DS_PQ_CALL ||
	    (strcmp(l->str, "rate") && strcmp(l->str, "irate")))
		return;
	finding(x, "rate-not-ratio", DS_LINT_WARNING,
	        "the value compared with %g is %s(), events per second, but the alert's text "
	        "shows it with humanizePercentage: it fires at %g events per second, not at %g%% "
	        "of them; divide by the total rate",
	        r->num, l->str, r->num, r->num * 100);
	if (!fixp || !*fixp)
		return;
	ds_pq_node_t *fn = *fixp;
	while (fn->kind == DS_PQ_PAREN)
		fn = fn->arg[0];
	ds_pq_node_t *num = fn->arg[0];
	while (num->kind == DS_PQ_PAREN)
		num = num->arg[0];
	if (num->kind != DS_PQ_CALL || num->narg != 1 || strip(num->arg[0])->kind != DS_PQ_SEL)
		return;
	/* the denominator: the same series without the matchers that pick
	 * out the "bad" ones (response codes, status codes) */
	ds_pq_node_t *den = ds_pq_node_dup(num);
	if (!den) {
		x->oom = true;
		return;
	}
	ds_pq_node_t *sel = strip(den->arg[0]);
	size_t k = 0;
	bool removed = false;
	for (size_t i = 0; i < sel->nm; i++) {
		const char *ln = sel->m[i].name;
		if (!strcmp(ln, "rcode") || !strcmp(ln, "code") || !strcmp(ln, "status")) {
			free(sel->m[i].name);
			free(sel->m[i].value);
			if (sel->m[i].re) {
				regfree(sel->m[i].re);
				free(sel->m[i].re);
			}
			removed = true;
			continue;
		}
		sel->m[k++] = sel->m[i];
	}
	sel->nm = k;
	if (!removed) {
		ds_pq_node_free(den);
		return;
	}
	ds_pq_node_t *sn = wrap_agg(fn->arg[0], "sum", false, NULL, 0);
	ds_pq_node_t *sd = sn ? wrap_agg(den, "sum", false, NULL, 0) : NULL;
	ds_pq_node_t *div = sd ? ds_pq_node_new(DS_PQ_BIN, "/") : NULL;
	if (!div || ds_pq_node_add(div, sn) < 0 || ds_pq_node_add(div, sd) < 0) {
		x->oom = true;
		return;
	}
	fn->arg[0] = div;
}

static int lint_one(const ds_lint_catalog_t *c, const char *expr, const ds_rule_t *r,
                    ds_lint_rule_t *out, bool recheck)
{
	ds_err_t err;
	memset(out, 0, sizeof(*out));
	out->rule = strdup(r ? (r->alert ? r->alert : r->record) : "");
	out->expr = strdup(expr);
	out->line = r ? r->expr_line : 0;
	if (!out->rule || !out->expr)
		return DS_ENOMEM;
	lctx_t x = {.c = c, .out = out, .rule = r};
	ds_promql_t *e = ds_promql_parse(expr, &err);
	if (!e) {
		finding(&x, "parse-error", DS_LINT_ERROR, "cannot check the expression: %s",
		        err.msg);
		return x.oom ? DS_ENOMEM : DS_OK;
	}
	ds_pq_node_t *root = ds_promql_root(e);
	ds_pq_node_t *fix = ds_pq_node_dup(root);
	char *orig = ds_pq_node_format(root);
	if (!fix || !orig) {
		ds_pq_node_free(fix);
		free(orig);
		ds_promql_free(e);
		return DS_ENOMEM;
	}
	check(&x, root, &fix);
	check_ratio(&x, root, &fix);
	if (out->n && !x.oom) {
		out->fix = ds_pq_node_format(fix);
		/* no rewrite known for these problems: no fix to offer */
		if (out->fix && !strcmp(out->fix, orig)) {
			free(out->fix);
			out->fix = NULL;
		}
	}
	if (out->fix && recheck) {
		/* The fix must itself be clean (the annotations still apply). */
		ds_lint_rule_t again;
		if (lint_one(c, out->fix, r, &again, false) == DS_OK) {
			out->fix_clean = true;
			for (size_t i = 0; i < again.n; i++)
				out->fix_clean &= again.f[i].severity != DS_LINT_ERROR;
		}
		ds_lint_rule_free(&again);
	}
	free(orig);
	ds_pq_node_free(fix);
	ds_promql_free(e);
	return x.oom ? DS_ENOMEM : DS_OK;
}

int ds_lint_expr(const ds_lint_catalog_t *c, const char *expr, const ds_rule_t *r,
                 ds_lint_rule_t *out)
{
	return lint_one(c, expr, r, out, true);
}

void ds_lint_rule_free(ds_lint_rule_t *lr)
{
	for (size_t i = 0; i < lr->n; i++) {
		free(lr->f[i].rule);
		free(lr->f[i].message);
	}
	free(lr->f);
	free(lr->rule);
	free(lr->expr);
	free(lr->fix);
	memset(lr, 0, sizeof(*lr));
}

/* ================================================================= verb */

int ds_report_lint_main(int argc, char **argv)
{
	enum { O_METRICS = 256, O_JSON, O_STRICT, O_EXPR };
	static const struct option lo[] = {
	    {"metrics", required_argument, NULL, O_METRICS},
	    {"json", no_argument, NULL, O_JSON},
	    {"strict", no_argument, NULL, O_STRICT},
	    {"expr", required_argument, NULL, O_EXPR},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *metrics = NULL, *expr = NULL;
	bool json = false, strict = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_METRICS:
			metrics = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_STRICT:
			strict = true;
			break;
		case O_EXPR:
			expr = optarg;
			break;
		case 'h':
			printf(
			    "usage: dnsurge report lint-alerts [--metrics FILE|URL] [--strict] "
			    "[--json] RULES.yml\n"
			    "       dnsurge report lint-alerts [--metrics FILE|URL] --expr EXPR\n\n"
			    "Check Prometheus alert and recording rules against the metrics "
			    "dnsurged exports:\nunknown or renamed metric names, labels a metric "
			    "does not have, quantiles of\nraw histogram buckets, binary operators "
			    "whose sides never match, rates\npresented as percentages. Each "
			    "problem is explained and a fixed expression\nis proposed. The metric "
			    "names and labels come from --metrics (a saved\n/metrics page or its "
			    "http:// URL) or from the built-in CoreDNS list.\n\n"
			    "Exit status: 0 no errors (warnings allowed unless --strict), 1 "
			    "problems found,\n2 usage or input error.\n");
			return 0;
		default:
			return 2;
		}
	}
	const char *path = optind < argc ? argv[optind++] : NULL;
	if (optind < argc)
		return ds_cli_bad("lint-alerts", "unexpected argument '%s'", argv[optind]);
	if (!path == !expr)
		return ds_cli_bad("lint-alerts", "give one rules file or --expr EXPR");

	ds_err_t err;
	ds_rules_t rs = {0};
	ds_lint_catalog_t *cat =
	    metrics ? ds_lint_catalog_load(metrics, &err) : ds_lint_catalog_builtin();
	int rc = 2;
	size_t nerr = 0, nwarn = 0;
	if (!cat) {
		fprintf(stderr, "dnsurge report lint-alerts: %s\n",
		        metrics ? err.msg : "out of memory");
		return 2;
	}
	if (path && ds_rules_load(path, &rs, &err) < 0) {
		fprintf(stderr, "dnsurge report lint-alerts: %s\n", err.msg);
		goto out;
	}
	size_t nr = path ? rs.n : 1;
	if (json)
		printf("[");
	for (size_t i = 0; i < nr; i++) {
		ds_lint_rule_t lr;
		const ds_rule_t *r = path ? &rs.r[i] : NULL;
		if (ds_lint_expr(cat, r ? r->expr : expr, r, &lr) < 0) {
			ds_lint_rule_free(&lr);
			fprintf(stderr, "dnsurge report lint-alerts: out of memory\n");
			goto out;
		}
		for (size_t k = 0; k < lr.n; k++) {
			const ds_lint_finding_t *f = &lr.f[k];
			const char *sev = f->severity == DS_LINT_ERROR ? "error" : "warning";
			if (f->severity == DS_LINT_ERROR)
				nerr++;
			else
				nwarn++;
			if (json) {
				/* JSON strings by hand: the texts are ours, only " and \ need care
				 */
				printf("%s\n  {\"file\": \"", nerr + nwarn > 1 ? "," : "");
				for (const char *p = path ? path : ""; *p; p++)
					printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
				printf("\", \"line\": %d, \"rule\": \"%s\", \"severity\": \"%s\", "
				       "\"code\": \"%s\", \"message\": \"",
				       f->line, f->rule, sev, f->code);
				for (const char *p = f->message; *p; p++)
					printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
				printf("\", \"fix\": \"");
				for (const char *p = lr.fix ? lr.fix : ""; *p; p++)
					printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
				printf("\"}");
			} else {
				printf("%s:%d: %s%s%s: %s\n", path ? path : "<expr>", f->line,
				       f->rule, f->rule[0] ? ": " : "", sev, f->message);
			}
		}
		if (!json && lr.fix)
			printf("  fix: %s%s\n", lr.fix,
			       lr.fix_clean ? "" : "  (partial: check it)");
		if (!json && lr.n)
			putchar('\n');
		ds_lint_rule_free(&lr);
	}
	if (json)
		printf("\n]\n");
	else
		printf("%zu error%s, %zu warning%s in %zu rule%s (metrics: %s)\n", nerr,
		       nerr == 1 ? "" : "s", nwarn, nwarn == 1 ? "" : "s", nr, nr == 1 ? "" : "s",
		       metrics ? metrics : "built-in CoreDNS list");
	rc = nerr || (strict && nwarn) ? 1 : 0;
out:
	ds_rules_free(&rs);
	ds_lint_catalog_free(cat);
	return rc;
}
