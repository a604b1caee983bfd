/* PostgreSQL + Redis store (see store.h). SQL only with parameters. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"
#include "log.h"
#include "rds.h"
#include "util.h"

static const char *const STATE_NAMES[] = {"unknown", "open", "in_progress", "done"};
static const char *state_name(int s) { return s >= 0 && s <= 3 ? STATE_NAMES[s] : "unknown"; }

static int db_lookup(void *ctx, const char *key, ac_ticket *t) {
  ac_db *db = ctx;
  const char *p[] = {key};
  PGresult *r = PQexecParams(db->pg,
                             "SELECT external_key, coalesce(url,''), status FROM actions "
                             "WHERE idempotency_key = $1",
                             1, NULL, p, NULL, NULL, 0);
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

/* (Re)connects when there is no usable context; 0 ok. */
static int rds_ready(ac_db *db) {
  if (db->rds && !db->rds->err) return 0;
  if (db->rds) {
    redisFree(db->rds);
    db->rds = NULL;
  }
  db->rds = es_redis_connect(db->redis_url, 2000);
  return db->rds ? 0 : -1;
}

static int db_lock(void *ctx, const char *key, long ttl_ms) {
  ac_db *db = ctx;
  for (int attempt = 0; attempt < 2; attempt++) { /* a dropped connection is retried once */
    if (rds_ready(db) != 0) return -1;
    redisReply *r = redisCommand(db->rds, "SET escucha:actions:lock:%s %s NX PX %ld", key, db->owner, ttl_ms);
    int rc = !r ? -1 : r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
    if (r) freeReplyObject(r);
    if (rc >= 0 || !db->rds->err) return rc;
  }
  return -1;
}

static void db_unlock(void *ctx, const char *key) {
  ac_db *db = ctx;
  if (rds_ready(db) != 0) return; /* the lock expires by its TTL */
  /* Only the owner deletes: a lock that expired and was retaken stays. */
  redisReply *r =
      redisCommand(db->rds, "EVAL %s 1 escucha:actions:lock:%s %s",
                   "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
                   key, db->owner);
  if (r) freeReplyObject(r);
}

void ac_db_store(ac_db *db, ac_store *out) {
  if (!db->owner[0]) es_ulid(db->owner);
  int locking = db->redis_url && *db->redis_url;
  *out = (ac_store){db, db_lookup, db_record, locking ? db_lock : NULL, locking ? db_unlock : NULL};
}

int ac_db_plan_upsert(ac_db *db, const char *request_id, ac_plan *p, const char *priority_json, const void *request_pb,
                      size_t request_len, char *plan_request_id, size_t idlen) {
  json_t *rj = ac_plan_recs_json(p), *qj = ac_plan_quotes_json(p), *dj = ac_plan_detail_json(p);
  json_t *sj = ac_plan_snapshot_json(p);
  char *recs = json_dumps(rj, JSON_COMPACT), *quotes = json_dumps(qj, JSON_COMPACT);
  char *detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL, *snap = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
  char id[27], sla[16];
  es_ulid(id);
  snprintf(sla, sizeof sla, "%d", p->sla_days > 0 ? p->sla_days : 14);
  const char *summary = p->summary_es ? p->summary_es : "";
  const char *prm[] = {id,
                       p->agency,
                       p->topic,
                       priority_json,
                       summary,
                       recs,
                       quotes,
                       request_id,
                       request_pb ? request_pb : "",
                       detail ? detail : "{}",
                       sla,
                       snap ? snap : "{}"};
  int lens[12] = {0, 0, 0, 0, 0, 0, 0, 0, (int)request_len, 0, 0, 0};
  int fmts[12] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}; /* $9 bytea, binary */
  /* prioritize normally wrote the row (outbox); else this request opens it.
   * Either way the evidence columns get this plan's content. The due date
   * counts from when the plan opened, so a rebuilt plan keeps it; `reported`
   * (what the ticket was last told) is kept too: it changes only when a
   * change is told (ac_db_plan_reported), and comes back for comparison. */
