/* SPDX-License-Identifier: MIT */
/*
 * template CLASS TYPE [ZONE...] { match REGEX...; answer RR; additional RR;
 *     authority RR; rcode CODE; ederror CODE [REASON]; fallthrough [ZONE...];
 *     upstream }
 *
 * Every occurrence in a block is one template of one handler, tried in
 * order, with CoreDNS's rules:
 *  - qname outside the zones of all templates: next plugin;
 *  - a template whose zone, class or type does not fit is skipped;
 *  - zone fits but no regex matches: the next template if qname is in its
 *    fallthrough zones, else SERVFAIL;
 *  - the first template that matches answers: AA, its rcode, its records
 *    (rcode SERVFAIL answers nothing and lets the server reply);
 *  - no template left: next plugin.
 *
 * Speed matters (scenarios use template as a simulated upstream), so
 * everything fixed is prepared at setup: a record with no template action
 * is parsed once; when only its owner is templated the rest is parsed
 * once and `{{ .Name }}` as owner writes the qname directly; `.*` and
 * literal patterns skip regexec(). The query path renders into stack
 * buffers and allocates nothing.
 *
 * For A and AAAA queries a CNAME in the answer is followed as CoreDNS's
 * upstream does: its target is asked through the server (a sub-query in
 * the block that serves it) and the answers are added after the CNAME; the
 * reply waits (DS_ASYNC) if that lookup does. At most 8 such lookups nest.
 * Metrics (coredns_template_*) are not exported yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "server/plugins/template/re.h"
#include "server/plugins/template/rrtext.h"
#include "server/plugins/template/tmpl.h"
#include "server/src/plugin.h"
#include "server/src/upstream.h"

#define RENDER_MAX 2048

/* One answer/authority/additional line. */
typedef struct rrt {
	char *src;
	ds_tmpl_t *full;  /* general path: render all, then parse */
	ds_tmpl_t *owner; /* split path: the owner only... */
	ds_prr_t *pre;    /* ...plus the rest parsed once; or the whole static record */
	bool is_static;
	bool owner_is_name;
	uint8_t section;
} rrt_t;

typedef struct tpl {
	uint16_t qclass, qtype;
	uint8_t (*zones)[DS_NAME_MAX];
	char **zone_strs;
	size_t nzones;
	ds_re_t *res;
	size_t nres;
	size_t posix_base; /* index of this template's first regex_t per worker */
	rrt_t *rrs;
	size_t nrrs;
	int rcode;
	uint8_t (*fall)[DS_NAME_MAX];
	size_t nfall; /* 0 = no fallthrough */
	int ede;      /* -1 = none */
	char *ede_text;
	unsigned needs; /* DS_TN_* of all records */
} tpl_t;

typedef struct tp {
	tpl_t *t;
	size_t n;
	uint8_t (*zones)[DS_NAME_MAX];
	size_t nzones;
	size_t nposix;
} tp_t;

/* ---------------------------------------------------------------- setup */

static void rrt_free(rrt_t *r)
{
	free(r->src);
	ds_tmpl_free(r->full);
	ds_tmpl_free(r->owner);
	free(r->pre);
}

static void tpl_free(tpl_t *t)
{
	for (size_t i = 0; i < t->nres; i++)
		ds_re_free(&t->res[i]);
	free(t->res);
	for (size_t i = 0; i < t->nrrs; i++)
		rrt_free(&t->rrs[i]);
	free(t->rrs);
	for (size_t i = 0; i < t->nzones; i++)
		free(t->zone_strs[i]);
	free(t->zone_strs);
	free(t->zones);
	free(t->fall);
	free(t->ede_text);
}

static void tp_teardown(ds_plugin_t *p)
{
	tp_t *h = p->ctx;
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		tpl_free(&h->t[i]);
	free(h->t);
	free(h->zones);
	free(h);
}

/*
 * Where the owner field of a record template ends: the first blank outside
 * {{ }} after the leading blanks. 0 if the owner cannot be split off.
 */
static size_t owner_end(const char *s)
{
	size_t i = 0, depth = 0;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	size_t start = i;
	for (; s[i]; i++) {
		if (!depth && s[i] == '{' && s[i + 1] == '{') {
			depth = 1;
			i++;
		} else if (depth && s[i] == '}' && s[i + 1] == '}') {
			depth = 0;
			i++;
		} else if (!depth && (s[i] == ' ' || s[i] == '\t')) {
			break;
		}
	}
	if (depth || i == start || !s[i])
		return 0;
	/* a "-}}" right before the blank would eat it */
	if (i >= 3 && s[i - 1] == '}' && s[i - 3] == '-')
		return 0;
	return i;
}

