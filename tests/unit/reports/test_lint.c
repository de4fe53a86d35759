/* SPDX-License-Identifier: MIT */
/* Unit tests for reports/lint and reports/rules: the seed's alert rules
 * get exactly the findings they deserve (and fixes that lint clean), the
 * catalog can come from /metrics text, and each check fires on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/lint.h"
#include "reports/rules.h"

#define SEED DS_TEST_DATA "/corefiles/seed/alerts.yml"

/* "code,code,..." of a rule's findings, in order. */
static void codes(const ds_lint_rule_t *lr, char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t i = 0; i < lr->n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s%s", i ? "," : "",
		         lr->f[i].code, lr->f[i].severity == DS_LINT_ERROR ? "" : "(w)");
}

static void test_seed_rules(void **st)
{
	ds_rules_t rs;
	ds_err_t err;
	assert_int_equal(ds_rules_load(SEED, &rs, &err), DS_OK);
	assert_int_equal(rs.n, 3);
	assert_string_equal(rs.r[0].alert, "DNSResponseTimeTooHigh");
	assert_int_equal(rs.r[0].expr_line, 6);
	assert_int_equal(rs.r[1].for_ns, 600LL * 1000000000);
	assert_non_null(strstr(ds_rule_annotation(&rs.r[2], "summary"), "humanizePercentage"));

	ds_lint_catalog_t *c = ds_lint_catalog_builtin();
	assert_non_null(c);
	static const struct {
		const char *codes, *fix;
	} want[] = {
	    /* quantile of counts since the server started */
	    {"raw-buckets", "histogram_quantile(0.99, sum by (le) "
	                    "(rate(coredns_dns_request_duration_seconds_bucket[5m]))) > 0.005"},
	    /* hits has a type label that requests lacks: never matches */
	    {"no-match", "sum without (type) (rate(coredns_cache_hits_total[5m])) / "
	                 "rate(coredns_cache_requests_total[5m]) < 0.8"},
	    /* renamed in 1.7.0 and never had rcode; a rate shown as a percentage;
	     * NXDOMAIN counted as an error */
	    {"renamed-metric,missing-label,nxdomain-error(w),rate-not-ratio(w)",
	     "sum(rate(coredns_dns_responses_total{rcode!~\"NOERROR|NXDOMAIN\"}[5m])) / "
	     "sum(rate(coredns_dns_responses_total[5m])) > 0.01"},
	};
	for (size_t i = 0; i < rs.n; i++) {
		ds_lint_rule_t lr;
		char got[256];
		assert_int_equal(ds_lint_expr(c, rs.r[i].expr, &rs.r[i], &lr), DS_OK);
		codes(&lr, got, sizeof(got));
		if (strcmp(got, want[i].codes))
			fail_msg("%s: findings %s, want %s", rs.r[i].alert, got, want[i].codes);
		assert_non_null(lr.fix);
		assert_string_equal(lr.fix, want[i].fix);
		assert_true(lr.fix_clean);
		assert_int_equal(lr.f[0].line, rs.r[i].expr_line);
		/* and the fix, linted on its own, is clean */
		ds_lint_rule_t again;
		assert_int_equal(ds_lint_expr(c, lr.fix, &rs.r[i], &again), DS_OK);
		assert_int_equal(again.n, 0);
		assert_null(again.fix);
		ds_lint_rule_free(&again);
		ds_lint_rule_free(&lr);
	}
	ds_lint_catalog_free(c);
	ds_rules_free(&rs);
}

