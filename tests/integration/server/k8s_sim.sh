#!/bin/bash
# dnsurged with the users' performance-tuned seed Corefile (loopback
# variant) against the simulated Kubernetes API (dnsurge k8s-sim): an API
# that fails at start gives SERVFAIL for unknown names and /ready 503
# "kubernetes"; once the API answers, /ready flips to 200 and service
# names resolve; a Service created through the API shows up in DNS;
# expired watches relist without losing names; the kubernetes metrics
# are there.
DNSURGED=$1
DNSURGE=$2
. "$3/tests/integration/lib.sh"
CF="$3/tests/data/corefiles/loopback/06-week4-performance-tuned.Corefile"
command -v dig >/dev/null || { echo "dig not installed"; exit 77; }
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }

# --- the simulated API: every API request fails with 503 until we say so
CTL=$(free_port)
start_bg sim "$DNSURGE" k8s-sim --listen 127.0.0.1:0 --control-listen "127.0.0.1:$CTL" \
	--ready-file "$DS_TMP/sim.port" --synth services=300,namespaces=10,seed=7 \
	--fault status=503,ratio=1 --quiet
for _ in $(seq 1 100); do [ -s "$DS_TMP/sim.port" ] && break; sleep 0.1; done
[ -s "$DS_TMP/sim.port" ] || fail "k8s-sim did not start: $(cat "$DS_TMP/sim.log")"
SIM=$(cat "$DS_TMP/sim.port")
API="http://127.0.0.1:$SIM"

# --- an upstream stand-in for forward
U1=$(free_port)
printf '.:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$U1" >"$DS_TMP/up"
start_bg up "$DNSURGED" -conf "$DS_TMP/up" -workers 1
wait_dns "$U1" || fail "upstream stand-in"

# --- dnsurged with the seed Corefile, unchanged
export DNS_PORT=$(free_port) METRICS_PORT=$(free_port) HEALTH_PORT=$(free_port)
export READY_PORT=$(free_port) UPSTREAM_1=$U1 UPSTREAM_2=$U1 UPSTREAM_3=$U1 UPSTREAM_4=$U1
export K8S_API=$API
start_bg srv "$DNSURGED" -conf "$CF" -workers 2
# the API fails: the server starts after startup_timeout (5s) anyway
wait_http "http://127.0.0.1:$READY_PORT/ready" 503 || fail "/ready is not 503 while unsynced"
for _ in $(seq 1 3); do wait_dns "$DNS_PORT" nosuch.ns-1.svc.cluster.local. && break; done ||
	fail "server did not start: $(tail -20 "$DS_TMP/srv.log")"
st=$(dig_status "$DNS_PORT" nosuch.ns-1.svc.cluster.local. A)
[ "$st" = SERVFAIL ] || fail "unsynced NXDOMAIN should be SERVFAIL, got $st"
body=$(curl -s "http://127.0.0.1:$READY_PORT/ready")
[ "$body" = kubernetes ] || fail "/ready body '$body'"
grep -q "starting server with unsynced Kubernetes API" "$DS_TMP/srv.log" ||
	fail "no unsynced warning: $(tail -5 "$DS_TMP/srv.log")"

# --- the API recovers: ready flips to 200 after the sync (backoff <= 30 s)
curl -s -X DELETE "http://127.0.0.1:$CTL/sim/v1/fault" >/dev/null
for _ in $(seq 1 400); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$READY_PORT/ready")" = 200 ] && break
	sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$READY_PORT/ready")" = OK ] || fail "/ready did not flip to 200"

# --- service names
a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" kubernetes.default.svc.cluster.local A)
[ "$a" = 10.96.0.1 ] || fail "kubernetes.default: '$a'"
a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" kube-dns.kube-system.svc.cluster.local A)
[ "$a" = 10.96.0.10 ] || fail "kube-dns.kube-system: '$a'"
# every ClusterIP service of a namespace answers its cluster IP
curl -s "$API/api/v1/namespaces/ns-3/services" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["items"]:
    ip = s["spec"].get("clusterIP", "")
    if s["spec"].get("type", "ClusterIP") == "ClusterIP" and ip not in ("", "None") and ":" not in ip:
        print(s["metadata"]["name"], ip)' >"$DS_TMP/svcs"
