#!/bin/bash
# lint-alerts against what a running dnsurged exports: its /metrics page
# (scraped over HTTP) is the catalog. The seed's rules get the same
# findings as with the built-in list, and the fixes lint clean.
DNSURGE=$1
DNSURGED=$2
. "$3/tests/integration/lib.sh"
RULES=$3/tests/data/corefiles/seed/alerts.yml
P=$(free_port)
M=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
example.org:$P {
    bind 127.0.0.1
    prometheus 127.0.0.1:$M
    cache 30
    whoami
}
CF
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 1
wait_dns "$P" a.example.org. || fail "server did not start: $(cat "$DS_TMP/srv.log")"
# traffic, so every labelled series (cache hits by type, rcodes) exists
for i in 1 2 3; do
	dig +time=2 +tries=1 @127.0.0.1 -p "$P" a.example.org A >/dev/null
	dig +time=2 +tries=1 @127.0.0.1 -p "$P" example.net A >/dev/null
done
wait_http "http://127.0.0.1:$M/metrics" || fail "/metrics"
curl -s "http://127.0.0.1:$M/metrics" >"$DS_TMP/metrics.txt"
grep -q '^coredns_cache_hits_total{' "$DS_TMP/metrics.txt" ||
	fail "no cache hits series: $(grep cache "$DS_TMP/metrics.txt")"

"$DNSURGE" report lint-alerts --json --metrics "http://127.0.0.1:$M/metrics" "$RULES" \
	>"$DS_TMP/live.json"
[ $? -eq 1 ] || fail "the seed rules have errors: exit 1"
"$DNSURGE" report lint-alerts --json "$RULES" >"$DS_TMP/builtin.json"
python3 - "$DS_TMP/live.json" "$DS_TMP/builtin.json" <<'PY' || fail "findings differ: $(cat "$DS_TMP/live.json")"
import json, sys
live, builtin = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda f: (f["rule"], f["code"], f["severity"], f["line"], f["fix"])
assert sorted(map(key, live)) == sorted(map(key, builtin)), (live, builtin)
codes = {(f["rule"], f["code"]) for f in live}
assert codes == {("DNSResponseTimeTooHigh", "raw-buckets"), ("DNSCacheHitRatioLow", "no-match"),
                 ("DNSErrorRateHigh", "renamed-metric"), ("DNSErrorRateHigh", "missing-label"),
                 ("DNSErrorRateHigh", "nxdomain-error"), ("DNSErrorRateHigh", "rate-not-ratio")}, codes
PY
# the fixed rules, against the live server: clean
"$DNSURGE" report lint-alerts "$RULES" | sed -n 's/^  fix: //p' >"$DS_TMP/fixes.txt"
[ "$(wc -l <"$DS_TMP/fixes.txt")" = 3 ] || fail "three fixes: $(cat "$DS_TMP/fixes.txt")"
while read -r fix; do
	"$DNSURGE" report lint-alerts --metrics "$DS_TMP/metrics.txt" --expr "$fix" >"$DS_TMP/one.txt" ||
		fail "fix not clean against dnsurged: $fix: $(cat "$DS_TMP/one.txt")"
done <"$DS_TMP/fixes.txt"
# a metric this server does not export
"$DNSURGE" report lint-alerts --metrics "$DS_TMP/metrics.txt" --expr 'coredns_kubernetes_dns_programming_duration_seconds_count > 0' >"$DS_TMP/k.txt"
[ $? -eq 1 ] && grep -q 'not in the given /metrics' "$DS_TMP/k.txt" || fail "unknown metric: $(cat "$DS_TMP/k.txt")"
"$DNSURGE" report lint-alerts --metrics "http://127.0.0.1:$(free_port)/metrics" "$RULES" 2>/dev/null
[ $? -eq 2 ] || fail "an unreachable /metrics must exit 2"
echo OK
