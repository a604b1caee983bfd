/* Shared pieces of the read queries: see q_util.h. */
#include "q_util.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"

const char *const API_WINDOW_NAMES[3] = {"hour", "day", "week"};
const int64_t API_WINDOW_MS[3] = {3600000LL, 86400000LL, 604800000LL};

int64_t api_qr_trunc(int64_t ms, api_window w) {
  /* 1970-01-05 (ms 345600000) was a Monday */
  int64_t base = w == API_WIN_WEEK ? 345600000LL : 0, len = API_WINDOW_MS[w], x = ms - base;
  int64_t q = x >= 0 ? x / len : -((-x + len - 1) / len);
  return q * len + base;
}

api_rc api_qr_window(const api_params *p, unsigned mask, api_window *w, api_err *err) {
  const char *v = api_param(p, "window");
  for (int i = 0; v && i < 3; i++)
    if ((mask & (1u << i)) && strcmp(v, API_WINDOW_NAMES[i]) == 0) {
      *w = (api_window)i;
      return API_OK;
    }
  if (mask == ((1u << API_WIN_DAY) | (1u << API_WIN_WEEK)))
    return api_invalid(err, "window", "window must be day or week");
  return api_invalid(err, "window", "window must be hour, day or week");
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *v) {
  *v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    *v = *v * 10 + (s[i] - '0');
  }
  return 0;
}

int api_qr_parse_time(const char *s, int64_t *ms) {
  int y, mo, d, h, mi, sec, frac = 0;
  if (!s || strlen(s) < 20) return -1;
  if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
      s[16] != ':' || digits(s + 17, 2, &sec))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
      sec > 60)
    return -1;
  const char *p = s + 19;
  if (*p == '.') { /* fraction: at least one digit, milliseconds kept */
    p++;
    int nd = 0;
    for (; isdigit((unsigned char)*p); p++, nd++)
      if (nd < 3) frac = frac * 10 + (*p - '0');
    if (nd == 0) return -1;
    for (; nd < 3; nd++) frac *= 10;
  }
  int off = 0;
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
    off = 0;
  } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59) return -1;
    off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
  } else {
    return -1;
  }
  if (sec == 60) sec = 59; /* a leap second: PostgreSQL has none either */
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
  *ms = t * 1000 + frac;
  return 0;
}

api_rc api_qr_time_param(const api_params *p, const char *name, int64_t *ms, int *set, api_err *err) {
  const char *v = api_param(p, name);
  *set = 0;
  if (!v) return API_OK;
  if (api_qr_parse_time(v, ms) != 0)
    return api_invalid(err, name, "%s must be an RFC 3339 date-time such as 2026-12-01T10:00:00Z", name);
  *set = 1;
  return API_OK;
}

api_rc api_qr_limit(const api_params *p, int def, int *limit, api_err *err) {
  const char *v = api_param(p, "limit");
  *limit = def;
  if (!v) return API_OK;
  int n = 0, len = 0;
  for (; v[len]; len++) {
    if (!isdigit((unsigned char)v[len]) || len >= 3) {
      n = 0;
      break;
    }
    n = n * 10 + (v[len] - '0');
  }
  if (len == 0 || n < 1 || n > 500) return api_invalid(err, "limit", "limit must be an integer 1..500");
  *limit = n;
  return API_OK;
}

void api_qr_format_time(int64_t ms, char out[32]) {
  int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int msr = (int)(ms - s * 1000);
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t rem = s - days * 86400;
  /* civil_from_days (Hinnant) */
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, (int)m, (int)d, (int)(rem / 3600),
                   (int)(rem / 60 % 60), (int)(rem % 60));
  if (n < 0 || n > 24) n = 24; /* years beyond 9999 do not come from PostgreSQL timestamptz here */
  if (msr) snprintf(out + n, (size_t)(32 - n), ".%03dZ", msr);
  else snprintf(out + n, (size_t)(32 - n), "Z");
}

