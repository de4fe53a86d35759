/* SPDX-License-Identifier: MIT */
/*
 * The replay engine (replay.h).
 *
 * One reader thread decodes the captures and hands each query, as a
 * record (bytes, capture time, client address, the captured response when
 * diffing against the capture), to the sending thread that owns its client
 * through a single-producer single-consumer byte ring. The rings are the
 * only buffering between the capture and the network, so their size
 * bounds the memory whatever the capture's size; a full ring makes the
 * reader wait. Records are sent straight from the ring (the iovecs point
 * into it) and released after the send.
 *
 * A sending thread owns its clients: one UDP socket each (connected to the
 * target; unconnected when a second server gets the same query, so both
 * servers see the same source port), plus one TCP connection per server
 * for clients that used TCP in the capture. Its epoll loop sleeps until
 * the next query is due (epoll_pwait2: a nanosecond timeout, 1 us timer
 * slack), an answer, a TCP event or the reader's eventfd. Queries of one
 * client due together go out in one sendmmsg. UDP answers carry kernel
 * receive timestamps, so a thread busy sending still times them exactly.
 *
 * In-flight queries live in a ring of slots (send order, for timeouts)
 * indexed by a hash of (client, generation, ID): answers are matched by
 * the client's socket, the ID and the question.
 */
#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/wire.h"
#include "replay/replay.h"

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

#define NIL UINT32_MAX
#define MAX_BATCH 1024
/* Datagrams per UDP GSO message (the kernel takes up to 64 or 128). */
#define GSO_MAX 64
#define MAX_EPOCHS 1024
#define RBUF 16384
#define RBATCH 32
#define NEVENTS 256
/* Longest sleep, so stop requests and speed changes are seen promptly. */
#define MAX_SLEEP_NS (50 * DS_NS_PER_MS)
/* The reader's nap when a ring is full: long enough not to steal the
 * sender's core with wake-ups, short against the time a full window
 * takes to send. */
#define READER_NAP_NS DS_NS_PER_MS
/* Client sockets' receive buffer: a burst of answers to one busy client
 * must not overflow it while its thread sends. */
#define CLIENT_RCVBUF (1 << 20)
#define TCP_WBUF_MAX (1u << 20)
#define PAIR_MAX 65536
#define PAIR_MAX_BYTES (64u << 20)
#define PAIR_BUCKETS 131072
#define FD_RESERVE 128
/* send_due(): records are due but wait for room. */
#define BLOCKED (INT64_MAX - 1)
#define START_DELAY_NS (2 * DS_NS_PER_MS)

enum { SLOT_FREE = 0, SLOT_OUT, SLOT_TIMEDOUT, SLOT_DONE };
enum { SIDE_T = 1, SIDE_D = 2 }; /* target, diff target */
enum { CONN_CLOSED = 0, CONN_CONNECTING, CONN_OPEN };
enum { EV_UDP = 0, EV_TCP_T = 1, EV_TCP_D = 2, EV_WAKE = 3 };

/* ---------------------------------------------------------------- ring */

/* A query as the reader hands it over; the bytes follow the header. */
struct rec {
	uint32_t size; /* whole record, 8-aligned; 0 = wrap marker */
	uint16_t qlen;
	uint16_t elen; /* captured response length, 0 = none */
	int64_t rel;   /* capture time since t0, plus the pass offset */
	uint64_t chash, qhash;
	uint8_t addr[16];
	uint8_t fam, tcp, has_exp, pad[5];
	uint8_t data[];
};

struct ring {
	uint8_t *buf;
	uint64_t cap; /* power of two */
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
};

static size_t rec_size(size_t qlen, size_t elen)
{
	return (sizeof(struct rec) + qlen + elen + 7) & ~(size_t)7;
}

/* Producer: room for n bytes (NULL when full); publish with ring_commit(). */
static struct rec *ring_reserve(struct ring *g, size_t n, uint64_t *nhead)
{
	uint64_t h = atomic_load_explicit(&g->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&g->tail, memory_order_acquire);
	uint64_t off = h & (g->cap - 1);
	uint64_t skip = off + n > g->cap ? g->cap - off : 0;
	if (h + skip + n - t > g->cap)
		return NULL;
	if (skip) {
		/* Records never wrap: the marker sends the reader back to 0. */
		((struct rec *)(void *)(g->buf + off))->size = 0;
		h += skip;
	}
	*nhead = h + n;
	return (struct rec *)(void *)(g->buf + (h & (g->cap - 1)));
}

static void ring_commit(struct ring *g, uint64_t nhead)
{
	/* seq_cst: pairs with the consumer's idle flag (see worker_main). */
	atomic_store(&g->head, nhead);
}

/* Consumer: the record at *pos (past a wrap marker), NULL when none. */
static struct rec *ring_peek(struct ring *g, uint64_t *pos)
{
	uint64_t h = atomic_load(&g->head);
	if (*pos == h)
		return NULL;
	struct rec *r = (struct rec *)(void *)(g->buf + (*pos & (g->cap - 1)));
	if (r->size == 0) {
		*pos += g->cap - (*pos & (g->cap - 1));
		if (*pos == h)
			return NULL;
		r = (struct rec *)(void *)(g->buf + (*pos & (g->cap - 1)));
	}
	return r;
}

static void ring_release(struct ring *g, uint64_t pos)
{
	atomic_store_explicit(&g->tail, pos, memory_order_release);
}

/* ------------------------------------------------------------ hashing */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV0 0xcbf29ce484222325ULL

/* Hash of a question: the flat name without case, type and class. */
static uint64_t qhash_of(const uint8_t *name, size_t len, uint16_t qtype, uint16_t qclass)
{
	uint64_t h = FNV0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];
		if (c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 0x100000001b3ULL;
	}
	uint8_t tc[4];
	ds_wr16(tc, qtype);
	ds_wr16(tc + 2, qclass);
	return fnv(h, tc, 4);
}

/* Question hash of a message; 0 when it has no question; false if broken. */
static bool msg_qhash(const uint8_t *p, size_t n, uint64_t *h)
{
	if (ds_rd16(p + 4) == 0) {
		*h = 0;
		return true;
	}
	uint8_t name[DS_NAME_MAX];
	size_t pos = DS_HDR_LEN;
	int l = ds_name_unpack(p, n, &pos, name);
	if (l < 0 || pos + 4 > n)
		return false;
	*h = qhash_of(name, (size_t)l, ds_rd16(p + pos), ds_rd16(p + pos + 2));
	return true;
}

static uint64_t addr_hash(uint8_t fam, const uint8_t *addr)
{
	uint64_t h = fnv(FNV0, &fam, 1);
	h = fnv(h, addr, 16);
	/* Spread the low bits: the thread is chash % threads. */
	return h ^ (h >> 29);
}

static uint64_t mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

/* ----------------------------------------------------------- structures */

struct conn {
	int fd;
	uint8_t state;
	bool out_armed;
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	uint8_t *rbuf;
	size_t rlen, rcap;
};

struct client {
	uint64_t chash;
	uint8_t addr[16];
	uint8_t fam;
	bool used;
	uint16_t gen;
	int ufd;
	struct conn *tc[2]; /* TCP to the target, to the diff target */
	uint32_t nout;
	uint32_t prev, next; /* LRU list, most recent first */
	uint32_t bhead, btail; /* queries of this round (UDP) */
	bool touched;
	uint32_t drops_seen;
};

struct slot {
	uint64_t key;
	uint64_t qhash;
	int64_t intended, sent;
	uint8_t *buf;  /* captured response, or the first server answer (DIFF_SERVER) */
	uint32_t client;
	uint16_t blen;
	uint8_t state;
	uint8_t pending; /* SIDE_T | SIDE_D still awaited */
	uint8_t bside;   /* DIFF_SERVER: whose answer buf holds */
	bool has_exp;    /* DIFF_CAPTURE: buf holds the capture's response */
};

/* One UDP query of a send round. */
struct bitem {
	uint32_t next;
	uint64_t seq;
	uint8_t *p;
	uint16_t len;
};

/* An entry of the in-flight index: the key kept here so a lookup touches
 * one cache line, not the slot. */
struct pent {
	uint64_t key;
	uint64_t seq1; /* sequence number + 1; 0 = empty */
};

struct epoch {
	int64_t rel0, mono0;
	double speed;
};

struct worker {
	ds_replay_t *r;
	unsigned idx;
	pthread_t th;
	bool started;
	struct ring ring;
	uint64_t cursor;
	int ep, evfd;
	_Atomic int idle;
	pthread_mutex_t mu;
	ds_meter_t m[2];
	ds_meter_t *cur;
	uint64_t sock_drops; /* under mu, since the last tick */
	/* clients */
	struct client *cl;
	uint32_t maxcl, nopen, free_head, lru_head, lru_tail;
	uint32_t *ctab;
	uint32_t cmask;
	unsigned fds, fd_budget;
	int64_t conns_open;
	/* in flight */
	struct slot *slots;
	uint64_t smask, head, tail, nout;
	struct pent *pidx;
	uint64_t pmask;
	/* a send round */
	struct bitem *bi;
	uint32_t *items;  /* the items of one client */
	uint32_t *sitem;  /* the item of each iovec */
	uint8_t *mside;   /* per message: the side, first iovec, iovec count */
	uint32_t *mfirst;
	uint32_t *mcnt;
	uint8_t (*gctl)[CMSG_SPACE(sizeof(uint16_t))];
	bool gso;
	uint32_t *touched;
	unsigned ntouched;
	struct mmsghdr *smsg;
	struct iovec *siov;
	struct mmsghdr *rmsg;
	struct iovec *riov;
	uint8_t (*rbuf)[RBUF];
	uint8_t (*rctl)[64];
	ds_sockaddr_t *rname;
	struct epoll_event *evs;
	unsigned epi;
	bool sending;
	int64_t last_send;
	/* totals, read after the thread ended */
	uint64_t udp_q, tcp_q, ids_changed, unsent, clients, evicted;
	unsigned clients_max;
	bool realtime;
	ds_diff_sum_t diff;
};

/* A query waiting in the reader for its captured response. */
struct pq {
	struct pq *hnext, *fnext;
	uint64_t h;
	int64_t ts, rel;
	uint64_t chash, qhash;
	uint8_t addr[16];
	uint8_t fam, tcp;
	uint16_t qlen, rlen;
	uint8_t *resp;
	/* the key: client address and port, transport, ID, question */
	uint16_t port, id, qtype, qclass;
	uint8_t qname_len;
	uint8_t qname[DS_NAME_MAX];
	uint8_t q[];
};

