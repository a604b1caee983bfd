/* Read queries of the ranking side: priorities, topic series, action plans
 * (docs/api.md). PQexecParams only; every statement is scoped to the agency;
 * JSON is built with jansson (q_util.h). */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q_util.h"
#include "query.h"
#include "util.h"

/* Step of each window kind as an interval of hours only: hours are absolute,
 * while "1 day" would follow the session time zone's daylight saving. */
static const char *const STEP[3] = {"1 hour", "24 hours", "168 hours"};

/* ---- GET /v1/priorities ---- */

enum { TREND_WINDOWS = 14 };

/* The ranking in force: the latest window of that kind, or the latest one
 * starting at or before `at` (a window with no feedback has no ranking). */
static const char SQL_PRIORITIES[] =
    "WITH w AS (SELECT window_start FROM priorities WHERE agency = $1 AND window_kind = $2"
    "  AND ($3::bigint IS NULL OR window_start <= " API_TS(3) ")"
    "  ORDER BY window_start DESC LIMIT 1)"
    " SELECT " API_MS("p.window_start") ", " API_MS("p.computed_at") ", p.topic, p.level, p.rank,"
    "  p.score, p.volume, p.negative_share, p.negative_low, p.negative_high, p.spike_z, p.nps,"
    "  p.nps_impact, p.csat / 100, p.csat_impact / 100, p.urgent_share, p.factors,"
    "  p.explanation_es, p.explanation_en, ap.id,"
    "  (SELECT array_to_string(array_agg(coalesce(s.total, 0) ORDER BY k.k DESC), ',')"
    "   FROM generate_series(0, 13) k(k) LEFT JOIN topic_window_stats s ON s.agency = p.agency"
    "   AND s.topic = p.topic AND s.window_kind = p.window_kind"
    "   AND s.window_start = p.window_start - k.k * $4::interval)"
    " FROM w JOIN priorities p ON p.agency = $1 AND p.window_kind = $2"
    "  AND p.window_start = w.window_start"
    " LEFT JOIN action_plans ap ON ap.agency = p.agency AND ap.topic = p.topic AND ap.status = 'open'"
    " WHERE ($5::smallint IS NULL OR p.level = $5)"
    " ORDER BY p.level, p.rank, p.topic";

/* "12,15,30" -> [12,15,30] (the SQL always yields TREND_WINDOWS numbers). */
static json_t *trend_json(const char *s) {
  json_t *a = json_array();
  while (a && *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || json_array_append_new(a, json_integer(v)) != 0) {
      json_decref(a);
      return NULL;
    }
    s = *end == ',' ? end + 1 : end;
  }
  return a;
}

api_rc api_q_priorities(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  api_window w;
  int64_t at = 0;
  int has_at = 0;
  api_rc rc = api_qr_window(p, 7, &w, err);
  if (rc == API_OK) rc = api_qr_time_param(p, "at", &at, &has_at, err);
  if (rc != API_OK) return rc;
  const char *level = api_param(p, "level");
  if (level && strcmp(level, "1") != 0 && strcmp(level, "2") != 0)
    return api_invalid(err, "level", "level must be 1 (categories) or 2 (subcategories)");
  char at_s[24];
  snprintf(at_s, sizeof at_s, "%" PRId64, at);
  const char *prm[] = {agency, API_WINDOW_NAMES[w], has_at ? at_s : NULL, STEP[w], level};
  PGresult *r = api_qr_exec(pg, "priorities", SQL_PRIORITIES, 5, prm, err);
  if (!r) return API_EDB;
  int bad = 0;
  json_t *o = json_object(), *items = json_array();
  api_qr_set(o, "window", json_string(API_WINDOW_NAMES[w]), &bad);
  api_qr_set(o, "window_start", PQntuples(r) ? api_qr_time_json(r, 0, 0) : json_null(), &bad);
  int64_t computed = -1;
  for (int i = 0; i < PQntuples(r) && !bad; i++) {
    int64_t c = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    if (c > computed) computed = c; /* every row of one ranking has the same; the newest wins */
    json_t *it = json_object();
    api_qr_set(it, "rank", api_qr_int(r, i, 4), &bad);
    api_qr_set(it, "topic", api_qr_str(r, i, 2), &bad);
    api_qr_set(it, "level", api_qr_int(r, i, 3), &bad);
    static const char *const num[] = {"score", "volume", "negative_share", "negative_low",
                                      "negative_high", "spike_z", "nps", "nps_impact", "csat",
                                      "csat_impact", "urgent_share"};
    for (int k = 0; k < 11; k++)
      api_qr_set(it, num[k], k == 1 ? api_qr_int(r, i, 6) : api_qr_real(r, i, 5 + k), &bad);
    api_qr_set(it, "factors", api_qr_jsonb(r, i, 16), &bad);
    api_qr_set(it, "explanation_es", api_qr_str(r, i, 17), &bad);
    api_qr_set(it, "explanation_en", api_qr_str(r, i, 18), &bad);
    api_qr_set(it, "trend", trend_json(PQgetvalue(r, i, 20)), &bad);
    api_qr_set(it, "action_plan_id", api_qr_str(r, i, 19), &bad);
    if (json_array_append_new(items, it) != 0) bad = 1;
  }
  if (computed >= 0) {
    char t[32];
    api_qr_format_time(computed, t);
    api_qr_set(o, "computed_at", json_string(t), &bad);
  } else {
    api_qr_set(o, "computed_at", json_null(), &bad);
  }
  api_qr_set(o, "items", items, &bad);
  PQclear(r);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
}

