"""The pipeline on a replicated Kafka cluster survives the loss of a broker.

A 3-node KRaft cluster of its own (scripts/stack.sh with ESCUCHA_KAFKA_BROKER_COUNT=3, on
ports and a state folder of its own, so the shared single-broker test stack is untouched)
carries ingest -> classify -> prioritize -> actions (tickets to a local webhook receiver);
PostgreSQL and Redis are the test stack's. A client sends feedback at a steady rate and, like
a real one, retries what was not acknowledged (503, lost connection). Mid-run the broker that
leads the transaction coordinator's partition (classify's transactions, and possibly groups'
offsets) is killed with -9 and restarted ~10 s later. Then: every acknowledged id is stored
exactly once, no feedback twice under two ids, one ticket per plan, aggregates equal their
recomputation, and the time to recover is printed (kill -> per-row accept->stored latency back
to normal; kill -> every partition's three replicas in sync again), with the 503s the client
met. The services get nothing but the three-broker bootstrap list.
"""
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import requests

from conftest import ADMIN_BASE, API_HTTP_PORT, HTTP_PORT, REPO, STATE, scalar, sql, wait_until
from test_e2e_faults import ticket_receiver
from test_prioritize_flow import RECOMPUTE_DIFF

NODES = 3
# ports of its own, below the test services' admin ports (node i: PORT+2(i-1), controller +1)
KAFKA_PORT = ADMIN_BASE - 60  # 19140 in slot 0; moved with ESCUCHA_TEST_SLOT like every test port
CLUSTER = ",".join("127.0.0.1:%d" % (KAFKA_PORT + 2 * i) for i in range(NODES))
CLUSTER_STATE = os.path.join(STATE, "kafka-cluster")
WEBHOOK_PORT = ADMIN_BASE + 81
RATE = 150  # feedback/s: 3 client threads x 10 batches/s x 5 items
THREADS, BATCH = 3, 5
RUN_S, KILL_AT_S, DOWN_S = 45, 15, 10
TOPICS = ["escucha.feedback.inbound.v1", "escucha.feedback.ingested.v1", "escucha.feedback.classified.v1",
          "escucha.priorities.v1", "escucha.actions.requested.v1", "escucha.actions.v1", "escucha.dlq.v1",
          "escucha.corrections.v1"]
INTERNAL = ["__consumer_offsets", "__transaction_state"]


def cluster_env():
    e = dict(os.environ)
    e.update({"ESCUCHA_STATE_DIR": CLUSTER_STATE, "ESCUCHA_KAFKA_BROKER_COUNT": str(NODES),
              "ESCUCHA_KAFKA_PORT": str(KAFKA_PORT), "ESCUCHA_KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1),
              "ESCUCHA_KAFKA_BROKERS": CLUSTER,
              # small heaps: three JVMs beside the test stack's broker on a small machine
              "ESCUCHA_KAFKA_JVM_OPTS": "-Xms128m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"})
    return e


