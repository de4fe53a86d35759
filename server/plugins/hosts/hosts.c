/* SPDX-License-Identifier: MIT */
/*
 * hosts [FILE [ZONES...]] { INLINE...; ttl S; no_reverse; reload D;
 *                           fallthrough [ZONES...]; fallthrough_unsupported }
 *
 * Serves A/AAAA for the names of an /etc/hosts style file plus inline
 * lines, and PTR for their addresses, with CoreDNS's answers:
 *  - qname outside ZONES: next plugin (PTR queries are looked up anyway);
 *  - PTR for an address we do not know: next plugin, fallthrough or not;
 *  - a name we know but not with this type: NODATA (AA, no SOA: hosts has
 *    none), or the next plugin with fallthrough_unsupported for types other
 *    than A/AAAA/PTR;
 *  - a name we do not know: the next plugin when it is in the fallthrough
 *    zones, else SERVFAIL (CoreDNS would like NXDOMAIN but has no SOA).
 * A "*" first label matches exactly one label below its parent when no
 * entry exists for the name itself; wildcards make no PTR records.
 *
 * Reload: the control loop stats the file every `reload` (default 5s; 0 =
 * never) and on a new mtime or size builds a new table and swaps the
 * table pointer. Workers read the pointer once per query, so each query
 * sees one whole table. The old table is freed after a grace period
 * (server/src/grace.h): two stores on a worker-private line per query,
 * where a shared reference count would bounce one line between workers.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/grace.h"
#include "server/src/plugin.h"

/* ---------------------------------------------------------------- table */

typedef struct hname {
	uint32_t off;    /* flat name in pool */
	uint32_t a4, n4; /* v4 addresses: t->v4[a4 .. a4+n4) */
	uint32_t a6, n6;
} hname_t;

typedef struct haddr {
	uint8_t ip[16];    /* IPv4 as ::ffff:a.b.c.d, so both reverse trees meet */
	uint32_t first, n; /* name indexes: t->rev[first .. first+n) */
} haddr_t;

typedef struct htab {
	uint8_t *pool;
	hname_t *names;
	size_t nnames;
	uint32_t *nh; /* open addressing: name index + 1, 0 = empty */
	size_t nh_mask;
	uint8_t (*v4)[4];
	uint8_t (*v6)[16];
	haddr_t *addrs;
	size_t naddrs;
	uint32_t *ah;
	size_t ah_mask;
	uint32_t *rev;
	size_t entries; /* addresses + reverse names, as CoreDNS counts */
} htab_t;

/* One "address name" pair from a line, in file order. */
typedef struct tuple {
	uint8_t ip[16];
	bool v4;
	uint8_t name[DS_NAME_MAX];
} tuple_t;

typedef struct tuples {
	tuple_t *v;
	size_t n, cap;
} tuples_t;

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

static void htab_free(htab_t *t)
{
	if (!t)
		return;
	free(t->pool);
	free(t->names);
	free(t->nh);
	free(t->v4);
	free(t->v6);
	free(t->addrs);
	free(t->ah);
	free(t->rev);
	free(t);
}

static const hname_t *name_find(const htab_t *t, const uint8_t *name)
{
	size_t len = ds_name_len(name);
	for (size_t i = hash_bytes(name, len) & t->nh_mask;; i = (i + 1) & t->nh_mask) {
		uint32_t v = t->nh[i];
		if (!v)
			return NULL;
		const hname_t *e = &t->names[v - 1];
		if (!memcmp(t->pool + e->off, name, len))
			return e;
	}
}

static const haddr_t *addr_find(const htab_t *t, const uint8_t ip[16])
{
	for (size_t i = hash_bytes(ip, 16) & t->ah_mask;; i = (i + 1) & t->ah_mask) {
		uint32_t v = t->ah[i];
		if (!v)
			return NULL;
		if (!memcmp(t->addrs[v - 1].ip, ip, 16))
			return &t->addrs[v - 1];
	}
}

static bool is_wildcard(const uint8_t *name)
{
	return name[0] == 1 && name[1] == '*';
}

/* Tables are immutable once built; building sizes everything from the
 * tuple count so nothing is rehashed. */
