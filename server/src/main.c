/* SPDX-License-Identifier: MIT */
/*
 * dnsurged: command line (CoreDNS's flags), start-up, the control loop
 * (signals, reload, retiring old generations) and graceful shutdown.
 */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/http.h"
#include "server/src/server.h"

#define DS_COREDNS_COMPAT "1.14.7"


static ds_gen_t *cur_gen;
static ds_gen_t *retired[16];
static size_t nretired;
static ds_mfam_t *m_reload_failed, *m_reload_version;
static uint32_t h_reload_failed;


static void usage(FILE *f)
{
	fprintf(f, "Usage of dnsurged:\n"
		   "  -conf string\n\tCorefile to load (default \"Corefile\")\n"
		   "  -dns.port string\n\tDefault port (default \"53\")\n"
		   "  -p string\n\tDefault port (alias of -dns.port)\n"
		   "  -pidfile string\n\tPath to write pid file\n"
		   "  -plugins\n\tList installed plugins\n"
		   "  -quiet\n\tQuiet mode (no initialization output)\n"
		   "  -version\n\tShow version\n"
		   "  -workers int\n\tDNS worker threads (default: one per CPU)\n"
		   "  -user string\n\tDrop privileges to this user after binding\n");
}

/* Go's flag package: -name value, -name=value, --name; booleans take no value. */
static int parse_flags(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			fprintf(stderr, "dnsurged: unexpected argument '%s'\n", a);
			return -1;
		}
		a += (a[1] == '-') ? 2 : 1;
		char name[64];
		const char *val = NULL;
		const char *eq = strchr(a, '=');
		if (eq) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
		}
		if (!strcmp(name, "version")) {
			printf("dnsurged-%s\nlinux/amd64, CoreDNS-compatible %s\n", DS_VERSION,
			       DS_COREDNS_COMPAT);
			exit(0);
		}
		if (!strcmp(name, "plugins")) {
			printf("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n");
			for (size_t k = 0; k < ds_plugin_table_len; k++)
				if (ds_plugin_table[k].api)
					printf("  dns.%s\n", ds_plugin_table[k].name);
			exit(0);
		}
		if (!strcmp(name, "quiet")) {
			ds_opts.quiet = !val || !strcmp(val, "true") || !strcmp(val, "1");
			continue;
		}
		if (!strcmp(name, "h") || !strcmp(name, "help")) {
			usage(stdout);
			exit(0);
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "flag needs an argument: -%s\n", name);
				usage(stderr);
				return -1;
			}
			val = argv[++i];
		}
		long long n;
		if (!strcmp(name, "conf")) {
			ds_opts.conf = val;
		} else if (!strcmp(name, "dns.port") || !strcmp(name, "p")) {
			if (ds_parse_int(val, 1, 65535, &n) < 0) {
				fprintf(stderr, "invalid value \"%s\" for flag -%s: want a port 1-65535\n", val, name);
				return -1;
			}
			ds_opts.dns_port = (int)n;
		} else if (!strcmp(name, "pidfile")) {
			ds_opts.pidfile = val;
		} else if (!strcmp(name, "workers")) {
			if (ds_parse_int(val, 1, DS_METRIC_SLOTS_MAX - 8, &n) < 0) {
				fprintf(stderr, "invalid value \"%s\" for flag -workers: want 1-%d\n", val,
					DS_METRIC_SLOTS_MAX - 8);
				return -1;
			}
			ds_opts.workers = (unsigned)n;
		} else if (!strcmp(name, "user")) {
			ds_opts.user = val;
		} else {
			fprintf(stderr, "flag provided but not defined: -%s\n", name);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

static void wake_only(ds_worker_t *w, int fd, uint32_t ev, void *arg)
{
}

static void *worker_main(void *arg)
{
	ds_worker_t *w = arg;
	ds_worker_loop(w);
	return NULL;
}

/* Hand g to every worker and the control loop. */
static void publish(ds_gen_t *g)
{
	for (unsigned i = 0; i <= ds_nworkers; i++) {
		atomic_store(&ds_workers[i].next_gen, g);
		ds_worker_wake(&ds_workers[i]);
	}
}

static void reload_metrics(ds_gen_t *g)
{
	bool has_reload = false;
	for (size_t i = 0; i < g->nblocks; i++)
		if (ds_block_find(g->blocks[i], "reload"))
			has_reload = true;
	if (!has_reload)
		return;
	static const char *lv[] = {"hash", "value"};
	if (!m_reload_failed) {
		m_reload_failed = ds_metrics_family("coredns_reload_failed_total",
						    "Counter of the number of failed reload attempts.",
						    DS_M_COUNTER, NULL, 0, NULL, 0, 1);
		h_reload_failed = ds_metrics_series(m_reload_failed, NULL);
		m_reload_version = ds_metrics_family("coredns_reload_version_info",
						     "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
						     DS_M_GAUGE, lv, 2, NULL, 0, 1);
	}
	ds_metrics_family_clear(m_reload_version);
	const char *v[] = {"sha512", g->sha512};
	ds_metric_set(ds_metrics_series(m_reload_version, v), 1);
}

static void do_reload(void)
{
	ds_err_t err = {{0}};
	ds_gen_t *g = NULL;
	int rc = ds_gen_build(cur_gen->corefile_path, ds_opts.dns_port, &g, &err);
	if (rc < 0) {
		ds_log(DS_LOG_ERROR, "Corefile parse failed: %s", err.msg);
		if (m_reload_failed)
			ds_metric_inc(ds_metrics_tid(), h_reload_failed);
		return;
	}
	rc = ds_gen_start(g, &err);
	if (rc < 0) {
		ds_log(DS_LOG_ERROR, "Corefile changed but reload failed: %s", err.msg);
		ds_gen_stop(g);
		ds_gen_free(g);
		if (m_reload_failed)
			ds_metric_inc(ds_metrics_tid(), h_reload_failed);
		/* The old generation's listeners may have been replaced by
		 * routes of the failed one; the old ones stay registered. */
		return;
	}
	ds_gen_t *old = cur_gen;
	cur_gen = g;
	publish(g);
	reload_metrics(g);
	ds_gen_stop(old);
	if (nretired < DS_ARRAY_SIZE(retired))
		retired[nretired++] = old;
	ds_log(DS_LOG_INFO, "Reloading complete");
}

static void retire_released(void)
{
	for (size_t i = 0; i < nretired;) {
		if (atomic_load(&retired[i]->released) >= ds_nworkers + 1) {
			ds_gen_free(retired[i]);
			retired[i] = retired[--nretired];
			continue;
		}
		i++;
	}
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		fprintf(stderr, "dnsurged: unknown user '%s'\n", user);
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "dnsurged: cannot drop privileges to '%s': %s\n", user,
			strerror(errno));
		return -1;
	}
	return 0;
}

