#!/bin/bash
# dnsurge report from the command line: compare's exit codes and its JSON
# and JUnit, show, CSV export read back by Python's csv module, dnsperf
# import, and the charts (PNG and well-formed SVG, or a clear message
# when gnuplot is missing).
DNSURGE=$1
. "$3/tests/integration/lib.sh"
DATA=$3/tests/unit/reports/data
DB=$DS_TMP/r.db
R() { "$DNSURGE" report "$@"; }

# ABBA-interleaved synthetic trials: a 10 % slower candidate, an identical one
for i in 1 2 3 4 5; do
	R synth --db "$DB" --label v1.2 --seed $((i * 10)) --steady 10s --qps 1000 >/dev/null || fail synth
	R synth --db "$DB" --label slow --slowdown 1.1 --seed $((i * 10 + 1)) --steady 10s --qps 1000 >/dev/null
	R synth --db "$DB" --label same --seed $((i * 10 + 2)) --steady 10s --qps 1000 >/dev/null
	R synth --db "$DB" --label same --seed $((i * 10 + 3)) --steady 10s --qps 1000 >/dev/null
	R synth --db "$DB" --label slow --slowdown 1.1 --seed $((i * 10 + 4)) --steady 10s --qps 1000 >/dev/null
	R synth --db "$DB" --label v1.2 --seed $((i * 10 + 5)) --steady 10s --qps 1000 >/dev/null
done
R synth --db "$DB" --label three --trials 3 --steady 10s --qps 1000 >/dev/null

R compare --db "$DB" --baseline v1.2 --candidate slow >"$DS_TMP/slow.txt"
[ $? -eq 1 ] || fail "10% slower must exit 1: $(cat "$DS_TMP/slow.txt")"
grep -Eq '^p99 .*REGRESSED' "$DS_TMP/slow.txt" || fail "p99 regressed: $(cat "$DS_TMP/slow.txt")"
R compare --db "$DB" --baseline v1.2 --candidate same >"$DS_TMP/same.txt"
[ $? -eq 0 ] || fail "identical must exit 0: $(cat "$DS_TMP/same.txt")"
grep -q 'verdict: no regression (exit 0)' "$DS_TMP/same.txt" || fail "verdict line"
R compare --db "$DB" --baseline v1.2 --candidate three >"$DS_TMP/three.txt"
[ $? -eq 3 ] || fail "three trials must exit 3"
grep -q 'valid candidate trials' "$DS_TMP/three.txt" || fail "too-few warning"
R compare --db "$DB" --baseline v1.2 --candidate nope 2>"$DS_TMP/err.txt"
[ $? -eq 2 ] || fail "unknown label must exit 2"
grep -q "no runs labelled 'nope'" "$DS_TMP/err.txt" || fail "message: $(cat "$DS_TMP/err.txt")"
R compare --db "$DB" --baseline v1.2 2>/dev/null
[ $? -eq 2 ] || fail "missing --candidate must exit 2"
R compare --db "$DB" --baseline v1.2 --candidate same --alpha 2 2>/dev/null
[ $? -eq 2 ] || fail "bad alpha must exit 2"

R compare --db "$DB" --baseline v1.2 --candidate slow --json --junit "$DS_TMP/j.xml" \
	--min-effect p99=20% >"$DS_TMP/j.json"
[ $? -eq 1 ] || fail "json run exit"
python3 - "$DS_TMP/j.json" "$DS_TMP/j.xml" <<'PY' || fail "JSON/JUnit content"
import json, sys, xml.etree.ElementTree as ET
j = json.load(open(sys.argv[1]))
assert j["verdict"] == "regressed" and j["exit_code"] == 1, j["verdict"]
m = {x["metric"]: x for x in j["scenarios"][0]["metrics"]}
# p99 is 10 % slower but the minimum effect was raised to 20 %
assert m["p99"]["verdict"] == "within_noise", m["p99"]
assert m["p50"]["verdict"] == "regressed", m["p50"]
assert 0.05 < m["p50"]["delta"] < 0.15 and m["p50"]["ci_lo"] <= m["p50"]["delta"] <= m["p50"]["ci_hi"]
assert m["p50"]["n_base"] == 10 and m["p50"]["exact"]
x = ET.parse(sys.argv[2]).getroot()
assert x.tag == "testsuites" and x.get("failures") == "1", x.attrib
fails = [tc.get("name") for tc in x.iter("testcase") if tc.find("failure") is not None]
assert fails == ["p50"], fails
PY
# the comparison was recorded in the store
[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM comparison WHERE cand_label='slow' AND metric='response_time.p50' AND verdict='regressed'")" -ge 1 ] ||
	fail "comparison row"

