/* PostgreSQL store: batch write, aggregates, ranking, action hysteresis. */
#include "store.h"

#include "effect.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"
#include "pg.h"
#include "util.h"

/* ms since epoch <-> timestamptz without floating point. */
#define TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"
#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

#define SPIKE_SET_SLOTS 8192
#define MAX_AGENCIES 4096
#define PRIO_FLUSH_ROWS 4096 /* priorities rows per upsert at most */
/* Ranking time saved up at most while there is nothing to rank (rank_allowance). */
#define RANK_CREDIT_NS 1000000000LL
#define RANK_CHUNK 64 /* agencies whose reads are fetched together (s->rank_chunk) */

typedef struct agency_time {
  char *agency;
  int64_t now;        /* event time */
  int dirty;          /* new rows since the last ranking */
  uint64_t dirty_ns;  /* monotonic time dirty was set */
  uint64_t ranked_ns; /* monotonic time of the last ranking */
} agency_time;

/* A new row of the batch and its UTC hour (ms). */
typedef struct row_ref {
  const pz_row *r;
  int64_t hour;
} row_ref;
enum { SKIP_DUP = 1, SKIP_STORED = 2 };

struct pz_store {
  char *dsn;
  pz_store_cfg cfg;
  PGconn *c;
  int migrated;
  es_buf copy, ids;  /* COPY data; id array literal */
  es_buf queued;     /* an aggregate_queue row's batch (queue_batch) */
  es_buf prio;       /* priorities rows not yet upserted, binary COPY data (flush_priorities) */
  size_t nprio_rows; /* rows in prio */
  int prio_sent;     /* a priorities upsert is on its way (settle) */
  uint32_t *slots;   /* hash table of the batch's ids: row index + 1 */
  size_t nslots;
  unsigned char *skip; /* per row: 0 new, SKIP_DUP, SKIP_STORED */
  row_ref *fresh;      /* the rows written by this batch */
  size_t capfresh;
  struct hour_group *groups; /* count_groups' (or a derive's) hour groups */
  size_t capgroups;
  es_buf strs;         /* a derive's decoded category and subcategory names */
  struct agg_key *agg; /* expand_groups' keys */
  size_t capagg;
  es_buf topics;         /* expand_groups' composed topic names */
  int lookup;            /* look stored ids up before the COPY */
  pz_overlap_fn overlap; /* client work run while the server copies */
  void *overlap_arg;
  int overlapped;                      /* ran during this pz_store_write */
  uint64_t spike_set[SPIKE_SET_SLOTS]; /* hashes of topic windows already counted as spikes */
  size_t spike_n;
  agency_time nows[MAX_AGENCIES]; /* per-agency event-time now */
  size_t nnow;
  agency_time *due[MAX_AGENCIES]; /* the agencies one transaction ranks */
  int64_t rank_credit;            /* ns of ranking allowed now (rank_allowance) */
  uint64_t credit_ns;             /* when the credit was last grown */
  double agency_ns;               /* what ranking one agency costs, recent average */
  size_t rank_chunk;              /* RANK_CHUNK; smaller in tests */
};

static void forget_nows(pz_store *s) {
  for (size_t i = 0; i < s->nnow; i++) free(s->nows[i].agency);
  s->nnow = 0;
}

void pz_store_cfg_default(pz_store_cfg *c) {
  memset(c, 0, sizeof *c);
  pz_params_default(&c->params);
  c->hyst.open_threshold = 0.5;
  c->quiet_topics = "other,praise";
  c->contact_retention_days = 180;
  c->effect_days = 28;
  c->effect_min_events = 10;
  c->hyst.close_threshold = 0.3;
  c->hyst.min_volume = 20;
  c->hyst.close_after_ms = 3600000; /* one action window (hour) below the close threshold */
  c->hyst.cooldown_ms = 86400000;   /* a day before the same topic may reopen */
  c->history_windows = 8;
  c->action_window = PZ_HOUR;
  c->action_level = 1;
  c->emerging_confidence = 0.5;
  c->publish_top = 10;
  c->spike_p = 0.001;
  c->rank_share = 0.5;
}

pz_store *pz_store_new(const char *dsn, const pz_store_cfg *cfg) {
  pz_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dsn = es_strdup(dsn);
  s->cfg = *cfg;
  s->lookup = 1; /* a restart is when replays are likely */
  s->rank_credit = RANK_CREDIT_NS;
  s->credit_ns = es_mono_ns();
  s->agency_ns = 5e6; /* a guess until measured: few topics, no load */
  s->rank_chunk = RANK_CHUNK;
  if (!s->dsn) {
    free(s);
    return NULL;
  }
  return s;
}

void pz_store_free(pz_store *s) {
  if (!s) return;
  if (s->c) PQfinish(s->c);
  forget_nows(s);
  es_buf_free(&s->copy);
  es_buf_free(&s->ids);
  es_buf_free(&s->queued);
  es_buf_free(&s->prio);
  free(s->slots);
  free(s->skip);
  free(s->fresh);
  free(s->agg);
  free(s->groups);
  es_buf_free(&s->strs);
  es_buf_free(&s->topics);
  free(s->dsn);
  free(s);
}

PGconn *pz_store_conn(pz_store *s) { return s->c; }
void pz_store_set_rank_chunk(pz_store *s, size_t n) { s->rank_chunk = n ? n : RANK_CHUNK; }
void pz_store_set_overlap(pz_store *s, pz_overlap_fn fn, void *arg) {
  s->overlap = fn;
  s->overlap_arg = arg;
}
int pz_store_connected(const pz_store *s) { return s->c && PQstatus(s->c) == CONNECTION_OK; }

/* What the new rows add to topic_window_stats, one row per key, summed by the
 * client (expand_groups). */
static const char SQL_TEMP[] =
    "CREATE TEMP TABLE IF NOT EXISTS pz_agg_in (agency text, topic text, window_kind text,"
    " window_start timestamptz, total bigint, positive bigint, neutral bigint, negative bigint,"
    " nps_promoters bigint, nps_passives bigint, nps_detractors bigint, csat_responses bigint,"
    " csat_satisfied bigint, urgent bigint) ON COMMIT DELETE ROWS";
/* The rankings' priorities rows, upserted from here by SQL_PRIORITIES. */
static const char SQL_PRIO_TEMP[] =
    "CREATE TEMP TABLE IF NOT EXISTS pz_prio_in (agency text, topic text, window_kind text,"
    " window_start timestamptz, level smallint, rank integer, score float8, volume bigint,"
    " negative_share float8, negative_low float8, negative_high float8, spike_z float8,"
    " spike_p float8, baseline float8, nps float8, nps_impact float8, csat float8,"
    " csat_impact float8, urgent_share float8, factors jsonb, explanation_es text,"
    " explanation_en text) ON COMMIT DELETE ROWS";

static void drop_conn(pz_store *s) {
  if (s->c) PQfinish(s->c);
  s->c = NULL;
}

/* NOTICEs (e.g. "already exists, skipping" from migrations) are not errors. */
static void on_notice(void *arg, const char *msg) {
  (void)arg;
  es_debug("pg_notice", "%s", msg);
}

int pz_store_connect(pz_store *s, const char *migrations_dir) {
  if (pz_store_connected(s)) return 0;
  drop_conn(s);
  char err[512];
  s->c = es_pg_connect(s->dsn, err, sizeof err);
  if (!s->c) {
    es_warn("pg_connect_failed", "%s", err);
    return -1;
  }
  PQsetNoticeProcessor(s->c, on_notice, NULL);
  if (migrations_dir && !s->migrated) {
    if (es_pg_migrate(s->c, migrations_dir) != 0) goto fail;
    s->migrated = 1;
  }
  if (es_pg_exec(s->c, "SET TIME ZONE 'UTC'") != 0 || es_pg_exec(s->c, SQL_TEMP) != 0 ||
      es_pg_exec(s->c, SQL_PRIO_TEMP) != 0)
    goto fail;
  return 0;
fail:
  drop_conn(s);
  return -1;
}

/* PQexecParams with text parameters; NULL (error logged) unless the status is want. */
static int settle(pz_store *s);

/* sql with n parameters (lens/fmts as PQexecParams'; NULL: all text), results
 * in binary when binary; NULL (logged as what) unless its status is want. */
static PGresult *qb(pz_store *s, const char *what, const char *sql, int n, const char *const *params, const int *lens,
                    const int *fmts, ExecStatusType want, int binary) {
  if (settle(s) != 0) return NULL;
  PGresult *r = PQexecParams(s->c, sql, n, NULL, params, lens, fmts, binary);
  if (PQresultStatus(r) == want) return r;
  es_error("pg_query_failed", "%s: %s", what, PQresultErrorMessage(r));
  PQclear(r);
  return NULL;
}

static PGresult *q(pz_store *s, const char *what, const char *sql, int n, const char *const *params,
                   ExecStatusType want) {
  return qb(s, what, sql, n, params, NULL, NULL, want, 0);
}

static int q_ok(pz_store *s, const char *what, const char *sql, int n, const char *const *params) {
  PGresult *r = q(s, what, sql, n, params, PGRES_COMMAND_OK);
  PQclear(r);
  return r ? 0 : -1;
}

/* ---- the batch's new rows ---- */

/* Sizes the per-batch work arrays (kept between batches). */
static int scratch_reserve(pz_store *s, size_t n) {
  size_t want = 16;
  while (want < 2 * n) want *= 2;
  if (want > s->nslots) {
    uint32_t *p = realloc(s->slots, want * sizeof *p);
    if (!p) return -1;
    s->slots = p;
    s->nslots = want;
  }
  if (n > s->capfresh) {
    unsigned char *k = realloc(s->skip, n);
    if (!k) return -1;
    s->skip = k;
    row_ref *f = realloc(s->fresh, n * sizeof *f);
    if (!f) return -1;
    s->fresh = f;
    s->capfresh = n;
  }
  return 0;
}

/* Hash table of the batch's ids (slot = row index + 1). Later occurrences of
 * an id inside the batch are marked SKIP_DUP: the first one is written. */
static size_t id_slot(const pz_store *s, const pz_row *rows, const char *id, size_t len) {
  size_t mask = s->nslots - 1, i = (size_t)XXH3_64bits(id, len) & mask;
  while (s->slots[i] && strcmp(rows[s->slots[i] - 1].id, id) != 0) i = (i + 1) & mask;
  return i;
}

static void mark_batch_dupes(pz_store *s, const pz_row *rows, size_t n) {
  memset(s->slots, 0, s->nslots * sizeof *s->slots);
  for (size_t i = 0; i < n; i++) {
    size_t k = id_slot(s, rows, rows[i].id, strlen(rows[i].id));
    if (s->slots[k]) s->skip[i] = SKIP_DUP;
    else {
      s->slots[k] = (uint32_t)(i + 1);
      s->skip[i] = 0;
    }
  }
}

/* Marks SKIP_STORED the ids already in feedback (a replay, or a message
 * produced twice). Committed rows only: a concurrent uncommitted insert of the
 * same id makes the COPY fail with unique_violation instead (retried). */
static int mark_stored(pz_store *s, const pz_row *rows, size_t n, int *found) {
  es_buf *b = &s->ids;
  b->len = 0;
  int rc = es_buf_puts(b, "{");
  for (size_t i = 0; i < n; i++) {
    if (s->skip[i]) continue;
    rc |= es_buf_puts(b, b->len > 1 ? ",\"" : "\"");
    const char *run = rows[i].id, *p;
    for (p = run; *p; p++)
      if (*p == '"' || *p == '\\') {
        rc |= es_buf_append(b, run, (size_t)(p - run)) || es_buf_puts(b, "\\");
        run = p;
      }
    rc |= es_buf_append(b, run, (size_t)(p - run)) || es_buf_puts(b, "\"");
  }
  rc |= es_buf_puts(b, "}");
  if (rc) return -1;
  const char *p[] = {b->data};
  PGresult *r = q(s, "stored_ids", "SELECT id FROM feedback WHERE id = ANY($1::text[])", 1, p, PGRES_TUPLES_OK);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    size_t k = id_slot(s, rows, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
    if (s->slots[k]) s->skip[s->slots[k] - 1] = SKIP_STORED;
  }
  *found = PQntuples(r) > 0;
  PQclear(r);
  return 0;
}

/* COPY binary format (big-endian fields with a 32-bit length, -1 = NULL). */
#define PG_EPOCH_MS 946684800000LL /* 2000-01-01, PostgreSQL's timestamp epoch */

/* The binary COPY stream's header (signature, flags, no extension) and trailer. */
static int bin_begin(es_buf *b) { return es_buf_append(b, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19); }
static int bin_end(es_buf *b) { return es_buf_append(b, "\377\377", 2); }

