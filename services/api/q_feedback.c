/* Feedback reads (list with filters, search and keyset pages; one item with
 * its priority, plan and tickets), citizen receipts, Open311 reads and the
 * review endpoint's database steps. PostgreSQL builds each item's JSON
 * (json_build_object), so the text of a reply is exactly what is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "q_extra.h"
#include "q_util.h"
#include "query.h"
#include "route.h"

/* RFC 3339 UTC at second precision */
#define TS(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define ITEM_PAIRS \
  "'id', f.id, 'received_at', " TS("f.received_at")                                                  \
      ", 'channel', lower(f.channel), 'language', f.language,"                                       \
      " 'service', f.service, 'text', f.text, 'category', f.category, 'subcategory', f.subcategory," \
      " 'confidence', round(f.confidence::numeric, 4), 'sentiment', f.sentiment, 'urgent', f.urgent,"          \
      " 'urgent_reason', f.urgent_reason, 'urgent_confidence', round(f.urgent_confidence::numeric, 4),"         \
      " 'nps', f.nps, 'csat', f.csat"

/* The plan a feedback item counts toward: its topic's open plan, else the
 * latest one closed after the item arrived. */
#define PLAN_LATERAL                                                                                            \
  " LEFT JOIN LATERAL (SELECT p.id, p.status, p.summary, p.opened_at, p.closed_at FROM action_plans p"          \
  " WHERE p.agency = f.agency AND p.kind = 'plan' AND p.topic IN (f.category, f.subcategory)"                   \
  " AND (p.status = 'open' OR p.closed_at >= f.received_at)"                                                    \
  " ORDER BY (p.status = 'open') DESC, p.opened_at DESC LIMIT 1) pl ON true"                                    \
  " LEFT JOIN LATERAL (SELECT count(*) AS n, bool_and(a.status = 'done') AS done,"                              \
  " max(a.updated_at) AS upd, string_agg(a.tool || ' ' || coalesce(a.external_key, '') || ': ' ||"              \
  " coalesce(a.closure || coalesce(' (' || a.closure_note || ')', ''), a.status), '; ' ORDER BY a.id) AS notes" \
  " FROM actions a WHERE a.plan_id = pl.id) tk ON true"

/* PQexecParams (text parameters, text results); API_OK with *res set. */

static int all_of(const char *s, const char *set, size_t max) {
  size_t n = strlen(s);
  return n > 0 && n <= max && strspn(s, set) == n;
}

#define LOWER_ID "abcdefghijklmnopqrstuvwxyz0123456789_"
#define ID_SET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

static const char *const CHANNELS[] = {"web",    "email",  "whatsapp", "sms",       "call",  "chat",
                                       "social", "survey", "open311",  "in_person", "other", NULL};

/* ---- GET /v1/feedback ---- */

/* The filters on feedback's own columns ($2..$7), the same in both lists. */
#define LIST_FILTERS                                                                        \
  " AND ($2::text IS NULL OR f.category = $2) AND ($3::text IS NULL OR f.subcategory = $3)" \
  " AND ($4::text IS NULL OR f.sentiment = $4) AND ($5::text IS NULL OR f.channel = $5)"    \
  " AND ($6::boolean IS NULL OR f.urgent = $6) AND ($7::text IS NULL OR f.language = $7)"

/* Without q ($10 NULL). */
static const char SQL_LIST[] =
    "SELECT f.id, (extract(epoch FROM f.received_at) * 1000000)::bigint, json_build_object(" ITEM_PAIRS
    ")"
    " FROM feedback f WHERE f.agency = $1" LIST_FILTERS
    " AND ($8::timestamptz IS NULL OR f.received_at >= $8) AND ($9::timestamptz IS NULL OR f.received_at < $9)"
    " AND $10::text IS NULL"
    " AND ($11::bigint IS NULL OR (f.received_at, f.id) <"
    "  ('epoch'::timestamptz + $11::bigint * interval '1 microsecond', $12::text))"
    " ORDER BY f.received_at DESC, f.id DESC LIMIT $13";

