#!/bin/bash
# dnsurge load against a tiny reflector on loopback (tests/bench/reflector.c):
# rates achieved, the JSON object, rows in the results store, validity
# (server loss is valid, a generator that cannot keep up is not), SIGINT,
# and the command line's errors. Every run is bounded (a few seconds).
# Usage: load_reflector.sh DNSURGE REFLECTOR
set -u
. "$(dirname "$0")/lib.sh"
dnsurge=$1
reflector=$2
T=$DS_TMP
failures=0
ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	failures=$((failures + 1))
}

start_bg refl "$reflector" 127.0.0.1:0
for _ in $(seq 1 50); do
	grep -q ':' "$T/refl.log" 2>/dev/null && break
	sleep 0.1
done
target=$(head -1 "$T/refl.log")
[ -n "$target" ] || fail "reflector did not start"
start_bg refl6 "$reflector" '[::1]:0'
for _ in $(seq 1 50); do
	grep -q ']' "$T/refl6.log" 2>/dev/null && break
	sleep 0.1
done
target6=$(head -1 "$T/refl6.log")
dead=127.0.0.1:$(free_port)
# This machine is shared: the lag limit is relaxed where the test is not
# about lag, so a busy neighbour does not fail it.
relax=(--max-lag 500ms)

# check NAME FILE PYTHON: run python assertions on the JSON object in FILE (as d)
check() {
	local name=$1 file=$2 code=$3
	if python3 - "$file" "$T/db" <<PY; then
import json, sqlite3, sys
text = open(sys.argv[1]).read()
d, end = json.JSONDecoder().raw_decode(text)
assert text[end:].strip() == "", "more than one JSON value"
db = sys.argv[2]
$code
PY
		ok "$name"
	else
		bad "$name"
		head -c 600 "$file"
		echo
	fi
}

# 1. constant rate, recorded
"$dnsurge" load --target "$target" --rate 2000 --duration 2s --db "$T/db" --label it-1 \
	--json "${relax[@]}" >"$T/o1.json" 2>"$T/e1"
rc=$?
[ $rc = 0 ] && [ ! -s "$T/e1" ] && ok "rate run exit 0, quiet stderr" || bad "rate run exit $rc: $(cat "$T/e1")"
check "rate 2000 for 2 s: every scheduled query sent and answered" "$T/o1.json" '
for k in ("sent", "answered", "timeouts", "qps", "valid", "invalid_reason"):
    assert k in d, k
for k in ("p50", "p90", "p99", "p999", "max"):
    assert isinstance(d["latency_ms"][k], (int, float)), k
assert set(d["schedule_lag_ms"]) >= {"p99", "max"}
assert d["scheduled"] == 4000 and d["sent"] == 4000, d
assert d["answered"] == 4000 and d["timeouts"] == 0, d
assert d["rcodes"] == {"NOERROR": 4000}, d["rcodes"]
assert abs(d["qps"] - 2000) < 20, d["qps"]
assert d["valid"] is True and d["invalid_reason"] is None
assert d["load_model"] == "open" and d["status"] == "ok"
assert 0 < d["latency_ms"]["p50"] < 500
'
check "store: run row, per-second intervals and histograms, phase" "$T/o1.json" '
c = sqlite3.connect(db)
run_id, status, label, tih, tool, target = c.execute(
    "SELECT run_id, status, label, timeout_in_hist, tool, target FROM run").fetchone()
assert run_id == d["run_id"] and status == "ok" and label == "it-1" and tool == "load", status
assert tih == 1 and target.endswith("/udp")
rows = c.execute("SELECT t_ns, dur_ns, sent, answered, target_qps FROM interval_stats ORDER BY t_ns").fetchall()
assert sum(r[2] for r in rows) == 4000 and sum(r[3] for r in rows) == 4000, rows
full = [r for r in rows if r[1] == 1000000000]
assert len(full) == 2, rows
for r in full:
    assert abs(r[2] - 2000) <= 20 and abs(r[4] - 2000) < 1, r
n = dict(c.execute("SELECT metric, SUM(n) FROM hist GROUP BY metric").fetchall())
assert n["response_time"] == 4000 and n["service_time"] == 4000 and n["sched_lag"] == 4000, n
ph = c.execute("SELECT name, target, measured, end_ns > start_ns FROM phase").fetchall()
assert ph == [("step", "step 2000 qps", 1, 1)], ph
assert c.execute("SELECT COUNT(*) FROM hist_bucket").fetchone()[0] > 0
'

# 2. a profile with a ramp and a spike ends at its final 0-rate point
"$dnsurge" load --target "$target" --profile "0s:500,1s:500~,2s:1500,3s:300+500ms,4s:0" \
	--db "$T/db" --json "${relax[@]}" >"$T/o2.json" 2>&1
