/* PostgreSQL + Redis store (see store.h). SQL only with parameters. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const char *const STATE_NAMES[] = {"unknown", "open", "in_progress", "done"};
static const char *state_name(int s) { return s >= 0 && s <= 3 ? STATE_NAMES[s] : "unknown"; }

static int db_lookup(void *ctx, const char *key, ac_ticket *t) {
  ac_db *db = ctx;
  const char *p[] = {key};
  PGresult *r = PQexecParams(db->pg, "SELECT external_key, coalesce(url,''), status FROM actions "
                                     "WHERE idempotency_key = $1", 1, NULL, p, NULL, NULL, 0);
  int rc = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    rc = PQntuples(r) > 0;
    if (rc) {
      snprintf(t->key, sizeof t->key, "%s", PQgetvalue(r, 0, 0));
      snprintf(t->url, sizeof t->url, "%s", PQgetvalue(r, 0, 1));
      snprintf(t->status_name, sizeof t->status_name, "%s", PQgetvalue(r, 0, 2));
    }
  } else es_error("pg_error", "actions lookup: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

static int db_record(void *ctx, const char *plan, const char *tool, const char *key, const ac_ticket *t) {
  ac_db *db = ctx;
  const char *p[] = {plan, tool, t->key, t->url, state_name(t->state ? t->state : 1), key};
  /* The unique idempotency_key makes a second record a no-op; the audit row
   * is written by the same statement, so it exists exactly once whichever
   * attempt (first try or recovery after a crash) recorded the ticket. */
  PGresult *r = PQexecParams(db->pg,
                             "WITH ins AS (INSERT INTO actions (plan_id, tool, external_key, url, status, "
                             "idempotency_key) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) "
                             "DO NOTHING RETURNING plan_id, tool, external_key, url) "
                             "INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
                             "SELECT 'escucha-actions', 'action_plan', plan_id, 'ticket_opened', "
                             "jsonb_build_object('tool', tool, 'key', external_key, 'url', url, "
                             "'idempotency_key', $6::text) FROM ins",
                             6, NULL, p, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "actions insert: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

static int db_lock(void *ctx, const char *key, long ttl_ms) {
  ac_db *db = ctx;
  if (!db->rds) return -1;
  redisReply *r = redisCommand(db->rds, "SET escucha:actions:lock:%s %s NX PX %ld", key, db->owner, ttl_ms);
  int rc = !r ? -1 : r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
  if (r) freeReplyObject(r);
  return rc;
}

static void db_unlock(void *ctx, const char *key) {
  ac_db *db = ctx;
  if (!db->rds) return;
  /* Only the owner deletes: a lock that expired and was retaken stays. */
  redisReply *r = redisCommand(db->rds,
                               "EVAL %s 1 escucha:actions:lock:%s %s",
                               "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
                               key, db->owner);
  if (r) freeReplyObject(r);
}

void ac_db_store(ac_db *db, ac_store *out) {
  if (!db->owner[0]) es_ulid(db->owner);
  *out = (ac_store){db, db_lookup, db_record, db_lock, db_unlock};
}

int ac_db_plan_upsert(ac_db *db, const char *request_id, ac_plan *p, const char *priority_json) {
  json_t *rj = ac_plan_recs_json(p), *qj = ac_plan_quotes_json(p);
  char *recs = json_dumps(rj, JSON_COMPACT), *quotes = json_dumps(qj, JSON_COMPACT);
  char id[27];
  es_ulid(id);
  const char *summary = p->summary_es ? p->summary_es : "";
  const char *prm[] = {id, p->agency, p->topic, priority_json, summary, recs, quotes, request_id};
  /* prioritize normally wrote the row (outbox); else this request opens it.
   * Either way the evidence columns get this plan's content. */
  PGresult *r = PQexecParams(
      db->pg,
      "WITH up AS (UPDATE action_plans SET summary = $5, recommendations = $6::jsonb, quotes = $7::jsonb, "
      "updated_at = now() WHERE request_id = $8 OR (agency = $2 AND topic = $3 AND status = 'open') "
      "RETURNING id), ins AS (INSERT INTO action_plans (id, agency, topic, status, opened_at, priority, "
      "summary, recommendations, quotes, request_id) SELECT $1, $2, $3, 'open', now(), $4::jsonb, $5, "
      "$6::jsonb, $7::jsonb, $8 WHERE NOT EXISTS (SELECT 1 FROM up) ON CONFLICT DO NOTHING RETURNING id) "
      "SELECT id FROM up UNION ALL SELECT id FROM ins LIMIT 1",
      8, NULL, prm, NULL, NULL, 0);
  int rc = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    snprintf(p->id, sizeof p->id, "%s", PQgetvalue(r, 0, 0));
    rc = 0;
  } else es_error("pg_error", "plan upsert: %s", PQerrorMessage(db->pg));
  PQclear(r);
  free(recs);
  free(quotes);
  json_decref(rj);
  json_decref(qj);
  return rc;
}

