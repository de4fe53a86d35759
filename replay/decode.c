/* SPDX-License-Identifier: MIT */
/*
 * Capture decoder: link layer -> IP (fragments reassembled) -> UDP / TCP
 * (streams reassembled) -> DNS messages, queued as events.
 *
 * One packet can complete several messages (a TCP segment holding many, a
 * hole skipped that releases buffered data), so messages are copied into
 * a queue and handed out one by one; the next packet is read only once
 * the queue is empty, which keeps the queue as small as one packet's worth.
 */
#include "replay/decode.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100 /* pre-802.1ad double tagging, still seen */
#define VLAN_MAX 8
#define LINKTYPE_RAW 101    /* libpcap maps it to DLT_RAW, but do not rely on it */
#define IPV6_CHAIN_MAX 16
#define IP_MAX 65535
#define FRAG_PIECES_MAX 512 /* 8-byte slivers would otherwise cost a header each */
#define TCP_BUF_MAX (4 * 65536)

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static const ds_decode_opts_t defaults = {
	.frag_max_datagrams = 4096,
	.frag_max_bytes = 16u << 20,
	.frag_timeout_ns = 30 * DS_NS_PER_SEC, /* Linux's ipfrag_time */
	.tcp_max_flows = 65536,
	.tcp_max_bytes = 64u << 20,
	.tcp_max_ooo = 256u << 10,
	.tcp_idle_ns = 120 * DS_NS_PER_SEC,
	/* Retransmission timeouts start at 200 ms to 1 s; a hole still open
	 * after several of them was lost by the capture, not the network. */
	.tcp_gap_timeout_ns = 5 * DS_NS_PER_SEC,
};

/* ------------------------------------------------------------ hash tables */

/* Intrusive node shared by the fragment and the TCP tables: a hash chain
 * plus a list in age order so the oldest entry is found in O(1). */
struct node {
	struct node *hnext;
	struct node *prev, *next;
	uint64_t hash;
};

struct table {
	struct node **b;
	size_t nb;
	size_t n;
	struct node age; /* sentinel: age.next is the oldest */
	size_t keyoff, keylen;
};

static uint64_t hash_key(const void *k, size_t n)
{
	const uint8_t *p = k;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static int table_init(struct table *t, size_t keyoff, size_t keylen)
{
	t->nb = 256;
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b)
		return DS_ENOMEM;
	t->n = 0;
	t->age.prev = t->age.next = &t->age;
	t->keyoff = keyoff;
	t->keylen = keylen;
	return DS_OK;
}

static struct node *table_find(struct table *t, const void *key, uint64_t h)
{
	for (struct node *e = t->b[h & (t->nb - 1)]; e; e = e->hnext)
		if (e->hash == h && !memcmp((const char *)e + t->keyoff, key, t->keylen))
			return e;
	return NULL;
}

