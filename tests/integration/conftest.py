"""Shared fixtures for integration tests against the real stack.

tests/run.sh starts Kafka, PostgreSQL and Redis (scripts/stack.sh infra) on
the test ports and exports the ESCUCHA_* settings; the tests start and stop
the service binaries themselves (so they can kill -9 them)."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STATE = os.environ.get("ESCUCHA_STATE_DIR", os.path.join(REPO, ".escucha"))
BIN = os.environ.get("ESCUCHA_BIN_DIR", os.path.join(REPO, "build", "bin"))
BROKERS = os.environ.get("ESCUCHA_KAFKA_BROKERS",
                         "127.0.0.1:%s" % os.environ.get("ESCUCHA_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("ESCUCHA_PG_PORT", "15432"))
PG_DSN = os.environ.get("ESCUCHA_PG_DSN", "host=127.0.0.1 port=%d dbname=escucha user=escucha" % PG_PORT)
REDIS_PORT = int(os.environ.get("ESCUCHA_REDIS_PORT", "16379"))
REDIS_URL = os.environ.get("ESCUCHA_REDIS_URL", "redis://127.0.0.1:%d" % REDIS_PORT)
HTTP_PORT = int(os.environ.get("ESCUCHA_HTTP_PORT", "8080"))
# where escucha-api listens in tests (test_api starts it there): ingest's receipts point there and
# its Open311 reads go there (not HTTP_PORT + 1..3: ingest's own tests use those)
API_HTTP_PORT = HTTP_PORT + 5
RECEIPT_SECRET_FILE = os.path.join(STATE, "receipt.key")
ADMIN_BASE = int(os.environ.get("ESCUCHA_ADMIN_PORT_BASE", "9100"))
ADMIN = {"ingest": 1, "classify": 2, "prioritize": 3, "actions": 4, "api": 5}
API_PORT = API_HTTP_PORT
API_PG_DSN = os.environ.get("ESCUCHA_API_PG_DSN",
                            "host=127.0.0.1 port=%d dbname=escucha user=escucha_api" % PG_PORT)


def _load_pb():
    """Python classes for proto/escucha/v1/escucha.proto, generated per run."""
    out = os.path.join(STATE, "pygen")
    os.makedirs(out, exist_ok=True)
    subprocess.run(["protoc", "-I", os.path.join(REPO, "proto"), "--python_out", out,
                    os.path.join(REPO, "proto", "escucha", "v1", "escucha.proto")], check=True)
    sys.path.insert(0, out)
    from escucha.v1 import escucha_pb2  # noqa: E402
    return escucha_pb2


pb = _load_pb()


def sql(query, args=None, dsn=None):
    """Runs one statement on the test database (its own connection, committed); the rows, or None."""
    with psycopg2.connect(dsn or PG_DSN) as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def scalar(query, args=None, dsn=None):
    """The first column of the first row of sql()."""
    return sql(query, args, dsn)[0][0]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Service:
    """One service process started from ESCUCHA_BIN_DIR with the stack's env."""

    def __init__(self, name, env=None, args=(), admin_port=None, http_port=None, instance=0, wrapper=(), bin_dir=None):
        self.name = name
        self.binary = os.path.join(bin_dir or BIN, "escucha-" + name)
        self.admin_port = admin_port or ADMIN_BASE + ADMIN[name] + 10 * instance
        self.http_port = http_port
        self.log_path = os.path.join(STATE, "logs", "test-%s-%d.log" % (name, instance))
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        e = dict(os.environ)
        e.update({
            "ESCUCHA_KAFKA_BROKERS": BROKERS, "ESCUCHA_PG_DSN": PG_DSN, "ESCUCHA_REDIS_URL": REDIS_URL,
            "ESCUCHA_ADMIN_PORT": str(self.admin_port), "ESCUCHA_STATE_DIR": STATE,
            "ESCUCHA_API_KEYS_FILE": os.path.join(STATE, "api-keys"),
            "ESCUCHA_RECEIPT_SECRET_FILE": RECEIPT_SECRET_FILE,
            "ESCUCHA_CONTACT_PUBLIC_KEY_FILE": os.path.join(STATE, "contact.pub"),
            "ESCUCHA_CONTACT_SECRET_KEY_FILE": os.path.join(STATE, "contact.key"),
            "ESCUCHA_PUBLIC_API_URL": "http://127.0.0.1:%d" % API_HTTP_PORT,
            "ESCUCHA_OPEN311_READ_URL": "http://127.0.0.1:%d" % API_HTTP_PORT,
            "ESCUCHA_TAXONOMY": os.path.join(REPO, "config", "taxonomy.default.json"),
            "ESCUCHA_MIGRATIONS_DIR": os.path.join(REPO, "migrations"),
            "ESCUCHA_MODEL": os.path.join(STATE, "model.bin"),
            "ESCUCHA_API_PG_DSN": API_PG_DSN,
        })
        if http_port:
            e["ESCUCHA_HTTP_PORT"] = str(http_port)
        e.update(env or {})
        self.env = e
        self.args = list(args)
        self.wrapper = list(wrapper)  # e.g. valgrind and its options
        self.proc = None
        self.start()

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [self.binary] + self.args,
                                     env=self.env, stdout=self.logf, stderr=self.logf, cwd=REPO)
        wait_until(self.healthy, 30 if not self.wrapper else 180, what="%s /healthz" % self.name)
        if self.http_port:
            wait_until(lambda: _port_open(self.http_port), 10, what="%s port %d" % (self.name, self.http_port))
        return self

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s; log:\n%s" % (self.name, self.proc.returncode, self.log()[-3000:]))
        try:
            return requests.get("http://127.0.0.1:%d/healthz" % self.admin_port, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def ready(self):
        try:
            return requests.get("http://127.0.0.1:%d/readyz" % self.admin_port, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def metrics(self):
        """Parsed /metrics: {'name{labels}': value}."""
        text = requests.get("http://127.0.0.1:%d/metrics" % self.admin_port, timeout=5).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def metric(self, key):
        """A series' value; a bare family name sums all its labelled series."""
        m = self.metrics()
        if key in m or "{" in key:
            return m.get(key, 0.0)
        return sum(v for k, v in m.items() if k.startswith(key + "{"))

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()


@pytest.fixture
def services():
    """Start services with services.start(name, ...); all stopped at the end."""
    started = []

    class Starter:
        def start(self, name, **kw):
            s = Service(name, **kw)
            started.append(s)
            return s

    yield Starter()
    for s in reversed(started):
        if s.proc and s.proc.poll() is None:
            rc = s.stop()
            assert rc == 0, "%s exited %s on SIGTERM; log tail:\n%s" % (s.name, rc, s.log()[-3000:])


def _state_file(name):
    with open(os.path.join(STATE, name)) as f:
        return f.read().strip()


@pytest.fixture(scope="session")
def api_key():
    """Agency demo, role admin (scripts/stack.sh provision)."""
    return _state_file("demo-api-key")


@pytest.fixture(scope="session")
def read_key():
    """Agency demo, role read only."""
    return _state_file("demo-read-key")


@pytest.fixture(scope="session")
def otra_key():
    """Agency otra, role admin."""
    return _state_file("otra-api-key")


def receipt_id(url):
    """The feedback id a status_url's token vouches for (lib/receipt.h: <id>.<base64url of the
    first 16 bytes of HMAC-SHA-256(secret, id)>), or None when the token does not verify."""
    import base64
    import hashlib
    import hmac
    prefix = "http://127.0.0.1:%d/v1/receipts/" % API_HTTP_PORT
    if not url or not url.startswith(prefix):
        return None
    fid, _, mac = url[len(prefix):].partition(".")
    key = bytes.fromhex(_state_file("receipt.key"))
    want = base64.urlsafe_b64encode(hmac.new(key, fid.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=")
    return fid if hmac.compare_digest(want, mac.encode()) else None


def unique(prefix="t"):
    # letters only: a run of digits in a feedback text would be redacted (phone, RUT, card)
    return "%s-%s" % (prefix, "".join("abcdefghijkmnpqr"[int(c, 16)] for c in uuid.uuid4().hex[:12]))


def consumer(group=None, topics=(), from_end=False):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group or unique("test"),
                  "auto.offset.reset": "latest" if from_end else "earliest",
                  "enable.auto.commit": False})
    if topics:
        c.subscribe(list(topics))
    return c


def topic_ends(topic):
    """{partition: high watermark} now: read_topic(since=...) then skips what was there before."""
    from confluent_kafka import TopicPartition
    c = consumer()
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def read_topic(topic, match, want, timeout=60, since=None):
    """Reads topic from the beginning (or from the offsets in `since`, see topic_ends) until
    `want` messages satisfy match(msg); returns them."""
    if since is not None:
        from confluent_kafka import TopicPartition
        c = consumer()
        c.assign([TopicPartition(topic, p, o) for p, o in since.items()])
    else:
        c = consumer(topics=[topic])
    got = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if match(m):
                got.append(m)
    finally:
        c.close()
    return got


def producer():
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True})


