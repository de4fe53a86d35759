#!/bin/bash
# A scenario whose load is a replayed capture: the phases' speeds are
# kept (a x10 phase answers ten times the queries of a x1 phase), the
# capture is looped to fill the phases, filters apply, the store gets the
# phases as replays, and a wrong replay scenario is refused with file:line.
DNSURGE=$1
SRC=$2
MKPCAP=$3
. "$SRC/tests/integration/lib.sh"
cd "$DS_TMP"

# 4 s of capture at 400 qps: 100 clients (3 over TCP), A and AAAA
"$MKPCAP" -o cap.pcap --clients 100 --tcp-clients 3 --queries 1600 --rate 400 --names 200 \
	--zone example.com --qtypes A,AAAA >/dev/null || fail "mkpcap"
cat >replay.scn <<SCN
scenario replay-it {
}
server {
    prometheus 127.0.0.1:{\$METRICS_PORT}
    cache 30
    forward . 127.0.0.1:{\$UPSTREAM_1}
}
upstream {
    template IN ANY example.com {
        answer "{{ .Name }} 60 IN A 10.0.0.1"
    }
}
load {
    replay cap.pcap
    max_lag 20ms
    phase normal 4s x1
    phase surge 4s x10
    phase calm 2s x10~x1
}
thresholds {
    answered >= 99%
}
SCN
"$DNSURGE" run replay.scn --db r.db --json --quiet >out.json 2>err.txt
rc=$?
[ $rc = 0 ] || fail "replay scenario: exit $rc: $(cat err.txt out.json)"
python3 - <<'PY' || fail "replay JSON: $(cat out.json)"
import json
o = json.load(open("out.json"))
assert o["verdict"] == "pass", o
# 4 s x1 + 4 s x10 + 2 s ramp x10->x1 at 400 qps: 1600 + 16000 + 4400
assert 0.9 * 22000 < o["sent"] < 1.1 * 22000, o["sent"]
assert o["answered"] >= 0.99 * o["sent"], o
assert o["replay"]["clients"] == 100, o["replay"]
assert o["replay"]["tcp_queries"] > 0, o["replay"]
PY
# a x10 phase sends ten times the queries of the x1 phase
q() { sqlite3 r.db "select sum(i.sent) from interval_stats i join phase p on p.run_id = i.run_id
	where p.name = '$1' and i.t_ns + i.dur_ns / 2 between p.start_ns and p.end_ns"; }
n=$(q normal); s=$(q surge)
python3 -c "import sys; r = $s / $n; sys.exit(0 if 8 <= r <= 12 else 1)" ||
	fail "surge/normal queries: $s / $n"
[ "$(sqlite3 r.db "select target from phase where name = 'surge'")" = "replay x10" ] || fail "phase target"
[ "$(sqlite3 r.db "select target from phase where name = 'calm'")" = "replay x10->x1" ] || fail "ramp target"

# a filter leaves out what it does not keep: about half the queries
sed 's/    replay cap.pcap/    replay cap.pcap\n    filter qtype=A/' replay.scn >filtered.scn
"$DNSURGE" run filtered.scn --no-db --json --quiet >f.json 2>err.txt || fail "filtered: $(cat err.txt)"
python3 - <<'PY' || fail "filtered JSON: $(cat f.json)"
import json
o = json.load(open("f.json"))
assert 0.35 * 22000 < o["sent"] < 0.65 * 22000, o["sent"]
assert o["replay"]["filtered"] > 0, o["replay"]
PY

# refused, with file:line and exit 2
expect_error() { # NAME SED-EXPR MESSAGE
	sed "$2" replay.scn >"$1.scn"
	"$DNSURGE" run "$1.scn" --no-db >out.txt 2>&1
	rc=$?
	[ $rc = 2 ] || fail "$1: exit $rc: $(cat out.txt)"
	grep -qF "$3" out.txt || fail "$1: message: $(cat out.txt)"
}
expect_error rate 's/phase surge 4s x10/phase surge 4s 10k/' \
	"rate.scn:17 - load: phase 'surge': a replay's phases give speeds (x1, x10, x1~x10), not rates"
expect_error mixed 's/phase calm 2s x10~x1/phase calm 2s x10~1/' \
	"mixed.scn:18 - load: phase 'calm': bad rate 'x10~1'"
expect_error queries 's/    replay cap.pcap/    replay cap.pcap\n    queries names 10/' \
	"queries.scn:15 - load: replay and queries exclude each other"
expect_error timescale 's/^scenario replay-it {/scenario replay-it {\n    time_scale 10/' \
	"timescale.scn:15 - load: a replay runs in real time: time_scale must be 1"
expect_error missing 's/replay cap.pcap/replay nothere.pcap/' \
	"missing.scn:14 - load: replay: cannot read $PWD/nothere.pcap: No such file or directory"
printf 'not a capture at all\n' >junk.pcap
expect_error junk 's/replay cap.pcap/replay junk.pcap/' "junk.pcap"
expect_error nofilter 's/    replay cap.pcap/    filter qtype=A/' \
	"nofilter.scn:14 - load: filter and rewrite_zone need a replay"
sed 's/    replay cap.pcap/    queries names 10/' replay.scn >speed.scn
"$DNSURGE" run speed.scn --no-db >out.txt 2>&1
[ $? = 2 ] && grep -qF "speed.scn:16 - load: phase 'normal': a speed (xN) needs a replay" out.txt ||
	fail "speed without replay: $(cat out.txt)"
if pgrep -f "dnsurge-run-" >/dev/null; then
	fail "processes left behind"
fi
echo ok