/* ---- GET /v1/topics/{topic}/series ---- */

enum { SERIES_MAX_POINTS = 1000 };
/* Default span when `from` is absent: 48 hours, 30 days, 26 weeks. */
static const int DEFAULT_POINTS[3] = {48, 30, 26};

static const char SQL_SERIES[] =
    "SELECT " API_MS("g.ws") ", coalesce(s.total, 0), coalesce(s.negative, 0),"
    "  coalesce(s.nps_promoters, 0), coalesce(s.nps_passives, 0), coalesce(s.nps_detractors, 0),"
    "  coalesce(s.csat_responses, 0), coalesce(s.csat_satisfied, 0)"
    " FROM generate_series(" API_TS(3) ", " API_TS(4) ", $5::interval) g(ws)"
    " LEFT JOIN topic_window_stats s ON s.agency = $1 AND s.topic = $2 AND s.window_kind = $6"
    "  AND s.window_start = g.ws"
    " ORDER BY g.ws";

static int64_t col64(const PGresult *r, int i, int c) { return strtoll(PQgetvalue(r, i, c), NULL, 10); }

api_rc api_q_topic_series(PGconn *pg, const char *agency, const char *topic, const api_params *p,
                          es_buf *out, api_err *err) {
  api_window w;
  int64_t from = 0, to = 0;
  int has_from = 0, has_to = 0;
  size_t tl = topic ? strlen(topic) : 0;
  if (tl == 0 || tl > 200 || topic[0] == '/' || topic[tl - 1] == '/')
    return api_invalid(err, "topic", "topic must be a category or category/subcategory id");
  api_rc rc = api_qr_window(p, 7, &w, err);
  if (rc == API_OK) rc = api_qr_time_param(p, "from", &from, &has_from, err);
  if (rc == API_OK) rc = api_qr_time_param(p, "to", &to, &has_to, err);
  if (rc != API_OK) return rc;
  int64_t len = API_WINDOW_MS[w];
  if (!has_to) to = es_now_ms();
  if (!has_from) from = api_qr_trunc(to, w) - (DEFAULT_POINTS[w] - 1) * len;
  if (from >= to) return api_invalid(err, "to", "to must be later than from");
  /* Windows starting in [trunc(from), to): the window holding from, up to the one holding to. */
  int64_t first = api_qr_trunc(from, w), last = api_qr_trunc(to - 1, w);
  if ((last - first) / len + 1 > SERIES_MAX_POINTS)
    return api_invalid(err, "from", "from..to may span at most %d windows", SERIES_MAX_POINTS);
  char f_s[24], l_s[24];
  snprintf(f_s, sizeof f_s, "%" PRId64, first);
  snprintf(l_s, sizeof l_s, "%" PRId64, last);
  const char *prm[] = {agency, topic, f_s, l_s, STEP[w], API_WINDOW_NAMES[w]};
  PGresult *r = api_qr_exec(pg, "topic_series", SQL_SERIES, 6, prm, err);
  if (!r) return API_EDB;
  int bad = 0;
  json_t *o = json_object(), *pts = json_array();
  api_qr_set(o, "topic", json_string(topic), &bad);
  api_qr_set(o, "window", json_string(API_WINDOW_NAMES[w]), &bad);
  for (int i = 0; i < PQntuples(r) && !bad; i++) {
    int64_t total = col64(r, i, 1), neg = col64(r, i, 2), cr = col64(r, i, 6), cs = col64(r, i, 7);
    double nps, nlo, nhi, lo, hi;
    json_t *pt = json_object();
    api_qr_set(pt, "start", api_qr_time_json(r, i, 0), &bad);
    api_qr_set(pt, "total", json_integer(total), &bad);
    api_qr_set(pt, "negative", json_integer(neg), &bad);
    if (total > 0) {
      api_qr_wilson(neg, total, &lo, &hi);
      api_qr_set(pt, "negative_share", json_real((double)neg / (double)total), &bad);
      api_qr_set(pt, "negative_low", json_real(lo), &bad);
      api_qr_set(pt, "negative_high", json_real(hi), &bad);
    } else { /* no feedback in the window: no share to draw */
      api_qr_set(pt, "negative_share", json_null(), &bad);
      api_qr_set(pt, "negative_low", json_null(), &bad);
      api_qr_set(pt, "negative_high", json_null(), &bad);
    }
    int has_nps = api_qr_nps(col64(r, i, 3), col64(r, i, 4), col64(r, i, 5), &nps, &nlo, &nhi);
    api_qr_set(pt, "nps", has_nps ? json_real(nps) : json_null(), &bad);
    api_qr_set(pt, "nps_n", json_integer(col64(r, i, 3) + col64(r, i, 4) + col64(r, i, 5)), &bad);
    api_qr_set(pt, "csat", cr > 0 ? json_real((double)cs / (double)cr) : json_null(), &bad);
    api_qr_set(pt, "csat_n", json_integer(cr), &bad);
    if (json_array_append_new(pts, pt) != 0) bad = 1;
  }
  api_qr_set(o, "points", pts, &bad);
  PQclear(r);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
}

