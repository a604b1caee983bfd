/* escucha-api read queries (q_read.c, q_stats.c) against a real PostgreSQL
 * (ESCUCHA_TEST_PG_DSN, set by tests/run.sh when it starts the stack), in a
 * schema of their own, with fixture rows and values computed by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "q_util.h"
#include "query.h"

#define SCHEMA "api_read_unit_test"
static PGconn *pg;

static void exec_ok(const char *sql) {
  PGresult *r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
}

/* Fixtures: agency demo, and agency otra whose rows must never show. Times in
 * 2024: Monday 2024-01-01 is the start of an ISO week. */
static const char FIXTURES[] =
    "INSERT INTO priorities (agency, topic, window_kind, window_start, computed_at, level, rank,"
    " score, volume, negative_share, negative_low, negative_high, spike_z, nps, nps_impact, csat,"
    " csat_impact, urgent_share, factors, explanation_es, explanation_en) VALUES"
    " ('demo', 'waiting_times', 'day', '2024-01-02Z', '2024-01-02T10:00:05Z', 1, 1, 0.71, 10, 0.8,"
    "  0.49, 0.94, 3.1, 30, -4.2, 41, -5, 0, '{\"spike\":0.5}', 'Tiempos de espera: 10', 'Waiting: 10'),"
    " ('demo', 'procedures', 'day', '2024-01-02Z', '2024-01-02T10:00:05Z', 1, 2, 0.30, 4, 0.25,"
    "  0.05, 0.7, NULL, NULL, NULL, NULL, NULL, 0, '{}', 'Trámites', 'Procedures'),"
    " ('demo', 'waiting_times/queue_wait', 'day', '2024-01-02Z', '2024-01-02T10:00:05Z', 2, 1, 0.5,"
    "  6, 0.5, 0.2, 0.8, NULL, NULL, NULL, NULL, NULL, 0, '{}', 'Colas', 'Queues'),"
    " ('demo', 'procedures', 'day', '2024-01-01Z', '2024-01-01T23:00:00Z', 1, 1, 0.2, 20, 0, 0,"
    "  0.16, NULL, NULL, NULL, NULL, NULL, 0, '{}', 'Ayer', 'Yesterday'),"
    " ('otra', 'secret_topic', 'day', '2024-01-05Z', '2024-01-05T10:00:00Z', 1, 1, 0.9, 99, 1, 1,"
    "  1, NULL, NULL, NULL, NULL, NULL, 0, '{}', 'otra', 'otra');"
    "INSERT INTO topic_window_stats (agency, topic, window_kind, window_start, total, negative,"
    " nps_promoters, nps_passives, nps_detractors, csat_responses, csat_satisfied) VALUES"
    " ('demo', 'waiting_times', 'day', '2024-01-02Z', 10, 8, 5, 3, 2, 4, 3),"
    " ('demo', 'waiting_times', 'day', '2024-01-01Z', 20, 0, 0, 0, 0, 0, 0),"
    " ('demo', 'waiting_times', 'day', '2023-12-30Z', 5, 1, 0, 0, 0, 0, 0),"
    " ('demo', 'waiting_times', 'day', '2023-12-01Z', 7, 1, 0, 0, 0, 0, 0),"
    " ('demo', 'waiting_times', 'hour', '2024-01-02T05:00Z', 3, 1, 0, 0, 0, 0, 0),"
    " ('otra', 'waiting_times', 'day', '2024-01-02Z', 99, 99, 0, 0, 99, 0, 0),"
    " ('demo', '*', 'week', '2024-01-01Z', 9, 3, 2, 1, 2, 4, 2),"
    " ('demo', '*', 'week', '2023-12-18Z', 4, 0, 1, 0, 0, 0, 0),"
    " ('otra', '*', 'week', '2024-01-08Z', 1, 0, 0, 0, 0, 0, 0);"
    "INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, priority, summary,"
    " recommendations, quotes) VALUES"
    " ('P1', 'demo', 'waiting_times', 'open', '2024-01-02T10:00:00Z', NULL,"
    "  '{\"topic\":\"waiting_times\",\"rank\":1}', 'Resumen', '[{\"text\":\"Abrir otra ventanilla\"}]',"
    "  '[{\"feedback_id\":\"F1\",\"text\":\"Esperé dos horas\"}]'),"
    " ('P2', 'demo', 'procedures', 'closed', '2024-01-01T08:00:00.250Z', '2024-01-01T20:00:00Z',"
    "  NULL, NULL, NULL, NULL),"
    " ('P3', 'otra', 'waiting_times', 'open', '2024-01-03T00:00:00Z', NULL, NULL, 'secreto', NULL, NULL);"
    "INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key, opened_at) VALUES"
    " ('P1', 'redmine', '42', 'http://t/42', 'open', 'k1', '2024-01-02T10:01:00Z'),"
    " ('P1', 'trello', 'c9', NULL, 'done', 'k2', '2024-01-02T10:02:00Z'),"
    " ('P3', 'redmine', '7', 'http://t/7', 'open', 'k3', '2024-01-03T00:01:00Z');"
    "INSERT INTO audit_log (at, actor, entity, entity_id, action, detail) VALUES"
    " ('2024-01-02T10:00:01Z', 'escucha-prioritize', 'action_plan', 'P1', 'open', '{\"score\":0.71}'),"
    " ('2024-01-02T10:01:00Z', 'escucha-actions', 'action_plan', 'P1', 'ticket_opened', '{\"key\":\"42\"}'),"
    " ('2024-01-02T10:02:00Z', 'escucha-actions', 'action_plan', 'P3', 'ticket_opened', '{}'),"
    " ('2024-01-03T09:00:00Z', 'demo:review', 'feedback', 'R5', 'review', '{}');"
    /* Satisfaction: week of 2024-01-01. web: nps 10, 9, 8, 0 and csat 5, 4, 2; email: nps 3 and
     * csat 1. Outside: otra's row, and demo's row of the next week. Review queue: R1 other (0.2),
     * R2 low confidence (0.4), R3 Quechua (0.9), R4 sure Spanish (0.9, not queued), R5 reviewed. */
    "INSERT INTO feedback (id, agency, channel, language, text, received_at, nps, csat, category,"
    " subcategory, confidence, sentiment, urgent) VALUES"
    " ('S1', 'demo', 'WEB', 'es', 't', '2024-01-01T01:00Z', 10, 5, 'waiting_times', NULL, 0.9, 'POSITIVE', false),"
    " ('S2', 'demo', 'WEB', 'es', 't', '2024-01-02T01:00Z', 9, 4, 'waiting_times', NULL, 0.9, 'POSITIVE', false),"
    " ('S3', 'demo', 'WEB', 'en', 't', '2024-01-03T01:00Z', 8, 2, 'procedures', NULL, 0.9, 'NEUTRAL', false),"
    " ('S4', 'demo', 'WEB', 'es', 't', '2024-01-07T23:59:59Z', 0, NULL, 'procedures', NULL, 0.9, 'NEGATIVE', false),"
    " ('S5', 'demo', 'EMAIL', 'es', 't', '2024-01-04T01:00Z', 3, 1, 'procedures', NULL, 0.9, 'NEGATIVE', false),"
    " ('S6', 'demo', 'WEB', 'es', 't', '2024-01-08T00:00Z', 0, 1, 'procedures', NULL, 0.9, 'NEGATIVE', false),"
    " ('S7', 'otra', 'WEB', 'es', 't', '2024-01-02T00:00Z', 0, 1, 'procedures', NULL, 0.9, 'NEGATIVE', false),"
    " ('R1', 'demo', 'WHATSAPP', 'es', 'no sé', '2023-06-01T00:00Z', NULL, NULL, 'other', 'other/unclassified', 0.2, "
    "'NEUTRAL', false),"
    " ('R2', 'demo', 'WEB', 'es', 'quizás', '2023-06-02T00:00Z', NULL, NULL, 'procedures', NULL, 0.4, 'NEUTRAL', true),"
    " ('R3', 'demo', 'SMS', 'qu', 'allinllachu', '2023-06-03T00:00Z', NULL, 3, 'procedures', NULL, 0.9, 'NEUTRAL', "
    "false),"
    " ('R4', 'demo', 'WEB', 'es', 'seguro', '2023-06-04T00:00Z', NULL, NULL, 'procedures', NULL, 0.95, 'NEUTRAL', "
    "false),"
    " ('R5', 'demo', 'WEB', 'es', 'revisado', '2023-06-05T00:00Z', NULL, NULL, 'other', NULL, 0.1, 'NEUTRAL', false),"
    " ('R6', 'otra', 'WEB', 'es', 'ajeno', '2023-06-06T00:00Z', NULL, NULL, 'other', NULL, 0.05, 'NEUTRAL', false)";

