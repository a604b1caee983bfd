"""escucha-actions against the real stack: planted evidence in PostgreSQL, an
ActionRequest on Kafka, the Redmine connector pointed at the contract fake
(tests/contract/vendor_server.py). One plan -> one ticket, however often the
request comes and wherever the process is killed; closing the ticket in the
tool shows up as `done`, with ActionStatus messages and audit rows.

Each test uses its own agency; the fake server is new per module and its ids
start at a random base, so rows of earlier runs never match its tickets."""
import http.client
import http.server
import json
import os
import sys
import threading
import time

import pytest
import requests

from conftest import PG_DSN, pb, producer, read_topic, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402

TOKEN = "tok-redmine-secret"


@pytest.fixture(scope="module")
def vendor():
    v = it.vendor_server()
    yield v
    v.stop()


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory):
    return it.taxonomy_routed(str(tmp_path_factory.mktemp("tax") / "taxonomy.json"), {"tool": "redmine"})


def env_for(vendor, taxonomy, **extra):
    e = {"ESCUCHA_TAXONOMY": taxonomy, "ESCUCHA_REDMINE_BASE_URL": vendor.url + "/redmine",
         "ESCUCHA_REDMINE_TOKEN": TOKEN, "ESCUCHA_REDMINE_PROJECT": "escucha",
         "ESCUCHA_POLL_INTERVAL_S": "0.2", "ESCUCHA_RETRY_BASE_MS": "20", "ESCUCHA_RETRY_MAX": "2",
         "ESCUCHA_LOCK_TTL_MS": "1500", "ESCUCHA_HTTP_TIMEOUT_MS": "5000", "ESCUCHA_LANG": "es"}
    e.update(extra)
    return e


def vendor_tickets(vendor, key):
    """Fake Redmine issues whose subject carries key (all states)."""
    r = requests.get(vendor.url + "/redmine/issues.json", params={"status_id": "*", "subject": "~" + key},
                     headers={"X-Redmine-API-Key": TOKEN}, timeout=5)
    r.raise_for_status()
    return r.json()["issues"]


def no_violations(vendor):
    v = requests.get(vendor.url + "/__violations", timeout=5).json()["violations"]
    assert v == [], v


def key_of(request_id):
    import hashlib
    return "esk-" + hashlib.sha256(request_id.encode()).hexdigest()[:32]


def statuses(plan_id, want, state=None, timeout=30):
    def match(m):
        s = pb.ActionStatus()
        s.ParseFromString(m.value())
        return s.plan_id == plan_id and (state is None or s.status == state)
    out = []
    for m in read_topic(it.STATUS_TOPIC, match, want, timeout=timeout):
        s = pb.ActionStatus()
        s.ParseFromString(m.value())
        out.append(s)
    return out


