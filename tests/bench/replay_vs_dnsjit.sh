#!/bin/bash
# dnsurge replay against dnsjit (Debian package dnsjit), measured in the
# same run on this machine:
#
#   1. asap rate on one core: one synthetic UDP capture (QUERIES queries of
#      CLIENTS clients, default 100; env CLIENTS=1000 for more) replayed as fast as possible to the reflector
#      (tests/bench/reflector.c, CPU 0) by dnsjit, with a multi-socket UDP
#      replay script written below (round-robin over 16 non-blocking
#      sockets, answers not read), and by dnsurge replay --asap (one
#      socket per client, answers read and timed), each pinned to CPU 1;
#      the send rates and their ratio, CPU time per query, and the
#      queries the reflector dropped (its own socket's drop counter);
#   2. send-time error at 1x: a synthetic 10 s capture (10000 qps of 500
#      clients) replayed at --speed 1 to the reflector: the schedule lag
#      (actual minus intended send time) p50 / p99 / max from dnsurge's
#      JSON, the goal being p99 <= 50 us; by default and with --realtime
#      (SCHED_FIFO: what it takes on a machine shared with busy processes);
#   3. streaming: a 1 GB capture (written once, kept in BENCH_DIR) and a
#      100 MB one replayed asap to the reflector: the peak resident memory
#      (GNU time's maximum RSS) is the same.
#
# The machine may be shared: the load average is printed before each
# part; numbers taken while it is above 0.5 deserve a rerun. REPS
# repetitions of part 1 and 2, the median printed.
#
# Usage: [PARTS="1 2 3"] [CLIENTS=100] tests/bench/replay_vs_dnsjit.sh BUILD_DIR [REPS] [QUERIES] [BENCH_DIR]
#   BUILD_DIR has bin/dnsurge, tests/integration/load_reflector and
#   tests/integration/replay/replay_mkpcap
#   (ninja -C BUILD_DIR dnsurge load_reflector replay_mkpcap).
set -u
B=$(cd "${1:?usage: replay_vs_dnsjit.sh BUILD_DIR [REPS] [QUERIES] [BENCH_DIR]}" && pwd)
REPS=${2:-3}
QUERIES=${3:-2000000}
KEEP=${4:-/tmp/dsbench-replay}
CLIENTS=${CLIENTS:-100}
PARTS=${PARTS:-1 2 3}
part() { [[ " $PARTS " == *" $1 "* ]]; }
DNSURGE=$B/bin/dnsurge
REFL=$B/tests/integration/load_reflector
MKPCAP=$B/tests/integration/replay/replay_mkpcap
command -v dnsjit >/dev/null || { echo "dnsjit is not installed"; exit 77; }
for f in "$DNSURGE" "$REFL" "$MKPCAP"; do
	[ -x "$f" ] || { echo "missing $f: build it first"; exit 2; }
done
W=$(mktemp -d /tmp/dsbench.XXXXXX)
mkdir -p "$KEEP"
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
load() { cut -d' ' -f1 /proc/loadavg; }

# The multi-socket UDP replay of dnsjit: every query of the capture goes
# out as fast as possible, round-robin over N non-blocking sockets.
cat >"$W/multisock.lua" <<'LUA'
local clock = require("dnsjit.lib.clock")
local pcap, host, port, nsock = arg[2], arg[3], arg[4], tonumber(arg[5] or "16")
require("dnsjit.core.objects")
local input = require("dnsjit.input.mmpcap").new()
local layer = require("dnsjit.filter.layer").new()
input:open(pcap)
layer:producer(input)
local query = require("dnsjit.core.object.dns").new()
local dnscli = require("dnsjit.output.dnscli")
local socks = {}
for i = 1, nsock do
    local o = dnscli.new(dnscli.UDP + dnscli.NONBLOCKING)
    o:connect(host, port)
    local recv, rctx = o:receive()
    socks[i] = { o = o, recv = recv, rctx = rctx }
