/* SPDX-License-Identifier: MIT */
/* kubernetes configuration: kubeconfig (contexts, tokens, certificate and
 * CA data, token files), in-cluster credentials, endpoint URLs, label
 * selectors, and setup errors that name file:line and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "server/plugins/kubernetes/kubernetes.h"
#include "server/plugins/kubernetes/labels.h"
#include "tests/unit/server/harness.h"

#define KC DS_TEST_DATA "/k8s/kubeconfig.yaml"

static char tmpdir[64];

static char *tmpfile_with(const char *name, const char *text)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void kc_fails(const char *text, const char *context, const char *want)
{
	char *p = tmpfile_with("bad.yaml", text);
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_true(ds_k8s_conn_kubeconfig(&c, p, context, &err) < 0);
	if (!strstr(err.msg, want) || !strstr(err.msg, p))
		fprintf(stderr, "error was: %s\n", err.msg);
	/* the error names the file and what is wrong */
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, want));
	unlink(p);
	free(p);
}

static void cfg_fails(const char *cf, const char *want)
{
	ds_k8s_test_noapi = false;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(cf, &err);
	assert_null(t);
	if (!strstr(err.msg, want))
		fprintf(stderr, "error was: %s\n", err.msg);
	assert_non_null(strstr(err.msg, want));
}

/* -------------------------------------------------------------- tests */

static void test_kubeconfig_current_context(void **st)
{
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_int_equal(ds_k8s_conn_kubeconfig(&c, KC, NULL, &err), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.host, "10.0.0.1:6443");
	assert_string_equal(c.token, "dev-token-123");
	assert_null(c.cert_data);
	assert_false(c.insecure);
	const char *pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
	assert_int_equal(c.ca_len, strlen(pem));
	assert_memory_equal(c.ca_data, pem, c.ca_len);
	ds_k8s_conn_free(&c);
}

static void test_kubeconfig_context_selection(void **st)
{
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_int_equal(ds_k8s_conn_kubeconfig(&c, KC, "prod", &err), 0);
	assert_string_equal(c.server, "https://[fd00::1]");
	assert_string_equal(c.host, "[fd00::1]:443");
	assert_true(c.insecure);
	assert_null(c.token);
	assert_int_equal(c.cert_len, strlen("CLIENT-CERT-PEM"));
	assert_memory_equal(c.cert_data, "CLIENT-CERT-PEM", c.cert_len);
	assert_int_equal(c.key_len, strlen("CLIENT-KEY-PEM"));
	assert_memory_equal(c.key_data, "CLIENT-KEY-PEM", c.key_len);
	ds_k8s_conn_free(&c);
}

static void test_kubeconfig_token_file(void **st)
{
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_int_equal(ds_k8s_conn_kubeconfig(&c, KC, "files", &err), 0);
	/* relative to the kubeconfig's directory */
	assert_string_equal(c.token_file, DS_TEST_DATA "/k8s/token.txt");
	char *buf = NULL;
	int64_t at = 0;
	assert_string_equal(ds_k8s_conn_token(&c, &buf, &at), "file-token-abc");
	free(buf);
	ds_k8s_conn_free(&c);
}

