/* SPDX-License-Identifier: MIT */
/**
 * \file decode.h
 * \brief Capture decoder for `dnsurge replay`: DNS messages out of pcap/pcapng files.
 *
 * Reads one or more capture files with libpcap and streams every DNS
 * message they hold, in capture order, as a ds_decode_event_t:
 *
 *     ds_decode_t *d = ds_decode_open(paths, n, NULL, &err);
 *     const ds_decode_event_t *ev;
 *     int rc;
 *     while ((rc = ds_decode_next(d, &ev, &err)) != 0) {
 *             if (rc < 0) { report err.msg; continue; }  // that file is given up
 *             use ev (its bytes are valid until the next call)
 *     }
 *     const ds_decode_stats_t *st = ds_decode_stats(d);
 *     ds_decode_close(d);
 *
 * What is understood:
 * - link types: Ethernet (any number of 802.1Q / 802.1ad / 0x9100 VLAN
 *   tags), Linux SLL and SLL2, raw IP (DLT_RAW, LINKTYPE_RAW), LINKTYPE_IPV4,
 *   LINKTYPE_IPV6, BSD NULL and LOOP (address family in either byte order);
 * - IPv4 with options, IPv6 with hop-by-hop, routing, destination options,
 *   AH and fragment headers; IPv4 and IPv6 fragments are reassembled;
 * - UDP and TCP where either port is one of the DNS ports. TCP is
 *   reassembled per direction and cut into messages by the 2-byte length
 *   prefix (RFC 1035 4.2.2), coping with reordering, retransmissions,
 *   missing segments and captures that start mid-stream.
 *
 * Files are read one after another as one capture (as rotated files are),
 * so TCP flows and fragments carry over from one file to the next.
 * Timestamps are kept in nanoseconds whatever the file's resolution.
 *
 * Memory is bounded whatever the capture size: pending fragments and TCP
 * buffers have caps (ds_decode_opts_t) and whatever is given up to stay
 * under them is counted in ds_decode_stats_t.
 *
 * libpcap 1.10 refuses pcapng files whose interfaces have different link
 * types or snapshot lengths; such a file fails with libpcap's reason.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/net.h"
#include "lib/wire.h"

/** Why a packet or message was not decoded (index into ds_decode_stats_t.skipped). */
enum ds_decode_skip {
	DS_SKIP_NOT_DNS = 0,   /**< UDP/TCP on other ports */
	DS_SKIP_MALFORMED,     /**< bad IP/UDP/TCP header, or DNS ds_msg_parse() refuses */
	DS_SKIP_TRUNCATED,     /**< cut by the capture's snapshot length (caplen < len) */
	DS_SKIP_UNSUPPORTED,   /**< unknown link type, ethertype or IP protocol */
	DS_SKIP_COUNT,
};

/** Transport a message was seen on (IP protocol numbers). */
enum ds_decode_transport {
	DS_DECODE_TCP = 6,
	DS_DECODE_UDP = 17,
};

/** One DNS message. Owned by the decoder; valid until the next ds_decode_next(). */
typedef struct ds_decode_event {
	int64_t ts_ns;         /**< capture time, ns since the epoch */
	ds_sockaddr_t src;     /**< sender address and port */
	ds_sockaddr_t dst;
	uint8_t transport;     /**< enum ds_decode_transport */
	bool response;         /**< QR bit set */
	uint16_t id;
	uint16_t qtype, qclass; /**< 0 when the message has no question */
	const uint8_t *dns;    /**< the DNS message (without TCP length prefix) */
	size_t dns_len;
	/** dns parsed by ds_msg_parse(): qname (flat, lower-cased), flags, EDNS. */
	ds_msg_t msg;
	const char *file;      /**< capture file it came from */
	uint64_t packet;       /**< 1-based number in that file of the packet that completed it */
} ds_decode_event_t;

/**
 * Bounds; a zero field takes the default in brackets. Times are capture
 * time, not wall time, so a capture decodes the same at any speed.
 */
