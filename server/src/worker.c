/* SPDX-License-Identifier: MIT */
/* Worker threads: an epoll loop, a timer heap and a query pool each. */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "server/src/server.h"

ds_worker_t *ds_workers;
unsigned ds_nworkers;

unsigned ds_worker_id(const ds_worker_t *w)
{
	return w->id;
}

unsigned ds_worker_count(void)
{
	return ds_nworkers;
}

int64_t ds_worker_now(const ds_worker_t *w)
{
	return w->now;
}

ds_worker_t *ds_control_worker(void)
{
	return &ds_workers[ds_nworkers];
}

static void wake_cb(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

int ds_worker_setup(ds_worker_t *w, unsigned id, bool control)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->is_control = control;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->wakefd < 0)
		return -errno;
	w->now = ds_now_ns();
	ds_rng_seed(&w->rng, (uint64_t)ds_now_ns() ^ ((uint64_t)id << 32) ^ (uint64_t)getpid());
	/* Queries in flight per worker: enough for thousands of upstream
	 * exchanges; beyond it new queries are dropped (and counted) rather
	 * than letting memory grow without bound. */
	w->nq_max = 65536;
	atomic_init(&w->stopping, false);
	atomic_init(&w->next_gen, NULL);
	return ds_worker_add_fd(w, w->wakefd, EPOLLIN, wake_cb, NULL);
}

void ds_worker_cleanup(ds_worker_t *w)
{
	ds_query_t *q = w->free_q;
	while (q) {
		ds_query_t *n = q->pool_next;
		free(q);
		q = n;
	}
	w->free_q = NULL;
	free(w->heap);
	free(w->fdh);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	w->epfd = w->wakefd = -1;
}

void ds_worker_wake(ds_worker_t *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wakefd, &one, sizeof(one));
	(void)n;
}

/* ------------------------------------------------------------------ fds */

static int fdh_grow(ds_worker_t *w, int fd)
{
	if ((size_t)fd < w->nfdh)
		return DS_OK;
	size_t n = w->nfdh ? w->nfdh : 256;
	while (n <= (size_t)fd)
		n *= 2;
	struct ds_fdh *nf = realloc(w->fdh, n * sizeof(*nf));
	if (!nf)
		return DS_ENOMEM;
	memset(nf + w->nfdh, 0, (n - w->nfdh) * sizeof(*nf));
	w->fdh = nf;
	w->nfdh = n;
	return DS_OK;
}

int ds_worker_add_fd(ds_worker_t *w, int fd, uint32_t events, ds_io_cb cb, void *arg)
{
	if (fdh_grow(w, fd) < 0)
		return DS_ENOMEM;
	struct epoll_event ev = {.events = events, .data.fd = fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fdh[fd] = (struct ds_fdh){cb, arg, events};
	return DS_OK;
}

int ds_worker_mod_fd(ds_worker_t *w, int fd, uint32_t events, ds_io_cb cb, void *arg)
{
	if ((size_t)fd >= w->nfdh)
		return DS_EINVAL;
	if (w->fdh[fd].events != events) {
		struct epoll_event ev = {.events = events, .data.fd = fd};
		if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	}
	w->fdh[fd] = (struct ds_fdh){cb, arg, events};
	return DS_OK;
}

void ds_worker_del_fd(ds_worker_t *w, int fd)
{
	if (fd < 0 || (size_t)fd >= w->nfdh)
		return;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fdh[fd] = (struct ds_fdh){NULL, NULL, 0};
}

/* --------------------------------------------------------------- timers */

void ds_timer_init(ds_timer_t *t, ds_timer_cb cb, void *arg)
{
	t->when = 0;
	t->cb = cb;
	t->arg = arg;
	t->heap_idx = -1;
}

static void heap_swap(ds_worker_t *w, size_t a, size_t b)
{
	ds_timer_t *t = w->heap[a];
	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->heap_idx = (int32_t)a;
	w->heap[b]->heap_idx = (int32_t)b;
}

static void heap_up(ds_worker_t *w, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (w->heap[p]->when <= w->heap[i]->when)
			break;
		heap_swap(w, i, p);
		i = p;
	}
}