static htab_t *htab_build(const tuples_t *tu, bool reverse)
{
	htab_t *t = calloc(1, sizeof(*t));
	size_t n = tu->n ? tu->n : 1;
	if (!t)
		return NULL;
	t->pool = malloc(n * DS_NAME_MAX);
	t->names = calloc(n, sizeof(*t->names));
	t->nh_mask = pow2_at_least(2 * n) - 1;
	t->nh = calloc(t->nh_mask + 1, sizeof(*t->nh));
	t->v4 = calloc(n, 4);
	t->v6 = calloc(n, 16);
	t->addrs = calloc(n, sizeof(*t->addrs));
	t->ah_mask = t->nh_mask;
	t->ah = calloc(t->ah_mask + 1, sizeof(*t->ah));
	t->rev = calloc(n, sizeof(*t->rev));
	uint32_t *tname = calloc(n, sizeof(*tname)), *taddr = calloc(n, sizeof(*taddr));
	if (!t->pool || !t->names || !t->nh || !t->v4 || !t->v6 || !t->addrs || !t->ah || !t->rev ||
	    !tname || !taddr)
		goto fail;
	size_t pool_len = 0;
	/* Pass 1: unique names and addresses, and how many of each they get. */
	for (size_t k = 0; k < tu->n; k++) {
		const tuple_t *x = &tu->v[k];
		size_t len = ds_name_len(x->name);
		size_t i = hash_bytes(x->name, len) & t->nh_mask;
		for (; t->nh[i]; i = (i + 1) & t->nh_mask)
			if (!memcmp(t->pool + t->names[t->nh[i] - 1].off, x->name, len))
				break;
		if (!t->nh[i]) {
			hname_t *e = &t->names[t->nnames];
			e->off = (uint32_t)pool_len;
			memcpy(t->pool + pool_len, x->name, len);
			pool_len += len;
			t->nh[i] = (uint32_t)++t->nnames;
		}
		hname_t *e = &t->names[t->nh[i] - 1];
		tname[k] = t->nh[i] - 1;
		if (x->v4)
			e->n4++;
		else
			e->n6++;
		taddr[k] = UINT32_MAX;
		if (!reverse || is_wildcard(x->name))
			continue;
		size_t j = hash_bytes(x->ip, 16) & t->ah_mask;
		for (; t->ah[j]; j = (j + 1) & t->ah_mask)
			if (!memcmp(t->addrs[t->ah[j] - 1].ip, x->ip, 16))
				break;
		if (!t->ah[j]) {
			memcpy(t->addrs[t->naddrs].ip, x->ip, 16);
			t->ah[j] = (uint32_t)++t->naddrs;
		}
		taddr[k] = t->ah[j] - 1;
		t->addrs[t->ah[j] - 1].n++;
	}
	/* Pass 2: lay the lists out back to back, in file order. */
	uint32_t o4 = 0, o6 = 0, orv = 0;
	for (size_t i = 0; i < t->nnames; i++) {
		t->names[i].a4 = o4;
		t->names[i].a6 = o6;
		o4 += t->names[i].n4;
		o6 += t->names[i].n6;
		t->names[i].n4 = t->names[i].n6 = 0;
	}
	for (size_t i = 0; i < t->naddrs; i++) {
		t->addrs[i].first = orv;
		orv += t->addrs[i].n;
		t->addrs[i].n = 0;
	}
	for (size_t k = 0; k < tu->n; k++) {
		const tuple_t *x = &tu->v[k];
		hname_t *e = &t->names[tname[k]];
		if (x->v4)
			memcpy(t->v4[e->a4 + e->n4++], x->ip + 12, 4);
		else
			memcpy(t->v6[e->a6 + e->n6++], x->ip, 16);
		if (taddr[k] != UINT32_MAX) {
			haddr_t *a = &t->addrs[taddr[k]];
			t->rev[a->first + a->n++] = tname[k];
		}
	}
	t->entries = tu->n + orv;
	free(tname);
	free(taddr);
	return t;
fail:
	free(tname);
	free(taddr);
	htab_free(t);
	return NULL;
}

/* ------------------------------------------------------------- parsing */

typedef struct hosts {
	char *path;
	uint8_t (*origins)[DS_NAME_MAX];
	size_t norigins;
	uint8_t (*fall)[DS_NAME_MAX];
	size_t nfall; /* 0: no fallthrough */
	bool fall_unsupported;
	bool reverse;
	uint32_t ttl;
	int64_t reload;
	tuples_t inline_tu; /* inline entries, appended after the file's */

	_Atomic(htab_t *) cur;
	ds_grace_t grace; /* old tables wait here for readers to leave */
	bool have_stat;
	struct timespec mtime;
	off_t size;
	ds_timer_t tick;
	bool ticking;
} hosts_t;