static int setup(void **state) {
  (void)state;
  const char *base = getenv("ESCUCHA_TEST_PG_DSN");
  if (!base || !*base) return 0;
  char dsn[1024];
  snprintf(dsn, sizeof dsn, "%s options='-csearch_path=" SCHEMA "'", base);
  pg = PQconnectdb(base);
  if (PQstatus(pg) != CONNECTION_OK) {
    PQfinish(pg);
    pg = NULL;
    return 0;
  }
  es_log_init("test-api", "error");
  exec_ok("SET client_min_messages = warning");
  exec_ok("DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
  exec_ok("CREATE SCHEMA " SCHEMA);
  PQfinish(pg);
  pg = PQconnectdb(dsn); /* the schema on the search path of every statement */
  if (PQstatus(pg) != CONNECTION_OK) return -1;
  exec_ok("SET client_min_messages = warning");
  if (es_pg_migrate(pg, "migrations") != 0) return -1;
  exec_ok(FIXTURES);
  exec_ok("ANALYZE feedback, topic_window_stats, priorities, action_plans, actions, audit_log");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (pg) {
    exec_ok("DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
    PQfinish(pg);
  }
  return 0;
}

/* Query-string parameters from "a=1", "b=2", …, NULL. */
static api_params params(const char *kv[]) {
  api_params p = {0};
  for (size_t i = 0; kv && kv[i]; i++) {
    const char *eq = strchr(kv[i], '=');
    p.kv[p.n].name = strndup(kv[i], (size_t)(eq - kv[i]));
    p.kv[p.n].value = strdup(eq + 1);
    p.n++;
  }
  return p;
}
static void params_free(api_params *p) {
  for (size_t i = 0; i < p->n; i++) free(p->kv[i].name), free(p->kv[i].value);
}

typedef api_rc (*q_fn)(PGconn *, const char *, const api_params *, es_buf *, api_err *);

/* Runs fn and parses its reply; NULL (and the error in *err) when it refused. */
static json_t *run(q_fn fn, const char *agency, const char *kv[], api_rc want, api_err *err) {
  api_params p = params(kv);
  es_buf out = {0};
  memset(err, 0, sizeof *err);
  api_rc rc = fn(pg, agency, &p, &out, err);
  params_free(&p);
  assert_int_equal(rc, want);
  json_t *j = NULL;
  if (rc == API_OK) {
    j = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(j);
  } else {
    assert_int_equal(out.len, 0);
  }
  es_buf_free(&out);
  return j;
}

static void refused(q_fn fn, const char *kv[], const char *field) {
  api_err err;
  assert_null(run(fn, "demo", kv, API_EINVAL, &err));
  assert_int_equal(err.status, 400);
  assert_non_null(err.field);
  assert_string_equal(err.field, field);
}

#define S(o, k) json_string_value(json_object_get(o, k))
#define I(o, k) json_integer_value(json_object_get(o, k))
#define R(o, k) json_number_value(json_object_get(o, k)) /* 30 may come as 30, not 30.0 */
#define NUL(o, k) assert_true(json_is_null(json_object_get(o, k)))
#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_time_parsing(void **state) {
  (void)state;
  int64_t ms;
  assert_int_equal(api_qr_parse_time("2024-01-01T00:00:00Z", &ms), 0);
  assert_int_equal(ms, 1704067200000LL);
  /* 10:30+02:00 = 08:30Z, .5 s kept as 500 ms */
  assert_int_equal(api_qr_parse_time("2024-02-29T10:30:00.5+02:00", &ms), 0);
  assert_int_equal(ms, 1709195400500LL);
  const char *bad[] = {"2024-01-01", "2023-02-29T00:00:00Z",  "2024-01-01T24:00:00Z",  "2024-01-01T00:00:00",
                       "yesterday",  "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Z ", "2024-13-01T00:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(api_qr_parse_time(bad[i], &ms), -1);
  char t[32];
  api_qr_format_time(1709195400500LL, t);
  assert_string_equal(t, "2024-02-29T08:30:00.500Z");
  api_qr_format_time(1704067200000LL, t);
  assert_string_equal(t, "2024-01-01T00:00:00Z");
  /* Wednesday 2024-01-03 12:00 -> its ISO week starts Monday 2024-01-01 */
  assert_int_equal(api_qr_trunc(1704283200000LL, API_WIN_WEEK), 1704067200000LL);
}

static void test_priorities(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  const char *q1[] = {"window=day", NULL};
  json_t *j = run(api_q_priorities, "demo", q1, API_OK, &err);
  /* the latest demo ranking (otra's newer 2024-01-05 one is not demo's) */
  assert_string_equal(S(j, "window"), "day");
  assert_string_equal(S(j, "window_start"), "2024-01-02T00:00:00Z");
  assert_string_equal(S(j, "computed_at"), "2024-01-02T10:00:05Z");
  json_t *items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 3); /* levels 1 (2 topics) then 2 */
  json_t *a = json_array_get(items, 0);
  assert_string_equal(S(a, "topic"), "waiting_times");
  assert_int_equal(I(a, "rank"), 1);
  assert_int_equal(I(a, "level"), 1);
  assert_int_equal(I(a, "volume"), 10);
  NEAR(R(a, "score"), 0.71);
  NEAR(R(a, "csat"), 0.41); /* stored in percent (41) by prioritize, a share here */
  NEAR(R(a, "csat_impact"), -0.05);
  NEAR(R(a, "nps"), 30.0);
  NEAR(R(json_object_get(a, "factors"), "spike"), 0.5);
  assert_string_equal(S(a, "explanation_es"), "Tiempos de espera: 10");
  assert_string_equal(S(a, "action_plan_id"), "P1");
  /* volumes of the 14 days 2023-12-20 .. 2024-01-02, oldest first: 12-30 = 5, 01-01 = 20,
   * 01-02 = 10; 2023-12-01 is older than the 14 windows, the hour row another kind */
  json_t *tr = json_object_get(a, "trend");
  assert_int_equal(json_array_size(tr), 14);
  long want[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 20, 10};
  for (int i = 0; i < 14; i++) assert_int_equal(json_integer_value(json_array_get(tr, (size_t)i)), want[i]);
  json_t *b = json_array_get(items, 1);
  assert_string_equal(S(b, "topic"), "procedures");
  NUL(b, "action_plan_id"); /* P2 on procedures is closed */
  NUL(b, "nps");
  NUL(b, "spike_z");
  assert_string_equal(S(json_array_get(items, 2), "topic"), "waiting_times/queue_wait");
  json_decref(j);

  const char *q2[] = {"window=day", "level=2", NULL};
  j = run(api_q_priorities, "demo", q2, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  json_decref(j);
  /* at inside 2024-01-01 -> that day's ranking */
  const char *q3[] = {"window=day", "at=2024-01-01T12:00:00Z", NULL};
  j = run(api_q_priorities, "demo", q3, API_OK, &err);
  assert_string_equal(S(j, "window_start"), "2024-01-01T00:00:00Z");
  items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 1);
  assert_string_equal(S(json_array_get(items, 0), "explanation_en"), "Yesterday");
  json_decref(j);
  /* no ranking of that kind: an empty reply, not an error */
  const char *q4[] = {"window=week", NULL};
  j = run(api_q_priorities, "demo", q4, API_OK, &err);
  NUL(j, "window_start");
  assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
  json_decref(j);
  /* otra sees only its own ranking */
  j = run(api_q_priorities, "otra", q1, API_OK, &err);
  items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 1);
  assert_string_equal(S(json_array_get(items, 0), "topic"), "secret_topic");
  json_decref(j);

  const char *b1[] = {"window=month", NULL}, *b2[] = {NULL}, *b3[] = {"window=day", "at=2024-01-01", NULL},
             *b4[] = {"window=day", "level=3", NULL};
  refused(api_q_priorities, b1, "window");
  refused(api_q_priorities, b2, "window");
  refused(api_q_priorities, b3, "at");
  refused(api_q_priorities, b4, "level");
}

