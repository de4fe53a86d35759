#!/bin/bash
# dnsurge k8s-sim command line: --help, usage errors (exit 2), loading
# JSON and YAML files, --no-watch-list, --fault at start, SIGINT.
# Usage: cli.sh DNSURGE
DNSURGE=$1
. "$(dirname "$0")/k8s_lib.sh" || exit 1

"$DNSURGE" k8s-sim --help | grep -q -- "--listen HOST:PORT" || fail "--help"
expect2() {
	local out
	out=$(timeout 10 "$DNSURGE" k8s-sim "$@" 2>&1)
	local rc=$?
	[ "$rc" = 2 ] || fail "k8s-sim $*: exit $rc, want 2 ($out)"
	echo "$out" | grep -q "dnsurge k8s-sim:" || fail "k8s-sim $*: no message ($out)"
}
expect2
expect2 --listen 127.0.0.1:0 --bogus
expect2 --listen 127.0.0.1:0 --synth services=x
expect2 --listen 127.0.0.1:0 --synth nonsense=1
expect2 --listen 127.0.0.1:0 --churn -5
expect2 --listen 127.0.0.1:0 --churn-kind sideways
expect2 --listen 127.0.0.1:0 --load /nonexistent.yaml
expect2 --listen 127.0.0.1:0 --fault status=200
expect2 --listen nowhere
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\n' >"$K8S_TMP/bad.yaml"
expect2 --listen 127.0.0.1:0 --load "$K8S_TMP/bad.yaml"
out=$("$DNSURGE" k8s-sim --listen 127.0.0.1:0 --load "$K8S_TMP/bad.yaml" 2>&1)
echo "$out" | grep -q "bad.yaml" || fail "the error does not name the file: $out"

cat >"$K8S_TMP/objs.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  clusterIP: 10.96.7.7
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored, namespace: shop}
YAML
cat >"$K8S_TMP/objs.json" <<'JSON'
{"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {},
 "items": [{"metadata": {"name": "cart-x1", "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "cart"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
           {"metadata": {"name": "db-x1", "namespace": "store",
            "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4", "endpoints": []}]}
JSON
start_sim files --load "$K8S_TMP/objs.yaml" --load "$K8S_TMP/objs.json" --no-watch-list \
	--fault status=503,ratio=0
B="http://127.0.0.1:$SIM_PORT"
grep -q "ignored 1 objects" "$K8S_TMP/files.log" || fail "unsupported kinds not reported"
[ "$(jget "$B/api/v1/namespaces/shop/services/cart" 'd["spec"]["clusterIP"]')" = 10.96.7.7 ] ||
	fail "loaded service"
[ "$(jget "$B/apis/discovery.k8s.io/v1/endpointslices" 'len(d["items"])')" = 2 ] ||
	fail "loaded slices"
# a namespace only referenced by a loaded object is created
[ "$(jget "$B/api/v1/namespaces/store" 'd["status"]["phase"]')" = Active ] ||
	fail "implicit namespace"
# --no-watch-list: sendInitialEvents is refused, as by servers without WatchList
[ "$(jget "$B/api/v1/services?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true" 'd["code"]')" = 422 ] ||
	fail "--no-watch-list"
[ "$(jget "$B/sim/v1/fault" 'd["status"]')" = 503 ] || fail "--fault at start"
# POST/PUT/PATCH/DELETE through curl, with json-patch
curl -s -XPOST "$B/api/v1/namespaces/shop/services" -H 'Content-Type: application/json' \
	-d '{"metadata":{"name":"pay"},"spec":{"type":"ExternalName","externalName":"pay.example.net"}}' |
	grep -q '"externalName":"pay.example.net"' || fail "POST"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$B/api/v1/namespaces/shop/services" \
	-d '{"metadata":{"name":"pay"},"spec":{"type":"ExternalName","externalName":"x"}}')" = 409 ] ||
	fail "POST twice: want 409"
curl -s -XPATCH "$B/api/v1/namespaces/shop/services/pay" -H 'Content-Type: application/json-patch+json' \
	-d '[{"op":"add","path":"/metadata/labels","value":{"tier":"x"}}]' | grep -q '"tier":"x"' ||
	fail "json-patch"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XPATCH "$B/api/v1/namespaces/shop/services/pay" \
	-H 'Content-Type: application/apply-patch+yaml' -d 'x: 1')" = 415 ] || fail "apply-patch: want 415"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$B/api/v1/namespaces/shop/services/pay" \
	-d '{"metadata":{"name":"pay","resourceVersion":"1"},"spec":{"type":"ExternalName","externalName":"y"}}')" = 409 ] ||
	fail "PUT with a stale resourceVersion: want 409"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "$B/api/v1/namespaces/shop/services/pay")" = 200 ] ||
	fail "DELETE"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "$B/api/v1/namespaces/shop/services/pay")" = 404 ] ||
	fail "DELETE twice: want 404"

# SIGINT: clean exit 0
kill -INT "$SIM_PID"
wait "$SIM_PID"
rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGINT: $rc"
echo "PASS"
