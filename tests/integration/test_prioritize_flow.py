"""escucha-prioritize against the real stack: planted spike, kill -9 replay,
and the store layer's PostgreSQL tests (test_store) on the stack's database.

Each test uses its own agency and consumer group, so it only sees its own
rows; event times are fixed (a Monday in 2024) so windows are deterministic."""
import os
import subprocess
import time

import pytest

from conftest import (BROKERS, PG_DSN, REPO, pb, producer, read_topic, scalar, sql, unique,  # noqa: F401
                      wait_until)

T0 = 1709510400000  # Monday 2024-03-04 00:00 UTC
HOUR = 3600 * 1000
NOISE = ["procedures", "staff_attention", "information", "payments_fees", "facilities"]

# topic_window_stats recomputed from feedback; must equal the stored aggregates.
RECOMPUTE_DIFF = """
WITH t AS (SELECT f.*, x.topic FROM feedback f CROSS JOIN LATERAL (VALUES ('*'), (f.category),
  (CASE WHEN coalesce(f.subcategory, '') = '' THEN NULL WHEN strpos(f.subcategory, '/') > 0
   THEN f.subcategory ELSE f.category || '/' || f.subcategory END)) x(topic)
  WHERE x.topic IS NOT NULL AND f.agency = %(a)s),
r AS (SELECT agency, topic, w.kind, date_trunc(w.kind, received_at, 'UTC') ws, count(*) total,
  count(*) FILTER (WHERE sentiment = 'POSITIVE') pos, count(*) FILTER (WHERE sentiment = 'NEUTRAL') neu,
  count(*) FILTER (WHERE sentiment = 'NEGATIVE') neg, count(*) FILTER (WHERE nps >= 9) pr,
  count(*) FILTER (WHERE nps BETWEEN 7 AND 8) pa, count(*) FILTER (WHERE nps <= 6) de,
  count(csat) cr, count(*) FILTER (WHERE csat >= 4) cs, count(*) FILTER (WHERE urgent) u
  FROM t CROSS JOIN (VALUES ('hour'), ('day'), ('week')) w(kind) GROUP BY 1, 2, 3, 4),
s AS (SELECT agency, topic, window_kind, window_start, total, positive, neutral, negative,
  nps_promoters, nps_passives, nps_detractors, csat_responses, csat_satisfied, urgent
  FROM topic_window_stats WHERE agency = %(a)s)
SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM s) UNION ALL
  (SELECT * FROM s EXCEPT SELECT * FROM r)) d
"""


def classified(fid, agency, category, at, sentiment, nps=None, csat=None, sub=None, text="texto",
               confidence=0.9):
    m = pb.ClassifiedFeedback()
    f = m.feedback
    f.id, f.agency, f.service, f.channel = fid, agency, "svc", pb.WEB
    f.text, f.language, f.received_at, f.created_at = text, "es", at, at - 1000
    if nps is not None:
        f.nps = nps
    if csat is not None:
        f.csat = csat
    c = m.classification
    c.category, c.confidence, c.sentiment = category, confidence, sentiment
    if sub:
        c.subcategory = sub
    c.model_version = "test"
    m.classified_at = at + 5
    return m


def aggregates_match(agency, timeout=60):
    """The derive thread applies a batch's aggregates after its rows commit: wait until the
    agency's topic_window_stats equal their recomputation from feedback."""
    wait_until(lambda: scalar(RECOMPUTE_DIFF, {"a": agency}) == 0, timeout, interval=0.2,
               what="aggregates of %s to match its feedback" % agency)


def send(msgs, agency):
    """One partition: the stream is replayed in order (deterministic ranking path)."""
    p = producer()
    for m in msgs:
        p.produce("escucha.feedback.classified.v1", m.SerializeToString(),
                  key=("%s/%s" % (agency, m.classification.category)).encode(), partition=0)
        p.poll(0)
    assert p.flush(30) == 0