static void table_grow(struct table *t)
{
	size_t nb = t->nb * 2;
	struct node **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nb; i++) {
		struct node *e = t->b[i], *nx;
		for (; e; e = nx) {
			nx = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void table_add(struct table *t, struct node *e, uint64_t h)
{
	if (t->n >= t->nb)
		table_grow(t);
	e->hash = h;
	e->hnext = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = e;
	e->prev = t->age.prev;
	e->next = &t->age;
	t->age.prev->next = e;
	t->age.prev = e;
	t->n++;
}

static void table_del(struct table *t, struct node *e)
{
	struct node **pp = &t->b[e->hash & (t->nb - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	t->n--;
}

/* Move to the young end: TCP flows age by last activity. */
static void table_touch(struct table *t, struct node *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = t->age.prev;
	e->next = &t->age;
	t->age.prev->next = e;
	t->age.prev = e;
}

static struct node *table_oldest(struct table *t)
{
	return t->age.next == &t->age ? NULL : t->age.next;
}

/* ------------------------------------------------------------ byte ranges */

/* A run of bytes waiting to be used: an IP fragment or a TCP segment. */
struct piece {
	struct piece *next;
	uint32_t at; /* fragment offset, or TCP sequence number */
	uint32_t len;
	int64_t ts;
	uint8_t data[];
};

/*
 * Insert [at, at+len) into a list sorted by position, keeping the bytes
 * already held where they overlap: a receiver that has the data ignores a
 * retransmission, so the first copy wins. Positions compare as (at - base)
 * so TCP sequence numbers may wrap; every piece must lie at or after base.
 * Adds the memory used to *mem and the pieces made to *count. Returns the
 * number of new bytes, or -1 when out of memory.
 */
static long piece_insert(struct piece **list, uint32_t base, uint32_t at, const uint8_t *data,
			 uint32_t len, int64_t ts, size_t *mem, size_t *count)
{
	uint32_t s0 = at - base, s = s0, e = s0 + len;
	long added = 0;
	struct piece **pp = list;
	while (*pp && (*pp)->at - base + (*pp)->len <= s)
		pp = &(*pp)->next;
	while (s < e) {
		struct piece *p = *pp;
		uint32_t ps = p ? p->at - base : e;
		if (p && ps <= s) {
			s = ps + p->len; /* > s: pieces ending before s were skipped */
			pp = &p->next;
			continue;
		}
		uint32_t stop = ps < e ? ps : e;
		struct piece *n = malloc(sizeof(*n) + (stop - s));
		if (!n)
			return -1;
		n->at = base + s;
		n->len = stop - s;
		n->ts = ts;
		memcpy(n->data, data + (s - s0), n->len);
		n->next = p;
		*pp = n;
		*mem += sizeof(*n) + n->len;
		(*count)++;
		added += n->len;
		pp = &n->next;
		s = stop;
	}
	return added;
}

static void pieces_free(struct piece *p)
{
	while (p) {
		struct piece *n = p->next;
		free(p);
		p = n;
	}
}

/* ------------------------------------------------------------ state */

/* Addresses of the packet being decoded. */
struct ipaddrs {
	int af;
	uint8_t src[16], dst[16];
};

struct frag_key {
	uint8_t af;
	uint8_t proto; /* IPv4 only: IPv6 fragments are matched without it (RFC 8200 4.5) */
	uint16_t pad;
	uint32_t id;
	uint8_t src[16], dst[16];
};

struct dgram {
	struct node node;
	struct frag_key key;
	int64_t first_ts;
	struct piece *pieces;
	size_t mem, count;
	uint32_t total; /* payload length, known once the last fragment is in */
	uint32_t have;  /* distinct bytes held */
	uint8_t proto;  /* from the fragment at offset 0 */
	bool first;
};

struct flow_key {
	uint8_t af;
	uint8_t pad;
	uint16_t port[2];
	uint8_t addr[2][16];
};

/* One direction of a TCP connection. */
struct half {
	bool seen;      /* some sequence number is known */
	bool syn;       /* the stream start was seen */
	bool resync;    /* message boundaries unknown: hunting for one */
	bool fin;
	bool have_ack;  /* peer_ack valid */
	uint32_t isn;
	uint32_t next;  /* next sequence number expected */
	uint32_t fin_seq;
	uint32_t peer_ack; /* highest ACK the other side sent for this direction */
	uint32_t discard;  /* bytes still to drop: the rest of a message a hole cut */
	uint8_t *buf;      /* in-order bytes not framed yet; starts on a boundary unless resync */
	uint32_t len, cap;
	struct piece *ooo; /* segments beyond a hole */
	size_t ooo_mem, ooo_count;
	int64_t ts;        /* capture time of the newest in-order data */
	int64_t gap_since; /* capture time the first segment beyond a hole arrived */
};

struct flow {
	struct node node;
	struct flow_key key;
	bool closed; /* kept only so late retransmissions are not taken for a new stream */
	int64_t last_ts;
	struct half h[2];
};

struct qent {
	ds_decode_event_t ev;
	size_t off;
};

struct ds_decode {
	char **paths;
	size_t npaths;
	size_t next_file;
	ds_decode_opts_t o;
	uint8_t ports[65536 / 8];

	pcap_t *pc;
	struct ngreader *ng; /* instead of pc once libpcap gave up on a pcapng file */
	const char *file; /* file of the packet being decoded */
	int dlt;
	uint64_t pkt_no;
	bool done;
	bool nomem;

	int64_t ts;  /* of the packet being decoded */
	int64_t now; /* newest capture time seen: timeouts never run backwards */
	bool cut;    /* packet shorter than on the wire */

	ds_decode_stats_t st;

	struct qent *q;
	size_t qn, qcap, qhead;
	uint8_t *arena;
	size_t alen, acap;
	ds_decode_event_t cur;

	struct table frags;
	size_t frag_mem;
	struct table flows;
	size_t tcp_mem;

	uint8_t rbuf[IP_MAX];
};

static int ipv4(ds_decode_t *d, const uint8_t *p, size_t n);
static int ipv6(ds_decode_t *d, const uint8_t *p, size_t n);
static int ipv6_chain(ds_decode_t *d, const struct ipaddrs *ip, uint8_t nh, const uint8_t *p,
		       size_t n, bool reassembled);

/*
 * The layers return DONE when the packet was used (or held, or counted
 * elsewhere), else the enum ds_decode_skip reason packet() counts it under.
 */
#define DONE (-1)

static void skip(ds_decode_t *d, int reason)
{
	d->st.skipped[reason]++;
}

/* A header does not fit: the capture's fault if it cut the packet. */
static int short_reason(const ds_decode_t *d)
{
	return d->cut ? DS_SKIP_TRUNCATED : DS_SKIP_MALFORMED;
}

static bool dns_port(const ds_decode_t *d, uint16_t port)
{
	return d->ports[port >> 3] & (1u << (port & 7));
}

static void mkaddr(ds_sockaddr_t *a, int af, const uint8_t *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (af == AF_INET) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons(port);
		memcpy(&a->in4.sin_addr, ip, 4);
	} else {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port);
		memcpy(&a->in6.sin6_addr, ip, 16);
	}
}

/* ------------------------------------------------------------ events */

static void enqueue(ds_decode_t *d, const ds_msg_t *m, const uint8_t *p, size_t len, int af,
		    const uint8_t *src, uint16_t sport, const uint8_t *dst, uint16_t dport,
		    uint8_t transport, int64_t ts)
{
	if (d->qn == d->qcap) {
		size_t nc = d->qcap ? d->qcap * 2 : 16;
		struct qent *q = realloc(d->q, nc * sizeof(*q));
		if (!q)
			goto nomem;
		d->q = q;
		d->qcap = nc;
	}
	if (d->alen + len > d->acap) {
		size_t nc = d->acap ? d->acap * 2 : 65536;
		while (nc < d->alen + len)
			nc *= 2;
		uint8_t *a = realloc(d->arena, nc);
		if (!a)
			goto nomem;
		d->arena = a;
		d->acap = nc;
	}
	struct qent *e = &d->q[d->qn++];
	memcpy(d->arena + d->alen, p, len);
	e->off = d->alen;
	d->alen += len;
	ds_decode_event_t *ev = &e->ev;
	ev->ts_ns = ts;
	mkaddr(&ev->src, af, src, sport);
	mkaddr(&ev->dst, af, dst, dport);
	ev->transport = transport;
	ev->response = (m->flags & DS_FLAG_QR) != 0;
	ev->id = m->id;
	ev->qtype = m->qtype;
	ev->qclass = m->qclass;
	ev->dns = NULL; /* set on delivery: the arena may move until then */
	ev->dns_len = len;
	ev->msg = *m;
	ev->file = d->file;
	ev->packet = d->pkt_no;

	d->st.messages++;
	if (ev->response)
		d->st.responses++;
	else
		d->st.queries++;
	if (transport == DS_DECODE_TCP)
		d->st.tcp_messages++;
	else
		d->st.udp_messages++;
	if (!d->st.first_ts_ns || ts < d->st.first_ts_ns)
		d->st.first_ts_ns = ts;
	if (ts > d->st.last_ts_ns)
		d->st.last_ts_ns = ts;
	return;
nomem:
	d->nomem = true;
}

/* ------------------------------------------------------------ UDP */

static int udp(ds_decode_t *d, const struct ipaddrs *ip, const uint8_t *p, size_t n)
{
	if (n < 8)
		return short_reason(d);
	uint16_t sport = ds_rd16(p), dport = ds_rd16(p + 2), ulen = ds_rd16(p + 4);
	if (ulen < 8)
		return DS_SKIP_MALFORMED;
	if (ulen > n)
		return short_reason(d);
	if (!dns_port(d, sport) && !dns_port(d, dport))
		return DS_SKIP_NOT_DNS;
	ds_msg_t m;
	if (ds_msg_parse(&m, p + 8, ulen - 8u, true) < 0)
		return DS_SKIP_MALFORMED;
	enqueue(d, &m, p + 8, ulen - 8u, ip->af, ip->src, sport, ip->dst, dport, DS_DECODE_UDP,
		d->ts);
	return DONE;
}

/* ------------------------------------------------------------ TCP */

static void flow_mem(ds_decode_t *d, ptrdiff_t delta)
{
	d->tcp_mem = (size_t)((ptrdiff_t)d->tcp_mem + delta);
}

static void tcp_emit_msg(ds_decode_t *d, struct flow *f, int dir, const ds_msg_t *m,
			 const uint8_t *p, size_t len)
{
	const struct flow_key *k = &f->key;
	enqueue(d, m, p, len, k->af, k->addr[dir], k->port[dir], k->addr[!dir], k->port[!dir],
		DS_DECODE_TCP, f->h[dir].ts);
}

/*
 * Cheap test that a length prefix and header could start a DNS message,
 * so that hunting for a boundary mid-stream parses few candidates. Only
 * messages with one question qualify: that is every query, and every
 * response worth replaying against.
 */
static bool plausible(const uint8_t *h, size_t len)
{
	if (len < DS_HDR_LEN + 5)
		return false;
	unsigned op = DS_OPCODE(ds_rd16(h + 2));
	if (op == 3 || op > 6)
		return false;
	if (ds_rd16(h + 4) != 1)
		return false;
	size_t rrs = (size_t)ds_rd16(h + 6) + ds_rd16(h + 8) + ds_rd16(h + 10);
	return DS_HDR_LEN + 5 + rrs * 11 <= len;
}

/* First offset from `from` where a whole message parses, or n. */
static size_t next_whole(const uint8_t *p, size_t from, size_t n)
{
	ds_msg_t m;
	for (size_t i = from; i + 2 + DS_HDR_LEN <= n; i++) {
		size_t len = ds_rd16(p + i);
		if (plausible(p + i + 2, len) && i + 2 + len <= n &&
		    ds_msg_parse(&m, p + i + 2, len, false) == DS_OK)
			return i;
	}
	return n;
}

/*
 * Cut p[0..n) of direction dir into messages. Returns how many bytes were
 * used; the rest is an incomplete message (or candidate) to keep. With
 * final nothing more will come, so everything is used up.
 */
static size_t frame(ds_decode_t *d, struct flow *f, int dir, const uint8_t *p, size_t n,
		    bool final)
{
	struct half *h = &f->h[dir];
	size_t off = 0;
	ds_msg_t m;
	for (;;) {
		size_t avail = n - off;
		if (!h->resync) {
			if (avail < 2)
				break;
			size_t len = ds_rd16(p + off);
			if (avail < 2 + len)
				break;
			if (ds_msg_parse(&m, p + off + 2, len, true) < 0)
				skip(d, DS_SKIP_MALFORMED);
			else
				tcp_emit_msg(d, f, dir, &m, p + off + 2, len);
			off += 2 + len;
			continue;
		}
		if (avail < 2 + DS_HDR_LEN) {
			if (final) {
				d->st.tcp_resync_bytes += avail;
				off = n;
			}
			break;
		}
		size_t len = ds_rd16(p + off);
		if (plausible(p + off + 2, len)) {
			if (avail < 2 + len) {
				/* Any two bytes can claim more than has come; a whole
				 * message parsing further on is stronger evidence. */
				size_t alt = final ? n : next_whole(p, off + 1, n);
				if (alt < n) {
					d->st.tcp_resync_bytes += alt - off;
					off = alt;
					continue;
				}
				if (!final)
					break; /* wait for the rest before judging */
			} else if (ds_msg_parse(&m, p + off + 2, len, false) == DS_OK) {
				tcp_emit_msg(d, f, dir, &m, p + off + 2, len);
				h->resync = false;
				off += 2 + len;
				continue;
			}
		}
		off++;
		d->st.tcp_resync_bytes++;
	}
	if (final && off < n) {
		d->st.tcp_incomplete++;
		off = n;
	}
	return off;
}

static void half_drop_buf(ds_decode_t *d, struct half *h)
{
	flow_mem(d, -(ptrdiff_t)h->cap);
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
}

/* Bytes that follow the stream without a hole: frame them, keep the tail. */
static void append(ds_decode_t *d, struct flow *f, int dir, const uint8_t *p, size_t n, int64_t ts)
{
	struct half *h = &f->h[dir];
	h->next += (uint32_t)n;
	h->ts = ts;
	if (h->discard) {
		size_t k = DS_MIN((size_t)h->discard, n);
		h->discard -= (uint32_t)k;
		p += k;
		n -= k;
	}
	if (!n)
		return;
	if (!h->len) {
		/* Common case: whole messages in one segment, framed in place. */
		size_t used = frame(d, f, dir, p, n, false);
		p += used;
		n -= used;
		if (!n)
			return;
	}
	if ((size_t)h->len + n > TCP_BUF_MAX) {
		/* Cannot happen while framing keeps up; a stream this wrong
		 * is better hunted through again than held. */
		d->st.tcp_resync_bytes += h->len;
		h->len = 0;
		h->resync = true;
	}
	if ((size_t)h->len + n > h->cap) {
		size_t nc = h->cap ? h->cap : 1024;
		while (nc < h->len + n)
			nc *= 2;
		uint8_t *b = realloc(h->buf, nc);
		if (!b) {
			d->nomem = true;
			return;
		}
		flow_mem(d, (ptrdiff_t)nc - (ptrdiff_t)h->cap);
		h->buf = b;
		h->cap = (uint32_t)nc;
	}
	memcpy(h->buf + h->len, p, n);
	h->len += (uint32_t)n;
	size_t used = frame(d, f, dir, h->buf, h->len, false);
	memmove(h->buf, h->buf + used, h->len - used);
	h->len -= (uint32_t)used;
	if (!h->len)
		half_drop_buf(d, h); /* idle connections hold no buffers */
}

/* Move segments that now follow the stream out of the waiting list. */
static void pull(ds_decode_t *d, struct flow *f, int dir)
{
	struct half *h = &f->h[dir];
	struct piece *s;
	while ((s = h->ooo) && (int32_t)(s->at - h->next) <= 0) {
		h->ooo = s->next;
		h->ooo_mem -= sizeof(*s) + s->len;
		h->ooo_count--;
		flow_mem(d, -(ptrdiff_t)(sizeof(*s) + s->len));
		uint32_t over = h->next - s->at;
		if (over < s->len)
			append(d, f, dir, s->data + over, s->len - over, s->ts);
		free(s);
	}
	if (!h->ooo)
		h->gap_since = 0;
}

/*
 * Give up on the bytes from next up to seq `to`. When the message the hole
 * cut into has a known length that ends at or beyond the hole, the next
 * boundary is known and the stream stays framed; otherwise boundaries are
 * hunted for again.
 */
static void hole_skip(ds_decode_t *d, struct flow *f, int dir, uint32_t to)
{
	struct half *h = &f->h[dir];
	d->st.tcp_gaps++;
	d->st.tcp_gap_bytes += to - h->next;
	bool framed = false;
	uint32_t discard = 0;
	if (!h->resync) {
		bool known = false;
		uint32_t end = 0;
		if (h->discard) {
			end = h->next + h->discard;
			known = true;
		} else if (h->len >= 2) {
			end = h->next - h->len + 2 + ds_rd16(h->buf);
			known = true;
		}
		if (known && (int32_t)(end - to) >= 0) {
			framed = true;
			discard = end - to;
		}
		if (h->len || h->discard)
			d->st.tcp_incomplete++;
	} else {
		d->st.tcp_resync_bytes += h->len;
	}
	h->len = 0;
	half_drop_buf(d, h);
	h->discard = discard;
	h->resync = !framed;
	h->next = to;
	pull(d, f, dir);
}

/* Give up on the hole before the first waiting segment. */
static void gap_skip(ds_decode_t *d, struct flow *f, int dir)
{
	if (f->h[dir].ooo)
		hole_skip(d, f, dir, f->h[dir].ooo->at);
}

/* Nothing more will come for this direction: use what is there. */
static void half_flush(ds_decode_t *d, struct flow *f, int dir)
{
	struct half *h = &f->h[dir];
	while (h->ooo)
		gap_skip(d, f, dir);
	if (h->len)
		frame(d, f, dir, h->buf, h->len, true);
	else if (h->discard && !h->resync)
		d->st.tcp_incomplete++;
	h->discard = 0;
	half_drop_buf(d, h);
}

static void half_reset(ds_decode_t *d, struct half *h)
{
	pieces_free(h->ooo);
	flow_mem(d, -(ptrdiff_t)h->ooo_mem);
	half_drop_buf(d, h);
	memset(h, 0, sizeof(*h));
}

static void flow_close(ds_decode_t *d, struct flow *f)
{
	half_flush(d, f, 0);
	half_flush(d, f, 1);
	half_reset(d, &f->h[0]);
	half_reset(d, &f->h[1]);
	f->closed = true;
}

static void flow_free(ds_decode_t *d, struct flow *f, bool evicted)
{
	if (!f->closed) {
		if (evicted)
			d->st.tcp_evicted++;
		flow_close(d, f);
	}
	table_del(&d->flows, &f->node);
	flow_mem(d, -(ptrdiff_t)sizeof(*f));
	free(f);
}

/* Bytes of direction dir at seq. */
static void half_data(ds_decode_t *d, struct flow *f, int dir, uint32_t seq, const uint8_t *p,
		      size_t n, int64_t ts)
{
	struct half *h = &f->h[dir];
	if (!h->seen) {
		/* Joined mid-connection: where messages start is unknown. */
		h->seen = true;
		h->next = seq;
		h->resync = true;
	}
	int32_t rel = (int32_t)(seq - h->next);
	if (rel <= 0) {
		uint32_t old = (uint32_t)0 - (uint32_t)rel;
		if (old >= n) {
			d->st.tcp_retransmits++;
			return;
		}
		append(d, f, dir, p + old, n - old, ts);
		pull(d, f, dir);
		return;
	}
	if ((size_t)rel > d->o.tcp_max_ooo) {
		/* Far beyond anything waiting: what is missing is not coming. */
		while (h->ooo)
			gap_skip(d, f, dir);
		if ((int32_t)(seq - h->next) > 0)
			hole_skip(d, f, dir, seq);
		half_data(d, f, dir, seq, p, n, ts);
		return;
	}
	bool was_empty = !h->ooo;
	size_t mem0 = h->ooo_mem;
	long added = piece_insert(&h->ooo, h->next, seq, p, (uint32_t)n, ts, &h->ooo_mem,
				  &h->ooo_count);
	flow_mem(d, (ptrdiff_t)h->ooo_mem - (ptrdiff_t)mem0);
	if (added < 0)
		d->nomem = true;
	else if (added == 0)
		d->st.tcp_retransmits++;
	if (was_empty && h->ooo)
		h->gap_since = d->now;
	/* The receiver already acknowledged past the hole: it got the
	 * bytes, the capture did not, and nobody will send them again. */
	if (h->ooo && h->have_ack && (int32_t)(h->peer_ack - h->ooo->at) >= 0)
		gap_skip(d, f, dir);
	while (h->ooo && (h->ooo_mem > d->o.tcp_max_ooo || h->ooo_count > 1024))
		gap_skip(d, f, dir);
}

static void flow_key_make(struct flow_key *k, int *dir, const struct ipaddrs *ip, uint16_t sport,
			  uint16_t dport)
{
	size_t alen = ip->af == AF_INET ? 4 : 16;
	memset(k, 0, sizeof(*k));
	k->af = (uint8_t)ip->af;
	int c = memcmp(ip->src, ip->dst, alen);
	if (!c)
		c = (int)sport - (int)dport;
	*dir = c <= 0 ? 0 : 1;
	memcpy(k->addr[*dir], ip->src, alen);
	memcpy(k->addr[!*dir], ip->dst, alen);
	k->port[*dir] = sport;
	k->port[!*dir] = dport;
}

static void tcp_limits(ds_decode_t *d)
{
	struct node *o;
	while ((d->flows.n >= d->o.tcp_max_flows || d->tcp_mem > d->o.tcp_max_bytes) &&
	       (o = table_oldest(&d->flows)))
		flow_free(d, (struct flow *)o, true);
}

static void tcp_segment(ds_decode_t *d, const struct ipaddrs *ip, uint16_t sport, uint16_t dport,
			uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *p, size_t n)
{
	struct flow_key k;
	int dir;
	flow_key_make(&k, &dir, ip, sport, dport);
	uint64_t hk = hash_key(&k, sizeof(k));
	struct flow *f = (struct flow *)table_find(&d->flows, &k, hk);
	if (!f) {
		if (!n && !(flags & TH_SYN))
			return; /* bare ACK/FIN/RST of a connection never seen: nothing to follow */
		tcp_limits(d);
		f = calloc(1, sizeof(*f));
		if (!f) {
			d->nomem = true;
			return;
		}
		f->key = k;
		table_add(&d->flows, &f->node, hk);
		flow_mem(d, sizeof(*f));
		d->st.tcp_flows++;
	} else {
		table_touch(&d->flows, &f->node);
	}
	f->last_ts = d->now;
	struct half *h = &f->h[dir], *r = &f->h[!dir];
	if (flags & TH_SYN) {
		if (f->closed || (h->syn && h->isn != seq) || (!h->syn && h->seen)) {
			/* A new connection on the same addresses and ports. */
			if (!f->closed)
				flow_close(d, f);
			half_reset(d, &f->h[0]);
			half_reset(d, &f->h[1]);
			f->closed = false;
			d->st.tcp_flows++;
		}
		if (!h->syn) {
			h->syn = h->seen = true;
			h->isn = seq;
			h->next = seq + 1;
			h->resync = false;
		}
		seq++; /* data on a SYN (TCP Fast Open) follows it */
	}
	if (f->closed) {
		if (n)
			d->st.tcp_retransmits++;
		return;
	}
	if (flags & TH_RST) {
		flow_close(d, f);
		return;
	}
	if (n)
		half_data(d, f, dir, seq, p, n, d->ts);
	if ((flags & TH_FIN) && !h->fin) {
		h->fin = true;
		h->fin_seq = seq + (uint32_t)n;
	}
	if (flags & TH_ACK) {
		if (!r->have_ack || (int32_t)(ack - r->peer_ack) > 0)
			r->peer_ack = ack;
		r->have_ack = true;
		if (r->ooo && (int32_t)(ack - r->ooo->at) >= 0)
			gap_skip(d, f, !dir);
	}
	if (h->ooo && d->now - h->gap_since > d->o.tcp_gap_timeout_ns)
		gap_skip(d, f, dir);
	bool done[2];
	for (int i = 0; i < 2; i++) {
		struct half *x = &f->h[i];
		done[i] = x->fin && (!x->seen || (!x->ooo && x->next == x->fin_seq));
	}
	if (done[0] && done[1])
		flow_close(d, f);
	/* Keep all connections within the memory bound; f is the youngest. */
	struct node *o;
	while (d->tcp_mem > d->o.tcp_max_bytes && (o = table_oldest(&d->flows)) && o != &f->node)
		flow_free(d, (struct flow *)o, true);
}

static int tcp(ds_decode_t *d, const struct ipaddrs *ip, const uint8_t *p, size_t n)
{
	if (n < 20)
		return short_reason(d);
	size_t doff = (size_t)(p[12] >> 4) * 4;
	if (doff < 20)
		return DS_SKIP_MALFORMED;
	if (doff > n)
		return short_reason(d);
	uint16_t sport = ds_rd16(p), dport = ds_rd16(p + 2);
	if (!dns_port(d, sport) && !dns_port(d, dport))
		return DS_SKIP_NOT_DNS;
	d->st.tcp_segments++;
	tcp_segment(d, ip, sport, dport, ds_rd32(p + 4), ds_rd32(p + 8), p[13], p + doff, n - doff);
	return DONE;
}

static int transport(ds_decode_t *d, const struct ipaddrs *ip, uint8_t proto, const uint8_t *p,
		      size_t n)
{
	if (proto == IPPROTO_UDP)
		return udp(d, ip, p, n);
	if (proto == IPPROTO_TCP)
		return tcp(d, ip, p, n);
	return DS_SKIP_UNSUPPORTED;
}

/* ------------------------------------------------------------ fragments */

static void dgram_free(ds_decode_t *d, struct dgram *g, bool dropped)
{
	if (dropped)
		d->st.frag_dropped++;
	table_del(&d->frags, &g->node);
	d->frag_mem -= sizeof(*g) + g->mem;
	pieces_free(g->pieces);
	free(g);
}

/* The datagram cannot be completed; the fragment itself was counted. */
static int dgram_drop(ds_decode_t *d, struct dgram *g)
{
	dgram_free(d, g, true);
	return DONE;
}

static int frag_add(ds_decode_t *d, const struct ipaddrs *ip, uint8_t proto, uint32_t id,
		     uint32_t off, bool more, const uint8_t *p, size_t n)
{
	d->st.frag_packets++;
	/* Every fragment but the last carries a multiple of 8 bytes. */
	if ((more && (n == 0 || n % 8)) || off + n > IP_MAX)
		return DS_SKIP_MALFORMED;
	/* Do not hold bytes that could never become DNS. IPv6 may put
	 * destination options or AH in front of the transport header. */
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP &&
	    !(ip->af == AF_INET6 && (proto == IPPROTO_DSTOPTS || proto == IPPROTO_AH)))
		return DS_SKIP_UNSUPPORTED;
	struct frag_key k;
	memset(&k, 0, sizeof(k));
	k.af = (uint8_t)ip->af;
	k.proto = ip->af == AF_INET ? proto : 0;
	k.id = id;
	memcpy(k.src, ip->src, sizeof(k.src));
	memcpy(k.dst, ip->dst, sizeof(k.dst));
	uint64_t hk = hash_key(&k, sizeof(k));
	struct dgram *g = (struct dgram *)table_find(&d->frags, &k, hk);
	if (!g) {
		struct node *o;
		while ((d->frags.n >= d->o.frag_max_datagrams ||
			d->frag_mem > d->o.frag_max_bytes) &&
		       (o = table_oldest(&d->frags)))
			dgram_free(d, (struct dgram *)o, true);
		g = calloc(1, sizeof(*g));
		if (!g) {
			d->nomem = true;
			return DONE;
		}
		g->key = k;
		g->first_ts = d->now; /* timeouts run on `now`, which never goes back */
		table_add(&d->frags, &g->node, hk);
		d->frag_mem += sizeof(*g);
	}
	uint32_t end = off + (uint32_t)n;
	if (!more) {
		if (g->total && g->total != end)
			return dgram_drop(d, g); /* two different ends */
		g->total = end;
	}
	if (g->total && end > g->total)
		return dgram_drop(d, g);
	if (g->total && g->pieces) {
		struct piece *last = g->pieces;
		while (last->next)
			last = last->next;
		if (last->at + last->len > g->total)
			return dgram_drop(d, g);
	}
	size_t mem0 = g->mem;
	long added = piece_insert(&g->pieces, 0, off, p, (uint32_t)n, d->ts, &g->mem, &g->count);
	d->frag_mem += g->mem - mem0;
	if (added < 0) {
		d->nomem = true;
		return dgram_drop(d, g);
	}
	g->have += (uint32_t)added;
	if (off == 0) {
		g->proto = proto;
		g->first = true;
	}
	if (g->count > FRAG_PIECES_MAX)
		return dgram_drop(d, g);
	if (!g->total || g->have != g->total || !g->first)
		return DONE;
	/* Complete: pieces are sorted, disjoint and cover [0, total). */
	size_t len = 0;
	for (struct piece *x = g->pieces; x; x = x->next) {
		memcpy(d->rbuf + len, x->data, x->len);
		len += x->len;
	}
	uint8_t nh = g->proto;
	dgram_free(d, g, false);
	d->st.frag_reassembled++;
	if (ip->af == AF_INET)
		return transport(d, ip, nh, d->rbuf, len);
	return ipv6_chain(d, ip, nh, d->rbuf, len, true);
}

/* ------------------------------------------------------------ IP */

static int ipv4(ds_decode_t *d, const uint8_t *p, size_t n)
{
	if (n < 20)
		return short_reason(d);
	if ((p[0] >> 4) != 4)
		return DS_SKIP_MALFORMED;
	size_t ihl = (size_t)(p[0] & 0xf) * 4;
	size_t tot = ds_rd16(p + 2);
	if (tot == 0)
		tot = n; /* segmentation offload: the NIC fills the length in */
	if (ihl < 20 || tot < ihl)
		return DS_SKIP_MALFORMED;
	if (tot > n)
		return short_reason(d);
	struct ipaddrs ip = {.af = AF_INET};
	memcpy(ip.src, p + 12, 4);
	memcpy(ip.dst, p + 16, 4);
	uint16_t fo = ds_rd16(p + 6);
	uint32_t off = (uint32_t)(fo & 0x1fff) * 8;
	bool more = (fo & 0x2000) != 0;
	if (off || more)
		return frag_add(d, &ip, p[9], ds_rd16(p + 4), off, more, p + ihl, tot - ihl);
	return transport(d, &ip, p[9], p + ihl, tot - ihl);
}

static int ipv6_chain(ds_decode_t *d, const struct ipaddrs *ip, uint8_t nh, const uint8_t *p,
		       size_t n, bool reassembled)
{
	for (int i = 0; i < IPV6_CHAIN_MAX; i++) {
		size_t hl;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			if (n < 8)
				return short_reason(d);
			hl = ((size_t)p[1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if (n < 8)
				return short_reason(d);
			hl = ((size_t)p[1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			if (n < 8)
				return short_reason(d);
			if (reassembled)
				return DS_SKIP_MALFORMED;
			uint16_t fo = ds_rd16(p + 2);
			uint32_t off = fo & 0xfff8;
			bool more = fo & 1;
			uint32_t id = ds_rd32(p + 4);
			nh = p[0];
			p += 8;
			n -= 8;
			if (!off && !more)
				continue; /* atomic fragment (RFC 6946): nothing to wait for */
			return frag_add(d, ip, nh, id, off, more, p, n);
		}
		default:
			return transport(d, ip, nh, p, n);
		}
		if (hl > n)
			return short_reason(d);
		nh = p[0];
		p += hl;
		n -= hl;
	}
	return DS_SKIP_MALFORMED; /* more headers than any real packet has */
}

static int ipv6(ds_decode_t *d, const uint8_t *p, size_t n)
{
	if (n < 40)
		return short_reason(d);
	if ((p[0] >> 4) != 6)
		return DS_SKIP_MALFORMED;
	size_t plen = ds_rd16(p + 4);
	if (plen == 0)
		plen = n - 40; /* segmentation offload (a jumbogram would fail below) */
	if (40 + plen > n)
		return short_reason(d);
	struct ipaddrs ip = {.af = AF_INET6};
	memcpy(ip.src, p + 8, 16);
	memcpy(ip.dst, p + 24, 16);
	return ipv6_chain(d, &ip, p[6], p + 40, plen, false);
}

/* ------------------------------------------------------------ link layer */

static int ethertype(ds_decode_t *d, uint16_t type, const uint8_t *p, size_t n)
{
	for (int tags = 0; type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD; tags++) {
		if (tags == VLAN_MAX)
			return DS_SKIP_UNSUPPORTED;
		if (n < 4)
			return short_reason(d);
		type = ds_rd16(p + 2);
		p += 4;
		n -= 4;
	}
	if (type == ETH_IPV4)
		return ipv4(d, p, n);
	if (type == ETH_IPV6)
		return ipv6(d, p, n);
	return DS_SKIP_UNSUPPORTED;
}

static int rawip(ds_decode_t *d, const uint8_t *p, size_t n)
{
	if (n < 1)
		return short_reason(d);
	if ((p[0] >> 4) == 4)
		return ipv4(d, p, n);
	if ((p[0] >> 4) == 6)
		return ipv6(d, p, n);
	return DS_SKIP_MALFORMED;
}

/*
 * BSD loopback: a 4-byte address family, in the capturing host's byte
 * order for NULL and big-endian for LOOP; files travel, so take either.
 * IPv6's value differs between the BSDs (24, 28, 30) and Linux (10).
 */
static int loopback(ds_decode_t *d, const uint8_t *p, size_t n)
{
	if (n < 4)
		return short_reason(d);
	uint32_t be = ds_rd32(p);
	uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		      (uint32_t)p[3] << 24;
	uint32_t af = le < 256 ? le : be;
	if (af == 2)
		return ipv4(d, p + 4, n - 4);
	if (af == 10 || af == 24 || af == 28 || af == 30)
		return ipv6(d, p + 4, n - 4);
	return DS_SKIP_UNSUPPORTED;
}

static int link_layer(ds_decode_t *d, const uint8_t *p, size_t n)
{
	switch (d->dlt) {
	case DLT_EN10MB:
		if (n < 14)
			return short_reason(d);
		return ethertype(d, ds_rd16(p + 12), p + 14, n - 14);
	case DLT_LINUX_SLL:
		if (n < 16)
			return short_reason(d);
		return ethertype(d, ds_rd16(p + 14), p + 16, n - 16);
	case DLT_LINUX_SLL2:
		if (n < 20)
			return short_reason(d);
		return ethertype(d, ds_rd16(p), p + 20, n - 20);
	case DLT_RAW:
#if DLT_RAW != LINKTYPE_RAW
	case LINKTYPE_RAW:
#endif
		return rawip(d, p, n);
	case DLT_IPV4:
		return ipv4(d, p, n);
	case DLT_IPV6:
		return ipv6(d, p, n);
	case DLT_NULL:
	case DLT_LOOP:
		return loopback(d, p, n);
	default:
		return DS_SKIP_UNSUPPORTED;
	}
}

/* ------------------------------------------------------------ driving */

/* Capture-time timeouts: the oldest entries are at the front. */
static void expire(ds_decode_t *d)
{
	struct node *o;
	while ((o = table_oldest(&d->frags)) &&
	       d->now - ((struct dgram *)o)->first_ts > d->o.frag_timeout_ns)
		dgram_free(d, (struct dgram *)o, true);
	while ((o = table_oldest(&d->flows)) &&
	       d->now - ((struct flow *)o)->last_ts > d->o.tcp_idle_ns)
		flow_free(d, (struct flow *)o, false);
}

/* Corrupt files can hold any time: keep later arithmetic in range. */
#define TS_MAX ((int64_t)(INT64_MAX / DS_NS_PER_SEC - 5) * DS_NS_PER_SEC)

static int64_t ts_ns(const struct pcap_pkthdr *h)
{
	int64_t s = h->ts.tv_sec, ns = h->ts.tv_usec;
	if (s < 0)
		s = 0;
	if (s > INT64_MAX / DS_NS_PER_SEC - 5)
		s = INT64_MAX / DS_NS_PER_SEC - 5;
	if (ns < 0)
		ns = 0;
	return s * DS_NS_PER_SEC + ns;
}

static void packet(ds_decode_t *d, int64_t ts, uint32_t caplen, uint32_t len, const uint8_t *p)
{
	d->pkt_no++;
	d->st.packets++;
	d->st.bytes += len;
	d->ts = ts;
	if (d->ts > d->now)
		d->now = d->ts;
	d->cut = caplen < len;
	expire(d);
	int why = link_layer(d, p, caplen);
	if (why != DONE)
		skip(d, why);
}

/* ------------------------------------------------------------ pcapng fallback */

/*
 * libpcap 1.10 stops at a pcapng interface whose link type or snapshot
 * length differs from the first one's, which is what merged captures
 * (several interfaces, or `any` next to a VLAN) look like. For those this
 * small reader takes over where libpcap stopped, with each packet's link
 * type and time resolution taken from its own interface.
 */
#define NG_SHB 0x0A0D0D0Au
#define NG_BOM 0x1A2B3C4Du
#define NG_IDB 1u
#define NG_PB 2u /* obsolete Packet Block, still written by old tools */
#define NG_SPB 3u
#define NG_EPB 6u
#define NG_BLOCK_MAX (16u << 20) /* libpcap's own bound */
#define NG_IFACES_MAX 4096

struct ng_iface {
	int dlt;
	uint32_t snaplen;
	bool pow2;     /* resolution 2^-res, else 10^-res seconds */
	uint8_t res;
	int64_t offset; /* seconds added to every time stamp */
};

struct ngreader {
	FILE *f;
	bool swap;
	bool section;
	struct ng_iface *ifs;
	size_t nifs;
	uint8_t *buf;
	size_t cap;
	char err[160];
};

static uint32_t ng32(const struct ngreader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return r->swap ? __builtin_bswap32(v) : v;
}

static uint16_t ng16(const struct ngreader *r, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return r->swap ? __builtin_bswap16(v) : v;
}

static void ng_close(struct ngreader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->ifs);
	free(r->buf);
	free(r);
}

static int ng_fail(struct ngreader *r, const char *why)
{
	snprintf(r->err, sizeof(r->err), "%s", why);
	return -1;
}

/* Read n bytes into the block buffer at off. */
static int ng_read(struct ngreader *r, size_t off, size_t n)
{
	if (off + n > r->cap) {
		size_t nc = r->cap ? r->cap : 65536;
		while (nc < off + n)
			nc *= 2;
		uint8_t *b = realloc(r->buf, nc);
		if (!b)
			return ng_fail(r, "out of memory");
		r->buf = b;
		r->cap = nc;
	}
	if (fread(r->buf + off, 1, n, r->f) != n)
		return ng_fail(r, "truncated pcapng block");
	return 0;
}

static int ng_idb(struct ngreader *r, const uint8_t *b, size_t n)
{
	if (n < 8)
		return ng_fail(r, "interface description block too short");
	if (r->nifs == NG_IFACES_MAX)
		return ng_fail(r, "too many pcapng interfaces");
	struct ng_iface *ifs = realloc(r->ifs, (r->nifs + 1) * sizeof(*ifs));
	if (!ifs)
		return ng_fail(r, "out of memory");
	r->ifs = ifs;
	struct ng_iface *i = &ifs[r->nifs++];
	/* File LINKTYPE_ values equal libpcap's DLT_ values for every link
	 * handled here but two, which libpcap would map the same way. */
	i->dlt = ng16(r, b);
	if (i->dlt == LINKTYPE_RAW)
		i->dlt = DLT_RAW;
	else if (i->dlt == 108)
		i->dlt = DLT_LOOP;
	i->snaplen = ng32(r, b + 4);
	i->pow2 = false;
	i->res = 6; /* microseconds unless told otherwise */
	i->offset = 0;
	for (size_t o = 8; o + 4 <= n;) {
		uint16_t code = ng16(r, b + o), len = ng16(r, b + o + 2);
		if (code == 0 || o + 4 + len > n)
			break;
		if (code == 9 && len == 1) {
			i->pow2 = b[o + 4] & 0x80;
			i->res = b[o + 4] & 0x7f;
		} else if (code == 14 && len == 8) {
			uint64_t v;
			memcpy(&v, b + o + 4, 8);
			i->offset = (int64_t)(r->swap ? __builtin_bswap64(v) : v);
		}
		o += 4 + (((size_t)len + 3) & ~(size_t)3);
	}
	return 0;
}

static int64_t ng_ts(const struct ng_iface *i, uint64_t t)
{
	__int128 ns;
	if (i->pow2) {
		unsigned r = i->res > 63 ? 63 : i->res;
		ns = (__int128)(t >> r) * DS_NS_PER_SEC +
		     (((__int128)(t & ((1ULL << r) - 1)) * DS_NS_PER_SEC) >> r);
	} else if (i->res <= 9) {
		static const int64_t mul[] = {1000000000, 100000000, 10000000, 1000000, 100000,
					      10000,      1000,      100,      10,      1};
		ns = (__int128)t * mul[i->res];
	} else {
		__int128 div = 1;
		for (unsigned k = 9; k < i->res && div < ((__int128)1 << 100); k++)
			div *= 10;
		ns = (__int128)t / div;
	}
	ns += (__int128)i->offset * DS_NS_PER_SEC;
	if (ns < 0)
		return 0;
	return ns > TS_MAX ? TS_MAX : (int64_t)ns;
}

/* 1 = packet in *p, 0 = end of file, -1 = error in r->err. */
static int ng_next(struct ngreader *r, int *dlt, int64_t *ts, uint32_t *caplen, uint32_t *len,
		   const uint8_t **p)
{
	for (;;) {
		uint8_t h[12];
		size_t got = fread(h, 1, 8, r->f);
		if (got == 0 && feof(r->f))
			return 0;
		if (got != 8)
			return ng_fail(r, "truncated pcapng block header");
		uint32_t type;
		memcpy(&type, h, 4);
		size_t have = 8;
		if (type == NG_SHB) {
			/* The section's byte order is known only from its magic. */
			if (fread(h + 8, 1, 4, r->f) != 4)
				return ng_fail(r, "truncated section header");
			uint32_t bom;
			memcpy(&bom, h + 8, 4);
			if (bom == NG_BOM)
				r->swap = false;
			else if (bom == __builtin_bswap32(NG_BOM))
				r->swap = true;
			else
				return ng_fail(r, "bad byte-order magic in section header");
			r->section = true;
			r->nifs = 0;
			have = 12;
		} else if (!r->section) {
			return ng_fail(r, "pcapng block outside a section");
		}
		type = ng32(r, h);
		uint32_t blen = ng32(r, h + 4);
		if (blen < 12 + (type == NG_SHB ? 16u : 0u) || blen % 4 || blen > NG_BLOCK_MAX)
			return ng_fail(r, "bad pcapng block length");
		if (ng_read(r, 0, blen - have) < 0)
			return -1;
		const uint8_t *b = r->buf;
		size_t n = blen - 12; /* body, without the trailing length */
		if (type == NG_SHB)
			continue;
		if (type == NG_IDB) {
			if (ng_idb(r, b, n) < 0)
				return -1;
			continue;
		}
		uint32_t ifid, cap, orig;
		uint64_t t = 0;
		size_t hdr;
		if (type == NG_EPB || type == NG_PB) {
			if (n < 20)
				return ng_fail(r, "packet block too short");
			ifid = type == NG_EPB ? ng32(r, b) : ng16(r, b);
			t = (uint64_t)ng32(r, b + 4) << 32 | ng32(r, b + 8);
			cap = ng32(r, b + 12);
			orig = ng32(r, b + 16);
			hdr = 20;
			if (cap > n - hdr)
				return ng_fail(r, "packet larger than its block");
		} else if (type == NG_SPB) {
			if (n < 4)
				return ng_fail(r, "simple packet block too short");
			ifid = 0;
			orig = ng32(r, b);
			hdr = 4;
			cap = (uint32_t)DS_MIN((size_t)orig, n - hdr);
		} else {
			continue; /* statistics, name resolution, custom ... */
		}
		if (ifid >= r->nifs)
			return ng_fail(r, "packet for an undeclared interface");
		const struct ng_iface *i = &r->ifs[ifid];
		if (type == NG_SPB && i->snaplen && cap > i->snaplen)
			cap = i->snaplen;
		*dlt = i->dlt;
		*ts = type == NG_SPB ? 0 : ng_ts(i, t);
		*caplen = cap;
		*len = orig;
		*p = b + hdr;
		return 1;
	}
}

/*
 * Open path with the fallback reader and skip the `done` packets libpcap
 * already delivered. NULL when the file is not pcapng or the reader fails
 * no further than libpcap did.
 */
static struct ngreader *ng_resume(const char *path, uint64_t done)
{
	struct ngreader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->f = fopen(path, "rb");
	uint32_t magic = 0;
	if (!r->f || fread(&magic, 1, 4, r->f) != 4 || magic != NG_SHB || fseek(r->f, 0, SEEK_SET))
		goto fail;
	int dlt;
	int64_t ts;
	uint32_t cap, len;
	const uint8_t *p;
	/* One packet more than libpcap managed, or it is no better. */
	for (uint64_t i = 0; i <= done; i++)
		if (ng_next(r, &dlt, &ts, &cap, &len, &p) != 1)
			goto fail;
	if (fseek(r->f, 0, SEEK_SET))
		goto fail;
	r->section = false;
	r->nifs = 0;
	for (uint64_t i = 0; i < done; i++)
		if (ng_next(r, &dlt, &ts, &cap, &len, &p) != 1)
			goto fail;
	return r;
fail:
	ng_close(r);
	return NULL;
}

static pcap_t *open_capture(const char *path, ds_err_t *err)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *pc =
		pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!pc) {
		/* libpcap names the file in some messages only. */
		size_t n = strlen(path);
		const char *why = ebuf;
		if (!strncmp(why, path, n) && !strncmp(why + n, ": ", 2))
			why += n + 2;
		ds_errf(err, DS_EIO, "%s: not readable as a pcap or pcapng capture: %s", path,
			why[0] ? why : "unknown reason");
	}
	return pc;
}

