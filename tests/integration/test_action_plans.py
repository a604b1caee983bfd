"""Action plans worth acting on, against the real stack: rows planted in
PostgreSQL with one concentration (a service with several times the agency's
negative rate on one subcategory), an ActionRequest on Kafka, the Redmine
connector pointed at the contract fake. The stored plan (action_plans.detail)
and the ticket body name that service first with its lift, lead with that
subcategory's own actions, carry links to the items, an owner, a due date and
a success measure; URGENTE only with urgent items, and their count."""
import datetime
import json
import os
import re
import subprocess
import sys

import psycopg2
import pytest
import requests

from conftest import PG_DSN, REPO, pb, producer, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402

TOKEN = "tok-redmine-secret"
SERVICE = "Registro Civil Centro"
SUB_A, SUB_B = "waiting_times/queue_wait", "waiting_times/appointment_delay"
DASH = "http://dash.example:8081/"

NEG_A = ["La fila para sacar número en el registro demoró más de dos horas",
         "Estuve tres horas en la fila sin que avanzara, solo había una ventanilla",
         "La espera en la fila del registro es eterna, nadie organiza los números",
         "Hice fila toda la mañana y cerraron la ventanilla antes de atenderme"]
POS = ["Me atendieron rápido en la fila con número y pantalla de turnos, muy bien",
       "La fila avanzó rápido gracias al sistema de números, excelente atención"]


@pytest.fixture(scope="module")
def vendor():
    v = it.vendor_server()
    yield v
    v.stop()


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory):
    path = it.taxonomy_routed(str(tmp_path_factory.mktemp("tax") / "taxonomy.json"), {"tool": "redmine"})
    with open(path) as f:
        tax = json.load(f)
    for c in tax["categories"]:
        if c["id"] == "waiting_times":
            c["routing"]["assignee"] = "jefa.operaciones"
            c["sla_days"] = {"urgent": 2, "normal": 10}
    with open(path, "w") as f:
        json.dump(tax, f)
    return path


def default_actions(sub, lang="es"):
    """The shipped taxonomy's actions of sub, in lang."""
    with open(os.path.join(it.REPO, "config", "taxonomy.default.json")) as f:
        tax = json.load(f)
    for c in tax["categories"]:
        for s in c["subcategories"]:
            if s["id"] == sub:
                return [a[lang] if isinstance(a, dict) else a for a in s["actions"]]
    raise KeyError(sub)


def plant(agency, urgent=0):
    """Agency rows: background (1 in 10 negative), then the topic: 14 negative
    items of SUB_A at SERVICE (the concentration), 12 items of SUB_A and 12 of
    SUB_B elsewhere (3 negative each), 2 positive ones; `urgent` of the
    planted negatives flagged urgent. Returns (ids of SERVICE rows, agency
    rate)."""
    rows = []
    for i in range(100):
        cat = ["digital_channels", "payments_fees", "information", "facilities"][i % 4]
        sent = "NEGATIVE" if i % 10 == 0 else "NEUTRAL"
        rows.append((cat, None, "Oficina Norte", sent, "Comentario general número %d sobre el servicio" % i, False))
    planted = []
    for i in range(14):
        rows.append(("waiting_times", SUB_A, SERVICE, "NEGATIVE", NEG_A[i % len(NEG_A)] + " (%d)" % i, i < urgent))
        planted.append(len(rows) - 1)
    for sub in (SUB_A, SUB_B):
        for i in range(12):
            sent = "NEGATIVE" if i < 3 else "NEUTRAL"
            rows.append(("waiting_times", sub, "Oficina Sur", sent, "La espera por %s fue de %d minutos" % (sub, i),
                         False))
    for t in POS:
        rows.append(("waiting_times", SUB_A, "Oficina Sur", "POSITIVE", t, False))
    ids = []
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        for (cat, sub, svc, sent, text, urg) in rows:
            fid = it.unique("fb")
            ids.append(fid)
            cur.execute("INSERT INTO feedback (id, agency, service, channel, text, language, received_at, category, "
                        "subcategory, sentiment, confidence, urgent) VALUES (%s, %s, %s, 'WEB', %s, 'es', now(), "
                        "%s, %s, %s, 0.9, %s)", (fid, agency, svc, text, cat, sub, sent, urg))
    neg = sum(1 for r in rows if r[3] == "NEGATIVE")
    return [ids[i] for i in planted], neg / len(rows)


def grow(agency):
    """40 more negative items of SUB_B: the topic doubles and SUB_B comes first."""
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        for i in range(40):
            cur.execute("INSERT INTO feedback (id, agency, service, channel, text, language, received_at, category, "
                        "subcategory, sentiment, confidence) VALUES (%s, %s, 'Oficina Oeste', 'WEB', %s, 'es', now(), "
                        "'waiting_times', %s, 'NEGATIVE', 0.9)",
                        (it.unique("fb"), agency, "No hay horas para pedir cita en meses (%d)" % i, SUB_B))


