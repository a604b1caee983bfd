"""escucha-ingest's HTTP server under slow and idle connections: header, body
and idle deadlines, the connection cap, and the loopback default binding."""
import os
import selectors
import socket
import subprocess
import threading
import time

import requests

from conftest import ADMIN_BASE, BIN, HTTP_PORT, post_json, unique, wait_until

PORT = HTTP_PORT + 3
ADMIN = ADMIN_BASE + 56
PUBLIC_GET = b"GET /open311/v2/services.json HTTP/1.1\r\nHost: a\r\n\r\n"


def start_ingest(services, **env):
    e = {"ESCUCHA_INBOUND": "off"}
    e.update({"ESCUCHA_" + k.upper(): str(v) for k, v in env.items()})
    return services.start("ingest", http_port=PORT, admin_port=ADMIN, env=e)


def dial():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.setblocking(False)
    return s


class Slow:
    """One slow client: what it sends first, what it trickles (a byte per tick)."""

    def __init__(self, kind, first=b"", trickle=b""):
        self.kind, self.first, self.trickle = kind, first, trickle
        self.sock = dial()
        self.t0 = time.monotonic()  # when its timeout starts (first byte / connect / reply)
        self.sent = 0
        self.got = b""
        self.closed_at = None
        if first:
            self.sock.sendall(first)

    def age(self):
        return self.closed_at - self.t0