/* ---- GET /v1/action-plans, GET /v1/action-plans/{id} ---- */

#define TICKETS_OF(plan)                                                                           \
  "(SELECT json_agg(json_build_object('tool', a.tool, 'key', a.external_key, 'url', a.url,"        \
  " 'status', a.status) ORDER BY a.opened_at, a.id) FROM actions a WHERE a.plan_id = " plan ")"

/* Newest first, keyset on (opened_at, id) in microseconds so no row is lost between pages. */
static const char SQL_PLANS[] =
    "SELECT p.id, p.topic, p.status, " API_MS("p.opened_at") ", " API_MS("p.closed_at") ", p.summary, "
    TICKETS_OF("p.id") ", (extract(epoch FROM p.opened_at) * 1000000)::bigint"
    " FROM action_plans p WHERE p.agency = $1 AND ($2::text IS NULL OR p.status = $2)"
    "  AND ($3::bigint IS NULL OR (p.opened_at, p.id) <"
    "   (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::text))"
    " ORDER BY p.opened_at DESC, p.id DESC LIMIT $5::int";

/* The cursor: base64url (no padding) of "<opened_at µs>.<id>". */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url(const unsigned char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                 (i + 2 < n ? in[i + 2] : 0);
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    if (i + 1 < n) out[o++] = B64[v >> 6 & 63];
    if (i + 2 < n) out[o++] = B64[v & 63];
  }
  out[o] = '\0';
}

