/* Read queries of the ranking side: priorities, topic series, action plans
 * (docs/api.md). PQexecParams only; every statement is scoped to the agency.
 * Priorities and series (the dashboard's hot reads, bench/api) write their
 * JSON with checked es_buf appends, copying PostgreSQL's number text as it is;
 * action plans build theirs with jansson (q_util.h). */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q_util.h"
#include "query.h"
#include "route.h" /* api_b64url_* */
#include "util.h"

/* Appends in order and stops at the first failure (`a | b` would not fix the
 * order of the two calls); needs an int bad in scope. */
#define PUT(x) (bad = bad || (x) != 0)

/* Step of each window kind as an interval of hours only: hours are absolute,
 * while "1 day" would follow the session time zone's daylight saving. */
static const char *const STEP[3] = {"1 hour", "24 hours", "168 hours"};

/* ---- GET /v1/priorities ---- */

enum { TREND_WINDOWS = 14 };

/* The ranking in force: the latest window of that kind, or the latest one
 * starting at or before `at` (a window with no feedback has no ranking). */
static const char SQL_PRIORITIES[] =
    "WITH w AS (SELECT window_start FROM priorities WHERE agency = $1 AND window_kind = $2"
    "  AND ($3::bigint IS NULL OR window_start <= " API_TS(3)
        ")"
        "  ORDER BY window_start DESC LIMIT 1)"
        " SELECT " API_MS("p.window_start") ", " API_MS("p.computed_at")
            ", p.rank, p.topic, p.level,"
            "  p.score, p.volume, p.negative_share, p.negative_low, p.negative_high, p.spike_z, p.nps,"
            "  p.nps_impact, p.csat / 100, p.csat_impact / 100, p.urgent_share, p.factors,"
            "  p.explanation_es, p.explanation_en, ap.id"
            " FROM w JOIN priorities p ON p.agency = $1 AND p.window_kind = $2"
            "  AND p.window_start = w.window_start"
            " LEFT JOIN action_plans ap ON ap.agency = p.agency AND ap.topic = p.topic AND ap.status = 'open'"
            "  AND ap.kind = 'plan'"
            " WHERE ($4::smallint IS NULL OR p.level = $4)"
            " ORDER BY p.level, p.rank, p.topic";
/* The trend: one range scan of the agency's last 14 windows of that kind
 * (index topic_window_stats_rank), k = windows before the ranked one; the
 * service fills the windows without a row with 0. */
static const char SQL_TREND[] =
    "SELECT topic, (extract(epoch FROM " API_TS(3)
        " - window_start) * 1000)::bigint / $4::bigint, total"
        " FROM topic_window_stats WHERE agency = $1 AND window_kind = $2"
        "  AND window_start > " API_TS(3)
            " - 14 * $4::bigint * interval '1 millisecond'"
            "  AND window_start <= " API_TS(3);

/* Column c as a JSON number: PostgreSQL's float8/bigint text is one (shortest
 * exact form), except NaN and infinities, which become null like SQL NULL. */
static int put_num(es_buf *b, const PGresult *r, int i, int c) {
  const char *v = PQgetvalue(r, i, c);
  if (PQgetisnull(r, i, c) || v[0] == 'N' || v[0] == 'I' || (v[0] == '-' && v[1] == 'I')) return es_buf_puts(b, "null");
  return es_buf_append(b, v, (size_t)PQgetlength(r, i, c));
}
static int put_str(es_buf *b, const PGresult *r, int i, int c) {
  if (PQgetisnull(r, i, c)) return es_buf_puts(b, "null");
  return es_buf_json_str(b, PQgetvalue(r, i, c), (size_t)PQgetlength(r, i, c));
}
static int put_time(es_buf *b, const PGresult *r, int i, int c) {
  if (PQgetisnull(r, i, c)) return es_buf_puts(b, "null");
  char t[32];
  api_qr_format_time(strtoll(PQgetvalue(r, i, c), NULL, 10), t);
  return es_buf_printf(b, "\"%s\"", t);
}

