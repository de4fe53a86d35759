#!/bin/bash
# dnsurge load against dnsperf, measured in the same run on this machine:
#
#   1. max rate on one core: each generator closed-loop against the
#      reflector (tests/bench/reflector.c); the ratio dnsurge/dnsperf, and
#      both CPUs (if the reflector saturates first, the generator's spare
#      CPU at the reflector's ceiling is the headroom);
#   2. CPU at a fixed 100k qps: dnsperf -Q 100000 vs dnsurge --rate 100000;
#   3. the rate at a fixed 50k qps, second by second (from the results store);
#   4. the same server measured closed-loop by both tools: the reflector
#      burning WORK_NS (default 8000) ns per query, so the server and not the
#      generator is the limit for both; their max rates should agree;
#   5. dnsurged (whoami, one worker) closed-loop by both, for information.
#
# The generator runs on CPU 1, the target on CPU 0 (taskset). Each
# measurement is short; REPS repetitions and the median are printed. The
# machine may be shared: the load average is printed before each part, and
# numbers taken while it is above 0.5 deserve a rerun.
#
# Usage: tests/bench/load_vs_dnsperf.sh BUILD_DIR [REPS] [SECONDS]
#   BUILD_DIR has bin/dnsurge, bin/dnsurged and tests/integration/load_reflector
#   (ninja -C BUILD_DIR dnsurge dnsurged load_reflector).
set -u
B=$(cd "${1:?usage: load_vs_dnsperf.sh BUILD_DIR [REPS] [SECONDS]}" && pwd)
REPS=${2:-3}
DUR=${3:-4}
DNSURGE=$B/bin/dnsurge
DNSURGED=$B/bin/dnsurged
REFL=$B/tests/integration/load_reflector
command -v dnsperf >/dev/null || { echo "dnsperf is not installed"; exit 77; }
for f in "$DNSURGE" "$DNSURGED" "$REFL"; do
	[ -x "$f" ] || { echo "missing $f: build it first"; exit 2; }
done
W=$(mktemp -d /tmp/dsbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
load() { cut -d' ' -f1 /proc/loadavg; }
# cpu_of PID: user+sys seconds so far
cpu_of() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }

for i in $(seq 0 9999); do echo "n$i.example.com A"; done >"$W/q.txt"

rport=$(free_port)
taskset -c 0 "$REFL" "127.0.0.1:$rport" >"$W/refl.out" 2>&1 &
RPID=$!
PIDS+=("$RPID")
sleep 0.3

# run_gen NAME CMD...: runs CMD on CPU 1; prints "qps cpu_fraction target_cpu_fraction"
run_dnsperf() {
	local r0 r1 out t0 t1
	r0=$(cpu_of "$TPID")
	t0=$(date +%s.%N)
	out=$(/usr/bin/time -f 'CPU %U %S' taskset -c 1 dnsperf "$@" 2>&1)
	t1=$(date +%s.%N)
	r1=$(cpu_of "$TPID")
	echo "$out" >>"$W/dnsperf.log"
	awk -v t0="$t0" -v t1="$t1" -v r0="$r0" -v r1="$r1" '
		/Queries per second/ {q=$4} /^CPU/ {c=$2+$3}
		END {el=t1-t0; printf "%.0f %.3f %.3f\n", q, c/el, (r1-r0)/el}' <<<"$out"
}
run_dnsurge() {
	local r0 r1 out t0 t1
	r0=$(cpu_of "$TPID")
	t0=$(date +%s.%N)
	out=$(/usr/bin/time -f 'CPU %U %S' taskset -c 1 "$DNSURGE" load --json "$@" 2>&1)
	t1=$(date +%s.%N)
	r1=$(cpu_of "$TPID")
	echo "$out" >>"$W/dnsurge.log"
	python3 -c '
import json, sys
t = sys.argv[1]
d, end = json.JSONDecoder().raw_decode(t)
cpu = [l for l in t[end:].splitlines() if l.startswith("CPU")][0].split()
el = float(sys.argv[3]) - float(sys.argv[2])
print("%.0f %.3f %.3f %s" % (d["qps"], (float(cpu[1]) + float(cpu[2])) / el,
      (float(sys.argv[5]) - float(sys.argv[4])) / el, "valid" if d["valid"] else "INVALID"))
' "$out" "$t0" "$t1" "$r0" "$r1"
}