static void close_file(ds_decode_t *d)
{
	if (d->pc)
		pcap_close(d->pc);
	d->pc = NULL;
	ng_close(d->ng);
	d->ng = NULL;
	d->st.files++;
}

/* End of the last file: what waits for more data will get none. */
static void flush_all(ds_decode_t *d)
{
	struct node *o;
	while ((o = table_oldest(&d->frags)))
		dgram_free(d, (struct dgram *)o, true);
	while ((o = table_oldest(&d->flows)))
		flow_free(d, (struct flow *)o, false);
}

ds_decode_t *ds_decode_open(const char *const *paths, size_t npaths, const ds_decode_opts_t *opts,
			    ds_err_t *err)
{
	ds_decode_t *d = NULL;
	if (!paths || !npaths) {
		ds_errf(err, DS_EINVAL, "no capture file given");
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	d->o = opts ? *opts : defaults;
#define DEF(f)                                                                                     \
	if (!d->o.f)                                                                               \
		d->o.f = defaults.f;
	DEF(frag_max_datagrams)
	DEF(frag_max_bytes)
	DEF(frag_timeout_ns)
	DEF(tcp_max_flows)
	DEF(tcp_max_bytes)
	DEF(tcp_max_ooo)
	DEF(tcp_idle_ns)
	DEF(tcp_gap_timeout_ns)
#undef DEF
	if (d->o.nports && d->o.ports) {
		for (size_t i = 0; i < d->o.nports; i++)
			d->ports[d->o.ports[i] >> 3] |= (uint8_t)(1u << (d->o.ports[i] & 7));
	} else {
		d->ports[53 >> 3] |= 1u << (53 & 7);
	}
	d->o.ports = NULL; /* the bitmap is the copy */
	d->o.nports = 0;
	if (table_init(&d->frags, offsetof(struct dgram, key), sizeof(struct frag_key)) < 0 ||
	    table_init(&d->flows, offsetof(struct flow, key), sizeof(struct flow_key)) < 0) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	d->paths = calloc(npaths, sizeof(*d->paths));
	if (!d->paths) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < npaths; i++) {
		d->paths[i] = strdup(paths[i]);
		d->npaths = i + 1;
		if (!d->paths[i]) {
			ds_errf(err, DS_ENOMEM, "out of memory");
			goto fail;
		}
		pcap_t *pc = open_capture(paths[i], err);
		if (!pc)
			goto fail;
		pcap_close(pc);
	}
	d->file = d->paths[0];
	return d;
fail:
	ds_decode_close(d);
	return NULL;
}

