/* Read queries over feedback rows: satisfaction (NPS and CSAT with their
 * confidence intervals, docs/api.md) and the review queue. PQexecParams only,
 * scoped to the agency; JSON built with jansson (q_util.h). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q_util.h"
#include "query.h"
#include "util.h"

static int64_t col64(const PGresult *r, int i, int c) { return strtoll(PQgetvalue(r, i, c), NULL, 10); }

/* ---- GET /v1/satisfaction ---- */

/* The agency's newest window of that kind (its '*' aggregate row). */
static const char SQL_SAT_LATEST[] =
    "SELECT " API_MS("max(window_start)")
        " FROM topic_window_stats"
        " WHERE agency = $1 AND topic = '*' AND window_kind = $2";

/* One scan of the window's feedback rows: overall (g = 3), per channel (g = 1), per category (g = 2). */
static const char SQL_SAT[] =
    "SELECT GROUPING(lower(channel), category), lower(channel), category,"
    "  count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps BETWEEN 7 AND 8),"
    "  count(*) FILTER (WHERE nps <= 6), count(csat), count(*) FILTER (WHERE csat >= 4)"
    " FROM feedback WHERE agency = $1 AND received_at >= " API_TS(2) " AND received_at < " API_TS(3)
        " GROUP BY GROUPING SETS ((), (lower(channel)), (category))"
        " ORDER BY 1 DESC, 2, 3";

/* The agency's windows ending with the reported one, oldest first (no row: no answers). */
static const char SQL_SAT_SERIES[] =
    "SELECT " API_MS("g.ws")
        ", coalesce(s.nps_promoters, 0), coalesce(s.nps_passives, 0),"
        "  coalesce(s.nps_detractors, 0), coalesce(s.csat_responses, 0), coalesce(s.csat_satisfied, 0)"
        " FROM generate_series(" API_TS(2) ", " API_TS(3)
            ", $4::interval) g(ws)"
            " LEFT JOIN topic_window_stats s ON s.agency = $1 AND s.topic = '*' AND s.window_kind = $5"
            "  AND s.window_start = g.ws ORDER BY g.ws";
static const char *const STEP[3] = {"1 hour", "24 hours", "168 hours"};
enum { SAT_SERIES_DAY = 30, SAT_SERIES_WEEK = 12 };

/* nps/csat fields (counts P, Pa, D, responses, satisfied) into o. */
static void sat_fields(json_t *o, int64_t pr, int64_t pa, int64_t de, int64_t cr, int64_t cs, int *bad) {
  double nps, lo, hi, clo, chi;
  int has = api_qr_nps(pr, pa, de, &nps, &lo, &hi);
  api_qr_set(o, "nps", has ? json_real(nps) : json_null(), bad);
  api_qr_set(o, "nps_low", has ? json_real(lo) : json_null(), bad);
  api_qr_set(o, "nps_high", has ? json_real(hi) : json_null(), bad);
  api_qr_set(o, "nps_n", json_integer(pr + pa + de), bad);
  api_qr_wilson(cs, cr, &clo, &chi);
  api_qr_set(o, "csat", cr > 0 ? json_real((double)cs / (double)cr) : json_null(), bad);
  api_qr_set(o, "csat_low", cr > 0 ? json_real(clo) : json_null(), bad);
  api_qr_set(o, "csat_high", cr > 0 ? json_real(chi) : json_null(), bad);
  api_qr_set(o, "csat_n", json_integer(cr), bad);
}

