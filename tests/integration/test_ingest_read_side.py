"""Ingest's part of the read side (issue 15): key roles, citizen receipts
(status_url), Open311's api_key and contact fields, and Open311 reads
forwarded to escucha-api (here a stub upstream)."""
import hashlib
import http.server
import json
import os
import socket
import tempfile
import threading

import requests

from conftest import HTTP_PORT, feedback_of, post_json, read_topic, receipt_id, unique, wait_until

BASE = "http://127.0.0.1:%d" % HTTP_PORT
O311 = BASE + "/open311/v2/requests.json"


def service_code():
    return requests.get(BASE + "/open311/v2/services.json", timeout=30).json()[0]["service_code"]


def test_read_key_cannot_submit(services, read_key, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    r = post_json("/v1/feedback", {"text": "Solo lectura " + u}, read_key)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    r = post_json("/v1/feedback:batch", [{"text": "Solo lectura " + u}], read_key)
    assert r.status_code == 403, r.text
    r = requests.post(O311, data={"service_code": service_code(), "description": "x " + u, "api_key": read_key},
                      timeout=30)
    assert r.status_code == 403 and r.json()[0]["code"] == 403, r.text
    # the same agency's admin key submits
    assert post_json("/v1/feedback", {"text": "Con permiso " + u}, api_key).status_code == 202


def test_legacy_and_role_lines(services):
    keys = {"leg": "k-legacy-" + unique(), "sub": "k-submit-" + unique(), "rd": "k-read-" + unique(),
            "rev": "k-review-" + unique(), "adm": "k-admin-" + unique()}
    roles = {"leg": None, "sub": "submit", "rd": "read", "rev": "read,review", "adm": "admin"}
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
        f.write("# legacy lines mean submit+read+review\n")
        for agency, key in keys.items():
            h = hashlib.sha256(key.encode()).hexdigest()
            f.write("%s:%s\n" % (agency, h) if roles[agency] is None else "%s:%s:%s\n" % (agency, roles[agency], h))
    try:
        services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_API_KEYS_FILE": f.name})
        want = {"leg": 202, "sub": 202, "rd": 403, "rev": 403, "adm": 202}
        got = {a: post_json("/v1/feedback", {"text": "Roles %s %s" % (a, unique())}, k).status_code
               for a, k in keys.items()}
        assert got == want
        assert post_json("/v1/feedback", {"text": "x"}, "not-a-key").status_code == 401
    finally:
        os.unlink(f.name)


def test_status_url_in_every_answer(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    r = post_json("/v1/feedback", {"text": "Recibo simple " + u, "external_id": "rs-" + u}, api_key)
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"id", "status", "status_url"} and body["status"] == "accepted"
    assert receipt_id(body["status_url"]) == body["id"]
    # a re-sent copy answers with the first copy's receipt
    r = post_json("/v1/feedback", {"text": "Recibo simple " + u, "external_id": "rs-" + u}, api_key)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert r.json()["status_url"] == body["status_url"]
    # batch: accepted and duplicate items carry one, rejected ones don't
    items = [{"text": "Lote nuevo " + u}, {"text": "Recibo simple " + u, "external_id": "rs-" + u}, {"text": ""}]
    r = post_json("/v1/feedback:batch", items, api_key)
    assert r.status_code == 202, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["accepted", "duplicate", "rejected"]
    assert receipt_id(res[0]["status_url"]) == res[0]["id"]
    assert receipt_id(res[1]["status_url"]) == body["id"]
    assert "status_url" not in res[2]
    # a forged token does not verify: one character of the mac changed
    head, _, mac = body["status_url"].rpartition(".")
    assert receipt_id("%s.%s%s" % (head, "B" if mac[0] == "A" else "A", mac[1:])) is None


def test_open311_api_key(services, api_key):
    services.start("ingest", http_port=HTTP_PORT)
    code, u = service_code(), unique()
    # the spec's form field, as GeoReport v2 clients send it
    r = requests.post(O311, data={"api_key": api_key, "service_code": code, "description": "Bache " + u}, timeout=30)
    assert r.status_code == 201, r.text
    got = r.json()[0]
    assert receipt_id(got["service_notice"]) == got["service_request_id"]
    assert got["status_url"] == got["service_notice"]
    # the query parameter
    r = requests.post(O311, params={"api_key": api_key}, data={"service_code": code, "description": "Poste " + u},
                      timeout=30)
    assert r.status_code == 201, r.text
    # no key, a wrong one, a wrong Bearer header even with a good api_key: 401 in Open311's format
    for kw in ({"data": {"service_code": code, "description": "x " + u}},
               {"data": {"service_code": code, "description": "x " + u, "api_key": "wrong"}},
               {"data": {"service_code": code, "description": "x " + u, "api_key": api_key},
                "headers": {"Authorization": "Bearer wrong"}}):
        r = requests.post(O311, timeout=30, **kw)
        assert r.status_code == 401 and r.json()[0]["code"] == 401, r.text


def test_open311_contact_fields_never_kept(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT)
    code, u = service_code(), unique()
    first, last = "Zenobia" + u[-6:], "Quintanilla" + u[-6:]
    email, phone = "vecina-%s@example.org" % u, "+56 2 2345 6789"
    r = requests.post(O311, timeout=30, data={
        "api_key": api_key, "service_code": code, "description": "Basura acumulada " + u,
        "first_name": first, "last_name": last, "email": email, "phone": phone})
    assert r.status_code == 201, r.text
    sid = r.json()[0]["service_request_id"]
    # and as JSON
    r = requests.post(O311, timeout=30, headers={"Authorization": "Bearer " + api_key},
                      json={"service_code": code, "description": "Basura JSON " + u, "email": email,
                            "first_name": first})
    assert r.status_code == 201, r.text
    sid2 = r.json()[0]["service_request_id"]
    got = read_topic("escucha.feedback.ingested.v1", lambda m: feedback_of(m).id in (sid, sid2), 2)
    assert len(got) == 2
    for m in got:
        raw = m.value() + (m.key() or b"")
        for secret in (first, last, email, "2345", api_key):
            assert secret.encode() not in raw, secret
    wait_until(lambda: ing.metric('escucha_ingest_open311_contact_dropped_total{field="email"}') >= 2, 10,
               what="contact metric")
    assert ing.metric('escucha_ingest_open311_contact_dropped_total{field="phone"}') >= 1
    log = ing.log()
    for secret in (first, last, email, api_key):
        assert secret not in log


class Upstream:
    """A stub escucha-api: records each request, answers from `answers` by path."""

    def __init__(self):
        self.seen = []
        self.answers = {}
        up = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                up.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
                status, ctype, body = up.answers.get(self.path.split("?")[0], (404, "application/json", b"[]"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_open311_reads_forwarded(services, api_key):
    up = Upstream()
    try:
        ing = services.start("ingest", http_port=HTTP_PORT,
                             env={"ESCUCHA_OPEN311_READ_URL": "http://127.0.0.1:%d/" % up.port})
        lst = json.dumps([{"service_request_id": "01ABC", "status": "open"}]).encode()
        up.answers["/open311/v2/requests.json"] = (200, "application/json; charset=utf-8", lst)
        up.answers["/open311/v2/requests/01ABC.json"] = (200, "application/json", b'[{"service_request_id":"01ABC"}]')
        r = requests.get(O311, params={"jurisdiction_id": "demo", "status": "open"},
                         headers={"Authorization": "Bearer " + api_key}, timeout=30)
        assert r.status_code == 200 and r.content == lst
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        assert up.seen[-1] == {"path": "/open311/v2/requests.json?jurisdiction_id=demo&status=open",
                               "auth": "Bearer " + api_key}
        r = requests.get(BASE + "/open311/v2/requests/01ABC.json?jurisdiction_id=demo", timeout=30)
        assert r.status_code == 200 and r.json() == [{"service_request_id": "01ABC"}]
        assert up.seen[-1] == {"path": "/open311/v2/requests/01ABC.json?jurisdiction_id=demo", "auth": None}
        # the upstream's own refusals are relayed as they are
        r = requests.get(BASE + "/open311/v2/requests/01NOPE.json", timeout=30)
        assert r.status_code == 404 and r.json() == []
        # an id that is not one never leaves ingest
        n = len(up.seen)
        assert requests.get(BASE + "/open311/v2/requests/a.b.json", timeout=30).status_code == 404
        assert len(up.seen) == n
        assert ing.metric('escucha_ingest_open311_forward_total{result="ok"}') >= 3
    finally:
        up.close()
    # upstream gone: 503 in Open311's error format
    r = requests.get(O311, timeout=30)
    assert r.status_code == 503 and r.json()[0]["code"] == 503, r.text
    assert "Retry-After" in r.headers


def test_open311_read_deadline(services):
    # accepts the connection and never answers: the deadline gives 503
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    try:
        services.start("ingest", http_port=HTTP_PORT,
                       env={"ESCUCHA_OPEN311_READ_URL": "http://127.0.0.1:%d" % lsn.getsockname()[1],
                            "ESCUCHA_OPEN311_READ_TIMEOUT_S": "0.3"})
        r = requests.get(O311, timeout=30)
        assert r.status_code == 503 and r.json()[0]["code"] == 503, r.text
    finally:
        lsn.close()


def test_receipts_off_without_secret(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_RECEIPT_SECRET_FILE": ""})
    r = post_json("/v1/feedback", {"text": "Sin recibo " + unique()}, api_key)
    assert r.status_code == 202 and "status_url" not in r.json()
    assert "receipts_off" in ing.log()
