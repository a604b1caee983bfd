#!/usr/bin/python3
"""Drives bench/urgent: a steady load of ordinary feedback (NDJSON batches every 100 ms) and,
after a warm-up, one urgent WhatsApp-style message every --every seconds. For each urgent
message: the time of ingest's 202, of its case ticket's `actions` row (PostgreSQL's insert time,
polled every 50 ms) and of the issue becoming visible in Redmine's REST API (polled every 50 ms).
Reference in the same run: direct POST /issues.json to the same Redmine. Prints the report;
exits 3 (refusing to report) when an urgent message has no case or the load fell short."""
import argparse
import hashlib
import json
import sys
import threading
import time
import uuid

import psycopg2
import requests

ap = argparse.ArgumentParser()
for a in ("rate", "seconds", "every"):
    ap.add_argument("--" + a, type=float, required=True)
for a in ("port", "key", "dsn", "redmine", "token", "project"):
    ap.add_argument("--" + a, required=True)
A = ap.parse_args()
BASE = "http://127.0.0.1:%s" % A.port
RM_H = {"X-Redmine-API-Key": A.token}
LETTERS = "abcdefghijkmnpqr"  # digits in a text would be redacted (phone, RUT…) and collapse as duplicates


def tag(n):
    return "".join(LETTERS[int(c, 16)] for c in "%x" % n)


def run_tag():
    return "".join(LETTERS[int(c, 16)] for c in uuid.uuid4().hex[:8])


RUN = run_tag()
stop = threading.Event()
sent_ok = [0]


def load():
    """RATE ordinary items/s: a batch of RATE/10 every 100 ms (keep-alive)."""
    s = requests.Session()
    h = {"Authorization": "Bearer " + A.key, "Content-Type": "application/x-ndjson"}
    per = max(1, int(round(A.rate / 10)))
    n, nxt = 0, time.monotonic()
    words = ["espera", "trámite", "atención", "pago", "web", "transporte", "personal", "baño", "horario"]
    while not stop.is_set():
        lines = []
        for _ in range(per):
            n += 1
            lines.append(json.dumps({"text": "Reclamo %s %s sobre %s: llevo semanas sin respuesta de la oficina" % (
                RUN, tag(n), words[n % len(words)]), "channel": "web", "csat": 1 + n % 5}))
        try:
            r = s.post(BASE + "/v1/feedback:batch", data="\n".join(lines).encode(), headers=h, timeout=30)
            if r.status_code in (200, 202):
                sent_ok[0] += r.json().get("accepted", 0)
        except requests.RequestException:
            s = requests.Session()
        nxt += 0.1
        time.sleep(max(0.0, nxt - time.monotonic()))


def key_of(fid):
    return "esk-" + hashlib.sha256(("case/demo/%s" % fid).encode()).hexdigest()[:32]


cases = {}  # feedback id -> {"t202", "trow", "tissue"}
lock = threading.Lock()


def watch_redmine(fid):
    """Polls Redmine's REST API for the case's issue (subject carries the key)."""
    s = requests.Session()
    q = {"project_id": A.project, "status_id": "*", "subject": "~" + key_of(fid), "limit": 1}
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if s.get(A.redmine + "/issues.json", params=q, headers=RM_H, timeout=10).json()["issues"]:
                with lock:
                    cases[fid]["tissue"] = time.time()
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.05)


def watch_rows():
    """The case tickets' `actions` rows (insert time from PostgreSQL, same host clock)."""
    db = psycopg2.connect(A.dsn)
    db.autocommit = True
    cur = db.cursor()
    while True:
        with lock:
            todo = [f for f, c in cases.items() if "trow" not in c]
            done = stop.is_set() and all("trow" in c for c in cases.values())
        if done or (stop.is_set() and time.time() > end_wait):
            return
        if todo:
            cur.execute("SELECT p.feedback_id, extract(epoch FROM a.opened_at) FROM action_plans p JOIN actions a "
                        "ON a.plan_id = p.id WHERE p.kind = 'case' AND p.feedback_id = ANY(%s) "
                        "AND coalesce(a.detail->>'role', '') <> 'oncall'", (todo,))
            with lock:
                for fid, t in cur.fetchall():
                    cases[fid]["trow"] = float(t)
        time.sleep(0.05)


