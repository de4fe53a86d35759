#!/bin/bash
# Prometheus as the referee: a real Prometheus (Debian package) scrapes the
# server under test during a short scenario and evaluates alert rules that
# are the scenario's thresholds. The runner's verdict must agree with
# Prometheus's alerts, and its value with Prometheus's query.
DNSURGE=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
command -v prometheus >/dev/null || { echo "prometheus is not installed"; exit 77; }
M=$(free_port); PP=$(free_port)
cat >"$DS_TMP/rules.yml" <<'Y'
groups:
  - name: referee
    interval: 1s
    rules:
      - alert: HighP99
        expr: histogram_quantile(0.99, sum by (le) (rate(coredns_dns_request_duration_seconds_bucket[10s]))) > 0.000001
      - alert: LowHitRatio
        expr: sum(rate(coredns_cache_hits_total[10s])) / sum(rate(coredns_cache_requests_total[10s])) < 0.5
Y
cat >"$DS_TMP/prometheus.yml" <<Y
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$DS_TMP/rules.yml"]
scrape_configs:
  - job_name: dnsurged
    static_configs:
      - targets: ["127.0.0.1:$M"]
Y
start_bg prom prometheus --config.file="$DS_TMP/prometheus.yml" --storage.tsdb.path="$DS_TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PP" --log.level=warn
wait_http "http://127.0.0.1:$PP/-/ready" 200 || fail "prometheus did not start: $(cat "$DS_TMP/prom.log")"
cd "$DS_TMP"
DNSURGE_METRICS_PORT=$M "$DNSURGE" run "$SRC/tests/data/scenarios/referee.scn" --db r.db --json --quiet >out.json 2>err.txt
rc=$?
[ $rc = 1 ] || fail "expected exit 1 (one alert-style threshold fires): $rc $(cat err.txt out.json)"
q() { curl -s "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$2"; }
end=$(python3 -c "import json; print(json.load(open('out.json'))['run_id'])" >/dev/null; sqlite3 r.db "select end_ns/1e9 from phase where name='steady'")
python3 - "$end" <<PY || fail "verdict and Prometheus disagree"
import json, subprocess, sys
end = float(sys.argv[1])
ours = json.load(open("out.json"))["thresholds"]
def prom(query, t):
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:$PP/api/v1/query", "--data-urlencode",
                          "query=" + query, "--data-urlencode", "time=%f" % t],
                         capture_output=True, text=True).stdout
    return json.loads(out)["data"]["result"]
def fired(name):
    # did the alert fire at any second of the steady phase?
    return any(prom('ALERTS{alertname="%s",alertstate="firing"}' % name, t) for t in range(int(end) - 15, int(end) + 1))
high, low = fired("HighP99"), fired("LowHitRatio")
print("prometheus: HighP99 fired=%s LowHitRatio fired=%s" % (high, low))
print("dnsurge:   ", [(t["threshold"][:40], t["result"]) for t in ours])
assert high and ours[0]["result"] == "fail", "HighP99: Prometheus fired=%s, dnsurge %s" % (high, ours[0]["result"])
assert (not low) and ours[1]["result"] == "pass", "LowHitRatio: Prometheus fired=%s, dnsurge %s" % (low, ours[1]["result"])
v = prom("sum(rate(coredns_cache_hits_total[10s])) / sum(rate(coredns_cache_requests_total[10s]))", end - 1)
pv = float(v[0]["value"][1])
mine = ours[2]["measured"]
print("hit ratio: prometheus %.4f, dnsurge %.4f" % (pv, mine))
assert abs(pv - mine) < 0.03, "hit ratio differs"
PY
echo ok
