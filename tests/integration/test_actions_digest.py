"""E-mail digest against the real stack: priorities, open action plans with
their tickets and feedback planted in PostgreSQL for new agencies, the digest
delivered to a local aiosmtpd server (tests/contract/smtp_server.py) by the
operator subcommand and by the service's schedule.

Checked: exactly one message per agency and period, whichever path sends it
and however often the service restarts (audit_log entity 'digest');
multipart/alternative with text/plain and text/html; the period's priority
explanations and the open tickets' URLs in both parts, HTML-escaped in the
HTML part; nothing from other windows or closed plans; per-agency recipients."""
import datetime
import os
import socket
import subprocess
import sys

import pytest

from conftest import BIN, PG_DSN, REPO, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402

UTC = datetime.timezone.utc
EXPL_TOP = "Volumen 3× la base <pico> & 80 % negativos"
EXPL_TOP_HTML = "Volumen 3× la base &lt;pico&gt; &amp; 80 % negativos"
EXPL_2 = "Sube la espera en fila: \"8 de 10\" negativos"
EXPL_2_HTML = "Sube la espera en fila: &quot;8 de 10&quot; negativos"
OUTSIDE = "FUERA-DEL-PERIODO"
CLOSED_URL = "https://tracker.example.org/issues/closed-plan"
TO_ALL = "ops@example.org"


def period(kind, now=None):
    """Same rule as ac_digest_period: the last complete UTC day / ISO week."""
    now = now or datetime.datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "daily":
        return today - datetime.timedelta(days=1), today
    monday = today - datetime.timedelta(days=today.weekday())
    return monday - datetime.timedelta(days=7), monday


def ticket_url(agency):
    return "https://tracker.example.org/issues/%s?view=full&tab=history" % agency


def seed(agency):
    """Priorities for the last complete day and week (plus a newer window that
    must not show), an open plan with a ticket, an open plan without one, a
    closed plan, and feedback in both periods. Returns nothing."""
    rows = []
    for kind, wk in (("daily", "day"), ("weekly", "week")):
        start, end = period(kind)
        tag = " [%s]" % kind
        rows += [
            (agency, "waiting_times", wk, start, 1, 1, 0.91, 42, 0.8, EXPL_TOP + tag, "EN " + EXPL_TOP + tag),
            (agency, "waiting_times/queue_wait", wk, start, 2, 1, 0.55, 17, 0.8, EXPL_2 + tag, "EN " + EXPL_2 + tag),
            # the window after the period (still filling): higher score, never in the digest
            (agency, "procedures", wk, end, 1, 1, 0.99, 99, 0.9, OUTSIDE, OUTSIDE),
        ]
    plan_open, plan_bare, plan_closed = it.unique("pl"), it.unique("pl"), it.unique("pl")
    d0, _ = period("daily")
    with it.psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        for r in rows:
            cur.execute("INSERT INTO priorities (agency, topic, window_kind, window_start, computed_at, level, rank, "
                        "score, volume, negative_share, factors, explanation_es, explanation_en) "
                        "VALUES (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s, '{}', %s, %s)", r)
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at) VALUES "
                    "(%s, %s, 'waiting_times', 'open', now() - interval '3 days'), "
                    "(%s, %s, 'digital_channels', 'open', now() - interval '1 day'), "
                    "(%s, %s, 'facilities', 'closed', now() - interval '9 days')",
                    (plan_open, agency, plan_bare, agency, plan_closed, agency))
        cur.execute("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key, opened_at) VALUES "
                    "(%s, 'redmine', '77', %s, 'in_progress', %s, now() - interval '3 days'), "
                    "(%s, 'redmine', '78', %s, 'done', %s, now() - interval '9 days')",
                    (plan_open, ticket_url(agency), it.unique("esk"), plan_closed, CLOSED_URL, it.unique("esk")))
        # the same feedback in each period: 3 of 4 negative, NPS 10/3/5 -> -33, CSAT 5/2/4 -> 67 %;
        # on a Monday the last day lies inside the last week, so the week gets it only once
        w0, w1 = period("weekly")
        fb = [("NEGATIVE", 10, 5), ("NEGATIVE", 3, 2), ("NEGATIVE", 5, None), ("POSITIVE", None, 4)]
        for day in [d0] + ([] if w0 <= d0 < w1 else [w0]):
            for i, (sent, nps, csat) in enumerate(fb):
                cur.execute("INSERT INTO feedback (id, agency, channel, text, received_at, category, sentiment, "
                            "nps, csat) VALUES (%s, %s, 'WEB', 'x', %s, 'waiting_times', %s, %s, %s)",
                            (it.unique("fb"), agency, day + datetime.timedelta(hours=1 + i), sent, nps, csat))
        # and some today (outside both periods)
        cur.execute("INSERT INTO feedback (id, agency, channel, text, received_at, category, sentiment) "
                    "VALUES (%s, %s, 'WEB', 'x', now(), 'waiting_times', 'NEGATIVE')", (it.unique("fb"), agency))


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    outdir = str(tmp_path_factory.mktemp("mail"))
    s = it.FakeServer("smtp_server.py", outdir)
    s.outdir = outdir
    yield s
    s.stop()