/* Callers reserve room first (bin_row). */
static void bin_raw(es_buf *b, const void *d, int32_t len) {
  es_pg_be32(b->data + b->len, (uint32_t)len);
  b->len += 4;
  if (len > 0) memcpy(b->data + b->len, d, (size_t)len), b->len += (size_t)len;
}
static void bin_text(es_buf *b, const char *v) { bin_raw(b, v, v ? (int32_t)strlen(v) : -1); }
static void bin_u64(es_buf *b, uint64_t v) {
  es_pg_be32(b->data + b->len, 8);
  es_pg_be64(b->data + b->len + 4, v);
  b->len += 12;
}
static void bin_tstz(es_buf *b, int64_t ms) { bin_u64(b, (uint64_t)((ms - PG_EPOCH_MS) * 1000)); }
static void bin_ts(es_buf *b, int64_t ms) { /* 0 = unknown */
  if (!ms) bin_raw(b, NULL, -1);
  else bin_tstz(b, ms);
}
static void bin_f8(es_buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  if (isnan(v)) bin_raw(b, NULL, -1);
  else bin_u64(b, u);
}
static void bin_i16(es_buf *b, int v) { /* < 0 = NULL */
  char d[2];
  es_pg_be16(d, (uint16_t)v);
  bin_raw(b, d, v < 0 ? -1 : 2);
}

static const char SQL_COPY_FEEDBACK[] =
    "COPY feedback (id, agency, service, channel, external_id, text, language, created_at,"
    " received_at, nps, csat, category, subcategory, confidence, sentiment, sentiment_score,"
    " journey_stage, urgent, model_version, content_hash, redactions, classified_at,"
    " lat, lon, address, top_terms,"     /* migrations/002_read_side.sql */
    " urgent_reason, urgent_confidence," /* 004_urgent_cases.sql */
    " runner_up, predicted)"             /* 019_review_margin.sql */
    " FROM STDIN (FORMAT binary)";
enum { NCOLS = 30 };

/* jsonb in binary COPY: version byte 1, then the JSON text ("" = NULL). Room reserved by bin_row. */
static void bin_jsonb(es_buf *b, const char *json) {
  if (!json[0]) {
    bin_raw(b, NULL, -1);
    return;
  }
  size_t len = strlen(json);
  es_pg_be32(b->data + b->len, (uint32_t)(len + 1));
  b->data[b->len + 4] = 1;
  memcpy(b->data + b->len + 5, json, len);
  b->len += 5 + len;
}

static int bin_row(es_buf *b, const pz_row *r) {
  const char *strs[] = {
      r->id,           r->agency,     r->service,     r->channel,   r->external_id,   r->text,
      r->language,     r->category,   r->subcategory, r->sentiment, r->journey_stage, r->model_version,
      r->content_hash, r->redactions, r->address,     r->top_terms, r->urgent_reason, r->predicted};
  size_t need = 2 + NCOLS * 4 + 9 * 8 + 2 * 2 + 1 + 2 + 16; /* + strings */
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) need += strs[i] ? strlen(strs[i]) : 0;
  if (es_buf_reserve(b, need) != 0) return -1;
  es_pg_be16(b->data + b->len, NCOLS);
  b->len += 2;
  bin_text(b, r->id), bin_text(b, r->agency), bin_text(b, r->service), bin_text(b, r->channel);
  bin_text(b, r->external_id), bin_text(b, r->text), bin_text(b, r->language);
  bin_ts(b, r->created_at), bin_ts(b, r->received_at);
  bin_i16(b, r->nps), bin_i16(b, r->csat);
  bin_text(b, r->category), bin_text(b, r->subcategory), bin_f8(b, r->confidence);
  bin_text(b, r->sentiment), bin_f8(b, r->sentiment_score), bin_text(b, r->journey_stage);
  bin_raw(b, r->urgent ? "\1" : "\0", 1);
  bin_text(b, r->model_version), bin_text(b, r->content_hash);
  bin_jsonb(b, r->redactions);
  bin_ts(b, r->classified_at);
  bin_f8(b, r->has_latlon ? r->lat : NAN), bin_f8(b, r->has_latlon ? r->lon : NAN);
  bin_text(b, r->address);
  bin_jsonb(b, r->top_terms);
  bin_text(b, r->urgent_reason), bin_f8(b, r->urgent_confidence);
  bin_f8(b, r->runner_up), bin_text(b, r->predicted);
  return 0;
}

/* Sends a COPY ... FROM STDIN with data; with overlap, runs the overlap hook
 * (once per write) while the server works. 0 ok, 1 unique_violation, -1 error. */
static int copy_in(pz_store *s, const char *what, const char *sql, const es_buf *data, int overlap) {
  PGresult *r = PQexec(s->c, sql);
  int ok = PQresultStatus(r) == PGRES_COPY_IN;
  if (!ok) es_error("pg_copy_failed", "%s: %s", what, PQresultErrorMessage(r));
  PQclear(r);
  if (!ok) return -1;
  /* One call: libpq sends in its own chunks. */
  if (PQputCopyData(s->c, data->data, (int)data->len) != 1 || PQputCopyEnd(s->c, NULL) != 1) {
    es_error("pg_copy_failed", "%s: %s", what, PQerrorMessage(s->c));
    return -1;
  }
  /* PQputCopyEnd has flushed everything (blocking connection): the server is
   * now inserting, and the client is free until it asks for the result. */
  if (overlap && s->overlap && !s->overlapped) {
    s->overlapped = 1;
    s->overlap(s->overlap_arg);
  }
  int rc = 0;
  while ((r = PQgetResult(s->c)) != NULL) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      if (state && strcmp(state, "23505") == 0) rc = 1;
      else {
        es_error("pg_copy_failed", "%s: %s", what, PQresultErrorMessage(r));
        rc = -1;
      }
    }
    PQclear(r);
  }
  return rc;
}

static int copy_feedback(pz_store *s, size_t nfresh) {
  es_buf *b = &s->copy;
  b->len = 0;
  if (bin_begin(b) != 0) return -1;
  for (size_t i = 0; i < nfresh; i++)
    if (bin_row(b, s->fresh[i].r) != 0) return -1;
  if (bin_end(b) != 0) return -1;
  return copy_in(s, "feedback", SQL_COPY_FEEDBACK, b, 1);
}

/* The sealed contacts of the new rows (a replay inserts no feedback row, so
 * no contact either). */
static const char SQL_COPY_CONTACTS[] =
    "COPY contacts (feedback_id, agency, via, sealed, expires_at) FROM STDIN (FORMAT binary)";
static int copy_contacts(pz_store *s, size_t nfresh) {
  es_buf *b = &s->copy;
  size_t k = 0;
  b->len = 0;
  if (bin_begin(b) != 0) return -1;
  for (size_t i = 0; i < nfresh; i++) {
    const pz_row *r = s->fresh[i].r;
    if (!r->sealed_contact) continue;
    if (es_buf_reserve(b, 2 + 5 * 4 + 8 + strlen(r->id) + strlen(r->agency) + 8 + r->sealed_len) != 0) return -1;
    es_pg_be16(b->data + b->len, 5);
    b->len += 2;
    bin_text(b, r->id), bin_text(b, r->agency), bin_text(b, r->contact_via);
    bin_raw(b, r->sealed_contact, (int32_t)r->sealed_len);
    bin_ts(b, r->received_at + (int64_t)s->cfg.contact_retention_days * 86400000LL);
    k++;
  }
  if (!k) return 0;
  if (bin_end(b) != 0) return -1;
  return copy_in(s, "contacts", SQL_COPY_CONTACTS, b, 0);
}

long pz_store_purge_contacts(pz_store *s) {
  if (!pz_store_connected(s)) return -1;
  PGresult *r = q(s, "purge_contacts", "DELETE FROM contacts WHERE expires_at < now() OR final_notified_at IS NOT NULL",
                  0, NULL, PGRES_COMMAND_OK);
  long n = r ? atol(PQcmdTuples(r)) : -1;
  PQclear(r);
  return n;
}

/* ---- aggregates of exactly the new rows ---- */

static int cmp_str(const char *a, const char *b) { return a == b ? 0 : !a ? -1 : !b ? 1 : strcmp(a, b); }

static int cmp_ref(const void *pa, const void *pb) {
  const row_ref *a = pa, *b = pb;
  int c = strcmp(a->r->agency, b->r->agency);
  if (!c) c = strcmp(a->r->category, b->r->category);
  if (!c) c = cmp_str(a->r->subcategory, b->r->subcategory);
  if (!c) c = (a->hour > b->hour) - (a->hour < b->hour);
  return c;
}

/* Room for index n in *arr. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  while (nc <= n) nc *= 2;
  void *p = realloc(*arr, nc * elem);
  if (!p) return -1;
  *arr = p;
  *cap = nc;
  return 0;
}

/* One row of topic_window_stats a batch adds to, with what it adds. */
typedef struct agg_key {
  const char *agency, *topic;
  size_t topic_off; /* topic composed in s->topics (SIZE_MAX: topic points elsewhere) */
  int kind;         /* PZ_HOUR, PZ_DAY, PZ_WEEK */
  int64_t start;    /* ms */
  uint64_t c[10];   /* total pos neu neg pro pas det cr cs urg */
} agg_key;

/* The batch's sums, one row per key, in the client's order; a seq scan of the
 * temp table (local buffers: never a synchronized scan) returns them in COPY
 * order, so every instance locks keys in the same order. Summing here instead
 * of GROUP BY in SQL: with many agencies nearly every key is its own group, and
 * the server's hash aggregate and sort spilled to disk (0.3-0.4 s of a 1 s
 * statement at 1,000 agencies). */
static const char SQL_AGG[] =
    "INSERT INTO topic_window_stats AS s (agency, topic, window_kind, window_start, total,"
    "  positive, neutral, negative, nps_promoters, nps_passives, nps_detractors,"
    "  csat_responses, csat_satisfied, urgent)"
    " SELECT * FROM pz_agg_in"
    " ON CONFLICT (agency, topic, window_kind, window_start) DO UPDATE SET"
    "  total = s.total + EXCLUDED.total, positive = s.positive + EXCLUDED.positive,"
    "  neutral = s.neutral + EXCLUDED.neutral, negative = s.negative + EXCLUDED.negative,"
    "  nps_promoters = s.nps_promoters + EXCLUDED.nps_promoters,"
    "  nps_passives = s.nps_passives + EXCLUDED.nps_passives,"
    "  nps_detractors = s.nps_detractors + EXCLUDED.nps_detractors,"
    "  csat_responses = s.csat_responses + EXCLUDED.csat_responses,"
    "  csat_satisfied = s.csat_satisfied + EXCLUDED.csat_satisfied,"
    "  urgent = s.urgent + EXCLUDED.urgent, updated_at = now()";

static int sentiment_is(const pz_row *r, const char *v) { return r->sentiment && strcmp(r->sentiment, v) == 0; }

static int cmp_agg(const void *pa, const void *pb) {
  const agg_key *a = pa, *b = pb;
  int c = strcmp(a->agency, b->agency);
  if (!c) c = strcmp(a->topic, b->topic);
  if (!c) c = a->kind - b->kind;
  if (!c) c = (a->start > b->start) - (a->start < b->start);
  return c;
}

/* The topics a row counts under: '*', its category, and its subcategory as
 * "category/subcategory" (as given when it already has a '/'; none when
 * empty). The composed one is written to s->topics; returns how many. */
static int topics_of(pz_store *s, const char *category, const char *sub, const char *topic[3], size_t off[3]) {
  int n = 0;
  topic[n] = "*", off[n++] = SIZE_MAX;
  topic[n] = category, off[n++] = SIZE_MAX;
  if (!sub || !*sub) return n;
  if (strchr(sub, '/')) {
    topic[n] = sub, off[n++] = SIZE_MAX;
    return n;
  }
  topic[n] = NULL, off[n] = s->topics.len;
  if (es_buf_printf(&s->topics, "%s/%s", category, sub) != 0 || es_buf_append(&s->topics, "", 1) != 0) return -1;
  return n + 1;
}

/* The counts of one agency x category x subcategory x UTC hour: what a batch
 * adds, before it is expanded to topics x windows (and what is queued). */
typedef struct hour_group {
  const char *agency, *category, *subcategory; /* subcategory NULL: none */
  int64_t hour;
  uint64_t c[10]; /* total pos neu neg pro pas det cr cs urg */
} hour_group;