static int tuples_push(tuples_t *tu, const tuple_t *x)
{
	if (tu->n == tu->cap) {
		size_t nc = tu->cap ? tu->cap * 2 : 64;
		tuple_t *nv = realloc(tu->v, nc * sizeof(*nv));
		if (!nv)
			return DS_ENOMEM;
		tu->v = nv;
		tu->cap = nc;
	}
	tu->v[tu->n++] = *x;
	return DS_OK;
}

/* Address as hosts(5) writes it, IPv6 zone dropped; false if not an IP. */
static bool parse_ip(const char *s, size_t n, uint8_t ip[16], bool *v4)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *pct = memchr(s, '%', n);
	if (pct)
		n = (size_t)(pct - s);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memcpy(ip, mapped, 12);
	if (inet_pton(AF_INET, buf, ip + 12) == 1) {
		*v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip) != 1)
		return false;
	/* An IPv4-mapped IPv6 address is an IPv4 address, as in Go. */
	*v4 = !memcmp(ip, mapped, 12);
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * One line of hosts text: "ADDRESS NAME [NAME...]". Lines that are not
 * that (no address, fewer than two fields) are skipped, as CoreDNS does;
 * names outside the origins are left out.
 */
static int parse_line(hosts_t *h, const char *s, size_t n, tuples_t *tu)
{
	const char *hash = memchr(s, '#', n);
	if (hash)
		n = (size_t)(hash - s);
	const char *f[2 + 256];
	size_t fl[2 + 256], nf = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		size_t st = i;
		while (i < n && !is_space(s[i]))
			i++;
		if (nf < DS_ARRAY_SIZE(f)) {
			f[nf] = s + st;
			fl[nf++] = i - st;
		}
	}
	if (nf < 2)
		return DS_OK;
	tuple_t x;
	if (!parse_ip(f[0], fl[0], x.ip, &x.v4))
		return DS_OK;
	for (size_t i = 1; i < nf; i++) {
		char nm[DS_NAME_MAX * 4 + 2];
		if (fl[i] >= sizeof(nm) - 1)
			continue;
		memcpy(nm, f[i], fl[i]);
		nm[fl[i]] = '\0';
		if (ds_name_from_str(nm, NULL, x.name) < 0)
			continue;
		ds_name_lower(x.name);
		if (ds_zone_match((const uint8_t(*)[DS_NAME_MAX])h->origins, h->norigins, x.name) <
		    0)
			continue;
		if (tuples_push(tu, &x) < 0)
			return DS_ENOMEM;
	}
	return DS_OK;
}

static int parse_text(hosts_t *h, const char *text, size_t len, tuples_t *tu)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len;
		int rc = parse_line(h, text + i, e - i, tu);
		if (rc < 0)
			return rc;
		i = e + 1;
	}
	return DS_OK;
}

/*
 * Read the file (if it can be read) plus the inline entries into a new
 * table. *changed is false when the file has the size and mtime we saw
 * last, so the caller keeps what it has. Returns NULL when there is
 * nothing new or on failure.
 */
static htab_t *load(hosts_t *h, bool force, bool *changed)
{
	*changed = false;
	FILE *fp = fopen(h->path, "r");
	struct stat st;
	tuples_t tu = {0};
	htab_t *t = NULL;
	char *text = NULL;
	if (!fp) {
		/* Missing file: keep serving what we have (inline at least). */
		if (!force)
			return NULL;
		goto build;
	}
	if (fstat(fileno(fp), &st) < 0 || S_ISDIR(st.st_mode)) {
		fclose(fp);
		if (!force)
			return NULL;
		goto build;
	}
	if (!force && h->have_stat && st.st_size == h->size &&
	    st.st_mtim.tv_sec == h->mtime.tv_sec && st.st_mtim.tv_nsec == h->mtime.tv_nsec) {
		fclose(fp);
		return NULL;
	}
	text = malloc((size_t)st.st_size + 1);
	size_t got = text ? fread(text, 1, (size_t)st.st_size, fp) : 0;
	fclose(fp);
	if (!text)
		return NULL;
	if (parse_text(h, text, got, &tu) < 0)
		goto out;
	h->have_stat = true;
	h->mtime = st.st_mtim;
	h->size = st.st_size;
build:
	for (size_t i = 0; i < h->inline_tu.n; i++)
		if (tuples_push(&tu, &h->inline_tu.v[i]) < 0)
			goto out;
	t = htab_build(&tu, h->reverse);
	*changed = t != NULL;
out:
	free(text);
	free(tu.v);
	return t;
}

/* --------------------------------------------------------------- reload */

