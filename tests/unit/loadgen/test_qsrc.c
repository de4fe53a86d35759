/* SPDX-License-Identifier: MIT */
/* Unit tests for loadgen/qsrc: Zipf popularity, the NXDOMAIN share,
 * unique random subdomains, streams that partition one sequence, the
 * Kubernetes search-path order and dnsperf file parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen/qsrc.h"

static ds_qsrc_t *mk(ds_qsrc_cfg_t c)
{
	ds_err_t err = {{0}};
	ds_qsrc_t *s = ds_qsrc_new(&c, &err);
	if (!s)
		fail_msg("ds_qsrc_new: %s", err.msg);
	return s;
}

static const char *str(const ds_qsrc_query_t *q, char *buf)
{
	ds_name_to_str(q->name, buf, 300);
	return buf;
}

/* Index i of a synthetic name "n<i>.example.com." */
static long name_index(const ds_qsrc_query_t *q)
{
	char b[300];
	str(q, b);
	if (b[0] != 'n' || b[1] < '0' || b[1] > '9')
		return -1;
	return strtol(b + 1, NULL, 10);
}

static void test_zipf_shape(void **state)
{
	ds_qsrc_t *s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_NAMES, .names = 1000, .zipf = 1.0,
					  .seed = 7});
	ds_qstream_t st;
	ds_qsrc_query_t q;
	static long freq[1000];
	memset(freq, 0, sizeof(freq));
	const int n = 400000;
	ds_qsrc_stream(&st, s, 0, 1);
	for (int i = 0; i < n; i++) {
		ds_qsrc_next(&st, &q);
		long k = name_index(&q);
		assert_true(k >= 0 && k < 1000);
		assert_int_equal(q.qtype, DS_TYPE_A);
		freq[k]++;
	}
	/* P(rank k) = 1/(k+1) / H(1000), H(1000) = 7.4855 */
	double h = 0;
	for (int k = 1; k <= 1000; k++)
		h += 1.0 / k;
	for (int k = 0; k < 10; k++) {
		double want = n / (k + 1) / h;
		assert_true(fabs(freq[k] - want) < 5 * sqrt(want) + 1);
	}
	assert_true(fabs((double)freq[0] / freq[1] - 2) < 0.1);
	assert_true(fabs((double)freq[0] / freq[9] - 10) < 0.8);
	/* The tail is thin but present: the last 500 names together. */
	long tail = 0;
	for (int k = 500; k < 1000; k++)
		tail += freq[k];
	double want = 0;
	for (int k = 501; k <= 1000; k++)
		want += (double)n / k / h;
	assert_true(fabs(tail - want) < 5 * sqrt(want));
	ds_qsrc_free(s);

	/* zipf 0 is uniform */
	s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_NAMES, .names = 10, .zipf = 0, .seed = 7});
	memset(freq, 0, sizeof(freq));
	ds_qsrc_stream(&st, s, 0, 1);
	for (int i = 0; i < 100000; i++) {
		ds_qsrc_next(&st, &q);
		freq[name_index(&q)]++;
	}
	for (int k = 0; k < 10; k++)
		assert_true(labs(freq[k] - 10000) < 500);
	ds_qsrc_free(s);
}

