/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "server": dnsurged's request path end to end. Each input is
 * handed to ds_chain_handle() through the unit-test harness
 * (tests/unit/server/harness.h), so it meets the real request parsing, the
 * zone matching across server blocks and the plugins cache, template,
 * hosts, file, loadbalance, log and errors, as a packet from a socket
 * would, with no network involved.
 *
 * Input: one byte of options (bit 0: over TCP, bit 1: from ::1), then the
 * request bytes as received. Checked beyond crashes: every request is done
 * within a second (nothing keeps a query for ever), and a reply carries
 * the request's ID, is a well-formed message and fits UDP's limit
 * (512 bytes, or the request's EDNS size) when it went over UDP.
 *
 * The server keeps state between inputs (cache, load balancing order), as
 * it does between packets; a finding may then need the inputs before it.
 * libFuzzer saves the crashing input only, so minimise with -runs=1 first.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/wire.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/server/harness.h"

#define ZONE DS_TEST_DATA "/zones/example.org.zone"
#define HOSTS DS_TEST_DATA "/hosts/hosts.example"

/* Three blocks on one port, so zone matching picks among them; between
 * them every plugin the target names, with CNAME answers that send
 * sub-queries through the server (template -> file) and records of many
 * types and sizes for the writer, the cache and truncation. */
static const char corefile[] =
    "example.org:53 {\n"
    "	log\n"
    "	errors\n"
    "	cache 30\n"
    "	loadbalance\n"
    "	file " ZONE "\n"
    "}\n"
    "hosts.test:53 10.in-addr.arpa:53 {\n"
    "	log . \"{type} {name} {rcode} {size}\"\n"
    "	errors\n"
    "	cache 30 {\n"
    "		success 1000\n"
    "		denial 1000 5\n"
    "		prefetch 2 1m 10%\n"
    "	}\n"
    "	loadbalance round_robin\n"
    "	hosts " HOSTS " hosts.test 10.in-addr.arpa {\n"
    "		10.0.0.5 a.hosts.test b.hosts.test\n"
    "		10.0.0.6 a.hosts.test\n"
    "		fd00::5 a.hosts.test\n"
    "		ttl 60\n"
    "		fallthrough\n"
    "	}\n"
    "	template IN ANY hosts.test {\n"
    "		match \"^(?P<x>[a-z0-9-]+)[.]hosts[.]test[.]$\"\n"
    "		answer \"{{ .Name }} 60 IN TXT \\\"{{ .Group.x }}\\\" \\\"{{ .Type }}\\\"\"\n"
    "		fallthrough\n"
    "	}\n"
    "}\n"
    ".:53 {\n"
    "	log\n"
    "	errors\n"
    "	cache 60\n"
    "	loadbalance\n"
    "	template IN A fuzz.test {\n"
    "		match \"^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)[.]fuzz[.]test[.]$\"\n"
    "		answer \"{{ .Name }} 60 IN A 10.0.{{ .Group.a }}.{{ .Group.b }}\"\n"
    "		fallthrough\n"
    "	}\n"
    "	template IN ANY cname.test {\n"
    "		answer \"{{ .Name }} 60 IN CNAME www.example.org.\"\n"
    "	}\n"
    "	template IN MX . {\n"
    "		match \"^mx[.]\"\n"
    "		answer \"{{ .Name }} 60 IN MX 10 {{ .Name }}\"\n"
    "		additional \"{{ .Name }} 60 IN A 192.0.2.1\"\n"
    "		fallthrough\n"
    "	}\n"
    "	template ANY ANY . {\n"
    "		rcode NXDOMAIN\n"
    "		authority \". 60 IN SOA ns.fuzz. hostmaster.fuzz. (1 60 60 60 60)\"\n"
    "	}\n"
    "}\n";

static ds_th_t *th;
static ds_th_res_t res;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The log plugin writes a line per query to stdout: format it, as
	 * the server would, but do not print it. Reports go to stderr. */
	int fd = open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	ds_err_t err = {{0}};
	th = ds_th_new(corefile, &err);
	if (!th) {
		fprintf(stderr, "fuzz_server: setup: %s\n", err.msg);
		abort();
	}
	return 0;
}

static bool well_formed(const uint8_t *pkt, size_t len)
{
	ds_rr_iter_t it;
	if (ds_rr_iter_init(&it, pkt, len) < 0)
		return false;
	ds_rr_t rr;
	int rc;
	while ((rc = ds_rr_next(&it, &rr)) == 1)
		;
	return rc == 0 && it.pos == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > DS_MSG_MAX + 1)
		return 0;
	unsigned opts = ((data[0] & 1) ? DS_TH_TCP : 0) | ((data[0] & 2) ? DS_TH_V6 : 0);
	const uint8_t *req = data + 1;
	size_t len = size - 1;
	int rc = ds_th_raw(th, req, len, opts, 1000, &res);
	if (rc == DS_ETIMEDOUT)
		ds_fuzz_fail(__FILE__, __LINE__, "a query was never completed");
	DS_FUZZ_CHECK(rc == DS_OK);
	if (!res.answered)
		return 0;
	DS_FUZZ_CHECK(res.len >= DS_HDR_LEN && res.len <= DS_MSG_MAX);
	DS_FUZZ_CHECK(res.wire[2] & (DS_FLAG_QR >> 8));
	if (len >= 2)
		DS_FUZZ_CHECK(memcmp(res.wire, req, 2) == 0);
	DS_FUZZ_CHECK(well_formed(res.wire, res.len));
	if (!(opts & DS_TH_TCP)) {
		ds_msg_t m;
		size_t limit = DS_UDP_MIN;
		if (ds_msg_parse(&m, req, len, false) == DS_OK)
			limit = ds_msg_udp_limit(&m);
		DS_FUZZ_CHECK(res.len <= limit);
	}
	return 0;
}