col() { awk -v c="$1" '{print $c}'; }

echo "== 1. max rate on one core (closed loop) against the reflector; load $(load)"
TPID=$RPID
: >"$W/m1"
: >"$W/m2"
for r in $(seq 1 "$REPS"); do
	run_dnsperf -s 127.0.0.1 -p "$rport" -d "$W/q.txt" -l "$DUR" -c 10 -q 200 >>"$W/m1"
	run_dnsurge --target "127.0.0.1:$rport" --queries "$W/q.txt" --max-outstanding 200 \
		--duration "${DUR}s" --no-db >>"$W/m2"
done
dp_q=$(col 1 <"$W/m1" | median); dp_c=$(col 2 <"$W/m1" | median); dp_t=$(col 3 <"$W/m1" | median)
ds_q=$(col 1 <"$W/m2" | median); ds_c=$(col 2 <"$W/m2" | median); ds_t=$(col 3 <"$W/m2" | median)
printf '  dnsperf -c 10 -q 200 : %8.0f qps  generator CPU %3.0f%%  reflector CPU %3.0f%%\n' "$dp_q" "$(echo "$dp_c*100" | bc -l)" "$(echo "$dp_t*100" | bc -l)"
printf '  dnsurge closed, 200  : %8.0f qps  generator CPU %3.0f%%  reflector CPU %3.0f%%\n' "$ds_q" "$(echo "$ds_c*100" | bc -l)" "$(echo "$ds_t*100" | bc -l)"
printf '  RATIO max rate dnsurge/dnsperf = %.2f' "$(echo "$ds_q/$dp_q" | bc -l)"
if awk -v t="$ds_t" 'BEGIN {exit !(t > 0.9)}'; then
	printf ' (reflector saturated at %.0f%% CPU; dnsurge generator spare CPU %.0f%%)' \
		"$(echo "$ds_t*100" | bc -l)" "$(echo "(1-$ds_c)*100" | bc -l)"
fi
echo

echo "== 2. CPU at a fixed 100k qps; load $(load)"
: >"$W/c1"
: >"$W/c2"
: >"$W/c3"
for r in $(seq 1 "$REPS"); do
	run_dnsperf -s 127.0.0.1 -p "$rport" -d "$W/q.txt" -l "$DUR" -c 10 -q 200 -Q 100000 >>"$W/c1"
	run_dnsurge --target "127.0.0.1:$rport" --queries "$W/q.txt" --rate 100000 \
		--duration "${DUR}s" --no-db >>"$W/c2"
	# Coarser batching trades schedule precision for CPU (docs/LOAD.md, lag).
	run_dnsurge --target "127.0.0.1:$rport" --queries "$W/q.txt" --rate 100000 \
		--coalesce 500us --duration "${DUR}s" --no-db >>"$W/c3"
done
c1q=$(col 1 <"$W/c1" | median); c1=$(col 2 <"$W/c1" | median)
c2q=$(col 1 <"$W/c2" | median); c2=$(col 2 <"$W/c2" | median)
printf '  dnsperf -Q 100000    : %8.0f qps  CPU %5.1f%%\n' "$c1q" "$(echo "$c1*100" | bc -l)"
printf '  dnsurge --rate 100k  : %8.0f qps  CPU %5.1f%%  (%s)\n' "$c2q" "$(echo "$c2*100" | bc -l)" "$(col 4 <"$W/c2" | sort | uniq -c | tr '\n' ' ')"
c3q=$(col 1 <"$W/c3" | median); c3=$(col 2 <"$W/c3" | median)
printf '  dnsurge --coalesce 500us: %5.0f qps  CPU %5.1f%%  (%s)\n' "$c3q" "$(echo "$c3*100" | bc -l)" "$(col 4 <"$W/c3" | sort | uniq -c | tr '\n' ' ')"
printf '  RATIO CPU dnsurge/dnsperf at 100k qps = %.2f (default), %.2f (--coalesce 500us)\n' "$(echo "$c2/$c1" | bc -l)" "$(echo "$c3/$c1" | bc -l)"

