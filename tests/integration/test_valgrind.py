"""The integration path under valgrind memcheck: each service, plain build (not ASan), a few
requests of every kind, then SIGTERM; any memcheck error or definite leak fails the test."""
import json
import os
import shutil

import requests

from conftest import ADMIN_BASE, HTTP_PORT, REPO, STATE, post_json, unique

VALGRIND = shutil.which("valgrind")
PLAIN_BIN = os.path.join(REPO, "build", "bin")


MEMCHECK = ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--suppressions=" + os.path.join(REPO, "tests", "valgrind.supp"),
            "--quiet"]


def test_valgrind_is_installed():
    assert VALGRIND, "valgrind missing: scripts/deps.sh installs it"


def test_ingest_under_memcheck(services, api_key):
    port = HTTP_PORT + 2
    ing = services.start("ingest", wrapper=MEMCHECK, bin_dir=PLAIN_BIN, http_port=port, admin_port=ADMIN_BASE + 52,
                         env={"ESCUCHA_WHATSAPP_AGENCY": "demo", "ESCUCHA_WHATSAPP_APP_SECRET": "s"})
    u = unique()
    assert post_json("/v1/feedback", {"text": "Memcheck " + u + " correo a@b.cl", "nps": 4}, api_key, port=port).status_code == 202
    assert post_json("/v1/feedback", {"text": "Memcheck " + u + " correo a@b.cl", "nps": 4}, api_key, port=port).status_code == 200
    assert post_json("/v1/feedback", "{bad", api_key, port=port).status_code == 400
    lines = "\n".join(json.dumps({"text": "vg batch %s %d" % (u, i)}) for i in range(20)) + "\n{oops"
    assert post_json("/v1/feedback:batch", lines, api_key, port=port, ctype="application/x-ndjson").status_code == 202
    r = requests.post("http://127.0.0.1:%d/open311/v2/requests.json" % port,
                      data={"service_code": "procedures", "description": "vg " + u},  # a taxonomy code: others are 400
                      headers={"Authorization": "Bearer " + api_key}, timeout=60)
    assert r.status_code == 201
    assert requests.post("http://127.0.0.1:%d/v1/channels/email" % port, data=b"Subject: vg %s\r\n\r\nbody" % u.encode(),
                         headers={"Authorization": "Bearer " + api_key, "Content-Type": "message/rfc822"},
                         timeout=60).status_code == 202
    assert requests.get("http://127.0.0.1:%d/metrics" % (ADMIN_BASE + 52), timeout=60).status_code == 200
    rc = ing.stop(timeout=120)
    assert rc == 0, "memcheck reported errors (exit %s):\n%s" % (rc, ing.log()[-6000:])


def test_classify_and_prioritize_under_memcheck(services):
    """Feedback in, classified by a memcheck'd classify, stored by a memcheck'd prioritize.
    Both groups start at the end of their topics (memcheck is too slow to replay what other
    tests left there), so each is shown to be consuming before the test's messages go in."""
    import psycopg2
    from conftest import PG_DSN, pb, producer, wait_until
    tag = unique("vg")
    latest = {"ESCUCHA_KAFKA_CONSUMER_CONFIG": "auto.offset.reset=latest"}
    pz = services.start("prioritize", wrapper=MEMCHECK, bin_dir=PLAIN_BIN, admin_port=ADMIN_BASE + 54,
                        env=dict(latest, ESCUCHA_GROUP="pz-" + tag, ESCUCHA_MIGRATIONS_DIR=""))
    p = producer()

    def probe():  # a classified message on every partition until prioritize has read one
        for part in range(3):
            m = pb.ClassifiedFeedback()
            m.feedback.id, m.feedback.agency, m.feedback.text = unique("probe"), tag + "-probe", "probe"
            m.feedback.received_at = m.feedback.created_at = 1714608000000
            m.classification.category, m.classification.confidence = "other", 0.1
            m.classification.sentiment = pb.NEUTRAL
            p.produce("escucha.feedback.classified.v1", m.SerializeToString(), partition=part)
        p.flush(30)
        return pz.metric("escucha_prioritize_messages_total") > 0
    wait_until(probe, 180, interval=2, what="memcheck'd prioritize consuming")
    cls = services.start("classify", wrapper=MEMCHECK, bin_dir=PLAIN_BIN, admin_port=ADMIN_BASE + 53,
                         env=dict(latest, ESCUCHA_GROUP="cl-" + tag, ESCUCHA_TRANSACTIONAL_ID="tx-" + tag))
    wait_until(lambda: cls.metric("escucha_classify_assigned_partitions") > 0, 180, interval=1,
               what="memcheck'd classify assigned")
    ids = []
    for i, text in enumerate(["La espera en el consultorio fue de cuatro horas",
                              "The website keeps crashing when I pay my fees",
                              "Me amenazaron en la fila, necesito ayuda urgente"]):
        f = pb.Feedback(id="%s-%d" % (tag, i), agency=tag, text=text, language="es", channel=pb.WEB,
                        received_at=1714608000000 + i, created_at=1714608000000 + i)
        ids.append(f.id)
        p.produce("escucha.feedback.ingested.v1", key=f.id.encode(), value=f.SerializeToString())
    p.produce("escucha.feedback.ingested.v1", key=("bad-" + tag).encode(), value=b"\xff\xfe not protobuf")
    p.flush(30)

    def stored():
        with psycopg2.connect(PG_DSN) as db, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM feedback WHERE agency = %s", (tag,))
            return cur.fetchone()[0]
    wait_until(lambda: stored() == len(ids), 240, interval=0.5, what="rows through memcheck'd services")
    for s in (cls, pz):
        rc = s.stop(timeout=180)
        assert rc == 0, "memcheck reported errors in %s (exit %s):\n%s" % (s.name, rc, s.log()[-6000:])