/* fresh[] must be sorted with cmp_ref: its hour groups, counted, into s->groups. */
static int count_groups(pz_store *s, size_t nfresh, size_t *ngroups) {
  size_t n = 0;
  for (size_t i = 0; i < nfresh;) {
    const row_ref *g = &s->fresh[i];
    if (grow((void **)&s->groups, &s->capgroups, n, sizeof *s->groups) != 0) return -1;
    hour_group *h = &s->groups[n++];
    memset(h, 0, sizeof *h);
    h->agency = g->r->agency, h->category = g->r->category, h->subcategory = g->r->subcategory, h->hour = g->hour;
    uint64_t *c = h->c;
    for (; i < nfresh && cmp_ref(g, &s->fresh[i]) == 0; i++) {
      const pz_row *r = s->fresh[i].r;
      c[0]++;
      c[1] += sentiment_is(r, "POSITIVE"), c[2] += sentiment_is(r, "NEUTRAL");
      c[3] += sentiment_is(r, "NEGATIVE");
      c[4] += r->nps >= 9, c[5] += r->nps == 7 || r->nps == 8, c[6] += r->nps >= 0 && r->nps <= 6;
      c[7] += r->csat >= 0, c[8] += r->csat >= 4, c[9] += r->urgent != 0;
    }
  }
  *ngroups = n;
  return 0;
}

/* Adds the binary COPY data of pz_agg_in (len bytes) to topic_window_stats. */
static int apply_aggregates(pz_store *s, const char *data, size_t len) {
  es_buf b = {.data = (char *)data, .len = len};
  if (copy_in(s, "aggregates", "COPY pz_agg_in FROM STDIN (FORMAT binary)", &b, 0) != 0) return -1;
  return q_ok(s, "aggregates", SQL_AGG, 0, NULL);
}

/* Hour groups added to their topics x windows, summed per key, into s->copy
 * as pz_agg_in's binary COPY data (encode_aggregates). */
static int encode_aggregates(pz_store *s, size_t n);
static int expand_groups(pz_store *s, const hour_group *g, size_t ng) {
  size_t n = 0;
  s->topics.len = 0;
  for (size_t i = 0; i < ng; i++) {
    const char *topic[3];
    size_t off[3];
    int nt = topics_of(s, g[i].category, g[i].subcategory, topic, off);
    if (nt < 0 || grow((void **)&s->agg, &s->capagg, n + PZ_NWINDOWS * (size_t)nt, sizeof *s->agg) != 0) return -1;
    for (int t = 0; t < nt; t++)
      for (int k = 0; k < PZ_NWINDOWS; k++) {
        agg_key *e = &s->agg[n++];
        e->agency = g[i].agency, e->topic = topic[t], e->topic_off = off[t];
        e->kind = k, e->start = pz_window_start(k, g[i].hour);
        memcpy(e->c, g[i].c, sizeof e->c);
      }
  }
  for (size_t i = 0; i < n; i++) /* s->topics no longer moves */
    if (s->agg[i].topic_off != SIZE_MAX) s->agg[i].topic = s->topics.data + s->agg[i].topic_off;
  return encode_aggregates(s, n);
}

/* The n keys of s->agg sorted, one row per key with their sums, into s->copy
 * as pz_agg_in's binary COPY data. */
static int encode_aggregates(pz_store *s, size_t n) {
  qsort(s->agg, n, sizeof *s->agg, cmp_agg);
  es_buf *b = &s->copy;
  b->len = 0;
  if (bin_begin(b) != 0) return -1;
  for (size_t i = 0; i < n;) {
    agg_key *e = &s->agg[i];
    for (i++; i < n && cmp_agg(e, &s->agg[i]) == 0; i++)
      for (int k = 0; k < 10; k++) e->c[k] += s->agg[i].c[k];
    if (es_buf_reserve(b, 2 + 4 * 4 + strlen(e->agency) + strlen(e->topic) + 4 + 11 * 12) != 0) return -1;
    es_pg_be16(b->data + b->len, 14);
    b->len += 2;
    bin_text(b, e->agency), bin_text(b, e->topic), bin_text(b, PZ_WINDOW_NAMES[e->kind]);
    bin_tstz(b, e->start);
    for (int k = 0; k < 10; k++) bin_u64(b, e->c[k]);
  }
  return bin_end(b);
}

/* Feeds the emerging-topics sketch (after commit): low confidence or "other". */
static int emerging_candidate(const pz_store *s, const pz_row *r) {
  if (!r->text || !*r->text || (r->subcategory && strcmp(r->subcategory, "other/no_comment") == 0)) return 0;
  if (isnan(r->confidence) || r->confidence < s->cfg.emerging_confidence) return 1;
  if (strcmp(r->category, "other") == 0) return 1;
  size_t n = r->subcategory ? strlen(r->subcategory) : 0;
  return n >= 5 && strcmp(r->subcategory + n - 5, "other") == 0;
}

static int keep_emerging(pz_batch_result *res, const char *agency, const char *text) {
  if (grow((void **)&res->emerging, &res->capemerging, res->nemerging, sizeof *res->emerging)) return -1;
  pz_text *t = &res->emerging[res->nemerging];
  t->agency = es_strdup(agency);
  t->text = es_strdup(text);
  if (!t->agency || !t->text) {
    free(t->agency);
    free(t->text);
    return -1;
  }
  res->nemerging++;
  return 0;
}

/* ---- ranking ---- */

typedef struct topic_acc {
  const char *topic; /* points into the PGresult */
  pz_counts cur;
  double *hist; /* history_windows entries, oldest first */
  pz_factors f;
  int level;
  unsigned rank;
} topic_acc;

/* Rows [lo, hi) of a result read for every agency ranked in a transaction. */
typedef struct rows_of {
  PGresult *r;
  int lo, hi;
} rows_of;

typedef struct rank_ctx {
  pz_store *s;
  pz_batch_result *res;
  const char *agency;
  int kind;
  int64_t now, start, len;
  topic_acc *t;
  size_t nt;
  int nhist;
  pz_counts all;
  const rows_of *hist;  /* this window's rows of SQL_HISTORY */
  const rows_of *due;   /* this agency's rows of SQL_EFFECT_DUE (NULL: no effect checks) */
  const rows_of *plans; /* this agency's rows of SQL_PLANS, read before any effect check */
} rank_ctx;

static uint64_t u64(PGresult *r, int row, int col) { return (uint64_t)strtoull(PQgetvalue(r, row, col), NULL, 10); }

static topic_acc *acc_for(rank_ctx *x, const char *topic) {
  for (size_t i = 0; i < x->nt; i++)
    if (strcmp(x->t[i].topic, topic) == 0) return &x->t[i];
  topic_acc *a = &x->t[x->nt++];
  memset(a, 0, sizeof *a);
  a->topic = topic;
  a->hist = calloc((size_t)x->s->cfg.history_windows, sizeof *a->hist);
  a->level = strchr(topic, '/') ? 2 : 1;
  return a->hist ? a : NULL;
}

#define TSX(x) "(timestamptz 'epoch' + " x " * interval '1 millisecond')"

/* Every window to rank in the transaction, one statement for all of them (a
 * job per agency x window kind: i, agency, kind, from f to t ms), ordered by
 * job. The next to last column, the agency's first window of this kind, is the
 * same on every row of a job; the last is the job. */
static const char SQL_HISTORY[] =
    "WITH j AS MATERIALIZED (SELECT u.i, u.agency, u.kind, u.f, u.t, (SELECT " MS("min(f.window_start)")
    " FROM topic_window_stats f WHERE f.agency = u.agency AND f.topic = '*' AND f.window_kind = u.kind) AS first"
    " FROM jsonb_to_recordset($1::jsonb) AS u(i int, agency text, kind text, f bigint, t bigint))"
    " SELECT s.topic, " MS("s.window_start")
        ", s.total, s.positive, s.neutral, s.negative, s.nps_promoters,"
        " s.nps_passives, s.nps_detractors, s.csat_responses, s.csat_satisfied, s.urgent, j.first, j.i"
        " FROM j JOIN topic_window_stats s ON s.agency = j.agency AND s.window_kind = j.kind"
        " AND s.window_start >= " TSX("j.f") " AND s.window_start <= " TSX("j.t") " ORDER BY j.i";

/* Loads current and earlier windows of every topic of the agency (x->hist). */
static int load_history(rank_ctx *x) {
  int K = x->s->cfg.history_windows;
  PGresult *r = x->hist->r;
  int lo = x->hist->lo, n = x->hist->hi - lo;
  /* Windows before the agency's first one are unknown, not zero (no row: no topic to rank). */
  int64_t first_ms = n == 0 || PQgetisnull(r, lo, 12) ? x->start : strtoll(PQgetvalue(r, lo, 12), NULL, 10);
  int64_t known = (x->start - first_ms) / x->len;
  x->nhist = known < 0 ? 0 : (known > K ? K : (int)known);
  x->t = calloc((size_t)n + 1, sizeof *x->t);
  if (!x->t) return -1;
  for (int i = lo; i < lo + n; i++) {
    int64_t ws = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    int64_t idx = (x->start - ws) / x->len; /* 0 current, 1..K earlier */
    pz_counts c = {u64(r, i, 2), u64(r, i, 3), u64(r, i, 4), u64(r, i, 5),  u64(r, i, 6),
                   u64(r, i, 7), u64(r, i, 8), u64(r, i, 9), u64(r, i, 10), u64(r, i, 11)};
    const char *topic = PQgetvalue(r, i, 0);
    if (strcmp(topic, "*") == 0) {
      if (idx == 0) x->all = c;
      continue;
    }
    topic_acc *a = acc_for(x, topic);
    if (!a) return -1;
    if (idx == 0) a->cur = c;
    else if (idx >= 1 && idx <= K) a->hist[K - idx] = (double)c.total;
  }
  return 0;
}

static int cmp_rank(const void *a, const void *b) {
  const topic_acc *x = *(topic_acc *const *)a, *y = *(topic_acc *const *)b;
  if (x->level != y->level) return x->level - y->level;
  if (x->f.score != y->f.score) return x->f.score > y->f.score ? -1 : 1;
  if (x->f.volume != y->f.volume) return x->f.volume > y->f.volume ? -1 : 1;
  return strcmp(x->topic, y->topic);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *factors_json(const pz_factors *f, const pz_params *p) {
  return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:f,s:f,s:f,s:f,s:f}}", "volume_share",
                   num(f->volume_share), "negative_low", num(f->negative_low), "spike", num(f->c_spike), "nps",
                   num(f->c_nps), "urgency", num(f->c_urgency), "spike_z", num(f->spike_z), "spike_p", num(f->spike_p),
                   "expected", num(f->expected), "has_baseline", json_boolean(f->has_baseline), "weights", "volume",
                   p->w_volume, "negative", p->w_negative, "spike", p->w_spike, "nps", p->w_nps, "urgency",
                   p->w_urgency);
}

/* The priorities row as JSON (also the plan snapshot). */
static json_t *priority_json(const rank_ctx *x, const topic_acc *a, const char *es, const char *en) {
  const pz_factors *f = &a->f;
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "agency", json_string(x->agency));
  json_object_set_new(o, "topic", json_string(a->topic));
  json_object_set_new(o, "window_kind", json_string(PZ_WINDOW_NAMES[x->kind]));
  json_object_set_new(o, "window_start_ms", json_integer(x->start));
  json_object_set_new(o, "level", json_integer(a->level));
  json_object_set_new(o, "rank", json_integer(a->rank));
  json_object_set_new(o, "score", num(f->score));
  json_object_set_new(o, "volume", json_integer((json_int_t)f->volume));
  json_object_set_new(o, "negative_share", num(f->negative_share));
  json_object_set_new(o, "negative_low", num(f->negative_low));
  json_object_set_new(o, "negative_high", num(f->negative_high));
  json_object_set_new(o, "spike_z", num(f->spike_z));
  json_object_set_new(o, "spike_p", num(f->spike_p));
  json_object_set_new(o, "baseline", num(f->baseline));
  json_object_set_new(o, "nps", num(f->nps));
  json_object_set_new(o, "nps_impact", num(f->nps_impact));
  json_object_set_new(o, "csat", num(f->csat));
  json_object_set_new(o, "csat_impact", num(f->csat_impact));
  json_object_set_new(o, "urgent_share", num(f->urgent_share));
  json_object_set_new(o, "factors", factors_json(f, &x->s->cfg.params));
  json_object_set_new(o, "explanation_es", json_string(es));
  json_object_set_new(o, "explanation_en", json_string(en));
  return o;
}

/* From pz_prio_in, which flush_priorities fills by binary COPY: the rows used
 * to go as one jsonb parameter, whose parsing alone (bind) cost as much as the
 * upsert (150-210 ms for 4,096 rows at 1,000 agencies). */
