"""escucha-classify against the real Kafka: two workers in one consumer group,
exactly one output per input id (Kafka transactions) including across a
kill -9 of a worker holding an open transaction; dead letters for poison
messages; SIGHUP reload; the ClassifiedFeedback contract.

Each test uses its own consumer group whose offsets are first committed at
the current end of the input topic, so the workers see only this test's
messages; outputs are read with isolation.level=read_committed from the end
offsets captured before anything was produced."""
import signal
import time

from confluent_kafka import Consumer, TopicPartition

from conftest import BROKERS, pb, producer, unique, wait_until

IN = "escucha.feedback.ingested.v1"
OUT = "escucha.feedback.classified.v1"
DLQ = "escucha.dlq.v1"
N = 3000

TEXTS = [
    "The nurse was rude and we waited five hours in A&E",
    "Excellent care from the whole team, thank you so much",
    "Parking was impossible and the car park is too expensive",
    "Nobody told us what was happening with my father's discharge",
    "The ward was dirty and the toilets were not cleaned",
    "Could not get through on the phone to book an appointment",
    "Esperé tres horas para que me atendieran en la oficina",
    "La funcionaria fue muy amable y resolvió mi trámite rápido",
]


def partitions(topic):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": unique("meta")})
    try:
        md = c.list_topics(topic, timeout=10)
        return sorted(md.topics[topic].partitions)
    finally:
        c.close()


def end_offsets(topic):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": unique("meta")})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions(topic)}
    finally:
        c.close()


def start_group_at_end(group, topic=IN):
    """Commits the group's offsets at the topic's current end."""
    ends = end_offsets(topic)
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in ends.items()], asynchronous=False)
    finally:
        c.close()


class Reader:
    """read_committed reader of a topic from its end offsets at creation."""

    def __init__(self, topic):
        self.topic = topic
        self.start = end_offsets(topic)
        self.c = Consumer({"bootstrap.servers": BROKERS, "group.id": unique("reader"),
                           "enable.auto.commit": False, "isolation.level": "read_committed"})
        self.c.assign([TopicPartition(topic, p, o) for p, o in self.start.items()])
        self.msgs = []

    def poll(self, budget=0.5):
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            m = self.c.poll(0.1)
            if m is not None and not m.error():
                self.msgs.append(m)

    def until(self, pred, timeout, what):
        def step():
            self.poll(0.3)
            return pred()
        return wait_until(step, timeout, interval=0, what=what)

    def read_to_end(self, timeout=30):
        """Reads until every partition's position reaches its current high
        watermark (no transaction may be open: stop the producers first)."""
        ends = end_offsets(self.topic)

        def done():
            self.poll(0.3)
            pos = self.c.position([TopicPartition(self.topic, p) for p in ends])
            return all(tp.offset >= ends[tp.partition] for tp in pos if ends[tp.partition] > 0 or tp.offset >= 0)
        wait_until(done, timeout, interval=0, what="end of %s" % self.topic)

    def close(self):
        self.c.close()


def feedback(fid, text, agency="demo", lang=None):
    fb = pb.Feedback(id=fid, agency=agency, text=text, received_at=int(time.time() * 1000))
    if lang:
        fb.language = lang
    return fb.SerializeToString()


def produce_all(p, items):
    for key, value in items:
        while True:
            try:
                p.produce(IN, key=key, value=value)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(30) == 0


def outputs_by_id(msgs, prefix):
    ids = {}
    for m in msgs:
        cf = pb.ClassifiedFeedback.FromString(m.value())
        if cf.feedback.id.startswith(prefix):
            ids.setdefault(cf.feedback.id, []).append((m, cf))
    return ids


def counter(svc, name, result):
    return svc.metric('%s{result="%s"}' % (name, result))


def classify_env(group, txid, **extra):
    env = {"ESCUCHA_GROUP": group, "ESCUCHA_TRANSACTIONAL_ID": txid, "ESCUCHA_CORRECTIONS_TOPIC": ""}
    env.update(extra)
    return env


