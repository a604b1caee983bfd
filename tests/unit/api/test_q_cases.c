/* escucha-api's urgent cases (q_cases.c) and the channel's safety in the
 * feedback reads (q_feedback.c): case list/detail/ack with their audit rows,
 * the audited read of an urgent item, and what receipts and Open311 show of
 * an urgent item (nothing beyond "received"). Against a real PostgreSQL
 * (ESCUCHA_TEST_PG_DSN), in a schema of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "q_extra.h"
#include "query.h"

#define SCHEMA "api_cases_unit_test"
static PGconn *pg;

static void exec_ok(const char *sql) {
  PGresult *r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
}

static long count(const char *sql) {
  PGresult *r = PQexec(pg, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return n;
}

/* U1: an urgent WhatsApp item with its case C1 (a Redmine ticket) in agency
 * demo; U2 an urgent item through Open311 with its case C2 (closed); N1 an
 * ordinary Open311 item; C9 otra's case. Plan P1 is a topic plan. */
static const char FIXTURES[] =
    "INSERT INTO feedback (id, agency, service, channel, language, text, received_at, classified_at, category,"
    " subcategory, confidence, sentiment, urgent, urgent_reason, urgent_confidence) VALUES"
    " ('U1', 'demo', 'safety', 'WHATSAPP', 'es', 'mi expareja me amenazó', '2024-03-01T10:00:00Z',"
    "  '2024-03-01T10:00:01Z', 'safety', 'safety/violence', 0.9, 'NEGATIVE', true, 'threat: amenazó', 0.97),"
    " ('U2', 'demo', 'safety', 'OPEN311', 'es', 'me quieren matar en la calle 5', '2024-03-02T10:00:00Z',"
    "  '2024-03-02T10:00:01Z', 'safety', NULL, 0.9, 'NEGATIVE', true, 'model', 0.81),"
    " ('N1', 'demo', 'transport', 'OPEN311', 'es', 'bache en la calle', now() - interval '1 day',"
    "  now() - interval '1 day', 'transport', NULL, 0.9, 'NEGATIVE', false, NULL, NULL),"
    " ('U9', 'otra', 'safety', 'WHATSAPP', 'es', 'secreto de otra', '2024-03-01T11:00:00Z', NULL, 'safety', NULL,"
    "  0.9, 'NEGATIVE', true, 'threat', 0.9);"
    "UPDATE feedback SET received_at = now() - interval '2 days' WHERE id = 'U2';"
    "INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, kind, feedback_id, summary) VALUES"
    " ('C1', 'demo', 'case/U1', 'open', '2024-03-01T10:00:02Z', NULL, 'case', 'U1', 'caso'),"
    " ('C2', 'demo', 'case/U2', 'closed', '2024-03-02T10:00:02Z', '2024-03-03T00:00:00Z', 'case', 'U2', NULL),"
    " ('C9', 'otra', 'case/U9', 'open', '2024-03-01T11:00:02Z', NULL, 'case', 'U9', NULL),"
    " ('P1', 'demo', 'safety', 'open', '2024-03-01T09:00:00Z', NULL, 'plan', NULL, 'plan');"
    "INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key, opened_at) VALUES"
    " ('C1', 'redmine', '77', 'http://r/77', 'open', 'case-k1', '2024-03-01T10:00:03Z'),"
    " ('P1', 'redmine', '5', 'http://r/5', 'open', 'plan-k1', '2024-03-01T09:00:01Z');"
    "INSERT INTO audit_log (at, actor, entity, entity_id, action, detail) VALUES"
    " ('2024-03-01T10:00:03Z', 'escucha-actions', 'action_plan', 'C1', 'ticket_opened', '{\"key\":\"77\"}'),"
    " ('2024-03-01T11:00:03Z', 'escucha-actions', 'action_plan', 'C9', 'ticket_opened', '{}')";

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
  pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) return -1;
  exec_ok("SET client_min_messages = warning");
  if (es_pg_migrate(pg, "migrations") != 0) return -1;
  exec_ok(FIXTURES);
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

