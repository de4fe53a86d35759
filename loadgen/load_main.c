/* SPDX-License-Identifier: MIT */
/*
 * `dnsurge load`: the command line around the load engine (load.h): option
 * parsing, the progress line, recording into the results store and the
 * end-of-run report. Exit status: 0 valid run, 1 the run failed (e.g. the
 * store could not be written), 2 bad usage or configuration, 3 the run
 * completed but is invalid, 130 interrupted by SIGINT.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/rand.h"
#include "lib/store.h"
#include "lib/util.h"
#include "loadgen/load.h"
#include "loadgen/summary.h"
#include "loadgen/verb.h"

/* The shared helpers (verb.h), speaking as "dnsurge load". */
#define bad(...) ds_verb_bad("load", __VA_ARGS__)
#define parse_uint(...) ds_verb_uint("load", __VA_ARGS__)
#define parse_dur(...) ds_verb_duration("load", __VA_ARGS__)

static void usage(FILE *f)
{
	fputs("usage: dnsurge load --target HOST:PORT (--rate QPS | --profile SPEC | --max-outstanding N)\n"
	      "                    [options]\n"
	      "\n"
	      "Send DNS queries on an absolute schedule (open loop) and measure every answer\n"
	      "from the query's intended send time. docs/LOAD.md has the details.\n"
	      "\n"
	      "Target and transport:\n"
	      "  --target HOST:PORT       IPv4 or IPv6 address ([::1]:5300), or localhost:PORT\n"
	      "  --tcp                    TCP, persistent pipelined connections (default UDP)\n"
	      "  --queries-per-conn N     TCP: open a new connection after N queries (0 = never)\n"
	      "Load:\n"
	      "  --rate QPS               constant rate (50000, 50k, 1.5M)\n"
	      "  --profile SPEC           rate over time: TIME:RATE steps, TIME:RATE~ ramps to the\n"
	      "                           next point, TIME:RATE+DUR spikes, e.g.\n"
	      "                           0s:1000,30s:50000~,60s:500000,90s:1000,100s:0\n"
	      "  --poisson                Poisson spacing (default: constant spacing)\n"
	      "  --duration D             sending time (default 10s, or the profile's final T:0)\n"
	      "  --max-outstanding N      CLOSED LOOP (no --rate/--profile): keep N queries in\n"
	      "                           flight, as dnsperf -q does; for comparisons with dnsperf\n"
	      "  --threads N              sending threads (default 1)\n"
	      "  --sockets N              UDP sockets / TCP connections per thread (default 1)\n"
	      "  --batch N                sendmmsg/recvmmsg batch (default 64)\n"
	      "  --no-gso                 UDP: one datagram per message (default: UDP GSO groups)\n"
	      "  --coalesce D             send queries due within D together (default: about 8\n"
	      "                           queries' time at the peak rate, at most 100us)\n"
	      "  --shard I/N              this copy is shard I of N (1-based): rate/N, disjoint\n"
	      "                           query streams; auto/N takes I from a Kubernetes\n"
	      "                           Indexed Job's JOB_COMPLETION_INDEX (0-based) + 1\n"
	      "  --seed S                 seed of the query stream and the Poisson gaps\n"
	      "Queries (default: --names 10000 --zipf 1):\n"
	      "  --queries FILE           dnsperf format: 'name type' per line\n"
	      "  --names N                synthetic names n0..n<N-1>.<zone>\n"
	      "  --zipf S                 Zipf exponent of name popularity (0 = uniform)\n"
	      "  --random-subdomain       cache busting: a new r<hex>.<zone> every query\n"
	      "  --zone Z                 zone of synthetic and NXDOMAIN names (example.com)\n"
	      "  --nxdomain PCT           share of queries for names that do not exist\n"
	      "  --qtypes MIX             qtype mix, e.g. A:70,AAAA:25,SRV:5 (default A)\n"
	      "  --k8s                    Kubernetes service lookups with search-path expansion\n"
	      "  --k8s-services N         services (default 1000), Zipf popularity (--zipf)\n"
	      "  --k8s-namespaces N       namespaces (default 10)\n"
	      "  --k8s-domain D           cluster domain (default cluster.local)\n"
	      "  --ndots N                resolv.conf ndots of the pods (default 5)\n"
	      "  --edns SIZE              add an OPT record advertising SIZE (default: none)\n"
	      "  --dnssec                 set the DO bit (adds OPT)\n"
	      "  --no-rd                  clear RD\n"
	      DS_VERB_HELP_MEASUREMENT
	      DS_VERB_HELP_OUTPUT
	      "\n"
	      "Exit status: 0 valid run, 1 failed, 2 bad usage, 3 invalid run, 130 interrupted.\n",
	      f);
}