static void test_nxdomain_and_qtypes(void **state)
{
	ds_qsrc_t *s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_NAMES, .names = 100, .nxdomain = 0.2,
					  .qtypes = "A:70,AAAA:25,SRV:5", .zone = "Test.Org", .seed = 1});
	ds_qstream_t st;
	ds_qsrc_query_t q;
	char b[300];
	int nx = 0, a = 0, aaaa = 0, srv = 0;
	const int n = 100000;
	ds_qsrc_stream(&st, s, 0, 1);
	for (int i = 0; i < n; i++) {
		ds_qsrc_next(&st, &q);
		str(&q, b);
		/* The zone is lower-cased; every name is under it. */
		assert_non_null(strstr(b, ".test.org."));
		nx += !strncmp(b, "nx", 2);
		a += q.qtype == DS_TYPE_A;
		aaaa += q.qtype == DS_TYPE_AAAA;
		srv += q.qtype == DS_TYPE_SRV;
	}
	assert_true(abs(nx - 20000) < 700);
	assert_true(abs(a - 70000) < 800);
	assert_true(abs(aaaa - 25000) < 700);
	assert_true(abs(srv - 5000) < 400);
	ds_qsrc_free(s);

	uint16_t t[8];
	double cum[8];
	ds_err_t err;
	assert_int_equal(ds_qsrc_qtypes_parse("A,AAAA:3", t, cum, 8, &err), 2);
	assert_true(fabs(cum[0] - 0.25) < 1e-12 && cum[1] == 1.0);
	assert_int_equal(ds_qsrc_qtypes_parse("A:1,BOGUS:2", t, cum, 8, &err), DS_EINVAL);
	assert_non_null(strstr(err.msg, "unknown query type 'BOGUS'"));
	assert_int_equal(ds_qsrc_qtypes_parse("A:x", t, cum, 8, &err), DS_EINVAL);
	assert_int_equal(ds_qsrc_qtypes_parse("A:0", t, cum, 8, &err), DS_EINVAL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_random_unique(void **state)
{
	/* Two shards of two threads each: no name twice across all four. */
	ds_qsrc_t *s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_RANDOM, .zone = "example.com", .seed = 3});
	const int per = 50000, streams = 4;
	char **names = calloc((size_t)per * streams, sizeof(char *));
	char *pool = calloc((size_t)per * streams, 64);
	ds_qsrc_query_t q;
	for (int i = 0; i < streams; i++) {
		ds_qstream_t st;
		ds_qsrc_stream(&st, s, (uint64_t)i, (uint64_t)streams);
		for (int k = 0; k < per; k++) {
			char *b = pool + ((size_t)i * per + k) * 64;
			char full[300];
			ds_qsrc_next(&st, &q);
			str(&q, full);
			size_t fl = strlen(full);
			assert_int_equal(fl, strlen("r0123456789abcdef.example.com."));
			memcpy(b, full, fl + 1);
			names[i * per + k] = b;
		}
	}
	qsort(names, (size_t)per * streams, sizeof(char *), cmp_str);
	for (int i = 1; i < per * streams; i++)
		if (!strcmp(names[i - 1], names[i]))
			fail_msg("duplicate %s", names[i]);
	free(names);
	free(pool);
	ds_qsrc_free(s);
}

static void test_streams_partition(void **state)
{
	/* Stream i of 3 yields draws i, i+3, ... of the single stream. */
	ds_qsrc_t *s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_NAMES, .names = 5000, .zipf = 0.8,
					  .nxdomain = 0.1, .qtypes = "A,AAAA", .seed = 99});
	ds_qstream_t one, part[3];
	ds_qsrc_stream(&one, s, 0, 1);
	for (int i = 0; i < 3; i++)
		ds_qsrc_stream(&part[i], s, (uint64_t)i, 3);
	for (int k = 0; k < 30000; k++) {
		ds_qsrc_query_t a, b;
		ds_qsrc_next(&one, &a);
		ds_qsrc_next(&part[k % 3], &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.name, b.name, a.len);
		assert_int_equal(a.qtype, b.qtype);
	}
	ds_qsrc_free(s);
}

static void test_k8s_expand(void **state)
{
	char out[4][DS_QSRC_STR_MAX];
	int n = ds_qsrc_k8s_expand("svc.ns", "default", "cluster.local", 5, out, 4);
	assert_int_equal(n, 4);
	assert_string_equal(out[0], "svc.ns.default.svc.cluster.local");
	assert_string_equal(out[1], "svc.ns.svc.cluster.local");
	assert_string_equal(out[2], "svc.ns.cluster.local");
	assert_string_equal(out[3], "svc.ns");
	/* The FQDN written without its dot still has too few dots for ndots:5. */
	n = ds_qsrc_k8s_expand("svc.ns.svc.cluster.local", "web", "cluster.local", 5, out, 4);
	assert_int_equal(n, 4);
	assert_string_equal(out[0], "svc.ns.svc.cluster.local.web.svc.cluster.local");
	assert_string_equal(out[3], "svc.ns.svc.cluster.local");
	/* Enough dots: the name as is comes first. */
	n = ds_qsrc_k8s_expand("a.b.c.d.e.f", "web", "cluster.local", 5, out, 4);
	assert_string_equal(out[0], "a.b.c.d.e.f");
	assert_string_equal(out[1], "a.b.c.d.e.f.web.svc.cluster.local");
	/* A trailing dot: absolute, no search. */
	n = ds_qsrc_k8s_expand("svc.ns.svc.cluster.local.", "web", "cluster.local", 5, out, 4);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "svc.ns.svc.cluster.local");
	/* ndots:1 tries "svc.ns" first. */
	n = ds_qsrc_k8s_expand("svc.ns", "web", "cluster.local", 1, out, 4);
	assert_string_equal(out[0], "svc.ns");
	char longname[260];
	memset(longname, 'a', 250);
	longname[250] = 0;
	assert_int_equal(ds_qsrc_k8s_expand(longname, "web", "cluster.local", 5, out, 4),
			 DS_EINVAL);
}

