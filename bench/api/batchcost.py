#!/usr/bin/python3
"""bench/api batch cost: where escucha-prioritize's batch time goes on the bench database
(1M feedback rows). Each round sends, for every variant in turn, one COPY of ROWS fresh rows
shaped like the freshness load (agency 'demo', now, Spanish/English texts) inside a
transaction that first applies the variant's DDL (drop an index, the search column, ...) and
is then rolled back, so every variant sees the same table and index sizes. The GIN pending
list is not transactional: its growth and clean-ups are measured as they happen in service.
Prints per variant the median / p90 / max COPY ms and µs per row.
Since migration 016 the vector is no longer in feedback (the variants that drop or alter the
search column apply only to a database migrated up to 015 and are reported "n/a" on a newer
one); "fill_016" times, after the same COPY, the fill escucha-prioritize then runs on its
second connection (the rows' vectors into feedback_search): the work moved off the insert.
  batchcost.py DSN ROWS ROUNDS [variant ...]"""
import json
import sys
import time

import psycopg2

import rows

DSN, ROWS, ROUNDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
VARIANTS = {
    "current": [],  # the schema as migrated (016: no search column, seq + its index)
    "fill_016": [],  # the same COPY, then the search fill of those rows (timed apart)
    "fill_016_nofk": ["ALTER TABLE feedback_search DROP CONSTRAINT feedback_search_id_fkey"],  # the fill, no FK check
    "no_search_015": ["ALTER TABLE feedback DROP COLUMN search"],  # up to 015: only the search column gone
    "all": ["DROP INDEX IF EXISTS feedback_agency_time"],  # every index of migrations 001-014
    # migration 015: one (agency, received_at, id) INCLUDE (...) index for 001's, 002's and 003's
    "merged_015": ["DROP INDEX IF EXISTS feedback_agency_received", "DROP INDEX IF EXISTS feedback_agency_page",
                   "DROP INDEX IF EXISTS feedback_agency_received_sat"],
    "gin_fastupdate_off": ["DROP INDEX IF EXISTS feedback_agency_time", "ALTER INDEX feedback_search SET (fastupdate = off)"],
    "no_gin": ["DROP INDEX IF EXISTS feedback_agency_time", "DROP INDEX feedback_search"],
    "no_search_column": ["DROP INDEX IF EXISTS feedback_agency_time", "ALTER TABLE feedback DROP COLUMN search"],
    "pkey_only": ["DROP INDEX IF EXISTS feedback_agency_time", "ALTER TABLE feedback DROP COLUMN search", "DROP INDEX IF EXISTS feedback_agency_received",
                  "DROP INDEX feedback_agency_category", "DROP INDEX IF EXISTS feedback_agency_page",
                  "DROP INDEX feedback_open311", "DROP INDEX IF EXISTS feedback_review_queue",
                  "DROP INDEX IF EXISTS feedback_review_lines",
                  "DROP INDEX IF EXISTS feedback_agency_received_sat"],
}
names = sys.argv[4:] or list(VARIANTS)
MAKER = rows.Maker("01ZZBC")



db = psycopg2.connect(DSN)
cur = db.cursor()
cur.execute("SELECT to_regclass('feedback_search_mark') IS NOT NULL")
has_016 = cur.fetchone()[0]
db.rollback()
ms = {n: [] for n in names}
fill = {n: [] for n in names}
skipped = {}
for r in range(ROUNDS):
    for n in (names if r % 2 == 0 else names[::-1]):  # alternate order: drift hits all alike
        if n in skipped or (n.startswith("fill_016") and not has_016):
            skipped.setdefault(n, "needs migration 016")
            continue
        data = MAKER.batch(ROWS)
        try:
            for stmt in VARIANTS[n]:
                cur.execute(stmt)
        except psycopg2.Error as e:  # e.g. no search column any more (016)
            db.rollback()
            skipped[n] = str(e).strip().splitlines()[0]
            continue
        if n.startswith("fill_016"):
            cur.execute("SELECT coalesce(max(seq), 0) FROM feedback")
            top = cur.fetchone()[0]
        t0 = time.perf_counter()
        cur.copy_expert("COPY feedback (%s) FROM STDIN" % rows.COLS, data)
        ms[n].append((time.perf_counter() - t0) * 1000)
        if n.startswith("fill_016"):  # what services/prioritize/search.c then does, on its own connection
            t0 = time.perf_counter()
            cur.execute("INSERT INTO feedback_search (id, agency, received_at, language, search) SELECT id, agency,"
                        " received_at, language, feedback_search_vector(language, text) FROM feedback WHERE seq > %s",
                        (top,))
            fill[n].append((time.perf_counter() - t0) * 1000)
        db.rollback()
res = {}
for n in names:
    if n in skipped:
        res[n] = "n/a: " + skipped[n]
        continue
    v = sorted(ms[n])
    res[n] = {"p50_ms": round(v[len(v) // 2], 1), "p90_ms": round(v[int(len(v) * 0.9)], 1),
              "max_ms": round(v[-1], 1), "us_per_row_p50": round(v[len(v) // 2] * 1000 / ROWS)}
    if n.startswith("fill_016"):
        f = sorted(fill[n])
        res[n]["fill_p50_ms"] = round(f[len(f) // 2], 1)
        res[n]["fill_us_per_row_p50"] = round(f[len(f) // 2] * 1000 / ROWS)
print(json.dumps({"rows": ROWS, "rounds": ROUNDS, "variants": res}, indent=1))
