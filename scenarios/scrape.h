/* SPDX-License-Identifier: MIT */
/**
 * \file scrape.h
 * \brief Scrape a Prometheus /metrics endpoint every second into the store.
 *
 * ds_prom_parse() reads the text exposition format (0.0.4) line by line;
 * the scraper thread GETs a URL (libcurl) once a second and hands each
 * scrape to the results store's writer as one batch.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/store.h"

/** Called for every sample: name, labels as written (no braces), type, value. */
typedef void (*ds_prom_sample_fn)(const char *name, const char *labels, const char *mtype,
				  double value, void *arg);

/** Parse exposition text; returns the number of samples, or DS_EMALF on a broken line. */
int ds_prom_parse(const char *text, size_t len, ds_prom_sample_fn fn, void *arg);

typedef struct ds_scraper ds_scraper_t;

/** Start scraping url every interval_ns into w (source label: "prom:<url>"). */
ds_scraper_t *ds_scraper_start(const char *url, int64_t interval_ns, ds_store_writer_t *w,
			       ds_err_t *err);
/** Point the scraper somewhere else (a rolled-out server). */
void ds_scraper_set_url(ds_scraper_t *s, const char *url);
/** Scrape once more now, then stop and join. */
void ds_scraper_stop(ds_scraper_t *s);
/** Scrapes done and failed so far. */
void ds_scraper_counts(ds_scraper_t *s, unsigned *ok, unsigned *failed);
