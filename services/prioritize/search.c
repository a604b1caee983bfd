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
  uint64_t cand_ns, retry_ns, sent_ns;
};

/* $1 mark, $2 rows. One statement, one round trip: persist the mark, fill the
 * rows above it still without a vector, and observe what the next mark may
 * become: the sequence's last value and the snapshot's oldest running xid
 * (xmin) and first unassigned one (xmax). */
static const char SQL_FILL[] =
    "WITH m AS (UPDATE feedback_search_mark SET seq = $1::bigint WHERE seq < $1::bigint),"
    " todo AS (SELECT f.id, f.agency, f.received_at, f.language, f.text FROM feedback f WHERE f.seq > $1::bigint"
    "  AND NOT EXISTS (SELECT 1 FROM feedback_search s WHERE s.id = f.id) ORDER BY f.seq LIMIT $2::int),"
    " ins AS (INSERT INTO feedback_search (id, agency, received_at, language, search)"
    "  SELECT id, agency, received_at, language, feedback_search_vector(language, text) FROM todo"
    "  ON CONFLICT (id) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM ins),"
    " coalesce(pg_sequence_last_value(pg_get_serial_sequence('feedback', 'seq')::regclass), 0),"
    " pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint";

pz_search *pz_search_new(const char *dsn, long rows) {
  pz_search *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dsn = es_strdup(dsn);
  s->rows = rows < 1 ? 1 : rows;
  s->mark = -1;
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

static int send_fill(pz_search *s) {
  if (!s->c && connect_fill(s) != 0) return -1;
  char mark[24], rows[24];
  snprintf(mark, sizeof mark, "%lld", (long long)(s->mark < 0 ? 0 : s->mark));
  snprintf(rows, sizeof rows, "%ld", s->rows);
  const char *p[] = {mark, rows};
  if (!PQsendQueryParams(s->c, SQL_FILL, 2, NULL, p, NULL, NULL, 0)) {
    drop(s, "send");
    return -1;
  }
  s->busy = 1;
  s->sent_ns = es_mono_ns();
  return 0;
}

/* The finished fill's result: vectors committed, or -1. */
static long finish(pz_search *s) {
  PGresult *r, *last = NULL;
  int failed = 0;
  while ((r = PQgetResult(s->c)) != NULL) {
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      failed = 1;
      es_warn("search_fill_failed", "fill: %s", PQresultErrorMessage(r));
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
  int64_t seq = strtoll(PQgetvalue(last, 0, 2), NULL, 10);
  int64_t xmin = strtoll(PQgetvalue(last, 0, 3), NULL, 10), xmax = strtoll(PQgetvalue(last, 0, 4), NULL, 10);
  PQclear(last);
  uint64_t now = es_mono_ns();
  int full = todo >= s->rows;
  s->want = full;
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