end
local prod, pctx = layer:produce()
local s0, n0 = clock:monotonic()
local k = 0
while true do
    local obj = prod(pctx)
    if obj == nil then break end
    local pl = obj:cast()
    if obj:type() == "payload" and pl.len > 0 then
        query.obj_prev = obj
        if query:parse_header() == 0 and query.qr == 0 then
            local s = socks[k % nsock + 1]
            s.recv(s.rctx, query:uncast())
            k = k + 1
        end
    end
end
local s1, n1 = clock:monotonic()
local rt = (s1 - s0) + (n1 - n0) / 1e9
local sent, errors = 0, 0
for i = 1, nsock do
    sent = sent + socks[i].o:packets()
    errors = errors + socks[i].o:errors()
end
print(string.format("dnsjit %d queries sent %d errors %d runtime %.3f qps %.0f", k, sent, errors, rt, sent / rt))
LUA

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c 0 "$REFL" "127.0.0.1:$port" 256 >"$W/refl.out" 2>&1 &
PIDS+=($!)
sleep 0.3

if part 1; then
echo "== 1. asap rate on one core (CPU 1), $QUERIES queries of $CLIENTS clients, to the reflector on CPU 0"
# dnsjit does not read answers. Flooding, dnsurge outruns the reflector
# too, and what it drops would hold dnsurge's in-flight slots for the
# timeout: a short timeout and a large in-flight table measure the
# replay's sending. Bounded, every answer comes back and is timed.
"$MKPCAP" -o "$W/asap.pcap" --clients "$CLIENTS" --queries "$QUERIES" --rate 100000 --names 10000 ||
	exit 1
rdrops() { awk -v p="$(printf ':%04X' "$port")" '$2 ~ p"$" {print $NF}' /proc/net/udp; }
for r in $(seq "$REPS"); do
	echo "   load $(load)"
	d0=$(rdrops)
	/usr/bin/time -f "%U %S" -o "$W/cpu" taskset -c 1 dnsjit "$W/multisock.lua" "$W/asap.pcap" \
		127.0.0.1 "$port" 16 >"$W/dj.out" 2>&1
	d1=$(rdrops)
	awk -v c="$(tail -1 "$W/cpu")" -v d=$((d1 - d0)) '{split(c, t, " ");
		printf "%s cpu_us_per_query %.2f reflector_drops %d\n", $0, (t[1] + t[2]) * 1e6 / $5, d}' \
		"$W/dj.out" | tee -a "$W/dnsjit.log" | sed 's/^/   /'
	# flood: as fast as it can send; bounded: 2048 in flight, so the
	# reflector keeps up and every answer is read and timed.
	for v in flood bounded; do
		if [ $v = flood ]; then
			opt=(--timeout 250ms --max-outstanding 262144)
		else
			opt=(--max-outstanding 2048)
		fi
		d0=$(rdrops)
		/usr/bin/time -f "%U %S" -o "$W/cpu" taskset -c 1 "$DNSURGE" replay "$W/asap.pcap" \
			--target "127.0.0.1:$port" --asap --no-db --json "${opt[@]}" >"$W/asap.$r.json" 2>&1
		d1=$(rdrops)
		python3 - "$W/asap.$r.json" "$(tail -1 "$W/cpu")" $((d1 - d0)) $v <<'PY' | tee -a "$W/dnsurge.$v.log" | sed 's/^/   /'
import json, sys
d = json.load(open(sys.argv[1]))
u, s = map(float, sys.argv[2].split())
print("dnsurge %d queries sent %d answered %d runtime %.3f qps %.0f answered_qps %.0f cpu_us_per_query %.2f reflector_drops %s (%s)" % (
    d["replay"]["queries_read"], d["sent"], d["answered"], d["elapsed_s"], d["sent_qps"], d["qps"],
    (u + s) * 1e6 / d["sent"], sys.argv[3], sys.argv[4]))
