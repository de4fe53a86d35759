#!/bin/bash
# TCP under a flood of connections, as an operator relies on it:
#  - each worker holds at most 4096 client connections; connections over
#    the limit are closed at once, so memory does not grow with them,
#    and the connections held keep being answered, as does UDP;
#  - a client that sends part of a message and stops is closed after the
#    3 s read timeout, an idle one after the 10 s idle timeout (CoreDNS's
#    values), which frees the slots: new connections are served again.
DNSURGED=$1
. "$3/tests/integration/lib.sh"

P=$(free_port)
cat >"$DS_TMP/Corefile" <<CF
.:$P {
    bind 127.0.0.1
    template IN A example.com {
        answer "{{ .Name }} 60 IN A 10.0.0.1"
    }
}
CF
start_bg srv "$DNSURGED" -conf "$DS_TMP/Corefile" -workers 1
wait_dns "$P" a.example.com. || fail "server did not start: $(cat "$DS_TMP/srv.log")"

python3 - "$P" "$PID_srv" <<'PY'
import resource, select, socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
LIMIT, EXTRA = 4096, 1000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = LIMIT + EXTRA + 200
if hard != resource.RLIM_INFINITY and hard < need:
    print(f"skip: open-files hard limit {hard} < {need}")
    sys.exit(77)
resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

def rss_kb():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

def query(qid, name=b"\x01a\x07example\x03com\x00"):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)

def ask_tcp(s, qid):
    m = query(qid)
    s.sendall(struct.pack(">H", len(m)) + m)
    s.settimeout(2)
    hdr = b""
    while len(hdr) < 2:
        c = s.recv(2 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack(">H", hdr)[0]
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None
        body += c
    return body

def ask_udp(qid):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    u.sendto(query(qid), ("127.0.0.1", port))
    try:
        r = u.recv(512)
    finally:
        u.close()
    return r

def connect(n):
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        out.append(s)
    return out

def closed_by_server(socks, wait):
    """The sockets the server closed (EOF or reset) within wait seconds."""
    left, gone = {s.fileno(): s for s in socks}, set()
    p = select.poll()
    for fd in left:
        p.register(fd, select.POLLIN)
    end = time.monotonic() + wait
    while left and time.monotonic() < end:
        for fd, ev in p.poll(100):
            s = left.pop(fd)
            p.unregister(fd)
            try:
                if s.recv(1) == b"":
                    gone.add(s)
            except OSError:
                gone.add(s)
    return gone

fails = []
rss0 = rss_kb()
held = connect(LIMIT)
time.sleep(1)
early = closed_by_server(held, 0.5)
if early:
    fails.append(f"{len(early)} of the first {LIMIT} connections were closed")
rss1 = rss_kb()
extra = connect(EXTRA)
gone = closed_by_server(extra, 3)
if len(gone) != EXTRA:
    fails.append(f"{EXTRA - len(gone)} of {EXTRA} connections over the limit were kept")
rss2 = rss_kb()
per_conn = max(1.0, (rss1 - rss0) / LIMIT)
grow = rss2 - rss1
print(f"RSS {rss0} kB idle, {rss1} kB with {LIMIT} connections "
      f"({per_conn:.1f} kB each), {rss2} kB after {EXTRA} more (+{grow} kB)")
if grow > per_conn * EXTRA / 4:
    fails.append(f"RSS grew {grow} kB with {EXTRA} refused connections "
                 f"(a held one costs {per_conn:.1f} kB)")
for s in extra:
    s.close()
# Held connections and UDP are still served.
for i, s in enumerate(held[:: LIMIT // 8]):
    r = ask_tcp(s, 100 + i)
    if not r or r[:2] != struct.pack(">H", 100 + i) or r[3] & 0xF != 0:
        fails.append(f"held connection {i} not answered")
if ask_udp(7)[:2] != struct.pack(">H", 7):
    fails.append("UDP not answered at the connection limit")
# Idle connections go after 10 s in all (the held ones have been idle
# since they connected or answered), which frees the slots.
left = [s for s in held]
gone = closed_by_server(left, 12)
print(f"{len(gone)} of {len(left)} idle connections closed by the server")
if len(gone) != len(left):
    fails.append(f"{len(left) - len(gone)} idle connections were kept past the idle timeout")
for s in held:
    s.close()
fresh = connect(64)
for i, s in enumerate(fresh):
    r = ask_tcp(s, 500 + i)
    if not r or r[:2] != struct.pack(">H", 500 + i):
        fails.append(f"new connection {i} after the idle close not answered")
        break
for s in fresh:
    s.close()
# A partial message (slots free again): closed after the read timeout
# (3 s), not the idle one.
t0 = time.monotonic()
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"\x00\x1d\x12")
if not closed_by_server([slow], 6):
    fails.append("a connection with a partial message was kept over 6 s")
else:
    dt = time.monotonic() - t0
    print(f"partial message closed after {dt:.1f} s")
    if dt < 2.5:
        fails.append(f"a partial message was closed after {dt:.1f} s, before the 3 s read timeout")
for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
PY
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || fail "connection limits"
kill -0 "$PID_srv" 2>/dev/null || fail "server died: $(tail -5 "$DS_TMP/srv.log")"
[ "$(dig_status "$P" b.example.com A)" = NOERROR ] || fail "answers after the flood"
echo ok
