#!/bin/bash
# dnsurged as a user meets it: CLI flags, a Corefile served over UDP and
# TCP on IPv4 and IPv6, REFUSED outside its zones, /health, /ready,
# /metrics that promtool accepts with CoreDNS's names, config errors.
DNSURGED=$1
. "$3/tests/integration/lib.sh"

# --- flags
"$DNSURGED" -version | grep -q '^dnsurged-' || fail "-version"
"$DNSURGED" -plugins | grep -q 'dns.cache' || fail "-plugins lists cache"
"$DNSURGED" -bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown flag must exit 2"
"$DNSURGED" -dns.port 99999 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad port must exit 2"

P=$(free_port); M=$(free_port); H=$(free_port); R=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
example.org:$P {
    bind 127.0.0.1 ::1
    whoami
    log
    errors
    prometheus 127.0.0.1:$M
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
}
CF
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 2 -pidfile "$DS_TMP/pid"
wait_dns "$P" a.example.org. || fail "server did not start: $(cat "$DS_TMP/srv.log")"
[ "$(cat "$DS_TMP/pid")" = "$PID_srv" ] || fail "pidfile"

# --- UDP/TCP over IPv4/IPv6, with dig and kdig
for addr in 127.0.0.1 ::1; do
	for tcp in +notcp +tcp; do
		out=$(dig +time=2 +tries=1 @"$addr" -p "$P" www.Example.org A $tcp)
		echo "$out" | grep -q 'status: NOERROR' || fail "$addr $tcp: $out"
		echo "$out" | grep -q 'flags: qr aa rd' || fail "$addr $tcp flags: $out"
		echo "$out" | grep -qi 'www.Example.org.' || fail "$addr $tcp case: $out"
		proto=udp; [ "$tcp" = +tcp ] && proto=tcp
		echo "$out" | grep -q "_$proto.www.Example.org." || fail "$addr $tcp whoami SRV: $out"
	done
done
kdig +timeout=2 @127.0.0.1 -p "$P" kdig.example.org A | grep -q 'NOERROR' || fail "kdig"
kdig +timeout=2 +tcp @::1 -p "$P" kdig.example.org AAAA | grep -q 'NOERROR' || fail "kdig tcp v6"

# --- outside the zones: REFUSED; malformed: FORMERR
[ "$(dig_status "$P" example.net A)" = REFUSED ] || fail "REFUSED outside zone"
# pipelined TCP: several queries on one connection
out=$(kdig +timeout=2 +tcp +keepopen @127.0.0.1 -p "$P" a.example.org A b.example.org A c.example.org A)
[ "$(echo "$out" | grep -c 'NOERROR')" -ge 3 ] || fail "pipelining: $out"

# --- log line in CoreDNS's common format
grep -Eq '^\[INFO\] 127\.0\.0\.1:[0-9]+ - [0-9]+ "A IN www\.example\.org\. udp [0-9]+ false [0-9]+" NOERROR qr,aa,rd [0-9]+ [0-9.]+s$' "$DS_TMP/srv.log" ||
	fail "log format: $(grep INFO "$DS_TMP/srv.log" | head -3)"

# --- health, ready, metrics
[ "$(curl -s "http://127.0.0.1:$H/health")" = OK ] || fail "/health"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/nope")" = 404 ] || fail "/health 404"
[ "$(curl -s -w ' %{http_code}' "http://127.0.0.1:$R/ready")" = "OK 200" ] || fail "/ready"
curl -s "http://127.0.0.1:$M/metrics" >"$DS_TMP/metrics"
for m in coredns_build_info coredns_panics_total coredns_plugin_enabled coredns_dns_requests_total \
	coredns_dns_responses_total coredns_dns_request_duration_seconds_bucket \
	coredns_dns_request_size_bytes_bucket coredns_dns_response_size_bytes_bucket \
	coredns_health_request_duration_seconds_bucket process_resident_memory_bytes; do
	grep -q "^$m" "$DS_TMP/metrics" || fail "metric $m missing"
done
grep -q "coredns_dns_requests_total{server=\"dns://127.0.0.1:$P\",zone=\"example.org.\",view=\"\",proto=\"tcp\",family=\"1\",type=\"A\"}" "$DS_TMP/metrics" ||
	fail "requests_total labels: $(grep requests_total "$DS_TMP/metrics")"
grep -q "coredns_dns_responses_total{server=\"dns://\[::1\]:$P\",zone=\"example.org.\",view=\"\",rcode=\"NOERROR\",plugin=\"whoami\"}" "$DS_TMP/metrics" ||
	fail "responses_total labels: $(grep responses_total "$DS_TMP/metrics")"
grep -q 'zone="dropped"' "$DS_TMP/metrics" || fail "REFUSED counted under zone dropped"
grep -q 'coredns_dns_request_duration_seconds_bucket{.*le="0.00025"}' "$DS_TMP/metrics" || fail "CoreDNS buckets"
if command -v promtool >/dev/null; then
	promtool check metrics <"$DS_TMP/metrics" >"$DS_TMP/promtool.txt" 2>&1 || true
	# promtool lints style; a parse error is what must never happen
	if grep -qi 'error while linting\|text format parsing error' "$DS_TMP/promtool.txt"; then
		fail "promtool: $(cat "$DS_TMP/promtool.txt")"
	fi
fi

# --- graceful stop
kill -TERM "$PID_srv"
for _ in $(seq 1 50); do kill -0 "$PID_srv" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_srv" 2>/dev/null && fail "SIGTERM did not stop the server"
wait "$PID_srv"; rc=$?
[ $rc -eq 0 ] || fail "exit status after SIGTERM: $rc"
[ -e "$DS_TMP/pid" ] && fail "pidfile left behind"

# --- broken Corefiles: file:line and cause, exit 1
printf '.:%s {\n    whoami\n    cahce 30\n}\n' "$P" >"$DS_TMP/bad1"
out=$("$DNSURGED" -conf "$DS_TMP/bad1" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "unknown directive exit $rc"
echo "$out" | grep -q "bad1:3 - Error during parsing: Unknown directive 'cahce'" || fail "unknown directive: $out"
printf '.:%s {\n    cache 30 {\n        success abc\n    }\n}\n' "$P" >"$DS_TMP/bad2"
out=$("$DNSURGED" -conf "$DS_TMP/bad2" 2>&1)
echo "$out" | grep -q "bad2:3 - Error during parsing: plugin/cache:" || fail "plugin error: $out"
printf '.:%s {\n    whoami\n}\n.:%s {\n    whoami\n}\n' "$P" "$P" >"$DS_TMP/bad3"
out=$("$DNSURGED" -conf "$DS_TMP/bad3" 2>&1)
echo "$out" | grep -q "cannot serve dns://.:$P - it is already defined" || fail "duplicate zone: $out"
out=$("$DNSURGED" -conf "$DS_TMP/missing" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q missing || fail "missing Corefile: $out"
echo "ok"
