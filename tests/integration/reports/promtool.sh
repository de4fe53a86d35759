#!/bin/bash
# Prometheus as the referee of the PromQL evaluator: for expressions of
# the kind alert rules use, on a run whose counters restart halfway,
# `dnsurge report promql --promtool-test` writes the run's series and our
# result as a promtool unit test, and promtool must agree. Then the seed
# alert rules: what lint-alerts says about them shows up in the numbers
# (the cache ratio as written is always empty, the fix is not).
DNSURGE=$1
. "$3/tests/integration/lib.sh"
command -v promtool >/dev/null || { echo "promtool not installed"; exit 77; }
DB=$DS_TMP/p.db
R() { "$DNSURGE" report "$@"; }

R synth --db "$DB" --label x --counter-reset --steady 60s --surge 10s --servfail 1 \
	--scrape 5s --seed 7 >/dev/null || fail synth

n=0
check() { # check EXPR [--at DUR]
	local expr=$1
	shift
	n=$((n + 1))
	R promql --db "$DB" --run 1 "$@" --promtool-test "$DS_TMP/t$n.yml" --expr "$expr" \
		>"$DS_TMP/o$n.txt"
	[ $? -le 1 ] || fail "promql $* '$expr': $(cat "$DS_TMP/o$n.txt")"
	agree "$DS_TMP/t$n.yml" || fail "promtool disagrees on '$expr' $*: $(cat "$DS_TMP/pt.txt")"
}

# promtool passes when the values are identical. Aggregations add series in
# the order promtool happened to create them (a Go map: it changes from run
# to run), so sums may differ in the last bit: accept 1e-12 relative, with
# the same series.
agree() {
	promtool test rules "$1" >"$DS_TMP/pt.txt" 2>&1 && return 0
	python3 - "$DS_TMP/pt.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
exp = re.findall(r"exp: (.*)", text)
got = re.findall(r"got: (.*)", text)
if not exp or len(exp) != len(got):
    sys.exit(1)
el = re.compile(r"(\{[^}]*\}) ([-+0-9.eE]+|NaN|[-+]?Inf)")
for e, g in zip(exp, got):
    a, b = dict(el.findall(e)), dict(el.findall(g))
    if a.keys() != b.keys():
        sys.exit(1)
    for k in a:
        x, y = float(a[k]), float(b[k])
        if x != y and abs(x - y) > 1e-12 * max(abs(x), abs(y)):
            sys.exit(1)
PY
}
for expr in \
	'rate(coredns_dns_requests_total[1m])' \
	'increase(coredns_dns_responses_total{rcode=~"NX.*|SERVFAIL"}[30s])' \
	'sum by (le) (rate(coredns_dns_request_duration_seconds_bucket[1m]))' \
	'histogram_quantile(0.99, sum by (le) (rate(coredns_dns_request_duration_seconds_bucket[5m]))) > 0.002' \
	'histogram_quantile(0.5, sum by (le) (rate(coredns_dns_request_duration_seconds_bucket[5m])))' \
	'histogram_quantile(0.9, coredns_dns_request_duration_seconds_bucket)' \
	'sum(rate(coredns_cache_hits_total[5m])) / sum(rate(coredns_cache_requests_total[5m])) < 0.8' \
	'rate(coredns_cache_hits_total[5m]) / rate(coredns_cache_requests_total[5m])' \
	'sum without (type) (rate(coredns_cache_hits_total[2m])) / rate(coredns_cache_requests_total[2m])' \
	'sum(rate(coredns_dns_responses_total{rcode="SERVFAIL"}[1m])) / sum(rate(coredns_dns_responses_total[1m])) > bool 0.005' \
	'irate(coredns_dns_requests_total[30s]) * 2 + 1' \
	'max by (type) (delta(coredns_cache_hits_total[40s]))' \
	'avg_over_time(coredns_dns_requests_total[20s]) > 100' \
	'sum_over_time(coredns_dns_request_duration_seconds_sum[30s])' \
	'avg(rate(coredns_dns_request_duration_seconds_bucket[1m]))' \
	'avg by (le) (coredns_dns_request_duration_seconds_bucket) / 3' \
	'min(coredns_dns_responses_total) + max(coredns_dns_responses_total)' \
	'coredns_dns_requests_total{type="A"} and on(zone) coredns_dns_responses_total' \
	'count(coredns_dns_request_duration_seconds_bucket) or vector(1)' \
	'-coredns_dns_requests_total{type="AAAA"} offset 10s'; do
	check "$expr"                # over the measured phase (window mode)
	for at in 25s 40s 75s; do  # instants before, across and after the restart
		check "$expr" --at $at
	done
done
echo "promtool agreed on $n evaluations"

# The seed rules. The cache ratio as written matches no series, ever:
out=$(R promql --db "$DB" --run 1 --expr 'rate(coredns_cache_hits_total[5m]) / rate(coredns_cache_requests_total[5m]) < 0.8')
[ $? -eq 1 ] || fail "an empty comparison must exit 1"
echo "$out" | grep -q 'empty result' || fail "cache ratio as written: $out"
# the fix lint-alerts proposes gives a ratio
fix=$(R lint-alerts "$3/tests/data/corefiles/seed/alerts.yml" | sed -n 's/^  fix: //p' | sed -n 2p)
case "$fix" in "sum without (type)"*) ;; *) fail "cache fix: $fix" ;; esac
R promql --db "$DB" --run 1 --promtool-test "$DS_TMP/fix.yml" --expr "${fix% < 0.8}" >"$DS_TMP/fix.txt" ||
	fail "fixed ratio: $(cat "$DS_TMP/fix.txt")"
grep -Eq '^  \{.*\}  0\.[0-9]+$' "$DS_TMP/fix.txt" || fail "fixed ratio value: $(cat "$DS_TMP/fix.txt")"
agree "$DS_TMP/fix.yml" || fail "promtool on the fixed ratio: $(cat "$DS_TMP/pt.txt")"

# alerts over the run: quantile of raw buckets vs the fix
cat >"$DS_TMP/rules.yml" <<'YML'
groups:
  - name: t
    rules:
      - alert: P99Raw
        expr: histogram_quantile(0.99, coredns_dns_request_duration_seconds_bucket) > 0.002
      - alert: ServfailRatio
        expr: sum(rate(coredns_dns_responses_total{rcode="SERVFAIL"}[30s])) / sum(rate(coredns_dns_responses_total[30s])) > 0.5
        for: 20s
YML
R alerts --db "$DB" --run 1 --rules "$DS_TMP/rules.yml" >"$DS_TMP/al.txt"
rc=$?
grep -q 'P99Raw' "$DS_TMP/al.txt" || fail "alerts output: $(cat "$DS_TMP/al.txt")"
grep -A6 'ServfailRatio' "$DS_TMP/al.txt" | grep -q 'does not fire' || fail "1% servfail must not fire"
[ $rc -le 1 ] || fail "alerts exit $rc"
echo OK