echo "== 3. fixed 50k qps, second by second; load $(load)"
rm -f "$W/r.db"
taskset -c 1 "$DNSURGE" load --target "127.0.0.1:$rport" --rate 50000 --duration 10s \
	--db "$W/r.db" --json >"$W/r.json" 2>&1
python3 - "$W/r.db" "$W/r.json" <<'PY'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT sent, answered, dur_ns FROM interval_stats ORDER BY t_ns").fetchall()
full = [r for r in rows if r[2] == 1000000000]
dev = [abs(r[0] - 50000) / 500.0 for r in full]
d = json.load(open(sys.argv[2]))
print("  sent per second:", " ".join(str(r[0]) for r in full))
print("  worst second off by %.3f%% (limit 0.5%%); answered %d of %d; lag p99 %.3f ms; %s" % (
    max(dev), d["answered"], d["sent"], d["schedule_lag_ms"]["p99"],
    "valid" if d["valid"] else "INVALID: " + d["invalid_reason"]))
PY

echo "== 4. the same server measured closed-loop by both: the reflector burning ${WORK_NS:=8000} ns per query (server-bound); load $(load)"
wport=$(free_port)
taskset -c 0 "$REFL" "127.0.0.1:$wport" 64 "$WORK_NS" >"$W/reflw.out" 2>&1 &
WPID=$!
PIDS+=("$WPID")
sleep 0.3
TPID=$WPID
: >"$W/a1"
: >"$W/a2"
for r in $(seq 1 "$REPS"); do
	run_dnsperf -s 127.0.0.1 -p "$wport" -d "$W/q.txt" -l "$DUR" -c 10 -q 200 >>"$W/a1"
	run_dnsurge --target "127.0.0.1:$wport" --queries "$W/q.txt" --max-outstanding 200 \
		--duration "${DUR}s" --no-db >>"$W/a2"
done
a1=$(col 1 <"$W/a1" | median); a1t=$(col 3 <"$W/a1" | median); a1c=$(col 2 <"$W/a1" | median)
a2=$(col 1 <"$W/a2" | median); a2t=$(col 3 <"$W/a2" | median); a2c=$(col 2 <"$W/a2" | median)
printf '  dnsperf              : %8.0f qps  server CPU %3.0f%%  generator CPU %3.0f%%   (runs: %s)\n' "$a1" "$(echo "$a1t*100" | bc -l)" "$(echo "$a1c*100" | bc -l)" "$(col 1 <"$W/a1" | tr '\n' ' ')"
printf '  dnsurge closed-loop  : %8.0f qps  server CPU %3.0f%%  generator CPU %3.0f%%   (runs: %s)\n' "$a2" "$(echo "$a2t*100" | bc -l)" "$(echo "$a2c*100" | bc -l)" "$(col 1 <"$W/a2" | tr '\n' ' ')"
printf '  RATIO dnsurge/dnsperf on the same server = %.3f\n' "$(echo "$a2/$a1" | bc -l)"

echo "== 5. dnsurged (whoami, 1 worker) on CPU 0, closed loop (informational: is the generator or the server the limit?); load $(load)"
sport=$(free_port)
printf '.:%s {\n\tbind 127.0.0.1\n\twhoami\n}\n' "$sport" >"$W/Corefile"
taskset -c 0 "$DNSURGED" -conf "$W/Corefile" -workers 1 >"$W/srv.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
sleep 0.5
TPID=$SPID
d1=$(run_dnsperf -s 127.0.0.1 -p "$sport" -d "$W/q.txt" -l "$DUR" -c 10 -q 200)
d2=$(run_dnsurge --target "127.0.0.1:$sport" --queries "$W/q.txt" --max-outstanding 200 \
	--duration "${DUR}s" --no-db)
printf '  dnsperf              : %8.0f qps  server CPU %3.0f%%  generator CPU %3.0f%%\n' "$(col 1 <<<"$d1")" "$(echo "$(col 3 <<<"$d1")*100" | bc -l)" "$(echo "$(col 2 <<<"$d1")*100" | bc -l)"
printf '  dnsurge closed-loop  : %8.0f qps  server CPU %3.0f%%  generator CPU %3.0f%%\n' "$(col 1 <<<"$d2")" "$(echo "$(col 3 <<<"$d2")*100" | bc -l)" "$(echo "$(col 2 <<<"$d2")*100" | bc -l)"
echo "load at the end: $(load)"
