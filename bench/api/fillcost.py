#!/usr/bin/python3
"""bench/api fill cost: PostgreSQL's time per row for escucha-prioritize's search fill
(services/prioritize/search.c) on the bench database (1M feedback rows), as the service runs
it in steady state: LAG rows above the mark already have their vectors (the mark trails the
fills by 2 s or more: ~4,000 rows at 2,000/s) and ROWS new rows were just committed. Each
round commits ROWS fresh rows (agency 'demo', like the freshness load; bench/api/run.sh
deletes them) for each variant in turn, then times that variant's fill in its own
transaction, which commits (the next rounds see those vectors, as the service's fills do);
variants alternate order between rounds. Prints per variant the median / p90 fill ms and
µs per new row.
  fillcost.py DSN ROWS ROUNDS [LAG]
Variants:
  fk_016      016's fill with 016's foreign key (added NOT VALID for the timed transaction and
              dropped before its commit): every row above the mark probed, a key check per row
  nofk_016    the same statement without the key (018 drops it)
  018         018's fill: the mark's row updated first, rows above hi taken without a probe,
              rows between the mark and hi probed only when their xmin is not older than the
              previous fill's snapshot xmin; here hi is the sequence after the new rows'
              COPY (so they are all probed, as when a batch commits while a fill is out)
  floor       the new rows' vectors alone (no recheck, no key, no mark): what any fill must do"""
import json
import sys
import time

import psycopg2

import rows

DSN, ROWS, ROUNDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LAG = int(sys.argv[4]) if len(sys.argv) > 4 else 4000
PROBE = "NOT EXISTS (SELECT 1 FROM feedback_search s WHERE s.id = f.id)"
INS = (" ins AS (INSERT INTO feedback_search (id, agency, received_at, language, search)"
       "  SELECT id, agency, received_at, language, feedback_search_vector(language, text) FROM todo"
       "  ON CONFLICT (id) DO NOTHING RETURNING 1)")
# 016's statement (search.c before 018), without its mark update and observations.
OLD = ("WITH todo AS (SELECT f.id, f.agency, f.received_at, f.language, f.text FROM feedback f"
       " WHERE f.seq > %(mark)s AND " + PROBE + " ORDER BY f.seq LIMIT 5000)," + INS +
       " SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM ins)")
# 018's pair, as search.c sends it.
NEW_MARK = "UPDATE feedback_search_mark SET seq = greatest(seq, %(mark)s)"
NEW = ("WITH todo AS (SELECT f.seq, f.id, f.agency, f.received_at, f.language, f.text FROM feedback f"
       " WHERE f.seq > %(mark)s AND (f.seq > %(hi)s OR (age(f.xmin) <= age(%(hx)s::text::xid) AND " + PROBE + "))"
       " ORDER BY f.seq LIMIT 5000)," + INS +
       " SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM ins)")
FLOOR = ("INSERT INTO feedback_search (id, agency, received_at, language, search) SELECT id, agency, received_at,"
         " language, feedback_search_vector(language, text) FROM feedback WHERE seq > %(new)s")
FK = ("ALTER TABLE feedback_search ADD CONSTRAINT fillcost_fk FOREIGN KEY (id) REFERENCES feedback (id)"
      " ON DELETE CASCADE NOT VALID")
MAKER = rows.Maker("01ZZFC")



db = psycopg2.connect(DSN)
cur = db.cursor()
cur.execute("SET synchronous_commit = off")  # as the service's fill connection
cur.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'feedback_search_id_fkey'")
if cur.fetchone()[0]:
    sys.exit("fillcost.py: needs migration 018 (feedback_search without its foreign key)")
db.commit()


def one(name):
    cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    xmin = cur.fetchone()[0]
    db.commit()
    cur.copy_expert("COPY feedback (%s) FROM STDIN" % rows.COLS, MAKER.batch(ROWS))
    db.commit()
    cur.execute("SELECT max(seq) FROM feedback")
    top = cur.fetchone()[0]
    db.commit()
    p = {"mark": top - ROWS - LAG, "hi": top, "hx": str(xmin & 0xffffffff), "new": top - ROWS}
    if name == "fk_016":
        cur.execute(FK)
    t0 = time.perf_counter()
    if name == "018":
        cur.execute(NEW_MARK, p)
        cur.execute(NEW, p)
    elif name == "floor":
        cur.execute(FLOOR, p)
        cur.execute("SELECT %s, %s", (ROWS, cur.rowcount))
    else:
        cur.execute(OLD, p)
    todo, filled = cur.fetchone()
    el = time.perf_counter() - t0  # the commit apart: 016's variant drops its key first
    if name == "fk_016":
        cur.execute("ALTER TABLE feedback_search DROP CONSTRAINT fillcost_fk")
    db.commit()
    if filled != ROWS:
        sys.exit("fillcost.py: %s filled %d of %d new rows (todo %d)" % (name, filled, ROWS, todo))
    return el * 1000


names = ["fk_016", "nofk_016", "018", "floor"]
# Warm up and leave LAG rows with vectors above any mark of the first round.
for _ in range(max(1, LAG // ROWS + 1)):
    one("018")
ms = {n: [] for n in names}
for r in range(ROUNDS):
    for n in (names if r % 2 == 0 else names[::-1]):
        ms[n].append(one(n))
res = {}
for n in names:
    v = sorted(ms[n])
    res[n] = {"p50_ms": round(v[len(v) // 2], 1), "p90_ms": round(v[int(len(v) * 0.9)], 1),
              "us_per_row_p50": round(v[len(v) // 2] * 1000 / ROWS)}
print(json.dumps({"rows": ROWS, "lag": LAG, "rounds": ROUNDS, "variants": res}, indent=1))
