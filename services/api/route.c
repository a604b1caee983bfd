/* Pure request parsing for escucha-api (see route.h). */
#include "route.h"

#include <sodium.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- query.h's small helpers (no I/O) ---- */

const char *api_param(const api_params *p, const char *name) {
  if (!p) return NULL;
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->kv[i].name, name) == 0) return p->kv[i].value;
  return NULL;
}

api_rc api_invalid(api_err *err, const char *field, const char *fmt, ...) {
  err->status = 400;
  err->code = "invalid";
  err->field = field;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return API_EINVAL;
}

api_rc api_notfound(api_err *err) {
  err->status = 404;
  err->code = "not_found";
  err->field = NULL;
  snprintf(err->message, sizeof err->message, "not found");
  return API_NOTFOUND;
}

/* ---- paths ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s+n) into out (cap incl. NUL); plus: '+' is a space.
 * Returns the decoded length, or -1 on a bad escape, a NUL byte or overflow. */
static long pct_decode(const char *s, size_t n, int plus, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = h * 16 + l;
      i += 2;
    } else if (c == '+' && plus) {
      c = ' ';
    }
    if (c == 0 || o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (long)o;
}

static int id_char(int c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '-';
}

/* Topic segments: the taxonomy's ids are lower-case letters, digits and '_'. */
static int topic_char(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_'; }

static int all_chars(const char *s, int (*ok)(int)) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!ok((unsigned char)*s)) return 0;
  return 1;
}

static int token_char(int c) { return id_char(c) || c == '.'; }

static const struct {
  api_route_id id;
  const char *name;
  unsigned methods;
} ROUTES[API_R_COUNT] = {
    [API_R_NONE] = {API_R_NONE, "unknown", 0},
    [API_R_STATIC] = {API_R_STATIC, "static", API_M_GET},
    [API_R_SESSION] = {API_R_SESSION, "session", API_M_GET | API_M_POST | API_M_DELETE},
    [API_R_FEEDBACK_LIST] = {API_R_FEEDBACK_LIST, "feedback_list", API_M_GET},
    [API_R_FEEDBACK_GET] = {API_R_FEEDBACK_GET, "feedback_get", API_M_GET},
    [API_R_REVIEW] = {API_R_REVIEW, "review", API_M_POST},
    [API_R_PRIORITIES] = {API_R_PRIORITIES, "priorities", API_M_GET},
    [API_R_TOPIC_SERIES] = {API_R_TOPIC_SERIES, "topic_series", API_M_GET},
    [API_R_PLANS_LIST] = {API_R_PLANS_LIST, "plans_list", API_M_GET},
    [API_R_PLAN_GET] = {API_R_PLAN_GET, "plan_get", API_M_GET},
    [API_R_SATISFACTION] = {API_R_SATISFACTION, "satisfaction", API_M_GET},
    [API_R_REVIEW_QUEUE] = {API_R_REVIEW_QUEUE, "review_queue", API_M_GET},
    [API_R_HEALTH] = {API_R_HEALTH, "health", API_M_GET},
    [API_R_RECEIPT] = {API_R_RECEIPT, "receipt", API_M_GET},
    [API_R_O311_LIST] = {API_R_O311_LIST, "open311_list", API_M_GET},
    [API_R_O311_GET] = {API_R_O311_GET, "open311_get", API_M_GET},
    [API_R_CASES_LIST] = {API_R_CASES_LIST, "cases_list", API_M_GET},
    [API_R_CASE_GET] = {API_R_CASE_GET, "case_get", API_M_GET},
    [API_R_CASE_ACK] = {API_R_CASE_ACK, "case_ack", API_M_POST},
    [API_R_TAXONOMY] = {API_R_TAXONOMY, "taxonomy", API_M_GET},
    [API_R_OPTOUT] = {API_R_OPTOUT, "optout", API_M_GET | API_M_POST},
};

static void set(api_route *r, api_route_id id) {
  r->id = id;
  r->name = ROUTES[id].name;
  r->methods = ROUTES[id].methods;
}

void api_route_allow(const api_route *r, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  if (r->methods & API_M_GET) o += (size_t)snprintf(out + o, cap - o, "GET, HEAD");
  if ((r->methods & API_M_POST) && o < cap) o += (size_t)snprintf(out + o, cap - o, "%sPOST", o ? ", " : "");
  if ((r->methods & API_M_DELETE) && o < cap) snprintf(out + o, cap - o, "%sDELETE", o ? ", " : "");
}