def test_plan_ticket_status_and_duplicates(services, vendor, taxonomy):
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    svc = services.start("actions", env=env_for(vendor, taxonomy))
    prod = producer()
    req = it.action_request(pb, agency)
    it.produce(prod, req)

    row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the actions row")
    plan_id, tool, ext, url, status, closed_at, summary, quotes, recs = row
    assert tool == "redmine" and status == "open" and closed_at is None
    assert ext.isdigit() and url == "%s/redmine/issues/%s" % (vendor.url, ext)
    # the plan: evidence summary, typical quotes from the topic, the playbook's steps
    assert "Tiempos de espera" in summary and "8 comentarios" in summary and "75%" in summary
    assert 3 <= len(quotes) <= 5 and all(q["text"] in it.TOPIC_TEXTS for q in quotes)
    assert recs and all(isinstance(r, str) and r for r in recs)
    # the ticket in the tool carries the plan and the key
    key = key_of(req.request_id)
    (ticket,) = vendor_tickets(vendor, key)
    assert str(ticket["id"]) == ext and "escucha-key: " + key in ticket["description"]
    text = it.shown(ticket["description"])  # Textile-escaped for Redmine
    assert quotes[0]["text"] in text and recs[0] in text
    assert it.audit(PG_DSN, plan_id, "ticket_opened") == 1
    (st,) = statuses(plan_id, 1, pb.OPEN)
    assert st.tool == "redmine" and st.external_key == ext and st.url == url

    # the same request again, then a later one on the same partition: once the
    # later one has its ticket, the duplicate has been handled
    it.produce(prod, req)
    later = it.action_request(pb, it.unique("ag2"))
    it.produce(prod, later, key="%s/%s" % (agency, "waiting_times"))
    wait_until(lambda: it.action_row(PG_DSN, later.request_id), 60, 0.1, "the later request's ticket")
    assert len(vendor_tickets(vendor, key)) == 1
    assert it.action_row(PG_DSN, req.request_id)[2] == ext
    assert it.audit(PG_DSN, plan_id, "ticket_opened") == 1

    # closed in the tool -> done here, with an audit row and a closing status
    r = requests.post(vendor.url + "/__control", json={"vendor": "redmine",
                                                       "set_state": {"id": ext, "state": "done"}}, timeout=5)
    assert r.status_code == 200
    wait_until(lambda: it.action_row(PG_DSN, req.request_id)[4] == "done", 30, 0.1, "status done")
    assert it.action_row(PG_DSN, req.request_id)[5] is not None  # closed_at
    assert it.audit(PG_DSN, plan_id, "ticket_closed") == 1
    (done,) = statuses(plan_id, 1, pb.DONE)
    assert done.external_key == ext and done.closed_at > 0
    assert svc.metric('escucha_actions_tickets_opened_total{tool="redmine"}') >= 2
    no_violations(vendor)


@pytest.mark.parametrize("point", ["after_lock", "after_search", "after_create", "after_record"])
def test_kill9_at_each_step_opens_one_ticket(services, vendor, taxonomy, point):
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    env = env_for(vendor, taxonomy)
    crashing = services.start("actions", env=dict(env, ESCUCHA_CRASH_AT=point))
    req = it.action_request(pb, agency)
    it.produce(producer(), req)
    try:
        rc = crashing.proc.wait(60)
    finally:
        crashing.logf.close()
    assert rc == -9, "expected SIGKILL at %s, got %s" % (point, rc)

    services.start("actions", env=env)
    row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the ticket after restart")
    key = key_of(req.request_id)
    tickets = vendor_tickets(vendor, key)
    assert len(tickets) == 1 and str(tickets[0]["id"]) == row[2]
    assert it.audit(PG_DSN, row[0], "ticket_opened") == 1
    assert statuses(row[0], 1, pb.OPEN)
    # and no plan of this run (any agency) has two tickets
    allt = vendor_tickets(vendor, "esk-")
    keys = [t["subject"].rsplit("[", 1)[-1].rstrip("]") for t in allt]
    assert len(keys) == len(set(keys)), "duplicate tickets: %r" % keys
    no_violations(vendor)


@pytest.fixture(scope="module")
def llm():
    s = it.FakeServer("llm_server.py", "--token", "llm-secret")
    yield s
    s.stop()


def test_llm_rewrite_and_fallback(services, vendor, taxonomy, llm, tmp_path):
    tok = tmp_path / "llm-token"
    tok.write_text("llm-secret\n")
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    env = env_for(vendor, taxonomy, ESCUCHA_LLM_URL=llm.url + "/ok/v1/chat/completions",
                  ESCUCHA_LLM_MODEL="tiny-test", ESCUCHA_LLM_TOKEN_FILE=str(tok), ESCUCHA_LLM_TIMEOUT_MS="3000")
    svc = services.start("actions", env=env)
    req = it.action_request(pb, agency)
    it.produce(producer(), req)
    row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "ticket (LLM ok)")
    assert row[6].startswith("REESCRITO:")
    (ticket,) = vendor_tickets(vendor, key_of(req.request_id))
    assert "REESCRITO:" in it.shown(ticket["description"])
    seen = requests.get(llm.url + "/__requests", timeout=5).json()["requests"]
    assert seen and seen[-1]["authorization"] == "Bearer llm-secret"
    assert '"model":"tiny-test"' in seen[-1]["body"]
    # no citizen quote leaves for the model
    assert not any(t in seen[-1]["body"] for t in it.TOPIC_TEXTS)
    svc.stop()

    # a model that never answers: the extractive plan, within the timeout
    agency2 = it.unique("ag")
    it.plant_feedback(PG_DSN, agency2)
    services.start("actions", env=dict(env, ESCUCHA_LLM_URL=llm.url + "/hang/v1/chat/completions",
                                       ESCUCHA_LLM_TIMEOUT_MS="1000"))
    req2 = it.action_request(pb, agency2)
    it.produce(producer(), req2)
    row2 = wait_until(lambda: it.action_row(PG_DSN, req2.request_id), 60, 0.1, "ticket (LLM hangs)")
    assert "Tiempos de espera" in row2[6] and "REESCRITO" not in row2[6]