/* With q: the vectors are in feedback_search (migrations/016), filled by
 * escucha-prioritize just after each batch commits, so an item is found a
 * moment after it is listed. The walk is that table's own (agency,
 * received_at, id) index, newest first, testing each vector; only matches
 * join their feedback row (a join per row walked made searches 4x slower). Same
 * order and cursor as the plain list: received_at and id are copies. */
static const char SQL_SEARCH[] =
    "SELECT f.id, (extract(epoch FROM s.received_at) * 1000000)::bigint, json_build_object(" ITEM_PAIRS
    ")"
    " FROM feedback_search s JOIN feedback f ON f.id = s.id WHERE s.agency = $1" LIST_FILTERS
    " AND ($8::timestamptz IS NULL OR s.received_at >= $8) AND ($9::timestamptz IS NULL OR s.received_at < $9)"
    " AND ((s.language = 'es' AND s.search @@ websearch_to_tsquery('spanish', $10))"
    "  OR (s.language IS DISTINCT FROM 'es' AND s.search @@ websearch_to_tsquery('english', $10)))"
    " AND ($11::bigint IS NULL OR (s.received_at, s.id) <"
    "  ('epoch'::timestamptz + $11::bigint * interval '1 microsecond', $12::text))"
    " ORDER BY s.received_at DESC, s.id DESC LIMIT $13";

api_rc api_q_feedback_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  long limit;
  api_rc rc = api_limit(p, 50, 500, &limit, err);
  if (rc != API_OK) return rc;
  const char *cat = api_param(p, "category"), *sub = api_param(p, "subcategory");
  const char *sent = api_param(p, "sentiment"), *chan = api_param(p, "channel");
  const char *urg = api_param(p, "urgent"), *lang = api_param(p, "language");
  const char *from = api_param(p, "from"), *to = api_param(p, "to"), *q = api_param(p, "q");
  const char *cur = api_param(p, "cursor");
  if (cat && !all_of(cat, LOWER_ID, 100))
    return api_invalid(err, "category", "category must be a taxonomy id ([a-z0-9_])");
  if (sub && !all_of(sub, LOWER_ID "/", 200))
    return api_invalid(err, "subcategory", "subcategory must be a taxonomy id (category/subcategory)");
  char sent_up[16] = "", chan_up[16] = "";
  if (sent) {
    if (strcasecmp(sent, "POSITIVE") && strcasecmp(sent, "NEUTRAL") && strcasecmp(sent, "NEGATIVE"))
      return api_invalid(err, "sentiment", "sentiment must be POSITIVE, NEUTRAL or NEGATIVE");
    for (size_t i = 0; sent[i]; i++) sent_up[i] = (char)(sent[i] >= 'a' && sent[i] <= 'z' ? sent[i] - 32 : sent[i]);
  }
  if (chan) {
    size_t i = 0;
    while (CHANNELS[i] && strcmp(CHANNELS[i], chan) != 0) i++;
    if (!CHANNELS[i])
      return api_invalid(
          err, "channel",
          "channel must be one of web, email, whatsapp, sms, call, chat, social, survey, open311, in_person, other");
    for (i = 0; chan[i]; i++) chan_up[i] = (char)(chan[i] >= 'a' && chan[i] <= 'z' ? chan[i] - 32 : chan[i]);
  }
  if (urg && strcmp(urg, "true") && strcmp(urg, "false"))
    return api_invalid(err, "urgent", "urgent must be true or false");
  if (lang && !all_of(lang, "abcdefghijklmnopqrstuvwxyz", 3))
    return api_invalid(err, "language", "language must be an ISO 639 code (es, en, ...)");
  if (from && !api_rfc3339_ok(from))
    return api_invalid(err, "from", "from must be an RFC 3339 time (2026-12-01T10:00:00Z)");
  if (to && !api_rfc3339_ok(to)) return api_invalid(err, "to", "to must be an RFC 3339 time (2026-12-01T10:00:00Z)");
  if (q && (strlen(q) == 0 || strlen(q) > 200)) return api_invalid(err, "q", "q must be 1..200 bytes of text");
  int64_t cur_us = 0;
  char cur_id[80], cur_us_s[32], lim_s[24];
  if (cur) {
    if (api_cursor_decode(cur, &cur_us, cur_id, sizeof cur_id) != 0)
      return api_invalid(err, "cursor", "cursor is not one this API returned");
    snprintf(cur_us_s, sizeof cur_us_s, "%lld", (long long)cur_us);
  }
  snprintf(lim_s, sizeof lim_s, "%ld", limit + 1);
  const char *prm[13] = {agency, cat, sub, sent ? sent_up : NULL, chan ? chan_up : NULL, urg,  lang,
                         from,   to,  q,   cur ? cur_us_s : NULL, cur ? cur_id : NULL,   lim_s};
  PGresult *r;
  if ((rc = api_qr_run(pg, "feedback_list", q ? SQL_SEARCH : SQL_LIST, 13, prm, &r, err)) != API_OK) return rc;
  rc = api_qr_keyset_page(r, limit, "feedback_list", out, err);
  PQclear(r);
  return rc;
}

