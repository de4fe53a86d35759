/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for replay/decode: captures are built here byte by byte so
 * each test controls exactly what is on the wire (split, reordered,
 * missing, cut), then decoded; plus the public captures in tests/data/pcaps
 * against tshark's counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/wire.h"
#include "replay/decode.h"

#ifndef DS_TEST_DATA
#error "DS_TEST_DATA must name tests/data"
#endif

static char tmpdir[256];

/* ------------------------------------------------------------ building */

/* A capture file being written, in memory. */
struct cap {
	uint8_t *b;
	size_t n, cap;
};

static void put(struct cap *c, const void *p, size_t n)
{
	if (c->n + n > c->cap) {
		c->cap = (c->n + n) * 2 + 4096;
		c->b = realloc(c->b, c->cap);
		assert_non_null(c->b);
	}
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static void put32le(struct cap *c, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(c, b, 4);
}

static void put16le(struct cap *c, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(c, b, 2);
}

/* pcap file header; nano selects the nanosecond magic. */
static void cap_start(struct cap *c, uint32_t linktype, bool nano)
{
	c->n = 0;
	put32le(c, nano ? 0xa1b23c4d : 0xa1b2c3d4);
	put16le(c, 2);
	put16le(c, 4);
	put32le(c, 0);
	put32le(c, 0);
	put32le(c, 262144);
	put32le(c, linktype);
}

/* One record; frac is in the file's unit. caplen < len models a snaplen cut. */
static void cap_pkt_cut(struct cap *c, uint32_t sec, uint32_t frac, const uint8_t *p, size_t caplen,
			size_t len)
{
	put32le(c, sec);
	put32le(c, frac);
	put32le(c, (uint32_t)caplen);
	put32le(c, (uint32_t)len);
	put(c, p, caplen);
}

static void cap_pkt(struct cap *c, uint32_t sec, uint32_t frac, const uint8_t *p, size_t n)
{
	cap_pkt_cut(c, sec, frac, p, n, n);
}

static const char *cap_write(struct cap *c, const char *name)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(c->b, 1, c->n, f), c->n);
	fclose(f);
	return path;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/*
 * A DNS message for name/qtype; a response carries one NULL record with
 * `pad` bytes of data, to make messages of any size.
 */
static size_t dns(uint8_t *o, uint16_t id, const char *name, uint16_t qtype, bool response,
		  size_t pad)
{
	memset(o, 0, DS_HDR_LEN);
	wr16(o, id);
	wr16(o + 2, response ? 0x8180 : 0x0100);
	wr16(o + 4, 1);
	wr16(o + 6, response ? 1 : 0);
	size_t n = DS_HDR_LEN;
	int l = ds_name_from_str(name, NULL, o + n);
	assert_true(l > 0);
	n += (size_t)l;
	wr16(o + n, qtype);
	wr16(o + n + 2, DS_CLASS_IN);
	n += 4;
	if (response) {
		o[n] = 0xc0;
		o[n + 1] = 0x0c;
		wr16(o + n + 2, 10); /* NULL */
		wr16(o + n + 4, DS_CLASS_IN);
		wr32(o + n + 6, 60);
		wr16(o + n + 10, (uint16_t)pad);
		n += 12;
		memset(o + n, 'x', pad);
		n += pad;
	}
	return n;
}

/* DNS over TCP: length prefix then message. */
static size_t framed(uint8_t *o, uint16_t id, const char *name, bool response, size_t pad)
{
	size_t n = dns(o + 2, id, name, DS_TYPE_A, response, pad);
	wr16(o, (uint16_t)n);
	return n + 2;
}

static void ip4addr(uint8_t *o, const char *s)
{
	assert_int_equal(inet_pton(AF_INET, s, o), 1);
}

static size_t ipv4(uint8_t *o, const char *src, const char *dst, uint8_t proto, const uint8_t *pl,
		   size_t n, uint16_t id, uint16_t frag)
{
	memset(o, 0, 20);
	o[0] = 0x45;
	wr16(o + 2, (uint16_t)(20 + n));
	wr16(o + 4, id);
	wr16(o + 6, frag);
	o[8] = 64;
	o[9] = proto;
	ip4addr(o + 12, src);
	ip4addr(o + 16, dst);
	memmove(o + 20, pl, n);
	return 20 + n;
}

static size_t udp(uint8_t *o, uint16_t sp, uint16_t dp, const uint8_t *pl, size_t n)
{
	wr16(o, sp);
	wr16(o + 2, dp);
	wr16(o + 4, (uint16_t)(8 + n));
	wr16(o + 6, 0);
	memmove(o + 8, pl, n);
	return 8 + n;
}

#define SYN 0x02
#define FIN 0x01
#define RST 0x04
#define ACK 0x10
#define PSH 0x08

static size_t tcpseg(uint8_t *o, uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack,
		     uint8_t flags, const uint8_t *pl, size_t n)
{
	memset(o, 0, 20);
	wr16(o, sp);
	wr16(o + 2, dp);
	wr32(o + 4, seq);
	wr32(o + 8, ack);
	o[12] = 5 << 4;
	o[13] = flags;
	wr16(o + 14, 65535);
	if (n)
		memmove(o + 20, pl, n);
	return 20 + n;
}

static size_t eth(uint8_t *o, uint16_t type, const uint8_t *pl, size_t n)
{
	memset(o, 0, 12);
	o[0] = 0x02;
	o[6] = 0x02;
	o[11] = 1;
	wr16(o + 12, type);
	memmove(o + 14, pl, n);
	return 14 + n;
}

/* Ethernet + IPv4 + UDP from 10.0.0.1:sp to 10.0.0.2:dp. */
static size_t eth_udp4(uint8_t *o, uint16_t sp, uint16_t dp, const uint8_t *pl, size_t n)
{
	uint8_t t[70000], i[70000];
	size_t l = udp(t, sp, dp, pl, n);
	l = ipv4(i, "10.0.0.1", "10.0.0.2", 17, t, l, 1, 0);
	return eth(o, 0x0800, i, l);
}

/* ------------------------------------------------------------ running */

struct ev {
	int64_t ts;
	bool resp;
	uint16_t id, qtype;
	uint8_t transport;
	uint16_t sport, dport;
	char src[64], qname[256];
	size_t dns_len;
	uint64_t packet;
};

struct res {
	int n;
	struct ev ev[512];
	ds_decode_stats_t st;
	int errors;
	char err[DS_ERRMSG_MAX];
};

