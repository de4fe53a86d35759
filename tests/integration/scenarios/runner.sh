#!/bin/bash
# The scenario runner as a CI job uses it: a passing scenario (exit 0,
# JUnit, JSON, store rows), an impossible threshold (exit 1, named), a
# server crash (exit 1, signal and log named), a broken file (exit 2, file:line), Ctrl-C (exit 2, run marked aborted),
# and never a process left behind.
DNSURGE=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
cd "$DS_TMP"
no_children() {
	if pgrep -f "dnsurge-run-" >/dev/null; then
		pgrep -fa "dnsurge-run-" >&2
		fail "$1: processes left behind"
	fi
}

# --- pass
"$DNSURGE" run "$SRC/tests/data/scenarios/smoke.scn" --db r.db --label it --junit j.xml --json --quiet >out.json 2>err.txt
rc=$?
[ $rc = 0 ] || fail "smoke: exit $rc: $(cat err.txt out.json)"
no_children smoke
python3 - <<'PY' || fail "smoke JSON"
import json
o = json.load(open("out.json"))
assert o["verdict"] == "pass", o
assert o["sent"] > 10000 and o["answered"] == o["sent"], o
assert len(o["thresholds"]) == 4 and all(t["result"] == "pass" for t in o["thresholds"]), o
PY
grep -q '<testsuite name="dnsurge.smoke" tests="4" failures="0"' j.xml || fail "junit: $(cat j.xml)"
[ "$(sqlite3 r.db "select count(*) from assertion where passed=1")" = 4 ] || fail "assertions stored"
[ "$(sqlite3 r.db "select count(*) from phase")" = 2 ] || fail "phases stored"
[ "$(sqlite3 r.db "select count(*) from sample")" -gt 100 ] || fail "scraped metrics stored"
[ "$(sqlite3 r.db "select tool||','||label||','||scenario from run")" = "run,it,smoke" ] || fail "run row"

# --- an impossible threshold fails with exit 1 and says which
sed 's/latency p99 < 50ms/latency p99 < 1us/' "$SRC/tests/data/scenarios/smoke.scn" >hard.scn
"$DNSURGE" run hard.scn --no-db --quiet >out.txt 2>&1
rc=$?
[ $rc = 1 ] || fail "impossible threshold: exit $rc: $(cat out.txt)"
grep -Eq 'latency p99 < 1us +[0-9.]+(us|ms) +FAIL' out.txt || fail "failed threshold not named: $(cat out.txt)"
grep -q 'verdict: FAIL' out.txt || fail "verdict line"
no_children hard

# --- a server that dies under load (here: as if OOM-killed) fails the run,
# with how and its log
dnsurged=$(dirname "$DNSURGE")/dnsurged
printf '#!/bin/bash\n(sleep 3; kill -KILL $$) &\nexec %s "$@"\n' "$dnsurged" >crashing-server
chmod +x crashing-server
"$DNSURGE" run "$SRC/tests/data/scenarios/smoke.scn" --server "$PWD/crashing-server" --no-db --quiet >out.txt 2>&1
rc=$?
[ $rc = 1 ] || fail "crashed server: exit $rc: $(cat out.txt)"
grep -Eq 'server under test stays up +- +FAIL +server under test killed by signal 9 .* at [0-9.]+s; see .*server.log' out.txt ||
	fail "crash not reported: $(cat out.txt)"
no_children crashed

# --- a broken scenario: file:line and exit 2
"$DNSURGE" run "$SRC/tests/data/scenarios/broken.scn" --no-db >out.txt 2>&1
rc=$?
[ $rc = 2 ] || fail "broken scenario: exit $rc"
grep -q "broken.scn:7 - load: phase 'steady': bad rate 'fast'" out.txt || fail "broken scenario message: $(cat out.txt)"
"$DNSURGE" run missing.scn --no-db >out.txt 2>&1
[ $? = 2 ] && grep -q 'missing.scn' out.txt || fail "missing scenario"
"$DNSURGE" run "$SRC/tests/data/scenarios/smoke.scn" --bogus >out.txt 2>&1
[ $? = 2 ] || fail "unknown option must exit 2"

# --- Ctrl-C in the middle: exit 2, every process gone, run aborted
"$DNSURGE" run "$SRC/tests/data/scenarios/smoke.scn" --db c.db --quiet >out.txt 2>&1 &
pid=$!
sleep 3
kill -INT $pid
wait $pid
rc=$?
[ $rc = 2 ] || fail "interrupted run: exit $rc: $(cat out.txt)"
no_children interrupted
st=$(sqlite3 c.db "select status from run")
[ "$st" = aborted ] || fail "interrupted run status: $st"
echo ok