json_t *api_qr_time_json(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return json_null();
  char t[32];
  api_qr_format_time(strtoll(PQgetvalue(r, row, col), NULL, 10), t);
  return json_string(t);
}

json_t *api_qr_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *api_qr_real(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return json_null();
  return api_qr_num(strtod(PQgetvalue(r, row, col), NULL));
}

json_t *api_qr_int(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return json_null();
  return json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

json_t *api_qr_str(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return json_null();
  return json_stringn(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

json_t *api_qr_jsonb(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return json_null();
  return json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL);
}

void api_qr_wilson(int64_t k, int64_t n, double *low, double *high) {
  *low = 0.0, *high = 1.0;
  if (n <= 0) return;
  double nn = (double)n, p = (double)k / nn, z = API_Z95, z2 = z * z;
  double denom = 1.0 + z2 / nn;
  double center = (p + z2 / (2.0 * nn)) / denom;
  double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  *low = center - half < 0.0 ? 0.0 : center - half;
  *high = center + half > 1.0 ? 1.0 : center + half;
}

int api_qr_nps(int64_t promoters, int64_t passives, int64_t detractors, double *nps, double *low, double *high) {
  int64_t n = promoters + passives + detractors;
  *nps = *low = *high = NAN;
  if (n <= 0) return 0;
  double nn = (double)n, pp = (double)promoters / nn, pd = (double)detractors / nn;
  double d = pp - pd;
  /* Each answer scores +1, 0 or -1: variance of the mean = (pP + pD - (pP - pD)^2) / n. */
  double se = sqrt((pp + pd - d * d) / nn);
  *nps = 100.0 * d;
  *low = 100.0 * (d - API_Z95 * se);
  *high = 100.0 * (d + API_Z95 * se);
  if (*low < -100.0) *low = -100.0;
  if (*high > 100.0) *high = 100.0;
  return 1;
}

PGresult *api_qr_exec(PGconn *pg, const char *what, const char *sql, int n, const char *const *params, api_err *err) {
  PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
  if (r) es_error("pg_query_failed", "%s: %s", what, PQresultErrorMessage(r));
  PQclear(r);
  (void)api_dberror(err, pg, what); /* fills err; the caller returns API_EDB */
  return NULL;
}

/* Which pooled connection has which statements prepared, by (connection,
 * backend pid): a connection libpq reset in place has a new backend and so no
 * statements. Slots are reused when full (the statement is then prepared
 * again: "already exists" counts as prepared). */
enum { PREP_SLOTS = 64 };
static struct {
  const PGconn *c;
  int pid;
  unsigned bits;
} prep[PREP_SLOTS];
static pthread_mutex_t prep_mu = PTHREAD_MUTEX_INITIALIZER;

static int prep_has(const PGconn *c, int pid, unsigned bit) {
  pthread_mutex_lock(&prep_mu);
  int has = 0;
  for (int i = 0; i < PREP_SLOTS && !has; i++) has = prep[i].c == c && prep[i].pid == pid && (prep[i].bits & bit);
  pthread_mutex_unlock(&prep_mu);
  return has;
}

static void prep_set(const PGconn *c, int pid, unsigned bit, int on) {
  static unsigned next;
  pthread_mutex_lock(&prep_mu);
  int at = -1;
  for (int i = 0; i < PREP_SLOTS && at < 0; i++)
    if (prep[i].c == c) at = i;
  if (at < 0 && on) at = (int)(next++ % PREP_SLOTS);
  if (at >= 0) {
    if (prep[at].c != c || prep[at].pid != pid) prep[at].c = c, prep[at].pid = pid, prep[at].bits = 0;
    prep[at].bits = on ? prep[at].bits | bit : prep[at].bits & ~bit;
  }
  pthread_mutex_unlock(&prep_mu);
}

static int sqlstate_is(const PGresult *r, const char *state) {
  const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s && strcmp(s, state) == 0;
}

PGresult *api_qr_exec_prepared(PGconn *pg, unsigned id, const char *what, const char *sql, int n,
                               const char *const *params, api_err *err) {
  unsigned bit = 1u << (id % 32);
  int pid = PQbackendPID(pg);
  PGresult *r = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!prep_has(pg, pid, bit)) {
      r = PQprepare(pg, what, sql, n, NULL);
      int ok = PQresultStatus(r) == PGRES_COMMAND_OK || sqlstate_is(r, "42P05"); /* 42P05: prepared already */
      if (!ok) break;
      PQclear(r);
      prep_set(pg, pid, bit, 1);
    }
    r = PQexecPrepared(pg, what, n, params, NULL, NULL, 0);
    if (!sqlstate_is(r, "26000")) break;
    prep_set(pg, pid, bit, 0); /* gone (DISCARD ALL): prepare it again */
    PQclear(r);
    r = NULL;
  }
  if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
  if (r) es_error("pg_query_failed", "%s: %s", what, PQresultErrorMessage(r));
  PQclear(r);
  (void)api_dberror(err, pg, what);
  return NULL;
}