static const char SQL_PRIORITIES[] =
    "INSERT INTO priorities AS p (agency, topic, window_kind, window_start, computed_at, level,"
    " rank, score, volume, negative_share, negative_low, negative_high, spike_z, spike_p,"
    " baseline, nps, nps_impact, csat, csat_impact, urgent_share, factors, explanation_es,"
    " explanation_en)"
    " SELECT x.agency, x.topic, x.window_kind, x.window_start, now(), x.level, x.rank, x.score,"
    "  x.volume, x.negative_share, x.negative_low, x.negative_high, x.spike_z, x.spike_p,"
    "  x.baseline, x.nps, x.nps_impact, x.csat, x.csat_impact, x.urgent_share, x.factors,"
    "  x.explanation_es, x.explanation_en"
    " FROM pz_prio_in x ORDER BY x.agency, x.topic, x.window_kind" /* fixed lock order between instances */
    " ON CONFLICT (agency, topic, window_kind, window_start) DO UPDATE SET"
    "  computed_at = EXCLUDED.computed_at, level = EXCLUDED.level, rank = EXCLUDED.rank,"
    "  score = EXCLUDED.score, volume = EXCLUDED.volume,"
    "  negative_share = EXCLUDED.negative_share, negative_low = EXCLUDED.negative_low,"
    "  negative_high = EXCLUDED.negative_high, spike_z = EXCLUDED.spike_z,"
    "  spike_p = EXCLUDED.spike_p, baseline = EXCLUDED.baseline, nps = EXCLUDED.nps,"
    "  nps_impact = EXCLUDED.nps_impact, csat = EXCLUDED.csat,"
    "  csat_impact = EXCLUDED.csat_impact, urgent_share = EXCLUDED.urgent_share,"
    "  factors = EXCLUDED.factors, explanation_es = EXCLUDED.explanation_es,"
    "  explanation_en = EXCLUDED.explanation_en";

/* Counts a topic window the first time it is seen spiking (bounded memory:
 * the set is cleared when half full, which at worst recounts a spike). */
static int first_spike(pz_store *s, const rank_ctx *x, const topic_acc *a) {
  char key[512];
  int n = snprintf(key, sizeof key, "%s\x1f%s\x1f%d\x1f%lld", x->agency, a->topic, x->kind, (long long)x->start);
  uint64_t h = XXH3_64bits(key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1) | 1;
  if (s->spike_n >= SPIKE_SET_SLOTS / 2) {
    memset(s->spike_set, 0, sizeof s->spike_set);
    s->spike_n = 0;
  }
  size_t i = (size_t)h & (SPIKE_SET_SLOTS - 1);
  while (s->spike_set[i]) {
    if (s->spike_set[i] == h) return 0;
    i = (i + 1) & (SPIKE_SET_SLOTS - 1);
  }
  s->spike_set[i] = h;
  s->spike_n++;
  return 1;
}

static int keep_priority(rank_ctx *x, const topic_acc *a, const char *es, const char *en) {
  pz_batch_result *res = x->res;
  if (grow((void **)&res->prio, &res->capprio, res->nprio, sizeof *res->prio)) return -1;
  pz_priority *p = &res->prio[res->nprio];
  memset(p, 0, sizeof *p);
  p->agency = es_strdup(x->agency);
  p->topic = es_strdup(a->topic);
  p->expl_es = es_strdup(es);
  p->expl_en = es_strdup(en);
  p->kind = x->kind;
  p->level = a->level;
  p->window_start = x->start;
  p->rank = a->rank;
  p->f = a->f;
  res->nprio++; /* counted even on OOM so pz_batch_result_free releases the parts */
  return p->agency && p->topic && p->expl_es && p->expl_en ? 0 : -1;
}

static int apply_actions(rank_ctx *x, topic_acc **order, size_t n);
static int flush_priorities(pz_store *s);

/* A float8 as num() has it in JSON: NaN and infinities are NULL. */
static void bin_num(es_buf *b, double v) { bin_f8(b, isfinite(v) ? v : NAN); }

/* Appends the priorities row of topic a to s->prio (binary COPY, pz_prio_in's columns). */
static int prio_row(pz_store *s, const rank_ctx *x, const topic_acc *a, const char *es, const char *en) {
  json_t *fj = factors_json(&a->f, &s->cfg.params);
  char *factors = fj ? json_dumps(fj, JSON_COMPACT) : NULL;
  json_decref(fj);
  if (!factors) return -1;
  es_buf *b = &s->prio;
  const char *kind = PZ_WINDOW_NAMES[x->kind];
  size_t need = 2 + 22 * 4 + 16 * 8 + 2 + 4 + 1 + strlen(x->agency) + strlen(a->topic) + strlen(kind) +
                strlen(factors) + strlen(es) + strlen(en);
  int rc = -1;
  if ((b->len == 0 && bin_begin(b) != 0) || es_buf_reserve(b, need) != 0) goto cleanup;
  const pz_factors *f = &a->f;
  es_pg_be16(b->data + b->len, 22);
  b->len += 2;
  bin_text(b, x->agency), bin_text(b, a->topic), bin_text(b, kind);
  bin_tstz(b, x->start);
  bin_i16(b, a->level);
  char r4[4];
  es_pg_be32(r4, (uint32_t)a->rank);
  bin_raw(b, r4, 4);
  bin_num(b, f->score), bin_u64(b, (uint64_t)f->volume);
  bin_num(b, f->negative_share), bin_num(b, f->negative_low), bin_num(b, f->negative_high);
  bin_num(b, f->spike_z), bin_num(b, f->spike_p), bin_num(b, f->baseline), bin_num(b, f->nps);
  bin_num(b, f->nps_impact), bin_num(b, f->csat), bin_num(b, f->csat_impact), bin_num(b, f->urgent_share);
  bin_jsonb(b, factors);
  bin_text(b, es), bin_text(b, en);
  s->nprio_rows++;
  rc = 0;
cleanup:
  free(factors);
  return rc;
}

/* Scores, ranks, writes priorities, collects updates to publish. */
static int rank_and_write(rank_ctx *x) {
  pz_store *s = x->s;
  const pz_store_cfg *cfg = &s->cfg;
  int K = cfg->history_windows, rc = -1;
  double fraction = (double)(x->now - x->start + 1) / (double)x->len;
  topic_acc **order = calloc(x->nt + 1, sizeof *order);
  if (!order) goto cleanup;
  size_t n = 0;
  for (size_t i = 0; i < x->nt; i++) {
    topic_acc *a = &x->t[i];
    if (a->cur.total == 0) continue; /* nothing this window: nothing to prioritise */
    pz_factors_compute(&a->cur, &x->all, a->hist + (K - x->nhist), x->nhist, fraction, &cfg->params, &a->f);
    order[n++] = a;
  }
  qsort(order, n, sizeof *order, cmp_rank);
  unsigned rank = 0;
  int level = 0, kept = 0;
  for (size_t i = 0; i < n; i++) {
    topic_acc *a = order[i];
    if (a->level != level) level = a->level, rank = 0, kept = 0;
    a->rank = ++rank;
    char es[512], en[512];
    pz_explain(es, sizeof es, "es", es_taxonomy_label(cfg->taxonomy, a->topic, "es"), x->agency, x->kind, &a->f);
    pz_explain(en, sizeof en, "en", es_taxonomy_label(cfg->taxonomy, a->topic, "en"), x->agency, x->kind, &a->f);
    if (prio_row(s, x, a, es, en) != 0) goto cleanup;
    if (kept++ < cfg->publish_top && keep_priority(x, a, es, en) != 0) goto cleanup;
    if (a->f.has_baseline && a->f.spike_p < cfg->spike_p && first_spike(s, x, a)) x->res->new_spikes++;
  }
  x->res->ranked += n;
  /* bounded statement size with many agencies */
  if (s->nprio_rows >= PRIO_FLUSH_ROWS && flush_priorities(s) != 0) goto cleanup;
  rc = x->kind == cfg->action_window ? apply_actions(x, order, n) : 0;
cleanup:
  free(order);
  return rc;
}

/* Writes the priorities rows of every ranking of this transaction in one
 * upsert: one statement per transaction instead of one per agency and window
 * (each agency is ranked at most once per transaction, so no row twice). */
static int flush_priorities(pz_store *s) {
  if (s->nprio_rows == 0) return 0;
  if (settle(s) != 0) return -1;
  es_buf *b = &s->prio;
  int rc = bin_end(b);
  /* The temp table holds the previous chunk of this transaction, if any. */
  if (!rc) rc = es_pg_exec(s->c, "TRUNCATE pz_prio_in");
  if (!rc) rc = copy_in(s, "priorities", "COPY pz_prio_in FROM STDIN (FORMAT binary)", b, 0) != 0 ? -1 : 0;
  b->len = 0, s->nprio_rows = 0;
  if (rc) return -1;
  /* Sent, not waited for: the server upserts these rows while the next
   * agencies are scored; the next statement, or the end of the ranking,
   * settles it. */
  s->prio_sent = PQsendQuery(s->c, SQL_PRIORITIES);
  if (!s->prio_sent) es_error("pg_query_failed", "priorities: %s", PQerrorMessage(s->c));
  return s->prio_sent ? 0 : -1;
}

/* Waits for the priorities upsert sent by flush_priorities, if any. */
static int settle(pz_store *s) {
  if (!s->prio_sent) return 0;
  s->prio_sent = 0;
  int rc = 0;
  for (PGresult *r; (r = PQgetResult(s->c)) != NULL; PQclear(r))
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      es_error("pg_query_failed", "priorities: %s", PQresultErrorMessage(r));
      rc = -1;
    }
  return rc;
}

/* Rows of a transaction that rolled back are not written. */
static void forget_priorities(pz_store *s) {
  if (s->c) settle(s); /* before ROLLBACK: the connection answers one statement at a time */
  s->prio.len = 0, s->nprio_rows = 0;
}

/* ---- action plans ---- */

typedef struct plan {
  const char *id, *topic;
  int open;
  int64_t last_hot, closed;
  int seen;
} plan;

static const char SQL_PLANS[] =
    "SELECT id, topic, status = 'open', coalesce(" MS("last_hot_at")
        ", 0),"
        " coalesce(" MS("closed_at")
            ", 0) FROM action_plans" /* topic plans only: a case (issue 16) has no score to close it by */
            " WHERE agency = $1 AND kind = 'plan' AND (status = 'open' OR closed_at >= " TS(2) ")";
/* The same for every agency ranked in the transaction (i, agency, since ms),
 * ordered by agency; the last column is i. */
static const char SQL_PLANS_ALL[] =
    "SELECT p.id, p.topic, p.status = 'open', coalesce(" MS("p.last_hot_at") ", 0), coalesce(" MS(
        "p.closed_at") ", 0), u.i"
                       " FROM jsonb_to_recordset($1::jsonb) AS u(i int, agency text, now bigint, since bigint)"
                       " JOIN action_plans p ON p.agency = u.agency AND p.kind = 'plan'"
                       " AND (p.status = 'open' OR p.closed_at >= " TSX("u.since") ") ORDER BY u.i";

static const char SQL_OPEN[] =
    "INSERT INTO action_plans (id, agency, topic, status, opened_at, last_hot_at, priority,"
    " request_id, request_pb, follows_plan) VALUES ($1, $2, $3, 'open', " TS(4) ", " TS(4)
        ", $5::jsonb, $6,"
        " $7::bytea, $8) ON CONFLICT (agency, topic) WHERE status = 'open' DO NOTHING RETURNING id";
static const char SQL_HOT[] =
    "UPDATE action_plans SET last_hot_at = greatest(last_hot_at, " TS(2)
        "), updated_at = now()"
        " WHERE id = $1 AND status = 'open'";
static const char SQL_CLOSE[] =
    "UPDATE action_plans SET status = 'closed', closed_at = " TS(2)
        ", updated_at = now()"
        " WHERE id = $1 AND status = 'open'";
static const char SQL_AUDIT[] =
    "INSERT INTO audit_log (actor, entity, entity_id, action, detail)"
    " VALUES ('escucha-prioritize', 'action_plan', $1, $2, $3::jsonb)";

static int audit(pz_store *s, const char *id, const char *action, const char *detail) {
  const char *p[] = {id, action, detail};
  return q_ok(s, "audit", SQL_AUDIT, 3, p);
}

/* Serialises the ActionRequest stored in the outbox column. */
static unsigned char *action_request(const rank_ctx *x, const topic_acc *a, char *es, char *en, const char *request_id,
                                     size_t *len) {
  pz_priority p = {(char *)x->agency, (char *)a->topic, es, en, x->kind, a->level, x->start, a->rank, a->f};
  Escucha__V1__PriorityUpdate u;
  Escucha__V1__WilsonInterval ci;
  Escucha__V1__PriorityUpdate__FactorsEntry fe[16], *fv[16];
  size_t nf;
  pz_priority_to_pb(&p, &u, &ci, fe, fv, &nf);
  Escucha__V1__ActionRequest ar = ESCUCHA__V1__ACTION_REQUEST__INIT;
  ar.agency = (char *)x->agency;
  ar.topic = (char *)a->topic;
  ar.priority = &u;
  ar.request_id = (char *)request_id;
  ar.has_requested_at = 1;
  ar.requested_at = x->now;
  *len = escucha__v1__action_request__get_packed_size(&ar);
  unsigned char *buf = malloc(*len ? *len : 1);
  if (buf) escucha__v1__action_request__pack(&ar, buf);
  return buf;
}

