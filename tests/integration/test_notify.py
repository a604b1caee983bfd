"""Telling reporters what happened (close-the-loop issue), on the real stack:
a plan's ticket opens in the real Redmine and later closes there; every
consenting reporter of the plan's topic is told once per status, over e-mail
(a real SMTP server, aiosmtpd), WhatsApp (a local receiver checking the Cloud
API's template-message request) and SMS (a local gateway checking the
signature) — across a kill -9 of escucha-actions while an e-mail is still
failing. Opted-out and expired contacts get nothing; after the final status
the contacts are marked for the purge; no contact reaches the log in clear."""
import ctypes
import ctypes.util
import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading

import psycopg2

import requests

from conftest import API_HTTP_PORT, PG_DSN, STATE, pb, producer, sql, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402
from test_actions_redmine import api, redmine  # noqa: E402,F401  (the module's Redmine fixture)

SMS_SECRET = "sms-gateway-secret"
WA_TOKEN = "wa-token-xyz"
WA_PHONE_ID = "109876543210"


def seal(obj):
    """crypto_box_seal to the stack's contact public key, as ingest does."""
    so = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert so.sodium_init() >= 0
    pk = bytes.fromhex(open(os.path.join(STATE, "contact.pub")).read().strip())
    msg = json.dumps(obj, separators=(",", ":")).encode()
    out = ctypes.create_string_buffer(len(msg) + 48)
    assert so.crypto_box_seal(out, msg, ctypes.c_ulonglong(len(msg)), pk) == 0
    return out.raw


