/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for replay/diff: two answers to one query compared on
 * respdiff's criteria (rcode, flags, sections as sets without order, TTL
 * or name case), the summary's counts and examples, and its JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"
#include "replay/diff.h"

/* An answer being built: header flags and rcode, then records. */
struct ans {
	uint8_t buf[2048];
	ds_wbuf_t wb;
	uint8_t qname[DS_NAME_MAX];
};

static void ans_start(struct ans *a, const char *qname, uint16_t qtype, uint16_t flags,
		      unsigned rcode)
{
	assert_true(ds_name_from_str(qname, NULL, a->qname) > 0);
	ds_wb_init(&a->wb, a->buf, sizeof(a->buf));
	ds_wb_query(&a->wb, 0x1234, (uint16_t)(DS_FLAG_QR | flags | (rcode & 15)), a->qname, qtype,
		    DS_CLASS_IN);
}

static void rr_a(struct ans *a, int sec, const char *owner, uint32_t ttl, uint8_t last)
{
	uint8_t o[DS_NAME_MAX], ip[4] = {192, 0, 2, last};
	assert_true(ds_name_from_str(owner, NULL, o) > 0);
	ds_wb_section(&a->wb, (enum ds_section)sec);
	ds_wb_rr(&a->wb, o, DS_TYPE_A, DS_CLASS_IN, ttl, ip, 4);
}

/* A record whose rdata is one name (CNAME, NS), compressed or not. */
static void rr_name(struct ans *a, int sec, const char *owner, uint16_t type, const char *target,
		    bool compress)
{
	uint8_t o[DS_NAME_MAX], t[DS_NAME_MAX];
	assert_true(ds_name_from_str(owner, NULL, o) > 0);
	assert_true(ds_name_from_str(target, NULL, t) > 0);
	ds_wb_section(&a->wb, (enum ds_section)sec);
	int mark = ds_wb_rr_begin(&a->wb, o, type, DS_CLASS_IN, 300);
	assert_true(mark >= 0);
	ds_wb_name(&a->wb, t, compress);
	ds_wb_rr_end(&a->wb, mark);
}

static void rr_mx(struct ans *a, const char *owner, uint16_t pref, const char *target,
		  bool compress)
{
	uint8_t o[DS_NAME_MAX], t[DS_NAME_MAX];
	ds_name_from_str(owner, NULL, o);
	ds_name_from_str(target, NULL, t);
	ds_wb_section(&a->wb, DS_SEC_ANSWER);
	int mark = ds_wb_rr_begin(&a->wb, o, DS_TYPE_MX, DS_CLASS_IN, 300);
	ds_wb_u16(&a->wb, pref);
	ds_wb_name(&a->wb, t, compress);
	ds_wb_rr_end(&a->wb, mark);
}

static size_t ans_end(struct ans *a)
{
	int n = ds_wb_finish(&a->wb);
	assert_true(n > 0);
	return (size_t)n;
}

static int cmp(struct ans *e, struct ans *g, bool ttl)
{
	ds_diff_scratch_t s = {0};
	ds_diff_opts_t o = {.ttl = ttl};
	size_t el = ans_end(e), gl = ans_end(g);
	int r = ds_diff_compare(e->buf, el, g->buf, gl, &o, &s);
	ds_diff_scratch_free(&s);
	return r;
}

static void test_equal_sets(void **st)
{
	(void)st;
	struct ans e, g;
	/* Order, TTL, owner case and compression do not matter. */
	ans_start(&e, "www.example.com", DS_TYPE_A, DS_FLAG_AA | DS_FLAG_RD, 0);
	rr_a(&e, DS_SEC_ANSWER, "www.example.com", 60, 1);
	rr_a(&e, DS_SEC_ANSWER, "www.example.com", 60, 2);
	rr_name(&e, DS_SEC_AUTHORITY, "example.com", DS_TYPE_NS, "ns1.example.com", true);
	ds_wb_section(&e.wb, DS_SEC_ADDITIONAL);
	ds_wb_opt(&e.wb, 1232, 0, 0, false);
	ans_start(&g, "www.example.com", DS_TYPE_A, DS_FLAG_AA | DS_FLAG_RD, 0);
	rr_a(&g, DS_SEC_ANSWER, "WWW.EXAMPLE.com", 17, 2);
	rr_a(&g, DS_SEC_ANSWER, "www.example.com", 3600, 1);
	rr_name(&g, DS_SEC_AUTHORITY, "Example.com", DS_TYPE_NS, "NS1.example.COM", false);
	/* no OPT on this side: EDNS is not compared */
	assert_int_equal(cmp(&e, &g, false), 0);
}

static void test_ttl_option(void **st)
{
	(void)st;
	struct ans e, g;
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&g, DS_SEC_ANSWER, "a.example", 30, 1);
	assert_int_equal(cmp(&e, &g, false), 0);
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&g, DS_SEC_ANSWER, "a.example", 30, 1);
	assert_int_equal(cmp(&e, &g, true), 1 << DS_DIFF_ANSWER);
}

