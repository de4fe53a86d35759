#!/bin/bash
# k8s-sim over plain HTTP with curl: discovery, LIST paging and continue
# expiry, WATCH from an expired resourceVersion (in-stream 410), the
# watch-list initial events and bookmark, timeoutSeconds, control API,
# and faults (429 ratio with Retry-After, slow, down = connection refused,
# expire/drop watches).
# Usage: api.sh DNSURGE
DNSURGE=$1
. "$(dirname "$0")/k8s_lib.sh" || exit 1

start_sim api --synth services=60,endpoints=300,pods=400,namespaces=3,seed=5 --history 32 \
	--bookmark-interval 1s --control-listen 127.0.0.1:0
B="http://127.0.0.1:$SIM_PORT"
CP=$(sed -n 's/.*control API on port \([0-9]*\).*/\1/p' "$K8S_TMP/api.log")
[ -n "$CP" ] || fail "no control port in the log"
C="http://127.0.0.1:$CP"

# discovery
[ "$(jget "$B/api" 'd["versions"]')" = "['v1']" ] || fail "/api"
jget "$B/api/v1" '" ".join(sorted(r["name"] for r in d["resources"]))' |
	grep -qx "namespaces pods services" || fail "/api/v1 resources"
[ "$(jget "$B/apis" 'd["groups"][0]["name"]')" = discovery.k8s.io ] || fail "/apis"
[ "$(jget "$B/apis/discovery.k8s.io/v1" 'd["resources"][0]["kind"]')" = EndpointSlice ] ||
	fail "/apis/discovery.k8s.io/v1"
[ "$(jget "$B/version" 'd["major"]')" = 1 ] || fail "/version"
[ "$(curl -s "$B/healthz")" = ok ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/openapi/v2")" = 404 ] || fail "/openapi/v2"
[ "$(jget "$B/api/v1/namespaces/ns-0/services/nope" 'd["reason"], d["code"]')" = \
	"NotFound 404" ] || fail "404 Status"

# LIST paging: the pages add up to one list with no duplicates
total=$(jget "$B/api/v1/pods" 'len(d["items"])')
[ "$total" -ge 400 ] || fail "pods LIST: $total"
python3 - "$B" "$total" <<'PY' || fail "LIST paging"
import json, sys, urllib.request
base, total = sys.argv[1], int(sys.argv[2])
names, cont, rv, pages = [], "", None, 0
while True:
    url = base + "/api/v1/pods?limit=37" + ("&continue=" + cont if cont else "")
    d = json.load(urllib.request.urlopen(url))
    pages += 1
    rv = rv or d["metadata"]["resourceVersion"]
    assert d["metadata"]["resourceVersion"] == rv, "pages from different RVs"
    names += [i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in d["items"]]
    cont = d["metadata"].get("continue", "")
    if not cont:
        break
    assert d["metadata"]["remainingItemCount"] == total - len(names)
assert len(names) == total and len(set(names)) == total, (len(names), total)
assert names == sorted(names)
assert pages == (total + 36) // 37
PY
# an expired continue token: 410 Expired (compaction drops the snapshots)
tok=$(jget "$B/api/v1/pods?limit=10" 'd["metadata"]["continue"]')
curl -s -XPOST "$C/sim/v1/fault" -d '{"compact":true}' >/dev/null
[ "$(jget "$B/api/v1/pods?limit=10&continue=$tok" 'd["code"], d["reason"]')" = \
	"410 Expired" ] || fail "expired continue"
# selectors
[ "$(jget "$B/api/v1/pods?fieldSelector=status.phase%21%3DRunning" \
	'all(i["status"]["phase"] != "Running" for i in d["items"]) and len(d["items"]) > 0')" = True ] ||
	fail "fieldSelector status.phase!="
[ "$(jget "$B/api/v1/services?labelSelector=app+in+(svc-1,svc-2)" 'len(d["items"])')" = 2 ] ||
	fail "labelSelector in"
[ "$(jget "$B/api/v1/services?fieldSelector=spec.bogus%3Dx" 'd["code"]')" = 400 ] ||
	fail "unsupported field"

# WATCH from a resourceVersion that fell out of the 32-event history: ERROR 410
rv0=$(jget "$B/apis/discovery.k8s.io/v1/endpointslices" 'd["metadata"]["resourceVersion"]')
curl -s -XPOST "$C/sim/v1/churn" -d '{"rate":2000,"kind":"endpoint-flap","count":80}' >/dev/null
wait_for 10 jtrue "$C/sim/v1/stats" 'd["churn"]["ops"] >= 80' || fail "churn count"
out=$(curl -s --max-time 5 "$B/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=$rv0")
echo "$out" | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
e = json.loads(lines[0])
assert e["type"] == "ERROR" and e["object"]["code"] == 410 and e["object"]["reason"] == "Expired", e
' || fail "watch from an expired RV: $out"
# a recent RV replays what followed it
rv=$(jget "$B/apis/discovery.k8s.io/v1/endpointslices" 'd["metadata"]["resourceVersion"]')
curl -s -XPOST "$C/sim/v1/churn" -d '{"rate":1000,"kind":"endpoint-flap","count":5}' >/dev/null
wait_for 10 jtrue "$C/sim/v1/stats" 'd["churn"]["ops"] >= 85' || fail "churn count 2"
n=$(curl -s --max-time 2 "$B/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=$rv" |
	grep -c '"type":"MODIFIED"')
[ "$n" = 5 ] || fail "watch from a recent RV: $n events, want 5"

# watch-list: ADDED for every object, the initial-events-end BOOKMARK, live events,
# and timeoutSeconds ends the stream cleanly
curl -s --max-time 10 "$B/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=3" \
	>"$K8S_TMP/wl.out" &
