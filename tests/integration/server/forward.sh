#!/bin/bash
# forward against real upstream processes: a truncated answer goes back to
# a UDP client with TC and the client's TCP retry gets it whole;
# max_concurrent answers REFUSED beyond the limit; a dead upstream is
# skipped; a forwarding loop is detected and ends the process with the
# loop plugin's message.
DNSURGED=$1
. "$3/tests/integration/lib.sh"

# --- an upstream with a big answer (60 A records: > 512 bytes)
U=$(free_port)
{
	printf '.:%s {\n    bind 127.0.0.1\n    template IN A big.example {\n' "$U"
	for i in $(seq 1 60); do printf '        answer "{{ .Name }} 60 IN A 10.0.0.%s"\n' "$i"; done
	printf '    }\n    template IN A slow.example {\n        answer "{{ .Name }} 60 IN A 10.1.1.1"\n    }\n}\n'
} >"$DS_TMP/up.conf"
start_bg up "$DNSURGED" -conf "$DS_TMP/up.conf" -workers 1
wait_dns "$U" big.example. || fail "upstream: $(cat "$DS_TMP/up.log")"
DEAD=$(free_port)
P=$(free_port)
cat >"$DS_TMP/fw.conf" <<CF
.:$P {
    bind 127.0.0.1
    forward . 127.0.0.1:$DEAD 127.0.0.1:$U {
        policy sequential
    }
}
CF
start_bg fw "$DNSURGED" -conf "$DS_TMP/fw.conf" -workers 2
wait_dns "$P" big.example. || fail "forwarder: $(cat "$DS_TMP/fw.log")"
out=$(dig +time=2 +tries=1 +noedns +ignore @127.0.0.1 -p "$P" big.example A)
echo "$out" | grep -q 'flags: qr[a-z ]* tc' || fail "UDP client should see TC: $out"
out=$(dig +time=2 +tries=1 +noedns +tcp @127.0.0.1 -p "$P" big.example A)
[ "$(echo "$out" | grep -c 'IN	A	10.0.0.')" = 60 ] || fail "TCP retry should get 60 records: $out"
# the dead first upstream never costs a timeout: refused is noticed at once
t0=$(date +%s%N)
[ "$(dig_status "$P" big.example A +tcp)" = NOERROR ] || fail "failover"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1500 ] || fail "failover took too long"

# --- max_concurrent: an upstream that answers after 1 s, limit 2
S=$(free_port)
# Both servers also answer up.test at once (whoami), so that waiting for
# them does not race the 1 s delay nor leave queries in flight.
printf '.:%s {\n    bind 127.0.0.1\n    erratic {\n        delay 1 1s\n    }\n}\nup.test:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$S" "$S" >"$DS_TMP/slow.conf"
start_bg slow "$DNSURGED" -conf "$DS_TMP/slow.conf" -workers 1
P2=$(free_port)
printf '.:%s {\n    bind 127.0.0.1\n    forward . 127.0.0.1:%s {\n        max_concurrent 2\n    }\n}\nup.test:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$P2" "$S" "$P2" >"$DS_TMP/mc.conf"
start_bg mc "$DNSURGED" -conf "$DS_TMP/mc.conf" -workers 1
wait_dns "$S" up.test. || fail "slow upstream: $(cat "$DS_TMP/slow.log")"
wait_dns "$P2" up.test. || fail "max_concurrent forwarder: $(cat "$DS_TMP/mc.log")"
digs=()
for i in 1 2 3 4 5 6; do
	dig +time=3 +tries=1 @127.0.0.1 -p "$P2" "q$i.example.org" A >"$DS_TMP/mc$i.out" &
	digs+=($!)
done
wait "${digs[@]}"
refused=$(cat "$DS_TMP"/mc?.out | grep -c 'status: REFUSED')
answered=$(cat "$DS_TMP"/mc?.out | grep -c 'status: NOERROR')
[ "$refused" -ge 3 ] && [ "$answered" -ge 1 ] || fail "max_concurrent 2: $answered answered, $refused refused"

# --- a loop: forward to ourselves
L=$(free_port)
printf '.:%s {\n    bind 127.0.0.1\n    loop\n    forward . 127.0.0.1:%s\n}\n' "$L" "$L" >"$DS_TMP/loop.conf"
timeout 20 "$DNSURGED" -conf "$DS_TMP/loop.conf" -workers 1 >"$DS_TMP/loop.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "loop: exit $rc"
grep -Eq "^\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$L\) detected for zone \"\.\", see https://coredns.io/plugins/loop#troubleshooting\. Query: \"HINFO [0-9]+\.[0-9]+\.\"" "$DS_TMP/loop.log" ||
	fail "loop message: $(cat "$DS_TMP/loop.log")"
echo ok