struct ds_replay {
	ds_replay_cfg_t cfg;
	const char **files;
	uint16_t *ports;
	ds_decode_t *dec;
	struct worker *w;
	unsigned nw;
	pthread_t reader, ticker;
	bool reader_started, ticker_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned running;
	atomic_bool stop;
	_Atomic int64_t stop_at;
	atomic_bool reader_done;
	bool primed; /* under mu: the reader filled a ring or read everything */
	struct epoch ep[MAX_EPOCHS];
	atomic_uint nep;
	int64_t start_mono, start_wall, send_end;
	ds_meter_t iv;
	ds_replay_result_t res;
	uint64_t sock_drops_total;
	bool waited;
	/* reader state */
	int64_t t0;
	bool have_t0;
	int64_t last_rel, pass_off, pass_max_rel;
	uint64_t pass_queries;
	uint8_t *qbuf;
	struct pq **pbuck;
	struct pq *phead, *ptail;
	size_t pcount, pbytes;
	bool diff_capture, diff_server;
};

/* ------------------------------------------------------------- reader */

static void nap(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / DS_NS_PER_SEC, .tv_nsec = ns % DS_NS_PER_SEC};
	nanosleep(&ts, NULL);
}

/* The window is full (or the capture read): the schedule may start. */
static void reader_primed(ds_replay_t *r)
{
	pthread_mutex_lock(&r->mu);
	r->primed = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Hand one query to its thread; waits while the ring is full. */
static int dispatch(ds_replay_t *r, int64_t rel, uint64_t chash, uint64_t qhash, uint8_t fam,
		    const uint8_t *addr, bool tcp, const uint8_t *q, size_t qlen, const uint8_t *e,
		    size_t elen, bool has_exp)
{
	struct worker *w = &r->w[chash % r->nw];
	size_t n = rec_size(qlen, elen);
	uint64_t nh;
	struct rec *p;
	while (!(p = ring_reserve(&w->ring, n, &nh))) {
		if (atomic_load(&r->stop))
			return DS_EAGAIN;
		if (!r->primed)
			reader_primed(r);
		nap(READER_NAP_NS);
	}
	p->size = (uint32_t)n;
	p->qlen = (uint16_t)qlen;
	p->elen = (uint16_t)elen;
	p->rel = rel;
	p->chash = chash;
	p->qhash = qhash;
	memcpy(p->addr, addr, 16);
	p->fam = fam;
	p->tcp = tcp;
	p->has_exp = has_exp;
	memcpy(p->data, q, qlen);
	if (elen)
		memcpy(p->data + qlen, e, elen);
	ring_commit(&w->ring, nh);
	if (atomic_load(&w->idle) && atomic_exchange(&w->idle, 0)) {
		uint64_t one = 1;
		ssize_t wr = write(w->evfd, &one, sizeof(one));
		(void)wr;
	}
	return DS_OK;
}

/* A captured address as the client key: family, 16 address bytes, port. */
static void ev_client(const ds_sockaddr_t *a, uint8_t *fam, uint8_t addr[16], uint16_t *port)
{
	memset(addr, 0, 16);
	if (a->sa.sa_family == AF_INET6) {
		*fam = 6;
		memcpy(addr, &a->in6.sin6_addr, 16);
		*port = ntohs(a->in6.sin6_port);
	} else {
		*fam = 4;
		memcpy(addr, &a->in4.sin_addr, 4);
		*port = ntohs(a->in4.sin_port);
	}
}

static uint64_t pair_key(uint8_t fam, const uint8_t *addr, uint16_t port, bool tcp, uint16_t id,
			 const ds_msg_t *m)
{
	uint8_t k[24];
	k[0] = fam;
	k[1] = tcp;
	ds_wr16(k + 2, port);
	ds_wr16(k + 4, id);
	ds_wr16(k + 6, m->qtype);
	ds_wr16(k + 8, m->qclass);
	memcpy(k + 10, addr, 14);
	uint64_t h = fnv(FNV0, k, sizeof(k));
	h = fnv(h, addr + 14, 2);
	return fnv(h, m->qname, m->qname_len);
}

static bool pq_match(const struct pq *p, uint8_t fam, const uint8_t *addr, uint16_t port,
		     bool tcp, uint16_t id, const ds_msg_t *m)
{
	return p->fam == fam && p->tcp == tcp && p->port == port && p->id == id &&
	       p->qtype == m->qtype && p->qclass == m->qclass && p->qname_len == m->qname_len &&
	       !memcmp(p->addr, addr, 16) && !memcmp(p->qname, m->qname, m->qname_len);
}

/* Release the oldest waiting query to its thread. */
static int pair_pop(ds_replay_t *r)
{
	struct pq *p = r->phead;
	r->phead = p->fnext;
	if (!r->phead)
		r->ptail = NULL;
	struct pq **pp = &r->pbuck[p->h & (PAIR_BUCKETS - 1)];
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	r->pcount--;
	r->pbytes -= sizeof(*p) + p->qlen + p->rlen;
	if (p->resp)
		r->res.paired++;
	int rc = dispatch(r, p->rel, p->chash, p->qhash, p->fam, p->addr, p->tcp, p->q, p->qlen,
			  p->resp, p->rlen, true);
	free(p->resp);
	free(p);
	return rc;
}

/* Release what waited long enough (in capture time) or overflows the window. */
static int pair_release(ds_replay_t *r, int64_t now_ts, bool all)
{
	while (r->phead && (all || r->pcount > PAIR_MAX || r->pbytes > PAIR_MAX_BYTES ||
			    r->phead->ts + r->cfg.pair_window_ns <= now_ts))
		if (pair_pop(r) < 0)
			return DS_EAGAIN;
	return DS_OK;
}

static int pair_query(ds_replay_t *r, const ds_decode_event_t *ev, int64_t rel, uint64_t chash,
		      uint64_t qhash, uint8_t fam, const uint8_t *addr, uint16_t port,
		      const uint8_t *q, size_t qlen)
{
	struct pq *p = malloc(sizeof(*p) + qlen);
	if (!p)
		return DS_ENOMEM;
	p->h = pair_key(fam, addr, port, ev->transport == DS_DECODE_TCP, ev->id, &ev->msg);
	p->ts = ev->ts_ns;
	p->rel = rel;
	p->chash = chash;
	p->qhash = qhash;
	memcpy(p->addr, addr, 16);
	p->fam = fam;
	p->tcp = ev->transport == DS_DECODE_TCP;
	p->qlen = (uint16_t)qlen;
	p->rlen = 0;
	p->resp = NULL;
	p->port = port;
	p->id = ev->id;
	p->qtype = ev->msg.qtype;
	p->qclass = ev->msg.qclass;
	p->qname_len = ev->msg.qname_len;
	memcpy(p->qname, ev->msg.qname, ev->msg.qname_len);
	memcpy(p->q, q, qlen);
	p->fnext = NULL;
	struct pq **b = &r->pbuck[p->h & (PAIR_BUCKETS - 1)];
	/* Chains keep capture order so a retransmitted query takes the
	 * first response and its copy the second. */
	while (*b)
		b = &(*b)->hnext;
	p->hnext = NULL;
	*b = p;
	if (r->ptail)
		r->ptail->fnext = p;
	else
		r->phead = p;
	r->ptail = p;
	r->pcount++;
	r->pbytes += sizeof(*p) + qlen;
	return pair_release(r, ev->ts_ns, false);
}

static void pair_response(ds_replay_t *r, const ds_decode_event_t *ev)
{
	uint8_t fam, addr[16];
	uint16_t port;
	ev_client(&ev->dst, &fam, addr, &port);
	bool tcp = ev->transport == DS_DECODE_TCP;
	uint64_t h = pair_key(fam, addr, port, tcp, ev->id, &ev->msg);
	for (struct pq *p = r->pbuck[h & (PAIR_BUCKETS - 1)]; p; p = p->hnext) {
		if (p->h != h || p->resp || !pq_match(p, fam, addr, port, tcp, ev->id, &ev->msg))
			continue;
		p->resp = malloc(ev->dns_len);
		if (!p->resp)
			return;
		memcpy(p->resp, ev->dns, ev->dns_len);
		p->rlen = (uint16_t)ev->dns_len;
		r->pbytes += p->rlen;
		return;
	}
	r->res.unpaired_responses++;
}

static void stats_add(ds_decode_stats_t *d, const ds_decode_stats_t *s)
{
	d->files += s->files;
	d->packets += s->packets;
	d->bytes += s->bytes;
	d->messages += s->messages;
	d->queries += s->queries;
	d->responses += s->responses;
	d->udp_messages += s->udp_messages;
	d->tcp_messages += s->tcp_messages;
	for (int i = 0; i < DS_SKIP_COUNT; i++)
		d->skipped[i] += s->skipped[i];
	d->frag_packets += s->frag_packets;
	d->frag_reassembled += s->frag_reassembled;
	d->frag_dropped += s->frag_dropped;
	d->tcp_segments += s->tcp_segments;
	d->tcp_flows += s->tcp_flows;
	d->tcp_gaps += s->tcp_gaps;
	d->tcp_gap_bytes += s->tcp_gap_bytes;
	d->tcp_retransmits += s->tcp_retransmits;
	d->tcp_resync_bytes += s->tcp_resync_bytes;
	d->tcp_incomplete += s->tcp_incomplete;
	d->tcp_evicted += s->tcp_evicted;
	if (s->messages) {
		if (!d->first_ts_ns || s->first_ts_ns < d->first_ts_ns)
			d->first_ts_ns = s->first_ts_ns;
		if (s->last_ts_ns > d->last_ts_ns)
			d->last_ts_ns = s->last_ts_ns;
	}
}

/* One query of the capture: filter, rewrite, time, then pair or dispatch. */
static int reader_query(ds_replay_t *r, const ds_decode_event_t *ev)
{
	ds_replay_result_t *res = &r->res;
	res->queries++;
	if (!ds_rewrite_keep(r->cfg.rewrite, &ev->msg)) {
		res->filtered++;
		return DS_OK;
	}
	const uint8_t *q = ev->dns;
	size_t qlen = ev->dns_len;
	uint64_t qhash = ev->msg.qdcount ? qhash_of(ev->msg.qname, ev->msg.qname_len,
						    ev->msg.qtype, ev->msg.qclass)
					 : 0;
	if (ds_rewrite_renames(r->cfg.rewrite)) {
		int n = ds_rewrite_query(r->cfg.rewrite, ev->dns, ev->dns_len, r->qbuf, DS_MSG_MAX);
		if (n > 0) {
			q = r->qbuf;
			qlen = (size_t)n;
			res->rewritten++;
			if (!msg_qhash(q, qlen, &qhash))
				qhash = 0;
		} else if (n < 0) {
			res->unrewritable++;
		}
	}
	if (!r->have_t0) {
		r->t0 = ev->ts_ns;
		r->have_t0 = true;
	}
	int64_t rel = ev->ts_ns - r->t0 + r->pass_off;
	if (rel < r->last_rel) {
		/* Sent in capture order anyway: a schedule going back in time
		 * would only make the thread send it at once. */
		res->reordered++;
		rel = r->last_rel;
	}
	r->last_rel = rel;
	if (rel - r->pass_off > r->pass_max_rel)
		r->pass_max_rel = rel - r->pass_off;
	r->pass_queries++;
	res->load.scheduled++;
	uint8_t fam, addr[16];
	uint16_t port;
	ev_client(&ev->src, &fam, addr, &port);
	uint64_t chash = addr_hash(fam, addr);
	bool tcp = ev->transport == DS_DECODE_TCP;
	if (r->diff_capture)
		return pair_query(r, ev, rel, chash, qhash, fam, addr, port, q, qlen);
	return dispatch(r, rel, chash, qhash, fam, addr, tcp, q, qlen, NULL, 0, false);
}

static void reader_error(ds_replay_t *r, const char *msg)
{
	pthread_mutex_lock(&r->mu);
	if (!r->res.capture_errors++)
		snprintf(r->res.capture_error, sizeof(r->res.capture_error), "%s", msg);
	pthread_mutex_unlock(&r->mu);
}

static void *reader_main(void *arg)
{
	ds_replay_t *r = arg;
	ds_err_t err = {{0}};
	for (unsigned pass = 0; pass < r->cfg.loops && !atomic_load(&r->stop); pass++) {
		ds_decode_t *d = r->dec;
		r->dec = NULL;
		if (!d) {
			d = ds_decode_open((const char *const *)r->files, r->cfg.nfiles, &r->cfg.decode,
					   &err);
			if (!d) {
				reader_error(r, err.msg);
				break;
			}
		}
		r->res.passes++;
		r->pass_queries = 0;
		r->pass_max_rel = 0;
		const ds_decode_event_t *ev;
		int rc = 0;
		while (!atomic_load(&r->stop) && (rc = ds_decode_next(d, &ev, &err)) != 0) {
			if (rc < 0) {
				reader_error(r, err.msg);
				continue;
			}
			if (ev->response) {
				if (r->diff_capture)
					pair_response(r, ev);
				continue;
			}
			if (reader_query(r, ev) == DS_ENOMEM) {
				reader_error(r, "out of memory");
				atomic_store(&r->stop, true);
			}
		}
		if (r->diff_capture)
			pair_release(r, 0, true);
		stats_add(&r->res.capture, ds_decode_stats(d));
		ds_decode_close(d);
		/* The next pass starts one mean query gap after this one ends. */
		int64_t gap = r->pass_queries > 1 ? r->pass_max_rel / (int64_t)(r->pass_queries - 1)
						  : 0;
		r->pass_off += r->pass_max_rel + gap;
		r->last_rel = r->pass_off;
	}
	atomic_store(&r->reader_done, true);
	reader_primed(r);
	for (unsigned i = 0; i < r->nw; i++) {
		uint64_t one = 1;
		ssize_t wr = write(r->w[i].evfd, &one, sizeof(one));
		(void)wr;
	}
	return NULL;
}

/* ------------------------------------------------------- in-flight slots */

static uint64_t slot_key(uint32_t ci, uint16_t gen, uint16_t id)
{
	return (uint64_t)ci << 32 | (uint64_t)gen << 16 | id;
}

static uint64_t pidx_find(const struct worker *w, uint64_t key)
{
	for (uint64_t i = mix64(key) & w->pmask;; i = (i + 1) & w->pmask) {
		const struct pent *e = &w->pidx[i];
		if (!e->seq1)
			return UINT64_MAX;
		if (e->key == key)
			return e->seq1 - 1;
	}
}

static void pidx_put(struct worker *w, uint64_t key, uint64_t seq)
{
	uint64_t i = mix64(key) & w->pmask;
	while (w->pidx[i].seq1)
		i = (i + 1) & w->pmask;
	w->pidx[i] = (struct pent){.key = key, .seq1 = seq + 1};
}

/* Remove key's entry if it points at seq (linear probing, backward shift). */
static void pidx_del(struct worker *w, uint64_t key, uint64_t seq)
{
	uint64_t i = mix64(key) & w->pmask;
	for (;; i = (i + 1) & w->pmask) {
		const struct pent *e = &w->pidx[i];
		if (!e->seq1)
			return;
		if (e->key == key && e->seq1 - 1 == seq)
			break;
	}
	uint64_t j = i;
	for (;;) {
		j = (j + 1) & w->pmask;
		const struct pent *e = &w->pidx[j];
		if (!e->seq1)
			break;
		uint64_t home = mix64(e->key) & w->pmask;
		/* Move e back to the hole unless its home lies in (i, j]. */
		bool stay = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stay)
			continue;
		w->pidx[i] = *e;
		i = j;
	}
	w->pidx[i].seq1 = 0;
}

