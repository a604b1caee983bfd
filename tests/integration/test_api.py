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

from conftest import (API_PG_DSN, API_PORT, PG_DSN, Service, consumer, pb, producer, read_topic, unique,
                      wait_until)

BASE = "http://127.0.0.1:%d" % API_PORT
AG = unique("ag")        # the main agency of this module
OTHER = unique("otra")   # another agency (isolation)
KEYS = {name: "k_" + secrets.token_hex(16) for name in ("admin", "read", "review", "readreview", "submit", "other")}
RECEIPT_KEY = secrets.token_bytes(32)
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
def api(web_root, tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "receipt.key"
    secret.write_text(RECEIPT_KEY.hex() + "\n")
    svc = Service("api", http_port=API_PORT, env={
        "ESCUCHA_API_KEYS": key_env(), "ESCUCHA_RECEIPT_SECRET_FILE": str(secret),
        "ESCUCHA_WEB_ROOT": str(web_root), "ESCUCHA_HEALTH_GROUPS": "escucha-nobody," + HEALTH_GROUP})
    yield svc
    rc = svc.stop()
    assert rc == 0, "escucha-api exited %s on SIGTERM; log tail:\n%s" % (rc, svc.log()[-3000:])


def db():
    c = psycopg2.connect(PG_DSN)
    c.autocommit = True
    return c


def insert(agency, text, *, id=None, lang="es", at=None, category="waiting_times",
           subcategory="waiting_times/queue_length", sentiment="NEGATIVE", channel="WEB", urgent=False,
           confidence=0.8, service=None, lat=None, lon=None, address=None):
    id = id or unique("f").replace("-", "")
    at = at or T0
    with db() as c, c.cursor() as cur:
        cur.execute(
            "INSERT INTO feedback (id, agency, service, channel, text, language, received_at, category,"
            " subcategory, confidence, sentiment, urgent, model_version, classified_at, lat, lon, address)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,'m-test',%s,%s,%s,%s)",
            (id, agency, service or category, channel, text, lang, at, category, subcategory, confidence,
             sentiment, urgent, at + dt.timedelta(seconds=2), lat, lon, address))
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
    # a forged cookie is nobody
    assert requests.get(BASE + "/v1/session", cookies={"escucha_session": "A" * 43}, timeout=10).status_code == 401
    r = s.delete(BASE + "/v1/session", timeout=10)
    assert r.status_code == 204 and "Max-Age=0" in r.headers["Set-Cookie"]
    assert requests.get(BASE + "/v1/session", cookies={"escucha_session": sid}, timeout=10).status_code == 401
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
                    "urgent": False, "nps": None, "csat": None}
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
    r = get("/v1/health", KEYS["read"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["model_version"] == "m-test"
    assert d["dlq"]["count"] >= dlq  # other tests may add to the DLQ meanwhile, never remove
    assert d["consumer_lag"] == [{"group": HEALTH_GROUP, "topic": topic, "lag": 2}]
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
