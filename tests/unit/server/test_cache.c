/* SPDX-License-Identifier: MIT */
/* The cache plugin: CoreDNS's key, TTL rules, what is cached, capacity and
 * eviction, prefetch and serve_stale, driven with a fake clock through a
 * real chain (cache -> forward -> fake upstream). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "server/plugins/cache/cache.h"
#include "tests/unit/server/harness.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

typedef struct fx {
	ds_th_up_t *up;
	ds_th_t *t;
} fx_t;

/* Build "cache <args> { <opts> }" in front of forward to a fake upstream. */
static fx_t *mk(ds_th_up_mode_t mode, uint32_t ttl, const char *cache_line, const char *opts)
{
	fx_t *f = calloc(1, sizeof(*f));
	f->up = ds_th_up_new(mode, ttl);
	char cf[2048];
	snprintf(cf, sizeof(cf),
		 ".:53 {\n prometheus 127.0.0.1:0\n %s {\n%s\n }\n forward . 127.0.0.1:%d\n}\n",
		 cache_line, opts ? opts : "", f->up->port);
	ds_err_t err = {{0}};
	f->t = ds_th_new(cf, &err);
	if (!f->t)
		fprintf(stderr, "config: %s\n%s", err.msg, cf);
	assert_non_null(f->t);
	fake_now = 1000 * DS_NS_PER_SEC;
	ds_cache_clock = fake_clock;
	return f;
}

static void rm(fx_t *f)
{
	ds_th_free(f->t);
	ds_th_up_free(f->up);
	free(f);
	ds_cache_clock = ds_now_ns;
}

static uint32_t first_ttl(const ds_th_res_t *r)
{
	ds_rr_iter_t it;
	ds_rr_t rr;
	if (ds_rr_iter_init(&it, r->wire, r->len) < 0 || ds_rr_next(&it, &rr) != 1)
		return 0xffffffff;
	return rr.ttl;
}

static void q(fx_t *f, const char *name, const char *type, unsigned opts, ds_th_res_t *r)
{
	assert_int_equal(ds_th_query(f->t, name, type, opts, 3000, r), 0);
	assert_true(r->answered);
}

static void test_key(void **st)
{
	uint8_t a[DS_NAME_MAX], b[DS_NAME_MAX];
	ds_name_from_str("www.example.org.", NULL, a);
	ds_name_from_str("www.example.org.", NULL, b);
	uint64_t k = ds_cache_key(a, DS_TYPE_A, DS_CLASS_IN, false, false);
	assert_int_equal(k, ds_cache_key(b, DS_TYPE_A, DS_CLASS_IN, false, false));
	/* DO and CD bits, qtype and class are all part of the key */
	assert_true(k != ds_cache_key(a, DS_TYPE_A, DS_CLASS_IN, true, false));
	assert_true(k != ds_cache_key(a, DS_TYPE_A, DS_CLASS_IN, false, true));
	assert_true(k != ds_cache_key(a, DS_TYPE_AAAA, DS_CLASS_IN, false, false));
	assert_true(k != ds_cache_key(a, DS_TYPE_A, DS_CLASS_CH, false, false));
	/* clamp: min first, then max */
	assert_int_equal(ds_cache_clamp(0, 5, 3600), 5);
	assert_int_equal(ds_cache_clamp(100, 5, 30), 30);
	assert_int_equal(ds_cache_clamp(10, 5, 30), 10);
	assert_int_equal(ds_cache_clamp(10, 60, 30), 30);
}