static api_rc series_waiting(PGconn *c, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  return api_q_topic_series(c, agency, "waiting_times", p, out, err);
}

static void test_topic_series(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  const char *q[] = {"window=day", "from=2023-12-31T00:00:00Z", "to=2024-01-03T00:00:00Z", NULL};
  json_t *j = run(series_waiting, "demo", q, API_OK, &err);
  assert_string_equal(S(j, "topic"), "waiting_times");
  json_t *pts = json_object_get(j, "points");
  assert_int_equal(json_array_size(pts), 3); /* 12-31 (no row: zeros), 01-01, 01-02 */
  json_t *p0 = json_array_get(pts, 0), *p1 = json_array_get(pts, 1), *p2 = json_array_get(pts, 2);
  assert_string_equal(S(p0, "start"), "2023-12-31T00:00:00Z");
  assert_int_equal(I(p0, "total"), 0);
  NUL(p0, "negative_share");
  NUL(p0, "nps");
  /* 0 of 20 negative: Wilson center = half = (z^2/40)/(1 + z^2/20), z^2 = 3.841458820694124
   * -> [0, 2 * 0.0805625790264097] = [0, 0.161125158052819] */
  assert_int_equal(I(p1, "total"), 20);
  NEAR(R(p1, "negative_share"), 0.0);
  NEAR(R(p1, "negative_low"), 0.0);
  NEAR(R(p1, "negative_high"), 0.161125158052819);
  NUL(p1, "nps"); /* no answers that day */
  NUL(p1, "csat");
  /* 8 of 10 negative -> [0.490162471536642, 0.943317848545625] (docs/prioritization.md);
   * NPS = 100 (5 - 2) / 10 = 30; CSAT = 3 / 4 */
  assert_string_equal(S(p2, "start"), "2024-01-02T00:00:00Z");
  assert_int_equal(I(p2, "negative"), 8);
  NEAR(R(p2, "negative_share"), 0.8);
  NEAR(R(p2, "negative_low"), 0.490162471536642);
  NEAR(R(p2, "negative_high"), 0.943317848545625);
  NEAR(R(p2, "nps"), 30.0);
  NEAR(R(p2, "csat"), 0.75);
  json_decref(j);
  /* otra's 99-row window is not demo's; demo's rows are not otra's */
  j = run(series_waiting, "otra", q, API_OK, &err);
  pts = json_object_get(j, "points");
  assert_int_equal(I(json_array_get(pts, 1), "total"), 0);
  assert_int_equal(I(json_array_get(pts, 2), "total"), 99);
  json_decref(j);
  /* the statement is prepared on the connection (api_qr_exec_prepared): dropped
   * under it, it is prepared again and the request still answers */
  PQclear(PQexec(pg, "DEALLOCATE ALL"));
  j = run(series_waiting, "otra", q, API_OK, &err);
  assert_int_equal(I(json_array_get(json_object_get(j, "points"), 2), "total"), 99);
  json_decref(j);

  const char *b1[] = {"window=day", "from=2024-01-03T00:00:00Z", "to=2024-01-01T00:00:00Z", NULL},
             *b2[] = {"window=day", "from=last week", NULL}, *b3[] = {"window=fortnight", NULL},
             *b4[] = {"window=hour", "from=2020-01-01T00:00:00Z", "to=2024-01-01T00:00:00Z", NULL};
  refused(series_waiting, b1, "to");
  refused(series_waiting, b2, "from");
  refused(series_waiting, b3, "window");
  refused(series_waiting, b4, "from"); /* more than 1000 windows */
}

