/* SPDX-License-Identifier: MIT */
/*
 * The load engine: sending threads plus a ticker thread that cuts the run
 * into one-second intervals.
 *
 * Each sending thread owns its sockets, its schedule and its meter; the
 * only shared state on the hot path is the meter swap with the ticker
 * (a mutex the thread holds while it works and releases while it sleeps).
 *
 * Answer times come from the kernel (SO_TIMESTAMPNS) for UDP, so the
 * thread may sleep until its next send without polling for answers and
 * still time them to the microsecond: that is what lets one wake-up send
 * and receive whole batches (sendmmsg/recvmmsg) at high rates.
 */
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <math.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/rand.h"
#include "lib/wire.h"
#include "loadgen/load.h"
#include "loadgen/sched.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

#define NSLOT 65536u
#define MAX_BATCH 1024
/* Sockets a thread may add when every query ID of the others is in use. */
#define MAX_CHANS 256
#define RBUF 4096
#define TCP_RBUF (2 + 65535 + RBUF)
/* Longest sleep, so stop requests and profile changes are seen promptly. */
#define MAX_SLEEP_NS (5 * DS_NS_PER_MS)
#define TCP_RETRY_NS (100 * DS_NS_PER_MS)
#define TCP_WBUF_MAX (256 * 1024)

enum { SLOT_FREE, SLOT_OUT, SLOT_TIMEDOUT, SLOT_DONE };
enum { CH_CLOSED, CH_CONNECTING, CH_OPEN, CH_DRAINING };

struct slot {
	uint64_t qhash;
	int64_t intended;
	int64_t sent;
	uint32_t state;
};

/* A UDP socket or a TCP connection with its 64K query IDs. */
struct chan {
	int fd;
	int state;
	uint16_t id_base;
	uint64_t head, tail; /* next sequence number to use; oldest not settled */
	uint64_t nout;       /* SLOT_OUT slots */
	uint64_t nq;         /* TCP: queries sent on this connection */
	int64_t retry_at;    /* TCP: next connect attempt */
	struct slot *slots;
	uint32_t drops_seen; /* SO_MEMINFO drops already reported */
	uint8_t *wbuf;       /* TCP */
	size_t wlen, woff;
	uint8_t *rbuf;
	size_t rlen;
};

/* One epoch of the schedule: a profile from origin on. */
struct epoch {
	ds_profile_t *p;
	int64_t origin;
};

#define MAX_EPOCHS 1024

struct worker {
	ds_load_t *l;
	unsigned idx;
	pthread_t th;
	bool started;
	struct chan *ch;
	unsigned nch, nbase, rr;
	ds_sched_t sched;
	unsigned epoch_seen;
	unsigned qsrc_gen_seen;
	ds_qstream_t qs;
	uint64_t closed_limit;
	pthread_mutex_t mu;
	ds_meter_t m[2];
	ds_meter_t *cur;
	uint64_t nout; /* all channels */
	int64_t conn_active;
	/* batch buffers */
	ds_qsrc_query_t *q;
	int64_t *due;
	size_t ncarry;
	uint8_t (*sbuf)[DS_UDP_MIN];
	struct iovec *siov;
	struct mmsghdr *smsg;
	uint8_t (*rbuf)[RBUF];
	struct iovec *riov;
	struct mmsghdr *rmsg;
	uint8_t (*rctl)[64];
	struct pollfd *pfd;
	/* UDP GSO: queries of one length concatenated, one message per group */
	bool gso;
	uint8_t *gbuf;
	struct iovec *giov;
	struct mmsghdr *gmsg;
	uint8_t (*gctl)[CMSG_SPACE(sizeof(uint16_t))];
	uint16_t *gseg, *gcnt, *gmember;
	uint64_t iter;
	int64_t last_send; /* last send wake-up, for the coalescing window */
	bool sending;
};

struct ds_load {
	ds_load_cfg_t cfg;
	struct worker *w;
	unsigned nw;
	pthread_t ticker;
	bool ticker_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned running;
	struct epoch ep[MAX_EPOCHS];
	atomic_uint nep;
	const ds_qsrc_t *qsrc;
	atomic_uint qsrc_gen;
	atomic_bool stop;
	int64_t start_mono, start_wall, send_end;
	_Atomic int64_t stop_at;
	ds_meter_t iv;
	ds_load_result_t res;
	uint64_t snmp_rcvbuf0;
	uint64_t sock_drops_total;
	bool waited;
};

/* ------------------------------------------------------------ helpers */

static uint64_t qhash_flat(const uint8_t *name, size_t len, uint16_t qtype)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];
		if (c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 0x100000001b3ULL;
	}
	h = (h ^ (qtype >> 8)) * 0x100000001b3ULL;
	return (h ^ (qtype & 0xff)) * 0x100000001b3ULL;
}

/*
 * Hash of an answer's question, the same way as the query's; class must
 * be IN. Returns false when the answer is too broken to match.
 */
static bool answer_question(const uint8_t *p, size_t n, uint64_t *h)
{
	size_t pos = DS_HDR_LEN;
	if (ds_rd16(p + 4) != 1)
		return false;
	while (pos < n) {
		uint8_t l = p[pos];
		if (l == 0)
			break;
		if (l > DS_LABEL_MAX) /* compression in a question: not ours */
			return false;
		pos += 1u + l;
	}
	if (pos + 5 > n || pos - DS_HDR_LEN + 1 > DS_NAME_MAX)
		return false;
	size_t nl = pos - DS_HDR_LEN + 1;
	uint16_t qt = ds_rd16(p + pos + 1);
	if (ds_rd16(p + pos + 3) != DS_CLASS_IN)
		return false;
	*h = qhash_flat(p + DS_HDR_LEN, nl, qt);
	return true;
}

static uint64_t snmp_rcvbuf_errors(void)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	char hdr[1024], val[1024];
	uint64_t v = 0;
	if (!f)
		return 0;
	while (fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		if (strncmp(hdr, "Udp:", 4))
			continue;
		char *sh = NULL, *sv = NULL;
		char *a = strtok_r(hdr, " \n", &sh), *b = strtok_r(val, " \n", &sv);
		while (a && b) {
			if (!strcmp(a, "RcvbufErrors"))
				v = strtoull(b, NULL, 10);
			a = strtok_r(NULL, " \n", &sh);
			b = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return v;
}

static uint32_t sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t sl = sizeof(mi);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &sl) < 0 ||
	    sl < sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

/* ----------------------------------------------------------- channels */

