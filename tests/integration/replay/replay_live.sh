#!/bin/bash
# dnsurge replay against live servers on 127.0.0.1 (dnsurged, and a small
# Python responder that timestamps arrivals):
#   - diff against the capture: none when the server answers as captured,
#     exactly the injected NXDOMAIN name otherwise; --rewrite-zone keeps a
#     moved zone equal; --diff-against two servers alike, and unlike;
#   - one socket per captured client (dnsurged's log shows one source port
#     per client, distinct ports for distinct clients);
#   - clients that used TCP are replayed over TCP;
#   - --speed: arrival times follow the capture's gaps divided by the speed;
#     --asap ignores them; --loop; --filter;
#   - the results store row (tool replay, intervals, the diff in the summary);
#   - corrupt, cut and empty captures: a clear message, no crash.
# Every load is a few hundred queries at most.
# Usage: replay_live.sh DNSURGE DNSURGED REPLAY_MKPCAP
set -u
. "$(dirname "$0")/../lib.sh"
dnsurge=$1
dnsurged=$2
mkpcap=$3
T=$DS_TMP
failures=0

ok() { echo "ok   $1"; }
bad() {
	echo "FAIL $1"
	[ -n "${2:-}" ] && head -c 1500 "$2" && echo
	failures=$((failures + 1))
}

# check NAME JSON_FILE PYTHON: the code sees the replay's JSON as d
check() {
	local name=$1 file=$2 code=$3
	if python3 - "$file" <<PY; then
import json, sys
d = json.load(open(sys.argv[1]))
$code
PY
		ok "$name"
	else
		bad "$name" "$file"
	fi
}

pa=$(free_port)
pb=$(free_port)
pc=$(free_port)
pd=$(free_port)
# A and B answer alike; C answers NXDOMAIN for n4.example.com A; D serves
# the zone under test.lab, for --rewrite-zone.
server() {
	local port=$1 zone=$2 inject=$3
	cat <<CF
.:$port {
	bind 127.0.0.1
	log
CF
	if [ "$inject" = 1 ]; then
		cat <<CF
	template IN A $zone {
		match "^n4[.]example[.]com[.]$"
		rcode NXDOMAIN
		fallthrough
	}
CF
	fi
	cat <<CF
	template IN A $zone {
		answer "{{ .Name }} 60 IN A 192.0.2.1"
	}
	template IN AAAA $zone {
		answer "{{ .Name }} 60 IN AAAA 2001:db8::1"
	}
}
CF
}
server "$pa" example.com 0 >"$T/A"
server "$pb" example.com 0 >"$T/B"
server "$pc" example.com 1 >"$T/C"
server "$pd" test.lab 0 >"$T/D"
for s in A B C D; do
	start_bg "srv$s" "$dnsurged" -conf "$T/$s"
done
wait_dns "$pa" || fail "dnsurged A did not start: $(cat "$T/srvA.log")"
wait_dns "$pb" || fail "dnsurged B did not start"
wait_dns "$pc" || fail "dnsurged C did not start"
wait_dns "$pd" || fail "dnsurged D did not start"

replay() { "$dnsurge" replay "$@" --no-db --json --max-lag 1s; }

# ---------------------------------------------------------------- diffs
# 60 queries of 5 clients over 10 names, A and AAAA, the responses being
# what server A answers (recorded from it).
"$mkpcap" -o "$T/rec.pcap" --clients 5 --queries 60 --rate 500 --names 10 --qtypes A,AAAA \
	--record "127.0.0.1:$pa" || fail "replay_mkpcap --record"