/* Decimal text of v in d (without printf: 14 per topic per request). */
static const char *itoa10(long long v, char d[24]) {
  char *p = d + 23;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  *p = '\0';
  do *--p = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0) *--p = '-';
  return p;
}

typedef struct {
  const char *topic;
  int row;
} topic_row;
static int cmp_topic_row(const void *a, const void *b) {
  return strcmp(((const topic_row *)a)->topic, ((const topic_row *)b)->topic);
}

/* Appends the items of r with their trends (from t) to out; -1 when out of memory. */
static int priority_items(es_buf *out, const PGresult *r, const PGresult *t) {
  int n = PQntuples(r), rc = -1;
  topic_row *idx = malloc(sizeof *idx * (size_t)(n ? n : 1));
  long long *trend = calloc((size_t)(n ? n : 1) * TREND_WINDOWS, sizeof *trend);
  if (!idx || !trend) goto cleanup;
  for (int i = 0; i < n; i++) idx[i] = (topic_row){PQgetvalue(r, i, 3), i};
  qsort(idx, (size_t)n, sizeof *idx, cmp_topic_row);
  for (int j = 0; j < PQntuples(t); j++) {
    topic_row key = {PQgetvalue(t, j, 0), 0}, *hit;
    long k = strtol(PQgetvalue(t, j, 1), NULL, 10);
    if (k < 0 || k >= TREND_WINDOWS) continue;
    /* a topic may appear twice (two levels never share an id, but be safe): fill each */
    if (!(hit = bsearch(&key, idx, (size_t)n, sizeof *idx, cmp_topic_row))) continue;
    while (hit > idx && strcmp(hit[-1].topic, key.topic) == 0) hit--;
    for (; hit < idx + n && strcmp(hit->topic, key.topic) == 0; hit++)
      trend[(size_t)hit->row * TREND_WINDOWS + (size_t)(TREND_WINDOWS - 1 - k)] =
          strtoll(PQgetvalue(t, j, 2), NULL, 10);
  }
  static const char *const num[] = {
      ",\"score\":",       ",\"volume\":", ",\"negative_share\":", ",\"negative_low\":", ",\"negative_high\":",
      ",\"spike_z\":",     ",\"nps\":",    ",\"nps_impact\":",     ",\"csat\":",         ",\"csat_impact\":",
      ",\"urgent_share\":"};
  int bad = 0;
  for (int i = 0; i < n && !bad; i++) {
    PUT(es_buf_puts(out, i ? ",{\"rank\":" : "{\"rank\":")), PUT(put_num(out, r, i, 2));
    PUT(es_buf_puts(out, ",\"topic\":")), PUT(put_str(out, r, i, 3));
    PUT(es_buf_puts(out, ",\"level\":")), PUT(put_num(out, r, i, 4));
    for (int k = 0; k < 11; k++) PUT(es_buf_puts(out, num[k])), PUT(put_num(out, r, i, 5 + k));
    PUT(es_buf_puts(out, ",\"factors\":"));
    PUT(PQgetisnull(r, i, 16) ? es_buf_puts(out, "null") /* jsonb text is JSON */
                              : es_buf_append(out, PQgetvalue(r, i, 16), (size_t)PQgetlength(r, i, 16)));
    PUT(es_buf_puts(out, ",\"explanation_es\":")), PUT(put_str(out, r, i, 17));
    PUT(es_buf_puts(out, ",\"explanation_en\":")), PUT(put_str(out, r, i, 18));
    PUT(es_buf_puts(out, ",\"trend\":["));
    for (int k = 0; k < TREND_WINDOWS; k++) {
      char d[24];
      PUT(es_buf_puts(out, k ? "," : "")),
          PUT(es_buf_puts(out, itoa10(trend[(size_t)i * TREND_WINDOWS + (size_t)k], d)));
    }
    PUT(es_buf_puts(out, "],\"action_plan_id\":")), PUT(put_str(out, r, i, 19)), PUT(es_buf_puts(out, "}"));
  }
  rc = bad ? -1 : 0;
cleanup:
  free(idx);
  free(trend);
  return rc;
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
  char at_s[24], step[24];
  snprintf(at_s, sizeof at_s, "%" PRId64, at);
  const char *prm[] = {agency, API_WINDOW_NAMES[w], has_at ? at_s : NULL, level};
  PGresult *r = api_qr_exec(pg, "priorities", SQL_PRIORITIES, 4, prm, err), *t = NULL;
  if (!r) return API_EDB;
  size_t mark = out->len;
  int bad = es_buf_printf(out, "{\"window\":\"%s\",", API_WINDOW_NAMES[w]) != 0;
  if (PQntuples(r)) {
    int64_t newest = -1;
    for (int i = 0; i < PQntuples(r); i++) { /* one ranking has one computed_at; the newest wins */
      int64_t c = strtoll(PQgetvalue(r, i, 1), NULL, 10);
      if (c > newest) newest = c;
    }
    char ws[32], computed[32];
    api_qr_format_time(strtoll(PQgetvalue(r, 0, 0), NULL, 10), ws);
    api_qr_format_time(newest, computed);
    snprintf(step, sizeof step, "%" PRId64, API_WINDOW_MS[w]);
    const char *tp[] = {agency, API_WINDOW_NAMES[w], PQgetvalue(r, 0, 0), step};
    if (!(t = api_qr_exec(pg, "priorities_trend", SQL_TREND, 4, tp, err))) {
      PQclear(r);
      out->len = mark;
      return API_EDB;
    }
    PUT(es_buf_printf(out, "\"window_start\":\"%s\",\"computed_at\":\"%s\",\"items\":[", ws, computed));
    PUT(priority_items(out, r, t));
  } else {
    PUT(es_buf_puts(out, "\"window_start\":null,\"computed_at\":null,\"items\":["));
  }
  PUT(es_buf_puts(out, "]}"));
  PQclear(r);
  PQclear(t);
  if (bad) {
    out->len = mark; /* never a partial reply */
    return api_qr_oom(err);
  }
  return API_OK;
}

