/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "decode": the capture decoder of `dnsurge replay`
 * (replay/decode.h): libpcap and the decoder's own pcapng reader, link
 * layers, VLAN tags, IPv4/IPv6 with extension headers, fragment
 * reassembly, TCP stream reassembly and DNS message framing.
 *
 * The input is a capture file (pcap or pcapng). ds_decode_open() takes
 * paths and libpcap reads the file itself (the decoder reopens it for its
 * pcapng fallback), so the input is written to a scratch file on tmpfs.
 * Inputs of odd length are opened twice in a row, as rotated files, so
 * flows and fragments carry over from one file to the next. The limits
 * are small so that eviction and give-up paths are reached.
 *
 * Checked beyond crashes: every event is a DNS message that ds_msg_parse
 * accepted, with ID, QR bit, transport and lengths consistent; the
 * counters add up at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/decode.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	if (ds_fuzz_write("fuzz.pcap", data, size, path, sizeof(path)) < 0)
		return 0;
	static const uint16_t ports[] = {53, 5353};
	const ds_decode_opts_t opts = {
	    .ports = ports,
	    .nports = DS_ARRAY_SIZE(ports),
	    .frag_max_datagrams = 8,
	    .frag_max_bytes = 64 * 1024,
	    .tcp_max_flows = 8,
	    .tcp_max_bytes = 256 * 1024,
	    .tcp_max_ooo = 16 * 1024,
	};
	const char *paths[2] = {path, path};
	ds_err_t err = {{0}};
	ds_decode_t *d = ds_decode_open(paths, (size & 1) ? 2 : 1, &opts, &err);
	if (!d) {
		DS_FUZZ_CHECK(err.msg[0] != '\0');
		return 0;
	}
	const ds_decode_event_t *ev;
	int rc;
	uint64_t events = 0, q = 0, r = 0, udp = 0, tcp = 0;
	unsigned errors = 0;
	while ((rc = ds_decode_next(d, &ev, &err)) != 0) {
		if (rc < 0) {
			/* A file given up: named in the message, then the next one. */
			DS_FUZZ_CHECK(rc == DS_EIO && err.msg[0] != '\0');
			DS_FUZZ_CHECK(++errors <= 2);
			continue;
		}
		DS_FUZZ_CHECK(rc == 1);
		DS_FUZZ_CHECK(++events < 10000000);
		DS_FUZZ_CHECK(ev->dns_len >= DS_HDR_LEN && ev->dns_len <= DS_MSG_MAX);
		DS_FUZZ_CHECK(ev->transport == DS_DECODE_UDP || ev->transport == DS_DECODE_TCP);
		DS_FUZZ_CHECK(ev->id == ds_rd16(ev->dns));
		DS_FUZZ_CHECK(ev->response == ((ds_rd16(ev->dns + 2) & DS_FLAG_QR) != 0));
		DS_FUZZ_CHECK(ev->msg.pkt == ev->dns && ev->msg.len == ev->dns_len);
		DS_FUZZ_CHECK(ev->qtype == ev->msg.qtype && ev->qclass == ev->msg.qclass);
		DS_FUZZ_CHECK(ev->file != NULL && ev->packet >= 1);
		/* The bytes are the decoder's to keep valid until the next call. */
		ds_msg_t m;
		DS_FUZZ_CHECK(ds_msg_parse(&m, ev->dns, ev->dns_len, true) == DS_OK);
		if (ev->response)
			r++;
		else
			q++;
		if (ev->transport == DS_DECODE_UDP)
			udp++;
		else
			tcp++;
	}
	const ds_decode_stats_t *st = ds_decode_stats(d);
	DS_FUZZ_CHECK(st->messages == events);
	DS_FUZZ_CHECK(st->queries == q && st->responses == r);
	DS_FUZZ_CHECK(st->udp_messages == udp && st->tcp_messages == tcp);
	DS_FUZZ_CHECK(st->frag_reassembled <= st->frag_packets);
	ds_decode_skip_name(DS_SKIP_MALFORMED);
	ds_decode_close(d);
	return 0;
}
