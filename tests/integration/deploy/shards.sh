#!/bin/bash
# Distributed load, locally: 4 `dnsurge load --shard i/4` processes at a
# total rate R against dnsurged (template answers on loopback), merged
# with `dnsurge report merge`, against one unsharded run at R:
# - answered qps within 5 %, queries sent within 2 %;
# - the merged percentiles are exactly those of the union of the shards'
#   raw histograms (shard_check, through lib/hist.h);
# - shards that do not belong together are refused (exit 2, nothing
#   written) unless --force, which records why; one invalid shard makes
#   the merged run invalid (exit 3).
# Bounded: two rounds of 4 s at 2000 qps, loopback only.
# Usage: shards.sh DNSURGE DNSURGED SHARD_CHECK
set -u
. "$(dirname "$0")/../lib.sh"
dnsurge=$1
dnsurged=$2
shard_check=$3
T=$DS_TMP
R=2000
DUR=4s
SEED=4242
failures=0

ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	failures=$((failures + 1))
}

port=$(free_port)
cat >"$T/Corefile" <<CF
.:$port {
	bind 127.0.0.1
	template IN A shard.test {
		answer "{{ .Name }} 60 IN A 192.0.2.1"
	}
}
CF
start_bg srv "$dnsurged" -conf "$T/Corefile" -workers 1
wait_dns "$port" || fail "dnsurged did not answer on $port: $(cat "$T/srv.log")"

# A loaded shared machine lags by milliseconds; the shape of the merge is
# what is tested here, not the generator's timing.
common=(--target "127.0.0.1:$port" --rate "$R" --duration "$DUR" --seed "$SEED" --zone shard.test
	--names 500 --label shard-test --max-lag 1s --timeout 1s)

pids=()
for i in 1 2 3 4; do
	timeout 30 "$dnsurge" load "${common[@]}" --shard "$i/4" --db "$T/s$i.db" --json \
		>"$T/s$i.json" 2>"$T/s$i.err" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a shard failed: $(cat "$T"/s*.err)"
done
timeout 30 "$dnsurge" load "${common[@]}" --db "$T/one.db" --json >"$T/one.json" 2>"$T/one.err" ||
	fail "the unsharded run failed: $(cat "$T/one.err")"

"$dnsurge" report merge "$T/merged.db" "$T"/s[1-4].db >"$T/merge.out" 2>&1
rc=$?
[ "$rc" = 0 ] && ok "merge of 4 shards (exit 0)" || bad "merge exit $rc: $(cat "$T/merge.out")"
"$dnsurge" report show --db "$T/merged.db" --json >"$T/merged-show.json" || bad "show merged"
"$dnsurge" report show --db "$T/one.db" --json >"$T/one-show.json" || bad "show unsharded"

if python3 - "$T" <<'PY'; then ok "merged run = unsharded run (qps within 5%, sent within 2%)"; else bad "merged vs unsharded"; fi
import json, sys
t = sys.argv[1]
m = json.load(open(f"{t}/merged-show.json"))[0]
o = json.load(open(f"{t}/one-show.json"))[0]
shards = [json.load(open(f"{t}/s{i}.json")) for i in range(1, 5)]
mt, ot = m["measured"], o["measured"]
mq, oq = mt["metrics"]["qps"], ot["metrics"]["qps"]
print(f"  merged: {mt['sent']} sent, {mq:.1f} qps; unsharded: {ot['sent']} sent, {oq:.1f} qps")
assert m["tool"] == "load" and m["label"] == "shard-test" and m["valid"], m
assert abs(mq - oq) <= 0.05 * oq, (mq, oq)
assert abs(mt["sent"] - ot["sent"]) <= 0.02 * ot["sent"], (mt["sent"], ot["sent"])
# The merge adds exactly what the shards sent and got.
assert mt["sent"] == sum(s["sent"] for s in shards), (mt["sent"], [s["sent"] for s in shards])
assert mt["answered"] == sum(s["answered"] for s in shards)
PY

