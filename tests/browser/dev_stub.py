#!/usr/bin/python3
"""A development stub for the dashboard ONLY (never used by the tests): serves
services/api/web/ with escucha-api's CSP and fixture JSON shaped like
docs/api.md, with the session endpoints. For working on the pages without the
stack:   /usr/bin/python3 tests/browser/dev_stub.py 8999   (any key signs in)."""
import json
import os
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEB = os.path.join(REPO, "services", "api", "web")
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml"}
SESSIONS = {}
PLAN = {"id": "01JPLAN0000000000000000001", "topic": "waiting_times", "label_es": "Tiempos de espera",
        "label_en": "Waiting times", "status": "open", "opened_at": "2026-03-01T10:00:00Z", "closed_at": None,
        "summary": "Tiempos de espera: 42 comentarios, 64 % negativos.\nRevisar la agenda de horas.",
        "tickets": [{"tool": "redmine", "key": "17", "url": "http://127.0.0.1:3000/issues/17", "status": "open"}]}
PRIO = {"window": "day", "window_start": "2026-03-01T00:00:00Z", "computed_at": "2026-03-01T10:05:00Z", "items": [
    {"rank": 1, "topic": "waiting_times", "label_es": "Tiempos de espera", "label_en": "Waiting times", "level": 1,
     "score": 0.71, "volume": 120, "negative_share": 0.64, "negative_low": 0.55, "negative_high": 0.72, "spike_z": 3.1,
     "nps": -12.5, "nps_impact": -4.2, "csat": 0.41, "csat_impact": -0.05, "urgent_share": 0.0, "factors": {},
     "explanation_es": "120 comentarios, 64 % negativos, el triple de lo habitual.",
     "explanation_en": "120 comments, 64% negative, three times the usual.",
     "trend": [12, 15, 30, 22, 18, 25, 40, 38, 20, 33, 45, 60, 80, 120], "action_plan_id": PLAN["id"]},
    {"rank": 2, "topic": "staff_attention", "label_es": "Atención del personal", "label_en": "Staff attention", "level": 1,
     "score": 0.42, "volume": 60, "negative_share": 0.4, "negative_low": 0.3, "negative_high": 0.52, "spike_z": 0.8,
     "nps": None, "nps_impact": None, "csat": 0.7, "csat_impact": 0.01, "urgent_share": 0.02, "factors": {},
     "explanation_es": "<b>60</b> comentarios, 40 % negativos.", "explanation_en": "<b>60</b> comments, 40% negative.",
     "trend": [5, 4, 6, 5, 7, 6, 5, 4, 6, 7, 5, 6, 4, 6], "action_plan_id": None}]}
FEED = [{"id": "01JFB%022d" % i, "received_at": "2026-03-01T09:%02d:00Z" % (59 - i), "channel": ["web", "email", "survey"][i % 3],
         "language": "es" if i % 4 else "en", "service": "Consultorio", "text": ("Esperé tres horas para la hora <script>x</script> %d" % i)
         if i % 4 else "Waited hours in the queue %d" % i, "category": "waiting_times", "subcategory": "waiting_times/queue_wait",
         "confidence": 0.3 + (i % 7) / 10, "sentiment": "NEGATIVE", "urgent": i == 3, "nps": None, "csat": 2 if i % 2 else None}
        for i in range(60)]
CASE = {"id": "01JCASE0000000000000000001", "status": "open", "opened_at": "2026-03-01T09:58:02Z", "closed_at": None,
        "feedback_id": FEED[3]["id"], "channel": "whatsapp", "received_at": "2026-03-01T09:58:00Z",
        "reason": "amenaza: me amenazó con matarme", "confidence": 0.97, "category": "safety",
        "subcategory": "safety/violence", "acknowledged": None,
        "tickets": [{"tool": "redmine", "key": "18", "url": "http://127.0.0.1:3000/issues/18", "status": "open"}]}