static void test_kubeconfig_errors(void **st)
{
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_true(ds_k8s_conn_kubeconfig(&c, "/nonexistent/kubeconfig", NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "kubeconfig /nonexistent/kubeconfig: cannot read"));
	memset(&err, 0, sizeof(err));
	assert_true(ds_k8s_conn_kubeconfig(&c, KC, "nope", &err) < 0);
	assert_non_null(strstr(err.msg, "context \"nope\" not found in contexts"));
	static const char head[] = "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
	                           "contexts:\n- name: c\n  context: {cluster: k, user: u}\n";
	char text[2048];
	kc_fails("clusters: [\n  this is: not: yaml", NULL, "not valid YAML");
	kc_fails("- just\n- a list\n", NULL, "not a kubeconfig");
	kc_fails("apiVersion: v1\nclusters: []\n", NULL, "current-context is not set");
	snprintf(text, sizeof(text), "%sclusters: []\n", head);
	kc_fails(text, NULL, "cluster \"k\" not found in clusters");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {insecure-skip-tls-verify: true}\n", head);
	kc_fails(text, NULL, "cluster \"k\": server is not set");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {server: 'ftp://x'}\nusers:\n- name: u\n  "
	         "user: {}\n",
	         head);
	kc_fails(text, NULL, "unsupported scheme");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster:\n    server: https://x\n"
	         "    certificate-authority-data: '!!!notbase64'\n",
	         head);
	kc_fails(text, NULL, "cluster \"k\": invalid base64 in certificate-authority-data");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
	         "users:\n- name: u\n  user:\n    client-certificate-data: Q0VSVA==\n"
	         "    client-key-data: 'K@Y'\n",
	         head);
	kc_fails(text, NULL, "user \"u\": invalid base64 in client-key-data");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
	         "users:\n- name: u\n  user:\n    client-certificate-data: Q0VSVA==\n",
	         head);
	kc_fails(text, NULL, "user \"u\": a client certificate needs a client key");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
	         "users:\n- name: u\n  user:\n    exec:\n      command: aws\n",
	         head);
	kc_fails(text, NULL,
	         "user \"u\": exec and auth-provider credential plugins are not supported");
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
	         "users:\n- name: u\n  user: {client-certificate: missing.crt, client-key: "
	         "missing.key}\n",
	         head);
	kc_fails(text, NULL, "user \"u\": client-certificate");
	snprintf(text, sizeof(text), "%sclusters:\n- name: k\n  cluster: {server: 'https://x'}\n",
	         head);
	kc_fails(text, NULL, "user \"u\" not found in users");
}

static void test_kubeconfig_in_corefile(void **st)
{
	/* a bad kubeconfig is a configuration error at the directive's line */
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  kubeconfig /nonexistent/kc\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/kubernetes: kubeconfig "
	          "/nonexistent/kc: cannot read: No such file or directory");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  ttl 10\n  kubeconfig " KC
	          " nope\n }\n}\n",
	          "Corefile:4 - Error during parsing: plugin/kubernetes: kubeconfig " KC
	          ": context \"nope\" not found");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  kubeconfig\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/kubernetes: Wrong argument count");
}

