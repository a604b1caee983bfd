"""Channel hardening on a running escucha-ingest, through HTTP: e-mail (NUL bytes, limits,
hashed Message-ID, charsets, base64), Open311 (NUL, UTF-8, coordinates, service codes,
malformed JSON), WhatsApp limits, and a rate limit that counts items."""
import hashlib
import hmac
import json
import time

import requests

from conftest import HTTP_PORT, feedback_of, read_topic, unique

BASE = "http://127.0.0.1:%d" % HTTP_PORT
SECRET = "test-app-secret"
WA_ENV = {"ESCUCHA_WHATSAPP_AGENCY": "demo", "ESCUCHA_WHATSAPP_APP_SECRET": SECRET}


def email(body, key):
    return requests.post(BASE + "/v1/channels/email", data=body, timeout=30,
                         headers={"Authorization": "Bearer " + key, "Content-Type": "message/rfc822"})


def open311(key, form=None, json_body=None):
    h = {"Authorization": "Bearer " + key}
    if json_body is not None:
        h["Content-Type"] = "application/json"
        data = json_body if isinstance(json_body, (str, bytes)) else json.dumps(json_body)
    else:
        h["Content-Type"] = "application/x-www-form-urlencoded"
        data = form
    return requests.post(BASE + "/open311/v2/requests.json", data=data, headers=h, timeout=30)


def ingested(fid):
    got = read_topic("escucha.feedback.ingested.v1", lambda m: m.key() is not None and (m.key() or b"").decode("utf-8", "replace") == fid, 1)
    assert got, "feedback %s never reached the ingested topic" % fid
    return feedback_of(got[0])


def assert_error(r, status, field, words=""):
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert err["field"] == field, err
    assert words in err["message"], err


