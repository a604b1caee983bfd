/* Search fill (search.h): one asynchronous statement at a time on its own
 * connection. */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "util.h"

/* A candidate mark is used only this long after it was observed: a writer
 * that draws a seq before its transaction has an xid (prioritize takes the
 * xid first; a psql INSERT need not) has long since got one by then. */
#define SETTLE_NS 2000000000ULL
#define RETRY_NS 1000000000ULL /* between connection attempts */
#define IDLE_NS 1000000000ULL  /* a fill at least this often: rows of other writers */
#define SETTLE_POLL_NS 250000000ULL
/* One fill in this many with the service's vectors has the database make
 * them too and compares (the first one after connecting always does). */
#define VERIFY_EVERY 64

struct pz_search {
  char *dsn;
  PGconn *c;
  long rows;
  int busy;        /* a fill is in flight */
  int want;        /* fill at the next step: a commit, a failure, or the last fill stopped at rows */
  int full;        /* the last fill stopped at rows: behind, the next one goes at once */
  uint64_t gap_ns; /* between fills' sends at least this long, unless the last one stopped at rows */
  int64_t mark;    /* every row with seq <= mark has its vector; -1 unknown */
  int have_obs;    /* obs_seq: the sequence's value a fill read, waiting for a later snapshot's xmax */
  int64_t obs_seq;
  int have_cand; /* cand_*: the pair that becomes the mark once settled */
  int64_t cand_seq;
  int64_t cand_xmax;
  /* hi, hi_xmin: every row with seq <= hi still without a vector was inserted
   * by a transaction with an xid at or after hi_xmin (it was not visible to an
   * earlier fill whose snapshot's xmin that was), so the recheck of the rows
   * between the mark and hi probes only those; rows above hi are new to the
   * fills and are not probed at all. hi < 0: unknown, probe every row.
   * lo <= hi, lo_xmin >= hi_xmin: the same with a later bound for the rows up
   * to lo, which a fill that stopped at rows covered: behind a backlog every
   * fill stops at rows, the mark cannot move, and without it each fill probed
   * again all the rows the fills before it had filled. */
  int64_t hi, hi_xmin, sent_hi, sent_hi_xmin, lo, lo_xmin, sent_lo, sent_lo_xmin;
  uint64_t cand_ns, retry_ns, sent_ns;
  /* Vectors the service made (vector.h) for rows it committed, oldest first
   * (its rows' seq order): the bodies of two binary arrays, ids (text) and
   * vectors (tsvector), each after ARRAY_HEAD bytes its header takes; end[i]
   * where entry i ends in each. A fill sends the oldest rows of them and
   * says how far its rows reached; those are dropped, the rest wait for the
   * fills that reach their rows (a fill behind the writer does not waste them). */
  es_buf ids, vecs;
  struct given_end {
    size_t id, vec;
  } * end;
  long ngiven, sent;
  /* The fill in flight, read as its results come (a pipeline: the mark's
   * UPDATE, the fill, the sync) */
  PGresult *last;
  int failed;
  int use_given;               /* 0 once a verifying fill found one that differs */
  int verifying;               /* the fill in flight compares instead of using them */
  long fills_given;            /* fills sent with vectors, for VERIFY_EVERY */
  long used, verified, differ; /* vectors used, compared, found different, since the last take */
};

/* One round trip, one transaction of two statements (a pipeline up to its
 * sync is one implicit transaction). The first updates the
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
 * given: the service's vectors (pz_search_give), binary parameters, for the
 * rows they are for (the last column: how far into them its rows reached);
 * a row without one, or every row of a verifying fill, gets the database's.
 * Parameters: mark; ids, vectors, mark. Format
 * arguments: which rows above the mark, rows, the vector expression, the
 * count of given vectors that differ. */
static const char SQL_MARK[] = "UPDATE feedback_search_mark SET seq = greatest(seq, $1::bigint)";
static const char SQL_FILL[] =
    "WITH given AS (SELECT g.id, g.v, g.k FROM unnest($1::text[], $2::tsvector[]) WITH ORDINALITY AS g(id, v, k)),"
    " todo AS (SELECT f.seq, f.id, f.agency, f.received_at, f.language, f.text FROM feedback f"
    "  WHERE f.seq > $3::bigint AND (%s)"
    "  ORDER BY f.seq LIMIT %ld),"
    " ins AS (INSERT INTO feedback_search (id, agency, received_at, language, search)"
    "  SELECT t.id, t.agency, t.received_at, t.language, %s FROM todo t LEFT JOIN given g ON g.id = t.id"
    "  ON CONFLICT (id) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM ins), (SELECT coalesce(max(seq), 0) FROM todo),"
    " coalesce(pg_sequence_last_value(pg_get_serial_sequence('feedback', 'seq')::regclass), 0),"
    " pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
    " (SELECT count(*) FROM todo t JOIN given g ON g.id = t.id), %s,"
    " (SELECT coalesce(max(g.k), 0) FROM todo t JOIN given g ON g.id = t.id)";
