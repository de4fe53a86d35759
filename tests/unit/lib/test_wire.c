/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/wire: names, query parsing, the writer, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/wire.h"

static int flat(const char *s, uint8_t *out)
{
	return ds_name_from_str(s, NULL, out);
}

static void test_name_from_to_str(void **st)
{
	uint8_t n[DS_NAME_MAX];
	char buf[1024];
	assert_int_equal(flat("www.Example.org.", n), 17);
	assert_int_equal(ds_name_labels(n), 3);
	assert_int_equal(ds_name_to_str(n, buf, sizeof(buf)), 16);
	assert_string_equal(buf, "www.Example.org.");
	/* relative name gets the root */
	assert_int_equal(flat("a.b", n), 5);
	ds_name_to_str(n, buf, sizeof(buf));
	assert_string_equal(buf, "a.b.");
	/* escapes */
	assert_int_equal(flat("a\\.b.c.", n), 7);
	assert_int_equal(n[0], 3);
	ds_name_to_str(n, buf, sizeof(buf));
	assert_string_equal(buf, "a\\.b.c.");
	assert_int_equal(flat("\\065.", n), 3);
	assert_int_equal(n[1], 'A');
	/* root */
	assert_int_equal(flat(".", n), 1);
	ds_name_to_str(n, buf, sizeof(buf));
	assert_string_equal(buf, ".");
	/* errors: empty label, label > 63, name > 255 */
	assert_true(flat("a..b", n) < 0);
	char big[300];
	memset(big, 'x', 64);
	big[64] = 0;
	assert_true(flat(big, n) < 0);
	for (int i = 0; i < 150; i++) {
		big[2 * i] = 'a';
		big[2 * i + 1] = '.';
	}
	big[299] = 0;
	assert_true(flat(big, n) < 0);
	/* origin */
	uint8_t org[DS_NAME_MAX];
	flat("example.org.", org);
	assert_int_equal(ds_name_from_str("www", org, n), 17);
	assert_int_equal(ds_name_from_str("@", org, n), 13);
}

static void test_name_compare(void **st)
{
	uint8_t a[DS_NAME_MAX], b[DS_NAME_MAX], z[DS_NAME_MAX];
	flat("WWW.example.ORG.", a);
	flat("www.EXAMPLE.org.", b);
	assert_true(ds_name_eq(a, b));
	flat("example.org.", z);
	assert_true(ds_name_in(a, z));
	assert_true(ds_name_in(z, z));
	flat("xample.org.", b);
	assert_false(ds_name_in(a, b)); /* label boundary */
	flat(".", b);
	assert_true(ds_name_in(a, b));
	ds_name_lower(a);
	char buf[300];
	ds_name_to_str(a, buf, sizeof(buf));
	assert_string_equal(buf, "www.example.org.");
	assert_int_equal(ds_name_suffix(a, 2) - a, 4);
	assert_null(ds_name_suffix(a, 4));
}

/* A query for www.example.org A with EDNS (bufsize 1232, DO). */
static const uint8_t q_edns[] = {
	0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1,
	3, 'W', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
	0, 1, 0, 1,
	0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0,
};

static void test_parse_query(void **st)
{
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, q_edns, sizeof(q_edns), false), DS_OK);
	assert_int_equal(m.id, 0x1234);
	assert_int_equal(m.qtype, DS_TYPE_A);
	assert_int_equal(m.qclass, DS_CLASS_IN);
	assert_true(m.has_opt);
	assert_true(m.do_bit);
	assert_int_equal(m.udp_size, 1232);
	assert_int_equal(ds_msg_udp_limit(&m), 1232);
	assert_int_equal(m.qname_len, 17);
	assert_memory_equal(m.qname, "\3www\7example\3org\0", 17); /* lower-cased */
	assert_int_equal(m.q_end, 33);
	assert_int_equal(m.opt_off, 33);
}

static void test_parse_errors(void **st)
{
	ds_msg_t m;
	uint8_t p[64];
	/* shorter than a header: drop */
	assert_int_equal(ds_msg_parse(&m, q_edns, 11, false), DS_ESHORT);
	/* question cut short: FORMERR */
	assert_int_equal(ds_msg_parse(&m, q_edns, 20, false), DS_EMALF);
	/* OPT rdata cut */
	assert_int_equal(ds_msg_parse(&m, q_edns, sizeof(q_edns) - 1, false), DS_EMALF);
	/* wrong counts: arcount 2 but one record */
	memcpy(p, q_edns, sizeof(q_edns));
	p[11] = 2;
	assert_int_equal(ds_msg_parse(&m, p, sizeof(q_edns), false), DS_EMALF);
	/* two questions */
	memcpy(p, q_edns, sizeof(q_edns));
	p[5] = 2;
	assert_int_equal(ds_msg_parse(&m, p, sizeof(q_edns), false), DS_EMALF);
	/* no question: allowed only on request */
	memcpy(p, q_edns, 12);
	p[5] = 0;
	p[11] = 0;
	assert_int_equal(ds_msg_parse(&m, p, 12, false), DS_EMALF);
	assert_int_equal(ds_msg_parse(&m, p, 12, true), DS_OK);
	/* label longer than the packet */
	memcpy(p, q_edns, 12);
	p[11] = 0;
	p[12] = 60;
	assert_int_equal(ds_msg_parse(&m, p, 20, false), DS_EMALF);
}

