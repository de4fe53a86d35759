/* SPDX-License-Identifier: MIT */
#include "scenarios/scrape.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"

/* Type of a sample from its family's # TYPE line: histogram series add
 * _bucket/_sum/_count to the family name. */
static const char *type_for(const char *name, const char *fam, const char *ftype)
{
	if (!fam[0])
		return "untyped";
	size_t fl = strlen(fam);
	if (strncmp(name, fam, fl) != 0)
		return "untyped";
	const char *suf = name + fl;
	if (*suf == '\0' || ((!strcmp(ftype, "histogram") || !strcmp(ftype, "summary")) &&
			     (!strcmp(suf, "_bucket") || !strcmp(suf, "_sum") || !strcmp(suf, "_count"))))
		return ftype;
	return "untyped";
}

int ds_prom_parse(const char *text, size_t len, ds_prom_sample_fn fn, void *arg)
{
	char fam[256] = "", ftype[32] = "untyped";
	int n = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		size_t ll = (size_t)(eol - p);
		char line[8192];
		if (ll >= sizeof(line))
			return DS_EMALF;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = eol + 1;
		if (!ll)
			continue;
		if (line[0] == '#') {
			char t[256], ty[32];
			if (sscanf(line, "# TYPE %255s %31s", t, ty) == 2) {
				snprintf(fam, sizeof(fam), "%s", t);
				snprintf(ftype, sizeof(ftype), "%s", ty);
			}
			continue;
		}
		char *s = line;
		char *name = s;
		while (*s && *s != '{' && *s != ' ')
			s++;
		char *labels = (char *)"";
		if (*s == '{') {
			*s++ = '\0';
			labels = s;
			bool inq = false;
			while (*s && (inq || *s != '}')) {
				if (inq && *s == '\\' && s[1])
					s++;
				else if (*s == '"')
					inq = !inq;
				s++;
			}
			if (*s != '}')
				return DS_EMALF;
			*s++ = '\0';
		} else if (*s) {
			*s++ = '\0';
		}
		while (*s == ' ')
			s++;
		char *ve = s;
		while (*ve && *ve != ' ')
			ve++;
		*ve = '\0';
		double v;
		if (!strcmp(s, "+Inf"))
			v = INFINITY;
		else if (!strcmp(s, "-Inf"))
			v = -INFINITY;
		else if (!strcmp(s, "NaN"))
			v = NAN;
		else {
			char *e2;
			v = strtod(s, &e2);
			if (e2 == s || *e2)
				return DS_EMALF;
		}
		fn(name, labels, type_for(name, fam, ftype), v, arg);
		n++;
	}
	return n;
}

struct ds_scraper {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char url[256];
	int64_t interval;
	bool stop;
	ds_store_writer_t *w;
	unsigned ok, failed;
};

typedef struct body {
	char *p;
	size_t len, cap;
} body_t;

static size_t on_data(char *ptr, size_t size, size_t nm, void *ud)
{
	body_t *b = ud;
	size_t n = size * nm;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 65536;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np)
			return 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void add_sample(const char *name, const char *labels, const char *mtype, double value,
		       void *arg)
{
	ds_store_scrape_add(arg, name, labels, mtype, value);
}

static void scrape_once(ds_scraper_t *s, CURL *c)
{
	char url[256];
	pthread_mutex_lock(&s->mu);
	snprintf(url, sizeof(url), "%s", s->url);
	pthread_mutex_unlock(&s->mu);
	body_t b = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 900L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	int64_t t = ds_wall_ns();
	long code = 0;
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200 && b.p) {
		char src[300];
		snprintf(src, sizeof(src), "prom:%s", url);
		ds_store_scrape_t *sc = ds_store_scrape_new(src, t);
		if (sc && ds_prom_parse(b.p, b.len, add_sample, sc) >= 0) {
			ds_store_writer_scrape(s->w, sc);
			s->ok++;
		} else {
			ds_store_scrape_free(sc);
			s->failed++;
		}
	} else {
		s->failed++;
	}
	free(b.p);
}

static void *scraper_main(void *arg)
{
	ds_scraper_t *s = arg;
	CURL *c = curl_easy_init();
	int64_t next = ds_now_ns();
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->stop && ds_now_ns() < next) {
			int64_t w = next - ds_now_ns();
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t abs = (int64_t)ts.tv_sec * DS_NS_PER_SEC + ts.tv_nsec + (w > 0 ? w : 0);
			ts.tv_sec = abs / DS_NS_PER_SEC;
			ts.tv_nsec = abs % DS_NS_PER_SEC;
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (c)
			scrape_once(s, c); /* also one last time when stopping */
		if (stop)
			break;
		next += s->interval;
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

ds_scraper_t *ds_scraper_start(const char *url, int64_t interval_ns, ds_store_writer_t *w,
			       ds_err_t *err)
{
	ds_scraper_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	snprintf(s->url, sizeof(s->url), "%s", url);
	s->interval = interval_ns;
	s->w = w;
	if (pthread_create(&s->th, NULL, scraper_main, s) != 0) {
		ds_errf(err, DS_EAGAIN, "cannot start the metrics scraper thread");
		free(s);
		return NULL;
	}
	return s;
}

void ds_scraper_set_url(ds_scraper_t *s, const char *url)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->url, sizeof(s->url), "%s", url);
	pthread_mutex_unlock(&s->mu);
}

void ds_scraper_counts(ds_scraper_t *s, unsigned *ok, unsigned *failed)
{
	*ok = s->ok;
	*failed = s->failed;
}

void ds_scraper_stop(ds_scraper_t *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
