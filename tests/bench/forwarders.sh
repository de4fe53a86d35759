#!/bin/bash
# dnsurged against the forwarding caches our users would pick instead,
# measured side by side in the same run on this machine:
#
#   targets   dnsurged (cache + forward, 1 worker), unbound, dnsdist (packet
#             cache), BIND named, and a recvmmsg UDP reflector (the ceiling:
#             no DNS server answers faster on one core)
#   upstream  NSD, authoritative for bench.test (100,000 names), the same
#             for every target
#   workloads hit    1,000 names, warmed, closed loop (max rate)
#             mixed  100,000 names, Zipf popularity, 10% NXDOMAIN, cold
#                    cache, closed loop (max rate)
#             half   hit names, open loop at half of the target's own max
#                    rate: latency p50/p99 from the intended send time
#   generator dnsurge load (sendmmsg/recvmmsg); dnsperf as a cross-check
#   (BUILD_DIR needs bin/dnsurge, bin/dnsurged, tests/integration/load_reflector)
#
# Everything runs in a private network namespace (unshare -n: only lo), the
# target on CPU 0, generator and upstream on CPU 1. Prints one table with
# qps, loss, p50/p99, RSS, and the ratios dnsurged/peer. The machine may be
# shared: the load average is printed; rerun when it was high.
#
# BENCH_RT=1 runs targets and generator with SCHED_FIFO priority (chrt),
# so that background work at normal or nice priority cannot disturb them.
# REPS=N repeats the whole table N times (default 3) and the ratios use
# the medians.
# Usage (root): tests/bench/forwarders.sh BUILD_DIR [SECONDS] [PEERS...]
#   defaults: 8 s per measurement, peers "unbound dnsdist named"
# Needs: nsd unbound dnsdist bind9 dnsperf python3 (Debian packages).
set -u
B=$(cd "${1:?usage: forwarders.sh BUILD_DIR [SECONDS] [PEERS...]}" && pwd)
DUR=${2:-8}
shift 2 2>/dev/null || shift $#
PEERS=${*:-"unbound dnsdist named"}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${DS_IN_NETNS:-}" != 1 ]; then
	exec env DS_IN_NETNS=1 unshare -n "$0" "$B" "$DUR" $PEERS
fi
ip link set lo up
W=$(mktemp -d /tmp/dsbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
DNSURGE=$B/bin/dnsurge
DNSURGED=$B/bin/dnsurged
for t in nsd unbound dnsdist named dnsperf python3; do
	command -v "$t" >/dev/null || { echo "missing $t (apt-get install nsd unbound dnsdist bind9 dnsperf python3)"; exit 77; }
done
REFL=$B/tests/integration/load_reflector
[ -x "$REFL" ] || { echo "build the reflector first: ninja -C BUILD_DIR load_reflector"; exit 2; }
mkdir -p "$W/run" "$W/named"

# --- the zone: n0..n99999.bench.test A (the names dnsurge load asks)
python3 - "$W/bench.test.zone" <<'PY'
import sys
with open(sys.argv[1], "w") as z:
    z.write("$ORIGIN bench.test.\n$TTL 86400\n")
    z.write("@ IN SOA ns1 hostmaster 1 3600 600 604800 3600\n@ IN NS ns1\nns1 IN A 127.0.0.1\n")
    for i in range(100000):
        z.write("n%d IN A 10.%d.%d.%d\nn%d IN AAAA fd00::%x:%x\n" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i, i >> 16, i & 0xffff))
PY
cat >"$W/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@25301
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$W"
    database: ""
    zonelistfile: "$W/run/nsd.zonelist"
    xfrdfile: "$W/run/nsd.xfrd.state"
    xfrdir: "$W/run"
    pidfile: "$W/run/nsd.pid"
    verbosity: 0
    do-ip6: no
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "bench.test"
    zonefile: "bench.test.zone"
