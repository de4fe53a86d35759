/* SPDX-License-Identifier: MIT */
/**
 * \file meter.h
 * \brief What the load generator counts and times, per thread and interval.
 *
 * One meter per sending thread collects an interval's counters and three
 * histograms (lib/hist.h, nanoseconds):
 *
 * - response: answer time minus the query's *intended* send time, so a
 *   sender that falls behind shows up as latency (no coordinated omission);
 * - service: answer time minus the *actual* send time (what the server
 *   and the network took);
 * - lag: actual minus intended send time, one value per query sent.
 *
 * With timeout_in_hist, a query that times out is also recorded in both
 * latency histograms at the timeout (REPORTS.md section 1.4 item 8), so
 * percentiles show the plateau the users saw. Meters merge exactly
 * (counters add, histograms merge), across threads, intervals and runs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/hist.h"

typedef struct ds_meter {
	uint64_t sent;        /**< queries handed to the kernel */
	uint64_t answered;    /**< answers matched (ID and question) within the timeout */
	uint64_t timeouts;    /**< queries without an answer within the timeout */
	uint64_t late;        /**< answers that came after their query timed out */
	uint64_t mismatched;  /**< answers matching no query sent (ID or question), duplicates */
	uint64_t malformed;   /**< answers too broken to match */
	uint64_t truncated;   /**< answers with TC set */
	uint64_t send_errors; /**< sends the generator's own kernel refused (ENOBUFS ...) */
	uint64_t refused;     /**< queries not sent because the target refused the connection */
	uint64_t drops;       /**< queries scheduled but never sent (generator behind, no free ID) */
	uint64_t late_sends;  /**< sends later than the lag limit */
	uint64_t bytes_sent, bytes_recv;
	uint64_t rcode[16];   /**< answers by header RCODE */
	uint64_t conn_opened, conn_failed;
	ds_hist_t response, service, lag;
} ds_meter_t;

/** Initialise an empty meter (no allocation until something is recorded). */
void ds_meter_init(ds_meter_t *m);
/** Free the histograms' memory. */
void ds_meter_free(ds_meter_t *m);
/** Zero everything, keeping the histograms' memory for the next interval. */
void ds_meter_reset(ds_meter_t *m);
/** dst += src. DS_ENOMEM if a histogram bin cannot be allocated. */
int ds_meter_merge(ds_meter_t *dst, const ds_meter_t *src);

/** A query was sent: lag = actual - intended (recorded when record_lag). */
static inline void ds_meter_sent(ds_meter_t *m, int64_t intended, int64_t actual, uint32_t bytes,
				 int64_t lag_limit, bool record_lag)
{
	m->sent++;
	m->bytes_sent += bytes;
	if (record_lag) {
		int64_t lag = actual - intended;
		ds_hist_record(&m->lag, lag);
		if (lag > lag_limit)
			m->late_sends++;
	}
}

/** An answer matched its query: recv is when it arrived. */
static inline void ds_meter_answer(ds_meter_t *m, int64_t intended, int64_t sent, int64_t recv,
				   unsigned rcode, bool tc, uint32_t bytes)
{
	m->answered++;
	m->bytes_recv += bytes;
	m->rcode[rcode & 15]++;
	if (tc)
		m->truncated++;
	ds_hist_record(&m->response, recv - intended);
	ds_hist_record(&m->service, recv - sent);
}

/** A query timed out after timeout_ns (from its actual send). */
static inline void ds_meter_timeout(ds_meter_t *m, int64_t timeout_ns, bool in_hist)
{
	m->timeouts++;
	if (in_hist) {
		ds_hist_record(&m->response, timeout_ns);
		ds_hist_record(&m->service, timeout_ns);
	}
}