if python3 - "$T/merged.db" "$T" <<'PY'; then ok "provenance, phases and per-second rows of the merged run"; else bad "merged run rows"; fi
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(params, summary, status) = db.execute("SELECT params_json, summary_json, status FROM run").fetchone()
p, s = json.loads(params), json.loads(summary)
assert status == "ok" and s["status"] == "ok" and s["valid"], (status, s["status"])
files = sorted(x["file"] for x in p["merged_from"])
assert files == sorted(f"{sys.argv[2]}/s{i}.db" for i in range(1, 5)), files
assert sorted(x["shard"] for x in s["merged_from"]) == ["1/4", "2/4", "3/4", "4/4"]
assert all(x["run_id"] == 1 for x in p["merged_from"]) and p["shards"] == 4
assert "argv" not in p and "shard" not in p
# One phase (the step) at the total rate; seconds a whole second apart.
ph = db.execute("SELECT name, target_qps, end_ns - start_ns FROM phase").fetchall()
assert len(ph) == 1 and ph[0][0] == "step" and abs(ph[0][1] - 2000) < 1e-6, ph
ts = [r[0] for r in db.execute("SELECT t_ns FROM interval_stats ORDER BY t_ns")]
assert all(b - a == 1_000_000_000 for a, b in zip(ts, ts[1:])), ts
assert 4 <= len(ts) <= 5, ts
# The per-second target adds up to the total rate (full seconds).
tq = [r[0] for r in db.execute("SELECT target_qps FROM interval_stats WHERE dur_ns = 1000000000")]
assert any(abs(q - 2000) < 1 for q in tq), tq
PY

"$shard_check" "$T/merged.db" "$T"/s[1-4].db >"$T/check.out" 2>&1 &&
	ok "merged percentiles = union of the raw histograms, exactly" ||
	bad "percentiles: $(cat "$T/check.out")"

# Inputs that do not belong together.
nruns() { sqlite3 "$1" "SELECT COUNT(*) FROM run" 2>/dev/null || echo 0; }
before=$(nruns "$T/merged.db")
refuse() {
	local what=$1 pattern=$2
	shift 2
	"$dnsurge" report merge "$T/merged.db" "$@" >"$T/r.out" 2>&1
	local rc=$?
	if [ "$rc" = 2 ] && grep -q "$pattern" "$T/r.out" && [ "$(nruns "$T/merged.db")" = "$before" ]; then
		ok "refused: $what"
	else
		bad "not refused ($rc): $what: $(cat "$T/r.out")"
	fi
}
refuse "a shard missing" "shard 4 of 4 missing" "$T"/s[1-3].db
refuse "a shard twice" "given twice" "$T"/s[1-4].db "$T/s2.db"
cp "$T/s3.db" "$T/copy3.db"
refuse "the same shard from two files" "count double" "$T"/s[1-4].db "$T/copy3.db"
refuse "an unsharded run among shards" "shards" "$T"/s[1-3].db "$T/one.db"
cp "$T/s4.db" "$T/other4.db"
sqlite3 "$T/other4.db" "UPDATE run SET label = 'other'"
refuse "another label" "different label" "$T"/s[1-3].db "$T/other4.db"
cp "$T/s4.db" "$T/prof4.db"
sqlite3 "$T/prof4.db" "UPDATE run SET params_json = json_set(params_json, '$.profile', '0s:9999')"
refuse "another profile" "different profile" "$T"/s[1-3].db "$T/prof4.db"
refuse "no such file" "no such file" "$T"/s[1-3].db "$T/nope.db"

"$dnsurge" report merge --force --label forced "$T/merged.db" "$T"/s[1-3].db "$T/other4.db" \
	>"$T/f.out" 2>&1
rc=$?
label_ok=$(sqlite3 "$T/merged.db" "SELECT COUNT(*) FROM run WHERE label = 'forced' AND \
	json_extract(params_json, '$.merge_forced[0]') LIKE '%different label%'")
[ "$rc" = 0 ] && [ "$label_ok" = 1 ] && ok "--force merges and records why" ||
	bad "--force ($rc, $label_ok): $(cat "$T/f.out")"

# One invalid shard (its generator lagged) makes the whole load invalid.
cp "$T/s2.db" "$T/lag2.db"
sqlite3 "$T/lag2.db" "UPDATE run SET status = 'invalid', invalid_reason = 'schedule lag p99 9 ms exceeds the 1.000 ms limit'"
"$dnsurge" report merge --json "$T/inv.db" "$T/s1.db" "$T/lag2.db" "$T/s3.db" "$T/s4.db" \
	>"$T/inv.json" 2>"$T/inv.err"
rc=$?
if [ "$rc" = 3 ] && python3 - "$T/inv.json" <<'PY'; then ok "an invalid shard makes the merged run invalid (exit 3)"; else bad "invalid shard ($rc): $(cat "$T/inv.err")"; fi
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "invalid" and not d["valid"], d["status"]
assert "shard 2/4" in d["invalid_reason"] and "schedule lag" in d["invalid_reason"], d["invalid_reason"]
PY

echo "$failures failed"
[ "$failures" = 0 ]