static int chan_alloc(struct chan *c, bool tcp)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->slots = calloc(NSLOT, sizeof(struct slot));
	if (!c->slots)
		return DS_ENOMEM;
	c->id_base = (uint16_t)ds_rand64();
	if (tcp) {
		c->wbuf = malloc(TCP_WBUF_MAX + 2 + DS_MSG_MAX);
		c->rbuf = malloc(TCP_RBUF);
		if (!c->wbuf || !c->rbuf)
			return DS_ENOMEM;
	}
	return DS_OK;
}

static void chan_free(struct chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->slots);
	free(c->wbuf);
	free(c->rbuf);
}

static int udp_open(const ds_load_cfg_t *cfg, ds_err_t *err)
{
	char a[DS_ADDRSTR_MAX];
	int fd = socket(ds_addr_family(&cfg->target), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ds_errf(err, -errno, "socket: %s", strerror(errno));
	int one = 1, sz = cfg->rcvbuf;
	/* FORCE lifts the rmem_max cap when we may; fall back quietly. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (connect(fd, &cfg->target.sa, ds_addr_len(&cfg->target)) < 0) {
		int e = errno;
		close(fd);
		return ds_errf(err, -e, "connect %s: %s",
			       ds_addr_str(&cfg->target, a, sizeof(a)), strerror(e));
	}
	return fd;
}

/* ------------------------------------------------------------- worker */

static void lock_meter(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
}

static void unlock_meter(struct worker *w)
{
	pthread_mutex_unlock(&w->mu);
}

/* Apply a profile change or a new query source once it is published. */
static void worker_follow(struct worker *w)
{
	ds_load_t *l = w->l;
	unsigned gen = atomic_load_explicit(&l->qsrc_gen, memory_order_acquire);
	if (gen != w->qsrc_gen_seen) {
		pthread_mutex_lock(&l->mu);
		const ds_qsrc_t *src = l->qsrc;
		gen = atomic_load(&l->qsrc_gen);
		pthread_mutex_unlock(&l->mu);
		/* Keep the draw position so streams stay disjoint across changes. */
		uint64_t g = w->qs.g;
		ds_qsrc_stream(&w->qs, src, 0, w->qs.stride);
		w->qs.g = g;
		w->qsrc_gen_seen = gen;
	}
	if (l->cfg.max_outstanding && !l->cfg.profile)
		return;
	unsigned ne = atomic_load_explicit(&l->nep, memory_order_acquire);
	if (ne == w->epoch_seen)
		return;
	/* Queries of the old profile due before the switch are still sent
	 * (they are late already); the new one starts at its origin. */
	const struct epoch *e = &l->ep[ne - 1];
	if (ds_sched_peek(&w->sched) < e->origin)
		return;
	unsigned total = l->nw * l->cfg.shard_count;
	unsigned index = l->cfg.shard_index * l->nw + w->idx;
	ds_sched_init(&w->sched, e->p, e->origin, l->send_end, index, total, l->cfg.poisson,
		      l->cfg.seed + ne);
	w->epoch_seen = ne;
}

static int64_t settle_deadline(const struct worker *w)
{
	int64_t d = INT64_MAX;
	for (unsigned i = 0; i < w->nch; i++) {
		const struct chan *c = &w->ch[i];
		if (c->nout == 0)
			continue;
		for (uint64_t s = c->tail; s < c->head; s++) {
			const struct slot *sl = &c->slots[s & (NSLOT - 1)];
			if (sl->state == SLOT_OUT) {
				int64_t t = sl->sent + w->l->cfg.timeout_ns;
				if (t < d)
					d = t;
				break;
			}
		}
	}
	return d;
}

static void expire(struct worker *w, struct chan *c, int64_t now)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	while (c->tail < c->head) {
		struct slot *s = &c->slots[c->tail & (NSLOT - 1)];
		if (s->state == SLOT_OUT) {
			if (now - s->sent < cfg->timeout_ns)
				break;
			s->state = SLOT_TIMEDOUT;
			c->nout--;
			w->nout--;
			ds_meter_timeout(w->cur, cfg->timeout_ns, cfg->timeout_in_hist);
		}
		c->tail++;
	}
}

/* Every query still out on c is lost (connection gone). */
static void expire_all(struct worker *w, struct chan *c)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	for (; c->tail < c->head; c->tail++) {
		struct slot *s = &c->slots[c->tail & (NSLOT - 1)];
		if (s->state != SLOT_OUT)
			continue;
		s->state = SLOT_TIMEDOUT;
		c->nout--;
		w->nout--;
		ds_meter_timeout(w->cur, cfg->timeout_ns, cfg->timeout_in_hist);
	}
}

/* Match one answer on c received at rx (monotonic ns). */
static void answer(struct worker *w, struct chan *c, const uint8_t *p, size_t n, int64_t rx)
{
	ds_meter_t *m = w->cur;
	uint64_t h;
	if (n < DS_HDR_LEN || !(ds_rd16(p + 2) & DS_FLAG_QR) || !answer_question(p, n, &h)) {
		m->malformed++;
		return;
	}
	uint16_t id = ds_rd16(p);
	uint16_t flags = ds_rd16(p + 2);
	uint64_t seq = (uint16_t)(id - c->id_base);
	struct slot *s = &c->slots[seq];
	if (s->qhash != h || s->state == SLOT_FREE || s->state == SLOT_DONE) {
		m->mismatched++;
		return;
	}
	if (s->state == SLOT_TIMEDOUT) {
		m->late++;
		m->bytes_recv += n;
		s->state = SLOT_DONE;
		return;
	}
	s->state = SLOT_DONE;
	c->nout--;
	w->nout--;
	if (rx - s->sent >= w->l->cfg.timeout_ns) {
		/* It arrived after the deadline and merely waited in our buffer. */
		m->late++;
		ds_meter_timeout(m, w->l->cfg.timeout_ns, w->l->cfg.timeout_in_hist);
		return;
	}
	ds_meter_answer(m, s->intended, s->sent, rx, DS_RCODE(flags), flags & DS_FLAG_TC,
			(uint32_t)n);
}

static void udp_recv(struct worker *w, struct chan *c, int64_t off)
{
	unsigned b = w->l->cfg.batch;
	for (int rounds = 0; rounds < 64; rounds++) {
		for (unsigned i = 0; i < b; i++) {
			w->rmsg[i].msg_hdr.msg_controllen = sizeof(w->rctl[i]);
			w->rmsg[i].msg_len = 0;
		}
		int r = recvmmsg(c->fd, w->rmsg, b, MSG_DONTWAIT, NULL);
		if (r <= 0)
			return; /* EAGAIN, or a refused earlier datagram reported here */
		int64_t now = ds_now_ns();
		for (int i = 0; i < r; i++) {
			int64_t rx = now;
			struct msghdr *mh = &w->rmsg[i].msg_hdr;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;
					memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
					int64_t k = (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec - off;
					/* Guard against a wall clock step between samples. */
					if (k <= now && k > now - DS_NS_PER_SEC)
						rx = k;
				}
			}
			answer(w, c, w->rbuf[i], w->rmsg[i].msg_len, rx);
		}
		if ((unsigned)r < b)
			return;
	}
}

