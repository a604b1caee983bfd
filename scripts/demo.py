#!/usr/bin/python3
"""The demo's replay and report (run by scripts/demo.sh once the stack is up).

Sends the bundled sample feedback half through the HTTP API (NDJSON batches) and half through
the inbound Kafka topic, follows it through ingest -> classify -> prioritize -> actions with
progress bars, then prints the report and writes .escucha/demo/report.html + chart PNGs."""
import base64
import collections
import csv
import datetime
import email
import email.policy
import glob
import html
import signal
import subprocess
import io
import json
import os
import sys
import textwrap
import time

import psycopg2
import redis
import requests
from confluent_kafka import Producer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("ESCUCHA_STATE_DIR", os.path.join(REPO, ".escucha"))
HTTP = int(os.environ.get("ESCUCHA_HTTP_PORT", "8080"))
ADMIN = int(os.environ.get("ESCUCHA_ADMIN_PORT_BASE", "9100"))
BROKERS = os.environ.get("ESCUCHA_KAFKA_BROKERS", "127.0.0.1:19092")
PG = os.environ.get("ESCUCHA_PG_DSN", "host=127.0.0.1 port=15432 dbname=escucha user=escucha")
REDIS = os.environ.get("ESCUCHA_REDIS_URL", "redis://127.0.0.1:16379")
# escucha-api serves the operator dashboard at / (docs/api.md)
DASHBOARD = os.environ.get("ESCUCHA_DASHBOARD_URL", "http://127.0.0.1:%s/" % os.environ.get("ESCUCHA_API_PORT", "8081"))
SAMPLE = os.path.join(REPO, "data", "sample", "feedback.ndjson")
OUT = os.path.join(STATE, "demo")
BIN = os.environ.get("ESCUCHA_BIN_DIR", os.path.join(REPO, "build", "bin"))
AGENCY = "demo"
TTY = sys.stdout.isatty()


def bar(label, done, total, extra=""):
    width = 30
    frac = min(1.0, done / total) if total else 1.0
    line = "%-22s [%s%s] %5.1f%% %s" % (label, "#" * int(frac * width), "." * (width - int(frac * width)),
                                        100 * frac, extra)
    if TTY:
        sys.stdout.write("\r" + line)
        sys.stdout.flush()
    return line


def bar_done(line):
    print("" if TTY else line)


def metric(service, name):
    port = ADMIN + {"ingest": 1, "classify": 2, "prioritize": 3, "actions": 4}[service]
    total = 0.0
    for ln in requests.get("http://127.0.0.1:%d/metrics" % port, timeout=5).text.splitlines():
        if ln.startswith(name) and not ln.startswith("#"):
            total += float(ln.rsplit(" ", 1)[1])
    return total


def wait(label, current, target, timeout, settle=None):
    """Polls current() until it reaches target(); a progress bar meanwhile."""
    deadline = time.time() + timeout
    last, last_change = None, time.time()
    while True:
        c, t = current(), target()
        line = bar(label, c, t, "%d/%d" % (c, t))
        if c >= t:
            break
        if c != last:
            last, last_change = c, time.time()
        if settle and time.time() - last_change > settle:
            break
        if time.time() > deadline:
            bar_done(line)
            print("   (stopped waiting after %d s)" % timeout)
            return c
        time.sleep(0.25)
    bar_done(line)
    return c


def send(items, key):
    http_items, kafka_items = items[0::2], items[1::2]
    sent, results = 0, {"accepted": 0, "duplicate": 0, "rejected": 0}
    s = requests.Session()
    h = {"Authorization": "Bearer " + key, "Content-Type": "application/x-ndjson"}
    for i in range(0, len(http_items), 500):
        chunk = http_items[i:i + 500]
        body = "\n".join(json.dumps({k: v for k, v in it.items() if k != "agency"}) for it in chunk)
        for attempt in range(20):
            r = s.post("http://127.0.0.1:%d/v1/feedback:batch" % HTTP, data=body.encode(), headers=h, timeout=60)
            if r.status_code not in (429, 503):  # 429: the key's items/s budget (a batch costs its items)
                break
            time.sleep(int(r.headers.get("Retry-After", "1")))
        r.raise_for_status()
        for k in results:
            results[k] += r.json()[k]
        sent += len(chunk)
        line = bar("HTTP batches", sent, len(http_items))
    bar_done(line)
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True, "linger.ms": 20})
    for i, it in enumerate(kafka_items):
        p.produce("escucha.feedback.inbound.v1", key=it["external_id"].encode(), value=json.dumps(it).encode())
        if i % 200 == 0:
            p.poll(0)
            line = bar("Kafka inbound topic", i + 1, len(kafka_items))
    p.flush(60)
    bar_done(bar("Kafka inbound topic", len(kafka_items), len(kafka_items)))
    return results, len(kafka_items)


