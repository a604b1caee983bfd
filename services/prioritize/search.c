/* Search fill (search.h): one asynchronous statement at a time on its own
 * connection. */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

/* A candidate mark is used only this long after it was observed: a writer
 * that draws a seq before its transaction has an xid (prioritize takes the
 * xid first; a psql INSERT need not) has long since got one by then. */
#define SETTLE_NS 2000000000ULL
#define RETRY_NS 1000000000ULL /* between connection attempts */
#define IDLE_NS 1000000000ULL  /* a fill at least this often: rows of other writers */
#define SETTLE_POLL_NS 250000000ULL

struct pz_search {
  char *dsn;
  PGconn *c;
  long rows;
  int busy;     /* a fill is in flight */
  int want;     /* fill at the next step: a commit, a failure, or the last fill stopped at rows */
  int64_t mark; /* every row with seq <= mark has its vector; -1 unknown */
  int have_obs; /* obs_seq: the sequence's value a fill read, waiting for a later snapshot's xmax */
  int64_t obs_seq;
  int have_cand; /* cand_*: the pair that becomes the mark once settled */
  int64_t cand_seq;
  int64_t cand_xmax;
  /* hi, hi_xmin: every row with seq <= hi still without a vector was inserted
   * by a transaction with an xid at or after hi_xmin (it was not visible to an
   * earlier fill whose snapshot's xmin that was), so the recheck of the rows
   * between the mark and hi probes only those; rows above hi are new to the
   * fills and are not probed at all. hi < 0: unknown, probe every row. */
  int64_t hi, hi_xmin, sent_hi, sent_hi_xmin;
  uint64_t cand_ns, retry_ns, sent_ns;
};

/* One round trip, one transaction of two statements. The first updates the
 * mark's row (persisting the mark) and holds it to the commit: a delete of
 * feedback locks that row before it deletes the vectors (migration 018), so it
 * waits for this fill and sees its vectors, and a fill after a delete waits for
 * the delete's commit before the second statement takes its snapshot. The
 * second fills the rows above the mark still without a vector, at most rows:
 * those above hi without looking (a rare one already filled by another
 * instance is skipped by ON CONFLICT), those between the mark and hi only when
 * their xmin is not older than hi_xmin, and then with a primary-key probe; and
 * it observes what the next mark may become: the sequence's last value and
 * the snapshot's oldest running xid (xmin) and first unassigned one (xmax).
 * Format arguments: mark, mark, which rows above it, rows. */
static const char SQL_FILL[] =
    "UPDATE feedback_search_mark SET seq = greatest(seq, %lld);"
    "WITH todo AS (SELECT f.seq, f.id, f.agency, f.received_at, f.language, f.text FROM feedback f"
    "  WHERE f.seq > %lld AND (%s)"
    "  ORDER BY f.seq LIMIT %ld),"
    " ins AS (INSERT INTO feedback_search (id, agency, received_at, language, search)"
    "  SELECT id, agency, received_at, language, feedback_search_vector(language, text) FROM todo"
    "  ON CONFLICT (id) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM ins), (SELECT coalesce(max(seq), 0) FROM todo),"
    " coalesce(pg_sequence_last_value(pg_get_serial_sequence('feedback', 'seq')::regclass), 0),"
    " pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint";

pz_search *pz_search_new(const char *dsn, long rows) {
  pz_search *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dsn = es_strdup(dsn);
  s->rows = rows < 1 ? 1 : rows;
  s->mark = -1;
  s->hi = -1;
  s->want = 1; /* catch up on start */
  if (!s->dsn) {
    free(s);
    return NULL;
  }
  return s;
}

static void drop(pz_search *s, const char *what) {
  es_warn("search_fill_failed", "%s: %s", what, s->c ? PQerrorMessage(s->c) : "no connection");
  if (s->c) PQfinish(s->c);
  s->c = NULL;
  s->busy = 0;
  s->want = 1;
  s->hi = -1; /* a fill may have committed unseen: probe every row again */
  s->retry_ns = es_mono_ns() + RETRY_NS;
}

static void on_notice(void *arg, const char *msg) {
  (void)arg;
  es_debug("pg_notice", "%s", msg);
}

static int connect_fill(pz_search *s) {
  char err[512];
  if (es_mono_ns() < s->retry_ns) return -1;
  s->c = es_pg_connect(s->dsn, err, sizeof err);
  if (!s->c) {
    es_warn("search_fill_failed", "connect: %s", err);
    s->retry_ns = es_mono_ns() + RETRY_NS;
    return -1;
  }
  PQsetNoticeProcessor(s->c, on_notice, NULL);
  /* Asynchronous commit is safe here: a fill's commit record follows the
   * records of the fills its mark relies on in the WAL, so a crash that loses
   * vectors loses the mark that passed them too, and they are filled again. */
  if (es_pg_exec(s->c, "SET synchronous_commit = off") != 0) {
    drop(s, "session");
    return -1;
  }
  PGresult *r = PQexec(s->c, "SELECT seq FROM feedback_search_mark");
  int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  if (ok) {
    int64_t m = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (m > s->mark) s->mark = m;
  }
  PQclear(r);
  if (!ok) {
    drop(s, "mark");
    return -1;
  }
  return 0;
}

#define PROBE "NOT EXISTS (SELECT 1 FROM feedback_search s WHERE s.id = f.id)"

