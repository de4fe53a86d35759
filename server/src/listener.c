/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets of one worker: a SO_REUSEPORT UDP socket and TCP
 * socket per listen address. UDP is read and answered in recvmmsg /
 * sendmmsg batches; the queries of a batch are pool slots, so a query a
 * plugin keeps (upstream wait) is simply not returned to the pool.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "server/src/server.h"

int64_t ds_tcp_idle_ns = 10 * DS_NS_PER_SEC;
int64_t ds_tcp_read_ns = 3 * DS_NS_PER_SEC;
size_t ds_tcp_max_conns = 4096;

#define TCP_MAX_INFLIGHT 128
#define TCP_RBUF (65535 + 2)

/* ancillary data big enough for IPv6 pktinfo */
#define CMSG_SPACE_PKT CMSG_SPACE(sizeof(struct in6_pktinfo))

struct ds_lsock {
	ds_lsock_t *next;
	ds_worker_t *w;
	ds_sockaddr_t addr;
	const ds_listen_t *listen;   /* in the worker's current generation */
	int udp_fd;
	int tcp_fd;
	bool pktinfo;                /* wildcard bind: reply from the query's address */
	bool mark;
	bool dead;                   /* removed by a reload or shutdown */
	unsigned refs;               /* 1 while listed + async UDP queries + TCP conns */
	struct tcp_conn *conns;      /* open TCP connections accepted here */
	/* UDP batch state */
	ds_query_t *batch[DS_UDP_BATCH];
	struct mmsghdr rmsg[DS_UDP_BATCH];
	struct iovec riov[DS_UDP_BATCH];
	uint8_t rctl[DS_UDP_BATCH][CMSG_SPACE_PKT];
};

typedef struct tcp_conn {
	ds_worker_t *w;
	ds_lsock_t *ls;
	struct tcp_conn *next, *prev; /* in ls->conns */
	int fd;
	ds_sockaddr_t peer, local;
	uint8_t *rbuf;
	size_t rlen;
	uint8_t *wbuf;               /* pending output (frames) */
	size_t wlen, wcap, woff;
	unsigned inflight;
	bool closed;                 /* peer gone or error: drop remaining answers */
	bool reading;
	ds_timer_t timer;
} tcp_conn_t;

static void udp_readable(ds_worker_t *w, int fd, uint32_t ev, void *arg);
static void tcp_acceptable(ds_worker_t *w, int fd, uint32_t ev, void *arg);
static void tcp_io(ds_worker_t *w, int fd, uint32_t ev, void *arg);

/* ------------------------------------------------------------- sockets */