check "profile: scheduled = integral of the rate, one phase per segment" "$T/o2.json" '
# 500 + (500+1500)/2 + 1500 + 300*0.5 + 1500*0.5 = 3900
assert abs(d["scheduled"] - 3900) <= 1 and d["sent"] == round(d["scheduled"]), d
assert abs(d["elapsed_s"] - 4) < 0.01
c = sqlite3.connect(db)
ph = c.execute("SELECT name, target FROM phase WHERE run_id=? ORDER BY seq", (d["run_id"],)).fetchall()
assert [p[0] for p in ph] == ["step", "ramp", "step", "spike", "step"], ph
assert ph[1][1] == "ramp 500->1500 qps", ph
'

# 3. Poisson spacing keeps the mean rate
"$dnsurge" load --target "$target" --rate 2000 --poisson --duration 2s --no-db --json \
	"${relax[@]}" >"$T/o3.json" 2>&1
check "poisson: mean rate" "$T/o3.json" '
assert d["spacing"] == "poisson" and abs(d["sent"] - 4000) < 400, d["sent"]
assert d["answered"] == d["sent"] and d["drops"] == 0 and d["valid"], d
'

# 4. closed loop, labelled as such
"$dnsurge" load --target "$target" --max-outstanding 20 --duration 1s --db "$T/db" --json \
	>"$T/o4.json" 2>&1
check "closed loop: labelled in JSON and store" "$T/o4.json" '
assert d["load_model"] == "closed" and d["max_outstanding"] == 20, d
assert d["sent"] > 1000 and d["answered"] >= d["sent"] - 20, d
c = sqlite3.connect(db)
pj = json.loads(c.execute("SELECT params_json FROM run WHERE run_id=?", (d["run_id"],)).fetchone()[0])
assert pj["load_model"] == "closed", pj
assert c.execute("SELECT name FROM phase WHERE run_id=?", (d["run_id"],)).fetchone()[0] == "closed-loop"
'

# 5. IPv6, TCP refused (nothing listens), several threads and sockets, k8s names
"$dnsurge" load --target "$target6" --rate 1000 --duration 1s --threads 2 --sockets 2 --k8s \
	--no-db --json "${relax[@]}" >"$T/o5.json" 2>&1
check "IPv6, 2 threads x 2 sockets, kubernetes names" "$T/o5.json" '
assert d["target"].startswith("[::1]:") and d["sent"] == 1000 and d["answered"] == 1000, d
assert d["source"].startswith("kubernetes"), d["source"]
'

# 5b. plain sendmmsg (no UDP GSO) gives the same counts
"$dnsurge" load --target "$target" --rate 1000 --duration 1s --no-gso --qtypes A,AAAA,TXT \
	--no-db --json "${relax[@]}" >"$T/o5b.json" 2>&1
check "--no-gso" "$T/o5b.json" 'assert d["sent"] == 1000 and d["answered"] == 1000, d'

# 6. shards: two copies each send half, and together the whole rate
spids=()
for i in 1 2; do
	"$dnsurge" load --target "$target" --rate 2000 --duration 1s --shard $i/2 --seed 5 \
		--random-subdomain --no-db --json "${relax[@]}" >"$T/s$i.json" 2>&1 &
	spids+=($!)
done
wait "${spids[@]}"
check "shard 1/2 sends half the rate" "$T/s1.json" 'assert d["sent"] == 1000 and d["shard"] == "1/2", d'
check "shard 2/2 sends half the rate" "$T/s2.json" 'assert d["sent"] == 1000 and d["shard"] == "2/2", d'

# 7. a target that does not answer: server loss, the run stays valid
"$dnsurge" load --target "$dead" --rate 500 --duration 1s --timeout 200ms --no-db --json \
	"${relax[@]}" >"$T/o7.json" 2>&1
rc=$?
check "no answers: all timeouts, still valid (exit $rc)" "$T/o7.json" '
assert d["sent"] == 500 and d["timeouts"] == 500 and d["answered"] == 0, d
assert d["valid"] is True and d["latency_ms"]["p50"] == 200, d
'
[ $rc = 0 ] || bad "no answers: exit $rc, want 0"

# 8. a rate no machine can do: invalid, with a reason, exit 3
"$dnsurge" load --target "$target" --rate 50M --duration 300ms --timeout 300ms --db "$T/db" \
	--json >"$T/o8.json" 2>&1
rc=$?
check "impossible rate: invalid with a reason (exit $rc)" "$T/o8.json" '
assert d["valid"] is False and d["status"] == "invalid", d
assert "never sent" in d["invalid_reason"] or "lag" in d["invalid_reason"], d["invalid_reason"]
c = sqlite3.connect(db)
st, why = c.execute("SELECT status, invalid_reason FROM run WHERE run_id=?", (d["run_id"],)).fetchone()
assert st == "invalid" and why == d["invalid_reason"], (st, why)
'
[ $rc = 3 ] || bad "impossible rate: exit $rc, want 3"

