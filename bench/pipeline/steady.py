#!/usr/bin/python3
"""bench/pipeline --rate: a constant RATE feedback/s sent to ingest for SECONDS (NDJSON batches
on keep-alive connections, each batch sent at its scheduled time by one of SENDERS threads),
then, for every accepted item, the time from ingest's accept (received_at, stamped by ingest)
to
  - its feedback row being committed in PostgreSQL (the inserting transaction's commit
    timestamp: the benchmark's server runs with track_commit_timestamp = on), and
  - the agency's hour ranking that counts it being committed: a poller reads
    max(priorities.computed_at) every POLL_MS; a ranking counts the row when its transaction
    started no earlier than the row's (computed_at and inserted_at are both now()), and the
    time is the poll that first saw it (accurate to about POLL_MS).
Refuses to report (exit 3) when the rate fell below 95 % of RATE, or below 90 % of it in any
whole 10 s of sending (by the accepted items' received_at: a backed-up ingest that accepts in
bursts is not a steady load), ingest answered errors, or rows were still missing 120 s after
the last send. Prints JSON.
  steady.py INGEST_PORT KEY DSN TAG RATE SECONDS"""
import bisect
import json
import os
import sys
import threading
import time

import psycopg2
import requests

PORT, KEY, DSN, TAG, RATE, SECONDS = (int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                                      int(sys.argv[6]))
SENDERS, POLL_MS, AGENCY = 32, 50, "demo"
BATCH = max(1, RATE // 50)  # 50 requests/s whatever the rate
TEXT = ("Solicitud %s %d: llevo tres semanas esperando respuesta sobre mi trámite de licencia médica en la "
        "sucursal del centro y nadie contesta el teléfono ni los correos; la atención fue muy lenta.")
H = {"Authorization": "Bearer " + KEY, "Content-Type": "application/x-ndjson"}
URL = "http://127.0.0.1:%d/v1/feedback:batch" % PORT
lock = threading.Lock()
stats = {"sent": 0, "accepted": 0, "errors": 0, "late_sends": 0}


def die(msg):
    print("bench: refusing to report: " + msg, file=sys.stderr)
    sys.exit(3)


def sender(idx, t0):
    s = requests.Session()
    period = BATCH / RATE
    k = idx
    while k * period < SECONDS:
        d = t0 + k * period - time.monotonic()
        if d > 0:
            time.sleep(d)
        elif d < -0.5:
            with lock:
                stats["late_sends"] += 1  # the driver itself fell behind
        body = "\n".join(json.dumps({"text": TEXT % (TAG, k * BATCH + i), "service": "licencias",
                                     "csat": 1 + i % 5, "nps": i % 11}) for i in range(BATCH))
        r = s.post(URL, data=body.encode(), headers=H, timeout=30)
        with lock:
            stats["sent"] += BATCH
            if r.status_code in (200, 202):
                stats["accepted"] += sum(1 for x in r.json()["results"] if x.get("status") == "accepted")
            else:
                stats["errors"] += 1
        k += SENDERS


obs_t, obs_v, stop = [], [], threading.Event()


def prio_poller():
    """(wall time, newest hour ranking's computed_at) pairs, every POLL_MS."""
    c = psycopg2.connect(DSN)
    c.autocommit = True
    cur = c.cursor()
    while not stop.is_set():
        cur.execute("SELECT extract(epoch FROM max(computed_at)) FROM priorities"
                    " WHERE agency = %s AND window_kind = 'hour'", (AGENCY,))
        v = cur.fetchone()[0]
        obs_t.append(time.time())
        obs_v.append(float(v) if v is not None else 0.0)
        stop.wait(POLL_MS / 1000)


db = psycopg2.connect(DSN)
db.autocommit = True
cur = db.cursor()
cur.execute("SHOW track_commit_timestamp")
if cur.fetchone()[0] != "on":
    die("track_commit_timestamp is off: accept->row needs each row's commit time")
# Warm-up: one item through the whole pipeline before the clock starts.
cur.execute("SELECT now()")
since = cur.fetchone()[0]
w = requests.post(URL, data=json.dumps({"text": "calentamiento %s" % TAG}).encode(), headers=H, timeout=30)
if w.status_code not in (200, 202):
    die("warm-up item refused: HTTP %d" % w.status_code)
deadline = time.time() + 180
while True:
    cur.execute("SELECT count(*) FROM feedback WHERE agency = %s AND received_at >= %s", (AGENCY, since))
    if cur.fetchone()[0] >= 1:
        break
    if time.time() > deadline:
        die("the warm-up item never reached PostgreSQL in 180 s")
    time.sleep(0.2)
cur.execute("SELECT now()")
since = cur.fetchone()[0]
pp = threading.Thread(target=prio_poller)
pp.start()
t0 = time.monotonic()
ss = [threading.Thread(target=sender, args=(i, t0)) for i in range(SENDERS)]
for s in ss:
    s.start()
for s in ss:
    s.join()
elapsed = time.monotonic() - t0
rate = stats["accepted"] / elapsed
# every accepted row stored (index range on (agency, received_at), once a second)
deadline = time.time() + 120
while True:
    cur.execute("SELECT count(*) FROM feedback WHERE agency = %s AND received_at >= %s", (AGENCY, since))
    n = cur.fetchone()[0]
    if n >= stats["accepted"] or time.time() > deadline:
        break
    time.sleep(1)
time.sleep(3 * 1.0)  # rank-interval (1 s) and a few polls: the last rows' ranking
stop.set()
pp.join()
if stats["errors"]:
    die("%d batch requests failed" % stats["errors"])
if rate < 0.95 * RATE:
    die("sent %.0f/s, below 95%% of the asked %d/s (late sends by the driver: %d)" % (rate, RATE, stats["late_sends"]))
if n < stats["accepted"]:
    die("%d of %d accepted items not stored 120 s after the last send" % (stats["accepted"] - n, stats["accepted"]))
cur.execute("SELECT extract(epoch FROM received_at), extract(epoch FROM pg_xact_commit_timestamp(xmin)),"
            " extract(epoch FROM inserted_at), extract(epoch FROM classified_at) FROM feedback"
            " WHERE agency = %s AND received_at >= %s AND text LIKE %s", (AGENCY, since, "%" + TAG + " %"))
rows = cur.fetchall()
if os.environ.get("BENCH_STEADY_DUMP"):  # every row's times, for a closer look at a tail
    with open(os.environ["BENCH_STEADY_DUMP"], "w") as f:
        f.writelines("%s,%s,%s,%s\n" % r for r in rows)
t_first = min(float(r[0]) for r in rows)
per10 = {}
for r in rows:
    per10[int((float(r[0]) - t_first) // 10)] = per10.get(int((float(r[0]) - t_first) // 10), 0) + 1
whole = [per10.get(i, 0) for i in range(int(elapsed // 10))]
if any(c < 0.9 * RATE * 10 for c in whole):
    die("the load was not steady: items accepted per 10 s %s (asked %d); ingest or the driver fell behind"
        % (whole, RATE * 10))
# running max of the polled values: the first poll at or after which the row was ranked
run, m = [], 0.0
for v in obs_v:
    m = max(m, v)
    run.append(m)
to_row, to_prio, unranked = [], [], 0
slices, cls_slices, store_slices = {}, {}, {}
for rec, com, ins, cls in rows:
    rec, com, ins = float(rec), float(com), float(ins)
    to_row.append((com - rec) * 1000)
    k = int((rec - t_first) // 10)
    slices.setdefault(k, []).append((com - rec) * 1000)
    if cls is not None:  # where the time went: accept -> classified, classified -> row committed
        cls_slices.setdefault(k, []).append((float(cls) - rec) * 1000)
        store_slices.setdefault(k, []).append((com - float(cls)) * 1000)
    i = bisect.bisect_left(run, ins)
    if i < len(run):
        to_prio.append((obs_t[i] - rec) * 1000)
    else:
        unranked += 1


def pct(v, q):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(q * len(v)))], 1) if v else None


print(json.dumps({"rate_asked": RATE, "rate_sent": round(rate), "seconds": round(elapsed, 1), "items": len(rows),
                  "batch": BATCH, "row_p50_ms": pct(to_row, 0.5), "row_p99_ms": pct(to_row, 0.99),
                  "row_max_ms": pct(to_row, 1.0),
                  "row_p99_ms_per_10s": [pct(v, 0.99) for _, v in sorted(slices.items())],
                  "classified_p99_ms_per_10s": [pct(v, 0.99) for _, v in sorted(cls_slices.items())],
                  "stored_after_classified_p99_ms_per_10s": [pct(v, 0.99) for _, v in sorted(store_slices.items())],
                  "prio_p50_ms": pct(to_prio, 0.5), "prio_p99_ms": pct(to_prio, 0.99),
                  "prio_not_seen": unranked, "poll_ms": POLL_MS, "accepted_per_10s": whole}))