static void slot_finish(struct worker *w, uint64_t seq, uint8_t state)
{
	struct slot *s = &w->slots[seq & w->smask];
	if (state == SLOT_DONE)
		pidx_del(w, s->key, seq);
	s->state = state;
	s->pending = 0;
	free(s->buf);
	s->buf = NULL;
	s->blen = 0;
	w->cl[s->client].nout--;
	w->nout--;
}

/*
 * A slot for a query of client ci with ID *id; the ID is changed when the
 * client already has it in flight (the capture's IDs repeat). Returns the
 * sequence number or UINT64_MAX when every slot is in use.
 */
static uint64_t slot_alloc(struct worker *w, uint32_t ci, uint16_t *id)
{
	if (w->head - w->tail > w->smask)
		return UINT64_MAX;
	uint64_t seq = w->head;
	struct slot *s = &w->slots[seq & w->smask];
	if (s->state == SLOT_TIMEDOUT)
		pidx_del(w, s->key, seq - w->smask - 1);
	uint16_t gen = w->cl[ci].gen;
	for (unsigned tries = 0; tries < 65536; tries++) {
		uint64_t key = slot_key(ci, gen, *id);
		uint64_t o = pidx_find(w, key);
		if (o == UINT64_MAX)
			break;
		struct slot *os = &w->slots[o & w->smask];
		if (os->state == SLOT_TIMEDOUT) {
			/* An answer to that one would be late anyway. */
			pidx_del(w, key, o);
			break;
		}
		if (!tries)
			w->ids_changed++;
		*id = (uint16_t)(*id + 1);
	}
	s->key = slot_key(ci, gen, *id);
	s->state = SLOT_FREE;
	s->client = ci;
	s->buf = NULL;
	s->blen = 0;
	s->pending = 0;
	s->bside = 0;
	s->has_exp = false;
	pidx_put(w, s->key, seq);
	w->head++;
	return seq;
}

/* A slot taken by slot_alloc() whose query could not be sent. */
static void slot_unsend(struct worker *w, uint64_t seq)
{
	struct slot *s = &w->slots[seq & w->smask];
	pidx_del(w, s->key, seq);
	free(s->buf);
	s->buf = NULL;
	s->state = SLOT_DONE;
}

/* ------------------------------------------------------------- diffs */

static const ds_diff_opts_t *diff_opts(const ds_replay_t *r, ds_diff_opts_t *o)
{
	o->ttl = r->cfg.diff_ttl;
	o->expected_rw = r->diff_capture && ds_rewrite_renames(r->cfg.rewrite) ? r->cfg.rewrite : NULL;
	return o;
}

/* Settle the diff of slot s: got is the target's answer or NULL. */
static void diff_settle(struct worker *w, struct slot *s, const uint8_t *got, size_t glen,
			const uint8_t *other, size_t olen)
{
	ds_replay_t *r = w->r;
	ds_diff_opts_t o;
	if (r->diff_capture)
		ds_diff_add(&w->diff, s->has_exp ? s->buf : NULL, s->blen, got, glen,
			    diff_opts(r, &o));
	else if (r->diff_server)
		ds_diff_add(&w->diff, other, olen, got, glen, diff_opts(r, &o));
}

/* ------------------------------------------------------------- answers */

static void on_answer(struct worker *w, uint32_t ci, int side, const uint8_t *p, size_t n,
		      int64_t rx)
{
	ds_replay_t *r = w->r;
	ds_meter_t *m = w->cur;
	uint64_t qh;
	if (n < DS_HDR_LEN || !(ds_rd16(p + 2) & DS_FLAG_QR) || !msg_qhash(p, n, &qh)) {
		if (side == SIDE_T)
			m->malformed++;
		return;
	}
	struct client *c = &w->cl[ci];
	uint64_t seq = pidx_find(w, slot_key(ci, c->gen, ds_rd16(p)));
	struct slot *s = seq == UINT64_MAX ? NULL : &w->slots[seq & w->smask];
	/* An answer without a question (FORMERR, NOTIMP) matches by ID. */
	if (!s || (qh && s->qhash != qh) || s->state == SLOT_FREE || s->state == SLOT_DONE ||
	    (s->state == SLOT_OUT && !(s->pending & side))) {
		if (side == SIDE_T)
			m->mismatched++;
		return;
	}
	if (s->state == SLOT_TIMEDOUT) {
		if (side == SIDE_T) {
			m->late++;
			m->bytes_recv += n;
		}
		return;
	}
	uint16_t flags = ds_rd16(p + 2);
	if (side == SIDE_T) {
		if (rx - s->sent >= r->cfg.timeout_ns) {
			/* It came after the deadline and merely waited in our buffer. */
			m->late++;
			ds_meter_timeout(m, r->cfg.timeout_ns, r->cfg.timeout_in_hist);
		} else {
			ds_meter_answer(m, s->intended, s->sent, rx, DS_RCODE(flags),
					flags & DS_FLAG_TC, (uint32_t)n);
		}
	}
	s->pending &= (uint8_t)~side;
	if (r->diff_server) {
		if (s->pending) {
			/* First of the two: keep it for the other. */
			s->buf = malloc(n);
			if (s->buf) {
				memcpy(s->buf, p, n);
				s->blen = (uint16_t)n;
				s->bside = (uint8_t)side;
			}
			return;
		}
		if (side == SIDE_T)
			diff_settle(w, s, p, n, s->bside == SIDE_D ? s->buf : NULL, s->blen);
		else
			diff_settle(w, s, s->bside == SIDE_T ? s->buf : NULL, s->blen, p, n);
	} else if (r->diff_capture) {
		diff_settle(w, s, p, n, NULL, 0);
	}
	if (!s->pending)
		slot_finish(w, seq, SLOT_DONE);
}

