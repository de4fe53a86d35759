/* SPDX-License-Identifier: MIT */
/* The forward plugin: policies, the health state machine, failover,
 * max_concurrent, truncation handling, next/except, through a real chain
 * against fake upstreams served by the test's worker loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "server/plugins/forward/forward.h"
#include "tests/unit/server/harness.h"

static ds_th_t *mk(const char *fmt, ...)
{
	char cf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cf, sizeof(cf), fmt, ap);
	va_end(ap);
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fail_msg("config: %s\n%s", err.msg, cf);
	return t;
}

static fw_config_t *fwcfg(ds_th_t *t, size_t nth)
{
	ds_block_t *b = ds_th_gen(t)->blocks[0];
	size_t k = 0;
	for (size_t i = 0; i < b->nchain; i++)
		if (!strcmp(b->chain[i]->api->name, "forward") && k++ == nth)
			return b->chain[i]->ctx;
	return NULL;
}

static void test_policies(void **st)
{
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 {\n  policy sequential\n }\n}\n");
	fw_config_t *c = fwcfg(t, 0);
	uint8_t o[FW_MAX_UPSTREAMS];
	fw_order(c, 12345, o);
	assert_int_equal(o[0], 0);
	assert_int_equal(o[1], 1);
	assert_int_equal(o[2], 2);
	c->policy = FW_ROUND_ROBIN;
	int first[3] = {0};
	for (int i = 0; i < 300; i++) {
		fw_order(c, (uint64_t)i, o);
		first[o[0]]++;
		/* chosen first, then the others in configuration order */
		uint8_t a = o[1], b = o[2];
		assert_true(a < b);
	}
	assert_int_equal(first[0], 100);
	assert_int_equal(first[1], 100);
	assert_int_equal(first[2], 100);
	c->policy = FW_RANDOM;
	int pos0[3] = {0};
	for (uint64_t i = 0; i < 3000; i++) {
		fw_order(c, i * 0x9e3779b97f4a7c15ULL + 7, o);
		pos0[o[0]]++;
		assert_true(o[0] != o[1] && o[1] != o[2] && o[0] != o[2]);
	}
	for (int i = 0; i < 3; i++)
		assert_true(pos0[i] > 800 && pos0[i] < 1200);
	ds_th_free(t);
}

static void test_health_state_machine(void **st)
{
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:1 {\n  max_fails 2\n }\n}\n");
	fw_config_t *c = fwcfg(t, 0);
	assert_false(fw_down(c, 0));
	fw_probe_result(c, 0, false);
	fw_probe_result(c, 0, false);
	assert_false(fw_down(c, 0)); /* down only after max_fails + 1 failed checks */
	fw_probe_result(c, 0, false);
	assert_true(fw_down(c, 0));
	fw_probe_result(c, 0, true); /* one success: up again */
	assert_false(fw_down(c, 0));
	c->max_fails = 0;            /* 0: never down */
	for (int i = 0; i < 10; i++)
		fw_probe_result(c, 0, false);
	assert_false(fw_down(c, 0));
	ds_th_free(t);
}

static void test_answer_and_metrics(void **st)
{
	ds_th_up_t *u = ds_th_up_new(DS_TH_UP_ANSWER, 77);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d\n}\n", u->port);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "www.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(ds_th_has(&r, "10.0.0.1"));
	assert_string_equal(r.writer, "forward");
	/* the upstream saw another ID, the client gets its own back */
	assert_int_not_equal(u->last_id, ds_rd16(r.wire) == u->last_id ? 0 : u->last_id + 1);
	/* same transport as the client: TCP client -> TCP upstream */
	assert_int_equal(ds_th_query(t, "tcp.example.", "A", DS_TH_TCP, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(u->tcp_queries, 1);
	ds_th_free(t);
	ds_th_up_free(u);
}

static void test_failover_and_all_down(void **st)
{
	ds_th_up_t *dead = ds_th_up_new(DS_TH_UP_ANSWER, 1);
	int dead_port = dead->port;
	ds_th_up_close(dead); /* closed port: connection refused */
	ds_th_up_t *live = ds_th_up_new(DS_TH_UP_ANSWER, 1);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d 127.0.0.1:%d {\n  policy sequential\n }\n}\n",
			dead_port, live->port);
	ds_th_res_t r;
	int64_t t0 = ds_now_ns();
	assert_int_equal(ds_th_query(t, "f.example.", "A", 0, 6000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(live->udp_queries, 1);
	/* refused is noticed at once, not after the 2 s read timeout */
	assert_true(ds_now_ns() - t0 < 1000 * DS_NS_PER_MS);
	ds_th_free(t);
	/* every upstream down: SERVFAIL with the network error */
	t = mk(".:53 {\n errors\n forward . 127.0.0.1:%d\n}\n", dead_port);
	assert_int_equal(ds_th_query(t, "g.example.", "A", 0, 8000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, ""); /* written by the server */
	ds_th_free(t);
	ds_th_up_free(dead);
	ds_th_up_free(live);
}

static void test_timeout_then_next(void **st)
{
	ds_th_up_t *slow = ds_th_up_new(DS_TH_UP_DROP, 1);
	ds_th_up_t *live = ds_th_up_new(DS_TH_UP_ANSWER, 1);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d 127.0.0.1:%d {\n  policy sequential\n  read_timeout 300ms\n }\n}\n",
			slow->port, live->port);
	ds_th_res_t r;
	int64_t t0 = ds_now_ns();
	assert_int_equal(ds_th_query(t, "slow.example.", "A", 0, 6000, &r), 0);
	int64_t el = ds_now_ns() - t0;
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(slow->udp_queries, 1);
	assert_int_equal(live->udp_queries, 1);
	assert_true(el >= 290 * DS_NS_PER_MS && el < 2000 * DS_NS_PER_MS);
	/* the failed exchange started health checking the slow upstream */
	fw_config_t *c = fwcfg(t, 0);
	assert_true(atomic_load(&c->ups[0].check));
	ds_th_free(t);
	ds_th_up_free(slow);
	ds_th_up_free(live);
}

