#!/bin/bash
# What an operator relies on when dnsurged runs exposed:
#  - HTTP endpoints (metrics, health, ready) and DNS listen only where
#    configured (here 127.0.0.1), nowhere else;
#  - queries of death (compression loops, oversized labels and names,
#    counts that lie, several OPT records, a huge EDNS buffer, garbage,
#    a TCP length prefix larger than what follows) get FORMERR or nothing,
#    and the server keeps answering;
#  - -user drops root after binding (uid and gid of every thread);
#  - the Kubernetes API token and client key from a kubeconfig are sent to
#    the API but never written to the log, also when the API refuses them.
DNSURGED=$1
. "$3/tests/integration/lib.sh"

P=$(free_port); M=$(free_port); H=$(free_port); R=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
.:$P {
    bind 127.0.0.1
    errors
    log
    prometheus 127.0.0.1:$M
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
    template IN A example.com {
        answer "{{ .Name }} 60 IN A 10.0.0.1"
    }
    template IN TXT big.example.com {
$(for i in $(seq 1 40); do echo "        answer \"{{ .Name }} 60 IN TXT \\\"$(printf 'x%.0s' $(seq 1 200))\\\"\""; done)
    }
}
CF
USER_ARGS=()
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	USER_ARGS=(-user nobody)
fi
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 2 "${USER_ARGS[@]}"
wait_dns "$P" a.example.com. || fail "server did not start: $(cat "$DS_TMP/srv.log")"
wait_http "http://127.0.0.1:$R/ready" || fail "/ready"

