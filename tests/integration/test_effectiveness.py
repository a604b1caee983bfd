"""Did the action work? escucha-prioritize's effectiveness check on the real
stack (docs/prioritization.md, "Effectiveness"). Three closed plans are
planted with their daily counts before and after closure: a planted drop is
`effective`, no drop is `not_effective` and gets a follow-up plan that says
why, too little data is `inconclusive`. One classified message per topic,
well after the K days, makes prioritize rank the agency and check them."""
import psycopg2

from conftest import PG_DSN, pb, unique, wait_until
from test_prioritize_flow import classified, fresh_group, send, start_prioritize

DAY = 86400 * 1000
T0 = 1709510400000  # Monday 2024-03-04 00:00 UTC: the plans close on day 0
K = 7               # --effect-days for this test


def sql(query, args=None):
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def plant(agency, topic, plan_id, before, after, total=1000):
    """A closed plan and K daily windows on each side: `before`/`after` complaints (negative items of the
    topic) spread over the days, `total` feedback of the agency per side."""
    sql("INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, request_id) VALUES "
        "(%s, %s, %s, 'closed', to_timestamp(%s / 1000.0) - interval '3 days', to_timestamp(%s / 1000.0) "
        "+ interval '15 hours', %s)", (plan_id, agency, topic, T0, T0, "req-" + plan_id))
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