#define DUE(opened) "to_char((" opened " AT TIME ZONE 'UTC')::date + $11::int, 'YYYY-MM-DD')"
  PGresult *r = PQexecParams(
      db->pg,
      "WITH up AS (UPDATE action_plans SET summary = $5, recommendations = $6::jsonb, quotes = $7::jsonb, "
      "detail = $10::jsonb || jsonb_build_object('due_date', " DUE("opened_at") ", "
      "'reported', coalesce(detail->'reported', $12::jsonb)), "
      "request_pb = coalesce(request_pb, $9::bytea), request_sent_at = coalesce(request_sent_at, now()), "
      "updated_at = now() WHERE request_id = $8 OR (agency = $2 AND topic = $3 AND status = 'open') "
      "RETURNING id, request_id, detail->>'due_date' AS due, detail->'reported' AS rep), ins AS (INSERT INTO action_plans (id, agency, topic, "
      "status, opened_at, priority, summary, recommendations, quotes, request_id, request_pb, request_sent_at, "
      "detail) SELECT $1, $2, $3, 'open', now(), $4::jsonb, $5, $6::jsonb, $7::jsonb, $8, $9::bytea, now(), "
      "$10::jsonb || jsonb_build_object('due_date', " DUE("now()") ", 'reported', $12::jsonb) "
      "WHERE NOT EXISTS (SELECT 1 FROM up) "
      "ON CONFLICT DO NOTHING RETURNING id, request_id, detail->>'due_date' AS due, detail->'reported' AS rep) "
      "SELECT id, coalesce(request_id, ''), coalesce(due, ''), coalesce(rep::text, '') FROM up UNION ALL "
      "SELECT id, coalesce(request_id, ''), coalesce(due, ''), coalesce(rep::text, '') FROM ins LIMIT 1",
      12, NULL, prm, lens, fmts, 0);
#undef DUE
  int rc = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    snprintf(p->id, sizeof p->id, "%s", PQgetvalue(r, 0, 0));
    const char *rid = PQgetvalue(r, 0, 1);
    snprintf(plan_request_id, idlen, "%s", *rid ? rid : request_id);
    snprintf(p->due, sizeof p->due, "%s", PQgetvalue(r, 0, 2));
    json_decref(p->reported);
    p->reported = json_loads(PQgetvalue(r, 0, 3), 0, NULL); /* NULL when empty */
    rc = 0;
  } else es_error("pg_error", "plan upsert: %s", PQerrorMessage(db->pg));
  PQclear(r);
  free(recs);
  free(quotes);
  free(detail);
  free(snap);
  json_decref(sj);
  json_decref(rj);
  json_decref(qj);
  json_decref(dj);
  return rc;
}

