/* Shared pieces of the read queries (q_read.c, q_stats.c): parameter parsing
 * (window kinds, RFC 3339 times, limits), RFC 3339 output, the confidence
 * intervals of docs/api.md, and PQexecParams + jansson plumbing. */
#ifndef ESCUCHA_API_Q_UTIL_H
#define ESCUCHA_API_Q_UTIL_H
#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "query.h"

/* z of a two-sided 95 % interval (the same constant as prioritize's PZ_Z95). */
#define API_Z95 1.959963984540054

/* ms since epoch <-> timestamptz in SQL without floating point or time zones. */
#define API_TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"
#define API_MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

typedef enum { API_WIN_HOUR = 0, API_WIN_DAY = 1, API_WIN_WEEK = 2 } api_window;
extern const char *const API_WINDOW_NAMES[3];
/* Length of each window kind in ms (weeks are ISO weeks: always 7 x 24 h in UTC). */
extern const int64_t API_WINDOW_MS[3];

/* Start of the window of kind w containing ms, as PostgreSQL's
 * date_trunc(kind, t, 'UTC') (weeks start on Monday 00:00 UTC). */
int64_t api_qr_trunc(int64_t ms, api_window w);

/* Parses the required parameter "window" (allowed: kinds whose bit is set in
 * mask, 1 << API_WIN_*); 400 naming `window` otherwise. */
ES_MUST_CHECK api_rc api_qr_window(const api_params *p, unsigned mask, api_window *w, api_err *err);

/* Strict RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), 't'/'z'
 * accepted) -> ms since epoch. 0 ok, -1 not RFC 3339 or out of 0001..9999. */
ES_MUST_CHECK int api_qr_parse_time(const char *s, int64_t *ms);
/* Optional time parameter name: *set = 0 when absent; 400 naming it when malformed. */
ES_MUST_CHECK api_rc api_qr_time_param(const api_params *p, const char *name, int64_t *ms, int *set, api_err *err);
/* Optional "limit" 1..500 (default def); 400 naming `limit` otherwise. */
ES_MUST_CHECK api_rc api_qr_limit(const api_params *p, int def, int *limit, api_err *err);

/* RFC 3339 UTC of ms since epoch: "2026-12-01T10:00:00Z", with ".123" only
 * when the milliseconds are not zero. out holds at least 32 bytes. */
void api_qr_format_time(int64_t ms, char out[32]);
/* json string of the RFC 3339 time, or json null when the SQL value is NULL;
 * v is the text of a bigint of ms (API_MS). NULL when out of memory. */
json_t *api_qr_time_json(const PGresult *r, int row, int col);
/* The column as a json number (float8/bigint) or null; NULL when out of memory. */
json_t *api_qr_real(const PGresult *r, int row, int col);
json_t *api_qr_int(const PGresult *r, int row, int col);
json_t *api_qr_str(const PGresult *r, int row, int col);
/* A json/jsonb column parsed; null for SQL NULL; NULL when it does not parse. */
json_t *api_qr_jsonb(const PGresult *r, int row, int col);
/* A finite double as json real, NaN/inf as null. */
json_t *api_qr_num(double v);

/* Wilson 95 % score interval of k successes in n (n = 0: [0, 1]), clipped to [0, 1]. */
void api_qr_wilson(int64_t k, int64_t n, double *low, double *high);
/* NPS in points and its 95 % interval (normal approximation; docs/api.md);
 * returns 0 when n = promoters + passives + detractors = 0 (all outputs NaN). */
int api_qr_nps(int64_t promoters, int64_t passives, int64_t detractors, double *nps, double *low, double *high);

/* PQexecParams (text parameters, text results); NULL after api_dberror (503) unless
 * the result has TUPLES_OK. */
PGresult *api_qr_exec(PGconn *pg, const char *what, const char *sql, int n, const char *const *params, api_err *err);
/* The same through a statement prepared on this connection under the name
 * `what` (id: a number 0..31 of its own per statement), prepared on first use
 * and again on a new or reset connection: no parse or analysis per request.
 * For hot reads (bench/api). */
enum { API_PREP_SERIES = 0 };
PGresult *api_qr_exec_prepared(PGconn *pg, unsigned id, const char *what, const char *sql, int n,
                               const char *const *params, api_err *err);
/* Appends json (compact) to out and takes the reference; API_OK, or a 500
 * "out of memory" in err (refusing the request, never a shorter reply). A
 * NULL json (a failed build) is refused the same way. */
ES_MUST_CHECK api_rc api_qr_emit(json_t *json, es_buf *out, api_err *err);
/* Fills err with a 500 for an allocation that failed. */
api_rc api_qr_oom(api_err *err);
/* json_object_set_new that records a failed allocation in *bad. */
void api_qr_set(json_t *o, const char *key, json_t *v, int *bad);
/* es_buf plumbing for the queries that build their JSON in SQL (q_feedback.c,
 * q_cases.c): 1 ok, 0 out of memory. */
int api_qr_put(es_buf *b, const char *s);
int api_qr_putn(es_buf *b, const char *s, size_t n);
/* PQexecParams with text parameters: API_OK with *res (tuples or command),
 * else the database error (api_dberror) and *res NULL. */
ES_MUST_CHECK api_rc api_qr_run(PGconn *pg, const char *what, const char *sql, int n, const char *const *prm,
                                PGresult **res, api_err *err);
/* A keyset page from rows (id, microseconds, item JSON) fetched with
 * LIMIT limit + 1: {"items":[...],"next_cursor":"..."|null}, the cursor from
 * the last row shown when there is one more. Appends to out, or leaves it as
 * it was on failure (never a partial reply). what names the query in errors. */
ES_MUST_CHECK api_rc api_qr_keyset_page(PGresult *r, long limit, const char *what, es_buf *out, api_err *err);
#endif
