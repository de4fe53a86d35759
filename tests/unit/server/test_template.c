/* SPDX-License-Identifier: MIT */
/* template: rendering, regex groups, rcodes, sections, fallthrough between
 * templates and to the next plugin, EDE, and configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "tests/unit/server/harness.h"

static ds_th_t *mk(const char *cf)
{
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

static void q(ds_th_t *t, const char *name, const char *type, unsigned opts, ds_th_res_t *r)
{
	assert_int_equal(ds_th_query(t, name, type, opts, 200, r), 0);
	assert_true(r->answered);
}

static bool has_in(const ds_th_res_t *r, const char *section, const char *s)
{
	const char *a = strstr(r->text, section);
	if (!a)
		return false;
	const char *e = strstr(a + 3, ";; ");
	const char *hit = strstr(a, s);
	return hit && (!e || hit < e);
}

static void test_simulated_upstream(void **st)
{
	ds_th_t *t = mk(".:53 {\n template IN A {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n "
	                "whoami\n}\n");
	ds_th_res_t r;
	q(t, "Foo.Example.COM.", "A", 0, &r);
	assert_string_equal(r.writer, "template");
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "\t60\tIN\tA\t10.0.0.1"));
	assert_non_null(strstr(r.text, "foo.example.com.") ? strstr(r.text, "foo.example.com.")
	                                                   : strstr(r.text, "Foo.Example.COM."));
	/* another type: not this template's, the next plugin answers */
	q(t, "foo.example.com.", "AAAA", 0, &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);
}

static void test_regex_groups(void **st)
{
	ds_th_t *t =
	    mk(". {\n template IN A example {\n"
	       "  match "
	       "(^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
	       "  answer \"{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ "
	       ".Group.d }}\"\n"
	       "  additional \"{{ .Name }} 60 IN TXT \\\"{{ index .Match 0 }}|{{ index .Match 2 "
	       "}}|{{ .Zone }}|{{ .Class }}|{{ .Type }}\\\"\"\n"
	       "  fallthrough\n }\n"
	       " template IN A . {\n  match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})[.]hex[.]$\n"
	       "  answer \"{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt "
	       ".Group.c 16 8 }}.1\"\n }\n"
	       "}\n");
	ds_th_res_t r;
	q(t, "x.ip-10-95-12-8.example.", "A", 0, &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "x.ip-10-95-12-8.example.\t60\tIN\tA\t10.95.12.8"));
	assert_int_equal(r.ar, 1);
	assert_true(
	    has_in(&r, ";; ADDITIONAL SECTION:", "\".ip-10-95-12-8.example.|10|example.|IN|A\""));
	/* no match in example. with fallthrough: the next template (zone .) */
	q(t, "ip0a7bff.hex.", "A", 0, &r);
	assert_true(ds_th_has(&r, "ip0a7bff.hex.\t60\tIN\tA\t10.123.255.1"));
	/* nothing matches and the last template has no fallthrough */
	q(t, "nope.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	ds_th_free(t);
}