def post_json(path, body, key, port=None, ctype="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post("http://127.0.0.1:%d%s" % (port or HTTP_PORT, path), data=data,
                         headers={"Authorization": "Bearer " + key, "Content-Type": ctype}, timeout=30)


def read_all(topic, match, timeout=60):
    """Every message of topic (up to its current end) that satisfies match(msg).
    The end is judged by the consumer's position, which also steps over the
    transaction markers that transactional producers (classify) leave."""
    from confluent_kafka import TopicPartition
    c = consumer()
    md = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
    ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    c.assign(parts)
    got = []
    deadline = time.monotonic() + timeout

    def at_end():
        pos = c.position([TopicPartition(topic, p) for p in ends])
        return all(tp.offset >= ends[tp.partition] or (ends[tp.partition] == 0) for tp in pos)
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error() and match(m):
                got.append(m)
            if m is None and at_end():
                break
        assert at_end(), "did not reach the end of %s in %ds" % (topic, timeout)
    finally:
        c.close()
    return got


def feedback_of(m):
    """The Feedback in a message, or an empty one when it is not a Feedback (other tests
    put poison messages on the same topics on purpose)."""
    f = pb.Feedback()
    try:
        f.ParseFromString(m.value())
    except Exception:  # google.protobuf.message.DecodeError
        return pb.Feedback()
    return f
