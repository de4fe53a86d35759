#!/bin/bash
# dnsurge report abba: two commands run in ABBA order N times each, each
# recording its run under its label in the same store, then compared.
# The commands here write synthetic trials; a real session would start a
# server and run `dnsurge load` (docs/REPORT.md).
DNSURGE=$1
. "$3/tests/integration/lib.sh"
DB=$DS_TMP/a.db
R() { "$DNSURGE" report "$@"; }
base="\"$DNSURGE\" report synth --db \"\$DNSURGE_DB\" --label \"\$DNSURGE_LABEL\" --steady 10s --qps 1000 --seed \$DNSURGE_ORDER >/dev/null"
slow="$base --slowdown 1.1"
# a run from before the session must not count
R synth --db "$DB" --label candidate --slowdown 3 --trials 2 >/dev/null || fail synth

R abba --db "$DB" --baseline-cmd "$base; echo \"\$DNSURGE_ROLE \$DNSURGE_TRIAL\" >>'$DS_TMP/order'" \
	--candidate-cmd "$slow; echo \"\$DNSURGE_ROLE \$DNSURGE_TRIAL\" >>'$DS_TMP/order'" \
	--trials 6 >"$DS_TMP/out.txt" 2>"$DS_TMP/err.txt"
rc=$?
[ $rc -eq 1 ] || fail "a 10% slower candidate must exit 1, got $rc: $(cat "$DS_TMP/out.txt" "$DS_TMP/err.txt")"
order=$(awk '{print substr($1, 1, 1)}' "$DS_TMP/order" | tr -d '\n')
[ "$order" = bccbbccbbccb ] || fail "ABBA order: $order"
grep -q 'baseline' "$DS_TMP/order" || fail "roles"
[ "$(tail -1 "$DS_TMP/order")" = "baseline 6" ] || fail "trial numbers: $(tail -1 "$DS_TMP/order")"
grep -q '6/6 valid' "$DS_TMP/out.txt" || fail "only the session's runs: $(cat "$DS_TMP/out.txt")"
grep -q 'REGRESSED' "$DS_TMP/out.txt" || fail "verdict"
grep -q 'interleave' "$DS_TMP/out.txt" && fail "ABBA trials must not look sequential"

# a failing command is a missing trial; too many missing is inconclusive
R abba --db "$DB" --baseline a2 --candidate b2 --baseline-cmd "$base" --candidate-cmd "exit 3" \
	--trials 5 >"$DS_TMP/out2.txt" 2>"$DS_TMP/err2.txt"
rc=$?
[ $rc -eq 3 ] || fail "failed candidate commands: exit $rc, want 3"
grep -q 'candidate #1 recorded no single run (exit 3' "$DS_TMP/err2.txt" || fail "missing-trial warning: $(cat "$DS_TMP/err2.txt")"

# a command that records its run and then exits 1 (a scenario whose
# threshold failed) is a trial, not a missing one
R abba --db "$DB" --baseline a3 --candidate b3 --baseline-cmd "$base" --candidate-cmd "$base; exit 1" \
	--trials 5 >"$DS_TMP/out3.txt" 2>"$DS_TMP/err3.txt"
rc=$?
[ $rc -eq 0 ] || fail "recorded runs that exit 1: exit $rc, want 0: $(cat "$DS_TMP/out3.txt" "$DS_TMP/err3.txt")"
grep -q '5/5 valid *5/5 valid' "$DS_TMP/out3.txt" || fail "all trials count: $(cat "$DS_TMP/out3.txt")"
grep -q 'candidate #1 exited 1; its recorded run is a trial' "$DS_TMP/err3.txt" || fail "note: $(cat "$DS_TMP/err3.txt")"
grep -q 'missing' "$DS_TMP/err3.txt" && fail "no trial is missing: $(cat "$DS_TMP/err3.txt")"

# dry run: the order only
R abba --db "$DB" --baseline-cmd true --candidate-cmd false --trials 2 --dry-run 2>"$DS_TMP/dry.txt" ||
	fail "dry run"
[ "$(grep -c '^abba: ' "$DS_TMP/dry.txt")" = 4 ] || fail "dry run lines: $(cat "$DS_TMP/dry.txt")"
R abba --db "$DB" --baseline-cmd true --trials 2 2>/dev/null
[ $? -eq 2 ] || fail "missing --candidate-cmd must exit 2"
echo OK
