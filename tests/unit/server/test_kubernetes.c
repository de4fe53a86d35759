/* SPDX-License-Identifier: MIT */
/* kubernetes: records from a fixture cluster (tests/data/k8s) loaded into
 * the view directly, through a real chain: every record type and option,
 * CoreDNS's NXDOMAIN/NODATA rules, SOA, fallthrough, sync, updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "server/plugins/kubernetes/kubernetes.h"
#include "tests/unit/server/harness.h"

#define CLUSTER DS_TEST_DATA "/k8s/cluster.json"
#define UPDATE DS_TEST_DATA "/k8s/update.json"
#define BIG DS_TEST_DATA "/k8s/big.json"

static ds_th_up_t *up;

/* A server with the kubernetes options opts, the fixture cluster loaded
 * and forward to the fake upstream as the next plugin. */
static ds_th_t *mk(bool synced, const char *fmt, ...)
{
	char opts[1024], cf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(opts, sizeof(opts), fmt, ap);
	va_end(ap);
	snprintf(cf, sizeof(cf),
	         ".:53 {\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n%s\n }\n"
	         " forward . 127.0.0.1:%d\n}\n",
	         opts, up->port);
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	if (!t)
		fprintf(stderr, "setup: %s\n", err.msg);
	assert_non_null(t);
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	assert_non_null(k);
	assert_int_equal(ds_k8s_test_load(k, CLUSTER, &err), 0);
	ds_k8s_test_set_synced(k, synced);
	return t;
}

static void q(ds_th_t *t, const char *name, const char *type, ds_th_res_t *r)
{
	assert_int_equal(ds_th_query(t, name, type, DS_TH_TCP, 2000, r), 0);
	assert_true(r->answered);
}

/* Does section ("ANSWER", "AUTHORITY", "ADDITIONAL") hold a line containing s? */
static bool sec_has(const ds_th_res_t *r, const char *sec, const char *s)
{
	char h[64];
	snprintf(h, sizeof(h), ";; %s SECTION:", sec);
	const char *a = strstr(r->text, h);
	if (!a)
		return false;
	const char *e = strstr(a + strlen(h), ";;");
	const char *hit = strstr(a, s);
	return hit && (!e || hit < e);
}

static void expect(ds_th_t *t, const char *name, const char *type, int rcode, unsigned an)
{
	ds_th_res_t r;
	q(t, name, type, &r);
	if (r.rcode != rcode || r.an != an)
		fprintf(stderr, "%s %s:\n%s\n", name, type, r.text);
	assert_int_equal(r.rcode, rcode);
	assert_int_equal(r.an, an);
	assert_true(r.flags & DS_FLAG_AA);
	assert_string_equal(r.writer, "kubernetes");
	if (an == 0) {
		/* NXDOMAIN and NODATA carry the zone's SOA */
		assert_int_equal(r.ns, 1);
		assert_true(sec_has(&r, "AUTHORITY", "SOA"));
	}
}

static void nx(ds_th_t *t, const char *name, const char *type)
{
	expect(t, name, type, DS_RCODE_NXDOMAIN, 0);
}

static void nodata(ds_th_t *t, const char *name, const char *type)
{
	expect(t, name, type, DS_RCODE_NOERROR, 0);
}

/* ------------------------------------------------------------- records */

