/* SPDX-License-Identifier: MIT */
/*
 * log [NAMES...] [FORMAT] { class CLASSES... }: one line per query, in
 * CoreDNS's common log format by default:
 *   [INFO] {remote}:{port} - {>id} "{type} {class} {name} {proto} {size}
 *          {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}
 * The first rule whose NAME contains the qname decides; `class` limits it
 * to success / denial / error answers. The format is compiled into
 * placeholders at setup so the per-query work is formatting only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/plugin.h"

enum ph {
	PH_LIT, PH_TYPE, PH_NAME, PH_CLASS, PH_PROTO, PH_REMOTE, PH_LOCAL, PH_PORT, PH_SIZE,
	PH_RSIZE, PH_RCODE, PH_DURATION, PH_RFLAGS, PH_ID, PH_OPCODE, PH_DO, PH_BUFSIZE,
	PH_UNKNOWN,
};

typedef struct piece {
	enum ph ph;
	char *lit;
} piece_t;

typedef struct rule {
	uint8_t name[DS_NAME_MAX];
	piece_t *fmt;
	size_t nfmt;
	unsigned classes; /* bit 0 success, 1 denial, 2 error; 7 = all */
} rule_t;

typedef struct logp {
	rule_t *rules;
	size_t nrules;
} logp_t;

#define COMMON "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"
#define COMBINED COMMON " \"{>opcode}\""

static const struct {
	const char *name;
	enum ph ph;
} phs[] = {
	{"type", PH_TYPE},     {"name", PH_NAME},       {"class", PH_CLASS},   {"proto", PH_PROTO},
	{"remote", PH_REMOTE}, {"local", PH_LOCAL},     {"port", PH_PORT},     {"size", PH_SIZE},
	{"rsize", PH_RSIZE},   {"rcode", PH_RCODE},     {"duration", PH_DURATION},
	{">rflags", PH_RFLAGS}, {">id", PH_ID},         {">opcode", PH_OPCODE}, {">do", PH_DO},
	{">bufsize", PH_BUFSIZE},
};

static int add_piece(rule_t *r, enum ph ph, const char *lit, size_t n)
{
	piece_t *np = realloc(r->fmt, (r->nfmt + 1) * sizeof(*np));
	if (!np)
		return DS_ENOMEM;
	r->fmt = np;
	r->fmt[r->nfmt].ph = ph;
	r->fmt[r->nfmt].lit = NULL;
	if (ph == PH_LIT) {
		r->fmt[r->nfmt].lit = malloc(n + 1);
		if (!r->fmt[r->nfmt].lit)
			return DS_ENOMEM;
		memcpy(r->fmt[r->nfmt].lit, lit, n);
		r->fmt[r->nfmt].lit[n] = '\0';
	}
	r->nfmt++;
	return DS_OK;
}

static int compile(rule_t *r, const char *fmt)
{
	/* Expand {common} / {combined} textually first. */
	char buf[4096];
	size_t o = 0;
	for (const char *s = fmt; *s && o < sizeof(buf) - 1;) {
		if (!strncmp(s, "{common}", 8)) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", COMMON);
			s += 8;
		} else if (!strncmp(s, "{combined}", 10)) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", COMBINED);
			s += 10;
		} else {
			buf[o++] = *s++;
		}
	}
	buf[o < sizeof(buf) ? o : sizeof(buf) - 1] = '\0';
	const char *s = buf, *lit = buf;
	while (*s) {
		if (*s != '{') {
			s++;
			continue;
		}
		const char *e = strchr(s, '}');
		if (!e)
			break;
		if (s > lit && add_piece(r, PH_LIT, lit, (size_t)(s - lit)) < 0)
			return DS_ENOMEM;
		enum ph ph = PH_UNKNOWN;
		for (size_t i = 0; i < DS_ARRAY_SIZE(phs); i++)
			if (strlen(phs[i].name) == (size_t)(e - s - 1) &&
			    !strncmp(s + 1, phs[i].name, (size_t)(e - s - 1)))
				ph = phs[i].ph;
		if (add_piece(r, ph, NULL, 0) < 0)
			return DS_ENOMEM;
		s = e + 1;
		lit = s;
	}
	if (*lit && add_piece(r, PH_LIT, lit, strlen(lit)) < 0)
		return DS_ENOMEM;
	return DS_OK;
}