def noise_hour(agency, h, seq):
    out = []
    for t in NOISE:
        for k in range(10):
            s = pb.NEGATIVE if k % 3 == 0 else pb.NEUTRAL
            out.append(classified("%s-%06d" % (agency, seq), agency, t, T0 + h * HOUR + k * 300000,
                                  s, nps=5 + k % 6))
            seq += 1
    return out, seq


def fresh_group():
    """A new consumer group whose offsets start at the current end of the classified topic:
    its prioritize reads what the test sends next, not the backlog other tests left (items
    classified while no prioritize of theirs ran)."""
    from confluent_kafka import Consumer, TopicPartition
    group = unique("pz")
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group, "enable.auto.commit": False})
    try:
        topic = "escucha.feedback.classified.v1"
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                for p in parts]
        c.commit(offsets=ends, asynchronous=False)
    finally:
        c.close()
    return group


def start_prioritize(services, group, **env):
    e = {"ESCUCHA_GROUP": group, "ESCUCHA_BATCH_MS": "100", "ESCUCHA_LOG_LEVEL": "info"}
    e.update(env)
    return services.start("prioritize", env=e)


def test_planted_spike_ranks_first_and_opens_one_action(services):
    agency = unique("spike")
    msgs, seq = [], 0
    for h in range(6):  # steady noise; waiting_times a trickle
        batch, seq = noise_hour(agency, h, seq)
        msgs += batch
        msgs.append(classified("%s-%06d" % (agency, seq), agency, "waiting_times", T0 + h * HOUR + 7,
                               pb.NEGATIVE, nps=6))
        seq += 1
    batch, seq = noise_hour(agency, 6, seq)
    msgs += batch
    for k in range(150):  # the planted spike in hour 6
        msgs.append(classified("%s-%06d" % (agency, seq), agency, "waiting_times",
                               T0 + 6 * HOUR + 1000 * k, pb.NEGATIVE, nps=k % 5,
                               sub="waiting_times/queue_wait"))
        seq += 1
    group = fresh_group()
    send(msgs, agency)
    svc = start_prioritize(services, group)
    wait_until(lambda: scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,)) == len(msgs),
               60, interval=0.2, what="all feedback stored")
    hour6 = "2024-03-04 06:00:00+00"

    def spike_rank():
        r = sql("SELECT rank FROM priorities WHERE agency = %s AND topic = 'waiting_times' AND "
                "window_kind = 'hour' AND window_start = %s", (agency, hour6))
        return r and r[0][0] == 1
    wait_until(spike_rank, 30, interval=0.2, what="spike topic at rank 1")
    # The explanation names the topic by its taxonomy label.
    es, en = sql("SELECT explanation_es, explanation_en FROM priorities WHERE agency = %s AND "
                 "topic = 'waiting_times' AND window_kind = 'hour' AND window_start = %s",
                 (agency, hour6))[0]
    assert "Tiempos de espera" in es or "waiting_times" in es
    assert "negative" in en
    wait_until(lambda: scalar("SELECT count(*) FROM action_plans WHERE agency = %s AND "
                              "request_sent_at IS NOT NULL", (agency,)) == 1,
               30, interval=0.2, what="one action request delivered")
    assert scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,)) == 1
    assert scalar("SELECT topic FROM action_plans WHERE agency = %s", (agency,)) == "waiting_times"
    aggregates_match(agency)

    def is_ours(m):
        return (m.key() or b"").decode().startswith(agency + "/")
    got = read_topic("escucha.actions.requested.v1", is_ours, 1, timeout=30)
    assert len(got) == 1
    ar = pb.ActionRequest()
    ar.ParseFromString(got[0].value())
    assert ar.topic == "waiting_times" and ar.priority.rank == 1
    assert ar.request_id.startswith("%s/waiting_times/" % agency)
    prios = read_topic("escucha.priorities.v1", is_ours, 1, timeout=30)
    assert prios
    # Replay the whole stream: nothing new is written, no second plan.
    rows = scalar("SELECT sum(total) FROM topic_window_stats WHERE agency = %s", (agency,))
    before = svc.metric("escucha_prioritize_duplicates_total")
    send(msgs, agency)
    wait_until(lambda: svc.metric("escucha_prioritize_duplicates_total") >= before + len(msgs), 60,
               interval=0.2, what="replay consumed")
    assert scalar("SELECT sum(total) FROM topic_window_stats WHERE agency = %s", (agency,)) == rows
    assert scalar("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,)) == 1
    assert svc.metric("escucha_prioritize_spikes_total") >= 1


def test_kill9_during_load_then_restart(services):
    agency = unique("kill")
    n_ids, msgs = 20000, []
    cats = NOISE + ["waiting_times"]
    for i in range(n_ids):
        msgs.append(classified("%s-%06d" % (agency, i), agency, cats[i % len(cats)],
                               T0 + i * 20000, [pb.POSITIVE, pb.NEUTRAL, pb.NEGATIVE][i % 3],
                               nps=i % 11 if i % 4 else None, csat=1 + i % 5 if i % 3 else None,
                               sub="%s/sub%d" % (cats[i % len(cats)], i % 3)))
    msgs += msgs[:2000]  # duplicates in the stream
    group = fresh_group()
    send(msgs, agency)
    svc = start_prioritize(services, group, ESCUCHA_BATCH_SIZE="500")
    wait_until(lambda: scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,)) > 3000,
               60, interval=0.05, what="load under way")
    svc.kill9()
    stored = scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))
    assert stored < n_ids, "killed too late to test anything"
    start_prioritize(services, group, ESCUCHA_BATCH_SIZE="500")
    wait_until(lambda: scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,)) == n_ids,
               120, interval=0.2, what="all distinct ids stored after restart")
    time.sleep(0.5)  # let the last duplicates (if any) be consumed; counts must not move
    assert scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,)) == n_ids
    aggregates_match(agency)
    assert scalar("SELECT sum(total) FROM topic_window_stats WHERE agency = %s AND topic = '*' "
                  "AND window_kind = 'day'", (agency,)) == n_ids