/* ---- GET /v1/feedback/{id} ---- */

/* An urgent item's read writes its audit row in the same statement (a
 * data-modifying WITH runs whether or not the SELECT reads it; both commit
 * together): $3 actor, $4 detail. The item links to its case. */
static const char SQL_GET[] =
    "WITH v AS (INSERT INTO audit_log (actor, entity, entity_id, action, detail)"
    " SELECT $3, 'feedback', u.id, 'viewed', $4::jsonb FROM feedback u WHERE u.id = $1 AND u.agency = $2 AND u.urgent"
    " RETURNING id)"
    " SELECT json_build_object(" ITEM_PAIRS
    ", 'sentiment_score', round(f.sentiment_score::numeric, 4),"
    " 'journey_stage', f.journey_stage, 'model_version', f.model_version,"
    " 'top_terms', coalesce(f.top_terms, '[]'::jsonb),"
    " 'location', CASE WHEN f.lat IS NULL AND f.lon IS NULL AND f.address IS NULL THEN NULL"
    "  ELSE json_build_object('lat', f.lat, 'lon', f.lon, 'address', f.address) END,"
    " 'priority', (SELECT json_build_object('topic', pr.topic, 'window', pr.window_kind, 'rank', pr.rank,"
    "  'score', pr.score, 'explanation_es', pr.explanation_es, 'explanation_en', pr.explanation_en)"
    "  FROM priorities pr WHERE pr.agency = f.agency AND pr.topic IN (f.category, f.subcategory)"
    "  ORDER BY (pr.window_kind = 'day') DESC, pr.window_start DESC, pr.level DESC LIMIT 1),"
    " 'action_plan', CASE WHEN pl.id IS NULL THEN NULL"
    "  ELSE json_build_object('id', pl.id, 'status', pl.status, 'summary', pl.summary) END,"
    " 'tickets', coalesce((SELECT json_agg(json_build_object('tool', a.tool, 'key', a.external_key,"
    "  'url', a.url, 'status', a.status) ORDER BY a.id) FROM actions a WHERE a.plan_id = pl.id), '[]'::json),"
    " 'case', CASE WHEN f.urgent THEN (SELECT json_build_object('id', c.id, 'status', c.status) FROM action_plans c"
    "  WHERE c.agency = f.agency AND c.kind = 'case' AND c.feedback_id = f.id ORDER BY c.opened_at DESC LIMIT 1) END)"
    " FROM feedback f" PLAN_LATERAL " WHERE f.id = $1 AND f.agency = $2";

static api_rc one_json(PGconn *pg, const char *what, const char *sql, int n, const char *const *prm, es_buf *out,
                       api_err *err) {
  PGresult *r;
  api_rc rc = api_qr_run(pg, what, sql, n, prm, &r, err);
  if (rc != API_OK) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return api_notfound(err);
  }
  int ok = api_qr_putn(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
  PQclear(r);
  return ok ? API_OK : api_qr_oom(err);
}

