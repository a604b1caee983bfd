#!/usr/bin/python3
"""bench/api freshness: feedback sent to ingest at a steady RATE per second (NDJSON batches of
BATCH every BATCH/RATE s, keep-alive) for SECONDS; for a sample of the accepted ids (every
SAMPLE-th), the time from ingest's 202 to the first 200 of escucha-api's GET /v1/feedback/{id}
(each pending id polled once per POLL_MS round by one of POLLERS threads on keep-alive
connections, so the figures are accurate to about POLL_MS). Prints JSON: sent, accepted, achieved rate,
sampled, seen, p50/p99/max ms, and how many were never seen within TIMEOUT s.
  freshness.py INGEST_PORT API_PORT KEY RATE SECONDS [TAG]   (TAG: texts of their own, for a
  warm-up run before the measured one, which anonymous dedup would otherwise drop)"""
import http.client
import json
import queue
import sys
import threading
import time

IPORT, APORT, KEY, RATE, SECONDS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
TAG = (" " + sys.argv[6]) if len(sys.argv) > 6 else ""
BATCH, SAMPLE, POLL_MS, TIMEOUT, POLLERS, SENDERS = 50, 100, 100, 30.0, 4, 16
TEXTS = ["La fila del registro civil fue muy lenta, esperé %d minutos y nadie explicaba nada.",
         "The appointment was moved three times without notice (ref %d); nobody answers the phone.",
         "Excelente atención en la sucursal del centro, caso %d resuelto en el día."]
H = {"Authorization": "Bearer " + KEY}
lat, missing, lock = [], [0], threading.Lock()
slices, T0 = {}, [0.0]  # latencies per 10 s of sending
stats = {"sent": 0, "accepted": 0, "errors": 0}


def sender(idx, t0):
    """One of SENDERS threads, each sending every SENDERS-th batch (an ingest round trip can
    take longer than one batch period)."""
    c = http.client.HTTPConnection("127.0.0.1", IPORT, timeout=30)
    hb = dict(H, **{"Content-Type": "application/x-ndjson"})
    period = BATCH / RATE
    k = idx
    while True:
        due = t0 + k * period
        if due - t0 >= SECONDS:
            break
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        body = "\n".join(json.dumps({"text": TEXTS[(k * BATCH + i) % 3] % (k * BATCH + i) + TAG, "service": "fresh",
                                     "channel": "web", "csat": 1 + i % 5}) for i in range(BATCH))
        c.request("POST", "/v1/feedback:batch", body=body.encode(), headers=hb)
        r = c.getresponse()
        data = r.read()
        now = time.monotonic()
        with lock:
            stats["sent"] += BATCH
        if r.status in (200, 202):
            res = json.loads(data)["results"]
            ok = [x["id"] for x in res if x.get("status") == "accepted"]
            with lock:
                stats["accepted"] += len(ok)
            for j, fid in enumerate(ok):
                if (k * BATCH + j) % SAMPLE == 0:
                    with lock:
                        rr[0] += 1
                        queues[rr[0] % POLLERS].put((fid, now))
        else:
            with lock:
                stats["errors"] += 1
        k += SENDERS


queues = [queue.Queue() for _ in range(POLLERS)]
rr = [0]


def poller(q):
    """Polls every id it holds once per round; a new id is first polled in the next round."""
    c = http.client.HTTPConnection("127.0.0.1", APORT, timeout=30)
    pending, done = [], False
    while not done or pending:
        t_round = time.monotonic()
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                done = True
            else:
                pending.append(item)
        keep = []
        for fid, t202 in pending:
            c.request("GET", "/v1/feedback/" + fid, headers=H)
            r = c.getresponse()
            r.read()
            now = time.monotonic()
            if r.status == 200:
                with lock:
                    lat.append((now - t202) * 1000)
                    slices.setdefault(int((t202 - T0[0]) // 10), []).append((now - t202) * 1000)
            elif now - t202 > TIMEOUT:
                with lock:
                    missing[0] += 1
            else:
                keep.append((fid, t202))
        pending = keep
        d = POLL_MS / 1000 - (time.monotonic() - t_round)
        if d > 0:
            time.sleep(d)


# Warm-up: one item through the whole pipeline before the clock starts (consumer groups
# join and transactional producers initialise during the first seconds of a fresh stack).
wc = http.client.HTTPConnection("127.0.0.1", IPORT, timeout=30)
wc.request("POST", "/v1/feedback", body=json.dumps({"text": "calentamiento del banco de pruebas"}).encode(),
           headers=dict(H, **{"Content-Type": "application/json"}))
wid = json.loads(wc.getresponse().read())["id"]
ac = http.client.HTTPConnection("127.0.0.1", APORT, timeout=30)
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    try:
        ac.request("GET", "/v1/feedback/" + wid, headers=H)
        r = ac.getresponse()
        r.read()
        if r.status == 200:
            break
    except OSError:  # the api's HTTP port can open a moment after its admin /healthz answers
        ac.close()
    time.sleep(0.2)
else:
    sys.exit("warm-up item never became visible")
ps = [threading.Thread(target=poller, args=(queues[i],)) for i in range(POLLERS)]
for p in ps:
    p.start()
t0 = T0[0] = time.monotonic()
ss = [threading.Thread(target=sender, args=(i, t0)) for i in range(SENDERS)]
for s in ss:
    s.start()
for s in ss:
    s.join()
stats["elapsed"] = time.monotonic() - t0
for q in queues:
    q.put(None)
for p in ps:
    p.join()
lat.sort()


def pct(q):
    return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None


print(json.dumps({"sent": stats["sent"], "accepted": stats["accepted"], "http_errors": stats["errors"],
                  "rate": round(stats["accepted"] / stats["elapsed"]), "sampled": len(lat) + missing[0],
                  "seen": len(lat), "not_seen_in_%ds" % TIMEOUT: missing[0], "p50_ms": pct(0.5),
                  "p99_ms": pct(0.99), "max_ms": round(lat[-1], 1) if lat else None,
                  "poll_ms": POLL_MS,
                  "p99_ms_per_10s": [round(sorted(v)[min(len(v) - 1, int(0.99 * len(v)))]) for _, v in sorted(slices.items())]}))
