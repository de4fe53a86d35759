/* SPDX-License-Identifier: MIT */
#include "server/src/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "lib/common.h"

const double ds_time_buckets_ns[16] = {
	250e3, 500e3, 1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6, 128e6, 256e6, 512e6,
	1024e6, 2048e6, 4096e6, 8192e6,
};
const double ds_slim_time_buckets_ns[5] = {250e3, 2.5e6, 25e6, 250e6, 2500e6};
const double ds_size_buckets[14] = {0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291,
				    16000, 32000, 48000, 64000};

#define MAX_CHUNKS 1024

uint64_t **ds_metric_chunks[DS_METRIC_SLOTS_MAX];

typedef struct series {
	char **values;
	uint32_t slot;       /* first slot; histograms use nbuckets + 3 */
	bool removed;
	double (*fn)(void *); /* computed gauge */
	void *fn_arg;
} series_t;

struct ds_mfam {
	char *name;
	char *help;
	ds_mtype_t type;
	char **labels;
	size_t nlabels;
	double *buckets;
	uint64_t *ubounds;
	size_t nbuckets;
	double scale;
	bool hide_zero;
	series_t *series;
	size_t nseries, capseries;
	ds_mfam_t *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static ds_mfam_t *families, *families_tail;
static uint32_t next_slot;
static unsigned nchunks;
static unsigned n_workers;
static unsigned next_spare;
static double *gauges;          /* gauges: one global double per slot index */
static size_t ngauges;
static int64_t start_wall;
static __thread int tl_tid = -1;

void ds_metrics_init(unsigned nworkers)
{
	n_workers = nworkers;
	next_spare = nworkers;
	for (unsigned i = 0; i < DS_METRIC_SLOTS_MAX; i++)
		ds_metric_chunks[i] = ds_xcalloc(MAX_CHUNKS, sizeof(uint64_t *));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	start_wall = ts.tv_sec;
}

void ds_metrics_free(void)
{
	ds_mfam_t *f = families;
	while (f) {
		ds_mfam_t *n = f->next;
		for (size_t i = 0; i < f->nseries; i++) {
			for (size_t j = 0; j < f->nlabels; j++)
				free(f->series[i].values[j]);
			free(f->series[i].values);
		}
		free(f->series);
		for (size_t j = 0; j < f->nlabels; j++)
			free(f->labels[j]);
		free(f->labels);
		free(f->buckets);
		free(f->ubounds);
		free(f->name);
		free(f->help);
		free(f);
		f = n;
	}
	families = families_tail = NULL;
	for (unsigned i = 0; i < DS_METRIC_SLOTS_MAX; i++) {
		if (!ds_metric_chunks[i])
			continue;
		for (unsigned c = 0; c < nchunks; c++)
			free(ds_metric_chunks[i][c]);
		free(ds_metric_chunks[i]);
		ds_metric_chunks[i] = NULL;
	}
	free(gauges);
	gauges = NULL;
	ngauges = 0;
	nchunks = 0;
	next_slot = 0;
}

void ds_metrics_set_tid(unsigned tid)
{
	tl_tid = (int)tid;
}

unsigned ds_metrics_tid(void)
{
	if (tl_tid < 0) {
		pthread_mutex_lock(&reg_lock);
		if (next_spare >= DS_METRIC_SLOTS_MAX) {
			/* More helper threads than slots: share the last one.
			 * Counts from such threads may race; we never get here
			 * with the thread counts dnsurged uses. */
			tl_tid = DS_METRIC_SLOTS_MAX - 1;
		} else {
			tl_tid = (int)next_spare++;
		}
		pthread_mutex_unlock(&reg_lock);
	}
	return (unsigned)tl_tid;
}

/* Reserve n consecutive slots, allocating chunks for every thread. */
static uint32_t alloc_slots(uint32_t n)
{
	/* Keep a series inside one chunk so its slots are contiguous. */
	if (next_slot / DS_METRIC_CHUNK != (next_slot + n - 1) / DS_METRIC_CHUNK)
		next_slot = (next_slot / DS_METRIC_CHUNK + 1) * DS_METRIC_CHUNK;
	uint32_t s = next_slot;
	next_slot += n;
	unsigned need = (next_slot + DS_METRIC_CHUNK - 1) / DS_METRIC_CHUNK;
	if (need > MAX_CHUNKS) {
		fputs("[FATAL] too many metric series\n", stderr);
		abort();
	}
	while (nchunks < need) {
		for (unsigned i = 0; i < DS_METRIC_SLOTS_MAX; i++)
			ds_metric_chunks[i][nchunks] = ds_xcalloc(DS_METRIC_CHUNK, sizeof(uint64_t));
		/* Publish the chunk pointers before any handle in them. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		nchunks++;
	}
	if (next_slot > ngauges) {
		size_t ng = ngauges ? ngauges : 1024;
		while (ng < next_slot)
			ng *= 2;
		/* Gauges are set from the control thread and read by scrapes
		 * under reg_lock, so a realloc here is safe. */
		double *g = realloc(gauges, ng * sizeof(double));
		if (!g)
			abort();
		memset(g + ngauges, 0, (ng - ngauges) * sizeof(double));
		gauges = g;
		ngauges = ng;
	}
	return s;
}

ds_mfam_t *ds_metrics_family(const char *name, const char *help, ds_mtype_t type,
			     const char *const *labels, size_t nlabels, const double *buckets,
			     size_t nbuckets, double scale)
{
	pthread_mutex_lock(&reg_lock);
	for (ds_mfam_t *f = families; f; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			pthread_mutex_unlock(&reg_lock);
			return f;
		}
	}
	ds_mfam_t *f = ds_xcalloc(1, sizeof(*f));
	f->name = ds_xstrdup(name);
	f->help = ds_xstrdup(help);
	f->type = type;
	f->nlabels = nlabels;
	f->labels = ds_xcalloc(nlabels ? nlabels : 1, sizeof(char *));
	for (size_t i = 0; i < nlabels; i++)
		f->labels[i] = ds_xstrdup(labels[i]);
	if (nbuckets) {
		f->buckets = ds_xmalloc(nbuckets * sizeof(double));
		memcpy(f->buckets, buckets, nbuckets * sizeof(double));
		f->ubounds = ds_xmalloc(nbuckets * sizeof(uint64_t));
		for (size_t i = 0; i < nbuckets; i++)
			f->ubounds[i] = (uint64_t)buckets[i];
	}
	f->nbuckets = nbuckets;
	f->scale = scale > 0 ? scale : 1;
	if (families_tail)
		families_tail->next = f;
	else
		families = f;
	families_tail = f;
	pthread_mutex_unlock(&reg_lock);
	return f;
}

