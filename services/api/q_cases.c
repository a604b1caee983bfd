/* Urgent cases (issue 16): action_plans rows of kind 'case', one per urgent
 * feedback item, with their tickets in actions (escucha-actions writes both).
 * Reading a case, or an urgent item, writes an audit_log row in the same
 * statement as the read: no view without its trace (docs/api.md, "Cases"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q_extra.h"
#include "q_util.h"
#include "query.h"
#include "route.h"

/* RFC 3339 UTC at second precision (as q_feedback.c) */
#define TS(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* A case's list fields: the item it is about (channel, time, why urgent,
 * category), its tickets and the latest acknowledgement. */
#define CASE_PAIRS \
  "'id', p.id, 'status', p.status, 'opened_at', " TS("p.opened_at")                                                   \
      ", 'closed_at', CASE WHEN p.closed_at IS NULL THEN NULL ELSE " TS("p.closed_at")                                \
      " END, 'feedback_id', p.feedback_id, 'channel', lower(f.channel), 'received_at', " TS("f.received_at")          \
      ", 'reason', f.urgent_reason, 'confidence', round(f.urgent_confidence::numeric, 4),"                             \
      " 'category', f.category, 'subcategory', f.subcategory,"                                                        \
      " 'tickets', coalesce((SELECT json_agg(json_build_object('tool', a.tool, 'key', a.external_key, 'url', a.url," \
      " 'status', a.status) ORDER BY a.opened_at, a.id) FROM actions a WHERE a.plan_id = p.id), '[]'::json),"        \
      " 'acknowledged', (SELECT json_build_object('at', " TS("l.at")                                                  \
      ", 'actor', l.actor) FROM audit_log l WHERE l.entity = 'case' AND l.entity_id = p.id"                           \
      " AND l.action = 'acknowledged' ORDER BY l.at DESC, l.id DESC LIMIT 1)"

static int id_ok(const char *id) {
  size_t n = id ? strlen(id) : 0;
  return n > 0 && n <= 64 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- GET /v1/cases ---- */

/* Newest first, keyset on (opened_at, id) (index action_plans_cases). */
static const char SQL_CASES[] =
    "SELECT p.id, (extract(epoch FROM p.opened_at) * 1000000)::bigint, json_build_object(" CASE_PAIRS
    ")"
    " FROM action_plans p LEFT JOIN feedback f ON f.id = p.feedback_id AND f.agency = p.agency"
    " WHERE p.agency = $1 AND p.kind = 'case' AND ($2::text IS NULL OR p.status = $2)"
    " AND ($3::bigint IS NULL OR (p.opened_at, p.id) <"
    "  ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text))"
    " ORDER BY p.opened_at DESC, p.id DESC LIMIT $5::int";

api_rc api_q_cases_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  long limit;
  api_rc rc = api_limit(p, 50, 500, &limit, err);
  if (rc != API_OK) return rc;
  const char *status = api_param(p, "status"), *cur = api_param(p, "cursor");
  if (status && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0)
    return api_invalid(err, "status", "status must be open or closed");
  int64_t cur_us = 0;
  char cur_id[80], cur_us_s[32], lim_s[24];
  if (cur) {
    if (api_cursor_decode(cur, &cur_us, cur_id, sizeof cur_id) != 0)
      return api_invalid(err, "cursor", "cursor must be a next_cursor value from an earlier page");
    snprintf(cur_us_s, sizeof cur_us_s, "%lld", (long long)cur_us);
  }
  snprintf(lim_s, sizeof lim_s, "%ld", limit + 1); /* one more row says whether a next page exists */
  const char *prm[] = {agency, status, cur ? cur_us_s : NULL, cur ? cur_id : NULL, lim_s};
  PGresult *r;
  if ((rc = api_qr_run(pg, "cases_list", SQL_CASES, 5, prm, &r, err)) != API_OK) return rc;
  rc = api_qr_keyset_page(r, limit, "cases_list", out, err);
  PQclear(r);
  return rc;
}

/* ---- GET /v1/cases/{id} ---- */