static void print_banner(ds_gen_t *g)
{
	if (ds_opts.quiet)
		return;
	for (size_t i = 0; i < g->nlistens; i++) {
		char buf[160];
		const char *lbl = g->listens[i].label + 6; /* skip "dns://" */
		for (size_t k = 0; k < g->listens[i].nzones; k++) {
			const ds_block_t *b = g->listens[i].zones[k].block;
			snprintf(buf, sizeof(buf), "%s%s", b->zone_strs[g->listens[i].zones[k].zone_idx],
				 strchr(lbl, ':') ? strrchr(lbl, ':') : "");
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				for (size_t m = 0; m < g->listens[j].nzones; m++)
					if (g->listens[j].zones[m].block == b &&
					    ds_addr_port(&g->listens[j].addr) == ds_addr_port(&g->listens[i].addr))
						seen = true;
			if (!seen)
				printf("%s\n", buf);
		}
	}
	printf("dnsurged-%s\nlinux/amd64, CoreDNS-compatible %s\n", DS_VERSION, DS_COREDNS_COMPAT);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (parse_flags(argc, argv) < 0)
		return 2;
	ds_log_set_quiet(ds_opts.quiet);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	/* Block the signals we handle before any thread exists (workers,
	 * HTTP, probes), so they all inherit the mask and only the control
	 * loop's signalfd sees them. */
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGUSR1);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);

	if (!ds_opts.conf) {
		/* CoreDNS: ./Corefile if present, else the built-in default. */
		struct stat st;
		if (stat("Corefile", &st) == 0)
			ds_opts.conf = "Corefile";
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ds_nworkers = ds_opts.workers ? ds_opts.workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (ds_nworkers > DS_METRIC_SLOTS_MAX - 8)
		ds_nworkers = DS_METRIC_SLOTS_MAX - 8;
	ds_metrics_init(ds_nworkers);
	ds_workers = ds_xcalloc(ds_nworkers + 1, sizeof(ds_worker_t));
	for (unsigned i = 0; i <= ds_nworkers; i++) {
		if (ds_worker_setup(&ds_workers[i], i, i == ds_nworkers) < 0) {
			fprintf(stderr, "dnsurged: cannot set up worker %u: %s\n", i, strerror(errno));
			return 1;
		}
	}
	ds_metrics_set_tid(ds_nworkers); /* the main thread is the control loop */
	static const char *lbi[] = {"version", "revision", "goversion"};
	ds_mfam_t *bi = ds_metrics_family("coredns_build_info",
					  "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
					  DS_M_GAUGE, lbi, 3, NULL, 0, 1);
	const char *biv[] = {DS_COREDNS_COMPAT, "dnsurged-" DS_VERSION, "c11"};
	ds_metric_set(ds_metrics_series(bi, biv), 1);
	ds_mfam_t *pan = ds_metrics_family("coredns_panics_total", "A metrics that counts the number of panics.",
					   DS_M_COUNTER, NULL, 0, NULL, 0, 1);
	ds_metrics_series(pan, NULL);

	ds_err_t err = {{0}};
	if (ds_gen_build(ds_opts.conf, ds_opts.dns_port, &cur_gen, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	/* The control loop owns per-worker state slot ds_nworkers. */
	atomic_store(&ds_workers[ds_nworkers].next_gen, cur_gen);
	ds_worker_turn(ds_control_worker(), 0);
	if (ds_gen_start(cur_gen, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	reload_metrics(cur_gen);


	for (unsigned i = 0; i < ds_nworkers; i++) {
		atomic_store(&ds_workers[i].next_gen, cur_gen);
		if (pthread_create(&ds_workers[i].thread, NULL, worker_main, &ds_workers[i]) != 0) {
			fprintf(stderr, "dnsurged: cannot start worker thread\n");
			return 1;
		}
	}
	if (ds_opts.user && drop_privileges(ds_opts.user) < 0)
		return 1;
	if (ds_opts.pidfile) {
		FILE *pf = fopen(ds_opts.pidfile, "w");
		if (!pf) {
			fprintf(stderr, "dnsurged: cannot write pidfile %s: %s\n", ds_opts.pidfile,
				strerror(errno));
			return 1;
		}
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}
	print_banner(cur_gen);

	ds_worker_t *ctl = ds_control_worker();
	/* Signals wake the control loop at once (read after each turn). */
	ds_worker_add_fd(ctl, sfd, EPOLLIN, wake_only, NULL);
	int64_t stop_at = 0;
	bool stopping = false;
	for (;;) {
		ds_worker_turn(ctl, 250);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGUSR1:
				ds_log(DS_LOG_INFO, "SIGUSR1: Reloading");
				ds_server_request_reload();
				break;
			case SIGQUIT:
				_exit(0);
			case SIGHUP:
				break;
			case SIGTERM:
			case SIGINT:
				if (!stopping) {
					stopping = true;
					int64_t d = ds_gen_shutdown(cur_gen);
					stop_at = ds_now_ns() + d;
				}
				break;
			}
		}
		if (ds_server_take_reload() && !stopping)
			do_reload();
		retire_released();
		if (stopping && ds_now_ns() >= stop_at)
			break;
	}
	/* Stop taking queries, let workers finish what is in flight. */
	for (unsigned i = 0; i < ds_nworkers; i++) {
		atomic_store(&ds_workers[i].stopping, true);
		ds_worker_wake(&ds_workers[i]);
	}
	for (unsigned i = 0; i < ds_nworkers; i++)
		pthread_join(ds_workers[i].thread, NULL);
	ds_gen_stop(cur_gen);
	/* The control loop lets go too: worker_fini of its plugin state. */
	ds_worker_release_all(ctl);
	ds_worker_del_fd(ctl, sfd);
	ds_http_shutdown();
	for (size_t i = 0; i < nretired; i++)
		ds_gen_free(retired[i]);
	ds_gen_free(cur_gen);
	for (unsigned i = 0; i <= ds_nworkers; i++)
		ds_worker_cleanup(&ds_workers[i]);
	free(ds_workers);
	ds_metrics_free();
	close(sfd);
	if (ds_opts.pidfile)
		unlink(ds_opts.pidfile);
	return 0;
}