static void run_files(const char *const *paths, size_t n, const ds_decode_opts_t *o,
		      struct res *r)
{
	ds_err_t err;
	memset(r, 0, sizeof(*r));
	ds_decode_t *d = ds_decode_open(paths, n, o, &err);
	if (!d)
		fail_msg("open: %s", err.msg);
	const ds_decode_event_t *e;
	int rc;
	while ((rc = ds_decode_next(d, &e, &err)) != 0) {
		if (rc < 0) {
			r->errors++;
			snprintf(r->err, sizeof(r->err), "%s", err.msg);
			continue;
		}
		assert_true(r->n < 512);
		struct ev *v = &r->ev[r->n++];
		v->ts = e->ts_ns;
		v->resp = e->response;
		v->id = e->id;
		v->qtype = e->qtype;
		v->transport = e->transport;
		v->sport = (uint16_t)ds_addr_port(&e->src);
		v->dport = (uint16_t)ds_addr_port(&e->dst);
		ds_addr_host(&e->src, v->src, sizeof(v->src));
		ds_name_to_str(e->msg.qname, v->qname, sizeof(v->qname));
		v->dns_len = e->dns_len;
		v->packet = e->packet;
		/* the bytes handed out are the message ds_msg_parse saw */
		assert_ptr_equal(e->msg.pkt, e->dns);
		assert_int_equal(ds_rd16(e->dns), e->id);
	}
	r->st = *ds_decode_stats(d);
	ds_decode_close(d);
}

static void run(const char *path, const ds_decode_opts_t *o, struct res *r)
{
	run_files(&path, 1, o, r);
}

static uint64_t skipped(const struct res *r, int why)
{
	return r->st.skipped[why];
}

/* ------------------------------------------------------------ UDP, links */