/* Splits path (after a known prefix) into at most 4 segments. Returns the
 * count, or -1 with more segments, an empty one, or one too long. */
static int segments(const char *s, const char *seg[4], size_t len[4]) {
  int n = 0;
  if (*s == '\0') return 0;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (n == 4 || l == 0 || l > API_ARG_MAX * 3) return -1;
    seg[n] = s, len[n] = l, n++;
    if (!e) return n;
    s = e + 1;
  }
}

static int seg_is(const char *seg, size_t len, const char *lit) {
  return strlen(lit) == len && memcmp(seg, lit, len) == 0;
}

/* Decodes one segment into out (API_ARG_MAX); 0 ok if every byte passes ok. */
static int seg_arg(const char *seg, size_t len, int (*ok)(int), char *out) {
  char tmp[API_ARG_MAX + 1];
  if (pct_decode(seg, len, 0, tmp, sizeof tmp) < 0 || !all_chars(tmp, ok)) return -1;
  memcpy(out, tmp, strlen(tmp) + 1);
  return 0;
}

int api_route_match(const char *path, api_route *r) {
  memset(r, 0, sizeof *r);
  set(r, API_R_NONE);
  if (!path || path[0] != '/') return 0;
  const char *seg[4];
  size_t len[4];
  if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) {
    int n = path[3] ? segments(path + 4, seg, len) : 0;
    if (n <= 0) return 0;
    if (seg_is(seg[0], len[0], "session") && n == 1) set(r, API_R_SESSION);
    else if (seg_is(seg[0], len[0], "feedback")) {
      if (n == 1) set(r, API_R_FEEDBACK_LIST);
      else if (n == 2) {
        set(r, API_R_FEEDBACK_GET);
        return seg_arg(seg[1], len[1], id_char, r->arg);
      } else if (n == 3 && seg_is(seg[2], len[2], "review")) {
        set(r, API_R_REVIEW);
        return seg_arg(seg[1], len[1], id_char, r->arg);
      }
    } else if (seg_is(seg[0], len[0], "priorities") && n == 1) set(r, API_R_PRIORITIES);
    else if (seg_is(seg[0], len[0], "topics") && (n == 3 || n == 4) && seg_is(seg[n - 1], len[n - 1], "series")) {
      set(r, API_R_TOPIC_SERIES);
      char cat[API_ARG_MAX + 1], sub[API_ARG_MAX + 1];
      if (seg_arg(seg[1], len[1], topic_char, cat) != 0) return -1;
      if (n == 3) {
        memcpy(r->arg, cat, strlen(cat) + 1);
        return 0;
      }
      if (seg_arg(seg[2], len[2], topic_char, sub) != 0) return -1;
      /* the taxonomy's subcategory ids carry their category: "cat/sub" */
      if (strlen(cat) + 1 + strlen(sub) > API_ARG_MAX) return -1;
      size_t cl = strlen(cat);
      memcpy(r->arg, cat, cl);
      r->arg[cl] = '/';
      memcpy(r->arg + cl + 1, sub, strlen(sub) + 1);
    } else if (seg_is(seg[0], len[0], "action-plans")) {
      if (n == 1) set(r, API_R_PLANS_LIST);
      else if (n == 2) {
        set(r, API_R_PLAN_GET);
        return seg_arg(seg[1], len[1], id_char, r->arg);
      }
    } else if (seg_is(seg[0], len[0], "cases")) {
      if (n == 1) set(r, API_R_CASES_LIST);
      else if (n == 2) {
        set(r, API_R_CASE_GET);
        return seg_arg(seg[1], len[1], id_char, r->arg);
      } else if (n == 3 && seg_is(seg[2], len[2], "ack")) {
        set(r, API_R_CASE_ACK);
        return seg_arg(seg[1], len[1], id_char, r->arg);
      }
    } else if (seg_is(seg[0], len[0], "taxonomy") && n == 1) set(r, API_R_TAXONOMY);
    else if (seg_is(seg[0], len[0], "satisfaction") && n == 1) set(r, API_R_SATISFACTION);
    else if (seg_is(seg[0], len[0], "review-queue") && n == 1) set(r, API_R_REVIEW_QUEUE);
    else if (seg_is(seg[0], len[0], "health") && n == 1) set(r, API_R_HEALTH);
    else if (seg_is(seg[0], len[0], "receipts") && n == 2) {
      set(r, API_R_RECEIPT);
      return seg_arg(seg[1], len[1], token_char, r->arg);
    } else if (seg_is(seg[0], len[0], "optout") && n == 2) {
      set(r, API_R_OPTOUT);
      return seg_arg(seg[1], len[1], token_char, r->arg);
    }
    return 0;
  }
  if (strncmp(path, "/open311/", 9) == 0 || strcmp(path, "/open311") == 0) {
    if (strcmp(path, "/open311/v2/requests.json") == 0) {
      set(r, API_R_O311_LIST);
      return 0;
    }
    static const char pre[] = "/open311/v2/requests/";
    if (strncmp(path, pre, sizeof pre - 1) == 0) {
      const char *s = path + sizeof pre - 1;
      size_t l = strlen(s);
      if (l > 5 && strcmp(s + l - 5, ".json") == 0 && !memchr(s, '/', l)) {
        set(r, API_R_O311_GET);
        return seg_arg(s, l - 5, id_char, r->arg);
      }
    }
    return 0;
  }
  set(r, API_R_STATIC);
  return 0;
}

