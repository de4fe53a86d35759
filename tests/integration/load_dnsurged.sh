#!/bin/bash
# dnsurge load against dnsurged (whoami on a free loopback port): UDP and
# TCP (pipelined, reconnecting every N queries) answered in full, and the
# closed loop. Bounded: a few seconds of load.
# Usage: load_dnsurged.sh DNSURGE DNSURGED
set -u
. "$(dirname "$0")/lib.sh"
dnsurge=$1
dnsurged=$2
T=$DS_TMP
failures=0
port=$(free_port)
cat >"$T/Corefile" <<CF
.:$port {
	bind 127.0.0.1
	whoami
}
CF
start_bg srv "$dnsurged" -conf "$T/Corefile"
wait_dns "$port" || fail "dnsurged did not answer on $port: $(cat "$T/srv.log")"
relax=(--max-lag 500ms --timeout 5s)

check() {
	local name=$1 file=$2 code=$3
	if python3 - "$file" <<PY; then
import json, sys
d = json.load(open(sys.argv[1]))
$code
PY
		echo "ok   $name"
	else
		echo "FAIL $name"
		head -c 600 "$file"
		echo
		failures=$((failures + 1))
	fi
}

"$dnsurge" load --target 127.0.0.1:$port --rate 3000 --duration 2s --qtypes A:3,AAAA:1 \
	--no-db --json "${relax[@]}" >"$T/u.json" 2>&1
check "udp 3000 qps for 2 s, all NOERROR" "$T/u.json" '
# A starved server on a busy machine may lose a few; the generator side is exact.
assert d["sent"] == 6000 and d["answered"] >= 5940, d
assert d["rcodes"] == {"NOERROR": d["answered"]} and d["timeouts"] == 6000 - d["answered"], d
assert d["mismatched"] == 0 and d["malformed"] == 0 and d["valid"], d
'
"$dnsurge" load --target 127.0.0.1:$port --tcp --queries-per-conn 300 --sockets 2 --rate 1000 \
	--duration 1s --no-db --json "${relax[@]}" >"$T/t.json" 2>&1
check "tcp, pipelined, a new connection every 300 queries" "$T/t.json" '
assert d["sent"] == 1000 and d["answered"] >= 990 and d["mismatched"] == 0, d
assert d["conn_opened"] >= 4, d
assert d["target"].endswith("/tcp")
'
"$dnsurge" load --target 127.0.0.1:$port --max-outstanding 50 --duration 1s --no-db --json \
	>"$T/c.json" 2>&1
check "closed loop against the server" "$T/c.json" '
assert d["load_model"] == "closed" and d["answered"] > 1000 and d["timeouts"] == 0, d
'
echo "$failures failed"
[ $failures = 0 ]
