/* Store layer against a real PostgreSQL (skipped unless ESCUCHA_TEST_PG_DSN
 * is set, e.g. "host=127.0.0.1 port=15432 dbname=escucha user=escucha").
 * Each run uses a fresh schema, so it never touches the service's tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "search.h"
#include "vector.h"
#include "log.h"

#define SCHEMA "pz_unit_test"
#define T0 1704067200000LL /* Monday 2024-01-01 00:00 UTC */
#define HOUR 3600000LL

static char dsn[1024];
static PGconn *admin;

/* Recomputes topic_window_stats from feedback; the two must match exactly. */
static const char SQL_RECOMPUTE_DIFF[] =
    "WITH t AS (SELECT f.*, x.topic FROM feedback f CROSS JOIN LATERAL (VALUES ('*'),"
    " (f.category), (CASE WHEN coalesce(f.subcategory, '') = '' THEN NULL"
    "  WHEN strpos(f.subcategory, '/') > 0 THEN f.subcategory"
    "  ELSE f.category || '/' || f.subcategory END)) x(topic) WHERE x.topic IS NOT NULL),"
    " r AS (SELECT agency, topic, w.kind, date_trunc(w.kind, received_at, 'UTC') ws,"
    "  count(*) total, count(*) FILTER (WHERE sentiment = 'POSITIVE') pos,"
    "  count(*) FILTER (WHERE sentiment = 'NEUTRAL') neu,"
    "  count(*) FILTER (WHERE sentiment = 'NEGATIVE') neg,"
    "  count(*) FILTER (WHERE nps >= 9) pr, count(*) FILTER (WHERE nps BETWEEN 7 AND 8) pa,"
    "  count(*) FILTER (WHERE nps <= 6) de, count(csat) cr, count(*) FILTER (WHERE csat >= 4) cs,"
    "  count(*) FILTER (WHERE urgent) u"
    "  FROM t CROSS JOIN (VALUES ('hour'), ('day'), ('week')) w(kind) GROUP BY 1, 2, 3, 4),"
    " s AS (SELECT agency, topic, window_kind, window_start, total, positive, neutral, negative,"
    "  nps_promoters, nps_passives, nps_detractors, csat_responses, csat_satisfied, urgent"
    "  FROM topic_window_stats)"
    " SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM s)"
    "  UNION ALL (SELECT * FROM s EXCEPT SELECT * FROM r)) d";