#define S(o, k) json_string_value(json_object_get(o, k))

static const api_viewer READER = {"demo:read", "{\"key_id\":\"0123456789ab\",\"role\":\"read\",\"via\":\"key\"}"};
static const api_viewer REVIEWER = {"demo:review",
                                    "{\"key_id\":\"ba9876543210\",\"role\":\"review\",\"via\":\"session\"}"};

static json_t *parse(es_buf *out) {
  json_t *j = json_loadb(out->data, out->len, 0, NULL);
  assert_non_null(j);
  es_buf_free(out);
  return j;
}

static json_t *list(const char *agency, const char *k1, const char *k2, api_rc want, api_err *err) {
  api_params p = {0};
  const char *kv[] = {k1, k2};
  for (int i = 0; i < 2; i++)
    if (kv[i]) {
      const char *eq = strchr(kv[i], '=');
      p.kv[p.n].name = strndup(kv[i], (size_t)(eq - kv[i]));
      p.kv[p.n].value = strdup(eq + 1);
      p.n++;
    }
  es_buf out = {0};
  memset(err, 0, sizeof *err);
  api_rc rc = api_q_cases_list(pg, agency, &p, &out, err);
  for (size_t i = 0; i < p.n; i++) free(p.kv[i].name), free(p.kv[i].value);
  assert_int_equal(rc, want);
  if (rc != API_OK) {
    assert_int_equal(out.len, 0);
    es_buf_free(&out);
    return NULL;
  }
  return parse(&out);
}

static void test_cases_list(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err;
  json_t *j = list("demo", NULL, NULL, API_OK, &err), *items = json_object_get(j, "items");
  assert_int_equal(json_array_size(items), 2); /* C2, C1 newest first; not P1, not otra's C9 */
  json_t *c2 = json_array_get(items, 0), *c1 = json_array_get(items, 1);
  assert_string_equal(S(c2, "id"), "C2");
  assert_string_equal(S(c2, "status"), "closed");
  assert_string_equal(S(c2, "closed_at"), "2024-03-03T00:00:00Z");
  assert_string_equal(S(c1, "id"), "C1");
  assert_string_equal(S(c1, "feedback_id"), "U1");
  assert_string_equal(S(c1, "channel"), "whatsapp");
  assert_string_equal(S(c1, "received_at"), "2024-03-01T10:00:00Z");
  assert_string_equal(S(c1, "opened_at"), "2024-03-01T10:00:02Z");
  assert_string_equal(S(c1, "reason"), "threat: amenazó");
  assert_true(json_number_value(json_object_get(c1, "confidence")) > 0.969 &&
              json_number_value(json_object_get(c1, "confidence")) < 0.971);
  assert_string_equal(S(c1, "category"), "safety");
  assert_string_equal(S(c1, "subcategory"), "safety/violence");
  assert_true(json_is_null(json_object_get(c1, "closed_at")));
  assert_true(json_is_null(json_object_get(c1, "acknowledged")));
  assert_null(json_object_get(c1, "text")); /* the list never carries the text */
  json_t *t = json_array_get(json_object_get(c1, "tickets"), 0);
  assert_string_equal(S(t, "tool"), "redmine");
  assert_string_equal(S(t, "key"), "77");
  assert_string_equal(S(t, "url"), "http://r/77");
  assert_string_equal(S(t, "status"), "open");
  assert_true(json_is_null(json_object_get(j, "next_cursor")));
  json_decref(j);
  /* status filter, pages */
  j = list("demo", "status=open", NULL, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "C1");
  json_decref(j);
  j = list("demo", "limit=1", NULL, API_OK, &err);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "C2");
  char cur[300];
  snprintf(cur, sizeof cur, "cursor=%s", S(j, "next_cursor"));
  json_decref(j);
  j = list("demo", "limit=1", cur, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  assert_string_equal(S(json_array_get(json_object_get(j, "items"), 0), "id"), "C1");
  assert_true(json_is_null(json_object_get(j, "next_cursor")));
  json_decref(j);
  j = list("otra", NULL, NULL, API_OK, &err);
  assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
  json_decref(j);
  assert_null(list("demo", "status=pending", NULL, API_EINVAL, &err));
  assert_string_equal(err.field, "status");
  assert_null(list("demo", "cursor=xyz", NULL, API_EINVAL, &err));
  assert_string_equal(err.field, "cursor");
  assert_null(list("demo", "limit=501", NULL, API_EINVAL, &err));
  assert_string_equal(err.field, "limit");
}