/* A channel that can take n more queries, adding a socket if needed. */
static struct chan *pick_udp(struct worker *w, unsigned n)
{
	for (unsigned k = 0; k < w->nbase; k++) {
		struct chan *c = &w->ch[(w->rr + k) % w->nbase];
		if (c->head - c->tail + n <= NSLOT) {
			w->rr = (w->rr + k + 1) % w->nbase;
			return c;
		}
	}
	/* Every ID of the base sockets is taken (a lost query pins the
	 * window for the timeout): spill to extra sockets. */
	for (unsigned i = w->nbase; i < w->nch; i++)
		if (w->ch[i].head - w->ch[i].tail + n <= NSLOT)
			return &w->ch[i];
	if (w->nch == MAX_CHANS)
		return NULL;
	struct chan *c = &w->ch[w->nch];
	if (chan_alloc(c, false) < 0) {
		chan_free(c);
		return NULL;
	}
	c->fd = udp_open(&w->l->cfg, NULL);
	if (c->fd < 0) {
		chan_free(c);
		return NULL;
	}
	w->nch++;
	return c;
}

static size_t build_query(struct worker *w, uint8_t *buf, size_t cap, uint16_t id,
			  const ds_qsrc_query_t *q)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	ds_wbuf_t wb;
	ds_wb_init(&wb, buf, cap);
	ds_wb_query(&wb, id, cfg->rd ? DS_FLAG_RD : 0, q->name, q->qtype, DS_CLASS_IN);
	if (cfg->edns || cfg->dnssec_ok) {
		ds_wb_section(&wb, DS_SEC_ADDITIONAL);
		ds_wb_opt(&wb, (uint16_t)(cfg->edns ? cfg->edns : 1232), 0, 0, cfg->dnssec_ok);
	}
	int len = ds_wb_finish(&wb);
	return len > 0 ? (size_t)len : 0;
}

/*
 * Fill w->due/w->q up to max entries (after the carried ones): due queries
 * (open loop) or as many as the closed-loop window allows.
 */
static size_t gather(struct worker *w, int64_t now, size_t max)
{
	size_t n = w->ncarry;
	const ds_load_cfg_t *cfg = &w->l->cfg;
	if (!cfg->profile) {
		uint64_t room = w->closed_limit > w->nout ? w->closed_limit - w->nout : 0;
		while (n < max && room > n - w->ncarry) {
			w->due[n] = now;
			ds_qsrc_next(&w->qs, &w->q[n]);
			n++;
		}
		return n;
	}
	while (n < max) {
		worker_follow(w);
		if (ds_sched_peek(&w->sched) > now)
			break;
		w->due[n] = ds_sched_pop(&w->sched);
		ds_qsrc_next(&w->qs, &w->q[n]);
		n++;
	}
	return n;
}

static void mark_sent(struct worker *w, struct chan *c, size_t i, int64_t ts, bool closed)
{
	struct slot *sl = &c->slots[(c->head + i) & (NSLOT - 1)];
	sl->sent = ts;
	if (closed)
		sl->intended = ts;
	sl->state = SLOT_OUT;
	ds_meter_sent(w->cur, sl->intended, ts, (uint32_t)w->siov[i].iov_len, w->l->cfg.max_lag_ns,
		      !closed);
	c->nout++;
	w->nout++;
}

/* Move the unsent queries (sent[i] false) to the front as the carry. */
static void carry_unsent(struct worker *w, const bool *sent, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (sent[i])
			continue;
		w->due[k] = w->due[i];
		if (k != i)
			w->q[k] = w->q[i];
		k++;
	}
	w->ncarry = k;
}

/*
 * Send the n built queries as UDP GSO datagrams: the queries of one
 * length are concatenated into one buffer that the kernel cuts into
 * datagrams (UDP_SEGMENT). The IP stack then runs once per length
 * instead of once per query, which is most of a loopback send's cost;
 * the server still receives one datagram per query. Returns the errno
 * that stopped it (0 when all went), and fills sent[].
 */
static int send_gso(struct worker *w, struct chan *c, size_t n, bool closed, bool *sent)
{
	size_t ng = 0, off = 0;
	uint16_t lens[MAX_BATCH];
	size_t nl = 0;
	/* The lengths present, then one group (at most 64 segments, the
	 * kernel's limit) per length. */
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < nl && lens[k] != w->siov[i].iov_len)
			k++;
		if (k == nl)
			lens[nl++] = (uint16_t)w->siov[i].iov_len;
	}
	for (size_t k = 0; k < nl; k++) {
		size_t cnt = 0;
		for (size_t i = 0; i < n; i++) {
			if (w->siov[i].iov_len != lens[k])
				continue;
			if (cnt == 0)
				w->giov[ng].iov_base = w->gbuf + off;
			memcpy(w->gbuf + off, w->sbuf[i], lens[k]);
			off += lens[k];
			w->gmember[i] = (uint16_t)ng;
			if (++cnt == 64) {
				w->giov[ng].iov_len = cnt * lens[k];
				w->gseg[ng] = lens[k];
				w->gcnt[ng] = (uint16_t)cnt;
				ng++;
				cnt = 0;
			}
		}
		if (cnt) {
			w->giov[ng].iov_len = cnt * lens[k];
			w->gseg[ng] = lens[k];
			w->gcnt[ng] = (uint16_t)cnt;
			ng++;
		}
	}
	for (size_t g = 0; g < ng; g++) {
		struct msghdr *mh = &w->gmsg[g].msg_hdr;
		mh->msg_iov = &w->giov[g];
		mh->msg_iovlen = 1;
		if (w->gcnt[g] > 1) {
			mh->msg_control = w->gctl[g];
			mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			memcpy(CMSG_DATA(cm), &w->gseg[g], sizeof(uint16_t));
		} else {
			mh->msg_control = NULL;
			mh->msg_controllen = 0;
		}
	}
	bool gsent[MAX_BATCH];
	memset(gsent, 0, ng * sizeof(bool));
	size_t done = 0;
	int e = 0;
	for (unsigned tries = 0; done < ng && tries <= ng; tries++) {
		int64_t ts = ds_now_ns();
		int r = sendmmsg(c->fd, w->gmsg + done, (unsigned)(ng - done), MSG_DONTWAIT);
		if (r <= 0) {
			e = errno;
			if (r < 0 && e == ECONNREFUSED)
				continue;
			break;
		}
		for (size_t g = done; g < done + (size_t)r; g++)
			gsent[g] = true;
		for (size_t i = 0; i < n; i++)
			if (!sent[i] && gsent[w->gmember[i]]) {
				sent[i] = true;
				mark_sent(w, c, i, ts, closed);
			}
		done += (size_t)r;
		e = 0;
	}
	return done == ng ? 0 : e;
}