static void test_action_plans(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  json_t *j = run(api_q_plans_list, "demo", NULL, API_OK, &err);
  json_t *items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 2); /* never otra's P3 */
  json_t *p1 = json_array_get(items, 0);
  assert_string_equal(S(p1, "id"), "P1");
  assert_string_equal(S(p1, "opened_at"), "2024-01-02T10:00:00Z");
  NUL(p1, "closed_at");
  json_t *tk = json_object_get(p1, "tickets");
  assert_int_equal(json_array_size(tk), 2);
  assert_string_equal(S(json_array_get(tk, 0), "key"), "42");
  assert_string_equal(S(json_array_get(tk, 0), "url"), "http://t/42");
  assert_string_equal(S(json_array_get(tk, 1), "status"), "done");
  json_t *p2 = json_array_get(items, 1);
  assert_string_equal(S(p2, "opened_at"), "2024-01-01T08:00:00.250Z");
  assert_int_equal(json_array_size(json_object_get(p2, "tickets")), 0);
  NUL(j, "next_cursor");
  json_decref(j);

  const char *qs[] = {"status=closed", NULL};
  j = run(api_q_plans_list, "demo", qs, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "P2");
  json_decref(j);
  /* pages of one: P1, then P2 through the cursor, then no next page */
  const char *ql[] = {"limit=1", NULL};
  j = run(api_q_plans_list, "demo", ql, API_OK, &err);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "P1");
  char cur[256];
  snprintf(cur, sizeof cur, "cursor=%s", S(j, "next_cursor"));
  json_decref(j);
  const char *qc[] = {"limit=1", cur, NULL};
  j = run(api_q_plans_list, "demo", qc, API_OK, &err);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "P2");
  NUL(j, "next_cursor");
  json_decref(j);

  const char *b1[] = {"limit=0", NULL}, *b2[] = {"limit=501", NULL}, *b3[] = {"status=pending", NULL},
             *b4[] = {"cursor=!!", NULL}, *b5[] = {"cursor=YWJj", NULL}; /* "abc": no '.' */
  refused(api_q_plans_list, b1, "limit");
  refused(api_q_plans_list, b2, "limit");
  refused(api_q_plans_list, b3, "status");
  refused(api_q_plans_list, b4, "cursor");
  refused(api_q_plans_list, b5, "cursor");
}

