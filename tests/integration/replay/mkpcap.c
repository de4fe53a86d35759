/* SPDX-License-Identifier: MIT */
/*
 * replay_mkpcap: writes synthetic pcap captures for the replay tests and
 * benchmarks: Ethernet, IPv4, DNS over UDP and TCP (with handshakes and
 * 2-byte framing), chosen clients, names, types and gaps, and optionally
 * a response to every query, made up or asked from a live server.
 *
 *   replay_mkpcap -o FILE [--clients N] [--queries N] [--rate QPS | --gaps MS,...]
 *                 [--tcp-clients K] [--names N] [--zone Z] [--per-client-names]
 *                 [--qtypes A,AAAA] [--responses | --record HOST:PORT]
 *                 [--resp-delay-us N] [--size-mb N] [--edns]
 *
 * --size-mb keeps writing queries (no responses) until the file reaches
 * that size: big captures for the streaming test, quickly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/net.h"
#include "lib/wire.h"

#define SERVER_IP 0x0AFF0035u /* 10.255.0.53 */
#define MAX_QTYPES 16

struct opts {
	const char *out;
	unsigned clients, tcp_clients, names, nqtypes;
	uint64_t queries;
	double rate;
	double gaps[256];
	unsigned ngaps;
	const char *zone;
	bool per_client, responses, edns;
	uint16_t qtypes[MAX_QTYPES];
	const char *record;
	int64_t resp_delay_ns;
	uint64_t size_mb;
};

static FILE *out;
static uint64_t written;
static int rec_fd = -1;
static ds_sockaddr_t rec_addr;

struct tcpflow {
	uint32_t cseq, sseq;
	uint16_t cport;
	bool open;
};

static void put(const void *p, size_t n)
{
	if (fwrite(p, 1, n, out) != n) {
		perror("replay_mkpcap: write");
		exit(1);
	}
	written += n;
}

static void put32(uint32_t v)
{
	put(&v, 4); /* the file is written in host (little-endian) order */
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* One Ethernet/IPv4 frame with the given transport payload. */
static void frame(int64_t ts, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
		  size_t l4len)
{
	uint8_t f[14 + 20 + 65600];
	memset(f, 0, 14);
	f[0] = 0x02;
	f[6] = 0x02;
	f[5] = 1;
	f[11] = 2;
	ds_wr16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ds_wr16(ip + 2, (uint16_t)(20 + l4len));
	ip[8] = 64;
	ip[9] = proto;
	ds_wr32(ip + 12, src);
	ds_wr32(ip + 16, dst);
	ds_wr16(ip + 10, csum(ip, 20));
	memcpy(ip + 20, l4, l4len);
	size_t n = 14 + 20 + l4len;
	put32((uint32_t)(ts / 1000000000));
	put32((uint32_t)(ts % 1000000000 / 1000));
	put32((uint32_t)n);
	put32((uint32_t)n);
	put(f, n);
}

static void udp(int64_t ts, uint32_t src, uint16_t sp, uint32_t dst, uint16_t dp, const uint8_t *p,
		size_t n)
{
	uint8_t u[8 + 65535];
	ds_wr16(u, sp);
	ds_wr16(u + 2, dp);
	ds_wr16(u + 4, (uint16_t)(8 + n));
	ds_wr16(u + 6, 0); /* no checksum: allowed over IPv4 */
	memcpy(u + 8, p, n);
	frame(ts, src, dst, 17, u, 8 + n);
}

static void tcp(int64_t ts, uint32_t src, uint16_t sp, uint32_t dst, uint16_t dp, uint32_t seq,
		uint32_t ack, uint8_t flags, const uint8_t *p, size_t n)
{
	uint8_t t[20 + 65600];
	memset(t, 0, 20);
	ds_wr16(t, sp);
	ds_wr16(t + 2, dp);
	ds_wr32(t + 4, seq);
	ds_wr32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	ds_wr16(t + 14, 65535);
	if (n)
		memcpy(t + 20, p, n);
	frame(ts, src, dst, 6, t, 20 + n);
}

/* A DNS message over TCP: the 2-byte length then the message, one segment. */
static void tcp_msg(int64_t ts, struct tcpflow *fl, uint32_t cip, bool from_client,
		    const uint8_t *p, size_t n)
{
	uint8_t b[2 + 65535];
	ds_wr16(b, (uint16_t)n);
	memcpy(b + 2, p, n);
	if (from_client) {
		tcp(ts, cip, fl->cport, SERVER_IP, 53, fl->cseq, fl->sseq, 0x18, b, n + 2);
		fl->cseq += (uint32_t)(n + 2);
	} else {
		tcp(ts, SERVER_IP, 53, cip, fl->cport, fl->sseq, fl->cseq, 0x18, b, n + 2);
		fl->sseq += (uint32_t)(n + 2);
	}
}

static void tcp_open(int64_t ts, struct tcpflow *fl, uint32_t cip, unsigned c)
{
	fl->cport = (uint16_t)(20000 + c % 40000);
	fl->cseq = 1000;
	fl->sseq = 5000;
	tcp(ts - 3000, cip, fl->cport, SERVER_IP, 53, fl->cseq++, 0, 0x02, NULL, 0);
	tcp(ts - 2000, SERVER_IP, 53, cip, fl->cport, fl->sseq++, fl->cseq, 0x12, NULL, 0);
	tcp(ts - 1000, cip, fl->cport, SERVER_IP, 53, fl->cseq, fl->sseq, 0x10, NULL, 0);
	fl->open = true;
}

static size_t make_query(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype, bool edns)
{
	uint8_t flat[DS_NAME_MAX];
	if (ds_name_from_str(name, NULL, flat) < 0) {
		fprintf(stderr, "replay_mkpcap: bad name %s\n", name);
		exit(2);
	}
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, 512);
	ds_wb_query(&wb, id, DS_FLAG_RD, flat, qtype, DS_CLASS_IN);
	if (edns) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, 1232, 0, 0, false);
	}
	return (size_t)ds_wb_finish(&wb);
}