static void udp_send(struct worker *w, int64_t now)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	bool closed = !cfg->profile;
	bool sent[MAX_BATCH];
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t n = gather(w, now, cfg->batch);
		if (n == 0)
			return;
		struct chan *c = pick_udp(w, (unsigned)n);
		if (!c) {
			w->cur->drops += n;
			w->ncarry = 0;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t seq = c->head + i;
			uint16_t id = (uint16_t)(c->id_base + seq);
			size_t len = build_query(w, w->sbuf[i], sizeof(w->sbuf[i]), id, &w->q[i]);
			w->siov[i].iov_len = len;
			struct slot *s = &c->slots[seq & (NSLOT - 1)];
			s->qhash = qhash_flat(w->q[i].name, w->q[i].len, w->q[i].qtype);
			s->intended = w->due[i];
			s->state = SLOT_FREE;
			sent[i] = false;
		}
		int e = 0;
		bool gso = w->gso && n > 1;
		if (gso) {
			e = send_gso(w, c, n, closed, sent);
			if (e == EINVAL || e == EIO || e == EOPNOTSUPP) {
				/* No UDP GSO here (old kernel, odd device): plain sends from now on. */
				w->gso = gso = false;
				e = 0;
			}
		}
		size_t off = 0;
		while (off < n && sent[off])
			off++;
		for (unsigned tries = 0; off < n && !gso && tries <= n; tries++) {
			int64_t ts = ds_now_ns();
			int r = sendmmsg(c->fd, w->smsg + off, (unsigned)(n - off), MSG_DONTWAIT);
			if (r <= 0) {
				e = errno;
				/* A refused earlier datagram (ICMP port unreachable)
				 * is reported by the next send, which did not go
				 * out; the error is cleared now, so try again. */
				if (r < 0 && e == ECONNREFUSED)
					continue;
				break;
			}
			for (size_t i = off; i < off + (size_t)r; i++) {
				sent[i] = true;
				mark_sent(w, c, i, ts, closed);
			}
			off += (size_t)r;
			e = 0;
		}
		/* Unsent queries leave free slots behind: IDs are cheap. */
		c->head += n;
		size_t nsent = 0;
		for (size_t i = 0; i < n; i++)
			nsent += sent[i];
		if (nsent == n) {
			w->ncarry = 0;
			continue;
		}
		size_t first = 0;
		while (sent[first])
			first++;
		if (e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS && e != ECONNREFUSED) {
			/* The generator's own kernel said no: not the server's fault. */
			w->cur->send_errors++;
			sent[first] = true;
		}
		/* Keep the rest, with their intended times, for the next wake. */
		carry_unsent(w, sent, n);
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
			return;
	}
}

/* ---------------------------------------------------------------- TCP */

static void tcp_close(struct worker *w, struct chan *c)
{
	expire_all(w, c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CH_CLOSED;
	c->wlen = c->woff = c->rlen = 0;
	c->nq = 0;
}

static void tcp_connect(struct worker *w, struct chan *c, int64_t now)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	int fd = socket(ds_addr_family(&cfg->target), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		w->cur->conn_failed++;
		c->retry_at = now + TCP_RETRY_NS;
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &cfg->target.sa, ds_addr_len(&cfg->target)) < 0 && errno != EINPROGRESS) {
		close(fd);
		w->cur->conn_failed++;
		c->retry_at = now + TCP_RETRY_NS;
		return;
	}
	c->fd = fd;
	c->state = CH_CONNECTING;
	c->head = c->tail = 0;
	c->id_base = (uint16_t)ds_rand64();
}

/* Keep `nbase` connections able to take queries; retire drained ones. */
static void tcp_maintain(struct worker *w, int64_t now)
{
	unsigned active = 0;
	for (unsigned i = 0; i < w->nch; i++) {
		struct chan *c = &w->ch[i];
		if (c->state == CH_DRAINING && c->nout == 0 && c->wlen == c->woff)
			tcp_close(w, c);
		if (c->state == CH_CONNECTING || c->state == CH_OPEN)
			active++;
	}
	for (unsigned i = 0; i < w->nch && active < w->nbase && w->sending; i++) {
		struct chan *c = &w->ch[i];
		if (c->state != CH_CLOSED || c->retry_at > now)
			continue;
		tcp_connect(w, c, now);
		if (c->state == CH_CONNECTING)
			active++;
	}
	w->conn_active = 0;
	for (unsigned i = 0; i < w->nch; i++)
		w->conn_active += w->ch[i].state == CH_OPEN || w->ch[i].state == CH_DRAINING;
}

static void tcp_flush(struct worker *w, struct chan *c)
{
	while (c->woff < c->wlen) {
		ssize_t r = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				tcp_close(w, c);
			return;
		}
		c->woff += (size_t)r;
	}
	c->woff = c->wlen = 0;
}

