/* SPDX-License-Identifier: MIT */
/* loadbalance: every order of the address records shows up, evenly; CNAMEs
 * stay first, MX last, other types keep their order; only NOERROR replies
 * change; prefer; and the rebuilt replies stay valid DNS messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

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

/* Positions of needles in the reply text, as an order string "abc". */
static void order(const ds_th_res_t *r, const char *const *needles, size_t n, char *out)
{
	const char *pos[8];
	for (size_t i = 0; i < n; i++) {
		pos[i] = strstr(r->text, needles[i]);
		assert_non_null(pos[i]);
	}
	for (size_t k = 0; k < n; k++) {
		size_t best = 0;
		for (size_t i = 1; i < n; i++)
			if (!pos[best] || (pos[i] && pos[i] < pos[best]))
				best = i;
		out[k] = (char)('a' + best);
		pos[best] = NULL;
	}
	out[n] = '\0';
}

static void test_all_permutations_balanced(void **st)
{
	ds_th_t *t = mk(".:53 {\n loadbalance\n template IN A {\n"
	                "  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n"
	                "  answer \"{{ .Name }} 60 IN A 10.0.0.2\"\n"
	                "  answer \"{{ .Name }} 60 IN A 10.0.0.3\"\n }\n}\n");
	static const char *perms[6] = {"abc", "acb", "bac", "bca", "cab", "cba"};
	static const char *const ips[3] = {"A\t10.0.0.1", "A\t10.0.0.2", "A\t10.0.0.3"};
	int count[6] = {0};
	int first[3] = {0};
	const int n = 1800;
	ds_th_res_t r;
	for (int i = 0; i < n; i++) {
		assert_int_equal(ds_th_query(t, "www.example.org.", "A", 0, 200, &r), 0);
		assert_int_equal(r.an, 3);
		char o[4];
		order(&r, ips, 3, o);
		for (int k = 0; k < 6; k++)
			if (!strcmp(o, perms[k]))
				count[k]++;
		first[o[0] - 'a']++;
	}
	/* each of the 6 orders is expected n/6 = 300 times */
	for (int k = 0; k < 6; k++) {
		if (count[k] < 200 || count[k] > 400)
			fprintf(stderr, "order %s seen %d times\n", perms[k], count[k]);
		assert_true(count[k] >= 200 && count[k] <= 400);
	}
	for (int k = 0; k < 3; k++)
		assert_true(first[k] >= 450 && first[k] <= 750);
	ds_th_free(t);
}

static void test_two_records_swap_half(void **st)
{
	ds_th_t *t = mk(".:53 {\n loadbalance round_robin\n template IN AAAA {\n"
	                "  answer \"{{ .Name }} 60 IN AAAA 2001:db8::1\"\n"
	                "  answer \"{{ .Name }} 60 IN AAAA 2001:db8::2\"\n }\n}\n");
	static const char *const ips[2] = {"2001:db8::1", "2001:db8::2"};
	int swapped = 0;
	ds_th_res_t r;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ds_th_query(t, "x.example.org.", "AAAA", 0, 200, &r), 0);
		char o[3];
		order(&r, ips, 2, o);
		swapped += o[0] == 'b';
	}
	assert_true(swapped > 400 && swapped < 600);
	ds_th_free(t);
}

static void test_mixed_types(void **st)
{
	/* written as A, TXT, MX, CNAME, A, MX, TXT */
	ds_th_t *t = mk(".:53 {\n loadbalance\n template IN ANY {\n"
	                "  answer \"a.example.org. 60 IN A 10.0.0.1\"\n"
	                "  answer \"a.example.org. 60 IN TXT first\"\n"
	                "  answer \"a.example.org. 60 IN MX 10 mx1.example.org.\"\n"
	                "  answer \"{{ .Name }} 60 IN CNAME a.example.org.\"\n"
	                "  answer \"a.example.org. 60 IN A 10.0.0.2\"\n"
	                "  answer \"a.example.org. 60 IN MX 20 mx2.a.example.org.\"\n"
	                "  answer \"a.example.org. 60 IN TXT second\"\n }\n}\n");
	static const char *const n[7] = {"CNAME\ta.example.org.",
	                                 "TXT\t\"first\"",
	                                 "TXT\t\"second\"",
	                                 "A\t10.0.0.",
	                                 "A\t10.0.0.",
	                                 "MX\t",
	                                 "MX\t"};
	ds_th_res_t r;
	int a1_first = 0, mx1_first = 0;
	for (int i = 0; i < 400; i++) {
		assert_int_equal(ds_th_query(t, "www.example.org.", "ANY", 0, 200, &r), 0);
		assert_int_equal(r.an, 7);
		assert_null(strstr(r.text, "unparsable"));
		const char *p = strstr(r.text, ";; ANSWER SECTION:");
		/* CNAME, then the others as written, then addresses, then MX */
		for (int k = 0; k < 7; k++) {
			const char *h = strstr(p, n[k]);
			assert_non_null(h);
			p = h + 1;
		}
		const char *a1 = strstr(r.text, "10.0.0.1"), *a2 = strstr(r.text, "10.0.0.2");
		const char *m1 = strstr(r.text, "mx1."), *m2 = strstr(r.text, "mx2.");
		a1_first += a1 < a2;
		mx1_first += m1 < m2;
	}
	assert_true(a1_first > 120 && a1_first < 280);
	assert_true(mx1_first > 120 && mx1_first < 280);
	ds_th_free(t);
}