/* ---- query strings ---- */

static int name_char(int c) { return id_char(c) || c == '.'; }

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without control characters. */
static int clean_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return 0;
      i++;
      continue;
    }
    size_t k;
    unsigned cp, min;
    if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n - i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp >= 0x80 && cp < 0xa0) return 0; /* C1 controls */
    i += k + 1;
  }
  return 1;
}

api_rc api_params_add(api_params *p, const char *name, const char *value, api_err *err) {
  for (size_t i = 0; i < p->n; i++) /* field: the stored name (name may be the caller's buffer) */
    if (strcmp(p->kv[i].name, name) == 0) return api_invalid(err, p->kv[i].name, "%s is given more than once", name);
  if (p->n >= sizeof p->kv / sizeof p->kv[0]) return api_invalid(err, "query", "too many parameters (at most 32)");
  char *n = es_strdup(name), *v = es_strdup(value);
  if (!n || !v) {
    free(n), free(v);
    err->status = 503, err->code = "unavailable", err->field = NULL;
    snprintf(err->message, sizeof err->message, "out of memory; retry");
    return API_EDB;
  }
  p->kv[p->n].name = n, p->kv[p->n].value = v;
  p->n++;
  return API_OK;
}

api_rc api_params_parse(const char *query, api_params *p, api_err *err) {
  if (!query || !*query) return API_OK;
  if (strlen(query) > API_QUERY_MAX)
    return api_invalid(err, "query", "the query string is too long (at most %d bytes)", API_QUERY_MAX);
  const char *s = query;
  while (*s) {
    const char *amp = strchr(s, '&');
    size_t plen = amp ? (size_t)(amp - s) : strlen(s);
    if (plen > 0) {
      const char *eq = memchr(s, '=', plen);
      size_t nlen = eq ? (size_t)(eq - s) : plen;
      char name[API_PARAM_NAME_MAX + 1];
      long nl = pct_decode(s, nlen, 1, name, sizeof name);
      if (nl <= 0 || !all_chars(name, name_char))
        return api_invalid(err, "query", "a parameter name is empty, too long or not [A-Za-z0-9_.-]");
      char *value = malloc(API_PARAM_VALUE_MAX + 1);
      if (!value) {
        err->status = 503, err->code = "unavailable", err->field = NULL;
        snprintf(err->message, sizeof err->message, "out of memory; retry");
        return API_EDB;
      }
      const char *vs = eq ? eq + 1 : s + plen;
      size_t vlen = eq ? plen - nlen - 1 : 0;
      long vl = vlen > API_PARAM_VALUE_MAX * 3 ? -2 : pct_decode(vs, vlen, 1, value, API_PARAM_VALUE_MAX + 1);
      api_rc rc = API_OK;
      if (vl < 0 || !clean_utf8((const unsigned char *)value, (size_t)vl)) {
        /* the error names the parameter: store it (empty value) so err->field outlives this call */
        rc = api_params_add(p, name, "", err);
        if (rc == API_OK) {
          const char *f = p->kv[p->n - 1].name;
          if (vlen > (size_t)API_PARAM_VALUE_MAX && vl < 0)
            rc = api_invalid(err, f, "%s is too long (at most %d bytes)", f, API_PARAM_VALUE_MAX);
          else if (vl < 0) rc = api_invalid(err, f, "%s has a malformed %%-escape, a NUL byte or is too long", f);
          else rc = api_invalid(err, f, "%s must be UTF-8 text without control characters", f);
        }
      } else {
        rc = api_params_add(p, name, value, err);
      }
      free(value);
      if (rc != API_OK) return rc;
    }
    if (!amp) break;
    s = amp + 1;
  }
  return API_OK;
}

