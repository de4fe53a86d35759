/* SPDX-License-Identifier: MIT */
/*
 * The watcher thread: LIST/WATCH state machines per resource on one curl
 * multi handle, list pages and watch streams cut into single objects
 * (jscan.h), and the batching of changes into view
 * publications. Runs entirely off the query path: workers only ever see
 * the published views.
 */
#include "server/plugins/kubernetes/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/util.h"
#include "server/plugins/kubernetes/jscan.h"

#define PAGE_LIMIT 500
#define MAX_ERRBODY 16384
#define LOG_EVERY (30 * DS_NS_PER_SEC)

int64_t ds_k8s_backoff_base_ns = 800 * DS_NS_PER_MS;
int64_t ds_k8s_backoff_max_ns = 30 * DS_NS_PER_SEC;

enum { PH_LIST = 0, PH_WATCH = 1 };

/* ------------------------------------------------------------- resources */

typedef struct client client_t;

typedef struct res {
	client_t *c;
	int kind;
	const char *path;
	const char *what;   /* for log lines: "*v1.Service" */
	const char *fields; /* fieldSelector or NULL */
	const ds_k8s_selector_t *sel;
	int phase;
	bool active;
	bool synced;
	bool listing;   /* a list generation is open */
	bool relist;    /* a 410 was seen: list again after this transfer */
	bool abort_err; /* transfer aborted for an error event */
	int64_t retry_at;
	int64_t backoff;
	int64_t retry_after;
	char rv[128];
	char list_rv[128];
	char *cont, *next_cont;
	CURL *easy;
	struct curl_slist *hdrs;
	ds_jscan_t js;
	long code;
	bool code_seen;
	bool counted; /* request metric recorded */
	char errbody[MAX_ERRBODY];
	size_t errlen;
	int64_t started;
	uint32_t events;
	int64_t last_log;
	int fails;
	char url[8192];
} res_t;

struct lat {
	int kind;
	int64_t trigger;
};

struct client {
	ds_k8s_t *k;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	CURLM *multi;
	res_t res[DS_K8S_NKINDS];
	int nres;
	char *token;
	int64_t token_read;
	int64_t batch_since; /* first change not published yet */
	int64_t last_pub;    /* when the last batch was published */
	int64_t coalesce;    /* least time between two publications */
	struct lat *lats;
	size_t nlats, caplats;
	ds_k8s_client_metrics_t m;
	struct codeser {
		char code[16];
		uint32_t h;
	} codes[16];
	size_t ncodes;
	ds_mhist_t dur, rlim;
	bool have_dur;
	pthread_mutex_t stats_mu;
	ds_k8s_client_stats_t st;
};

static void stat_add(client_t *c, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&c->stats_mu);
	*field += n;
	pthread_mutex_unlock(&c->stats_mu);
}

void ds_k8s_client_get_stats(ds_k8s_t *k, ds_k8s_client_stats_t *out)
{
	client_t *c = (client_t *)k->client;
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	pthread_mutex_lock(&c->stats_mu);
	*out = c->st;
	pthread_mutex_unlock(&c->stats_mu);
}

/* ---------------------------------------------------------------- metrics */

static void count_request(res_t *r, const char *code)
{
	client_t *c = r->c;
	if (r->counted || !c->m.requests)
		return;
	r->counted = true;
	unsigned tid = ds_k8s_metrics_lock();
	uint32_t h = 0;
	size_t i;
	for (i = 0; i < c->ncodes; i++)
		if (!strcmp(c->codes[i].code, code))
			break;
	if (i < c->ncodes) {
		h = c->codes[i].h;
	} else {
		const char *v[] = {code, "GET", c->k->conn.host};
		h = ds_metrics_series(c->m.requests, v);
		if (c->ncodes < DS_ARRAY_SIZE(c->codes)) {
			snprintf(c->codes[c->ncodes].code, sizeof(c->codes[0].code), "%s", code);
			c->codes[c->ncodes++].h = h;
		}
	}
	ds_metric_inc(tid, h);
	if (c->have_dur) {
		ds_metric_observe(tid, &c->dur, (uint64_t)(ds_now_ns() - r->started));
		/* requests never wait for a client-side rate limiter here */
		ds_metric_observe(tid, &c->rlim, 0);
	}
	ds_k8s_metrics_unlock();
}