def env_for(vendor, taxonomy):
    return {"ESCUCHA_TAXONOMY": taxonomy, "ESCUCHA_REDMINE_BASE_URL": vendor.url + "/redmine",
            "ESCUCHA_REDMINE_TOKEN": TOKEN, "ESCUCHA_REDMINE_PROJECT": "escucha", "ESCUCHA_POLL_INTERVAL_S": "60",
            "ESCUCHA_RETRY_BASE_MS": "20", "ESCUCHA_RETRY_MAX": "2", "ESCUCHA_LOCK_TTL_MS": "1500",
            "ESCUCHA_HTTP_TIMEOUT_MS": "5000", "ESCUCHA_LANG": "es", "ESCUCHA_DASHBOARD_URL": DASH}


def ticket_of(vendor, ext):
    r = requests.get(vendor.url + "/redmine/issues/%s.json" % ext, headers={"X-Redmine-API-Key": TOKEN}, timeout=5)
    r.raise_for_status()
    return r.json()["issue"]


def plan_of(request_id):
    r = it.sql(PG_DSN, "SELECT p.detail, p.summary, p.recommendations, p.quotes, a.external_key FROM action_plans p "
                       "JOIN actions a ON a.plan_id = p.id WHERE p.request_id = %s", (request_id,))
    return r[0] if r else None


def test_planted_concentration_drives_the_plan(services, vendor, taxonomy):
    agency = it.unique("ag")
    planted, rate = plant(agency)
    svc = services.start("actions", env=env_for(vendor, taxonomy))
    req = it.action_request(pb, agency, volume=40)
    it.produce(producer(), req)
    detail, summary, recs, quotes, ext = wait_until(lambda: plan_of(req.request_id), 60, 0.1, "the plan and ticket")

    # the service is the top concentration, with its lift over the agency's rate
    top = detail["concentrations"][0]
    assert (top["dimension"], top["value"]) == ("service", SERVICE), detail["concentrations"]
    assert top["n"] == 14 and top["negatives"] == 14
    assert abs(top["lift"] - 1.0 / rate) < 1e-6 and top["lift_low"] > 1 and top["lift_high"] >= top["lift"]
    assert all(c["rate_low"] > rate for c in detail["concentrations"])  # only significant ones
    assert abs(detail["counts"]["agency_negatives"] / detail["counts"]["agency_n"] - rate) < 1e-9

    # the driving subcategory's own actions lead; no generic step
    assert [d["subcategory"] for d in detail["drivers"]] == [SUB_A, SUB_B]
    assert recs[:2] == default_actions(SUB_A)
    assert default_actions(SUB_B)[0] in recs and len(recs) <= 5
    assert not detail["generic_recommendation"]

    # evidence: quotes of the driver, a positive counter-example; owner, due date, success measure
    assert quotes and quotes[0]["subcategory"] == SUB_A
    assert detail["counter_example"]["text"] in POS
    assert detail["owner"] == "jefa.operaciones" and detail["sla_days"] == 10
    due = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=10)).isoformat()
    assert detail["due_date"] == due
    assert abs(detail["success"]["target_negative_share"] - rate) < 1e-9
    assert detail["urgent_items"] == 0

    # the ticket says it in plain words, with links to the items
    ticket = ticket_of(vendor, ext)
    text = it.shown(ticket["description"])
    lift = ("%.1f" % (1.0 / rate)).replace(".", ",")
    assert "Se concentran sobre todo en el servicio «%s»" % SERVICE in summary
    assert "«%s»" % SERVICE in text and "Es %s veces la tasa de la institución" % lift in text
    assert recs[0] in text and "Responsable: jefa.operaciones." in text and "Plazo: %s (10 días)." % due in text
    assert "Meta: Durante 2 semanas seguidas" in text and "Lo que funciona" in text
    assert any(DASH + "#/feedback/" + fid in text for fid in planted)
    assert "URGENTE" not in ticket["subject"] and "urgente" not in summary
    assert "escucha-key: " in ticket["description"]
    assert svc.proc.poll() is None


def test_urgent_only_from_urgent_items(services, vendor, taxonomy):
    agency = it.unique("ag")
    plant(agency, urgent=2)
    services.start("actions", env=env_for(vendor, taxonomy))
    req = it.action_request(pb, agency, volume=40)
    it.produce(producer(), req)
    detail, summary, _, _, ext = wait_until(lambda: plan_of(req.request_id), 60, 0.1, "the plan and ticket")
    assert detail["urgent_items"] == 2 and detail["sla_days"] == 2
    assert "2 comentarios están marcados como urgentes" in summary
    assert "URGENTE (2)" in ticket_of(vendor, ext)["subject"]