void api_params_free(api_params *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) free(p->kv[i].name), free(p->kv[i].value);
  p->n = 0;
}

api_rc api_limit(const api_params *p, long def, long max, long *out, api_err *err) {
  const char *v = api_param(p, "limit");
  *out = def;
  if (!v) return API_OK;
  char *end;
  long n = 0;
  int ok = *v >= '0' && *v <= '9' && strlen(v) <= 6;
  if (ok) n = strtol(v, &end, 10), ok = *end == '\0';
  if (!ok || n < 1 || n > max) return api_invalid(err, "limit", "limit must be a whole number 1..%ld", max);
  *out = n;
  return API_OK;
}

/* ---- base64url and cursors ---- */

/* libsodium's codec: its decoder also refuses non-canonical trailing bits, so
 * every value has one encoding. */
int api_b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap) {
  if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) return -1;
  sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

long api_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap) {
  size_t n = 0;
  const char *end = NULL;
  if (sodium_base642bin(out, cap, in, len, NULL, &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in + len)
    return -1;
  return (long)n;
}

static int id_ok(const char *id) { return strlen(id) <= 64 && all_chars(id, id_char); }

int api_cursor_encode(int64_t usec, const char *id, char *out, size_t cap) {
  char raw[96];
  if (!id || !id_ok(id)) return -1;
  int n = snprintf(raw, sizeof raw, "1:%lld:%s", (long long)usec, id);
  if (n < 0 || (size_t)n >= sizeof raw) return -1;
  return api_b64url_encode((const unsigned char *)raw, (size_t)n, out, cap);
}

int api_cursor_decode(const char *s, int64_t *usec, char *id, size_t cap) {
  unsigned char raw[96];
  size_t len = s ? strlen(s) : 0;
  if (len == 0 || len > API_CURSOR_MAX) return -1;
  long n = api_b64url_decode(s, len, raw, sizeof raw - 1);
  if (n < 4) return -1;
  raw[n] = '\0';
  if (memchr(raw, '\0', (size_t)n) || raw[0] != '1' || raw[1] != ':') return -1;
  char *p = (char *)raw + 2, *end;
  if (!(*p == '-' || (*p >= '0' && *p <= '9'))) return -1;
  long long v = strtoll(p, &end, 10);
  if (end == p || *end != ':' || end - p > 20) return -1;
  /* years 1..9999, as PostgreSQL stores them: -62135596800 .. 253402300799 s */
  if (v < -62135596800000000LL || v > 253402300799999999LL) return -1;
  const char *idp = end + 1;
  if (!id_ok(idp) || strlen(idp) + 1 > cap) return -1;
  *usec = v;
  memcpy(id, idp, strlen(idp) + 1);
  return 0;
}

/* ---- RFC 3339 ---- */

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

int api_rfc3339_ok(const char *s) {
  int y, mo, d, h, mi, se;
  if (!s || strlen(s) < 20 || strlen(s) > 40) return 0;
  if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d)) return 0;
  if (s[10] != 'T' && s[10] != 't') return 0;
  if (!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
    return 0;
  static const int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1] || h > 23 || mi > 59 || se > 60) return 0;
  if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 0;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    int n = 0;
    while (*p >= '0' && *p <= '9') p++, n++;
    if (n == 0 || n > 9) return 0;
  }
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0') return 1;
  int oh, om;
  if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om) && p[6] == '\0')
    return oh <= 14 && om <= 59; /* real offsets are -12..+14; PostgreSQL refuses beyond 15:59 */
  return 0;
}