/* ---- GET /v1/topics/{topic}/series ---- */

enum { SERIES_MAX_POINTS = 1000 };
/* Default span when `from` is absent: 48 hours, 30 days, 26 weeks. */
static const int DEFAULT_POINTS[3] = {48, 30, 26};

/* Per window: the Wilson 95 % interval of the negative share (the formula of
 * api_qr_wilson, in float8 like C's double), NPS in points, CSAT as a share;
 * NULL without feedback / answers. Plain float8 columns: their text is copied
 * into the reply as it is. */
#define WILSON(sign)                                   \
  "least(1, greatest(0, (x.p + x.z2 / (2 * x.n) " sign \
  " 1.959963984540054 * sqrt(x.p * (1 - x.p) / x.n + x.z2 / (4 * x.n * x.n))) / (1 + x.z2 / x.n)))"
static const char SQL_SERIES[] =
    "SELECT " API_MS("g.ws") ", x.t, x.k, x.p, " WILSON("-") ", " WILSON("+")
        ","
        "  100 * (x.pr - x.de)::float8 / nullif(x.np, 0), x.np, x.cs::float8 / nullif(x.cr, 0), x.cr"
        " FROM generate_series(" API_TS(3) ", " API_TS(4)
            ", $5::interval) g(ws)"
            " LEFT JOIN topic_window_stats s ON s.agency = $1 AND s.topic = $2 AND s.window_kind = $6"
            "  AND s.window_start = g.ws"
            " CROSS JOIN LATERAL (SELECT coalesce(s.total, 0) AS t, coalesce(s.negative, 0) AS k,"
            "  s.negative::float8 / nullif(s.total, 0) AS p, nullif(s.total, 0)::float8 AS n,"
            "  3.841458820694124::float8 AS z2,"
            "  coalesce(s.nps_promoters, 0) AS pr, coalesce(s.nps_detractors, 0) AS de,"
            "  coalesce(s.nps_promoters + s.nps_passives + s.nps_detractors, 0) AS np,"
            "  coalesce(s.csat_responses, 0) AS cr, coalesce(s.csat_satisfied, 0) AS cs) x"
            " ORDER BY g.ws";