static void test_classes(void **st)
{
	(void)st;
	struct ans e, g;
	ans_start(&e, "a.example", DS_TYPE_A, DS_FLAG_AA, DS_RCODE_NOERROR);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	ans_start(&g, "a.example", DS_TYPE_A, DS_FLAG_AA, DS_RCODE_NXDOMAIN);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_RCODE | 1 << DS_DIFF_ANSWER);

	ans_start(&e, "a.example", DS_TYPE_A, DS_FLAG_AA | DS_FLAG_RD, 0);
	ans_start(&g, "a.example", DS_TYPE_A, DS_FLAG_RD | DS_FLAG_RA, 0);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_FLAGS);

	/* Z is not compared (respdiff's flags are QR AA TC RD RA AD CD). */
	ans_start(&e, "a.example", DS_TYPE_A, DS_FLAG_Z, 0);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	assert_int_equal(cmp(&e, &g, false), 0);

	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&g, DS_SEC_ANSWER, "a.example", 60, 9);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_ANSWER);

	/* The same record in another section is a difference in both. */
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_name(&e, DS_SEC_AUTHORITY, "example", DS_TYPE_NS, "ns.example", true);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	rr_name(&g, DS_SEC_ADDITIONAL, "example", DS_TYPE_NS, "ns.example", true);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_AUTHORITY | 1 << DS_DIFF_ADDITIONAL);

	/* A duplicate is not the same set as one copy. */
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&g, DS_SEC_ANSWER, "a.example", 60, 1);
	rr_a(&g, DS_SEC_ANSWER, "a.example", 60, 1);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_ANSWER);
}

static void test_extended_rcode(void **st)
{
	(void)st;
	struct ans e, g;
	/* BADVERS = 16: rcode 0 in the header, 1 in the OPT's upper bits. */
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	ds_wb_section(&e.wb, DS_SEC_ADDITIONAL);
	ds_wb_opt(&e.wb, 1232, 1, 0, false);
	ans_start(&g, "a.example", DS_TYPE_A, 0, 0);
	ds_wb_section(&g.wb, DS_SEC_ADDITIONAL);
	ds_wb_opt(&g.wb, 4096, 0, 0, true);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_RCODE);
}

static void test_names_in_rdata(void **st)
{
	(void)st;
	struct ans e, g;
	/* Compressed against the question vs written out, other case. */
	ans_start(&e, "www.example.com", DS_TYPE_CNAME, 0, 0);
	rr_name(&e, DS_SEC_ANSWER, "www.example.com", DS_TYPE_CNAME, "web.example.com", true);
	rr_mx(&e, "example.com", 10, "mail.example.com", true);
	ans_start(&g, "www.example.com", DS_TYPE_CNAME, 0, 0);
	rr_name(&g, DS_SEC_ANSWER, "www.example.com", DS_TYPE_CNAME, "WEB.example.com", false);
	rr_mx(&g, "example.com", 10, "Mail.Example.Com", false);
	assert_int_equal(cmp(&e, &g, false), 0);
	ans_start(&e, "www.example.com", DS_TYPE_CNAME, 0, 0);
	rr_mx(&e, "example.com", 10, "mail.example.com", true);
	ans_start(&g, "www.example.com", DS_TYPE_CNAME, 0, 0);
	rr_mx(&g, "example.com", 20, "mail.example.com", true);
	assert_int_equal(cmp(&e, &g, false), 1 << DS_DIFF_ANSWER);
}

static void test_expected_rewrite(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	assert_int_equal(ds_rewrite_add_zone(rw, "example.com=test.lab", &err), DS_OK);
	struct ans e, g;
	ans_start(&e, "www.example.com", DS_TYPE_CNAME, 0, 0);
	rr_name(&e, DS_SEC_ANSWER, "www.example.com", DS_TYPE_CNAME, "web.example.com", true);
	ans_start(&g, "www.test.lab", DS_TYPE_CNAME, 0, 0);
	rr_name(&g, DS_SEC_ANSWER, "www.test.lab", DS_TYPE_CNAME, "web.test.lab", true);
	size_t el = ans_end(&e), gl = ans_end(&g);
	ds_diff_scratch_t s = {0};
	ds_diff_opts_t o = {.expected_rw = rw};
	assert_int_equal(ds_diff_compare(e.buf, el, g.buf, gl, &o, &s), 0);
	/* Without the rewrite they differ. */
	o.expected_rw = NULL;
	assert_int_equal(ds_diff_compare(e.buf, el, g.buf, gl, &o, &s), 1 << DS_DIFF_ANSWER);
	ds_diff_scratch_free(&s);
	ds_rewrite_free(rw);
}

