#!/bin/bash
# dnsurge replay's command line: exit codes, messages and the one JSON
# object of --dry-run --json. No network.
# Usage: replay_cli.sh DNSURGE PCAP_DIR
set -u
dnsurge=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
pcap=$dir/dnscap__dns.pcap

# expect CODE PATTERN -- ARGS...: exit code CODE and PATTERN in stdout+stderr
expect() {
	local code=$1 pat=$2
	shift 3
	local out rc
	out=$("$dnsurge" replay "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$code" ] || ! grep -q -- "$pat" <<<"$out"; then
		echo "FAIL replay $*: exit $rc (want $code), output:"
		echo "$out" | head -5
		fail=1
	else
		echo "ok   replay $*"
	fi
}

printf 'not a capture\n' >"$tmp/notes.txt"
: >"$tmp/empty.pcap"
head -c 5000 "$pcap" >"$tmp/cut.pcap"

expect 0 "usage: dnsurge replay" -- --help
expect 2 "unknown option '--frobnicate'" -- "$pcap" --dry-run --frobnicate
expect 2 "no capture file" -- --dry-run
expect 2 "give --target HOST:PORT" -- "$pcap"
expect 2 "$tmp/missing.pcap" -- "$tmp/missing.pcap" --dry-run
expect 2 "$tmp/notes.txt: .*unknown file format" -- "$tmp/notes.txt" --dry-run
expect 2 "$tmp/empty.pcap" -- "$tmp/empty.pcap" --dry-run
expect 2 "not a port" -- "$pcap" --dry-run --port 70000
expect 2 "needs a value" -- "$pcap" --dry-run --port
expect 0 "queries 41, responses 41" -- "$pcap" --dry-run
# a file cut short: the counts so far, the error, exit 2
expect 2 "cut.pcap: after packet 36: truncated" -- "$tmp/cut.pcap" --dry-run

# --json: exactly one JSON object on stdout, nothing on stderr
"$dnsurge" replay "$pcap" --dry-run --json >"$tmp/out.json" 2>"$tmp/err"
rc=$?
if [ $rc != 0 ] || [ -s "$tmp/err" ] || ! python3 - "$tmp/out.json" <<'PY'; then
import json, sys
text = open(sys.argv[1]).read()
d, end = json.JSONDecoder().raw_decode(text)
assert text[end:].strip() == "", "more than one JSON value"
assert isinstance(d, dict)
assert (d["packets"], d["queries"], d["responses"], d["clients"]) == (133, 41, 41, 1), d
assert d["skipped"] == {"not_dns": 0, "malformed": 0, "truncated": 0, "unsupported": 51}, d
assert d["qtypes"] == {"A": 24, "PTR": 17}, d
PY
	echo "FAIL replay --dry-run --json"
	fail=1
else
	echo "ok   replay --dry-run --json"
fi
# --port replaces 53: nothing is DNS on 5353 in this capture
"$dnsurge" replay "$pcap" --dry-run --json --port 5353 >"$tmp/out.json" 2>&1
if ! python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["queries"] == 0 and d["skipped"]["not_dns"] == 82, d' "$tmp/out.json"; then
	echo "FAIL replay --port 5353"
	fail=1
else
	echo "ok   replay --port 5353"
fi
exit $fail