void ds_metrics_hide_zero(ds_mfam_t *f)
{
	f->hide_zero = true;
}

uint32_t ds_metrics_series(ds_mfam_t *f, const char *const *values)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < f->nseries; i++) {
		series_t *s = &f->series[i];
		size_t j;
		for (j = 0; j < f->nlabels; j++)
			if (strcmp(s->values[j], values[j]) != 0)
				break;
		if (j == f->nlabels) {
			s->removed = false;
			pthread_mutex_unlock(&reg_lock);
			return s->slot;
		}
	}
	if (f->nseries == f->capseries) {
		f->capseries = f->capseries ? f->capseries * 2 : 8;
		series_t *ns = realloc(f->series, f->capseries * sizeof(series_t));
		if (!ns)
			abort();
		f->series = ns;
	}
	series_t *s = &f->series[f->nseries++];
	memset(s, 0, sizeof(*s));
	s->values = ds_xcalloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
	for (size_t j = 0; j < f->nlabels; j++)
		s->values[j] = ds_xstrdup(values[j]);
	s->removed = false;
	/* histogram: buckets..., +Inf, count is the +Inf bucket, sum */
	uint32_t n = f->type == DS_M_HISTOGRAM ? (uint32_t)f->nbuckets + 2 : 1;
	s->slot = alloc_slots(n);
	uint32_t slot = s->slot;
	pthread_mutex_unlock(&reg_lock);
	return slot;
}

void ds_metrics_family_clear(ds_mfam_t *f)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < f->nseries; i++) {
		f->series[i].removed = true;
		if (f->type == DS_M_GAUGE && f->series[i].slot < ngauges)
			gauges[f->series[i].slot] = 0;
	}
	pthread_mutex_unlock(&reg_lock);
}

