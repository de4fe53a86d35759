/* SPDX-License-Identifier: MIT */
/*
 * The replay engine driven in-process (replay/replay.h), as the scenario
 * runner drives it: a loopback responder thread answers; the test checks
 * the per-second snapshots, a speed change while running, an early stop
 * and the errors of ds_replay_new(). Bounded: a few hundred queries.
 *
 * Usage: replay_api REPLAY_MKPCAP
 */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "replay/replay.h"

static int failures;

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (cond) {                                                                      \
			printf("ok   " __VA_ARGS__);                                             \
		} else {                                                                         \
			printf("FAIL " __VA_ARGS__);                                             \
			failures++;                                                              \
		}                                                                                \
		putchar('\n');                                                                   \
	} while (0)

static atomic_bool resp_stop;
static int resp_fd;

/* Answers every datagram: the query back with QR set. */
static void *responder(void *arg)
{
	(void)arg;
	uint8_t b[4096];
	while (!atomic_load(&resp_stop)) {
		struct pollfd p = {.fd = resp_fd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(resp_fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		b[2] |= 0x80;
		sendto(resp_fd, b, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

struct snaps {
	unsigned n, finals;
	uint64_t sent, answered;
};

static void on_interval(const ds_load_snap_t *s, void *user)
{
	struct snaps *z = user;
	z->n++;
	z->finals += s->final;
	z->sent += s->m->sent;
	z->answered += s->m->answered;
}

static ds_replay_t *start(const char *path, const ds_sockaddr_t *to, double speed,
			  struct snaps *z)
{
	ds_replay_cfg_t cfg;
	ds_replay_cfg_init(&cfg);
	const char *files[1] = {path};
	cfg.files = files;
	cfg.nfiles = 1;
	cfg.target = *to;
	cfg.speed = speed;
	cfg.max_lag_ns = DS_NS_PER_SEC;
	cfg.on_interval = on_interval;
	cfg.user = z;
	ds_err_t err;
	ds_replay_t *r = ds_replay_new(&cfg, &err);
	if (!r || ds_replay_start(r, &err) < 0) {
		printf("FAIL start: %s\n", err.msg);
		exit(1);
	}
	return r;
}

static void nap_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: replay_api REPLAY_MKPCAP\n");
		return 2;
	}
	char dir[] = "/tmp/dsrapi.XXXXXX", path[300], cmd[900];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/c.pcap", dir);
	/* 400 queries of 4 clients at 200 qps: 2 s of capture. */
	snprintf(cmd, sizeof(cmd), "%s -o %s --clients 4 --queries 400 --rate 200", argv[1], path);
	if (system(cmd) != 0) {
		printf("FAIL %s\n", cmd);
		return 1;
	}
	resp_fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sin);
	if (resp_fd < 0 || bind(resp_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(resp_fd, (struct sockaddr *)&sin, &sl) < 0)
		return 1;
	ds_sockaddr_t to;
	memset(&to, 0, sizeof(to));
	to.in4 = sin;
	pthread_t th;
	pthread_create(&th, NULL, responder, NULL);

	/* 1. Speed changed after 0.5 s from 1x to 4x: 0.5 + 1.5 / 4 s in all. */
	struct snaps z = {0};
	ds_replay_t *r = start(path, &to, 1.0, &z);
	nap_ms(500);
	ds_err_t err;
	CHECK(ds_replay_set_speed(r, 4.0, &err) == DS_OK, "set_speed(4) while running");
	CHECK(ds_replay_set_speed(r, 0, &err) == DS_EINVAL, "set_speed(0) refused");
	ds_replay_wait(r);
	const ds_replay_result_t *res = ds_replay_result(r);
	double el = (double)res->load.elapsed_ns / 1e9;
	CHECK(res->load.total.sent == 400 && res->load.total.answered == 400,
	      "all 400 sent and answered (%llu, %llu)", (unsigned long long)res->load.total.sent,
	      (unsigned long long)res->load.total.answered);
	CHECK(el > 0.75 && el < 1.3, "1x then 4x took %.3f s (0.875 expected)", el);
	CHECK(res->load.end == DS_LOAD_END_DURATION && res->load.valid, "ended by itself, valid (%s)",
	      res->load.invalid_reason);
	CHECK(z.n >= 1 && z.finals == 1 && z.sent == 400 && z.answered == 400,
	      "snapshots: %u, one final, adding up to the totals", z.n);
	CHECK(res->udp_queries == 400 && res->clients == 4 && res->passes == 1,
	      "4 clients, one pass");
	ds_replay_free(r);

	/* 2. Stopped after 0.3 s: the rest is counted as not sent. */
	memset(&z, 0, sizeof(z));
	r = start(path, &to, 1.0, &z);
	nap_ms(300);
	ds_replay_stop(r);
	ds_replay_wait(r);
	res = ds_replay_result(r);
	CHECK(res->load.end == DS_LOAD_END_STOPPED, "stop: ended as stopped");
	CHECK(res->load.total.sent > 20 && res->load.total.sent < 200 &&
		      res->load.total.sent + res->unsent == 400,
	      "stop: %llu sent, %llu not sent", (unsigned long long)res->load.total.sent,
	      (unsigned long long)res->unsent);
	CHECK(res->load.total.answered == res->load.total.sent, "stop: what was sent was answered");
	ds_replay_free(r);

	/* 3. Errors before anything is sent. */
	ds_replay_cfg_t cfg;
	ds_replay_cfg_init(&cfg);
	const char *missing[1] = {"/nonexistent/x.pcap"};
	cfg.files = missing;
	cfg.nfiles = 1;
	cfg.target = to;
	r = ds_replay_new(&cfg, &err);
	CHECK(!r && strstr(err.msg, "/nonexistent/x.pcap"), "missing capture: %s", err.msg);
	const char *ok[1] = {path};
	cfg.files = ok;
	cfg.asap = true;
	r = ds_replay_new(&cfg, &err);
	CHECK(r != NULL, "asap engine created");
	if (r) {
		CHECK(ds_replay_set_speed(r, 2, &err) == DS_EINVAL, "asap has no speed to set");
		ds_replay_free(r); /* never started */
	}
	cfg.asap = false;
	cfg.diff = DS_REPLAY_DIFF_SERVER;
	cfg.diff_target = to;
	r = ds_replay_new(&cfg, &err);
	CHECK(!r && strstr(err.msg, "other than the target"), "diff against the target itself: %s",
	      err.msg);

	atomic_store(&resp_stop, true);
	pthread_join(th, NULL);
	close(resp_fd);
	unlink(path);
	rmdir(dir);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