static void test_plan_get(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  es_buf out = {0};
  assert_int_equal(api_q_plan_get(pg, "demo", "P1", &out, &err), API_OK);
  json_t *j = json_loadb(out.data, out.len, 0, NULL);
  es_buf_free(&out);
  assert_non_null(j);
  assert_string_equal(S(j, "summary"), "Resumen");
  assert_int_equal(json_array_size(json_object_get(j, "tickets")), 2);
  assert_string_equal(S(json_array_get(json_object_get(j, "recommendations"), 0), "text"), "Abrir otra ventanilla");
  assert_string_equal(S(json_array_get(json_object_get(j, "quotes"), 0), "feedback_id"), "F1");
  assert_int_equal(I(json_object_get(j, "priority"), "rank"), 1);
  json_t *au = json_object_get(j, "audit"); /* P1's two rows, oldest first; not P3's */
  assert_int_equal(json_array_size(au), 2);
  assert_string_equal(S(json_array_get(au, 0), "action"), "open");
  assert_string_equal(S(json_array_get(au, 0), "actor"), "escucha-prioritize");
  assert_string_equal(S(json_array_get(au, 0), "at"), "2024-01-02T10:00:01Z");
  assert_string_equal(S(json_array_get(au, 1), "action"), "ticket_opened");
  assert_string_equal(S(json_object_get(json_array_get(au, 1), "detail"), "key"), "42");
  json_decref(j);
  /* another agency's plan answers exactly like a missing one */
  memset(&err, 0, sizeof err);
  assert_int_equal(api_q_plan_get(pg, "demo", "P3", &out, &err), API_NOTFOUND);
  assert_int_equal(err.status, 404);
  assert_int_equal(out.len, 0);
  assert_int_equal(api_q_plan_get(pg, "otra", "P1", &out, &err), API_NOTFOUND);
  assert_int_equal(api_q_plan_get(pg, "demo", "nope", &out, &err), API_NOTFOUND);
  assert_int_equal(out.len, 0);
  es_buf_free(&out);
}