static void test_compression_loop(void **st)
{
	/* header + name at 12 that is a pointer to itself */
	uint8_t p[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, p, sizeof(p), false), DS_EMALF);
	uint8_t out[DS_NAME_MAX];
	size_t pos = 12;
	assert_int_equal(ds_name_unpack(p, sizeof(p), &pos, out), DS_ELOOP);
	/* forward pointer */
	uint8_t f[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 1, 'a', 0, 0, 1, 0, 1};
	pos = 12;
	assert_int_equal(ds_name_unpack(f, sizeof(f), &pos, out), DS_ELOOP);
	/* valid backward chain */
	uint8_t g[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 1, 'b', 0xc0, 12};
	pos = 15;
	assert_int_equal(ds_name_unpack(g, sizeof(g), &pos, out), 5);
	assert_int_equal(pos, sizeof(g));
	assert_memory_equal(out, "\1b\1a\0", 5);
}

static void test_writer_compresses(void **st)
{
	ds_msg_t m;
	ds_msg_parse(&m, q_edns, sizeof(q_edns), false);
	uint8_t buf[512];
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, sizeof(buf));
	assert_int_equal(ds_wb_reply(&wb, &m, DS_RCODE_NOERROR, DS_FLAG_AA), DS_OK);
	/* question copied with the client's case */
	assert_memory_equal(buf + 12, "\3Www", 4);
	uint8_t owner[DS_NAME_MAX], target[DS_NAME_MAX];
	flat("www.example.org.", owner);
	flat("mail.example.org.", target);
	uint8_t a[4] = {192, 0, 2, 1};
	assert_int_equal(ds_wb_rr(&wb, owner, DS_TYPE_A, DS_CLASS_IN, 300, a, 4), DS_OK);
	/* owner fully compressed to the question: 2 bytes + 10 + 4 */
	assert_int_equal(wb.len, 33 + 16);
	assert_int_equal(buf[33], 0xc0);
	assert_int_equal(buf[34], 12);
	int mk = ds_wb_rr_begin(&wb, owner, DS_TYPE_CNAME, DS_CLASS_IN, 60);
	ds_wb_name(&wb, target, true);
	ds_wb_rr_end(&wb, mk);
	/* target: "mail" + pointer to example.org at offset 16 */
	assert_int_equal(buf[wb.len - 2], 0xc0);
	assert_int_equal(buf[wb.len - 1], 16);
	int n = ds_wb_finish(&wb);
	assert_true(n > 0);
	assert_int_equal(ds_rd16(buf + 6), 2);
	/* round trip through the parser */
	ds_rr_iter_t it;
	ds_rr_t rr;
	assert_int_equal(ds_rr_iter_init(&it, buf, (size_t)n), DS_OK);
	assert_int_equal(ds_rr_next(&it, &rr), 1);
	assert_int_equal(rr.type, DS_TYPE_A);
	assert_int_equal(rr.ttl, 300);
	assert_int_equal(ds_rr_next(&it, &rr), 1);
	assert_int_equal(rr.type, DS_TYPE_CNAME);
	size_t pos = rr.rdata_off;
	uint8_t got[DS_NAME_MAX];
	assert_int_equal(ds_name_unpack(buf, (size_t)n, &pos, got), 18);
	assert_true(ds_name_eq(got, target));
	assert_int_equal(ds_rr_next(&it, &rr), 0);
}

static void test_writer_overflow(void **st)
{
	ds_msg_t m;
	ds_msg_parse(&m, q_edns, sizeof(q_edns), false);
	uint8_t buf[40];
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, sizeof(buf));
	assert_int_equal(ds_wb_reply(&wb, &m, 0, 0), DS_OK);
	uint8_t owner[DS_NAME_MAX];
	flat("www.example.org.", owner);
	uint8_t a[4] = {1, 2, 3, 4};
	assert_int_equal(ds_wb_rr(&wb, owner, DS_TYPE_A, 1, 1, a, 4), DS_ESPACE);
	assert_int_equal(ds_wb_finish(&wb), DS_ESPACE);
}

