# Helpers for the k8s-sim integration tests (bash). Source it after setting
# DNSURGE to the dnsurge program, then:
#   start_sim NAME [k8s-sim options...]   start a simulator on a free
#                                          127.0.0.1 port; sets SIM_PORT, SIM_PID
#   kubeconfig FILE PORT                  write a kubeconfig for http://127.0.0.1:PORT
#   jget URL PYEXPR                       fetch JSON and print PYEXPR of it (d = document)
#   jtrue URL PYEXPR                      succeed when PYEXPR of the JSON at URL is true
#   wait_for SECONDS CMD...               retry CMD every 0.1 s until it succeeds
#   fail MSG                              print and exit 1
# Every process started is killed when the script exits, whatever the outcome.
set -u
K8S_TMP=$(mktemp -d /tmp/dsk8s.XXXXXX)
K8S_PIDS=()

k8s_cleanup() {
	local p
	for p in "${K8S_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${K8S_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$K8S_TMP"
}
trap k8s_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$K8S_TMP"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}

start_sim() {
	local name=$1
	shift
	rm -f "$K8S_TMP/$name.port"
	"$DNSURGE" k8s-sim --listen 127.0.0.1:0 --ready-file "$K8S_TMP/$name.port" "$@" \
		>"$K8S_TMP/$name.log" 2>&1 &
	SIM_PID=$!
	K8S_PIDS+=("$SIM_PID")
	for _ in $(seq 1 300); do
		[ -s "$K8S_TMP/$name.port" ] && break
		kill -0 "$SIM_PID" 2>/dev/null || fail "k8s-sim $name exited at start"
		sleep 0.1
	done
	[ -s "$K8S_TMP/$name.port" ] || fail "k8s-sim $name did not write its ready file"
	SIM_PORT=$(cat "$K8S_TMP/$name.port")
}

kubeconfig() {
	cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster:
    server: http://127.0.0.1:$2
    insecure-skip-tls-verify: true
contexts:
- name: sim
  context: {cluster: sim, user: sim}
current-context: sim
users:
- name: sim
  user: {token: not-checked}
KC
}

jget() {
	curl -s --max-time 10 "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

jtrue() {
	curl -s --max-time 10 "$1" |
		python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($2) else 1)"
}

wait_for() {
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