static void sat_check(json_t *o, double nps, double lo, double hi, long n, double csat, double clo, double chi,
                      long cn) {
  NEAR(R(o, "nps"), nps);
  NEAR(R(o, "nps_low"), lo);
  NEAR(R(o, "nps_high"), hi);
  assert_int_equal(I(o, "nps_n"), n);
  NEAR(R(o, "csat"), csat);
  NEAR(R(o, "csat_low"), clo);
  NEAR(R(o, "csat_high"), chi);
  assert_int_equal(I(o, "csat_n"), cn);
}

static void test_satisfaction(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  const char *q[] = {"window=week", "at=2024-01-03T12:00:00Z", NULL};
  json_t *j = run(api_q_satisfaction, "demo", q, API_OK, &err);
  assert_string_equal(S(j, "window_start"), "2024-01-01T00:00:00Z");
  /* week of 2024-01-01 (S1..S5; S6 is the next week, S7 otra's):
   * NPS answers 10, 9 (promoters), 8 (passive), 0, 3 (detractors): n = 5,
   * NPS = 100 (2 - 2) / 5 = 0; var = (0.4 + 0.4 - 0^2) / 5 = 0.16, se = 0.4,
   * half = 100 * 1.959963984540054 * 0.4 = 78.3985593816022.
   * CSAT answers 5, 4, 2, 1: 2 of 4 -> Wilson [0.150038989152149, 0.849961010847851]. */
  sat_check(json_object_get(j, "overall"), 0, -78.3985593816022, 78.3985593816022, 5, 0.5, 0.150038989152149,
            0.849961010847851, 4);
  json_t *ch = json_object_get(j, "by_channel");
  assert_int_equal(json_array_size(ch), 2);
  json_t *email = json_array_get(ch, 0), *web = json_array_get(ch, 1);
  assert_string_equal(S(email, "channel"), "email");
  /* email: one detractor: NPS -100, variance (0 + 1 - 1) = 0 -> [-100, -100]; CSAT 0 of 1:
   * Wilson center = half = (z^2/2)/(1 + z^2) -> [0, 2 * 0.396725342811381] = [0, 0.793450685622763] */
  sat_check(email, -100, -100, -100, 1, 0, 0, 0.793450685622763, 1);
  /* web: 10, 9, 8, 0 -> NPS 100 (2 - 1) / 4 = 25; var = (0.5 + 0.25 - 0.0625) / 4 = 0.171875,
   * half = 100 z sqrt(0.171875) = 81.2558142416161 -> [-56.2558142416161, 100 (clipped)];
   * CSAT 5, 4, 2 -> 2 of 3 -> Wilson [0.207659600802048, 0.938508055279604] */
  assert_string_equal(S(web, "channel"), "web");
  sat_check(web, 25, -56.2558142416161, 100, 4, 2.0 / 3.0, 0.207659600802048, 0.938508055279604, 3);
  json_t *cat = json_object_get(j, "by_category");
  assert_int_equal(json_array_size(cat), 2);
  assert_string_equal(S(json_array_get(cat, 0), "category"), "procedures");
  assert_int_equal(I(json_array_get(cat, 0), "nps_n"), 3); /* 8, 0, 3 */
  assert_int_equal(I(json_array_get(cat, 1), "nps_n"), 2); /* 10, 9 */
  /* the last 12 weeks from the '*' rows, oldest first; 2023-12-18 has one promoter */
  json_t *se = json_object_get(j, "series");
  assert_int_equal(json_array_size(se), 12);
  json_t *last = json_array_get(se, 11), *dec18 = json_array_get(se, 9);
  assert_string_equal(S(last, "start"), "2024-01-01T00:00:00Z");
  NEAR(R(last, "nps"), 0.0); /* 100 (2 - 2) / 5 */
  NEAR(R(last, "csat"), 0.5);
  assert_string_equal(S(dec18, "start"), "2023-12-18T00:00:00Z");
  NEAR(R(dec18, "nps"), 100.0);
  NUL(dec18, "csat");
  NUL(json_array_get(se, 10), "nps");
  json_decref(j);
  /* without at: the agency's newest week (demo: 2024-01-01, not otra's 2024-01-08) */
  const char *q2[] = {"window=week", NULL};
  j = run(api_q_satisfaction, "demo", q2, API_OK, &err);
  assert_string_equal(S(j, "window_start"), "2024-01-01T00:00:00Z");
  json_decref(j);
  /* otra: its own single row */
  j = run(api_q_satisfaction, "otra", q, API_OK, &err);
  assert_int_equal(I(json_object_get(j, "overall"), "nps_n"), 1);
  NEAR(R(json_object_get(j, "overall"), "nps"), -100.0);
  json_decref(j);
  const char *b1[] = {"window=hour", NULL}, *b2[] = {"window=week", "at=2024-01-03T12:00", NULL};
  refused(api_q_satisfaction, b1, "window");
  refused(api_q_satisfaction, b2, "at");
}