/* Opens a plan for a's topic. follows: the earlier plan that did not work
 * (NULL: none), and its finding is put before the explanation (es, en). The
 * id opened is copied to opened (27 bytes, "" when another instance was
 * first) when not NULL. */
static int open_plan(rank_ctx *x, const topic_acc *a, const char *follows, const char *const finding[2], char *opened) {
  char id[27], now[32], *request_id = NULL, *snap = NULL, *hex = NULL;
  unsigned char *pb = NULL;
  PGresult *r = NULL;
  int rc = -1;
  es_ulid(id);
  snprintf(now, sizeof now, "%lld", (long long)x->now);
  size_t rlen = strlen(x->agency) + strlen(a->topic) + sizeof id + 3, pblen = 0;
  request_id = malloc(rlen);
  if (!request_id) goto cleanup;
  snprintf(request_id, rlen, "%s/%s/%s", x->agency, a->topic, id);
  char es[1024], en[1024];
  const pz_store_cfg *cfg = &x->s->cfg;
  size_t fe = finding ? (size_t)snprintf(es, sizeof es, "%s ", finding[0]) : 0;
  size_t fn = finding ? (size_t)snprintf(en, sizeof en, "%s ", finding[1]) : 0;
  if (fe >= sizeof es / 2 || fn >= sizeof en / 2) fe = fn = 0;
  pz_explain(es + fe, sizeof es - fe, "es", es_taxonomy_label(cfg->taxonomy, a->topic, "es"), x->agency, x->kind,
             &a->f);
  pz_explain(en + fn, sizeof en - fn, "en", es_taxonomy_label(cfg->taxonomy, a->topic, "en"), x->agency, x->kind,
             &a->f);
  if (opened) opened[0] = 0;
  json_t *j = priority_json(x, a, es, en);
  snap = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  pb = action_request(x, a, es, en, request_id, &pblen);
  hex = malloc(2 * pblen + 3);
  if (!snap || !pb || !hex) goto cleanup;
  hex[0] = '\\', hex[1] = 'x'; /* bytea hex input: text parameters stay text */
  es_hex(pb, pblen, hex + 2);
  const char *p[] = {id, x->agency, a->topic, now, snap, request_id, hex, follows};
  r = q(x->s, "open_plan", SQL_OPEN, 8, p, PGRES_TUPLES_OK);
  if (!r) goto cleanup;
  rc = 0;
  if (PQntuples(r) == 1) { /* 0: another instance opened it first */
    if (opened) memcpy(opened, id, sizeof id);
    rc = audit(x->s, id, "open", snap);
    x->res->opened++;
    es_info("action_plan_opened", "agency=%s topic=%s plan=%s score=%.3f", x->agency, a->topic, id, a->f.score);
  }
cleanup:
  PQclear(r);
  free(hex);
  free(pb);
  free(snap);
  free(request_id);
  return rc;
}

/* "other" (unclassified) and "praise" are ranked like any topic but nobody
 * should get a ticket for them; the list is configurable (--quiet-topics). */