/* Build a response with n A records + OPT, then cut it to max. */
static int big_response(uint8_t *buf, size_t cap, int n, bool opt)
{
	ds_msg_t m;
	ds_msg_parse(&m, q_edns, sizeof(q_edns), false);
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, cap);
	ds_wb_reply(&wb, &m, 0, 0);
	uint8_t owner[DS_NAME_MAX];
	flat("www.example.org.", owner);
	for (int i = 0; i < n; i++) {
		uint8_t a[4] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i};
		ds_wb_rr(&wb, owner, DS_TYPE_A, 1, 60, a, 4);
	}
	if (opt) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 1232, 0, 0, false);
	}
	return ds_wb_finish(&wb);
}

static void test_truncate_keeps_opt(void **st)
{
	uint8_t buf[4096];
	int n = big_response(buf, sizeof(buf), 100, true);
	assert_int_equal(n, 33 + 100 * 16 + 11);
	int t = ds_msg_truncate(buf, (size_t)n, 512);
	assert_true(t > 0 && t <= 512);
	assert_true(buf[2] & 0x02); /* TC */
	/* (512 - 33 - 11) / 16 = 29 answers fit, plus the OPT */
	assert_int_equal(ds_rd16(buf + 6), 29);
	assert_int_equal(ds_rd16(buf + 10), 1);
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, buf, (size_t)t, false), DS_OK);
	assert_true(m.has_opt);
	/* fits already: unchanged */
	n = big_response(buf, sizeof(buf), 3, true);
	assert_int_equal(ds_msg_truncate(buf, (size_t)n, 512), n);
	assert_false(buf[2] & 0x02);
}

static void test_finalize_mirrors_edns(void **st)
{
	ds_msg_t req;
	ds_msg_parse(&req, q_edns, sizeof(q_edns), false);
	uint8_t buf[4096];
	/* response without OPT gets one with the client's size and DO */
	int n = big_response(buf, sizeof(buf), 2, false);
	int f = ds_msg_finalize(buf, (size_t)n, sizeof(buf), &req, 1232);
	assert_int_equal(f, n + 11);
	ds_msg_t r;
	assert_int_equal(ds_msg_parse(&r, buf, (size_t)f, false), DS_OK);
	assert_true(r.has_opt);
	assert_true(r.do_bit);
	assert_int_equal(r.udp_size, 1232);
	/* request without EDNS: the OPT goes away, and the 512 limit applies */
	uint8_t q2[sizeof(q_edns)];
	memcpy(q2, q_edns, 33);
	q2[11] = 0;
	ds_msg_t req2;
	assert_int_equal(ds_msg_parse(&req2, q2, 33, false), DS_OK);
	n = big_response(buf, sizeof(buf), 40, true);
	f = ds_msg_finalize(buf, (size_t)n, sizeof(buf), &req2, ds_msg_udp_limit(&req2));
	assert_true(f <= 512);
	assert_int_equal(ds_msg_parse(&r, buf, (size_t)f, false), DS_OK);
	assert_false(r.has_opt);
	assert_true(buf[2] & 0x02);
}

static void test_query_builder(void **st)
{
	uint8_t buf[512], name[DS_NAME_MAX];
	flat("www.example.org.", name);
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, sizeof(buf));
	assert_int_equal(ds_wb_query(&wb, 77, DS_FLAG_RD, name, DS_TYPE_AAAA, DS_CLASS_IN), DS_OK);
	int n = ds_wb_finish(&wb);
	assert_int_equal(n, 12 + 17 + 4);
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, buf, (size_t)n, false), DS_OK);
	assert_int_equal(m.id, 77);
	assert_int_equal(m.qtype, DS_TYPE_AAAA);
	assert_true(ds_name_eq(m.qname, name));
	/* uncompressed names are written whole even when a suffix exists */
	ds_wb_name(&wb, name, false);
	assert_int_equal(wb.len, (uint32_t)n + 17);
}

static void test_type_names(void **st)
{
	char b[16];
	assert_string_equal(ds_type_str(DS_TYPE_AAAA, b), "AAAA");
	assert_string_equal(ds_type_str(65280, b), "TYPE65280");
	assert_int_equal(ds_type_from_str("srv"), DS_TYPE_SRV);
	assert_int_equal(ds_type_from_str("TYPE99"), 99);
	assert_int_equal(ds_type_from_str("bogus"), 0);
	assert_string_equal(ds_rcode_str(3, b), "NXDOMAIN");
	assert_string_equal(ds_rcode_str(30, b), "30");
	assert_int_equal(ds_rcode_from_str("servfail"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_from_to_str),
		cmocka_unit_test(test_name_compare),
		cmocka_unit_test(test_parse_query),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_compression_loop),
		cmocka_unit_test(test_writer_compresses),
		cmocka_unit_test(test_writer_overflow),
		cmocka_unit_test(test_truncate_keeps_opt),
		cmocka_unit_test(test_finalize_mirrors_edns),
		cmocka_unit_test(test_query_builder),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