static void heap_down(ds_worker_t *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->nheap && w->heap[l]->when < w->heap[m]->when)
			m = l;
		if (r < w->nheap && w->heap[r]->when < w->heap[m]->when)
			m = r;
		if (m == i)
			break;
		heap_swap(w, i, m);
		i = m;
	}
}

void ds_timer_stop(ds_worker_t *w, ds_timer_t *t)
{
	if (t->heap_idx < 0)
		return;
	size_t i = (size_t)t->heap_idx;
	size_t last = --w->nheap;
	if (i != last) {
		w->heap[i] = w->heap[last];
		w->heap[i]->heap_idx = (int32_t)i;
		heap_down(w, i);
		heap_up(w, i);
	}
	t->heap_idx = -1;
}

void ds_timer_start(ds_worker_t *w, ds_timer_t *t, int64_t delay_ns)
{
	ds_timer_stop(w, t);
	if (w->nheap == w->capheap) {
		size_t n = w->capheap ? w->capheap * 2 : 256;
		ds_timer_t **nh = realloc(w->heap, n * sizeof(*nh));
		if (!nh) {
			/* Cannot arm: fire on the next turn instead of never. */
			ds_log(DS_LOG_ERROR, "timer heap: out of memory");
			return;
		}
		w->heap = nh;
		w->capheap = n;
	}
	t->when = ds_now_ns() + (delay_ns > 0 ? delay_ns : 0);
	t->heap_idx = (int32_t)w->nheap;
	w->heap[w->nheap++] = t;
	heap_up(w, (size_t)t->heap_idx);
}

static void run_timers(ds_worker_t *w)
{
	/* A callback may re-arm its own timer for "now"; bound the work per
	 * turn so I/O is not starved. */
	for (int budget = 4096; budget > 0 && w->nheap > 0; budget--) {
		ds_timer_t *t = w->heap[0];
		if (t->when > w->now)
			break;
		ds_timer_stop(w, t);
		t->cb(w, t, t->arg);
	}
}

static int next_timeout_ms(ds_worker_t *w, int max_ms)
{
	if (w->nheap == 0)
		return max_ms;
	int64_t d = w->heap[0]->when - ds_now_ns();
	if (d <= 0)
		return 0;
	int64_t ms = (d + DS_NS_PER_MS - 1) / DS_NS_PER_MS;
	return ms < max_ms || max_ms < 0 ? (int)ms : max_ms;
}

/* ---------------------------------------------------------- query pool */

ds_query_t *ds_query_get(ds_worker_t *w)
{
	ds_query_t *q = w->free_q;
	if (DS_LIKELY(q != NULL)) {
		w->free_q = q->pool_next;
		return q;
	}
	if (w->nq_total >= w->nq_max)
		return NULL;
	/* Slots are allocated once and recycled forever: the per-query path
	 * only touches the free list. One allocation holds the slot, the
	 * request buffer and the response buffer. */
	size_t sz = sizeof(ds_query_t) + DS_RX_UDP + DS_TX_MAX;
	q = malloc(sz);
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->rx = (uint8_t *)(q + 1);
	q->rx_cap = DS_RX_UDP;
	q->tx = q->rx + DS_RX_UDP;
	q->tx_cap = DS_TX_MAX;
	q->worker = w;
	w->nq_total++;
	return q;
}

void ds_query_put(ds_worker_t *w, ds_query_t *q)
{
	if (q->rx_cap > DS_RX_UDP) {
		/* A TCP query needed a bigger request buffer; go back to the
		 * inline one so the pool does not keep 64 KB per slot. */
		free(q->rx);
		q->rx = (uint8_t *)(q + 1);
		q->rx_cap = DS_RX_UDP;
	}
	q->pool_next = w->free_q;
	w->free_q = q;
}

/* ---------------------------------------------------------- generations */

void ds_worker_gen_hold(ds_worker_t *w, ds_gen_t *g)
{
	for (int i = 0; i < DS_MAX_GENS; i++) {
		if (w->refs[i].gen == g) {
			w->refs[i].inflight++;
			return;
		}
	}
	for (int i = 0; i < DS_MAX_GENS; i++) {
		if (!w->refs[i].gen) {
			w->refs[i].gen = g;
			w->refs[i].inflight = 1;
			return;
		}
	}
	/* More than DS_MAX_GENS generations alive in one worker means
	 * reloads faster than upstream timeouts; the gen simply stays held
	 * by the current reference logic below. */
}

