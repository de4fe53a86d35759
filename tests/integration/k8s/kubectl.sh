#!/bin/bash
# Real kubectl against k8s-sim: get (-A, -n, -l, -o json) for every
# resource, get -w seeing a change, apply --validate=false (create, then
# update), delete. Skips (77) without kubectl.
# Usage: kubectl.sh DNSURGE
DNSURGE=$1
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl not installed"; exit 77; }
. "$(dirname "$0")/k8s_lib.sh" || exit 1

start_sim kc --synth services=40,endpoints=200,pods=260,namespaces=4,seed=11
KC="$K8S_TMP/kubeconfig"
kubeconfig "$KC" "$SIM_PORT"
k() { timeout 30 kubectl --kubeconfig "$KC" --cache-dir "$K8S_TMP/kcache" "$@"; }
k version >/dev/null 2>&1 || true # the dispatcher may pick a client by /version

out=$(k get svc -A) || fail "get svc -A"
echo "$out" | grep -q "^default  *kubernetes " || fail "get svc -A: no kubernetes.default: $out"
echo "$out" | grep -q "^ns-1  *svc-1 " || fail "get svc -A: no svc-1 in ns-1"
[ "$(echo "$out" | tail -n +2 | wc -l)" = 42 ] || fail "get svc -A: want 42 rows"
out=$(k get endpointslices -n ns-2 --no-headers) || fail "get endpointslices -n"
echo "$out" | grep -q "^svc-2-" || fail "get endpointslices -n ns-2: $out"
echo "$out" | grep -qv "^svc-" && fail "get endpointslices -n ns-2 shows other namespaces"
n=$(k get pods -A -l app=svc-3 --no-headers | wc -l)
[ "$n" -ge 1 ] || fail "get pods -l app=svc-3: nothing"
[ "$(k get pods -A -l 'app in (svc-3)' --no-headers | wc -l)" = "$n" ] || fail "set selector"
k get ns -o json >"$K8S_TMP/ns.json" || fail "get ns -o json"
python3 - "$K8S_TMP/ns.json" <<'PY' || fail "get ns -o json: bad document"
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(i["metadata"]["name"] for i in d["items"])
assert d["kind"] == "List", d["kind"]
assert names == ["default", "kube-node-lease", "kube-public", "kube-system",
                 "ns-0", "ns-1", "ns-2", "ns-3"], names
PY
k get svc kube-dns -n kube-system -o jsonpath='{.spec.clusterIP}' | grep -qx 10.96.0.10 ||
	fail "kube-dns clusterIP"

# get -w sees a change made through the API.
k get endpointslices -n ns-1 -w >"$K8S_TMP/watch.out" 2>&1 &
WPID=$!
K8S_PIDS+=("$WPID")
wait_for 15 grep -q "^svc-1-" "$K8S_TMP/watch.out" || fail "get -w: no initial rows"
cat >"$K8S_TMP/m.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ns-1
  labels: {app: web}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
  selector: {app: web}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: ns-1
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: ["10.244.9.9"]
  conditions: {ready: true}
ports:
- {name: http, port: 8080, protocol: TCP}
YAML
out=$(k apply --validate=false -f "$K8S_TMP/m.yaml") || fail "apply (create): $out"
echo "$out" | grep -q "service/web created" || fail "apply: $out"
echo "$out" | grep -q "endpointslice.discovery.k8s.io/web-abc12 created" || fail "apply: $out"
wait_for 10 grep -q "^web-abc12" "$K8S_TMP/watch.out" || fail "get -w did not show the new slice"
kill "$WPID" 2>/dev/null

sed -i 's/10.244.9.9/10.244.9.10/' "$K8S_TMP/m.yaml"
out=$(k apply --validate=false -f "$K8S_TMP/m.yaml") || fail "apply (update): $out"
echo "$out" | grep -q "web-abc12 configured" || fail "apply update: $out"
[ "$(k get endpointslice web-abc12 -n ns-1 -o jsonpath='{.endpoints[0].addresses[0]}')" = \
	10.244.9.10 ] || fail "apply did not patch the slice"
ip=$(k get svc web -n ns-1 -o jsonpath='{.spec.clusterIP}')
case "$ip" in 10.9[6-9].* | 10.1[01][0-9].*) ;; *) fail "web clusterIP $ip not in 10.96.0.0/12" ;; esac

out=$(k delete -f "$K8S_TMP/m.yaml") || fail "delete: $out"
echo "$out" | grep -q 'service "web" deleted' || fail "delete: $out"
k get svc web -n ns-1 >/dev/null 2>&1 && fail "service still there after delete"
k get svc web -n ns-1 2>&1 | grep -q 'NotFound' || fail "get after delete: no NotFound"
echo "PASS"
