#!/usr/bin/python3
"""bench/cluster's load: N unique ~300-byte feedback items as NDJSON batches of 500 from 4
keep-alive threads (a 503 is re-sent after Retry-After, as a client does), then waits until
PostgreSQL holds them all. Prints JSON: items, seconds from the first send to the last row,
p50/p99 accept->row latency (ms), 503s.
usage: drive.py N HTTP_PORT API_KEY PG_DSN TAG"""
import json
import sys
import threading
import time

import psycopg2
import requests

N = int(sys.argv[1])
PORT, KEY, DSN, TAG = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
BATCH, THREADS = 500, 4
TEXT = ("Solicitud %s %s: llevo tres semanas esperando respuesta sobre mi trámite de licencia médica en la "
        "sucursal del centro y nadie contesta el teléfono ni los correos; la atención fue muy lenta.")


def letters(n):  # digits would be redacted (and two texts then equal)
    s = ""
    while True:
        s, n = "abcdefghijkmnpqr"[n % 16] + s, n // 16
        if not n:
            return s


bodies = ["\n".join(json.dumps({"text": TEXT % (TAG, letters(i)), "service": "licencias", "csat": 1 + i % 5,
                                "nps": i % 11}) for i in range(b, min(N, b + BATCH))).encode()
          for b in range(0, N, BATCH)]
todo, lock, n503 = list(bodies), threading.Lock(), [0]


def send():
    s = requests.Session()
    while True:
        with lock:
            if not todo:
                return
            body = todo.pop()
        while True:
            r = s.post("http://127.0.0.1:%d/v1/feedback:batch" % PORT, data=body, timeout=60,
                       headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/x-ndjson"})
            if r.status_code in (200, 202):
                break
            if r.status_code != 503:
                sys.exit("ingest answered %d: %s" % (r.status_code, r.text[:200]))
            with lock:
                n503[0] += 1
            time.sleep(float(r.headers.get("Retry-After", "1")))


db = psycopg2.connect(DSN)
db.autocommit = True
cur = db.cursor()
cur.execute("SELECT now()")
since = cur.fetchone()[0]
t0 = time.time()
ts = [threading.Thread(target=send) for _ in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
# the agency's (agency, received_at) index: a cheap count while PostgreSQL is being measured
q = "SELECT count(*) FROM feedback WHERE agency = 'demo' AND received_at >= %s"
deadline = time.time() + 600
while True:
    cur.execute(q, (since,))
    if cur.fetchone()[0] >= N:
        break
    if time.time() > deadline:
        sys.exit("not all rows stored after 600 s")
    time.sleep(0.5)
cur.execute("""SELECT extract(epoch FROM max(inserted_at))::float8,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM inserted_at - received_at)),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM inserted_at - received_at))
               FROM feedback WHERE agency = 'demo' AND received_at >= %s""", (since,))
last, p50, p99 = cur.fetchone()
print(json.dumps({"items": N, "total_s": round(last - t0, 3), "p50_ms": round(p50 * 1000),
                  "p99_ms": round(p99 * 1000), "n503": n503[0]}))