static void test_review_queue(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  json_t *j = run(api_q_review_queue, "demo", NULL, API_OK, &err);
  json_t *items = json_object_get(j, "items");
  /* lowest confidence first; R4 (sure, Spanish) not queued, R5 reviewed, R6 otra's */
  assert_int_equal(json_array_size(items), 3);
  const char *ids[] = {"R1", "R2", "R3"}, *why[] = {"unclassified", "low_confidence", "rare_language"};
  for (size_t i = 0; i < 3; i++) {
    json_t *it = json_array_get(items, i);
    assert_string_equal(S(it, "id"), ids[i]);
    assert_string_equal(S(it, "reason"), why[i]);
  }
  json_t *r1 = json_array_get(items, 0), *r2 = json_array_get(items, 1), *r3 = json_array_get(items, 2);
  assert_string_equal(S(r1, "channel"), "whatsapp");
  assert_string_equal(S(r1, "subcategory"), "other/unclassified");
  assert_string_equal(S(r1, "received_at"), "2023-06-01T00:00:00Z");
  NEAR(R(r2, "confidence"), 0.4);
  assert_true(json_is_true(json_object_get(r2, "urgent")));
  NUL(r2, "urgent_reason"); /* the fixture's urgent item has no reason stored (rows before migration 004) */
  NUL(r2, "urgent_confidence");
  assert_int_equal(I(r3, "csat"), 3);
  NUL(r3, "nps");
  assert_string_equal(S(r3, "language"), "qu");
  json_decref(j);
  const char *ql[] = {"limit=1", NULL};
  j = run(api_q_review_queue, "demo", ql, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  json_decref(j);
  j = run(api_q_review_queue, "otra", NULL, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "R6");
  json_decref(j);
  const char *b1[] = {"limit=abc", NULL}, *b2[] = {"limit=1000", NULL};
  refused(api_q_review_queue, b1, "limit");
  refused(api_q_review_queue, b2, "limit");
  /* Class balance (cl_review_order): agency bal has one review of
   * waiting_times/queue_wait, so its items weigh 0.9 / 2 and 0.8 / 3 (the
   * second in its line) and procedures/forms' 0.7 / 1 goes first; the served
   * other item 0.5 / 1 has a line of its own and goes before 0.8 / 3. */
  exec_ok(
      "INSERT INTO feedback (id, agency, channel, language, text, received_at, category, subcategory,"
      " confidence, sentiment, urgent) VALUES"
      " ('B0', 'bal', 'WEB', 'es', 'r', '2023-07-01Z', 'waiting_times', 'waiting_times/queue_wait', 0.05,"
      "  'NEUTRAL', false),"
      " ('B1', 'bal', 'WEB', 'es', 'a', '2023-07-02Z', 'waiting_times', 'waiting_times/queue_wait', 0.1,"
      "  'NEUTRAL', false),"
      " ('B2', 'bal', 'WEB', 'es', 'b', '2023-07-03Z', 'waiting_times', 'waiting_times/queue_wait', 0.2,"
      "  'NEUTRAL', false),"
      " ('B3', 'bal', 'WEB', 'es', 'c', '2023-07-04Z', 'procedures', 'procedures/forms', 0.3, 'NEUTRAL', false),"
      " ('B4', 'bal', 'WEB', 'es', 'd', '2023-07-05Z', 'other', 'other/unclassified', 0.5, 'NEUTRAL', false);"
      "INSERT INTO audit_log (at, actor, entity, entity_id, action, detail) VALUES"
      " ('2023-07-06Z', 'bal:review', 'feedback', 'B0', 'review',"
      "  '{\"category\":\"waiting_times\",\"subcategory\":\"waiting_times/queue_wait\"}')");
  j = run(api_q_review_queue, "bal", NULL, API_OK, &err);
  items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 4);
  const char *bal[] = {"B3", "B4", "B1", "B2"};
  for (size_t i = 0; i < 4; i++) assert_string_equal(S(json_array_get(items, i), "id"), bal[i]);
  json_decref(j);
  /* a page of 2 ranks only each line's first 2 items and keeps the same head */
  const char *l2[] = {"limit=2", NULL};
  j = run(api_q_review_queue, "bal", l2, API_OK, &err);
  items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 2);
  for (size_t i = 0; i < 2; i++) assert_string_equal(S(json_array_get(items, i), "id"), bal[i]);
  json_decref(j);
  exec_ok("DELETE FROM audit_log WHERE actor = 'bal:review'; DELETE FROM feedback WHERE agency = 'bal'");
  /* Margin and the model's most probable class (migration 019): uncertainty is
   * 1 - (confidence - runner_up) and the line is `predicted`. M1 (0.45 vs
   * 0.44) and the served-other M3 (predicted procedures/forms, 0.20 vs 0.18)
   * go first; M5, confident-looking 0.60 against 0.35, is queued (margin 0.25)
   * in a line of its own; M2 and M4 are second in their lines (0.75 / 2, 0.70 /
   * 2). By 1 - confidence and stored subcategories it would be M3 M2 M4 M1,
   * without M5. */
  exec_ok(
      "INSERT INTO feedback (id, agency, channel, language, text, received_at, category, subcategory,"
      " confidence, runner_up, predicted, sentiment, urgent) VALUES"
      " ('M1', 'mar', 'WEB', 'es', 'a', '2023-08-01Z', 'waiting_times', 'waiting_times/queue_wait', 0.45, 0.44,"
      "  'waiting_times/queue_wait', 'NEUTRAL', false),"
      " ('M2', 'mar', 'WEB', 'es', 'b', '2023-08-02Z', 'waiting_times', 'waiting_times/queue_wait', 0.30, 0.05,"
      "  'waiting_times/queue_wait', 'NEUTRAL', false),"
      " ('M3', 'mar', 'WEB', 'es', 'c', '2023-08-03Z', 'other', 'other/unclassified', 0.20, 0.18,"
      "  'procedures/forms', 'NEUTRAL', false),"
      " ('M4', 'mar', 'WEB', 'es', 'd', '2023-08-04Z', 'procedures', 'procedures/forms', 0.40, 0.10,"
      "  'procedures/forms', 'NEUTRAL', false),"
      " ('M5', 'mar', 'WEB', 'es', 'e', '2023-08-05Z', 'staff_attention', 'staff_attention/rudeness', 0.60, 0.35,"
      "  'staff_attention/rudeness', 'NEUTRAL', false),"
      " ('M6', 'mar', 'WEB', 'es', 'f', '2023-08-06Z', 'staff_attention', 'staff_attention/rudeness', 0.60, 0.05,"
      "  'staff_attention/rudeness', 'NEUTRAL', false)");
  j = run(api_q_review_queue, "mar", NULL, API_OK, &err);
  items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 5); /* M6: margin 0.55, not queued */
  const char *mar[] = {"M1", "M3", "M5", "M2", "M4"};
  for (size_t i = 0; i < 5; i++) assert_string_equal(S(json_array_get(items, i), "id"), mar[i]);
  assert_string_equal(S(json_array_get(items, 1), "reason"), "unclassified");
  assert_string_equal(S(json_array_get(items, 2), "reason"), "low_confidence");
  json_decref(j);
  exec_ok("DELETE FROM feedback WHERE agency = 'mar'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time_parsing), cmocka_unit_test(test_priorities), cmocka_unit_test(test_topic_series),
      cmocka_unit_test(test_action_plans), cmocka_unit_test(test_plan_get),   cmocka_unit_test(test_satisfaction),
      cmocka_unit_test(test_review_queue),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