static int quiet_topic(const char *list, const char *topic) {
  size_t tl = strcspn(topic, "/");
  for (const char *p = list; p && *p;) {
    size_t n = strcspn(p, ",");
    if (n == tl && strncmp(p, topic, n) == 0) return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

static int decide(rank_ctx *x, const topic_acc *a, plan *pl, size_t npl, double score, uint64_t volume) {
  pz_plan_state st = {0};
  plan *open = NULL;
  for (size_t i = 0; i < npl; i++) {
    if (strcmp(pl[i].topic, a->topic) != 0) continue;
    pl[i].seen = 1;
    if (pl[i].open) open = &pl[i], st.has_open = 1, st.last_hot_ms = pl[i].last_hot;
    else if (!st.has_closed || pl[i].closed > st.last_closed_ms) st.has_closed = 1, st.last_closed_ms = pl[i].closed;
  }
  char now[32];
  snprintf(now, sizeof now, "%lld", (long long)x->now);
  int act = pz_hysteresis(&x->s->cfg.hyst, &st, score, volume, x->now);
  if (act == PZ_ACT_OPEN && quiet_topic(x->s->cfg.quiet_topics, a->topic)) act = PZ_ACT_NONE;
  switch (act) {
    case PZ_ACT_OPEN: return open_plan(x, a, NULL, NULL, NULL);
    case PZ_ACT_HOT: {
      const char *p[] = {open->id, now};
      return q_ok(x->s, "plan_hot", SQL_HOT, 2, p);
    }
    case PZ_ACT_CLOSE: return 0; /* handled by close_plan (needs the plan, not the topic) */
    default: return 0;
  }
}

static int close_plan(rank_ctx *x, plan *p, double score) {
  pz_plan_state st = {1, p->last_hot, 0, 0};
  if (pz_hysteresis(&x->s->cfg.hyst, &st, score, 0, x->now) != PZ_ACT_CLOSE) return 0;
  char now[32], detail[128];
  snprintf(now, sizeof now, "%lld", (long long)x->now);
  snprintf(detail, sizeof detail, "{\"score\":%.6f,\"reason\":\"below close threshold\"}", score);
  const char *par[] = {p->id, now};
  if (q_ok(x->s, "plan_close", SQL_CLOSE, 2, par) != 0) return -1;
  x->res->closed++;
  es_info("action_plan_closed", "agency=%s topic=%s plan=%s", x->agency, p->topic, p->id);
  return audit(x->s, p->id, "close", detail);
}

/* ---- effectiveness of closed plans (docs/prioritization.md, "Effectiveness") ---- */

/* Closed plans whose K days after closure are over and that have no verdict
 * yet, and not-effective ones still waiting for their follow-up plan. */
static const char SQL_EFFECT_DUE[] =
    "SELECT d.id, d.topic, d.checked, d.open_id, u.i"
    " FROM jsonb_to_recordset($1::jsonb) AS u(i int, agency text, now bigint, since bigint) CROSS JOIN LATERAL"
    " (SELECT p.id, p.topic, e.plan_id IS NOT NULL AS checked, p.closed_at, (SELECT o.id FROM action_plans o"
    "  WHERE o.agency = p.agency AND o.topic = p.topic AND o.status = 'open' AND o.kind = 'plan') AS open_id"
    "  FROM action_plans p LEFT JOIN action_effects e ON e.plan_id = p.id"
    "  WHERE p.agency = u.agency AND p.status = 'closed' AND p.kind = 'plan' AND ((e.plan_id IS NULL"
    "  AND date_trunc('day', p.closed_at, 'UTC') + make_interval(days => $2::int + 1) <= " TSX("u.now")
        ") OR (e.verdict = 'not_effective' AND e.followup_plan IS NULL))"
        "  ORDER BY p.closed_at LIMIT 20) d ORDER BY u.i, d.closed_at";
/* Complaints (the topic's negative items) and the agency's feedback in the K
 * whole days before the closure day and the K days after it. */
static const char SQL_EFFECT_COUNTS[] =
    "WITH b AS (SELECT date_trunc('day', closed_at, 'UTC') d, closed_at FROM action_plans WHERE id = $1)"
    " SELECT coalesce(sum(s.negative) FILTER (WHERE s.topic = $2 AND s.window_start < b.d), 0),"
    "  coalesce(sum(s.total) FILTER (WHERE s.topic = '*' AND s.window_start < b.d), 0),"
    "  coalesce(sum(s.negative) FILTER (WHERE s.topic = $2 AND s.window_start > b.d), 0),"
    "  coalesce(sum(s.total) FILTER (WHERE s.topic = '*' AND s.window_start > b.d), 0), min(b.closed_at)"
    " FROM b LEFT JOIN topic_window_stats s ON s.agency = $3 AND s.window_kind = 'day' AND s.topic IN ($2, '*')"
    "  AND s.window_start >= b.d - make_interval(days => $4::int)"
    "  AND s.window_start <= b.d + make_interval(days => $4::int)"
    " GROUP BY b.d";
static const char SQL_EFFECT_INSERT[] =
    "WITH e AS (INSERT INTO action_effects (plan_id, agency, topic, closed_at, window_days, before_complaints,"
    " before_total, after_complaints, after_total, rate_before, rate_after, rate_ratio, ci_low, ci_high, p_drop,"
    " verdict) VALUES ($1, $2, $3, $4::timestamptz, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    " ON CONFLICT (plan_id) DO NOTHING RETURNING plan_id)"
    " UPDATE action_plans SET effect = $16, updated_at = now() WHERE id IN (SELECT plan_id FROM e) RETURNING id";
static const char SQL_EFFECT_FOLLOWUP[] =
    "WITH e AS (UPDATE action_effects SET followup_plan = $2 WHERE plan_id = $1 AND followup_plan IS NULL"
    " RETURNING plan_id)"
    " UPDATE action_plans SET follows_plan = coalesce(follows_plan, $1), updated_at = now()"
    " WHERE id = $2 AND EXISTS (SELECT 1 FROM e)";

static void num_or_null(char *buf, size_t n, double v, const char **out) {
  if (isfinite(v)) snprintf(buf, n, "%.17g", v), *out = buf;
  else *out = NULL;
}

/* Checks one plan; *verdict gets PZ_* (-1: nothing written, another instance was first). */
static int effect_check(rank_ctx *x, const char *plan_id, const char *topic, int *verdict, es_effect *e) {
  const pz_store_cfg *cfg = &x->s->cfg;
  char days[16];
  snprintf(days, sizeof days, "%d", cfg->effect_days);
  const char *p[] = {plan_id, topic, x->agency, days};
  PGresult *r = q(x->s, "effect_counts", SQL_EFFECT_COUNTS, 4, p, PGRES_TUPLES_OK);
  if (!r) return -1;
  int rc = -1;
  *verdict = -1;
  if (PQntuples(r) != 1) goto cleanup;
  es_effect_counts c = {u64(r, 0, 0), u64(r, 0, 1), u64(r, 0, 2), u64(r, 0, 3)};
  es_effect_compute(&c, 0.95, (uint64_t)cfg->effect_min_events, e);
  char v[10][32];
  const char *w[16] = {plan_id, x->agency, topic, PQgetvalue(r, 0, 4), days};
  for (int i = 0; i < 4; i++) snprintf(v[i], sizeof v[i], "%s", PQgetvalue(r, 0, i)), w[5 + i] = v[i];
  num_or_null(v[4], sizeof v[4], e->rate_before, &w[9]);
  num_or_null(v[5], sizeof v[5], e->rate_after, &w[10]);
  num_or_null(v[6], sizeof v[6], e->rr, &w[11]);
  num_or_null(v[7], sizeof v[7], e->rr_low, &w[12]);
  num_or_null(v[8], sizeof v[8], e->rr_high, &w[13]);
  num_or_null(v[9], sizeof v[9], e->p_drop, &w[14]);
  w[15] = ES_EFFECT_NAMES[e->verdict];
  PGresult *ins = q(x->s, "effect_insert", SQL_EFFECT_INSERT, 16, w, PGRES_TUPLES_OK);
  if (!ins) goto cleanup;
  int wrote = PQntuples(ins) == 1;
  PQclear(ins);
  rc = 0;
  if (!wrote) goto cleanup;
  *verdict = e->verdict;
  char detail[320];
  snprintf(detail, sizeof detail,
           "{\"verdict\":\"%s\",\"before\":[%s,%s],\"after\":[%s,%s],\"rate_ratio\":%s,\"ci\":[%s,%s]}", w[15], w[5],
           w[6], w[7], w[8], w[11] ? w[11] : "null", w[12] ? w[12] : "null", w[13] ? w[13] : "null");
  rc = audit(x->s, plan_id, "effect_checked", detail);
  es_info("action_effect", "agency=%s topic=%s plan=%s verdict=%s", x->agency, topic, plan_id, w[15]);
cleanup:
  PQclear(r);
  return rc;
}

/* What the follow-up plan says first: the finding about the earlier one. */
static void effect_finding(const char *plan_id, const es_effect *e, const pz_store_cfg *cfg, char es[300],
                           char en[300]) {
  int pct = isfinite(e->rr) ? (int)lround((e->rr - 1.0) * 100.0) : 0;
  snprintf(es, 300,
           "El plan anterior (%s) no redujo las quejas: en los %d días después de cerrarlo hubo %.1f por cada mil "
           "comentarios, antes %.1f (%+d%%).",
           plan_id, cfg->effect_days, e->rate_after, e->rate_before, pct);
  snprintf(en, 300,
           "The previous plan (%s) did not reduce complaints: in the %d days after it closed there were %.1f per "
           "thousand comments, before %.1f (%+d%%).",
           plan_id, cfg->effect_days, e->rate_after, e->rate_before, pct);
}

/* Plans of the agency due for a verdict (x->due), first. */
static int check_effects(rank_ctx *x) {
  PGresult *r = x->due->r;
  for (int i = x->due->lo; i < x->due->hi; i++) {
    const char *id = PQgetvalue(r, i, 0), *topic = PQgetvalue(r, i, 1);
    int verdict = ES_NOT_EFFECTIVE, checked = PQgetvalue(r, i, 2)[0] == 't';
    es_effect e = {0};
    if (!checked && effect_check(x, id, topic, &verdict, &e) != 0) return -1;
    if (verdict != ES_NOT_EFFECTIVE) continue;
    char follow[27] = "";
    if (!PQgetisnull(r, i, 3)) snprintf(follow, sizeof follow, "%s", PQgetvalue(r, i, 3)); /* already open */
    else if (!quiet_topic(x->s->cfg.quiet_topics, topic)) {
      topic_acc *a = NULL;
      for (size_t k = 0; k < x->nt && !a; k++)
        if (strcmp(x->t[k].topic, topic) == 0) a = &x->t[k];
      if (!a) continue; /* no figures for the topic in this window: the next ranking that has them */
      if (checked) {    /* the finding of an earlier pass: its numbers from the stored effect */
        PGresult *f = q(x->s, "effect_get",
                        "SELECT rate_before, rate_after, coalesce(rate_ratio, 'NaN')"
                        " FROM action_effects WHERE plan_id = $1",
                        1, &id, PGRES_TUPLES_OK);
        if (!f) return -1;
        if (PQntuples(f) == 1)
          e.rate_before = atof(PQgetvalue(f, 0, 0)), e.rate_after = atof(PQgetvalue(f, 0, 1)),
          e.rr = atof(PQgetvalue(f, 0, 2));
        PQclear(f);
      }
      char es[300], en[300];
      effect_finding(id, &e, &x->s->cfg, es, en);
      const char *finding[2] = {es, en};
      if (open_plan(x, a, id, finding, follow) != 0) return -1;
    }
    if (follow[0]) {
      const char *f[] = {id, follow};
      if (q_ok(x->s, "effect_followup", SQL_EFFECT_FOLLOWUP, 2, f) != 0) return -1;
    }
  }
  return 0;
}

static int apply_actions(rank_ctx *x, topic_acc **order, size_t n) {
  const pz_store_cfg *cfg = &x->s->cfg;
  char since[32];
  snprintf(since, sizeof since, "%lld", (long long)(x->now - cfg->hyst.cooldown_ms));
  /* verdicts first: a follow-up plan opened here is then an open plan below */
  if (x->due && check_effects(x) != 0) return -1;
  /* The plans read for every agency before ranking, unless an effect check
   * (which may open a follow-up plan) ran for this one: then read again. */
  PGresult *r = x->plans->r, *own = NULL;
  int lo = x->plans->lo, npl = x->plans->hi - lo, rc = -1;
  if (x->due && x->due->hi > x->due->lo) {
    const char *p[] = {x->agency, since};
    r = own = q(x->s, "plans", SQL_PLANS, 2, p, PGRES_TUPLES_OK);
    if (!r) return -1;
    lo = 0, npl = PQntuples(r);
  }
  plan *pl = calloc((size_t)npl + 1, sizeof *pl);
  if (!pl) goto cleanup;
  for (int i = 0; i < npl; i++)
    pl[i] = (plan){PQgetvalue(r, lo + i, 0),
                   PQgetvalue(r, lo + i, 1),
                   PQgetvalue(r, lo + i, 2)[0] == 't',
                   strtoll(PQgetvalue(r, lo + i, 3), NULL, 10),
                   strtoll(PQgetvalue(r, lo + i, 4), NULL, 10),
                   0};
  for (size_t i = 0; i < n; i++) {
    topic_acc *a = order[i];
    if (a->level != cfg->action_level) continue;
    if (decide(x, a, pl, (size_t)npl, a->f.score, a->f.volume) != 0) goto cleanup;
    for (int j = 0; j < npl; j++)
      if (pl[j].open && strcmp(pl[j].topic, a->topic) == 0 && close_plan(x, &pl[j], a->f.score) != 0) goto cleanup;
  }
  /* Open plans of topics with no feedback in this window: score 0. */
  for (int j = 0; j < npl; j++)
    if (pl[j].open && !pl[j].seen && close_plan(x, &pl[j], 0.0) != 0) goto cleanup;
  rc = 0;
cleanup:
  free(pl);
  PQclear(own);
  return rc;
}

static int rank_window(rank_ctx *x) {
  int rc = -1;
  uint64_t t0 = es_mono_ns();
  if (load_history(x) != 0) goto cleanup;
  rc = rank_and_write(x);
  es_debug("rank_timing", "kind=%d topics=%zu rank_ms=%.1f", x->kind, x->nt, (double)(es_mono_ns() - t0) / 1e6);
cleanup:
  for (size_t i = 0; i < x->nt; i++) free(x->t[i].hist);
  free(x->t);
  return rc;
}

/* The rows of job i in r (ordered by job, the job in column col) from *at on. */
static rows_of job_rows(PGresult *r, int *at, size_t i, int col) {
  rows_of o = {r, *at, *at};
  while (r && o.hi < PQntuples(r) && strtoull(PQgetvalue(r, o.hi, col), NULL, 10) == i) o.hi++;
  *at = o.hi;
  return o;
}

/* Ranks the current windows of n agencies (inside the caller's transaction),
 * one after the other as before, but with what ranking reads fetched for all
 * of them at once: one statement for the history of every window, one for the
 * plans due an effect check, one for the plans (docs/prioritization.md). The
 * cost of a ranking is then its scoring and writes, not round trips. Stops
 * after the agency that ends past until (monotonic ns; 0: none); *done gets
 * how many were ranked. */
static int rank_agencies(pz_store *s, pz_batch_result *res, agency_time *const *ag, size_t n, uint64_t until,
                         size_t *done) {
  *done = 0;
  if (n == 0) return 0;
  const pz_store_cfg *cfg = &s->cfg;
  int K = cfg->history_windows, rc = -1;
  PGresult *hist = NULL, *due = NULL, *plans = NULL;
  char *jobs = NULL, *agencies = NULL;
  json_t *hj = json_array(), *aj = json_array();
  if (!hj || !aj) goto cleanup;
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < PZ_NWINDOWS; k++) {
      int64_t start = pz_window_start(k, ag[i]->now), len = pz_window_len_ms(k);
      if (json_array_append_new(hj, json_pack("{s:I,s:s,s:s,s:I,s:I}", "i", (json_int_t)(i * PZ_NWINDOWS + (size_t)k),
                                              "agency", ag[i]->agency, "kind", PZ_WINDOW_NAMES[k], "f",
                                              (json_int_t)(start - K * len), "t", (json_int_t)start)) != 0)
        goto cleanup;
    }
    if (json_array_append_new(
            aj, json_pack("{s:I,s:s,s:I,s:I}", "i", (json_int_t)i, "agency", ag[i]->agency, "now",
                          (json_int_t)ag[i]->now, "since", (json_int_t)(ag[i]->now - cfg->hyst.cooldown_ms))) != 0)
      goto cleanup;
  }
  jobs = json_dumps(hj, JSON_COMPACT);
  agencies = json_dumps(aj, JSON_COMPACT);
  if (!jobs || !agencies) goto cleanup;
  char days[16];
  snprintf(days, sizeof days, "%d", cfg->effect_days);
  const char *hp[] = {jobs}, *dp[] = {agencies, days};
  if (!(hist = q(s, "history", SQL_HISTORY, 1, hp, PGRES_TUPLES_OK))) goto cleanup;
  if (cfg->effect_days > 0 && !(due = q(s, "effect_due", SQL_EFFECT_DUE, 2, dp, PGRES_TUPLES_OK))) goto cleanup;
  if (!(plans = q(s, "plans", SQL_PLANS_ALL, 1, dp, PGRES_TUPLES_OK))) goto cleanup;
  int hat = 0, dat = 0, pat = 0;
  for (size_t i = 0; i < n; i++) {
    rows_of d = job_rows(due, &dat, i, 4), pl = job_rows(plans, &pat, i, 5);
    for (int k = 0; k < PZ_NWINDOWS; k++) {
      rows_of h = job_rows(hist, &hat, i * PZ_NWINDOWS + (size_t)k, 13);
      rank_ctx x = {s, res, ag[i]->agency, k, ag[i]->now, pz_window_start(k, ag[i]->now), pz_window_len_ms(k)};
      x.hist = &h, x.due = due ? &d : NULL, x.plans = &pl;
      if (rank_window(&x) != 0) goto cleanup;
    }
    uint64_t now = es_mono_ns(), waited = now - ag[i]->dirty_ns;
    if (waited > res->rank_wait_ns) res->rank_wait_ns = waited;
    ag[i]->dirty = 0;
    ag[i]->ranked_ns = now;
    *done = i + 1;
    if (until && now >= until) break; /* the rest stay pending */
  }
  rc = 0;
cleanup:
  json_decref(hj);
  json_decref(aj);
  free(jobs);
  free(agencies);
  PQclear(hist);
  PQclear(due);
  PQclear(plans);
  return rc;
}

/* ---- the batch transaction ---- */

/* The agency's entry in the remembered event times, or NULL. */
static agency_time *known_agency(pz_store *s, const char *agency) {
  for (size_t i = 0; i < s->nnow; i++)
    if (strcmp(s->nows[i].agency, agency) == 0) return &s->nows[i];
  return NULL;
}

/* Event-time "now" of an agency: the newest received_at stored, so a batch of
 * late or replayed rows neither moves time backwards nor re-ranks old windows.
 * Remembered per agency; the database is asked once per agency and process
 * (max() over a fast-growing index inside the write transaction is slow). */
static agency_time *agency_now(pz_store *s, const char *agency, int64_t now) {
  agency_time *a = known_agency(s, agency);
  if (a) {
    if (now > a->now) a->now = now;
    return a;
  }
  const char *p[] = {agency};
  PGresult *r = q(s, "agency_now",
                  "SELECT " MS("received_at")
                      " FROM feedback WHERE agency = $1"
                      " ORDER BY received_at DESC LIMIT 1",
                  1, p, PGRES_TUPLES_OK);
  if (!r) return NULL;
  if (PQntuples(r) == 1) {
    int64_t m = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (m > now) now = m;
  }
  PQclear(r);
  if (s->nnow == MAX_AGENCIES) forget_nows(s); /* bounded: re-learned on demand */
  char *copy = es_strdup(agency);
  if (!copy) return NULL;
  s->nows[s->nnow] = (agency_time){copy, now, 0, 0};
  return &s->nows[s->nnow++];
}

static int rank_due(const pz_store *s, const agency_time *a) {
  return a->ranked_ns == 0 || /* never ranked by this process */
         es_mono_ns() - a->ranked_ns >= (uint64_t)s->cfg.rank_interval_ms * 1000000ULL;
}

static int cmp_waiting(const void *pa, const void *pb) {
  const agency_time *a = *(agency_time *const *)pa, *b = *(agency_time *const *)pb;
  if (a->dirty_ns != b->dirty_ns) return a->dirty_ns < b->dirty_ns ? -1 : 1;
  return strcmp(a->agency, b->agency);
}

static int cmp_agency(const void *pa, const void *pb) {
  return strcmp((*(agency_time *const *)pa)->agency, (*(agency_time *const *)pb)->agency);
}

/* How many of the ndue agencies in s->due to rank now (the first ones, the
 * longest waiting when not all). Ranking costs scoring and a priorities row per topic
 * and window per agency; with hundreds of agencies a round of all of them
 * costs seconds, more than the rows that made them due. So ranking gets
 * cfg.rank_share of the service's time (a credit growing with wall time, spent
 * by the rankings done) and a round that costs more is spread over
 * transactions: a ranking is then at most about max(rank_interval, round cost /
 * rank_share) old. force (idle, shutdown) ranks all of them. */
