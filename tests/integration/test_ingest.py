"""escucha-ingest against real Kafka, Redis (and the inbound topic)."""
import json
import os
import subprocess
import threading

import requests

from conftest import (ADMIN_BASE, BIN, feedback_of, HTTP_PORT, REPO, STATE, pb, post_json, producer, read_topic, unique,
                      wait_until)

SPANISH = ("Llevo tres semanas esperando la hora con el especialista en el CESFAM {u}. "
           "Escríbanme a juana.perez@correo.cl, mi RUT es 12.345.678-5.")


def ingested(ids, timeout=60):
    """Feedback protobufs from escucha.feedback.ingested.v1 whose id is in ids."""
    ids = set(ids)
    msgs = read_topic("escucha.feedback.ingested.v1", lambda m: (m.key() or b"").decode("utf-8", "replace") in ids, len(ids), timeout)
    out = {}
    for m in msgs:
        fb = pb.Feedback()
        fb.ParseFromString(m.value())
        out[fb.id] = fb
    return out


def test_post_redacts_dedups_and_counts(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT)
    text = SPANISH.format(u=unique())
    r = post_json("/v1/feedback", {"text": text, "service": "salud", "channel": "web", "nps": 3}, api_key)
    assert r.status_code == 202, r.text
    fid = r.json()["id"]
    assert r.json()["status"] == "accepted" and len(fid) == 26

    fb = ingested([fid])[fid]
    assert "juana.perez@correo.cl" not in fb.text and "12.345.678-5" not in fb.text
    assert "[EMAIL]" in fb.text and "[RUT]" in fb.text
    assert fb.redactions.email == 1 and fb.redactions.rut == 1
    assert fb.agency == "demo" and fb.language == "es" and fb.nps == 3
    assert fb.channel == pb.WEB and fb.received_at > 0 and len(fb.content_hash) == 32

    r2 = post_json("/v1/feedback", {"text": text, "service": "salud", "channel": "web", "nps": 3}, api_key)
    assert r2.status_code == 200, r2.text
    assert r2.json()["id"] == fid and r2.json()["status"] == "duplicate"

    r3 = post_json("/v1/feedback", '{"text": "hola", ', api_key)
    assert r3.status_code == 400
    err = r3.json()["error"]
    assert err["code"] == "malformed_json" and "line 1" in err["message"]

    m = ing.metrics()
    assert m['escucha_ingest_requests_total{route="feedback",status="202"}'] == 1
    assert m['escucha_ingest_requests_total{route="feedback",status="200"}'] == 1
    assert m['escucha_ingest_requests_total{route="feedback",status="400"}'] == 1
    assert m['escucha_ingest_redactions_total{kind="email"}'] == 1
    assert m["escucha_ingest_duplicates_total"] == 1