static int add_rr(ds_args_t *a, tpl_t *t, const char *src, uint8_t section)
{
	rrt_t *nr = realloc(t->rrs, (t->nrrs + 1) * sizeof(*nr));
	if (!nr)
		return DS_ENOMEM;
	t->rrs = nr;
	rrt_t *r = &t->rrs[t->nrrs++];
	memset(r, 0, sizeof(*r));
	r->section = section;
	r->src = strdup(src);
	char err[256] = "";
	if (!r->src)
		return DS_ENOMEM;
	r->full = ds_tmpl_parse(src, err, sizeof(err));
	if (!r->full)
		return ds_args_err(a, "could not compile template: %s, %s", src, err);
	t->needs |= ds_tmpl_needs(r->full);
	r->pre = malloc(sizeof(*r->pre));
	if (!r->pre)
		return DS_ENOMEM;
	if (ds_tmpl_is_static(r->full)) {
		if (ds_rrtext_parse(src, strlen(src), true, r->pre, err, sizeof(err)) < 0)
			return ds_args_err(a, "invalid record '%s': %s", src, err);
		r->is_static = true;
		return DS_OK;
	}
	size_t oe = owner_end(src);
	const char *tail = src + oe;
	if (oe && !strstr(tail, "{{")) {
		char *osrc = strndup(src, oe);
		if (!osrc)
			return DS_ENOMEM;
		r->owner = ds_tmpl_parse(osrc, err, sizeof(err));
		free(osrc);
		if (r->owner &&
		    ds_rrtext_parse(tail, strlen(tail), false, r->pre, err, sizeof(err)) < 0)
			return ds_args_err(a, "invalid record '%s': %s", src, err);
		if (r->owner) {
			r->owner_is_name = ds_tmpl_is_name(r->owner);
			return DS_OK;
		}
	}
	/* Everything is rendered per query: no pre-parsed part. */
	free(r->pre);
	r->pre = NULL;
	return DS_OK;
}

static int set_fall(ds_args_t *a, tpl_t *t)
{
	const char *zs[64];
	size_t k = ds_args_remaining(a, zs, 64);
	if (k > 64)
		return ds_args_err(a, "too many zones");
	free(t->fall);
	t->nfall = k ? k : 1;
	t->fall = calloc(t->nfall, DS_NAME_MAX);
	if (!t->fall)
		return DS_ENOMEM;
	for (size_t i = 0; i < k; i++) {
		char norm[300];
		if (ds_zone_normalize(zs[i], norm, sizeof(norm)) < 0 ||
		    ds_name_from_str(norm, NULL, t->fall[i]) < 0)
			return ds_args_err(a, "invalid zone '%s'", zs[i]);
		ds_name_lower(t->fall[i]);
	}
	return DS_OK;
}