enum {
	O_TARGET = 256,
	O_TCP,
	O_QPC,
	O_RATE,
	O_PROFILE,
	O_POISSON,
	O_DURATION,
	O_MAXOUT,
	O_THREADS,
	O_SOCKETS,
	O_BATCH,
	O_COALESCE,
	O_SHARD,
	O_SEED,
	O_QUERIES,
	O_NAMES,
	O_ZIPF,
	O_RANDOM,
	O_ZONE,
	O_NX,
	O_QTYPES,
	O_K8S,
	O_K8S_SVC,
	O_K8S_NS,
	O_K8S_DOMAIN,
	O_NDOTS,
	O_EDNS,
	O_DNSSEC,
	O_NORD,
	O_NOGSO,
};

static const struct option opts[] = {
	{"target", required_argument, NULL, O_TARGET},
	{"tcp", no_argument, NULL, O_TCP},
	{"queries-per-conn", required_argument, NULL, O_QPC},
	{"rate", required_argument, NULL, O_RATE},
	{"profile", required_argument, NULL, O_PROFILE},
	{"poisson", no_argument, NULL, O_POISSON},
	{"duration", required_argument, NULL, O_DURATION},
	{"max-outstanding", required_argument, NULL, O_MAXOUT},
	{"threads", required_argument, NULL, O_THREADS},
	{"sockets", required_argument, NULL, O_SOCKETS},
	{"batch", required_argument, NULL, O_BATCH},
	{"coalesce", required_argument, NULL, O_COALESCE},
	{"shard", required_argument, NULL, O_SHARD},
	{"seed", required_argument, NULL, O_SEED},
	{"queries", required_argument, NULL, O_QUERIES},
	{"names", required_argument, NULL, O_NAMES},
	{"zipf", required_argument, NULL, O_ZIPF},
	{"random-subdomain", no_argument, NULL, O_RANDOM},
	{"zone", required_argument, NULL, O_ZONE},
	{"nxdomain", required_argument, NULL, O_NX},
	{"qtypes", required_argument, NULL, O_QTYPES},
	{"k8s", no_argument, NULL, O_K8S},
	{"k8s-services", required_argument, NULL, O_K8S_SVC},
	{"k8s-namespaces", required_argument, NULL, O_K8S_NS},
	{"k8s-domain", required_argument, NULL, O_K8S_DOMAIN},
	{"ndots", required_argument, NULL, O_NDOTS},
	{"edns", required_argument, NULL, O_EDNS},
	{"dnssec", no_argument, NULL, O_DNSSEC},
	{"no-rd", no_argument, NULL, O_NORD},
	DS_VERB_OPTIONS,
	{"no-gso", no_argument, NULL, O_NOGSO},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Everything the run needs besides the engine's own configuration. */
struct run {
	ds_load_cfg_t cfg;
	ds_qsrc_cfg_t qcfg;
	ds_profile_t *profile;
	ds_qsrc_t *qsrc;
	const char *profile_text;
	char rate_text[64];
	bool progress;
	ds_verb_t v;
	ds_load_t *l;
	/* phases: one per profile segment, recorded as the run reaches them */
	bool *ph_started, *ph_ended;
	size_t nph;
	int64_t start_wall;
};

static void stop_load(void *l)
{
	ds_load_stop(l);
}

static int parse_pct(const char *opt, const char *s, double *out)
{
	char buf[64];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return bad("--%s: '%s' is not a percentage", opt, s);
	memcpy(buf, s, n + 1);
	if (buf[n - 1] == '%')
		buf[n - 1] = 0;
	double v;
	if (ds_parse_double(buf, &v) < 0 || !(v >= 0 && v <= 100))
		return bad("--%s: '%s' is not a percentage between 0 and 100", opt, s);
	*out = v / 100;
	return 0;
}

static int parse_target(const char *s, ds_sockaddr_t *a)
{
	char buf[300];
	s = ds_verb_localhost(s, buf, sizeof(buf));
	if (ds_addr_parse(s, 53, a) < 0)
		return bad("--target: '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:5300, [::1]:5300)", s);
	if (ds_addr_is_any(a) || ds_addr_port(a) == 0)
		return bad("--target: '%s' needs a specific address and a non-zero port", s);
	return 0;
}

/* ------------------------------------------------------------ output */

static void progress_line(struct run *R, const ds_load_snap_t *s)
{
	char tgt[48];
	if (R->cfg.profile)
		snprintf(tgt, sizeof(tgt), "target %.0f qps", s->target_qps);
	else
		snprintf(tgt, sizeof(tgt), "target closed-loop qps");
	ds_summary_progress(stderr, s, tgt);
}

static void phase_put(struct run *R, size_t i, int64_t end_wall)
{
	const ds_profile_seg_t *sg = &R->cfg.profile->seg[i];
	char tgt[64];
	static const char *names[] = {"step", "ramp", "spike", "idle"};
	ds_store_phase_t p = {
		.seq = (int)i,
		.name = names[sg->kind],
		.start_ns = R->start_wall + sg->t0,
		.end_ns = end_wall,
		.target = ds_profile_seg_str(sg, tgt, sizeof(tgt)),
		.target_qps = sg->r0 / R->cfg.shard_count,
		.target_qps_end = sg->r1 / R->cfg.shard_count,
		.measured = sg->kind != DS_SEG_IDLE,
	};
	ds_verb_phase(&R->v, &p);
}

static void record_phases(struct run *R, const ds_load_snap_t *s)
{
	int64_t upto = s->t_ns + s->dur_ns; /* run time covered so far */
	if (!R->cfg.profile) {
		if (!R->nph) {
			char tgt[64];
			snprintf(tgt, sizeof(tgt), "closed-loop, %u outstanding", R->cfg.max_outstanding);
			ds_store_phase_t p = {.seq = 0, .name = "closed-loop", .start_ns = R->start_wall,
					      .end_ns = s->final ? R->start_wall + upto : 0,
					      .target = tgt, .target_qps = NAN, .target_qps_end = NAN,
					      .measured = true};
			ds_verb_phase(&R->v, &p);
			if (s->final)
				R->nph = 1;
		}
		return;
	}
	for (size_t i = 0; i < R->nph; i++) {
		const ds_profile_seg_t *sg = &R->cfg.profile->seg[i];
		/* A segment at or after the end of sending never ran. */
		if (!R->ph_started[i] && sg->t0 < upto && sg->t0 < R->cfg.duration_ns) {
			phase_put(R, i, 0);
			R->ph_started[i] = true;
		}
		if (R->ph_started[i] && !R->ph_ended[i] &&
		    (s->final || (sg->t1 != INT64_MAX && sg->t1 <= upto))) {
			int64_t end = sg->t1 != INT64_MAX && sg->t1 <= upto ? sg->t1 : upto;
			phase_put(R, i, R->start_wall + end);
			R->ph_ended[i] = true;
		}
	}
}

static void on_interval(const ds_load_snap_t *s, void *user)
{
	struct run *R = user;
	if (!R->start_wall)
		R->start_wall = s->t_wall_ns - s->t_ns;
	if (R->progress)
		progress_line(R, s);
	if (!R->v.wr)
		return;
	if (s->dur_ns > 0 &&
	    ds_verb_interval(&R->v, s, R->cfg.profile ? s->target_qps : NAN,
			     R->cfg.profile != NULL, R->cfg.tcp) != DS_OK)
		ds_load_stop(R->l);
	record_phases(R, s);
}

static cJSON *params_json(const struct run *R, int argc, char **argv)
{
	cJSON *o = ds_verb_params(argc, argv);
	cJSON_AddStringToObject(o, "load_model", R->cfg.profile ? "open" : "closed");
	if (R->cfg.profile) {
		cJSON_AddStringToObject(o, "profile", R->profile_text);
		cJSON_AddStringToObject(o, "spacing", R->cfg.poisson ? "poisson" : "constant");
	} else {
		cJSON_AddNumberToObject(o, "max_outstanding", R->cfg.max_outstanding);
	}
	cJSON_AddStringToObject(o, "transport", R->cfg.tcp ? "tcp" : "udp");
	cJSON_AddNumberToObject(o, "duration_s", (double)R->cfg.duration_ns / 1e9);
	cJSON_AddNumberToObject(o, "threads", R->cfg.threads);
	cJSON_AddNumberToObject(o, "sockets", R->cfg.sockets);
	cJSON_AddNumberToObject(o, "batch", R->cfg.batch);
	cJSON_AddNumberToObject(o, "coalesce_ns", (double)R->cfg.coalesce_ns);
	cJSON_AddNumberToObject(o, "max_lag_ns", (double)R->cfg.max_lag_ns);
	char shard[32];
	snprintf(shard, sizeof(shard), "%u/%u", R->cfg.shard_index + 1, R->cfg.shard_count);
	cJSON_AddStringToObject(o, "shard", shard);
	cJSON_AddStringToObject(o, "source", R->v.source);
	return o;
}

/* ------------------------------------------------------------- main */

static int parse_args(struct run *R, int argc, char **argv)
{
	ds_load_cfg_t *c = &R->cfg;
	ds_qsrc_cfg_t *q = &R->qcfg;
	bool have_target = false, have_seed = false, have_dur = false, have_zipf = false;
	const char *rate = NULL;
	int srcs = 0;
	long long v;
	double x;
	int o;
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return -1;
		case O_TARGET:
			if (parse_target(optarg, &c->target))
				return DS_VERB_EXIT_USAGE;
			have_target = true;
			break;
		case O_TCP:
			c->tcp = true;
			break;
		case O_QPC:
			if (parse_uint("queries-per-conn", optarg, 0, UINT32_MAX, &v))
				return DS_VERB_EXIT_USAGE;
			c->queries_per_conn = (uint32_t)v;
			break;
		case O_RATE:
			rate = optarg;
			break;
		case O_PROFILE:
			R->profile_text = optarg;
			break;
		case O_POISSON:
			c->poisson = true;
			break;
		case O_DURATION:
			if (parse_dur("duration", optarg, &c->duration_ns))
				return DS_VERB_EXIT_USAGE;
			if (c->duration_ns == 0)
				return bad("--duration: must be more than 0");
			have_dur = true;
			break;
		case O_MAXOUT:
			if (parse_uint("max-outstanding", optarg, 1, 10000000, &v))
				return DS_VERB_EXIT_USAGE;
			c->max_outstanding = (uint32_t)v;
			break;
		case O_THREADS:
			if (parse_uint("threads", optarg, 1, 256, &v))
				return DS_VERB_EXIT_USAGE;
			c->threads = (unsigned)v;
			break;
		case O_SOCKETS:
			if (parse_uint("sockets", optarg, 1, 128, &v))
				return DS_VERB_EXIT_USAGE;
			c->sockets = (unsigned)v;
			break;
		case O_BATCH:
			if (parse_uint("batch", optarg, 1, 1024, &v))
				return DS_VERB_EXIT_USAGE;
			c->batch = (unsigned)v;
			break;
		case O_COALESCE:
			if (parse_dur("coalesce", optarg, &c->coalesce_ns))
				return DS_VERB_EXIT_USAGE;
			break;
		case O_SHARD: {
			unsigned i, n;
			char tail;
			if (!strncmp(optarg, "auto/", 5)) {
				/* Every pod of an Indexed Job runs the same command
				 * line; the Job controller numbers them 0..N-1. */
				const char *e = getenv("JOB_COMPLETION_INDEX");
				if (sscanf(optarg + 5, "%u%c", &n, &tail) != 1 || n < 1 ||
				    n > 65536)
					return bad("--shard: '%s' is not auto/N with N >= 1",
						   optarg);
				if (!e || ds_parse_int(e, 0, n - 1, &v) < 0)
					return bad("--shard %s: JOB_COMPLETION_INDEX is %s%s%s, "
						   "not an index from 0 to %u (run it in an "
						   "Indexed Job, or give I/N)",
						   optarg, e ? "'" : "unset", e ? e : "",
						   e ? "'" : "", n - 1);
				c->shard_index = (unsigned)v;
				c->shard_count = n;
				break;
			}
			if (sscanf(optarg, "%u/%u%c", &i, &n, &tail) != 2 || n < 1 || n > 65536 ||
			    i < 1 || i > n)
				return bad("--shard: '%s' is not I/N with 1 <= I <= N (e.g. 1/4)",
					   optarg);
			c->shard_index = i - 1;
			c->shard_count = n;
			break;
		}
		case O_SEED: {
			char *end;
			errno = 0;
			unsigned long long s = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg || optarg[0] == '-')
				return bad("--seed: '%s' is not a non-negative integer", optarg);
			c->seed = s;
			have_seed = true;
			break;
		}
		case O_QUERIES:
			q->kind = DS_QSRC_FILE;
			q->file = optarg;
			srcs++;
			break;
		case O_NAMES:
			if (parse_uint("names", optarg, 1, 20000000, &v))
				return DS_VERB_EXIT_USAGE;
			q->names = (uint64_t)v;
			break;
		case O_ZIPF:
			if (ds_parse_double(optarg, &x) < 0 || !(x >= 0 && x <= 10))
				return bad("--zipf: '%s' is not an exponent between 0 and 10", optarg);
			q->zipf = x;
			have_zipf = true;
			break;
		case O_RANDOM:
			q->kind = DS_QSRC_RANDOM;
			srcs++;
			break;
		case O_ZONE:
			q->zone = optarg;
			break;
		case O_NX:
			if (parse_pct("nxdomain", optarg, &q->nxdomain))
				return DS_VERB_EXIT_USAGE;
			break;
		case O_QTYPES: {
			uint16_t t[DS_QSRC_MAX_TYPES];
			double cum[DS_QSRC_MAX_TYPES];
			ds_err_t err;
			if (ds_qsrc_qtypes_parse(optarg, t, cum, DS_QSRC_MAX_TYPES, &err) < 0)
				return bad("--qtypes: %s", err.msg);
			q->qtypes = optarg;
			break;
		}
		case O_K8S:
			q->kind = DS_QSRC_K8S;
			srcs++;
			break;
		case O_K8S_SVC:
			if (parse_uint("k8s-services", optarg, 1, 20000000, &v))
				return DS_VERB_EXIT_USAGE;
			q->names = (uint64_t)v;
			break;
		case O_K8S_NS:
			if (parse_uint("k8s-namespaces", optarg, 1, 100000, &v))
				return DS_VERB_EXIT_USAGE;
			q->namespaces = (unsigned)v;
			break;
		case O_K8S_DOMAIN:
			q->domain = optarg;
			break;
		case O_NDOTS:
			if (parse_uint("ndots", optarg, 1, 15, &v))
				return DS_VERB_EXIT_USAGE;
			q->ndots = (int)v;
			break;
		case O_EDNS:
			if (parse_uint("edns", optarg, 0, 65535, &v))
				return DS_VERB_EXIT_USAGE;
			c->edns = (int)v;
			break;
		case O_DNSSEC:
			c->dnssec_ok = true;
			break;
		case O_NORD:
			c->rd = false;
			break;
		case O_NOGSO:
			c->no_gso = true;
			break;
		case ':':
			return bad("%s needs a value", argv[optind - 1]);
		default: {
			int r = ds_verb_opt(&R->v, o, optarg);
			if (r < 0)
				return DS_VERB_EXIT_USAGE;
			if (!r)
				return bad("unknown option '%s' (dnsurge load --help lists them)",
					   argv[optind - 1]);
			break;
		}
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!have_target)
		return bad("--target HOST:PORT is required");
	if (srcs > 1)
		return bad("choose one query source: --queries, --random-subdomain or --k8s");
	if (rate && R->profile_text)
		return bad("--rate and --profile exclude each other");
	if ((rate || R->profile_text) && c->max_outstanding)
		return bad("--max-outstanding selects the closed loop: drop --rate/--profile");
	if (!rate && !R->profile_text && !c->max_outstanding)
		return bad("give --rate QPS, --profile SPEC or --max-outstanding N");
	if (c->queries_per_conn && !c->tcp)
		return bad("--queries-per-conn needs --tcp");
	if (q->kind == DS_QSRC_FILE && (q->names || q->zipf > 0))
		return bad("--names/--zipf are for synthetic names, not with --queries");
	ds_err_t err;
	if (rate) {
		snprintf(R->rate_text, sizeof(R->rate_text), "0s:%s", rate);
		R->profile = ds_profile_parse(R->rate_text, &err);
		if (!R->profile || R->profile->last_rate <= 0)
			return bad("--rate: '%s' is not a rate above 0 (e.g. 5000, 50k, 1.5M)", rate);
		R->profile_text = R->rate_text;
	} else if (R->profile_text) {
		R->profile = ds_profile_parse(R->profile_text, &err);
		if (!R->profile)
			return bad("--profile: %s", err.msg);
		if (!have_dur) {
			if (R->profile->last_rate > 0)
				return bad("--profile: the last point holds %.0f qps forever: give --duration or end the profile with a point at rate 0 (e.g. 120s:0)",
					   R->profile->last_rate);
			c->duration_ns = R->profile->last_point_ns;
		}
	}
	if (!c->duration_ns)
		c->duration_ns = 10 * DS_NS_PER_SEC;
	c->profile = R->profile;
	if (!have_seed)
		c->seed = ds_rand64() >> 11; /* exact in JSON numbers (doubles) too */
	if (q->kind == DS_QSRC_NAMES && !q->names)
		q->names = 10000;
	/* Real name popularity is skewed: Zipf 1 unless told otherwise. */
	if ((q->kind == DS_QSRC_NAMES || q->kind == DS_QSRC_K8S) && !have_zipf)
		q->zipf = 1.0;
	q->seed = c->seed;
	return 0;
}