class Receiver(http.server.ThreadingHTTPServer):
    """WhatsApp Cloud API and SMS gateway stand-ins: record what a vendor would accept, 400 otherwise."""

    def __init__(self):
        self.got = {"whatsapp": [], "sms": []}
        self.bad = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(h):
                body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
                ok = False
                try:
                    j = json.loads(body)
                    if h.path == "/v19.0/%s/messages" % WA_PHONE_ID:
                        t = j["template"]
                        ok = (h.headers["Authorization"] == "Bearer " + WA_TOKEN and j["messaging_product"] == "whatsapp"
                              and j["type"] == "template" and j["to"].isdigit() and t["language"]["code"] in ("es", "en")
                              and t["name"].startswith("escucha_status_")
                              and all(p["type"] == "text" for c in t["components"] for p in c["parameters"])
                              and [c["type"] for c in t["components"]] in (["body"], ["body", "button"])
                              and all(c["sub_type"] == "url" and c["index"] == "0" and len(c["parameters"]) == 1
                                      for c in t["components"][1:]))
                        if ok:
                            self.got["whatsapp"].append(j)
                    elif h.path == "/sms":
                        want = "sha256=" + hmac.new(SMS_SECRET.encode(), body, hashlib.sha256).hexdigest()
                        ok = (h.headers["X-Escucha-Signature"] == want
                              and h.headers["Idempotency-Key"] == j["idempotency_key"] and j["to"].startswith("+"))
                        if ok:
                            self.got["sms"].append(j)
                except (ValueError, KeyError, TypeError, IndexError):
                    ok = False
                if not ok:
                    self.bad.append((h.path, body))
                h.send_response(200 if ok else 400)
                h.send_header("Content-Length", "2")
                h.end_headers()
                h.wfile.write(b"{}")

        super().__init__(("127.0.0.1", 0), H)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_reporters_told_once_per_status(services, redmine, tmp_path):  # noqa: F811
    agency = it.unique("ntf")
    u = agency.split("-")[-1]
    people = {  # feedback id -> (language, via, contact, state)
        it.unique("fa"): ("es", "email", {"email": "ana.%s@example.cl" % u}, "live"),
        it.unique("fb"): ("en", "whatsapp", {"phone": "+56911112222", "via": "whatsapp"}, "live"),
        it.unique("fc"): ("es", "sms", {"phone": "+56933334444", "via": "sms"}, "live"),
        it.unique("fd"): ("es", "email", {"email": "out.%s@example.cl" % u}, "opted_out"),
        it.unique("fe"): ("es", "email", {"email": "old.%s@example.cl" % u}, "expired"),
    }
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        for fid, (lang, via, contact, state) in people.items():
            cur.execute("INSERT INTO feedback (id, agency, channel, text, language, received_at, category, subcategory,"
                        " sentiment, confidence) VALUES (%s, %s, 'WEB', 'La fila del consultorio es eterna', %s, now(),"
                        " 'waiting_times', 'waiting_times/queue_wait', 'NEGATIVE', 0.9)", (fid, agency, lang))
            cur.execute("INSERT INTO contacts (feedback_id, agency, via, sealed, expires_at, opted_out_at) VALUES "
                        "(%s, %s, %s, %s, now() + CASE WHEN %s = 'expired' THEN interval '-1 day' ELSE interval "
                        "'180 days' END, CASE WHEN %s = 'opted_out' THEN now() END)",
                        (fid, agency, via, seal(contact), state, state))
    smtp_dir = str(tmp_path / "mail")
    os.makedirs(smtp_dir)
    smtp = it.FakeServer("smtp_server.py", smtp_dir)
    rx = Receiver()
    try:
        tax = it.taxonomy_routed(str(tmp_path / "taxonomy.json"), {"tool": "redmine"})
        env = {k: v for k, v in redmine.items() if k.startswith("ESCUCHA_")}
        env.update({"ESCUCHA_TAXONOMY": tax, "ESCUCHA_POLL_INTERVAL_S": "0.2", "ESCUCHA_RETRY_BASE_MS": "20",
                    "ESCUCHA_RETRY_MAX": "2", "ESCUCHA_NOTIFY_INTERVAL_S": "0.1", "ESCUCHA_NOTIFY_RETRY_BASE_S": "0.2",
                    "ESCUCHA_NOTIFY_RETRY_MAX_S": "0.5", "ESCUCHA_NOTIFY_AGENCY_NAME": "Municipalidad de Prueba",
                    "ESCUCHA_EMAIL_FROM": "Municipalidad <avisos@muni.example.cl>",
                    "ESCUCHA_WHATSAPP_API_URL": "http://127.0.0.1:%d/v19.0" % rx.server_port,
                    "ESCUCHA_WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_ID, "ESCUCHA_WHATSAPP_TOKEN": WA_TOKEN,
                    "ESCUCHA_SMS_GATEWAY_URL": "http://127.0.0.1:%d/sms" % rx.server_port,
                    "ESCUCHA_SMS_GATEWAY_SECRET": SMS_SECRET, "ESCUCHA_HTTP_TIMEOUT_MS": "5000"})
        # first without a working SMTP server: the e-mail keeps failing and stays queued
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
        sock.close()
        first = services.start("actions", env=dict(env, ESCUCHA_EMAIL_SMTP_URL="smtp://127.0.0.1:%d" % closed_port))
        req = it.action_request(pb, agency)
        it.produce(producer(), req)
        row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the Redmine ticket")
        plan_id, ext = row[0], row[2]
        wait_until(lambda: len(rx.got["whatsapp"]) == 1 and len(rx.got["sms"]) == 1, 30, 0.1, "WhatsApp and SMS")
        wait_until(lambda: sql("SELECT attempts FROM notifications WHERE plan_id = %s AND via = 'email'",
                               (plan_id,))[0][0] >= 2, 30, 0.1, "the e-mail failing and retried")
        first.kill9()
        # restarted with SMTP up: the queued e-mail goes out once, nothing else again
        services.start("actions", env=dict(env, ESCUCHA_EMAIL_SMTP_URL="smtp://127.0.0.1:%d" % smtp.port))
        wait_until(lambda: len(it.sink_mails(smtp_dir)) == 1, 30, 0.1, "the e-mail after the restart")
        assert len(rx.got["whatsapp"]) == 1 and len(rx.got["sms"]) == 1
        to, msg = it.sink_mails(smtp_dir)[0]
        live = [f for f, p in people.items() if p[3] == "live"]
        assert to == people[live[0]][2]["email"]
        assert "Municipalidad de Prueba: su reporte recibido y asignado" == str(msg["subject"])
        text = msg.get_body(("plain",)).get_content()
        assert "Recibimos su reporte" in text and live[0] in text
        assert "/v1/optout/%s." % live[0] in text  # the one-click opt-out link
        wa = rx.got["whatsapp"][0]
        assert wa["to"] == "56911112222" and wa["template"]["name"] == "escucha_status_opened"
        assert wa["template"]["language"]["code"] == "en"  # the item's language
        assert rx.got["sms"][0]["to"] == "+56933334444" and "Recibimos su reporte" in rx.got["sms"][0]["text"]
        # every channel carries the opt-out: WhatsApp as the template's URL button, SMS as the link
        wa_fid = next(f for f, p in people.items() if p[1] == "whatsapp" and p[3] == "live")
        sms_fid = next(f for f, p in people.items() if p[1] == "sms" and p[3] == "live")
        assert wa["template"]["components"][1]["parameters"][0]["text"].startswith(wa_fid + ".")
        assert "Para no recibir más: " in rx.got["sms"][0]["text"]
        assert "/v1/optout/%s." % sms_fid in rx.got["sms"][0]["text"]

        # the e-mail's one-click opt-out link, served by escucha-api: a forged one is refused
        link = next(w for w in text.split() if "/v1/optout/" in w)
        services.start("api", http_port=API_HTTP_PORT)
        assert requests.get(link[:-3] + "AAA", timeout=10).status_code == 404
        r = requests.get(link, timeout=10)
        assert r.status_code == 200 and "No le enviaremos más mensajes" in r.text, r.text
        assert sql("SELECT opted_out_at IS NOT NULL FROM contacts WHERE feedback_id = %s", (live[0],))[0][0]

        # closed in Redmine: the others told "resolved" once and marked for the purge; the opted-out one not
        api(redmine, "PUT", "/issues/%s.json" % ext, json={"issue": {"status_id": int(redmine["REDMINE_CLOSED_STATUS_ID"])}})
        wait_until(lambda: len(rx.got["whatsapp"]) == 2 and len(rx.got["sms"]) == 2, 30, 0.1, "the resolved messages")
        assert rx.got["whatsapp"][1]["template"]["name"] == "escucha_status_resolved"
        assert "resuelto" in rx.got["sms"][1]["text"]
        assert not rx.bad, rx.bad
        got = sql("SELECT feedback_id, status, state FROM notifications WHERE plan_id = %s ORDER BY 1, 2", (plan_id,))
        want = [(live[0], "opened", "sent")] + [(f, s, "sent") for f in live[1:] for s in ("opened", "resolved")]
        assert sorted(got) == sorted(want)
        assert len(it.sink_mails(smtp_dir)) == 1
        told = sql("SELECT feedback_id FROM contacts WHERE agency = %s AND final_notified_at IS NOT NULL", (agency,))
        assert sorted(r[0] for r in told) == sorted(live[1:])
        # no contact in clear in the log
        log = open(os.path.join(STATE, "logs", "test-actions-0.log"), "rb").read()
        for p in people.values():
            for v in p[2].values():
                if v not in ("whatsapp", "sms"):
                    assert v.encode() not in log
    finally:
        rx.shutdown()
        rx.server_close()
        smtp.stop()