#undef WILSON

api_rc api_q_topic_series(PGconn *pg, const char *agency, const char *topic, const api_params *p, es_buf *out,
                          api_err *err) {
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
  /* Prepared: the statement's parse and plan cost more than its execution (bench/api). */
  PGresult *r = api_qr_exec_prepared(pg, API_PREP_SERIES, "topic_series", SQL_SERIES, 6, prm, err);
  if (!r) return API_EDB;
  size_t mark = out->len;
  int bad = 0;
  PUT(es_buf_puts(out, "{\"topic\":")), PUT(es_buf_json_str(out, topic, tl));
  PUT(es_buf_printf(out, ",\"window\":\"%s\",\"points\":[", API_WINDOW_NAMES[w]));
  static const char *const keys[] = {
      ",\"total\":", ",\"negative\":", ",\"negative_share\":", ",\"negative_low\":", ",\"negative_high\":",
      ",\"nps\":",   ",\"nps_n\":",    ",\"csat\":",           ",\"csat_n\":"};
  for (int i = 0; i < PQntuples(r) && !bad; i++) {
    PUT(es_buf_puts(out, i ? ",{\"start\":" : "{\"start\":")), PUT(put_time(out, r, i, 0));
    for (int k = 0; k < 9; k++) PUT(es_buf_puts(out, keys[k])), PUT(put_num(out, r, i, 1 + k));
    PUT(es_buf_puts(out, "}"));
  }
  PUT(es_buf_puts(out, "]}"));
  PQclear(r);
  if (bad) {
    out->len = mark; /* never a partial reply */
    return api_qr_oom(err);
  }
  return API_OK;
}

/* ---- GET /v1/action-plans, GET /v1/action-plans/{id} ---- */

#define TICKETS_OF(plan)                                                                    \
  "(SELECT json_agg(json_build_object('tool', a.tool, 'key', a.external_key, 'url', a.url," \
  " 'status', a.status) ORDER BY a.opened_at, a.id) FROM actions a WHERE a.plan_id = " plan ")"

/* Newest first, keyset on (opened_at, id) in microseconds so no row is lost between pages.
 * Cases (kind 'case') are /v1/cases's: reading one there is audited. */
/* A plan's last movement: its tickets' latest status change (actions.updated_at
 * moves only then), else its opening. Stale (the "reminders" of docs/actions.md):
 * open, not every ticket done, no movement for api_q_stale_after_days days
 * ($N; 0 = never stale). Columns 7 and 8 of both plan queries. */
#define MOVEMENT(n)                                                   \
  ", " API_MS("m.moved") ", (p.status = 'open' AND m.pending AND $" n \
                         "::int > 0"                                  \
                         " AND m.moved < now() - $" n "::int * interval '1 day')"
#define MOVEMENT_JOIN                                                              \
  " CROSS JOIN LATERAL (SELECT coalesce(max(x.updated_at), p.opened_at) AS moved," \
  "  NOT coalesce(bool_and(x.status = 'done'), false) AS pending FROM actions x WHERE x.plan_id = p.id) m"

long api_q_stale_after_days = 14;

static const char SQL_PLANS[] =
    "SELECT p.id, p.topic, p.status, " API_MS("p.opened_at") ", " API_MS("p.closed_at") ", p.summary, " TICKETS_OF("p.id")
        MOVEMENT("6") ", (extract(epoch FROM p.opened_at) * 1000000)::bigint"
        " FROM action_plans p" MOVEMENT_JOIN " WHERE p.agency = $1 AND p.kind = 'plan' AND ($2::text IS NULL OR p.status = $2)"
        "  AND ($3::bigint IS NULL OR (p.opened_at, p.id) <"
        "   (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::text))"
        " ORDER BY p.opened_at DESC, p.id DESC LIMIT $5::int";