int ds_decode_next(ds_decode_t *d, const ds_decode_event_t **ev, ds_err_t *err)
{
	for (;;) {
		if (d->qhead < d->qn) {
			struct qent *e = &d->q[d->qhead++];
			d->cur = e->ev;
			d->cur.dns = d->arena + e->off;
			d->cur.msg.pkt = d->cur.dns;
			*ev = &d->cur;
			return 1;
		}
		d->qhead = d->qn = 0;
		d->alen = 0;
		if (d->nomem) {
			d->nomem = false;
			return ds_errf(err, DS_ENOMEM, "%s: out of memory while decoding, some "
						       "messages were lost", d->file);
		}
		if (d->ng) {
			int dlt;
			int64_t ts;
			uint32_t cap, len;
			const uint8_t *p;
			int rc = ng_next(d->ng, &dlt, &ts, &cap, &len, &p);
			if (rc == 1) {
				d->dlt = dlt;
				packet(d, ts, cap, len, p);
				continue;
			}
			if (rc == 0) {
				close_file(d);
				continue;
			}
			ds_errf(err, DS_EIO, "%s: after packet %llu: %s", d->file,
				(unsigned long long)d->pkt_no, d->ng->err);
			close_file(d);
			return DS_EIO;
		}
		if (!d->pc) {
			if (d->next_file >= d->npaths) {
				if (d->done)
					return 0;
				flush_all(d);
				d->done = true;
				continue;
			}
			d->file = d->paths[d->next_file++];
			d->pkt_no = 0;
			d->pc = open_capture(d->file, err);
			if (!d->pc) {
				d->st.files++;
				return DS_EIO;
			}
			d->dlt = pcap_datalink(d->pc);
			continue;
		}
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc = pcap_next_ex(d->pc, &h, &data);
		if (rc == 1) {
			packet(d, ts_ns(h), h->caplen, h->len, data);
			continue;
		}
		if (rc == PCAP_ERROR_BREAK || rc == 0) {
			close_file(d);
			continue;
		}
		ds_errf(err, DS_EIO, "%s: after packet %llu: %s", d->file,
			(unsigned long long)d->pkt_no, pcap_geterr(d->pc));
		if ((d->ng = ng_resume(d->file, d->pkt_no))) {
			pcap_close(d->pc);
			d->pc = NULL;
			continue;
		}
		close_file(d);
		return DS_EIO;
	}
}

