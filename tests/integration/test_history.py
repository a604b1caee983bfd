"""History from day one (close-the-loop issue): a trusted source of history (a key
with the backfill role; `escucha-ingest import --trust-created-at on`) has its items
filed at their own created_at, so weekly aggregates land in the weeks they were
written; an ordinary submit key (and admin) keeps received_at = now. On an agency
that already has current feedback, the backfill neither ranks its past windows
nor opens plans for them (prioritize's event-time "now" never moves backwards)."""
import datetime as dt
import json
import hashlib
import os
import subprocess

import requests

from conftest import BIN, BROKERS, HTTP_PORT, REDIS_URL, REPO, read_topic, sql, topic_ends, unique, wait_until

UTC = dt.timezone.utc


def post(path, body, key, ctype="application/json"):
    data = body if isinstance(body, bytes) else None
    return requests.post("http://127.0.0.1:%d%s" % (HTTP_PORT, path), data=data, json=None if data else body,
                         headers={"Authorization": "Bearer " + key, "Content-Type": ctype}, timeout=30)


def monday(d):
    d = d.replace(hour=0, minute=0, second=0, microsecond=0)
    return d - dt.timedelta(days=d.weekday())


def test_backfill_key_files_history_in_its_own_weeks(services, tmp_path):
    agency = "hist-" + unique()
    trusted, plain, admin = ("k-" + unique() for _ in range(3))
    keys = tmp_path / "keys"
    keys.write_text("%s:submit,backfill:%s\n%s:submit:%s\n%s:admin:%s\n" % (
        agency, hashlib.sha256(trusted.encode()).hexdigest(), agency, hashlib.sha256(plain.encode()).hexdigest(),
        agency, hashlib.sha256(admin.encode()).hexdigest()))
    services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_API_KEYS_FILE": str(keys), "ESCUCHA_RATE_LIMIT": "0"})
    cls = services.start("classify")
    services.start("prioritize", env={"ESCUCHA_BATCH_MS": "50"})
    now = dt.datetime.now(UTC)
    u = unique().split("-")[1]
    requests_since = topic_ends("escucha.actions.requested.v1")

    # the agency's present: one item now, ranked
    r = post("/v1/feedback", {"text": "La espera en la oficina fue de tres horas " + u}, plain)
    assert r.status_code == 202, r.text
    wait_until(lambda: sql("SELECT count(*) FROM priorities WHERE agency = %s", (agency,))[0][0], 120, 0.2,
               "the present ranked")
    ranked_before = sql("SELECT min(window_start) FROM priorities WHERE agency = %s", (agency,))[0][0]

    # six weeks of history: week w has 2 + w items, written on the Wednesday of that week
    weeks = {}
    lines = []
    for w in range(1, 7):
        day = monday(now) - dt.timedelta(weeks=w) + dt.timedelta(days=2, hours=10)
        weeks[monday(day)] = 2 + w
        for i in range(2 + w):
            lines.append(json.dumps({"text": "Esperé %d horas para ser atendido, pésimo %s %d %d" % (i + 2, u, w, i),
                                     "external_id": "h-%s-%d-%d" % (u, w, i),
                                     "created_at": (day + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}))
    # an urgent report among the history: flagged, but weeks old: no case is opened for it now
    old = monday(now) - dt.timedelta(weeks=2) + dt.timedelta(days=2, hours=10)
    weeks[monday(old)] += 1
    lines.append(json.dumps({"text": "Mi expareja me amenazó con matarme %s" % u, "external_id": "h-%s-urgent" % u,
                             "created_at": (old + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}))
    r = post("/v1/feedback:batch", "\n".join(lines).encode(), trusted, "application/x-ndjson")
    assert r.status_code in (200, 202) and r.json()["accepted"] == len(lines), r.text
    # the same kind of dated item from an ordinary submit key and from an admin key: filed now
    three_weeks = (now - dt.timedelta(weeks=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = {}
    for name, key in (("plain", plain), ("admin", admin)):
        r = post("/v1/feedback", {"text": "Nadie contesta el teléfono %s %s" % (name, u), "created_at": three_weeks},
                 key)
        assert r.status_code == 202, r.text
        ids[name] = r.json()["id"]
    total = len(lines) + 3
    wait_until(lambda: sql("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))[0][0] == total, 180, 0.3,
               "every item stored")

    # trusted: received_at = created_at; the others: received now, created_at kept as given
    rows = sql("SELECT received_at, created_at FROM feedback WHERE agency = %s AND external_id LIKE %s",
               (agency, "h-" + u + "-%"))
    assert len(rows) == len(lines) and all(r[0] == r[1] for r in rows), rows[:3]
    for name in ("plain", "admin"):
        rec, cre = sql("SELECT received_at, created_at FROM feedback WHERE id = %s", (ids[name],))[0]
        assert abs((rec - now).total_seconds()) < 600 and cre.strftime("%Y-%m-%dT%H:%M:%SZ") == three_weeks, name

    assert sql("SELECT urgent FROM feedback WHERE agency = %s AND external_id = %s", (agency, "h-%s-urgent" % u))[0][0]
    assert cls.metric("escucha_classify_cases_too_old_total") >= 1
    assert not read_topic("escucha.actions.requested.v1", lambda m: (m.key() or b"").startswith(agency.encode()), 1,
                          timeout=5, since=requests_since), "a case request for imported history"

    # the weekly aggregates of the agency, in the weeks the history was written
    # (prioritize's derive thread applies them just after the rows)
    def weekly():
        return dict(sql("SELECT window_start, total FROM topic_window_stats WHERE agency = %s AND topic = '*'"
                        " AND window_kind = 'week' AND window_start < %s", (agency, monday(now))))
    wait_until(lambda: weekly() == weeks, 60, 0.2, "the weekly aggregates of the history")
    # and nothing of the past was ranked, nor a plan opened for it
    assert sql("SELECT min(window_start) FROM priorities WHERE agency = %s", (agency,))[0][0] >= ranked_before
    assert sql("SELECT count(*) FROM action_plans WHERE agency = %s AND opened_at < %s",
               (agency, now - dt.timedelta(hours=1)))[0][0] == 0


def test_import_trust_created_at(services, tmp_path):
    """`escucha-ingest import --trust-created-at`: the CSV's rows at their own dates; without the flag, now."""
    services.start("classify")
    services.start("prioritize", env={"ESCUCHA_BATCH_MS": "50"})
    u = unique().split("-")[1]
    now = dt.datetime.now(UTC)
    for trust, agency in ((True, "imp-t-" + u), (False, "imp-n-" + u)):
        csv = tmp_path / ("h-%s.csv" % trust)
        with open(csv, "w", encoding="utf-8") as f:
            f.write("text,created_at,external_id\n")
            for i in range(4):
                f.write("El bus no pasó en toda la mañana %s %d,%s,%s-%d\n" % (
                    u, i, (now - dt.timedelta(days=20 + i)).strftime("%Y-%m-%d"), agency, i))
        env = dict(os.environ, ESCUCHA_KAFKA_BROKERS=BROKERS, ESCUCHA_REDIS_URL=REDIS_URL)
        args = [os.path.join(BIN, "escucha-ingest"), "import", str(csv), "--agency", agency]
        p = subprocess.run(args + (["--trust-created-at", "on"] if trust else []), capture_output=True, text=True,
                           timeout=120, cwd=REPO, env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        wait_until(lambda: sql("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))[0][0] == 4, 120, 0.3,
                   "imported rows stored")
        rows = sql("SELECT received_at, created_at FROM feedback WHERE agency = %s", (agency,))
        if trust:
            assert all(r[0] == r[1] and (now - r[0]).days >= 19 for r in rows), rows
        else:
            assert all(abs((r[0] - now).total_seconds()) < 600 and (now - r[1]).days >= 19 for r in rows), rows


def test_inbound_topic_trusted_only_when_configured(services):
    """The inbound topic: received now by default; with --inbound-trust-created-at on (an agency
    system replaying its own records), at each message's created_at."""
    from conftest import producer
    services.start("classify")
    services.start("prioritize", env={"ESCUCHA_BATCH_MS": "50"})
    u = unique().split("-")[1]
    now = dt.datetime.now(UTC)
    when = (now - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for trust, agency in ((False, "inb-n-" + u), (True, "inb-t-" + u)):
        ing = services.start("ingest", http_port=HTTP_PORT,
                             env={"ESCUCHA_INBOUND_TRUST_CREATED_AT": "on" if trust else "off"})
        p = producer()
        p.produce("escucha.feedback.inbound.v1", key=agency.encode(), value=json.dumps(
            {"agency": agency, "text": "El consultorio cerró sin aviso " + u, "created_at": when,
             "external_id": "inb-" + agency}).encode())
        p.flush(30)
        wait_until(lambda: sql("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))[0][0] == 1, 120, 0.3,
                   "the inbound message stored")
        rec, cre = sql("SELECT received_at, created_at FROM feedback WHERE agency = %s", (agency,))[0]
        assert cre.strftime("%Y-%m-%dT%H:%M:%SZ") == when
        if trust:
            assert rec == cre
        else:
            assert abs((rec - now).total_seconds()) < 600
        assert ing.stop() == 0
