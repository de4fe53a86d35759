/* SPDX-License-Identifier: MIT */
/*
 * health [ADDRESS] { lameduck DURATION }: GET /health answers 200 "OK" for
 * as long as the process runs (lameduck included); it is not tied to DNS
 * state. A self-probe once a second records
 * coredns_health_request_duration_seconds and counts failures. On
 * SIGTERM, lameduck keeps DNS serving for DURATION before listeners close.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "server/src/http.h"
#include "server/src/metrics.h"
#include "server/src/plugin.h"

typedef struct health {
	char addr[96];
	int64_t lameduck_ns;
	pthread_t probe;
	bool probing;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ds_mhist_t dur;
	uint32_t failures;
} health_t;

static int health_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	ds_args_t *a = &occ[0];
	health_t *h = calloc(1, sizeof(*h));
	if (!h)
		return DS_ENOMEM;
	p->ctx = h;
	snprintf(h->addr, sizeof(h->addr), ":8080");
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	ds_args_next(a);
	if (ds_args_next_arg(a)) {
		char norm[96];
		const char *v = ds_args_val(a);
		if (!strchr(v, ':') || ds_http_parse_addr(v, 0, norm, sizeof(norm)) < 0)
			return ds_args_err(a, "invalid health address '%s': want host:port", v);
		snprintf(h->addr, sizeof(h->addr), "%s", v);
		if (ds_args_next_arg(a))
			return ds_args_err_argcount(a);
	}
	while (ds_args_next_block(a)) {
		if (strcmp(ds_args_val(a), "lameduck") != 0)
			return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
		if (!ds_args_next_arg(a))
			return ds_args_err_argcount(a);
		int64_t d;
		if (ds_parse_duration(ds_args_val(a), &d) < 0 || d < 0)
			return ds_args_err(a, "unable to parse lameduck duration value: '%s'", ds_args_val(a));
		h->lameduck_ns = d;
		if (ds_args_next_arg(a))
			return ds_args_err_argcount(a);
	}
	static const char *none[1];
	ds_mfam_t *fd = ds_metrics_family("coredns_health_request_duration_seconds",
					  "Histogram of the time (in seconds) each request took.",
					  DS_M_HISTOGRAM, none, 0, ds_slim_time_buckets_ns, 5, 1e-9);
	ds_mfam_t *ff = ds_metrics_family("coredns_health_request_failures_total",
					  "The number of times the health check failed.",
					  DS_M_COUNTER, none, 0, NULL, 0, 1);
	h->dur = ds_metrics_hseries(fd, none);
	h->failures = ds_metrics_series(ff, none);
	return DS_OK;
}

static int health_handler(void *arg, ds_http_resp_t *r)
{
	ds_http_text(r, 200, "OK");
	return DS_OK;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return size * nmemb;
}

static void *probe_main(void *arg)
{
	health_t *h = arg;
	char url[160];
	char norm[96];
	ds_http_parse_addr(h->addr, 0, norm, sizeof(norm));
	/* A wildcard listener is probed through loopback. */
	if (norm[0] == '[' && strncmp(norm, "[::]", 4) == 0)
		snprintf(url, sizeof(url), "http://127.0.0.1%s/health", norm + 4);
	else if (strncmp(norm, "0.0.0.0", 7) == 0)
		snprintf(url, sizeof(url), "http://127.0.0.1%s/health", norm + 7);
	else
		snprintf(url, sizeof(url), "http://%s/health", norm);
	CURL *c = curl_easy_init();
	unsigned tid = ds_metrics_tid();
	while (!atomic_load(&h->stop)) {
		if (c) {
			curl_easy_setopt(c, CURLOPT_URL, url);
			curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
			curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
			int64_t t0 = ds_now_ns();
			CURLcode rc = curl_easy_perform(c);
			int64_t d = ds_now_ns() - t0;
			long code = 0;
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			ds_metric_observe(tid, &h->dur, (uint64_t)d);
			if (rc != CURLE_OK || code != 200) {
				ds_metric_inc(tid, h->failures);
				ds_plog(DS_LOG_WARNING, "health", "Local health request to \"%s\" failed: %s", url,
					rc != CURLE_OK ? curl_easy_strerror(rc) : "unexpected status");
			} else if (d > DS_NS_PER_SEC) {
				ds_plog(DS_LOG_WARNING, "health", "Local health request to \"%s\" took more than 1s: %lldms",
					url, (long long)(d / DS_NS_PER_MS));
			}
		}
		pthread_mutex_lock(&h->mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!atomic_load(&h->stop))
			pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		pthread_mutex_unlock(&h->mu);
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

static int health_start(ds_plugin_t *p, ds_err_t *err)
{
	health_t *h = p->ctx;
	int rc = ds_http_route(h->addr, "/health", health_handler, NULL, p, err);
	if (rc < 0)
		return rc;
	atomic_store(&h->stop, false);
	if (pthread_create(&h->probe, NULL, probe_main, h) == 0)
		h->probing = true;
	return DS_OK;
}

static void health_stop(ds_plugin_t *p)
{
	health_t *h = p->ctx;
	if (h->probing) {
		pthread_mutex_lock(&h->mu);
		atomic_store(&h->stop, true);
		pthread_cond_signal(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->probe, NULL);
		h->probing = false;
	}
	ds_http_unroute(h->addr, "/health", p);
}

static int64_t health_shutdown(ds_plugin_t *p)
{
	health_t *h = p->ctx;
	if (h->lameduck_ns > 0) {
		char b[32];
		ds_plog(DS_LOG_INFO, "health", "Going into lameduck mode for %s",
			ds_fmt_duration(h->lameduck_ns, b, sizeof(b)));
	}
	return h->lameduck_ns;
}

static void health_teardown(ds_plugin_t *p)
{
	health_t *h = p->ctx;
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

DS_PLUGIN_DEFINE(health) = {
	.abi = DS_PLUGIN_ABI,
	.name = "health",
	.flags = DS_PLUGIN_ONCE,
	.setup = health_setup,
	.start = health_start,
	.stop = health_stop,
	.shutdown = health_shutdown,
	.teardown = health_teardown,
};