int ac_db_change_told(ac_db *db, const char *plan, const char *hash) {
  const char *prm[] = {plan, hash};
  PGresult *r = PQexecParams(db->pg,
                             "SELECT count(*) FROM audit_log WHERE entity = 'action_plan' AND entity_id = $1 "
                             "AND action = 'plan_updated' AND detail->>'hash' = $2",
                             2, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) > 0 : -1;
  if (rc < 0) es_error("pg_error", "plan change: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

int ac_db_plan_reported(ac_db *db, const ac_plan *p, const char *hash, const char *tool, const char *ext_key) {
  json_t *sj = ac_plan_snapshot_json(p);
  char *snap = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
  json_decref(sj);
  if (!snap) return -1;
  const char *prm[] = {p->id, hash, snap, tool, ext_key};
  /* The new snapshot and its audit row in one statement. */
  PGresult *r = PQexecParams(
      db->pg,
      "WITH u AS (UPDATE action_plans SET detail = jsonb_set(coalesce(detail, '{}'::jsonb), '{reported}', $3::jsonb), "
      "updated_at = now() WHERE id = $1 RETURNING id) INSERT INTO audit_log (actor, entity, entity_id, action, "
      "detail) SELECT 'escucha-actions', 'action_plan', id, 'plan_updated', jsonb_build_object('hash', $2::text, "
      "'tool', $4::text, 'key', $5::text, 'reported', $3::jsonb) FROM u",
      5, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "plan reported: %s", PQerrorMessage(db->pg));
  PQclear(r);
  free(snap);
  return rc;
}

/* The plan (alias p) is pending: see store.h. `m` is its last ticket_pending /
 * ticket_failed audit row. */
#define PENDING_FROM                                                                          \
  "FROM action_plans p CROSS JOIN LATERAL (SELECT l.action, l.at FROM audit_log l "           \
  "WHERE l.entity = 'action_plan' AND l.entity_id = p.id AND l.action IN ('ticket_pending', " \
  "'ticket_failed') ORDER BY l.at DESC, l.id DESC LIMIT 1) m "                                \
  "WHERE m.action = 'ticket_pending' AND p.status = 'open' AND p.request_pb IS NOT NULL "     \
  "AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.plan_id = p.id) "

/* Rows (plan id, ms since marked) of a pending query with its parameters. */
static int pending_rows(ac_db *db, const char *sql, int nprm, const char *const *prm, const char *what,
                        ac_db_pending *out) {
  PGresult *r = PQexecParams(db->pg, sql, nprm, NULL, prm, NULL, NULL, 0);
  int n = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    n = PQntuples(r);
    for (int i = 0; i < n; i++) {
      snprintf(out[i].plan, sizeof out[i].plan, "%s", PQgetvalue(r, i, 0));
      out[i].age_ms = atoll(PQgetvalue(r, i, 1));
    }
  } else es_error("pg_error", "pending %s: %s", what, PQerrorMessage(db->pg));
  PQclear(r);
  return n;
}

/* The stored request (binary: the bytes as they are) of one pending row. */
static int pending_payload(ac_db *db, const char *sql, const char *plan, const char *what, void **pb, size_t *len) {
  const char *prm[] = {plan};
  *pb = NULL;
  *len = 0;
  PGresult *r = PQexecParams(db->pg, sql, 1, NULL, prm, NULL, NULL, 1);
  int rc = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    rc = 0;
    if (PQntuples(r) == 1) {
      size_t n = (size_t)PQgetlength(r, 0, 0);
      if ((*pb = malloc(n ? n : 1))) {
        memcpy(*pb, PQgetvalue(r, 0, 0), n);
        *len = n;
        rc = 1;
      } else rc = -1;
    }
  } else es_error("pg_error", "pending %s: %s", what, PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

int ac_db_pending_scan(ac_db *db, const char *after, ac_db_pending *out, int max) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", max);
  const char *prm[] = {after ? after : "", lim};
  return pending_rows(db,
                      "SELECT p.id, (extract(epoch FROM now() - m.at) * 1000)::bigint " PENDING_FROM
                      "AND p.id > $1 ORDER BY p.id LIMIT $2::int",
                      2, prm, "plans", out);
}

int ac_db_pending_request(ac_db *db, const char *plan, void **pb, size_t *len) {
  return pending_payload(db, "SELECT p.request_pb " PENDING_FROM "AND p.id = $1", plan, "plan", pb, len);
}
#undef PENDING_FROM

static int ticket_audit(ac_db *db, const char *sql, const char *plan, const char *tool, const char *error,
                        long http_status) {
  char st[24];
  snprintf(st, sizeof st, "%ld", http_status);
  const char *prm[] = {plan, tool ? tool : "", error ? error : "", st};
  PGresult *r = PQexecParams(db->pg, sql, 4, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "ticket audit: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

int ac_db_ticket_pending(ac_db *db, const char *plan, const char *tool, const char *error, long http_status) {
  /* Once per pending spell: not when the plan's last such row already says so. */
  return ticket_audit(db,
                      "INSERT INTO audit_log (actor, entity, entity_id, action, detail) SELECT 'escucha-actions', "
                      "'action_plan', $1, 'ticket_pending', jsonb_build_object('tool', $2::text, 'error', $3::text, "
                      "'http_status', $4::bigint) WHERE coalesce((SELECT l.action FROM audit_log l WHERE "
                      "l.entity = 'action_plan' AND l.entity_id = $1 AND l.action IN ('ticket_pending', "
                      "'ticket_failed') ORDER BY l.at DESC, l.id DESC LIMIT 1), '') <> 'ticket_pending'",
                      plan, tool, error, http_status);
}

int ac_db_ticket_failed(ac_db *db, const char *plan, const char *tool, const char *error, long http_status) {
  return ticket_audit(db,
                      "INSERT INTO audit_log (actor, entity, entity_id, action, detail) VALUES ('escucha-actions', "
                      "'action_plan', $1, 'ticket_failed', jsonb_build_object('tool', $2::text, 'error', $3::text, "
                      "'http_status', $4::bigint))",
                      plan, tool, error, http_status);
}

static int sentiment_of(const char *s) {
  if (!s) return AC_SENT_UNKNOWN;
  if (strcmp(s, "NEGATIVE") == 0) return AC_SENT_NEGATIVE;
  if (strcmp(s, "POSITIVE") == 0) return AC_SENT_POSITIVE;
  return strcmp(s, "NEUTRAL") == 0 ? AC_SENT_NEUTRAL : AC_SENT_UNKNOWN;
}

/* Rows (id, text[, subcategory, sentiment]) -> docs. */
static int load(ac_db *db, const char *sql, const char *const *prm, int n, ac_doc **out, size_t *nout) {
  PGresult *r = PQexecParams(db->pg, sql, n, NULL, prm, NULL, NULL, 0);
  *out = NULL;
  *nout = 0;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    es_error("pg_error", "evidence: %s", PQerrorMessage(db->pg));
    PQclear(r);
    return -1;
  }
  int rows = PQntuples(r), cols = PQnfields(r), rc = 0;
  *out = calloc((size_t)(rows ? rows : 1), sizeof **out);
  for (int i = 0; *out && i < rows; i++) {
    ac_doc *d = &(*out)[i];
    d->id = es_strdup(PQgetvalue(r, i, 0));
    d->text = es_strdup(PQgetvalue(r, i, 1));
    if (cols >= 4) {
      d->subcategory = PQgetisnull(r, i, 2) ? NULL : es_strdup(PQgetvalue(r, i, 2));
      d->sentiment = PQgetisnull(r, i, 3) ? AC_SENT_UNKNOWN : sentiment_of(PQgetvalue(r, i, 3));
      if (!PQgetisnull(r, i, 2) && !d->subcategory) rc = -1;
    }
    *nout = (size_t)i + 1;
    if (!d->id || !d->text) rc = -1;
  }
  PQclear(r);
  if (!*out || rc) {
    ac_db_docs_free(*out, *nout);
    *out = NULL;
    *nout = 0;
    return -1;
  }
  return 0;
}

int ac_db_docs(ac_db *db, const char *agency, const char *topic, int days, ac_doc **td, size_t *nt, ac_doc **rd,
               size_t *nr) {
  char d[16];
  snprintf(d, sizeof d, "%d", days);
  const char *prm[] = {agency, topic, d};
  /* topic = category or category/subcategory (taxonomy ids may repeat the category) */
#define TOPIC_MATCH "(category = $2 OR subcategory = $2 OR category || '/' || subcategory = $2)"
  if (load(db,
           "SELECT id, text, subcategory, sentiment FROM feedback WHERE agency = $1 AND " TOPIC_MATCH
           " AND text IS NOT NULL AND received_at > now() - ($3 || ' days')::interval "
           "ORDER BY received_at DESC LIMIT 500",
           prm, 3, td, nt) != 0)
    return -1;
  if (load(db,
           "SELECT id, text FROM feedback WHERE agency = $1 AND NOT " TOPIC_MATCH
           " AND text IS NOT NULL AND received_at > now() - ($3 || ' days')::interval "
           "ORDER BY received_at DESC LIMIT 3000",
           prm, 3, rd, nr) != 0) {
    ac_db_docs_free(*td, *nt);
    return -1;
  }
  return 0;
}

int ac_db_base_docs(ac_db *db, const char *agency, const char *topic, int days, int base_days, ac_doc **out,
                    size_t *n) {
  char d[16], b[16];
  snprintf(d, sizeof d, "%d", days);
  snprintf(b, sizeof b, "%d", days + base_days);
  const char *prm[] = {agency, topic, d, b};
  return load(db,
              "SELECT id, text FROM feedback WHERE agency = $1 AND " TOPIC_MATCH
              " AND text IS NOT NULL AND received_at <= now() - ($3 || ' days')::interval "
              "AND received_at > now() - ($4 || ' days')::interval ORDER BY received_at DESC LIMIT 500",
              prm, 4, out, n);
}

int ac_db_stats(ac_db *db, const char *agency, const char *topic, int days, int base_days, ac_stats *st) {
  char d[16], b[16];
  memset(st, 0, sizeof *st);
  st->days = days;
  st->base_days = base_days;
  snprintf(d, sizeof d, "%d", days);
  snprintf(b, sizeof b, "%d", days + base_days);
  const char *prm[] = {agency, topic, d, b};
  /* One pass over the agency's rows of both windows (index agency,
   * received_at): the totals, then the topic's rows of the evidence window
   * broken down per dimension with GROUPING SETS. Weekday and hour in UTC. */
  PGresult *r = PQexecParams(
      db->pg,
      "WITH f AS (SELECT " TOPIC_MATCH
      " AS topic, received_at > now() - ($3 || ' days')::interval AS cur, "
      "sentiment = 'NEGATIVE' AS neg, sentiment = 'POSITIVE' AS pos, urgent, subcategory, service, channel, "
      "nullif(address, '') AS address, received_at FROM feedback WHERE agency = $1 "
      "AND received_at > now() - ($4 || ' days')::interval) "
      "SELECT -1, '', count(*) FILTER (WHERE cur), count(*) FILTER (WHERE cur AND neg), "
      "count(*) FILTER (WHERE cur AND topic), count(*) FILTER (WHERE cur AND topic AND neg), "
      "count(*) FILTER (WHERE cur AND topic AND pos), count(*) FILTER (WHERE cur AND topic AND urgent), "
      "count(*) FILTER (WHERE NOT cur AND topic), count(*) FILTER (WHERE NOT cur AND topic AND neg) FROM f "
      "UNION ALL (SELECT CASE WHEN GROUPING(subcategory) = 0 THEN 0 WHEN GROUPING(service) = 0 THEN 1 "
      "WHEN GROUPING(channel) = 0 THEN 2 WHEN GROUPING(address) = 0 THEN 3 "
      "WHEN GROUPING(extract(isodow FROM received_at AT TIME ZONE 'UTC')) = 0 THEN 4 ELSE 5 END, "
      "coalesce(subcategory, service, channel, address, "
      "extract(isodow FROM received_at AT TIME ZONE 'UTC')::int::text, "
      "extract(hour FROM received_at AT TIME ZONE 'UTC')::int::text, ''), count(*), count(*) FILTER (WHERE neg), "
      "0, 0, 0, 0, 0, 0 FROM f WHERE topic AND cur GROUP BY GROUPING SETS ((subcategory), (service), (channel), "
      "(address), (extract(isodow FROM received_at AT TIME ZONE 'UTC')), "
      "(extract(hour FROM received_at AT TIME ZONE 'UTC'))) "
      "HAVING GROUPING(subcategory) = 0 OR count(*) >= 5 ORDER BY 4 DESC LIMIT 400)",
      4, NULL, prm, NULL, NULL, 0);
  int rc = -1;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    es_error("pg_error", "plan stats: %s", PQerrorMessage(db->pg));
    goto cleanup;
  }
  int rows = PQntuples(r);
  if (!(st->cells = calloc((size_t)(rows ? rows : 1), sizeof *st->cells))) goto cleanup;
  for (int i = 0; i < rows; i++) {
    int dim = atoi(PQgetvalue(r, i, 0));
    if (dim < 0) {
      long *v[] = {&st->agency_n,  &st->agency_neg,   &st->topic_n, &st->topic_neg,
                   &st->topic_pos, &st->topic_urgent, &st->base_n,  &st->base_neg};
      for (int k = 0; k < 8; k++) *v[k] = atol(PQgetvalue(r, i, 2 + k));
      continue;
    }
    if (PQgetisnull(r, i, 1) || !*PQgetvalue(r, i, 1)) continue; /* no value: not a place */
    ac_cell *c = &st->cells[st->ncells++];
    c->dim = dim < AC_NDIMS ? dim : AC_DIM_HOUR;
    snprintf(c->key, sizeof c->key, "%s", PQgetvalue(r, i, 1));
    c->n = atol(PQgetvalue(r, i, 2));
    c->neg = atol(PQgetvalue(r, i, 3));
  }
  rc = 0;
cleanup:
  PQclear(r);
  if (rc) ac_stats_free(st);
  return rc;
}
#undef TOPIC_MATCH

void ac_db_docs_free(ac_doc *d, size_t n) {
  for (size_t i = 0; d && i < n; i++) {
    free((char *)d[i].id);
    free((char *)d[i].text);
    free((char *)d[i].subcategory);
  }
  free(d);
}

int ac_db_action_update(ac_db *db, const char *key, int state, const char *status_name) {
  const char *prm[] = {key, state_name(state), status_name ? status_name : ""};
  /* Update and audit in one statement: a crash cannot leave a closed ticket
   * without its audit row (the next pass would see it done and skip it). */
  PGresult *r =
      PQexecParams(db->pg,
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
                             "VALUES ('escucha-actions', $1, $2, $3, $4::jsonb)",
                             4, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "audit: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

/* ---- cases ---- */

int ac_db_case_upsert(ac_db *db, const char *request_id, ac_case *c, const char *summary, const char *priority_json,
                      const void *request_pb, size_t request_len) {
  char id[27];
  es_ulid(id);
  const char *prm[] = {
      id, c->agency, c->topic, priority_json, summary, request_id, request_pb ? request_pb : "", c->feedback_id};
  int lens[8] = {0, 0, 0, 0, 0, 0, (int)request_len, 0};
  int fmts[8] = {0, 0, 0, 0, 0, 0, 1, 0}; /* $7 bytea, binary */
  /* One row per request id: a redelivery (or the retry pass) finds it. */
  PGresult *r = PQexecParams(db->pg,
                             "INSERT INTO action_plans (id, agency, topic, status, opened_at, priority, summary, "
                             "recommendations, quotes, request_id, request_pb, request_sent_at, kind, feedback_id) "
                             "VALUES ($1, $2, $3, 'open', now(), $4::jsonb, $5, '[]', '[]', $6, $7::bytea, now(), "
                             "'case', $8) ON CONFLICT (request_id) DO UPDATE SET request_pb = "
                             "coalesce(action_plans.request_pb, EXCLUDED.request_pb), updated_at = now() RETURNING id",
                             8, NULL, prm, lens, fmts, 0);
  int rc = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    snprintf(c->id, sizeof c->id, "%s", PQgetvalue(r, 0, 0));
    rc = 0;
  } else es_error("pg_error", "case upsert: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

static int oncall_record(void *ctx, const char *plan, const char *tool, const char *key, const ac_ticket *t) {
  ac_db *db = ctx;
  const char *p[] = {plan, tool, t->key, t->url, key};
  /* As db_record: the unique key makes a second record a no-op, and the audit
   * row comes with the insert. Delivered is final: status 'done'. */
  PGresult *r =
      PQexecParams(db->pg,
                   "WITH ins AS (INSERT INTO actions (plan_id, tool, external_key, url, status, "
                   "idempotency_key, closed_at, detail) VALUES ($1, $2, $3, $4, 'done', $5, now(), "
                   "'{\"role\":\"oncall\"}') ON CONFLICT (idempotency_key) DO NOTHING RETURNING plan_id, tool) "
                   "INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
                   "SELECT 'escucha-actions', 'action_plan', plan_id, 'oncall_notified', "
                   "jsonb_build_object('tool', tool, 'idempotency_key', $5::text) FROM ins",
                   5, NULL, p, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "on-call record: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

void ac_db_oncall_store(ac_db *db, ac_store *out) {
  ac_db_store(db, out);
  out->record = oncall_record;
}

#define CASE_LAST_MARK                                                                         \
  "(SELECT l.action FROM audit_log l WHERE l.entity = 'action_plan' AND l.entity_id = $1 AND " \
  "l.action IN ('ticket_pending', 'ticket_failed', 'case_delivered') ORDER BY l.at DESC, l.id DESC LIMIT 1)"

int ac_db_case_mark(ac_db *db, const char *plan, const char *action, const char *tool, const char *error,
                    long http_status) {
  char st[24];
  snprintf(st, sizeof st, "%ld", http_status);
  int delivered = strcmp(action, "case_delivered") == 0;
  const char *prm[] = {plan, delivered ? "case_delivered" : "ticket_pending", tool ? tool : "", error ? error : "", st};
  PGresult *r = PQexecParams(db->pg,
                             delivered ? "INSERT INTO audit_log (actor, entity, entity_id, action, detail) SELECT "
                                         "'escucha-actions', 'action_plan', $1, $2, jsonb_build_object('tool', "
                                         "$3::text, 'error', $4::text, 'http_status', $5::bigint) "
                                         "WHERE coalesce(" CASE_LAST_MARK ", '') = 'ticket_pending'"
                                       : "INSERT INTO audit_log (actor, entity, entity_id, action, detail) SELECT "
                                         "'escucha-actions', 'action_plan', $1, $2, jsonb_build_object('tool', "
                                         "$3::text, 'error', $4::text, 'http_status', $5::bigint) "
                                         "WHERE coalesce(" CASE_LAST_MARK ", '') <> 'ticket_pending'",
                             5, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "case mark: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}
#undef CASE_LAST_MARK

int ac_db_case_close(ac_db *db, const char *plan) {
  const char *prm[] = {plan};
  PGresult *r = PQexecParams(db->pg,
                             "UPDATE action_plans SET status = 'closed', closed_at = now(), updated_at = now() "
                             "WHERE id = $1 AND kind = 'case' AND status = 'open'",
                             1, NULL, prm, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "case close: %s", PQerrorMessage(db->pg));
  PQclear(r);
  return rc;
}

#define CASE_PENDING_FROM                                                                                      \
  "FROM action_plans p CROSS JOIN LATERAL (SELECT l.action, l.at FROM audit_log l "                            \
  "WHERE l.entity = 'action_plan' AND l.entity_id = p.id AND l.action IN ('ticket_pending', 'ticket_failed', " \
  "'case_delivered') ORDER BY l.at DESC, l.id DESC LIMIT 1) m "                                                \
  "WHERE m.action = 'ticket_pending' AND p.kind = 'case' AND p.status = 'open' AND p.request_pb IS NOT NULL "

int ac_db_case_pending_scan(ac_db *db, ac_db_pending *out, int max) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", max);
  const char *prm[] = {lim};
  return pending_rows(db,
                      "SELECT p.id, (extract(epoch FROM now() - m.at) * 1000)::bigint " CASE_PENDING_FROM
                      "ORDER BY m.at LIMIT $1::int",
                      1, prm, "cases", out);
}

int ac_db_case_pending_request(ac_db *db, const char *plan, void **pb, size_t *len) {
  return pending_payload(db, "SELECT p.request_pb " CASE_PENDING_FROM "AND p.id = $1", plan, "case", pb, len);
}
#undef CASE_PENDING_FROM