static long scalar(const char *sql) {
  PGresult *r = PQexec(admin, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long v = atol(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

static void exec_ok(const char *sql) {
  PGresult *r = PQexec(admin, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
}

static int setup(void **state) {
  (void)state;
  const char *base = getenv("ESCUCHA_TEST_PG_DSN");
  if (!base || !*base) return 0;
  admin = PQconnectdb(base);
  if (PQstatus(admin) != CONNECTION_OK) {
    PQfinish(admin);
    admin = NULL;
    return 0;
  }
  exec_ok("SET client_min_messages = warning");
  exec_ok("DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
  exec_ok("CREATE SCHEMA " SCHEMA);
  exec_ok("SET search_path = " SCHEMA);
  snprintf(dsn, sizeof dsn, "%s options='-csearch_path=" SCHEMA "'", base);
  es_log_init("test-prioritize", "error");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (admin) {
    if (!getenv("PZ_KEEP_SCHEMA")) exec_ok("DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
    PQfinish(admin);
  }
  return 0;
}

static void reset_tables(void) {
  exec_ok(
      "TRUNCATE feedback, feedback_search, topic_window_stats, priorities, actions, action_effects, action_plans, "
      "audit_log, contacts,"
      " emerging_topics, aggregate_queue");
}

static pz_store *open_store(pz_store_cfg *cfg) {
  pz_store *s = pz_store_new(dsn, cfg);
  assert_non_null(s);
  assert_int_equal(pz_store_connect(s, "migrations"), 0);
  return s;
}

/* A store with the default configuration, on emptied tables. */
static pz_store *open_fresh(pz_store_cfg *cfg) {
  pz_store_cfg_default(cfg);
  pz_store *s = open_store(cfg);
  reset_tables();
  return s;
}

/* Row storage: ids and texts live in these buffers. */
typedef struct {
  char id[32], text[96];
  pz_row r;
} owned_row;

static void make_row(owned_row *o, int seq, const char *cat, const char *sub, int64_t at, const char *sentiment,
                     int nps, int csat, int urgent, double conf) {
  memset(o, 0, sizeof *o);
  snprintf(o->id, sizeof o->id, "F%08d", seq);
  snprintf(o->text, sizeof o->text, "texto %d con\ttab\\barra\nlinea", seq);
  pz_row *r = &o->r;
  r->id = o->id, r->agency = "demo", r->service = "svc", r->channel = "WEB";
  r->text = o->text, r->language = "es";
  r->category = cat, r->subcategory = sub, r->sentiment = sentiment;
  r->received_at = at, r->created_at = at - 1000, r->classified_at = at + 10;
  r->nps = nps, r->csat = csat, r->urgent = urgent;
  r->confidence = conf, r->sentiment_score = NAN;
  snprintf(r->redactions, sizeof r->redactions, "{\"email\":1}");
}

static void write_rows(pz_store *s, owned_row *o, size_t n, pz_batch_result *res) {
  pz_row *rows = calloc(n, sizeof *rows);
  for (size_t i = 0; i < n; i++) rows[i] = o[i].r;
  assert_int_equal(pz_store_write(s, rows, n, res), 0);
  free(rows);
}

static void test_replay_safe(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  enum { N = 300 };
  owned_row *o = calloc(N + 1, sizeof *o);
  const char *cats[] = {"waiting_times", "procedures", "staff_attention"};
  const char *subs[] = {"waiting_times/queue_wait", "appointment_booking", NULL};
  const char *sent[] = {"NEGATIVE", "NEUTRAL", "POSITIVE", NULL};
  for (int i = 0; i < N; i++)
    make_row(&o[i], i, cats[i % 3], subs[(i / 3) % 3], T0 + (int64_t)i * 97 * 60000, sent[i % 4],
             i % 5 == 0 ? -1 : i % 11, i % 7 == 0 ? -1 : 1 + i % 5, i % 13 == 0, i % 6 == 0 ? 0.2 : 0.9);
  o[N] = o[7]; /* a duplicate id inside the batch */
  pz_batch_result res;
  write_rows(s, o, N + 1, &res);
  assert_int_equal(res.inserted, N);
  assert_int_equal(res.nemerging, N / 6);
  assert_true(res.ranked > 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM feedback"), N);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  assert_int_equal(scalar("SELECT count(*) FROM feedback WHERE text ="
                          " 'texto ' || substr(id, 2)::int || E' con\\ttab\\\\barra\\nlinea'"),
                   N);
  assert_int_equal(scalar("SELECT count(*) FROM feedback WHERE redactions->>'email' = '1'"), N);
  long stats = scalar("SELECT sum(total) FROM topic_window_stats");
  /* Replay, in two overlapping halves: nothing changes. */
  write_rows(s, o, N / 2, &res);
  assert_int_equal(res.inserted, 0);
  assert_int_equal(res.nprio, 0);
  pz_batch_result_free(&res);
  write_rows(s, o + N / 3, N - N / 3, &res);
  assert_int_equal(res.inserted, 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM feedback"), N);
  assert_int_equal(scalar("SELECT sum(total) FROM topic_window_stats"), stats);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  free(o);
  pz_store_free(s);
}

/* --derive-thread's path: a batch's aggregates are queued with its rows and
 * applied later, exactly once, even by another process after a crash; a
 * replay queues nothing; queued batches applied together count each row once;
 * a batch that cannot be read rolls the claim back. */
static void test_derive_queue(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store_cfg_default(&cfg);
  cfg.derive_later = 1;
  pz_store *s = open_store(&cfg);
  reset_tables();
  enum { N = 240 };
  owned_row *o = calloc(N, sizeof *o);
  assert_non_null(o);
  const char *cats[] = {"waiting_times", "procedures", "staff_attention"};
  for (int i = 0; i < N; i++)
    make_row(&o[i], i, cats[i % 3], i % 2 ? "sub" : NULL, T0 + (int64_t)i * 37 * 60000, i % 3 ? "NEGATIVE" : "POSITIVE",
             i % 11, i % 5 ? -1 : 1 + i % 5, i % 13 == 0, 0.9);
  for (int i = 0; i < N; i++) o[i].r.agency = i % 4 ? "ag-a" : "ag-b";
  pz_batch_result res;
  write_rows(s, o, N / 2, &res);
  assert_int_equal(res.inserted, N / 2);
  assert_int_equal(res.ranked, 0); /* ranking follows the aggregates */
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 1);
  assert_int_equal(scalar("SELECT count(*) FROM topic_window_stats"), 0);
  pz_store_free(s); /* a crash before the batch was applied */
  s = open_store(&cfg);
  write_rows(s, o, N / 2, &res); /* the replay after the restart */
  assert_int_equal(res.inserted, 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 1);
  assert_int_equal(pz_store_derive(s, &res), 1);
  assert_true(res.ranked > 0);
  pz_batch_result_free(&res);
  assert_int_equal(pz_store_derive(s, &res), 0);
  assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 0);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  /* two more batches and one no reader knows: the claim of all three rolls back */
  write_rows(s, o + N / 2, N / 4, &res);
  pz_batch_result_free(&res);
  write_rows(s, o + N / 2 + N / 4, N / 4, &res);
  pz_batch_result_free(&res);
  exec_ok("INSERT INTO aggregate_queue (queued_ms, batch) VALUES (0, '\\x0200000000')");
  assert_int_equal(pz_store_derive(s, &res), -1);
  assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 3);
  exec_ok("DELETE FROM aggregate_queue WHERE queued_ms = 0");
  assert_int_equal(pz_store_connect(s, NULL), 0);
  assert_int_equal(pz_store_derive(s, &res), 1); /* both batches in one transaction */
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 0);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  assert_int_equal(scalar("SELECT sum(total) FROM topic_window_stats WHERE topic = '*' AND window_kind = 'week'"), N);
  free(o);
  pz_store_free(s);
}

/* Steady noise for six hours, then one topic spikes: it ranks first, one
 * plan opens, replays and later batches do not open another. */
static void test_spike_opens_one_plan(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  const char *noise[] = {"procedures", "staff_attention", "information", "payments_fees"};
  int seq = 0;
  owned_row o[200];
  pz_batch_result res;
  for (int h = 0; h < 6; h++) {
    int n = 0;
    for (int t = 0; t < 4; t++)
      for (int k = 0; k < 10; k++)
        make_row(&o[n++], seq++, noise[t], NULL, T0 + h * HOUR + k * 300000, k % 3 ? "NEUTRAL" : "NEGATIVE", 5 + k % 6,
                 -1, 0, 0.9);
    make_row(&o[n++], seq++, "waiting_times", NULL, T0 + h * HOUR + 5, "NEGATIVE", 6, -1, 0, 0.9);
    write_rows(s, o, (size_t)n, &res);
    assert_int_equal(res.opened, 0);
    pz_batch_result_free(&res);
  }
  /* Hour 6: 120 negative waiting-time complaints among the usual noise. */
  int n = 0;
  for (int t = 0; t < 4; t++)
    for (int k = 0; k < 10; k++)
      make_row(&o[n++], seq++, noise[t], NULL, T0 + 6 * HOUR + k * 300000, k % 3 ? "NEUTRAL" : "NEGATIVE", 5 + k % 6,
               -1, 0, 0.9);
  for (int k = 0; k < 120; k++)
    make_row(&o[n++], seq++, "waiting_times", "queue_wait", T0 + 6 * HOUR + 1000 * k, "NEGATIVE", k % 4, 1, 0, 0.9);
  write_rows(s, o, (size_t)n, &res);
  assert_int_equal(res.opened, 1);
  assert_true(res.new_spikes >= 1);
  int found = 0;
  for (size_t i = 0; i < res.nprio; i++)
    if (res.prio[i].kind == PZ_HOUR && res.prio[i].level == 1) {
      if (res.prio[i].rank == 1) {
        assert_string_equal(res.prio[i].topic, "waiting_times");
        assert_true(res.prio[i].f.spike_p < 1e-6);
        found = 1;
      }
    }
  assert_true(found);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM action_plans WHERE status = 'open'"), 1);
  assert_int_equal(scalar("SELECT count(*) FROM audit_log WHERE action = 'open'"), 1);
  assert_int_equal(scalar("SELECT rank FROM priorities WHERE topic = 'waiting_times' AND"
                          " window_kind = 'hour' ORDER BY window_start DESC LIMIT 1"),
                   1);
  /* Replay of the spike batch and more spike traffic: still exactly one plan. */
  write_rows(s, o, (size_t)n, &res);
  assert_int_equal(res.opened, 0);
  pz_batch_result_free(&res);
  for (int k = 0; k < 50; k++)
    make_row(&o[k], seq++, "waiting_times", NULL, T0 + 6 * HOUR + 200000 + k, "NEGATIVE", 0, 1, 0, 0.9);
  write_rows(s, o, 50, &res);
  assert_int_equal(res.opened, 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM action_plans"), 1);
  /* Outbox: one request pending until marked delivered. */
  pz_outbox_item *items;
  assert_int_equal(pz_store_outbox(s, &items, 10), 1);
  Escucha__V1__ActionRequest *ar = escucha__v1__action_request__unpack(NULL, items[0].len, items[0].payload);
  assert_non_null(ar);
  assert_string_equal(ar->topic, "waiting_times");
  assert_non_null(ar->priority);
  assert_int_equal(ar->priority->rank, 1);
  assert_true(strncmp(ar->request_id, "demo/waiting_times/", 19) == 0);
  escucha__v1__action_request__free_unpacked(ar, NULL);
  assert_int_equal(pz_store_outbox_done(s, items[0].plan_id), 0);
  pz_outbox_free(items, 1);
  assert_int_equal(pz_store_outbox(s, &items, 10), 0);
  pz_outbox_free(items, 0);
  /* Two quiet hours later the plan closes (hysteresis: after a full hour below). */
  n = 0;
  for (int k = 0; k < 40; k++)
    make_row(&o[n++], seq++, noise[k % 4], NULL, T0 + 8 * HOUR + 60000 * k, "NEUTRAL", 8, -1, 0, 0.9);
  write_rows(s, o, (size_t)n, &res);
  assert_int_equal(res.closed, 1);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM action_plans WHERE status = 'closed'"), 1);
  /* A new spike within the cooldown does not reopen it. */
  n = 0;
  for (int k = 0; k < 150; k++)
    make_row(&o[n++], seq++, "waiting_times", NULL, T0 + 9 * HOUR + k, "NEGATIVE", 0, 1, 0, 0.9);
  write_rows(s, o, (size_t)n, &res);
  assert_int_equal(res.opened, 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  pz_store_free(s);
}

/* With a rank interval, a batch only marks its agency; rank_pending ranks it. */
static void test_deferred_ranking(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store_cfg_default(&cfg);
  cfg.rank_interval_ms = 3600000;
  pz_store *s = open_store(&cfg);
  reset_tables();
  owned_row o[40];
  pz_batch_result res;
  for (int i = 0; i < 20; i++) make_row(&o[i], 5000 + i, "procedures", NULL, T0 + i, "NEGATIVE", 3, 2, 0, 0.9);
  write_rows(s, o, 20, &res); /* first sight of the agency: ranked at once */
  assert_true(res.ranked > 0);
  pz_batch_result_free(&res);
  for (int i = 0; i < 20; i++) make_row(&o[i], 6000 + i, "information", NULL, T0 + 100 + i, "NEUTRAL", 9, 5, 0, 0.9);
  write_rows(s, o, 20, &res); /* within the interval: deferred */
  assert_int_equal(res.inserted, 20);
  assert_int_equal(res.ranked, 0);
  pz_batch_result_free(&res);
  assert_int_equal(pz_store_rank_pending(s, &res, 0), 0); /* not due yet */
  assert_int_equal(res.ranked, 0);
  assert_int_equal(pz_store_rank_pending(s, &res, 1), 0); /* forced (idle loop) */
  assert_true(res.ranked > 0);
  assert_true(res.nprio > 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM priorities WHERE topic = 'information'"), 3);
  assert_int_equal(pz_store_rank_pending(s, &res, 1), 0); /* nothing left */
  assert_int_equal(res.ranked, 0);
  pz_store_free(s);
}

static void test_emerging_snapshot(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store_cfg_default(&cfg);
  pz_store *s = open_store(&cfg);
  const char *keys[] = {
      "demo\x1f"
      "vacuna influenza",
      "demo\x1f"
      "corte luz"};
  uint64_t counts[] = {12, 7}, errors[] = {0, 2};
  assert_int_equal(pz_store_emerging(s, keys, counts, errors, 2), 0);
  assert_int_equal(scalar("SELECT count FROM emerging_topics WHERE agency = 'demo' AND"
                          " term = 'vacuna influenza'"),
                   12);
  pz_store_free(s);
}

/* Batches that mix new and stored ids, after the store stopped looking ids up
 * (no replay seen): the optimistic COPY fails on the stored id, the batch is
 * retried with the lookup, and exactly the new rows are written and counted.
 * Also the overlap hook runs once per write, and "other" feeds the sketch. */
static int overlaps;
static void count_overlap(void *arg) {
  (void)arg;
  overlaps++;
}

static void test_mixed_batches(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store_cfg_default(&cfg);
  pz_store *s = open_store(&cfg);
  pz_store_set_overlap(s, count_overlap, NULL);
  reset_tables();
  enum { N = 200 };
  owned_row *o = calloc(N, sizeof *o);
  for (int i = 0; i < N; i++)
    make_row(&o[i], i, i % 2 ? "procedures" : "other", i % 4 == 1 ? "procedures/other" : NULL,
             T0 + (int64_t)i * 20 * 60000, "NEGATIVE", i % 11, -1, 0, 0.9);
  pz_batch_result res;
  overlaps = 0;
  write_rows(s, o, 100, &res); /* 0..99; finds nothing stored */
  assert_int_equal(res.inserted, 100);
  assert_int_equal(res.nemerging, 75); /* category other (50) + subcategory .../other (25) */
  assert_int_equal(overlaps, 1);
  pz_batch_result_free(&res);
  write_rows(s, o + 50, 100, &res); /* 50..149: 50 stored, 50 new */
  assert_int_equal(res.inserted, 50);
  assert_int_equal(overlaps, 2);
  pz_batch_result_free(&res);
  write_rows(s, o + 150, 50, &res); /* 150..199: new */
  assert_int_equal(res.inserted, 50);
  pz_batch_result_free(&res);
  write_rows(s, o, N, &res); /* everything again */
  assert_int_equal(res.inserted, 0);
  assert_int_equal(res.nemerging, 0);
  pz_batch_result_free(&res);
  assert_int_equal(scalar("SELECT count(*) FROM feedback"), N);
  assert_int_equal(scalar("SELECT sum(total) FROM topic_window_stats WHERE topic = '*'"
                          " AND window_kind = 'week'"),
                   N);
  assert_int_equal(scalar(SQL_RECOMPUTE_DIFF), 0);
  free(o);
  pz_store_free(s);
}

/* Steps the fill until sql's value is want (deadline 20 s); 1 reached. */
static int fill_until(pz_search *f, const char *sql, long want) {
  for (int i = 0; i < 400; i++) {
    (void)pz_search_step(f, 0);
    if (scalar(sql) == want) return 1;
    usleep(50000);
  }
  return 0;
}

/* Vectors are filled after the batch commits, on the fill's own connection,
 * several fills when the rows exceed one fill's cap; a batch committed with no
 * fill after it (a crash in between) is filled by the restarted service; the
 * mark passes the filled rows and is kept in the database. */
static void test_search_fill(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  enum { N = 40 };
  owned_row o[N];
  for (int i = 0; i < N; i++)
    make_row(&o[i], 9000 + i, "waiting_times", NULL, T0 + (int64_t)i * 60000, "NEGATIVE", -1, -1, 0, 0.9);
  o[1].r.language = "en";
  o[1].r.text = "we waited for hours";
  pz_batch_result res;
  write_rows(s, o, N / 2, &res);
  pz_batch_result_free(&res);
  const char *vectors = "SELECT count(*) FROM feedback_search";
  assert_int_equal(scalar(vectors), 0); /* not in the insert any more */
  pz_search *f = pz_search_new(dsn, 7);
  assert_non_null(f);
  (void)pz_search_step(f, 1);
  assert_true(fill_until(f, vectors, N / 2));
  /* the one definition of the vector, per language */
  assert_int_equal(scalar("SELECT count(*) FROM feedback f JOIN feedback_search s USING (id)"
                          " WHERE s.search = feedback_search_vector(f.language, f.text)"),
                   N / 2);
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search WHERE search @@ to_tsquery('spanish', 'linea')"),
                   N / 2 - 1);
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search WHERE search @@ to_tsquery('english', 'waiting')"), 1);
  const char *marked = "SELECT ((SELECT seq FROM feedback_search_mark) >= (SELECT max(seq) FROM feedback))::int";
  assert_true(fill_until(f, marked, 1));
  assert_true(pz_search_mark(f) >= scalar("SELECT max(seq) FROM feedback"));
  pz_search_free(f);
  /* committed, and the service gone before any fill */
  write_rows(s, o + N / 2, N - N / 2, &res);
  pz_batch_result_free(&res);
  assert_int_equal(scalar(vectors), N / 2);
  f = pz_search_new(dsn, 5000); /* the restart */
  assert_non_null(f);
  assert_true(fill_until(f, vectors, N));
  assert_true(fill_until(f, marked, 1));
  pz_search_free(f);
  /* a deleted item takes its vector with it (migration 018's trigger) */
  exec_ok("DELETE FROM feedback WHERE id = 'F00009001'");
  assert_int_equal(scalar(vectors), N - 1);
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search WHERE id = 'F00009001'"), 0);
  /* and a truncated table takes them all */
  exec_ok("TRUNCATE feedback CASCADE");
  assert_int_equal(scalar(vectors), 0);
  pz_store_free(s);
}

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* --search-fill-gap-ms: after a commit the next fill waits until the gap has
 * passed since the last one was sent; a fill that stopped at rows is followed
 * at once. */
static void test_search_fill_gap(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  enum { N = 30, GAP = 1500 };
  owned_row o[N];
  for (int i = 0; i < N; i++)
    make_row(&o[i], 9500 + i, "waiting_times", NULL, T0 + (int64_t)i * 60000, "NEGATIVE", -1, -1, 0, 0.9);
  pz_batch_result res;
  write_rows(s, o, 20, &res);
  pz_batch_result_free(&res);
  const char *vectors = "SELECT count(*) FROM feedback_search";
  pz_search *f = pz_search_new(dsn, 8);
  assert_non_null(f);
  pz_search_set_gap(f, GAP);
  /* behind: fills of 8, 8, 4 rows follow each other without waiting */
  uint64_t t0 = now_ms();
  assert_true(fill_until(f, vectors, 20));
  assert_true(now_ms() - t0 < GAP);
  /* a commit right after: no fill before the gap */
  write_rows(s, o + 20, N - 20, &res);
  pz_batch_result_free(&res);
  uint64_t sent_before = now_ms(); /* the last fill was sent before this */
  (void)pz_search_step(f, 1);
  while (now_ms() - sent_before < GAP - 500) {
    (void)pz_search_step(f, 0);
    assert_int_equal(scalar(vectors), 20);
    usleep(20000);
  }
  assert_true(fill_until(f, vectors, N)); /* then it comes */
  pz_search_free(f);
  pz_store_free(s);
}

static PGconn *conn_ok(void) {
  PGconn *c = PQconnectdb(dsn);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  return c;
}

static void exec_on(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
}

/* Until a session whose query starts with `like` waits for a lock. */
static int waits_for_lock(const char *like) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%s%%'", like);
  for (int i = 0; i < 200; i++) {
    if (scalar(sql) > 0) return 1;
    usleep(25000);
  }
  return 0;
}

/* A row another writer inserted before a batch but committed after the fills
 * that saw the batch (its seq below theirs: a history import, a long
 * transaction) is still filled: the fills skip the probe only for rows whose
 * xmin is older than an earlier fill's snapshot, and this one is not. */
static void test_search_fills_a_late_commit(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  owned_row o[4];
  for (int i = 0; i < 4; i++)
    make_row(&o[i], 9300 + i, "waiting_times", NULL, T0 + (int64_t)i * 60000, "NEGATIVE", -1, -1, 0, 0.9);
  pz_batch_result res;
  write_rows(s, o, 2, &res);
  pz_batch_result_free(&res);
  pz_search *f = pz_search_new(dsn, 5000);
  assert_non_null(f);
  assert_true(fill_until(f, "SELECT count(*) FROM feedback_search", 2));
  PGconn *w = conn_ok();
  exec_on(w, "BEGIN");
  exec_on(w,
          "INSERT INTO feedback (id, agency, received_at, category, language, text)"
          " VALUES ('W0000001', 'demo', now(), 'waiting_times', 'es', 'la fila de espera fue larga')");
  write_rows(s, o + 2, 2, &res); /* seqs above the open transaction's */
  pz_batch_result_free(&res);
  assert_true(fill_until(f, "SELECT count(*) FROM feedback_search", 4));
  (void)pz_search_step(f, 1); /* more fills while it is open: hi passes its seq */
  assert_true(pz_search_wait(f) >= 0);
  exec_on(w, "COMMIT");
  assert_int_equal(scalar("SELECT ((SELECT seq FROM feedback WHERE id = 'W0000001')"
                          " < (SELECT seq FROM feedback WHERE id = 'F00009302'))::int"),
                   1);
  assert_true(fill_until(f, "SELECT count(*) FROM feedback_search WHERE id = 'W0000001'", 1));
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search s JOIN feedback f USING (id)"
                          " WHERE s.search = feedback_search_vector(f.language, f.text)"),
                   5);
  pz_search_free(f);
  PQfinish(w);
  pz_store_free(s);
}

/* No vector outlives its feedback even when the delete races a fill that
 * already saw the row (what 016's foreign key guaranteed, 018's triggers and
 * the mark row's lock now do): the fill is held inside its statement by a
 * conflicting uncommitted vector, the delete comes meanwhile and must wait for
 * the fill's commit, then remove what it wrote. A repeatable-read delete that
 * cannot see a fill committed after its snapshot fails instead of leaving the
 * vector. */
static void test_search_delete_races_fill(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  owned_row o[3];
  for (int i = 0; i < 3; i++)
    make_row(&o[i], 9100 + i, "waiting_times", NULL, T0 + (int64_t)i * 60000, "NEGATIVE", -1, -1, 0, 0.9);
  pz_batch_result res;
  write_rows(s, o, 3, &res);
  pz_batch_result_free(&res);
  PGconn *z = conn_ok(), *d = conn_ok();
  /* z holds an uncommitted vector of F00009100: the fill's insert of it waits */
  exec_on(z, "BEGIN");
  exec_on(z,
          "INSERT INTO feedback_search (id, agency, received_at, language, search)"
          " SELECT id, agency, received_at, language, ''::tsvector FROM feedback WHERE id = 'F00009100'");
  pz_search *f = pz_search_new(dsn, 5000);
  assert_non_null(f);
  (void)pz_search_step(f, 1);
  assert_true(waits_for_lock("WITH given AS")); /* the fill statement, after the mark's UPDATE */
  /* the delete of the row the fill saw: its trigger waits for the fill */
  assert_int_equal(PQsendQuery(d, "DELETE FROM feedback WHERE id = 'F00009100'"), 1);
  assert_true(waits_for_lock("DELETE FROM feedback"));
  exec_on(z, "ROLLBACK"); /* the fill goes on and commits its vector */
  PGresult *r, *last = NULL;
  while ((r = PQgetResult(d)) != NULL) PQclear(last), last = r;
  assert_int_equal(PQresultStatus(last), PGRES_COMMAND_OK);
  assert_string_equal(PQcmdTuples(last), "1");
  PQclear(last);
  assert_true(pz_search_wait(f) >= 0);
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search WHERE id = 'F00009100'"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search"), 2);
  /* repeatable read: the row is in the delete's snapshot, its vector (a fill
   * committed afterwards) is not */
  owned_row more;
  make_row(&more, 9200, "waiting_times", NULL, T0, "NEGATIVE", -1, -1, 0, 0.9);
  write_rows(s, &more, 1, &res);
  pz_batch_result_free(&res);
  exec_on(d, "BEGIN ISOLATION LEVEL REPEATABLE READ");
  exec_on(d, "SELECT count(*) FROM feedback");
  assert_true(fill_until(f, "SELECT count(*) FROM feedback_search WHERE id = 'F00009200'", 1));
  r = PQexec(d, "DELETE FROM feedback WHERE id = 'F00009200'");
  assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
  assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "40001"); /* retried by the caller */
  PQclear(r);
  exec_on(d, "ROLLBACK");
  exec_on(d, "DELETE FROM feedback WHERE id = 'F00009200'"); /* the retry */
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search WHERE id = 'F00009200'"), 0);
  pz_search_free(f);
  PQfinish(z);
  PQfinish(d);
  pz_store_free(s);
}

