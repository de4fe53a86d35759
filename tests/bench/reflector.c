/* SPDX-License-Identifier: MIT */
/*
 * A minimal UDP DNS "server" for benchmarks and tests: every datagram goes
 * back to its sender with QR set, in recvmmsg/sendmmsg batches on one
 * thread. It is the ceiling no real server on one core can beat, and a
 * target whose own cost is known.
 *
 * usage: reflector ADDR:PORT [BATCH [WORK_NS]]
 * Port 0 picks a free port. WORK_NS > 0 burns that much CPU per datagram:
 * a server of known, steady cost, slower than any generator (to compare
 * how generators measure a server's ceiling). The bound address is printed on stdout
 * ("127.0.0.1:40123") once the socket is ready; SIGTERM/SIGINT end it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/net.h"

#define MAX_BATCH 1024
#define BUFSZ 4096

static volatile sig_atomic_t done;

static void on_term(int sig)
{
	(void)sig;
	done = 1;
}

int main(int argc, char **argv)
{
	ds_sockaddr_t a;
	if (argc < 2 || ds_addr_parse(argv[1], 0, &a) < 0) {
		fprintf(stderr, "usage: reflector ADDR:PORT [BATCH [WORK_NS]]\n");
		return 2;
	}
	int batch = argc > 2 ? atoi(argv[2]) : 64;
	if (batch < 1 || batch > MAX_BATCH)
		batch = 64;
	long long work = argc > 3 ? atoll(argv[3]) : 0;
	int fd = socket(ds_addr_family(&a), SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 4 << 20;
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, &a.sa, ds_addr_len(&a)) < 0) {
		perror("bind");
		return 1;
	}
	socklen_t sl = sizeof(a.ss);
	getsockname(fd, &a.sa, &sl);
	char s[DS_ADDRSTR_MAX];
	printf("%s\n", ds_addr_str(&a, s, sizeof(s)));
	fflush(stdout);
	/* No SA_RESTART: a signal must interrupt the blocking receive. */
	struct sigaction sa = {.sa_handler = on_term};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	static unsigned char bufs[MAX_BATCH][BUFSZ];
	static ds_sockaddr_t from[MAX_BATCH];
	static struct iovec iov[MAX_BATCH];
	static struct mmsghdr msg[MAX_BATCH];
	while (!done) {
		for (int i = 0; i < batch; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = BUFSZ};
			msg[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
							 .msg_namelen = sizeof(from[i]),
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1};
		}
		/* Block for the first datagram, then take what else is queued. */
		int n = recvmmsg(fd, msg, (unsigned)batch, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (work > 0)
				for (int64_t until = ds_now_ns() + work; ds_now_ns() < until;)
					;
			if (msg[i].msg_len >= 12)
				bufs[i][2] |= 0x80;
			iov[i].iov_len = msg[i].msg_len;
		}
		for (int off = 0; off < n;) {
			int r = sendmmsg(fd, msg + off, (unsigned)(n - off), 0);
			if (r <= 0)
				break;
			off += r;
		}
	}
	close(fd);
	return 0;
}