EOF
cat >"$W/Corefile" <<EOF
.:25310 {
    bind 127.0.0.1
    cache 86400 {
        success 1000000
        denial 1000000
    }
    forward . 127.0.0.1:25301
}
EOF
cat >"$W/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@25311
    port: 25311
    num-threads: 1
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$W/run"
    pidfile: "$W/run/unbound.pid"
    use-syslog: no
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    domain-insecure: "bench.test."
    msg-cache-size: 256m
    rrset-cache-size: 512m
    num-queries-per-thread: 2048
    ratelimit: 0
    ip-ratelimit: 0
    minimal-responses: yes
    local-zone: "test." nodefault
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@25301
EOF
cat >"$W/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("127.0.0.1:25312", {reusePort=false})
newServer({address="127.0.0.1:25301", checkName="n0.bench.test.", checkInterval=5})
pc = newPacketCache(1000000, {maxTTL=86400, minTTL=0, temporaryFailureTTL=60, staleTTL=60, dontAge=false, numberOfShards=1})
getPool(""):setCache(pc)
setServerPolicy(firstAvailable)
EOF
cat >"$W/named.conf" <<EOF
options {
    directory "$W/named";
    pid-file "$W/named/named.pid";
    session-keyfile "$W/named/session.key";
    listen-on port 25313 { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion yes;
    allow-query { 127.0.0.0/8; };
    forwarders { 127.0.0.1 port 25301; };
    forward only;
    dnssec-validation no;
    max-cache-size 1024m;
    minimal-responses yes;
    recursive-clients 10000;
    notify no;
    empty-zones-enable no;
};
controls { };
logging { channel n { null; }; category default { n; }; category lame-servers { n; }; };
EOF

RT=""
[ "${BENCH_RT:-}" = 1 ] && RT="chrt -f 50"
rss_mb() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo NA; }
wait_dns() {
	for _ in $(seq 1 100); do
		dig +time=1 +tries=1 +short @127.0.0.1 -p "$1" n1.bench.test A 2>/dev/null | grep -q . && return 0
		sleep 0.2
	done
	return 1
}
start() { # NAME -> PID PORT
	case $1 in
	dnsurged) PORT=25310; $RT taskset -c 0 "$DNSURGED" -conf "$W/Corefile" -workers 1 -quiet >"$W/run/dnsurged.log" 2>&1 & ;;
	unbound) PORT=25311; $RT taskset -c 0 unbound -d -c "$W/unbound.conf" >"$W/run/unbound.log" 2>&1 & ;;
	dnsdist) PORT=25312; $RT taskset -c 0 dnsdist -C "$W/dnsdist.conf" --supervised --disable-syslog >"$W/run/dnsdist.log" 2>&1 & ;;
	named) PORT=25313; rm -rf "$W/named"; mkdir -p "$W/named"; $RT taskset -c 0 named -f -n 1 -c "$W/named.conf" >"$W/run/named.log" 2>&1 & ;;
	reflector) PORT=25320; $RT taskset -c 0 "$REFL" 127.0.0.1:25320 64 & ;;
	esac
	PID=$!
	PIDS+=("$PID")
	if [ "$1" = reflector ]; then sleep 0.3; else wait_dns "$PORT" || { echo "$1 did not start"; return 1; }; fi
}
load() { # PORT ARGS... -> JSON on stdout
	local port=$1
	shift
	$RT taskset -c 1 "$DNSURGE" load --target "127.0.0.1:$port" --no-db --json --zone bench.test "$@" 2>/dev/null
}
field() { python3 -c "import json,sys; o=json.load(sys.stdin); print($1)"; }

$RT taskset -c 1 nsd -d -c "$W/nsd.conf" >"$W/run/nsd.log" 2>&1 &
PIDS+=($!)
wait_dns 25301 || { echo "nsd did not start"; cat "$W/run/nsd.log"; exit 2; }