def stack(*args, timeout=240):
    r = subprocess.run([os.path.join(REPO, "scripts", "stack.sh")] + list(args), env=cluster_env(),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "stack.sh %s: %s%s" % (" ".join(args), r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def letters(n):
    """n in letters: a run of digits in a feedback text would be redacted, and two texts equal."""
    s = ""
    while True:
        s = "abcdefghijkmnpqr"[n % 16] + s
        n //= 16
        if not n:
            return s


class Load:
    """RATE feedback/s in NDJSON batches from THREADS paced threads; a batch is re-sent (after
    Retry-After) until every item is acknowledged, as a real client does. Records every
    acknowledged id, the 503s, lost connections and each batch's time to acknowledgement."""

    def __init__(self, key, tag):
        self.key, self.tag = key, tag
        self.lock = threading.Lock()
        self.ids, self.texts = set(), set()
        self.sent = self.n503 = self.errors = self.retried = 0
        self.ack_s = []  # (first send time, seconds until acknowledged)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(THREADS)]
        self.failure = None
        for t in self.threads:
            t.start()

    def run(self, th):
        try:
            self.loop(th)
        except Exception as e:  # reported by finish()
            self.failure = e

    def loop(self, th):
        s = requests.Session()
        period = THREADS * BATCH / RATE
        nxt, seq = time.monotonic() + th * period / THREADS, 0
        while not self.stop.is_set():
            nxt += period
            texts = []
            for _ in range(BATCH):
                seq += 1
                texts.append("Reclamo %s %s %s: llevo semanas esperando respuesta del trámite" % (
                    self.tag, letters(th), letters(seq)))
            body = "\n".join(json.dumps({"text": t, "csat": 1 + seq % 5, "nps": seq % 11}) for t in texts).encode()
            t0, first = time.time(), True
            for _ in range(300):
                if not first:
                    with self.lock:
                        self.retried += 1
                first = False
                try:
                    r = s.post("http://127.0.0.1:%d/v1/feedback:batch" % HTTP_PORT, data=body, timeout=30,
                               headers={"Authorization": "Bearer " + self.key,
                                        "Content-Type": "application/x-ndjson"})
                except requests.RequestException:
                    with self.lock:
                        self.errors += 1
                    s = requests.Session()
                    time.sleep(0.5)
                    continue
                got = [x.get("id") for x in r.json().get("results", [])
                       if x.get("status") in ("accepted", "duplicate")] if r.status_code in (200, 202, 503) else []
                with self.lock:
                    self.ids.update(got)
                if r.status_code in (200, 202):
                    break
                assert r.status_code == 503, "ingest answered %d: %s" % (r.status_code, r.text[:300])
                with self.lock:
                    self.n503 += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
            else:
                raise AssertionError("a batch was never acknowledged")
            with self.lock:
                self.sent += len(texts)
                self.texts.update(texts)
                self.ack_s.append((t0, time.time() - t0))
            time.sleep(max(0.0, nxt - time.monotonic()))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        assert self.failure is None, "load generator: %r" % self.failure


class IsrWatch:
    """Polls the cluster's metadata: when was every partition (Escucha's and the internal
    topics') last short of a replica in sync, and did any partition lose its leader."""

    def __init__(self):
        from confluent_kafka.admin import AdminClient
        self.admin = AdminClient({"bootstrap.servers": CLUSTER})
        self.last_short = None
        self.leaderless = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                md = self.admin.list_topics(timeout=2).topics
                parts = [p for t in TOPICS + INTERNAL if t in md for p in md[t].partitions.values()]
                if any(len(p.isrs) < NODES for p in parts):
                    self.last_short = time.time()
                self.leaderless += sum(1 for p in parts if p.leader < 0)
            except Exception:  # a metadata request to the dead node: the next poll asks another
                self.last_short = time.time()
            time.sleep(0.25)

    def full(self):
        md = self.admin.list_topics(timeout=5).topics
        return all(len(p.isrs) == NODES for t in TOPICS + INTERNAL for p in md[t].partitions.values())

    def close(self):
        self.stop.set()
        self.t.join(10)


def leaders():
    """{(topic, partition): leader node} for the cluster's topics."""
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": CLUSTER}).list_topics(timeout=10).topics
    return {(t, p.id): p.leader for t in TOPICS + INTERNAL for p in md[t].partitions.values()}


def check_cluster_config():
    """RF 3 everywhere (internal topics included) and min.insync.replicas=2 on Escucha's topics."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": CLUSTER})
    md = admin.list_topics(timeout=10).topics
    for t in TOPICS + INTERNAL:
        assert t in md, "%s missing on the cluster" % t
        for p in md[t].partitions.values():
            assert len(p.replicas) == NODES and len(p.isrs) == NODES, (t, p.id, p.replicas, p.isrs)
    res = [ConfigResource("topic", t) for t in TOPICS + ["__transaction_state"]]
    for r, f in admin.describe_configs(res).items():
        assert f.result()["min.insync.replicas"].value == "2", r


def test_cluster_survives_broker_kill(services, tmp_path):
    # a fresh cluster every run (a previous run's may still be up if it was interrupted)
    subprocess.run([os.path.join(REPO, "scripts", "stack.sh"), "kafka-stop"], env=cluster_env(),
                   capture_output=True, timeout=120)
    shutil.rmtree(CLUSTER_STATE, ignore_errors=True)
    receiver = ticket_receiver()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", WEBHOOK_PORT), receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    svc, rcs = {}, {}
    try:
        t0 = time.monotonic()
        stack("kafka-start")
        stack("topics")
        print("3-node cluster up with topics in %.1f s" % (time.monotonic() - t0))
        run(services, svc, tmp_path, receiver)
    finally:
        srv.shutdown()
        srv.server_close()
        # the services stop (SIGTERM: commit and flush) while their brokers are still there
        for name, s in svc.items():
            if s.proc and s.proc.poll() is None:
                rcs[name] = s.stop()
        stack("kafka-stop", timeout=120)
    assert all(rc == 0 for rc in rcs.values()), "exit codes on SIGTERM: %s" % rcs


def run(services, svc, tmp_path, receiver):
    agency = "kc-" + uuid.uuid4().hex[:8]
    key = "k-" + uuid.uuid4().hex
    keys = tmp_path / "keys"
    keys.write_text("%s:%s\n" % (agency, hashlib.sha256(key.encode()).hexdigest()))
    common = {"ESCUCHA_KAFKA_BROKERS": CLUSTER}
    env = {
        "ingest": dict(common, ESCUCHA_API_KEYS_FILE=str(keys), ESCUCHA_RATE_LIMIT="0"),
        "classify": dict(common),
        "prioritize": dict(common, ESCUCHA_GROUP="pz-" + agency, ESCUCHA_OPEN_THRESHOLD="0.05",
                           ESCUCHA_CLOSE_THRESHOLD="0.01", ESCUCHA_MIN_VOLUME="5", ESCUCHA_BATCH_MS="50"),
        "actions": dict(common, ESCUCHA_DEFAULT_TOOL="webhook", ESCUCHA_TAXONOMY="",
                        ESCUCHA_WEBHOOK_URL="http://127.0.0.1:%d/hook" % WEBHOOK_PORT,
                        ESCUCHA_WEBHOOK_TOKEN="hook-secret", ESCUCHA_POLL_INTERVAL_S="1",
                        ESCUCHA_RETRY_BASE_MS="50", ESCUCHA_GROUP="ac-" + agency),
        # the read side probes the groups' lag from outside through the broker loss (it must not crash)
        "api": dict(common, ESCUCHA_LAG_GROUPS="escucha-classify,pz-" + agency, ESCUCHA_LAG_INTERVAL_MS="500"),
    }
    ports = {"ingest": HTTP_PORT, "api": API_HTTP_PORT}
    for n in ("ingest", "classify", "prioritize", "actions", "api"):
        svc[n] = services.start(n, http_port=ports.get(n), env=env[n])
    restarts = []

    def revive():
        """The supervisor's part (compose `restart: unless-stopped`): a service that exited on
        its own (a fatal Kafka client error) starts again. Counted and reported."""
        for name, s in svc.items():
            if s.proc.poll() is not None:
                restarts.append((name, s.proc.returncode, round(time.time() - t_kill, 1) if t_kill else None))
                s.logf.close()
                s.start()

    stored = lambda: scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))
    t_kill = t_restart = None
    watch = IsrWatch()
    load = Load(key, agency)
    start = time.time()
    try:
        # warm up: rows flow before anything is broken
        wait_until(lambda: revive() or stored() >= 300, 60, interval=0.2, what="300 rows before the kill")
        while time.time() < start + KILL_AT_S:
            revive()
            time.sleep(0.2)
        # the transaction coordinator's node: classify's transactions must move to another one
        lead = leaders()
        victim = lead[("__transaction_state", 0)]
        roles = [t for t in INTERNAL if lead[(t, 0)] == victim]
        roles.append("%d of %d Escucha partitions" % (
            sum(lead[(t, p)] == victim for t in TOPICS for p in range(3)), 3 * len(TOPICS)))
        t_kill = time.time()
        stack("kafka-node-kill", str(victim))
        print("killed node %d (leader of %s) at t=%.1f s" % (victim, ", ".join(roles), t_kill - start))
        while time.time() < t_kill + DOWN_S:
            revive()
            time.sleep(0.2)
        t_restart = time.time()
        stack("kafka-node-start", str(victim))
        print("node %d restarted: %.1f s after the kill, up in %.1f s" % (
            victim, t_restart - t_kill, time.time() - t_restart))
        while time.time() < start + RUN_S:
            revive()
            time.sleep(0.2)
    finally:
        load.finish()
    sent_s = time.time() - start
    print("client: %d feedback in %.1f s (%.0f/s), %d ids acknowledged; 503s: %d, lost connections: %d, "
          "re-sends: %d" % (load.sent, sent_s, load.sent / sent_s, len(load.ids), load.n503, load.errors,
                            load.retried))

    # the restarted node back in sync for every partition
    wait_until(lambda: revive() or watch.full(), 90, interval=0.5, what="all replicas in sync")
    watch.close()
    isr_s = (watch.last_short or t_kill) - t_kill

    # zero loss: every acknowledged id stored; exactly once: each id once (primary key) and no
    # feedback twice under two ids (the texts are unique)
    assert len(load.ids) == load.sent, "acknowledged ids %d != items sent %d" % (len(load.ids), load.sent)
    wait_until(lambda: revive() or stored() >= len(load.ids), 180, interval=0.5,
               what="all %d acknowledged ids stored" % len(load.ids))
    got = {r[0] for r in sql("SELECT id FROM feedback WHERE agency = %s", (agency,))}
    assert got == load.ids, "lost %d, unexpected %d" % (len(load.ids - got), len(got - load.ids))
    assert stored() == len(load.ids)
    assert scalar("SELECT count(DISTINCT text) FROM feedback WHERE agency = %s", (agency,)) == len(load.texts)

    # accept->stored latency per row (ingest's received_at, PostgreSQL's inserted_at; one clock)
    lat = sql("""SELECT extract(epoch FROM received_at)::float8, extract(epoch FROM inserted_at - received_at)::float8
                  FROM feedback WHERE agency = %s ORDER BY received_at""", (agency,))
    # steady state: rows received 8..2 s before the kill (earlier: groups still joining; later:
    # delivered after the kill, slowed by it)
    before = sorted(l for r, l in lat if t_kill - 8 <= r < t_kill - 2)
    assert before, "no rows before the kill"
    p50, p99 = before[len(before) // 2], before[int(len(before) * 0.99)]
    # Recovered = feedback accepted from then on is stored within the steady p99 again (at least
    # 1 s): the end of the first 2 s window (by time accepted, after the kill) whose p99 is back
    # under it. Later slow rows (a busy shared machine, the restarted JVM) are counted apart.
    normal = max(p99, 1.0)
    recover_s = None
    for w in range(0, int(lat[-1][0] - t_kill)):
        ls = sorted(l for r, l in lat if w <= r - t_kill < w + 2)
        if ls and ls[int(len(ls) * 0.99)] <= normal:
            recover_s = w + 2
            break
    # (reported, not asserted: a time on a shared machine; loss and duplicates are what is asserted)
    if recover_s is None:
        recover_s = float("inf")
    later_slow = sum(1 for r, l in lat if r - t_kill >= recover_s and l > normal)
    acks = [d for t, d in load.ack_s if t >= t_kill - 1]
    print("accept->stored before the kill: p50 %.0f ms, p99 %.0f ms" % (p50 * 1000, p99 * 1000))
    print("accept->stored by time received, relative to the kill (s: n, p50, p99, max in ms):")
    for b in range(int(start - t_kill) // 5 * 5, int(lat[-1][0] - t_kill) + 5, 5):
        ls = sorted(l for r, l in lat if b <= r - t_kill < b + 5)
        if ls:
            print("  %+4d..%+4d: %5d %6.0f %6.0f %6.0f" % (b, b + 5, len(ls), ls[len(ls) // 2] * 1000,
                                                         ls[int(len(ls) * 0.99)] * 1000, ls[-1] * 1000))
    print("recovery: feedback accepted from %.0f s after the kill on is stored within %.1f s again (%d of %d later "
          "rows slower); all replicas in sync %.1f s after the kill (%.1f s after the restart); slowest client "
          "acknowledgement from the kill on %.1f s; worst accept->stored %.1f s; partitions seen leaderless "
          "(polls): %d" % (recover_s, normal, later_slow, sum(1 for r, _ in lat if r - t_kill >= recover_s), isr_s,
                           isr_s - (t_restart - t_kill), max(acks) if acks else 0,
                           max(l for r, l in lat if r + l >= t_kill),
                           watch.leaderless))
    print("supervisor restarts (service, exit code, s after kill):", restarts)
    # only clean exits (a fatal client error is handled by exiting non-zero); a signal is a crash
    assert all(rc > 0 for _, rc, _ in restarts), restarts
    assert not [r for r in restarts if r[0] == "api"], restarts
    lags = [k for k in svc["api"].metrics() if k.startswith("escucha_kafka_group_lag{")]
    assert any('group="pz-%s",topic="escucha.feedback.classified.v1"' % agency in k for k in lags), lags

    # aggregates == recomputation; every plan exactly one ticket, one key at the tool
    wait_until(lambda: revive() or scalar(RECOMPUTE_DIFF, {"a": agency}) == 0, 60,
               what="aggregates to match feedback")
    wait_until(lambda: scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,)) > 0, 60,
               what="an action plan")
    wait_until(lambda: revive() or scalar("""SELECT count(*) FROM action_plans p WHERE agency = %s AND NOT EXISTS
                                 (SELECT 1 FROM actions a WHERE a.plan_id = p.id)""", (agency,)) == 0, 90,
               what="a ticket for every plan")
    assert scalar("""SELECT count(*) FROM (SELECT plan_id FROM actions a JOIN action_plans p ON p.id = a.plan_id
                     WHERE p.agency = %s GROUP BY plan_id HAVING count(*) > 1) d""", (agency,)) == 0
    plans = scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,))
    assert scalar("""SELECT count(DISTINCT a.idempotency_key) FROM actions a JOIN action_plans p ON p.id = a.plan_id
                     WHERE p.agency = %s""", (agency,)) == plans
    print("plans: %d, tickets: %d, webhook posts: %d" % (plans, len(receiver.tickets), receiver.posts[0]))
    check_cluster_config()