static void test_in_cluster(void **st)
{
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_true(ds_k8s_conn_in_cluster(&c, &err) < 0);
	assert_non_null(
	    strstr(err.msg, "unable to load in-cluster configuration, "
	                    "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"));
	/* no endpoint and no kubeconfig: in-cluster, so outside a cluster setup fails */
	cfg_fails(
	    ".:53 {\n kubernetes cluster.local\n}\n",
	    "Corefile:2 - Error during parsing: plugin/kubernetes: unable to load in-cluster");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/sa", tmpdir);
	mkdir(dir, 0700);
	const char *old = ds_k8s_sa_dir;
	ds_k8s_sa_dir = dir;
	memset(&err, 0, sizeof(err));
	assert_true(ds_k8s_conn_in_cluster(&c, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot read the service account token"));
	char tok[192];
	snprintf(tok, sizeof(tok), "%s/token", dir);
	FILE *f = fopen(tok, "w");
	fputs("sa-token-1\n", f);
	fclose(f);
	assert_int_equal(ds_k8s_conn_in_cluster(&c, &err), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.host, "10.96.0.1:443");
	assert_null(c.ca_file); /* missing: logged, the system's roots are used */
	char *buf = NULL;
	int64_t at = 0;
	assert_string_equal(ds_k8s_conn_token(&c, &buf, &at), "sa-token-1");
	/* rotated tokens are picked up once the cached one is a minute old */
	f = fopen(tok, "w");
	fputs("sa-token-2\n", f);
	fclose(f);
	assert_string_equal(ds_k8s_conn_token(&c, &buf, &at), "sa-token-1");
	at -= 61 * DS_NS_PER_SEC;
	assert_string_equal(ds_k8s_conn_token(&c, &buf, &at), "sa-token-2");
	free(buf);
	ds_k8s_conn_free(&c);
	/* an IPv6 service address gets brackets */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(ds_k8s_conn_in_cluster(&c, &err), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	ds_k8s_conn_free(&c);
	unlink(tok);
	rmdir(dir);
	ds_k8s_sa_dir = old;
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_endpoint(void **st)
{
	ds_k8s_conn_t c;
	ds_err_t err = {{0}};
	assert_int_equal(ds_k8s_conn_endpoint(&c, "http://127.0.0.1:8080/", NULL, NULL, NULL, &err),
	                 0);
	assert_string_equal(c.server, "http://127.0.0.1:8080");
	assert_string_equal(c.host, "127.0.0.1:8080");
	ds_k8s_conn_free(&c);
	assert_int_equal(ds_k8s_conn_endpoint(&c, "10.0.0.1:6443", NULL, NULL, NULL, &err), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	ds_k8s_conn_free(&c);
	assert_int_equal(ds_k8s_conn_endpoint(&c, "https://api.example", NULL, NULL, NULL, &err),
	                 0);
	assert_string_equal(c.host, "api.example:443");
	ds_k8s_conn_free(&c);
	cfg_fails(
	    ".:53 {\n kubernetes cluster.local {\n  endpoint ftp://x\n }\n}\n",
	    "Corefile:3 - Error during parsing: plugin/kubernetes: endpoint: unsupported scheme");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  endpoint https://x\n"
	          "  tls /nonexistent/c.crt /nonexistent/c.key /nonexistent/ca.crt\n }\n}\n",
	          "plugin/kubernetes: tls: client certificate /nonexistent/c.crt: No such file");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  tls a b\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/kubernetes: Wrong argument count");
}

static void test_setup_errors(void **st)
{
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  bogus\n }\n}\n",
	          "Corefile:3 - Error during parsing: plugin/kubernetes: unknown property 'bogus'");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  pods maybe\n }\n}\n",
	          "wrong value for pods: maybe,  must be one of: disabled, verified, insecure");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  ttl 3601\n }\n}\n",
	          "ttl must be in range [0, 3600]: 3601");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  ttl x\n }\n}\n",
	          "strconv.Atoi: parsing \"x\": invalid syntax");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  labels app==\n }\n}\n", "");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  labels app in (a b\n }\n}\n",
	          "unable to parse label selector value: 'app in (a b'");
	cfg_fails(
	    ".:53 {\n kubernetes cluster.local {\n  namespaces a\n  namespace_labels x=y\n }\n}\n",
	    "namespaces and namespace_labels cannot both be set");
	cfg_fails(".:53 {\n kubernetes 10.in-addr.arpa 168.192.in-addr.arpa\n}\n",
	          "Corefile:2 - Error during parsing: plugin/kubernetes: non-reverse zone name "
	          "must be used");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  ignore everything\n }\n}\n",
	          "unable to parse ignore value: 'everything'");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  startup_timeout soon\n }\n}\n",
	          "invalid startup_timeout 'soon'");
	cfg_fails(".:53 {\n kubernetes cluster.local {\n  multicluster clusterset.local\n }\n}\n",
	          "'multicluster' is not supported by dnsurged yet");
	cfg_fails(".:53 {\n kubernetes cluster.local\n kubernetes example.org\n}\n",
	          "this plugin can only be used once per Server Block");
	/* accepted: the CoreDNS options that have nothing to do here */
	ds_k8s_test_noapi = true;
	ds_err_t err = {{0}};
	ds_th_t *t = ds_th_new(".:53 {\n kubernetes cluster.local {\n  apiserver_qps 50\n"
	                       "  apiserver_burst 100\n  apiserver_max_inflight 10\n"
	                       "  endpoint http://127.0.0.1:1 http://127.0.0.1:2\n }\n}\n",
	                       &err);
	if (!t)
		fprintf(stderr, "%s\n", err.msg);
	assert_non_null(t);
	ds_th_free(t);
}