REPS=${REPS:-3}
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), ${DUR}s per measurement, $REPS repetitions"
printf '%-10s %10s %10s %8s %10s %10s %9s %9s %8s\n' target hit_qps mixed_qps loss% dnsperf_hit half_qps p50_ms p99_ms rss_mb
: >"$W/rows"
for rep in $(seq 1 "$REPS"); do
for t in reflector dnsurged $PEERS; do
	start "$t" || continue
	if [ "$t" != reflector ]; then
		load "$PORT" --names 1000 --max-outstanding 200 --duration 2s >/dev/null # warm
	fi
	hit=$(load "$PORT" --names 1000 --max-outstanding 400 --duration "${DUR}s")
	hq=$(echo "$hit" | field "round(o['qps'])")
	dp=$(for i in $(seq 0 999); do echo "n$i.bench.test A"; done >"$W/q1000"; $RT taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$W/q1000" -l "$DUR" -c 10 -q 400 2>&1 | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' | cut -d. -f1)
	half=$((hq / 2))
	op=$(load "$PORT" --names 1000 --rate "$half" --duration "${DUR}s")
	p50=$(echo "$op" | field "'%.3f' % o['latency_ms']['p50']")
	p99=$(echo "$op" | field "'%.3f' % o['latency_ms']['p99']")
	rss=$(rss_mb "$PID")
	if [ "$t" != reflector ]; then
		# mixed on a fresh process: cold cache
		kill "$PID"; wait "$PID" 2>/dev/null
		start "$t" || continue
		mix=$(load "$PORT" --names 100000 --zipf 1 --nxdomain 10 --max-outstanding 400 --duration "${DUR}s")
		mq=$(echo "$mix" | field "round(o['qps'])")
		loss=$(echo "$mix" | field "'%.2f' % (100.0 * o['timeouts'] / max(1, o['sent']))")
		rss=$(rss_mb "$PID")
	else
		mq=-; loss=-
	fi
	kill "$PID"; wait "$PID" 2>/dev/null
	printf '%-10s %10s %10s %8s %10s %10s %9s %9s %8s\n' "$t" "$hq" "$mq" "$loss" "$dp" "$half" "$p50" "$p99" "$rss" | tee -a "$W/rows"
done
done
echo
python3 - "$W/rows" $PEERS <<'PY'
import sys, statistics
rows, peers = sys.argv[1], sys.argv[2:]
cols = {}
for line in open(rows):
    f = line.split()
    cols.setdefault(f[0], []).append(f[1:])
def med(t, i):
    v = [float(r[i]) for r in cols.get(t, []) if r[i] not in ("-", "")]
    return statistics.median(v) if v else 0.0
print("medians over %d repetitions:" % max(len(v) for v in cols.values()))
print("%-10s %10s %10s %9s %9s %8s" % ("target", "hit_qps", "mixed_qps", "p50_ms", "p99_ms", "rss_mb"))
for t in cols:
    print("%-10s %10.0f %10.0f %9.3f %9.3f %8.1f" % (t, med(t, 0), med(t, 1), med(t, 5), med(t, 6), med(t, 7)))
hit, mix, refl, unb, p99 = med("dnsurged", 0), med("dnsurged", 1), med("reflector", 0), med("unbound", 1), med("dnsurged", 6)
best = max(peers, key=lambda p: med(p, 0)) if peers else None
r = lambda a, b: "%.2fx" % (a / b) if b else "n/a"
print()
print("cache hit: dnsurged / best peer (%s) = %s   (target >= 1.25x)" % (best, r(hit, med(best, 0) if best else 0)))
print("cache hit: dnsurged / reflector       = %s   (target >= 0.85)" % r(hit, refl))
print("mixed:     dnsurged / unbound         = %s   (target >= 1.2x)" % r(mix, unb))
print("p99 at half of max rate: %.3f ms        (target <= 0.3 ms)" % p99)
PY