/* Vectors the service made (vector.h) given to the fills: fills of at most 3
 * rows (each but the last stopping there) use them as they reach their rows,
 * the first one compares them with the database's instead, and every stored
 * vector is the database's own. */
static void test_search_given_vectors(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store *s = open_fresh(&cfg);
  pz_search *f = pz_search_new(dsn, 3);
  pz_vector *v = pz_vector_new();
  assert_non_null(f);
  assert_non_null(v);
  owned_row o[8];
  for (int i = 0; i < 8; i++) {
    make_row(&o[i], 9300 + i, "waiting_times", NULL, T0 + (int64_t)i * 1000, "NEGATIVE", -1, -1, 0, 0.9);
    snprintf(o[i].text, sizeof o[i].text, "Llevo %d semanas esperando respuesta de la oficina", i + 2);
  }
  pz_batch_result res;
  write_rows(s, o, 8, &res);
  pz_batch_result_free(&res);
  es_buf b = {0};
  for (int i = 0; i < 8; i++) {
    b.len = 0;
    assert_int_equal(pz_vector_make(v, "es", o[i].text, strlen(o[i].text), 1, &b), 1);
    assert_int_equal(pz_search_give(f, o[i].id, b.data, b.len), 1);
  }
  assert_true(fill_until(f, "SELECT count(*) FROM feedback_search", 8));
  assert_true(pz_search_wait(f) >= 0);
  long used, verified, differ;
  pz_search_take(f, &used, &verified, &differ);
  assert_int_equal(differ, 0);
  assert_int_equal(verified, 3); /* the first fill's rows */
  assert_int_equal(used, 5);     /* then each fill the given vectors of the rows it reached */
  assert_int_equal(scalar("SELECT count(*) FROM feedback_search s JOIN feedback f USING (id)"
                          " WHERE s.search = feedback_search_vector(f.language, f.text)"),
                   8);
  es_buf_free(&b);
  pz_vector_free(v);
  pz_search_free(f);
  pz_store_free(s);
}

