#!/bin/bash
# dnsurged under valgrind: a server with most plugins (cache, forward,
# template, hosts, file, loadbalance, log, errors, prometheus, health,
# ready, reload) answers queries, is reloaded twice (SIGUSR1, and an
# edited Corefile picked up by `reload`), then stops on SIGTERM. Valgrind
# must report no invalid access and no memory definitely or indirectly
# lost, in the forwarder and in its upstream. Skipped on a sanitizer
# build (ASan and valgrind do not mix).
DNSURGED=$1
. "$3/tests/integration/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 77; }
if nm "$DNSURGED" 2>/dev/null | grep -q __asan_init; then
	echo "sanitizer build: valgrind does not apply"
	exit 77
fi
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --error-exitcode=99 --track-fds=no --num-callers=30)
DATA=$3/tests/data

U=$(free_port)
cat >"$DS_TMP/up.conf" <<CF
.:$U {
    bind 127.0.0.1
    template IN A example.com {
        answer "{{ .Name }} 30 IN A 10.1.0.1"
        answer "{{ .Name }} 30 IN A 10.1.0.2"
    }
    template IN ANY . {
        rcode NXDOMAIN
    }
}
CF
start_bg up "${VG[@]}" --log-file="$DS_TMP/vg-up.txt" "$DNSURGED" -conf "$DS_TMP/up.conf" -workers 1

P=$(free_port); M=$(free_port); H=$(free_port); R=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
example.org:$P {
    bind 127.0.0.1
    file $DATA/zones/example.org.zone
}
hosts.test:$P {
    bind 127.0.0.1
    hosts $DATA/hosts/hosts.example hosts.test {
        fallthrough
    }
    template IN A hosts.test {
        answer "{{ .Name }} 60 IN A 10.9.9.9"
    }
}
.:$P {
    bind 127.0.0.1
    errors
    log
    health 127.0.0.1:$H {
        lameduck 1s
    }
    ready 127.0.0.1:$R
    prometheus 127.0.0.1:$M
    cache 30 {
        prefetch 2 1m 50%
        serve_stale
    }
    forward . 127.0.0.1:$U {
        health_check 500ms
    }
    loadbalance round_robin
    reload 2s 1s
}
CF
start_bg srv "${VG[@]}" --log-file="$DS_TMP/vg-srv.txt" "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 2
# valgrind starts slowly: give each up to 30 s
for _ in 1 2 3; do wait_dns "$U" a.example.com. && break; done
for _ in 1 2 3; do wait_dns "$P" a.example.com. && break; done || fail "server did not start: $(cat "$DS_TMP/srv.log")"
wait_http "http://127.0.0.1:$R/ready" || fail "/ready"

queries() {
	local i
	for i in 1 2 3 4 5; do
		[ "$(dig_status "$P" "n$i.example.com" A)" = NOERROR ] || fail "forwarded A n$i ($1)"
		[ "$(dig_status "$P" "n$i.example.com" A +tcp)" = NOERROR ] || fail "cached A over TCP n$i ($1)"
	done
	[ "$(dig_status "$P" nothing.invalid A)" = NXDOMAIN ] || fail "NXDOMAIN ($1)"
	[ "$(dig_status "$P" www.example.org A)" = NOERROR ] || fail "file ($1)"
	[ "$(dig_status "$P" other.hosts.test A)" = NOERROR ] || fail "hosts/template ($1)"
	curl -sf "http://127.0.0.1:$M/metrics" | grep -q '^coredns_cache_hits_total' || fail "metrics ($1)"
	curl -sf "http://127.0.0.1:$H/health" >/dev/null || fail "health ($1)"
}
queries start

# reload 1: SIGUSR1; reload 2: an edited Corefile that the reload plugin sees
reloads() { grep -c 'Reloading complete' "$DS_TMP/srv.log"; }
wait_reloads() {
	local _
	for _ in $(seq 1 60); do
		[ "$(reloads)" -ge "$1" ] && return 0
		sleep 0.5
	done
	fail "reload $1 did not complete: $(cat "$DS_TMP/srv.log")"
}
kill -USR1 "$PID_srv"
wait_reloads 1
queries "after SIGUSR1"
sed -i 's/cache 30 {/cache 40 {/' "$DS_TMP/Corefile"
wait_reloads 2
queries "after the edit"

kill -TERM "$PID_srv" "$PID_up"
for pid in "$PID_srv" "$PID_up"; do
	wait "$pid"
	rc=$?
	[ $rc = 99 ] && fail "valgrind found errors: $(cat "$DS_TMP"/vg-*.txt)"
	[ $rc = 0 ] || fail "exit $rc: $(tail -30 "$DS_TMP"/vg-*.txt; cat "$DS_TMP/srv.log")"
done
for f in vg-srv vg-up; do
	grep -q 'ERROR SUMMARY: 0 errors' "$DS_TMP/$f.txt" || fail "$f: $(cat "$DS_TMP/$f.txt")"
	grep -E 'definitely lost: [1-9]|indirectly lost: [1-9]' "$DS_TMP/$f.txt" && fail "$f leaks: $(cat "$DS_TMP/$f.txt")"
done
echo "ok: $(grep -h 'ERROR SUMMARY' "$DS_TMP"/vg-*.txt | tr '\n' ' ')"