api_rc api_qr_oom(api_err *err) {
  err->status = 500;
  err->code = "internal";
  err->field = NULL;
  snprintf(err->message, sizeof err->message, "out of memory; try again");
  return API_EDB;
}

api_rc api_qr_emit(json_t *json, es_buf *out, api_err *err) {
  if (!json) return api_qr_oom(err);
  char *s = json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(15));
  json_decref(json);
  if (!s) return api_qr_oom(err);
  int rc = es_buf_puts(out, s);
  free(s);
  return rc == 0 ? API_OK : api_qr_oom(err);
}

void api_qr_set(json_t *o, const char *key, json_t *v, int *bad) {
  /* json_object_set_new releases v itself when it fails (also when o is NULL) */
  if (json_object_set_new(o, key, v) != 0) *bad = 1;
}

int api_qr_put(es_buf *b, const char *s) { return es_buf_puts(b, s) == 0; }
int api_qr_putn(es_buf *b, const char *s, size_t n) { return es_buf_append(b, s, n) == 0; }

api_rc api_qr_run(PGconn *pg, const char *what, const char *sql, int n, const char *const *prm, PGresult **res,
                  api_err *err) {
  *res = PQexecParams(pg, sql, n, NULL, prm, NULL, NULL, 0);
  if (PQresultStatus(*res) == PGRES_TUPLES_OK || PQresultStatus(*res) == PGRES_COMMAND_OK) return API_OK;
  PQclear(*res);
  *res = NULL;
  return api_dberror(err, pg, what);
}

api_rc api_qr_keyset_page(PGresult *r, long limit, const char *what, es_buf *out, api_err *err) {
  size_t mark = out->len;
  int n = PQntuples(r), shown = n > limit ? (int)limit : n, ok = api_qr_put(out, "{\"items\":[");
  for (int i = 0; i < shown && ok; i++)
    ok = (i == 0 || api_qr_put(out, ",")) && api_qr_putn(out, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
  ok = ok && api_qr_put(out, "],\"next_cursor\":");
  if (ok && n > limit) {
    char c[API_CURSOR_MAX + 1], why[96];
    if (api_cursor_encode(strtoll(PQgetvalue(r, shown - 1, 1), NULL, 10), PQgetvalue(r, shown - 1, 0), c, sizeof c) !=
        0) {
      out->len = mark;
      snprintf(why, sizeof why, "%s: a stored id cannot be a cursor", what);
      return api_dberror(err, NULL, why);
    }
    ok = api_qr_put(out, "\"") && api_qr_put(out, c) && api_qr_put(out, "\"}");
  } else ok = ok && api_qr_put(out, "null}");
  if (!ok) {
    out->len = mark;
    return api_qr_oom(err);
  }
  return API_OK;
}