static void test_case_get_is_audited(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err = {0};
  es_buf out = {0};
  long before = count("SELECT count(*) FROM audit_log WHERE entity = 'case' AND entity_id = 'C1'");
  assert_int_equal(api_q_case_get(pg, "demo", "C1", &READER, &out, &err), API_OK);
  json_t *j = parse(&out);
  assert_string_equal(S(j, "text"), "mi expareja me amenazó");
  assert_string_equal(S(j, "language"), "es");
  assert_string_equal(S(j, "reason"), "threat: amenazó");
  /* the trail: the ticket, then this very view with who (the key's id, never the key) */
  json_t *au = json_object_get(j, "audit");
  assert_int_equal(json_array_size(au), 2);
  assert_string_equal(S(json_array_get(au, 0), "action"), "ticket_opened");
  json_t *v = json_array_get(au, 1);
  assert_string_equal(S(v, "action"), "viewed");
  assert_string_equal(S(v, "entity"), "case");
  assert_string_equal(S(v, "actor"), "demo:read");
  assert_string_equal(S(json_object_get(v, "detail"), "key_id"), "0123456789ab");
  assert_string_equal(S(json_object_get(v, "detail"), "role"), "read");
  json_decref(j);
  assert_int_equal(count("SELECT count(*) FROM audit_log WHERE entity = 'case' AND entity_id = 'C1'"), before + 1);
  /* another agency's case, a plan id, a missing id: 404 and no audit row */
  long all = count("SELECT count(*) FROM audit_log");
  const char *const ids[] = {"C9", "P1", "nope", "bad/id"};
  for (size_t i = 0; i < 4; i++) {
    memset(&err, 0, sizeof err);
    assert_int_equal(api_q_case_get(pg, "demo", ids[i], &READER, &out, &err), API_NOTFOUND);
    assert_int_equal(err.status, 404);
    assert_int_equal(out.len, 0);
  }
  assert_int_equal(count("SELECT count(*) FROM audit_log"), all);
  es_buf_free(&out);
}

static void test_case_ack(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err = {0};
  es_buf out = {0};
  assert_int_equal(api_q_case_ack(pg, "demo", "C1", &REVIEWER, &out, &err), API_OK);
  json_t *j = parse(&out);
  assert_string_equal(S(j, "id"), "C1");
  assert_string_equal(S(json_object_get(j, "acknowledged"), "actor"), "demo:review");
  json_decref(j);
  assert_int_equal(count("SELECT count(*) FROM audit_log WHERE entity = 'case' AND entity_id = 'C1' AND action = "
                         "'acknowledged' AND actor = 'demo:review' AND detail->>'via' = 'session'"),
                   1);
  /* the list shows who acknowledged */
  json_t *l = list("demo", "status=open", NULL, API_OK, &err);
  json_t *ack = json_object_get(json_array_get(json_object_get(l, "items"), 0), "acknowledged");
  assert_string_equal(S(ack, "actor"), "demo:review");
  json_decref(l);
  assert_int_equal(api_q_case_ack(pg, "otra", "C1", &REVIEWER, &out, &err), API_NOTFOUND);
  assert_int_equal(api_q_case_ack(pg, "demo", "P1", &REVIEWER, &out, &err), API_NOTFOUND);
  assert_int_equal(out.len, 0);
  es_buf_free(&out);
}

