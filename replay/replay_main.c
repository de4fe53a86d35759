/* SPDX-License-Identifier: MIT */
/*
 * `dnsurge replay`: for now only --dry-run, which decodes the captures and
 * prints what a replay would send. Live replay will share its transports
 * with the load generator and is not built yet.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "replay/decode.h"

#define MAX_PORTS 64

int ds_replay_main(int argc, char **argv);

static void usage(FILE *f)
{
	fputs("usage: dnsurge replay PCAP... --dry-run [--json] [--port N]...\n"
	      "\n"
	      "Decode the DNS messages in pcap / pcapng captures: Ethernet (VLAN), Linux\n"
	      "cooked v1/v2, raw IP and BSD loopback links; IPv4 and IPv6 with fragments\n"
	      "reassembled; UDP, and TCP with streams reassembled. Files are read in the\n"
	      "order given, as one capture.\n"
	      "\n"
	      "  --dry-run   decode only and print the counts (live replay is not built yet)\n"
	      "  --json      print the counts as one JSON object\n"
	      "  --port N    a DNS port (default 53); repeat for several, replaces 53;\n"
	      "              a packet is DNS when either of its ports is one of them\n"
	      "  -h, --help  this text\n"
	      "\n"
	      "queries / responses are DNS messages by their QR bit. clients counts the\n"
	      "distinct source IP addresses of queries, ports ignored (a client's many\n"
	      "source ports are one client, as DNS Shotgun counts them); servers the\n"
	      "distinct destination addresses of queries. skipped counts what was not\n"
	      "decoded, by reason: not_dns (other ports), malformed, truncated (cut by the\n"
	      "snapshot length), unsupported (link type, ethertype, IP protocol).\n"
	      "\n"
	      "Exit status: 0 ok, 2 bad usage or a file that cannot be read to its end.\n",
	      f);
}

/* Set of IP addresses (ports ignored), open addressing. */
struct ipset {
	uint8_t (*k)[17]; /* [0] = 4 or 6, 0 = empty slot */
	size_t cap, n;
};

static uint64_t ipkey(const ds_sockaddr_t *a, uint8_t k[17])
{
	memset(k, 0, 17);
	if (a->sa.sa_family == AF_INET) {
		k[0] = 4;
		memcpy(k + 1, &a->in4.sin_addr, 4);
	} else {
		k[0] = 6;
		memcpy(k + 1, &a->in6.sin6_addr, 16);
	}
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < 17; i++) {
		h ^= k[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int ipset_add(struct ipset *s, const ds_sockaddr_t *a)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		uint8_t(*nk)[17] = calloc(nc, sizeof(*nk));
		if (!nk)
			return DS_ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->k[i][0])
				continue;
			uint64_t h = 0xcbf29ce484222325ULL;
			for (int j = 0; j < 17; j++) {
				h ^= s->k[i][j];
				h *= 0x100000001b3ULL;
			}
			size_t j = h & (nc - 1);
			while (nk[j][0])
				j = (j + 1) & (nc - 1);
			memcpy(nk[j], s->k[i], 17);
		}
		free(s->k);
		s->k = nk;
		s->cap = nc;
	}
	uint8_t k[17];
	size_t i = ipkey(a, k) & (s->cap - 1);
	while (s->k[i][0]) {
		if (!memcmp(s->k[i], k, 17))
			return DS_OK;
		i = (i + 1) & (s->cap - 1);
	}
	memcpy(s->k[i], k, 17);
	s->n++;
	return DS_OK;
}

struct tally {
	uint64_t *qtypes; /* [65536], queries only */
	uint64_t *rcodes; /* [4096], responses, extended rcode included */
	struct ipset clients, servers;
};

static int tally_event(struct tally *t, const ds_decode_event_t *ev)
{
	if (ev->response) {
		unsigned rc = DS_RCODE(ev->msg.flags) | (unsigned)ev->msg.ext_rcode << 4;
		t->rcodes[rc & 4095]++;
		return DS_OK;
	}
	t->qtypes[ev->qtype]++;
	if (ipset_add(&t->clients, &ev->src) < 0 || ipset_add(&t->servers, &ev->dst) < 0)
		return DS_ENOMEM;
	return DS_OK;
}