static void test_selectors(void **st)
{
	char why[256];
	ds_k8s_selector_t *s;
	cJSON *l = cJSON_Parse("{\"app\":\"web\",\"tier\":\"front\",\"example.com/team\":\"dns\"}");
	assert_int_equal(ds_k8s_selector_parse("app=web", &s, why, sizeof(why)), 0);
	assert_true(ds_k8s_selector_match(s, l));
	ds_k8s_selector_free(s);
	assert_int_equal(
	    ds_k8s_selector_parse("app==web, tier != back,example.com/team", &s, why, sizeof(why)),
	    0);
	assert_true(ds_k8s_selector_match(s, l));
	ds_k8s_selector_free(s);
	assert_int_equal(ds_k8s_selector_parse("app in (db, web),!missing,tier notin (back)", &s,
	                                       why, sizeof(why)),
	                 0);
	assert_true(ds_k8s_selector_match(s, l));
	assert_false(ds_k8s_selector_match(s, NULL));
	ds_k8s_selector_free(s);
	assert_int_equal(ds_k8s_selector_parse("app=db", &s, why, sizeof(why)), 0);
	assert_false(ds_k8s_selector_match(s, l));
	ds_k8s_selector_free(s);
	assert_int_equal(ds_k8s_selector_parse("!app", &s, why, sizeof(why)), 0);
	assert_false(ds_k8s_selector_match(s, l));
	assert_string_equal(ds_k8s_selector_text(s), "!app");
	ds_k8s_selector_free(s);
	const char *bad[] = {"",        "app=",   "=web",     "app in (a",
	                     "app ~ b", "-app=x", "app=web,", "a/b/c=d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ds_k8s_selector_parse(bad[i], &s, why, sizeof(why));
		if (i == 1) {
			/* an empty value is allowed */
			assert_int_equal(rc, 0);
			ds_k8s_selector_free(s);
			continue;
		}
		if (rc == 0)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		assert_int_equal(rc, DS_EINVAL);
		assert_null(s);
	}
	cJSON_Delete(l);
}

static void test_base64(void **st)
{
	uint8_t *o;
	size_t n;
	assert_int_equal(ds_k8s_base64("aGVsbG8=", &o, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(o, "hello", 5);
	free(o);
	assert_int_equal(ds_k8s_base64("aGVs\nbG8", &o, &n), 0);
	assert_int_equal(n, 5);
	free(o);
	assert_int_equal(ds_k8s_base64("aGV*bG8=", &o, &n), DS_EINVAL);
	assert_int_equal(ds_k8s_base64("aGVsbG8=x", &o, &n), DS_EINVAL);
}

static void test_time(void **st)
{
	int64_t ns;
	assert_true(ds_k8s_parse_time("1970-01-01T00:00:01Z", &ns));
	assert_int_equal(ns, 1000000000LL);
	assert_true(ds_k8s_parse_time("2024-05-01T10:00:00.5Z", &ns));
	assert_int_equal(ns % 1000000000LL, 500000000LL);
	assert_true(ds_k8s_parse_time("1970-01-01T02:00:00+02:00", &ns));
	assert_int_equal(ns, 0);
	assert_false(ds_k8s_parse_time("yesterday", &ns));
	assert_false(ds_k8s_parse_time("2024-05-01T10:00:00", &ns));
}

static int setup(void **st)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds_k8s_cfgXXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kubeconfig_current_context),
	    cmocka_unit_test(test_kubeconfig_context_selection),
	    cmocka_unit_test(test_kubeconfig_token_file),
	    cmocka_unit_test(test_kubeconfig_errors),
	    cmocka_unit_test(test_kubeconfig_in_corefile),
	    cmocka_unit_test(test_in_cluster),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_setup_errors),
	    cmocka_unit_test(test_selectors),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