static void test_only_noerror(void **st)
{
	ds_th_t *t = mk(".:53 {\n loadbalance\n template IN A {\n  rcode NXDOMAIN\n"
	                "  authority \"example.org. 60 IN A 10.0.0.1\"\n"
	                "  authority \"example.org. 60 IN A 10.0.0.2\"\n"
	                "  authority \"example.org. 60 IN A 10.0.0.3\"\n }\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(ds_th_query(t, "x.example.org.", "A", 0, 200, &r), 0);
		assert_int_equal(r.rcode, DS_RCODE_NXDOMAIN);
		const char *a1 = strstr(r.text, "10.0.0.1"), *a2 = strstr(r.text, "10.0.0.2"),
		           *a3 = strstr(r.text, "10.0.0.3");
		assert_true(a1 && a2 && a3 && a1 < a2 && a2 < a3);
	}
	ds_th_free(t);
}

static void test_sections_apart(void **st)
{
	/* additional addresses shuffle among themselves, never into answer */
	ds_th_t *t = mk(".:53 {\n loadbalance\n template IN MX {\n"
	                "  answer \"{{ .Name }} 60 IN MX 10 mx.example.org.\"\n"
	                "  additional \"mx.example.org. 60 IN A 10.0.0.1\"\n"
	                "  additional \"mx.example.org. 60 IN A 10.0.0.2\"\n }\n}\n");
	ds_th_res_t r;
	int swapped = 0;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(ds_th_query(t, "example.org.", "MX", DS_TH_EDNS, 200, &r), 0);
		assert_int_equal(r.an, 1);
		assert_int_equal(r.ar, 3); /* two A and the OPT */
		const char *ad = strstr(r.text, ";; ADDITIONAL SECTION:");
		assert_non_null(ad);
		assert_true(strstr(r.text, "10.0.0.1") > ad && strstr(r.text, "10.0.0.2") > ad);
		swapped += strstr(r.text, "10.0.0.2") < strstr(r.text, "10.0.0.1");
	}
	assert_true(swapped > 50 && swapped < 150);
	ds_th_free(t);
}

static void test_prefer(void **st)
{
	ds_th_t *t = mk(".:53 {\n loadbalance {\n  prefer 10.0.0.0/24 192.168.0.0/16\n }\n"
	                " template IN A {\n"
	                "  answer \"{{ .Name }} 60 IN A 172.16.0.1\"\n"
	                "  answer \"{{ .Name }} 60 IN A 192.168.7.7\"\n"
	                "  answer \"{{ .Name }} 60 IN A 10.0.0.5\"\n"
	                "  answer \"{{ .Name }} 60 IN A 10.0.1.5\"\n }\n}\n");
	ds_th_res_t r;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(ds_th_query(t, "x.example.org.", "A", 0, 200, &r), 0);
		const char *p1 = strstr(r.text, "10.0.0.5"), *p2 = strstr(r.text, "192.168.7.7");
		const char *o1 = strstr(r.text, "172.16.0.1"), *o2 = strstr(r.text, "10.0.1.5");
		/* preferred first, in the order of the prefer list */
		assert_true(p1 < p2 && p2 < o1 && p2 < o2);
	}
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	cfg_fails(".:53 {\n loadbalance weighted w.txt\n}\n",
	          "Corefile:2 - Error during parsing: plugin/loadbalance: policy 'weighted' is not "
	          "supported");
	cfg_fails(".:53 {\n loadbalance random\n}\n", "unknown policy: random");
	cfg_fails(".:53 {\n loadbalance round_robin x\n}\n", "unknown property for round_robin");
	cfg_fails(".:53 {\n loadbalance {\n  prefer 10.0.0.0\n }\n}\n",
	          "invalid CIDR \"10.0.0.0\"");
	cfg_fails(
	    ".:53 {\n loadbalance {\n  prefre 10.0.0.0/8\n }\n}\n",
	    "Corefile:3 - Error during parsing: plugin/loadbalance: unknown property 'prefre'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_permutations_balanced),
	    cmocka_unit_test(test_two_records_swap_half),
	    cmocka_unit_test(test_mixed_types),
	    cmocka_unit_test(test_only_noerror),
	    cmocka_unit_test(test_sections_apart),
	    cmocka_unit_test(test_prefer),
	    cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