def reference(out, n=10):
    """Direct issue creation in the same Redmine, spaced over the run."""
    s = requests.Session()
    for i in range(n):
        if stop.is_set():
            return
        body = {"issue": {"project_id": A.project, "subject": "bench reference %s %d" % (RUN, i),
                          "description": "reference", "priority_id": 5}}
        t0 = time.time()
        r = s.post(A.redmine + "/issues.json", json=body, headers=RM_H, timeout=30)
        if r.status_code == 201:
            out.append(time.time() - t0)
        time.sleep(A.seconds / (n + 2))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


end_wait = float("inf")
t_start = time.time()
threads = [threading.Thread(target=load, daemon=True), threading.Thread(target=watch_rows, daemon=True)]
ref = []
threads.append(threading.Thread(target=reference, args=(ref,), daemon=True))
for t in threads:
    t.start()
time.sleep(min(5.0, A.seconds / 6))  # warm-up: the load runs before the first urgent message
s = requests.Session()
h = {"Authorization": "Bearer " + A.key, "Content-Type": "application/json"}
watchers = []
i = 0
while time.time() - t_start < A.seconds - 5:
    i += 1
    text = "mi expareja me amenazó con matarme, tengo miedo %s %s" % (RUN, tag(i))
    r = s.post(BASE + "/v1/feedback", data=json.dumps({"text": text, "channel": "whatsapp", "service": "linea-violeta",
                                                         "language": "es"}), headers=h, timeout=30)
    t202 = time.time()
    if r.status_code == 202:
        fid = r.json()["id"]
        with lock:
            cases[fid] = {"t202": t202}
        w = threading.Thread(target=watch_redmine, args=(fid,), daemon=True)
        w.start()
        watchers.append(w)
    else:
        print("urgent message %d: HTTP %d" % (i, r.status_code), file=sys.stderr)
    time.sleep(max(0.0, A.every - (time.time() - t202)))
while time.time() - t_start < A.seconds:
    time.sleep(0.1)
stop.set()
load_s = time.time() - t_start
end_wait = time.time() + 30
for w in watchers:
    w.join(60)
threads[1].join(40)

row = [c["trow"] - c["t202"] for c in cases.values() if "trow" in c]
iss = [c["tissue"] - c["t202"] for c in cases.values() if "tissue" in c]
rate = sent_ok[0] / load_s
missing = [f for f, c in cases.items() if "trow" not in c or "tissue" not in c]
if not cases or missing:
    print("bench: %d of %d urgent messages have no case in the tool after 30 s: refusing to report" %
          (len(missing), len(cases)), file=sys.stderr)
    sys.exit(3)
if rate < 0.9 * A.rate:
    print("bench: the load reached %.0f/s of the %.0f/s asked: refusing to report" % (rate, A.rate), file=sys.stderr)
    sys.exit(3)
print("urgent cases under load: %.0f ordinary feedback/s for %.0f s (asked %.0f/s), %d urgent messages (1 per %.0f s)"
      % (rate, load_s, A.rate, i, A.every))
print("%-52s %8s %8s %8s %6s" % ("", "p50 s", "p99 s", "max s", "n"))
for name, v in (("ingest 202 -> case ticket recorded (actions row)", row),
                ("ingest 202 -> issue visible in Redmine (REST)", iss),
                ("reference: direct POST /issues.json (same Redmine)", ref)):
    print("%-52s %8.3f %8.3f %8.3f %6d" % (name, pct(v, 50), pct(v, 99), max(v) if v else float("nan"), len(v)))
print("target: p99 (202 -> issue visible) < 5 s: %s" % ("met" if iss and pct(iss, 99) < 5 else "NOT met"))