def q(cur, sql, *args):
    cur.execute(sql, args)
    return cur.fetchall()


def chart_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def charts(cur, since):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = q(cur, """SELECT date_trunc('month', created_at) AS m, category, count(*) FROM feedback
                     WHERE agency = %s AND received_at >= %s GROUP BY 1, 2 ORDER BY 1""", AGENCY, since)
    cats = sorted({r[1] for r in rows}, key=lambda c: -sum(r[2] for r in rows if r[1] == c))[:8]
    months = sorted({r[0] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for c in cats:
        ax.plot(months, [sum(r[2] for r in rows if r[0] == m and r[1] == c) for m in months], marker="o", ms=3, label=c)
    ax.set_title("Feedback per topic per month (by the date citizens wrote it)")
    ax.set_ylabel("feedback")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=.3)
    volume = chart_png(fig)
    plt.close(fig)
    srows = q(cur, """SELECT category, sentiment, count(*) FROM feedback WHERE agency = %s AND received_at >= %s
                      GROUP BY 1, 2""", AGENCY, since)
    cats2 = sorted({r[0] for r in srows}, key=lambda c: -sum(r[2] for r in srows if r[0] == c))[:12]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    left = [0.0] * len(cats2)
    for sent, color in (("NEGATIVE", "#d62728"), ("NEUTRAL", "#bbbbbb"), ("POSITIVE", "#2ca02c")):
        tot = [sum(r[2] for r in srows if r[0] == c) or 1 for c in cats2]
        vals = [sum(r[2] for r in srows if r[0] == c and r[1] == sent) / t for c, t in zip(cats2, tot)]
        ax.barh(cats2, vals, left=left, color=color, label=sent.lower())
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title("Sentiment share per topic")
    ax.legend(fontsize=8, loc="lower right")
    sentiment = chart_png(fig)
    plt.close(fig)
    return volume, sentiment


def main():
    os.makedirs(OUT, exist_ok=True)
    key = open(os.path.join(STATE, "demo-api-key")).read().strip()
    items = [json.loads(ln) for ln in open(SAMPLE, encoding="utf-8") if ln.strip()]
    # A replay: forget the previous run's dedup keys, or every item would be a duplicate.
    r = redis.Redis.from_url(REDIS)
    for k in r.scan_iter("escucha:dedup:%s:*" % AGENCY, count=1000):
        r.delete(k)
    db = psycopg2.connect(PG)
    db.autocommit = True
    cur = db.cursor()
    # a third of the sample is the agency's history, imported at its own dates; the rest arrives now
    history = [it for i, it in enumerate(items) if i % 3 == 0 and it.get("created_at")]
    items = [it for i, it in enumerate(items) if i % 3 or not it.get("created_at")]
    n_hist, hist_pattern = import_history(cur, history)
    earlier = record_earlier_action(cur, hist_pattern)
    since = q(cur, "SELECT now()")[0][0]
    base = {k: metric("ingest", 'escucha_ingest_items_total{result="%s"}' % k)
            for k in ("accepted", "duplicate", "rejected")}
    t0 = time.time()
    http_res, n_kafka = send(items, key)

    def ingest_done():
        return int(sum(metric("ingest", 'escucha_ingest_items_total{result="%s"}' % k) - base[k] for k in base))
    wait("ingest (all intakes)", ingest_done, lambda: len(items), 120)
    accepted = int(metric("ingest", 'escucha_ingest_items_total{result="accepted"}') - base["accepted"])
    stored = lambda: q(cur, "SELECT count(*) FROM feedback WHERE agency = %s AND received_at >= %s", AGENCY, since)[0][0]
    wait("classified + stored", stored, lambda: accepted, 300)
    plans = lambda: q(cur, "SELECT count(*) FROM action_plans WHERE agency = %s AND opened_at >= %s", AGENCY, since)[0][0]
    tickets = lambda: q(cur, """SELECT count(*) FROM actions a JOIN action_plans p ON p.id = a.plan_id
                                WHERE p.agency = %s AND p.opened_at >= %s""", AGENCY, since)[0][0]
    wait("priorities ranked", lambda: q(cur, "SELECT count(*) FROM priorities WHERE agency = %s AND computed_at >= %s",
                                        AGENCY, since)[0][0], lambda: 1, 120)
    wait("tickets opened", tickets, lambda: max(1, plans()), 180, settle=20)
    elapsed = time.time() - t0
    report(cur, since, items, http_res, n_kafka, accepted, elapsed)
    history_report(cur, n_hist)
    try:
        close_the_loop(cur, key, since, earlier)
    finally:
        stop_smtp_sink()


# ---- history from day one: dated feedback at its own weeks ----

HISTORY_WEEKS = 9  # the earlier action's 28 days before and after fit inside it
EFFECT_DAYS = int(os.environ.get("ESCUCHA_EFFECT_DAYS", "28"))


def import_history(cur, history):
    """The agency's earlier feedback, as an agency would import last year's CSV: the sample's own
    dates (2021-2022) mapped, in order, onto the HISTORY_WEEKS weeks before this one, and imported
    with `escucha-ingest import --trust-created-at on` so each item lands in the week it was written
    (docs/ingest.md "History"). Returns how many rows ingest accepted."""
    dates = [datetime.datetime.fromisoformat(it["created_at"].replace("Z", "+00:00")) for it in history]
    lo, hi = min(dates), max(dates)
    now = datetime.datetime.now(datetime.timezone.utc)
    monday = (now - datetime.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    start, span = monday - datetime.timedelta(weeks=HISTORY_WEEKS), datetime.timedelta(weeks=HISTORY_WEEKS, seconds=-1)
    path = os.path.join(OUT, "history.csv")
    t = int(time.time())  # letters only: a long run of digits would look like a phone number to ingest
    run = "".join(chr(97 + (t // 26 ** i) % 26) for i in range(7))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "created_at", "external_id", "service", "csat"])
        for it, d in sorted(zip(history, dates), key=lambda x: x[1]):
            at = start + (d - lo) / ((hi - lo) or datetime.timedelta(seconds=1)) * span
            w.writerow([it.get("text", ""), at.strftime("%Y-%m-%dT%H:%M:%SZ"), "hist-%s-%s" % (run, it["external_id"]),
                        it.get("service", ""), it.get("csat", "")])
    env = dict(os.environ, ESCUCHA_KAFKA_BROKERS=BROKERS, ESCUCHA_REDIS_URL=REDIS, ESCUCHA_STATE_DIR=STATE)
    binary = os.path.join(BIN, "escucha-ingest")
    print("Importing %d dated items: %d weeks of history (escucha-ingest import --trust-created-at on)"
          % (len(history), HISTORY_WEEKS))
    p = subprocess.run([binary, "import", path, "--agency", AGENCY, "--trust-created-at", "on"], env=env,
                       capture_output=True, text=True, timeout=600)
    summary = [ln for ln in p.stdout.splitlines() if " rows: accepted " in ln]
    accepted = int(summary[-1].split("accepted ")[1].split(",")[0]) if summary else 0
    print("   %s" % (summary[-1].strip() if summary else p.stderr.strip()[-300:]))
    pattern = "hist-%s-%%" % run
    wait("history stored", lambda: q(cur, "SELECT count(*) FROM feedback WHERE agency = %s AND external_id LIKE %s",
                                     AGENCY, pattern)[0][0], lambda: accepted, 300, settle=30)
    return accepted, pattern


def record_earlier_action(cur, pattern):
    """An action the agency took before Escucha, on the topic its history complains about most, finished
    EFFECT_DAYS + 2 days ago: `escucha-actions record-plan` makes it a closed plan, and prioritize's
    effectiveness check compares the imported history's complaint rate before and after it (real data,
    nothing planted: whatever the verdict, it is what these comments say)."""
    top = q(cur, """SELECT category, count(*) FROM feedback WHERE agency = %s AND external_id LIKE %s
                    AND sentiment = 'NEGATIVE' AND NOT urgent AND category NOT IN ('other', 'praise')
                    GROUP BY category ORDER BY 2 DESC, 1 LIMIT 1""", AGENCY, pattern)
    if not top:
        print("   (no negative history to record an earlier action against)")
        return None
    today = datetime.datetime.now(datetime.timezone.utc).date()
    closed = today - datetime.timedelta(days=EFFECT_DAYS + 2)
    opened = closed - datetime.timedelta(days=14)
    binary = os.path.join(BIN, "escucha-actions")
    r = subprocess.run([binary, "record-plan", "--agency", AGENCY, "--topic", top[0][0], "--opened", opened.isoformat(),
                        "--closed", closed.isoformat(), "--by", "demo (jefatura OIRS)",
                        "--note", "Refuerzo de personal en el área y seguimiento semanal de los reclamos"],
                       env=dict(os.environ, ESCUCHA_PG_DSN=PG), capture_output=True, text=True, timeout=60)
    print("Recording an earlier action (escucha-actions record-plan): %s"
          % (r.stdout.strip() or r.stderr.strip()[-300:]))
    if r.returncode != 0 or " plan " not in r.stdout:
        return None
    return r.stdout.split(" plan ")[1].split()[0]


def history_report(cur, n_hist):
    p = print
    weeks = q(cur, """SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'), total, negative
                      FROM topic_window_stats WHERE agency = %s AND topic = '*' AND window_kind = 'week'
                        AND window_start >= now() - %s * interval '1 week' ORDER BY window_start""",
              AGENCY, HISTORY_WEEKS + 1)
    p("")
    p("HISTORY FROM DAY ONE: %d imported items at their own dates, then this week's replay" % n_hist)
    p("-" * 78)
    top = max((w[1] for w in weeks), default=1) or 1
    for wk, tot, neg in weeks:
        p("  week of %s %6d feedback, %3.0f%% negative  %s" % (wk, tot, 100.0 * neg / tot if tot else 0,
                                                                "#" * max(1, round(40 * tot / top))))
    p("  (aggregates, baselines and spikes include these weeks; no plan opened for a week long past)")


# ---- one full loop: a complaint with a contact, its ticket closed, the citizen told ----

MAILDIR = os.path.join(OUT, "mail")
CITIZEN = "vecina.demo@example.org"


def stop_smtp_sink():
    """The SMTP sink scripts/demo.sh started for this run (its pid file): stopped once the loop is shown."""
    pidf = os.path.join(OUT, "smtp.pid")
    try:
        pid = int(open(pidf).read().strip())
        os.kill(pid, signal.SIGTERM)
        os.remove(pidf)
    except (OSError, ValueError):
        pass


def poll(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    print("   (gave up waiting for %s after %d s)" % (what, timeout))
    return None


def redmine(method, path, **kw):
    r = requests.request(method, os.environ["ESCUCHA_REDMINE_BASE_URL"] + path, timeout=15,
                         headers={"X-Redmine-API-Key": os.environ["ESCUCHA_REDMINE_TOKEN"]}, **kw)
    r.raise_for_status()
    return r.json() if r.content.strip() else None


def submit_with_contact(cur, key, plan_topic, texts):
    """A citizen's complaint on the plan's topic, with an e-mail address and consent: the text of one
    of the topic's negative sample comments (the model puts it on the same topic), tried until one
    lands there. Returns the feedback id, or None."""
    for i, text in enumerate(texts):
        body = {"text": text, "channel": "WEB", "external_id": "demo-loop-%d-%d" % (int(time.time()), i),
                "contact": {"email": CITIZEN}, "consent": True}
        r = requests.post("http://127.0.0.1:%d/v1/feedback" % HTTP, json=body, timeout=30,
                          headers={"Authorization": "Bearer " + key})
        r.raise_for_status()
        fid = r.json().get("id")
        row = poll("the complaint classified", lambda: q(cur, "SELECT category FROM feedback WHERE id = %s", fid), 90)
        if row and row[0][0] == plan_topic:
            return fid
    return None


def captured():
    """The messages the SMTP sink received, oldest first: (to, subject, text)."""
    out = []
    for path in sorted(glob.glob(os.path.join(MAILDIR, "*.eml")), key=lambda p: int(os.path.basename(p)[:-4])):
        m = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
        body = m.get_body(("plain",))
        out.append((m["X-Envelope-To"], str(m["subject"]), body.get_content() if body else ""))
    return out


def close_the_loop(cur, key, since, earlier=None):
    p = print
    p("")
    p("ONE FULL LOOP: a citizen's complaint -> plan -> ticket closed in Redmine -> the citizen told")
    p("-" * 78)
    if not os.environ.get("ESCUCHA_EMAIL_SMTP_URL") or not os.environ.get("ESCUCHA_REDMINE_BASE_URL"):
        p("  (skipped: no SMTP sink or Redmine in this run)")
        return
    # the plan with a Redmine ticket whose topic has the most feedback in this run
    plans = q(cur, """SELECT p.id, p.topic, a.external_key, a.url FROM action_plans p JOIN actions a ON a.plan_id = p.id
                      WHERE p.agency = %s AND p.kind = 'plan' AND p.status = 'open' AND a.tool = 'redmine'
                        AND a.status <> 'done' AND p.opened_at >= %s
                      ORDER BY (SELECT count(*) FROM feedback f WHERE f.agency = p.agency AND f.category = p.topic
                                AND f.received_at >= %s) DESC LIMIT 1""", AGENCY, since, since)
    if not plans:
        p("  (no open plan with a Redmine ticket in this run)")
        return
    plan_id, topic, issue, url = plans[0]
    texts = [r[0] for r in q(cur, """SELECT text FROM feedback WHERE agency = %s AND category = %s AND received_at >= %s
                                    AND sentiment = 'NEGATIVE' AND length(text) BETWEEN 40 AND 400
                                    ORDER BY confidence DESC NULLS LAST LIMIT 5""", AGENCY, topic, since)]
    fid = submit_with_contact(cur, key, topic, texts)
    if not fid:
        p("  (the complaint did not land on %s's topic; nothing to follow)" % topic)
        return
    p("1. Complaint %s submitted with an e-mail address and consent (\"contact\", \"consent\": true):" % fid)
    p("   ingest sealed the address to the notifier's key; PostgreSQL holds only the sealed bytes:")
    sealed = q(cur, "SELECT via, length(sealed) FROM contacts WHERE feedback_id = %s", fid)
    p("   contacts row: %s" % (", ".join("via %s, %d sealed bytes" % r for r in sealed) or "(not yet stored)"))
    p("2. It counts toward plan %s (topic %s), ticket Redmine #%s %s" % (plan_id, topic, issue, url))
    redmine("PUT", "/issues/%s.json" % issue,
            json={"issue": {"status_id": int(os.environ["REDMINE_CLOSED_STATUS_ID"]),
                            "notes": "Closed by the Escucha demo: extra staff at the front desk."}})
    p("3. The demo closed Redmine #%s; escucha-actions' status pass sees it (every %s s)..."
      % (issue, os.environ.get("ESCUCHA_POLL_INTERVAL_S", "300")))
    done = poll("the ticket seen done", lambda: q(cur, "SELECT closure, closure_note FROM actions WHERE plan_id = %s "
                                                       "AND external_key = %s AND status = 'done'", plan_id, issue), 120)
    if done:
        p("   ticket done, closure reason %s (Redmine's word: %s)" % (done[0][0] or "-", done[0][1] or "-"))
    told = poll("the citizen's e-mail", lambda: [m for m in captured() if CITIZEN in (m[0] or "")]
                and q(cur, "SELECT status FROM notifications WHERE feedback_id = %s AND state = 'sent' AND status NOT IN "
                           "('opened', 'in_progress')", fid), 120)
    rows = q(cur, "SELECT status, state, attempts FROM notifications WHERE feedback_id = %s ORDER BY created_at", fid)
    p("4. Notifications for the complaint: %s" % (", ".join("%s: %s" % (s, st) for s, st, _ in rows) or "none"))
    mails = [m for m in captured() if CITIZEN in (m[0] or "")]
    if told and mails:
        to, subject, text = mails[-1]
        p("   The citizen's e-mail, as the local SMTP sink received it (%s):" % os.path.relpath(MAILDIR, REPO))
        p("   To: %s" % to)
        p("   Subject: %s" % subject)
        for line in text.strip().splitlines():
            p("   | %s" % line)
    eff = q(cur, "SELECT status FROM action_plans WHERE id = %s", plan_id)[0]
    p("5. Did it work? Plan %s is %s; its effectiveness is checked %d days after it closes." % (plan_id, eff[0],
                                                                                             EFFECT_DAYS))
    show_effect(cur, earlier)
    iso = os.path.join(OUT, "iso")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    first = time.strftime("%Y-%m-%d", time.gmtime(time.time() - HISTORY_WEEKS * 7 * 86400))
    r = subprocess.run([os.path.join(BIN, "escucha-actions"), "iso-report", "--agency", AGENCY, "--from", first,
                        "--to", today, "--out", iso], capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        p("6. ISO 9001:2015 evidence of %s to %s (escucha-actions iso-report): %s"
          % (first, today, os.path.relpath(os.path.join(iso, "iso9001-report.html"), REPO)))
        p("   %s" % r.stdout.strip().splitlines()[-1])
    else:
        p("6. iso-report failed: %s" % r.stderr.strip()[-300:])


def show_effect(cur, plan_id):
    """The earlier action recorded on the history: prioritize's verdict on it, with its figures."""
    p = print
    if not plan_id:
        return
    e = poll("the earlier action's effectiveness", lambda: q(
        cur, """SELECT p.topic, to_char(p.closed_at, 'YYYY-MM-DD'), e.verdict, e.before_complaints, e.before_total,
                       e.after_complaints, e.after_total, e.rate_before, e.rate_after, e.rate_ratio, e.ci_low,
                       e.ci_high, e.followup_plan, e.window_days
                FROM action_effects e JOIN action_plans p ON p.id = e.plan_id WHERE e.plan_id = %s""", plan_id), 90)
    if not e:
        p("   The earlier action (plan %s) has no verdict yet (prioritize checks it at its next ranking)." % plan_id)
        return
    topic, closed, verdict, xb, nb, xa, na, rb, ra, rr, lo, hi, follow, k = e[0]
    p("   The earlier action recorded on the history (plan %s, topic %s," % (plan_id, topic))
    p("   finished %s), checked on the imported comments of the %d days before and after it:" % (closed, k))
    p("     before: %d complaints in %d comments (%.1f per 1,000)" % (xb, nb, rb or 0))
    p("     after:  %d complaints in %d comments (%.1f per 1,000)" % (xa, na, ra or 0))
    if rr is not None:
        p("     rate ratio %.2f, 95%% CI %.2f-%.2f: %s" % (rr, lo, hi, verdict.replace("_", " ").upper()))
    else:
        p("     %s (too few complaints to compare)" % verdict.upper())
    if follow:
        s = q(cur, "SELECT priority->>'explanation_en' FROM action_plans WHERE id = %s", follow)
        p("   Not effective, so the topic's next plan %s follows it up; its explanation starts:" % follow)
        for line in textwrap.wrap((s[0][0] if s and s[0][0] else "")[:300], 74):
            p("   | %s" % line)


def report(cur, since, items, http_res, n_kafka, accepted, elapsed):
    n = len(items)
    texts = collections.Counter(" ".join(it.get("text", "").lower().split()) for it in items)
    repeated = sum(c for c in texts.values() if c > 1)
    lines = []
    p = lines.append
    tot = q(cur, """SELECT count(*), avg(csat), count(csat), sum(CASE WHEN csat >= 4 THEN 1 ELSE 0 END),
                           avg(nps), count(nps),
                           sum(CASE WHEN sentiment='NEGATIVE' THEN 1 ELSE 0 END),
                           sum(CASE WHEN sentiment='POSITIVE' THEN 1 ELSE 0 END),
                           sum(CASE WHEN urgent THEN 1 ELSE 0 END)
                    FROM feedback WHERE agency = %s AND received_at >= %s""", AGENCY, since)[0]
    stored, _, ncsat, sat, _, nnps, neg, pos, urg = tot
    p("")
    p("ESCUCHA DEMO REPORT — agency '%s'" % AGENCY)
    p("=" * 78)
    p("Sample: %d real NHS Friends-and-Family-Test comments (CC BY-NC-SA 4.0), sent %d over HTTP "
      "batches and %d over the Kafka inbound topic" % (n, n - n_kafka, n_kafka))
    p("Accepted %d (HTTP: %d accepted, %d duplicate, %d rejected), stored %d classified rows in %.0f s"
      % (accepted, http_res["accepted"], http_res["duplicate"], http_res["rejected"], stored, elapsed))
    p("  %d responses repeat another respondent's words (e.g. %d x \"Did not answer\"): each has its own"
      % (repeated, texts.get("did not answer", 0)))
    p("  external_id and score, so all are kept and counted in CSAT (dedup only absorbs a re-sent submission)")
    nc = q(cur, "SELECT count(*) FROM feedback WHERE agency = %s AND received_at >= %s AND subcategory = 'other/no_comment'",
           AGENCY, since)[0][0]
    p("  %d are scores without a comment: classified other/no_comment, not ranked as a topic" % nc)
    red = int(metric("ingest", "escucha_ingest_redactions_total"))
    p("Personal data redacted before storage: %d values" % red)
    if ncsat:
        p("CSAT (share of 4-5 on 1-5): %.1f%% of %d answers" % (100.0 * sat / ncsat, ncsat))
    p("NPS: %s" % ("n/a — this data has no 0-10 question" if not nnps else "see priorities"))
    if stored:
        p("Sentiment: %.0f%% negative, %.0f%% positive; %d flagged urgent" % (100.0 * neg / stored, 100.0 * pos / stored, urg))
    rows = q(cur, """SELECT DISTINCT ON (topic) topic, rank, score, volume, explanation_en, explanation_es, level
                     FROM priorities WHERE agency = %s AND computed_at >= %s AND window_kind = 'hour'
                     ORDER BY topic, computed_at DESC""", AGENCY, since)
    top = sorted([r for r in rows if r[6] == 2] or rows, key=lambda r: r[1])[:10]
    p("")
    p("TOP 10 PRIORITIES (this hour, subcategory topics, ranked by score)")
    p("-" * 78)
    for r in top:
        p("%2d. %-42s score %.2f  n=%d" % (r[1], r[0][:42], r[2], r[3]))
        p("    %s" % r[4])
        p("    %s" % r[5])
    full = q(cur, """SELECT p.topic, p.summary, a.tool, a.external_key, a.url, a.status, p.recommendations,
                            p.quotes, p.detail
                     FROM action_plans p LEFT JOIN actions a ON a.plan_id = p.id
                     WHERE p.agency = %s AND p.opened_at >= %s ORDER BY p.opened_at""", AGENCY, since)
    p("")
    p("ACTION PLANS AND TICKETS (%d)" % len(full))
    p("-" * 78)
    for topic, summary, tool, k, url, status, recs, quotes, detail in full:
        # each plan in full, as the agency reads it (docs/actions.md "Plan")
        detail = detail or {}
        p("* %s -> %s %s [%s] %s" % (topic, tool or "-", k or "", status or "pending", url or ""))
        for line in textwrap.wrap(summary or "", 100):
            p("    %s" % line)
        for c in detail.get("concentrations", []):
            p("    where: %s %s — %d of %d negative, lift %.1f (95%% %.1f–%.1f)"
              % (c["dimension"], c["value"], c["negatives"], c["n"], c["lift"], c["lift_low"], c["lift_high"]))
        for d in detail.get("drivers", []):
            p("    driver: %s (%.0f%% of the negatives)" % (d.get("label_en") or d["subcategory"], 100 * d["share"]))
        for i, r in enumerate(recs or []):
            p("    action %d: %s" % (i + 1, r))
        if not topic.startswith("case/"):  # a case (one urgent item) has no plan detail: it is handled at once
            p("    owner: %s; due %s (%s days); urgent items: %s" % (detail.get("owner") or "-",
                                                                  detail.get("due_date", "-"),
                                                                  detail.get("sla_days", "-"),
                                                                  detail.get("urgent_items", 0)))
        if detail.get("success"):
            p("    goal: %s" % detail["success"].get("text_en", ""))
        for qd in (quotes or [])[:3]:
            p("    quote (%s): %s" % (qd.get("subcategory") or topic, (qd.get("text") or "")[:140]))
        if detail.get("counter_example"):
            p("    what works: %s" % detail["counter_example"]["text"][:140])
    volume, sentiment = charts(cur, since)
    with open(os.path.join(OUT, "volume.png"), "wb") as f:
        f.write(volume)
    with open(os.path.join(OUT, "sentiment.png"), "wb") as f:
        f.write(sentiment)
    key_file = os.path.relpath(os.path.join(STATE, "demo-api-key"), REPO)
    page = ["<!doctype html><meta charset=utf-8><title>Escucha demo report</title>",
            "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}td,th{padding:4px 8px;"
            "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}</style>",
            "<h1>Escucha — demo report</h1>",
            "<p><strong>Operator dashboard:</strong> <a href='%s'>%s</a> — sign in with the key in <code>%s</code> "
            "(Spanish first; English switch at the top).</p>" % (html.escape(DASHBOARD), html.escape(DASHBOARD), html.escape(key_file)),
            "<pre>%s</pre>" % html.escape("\n".join(lines[3:8])),
            "<h2>Volume per topic</h2><img src='data:image/png;base64,%s'>" % base64.b64encode(volume).decode(),
            "<h2>Sentiment per topic</h2><img src='data:image/png;base64,%s'>" % base64.b64encode(sentiment).decode(),
            "<h2>Top priorities</h2><table><tr><th>#</th><th>topic</th><th>score</th><th>n</th><th>why</th></tr>"]
    for r in top:
        page.append("<tr><td>%d</td><td>%s</td><td>%.2f</td><td>%d</td><td>%s<br><i>%s</i></td></tr>"
                    % (r[1], html.escape(r[0]), r[2], r[3], html.escape(r[4]), html.escape(r[5])))
    page.append("</table><h2>Action plans and tickets</h2><table><tr><th>topic</th><th>ticket</th><th>status</th>"
                "<th>plan</th></tr>")
    for topic, summary, tool, k, url, status, recs, quotes, detail in full:
        link = "<a href='%s'>%s %s</a>" % (html.escape(url), tool, html.escape(k or "")) if url else html.escape(tool or "-")
        detail = detail or {}
        where = "".join("<li>%s %s: %d of %d negative, lift %.1f</li>" % (html.escape(c["dimension"]), html.escape(c["value"]),
                        c["negatives"], c["n"], c["lift"]) for c in detail.get("concentrations", []))
        plan = "<p>%s</p><ul>%s</ul><ol>%s</ol><p>owner %s, due %s; %s</p>" % (
            html.escape(summary or ""), where, "".join("<li>%s</li>" % html.escape(r) for r in recs or []),
            html.escape(detail.get("owner") or "-"), html.escape(str(detail.get("due_date", "-"))),
            html.escape((detail.get("success") or {}).get("text_en", "")))
        page.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                    % (html.escape(topic), link, html.escape(status or "pending"), plan))
    page.append("</table>")
    with open(os.path.join(OUT, "report.html"), "w", encoding="utf-8") as f:
        f.write("\n".join(page))
    p("")
    p("Report: %s (charts: volume.png, sentiment.png)" % os.path.join(OUT, "report.html"))
    p("Redmine with the tickets: %s/projects/escucha/issues" % os.environ.get("ESCUCHA_REDMINE_BASE_URL", ""))
    p("Stop everything: make down && scripts/redmine.sh stop")
    p("")
    p("DASHBOARD: %s" % DASHBOARD)
    p("  Sign in with the key in %s (cat %s), in Spanish or English." % (key_file, key_file))
    print("\n".join(lines))
    with open(os.path.join(OUT, "report.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