static void htab_free_any(void *t)
{
	htab_free(t);
}

static void swap_in(hosts_t *h, htab_t *t)
{
	ds_grace_retire(&h->grace, atomic_exchange(&h->cur, t), htab_free_any);
}

static void tick(ds_worker_t *w, ds_timer_t *tm, void *arg)
{
	hosts_t *h = arg;
	ds_grace_reclaim(&h->grace, false);
	bool changed;
	htab_t *t = load(h, false, &changed);
	if (t) {
		swap_in(h, t);
		ds_plog(DS_LOG_DEBUG, "hosts", "parsed hosts file into %zu entries", t->entries);
	}
	/* Come back soon while a retired table waits, else at the next reload. */
	int64_t next = h->reload;
	if (ds_grace_pending(&h->grace) && next > DS_NS_PER_SEC)
		next = DS_NS_PER_SEC;
	ds_timer_start(w, tm, next);
}

/* ---------------------------------------------------------------- setup */

static int fall_zones(ds_args_t *a, hosts_t *h)
{
	free(h->fall);
	h->fall = NULL;
	const char *zs[64];
	size_t k = ds_args_remaining(a, zs, 64);
	if (k > 64)
		return ds_args_err(a, "too many zones");
	size_t cnt = k ? k : 1;
	h->fall = calloc(cnt, DS_NAME_MAX);
	if (!h->fall)
		return DS_ENOMEM;
	h->nfall = cnt;
	for (size_t i = 0; i < k; i++) {
		char norm[300];
		if (ds_zone_normalize(zs[i], norm, sizeof(norm)) < 0 ||
		    ds_name_from_str(norm, NULL, h->fall[i]) < 0)
			return ds_args_err(a, "invalid zone '%s'", zs[i]);
		ds_name_lower(h->fall[i]);
	}
	/* no zones: everything (the root) */
	return DS_OK;
}

static void hosts_teardown(ds_plugin_t *p)
{
	hosts_t *h = p->ctx;
	if (!h)
		return;
	ds_grace_fini(&h->grace);
	htab_free(atomic_load(&h->cur));
	free(h->inline_tu.v);
	free(h->fall);
	free(h->origins);
	free(h->path);
	free(h);
}