# show: a run's phases, and JSON for scripts
R show --db "$DB" --run 1 >"$DS_TMP/show.txt" || fail "show"
grep -q 'steady \*' "$DS_TMP/show.txt" || fail "show phases: $(cat "$DS_TMP/show.txt")"
grep -q 'schedule lag: ok' "$DS_TMP/show.txt" || fail "show lag"
R show --db "$DB" --label three --json >"$DS_TMP/show.json" || fail "show --json"
R show --db "$DB" --label nope >/dev/null 2>&1
[ $? -eq 2 ] || fail "show of an unknown label must exit 2"

# CSV: read back by Python's csv module, the same numbers as show --json
R export --csv --db "$DB" --label three -o "$DS_TMP/runs.csv" || fail "export"
R export --csv --db "$DB" --label three --table intervals >"$DS_TMP/iv.csv" || fail "export intervals"
python3 - "$DS_TMP/runs.csv" "$DS_TMP/show.json" "$DS_TMP/iv.csv" <<'PY' || fail "CSV round trip"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
show = json.load(open(sys.argv[2]))
assert len(rows) == len(show) == 3
for r, s in zip(rows, show):
    m = s["measured"]
    assert int(r["run_id"]) == s["run_id"] and r["label"] == "three"
    assert int(r["sent"]) == m["sent"] and int(r["answered"]) == m["answered"]
    for k in ("p50_ns", "p99_ns", "qps", "loss_pct"):
        key = {"p50_ns": "response_time.p50", "p99_ns": "response_time.p99"}.get(k, k)
        assert float(r[k]) == m["metrics"][key], (k, r[k], m["metrics"][key])
iv = list(csv.DictReader(open(sys.argv[3], newline="")))
assert len(iv) == 3 * 15 and all(int(x["sent"]) >= int(x["answered"]) for x in iv)
PY

# dnsperf import: summary statistics only, said so
R import --db "$DB" --label coredns-1.11 "$DATA/dnsperf-interval.txt" "$DATA/dnsperf-plain.txt" \
	>"$DS_TMP/imp.txt" || fail "import: $(cat "$DS_TMP/imp.txt")"
[ "$(grep -c 'summary statistics only' "$DS_TMP/imp.txt")" = 2 ] || fail "import output"
R show --db "$DB" --label coredns-1.11 >"$DS_TMP/dp.txt" || fail "show dnsperf"
grep -q 'summary statistics only (imported from dnsperf): no percentiles; mean 93.0µs, max 8.55ms' \
	"$DS_TMP/dp.txt" || fail "dnsperf show: $(cat "$DS_TMP/dp.txt")"
R import --db "$DB" --label x /dev/null 2>/dev/null
[ $? -eq 2 ] || fail "importing nothing must exit 2"

# charts
if ! command -v gnuplot >/dev/null; then
	echo "gnuplot not installed: charts not checked"
	exit 77
fi
R plot --db "$DB" --baseline v1.2 --candidate slow --out "$DS_TMP/plots" --title "it" \
	>"$DS_TMP/plots.txt" || fail "plot"
[ "$(wc -l <"$DS_TMP/plots.txt")" = 12 ] || fail "plot files: $(cat "$DS_TMP/plots.txt")"
for f in lph rate-v1.2 qps-slow cache; do
	png=$DS_TMP/plots/dnsurge-$f.png
	[ -s "$png" ] || fail "$png empty"
	[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$png not PNG"
	python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg")' \
		"$DS_TMP/plots/dnsurge-$f.svg" || fail "$f.svg not well-formed"
done
grep -q 'Slowest percentile' "$DS_TMP/plots/dnsurge-lph.svg" || fail "lph axis label"
R plot --db "$DB" --run 1 --kind qps --format svg --out "$DS_TMP/p2" --prefix one >"$DS_TMP/p2.txt" ||
	fail "plot one run"
[ "$(cat "$DS_TMP/p2.txt")" = "$DS_TMP/p2/one-qps-run1.svg" ] || fail "one file: $(cat "$DS_TMP/p2.txt")"
DNSURGE_GNUPLOT=/nonexistent/gnuplot R plot --db "$DB" --run 1 --out "$DS_TMP/p3" 2>"$DS_TMP/gp.txt"
[ $? -eq 2 ] || fail "a missing gnuplot must exit 2"
grep -q 'not an executable program' "$DS_TMP/gp.txt" || fail "gnuplot message: $(cat "$DS_TMP/gp.txt")"
PATH=/nonexistent R plot --db "$DB" --run 1 --out "$DS_TMP/p3" 2>"$DS_TMP/gp.txt"
grep -q 'apt-get install gnuplot-nox' "$DS_TMP/gp.txt" || fail "install hint: $(cat "$DS_TMP/gp.txt")"
echo OK
