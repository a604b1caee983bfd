"""The hardening issue's probes against the running ingest (real Kafka and Redis):
personal data in every field, identical comments from different people kept,
agencies' dedup keys apart, strict fields refused naming the field."""
import json
import subprocess
import time

import requests

from conftest import (HTTP_PORT, REDIS_PORT, feedback_of, pb, post_json, producer, read_topic, topic_ends, unique,
                      wait_until)

INGESTED = "escucha.feedback.ingested.v1"


def ingested(ids, timeout=60):
    ids = set(ids)
    out = {}
    for m in read_topic(INGESTED, lambda m: (m.key() or b"").decode("utf-8", "replace") in ids, len(ids), timeout):
        fb = pb.Feedback()
        fb.ParseFromString(m.value())
        out[fb.id] = fb
    return out


def redis(*args):
    return subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "--raw"] + list(args), check=True,
                          capture_output=True, text=True, timeout=10).stdout.strip()


def test_personal_data_redacted_in_every_field(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    body = {"text": "Reclamo por la luminaria apagada " + u,
            "service": "Alumbrado, avisar a juan\u200b@example.com",
            "location": {"lat": -33.45, "lon": -70.66, "address": "Av. Matta 100, fono 56-9-1234-5678"},
            "attributes": {"tarjeta": "4111 1111 1111 1111", "correo": "\uff4a\uff55\uff41\uff4e\uff20example.cl",
                           "rut": "12.345.678-5", "canal": "web municipal"}}
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 202, r.text
    fid = r.json()["id"]
    msg = read_topic(INGESTED, lambda m: (m.key() or b"").decode("utf-8", "replace") == fid, 1)[0]
    raw = msg.value()
    for secret in (b"4111", b"example.com", b"12.345.678", b"1234-5678", "\uff4a\uff55\uff41\uff4e".encode()):
        assert secret not in raw, secret
    fb = feedback_of(msg)
    assert fb.service == "Alumbrado, avisar a [EMAIL]"
    assert fb.location.address == "Av. Matta 100, fono [PHONE]" and fb.location.lat == -33.45
    assert dict(fb.attributes) == {"tarjeta": "[CARD]", "correo": "[EMAIL]", "rut": "[RUT]", "canal": "web municipal"}
    red = fb.redactions
    assert (red.email, red.card, red.rut, red.phone) == (2, 1, 1, 1)
    # identifiers are not redacted but refused when they are personal data
    r = post_json("/v1/feedback", {"text": "hola " + u, "external_id": "juan@example.com"}, api_key)
    assert r.status_code == 400 and r.json()["error"]["field"] == "external_id", r.text
    assert "juan" not in r.text


def test_identical_comments_from_different_people_are_kept(services, api_key):
    services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_DEDUP_ANONYMOUS_WINDOW": "3"})
    u = unique()
    # the NHS sample: "Did not answer" from many patients, each with its own id and score
    same = [{"text": "Did not answer", "csat": 4, "external_id": "p%d-%s" % (i, u)} for i in range(8)]
    r = post_json("/v1/feedback:batch", same, api_key)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 8 and r.json()["duplicate"] == 0, r.text
    ids = [x["id"] for x in r.json()["results"]]
    assert len(set(ids)) == 8
    assert len(ingested(ids)) == 8
    # the same id re-sent is the same submission
    r = post_json("/v1/feedback", same[0], api_key)
    assert r.status_code == 200 and r.json()["id"] == ids[0] and r.json()["status"] == "duplicate", r.text

    # anonymous: another score is another answer; the same answer re-sent within the window is absorbed
    a = {"text": "Excellent service " + u, "channel": "survey", "nps": 0}
    ra = post_json("/v1/feedback", a, api_key)
    rb = post_json("/v1/feedback", dict(a, nps=10), api_key)
    assert ra.status_code == 202 and rb.status_code == 202, (ra.text, rb.text)
    rc = post_json("/v1/feedback", dict(a, service="otra"), api_key)
    assert rc.status_code == 202, rc.text
    r2 = post_json("/v1/feedback", a, api_key)
    assert r2.status_code == 200 and r2.json()["id"] == ra.json()["id"], r2.text
    # ... and only within the short anonymous window (3 s here): then it is a new answer
    deadline = time.monotonic() + 15
    while True:
        r3 = post_json("/v1/feedback", a, api_key)
        if r3.status_code == 202:
            break
        assert r3.status_code == 200 and time.monotonic() < deadline, r3.text
        time.sleep(0.5)
    assert r3.json()["id"] != ra.json()["id"]

    # a score without a comment is a survey answer, kept so CSAT/NPS count it
    r = post_json("/v1/feedback", {"csat": 5, "channel": "survey", "external_id": "blank-" + u}, api_key)
    assert r.status_code == 202, r.text
    fb = ingested([r.json()["id"]])[r.json()["id"]]
    assert fb.text == "" and fb.csat == 5


def test_agencies_dedup_keys_do_not_collide(services):
    ing = services.start("ingest", http_port=HTTP_PORT)
    u = unique().upper()
    p = producer()
    since = topic_ends(INGESTED)
    # agency "demo:x:zz" + id "P" used to share "escucha:dedup:demo:x:zz:x:P" with agency "demo" + id "zz:x:P"
    p.produce("escucha.feedback.inbound.v1", key=b"evil-" + u.encode(),
              value=json.dumps({"agency": "demo:x:zz", "external_id": "PRB8E" + u, "text": "primero " + u}).encode())
    p.flush(10)
    wait_until(lambda: ing.metric('escucha_ingest_items_total{result="rejected"}') >= 1, 30, what="colon agency refused")
    p.produce("escucha.feedback.inbound.v1", key=b"good-" + u.encode(),
              value=json.dumps({"agency": "demo", "external_id": "zz:x:PRB8E" + u, "text": "segundo " + u}).encode())
    p.flush(10)
    msgs = read_topic(INGESTED, lambda m: u in feedback_of(m).text, 1, 30, since=since)
    fb = feedback_of(msgs[0])
    assert fb.agency == "demo" and fb.external_id == "zz:x:PRB8E" + u
    assert ing.metric('escucha_ingest_items_total{result="duplicate"}') in (None, 0)


def test_strict_fields_refused_naming_the_field(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    cases = [
        ({"text": "x", "created_at": 9e15}, "created_at"),
        ({"text": "x", "created_at": "2024-05-01T10:00:00+25:00"}, "created_at"),
        ({"text": "x", "created_at": "2024-02-30"}, "created_at"),
        ({"text": "x", "created_at": "2100-01-01"}, "created_at"),
        ({"text": "x", "created_at": "2024-05-01", "createdAt": "2024-05-02"}, "created_at"),
        ({"text": "x", "language": "<i>"}, "language"),
        ({"text": "x", "language": "es\n"}, "language"),
        ({"text": "x", "nps": "7"}, "nps"),
        ({"text": "x", "location": {"lat": 10}}, "location.lon"),
        ({"text": "x", "attributes": {"k": "a" * 1023 + "\u00e9"}}, "attributes"),
        ({"text": "x", "external_id": "b" * 129}, "external_id"),
    ]
    for body, field in cases:
        r = post_json("/v1/feedback", body, api_key)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    # a raw NUL inside a string is not JSON: refused, never cut
    r = requests.post("http://127.0.0.1:%d/v1/feedback" % HTTP_PORT, data=b'{"text":"antes\x00despues"}',
                      headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and "NUL" in r.json()["error"]["message"], r.text