static void expire(struct worker *w, int64_t now)
{
	ds_replay_t *r = w->r;
	while (w->tail < w->head) {
		struct slot *s = &w->slots[w->tail & w->smask];
		if (s->state == SLOT_OUT) {
			if (now - s->sent < r->cfg.timeout_ns)
				break;
			if (s->pending & SIDE_T)
				ds_meter_timeout(w->cur, r->cfg.timeout_ns, r->cfg.timeout_in_hist);
			if (r->diff_server) {
				const uint8_t *t = s->bside == SIDE_T ? s->buf : NULL;
				const uint8_t *d = s->bside == SIDE_D ? s->buf : NULL;
				diff_settle(w, s, t, s->blen, d, s->blen);
			} else if (r->diff_capture) {
				diff_settle(w, s, NULL, 0, NULL, 0);
			}
			slot_finish(w, w->tail, SLOT_TIMEDOUT);
		}
		w->tail++;
	}
}

/* ------------------------------------------------------------- clients */

static void lru_unlink(struct worker *w, uint32_t i)
{
	struct client *c = &w->cl[i];
	if (c->prev != NIL)
		w->cl[c->prev].next = c->next;
	else
		w->lru_head = c->next;
	if (c->next != NIL)
		w->cl[c->next].prev = c->prev;
	else
		w->lru_tail = c->prev;
	c->prev = c->next = NIL;
}

static void lru_front(struct worker *w, uint32_t i)
{
	struct client *c = &w->cl[i];
	c->prev = NIL;
	c->next = w->lru_head;
	if (w->lru_head != NIL)
		w->cl[w->lru_head].prev = i;
	w->lru_head = i;
	if (w->lru_tail == NIL)
		w->lru_tail = i;
}

static uint32_t ctab_find(const struct worker *w, uint64_t h, uint8_t fam, const uint8_t *addr,
			  uint32_t *hole)
{
	for (uint32_t i = (uint32_t)mix64(h) & w->cmask;; i = (i + 1) & w->cmask) {
		uint32_t v = w->ctab[i];
		if (!v) {
			if (hole)
				*hole = i;
			return NIL;
		}
		const struct client *c = &w->cl[v - 1];
		if (c->chash == h && c->fam == fam && !memcmp(c->addr, addr, 16))
			return v - 1;
	}
}

static void ctab_del(struct worker *w, uint32_t ci)
{
	uint32_t i = (uint32_t)mix64(w->cl[ci].chash) & w->cmask;
	while (w->ctab[i] != ci + 1)
		i = (i + 1) & w->cmask;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & w->cmask;
		uint32_t v = w->ctab[j];
		if (!v)
			break;
		uint32_t home = (uint32_t)mix64(w->cl[v - 1].chash) & w->cmask;
		bool stay = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stay)
			continue;
		w->ctab[i] = v;
		i = j;
	}
	w->ctab[i] = 0;
}

static void conn_close(struct worker *w, struct conn *k)
{
	if (k->fd >= 0) {
		close(k->fd);
		w->fds--;
		if (k->state == CONN_OPEN)
			w->conns_open--;
	}
	k->fd = -1;
	k->state = CONN_CLOSED;
	k->out_armed = false;
	k->wlen = k->woff = k->rlen = 0;
}

static bool client_idle(const struct client *c)
{
	if (c->nout || c->touched)
		return false;
	for (int s = 0; s < 2; s++)
		if (c->tc[s] && c->tc[s]->wlen > c->tc[s]->woff)
			return false;
	return true;
}

/* Close a client's sockets and forget it. */
static void client_drop(struct worker *w, uint32_t ci)
{
	struct client *c = &w->cl[ci];
	if (c->ufd >= 0) {
		close(c->ufd);
		w->fds--;
	}
	for (int s = 0; s < 2; s++) {
		if (!c->tc[s])
			continue;
		conn_close(w, c->tc[s]);
		free(c->tc[s]->wbuf);
		free(c->tc[s]->rbuf);
		free(c->tc[s]);
		c->tc[s] = NULL;
	}
	c->ufd = -1;
	ctab_del(w, ci);
	lru_unlink(w, ci);
	c->used = false;
	c->next = w->free_head;
	w->free_head = ci;
	w->nopen--;
}

/* Make room by closing the least recently used idle client (not keep). */
static bool evict_one(struct worker *w, uint32_t keep)
{
	uint32_t i = w->lru_tail;
	for (int steps = 0; i != NIL && steps < 64; steps++, i = w->cl[i].prev) {
		if (i == keep || !client_idle(&w->cl[i]))
			continue;
		client_drop(w, i);
		w->evicted++;
		return true;
	}
	return false;
}

static bool fd_room(struct worker *w, unsigned n, uint32_t keep)
{
	while (w->fds + n > w->fd_budget)
		if (!evict_one(w, keep))
			return false;
	return true;
}

static int udp_open(struct worker *w, uint32_t ci)
{
	const ds_replay_t *r = w->r;
	int fd = socket(ds_addr_family(&r->cfg.target), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -errno;
	int one = 1, sz = CLIENT_RCVBUF;
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* With a second server the socket stays unconnected so both servers
	 * see the same client port (whoami, ACLs by port answer alike). */
	if (!r->diff_server && connect(fd, &r->cfg.target.sa, ds_addr_len(&r->cfg.target)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct epoll_event ee = {.events = EPOLLIN, .data.u64 = (uint64_t)ci << 2 | EV_UDP};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ee) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	w->fds++;
	w->cl[ci].ufd = fd;
	w->cl[ci].drops_seen = 0;
	return DS_OK;
}

static int conn_open(struct worker *w, uint32_t ci, int side)
{
	const ds_replay_t *r = w->r;
	struct client *c = &w->cl[ci];
	const ds_sockaddr_t *to = side ? &r->cfg.diff_target : &r->cfg.target;
	struct conn *k = c->tc[side];
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return DS_ENOMEM;
		k->fd = -1;
		c->tc[side] = k;
	}
	int fd = socket(ds_addr_family(to), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &to->sa, ds_addr_len(to)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		w->cur->conn_failed++;
		return -e;
	}
	struct epoll_event ee = {.events = EPOLLIN | EPOLLOUT,
				 .data.u64 = (uint64_t)ci << 2 | (uint64_t)(EV_TCP_T + side)};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ee) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	w->fds++;
	k->fd = fd;
	k->state = CONN_CONNECTING;
	k->out_armed = true;
	k->wlen = k->woff = k->rlen = 0;
	return DS_OK;
}

/*
 * The client of record q with the sockets it needs open; NIL when there
 * is no room (every client busy) or a socket cannot be opened (counted).
 */
static uint32_t client_get(struct worker *w, const struct rec *q)
{
	const ds_replay_t *r = w->r;
	uint32_t hole = 0;
	uint32_t ci = ctab_find(w, q->chash, q->fam, q->addr, &hole);
	if (ci == NIL) {
		if (w->free_head == NIL && !evict_one(w, NIL))
			return NIL;
		/* Eviction may have moved entries: look for the hole again. */
		ctab_find(w, q->chash, q->fam, q->addr, &hole);
		ci = w->free_head;
		struct client *c = &w->cl[ci];
		w->free_head = c->next;
		uint16_t gen = (uint16_t)(c->gen + 1);
		memset(c, 0, sizeof(*c));
		c->gen = gen;
		c->chash = q->chash;
		c->fam = q->fam;
		memcpy(c->addr, q->addr, 16);
		c->used = true;
		c->ufd = -1;
		c->bhead = c->btail = NIL;
		c->prev = c->next = NIL;
		w->ctab[hole] = ci + 1;
		lru_front(w, ci);
		w->nopen++;
		w->clients++;
		if (w->nopen > w->clients_max)
			w->clients_max = w->nopen;
	} else if (w->lru_head != ci) {
		lru_unlink(w, ci);
		lru_front(w, ci);
	}
	struct client *c = &w->cl[ci];
	int need = r->diff_server ? 2 : 1;
	for (int s = 0; s < need; s++) {
		bool open = q->tcp ? c->tc[s] && c->tc[s]->fd >= 0 : c->ufd >= 0;
		if (open || (!q->tcp && s > 0))
			continue;
		if (!fd_room(w, 1, ci))
			return NIL;
		int e = q->tcp ? conn_open(w, ci, s) : udp_open(w, ci);
		if (e < 0) {
			w->cur->send_errors++;
			return NIL - 1;
		}
	}
	return ci;
}

/* ------------------------------------------------------------- sending */

static int64_t due_of(struct worker *w, const struct rec *q, int64_t now)
{
	ds_replay_t *r = w->r;
	if (r->cfg.asap)
		return now;
	unsigned n = atomic_load_explicit(&r->nep, memory_order_acquire);
	while (w->epi + 1 < n && r->ep[w->epi + 1].rel0 <= q->rel)
		w->epi++;
	const struct epoch *e = &r->ep[w->epi];
	return e->mono0 + (int64_t)((double)(q->rel - e->rel0) / e->speed);
}