[ -s "$DS_TMP/svcs" ] || fail "no ClusterIP services in ns-3"
n=0
while read -r name ip; do
	a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$name.ns-3.svc.cluster.local" A)
	[ "$a" = "$ip" ] || fail "$name.ns-3: '$a', want $ip"
	n=$((n + 1))
done <"$DS_TMP/svcs"
echo "$n ClusterIP services of ns-3 answered"
# (a fresh name: cache keeps the earlier SERVFAIL for 5 s, as CoreDNS's does)
st=$(dig_status "$DNS_PORT" nosuch2.ns-1.svc.cluster.local. A)
[ "$st" = NXDOMAIN ] || fail "synced unknown name: $st"
# SRV of a named port, PTR of a cluster IP (fallthrough only for other IPs)
read -r name ip <"$DS_TMP/svcs"
ptr=$(echo "$ip" | awk -F. '{print $4"."$3"."$2"."$1".in-addr.arpa."}')
a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$ptr" PTR)
[ "$a" = "$name.ns-3.svc.cluster.local." ] || fail "PTR $ptr: '$a'"

# --- a Service created through the API shows up in DNS
t0=$(date +%s%N)
curl -s -X POST -H 'Content-Type: application/json' "$API/api/v1/namespaces/ns-1/services" \
	-d '{"apiVersion":"v1","kind":"Service","metadata":{"name":"it-fresh"},"spec":{"ports":[{"name":"http","port":80}]}}' \
	>"$DS_TMP/created.json"
# (no negative answer may be asked for first: cache would keep it)
for _ in $(seq 1 300); do
	a=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" it-fresh.ns-1.svc.cluster.local A)
	[ -n "$a" ] && break
	sleep 0.005
done
echo "created service answered within $((($(date +%s%N) - t0) / 1000000)) ms (curl and dig included)"
ip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["clusterIP"])' "$DS_TMP/created.json") ||
	fail "create: $(cat "$DS_TMP/created.json")"
[ "$a" = "$ip" ] || fail "created service not answered: '$a', want $ip"

# --- expired watches (410): relist, names keep answering
curl -s -X POST "http://127.0.0.1:$CTL/sim/v1/fault" -d '{"expire_watches": true}' >/dev/null
for _ in $(seq 1 50); do
	a=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" kubernetes.default.svc.cluster.local A)
	[ "$a" = 10.96.0.1 ] || fail "answer lost during the relist: '$a'"
	sleep 0.02
done
a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" it-fresh.ns-1.svc.cluster.local A)
[ "$a" = "$ip" ] || fail "after the relist: '$a'"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$READY_PORT/ready")" = 200 ] ||
	fail "/ready after the relist"

# --- metrics with CoreDNS's names
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$DS_TMP/metrics"
grep -q "^coredns_kubernetes_rest_client_requests_total{code=\"200\",method=\"GET\",host=\"127.0.0.1:$SIM\"}" "$DS_TMP/metrics" ||
	fail "rest_client_requests_total: $(grep kubernetes "$DS_TMP/metrics" | head -5)"
grep -q "^coredns_kubernetes_rest_client_requests_total{code=\"503\"" "$DS_TMP/metrics" ||
	fail "the 503s are not counted"
grep -q '^coredns_kubernetes_rest_client_request_duration_seconds_bucket{verb="GET"' "$DS_TMP/metrics" ||
	fail "request_duration_seconds"
grep -q '^coredns_dns_responses_total{.*plugin="kubernetes"}' "$DS_TMP/metrics" ||
	fail "responses by plugin kubernetes"
echo ok