static void test_rcodes_and_sections(void **st)
{
	ds_th_t *t = mk(
	    ". {\n"
	    " template ANY ANY invalid {\n  rcode NXDOMAIN\n"
	    "  authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 "
	    "60 60)\"\n }\n"
	    " template IN MX example {\n  match "
	    "^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
	    "  answer \"{{ .Name }} 60 IN MX 10 {{ .Name }}\"\n"
	    "  additional \"{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}\"\n"
	    "  authority \"example. 60 IN NS ns0.example.\"\n }\n"
	    " template IN TXT fail {\n  rcode SERVFAIL\n }\n"
	    " template IN TXT refuse {\n  rcode REFUSED\n }\n"
	    "}\n");
	ds_th_res_t r;
	q(t, "a.b.invalid.", "AAAA", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	assert_true(has_in(&r, ";; AUTHORITY SECTION:",
	                   "invalid.\t60\tIN\tSOA\tns.invalid. hostmaster.invalid. 1 60 60 60 60"));
	q(t, "ip-10-1-2-3.example.", "MX", 0, &r);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ns, 1);
	assert_int_equal(r.ar, 1);
	assert_true(ds_th_has(&r, "MX\t10 ip-10-1-2-3.example."));
	assert_true(has_in(&r, ";; AUTHORITY SECTION:", "example.\t60\tIN\tNS\tns0.example."));
	assert_true(
	    has_in(&r, ";; ADDITIONAL SECTION:", "ip-10-1-2-3.example.\t60\tIN\tA\t10.1.2.3"));
	/* SERVFAIL is left to the server: an empty reply, writer "" */
	q(t, "x.fail.", "TXT", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, "");
	q(t, "x.refuse.", "TXT", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
	assert_string_equal(r.writer, "template");
	/* outside every template zone: next plugin, which is missing here */
	q(t, "other.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, "");
	ds_th_free(t);
}

static void test_record_types(void **st)
{
	ds_th_t *t =
	    mk(". {\n template IN ANY example.net {\n"
	       "  answer \"{{ .Name }} 30 TXT \\\"hello world\\\" two\"\n"
	       "  answer \"_sip._tcp.example.net. 30 IN SRV 10 20 5060 sip.example.net.\"\n"
	       "  answer \"example.net. IN 1h AAAA 2001:db8::1\"\n"
	       "  answer \"{{ .Name }} 30 IN CNAME target.example.com\"\n"
	       "  answer \"{{ .Name }} 30 IN PTR host-{{ .Type }}.example.net.\"\n"
	       "  answer \"x.example.net. 30 IN TYPE65280 \\# 3 abcdef\"\n"
	       " }\n}\n");
	ds_th_res_t r;
	q(t, "A.example.net.", "TXT", 0, &r);
	assert_int_equal(r.an, 6);
	assert_true(ds_th_has(&r, "TXT\t\"hello world\" \"two\""));
	assert_true(
	    ds_th_has(&r, "_sip._tcp.example.net.\t30\tIN\tSRV\t10 20 5060 sip.example.net."));
	assert_true(ds_th_has(&r, "example.net.\t3600\tIN\tAAAA\t2001:db8::1"));
	assert_true(ds_th_has(&r, "CNAME\ttarget.example.com."));
	assert_true(ds_th_has(&r, "PTR\thost-TXT.example.net."));
	assert_true(ds_th_has(&r, "\\# 3 abcdef"));
	ds_th_free(t);
}

static void test_render_errors(void **st)
{
	ds_th_t *t = mk(". {\n template IN ANY example {\n  match [.]example[.]$\n"
	                "  answer \"{{ .Name }} 60 IN TXT \\\"{{ index .Match 2 }}\\\"\"\n }\n"
	                " template IN ANY example2 {\n  answer \"{{ .Name }}\"\n }\n}\n");
	ds_th_res_t r;
	q(t, "test.example.", "TXT", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	/* a rendered line that is not a record */
	q(t, "test.example2.", "TXT", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	ds_th_free(t);
}

static void test_ede(void **st)
{
	ds_th_t *t = mk(". {\n template ANY ANY invalid {\n  rcode NXDOMAIN\n"
	                "  ederror 21 \"Blocked according to RFC2606\"\n }\n}\n");
	ds_th_res_t r;
	q(t, "x.invalid.", "A", DS_TH_EDNS, &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	/* the EDE option rides in the OPT record */
	assert_non_null(memmem(r.wire, r.len, "Blocked according to RFC2606", 28));
	const uint8_t ede_hdr[] = {0, 15, 0, 30, 0, 21};
	assert_non_null(memmem(r.wire, r.len, ede_hdr, sizeof(ede_hdr)));
	ds_th_free(t);
}

static void test_posix_translation(void **st)
{
	ds_th_t *t = mk(
	    ". {\n template IN A example {\n  match ^(?:www\\.)?(?P<host>\\w+)-\\d+\\.example\\.$\n"
	    "  answer \"{{ .Name }} 60 IN TXT \\\"{{ .Group.host }}\\\"\"\n }\n"
	    " template IN TXT example {\n  match (?i)^UPPER\n  answer \"{{ .Name }} 60 IN TXT "
	    "ok\"\n }\n}\n");
	ds_th_res_t r;
	q(t, "www.web-12.example.", "A", 0, &r);
	assert_true(ds_th_has(&r, "TXT\t\"web\""));
	q(t, "web-x.example.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	q(t, "upper.example.", "TXT", 0, &r);
	assert_true(ds_th_has(&r, "TXT\t\"ok\""));
	ds_th_free(t);
}

static void test_cname_target_looked_up(void **st)
{
	/* CoreDNS resolves a templated CNAME's target through the server */
	ds_th_t *t = mk(
	    ". {\n template IN A target.example {\n  answer \"{{ .Name }} 60 IN A 10.1.1.1\"\n }\n"
	    " template IN ANY foogle.com {\n  match \"^foogle\\.com\\.$\"\n"
	    "  answer \"foogle.com 60 IN CNAME target.example\"\n }\n"
	    " template IN A loop.test {\n  answer \"{{ .Name }} 60 IN CNAME x.{{ .Name }}\"\n "
	    "}\n}\n"
	    "slow.example {\n erratic {\n  drop 0\n  delay 1 50ms\n }\n}\n"
	    "async.test {\n template IN ANY {\n  answer \"{{ .Name }} 60 IN CNAME "
	    "a.slow.example.\"\n"
	    "  answer \"{{ .Name }} 60 IN TXT after\"\n  additional \"x.async.test. 60 IN A "
	    "10.2.2.2\"\n }\n}\n");
	ds_th_res_t r;
	q(t, "foogle.com.", "A", 0, &r);
	assert_int_equal(r.an, 2);
	const char *cn = strstr(r.text, "foogle.com.\t60\tIN\tCNAME\ttarget.example.");
	const char *a = strstr(r.text, "target.example.\t60\tIN\tA\t10.1.1.1");
	assert_true(cn && a && cn < a);
	/* only for A and AAAA queries */
	q(t, "foogle.com.", "TXT", 0, &r);
	assert_int_equal(r.an, 1);
	/* a CNAME loop stops after a bounded number of lookups */
	q(t, "loop.test.", "A", 0, &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.an >= 2 && r.an <= 10);
	/* the target's answer arrives later: the reply waits, then goes on */
	int64_t t0 = ds_now_ns();
	q(t, "x.async.test.", "A", 0, &r);
	assert_true(ds_now_ns() - t0 >= 45 * DS_NS_PER_MS);
	assert_int_equal(r.an, 3);
	const char *c1 = strstr(r.text, "CNAME\ta.slow.example.");
	const char *a1 = strstr(r.text, "a.slow.example.\t0\tIN\tA\t192.0.2.53");
	const char *t1 = strstr(r.text, "TXT\t\"after\"");
	assert_true(c1 && a1 && t1 && c1 < a1 && a1 < t1);
	assert_int_equal(r.ar, 1);
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	cfg_fails(". {\n template XX A {\n  rcode NXDOMAIN\n }\n}\n", "invalid query class XX");
	cfg_fails(". {\n template IN FOO {\n  rcode NXDOMAIN\n }\n}\n", "invalid RR class FOO");
	cfg_fails(". {\n template IN\n}\n", "Wrong argument count");
	cfg_fails(". {\n template IN A {\n  match \"a+?\"\n  rcode NXDOMAIN\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/template: could not parse regex");
	cfg_fails(". {\n template IN A {\n  match \"(\"\n  rcode NXDOMAIN\n }\n}\n",
	          "could not parse regex");
	cfg_fails(". {\n template IN A {\n  match foo\n }\n}\n",
	          "no answer section for template found");
	cfg_fails(". {\n template IN A {\n  rcode BOGUS\n }\n}\n", "unknown rcode BOGUS");
	cfg_fails(". {\n template IN A {\n  anwser \"x 1 IN A 1.2.3.4\"\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/template: unknown property 'anwser'");
	cfg_fails(". {\n template IN A {\n  answer \"{{ if .Name }}x{{ end }}\"\n }\n}\n",
	          "could not compile template");
	cfg_fails(". {\n template IN A {\n  answer \"{{ .Nope }} 1 IN A 1.2.3.4\"\n }\n}\n",
	          "could not compile template");
	cfg_fails(". {\n template IN A {\n  answer \"x. 60 IN A 300.1.1.1\"\n }\n}\n",
	          "invalid record");
	cfg_fails(". {\n template IN A {\n  answer \"{{ .Name }} 60 IN A 1.2.3\"\n }\n}\n",
	          "invalid record");
	cfg_fails(". {\n template IN A {\n  answer\n }\n}\n", "Wrong argument count");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simulated_upstream),
	    cmocka_unit_test(test_regex_groups),
	    cmocka_unit_test(test_rcodes_and_sections),
	    cmocka_unit_test(test_record_types),
	    cmocka_unit_test(test_render_errors),
	    cmocka_unit_test(test_ede),
	    cmocka_unit_test(test_posix_translation),
	    cmocka_unit_test(test_cname_target_looked_up),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
