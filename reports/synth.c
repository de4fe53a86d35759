/* SPDX-License-Identifier: MIT */
#include "reports/synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/rand.h"

#define NLE 16 /* CoreDNS TimeBuckets: 0.25 ms * 2^k, k = 0..15, then +Inf */
#define SRV "server=\"dns://:53\",view=\"\",zone=\".\""
#define CSRV "server=\"dns://:53\",view=\"\",zones=\".\""

/* What the simulated server's /metrics would show: counters since its start. */
struct prom {
	double req[2];  /* type A, AAAA */
	double resp[3]; /* NOERROR, NXDOMAIN, SERVFAIL */
	double bucket[NLE + 1];
	double dsum, dcount;
	double hit_success, hit_denial, cache_req;
};

static double gauss(ds_rng_t *r)
{
	/* Box-Muller; 1 - u keeps log() away from 0. */
	double u = 1 - ds_rng_double(r), v = ds_rng_double(r);
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static int scrape(ds_store_writer_t *w, const struct prom *p, int64_t t)
{
	ds_store_scrape_t *sc = ds_store_scrape_new("prom:127.0.0.1:9153", t);
	char l[256];
	int rc = DS_ENOMEM;
	if (!sc)
		return rc;
	static const char *types[] = {"A", "AAAA"};
	static const char *rc_names[] = {"NOERROR", "NXDOMAIN", "SERVFAIL"};
	for (int i = 0; i < 2; i++) {
		snprintf(l, sizeof(l), SRV ",proto=\"udp\",family=\"1\",type=\"%s\"", types[i]);
		if (ds_store_scrape_add(sc, "coredns_dns_requests_total", l, "counter", p->req[i]))
			goto fail;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), SRV ",rcode=\"%s\",plugin=\"cache\"", rc_names[i]);
		if (ds_store_scrape_add(sc, "coredns_dns_responses_total", l, "counter",
		                        p->resp[i]))
			goto fail;
	}
	for (int i = 0; i <= NLE; i++) {
		if (i < NLE)
			snprintf(l, sizeof(l), SRV ",le=\"%g\"", 0.00025 * (double)(1u << i));
		else
			snprintf(l, sizeof(l), SRV ",le=\"+Inf\"");
		if (ds_store_scrape_add(sc, "coredns_dns_request_duration_seconds_bucket", l,
		                        "histogram", p->bucket[i]))
			goto fail;
	}
	if (ds_store_scrape_add(sc, "coredns_dns_request_duration_seconds_sum", SRV, "histogram",
	                        p->dsum) ||
	    ds_store_scrape_add(sc, "coredns_dns_request_duration_seconds_count", SRV, "histogram",
	                        p->dcount) ||
	    ds_store_scrape_add(sc, "coredns_cache_hits_total", CSRV ",type=\"success\"", "counter",
	                        p->hit_success) ||
	    ds_store_scrape_add(sc, "coredns_cache_hits_total", CSRV ",type=\"denial\"", "counter",
	                        p->hit_denial) ||
	    ds_store_scrape_add(sc, "coredns_cache_requests_total", CSRV, "counter", p->cache_req))
		goto fail;
	return ds_store_writer_scrape(w, sc);
fail:
	ds_store_scrape_free(sc);
	return rc;
}

struct phase_def {
	const char *name;
	int64_t dur;
	double r0, r1;     /* rate at start and end */
	double hit0, hit1; /* cache hit probability at start and end */
	double slow;       /* extra latency factor */
	bool measured;
};

