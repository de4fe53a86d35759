/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "scenarios/k8s/k8s_churn.h"
#include "scenarios/k8s/k8s_http.h"
#include "scenarios/k8s/k8s_load.h"
#include "scenarios/k8s/k8s_store.h"
#include "scenarios/k8s/k8s_synth.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: dnsurge k8s-sim --listen HOST:PORT [options]\n"
	    "\n"
	    "Serve a simulated Kubernetes API (services, endpointslices, namespaces, pods)\n"
	    "for CoreDNS-style clients and kubectl, with scripted churn and faults.\n"
	    "\n"
	    "  --listen HOST:PORT          API address (port 0 picks a free port)\n"
	    "  --control-listen HOST:PORT  extra listener serving only /sim/v1; it stays up\n"
	    "                              while the API is \"down\"\n"
	    "  --load FILE                 objects from JSON or YAML (kubectl get -o json|yaml,\n"
	    "                              Lists, multi-document YAML); repeatable, - is stdin\n"
	    "  --synth SPEC                generate a cluster: services=N,endpoints=M,pods=P,\n"
	    "                              namespaces=K,seed=S[,dualstack=1,headless=PCT,\n"
	    "                              externalname=PCT,slice=N,system=0]\n"
	    "  --churn RATE                churn operations per second from the start\n"
	    "  --churn-kind KIND           endpoint-flap (default), endpoint-move, services,\n"
	    "                              pods or mix\n"
	    "  --fault SPEC                start with a fault, as in POST /sim/v1/fault with\n"
	    "                              k=v pairs: status=429,ratio=0.2 or\n"
	    "                              mode=slow,latency_ms=200 (repeatable)\n"
	    "  --history N                 watch events kept per resource (default 10000)\n"
	    "  --bookmark-interval D       BOOKMARK interval, Go duration (default 60s)\n"
	    "  --watch-timeout D           watch length when timeoutSeconds is absent (30m)\n"
	    "  --continue-ttl D            lifetime of LIST continue tokens (default 5m)\n"
	    "  --no-watch-list             reject sendInitialEvents with 422, like an API\n"
	    "                              server without the WatchList feature\n"
	    "  --generic-kinds             also store ServiceAccounts, ConfigMaps, Deployments,\n"
	    "                              Jobs, ClusterRoles, ClusterRoleBindings and\n"
	    "                              ServiceMonitors as posted (nothing runs them), so\n"
	    "                              that deployment manifests can be applied\n"
	    "  --threads N                 HTTP threads (default: one per CPU, at least 2)\n"
	    "  --ready-file PATH           write the bound API port there once listening\n"
	    "  --log-requests              one log line per request\n"
	    "  --quiet                     log warnings and errors only\n"
	    "  -h, --help                  this text\n"
	    "\n"
	    "Control API on the same server (and on --control-listen):\n"
	    "  GET /sim/v1/stats   POST|GET /sim/v1/churn   POST|GET|DELETE /sim/v1/fault\n"
	    "Runs until SIGINT or SIGTERM. See docs/K8S-SIM.md.\n");
}

enum {
	OPT_LISTEN = 256,
	OPT_CONTROL,
	OPT_LOAD,
	OPT_SYNTH,
	OPT_CHURN,
	OPT_CHURN_KIND,
	OPT_FAULT,
	OPT_HISTORY,
	OPT_BOOKMARK,
	OPT_WATCH_TIMEOUT,
	OPT_CONTINUE_TTL,
	OPT_NO_WATCH_LIST,
	OPT_GENERIC,
	OPT_THREADS,
	OPT_READY_FILE,
	OPT_LOG_REQUESTS,
	OPT_QUIET,
};

typedef struct opts {
	const char *listen, *control, *ready_file;
	const char **loads;
	size_t nloads;
	const char **faults;
	size_t nfaults;
	bool synth;
	ds_k8s_synth_opts_t so;
	double churn;
	int churn_kind;
	long long history;
	int64_t bookmark_ns, watch_timeout_ns, continue_ttl_ns;
	bool no_watch_list, generic, log_requests, quiet;
	long long threads;
} opts_t;

static int bad(const char *fmt, ...) DS_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "dnsurge k8s-sim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(dnsurge k8s-sim --help for usage)\n");
	va_end(ap);
	return 2;
}

static int add_str(const char ***v, size_t *n, const char *s)
{
	const char **p = realloc(*v, (*n + 1) * sizeof(*p));
	if (!p)
		return DS_ENOMEM;
	p[(*n)++] = s;
	*v = p;
	return DS_OK;
}