static size_t rank_allowance(pz_store *s, size_t ndue, int force) {
  uint64_t now = es_mono_ns();
  s->rank_credit += (int64_t)((double)(now - s->credit_ns) * s->cfg.rank_share);
  if (s->rank_credit > RANK_CREDIT_NS) s->rank_credit = RANK_CREDIT_NS;
  s->credit_ns = now;
  size_t k = ndue;
  if (!force) {
    double fit = s->rank_credit <= 0 ? 0 : 1.0 + (double)s->rank_credit / s->agency_ns;
    if (fit < (double)ndue) k = (size_t)fit;
  }
  if (k < ndue) qsort(s->due, ndue, sizeof *s->due, cmp_waiting);
  /* ranked in agency order: the priorities upserts lock rows in one order across instances */
  qsort(s->due, k, sizeof *s->due, cmp_agency);
  return k;
}

/* Ranks the first k of the ndue agencies in s->due (k from rank_allowance) and
 * writes their priorities; the others stay dirty (pz_store_rank_pending). */
static int rank_some(pz_store *s, pz_batch_result *res, size_t ndue, size_t k, int force) {
  size_t done = 0;
  if (k == 0) return 0;
  uint64_t t0 = es_mono_ns(), until = force ? 0 : t0 + (uint64_t)s->rank_credit; /* credit > 0 here */
  /* in chunks: what is read for agencies the deadline leaves out is at most one chunk */
  for (size_t at = 0; at < k;) {
    size_t n = k - at < s->rank_chunk ? k - at : s->rank_chunk, got = 0;
    if (rank_agencies(s, res, s->due + at, n, until, &got) != 0) return -1;
    done += got;
    at += n;
    if (got < n || (until && es_mono_ns() >= until)) break;
  }
  if (flush_priorities(s) != 0 || settle(s) != 0) return -1;
  uint64_t spent = es_mono_ns() - t0;
  s->rank_credit -= (int64_t)spent;
  s->agency_ns = (s->agency_ns + (double)spent / (double)done) / 2;
  es_debug("rank_round", "ranked=%zu due=%zu spent_ms=%.1f credit_ms=%.1f", done, ndue, (double)spent / 1e6,
           (double)s->rank_credit / 1e6);
  return 0;
}

/* After a ranking transaction rolled back: which of its agencies it had
 * ranked is unknown, so every known one is ranked again (conservative). */
static void redirty_all(pz_store *s) {
  for (size_t i = 0; i < s->nnow; i++) {
    if (!s->nows[i].dirty) s->nows[i].dirty_ns = es_mono_ns();
    s->nows[i].dirty = 1;
  }
}

int pz_store_inserted(const pz_store *s, size_t i) { return s->skip && s->skip[i] == 0; }

/* fresh[i..nfresh) is sorted by agency: where agency fresh[i]'s rows end, and
 * their latest received_at in *newest. */
static size_t agency_run(const pz_store *s, size_t i, size_t nfresh, int64_t *newest) {
  const char *agency = s->fresh[i].r->agency;
  *newest = 0;
  for (; i < nfresh && strcmp(s->fresh[i].r->agency, agency) == 0; i++)
    if (s->fresh[i].r->received_at > *newest) *newest = s->fresh[i].r->received_at;
  return i;
}

/* An agency got rows (newest: their latest received_at) that are now in the
 * aggregates; since_ns: monotonic time they committed. Adds it to s->due when
 * its rank interval has passed. */
static int mark_dirty(pz_store *s, pz_batch_result *res, const char *agency, int64_t newest, uint64_t since_ns,
                      size_t *ndue) {
  /* agency_now forgets every agency when its table is full: rank those collected first */
  if (s->nnow == MAX_AGENCIES && *ndue && !known_agency(s, agency)) {
    if (rank_some(s, res, *ndue, rank_allowance(s, *ndue, 0), 0) != 0) return -1;
    *ndue = 0;
  }
  agency_time *a = agency_now(s, agency, newest);
  if (!a) return -1;
  if (!a->dirty) a->dirty_ns = since_ns;
  a->dirty = 1; /* stays set if this transaction rolls back: ranked later */
  /* Ranking costs scoring and writes per agency: at most once per
   * rank_interval per agency; pz_store_rank_pending catches up on the rest. */
  if (rank_due(s, a)) s->due[(*ndue)++] = a;
  return 0;
}

#define QUEUE_VERSION 1
#define DERIVE_BATCHES 8 /* queued batches applied together at most */

static int put32(es_buf *b, uint32_t v) {
  char x[4];
  es_pg_be32(x, v);
  return es_buf_append(b, x, 4);
}
static int put64(es_buf *b, uint64_t v) {
  char x[8];
  es_pg_be64(x, v);
  return es_buf_append(b, x, 8);
}
static int put_str(es_buf *b, const char *v) { /* NULL: length 0xffffffff */
  size_t len = v ? strlen(v) : 0;
  if (len >= UINT32_MAX) return -1;
  return put32(b, v ? (uint32_t)len : UINT32_MAX) || es_buf_append(b, v ? v : "", len);
}

/* The batch's hour groups (s->groups, sorted by agency) and its agencies with
 * their newest received_at, as one aggregate_queue row (layout: migrations/021). */
static int queue_batch(pz_store *s, size_t nfresh, size_t ngroups) {
  es_buf *b = &s->queued;
  b->len = 0;
  uint32_t nag = 0;
  const char head[5] = {QUEUE_VERSION}; /* and the agency count, set below */
  if (es_buf_append(b, head, sizeof head) != 0) return -1;
  for (size_t i = 0, j; i < nfresh; i = j) { /* fresh[] is sorted by agency */
    int64_t newest;
    j = agency_run(s, i, nfresh, &newest);
    if (put_str(b, s->fresh[i].r->agency) != 0 || put64(b, (uint64_t)newest) != 0) return -1;
    nag++;
  }
  es_pg_be32(b->data + 1, nag);
  if (ngroups > UINT32_MAX || put32(b, (uint32_t)ngroups) != 0) return -1;
  uint32_t ag = 0;
  for (size_t i = 0; i < ngroups; i++) { /* the same agency order: its index in the list above */
    const hour_group *g = &s->groups[i];
    if (i && strcmp(g->agency, s->groups[i - 1].agency) != 0) ag++;
    if (put32(b, ag) != 0 || put_str(b, g->category) != 0 || put_str(b, g->subcategory) != 0 ||
        put64(b, (uint64_t)g->hour) != 0)
      return -1;
    for (int k = 0; k < 10; k++)
      if (put64(b, g->c[k]) != 0) return -1;
  }
  char ms[24];
  snprintf(ms, sizeof ms, "%lld", (long long)es_now_ms());
  const char *v[] = {ms, b->data};
  int len[] = {0, (int)b->len}, fmt[] = {0, 1};
  if (b->len > INT32_MAX) return -1;
  PGresult *r =
      qb(s, "aggregate_queue", "INSERT INTO aggregate_queue (queued_ms, batch) VALUES ($1::bigint, $2::bytea)", 2, v,
         len, fmt, PGRES_COMMAND_OK, 0);
  PQclear(r);
  return r ? 0 : -1;
}

/* sql whose one parameter is a row limit, rows in binary (qb). */
static PGresult *q_limit_binary(pz_store *s, const char *what, const char *sql, int limit) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", limit);
  const char *v[] = {lim};
  return qb(s, what, sql, 1, v, NULL, NULL, PGRES_TUPLES_OK, 1);
}

/* The oldest queued batches no other instance is applying, removed in this
 * transaction (they come back if it rolls back). */
static const char SQL_CLAIM[] =
    "DELETE FROM aggregate_queue WHERE id IN (SELECT id FROM aggregate_queue ORDER BY id LIMIT $1::int"
    " FOR UPDATE SKIP LOCKED) RETURNING queued_ms, batch";

/* A queued batch being read: p[at..n). */
typedef struct reader {
  const unsigned char *p;
  size_t at, n;
} reader;
static int get32(reader *r, uint32_t *v) {
  if (r->n - r->at < 4) return -1;
  *v = es_pg_rd32(r->p + r->at);
  r->at += 4;
  return 0;
}
static int get64(reader *r, uint64_t *v) {
  if (r->n - r->at < 8) return -1;
  *v = es_pg_rd64(r->p + r->at);
  r->at += 8;
  return 0;
}
/* A string into s->strs (NUL-terminated); *off its offset, SIZE_MAX for NULL. */
static int get_str(pz_store *s, reader *r, size_t *off) {
  uint32_t len;
  if (get32(r, &len) != 0) return -1;
  if (len == UINT32_MAX) {
    *off = SIZE_MAX;
    return 0;
  }
  if (r->n - r->at < len) return -1;
  *off = s->strs.len;
  if (es_buf_append(&s->strs, r->p + r->at, len) != 0 || es_buf_append(&s->strs, "", 1) != 0) return -1;
  r->at += len;
  return 0;
}

/* An agency of a queued batch with its newest received_at. */
typedef struct named_time {
  const char *name;
  int64_t t;
} named_time;
static int cmp_named(const void *a, const void *b) {
  return strcmp(((const named_time *)a)->name, ((const named_time *)b)->name);
}

/* As pointers' stand-ins until s->strs no longer moves: offsets into it. */
#define STR_OFF(off) ((const char *)(uintptr_t)(off))

/* One queued batch read into s->groups (from *ng on) and its agencies into
 * *ags (from *nag_all on, grown as needed). Strings go to s->strs, their
 * pointers' places hold offsets (STR_OFF) for now. */
static int read_batch(pz_store *s, reader *r, named_time **ags, size_t *nag_all, size_t *cap, size_t *ng) {
  uint32_t nag, ngroups;
  if (r->n < 1 || r->p[0] != QUEUE_VERSION) return -1;
  r->at = 1;
  if (get32(r, &nag) != 0) return -1;
  size_t first = *nag_all;
  for (uint32_t i = 0; i < nag; i++) {
    uint64_t t;
    size_t off;
    if (get_str(s, r, &off) != 0 || off == SIZE_MAX || get64(r, &t) != 0) return -1;
    if (grow((void **)ags, cap, *nag_all, sizeof **ags) != 0) return -1;
    (*ags)[(*nag_all)++] = (named_time){STR_OFF(off), (int64_t)t};
  }
  if (get32(r, &ngroups) != 0) return -1;
  for (uint32_t i = 0; i < ngroups; i++) {
    uint32_t ag;
    uint64_t hour;
    size_t cat, sub;
    if (grow((void **)&s->groups, &s->capgroups, *ng, sizeof *s->groups) != 0) return -1;
    hour_group *g = &s->groups[*ng];
    if (get32(r, &ag) != 0 || ag >= nag || get_str(s, r, &cat) != 0 || cat == SIZE_MAX || get_str(s, r, &sub) != 0 ||
        get64(r, &hour) != 0)
      return -1;
    for (int k = 0; k < 10; k++)
      if (get64(r, &g->c[k]) != 0) return -1;
    g->agency = (*ags)[first + ag].name;
    g->category = STR_OFF(cat);
    g->subcategory = STR_OFF(sub);
    g->hour = (int64_t)hour;
    (*ng)++;
  }
  return r->at == r->n ? 0 : -1;
}

/* Applies the claimed batches (rows of r) as one: their hour groups expanded
 * and summed into one sorted set of keys (locked in that order, as every
 * writer does; under a backlog, keys that several batches share are written
 * once), then their agencies made due (each once, with its newest row) and the
 * due ones ranked. */
static int derive_batches(pz_store *s, pz_batch_result *res, PGresult *r) {
  size_t nn = 0, cap = 0, ng = 0;
  int64_t oldest_ms = INT64_MAX;
  named_time *v = NULL; /* the batches' agencies */
  int rc = -1;
  s->strs.len = 0;
  for (int row = 0; row < PQntuples(r); row++) {
    reader rd = {(const unsigned char *)PQgetvalue(r, row, 1), 0, (size_t)PQgetlength(r, row, 1)};
    int64_t q = PQgetlength(r, row, 0) == 8 ? (int64_t)es_pg_rd64((const unsigned char *)PQgetvalue(r, row, 0)) : 0;
    if (q < oldest_ms) oldest_ms = q;
    if (read_batch(s, &rd, &v, &nn, &cap, &ng) != 0) {
      es_error("aggregate_queue_invalid", "a queued batch is not version %d's layout", QUEUE_VERSION);
      goto cleanup;
    }
  }
  const char *base = s->strs.data; /* s->strs no longer moves */
  for (size_t i = 0; i < ng; i++) {
    hour_group *g = &s->groups[i];
    g->agency = base + (uintptr_t)g->agency, g->category = base + (uintptr_t)g->category;
    g->subcategory = (uintptr_t)g->subcategory == SIZE_MAX ? NULL : base + (uintptr_t)g->subcategory;
  }
  if (ng && (expand_groups(s, s->groups, ng) != 0 || apply_aggregates(s, s->copy.data, s->copy.len) != 0)) goto cleanup;
  int64_t lag_ms = es_now_ms() - oldest_ms;
  uint64_t now = es_mono_ns(), lag_ns = lag_ms > 0 ? (uint64_t)lag_ms * 1000000ULL : 0;
  uint64_t since = lag_ns < now ? now - lag_ns : 0;
  for (size_t i = 0; i < nn; i++) v[i].name = base + (uintptr_t)v[i].name;
  if (nn) qsort(v, nn, sizeof *v, cmp_named);
  size_t ndue = 0;
  for (size_t i = 0; i < nn;) {
    size_t j = i;
    int64_t t = v[i].t;
    for (; j < nn && strcmp(v[j].name, v[i].name) == 0; j++)
      if (v[j].t > t) t = v[j].t;
    if (mark_dirty(s, res, v[i].name, t, since, &ndue) != 0) goto cleanup;
    i = j;
  }
  rc = ndue ? rank_some(s, res, ndue, rank_allowance(s, ndue, 0), 0) : 0;
cleanup:
  free(v);
  return rc;
}