def env_for(smtp, **extra):
    e = dict(os.environ)
    e.update({"ESCUCHA_PG_DSN": PG_DSN, "ESCUCHA_EMAIL_SMTP_URL": "smtp://127.0.0.1:%d" % smtp.port,
              "ESCUCHA_EMAIL_FROM": "Escucha <digest@escucha.example.org>", "ESCUCHA_EMAIL_TO": TO_ALL,
              "ESCUCHA_TAXONOMY": os.path.join(REPO, "config", "taxonomy.default.json"), "ESCUCHA_LANG": "es",
              "ESCUCHA_HTTP_TIMEOUT_MS": "10000"})
    e.update(extra)
    return e


def digests(smtp, agency, kind):
    word = {"daily": "diario", "weekly": "semanal"}[kind]
    want = "Resumen %s de Escucha — %s — " % (word, agency)
    return [(to, m) for to, m in it.sink_mails(smtp.outdir) if str(m["subject"]).startswith(want)]


def parts(msg):
    assert msg.get_content_type() == "multipart/alternative"
    ps = list(msg.iter_parts())
    assert [p.get_content_type() for p in ps] == ["text/plain", "text/html"]
    return ps[0].get_content(), ps[1].get_content()


def audit_sent(key):
    return it.sql(PG_DSN, "SELECT count(*) FROM audit_log WHERE entity = 'digest' AND entity_id = %s "
                          "AND action = 'digest_sent'", (key,))[0][0]


def key_of(agency, kind):
    return "%s/%s/%s" % (agency, kind, period(kind)[0].strftime("%Y-%m-%d"))