static int hosts_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	hosts_t *h = calloc(1, sizeof(*h));
	if (!h)
		return DS_ENOMEM;
	p->ctx = h;
	h->reverse = true;
	h->ttl = 3600;
	h->reload = 5 * DS_NS_PER_SEC;
	ds_args_next(a);
	h->path = ds_xstrdup("/etc/hosts");
	if (ds_args_next_arg(a)) {
		free(h->path);
		h->path = ds_xstrdup(ds_args_val(a));
		struct stat st;
		if (stat(h->path, &st) < 0) {
			if (errno != ENOENT)
				return ds_args_err(a, "unable to access hosts file '%s': %s",
				                   h->path, strerror(errno));
			ds_plog(DS_LOG_WARNING, "hosts", "File does not exist: %s", h->path);
		} else if (S_ISDIR(st.st_mode)) {
			ds_plog(DS_LOG_WARNING, "hosts", "Hosts file \"%s\" is a directory",
			        h->path);
		}
	}
	int rc = ds_args_zones(a, p->block, &h->origins, &h->norigins);
	if (rc < 0)
		return rc;
	/* Inline lines are collected as text first: which origins they keep
	 * does not depend on where they sit in the block. */
	char *inl = NULL;
	size_t inl_len = 0;
	bool saw_fall = false;
	while (ds_args_next_block(a)) {
		const char *k = ds_args_val(a);
		const char *v[256];
		size_t nv;
		if (!strcmp(k, "fallthrough")) {
			if ((rc = fall_zones(a, h)) < 0)
				goto out;
			saw_fall = true;
		} else if (!strcmp(k, "fallthrough_unsupported")) {
			if (ds_args_remaining(a, v, 1) != 0) {
				rc = ds_args_err_argcount(a);
				goto out;
			}
			h->fall_unsupported = true;
		} else if (!strcmp(k, "no_reverse")) {
			h->reverse = false;
		} else if (!strcmp(k, "ttl")) {
			nv = ds_args_remaining(a, v, 1);
			long long ttl;
			if (nv < 1) {
				rc = ds_args_err(a, "ttl needs a time in second");
				goto out;
			}
			if (ds_parse_int(v[0], -(1LL << 62), 1LL << 62, &ttl) < 0) {
				rc = ds_args_err(a, "ttl needs a number of second");
				goto out;
			}
			if (ttl <= 0 || ttl > 65535) {
				rc = ds_args_err(a, "ttl provided is invalid");
				goto out;
			}
			h->ttl = (uint32_t)ttl;
		} else if (!strcmp(k, "reload")) {
			nv = ds_args_remaining(a, v, 1);
			if (nv != 1) {
				rc = ds_args_err(
				    a, "reload needs a duration (zero seconds to disable)");
				goto out;
			}
			if (ds_parse_duration(v[0], &h->reload) < 0) {
				rc = ds_args_err(a, "invalid duration for reload '%s'", v[0]);
				goto out;
			}
			if (h->reload < 0) {
				rc = ds_args_err(a, "invalid negative duration for reload '%s'",
				                 v[0]);
				goto out;
			}
		} else {
			/* Before fallthrough, any other line is a hosts entry. We insist
			 * it starts with an address: CoreDNS would silently ignore a
			 * misspelt option here. */
			uint8_t ip[16];
			bool v4;
			if (saw_fall || !parse_ip(k, strlen(k), ip, &v4)) {
				rc = ds_args_err(a, "unknown property '%s'", k);
				goto out;
			}
			nv = ds_args_remaining(a, v, DS_ARRAY_SIZE(v));
			size_t need = strlen(k) + 2;
			for (size_t i = 0; i < nv && i < DS_ARRAY_SIZE(v); i++)
				need += strlen(v[i]) + 1;
			char *ni = realloc(inl, inl_len + need + 1);
			if (!ni) {
				rc = DS_ENOMEM;
				goto out;
			}
			inl = ni;
			inl_len += (size_t)sprintf(inl + inl_len, "%s", k);
			for (size_t i = 0; i < nv && i < DS_ARRAY_SIZE(v); i++)
				inl_len += (size_t)sprintf(inl + inl_len, " %s", v[i]);
			inl[inl_len++] = '\n';
		}
	}
	if (h->fall_unsupported && !h->nfall) {
		rc = ds_args_err(a, "fallthrough_unsupported requires fallthrough");
		goto out;
	}
	if (inl && (rc = parse_text(h, inl, inl_len, &h->inline_tu)) < 0)
		goto out;
	if ((rc = ds_grace_init(&h->grace, p->nworkers, "hosts")) < 0)
		goto out;
	bool changed;
	htab_t *t = load(h, true, &changed);
	if (!t) {
		rc = DS_ENOMEM;
		goto out;
	}
	atomic_init(&h->cur, t);
	rc = DS_OK;
out:
	free(inl);
	return rc;
}

static int hosts_start(ds_plugin_t *p, ds_err_t *err)
{
	hosts_t *h = p->ctx;
	if (h->reload > 0) {
		ds_timer_init(&h->tick, tick, h);
		ds_timer_start(ds_control_worker(), &h->tick, h->reload);
		h->ticking = true;
	}
	return DS_OK;
}

static void hosts_stop(ds_plugin_t *p)
{
	hosts_t *h = p->ctx;
	if (h->ticking) {
		ds_timer_stop(ds_control_worker(), &h->tick);
		h->ticking = false;
	}
}

/* ---------------------------------------------------------------- serve */

/* Address of a reverse name, IPv4 as ::ffff:a.b.c.d; false if it is not a
 * whole address under in-addr.arpa. or ip6.arpa. */
static bool reverse_addr(const uint8_t *qname, uint8_t ip[16])
{
	const uint8_t *lab[40];
	int n = 0;
	for (const uint8_t *l = qname; *l; l += *l + 1) {
		if (n == 40)
			return false;
		lab[n++] = l;
	}
	if (n == 6 && ds_name_eq(lab[4], (const uint8_t *)"\7in-addr\4arpa")) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		memcpy(ip, mapped, 12);
		for (int i = 0; i < 4; i++) {
			const uint8_t *l = lab[3 - i];
			if (l[0] < 1 || l[0] > 3 || (l[0] > 1 && l[1] == '0'))
				return false;
			unsigned v = 0;
			for (int k = 1; k <= l[0]; k++) {
				if (l[k] < '0' || l[k] > '9')
					return false;
				v = v * 10 + (unsigned)(l[k] - '0');
			}
			if (v > 255)
				return false;
			ip[12 + i] = (uint8_t)v;
		}
		return true;
	}
	if (n == 34 && ds_name_eq(lab[32], (const uint8_t *)"\3ip6\4arpa")) {
		for (int i = 0; i < 32; i++) {
			const uint8_t *l = lab[31 - i];
			if (l[0] != 1)
				return false;
			int c = l[1], v;
			if (c >= '0' && c <= '9')
				v = c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = (c | 0x20) - 'a' + 10;
			else
				return false;
			if (i % 2 == 0)
				ip[i / 2] = (uint8_t)(v << 4);
			else
				ip[i / 2] |= (uint8_t)v;
		}
		return true;
	}
	return false;
}