static void release_gen(ds_worker_t *w, ds_gen_t *g)
{
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		for (size_t j = 0; j < b->nall; j++) {
			ds_plugin_t *p = b->all[j];
			if (p->api->worker_fini && p->wctx)
				p->api->worker_fini(p, w, p->wctx[w->id]);
		}
	}
	/* The control thread frees the generation once every worker has
	 * released it; it polls `released` on its own loop. */
	atomic_fetch_add(&g->released, 1);
	ds_worker_wake(ds_control_worker());
}

void ds_worker_gen_drop(ds_worker_t *w, ds_gen_t *g)
{
	for (int i = 0; i < DS_MAX_GENS; i++) {
		if (w->refs[i].gen != g)
			continue;
		if (--w->refs[i].inflight == 0 && g != w->gen) {
			w->refs[i].gen = NULL;
			release_gen(w, g);
		}
		return;
	}
}

static int adopt_gen(ds_worker_t *w, ds_gen_t *g)
{
	for (size_t i = 0; i < g->nblocks; i++) {
		ds_block_t *b = g->blocks[i];
		for (size_t j = 0; j < b->nall; j++) {
			ds_plugin_t *p = b->all[j];
			if (p->api->worker_init) {
				int rc = p->api->worker_init(p, w, &p->wctx[w->id]);
				if (rc < 0)
					ds_plog(DS_LOG_ERROR, p->api->name, "worker %u: %s", w->id,
						ds_strerror(rc));
			}
		}
	}
	if (!w->is_control)
		ds_listen_adopt(w, g);
	ds_gen_t *old = w->gen;
	w->gen = g;
	ds_worker_gen_hold(w, g); /* the worker's own reference */
	if (old) {
		for (int i = 0; i < DS_MAX_GENS; i++) {
			if (w->refs[i].gen == old) {
				if (--w->refs[i].inflight == 0) {
					w->refs[i].gen = NULL;
					release_gen(w, old);
				}
				break;
			}
		}
	}
	return DS_OK;
}

static void check_commands(ds_worker_t *w)
{
	ds_gen_t *g = atomic_exchange(&w->next_gen, NULL);
	if (g && g != w->gen)
		adopt_gen(w, g);
}

void ds_worker_turn(ds_worker_t *w, int max_wait_ms)
{
	struct epoll_event evs[64];
	check_commands(w);
	int n = epoll_wait(w->epfd, evs, 64, next_timeout_ms(w, max_wait_ms));
	w->now = ds_now_ns();
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if ((size_t)fd >= w->nfdh || !w->fdh[fd].cb)
			continue;
		w->fdh[fd].cb(w, fd, evs[i].events, w->fdh[fd].arg);
	}
	check_commands(w);
	w->now = ds_now_ns();
	run_timers(w);
	if (!w->is_control)
		ds_listen_flush(w);
}

static uint64_t inflight_total(ds_worker_t *w)
{
	uint64_t t = 0;
	for (int i = 0; i < DS_MAX_GENS; i++)
		if (w->refs[i].gen)
			t += w->refs[i].inflight - (w->refs[i].gen == w->gen ? 1 : 0);
	return t;
}

void ds_worker_release_all(ds_worker_t *w)
{
	for (int i = 0; i < DS_MAX_GENS; i++) {
		ds_gen_t *g = w->refs[i].gen;
		if (g) {
			w->refs[i].gen = NULL;
			release_gen(w, g);
		}
	}
	w->gen = NULL;
}

void ds_worker_loop(ds_worker_t *w)
{
	ds_metrics_set_tid(w->id);
	int64_t stop_deadline = 0;
	for (;;) {
		ds_worker_turn(w, 1000);
		if (atomic_load(&w->stopping)) {
			if (!stop_deadline) {
				/* Graceful stop: no new queries, finish the ones
				 * in flight (up to 5 s, as CoreDNS waits). */
				ds_listen_close_all(w);
				stop_deadline = w->now + 5 * DS_NS_PER_SEC;
			}
			if (inflight_total(w) == 0 || w->now > stop_deadline)
				break;
		}
	}
	ds_listen_flush(w);
	ds_worker_release_all(w);
	w->stopped = true;
}
