"""Tamper-evident audit_log (close-the-loop issue, ISO 9001 7.5): a trigger
chains every row to the previous one (migrations/009_audit_chain.sql), whoever
inserts; `escucha-actions audit-verify` passes on an intact log and names the
first row that does not match after an UPDATE or a DELETE."""
import json
import os
import subprocess
import threading

import psycopg2

from conftest import API_PG_DSN, BIN, PG_DSN, REPO, sql, unique


def verify():
    p = subprocess.run([os.path.join(BIN, "escucha-actions"), "audit-verify"], capture_output=True, text=True,
                       env=dict(os.environ, ESCUCHA_PG_DSN=PG_DSN), cwd=REPO, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_chain_intact_under_concurrent_writers_and_tamper_named():
    tag = unique("audit")
    rc, out = verify()
    assert rc == 0, out

    # four writers at once, two of them as escucha-api's restricted role
    def writer(k, dsn):
        with psycopg2.connect(dsn) as c:
            for i in range(40):
                with c.cursor() as cur:
                    cur.execute("INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
                                "VALUES (%s, 'test', %s, 'written', %s)",
                                ("writer-%d" % k, "%s-%d-%d" % (tag, k, i), json.dumps({"i": i, "tag": tag})))
                c.commit()
    ts = [threading.Thread(target=writer, args=(k, API_PG_DSN if k % 2 else PG_DSN)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ids = [r[0] for r in sql("SELECT id FROM audit_log WHERE entity = 'test' AND detail->>'tag' = %s ORDER BY id",
                             (tag,))]
    assert len(ids) == 160
    rc, out = verify()
    assert rc == 0 and "intact" in out, out

    # an UPDATE of one row's content names that row; undone, the chain is whole again
    victim = ids[57]
    old = sql("SELECT detail::text FROM audit_log WHERE id = %s", (victim,))[0][0]
    sql("UPDATE audit_log SET detail = '{\"i\": 0}' WHERE id = %s", (victim,))
    rc, out = verify()
    assert rc == 1 and ("row id %d:" % victim) in out and "content" in out, out
    sql("UPDATE audit_log SET detail = %s::jsonb WHERE id = %s", (old, victim))
    assert verify()[0] == 0

    # a DELETE names the row after the gap; put back as it was (trigger off), whole again
    gone = ids[100]
    row = sql("SELECT id, at, actor, entity, entity_id, action, detail::text, prev_hash, hash FROM audit_log "
              "WHERE id = %s", (gone,))[0]
    sql("DELETE FROM audit_log WHERE id = %s", (gone,))
    rc, out = verify()
    assert rc == 1 and ("row id %d:" % ids[101]) in out and "link" in out, out
    sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain; "
        "INSERT INTO audit_log (id, at, actor, entity, entity_id, action, detail, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s); "
        "ALTER TABLE audit_log ENABLE TRIGGER audit_log_chain", row)
    rc, out = verify()
    assert rc == 0, out