int pz_store_queue_age(pz_store *s, int64_t *age_ms) {
  *age_ms = 0;
  /* a batch claimed by a derive still in progress is still visible here: a stuck derive ages */
  PGresult *r =
      q(s, "aggregate_queue", "SELECT queued_ms FROM aggregate_queue ORDER BY id LIMIT 1", 0, NULL, PGRES_TUPLES_OK);
  if (!r) return -1;
  if (PQntuples(r) == 1) {
    int64_t age = es_now_ms() - strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *age_ms = age > 0 ? age : 0;
  }
  PQclear(r);
  return 0;
}

/* A derive or rank transaction that failed: nothing it computed stands, and
 * every agency stays due for the next try. */
static int derive_abandon(pz_store *s, pz_batch_result *res, int rollback) {
  forget_priorities(s);
  if (rollback && s->c && PQstatus(s->c) == CONNECTION_OK) es_pg_exec(s->c, "ROLLBACK");
  redirty_all(s);
  pz_batch_result_free(res);
  memset(res, 0, sizeof *res);
  if (s->c && PQstatus(s->c) != CONNECTION_OK) drop_conn(s);
  return -1;
}

int pz_store_derive(pz_store *s, pz_batch_result *res) {
  memset(res, 0, sizeof *res);
  if (!pz_store_connected(s) || es_pg_exec(s->c, "BEGIN") != 0) goto fail;
  PGresult *r = q_limit_binary(s, "aggregate_queue", SQL_CLAIM, DERIVE_BATCHES);
  if (!r) goto rollback;
  int claimed = PQntuples(r);
  if (claimed == 0) {
    PQclear(r);
    return es_pg_exec(s->c, "COMMIT") == 0 ? 0 : -1;
  }
  uint64_t t0 = es_mono_ns();
  int rc = derive_batches(s, res, r);
  PQclear(r);
  if (rc != 0) goto rollback;
  if (es_pg_exec(s->c, "COMMIT") != 0) goto fail;
  es_debug("derive_timing", "batches=%d ms=%.1f ranked=%zu", claimed, (double)(es_mono_ns() - t0) / 1e6, res->ranked);
  return 1;
rollback:
  return derive_abandon(s, res, 1);
fail:
  return derive_abandon(s, res, 0);
}

/* One attempt. With lookup, ids already stored are left out first; without,
 * the COPY is optimistic. 0 committed, 1 unique_violation on feedback (a
 * stored id, or another instance committed some of these ids meanwhile:
 * rolled back, try again with lookup), -1 error. */
static int write_once(pz_store *s, const pz_row *rows, size_t n, pz_batch_result *res, int lookup, int *found) {
  uint64_t t0 = es_mono_ns(), t1 = t0, t2 = t0, t3 = t0, t4 = t0;
  size_t nfresh = 0;
  int rc = -1;
  /* The xid before the first feedback.seq is drawn: the search fill's mark
   * (search.c) waits for every transaction that may hold a seq it has passed. */
  PGresult *b = PQexec(s->c, "BEGIN; SELECT pg_current_xact_id()");
  int begun = PQresultStatus(b) == PGRES_TUPLES_OK;
  if (!begun) es_error("pg_query_failed", "begin: %s", PQresultErrorMessage(b));
  PQclear(b);
  if (!begun) goto rollback;
  /* 1. New rows = the batch minus in-batch duplicates minus ids already stored. */
  for (size_t i = 0; i < n; i++)
    if (s->skip[i] == SKIP_STORED) s->skip[i] = 0; /* from an earlier attempt */
  if (lookup && mark_stored(s, rows, n, found) != 0) goto rollback;
  for (size_t i = 0; i < n; i++)
    if (!s->skip[i]) s->fresh[nfresh++] = (row_ref){&rows[i], pz_window_start(PZ_HOUR, rows[i].received_at)};
  t1 = es_mono_ns();
  if (nfresh) {
    /* 2. Straight into feedback: binary COPY, no staging table. */
    int c = copy_feedback(s, nfresh);
    if (c != 0) {
      rc = c;
      goto rollback;
    }
    if (copy_contacts(s, nfresh) != 0) goto rollback;
    t2 = es_mono_ns();
    for (size_t i = 0; i < nfresh; i++)
      if (emerging_candidate(s, s->fresh[i].r) && keep_emerging(res, s->fresh[i].r->agency, s->fresh[i].r->text) != 0)
        goto rollback;
    /* 3. Aggregates of exactly these rows: applied now, or queued for pz_store_derive. */
    qsort(s->fresh, nfresh, sizeof *s->fresh, cmp_ref);
    size_t ngroups;
    if (count_groups(s, nfresh, &ngroups) != 0) goto rollback;
    res->inserted = nfresh;
    if (s->cfg.derive_later) {
      if (queue_batch(s, nfresh, ngroups) != 0) goto rollback;
      t3 = es_mono_ns();
    } else {
      if (expand_groups(s, s->groups, ngroups) != 0 || apply_aggregates(s, s->copy.data, s->copy.len) != 0)
        goto rollback;
      t3 = es_mono_ns();
      /* 4. Ranking of the agencies that got rows (fresh[] is sorted by agency). */
      size_t ndue = 0;
      uint64_t now = es_mono_ns();
      for (size_t i = 0, j; i < nfresh; i = j) {
        int64_t newest;
        j = agency_run(s, i, nfresh, &newest);
        if (mark_dirty(s, res, s->fresh[i].r->agency, newest, now, &ndue) != 0) goto rollback;
      }
      if (ndue && rank_some(s, res, ndue, rank_allowance(s, ndue, 0), 0) != 0) goto rollback;
    }
  }
  t4 = es_mono_ns();
  if (es_pg_exec(s->c, "COMMIT") != 0) goto fail;
  es_debug("batch_timing", "rows=%zu new=%zu lookup_ms=%.1f copy_ms=%.1f agg_ms=%.1f rank_ms=%.1f commit_ms=%.1f", n,
           nfresh, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6, (double)(t4 - t3) / 1e6,
           (double)(es_mono_ns() - t4) / 1e6);
  return 0;
rollback:
  forget_priorities(s);
  if (PQstatus(s->c) == CONNECTION_OK) es_pg_exec(s->c, "ROLLBACK");
fail:
  forget_priorities(s);
  pz_batch_result_free(res);
  memset(res, 0, sizeof *res);
  if (PQstatus(s->c) != CONNECTION_OK) drop_conn(s);
  return rc;
}

int pz_store_write(pz_store *s, const pz_row *rows, size_t n, pz_batch_result *res) {
  memset(res, 0, sizeof *res);
  if (!pz_store_connected(s) || n > UINT32_MAX || scratch_reserve(s, n) != 0) return -1;
  mark_batch_dupes(s, rows, n);
  s->overlapped = 0;
  for (int attempt = 1;; attempt++) {
    int found = 0, lookup = s->lookup;
    int rc = write_once(s, rows, n, res, lookup, &found);
    /* Look stored ids up only while replays are being seen: the lookup costs
     * a round of index probes; a failed optimistic COPY costs one batch. */
    if (rc == 0 && lookup) s->lookup = found;
    if (rc <= 0) return rc;
    s->lookup = 1;
    if (attempt == 5) {
      es_warn("pg_conflict", "ids of this batch keep being inserted concurrently");
      return -1;
    }
    if (lookup) es_info("pg_conflict_retry", "another writer stored some of these ids; retrying");
    if (!pz_store_connected(s)) return -1;
  }
}

int pz_store_rank_pending(pz_store *s, pz_batch_result *res, int force) {
  memset(res, 0, sizeof *res);
  size_t ndue = 0;
  for (size_t i = 0; i < s->nnow; i++)
    if (s->nows[i].dirty && (force || rank_due(s, &s->nows[i]))) s->due[ndue++] = &s->nows[i];
  size_t k = ndue ? rank_allowance(s, ndue, force) : 0;
  if (k == 0) return 0;
  if (!pz_store_connected(s) || es_pg_exec(s->c, "BEGIN") != 0) goto fail;
  if (rank_some(s, res, ndue, k, force) != 0) goto rollback;
  if (es_pg_exec(s->c, "COMMIT") != 0) goto fail;
  return 0;
rollback:
  return derive_abandon(s, res, 1);
fail:
  return derive_abandon(s, res, 0);
}

void pz_batch_result_free(pz_batch_result *r) {
  for (size_t i = 0; i < r->nprio; i++) {
    free(r->prio[i].agency);
    free(r->prio[i].topic);
    free(r->prio[i].expl_es);
    free(r->prio[i].expl_en);
  }
  free(r->prio);
  for (size_t i = 0; i < r->nemerging; i++) {
    free(r->emerging[i].agency);
    free(r->emerging[i].text);
  }
  free(r->emerging);
  r->prio = NULL, r->nprio = r->capprio = 0;
  r->emerging = NULL, r->nemerging = r->capemerging = 0;
}

/* ---- outbox and emerging snapshot ---- */

static const char SQL_OUTBOX[] =
    "SELECT id, agency || '/' || topic, request_pb FROM action_plans"
    " WHERE request_sent_at IS NULL AND request_pb IS NOT NULL AND kind = 'plan' ORDER BY opened_at LIMIT $1";

int pz_store_outbox(pz_store *s, pz_outbox_item **out, int max) {
  *out = NULL;
  if (!pz_store_connected(s)) return -1;
  /* Binary results: request_pb comes back as raw bytes. */
  PGresult *r = q_limit_binary(s, "outbox", SQL_OUTBOX, max);
  if (!r) return -1;
  int n = PQntuples(r);
  pz_outbox_item *items = calloc((size_t)n + 1, sizeof *items);
  for (int i = 0; items && i < n; i++) {
    items[i].plan_id = es_strndup(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
    items[i].key = es_strndup(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
    items[i].len = (size_t)PQgetlength(r, i, 2);
    items[i].payload = malloc(items[i].len + 1);
    if (items[i].payload) memcpy(items[i].payload, PQgetvalue(r, i, 2), items[i].len);
    if (!items[i].plan_id || !items[i].key || !items[i].payload) {
      pz_outbox_free(items, i + 1);
      items = NULL;
    }
  }
  PQclear(r);
  if (!items) return -1;
  *out = items;
  return n;
}

int pz_store_outbox_done(pz_store *s, const char *plan_id) {
  const char *p[] = {plan_id};
  return q_ok(s, "outbox_done", "UPDATE action_plans SET request_sent_at = now(), updated_at = now() WHERE id = $1", 1,
              p);
}

void pz_outbox_free(pz_outbox_item *items, int n) {
  for (int i = 0; items && i < n; i++) {
    free(items[i].plan_id);
    free(items[i].key);
    free(items[i].payload);
  }
  free(items);
}

static const char SQL_EMERGING[] =
    "INSERT INTO emerging_topics AS e (agency, term, count, error, rank, updated_at)"
    " VALUES (split_part($1, chr(31), 1), split_part($1, chr(31), 2), $2::bigint, $3::bigint,"
    " $4::integer, now()) ON CONFLICT (agency, term) DO UPDATE SET count = EXCLUDED.count,"
    " error = EXCLUDED.error, rank = EXCLUDED.rank, updated_at = now()";

int pz_store_emerging(pz_store *s, const char *const *keys, const uint64_t *counts, const uint64_t *errors, int n) {
  if (!pz_store_connected(s)) return -1;
  for (int i = 0; i < n; i++) {
    char c[32], e[32], r[16];
    snprintf(c, sizeof c, "%llu", (unsigned long long)counts[i]);
    snprintf(e, sizeof e, "%llu", (unsigned long long)errors[i]);
    snprintf(r, sizeof r, "%d", i + 1);
    const char *p[] = {keys[i], c, e, r};
    if (q_ok(s, "emerging", SQL_EMERGING, 4, p) != 0) return -1;
  }
  return 0;
}