/* What ranking left behind, plan ids (random) masked: priorities without
 * computed_at, plans, effects and audit rows, one sorted text. */
static char *ranking_state(void) {
  PGresult *r = PQexec(admin,
                       "WITH x AS ("
                       " SELECT 'p' || (agency, topic, window_kind, window_start, level, rank, score, volume,"
                       "  negative_share, negative_low, negative_high, spike_z, spike_p, baseline, nps, nps_impact,"
                       "  csat, csat_impact, urgent_share, factors, explanation_es, explanation_en)::text t"
                       "  FROM priorities"
                       " UNION ALL SELECT 'a' || (agency, topic, kind, status, opened_at, closed_at, last_hot_at,"
                       "  effect, follows_plan IS NOT NULL, priority)::text FROM action_plans"
                       " UNION ALL SELECT 'e' || (agency, topic, closed_at, window_days, before_complaints,"
                       "  before_total, after_complaints, after_total, rate_before, rate_after, rate_ratio, verdict,"
                       "  followup_plan IS NOT NULL)::text FROM action_effects"
                       " UNION ALL SELECT 'l' || (actor, entity, action, detail)::text FROM audit_log)"
                       " SELECT count(*), string_agg(regexp_replace(t, '[0-9A-HJKMNP-TV-Z]{26}', 'ID', 'g'), E'\\n'"
                       "  ORDER BY regexp_replace(t, '[0-9A-HJKMNP-TV-Z]{26}', 'ID', 'g')) FROM x");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  char *t = strdup(PQgetvalue(r, 0, 1));
  PQclear(r);
  assert_non_null(t);
  return t;
}