#define VEC_GIVEN "coalesce(g.v, feedback_search_vector(t.language, t.text))"
#define VEC_DB "feedback_search_vector(t.language, t.text)"
#define DIFFER "(SELECT count(*) FROM todo t JOIN given g ON g.id = t.id WHERE g.v <> " VEC_DB ")"

pz_search *pz_search_new(const char *dsn, long rows) {
  pz_search *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dsn = es_strdup(dsn);
  s->rows = rows < 1 ? 1 : rows;
  s->mark = -1;
  s->hi = -1;
  s->lo = -1;
  s->want = 1; /* catch up on start */
  s->full = 1;
  s->use_given = 1;
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
  PQclear(s->last);
  s->last = NULL;
  s->busy = 0;
  s->want = 1;
  s->hi = s->lo = -1; /* a fill may have committed unseen: probe every row again */
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
  /* its own name in pg_stat_activity: the fill's cost apart from the writer's.
   * No JIT: a fill behind a burst is costed high enough for PostgreSQL to
   * compile it with LLVM on every execution (18 % of the fill backend's CPU in
   * a perf profile of a burst), for a statement that runs once. */
  if (es_pg_exec(s->c,
                 "SET synchronous_commit = off; SET jit = off;"
                 " SET application_name = 'escucha-prioritize-fill'") != 0) {
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

/* array_recv's header: one dimension, no NULLs, the element type, the
 * length, lower bound 1 */
#define ARRAY_HEAD 20
#define TEXTOID 25
#define TSVECTOROID 3614

/* b's first bytes, up to upto, as a binary array of its first n elements of
 * type oid (b starts with ARRAY_HEAD bytes for the header); *len its length. */
static const char *array_value(es_buf *b, long n, size_t upto, uint32_t oid, int *len) {
  static unsigned char empty[2][12];
  if (n == 0) { /* no dimensions */
    unsigned char *e = empty[oid == TSVECTOROID];
    es_pg_be32(e, 0), es_pg_be32(e + 4, 0), es_pg_be32(e + 8, oid);
    *len = 12;
    return (const char *)e;
  }
  unsigned char *h = (unsigned char *)b->data;
  es_pg_be32(h, 1), es_pg_be32(h + 4, 0), es_pg_be32(h + 8, oid), es_pg_be32(h + 12, (uint32_t)n),
      es_pg_be32(h + 16, 1);
  *len = (int)upto;
  return b->data;
}

static int send_fill(pz_search *s) {
  if (!s->c && connect_fill(s) != 0) return -1;
  char mark[24];
  snprintf(mark, sizeof mark, "%lld", (long long)(s->mark < 0 ? 0 : s->mark));
  /* A row's xmin is 32 bits: age() counts back from this transaction's xid,
   * so the smaller age is the later xid (hi_xmin is recent: no wraparound). */
  char which[512] = PROBE;
  if (s->hi >= 0 && s->lo >= 0 && s->lo_xmin != s->hi_xmin)
    snprintf(which, sizeof which,
             "f.seq > %lld OR (age(f.xmin) <= age('%lld'::xid) AND " PROBE
             ")"
             " OR (f.seq > %lld AND age(f.xmin) <= age('%lld'::xid) AND " PROBE ")",
             (long long)s->hi, (long long)(s->lo_xmin & 0xffffffffLL), (long long)s->lo,
             (long long)(s->hi_xmin & 0xffffffffLL));
  else if (s->hi >= 0)
    snprintf(which, sizeof which, "f.seq > %lld OR (age(f.xmin) <= age('%lld'::xid) AND " PROBE ")", (long long)s->hi,
             (long long)(s->hi_xmin & 0xffffffffLL));
  char sql[sizeof SQL_FILL + sizeof which + sizeof VEC_GIVEN + sizeof DIFFER + 64];
  long n = s->ngiven < s->rows ? s->ngiven : s->rows; /* the oldest: the rows this fill may reach */
  s->verifying = n > 0 && s->fills_given++ % VERIFY_EVERY == 0;
  snprintf(sql, sizeof sql, SQL_FILL, which, s->rows, s->verifying ? VEC_DB : VEC_GIVEN, s->verifying ? DIFFER : "0");
  int lens[3], fmts[3] = {1, 1, 0};
  const char *vals[3];
  vals[0] = array_value(&s->ids, n, n ? s->end[n - 1].id : 0, TEXTOID, &lens[0]);
  vals[1] = array_value(&s->vecs, n, n ? s->end[n - 1].vec : 0, TSVECTOROID, &lens[1]);
  vals[2] = mark, lens[2] = 0;
  const char *mv[1] = {mark};
  int ok = PQenterPipelineMode(s->c) && PQsendQueryParams(s->c, SQL_MARK, 1, NULL, mv, NULL, NULL, 0) &&
           PQsendQueryParams(s->c, sql, 3, NULL, vals, lens, fmts, 0) && PQpipelineSync(s->c);
  s->sent = n;
  if (!ok) {
    drop(s, "send");
    return -1;
  }
  s->sent_hi = s->hi, s->sent_hi_xmin = s->hi_xmin;
  s->sent_lo = s->lo, s->sent_lo_xmin = s->lo_xmin;
  s->busy = 1;
  s->failed = 0;
  s->sent_ns = es_mono_ns();
  return 0;
}

/* At most this many rows' vectors wait: a fill far behind the writer gets
 * the database's for the rows after them. */
#define GIVEN_MAX(s) (4 * (s)->rows)

int pz_search_give(pz_search *s, const char *id, const char *vec, size_t len) {
  if (!s->use_given || s->ngiven >= GIVEN_MAX(s)) return 0; /* the database makes it */
  size_t n = strlen(id);
  unsigned char l[4];
  if (!s->end) {
    s->end = malloc((size_t)GIVEN_MAX(s) * sizeof *s->end);
    if (!s->end) return -1;
  }
  if (s->ngiven == 0) {
    if (es_buf_reserve(&s->ids, ARRAY_HEAD) != 0 || es_buf_reserve(&s->vecs, ARRAY_HEAD) != 0) return -1;
    s->ids.len = s->vecs.len = ARRAY_HEAD;
  }
  size_t at_ids = s->ids.len, at_vecs = s->vecs.len;
  es_pg_be32(l, (uint32_t)n);
  if (es_buf_append(&s->ids, l, 4) == 0 && es_buf_append(&s->ids, id, n) == 0) {
    es_pg_be32(l, (uint32_t)len);
    if (es_buf_append(&s->vecs, l, 4) == 0 && es_buf_append(&s->vecs, vec, len) == 0) {
      s->end[s->ngiven++] = (struct given_end){s->ids.len, s->vecs.len};
      return 1;
    }
  }
  s->ids.len = at_ids, s->vecs.len = at_vecs; /* out of memory: the database makes this one */
  return -1;
}

/* Drops the oldest k given vectors (their rows are filled). */
static void given_drop(pz_search *s, long k) {
  if (k <= 0) return;
  if (k >= s->ngiven) {
    s->ngiven = 0, s->ids.len = s->vecs.len = 0;
    return;
  }
  size_t di = s->end[k - 1].id - ARRAY_HEAD, dv = s->end[k - 1].vec - ARRAY_HEAD;
  memmove(s->ids.data + ARRAY_HEAD, s->ids.data + ARRAY_HEAD + di, s->ids.len - ARRAY_HEAD - di);
  memmove(s->vecs.data + ARRAY_HEAD, s->vecs.data + ARRAY_HEAD + dv, s->vecs.len - ARRAY_HEAD - dv);
  s->ids.len -= di, s->vecs.len -= dv;
  s->ngiven -= k;
  for (long i = 0; i < s->ngiven; i++) s->end[i] = (struct given_end){s->end[i + k].id - di, s->end[i + k].vec - dv};
}

void pz_search_take(pz_search *s, long *used, long *verified, long *differ) {
  *used = s->used, *verified = s->verified, *differ = s->differ;
  s->used = s->verified = s->differ = 0;
}

/* Reads the results of the fill in flight as far as they have come (all of
 * them when block): 1 once its pipeline is complete, 0 not yet. */
static int read_results(pz_search *s, int block) {
  for (;;) {
    if (!block && PQisBusy(s->c)) return 0;
    PGresult *r = PQgetResult(s->c);
    if (!r) {
      if (PQstatus(s->c) != CONNECTION_OK) {
        s->failed = 1;
        return 1;
      }
      continue; /* the end of one statement's results */
    }
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      return 1;
    }
    if (st == PGRES_TUPLES_OK) {
      PQclear(s->last);
      s->last = r;
      continue;
    }
    if (st != PGRES_COMMAND_OK) {
      if (st != PGRES_PIPELINE_ABORTED) es_warn("search_fill_failed", "fill: %s", PQresultErrorMessage(r));
      s->failed = 1;
    }
    PQclear(r);
  }
}

/* The finished fill's result: vectors committed, or -1. */
static long finish(pz_search *s) {
  PGresult *last = s->last;
  int failed = s->failed;
  s->last = NULL;
  s->busy = 0;
  if (!failed && !PQexitPipelineMode(s->c)) failed = 1;
  if (failed || !last || PQntuples(last) != 1 || PQnfields(last) != 9) {
    PQclear(last);
    if (PQstatus(s->c) != CONNECTION_OK || PQpipelineStatus(s->c) != PQ_PIPELINE_OFF) drop(s, "fill");
    else s->want = 1, s->retry_ns = es_mono_ns() + RETRY_NS; /* not at once: it may fail again */
    return -1;
  }
  long todo = strtol(PQgetvalue(last, 0, 0), NULL, 10), filled = strtol(PQgetvalue(last, 0, 1), NULL, 10);
  long given = strtol(PQgetvalue(last, 0, 6), NULL, 10), differ = strtol(PQgetvalue(last, 0, 7), NULL, 10);
  long reached = strtol(PQgetvalue(last, 0, 8), NULL, 10);
  /* Which given rows are filled now: every one sent when this fill did not
   * stop at rows (its snapshot, taken after they were given, saw them all:
   * filled now, or before, perhaps by another instance); else those up to
   * the last one it took (the ones before it have smaller seqs). */
  given_drop(s, todo < s->rows ? s->sent : reached < s->sent ? reached : s->sent);
  if (!s->verifying) s->used += given;
  else s->verified += given;
  if (differ > 0 && s->use_given) {
    s->use_given = 0;
    given_drop(s, s->ngiven);
    es_warn("search_vectors_differ",
            "%ld of %ld vectors made by the service differ from the database's; the database makes them from now on",
            differ, given);
  }
  s->differ += differ;
  int64_t top = strtoll(PQgetvalue(last, 0, 2), NULL, 10), seq = strtoll(PQgetvalue(last, 0, 3), NULL, 10);
  int64_t xmin = strtoll(PQgetvalue(last, 0, 4), NULL, 10), xmax = strtoll(PQgetvalue(last, 0, 5), NULL, 10);
  PQclear(last);
  uint64_t now = es_mono_ns();
  int full = todo >= s->rows;
  s->want = full;
  s->full = full;
  /* What hi may say now. A row this fill's snapshot saw has its vector if it
   * was a candidate: a row without one up to what it covered was invisible to
   * it, so inserted by a transaction running at its snapshot or later, whose
   * xid is at or after the snapshot's xmin. Stopped at rows, it covered up to
   * the last seq it took; the rows it did not reach keep the older bound. */
  if (!full) {
    s->hi = seq > s->sent_hi ? seq : s->sent_hi;
    s->hi_xmin = xmin;
    s->lo = s->hi, s->lo_xmin = xmin;
  } else if (s->sent_hi < 0) {
    s->hi = top, s->hi_xmin = xmin;
    s->lo = top, s->lo_xmin = xmin;
  } else {
    s->hi = top > s->sent_hi ? top : s->sent_hi;
    s->hi_xmin = s->sent_hi_xmin;
    /* up to top, this fill's bound; a later lo sent keeps its own (older than this one: also true) */
    if (top >= s->sent_lo) s->lo = top, s->lo_xmin = xmin;
    else s->lo = s->sent_lo, s->lo_xmin = s->sent_lo_xmin;
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

void pz_search_set_gap(pz_search *s, long ms) { s->gap_ns = ms > 0 ? (uint64_t)ms * 1000000ULL : 0; }

long pz_search_step(pz_search *s, int poke) {
  long n = 0;
  if (poke) s->want = 1;
  if (s->busy) {
    if (!PQconsumeInput(s->c)) {
      drop(s, "read");
      return -1;
    }
    if (!read_results(s, 0)) return 0;
    n = finish(s);
    if (!s->c) return -1;
  }
  uint64_t now = es_mono_ns();
  if (now < s->retry_ns) return n;
  /* While behind at once; after a commit once the gap has passed (a fill per
   * commit of a few hundred rows paid its per-statement cost every time);
   * while a candidate settles a few times a second; otherwise now and then
   * (rows of other writers). */
  int settling = s->have_cand || (s->have_obs && s->obs_seq > s->mark);
  uint64_t since = now - s->sent_ns, poll = settling ? SETTLE_POLL_NS : IDLE_NS;
  if (poll < s->gap_ns) poll = s->gap_ns;
  if ((s->want && (s->full || since >= s->gap_ns)) || since >= poll)
    if (send_fill(s) != 0) return -1;
  return n;
}

long pz_search_wait(pz_search *s) {
  if (!s->busy) return 0;
  read_results(s, 1);
  return finish(s);
}

int64_t pz_search_mark(const pz_search *s) { return s->mark; }

void pz_search_free(pz_search *s) {
  if (!s) return;
  if (s->busy) (void)pz_search_wait(s);
  if (s->c) PQfinish(s->c);
  es_buf_free(&s->ids);
  es_buf_free(&s->vecs);
  free(s->end);
  PQclear(s->last);
  free(s->dsn);
  free(s);
}