static int log_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	logp_t *l = calloc(1, sizeof(*l));
	if (!l)
		return DS_ENOMEM;
	p->ctx = l;
	for (size_t o = 0; o < n; o++) {
		ds_args_t *a = &occ[o];
		ds_args_next(a);
		const char *args[64];
		size_t na = ds_args_remaining(a, args, 64);
		if (na > 64)
			return ds_args_err(a, "too many arguments");
		const char *fmt = COMMON;
		size_t nnames = na;
		/* One argument is always a name; with two or more, a last one
		 * holding "{" is the format. */
		if (na >= 2 && strchr(args[na - 1], '{')) {
			fmt = args[na - 1];
			nnames = na - 1;
		}
		unsigned classes = 0;
		while (ds_args_next_block(a)) {
			if (strcmp(ds_args_val(a), "class") != 0)
				return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
			const char *cs[8];
			size_t nc = ds_args_remaining(a, cs, 8);
			if (nc == 0)
				return ds_args_err_argcount(a);
			for (size_t i = 0; i < nc && i < 8; i++) {
				if (!strcmp(cs[i], "all"))
					classes |= 7;
				else if (!strcmp(cs[i], "success"))
					classes |= 1;
				else if (!strcmp(cs[i], "denial"))
					classes |= 2;
				else if (!strcmp(cs[i], "error"))
					classes |= 4;
				else
					return ds_args_err(a, "unknown class '%s'", cs[i]);
			}
		}
		if (!classes)
			classes = 7;
		size_t count = nnames ? nnames : 1;
		for (size_t i = 0; i < count; i++) {
			rule_t *nr = realloc(l->rules, (l->nrules + 1) * sizeof(*nr));
			if (!nr)
				return DS_ENOMEM;
			l->rules = nr;
			rule_t *r = &l->rules[l->nrules++];
			memset(r, 0, sizeof(*r));
			char zn[300];
			const char *nm = nnames ? args[i] : ".";
			if (ds_zone_normalize(nm, zn, sizeof(zn)) < 0 ||
			    ds_name_from_str(zn, NULL, r->name) < 0)
				return ds_args_err(a, "invalid name '%s'", nm);
			ds_name_lower(r->name);
			r->classes = classes;
			if (compile(r, fmt) < 0)
				return DS_ENOMEM;
		}
	}
	return DS_OK;
}

static int log_serve(ds_plugin_t *p, ds_query_t *q)
{
	logp_t *l = p->ctx;
	uint64_t *s = ds_query_scratch(q, p);
	s[0] = 0;
	for (size_t i = 0; i < l->nrules; i++) {
		if (ds_name_in(q->req.qname, l->rules[i].name)) {
			s[0] = i + 1;
			break;
		}
	}
	return DS_NEXT;
}

static const char *rflags(uint16_t f, char *buf)
{
	static const struct {
		uint16_t bit;
		const char *n;
	} fl[] = {{DS_FLAG_QR, "qr"}, {DS_FLAG_AA, "aa"}, {DS_FLAG_TC, "tc"}, {DS_FLAG_RD, "rd"},
		  {DS_FLAG_RA, "ra"}, {DS_FLAG_Z, "z"},   {DS_FLAG_AD, "ad"}, {DS_FLAG_CD, "cd"}};
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < DS_ARRAY_SIZE(fl); i++)
		if (f & fl[i].bit)
			o += (size_t)sprintf(buf + o, "%s%s", o ? "," : "", fl[i].n);
	return buf;
}