typedef struct ds_decode_opts {
	const uint16_t *ports;      /**< DNS ports [53]; a message is DNS if either port is one */
	size_t nports;
	size_t frag_max_datagrams;  /**< datagrams waiting for fragments [4096] */
	size_t frag_max_bytes;      /**< bytes held in waiting fragments [16 MiB] */
	int64_t frag_timeout_ns;    /**< a datagram not complete by then is dropped [30 s] */
	size_t tcp_max_flows;       /**< connections tracked [65536] */
	size_t tcp_max_bytes;       /**< bytes buffered over all connections [64 MiB] */
	size_t tcp_max_ooo;         /**< bytes per direction waiting behind a hole [256 KiB] */
	int64_t tcp_idle_ns;        /**< a connection silent that long is closed [120 s] */
	int64_t tcp_gap_timeout_ns; /**< a hole not filled by then is skipped [5 s] */
} ds_decode_opts_t;

/** Counters; all but files/packets/bytes count messages or datagrams as named. */
typedef struct ds_decode_stats {
	uint64_t files;             /**< files read to the end or to an error */
	uint64_t packets;           /**< records read */
	uint64_t bytes;             /**< original (on the wire) length of those records */
	uint64_t messages;          /**< DNS messages emitted = queries + responses */
	uint64_t queries, responses;
	uint64_t udp_messages, tcp_messages;
	/**
	 * Not decoded, by enum ds_decode_skip. Packets are counted once, at
	 * the layer that gave up; a DNS message that fails to parse counts as
	 * malformed (one TCP segment may hold several).
	 */
	uint64_t skipped[DS_SKIP_COUNT];
	uint64_t frag_packets;      /**< IP fragments seen */
	uint64_t frag_reassembled;  /**< datagrams rebuilt from them */
	uint64_t frag_dropped;      /**< datagrams given up: timeout, limits, overlap, end */
	uint64_t tcp_segments;      /**< TCP segments on DNS ports (with or without data) */
	uint64_t tcp_flows;         /**< connections seen */
	uint64_t tcp_gaps;          /**< holes in a stream skipped */
	uint64_t tcp_gap_bytes;     /**< bytes of stream in those holes */
	uint64_t tcp_retransmits;   /**< segments carrying only bytes already seen */
	uint64_t tcp_resync_bytes;  /**< bytes skipped to find a message start mid-stream */
	uint64_t tcp_incomplete;    /**< messages cut short by a hole or the end of a connection */
	uint64_t tcp_evicted;       /**< open connections dropped to stay within the limits */
	int64_t first_ts_ns;        /**< capture time of the first/last message emitted (0: none) */
	int64_t last_ts_ns;
} ds_decode_stats_t;

typedef struct ds_decode ds_decode_t;

/**
 * Open paths (npaths >= 1) for decoding. Every file is opened once here
 * so that a missing or non-capture file is reported before anything is
 * decoded; files are then read in order, one open at a time. The paths
 * and opts->ports are copied. Returns NULL with err set to
 * "PATH: libpcap's reason" (or the bad option).
 */
ds_decode_t *ds_decode_open(const char *const *paths, size_t npaths, const ds_decode_opts_t *opts,
			    ds_err_t *err);

/**
 * Next DNS message. Returns 1 with *ev set; 0 at the end of the last file
 * (after what was still buffered has been flushed); DS_EIO when libpcap
 * fails in the middle of a file (a file cut short, a corrupt record): err
 * names the file, the packet number and libpcap's reason, the rest of
 * that file is skipped and the next call goes on with the next file.
 */
int ds_decode_next(ds_decode_t *d, const ds_decode_event_t **ev, ds_err_t *err);

/** Counters so far; final once ds_decode_next() has returned 0. */
const ds_decode_stats_t *ds_decode_stats(const ds_decode_t *d);

/** Close the current file and free everything. NULL is fine. */
void ds_decode_close(ds_decode_t *d);

/** Name of a skip reason as printed and in JSON: "not_dns", "malformed", ... */
const char *ds_decode_skip_name(int reason);