def read_reply(sock, timeout=5):
    """A whole keep-alive answer (headers + Content-Length body) from a non-blocking socket."""
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        assert chunk, "closed before the answer"
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            n = int([ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")][0].split(b":")[1])
            if len(body) >= n:
                return buf
    raise AssertionError("no answer in %.0fs: %r" % (timeout, buf))


def watch_until_closed(slow, deadline_s):
    """Trickles every 200 ms and records when the server closed each connection."""
    sel = selectors.DefaultSelector()
    for c in slow:
        sel.register(c.sock, selectors.EVENT_READ, c)
    open_ = set(slow)
    end = time.monotonic() + deadline_s
    next_tick = time.monotonic()
    while open_ and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                chunk = c.sock.recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                chunk = b"" if isinstance(e, ConnectionResetError) else None
            if chunk is None:
                continue
            c.got += chunk
            if not chunk:
                c.closed_at = time.monotonic()
                sel.unregister(c.sock)
                open_.discard(c)
        if time.monotonic() >= next_tick:
            next_tick += 0.2
            for c in list(open_):
                if c.trickle:
                    try:
                        c.sock.send(c.trickle[c.sent % len(c.trickle):][:1])
                        c.sent += 1
                    except OSError:
                        pass  # closed: the read side will tell
    for c in slow:
        c.sock.close()
    return open_


def test_slow_and_idle_connections_are_closed_while_real_requests_are_served(services, api_key):
    ing = start_ingest(services, http_header_timeout_s=1, http_body_timeout_s=2, http_idle_timeout_s=2)
    slow = []
    for _ in range(100):  # slowloris: a header line that never ends
        slow.append(Slow("header", b"POST /v1/feedback HTTP/1.1\r\nHost: a\r\n", b"X-Slow: " + b"a" * 64))
    for _ in range(100):  # connected, silent
        slow.append(Slow("silent"))
    for _ in range(50):  # a body announced, trickled
        slow.append(Slow("body", b"POST /v1/feedback HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n"
                                 b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", b"a"))
    for _ in range(50):  # keep-alive, idle after one answer
        c = Slow("idle", PUBLIC_GET)
        assert read_reply(c.sock).startswith(b"HTTP/1.1 200 ")
        c.t0 = time.monotonic()
        slow.append(c)

    # real clients meanwhile, new connections and a keep-alive session
    lat, codes = [], []

    def real():
        sess = requests.Session()
        for i in range(30):
            t = time.monotonic()
            if i % 2:
                r = post_json("/v1/feedback", {"text": "limits " + unique()}, api_key, port=PORT)
            else:
                r = sess.post("http://127.0.0.1:%d/v1/feedback" % PORT, json={"text": "limits " + unique()},
                              headers={"Authorization": "Bearer " + api_key}, timeout=30)
            lat.append(time.monotonic() - t)
            codes.append(r.status_code)
            time.sleep(0.1)

    th = threading.Thread(target=real)
    th.start()
    left = watch_until_closed(slow, 10)
    th.join()

    assert not left, "still open after 10 s: %s" % sorted({c.kind for c in left})
    assert codes == [202] * 30, codes
    assert max(lat) < 2, "a real request waited %.2fs" % max(lat)
    limit = {"header": 1, "silent": 1, "body": 2, "idle": 2}
    for kind, t in limit.items():
        ages = sorted(c.age() for c in slow if c.kind == kind)
        print("%s: closed after %.2f..%.2f s (timeout %d s)" % (kind, ages[0], ages[-1], t))
        assert ages[0] >= t - 0.1 and ages[-1] < t + 1.5, (kind, ages[0], ages[-1])
    for c in slow:  # a request cut short learns why; an idle connection is just closed
        if c.kind in ("header", "body"):
            assert c.got.startswith(b"HTTP/1.1 408 "), (c.kind, c.got[:80])
        elif c.kind == "silent":
            assert c.got == b"", c.got[:80]
        else:
            assert c.got == b"", c.got[:80]  # its answer was read before
    m = ing.metrics()
    assert m['escucha_http_connections_dropped_total{server="api",reason="header_timeout"}'] >= 200
    assert m['escucha_http_connections_dropped_total{server="api",reason="body_timeout"}'] >= 50
    assert m['escucha_http_connections_dropped_total{server="api",reason="idle_timeout"}'] >= 50
    assert "http_connections_dropped" in ing.log()


def test_connection_cap_evicts_idle_then_refuses(services, api_key):
    ing = start_ingest(services, http_header_timeout_s=3, http_idle_timeout_s=30, http_max_conns=20)
    # full of idle connections: a real client takes the longest-idle one's place
    idle = [dial() for _ in range(20)]
    wait_until(lambda: ing.metric('escucha_http_connections{server="api"}') == 20, 5, what="20 open")
    r = post_json("/v1/feedback", {"text": "cap " + unique()}, api_key, port=PORT)
    assert r.status_code == 202, r.text
    assert ing.metric('escucha_http_connections_dropped_total{server="api",reason="evicted"}') >= 1
    for s in idle:
        s.close()
    wait_until(lambda: ing.metric('escucha_http_connections{server="api"}') == 0, 5, what="all closed")

    # full of requests in progress: nothing to evict, a new client is refused at once
    busy = [dial() for _ in range(20)]
    for s in busy:
        s.sendall(b"POST /v1/feedback HTTP/1.1\r\nHost: a\r\n")
    wait_until(lambda: ing.metric('escucha_http_connections{server="api"}') == 20, 5, what="20 busy")
    t = time.monotonic()
    try:
        r = post_json("/v1/feedback", {"text": "cap " + unique()}, api_key, port=PORT)
        refused = r.status_code == 503
    except requests.ConnectionError:
        refused = True  # the 503 may be lost to the reset when the request was already sent
    assert refused and time.monotonic() - t < 1
    assert ing.metric('escucha_http_connections_dropped_total{server="api",reason="refused"}') >= 1
    # the header deadline frees the slots: served again without anyone closing
    wait_until(lambda: post_json("/v1/feedback", {"text": "cap " + unique()}, api_key, port=PORT).status_code == 202
               if ing.metric('escucha_http_connections{server="api"}') < 20 else False, 8, interval=0.2,
               what="served after the busy ones timed out")
    for s in busy:
        s.close()


def listening(port):
    """Local addresses (hex, as in /proc/net/tcp*) listening on port."""
    out = []
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(f) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                addr, p = cols[1].rsplit(":", 1)
                if int(p, 16) == port and cols[3] == "0A":
                    out.append(addr)
    return out


def test_binds_loopback_by_default(services):
    for k in ("ESCUCHA_HTTP_HOST", "ESCUCHA_ADMIN_HOST"):
        assert k not in os.environ, "the test needs the built-in default"
    ing = start_ingest(services)
    assert listening(PORT) == ["0100007F"] and listening(ADMIN) == ["0100007F"]
    assert ing.stop() == 0
    ing = start_ingest(services, http_host="0.0.0.0", admin_host="0.0.0.0")
    assert listening(PORT) == ["00000000"] and listening(ADMIN) == ["00000000"]
    # every service's admin endpoint has the option, loopback by default
    for name in ("ingest", "classify", "prioritize", "actions"):
        out = subprocess.run([os.path.join(BIN, "escucha-" + name), "--help"], capture_output=True, text=True).stdout
        line = [ln for ln in out.splitlines() if "--admin-host" in ln]
        assert line and "ESCUCHA_ADMIN_HOST" in line[0] and "(default: 127.0.0.1)" in line[0], (name, line)


def test_compose_binds_every_interface_in_containers():
    """In a container 127.0.0.1 is unreachable from the published ports."""
    import yaml
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "docker-compose.yml")) as f:
        svcs = yaml.safe_load(f)["services"]
    for name in ("ingest", "classify", "prioritize", "actions"):
        assert svcs[name]["environment"].get("ESCUCHA_ADMIN_HOST") == "0.0.0.0", name
    assert svcs["ingest"]["environment"].get("ESCUCHA_HTTP_HOST") == "0.0.0.0"