/* The cursor: base64url (no padding, route.h) of "<opened_at µs>.<id>": "<digits>.<id>" with an id of 1..64 printable ASCII characters. */
static int parse_cursor(const char *c, char *us, size_t uscap, char *id, size_t idcap) {
  unsigned char raw[128];
  size_t clen = strlen(c);
  long got = clen > 160 ? -1 : api_b64url_decode(c, clen, raw, sizeof raw - 1);
  if (got < 0) return -1;
  size_t n = (size_t)got;
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

/* One plan's list fields (columns 0..8 of both plan queries). */
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
  api_qr_set(o, "last_movement_at", api_qr_time_json(r, i, 7), bad);
  api_qr_set(o, "stale", json_boolean(strcmp(PQgetvalue(r, i, 8), "t") == 0), bad);
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
  char stale[24];
  snprintf(stale, sizeof stale, "%ld", api_q_stale_after_days);
  const char *prm[] = {agency, status, cursor ? us : NULL, cursor ? id : NULL, lim, stale};
  PGresult *r = api_qr_exec(pg, "plans_list", SQL_PLANS, 6, prm, err);
  if (!r) return API_EDB;
  int bad = 0, n = PQntuples(r);
  json_t *o = json_object(), *items = json_array();
  for (int i = 0; i < n && i < limit && !bad; i++)
    if (json_array_append_new(items, plan_json(r, i, &bad)) != 0) bad = 1;
  api_qr_set(o, "items", items, &bad);
  if (n > limit && !bad) {
    char key[128], enc[180];
    int kl = snprintf(key, sizeof key, "%s.%s", PQgetvalue(r, limit - 1, 9), PQgetvalue(r, limit - 1, 0));
    if (kl < 0 || (size_t)kl >= sizeof key) bad = 1; /* ids are ULIDs: never this long */
    else {
      if (api_b64url_encode((const unsigned char *)key, (size_t)kl, enc, sizeof enc) != 0) bad = 1;
      else api_qr_set(o, "next_cursor", json_string(enc), &bad);
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
    "SELECT p.id, p.topic, p.status, " API_MS("p.opened_at") ", " API_MS("p.closed_at") ", p.summary, " TICKETS_OF("p.id")
        MOVEMENT("3") ", p.recommendations, p.quotes, p.priority"
        " FROM action_plans p" MOVEMENT_JOIN " WHERE p.id = $1 AND p.agency = $2 AND p.kind = 'plan'";
/* entity/entity_id as prioritize (open/close) and actions (ticket_*) write them. */
static const char SQL_PLAN_AUDIT[] =
    "SELECT " API_MS("at")
        ", actor, action, detail FROM audit_log"
        " WHERE entity = 'action_plan' AND entity_id = $1 ORDER BY at, id";

api_rc api_q_plan_get(PGconn *pg, const char *agency, const char *id, es_buf *out, api_err *err) {
  if (!id || !*id || strlen(id) > 64) return api_notfound(err);
  char stale[24];
  snprintf(stale, sizeof stale, "%ld", api_q_stale_after_days);
  const char *prm[] = {id, agency, stale};
  PGresult *r = api_qr_exec(pg, "plan_get", SQL_PLAN, 3, prm, err);
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
  json_t *recs = api_qr_jsonb(r, 0, 9), *quotes = api_qr_jsonb(r, 0, 10);
  if (recs && json_is_null(recs)) json_decref(recs), recs = json_array();
  if (quotes && json_is_null(quotes)) json_decref(quotes), quotes = json_array();
  api_qr_set(o, "recommendations", recs, &bad);
  api_qr_set(o, "quotes", quotes, &bad);
  api_qr_set(o, "priority", api_qr_jsonb(r, 0, 11), &bad);
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