def test_two_workers_exactly_once_across_kill9(services):
    group, prefix = unique("eos"), unique("fb") + "-"
    start_group_at_end(group)
    out = Reader(OUT)
    ids = ["%s%05d" % (prefix, i) for i in range(N)]
    items = [(i.encode(), feedback(i, TEXTS[n % len(TEXTS)] + " #%d" % n)) for n, i in enumerate(ids)]
    a = services.start("classify", env=classify_env(group, group + "-a"), instance=0)
    # B never commits on its own: everything it classifies before the kill
    # sits in its open transaction, so the kill must not leak any of it.
    b_env = classify_env(group, group + "-b", ESCUCHA_COMMIT_INTERVAL_MS="600000", ESCUCHA_COMMIT_MESSAGES="100000000")
    b = services.start("classify", env=b_env, instance=1)

    def shared():  # both hold input partitions, all 3 assigned, before anything is produced
        na, nb = (s.metric("escucha_classify_assigned_partitions") for s in (a, b))
        return na >= 1 and nb >= 1 and na + nb == len(partitions(IN))
    wait_until(shared, 30, interval=0.2, what="both workers assigned")
    p = producer()
    produce_all(p, items[: N // 2])
    wait_until(lambda: counter(b, "escucha_classify_messages_total", "classified") >= 100, 60,
               what="worker B classifying")
    wait_until(lambda: counter(a, "escucha_classify_messages_total", "classified") >= 1, 60,
               what="worker A classifying")
    b_done = counter(b, "escucha_classify_messages_total", "classified")
    assert counter(b, "escucha_classify_transactions_total", "committed") == 0
    b.kill9()  # mid-stream, with >= 100 classified messages in an open transaction

    produce_all(p, items[N // 2:])
    # The same instance comes back (same transactional.id): init_transactions
    # fences the dead incarnation and aborts its open transaction.
    b2 = services.start("classify", env=classify_env(group, group + "-b"), instance=1)
    want = set(ids)
    out.until(lambda: want <= set(outputs_by_id(out.msgs, prefix)), 75, "all %d ids classified" % N)
    assert a.stop() == 0 and b2.stop() == 0
    out.read_to_end()
    got = outputs_by_id(out.msgs, prefix)
    out.close()
    dups = {k: len(v) for k, v in got.items() if len(v) != 1}
    assert not dups, "ids with more than one output: %d, e.g. %s" % (len(dups), list(dups.items())[:5])
    assert set(got) == want
    # the killed worker's outputs were re-done by the survivors, not lost
    assert b_done >= 100
    for fid, [(m, cf)] in got.items():
        c = cf.classification
        assert (m.key() or b"").decode("utf-8", "replace") == "demo/%s" % c.category
        assert c.model_version.startswith("v1-")


def test_poison_urgent_reload(services):
    group, prefix = unique("poison"), unique("fb") + "-"
    start_group_at_end(group)
    out, dlq = Reader(OUT), Reader(DLQ)
    w = services.start("classify", env=classify_env(group, group + "-w"), instance=0)
    p = producer()
    garbage = b"\xff\xfe\x00garbage-" + prefix.encode() + b"\x9c\x01\x02\x03"
    urgent_id, after_id, reload_id = prefix + "urgent", prefix + "after", prefix + "reload"
    produce_all(p, [(b"poison", garbage),
                    (urgent_id.encode(), feedback(urgent_id, "me amenazaron con un cuchillo en la oficina",
                                                  agency="agency-x", lang="es")),
                    (after_id.encode(), feedback(after_id, "The staff were lovely and helpful, thank you"))])
    dlq.until(lambda: any(pb.DeadLetter.FromString(m.value()).original == garbage for m in dlq.msgs), 60,
              "poison message in the DLQ")
    dl = next(pb.DeadLetter.FromString(m.value()) for m in dlq.msgs
              if pb.DeadLetter.FromString(m.value()).original == garbage)
    assert dl.stage == "classify" and dl.topic == IN and "protobuf" in dl.reason
    # the worker kept going: both later messages are classified
    out.until(lambda: {urgent_id, after_id} <= set(outputs_by_id(out.msgs, prefix)), 60, "messages after the poison")
    got = outputs_by_id(out.msgs, prefix)
    [(m, cf)] = got[urgent_id]
    c = cf.classification
    assert (m.key() or b"").decode("utf-8", "replace") == "agency-x/%s" % c.category
    assert c.category == "safety" and c.subcategory.startswith("safety/")
    assert c.urgent is True
    assert c.model_version.startswith("v1-")
    assert 0 < c.confidence <= 1
    assert c.HasField("sentiment") and c.sentiment != pb.SENTIMENT_UNSPECIFIED
    assert c.HasField("journey_stage") and c.journey_stage != pb.JOURNEY_STAGE_UNSPECIFIED
    assert cf.feedback.text.startswith("me amenazaron")
    [(_, cf2)] = got[after_id]
    assert cf2.classification.urgent is False
    assert counter(w, "escucha_classify_messages_total", "dlq") == 1

    # SIGHUP: reload between messages, keep consuming
    w.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: counter(w, "escucha_classify_reloads_total", "ok") == 1, 30, what="reload")
    produce_all(p, [(reload_id.encode(), feedback(reload_id, "Could not book an appointment online"))])
    out.until(lambda: reload_id in outputs_by_id(out.msgs, prefix), 60, "message after the reload")
    assert w.ready()
    out.close()
    dlq.close()


def test_fatal_producer_error_is_recovered_in_process(services):
    """A fatal producer error (as after a broker restart: INVALID_TXN_STATE) no longer ends the
    worker: it replaces its producer (init_transactions aborts the open transaction) and re-reads
    from the committed offsets — every input still has exactly one committed output."""
    group, prefix = unique("fatal"), unique("fb") + "-"
    start_group_at_end(group)
    out = Reader(OUT)
    n = 600
    ids = ["%s%04d" % (prefix, i) for i in range(n)]
    w = services.start("classify", env=classify_env(group, group + "-w", ESCUCHA_TEST_FATAL_AFTER="250",
                                                    ESCUCHA_COMMIT_MESSAGES="100"), instance=0)
    wait_until(lambda: w.metric("escucha_classify_assigned_partitions") == len(partitions(IN)), 30, interval=0.2,
               what="partitions assigned")
    produce_all(producer(), [(i.encode(), feedback(i, TEXTS[k % len(TEXTS)] + " #%d" % k)) for k, i in enumerate(ids)])
    out.until(lambda: set(ids) <= set(outputs_by_id(out.msgs, prefix)), 90, "all %d ids classified" % n)
    assert w.proc.poll() is None, "the worker exited instead of recovering"
    assert counter(w, "escucha_classify_transactions_total", "fatal") >= 1
    assert counter(w, "escucha_classify_transactions_total", "recovered") == 1
    assert w.stop() == 0
    out.read_to_end()
    got = outputs_by_id(out.msgs, prefix)
    out.close()
    dups = {k: len(v) for k, v in got.items() if len(v) != 1}
    assert not dups, "ids with more than one output: %d, e.g. %s" % (len(dups), list(dups.items())[:5])
    assert set(got) == set(ids)