static void on_latency(void *arg, int kind, int64_t trigger_ns)
{
	client_t *c = arg;
	if (c->nlats == c->caplats) {
		size_t n = c->caplats ? c->caplats * 2 : 64;
		struct lat *nl = realloc(c->lats, n * sizeof(*nl));
		if (!nl)
			return;
		c->lats = nl;
		c->caplats = n;
	}
	c->lats[c->nlats++] = (struct lat){kind, trigger_ns};
}

/* ---------------------------------------------------------------- publish */

static void mark_synced(client_t *c)
{
	bool all = true;
	for (int i = 0; i < c->nres; i++)
		all = all && c->res[i].synced;
	if (!all || atomic_load(&c->k->synced))
		return;
	atomic_store(&c->k->synced, true);
	const ds_k8s_view_t *v = ds_k8s_store_view(c->k->store);
	ds_plog(DS_LOG_INFO, "kubernetes",
	        "Synced with the Kubernetes API: %llu services, %llu EndpointSlices (%llu ready "
	        "addresses), %llu namespaces, %llu pods; view %.1f MB",
	        (unsigned long long)v->nsvc, (unsigned long long)v->nslice,
	        (unsigned long long)v->naddr, (unsigned long long)v->nns,
	        (unsigned long long)v->npod,
	        (double)(v->bytes + ds_k8s_store_index_bytes(c->k->store)) / 1e6);
}

/* Record the programming durations of the objects processed since the
 * last call: now, as CoreDNS records them when its handler runs, also
 * when they changed nothing the DNS shows (a relist of unchanged slices:
 * kept for the next real change, they would come out later still). */
static void observe_latencies(client_t *c)
{
	int64_t now = ds_wall_ns();
	for (size_t i = 0; i < c->nlats; i++) {
		int64_t d = now - c->lats[i].trigger;
		ds_k8s_observe_latency(c->lats[i].kind, d > 0 ? d : 0);
	}
	c->nlats = 0;
}

static void publish(client_t *c)
{
	ds_k8s_t *k = c->k;
	if (!ds_k8s_store_pending(k->store)) {
		ds_k8s_store_reclaim(k->store);
		observe_latencies(c);
		mark_synced(c);
		return;
	}
	int64_t t0 = ds_now_ns();
	int64_t copies = ds_k8s_store_batch_ns(k->store);
	ds_k8s_store_publish(k->store);
	int64_t took = ds_now_ns() - t0 + copies;
	/* what batching saves (the publication and the shard copies) stays
	 * below about a fifth of the thread's time; bulk lists batch more */
	bool listing = false;
	for (int i = 0; i < c->nres; i++)
		listing = listing || c->res[i].listing;
	int64_t base = listing ? DS_K8S_COALESCE_LIST_NS : DS_K8S_COALESCE_NS;
	c->coalesce = DS_MIN(DS_MAX(base, took * 4), 200 * DS_NS_PER_MS);
	c->batch_since = 0;
	c->last_pub = ds_now_ns();
	stat_add(c, &c->st.publishes, 1);
	observe_latencies(c);
	mark_synced(c);
}

static void changed(client_t *c)
{
	if (!c->batch_since && ds_k8s_store_pending(c->k->store))
		c->batch_since = ds_now_ns();
}