static void tcp_send(struct worker *w, int64_t now)
{
	const ds_load_cfg_t *cfg = &w->l->cfg;
	bool closed = !cfg->profile;
	bool waiting = false;
	for (unsigned i = 0; i < w->nch; i++)
		waiting |= w->ch[i].state == CH_CONNECTING || w->ch[i].state == CH_OPEN;
	for (int rounds = 0; rounds < 16; rounds++) {
		struct chan *c = NULL;
		for (unsigned k = 0; k < w->nch && !c; k++) {
			struct chan *x = &w->ch[(w->rr + k) % w->nch];
			if (x->state == CH_OPEN && x->wlen < TCP_WBUF_MAX &&
			    x->head - x->tail + cfg->batch <= NSLOT)
				c = x;
		}
		if (!c) {
			if (waiting)
				return; /* connecting: the queries wait, their lag shows it */
			/* No connection can be made: the target refuses. */
			size_t n = gather(w, now, cfg->batch);
			w->cur->refused += n;
			w->ncarry = 0;
			if (n < cfg->batch)
				return;
			continue;
		}
		w->rr = (unsigned)(c - w->ch + 1) % w->nch;
		size_t max = cfg->batch;
		if (cfg->queries_per_conn && c->nq + max > cfg->queries_per_conn)
			max = cfg->queries_per_conn - c->nq;
		size_t n = gather(w, now, max);
		if (n == 0)
			return;
		int64_t ts = ds_now_ns();
		for (size_t i = 0; i < n; i++) {
			uint64_t seq = c->head;
			uint16_t id = (uint16_t)(c->id_base + seq);
			size_t len = build_query(w, c->wbuf + c->wlen + 2, DS_MSG_MAX, id, &w->q[i]);
			ds_wr16(c->wbuf + c->wlen, (uint16_t)len);
			c->wlen += 2 + len;
			struct slot *s = &c->slots[seq & (NSLOT - 1)];
			s->qhash = qhash_flat(w->q[i].name, w->q[i].len, w->q[i].qtype);
			s->intended = closed ? ts : w->due[i];
			s->sent = ts;
			s->state = SLOT_OUT;
			c->head++;
			c->nout++;
			w->nout++;
			c->nq++;
			ds_meter_sent(w->cur, s->intended, ts, (uint32_t)len, cfg->max_lag_ns, !closed);
		}
		w->ncarry = 0;
		if (cfg->queries_per_conn && c->nq >= cfg->queries_per_conn)
			c->state = CH_DRAINING;
		tcp_flush(w, c);
		if (n < max)
			return;
	}
}

static void tcp_read(struct worker *w, struct chan *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, TCP_RBUF - c->rlen, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			tcp_close(w, c);
			return;
		}
		if (r < 0)
			return;
		c->rlen += (size_t)r;
		int64_t now = ds_now_ns();
		size_t off = 0;
		while (c->rlen - off >= 2) {
			size_t ml = ds_rd16(c->rbuf + off);
			if (c->rlen - off < 2 + ml)
				break;
			answer(w, c, c->rbuf + off + 2, ml, now);
			off += 2 + ml;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void tcp_poll_events(struct worker *w)
{
	for (unsigned i = 0; i < w->nch; i++) {
		struct chan *c = &w->ch[i];
		short re = w->pfd[i].revents;
		w->pfd[i].revents = 0;
		if (c->fd < 0 || w->pfd[i].fd != c->fd || !re)
			continue;
		if (c->state == CH_CONNECTING) {
			int e = 0;
			socklen_t sl = sizeof(e);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &sl);
			if (e) {
				w->cur->conn_failed++;
				tcp_close(w, c);
				c->retry_at = ds_now_ns() + TCP_RETRY_NS;
				continue;
			}
			if (re & POLLOUT) {
				c->state = CH_OPEN;
				w->cur->conn_opened++;
			}
			continue;
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			tcp_read(w, c);
		if (c->fd >= 0 && (re & POLLOUT))
			tcp_flush(w, c);
	}
}

/* ------------------------------------------------------------ threads */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	ds_load_t *l = w->l;
	const ds_load_cfg_t *cfg = &l->cfg;
	bool tcp = cfg->tcp;
	/* The default 50 us timer slack would be schedule lag. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	w->sending = true;
	int64_t stop_t = INT64_MAX;
	for (;;) {
		int64_t now = ds_now_ns();
		if (w->sending && (now >= l->send_end || atomic_load(&l->stop))) {
			stop_t = DS_MIN(now, l->send_end);
			int64_t at = atomic_load(&l->stop_at);
			if (at && at < stop_t)
				stop_t = at;
			if (cfg->profile) {
				/* Whatever fell due before the end or the stop still
				 * goes out: the coalescing window, or a wait for the
				 * CPU, may have slept past it. Only what cannot be
				 * sent now counts as never sent. */
				lock_meter(w);
				if (tcp)
					tcp_send(w, stop_t - 1);
				else
					udp_send(w, stop_t - 1);
				unlock_meter(w);
			}
			w->sending = false;
			lock_meter(w);
			if (cfg->profile) {
				/* Queries due before the stop that never went out. The
				 * constant schedule knows their number; a Poisson one
				 * is walked, as its expectation is not its count. */
				uint64_t miss = w->ncarry;
				if (!cfg->poisson) {
					double m = ds_sched_expected(&w->sched, stop_t) -
						   (double)w->sched.popped;
					if (m >= 1)
						miss += (uint64_t)m;
				} else {
					while (ds_sched_peek(&w->sched) < stop_t) {
						ds_sched_pop(&w->sched);
						miss++;
					}
				}
				w->cur->drops += miss;
			}
			w->ncarry = 0;
			for (unsigned i = 0; tcp && i < w->nch; i++)
				if (w->ch[i].state == CH_OPEN || w->ch[i].state == CH_CONNECTING)
					w->ch[i].state = w->ch[i].state == CH_OPEN ? CH_DRAINING
										  : CH_CLOSED;
			unlock_meter(w);
		}
		lock_meter(w);
		if (tcp) {
			tcp_poll_events(w);
			tcp_maintain(w, now);
		}
		if (w->sending &&
		    (!cfg->profile || now >= w->last_send + cfg->coalesce_ns || w->ncarry)) {
			if (tcp)
				tcp_send(w, now);
			else
				udp_send(w, now);
			w->last_send = now;
		}
		int64_t off = ds_wall_ns() - ds_now_ns();
		w->iter++;
		for (unsigned i = 0; !tcp && i < w->nch; i++)
			/* Idle sockets are read now and then for late answers. */
			if (w->ch[i].nout || (w->iter & 63) == 0 || !w->sending)
				udp_recv(w, &w->ch[i], off);
		int64_t after = ds_now_ns();
		for (unsigned i = 0; i < w->nch; i++)
			expire(w, &w->ch[i], after);
		if (tcp)
			tcp_maintain(w, after);
		bool done = !w->sending && w->nout == 0;
		unlock_meter(w);
		if (done)
			break;

		/* Sleep until the next send is due (plus the coalescing window),
		 * the next timeout, or MAX_SLEEP_NS. */
		int64_t wake = after + MAX_SLEEP_NS;
		if (w->sending) {
			if (cfg->profile) {
				/* At most one send wake-up per coalescing window:
				 * sparse queries go out on time, dense ones in
				 * batches whose lag stays below the window. */
				int64_t nx = w->ncarry ? after : ds_sched_peek(&w->sched);
				if (nx != INT64_MAX)
					nx = DS_MAX(nx, w->last_send + cfg->coalesce_ns);
				if (nx < wake)
					wake = nx;
			} else if (w->nout < w->closed_limit) {
				wake = after;
			}
		}
		int64_t dl = settle_deadline(w);
		if (dl < wake)
			wake = dl;
		int64_t sl = wake - after;
		/* Open loop UDP sleeps blind: answers keep their kernel time
		 * stamps in the queue. Closed loop and TCP wake on answers,
		 * and TCP must poll to learn that a connection is up. */
		bool on_io = tcp || !cfg->profile;
		if (sl <= 0 && !tcp)
			continue;
		if (sl < 0)
			sl = 0;
		nfds_t nfd = 0;
		if (on_io) {
			for (unsigned i = 0; i < w->nch; i++) {
				struct chan *c = &w->ch[i];
				if (c->fd < 0)
					continue;
				short ev = POLLIN;
				if (c->state == CH_CONNECTING || c->wlen > c->woff)
					ev |= POLLOUT;
				w->pfd[i] = (struct pollfd){.fd = c->fd, .events = ev};
				nfd = i + 1;
			}
			for (unsigned i = 0; i < nfd; i++)
				if (w->ch[i].fd < 0)
					w->pfd[i] = (struct pollfd){.fd = -1};
		}
		struct timespec ts = {.tv_sec = sl / DS_NS_PER_SEC, .tv_nsec = sl % DS_NS_PER_SEC};
		if (nfd)
			ppoll(w->pfd, nfd, &ts, NULL);
		else
			clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	}
	pthread_mutex_lock(&l->mu);
	l->running--;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Scheduled queries of this process in [a, b) (mono), over all epochs. */