/* Histogram slot layout: [0..nb-1] per-bucket (non-cumulative) counts,
 * [nb] total count (the +Inf bucket), [nb+1] sum in the native unit. */
ds_mhist_t ds_metrics_hseries(ds_mfam_t *f, const char *const *values)
{
	ds_mhist_t h = {ds_metrics_series(f, values), (uint32_t)f->nbuckets, f->ubounds};
	return h;
}

void ds_metrics_gauge_fn(ds_mfam_t *f, const char *const *values, double (*fn)(void *), void *arg)
{
	uint32_t h = ds_metrics_series(f, values);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < f->nseries; i++) {
		if (f->series[i].slot == h) {
			f->series[i].fn = fn;
			f->series[i].fn_arg = arg;
			if (!fn && h < ngauges)
				gauges[h] = 0;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

void ds_metric_set(uint32_t h, double v)
{
	pthread_mutex_lock(&reg_lock);
	if (h < ngauges)
		gauges[h] = v;
	pthread_mutex_unlock(&reg_lock);
}

static uint64_t sum_slot(uint32_t h)
{
	uint64_t t = 0;
	unsigned c = h / DS_METRIC_CHUNK, o = h % DS_METRIC_CHUNK;
	for (unsigned i = 0; i < DS_METRIC_SLOTS_MAX; i++)
		if (ds_metric_chunks[i] && ds_metric_chunks[i][c])
			t += __atomic_load_n(&ds_metric_chunks[i][c][o], __ATOMIC_RELAXED);
	return t;
}

uint64_t ds_metric_value(uint32_t h)
{
	return sum_slot(h);
}

/* ------------------------------------------------------------ exposition */

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf_t;

static void sb_grow(sbuf_t *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return;
	size_t nc = b->cap ? b->cap * 2 : 65536;
	while (nc < b->len + need + 1)
		nc *= 2;
	char *np = realloc(b->p, nc);
	if (!np)
		abort();
	b->p = np;
	b->cap = nc;
}

static void DS_PRINTF(2, 3) sb_printf(sbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		size_t room = b->cap - b->len;
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		sb_grow(b, (size_t)n + 1);
	}
}

static void sb_escape(sbuf_t *b, const char *s, bool help)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_printf(b, "\\\\");
		else if (*s == '\n')
			sb_printf(b, "\\n");
		else if (*s == '"' && !help)
			sb_printf(b, "\\\"");
		else
			sb_printf(b, "%c", *s);
	}
}

static void fmt_double(char *buf, size_t len, double v)
{
	if (isinf(v))
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (v == (double)(int64_t)v && fabs(v) < 1e15)
		snprintf(buf, len, "%lld", (long long)v);
	else
		snprintf(buf, len, "%.17g", v);
	/* shorten representations like 0.00025000000000000001 */
	char tmp[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v) {
			if (strlen(tmp) < strlen(buf) && !isinf(v) && !isnan(v))
				snprintf(buf, len, "%s", tmp);
			break;
		}
	}
}

static void labels_out(sbuf_t *b, const ds_mfam_t *f, const series_t *s, const char *extra_k,
		       const char *extra_v)
{
	if (f->nlabels == 0 && !extra_k)
		return;
	sb_printf(b, "{");
	bool first = true;
	for (size_t j = 0; j < f->nlabels; j++) {
		sb_printf(b, "%s%s=\"", first ? "" : ",", f->labels[j]);
		sb_escape(b, s->values[j], false);
		sb_printf(b, "\"");
		first = false;
	}
	if (extra_k)
		sb_printf(b, "%s%s=\"%s\"", first ? "" : ",", extra_k, extra_v);
	sb_printf(b, "}");
}