def test_email_nul_limits_and_base64(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    # 6: a NUL from quoted-printable or base64 is refused, not cut at
    r = email(("Subject: nul %s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nantes=00despues\r\n" % u).encode(), api_key)
    assert_error(r, 400, "body", "NUL")
    r = email(("Subject: nul %s\r\nContent-Transfer-Encoding: base64\r\n\r\nYW50ZXMAZGVzcHVlcw==\r\n" % u).encode(), api_key)
    assert_error(r, 400, "body", "NUL")
    # 7: a 100 kB subject and a 1 MiB body get a final 400 naming the field, never a 503
    r = email(("Subject: %s\r\n\r\nbody %s\r\n" % ("a" * 100000, u)).encode(), api_key)
    assert_error(r, 400, "subject", "20000")
    r = email(("Subject: big %s\r\n\r\n" % u).encode() + b"b" * (1 << 20), api_key)
    assert_error(r, 400, "body", "20000")
    assert "Retry-After" not in r.headers
    r = email(("Subject: s\r\nMessage-ID: <%s@%s>\r\n\r\nbody %s\r\n" % (u, "h" * 300, u)).encode(), api_key)
    assert_error(r, 400, "message-id", "256")
    # 14: an invalid base64 body is refused naming the field
    r = email(("Subject: b64 %s\r\nContent-Transfer-Encoding: base64\r\n\r\nSG9s*YQ==\r\n" % u).encode(), api_key)
    assert_error(r, 400, "body", "base64")


def test_email_message_id_hash_and_windows_1252(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    msg = ("From: Vecina <vecina@example.cl>\r\nSubject: =?windows-1252?Q?=93Cobro_doble=94?=\r\n"
           "Message-ID: <%s.sender@vecina-pc.example.cl>\r\n"
           "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "Me cobraron =8020 dos veces =97 otra vez=85 (%s)\r\n" % (u, u)).encode()
    r = email(msg, api_key)
    assert r.status_code == 202, r.text
    fid = r.json()["id"]
    fb = ingested(fid)
    assert fb.text.startswith("“Cobro doble”\n\nMe cobraron €20 dos veces — otra vez… ("), fb.text
    mid = "mid-" + hashlib.blake2b(("%s.sender@vecina-pc.example.cl" % u).encode(), digest_size=16).hexdigest()
    assert fb.external_id == mid
    assert "vecina-pc" not in fb.SerializeToString().decode("utf-8", "replace")
    # the same message re-sent (another Date, a footer added, same Message-ID) is the same feedback
    resent = msg.replace(b"\r\nSubject", b"\r\nDate: Thu, 2 May 2024 10:30:00 -0400\r\nSubject") + b"(reenviado)\r\n"
    r2 = email(resent, api_key)
    assert r2.status_code == 200 and r2.json()["status"] == "duplicate" and r2.json()["id"] == fid
    # unknown charsets: taken when the bytes are UTF-8, refused (named) otherwise
    r = email(("Subject: x %s\r\nContent-Type: text/plain; charset=x-made-up\r\n\r\nvale á %s\r\n" % (u, u)).encode(), api_key)
    assert r.status_code == 202, r.text
    r = email(("Subject: y %s\r\nContent-Type: text/plain; charset=x-made-up\r\n\r\n" % u).encode() + b"mal \xe1\r\n", api_key)
    assert_error(r, 400, "body", "x-made-up")


def open311_error(r, status, *words):
    assert r.status_code == status, (r.status_code, r.text)
    desc = r.json()[0]["description"]
    assert r.json()[0]["code"] == status
    for w in words:
        assert w in desc, desc
    return desc


def test_open311_fields(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    code = requests.get(BASE + "/open311/v2/services.json", timeout=30).json()[0]["service_code"]
    u = unique()
    q = "service_code=%s&description=" % code
    # 6 and 9: NUL and invalid UTF-8, each refused naming the field
    open311_error(open311(api_key, q + "antes%00despues+" + u), 400, "description", "NUL")
    open311_error(open311(api_key, q + "x+" + u + "&media_url=%FF%FE"), 400, "media_url", "UTF-8")
    open311_error(open311(api_key, q + "x+" + u + "&address_string=%C3"), 400, "address_string", "UTF-8")
    # 8: coordinates: both valid numbers or nothing
    open311_error(open311(api_key, q + "x+" + u + "&lat=10"), 400, "long")
    open311_error(open311(api_key, q + "x+" + u + "&lat=-33.4junk&long=-70.6"), 400, "lat")
    open311_error(open311(api_key, q + "x+" + u + "&lat=-33.4&long=200"), 400, "long")
    # 14: unknown service_code, malformed JSON with its position
    open311_error(open311(api_key, "service_code=no-such-code&description=x+" + u), 400, "service_code", "no-such-code")
    open311_error(open311(api_key, json_body='{"service_code": "%s",\n "description": oops}' % code), 400,
                  "malformed JSON", "line 2")
    # numeric JSON coordinates are kept
    r = open311(api_key, json_body={"service_code": code, "description": "Luminaria apagada " + u,
                                    "lat": -33.45, "long": -70.66, "address_string": "Av. Matta 1"})
    assert r.status_code == 201, r.text
    fb = ingested(r.json()[0]["service_request_id"])
    assert abs(fb.location.lat + 33.45) < 1e-9 and abs(fb.location.lon + 70.66) < 1e-9
    assert fb.location.address == "Av. Matta 1" and fb.service == code


def signed(body):
    sig = "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    return requests.post(BASE + "/v1/channels/whatsapp", data=body, timeout=30,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})


def test_whatsapp_limits(services):
    services.start("ingest", http_port=HTTP_PORT, env=WA_ENV)
    u = unique()
    msgs = [{"id": "wamid.ok-" + u, "timestamp": "1714608000", "type": "text", "text": {"body": "Ok " + u}},
            {"id": "wamid.big-" + u, "timestamp": "1714608000", "type": "text", "text": {"body": "b" * 20001}},
            {"id": "w" * 300, "timestamp": "1714608000", "type": "text", "text": {"body": "long id " + u}}]
    body = json.dumps({"entry": [{"changes": [{"value": {"messages": msgs}}]}]})
    r = signed(body)
    # a reject is final: 200 (Meta would only redeliver it), and the answer says what and why
    assert r.status_code == 200, r.text
    j = r.json()
    assert (j["accepted"], j["rejected"]) == (1, 2), j
    assert [(e["index"], e["error"]["field"]) for e in j["errors"]] == [(1, "text.body"), (2, "id")]


def batch(key, n, tag):
    lines = "\n".join(json.dumps({"text": "rate item %s %s" % (tag, "abcdefghijkmnpqr"[i % 16] * (1 + i // 16))})
                      for i in range(n))
    return requests.post(BASE + "/v1/feedback:batch", data=lines, timeout=30,
                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/x-ndjson"})


def test_rate_limit_counts_items(services, api_key):
    services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_RATE_LIMIT": "5", "ESCUCHA_INBOUND": "off"})
    u = unique()
    # 5 items/s, burst 10: a batch of 8 fits, a second one does not
    r = batch(api_key, 8, u + "a")
    assert r.status_code == 202, r.text
    r = batch(api_key, 8, u + "b")
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1 and "8 items" in r.json()["error"]["message"]
    # a batch larger than the bucket is not refused forever: it passes once the bucket is
    # full, and the key then waits its cost off
    deadline = time.monotonic() + 30
    while True:
        r = batch(api_key, 40, u + "c")
        if r.status_code != 429:
            break
        assert time.monotonic() < deadline, "a batch larger than the burst never got through"
        time.sleep(min(int(r.headers["Retry-After"]), 5))
    assert r.status_code == 202, r.text
    r = requests.post(BASE + "/v1/feedback", json={"text": "single " + u}, timeout=30,
                      headers={"Authorization": "Bearer " + api_key})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 5, (r.status_code, r.headers)


def test_csv_import_refuses_nul_bad_utf8_and_long_ids(tmp_path):
    import os
    import subprocess
    from conftest import BIN, REPO
    u = unique()
    csv = tmp_path / "hardening.csv"
    csv.write_bytes((
        "comentario,servicio,folio\n"
        "Texto bueno %s,registro civil,B1-%s\n"
        "antes\0despues %s,registro civil,B2-%s\n"
        "Otro texto %s,registro \xff civil,B3-%s\n"
        "Un texto mas %s,registro civil,%s\n" % (u, u, u, u, u, u, u, "F" * 300)).encode("latin-1"))
    env = dict(os.environ)
    env["ESCUCHA_KAFKA_BROKERS"] = os.environ.get("ESCUCHA_KAFKA_BROKERS", "127.0.0.1:%s" % os.environ.get("ESCUCHA_KAFKA_PORT", "19092"))
    env["ESCUCHA_REDIS_URL"] = "redis://127.0.0.1:%s" % os.environ.get("ESCUCHA_REDIS_PORT", "16379")
    r = subprocess.run([os.path.join(BIN, "escucha-ingest"), "import", str(csv), "--agency", "demo"],
                       env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "4 rows: accepted 1, duplicate 0, rejected 3, unavailable 0" in r.stdout, r.stdout
    assert "text: text contains a NUL byte" in r.stdout
    assert "service: service is not valid UTF-8" in r.stdout
    assert "external_id: external_id is 300 bytes; at most 128" in r.stdout
