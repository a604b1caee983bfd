"""escucha-api on the real stack: auth matrix, sessions + CSRF, static files and
security headers, feedback filters / Spanish search / keyset pages, ETags,
item detail, receipts, Open311 GETs, reviews -> escucha.corrections.v1 +
audit_log, and the read-only database role.

Rows are inserted straight into PostgreSQL (as the owner role) under agencies
unique to this module, so other tests' data never shows up."""
import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import secrets
import threading
import time

import psycopg2
import pytest
import requests

from conftest import (API_PG_DSN, API_PORT, HTTP_PORT, PG_DSN, RECEIPT_SECRET_FILE, Service, consumer, pb,
                      producer, read_topic, sql, unique, wait_until)

BASE = "http://127.0.0.1:%d" % API_PORT
AG = unique("ag")        # the main agency of this module
OTHER = unique("otra")   # another agency (isolation)
KEYS = {name: "k_" + secrets.token_hex(16) for name in ("admin", "read", "review", "readreview", "submit", "other")}
# the stack's receipt secret (scripts/stack.sh provision), shared with ingest's status_url
with open(RECEIPT_SECRET_FILE) as _f:
    RECEIPT_KEY = bytes.fromhex(_f.read().strip())
HEALTH_GROUP = unique("grp")
T0 = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.timezone.utc)


def key_env():
    return ",".join([
        "%s:admin:%s" % (AG, KEYS["admin"]), "%s:read:%s" % (AG, KEYS["read"]),
        "%s:review:%s" % (AG, KEYS["review"]), "%s:read+review:%s" % (AG, KEYS["readreview"]),
        "%s:submit:%s" % (AG, KEYS["submit"]),
        "%s:admin:%s" % (OTHER, KEYS["other"])])


@pytest.fixture(scope="module")
def web_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text("<!doctype html><title>Escucha</title><script src=\"app.js\"></script>")
    (root / "app.js").write_text("console.log('ok');")
    (root / "css").mkdir()
    (root / "css" / "site.css").write_text("body{}")
    (root / ".secret.js").write_text("hidden")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "leak.js").write_text("LEAK")
    os.symlink(outside / "leak.js", root / "link.js")
    return root


@pytest.fixture(scope="module")
def api(web_root):
    svc = Service("api", http_port=API_PORT, env={
        "ESCUCHA_API_KEYS": key_env(), "ESCUCHA_RECEIPT_SECRET_FILE": RECEIPT_SECRET_FILE,
        "ESCUCHA_WEB_ROOT": str(web_root), "ESCUCHA_LAG_GROUPS": "escucha-nobody," + HEALTH_GROUP,
        "ESCUCHA_LAG_INTERVAL_MS": "200"})
    yield svc
    rc = svc.stop()
    assert rc == 0, "escucha-api exited %s on SIGTERM; log tail:\n%s" % (rc, svc.log()[-3000:])


def db():
    c = psycopg2.connect(PG_DSN)
    c.autocommit = True
    return c


def insert(agency, text, *, id=None, lang="es", at=None, category="waiting_times",
           subcategory="waiting_times/queue_length", sentiment="NEGATIVE", channel="WEB", urgent=False,
           confidence=0.8, service=None, lat=None, lon=None, address=None, searchable=True):
    id = id or unique("f").replace("-", "")
    at = at or T0
    with db() as c, c.cursor() as cur:
        cur.execute(
            "INSERT INTO feedback (id, agency, service, channel, text, language, received_at, category,"
            " subcategory, confidence, sentiment, urgent, model_version, classified_at, lat, lon, address)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,'m-test',%s,%s,%s,%s)",
            (id, agency, service or category, channel, text, lang, at, category, subcategory, confidence,
             sentiment, urgent, at + dt.timedelta(seconds=2), lat, lon, address))
        if searchable:  # what escucha-prioritize does after its commit (migrations/016), done here at once
            cur.execute("INSERT INTO feedback_search (id, agency, received_at, language, search) SELECT id, agency,"
                        " received_at, language, feedback_search_vector(language, text) FROM feedback WHERE id = %s",
                        (id,))
    return id