static void mark_sent(struct worker *w, uint64_t seq, int64_t ts, uint32_t len, uint8_t side)
{
	ds_replay_t *r = w->r;
	struct slot *s = &w->slots[seq & w->smask];
	if (s->state != SLOT_OUT) {
		s->state = SLOT_OUT;
		s->sent = ts;
		if (r->cfg.asap)
			s->intended = ts;
		w->cl[s->client].nout++;
		w->nout++;
	}
	s->pending |= side;
	if (side == SIDE_T)
		ds_meter_sent(w->cur, s->intended, ts, len, r->cfg.max_lag_ns, !r->cfg.asap);
	w->last_send = ts;
}

static void conn_arm(struct worker *w, struct conn *k, uint32_t ci, int side, bool out)
{
	if (k->out_armed == out)
		return;
	struct epoll_event ee = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
				 .data.u64 = (uint64_t)ci << 2 | (uint64_t)(EV_TCP_T + side)};
	epoll_ctl(w->ep, EPOLL_CTL_MOD, k->fd, &ee);
	k->out_armed = out;
}

static void conn_flush(struct worker *w, struct conn *k, uint32_t ci, int side)
{
	if (k->state != CONN_OPEN)
		return;
	while (k->woff < k->wlen) {
		ssize_t n = send(k->fd, k->wbuf + k->woff, k->wlen - k->woff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* What it carried times out; the next query reconnects. */
			conn_close(w, k);
			return;
		}
		k->woff += (size_t)n;
	}
	if (k->woff == k->wlen)
		k->woff = k->wlen = 0;
	conn_arm(w, k, ci, side, k->wlen > k->woff);
}

/* Queue a TCP query (length-prefixed) on a client's connection. */
static bool conn_queue(struct conn *k, const uint8_t *p, size_t n, uint16_t id)
{
	if (k->wlen + 2 + n > k->wcap) {
		if (k->woff) {
			memmove(k->wbuf, k->wbuf + k->woff, k->wlen - k->woff);
			k->wlen -= k->woff;
			k->woff = 0;
		}
		if (k->wlen + 2 + n > k->wcap) {
			size_t nc = k->wcap ? k->wcap * 2 : 4096;
			while (nc < k->wlen + 2 + n)
				nc *= 2;
			uint8_t *nb = realloc(k->wbuf, nc);
			if (!nb)
				return false;
			k->wbuf = nb;
			k->wcap = nc;
		}
	}
	ds_wr16(k->wbuf + k->wlen, (uint16_t)n);
	memcpy(k->wbuf + k->wlen + 2, p, n);
	ds_wr16(k->wbuf + k->wlen + 2, id);
	k->wlen += 2 + n;
	return true;
}

static bool conn_full(const struct client *c)
{
	for (int s = 0; s < 2; s++)
		if (c->tc[s] && c->tc[s]->wlen - c->tc[s]->woff > TCP_WBUF_MAX)
			return true;
	return false;
}

/*
 * Send the UDP queries of client ci gathered this round: one sendmmsg,
 * with queries of equal length in one UDP GSO message each (the kernel
 * cuts it into datagrams; the server still gets one datagram per query),
 * which runs the IP stack once per group instead of once per query.
 */
static void udp_flush(struct worker *w, uint32_t ci)
{
	ds_replay_t *r = w->r;
	struct client *c = &w->cl[ci];
	unsigned per = r->diff_server ? 2 : 1;
	unsigned ni = 0, nv = 0, nm = 0;
	for (uint32_t it = c->bhead; it != NIL; it = w->bi[it].next)
		w->items[ni++] = it;
	for (unsigned k = 0; k < per; k++) {
		uint8_t side = k ? SIDE_D : SIDE_T;
		for (unsigned a = 0; a < ni; a++) {
			uint16_t len = w->bi[w->items[a]].len;
			/* Each length once, at its first query. */
			unsigned b = 0;
			while (b < a && w->bi[w->items[b]].len != len)
				b++;
			if (b < a)
				continue;
			/* A GSO message carries at most 64 KiB. */
			unsigned max = w->gso ? DS_MIN(GSO_MAX, 65000u / len) : 1;
			unsigned cnt = 0;
			for (b = a; b < ni; b++) {
				const struct bitem *bb = &w->bi[w->items[b]];
				if (bb->len != len)
					continue;
				if (cnt == 0) {
					w->mfirst[nm] = nv;
					w->mside[nm] = side;
				}
				w->siov[nv].iov_base = bb->p;
				w->siov[nv].iov_len = len;
				w->sitem[nv++] = w->items[b];
				if (++cnt == max) {
					w->mcnt[nm++] = cnt;
					cnt = 0;
				}
			}
			if (cnt)
				w->mcnt[nm++] = cnt;
		}
	}
	for (unsigned m = 0; m < nm; m++) {
		struct msghdr *mh = &w->smsg[m].msg_hdr;
		const ds_sockaddr_t *to = w->mside[m] == SIDE_D ? &r->cfg.diff_target : &r->cfg.target;
		mh->msg_iov = &w->siov[w->mfirst[m]];
		mh->msg_iovlen = w->mcnt[m];
		mh->msg_name = r->diff_server ? (void *)&to->sa : NULL;
		mh->msg_namelen = r->diff_server ? ds_addr_len(to) : 0;
		if (w->mcnt[m] > 1) {
			uint16_t seg = (uint16_t)w->siov[w->mfirst[m]].iov_len;
			mh->msg_control = w->gctl[m];
			mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		} else {
			mh->msg_control = NULL;
			mh->msg_controllen = 0;
		}
	}
	unsigned off = 0;
	for (unsigned tries = 0; off < nm && tries <= nm; tries++) {
		int64_t ts = ds_now_ns();
		int sent = sendmmsg(c->ufd, w->smsg + off, nm - off, MSG_DONTWAIT);
		if (sent <= 0) {
			/* An earlier datagram refused (ICMP) is reported by
			 * this send, which did not go out: try again. */
			if (sent < 0 && errno == ECONNREFUSED)
				continue;
			break;
		}
		for (unsigned m = off; m < off + (unsigned)sent; m++)
			for (unsigned v = w->mfirst[m]; v < w->mfirst[m] + w->mcnt[m]; v++) {
				const struct bitem *b = &w->bi[w->sitem[v]];
				mark_sent(w, b->seq, ts, b->len, w->mside[m]);
			}
		off += (unsigned)sent;
	}
	/* What our own kernel refused is lost, and counted. */
	for (unsigned m = off; m < nm; m++)
		for (unsigned v = w->mfirst[m]; v < w->mfirst[m] + w->mcnt[m]; v++) {
			const struct bitem *b = &w->bi[w->sitem[v]];
			if (w->mside[m] == SIDE_T)
				w->cur->send_errors++;
			if (w->slots[b->seq & w->smask].state == SLOT_FREE)
				slot_unsend(w, b->seq);
		}
	c->bhead = c->btail = NIL;
	c->touched = false;
}

/* Take one record: into a client's UDP round or onto its TCP connection. */
static int take(struct worker *w, struct rec *q, int64_t due, unsigned n)
{
	ds_replay_t *r = w->r;
	uint32_t ci = client_get(w, q);
	if (ci == NIL)
		return 0; /* no room: the record waits */
	if (ci == NIL - 1)
		return -1; /* socket failed: the record is dropped (counted) */
	struct client *c = &w->cl[ci];
	if (q->tcp && conn_full(c))
		return 0;
	uint16_t id = q->qlen >= 2 ? ds_rd16(q->data) : 0;
	uint64_t seq = slot_alloc(w, ci, &id);
	if (seq == UINT64_MAX)
		return 0;
	struct slot *s = &w->slots[seq & w->smask];
	s->intended = due;
	s->qhash = q->qhash;
	if (q->has_exp && q->elen) {
		s->buf = malloc(q->elen);
		if (s->buf) {
			memcpy(s->buf, q->data + q->qlen, q->elen);
			s->blen = q->elen;
			s->has_exp = true;
		}
	}
	if (q->qlen >= 2)
		ds_wr16(q->data, id);
	if (q->tcp) {
		w->tcp_q++;
		int64_t ts = ds_now_ns();
		int sides = r->diff_server ? 2 : 1;
		for (int sd = 0; sd < sides; sd++) {
			struct conn *k = c->tc[sd];
			if (!conn_queue(k, q->data, q->qlen, id))
				continue;
			mark_sent(w, seq, ts, q->qlen, sd ? SIDE_D : SIDE_T);
			conn_flush(w, k, ci, sd);
		}
		if (s->state != SLOT_OUT)
			slot_unsend(w, seq);
		return 1;
	}
	w->udp_q++;
	struct bitem *b = &w->bi[n];
	b->next = NIL;
	b->seq = seq;
	b->p = q->data;
	b->len = q->qlen;
	if (c->btail == NIL)
		c->bhead = n;
	else
		w->bi[c->btail].next = n;
	c->btail = n;
	if (!c->touched) {
		c->touched = true;
		w->touched[w->ntouched++] = ci;
	}
	return 1;
}

/*
 * Send what is due, one round of up to batch records grouped by client.
 * One round, then the answers are read: a sender firing round after round
 * overflows the target's socket buffer and its own. Returns the due time
 * of the next record (now when more is due, INT64_MAX when the ring is
 * empty, BLOCKED when no slot, client or TCP buffer has room).
 */
static int64_t send_due(struct worker *w, int64_t now)
{
	unsigned batch = w->r->cfg.batch;
	unsigned n = 0;
	int64_t next = INT64_MAX;
	uint64_t pos = w->cursor;
	bool blocked = false;
	w->ntouched = 0;
	while (n < batch) {
		uint64_t p = pos;
		struct rec *q = ring_peek(&w->ring, &p);
		if (!q)
			break;
		int64_t due = due_of(w, q, now);
		if (due > now) {
			next = due;
			break;
		}
		int t = take(w, q, due, n);
		if (t == 0) {
			blocked = true;
			break;
		}
		pos = p + q->size;
		if (t > 0)
			n++;
	}
	for (unsigned i = 0; i < w->ntouched; i++)
		udp_flush(w, w->touched[i]);
	w->ntouched = 0;
	if (pos != w->cursor) {
		w->cursor = pos;
		ring_release(&w->ring, pos);
	}
	if (blocked)
		return BLOCKED; /* an answer, a timeout or a writable socket unblocks it */
	return n < batch ? next : now;
}