def digest_cmd(smtp, agency, kind, *extra, env=None):
    return subprocess.run([os.path.join(BIN, "escucha-actions"), "digest", "--agency", agency, "--period", kind]
                          + list(extra), env=env or env_for(smtp), capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def check_content(msg, agency, kind):
    text, html = parts(msg)
    tag = " [%s]" % kind
    start, end = period(kind)
    # priorities of the period, best first, with their explanations and labels
    assert "1. Tiempos de espera — 42, 80% negativos, puntaje 0.91\n   " + EXPL_TOP + tag in text
    assert "2. Espera en la oficina o fila — 17, 80% negativos, puntaje 0.55\n   " + EXPL_2 + tag in text
    assert text.index(EXPL_TOP) < text.index(EXPL_2)
    assert "<td>" + EXPL_TOP_HTML + tag + "</td>" in html and EXPL_2_HTML + tag in html
    assert "<td>Tiempos de espera</td>" in html
    assert "<pico>" not in html and EXPL_TOP + tag not in html and "\"8 de 10\"" not in html
    # open plans: the ticket with its URL (escaped in the HTML), the plan without a ticket
    url = ticket_url(agency)
    assert "- Tiempos de espera: redmine 77 (in_progress, 3 días) " + url in text
    assert "<a href=\"%s\">redmine 77</a>" % url.replace("&", "&amp;") in html
    assert url not in html  # the raw '&' never appears in the HTML
    assert "- Canales de contacto y digitales: (sin ticket todavía" in text
    # nothing from the next window or from closed plans
    for part in (text, html):
        assert OUTSIDE not in part and CLOSED_URL not in part and "redmine 78" not in part
    # totals of the period
    assert "Comentarios recibidos: 4 · negativos 75% · NPS -33 (3 respuestas) · CSAT 67% (3 respuestas)" in text
    first, last = start.strftime("%Y-%m-%d"), (end - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    per = first if kind == "daily" else "%s – %s" % (first, last)
    assert "Periodo: %s (UTC)" % per in text and str(msg["subject"]).endswith(per)


def test_subcommand_dry_run_then_send_once(smtp):
    agency = it.unique("dg")
    seed(agency)
    # dry run: the text part on stdout, nothing sent or recorded
    r = digest_cmd(smtp, agency, "daily", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert EXPL_TOP + " [daily]" in r.stdout and ticket_url(agency) in r.stdout
    assert "Resumen diario de Escucha — %s" % agency in r.stdout
    assert digests(smtp, agency, "daily") == [] and audit_sent(key_of(agency, "daily")) == 0

    # SMTP unreachable: a failure, nothing recorded, so the next attempt sends it
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed = sock.getsockname()[1]
    sock.close()
    r = digest_cmd(smtp, agency, "daily", env=env_for(smtp, ESCUCHA_EMAIL_SMTP_URL="smtp://127.0.0.1:%d" % closed))
    assert r.returncode == 1 and "failed" in r.stderr, (r.stdout, r.stderr)
    assert audit_sent(key_of(agency, "daily")) == 0

    # the subcommand returns after the server accepted the message
    r = digest_cmd(smtp, agency, "daily")
    assert r.returncode == 0 and "sent" in r.stdout, r.stderr
    (got,) = digests(smtp, agency, "daily")
    to, msg = got
    assert to == TO_ALL and msg["To"] == TO_ALL and "digest@escucha.example.org" in msg["From"]
    check_content(msg, agency, "daily")
    assert audit_sent(key_of(agency, "daily")) == 1

    # again: recorded as sent, so nothing more
    r = digest_cmd(smtp, agency, "daily")
    assert r.returncode == 0 and "already sent" in r.stdout, r.stderr
    assert len(digests(smtp, agency, "daily")) == 1 and audit_sent(key_of(agency, "daily")) == 1

    # a bad period is a usage error
    assert digest_cmd(smtp, agency, "monthly").returncode == 2


def test_scheduled_once_per_agency_and_period_across_restarts(services, smtp):
    a, b = it.unique("dg"), it.unique("dg")
    seed(a)
    seed(b)
    boss = "boss-%s@example.org" % b
    per_agency = {"ESCUCHA_DIGEST_TO_" + "".join(ch.upper() if ch.isalnum() else "_" for ch in b): boss}
    # the operator already sent a's daily digest: the schedule must not send it again
    r = digest_cmd(smtp, a, "daily", env=env_for(smtp, **per_agency))
    assert r.returncode == 0 and "sent" in r.stdout, r.stderr

    def run(kind, want_sent, want_skipped):
        """Service with the digest due now (hour 0) and a check every 0.2 s;
        returns once it finished a pass after the first one."""
        env = env_for(smtp, ESCUCHA_DIGEST_PERIOD=kind, ESCUCHA_DIGEST_HOUR="0", ESCUCHA_DIGEST_CHECK_S="0.2",
                      ESCUCHA_DIGEST_AGENCIES="%s,%s" % (a, b), **per_agency)
        svc = services.start("actions", env=env)
        m = 'escucha_actions_digests_total{result="%s"}'
        # every pass looks at both agencies: sent + already_sent reaches 2 per pass
        wait_until(lambda: svc.metric(m % "sent") + svc.metric(m % "already_sent") >= 4, 30, 0.05,
                   "two digest passes")
        assert svc.metric(m % "sent") == want_sent
        assert svc.metric(m % "already_sent") >= want_skipped
        assert svc.metric(m % "failed") == 0 and svc.metric(m % "no_recipients") == 0
        assert svc.stop() == 0

    run("daily", 1, 3)          # b sent, a already sent by the subcommand
    run("daily", 0, 4)          # restart: nothing new
    for ag, to in ((a, TO_ALL), (b, boss)):
        got = digests(smtp, ag, "daily")
        assert len(got) == 1, [str(m["subject"]) for _, m in got]
        assert got[0][0] == to
        check_content(got[0][1], ag, "daily")
        assert audit_sent(key_of(ag, "daily")) == 1

    run("weekly", 2, 2)         # the weekly period is a different digest
    run("weekly", 0, 4)         # restart: nothing new
    for ag, to in ((a, TO_ALL), (b, boss)):
        got = digests(smtp, ag, "weekly")
        assert len(got) == 1 and got[0][0] == to
        check_content(got[0][1], ag, "weekly")
        assert audit_sent(key_of(ag, "weekly")) == 1
        assert len(digests(smtp, ag, "daily")) == 1


def test_stale_plans_flagged_in_the_digest(smtp):
    """Reminders: an open plan whose tickets have not moved for --stale-after days
    (default 14; actions.updated_at, else the plan's opening) is flagged; a plan
    whose tickets moved lately, or are all done, is not; --stale-after 0 turns
    the reminders off and a shorter one flags more."""
    agency = it.unique("dgst")
    stuck, moving, done, bare = (it.unique("pl") for _ in range(4))
    with it.psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at) VALUES "
                    "(%s, %s, 'waiting_times', 'open', now() - interval '40 days'), "
                    "(%s, %s, 'digital_channels', 'open', now() - interval '40 days'), "
                    "(%s, %s, 'facilities', 'open', now() - interval '40 days'), "
                    "(%s, %s, 'procedures', 'open', now() - interval '20 days')",
                    (stuck, agency, moving, agency, done, agency, bare, agency))
        for pid, key, status, moved in ((stuck, "s1", "in_progress", 20), (stuck, "s2", "open", 16),
                                        (moving, "m1", "in_progress", 3), (done, "d1", "done", 30)):
            cur.execute("INSERT INTO actions (plan_id, tool, external_key, status, idempotency_key, opened_at,"
                        " updated_at) VALUES (%s, 'redmine', %s, %s, %s, now() - interval '39 days',"
                        " now() - %s * interval '1 day')", (pid, key, status, it.unique("esk"), moved))
    r = digest_cmd(smtp, agency, "daily", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Recordatorio: 2 planes abiertos sin movimiento de tickets desde hace 14 días o más" in out, out
    lines = {ln.split(":")[0]: ln for ln in out.splitlines() if ln.startswith("- ")}
    # the stuck plan: its last movement is the newer of its two tickets (16 days)
    stuck_lines = [ln for ln in out.splitlines() if ln.startswith("- Tiempos de espera:")]
    assert len(stuck_lines) == 2 and all("SIN MOVIMIENTO desde hace 16 días" in ln for ln in stuck_lines), out
    assert "SIN MOVIMIENTO desde hace 20 días" in lines["- Trámites y procedimientos"], out  # no ticket: since opened
    for calm in ("- Canales de contacto y digitales", "- Instalaciones y entorno"):
        assert "SIN MOVIMIENTO" not in lines[calm], out
    r = digest_cmd(smtp, agency, "daily", "--dry-run", env=env_for(smtp, ESCUCHA_STALE_AFTER="0"))
    assert r.returncode == 0 and "SIN MOVIMIENTO" not in r.stdout and "Recordatorio" not in r.stdout, r.stdout
    r = digest_cmd(smtp, agency, "daily", "--dry-run", "--stale-after", "2")
    assert r.returncode == 0 and "Recordatorio: 3 planes abiertos" in r.stdout, r.stdout
