#!/bin/bash
# /ready as Kubernetes probes it: 503 naming "kubernetes" while the plugin
# has not synced with the API (queries for would-be NXDOMAIN names get
# SERVFAIL meanwhile), 200 once synced against the API simulator; with
# the default "until-ready" it stays 200 when the API goes away later.
DNSURGED=$1
DNSURGE=$2
. "$3/tests/integration/lib.sh"
K=$(free_port)
P=$(free_port); R=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
.:$P {
    bind 127.0.0.1
    ready 127.0.0.1:$R
    kubernetes cluster.local {
        endpoint http://127.0.0.1:$K
        startup_timeout 1s
    }
}
CF
# the API is not there yet
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 1
wait_dns "$P" x.cluster.local. || fail "server: $(cat "$DS_TMP/srv.log")"
body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$R/ready")
[ "$body" = "kubernetes 503" ] || fail "unsynced /ready: '$body'"
[ "$(dig_status "$P" nosuch.default.svc.cluster.local A)" = SERVFAIL ] || fail "unsynced NXDOMAIN should be SERVFAIL"
# the API comes up: a synthetic cluster
start_bg sim "$DNSURGE" k8s-sim --listen 127.0.0.1:$K --synth services=20,endpoints=2,pods=40,namespaces=2,seed=1 --quiet
wait_http "http://127.0.0.1:$R/ready" 200 || fail "/ready never 200 after the API came up: $(curl -s "http://127.0.0.1:$R/ready")"
[ "$(dig_status "$P" nosuch.ns-0.svc.cluster.local A)" = NXDOMAIN ] || fail "synced NXDOMAIN"
[ "$(dig_status "$P" svc-0.ns-0.svc.cluster.local A)" = NOERROR ] || fail "synced service name"
# the API goes away: until-ready keeps saying ready, names keep answering
kill -TERM "$PID_sim"
sleep 1
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$R/ready")" = 200 ] || fail "until-ready must stay 200"
[ "$(dig_status "$P" svc-0.ns-0.svc.cluster.local A)" = NOERROR ] || fail "last view must keep answering"
echo ok
