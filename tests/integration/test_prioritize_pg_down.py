"""escucha-prioritize with PostgreSQL stopped mid-stream: consumption pauses
(/readyz 503, escucha_prioritize_paused 1, nothing acknowledged), resumes when
PostgreSQL is back, and loses and doubles nothing: the stored rows are exactly
the distinct ids sent and the aggregates equal their recomputation.

Stops and starts the stack's PostgreSQL with scripts/stack.sh (same
ESCUCHA_* settings as the test run); it is started again whatever happens."""
import os
import subprocess
import threading
import time

import requests

from conftest import REPO, pb, scalar, unique, wait_until
from test_prioritize_flow import T0, aggregates_match, classified, fresh_group, send, start_prioritize

CATS = ["procedures", "waiting_times", "staff_attention", "information", "other"]


def stack(cmd):
    r = subprocess.run([os.path.join(REPO, "scripts", "stack.sh"), cmd], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "stack.sh %s: %s%s" % (cmd, r.stdout, r.stderr)


def pg_up():
    try:
        scalar("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 (psycopg2.OperationalError while starting)
        return False


def readyz(svc):
    try:
        return requests.get("http://127.0.0.1:%d/readyz" % svc.admin_port, timeout=2).status_code
    except requests.RequestException:
        return None


def stream(agency, first, n):
    """n messages with ids first.., over several hours, categories and partitions."""
    out = []
    for i in range(first, first + n):
        cat = CATS[i % len(CATS)]
        out.append(classified("%s-%06d" % (agency, i), agency, cat, T0 + i * 15000,
                              [pb.POSITIVE, pb.NEUTRAL, pb.NEGATIVE][i % 3],
                              nps=i % 11 if i % 4 else None, csat=1 + i % 5 if i % 3 else None,
                              sub="%s/sub%d" % (cat, i % 3), confidence=0.3 if i % 7 == 0 else 0.9))
    return out


def test_pg_down_pauses_consumption_loses_nothing_and_resumes(services):
    agency = unique("pgdown")
    group = fresh_group()
    svc = start_prioritize(services, group, ESCUCHA_BATCH_SIZE="500")
    wait_until(lambda: readyz(svc) == 200, 30, what="ready")
    # 1. A first part of the stream is stored while PostgreSQL is up.
    first = stream(agency, 0, 6000)
    send(first, agency)
    count = "SELECT count(*) FROM feedback WHERE agency = %s"
    wait_until(lambda: scalar(count, (agency,)) > 0, 60, interval=0.1, what="first rows stored")
    try:
        # 2. PostgreSQL stops while the stream goes on (ids overlap the first part:
        #    a replayed tail must not be stored or counted twice).
        stack("pg-stop")
        down_at = time.monotonic()
        rest = stream(agency, 5000, 9000)
        sender = threading.Thread(target=send, args=(rest, agency))
        sender.start()
        wait_until(lambda: readyz(svc) == 503, 60, interval=0.2, what="/readyz 503 while pg is down")
        wait_until(lambda: svc.metric("escucha_prioritize_paused") == 1, 30, interval=0.2,
                   what="escucha_prioritize_paused 1")
        assert svc.metric("escucha_prioritize_pg_errors_total") >= 1
        sender.join(120)
        assert not sender.is_alive()
        # Still paused a while later: it keeps retrying, it does not give up or skip.
        time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))
        assert readyz(svc) == 503
        assert svc.metric("escucha_prioritize_paused") == 1
        consumed_while_down = svc.metric('escucha_prioritize_messages_total{result="ok"}')
        time.sleep(1.5)
        # Paused partitions: at most the batches already held are counted.
        assert svc.metric('escucha_prioritize_messages_total{result="ok"}') - consumed_while_down <= 1000
    finally:
        stack("pg-start")
    wait_until(pg_up, 60, interval=0.2, what="postgres back")
    # 3. It resumes by itself and stores everything exactly once.
    distinct = 5000 + 9000
    wait_until(lambda: scalar(count, (agency,)) == distinct, 120, interval=0.2,
               what="all distinct ids stored after PostgreSQL came back")
    wait_until(lambda: readyz(svc) == 200, 30, interval=0.2, what="/readyz 200 again")
    assert svc.metric("escucha_prioritize_paused") == 0
    wait_until(lambda: svc.metric('escucha_prioritize_messages_total{result="ok"}') >=
               len(first) + len(rest), 60, interval=0.2, what="every message consumed")
    time.sleep(0.5)  # nothing more may arrive
    assert scalar(count, (agency,)) == distinct
    aggregates_match(agency)
    assert scalar("SELECT sum(total) FROM topic_window_stats WHERE agency = %s AND topic = '*' "
                  "AND window_kind = 'week'", (agency,)) == distinct
    assert svc.metric("escucha_prioritize_rows_written_total") == distinct
