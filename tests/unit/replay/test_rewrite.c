/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for replay/rewrite: which captured queries are replayed
 * (--filter) and under which names (--rewrite-zone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/wire.h"
#include "replay/rewrite.h"

static size_t query(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype, bool opt)
{
	uint8_t flat[DS_NAME_MAX];
	assert_true(ds_name_from_str(name, NULL, flat) > 0);
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, 512);
	ds_wb_query(&wb, id, DS_FLAG_RD, flat, qtype, DS_CLASS_IN);
	if (opt) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 1232, 0, 0, true);
	}
	int n = ds_wb_finish(&wb);
	assert_true(n > 0);
	return (size_t)n;
}

static ds_msg_t parsed(const char *name, uint16_t qtype)
{
	static uint8_t buf[512];
	size_t n = query(buf, 1, name, qtype, false);
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, buf, n, false), DS_OK);
	return m;
}

static void test_filters(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	assert_non_null(rw);
	ds_msg_t a = parsed("www.Example.com", DS_TYPE_A);
	ds_msg_t mx = parsed("www.example.com", DS_TYPE_MX);
	ds_msg_t other = parsed("www.notexample.com", DS_TYPE_A);
	/* No filter: everything goes. */
	assert_false(ds_rewrite_filters(rw));
	assert_true(ds_rewrite_keep(rw, &mx));
	assert_int_equal(ds_rewrite_add_filter(rw, "qtype=A,aaaa", &err), DS_OK);
	assert_true(ds_rewrite_filters(rw));
	assert_true(ds_rewrite_keep(rw, &a));
	assert_false(ds_rewrite_keep(rw, &mx));
	assert_true(ds_rewrite_keep(rw, &other));
	/* Zones on label boundaries, without case; both kinds must pass. */
	assert_int_equal(ds_rewrite_add_filter(rw, "zone=EXAMPLE.com.", &err), DS_OK);
	assert_true(ds_rewrite_keep(rw, &a));
	assert_false(ds_rewrite_keep(rw, &other));
	assert_false(ds_rewrite_keep(rw, &mx));
	/* A second zone filter widens the zone list. */
	assert_int_equal(ds_rewrite_add_filter(rw, "zone=notexample.com", &err), DS_OK);
	assert_true(ds_rewrite_keep(rw, &other));
	ds_rewrite_free(rw);
}