def test_store_layer_on_stack_pg():
    """The cmocka store tests (skipped in the unit run without a database)."""
    for build in ("build-san", "build"):
        exe = os.path.join(REPO, build, "tests", "prioritize", "test_store")
        if os.path.exists(exe):
            break
    else:
        pytest.fail("test_store not built")
    env = dict(os.environ, ESCUCHA_TEST_PG_DSN=PG_DSN, ASAN_OPTIONS="detect_leaks=1")
    r = subprocess.run([exe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "SKIPPED" not in r.stdout


def test_batch_closes_when_the_stream_pauses(services):
    """A batch is written once no message came for --batch-idle-ms (10 ms), not after the whole
    --batch-ms; with the idle close off (idle >= batch-ms) the same messages wait it out."""
    agency = unique("idle")
    seq = iter(range(100))

    def burst(n):
        msgs = [classified("%s-%03d" % (agency, next(seq)), agency, "procedures", T0 + 1000, pb.NEUTRAL)
                for _ in range(n)]
        send(msgs, agency)
        return time.monotonic()

    def stored():
        return scalar("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))

    group = fresh_group()
    svc = start_prioritize(services, group, ESCUCHA_BATCH_MS="8000")
    burst(1)  # the consumer holds its partitions once this one is stored
    wait_until(lambda: stored() == 1, 60, interval=0.05, what="first item stored")
    t0 = burst(5)
    wait_until(lambda: stored() == 6, 4, interval=0.02, what="a burst stored well before --batch-ms")
    took = time.monotonic() - t0
    svc.stop()
    svc = start_prioritize(services, group, ESCUCHA_BATCH_MS="8000", ESCUCHA_BATCH_IDLE_MS="8000")
    burst(1)
    wait_until(lambda: stored() == 7, 60, interval=0.05, what="restarted prioritize consuming")
    t0 = burst(5)
    wait_until(lambda: stored() == 12, 30, interval=0.05, what="the burst stored after --batch-ms")
    waited = time.monotonic() - t0
    assert waited > 7, "idle close off: the batch waited %.1f s, expected about 8" % waited
    assert took < waited / 2, (took, waited)