/* ----------------------------------------------------------------- events */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_rv(res_t *r, const cJSON *obj)
{
	const char *rv = jstr(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
	if (rv && strlen(rv) < sizeof(r->rv))
		snprintf(r->rv, sizeof(r->rv), "%s", rv);
}

static void res_log(res_t *r, const char *fmt, ...) DS_PRINTF(2, 3);
static void res_log(res_t *r, const char *fmt, ...)
{
	int64_t now = ds_now_ns();
	/* a failing API would otherwise fill the log at the retry rate */
	if (r->last_log && now - r->last_log < LOG_EVERY)
		return;
	r->last_log = now;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ds_plog(DS_LOG_WARNING, "kubernetes", "%s", msg);
}

static void on_object(void *arg, ds_jscan_what_t what, const char *obj, size_t len)
{
	res_t *r = arg;
	client_t *c = r->c;
	ds_k8s_t *k = c->k;
	cJSON *doc = cJSON_ParseWithLength(obj, len);
	if (!doc) {
		r->js.failed = true;
		return;
	}
	if (what == DS_JSCAN_META) {
		const char *rv = jstr(doc, "resourceVersion"), *cont = jstr(doc, "continue");
		if (rv)
			snprintf(r->list_rv, sizeof(r->list_rv), "%s", rv);
		free(r->next_cont);
		r->next_cont = cont && cont[0] ? strdup(cont) : NULL;
	} else if (what == DS_JSCAN_ITEM) {
		ds_k8s_apply(k->store, &k->objopts, r->kind, false, doc, on_latency, c, NULL);
		changed(c);
	} else {
		const char *type = jstr(doc, "type");
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, "object");
		if (!type || !o) {
			r->js.failed = true;
		} else if (!strcmp(type, "ERROR")) {
			const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
			const char *msg = jstr(o, "message");
			if (cJSON_IsNumber(code) && code->valuedouble == 410) {
				r->relist = true;
			} else {
				r->abort_err = true;
				res_log(r, "Failed to watch %s: %s", r->what,
				        msg ? msg : "error event");
			}
		} else {
			set_rv(r, o);
			r->events++;
			if (strcmp(type, "BOOKMARK") != 0) {
				ds_k8s_apply(k->store, &k->objopts, r->kind,
				             !strcmp(type, "DELETED"), o, on_latency, c, NULL);
				stat_add(c, &c->st.events, 1);
				changed(c);
			}
		}
	}
	cJSON_Delete(doc);
}

/* ------------------------------------------------------------- transfers */

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	res_t *r = arg;
	size_t len = sz * n;
	if (len >= 12 && strncasecmp(p, "retry-after:", 12) == 0) {
		long long s;
		char v[32];
		size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
		memcpy(v, p + 12, vl);
		v[vl] = '\0';
		char *e = v + strlen(v);
		while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
			*--e = '\0';
		char *b = v;
		while (*b == ' ')
			b++;
		if (ds_parse_int(b, 0, 3600, &s) == DS_OK)
			r->retry_after = s * DS_NS_PER_SEC;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		/* end of the headers: the response code is known */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
		if (r->code >= 200) {
			r->code_seen = true;
			char code[24];
			snprintf(code, sizeof(code), "%ld", r->code);
			count_request(r, code);
		}
	}
	return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	res_t *r = arg;
	size_t len = sz * n;
	if (!r->code_seen)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
	if (r->code != 200) {
		size_t room = sizeof(r->errbody) - 1 - r->errlen;
		size_t k = len < room ? len : room;
		memcpy(r->errbody + r->errlen, p, k);
		r->errlen += k;
		r->errbody[r->errlen] = '\0';
		return len;
	}
	/* false also when on_object failed the stream */
	if (!ds_jscan_feed(&r->js, p, len, on_object, r))
		return 0; /* a malformed stream: abort and retry */
	/* an in-stream 410 or error: stop reading this watch */
	if (r->relist || r->abort_err)
		return 0;
	return len;
}