static void test_filter_errors(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	assert_int_equal(ds_rewrite_add_filter(rw, "qtype=A,BOGUS", &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "BOGUS"));
	assert_int_equal(ds_rewrite_add_filter(rw, "class=IN", &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "unknown kind"));
	assert_int_equal(ds_rewrite_add_filter(rw, "qtype", &err), DS_EINVAL);
	assert_int_equal(ds_rewrite_add_filter(rw, "zone=a,,b", &err), DS_EINVAL);
	assert_int_equal(ds_rewrite_add_zone(rw, "example.com", &err), DS_EINVAL);
	assert_int_equal(ds_rewrite_add_zone(rw, "=test.lab", &err), DS_EINVAL);
	assert_int_equal(ds_rewrite_add_zone(rw, "example.com=test.lab", &err), DS_OK);
	assert_int_equal(ds_rewrite_add_zone(rw, "Example.COM.=x.lab", &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	ds_rewrite_free(rw);
}

static void test_rewrite_name(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	uint8_t in[DS_NAME_MAX], out[DS_NAME_MAX], want[DS_NAME_MAX];
	char text[DS_NAME_MAX * 4];
	assert_int_equal(ds_rewrite_name(rw, in, out), 0); /* no rules */
	assert_int_equal(ds_rewrite_add_zone(rw, "example.com=test.lab", &err), DS_OK);
	assert_int_equal(ds_rewrite_add_zone(rw, "deep.example.com=d.other", &err), DS_OK);
	assert_false(ds_rewrite_filters(rw));
	assert_true(ds_rewrite_renames(rw));
	/* The labels in front keep their case; the zone part is replaced. */
	ds_name_from_str("WWW.Example.COM", NULL, in);
	int n = ds_rewrite_name(rw, in, out);
	assert_true(n > 0);
	ds_name_to_str(out, text, sizeof(text));
	assert_string_equal(text, "WWW.test.lab.");
	/* The longest FROM wins whatever the order given. */
	ds_name_from_str("a.deep.example.com", NULL, in);
	assert_true(ds_rewrite_name(rw, in, out) > 0);
	ds_name_to_str(out, text, sizeof(text));
	assert_string_equal(text, "a.d.other.");
	/* The apex itself and unrelated names. */
	ds_name_from_str("example.com", NULL, in);
	assert_true(ds_rewrite_name(rw, in, out) > 0);
	ds_name_from_str("test.lab", NULL, want);
	assert_true(ds_name_eq(out, want));
	ds_name_from_str("example.org", NULL, in);
	assert_int_equal(ds_rewrite_name(rw, in, out), 0);
	ds_name_from_str("xexample.com", NULL, in);
	assert_int_equal(ds_rewrite_name(rw, in, out), 0);
	ds_rewrite_free(rw);
}

static void test_rewrite_too_long(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	char longz[300], name[300], lab[64];
	/* A 249-byte zone replacing a 5-byte one pushes a 66-byte name over 255. */
	memset(lab, 'a', 60);
	lab[60] = 0;
	snprintf(longz, sizeof(longz), "%s.%s.%s.%s.lab", lab, lab, lab, lab);
	char spec[400];
	snprintf(spec, sizeof(spec), "x.y=%s", longz);
	assert_int_equal(ds_rewrite_add_zone(rw, spec, &err), DS_OK);
	snprintf(name, sizeof(name), "%s.x.y", lab);
	uint8_t in[DS_NAME_MAX], out[DS_NAME_MAX];
	assert_true(ds_name_from_str(name, NULL, in) > 0);
	assert_int_equal(ds_rewrite_name(rw, in, out), DS_ERANGE);
	uint8_t q[512], o[512];
	size_t ql = query(q, 7, name, DS_TYPE_A, false);
	assert_int_equal(ds_rewrite_query(rw, q, ql, o, sizeof(o)), DS_ERANGE);
	ds_rewrite_free(rw);
}

static void test_rewrite_query(void **st)
{
	(void)st;
	ds_err_t err;
	ds_rewrite_t *rw = ds_rewrite_new();
	assert_int_equal(ds_rewrite_add_zone(rw, "example.com=test.lab", &err), DS_OK);
	uint8_t q[512], o[512];
	size_t ql = query(q, 0xbeef, "Host.Example.com", DS_TYPE_AAAA, true);
	int n = ds_rewrite_query(rw, q, ql, o, sizeof(o));
	assert_true(n > 0);
	ds_msg_t m;
	assert_int_equal(ds_msg_parse(&m, o, (size_t)n, false), DS_OK);
	assert_int_equal(m.id, 0xbeef);
	assert_int_equal(m.flags, DS_FLAG_RD);
	assert_int_equal(m.qtype, DS_TYPE_AAAA);
	assert_int_equal(m.arcount, 1);
	/* The OPT record came along: EDNS size and DO bit as sent. */
	assert_true(m.has_opt);
	assert_true(m.do_bit);
	assert_int_equal(m.udp_size, 1232);
	char text[1024];
	uint8_t flat[DS_NAME_MAX];
	size_t pos = DS_HDR_LEN;
	assert_true(ds_name_unpack(o, (size_t)n, &pos, flat) > 0);
	ds_name_to_str(flat, text, sizeof(text));
	assert_string_equal(text, "Host.test.lab.");
	/* Not below a rewritten zone: untouched (0). */
	ql = query(q, 1, "www.example.org", DS_TYPE_A, false);
	assert_int_equal(ds_rewrite_query(rw, q, ql, o, sizeof(o)), 0);
	/* Broken messages are refused, not guessed at. */
	ql = query(q, 1, "www.example.com", DS_TYPE_A, true);
	assert_true(ds_rewrite_query(rw, q, ql - 3, o, sizeof(o)) < 0);
	assert_true(ds_rewrite_query(rw, q, 8, o, sizeof(o)) < 0);
	assert_int_equal(ds_rewrite_query(rw, q, ql, o, 20), DS_ESPACE);
	ds_rewrite_free(rw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_filter_errors),
		cmocka_unit_test(test_rewrite_name),
		cmocka_unit_test(test_rewrite_too_long),
		cmocka_unit_test(test_rewrite_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