/* Discard what is left to send (stopped); counts it. */
static void drain(struct worker *w)
{
	uint64_t pos = w->cursor;
	struct rec *q;
	uint64_t p = pos;
	while ((q = ring_peek(&w->ring, &p))) {
		w->unsent++;
		p += q->size;
		pos = p;
	}
	if (pos != w->cursor) {
		w->cursor = pos;
		ring_release(&w->ring, pos);
	}
}

/* ------------------------------------------------------------- receiving */

static void udp_recv(struct worker *w, uint32_t ci, int64_t off)
{
	ds_replay_t *r = w->r;
	struct client *c = &w->cl[ci];
	for (int rounds = 0; rounds < 64 && c->ufd >= 0; rounds++) {
		for (unsigned i = 0; i < RBATCH; i++) {
			w->rmsg[i].msg_hdr.msg_controllen = sizeof(w->rctl[i]);
			w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rname[i]);
			w->rmsg[i].msg_len = 0;
		}
		int n = recvmmsg(c->ufd, w->rmsg, RBATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int64_t now = ds_now_ns();
		for (int i = 0; i < n; i++) {
			int64_t rx = now;
			struct msghdr *mh = &w->rmsg[i].msg_hdr;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
				if (cm->cmsg_level != SOL_SOCKET)
					continue;
				if (cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;
					memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
					int64_t k = (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec - off;
					/* Guard against a wall clock step between samples. */
					if (k <= now && k > now - DS_NS_PER_SEC)
						rx = k;
				} else if (cm->cmsg_type == SO_RXQ_OVFL) {
					uint32_t d;
					memcpy(&d, CMSG_DATA(cm), sizeof(d));
					w->sock_drops += (uint32_t)(d - c->drops_seen);
					c->drops_seen = d;
				}
			}
			int side = SIDE_T;
			if (r->diff_server) {
				if (ds_addr_eq(&w->rname[i], &r->cfg.diff_target))
					side = SIDE_D;
				else if (!ds_addr_eq(&w->rname[i], &r->cfg.target))
					continue; /* from neither server */
			}
			if (mh->msg_flags & MSG_TRUNC) {
				if (side == SIDE_T)
					w->cur->malformed++;
				continue;
			}
			on_answer(w, ci, side, w->rbuf[i], w->rmsg[i].msg_len, rx);
		}
		if (n < RBATCH)
			return;
	}
}

static void conn_read(struct worker *w, uint32_t ci, int side)
{
	struct conn *k = w->cl[ci].tc[side];
	for (;;) {
		if (k->rcap - k->rlen < 4096) {
			size_t nc = k->rcap ? k->rcap * 2 : 8192;
			uint8_t *nb = realloc(k->rbuf, nc);
			if (!nb) {
				conn_close(w, k);
				return;
			}
			k->rbuf = nb;
			k->rcap = nc;
		}
		ssize_t n = recv(k->fd, k->rbuf + k->rlen, k->rcap - k->rlen, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			conn_close(w, k);
			return;
		}
		if (n < 0)
			return;
		k->rlen += (size_t)n;
		int64_t now = ds_now_ns();
		size_t off = 0;
		while (k->rlen - off >= 2) {
			size_t ml = ds_rd16(k->rbuf + off);
			if (k->rlen - off < 2 + ml)
				break;
			on_answer(w, ci, side ? SIDE_D : SIDE_T, k->rbuf + off + 2, ml, now);
			off += 2 + ml;
		}
		memmove(k->rbuf, k->rbuf + off, k->rlen - off);
		k->rlen -= off;
		/* A message longer than the buffer grows it on the next pass. */
		if (k->rlen >= 2 && (size_t)ds_rd16(k->rbuf) + 2 > k->rcap) {
			size_t nc = k->rcap;
			while (nc < (size_t)ds_rd16(k->rbuf) + 2 + 4096)
				nc *= 2;
			uint8_t *nb = realloc(k->rbuf, nc);
			if (!nb) {
				conn_close(w, k);
				return;
			}
			k->rbuf = nb;
			k->rcap = nc;
		}
	}
}

static void conn_event(struct worker *w, uint32_t ci, int side, uint32_t evs)
{
	if (ci >= w->maxcl || !w->cl[ci].used)
		return;
	struct conn *k = w->cl[ci].tc[side];
	if (!k || k->fd < 0)
		return;
	if (k->state == CONN_CONNECTING) {
		int e = 0;
		socklen_t sl = sizeof(e);
		getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &sl);
		if (e || (evs & (EPOLLERR | EPOLLHUP))) {
			if (side == 0)
				w->cur->conn_failed++;
			conn_close(w, k);
			return;
		}
		if (!(evs & EPOLLOUT))
			return;
		k->state = CONN_OPEN;
		w->conns_open++;
		if (side == 0)
			w->cur->conn_opened++;
		conn_flush(w, k, ci, side);
		if (k->fd < 0)
			return;
	}
	if (evs & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(w, ci, side);
	if (k->fd >= 0 && (evs & EPOLLOUT))
		conn_flush(w, k, ci, side);
}

static void handle_events(struct worker *w, int n)
{
	int64_t off = ds_wall_ns() - ds_now_ns();
	for (int i = 0; i < n; i++) {
		uint64_t d = w->evs[i].data.u64;
		uint32_t ci = (uint32_t)(d >> 2);
		switch (d & 3) {
		case EV_UDP:
			if (ci < w->maxcl && w->cl[ci].used)
				udp_recv(w, ci, off);
			break;
		case EV_TCP_T:
		case EV_TCP_D:
			conn_event(w, ci, (int)(d & 3) - EV_TCP_T, w->evs[i].events);
			break;
		default: {
			uint64_t v;
			ssize_t rd = read(w->evfd, &v, sizeof(v));
			(void)rd;
		}
		}
	}
}

/* ---------------------------------------------------------- the thread */

static void lock_meter(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
}

static void unlock_meter(struct worker *w)
{
	pthread_mutex_unlock(&w->mu);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ volatile("" ::: "memory");
#endif
}

static bool ring_empty(struct worker *w)
{
	uint64_t p = w->cursor;
	return ring_peek(&w->ring, &p) == NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	ds_replay_t *r = w->r;
	/* The default 50 us timer slack would be schedule lag. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if (r->cfg.realtime && !r->cfg.asap) {
		/* Only a timed thread: it sleeps between queries, so the
		 * kernel's real-time throttling is never what stops it. */
		struct sched_param sp = {.sched_priority = 1};
		w->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	}
	w->sending = true;
	int nev = 0;
	for (;;) {
		lock_meter(w);
		handle_events(w, nev);
		int64_t now = ds_now_ns();
		int64_t next = INT64_MAX;
		if (w->sending && (atomic_load(&r->stop) || now >= r->send_end)) {
			w->sending = false;
			int64_t zero = 0;
			atomic_compare_exchange_strong(&r->stop_at, &zero, DS_MIN(now, r->send_end));
			atomic_store(&r->stop, true);
		}
		/* Settled slots free room before sending. */
		expire(w, now);
		if (w->sending) {
			next = send_due(w, now);
			if (next == INT64_MAX && atomic_load(&r->reader_done) && ring_empty(w))
				w->sending = false;
		}
		if (!w->sending)
			drain(w);
		int64_t after = ds_now_ns();
		expire(w, after);
		bool done = !w->sending && w->nout == 0 && atomic_load(&r->reader_done) &&
			    ring_empty(w);
		unlock_meter(w);
		if (done)
			break;

		/* Sleep until the next query is due, the oldest query times out,
		 * an answer or TCP event, the reader's wake-up, or MAX_SLEEP_NS. */
		int64_t wake = after + MAX_SLEEP_NS;
		if (next < wake)
			wake = next;
		if (w->tail < w->head) {
			const struct slot *s = &w->slots[w->tail & w->smask];
			if (s->state == SLOT_OUT && s->sent + r->cfg.timeout_ns < wake)
				wake = s->sent + r->cfg.timeout_ns;
		}
		if (r->send_end < wake && w->sending)
			wake = r->send_end;
		bool idle = w->sending && next == INT64_MAX;
		if (idle) {
			atomic_store(&w->idle, 1);
			if (!ring_empty(w) || atomic_load(&r->reader_done)) {
				atomic_store(&w->idle, 0);
				wake = after;
			}
		}
		/* A timer wakes tens of microseconds late on a busy or virtual
		 * machine: wake spin_ns early and spin to the due time. */
		bool spin = w->sending && !r->cfg.asap && next != INT64_MAX && next <= wake &&
			    r->cfg.spin_ns > 0;
		int64_t sl = (spin ? next - r->cfg.spin_ns : wake) - ds_now_ns();
		if (sl < 0)
			sl = 0;
		struct timespec ts = {.tv_sec = sl / DS_NS_PER_SEC, .tv_nsec = sl % DS_NS_PER_SEC};
		nev = epoll_pwait2(w->ep, w->evs, NEVENTS, &ts, NULL);
		if (nev < 0)
			nev = 0;
		if (idle)
			atomic_store(&w->idle, 0);
		if (spin && nev == 0)
			while (ds_now_ns() < next)
				cpu_relax();
	}
	pthread_mutex_lock(&r->mu);
	r->running--;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---------------------------------------------------------- the ticker */

static void collect(ds_replay_t *r, int64_t t0, int64_t t1, bool final)
{
	ds_meter_reset(&r->iv);
	uint64_t out = 0, drops = 0;
	int64_t conns = 0;
	bool tcp = false;
	for (unsigned i = 0; i < r->nw; i++) {
		struct worker *w = &r->w[i];
		lock_meter(w);
		ds_meter_t *done = w->cur;
		w->cur = done == &w->m[0] ? &w->m[1] : &w->m[0];
		out += w->nout;
		conns += w->conns_open;
		tcp |= w->tcp_q > 0;
		drops += w->sock_drops;
		w->sock_drops = 0;
		unlock_meter(w);
		ds_meter_merge(&r->iv, done);
		ds_meter_reset(done);
	}
	r->sock_drops_total += drops;
	ds_meter_merge(&r->res.load.total, &r->iv);
	if (!r->cfg.asap && r->iv.lag.count) {
		int64_t p99 = ds_hist_quantile(&r->iv.lag, 0.99);
		if (p99 > r->res.load.lag_p99_max_ns)
			r->res.load.lag_p99_max_ns = p99;
	}
	r->res.load.intervals++;
	ds_load_snap_t snap = {
		.t_wall_ns = r->start_wall + (t0 - r->start_mono),
		.t_ns = t0 - r->start_mono,
		.dur_ns = t1 - t0,
		.target_qps = 0,
		.outstanding = out,
		.sock_drops = drops,
		.conn_active = tcp ? conns : -1,
		.m = &r->iv,
		.final = final,
	};
	if (r->cfg.on_interval)
		r->cfg.on_interval(&snap, r->cfg.user);
}