static void cleanup(struct run *R)
{
	ds_load_free(R->l);
	ds_qsrc_free(R->qsrc);
	ds_profile_free(R->profile);
	free(R->ph_started);
	free(R->ph_ended);
}

int ds_load_main(int argc, char **argv)
{
	struct run R;
	memset(&R, 0, sizeof(R));
	ds_load_cfg_init(&R.cfg);
	ds_verb_init(&R.v, "load", &R.cfg.timeout_ns, &R.cfg.timeout_in_hist, &R.cfg.max_lag_ns);
	R.qcfg.kind = DS_QSRC_NAMES;
	ds_err_t err = {{0}};
	int rc = parse_args(&R, argc, argv);
	if (rc) {
		cleanup(&R);
		return rc < 0 ? 0 : rc;
	}
	R.qsrc = ds_qsrc_new(&R.qcfg, &err);
	if (!R.qsrc) {
		rc = bad("%s", err.msg);
		goto out;
	}
	R.cfg.qsrc = R.qsrc;
	ds_qsrc_describe(R.qsrc, R.v.source, sizeof(R.v.source));
	char a[DS_ADDRSTR_MAX];
	snprintf(R.v.target, sizeof(R.v.target), "%s/%s",
		 ds_addr_str(&R.cfg.target, a, sizeof(a)), R.cfg.tcp ? "tcp" : "udp");
	R.cfg.on_interval = on_interval;
	R.cfg.user = &R;
	R.progress = isatty(STDERR_FILENO);
	R.l = ds_load_new(&R.cfg, &err);
	if (!R.l) {
		rc = bad("%s", err.msg);
		goto out;
	}
	if (R.profile) {
		R.nph = R.profile->n;
		R.ph_started = calloc(R.nph, sizeof(bool));
		R.ph_ended = calloc(R.nph, sizeof(bool));
		if (!R.ph_started || !R.ph_ended) {
			rc = bad("out of memory");
			goto out;
		}
	}
	rc = ds_verb_record_begin(&R.v, params_json(&R, argc, argv), R.cfg.seed, argc, argv);
	if (rc)
		goto out;
	if (!R.v.json && R.progress)
		fprintf(stderr, "dnsurge load: %s, %s, %s for %.1f s\n", R.v.target,
			R.profile ? R.profile_text : "closed loop", R.v.source,
			(double)R.cfg.duration_ns / 1e9);
	ds_verb_sigint(stop_load, R.l);
	if (ds_load_start(R.l, &err) < 0) {
		bad("%s", err.msg);
		rc = DS_VERB_EXIT_FAILED;
	}
	ds_load_wait(R.l);
	ds_verb_sigint(NULL, NULL);

	ds_summary_in_t si;
	ds_verb_summary_in(&R.v, ds_load_result(R.l), rc == DS_VERB_EXIT_FAILED, &si);
	si.spacing = R.cfg.poisson ? "poisson" : "constant";
	si.profile = R.profile ? R.profile_text : NULL;
	si.max_outstanding = R.cfg.max_outstanding;
	si.shard_index = R.cfg.shard_index;
	si.shard_count = R.cfg.shard_count;
	si.seed = R.cfg.seed;
	rc = ds_verb_finish(&R.v, &si, ds_summary_json(&si), R.cfg.duration_ns, NULL, NULL);
out:
	ds_verb_close(&R.v);
	cleanup(&R);
	return rc;
}