/* Several agencies through the same steps: a spike opens plans, quiet hours
 * close them, days later their effect is checked (a not-effective one gets a
 * follow-up plan, opened between the plans read for every agency and the
 * decisions). Ranked all in one transaction per step (set-based reads) or one
 * agency per transaction, the priorities, plans, effects and audit rows are
 * the same. */
#define NAG 5
static void run_steps(pz_store *s, int together, int derive_later, size_t *opened, size_t *closed, size_t *spikes,
                      size_t *most) {
  static const char *ag[NAG] = {"ag-0", "ag-1", "ag-2", "ag-3", "ag-4"};
  const char *noise[] = {"procedures", "staff_attention", "information", "payments_fees"};
  enum { STEPS = 12, PER = 200 };
  /* step -> event time of its hour (ms after T0) */
  const int64_t at[STEPS] = {0,
                             HOUR,
                             2 * HOUR,
                             3 * HOUR,
                             4 * HOUR,
                             5 * HOUR,
                             24 * HOUR,
                             25 * HOUR,
                             30 * HOUR,
                             32 * HOUR,
                             50 * HOUR + 3 * HOUR,
                             72 * HOUR + HOUR};
  owned_row *o = calloc(NAG * PER, sizeof *o);
  assert_non_null(o);
  int seq = 0;
  pz_batch_result res;
  for (int st = 0; st < STEPS; st++) {
    size_t n = 0, from[NAG + 1];
    for (int a = 0; a < NAG; a++) {
      from[a] = n;
      int64_t t = T0 + at[st];
      int quiet = st == 9 || (st == 10 && a != 0); /* the spiking topic absent */
      for (int k = 0; k < 24 + 4 * a; k++)
        make_row(&o[n++], seq++, noise[k % 4], k % 5 ? NULL : "other", t + k * 60000, k % 3 ? "NEUTRAL" : "NEGATIVE",
                 (k + a) % 11, k % 4 ? -1 : 1 + k % 5, 0, 0.9);
      int wt = quiet ? 0 : 3 + a;
      if (st == 8 && a % 2 == 0) wt = 120; /* the spike: plans open for agencies 0, 2, 4 */
      if (st == 10 && a == 0) wt = 60;     /* complaints after agency 0's plan closed: not effective */
      if (st == 11 && a == 0) wt = 40;     /* and still there when its effect is checked */
      for (int k = 0; k < wt; k++)
        make_row(&o[n++], seq++, "waiting_times", k % 2 ? "queue_wait" : NULL, t + 1000 * k, "NEGATIVE", k % 4, 1,
                 k % 17 == 0, 0.9);
      for (size_t i = from[a]; i < n; i++) o[i].r.agency = ag[a];
    }
    from[NAG] = n;
    for (int a = 0; a < NAG; a++) {
      size_t lo = together ? 0 : from[a], hi = together ? n : from[a + 1];
      write_rows(s, o + lo, hi - lo, &res);
      /* with derive_later the batch's rankings come from pz_store_derive */
      for (int more = 1; more == 1; more = derive_later ? pz_store_derive(s, &res) : 0) {
        size_t agencies = 0;
        for (size_t i = 0; i < res.nprio; i++) agencies += i == 0 || strcmp(res.prio[i].agency, res.prio[i - 1].agency);
        if (agencies > *most) *most = agencies;
        *opened += res.opened, *closed += res.closed, *spikes += res.new_spikes;
        pz_batch_result_free(&res);
      }
      assert_int_equal(scalar("SELECT count(*) FROM aggregate_queue"), 0);
      /* whatever the ranking budget left for later is ranked before the next step */
      assert_int_equal(pz_store_rank_pending(s, &res, 1), 0);
      *opened += res.opened, *closed += res.closed, *spikes += res.new_spikes;
      pz_batch_result_free(&res);
      if (together) break;
    }
  }
  free(o);
}