static int parse_one(ds_plugin_t *p, tp_t *h, ds_args_t *a)
{
	tpl_t *nt = realloc(h->t, (h->n + 1) * sizeof(*nt));
	if (!nt)
		return DS_ENOMEM;
	h->t = nt;
	tpl_t *t = &h->t[h->n++];
	memset(t, 0, sizeof(*t));
	t->ede = -1;
	ds_args_next(a);
	if (!ds_args_next_arg(a))
		return ds_args_err_argcount(a);
	static const struct {
		const char *n;
		uint16_t c;
	} classes[] = {{"IN", 1}, {"CS", 2}, {"CH", 3}, {"HS", 4}, {"NONE", 254}, {"ANY", 255}};
	bool found = false;
	for (size_t i = 0; i < DS_ARRAY_SIZE(classes); i++)
		if (!strcmp(ds_args_val(a), classes[i].n)) {
			t->qclass = classes[i].c;
			found = true;
		}
	if (!found)
		return ds_args_err(a, "invalid query class %s", ds_args_val(a));
	if (!ds_args_next_arg(a))
		return ds_args_err_argcount(a);
	t->qtype = ds_type_from_str(ds_args_val(a));
	if (!t->qtype)
		return ds_args_err(a, "invalid RR class %s", ds_args_val(a));
	int rc = ds_args_zones(a, p->block, &t->zones, &t->nzones);
	if (rc < 0)
		return rc;
	t->zone_strs = calloc(t->nzones, sizeof(char *));
	if (!t->zone_strs)
		return DS_ENOMEM;
	for (size_t i = 0; i < t->nzones; i++) {
		char buf[DS_NAME_MAX * 4 + 2];
		ds_name_to_str(t->zones[i], buf, sizeof(buf));
		t->zone_strs[i] = strdup(buf);
		uint8_t(*nz)[DS_NAME_MAX] = realloc(h->zones, (h->nzones + 1) * DS_NAME_MAX);
		if (!t->zone_strs[i] || !nz)
			return DS_ENOMEM;
		h->zones = nz;
		memcpy(h->zones[h->nzones++], t->zones[i], DS_NAME_MAX);
	}
	while (ds_args_next_block(a)) {
		const char *k = ds_args_val(a);
		const char *v[64];
		size_t nv;
		char err[256];
		if (!strcmp(k, "match")) {
			nv = ds_args_remaining(a, v, 64);
			if (nv == 0 || nv > 64)
				return ds_args_err_argcount(a);
			for (size_t i = 0; i < nv; i++) {
				ds_re_t *nr = realloc(t->res, (t->nres + 1) * sizeof(*nr));
				if (!nr)
					return DS_ENOMEM;
				t->res = nr;
				if (ds_re_compile(&t->res[t->nres], v[i], err, sizeof(err)) < 0) {
					t->nres++; /* so teardown frees what was allocated */
					return ds_args_err(a, "could not parse regex: %s, %s", v[i],
					                   err);
				}
				t->nres++;
			}
		} else if (!strcmp(k, "answer") || !strcmp(k, "authority") ||
		           !strcmp(k, "additional")) {
			uint8_t sec = k[1] == 'n'   ? DS_SEC_ANSWER
			              : k[1] == 'u' ? DS_SEC_AUTHORITY
			                            : DS_SEC_ADDITIONAL;
			nv = ds_args_remaining(a, v, 64);
			if (nv == 0 || nv > 64)
				return ds_args_err_argcount(a);
			for (size_t i = 0; i < nv; i++)
				if ((rc = add_rr(a, t, v[i], sec)) < 0)
					return rc;
		} else if (!strcmp(k, "rcode")) {
			nv = ds_args_remaining(a, v, 2);
			if (nv < 1)
				return ds_args_err_argcount(a);
			int r = ds_rcode_from_str(v[0]);
			if (r < 0)
				return ds_args_err(a, "unknown rcode %s", v[0]);
			if (r > 15)
				return ds_args_err(a, "rcode %s needs EDNS and is not supported",
				                   v[0]);
			t->rcode = r;
		} else if (!strcmp(k, "ederror")) {
			nv = ds_args_remaining(a, v, 3);
			if (nv != 1 && nv != 2)
				return ds_args_err_argcount(a);
			long long code;
			if (ds_parse_int(v[0], 0, 65535, &code) < 0)
				return ds_args_err(a, "error parsing extended DNS error code %s",
				                   v[0]);
			t->ede = (int)code;
			free(t->ede_text);
			t->ede_text = nv == 2 ? strdup(v[1]) : NULL;
		} else if (!strcmp(k, "fallthrough")) {
			if ((rc = set_fall(a, t)) < 0)
				return rc;
		} else if (!strcmp(k, "upstream")) {
			/* accepted and ignored, as CoreDNS has deprecated it */
			ds_args_remaining(a, v, 64);
		} else {
			return ds_args_err(a, "unknown property '%s'", k);
		}
	}
	if (t->nres == 0) {
		t->res = calloc(1, sizeof(*t->res));
		if (!t->res)
			return DS_ENOMEM;
		ds_re_compile(&t->res[0], ".*", NULL, 0);
		t->nres = 1;
	}
	bool has_answer = false, has_auth = false;
	for (size_t i = 0; i < t->nrrs; i++) {
		has_answer |= t->rrs[i].section == DS_SEC_ANSWER;
		has_auth |= t->rrs[i].section == DS_SEC_AUTHORITY;
	}
	if (!has_answer && !has_auth && t->rcode == DS_RCODE_NOERROR)
		return ds_args_err(a, "no answer section for template found");
	t->posix_base = h->nposix;
	for (size_t i = 0; i < t->nres; i++)
		if (ds_re_needs_posix(&t->res[i]))
			h->nposix++;
	return DS_OK;
}

static int tp_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	tp_t *h = calloc(1, sizeof(*h));
	if (!h)
		return DS_ENOMEM;
	p->ctx = h;
	for (size_t o = 0; o < n; o++) {
		int rc = parse_one(p, h, &occ[o]);
		if (rc < 0)
			return rc;
	}
	return DS_OK;
}