replay "$T/rec.pcap" --target "127.0.0.1:$pa" --diff --asap >"$T/d1.json" 2>&1
check "--diff against the capture: the same server, no difference" "$T/d1.json" '
x = d["diff"]
assert d["sent"] == 60 and d["answered"] == 60, d
assert x["mode"] == "capture" and x["compared"] == 60 and x["equal"] == 60, x
assert x["different"] == 0 and d["replay"]["paired"] == 60, x
'
replay "$T/rec.pcap" --target "127.0.0.1:$pc" --diff --asap >"$T/d2.json" 2>&1
check "--diff against the capture: the injected NXDOMAIN, and only it" "$T/d2.json" '
x = d["diff"]
assert x["different"] == 6 and x["equal"] == 54, x
c = x["classes"]
assert c["rcode"]["count"] == 6 and c["answer"]["count"] == 6, c
assert c["flags"]["count"] == 0 and c["no_answer"]["count"] == 0, c
e = c["rcode"]["examples"][0]
assert e == {"question": "n4.example.com. A", "expected": "NOERROR", "got": "NXDOMAIN"}, e
assert len(c["rcode"]["examples"]) == 3, c
'
replay "$T/rec.pcap" --target "127.0.0.1:$pd" --diff --rewrite-zone example.com=test.lab \
	--asap >"$T/d3.json" 2>&1
check "--rewrite-zone: the moved zone compares equal to the capture" "$T/d3.json" '
x = d["diff"]
assert d["replay"]["rewritten"] == 60 and d["answered"] == 60, d
assert x["equal"] == 60 and x["different"] == 0, x
'
"$mkpcap" -o "$T/plain.pcap" --clients 7 --queries 80 --rate 1000 --names 10 --qtypes A,AAAA \
	--tcp-clients 2 || fail "replay_mkpcap"
replay "$T/plain.pcap" --target "127.0.0.1:$pa" --diff-against "127.0.0.1:$pb" --asap \
	>"$T/d4.json" 2>&1
check "--diff-against two servers configured alike (UDP and TCP): no difference" "$T/d4.json" '
x = d["diff"]
assert x["mode"] == "server" and x["compared"] == 80 and x["equal"] == 80, x
assert d["replay"]["tcp_queries"] > 0, d
'
replay "$T/plain.pcap" --target "127.0.0.1:$pc" --diff-against "127.0.0.1:$pa" --asap \
	>"$T/d5.json" 2>&1
check "--diff-against: the server with the injected difference" "$T/d5.json" '
x = d["diff"]
assert x["different"] == 8 and x["classes"]["rcode"]["count"] == 8, x
assert x["classes"]["rcode"]["examples"][0]["question"] == "n4.example.com. A", x
'
"$mkpcap" -o "$T/noresp.pcap" --clients 2 --queries 10 --rate 1000 || fail "replay_mkpcap"
replay "$T/noresp.pcap" --target "127.0.0.1:$pa" --diff --asap >"$T/d6.json" 2>&1
check "--diff: queries the capture has no response to are no_answer (expected side)" "$T/d6.json" '
x = d["diff"]
assert x["classes"]["no_answer"]["count"] == 10 and x["no_answer_expected"] == 10, x
'

# ------------------------------------------------- clients and transports
lines0=$(wc -l <"$T/srvA.log")
"$mkpcap" -o "$T/cli.pcap" --clients 5 --tcp-clients 2 --queries 50 --rate 500 \
	--per-client-names || fail "replay_mkpcap"
replay "$T/cli.pcap" --target "127.0.0.1:$pa" >"$T/c1.json" 2>&1
check "per-client replay: all answered, TCP for the TCP clients" "$T/c1.json" '
assert d["sent"] == 50 and d["answered"] == 50, d
assert d["replay"]["tcp_queries"] == 20 and d["replay"]["udp_queries"] == 30, d
assert d["replay"]["clients"] == 5 and d["conn_opened"] == 2, d
'
sleep 0.3
tail -n +"$((lines0 + 1))" "$T/srvA.log" | grep ' - ' >"$T/cli.log"
if python3 - "$T/cli.log" <<'PY'; then
import re, sys
ports, proto = {}, {}
for line in open(sys.argv[1]):
    m = re.search(r'\] 127\.0\.0\.1:(\d+) - \d+ "A IN q\d+\.c(\d+)\.example\.com\. (udp|tcp)', line)
    if not m:
        continue
    port, c, p = m.group(1), int(m.group(2)), m.group(3)
    ports.setdefault(c, set()).add(port)
    proto.setdefault(c, set()).add(p)
