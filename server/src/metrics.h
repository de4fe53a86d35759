/* SPDX-License-Identifier: MIT */
/**
 * \file metrics.h
 * \brief Prometheus metric registry with per-thread, lock-free counters.
 *
 * Families and series are created at configuration time (control thread);
 * a series handle is a slot index. Each thread that updates metrics owns a
 * private copy of every slot (no atomics, no shared cache lines on the
 * query path); a scrape sums the copies. Slots live in fixed-size chunks
 * that never move, so series can be added on reload while workers run.
 *
 * Values are integers: counters count, histograms record in the family's
 * native unit (ns for durations, bytes for sizes) and the exposition
 * scales sums and bucket bounds by the family's `scale` (1e-9 for ns ->
 * seconds). Gauges are process-wide doubles set with ds_metric_set().
 *
 * The registry is process-wide and survives reloads, as Prometheus's
 * default registry does in CoreDNS: counters keep counting across reloads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DS_M_COUNTER, DS_M_GAUGE, DS_M_HISTOGRAM } ds_mtype_t;

typedef struct ds_mfam ds_mfam_t;

/** Threads that may update metrics: workers 0..N-1, then others. */
#define DS_METRIC_SLOTS_MAX 72

/** Size the registry for n worker threads (call once, before any series). */
void ds_metrics_init(unsigned nworkers);
void ds_metrics_free(void);
/**
 * The calling thread's slot; workers use their id. Other threads (control,
 * HTTP) get one of the spare slots on first call. Never more than
 * DS_METRIC_SLOTS_MAX threads may update metrics.
 */
unsigned ds_metrics_tid(void);
/** Workers call this once at start so ds_metrics_tid() returns their id. */
void ds_metrics_set_tid(unsigned tid);

/**
 * Family by name (created on first use, then shared). labels: label names.
 * buckets (histograms): upper bounds in the native unit, ascending, +Inf
 * implied. scale: factor from native unit to exposed unit.
 */
ds_mfam_t *ds_metrics_family(const char *name, const char *help, ds_mtype_t type,
			     const char *const *labels, size_t nlabels, const double *buckets,
			     size_t nbuckets, double scale);
/** Series handle for label values (created on first use; idempotent). */
uint32_t ds_metrics_series(ds_mfam_t *f, const char *const *values);
/**
 * Hide series of this family whose value is zero from the exposition (for
 * families pre-created over every label combination, e.g. rcode x plugin,
 * which CoreDNS only shows once touched).
 */
void ds_metrics_hide_zero(ds_mfam_t *f);
/** Remove every series of a family (coredns_plugin_enabled is reset on reload). */
void ds_metrics_family_clear(ds_mfam_t *f);

/* Update paths: plain loads/stores on the thread's own slot. */
extern uint64_t **ds_metric_chunks[DS_METRIC_SLOTS_MAX];
#define DS_METRIC_CHUNK 4096u

static inline uint64_t *ds_metric_slot(unsigned tid, uint32_t h)
{
	return &ds_metric_chunks[tid][h / DS_METRIC_CHUNK][h % DS_METRIC_CHUNK];
}

/** counter += v on thread tid. */
static inline void ds_metric_add(unsigned tid, uint32_t h, uint64_t v)
{
	uint64_t *p = ds_metric_slot(tid, h);
	/* Relaxed atomic store of a private slot: one writer, racy readers
	 * see a whole value (no torn 64-bit reads). */
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
static inline void ds_metric_inc(unsigned tid, uint32_t h)
{
	ds_metric_add(tid, h, 1);
}
/** A histogram series: its first slot and its family's bounds. */
typedef struct ds_mhist {
	uint32_t slot;
	uint32_t nbuckets;
	const uint64_t *bounds;   /**< upper bounds in native units */
} ds_mhist_t;

/** Histogram series handle for label values (created on first use). */
ds_mhist_t ds_metrics_hseries(ds_mfam_t *f, const char *const *values);

/** Record an observation in a histogram series (Prometheus `le`: v <= bound). */
static inline void ds_metric_observe(unsigned tid, const ds_mhist_t *h, uint64_t v)
{
	uint32_t k = 0;
	while (k < h->nbuckets && v > h->bounds[k])
		k++;
	if (k < h->nbuckets)
		ds_metric_inc(tid, h->slot + k);
	ds_metric_inc(tid, h->slot + h->nbuckets);       /* count (+Inf) */
	ds_metric_add(tid, h->slot + h->nbuckets + 1, v); /* sum, native unit */
}
/**
 * A gauge whose value is computed at scrape time by fn(arg) (e.g. cache
 * entries: no bookkeeping on the query path). Replaces any previous
 * callback of the same series; fn NULL removes it (value 0).
 */
void ds_metrics_gauge_fn(ds_mfam_t *f, const char *const *values, double (*fn)(void *), void *arg);
/** Set a gauge (process-wide). */
void ds_metric_set(uint32_t h, double v);
/** Current sum of a counter series over all threads (tests, scenario checks). */
uint64_t ds_metric_value(uint32_t h);

/**
 * Prometheus text exposition (format 0.0.4) of every family, into a
 * malloc'd buffer; *len gets its length. Adds process_* metrics.
 */
char *ds_metrics_render(size_t *len);

/* The bucket sets of CoreDNS (METRICS.md). */
extern const double ds_time_buckets_ns[16];       /**< 0.25 ms x 2^k, k = 0..15 */
extern const double ds_slim_time_buckets_ns[5];   /**< 0.25 ms x 10^k */
extern const double ds_size_buckets[14];          /**< 0, 100, ... 64000 bytes */