static void test_many_agencies_one_transaction(void **state) {
  (void)state;
  if (!admin) skip();
  pz_store_cfg cfg;
  pz_store_cfg_default(&cfg);
  cfg.rank_interval_ms = 0;
  cfg.effect_days = 1;
  cfg.effect_min_events = 5;
  /* 0: one agency per transaction; 1: all together; 2: together, derived after the rows' transaction */
  size_t opened[3] = {0}, closed[3] = {0}, spikes[3] = {0}, most[3] = {0};
  char *state_of[3];
  for (int run = 0; run < 3; run++) {
    reset_tables();
    cfg.derive_later = run == 2;
    pz_store *s = open_store(&cfg);
    pz_store_set_rank_chunk(s, 2); /* five agencies: their reads in three statements each */
    run_steps(s, run > 0, run == 2, &opened[run], &closed[run], &spikes[run], &most[run]);
    pz_store_free(s);
    state_of[run] = ranking_state();
  }
  assert_int_equal(most[2], NAG);
  assert_int_equal(opened[2], opened[1]);
  assert_int_equal(closed[2], closed[1]);
  assert_int_equal(spikes[2], spikes[1]);
  assert_string_equal(state_of[2], state_of[1]);
  free(state_of[2]);
  assert_int_equal(most[0], 1);   /* one agency per transaction */
  assert_int_equal(most[1], NAG); /* all of them in one */
  assert_int_equal(opened[0], opened[1]);
  assert_int_equal(closed[0], closed[1]);
  assert_int_equal(spikes[0], spikes[1]);
  /* the steps did what they are for */
  assert_true(opened[1] >= 4); /* three spikes and a follow-up */
  assert_true(closed[1] >= 3);
  assert_int_equal(scalar("SELECT count(*) FROM action_effects"), 3);
  assert_int_equal(scalar("SELECT count(*) FROM action_effects WHERE verdict = 'not_effective'"), 1);
  assert_int_equal(scalar("SELECT count(*) FROM action_plans WHERE follows_plan IS NOT NULL"), 1);
  assert_string_equal(state_of[0], state_of[1]);
  free(state_of[0]);
  free(state_of[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replay_safe),
      cmocka_unit_test(test_derive_queue),
      cmocka_unit_test(test_spike_opens_one_plan),
      cmocka_unit_test(test_deferred_ranking),
      cmocka_unit_test(test_emerging_snapshot),
      cmocka_unit_test(test_mixed_batches),
      cmocka_unit_test(test_search_fill),
      cmocka_unit_test(test_search_fill_gap),
      cmocka_unit_test(test_search_given_vectors),
      cmocka_unit_test(test_search_fills_a_late_commit),
      cmocka_unit_test(test_search_delete_races_fill),
      cmocka_unit_test(test_many_agencies_one_transaction),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