/* --------------------------------------------------------------- worker */

/* Per-query values, computed only when a template reads them. */
typedef struct qctx {
	char name[DS_NAME_MAX * 4 + 2];
	size_t name_len;
	bool have_name;
	char qname[DS_NAME_MAX * 4 + 2];
	char remote[DS_ADDRSTR_MAX];
	char cls[16], type[16];
	int so[DS_RE_GROUPS_MAX + 1], eo[DS_RE_GROUPS_MAX + 1];
} qctx_t;

/* A reply waiting for the lookup of a CNAME target (see write_from). */
typedef struct twait {
	ds_plugin_t *p;
	const tpl_t *t;
	int zi, ri;
	size_t next; /* first record not written yet */
	qctx_t c;
} twait_t;

typedef struct wstate {
	regex_t *re; /* glibc's regexec() locks inside a regex_t: one copy per worker */
	size_t n;
	ds_upstream_pool_t ups;
} wstate_t;

static void tp_worker_fini(ds_plugin_t *p, ds_worker_t *w, void *wctx)
{
	wstate_t *x = wctx;
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++)
		regfree(&x->re[i]);
	free(x->re);
	ds_upstream_pool_fini(&x->ups);
	free(x);
}

static int tp_worker_init(ds_plugin_t *p, ds_worker_t *w, void **wctx)
{
	tp_t *h = p->ctx;
	wstate_t *x = calloc(1, sizeof(*x));
	if (!x)
		return DS_ENOMEM;
	ds_upstream_pool_init(&x->ups, sizeof(twait_t));
	*wctx = x;
	if (!h->nposix)
		return DS_OK;
	x->re = calloc(h->nposix, sizeof(regex_t));
	if (!x->re)
		return DS_ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		const tpl_t *t = &h->t[i];
		size_t k = t->posix_base;
		for (size_t j = 0; j < t->nres; j++) {
			if (!ds_re_needs_posix(&t->res[j]))
				continue;
			if (ds_re_instance(&t->res[j], &x->re[k]) < 0)
				return DS_EINVAL;
			x->n = ++k;
		}
	}
	return DS_OK;
}

/* ---------------------------------------------------------------- serve */

static const char *name_str(ds_query_t *q, qctx_t *c)
{
	if (!c->have_name) {
		int n = ds_name_to_str(q->req.qname, c->name, sizeof(c->name));
		c->name_len = n > 0 ? (size_t)n : 0;
		c->have_name = true;
	}
	return c->name;
}

static bool falls(const tpl_t *t, const uint8_t *qname)
{
	return t->nfall &&
	       ds_zone_match((const uint8_t(*)[DS_NAME_MAX])t->fall, t->nfall, qname) >= 0;
}

/* The EDNS0 Extended DNS Error option (RFC 8914) in an OPT record. */
static void write_ede(ds_wbuf_t *wb, const tpl_t *t)
{
	size_t tl = t->ede_text ? strlen(t->ede_text) : 0;
	if (tl > 1024)
		tl = 1024;
	uint8_t root = 0;
	/* CoreDNS sets the OPT as SetEdns0(4096, true); the server then
	 * mirrors the client's size and DO bit, or drops it without EDNS. */
	int m = ds_wb_rr_begin(wb, &root, DS_TYPE_OPT, 4096, 0x8000);
	ds_wb_u16(wb, 15);
	ds_wb_u16(wb, (uint16_t)(2 + tl));
	ds_wb_u16(wb, (uint16_t)t->ede);
	ds_wb_bytes(wb, t->ede_text, tl);
	ds_wb_rr_end(wb, m);
}

/* Write one record; *type and (for a CNAME) cname get what was written. */
static int emit(ds_query_t *q, const rrt_t *r, const ds_tmpl_data_t *d, uint16_t *type,
                uint8_t *cname, char *err, size_t errlen)
{
	ds_wbuf_t *wb = &q->resp;
	char buf[RENDER_MAX];
	const ds_prr_t *rr = r->pre;
	const uint8_t *owner = NULL;
	uint8_t obuf[DS_NAME_MAX];
	ds_prr_t parsed;
	if (r->pre && !r->is_static) {
		if (r->owner_is_name) {
			owner = q->req.qname;
		} else {
			int n = ds_tmpl_render(r->owner, d, buf, sizeof(buf), err, errlen);
			if (n < 0)
				return n;
			if (ds_name_from_str(buf, NULL, obuf) < 0) {
				snprintf(err, errlen, "bad owner name \"%.200s\"", buf);
				return DS_EINVAL;
			}
			owner = obuf;
		}
	} else if (!r->pre) {
		int n = ds_tmpl_render(r->full, d, buf, sizeof(buf), err, errlen);
		if (n < 0)
			return n;
		if (ds_rrtext_parse(buf, (size_t)n, true, &parsed, err, errlen) < 0)
			return DS_EINVAL;
		rr = &parsed;
	}
	*type = rr->type;
	if (rr->type == DS_TYPE_CNAME) {
		const uint8_t *tg = ds_prr_first_name(rr);
		memcpy(cname, tg ? tg : (const uint8_t *)"", tg ? ds_name_len(tg) : 1);
	}
	return ds_prr_write(wb, owner, rr);
}