const ds_decode_stats_t *ds_decode_stats(const ds_decode_t *d)
{
	return &d->st;
}

void ds_decode_close(ds_decode_t *d)
{
	if (!d)
		return;
	if (d->pc)
		pcap_close(d->pc);
	ng_close(d->ng);
	if (d->frags.b) {
		struct node *o;
		while ((o = table_oldest(&d->frags)))
			dgram_free(d, (struct dgram *)o, false);
		free(d->frags.b);
	}
	if (d->flows.b) {
		struct node *o;
		while ((o = table_oldest(&d->flows))) {
			struct flow *f = (struct flow *)o;
			f->closed = true; /* no flushing on the way out */
			half_reset(d, &f->h[0]);
			half_reset(d, &f->h[1]);
			flow_free(d, f, false);
		}
		free(d->flows.b);
	}
	for (size_t i = 0; i < d->npaths; i++)
		free(d->paths[i]);
	free(d->paths);
	free(d->q);
	free(d->arena);
	free(d);
}

const char *ds_decode_skip_name(int reason)
{
	switch (reason) {
	case DS_SKIP_NOT_DNS: return "not_dns";
	case DS_SKIP_MALFORMED: return "malformed";
	case DS_SKIP_TRUNCATED: return "truncated";
	case DS_SKIP_UNSUPPORTED: return "unsupported";
	default: return "unknown";
	}
}
