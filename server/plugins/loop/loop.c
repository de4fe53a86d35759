/* SPDX-License-Identifier: MIT */
/*
 * loop: detect forwarding loops the way CoreDNS does. At start the control
 * loop sends "HINFO <r1>.<r2>.<zone>." to the block's own address, retrying
 * every second (up to 30 tries) until an exchange succeeds; meanwhile every
 * worker counts sightings of that exact query. A third sighting means the
 * query came back to us through an upstream: fatal, naming the loop.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "server/src/server.h"

typedef struct loop {
	uint8_t name[DS_NAME_MAX];
	char name_str[DS_NAME_MAX * 4];
	char zone_str[300];
	ds_sockaddr_t target;
	char target_str[DS_ADDRSTR_MAX];
	atomic_bool enabled;
	atomic_uint seen;
	int fd;
	uint16_t id;
	int tries;
	ds_timer_t timer;
	bool timer_on;
} loop_t;

static int loop_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	ds_args_next(a);
	if (ds_args_next_arg(a))
		return ds_args_err_argcount(a);
	loop_t *l = calloc(1, sizeof(*l));
	if (!l)
		return DS_ENOMEM;
	p->ctx = l;
	l->fd = -1;
	/* Two random integers below 2^62, as decimal labels. */
	uint64_t r[2];
	ds_rand_secure(r, sizeof(r));
	r[0] >>= 2;
	r[1] >>= 2;
	ds_block_t *b = p->block;
	snprintf(l->zone_str, sizeof(l->zone_str), "%s", b->zone_strs[0]);
	snprintf(l->name_str, sizeof(l->name_str), "%llu.%llu.%s", (unsigned long long)r[0],
		 (unsigned long long)r[1], strcmp(l->zone_str, ".") ? l->zone_str : "");
	if (ds_name_from_str(l->name_str, NULL, l->name) < 0)
		return ds_args_err(a, "cannot build the loop probe name");
	ds_name_lower(l->name);
	/* Our own address: the first listen address (loopback for a wildcard). */
	l->target = b->listen[0];
	if (ds_addr_is_any(&l->target))
		ds_addr_parse("127.0.0.1", 0, &l->target);
	ds_addr_set_port(&l->target, b->ports[0]);
	ds_addr_str(&l->target, l->target_str, sizeof(l->target_str));
	atomic_init(&l->enabled, true);
	atomic_init(&l->seen, 0);
	return DS_OK;
}

static void probe_close(loop_t *l)
{
	if (l->fd >= 0) {
		ds_worker_del_fd(ds_control_worker(), l->fd);
		close(l->fd);
		l->fd = -1;
	}
}

static void probe_reply(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
	loop_t *l = arg;
	uint8_t buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n >= DS_HDR_LEN && ds_rd16(buf) == l->id) {
		/* One successful exchange: no loop through us, stop looking. */
		atomic_store(&l->enabled, false);
		probe_close(l);
		ds_timer_stop(w, &l->timer);
		l->timer_on = false;
	}
}

static void probe_tick(ds_worker_t *w, ds_timer_t *t, void *arg)
{
	loop_t *l = arg;
	probe_close(l);
	if (!atomic_load(&l->enabled) || ++l->tries > 30) {
		atomic_store(&l->enabled, false);
		l->timer_on = false;
		return;
	}
	l->fd = socket(l->target.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd >= 0 && connect(l->fd, &l->target.sa, ds_addr_len(&l->target)) == 0) {
		uint8_t buf[512];
		ds_wbuf_t wb;
		ds_wb_init(&wb, buf, sizeof(buf));
		l->id = (uint16_t)ds_rand64();
		ds_wb_query(&wb, l->id, DS_FLAG_RD, l->name, DS_TYPE_HINFO, DS_CLASS_IN);
		int len = ds_wb_finish(&wb);
		if (len > 0 && send(l->fd, buf, (size_t)len, 0) == len)
			ds_worker_add_fd(w, l->fd, EPOLLIN, probe_reply, l);
	}
	ds_timer_start(w, t, DS_NS_PER_SEC);
}

static int loop_start(ds_plugin_t *p, ds_err_t *err)
{
	loop_t *l = p->ctx;
	ds_timer_init(&l->timer, probe_tick, l);
	/* First probe once the workers have picked up their sockets. */
	ds_timer_start(ds_control_worker(), &l->timer, 100 * DS_NS_PER_MS);
	l->timer_on = true;
	return DS_OK;
}

static void loop_stop(ds_plugin_t *p)
{
	loop_t *l = p->ctx;
	if (l->timer_on) {
		ds_timer_stop(ds_control_worker(), &l->timer);
		l->timer_on = false;
	}
	probe_close(l);
}

static void loop_teardown(ds_plugin_t *p)
{
	free(p->ctx);
}

static int loop_serve(ds_plugin_t *p, ds_query_t *q)
{
	loop_t *l = p->ctx;
	if (DS_LIKELY(!atomic_load_explicit(&l->enabled, memory_order_relaxed)))
		return DS_NEXT;
	if (q->req.qtype != DS_TYPE_HINFO || !ds_name_eq(q->req.qname, l->name))
		return DS_NEXT;
	if (atomic_fetch_add(&l->seen, 1) + 1 > 2) {
		char client[DS_ADDRSTR_MAX];
		ds_addr_str(&q->client, client, sizeof(client));
		ds_plog(DS_LOG_FATAL, "loop",
			"Loop (%s -> %s) detected for zone \"%s\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO %s\"",
			client, l->target_str, l->zone_str, l->name_str);
	}
	return DS_NEXT;
}

DS_PLUGIN_DEFINE(loop) = {
	.abi = DS_PLUGIN_ABI,
	.name = "loop",
	.flags = DS_PLUGIN_ONCE,
	.setup = loop_setup,
	.start = loop_start,
	.stop = loop_stop,
	.teardown = loop_teardown,
	.serve = loop_serve,
};