static int log_done(ds_plugin_t *p, ds_query_t *q, int rc)
{
	logp_t *l = p->ctx;
	uint64_t ri = ds_query_scratch(q, p)[0];
	if (!ri || q->proto == DS_PROTO_INTERNAL)
		return rc;
	rule_t *r = &l->rules[ri - 1];
	bool written = q->written && q->resp_len >= DS_HDR_LEN &&
		       !(rc == DS_RCODE_SERVFAIL || rc == DS_RCODE_REFUSED ||
			 rc == DS_RCODE_FORMERR || rc == DS_RCODE_NOTIMP);
	if (r->classes != 7) {
		int cls = 2;
		if (written)
			cls = ds_resp_class(ds_resp_typify(q->tx, q->resp_len, q->req.do_bit,
							   (uint32_t)time(NULL)));
		if (!(r->classes & (1u << cls)))
			return rc;
	}
	char line[2048], tmp[DS_NAME_MAX * 4 + 8];
	size_t o = 0;
	uint16_t rf = written ? ds_rd16(q->tx + 2) : 0;
	for (size_t i = 0; i < r->nfmt && o < sizeof(line) - 1; i++) {
		const char *v = tmp;
		char tb[16];
		switch (r->fmt[i].ph) {
		case PH_LIT: v = r->fmt[i].lit; break;
		case PH_TYPE: v = ds_type_str(q->req.qtype, tb); break;
		case PH_NAME: ds_name_to_str(q->req.qname, tmp, sizeof(tmp)); break;
		case PH_CLASS: v = ds_class_str(q->req.qclass, tb); break;
		case PH_PROTO: v = q->proto == DS_PROTO_TCP ? "tcp" : "udp"; break;
		case PH_REMOTE: ds_addr_host_bracketed(&q->client, tmp, sizeof(tmp)); break;
		case PH_LOCAL: ds_addr_host_bracketed(&q->local, tmp, sizeof(tmp)); break;
		case PH_PORT: snprintf(tmp, sizeof(tmp), "%d", ds_addr_port(&q->client)); break;
		case PH_SIZE: snprintf(tmp, sizeof(tmp), "%u", q->req.len); break;
		case PH_RSIZE: snprintf(tmp, sizeof(tmp), "%u", written ? q->resp_len : 0); break;
		case PH_RCODE:
			v = ds_rcode_str(written ? DS_RCODE(rf) : (unsigned)(rc < 0 ? 2 : rc), tb);
			break;
		case PH_DURATION: {
			char s[48];
			ds_fmt_seconds(ds_now_ns() - q->start_ns, s, sizeof(s));
			snprintf(tmp, sizeof(tmp), "%ss", s);
			break;
		}
		case PH_RFLAGS: rflags(rf, tmp); break;
		case PH_ID: snprintf(tmp, sizeof(tmp), "%u", q->req.id); break;
		case PH_OPCODE: snprintf(tmp, sizeof(tmp), "%u", DS_OPCODE(q->req.flags)); break;
		case PH_DO: v = q->req.do_bit ? "true" : "false"; break;
		case PH_BUFSIZE: {
			unsigned b = q->proto == DS_PROTO_TCP ? 65535 : ds_msg_udp_limit(&q->req);
			snprintf(tmp, sizeof(tmp), "%u", b);
			break;
		}
		default: v = "-"; break;
		}
		size_t n = strlen(v);
		if (o + n >= sizeof(line))
			n = sizeof(line) - 1 - o;
		memcpy(line + o, v, n);
		o += n;
	}
	line[o] = '\0';
	ds_log(DS_LOG_INFO, "%s", line);
	return rc;
}

static void log_teardown(ds_plugin_t *p)
{
	logp_t *l = p->ctx;
	for (size_t i = 0; i < l->nrules; i++) {
		for (size_t k = 0; k < l->rules[i].nfmt; k++)
			free(l->rules[i].fmt[k].lit);
		free(l->rules[i].fmt);
	}
	free(l->rules);
	free(l);
}

DS_PLUGIN_DEFINE(log) = {
	.abi = DS_PLUGIN_ABI,
	.name = "log",
	.flags = 0,
	.setup = log_setup,
	.serve = log_serve,
	.done = log_done,
	.teardown = log_teardown,
};