assert sorted(ports) == [0, 1, 2, 3, 4], ports
for c, s in ports.items():
    assert len(s) == 1, (c, s)             # one socket per client
allp = [next(iter(s)) for s in ports.values()]
assert len(set(allp)) == 5, ports          # distinct clients, distinct sockets
assert proto[0] == {"tcp"} and proto[1] == {"tcp"}, proto
assert all(proto[c] == {"udp"} for c in (2, 3, 4)), proto
PY
	ok "dnsurged's log: one source port per client, distinct across clients; TCP clients on TCP"
else
	bad "per-client sockets in the server log" "$T/cli.log"
fi

# ----------------------------------------------------------------- timing
# A responder that notes when each query arrives (monotonic ns) and answers.
pt=$(free_port)
cat >"$T/stamp.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
out = open(sys.argv[2], "w", buffering=1)
print("ready", flush=True)
while True:
    try:
        d, a = s.recvfrom(4096)
    except socket.timeout:
        break
    t = time.monotonic_ns()
    out.write("%d %d\n" % (t, d[0] << 8 | d[1]))
    r = bytearray(d)
    r[2] |= 0x80
    s.sendto(bytes(r), a)
PY
# 25 queries of one client; gaps cycle 20, 60, 5, 100 ms (1.6 s in all).
"$mkpcap" -o "$T/gaps.pcap" --clients 1 --queries 25 --gaps 20,60,5,100 || fail "replay_mkpcap"
timing() {
	local speed=$1 tag=$2
	: >"$T/arr.$tag"
	start_bg "stamp$tag" python3 "$T/stamp.py" "$pt" "$T/arr.$tag"
	for _ in $(seq 50); do grep -q ready "$T/stamp$tag.log" && break; sleep 0.1; done
	"$dnsurge" replay "$T/gaps.pcap" --target "127.0.0.1:$pt" --speed "$speed" --no-db --json \
		>"$T/t.$tag.json" 2>&1
	kill "$(cat "$T/stamp$tag.pid")" 2>/dev/null
	if python3 - "$T/arr.$tag" "$speed" "$T/t.$tag.json" <<'PY'; then
import json, sys
gaps = [20, 60, 5, 100]
speed = float(sys.argv[2])
arr = {}
for line in open(sys.argv[1]):
    t, i = line.split()
    arr[int(i)] = int(t)
assert sorted(arr) == list(range(1, 26)), sorted(arr)
want = [0.0]
for i in range(24):
    want.append(want[-1] + gaps[i % 4])
# Anchored on the median offset, not on the first query alone.
offs = sorted((arr[i + 1] - arr[1]) / 1e6 - want[i] / speed for i in range(25))
off = offs[12]
errs = sorted(abs((arr[i + 1] - arr[1]) / 1e6 - want[i] / speed - off) for i in range(25))
# Loopback, a Python receiver and a busy machine add jitter: most within
# 3 ms, all within 50 ms (the gaps are 2 to 100 ms).
assert errs[19] < 3.0 and errs[-1] < 50.0, errs
d = json.load(open(sys.argv[3]))
assert d["sent"] == 25 and d["answered"] == 25, d
assert d["schedule_lag_ms"]["p50"] < 2.0, d["schedule_lag_ms"]
PY
		ok "--speed $speed: arrivals follow the captured gaps / $speed"
	else
		bad "--speed $speed timing" "$T/arr.$tag"
		cat "$T/t.$tag.json"
	fi
}
timing 1 s1
timing 2.5 s2

replay "$T/gaps.pcap" --target "127.0.0.1:$pa" --asap >"$T/asap.json" 2>&1
check "--asap ignores the captured gaps (1.6 s of capture)" "$T/asap.json" '
assert d["sent"] == 25 and d["answered"] == 25 and d["elapsed_s"] < 0.8, d
assert d["load_model"] == "replay" and d["replay"]["asap"] is True, d
'
replay "$T/plain.pcap" --target "127.0.0.1:$pa" --asap --loop 3 --filter qtype=A \
	>"$T/loop.json" 2>&1