static void test_ttl_capped_and_counting_down(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 100, "cache 30", NULL);
	ds_th_res_t r;
	q(f, "a.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(first_ttl(&r), 30); /* capped by cache 30 */
	assert_int_equal(f->up->udp_queries, 1);
	fake_now += 10 * DS_NS_PER_SEC + 500 * DS_NS_PER_MS;
	q(f, "a.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 20); /* whole seconds elapsed */
	assert_int_equal(f->up->udp_queries, 1);  /* a hit */
	assert_true(r.flags & DS_FLAG_AA);         /* always AA from cache */
	assert_true(r.flags & DS_FLAG_RA);         /* RA as the upstream said */
	assert_string_equal(r.writer, "cache");
	fake_now += 20 * DS_NS_PER_SEC;            /* 30.5 s: expired */
	q(f, "a.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2);
	assert_int_equal(first_ttl(&r), 30);
	rm(f);
}

static void test_min_ttl_floor(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 0, "cache", NULL);
	ds_th_res_t r;
	q(f, "zero.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 5); /* TTL 0 is still cached for MINTTL 5 */
	fake_now += 4 * DS_NS_PER_SEC;
	q(f, "zero.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 1);
	assert_int_equal(first_ttl(&r), 1);
	rm(f);
	/* success CAP TTL MINTTL raises a short TTL to MINTTL */
	f = mk(DS_TH_UP_ANSWER, 2, "cache", "success 1000 3600 60");
	q(f, "short.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 60);
	rm(f);
}

static void test_denial_cached_with_soa_only(void **st)
{
	fx_t *f = mk(DS_TH_UP_NXDOMAIN, 60, "cache", NULL);
	ds_th_res_t r;
	q(f, "nx.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	q(f, "nx.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	assert_int_equal(f->up->udp_queries, 1);
	assert_true(r.ns == 1); /* the SOA comes back from cache */
	rm(f);
	f = mk(DS_TH_UP_NXDOMAIN_NOSOA, 60, "cache", NULL);
	q(f, "nx.example.", "A", 0, &r);
	q(f, "nx.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2); /* NXDOMAIN without SOA: not cached */
	rm(f);
	/* NODATA: denial, capped by the denial TTL */
	f = mk(DS_TH_UP_NODATA, 3000, "cache", "denial 1000 100");
	q(f, "nodata.example.", "AAAA", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(first_ttl(&r), 100);
	q(f, "nodata.example.", "AAAA", 0, &r);
	assert_int_equal(f->up->udp_queries, 1);
	rm(f);
}

static void test_servfail_and_truncated(void **st)
{
	fx_t *f = mk(DS_TH_UP_SERVFAIL, 60, "cache", NULL);
	ds_th_res_t r;
	q(f, "sf.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	q(f, "sf.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 1); /* SERVFAIL kept for 5 s */
	fake_now += 6 * DS_NS_PER_SEC;
	q(f, "sf.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2);
	rm(f);
	f = mk(DS_TH_UP_SERVFAIL, 60, "cache", "servfail 0");
	q(f, "sf.example.", "A", 0, &r);
	q(f, "sf.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2);
	rm(f);
	/* a truncated answer is never cached */
	f = mk(DS_TH_UP_TRUNCATE, 60, "cache", NULL);
	q(f, "tc.example.", "A", 0, &r);
	assert_true(r.flags & DS_FLAG_TC);
	q(f, "tc.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2);
	rm(f);
}

static void test_key_bits_and_case(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 300, "cache", NULL);
	ds_th_res_t r;
	q(f, "MiXeD.example.", "A", 0, &r);
	q(f, "mixed.EXAMPLE.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 1);
	/* the reply carries the asker's spelling */
	assert_non_null(strstr(r.text, "mixed.EXAMPLE."));
	/* DO is part of the key: a separate miss */
	q(f, "mixed.example.", "A", DS_TH_DO, &r);
	assert_int_equal(f->up->udp_queries, 2);
	assert_true(f->up->last_do);
	/* and a different type too */
	q(f, "mixed.example.", "AAAA", 0, &r);
	assert_int_equal(f->up->udp_queries, 3);
	rm(f);
}

static void test_keepttl(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 50, "cache", "keepttl");
	ds_th_res_t r;
	q(f, "k.example.", "A", 0, &r);
	fake_now += 20 * DS_NS_PER_SEC;
	q(f, "k.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 50);
	rm(f);
}

static void test_disable(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 50, "cache", "disable success example.");
	ds_th_res_t r;
	q(f, "d.example.", "A", 0, &r);
	q(f, "d.example.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 2);
	q(f, "d.other.", "A", 0, &r);
	q(f, "d.other.", "A", 0, &r);
	assert_int_equal(f->up->udp_queries, 3);
	rm(f);
}

static void test_capacity_and_eviction(void **st)
{
	ds_ctable_t t;
	/* 10000 -> 39 per shard (9984); below 1024 -> 4 per shard */
	assert_int_equal(ds_ctable_init(&t, 10000), DS_OK);
	assert_int_equal(t.shard_cap, 39);
	ds_ctable_free(&t);
	assert_int_equal(ds_ctable_init(&t, 100), DS_OK);
	assert_int_equal(t.shard_cap, 4);
	/* Fill one shard past its capacity: every insert beyond it evicts. */
	uint8_t msg[64];
	ds_wbuf_t wb;
	uint8_t name[DS_NAME_MAX];
	ds_name_from_str("e.example.", NULL, name);
	ds_wb_init(&wb, msg, sizeof(msg));
	ds_wb_query(&wb, 1, DS_FLAG_QR, name, DS_TYPE_A, DS_CLASS_IN);
	int len = ds_wb_finish(&wb);
	int evicted = 0;
	for (uint64_t i = 0; i < 20; i++) {
		uint64_t key = (i << 8) | 7; /* all in shard 7 */
		ds_centry_t *e = ds_centry_new(msg, (size_t)len, key, 60, 0);
		assert_non_null(e);
		evicted += ds_ctable_put(&t, e);
	}
	assert_int_equal(evicted, 16);
	assert_int_equal(ds_ctable_len(&t), 4);
	/* the survivors are findable, the rest gone */
	int found = 0;
	ds_cshard_t *s = ds_ctable_shard(&t, 7);
	for (uint64_t i = 0; i < 20; i++)
		found += ds_cshard_find(s, (i << 8) | 7) != NULL;
	assert_int_equal(found, 4);
	/* replacing a key is not an eviction */
	ds_centry_t *e = ds_centry_new(msg, (size_t)len, (19u << 8) | 7, 60, 0);
	bool ev = ds_ctable_put(&t, e);
	(void)ev;
	assert_int_equal(ds_ctable_len(&t), ds_cshard_find(s, (19u << 8) | 7) ? 4 : 4);
	ds_ctable_free(&t);
}

static void test_prefetch(void **st)
{
	/* prefetch after 2 hits within 1m, in the last 50% of the TTL */
	fx_t *f = mk(DS_TH_UP_ANSWER, 10, "cache", "prefetch 2 1m 50%");
	ds_th_res_t r;
	q(f, "p.example.", "A", 0, &r);          /* miss: stored for 10 s */
	assert_int_equal(f->up->udp_queries, 1);
	fake_now += 1 * DS_NS_PER_SEC;
	q(f, "p.example.", "A", 0, &r);          /* hit 1, 9 s left: no */
	fake_now += 2 * DS_NS_PER_SEC;
	q(f, "p.example.", "A", 0, &r);          /* hit 2, 7 s left > 5: no */
	ds_th_run(f->t, 50);
	assert_int_equal(f->up->udp_queries + f->up->tcp_queries, 1);
	fake_now += 3 * DS_NS_PER_SEC;
	q(f, "p.example.", "A", 0, &r);          /* hit 3, 4 s left <= 5: prefetch */
	assert_int_equal(first_ttl(&r), 4);      /* the client still gets the cached one */
	ds_th_run(f->t, 200);
	/* refreshes pretend to be TCP, as CoreDNS's do */
	assert_int_equal(f->up->udp_queries + f->up->tcp_queries, 2);
	q(f, "p.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 10);     /* refreshed item */
	assert_int_equal(f->up->udp_queries + f->up->tcp_queries, 2);
	rm(f);
}

static void test_no_prefetch_without_hits(void **st)
{
	/* prefetch is hit-driven: a name nobody asks for is not refreshed */
	fx_t *f = mk(DS_TH_UP_ANSWER, 10, "cache", "prefetch 1 1m 50%");
	ds_th_res_t r;
	q(f, "idle.example.", "A", 0, &r);
	fake_now += 8 * DS_NS_PER_SEC;
	ds_th_run(f->t, 100);
	assert_int_equal(f->up->udp_queries + f->up->tcp_queries, 1);
	rm(f);
}

static void test_serve_stale(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 10, "cache", "serve_stale 1h");
	ds_th_res_t r;
	q(f, "s.example.", "A", 0, &r);
	/* the upstream dies, the item expires */
	ds_th_up_close(f->up);
	fake_now += 30 * DS_NS_PER_SEC;
	q(f, "s.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR); /* stale answer, at once */
	assert_int_equal(first_ttl(&r), 0);
	ds_th_run(f->t, 100);
	/* beyond the stale window: a miss, and with the upstream gone, SERVFAIL */
	fake_now += 3700 * DS_NS_PER_SEC;
	ds_th_res_t r2;
	assert_int_equal(ds_th_query(f->t, "s.example.", "A", 0, 8000, &r2), 0);
	assert_int_equal(r2.rcode, DS_RCODE_SERVFAIL);
	rm(f);
}

static void test_serve_stale_verify(void **st)
{
	fx_t *f = mk(DS_TH_UP_ANSWER, 10, "cache", "serve_stale 1h verify");
	ds_th_res_t r;
	q(f, "v.example.", "A", 0, &r);
	/* upstream up: verify gets a fresh answer (TTL 10 again) */
	fake_now += 20 * DS_NS_PER_SEC;
	q(f, "v.example.", "A", 0, &r);
	assert_int_equal(first_ttl(&r), 10);
	assert_int_equal(f->up->udp_queries, 2);
	/* upstream answering SERVFAIL: the stale item is served instead */
	f->up->mode = DS_TH_UP_SERVFAIL;
	fake_now += 20 * DS_NS_PER_SEC;
	q(f, "v.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(first_ttl(&r), 0);
	rm(f);
}

static void test_config_errors(void **st)
{
	static const char *bad[] = {
		".:53 {\n cache 0\n whoami\n}\n",
		".:53 {\n cache {\n  success\n }\n whoami\n}\n",
		".:53 {\n cache {\n  prefetch 1 1m 5%\n }\n whoami\n}\n",
		".:53 {\n cache {\n  prefetch 1 1m 50\n }\n whoami\n}\n",
		".:53 {\n cache {\n  servfail 10m\n }\n whoami\n}\n",
		".:53 {\n cache {\n  bogus\n }\n whoami\n}\n",
		".:53 {\n cache\n cache\n whoami\n}\n",
	};
	static const char *want[] = {
		"cache TTL can not be zero or negative",
		"Wrong argument count",
		"percentage should fall in range [10, 90]",
		"last character of percentage should be",
		"caching SERVFAIL responses over 5 minutes is not permitted",
		"unknown property 'bogus'",
		"can only be used once per Server Block",
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		ds_err_t err = {{0}};
		ds_th_t *t = ds_th_new(bad[i], &err);
		assert_null(t);
		if (!strstr(err.msg, want[i]) || !strstr(err.msg, "Corefile:"))
			fail_msg("config %zu: got '%s', want '%s'", i, err.msg, want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_ttl_capped_and_counting_down),
		cmocka_unit_test(test_min_ttl_floor),
		cmocka_unit_test(test_denial_cached_with_soa_only),
		cmocka_unit_test(test_servfail_and_truncated),
		cmocka_unit_test(test_key_bits_and_case),
		cmocka_unit_test(test_keepttl),
		cmocka_unit_test(test_disable),
		cmocka_unit_test(test_capacity_and_eviction),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_no_prefetch_without_hits),
		cmocka_unit_test(test_serve_stale),
		cmocka_unit_test(test_serve_stale_verify),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