/* The view's audit row and the case, in one statement: a data-modifying WITH
 * runs to completion whether or not the SELECT reads it, and both commit
 * together. $3 actor, $4 detail (who: key id, role, via). */
static const char SQL_CASE[] =
    "WITH c AS (SELECT p.id FROM action_plans p WHERE p.id = $1 AND p.agency = $2 AND p.kind = 'case'),"
    " v AS (INSERT INTO audit_log (actor, entity, entity_id, action, detail)"
    "  SELECT $3, 'case', c.id, 'viewed', $4::jsonb FROM c RETURNING id)"
    " SELECT json_build_object(" CASE_PAIRS
    ", 'text', f.text, 'language', f.language, 'service', f.service)"
    " FROM c JOIN action_plans p ON p.id = c.id LEFT JOIN feedback f ON f.id = p.feedback_id AND f.agency = p.agency";

/* Who viewed and handled the case (entity case), what escucha-actions did for
 * it (entity action_plan: ticket_opened, ...), and views and reviews of its
 * item (entity feedback), oldest first. */
static const char SQL_CASE_AUDIT[] =
    "SELECT coalesce(json_agg(json_build_object('at', " TS("l.at")
    ", 'actor', l.actor, 'entity', l.entity, 'action', l.action, 'detail', l.detail) ORDER BY l.at, l.id),"
    " '[]'::json) FROM action_plans p JOIN audit_log l ON (l.entity IN ('case', 'action_plan') AND l.entity_id = p.id)"
    "  OR (l.entity = 'feedback' AND l.entity_id = p.feedback_id)"
    " WHERE p.id = $1 AND p.agency = $2 AND p.kind = 'case'";

api_rc api_q_case_get(PGconn *pg, const char *agency, const char *id, const api_viewer *who, es_buf *out,
                      api_err *err) {
  if (!id_ok(id) || !who || !who->actor || !who->detail) return api_notfound(err);
  const char *prm[] = {id, agency, who->actor, who->detail};
  PGresult *r, *a;
  api_rc rc = api_qr_run(pg, "case_get", SQL_CASE, 4, prm, &r, err);
  if (rc != API_OK) return rc;
  if (PQntuples(r) != 1) { /* missing, not a case, or another agency's: the same answer */
    PQclear(r);
    return api_notfound(err);
  }
  if ((rc = api_qr_run(pg, "case_audit", SQL_CASE_AUDIT, 2, prm, &a, err)) != API_OK) {
    PQclear(r);
    return rc;
  }
  size_t mark = out->len;
  /* {...,"audit":[...]}: the object without its closing brace, then the trail */
  int ok = PQgetlength(r, 0, 0) > 1 && api_qr_putn(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0) - 1) &&
           api_qr_put(out, ", \"audit\" : ") && api_qr_putn(out, PQgetvalue(a, 0, 0), (size_t)PQgetlength(a, 0, 0)) &&
           api_qr_put(out, "}");
  PQclear(r);
  PQclear(a);
  if (!ok) {
    out->len = mark;
    return api_qr_oom(err);
  }
  return API_OK;
}

/* ---- POST /v1/cases/{id}/ack ---- */

static const char SQL_ACK[] =
    "INSERT INTO audit_log (actor, entity, entity_id, action, detail)"
    " SELECT $3, 'case', p.id, 'acknowledged', $4::jsonb FROM action_plans p"
    " WHERE p.id = $1 AND p.agency = $2 AND p.kind = 'case'"
    " RETURNING json_build_object('id', entity_id, 'acknowledged', json_build_object('at', " TS(
        "at") ", 'actor', actor))";

api_rc api_q_case_ack(PGconn *pg, const char *agency, const char *id, const api_viewer *who, es_buf *out,
                      api_err *err) {
  if (!id_ok(id) || !who || !who->actor || !who->detail) return api_notfound(err);
  const char *prm[] = {id, agency, who->actor, who->detail};
  PGresult *r;
  api_rc rc = api_qr_run(pg, "case_ack", SQL_ACK, 4, prm, &r, err);
  if (rc != API_OK) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return api_notfound(err);
  }
  int ok = api_qr_putn(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
  PQclear(r);
  return ok ? API_OK : api_qr_oom(err);
}
