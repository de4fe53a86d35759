#!/bin/bash
# SIGTERM with `health { lameduck 2s }`: queries sent during the lameduck
# window are all answered, /health stays OK, /ready goes away first, and
# the process exits 0 once the window is over.
DNSURGED=$1
. "$3/tests/integration/lib.sh"
P=$(free_port); H=$(free_port); R=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
.:$P {
    bind 127.0.0.1
    whoami
    health 127.0.0.1:$H {
        lameduck 2s
    }
    ready 127.0.0.1:$R
}
CF
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 2
wait_dns "$P" || fail "start: $(cat "$DS_TMP/srv.log")"
t0=$(date +%s%N)
kill -TERM "$PID_srv"
sleep 0.2
grep -q 'Going into lameduck mode for 2s' "$DS_TMP/srv.log" || fail "no lameduck log line"
[ "$(curl -s -m1 "http://127.0.0.1:$H/health")" = OK ] || fail "/health during lameduck"
code=$(curl -s -m1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$R/ready")
[ "$code" = 200 ] && fail "/ready still 200 during lameduck"
sent=0; ok=0
# Query for 1.5 s of the 2 s window, UDP and TCP alternately.
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1700 ]; do
	sent=$((sent + 1))
	tcp=+notcp; [ $((sent % 2)) = 0 ] && tcp=+tcp
	dig +time=1 +tries=1 @127.0.0.1 -p "$P" "q$sent.example." A $tcp | grep -q 'status: NOERROR' && ok=$((ok + 1))
done
[ "$sent" -ge 10 ] || fail "too few queries sent ($sent)"
[ "$ok" = "$sent" ] || fail "lameduck: $ok of $sent answered"
for _ in $(seq 1 40); do kill -0 "$PID_srv" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_srv" 2>/dev/null && fail "still running after lameduck"
wait "$PID_srv"; rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "exit status $rc"
[ "$el" -ge 1900 ] || fail "stopped after ${el}ms, before the 2s lameduck"
echo "ok: $ok/$sent answered during lameduck, exit after ${el}ms"