PY
	done
done
dj=$(awk '{print $11}' "$W/dnsjit.log" | median)
for v in flood bounded; do
	dr=$(awk '{print $11}' "$W/dnsurge.$v.log" | median)
	echo "   median sent rate ($v): dnsjit $dj qps, dnsurge replay $dr qps (answered $(awk '{print $13}' "$W/dnsurge.$v.log" | median) qps); ratio dnsurge/dnsjit $(awk -v a="$dr" -v b="$dj" 'BEGIN {printf "%.2f", a/b}')"
done
echo "   median CPU per query: dnsjit $(awk '{print $13}' "$W/dnsjit.log" | median) us (sends only), dnsurge $(awk '{print $15}' "$W/dnsurge.bounded.log" | median) us (every answer read and timed)"

fi

if part 2; then
echo
echo "== 2. send-time error at --speed 1: a 10 s capture, 10000 qps of 500 clients"
"$MKPCAP" -o "$W/t10.pcap" --clients 500 --queries 100000 --rate 10000 --names 10000 || exit 1
for mode in default realtime; do
	opt=()
	[ $mode = realtime ] && opt=(--realtime)
	: >"$W/lag.log"
	for r in $(seq "$REPS"); do
		echo "   $mode: load $(load), CPU pressure $(sed -n 's/some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu)%"
		/usr/bin/time -f "%U %S" -o "$W/cpu" taskset -c 1 "$DNSURGE" replay "$W/t10.pcap" \
			--target "127.0.0.1:$port" --speed 1 --no-db --json "${opt[@]}" >"$W/t.$r.json" 2>&1
		python3 - "$W/t.$r.json" "$(tail -1 "$W/cpu")" <<'PY' | tee -a "$W/lag.log" | sed 's/^/   /'
import json, sys
d = json.load(open(sys.argv[1]))
l = d["schedule_lag_ms"]
u, s = map(float, sys.argv[2].split())
print("sent %d answered %d elapsed %.3f s cpu %.1f s realtime %s; send-time error p50 %.1f us p99 %.1f us max %.1f us" % (
    d["sent"], d["answered"], d["elapsed_s"], u + s, d["replay"]["realtime"],
    l["p50"] * 1e3, l["p99"] * 1e3, l["max"] * 1e3))
PY
	done
	echo "   $mode median p99: $(sed 's/.*p99 \([0-9.]*\) us.*/\1/' "$W/lag.log" | median) us (goal <= 50 us)"
done

fi

if part 3; then
echo
echo "== 3. a 1 GB capture streamed asap: peak resident memory"
big=$KEEP/1g.pcap
if [ ! -s "$big" ]; then
	"$MKPCAP" -o "$big" --clients 5000 --size-mb 1024 --rate 100000 --names 100000 || exit 1
fi
# The same clients, one tenth of the size: peaks should match.
"$MKPCAP" -o "$W/small.pcap" --clients 5000 --size-mb 100 --rate 100000 --names 100000 || exit 1
echo "   load $(load); $(du -h "$big" | cut -f1) capture"
for f in "$W/small.pcap" "$big"; do
	/usr/bin/time -f "%M" -o "$W/rss" taskset -c 1 "$DNSURGE" replay "$f" \
		--target "127.0.0.1:$port" --asap --no-db --json --timeout 250ms \
		--max-outstanding 262144 >"$W/big.json" 2>&1
	python3 - "$W/big.json" "$(cat "$W/rss")" "$(basename "$f")" <<'PY' | sed 's/^/   /'
import json, sys
d = json.load(open(sys.argv[1]))
print("%s: %d queries read, %d sent, %d answered in %.1f s; peak RSS %.1f MiB" % (
    sys.argv[3], d["replay"]["queries_read"], d["sent"], d["answered"], d["elapsed_s"],
    int(sys.argv[2]) / 1024))
PY
done
fi