static void print_text(const ds_decode_stats_t *st, const struct tally *t)
{
	char b[16];
	printf("files: %llu\n", (unsigned long long)st->files);
	printf("packets: %llu (%llu bytes)\n", (unsigned long long)st->packets,
	       (unsigned long long)st->bytes);
	printf("messages: %llu (queries %llu, responses %llu; udp %llu, tcp %llu)\n",
	       (unsigned long long)st->messages, (unsigned long long)st->queries,
	       (unsigned long long)st->responses, (unsigned long long)st->udp_messages,
	       (unsigned long long)st->tcp_messages);
	printf("clients: %zu\nservers: %zu\n", t->clients.n, t->servers.n);
	if (st->messages)
		printf("duration: %.3f s\n",
		       (double)(st->last_ts_ns - st->first_ts_ns) / DS_NS_PER_SEC);
	printf("skipped:");
	for (int i = 0; i < DS_SKIP_COUNT; i++)
		printf(" %s=%llu", ds_decode_skip_name(i), (unsigned long long)st->skipped[i]);
	printf("\nfragments: %llu (datagrams reassembled %llu, dropped %llu)\n",
	       (unsigned long long)st->frag_packets, (unsigned long long)st->frag_reassembled,
	       (unsigned long long)st->frag_dropped);
	printf("tcp: segments %llu, connections %llu, gaps %llu (%llu bytes), retransmissions "
	       "%llu, resync skipped %llu bytes, incomplete %llu, evicted %llu\n",
	       (unsigned long long)st->tcp_segments, (unsigned long long)st->tcp_flows,
	       (unsigned long long)st->tcp_gaps, (unsigned long long)st->tcp_gap_bytes,
	       (unsigned long long)st->tcp_retransmits, (unsigned long long)st->tcp_resync_bytes,
	       (unsigned long long)st->tcp_incomplete, (unsigned long long)st->tcp_evicted);
	printf("query types:");
	for (unsigned i = 0; i < 65536; i++)
		if (t->qtypes[i])
			printf(" %s=%llu", ds_type_str((uint16_t)i, b),
			       (unsigned long long)t->qtypes[i]);
	printf("\nresponse codes:");
	for (unsigned i = 0; i < 4096; i++)
		if (t->rcodes[i])
			printf(" %s=%llu", ds_rcode_str(i, b), (unsigned long long)t->rcodes[i]);
	printf("\n");
}