static void build_data(ds_query_t *q, const tpl_t *t, int zi, int ri, qctx_t *c, ds_tmpl_data_t *d)
{
	const ds_re_t *re = &t->res[ri];
	memset(d, 0, sizeof(*d));
	if (t->needs & (DS_TN_NAME | DS_TN_MATCH))
		d->name = name_str(q, c);
	d->zone = t->zone_strs[zi];
	d->cls = ds_class_str(q->req.qclass != DS_CLASS_ANY ? q->req.qclass : t->qclass, c->cls);
	d->type = ds_type_str(q->req.qtype != DS_TYPE_ANY ? q->req.qtype : t->qtype, c->type);
	if (t->needs & DS_TN_REMOTE)
		d->remote = ds_addr_host(&q->client, c->remote, sizeof(c->remote));
	if (t->needs & DS_TN_QNAME) {
		uint8_t orig[DS_NAME_MAX];
		c->qname[0] = '\0';
		if (ds_query_qname_orig(q, orig) >= 0)
			ds_name_to_str(orig, c->qname, sizeof(c->qname));
		d->qname = c->qname;
	}
	d->qtype = q->req.qtype;
	d->qclass = q->req.qclass;
	d->id = q->req.id;
	d->subject = c->name;
	d->so = c->so;
	d->eo = c->eo;
	d->ngroups = re->ngroups;
	d->gnames = (const char *const *)re->names;
}

static int write_from(ds_plugin_t *p, ds_query_t *q, const tpl_t *t, int zi, int ri, qctx_t *c,
                      size_t from, int depth, ds_upstream_t *u);

static void lookup_done(ds_upstream_t *u)
{
	twait_t *w = ds_upstream_data(u);
	ds_query_t *q = u->q;
	int r = write_from(w->p, q, w->t, w->zi, w->ri, &w->c, w->next, u->depth, u);
	if (r != DS_ASYNC)
		ds_query_resume(q, r);
}

/*
 * Look up the CNAME target through the server, as CoreDNS's upstream does
 * for A/AAAA queries. DS_ASYNC when the answer comes later (write_from
 * then continues from the record after the CNAME); DS_OK when it is in
 * already or could not be asked (the CNAME then stands alone). The lookup
 * is taken on the first CNAME, with a copy of c, and kept in *up until
 * write_from is done.
 */
static int launch(ds_plugin_t *p, ds_query_t *q, const tpl_t *t, int zi, int ri, qctx_t *c,
                  size_t next, int depth, const uint8_t *target, ds_upstream_t **up)
{
	ds_block_t *b = ds_upstream_block(q, target);
	wstate_t *ws = ds_plugin_wctx(p, q);
	if (!b || !ws)
		return DS_OK;
	ds_upstream_t *u = *up;
	if (!u) {
		if (!(u = ds_upstream_get(&ws->ups, q, depth)))
			return DS_OK;
		twait_t *w = ds_upstream_data(u);
		w->p = p;
		w->t = t;
		w->zi = zi;
		w->ri = ri;
		memcpy(&w->c, c, sizeof(*c));
		*up = u;
	}
	((twait_t *)ds_upstream_data(u))->next = next;
	int rc = ds_upstream_ask(u, b, target, DS_UPSTREAM_TC, lookup_done);
	return rc == DS_ASYNC ? DS_ASYNC : DS_OK;
}

/*
 * Write t's records from answer record `from` on (the reply is started),
 * then authority and additional, and finish the reply. Returns the rcode,
 * or DS_ASYNC while a CNAME target is being looked up.
 */