/* A made-up answer: A 192.0.2.1 / AAAA 2001:db8::1 TTL 60, NXDOMAIN for nx* names. */
static size_t make_response(const uint8_t *q, size_t qlen, uint8_t *buf)
{
	ds_msg_t m;
	if (ds_msg_parse(&m, q, qlen, false) < 0)
		return 0;
	bool nx = m.qname[1] == 'n' && m.qname[2] == 'x';
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, 4096);
	ds_wb_reply(&wb, &m, nx ? DS_RCODE_NXDOMAIN : DS_RCODE_NOERROR, DS_FLAG_AA);
	static const uint8_t a[4] = {192, 0, 2, 1};
	static const uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	if (!nx && m.qtype == DS_TYPE_A)
		ds_wb_rr(&wb, m.qname, DS_TYPE_A, DS_CLASS_IN, 60, a, 4);
	else if (!nx && m.qtype == DS_TYPE_AAAA)
		ds_wb_rr(&wb, m.qname, DS_TYPE_AAAA, DS_CLASS_IN, 60, aaaa, 16);
	int n = ds_wb_finish(&wb);
	return n > 0 ? (size_t)n : 0;
}

/* The live server's answer to q (UDP), or 0 bytes when none came in 2 s. */
static size_t ask(const uint8_t *q, size_t qlen, uint8_t *buf)
{
	for (int tries = 0; tries < 3; tries++) {
		if (send(rec_fd, q, qlen, 0) < 0)
			return 0;
		for (;;) {
			ssize_t n = recv(rec_fd, buf, 65535, 0);
			if (n < 0)
				break;
			if (n >= 12 && !memcmp(buf, q, 2))
				return (size_t)n;
		}
	}
	return 0;
}

