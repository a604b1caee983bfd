"""Did the action work? escucha-prioritize's effectiveness check on the real
stack (docs/prioritization.md, "Effectiveness"). Three closed plans are
planted with their daily counts before and after closure: a planted drop is
`effective`, no drop is `not_effective` and gets a follow-up plan that says
why, too little data is `inconclusive`. One classified message per topic,
well after the K days, makes prioritize rank the agency and check them."""
import datetime
import os
import subprocess


from conftest import BIN, PG_DSN, REPO, pb, sql, unique, wait_until
from test_prioritize_flow import classified, fresh_group, send, start_prioritize

DAY = 86400 * 1000
T0 = 1709510400000  # Monday 2024-03-04 00:00 UTC: the plans close on day 0
K = 7               # --effect-days for this test


def plant(agency, topic, plan_id, before, after, total=1000):
    """A closed plan and K daily windows on each side: `before`/`after` complaints (negative items of the
    topic) spread over the days, `total` feedback of the agency per side."""
    sql("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, request_id) VALUES "
        "(%s, %s, %s, 'closed', to_timestamp(%s / 1000.0) - interval '3 days', to_timestamp(%s / 1000.0) "
        "+ interval '15 hours', %s)", (plan_id, agency, topic, T0, T0, "req-" + plan_id))
    windows(agency, topic, before, after, total)


def windows(agency, topic, before, after, total=1000):
    for side, count, days in (("before", before, range(-K, 0)), ("after", after, range(1, K + 1))):
        for i, d in enumerate(days):
            neg = count // K + (1 if i < count % K else 0)
            ws = "to_timestamp(%d / 1000.0)" % (T0 + d * DAY)
            sql("INSERT INTO topic_window_stats (agency, topic, window_kind, window_start, total, negative) "
                "VALUES (%s, %s, 'day', " + ws + ", %s, %s)", (agency, topic, neg, neg))
            per_day = total // K + (1 if i < total % K else 0)
            sql("INSERT INTO topic_window_stats (agency, topic, window_kind, window_start, total) "
                "VALUES (%s, '*', 'day', " + ws + ", %s) ON CONFLICT (agency, topic, window_kind, window_start) "
                "DO UPDATE SET total = EXCLUDED.total", (agency, per_day))


def test_effective_not_effective_inconclusive(services):
    agency = unique("eff")
    plans = {"procedures": ("p-drop-" + agency, 60, 8), "staff_attention": ("p-flat-" + agency, 50, 55),
             "payments_fees": ("p-few-" + agency, 3, 1)}
    for topic, (pid, before, after) in plans.items():
        plant(agency, topic, pid, before, after)
    # one message per topic on day K + 3: prioritize ranks the agency and checks the plans
    at = T0 + (K + 3) * DAY + 3600 * 1000
    msgs = [classified("%s-%d" % (agency, i), agency, t, at + i, pb.NEGATIVE) for i, t in enumerate(plans)]
    group = fresh_group()
    send(msgs, agency)
    start_prioritize(services, group, ESCUCHA_EFFECT_DAYS=str(K))
    wait_until(lambda: sql("SELECT count(*) FROM action_effects WHERE agency = %s", (agency,))[0][0] == 3, 90,
               interval=0.2, what="three effects checked")
    got = {r[0]: r[1:] for r in sql(
        "SELECT topic, verdict, before_complaints, before_total, after_complaints, after_total, rate_ratio, "
        "ci_low, ci_high, followup_plan FROM action_effects WHERE agency = %s", (agency,))}
    assert got["procedures"][0] == "effective"
    assert got["procedures"][1:5] == (60, 1000, 8, 1000)
    assert got["procedures"][7] < 1 and abs(got["procedures"][5] - 8 / 60) < 1e-9  # ci_high below 1
    assert got["staff_attention"][0] == "not_effective" and got["staff_attention"][6] <= 1 <= got["staff_attention"][7]
    assert got["payments_fees"][0] == "inconclusive"
    assert got["procedures"][8] is None and got["payments_fees"][8] is None
    # the plan that did not work is followed by a new one for its topic, which says why
    follow = got["staff_attention"][8]
    wait_until(lambda: sql("SELECT count(*) FROM action_plans WHERE id = %s", (follow,)), 10, what="follow-up")
    row = sql("SELECT topic, status, follows_plan, priority->>'explanation_es', priority->>'explanation_en' "
              "FROM action_plans WHERE id = %s", (follow,))[0]
    assert row[:3] == ("staff_attention", "open", plans["staff_attention"][0])
    assert "no redujo las quejas" in row[3] and plans["staff_attention"][0] in row[3]
    assert "did not reduce complaints" in row[4]
    effects = {r[0]: r[1] for r in sql("SELECT id, effect FROM action_plans WHERE agency = %s AND status = "
                                       "'closed'", (agency,))}
    assert effects == {plans["procedures"][0]: "effective", plans["staff_attention"][0]: "not_effective",
                       plans["payments_fees"][0]: "inconclusive"}
    audit = sql("SELECT count(*) FROM audit_log WHERE entity = 'action_plan' AND action = 'effect_checked' "
                "AND entity_id = ANY(%s)", ([p[0] for p in plans.values()],))[0][0]
    assert audit == 3