static int open_socket(const ds_sockaddr_t *a, int type, bool *pktinfo)
{
	int fd = socket(a->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One socket per worker on the same address: the kernel spreads
	 * flows over them and each worker reads only its own. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (a->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (type == SOCK_DGRAM) {
		int buf = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		if (ds_addr_is_any(a)) {
			/* Wildcard: learn the destination address of each
			 * query so the answer leaves from it. */
			if (a->sa.sa_family == AF_INET6) {
				setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
				setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
			} else {
				setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
			}
			*pktinfo = true;
		}
	} else {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (bind(fd, &a->sa, ds_addr_len(a)) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail:;
	int e = -errno;
	close(fd);
	return e;
}

static ds_lsock_t *lsock_open(ds_worker_t *w, const ds_listen_t *l)
{
	ds_lsock_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->w = w;
	s->addr = l->addr;
	s->listen = l;
	s->refs = 1;
	char a[DS_ADDRSTR_MAX];
	s->udp_fd = open_socket(&l->addr, SOCK_DGRAM, &s->pktinfo);
	if (s->udp_fd < 0) {
		ds_log(DS_LOG_ERROR, "listen udp %s: %s", ds_addr_str(&l->addr, a, sizeof(a)),
		       ds_strerror(s->udp_fd));
		free(s);
		return NULL;
	}
	bool dummy = false;
	s->tcp_fd = open_socket(&l->addr, SOCK_STREAM, &dummy);
	if (s->tcp_fd < 0) {
		ds_log(DS_LOG_ERROR, "listen tcp %s: %s", ds_addr_str(&l->addr, a, sizeof(a)),
		       ds_strerror(s->tcp_fd));
		close(s->udp_fd);
		free(s);
		return NULL;
	}
	ds_worker_add_fd(w, s->udp_fd, EPOLLIN, udp_readable, s);
	ds_worker_add_fd(w, s->tcp_fd, EPOLLIN, tcp_acceptable, s);
	return s;
}

static void tcp_close(struct tcp_conn *c);

static void lsock_unref(ds_lsock_t *s)
{
	if (--s->refs == 0)
		free(s);
}

/* Stop listening on s and close its TCP connections (answers still in
 * flight on them are dropped); s itself lives until its last async UDP
 * query has completed. */
static void lsock_close(ds_worker_t *w, ds_lsock_t *s)
{
	s->dead = true;
	while (s->conns)
		tcp_close(s->conns);
	if (s->udp_fd >= 0) {
		ds_worker_del_fd(w, s->udp_fd);
		close(s->udp_fd);
		s->udp_fd = -1;
	}
	if (s->tcp_fd >= 0) {
		ds_worker_del_fd(w, s->tcp_fd);
		close(s->tcp_fd);
		s->tcp_fd = -1;
	}
	for (int i = 0; i < DS_UDP_BATCH; i++) {
		if (s->batch[i]) {
			ds_query_put(w, s->batch[i]);
			s->batch[i] = NULL;
		}
	}
}

bool ds_listen_disabled;

int ds_listen_adopt(ds_worker_t *w, ds_gen_t *g)
{
	if (ds_listen_disabled)
		return DS_OK; /* unit tests drive the chain without sockets */
	for (ds_lsock_t *s = w->lsocks; s; s = s->next)
		s->mark = false;
	for (size_t i = 0; i < g->nlistens; i++) {
		const ds_listen_t *l = &g->listens[i];
		ds_lsock_t *s;
		for (s = w->lsocks; s; s = s->next)
			if (!s->mark && ds_addr_eq(&s->addr, &l->addr))
				break;
		if (s) {
			/* Same address: keep the socket and whatever is
			 * queued in it, serve it with the new zones. */
			s->listen = l;
			s->mark = true;
			continue;
		}
		s = lsock_open(w, l);
		if (!s)
			continue;
		s->mark = true;
		s->next = w->lsocks;
		w->lsocks = s;
	}
	ds_lsock_t **pp = &w->lsocks;
	while (*pp) {
		ds_lsock_t *s = *pp;
		if (!s->mark) {
			*pp = s->next;
			lsock_close(w, s);
			lsock_unref(s);
			continue;
		}
		pp = &s->next;
	}
	return DS_OK;
}

void ds_listen_close_all(ds_worker_t *w)
{
	ds_lsock_t *s = w->lsocks;
	while (s) {
		ds_lsock_t *n = s->next;
		lsock_close(w, s);
		lsock_unref(s);
		s = n;
	}
	w->lsocks = NULL;
}

/* ----------------------------------------------------------------- UDP */

static void get_local(ds_lsock_t *s, struct msghdr *mh, ds_sockaddr_t *local)
{
	*local = s->addr;
	if (!s->pktinfo)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			if (local->sa.sa_family == AF_INET6) {
				/* v4-mapped on a dual-stack socket */
				memset(&local->in6.sin6_addr, 0, 16);
				local->in6.sin6_addr.s6_addr[10] = 0xff;
				local->in6.sin6_addr.s6_addr[11] = 0xff;
				memcpy(&local->in6.sin6_addr.s6_addr[12], &pi.ipi_addr, 4);
			} else {
				local->in4.sin_addr = pi.ipi_addr;
			}
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local->in6.sin6_addr = pi.ipi6_addr;
		}
	}
}

/* Control message making the reply leave from the address the query came to. */
static size_t set_src(const ds_query_t *q, uint8_t *ctl)
{
	const ds_sockaddr_t *l = &q->local;
	struct msghdr mh = {.msg_control = ctl, .msg_controllen = CMSG_SPACE_PKT};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (l->sa.sa_family == AF_INET6) {
		const uint8_t *a = l->in6.sin6_addr.s6_addr;
		static const uint8_t v4m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, v4m, 12) == 0) {
			struct in_pktinfo pi = {0};
			memcpy(&pi.ipi_spec_dst, a + 12, 4);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		struct in6_pktinfo pi = {0};
		pi.ipi6_addr = l->in6.sin6_addr;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in_pktinfo pi = {0};
	pi.ipi_spec_dst = l->in4.sin_addr;
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	return CMSG_SPACE(sizeof(pi));
}

static void udp_send_batch(ds_lsock_t *s, ds_query_t **qs, int n)
{
	struct mmsghdr m[DS_UDP_BATCH];
	struct iovec iov[DS_UDP_BATCH];
	uint8_t ctl[DS_UDP_BATCH][CMSG_SPACE_PKT];
	int k = 0;
	for (int i = 0; i < n; i++) {
		ds_query_t *q = qs[i];
		iov[k].iov_base = q->tx;
		iov[k].iov_len = q->resp_len;
		memset(&m[k].msg_hdr, 0, sizeof(m[k].msg_hdr));
		m[k].msg_hdr.msg_name = &q->client;
		m[k].msg_hdr.msg_namelen = ds_addr_len(&q->client);
		m[k].msg_hdr.msg_iov = &iov[k];
		m[k].msg_hdr.msg_iovlen = 1;
		if (s->pktinfo) {
			m[k].msg_hdr.msg_control = ctl[k];
			m[k].msg_hdr.msg_controllen = set_src(q, ctl[k]);
		}
		k++;
	}
	int off = 0;
	while (off < k) {
		int r = sendmmsg(s->udp_fd, m + off, (unsigned)(k - off), MSG_DONTWAIT);
		if (r <= 0) {
			/* A full socket buffer or an unreachable client: the
			 * answer is lost, as it would be on the wire. Skip the
			 * message that failed and go on with the rest. */
			off++;
			continue;
		}
		off += r;
	}
}

static void udp_complete(ds_query_t *q, int rc)
{
	ds_worker_t *w = q->worker;
	ds_lsock_t *s = q->conn;
	(void)rc;
	if (q->resp_len == 0 || s->dead) {
		ds_worker_gen_drop(w, q->gen);
		ds_query_put(w, q);
		lsock_unref(s);
		return;
	}
	/* Answers finished asynchronously leave in a batch at the end of
	 * this loop turn. */
	q->pool_next = w->udp_out;
	w->udp_out = q;
}

void ds_listen_flush(ds_worker_t *w)
{
	while (w->udp_out) {
		ds_query_t *qs[DS_UDP_BATCH];
		int n = 0;
		ds_lsock_t *s = w->udp_out->conn;
		/* Group by socket: walk the list, take up to a batch for s. */
		ds_query_t **pp = &w->udp_out;
		while (*pp && n < DS_UDP_BATCH) {
			ds_query_t *q = *pp;
			if (q->conn == s) {
				*pp = q->pool_next;
				qs[n++] = q;
			} else {
				pp = &q->pool_next;
			}
		}
		if (!s->dead)
			udp_send_batch(s, qs, n);
		for (int i = 0; i < n; i++) {
			ds_worker_gen_drop(w, qs[i]->gen);
			ds_query_put(w, qs[i]);
			lsock_unref(s);
		}
	}
}

static void udp_readable(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	ds_lsock_t *s = arg;
	/* Bounded rounds per wakeup so one busy socket does not starve the
	 * others (TCP, upstream answers, timers). */
	for (int round = 0; round < 8; round++) {
		int avail = 0;
		for (; avail < DS_UDP_BATCH; avail++) {
			if (!s->batch[avail]) {
				s->batch[avail] = ds_query_get(w);
				if (!s->batch[avail])
					break;
			}
			ds_query_t *q = s->batch[avail];
			s->riov[avail].iov_base = q->rx;
			s->riov[avail].iov_len = q->rx_cap;
			struct msghdr *mh = &s->rmsg[avail].msg_hdr;
			mh->msg_name = &q->client;
			mh->msg_namelen = sizeof(q->client);
			mh->msg_iov = &s->riov[avail];
			mh->msg_iovlen = 1;
			mh->msg_control = s->pktinfo ? s->rctl[avail] : NULL;
			mh->msg_controllen = s->pktinfo ? sizeof(s->rctl[avail]) : 0;
			mh->msg_flags = 0;
		}
		if (avail == 0)
			return; /* pool exhausted: leave datagrams queued */
		int n = recvmmsg(fd, s->rmsg, (unsigned)avail, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		w->now = ds_now_ns();
		ds_query_t *done[DS_UDP_BATCH];
		int nd = 0;
		for (int i = 0; i < n; i++) {
			ds_query_t *q = s->batch[i];
			struct msghdr *mh = &s->rmsg[i].msg_hdr;
			size_t len = s->rmsg[i].msg_len;
			if (mh->msg_flags & MSG_TRUNC) {
				/* Bigger than any sane query: drop it. */
				w->dropped++;
				continue;
			}
			get_local(s, mh, &q->local);
			q->proto = DS_PROTO_UDP;
			q->conn = s;
			q->complete = udp_complete;
			if (ds_chain_handle(w, s->listen, q, len)) {
				if (q->resp_len)
					done[nd++] = q;
				else
					ds_worker_gen_drop(w, q->gen);
			} else {
				/* Kept by a plugin; the batch slot is refilled. */
				s->batch[i] = NULL;
				s->refs++;
			}
		}
		if (nd)
			udp_send_batch(s, done, nd);
		for (int i = 0; i < nd; i++)
			ds_worker_gen_drop(w, done[i]->gen);
		if (n < avail)
			return;
	}
}

/* ----------------------------------------------------------------- TCP */

static void tcp_free(tcp_conn_t *c)
{
	ds_worker_t *w = c->w;
	ds_timer_stop(w, &c->timer);
	if (c->fd >= 0) {
		ds_worker_del_fd(w, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->ls) {
		/* unlink: the listener may go away before our last answer */
		if (c->prev)
			c->prev->next = c->next;
		else
			c->ls->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		lsock_unref(c->ls);
		c->ls = NULL;
	}
	if (c->inflight)
		return; /* the last answer frees it */
	free(c->rbuf);
	free(c->wbuf);
	w->tcp_conns--;
	free(c);
}

static void tcp_close(struct tcp_conn *c)
{
	c->closed = true;
	tcp_free(c);
}

static void tcp_arm(tcp_conn_t *c)
{
	/* A partial message must complete within the read timeout; an idle
	 * connection with nothing in flight goes after the idle timeout. */
	if (c->inflight && c->rlen == 0) {
		ds_timer_stop(c->w, &c->timer);
		return;
	}
	ds_timer_start(c->w, &c->timer, c->rlen ? ds_tcp_read_ns : ds_tcp_idle_ns);
}

static void tcp_timeout(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	tcp_close(arg);
}

static void tcp_update_events(tcp_conn_t *c)
{
	uint32_t ev = 0;
	if (c->reading)
		ev |= EPOLLIN;
	if (c->wlen > c->woff)
		ev |= EPOLLOUT;
	ds_worker_mod_fd(c->w, c->fd, ev, tcp_io, c);
}

static int tcp_flush(tcp_conn_t *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	return 0;
}

static void tcp_send(tcp_conn_t *c, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2];
	ds_wr16(hdr, (uint16_t)len);
	if (c->wlen == c->woff) {
		/* Nothing queued: try to write straight away. */
		struct iovec iov[2] = {{hdr, 2}, {(void *)msg, len}};
		ssize_t n = writev(c->fd, iov, 2);
		if (n == (ssize_t)(len + 2))
			return;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				c->closed = true;
				return;
			}
			n = 0;
		}
		c->woff = c->wlen = 0;
		size_t rest = len + 2 - (size_t)n;
		if (c->wcap < rest) {
			uint8_t *nb = realloc(c->wbuf, rest);
			if (!nb) {
				c->closed = true;
				return;
			}
			c->wbuf = nb;
			c->wcap = rest;
		}
		size_t k = 0;
		if (n < 2) {
			memcpy(c->wbuf, hdr + n, (size_t)(2 - n));
			k = (size_t)(2 - n);
			memcpy(c->wbuf + k, msg, len);
			k += len;
		} else {
			memcpy(c->wbuf, msg + (n - 2), len - (size_t)(n - 2));
			k = len - (size_t)(n - 2);
		}
		c->wlen = k;
		tcp_update_events(c);
		return;
	}
	size_t need = c->wlen + len + 2;
	if (c->wcap < need) {
		size_t nc = c->wcap ? c->wcap : 4096;
		while (nc < need)
			nc *= 2;
		uint8_t *nb = realloc(c->wbuf, nc);
		if (!nb) {
			c->closed = true;
			return;
		}
		c->wbuf = nb;
		c->wcap = nc;
	}
	memcpy(c->wbuf + c->wlen, hdr, 2);
	memcpy(c->wbuf + c->wlen + 2, msg, len);
	c->wlen += len + 2;
}

static void tcp_read_frames(tcp_conn_t *c);

static void tcp_complete(ds_query_t *q, int rc)
{
	tcp_conn_t *c = q->conn;
	ds_worker_t *w = q->worker;
	(void)rc;
	c->inflight--;
	if (!c->closed && c->fd >= 0 && q->resp_len)
		tcp_send(c, q->tx, q->resp_len);
	ds_worker_gen_drop(w, q->gen);
	ds_query_put(w, q);
	if (c->fd < 0) {
		if (c->inflight == 0)
			tcp_free(c);
		return;
	}
	if (c->closed) {
		tcp_free(c);
		return;
	}
	if (!c->reading && c->inflight < TCP_MAX_INFLIGHT) {
		c->reading = true;
		tcp_read_frames(c); /* frames buffered while paused */
		if (c->fd < 0)
			return;
	}
	tcp_update_events(c);
	tcp_arm(c);
}

/* Run every complete frame in the read buffer through the chain. */
static void tcp_read_frames(tcp_conn_t *c)
{
	ds_worker_t *w = c->w;
	size_t off = 0;
	while (c->rlen - off >= 2 && c->inflight < TCP_MAX_INFLIGHT) {
		size_t flen = ds_rd16(c->rbuf + off);
		if (c->rlen - off < 2 + flen)
			break;
		ds_query_t *q = ds_query_get(w);
		if (!q)
			break; /* pool exhausted: try again when answers free slots */
		if (flen > q->rx_cap) {
			uint8_t *big = malloc(65535);
			if (!big) {
				ds_query_put(w, q);
				break;
			}
			q->rx = big;
			q->rx_cap = 65535;
		}
		memcpy(q->rx, c->rbuf + off + 2, flen);
		off += 2 + flen;
		q->proto = DS_PROTO_TCP;
		q->client = c->peer;
		q->local = c->local;
		q->conn = c;
		q->complete = tcp_complete;
		c->inflight++;
		if (ds_chain_handle(w, c->ls->listen, q, flen)) {
			c->inflight--;
			if (q->resp_len)
				tcp_send(c, q->tx, q->resp_len);
			ds_worker_gen_drop(w, q->gen);
			ds_query_put(w, q);
		}
		if (c->closed)
			break;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	if (c->inflight >= TCP_MAX_INFLIGHT)
		c->reading = false; /* pipelining limit: stop reading for now */
}

static void tcp_io(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	tcp_conn_t *c = arg;
	if (ev & EPOLLOUT) {
		if (tcp_flush(c) < 0) {
			tcp_close(c);
			return;
		}
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->reading) {
		for (;;) {
			if (c->rlen == TCP_RBUF)
				break;
			ssize_t n = read(c->fd, c->rbuf + c->rlen, TCP_RBUF - c->rlen);
			if (n > 0) {
				c->rlen += (size_t)n;
				tcp_read_frames(c);
				if (c->closed || c->fd < 0 || !c->reading)
					break;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* Peer closed: answers in flight have nowhere to go. */
				tcp_close(c);
				return;
			}
			break;
		}
	}
	if (c->closed) {
		tcp_free(c);
		return;
	}
	tcp_update_events(c);
	tcp_arm(c);
}

static void tcp_acceptable(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	ds_lsock_t *s = arg;
	for (int i = 0; i < 64; i++) {
		ds_sockaddr_t peer;
		socklen_t pl = sizeof(peer);
		int cfd = accept4(fd, &peer.sa, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		if (w->tcp_conns >= ds_tcp_max_conns) {
			/* Over the limit: refuse by closing rather than let
			 * memory grow with every client. */
			close(cfd);
			continue;
		}
		tcp_conn_t *c = calloc(1, sizeof(*c));
		uint8_t *rb = malloc(TCP_RBUF);
		if (!c || !rb) {
			free(c);
			free(rb);
			close(cfd);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->w = w;
		c->ls = s;
		s->refs++;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		c->fd = cfd;
		c->peer = peer;
		socklen_t ll = sizeof(c->local);
		getsockname(cfd, &c->local.sa, &ll);
		c->rbuf = rb;
		c->reading = true;
		ds_timer_init(&c->timer, tcp_timeout, c);
		w->tcp_conns++;
		if (ds_worker_add_fd(w, cfd, EPOLLIN, tcp_io, c) < 0) {
			tcp_close(c);
			continue;
		}
		tcp_arm(c);
	}
}
