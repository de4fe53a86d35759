/* SPDX-License-Identifier: MIT */
/* The server core before and around the chain: what a client sees for
 * malformed queries, other opcodes, EDNS versions, zones and classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/server/harness.h"

static const char *cf = "example.org:53 {\n whoami\n}\n";

static int setup(void **st)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fprintf(stderr, "setup: %s\n", err.msg);
	*st = t;
	return t ? 0 : -1;
}

static int teardown(void **st)
{
	ds_th_free(*st);
	return 0;
}

static void test_answer_in_zone(void **st)
{
	ds_th_res_t r;
	assert_int_equal(ds_th_query(*st, "Www.Example.org.", "A", 0, 100, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_true(r.flags & DS_FLAG_RD); /* RD copied */
	assert_string_equal(r.writer, "whoami");
	/* the client's case is kept in the question */
	assert_non_null(strstr(r.text, "Www.Example.org."));
	assert_non_null(strstr(r.text, "127.0.0.1"));
}

static void test_refused_outside_zones(void **st)
{
	ds_th_res_t r;
	assert_int_equal(ds_th_query(*st, "example.net.", "A", 0, 100, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
	/* a label boundary matters: xexample.org is not in example.org */
	assert_int_equal(ds_th_query(*st, "xexample.org.", "A", 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
}

static void test_refused_non_in_class(void **st)
{
	/* CH query without chaos/forward in the block */
	uint8_t q[] = {0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3,
		       'o', 'r', 'g', 0, 0, 16, 0, 3};
	ds_th_res_t r;
	assert_int_equal(ds_th_raw(*st, q, sizeof(q), 0, 100, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
}

static void test_formerr_and_drops(void **st)
{
	ds_th_res_t r;
	/* shorter than a header: no reply at all */
	uint8_t tiny[] = {1, 2, 3};
	assert_int_equal(ds_th_raw(*st, tiny, sizeof(tiny), 0, 100, &r), 0);
	assert_false(r.answered);
	/* header says one question, but it is cut: FORMERR with our ID */
	uint8_t cut[] = {0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x'};
	assert_int_equal(ds_th_raw(*st, cut, sizeof(cut), 0, 100, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_FORMERR);
	assert_int_equal(ds_rd16(r.wire), 0xabcd);
	/* a response sent to us is never answered */
	uint8_t resp[] = {0, 9, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p',
			  'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1};
	assert_int_equal(ds_th_raw(*st, resp, sizeof(resp), 0, 100, &r), 0);
	assert_false(r.answered);
	/* compression loop in the question: FORMERR */
	uint8_t loop[] = {0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
	assert_int_equal(ds_th_raw(*st, loop, sizeof(loop), 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_FORMERR);
	/* two questions: FORMERR */
	uint8_t two[] = {0, 6, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1, 1, 'b', 0, 0, 1,
			 0, 1};
	assert_int_equal(ds_th_raw(*st, two, sizeof(two), 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_FORMERR);
}

static void test_notimp_opcode(void **st)
{
	/* opcode 2 (STATUS) */
	uint8_t q[] = {0, 8, 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		       3, 'o', 'r', 'g', 0, 0, 1, 0, 1};
	ds_th_res_t r;
	assert_int_equal(ds_th_raw(*st, q, sizeof(q), 0, 100, &r), 0);
	assert_int_equal(r.rcode, DS_RCODE_NOTIMP);
}

static void test_badvers(void **st)
{
	/* EDNS version 1 */
	uint8_t q[] = {0, 8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		       3, 'o', 'r', 'g', 0, 0, 1, 0, 1, 0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 0};
	ds_th_res_t r;
	assert_int_equal(ds_th_raw(*st, q, sizeof(q), 0, 100, &r), 0);
	assert_true(r.answered);
	assert_int_equal(r.rcode, DS_RCODE_BADVERS);
}

static void test_edns_mirrored(void **st)
{
	ds_th_res_t r;
	assert_int_equal(ds_th_query(*st, "a.example.org.", "A", DS_TH_DO, 100, &r), 0);
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, r.wire, r.len, false), DS_OK);
	assert_true(m.has_opt);
	assert_true(m.do_bit);
	assert_int_equal(m.udp_size, 1232);
	/* no EDNS in the query: none in the reply */
	assert_int_equal(ds_th_query(*st, "a.example.org.", "A", 0, 100, &r), 0);
	assert_int_equal(ds_msg_parse(&m, r.wire, r.len, false), DS_OK);
	assert_false(m.has_opt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_in_zone),
		cmocka_unit_test(test_refused_outside_zones),
		cmocka_unit_test(test_refused_non_in_class),
		cmocka_unit_test(test_formerr_and_drops),
		cmocka_unit_test(test_notimp_opcode),
		cmocka_unit_test(test_badvers),
		cmocka_unit_test(test_edns_mirrored),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
