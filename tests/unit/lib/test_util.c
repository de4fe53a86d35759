/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/util: Go durations as Corefiles and scenarios write
 * them (parsed and printed as CoreDNS does), bounded integers, and the
 * word joiner that rebuilds command lines and selector texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static int64_t dur(const char *s)
{
	int64_t ns = -42;
	assert_int_equal(ds_parse_duration(s, &ns), DS_OK);
	return ns;
}

static void test_parse_duration(void **state)
{
	(void)state;
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("300ms"), 300000000LL);
	assert_int_equal(dur("1.5s"), 1500000000LL);
	assert_int_equal(dur(".5s"), 500000000LL);
	assert_int_equal(dur("5.s"), 5000000000LL);
	assert_int_equal(dur("1h30m"), 5400000000000LL);
	assert_int_equal(dur("2m"), 120000000000LL);
	assert_int_equal(dur("250us"), 250000LL);
	assert_int_equal(dur("250\xc2\xb5s"), 250000LL);
	assert_int_equal(dur("7ns"), 7);
	assert_int_equal(dur("-1s"), -1000000000LL);
	assert_int_equal(dur("1m0.5s"), 60500000000LL);
}

static void test_parse_duration_refuses(void **state)
{
	(void)state;
	/* What Go's time.ParseDuration refuses, so a Corefile CoreDNS
	 * refuses is refused here too. */
	const char *bad[] = {"", "5", "s", ".s", "1e3s", "0x10s", "1.5.5s", "1d", "5 s",
	                     "+", "-", "ms", "inf", "nans", "3000000h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ns = 99;
		if (ds_parse_duration(bad[i], &ns) != DS_EINVAL)
			fail_msg("\"%s\" was accepted as %lld ns", bad[i], (long long)ns);
		assert_int_equal(ns, 99);
	}
}

static void test_fmt_duration(void **state)
{
	(void)state;
	char b[64];
	/* As Go's Duration.String(): every digit, no trailing zeros. */
	assert_string_equal(ds_fmt_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(ds_fmt_duration(999, b, sizeof(b)), "999ns");
	assert_string_equal(ds_fmt_duration(1500, b, sizeof(b)), "1.5\xc2\xb5s");
	assert_string_equal(ds_fmt_duration(123456789, b, sizeof(b)), "123.456789ms");
	assert_string_equal(ds_fmt_duration(1234567891, b, sizeof(b)), "1.234567891s");
	assert_string_equal(ds_fmt_duration(60000000000LL, b, sizeof(b)), "1m0s");
	assert_string_equal(ds_fmt_duration(90000000000LL, b, sizeof(b)), "1m30s");
	assert_string_equal(ds_fmt_duration(3600000000000LL, b, sizeof(b)), "1h0m0s");
	assert_string_equal(ds_fmt_duration(-1500000000LL, b, sizeof(b)), "-1.5s");
	assert_string_equal(ds_fmt_duration(INT64_MIN, b, sizeof(b)), "-2562047h47m16.854775808s");
	/* A short buffer is cut, never overrun. */
	char s[6];
	memset(s, 'x', sizeof(s));
	ds_fmt_duration(3600000000000LL, s, sizeof(s));
	assert_int_equal(strlen(s), 5);
	/* Printing then parsing gives the value back. */
	const int64_t vals[] = {1, 1500, 2500000, 999999999, 61000000001LL, 86400000000000LL};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		assert_int_equal(dur(ds_fmt_duration(vals[i], b, sizeof(b))), vals[i]);
}

static void test_fmt_seconds(void **state)
{
	(void)state;
	char b[32];
	assert_string_equal(ds_fmt_seconds(37990251, b, sizeof(b)), "0.037990251");
	assert_string_equal(ds_fmt_seconds(2000000000LL, b, sizeof(b)), "2");
	assert_string_equal(ds_fmt_seconds(-500000000LL, b, sizeof(b)), "-0.5");
}

static void test_parse_int(void **state)
{
	(void)state;
	long long v = 0;
	assert_int_equal(ds_parse_int("53", 1, 65535, &v), DS_OK);
	assert_int_equal(v, 53);
	assert_int_equal(ds_parse_int("65536", 1, 65535, &v), DS_EINVAL);
	assert_int_equal(ds_parse_int("0", 1, 65535, &v), DS_EINVAL);
	assert_int_equal(ds_parse_int("12x", 0, 100, &v), DS_EINVAL);
	assert_int_equal(ds_parse_int("", 0, 100, &v), DS_EINVAL);
	assert_int_equal(ds_parse_int("99999999999999999999999", 0, 100, &v), DS_EINVAL);
	assert_int_equal(v, 53);
}

static void test_join_words(void **state)
{
	(void)state;
	const char *argv[] = {"load", "--rate", "1000"};
	char *s = ds_join_words("dnsurge", argv, 3);
	assert_non_null(s);
	assert_string_equal(s, "dnsurge load --rate 1000");
	free(s);
	const char *sel[] = {"app", "in", "(a,b)"};
	s = ds_join_words(NULL, sel, 3);
	assert_string_equal(s, "app in (a,b)");
	free(s);
	s = ds_join_words(NULL, sel, 0);
	assert_string_equal(s, "");
	free(s);
	s = ds_join_words("only", NULL, 0);
	assert_string_equal(s, "only");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_duration_refuses),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_fmt_seconds),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_join_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