static void test_max_concurrent(void **st)
{
	ds_th_up_t *slow = ds_th_up_new(DS_TH_UP_DROP, 1);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d {\n  max_concurrent 1\n  read_timeout 500ms\n }\n}\n",
			slow->port);
	/* one query waits on the upstream ... */
	ds_th_res_t r1, r2;
	assert_int_equal(ds_th_query(t, "held.example.", "A", 0, 20, &r1), DS_ETIMEDOUT);
	/* ... so the next is over the limit: REFUSED at once */
	assert_int_equal(ds_th_query(t, "over.example.", "A", 0, 1000, &r2), 0);
	assert_int_equal(r2.rcode, DS_RCODE_REFUSED);
	fw_config_t *c = fwcfg(t, 0);
	assert_int_equal(ds_metric_value(c->m_rejects), 1);
	/* when the first finishes, the slot is free again */
	ds_th_run(t, 1500);
	assert_int_equal(atomic_load(&c->inflight), 0);
	ds_th_free(t);
	ds_th_up_free(slow);
}

static void test_truncation(void **st)
{
	ds_th_up_t *u = ds_th_up_new(DS_TH_UP_TRUNCATE, 60);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d\n}\n", u->port);
	ds_th_res_t r;
	/* UDP client: the TC answer goes back as is */
	assert_int_equal(ds_th_query(t, "tc.example.", "A", 0, 3000, &r), 0);
	assert_true(r.flags & DS_FLAG_TC);
	assert_int_equal(r.an, 0);
	/* the client re-asks over TCP: forwarded over TCP, full answer */
	assert_int_equal(ds_th_query(t, "tc.example.", "A", DS_TH_TCP, 3000, &r), 0);
	assert_false(r.flags & DS_FLAG_TC);
	assert_int_equal(r.an, 60);
	assert_int_equal(u->tcp_queries, 1);
	ds_th_free(t);
	/* prefer_udp: the same upstream is asked again over TCP; the UDP
	 * client then gets the big answer cut to 512 bytes, with TC */
	t = mk(".:53 {\n forward . 127.0.0.1:%d {\n  prefer_udp\n }\n}\n", u->port);
	unsigned before = u->tcp_queries;
	assert_int_equal(ds_th_query(t, "tc2.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(u->tcp_queries, before + 1);
	assert_true(r.len <= 512);
	assert_true(r.flags & DS_FLAG_TC);
	assert_true(r.an > 0);
	ds_th_free(t);
	ds_th_up_free(u);
}

static void test_big_answer_edns(void **st)
{
	ds_th_up_t *u = ds_th_up_new(DS_TH_UP_BIG, 60);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d\n}\n", u->port);
	ds_th_res_t r;
	/* EDNS 1232: 60 A records fit (12+q+60*16 < 1232), no TC */
	assert_int_equal(ds_th_query(t, "big.example.", "A", DS_TH_EDNS, 3000, &r), 0);
	assert_false(r.flags & DS_FLAG_TC);
	assert_int_equal(r.an, 60);
	/* no EDNS: cut to 512 with TC */
	assert_int_equal(ds_th_query(t, "big.example.", "A", 0, 3000, &r), 0);
	assert_true(r.flags & DS_FLAG_TC);
	assert_true(r.len <= 512);
	ds_th_free(t);
	ds_th_up_free(u);
}

static void test_wrong_question_formerr(void **st)
{
	ds_th_up_t *u = ds_th_up_new(DS_TH_UP_WRONGQ, 60);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d\n}\n", u->port);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "q.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_FORMERR);
	ds_th_free(t);
	ds_th_up_free(u);
}

