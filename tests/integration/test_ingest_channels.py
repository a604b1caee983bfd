"""Channel adapters on a running escucha-ingest: WhatsApp webhook, e-mail."""
import hashlib
import hmac
import json

import requests

from conftest import HTTP_PORT, feedback_of, pb, read_topic, unique

SECRET = "test-app-secret"
WA_ENV = {"ESCUCHA_WHATSAPP_AGENCY": "demo", "ESCUCHA_WHATSAPP_APP_SECRET": SECRET,
          "ESCUCHA_WHATSAPP_VERIFY_TOKEN": "verify-me"}
URL = "http://127.0.0.1:%d/v1/channels/" % HTTP_PORT


def webhook(u, body_text):
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "9"},
            "contacts": [{"profile": {"name": "Ana Pérez"}, "wa_id": "56987654321"}],
            "messages": [{"from": "56987654321", "id": "wamid." + u, "timestamp": "1714608000",
                          "type": "text", "text": {"body": body_text}}]}}]}]})


def signed_post(body, secret=SECRET):
    sig = "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return requests.post(URL + "whatsapp", data=body, timeout=30,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})


def test_whatsapp_webhook(services):
    services.start("ingest", http_port=HTTP_PORT, env=WA_ENV)
    r = requests.get(URL + "whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                               "hub.challenge": "1158201444"})
    assert r.status_code == 200 and r.text == "1158201444"
    r = requests.get(URL + "whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "wrong",
                                               "hub.challenge": "1"})
    assert r.status_code == 403

    u = unique()
    body = webhook(u, "Nadie contesta en el CESFAM, mi número es +56 9 8765 4321 (%s)" % u)
    assert signed_post(body, secret="forged").status_code == 401
    r = signed_post(body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    # Meta redelivers the same message: the wamid makes it a duplicate
    assert signed_post(body).json()["duplicate"] == 1

    def match(m):
        f = feedback_of(m)
        return f.external_id == "wamid." + u
    got = read_topic("escucha.feedback.ingested.v1", match, 1)
    fb = pb.Feedback()
    fb.ParseFromString(got[0].value())
    assert fb.channel == pb.WHATSAPP and fb.agency == "demo" and fb.created_at == 1714608000000
    raw = got[0].value()
    assert b"56987654321" not in raw and "Ana Pérez".encode() not in raw and b"8765 4321" not in raw
    assert "[PHONE]" in fb.text


def test_whatsapp_off_without_config(services):
    services.start("ingest", http_port=HTTP_PORT)
    assert signed_post(webhook(unique(), "x")).status_code == 404


def test_email_message(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    msg = ("From: Vecino <vecino@example.cl>\r\nTo: oirs@municipio.cl\r\n"
           "Subject: =?UTF-8?Q?Reclamo_por_alumbrado_p=C3=BAblico?=\r\n"
           "Date: Thu, 2 May 2024 10:30:00 -0400\r\nMessage-ID: <%s@mail.example>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "La calle lleva un mes a oscuras (%s). Llamen al 612 345 678.\r\n" % (u, u))
    h = {"Authorization": "Bearer " + api_key, "Content-Type": "message/rfc822"}
    r = requests.post(URL + "email", data=msg.encode(), headers=h, timeout=30)
    assert r.status_code == 202, r.text
    fid = r.json()["id"]
    r2 = requests.post(URL + "email", data=msg.encode(), headers=h, timeout=30)
    assert r2.status_code == 200 and r2.json()["id"] == fid
    got = read_topic("escucha.feedback.ingested.v1", lambda m: (m.key() or b"").decode("utf-8", "replace") == fid, 1)
    fb = pb.Feedback()
    fb.ParseFromString(got[0].value())
    assert fb.text.startswith("Reclamo por alumbrado público\n\nLa calle lleva un mes a oscuras (")
    assert "[PHONE]" in fb.text and "vecino@example.cl" not in fb.text
    # the Message-ID names the sender's host: a hash of it is kept instead
    mid = "mid-" + hashlib.blake2b((u + "@mail.example").encode(), digest_size=16).hexdigest()
    assert fb.external_id == mid and fb.channel == pb.EMAIL
    assert b"mail.example" not in got[0].value()
    assert fb.created_at == 1714660200000
    r = requests.post(URL + "email", data=b"From: a@b.c\r\n\r\n", headers=h, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    h["Content-Type"] = "text/plain"
    assert requests.post(URL + "email", data=msg.encode(), headers=h, timeout=30).status_code == 415


def test_secrets_never_reach_the_logs(services, api_key):
    """A run that used the API key, a bad key and the WhatsApp secret logs none of them."""
    ing = services.start("ingest", http_port=HTTP_PORT, env=dict(WA_ENV, ESCUCHA_LOG_LEVEL="debug"))
    requests.post("http://127.0.0.1:%d/v1/feedback" % HTTP_PORT, json={"text": "hola " + unique()},
                  headers={"Authorization": "Bearer " + api_key}, timeout=30)
    requests.post("http://127.0.0.1:%d/v1/feedback" % HTTP_PORT, json={"text": "x"},
                  headers={"Authorization": "Bearer wrong-secret-key-123"}, timeout=30)
    signed_post(webhook(unique(), "hola"))
    signed_post(webhook(unique(), "hola"), secret="forged-secret-456")
    ing.stop()
    log = ing.log()
    assert "listening" in log  # the log is the right one and not empty
    for secret in (api_key, "wrong-secret-key-123", SECRET, "forged-secret-456", "verify-me"):
        assert secret not in log