static int load(ac_db *db, const char *sql, const char *const *prm, int n, ac_doc **out, size_t *nout) {
  PGresult *r = PQexecParams(db->pg, sql, n, NULL, prm, NULL, NULL, 0);
  *out = NULL;
  *nout = 0;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    es_error("pg_error", "evidence: %s", PQerrorMessage(db->pg));
    PQclear(r);
    return -1;
  }
  int rows = PQntuples(r);
  *out = calloc((size_t)(rows ? rows : 1), sizeof **out);
  for (int i = 0; *out && i < rows; i++) {
    (*out)[i].id = es_strdup(PQgetvalue(r, i, 0));
    (*out)[i].text = es_strdup(PQgetvalue(r, i, 1));
    *nout = (size_t)i + 1;
  }
  PQclear(r);
  return *out ? 0 : -1;
}

int ac_db_docs(ac_db *db, const char *agency, const char *topic, int days, ac_doc **td, size_t *nt,
               ac_doc **rd, size_t *nr) {
  char d[16];
  snprintf(d, sizeof d, "%d", days);
  const char *prm[] = {agency, topic, d};
  /* topic = category or category/subcategory (taxonomy ids may repeat the category) */
#define TOPIC_MATCH "(category = $2 OR subcategory = $2 OR category || '/' || subcategory = $2)"
  if (load(db, "SELECT id, text FROM feedback WHERE agency = $1 AND " TOPIC_MATCH
               " AND text IS NOT NULL AND received_at > now() - ($3 || ' days')::interval "
               "ORDER BY received_at DESC LIMIT 500", prm, 3, td, nt) != 0)
    return -1;
  if (load(db, "SELECT id, text FROM feedback WHERE agency = $1 AND NOT " TOPIC_MATCH
               " AND text IS NOT NULL AND received_at > now() - ($3 || ' days')::interval "
               "ORDER BY received_at DESC LIMIT 3000", prm, 3, rd, nr) != 0) {
    ac_db_docs_free(*td, *nt);
    return -1;
  }
#undef TOPIC_MATCH
  return 0;
}

void ac_db_docs_free(ac_doc *d, size_t n) {
  for (size_t i = 0; d && i < n; i++) {
    free((char *)d[i].id);
    free((char *)d[i].text);
  }
  free(d);
}

int ac_db_action_update(ac_db *db, const char *key, int state, const char *status_name) {
  const char *prm[] = {key, state_name(state), status_name ? status_name : ""};
  /* Update and audit in one statement: a crash cannot leave a closed ticket
   * without its audit row (the next pass would see it done and skip it). */
  PGresult *r = PQexecParams(
      db->pg,
      "WITH u AS (UPDATE actions SET status = $2, updated_at = now(), "
      "detail = jsonb_build_object('tool_status', $3::text), "
      "closed_at = CASE WHEN $2 = 'done' THEN coalesce(closed_at, now()) END "
      "WHERE idempotency_key = $1 AND status <> $2 RETURNING plan_id, tool, external_key) "
      "INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
      "SELECT 'escucha-actions', 'action_plan', plan_id, "
      "CASE WHEN $2 = 'done' THEN 'ticket_closed' ELSE 'ticket_status' END, "
      "jsonb_build_object('tool', tool, 'key', external_key, 'status', $2::text, 'tool_status', $3::text) "
      "FROM u",
      3, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? atoi(PQcmdTuples(r)) : -1;
  if (rc < 0) es_error("pg_error", "action update: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

int ac_db_audit(ac_db *db, const char *entity, const char *id, const char *action, const char *detail) {
  const char *prm[] = {entity, id, action, detail ? detail : "{}"};
  PGresult *r = PQexecParams(db->pg,
                             "INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
                             "VALUES ('escucha-actions', $1, $2, $3, $4::jsonb)", 4, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "audit: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}