static int parse_dur(const char *opt, const char *v, int64_t min_ns, int64_t *out)
{
	if (ds_parse_duration(v, out) || *out < min_ns)
		return bad("%s: \"%s\" is not a valid duration (e.g. 30s, 5m)", opt, v);
	return 0;
}

/* 0 = run, 1 = --help printed, 2 = usage error (message printed). */
static int parse_args(int argc, char **argv, opts_t *o)
{
	static const struct option lo[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"control-listen", required_argument, NULL, OPT_CONTROL},
	    {"load", required_argument, NULL, OPT_LOAD},
	    {"synth", required_argument, NULL, OPT_SYNTH},
	    {"churn", required_argument, NULL, OPT_CHURN},
	    {"churn-kind", required_argument, NULL, OPT_CHURN_KIND},
	    {"fault", required_argument, NULL, OPT_FAULT},
	    {"history", required_argument, NULL, OPT_HISTORY},
	    {"bookmark-interval", required_argument, NULL, OPT_BOOKMARK},
	    {"watch-timeout", required_argument, NULL, OPT_WATCH_TIMEOUT},
	    {"continue-ttl", required_argument, NULL, OPT_CONTINUE_TTL},
	    {"no-watch-list", no_argument, NULL, OPT_NO_WATCH_LIST},
	    {"generic-kinds", no_argument, NULL, OPT_GENERIC},
	    {"threads", required_argument, NULL, OPT_THREADS},
	    {"ready-file", required_argument, NULL, OPT_READY_FILE},
	    {"log-requests", no_argument, NULL, OPT_LOG_REQUESTS},
	    {"quiet", no_argument, NULL, OPT_QUIET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ds_err_t err;
	o->churn_kind = DS_K8S_CHURN_FLAP;
	o->history = 10000;
	o->bookmark_ns = 60 * DS_NS_PER_SEC;
	o->watch_timeout_ns = 1800 * DS_NS_PER_SEC;
	o->continue_ttl_ns = 300 * DS_NS_PER_SEC;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		const char *v = optarg;
		switch (c) {
		case 'h':
			usage(stdout);
			return 1;
		case OPT_LISTEN:
			o->listen = v;
			break;
		case OPT_CONTROL:
			o->control = v;
			break;
		case OPT_READY_FILE:
			o->ready_file = v;
			break;
		case OPT_LOAD:
			if (add_str(&o->loads, &o->nloads, v))
				return bad("out of memory");
			break;
		case OPT_FAULT:
			if (add_str(&o->faults, &o->nfaults, v))
				return bad("out of memory");
			break;
		case OPT_SYNTH:
			if (ds_k8s_synth_parse(v, &o->so, &err))
				return bad("%s", err.msg);
			o->synth = true;
			break;
		case OPT_CHURN:
			if (ds_parse_double(v, &o->churn) || o->churn < 0 || o->churn > 1e6)
				return bad("--churn: \"%s\" is not a rate (operations per second)",
					   v);
			break;
		case OPT_CHURN_KIND:
			if ((o->churn_kind = ds_k8s_churn_kind_parse(v)) < 0)
				return bad("--churn-kind: unknown kind \"%s\" (endpoint-flap, "
					   "endpoint-move, services, pods, mix)",
					   v);
			break;
		case OPT_HISTORY:
			if (ds_parse_int(v, 16, 10000000, &o->history))
				return bad("--history: \"%s\" must be a number from 16 to 10000000",
					   v);
			break;
		case OPT_BOOKMARK:
			if (parse_dur("--bookmark-interval", v, DS_NS_PER_MS, &o->bookmark_ns))
				return 2;
			break;
		case OPT_WATCH_TIMEOUT:
			if (parse_dur("--watch-timeout", v, DS_NS_PER_SEC, &o->watch_timeout_ns))
				return 2;
			break;
		case OPT_CONTINUE_TTL:
			if (parse_dur("--continue-ttl", v, DS_NS_PER_SEC, &o->continue_ttl_ns))
				return 2;
			break;
		case OPT_NO_WATCH_LIST:
			o->no_watch_list = true;
			break;
		case OPT_GENERIC:
			o->generic = true;
			break;
		case OPT_THREADS:
			if (ds_parse_int(v, 1, 256, &o->threads))
				return bad("--threads: \"%s\" must be a number from 1 to 256", v);
			break;
		case OPT_LOG_REQUESTS:
			o->log_requests = true;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case ':':
			return bad("%s needs a value", argv[optind - 1]);
		default:
			return bad("unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument \"%s\"", argv[optind]);
	if (!o->listen)
		return bad("--listen HOST:PORT is required");
	return 0;
}

/* "status=429,ratio=0.2" -> {"status":429,"ratio":0.2} */
static cJSON *kv_to_json(const char *spec, ds_err_t *err)
{
	cJSON *j = cJSON_CreateObject();
	char *dup = strdup(spec);
	char *save = NULL;
	if (!j || !dup)
		goto fail;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			ds_errf(err, DS_EINVAL, "--fault: expected key=value, got \"%s\"", kv);
			goto fail;
		}
		*eq = 0;
		const char *v = eq + 1;
		double d;
		if (!strcmp(v, "true") || !strcmp(v, "false"))
			cJSON_AddBoolToObject(j, kv, v[0] == 't');
		else if (!ds_parse_double(v, &d))
			cJSON_AddNumberToObject(j, kv, d);
		else
			cJSON_AddStringToObject(j, kv, v);
	}
	free(dup);
	return j;
fail:
	free(dup);
	cJSON_Delete(j);
	return NULL;
}