static void *ticker_main(void *arg)
{
	ds_replay_t *r = arg;
	int64_t prev = r->start_mono;
	for (int64_t k = 1;; k++) {
		int64_t t = r->start_mono + k * DS_NS_PER_SEC;
		pthread_mutex_lock(&r->mu);
		while (r->running > 0) {
			if (ds_now_ns() >= t)
				break;
			struct timespec ts = {.tv_sec = t / DS_NS_PER_SEC,
					      .tv_nsec = t % DS_NS_PER_SEC};
			pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		}
		bool done = r->running == 0;
		pthread_mutex_unlock(&r->mu);
		int64_t end = done ? DS_MIN(ds_now_ns(), t) : t;
		collect(r, prev, DS_MAX(end, prev), done);
		if (done)
			break;
		prev = t;
	}
	return NULL;
}

/* ----------------------------------------------------------------- API */

void ds_replay_cfg_init(ds_replay_cfg_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->speed = 1.0;
	cfg->loops = 1;
	cfg->diff_examples = 3;
	cfg->threads = 1;
	cfg->timeout_ns = 2 * DS_NS_PER_SEC;
	cfg->timeout_in_hist = true;
	cfg->max_lag_ns = DS_NS_PER_MS;
	cfg->window_bytes = 8u << 20;
	cfg->max_outstanding = 65536;
	cfg->batch = 0;
	cfg->spin_ns = 50 * DS_NS_PER_US;
}

static uint64_t pow2_at_least(uint64_t v)
{
	uint64_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

/* Descriptors this process may open, raising the soft limit to the hard one. */
static unsigned fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit nr = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
			rl = nr;
	}
	return rl.rlim_cur > 1u << 22 ? 1u << 22 : (unsigned)rl.rlim_cur;
}

/* Whether this kernel takes UDP GSO (UDP_SEGMENT, Linux 4.18). */
static bool gso_works(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int seg = 512;
	bool ok = fd >= 0 && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int worker_init(ds_replay_t *r, struct worker *w, unsigned idx, unsigned fd_budget,
		       ds_err_t *err)
{
	const ds_replay_cfg_t *cfg = &r->cfg;
	w->r = r;
	w->idx = idx;
	w->ep = w->evfd = -1;
	/* Priority inheritance: a real-time sender must not wait for the
	 * ticker preempted while it swaps the meters. */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&w->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	ds_meter_init(&w->m[0]);
	ds_meter_init(&w->m[1]);
	w->cur = &w->m[0];
	ds_diff_sum_init(&w->diff, cfg->diff_examples);
	w->ring.cap = pow2_at_least(cfg->window_bytes);
	w->ring.buf = aligned_alloc(64, w->ring.cap);
	w->fd_budget = fd_budget;
	w->maxcl = fd_budget;
	w->cl = calloc(w->maxcl, sizeof(*w->cl));
	w->cmask = (uint32_t)pow2_at_least((uint64_t)w->maxcl * 2) - 1;
	w->ctab = calloc((size_t)w->cmask + 1, sizeof(*w->ctab));
	uint64_t ns = pow2_at_least(cfg->max_outstanding);
	w->smask = ns - 1;
	w->slots = calloc(ns, sizeof(*w->slots));
	w->pmask = ns * 2 - 1;
	w->pidx = calloc(ns * 2, sizeof(*w->pidx));
	w->bi = calloc(MAX_BATCH, sizeof(*w->bi));
	w->touched = calloc(MAX_BATCH, sizeof(*w->touched));
	w->items = calloc(MAX_BATCH, sizeof(*w->items));
	w->sitem = calloc(2 * MAX_BATCH, sizeof(*w->sitem));
	w->mside = calloc(2 * MAX_BATCH, sizeof(*w->mside));
	w->mfirst = calloc(2 * MAX_BATCH, sizeof(*w->mfirst));
	w->mcnt = calloc(2 * MAX_BATCH, sizeof(*w->mcnt));
	w->gctl = calloc(2 * MAX_BATCH, sizeof(*w->gctl));
	w->gso = !cfg->no_gso && gso_works();
	w->smsg = calloc(2 * MAX_BATCH, sizeof(*w->smsg));
	w->siov = calloc(2 * MAX_BATCH, sizeof(*w->siov));
	w->rmsg = calloc(RBATCH, sizeof(*w->rmsg));
	w->riov = calloc(RBATCH, sizeof(*w->riov));
	w->rbuf = calloc(RBATCH, sizeof(*w->rbuf));
	w->rctl = calloc(RBATCH, sizeof(*w->rctl));
	w->rname = calloc(RBATCH, sizeof(*w->rname));
	w->evs = calloc(NEVENTS, sizeof(*w->evs));
	if (!w->ring.buf || !w->cl || !w->ctab || !w->slots || !w->pidx || !w->bi || !w->touched || !w->items || !w->sitem || !w->mside ||
	    !w->mfirst || !w->mcnt || !w->gctl ||
	    !w->smsg || !w->siov || !w->rmsg || !w->riov || !w->rbuf || !w->rctl || !w->rname ||
	    !w->evs)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	for (unsigned i = 0; i < RBATCH; i++) {
		w->riov[i].iov_base = w->rbuf[i];
		w->riov[i].iov_len = RBUF;
		w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
		w->rmsg[i].msg_hdr.msg_iovlen = 1;
		w->rmsg[i].msg_hdr.msg_control = w->rctl[i];
		w->rmsg[i].msg_hdr.msg_name = &w->rname[i];
	}
	w->free_head = NIL;
	for (uint32_t i = w->maxcl; i-- > 0;) {
		w->cl[i].next = w->free_head;
		w->cl[i].ufd = -1;
		w->free_head = i;
	}
	w->lru_head = w->lru_tail = NIL;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->ep < 0 || w->evfd < 0)
		return ds_errf(err, -errno, "epoll: %s", strerror(errno));
	struct epoll_event ee = {.events = EPOLLIN, .data.u64 = EV_WAKE};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ee) < 0)
		return ds_errf(err, -errno, "epoll: %s", strerror(errno));
	return DS_OK;
}