api_rc api_q_feedback_get(PGconn *pg, const char *agency, const char *id, const api_viewer *v, es_buf *out,
                          api_err *err) {
  if (!all_of(id, ID_SET, 64) || !v || !v->actor || !v->detail) return api_notfound(err);
  const char *prm[] = {id, agency, v->actor, v->detail};
  return one_json(pg, "feedback_get", SQL_GET, 4, prm, out, err);
}

/* ---- receipts ---- */

static const char SQL_RECEIPT[] =
    "SELECT json_build_object('status', CASE WHEN pl.status = 'closed' OR (tk.n > 0 AND tk.done) THEN 'resolved'"
    "  WHEN tk.n > 0 THEN 'ticket_open' WHEN pl.id IS NOT NULL THEN 'in_action_plan' ELSE 'classified' END,"
    " 'updated_at', " TS(
        "CASE WHEN pl.status = 'closed' THEN pl.closed_at"
        " WHEN tk.n > 0 AND tk.done THEN tk.upd WHEN tk.n > 0 THEN tk.upd"
        " WHEN pl.id IS NOT NULL THEN greatest(pl.opened_at, coalesce(f.classified_at, f.inserted_at))"
        " ELSE coalesce(f.classified_at, f.inserted_at) END")
        ")"
        " FROM feedback f" PLAN_LATERAL " WHERE f.id = $1 AND NOT f.urgent";