static int write_from(ds_plugin_t *p, ds_query_t *q, const tpl_t *t, int zi, int ri, qctx_t *c,
                      size_t from, int depth, ds_upstream_t *u)
{
	ds_tmpl_data_t d;
	if (u)
		c = &((twait_t *)ds_upstream_data(u))->c;
	build_data(q, t, zi, ri, c, &d);
	ds_wbuf_t *wb = &q->resp;
	char err[256] = "";
	bool upstream = depth < DS_UPSTREAM_DEPTH_MAX &&
	                (q->req.qtype == DS_TYPE_A || q->req.qtype == DS_TYPE_AAAA);
	int rcode = t->rcode;
	for (int sec = DS_SEC_ANSWER; sec <= DS_SEC_ADDITIONAL; sec++) {
		ds_wb_section(wb, (enum ds_section)sec);
		for (size_t i = sec == DS_SEC_ANSWER ? from : 0; i < t->nrrs; i++) {
			if (t->rrs[i].section != sec)
				continue;
			uint16_t type = 0;
			uint8_t cname[DS_NAME_MAX];
			int rc = emit(q, &t->rrs[i], &d, &type, cname, err, sizeof(err));
			if (rc == DS_ESPACE)
				break; /* too big: the server truncates what fits */
			if (rc < 0) {
				ds_query_error(q, "plugin/template: %s: %s", t->rrs[i].src, err);
				rcode = DS_RCODE_SERVFAIL;
				goto out;
			}
			if (upstream && sec == DS_SEC_ANSWER && type == DS_TYPE_CNAME) {
				rc = launch(p, q, t, zi, ri, c, i + 1, depth, cname, &u);
				if (rc == DS_ASYNC)
					return DS_ASYNC;
				if (u)
					c = &((twait_t *)ds_upstream_data(u))->c;
			}
		}
	}
	if (t->ede >= 0)
		write_ede(wb, t);
	if (ds_query_reply(q, p) < 0)
		rcode = DS_RCODE_SERVFAIL;
out:
	if (u)
		ds_upstream_put(u);
	return rcode;
}

static int tp_serve(ds_plugin_t *p, ds_query_t *q)
{
	tp_t *h = p->ctx;
	const uint8_t *qname = q->req.qname;
	if (ds_zone_match((const uint8_t(*)[DS_NAME_MAX])h->zones, h->nzones, qname) < 0)
		return DS_NEXT;
	wstate_t *x = ds_plugin_wctx(p, q);
	qctx_t c;
	c.have_name = false;
	c.name[0] = '\0';
	c.name_len = 0;
	for (size_t i = 0; i < h->n; i++) {
		const tpl_t *t = &h->t[i];
		int zi = ds_zone_match((const uint8_t(*)[DS_NAME_MAX])t->zones, t->nzones, qname);
		if (zi < 0)
			continue;
		if (t->qclass != DS_CLASS_ANY && q->req.qclass != DS_CLASS_ANY &&
		    q->req.qclass != t->qclass)
			continue;
		if (t->qtype != DS_TYPE_ANY && q->req.qtype != DS_TYPE_ANY &&
		    q->req.qtype != t->qtype)
			continue;
		int matched = -1;
		size_t k = t->posix_base;
		for (size_t j = 0; j < t->nres && matched < 0; j++) {
			const ds_re_t *re = &t->res[j];
			const regex_t *inst = NULL;
			if (ds_re_needs_posix(re)) {
				inst = x && k < x->n ? &x->re[k] : NULL;
				k++;
			}
			/* `.*` needs the name as text only if the records read it */
			if (ds_re_matches_all(re) && !(t->needs & (DS_TN_NAME | DS_TN_MATCH))) {
				matched = (int)j;
				break;
			}
			name_str(q, &c);
			if (ds_re_match(re, inst, c.name, c.name_len, c.so, c.eo))
				matched = (int)j;
		}
		if (matched < 0) {
			if (falls(t, qname))
				continue;
			return DS_RCODE_SERVFAIL;
		}
		if (t->rcode == DS_RCODE_SERVFAIL)
			return DS_RCODE_SERVFAIL;
		ds_wb_reply(&q->resp, &q->req, (unsigned)t->rcode, DS_FLAG_AA);
		return write_from(p, q, t, zi, matched, &c, 0, ds_upstream_depth(x ? &x->ups : NULL, q),
		                  NULL);
	}
	return DS_NEXT;
}

DS_PLUGIN_DEFINE(template) = {
    .abi = DS_PLUGIN_ABI,
    .name = "template",
    .setup = tp_setup,
    .worker_init = tp_worker_init,
    .worker_fini = tp_worker_fini,
    .serve = tp_serve,
    .teardown = tp_teardown,
};