/* The entry for qname, or for "*.<parent>" when qname itself has none. */
static const hname_t *lookup(const htab_t *t, const uint8_t *qname)
{
	const hname_t *e = name_find(t, qname);
	if (e || !qname[0])
		return e;
	const uint8_t *parent = qname + qname[0] + 1;
	if (!parent[0])
		return NULL;
	uint8_t wild[DS_NAME_MAX];
	size_t pl = ds_name_len(parent);
	if (pl + 2 > DS_NAME_MAX)
		return NULL;
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, parent, pl);
	return name_find(t, wild);
}

static bool falls(const hosts_t *h, const uint8_t *qname)
{
	return h->nfall &&
	       ds_zone_match((const uint8_t(*)[DS_NAME_MAX])h->fall, h->nfall, qname) >= 0;
}

/* The query proper, between the grace-period counter bumps. */
static int answer(ds_plugin_t *p, ds_query_t *q, const htab_t *t)
{
	hosts_t *h = p->ctx;
	const uint8_t *qname = q->req.qname;
	uint16_t qtype = q->req.qtype;
	bool in_zone =
	    ds_zone_match((const uint8_t(*)[DS_NAME_MAX])h->origins, h->norigins, qname) >= 0;
	if (!in_zone && qtype != DS_TYPE_PTR)
		return DS_NEXT;
	ds_wbuf_t *wb = &q->resp;
	if (qtype == DS_TYPE_PTR) {
		uint8_t ip[16];
		const haddr_t *a = reverse_addr(qname, ip) ? addr_find(t, ip) : NULL;
		if (!a)
			return DS_NEXT; /* whatever fallthrough says */
		ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
		for (uint32_t i = 0; i < a->n; i++) {
			int m = ds_wb_rr_begin(wb, qname, DS_TYPE_PTR, DS_CLASS_IN, h->ttl);
			ds_wb_name(wb, t->pool + t->names[t->rev[a->first + i]].off, true);
			ds_wb_rr_end(wb, m);
		}
		return ds_query_reply(q, p) < 0 ? DS_RCODE_SERVFAIL : DS_RCODE_NOERROR;
	}
	const hname_t *e = lookup(t, qname);
	if (!e)
		return falls(h, qname) ? DS_NEXT : DS_RCODE_SERVFAIL;
	if (qtype != DS_TYPE_A && qtype != DS_TYPE_AAAA && h->fall_unsupported && falls(h, qname))
		return DS_NEXT;
	ds_wb_reply(wb, &q->req, DS_RCODE_NOERROR, DS_FLAG_AA);
	if (qtype == DS_TYPE_A)
		for (uint32_t i = 0; i < e->n4; i++)
			ds_wb_rr(wb, qname, DS_TYPE_A, DS_CLASS_IN, h->ttl, t->v4[e->a4 + i], 4);
	else if (qtype == DS_TYPE_AAAA)
		for (uint32_t i = 0; i < e->n6; i++)
			ds_wb_rr(wb, qname, DS_TYPE_AAAA, DS_CLASS_IN, h->ttl, t->v6[e->a6 + i],
			         16);
	return ds_query_reply(q, p) < 0 ? DS_RCODE_SERVFAIL : DS_RCODE_NOERROR;
}

static int hosts_serve(ds_plugin_t *p, ds_query_t *q)
{
	hosts_t *h = p->ctx;
	unsigned wid = ds_query_worker_id(q);
	if (DS_UNLIKELY(wid >= h->grace.nslots))
		return DS_RCODE_SERVFAIL;
	uint64_t v = ds_grace_enter(&h->grace, wid);
	int rc = answer(p, q, atomic_load(&h->cur));
	ds_grace_leave(&h->grace, wid, v);
	return rc;
}

DS_PLUGIN_DEFINE(hosts) = {
    .abi = DS_PLUGIN_ABI,
    .name = "hosts",
    .flags = DS_PLUGIN_ONCE,
    .setup = hosts_setup,
    .start = hosts_start,
    .stop = hosts_stop,
    .serve = hosts_serve,
    .teardown = hosts_teardown,
};