ds_replay_t *ds_replay_new(const ds_replay_cfg_t *cfg, ds_err_t *err)
{
	ds_replay_t *r = NULL;
	char a[DS_ADDRSTR_MAX];
	if (!cfg->files || !cfg->nfiles) {
		ds_errf(err, DS_EINVAL, "no capture file");
		return NULL;
	}
	if (!ds_addr_port(&cfg->target) || ds_addr_is_any(&cfg->target)) {
		ds_errf(err, DS_EINVAL, "the target needs an address and a port");
		return NULL;
	}
	if (cfg->diff == DS_REPLAY_DIFF_SERVER &&
	    (!ds_addr_port(&cfg->diff_target) || ds_addr_is_any(&cfg->diff_target) ||
	     ds_addr_family(&cfg->diff_target) != ds_addr_family(&cfg->target) ||
	     ds_addr_eq(&cfg->diff_target, &cfg->target))) {
		ds_errf(err, DS_EINVAL,
			"the server to diff against needs an address and a port of the target's "
			"family (IPv4 or IPv6), other than the target %s",
			ds_addr_str(&cfg->target, a, sizeof(a)));
		return NULL;
	}
	if (!(cfg->asap || (cfg->speed > 0 && isfinite(cfg->speed))) || cfg->loops < 1 ||
	    cfg->threads < 1 || cfg->threads > 256 || cfg->timeout_ns <= 0 ||
	    cfg->batch > MAX_BATCH || cfg->window_bytes < (1u << 20) ||
	    cfg->window_bytes > (1ull << 34) || cfg->max_outstanding < 1 ||
	    cfg->max_outstanding > (1u << 24) || cfg->spin_ns < 0) {
		ds_errf(err, DS_EINVAL,
			"bad replay settings (speed > 0, loops >= 1, threads 1-256, batch 1-%d, "
			"window 1 MiB-16 GiB, max outstanding 1-16M, timeout > 0)",
			MAX_BATCH);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	/* Asap: rounds big enough that a client has several queries in one
	 * sendmmsg; timed: rounds are what is due, rarely that many. */
	if (!r->cfg.batch)
		r->cfg.batch = cfg->asap ? MAX_BATCH : 256;
	if (r->cfg.pair_window_ns <= 0)
		r->cfg.pair_window_ns = r->cfg.timeout_ns;
	r->diff_capture = cfg->diff == DS_REPLAY_DIFF_CAPTURE;
	r->diff_server = cfg->diff == DS_REPLAY_DIFF_SERVER;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	ds_meter_init(&r->iv);
	ds_meter_init(&r->res.load.total);
	ds_diff_sum_init(&r->res.diff, cfg->diff_examples);
	r->res.load.lag_p99_max_ns = -1;
	r->files = calloc(cfg->nfiles, sizeof(*r->files));
	r->qbuf = malloc(DS_MSG_MAX);
	if (!r->files || !r->qbuf)
		goto nomem;
	for (size_t i = 0; i < cfg->nfiles; i++)
		if (!(r->files[i] = strdup(cfg->files[i])))
			goto nomem;
	r->cfg.files = r->files;
	if (cfg->decode.nports) {
		r->ports = calloc(cfg->decode.nports, sizeof(*r->ports));
		if (!r->ports)
			goto nomem;
		memcpy(r->ports, cfg->decode.ports, cfg->decode.nports * sizeof(*r->ports));
		r->cfg.decode.ports = r->ports;
	}
	if (r->diff_capture && !(r->pbuck = calloc(PAIR_BUCKETS, sizeof(*r->pbuck))))
		goto nomem;
	r->dec = ds_decode_open(r->files, cfg->nfiles, &cfg->decode, err);
	if (!r->dec)
		goto fail;
	r->nw = cfg->threads;
	unsigned lim = fd_limit();
	unsigned budget = lim > FD_RESERVE + r->nw * 4 ? (lim - FD_RESERVE) / r->nw : 4;
	if (cfg->max_clients && cfg->max_clients < budget)
		budget = cfg->max_clients;
	r->w = calloc(r->nw, sizeof(*r->w));
	if (!r->w)
		goto nomem;
	for (unsigned i = 0; i < r->nw; i++)
		if (worker_init(r, &r->w[i], i, budget, err) < 0)
			goto fail;
	return r;
nomem:
	ds_errf(err, DS_ENOMEM, "out of memory");
fail:
	ds_replay_free(r);
	return NULL;
}

int ds_replay_start(ds_replay_t *r, ds_err_t *err)
{
	/* The reader fills the window before the clock starts, so the first
	 * queries are not late for want of decoding. */
	int rc = pthread_create(&r->reader, NULL, reader_main, r);
	if (rc) {
		atomic_store(&r->reader_done, true);
		return ds_errf(err, -rc, "cannot start a thread: %s", strerror(rc));
	}
	r->reader_started = true;
	pthread_mutex_lock(&r->mu);
	while (!r->primed)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	r->start_wall = ds_wall_ns() + START_DELAY_NS;
	/* Time 0 is a moment ahead: the threads are up and asleep by then. */
	r->start_mono = ds_now_ns() + START_DELAY_NS;
	r->send_end = r->cfg.duration_ns > 0 ? r->start_mono + r->cfg.duration_ns : INT64_MAX;
	r->ep[0] = (struct epoch){.rel0 = 0, .mono0 = r->start_mono, .speed = r->cfg.speed};
	atomic_store(&r->nep, 1);
	r->running = r->nw;
	for (unsigned i = 0; i < r->nw; i++) {
		rc = pthread_create(&r->w[i].th, NULL, worker_main, &r->w[i]);
		if (rc) {
			pthread_mutex_lock(&r->mu);
			r->running -= r->nw - i;
			pthread_mutex_unlock(&r->mu);
			atomic_store(&r->stop, true);
			return ds_errf(err, -rc, "cannot start a thread: %s", strerror(rc));
		}
		r->w[i].started = true;
	}
	rc = pthread_create(&r->ticker, NULL, ticker_main, r);
	if (rc) {
		atomic_store(&r->stop, true);
		return ds_errf(err, -rc, "cannot start a thread: %s", strerror(rc));
	}
	r->ticker_started = true;
	return DS_OK;
}

int ds_replay_set_speed(ds_replay_t *r, double speed, ds_err_t *err)
{
	if (r->cfg.asap)
		return ds_errf(err, DS_EINVAL, "an asap replay has no speed");
	if (!(speed > 0) || !isfinite(speed))
		return ds_errf(err, DS_EINVAL, "speed must be more than 0");
	pthread_mutex_lock(&r->mu);
	unsigned n = atomic_load(&r->nep);
	if (n == 0 || n == MAX_EPOCHS) {
		pthread_mutex_unlock(&r->mu);
		return ds_errf(err, n ? DS_ERANGE : DS_EINVAL,
			       n ? "too many speed changes in one run" : "the replay has not started");
	}
	const struct epoch *e = &r->ep[n - 1];
	int64_t now = ds_now_ns();
	int64_t pos = e->rel0 + (int64_t)((double)DS_MAX(now - e->mono0, 0) * e->speed);
	r->ep[n] = (struct epoch){.rel0 = pos, .mono0 = DS_MAX(now, e->mono0), .speed = speed};
	atomic_store_explicit(&r->nep, n + 1, memory_order_release);
	pthread_mutex_unlock(&r->mu);
	return DS_OK;
}

void ds_replay_stop(ds_replay_t *r)
{
	int64_t zero = 0;
	atomic_compare_exchange_strong(&r->stop_at, &zero, ds_now_ns());
	atomic_store(&r->stop, true);
}

int64_t ds_replay_elapsed(const ds_replay_t *r)
{
	return r->start_mono ? ds_now_ns() - r->start_mono : 0;
}

int64_t ds_replay_start_wall(const ds_replay_t *r)
{
	return r->start_wall;
}

static void judge(ds_replay_t *r)
{
	ds_load_result_t *l = &r->res.load;
	const ds_meter_t *t = &l->total;
	char *why = l->invalid_reason;
	size_t wl = sizeof(l->invalid_reason);
	l->valid = true;
	l->closed_loop = r->cfg.asap;
	l->sock_drops = r->sock_drops_total;
	int64_t lag99 = t->lag.count ? ds_hist_quantile(&t->lag, 0.99) : 0;
	if (r->res.capture_errors) {
		l->valid = false;
		snprintf(why, wl, "the capture could not be read to its end: %.200s",
			 r->res.capture_error);
	} else if (l->sock_drops) {
		l->valid = false;
		snprintf(why, wl, "the replay's sockets dropped %llu answers (receive buffer full)",
			 (unsigned long long)l->sock_drops);
	} else if (t->send_errors) {
		l->valid = false;
		snprintf(why, wl, "%llu sends failed in the replay's own kernel",
			 (unsigned long long)t->send_errors);
	} else if (!r->cfg.asap && lag99 > r->cfg.max_lag_ns) {
		l->valid = false;
		snprintf(why, wl,
			 "schedule lag p99 %.3f ms exceeds the %.3f ms limit (the replay could not "
			 "keep the capture's pace)",
			 (double)lag99 / 1e6, (double)r->cfg.max_lag_ns / 1e6);
	} else {
		why[0] = 0;
	}
}

int ds_replay_wait(ds_replay_t *r)
{
	if (r->waited)
		return DS_OK;
	for (unsigned i = 0; i < r->nw; i++)
		if (r->w[i].started)
			pthread_join(r->w[i].th, NULL);
	/* Threads gone: a reader still waiting on a ring must give up. */
	atomic_store(&r->stop, true);
	if (r->reader_started)
		pthread_join(r->reader, NULL);
	if (r->ticker_started)
		pthread_join(r->ticker, NULL);
	ds_replay_result_t *res = &r->res;
	int64_t now = ds_now_ns(), last = 0;
	for (unsigned i = 0; i < r->nw; i++) {
		struct worker *w = &r->w[i];
		res->udp_queries += w->udp_q;
		res->tcp_queries += w->tcp_q;
		res->ids_changed += w->ids_changed;
		res->unsent += w->unsent;
		res->clients += w->clients;
		res->clients_evicted += w->evicted;
		res->clients_max += w->clients_max;
		res->realtime |= w->realtime;
		ds_diff_merge(&res->diff, &w->diff);
		last = DS_MAX(last, w->last_send);
	}
	int64_t stop = atomic_load(&r->stop_at);
	int64_t end = last ? last : now;
	if (stop && stop < end)
		end = stop;
	res->load.elapsed_ns = DS_MAX(end - r->start_mono, 1);
	res->load.run_ns = now - r->start_mono;
	/* Stopped means ds_replay_stop() before the end: the capture's end and
	 * the duration are both a complete run. */
	res->load.end = stop && stop < r->send_end ? DS_LOAD_END_STOPPED
							      : DS_LOAD_END_DURATION;
	judge(r);
	r->waited = true;
	return DS_OK;
}

const ds_replay_result_t *ds_replay_result(const ds_replay_t *r)
{
	return &r->res;
}

static void worker_free(struct worker *w)
{
	if (!w->r)
		return;
	for (uint32_t i = 0; w->cl && i < w->maxcl; i++)
		if (w->cl[i].used)
			client_drop(w, i);
	for (uint64_t i = 0; w->slots && i <= w->smask; i++)
		free(w->slots[i].buf);
	if (w->ep >= 0)
		close(w->ep);
	if (w->evfd >= 0)
		close(w->evfd);
	free(w->ring.buf);
	free(w->cl);
	free(w->ctab);
	free(w->slots);
	free(w->pidx);
	free(w->bi);
	free(w->touched);
	free(w->items);
	free(w->sitem);
	free(w->mside);
	free(w->mfirst);
	free(w->mcnt);
	free(w->gctl);
	free(w->smsg);
	free(w->siov);
	free(w->rmsg);
	free(w->riov);
	free(w->rbuf);
	free(w->rctl);
	free(w->rname);
	free(w->evs);
	ds_meter_free(&w->m[0]);
	ds_meter_free(&w->m[1]);
	ds_diff_sum_free(&w->diff);
	pthread_mutex_destroy(&w->mu);
}

void ds_replay_free(ds_replay_t *r)
{
	if (!r)
		return;
	if (r->ticker_started || r->reader_started || (r->w && r->nw && r->w[0].started)) {
		ds_replay_stop(r);
		ds_replay_wait(r);
	}
	for (unsigned i = 0; r->w && i < r->nw; i++)
		worker_free(&r->w[i]);
	free(r->w);
	while (r->phead) {
		struct pq *p = r->phead;
		r->phead = p->fnext;
		free(p->resp);
		free(p);
	}
	free(r->pbuck);
	ds_decode_close(r->dec);
	for (size_t i = 0; r->files && i < r->cfg.nfiles; i++)
		free((void *)r->files[i]);
	free(r->files);
	free(r->ports);
	free(r->qbuf);
	ds_meter_free(&r->iv);
	ds_meter_free(&r->res.load.total);
	ds_diff_sum_free(&r->res.diff);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

/* ------------------------------------------------------------------ JSON */

static void jnum(cJSON *o, const char *k, double v)
{
	cJSON_AddNumberToObject(o, k, v);
}

cJSON *ds_replay_result_json(const ds_replay_result_t *res)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	jnum(o, "passes", res->passes);
	jnum(o, "queries_read", (double)res->queries);
	jnum(o, "filtered", (double)res->filtered);
	jnum(o, "rewritten", (double)res->rewritten);
	jnum(o, "unrewritable", (double)res->unrewritable);
	jnum(o, "udp_queries", (double)res->udp_queries);
	jnum(o, "tcp_queries", (double)res->tcp_queries);
	jnum(o, "ids_changed", (double)res->ids_changed);
	jnum(o, "reordered", (double)res->reordered);
	jnum(o, "unsent", (double)res->unsent);
	jnum(o, "clients", (double)res->clients);
	jnum(o, "clients_evicted", (double)res->clients_evicted);
	jnum(o, "clients_max_open", res->clients_max);
	cJSON_AddBoolToObject(o, "realtime", res->realtime);
	jnum(o, "paired", (double)res->paired);
	jnum(o, "unpaired_responses", (double)res->unpaired_responses);
	return o;
}