static double target_count(ds_load_t *l, int64_t a, int64_t b)
{
	unsigned ne = atomic_load(&l->nep);
	double sum = 0;
	if (b > l->send_end)
		b = l->send_end;
	for (unsigned i = 0; i < ne; i++) {
		int64_t from = l->ep[i].origin;
		int64_t to = i + 1 < ne ? l->ep[i + 1].origin : INT64_MAX;
		int64_t x = DS_MAX(a, from), y = DS_MIN(b, to);
		if (y <= x)
			continue;
		sum += ds_profile_count(l->ep[i].p, y - from) - ds_profile_count(l->ep[i].p, x - from);
	}
	return sum / l->cfg.shard_count;
}

static void collect(ds_load_t *l, int64_t t0, int64_t t1, bool final)
{
	ds_meter_reset(&l->iv);
	uint64_t out = 0, drops = 0;
	int64_t conns = 0;
	for (unsigned i = 0; i < l->nw; i++) {
		struct worker *w = &l->w[i];
		lock_meter(w);
		ds_meter_t *done = w->cur;
		w->cur = done == &w->m[0] ? &w->m[1] : &w->m[0];
		out += w->nout;
		conns += w->conn_active;
		/* Only UDP loses answers to a full buffer; TCP's counter
		 * counts segments it will have retransmitted. */
		for (unsigned k = 0; !l->cfg.tcp && k < w->nch; k++) {
			uint32_t d = sock_drops(w->ch[k].fd);
			drops += d >= w->ch[k].drops_seen ? d - w->ch[k].drops_seen : d;
			w->ch[k].drops_seen = d;
		}
		unlock_meter(w);
		ds_meter_merge(&l->iv, done);
		ds_meter_reset(done);
	}
	l->sock_drops_total += drops;
	ds_meter_merge(&l->res.total, &l->iv);
	if (l->cfg.profile && l->iv.lag.count) {
		int64_t p99 = ds_hist_quantile(&l->iv.lag, 0.99);
		if (p99 > l->res.lag_p99_max_ns)
			l->res.lag_p99_max_ns = p99;
	}
	l->res.intervals++;
	ds_load_snap_t snap = {
		.t_wall_ns = l->start_wall + (t0 - l->start_mono),
		.t_ns = t0 - l->start_mono,
		.dur_ns = t1 - t0,
		.target_qps = l->cfg.profile && t1 > t0
				      ? target_count(l, t0, t1) * 1e9 / (double)(t1 - t0)
				      : 0,
		.outstanding = out,
		.sock_drops = drops,
		.conn_active = l->cfg.tcp ? conns : -1,
		.m = &l->iv,
		.final = final,
	};
	if (l->cfg.on_interval)
		l->cfg.on_interval(&snap, l->cfg.user);
}

static void *ticker_main(void *arg)
{
	ds_load_t *l = arg;
	int64_t prev = l->start_mono;
	for (int64_t k = 1;; k++) {
		int64_t t = l->start_mono + k * DS_NS_PER_SEC;
		pthread_mutex_lock(&l->mu);
		while (l->running > 0) {
			int64_t now = ds_now_ns();
			if (now >= t)
				break;
			struct timespec ts = {.tv_sec = t / DS_NS_PER_SEC,
					      .tv_nsec = t % DS_NS_PER_SEC};
			pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		}
		bool done = l->running == 0;
		pthread_mutex_unlock(&l->mu);
		int64_t end = done ? DS_MIN(ds_now_ns(), t) : t;
		collect(l, prev, DS_MAX(end, prev), done);
		if (done)
			break;
		prev = t;
	}
	return NULL;
}

/* ---------------------------------------------------------------- API */

void ds_load_cfg_init(ds_load_cfg_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ns = 2 * DS_NS_PER_SEC;
	cfg->timeout_in_hist = true;
	cfg->max_lag_ns = DS_NS_PER_MS;
	cfg->coalesce_ns = -1;
	cfg->threads = 1;
	cfg->sockets = 1;
	cfg->batch = 64;
	cfg->shard_count = 1;
	cfg->rd = true;
	cfg->rcvbuf = 4 << 20;
}

static ds_profile_t *profile_dup(const ds_profile_t *p)
{
	ds_profile_t *d = malloc(sizeof(*d));
	if (!d)
		return NULL;
	*d = *p;
	d->seg = malloc(p->n * sizeof(*p->seg));
	if (!d->seg) {
		free(d);
		return NULL;
	}
	memcpy(d->seg, p->seg, p->n * sizeof(*p->seg));
	return d;
}

static double profile_peak(const ds_profile_t *p)
{
	double m = 0;
	for (size_t i = 0; i < p->n; i++)
		m = DS_MAX(m, DS_MAX(p->seg[i].r0, p->seg[i].r1));
	return m;
}

