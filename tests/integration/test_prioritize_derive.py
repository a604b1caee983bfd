"""escucha-prioritize's derive thread (docs/prioritization.md, "The derive thread"): a batch's
aggregates are queued in aggregate_queue with its rows and applied by a second connection.

While the thread cannot apply anything (a test connection holds a lock on topic_window_stats),
the rows keep being stored and the queue ages; past --derive-max-lag-ms consumption pauses
(escucha_prioritize_paused 1, escucha_prioritize_aggregate_lag_seconds over the limit) and
new messages wait in Kafka. Once the lock goes, everything is applied and consumed exactly
once: the aggregates equal their recomputation from feedback, the queue is empty."""
import psycopg2

from conftest import PG_DSN, pb, scalar, unique, wait_until
from test_prioritize_flow import T0, aggregates_match, classified, fresh_group, send, start_prioritize

CATS = ["procedures", "waiting_times", "staff_attention", "information"]


def stream(agency, first, n):
    return [classified("%s-%06d" % (agency, i), agency, CATS[i % len(CATS)], T0 + i * 30000,
                       [pb.POSITIVE, pb.NEUTRAL, pb.NEGATIVE][i % 3], nps=i % 11 if i % 2 else None,
                       sub="%s/sub%d" % (CATS[i % len(CATS)], i % 3))
            for i in range(first, first + n)]


def test_stuck_derive_pauses_consumption_then_everything_counts_once(services):
    agency = unique("derive")
    group = fresh_group()
    svc = start_prioritize(services, group, ESCUCHA_BATCH_SIZE="200", ESCUCHA_DERIVE_MAX_LAG_MS="1500")
    count = "SELECT count(*) FROM feedback WHERE agency = %s"
    lock = psycopg2.connect(PG_DSN)
    try:
        cur = lock.cursor()
        # blocks the thread's upserts (ROW EXCLUSIVE), not the rows' COPY nor any read
        cur.execute("LOCK TABLE topic_window_stats IN SHARE ROW EXCLUSIVE MODE")
        first = stream(agency, 0, 1000)
        send(first, agency)
        wait_until(lambda: scalar(count, (agency,)) > 0, 60, interval=0.1,
                   what="rows stored while the aggregates cannot be applied")
        wait_until(lambda: svc.metric("escucha_prioritize_paused") == 1, 30, interval=0.1,
                   what="consumption paused once the queue is older than 1.5 s")
        assert svc.metric("escucha_prioritize_aggregate_lag_seconds") > 1.5
        assert scalar("SELECT count(*) FROM topic_window_stats WHERE agency = %s", (agency,)) == 0
        stored = scalar(count, (agency,))
        rest = stream(agency, 1000, 600)
        send(rest, agency)
        # paused: nothing more is written while the queue stays old (a time window: the
        # assertion is that nothing happens in it)
        wait_until(lambda: svc.metric("escucha_prioritize_aggregate_lag_seconds") > 3, 30, interval=0.1,
                   what="the queue ageing")
        assert scalar(count, (agency,)) == stored < len(first) + len(rest)
        lock.rollback()  # the thread goes on
        wait_until(lambda: scalar(count, (agency,)) == len(first) + len(rest), 60, interval=0.1,
                   what="consumption resumed")
        wait_until(lambda: svc.metric("escucha_prioritize_paused") == 0, 30, interval=0.1, what="not paused")
    finally:
        lock.close()
    aggregates_match(agency)
    assert scalar("SELECT sum(total) FROM topic_window_stats WHERE agency = %s AND topic = '*' "
                  "AND window_kind = 'week'", (agency,)) == len(first) + len(rest)
    wait_until(lambda: scalar("SELECT count(*) FROM priorities WHERE agency = %s", (agency,)) > 0, 30,
               interval=0.2, what="the agency ranked")
    assert "derive_behind" in svc.log() and "derive_caught_up" in svc.log()
