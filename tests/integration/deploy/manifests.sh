#!/bin/bash
# docs/deploy/ against the Kubernetes API simulator with real kubectl:
# - apply --validate=false -R creates every object, a second apply changes
#   nothing, and every object reads back (get -o json) with what the
#   manifest says (the manifest a subset of the stored object) plus uid,
#   resourceVersion and creationTimestamp;
# - the pieces agree: the Service selects the Deployment's pods and names
#   its ports, probes hit the Corefile's health/ready ports, the grace
#   period outlasts lameduck, the Job's shards match completions;
# - the ConfigMap's Corefile runs in dnsurged (on loopback, pointed at the
#   simulator), answers for the applied kube-dns Service, and on SIGTERM
#   serves through lameduck and exits within the grace period.
# Skips (77) without kubectl. Loopback only; every process is stopped.
# Usage: manifests.sh DNSURGE DNSURGED DEPLOY_DIR
# shellcheck disable=SC2034 # k8s_lib.sh's start_sim runs $DNSURGE
DNSURGE=$1
DNSURGED=$2
DEPLOY=$3
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl not installed"; exit 77; }
. "$(dirname "$0")/../k8s/k8s_lib.sh" || exit 1
T=$K8S_TMP

start_sim deploy --generic-kinds
KC="$T/kubeconfig"
kubeconfig "$KC" "$SIM_PORT"
k() { timeout 60 kubectl --kubeconfig "$KC" --cache-dir "$T/kcache" "$@"; }

out=$(k apply --validate=false -R -f "$DEPLOY") || fail "apply: $out"
echo "$out"
n=$(echo "$out" | grep -c " created$")
want=$(cat "$DEPLOY"/*.yaml "$DEPLOY"/*/*.yaml | grep -c "^kind:")
[ "$n" = "$want" ] || fail "apply created $n objects, the manifests hold $want"
out=$(k apply --validate=false -R -f "$DEPLOY") || fail "second apply: $out"
[ "$(echo "$out" | grep -c " unchanged$")" = "$want" ] || fail "second apply changed: $out"
echo "ok   apply: $want objects created, then unchanged"