static int worker_init(ds_load_t *l, struct worker *w, unsigned idx, ds_err_t *err)
{
	const ds_load_cfg_t *cfg = &l->cfg;
	unsigned b = cfg->batch;
	w->l = l;
	w->idx = idx;
	pthread_mutex_init(&w->mu, NULL);
	ds_meter_init(&w->m[0]);
	ds_meter_init(&w->m[1]);
	w->cur = &w->m[0];
	w->conn_active = -1;
	w->nbase = cfg->sockets;
	w->ch = calloc(MAX_CHANS, sizeof(*w->ch));
	w->q = calloc(MAX_BATCH, sizeof(*w->q));
	w->due = calloc(MAX_BATCH, sizeof(*w->due));
	w->sbuf = calloc(b, sizeof(*w->sbuf));
	w->siov = calloc(b, sizeof(*w->siov));
	w->smsg = calloc(b, sizeof(*w->smsg));
	w->rbuf = calloc(b, sizeof(*w->rbuf));
	w->riov = calloc(b, sizeof(*w->riov));
	w->rmsg = calloc(b, sizeof(*w->rmsg));
	w->rctl = calloc(b, sizeof(*w->rctl));
	w->pfd = calloc(MAX_CHANS, sizeof(*w->pfd));
	w->gso = !cfg->tcp && !cfg->no_gso;
	w->gbuf = malloc((size_t)b * DS_UDP_MIN);
	w->giov = calloc(b, sizeof(*w->giov));
	w->gmsg = calloc(b, sizeof(*w->gmsg));
	w->gctl = calloc(b, sizeof(*w->gctl));
	w->gseg = calloc(b, sizeof(*w->gseg));
	w->gcnt = calloc(b, sizeof(*w->gcnt));
	w->gmember = calloc(b, sizeof(*w->gmember));
	if (!w->ch || !w->q || !w->due || !w->sbuf || !w->siov || !w->smsg || !w->rbuf ||
	    !w->riov || !w->rmsg || !w->rctl || !w->pfd || !w->gbuf || !w->giov || !w->gmsg ||
	    !w->gctl || !w->gseg || !w->gcnt || !w->gmember)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	for (unsigned i = 0; i < b; i++) {
		w->siov[i].iov_base = w->sbuf[i];
		w->smsg[i].msg_hdr.msg_iov = &w->siov[i];
		w->smsg[i].msg_hdr.msg_iovlen = 1;
		w->riov[i].iov_base = w->rbuf[i];
		w->riov[i].iov_len = RBUF;
		w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
		w->rmsg[i].msg_hdr.msg_iovlen = 1;
		w->rmsg[i].msg_hdr.msg_control = w->rctl[i];
	}
	unsigned n = cfg->tcp ? 2 * cfg->sockets : cfg->sockets;
	for (unsigned i = 0; i < n; i++) {
		struct chan *c = &w->ch[i];
		w->nch = i + 1;
		if (chan_alloc(c, cfg->tcp) < 0)
			return ds_errf(err, DS_ENOMEM, "out of memory");
		if (!cfg->tcp) {
			c->fd = udp_open(cfg, err);
			if (c->fd < 0)
				return c->fd;
		}
	}
	unsigned total = l->nw * cfg->shard_count;
	unsigned index = cfg->shard_index * l->nw + idx;
	ds_qsrc_stream(&w->qs, cfg->qsrc, index, total);
	if (!cfg->profile) {
		w->closed_limit = cfg->max_outstanding / l->nw;
		if (idx < cfg->max_outstanding % l->nw)
			w->closed_limit++;
		if (!w->closed_limit)
			w->closed_limit = 1;
	}
	return DS_OK;
}