/* "svcN.nsM.svc.cluster.local." exactly: a service's own name. */
static bool is_fqdn(const char *b)
{
	unsigned x, y;
	int end = 0;
	return sscanf(b, "svc-%u.ns-%u.svc.cluster.local.%n", &x, &y, &end) == 2 && end &&
	       b[end] == 0;
}

static void test_k8s_stream(void **state)
{
	ds_qsrc_t *s = mk((ds_qsrc_cfg_t){.kind = DS_QSRC_K8S, .names = 50, .namespaces = 5,
					  .nxdomain = 0.1, .seed = 11});
	ds_qstream_t st;
	ds_qsrc_query_t q;
	char b[300];
	int lookups = 0, misses = 0, lengths[5] = {0};
	int cur = 0;
	ds_qsrc_stream(&st, s, 0, 1);
	for (int i = 0; i < 20000; i++) {
		ds_qsrc_next(&st, &q);
		str(&q, b);
		cur++;
		/* A lookup ends at its first existing name (svcN.nsM.svc.cluster.local.)
		 * or, for a missing service, at the bare name after the search list. */
		bool hit = is_fqdn(b);
		bool bare_miss = !strncmp(b, "nosvc-", 6) && !strstr(b, "cluster.local");
		if (hit || bare_miss) {
			assert_true(cur >= 1 && cur <= 4);
			lengths[cur]++;
			misses += bare_miss;
			lookups++;
			cur = 0;
		}
	}
	/* Same-namespace short names take 1 query, other namespaces 2,
	 * missing services the whole list of 4. */
	assert_true(lengths[1] > 0 && lengths[2] > 0 && lengths[4] > 0);
	assert_int_equal(lengths[3], 0);
	assert_int_equal(lengths[4], misses);
	assert_true(fabs((double)misses / lookups - 0.1) < 0.02);
	ds_qsrc_free(s);
}

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/ds_qsrc_test_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void expect_file_error(const char *text, const char *msg)
{
	char *path = write_tmp(text);
	ds_err_t err = {{0}};
	ds_qsrc_cfg_t c = {.kind = DS_QSRC_FILE, .file = path};
	ds_qsrc_t *s = ds_qsrc_new(&c, &err);
	char want[128];
	snprintf(want, sizeof(want), "%s%s", path, msg);
	if (s || !strstr(err.msg, want))
		fail_msg("got '%s', want '%s'", err.msg, want);
	unlink(path);
}

static void test_file(void **state)
{
	char *path = write_tmp("; dnsperf comment\n"
			       "\n"
			       "www.Example.com A\n"
			       "   # indented comment\n"
			       "example.com\tMX  \r\n"
			       "_sip._udp.example.com SRV\n"
			       "\t\n"
			       "x.example.org TYPE65\n");
	ds_err_t err = {{0}};
	ds_qsrc_cfg_t c = {.kind = DS_QSRC_FILE, .file = path};
	ds_qsrc_t *s = ds_qsrc_new(&c, &err);
	assert_non_null(s);
	assert_int_equal(ds_qsrc_file_count(s), 4);
	ds_qstream_t st;
	ds_qsrc_query_t q;
	char b[300];
	static const char *want[] = {"www.example.com.", "example.com.", "_sip._udp.example.com.",
				     "x.example.org.", "www.example.com."};
	static const uint16_t wt[] = {DS_TYPE_A, DS_TYPE_MX, DS_TYPE_SRV, 65, DS_TYPE_A};
	ds_qsrc_stream(&st, s, 0, 1);
	for (int i = 0; i < 5; i++) {
		ds_qsrc_next(&st, &q);
		assert_string_equal(str(&q, b), want[i]);
		assert_int_equal(q.qtype, wt[i]);
	}
	ds_qsrc_free(s);
	unlink(path);

	expect_file_error("a.example A\nb.example BOGUS\n", ":2: unknown query type 'BOGUS'");
	expect_file_error("; c\nb.example\n", ":2: expected 'NAME TYPE'");
	expect_file_error("a A\nb A extra\n", ":2: expected 'NAME TYPE'");
	expect_file_error("a..b A\n", ":1: bad name 'a..b'");
	expect_file_error("; nothing\n\n", ": no queries");
	c.file = "/nonexistent/queries.txt";
	assert_null(ds_qsrc_new(&c, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/queries.txt: No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zipf_shape),
		cmocka_unit_test(test_nxdomain_and_qtypes),
		cmocka_unit_test(test_random_unique),
		cmocka_unit_test(test_streams_partition),
		cmocka_unit_test(test_k8s_expand),
		cmocka_unit_test(test_k8s_stream),
		cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