def test_external_id_dedup_and_validation_errors(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    ext = unique("ext")
    r = post_json("/v1/feedback", {"text": "The website crashed " + ext, "external_id": ext}, api_key)
    assert r.status_code == 202
    # same external id, different text: still the same submission
    r2 = post_json("/v1/feedback", {"text": "Different words", "external_id": ext}, api_key)
    assert r2.status_code == 200 and r2.json()["id"] == r.json()["id"]

    cases = [
        ({"text": "x", "nps": 11}, "nps"),
        ({"text": "x", "csat": 0}, "csat"),
        ({"channel": "web"}, "text"),   # a score alone is an answer; nothing at all is not
        ({"text": 42}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x", "channel": "pigeon"}, "channel"),
        ({"text": "x", "created_at": "yesterday"}, "created_at"),
        ({"text": "x", "location": {"lat": 100, "lon": 0}}, "location.lat"),
        ({"text": "x", "agency": "other-agency"}, "agency"),
    ]
    for body, field in cases:
        r = post_json("/v1/feedback", body, api_key)
        assert r.status_code in (400, 403), (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)

    url = "http://127.0.0.1:%d/v1/feedback" % HTTP_PORT
    assert requests.post(url, json={"text": "x"}).status_code == 401
    assert requests.post(url, json={"text": "x"}, headers={"Authorization": "Bearer nope"}).status_code == 401
    r = requests.post(url, data="text=x", headers={"Authorization": "Bearer " + api_key,
                                                  "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert requests.get(url, headers={"Authorization": "Bearer " + api_key}).status_code == 405
    big = json.dumps({"text": "a" * 100})
    r = requests.post(url, data=big + " " * (17 * 1024 * 1024),
                      headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = post_json("/v1/feedback", {"text": "b" * 20001}, api_key)
    assert r.status_code == 400 and r.json()["error"]["field"] == "text"


def test_rate_limit_answers_429_with_retry_after(services, api_key):
    port = HTTP_PORT + 1
    services.start("ingest", http_port=port, env={"ESCUCHA_RATE_LIMIT": "2", "ESCUCHA_INBOUND": "off"},
                   admin_port=ADMIN_BASE + 50)
    codes = [post_json("/v1/feedback", {"text": "rate " + unique()}, api_key, port=port) for _ in range(8)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert codes[0].status_code == 202


def test_batch_ndjson_and_array(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    lines = [json.dumps({"text": "Batch item %d %s" % (i, u), "csat": 1 + i % 5}) for i in range(50)]
    lines.insert(10, json.dumps({"text": "Batch item 3 %s" % u, "csat": 4}))  # duplicate of item 3
    lines.insert(20, '{"text": broken')
    lines.insert(30, json.dumps({"text": "bad nps", "nps": -1}))
    r = post_json("/v1/feedback:batch", "\n".join(lines) + "\n", api_key, ctype="application/x-ndjson")
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (50, 1, 2)
    res = body["results"]
    assert res[10]["status"] == "duplicate" and res[10]["id"] == res[3]["id"]
    assert res[20]["status"] == "rejected" and res[20]["error"]["field"] == "line 21"
    assert res[30]["error"]["field"] == "line 31: nps"
    ids = [x["id"] for x in res if x["status"] == "accepted"]
    assert len(ingested(ids)) == 50

    arr = [{"text": "Array item %d %s" % (i, u)} for i in range(5)] + [{"text": 1}]
    r = post_json("/v1/feedback:batch", arr, api_key)
    assert r.status_code == 202
    assert r.json()["accepted"] == 5 and r.json()["results"][5]["error"]["field"] == "[5].text"
    r = post_json("/v1/feedback:batch", "[]", api_key)
    assert r.status_code == 400
    r = post_json("/v1/feedback:batch", [{"text": "x"}] * 10001, api_key)
    assert r.status_code == 413


def test_open311(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    r = requests.get("http://127.0.0.1:%d/open311/v2/services.json" % HTTP_PORT)
    assert r.status_code == 200
    services_list = r.json()
    assert len(services_list) >= 10 and all("service_code" in s for s in services_list)
    code = services_list[0]["service_code"]
    u = unique()
    form = {"service_code": code, "description": "Bache enorme en la calle %s, llamar al +56 9 8765 4321" % u,
            "lat": "-33.45", "long": "-70.66", "address_string": "Av. Matta 123",
            "email": "vecino@example.com", "first_name": "Ana"}
    r = requests.post("http://127.0.0.1:%d/open311/v2/requests.json" % HTTP_PORT, data=form,
                      headers={"Authorization": "Bearer " + api_key})
    assert r.status_code == 201, r.text
    sid = r.json()[0]["service_request_id"]
    fb = ingested([sid])[sid]
    assert fb.channel == pb.OPEN311 and fb.service == code
    assert "[PHONE]" in fb.text and "8765" not in fb.text
    assert abs(fb.location.lat + 33.45) < 1e-9 and fb.location.address == "Av. Matta 123"
    assert "vecino@example.com" not in fb.SerializeToString().decode("utf-8", "replace")
    r = requests.post("http://127.0.0.1:%d/open311/v2/requests.json" % HTTP_PORT, data={"service_code": code},
                      headers={"Authorization": "Bearer " + api_key})
    assert r.status_code == 400 and "description" in r.json()[0]["description"]


def test_inbound_topic_json_protobuf_and_dlq(services):
    ing = services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    p = producer()
    fb = pb.Feedback(agency="demo", text="Me cobraron dos veces, tarjeta 4111 1111 1111 1111 " + u,
                     external_id="pb-" + u, channel=pb.CALL)
    p.produce("escucha.feedback.inbound.v1", key=b"k1", value=fb.SerializeToString())
    p.produce("escucha.feedback.inbound.v1", key=b"k2",
              value=json.dumps({"agency": "demo", "text": "Great service today " + u, "external_id": "js-" + u}))
    p.produce("escucha.feedback.inbound.v1", key=b"bad-" + u.encode(), value=b"\x08\x96\x01garbage\xff\xff")
    p.produce("escucha.feedback.inbound.v1", key=b"noagency-" + u.encode(), value=json.dumps({"text": "x"}))
    p.flush(30)

    want = {"pb-" + u, "js-" + u}

    def match(m):
        f = feedback_of(m)
        return f.external_id in want
    got = read_topic("escucha.feedback.ingested.v1", match, 2)
    assert len(got) == 2
    texts = []
    for m in got:
        f = pb.Feedback()
        f.ParseFromString(m.value())
        texts.append(f.text)
        if f.external_id.startswith("pb-"):
            assert f.redactions.card == 1 and "4111" not in f.text and f.channel == pb.CALL
    dl = read_topic("escucha.dlq.v1", lambda m: (m.key() or b"").decode().endswith(u), 2)
    reasons = {}
    for m in dl:
        d = pb.DeadLetter()
        d.ParseFromString(m.value())
        reasons[(m.key() or b"").decode("utf-8", "replace")] = d
    assert set(reasons) == {"bad-" + u, "noagency-" + u}
    assert reasons["noagency-" + u].reason.startswith("invalid: agency")
    # no clear original in the DLQ (no seal key here: size and hash only; test_ingest_dlq.py)
    bad = reasons["bad-" + u]
    assert not bad.HasField("original") and not bad.HasField("original_sealed")
    assert bad.original_size == len(b"\x08\x96\x01garbage\xff\xff") and len(bad.original_hash) == 32
    assert reasons["bad-" + u].stage == "ingest" and reasons["bad-" + u].topic == "escucha.feedback.inbound.v1"
    wait_until(lambda: ing.metric("escucha_ingest_dlq_total") >= 2, 10, what="dlq metric")


def test_csv_import(tmp_path):
    u = unique()
    csv = tmp_path / "survey.csv"
    csv.write_text(
        "fecha,comentario,nps,csat,servicio,folio\n"
        "2024-05-01,\"La atención fue excelente, gracias %s\",10,5,registro civil,A1-%s\n"
        "02/05/2024,\"Esperé 3 horas.\nNadie me informó nada %s\",2,1,registro civil,A2-%s\n"
        "2024-05-03,Demasiado lento el trámite %s,11,,registro civil,A3-%s\n"
        "2024-05-04,\"La atención fue excelente, gracias %s\",10,5,registro civil,A1-%s\n" % ((u,) * 8),
        encoding="utf-8")
    env = dict(os.environ)
    env["ESCUCHA_KAFKA_BROKERS"] = os.environ.get("ESCUCHA_KAFKA_BROKERS", "127.0.0.1:%s" % os.environ.get("ESCUCHA_KAFKA_PORT", "19092"))
    env["ESCUCHA_REDIS_URL"] = "redis://127.0.0.1:%s" % os.environ.get("ESCUCHA_REDIS_PORT", "16379")
    r = subprocess.run([os.path.join(BIN, "escucha-ingest"), "import", str(csv), "--agency", "demo"],
                       env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "4 rows: accepted 2, duplicate 1, rejected 1, unavailable 0" in r.stdout, r.stdout
    assert "nps: nps must be an integer 0..10" in r.stdout

    def match(m):
        f = feedback_of(m)
        return f.external_id in ("A1-" + u, "A2-" + u)
    got = read_topic("escucha.feedback.ingested.v1", match, 2)
    fbs = {}
    for m in got:
        f = pb.Feedback()
        f.ParseFromString(m.value())
        fbs[f.external_id] = f
    assert fbs["A2-" + u].nps == 2 and fbs["A2-" + u].csat == 1
    assert "Nadie me informó" in fbs["A2-" + u].text
    assert fbs["A2-" + u].created_at == 1714608000000  # 2024-05-02T00:00Z