# The manifests as JSON (client side: nothing is sent) and as stored.
k create --dry-run=client --validate=false -o json -R -f "$DEPLOY" >"$T/dry.json" || fail "dry-run"
# kubectl prints one JSON document per object: make them one List.
python3 - "$T/dry.json" "$T/manifests.json" >"$T/objects.txt" <<'PY' || fail "manifest list"
import json, sys
text, dec, pos, items = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while text[pos:].strip():
    o, pos = dec.raw_decode(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
    items.extend(o.get("items", [o]) if o.get("kind") == "List" else [o])
json.dump({"kind": "List", "items": items}, open(sys.argv[2], "w"))
for o in items:
    md = o["metadata"]
    print(o["kind"], md.get("namespace", "-"), md["name"])
PY
i=0
while read -r kind ns name; do
	nsopt=()
	[ "$ns" != - ] && nsopt=(-n "$ns")
	k get "$kind" "$name" "${nsopt[@]}" -o json >"$T/got-$i.json" || fail "get $kind $ns/$name"
	i=$((i + 1))
done <"$T/objects.txt"
python3 - "$T" "$i" <<'PY' || fail "objects read back differ from the manifests"
import json, sys
t, n = sys.argv[1], int(sys.argv[2])
want = json.load(open(f"{t}/manifests.json"))
want = want.get("items", [want])
assert len(want) == n, (len(want), n)

def subset(a, b, path):
    """Everything the manifest says (a) is in the stored object (b)."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        for k, v in a.items():
            if path == ".metadata" and k in ("annotations", "creationTimestamp"):
                continue  # kubectl adds last-applied-configuration; the server stamps times
            assert k in b, f"{path}.{k} missing"
            subset(v, b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a} vs {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            subset(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"

for i, w in enumerate(want):
    g = json.load(open(f"{t}/got-{i}.json"))
    what = f"{w['kind']} {w['metadata'].get('namespace', '')}/{w['metadata']['name']}"
    subset(w, g, "")
    md = g["metadata"]
    for k in ("uid", "resourceVersion", "creationTimestamp"):
        assert md.get(k), f"{what}: no {k}"
    ann = md.get("annotations", {})
    for k, v in w["metadata"].get("annotations", {}).items():
        assert ann.get(k) == v, f"{what}: annotation {k}"
    assert "kubectl.kubernetes.io/last-applied-configuration" in ann, what
    print(f"ok   {what}")
PY
echo "ok   read back: $(wc -l <"$T/objects.txt") objects, each as applied"

# The pieces fit together.
python3 - "$T/manifests.json" >"$T/corefile.txt" <<'PY' || fail "the manifests do not fit together"
import json, re, sys
items = json.load(open(sys.argv[1]))["items"]
by = {(o["kind"], o["metadata"]["name"]): o for o in items}
cm = by[("ConfigMap", "dnsurged")]
dep = by[("Deployment", "dnsurged")]
svc = by[("Service", "kube-dns")]
job = by[("Job", "dnsurge-load")]
sa = by[("ServiceAccount", "dnsurged")]
role = by[("ClusterRole", "system:dnsurged")]
bind = by[("ClusterRoleBinding", "system:dnsurged")]
smon = by[("ServiceMonitor", "dnsurged")]
corefile = cm["data"]["Corefile"]
assert "{$" not in corefile, "environment placeholders in the Corefile"
pod = dep["spec"]["template"]
spec = pod["spec"]
c = spec["containers"][0]
# The Service and the Deployment.
assert svc["metadata"]["namespace"] == dep["metadata"]["namespace"] == "kube-system"
assert svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
for k, v in svc["spec"]["selector"].items():
    assert pod["metadata"]["labels"].get(k) == v, "the Service does not select the pods"
for k, v in dep["spec"]["selector"]["matchLabels"].items():
    assert pod["metadata"]["labels"].get(k) == v
ports = {(p["containerPort"], p["protocol"]): p["name"] for p in c["ports"]}
assert ports == {(53, "UDP"): "dns", (53, "TCP"): "dns-tcp", (9153, "TCP"): "metrics"}, ports
sp = {(p["port"], p["protocol"], p["name"]) for p in svc["spec"]["ports"]}
assert sp == {(53, "UDP", "dns"), (53, "TCP", "dns-tcp"), (9153, "TCP", "metrics")}, sp
assert "prometheus :9153" in corefile
# RBAC: what the kubernetes plugin watches, for this ServiceAccount.
assert spec["serviceAccountName"] == sa["metadata"]["name"]
rules = {(g, r): set(x["verbs"]) for x in role["rules"] for g in x["apiGroups"] for r in x["resources"]}
for need in [("", "services"), ("", "namespaces"), ("", "pods"), ("discovery.k8s.io", "endpointslices")]:
    assert {"list", "watch"} <= rules.get(need, set()), need
assert bind["roleRef"]["name"] == role["metadata"]["name"]
assert bind["subjects"] == [{"kind": "ServiceAccount", "name": "dnsurged", "namespace": "kube-system"}]
# Probes on the Corefile's health (default :8080) and ready (:8181).
assert re.search(r"^\s*health\s*\{", corefile, re.M) and re.search(r"^\s*ready\s*$", corefile, re.M)
assert c["livenessProbe"]["httpGet"]["path"] == "/health" and c["livenessProbe"]["httpGet"]["port"] == 8080
assert c["readinessProbe"]["httpGet"]["path"] == "/ready" and c["readinessProbe"]["httpGet"]["port"] == 8181
# Grace period beyond lameduck.
m = re.search(r"lameduck\s+(\d+)s", corefile)
assert m and spec["terminationGracePeriodSeconds"] > int(m.group(1)), "grace <= lameduck"
# CoreDNS's shape: critical priority, locked-down container.
assert spec["priorityClassName"] == "system-cluster-critical"
sc = c["securityContext"]
assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
assert sc["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
assert spec["securityContext"]["runAsNonRoot"] is True
assert spec["dnsPolicy"] == "Default"
assert "/etc/resolv.conf" in corefile
# The ServiceMonitor scrapes the Service's metrics port.
assert smon["spec"]["selector"]["matchLabels"]["k8s-app"] == "kube-dns"
assert smon["spec"]["endpoints"][0]["port"] == "metrics"
# The load Job: N indexed shards that agree with --shard auto/N.
js = job["spec"]
env = {e["name"]: e.get("value") for e in js["template"]["spec"]["containers"][0]["env"]}
assert js["completionMode"] == "Indexed"
assert js["completions"] == js["parallelism"] == int(env["SHARDS"]), (js, env["SHARDS"])
script = " ".join(js["template"]["spec"]["containers"][0]["args"])
assert '--shard "auto/$SHARDS"' in script and "/results/shard-$i.db" in script and "--seed" in script
assert js["backoffLimit"] == 0
print(corefile, end="")
PY
echo "ok   the Service, Deployment, RBAC, probes, grace period and Job fit together"

# The ConfigMap's Corefile, served: on loopback ports, the kubernetes
# plugin pointed at the simulator holding what was applied, the upstream
# file a dead loopback port.
freep() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(freep)
H=$(freep)
RDY=$(freep)
M=$(freep)
DEAD=$(freep)
echo "nameserver 127.0.0.1:$DEAD" >"$T/resolv.conf"
k get configmap dnsurged -n kube-system -o jsonpath='{.data.Corefile}' >"$T/Corefile.cm" ||
	fail "get the Corefile"
cmp -s "$T/Corefile.cm" "$T/corefile.txt" || fail "the stored Corefile differs from the manifest's"
sed -e "s/^\.:53 {/.:$P {\n    bind 127.0.0.1/" \
	-e "s/^\(\s*\)health {/\1health 127.0.0.1:$H {/" \
	-e "s/^\(\s*\)ready$/\1ready 127.0.0.1:$RDY/" \
	-e "s/prometheus :9153/prometheus 127.0.0.1:$M/" \
	-e "s|^\(\s*\)\(kubernetes .*{\)$|\1\2\n\1    endpoint http://127.0.0.1:$SIM_PORT|" \
	-e "s|/etc/resolv.conf|$T/resolv.conf|" \
	"$T/Corefile.cm" >"$T/Corefile"
grep -q "endpoint http://127.0.0.1:$SIM_PORT" "$T/Corefile" || fail "Corefile rewrite: $(cat "$T/Corefile")"
"$DNSURGED" -conf "$T/Corefile" -workers 1 >"$T/dnsurged.log" 2>&1 &
SRV=$!
K8S_PIDS+=("$SRV")
wait_for 15 curl -sf "http://127.0.0.1:$RDY/ready" || fail "dnsurged not ready: $(cat "$T/dnsurged.log")"
[ "$(curl -s "http://127.0.0.1:$H/health")" = OK ] || fail "/health"
a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$P" kube-dns.kube-system.svc.cluster.local A)
[ "$a" = 10.96.0.10 ] || fail "kube-dns.kube-system.svc.cluster.local: '$a'"
ptr=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$P" -x 10.96.0.10)
[ "$ptr" = kube-dns.kube-system.svc.cluster.local. ] || fail "PTR 10.96.0.10: '$ptr'"
curl -s "http://127.0.0.1:$M/metrics" | grep -q '^coredns_dns_requests_total' || fail "metrics"
echo "ok   the ConfigMap's Corefile serves the applied kube-dns Service (A, PTR, /health, /ready, /metrics)"

# SIGTERM: lameduck keeps answering, then the process ends within the grace period.
grace=$(k get deployment dnsurged -n kube-system -o jsonpath='{.spec.template.spec.terminationGracePeriodSeconds}')
lame=$(sed -n 's/^\s*lameduck \([0-9]*\)s$/\1/p' "$T/Corefile.cm")
t0=$(date +%s.%N)
kill -TERM "$SRV"
sleep 1
a=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$P" kube-dns.kube-system.svc.cluster.local A)
[ "$a" = 10.96.0.10 ] || fail "no answer during lameduck: '$a'"
for _ in $(seq 1 $((grace * 10))); do
	kill -0 "$SRV" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$SRV" 2>/dev/null && fail "dnsurged still running ${grace}s after SIGTERM"
wait "$SRV" 2>/dev/null
took=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
python3 -c "import sys; sys.exit(0 if $lame <= $took < $grace else 1)" ||
	fail "SIGTERM to exit took ${took}s (lameduck ${lame}s, grace ${grace}s)"
echo "ok   SIGTERM: answered during lameduck, exited after ${took}s (lameduck ${lame}s < grace ${grace}s)"
echo "PASS"
