/* SPDX-License-Identifier: MIT */
/*
 * The load engine driven in-process, as the scenario runner does: a
 * reflector thread on 127.0.0.1, an engine started with one profile and
 * query source, then the profile and the source changed while it runs,
 * then stopped. Checks the per-second snapshots (rates before and after
 * the change, final flag) and which names the reflector saw.
 * Exit status 0 = pass. Bounded: about 4 s.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/net.h"
#include "loadgen/load.h"

static int rfd;
static atomic_bool quit;
static atomic_ulong seen_n, seen_r; /* names starting n<digit> / r<hex> */

static void *reflect(void *arg)
{
	(void)arg;
	uint8_t buf[2048];
	while (!atomic_load(&quit)) {
		ds_sockaddr_t from;
		socklen_t fl = sizeof(from.ss);
		ssize_t n = recvfrom(rfd, buf, sizeof(buf), 0, &from.sa, &fl);
		if (n < 13)
			continue;
		if (buf[13] == 'n')
			atomic_fetch_add(&seen_n, 1);
		else if (buf[13] == 'r')
			atomic_fetch_add(&seen_r, 1);
		buf[2] |= 0x80;
		sendto(rfd, buf, (size_t)n, 0, &from.sa, fl);
	}
	return NULL;
}

#define MAXS 16
static uint64_t sent[MAXS];
static double target[MAXS];
static int nsnap, finals;

static void on_snap(const ds_load_snap_t *s, void *user)
{
	(void)user;
	if (nsnap < MAXS) {
		sent[nsnap] = s->m->sent;
		target[nsnap] = s->target_qps;
	}
	nsnap++;
	finals += s->final;
}

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			rc = 1;                                                                    \
		}                                                                                  \
	} while (0)

int main(void)
{
	int rc = 0;
	ds_err_t err;
	ds_sockaddr_t a;
	ds_addr_parse("127.0.0.1:0", 0, &a);
	rfd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {.tv_usec = 100000};
	setsockopt(rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(rfd, &a.sa, ds_addr_len(&a)) < 0) {
		perror("bind");
		return 1;
	}
	socklen_t sl = sizeof(a.ss);
	getsockname(rfd, &a.sa, &sl);
	pthread_t th;
	pthread_create(&th, NULL, reflect, NULL);

	ds_qsrc_cfg_t qn = {.kind = DS_QSRC_NAMES, .names = 100, .seed = 1};
	ds_qsrc_cfg_t qr = {.kind = DS_QSRC_RANDOM, .seed = 1};
	ds_qsrc_t *names = ds_qsrc_new(&qn, &err), *random = ds_qsrc_new(&qr, &err);
	ds_profile_t *slow = ds_profile_constant(500), *fast = ds_profile_constant(1500);
	ds_load_cfg_t cfg;
	ds_load_cfg_init(&cfg);
	cfg.target = a;
	cfg.profile = slow;
	cfg.qsrc = names;
	cfg.threads = 2;
	cfg.timeout_ns = 500 * DS_NS_PER_MS;
	cfg.max_lag_ns = 200 * DS_NS_PER_MS; /* a shared machine: this test is not about lag */
	cfg.on_interval = on_snap;
	ds_load_t *l = ds_load_new(&cfg, &err);
	CHECK(l, "ds_load_new: %s", err.msg);
	if (!l)
		return 1;
	CHECK(ds_load_start(l, &err) == DS_OK, "start: %s", err.msg);
	/* Change both in the middle of the second second. */
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 500000000};
	nanosleep(&ts, NULL);
	unsigned long n_before = atomic_load(&seen_n);
	CHECK(ds_load_set_profile(l, fast, &err) == DS_OK, "set_profile: %s", err.msg);
	CHECK(ds_load_set_qsrc(l, random, &err) == DS_OK, "set_qsrc: %s", err.msg);
	ts = (struct timespec){.tv_sec = 2};
	nanosleep(&ts, NULL);
	ds_load_stop(l);
	ds_load_wait(l);
	const ds_load_result_t *r = ds_load_result(l);

	/* second 0: 500; second 1: half at 500, half at 1500; second 2: 1500 */
	CHECK(nsnap >= 4 && finals == 1, "snapshots %d, finals %d", nsnap, finals);
	CHECK(sent[0] >= 495 && sent[0] <= 505, "second 0 sent %llu", (unsigned long long)sent[0]);
	CHECK(sent[1] >= 900 && sent[1] <= 1100, "second 1 sent %llu", (unsigned long long)sent[1]);
	CHECK(sent[2] >= 1480 && sent[2] <= 1520, "second 2 sent %llu", (unsigned long long)sent[2]);
	CHECK(target[0] > 499 && target[0] < 501 && target[2] > 1499 && target[2] < 1501,
	      "targets %.1f %.1f", target[0], target[2]);
	CHECK(r->end == DS_LOAD_END_STOPPED, "end %d", r->end);
	CHECK(r->total.answered == r->total.sent && r->total.sent > 3000, "answered %llu of %llu",
	      (unsigned long long)r->total.answered, (unsigned long long)r->total.sent);
	CHECK(r->valid, "invalid: %s", r->invalid_reason);
	/* The source switched: synthetic names before, random ones after. */
	unsigned long rn = atomic_load(&seen_r);
	CHECK(n_before > 600 && rn > 2500 && atomic_load(&seen_n) < n_before + 200,
	      "names n %lu (before %lu), r %lu", atomic_load(&seen_n), n_before, rn);
	printf("%s: %d snapshots, %llu sent, %llu answered\n", rc ? "FAIL" : "ok", nsnap,
	       (unsigned long long)r->total.sent, (unsigned long long)r->total.answered);

	ds_load_free(l);
	ds_profile_free(slow);
	ds_profile_free(fast);
	ds_qsrc_free(names);
	ds_qsrc_free(random);
	atomic_store(&quit, true);
	pthread_join(th, NULL);
	close(rfd);
	return rc;
}