api_rc api_q_satisfaction(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  api_window w;
  int64_t at = 0;
  int has_at = 0;
  api_rc rc = api_qr_window(p, (1u << API_WIN_DAY) | (1u << API_WIN_WEEK), &w, err);
  if (rc == API_OK) rc = api_qr_time_param(p, "at", &at, &has_at, err);
  if (rc != API_OK) return rc;
  int bad = 0, have = 1;
  int64_t ws = 0;
  if (has_at) {
    ws = api_qr_trunc(at, w);
  } else {
    const char *prm[] = {agency, API_WINDOW_NAMES[w]};
    PGresult *r = api_qr_exec(pg, "satisfaction_latest", SQL_SAT_LATEST, 2, prm, err);
    if (!r) return API_EDB;
    have = !PQgetisnull(r, 0, 0);
    if (have) ws = col64(r, 0, 0);
    PQclear(r);
  }
  json_t *o = json_object(), *overall = json_object(), *bych = json_array(), *bycat = json_array(),
         *series = json_array();
  api_qr_set(o, "window", json_string(API_WINDOW_NAMES[w]), &bad);
  sat_fields(overall, 0, 0, 0, 0, 0, &bad); /* replaced below when the window has rows */
  if (have) {
    char t[32], s0[24], s1[24], s2[24];
    api_qr_format_time(ws, t);
    api_qr_set(o, "window_start", json_string(t), &bad);
    int64_t len = API_WINDOW_MS[w];
    int npts = w == API_WIN_DAY ? SAT_SERIES_DAY : SAT_SERIES_WEEK;
    snprintf(s0, sizeof s0, "%" PRId64, ws);
    snprintf(s1, sizeof s1, "%" PRId64, ws + len);
    const char *prm[] = {agency, s0, s1};
    PGresult *r = api_qr_exec(pg, "satisfaction", SQL_SAT, 3, prm, err);
    if (!r) goto dberr;
    for (int i = 0; i < PQntuples(r) && !bad; i++) {
      int g = atoi(PQgetvalue(r, i, 0));
      json_t *e = g == 3 ? overall : json_object();
      if (g == 1) api_qr_set(e, "channel", api_qr_str(r, i, 1), &bad);
      if (g == 2) api_qr_set(e, "category", api_qr_str(r, i, 2), &bad);
      sat_fields(e, col64(r, i, 3), col64(r, i, 4), col64(r, i, 5), col64(r, i, 6), col64(r, i, 7), &bad);
      if (g != 3 && json_array_append_new(g == 1 ? bych : bycat, e) != 0) bad = 1;
    }
    PQclear(r);
    snprintf(s0, sizeof s0, "%" PRId64, ws - (npts - 1) * len);
    snprintf(s2, sizeof s2, "%" PRId64, ws);
    const char *prm2[] = {agency, s0, s2, STEP[w], API_WINDOW_NAMES[w]};
    r = api_qr_exec(pg, "satisfaction_series", SQL_SAT_SERIES, 5, prm2, err);
    if (!r) goto dberr;
    for (int i = 0; i < PQntuples(r) && !bad; i++) {
      json_t *e = json_object();
      api_qr_set(e, "start", api_qr_time_json(r, i, 0), &bad);
      sat_fields(e, col64(r, i, 1), col64(r, i, 2), col64(r, i, 3), col64(r, i, 4), col64(r, i, 5), &bad);
      if (json_array_append_new(series, e) != 0) bad = 1;
    }
    PQclear(r);
  } else {
    api_qr_set(o, "window_start", json_null(), &bad);
  }
  api_qr_set(o, "overall", overall, &bad);
  api_qr_set(o, "by_channel", bych, &bad);
  api_qr_set(o, "by_category", bycat, &bad);
  api_qr_set(o, "series", series, &bad);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
dberr:
  json_decref(o);
  json_decref(overall);
  json_decref(bych);
  json_decref(bycat);
  json_decref(series);
  return API_EDB;
}

/* ---- GET /v1/review-queue ---- */

/* The partial index feedback_review_margin (migrations/019) has exactly this
 * predicate and these expressions; keep them identical or the planner cannot
 * use it. Reviewed = an audit_log row entity 'feedback', action 'review'
 * (POST .../review). Order: escucha-classify's cl_review_order
 * (services/classify/review.h) on what the table stores: each line is the
 * model's most probable subcategory (also for items served as
 * other/unclassified), smallest margin first (confidence - runner-up
 * probability: cl_review_priority), newest first among equals; the item of
 * rank k in its line gets (1 - margin) / (1 + labels + k), labels = the
 * agency's reviews that gave that subcategory; highest key first, then as in
 * a line. Rows stored before migration 019 have no runner-up and no
 * predicted class: margin = confidence, line = stored subcategory.
 * An item of rank >= limit has limit items of its line with higher keys, so
 * only each line's first `limit` unreviewed items are ranked: a walk over
 * the index's distinct lines (one probe each), then a LIMIT per line.
 * Differences from the benchmark's order: docs/classification.md. */