ds_load_t *ds_load_new(const ds_load_cfg_t *cfg, ds_err_t *err)
{
	ds_load_t *l = NULL;
	if (!cfg->qsrc) {
		ds_errf(err, DS_EINVAL, "no query source");
		return NULL;
	}
	if (!cfg->profile && !cfg->max_outstanding) {
		ds_errf(err, DS_EINVAL, "give a rate profile (open loop) or max outstanding (closed loop)");
		return NULL;
	}
	if (cfg->threads < 1 || cfg->threads > 256 || cfg->sockets < 1 ||
	    cfg->sockets > MAX_CHANS / 2 || cfg->batch < 1 || cfg->batch > MAX_BATCH ||
	    cfg->shard_count < 1 || cfg->shard_index >= cfg->shard_count || cfg->timeout_ns <= 0 ||
	    (cfg->tcp && cfg->batch > 256)) {
		ds_errf(err, DS_EINVAL,
			"bad engine settings (threads 1-256, sockets 1-%d, batch 1-%d, shard I/N with I < N, timeout > 0)",
			MAX_CHANS / 2, MAX_BATCH);
		return NULL;
	}
	if (!ds_addr_port(&cfg->target) || ds_addr_is_any(&cfg->target)) {
		ds_errf(err, DS_EINVAL, "the target needs an address and a port");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	l->cfg = *cfg;
	l->qsrc = cfg->qsrc;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	ds_meter_init(&l->iv);
	ds_meter_init(&l->res.total);
	l->res.lag_p99_max_ns = -1;
	if (cfg->profile) {
		l->ep[0].p = profile_dup(cfg->profile);
		if (!l->ep[0].p) {
			ds_errf(err, DS_ENOMEM, "out of memory");
			goto fail;
		}
		l->cfg.profile = l->ep[0].p;
		atomic_store(&l->nep, 1);
		if (l->cfg.coalesce_ns < 0) {
			/* Batch about 8 queries per wake-up at the thread's peak
			 * rate, but never let batching cost more than 100 us. */
			double per = profile_peak(cfg->profile) / cfg->shard_count / cfg->threads;
			double c = per > 0 ? 8e9 / per : 1e9;
			l->cfg.coalesce_ns = (int64_t)DS_MIN(c, 100e3);
		}
	}
	if (l->cfg.coalesce_ns < 0)
		l->cfg.coalesce_ns = 0;
	l->nw = cfg->threads;
	l->w = calloc(l->nw, sizeof(*l->w));
	if (!l->w) {
		ds_errf(err, DS_ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < l->nw; i++)
		if (worker_init(l, &l->w[i], i, err) < 0)
			goto fail;
	return l;
fail:
	ds_load_free(l);
	return NULL;
}

int ds_load_start(ds_load_t *l, ds_err_t *err)
{
	l->snmp_rcvbuf0 = snmp_rcvbuf_errors();
	l->start_wall = ds_wall_ns();
	l->start_mono = ds_now_ns();
	l->send_end = l->cfg.duration_ns > 0 ? l->start_mono + l->cfg.duration_ns : INT64_MAX;
	if (l->cfg.profile) {
		l->ep[0].origin = l->start_mono;
		for (unsigned i = 0; i < l->nw; i++) {
			struct worker *w = &l->w[i];
			unsigned total = l->nw * l->cfg.shard_count;
			unsigned index = l->cfg.shard_index * l->nw + i;
			ds_sched_init(&w->sched, l->ep[0].p, l->start_mono, l->send_end, index, total,
				      l->cfg.poisson, l->cfg.seed);
			w->epoch_seen = 1;
		}
	}
	l->running = l->nw;
	for (unsigned i = 0; i < l->nw; i++) {
		int rc = pthread_create(&l->w[i].th, NULL, worker_main, &l->w[i]);
		if (rc) {
			pthread_mutex_lock(&l->mu);
			l->running -= l->nw - i;
			pthread_mutex_unlock(&l->mu);
			atomic_store(&l->stop, true);
			return ds_errf(err, -rc, "cannot start a thread: %s", strerror(rc));
		}
		l->w[i].started = true;
	}
	int rc = pthread_create(&l->ticker, NULL, ticker_main, l);
	if (rc) {
		atomic_store(&l->stop, true);
		return ds_errf(err, -rc, "cannot start a thread: %s", strerror(rc));
	}
	l->ticker_started = true;
	return DS_OK;
}

int ds_load_set_profile(ds_load_t *l, const ds_profile_t *p, ds_err_t *err)
{
	if (!l->cfg.profile)
		return ds_errf(err, DS_EINVAL, "a closed-loop run has no rate profile");
	unsigned ne = atomic_load(&l->nep);
	if (ne == MAX_EPOCHS)
		return ds_errf(err, DS_ERANGE, "too many profile changes in one run");
	ds_profile_t *d = profile_dup(p);
	if (!d)
		return ds_errf(err, DS_ENOMEM, "out of memory");
	pthread_mutex_lock(&l->mu);
	l->ep[ne].p = d;
	l->ep[ne].origin = DS_MAX(ds_now_ns(), l->start_mono);
	atomic_store_explicit(&l->nep, ne + 1, memory_order_release);
	pthread_mutex_unlock(&l->mu);
	return DS_OK;
}

int ds_load_set_qsrc(ds_load_t *l, const ds_qsrc_t *src, ds_err_t *err)
{
	if (!src)
		return ds_errf(err, DS_EINVAL, "no query source");
	pthread_mutex_lock(&l->mu);
	l->qsrc = src;
	atomic_fetch_add_explicit(&l->qsrc_gen, 1, memory_order_release);
	pthread_mutex_unlock(&l->mu);
	return DS_OK;
}

void ds_load_stop(ds_load_t *l)
{
	int64_t zero = 0;
	atomic_compare_exchange_strong(&l->stop_at, &zero, ds_now_ns());
	atomic_store(&l->stop, true);
}

int64_t ds_load_elapsed(const ds_load_t *l)
{
	return l->start_mono ? ds_now_ns() - l->start_mono : 0;
}

int64_t ds_load_start_wall(const ds_load_t *l)
{
	return l->start_wall;
}

static void judge(ds_load_t *l)
{
	ds_load_result_t *r = &l->res;
	const ds_meter_t *t = &r->total;
	char *why = r->invalid_reason;
	size_t wl = sizeof(r->invalid_reason);
	r->valid = true;
	r->closed_loop = !l->cfg.profile;
	r->sock_drops = l->sock_drops_total;
	uint64_t e = snmp_rcvbuf_errors();
	r->host_rcvbuf_errors = e >= l->snmp_rcvbuf0 ? e - l->snmp_rcvbuf0 : 0;
	int64_t lag99 = t->lag.count ? ds_hist_quantile(&t->lag, 0.99) : 0;
	if (t->drops) {
		r->valid = false;
		snprintf(why, wl,
			 "%llu scheduled queries were never sent (the generator fell behind or ran out of query IDs)",
			 (unsigned long long)t->drops);
	} else if (r->sock_drops) {
		r->valid = false;
		snprintf(why, wl,
			 "the generator's sockets dropped %llu answers (receive buffer full)",
			 (unsigned long long)r->sock_drops);
	} else if (t->send_errors) {
		r->valid = false;
		snprintf(why, wl, "%llu sends failed in the generator's own kernel",
			 (unsigned long long)t->send_errors);
	} else if (!r->closed_loop && lag99 > l->cfg.max_lag_ns) {
		r->valid = false;
		snprintf(why, wl,
			 "schedule lag p99 %.3f ms exceeds the %.3f ms limit (the generator could not keep the schedule)",
			 (double)lag99 / 1e6, (double)l->cfg.max_lag_ns / 1e6);
	} else {
		why[0] = 0;
	}
}

int ds_load_wait(ds_load_t *l)
{
	if (l->waited)
		return DS_OK;
	for (unsigned i = 0; i < l->nw; i++)
		if (l->w[i].started)
			pthread_join(l->w[i].th, NULL);
	if (l->ticker_started)
		pthread_join(l->ticker, NULL);
	int64_t now = ds_now_ns();
	int64_t stop = atomic_load(&l->stop_at);
	int64_t end = DS_MIN(now, l->send_end);
	if (stop && stop < end)
		end = stop;
	l->res.elapsed_ns = end - l->start_mono;
	l->res.run_ns = now - l->start_mono;
	l->res.end = stop && stop < l->send_end ? DS_LOAD_END_STOPPED : DS_LOAD_END_DURATION;
	if (l->cfg.profile)
		l->res.scheduled = target_count(l, l->start_mono, end);
	judge(l);
	l->waited = true;
	return DS_OK;
}

const ds_load_result_t *ds_load_result(const ds_load_t *l)
{
	return &l->res;
}

void ds_load_free(ds_load_t *l)
{
	if (!l)
		return;
	if (l->ticker_started || (l->w && l->nw && l->w[0].started)) {
		ds_load_stop(l);
		ds_load_wait(l);
	}
	for (unsigned i = 0; l->w && i < l->nw; i++) {
		struct worker *w = &l->w[i];
		for (unsigned k = 0; w->ch && k < w->nch; k++)
			chan_free(&w->ch[k]);
		free(w->ch);
		free(w->q);
		free(w->due);
		free(w->sbuf);
		free(w->siov);
		free(w->smsg);
		free(w->rbuf);
		free(w->riov);
		free(w->rmsg);
		free(w->rctl);
		free(w->pfd);
		free(w->gbuf);
		free(w->giov);
		free(w->gmsg);
		free(w->gctl);
		free(w->gseg);
		free(w->gcnt);
		free(w->gmember);
		ds_meter_free(&w->m[0]);
		ds_meter_free(&w->m[1]);
		if (w->l)
			pthread_mutex_destroy(&w->mu);
	}
	free(l->w);
	for (unsigned i = 0; i < atomic_load(&l->nep); i++)
		ds_profile_free(l->ep[i].p);
	ds_meter_free(&l->iv);
	ds_meter_free(&l->res.total);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}
