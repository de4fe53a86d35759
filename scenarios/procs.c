/* SPDX-License-Identifier: MIT */
#include "scenarios/procs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64

static ds_proc_t *procs[MAX_PROCS];

int ds_proc_start(ds_proc_t *p, const char *name, char *const argv[], char *const env[],
		  const char *logpath, ds_err_t *err)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log, sizeof(p->log), "%s", logpath);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return ds_errf(err, -errno, "%s: cannot open log %s: %s", name, logpath, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(fd);
		return ds_errf(err, -errno, "%s: fork: %s", name, strerror(errno));
	}
	if (pid == 0) {
		/* Die with the runner, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/* Ctrl-C goes to the runner only; it stops the children itself. */
		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	p->pid = pid;
	for (int i = 0; i < MAX_PROCS; i++)
		if (!procs[i]) {
			procs[i] = p;
			break;
		}
	return DS_OK;
}

static void unregister(ds_proc_t *p)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i] == p)
			procs[i] = NULL;
}

bool ds_proc_poll(ds_proc_t *p)
{
	if (p->exited || p->pid <= 0)
		return true;
	int st;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		p->exited = true;
		p->status = st;
		unregister(p);
		return true;
	}
	return false;
}

void ds_proc_signal(ds_proc_t *p, int sig)
{
	if (!ds_proc_poll(p))
		kill(p->pid, sig);
}

void ds_proc_stop(ds_proc_t *p, int grace_ms)
{
	if (ds_proc_poll(p))
		return;
	kill(p->pid, SIGCONT); /* a blackholed (stopped) child must run to exit */
	kill(p->pid, SIGTERM);
	for (int i = 0; i < grace_ms / 10; i++) {
		if (ds_proc_poll(p))
			return;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	kill(p->pid, SIGKILL);
	int st;
	if (waitpid(p->pid, &st, 0) == p->pid) {
		p->exited = true;
		p->status = st;
	}
	unregister(p);
}

void ds_procs_kill_all(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i])
			ds_proc_stop(procs[i], 500);
}

int ds_procs_running(void)
{
	int n = 0;
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i] && !ds_proc_poll(procs[i]))
			n++;
	return n;
}

const char *ds_proc_tail(const ds_proc_t *p, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(p->log, "r");
	if (!f)
		return buf;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	long from = sz > (long)len - 1 ? sz - (long)len + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}
