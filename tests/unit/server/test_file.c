/* SPDX-License-Identifier: MIT */
/* file: authoritative answers from tests/data/zones/example.org.zone
 * (exact, CNAME chains, wildcards, referrals with glue, NXDOMAIN, NODATA,
 * empty non-terminals, DNAME), fallthrough, reload on a new serial, and
 * configuration errors naming the zone file line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "tests/unit/server/harness.h"

#define ZONE DS_TEST_DATA "/zones/example.org.zone"

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

/* s appears in the named section ("ANSWER", "AUTHORITY", "ADDITIONAL"). */
static bool in(const ds_th_res_t *r, const char *section, const char *s)
{
	char hdr[64];
	snprintf(hdr, sizeof(hdr), ";; %s SECTION:", section);
	const char *a = strstr(r->text, hdr);
	if (!a)
		return false;
	const char *e = strstr(a + strlen(hdr), ";; ");
	const char *hit = strstr(a, s);
	return hit && (!e || hit < e);
}

static ds_th_t *zone(void)
{
	return mk("example.org:53 {\n file %s\n}\n.:53 {\n whoami\n}\n", ZONE);
}

static void test_exact_and_apex(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	/* names match whatever their case */
	q(t, "WEB.Example.ORG.", "A", &r);
	assert_string_equal(r.writer, "file");
	assert_int_equal(r.an, 2);
	q(t, "web.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 2);
	assert_true(in(&r, "ANSWER", "\t1800\tIN\tA\t192.0.2.80"));
	assert_true(in(&r, "ANSWER", "\t1800\tIN\tA\t192.0.2.81"));
	assert_int_equal(r.ns, 2);
	assert_true(in(&r, "AUTHORITY", "example.org.\t1800\tIN\tNS\tns1.example.org."));
	q(t, "example.org.", "SOA", &r);
	assert_int_equal(r.an, 1);
	assert_true(in(&r, "ANSWER",
	               "example.org.\t3600\tIN\tSOA\tns1.example.org. "
	               "hostmaster.example.org. 2024010101 7200 3600 1209600 300"));
	assert_int_equal(r.ns, 2);
	/* apex NS with glue for the in-zone name server only */
	q(t, "example.org.", "NS", &r);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.ns, 0);
	assert_int_equal(r.ar, 2);
	assert_true(in(&r, "ADDITIONAL", "ns1.example.org.\t1800\tIN\tA\t192.0.2.53"));
	assert_true(in(&r, "ADDITIONAL", "ns1.example.org.\t1800\tIN\tAAAA\t2001:db8::53"));
	/* MX and SRV targets in the zone get their addresses in additional */
	q(t, "example.org.", "MX", &r);
	assert_true(in(&r, "ANSWER", "MX\t10 mail.example.org."));
	assert_true(in(&r, "ADDITIONAL", "mail.example.org.\t1800\tIN\tA\t192.0.2.25"));
	q(t, "_sip._tcp.example.org.", "SRV", &r);
	assert_true(in(&r, "ANSWER", "SRV\t10 20 5060 sip.example.org."));
	assert_true(in(&r, "ADDITIONAL", "sip.example.org.\t1800\tIN\tAAAA\t2001:db8::5060"));
	q(t, "txt.example.org.", "TXT", &r);
	assert_true(in(&r, "ANSWER", "TXT\t\"hello\" \"world\""));
	/* outside the zone: the block for the root answers */
	q(t, "example.net.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	ds_th_free(t);
}

static void test_cname(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	q(t, "alias.example.org.", "A", &r);
	assert_int_equal(r.an, 4);
	const char *c1 = strstr(r.text, "alias.example.org.\t1800\tIN\tCNAME\twww.example.org.");
	const char *c2 = strstr(r.text, "www.example.org.\t1800\tIN\tCNAME\tweb.example.org.");
	const char *a1 = strstr(r.text, "web.example.org.\t1800\tIN\tA\t192.0.2.80");
	assert_true(c1 && c2 && a1 && c1 < c2 && c2 < a1);
	assert_int_equal(r.ns, 2);
	/* asked for the CNAME itself: no chasing */
	q(t, "www.example.org.", "CNAME", &r);
	assert_int_equal(r.an, 1);
	/* target outside the zone, where nothing answers it: the CNAME alone */
	q(t, "ext.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_true(in(&r, "ANSWER", "CNAME\twww.example.com."));
	/* a loop ends after a bounded number of links */
	q(t, "loop1.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.an >= 2 && r.an <= 12);
	ds_th_free(t);
}

static void test_cname_target_outside(void **st)
{
	/* CoreDNS asks the server about a target outside the zone */
	ds_th_t *t = mk("example.org:53 {\n file %s\n}\n.:53 {\n template IN A {\n"
	                "  answer \"{{ .Name }} 60 IN A 10.7.7.7\"\n }\n}\n",
	                ZONE);
	ds_th_res_t r;
	q(t, "ext.example.org.", "A", &r);
	assert_int_equal(r.an, 2);
	const char *c = strstr(r.text, "ext.example.org.\t1800\tIN\tCNAME\twww.example.com.");
	const char *a = strstr(r.text, "www.example.com.\t60\tIN\tA\t10.7.7.7");
	assert_true(c && a && c < a);
	assert_int_equal(r.ns, 2);
	assert_true(in(&r, "AUTHORITY", "example.org.\t1800\tIN\tNS\tns1.example.org."));
	ds_th_free(t);

	/* the same when the answer comes later: the reply waits for it */
	t = mk("example.org:53 {\n file %s\n}\n.:53 {\n erratic {\n  drop 0\n"
	       "  delay 1 40ms\n }\n}\n",
	       ZONE);
	int64_t t0 = ds_now_ns();
	q(t, "ext.example.org.", "AAAA", &r);
	assert_true(ds_now_ns() - t0 >= 35 * DS_NS_PER_MS);
	assert_int_equal(r.an, 2);
	assert_true(in(&r, "ANSWER", "www.example.com.\t0\tIN\tAAAA\t2001:db8::53"));
	assert_int_equal(r.ns, 2);
	ds_th_free(t);
}

static void test_wildcard(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	q(t, "x.wild.example.org.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(in(&r, "ANSWER", "x.wild.example.org.\t1800\tIN\tA\t192.0.2.99"));
	assert_int_equal(r.ns, 2);
	q(t, "y.x.wild.example.org.", "TXT", &r);
	assert_true(in(&r, "ANSWER", "y.x.wild.example.org.\t1800\tIN\tTXT\t\"wildcard\""));
	/* wildcard without the type: NODATA */
	q(t, "x.wild.example.org.", "MX", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	assert_true(in(&r, "AUTHORITY", "SOA"));
	/* the wildcard's owner itself is not a match for its parent */
	q(t, "wild.example.org.", "A", &r);
	assert_int_equal(r.an, 0);
	/* wildcard CNAME, chased */
	q(t, "foo.wc.example.org.", "A", &r);
	assert_int_equal(r.an, 3);
	assert_true(in(&r, "ANSWER", "foo.wc.example.org.\t1800\tIN\tCNAME\tweb.example.org."));
	assert_true(in(&r, "ANSWER", "web.example.org.\t1800\tIN\tA\t192.0.2.81"));
	ds_th_free(t);
}

static void test_delegation(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	q(t, "www.sub.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_false(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 2);
	assert_true(in(&r, "AUTHORITY", "sub.example.org.\t1800\tIN\tNS\tns.sub.example.org."));
	assert_true(in(&r, "AUTHORITY", "sub.example.org.\t1800\tIN\tNS\tns.other.net."));
	/* glue only for the name server inside the cut */
	assert_int_equal(r.ar, 1);
	assert_true(in(&r, "ADDITIONAL", "ns.sub.example.org.\t1800\tIN\tA\t192.0.2.200"));
	q(t, "sub.example.org.", "A", &r);
	assert_false(r.flags & DS_FLAG_AA);
	assert_int_equal(r.ns, 2);
	/* DS at the cut comes from this side, authoritatively */
	q(t, "sub.example.org.", "DS", &r);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_true(in(&r, "ANSWER", "DS\t12345 8 1 49fd46e6c4b45c55d4ac69cbd3cd34ac1afe51de"));
	ds_th_free(t);
}

static void test_negative(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	q(t, "nope.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	assert_true(r.flags & DS_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	/* the SOA as the zone has it (CoreDNS does not lower it to MINIMUM) */
	assert_true(in(&r, "AUTHORITY", "example.org.\t3600\tIN\tSOA\tns1.example.org."));
	q(t, "web.example.org.", "MX", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	assert_true(in(&r, "AUTHORITY", "SOA"));
	/* empty non-terminal: exists, holds nothing */
	q(t, "b.c.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(in(&r, "AUTHORITY", "SOA"));
	q(t, "x.a.b.c.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
	/* ANY is not special */
	q(t, "web.example.org.", "ANY", &r);
	assert_int_equal(r.an, 0);
	/* transfers are someone else's */
	q(t, "example.org.", "AXFR", &r);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
	ds_th_free(t);
}

static void test_dname(void **st)
{
	ds_th_t *t = zone();
	ds_th_res_t r;
	q(t, "foo.dname.example.org.", "A", &r);
	assert_int_equal(r.an, 2);
	assert_true(in(&r, "ANSWER", "dname.example.org.\t1800\tIN\tDNAME\texample.net."));
	assert_true(in(&r, "ANSWER", "foo.dname.example.org.\t1800\tIN\tCNAME\tfoo.example.net."));
	/* the owner itself is not rewritten */
	q(t, "dname.example.org.", "DNAME", &r);
	assert_int_equal(r.an, 1);
	ds_th_free(t);
}

static void test_fallthrough(void **st)
{
	ds_th_t *t = mk("example.org:53 {\n file %s {\n  fallthrough\n }\n whoami\n}\n", ZONE);
	ds_th_res_t r;
	q(t, "nope.example.org.", "A", &r);
	assert_string_equal(r.writer, "whoami");
	q(t, "b.c.example.org.", "A", &r); /* empty non-terminal */
	assert_string_equal(r.writer, "whoami");
	q(t, "web.example.org.", "MX", &r); /* NODATA for a real name stays */
	assert_string_equal(r.writer, "file");
	q(t, "web.example.org.", "A", &r);
	assert_string_equal(r.writer, "file");
	ds_th_free(t);
}

static void write_zone(const char *path, unsigned serial, const char *ip)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
	        "$ORIGIN example.org.\n@ 300 IN SOA ns1 hostmaster %u 7200 3600 1209600 300\n"
	        "www 300 IN A %s\n",
	        serial, ip);
	fclose(fp);
}

static void test_reload(void **st)
{
	char path[] = "/tmp/ds_zone_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_zone(path, 1, "192.0.2.1");
	ds_th_t *t = mk("example.org:53 {\n file %s {\n  reload 50ms\n }\n}\n", path);
	ds_th_res_t r;
	q(t, "www.example.org.", "A", &r);
	assert_true(in(&r, "ANSWER", "192.0.2.1"));
	/* same serial: not picked up */
	write_zone(path, 1, "192.0.2.2");
	ds_th_run(t, 200);
	q(t, "www.example.org.", "A", &r);
	assert_true(in(&r, "ANSWER", "192.0.2.1"));
	write_zone(path, 2, "192.0.2.3");
	ds_th_run(t, 200);
	q(t, "www.example.org.", "A", &r);
	assert_true(in(&r, "ANSWER", "192.0.2.3"));
	/* a broken file keeps the zone we have */
	FILE *fp = fopen(path, "w");
	fputs("$ORIGIN example.org.\n@ IN SOA ns1 hostmaster 3 1 1 1 1\nwww IN A 1.2\n", fp);
	fclose(fp);
	ds_th_run(t, 200);
	q(t, "www.example.org.", "A", &r);
	assert_true(in(&r, "ANSWER", "192.0.2.3"));
	ds_th_free(t);
	unlink(path);
}

static void test_config_errors(void **st)
{
	char cf[1024];
	snprintf(cf, sizeof(cf), "example.org:53 {\n file %s/zones/broken.zone\n}\n", DS_TEST_DATA);
	cfg_fails(cf, "Corefile:2 - Error during parsing: plugin/file: ");
	cfg_fails(cf, "broken.zone:4:");
	cfg_fails("example.org:53 {\n file\n}\n", "Wrong argument count");
	cfg_fails("example.org:53 {\n file /nonexistent/db {\n  reload 0\n }\n}\n",
	          "open /nonexistent/db");
	snprintf(cf, sizeof(cf), "example.org:53 {\n file %s {\n  relaod 1m\n }\n}\n", ZONE);
	cfg_fails(cf, "Corefile:3 - Error during parsing: plugin/file: unknown property 'relaod'");
	snprintf(cf, sizeof(cf), "example.org:53 {\n file %s {\n  reload\n }\n}\n", ZONE);
	cfg_fails(cf, "reload duration value is expected");
	/* a missing file with reload on is only a warning; queries SERVFAIL */
	ds_th_t *t = mk("example.org:53 {\n file /nonexistent/db\n}\n");
	ds_th_res_t r;
	q(t, "www.example.org.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	ds_th_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_and_apex),
	    cmocka_unit_test(test_cname),
	    cmocka_unit_test(test_cname_target_outside),
	    cmocka_unit_test(test_wildcard),
	    cmocka_unit_test(test_delegation),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_dname),
	    cmocka_unit_test(test_fallthrough),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