# 9. SIGINT ends the run cleanly: summary printed, run recorded as aborted
"$dnsurge" load --target "$target" --rate 500 --duration 20s --db "$T/db" --json \
	"${relax[@]}" >"$T/o9.json" 2>&1 &
pid=$!
sleep 1.5
kill -INT $pid
start=$SECONDS
wait $pid
rc=$?
[ $rc = 130 ] && [ $((SECONDS - start)) -le 4 ] && ok "SIGINT: exit 130 promptly" ||
	bad "SIGINT: exit $rc after $((SECONDS - start)) s"
check "SIGINT: partial results, run aborted with a reason" "$T/o9.json" '
assert d["status"] == "aborted" and 500 <= d["sent"] <= 1200, d
c = sqlite3.connect(db)
st, why, end = c.execute("SELECT status, invalid_reason, ended_ns FROM run WHERE run_id=?", (d["run_id"],)).fetchone()
assert st == "aborted" and "interrupted" in why and end, (st, why)
assert c.execute("SELECT COUNT(*) FROM interval_stats WHERE run_id=?", (d["run_id"],)).fetchone()[0] >= 1
'

# 9b. SIGKILL: the store stays consistent; the next open marks the run aborted
"$dnsurge" load --target "$target" --rate 500 --duration 20s --db "$T/kill.db" --json \
	"${relax[@]}" >/dev/null 2>&1 &
pid=$!
sleep 2.5
kill -KILL $pid
wait $pid 2>/dev/null
"$dnsurge" load --target "$target" --rate 100 --duration 200ms --db "$T/kill.db" --json \
	"${relax[@]}" >"$T/o9b.json" 2>&1
check "SIGKILL: whole seconds kept, run marked aborted by the next open" "$T/o9b.json" '
c = sqlite3.connect(sys.argv[2].replace("/db", "/kill.db"))
st = c.execute("SELECT status FROM run ORDER BY run_id").fetchall()
assert st == [("aborted",), ("ok",)], st
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
n = c.execute("SELECT COUNT(*), SUM(sent) FROM interval_stats WHERE run_id=1").fetchone()
assert n[0] >= 1 and n[1] >= 400, n
'

# 10. a dnsperf file with comments
printf '; comment\n\nwww.example.com A\n# another\nexample.com MX\n' >"$T/q.txt"
"$dnsurge" load --target "$target" --queries "$T/q.txt" --rate 400 --duration 1s --no-db \
	--json "${relax[@]}" >"$T/o10.json" 2>&1
check "dnsperf query file" "$T/o10.json" '
assert d["sent"] == 400 and d["answered"] == 400 and "2 queries" in d["source"], d
'

# 11. bad input: a clear message on stderr, exit 2, nothing sent
printf 'www.example.com A\nbad.example.com NOPE\n' >"$T/bad.txt"
expect2() {
	local pat=$1
	shift
	local out rc
	out=$("$dnsurge" load "$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc = 2 ] && grep -q -- "$pat" <<<"$out"; then
		ok "load $* -> exit 2: $pat"
	else
		bad "load $*: exit $rc, stderr: $out"
	fi
}
expect2 "unknown option '--frobnicate'" --target "$target" --rate 10 --frobnicate
expect2 "bad rate 'abc'" --target "$target" --profile 0s:abc --no-db
expect2 "not after the previous" --target "$target" --profile 5s:10,1s:20 --no-db
expect2 "holds 100 qps forever" --target "$target" --profile 0s:100 --no-db
expect2 "$T/missing.txt: No such file" --target "$target" --rate 10 --queries "$T/missing.txt" --no-db
expect2 "$T/bad.txt:2: unknown query type 'NOPE'" --target "$target" --rate 10 --queries "$T/bad.txt" --no-db
expect2 "is not ADDRESS:PORT" --target 300.1.2.3:53 --rate 10 --no-db
expect2 "needs a specific address" --target 0.0.0.0:53 --rate 10 --no-db
expect2 "--target HOST:PORT is required" --rate 10
expect2 "not a rate above 0" --target "$target" --rate 0 --no-db
expect2 "give --rate" --target "$target" --no-db
expect2 "exclude each other" --target "$target" --rate 5 --profile 0s:5,1s:0 --no-db
expect2 "is not I/N" --target "$target" --rate 5 --shard 3/2 --no-db
expect2 "needs a value" --target "$target" --rate
expect2 "not an SQLite database" --target "$target" --rate 5 --db "$T/q.txt"
"$dnsurge" load --help | grep -q "usage: dnsurge load" && ok "--help" || bad "--help"

# no process left behind by the runs above
if pgrep -f "$dnsurge load" >/dev/null; then bad "a load process is still running"; fi
echo "$failures failed"
[ $failures = 0 ]