static void test_udp_basic(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[512], f[1024];
	cap_start(&c, 1, true);
	size_t n = dns(m, 0x1234, "www.Example.org.", DS_TYPE_AAAA, false, 0);
	cap_pkt(&c, 1700000000, 123456789, f, eth_udp4(f, 40000, 53, m, n));
	n = dns(m, 0x1234, "www.example.org.", DS_TYPE_AAAA, true, 20);
	cap_pkt(&c, 1700000000, 223456789, f, eth_udp4(f, 53, 40000, m, n));
	run(cap_write(&c, "udp.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_false(r.ev[0].resp);
	assert_true(r.ev[1].resp);
	assert_int_equal(r.ev[0].id, 0x1234);
	assert_int_equal(r.ev[0].qtype, DS_TYPE_AAAA);
	assert_int_equal(r.ev[0].transport, DS_DECODE_UDP);
	assert_string_equal(r.ev[0].qname, "www.example.org.");
	assert_string_equal(r.ev[0].src, "10.0.0.1");
	assert_int_equal(r.ev[0].sport, 40000);
	assert_int_equal(r.ev[0].dport, 53);
	/* nanosecond file: time kept to the nanosecond */
	assert_true(r.ev[0].ts == 1700000000LL * 1000000000LL + 123456789);
	assert_int_equal(r.ev[1].packet, 2);
	assert_int_equal(r.st.queries, 1);
	assert_int_equal(r.st.responses, 1);
	assert_int_equal(r.st.udp_messages, 2);

	/* microsecond file: scaled to ns */
	cap_start(&c, 1, false);
	n = dns(m, 7, "a.", DS_TYPE_A, false, 0);
	cap_pkt(&c, 1700000000, 654321, f, eth_udp4(f, 40000, 53, m, n));
	run(cap_write(&c, "udp-us.pcap"), NULL, &r);
	assert_int_equal(r.n, 1);
	assert_true(r.ev[0].ts == 1700000000LL * 1000000000LL + 654321000LL);
	free(c.b);
}

static void test_ports(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[512], f[1024];
	cap_start(&c, 1, false);
	size_t n = dns(m, 1, "a.", DS_TYPE_A, false, 0);
	cap_pkt(&c, 1, 0, f, eth_udp4(f, 40000, 53, m, n));
	cap_pkt(&c, 1, 1, f, eth_udp4(f, 40000, 5353, m, n));
	cap_pkt(&c, 1, 2, f, eth_udp4(f, 5353, 40001, m, n)); /* either port */
	cap_pkt(&c, 1, 3, f, eth_udp4(f, 1234, 4321, m, n));
	const char *p = cap_write(&c, "ports.pcap");
	run(p, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(skipped(&r, DS_SKIP_NOT_DNS), 3);
	uint16_t ports[] = {5353};
	ds_decode_opts_t o = {.ports = ports, .nports = 1};
	run(p, &o, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(skipped(&r, DS_SKIP_NOT_DNS), 2);
	free(c.b);
}

/* The same query over each link type must decode the same. */
static void check_one_query(const char *path, const char *src)
{
	struct res r;
	run(path, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.st.queries, 1);
	assert_string_equal(r.ev[0].src, src);
	assert_string_equal(r.ev[0].qname, "link.test.");
	for (int i = 0; i < DS_SKIP_COUNT; i++)
		assert_int_equal(r.st.skipped[i], 0);
}

static size_t ip4_query(uint8_t *o)
{
	uint8_t m[512], t[1024];
	size_t n = dns(m, 9, "link.test.", DS_TYPE_A, false, 0);
	n = udp(t, 40000, 53, m, n);
	return ipv4(o, "192.0.2.1", "192.0.2.53", 17, t, n, 1, 0);
}

static size_t ip6_query(uint8_t *o)
{
	uint8_t m[512];
	size_t n = dns(m, 9, "link.test.", DS_TYPE_A, false, 0);
	memset(o, 0, 40);
	o[0] = 0x60;
	n = udp(o + 40, 40000, 53, m, n);
	wr16(o + 4, (uint16_t)n);
	o[6] = 17;
	o[7] = 64;
	inet_pton(AF_INET6, "2001:db8::1", o + 8);
	inet_pton(AF_INET6, "2001:db8::53", o + 24);
	return 40 + n;
}

static void test_vlan(void **st)
{
	struct cap c = {0};
	uint8_t ip[1024], f[1200], v[1200];
	size_t n = ip4_query(ip);
	static const uint16_t tags[][3] = {
		{0x8100, 0, 0},      /* 802.1Q */
		{0x88a8, 0x8100, 0}, /* 802.1ad QinQ */
		{0x9100, 0x8100, 0}, /* pre-standard QinQ */
		{0x8100, 0x8100, 0x8100},
	};
	for (size_t t = 0; t < DS_ARRAY_SIZE(tags); t++) {
		size_t l = 0;
		for (int k = 0; k < 3 && tags[t][k]; k++) {
			/* each tag: TCI then the type that follows */
			wr16(v + l, (uint16_t)(100 + k));
			uint16_t next = k + 1 < 3 && tags[t][k + 1] ? tags[t][k + 1] : 0x0800;
			wr16(v + l + 2, next);
			l += 4;
		}
		memcpy(v + l, ip, n);
		cap_start(&c, 1, false);
		cap_pkt(&c, 1, 0, f, eth(f, tags[t][0], v, l + n));
		check_one_query(cap_write(&c, "vlan.pcap"), "192.0.2.1");
	}
	free(c.b);
}

static void test_sll_sll2(void **st)
{
	struct cap c = {0};
	uint8_t ip[1024], f[1200];
	size_t n = ip4_query(ip);
	/* SLL: packet type, ARPHRD, address length, address[8], protocol */
	memset(f, 0, 16);
	wr16(f + 2, 1);
	wr16(f + 4, 6);
	wr16(f + 14, 0x0800);
	memcpy(f + 16, ip, n);
	cap_start(&c, 113, false);
	cap_pkt(&c, 1, 0, f, 16 + n);
	check_one_query(cap_write(&c, "sll.pcap"), "192.0.2.1");
	/* SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address[8] */
	n = ip6_query(ip);
	memset(f, 0, 20);
	wr16(f, 0x86dd);
	wr32(f + 4, 2);
	wr16(f + 8, 1);
	f[11] = 6;
	memcpy(f + 20, ip, n);
	cap_start(&c, 276, false);
	cap_pkt(&c, 1, 0, f, 20 + n);
	check_one_query(cap_write(&c, "sll2.pcap"), "2001:db8::1");
	free(c.b);
}

static void test_raw_ip(void **st)
{
	struct cap c = {0};
	uint8_t ip4[1024], ip6[1024];
	size_t n4 = ip4_query(ip4), n6 = ip6_query(ip6);
	/* LINKTYPE_RAW (101): version decides */
	cap_start(&c, 101, false);
	cap_pkt(&c, 1, 0, ip4, n4);
	check_one_query(cap_write(&c, "raw4.pcap"), "192.0.2.1");
	cap_start(&c, 101, false);
	cap_pkt(&c, 1, 0, ip6, n6);
	check_one_query(cap_write(&c, "raw6.pcap"), "2001:db8::1");
	/* LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229) */
	cap_start(&c, 228, false);
	cap_pkt(&c, 1, 0, ip4, n4);
	check_one_query(cap_write(&c, "ipv4.pcap"), "192.0.2.1");
	cap_start(&c, 229, false);
	cap_pkt(&c, 1, 0, ip6, n6);
	check_one_query(cap_write(&c, "ipv6.pcap"), "2001:db8::1");
	/* IPv6 on a LINKTYPE_IPV4 link is wrong */
	struct res r;
	cap_start(&c, 228, false);
	cap_pkt(&c, 1, 0, ip6, n6);
	run(cap_write(&c, "ipv4bad.pcap"), NULL, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 1);
	free(c.b);
}

static void test_loopback(void **st)
{
	struct cap c = {0};
	uint8_t ip[1024], f[1200];
	size_t n4 = ip4_query(ip);
	/* NULL, AF_INET in little-endian (the capturing host's order) */
	uint8_t le2[4] = {2, 0, 0, 0};
	memcpy(f, le2, 4);
	memcpy(f + 4, ip, n4);
	cap_start(&c, 0, false);
	cap_pkt(&c, 1, 0, f, 4 + n4);
	check_one_query(cap_write(&c, "null4.pcap"), "192.0.2.1");
	/* NULL from a big-endian host, AF_INET6 as macOS numbers it (30) */
	size_t n6 = ip6_query(ip);
	uint8_t be30[4] = {0, 0, 0, 30};
	memcpy(f, be30, 4);
	memcpy(f + 4, ip, n6);
	cap_start(&c, 0, false);
	cap_pkt(&c, 1, 0, f, 4 + n6);
	check_one_query(cap_write(&c, "null6.pcap"), "2001:db8::1");
	/* LOOP (108): network order, AF_INET6 as OpenBSD numbers it (24) */
	uint8_t be24[4] = {0, 0, 0, 24};
	memcpy(f, be24, 4);
	cap_start(&c, 108, false);
	cap_pkt(&c, 1, 0, f, 4 + n6);
	check_one_query(cap_write(&c, "loop6.pcap"), "2001:db8::1");
	/* an unknown family */
	struct res r;
	uint8_t be99[4] = {0, 0, 0, 99};
	memcpy(f, be99, 4);
	cap_start(&c, 0, false);
	cap_pkt(&c, 1, 0, f, 4 + n6);
	run(cap_write(&c, "null99.pcap"), NULL, &r);
	assert_int_equal(skipped(&r, DS_SKIP_UNSUPPORTED), 1);
	free(c.b);
}

static void test_unsupported_and_malformed(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[512], f[1200], t[1200], ip[1200];
	cap_start(&c, 1, false);
	/* ARP */
	memset(t, 0, 28);
	cap_pkt(&c, 1, 0, f, eth(f, 0x0806, t, 28));
	/* ICMP */
	size_t n = ipv4(ip, "10.0.0.1", "10.0.0.2", 1, t, 8, 1, 0);
	cap_pkt(&c, 1, 1, f, eth(f, 0x0800, ip, n));
	/* IHL of 4 words */
	n = ip4_query(ip);
	ip[0] = 0x44;
	cap_pkt(&c, 1, 2, f, eth(f, 0x0800, ip, n));
	/* UDP length beyond the datagram */
	n = ip4_query(ip);
	wr16(ip + 24, 900);
	cap_pkt(&c, 1, 3, f, eth(f, 0x0800, ip, n));
	/* DNS whose question name is a compression loop */
	n = dns(m, 1, "a.", DS_TYPE_A, false, 0);
	m[12] = 0xc0;
	m[13] = 12;
	cap_pkt(&c, 1, 4, f, eth_udp4(f, 40000, 53, m, n));
	/* DNS shorter than a header */
	cap_pkt(&c, 1, 5, f, eth_udp4(f, 40000, 53, m, 5));
	/* runt Ethernet frame */
	cap_pkt(&c, 1, 6, f, 10);
	run(cap_write(&c, "bad.pcap"), NULL, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(skipped(&r, DS_SKIP_UNSUPPORTED), 2);
	assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 5);
	assert_int_equal(r.st.packets, 7);

	/* a link type the decoder does not know */
	cap_start(&c, 147, false);
	cap_pkt(&c, 1, 0, f, 60);
	run(cap_write(&c, "user0.pcap"), NULL, &r);
	assert_int_equal(skipped(&r, DS_SKIP_UNSUPPORTED), 1);
	free(c.b);
}

static void test_truncated(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[512], f[1200];
	cap_start(&c, 1, false);
	size_t n = dns(m, 1, "cut.test.", DS_TYPE_A, true, 100);
	size_t l = eth_udp4(f, 53, 40000, m, n);
	cap_pkt_cut(&c, 1, 0, f, 60, l); /* snaplen 60 */
	cap_pkt(&c, 1, 1, f, l);
	/* cut only in the Ethernet trailer: the datagram is whole */
	uint8_t padded[1300];
	memcpy(padded, f, l);
	memset(padded + l, 0, 20);
	cap_pkt_cut(&c, 1, 2, padded, l, l + 20);
	run(cap_write(&c, "snap.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(skipped(&r, DS_SKIP_TRUNCATED), 1);

	/* the file itself ends in the middle of a record */
	c.n -= 30;
	const char *p = cap_write(&c, "short.pcap");
	run(p, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.errors, 1);
	assert_non_null(strstr(r.err, p));
	assert_non_null(strstr(r.err, "truncated"));
	free(c.b);
}

static void test_not_a_capture(void **st)
{
	ds_err_t err;
	char path[512];
	snprintf(path, sizeof(path), "%s/notes.txt", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a capture file at all\n", f);
	fclose(f);
	const char *p = path;
	assert_null(ds_decode_open(&p, 1, NULL, &err));
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "unknown file format")); /* libpcap's words */

	snprintf(path, sizeof(path), "%s/empty.pcap", tmpdir);
	f = fopen(path, "w");
	fclose(f);
	assert_null(ds_decode_open(&p, 1, NULL, &err));
	assert_non_null(strstr(err.msg, path));

	snprintf(path, sizeof(path), "%s/missing.pcap", tmpdir);
	assert_null(ds_decode_open(&p, 1, NULL, &err));
	assert_non_null(strstr(err.msg, path));
	assert_null(ds_decode_open(&p, 0, NULL, &err));
}

/* ------------------------------------------------------------ fragments */

static void test_ipv4_fragments(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[2000], u[2100], ip[2100], f[2200];
	size_t n = dns(m, 0xbeef, "frag.test.", DS_TYPE_TXT, true, 1300);
	size_t ul = udp(u, 53, 40000, m, n);
	cap_start(&c, 1, false);
	/* three fragments sent last, first, middle */
	const size_t cut[] = {0, 504, 1008, ul};
	const int order[] = {2, 0, 1};
	for (int k = 0; k < 3; k++) {
		int i = order[k];
		bool more = i < 2;
		size_t l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u + cut[i], cut[i + 1] - cut[i], 77,
				(uint16_t)((more ? 0x2000 : 0) | cut[i] / 8));
		cap_pkt(&c, 1, (uint32_t)k, f, eth(f, 0x0800, ip, l));
	}
	/* a datagram whose middle never comes: dropped after 30 s of capture time */
	size_t l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 504, 78, 0x2000);
	cap_pkt(&c, 2, 0, f, eth(f, 0x0800, ip, l));
	l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u + 1008, ul - 1008, 78, 1008 / 8);
	cap_pkt(&c, 2, 1, f, eth(f, 0x0800, ip, l));
	/* fragment that is not a multiple of 8 bytes */
	l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 500, 79, 0x2000);
	cap_pkt(&c, 3, 0, f, eth(f, 0x0800, ip, l));
	size_t q = dns(m, 1, "later.test.", DS_TYPE_A, false, 0);
	cap_pkt(&c, 40, 0, f, eth_udp4(f, 40000, 53, m, q));
	run(cap_write(&c, "frag4.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_true(r.ev[0].resp);
	assert_int_equal(r.ev[0].id, 0xbeef);
	assert_int_equal(r.ev[0].dns_len, n);
	assert_int_equal(r.ev[0].packet, 3); /* completed by the middle one */
	assert_int_equal(r.st.frag_packets, 6);
	assert_int_equal(r.st.frag_reassembled, 1);
	assert_int_equal(r.st.frag_dropped, 1);
	assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 1);
	free(c.b);
}

static void test_fragment_limits(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t u[2000], ip[2100], f[2200];
	memset(u, 0, sizeof(u));
	cap_start(&c, 1, false);
	for (uint16_t id = 0; id < 10; id++) {
		size_t l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 1000, id, 0x2000);
		cap_pkt(&c, 1, id, f, eth(f, 0x0800, ip, l));
	}
	ds_decode_opts_t o = {.frag_max_datagrams = 3};
	run(cap_write(&c, "fraglimit.pcap"), &o, &r);
	assert_int_equal(r.st.frag_packets, 10);
	assert_int_equal(r.st.frag_dropped, 10); /* 7 for room, 3 at the end */
	free(c.b);
}

/* IPv6 header for src -> dst with next header nh and payload length plen. */
static void ip6hdr(uint8_t *o, uint8_t nh, size_t plen)
{
	memset(o, 0, 40);
	o[0] = 0x60;
	wr16(o + 4, (uint16_t)plen);
	o[6] = nh;
	o[7] = 64;
	inet_pton(AF_INET6, "2001:db8::53", o + 8);
	inet_pton(AF_INET6, "2001:db8::1", o + 24);
}

/* An 8-byte option header (hop-by-hop, destination, routing) followed by nh. */
static size_t opthdr(uint8_t *o, uint8_t nh)
{
	memset(o, 0, 8);
	o[0] = nh;
	o[2] = 1; /* PadN */
	o[3] = 4;
	return 8;
}

static void test_ipv6_fragments_ext(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t m[2000], fr[2100], p[2300], f[2400];
	size_t n = dns(m, 0x6666, "frag6.test.", DS_TYPE_AAAA, true, 1400);
	/* fragmentable part: destination options, then UDP */
	size_t fl = opthdr(fr, 17);
	fl += udp(fr + fl, 53, 40000, m, n);
	cap_start(&c, 1, false);
	const size_t cut[] = {0, 1000, fl};
	for (int k = 1; k >= 0; k--) { /* last fragment first */
		size_t l = 40;
		l += opthdr(p + l, 60);  /* hop-by-hop -> destination options */
		l += opthdr(p + l, 44);  /* destination options -> fragment */
		p[l] = 60;               /* fragment -> (reassembled) destination options */
		p[l + 1] = 0;
		wr16(p + l + 2, (uint16_t)(cut[k] | (k == 0 ? 1 : 0)));
		wr32(p + l + 4, 0xabcdef01);
		l += 8;
		memcpy(p + l, fr + cut[k], cut[k + 1] - cut[k]);
		l += cut[k + 1] - cut[k];
		ip6hdr(p, 0, l - 40);
		cap_pkt(&c, 1, (uint32_t)(1 - k), f, eth(f, 0x86dd, p, l));
	}
	/* routing header and an atomic fragment (RFC 6946) on a plain query */
	size_t q = dns(m, 0x7777, "atomic.test.", DS_TYPE_A, false, 0);
	size_t l = 40;
	l += opthdr(p + l, 44);
	p[40 + 2] = 0; /* a routing header: type 0, no segments left */
	p[40 + 3] = 0;
	p[l] = 17;
	p[l + 1] = 0;
	wr16(p + l + 2, 0);
	wr32(p + l + 4, 5);
	l += 8;
	l += udp(p + l, 40000, 53, m, q);
	ip6hdr(p, 43, l - 40);
	cap_pkt(&c, 1, 2, f, eth(f, 0x86dd, p, l));
	run(cap_write(&c, "frag6.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].id, 0x6666);
	assert_int_equal(r.ev[0].dns_len, n);
	assert_string_equal(r.ev[0].src, "2001:db8::53");
	assert_int_equal(r.ev[1].id, 0x7777);
	assert_int_equal(r.st.frag_reassembled, 1);
	assert_int_equal(r.st.frag_packets, 2);
	free(c.b);
}

/* ------------------------------------------------------------ TCP */

#define CLI "10.1.0.1"
#define SRV "10.1.0.53"

/* Ethernet frame of a TCP segment; dir 0 client -> server, 1 back. */
static size_t eth_tcp(uint8_t *o, int dir, uint16_t cport, uint32_t seq, uint32_t ack,
		      uint8_t flags, const uint8_t *pl, size_t n)
{
	uint8_t t[70000], i[70000];
	size_t l = dir ? tcpseg(t, 53, cport, seq, ack, flags, pl, n)
		       : tcpseg(t, cport, 53, seq, ack, flags, pl, n);
	l = ipv4(i, dir ? SRV : CLI, dir ? CLI : SRV, 6, t, l, 1, 0);
	return eth(o, 0x0800, i, l);
}

struct tcpw {
	struct cap c;
	uint32_t t;
	uint8_t f[70000];
};

static void seg(struct tcpw *w, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
		const uint8_t *pl, size_t n)
{
	size_t l = eth_tcp(w->f, dir, 40000, seq, ack, flags, pl, n);
	cap_pkt(&w->c, 100, w->t++, w->f, l);
}

/* Client ISN 1000, server ISN 5000: data starts at 1001 / 5001. */
static void handshake(struct tcpw *w)
{
	cap_start(&w->c, 1, false);
	w->t = 0;
	seg(w, 0, 1000, 0, SYN, NULL, 0);
	seg(w, 1, 5000, 1001, SYN | ACK, NULL, 0);
	seg(w, 0, 1001, 5001, ACK, NULL, 0);
}

static void test_tcp_split_and_merged(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	size_t b = framed(s + a, 2, "two.test.", false, 0);
	size_t c = framed(s + a + b, 3, "three.test.", false, 0);
	size_t d = framed(s + a + b + c, 4, "four.test.", false, 0);
	size_t all = a + b + c + d;
	handshake(&w);
	/* 1 byte (half the length prefix), then the rest of message 1 and
	 * message 2 and half of 3, then the rest: split and merged */
	seg(&w, 0, 1001, 5001, ACK | PSH, s, 1);
	seg(&w, 0, 1002, 5001, ACK | PSH, s + 1, a + b + 5 - 1);
	seg(&w, 0, (uint32_t)(1001 + a + b + 5), 5001, ACK | PSH, s + a + b + 5, all - a - b - 5);
	size_t resp = framed(s, 1, "one.test.", true, 3000); /* one response, three segments */
	seg(&w, 1, 5001, (uint32_t)(1001 + all), ACK, s, 1000);
	seg(&w, 1, 6001, (uint32_t)(1001 + all), ACK, s + 1000, 1000);
	seg(&w, 1, 7001, (uint32_t)(1001 + all), ACK | PSH, s + 2000, resp - 2000);
	run(cap_write(&w.c, "tcp-split.pcap"), NULL, &r);
	assert_int_equal(r.n, 5);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.ev[i].id, i + 1);
		assert_int_equal(r.ev[i].transport, DS_DECODE_TCP);
		assert_int_equal(r.ev[i].sport, 40000);
	}
	assert_string_equal(r.ev[2].qname, "three.test.");
	assert_int_equal(r.ev[0].packet, 5);  /* completed by the second data segment */
	assert_int_equal(r.ev[3].packet, 6);
	assert_true(r.ev[4].resp);
	assert_int_equal(r.ev[4].dns_len, resp - 2);
	assert_int_equal(r.ev[4].packet, 9);
	assert_int_equal(r.st.tcp_messages, 5);
	assert_int_equal(r.st.tcp_gaps, 0);
	assert_int_equal(r.st.tcp_flows, 1);
	free(w.c.b);
}

static void test_tcp_reorder_and_retransmit(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	size_t b = framed(s + a, 2, "two.test.", false, 0);
	size_t c = framed(s + a + b, 3, "three.test.", false, 0);
	handshake(&w);
	/* third, then first, then second: nothing is lost */
	seg(&w, 0, (uint32_t)(1001 + a + b), 5001, ACK, s + a + b, c);
	seg(&w, 0, 1001, 5001, ACK, s, a);
	seg(&w, 0, (uint32_t)(1001 + a), 5001, ACK, s + a, b);
	/* retransmissions: whole, and overlapping the end of the stream */
	seg(&w, 0, 1001, 5001, ACK, s, a);
	seg(&w, 0, (uint32_t)(1001 + a), 5001, ACK, s + a, b + c);
	size_t d = framed(s + a + b + c, 4, "four.test.", false, 0);
	seg(&w, 0, (uint32_t)(1001 + a + b), 5001, ACK, s + a + b, c + d); /* half old, half new */
	run(cap_write(&w.c, "tcp-reorder.pcap"), NULL, &r);
	assert_int_equal(r.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r.ev[i].id, i + 1);
	assert_int_equal(r.ev[0].packet, 5);
	assert_int_equal(r.ev[2].packet, 6); /* released when the hole filled */
	assert_int_equal(r.st.tcp_gaps, 0);
	assert_int_equal(r.st.tcp_retransmits, 2);
	free(w.c.b);
}

static void test_tcp_gap(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	size_t b = framed(s + a, 2, "two.test.", false, 0);
	size_t c = framed(s + a + b, 3, "three.test.", false, 0);
	size_t d = framed(s + a + b + c, 4, "four.test.", false, 0);
	handshake(&w);
	/* message 2 never captured; the server's ACK shows it was received */
	seg(&w, 0, 1001, 5001, ACK, s, a);
	seg(&w, 0, (uint32_t)(1001 + a + b), 5001, ACK, s + a + b, c);
	seg(&w, 1, 5001, (uint32_t)(1001 + a + b + c), ACK, NULL, 0);
	/* a hole in the middle of message 4: its length says where 5 starts */
	size_t e = framed(s + a + b + c + d, 5, "five.test.", false, 0);
	uint32_t d0 = (uint32_t)(1001 + a + b + c);
	seg(&w, 0, d0, 5001, ACK, s + a + b + c, 6);
	seg(&w, 0, d0 + 10, 5001, ACK, s + a + b + c + 10, d - 10 + e);
	run(cap_write(&w.c, "tcp-gap.pcap"), NULL, &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.ev[0].id, 1);
	assert_int_equal(r.ev[1].id, 3);
	assert_int_equal(r.ev[1].packet, 6); /* skipped at the ACK, not at the end */
	assert_int_equal(r.ev[2].id, 5);
	assert_int_equal(r.st.tcp_gaps, 2);
	assert_int_equal(r.st.tcp_gap_bytes, b + 4);
	assert_int_equal(r.st.tcp_incomplete, 1);
	assert_int_equal(r.st.tcp_resync_bytes, 0);
	free(w.c.b);
}

static void test_tcp_gap_timeout_and_end(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	size_t b = framed(s + a, 2, "two.test.", false, 0);
	size_t c = framed(s + a + b, 3, "three.test.", false, 0);
	handshake(&w);
	seg(&w, 0, (uint32_t)(1001 + a), 5001, ACK, s + a, b); /* message 1 missing */
	seg(&w, 0, (uint32_t)(1001 + a + b), 5001, ACK, s + a + b, c);
	run(cap_write(&w.c, "tcp-gap-end.pcap"), NULL, &r);
	/* nothing more came: at the end the hole is skipped and messages
	 * found by hunting for a boundary */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].id, 2);
	assert_int_equal(r.ev[1].id, 3);
	assert_int_equal(r.st.tcp_gaps, 1);

	/* the same, with a later segment on the connection 10 s on */
	handshake(&w);
	seg(&w, 0, (uint32_t)(1001 + a), 5001, ACK, s + a, b);
	size_t l = eth_tcp(w.f, 0, 40000, (uint32_t)(1001 + a + b), 5001, ACK, s + a + b, c);
	cap_pkt(&w.c, 110, 0, w.f, l);
	run(cap_write(&w.c, "tcp-gap-time.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].packet, 5);
	free(w.c.b);
}

static void test_tcp_midstream(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	size_t b = framed(s + a, 2, "two.test.", false, 0);
	size_t c = framed(s + a + b, 3, "three.test.", true, 40);
	cap_start(&w.c, 1, false);
	/* no handshake; the first segment starts 7 bytes into message 1 */
	seg(&w, 0, 777, 1, ACK, s + 7, a - 7 + b);
	/* the other direction starts on a boundary */
	seg(&w, 1, 999, 777, ACK, s + a + b, c);
	run(cap_write(&w.c, "tcp-mid.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].id, 2);
	assert_int_equal(r.ev[1].id, 3);
	assert_true(r.ev[1].resp);
	assert_int_equal(r.st.tcp_resync_bytes, a - 7);
	free(w.c.b);
}

static void test_tcp_close(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	handshake(&w);
	seg(&w, 0, 1001, 5001, ACK, s, a);
	seg(&w, 0, (uint32_t)(1001 + a), 5001, FIN | ACK, NULL, 0);
	seg(&w, 1, 5001, (uint32_t)(1002 + a), FIN | ACK, NULL, 0);
	/* after the close: a late retransmission is not a new stream */
	seg(&w, 0, 1001, 5001, ACK, s, a);
	/* a new connection on the same ports, reset with half a message */
	seg(&w, 0, 9000, 0, SYN, NULL, 0);
	seg(&w, 0, 9001, 0, ACK, s, a - 3);
	seg(&w, 1, 1, 9001, RST, NULL, 0);
	run(cap_write(&w.c, "tcp-close.pcap"), NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.st.tcp_retransmits, 1);
	assert_int_equal(r.st.tcp_flows, 2);
	assert_int_equal(r.st.tcp_incomplete, 1);
	free(w.c.b);
}

static void test_tcp_flow_limits(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t s[400], f[1000];
	size_t a = framed(s, 1, "one.test.", false, 0);
	cap_start(&c, 1, false);
	/* 50 connections, each with half a message, then the other halves */
	for (int pass = 0; pass < 2; pass++)
		for (uint16_t i = 0; i < 50; i++) {
			size_t off = pass ? 10 : 0, n = pass ? a - 10 : 10;
			size_t l = eth_tcp(f, 0, (uint16_t)(30000 + i), 100 + (uint32_t)off, 1, ACK,
					   s + off, n);
			cap_pkt(&c, 1, (uint32_t)(pass * 100 + i), f, l);
		}
	ds_decode_opts_t o = {.tcp_max_flows = 8};
	run(cap_write(&c, "tcp-many.pcap"), &o, &r);
	/* only the 8 youngest survive to see their second half */
	assert_int_equal(r.st.tcp_evicted, 50 + 42);
	assert_true(r.n <= 8);
	assert_int_equal(r.st.tcp_flows, 100);
	run(cap_write(&c, "tcp-many.pcap"), NULL, &r);
	assert_int_equal(r.n, 50);
	assert_int_equal(r.st.tcp_evicted, 0);
	free(c.b);
}

static void test_tcp_across_files(void **st)
{
	struct tcpw w = {0};
	struct res r;
	uint8_t s[4000];
	char p1[512], p2[512];
	size_t a = framed(s, 1, "one.test.", false, 0);
	handshake(&w);
	seg(&w, 0, 1001, 5001, ACK, s, 5);
	snprintf(p1, sizeof(p1), "%s", cap_write(&w.c, "rot1.pcap"));
	cap_start(&w.c, 1, true); /* the next file in ns */
	seg(&w, 0, 1006, 5001, ACK, s + 5, a - 5);
	snprintf(p2, sizeof(p2), "%s", cap_write(&w.c, "rot2.pcap"));
	const char *paths[] = {p1, p2};
	run_files(paths, 2, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.st.files, 2);
	assert_int_equal(r.ev[0].packet, 1);
	free(w.c.b);
}

/* ------------------------------------------------------------ pcapng */

static void ng_block(struct cap *c, uint32_t type, const struct cap *body)
{
	uint32_t len = (uint32_t)(12 + ((body->n + 3) & ~(size_t)3));
	put32le(c, type);
	put32le(c, len);
	put(c, body->b, body->n);
	static const uint8_t zero[4];
	put(c, zero, ((body->n + 3) & ~(size_t)3) - body->n);
	put32le(c, len);
}

static void test_pcapng_mixed_links(void **st)
{
	struct cap c = {0}, b = {0};
	struct res r;
	uint8_t ip4[1024], f[1200];
	size_t n4 = ip4_query(ip4);
	/* section header */
	b.n = 0;
	put32le(&b, 0x1A2B3C4D);
	put16le(&b, 1);
	put16le(&b, 0);
	put32le(&b, 0xffffffff);
	put32le(&b, 0xffffffff);
	ng_block(&c, 0x0A0D0D0A, &b);
	/* interface 0: Ethernet, microseconds; interface 1: raw IP, ns */
	b.n = 0;
	put16le(&b, 1);
	put16le(&b, 0);
	put32le(&b, 0);
	ng_block(&c, 1, &b);
	b.n = 0;
	put16le(&b, 101);
	put16le(&b, 0);
	put32le(&b, 1500);
	put16le(&b, 9); /* if_tsresol */
	put16le(&b, 1);
	uint8_t res[4] = {9, 0, 0, 0};
	put(&b, res, 4);
	put16le(&b, 0);
	put16le(&b, 0);
	ng_block(&c, 1, &b);
	const uint64_t t0 = 1700000000ULL * 1000000 + 5, t1 = 1700000000ULL * 1000000000 + 7;
	for (int i = 0; i < 2; i++) {
		size_t l = i ? n4 : eth(f, 0x0800, ip4, n4);
		uint64_t t = i ? t1 : t0;
		b.n = 0;
		put32le(&b, (uint32_t)i);
		put32le(&b, (uint32_t)(t >> 32));
		put32le(&b, (uint32_t)t);
		put32le(&b, (uint32_t)l);
		put32le(&b, (uint32_t)l);
		put(&b, i ? ip4 : f, l);
		ng_block(&c, 6, &b);
	}
	const char *p = cap_write(&c, "mixed.pcapng");
	run(p, NULL, &r);
	/* libpcap refuses the second interface; the fallback reads on */
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.n, 2);
	assert_true(r.ev[0].ts == 1700000000LL * 1000000000 + 5000);
	assert_true(r.ev[1].ts == 1700000000LL * 1000000000 + 7);
	assert_int_equal(r.ev[1].packet, 2);
	assert_int_equal(r.st.packets, 2);

	/* cut in the middle of the last block: an error naming the file */
	c.n -= 8;
	p = cap_write(&c, "mixed-cut.pcapng");
	run(p, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.errors, 1);
	assert_non_null(strstr(r.err, p));
	free(c.b);
	free(b.b);
}

/* ------------------------------------------------------------ real captures */

/*
 * DNS messages per capture as tshark 4.0 counts them (dns.flags.response
 * over every message, several per TCP segment), which is also
 * PROVENANCE.md's q/r column. tests/integration/replay_tshark.sh checks
 * the same live when tshark is installed.
 */
static const struct {
	const char *file;
	uint64_t q, r;
} real[] = {
	{"dnscap__dns.pcap", 41, 41},
	{"dnscap__dns6.pcap", 1, 1},
	{"dnscap__dnso1tcp-midmiss.pcap", 3, 3},
	{"dnscap__dnso1tcp.pcap", 41, 41},
	{"dnscap__dnsotcp-many1pkt.pcap", 3, 1},
	{"dnscap__dnsotcp-manyopkts.pcap", 3, 0},
	{"dnscap__edns.pcap", 7, 7},
	{"dnscap__frags.pcap", 41, 41},
	{"dnscap__sll2.pcap", 1, 1},
	{"dnscap__vlan11.pcap", 41, 41},
	{"zeek__dns-edns-ecs.pcap", 20, 65},
	{"zeek__dns-two-responses.pcap", 1, 2},
	{"zeek__dns_dns-corrupt.pcap", 1, 1},
	{"zeek__dns_long-connection.pcap", 11, 11},
	{"zeek__dns_max-compression-depth.pcap", 0, 1},
	{"zeek__pcapng-multi-interface.pcapng", 3, 3},
};

static void real_path(char *out, size_t n, const char *file)
{
	snprintf(out, n, "%s/pcaps/%s", DS_TEST_DATA, file);
}

static void test_real_captures(void **st)
{
	struct res r;
	char path[1024];
	for (size_t i = 0; i < DS_ARRAY_SIZE(real); i++) {
		real_path(path, sizeof(path), real[i].file);
		run(path, NULL, &r);
		if (r.st.queries != real[i].q || r.st.responses != real[i].r || r.errors)
			fail_msg("%s: %llu/%llu, tshark %llu/%llu", real[i].file,
				 (unsigned long long)r.st.queries,
				 (unsigned long long)r.st.responses,
				 (unsigned long long)real[i].q, (unsigned long long)real[i].r);
		assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 0);
		assert_int_equal(skipped(&r, DS_SKIP_TRUNCATED), 0);
	}
	real_path(path, sizeof(path), "dnscap__frags.pcap");
	run(path, NULL, &r);
	assert_int_equal(r.st.frag_reassembled, 82);
	assert_int_equal(r.st.frag_dropped, 0);
	real_path(path, sizeof(path), "dnscap__dnso1tcp-midmiss.pcap");
	run(path, NULL, &r);
	assert_int_equal(r.st.tcp_gaps, 2);
	real_path(path, sizeof(path), "dnscap__dnsotcp-manyopkts.pcap");
	run(path, NULL, &r);
	assert_int_equal(r.st.tcp_messages, 3);
	assert_int_equal(r.st.tcp_incomplete, 0);
	/* pcapng with a Linux (ns) and a Windows (us) interface */
	real_path(path, sizeof(path), "zeek__pcapng-multi-interface.pcapng");
	run(path, NULL, &r);
	assert_true(r.ev[0].ts == 1767663089500330493LL);
	assert_true(r.ev[5].ts == 1767663437140942000LL);
	real_path(path, sizeof(path), "dnscap__dns.pcap");
	run(path, NULL, &r);
	assert_int_equal(skipped(&r, DS_SKIP_UNSUPPORTED), 51); /* 41 ICMP, 10 ARP */
}

/* ------------------------------------------------------------ robustness */

/*
 * Inputs the mutation run found or that guard a bound: each was a crash,
 * a sanitizer report or a hang before its fix, or could have been.
 */
static void test_regressions(void **st)
{
	struct cap c = {0};
	struct res r;
	uint8_t s[70000], f[70000];
	/* a length prefix of 0 and of 65535 on a framed stream */
	struct tcpw w = {0};
	handshake(&w);
	memset(s, 0, 4);
	seg(&w, 0, 1001, 5001, ACK, s, 2);
	wr16(s, 65535);
	seg(&w, 0, 1003, 5001, ACK, s, 1000);
	run(cap_write(&w.c, "reg-len.pcap"), NULL, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 1);
	assert_int_equal(r.st.tcp_incomplete, 1);
	/* a segment 2 GB away in sequence space */
	handshake(&w);
	size_t a = framed(s, 1, "one.test.", false, 0);
	seg(&w, 0, 1001 + 0x7fff0000u, 5001, ACK, s, a);
	seg(&w, 0, 1001, 5001, ACK, s, a); /* now 2 GB behind: old */
	run(cap_write(&w.c, "reg-far.pcap"), NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.st.tcp_gaps, 1);
	assert_int_equal(r.st.tcp_retransmits, 1);
	/* hunting through 64 KiB of a stream that never has a boundary */
	cap_start(&w.c, 1, false);
	memset(s, 0xff, 60000);
	seg(&w, 0, 1, 1, ACK, s, 60000);
	seg(&w, 0, 60001, 1, ACK, s, 60000);
	run(cap_write(&w.c, "reg-hunt.pcap"), NULL, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.st.tcp_resync_bytes, 120000);
	/* overlapping IPv4 fragments and one ending past the 64 KiB limit */
	cap_start(&c, 1, false);
	uint8_t u[1600], ip[1700];
	memset(u, 0, sizeof(u));
	size_t l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 800, 5, 0x2000);
	cap_pkt(&c, 1, 0, f, eth(f, 0x0800, ip, l));
	l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 800, 5, 0x2000 | 50);
	cap_pkt(&c, 1, 1, f, eth(f, 0x0800, ip, l));
	l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 800, 5, 8190);
	cap_pkt(&c, 1, 2, f, eth(f, 0x0800, ip, l));
	l = ipv4(ip, "10.0.0.2", "10.0.0.1", 17, u, 100, 5, 100);
	cap_pkt(&c, 1, 3, f, eth(f, 0x0800, ip, l)); /* an end before the data held */
	run(cap_write(&c, "reg-frag.pcap"), NULL, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.st.frag_dropped, 1);
	assert_int_equal(skipped(&r, DS_SKIP_MALFORMED), 1);
	/* time stamps far outside any range */
	cap_start(&c, 1, false);
	size_t q = dns(s, 1, "a.", DS_TYPE_A, false, 0);
	cap_pkt(&c, 0xffffffff, 0xffffffff, f, eth_udp4(f, 1, 53, s, q));
	cap_pkt(&c, 0, 0, f, eth_udp4(f, 1, 53, s, q));
	run(cap_write(&c, "reg-time.pcap"), NULL, &r);
	assert_int_equal(r.n, 2);
	free(w.c.b);
	free(c.b);
}

