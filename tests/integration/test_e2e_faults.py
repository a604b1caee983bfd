"""The whole pipeline under faults, as users would meet them.

All four services run against the real stack while a client keeps sending feedback (and
some invalid messages to the inbound topic). Each service is killed with -9 in turn and
restarted, then Kafka, PostgreSQL and Redis are stopped and started, all under load. After
recovery: every sent feedback is in `feedback` exactly once, the aggregates equal their
recomputation from `feedback`, every plan has exactly one ticket, and the DLQ holds exactly
the invalid inputs."""
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import uuid

import requests

from conftest import ADMIN_BASE, HTTP_PORT, REPO, producer, read_all, read_topic, scalar, wait_until
from test_prioritize_flow import RECOMPUTE_DIFF

WEBHOOK_PORT = ADMIN_BASE + 77  # 19277 in slot 0; moved with ESCUCHA_TEST_SLOT like every test port


def stack(*args):
    subprocess.run([os.path.join(REPO, "scripts", "stack.sh")] + list(args), check=True,
                   stdout=subprocess.DEVNULL, timeout=180)


def ticket_receiver():
    """A ticket tool behind the signed webhook: one ticket per Idempotency-Key. A new handler
    class per call, so each test counts only its own tickets and posts."""

    class Receiver(http.server.BaseHTTPRequestHandler):
        tickets, posts, lock = {}, [0], threading.Lock()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key", "")
            with self.lock:
                self.posts[0] += 1
                tid = self.tickets.setdefault(key, "T-%d" % (len(self.tickets) + 1))
            out = json.dumps({"id": tid, "url": "http://tickets.local/%s" % tid}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    return Receiver


class Load:
    """Sends unique feedback in NDJSON batches until stopped, retrying what was not acknowledged."""

    def __init__(self, key, tag):
        self.key, self.tag, self.n, self.acked = key, tag, 0, 0
        self.texts, self.stop = set(), threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        s = requests.Session()
        words = ["espera", "trámite", "atención", "pago", "web", "transporte", "personal"]
        while not self.stop.is_set():
            batch = []
            for _ in range(50):
                self.n += 1
                batch.append("Reclamo %s-%d sobre %s: llevo semanas sin respuesta" % (
                    self.tag, self.n, words[self.n % len(words)]))
            self.texts.update(batch)
            body = "\n".join(json.dumps({"text": t, "csat": 1 + len(t) % 5, "nps": len(t) % 11}) for t in batch)
            for _ in range(600):  # until every item is acknowledged (dedup makes retries safe)
                try:
                    r = s.post("http://127.0.0.1:%d/v1/feedback:batch" % HTTP_PORT, data=body.encode(), timeout=15,
                               headers={"Authorization": "Bearer " + self.key, "Content-Type": "application/x-ndjson"})
                    if r.status_code in (200, 202):
                        self.acked += 1
                        break
                except requests.RequestException:
                    s = requests.Session()
                time.sleep(0.2)  # Retry-After / the service is restarting
            else:
                raise AssertionError("a batch was never acknowledged")

    def finish(self):
        self.stop.set()
        self.t.join(180)


def test_pipeline_survives_kills_and_restarts(services, tmp_path):
    receiver = ticket_receiver()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", WEBHOOK_PORT), receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        run(services, tmp_path, receiver)
    finally:
        srv.shutdown()
        srv.server_close()


def run(services, tmp_path, receiver):
    agency = "e2e-" + uuid.uuid4().hex[:8]
    key = "k-" + uuid.uuid4().hex
    keys = tmp_path / "keys"
    keys.write_text("%s:%s\n" % (agency, hashlib.sha256(key.encode()).hexdigest()))
    common = {"ESCUCHA_API_KEYS_FILE": str(keys)}
    env = {
        "ingest": dict(common, ESCUCHA_RATE_LIMIT="0"),
        "classify": {},
        "prioritize": {"ESCUCHA_GROUP": "pz-" + agency, "ESCUCHA_OPEN_THRESHOLD": "0.05",
                       "ESCUCHA_CLOSE_THRESHOLD": "0.01", "ESCUCHA_MIN_VOLUME": "5", "ESCUCHA_BATCH_MS": "50"},
        # no taxonomy (empty: none; a missing file is refused): every plan takes the default tool
        "actions": {"ESCUCHA_DEFAULT_TOOL": "webhook", "ESCUCHA_TAXONOMY": "",
                    "ESCUCHA_WEBHOOK_URL": "http://127.0.0.1:%d/hook" % WEBHOOK_PORT,
                    "ESCUCHA_WEBHOOK_TOKEN": "hook-secret", "ESCUCHA_POLL_INTERVAL_S": "1",
                    "ESCUCHA_RETRY_BASE_MS": "50", "ESCUCHA_GROUP": "ac-" + agency},
    }
    svc = {n: services.start(n, http_port=HTTP_PORT if n == "ingest" else None, env=env[n])
           for n in ("ingest", "classify", "prioritize", "actions")}
    stored = lambda: scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))
    load = Load(key, agency)
    bad_keys = []
    p = producer()

    restarts = []

    def revive():
        """The supervisor's part (compose `restart: unless-stopped`): a service that exited on
        its own — e.g. on a fatal Kafka client error after the broker restarted — starts again."""
        for name, s in svc.items():
            if s.proc.poll() is not None:
                restarts.append((name, s.proc.returncode))
                s.logf.close()
                s.start()
        return False

    def some_progress(n=300):
        """Recovered from the last fault: the client got fresh batches through (so a batch it
        was retrying is settled, and faults come in turn rather than overlap) and the pipeline
        stored more rows."""
        start, acked = stored(), load.acked
        wait_until(lambda: revive() or (load.acked >= acked + 3 and stored() >= start + n), 120, interval=0.2,
                   what="%d more rows" % n)

    def poison():
        k = "bad-%s-%d" % (agency, len(bad_keys))
        bad_keys.append(k)
        p.produce("escucha.feedback.inbound.v1", key=k.encode(), value=b"\xff\x00 not feedback " + k.encode())
        p.flush(30)

    try:
        some_progress()
        for name in ("ingest", "classify", "prioritize", "actions"):
            poison()
            svc[name].kill9()
            svc[name].start()
            some_progress()
        for part in ("kafka", "pg", "redis"):
            poison()
            stack(part + "-stop")
            time.sleep(1)  # let the outage be felt under load before it ends
            stack(part + "-start")
            some_progress()
    finally:
        load.finish()
    print("supervisor restarts (service, exit code):", restarts)
    # only clean non-zero exits: a crash (signal) would be a bug
    assert all(rc > 0 for _, rc in restarts), restarts

    # every sent feedback exactly once (unique texts; dedup absorbed the client's retries)
    wait_until(lambda: scalar("SELECT count(DISTINCT text) FROM feedback WHERE agency = %s", (agency,))
               >= len(load.texts), 240, interval=0.5, what="all %d texts" % len(load.texts))
    # Exactly once: a batch whose answer was lost to ingest's kill -9 (or to a send that timed
    # out) is re-sent by the client and produced again under the ids of the lapsed claims, so
    # a copy Kafka already had is the same row (feedback's primary key).
    assert scalar("SELECT count(DISTINCT text) FROM feedback WHERE agency = %s", (agency,)) == len(load.texts)
    assert stored() == len(load.texts), "feedback stored more than once"
    # aggregates == recomputation (prioritize may still be finishing its last batch)
    wait_until(lambda: scalar(RECOMPUTE_DIFF, {"a": agency}) == 0, 60, what="aggregates to match feedback")
    # plans opened, each with exactly one ticket and one key at the tool
    wait_until(lambda: scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,)) > 0, 60,
               what="an action plan")
    wait_until(lambda: scalar("""SELECT count(*) FROM action_plans p WHERE agency = %s AND NOT EXISTS
                                 (SELECT 1 FROM actions a WHERE a.plan_id = p.id)""", (agency,)) == 0, 90,
               what="a ticket for every plan")
    assert scalar("""SELECT count(*) FROM (SELECT plan_id FROM actions a JOIN action_plans p ON p.id = a.plan_id
                     WHERE p.agency = %s GROUP BY plan_id HAVING count(*) > 1) d""", (agency,)) == 0
    plans = scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,))
    ours = [k for k in receiver.tickets if k]
    assert len(set(ours)) >= plans
    assert scalar("""SELECT count(DISTINCT a.idempotency_key) FROM actions a JOIN action_plans p ON p.id = a.plan_id
                     WHERE p.agency = %s""", (agency,)) == plans
    # the DLQ holds exactly the invalid inputs. It is at-least-once like every topic: a
    # message dead-lettered just before a kill -9 can be dead-lettered again on redelivery
    # (DeadLetter carries topic/partition/offset, the key to dedupe it by).
    mine = lambda m: (m.key() or b"").decode().startswith("bad-" + agency)
    read_topic("escucha.dlq.v1", mine, len(bad_keys))
    got = {(m.key() or b"").decode("utf-8", "replace") for m in read_all("escucha.dlq.v1", mine)}
    assert got == set(bad_keys)
