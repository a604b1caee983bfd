"""Helpers for the escucha-actions integration tests (tests/integration/
test_actions_*.py): local fake servers, planted evidence in PostgreSQL,
ActionRequests on Kafka, and the rows/messages a ticket leaves behind.

Imported by the tests after conftest (which knows the stack's settings)."""
import email
import email.policy
import html
import json
import os
import random
import select
import subprocess
import time
import uuid

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = "/usr/bin/python3"
REQUESTED = "escucha.actions.requested.v1"
STATUS_TOPIC = "escucha.actions.v1"

TOPIC_TEXTS = [
    "Esperé tres horas en la fila de la oficina y nadie me atendió",
    "La fila para ser atendido en la oficina es eterna, tres horas de espera",
    "Tres horas de espera en la fila, un solo funcionario atendiendo la oficina",
    "En la oficina la espera en la fila supera las dos horas cada vez",
    "Demasiada espera en la fila de la oficina, perdí la mañana completa",
    "La espera para ser atendido fue de casi cuatro horas en la fila",
    "Horas de espera en la fila de la oficina con la sala llena",
    "Nadie informa cuánto dura la espera en la fila de la oficina",
]
REST_TEXTS = [
    "El formulario web no guarda los datos y se cae la página",
    "Me cobraron dos veces el pago del permiso en línea",
    "La funcionaria fue muy amable y resolvió mi problema",
    "No encuentro información clara sobre los requisitos del trámite",
    "El baño del edificio estaba sucio y sin papel",
    "La aplicación móvil no permite subir documentos",
    "El sitio web está caído desde la mañana",
    "Excelente atención del guardia en la entrada",
    "No hay rampa para sillas de ruedas en la entrada",
    "El certificado llegó con mi nombre mal escrito",
]


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def sql(dsn, query, args=None):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def plant_feedback(dsn, agency, category="waiting_times", sub="waiting_times/queue_wait", topic_texts=None):
    """Topic texts (category/sub; TOPIC_TEXTS unless given) and background texts for one agency."""
    rows = []
    for i, t in enumerate(topic_texts or TOPIC_TEXTS):
        rows.append((unique("fb"), agency, t, category, sub, "NEGATIVE"))
    cats = ["digital_channels", "payments_fees", "staff_attention", "information", "facilities"]
    for i, t in enumerate(REST_TEXTS):
        rows.append((unique("fb"), agency, t, cats[i % len(cats)], None, "NEUTRAL"))
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        for r in rows:
            cur.execute("INSERT INTO feedback (id, agency, channel, text, language, received_at, category, "
                        "subcategory, sentiment, confidence) VALUES (%s, %s, 'WEB', %s, 'es', now(), %s, %s, %s, 0.9)",
                        r)
    return rows


def shown(desc):
    """A Textile ticket description (Redmine's default markup, escaped by
    escucha-actions with numeric entities and word joiners) as a reader sees
    its characters."""
    return html.unescape(desc).replace("\u2060", "")


def action_request(pb, agency, topic="waiting_times", request_id=None, volume=8):
    r = pb.ActionRequest()
    r.agency, r.topic = agency, topic
    r.request_id = request_id or unique("req")
    r.requested_at = int(time.time() * 1000)
    p = r.priority
    p.agency, p.topic, p.window = agency, topic, "day"
    p.volume, p.negative_share = volume, 0.75
    p.negative_ci.low, p.negative_ci.high = 0.41, 0.93
    p.spike_z, p.nps, p.nps_impact, p.score, p.rank = 3.2, -20.0, -6.5, 0.81, 1
    p.explanation_es = "volumen alto y negativo"
    p.explanation_en = "high and negative volume"
    return r


def produce(producer, req, key=None):
    producer.produce(REQUESTED, key=(key or "%s/%s" % (req.agency, req.topic)).encode(),
                     value=req.SerializeToString())
    assert producer.flush(15) == 0, "ActionRequest not delivered"


def taxonomy_routed(path, routing):
    """The default taxonomy with every category routed to `routing`."""
    with open(os.path.join(REPO, "config", "taxonomy.default.json")) as f:
        tax = json.load(f)
    for c in tax["categories"]:
        c["routing"] = dict(routing)
        for s in c.get("subcategories", []):
            s.pop("routing", None)
    with open(path, "w") as f:
        json.dump(tax, f)
    return path


def action_row(dsn, request_id):
    """(plan_id, tool, external_key, url, status, closed_at, summary, quotes, recommendations) or None."""
    r = sql(dsn, "SELECT p.id, a.tool, a.external_key, a.url, a.status, a.closed_at, p.summary, p.quotes, "
                 "p.recommendations FROM action_plans p JOIN actions a ON a.plan_id = p.id "
                 "WHERE p.request_id = %s", (request_id,))
    assert r is None or len(r) <= 1, "more than one actions row for a plan: %r" % (r,)
    return r[0] if r else None


def audit(dsn, plan_id, action):
    return sql(dsn, "SELECT count(*) FROM audit_log WHERE entity = 'action_plan' AND entity_id = %s "
                    "AND action = %s", (plan_id, action))[0][0]


class FakeServer:
    """A python server from tests/contract that prints "PORT n" on stdout."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([PY, os.path.join(HERE, script)] + list(args), stdout=subprocess.PIPE, bufsize=0,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.stop()
                raise AssertionError("%s did not report its port" % script)
            ch = self.proc.stdout.read(1)
            if not ch:
                self.stop()
                raise AssertionError("%s exited" % script)
            line += ch
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def sink_mails(outdir):
    """What smtp_server.py received in outdir, oldest first: [(envelope recipients, parsed message)]."""
    out = []
    for f in sorted((f for f in os.listdir(outdir) if f.endswith(".eml")), key=lambda f: int(f.split(".")[0])):
        with open(os.path.join(outdir, f), "rb") as fh:
            raw = fh.read()
        head, _, rest = raw.partition(b"\r\n")
        rcpt, _, rest = rest.partition(b"\r\n")
        assert head.startswith(b"X-Envelope-From: ") and rcpt.startswith(b"X-Envelope-To: ")
        out.append((rcpt.split(b": ", 1)[1].decode(), email.message_from_bytes(rest, policy=email.policy.default)))
    return out


def vendor_server():
    # ids far from a real Redmine's and from earlier runs' (tickets are keyed by tool + id)
    return FakeServer("vendor_server.py", "--seq-base", str(random.randrange(10**6, 10**9)))