WL=$!
sleep 1
curl -s -XPOST "$C/sim/v1/churn" -d '{"rate":100,"kind":"pods","count":1}' >/dev/null
wait "$WL" || fail "watch-list stream did not end cleanly (curl $?)"
python3 - "$K8S_TMP/wl.out" "$total" <<'PY' || fail "watch-list"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
total = int(sys.argv[2])
types = [e["type"] for e in ev]
assert types[:total] == ["ADDED"] * total, types[:5]
end = ev[total]
assert end["type"] == "BOOKMARK", end
assert end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
rest = types[total + 1:]
assert "ADDED" in rest, rest          # the churned pod
assert "BOOKMARK" in rest, rest       # periodic bookmarks (1 s)
PY
# sendInitialEvents without resourceVersionMatch=NotOlderThan: 422
[ "$(jget "$B/api/v1/pods?watch=1&sendInitialEvents=true" 'd["code"]')" = 422 ] ||
	fail "sendInitialEvents validation"

# faults: 429 for about half the requests, with Retry-After
curl -s -XPOST "$C/sim/v1/fault" -d '{"status":429,"ratio":0.5}' >/dev/null
n429=0
for _ in $(seq 1 200); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/v1/namespaces")" = 429 ] && n429=$((n429 + 1))
done
[ "$n429" -ge 60 ] && [ "$n429" -le 140 ] || fail "429 ratio 0.5: $n429 of 200"
curl -s -XPOST "$C/sim/v1/fault" -d '{"status":429,"ratio":1}' >/dev/null
curl -si "$B/api/v1/pods" | grep -qi '^Retry-After: 1' || fail "no Retry-After"
[ "$(jget "$C/sim/v1/stats" 'd["responses"]["injected"] >= 60')" = True ] || fail "injected count"
curl -s -XDELETE "$C/sim/v1/fault" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/v1/pods")" = 200 ] || fail "fault cleared"

# slow
curl -s -XPOST "$C/sim/v1/fault" -d '{"mode":"slow","latency_ms":400,"duration_ms":5000}' >/dev/null
t=$(curl -s -o /dev/null -w '%{time_total}' "$B/api/v1/namespaces")
python3 -c "import sys; sys.exit(0 if float('$t') >= 0.35 else 1)" || fail "slow: $t s"
curl -s -XDELETE "$C/sim/v1/fault" >/dev/null

# expire_watches: a live watcher gets ERROR 410; drop_watches: it is cut
curl -sN --max-time 10 "$B/api/v1/services?watch=1&resourceVersion=$rv" >"$K8S_TMP/ex.out" &
EX=$!
wait_for 5 jtrue "$C/sim/v1/stats" 'd["watchers"]["by_resource"]["services"] == 1' ||
	fail "watcher not connected"
curl -s -XPOST "$C/sim/v1/fault" -d '{"expire_watches":true}' >/dev/null
wait "$EX" || fail "expired watch did not end cleanly"
tail -1 "$K8S_TMP/ex.out" | grep -q '"code":410' || fail "expire_watches: $(tail -1 "$K8S_TMP/ex.out")"
curl -sN --max-time 10 "$B/api/v1/services?watch=1" >/dev/null &
DR=$!
wait_for 5 jtrue "$C/sim/v1/stats" 'd["watchers"]["by_resource"]["services"] == 1' ||
	fail "watcher 2 not connected"
curl -s -XPOST "$C/sim/v1/fault" -d '{"drop_watches":true}' >/dev/null
wait "$DR"
rc=$?
[ "$rc" = 18 ] || [ "$rc" = 56 ] || fail "drop_watches: curl exit $rc, want a broken transfer"

# down: connection refused until the control listener brings it back
curl -sN --max-time 20 "$B/api/v1/pods?watch=1" >/dev/null &
DW=$!
wait_for 5 jtrue "$C/sim/v1/stats" 'd["watchers"]["by_resource"]["pods"] == 1' ||
	fail "pod watcher not connected"
[ "$(jget "$C/sim/v1/fault" 'd["api"]')" = up ] || fail "api not up"
curl -s -XPOST "$C/sim/v1/fault" -d '{"mode":"down"}' | grep -q '"api":"down"' || fail "down"
curl -s -o /dev/null "$B/healthz"
[ $? = 7 ] || fail "API down: want connection refused (curl 7)"
wait "$DW"
[ $? != 0 ] || fail "the watch survived the API going down"
curl -s -XPOST "$C/sim/v1/fault" -d '{"mode":"up"}' | grep -q '"api":"up"' || fail "up"
[ "$(curl -s "$B/healthz")" = ok ] || fail "API not back"
# down for a while, asked on the API listener itself
curl -s -XPOST "$B/sim/v1/fault" -d '{"mode":"down"}' | grep -q '"code":400' ||
	fail "open-ended down on the API listener must be refused"
curl -s -XPOST "$B/sim/v1/fault" -d '{"mode":"down","duration_ms":1500}' >/dev/null
wait_for 2 sh -c "! curl -s -o /dev/null '$B/healthz'" || fail "not down after duration_ms request"
wait_for 5 curl -sf -o /dev/null "$B/healthz" || fail "not back up after duration_ms"

# stats
jget "$C/sim/v1/stats" 'd["requests"]["list"] > 0 and d["requests"]["watch"] > 0 and d["events"]["total"] >= 85 and d["watchers"]["connected"] == 0' |
	grep -qx True || fail "stats: $(curl -s "$C/sim/v1/stats")"

# SIGTERM: clean exit 0
kill -TERM "$SIM_PID"
wait "$SIM_PID"
rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGTERM: $rc"
echo "PASS"
