/* SPDX-License-Identifier: MIT */
/* The hot path allocates nothing: once warm, a cache hit (and a whoami or
 * template answer) goes through the whole chain -- prometheus, errors,
 * cache -- without one call to malloc. Counted by interposing malloc in
 * this test program (not under ASan, which owns malloc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/server/harness.h"

#ifndef DS_SANITIZED
static size_t mallocs;
static int counting;
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t s);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
	if (counting)
		mallocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
	if (counting)
		mallocs++;
	return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		mallocs++;
	return __libc_realloc(p, n);
}
#endif

/* The query path without the harness's own work (it allocates a waiter
 * and asks ldns to print the reply): hand-built queries straight into
 * ds_chain_handle, as the UDP listener does. */
static size_t allocations_for(ds_th_t *t, const char *name, int n)
{
	ds_worker_t *w = &ds_workers[0];
	const ds_listen_t *l = &ds_th_gen(t)->listens[0];
	uint8_t qn[DS_NAME_MAX], buf[512];
	ds_name_from_str(name, NULL, qn);
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, sizeof(buf));
	ds_wb_query(&wb, 7, DS_FLAG_RD, qn, DS_TYPE_A, DS_CLASS_IN);
	ds_wb_section(&wb, DS_SEC_ADDITIONAL);
	ds_wb_opt(&wb, 1232, 0, 0, false);
	int len = ds_wb_finish(&wb);
	ds_query_t *q = ds_query_get(w);
	size_t before = 0;
#ifndef DS_SANITIZED
	before = mallocs;
	counting = 1;
#endif
	for (int i = 0; i < n; i++) {
		memcpy(q->rx, buf, (size_t)len);
		ds_wr16(q->rx, (uint16_t)i);
		q->proto = DS_PROTO_UDP;
		ds_addr_parse("127.0.0.1:40000", 0, &q->client);
		q->local = q->client;
		bool sync = ds_chain_handle(w, l, q, (size_t)len);
		assert_true(sync);
		assert_true(q->resp_len > DS_HDR_LEN);
		assert_int_equal(ds_rd16(q->tx), (uint16_t)i);
		ds_worker_gen_drop(w, q->gen);
	}
#ifndef DS_SANITIZED
	counting = 0;
#endif
	ds_query_put(w, q);
#ifndef DS_SANITIZED
	return mallocs - before;
#else
	(void)before;
	return 0;
#endif
}

static void test_cache_hit_allocates_nothing(void **st)
{
#ifdef DS_SANITIZED
	skip(); /* ASan owns malloc: nothing to count */
#endif
	ds_th_up_t *u = ds_th_up_new(DS_TH_UP_ANSWER, 300);
	char cf[512];
	snprintf(cf, sizeof(cf),
		 ".:53 {\n prometheus 127.0.0.1:0\n errors\n log . \"{type} {name}\" {\n  class error\n }\n"
		 " cache 300\n forward . 127.0.0.1:%d\n}\n",
		 u->port);
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_non_null(t);
	/* warm: the first query goes upstream and is stored */
	ds_th_res_t r;
	assert_int_equal(ds_th_query(t, "hot.example.", "A", DS_TH_EDNS, 3000, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	/* then hits: no allocation at all, and the upstream sees nothing */
	unsigned up_before = u->udp_queries;
	size_t n = allocations_for(t, "hot.example.", 10000);
	assert_int_equal(u->udp_queries, up_before);
	assert_int_equal(n, 0);
	ds_th_free(t);
	ds_th_up_free(u);
}

/* The counter itself works: the harness's query path does allocate. */
static void test_counter_sees_allocations(void **st)
{
#ifdef DS_SANITIZED
	skip();
#else
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(".:53 {\n whoami\n}\n", &err);
	assert_non_null(t);
	ds_th_res_t r;
	size_t before = mallocs;
	counting = 1;
	assert_int_equal(ds_th_query(t, "c.example.", "A", 0, 100, &r), 0);
	counting = 0;
	assert_true(mallocs > before);
	ds_th_free(t);
#endif
}

static void test_template_answer_allocates_nothing(void **st)
{
#ifdef DS_SANITIZED
	skip();
#endif
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(".:53 {\n template IN A example {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n}\n", &err);
	assert_non_null(t);
	allocations_for(t, "warm.example.", 10);
	size_t n = allocations_for(t, "t.example.", 10000);
	assert_int_equal(n, 0);
	ds_th_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_sees_allocations),
		cmocka_unit_test(test_cache_hit_allocates_nothing),
		cmocka_unit_test(test_template_answer_allocates_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