/* Every prefix of a real capture, and byte flips: never crash. */
static void test_mutations(void **st)
{
	char path[1024];
	struct res r;
	struct cap c = {0};
	real_path(path, sizeof(path), "dnscap__dnso1tcp-midmiss.pcap");
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t buf[4096];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	uint32_t x = 12345;
	for (int i = 0; i < 300; i++) {
		c.n = 0;
		put(&c, buf, n);
		for (int k = 0; k < 8; k++) {
			x = x * 1103515245 + 12345;
			c.b[24 + (x >> 8) % (n - 24)] ^= (uint8_t)(1u << ((x >> 4) & 7));
		}
		if (i % 3 == 0)
			c.n = 24 + (x >> 3) % (n - 24);
		const char *p = cap_write(&c, "mut.pcap");
		ds_err_t err;
		ds_decode_t *d = ds_decode_open(&p, 1, NULL, &err);
		if (!d)
			continue;
		ds_decode_close(d);
		run(p, NULL, &r);
		assert_true(r.st.packets <= sizeof(buf) / 16);
	}
	free(c.b);
}

static int setup(void **st)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/ds_test_decode.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_basic),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_sll_sll2),
		cmocka_unit_test(test_raw_ip),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_unsupported_and_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_not_a_capture),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_fragment_limits),
		cmocka_unit_test(test_ipv6_fragments_ext),
		cmocka_unit_test(test_tcp_split_and_merged),
		cmocka_unit_test(test_tcp_reorder_and_retransmit),
		cmocka_unit_test(test_tcp_gap),
		cmocka_unit_test(test_tcp_gap_timeout_and_end),
		cmocka_unit_test(test_tcp_midstream),
		cmocka_unit_test(test_tcp_close),
		cmocka_unit_test(test_tcp_flow_limits),
		cmocka_unit_test(test_tcp_across_files),
		cmocka_unit_test(test_pcapng_mixed_links),
		cmocka_unit_test(test_real_captures),
		cmocka_unit_test(test_regressions),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