static int one_trial(ds_store_t *db, const ds_synth_opts_t *o, unsigned k, int64_t start,
                     ds_rng_t *rng, int64_t *run_id, ds_err_t *err)
{
	double q = o->qps > 0 ? o->qps : 2000;
	double slowdown = o->slowdown > 0 ? o->slowdown : 1;
	double noise = o->noise < 0 ? 0.02 : o->noise;
	int64_t scrape_ns = o->scrape_ns ? o->scrape_ns : 5 * DS_NS_PER_SEC;
	struct phase_def ph[3];
	size_t nph = 0;
	int64_t warm = o->warmup_ns ? o->warmup_ns : 5 * DS_NS_PER_SEC;
	if (warm > 0)
		ph[nph++] = (struct phase_def){"warmup", warm, 0.2 * q, q, 0.3, 0.85, 1.0, false};
	ph[nph++] = (struct phase_def){
	    "steady", o->steady_ns ? o->steady_ns : 30 * DS_NS_PER_SEC, q, q, 0.85, 0.85, 1.0,
	    true};
	if (o->surge_ns > 0)
		ph[nph++] =
		    (struct phase_def){"surge", o->surge_ns, 2 * q, 2 * q, 0.7, 0.7, 1.6, false};

	char cfg[256];
	/* The same text for every trial of a call: one configuration, many trials. */
	snprintf(cfg, sizeof(cfg), "synthetic: qps %g slowdown %g noise %g loss %g servfail %g", q,
	         slowdown, noise, o->loss_pct, o->servfail_pct);
	ds_store_run_info_t ri = {
	    .tool = "synth",
	    .label = o->label ? o->label : "synthetic",
	    .scenario = o->scenario ? o->scenario : "synthetic",
	    .target = "127.0.0.1:5300/udp",
	    .config_text = cfg,
	    .params_json = "{\"load_model\":\"open\"}",
	    .seed = o->seed,
	    .timeout_ns = 2 * DS_NS_PER_SEC,
	    .started_ns = start,
	};
	ds_store_writer_t *w = NULL;
	ds_hist_t rt, st;
	struct prom p;
	int rc;

	ds_hist_init(&rt);
	ds_hist_init(&st);
	memset(&p, 0, sizeof(p));
	rc = ds_store_run_begin(db, &ri, run_id, err);
	if (rc < 0)
		goto fail;
	w = ds_store_writer_start(db, *run_id, NULL, err);
	if (!w) {
		rc = DS_EIO;
		goto fail;
	}
	double factor = exp(noise * gauss(rng)) * slowdown;
	int64_t total = 0;
	for (size_t i = 0; i < nph; i++)
		total += ph[i].dur;
	int64_t t = start, next_scrape = start, reset_at = INT64_MAX;
	if (o->counter_reset)
		reset_at = start + total / 2;
	if (o->scrape_ns >= 0) {
		if ((rc = scrape(w, &p, t)) < 0)
			goto fail;
		next_scrape += scrape_ns;
	}
	for (size_t i = 0; i < nph; i++) {
		const struct phase_def *d = &ph[i];
		int64_t p0 = t, secs = d->dur / DS_NS_PER_SEC;
		ds_store_phase_t sp = {.seq = (int)i,
		                       .name = d->name,
		                       .start_ns = p0,
		                       .end_ns = 0,
		                       .target_qps = d->r0,
		                       .target_qps_end = d->r1,
		                       .measured = d->measured};
		char tgt[64];
		snprintf(tgt, sizeof(tgt), d->r0 == d->r1 ? "step %.0f qps" : "ramp %.0f->%.0f qps",
		         d->r0, d->r1);
		sp.target = tgt;
		if ((rc = ds_store_writer_phase(w, &sp)) < 0)
			goto fail;
		for (int64_t s = 0; s < secs; s++) {
			double f = secs > 1 ? (double)s / (double)(secs - 1) : 0;
			double rate = d->r0 + (d->r1 - d->r0) * f;
			double hit = d->hit0 + (d->hit1 - d->hit0) * f;
			ds_store_interval_t iv;
			ds_store_interval_init(&iv, t, DS_NS_PER_SEC);
			iv.target_qps = rate;
			iv.sent = (uint64_t)llround(rate);
			ds_hist_reset(&rt);
			ds_hist_reset(&st);
			for (uint64_t n = 0; n < iv.sent; n++) {
				if (ds_rng_double(rng) * 100 < o->loss_pct) {
					iv.timeouts++;
					continue;
				}
				bool h = ds_rng_double(rng) < hit;
				double z = gauss(rng);
				double lat = (h ? 120e3 * exp(0.25 * z) : 1.5e6 * exp(0.5 * z)) *
				             factor * d->slow;
				double lag = 2e3 * -log(1 - ds_rng_double(rng));
				ds_hist_record(&rt, (int64_t)(lat + lag));
				ds_hist_record(&st, (int64_t)lat);
				double u = ds_rng_double(rng) * 100;
				int rcode = u < o->servfail_pct       ? 2
				            : u < o->servfail_pct + 3 ? 3
				                                      : 0;
				iv.rcode[rcode]++;
				iv.answered++;
				/* the server's own view: its processing time, a share of the total
				 */
				double srv = lat * (h ? 0.5 : 0.9) / 1e9;
				for (int b = 0; b < NLE; b++)
					if (srv <= 0.00025 * (double)(1u << b))
						p.bucket[b]++;
				p.bucket[NLE]++;
				p.dsum += srv;
				p.dcount++;
				p.req[ds_rng_double(rng) < 0.7 ? 0 : 1]++;
				p.resp[rcode == 0 ? 0 : rcode == 3 ? 1 : 2]++;
				p.cache_req++;
				if (h && rcode == 0)
					p.hit_success++;
				else if (h && rcode == 3)
					p.hit_denial++;
			}
			iv.bytes_sent = iv.sent * 31;
			iv.bytes_recv = iv.answered * 61;
			iv.lag_p99_ns = 40000 + (int64_t)(ds_rng_double(rng) * 20000);
			iv.lag_max_ns = 150000 + (int64_t)(ds_rng_double(rng) * 100000);
			if (o->lag_spike && d->measured && s == secs / 2)
				iv.lag_max_ns = 25 * DS_NS_PER_MS;
			ds_store_hist_ref_t hr[2] = {{"response_time", NULL, &rt},
			                             {"service_time", NULL, &st}};
			if ((rc = ds_store_writer_interval(w, &iv, hr, 2)) < 0)
				goto fail;
			t += DS_NS_PER_SEC;
			if (o->scrape_ns >= 0 && t >= next_scrape) {
				if ((rc = scrape(w, &p, t)) < 0)
					goto fail;
				next_scrape += scrape_ns;
			}
			/* The restart comes right after a scrape, so no increment is
			 * lost and totals over the reset stay exact. */
			if (t >= reset_at) {
				memset(&p, 0, sizeof(p));
				reset_at = INT64_MAX;
			}
			/* Keep the writer's queue short so nothing is coalesced. */
			if (s % 100 == 99 && (rc = ds_store_writer_flush(w)) < 0)
				goto fail;
		}
		sp.end_ns = t;
		if ((rc = ds_store_writer_phase(w, &sp)) < 0)
			goto fail;
	}
	rc = ds_store_writer_stop(w, err);
	w = NULL;
	if (rc < 0)
		goto fail;
	/* A real generator marks a run whose schedule slipped invalid itself. */
	rc = ds_store_run_end(db, *run_id, o->lag_spike ? DS_STORE_INVALID : DS_STORE_OK,
	                      o->lag_spike ? "schedule lag p99 25.000 ms exceeds the 1.000 ms limit" : NULL,
	                      "{\"synthetic\":true}", err);
fail:
	if (w) {
		/* A failed hand-over: the writer knows why. */
		if (err && !err->msg[0])
			ds_store_writer_error(w, err);
		ds_store_writer_stop(w, NULL);
	}
	if (rc < 0 && err && !err->msg[0])
		ds_errf(err, rc, "synthetic trial %u: %s", k, ds_strerror(rc));
	ds_hist_free(&rt);
	ds_hist_free(&st);
	return rc;
}

int ds_synth_write(ds_store_t *db, const ds_synth_opts_t *o, int64_t *run_ids, ds_err_t *err)
{
	unsigned n = o->trials ? o->trials : 1;
	int64_t len = (o->warmup_ns > 0 ? o->warmup_ns
	               : o->warmup_ns   ? 0
	                                : 5 * DS_NS_PER_SEC) +
	              (o->steady_ns ? o->steady_ns : 30 * DS_NS_PER_SEC) +
	              (o->surge_ns > 0 ? o->surge_ns : 0);
	int64_t gap = 10 * DS_NS_PER_SEC;
	int64_t start = o->start_ns;
	if (!start)
		start = (ds_wall_ns() / DS_NS_PER_SEC) * DS_NS_PER_SEC - (int64_t)n * (len + gap);
	ds_rng_t rng;
	ds_rng_seed(&rng, o->seed);
	if (err)
		err->msg[0] = 0;
	for (unsigned k = 0; k < n; k++) {
		int64_t id = 0;
		int rc = one_trial(db, o, k, start + (int64_t)k * (len + gap), &rng, &id, err);
		if (rc < 0)
			return rc;
		if (run_ids)
			run_ids[k] = id;
	}
	return DS_OK;
}