/* -1 on any character outside the alphabet or a length no encoding gives. */
static int unb64url(const char *in, unsigned char *out, size_t cap, size_t *n) {
  size_t len = strlen(in), o = 0;
  uint32_t acc = 0;
  int bits = 0;
  if (len % 4 == 1) return -1;
  for (size_t i = 0; i < len; i++) {
    const char *c = memchr(B64, in[i], 64);
    if (!c || !in[i]) return -1;
    acc = acc << 6 | (uint32_t)(c - B64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *n = o;
  return 0;
}

/* "<digits>.<id>" with an id of 1..64 printable ASCII characters. */
static int parse_cursor(const char *c, char *us, size_t uscap, char *id, size_t idcap) {
  unsigned char raw[128];
  size_t n;
  if (strlen(c) > 160 || unb64url(c, raw, sizeof raw - 1, &n) != 0) return -1;
  raw[n] = '\0';
  char *dot = memchr(raw, '.', n);
  if (!dot || dot == (char *)raw || (size_t)(dot - (char *)raw) >= uscap) return -1;
  for (char *q = (char *)raw; q < dot; q++)
    if (!isdigit((unsigned char)*q)) return -1;
  size_t idl = n - (size_t)(dot + 1 - (char *)raw);
  if (idl == 0 || idl >= idcap) return -1;
  for (size_t i = 0; i < idl; i++)
    if (dot[1 + i] < 0x21 || dot[1 + i] > 0x7e) return -1;
  memcpy(us, raw, (size_t)(dot - (char *)raw));
  us[dot - (char *)raw] = '\0';
  memcpy(id, dot + 1, idl + 1);
  return 0;
}

/* One plan's list fields (columns 0..6 of both plan queries). */
static json_t *plan_json(const PGresult *r, int i, int *bad) {
  json_t *o = json_object();
  api_qr_set(o, "id", api_qr_str(r, i, 0), bad);
  api_qr_set(o, "topic", api_qr_str(r, i, 1), bad);
  api_qr_set(o, "status", api_qr_str(r, i, 2), bad);
  api_qr_set(o, "opened_at", api_qr_time_json(r, i, 3), bad);
  api_qr_set(o, "closed_at", api_qr_time_json(r, i, 4), bad);
  api_qr_set(o, "summary", api_qr_str(r, i, 5), bad);
  json_t *t = api_qr_jsonb(r, i, 6);
  if (t && json_is_null(t)) {
    json_decref(t);
    t = json_array();
  }
  api_qr_set(o, "tickets", t, bad);
  return o;
}

api_rc api_q_plans_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  int limit;
  api_rc rc = api_qr_limit(p, 50, &limit, err);
  if (rc != API_OK) return rc;
  const char *status = api_param(p, "status");
  if (status && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0)
    return api_invalid(err, "status", "status must be open or closed");
  const char *cursor = api_param(p, "cursor");
  char us[24] = "", id[72] = "";
  if (cursor && parse_cursor(cursor, us, sizeof us, id, sizeof id) != 0)
    return api_invalid(err, "cursor", "cursor must be a next_cursor value from an earlier page");
  char lim[16];
  snprintf(lim, sizeof lim, "%d", limit + 1); /* one more row says whether a next page exists */
  const char *prm[] = {agency, status, cursor ? us : NULL, cursor ? id : NULL, lim};
  PGresult *r = api_qr_exec(pg, "plans_list", SQL_PLANS, 5, prm, err);
  if (!r) return API_EDB;
  int bad = 0, n = PQntuples(r);
  json_t *o = json_object(), *items = json_array();
  for (int i = 0; i < n && i < limit && !bad; i++)
    if (json_array_append_new(items, plan_json(r, i, &bad)) != 0) bad = 1;
  api_qr_set(o, "items", items, &bad);
  if (n > limit && !bad) {
    char key[128], enc[180];
    int kl = snprintf(key, sizeof key, "%s.%s", PQgetvalue(r, limit - 1, 7), PQgetvalue(r, limit - 1, 0));
    if (kl < 0 || (size_t)kl >= sizeof key) bad = 1; /* ids are ULIDs: never this long */
    else {
      b64url((const unsigned char *)key, (size_t)kl, enc);
      api_qr_set(o, "next_cursor", json_string(enc), &bad);
    }
  } else {
    api_qr_set(o, "next_cursor", json_null(), &bad);
  }
  PQclear(r);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
}

static const char SQL_PLAN[] =
    "SELECT p.id, p.topic, p.status, " API_MS("p.opened_at") ", " API_MS("p.closed_at") ", p.summary, "
    TICKETS_OF("p.id") ", p.recommendations, p.quotes, p.priority"
    " FROM action_plans p WHERE p.id = $1 AND p.agency = $2";
/* entity/entity_id as prioritize (open/close) and actions (ticket_*) write them. */
static const char SQL_PLAN_AUDIT[] =
    "SELECT " API_MS("at") ", actor, action, detail FROM audit_log"
    " WHERE entity = 'action_plan' AND entity_id = $1 ORDER BY at, id";

api_rc api_q_plan_get(PGconn *pg, const char *agency, const char *id, es_buf *out, api_err *err) {
  if (!id || !*id || strlen(id) > 64) return api_notfound(err);
  const char *prm[] = {id, agency};
  PGresult *r = api_qr_exec(pg, "plan_get", SQL_PLAN, 2, prm, err);
  if (!r) return API_EDB;
  if (PQntuples(r) != 1) { /* missing, or another agency's: the same answer */
    PQclear(r);
    return api_notfound(err);
  }
  PGresult *a = api_qr_exec(pg, "plan_audit", SQL_PLAN_AUDIT, 1, prm, err);
  if (!a) {
    PQclear(r);
    return API_EDB;
  }
  int bad = 0;
  json_t *o = plan_json(r, 0, &bad), *audit = json_array();
  json_t *recs = api_qr_jsonb(r, 0, 7), *quotes = api_qr_jsonb(r, 0, 8);
  if (recs && json_is_null(recs)) json_decref(recs), recs = json_array();
  if (quotes && json_is_null(quotes)) json_decref(quotes), quotes = json_array();
  api_qr_set(o, "recommendations", recs, &bad);
  api_qr_set(o, "quotes", quotes, &bad);
  api_qr_set(o, "priority", api_qr_jsonb(r, 0, 9), &bad);
  for (int i = 0; i < PQntuples(a) && !bad; i++) {
    json_t *e = json_object();
    api_qr_set(e, "at", api_qr_time_json(a, i, 0), &bad);
    api_qr_set(e, "actor", api_qr_str(a, i, 1), &bad);
    api_qr_set(e, "action", api_qr_str(a, i, 2), &bad);
    api_qr_set(e, "detail", api_qr_jsonb(a, i, 3), &bad);
    if (json_array_append_new(audit, e) != 0) bad = 1;
  }
  api_qr_set(o, "audit", audit, &bad);
  PQclear(r);
  PQclear(a);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
}