static void test_malformed(void **st)
{
	(void)st;
	struct ans e;
	ans_start(&e, "a.example", DS_TYPE_A, 0, 0);
	rr_a(&e, DS_SEC_ANSWER, "a.example", 60, 1);
	size_t el = ans_end(&e);
	ds_diff_scratch_t s = {0};
	assert_int_equal(ds_diff_compare(e.buf, el - 2, e.buf, el, NULL, &s), DS_EMALF);
	assert_int_equal(ds_diff_compare(e.buf, 5, e.buf, el, NULL, &s), DS_EMALF);
	ds_diff_scratch_free(&s);
}

static void test_summary(void **st)
{
	(void)st;
	ds_diff_sum_t s, m;
	ds_diff_sum_init(&s, 2);
	struct ans e, g;
	for (int i = 0; i < 5; i++) {
		char q[64];
		snprintf(q, sizeof(q), "n%d.example", i);
		ans_start(&e, q, DS_TYPE_A, DS_FLAG_AA, 0);
		rr_a(&e, DS_SEC_ANSWER, q, 60, 1);
		ans_start(&g, q, DS_TYPE_A, DS_FLAG_AA, i < 3 ? DS_RCODE_NXDOMAIN : 0);
		if (i >= 3)
			rr_a(&g, DS_SEC_ANSWER, q, 60, 1);
		size_t el = ans_end(&e), gl = ans_end(&g);
		ds_diff_add(&s, e.buf, el, g.buf, gl, NULL);
	}
	ans_start(&e, "silent.example", DS_TYPE_A, 0, 0);
	size_t el = ans_end(&e);
	assert_int_equal(ds_diff_add(&s, e.buf, el, NULL, 0, NULL), 1 << DS_DIFF_NO_ANSWER);
	assert_int_equal(ds_diff_add(&s, NULL, 0, e.buf, el, NULL), 1 << DS_DIFF_NO_ANSWER);
	assert_int_equal(ds_diff_add(&s, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(ds_diff_add(&s, e.buf, 4, e.buf, el, NULL), DS_EMALF);
	assert_int_equal(s.compared, 8);
	assert_int_equal(s.equal, 2);
	assert_int_equal(s.different, 5);
	assert_int_equal(s.malformed, 1);
	assert_int_equal(s.both_silent, 1);
	assert_int_equal(s.count[DS_DIFF_RCODE], 3);
	assert_int_equal(s.count[DS_DIFF_ANSWER], 3);
	assert_int_equal(s.count[DS_DIFF_NO_ANSWER], 2);
	assert_int_equal(s.no_answer_got, 1);
	assert_int_equal(s.no_answer_expected, 1);
	/* Examples stop at the limit; they say what differed. */
	assert_int_equal(s.nex[DS_DIFF_RCODE], 2);
	assert_string_equal(s.ex[DS_DIFF_RCODE][0].question, "n0.example. A");
	assert_string_equal(s.ex[DS_DIFF_RCODE][0].expected, "NOERROR");
	assert_string_equal(s.ex[DS_DIFF_RCODE][0].got, "NXDOMAIN");
	assert_string_equal(s.ex[DS_DIFF_ANSWER][1].expected, "n1.example. A 192.0.2.1");
	assert_string_equal(s.ex[DS_DIFF_ANSWER][1].got, "(empty)");
	assert_string_equal(s.ex[DS_DIFF_NO_ANSWER][0].got, "no answer");
	assert_string_equal(s.ex[DS_DIFF_NO_ANSWER][1].expected, "no answer");
	assert_string_equal(s.ex[DS_DIFF_NO_ANSWER][1].got, "NOERROR, 0 answers");

	/* Merging adds counts and keeps examples up to the limit. */
	ds_diff_sum_init(&m, 3);
	assert_int_equal(ds_diff_merge(&m, &s), DS_OK);
	assert_int_equal(ds_diff_merge(&m, &s), DS_OK);
	assert_int_equal(m.different, 10);
	assert_int_equal(m.count[DS_DIFF_RCODE], 6);
	assert_int_equal(m.nex[DS_DIFF_RCODE], 3);

	cJSON *j = ds_diff_json(&m, "capture");
	assert_non_null(j);
	char *txt = cJSON_PrintUnformatted(j);
	assert_non_null(strstr(txt, "\"mode\":\"capture\""));
	assert_non_null(strstr(txt, "\"rcode\":{\"count\":6,\"examples\":[{\"question\":\"n0.example. A\""));
	assert_non_null(strstr(txt, "\"flags\":{\"count\":0,\"examples\":[]}"));
	cJSON_free(txt);
	cJSON_Delete(j);
	ds_diff_sum_free(&m);
	ds_diff_sum_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_sets),
		cmocka_unit_test(test_ttl_option),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_extended_rcode),
		cmocka_unit_test(test_names_in_rdata),
		cmocka_unit_test(test_expected_rewrite),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