def taxonomy():
    """GET /v1/taxonomy: the ids and es/en labels of the default taxonomy, as escucha-api gives them."""
    with open(os.path.join(REPO, "config", "taxonomy.default.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    return {"categories": [{"id": c["id"], "labels": {"es": c["labels"]["es"], "en": c["labels"]["en"]},
                            "subcategories": [{"id": x["id"], "labels": {"es": x["labels"]["es"], "en": x["labels"]["en"]}}
                                              for x in c.get("subcategories", [])]} for c in cfg["categories"]]}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=None, ctype="application/json", extra=()):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Security-Policy", CSP)
        if body is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "escucha_session" and v in SESSIONS:
                return SESSIONS[v]
        return None

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        p = u.path
        if not p.startswith("/v1/"):
            f = os.path.normpath(os.path.join(WEB, (p.lstrip("/") or "index.html")))
            if not f.startswith(WEB) or not os.path.isfile(f):
                return self.send(404, {"error": {"code": "not_found", "message": "no"}})
            return self.send(200, open(f, "rb").read(), TYPES.get(os.path.splitext(f)[1], "application/octet-stream"))
        s = self.session()
        if p == "/v1/session":
            return self.send(200, dict(s, authenticated=True) if s else {"authenticated": False})
        if not s:
            return self.send(401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if p == "/v1/taxonomy":
            return self.send(200, taxonomy())
        if p == "/v1/cases":
            return self.send(200, {"items": [CASE] if q.get("status") != "closed" else [], "next_cursor": None})
        if p.startswith("/v1/cases/"):
            return self.send(200, dict(CASE, text="Mi expareja me amenazó con matarme anoche.", language="es",
                                       audit=[{"at": "2026-03-01T09:58:03Z", "actor": "escucha-actions", "entity": "action_plan",
                                               "action": "ticket_opened", "detail": {"key": "18"}}]))
        if p == "/v1/priorities":
            return self.send(200, PRIO)
        if p == "/v1/action-plans":
            return self.send(200, {"items": [PLAN], "next_cursor": None})
        if p.startswith("/v1/action-plans/"):
            return self.send(200, dict(PLAN, recommendations=["Abrir más horas en la mañana"], quotes=[{"text": "Esperé 3 horas", "language": "es"}],
                                       priority=PRIO["items"][0], audit=[{"at": "2026-03-01T10:00:00Z", "actor": "escucha-actions", "action": "ticket_opened", "detail": "redmine 17"}]))
        if p == "/v1/feedback":
            start = int(q.get("cursor", "0"))
            n = int(q.get("limit", "50"))
            items = [f for f in FEED if not q.get("q") or q["q"].lower() in f["text"].lower()]
            page = items[start:start + n]
            return self.send(200, {"items": page, "next_cursor": str(start + n) if start + n < len(items) else None})
        if p == "/v1/review-queue":
            return self.send(200, {"items": [dict(f, reason="low_confidence") for f in FEED[:6]], "next_cursor": None})
        if p == "/v1/satisfaction":
            row = {"nps": 12.0, "nps_low": 2.0, "nps_high": 22.0, "nps_n": 80, "csat": 0.62, "csat_low": 0.55, "csat_high": 0.69, "csat_n": 300}
            return self.send(200, {"window": q.get("window", "week"), "overall": row,
                                   "by_channel": [dict(row, channel="web"), dict(row, channel="survey", nps=-20.0, nps_low=-35.0, nps_high=-5.0, csat=0.4, csat_low=0.3, csat_high=0.5)],
                                   "by_category": [dict(row, category="waiting_times")],
                                   "series": [{"start": "2026-02-%02dT00:00:00Z" % d, "nps": 10.0 + d, "csat": 0.5 + d / 100} for d in range(1, 9)]})
        if p == "/v1/health":
            return self.send(200, {"consumer_lag": [{"group": "escucha-classify", "topic": "escucha.feedback.raw.v1", "lag": 0},
                                                    {"group": "escucha-prioritize", "topic": "escucha.feedback.classified.v1", "lag": 12}],
                                   "dlq": {"count": 3}, "model_version": "nb-2026-03-01-abc123"})
        return self.send(404, {"error": {"code": "not_found", "message": "no"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/v1/session":
            if not body.get("key"):
                return self.send(401, {"error": {"code": "unauthorized", "message": "bad key"}})
            sid = secrets.token_urlsafe(16)
            SESSIONS[sid] = {"agency": "demo", "roles": ["admin"], "csrf": secrets.token_urlsafe(16)}
            return self.send(204, None, extra=[("Set-Cookie", "escucha_session=%s; HttpOnly; SameSite=Strict; Path=/" % sid)])
        s = self.session()
        if not s:
            return self.send(401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if self.headers.get("X-Escucha-CSRF") != s["csrf"]:
            return self.send(403, {"error": {"code": "forbidden", "message": "csrf"}})
        if self.path.endswith("/ack"):
            CASE["acknowledged"] = {"at": "2026-03-01T10:10:00Z", "actor": "demo:admin"}
            return self.send(200, {"id": CASE["id"], "acknowledged": CASE["acknowledged"]})
        if self.path.endswith("/review"):
            return self.send(202, {"id": self.path.split("/")[3], "status": "queued"})
        return self.send(404, {"error": {"code": "not_found", "message": "no"}})

    def do_DELETE(self):
        return self.send(204)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8999), H).serve_forever()