#define REVIEW_MARGIN "(f.confidence - coalesce(f.runner_up, 0))"
#define REVIEW_WORTHY "(" REVIEW_MARGIN " < 0.5 OR f.category = 'other' OR f.language NOT IN ('es', 'en'))"
#define REVIEW_LINE "coalesce(f.predicted, f.subcategory, '')"
static const char SQL_REVIEW[] =
    "WITH RECURSIVE lines(line) AS ("
    "  SELECT min(" REVIEW_LINE ") FROM feedback f WHERE f.agency = $1 AND " REVIEW_WORTHY
    "  UNION ALL SELECT (SELECT min(" REVIEW_LINE ") FROM feedback f WHERE f.agency = $1 AND " REVIEW_WORTHY
    "   AND " REVIEW_LINE " > l.line) FROM lines l WHERE l.line IS NOT NULL),"
    " labels AS (SELECT l.detail->>'subcategory' AS sub, count(*) AS n FROM audit_log l"
    "  JOIN feedback r ON r.id = l.entity_id AND r.agency = $1"
    "  WHERE l.entity = 'feedback' AND l.action = 'review' GROUP BY 1),"
    " cand AS (SELECT c.*, l.line, row_number() OVER (PARTITION BY l.line"
    "   ORDER BY c.margin, c.received_at DESC, c.id DESC) - 1 AS k"
    "  FROM lines l CROSS JOIN LATERAL (SELECT f.*, " REVIEW_MARGIN " AS margin FROM feedback f"
    "   WHERE f.agency = $1 AND " REVIEW_WORTHY " AND " REVIEW_LINE " = l.line AND NOT EXISTS (SELECT 1"
    "    FROM audit_log a WHERE a.entity = 'feedback' AND a.entity_id = f.id AND a.action = 'review')"
    "   ORDER BY " REVIEW_MARGIN ", f.received_at DESC, f.id DESC LIMIT $2::int) c WHERE l.line IS NOT NULL)"
    " SELECT f.id, " API_MS("f.received_at")
        ", lower(f.channel), f.language, f.service, f.text,"
        "  f.category, f.subcategory, f.confidence, f.sentiment, f.urgent, f.nps, f.csat,"
        "  CASE WHEN f.category = 'other' THEN 'unclassified'"
        "   WHEN f.margin < 0.5 THEN 'low_confidence' ELSE 'rare_language' END,"
        "  f.urgent_reason, round(f.urgent_confidence::numeric, 4)"
        " FROM cand f LEFT JOIN labels lb ON lb.sub = f.line"
        " ORDER BY (1 - greatest(0, least(1, f.margin))) / (1 + coalesce(lb.n, 0) + f.k) DESC NULLS LAST,"
        "  f.margin NULLS LAST, f.received_at DESC, f.id DESC LIMIT $2::int";

api_rc api_q_review_queue(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  int limit;
  api_rc rc = api_qr_limit(p, 50, &limit, err);
  if (rc != API_OK) return rc;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", limit);
  const char *prm[] = {agency, lim};
  PGresult *r = api_qr_exec(pg, "review_queue", SQL_REVIEW, 2, prm, err);
  if (!r) return API_EDB;
  int bad = 0;
  json_t *o = json_object(), *items = json_array();
  static const char *const names[] = {"id",       "received_at", "channel",       "language",         "service", "text",
                                      "category", "subcategory", "confidence",    "sentiment",        "urgent",  "nps",
                                      "csat",     "reason",      "urgent_reason", "urgent_confidence"};
  for (int i = 0; i < PQntuples(r) && !bad; i++) {
    json_t *it = json_object();
    for (int c = 0; c < 16; c++) {
      json_t *v;
      if (c == 1) v = api_qr_time_json(r, i, c);
      else if (c == 8 || c == 15) v = api_qr_real(r, i, c);
      else if (c == 10) v = json_boolean(PQgetvalue(r, i, c)[0] == 't');
      else if (c == 11 || c == 12) v = api_qr_int(r, i, c);
      else v = api_qr_str(r, i, c);
      api_qr_set(it, names[c], v, &bad);
    }
    if (json_array_append_new(items, it) != 0) bad = 1;
  }
  api_qr_set(o, "items", items, &bad);
  /* A work list: reviewed items leave it, so the first page is always the next work. */
  api_qr_set(o, "next_cursor", json_null(), &bad);
  PQclear(r);
  if (bad) {
    json_decref(o);
    return api_qr_oom(err);
  }
  return api_qr_emit(o, out, err);
}
