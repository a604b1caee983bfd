#include "item.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "contact.h"
#include "normalize.h"
#include "redact.h"
#include "util.h"

void ing_item_free(ing_item *it) {
  if (!it) return;
  free(it->dup_id);
  free(it->agency);
  free(it->service);
  free(it->external_id);
  free(it->text);
  free(it->language);
  free(it->address);
  for (size_t i = 0; i < it->nattrs; i++) {
    free(it->attr_keys[i]);
    free(it->attr_vals[i]);
  }
  free(it->attr_keys);
  free(it->attr_vals);
  free(it->sealed_contact);
  for (int i = 0; i < it->nkeys; i++) free(it->keys[i]);
  free(it);
}

int ing_item_reject(ing_item *it, const char *code, const char *field, const char *fmt, ...) {
  it->state = ING_ITEM_REJECTED;
  snprintf(it->err_code, sizeof it->err_code, "%s", code);
  snprintf(it->err_field, sizeof it->err_field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(it->err_msg, sizeof it->err_msg, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *const CHANNELS[] = {"unspecified", "web",    "email",  "whatsapp", "sms",       "call",
                                       "chat",        "social", "survey", "open311",  "in_person", "other"};

int ing_channel_parse(const char *s) {
  for (int i = 1; i < (int)(sizeof CHANNELS / sizeof *CHANNELS); i++)
    if (strcasecmp(s, CHANNELS[i]) == 0) return i;
  if (strcasecmp(s, "in-person") == 0 || strcasecmp(s, "phone") == 0) return strcasecmp(s, "phone") == 0 ? 5 : 10;
  return -1;
}

static int64_t days_from_civil(int y, unsigned m, unsigned d) {
  /* Howard Hinnant's algorithm: no timegm/TZ dependence */
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

/* Value of exactly n ASCII digits at s, -1 if any is not a digit (stops at NUL). */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int days_in_month(int y, int m) {
  static const int D[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : D[m - 1];
}

/* "HH:MM[:SS[.fraction]]" at s; returns the byte count, -1 if malformed. */
static int parse_clock(const char *s, int *h, int *mi, int *sec) {
  int n = 0;
  if ((*h = digits(s, 2)) < 0 || s[2] != ':' || (*mi = digits(s + 3, 2)) < 0) return -1;
  n = 5;
  if (s[n] == ':') {
    if ((*sec = digits(s + n + 1, 2)) < 0) return -1;
    n += 3;
    if (s[n] == '.') {
      int f = ++n;
      while (s[n] >= '0' && s[n] <= '9') n++;
      if (n == f || n - f > 9) return -1;
    }
  }
  return n;
}

int ing_parse_time(const char *s, int64_t *ms) {
  int y, mo, d, h = 0, mi = 0, sec = 0, off_min = 0;
  size_t len = strlen(s);
  while (len && isspace((unsigned char)s[len - 1])) len--;
  while (len && isspace((unsigned char)*s)) s++, len--;
  size_t nd = 0;
  while (nd < len && s[nd] >= '0' && s[nd] <= '9') nd++;
  if (nd == len && len > 0) { /* plain epoch: 9-10 digits are seconds, 12-13 milliseconds */
    if (len < 9 || len == 11 || len > 13) return -1;
    long long v = strtoll(s, NULL, 10);
    *ms = len <= 10 ? v * 1000 : v;
    return 0;
  }
  if (len == 10 && s[2] == '/' && s[5] == '/') { /* DD/MM/YYYY, the usual order in Spanish-speaking agencies' exports */
    if ((d = digits(s, 2)) < 0 || (mo = digits(s + 3, 2)) < 0 || (y = digits(s + 6, 4)) < 0) return -1;
  } else if (len >= 10 && s[4] == '-' && s[7] == '-') {
    if ((y = digits(s, 4)) < 0 || (mo = digits(s + 5, 2)) < 0 || (d = digits(s + 8, 2)) < 0) return -1;
    size_t i = 10;
    if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
      int n = parse_clock(s + i + 1, &h, &mi, &sec);
      if (n < 0) return -1;
      i += 1 + (size_t)n;
      if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
      } else if (i < len && (s[i] == '+' || s[i] == '-')) { /* RFC 3339: ±HH:MM, up to 23:59 */
        int oh = digits(s + i + 1, 2), om = oh < 0 || s[i + 3] != ':' ? -1 : digits(s + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return -1;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
      }
    }
    if (i != len) return -1;
  } else {
    return -1;
  }
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) return -1;
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  *ms = ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL - off_min * 60000LL;
  return 0;
}

/* ---- JSON ---- */

static const char *why_unexpected(const char *p, size_t n, size_t at, char *buf, size_t len) {
  if (at >= n) return "unexpected end of input";
  unsigned char c = (unsigned char)p[at];
  if (c >= 0x20 && c < 0x7f) snprintf(buf, len, "unexpected '%c'", c);
  else snprintf(buf, len, "unexpected byte 0x%02x", c);
  return buf;
}

/* Whether offset at lies inside a string literal (error path only). */
static int in_string(const char *p, size_t at) {
  int in = 0;
  for (size_t i = 0; i < at; i++) {
    if (in && p[i] == '\\') i++;
    else if (p[i] == '"') in = !in;
  }
  return in;
}

static cJSON *json_fail(const char *p, size_t at, ing_json_error *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cJSON *json_fail(const char *p, size_t at, ing_json_error *e, const char *fmt, ...) {
  if (!e) return NULL;
  e->line = 1;
  e->column = 1;
  for (size_t i = 0; i < at; i++) {
    if (p[i] == '\n') e->line++, e->column = 1;
    else if (((unsigned char)p[i] & 0xC0) != 0x80) e->column++; /* characters, not bytes */
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->text, sizeof e->text, fmt, ap);
  va_end(ap);
  return NULL;
}

static int cmp_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* First key that repeats in one object, anywhere below v; NULL if none (or OOM: then
 * the first occurrence wins, which is what cJSON's lookups do anyway). */
static const char *duplicate_key(const cJSON *v) {
  if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return NULL;
  size_t k = 0;
  for (const cJSON *c = v->child; c; c = c->next) {
    const char *d = duplicate_key(c);
    if (d) return d;
    k++;
  }
  if (!cJSON_IsObject(v) || k < 2) return NULL;
  if (k <= 16) {
    for (const cJSON *a = v->child; a; a = a->next)
      for (const cJSON *b = a->next; b; b = b->next)
        if (strcmp(a->string, b->string) == 0) return a->string;
    return NULL;
  }
  const char **keys = malloc(k * sizeof *keys), *d = NULL; /* sorted: no quadratic cost for huge objects */
  if (!keys) return NULL;
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next) keys[i++] = c->string;
  qsort(keys, k, sizeof *keys, cmp_key);
  for (i = 1; i < k && !d; i++)
    if (strcmp(keys[i - 1], keys[i]) == 0) d = keys[i];
  free(keys);
  return d;
}

cJSON *ing_json_parse(const char *p, size_t n, ing_json_error *e) {
  char why[48];
  long bad = ing_utf8_invalid_at(p, n);
  if (bad >= 0) return json_fail(p, (size_t)bad, e, "invalid UTF-8 byte 0x%02x", (unsigned char)p[bad]);
  /* cJSON would cut the string at an escaped NUL */
  for (const char *q = p; (q = memchr(q, '\\', (size_t)(p + n - q))) != NULL; q += 2) {
    if (q + 1 < p + n && q[1] == 'u' && q + 5 < p + n && strncmp(q + 2, "0000", 4) == 0)
      return json_fail(p, (size_t)(q - p), e, "\\u0000 is not allowed");
    if (q + 1 >= p + n) break;
  }
  const char *end = NULL;
  const char *nul = memchr(p, '\0', n); /* cJSON would end the text there */
  if (nul) return json_fail(p, (size_t)(nul - p), e, "NUL byte (0x00) is not allowed");
  cJSON *v = cJSON_ParseWithLengthOpts(p, n, &end, 0);
  size_t at = end ? (size_t)(end - p) : n;
  if (!v && in_string(p, at)) /* cJSON points at the start of a bad string */
    return json_fail(p, at, e, "invalid or unterminated string");
  if (!v) return json_fail(p, at, e, "%s", why_unexpected(p, n, at, why, sizeof why));
  while (at < n && (p[at] == ' ' || p[at] == '\t' || p[at] == '\n' || p[at] == '\r')) at++;
  if (at < n) {
    cJSON_Delete(v);
    return json_fail(p, at, e, "end of input expected, %s", why_unexpected(p, n, at, why, sizeof why));
  }
  const char *dup = duplicate_key(v);
  if (dup) {
    json_fail(p, 0, e, "duplicate object key \"%.60s\"", dup);
    cJSON_Delete(v);
    return NULL;
  }
  return v;
}

const cJSON *ing_json_at(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
const char *ing_json_str_at(const cJSON *o, const char *k) { return cJSON_GetStringValue(ing_json_at(o, k)); }

#define BOTH ((const char *)-2)
/* String value, NULL when absent, (const char *)-1 when present but not a
 * string, BOTH when both spellings a and b are given (one would silently win). */
static const char *jstr(const cJSON *o, const char *a, const char *b) {
  const cJSON *v = ing_json_at(o, a), *w = b ? ing_json_at(o, b) : NULL;
  if (v && w) return BOTH;
  if (!v) v = w;
  return v ? (cJSON_IsString(v) ? v->valuestring : (const char *)-1) : NULL;
}

/* Lengths and content are checked once for every channel by ing_item_validate. */
static int take_string(ing_item *it, const cJSON *o, const char *name, const char *alias, char **dst) {
  const char *s = jstr(o, name, alias);
  if (!s) return 0;
  if (s == BOTH) return ing_item_reject(it, "invalid", name, "give %s or %s, not both", name, alias);
  if (s == (const char *)-1) return ing_item_reject(it, "invalid", name, "%s must be a string", name);
  if (!(*dst = strdup(s))) return ing_item_reject(it, "internal", name, "out of memory");
  return 0;
}

/* A JSON number that is a whole number an int64 holds exactly. */
static int whole_number(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v)) return 0;
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return 0;
  *out = (int64_t)d;
  return 1;
}

/* Scores are JSON numbers: "7" is a client bug that would hide others ("7 ", "07"). */
static int take_int(ing_item *it, const cJSON *o, const char *name, int lo, int hi, int *has, int *dst) {
  const cJSON *v = ing_json_at(o, name);
  if (!v || cJSON_IsNull(v)) return 0;
  int64_t x;
  if (!whole_number(v, &x))
    return ing_item_reject(it, "invalid", name, "%s must be a whole number %d..%d (a JSON number, not a string)", name,
                           lo, hi);
  if (x < lo || x > hi) return ing_item_reject(it, "invalid", name, "%s must be between %d and %d", name, lo, hi);
  *has = 1;
  *dst = (int)x;
  return 0;
}

static int take_location(ing_item *it, const cJSON *o) {
  const cJSON *loc = ing_json_at(o, "location");
  if (!loc || cJSON_IsNull(loc)) return 0;
  if (!cJSON_IsObject(loc)) return ing_item_reject(it, "invalid", "location", "location must be an object");
  const cJSON *lat = ing_json_at(loc, "lat"), *lon = ing_json_at(loc, "lon"), *lon2 = ing_json_at(loc, "long");
  if (lon && lon2) return ing_item_reject(it, "invalid", "location.lon", "give lon or long, not both");
  if (!lon) lon = lon2;
  if (lat || lon) { /* a location is both coordinates or none */
    if (!cJSON_IsNumber(lat) || !(fabs(lat->valuedouble) <= 90))
      return ing_item_reject(it, "invalid", "location.lat", "lat must be a number -90..90");
    if (!cJSON_IsNumber(lon) || !(fabs(lon->valuedouble) <= 180))
      return ing_item_reject(it, "invalid", "location.lon", "lon must be a number -180..180");
    it->lat = lat->valuedouble;
    it->lon = lon->valuedouble;
    it->has_location = it->has_coords = 1;
  }
  const char *addr = jstr(loc, "address", NULL);
  if (addr == (const char *)-1) return ing_item_reject(it, "invalid", "location.address", "address must be a string");
  if (addr) {
    if (!(it->address = strdup(addr))) return ing_item_reject(it, "internal", "location.address", "out of memory");
    it->has_location = 1;
  }
  return 0;
}

static int take_attributes(ing_item *it, const cJSON *o) {
  const cJSON *a = ing_json_at(o, "attributes");
  if (!a || cJSON_IsNull(a)) return 0;
  if (!cJSON_IsObject(a))
    return ing_item_reject(it, "invalid", "attributes", "attributes must be an object of strings");
  size_t n = (size_t)cJSON_GetArraySize(a);
  if (n > ING_MAX_ATTRS) return ing_item_reject(it, "invalid", "attributes", "at most %d attributes", ING_MAX_ATTRS);
  it->attr_keys = calloc(n ? n : 1, sizeof(char *));
  it->attr_vals = calloc(n ? n : 1, sizeof(char *));
  if (!it->attr_keys || !it->attr_vals) return ing_item_reject(it, "internal", "attributes", "out of memory");
  for (const cJSON *v = a->child; v; v = v->next) {
    if (!cJSON_IsString(v)) return ing_item_reject(it, "invalid", "attributes", "attribute values must be strings");
    it->attr_keys[it->nattrs] = strdup(v->string);
    it->attr_vals[it->nattrs] = strdup(v->valuestring);
    if (!it->attr_keys[it->nattrs] || !it->attr_vals[it->nattrs++])
      return ing_item_reject(it, "internal", "attributes", "out of memory");
  }
  return 0;
}

int ing_item_from_json(ing_item *it, const cJSON *o, const char *agency, int default_channel) {
  if (!cJSON_IsObject(o)) return ing_item_reject(it, "invalid", "", "feedback must be a JSON object");
  if (take_int(it, o, "nps", 0, 10, &it->has_nps, &it->nps) || take_int(it, o, "csat", 1, 5, &it->has_csat, &it->csat))
    return -1;
  const cJSON *t = ing_json_at(o, "text");
  if (!t && !it->has_nps && !it->has_csat) return ing_item_reject(it, "invalid", "text", "text is required");
  if (t && !cJSON_IsString(t)) return ing_item_reject(it, "invalid", "text", "text must be a string");
  /* a survey answer with a score and no comment is still an answer */
  if (!(it->text = strdup(t ? t->valuestring : ""))) return ing_item_reject(it, "internal", "text", "out of memory");

  const char *ag = jstr(o, "agency", NULL);
  if (ag == (const char *)-1) return ing_item_reject(it, "invalid", "agency", "agency must be a string");
  if (agency) {
    if (ag && strcmp(ag, agency) != 0)
      return ing_item_reject(it, "forbidden", "agency", "this API key cannot submit for another agency");
    it->agency = strdup(agency);
  } else {
    if (!ag || !*ag) return ing_item_reject(it, "invalid", "agency", "agency is required");
    it->agency = strdup(ag);
  }
  if (!it->agency) return ing_item_reject(it, "internal", "agency", "out of memory");
  if (take_string(it, o, "service", NULL, &it->service) ||
      take_string(it, o, "external_id", "externalId", &it->external_id) ||
      take_string(it, o, "language", NULL, &it->language))
    return -1;

  it->channel = default_channel;
  const char *ch = jstr(o, "channel", NULL);
  if (ch == (const char *)-1) return ing_item_reject(it, "invalid", "channel", "channel must be a string");
  if (ch && (it->channel = ing_channel_parse(ch)) < 0)
    return ing_item_reject(
        it, "invalid", "channel",
        "unknown channel (web, email, whatsapp, sms, call, chat, social, survey, open311, in_person, other)");

  const cJSON *ca = ing_json_at(o, "created_at"), *ca2 = ing_json_at(o, "createdAt");
  if (ca && ca2) return ing_item_reject(it, "invalid", "created_at", "give created_at or createdAt, not both");
  if (!ca) ca = ca2;
  if (ca && !cJSON_IsNull(ca)) {
    int64_t ms;
    if (whole_number(ca, &ms) && ms > 0) it->created_at = ms;
    else if (!cJSON_IsString(ca) || ing_parse_time(ca->valuestring, &it->created_at) != 0)
      return ing_item_reject(it, "invalid", "created_at",
                             "created_at must be ms since epoch or an RFC 3339 time (YYYY-MM-DDTHH:MM:SS±HH:MM)");
  }
  if (take_location(it, o) || take_attributes(it, o) || ing_contact_take(it, o)) return -1;
  return 0;
}

/* protobuf-c does not check that strings are UTF-8: every one is, before it is kept. */
static int proto_str(ing_item *it, const char *field, const char *v, char **dst) {
  if (!v || !*v) return 0;
  if (ing_utf8_invalid_at(v, strlen(v)) >= 0)
    return ing_item_reject(it, "invalid", field, "%s is not valid UTF-8", field);
  if (!(*dst = strdup(v))) return ing_item_reject(it, "internal", field, "out of memory");
  return 0;
}

int ing_item_from_proto(ing_item *it, const Escucha__V1__Feedback *fb) {
  if (!fb->text && !fb->has_nps && !fb->has_csat) return ing_item_reject(it, "invalid", "text", "text is required");
  if (!fb->agency || !*fb->agency) return ing_item_reject(it, "invalid", "agency", "agency is required");
  if (fb->has_sealed_contact || fb->contact_via)
    return ing_item_reject(it, "invalid", "sealed_contact",
                           "sealed_contact is set by ingest: send contact and consent in a JSON object");
  if ((fb->text && *fb->text      ? proto_str(it, "text", fb->text, &it->text)
       : !(it->text = strdup("")) ? -1
                                  : 0) ||
      proto_str(it, "agency", fb->agency, &it->agency) || proto_str(it, "service", fb->service, &it->service) ||
      proto_str(it, "external_id", fb->external_id, &it->external_id) ||
      proto_str(it, "language", fb->language, &it->language))
    return it->state == ING_ITEM_REJECTED ? -1 : ing_item_reject(it, "internal", "text", "out of memory");
  it->channel = fb->has_channel && fb->channel > 0 ? (int)fb->channel : ESCUCHA__V1__CHANNEL__OTHER;
  if (fb->has_created_at) {
    if (fb->created_at <= 0) return ing_item_reject(it, "invalid", "created_at", "created_at must be ms since epoch");
    it->created_at = fb->created_at;
  }
  if (fb->has_nps) {
    if (fb->nps < 0 || fb->nps > 10) return ing_item_reject(it, "invalid", "nps", "nps must be between 0 and 10");
    it->has_nps = 1, it->nps = fb->nps;
  }
  if (fb->has_csat) {
    if (fb->csat < 1 || fb->csat > 5) return ing_item_reject(it, "invalid", "csat", "csat must be between 1 and 5");
    it->has_csat = 1, it->csat = fb->csat;
  }
  if (fb->location) {
    const Escucha__V1__Location *l = fb->location;
    if (l->has_lat != l->has_lon)
      return ing_item_reject(it, "invalid", l->has_lat ? "location.lon" : "location.lat",
                             "a location needs both lat and lon");
    if (l->has_lat && (!(fabs(l->lat) <= 90) || !(fabs(l->lon) <= 180)))
      return ing_item_reject(it, "invalid", fabs(l->lat) <= 90 ? "location.lon" : "location.lat",
                             "lat must be -90..90 and lon -180..180");
    if (proto_str(it, "location.address", l->address, &it->address)) return -1;
    it->has_coords = l->has_lat;
    it->has_location = l->has_lat || it->address;
    it->lat = l->lat;
    it->lon = l->lon;
  }
  size_t n = fb->n_attributes;
  if (n > ING_MAX_ATTRS) return ing_item_reject(it, "invalid", "attributes", "at most %d attributes", ING_MAX_ATTRS);
  it->attr_keys = calloc(n ? n : 1, sizeof(char *));
  it->attr_vals = calloc(n ? n : 1, sizeof(char *));
  if (!it->attr_keys || !it->attr_vals) return ing_item_reject(it, "internal", "", "out of memory");
  for (size_t i = 0; i < n; i++) {
    const char *k = fb->attributes[i]->key ? fb->attributes[i]->key : "",
               *v = fb->attributes[i]->value ? fb->attributes[i]->value : "";
    if (ing_utf8_invalid_at(k, strlen(k)) >= 0 || ing_utf8_invalid_at(v, strlen(v)) >= 0)
      return ing_item_reject(it, "invalid", "attributes", "attribute %zu is not valid UTF-8", i);
    it->attr_keys[i] = strdup(k);
    it->attr_vals[i] = strdup(v);
    it->nattrs++;
    if (!it->attr_keys[i] || !it->attr_vals[i]) return ing_item_reject(it, "internal", "attributes", "out of memory");
  }
  return 0;
}

/* ---- one set of limits for every channel ---- */

/* 1..max of [A-Za-z0-9_.-]: agency and attribute names. */
static int name_ok(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-' && s[n] != '.') return 0;
  return n >= 1 && n <= max;
}

int ing_agency_ok(const char *s) { return name_ok(s, ING_MAX_AGENCY); }

int ing_external_id_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!isalnum((unsigned char)s[n]) && !strchr(" _-.:/#&()+=,", s[n])) return 0;
  return n >= 1 && n <= ING_MAX_EXTERNAL_ID && s[0] != ' ' && s[n - 1] != ' ';
}

/* BCP 47 subset: a 2-3 letter language, optionally -region or -script ("es", "es-CL", "es-419"). */
static int language_ok(const char *s) {
  size_t n = 0;
  while (isalpha((unsigned char)s[n])) n++;
  if (n < 2 || n > 3) return 0;
  if (!s[n]) return 1;
  if (s[n] != '-') return 0;
  size_t m = 0;
  while (isalnum((unsigned char)s[n + 1 + m])) m++;
  return m >= 2 && m <= 4 && !s[n + 1 + m];
}

static int str_field_ok(ing_item *it, const char *field, const char *v, size_t max) {
  if (!v) return 0;
  size_t n = strlen(v);
  if (n > max) return ing_item_reject(it, "too_long", field, "%s is longer than %zu bytes", field, max);
  if (ing_utf8_invalid_at(v, n) >= 0) return ing_item_reject(it, "invalid", field, "%s is not valid UTF-8", field);
  return 0;
}

/* Identifiers (external_id, attribute names) are kept verbatim, so they must not
 * be personal data: refused, naming the kind. An all-digit id that only looks
 * like a phone number is the usual numeric ticket id of the agency's system. */
static int identifier_ok(ing_item *it, const char *field, const char *v) {
  ing_redact_counts c = {0};
  char *red = ing_redact(v, strlen(v), NULL, &c);
  if (!red) return ing_item_reject(it, "internal", field, "out of memory");
  free(red);
  int digits_only = v[strspn(v, "0123456789")] == '\0';
  const char *kind = c.email                   ? "an e-mail address"
                     : c.card                  ? "a card number"
                     : c.rut                   ? "a RUT"
                     : c.dni                   ? "a DNI/NIE"
                     : c.cedula                ? "a cédula"
                     : c.iban                  ? "an IBAN"
                     : c.phone && !digits_only ? "a phone number"
                                               : NULL;
  if (kind)
    return ing_item_reject(it, "invalid", field, "%s looks like %s: use an opaque id, personal data is not kept", field,
                           kind);
  return 0;
}

int ing_item_validate(ing_item *it, int64_t now_ms) {
  if (!it->agency || !ing_agency_ok(it->agency))
    return ing_item_reject(it, "invalid", "agency", "agency must be 1-%d letters, digits, '_', '-' or '.'",
                           ING_MAX_AGENCY);
  if (!it->text) return ing_item_reject(it, "invalid", "text", "text is required");
  if (strlen(it->text) > ING_MAX_TEXT)
    return ing_item_reject(it, "too_long", "text", "text is longer than %d bytes", ING_MAX_TEXT);
  if (str_field_ok(it, "service", it->service, ING_MAX_FIELD) ||
      str_field_ok(it, "location.address", it->address, ING_MAX_ADDRESS))
    return -1;
  if (it->external_id && !ing_external_id_ok(it->external_id))
    return ing_item_reject(it, "invalid", "external_id",
                           "external_id must be 1-%d characters of letters, digits, space and _-.:/#&()+=, "
                           "(an opaque id of the agency's own system)",
                           ING_MAX_EXTERNAL_ID);
  if (it->external_id && identifier_ok(it, "external_id", it->external_id) != 0) return -1;
  if (it->language && *it->language && !language_ok(it->language))
    return ing_item_reject(it, "invalid", "language", "language must be a language tag such as es, en or es-CL");
  if (it->nattrs > ING_MAX_ATTRS)
    return ing_item_reject(it, "invalid", "attributes", "at most %d attributes", ING_MAX_ATTRS);
  for (size_t i = 0; i < it->nattrs; i++) {
    const char *k = it->attr_keys[i];
    if (!name_ok(k, ING_MAX_ATTR_KEY))
      return ing_item_reject(it, "invalid", "attributes", "attribute names are 1-%d letters, digits, '_', '-' or '.'",
                             ING_MAX_ATTR_KEY);
    if (identifier_ok(it, "attributes", k) != 0) return -1; /* then k may be named in messages (and logs) */
    if (strlen(it->attr_vals[i]) > ING_MAX_ATTR_VALUE)
      return ing_item_reject(it, "too_long", "attributes", "attribute %s is longer than %d bytes", k,
                             ING_MAX_ATTR_VALUE);
    if (ing_utf8_invalid_at(it->attr_vals[i], strlen(it->attr_vals[i])) >= 0)
      return ing_item_reject(it, "invalid", "attributes", "attribute %s is not valid UTF-8", k);
  }
  if (it->has_coords && it->lat == 0 && it->lon == 0) /* the classic "missing" default, not a place */
    return ing_item_reject(it, "invalid", "location", "location 0,0 is not a place an agency serves");
  if (it->created_at && (it->created_at < ING_MIN_CREATED_AT || it->created_at > now_ms + ING_MAX_CLOCK_SKEW_MS))
    return ing_item_reject(it, "invalid", "created_at",
                           "created_at must be between 1990-01-01T00:00:00Z and 24 hours from now");
  return 0;
}

uint8_t *ing_item_pack(const ing_item *it, size_t *len) {
  Escucha__V1__Feedback fb = ESCUCHA__V1__FEEDBACK__INIT;
  Escucha__V1__Redactions red = ESCUCHA__V1__REDACTIONS__INIT;
  Escucha__V1__Location loc = ESCUCHA__V1__LOCATION__INIT;
  Escucha__V1__Feedback__AttributesEntry entries[ING_MAX_ATTRS], *eptr[ING_MAX_ATTRS];
  fb.id = (char *)it->id;
  fb.agency = it->agency;
  fb.service = it->service;
  fb.has_channel = 1;
  fb.channel = (Escucha__V1__Channel)it->channel;
  fb.external_id = it->external_id;
  fb.text = it->text;
  fb.language = it->language;
  fb.has_created_at = fb.has_received_at = 1;
  fb.created_at = it->created_at;
  fb.received_at = it->received_at;
  fb.has_nps = it->has_nps;
  fb.nps = it->nps;
  fb.has_csat = it->has_csat;
  fb.csat = it->csat;
  if (it->has_location) {
    loc.has_lat = loc.has_lon = it->has_coords;
    loc.lat = it->lat;
    loc.lon = it->lon;
    loc.address = it->address;
    fb.location = &loc;
  }
  for (size_t i = 0; i < it->nattrs && i < ING_MAX_ATTRS; i++) {
    escucha__v1__feedback__attributes_entry__init(&entries[i]);
    entries[i].key = it->attr_keys[i];
    entries[i].value = it->attr_vals[i];
    eptr[i] = &entries[i];
  }
  fb.n_attributes = it->nattrs;
  fb.attributes = eptr;
  fb.content_hash = (char *)it->content_hash;
  if (it->sealed_contact) {
    fb.has_sealed_contact = 1;
    fb.sealed_contact.data = it->sealed_contact;
    fb.sealed_contact.len = it->sealed_len;
    fb.contact_via = (char *)it->contact_via;
  }
#define RED(f) red.has_##f = 1, red.f = it->red.f
  RED(email);
  RED(phone);
  RED(rut);
  RED(dni);
  RED(cedula);
  RED(card);
  RED(iban);
#undef RED
  fb.redactions = &red;
  *len = escucha__v1__feedback__get_packed_size(&fb);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (buf) escucha__v1__feedback__pack(&fb, buf);
  return buf;
}
