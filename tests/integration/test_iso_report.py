"""ISO 9001:2015 evidence report (`escucha-actions iso-report`, services/actions/iso.c)
against the real PostgreSQL: plans, tickets, effects, feedback, weekly stats and
audit rows planted for one agency (and decoys outside its period or of another
agency); the CSV files and the HTML are checked value by value, the pooled
effect against an independent Mantel-Haenszel computation, a tampered audit row
shows in the report; the page is rendered in headless Chromium (screenshot
under $ESCUCHA_TEST_OUTPUT/iso/)."""
import csv
import json
import math
import os
import subprocess
import tempfile


from conftest import BIN, PG_DSN, REPO, sql, unique

FROM, TO = "2026-01-05", "2026-02-01"  # four ISO weeks, Monday to Sunday


def report(agency, out, frm=FROM, to=TO, lang="en"):
    p = subprocess.run([os.path.join(BIN, "escucha-actions"), "iso-report", "--agency", agency, "--from", frm,
                        "--to", to, "--out", out, "--lang", lang], capture_output=True, text=True,
                       env=dict(os.environ, ESCUCHA_PG_DSN=PG_DSN), cwd=REPO, timeout=120)
    return p.returncode, p.stdout + p.stderr


def rows(out, name):
    with open(os.path.join(out, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def plan(pid, agency, topic, opened, closed=None, summary="", recs=(), drivers=(), follows=None, counts=None):
    detail = {"drivers": [{"subcategory": s, "label_en": lab, "share": sh} for s, lab, sh in drivers]}
    if counts:
        detail["counts"] = counts
    sql("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, priority, summary,"
        " recommendations, detail, follows_plan) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (pid, agency, topic, "closed" if closed else "open", opened, closed, json.dumps({"volume": 99, "score": 0.75}),
         summary, json.dumps(list(recs)), json.dumps(detail), follows))


def ticket(pid, tool, key, url, status, closure=None, note=None):
    sql("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key, opened_at, updated_at,"
        " closed_at, closure, closure_note) VALUES (%s, %s, %s, %s, %s, %s, '2026-01-07', '2026-01-20', %s, %s, %s)",
        (pid, tool, key, url, status, unique("idem"), "2026-01-20" if status == "done" else None, closure, note))


def effect(pid, agency, topic, verdict, xb, nb, xa, na, rr, lo, hi, followup=None):
    sql("INSERT INTO action_effects (plan_id, agency, topic, closed_at, window_days, before_complaints, before_total,"
        " after_complaints, after_total, rate_before, rate_after, rate_ratio, ci_low, ci_high, p_drop, verdict,"
        " followup_plan) VALUES (%s, %s, %s, '2026-01-20', 28, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0.01, %s, %s)",
        (pid, agency, topic, xb, nb, xa, na, 1000.0 * xb / nb, 1000.0 * xa / na, rr, lo, hi, verdict, followup))


def audit(entity, entity_id, action, at):
    sql("INSERT INTO audit_log (at, actor, entity, entity_id, action, detail) VALUES (%s, 'test', %s, %s, %s, %s)",
        (at, entity, entity_id, action, json.dumps({"t": 1})))


def mantel_haenszel(strata):
    num = sum(xa * nb / (na + nb) for xa, na, xb, nb in strata)
    den = sum(xb * na / (na + nb) for xa, na, xb, nb in strata)
    var = sum((xa + xb) * na * nb / (na + nb) ** 2 for xa, na, xb, nb in strata)
    rr, se = num / den, math.sqrt(var / (num * den))
    return rr, rr * math.exp(-1.959963984540054 * se), rr * math.exp(1.959963984540054 * se)


def test_iso_report_records_and_rendering():
    ag, other = unique("iso"), unique("isoother")
    ids = {k: unique("plan" + k) for k in "ABCDEF"}
    # A: closed, ticket done (not fixed), effective; B: open, a hostile summary; C: closed, not effective ->
    # D follows it; E: closed before the period (not listed); F: another agency's (not listed)
    plan(ids["A"], ag, "roads/potholes", "2026-01-06T08:00Z", "2026-01-20T00:00Z",
         summary="Potholes on the ring road; 3 times the agency's rate", recs=["Resurface km 3-5", "Inspect weekly"],
         drivers=[("roads/potholes", "Potholes", 0.7)],
         counts={"topic_n": 120, "topic_negatives": 80, "days": 14})
    plan(ids["B"], ag, "water", "2026-01-25T00:00Z",
         summary='Water cuts <script>alert("x")</script>, "quoted", and, commas', recs=["=cmd|' /C calc'!A0"])
    plan(ids["C"], ag, "transport", "2025-12-20T00:00Z", "2026-01-10T00:00Z", summary="Late buses")
    plan(ids["D"], ag, "transport", "2026-01-12T00:00Z", summary="Late buses again", follows=ids["C"])
    plan(ids["E"], ag, "parks", "2025-10-01T00:00Z", "2025-11-01T00:00Z", summary="Old")
    plan(ids["F"], other, "roads", "2026-01-06T00:00Z", summary="Other agency")
    ticket(ids["A"], "redmine", "#41", "http://redmine.example/issues/41", "done", "not_fixed", "No budget this year")
    ticket(ids["B"], "jira", "CIV-7", "javascript:alert(1)", "in_progress")
    effect(ids["A"], ag, "roads/potholes", "effective", 40, 1000, 15, 1100, 0.34, 0.19, 0.61)
    effect(ids["C"], ag, "transport", "not_effective", 20, 900, 22, 950, 1.04, 0.57, 1.91, followup=ids["D"])
    effect(ids["E"], ag, "parks", "effective", 50, 500, 1, 500, 0.02, 0.0, 0.1)

    # 9.1.2: two weeks of the agency's overall stats (and one before the period), feedback for the totals
    for week, tot, neg, p, pa, d, cn, cs in [("2026-01-05", 200, 60, 50, 30, 20, 40, 30),
                                             ("2026-01-12", 150, 30, 10, 5, 5, 0, 0),
                                             ("2025-12-29", 999, 9, 9, 9, 9, 9, 9)]:
        sql("INSERT INTO topic_window_stats (agency, topic, window_kind, window_start, total, negative,"
            " nps_promoters, nps_passives, nps_detractors, csat_responses, csat_satisfied)"
            " VALUES (%s, '*', 'week', %s, %s, %s, %s, %s, %s, %s, %s)", (ag, week, tot, neg, p, pa, d, cn, cs))
    for i, (nps, csat, sent) in enumerate([(10, 5, "POSITIVE"), (9, 4, "NEUTRAL"), (3, 1, "NEGATIVE"),
                                           (None, 2, "NEGATIVE"), (8, None, "POSITIVE")]):
        sql("INSERT INTO feedback (id, agency, received_at, category, nps, csat, sentiment)"
            " VALUES (%s, %s, %s, 'roads', %s, %s, %s)", (unique("fb"), ag, "2026-01-0%dT10:00Z" % (6 + i), nps, csat,
                                                          sent))
    sql("INSERT INTO feedback (id, agency, received_at, category, nps) VALUES (%s, %s, '2026-02-02T00:00Z', 'x', 0)",
        (unique("fb"), ag))  # the day after the period

    # 7.5: the agency's rows in the period, one before it, another agency's
    audit("action_plan", ids["A"], "open", "2026-01-06T08:00Z")
    audit("action_plan", ids["A"], "ticket_opened", "2026-01-07T00:00Z")
    audit("action_plan", ids["A"], "ticket_closed", "2026-01-20T00:00Z")
    audit("action_plan", ids["B"], "open", "2026-01-25T00:00Z")
    audit("digest", ag + "/weekly/2026-01-12", "digest_sent", "2026-01-19T06:00Z")
    audit("action_plan", ids["A"], "open", "2025-12-01T00:00Z")
    audit("action_plan", ids["F"], "open", "2026-01-06T00:00Z")

    out = tempfile.mkdtemp(prefix="iso-")
    rc, log = report(ag, out)
    assert rc == 0, log
    assert "audit chain intact" in log, log

    nc = {r["plan_id"]: r for r in rows(out, "10.2-nonconformities.csv")}
    assert set(nc) == {ids[k] for k in "ABCD"}, nc.keys()
    a = nc[ids["A"]]
    assert a["status"] == "closed" and a["closed_at"] == "2026-01-20T00:00:00Z"
    assert (a["evidence_feedback"], a["evidence_negatives"], a["evidence_days"]) == ("120", "80", "14")
    assert a["root_cause"].startswith("Potholes on the ring road") and a["drivers"] == "Potholes (70% of negatives)"
    assert a["actions"] == "Resurface km 3-5\nInspect weekly"
    assert (a["tickets"], a["closure"], a["effectiveness"]) == ("1", "not_fixed", "effective")
    assert float(a["rate_ratio"]) == 0.34 and float(a["rr_low"]) == 0.19 and float(a["rr_high"]) == 0.61
    assert float(a["rate_before"]) == 40.0 and a["rate_after"] == "%.2f" % (1000 * 15 / 1100)
    b = nc[ids["B"]]
    assert b["status"] == "open" and b["closed_at"] == "" and b["effectiveness"] == ""
    assert b["root_cause"] == 'Water cuts <script>alert("x")</script>, "quoted", and, commas'  # CSV round trip
    assert b["actions"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it, never runs it
    assert nc[ids["C"]]["effectiveness"] == "not_effective" and nc[ids["C"]]["followup_plan"] == ids["D"]
    assert nc[ids["D"]]["follows_plan"] == ids["C"]

    tk = rows(out, "10.2-tickets.csv")
    assert [(t["plan_id"], t["tool"], t["key"], t["status"], t["closure"], t["closure_note"]) for t in tk] == [
        (ids["A"], "redmine", "#41", "done", "not_fixed", "No budget this year"),
        (ids["B"], "jira", "CIV-7", "in_progress", "", "")]
    assert tk[0]["url"] == "http://redmine.example/issues/41"

    sat = rows(out, "9.1.2-satisfaction.csv")
    assert [s["week_start"] for s in sat] == ["2026-01-05", "2026-01-12"]
    w = sat[0]
    n, pp, pd = 100, 0.5, 0.2
    se = math.sqrt((pp + pd - (pp - pd) ** 2) / n)
    assert (w["feedback"], w["negative"], w["nps_answers"], w["nps"]) == ("200", "60", "100", "30.0")
    assert w["nps_low"] == "%.1f" % (100 * (0.3 - 1.959963984540054 * se))
    assert w["nps_high"] == "%.1f" % (100 * (0.3 + 1.959963984540054 * se))
    z, k, m = 1.959963984540054, 30, 40  # Wilson, computed here
    c = (k / m + z * z / (2 * m)) / (1 + z * z / m)
    h = z / (1 + z * z / m) * math.sqrt(k / m * (1 - k / m) / m + z * z / (4 * m * m))
    assert (w["csat_answers"], w["csat_pct"]) == ("40", "75.0")
    assert w["csat_low"] == "%.1f" % (100 * (c - h)) and w["csat_high"] == "%.1f" % (100 * (c + h))
    assert sat[1]["csat_answers"] == "0" and sat[1]["csat_pct"] == ""

    counts = {(r["entity"], r["action"]): r["rows"] for r in rows(out, "7.5-audit-summary.csv")}
    assert counts == {("action_plan", "open"): "2", ("action_plan", "ticket_opened"): "1",
                      ("action_plan", "ticket_closed"): "1", ("digest", "digest_sent"): "1"}, counts
    trail = rows(out, "7.5-audit-trail.csv")
    assert len(trail) == 5 and all(len(r["hash"]) == 64 for r in trail)

    html = open(os.path.join(out, "iso9001-report.html"), encoding="utf-8").read()
    for clause in ("9.1.2 Customer satisfaction", "10.2 Nonconformity and corrective action",
                   "7.5 Documented information"):
        assert clause in html
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'href="javascript' not in html and 'href="http://redmine.example/issues/41"' in html
    assert "<link" not in html and "@import" not in html  # self-contained
    # the totals come from the period's feedback itself: 5 items, NPS answers 10, 9, 3, 8
    assert "<b>5</b> feedback, 2 negative" in html and "4 answers" in html
    rr, lo, hi = mantel_haenszel([(15, 1100, 40, 1000), (22, 950, 20, 900)])
    want = "changed by <b>%+.0f%%</b> (95%% CI %+.0f%% to %+.0f%%; Mantel-Haenszel rate ratio %.3f over 2 reviewed" % (
        100 * (rr - 1), 100 * (lo - 1), 100 * (hi - 1), rr)
    assert want in html, want
    assert "1 effective, 1 not effective, 0 inconclusive" in html
    head = sql("SELECT id, encode(hash, 'hex') FROM audit_log ORDER BY id DESC LIMIT 1")[0]
    assert "Latest row: id %d" % head[0] in html and head[1] in html
    assert "intact</b>" in html

    _screenshot(os.path.join(out, "iso9001-report.html"), "iso9001-report.png")

    # Spanish (the default): the same records, every heading and sentence in Spanish, the CSV files unchanged
    es_out = os.path.join(out, "es")
    rc, log = report(ag, es_out, lang="es")
    assert rc == 0, log
    es = open(os.path.join(es_out, "iso9001-report.html"), encoding="utf-8").read()
    for clause in ("9.1.2 Satisfacción del cliente", "10.2 No conformidad y acción correctiva",
                   "7.5 Información documentada"):
        assert clause in es
    assert '<html lang="es">' in es and "<b>5</b> comentarios, 2 negativos" in es and "4 respuestas" in es
    assert "cambiaron <b>%+.0f%%</b> (IC 95%% %+.0f%% a %+.0f%%" % (
        100 * (rr - 1), 100 * (lo - 1), 100 * (hi - 1)) in es
    assert "1 eficaces, 1 no eficaces, 0 no concluyentes" in es and "íntegra</b>" in es
    for word in ("Customer satisfaction", "Nonconformity", "Documented information", "No records"):
        assert word not in es, word
    for name in ("9.1.2-satisfaction.csv", "10.2-nonconformities.csv", "10.2-tickets.csv", "7.5-audit-summary.csv"):
        assert open(os.path.join(es_out, name), "rb").read() == open(os.path.join(out, name), "rb").read(), name
    _screenshot(os.path.join(es_out, "iso9001-report.html"), "iso9001-report-es.png")

    # a row changed after it was written shows in the next report (and is put back)
    victim = int(trail[1]["id"])
    old = sql("SELECT detail::text FROM audit_log WHERE id = %s", (victim,))[0][0]
    sql("UPDATE audit_log SET detail = '{\"t\": 2}' WHERE id = %s", (victim,))
    try:
        rc, log = report(ag, out)
        assert rc == 0 and "audit chain BROKEN" in log, log
        html = open(os.path.join(out, "iso9001-report.html"), encoding="utf-8").read()
        assert "BROKEN at row %d" % victim in html
    finally:
        sql("UPDATE audit_log SET detail = %s::jsonb WHERE id = %s", (old, victim))


def test_iso_report_refuses_bad_options_and_writes_an_empty_period():
    out = tempfile.mkdtemp(prefix="iso-")
    for args in (["--from", "2026-02-30", "--to", "2026-03-01"], ["--from", "2026-03-02", "--to", "2026-03-01"],
                 ["--from", "yesterday", "--to", "2026-03-01"]):
        p = subprocess.run([os.path.join(BIN, "escucha-actions"), "iso-report", "--agency", "x", "--out", out] + args,
                           capture_output=True, text=True, env=dict(os.environ, ESCUCHA_PG_DSN=PG_DSN), timeout=60)
        assert p.returncode == 2 and "--from and --to" in p.stderr, p.stderr
    rc, log = report(unique("isoempty"), out, "2020-01-01", "2020-01-31")
    assert rc == 0, log
    html = open(os.path.join(out, "iso9001-report.html"), encoding="utf-8").read()
    assert "No nonconformity recorded in the period." in html and "cannot be computed yet" in html
    assert rows(out, "10.2-nonconformities.csv") == [] and rows(out, "9.1.2-satisfaction.csv") == []


def _screenshot(path, name):
    """The report as an auditor sees it, and printed (A4 PDF): both kept for a look."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400"):
        o.add_argument(a)
    d = webdriver.Chrome(service=ChromeService("/usr/bin/chromedriver"), options=o)
    try:
        d.get("file://" + path)
        assert d.find_element("css selector", "h1").text in ("ISO 9001:2015 evidence report",
                                                             "Informe de evidencia ISO 9001:2015")
        # no horizontal overflow: readable without scrolling sideways
        assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        out = os.path.join(os.environ.get("ESCUCHA_TEST_OUTPUT", os.path.join(REPO, ".escucha", "test-output")),
                           "iso")
        os.makedirs(out, exist_ok=True)
        d.save_screenshot(os.path.join(out, name))
        import base64
        pdf = d.execute_cdp_cmd("Page.printToPDF", {"printBackground": True, "paperWidth": 8.27, "paperHeight": 11.69})
        with open(os.path.join(out, name.replace(".png", ".pdf")), "wb") as f:
            f.write(base64.b64decode(pdf["data"]))
    finally:
        d.quit()