static void usage(void)
{
	fputs("usage: replay_mkpcap -o FILE [--clients N] [--queries N] [--rate QPS | --gaps MS,...]\n"
	      "       [--tcp-clients K] [--names N] [--zone Z] [--per-client-names] [--qtypes A,AAAA]\n"
	      "       [--responses | --record HOST:PORT] [--resp-delay-us N] [--size-mb N] [--edns]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.clients = 1, .queries = 100, .rate = 1000, .names = 100,
			 .zone = "example.com", .resp_delay_ns = 500000};
	static const struct option lo[] = {
		{"clients", 1, NULL, 'c'},	  {"queries", 1, NULL, 'n'},
		{"rate", 1, NULL, 'r'},		  {"gaps", 1, NULL, 'g'},
		{"tcp-clients", 1, NULL, 't'},	  {"names", 1, NULL, 'N'},
		{"zone", 1, NULL, 'z'},		  {"per-client-names", 0, NULL, 'P'},
		{"qtypes", 1, NULL, 'q'},	  {"responses", 0, NULL, 'R'},
		{"record", 1, NULL, 'L'},	  {"resp-delay-us", 1, NULL, 'd'},
		{"size-mb", 1, NULL, 's'},	  {"edns", 0, NULL, 'E'},
		{NULL, 0, NULL, 0},
	};
	int c;
	o.qtypes[0] = DS_TYPE_A;
	o.nqtypes = 1;
	while ((c = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out = optarg;
			break;
		case 'c':
			o.clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o.queries = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o.rate = strtod(optarg, NULL);
			break;
		case 'g':
			for (char *p = optarg; *p && o.ngaps < 256;) {
				o.gaps[o.ngaps++] = strtod(p, &p);
				if (*p == ',')
					p++;
			}
			break;
		case 't':
			o.tcp_clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'N':
			o.names = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'z':
			o.zone = optarg;
			break;
		case 'P':
			o.per_client = true;
			break;
		case 'q':
			o.nqtypes = 0;
			for (char *p = strtok(optarg, ","); p && o.nqtypes < MAX_QTYPES;
			     p = strtok(NULL, ","))
				o.qtypes[o.nqtypes++] = ds_type_from_str(p);
			break;
		case 'R':
			o.responses = true;
			break;
		case 'L':
			o.record = optarg;
			o.responses = true;
			break;
		case 'd':
			o.resp_delay_ns = strtoll(optarg, NULL, 10) * 1000;
			break;
		case 's':
			o.size_mb = strtoull(optarg, NULL, 10);
			break;
		case 'E':
			o.edns = true;
			break;
		default:
			usage();
		}
	}
	if (!o.out || !o.clients || !o.names || !o.nqtypes || !(o.rate > 0))
		usage();
	if (o.record) {
		if (ds_addr_parse(o.record, 53, &rec_addr) < 0)
			usage();
		rec_fd = socket(ds_addr_family(&rec_addr), SOCK_DGRAM, 0);
		struct timeval tv = {.tv_sec = 0, .tv_usec = 700000};
		setsockopt(rec_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (rec_fd < 0 || connect(rec_fd, &rec_addr.sa, ds_addr_len(&rec_addr)) < 0) {
			perror("replay_mkpcap: --record");
			return 1;
		}
	}
	out = fopen(o.out, "wb");
	if (!out) {
		perror(o.out);
		return 1;
	}
	static char obuf[1 << 20];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	put32(0xa1b2c3d4);
	uint16_t v[2] = {2, 4};
	put(v, 4);
	put32(0);
	put32(0);
	put32(65535);
	put32(1); /* Ethernet */
	struct tcpflow *fl = calloc(o.clients, sizeof(*fl));
	if (!fl)
		return 1;
	int64_t ts = 1700000000LL * 1000000000LL;
	uint64_t limit = o.size_mb ? o.size_mb << 20 : 0;
	uint8_t q[512], r[65536];
	for (uint64_t i = 0; limit ? written < limit : i < o.queries; i++) {
		unsigned cl = (unsigned)(i % o.clients);
		uint32_t cip = 0x0A000000u + cl + 1;
		char name[300];
		if (o.per_client)
			snprintf(name, sizeof(name), "q%llu.c%u.%s", (unsigned long long)i, cl, o.zone);
		else
			snprintf(name, sizeof(name), "n%llu.%s", (unsigned long long)(i % o.names),
				 o.zone);
		uint16_t qt = o.qtypes[i % o.nqtypes];
		uint16_t id = (uint16_t)(i / o.clients + 1);
		size_t ql = make_query(q, id, name, qt, o.edns);
		bool t = cl < o.tcp_clients;
		uint16_t sport = (uint16_t)(1024 + (i * 7919) % 60000);
		if (t) {
			if (!fl[cl].open)
				tcp_open(ts, &fl[cl], cip, cl);
			tcp_msg(ts, &fl[cl], cip, true, q, ql);
		} else {
			udp(ts, cip, sport, SERVER_IP, 53, q, ql);
		}
		if (o.responses && !limit) {
			size_t rl = rec_fd >= 0 ? ask(q, ql, r) : make_response(q, ql, r);
			if (rl && t)
				tcp_msg(ts + o.resp_delay_ns, &fl[cl], cip, false, r, rl);
			else if (rl)
				udp(ts + o.resp_delay_ns, SERVER_IP, 53, cip, sport, r, rl);
		}
		double gap_ms = o.ngaps ? o.gaps[i % o.ngaps] : 1000.0 / o.rate;
		ts += (int64_t)(gap_ms * 1e6);
	}
	free(fl);
	if (fclose(out) != 0) {
		perror(o.out);
		return 1;
	}
	return 0;
}