static int send_fill(pz_search *s) {
  if (!s->c && connect_fill(s) != 0) return -1;
  long long mark = s->mark < 0 ? 0 : s->mark;
  /* A row's xmin is 32 bits: age() counts back from this transaction's xid,
   * so the smaller age is the later xid (hi_xmin is recent: no wraparound). */
  char which[256] = PROBE;
  if (s->hi >= 0)
    snprintf(which, sizeof which, "f.seq > %lld OR (age(f.xmin) <= age('%lld'::xid) AND " PROBE ")", (long long)s->hi,
             (long long)(s->hi_xmin & 0xffffffffLL));
  char sql[sizeof SQL_FILL + sizeof which + 64];
  snprintf(sql, sizeof sql, SQL_FILL, mark, mark, which, s->rows);
  if (!PQsendQuery(s->c, sql)) {
    drop(s, "send");
    return -1;
  }
  s->sent_hi = s->hi, s->sent_hi_xmin = s->hi_xmin;
  s->busy = 1;
  s->sent_ns = es_mono_ns();
  return 0;
}

/* The finished fill's result: vectors committed, or -1. */
static long finish(pz_search *s) {
  PGresult *r, *last = NULL;
  int failed = 0;
  while ((r = PQgetResult(s->c)) != NULL) { /* the mark's UPDATE, then the fill's rows */
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      failed = 1;
      es_warn("search_fill_failed", "fill: %s", PQresultErrorMessage(r));
    }
    if (st != PGRES_TUPLES_OK) {
      PQclear(r);
      continue;
    }
    PQclear(last);
    last = r;
  }
  s->busy = 0;
  if (failed || !last || PQntuples(last) != 1) {
    PQclear(last);
    if (PQstatus(s->c) != CONNECTION_OK) drop(s, "fill");
    else s->want = 1, s->retry_ns = es_mono_ns() + RETRY_NS; /* not at once: it may fail again */
    return -1;
  }
  long todo = strtol(PQgetvalue(last, 0, 0), NULL, 10), filled = strtol(PQgetvalue(last, 0, 1), NULL, 10);
  int64_t top = strtoll(PQgetvalue(last, 0, 2), NULL, 10), seq = strtoll(PQgetvalue(last, 0, 3), NULL, 10);
  int64_t xmin = strtoll(PQgetvalue(last, 0, 4), NULL, 10), xmax = strtoll(PQgetvalue(last, 0, 5), NULL, 10);
  PQclear(last);
  uint64_t now = es_mono_ns();
  int full = todo >= s->rows;
  s->want = full;
  /* What hi may say now. A row this fill's snapshot saw has its vector if it
   * was a candidate: a row without one up to what it covered was invisible to
   * it, so inserted by a transaction running at its snapshot or later, whose
   * xid is at or after the snapshot's xmin. Stopped at rows, it covered up to
   * the last seq it took; the rows it did not reach keep the older bound. */
  if (!full) {
    s->hi = seq > s->sent_hi ? seq : s->sent_hi;
    s->hi_xmin = xmin;
  } else if (s->sent_hi < 0) {
    s->hi = top, s->hi_xmin = xmin;
  } else {
    s->hi = top > s->sent_hi ? top : s->sent_hi;
    s->hi_xmin = s->sent_hi_xmin;
  }
  /* The candidate's seq becomes the mark when this fill saw every row above
   * the mark (it did not stop at rows) and every transaction that could hold
   * a seq up to the candidate's had ended before this fill's snapshot: each
   * of them had an xid below the candidate's xmax, and xmin has passed it. */
  if (s->have_cand && !full && xmin >= s->cand_xmax && now - s->cand_ns >= SETTLE_NS) {
    if (s->cand_seq > s->mark) s->mark = s->cand_seq;
    s->have_cand = 0;
  }
  /* A statement reads the sequence after its snapshot is taken, so the value
   * read by the previous fill pairs with this fill's xmax: a writer that drew
   * a seq up to it had its xid (prioritize takes it first) before this
   * snapshot, hence below its xmax. */
  if (!s->have_cand && s->have_obs && s->obs_seq > s->mark) {
    s->have_cand = 1;
    s->cand_seq = s->obs_seq, s->cand_xmax = xmax, s->cand_ns = now;
  }
  s->have_obs = 1;
  s->obs_seq = seq;
  return filled;
}

long pz_search_step(pz_search *s, int poke) {
  long n = 0;
  if (poke) s->want = 1;
  if (s->busy) {
    if (!PQconsumeInput(s->c)) {
      drop(s, "read");
      return -1;
    }
    if (PQisBusy(s->c)) return 0;
    n = finish(s);
    if (!s->c) return -1;
  }
  uint64_t now = es_mono_ns();
  if (now < s->retry_ns) return n;
  /* After a commit or while behind at once; while a candidate settles a few
   * times a second; otherwise now and then (rows of other writers). */
  int settling = s->have_cand || (s->have_obs && s->obs_seq > s->mark);
  if (s->want || now - s->sent_ns >= (settling ? SETTLE_POLL_NS : IDLE_NS))
    if (send_fill(s) != 0) return -1;
  return n;
}

long pz_search_wait(pz_search *s) {
  if (!s->busy) return 0;
  return finish(s);
}

int64_t pz_search_mark(const pz_search *s) { return s->mark; }

void pz_search_free(pz_search *s) {
  if (!s) return;
  if (s->busy) (void)finish(s);
  if (s->c) PQfinish(s->c);
  free(s->dsn);
  free(s);
}
