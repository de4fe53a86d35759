/* SPDX-License-Identifier: MIT */
/* The log and errors plugins as an operator reads them: CoreDNS's common
 * format, names, classes, custom formats; errors lines and consolidation.
 * Log lines are captured from the logger through a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "tests/unit/server/harness.h"

static int pipefd[2] = {-1, -1};
static char logbuf[65536];

static void capture_start(void)
{
	if (pipe2(pipefd, O_NONBLOCK) < 0)
		abort();
	fcntl(pipefd[0], F_SETPIPE_SZ, 1 << 20);
	ds_log_set_fd(pipefd[1]);
}

/* Everything logged since capture_start(). */
static const char *capture_end(void)
{
	ds_log_set_fd(1);
	ssize_t n = read(pipefd[0], logbuf, sizeof(logbuf) - 1);
	logbuf[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	close(pipefd[1]);
	return logbuf;
}

static bool matches(const char *text, const char *re)
{
	regex_t r;
	if (regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0)
		return false;
	bool ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static ds_th_t *mk(const char *cf)
{
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fail_msg("config: %s", err.msg);
	return t;
}

/* example.org answers A, names under nx. are NXDOMAIN, the rest fall to
 * the end of the chain (SERVFAIL, "no next plugin"). */
#define ANSWERS                                                                      \
	" template IN A example.org {\n  answer \"{{ .Name }} 60 IN A 10.0.0.1\"\n }\n" \
	" template IN ANY nx {\n  rcode NXDOMAIN\n }\n"

static void test_common_format(void **st)
{
	ds_th_t *t = mk(".:53 {\n log\n" ANSWERS "}\n");
	ds_th_res_t r;
	capture_start();
	ds_th_query(t, "Www.Example.ORG.", "A", DS_TH_EDNS, 100, &r);
	ds_th_query(t, "www.example.org.", "A", DS_TH_TCP | DS_TH_DO, 100, &r);
	const char *out = capture_end();
	/* [INFO] {remote}:{port} - {>id} "{type} {class} {name} {proto} {size}
	 * {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration} */
	assert_true(matches(out, "^\\[INFO\\] 127\\.0\\.0\\.1:40000 - [0-9]+ \"A IN www\\.example\\.org\\. udp [0-9]+ false 1232\" NOERROR qr,aa,rd [0-9]+ [0-9.]+s$"));
	assert_true(matches(out, "^\\[INFO\\] 127\\.0\\.0\\.1:40000 - [0-9]+ \"A IN www\\.example\\.org\\. tcp [0-9]+ true 65535\" NOERROR qr,aa,rd [0-9]+ [0-9.]+s$"));
	ds_th_free(t);
}

static void test_classes_and_names(void **st)
{
	/* only denials and errors, as the seed Corefiles log */
	ds_th_t *t = mk(".:53 {\n log {\n  class denial error\n }\n" ANSWERS "}\n");
	ds_th_res_t r;
	capture_start();
	ds_th_query(t, "ok.example.org.", "A", 0, 100, &r);   /* success: not logged */
	ds_th_query(t, "gone.nx.", "A", 0, 100, &r);          /* denial */
	ds_th_query(t, "nothing.example.net.", "A", 0, 100, &r); /* SERVFAIL: error */
	const char *out = capture_end();
	assert_int_equal(count_lines(out, "ok.example.org."), 0);
	assert_true(matches(out, "\"A IN gone\\.nx\\. udp [0-9]+ false 512\" NXDOMAIN"));
	assert_true(matches(out, "\"A IN nothing\\.example\\.net\\. udp [0-9]+ false 512\" SERVFAIL"));
	ds_th_free(t);
	/* a name scope: only queries under example.org are logged */
	t = mk(".:53 {\n log example.org\n" ANSWERS "}\n");
	capture_start();
	ds_th_query(t, "in.example.org.", "A", 0, 100, &r);
	ds_th_query(t, "out.nx.", "A", 0, 100, &r);
	out = capture_end();
	assert_int_equal(count_lines(out, "in.example.org."), 1);
	assert_int_equal(count_lines(out, "out.nx."), 0);
	ds_th_free(t);
}

static void test_custom_format(void **st)
{
	ds_th_t *t = mk(".:53 {\n log . \"{proto} {type} {name} -> {rcode} {>id} {nonsense}\"\n" ANSWERS "}\n");
	ds_th_res_t r;
	capture_start();
	ds_th_query(t, "f.nx.", "AAAA", 0, 100, &r);
	const char *out = capture_end();
	/* unknown placeholders print "-" */
	assert_true(matches(out, "^\\[INFO\\] udp AAAA f\\.nx\\. -> NXDOMAIN [0-9]+ -$"));
	ds_th_free(t);
	/* {combined} is common plus the opcode */
	t = mk(".:53 {\n log . {combined}\n" ANSWERS "}\n");
	capture_start();
	ds_th_query(t, "c.example.org.", "A", 0, 100, &r);
	out = capture_end();
	assert_true(matches(out, "NOERROR qr,aa,rd [0-9]+ [0-9.]+s \"0\"$"));
	ds_th_free(t);
}

static void test_errors_lines(void **st)
{
	ds_th_t *t = mk(".:53 {\n errors\n" ANSWERS "}\n");
	ds_th_res_t r;
	capture_start();
	ds_th_query(t, "x.example.net.", "MX", 0, 100, &r);
	const char *out = capture_end();
	/* rcode as a number, the name, the type, the error */
	assert_true(matches(out, "^\\[ERROR\\] plugin/errors: 2 x\\.example\\.net\\. MX: plugin/template: no next plugin found$"));
	ds_th_free(t);
}

static void test_errors_consolidate(void **st)
{
	ds_th_t *t = mk(".:53 {\n errors {\n  consolidate 300ms \"no next plugin\"\n }\n" ANSWERS "}\n");
	ds_th_res_t r;
	capture_start();
	for (int i = 0; i < 5; i++)
		ds_th_query(t, "y.example.net.", "A", 0, 100, &r);
	const char *during = strdup(capture_end());
	/* nothing per query ... */
	assert_int_equal(count_lines(during, "y.example.net."), 0);
	capture_start();
	ds_th_run(t, 500);
	const char *out = capture_end();
	/* ... one summary after the window */
	assert_true(matches(out, "^\\[ERROR\\] plugin/errors: 5 errors like 'no next plugin' occurred in last 300ms$"));
	free((void *)during);
	ds_th_free(t);
	/* show_first logs the first one at once, then the summary */
	t = mk(".:53 {\n errors {\n  consolidate 200ms \"next plugin\" warning show_first\n }\n" ANSWERS "}\n");
	capture_start();
	for (int i = 0; i < 3; i++)
		ds_th_query(t, "z.example.net.", "A", 0, 100, &r);
	ds_th_run(t, 400);
	out = capture_end();
	assert_int_equal(count_lines(out, "z.example.net."), 1);
	assert_true(matches(out, "^\\[WARNING\\] plugin/errors: 2 z\\.example\\.net\\. A: "));
	assert_true(matches(out, "^\\[WARNING\\] plugin/errors: 3 errors like 'next plugin' occurred in last 200ms$"));
	ds_th_free(t);
}

static void test_config_errors(void **st)
{
	static const char *bad[] = {
		".:53 {\n log {\n  class nonsense\n }\n whoami\n}\n",
		".:53 {\n errors {\n  consolidate 5m\n }\n whoami\n}\n",
		".:53 {\n errors {\n  consolidate 5m \"x\" loud\n }\n whoami\n}\n",
	};
	static const char *want[] = {
		"plugin/log: unknown class 'nonsense'",
		"plugin/errors: Wrong argument count",
		"plugin/errors: unknown log level argument in consolidate: 'loud'",
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		ds_err_t err = {{0}};
		ds_th_t *t = ds_th_new(bad[i], &err);
		assert_null(t);
		if (!strstr(err.msg, want[i]))
			fail_msg("config %zu: got '%s', want '%s'", i, err.msg, want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_format),
		cmocka_unit_test(test_classes_and_names),
		cmocka_unit_test(test_custom_format),
		cmocka_unit_test(test_errors_lines),
		cmocka_unit_test(test_errors_consolidate),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