def raw_get(path, key=None):
    """A GET sent exactly as written (requests normalises dot segments and re-quotes bad escapes)."""
    c = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + key} if key else {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        c.close()


def get(path, key=None, **kw):
    h = kw.pop("headers", {})
    if key:
        h["Authorization"] = "Bearer " + key
    return requests.get(BASE + path, headers=h, timeout=10, **kw)


def post(path, body, key=None, **kw):
    h = kw.pop("headers", {})
    h.setdefault("Content-Type", "application/json")
    if key:
        h["Authorization"] = "Bearer " + key
    return requests.post(BASE + path, data=body if isinstance(body, str) else json.dumps(body), headers=h,
                         timeout=10, **kw)


def token(fid):
    mac = hmac.new(RECEIPT_KEY, fid.encode(), hashlib.sha256).digest()[:16]
    return fid + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def assert_security_headers(r):
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, r.headers
    assert "unsafe-inline" not in csp
    assert r.headers.get("X-Content-Type-Options") == "nosniff"


# ---------------------------------------------------------------- auth

def test_auth_matrix(api):
    mine = insert(AG, "la fila era eterna")
    theirs = insert(OTHER, "la fila era eterna")
    r = get("/v1/feedback")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert get("/v1/feedback", "k_wrong").status_code == 401
    assert get("/v1/feedback", headers={"Authorization": "Basic abc"}).status_code == 401
    for role in ("read", "review", "admin"):
        r = get("/v1/feedback", KEYS[role])
        assert r.status_code == (200 if role != "review" else 403), (role, r.text)
    assert get("/v1/feedback", KEYS["submit"]).status_code == 403
    # another agency's id is a 404, exactly like a missing one
    assert get("/v1/feedback/" + mine, KEYS["read"]).status_code == 200
    r404 = get("/v1/feedback/" + theirs, KEYS["read"])
    missing = get("/v1/feedback/NOPE0000000000000000000000", KEYS["read"])
    assert r404.status_code == missing.status_code == 404
    assert r404.json() == missing.json()
    assert get("/v1/feedback/" + theirs, KEYS["other"]).status_code == 200
    # review role: the queue and the review endpoint
    assert get("/v1/review-queue", KEYS["read"]).status_code == 403
    assert get("/v1/review-queue", KEYS["review"]).status_code != 403
    body = {"category": "waiting_times", "subcategory": "waiting_times/queue_length", "sentiment": "NEGATIVE"}
    assert post("/v1/feedback/%s/review" % mine, body, KEYS["read"]).status_code == 403
    # unknown paths and methods
    assert get("/v1/nothing", KEYS["read"]).status_code == 404
    r = requests.delete(BASE + "/v1/feedback", headers={"Authorization": "Bearer " + KEYS["read"]}, timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_sessions_cookie_and_csrf(api):
    fid = insert(AG, "me atendieron muy mal")
    s = requests.Session()
    assert s.post(BASE + "/v1/session", json={"key": "k_wrong"}, timeout=10).status_code == 401
    assert s.post(BASE + "/v1/session", json={"key": KEYS["submit"]}, timeout=10).status_code == 403
    assert s.post(BASE + "/v1/session", data="nope", timeout=10).status_code == 400
    # the dashboard reads: a key without the read role gets no session
    assert s.post(BASE + "/v1/session", json={"key": KEYS["review"]}, timeout=10).status_code == 403
    r = s.post(BASE + "/v1/session", json={"key": KEYS["readreview"]}, timeout=10)
    assert r.status_code == 204, r.text
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("escucha_session=") and "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc
    sid = sc.split(";")[0].split("=", 1)[1]
    assert len(base64.urlsafe_b64decode(sid + "=")) == 32
    me = s.get(BASE + "/v1/session", timeout=10)
    assert me.status_code == 200
    info = me.json()
    assert info["authenticated"] is True
    assert info["agency"] == AG and info["roles"] == ["read", "review"] and len(info["csrf"]) == 43
    assert info["csrf"] != sid
    # the cookie authenticates
    assert s.get(BASE + "/v1/feedback/" + fid, timeout=10).status_code == 200
    body = {"category": "staff_attention", "subcategory": "staff_attention/attitude_courtesy", "sentiment": "NEGATIVE"}
    r = s.post(BASE + "/v1/feedback/%s/review" % fid, json=body, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = s.post(BASE + "/v1/feedback/%s/review" % fid, json=body, headers={"X-Escucha-CSRF": "x" * 43}, timeout=10)
    assert r.status_code == 403
    r = s.post(BASE + "/v1/feedback/%s/review" % fid, json=body, headers={"X-Escucha-CSRF": info["csrf"]}, timeout=30)
    assert r.status_code == 202, r.text
    # a forged cookie is nobody: GET /v1/session says so with a 200 (no error in the browser's console)
    r = requests.get(BASE + "/v1/session", cookies={"escucha_session": "A" * 43}, timeout=10)
    assert r.status_code == 200 and r.json() == {"authenticated": False}
    r = requests.get(BASE + "/v1/session", timeout=10)
    assert r.status_code == 200 and r.json() == {"authenticated": False}
    assert r.headers.get("Cache-Control") == "no-store"
    assert_security_headers(r)
    r = s.delete(BASE + "/v1/session", timeout=10)
    assert r.status_code == 204 and "Max-Age=0" in r.headers["Set-Cookie"]
    assert requests.get(BASE + "/v1/session", cookies={"escucha_session": sid}, timeout=10).json() == {
        "authenticated": False}
    assert requests.get(BASE + "/v1/feedback", cookies={"escucha_session": sid}, timeout=10).status_code == 401


# ---------------------------------------------------------------- static files and headers

def test_static_files_and_security_headers(api):
    r = get("/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<title>Escucha</title>" in r.text
    assert_security_headers(r)
    r = get("/app.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert_security_headers(r)
    assert get("/css/site.css").headers["Content-Type"].startswith("text/css")
    assert get("/inbox").text == get("/").text  # a dashboard route serves the app
    for bad in ("/.secret.js", "/../outside/leak.js", "/css/../app.js", "/%2e%2e/etc/passwd", "/link.js",
                "/nothing.js", "//app.js", "/app.exe"):
        status, headers, text = raw_get(bad)
        assert status == 404, bad
        assert "LEAK" not in text and "hidden" not in text
        assert "nosniff" == headers.get("X-Content-Type-Options")
    assert requests.post(BASE + "/app.js", data="x", timeout=10).status_code == 405
    # JSON answers carry the headers too
    assert_security_headers(get("/v1/feedback", KEYS["read"]))
    assert_security_headers(get("/v1/feedback"))


# ---------------------------------------------------------------- lists

def test_filters_and_spanish_search(api):
    cat = "digital_channels"
    base = T0 + dt.timedelta(days=1)
    ids = {
        "espere": insert(AG, "Esperé tres horas en la oficina", at=base, category=cat, subcategory=cat + "/website"),
        "espera": insert(AG, "La espera fue larguísima", at=base + dt.timedelta(seconds=1), category=cat,
                         subcategory=cat + "/app", sentiment="NEUTRAL", channel="EMAIL"),
        "other": insert(AG, "El formulario no carga", at=base + dt.timedelta(seconds=2), category=cat,
                        subcategory=cat + "/website", urgent=True),
        "en": insert(AG, "I waited for hours at the desk", lang="en", at=base + dt.timedelta(seconds=3),
                     category=cat, subcategory=cat + "/website", sentiment="POSITIVE"),
    }

    def items(**params):
        params.setdefault("category", cat)
        r = get("/v1/feedback", KEYS["read"], params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert items() == [ids["en"], ids["other"], ids["espera"], ids["espere"]]
    assert sorted(items(q="esperando")) == sorted([ids["espere"], ids["espera"]])
    assert items(q="waiting") == [ids["en"]]
    assert items(sentiment="NEUTRAL") == [ids["espera"]]
    assert items(channel="email") == [ids["espera"]]
    assert items(urgent="true") == [ids["other"]]
    assert items(language="en") == [ids["en"]]
    assert items(subcategory=cat + "/app") == [ids["espera"]]
    assert items(**{"from": (base + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "to": (base + dt.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}) == [ids["other"], ids["espera"]]
    item = get("/v1/feedback", KEYS["read"], params={"category": cat, "channel": "email"}).json()["items"][0]
    assert item == {"id": ids["espera"], "received_at": (base + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "channel": "email", "language": "es", "service": cat, "text": "La espera fue larguísima",
                    "category": cat, "subcategory": cat + "/app", "confidence": 0.8, "sentiment": "NEUTRAL",
                    "urgent": False, "urgent_reason": None, "urgent_confidence": None, "nps": None, "csat": None}
    # the other agency's rows never appear
    insert(OTHER, "Esperé mucho", category=cat)
    assert all(i in ids.values() for i in items(q="esperando"))


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"), ("sentiment=angry", "sentiment"),
    ("channel=fax", "channel"), ("urgent=maybe", "urgent"), ("from=yesterday", "from"),
    ("to=2026-13-01T00:00:00Z", "to"), ("cursor=garbage", "cursor"), ("category=a&category=b", "category"),
    ("q=%ff%fe", "q"), ("q=%zz", "q"), ("q=" + "x" * 1100, "q"), ("q=a%00b", "q"), ("b%ad=1", "query"),
])
def test_bad_parameters_name_the_field(api, query, field):
    status, _, text = raw_get("/v1/feedback?" + query, KEYS["read"])
    assert status == 400, (query, text)
    err = json.loads(text)["error"]
    assert err["code"] == "invalid" and err["field"] == field, (query, err)
    assert "xxxx" not in err["message"] and "garbage" not in err["message"]


def test_cursor_pages_stable_under_concurrent_inserts(api):
    cat = "payments_fees"
    base = T0 + dt.timedelta(days=2)
    want = [insert(AG, "pago %s" % unique("p"), at=base + dt.timedelta(milliseconds=10 * i), category=cat,
                   subcategory=cat + "/fees") for i in range(25)]
    # two rows with the same received_at: the id breaks the tie
    same = base + dt.timedelta(seconds=30)
    want += [insert(AG, "pago igual", at=same, category=cat, subcategory=cat + "/fees", id="zz" + unique("s").replace("-", "")),
             insert(AG, "pago igual", at=same, category=cat, subcategory=cat + "/fees", id="aa" + unique("s").replace("-", ""))]
    stop = threading.Event()
    inserted = []

    def writer():  # newer rows keep arriving while the pages are read
        n = 0
        while not stop.is_set() and n < 200:
            inserted.append(insert(AG, "pago nuevo", at=dt.datetime.now(dt.timezone.utc), category=cat,
                                   subcategory=cat + "/fees"))
            n += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen, cursor, pages = [], None, 0
        # "to" bounds the pages below the writer's rows: the pages must not move under them
        params = {"category": cat, "limit": 7, "to": (base + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        while True:
            if cursor:
                params["cursor"] = cursor
            r = get("/v1/feedback", KEYS["read"], params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= 7
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            pages += 1
            if not cursor:
                break
    finally:
        stop.set()
        t.join()
    assert len(inserted) > 0
    assert len(seen) == len(set(seen)) == 27, "duplicates or gaps across pages"
    assert set(seen) == set(want)
    # newest first; the tie on received_at ordered by id descending
    assert seen[0].startswith("zz") and seen[1].startswith("aa")
    assert seen[2:] == list(reversed(want[:25]))
    assert pages == 4  # 7 + 7 + 7 + 6


def test_etag_and_if_none_match(api):
    insert(AG, "etag", category="accessibility", subcategory="accessibility/physical")
    r = get("/v1/feedback", KEYS["read"], params={"category": "accessibility"})
    etag = r.headers["ETag"]
    assert r.status_code == 200 and etag.startswith('"')
    r2 = get("/v1/feedback", KEYS["read"], params={"category": "accessibility"}, headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["ETag"] == etag
    insert(AG, "etag 2", category="accessibility", subcategory="accessibility/physical", at=T0 + dt.timedelta(days=3))
    r3 = get("/v1/feedback", KEYS["read"], params={"category": "accessibility"}, headers={"If-None-Match": etag})
    assert r3.status_code == 200 and r3.headers["ETag"] != etag


# ---------------------------------------------------------------- one item

def add_plan(agency, topic, status="open", tickets=(("jira", "TRAM-7", "https://jira.example/TRAM-7", "in_progress"),)):
    pid = unique("plan").replace("-", "")
    with db() as c, c.cursor() as cur:
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, summary)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s)",
                    (pid, agency, topic, status, T0, T0 + dt.timedelta(days=30) if status == "closed" else None,
                     "Reducir la espera"))
        for tool, key, url, st in tickets:
            cur.execute("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key)"
                        " VALUES (%s,%s,%s,%s,%s,%s)", (pid, tool, key, url, st, unique("idem")))
        cur.execute("INSERT INTO priorities (agency, topic, window_kind, window_start, level, rank, score, volume,"
                    " factors, explanation_es, explanation_en) VALUES (%s,%s,'day',%s,2,1,0.9,40,'{}','muchas quejas',"
                    "'many complaints') ON CONFLICT DO NOTHING", (agency, topic, T0))
    return pid


def test_feedback_detail_with_priority_plan_and_tickets(api):
    ag_topic = "health/" + unique("t").replace("-", "_")
    fid = insert(AG, "no había médico", category="health", subcategory=ag_topic, lat=-33.45, lon=-70.66,
                 address="Av. Siempre Viva 742")
    pid = add_plan(AG, ag_topic)
    r = get("/v1/feedback/" + fid, KEYS["read"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == fid and d["text"] == "no había médico" and d["model_version"] == "m-test"
    assert d["location"] == {"lat": -33.45, "lon": -70.66, "address": "Av. Siempre Viva 742"}
    assert d["top_terms"] == []
    assert d["priority"]["topic"] == ag_topic and d["priority"]["rank"] == 1
    assert d["priority"]["explanation_es"] == "muchas quejas"
    assert d["action_plan"] == {"id": pid, "status": "open", "summary": "Reducir la espera"}
    assert d["tickets"] == [{"tool": "jira", "key": "TRAM-7", "url": "https://jira.example/TRAM-7", "status": "in_progress"}]
    plain = get("/v1/feedback/" + insert(AG, "sin plan", category="transport", subcategory="transport/x"), KEYS["read"]).json()
    assert plain["priority"] is None and plain["action_plan"] is None and plain["tickets"] == [] and plain["location"] is None


def test_action_plans_stale_and_last_movement(api):
    """Reminders on the dashboard: an open plan whose tickets have not moved for --stale-after days
    (default 14; a ticket's updated_at changes only with its status) is "stale", with last_movement_at
    (its tickets' latest change, else its opening), in the list and the detail."""
    now = dt.datetime.now(dt.timezone.utc)
    plans = {}
    with db() as c, c.cursor() as cur:
        # name: (status, opened days ago, [(ticket status, moved days ago)], stale?)
        for name, (status, opened, tickets, _) in {
                "stuck": ("open", 40, [("in_progress", 20), ("open", 16)], True),
                "moving": ("open", 40, [("in_progress", 3)], False),
                "done": ("open", 40, [("done", 30)], False),
                "bare": ("open", 20, [], True),
                "closed": ("closed", 60, [("in_progress", 50)], False)}.items():
            pid = unique("plst").replace("-", "")
            plans[name] = pid
            cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, summary)"
                        " VALUES (%s,%s,%s,%s,%s,%s,'s')",
                        (pid, OTHER, "waiting_times/" + name, status, now - dt.timedelta(days=opened),
                         now - dt.timedelta(days=1) if status == "closed" else None))
            for st, moved in tickets:
                cur.execute("INSERT INTO actions (plan_id, tool, external_key, status, idempotency_key, opened_at,"
                            " updated_at) VALUES (%s,'jira','K',%s,%s,%s,%s)",
                            (pid, st, unique("idem"), now - dt.timedelta(days=opened),
                             now - dt.timedelta(days=moved)))
    want_stale = {"stuck": True, "moving": False, "done": False, "bare": True, "closed": False}
    want_moved = {"stuck": 16, "moving": 3, "done": 30, "bare": 20, "closed": 50}
    seen, cursor = {}, None
    while True:
        r = get("/v1/action-plans?limit=100" + ("&cursor=" + cursor if cursor else ""), KEYS["other"])
        assert r.status_code == 200, r.text
        for p in r.json()["items"]:
            seen[p["id"]] = p
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    for name, pid in plans.items():
        for p in (seen[pid], get("/v1/action-plans/" + pid, KEYS["other"]).json()):
            assert p["stale"] is want_stale[name], (name, p)
            moved = dt.datetime.fromisoformat(p["last_movement_at"].replace("Z", "+00:00"))
            assert abs((now - moved).total_seconds() - want_moved[name] * 86400) < 5, (name, p["last_movement_at"])


# ---------------------------------------------------------------- receipts

def test_receipts(api):
    fid = insert(AG, "Mi correo es secreto y mi texto también", category="transport", subcategory="transport/bus")
    r = get("/v1/receipts/" + token(fid))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "classified", "updated_at": (T0 + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert "secreto" not in r.text and AG not in r.text
    assert_security_headers(r)
    topic = "transport/" + unique("t").replace("-", "_")
    fid2 = insert(AG, "bus lleno", category="transport", subcategory=topic)
    add_plan(AG, topic)
    assert get("/v1/receipts/" + token(fid2)).json()["status"] == "ticket_open"
    topic3 = "transport/" + unique("t").replace("-", "_")
    fid3 = insert(AG, "bus tarde", category="transport", subcategory=topic3)
    add_plan(AG, topic3, status="closed")
    assert get("/v1/receipts/" + token(fid3)).json()["status"] == "resolved"
    topic4 = "transport/" + unique("t").replace("-", "_")
    fid4 = insert(AG, "bus sucio", category="transport", subcategory=topic4)
    add_plan(AG, topic4, tickets=())
    assert get("/v1/receipts/" + token(fid4)).json()["status"] == "in_action_plan"
    # a genuine token whose item is not stored yet: received, at the ULID's time
    ulid = "01JD00000000000000000000AB"
    r = get("/v1/receipts/" + token(ulid))
    assert r.status_code == 200 and r.json()["status"] == "received"
    # forged, truncated, unknown: 404 without detail
    for bad in (fid + ".AAAAAAAAAAAAAAAAAAAAAA", fid, token(fid)[:-1], "x.y", token(fid) + "A", "%00"):
        r = get("/v1/receipts/" + bad)
        assert r.status_code == 404, bad
        assert "secreto" not in r.text


# ---------------------------------------------------------------- Open311

O311_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
               "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
               "address", "address_id", "zipcode", "lat", "long", "media_url"}


def test_open311_reads(api):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    o1 = insert(AG, "bache en la calle", channel="OPEN311", category="transport", subcategory="transport/roads",
                service="transport", at=now - dt.timedelta(days=1), lat=-33.4, lon=-70.6, address="Calle 1")
    web = insert(AG, "denuncia por otro canal", channel="WHATSAPP", category="transport",
                 subcategory="transport/roads", at=now - dt.timedelta(days=1))
    old = insert(AG, "muy antiguo", channel="OPEN311", category="transport", at=now - dt.timedelta(days=200))
    theirs = insert(OTHER, "de otra agencia", channel="OPEN311", category="transport", at=now - dt.timedelta(days=1))
    r = requests.get(BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG}, timeout=10)
    assert r.status_code == 200, r.text
    reqs = r.json()
    ids = [x["service_request_id"] for x in reqs]
    assert o1 in ids and web not in ids and old not in ids and theirs not in ids
    one = next(x for x in reqs if x["service_request_id"] == o1)
    assert set(one) == O311_FIELDS
    assert one["status"] == "open" and one["service_code"] == "transport" and one["description"] == "bache en la calle"
    assert one["lat"] == -33.4 and one["long"] == -70.6 and one["address"] == "Calle 1"
    assert one["agency_responsible"] == AG and one["requested_datetime"].endswith("Z")
    assert one["service_name"] != "transport"  # the taxonomy's label
    for k in ("first_name", "last_name", "email", "phone"):
        assert k not in one
    # one request: a one-element array; other agencies' and other channels' ids are 404
    r = requests.get(BASE + "/open311/v2/requests/%s.json" % o1, params={"jurisdiction_id": AG}, timeout=10)
    assert r.status_code == 200 and r.json() == [one]
    for bad in (web, theirs, "nope"):
        r = requests.get(BASE + "/open311/v2/requests/%s.json" % bad, params={"jurisdiction_id": AG}, timeout=10)
        assert r.status_code == 404 and r.json()[0]["code"] == 404
    # with a key (Bearer or the api_key parameter) the key names the jurisdiction
    assert o1 in [x["service_request_id"] for x in
                  requests.get(BASE + "/open311/v2/requests.json", params={"api_key": KEYS["submit"]}, timeout=10).json()]
    assert requests.get(BASE + "/open311/v2/requests.json", params={"api_key": "bad"}, timeout=10).status_code == 401
    # filters: explicit ids override the date range; status; service_code; dates
    r = requests.get(BASE + "/open311/v2/requests.json",
                     params={"jurisdiction_id": AG, "service_request_id": "%s,%s" % (o1, old)}, timeout=10)
    assert sorted(x["service_request_id"] for x in r.json()) == sorted([o1, old])
    assert requests.get(BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG, "status": "closed",
                        "service_request_id": o1}, timeout=10).json()[0]["status"] == "open"
    closed = requests.get(BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG, "status": "closed"},
                          timeout=10).json()
    assert o1 not in [x["service_request_id"] for x in closed]
    by_code = requests.get(BASE + "/open311/v2/requests.json",
                           params={"jurisdiction_id": AG, "service_code": "health_services,safety"}, timeout=10)
    assert by_code.status_code == 200 and o1 not in [x["service_request_id"] for x in by_code.json()]
    assert o1 in [x["service_request_id"] for x in requests.get(
        BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG, "service_code": "transport"}, timeout=10).json()]
    s = (now - dt.timedelta(days=250)).strftime("%Y-%m-%dT%H:%M:%SZ")
    e = (now - dt.timedelta(days=170)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [x["service_request_id"] for x in requests.get(
        BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG, "start_date": s, "end_date": e},
        timeout=10).json()] == [old]
    # errors in GeoReport's shape
    r = requests.get(BASE + "/open311/v2/requests.json", timeout=10)
    assert r.status_code == 400 and r.json()[0]["code"] == 400 and "jurisdiction_id" in r.json()[0]["description"]
    wide = requests.get(BASE + "/open311/v2/requests.json", params={
        "jurisdiction_id": AG, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, timeout=10)
    assert wide.status_code == 400 and "90 days" in wide.json()[0]["description"]
    assert requests.get(BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG, "status": "pending"},
                        timeout=10).status_code == 400


# ---------------------------------------------------------------- review

def test_review_publishes_a_correction_and_audits(api):
    fid = insert(AG, "el funcionario fue grosero", category="other", subcategory="other/unclassified")
    bad = [({"category": "nope", "subcategory": "x", "sentiment": "NEGATIVE"}, "category"),
           ({"category": "staff_attention", "subcategory": "health/x", "sentiment": "NEGATIVE"}, "subcategory"),
           ({"category": "staff_attention", "subcategory": "staff_attention/attitude_courtesy", "sentiment": "MAD"}, "sentiment"),
           ({"category": "staff_attention", "subcategory": "staff_attention/attitude_courtesy", "sentiment": "NEGATIVE",
             "journey_stage": "LATER"}, "journey_stage")]
    for body, field in bad:
        r = post("/v1/feedback/%s/review" % fid, body, KEYS["review"])
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (body, r.text)
    assert post("/v1/feedback/%s/review" % fid, "{", KEYS["review"]).status_code == 400
    assert post("/v1/feedback/%s/review" % fid, "{}", KEYS["review"], headers={"Content-Type": "text/plain"}).status_code == 415
    good = {"category": "staff_attention", "subcategory": "attitude_courtesy", "sentiment": "NEGATIVE", "journey_stage": "SUPPORT"}
    theirs = insert(OTHER, "x")
    assert post("/v1/feedback/%s/review" % theirs, good, KEYS["review"]).status_code == 404
    r = post("/v1/feedback/%s/review" % fid, good, KEYS["review"])
    assert r.status_code == 202, r.text
    assert r.json() == {"id": fid, "status": "queued"}
    msgs = read_topic("escucha.corrections.v1", lambda m: m.key() == fid.encode(), 1, timeout=30)
    assert len(msgs) == 1
    c = json.loads(msgs[0].value())
    assert c["id"] == fid and c["text"] == "el funcionario fue grosero" and c["category"] == "staff_attention"
    assert c["subcategory"] == "staff_attention/attitude_courtesy" and c["sentiment"] == "NEGATIVE"
    assert c["journey_stage"] == "SUPPORT" and c["language"] == "es"
    with db() as conn, conn.cursor() as cur:
        cur.execute("SELECT actor, action, detail FROM audit_log WHERE entity = 'feedback' AND entity_id = %s", (fid,))
        rows = cur.fetchall()
    assert len(rows) == 1
    actor, action, detail = rows[0]
    assert actor == AG + ":review" and action == "review"
    assert detail["subcategory"] == "staff_attention/attitude_courtesy" and detail["via"] == "key" and "text" not in detail
    assert post("/v1/feedback/%s/review" % insert(AG, "otra"), good, KEYS["admin"]).status_code == 202


# ---------------------------------------------------------------- urgent cases (issue 16)

def key_id(key):
    """How audit rows name a key: the start of the sha256 its keys-file line holds."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def add_case(agency, text, *, channel="WHATSAPP", reason="threat: me amenazó", confidence=0.97, status="open",
             at=None, ticket=("redmine", "77", "https://redmine.example/issues/77", "open")):
    """An urgent item and its case (an action_plans row of kind 'case', as escucha-actions writes it)
    with its ticket, planted straight in PostgreSQL. Returns (case id, feedback id)."""
    at = at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    fid = insert(agency, text, channel=channel, urgent=True, category="safety", subcategory="safety/violence",
                 service="safety", at=at)
    cid = unique("case").replace("-", "")
    with db() as c, c.cursor() as cur:
        cur.execute("UPDATE feedback SET urgent_reason = %s, urgent_confidence = %s WHERE id = %s",
                    (reason, confidence, fid))
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, kind, feedback_id,"
                    " request_id) VALUES (%s,%s,%s,%s,%s,%s,'case',%s,%s)",
                    (cid, agency, "case/" + fid, status, at + dt.timedelta(seconds=1),
                     at + dt.timedelta(days=1) if status == "closed" else None, fid, "case/%s/%s" % (agency, fid)))
        if ticket:
            tool, k, url, st = ticket
            cur.execute("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key)"
                        " VALUES (%s,%s,%s,%s,%s,%s)", (cid, tool, k, url, st, unique("idem")))
            cur.execute("INSERT INTO audit_log (actor, entity, entity_id, action, detail) VALUES"
                        " ('escucha-actions', 'action_plan', %s, 'ticket_opened', %s)", (cid, json.dumps({"key": k})))
    return cid, fid


def audit_rows(entity, entity_id):
    with db() as c, c.cursor() as cur:
        cur.execute("SELECT actor, action, detail FROM audit_log WHERE entity = %s AND entity_id = %s ORDER BY id",
                    (entity, entity_id))
        return cur.fetchall()


def test_cases_list_detail_audit_and_ack(api):
    c1, f1 = add_case(AG, "mi expareja me amenazó con matarme")
    c2, f2 = add_case(AG, "tengo miedo de volver a casa", status="closed",
                      at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=30))
    ct, _ = add_case(OTHER, "caso de otra agencia")
    plan = add_plan(AG, "safety/" + unique("t").replace("-", "_"))
    # list: newest first, role read, every field the dashboard needs, never the text
    assert get("/v1/cases").status_code == 401
    assert get("/v1/cases", KEYS["submit"]).status_code == 403
    r = get("/v1/cases", KEYS["read"])
    assert r.status_code == 200, r.text
    assert_security_headers(r)
    items = r.json()["items"]
    ids = [x["id"] for x in items]
    assert ids.index(c2) < ids.index(c1) and ct not in ids and plan not in ids
    one = next(x for x in items if x["id"] == c1)
    assert one["feedback_id"] == f1 and one["channel"] == "whatsapp" and one["status"] == "open"
    assert one["reason"] == "threat: me amenazó" and one["confidence"] == 0.97
    assert one["category"] == "safety" and one["subcategory"] == "safety/violence"
    assert one["received_at"].endswith("Z") and one["opened_at"].endswith("Z") and one["closed_at"] is None
    assert one["tickets"] == [{"tool": "redmine", "key": "77", "url": "https://redmine.example/issues/77",
                               "status": "open"}]
    assert one["acknowledged"] is None and "text" not in one and "matarme" not in r.text
    # cases are not action plans: /v1/action-plans neither lists nor shows them
    assert c1 not in [x["id"] for x in get("/v1/action-plans", KEYS["read"]).json()["items"]]
    assert get("/v1/action-plans/" + c1, KEYS["read"]).status_code == 404
    # status filter, pages, ETag
    open_ids = [x["id"] for x in get("/v1/cases", KEYS["read"], params={"status": "open"}).json()["items"]]
    assert c1 in open_ids and c2 not in open_ids
    closed_ids = [x["id"] for x in get("/v1/cases", KEYS["read"], params={"status": "closed"}).json()["items"]]
    assert c2 in closed_ids and c1 not in closed_ids
    p1 = get("/v1/cases", KEYS["read"], params={"limit": 1}).json()
    assert len(p1["items"]) == 1 and p1["next_cursor"]
    p2 = get("/v1/cases", KEYS["read"], params={"limit": 1, "cursor": p1["next_cursor"]}).json()
    assert p2["items"][0]["id"] != p1["items"][0]["id"]
    etag = r.headers["ETag"]
    assert get("/v1/cases", KEYS["read"], headers={"If-None-Match": etag}).status_code == 304
    for bad, field in (({"status": "pending"}, "status"), ({"cursor": "nope!"}, "cursor"), ({"limit": "0"}, "limit")):
        r = get("/v1/cases", KEYS["read"], params=bad)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (bad, r.text)
    # detail: the redacted text, and every read is in the trail with who (the key's id, never the key)
    r = get("/v1/cases/" + c1, KEYS["read"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["text"] == "mi expareja me amenazó con matarme" and d["language"] == "es" and d["feedback_id"] == f1
    assert [a["action"] for a in d["audit"]] == ["ticket_opened", "viewed"]
    seen = d["audit"][-1]
    assert seen["actor"] == AG + ":read" and seen["entity"] == "case"
    assert seen["detail"] == {"key_id": key_id(KEYS["read"]), "role": "read", "via": "key"}
    assert KEYS["read"] not in r.text
    rows = audit_rows("case", c1)
    assert [(a, act) for a, act, _ in rows] == [(AG + ":read", "viewed")]
    get("/v1/cases/" + c1, KEYS["admin"])
    assert [(a, d["role"]) for a, _, d in audit_rows("case", c1)] == [(AG + ":read", "read"), (AG + ":admin", "admin")]
    # another agency's case, a plan's id, a missing id: 404, and nothing written
    for bad in (ct, plan, "NOPE0000000000000000000000"):
        r = get("/v1/cases/" + bad, KEYS["read"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad
    assert audit_rows("case", ct) == [] and audit_rows("case", plan) == []
    # handling: acknowledge (role review); a read key may not
    assert post("/v1/cases/%s/ack" % c1, {}, KEYS["read"]).status_code == 403
    assert post("/v1/cases/%s/ack" % ct, {}, KEYS["review"]).status_code == 404
    assert requests.get(BASE + "/v1/cases/%s/ack" % c1, headers={"Authorization": "Bearer " + KEYS["review"]},
                        timeout=10).status_code == 405
    r = post("/v1/cases/%s/ack" % c1, "", KEYS["review"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == c1 and r.json()["acknowledged"]["actor"] == AG + ":review"
    actor, action, detail = audit_rows("case", c1)[-1]
    assert (actor, action) == (AG + ":review", "acknowledged")
    assert detail == {"key_id": key_id(KEYS["review"]), "role": "review", "via": "key"}
    one = next(x for x in get("/v1/cases", KEYS["read"]).json()["items"] if x["id"] == c1)
    assert one["acknowledged"]["actor"] == AG + ":review"
    # through a dashboard session: the key's id is remembered, and the POST needs the CSRF token
    s = requests.Session()
    assert s.post(BASE + "/v1/session", json={"key": KEYS["readreview"]}, timeout=10).status_code == 204
    csrf = s.get(BASE + "/v1/session", timeout=10).json()["csrf"]
    assert s.post(BASE + "/v1/cases/%s/ack" % c2, timeout=10).status_code == 403
    assert s.post(BASE + "/v1/cases/%s/ack" % c2, headers={"X-Escucha-CSRF": csrf}, timeout=10).status_code == 200
    d = s.get(BASE + "/v1/cases/" + c2, timeout=10).json()
    assert [a["action"] for a in d["audit"]][-2:] == ["acknowledged", "viewed"]
    assert d["audit"][-1]["detail"] == {"key_id": key_id(KEYS["readreview"]), "role": "review", "via": "session"}


def test_urgent_item_reads_are_audited(api):
    cid, fid = add_case(AG, "I am going to hurt myself tonight", reason="self-harm: hurt myself", confidence=0.9)
    plain = insert(AG, "la fila era larga")
    r = get("/v1/feedback/" + fid, KEYS["read"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["urgent"] is True and d["urgent_reason"] == "self-harm: hurt myself" and d["urgent_confidence"] == 0.9
    assert d["case"] == {"id": cid, "status": "open"}
    rows = audit_rows("feedback", fid)
    assert rows == [(AG + ":read", "viewed", {"key_id": key_id(KEYS["read"]), "role": "read", "via": "key"})]
    # an ordinary item's read is not audited; lists carry the fields too
    d = get("/v1/feedback/" + plain, KEYS["read"]).json()
    assert d["urgent"] is False and d["urgent_reason"] is None and d["case"] is None
    assert audit_rows("feedback", plain) == []
    listed = get("/v1/feedback", KEYS["read"], params={"urgent": "true", "limit": 500}).json()["items"]
    it = next(x for x in listed if x["id"] == fid)
    assert it["urgent_reason"] == "self-harm: hurt myself" and it["urgent_confidence"] == 0.9
    # the case's trail shows who read its item
    trail = get("/v1/cases/" + cid, KEYS["read"]).json()["audit"]
    assert [(a["entity"], a["action"]) for a in trail] == [("action_plan", "ticket_opened"), ("feedback", "viewed"),
                                                          ("case", "viewed")]


def test_urgent_items_are_never_public(api):
    """Open311 lists leave an urgent item out entirely; its Open311 GET and its receipt answer exactly
    what an item not stored yet answers (404 / "received" at the id's time): no category, no status
    notes, no text, no link to a case."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    text = "me quieren matar, estoy en la calle Moneda 12"
    cid, fid = add_case(AG, text, channel="OPEN311", at=now - dt.timedelta(hours=2))
    plain = insert(AG, "semáforo apagado", channel="OPEN311", category="transport", service="transport",
                   at=now - dt.timedelta(hours=2))
    for params in ({"jurisdiction_id": AG}, {"jurisdiction_id": AG, "service_request_id": "%s,%s" % (fid, plain)},
                   {"jurisdiction_id": AG, "service_code": "safety"}, {"api_key": KEYS["admin"]}):
        r = requests.get(BASE + "/open311/v2/requests.json", params=params, timeout=10)
        assert r.status_code == 200, r.text
        assert fid not in r.text and cid not in r.text and "matar" not in r.text and "Moneda" not in r.text, params
    listed = requests.get(BASE + "/open311/v2/requests.json", params={"jurisdiction_id": AG}, timeout=10).json()
    assert plain in [x["service_request_id"] for x in listed]
    missing = requests.get(BASE + "/open311/v2/requests/NOPE0000000000000000000000.json",
                           params={"jurisdiction_id": AG}, timeout=10)
    for params in ({"jurisdiction_id": AG}, {"api_key": KEYS["admin"]}):
        r = requests.get(BASE + "/open311/v2/requests/%s.json" % fid, params=params, timeout=10)
        assert r.status_code == 404 and r.json() == missing.json(), r.text
    # the receipt: "received" at the ULID's time, like a token whose item is not stored yet
    ulid = "01JD00000000000000000000AB"
    r = get("/v1/receipts/" + token(fid))
    assert r.status_code == 200 and r.json()["status"] == "received", r.text
    assert set(r.json()) == set(get("/v1/receipts/" + token(ulid)).json()) == {"status", "updated_at"}
    assert "matar" not in r.text and "safety" not in r.text and cid not in r.text
    assert get("/v1/receipts/" + token(plain)).json()["status"] == "classified"
    # nothing above was an audited read
    assert audit_rows("feedback", fid) == [] and audit_rows("case", cid) == []


def test_taxonomy_endpoint(api):
    assert get("/v1/taxonomy").status_code == 401
    assert get("/v1/taxonomy", KEYS["submit"]).status_code == 403
    r = get("/v1/taxonomy", KEYS["read"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert_security_headers(r)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "config", "taxonomy.default.json"),
              encoding="utf-8") as f:
        cfg = json.load(f)  # what the api loads by default (ESCUCHA_TAXONOMY)
    want = [{"id": c["id"], "labels": {"es": c["labels"]["es"], "en": c["labels"]["en"]},
             "subcategories": [{"id": s["id"], "labels": {"es": s["labels"]["es"], "en": s["labels"]["en"]}}
                               for s in c.get("subcategories", [])]} for c in cfg["categories"]]
    assert r.json() == {"categories": want}
    assert get("/v1/taxonomy", KEYS["read"], headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def raw_exchange(data):
    """Bytes sent as they are; the answer's head and its Content-Length body."""
    import socket
    s = socket.create_connection(("127.0.0.1", API_PORT), timeout=10)
    try:
        s.sendall(data)
        out = b""
        while True:
            end = out.find(b"\r\n\r\n")
            if end >= 0:
                head = out[:end].decode("latin-1").lower()
                n = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0
                if len(out) >= end + 4 + n:
                    return out.decode("latin-1")
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                b = b""
            if not b:
                return out.decode("latin-1")
            out += b
    finally:
        s.close()


def test_http_layer_refusals_carry_security_headers(api):
    """400, 413 and 431 come from lib/http before the request reaches escucha-api: they carry its
    Content-Security-Policy and nosniff too (es_http_limits.default_headers)."""
    cases = {
        400: b"GET /v1/feedback HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",   # obsolete line folding
        413: b"POST /v1/session HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n",
        431: b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n",
    }
    for status, data in cases.items():
        out = raw_exchange(data)
        head = out.split("\r\n\r\n", 1)[0]
        assert head.startswith("HTTP/1.1 %d " % status), (status, out[:300])
        assert "\r\nContent-Security-Policy: default-src 'self';" in head, head
        assert "frame-ancestors 'none'" in head and "\r\nX-Content-Type-Options: nosniff" in head, head
        assert "\r\nReferrer-Policy: no-referrer" in head, head


def test_api_role_is_read_only(api):
    c = psycopg2.connect(API_PG_DSN)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT count(*) FROM feedback")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO feedback (id, agency, received_at, category) VALUES ('x','y',now(),'z')")
        c.rollback()
        with c.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM audit_log")
        c.rollback()
        with c.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("UPDATE action_plans SET status = 'closed'")
    finally:
        c.close()
    assert api.metric("escucha_api_requests_total") > 0


def test_health_lag_dlq_and_model(api):
    from confluent_kafka import TopicPartition
    insert(AG, "modelo", at=T0 + dt.timedelta(days=40))
    topic = "escucha.corrections.v1"
    p = producer()
    for i in range(3):
        p.produce(topic, key=b"health", value=b'{"id":"x"}', partition=0)
    assert p.flush(10) == 0
    c = consumer(group=HEALTH_GROUP)
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert hi >= 3
    c.commit(offsets=[TopicPartition(topic, 0, hi - 2)], asynchronous=False)  # 2 behind on partition 0
    c.close()
    dlq = 0
    c2 = consumer()
    for part in c2.list_topics("escucha.dlq.v1", timeout=10).topics["escucha.dlq.v1"].partitions:
        l, h = c2.get_watermark_offsets(TopicPartition("escucha.dlq.v1", part), timeout=10)
        dlq += h - l
    c2.close()
    want = [{"group": HEALTH_GROUP, "topic": topic, "lag": 2}]

    def probed():  # the lag monitor probes every 200 ms on its own thread
        x = get("/v1/health", KEYS["read"])
        return x if x.status_code == 200 and x.json()["consumer_lag"] == want else None
    r = wait_until(probed, 30, interval=0.2, what="the probed lag in /v1/health")
    d = r.json()
    assert d["model_version"] == "m-test"
    assert d["dlq"]["count"] >= dlq  # other tests may add to the DLQ meanwhile, never remove
    assert d["consumer_lag"] == want
    assert api.metric('escucha_kafka_group_lag{group="%s",topic="%s",partition="0"}' % (HEALTH_GROUP, topic)) == 2
    assert get("/v1/health").status_code == 401
    assert get("/v1/health", KEYS["submit"]).status_code == 403


def test_pipeline_fills_location_and_top_terms(api, services):
    """prioritize stores Feedback.location and Classification.top_terms; the API shows them."""
    services.start("prioritize", env={"ESCUCHA_GROUP": unique("pz"), "ESCUCHA_BATCH_MS": "100"})
    fid = unique("pf").replace("-", "")
    m = pb.ClassifiedFeedback()
    f = m.feedback
    f.id, f.agency, f.service, f.channel = fid, AG, "transport", pb.OPEN311
    f.text, f.language = "semáforo roto en la esquina", "es"
    now_ms = int(time.time() * 1000)
    f.received_at, f.created_at = now_ms, now_ms - 1000
    f.location.lat, f.location.lon, f.location.address = -33.44, -70.65, "Alameda 1"
    c = m.classification
    c.category, c.subcategory, c.confidence, c.sentiment = "transport", "transport/public_transport", 0.9, pb.NEGATIVE
    c.model_version = "m1"
    c.runner_up, c.predicted_subcategory = 0.05, "transport/public_transport"
    c.top_terms.extend(["semáforo", "roto", 'di"ce'])
    m.classified_at = now_ms + 5
    p = producer()
    p.produce("escucha.feedback.classified.v1", m.SerializeToString(), key=("%s/transport" % AG).encode())
    assert p.flush(30) == 0
    r = wait_until(lambda: (lambda x: x if x.status_code == 200 else None)(get("/v1/feedback/" + fid, KEYS["read"])),
                   90, interval=0.2, what="the item through prioritize")
    d = r.json()
    assert d["location"] == {"lat": -33.44, "lon": -70.65, "address": "Alameda 1"}
    assert d["top_terms"] == ["semáforo", "roto", 'di"ce']
    assert d["channel"] == "open311" and d["model_version"] == "m1"
    o = requests.get(BASE + "/open311/v2/requests/%s.json" % fid, params={"jurisdiction_id": AG}, timeout=10).json()[0]
    assert (o["lat"], o["long"], o["address"]) == (-33.44, -70.65, "Alameda 1")
    # the review queue's margin and line (migration 019)
    assert sql("SELECT runner_up, predicted FROM feedback WHERE id = %s", (fid,)) == [
        (0.05, "transport/public_transport")]


def found_by(word, fid):
    r = get("/v1/feedback", KEYS["read"], params={"q": word})
    assert r.status_code == 200, r.text
    return fid in [i["id"] for i in r.json()["items"]]


def test_item_searchable_after_its_batch_commits(api, services):
    """prioritize writes the row without its vector (off the hot insert) and fills the vector on its
    second connection right after the COMMIT: visible first, searchable a moment later."""
    pz = services.start("prioritize", env={"ESCUCHA_GROUP": unique("pz"), "ESCUCHA_BATCH_MS": "100"})
    word = "zq" + secrets.token_hex(5)  # a word no other item has
    fid = unique("sf").replace("-", "")
    m = pb.ClassifiedFeedback()
    f = m.feedback
    f.id, f.agency, f.service, f.channel = fid, AG, "procedures", pb.WEB
    f.text, f.language = "El trámite %s lleva semanas sin respuesta" % word, "es"
    now_ms = int(time.time() * 1000)
    f.received_at, f.created_at = now_ms, now_ms - 1000
    c = m.classification
    c.category, c.subcategory, c.confidence, c.sentiment = "procedures", "procedures/requirements_documents", 0.9, pb.NEGATIVE
    c.model_version = "m1"
    m.classified_at = now_ms + 5
    p = producer()
    p.produce("escucha.feedback.classified.v1", m.SerializeToString(), key=("%s/procedures" % AG).encode())
    assert p.flush(30) == 0
    wait_until(lambda: get("/v1/feedback/" + fid, KEYS["read"]).status_code == 200, 90, interval=0.1,
               what="the item through prioritize")
    wait_until(lambda: found_by(word, fid), 30, interval=0.1, what="the item in a search")
    assert found_by("semana", fid)  # Spanish stemming, as before the vector moved
    # counted when prioritize reads the fill's result, a moment after its commit made it searchable
    wait_until(lambda: pz.metric("escucha_prioritize_search_rows_total") >= 1, 10, what="the fill counted")
    with db() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM feedback_search s JOIN feedback f USING (id)"
                    " WHERE f.id = %s AND s.search = feedback_search_vector(f.language, f.text)", (fid,))
        assert cur.fetchone()[0] == 1


def test_search_catch_up_fills_rows_a_crash_left(api, services):
    """A row committed whose fill never ran (prioritize killed between its COMMIT and the fill; or
    written by another writer) is filled by the catch-up: at the restarted service's start, and by a
    running service's next fill."""
    env = {"ESCUCHA_GROUP": unique("pz"), "ESCUCHA_BATCH_MS": "100"}
    pz = services.start("prioritize", env=env)
    pz.kill9()
    w1, w2 = "zq" + secrets.token_hex(5), "zq" + secrets.token_hex(5)
    f1 = insert(AG, "Nadie contesta el teléfono " + w1, at=T0 + dt.timedelta(days=3), searchable=False)
    assert not found_by(w1, f1)  # listed, not searchable yet
    assert f1 in [i["id"] for i in get("/v1/feedback", KEYS["read"], params={"limit": 500}).json()["items"]]
    services.start("prioritize", env=env)
    wait_until(lambda: found_by(w1, f1), 30, interval=0.1, what="the crash-left row filled at start")
    f2 = insert(AG, "El formulario se cae " + w2, at=T0 + dt.timedelta(days=3, seconds=1), searchable=False)
    wait_until(lambda: found_by(w2, f2), 30, interval=0.1, what="a row without its vector filled while running")


def test_loop_never_waits_for_postgresql(api):
    """A query stuck on a lock occupies one pooled worker; the loop keeps answering."""
    blocker = psycopg2.connect(PG_DSN)
    result = {}
    try:
        cur = blocker.cursor()
        cur.execute("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE")  # held until rollback

        def slow():
            result["r"] = get("/v1/feedback", KEYS["read"], params={"category": "integrity"})

        t = threading.Thread(target=slow)
        t.start()
        wait_until(lambda: sql_count("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'feedback'::regclass") > 0,
                   10, what="the api's query waiting for the lock")
        t0 = time.monotonic()
        assert get("/").status_code == 200
        assert get("/v1/session").json() == {"authenticated": False}
        assert get("/v1/action-plans", KEYS["read"]).status_code == 200  # another pooled worker
        assert time.monotonic() - t0 < 2, "the loop waited for the blocked query"
        assert t.is_alive() and "r" not in result
    finally:
        blocker.rollback()
        blocker.close()
    t.join(15)
    assert result["r"].status_code == 200


def sql_count(q):
    with db() as c, c.cursor() as cur:
        cur.execute(q)
        return cur.fetchone()[0]


def test_end_to_end_open311_through_ingest(api, services):
    """A spec-shaped Open311 POST to ingest; its receipt answers at escucha-api; the item goes
    through classify and prioritize; Open311 GETs on ingest's base URL are forwarded here."""
    services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_API_KEYS": key_env(), "ESCUCHA_RATE_LIMIT": "0"})
    u = unique("sem")
    r = requests.post("http://127.0.0.1:%d/open311/v2/requests.json" % HTTP_PORT, timeout=30, data={
        "service_code": "transport", "description": "El semáforo de la esquina está apagado " + u,
        "lat": "-33.45", "long": "-70.66", "address_string": "Alameda 100", "api_key": KEYS["submit"],
        "email": "vecina@example.org", "first_name": "Ana"})
    assert r.status_code == 201, r.text
    sr = r.json()[0]
    fid, url = sr["service_request_id"], sr["status_url"]
    assert url.startswith(BASE + "/v1/receipts/" + fid + ".")
    rc = requests.get(url, timeout=10)
    assert rc.status_code == 200 and rc.json()["status"] in ("received", "classified"), rc.text
    services.start("classify")
    services.start("prioritize", env={"ESCUCHA_BATCH_MS": "100"})
    one = "http://127.0.0.1:%d/open311/v2/requests/%s.json" % (HTTP_PORT, fid)

    def stored():
        x = requests.get(one, params={"jurisdiction_id": AG}, timeout=10)
        return x if x.status_code == 200 else None
    got = wait_until(stored, 120, interval=0.25, what="the request readable through ingest").json()
    assert len(got) == 1 and got[0]["service_request_id"] == fid
    assert got[0]["description"].endswith(u) and got[0]["service_code"] == "transport"
    assert (got[0]["lat"], got[0]["long"], got[0]["address"]) == (-33.45, -70.66, "Alameda 100")
    assert got[0]["status"] == "open"
    assert "vecina" not in json.dumps(got) and "Ana" not in json.dumps(got)
    listed = requests.get("http://127.0.0.1:%d/open311/v2/requests.json" % HTTP_PORT,
                          params={"api_key": KEYS["submit"]}, timeout=10).json()
    assert fid in [x["service_request_id"] for x in listed]
    assert requests.get(url, timeout=10).json()["status"] in ("classified", "in_action_plan", "ticket_open")
    # the dashboard sees it too, with its classification
    d = get("/v1/feedback/" + fid, KEYS["read"]).json()
    assert d["channel"] == "open311" and d["category"] and d["model_version"]
    # classify sends the runner-up probability and the most probable subcategory, also when it
    # serves the item as other/unclassified: the review queue's margin and line
    (ru, pred, conf), = sql("SELECT runner_up, predicted, confidence FROM feedback WHERE id = %s", (fid,))
    assert pred and "/" in pred and 0 <= ru <= conf <= 1, (ru, pred, conf)
