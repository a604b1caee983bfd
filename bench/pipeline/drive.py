#!/usr/bin/python3
"""Drives the pipeline benchmark: sends N unique ~300-byte feedback items as NDJSON batches
over keep-alive HTTP from several threads, then waits until PostgreSQL holds all of them.
Prints JSON: items, send seconds, end-to-end seconds, p50/p99 accept->row latency (ms)."""
import json
import os
import sys
import threading
import time

import psycopg2
import requests

N = int(sys.argv[1])
PORT, KEY, DSN, TAG = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
BATCH, THREADS = 1000, 4
TEXT = ("Solicitud %s %d: llevo tres semanas esperando respuesta sobre mi trámite de licencia médica en la "
        "sucursal del centro y nadie contesta el teléfono ni los correos; la atención fue muy lenta.")
bodies = []
for b in range(0, N, BATCH):
    bodies.append("\n".join(json.dumps({"text": TEXT % (TAG, i), "service": "licencias", "csat": 1 + i % 5,
                                        "nps": i % 11}) for i in range(b, min(N, b + BATCH))).encode())
db = psycopg2.connect(DSN)
db.autocommit = True
cur = db.cursor()
cur.execute("SELECT now()")
since = cur.fetchone()[0]
lock = threading.Lock()
todo = list(bodies)


def worker():
    s = requests.Session()
    h = {"Authorization": "Bearer " + KEY, "Content-Type": "application/x-ndjson"}
    while True:
        with lock:
            if not todo:
                return
            body = todo.pop()
        while s.post("http://127.0.0.1:%d/v1/feedback:batch" % PORT, data=body, headers=h, timeout=120).status_code == 503:
            time.sleep(0.2)  # Retry-After


t0 = time.time()
ts = [threading.Thread(target=worker) for _ in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
sent = time.time() - t0
# Poll cheaply (an index range, once a second: a scan of feedback every 0.2 s would take CPU
# from the pipeline being measured); the end time is the last row's insert time, not the poll's.
while True:
    cur.execute("SELECT count(*) FROM feedback WHERE agency = 'demo' AND received_at >= %s", (since,))
    if cur.fetchone()[0] >= N or time.time() - t0 > 600:
        break
    time.sleep(1)
cur.execute("SELECT count(*), extract(epoch FROM max(inserted_at)) FROM feedback WHERE received_at >= %s AND text LIKE %s",
            (since, "%" + TAG + "%"))
n, last = cur.fetchone()
total = float(last) - t0 if last else time.time() - t0
cur.execute("""SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
               FROM (SELECT extract(epoch FROM inserted_at - received_at) * 1000 AS ms FROM feedback
                     WHERE received_at >= %s AND text LIKE %s) x""", (since, "%" + TAG + "%"))
p50, p99 = cur.fetchone()
print(json.dumps({"items": n, "send_s": sent, "total_s": total, "p50_ms": p50, "p99_ms": p99}))