static void test_messages(void **st)
{
	ds_lint_catalog_t *c = ds_lint_catalog_builtin();
	ds_lint_rule_t lr;
	assert_int_equal(
	    ds_lint_expr(c,
	                 "rate(coredns_dns_request_count_total{rcode!=\"NOERROR\"}[5m])"
	                 " > 0.01",
	                 NULL, &lr),
	    DS_OK);
	bool renamed = false, label = false;
	for (size_t i = 0; i < lr.n; i++) {
		if (!strcmp(lr.f[i].code, "renamed-metric"))
			renamed = strstr(lr.f[i].message, "1.7.0") &&
			          strstr(lr.f[i].message, "coredns_dns_requests_total");
		if (!strcmp(lr.f[i].code, "missing-label"))
			label = strstr(lr.f[i].message, "never had the label 'rcode'") &&
			        strstr(lr.f[i].message, "coredns_dns_responses_total");
	}
	assert_true(renamed);
	assert_true(label);
	ds_lint_rule_free(&lr);

	static const struct {
		const char *expr, *codes;
	} cases[] = {
	    {"sum(rate(coredns_dns_requests_total[5m]))", ""},
	    {"coredns_dns_requests_totl", "unknown-metric"},
	    {"coredns_dns_requests_total{rcode=\"SERVFAIL\"}", "missing-label"},
	    {"coredns_dns_requests_total{rcode!=\"SERVFAIL\"}", "no-op-filter(w)"},
	    {"rate(coredns_cache_entries[5m])", "rate-of-gauge(w)"},
	    {"rate(coredns_cache_misses_total[5m])", "deprecated-metric(w)"},
	    {"histogram_quantile(0.9, sum(rate(coredns_dns_request_duration_seconds_bucket[5m])))",
	     "not-buckets"},
	    {"histogram_quantile(0.9, sum by (le, server) "
	     "(rate(coredns_dns_request_duration_seconds_bucket[5m])))",
	     ""},
	    {"rate(coredns_forward_requests_total[5m])", "renamed-metric"},
	    {"sum by (le) (", "parse-error"},
	    {"up{job=\"coredns\"} == 0", ""},
	    {"go_goroutines > 1000", "unknown-metric(w)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char got[256];
		assert_int_equal(ds_lint_expr(c, cases[i].expr, NULL, &lr), DS_OK);
		codes(&lr, got, sizeof(got));
		if (strcmp(got, cases[i].codes))
			fail_msg("%s: %s, want %s", cases[i].expr, got, cases[i].codes);
		ds_lint_rule_free(&lr);
	}
	ds_lint_catalog_free(c);
}

static void test_catalog_from_metrics(void **st)
{
	static const char text[] =
	    "# HELP coredns_cache_hits_total The count of cache hits.\n"
	    "# TYPE coredns_cache_hits_total counter\n"
	    "coredns_cache_hits_total{server=\"dns://:53\",type=\"success\",view=\"\",zones=\".\"} "
	    "3\n"
	    "# TYPE coredns_cache_requests_total counter\n"
	    "coredns_cache_requests_total{server=\"dns://:53\",view=\"\",zones=\".\"} 9\n"
	    "# TYPE coredns_dns_request_duration_seconds histogram\n"
	    "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\","
	    "le=\"0.00025\"} 1\n"
	    "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\","
	    "le=\"+Inf\"} 2\n"
	    "coredns_dns_request_duration_seconds_sum{server=\"dns://:53\",view=\"\",zone=\".\"} "
	    "0.1\n"
	    "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",view=\"\",zone=\".\"} "
	    "2\n"
	    "weird{a=\"x,y=\\\"z\\\"\"} 1\n";
	ds_err_t err;
	ds_lint_catalog_t *c = ds_lint_catalog_parse(text, &err);
	assert_non_null(c);
	assert_int_equal(ds_lint_catalog_size(c), 6);
	ds_lint_rule_t lr;
	char got[256];
	/* what this server exports decides: no dns_requests_total here */
	assert_int_equal(ds_lint_expr(c, "rate(coredns_dns_requests_total[5m])", NULL, &lr), DS_OK);
	codes(&lr, got, sizeof(got));
	assert_string_equal(got, "unknown-metric");
	ds_lint_rule_free(&lr);
	assert_int_equal(ds_lint_expr(c,
	                              "rate(coredns_cache_hits_total[5m]) / "
	                              "rate(coredns_cache_requests_total[5m])",
	                              NULL, &lr),
	                 DS_OK);
	codes(&lr, got, sizeof(got));
	assert_string_equal(got, "no-match");
	ds_lint_rule_free(&lr);
	assert_int_equal(ds_lint_expr(c,
	                              "histogram_quantile(0.5, "
	                              "coredns_dns_request_duration_seconds_bucket)",
	                              NULL, &lr),
	                 DS_OK);
	codes(&lr, got, sizeof(got));
	assert_string_equal(got, "raw-buckets");
	ds_lint_rule_free(&lr);
	assert_int_equal(ds_lint_expr(c, "weird{a=\"q\"}", NULL, &lr), DS_OK);
	assert_int_equal(lr.n, 0);
	ds_lint_rule_free(&lr);
	ds_lint_catalog_free(c);
	assert_null(ds_lint_catalog_parse("# nothing\n", &err));
}

static void test_rules_errors(void **st)
{
	char path[] = "/tmp/ds_lint_rules_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("groups:\n  - name: x\n    rules:\n      - alert: A\n        for: 5m\n", f);
	fclose(f);
	ds_rules_t rs;
	ds_err_t err;
	assert_int_equal(ds_rules_load(path, &rs, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, ":4: a rule needs 'expr'"));
	ds_rules_free(&rs);
	f = fopen(path, "w");
	fputs("groups: [\n", f);
	fclose(f);
	assert_int_equal(ds_rules_load(path, &rs, &err), DS_EINVAL);
	ds_rules_free(&rs);
	remove(path);
	assert_int_equal(ds_rules_load("/nonexistent/rules.yml", &rs, &err), DS_ENOENT);
	ds_rules_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_rules),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_catalog_from_metrics),
	    cmocka_unit_test(test_rules_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