# --- privileges: every thread runs as nobody once the sockets are bound
if [ ${#USER_ARGS[@]} -gt 0 ]; then
	nobody_uid=$(id -u nobody)
	for st in /proc/"$PID_srv"/task/*/status; do
		uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")
		gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$st")
		[ "$uids" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] || fail "-user nobody: $st has Uid $uids"
		[ "$(echo "$gids" | tr ' ' '\n' | grep -vc "^$(id -g nobody)$")" = 0 ] || fail "-user nobody: $st has Gid $gids"
	done
	[ "$(dig_status "$P" a.example.com A)" = NOERROR ] || fail "answers after dropping privileges"
	curl -sf "http://127.0.0.1:$M/metrics" | grep -q '^coredns_dns_requests_total' || fail "metrics after dropping privileges"
	printf '.:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$(free_port)" >"$DS_TMP/nouser.conf"
	timeout 10 "$DNSURGED" -conf "$DS_TMP/nouser.conf" -user no-such-user-here >"$DS_TMP/nouser.log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && grep -q "unknown user 'no-such-user-here'" "$DS_TMP/nouser.log" ||
		fail "unknown -user: exit $rc: $(cat "$DS_TMP/nouser.log")"
else
	echo "not root: -user not checked"
fi

# --- listening sockets: only the configured address, on the configured ports
ss -H -lntup 2>/dev/null | grep "pid=$PID_srv," >"$DS_TMP/ss.txt"
[ -s "$DS_TMP/ss.txt" ] || fail "ss shows no socket of the server"
awk '{print $5}' "$DS_TMP/ss.txt" | sort -u >"$DS_TMP/local.txt"
while read -r a; do
	case "$a" in
	127.0.0.1:$P | 127.0.0.1:$M | 127.0.0.1:$H | 127.0.0.1:$R) ;;
	*) fail "listens on $a, which the Corefile did not ask for: $(cat "$DS_TMP/ss.txt")" ;;
	esac
done <"$DS_TMP/local.txt"
for want in "$P" "$M" "$H" "$R"; do
	grep -qx "127.0.0.1:$want" "$DS_TMP/local.txt" || fail "nothing listens on 127.0.0.1:$want"
done

# --- queries of death
python3 - "$P" <<'PY' || fail "queries of death"
import socket, struct, sys
port = int(sys.argv[1])
def hdr(qd=1, an=0, ns=0, ar=0, id_=0x4242, flags=0x0100):
    return struct.pack(">HHHHHH", id_, flags, qd, an, ns, ar)
def name(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
q = lambda n: n + struct.pack(">HH", 1, 1)
opt = lambda size: b"\0" + struct.pack(">HHIH", 41, size, 0, 0)
cases = {
    "compression loop": hdr() + b"\xc0\x0c" + struct.pack(">HH", 1, 1),
    "pointer forward": hdr() + b"\xc0\x20" + struct.pack(">HH", 1, 1) + b"\0" * 20,
    "label of 64": hdr() + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", 1, 1),
    "name over 255": hdr() + q(name(*[b"a" * 63] * 5)),
    "qdcount lies": hdr(qd=0xffff) + q(name(b"a", b"example", b"com")),
    "arcount lies": hdr(ar=0xffff) + q(name(b"a", b"example", b"com")),
    "two OPT": hdr(ar=2) + q(name(b"a", b"example", b"com")) + opt(4096) + opt(4096),
    "OPT rdlen lies": hdr(ar=1) + q(name(b"a", b"example", b"com")) + b"\0" + struct.pack(">HHIH", 41, 4096, 0, 500),
    "no question": hdr(qd=0),
    "truncated header": b"\x42\x42\x01",
    "response bit set": hdr(flags=0x8100) + q(name(b"a", b"example", b"com")),
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for what, pkt in cases.items():
    s.sendto(pkt, ("127.0.0.1", port))
    try:
        r, _ = s.recvfrom(65535)
    except socket.timeout:
        continue  # dropped: fine
    rcode = r[3] & 0xf if len(r) >= 4 else None
    if len(r) < 12 or r[:2] != pkt[:2] or rcode not in (1, 4, 5):
        if not (what in ("arcount lies", "qdcount lies") and rcode == 1):
            print(f"{what}: unexpected reply {r[:16].hex()} rcode {rcode}")
            sys.exit(1)
# a huge EDNS buffer: the big answer comes whole, no more than asked for
s.sendto(hdr(ar=1) + q(name(b"big", b"example", b"com"))[:-4] + struct.pack(">HH", 16, 1) + opt(65535), ("127.0.0.1", port))
r, _ = s.recvfrom(65535)
if r[3] & 0xf != 0 or struct.unpack(">H", r[6:8])[0] != 40:
    print("EDNS 65535: big TXT answer not whole"); sys.exit(1)
# TCP: a length prefix larger than what follows, then the peer goes away
t = socket.create_connection(("127.0.0.1", port), timeout=2)
t.sendall(struct.pack(">H", 60000) + b"\0" * 100)
t.close()
# and a normal query still works, over UDP and TCP
s.sendto(hdr(id_=7) + q(name(b"ok", b"example", b"com")), ("127.0.0.1", port))
r, _ = s.recvfrom(65535)
if r[:2] != b"\0\x07" or r[3] & 0xf != 0:
    print("normal query after the bad ones failed"); sys.exit(1)
PY
kill -0 "$PID_srv" || fail "server died: $(cat "$DS_TMP/srv.log")"
[ "$(dig_status "$P" ok.example.com A +tcp)" = NOERROR ] || fail "TCP after the bad ones"

# --- secrets: a kubeconfig's token and client key reach the API, not the log
A=$(free_port)
TOKEN="dnsurge-test-token-$RANDOM$RANDOM-do-not-log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=dnsurge-test \
	-days 1 -keyout "$DS_TMP/client.key" -out "$DS_TMP/client.crt" >/dev/null 2>&1 || fail "openssl"
KEYDATA=$(base64 -w0 "$DS_TMP/client.key")
CERTDATA=$(base64 -w0 "$DS_TMP/client.crt")
KEYLINE=$(sed -n 2p "$DS_TMP/client.key") # a line of the PEM body
python3 - "$A" "$DS_TMP/auth.txt" >"$DS_TMP/api.log" 2>&1 <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(out, "a") as f:
            f.write((self.headers.get("Authorization") or "") + "\n")
        body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
DS_PIDS+=("$!")
wait_http "http://127.0.0.1:$A/version" 401 || fail "fake API: $(cat "$DS_TMP/api.log")"
: >"$DS_TMP/auth.txt"
cat >"$DS_TMP/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: http://127.0.0.1:$A
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user:
    token: $TOKEN
    client-certificate-data: $CERTDATA
    client-key-data: $KEYDATA
KC
K=$(free_port)
cat >"$DS_TMP/k8s.conf" <<CF
cluster.local:$K {
    bind 127.0.0.1
    errors
    log
    kubernetes cluster.local {
        kubeconfig $DS_TMP/kubeconfig
    }
}
CF
start_bg k8s "$DNSURGED" -conf "$DS_TMP/k8s.conf" -workers 1
for _ in $(seq 1 75); do
	[ -s "$DS_TMP/auth.txt" ] && grep -q 401 "$DS_TMP/k8s.log" 2>/dev/null && break
	sleep 0.2
done
dig +time=1 +tries=1 @127.0.0.1 -p "$K" kubernetes.default.svc.cluster.local A >/dev/null 2>&1
sleep 1
grep -q "Bearer $TOKEN" "$DS_TMP/auth.txt" || fail "the token was not sent to the API: $(cat "$DS_TMP/auth.txt")"
[ -s "$DS_TMP/k8s.log" ] || fail "no log at all from the refused API"
grep -qi "unauthorized\|401" "$DS_TMP/k8s.log" || fail "the refusal is not logged: $(cat "$DS_TMP/k8s.log")"
grep -q "$TOKEN" "$DS_TMP/k8s.log" && fail "the token is in the log: $(grep "$TOKEN" "$DS_TMP/k8s.log")"
grep -qF "$KEYDATA" "$DS_TMP/k8s.log" && fail "the client key (base64) is in the log"
grep -qF "$KEYLINE" "$DS_TMP/k8s.log" && fail "the client key (PEM) is in the log"
grep -q "PRIVATE KEY" "$DS_TMP/k8s.log" && fail "a private key is in the log"
echo "ok"