def test_plan_follows_the_problem(services, vendor, taxonomy):
    """The topic grows and another subcategory comes first: the next request
    for the plan adds one comment to the ticket; a third request, with
    nothing new, adds none."""
    agency = it.unique("ag")
    plant(agency)
    svc = services.start("actions", env=env_for(vendor, taxonomy))
    prod = producer()
    req = it.action_request(pb, agency, volume=40)
    it.produce(prod, req)
    detail, _, _, _, ext = wait_until(lambda: plan_of(req.request_id), 60, 0.1, "the plan and ticket")
    plan_id = it.action_row(PG_DSN, req.request_id)[0]
    assert detail["reported"]["topic_n"] == 40 and detail["reported"]["drivers"][0]["subcategory"] == SUB_A
    assert ticket_of(vendor, ext)["journals"] == []

    grow(agency)
    ok = lambda: svc.metric('escucha_actions_requests_total{result="ok"}')
    it.produce(prod, it.action_request(pb, agency, volume=80))
    wait_until(lambda: ok() >= 2, 60, 0.1, "the second request handled")
    assert it.audit(PG_DSN, plan_id, "plan_updated") == 1
    (note,) = [j["notes"] for j in ticket_of(vendor, ext)["journals"]]
    text = it.shown(note)
    assert "El tema creció: 80 comentarios en los últimos 14 días; antes eran 40." in text, text
    assert "Cambió lo que más pesa: ahora «Demora para obtener cita»" in text and "antes «Espera en la oficina o fila»" in text
    assert "Primera acción recomendada: %s." % default_actions(SUB_B)[0] in text
    reported = it.sql(PG_DSN, "SELECT detail->'reported' FROM action_plans WHERE id = %s", (plan_id,))[0][0]
    assert reported["topic_n"] == 80 and reported["drivers"][0]["subcategory"] == SUB_B

    it.produce(prod, it.action_request(pb, agency, volume=80))
    wait_until(lambda: ok() >= 3, 60, 0.1, "the third request handled")
    assert it.audit(PG_DSN, plan_id, "plan_updated") == 1
    assert len(ticket_of(vendor, ext)["journals"]) == 1
    no_violations = requests.get(vendor.url + "/__violations", timeout=5).json()["violations"]
    assert no_violations == [], no_violations


@pytest.fixture(scope="module")
def redmine():
    """A real Redmine (scripts/redmine.sh, as in test_actions_redmine.py)."""
    script = os.path.join(REPO, "scripts", "redmine.sh")
    was_running = subprocess.run([script, "status"], capture_output=True).returncode == 0
    p = subprocess.run([script, "start"], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, "scripts/redmine.sh start failed:\n%s" % p.stderr[-3000:]
    yield dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
    if not was_running:
        subprocess.run([script, "stop"], capture_output=True, timeout=60)


def test_real_redmine_links_and_follow_up(services, redmine, taxonomy):
    """The same against a real Redmine: the description's dashboard links are
    links there, and the change is one journal note."""
    rm = lambda path: requests.get(redmine["ESCUCHA_REDMINE_BASE_URL"] + path, timeout=15,
                                   headers={"X-Redmine-API-Key": redmine["ESCUCHA_REDMINE_TOKEN"]})
    env = {k: v for k, v in redmine.items() if k.startswith("ESCUCHA_")}
    env.update({"ESCUCHA_TAXONOMY": taxonomy, "ESCUCHA_POLL_INTERVAL_S": "60", "ESCUCHA_RETRY_BASE_MS": "20",
                "ESCUCHA_RETRY_MAX": "2", "ESCUCHA_LANG": "es", "ESCUCHA_DASHBOARD_URL": DASH})
    agency = it.unique("ag")
    planted, _ = plant(agency)
    svc = services.start("actions", env=env)
    prod = producer()
    req = it.action_request(pb, agency, volume=40)
    it.produce(prod, req)
    _, _, _, _, ext = wait_until(lambda: plan_of(req.request_id), 60, 0.1, "the plan and ticket")
    page = rm("/issues/%s" % ext)
    page.raise_for_status()
    hrefs = re.findall(r'href="(%s#/feedback/[^"]+)"' % re.escape(DASH), page.text)
    ids = [h[len(DASH) + len("#/feedback/"):] for h in hrefs]
    mine = {r[0] for r in it.sql(PG_DSN, "SELECT id FROM feedback WHERE agency = %s", (agency,))}
    assert ids and set(ids) <= mine and set(ids) & set(planted), (ids, planted)

    grow(agency)
    it.produce(prod, it.action_request(pb, agency, volume=80))
    ok = lambda: svc.metric('escucha_actions_requests_total{result="ok"}')
    wait_until(lambda: ok() >= 2, 60, 0.1, "the second request handled")
    journals = rm("/issues/%s.json?include=journals" % ext).json()["issue"]["journals"]
    notes = [it.shown(j["notes"]) for j in journals if j.get("notes")]
    assert len(notes) == 1 and "El tema creció: 80 comentarios" in notes[0], notes