static void test_urgent_item_read_is_audited(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err = {0};
  es_buf out = {0};
  assert_int_equal(api_q_feedback_get(pg, "demo", "U1", &READER, &out, &err), API_OK);
  json_t *j = parse(&out);
  assert_true(json_is_true(json_object_get(j, "urgent")));
  assert_string_equal(S(j, "urgent_reason"), "threat: amenazó");
  assert_string_equal(S(json_object_get(j, "case"), "id"), "C1");
  /* the urgent item is not counted toward the topic plan P1 */
  assert_true(json_is_null(json_object_get(j, "action_plan")) ||
              strcmp(S(json_object_get(j, "action_plan"), "id"), "P1") == 0);
  json_decref(j);
  assert_int_equal(count("SELECT count(*) FROM audit_log WHERE entity = 'feedback' AND entity_id = 'U1'"
                         " AND action = 'viewed' AND actor = 'demo:read' AND detail->>'key_id' = '0123456789ab'"),
                   1);
  /* an ordinary item's read writes nothing */
  long all = count("SELECT count(*) FROM audit_log");
  assert_int_equal(api_q_feedback_get(pg, "demo", "N1", &READER, &out, &err), API_OK);
  j = parse(&out);
  assert_false(json_is_true(json_object_get(j, "urgent")));
  assert_true(json_is_null(json_object_get(j, "case")));
  json_decref(j);
  assert_int_equal(count("SELECT count(*) FROM audit_log"), all);
  /* another agency's urgent item: 404, no row */
  assert_int_equal(api_q_feedback_get(pg, "demo", "U9", &READER, &out, &err), API_NOTFOUND);
  assert_int_equal(count("SELECT count(*) FROM audit_log"), all);
  /* the case's trail shows the view of its item */
  assert_int_equal(api_q_case_get(pg, "demo", "C1", &READER, &out, &err), API_OK);
  j = parse(&out);
  json_t *au = json_object_get(j, "audit");
  int seen = 0;
  for (size_t i = 0; i < json_array_size(au); i++)
    if (strcmp(S(json_array_get(au, i), "entity"), "feedback") == 0) seen++;
  assert_int_equal(seen, 1);
  json_decref(j);
  es_buf_free(&out);
}

static void test_public_reads_show_nothing_urgent(void **state) {
  (void)state;
  if (!pg) skip();
  api_err err = {0};
  es_buf out = {0};
  /* receipt: "received" at the id's own time, like an item not stored yet; no text, no category */
  assert_int_equal(api_q_receipt(pg, "U1", &out, &err), API_OK);
  json_t *j = parse(&out);
  assert_string_equal(S(j, "status"), "received");
  assert_int_equal(json_object_size(j), 2);
  json_decref(j);
  assert_int_equal(api_q_receipt(pg, "N1", &out, &err), API_OK);
  j = parse(&out);
  assert_string_equal(S(j, "status"), "classified");
  json_decref(j);
  /* Open311 list: the urgent Open311 item is left out (even asked for by id); the ordinary one is there */
  api_params p = {0};
  assert_int_equal(api_q_o311_list(pg, "demo", "{}", &p, &out, &err), API_OK);
  assert_null(strstr(out.data, "U2"));
  assert_null(strstr(out.data, "matar"));
  assert_non_null(strstr(out.data, "N1"));
  es_buf_free(&out);
  p.kv[0].name = strdup("service_request_id");
  p.kv[0].value = strdup("U2,N1");
  p.n = 1;
  assert_int_equal(api_q_o311_list(pg, "demo", "{}", &p, &out, &err), API_OK);
  free(p.kv[0].name), free(p.kv[0].value);
  j = parse(&out);
  assert_int_equal(json_array_size(j), 1);
  assert_string_equal(S(json_array_get(j, 0), "service_request_id"), "N1");
  json_decref(j);
  /* Open311 GET of the urgent item: 404, like an item not stored yet */
  memset(&err, 0, sizeof err);
  assert_int_equal(api_q_o311_get(pg, "demo", "{}", "U2", &out, &err), API_NOTFOUND);
  assert_int_equal(err.status, 404);
  es_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases_list),
      cmocka_unit_test(test_case_get_is_audited),
      cmocka_unit_test(test_case_ack),
      cmocka_unit_test(test_urgent_item_read_is_audited),
      cmocka_unit_test(test_public_reads_show_nothing_urgent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