/* ULID: the first 10 Crockford base32 characters are the ms timestamp. */
static int ulid_ms(const char *id, long long *ms) {
  static const char A[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  if (strlen(id) != 26) return -1;
  long long v = 0;
  for (int i = 0; i < 10; i++) {
    const char *p = strchr(A, id[i]);
    if (!p || !id[i]) return -1;
    v = v * 32 + (p - A);
  }
  *ms = v;
  return 0;
}

api_rc api_q_receipt(PGconn *pg, const char *id, es_buf *out, api_err *err) {
  const char *prm[] = {id};
  api_rc rc = one_json(pg, "receipt", SQL_RECEIPT, 1, prm, out, err);
  if (rc != API_NOTFOUND) return rc;
  /* a genuine token whose item is not stored yet: accepted, on its way. An
   * urgent item answers the same, forever (SQL_RECEIPT skips it): whoever
   * holds the person's phone learns nothing beyond "received". */
  long long ms;
  int ok;
  if (ulid_ms(id, &ms) == 0) {
    PGresult *r;
    char ms_s[32];
    snprintf(ms_s, sizeof ms_s, "%lld", ms);
    const char *p2[] = {ms_s};
    if ((rc = api_qr_run(pg, "receipt_time",
                         "SELECT " TS("'epoch'::timestamptz + $1::bigint * interval '1 millisecond'"), 1, p2, &r,
                         err)) != API_OK)
      return rc;
    ok = api_qr_put(out, "{\"status\":\"received\",\"updated_at\":\"") && api_qr_put(out, PQgetvalue(r, 0, 0)) &&
         api_qr_put(out, "\"}");
    PQclear(r);
  } else ok = api_qr_put(out, "{\"status\":\"received\",\"updated_at\":null}");
  return ok ? API_OK : api_qr_oom(err);
}

api_rc api_q_optout(PGconn *pg, const char *id, es_buf *out, api_err *err) {
  const char *prm[] = {id};
  PGresult *r;
  api_rc rc =
      api_qr_run(pg, "optout",
                 "UPDATE contacts SET opted_out_at = coalesce(opted_out_at, now()) WHERE feedback_id = $1 RETURNING 1",
                 1, prm, &r, err);
  if (rc != API_OK) return rc;
  int ok = api_qr_put(out, PQntuples(r) > 0 ? "{\"opted_out\":true}" : "{\"opted_out\":false}");
  PQclear(r);
  return ok ? API_OK : api_qr_oom(err);
}

/* ---- Open311 GeoReport v2 ---- */

#define O311_STATUS "CASE WHEN pl.status = 'closed' OR (tk.n > 0 AND tk.done) THEN 'closed' ELSE 'open' END"
#define O311_SELECT \
  "SELECT json_build_object('service_request_id', f.id,"                                           \
  " 'status', " O311_STATUS                                                                        \
  ","                                                                                              \
  " 'status_notes', tk.notes, 'agency_responsible', f.agency, 'service_notice', NULL,"             \
  " 'service_name', coalesce($2::jsonb ->> f.service, f.service), 'service_code', f.service,"      \
  " 'description', f.text, 'requested_datetime', " TS("f.received_at")                             \
      ","                                                                                          \
      " 'updated_datetime', " TS("greatest(f.received_at, f.classified_at, tk.upd, pl.closed_at)") \
          ","                                                                                      \
          " 'expected_datetime', NULL, 'address', f.address, 'address_id', NULL, 'zipcode', NULL," \
          " 'lat', f.lat, 'long', f.lon, 'media_url', NULL)"                                       \
          " FROM feedback f" PLAN_LATERAL " WHERE f.agency = $1 AND f.channel = 'OPEN311' AND NOT f.urgent"

static const char SQL_O311_GET[] = O311_SELECT " AND f.id = $3";

static const char SQL_O311_LIST[] = O311_SELECT
    " AND (CASE WHEN $3::text[] IS NOT NULL THEN f.id = ANY ($3::text[]) ELSE"
    "  f.received_at >= coalesce($5::timestamptz, coalesce($6::timestamptz, now()) - interval '90 days')"
    "  AND f.received_at <= coalesce($6::timestamptz,"
    "   CASE WHEN $5::timestamptz IS NULL THEN now() ELSE $5::timestamptz + interval '90 days' END)"
    "  AND ($4::text[] IS NULL OR f.service = ANY ($4::text[]))"
    "  AND ($7::text IS NULL OR " O311_STATUS
    " = $7) END)"
    " ORDER BY f.received_at DESC, f.id DESC LIMIT 1000";

api_rc api_q_o311_get(PGconn *pg, const char *agency, const char *names_json, const char *id, es_buf *out,
                      api_err *err) {
  if (!all_of(id, ID_SET, 64)) return api_notfound(err);
  const char *prm[] = {agency, names_json, id};
  if (!api_qr_put(out, "[")) return api_qr_oom(err);
  api_rc rc = one_json(pg, "open311_get", SQL_O311_GET, 3, prm, out, err);
  if (rc != API_OK) return rc;
  return api_qr_put(out, "]") ? API_OK : api_qr_oom(err);
}

/* "a,b,c" (each of set, at most 100) -> "{a,b,c}" (a text[] literal); 0 ok. */
static int list_literal(const char *v, const char *set, char *out, size_t cap) {
  size_t n = strlen(v), items = 1, o = 0;
  if (n == 0 || n + 3 > cap || v[0] == ',' || v[n - 1] == ',' || strstr(v, ",,")) return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ',') items++;
    else if (!strchr(set, v[i])) return -1;
  }
  if (items > 100) return -1;
  out[o++] = '{';
  memcpy(out + o, v, n);
  o += n;
  out[o++] = '}';
  out[o] = '\0';
  return 0;
}

