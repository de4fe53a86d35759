/* SPDX-License-Identifier: MIT */
/**
 * \file forward.h
 * \brief forward's configuration and shared upstream state, exposed for
 *        unit tests of the policies and the health state machine.
 */
#pragma once

#include <stdatomic.h>

#include "server/src/metrics.h"
#include "server/src/plugin.h"

#define FW_MAX_UPSTREAMS 15
#define FW_NRCODES 25

enum fw_policy { FW_RANDOM = 0, FW_ROUND_ROBIN, FW_SEQUENTIAL };

/** One upstream, shared by every worker. */
typedef struct fw_upstream {
	ds_sockaddr_t addr;
	char name[64];             /**< "127.0.0.1:53": the metrics' `to` label */
	atomic_uint fails;         /**< consecutive failed health checks */
	atomic_bool check;         /**< an exchange failed: health checking wanted */
	struct fw_config *cfg;     /**< the block this upstream belongs to (in cfg->ups) */
	/* health probe, control thread only */
	int probe_fd;
	uint16_t probe_id;
	bool probe_inflight;
	bool probe_tcp_sent;
	int64_t probe_deadline;
	uint8_t probe_buf[512];
	size_t probe_len, probe_rlen;
	/* metrics */
	ds_mhist_t dur[FW_NRCODES];
	uint32_t hc_failures;
	uint32_t conn_hit[2], conn_miss[2]; /**< [0] udp, [1] tcp */
} fw_upstream_t;

typedef struct fw_config {
	uint8_t from[DS_NAME_MAX];
	uint8_t (*except)[DS_NAME_MAX];
	size_t nexcept;
	fw_upstream_t ups[FW_MAX_UPSTREAMS];
	size_t nups;
	bool force_tcp, prefer_udp;
	int64_t expire_ns, max_age_ns, read_timeout_ns;
	unsigned max_fails;
	unsigned max_connect_attempts;
	int64_t hc_interval_ns;
	bool hc_norec;
	uint8_t hc_domain[DS_NAME_MAX];
	enum fw_policy policy;
	unsigned max_concurrent;
	atomic_long inflight;      /**< for max_concurrent, across workers */
	bool failfast;
	uint32_t next_mask;        /**< rcodes handed to the next forward */
	uint32_t failover_mask;    /**< rcodes that try the next upstream */
	bool next_on_nodata;
	atomic_uint rr;            /**< round-robin position */
	uint32_t m_broken, m_rejects;
	ds_timer_t hc_timer;       /**< control loop: health probes */
	bool hc_running;
	ds_plugin_t *self;
} fw_config_t;

/** Is upstream i considered down? (fails > max_fails, never with max_fails 0) */
static inline bool fw_down(const fw_config_t *c, size_t i)
{
	return c->max_fails != 0 && atomic_load(&c->ups[i].fails) > c->max_fails;
}

/**
 * Fill order[] with upstream indices in the order the policy tries them.
 * random: a random permutation; round_robin: the next in turn first, the
 * others in configuration order; sequential: configuration order.
 */
void fw_order(fw_config_t *c, uint64_t rnd, uint8_t *order);

/** Record the result of one health probe (control thread). */
void fw_probe_result(fw_config_t *c, size_t i, bool ok);