static void test_next_and_except(void **st)
{
	ds_th_up_t *nx = ds_th_up_new(DS_TH_UP_NXDOMAIN, 60);
	ds_th_up_t *ok = ds_th_up_new(DS_TH_UP_ANSWER, 60);
	/* first forward says NXDOMAIN; with `next NXDOMAIN` the second answers */
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d {\n  next NXDOMAIN\n }\n forward . 127.0.0.1:%d\n}\n",
			nx->port, ok->port);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "n.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(nx->udp_queries, 1);
	assert_int_equal(ok->udp_queries, 1);
	ds_th_free(t);
	/* except: names under it go to the next plugin (none here: SERVFAIL) */
	t = mk(".:53 {\n forward . 127.0.0.1:%d {\n  except internal.example\n }\n}\n", ok->port);
	assert_int_equal(ds_th_query(t, "a.internal.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_int_equal(ok->udp_queries, 1);
	assert_int_equal(ds_th_query(t, "a.public.example.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	/* FROM: only names under it are forwarded */
	ds_th_free(t);
	t = mk(".:53 {\n forward example.org 127.0.0.1:%d\n}\n", ok->port);
	assert_int_equal(ds_th_query(t, "x.example.net.", "A", 0, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL); /* no next plugin found */
	ds_th_free(t);
	ds_th_up_free(nx);
	ds_th_up_free(ok);
}

static void test_health_check_probes(void **st)
{
	ds_th_up_t *dead = ds_th_up_new(DS_TH_UP_ANSWER, 1);
	int port = dead->port;
	ds_th_up_close(dead);
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d {\n  health_check 100ms\n  max_fails 1\n }\n}\n", port);
	fw_config_t *c = fwcfg(t, 0);
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "h.example.", "A", 0, 8000, &r), 0);
	/* probes run on the control loop every 100 ms until one succeeds */
	ds_th_run(t, 700);
	assert_true(fw_down(c, 0));
	assert_true(ds_metric_value(c->ups[0].hc_failures) >= 2);
	ds_th_free(t);
	ds_th_up_free(dead);
}

/* Each probe must be booked against its own upstream: with the first
 * upstream live and the other three dead, only the dead ones go down. */
static void test_health_check_each_upstream(void **st)
{
	ds_th_up_t *live = ds_th_up_new(DS_TH_UP_ANSWER, 1);
	int port[3];
	for (int i = 0; i < 3; i++) {
		ds_th_up_t *dead = ds_th_up_new(DS_TH_UP_ANSWER, 1);
		port[i] = dead->port;
		ds_th_up_free(dead); /* closed port: connection refused */
	}
	ds_th_t *t = mk(".:53 {\n forward . 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d {\n"
			"  policy round_robin\n  health_check 100ms\n  max_fails 1\n }\n}\n",
			live->port, port[0], port[1], port[2]);
	fw_config_t *c = fwcfg(t, 0);
	ds_th_res_t r;
	for (int q = 0; q < 8; q++) {
		char name[32];
		snprintf(name, sizeof(name), "h%d.example.", q);
		assert_int_equal(ds_th_query(t, name, "A", 0, 8000, &r), 0);
		assert_int_equal(r.rcode, DS_RCODE_NOERROR); /* failed over to the live one */
	}
	ds_th_run(t, 700);
	assert_false(fw_down(c, 0));
	assert_int_equal(ds_metric_value(c->ups[0].hc_failures), 0);
	for (size_t i = 1; i < 4; i++) {
		assert_true(fw_down(c, i));
		assert_true(ds_metric_value(c->ups[i].hc_failures) >= 2);
	}
	ds_th_free(t);
	ds_th_up_free(live);
}

static void test_config_errors(void **st)
{
	static const char *bad[] = {
		".:53 {\n forward .\n}\n",
		".:53 {\n forward . tls://127.0.0.1\n}\n",
		".:53 {\n forward . dns.google\n}\n",
		".:53 {\n forward . 127.0.0.1 {\n  policy fastest\n }\n}\n",
		".:53 {\n forward . 127.0.0.1 {\n  bogus\n }\n}\n",
		".:53 {\n forward . 127.0.0.1 {\n  health_check abc\n }\n}\n",
	};
	static const char *want[] = {
		"Wrong argument count",
		"only plain DNS",
		"does not resolve upstream names",
		"unknown policy 'fastest'",
		"unknown property 'bogus'",
		"invalid duration",
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		ds_err_t err = {{0}};
		ds_th_t *t = ds_th_new(bad[i], &err);
		assert_null(t);
		if (!strstr(err.msg, want[i]) || !strstr(err.msg, "plugin/forward"))
			fail_msg("config %zu: got '%s', want '%s'", i, err.msg, want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_health_state_machine),
		cmocka_unit_test(test_answer_and_metrics),
		cmocka_unit_test(test_failover_and_all_down),
		cmocka_unit_test(test_timeout_then_next),
		cmocka_unit_test(test_max_concurrent),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_big_answer_edns),
		cmocka_unit_test(test_wrong_question_formerr),
		cmocka_unit_test(test_next_and_except),
		cmocka_unit_test(test_health_check_probes),
		cmocka_unit_test(test_health_check_each_upstream),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