static void urlenc(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void add_selectors(res_t *r, size_t *o)
{
	char enc[4096];
	if (r->sel) {
		urlenc(enc, sizeof(enc), ds_k8s_selector_text(r->sel));
		*o += (size_t)snprintf(r->url + *o, sizeof(r->url) - *o, "&labelSelector=%s", enc);
	}
	if (r->fields) {
		urlenc(enc, sizeof(enc), r->fields);
		*o += (size_t)snprintf(r->url + *o, sizeof(r->url) - *o, "&fieldSelector=%s", enc);
	}
}

static bool setup_easy(res_t *r)
{
	client_t *c = r->c;
	const ds_k8s_conn_t *cn = &c->k->conn;
	CURL *e = curl_easy_init();
	if (!e)
		return false;
	r->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	/* a watch is quiet between events; bookmarks come every minute or so */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r->phase == PH_WATCH ? 660L : 120L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cn->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cn->ca_file);
	if (cn->ca_data) {
		struct curl_blob b = {cn->ca_data, cn->ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (cn->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, cn->cert_file);
	if (cn->cert_data) {
		struct curl_blob b = {cn->cert_data, cn->cert_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	}
	if (cn->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, cn->key_file);
	if (cn->key_data) {
		struct curl_blob b = {cn->key_data, cn->key_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	}
	if (cn->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cn->username) {
		curl_easy_setopt(e, CURLOPT_USERNAME, cn->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, cn->password ? cn->password : "");
	}
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	h = h ? curl_slist_append(h, "User-Agent: dnsurged/" DS_VERSION) : NULL;
	const char *tok = ds_k8s_conn_token(cn, &c->token, &c->token_read);
	if (h && tok) {
		char *line;
		if (asprintf(&line, "Authorization: Bearer %s", tok) >= 0) {
			h = curl_slist_append(h, line);
			memset(line, 0, strlen(line));
			free(line);
		}
	}
	if (!h)
		return false;
	r->hdrs = h;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	return true;
}

static void start(res_t *r)
{
	client_t *c = r->c;
	size_t o;
	if (r->phase == PH_LIST) {
		if (!r->listing) {
			/* a new list: what it does not return is swept at its end */
			ds_k8s_store_begin_list(c->k->store, r->kind);
			r->listing = true;
			free(r->cont);
			r->cont = NULL;
		}
		o = (size_t)snprintf(r->url, sizeof(r->url), "%s%s?limit=%d", c->k->conn.server,
		                     r->path, PAGE_LIMIT);
		if (r->cont) {
			char enc[4096];
			urlenc(enc, sizeof(enc), r->cont);
			o += (size_t)snprintf(r->url + o, sizeof(r->url) - o, "&continue=%s", enc);
		}
		add_selectors(r, &o);
		stat_add(c, &c->st.lists, 1);
	} else {
		char enc[512];
		urlenc(enc, sizeof(enc), r->rv);
		/* 300 to 600 s, as client-go spreads its watches */
		long t = 300 + (long)ds_rand_below(300);
		o = (size_t)snprintf(r->url, sizeof(r->url),
		                     "%s%s?allowWatchBookmarks=true&resourceVersion=%s&"
		                     "timeoutSeconds=%ld&watch=true",
		                     c->k->conn.server, r->path, enc, t);
		add_selectors(r, &o);
		stat_add(c, &c->st.watches, 1);
	}
	ds_jscan_reset(&r->js, r->phase == PH_LIST ? DS_JSCAN_LIST : DS_JSCAN_WATCH);
	r->code = 0;
	r->code_seen = r->counted = false;
	r->errlen = 0;
	r->errbody[0] = '\0';
	r->relist = r->abort_err = false;
	r->retry_after = 0;
	r->events = 0;
	r->list_rv[0] = '\0';
	free(r->next_cont);
	r->next_cont = NULL;
	r->started = ds_now_ns();
	if (!setup_easy(r) || curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		if (r->easy)
			curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->hdrs);
		r->easy = NULL;
		r->hdrs = NULL;
		r->retry_at = ds_now_ns() + DS_NS_PER_SEC;
		return;
	}
	r->active = true;
}

static void backoff(res_t *r)
{
	if (!r->backoff)
		r->backoff = ds_k8s_backoff_base_ns;
	else
		r->backoff = DS_MIN(r->backoff * 2, ds_k8s_backoff_max_ns);
	int64_t d = r->backoff;
	/* a little jitter so instances do not retry in step */
	d += (int64_t)ds_rand_below((uint64_t)(d / 10) + 1);
	if (r->retry_after > d)
		d = r->retry_after;
	r->retry_at = ds_now_ns() + d;
	r->fails++;
	stat_add(r->c, &r->c->st.errors, 1);
}

/* A short reason from an error body (a Status) or the curl result. */
static void reason(res_t *r, CURLcode cc, char *out, size_t cap)
{
	if (cc != CURLE_OK && !r->code_seen) {
		snprintf(out, cap, "%s", curl_easy_strerror(cc));
		return;
	}
	cJSON *st = r->errlen ? cJSON_ParseWithLength(r->errbody, r->errlen) : NULL;
	const char *msg = st ? jstr(st, "message") : NULL;
	snprintf(out, cap, "HTTP %ld%s%s", r->code, msg ? ": " : "", msg ? msg : "");
	cJSON_Delete(st);
}

static void finished(res_t *r, CURLcode cc)
{
	client_t *c = r->c;
	curl_multi_remove_handle(c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	r->easy = NULL;
	r->hdrs = NULL;
	r->active = false;
	if (!r->code_seen)
		count_request(r, "<error>");
	int64_t now = ds_now_ns();
	bool ok = (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && (r->relist || r->abort_err))) &&
	          r->code == 200 && !r->js.failed;
	char why[512];
	if (r->phase == PH_LIST) {
		if (ok && ds_jscan_complete(&r->js)) {
			r->backoff = 0;
			r->fails = 0;
			if (r->next_cont) {
				free(r->cont);
				r->cont = r->next_cont;
				r->next_cont = NULL;
				r->retry_at = now;
				return;
			}
			ds_k8s_store_sweep(c->k->store, r->kind);
			r->listing = false;
			r->synced = true;
			snprintf(r->rv, sizeof(r->rv), "%s", r->list_rv);
			r->phase = PH_WATCH;
			r->retry_at = now;
			changed(c);
			publish(c);
			return;
		}
		if (r->code == 410) {
			/* the continue token expired: list again from the start */
			r->listing = false;
			r->retry_at = now;
			stat_add(c, &c->st.relists, 1);
			return;
		}
		reason(r, cc, why, sizeof(why));
		res_log(r, "Failed to list %s: %s", r->what, why);
		r->listing = false;
		backoff(r);
		return;
	}
	/* watch */
	if (r->relist || r->code == 410) {
		r->phase = PH_LIST;
		r->rv[0] = '\0';
		r->retry_at = now;
		stat_add(c, &c->st.relists, 1);
		return;
	}
	if (ok && !r->abort_err) {
		if (r->events == 0 && now - r->started < DS_NS_PER_SEC) {
			/* a stream that ends at once is an error too (client-go's "very short
			 * watch") */
			res_log(r, "Failed to watch %s: very short watch", r->what);
			backoff(r);
			return;
		}
		r->backoff = 0;
		r->fails = 0;
		r->retry_at = now;
		return;
	}
	if (!r->abort_err) {
		reason(r, cc, why, sizeof(why));
		res_log(r, "Failed to watch %s: %s", r->what, why);
	}
	backoff(r);
}

/* ------------------------------------------------------------------ loop */

static void *run(void *arg)
{
	client_t *c = arg;
	while (!atomic_load(&c->stop)) {
		int64_t now = ds_now_ns();
		int64_t wait = DS_NS_PER_SEC;
		for (int i = 0; i < c->nres; i++) {
			res_t *r = &c->res[i];
			if (!r->active && now >= r->retry_at)
				start(r);
			if (!r->active)
				wait = DS_MIN(wait, DS_MAX(r->retry_at - now, 0));
		}
		if (c->batch_since)
			wait = DS_MIN(wait, DS_MAX(c->last_pub + c->coalesce - now, 0));
		if (ds_k8s_store_retired(c->k->store))
			wait = DS_MIN(wait, 10 * DS_NS_PER_MS);
		int ms = (int)((wait + DS_NS_PER_MS - 1) / DS_NS_PER_MS);
		curl_multi_poll(c->multi, NULL, 0, ms, NULL);
		int running;
		curl_multi_perform(c->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(c->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			char *priv = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			if (priv)
				finished((res_t *)(void *)priv, msg->data.result);
		}
		/* Everything curl had is applied: publish now, unless the last
		 * publication was too recent; then the batch grows until it is
		 * due. A lone change is visible at once, a burst costs one
		 * publication per `coalesce`. */
		now = ds_now_ns();
		if (c->batch_since && now - c->last_pub >= c->coalesce)
			publish(c);
		else if (ds_k8s_store_retired(c->k->store))
			ds_k8s_store_reclaim(c->k->store);
		/* events that changed nothing the DNS shows are done now */
		if (!c->batch_since && c->nlats)
			observe_latencies(c);
	}
	for (int i = 0; i < c->nres; i++) {
		res_t *r = &c->res[i];
		if (r->easy) {
			curl_multi_remove_handle(c->multi, r->easy);
			curl_easy_cleanup(r->easy);
			curl_slist_free_all(r->hdrs);
			r->easy = NULL;
			r->hdrs = NULL;
		}
	}
	publish(c);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ds_k8s_client_start(ds_k8s_t *k, const ds_k8s_client_metrics_t *m, ds_err_t *err)
{
	pthread_once(&curl_once, curl_init_once);
	client_t *c = calloc(1, sizeof(*c));
	if (!c)
		return DS_ENOMEM;
	c->k = k;
	c->coalesce = DS_K8S_COALESCE_NS;
	pthread_mutex_init(&c->stats_mu, NULL);
	atomic_init(&c->stop, false);
	if (m) {
		c->m = *m;
		if (m->duration && m->ratelimit) {
			const char *v[] = {"GET", k->conn.host};
			c->dur = ds_metrics_hseries(m->duration, v);
			c->rlim = ds_metrics_hseries(m->ratelimit, v);
			c->have_dur = true;
		}
	}
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return ds_errf(err, DS_ENOMEM, "plugin/kubernetes: cannot create an HTTP client");
	}
	static const struct {
		int kind;
		const char *path, *what;
	} rs[] = {
	    {DS_K8S_K_SVC, "/api/v1/services", "*v1.Service"},
	    {DS_K8S_K_NS, "/api/v1/namespaces", "*v1.Namespace"},
	    {DS_K8S_K_SLICE, "/apis/discovery.k8s.io/v1/endpointslices", "*v1.EndpointSlice"},
	    {DS_K8S_K_POD, "/api/v1/pods", "*v1.Pod"},
	};
	for (size_t i = 0; i < DS_ARRAY_SIZE(rs); i++) {
		if (rs[i].kind == DS_K8S_K_SLICE && k->noendpoints)
			continue;
		if (rs[i].kind == DS_K8S_K_POD && k->pod_mode != DS_K8S_PODS_VERIFIED)
			continue;
		res_t *r = &c->res[c->nres++];
		r->c = c;
		r->kind = rs[i].kind;
		r->path = rs[i].path;
		r->what = rs[i].what;
		r->sel = rs[i].kind == DS_K8S_K_NS ? k->ns_labels : k->labels;
		if (rs[i].kind == DS_K8S_K_POD)
			r->fields =
			    "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";
	}
	k->client = (ds_k8s_client_t *)c;
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		k->client = NULL;
		curl_multi_cleanup(c->multi);
		free(c);
		return ds_errf(err, DS_ENOMEM, "plugin/kubernetes: cannot start the API watcher");
	}
	c->running = true;
	return DS_OK;
}

void ds_k8s_client_stop(ds_k8s_t *k)
{
	client_t *c = (client_t *)k->client;
	if (!c)
		return;
	if (c->running) {
		atomic_store(&c->stop, true);
		curl_multi_wakeup(c->multi);
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < c->nres; i++) {
		free(c->res[i].cont);
		free(c->res[i].next_cont);
		ds_jscan_free(&c->res[i].js);
	}
	curl_multi_cleanup(c->multi);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c->lats);
	pthread_mutex_destroy(&c->stats_mu);
	free(c);
	k->client = NULL;
}
