/* SPDX-License-Identifier: MIT */
/*
 * `dnsurge replay`: the command line around the replay engine (replay.h).
 * --dry-run decodes the captures and prints what a replay would send;
 * otherwise the captures are replayed against --target with the progress
 * line, results-store recording and end-of-run report of `dnsurge load`
 * (loadgen/summary.h), plus the capture counters and the answer diff.
 * Exit status: 0 valid run, 1 failed (e.g. the results store), 2 bad usage
 * or a capture that cannot be opened (--dry-run: or read to its end), 3 the
 * run completed but is invalid, 130 interrupted by SIGINT.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/store.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "loadgen/summary.h"
#include "loadgen/verb.h"
#include "replay/decode.h"
#include "replay/replay.h"

#define MAX_PORTS 64
#define EXIT_USAGE DS_VERB_EXIT_USAGE

/* The shared helpers (verb.h), speaking as "dnsurge replay". */
#define bad(...) ds_verb_bad("replay", __VA_ARGS__)
#define parse_uint(...) ds_verb_uint("replay", __VA_ARGS__)
#define parse_dur(...) ds_verb_duration("replay", __VA_ARGS__)

static void usage(FILE *f)
{
	fputs("usage: dnsurge replay PCAP... --target HOST:PORT [options]\n"
	      "       dnsurge replay PCAP... --dry-run [--json] [--port N]...\n"
	      "\n"
	      "Replay the DNS queries of pcap / pcapng captures against a server, each\n"
	      "captured client from its own socket (TCP clients over TCP), at the captured\n"
	      "pace or faster, and measure every answer; optionally diff the answers. Files\n"
	      "are read in the order given, as one capture. docs/REPLAY.md has the details.\n"
	      "\n"
	      "Replay:\n"
	      "  --target HOST:PORT       server to replay to (IPv4, [IPv6]:port, localhost:PORT)\n"
	      "  --speed X                pace: 1 = as captured (default), 2 = twice as fast\n"
	      "  --asap                   as fast as possible, ignoring the captured times\n"
	      "  --loop N                 replay the capture N times, back to back\n"
	      "  --duration D             stop sending after D (default: the whole capture)\n"
	      "  --filter qtype=A,AAAA    only these query types (repeatable)\n"
	      "  --filter zone=Z,...      only names at or below these zones (repeatable)\n"
	      "  --rewrite-zone FROM=TO   send names below FROM below TO instead (repeatable)\n"
	      "  --threads N              sending threads, clients sharded over them (default 1)\n"
	      "Diff:\n"
	      "  --diff                   compare each answer with the capture's response\n"
	      "  --diff-against HOST:PORT send every query to this server too and compare\n"
	      "  --diff-ttl               compare TTLs too (default: ignored)\n"
	      "  --diff-examples N        examples kept per mismatch class (default 3)\n"
	      DS_VERB_HELP_MEASUREMENT
	      "Limits:\n"
	      "  --window SIZE            decoded queries held ahead per thread (default 8M)\n"
	      "  --max-outstanding N      queries in flight per thread (default 65536)\n"
	      "  --max-clients N          clients with open sockets per thread (default: as the\n"
	      "                           descriptor limit allows)\n"
	      "  --batch N                queries taken per send round (default 256, asap 1024)\n"
	      "  --spin D                 wake D before a query is due and spin to its time\n"
	      "                           (default 50us; 0 = sleep until due, less CPU)\n"
	      "  --no-gso                 one datagram per message (default: UDP GSO groups of\n"
	      "                           a client's equal-length queries)\n"
	      "  --realtime               timed replay: sending threads under SCHED_FIFO, for\n"
	      "                           send times on a busy machine (needs CAP_SYS_NICE)\n"
	      "Capture:\n"
	      "  --port N                 a DNS port (default 53); repeat for several, replaces 53;\n"
	      "                           a packet is DNS when either of its ports is one of them\n"
	      "  --dry-run                decode only and print the counts\n"
	      DS_VERB_HELP_OUTPUT
	      "\n"
	      "--dry-run: queries / responses are DNS messages by their QR bit. clients counts\n"
	      "the distinct source IP addresses of queries, ports ignored (a client's many\n"
	      "source ports are one client, as DNS Shotgun counts them); servers the distinct\n"
	      "destination addresses of queries. skipped counts what was not decoded, by\n"
	      "reason: not_dns (other ports), malformed, truncated (cut by the snapshot\n"
	      "length), unsupported (link type, ethertype, IP protocol).\n"
	      "\n"
	      "Exit status: 0 ok (valid run), 1 failed, 2 bad usage or a capture that cannot\n"
	      "be opened (--dry-run: or read to its end), 3 invalid run, 130 interrupted.\n",
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

/* The decoder's counters into o (shared by --dry-run and the live summary). */
static void capture_json_add(cJSON *o, const ds_decode_stats_t *st)
{
	jnum(o, "files", st->files);
	jnum(o, "packets", st->packets);
	jnum(o, "bytes", st->bytes);
	jnum(o, "messages", st->messages);
	jnum(o, "queries", st->queries);
	jnum(o, "responses", st->responses);
	jnum(o, "udp_messages", st->udp_messages);
	jnum(o, "tcp_messages", st->tcp_messages);
	cJSON *sk = cJSON_AddObjectToObject(o, "skipped");
	for (int i = 0; sk && i < DS_SKIP_COUNT; i++)
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
	/* ns since the epoch need 63 bits, more than a double holds exactly:
	 * written as integer text rather than through cJSON's doubles. */
	char ts[32];
	snprintf(ts, sizeof(ts), "%lld", (long long)st->first_ts_ns);
	cJSON_AddRawToObject(o, "first_ts_ns", ts);
	snprintf(ts, sizeof(ts), "%lld", (long long)st->last_ts_ns);
	cJSON_AddRawToObject(o, "last_ts_ns", ts);
	cJSON_AddNumberToObject(o, "duration_s",
				(double)(st->last_ts_ns - st->first_ts_ns) / DS_NS_PER_SEC);
}

static int print_json(const ds_decode_stats_t *st, const struct tally *t, cJSON *errors)
{
	char b[16];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		goto fail;
	capture_json_add(o, st);
	jnum(o, "clients", t->clients.n);
	jnum(o, "servers", t->servers.n);
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

/* ------------------------------------------------------------ live replay */

enum {
	O_TARGET = 256,
	O_SPEED,
	O_ASAP,
	O_LOOP,
	O_DURATION,
	O_FILTER,
	O_REWRITE,
	O_THREADS,
	O_DIFF,
	O_DIFF_AGAINST,
	O_DIFF_TTL,
	O_DIFF_EXAMPLES,
	O_WINDOW,
	O_MAXOUT,
	O_MAXCLIENTS,
	O_BATCH,
	O_SPIN,
	O_NOGSO,
	O_RT,
	O_PORT,
	O_DRY,
};

static const struct option opts[] = {
	{"target", required_argument, NULL, O_TARGET},
	{"speed", required_argument, NULL, O_SPEED},
	{"asap", no_argument, NULL, O_ASAP},
	{"loop", required_argument, NULL, O_LOOP},
	{"duration", required_argument, NULL, O_DURATION},
	{"filter", required_argument, NULL, O_FILTER},
	{"rewrite-zone", required_argument, NULL, O_REWRITE},
	{"threads", required_argument, NULL, O_THREADS},
	{"diff", no_argument, NULL, O_DIFF},
	{"diff-against", required_argument, NULL, O_DIFF_AGAINST},
	{"diff-ttl", no_argument, NULL, O_DIFF_TTL},
	{"diff-examples", required_argument, NULL, O_DIFF_EXAMPLES},
	{"window", required_argument, NULL, O_WINDOW},
	{"max-outstanding", required_argument, NULL, O_MAXOUT},
	{"max-clients", required_argument, NULL, O_MAXCLIENTS},
	{"batch", required_argument, NULL, O_BATCH},
	{"spin", required_argument, NULL, O_SPIN},
	{"no-gso", no_argument, NULL, O_NOGSO},
	{"realtime", no_argument, NULL, O_RT},
	{"port", required_argument, NULL, O_PORT},
	{"dry-run", no_argument, NULL, O_DRY},
	DS_VERB_OPTIONS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct run {
	ds_replay_cfg_t cfg;
	ds_rewrite_t *rw;
	ds_replay_t *r;
	const char **files;
	size_t nfiles;
	uint16_t ports[MAX_PORTS];
	size_t nports;
	bool dry, progress, have_target;
	char pace[64]; /* "speed 2x" or "asap" */
	char model[160];
	ds_verb_t v;
	bool phase_started;
	cJSON *filters, *rewrites;
};

static void stop_replay(void *r)
{
	ds_replay_stop(r);
}

static int parse_addr(const char *opt, const char *s, ds_sockaddr_t *a)
{
	char buf[300];
	s = ds_verb_localhost(s, buf, sizeof(buf));
	if (ds_addr_parse(s, 53, a) < 0 || ds_addr_is_any(a) || ds_addr_port(a) == 0)
		return bad("--%s: '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:5300, [::1]:5300)", opt, s);
	return 0;
}

/* "8M", "512K", "1G" or bytes. */
static int parse_size(const char *opt, const char *s, size_t *out)
{
	char *end;
	double v = strtod(s, &end);
	double mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1024.0 * 1024 * 1024, end++;
	if (end == s || *end || !(v > 0) || v * mul > 17179869184.0)
		return bad("--%s: '%s' is not a size (e.g. 8M, 512K)", opt, s);
	*out = (size_t)(v * mul);
	return 0;
}

static int parse_args(struct run *R, int argc, char **argv)
{
	ds_replay_cfg_t *c = &R->cfg;
	long long v;
	int o;
	bool have_speed = false;
	ds_err_t err;
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return -1;
		case O_TARGET:
			if (parse_addr("target", optarg, &c->target))
				return EXIT_USAGE;
			R->have_target = true;
			break;
		case O_SPEED: {
			char buf[64];
			size_t n = strlen(optarg);
			double x;
			snprintf(buf, sizeof(buf), "%s", optarg);
			if (n && n < sizeof(buf) && (buf[n - 1] == 'x' || buf[n - 1] == 'X'))
				buf[n - 1] = 0;
			if (ds_parse_double(buf, &x) < 0 || !(x > 0) || x > 1e6)
				return bad("--speed: '%s' is not a factor above 0 (e.g. 1, 2.5, 10x)",
					   optarg);
			c->speed = x;
			have_speed = true;
			break;
		}
		case O_ASAP:
			c->asap = true;
			break;
		case O_LOOP:
			if (parse_uint("loop", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			c->loops = (unsigned)v;
			break;
		case O_DURATION:
			if (parse_dur("duration", optarg, &c->duration_ns))
				return EXIT_USAGE;
			if (!c->duration_ns)
				return bad("--duration: must be more than 0");
			break;
		case O_FILTER:
			if (ds_rewrite_add_filter(R->rw, optarg, &err) < 0)
				return bad("%s", err.msg);
			cJSON_AddItemToArray(R->filters, cJSON_CreateString(optarg));
			break;
		case O_REWRITE:
			if (ds_rewrite_add_zone(R->rw, optarg, &err) < 0)
				return bad("%s", err.msg);
			cJSON_AddItemToArray(R->rewrites, cJSON_CreateString(optarg));
			break;
		case O_THREADS:
			if (parse_uint("threads", optarg, 1, 256, &v))
				return EXIT_USAGE;
			c->threads = (unsigned)v;
			break;
		case O_DIFF:
			if (c->diff == DS_REPLAY_DIFF_SERVER)
				return bad("--diff and --diff-against exclude each other");
			c->diff = DS_REPLAY_DIFF_CAPTURE;
			break;
		case O_DIFF_AGAINST:
			if (c->diff == DS_REPLAY_DIFF_CAPTURE)
				return bad("--diff and --diff-against exclude each other");
			if (parse_addr("diff-against", optarg, &c->diff_target))
				return EXIT_USAGE;
			c->diff = DS_REPLAY_DIFF_SERVER;
			break;
		case O_DIFF_TTL:
			c->diff_ttl = true;
			break;
		case O_DIFF_EXAMPLES:
			if (parse_uint("diff-examples", optarg, 0, 1000, &v))
				return EXIT_USAGE;
			c->diff_examples = (unsigned)v;
			break;
		case O_WINDOW:
			if (parse_size("window", optarg, &c->window_bytes))
				return EXIT_USAGE;
			if (c->window_bytes < (1u << 20))
				return bad("--window: at least 1M");
			break;
		case O_MAXOUT:
			if (parse_uint("max-outstanding", optarg, 1, 1 << 24, &v))
				return EXIT_USAGE;
			c->max_outstanding = (unsigned)v;
			break;
		case O_MAXCLIENTS:
			if (parse_uint("max-clients", optarg, 1, 1 << 22, &v))
				return EXIT_USAGE;
			c->max_clients = (unsigned)v;
			break;
		case O_BATCH:
			if (parse_uint("batch", optarg, 1, 1024, &v))
				return EXIT_USAGE;
			c->batch = (unsigned)v;
			break;
		case O_SPIN:
			if (parse_dur("spin", optarg, &c->spin_ns))
				return EXIT_USAGE;
			break;
		case O_NOGSO:
			c->no_gso = true;
			break;
		case O_RT:
			c->realtime = true;
			break;
		case O_PORT:
			if (ds_parse_int(optarg, 1, 65535, &v) < 0)
				return bad("--port %s: not a port (1-65535)", optarg);
			if (R->nports == MAX_PORTS)
				return bad("at most %d --port", MAX_PORTS);
			R->ports[R->nports++] = (uint16_t)v;
			break;
		case O_DRY:
			R->dry = true;
			break;
		case ':':
			return bad("%s needs a value", argv[optind - 1]);
		default: {
			int r = ds_verb_opt(&R->v, o, optarg);
			if (r < 0)
				return EXIT_USAGE;
			if (r)
				break;
			fprintf(stderr, "dnsurge replay: unknown option '%s'\n\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
		}
	}
	for (int i = optind; i < argc; i++)
		R->files[R->nfiles++] = argv[i];
	if (!R->nfiles) {
		fputs("dnsurge replay: no capture file given\n\n", stderr);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (R->dry)
		return 0;
	if (!R->have_target)
		return bad("give --target HOST:PORT to replay to (or --dry-run to decode only)");
	if (c->asap && have_speed)
		return bad("--asap and --speed exclude each other");

	return 0;
}

static void record_phase(struct run *R, const ds_load_snap_t *s)
{
	int64_t start = s->t_wall_ns - s->t_ns;
	if (R->phase_started && !s->final)
		return;
	ds_store_phase_t p = {
		.seq = 0,
		.name = "replay",
		.start_ns = start,
		.end_ns = s->final ? start + s->t_ns + s->dur_ns : 0,
		.target = R->pace,
		.target_qps = NAN,
		.target_qps_end = NAN,
		.measured = true,
	};
	ds_verb_phase(&R->v, &p);
	R->phase_started = true;
}

static void on_interval(const ds_load_snap_t *s, void *user)
{
	struct run *R = user;
	if (R->progress)
		ds_summary_progress(stderr, s, R->pace);
	if (!R->v.wr)
		return;
	if (s->dur_ns > 0)
		ds_verb_interval(&R->v, s, NAN, !R->cfg.asap, s->conn_active >= 0);
	record_phase(R, s);
	if (R->v.store_err != DS_OK && R->r)
		ds_replay_stop(R->r);
}

static cJSON *params_json(const struct run *R, int argc, char **argv)
{
	const ds_replay_cfg_t *c = &R->cfg;
	char a[DS_ADDRSTR_MAX];
	cJSON *o = ds_verb_params(argc, argv);
	cJSON *f = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; f && i < R->nfiles; i++)
		cJSON_AddItemToArray(f, cJSON_CreateString(R->files[i]));
	cJSON_AddStringToObject(o, "load_model", "replay");
	if (c->asap)
		cJSON_AddNullToObject(o, "speed");
	else
		cJSON_AddNumberToObject(o, "speed", c->speed);
	cJSON_AddBoolToObject(o, "asap", c->asap);
	cJSON_AddNumberToObject(o, "loops", c->loops);
	cJSON_AddNumberToObject(o, "duration_s", (double)c->duration_ns / 1e9);
	cJSON_AddNumberToObject(o, "threads", c->threads);
	cJSON_AddNumberToObject(o, "window_bytes", (double)c->window_bytes);
	cJSON_AddNumberToObject(o, "max_lag_ns", (double)c->max_lag_ns);
	cJSON_AddNumberToObject(o, "spin_ns", (double)c->spin_ns);
	cJSON_AddBoolToObject(o, "realtime", c->realtime);
	cJSON_AddStringToObject(o, "diff", c->diff == DS_REPLAY_DIFF_CAPTURE ? "capture"
					   : c->diff == DS_REPLAY_DIFF_SERVER ? "server"
									      : "none");
	if (c->diff == DS_REPLAY_DIFF_SERVER)
		cJSON_AddStringToObject(o, "diff_against", ds_addr_str(&c->diff_target, a, sizeof(a)));
	cJSON_AddItemReferenceToObject(o, "filters", R->filters);
	cJSON_AddItemReferenceToObject(o, "rewrites", R->rewrites);
	return o;
}

/* The report's JSON: the load engine's fields, plus the replay's own. */
static cJSON *summary_json(struct run *R, const ds_summary_in_t *si, const ds_replay_result_t *res)
{
	const ds_replay_cfg_t *c = &R->cfg;
	cJSON *js = ds_summary_json(si);
	if (!js)
		return NULL;
	cJSON_ReplaceItemInObject(js, "load_model", cJSON_CreateString("replay"));
	/* An asap replay is reported as the load engine's closed loop, but
	 * has no fixed number of queries outstanding. */
	cJSON_DeleteItemFromObject(js, "max_outstanding");
	cJSON_DeleteItemFromObject(js, "spacing");
	cJSON_DeleteItemFromObject(js, "profile");
	cJSON_DeleteItemFromObject(js, "shard");
	cJSON_DeleteItemFromObject(js, "seed");
	cJSON *rp = ds_replay_result_json(res);
	if (rp) {
		cJSON *f = cJSON_AddArrayToObject(rp, "files");
		for (size_t i = 0; f && i < R->nfiles; i++)
			cJSON_AddItemToArray(f, cJSON_CreateString(R->files[i]));
		if (c->asap)
			cJSON_AddNullToObject(rp, "speed");
		else
			cJSON_AddNumberToObject(rp, "speed", c->speed);
		cJSON_AddBoolToObject(rp, "asap", c->asap);
		cJSON_AddNumberToObject(rp, "loops", c->loops);
		cJSON_AddNumberToObject(rp, "threads", c->threads);
		cJSON_AddItemReferenceToObject(rp, "filters", R->filters);
		cJSON_AddItemReferenceToObject(rp, "rewrites", R->rewrites);
		cJSON_AddItemToObject(js, "replay", rp);
	}
	cJSON *cap = cJSON_CreateObject();
	if (cap) {
		capture_json_add(cap, &res->capture);
		cJSON_AddNumberToObject(cap, "errors", res->capture_errors);
		if (res->capture_errors)
			cJSON_AddStringToObject(cap, "first_error", res->capture_error);
		else
			cJSON_AddNullToObject(cap, "first_error");
		cJSON_AddItemToObject(js, "capture", cap);
	}
	if (c->diff != DS_REPLAY_DIFF_NONE)
		cJSON_AddItemToObject(
			js, "diff",
			ds_diff_json(&res->diff, c->diff == DS_REPLAY_DIFF_CAPTURE ? "capture" : "server"));
	else
		cJSON_AddNullToObject(js, "diff");
	return js;
}

static void print_replay(FILE *f, const struct run *R, const ds_replay_result_t *res)
{
	const ds_decode_stats_t *st = &res->capture;
	fprintf(f, "Replay:\n\n");
	fprintf(f, "  Capture:               %llu files read, %llu packets, %llu queries, %llu responses (%.3f s captured)\n",
		(unsigned long long)st->files, (unsigned long long)st->packets,
		(unsigned long long)st->queries, (unsigned long long)st->responses,
		st->messages ? (double)(st->last_ts_ns - st->first_ts_ns) / 1e9 : 0.0);
	fprintf(f, "  Not decoded:          ");
	for (int i = 0; i < DS_SKIP_COUNT; i++)
		fprintf(f, " %s %llu", ds_decode_skip_name(i), (unsigned long long)st->skipped[i]);
	fputc('\n', f);
	if (res->capture_errors)
		fprintf(f, "  Capture errors:        %u (first: %s)\n", res->capture_errors,
			res->capture_error);
	fprintf(f, "  Passes:                %u of %u\n", res->passes, R->cfg.loops);
	fprintf(f, "  Queries:               %llu read, %llu filtered out, %llu rewritten (%llu could not be), %llu not sent (stopped)\n",
		(unsigned long long)res->queries, (unsigned long long)res->filtered,
		(unsigned long long)res->rewritten, (unsigned long long)res->unrewritable,
		(unsigned long long)res->unsent);
	fprintf(f, "  Sent by transport:     udp %llu, tcp %llu; IDs changed %llu, reordered %llu\n",
		(unsigned long long)res->udp_queries, (unsigned long long)res->tcp_queries,
		(unsigned long long)res->ids_changed, (unsigned long long)res->reordered);
	fprintf(f, "  Clients:               %llu sockets opened, %llu closed for room, at most %u open\n",
		(unsigned long long)res->clients, (unsigned long long)res->clients_evicted,
		res->clients_max);
	if (R->cfg.diff == DS_REPLAY_DIFF_CAPTURE)
		fprintf(f, "  Captured responses:    %llu paired with their query, %llu unpaired\n",
			(unsigned long long)res->paired, (unsigned long long)res->unpaired_responses);
	fputc('\n', f);
	if (R->cfg.diff != DS_REPLAY_DIFF_NONE)
		ds_diff_print(f, &res->diff,
			      R->cfg.diff == DS_REPLAY_DIFF_CAPTURE ? "capture" : "server");
}

static void print_more(FILE *f, void *arg)
{
	const struct run *R = arg;
	print_replay(f, R, ds_replay_result(R->r));
}

static int live(struct run *R, int argc, char **argv)
{
	ds_replay_cfg_t *c = &R->cfg;
	ds_err_t err = {{0}};
	int rc;
	char a[DS_ADDRSTR_MAX];
	c->files = R->files;
	c->nfiles = R->nfiles;
	c->decode.ports = R->ports;
	c->decode.nports = R->nports;
	c->rewrite = R->rw;
	c->on_interval = on_interval;
	c->user = R;
	snprintf(R->v.target, sizeof(R->v.target), "%s", ds_addr_str(&c->target, a, sizeof(a)));
	if (c->asap)
		snprintf(R->pace, sizeof(R->pace), "replay asap");
	else
		snprintf(R->pace, sizeof(R->pace), "replay %gx", c->speed);
	if (c->asap)
		snprintf(R->model, sizeof(R->model), "replay as fast as possible (asap), %u pass%s",
			 c->loops, c->loops == 1 ? "" : "es");
	else
		snprintf(R->model, sizeof(R->model), "replay at %gx the captured pace, %u pass%s",
			 c->speed, c->loops, c->loops == 1 ? "" : "es");
	snprintf(R->v.source, sizeof(R->v.source), "capture %s%s", R->files[0],
		 R->nfiles > 1 ? " and more" : "");
	R->progress = isatty(STDERR_FILENO) && !R->v.json;
	R->r = ds_replay_new(c, &err);
	if (!R->r) {
		rc = bad("%s", err.msg);
		goto out;
	}
	rc = ds_verb_record_begin(&R->v, params_json(R, argc, argv), 0, argc, argv);
	if (rc)
		goto out;
	if (R->progress)
		fprintf(stderr, "dnsurge replay: %s to %s\n", R->model, R->v.target);
	ds_verb_sigint(stop_replay, R->r);
	if (ds_replay_start(R->r, &err) < 0) {
		fprintf(stderr, "dnsurge replay: %s\n", err.msg);
		rc = DS_VERB_EXIT_FAILED;
	}
	ds_replay_wait(R->r);
	ds_verb_sigint(NULL, NULL);

	const ds_replay_result_t *res = ds_replay_result(R->r);
	if (res->capture_errors)
		fprintf(stderr, "dnsurge replay: %s%s\n", res->capture_error,
			res->capture_errors > 1 ? " (and more errors)" : "");
	ds_summary_in_t si;
	ds_verb_summary_in(&R->v, &res->load, rc == DS_VERB_EXIT_FAILED, &si);
	si.model = R->model;
	rc = ds_verb_finish(&R->v, &si, summary_json(R, &si, res), 0, print_more, R);
out:
	ds_verb_close(&R->v);
	ds_replay_free(R->r);
	return rc;
}

int ds_replay_main(int argc, char **argv)
{
	struct run R;
	memset(&R, 0, sizeof(R));
	ds_replay_cfg_init(&R.cfg);
	ds_verb_init(&R.v, "replay", &R.cfg.timeout_ns, &R.cfg.timeout_in_hist, &R.cfg.max_lag_ns);
	int rc = EXIT_USAGE;
	R.files = calloc((size_t)argc + 1, sizeof(*R.files));
	R.rw = ds_rewrite_new();
	R.filters = cJSON_CreateArray();
	R.rewrites = cJSON_CreateArray();
	if (!R.files || !R.rw || !R.filters || !R.rewrites) {
		fputs("dnsurge replay: out of memory\n", stderr);
		goto out;
	}
	rc = parse_args(&R, argc, argv);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (R.dry)
		rc = dry_run(R.files, R.nfiles, R.ports, R.nports, R.v.json);
	else
		rc = live(&R, argc, argv);
out:
	cJSON_Delete(R.filters);
	cJSON_Delete(R.rewrites);
	ds_rewrite_free(R.rw);
	free(R.files);
	return rc;
}