static void process_metrics(sbuf_t *b)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	long rss_pages = 0, vsz = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &vsz, &rss_pages) != 2)
			vsz = rss_pages = 0;
		fclose(f);
	}
	long page = sysconf(_SC_PAGESIZE);
	int fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				fds++;
		closedir(d);
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	sb_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		     "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n", cpu);
	sb_printf(b, "# HELP process_max_fds Maximum number of open file descriptors.\n"
		     "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
		  (unsigned long long)rl.rlim_cur);
	sb_printf(b, "# HELP process_open_fds Number of open file descriptors.\n"
		     "# TYPE process_open_fds gauge\nprocess_open_fds %d\n", fds - 1);
	sb_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
		  rss_pages * page);
	sb_printf(b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		     "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
		  (long long)start_wall);
	sb_printf(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		     "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %ld\n",
		  vsz * page);
}

/* Native unit to exposed unit. Dividing by an exact power of ten (1e9 for
 * ns -> s) gives the correctly rounded decimal; multiplying by 1e-9 does
 * not (0.0036595020000000002). */
static double scaled(const ds_mfam_t *f, double v)
{
	if (f->scale < 1)
		return v / (double)llround(1.0 / f->scale);
	return v * f->scale;
}

static const char *type_name(ds_mtype_t t)
{
	return t == DS_M_COUNTER ? "counter" : t == DS_M_GAUGE ? "gauge" : "histogram";
}

char *ds_metrics_render(size_t *len)
{
	sbuf_t b = {0};
	sb_grow(&b, 4096);
	pthread_mutex_lock(&reg_lock);
	for (ds_mfam_t *f = families; f; f = f->next) {
		bool header = false;
		for (size_t i = 0; i < f->nseries; i++) {
			series_t *s = &f->series[i];
			if (s->removed)
				continue;
			if (f->type == DS_M_HISTOGRAM) {
				uint64_t count = sum_slot(s->slot + (uint32_t)f->nbuckets);
				uint64_t cum = 0;
				uint64_t counts[64];
				for (size_t k = 0; k < f->nbuckets && k < 64; k++) {
					counts[k] = sum_slot(s->slot + (uint32_t)k);
				}
				if (f->hide_zero && count == 0)
					continue;
				if (!header) {
					sb_printf(&b, "# HELP %s ", f->name);
					sb_escape(&b, f->help, true);
					sb_printf(&b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
					header = true;
				}
				for (size_t k = 0; k < f->nbuckets && k < 64; k++) {
					char le[64];
					cum += counts[k];
					fmt_double(le, sizeof(le), scaled(f, f->buckets[k]));
					sb_printf(&b, "%s_bucket", f->name);
					labels_out(&b, f, s, "le", le);
					sb_printf(&b, " %llu\n", (unsigned long long)cum);
				}
				/* A scrape may see count a little ahead of the
				 * buckets it summed earlier; keep +Inf >= every
				 * bucket so the histogram stays monotonic. */
				if (count < cum)
					count = cum;
				sb_printf(&b, "%s_bucket", f->name);
				labels_out(&b, f, s, "le", "+Inf");
				sb_printf(&b, " %llu\n", (unsigned long long)count);
				char sum[64];
				fmt_double(sum, sizeof(sum), scaled(f, (double)sum_slot(s->slot + (uint32_t)f->nbuckets + 1)));
				sb_printf(&b, "%s_sum", f->name);
				labels_out(&b, f, s, NULL, NULL);
				sb_printf(&b, " %s\n", sum);
				sb_printf(&b, "%s_count", f->name);
				labels_out(&b, f, s, NULL, NULL);
				sb_printf(&b, " %llu\n", (unsigned long long)count);
				continue;
			}
			char val[64];
			if (f->type == DS_M_GAUGE) {
				double g = s->fn ? s->fn(s->fn_arg) : s->slot < ngauges ? gauges[s->slot] : 0;
				if (f->hide_zero && g == 0)
					continue;
				fmt_double(val, sizeof(val), g);
			} else {
				uint64_t v = sum_slot(s->slot);
				if (f->hide_zero && v == 0)
					continue;
				snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
			}
			if (!header) {
				sb_printf(&b, "# HELP %s ", f->name);
				sb_escape(&b, f->help, true);
				sb_printf(&b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
				header = true;
			}
			sb_printf(&b, "%s", f->name);
			labels_out(&b, f, s, NULL, NULL);
			sb_printf(&b, " %s\n", val);
		}
	}
	pthread_mutex_unlock(&reg_lock);
	process_metrics(&b);
	*len = b.len;
	return b.p;
}