def record(*args):
    p = subprocess.run([os.path.join(BIN, "escucha-actions"), "record-plan"] + list(args), capture_output=True,
                       text=True, env=dict(os.environ, ESCUCHA_PG_DSN=PG_DSN), cwd=REPO, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_recorded_plan_is_checked_on_history(services):
    """An action the agency took before Escucha (escucha-actions record-plan) becomes a closed plan with its
    closure, audited, checked like any other on the history around it, and recorded once however often the
    command runs; bad records are refused naming the option."""
    agency = unique("rec")
    day = datetime.datetime.fromtimestamp(T0 / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")
    args = ["--agency", agency, "--topic", "procedures", "--opened", "2024-02-19", "--closed", day,
            "--note", "Ventanilla extra los lunes", "--closure", "resolved", "--by", "jefa-oirs"]
    rc, out = record(*args)
    assert rc == 0 and out.startswith("recorded plan "), out
    pid = out.split()[2]
    rc, again = record(*args)
    assert rc == 0 and again.startswith("already recorded as plan %s " % pid), again
    assert sql("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,))[0][0] == 1
    row = sql("SELECT topic, status, kind, summary, opened_at::date::text, closed_at::date::text, "
              "request_sent_at IS NOT NULL FROM action_plans WHERE id = %s", (pid,))[0]
    assert row == ("procedures", "closed", "plan", "Ventanilla extra los lunes", "2024-02-19", day, True)
    assert sql("SELECT tool, status, closure, detail->>'recorded_by' FROM actions WHERE plan_id = %s", (pid,)) == [
        ("recorded", "done", "resolved", "jefa-oirs")]
    assert sql("SELECT actor, action, detail->>'closure' FROM audit_log WHERE entity = 'action_plan' AND "
               "entity_id = %s", (pid,)) == [("jefa-oirs", "record", "resolved")]
    # refused, naming what is wrong; nothing written
    for bad, want in ((["--topic", "no_such_topic"], "--topic"), (["--closed", "2024-02-30"], "--closed"),
                      (["--opened", "2024-03-05"], "--opened must not be after --closed"),
                      (["--closed", "2999-01-01", "--opened", "2998-01-01"], "in the future"),
                      (["--closure", "not_fixed"], "--closure-note"), (["--note", ""], "--note"),
                      (["--closure", "fixed"], "closure")):
        a = list(args)
        for i in range(0, len(bad), 2):
            a[a.index(bad[i]) + 1] = bad[i + 1]
        rc, out = record(*a)
        assert rc == 2 and want in out, (bad, rc, out)
    assert sql("SELECT count(*) FROM action_plans WHERE agency = %s", (agency,))[0][0] == 1
    # the history around it: a drop after the day it closed -> effective
    windows(agency, "procedures", 70, 10)
    at = T0 + (K + 3) * DAY + 3600 * 1000
    group = fresh_group()  # before the send: the group starts at the topic's end
    send([classified(agency + "-0", agency, "procedures", at, pb.NEGATIVE)], agency)
    start_prioritize(services, group, ESCUCHA_EFFECT_DAYS=str(K))
    wait_until(lambda: sql("SELECT verdict FROM action_effects WHERE plan_id = %s", (pid,)), 90, interval=0.2,
               what="the recorded plan checked")
    got = sql("SELECT verdict, before_complaints, after_complaints FROM action_effects WHERE plan_id = %s", (pid,))
    assert got == [("effective", 70, 10)]