class FlakyProxy:
    """Sits between the service and the fake vendor. Requests pass through, except
    ticket creations carrying `key` (Redmine puts it in the subject), which get the
    next scripted fault: "503" or "422" (answered here with a Redmine error body,
    nothing created), "hang" (never
    answered in time, nothing created), "lost" (created at the vendor, then the
    answer stalls past the client's timeout: a create that half-happened). Once
    the script is used up they pass through too. Other plans' requests are never
    touched, so rows left by other tests cannot eat the faults."""

    def __init__(self, upstream_port, key, script):
        self.key, self.script, self.lock = key, list(script), threading.Lock()
        self.release = threading.Event()  # set at stop: stalled handlers finish
        self.creates = []                 # (fault or "ok", monotonic time) per create with key
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.relay("GET")

            def do_POST(self):
                self.relay("POST")

            def do_PUT(self):
                self.relay("PUT")

            def relay(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = None
                if method == "POST" and self.path.startswith("/redmine/issues.json") and proxy.key.encode() in body:
                    with proxy.lock:
                        fault = proxy.script.pop(0) if proxy.script else None
                        proxy.creates.append((fault or "ok", time.monotonic()))
                if fault in ("503", "422"):
                    out = b'{"errors":["Service Unavailable"]}' if fault == "503" else \
                        b'{"errors":["Tracker is not included in the list"]}'
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                if fault == "hang":
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                c.request(method, self.path, body=body or None, headers=hdrs)
                r = c.getresponse()
                out = r.read()
                if fault == "lost":
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                c.close()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


def dlq_for(request_id, timeout=60):
    """DeadLetters of the actions stage whose original is this request."""
    def mine(m):
        d = pb.DeadLetter()
        d.ParseFromString(m.value())
        if d.stage != "actions":
            return False
        r = pb.ActionRequest()
        try:
            r.ParseFromString(d.original)
        except Exception:
            return False
        return r.request_id == request_id
    from conftest import read_all
    return read_all("escucha.dlq.v1", mine, timeout=timeout)


@pytest.mark.parametrize("faults", [["503"] * 6, ["hang", "lost"]], ids=["503-beyond-budget", "timeouts"])
def test_transient_create_failures_retry_to_one_ticket(services, vendor, taxonomy, faults):
    """The tool fails the first creates (503 beyond the HTTP retry budget, or timeouts, one
    of which did create the ticket): no DLQ, the plan is marked pending and the offset moves
    on; the retry pass opens exactly one ticket, within a bounded time."""
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    req = it.action_request(pb, agency)
    key = key_of(req.request_id)
    proxy = FlakyProxy(vendor.port, key, faults)
    try:
        env = env_for(vendor, taxonomy, ESCUCHA_REDMINE_BASE_URL=proxy.url + "/redmine",
                      ESCUCHA_HTTP_TIMEOUT_MS="1000", ESCUCHA_TICKET_RETRY_BASE_S="0.3",
                      ESCUCHA_TICKET_RETRY_MAX_S="1")
        svc = services.start("actions", env=env)
        prod = producer()
        t0 = time.monotonic()
        it.produce(prod, req)
        # a later request on the same partition gets its ticket while ours is still failing:
        # the failing one did not hold the partition (its offset was stored, not DLQ'd)
        later = it.action_request(pb, it.unique("ag2"))
        it.produce(prod, later, key="%s/%s" % (agency, "waiting_times"))
        wait_until(lambda: it.action_row(PG_DSN, later.request_id), 60, 0.1, "the later request's ticket")
        row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the ticket after retries")
        elapsed = time.monotonic() - t0
        plan_id, tool, ext, url = row[:4]
        assert tool == "redmine" and row[4] == "open"
        # every scripted fault was met, then exactly one create passed (the "lost" one
        # already created the ticket: the retry found it by its key and created nothing)
        kinds = [k for k, _ in proxy.creates]
        assert kinds[:len(faults)] == faults, kinds
        assert kinds[len(faults):] == ([] if "lost" in faults else ["ok"]), kinds
        (ticket,) = vendor_tickets(vendor, key)
        assert str(ticket["id"]) == ext and url.endswith("/redmine/issues/%s" % ext)
        assert it.audit(PG_DSN, plan_id, "ticket_pending") == 1
        assert it.audit(PG_DSN, plan_id, "ticket_opened") == 1
        assert it.audit(PG_DSN, plan_id, "ticket_failed") == 0
        detail = it.sql(PG_DSN, "SELECT detail FROM audit_log WHERE entity = 'action_plan' AND entity_id = %s "
                                "AND action = 'ticket_pending'", (plan_id,))[0][0]
        assert detail["tool"] == "redmine" and detail["error"], detail
        assert svc.metric('escucha_actions_ticket_retries_total{result="ok"}') >= 1
        assert svc.metric('escucha_actions_requests_total{result="pending"}') >= 1
        assert statuses(plan_id, 1, pb.OPEN)
        assert not dlq_for(req.request_id)
        # bounded: a few backoff steps of <= 1 s, faults of ~1 s (timeouts) each
        assert elapsed < 30, elapsed
    finally:
        proxy.stop()
    no_violations(vendor)


def test_permanent_refusal_goes_to_dlq_once_and_is_not_retried(services, vendor, taxonomy):
    """A 422 is the vendor's final no: DLQ with its message, `ticket_failed` audit, and the
    retry pass leaves the plan alone."""
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    req = it.action_request(pb, agency)
    proxy = FlakyProxy(vendor.port, key_of(req.request_id), ["422"])
    try:
        svc = services.start("actions", env=env_for(vendor, taxonomy, ESCUCHA_REDMINE_BASE_URL=proxy.url + "/redmine",
                                                    ESCUCHA_TICKET_RETRY_BASE_S="0.2", ESCUCHA_TICKET_RETRY_GRACE_S="0"))
        prod = producer()
        it.produce(prod, req)
        (dl,) = wait_until(lambda: dlq_for(req.request_id), 60, 0.2, "the DLQ entry")
        d = pb.DeadLetter()
        d.ParseFromString(dl.value())
        assert d.reason == "redmine: Tracker is not included in the list", d.reason
        plan_id = it.sql(PG_DSN, "SELECT id FROM action_plans WHERE request_id = %s", (req.request_id,))[0][0]
        assert it.audit(PG_DSN, plan_id, "ticket_failed") == 1
        assert it.audit(PG_DSN, plan_id, "ticket_pending") == 0
        detail = it.sql(PG_DSN, "SELECT detail FROM audit_log WHERE entity = 'action_plan' AND entity_id = %s "
                                "AND action = 'ticket_failed'", (plan_id,))[0][0]
        assert detail == {"tool": "redmine", "error": "Tracker is not included in the list", "http_status": 422}
        # later requests through the same loop (status and retry passes every 0.2 s): no retry
        for i in range(3):
            later = it.action_request(pb, it.unique("ag2"))
            it.produce(prod, later, key="%s/%s" % (agency, "waiting_times"))
            wait_until(lambda: it.action_row(PG_DSN, later.request_id), 60, 0.1, "a later ticket")
        assert [k for k, _ in proxy.creates] == ["422"]
        assert it.action_row(PG_DSN, req.request_id) is None
        assert vendor_tickets(vendor, key_of(req.request_id)) == []
        assert len(dlq_for(req.request_id)) == 1
        assert svc.metric('escucha_actions_requests_total{result="dlq"}') == 1
    finally:
        proxy.stop()
    no_violations(vendor)