static void test_clusterip_a(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_true(r.flags & DS_FLAG_AA);
	assert_false(r.flags & DS_FLAG_RA);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "svc1.testns.svc.cluster.local.\t5\tIN\tA\t10.0.0.1"));
	/* the owner keeps the query's case */
	q(t, "SVC1.TestNS.svc.Cluster.Local.", "A", &r);
	assert_true(ds_th_has(&r, "SVC1.TestNS.svc.Cluster.Local.\t5\tIN\tA\t10.0.0.1"));
	/* an IPv4-only service has no AAAA: NODATA */
	nodata(t, "svc1.testns.svc.cluster.local.", "AAAA");
	/* a port-less ClusterIP service still answers with its IP */
	q(t, "noports.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "IN\tA\t10.0.0.5"));
	/* _port._proto names resolve to the cluster IP too */
	q(t, "_http._tcp.svc1.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "_http._tcp.svc1.testns.svc.cluster.local.\t5\tIN\tA\t10.0.0.1"));
	nx(t, "_http._udp.svc1.testns.svc.cluster.local.", "A");
	ds_th_free(t);
}

static void test_dual_stack(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "dual.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "\tA\t10.0.0.2"));
	q(t, "dual.testns.svc.cluster.local.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "\tAAAA\tfd00::2"));
	q(t, "svc6.testns.svc.cluster.local.", "AAAA", &r);
	assert_true(ds_th_has(&r, "\tAAAA\tfd00::1"));
	nodata(t, "svc6.testns.svc.cluster.local.", "A");
	ds_th_free(t);
}

static void test_headless(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	/* every ready address; not-ready ones are invisible, unset counts as ready */
	q(t, "hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 3);
	assert_true(ds_th_has(&r, "\tA\t10.2.0.1"));
	assert_true(ds_th_has(&r, "\tA\t10.2.0.2"));
	assert_true(ds_th_has(&r, "\tA\t10.2.0.3"));
	assert_false(ds_th_has(&r, "10.2.0.4"));
	q(t, "hdls1.testns.svc.cluster.local.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "fd00:2::1"));
	/* endpoint names: hostname, else the dashed IP */
	q(t, "ep1.hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "ep1.hdls1.testns.svc.cluster.local.\t5\tIN\tA\t10.2.0.1"));
	q(t, "10-2-0-2.hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "10.2.0.2"));
	q(t, "fd00-2--1.hdls1.testns.svc.cluster.local.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	nx(t, "hdls1-1.hdls1.testns.svc.cluster.local.", "A");
	nx(t, "10-2-0-4.hdls1.testns.svc.cluster.local.", "A");
	/* the same address in two slices is answered once; a shared hostname gives both */
	q(t, "hdls2.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 2);
	q(t, "db.hdls2.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 2);
	/* no ready endpoints: NXDOMAIN */
	nx(t, "hdlsempty.testns.svc.cluster.local.", "A");
	/* endpoint names work for ClusterIP services as well */
	q(t, "10-1-0-1.svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "10.1.0.1"));
	ds_th_free(t);
}

static void test_endpoint_pod_names(void **st)
{
	ds_th_t *t = mk(true, "endpoint_pod_names");
	ds_th_res_t r;
	q(t, "hdls1-1.hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "10.2.0.2"));
	/* a hostname still wins over the pod name */
	q(t, "ep1.hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	nx(t, "hdls1-0.hdls1.testns.svc.cluster.local.", "A");
	nx(t, "10-2-0-2.hdls1.testns.svc.cluster.local.", "A");
	/* without a pod reference the dashed IP stays */
	q(t, "10-2-0-3.hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	q(t, "svc1-pod-a.svc1.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "10.1.0.1"));
	/* SRV targets use the pod names */
	q(t, "hdls1.testns.svc.cluster.local.", "SRV", &r);
	assert_true(ds_th_has(&r, "80 hdls1-1.hdls1.testns.svc.cluster.local."));
	ds_th_free(t);
}

static void test_srv(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "_http._tcp.svc1.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "_http._tcp.svc1.testns.svc.cluster.local.\t5\tIN\tSRV\t0 100 80 "
	                          "svc1.testns.svc.cluster.local."));
	assert_int_equal(r.ar, 1);
	assert_true(
	    sec_has(&r, "ADDITIONAL", "svc1.testns.svc.cluster.local.\t5\tIN\tA\t10.0.0.1"));
	/* the underscores are optional */
	q(t, "http.tcp.svc1.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 1);
	nx(t, "_http._udp.svc1.testns.svc.cluster.local.", "SRV");
	nx(t, "_nope._tcp.svc1.testns.svc.cluster.local.", "SRV");
	/* the bare name: every port, weight 100 / candidates (4 ports: 25) */
	q(t, "multi.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 4);
	assert_true(ds_th_has(&r, "SRV\t0 25 80 multi.testns.svc.cluster.local."));
	assert_true(ds_th_has(&r, "SRV\t0 25 443 multi."));
	assert_true(ds_th_has(&r, "SRV\t0 25 9090 multi."));
	assert_true(ds_th_has(&r, "SRV\t0 25 7000 multi."));
	assert_int_equal(r.ar, 1);
	/* dual-stack: 2 ports x 2 IPs are 4 candidates, merged into 2 records */
	q(t, "dual.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "SRV\t0 25 80 dual.testns.svc.cluster.local."));
	assert_true(ds_th_has(&r, "SRV\t0 25 53 dual.testns.svc.cluster.local."));
	assert_int_equal(r.ar, 2);
	assert_true(sec_has(&r, "ADDITIONAL", "\tA\t10.0.0.2"));
	assert_true(sec_has(&r, "ADDITIONAL", "\tAAAA\tfd00::2"));
	q(t, "_dns._udp.dual.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "SRV\t0 50 53 dual.testns.svc.cluster.local."));
	/* headless: one record per ready endpoint, targets are endpoint names */
	q(t, "hdls1.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 4);
	assert_true(ds_th_has(&r, "SRV\t0 25 80 ep1.hdls1.testns.svc.cluster.local."));
	assert_true(ds_th_has(&r, "SRV\t0 25 80 10-2-0-2.hdls1.testns.svc.cluster.local."));
	assert_true(ds_th_has(&r, "SRV\t0 25 80 fd00-2--1.hdls1.testns.svc.cluster.local."));
	assert_int_equal(r.ar, 4);
	assert_true(
	    sec_has(&r, "ADDITIONAL", "ep1.hdls1.testns.svc.cluster.local.\t5\tIN\tA\t10.2.0.1"));
	assert_true(sec_has(&r, "ADDITIONAL", "\tAAAA\tfd00:2::1"));
	/* three candidates sharing one target: one record of weight 33, two addresses */
	q(t, "hdls2.testns.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "SRV\t0 33 5000 db.hdls2.testns.svc.cluster.local."));
	assert_int_equal(r.ar, 2);
	/* a port-less service has no SRV records */
	nodata(t, "noports.testns.svc.cluster.local.", "SRV");
	ds_th_free(t);
}

static void test_externalname(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "ext.testns.svc.cluster.local.", "CNAME", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "ext.testns.svc.cluster.local.\t5\tIN\tCNAME\text.example.com."));
	/* A: the CNAME, then the target resolved through the chain (forward) */
	unsigned before = up->udp_queries + up->tcp_queries;
	q(t, "ext.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "CNAME\text.example.com."));
	assert_true(ds_th_has(&r, "ext.example.com.\t60\tIN\tA\t10.0.0.1"));
	assert_true(up->udp_queries + up->tcp_queries > before);
	/* a target in the zone is resolved here */
	q(t, "extin.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "CNAME\tsvc1.testns.svc.cluster.local."));
	assert_true(ds_th_has(&r, "svc1.testns.svc.cluster.local.\t5\tIN\tA\t10.0.0.1"));
	/* an in-zone target that does not exist: no CNAME, NODATA */
	nodata(t, "extgone.testns.svc.cluster.local.", "A");
	/* an IP as externalName is never answered */
	nx(t, "extip.testns.svc.cluster.local.", "A");
	/* other types: the name exists */
	nodata(t, "ext.testns.svc.cluster.local.", "TXT");
	nodata(t, "ext.testns.svc.cluster.local.", "SRV");
	nodata(t, "ext.testns.svc.cluster.local.", "MX");
	/* no endpoints or ports below an ExternalName */
	nx(t, "x.ext.testns.svc.cluster.local.", "A");
	nx(t, "_http._tcp.ext.testns.svc.cluster.local.", "SRV");
	ds_th_free(t);
}

static void test_ptr(void **st)
{
	ds_th_t *t = mk(true, "fallthrough in-addr.arpa ip6.arpa");
	ds_th_res_t r;
	q(t, "1.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_int_equal(r.an, 1);
	assert_true(
	    ds_th_has(&r, "1.0.0.10.in-addr.arpa.\t5\tIN\tPTR\tsvc1.testns.svc.cluster.local."));
	q(t, "1.1.0.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\tweb.other.svc.cluster.local."));
	/* an endpoint of a ClusterIP service */
	q(t, "1.0.1.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\t10-1-0-1.svc1.testns.svc.cluster.local."));
	/* endpoint addresses: hostname or dashed IP */
	q(t, "1.0.2.10.in-addr.arpa.", "PTR", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "PTR\tep1.hdls1.testns.svc.cluster.local."));
	q(t, "2.0.2.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\t10-2-0-2.hdls1.testns.svc.cluster.local."));
	/* an address in two slices of one service: one record */
	q(t, "1.0.3.10.in-addr.arpa.", "PTR", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "PTR\tdb.hdls2.testns.svc.cluster.local."));
	/* slices of a service that does not exist still answer */
	q(t, "1.0.9.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\tspook.ghost.testns.svc.cluster.local."));
	/* IPv6 cluster IP fd00::1 */
	q(t, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "PTR",
	  &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "PTR\tsvc6.testns.svc.cluster.local."));
	/* not a cluster address: fallthrough for the reverse zones goes on to forward */
	q(t, "9.9.9.9.in-addr.arpa.", "PTR", &r);
	assert_string_equal(r.writer, "forward");
	ds_th_free(t);
	/* without fallthrough: NXDOMAIN with the reverse zone's SOA */
	t = mk(true, "");
	ds_th_free(t);
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	char cf[512];
	snprintf(cf, sizeof(cf),
	         ".:53 {\n kubernetes cluster.local in-addr.arpa\n forward . 127.0.0.1:%d\n}\n",
	         up->port);
	t = ds_th_new(cf, &err);
	assert_non_null(t);
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	assert_int_equal(ds_k8s_test_load(k, CLUSTER, &err), 0);
	ds_k8s_test_set_synced(k, true);
	nx(t, "9.9.9.9.in-addr.arpa.", "PTR");
	q(t, "9.9.9.9.in-addr.arpa.", "PTR", &r);
	assert_true(sec_has(&r, "AUTHORITY",
	                    "in-addr.arpa.\t5\tIN\tSOA\tns.dns.in-addr.arpa. "
	                    "hostmaster.in-addr.arpa."));
	/* names in a reverse zone that are not addresses */
	nx(t, "foo.in-addr.arpa.", "PTR");
	nodata(t, "in-addr.arpa.", "PTR");
	ds_th_free(t);
}

static void test_ptr_fallthrough_default(void **st)
{
	/* fallthrough without zones: everything NXDOMAIN goes on */
	ds_th_t *t = mk(true, "fallthrough");
	ds_th_res_t r;
	q(t, "nosuch.testns.svc.cluster.local.", "A", &r);
	assert_string_equal(r.writer, "forward");
	q(t, "foo.cluster.local.", "A", &r);
	assert_string_equal(r.writer, "forward");
	/* NODATA is not a name error: written, not passed on */
	nodata(t, "svc1.testns.svc.cluster.local.", "AAAA");
	ds_th_free(t);
	/* fallthrough limited to other zones: cluster names stay NXDOMAIN */
	t = mk(true, "fallthrough in-addr.arpa");
	nx(t, "nosuch.testns.svc.cluster.local.", "A");
	ds_th_free(t);
}

static void test_pods(void **st)
{
	ds_th_t *t = mk(true, "pods insecure");
	ds_th_res_t r;
	q(t, "10-244-0-99.default.pod.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "10-244-0-99.default.pod.cluster.local.\t5\tIN\tA\t10.244.0.99"));
	q(t, "fd00-244--5.default.pod.cluster.local.", "AAAA", &r);
	assert_true(ds_th_has(&r, "AAAA\tfd00:244::5"));
	nodata(t, "fd00-244--5.default.pod.cluster.local.", "A");
	nx(t, "10-244-0-99.nosuchns.pod.cluster.local.", "A");
	nx(t, "web-0.default.pod.cluster.local.", "A");
	nodata(t, "default.pod.cluster.local.", "A");
	ds_th_free(t);

	t = mk(true, "pods verified");
	q(t, "10-244-0-5.default.pod.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "\tA\t10.244.0.5"));
	q(t, "fd00-244--5.default.pod.cluster.local.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	nx(t, "10-244-0-99.default.pod.cluster.local.", "A");
	/* a pod being deleted, a finished pod */
	nx(t, "10-244-0-6.default.pod.cluster.local.", "A");
	nx(t, "10-244-0-7.default.pod.cluster.local.", "A");
	/* right IP, wrong namespace */
	nx(t, "10-1-0-1.default.pod.cluster.local.", "A");
	q(t, "10-1-0-1.testns.pod.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	/* SRV of a pod name: port 0, target the pod name */
	q(t, "10-244-0-5.default.pod.cluster.local.", "SRV", &r);
	assert_true(ds_th_has(&r, "SRV\t0 100 0 10-244-0-5.default.pod.cluster.local."));
	ds_th_free(t);

	t = mk(true, "pods disabled");
	nx(t, "10-244-0-5.default.pod.cluster.local.", "A");
	nx(t, "default.pod.cluster.local.", "A");
	ds_th_free(t);
	t = mk(true, "");
	nx(t, "10-244-0-5.default.pod.cluster.local.", "A");
	ds_th_free(t);
}

static void test_namespaces_labels(void **st)
{
	ds_th_t *t = mk(true, "namespaces testns");
	ds_th_res_t r;
	nx(t, "web.other.svc.cluster.local.", "A");
	nx(t, "other.svc.cluster.local.", "A");
	nodata(t, "testns.svc.cluster.local.", "A");
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	/* reverse answers of other namespaces are suppressed too */
	nx(t, "1.1.0.10.in-addr.arpa.", "PTR");
	ds_th_free(t);

	t = mk(true, "labels app=one");
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	nx(t, "dual.testns.svc.cluster.local.", "A");
	/* the slice carries the label too: its endpoints are there */
	q(t, "10-1-0-1.svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	ds_th_free(t);

	t = mk(true, "labels app in (web, two)");
	nx(t, "svc1.testns.svc.cluster.local.", "A");
	q(t, "web.other.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	ds_th_free(t);

	t = mk(true, "namespace_labels team=dns");
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	nx(t, "web.other.svc.cluster.local.", "A");
	nx(t, "kube-dns.kube-system.svc.cluster.local.", "A");
	ds_th_free(t);
}

static void test_nxdomain_nodata(void **st)
{
	ds_th_t *t = mk(true, "pods insecure");
	ds_k8s_test_set_local(ds_k8s_test_instance(ds_th_gen(t)), NULL, NULL, 0);
	/* the apex and the svc/pod levels exist, empty */
	nodata(t, "cluster.local.", "A");
	nodata(t, "svc.cluster.local.", "A");
	nodata(t, "pod.cluster.local.", "AAAA");
	nodata(t, "testns.svc.cluster.local.", "A");
	nx(t, "nosuchns.svc.cluster.local.", "A");
	nx(t, "nosuch.testns.svc.cluster.local.", "A");
	/* first label under the zone neither svc nor pod; too many labels */
	nx(t, "foo.cluster.local.", "A");
	nx(t, "a.b.c.svc1.testns.svc.cluster.local.", "A");
	nx(t, "x.y.z.svc.cluster.local.", "A");
	/* other types on an existing name: NODATA */
	nodata(t, "svc1.testns.svc.cluster.local.", "MX");
	nodata(t, "svc1.testns.svc.cluster.local.", "HINFO");
	nodata(t, "svc1.testns.svc.cluster.local.", "TXT");
	nodata(t, "svc1.testns.svc.cluster.local.", "CNAME");
	nx(t, "nosuch.testns.svc.cluster.local.", "MX");
	nx(t, "nosuch.testns.svc.cluster.local.", "HINFO");
	/* TXT exists only where another type has records */
	nx(t, "testns.svc.cluster.local.", "TXT");
	nx(t, "cluster.local.", "TXT");
	/* SOA only at the apex; NS elsewhere follows existence */
	nodata(t, "svc1.testns.svc.cluster.local.", "SOA");
	nodata(t, "svc1.testns.svc.cluster.local.", "NS");
	nx(t, "nosuch.testns.svc.cluster.local.", "NS");
	/* no local addresses known: ns.dns exists without records */
	nodata(t, "ns.dns.cluster.local.", "A");
	nx(t, "ns.dns.cluster.local.", "TXT");
	ds_th_res_t r;
	q(t, "cluster.local.", "AXFR", &r);
	assert_int_equal(r.rcode, DS_RCODE_REFUSED);
	assert_string_equal(r.writer, "");
	ds_th_free(t);
}

static void test_soa_apex(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	time_t now = time(NULL);
	q(t, "cluster.local.", "SOA", &r);
	assert_int_equal(r.an, 1);
	unsigned serial = 0;
	const char *s = strstr(r.text, "SOA\tns.dns.cluster.local. hostmaster.cluster.local. ");
	assert_non_null(s);
	assert_true(ds_th_has(&r, "cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. "
	                          "hostmaster.cluster.local."));
	assert_int_equal(
	    sscanf(strchr(s, ' ') + 1 + strlen("hostmaster.cluster.local."), "%u", &serial), 1);
	/* the serial is the Unix time of the last change */
	assert_true(serial + 60 >= (unsigned)now && serial <= (unsigned)now + 1);
	assert_true(ds_th_has(&r, " 7200 1800 86400 5"));
	/* the SOA of a negative answer: the zone as the client spelled it */
	q(t, "nosuch.testns.svc.Cluster.Local.", "A", &r);
	assert_true(sec_has(&r, "AUTHORITY",
	                    "Cluster.Local.\t5\tIN\tSOA\tns.dns.Cluster.Local. "
	                    "hostmaster.Cluster.Local."));
	ds_th_free(t);
	/* TTL: min(ttl, 300), MINIMUM = ttl */
	t = mk(true, "ttl 600");
	q(t, "cluster.local.", "SOA", &r);
	assert_true(ds_th_has(&r, "cluster.local.\t300\tIN\tSOA"));
	assert_true(ds_th_has(&r, " 7200 1800 86400 600"));
	ds_th_free(t);
}

static void test_apex_ns(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	ds_th_res_t r;
	/* the instance's address is an endpoint of kube-dns: NS is the service name */
	uint8_t fam[1] = {4};
	uint8_t ip[1][16] = {{10, 244, 1, 10}};
	ds_k8s_test_set_local(k, fam, (const uint8_t(*)[16])ip, 1);
	q(t, "cluster.local.", "NS", &r);
	assert_int_equal(r.an, 1);
	assert_true(
	    ds_th_has(&r, "cluster.local.\t5\tIN\tNS\tkube-dns.kube-system.svc.cluster.local."));
	assert_true(sec_has(&r, "ADDITIONAL",
	                    "kube-dns.kube-system.svc.cluster.local.\t5\tIN\tA\t10.96.0.10"));
	/* an address that is no endpoint: ns.dns.<zone> with that address */
	uint8_t ip2[1][16] = {{192, 0, 2, 1}};
	ds_k8s_test_set_local(k, fam, (const uint8_t(*)[16])ip2, 1);
	q(t, "cluster.local.", "NS", &r);
	assert_true(ds_th_has(&r, "NS\tns.dns.cluster.local."));
	assert_true(sec_has(&r, "ADDITIONAL", "ns.dns.cluster.local.\t5\tIN\tA\t192.0.2.1"));
	q(t, "ns.dns.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "ns.dns.cluster.local.\t5\tIN\tA\t192.0.2.1"));
	nodata(t, "ns.dns.cluster.local.", "AAAA");
	/* other types at the apex: NODATA */
	nodata(t, "cluster.local.", "MX");
	/* CoreDNS compares the lower-cased name with the zone as spelled */
	nodata(t, "Cluster.Local.", "NS");
	ds_th_free(t);
}

static void test_dns_version(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "dns-version.cluster.local.", "TXT", &r);
	assert_int_equal(r.an, 1);
	assert_true(ds_th_has(&r, "dns-version.cluster.local.\t28800\tIN\tTXT\t\"1.1.0\""));
	nx(t, "dns-version.cluster.local.", "A");
	ds_th_free(t);
}

static void test_ignore_empty_service(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	q(t, "empty.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	ds_th_free(t);
	t = mk(true, "ignore empty_service");
	nx(t, "empty.testns.svc.cluster.local.", "A");
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	/* ExternalName services are not affected */
	q(t, "ext.testns.svc.cluster.local.", "CNAME", &r);
	assert_int_equal(r.an, 1);
	ds_th_free(t);
}

static void test_servfail_before_sync(void **st)
{
	ds_th_t *t = mk(false, "");
	ds_th_res_t r;
	/* would be NXDOMAIN: SERVFAIL with the SOA, written by the plugin */
	q(t, "nosuch.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_SERVFAIL);
	assert_string_equal(r.writer, "kubernetes");
	assert_true(sec_has(&r, "AUTHORITY", "SOA"));
	/* what the partial view knows is answered */
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	nodata(t, "svc1.testns.svc.cluster.local.", "AAAA");
	ds_th_free(t);
	/* fallthrough comes first */
	t = mk(false, "fallthrough");
	q(t, "nosuch.testns.svc.cluster.local.", "A", &r);
	assert_string_equal(r.writer, "forward");
	ds_th_free(t);
}

static void test_ready(void **st)
{
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(".:53 {\n kubernetes cluster.local\n ready 127.0.0.1:0\n}\n", &err);
	if (!t)
		fprintf(stderr, "%s\n", err.msg);
	assert_non_null(t);
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	char names[128];
	assert_false(ds_gen_ready(ds_th_gen(t), names, sizeof(names)));
	assert_string_equal(names, "kubernetes");
	ds_k8s_test_set_synced(k, true);
	assert_true(ds_gen_ready(ds_th_gen(t), names, sizeof(names)));
	ds_th_free(t);
}

static void test_ttl(void **st)
{
	ds_th_t *t = mk(true, "ttl 30");
	ds_th_res_t r;
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "svc1.testns.svc.cluster.local.\t30\tIN\tA\t10.0.0.1"));
	q(t, "_http._tcp.svc1.testns.svc.cluster.local.", "SRV", &r);
	assert_true(ds_th_has(&r, "\t30\tIN\tSRV\t"));
	assert_true(sec_has(&r, "ADDITIONAL", "\t30\tIN\tA\t"));
	q(t, "1.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "\t30\tIN\tPTR\t"));
	q(t, "nosuch.testns.svc.cluster.local.", "A", &r);
	assert_true(sec_has(&r, "AUTHORITY", "cluster.local.\t30\tIN\tSOA"));
	assert_true(sec_has(&r, "AUTHORITY", " 7200 1800 86400 30"));
	ds_th_free(t);
	t = mk(true, "ttl 0");
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "svc1.testns.svc.cluster.local.\t0\tIN\tA\t10.0.0.1"));
	ds_th_free(t);
}

static void test_noendpoints(void **st)
{
	ds_th_t *t = mk(true, "noendpoints");
	ds_th_res_t r;
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 1);
	nx(t, "hdls1.testns.svc.cluster.local.", "A");
	nx(t, "10-1-0-1.svc1.testns.svc.cluster.local.", "A");
	nx(t, "1.0.2.10.in-addr.arpa.", "PTR");
	ds_th_free(t);
}

static void test_updates(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	ds_err_t err = {{0}};
	ds_th_res_t r;
	const ds_k8s_view_t *v = ds_k8s_store_view(k->store);
	uint64_t seq = v->seq;
	assert_int_equal(v->nslice, 9);
	assert_int_equal(v->nsvc, 15);
	assert_int_equal(v->nns, 4);
	assert_int_equal(v->npod, 0); /* pods are only kept with pods verified */
	assert_int_equal(ds_k8s_test_load(k, UPDATE, &err), 0);
	v = ds_k8s_store_view(k->store);
	assert_int_equal(v->seq, seq + 1);
	q(t, "hdls1.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "10.2.0.1"));
	assert_true(ds_th_has(&r, "10.2.0.9"));
	assert_false(ds_th_has(&r, "10.2.0.2"));
	/* the IPv6 slice of the same service is untouched */
	q(t, "hdls1.testns.svc.cluster.local.", "AAAA", &r);
	assert_int_equal(r.an, 1);
	q(t, "_http._tcp.svc1.testns.svc.cluster.local.", "SRV", &r);
	assert_true(ds_th_has(&r, "SRV\t0 100 8080 svc1."));
	q(t, "svc1.testns.svc.cluster.local.", "A", &r);
	assert_true(ds_th_has(&r, "10.0.0.11"));
	/* the reverse index follows */
	q(t, "11.0.0.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\tsvc1.testns.svc.cluster.local."));
	nx(t, "1.0.0.10.in-addr.arpa.", "PTR");
	q(t, "9.0.2.10.in-addr.arpa.", "PTR", &r);
	assert_true(ds_th_has(&r, "PTR\t10-2-0-9.hdls1.testns.svc.cluster.local."));
	nx(t, "2.0.2.10.in-addr.arpa.", "PTR");
	/* nobody reads: what the update replaced is freed at once */
	assert_int_equal(ds_k8s_store_retired(k->store), 0);
	ds_th_free(t);
}

static void test_udp_truncation(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_th_res_t r;
	/* 3 A records fit 512 bytes; SRV with 4 targets + glue do too; over UDP
	 * the answer matches the TCP one */
	assert_int_equal(ds_th_query(t, "hdls1.testns.svc.cluster.local.", "SRV", 0, 2000, &r), 0);
	assert_int_equal(r.an, 4);
	assert_false(r.flags & DS_FLAG_TC);
	ds_th_free(t);
}

/* ------------------------------------------------------------ benchmark */

/* Run only with DS_K8S_BENCH=1 (it takes seconds and prints numbers). */
static bool bench_on(void)
{
	const char *e = getenv("DS_K8S_BENCH");
	return e && e[0] == '1';
}

/* CPU time of this thread: the machine may be shared, wall time is not ours. */
static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec;
}

static long rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field));
	if (f)
		fclose(f);
	return v;
}

/*
 * A cluster shaped like k8s-sim's --synth services=10000,endpoints=150000,
 * pods=150000,namespaces=500: 10% headless services, endpoint counts
 * skewed (1..45, 15 on average), slices of at most 100, every endpoint a
 * Running pod with a Deployment-style name, applied object by object.
 */
static void synth_cluster(ds_k8s_t *k, int nsvc, int nns, int *npods)
{
	char buf[512];
	int pod = 0;
	for (int n = 0; n < nns; n++) {
		snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"ns-%d\"}}", n);
		cJSON *o = cJSON_Parse(buf);
		ds_k8s_apply(k->store, &k->objopts, DS_K8S_K_NS, false, o, NULL, NULL, NULL);
		cJSON_Delete(o);
	}
	for (int i = 0; i < nsvc; i++) {
		bool headless = i % 10 == 0;
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", 96 + i / 65536, (i / 256) % 256, i % 256);
		snprintf(buf, sizeof(buf),
		         "{\"metadata\":{\"name\":\"svc-%d\",\"namespace\":\"ns-%d\"},\"spec\":{"
		         "\"clusterIP\":\"%s\","
		         "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"},{"
		         "\"port\":8080}]}}",
		         i, i % nns, headless ? "None" : ip);
		cJSON *o = cJSON_Parse(buf);
		ds_k8s_apply(k->store, &k->objopts, DS_K8S_K_SVC, false, o, NULL, NULL, NULL);
		cJSON_Delete(o);
		int neps = 1 + (int)((unsigned)(i * 2654435761u) % 29u); /* 1..29, mean 15 */
		for (int base = 0, part = 0; base < neps; base += 100, part++) {
			cJSON *sl = cJSON_CreateObject();
			cJSON *md = cJSON_AddObjectToObject(sl, "metadata");
			snprintf(buf, sizeof(buf), "svc-%d-x%d", i, part);
			cJSON_AddStringToObject(md, "name", buf);
			snprintf(buf, sizeof(buf), "ns-%d", i % nns);
			cJSON_AddStringToObject(md, "namespace", buf);
			cJSON *lb = cJSON_AddObjectToObject(md, "labels");
			snprintf(buf, sizeof(buf), "svc-%d", i);
			cJSON_AddStringToObject(lb, "kubernetes.io/service-name", buf);
			cJSON_AddStringToObject(sl, "addressType", "IPv4");
			cJSON *ports = cJSON_AddArrayToObject(sl, "ports");
			cJSON *pt = cJSON_CreateObject();
			cJSON_AddStringToObject(pt, "name", "http");
			cJSON_AddNumberToObject(pt, "port", 80);
			cJSON_AddStringToObject(pt, "protocol", "TCP");
			cJSON_AddItemToArray(ports, pt);
			cJSON *eps = cJSON_AddArrayToObject(sl, "endpoints");
			for (int e = base; e < neps && e < base + 100; e++, pod++) {
				cJSON *ep = cJSON_CreateObject();
				cJSON *ad = cJSON_AddArrayToObject(ep, "addresses");
				char pip[32], pname[64];
				snprintf(pip, sizeof(pip), "10.%d.%d.%d", 244 + pod / 65536,
				         (pod / 256) % 256, pod % 256);
				cJSON_AddItemToArray(ad, cJSON_CreateString(pip));
				cJSON_AddBoolToObject(cJSON_AddObjectToObject(ep, "conditions"),
				                      "ready", true);
				snprintf(pname, sizeof(pname), "svc-%d-7d9f8b6c5-%05x", i,
				         pod & 0xfffff);
				cJSON_AddStringToObject(cJSON_AddObjectToObject(ep, "targetRef"),
				                        "name", pname);
				cJSON_AddItemToArray(eps, ep);
				cJSON *po = cJSON_CreateObject();
				cJSON *pm = cJSON_AddObjectToObject(po, "metadata");
				cJSON_AddStringToObject(pm, "name", pname);
				snprintf(buf, sizeof(buf), "ns-%d", i % nns);
				cJSON_AddStringToObject(pm, "namespace", buf);
				cJSON *ps = cJSON_AddObjectToObject(po, "status");
				cJSON_AddStringToObject(ps, "phase", "Running");
				cJSON_AddStringToObject(ps, "podIP", pip);
				ds_k8s_apply(k->store, &k->objopts, DS_K8S_K_POD, false, po, NULL,
				             NULL, NULL);
				cJSON_Delete(po);
			}
			ds_k8s_apply(k->store, &k->objopts, DS_K8S_K_SLICE, false, sl, NULL, NULL,
			             NULL);
			cJSON_Delete(sl);
		}
		/* the watcher publishes as it goes; so does this */
		if (i % 500 == 499)
			ds_k8s_store_publish(k->store);
	}
	ds_k8s_store_publish(k->store);
	*npods = pod;
}

static ds_th_t *bench_server(const char *chain)
{
	char cf[1024];
	snprintf(cf, sizeof(cf),
	         ".:53 {\n%s\n kubernetes cluster.local in-addr.arpa {\n  pods verified\n"
	         "  endpoint_pod_names\n }\n}\n",
	         chain);
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_non_null(t);
	ds_k8s_test_set_synced(ds_k8s_test_instance(ds_th_gen(t)), true);
	return t;
}

/* ns per query through the chain (parse, plugins, finalize; no sockets). */
static double chain_cost(ds_th_t *t, uint8_t (*reqs)[300], const size_t *lens, size_t nreq,
                         size_t iters, unsigned *rcodes)
{
	ds_worker_t *w = &ds_workers[0];
	const ds_listen_t *l = &ds_th_gen(t)->listens[0];
	int64_t t0 = cpu_ns();
	for (size_t i = 0; i < iters; i++) {
		ds_query_t *q = ds_query_get(w);
		size_t k = i % nreq;
		memcpy(q->rx, reqs[k], lens[k]);
		q->proto = DS_PROTO_UDP;
		ds_addr_parse("127.0.0.1:40000", 0, &q->client);
		ds_addr_parse("127.0.0.1:53", 0, &q->local);
		bool sync = ds_chain_handle(w, l, q, lens[k]);
		assert_true(sync);
		rcodes[DS_RCODE(ds_rd16(q->tx + 2))]++;
		ds_worker_gen_drop(w, q->gen);
		ds_query_put(w, q);
	}
	return (double)(cpu_ns() - t0) / (double)iters;
}

static size_t mkreq(uint8_t *buf, const char *name, uint16_t type, uint16_t id)
{
	uint8_t n[DS_NAME_MAX];
	ds_name_from_str(name, NULL, n);
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, 300);
	ds_wb_query(&wb, id, DS_FLAG_RD, n, type, DS_CLASS_IN);
	return (size_t)ds_wb_finish(&wb);
}

static void test_bench(void **st)
{
	if (!bench_on())
		skip();
	const int nsvc = 10000, nns = 500;
	long rss0 = rss_kb("VmRSS:");
	ds_th_t *t = bench_server("");
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	long rss1 = rss_kb("VmRSS:");
	int npods = 0;
	int64_t t0 = ds_now_ns();
	synth_cluster(k, nsvc, nns, &npods);
	double build_s = (double)(ds_now_ns() - t0) / 1e9;
	const ds_k8s_view_t *v = ds_k8s_store_view(k->store);
	long rss2 = rss_kb("VmRSS:");
	size_t idx = ds_k8s_store_index_bytes(k->store);
	uint64_t objs = v->nsvc + v->naddr + v->npod;
	print_message(
	    "cluster: %llu services, %llu slices, %llu endpoints, %llu pods, %llu namespaces "
	    "(built in %.2f s)\n",
	    (unsigned long long)v->nsvc, (unsigned long long)v->nslice,
	    (unsigned long long)v->naddr, (unsigned long long)v->npod, (unsigned long long)v->nns,
	    build_s);
	print_message(
	    "view %.1f MB + watcher index %.1f MB = %.1f B per object (services+endpoints+pods); "
	    "RSS +%.1f MB = %.1f B per object\n",
	    (double)v->bytes / 1e6, (double)idx / 1e6, (double)(v->bytes + idx) / (double)objs,
	    (double)(rss2 - rss1) / 1024, (double)(rss2 - rss1) * 1024 / (double)objs);
	/* a full relist of everything: same content, so no new records */
	long hwm0 = rss_kb("VmHWM:");
	for (int kind = 0; kind < DS_K8S_NKINDS; kind++)
		ds_k8s_store_begin_list(k->store, kind);
	int np2;
	t0 = ds_now_ns();
	synth_cluster(k, nsvc, nns, &np2);
	for (int kind = 0; kind < DS_K8S_NKINDS; kind++)
		ds_k8s_store_sweep(k->store, kind);
	ds_k8s_store_publish(k->store);
	v = ds_k8s_store_view(k->store);
	print_message(
	    "relist of everything: %.2f s, view %.1f MB, peak RSS %+.1f MB, %llu services left\n",
	    (double)(ds_now_ns() - t0) / 1e9, (double)v->bytes / 1e6,
	    (double)(rss_kb("VmHWM:") - hwm0) / 1024, (unsigned long long)v->nsvc);
	assert_int_equal(v->nsvc, nsvc);
	assert_true(v->bytes + idx < 64u * 1000 * 1000);
	/* churn: one endpoint of one slice flips, then a publication, 2000 times */
	t0 = cpu_ns();
	int64_t pub = 0;
	for (int i = 0; i < 2000; i++) {
		int s = 1 + (i * 7) % (nsvc - 1);
		char sl[1024];
		snprintf(sl, sizeof(sl),
		         "{\"metadata\":{\"name\":\"svc-%d-x0\",\"namespace\":\"ns-%d\",\"labels\":"
		         "{\"kubernetes.io/service-name\":\"svc-%d\"}},\"addressType\":\"IPv4\","
		         "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}],"
		         "\"endpoints\":[{\"addresses\":[\"10.250.%d.%d\"]}]}",
		         s, s % nns, s, (i / 256) % 256, i % 256);
		cJSON *o = cJSON_Parse(sl);
		ds_k8s_apply(k->store, &k->objopts, DS_K8S_K_SLICE, false, o, NULL, NULL, NULL);
		cJSON_Delete(o);
		int64_t p0 = cpu_ns();
		ds_k8s_store_publish(k->store);
		pub += cpu_ns() - p0;
	}
	print_message("slice update + publication: %.1f us CPU each (publication alone %.1f us)\n",
	              (double)(cpu_ns() - t0) / 2000 / 1e3, (double)pub / 2000 / 1e3);
	assert_true((v->bytes + idx) / objs <= 250);

	/* query cost: random ClusterIP names, vs the same through a cache hit */
	enum { NREQ = 4096 };
	static uint8_t reqs[NREQ][300];
	static size_t lens[NREQ];
	for (int i = 0; i < NREQ; i++) {
		int s = (int)(((unsigned)i * 2654435761u) % (unsigned)nsvc);
		if (s % 10 == 0)
			s++; /* ClusterIP ones */
		char name[128];
		snprintf(name, sizeof(name), "svc-%d.ns-%d.svc.cluster.local.", s, s % nns);
		lens[i] = mkreq(reqs[i], name, DS_TYPE_A, (uint16_t)i);
	}
	unsigned rc[16] = {0};
	size_t iters = 400000;
	chain_cost(t, reqs, lens, NREQ, 20000, rc); /* warm */
	double k8s = chain_cost(t, reqs, lens, NREQ, iters, rc);
	assert_int_equal(rc[DS_RCODE_NOERROR], iters + 20000);
	double k8s_hot = chain_cost(t, reqs, lens, 64, iters, rc);
	ds_th_free(t);

	t = bench_server(" cache 300");
	k = ds_k8s_test_instance(ds_th_gen(t));
	synth_cluster(k, nsvc, nns, &np2);
	memset(rc, 0, sizeof(rc));
	chain_cost(t, reqs, lens, NREQ, 20000, rc); /* fills the cache */
	double hit = chain_cost(t, reqs, lens, NREQ, iters, rc);
	double hit_hot = chain_cost(t, reqs, lens, 64, iters, rc);
	ds_th_free(t);

	t = bench_server(" whoami");
	memset(rc, 0, sizeof(rc));
	double who = chain_cost(t, reqs, lens, NREQ, iters, rc);
	ds_th_free(t);
	print_message(
	    "CPU per query through the chain (UDP, no sockets), 4096 names: kubernetes "
	    "answer %.0f ns, cache hit %.0f ns (ratio %.2f); 64 hot names: %.0f vs %.0f ns "
	    "(ratio %.2f); whoami %.0f ns\n",
	    k8s, hit, k8s / hit, k8s_hot, hit_hot, k8s_hot / hit_hot, who);
	(void)rss0;
}

static void test_big_answers(void **st)
{
	ds_th_t *t = mk(true, "");
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	ds_err_t err = {{0}};
	assert_int_equal(ds_k8s_test_load(k, BIG, &err), 0);
	ds_th_res_t r;
	/* 300 addresses, 20 of them twice (two slices), each with two ports:
	 * every address once */
	q(t, "many.big.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 280);
	/* SRV: 300 endpoints x 2 ports are 600 candidates (weight 100/600 = 0,
	 * at least 1), 280 distinct targets x 2 ports, one address each */
	q(t, "many.big.svc.cluster.local.", "SRV", &r);
	assert_int_equal(r.an, 560);
	assert_int_equal(r.ar, 280);
	assert_true(ds_th_has(&r, "SRV\t0 1 80 10-50-0-1.many.big.svc.cluster.local."));
	assert_true(ds_th_has(&r, "SRV\t0 1 81 10-50-0-1.many.big.svc.cluster.local."));
	/* over UDP: what fits in 512 bytes, TC set */
	assert_int_equal(ds_th_query(t, "many.big.svc.cluster.local.", "A", 0, 2000, &r), 0);
	assert_true(r.flags & DS_FLAG_TC);
	assert_true(r.len <= 512);
	assert_true(r.an > 10 && r.an < 280);
	assert_int_equal(ds_th_query(t, "many.big.svc.cluster.local.", "SRV", DS_TH_EDNS, 2000, &r),
	                 0);
	assert_true(r.flags & DS_FLAG_TC);
	assert_true(r.len <= 1232);
	ds_th_free(t);
}

static void test_externalname_cached(void **st)
{
	/* the target's answer comes from cache, inside the sub-query */
	char cf[512];
	snprintf(cf, sizeof(cf),
	         ".:53 {\n cache 60\n kubernetes cluster.local\n forward . 127.0.0.1:%d\n}\n",
	         up->port);
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_non_null(t);
	ds_k8s_t *k = ds_k8s_test_instance(ds_th_gen(t));
	assert_int_equal(ds_k8s_test_load(k, CLUSTER, &err), 0);
	assert_int_equal(ds_k8s_test_load(k, BIG, &err), 0);
	ds_k8s_test_set_synced(k, true);
	ds_th_res_t r;
	q(t, "ext.testns.svc.cluster.local.", "A", &r);
	assert_int_equal(r.an, 2);
	unsigned n = up->udp_queries + up->tcp_queries;
	/* another ExternalName to the same target: answered from the cache */
	q(t, "ext2.big.svc.cluster.local.", "A", &r);
	assert_int_equal(r.rcode, DS_RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_true(ds_th_has(&r, "ext2.big.svc.cluster.local.\t5\tIN\tCNAME\text.example.com."));
	assert_true(ds_th_has(&r, "ext.example.com.\t"));
	assert_int_equal(up->udp_queries + up->tcp_queries, n);
	ds_th_free(t);
}

static int setup(void **st)
{
	up = ds_th_up_new(DS_TH_UP_ANSWER, 60);
	return up ? 0 : -1;
}

static int teardown(void **st)
{
	ds_th_up_free(up);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clusterip_a),
	    cmocka_unit_test(test_dual_stack),
	    cmocka_unit_test(test_headless),
	    cmocka_unit_test(test_endpoint_pod_names),
	    cmocka_unit_test(test_srv),
	    cmocka_unit_test(test_externalname),
	    cmocka_unit_test(test_ptr),
	    cmocka_unit_test(test_ptr_fallthrough_default),
	    cmocka_unit_test(test_pods),
	    cmocka_unit_test(test_namespaces_labels),
	    cmocka_unit_test(test_nxdomain_nodata),
	    cmocka_unit_test(test_soa_apex),
	    cmocka_unit_test(test_apex_ns),
	    cmocka_unit_test(test_dns_version),
	    cmocka_unit_test(test_ignore_empty_service),
	    cmocka_unit_test(test_servfail_before_sync),
	    cmocka_unit_test(test_ready),
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_noendpoints),
	    cmocka_unit_test(test_updates),
	    cmocka_unit_test(test_udp_truncation),
	    cmocka_unit_test(test_big_answers),
	    cmocka_unit_test(test_externalname_cached),
	    cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
