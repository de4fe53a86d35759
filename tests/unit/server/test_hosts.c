/* SPDX-License-Identifier: MIT */
/* hosts: answers from a hosts file and inline lines, NODATA vs SERVFAIL vs
 * the next plugin, wildcards, options, reload and configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/server/harness.h"

#define HOSTS DS_TEST_DATA "/hosts/hosts.example"

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
		fprintf(stderr, "setup: %s\n", err.msg);
	assert_non_null(t);
	return t;
}

static void cfg_fails(const char *cf, const char *want)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_null(t);
	if (!strstr(err.msg, want))
		fprintf(stderr, "error was: %s\n", err.msg);
	assert_non_null(strstr(err.msg, want));
}

static void q(ds_th_t *t, const char *name, const char *type, ds_th_res_t *r)
{
	assert_int_equal(ds_th_query(t, name, type, 0, 200, r), 0);
	assert_true(r->answered);
}

static void test_forward(void **st)
{
	ds_th_t *t = mk(".:53 {\n hosts %s\n whoami\n}\n", HOSTS);
	ds_th_res_t r;
	q(t, "example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_string_equal(r.writer, "hosts");
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "example.org.\t3600\tIN\tA\t10.0.0.1"));
	/* names are case-insensitive on both sides */
	q(t, "WWW.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "\t3600\tIN\tA\t10.0.0.1"));
	q(t, "example.org.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "AAAA\tfdfc:a744:27b5:3b0e::1"));
	/* an IPv4-mapped IPv6 address is an IPv4 address */
	q(t, "example.com.", "A", &r);
	assert_true(ds_th_has(&r, "example.com.\t3600\tIN\tA\t10.0.0.2"));
	/* several addresses, in file order */
	q(t, "multi.example.org.", "A", &r);
	assert_int_equal(r.an, 2);
	const char *a3 = strstr(r.text, "10.0.0.3"), *a4 = strstr(r.text, "10.0.0.4");
	assert_true(a3 && a4 && a3 < a4);
	/* the IPv6 zone is dropped */
	q(t, "linklocal.example.org.", "AAAA", &r);
	assert_true(ds_th_has(&r, "fe80::1"));
	ds_th_free(t);
}

static void test_reverse(void **st)
{
	ds_th_t *t = mk(".:53 {\n hosts %s\n whoami\n}\n", HOSTS);
	ds_th_res_t r;
	q(t, "1.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_string_equal(r.writer, "hosts");
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "1.0.0.10.in-addr.arpa.\t3600\tIN\tPTR\texample.org."));
	assert_true(ds_th_has(&r, "PTR\twww.example.org."));
	q(t, "1.0.0.127.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\tlocalhost."));
	assert_true(ds_th_has(&r, "PTR\tlocalhost.domain."));
	q(t, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", "PTR",
	  &r);
	assert_true(ds_th_has(&r, "PTR\tlocalhost."));
	/* the mapped address was stored as IPv4 */
	q(t, "2.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\texample.com."));
	/* unknown address: the next plugin, with or without fallthrough */
	q(t, "99.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_string_equal(r.writer, "whoami");
	/* wildcards make no PTR */
	q(t, "10.1.168.192.in-addr.arpa.", "PTR", &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);

	t = mk(".:53 {\n hosts %s {\n  no_reverse\n }\n whoami\n}\n", HOSTS);
	q(t, "1.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);
}

static void test_nodata_servfail_next(void **st)
{
	ds_th_t *t = mk(".:53 {\n hosts %s example.org example.com\n whoami\n}\n", HOSTS);
	ds_th_res_t r;
	/* known name, no address of that family: NODATA, authoritative */
	q(t, "example.com.", "AAAA", &r);
	assert_string_equal(r.writer, "hosts");
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an + r.ns, 0);
	/* known name, type hosts does not serve: NODATA as well */
	q(t, "example.org.", "MX", &r);
	assert_string_equal(r.writer, "hosts");
	assert_int_equal(r.an, 0);
	/* unknown name in our zones without fallthrough: SERVFAIL */
	q(t, "nope.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, "");
	/* outside our zones: the next plugin, without fallthrough */
	q(t, "localhost.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);

	t = mk(".:53 {\n hosts %s {\n  fallthrough\n }\n whoami\n}\n", HOSTS);
	q(t, "nope.example.org.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	/* NODATA is an answer: no fallthrough */
	q(t, "example.com.", "AAAA", &r);
	assert_string_equal(r.writer, "hosts");
	ds_th_free(t);

	t = mk(".:53 {\n hosts %s {\n  fallthrough example.net\n }\n whoami\n}\n", HOSTS);
	q(t, "nope.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	q(t, "nope.example.net.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);

	t = mk(".:53 {\n hosts %s {\n  fallthrough\n  fallthrough_unsupported\n }\n whoami\n}\n",
	       HOSTS);
	q(t, "example.org.", "TXT", &r);
	assert_string_equal(r.writer, "whoami");
	q(t, "example.com.", "AAAA", &r); /* A/AAAA are supported: still NODATA */
	assert_string_equal(r.writer, "hosts");
	ds_th_free(t);
}

static void test_inline_ttl_wildcard(void **st)
{
	ds_th_t *t = mk(".:53 {\n hosts %s {\n  10.9.9.9 multi.example.org\n  10.8.8.8 "
	                "inline.example.org\n  ttl 60\n }\n}\n",
	                HOSTS);
	ds_th_res_t r;
	q(t, "inline.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "inline.example.org.\t60\tIN\tA\t10.8.8.8"));
	/* file entries first, inline after */
	q(t, "multi.example.org.", "A", &r);
	assert_int_equal(r.an, 3);
	const char *f = strstr(r.text, "10.0.0.4"), *i = strstr(r.text, "10.9.9.9");
	assert_true(f && i && f < i);
	q(t, "8.8.8.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "\t60\tIN\tPTR\tinline.example.org."));
	/* one label under the wildcard's parent */
	q(t, "x.wild.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "x.wild.example.org.\t60\tIN\tA\t192.168.1.10"));
	q(t, "a.wild.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "192.168.1.11"));
	assert_false(ds_th_has(&r, "192.168.1.10"));
	q(t, "wild.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	q(t, "deep.x.wild.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	/* lines that are not entries are skipped */
	q(t, "ignored.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	ds_th_free(t);

	/* missing file: inline entries still serve */
	t = mk(".:53 {\n hosts /nonexistent/hosts {\n  10.1.1.1 only.example.org\n }\n}\n");
	q(t, "only.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "10.1.1.1"));
	ds_th_free(t);
}

static void test_reload(void **st)
{
	char path[] = "/tmp/ds_hosts_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *v1 = "10.1.0.1 one.example.org\n";
	assert_int_equal(write(fd, v1, strlen(v1)), (ssize_t)strlen(v1));
	close(fd);
	ds_th_t *t =
	    mk(".:53 {\n hosts %s {\n  reload 50ms\n  fallthrough\n }\n whoami\n}\n", path);
	ds_th_res_t r;
	q(t, "one.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "10.1.0.1"));
	q(t, "two.example.org.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("10.1.0.2 two.example.org\n10.1.0.3 one.example.org\n", fp);
	fclose(fp);
	ds_th_run(t, 300);
	q(t, "two.example.org.", "A", &r);
	assert_string_equal(r.writer, "hosts");
	assert_true(ds_th_has(&r, "10.1.0.2"));
	q(t, "one.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "10.1.0.3"));
	assert_false(ds_th_has(&r, "10.1.0.1"));
	/* a deleted file keeps what was last read */
	unlink(path);
	ds_th_run(t, 200);
	q(t, "two.example.org.", "A", &r);
	assert_true(ds_th_has(&r, "10.1.0.2"));
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	cfg_fails(".:53 {\n hosts {\n  ttl 0\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/hosts: ttl provided is invalid");
	cfg_fails(".:53 {\n hosts {\n  ttl x\n }\n}\n", "ttl needs a number of second");
	cfg_fails(".:53 {\n hosts {\n  ttl\n }\n}\n", "ttl needs a time in second");
	cfg_fails(".:53 {\n hosts {\n  reload 1x\n }\n}\n", "invalid duration for reload '1x'");
	cfg_fails(".:53 {\n hosts {\n  reload\n }\n}\n", "reload needs a duration");
	cfg_fails(".:53 {\n hosts {\n  fallthrough\n  10.0.0.1 a.example.org\n }\n}\n",
	          "Corefile:4 - Error during parsing: plugin/hosts: unknown property '10.0.0.1'");
	cfg_fails(".:53 {\n hosts {\n  tll 60\n }\n}\n", "unknown property 'tll'");
	cfg_fails(".:53 {\n hosts {\n  fallthrough_unsupported\n }\n}\n",
	          "fallthrough_unsupported requires fallthrough");
	cfg_fails(".:53 {\n hosts\n hosts\n}\n", "Corefile:3 - Error during parsing: plugin/hosts: "
	                                         "this plugin can only be used once");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward),
	    cmocka_unit_test(test_reverse),
	    cmocka_unit_test(test_nodata_servfail_next),
	    cmocka_unit_test(test_inline_ttl_wildcard),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