check "--loop 3 --filter qtype=A: three passes of the A queries" "$T/loop.json" '
r = d["replay"]
assert r["passes"] == 3 and r["queries_read"] == 240 and r["filtered"] == 120, r
assert d["sent"] == 120 and d["answered"] == 120, d
'
replay "$T/plain.pcap" --target "127.0.0.1:$pa" --filter zone=example.org >"$T/none.json" 2>&1
check "a filter that keeps nothing: an empty, valid run" "$T/none.json" '
assert d["sent"] == 0 and d["replay"]["filtered"] == 80 and d["valid"], d
'

# ----------------------------------------------------------------- store
"$dnsurge" replay "$T/rec.pcap" --target "127.0.0.1:$pc" --diff --speed 4 --max-lag 1s --db "$T/r.db" \
	--label v1 >"$T/store.txt" 2>&1
rc=$?
if [ $rc = 0 ] && python3 - "$T/r.db" <<'PY'; then
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tool, label, status, sj = db.execute(
    "SELECT tool, label, status, summary_json FROM run").fetchone()
assert (tool, label, status) == ("replay", "v1", "ok"), (tool, label, status)
s = json.loads(sj)
assert s["tool"] == "replay" and s["diff"]["classes"]["rcode"]["count"] == 6, s["diff"]
n, sent = db.execute("SELECT count(*), sum(sent) FROM interval_stats").fetchone()
assert n >= 1 and sent == 60, (n, sent)
assert db.execute("SELECT count(*) FROM phase WHERE name = 'replay' AND end_ns > 0").fetchone()[0] == 1
PY
	ok "--db: run row (tool replay), intervals, phase and the diff in summary_json"
else
	bad "--db recording (exit $rc)" "$T/store.txt"
fi
if grep -q "n4.example.com. A" "$T/store.txt" && grep -q "expected: NOERROR" "$T/store.txt"; then
	ok "text report prints the diff classes with examples"
else
	bad "text report" "$T/store.txt"
fi

# ------------------------------------------------------ broken captures
printf 'not a capture at all\n' >"$T/junk.pcap"
: >"$T/empty.pcap"
head -c 3000 "$T/plain.pcap" >"$T/cut.pcap"
# a record header claiming 200000 captured bytes
python3 - "$T/plain.pcap" "$T/huge.pcap" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
off = 24 + 16 + struct.unpack_from("<I", b, 24 + 8)[0]   # second record
struct.pack_into("<II", b, off + 8, 200000, 200000)
open(sys.argv[2], "wb").write(b)
PY
broken() {
	local name=$1 file=$2 code=$3 pat=$4
	"$dnsurge" replay "$file" --target "127.0.0.1:$pa" --no-db --asap >"$T/b.out" 2>&1
	local rc=$?
	if [ $rc = "$code" ] && grep -q -- "$pat" "$T/b.out"; then
		ok "$name: exit $rc, '$pat'"
	else
		bad "$name: exit $rc (want $code, '$pat')" "$T/b.out"
	fi
}
broken "not a capture" "$T/junk.pcap" 2 "junk.pcap: .*unknown file format"
broken "empty file" "$T/empty.pcap" 2 "empty.pcap"
broken "missing file" "$T/nope.pcap" 2 "nope.pcap"
broken "cut short" "$T/cut.pcap" 3 "cut.pcap: after packet"
broken "corrupt record length" "$T/huge.pcap" 3 "huge.pcap"
"$dnsurge" replay "$T/cut.pcap" --target "127.0.0.1:$pa" --no-db --asap --json >"$T/cut.json" \
	2>"$T/cut.err"
check "cut short: what was read is replayed, the run is invalid with the reason" "$T/cut.json" '
assert d["sent"] > 0 and d["sent"] == d["answered"], d
assert not d["valid"] and "could not be read to its end" in d["invalid_reason"], d
assert d["capture"]["errors"] == 1 and "cut.pcap" in d["capture"]["first_error"], d
'

echo "$failures failed"
[ $failures = 0 ]