api_rc api_q_o311_list(PGconn *pg, const char *agency, const char *names_json, const api_params *p, es_buf *out,
                       api_err *err) {
  const char *ids = api_param(p, "service_request_id"), *codes = api_param(p, "service_code");
  const char *start = api_param(p, "start_date"), *end = api_param(p, "end_date"), *status = api_param(p, "status");
  char ids_l[1100], codes_l[1100];
  if (ids && list_literal(ids, ID_SET, ids_l, sizeof ids_l) != 0)
    return api_invalid(err, "service_request_id", "service_request_id must be ids separated by commas (at most 100)");
  if (codes && list_literal(codes, LOWER_ID "/", codes_l, sizeof codes_l) != 0)
    return api_invalid(err, "service_code", "service_code must be service codes separated by commas (at most 100)");
  if (start && !api_rfc3339_ok(start))
    return api_invalid(err, "start_date", "start_date must be a w3 date-time (2010-01-01T00:00:00Z)");
  if (end && !api_rfc3339_ok(end))
    return api_invalid(err, "end_date", "end_date must be a w3 date-time (2010-01-01T00:00:00Z)");
  /* "open,closed" is every status: no filter */
  const char *st = NULL;
  if (status) {
    if (strcmp(status, "open") == 0 || strcmp(status, "closed") == 0) st = status;
    else if (strcmp(status, "open,closed") && strcmp(status, "closed,open"))
      return api_invalid(err, "status", "status must be open, closed or both separated by a comma");
  }
  PGresult *r;
  api_rc rc;
  if (start && end && !ids) {
    const char *p2[] = {start, end};
    if ((rc = api_qr_run(pg, "open311_span",
                         "SELECT $2::timestamptz < $1::timestamptz,"
                         " $2::timestamptz - $1::timestamptz > interval '90 days'",
                         2, p2, &r, err)) != API_OK)
      return rc;
    int before = PQgetvalue(r, 0, 0)[0] == 't', wide = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (before) return api_invalid(err, "end_date", "end_date must not be before start_date");
    if (wide) return api_invalid(err, "end_date", "start_date and end_date may be at most 90 days apart");
  }
  const char *prm[] = {agency, names_json, ids ? ids_l : NULL, codes ? codes_l : NULL, start, end, st};
  if ((rc = api_qr_run(pg, "open311_list", SQL_O311_LIST, 7, prm, &r, err)) != API_OK) return rc;
  int ok = api_qr_put(out, "[");
  for (int i = 0; i < PQntuples(r) && ok; i++)
    ok = (i == 0 || api_qr_put(out, ",")) && api_qr_putn(out, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
  ok = ok && api_qr_put(out, "]");
  PQclear(r);
  return ok ? API_OK : api_qr_oom(err);
}

/* ---- review ---- */

api_rc api_q_review_item(PGconn *pg, const char *agency, const char *id, char **text, char **language, api_err *err) {
  *text = *language = NULL;
  if (!all_of(id, ID_SET, 64)) return api_notfound(err);
  const char *prm[] = {id, agency};
  PGresult *r;
  api_rc rc =
      api_qr_run(pg, "review_item", "SELECT coalesce(text, ''), language FROM feedback WHERE id = $1 AND agency = $2",
                 2, prm, &r, err);
  if (rc != API_OK) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return api_notfound(err);
  }
  *text = es_strdup(PQgetvalue(r, 0, 0));
  *language = PQgetisnull(r, 0, 1) ? NULL : es_strdup(PQgetvalue(r, 0, 1));
  int bad = !*text || (!PQgetisnull(r, 0, 1) && !*language);
  PQclear(r);
  if (bad) {
    free(*text), free(*language);
    *text = *language = NULL;
    return api_qr_oom(err);
  }
  return API_OK;
}

api_rc api_q_review_audit(PGconn *pg, const char *actor, const char *id, const char *detail_json, api_err *err) {
  const char *prm[] = {actor, id, detail_json};
  PGresult *r;
  api_rc rc = api_qr_run(pg, "review_audit",
                         "INSERT INTO audit_log (actor, entity, entity_id, action, detail)"
                         " VALUES ($1, 'feedback', $2, 'review', $3::jsonb)",
                         3, prm, &r, err);
  if (rc == API_OK) PQclear(r);
  return rc;
}

api_rc api_q_model_version(PGconn *pg, const char *agency, es_buf *out, api_err *err) {
  const char *prm[] = {agency};
  PGresult *r;
  api_rc rc = api_qr_run(pg, "model_version",
                         "SELECT json_build_object('model_version', (SELECT model_version FROM feedback"
                         " WHERE agency = $1 AND model_version IS NOT NULL ORDER BY received_at DESC LIMIT 1))",
                         1, prm, &r, err);
  if (rc != API_OK) return rc;
  int ok = api_qr_putn(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
  PQclear(r);
  return ok ? API_OK : api_qr_oom(err);
}