static void jnum(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

static int print_json(const ds_decode_stats_t *st, const struct tally *t, cJSON *errors)
{
	char b[16];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		goto fail;
	jnum(o, "files", st->files);
	jnum(o, "packets", st->packets);
	jnum(o, "bytes", st->bytes);
	jnum(o, "messages", st->messages);
	jnum(o, "queries", st->queries);
	jnum(o, "responses", st->responses);
	jnum(o, "udp_messages", st->udp_messages);
	jnum(o, "tcp_messages", st->tcp_messages);
	jnum(o, "clients", t->clients.n);
	jnum(o, "servers", t->servers.n);
	cJSON *sk = cJSON_AddObjectToObject(o, "skipped");
	if (!sk)
		goto fail;
	for (int i = 0; i < DS_SKIP_COUNT; i++)
		jnum(sk, ds_decode_skip_name(i), st->skipped[i]);
	jnum(o, "fragments", st->frag_packets);
	jnum(o, "fragments_reassembled", st->frag_reassembled);
	jnum(o, "fragments_dropped", st->frag_dropped);
	jnum(o, "tcp_segments", st->tcp_segments);
	jnum(o, "tcp_connections", st->tcp_flows);
	jnum(o, "tcp_gaps", st->tcp_gaps);
	jnum(o, "tcp_gap_bytes", st->tcp_gap_bytes);
	jnum(o, "tcp_retransmissions", st->tcp_retransmits);
	jnum(o, "tcp_resync_bytes", st->tcp_resync_bytes);
	jnum(o, "tcp_incomplete", st->tcp_incomplete);
	jnum(o, "tcp_evicted", st->tcp_evicted);
	cJSON *qt = cJSON_AddObjectToObject(o, "qtypes");
	cJSON *rc = cJSON_AddObjectToObject(o, "rcodes");
	if (!qt || !rc)
		goto fail;
	for (unsigned i = 0; i < 65536; i++)
		if (t->qtypes[i])
			jnum(qt, ds_type_str((uint16_t)i, b), t->qtypes[i]);
	for (unsigned i = 0; i < 4096; i++)
		if (t->rcodes[i])
			jnum(rc, ds_rcode_str(i, b), t->rcodes[i]);
	/* ns since the epoch need 63 bits, more than a double holds exactly:
	 * written as integer text rather than through cJSON's doubles. */
	char ts[32];
	snprintf(ts, sizeof(ts), "%lld", (long long)st->first_ts_ns);
	cJSON_AddRawToObject(o, "first_ts_ns", ts);
	snprintf(ts, sizeof(ts), "%lld", (long long)st->last_ts_ns);
	cJSON_AddRawToObject(o, "last_ts_ns", ts);
	cJSON_AddNumberToObject(o, "duration_s",
				(double)(st->last_ts_ns - st->first_ts_ns) / DS_NS_PER_SEC);
	cJSON_AddItemToObject(o, "errors", errors);
	errors = NULL;
	char *s = cJSON_Print(o);
	if (!s)
		goto fail;
	puts(s);
	cJSON_free(s);
	cJSON_Delete(o);
	return DS_OK;
fail:
	cJSON_Delete(errors);
	cJSON_Delete(o);
	fputs("dnsurge replay: out of memory\n", stderr);
	return DS_ENOMEM;
}

static int dry_run(const char **files, size_t nfiles, const uint16_t *ports, size_t nports,
		   bool json)
{
	int status = 2;
	ds_err_t err = {""};
	struct tally t = {0};
	cJSON *errors = NULL;
	ds_decode_opts_t o = {.ports = ports, .nports = nports};
	ds_decode_t *d = ds_decode_open(files, nfiles, &o, &err);
	if (!d) {
		fprintf(stderr, "dnsurge replay: %s\n", err.msg);
		goto fail;
	}
	t.qtypes = calloc(65536, sizeof(*t.qtypes));
	t.rcodes = calloc(4096, sizeof(*t.rcodes));
	errors = cJSON_CreateArray();
	if (!t.qtypes || !t.rcodes || !errors) {
		fputs("dnsurge replay: out of memory\n", stderr);
		goto fail;
	}
	const ds_decode_event_t *ev;
	int rc, nerr = 0;
	while ((rc = ds_decode_next(d, &ev, &err)) != 0) {
		if (rc < 0) {
			/* Report and go on: the other files still count. */
			fprintf(stderr, "dnsurge replay: %s\n", err.msg);
			cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
			nerr++;
			continue;
		}
		if (tally_event(&t, ev) < 0) {
			fputs("dnsurge replay: out of memory\n", stderr);
			goto fail;
		}
	}
	if (json) {
		rc = print_json(ds_decode_stats(d), &t, errors);
		errors = NULL;
		if (rc < 0)
			goto fail;
	} else {
		print_text(ds_decode_stats(d), &t);
	}
	status = nerr ? 2 : 0;
fail:
	cJSON_Delete(errors);
	free(t.clients.k);
	free(t.servers.k);
	free(t.rcodes);
	free(t.qtypes);
	ds_decode_close(d);
	return status;
}

int ds_replay_main(int argc, char **argv)
{
	int status = 2;
	bool dry = false, json = false, only_files = false;
	uint16_t ports[MAX_PORTS];
	size_t nports = 0, nfiles = 0;
	const char **files = calloc((size_t)argc + 1, sizeof(*files));
	if (!files) {
		fputs("dnsurge replay: out of memory\n", stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_files || a[0] != '-' || !a[1]) {
			files[nfiles++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_files = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			status = 0;
			goto out;
		} else if (!strcmp(a, "--dry-run")) {
			dry = true;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--port") || !strncmp(a, "--port=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
			long long port;
			if (!v) {
				fputs("dnsurge replay: --port needs a value\n", stderr);
				goto out;
			}
			if (ds_parse_int(v, 1, 65535, &port) < 0) {
				fprintf(stderr, "dnsurge replay: --port %s: not a port (1-65535)\n",
					v);
				goto out;
			}
			if (nports == MAX_PORTS) {
				fprintf(stderr, "dnsurge replay: at most %d --port\n", MAX_PORTS);
				goto out;
			}
			ports[nports++] = (uint16_t)port;
		} else {
			fprintf(stderr, "dnsurge replay: unknown option '%s'\n\n", a);
			usage(stderr);
			goto out;
		}
	}
	if (!nfiles) {
		fputs("dnsurge replay: no capture file given\n\n", stderr);
		usage(stderr);
		goto out;
	}
	if (!dry) {
		fputs("dnsurge replay: live replay is not built yet; use --dry-run to decode the "
		      "captures\n",
		      stderr);
		goto out;
	}
	status = dry_run(files, nfiles, ports, nports, json);
out:
	free(files);
	return status;
}
