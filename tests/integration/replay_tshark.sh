#!/bin/bash
# dnsurge replay --dry-run must count the same DNS queries and responses
# as tshark on every capture in a folder (tests/data/pcaps). Exits 77 (ctest
# skip) when tshark is not installed.
# Usage: replay_tshark.sh DNSURGE PCAP_DIR
#
# Where the two may legitimately differ (none of the committed captures
# does; add a capture that does with its reason here):
# - tshark counts a message it can only partly dissect (shown as
#   malformed, e.g. a compression loop in the question, or qdcount > 1);
#   dnsurge counts it under skipped.malformed, since it cannot be replayed.
# - after a hole in a TCP stream tshark decodes a segment only if it
#   starts on a message; dnsurge also finds messages starting mid-segment.
# - tshark decodes DNS on its registered ports only (53, plus 5353 as
#   mDNS, 5355 as LLMNR ...); dnsurge decodes exactly the --port list.
set -u
dnsurge=$1
dir=$2
if ! command -v tshark >/dev/null 2>&1; then
	echo "tshark is not installed: skipped"
	exit 77
fi
fail=0
n=0
for f in "$dir"/*.pcap "$dir"/*.pcapng; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	# One row per frame; a TCP segment holding several messages gives a
	# comma-separated list. Reassembly settings pinned against user prefs.
	flags=$(tshark -n -r "$f" -o tcp.desegment_tcp_streams:TRUE -o ip.defragment:TRUE \
		-o ipv6.defragment:TRUE -Y dns -T fields -e dns.flags.response 2>/dev/null |
		tr ',' '\n')
	tq=$(grep -c -x -E '0|False' <<<"$flags")
	tr=$(grep -c -x -E '1|True' <<<"$flags")
	if ! out=$("$dnsurge" replay "$f" --dry-run --json); then
		echo "FAIL $(basename "$f"): dnsurge replay exited with an error"
		fail=1
		continue
	fi
	ours=$(python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["queries"], d["responses"])' <<<"$out")
	if [ "$ours" != "$tq $tr" ]; then
		echo "FAIL $(basename "$f"): dnsurge $ours, tshark $tq $tr (queries responses)"
		fail=1
	else
		echo "ok   $(basename "$f"): $ours"
	fi
done
if [ "$n" = 0 ]; then
	echo "no capture in $dir"
	exit 1
fi
exit $fail