typedef struct loadctx {
	ds_k8s_store_t *st;
	size_t loaded, skipped;
	ds_err_t err;
	char where[300];
} loadctx_t;

static int load_one(void *arg, cJSON *obj, const char *where)
{
	loadctx_t *lc = arg;
	ds_err_t e;
	int rc = ds_k8s_store_load(lc->st, obj, &e);
	if (rc == DS_ENOENT) {
		/* `kubectl get all -o json` carries Deployments and friends. */
		lc->skipped++;
		return DS_OK;
	}
	if (rc) {
		snprintf(lc->where, sizeof(lc->where), "%s", where);
		ds_errf(&lc->err, rc, "%s: %s", where, e.msg);
		return rc;
	}
	lc->loaded++;
	return DS_OK;
}

static int synth_one(void *arg, cJSON *obj)
{
	return load_one(arg, obj, "--synth");
}

static void raise_nofile(void)
{
	/* Every watcher is a socket: allow as many as the hard limit does. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int write_ready(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return DS_OK;
}

typedef struct sigctx {
	ds_k8s_http_t *h;
	sigset_t set;
} sigctx_t;

static void *signal_thread(void *arg)
{
	sigctx_t *sc = arg;
	int sig = 0;
	sigwait(&sc->set, &sig);
	ds_log(DS_LOG_INFO, "k8s-sim: %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	ds_k8s_http_stop(sc->h);
	return NULL;
}

int ds_k8s_sim_main(int argc, char **argv)
{
	opts_t o = {0};
	ds_k8s_store_t *st = NULL;
	ds_k8s_churn_t *churn = NULL;
	ds_k8s_http_t *h = NULL;
	int ret = parse_args(argc, argv, &o);
	if (ret) {
		ret = ret == 1 ? 0 : 2;
		goto out;
	}
	ds_log_set_quiet(o.quiet);
	ret = 2;
	ds_k8s_store_opts_t so = {
	    .history = (size_t)o.history,
	    .continue_ttl_s = (unsigned)(o.continue_ttl_ns / DS_NS_PER_SEC),
	    .seed = o.synth ? o.so.seed : 1,
	    .generic_kinds = o.generic,
	};
	if (!(st = ds_k8s_store_new(&so))) {
		fprintf(stderr, "dnsurge k8s-sim: out of memory\n");
		goto out;
	}
	loadctx_t lc = {.st = st};
	for (size_t i = 0; i < o.nloads; i++) {
		ds_err_t e;
		int rc = ds_k8s_load_file(o.loads[i], load_one, &lc, &e);
		if (rc) {
			fprintf(stderr, "dnsurge k8s-sim: %s\n", lc.where[0] ? lc.err.msg : e.msg);
			goto out;
		}
	}
	if (o.synth) {
		ds_err_t e;
		if (ds_k8s_synth_generate(&o.so, synth_one, &lc, &e)) {
			fprintf(stderr, "dnsurge k8s-sim: %s\n", lc.where[0] ? lc.err.msg : e.msg);
			goto out;
		}
	}
	size_t dups = 0;
	ds_err_t e;
	if (ds_k8s_store_seal(st, &dups, &e)) {
		fprintf(stderr, "dnsurge k8s-sim: %s\n", e.msg);
		goto out;
	}
	if (lc.skipped)
		ds_log(DS_LOG_WARNING, "k8s-sim: ignored %zu objects of kinds not simulated",
		       lc.skipped);
	if (dups)
		ds_log(DS_LOG_WARNING, "k8s-sim: %zu objects loaded twice; the last one wins",
		       dups);
	cJSON *faults[64];
	size_t nfaults = 0;
	for (size_t i = 0; i < o.nfaults; i++) {
		if (nfaults == DS_ARRAY_SIZE(faults) ||
		    !(faults[nfaults] = kv_to_json(o.faults[i], &e))) {
			fprintf(stderr, "dnsurge k8s-sim: %s\n",
				nfaults == DS_ARRAY_SIZE(faults) ? "too many --fault" : e.msg);
			goto out_faults;
		}
		nfaults++;
	}
	if (!(churn = ds_k8s_churn_new(st, so.seed))) {
		fprintf(stderr, "dnsurge k8s-sim: out of memory\n");
		goto out_faults;
	}

	/* Signals go to one thread that asks the server to stop; every thread
	 * started from here on inherits the blocked mask. */
	sigctx_t sc;
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGINT);
	sigaddset(&sc.set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	ds_k8s_http_opts_t ho = {
	    .listen = o.listen,
	    .control_listen = o.control,
	    .threads = (unsigned)o.threads,
	    .log_requests = o.log_requests,
	    .watch_list = !o.no_watch_list,
	    .bookmark_ms = (unsigned)(o.bookmark_ns / DS_NS_PER_MS),
	    .watch_timeout_s = (unsigned)(o.watch_timeout_ns / DS_NS_PER_SEC),
	};
	if (!(h = ds_k8s_http_new(st, churn, &ho, &e))) {
		fprintf(stderr, "dnsurge k8s-sim: %s\n", e.msg);
		ret = strstr(e.msg, "expected HOST:PORT") ? 2 : 1;
		goto out_faults;
	}
	for (size_t i = 0; i < nfaults; i++) {
		if (ds_k8s_http_fault(h, faults[i], &e)) {
			fprintf(stderr, "dnsurge k8s-sim: --fault %s: %s\n", o.faults[i], e.msg);
			goto out_faults;
		}
	}
	if (o.churn > 0 && ds_k8s_churn_set(churn, o.churn, (ds_k8s_churn_kind_t)o.churn_kind, 0)) {
		fprintf(stderr, "dnsurge k8s-sim: cannot start the churn thread\n");
		ret = 1;
		goto out_faults;
	}
	char ctl[48] = "", gen[48] = "";
	if (o.control)
		snprintf(ctl, sizeof(ctl), ", control API on port %d", ds_k8s_http_control_port(h));
	if (o.generic) {
		size_t ng = 0;
		for (int i = DS_K8S_SERVICEACCOUNTS; i < DS_K8S_NRES; i++)
			ng += ds_k8s_store_count(st, (ds_k8s_res_t)i);
		snprintf(gen, sizeof(gen), ", %zu objects of generic kinds", ng);
	}
	ds_log(DS_LOG_INFO,
	       "k8s-sim: serving %zu services, %zu endpointslices, %zu namespaces, %zu pods%s "
	       "(resourceVersion %" PRIu64 ") on port %d%s",
	       ds_k8s_store_count(st, DS_K8S_SERVICES),
	       ds_k8s_store_count(st, DS_K8S_ENDPOINTSLICES),
	       ds_k8s_store_count(st, DS_K8S_NAMESPACES), ds_k8s_store_count(st, DS_K8S_PODS), gen,
	       ds_k8s_store_rv(st), ds_k8s_http_port(h), ctl);
	if (o.ready_file) {
		int rc = write_ready(o.ready_file, ds_k8s_http_port(h));
		if (rc) {
			fprintf(stderr, "dnsurge k8s-sim: --ready-file %s: %s\n", o.ready_file,
				strerror(-rc));
			goto out_faults;
		}
	}
	sc.h = h;
	pthread_t sigt;
	if (pthread_create(&sigt, NULL, signal_thread, &sc)) {
		fprintf(stderr, "dnsurge k8s-sim: cannot start the signal thread\n");
		ret = 1;
		goto out_faults;
	}
	ds_k8s_http_run(h);
	pthread_join(sigt, NULL);
	ret = 0;
out_faults:
	for (size_t i = 0; i < nfaults; i++)
		cJSON_Delete(faults[i]);
out:
	/* Churn first: it writes to the store and wakes the server's watchers. */
	ds_k8s_churn_free(churn);
	ds_k8s_http_free(h);
	ds_k8s_store_free(st);
	free(o.loads);
	free(o.faults);
	return ret;
}
