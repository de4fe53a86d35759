# Shared helpers for integration tests (bash). Source it, then use:
#   port=$(free_port)            a free TCP+UDP port on 127.0.0.1
#   start_bg NAME CMD...         start a process in the background (killed at exit)
#   wait_dns PORT [NAME] [ADDR]  wait until a DNS server answers there (max ~10 s)
#   wait_http URL [CODE]         wait until URL answers (max ~10 s)
#   fail MSG                     print and exit 1
# Everything listens on 127.0.0.1/::1 only; every process started is
# killed when the test exits, whatever the outcome.
set -u
DS_TMP=$(mktemp -d /tmp/dsit.XXXXXX)
DS_PIDS=()

ds_cleanup() {
	local p
	for p in "${DS_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${DS_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$DS_TMP"
}
trap ds_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

free_port() {
	python3 - <<'PY'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    t.close(); u.close()
    print(port)
    break
PY
}

# start_bg NAME CMD... : output to $DS_TMP/NAME.log, pid in $DS_TMP/NAME.pid
start_bg() {
	local name=$1
	shift
	"$@" >"$DS_TMP/$name.log" 2>&1 &
	local pid=$!
	DS_PIDS+=("$pid")
	echo "$pid" >"$DS_TMP/$name.pid"
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$pid"
}

wait_dns() {
	local port=$1 name=${2:-probe.invalid.} addr=${3:-127.0.0.1}
	for _ in $(seq 1 100); do
		if dig +time=1 +tries=1 @"$addr" -p "$port" "$name" >/dev/null 2>&1 &&
		   dig +time=1 +tries=1 @"$addr" -p "$port" "$name" | grep -q 'status:'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

wait_http() {
	local url=$1 code=${2:-200}
	for _ in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = "$code" ] && return 0
		sleep 0.1
	done
	return 1
}

# rcode of a query: dig_status PORT NAME TYPE [dig options]
dig_status() {
	local port=$1 name=$2 type=$3
	shift 3
	dig +time=2 +tries=1 @127.0.0.1 -p "$port" "$name" "$type" "$@" |
		sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}
