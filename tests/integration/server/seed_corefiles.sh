#!/bin/bash
# Every loopback variant of the users' seed Corefiles either starts and
# answers, or names exactly the plugin this dnsurged does not build yet
# (file:line, exit 1) -- never anything vaguer.
DNSURGED=$1
. "$3/tests/integration/lib.sh"
built=$("$DNSURGED" -plugins | sed -n 's/^  dns\.//p')
U1=$(free_port)
# a stand-in upstream so forward has something to talk to
printf '.:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$U1" >"$DS_TMP/up"
start_bg up "$DNSURGED" -conf "$DS_TMP/up" -workers 1
wait_dns "$U1" || fail "upstream"
n=0
for cf in "$3"/tests/data/corefiles/loopback/*.Corefile; do
	n=$((n + 1))
	export DNS_PORT=$(free_port) METRICS_PORT=$(free_port) HEALTH_PORT=$(free_port)
	export READY_PORT=$(free_port) UPSTREAM_1=$U1 UPSTREAM_2=$U1 UPSTREAM_3=$U1 UPSTREAM_4=$U1
	export K8S_API=http://127.0.0.1:1
	name=$(basename "$cf")
	start_bg "srv$n" "$DNSURGED" -conf "$cf" -workers 1
	pid=$(cat "$DS_TMP/srv$n.pid")
	sleep 0.5
	if kill -0 "$pid" 2>/dev/null; then
		wait_dns "$DNS_PORT" || fail "$name: running but not answering"
		kill -TERM "$pid"
		echo "$name: starts"
		continue
	fi
	wait "$pid"; rc=$?
	log=$(cat "$DS_TMP/srv$n.log")
	[ "$rc" = 1 ] || fail "$name: exit $rc: $log"
	plugin=$(echo "$log" | sed -n "s/^.*$name:[0-9]* - Error during parsing: plugin\/\([a-z0-9_]*\): this plugin is not built into dnsurged yet$/\1/p")
	[ -n "$plugin" ] || fail "$name: failed without naming a missing plugin: $log"
	echo "$built" | grep -qx "$plugin" && fail "$name: says $plugin is missing but it is built"
	grep -q "^ *$plugin\b" "$cf" || fail "$name: $plugin is not in the file"
	echo "$name: needs plugin/$plugin (not built yet)"
done
[ "$n" = 6 ] || fail "expected 6 loopback Corefiles, found $n"
echo ok
