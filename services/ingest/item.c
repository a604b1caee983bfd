#include "item.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "normalize.h"
#include "util.h"

#define MAX_TEXT 20000
#define MAX_FIELD 256
#define MAX_ATTRS 32

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
  for (int i = 0; i < it->nkeys; i++) free(it->keys[i]);
  free(it);
}

int ing_item_reject(ing_item *it, const char *code, const char *field, const char *fmt, ...) {
  it->state = IT_REJECTED;
  snprintf(it->err_code, sizeof it->err_code, "%s", code);
  snprintf(it->err_field, sizeof it->err_field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(it->err_msg, sizeof it->err_msg, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *const CHANNELS[] = {"unspecified", "web", "email", "whatsapp", "sms", "call",
                                       "chat", "social", "survey", "open311", "in_person", "other"};

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

int ing_parse_time(const char *s, int64_t *ms) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0, off_min = 0;
  char *end;
  while (isspace((unsigned char)*s)) s++;
  if (!*s) return -1;
  long long v = strtoll(s, &end, 10);
  if (*end == '\0' && end - s >= 9) { /* plain epoch: seconds (10 digits) or ms (13) */
    *ms = end - s <= 10 ? v * 1000 : v;
    return 0;
  }
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3) {
    s += n;
    if (*s == 'T' || *s == ' ') {
      int m2 = 0;
      if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &m2) < 2) return -1;
      s += 1 + m2;
      if (*s == ':') {
        if (sscanf(s + 1, "%2d%n", &sec, &m2) < 1) return -1;
        s += 1 + m2;
      }
      if (*s == '.') { s++; while (isdigit((unsigned char)*s)) s++; }
    }
    if (*s == 'Z' || *s == 'z') s++;
    else if (*s == '+' || *s == '-') {
      int oh = 0, om = 0;
      if (sscanf(s + 1, "%2d:%2d", &oh, &om) < 1) return -1;
      off_min = (oh * 60 + om) * (*s == '-' ? -1 : 1);
      s += strlen(s);
    }
    if (*s) return -1;
  } else if (sscanf(s, "%2d/%2d/%4d%n", &d, &mo, &y, &n) == 3 && s[n] == '\0') {
    /* DD/MM/YYYY, the usual order in Spanish-speaking agencies' exports */
  } else {
    return -1;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 || y > 2200)
    return -1;
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

static int cmp_key(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

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
  long bad = es_utf8_invalid_at(p, n);
  if (bad >= 0) return json_fail(p, (size_t)bad, e, "invalid UTF-8 byte 0x%02x", (unsigned char)p[bad]);
  /* cJSON would cut the string at an escaped NUL */
  for (const char *q = p; (q = memchr(q, '\\', (size_t)(p + n - q))) != NULL; q += 2) {
    if (q + 1 < p + n && q[1] == 'u' && q + 5 < p + n && strncmp(q + 2, "0000", 4) == 0)
      return json_fail(p, (size_t)(q - p), e, "\\u0000 is not allowed");
    if (q + 1 >= p + n) break;
  }
  const char *end = NULL;
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

/* String value, NULL when absent, (const char *)-1 when present but not a string. */
static const char *jstr(const cJSON *o, const char *a, const char *b) {
  const cJSON *v = ing_json_at(o, a);
  if (!v && b) v = ing_json_at(o, b);
  return v ? (cJSON_IsString(v) ? v->valuestring : (const char *)-1) : NULL;
}

static int take_string(ing_item *it, const cJSON *o, const char *name, const char *alias, char **dst,
                       size_t maxlen) {
  const char *s = jstr(o, name, alias);
  if (!s) return 0;
  if (s == (const char *)-1) return ing_item_reject(it, "invalid", name, "%s must be a string", name);
  if (strlen(s) > maxlen)
    return ing_item_reject(it, "invalid", name, "%s is longer than %zu bytes", name, maxlen);
  *dst = strdup(s);
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

static int take_int(ing_item *it, const cJSON *o, const char *name, int lo, int hi, int *has, int *dst) {
  const cJSON *v = ing_json_at(o, name);
  if (!v || cJSON_IsNull(v)) return 0;
  int64_t x;
  if (whole_number(v, &x)) {
  } else if (cJSON_IsString(v) && *v->valuestring) {
    char *end;
    x = strtoll(v->valuestring, &end, 10);
    if (*end) return ing_item_reject(it, "invalid", name, "%s must be an integer %d..%d", name, lo, hi);
  } else
    return ing_item_reject(it, "invalid", name, "%s must be an integer %d..%d", name, lo, hi);
  if (x < lo || x > hi)
    return ing_item_reject(it, "invalid", name, "%s must be between %d and %d", name, lo, hi);
  *has = 1;
  *dst = (int)x;
  return 0;
}

static int take_location(ing_item *it, const cJSON *o) {
  const cJSON *loc = ing_json_at(o, "location");
  if (!loc || cJSON_IsNull(loc)) return 0;
  if (!cJSON_IsObject(loc)) return ing_item_reject(it, "invalid", "location", "location must be an object");
  const cJSON *lat = ing_json_at(loc, "lat"), *lon = ing_json_at(loc, "lon");
  if (!lon) lon = ing_json_at(loc, "long");
  if (lat || lon) {
    if (!cJSON_IsNumber(lat) || !(fabs(lat->valuedouble) <= 90))
      return ing_item_reject(it, "invalid", "location.lat", "lat must be a number -90..90");
    if (!cJSON_IsNumber(lon) || !(fabs(lon->valuedouble) <= 180))
      return ing_item_reject(it, "invalid", "location.lon", "lon must be a number -180..180");
    it->lat = lat->valuedouble;
    it->lon = lon->valuedouble;
  }
  const char *addr = jstr(loc, "address", NULL);
  if (addr == (const char *)-1) return ing_item_reject(it, "invalid", "location.address", "address must be a string");
  if (addr) it->address = strndup(addr, 512);
  it->has_location = 1;
  return 0;
}

static int take_attributes(ing_item *it, const cJSON *o) {
  const cJSON *a = ing_json_at(o, "attributes");
  if (!a || cJSON_IsNull(a)) return 0;
  if (!cJSON_IsObject(a)) return ing_item_reject(it, "invalid", "attributes", "attributes must be an object of strings");
  size_t n = (size_t)cJSON_GetArraySize(a);
  if (n > MAX_ATTRS) return ing_item_reject(it, "invalid", "attributes", "at most %d attributes", MAX_ATTRS);
  it->attr_keys = calloc(n ? n : 1, sizeof(char *));
  it->attr_vals = calloc(n ? n : 1, sizeof(char *));
  if (!it->attr_keys || !it->attr_vals) return ing_item_reject(it, "internal", "attributes", "out of memory");
  for (const cJSON *v = a->child; v; v = v->next) {
    if (!cJSON_IsString(v))
      return ing_item_reject(it, "invalid", "attributes", "attribute %.40s must be a string", v->string);
    it->attr_keys[it->nattrs] = strndup(v->string, MAX_FIELD);
    it->attr_vals[it->nattrs] = strndup(v->valuestring, 1024);
    it->nattrs++;
  }
  return 0;
}

int ing_item_from_json(ing_item *it, const cJSON *o, const char *agency, int default_channel) {
  if (!cJSON_IsObject(o)) return ing_item_reject(it, "invalid", "", "feedback must be a JSON object");
  const cJSON *t = ing_json_at(o, "text");
  if (!t) return ing_item_reject(it, "invalid", "text", "text is required");
  if (!cJSON_IsString(t)) return ing_item_reject(it, "invalid", "text", "text must be a string");
  size_t tlen = strlen(t->valuestring);
  if (tlen > MAX_TEXT) return ing_item_reject(it, "too_long", "text", "text is longer than %d bytes", MAX_TEXT);
  it->text = strndup(t->valuestring, tlen);

  const char *ag = jstr(o, "agency", NULL);
  if (ag == (const char *)-1) return ing_item_reject(it, "invalid", "agency", "agency must be a string");
  if (agency) {
    if (ag && strcmp(ag, agency) != 0)
      return ing_item_reject(it, "forbidden", "agency", "this API key cannot submit for agency %.60s", ag);
    it->agency = strdup(agency);
  } else {
    if (!ag || !*ag) return ing_item_reject(it, "invalid", "agency", "agency is required");
    if (strlen(ag) > 64) return ing_item_reject(it, "invalid", "agency", "agency is longer than 64 bytes");
    it->agency = strdup(ag);
  }
  if (take_string(it, o, "service", NULL, &it->service, MAX_FIELD) ||
      take_string(it, o, "external_id", "externalId", &it->external_id, MAX_FIELD) ||
      take_string(it, o, "language", NULL, &it->language, 8))
    return -1;

  it->channel = default_channel;
  const char *ch = jstr(o, "channel", NULL);
  if (ch == (const char *)-1) return ing_item_reject(it, "invalid", "channel", "channel must be a string");
  if (ch && (it->channel = ing_channel_parse(ch)) < 0)
    return ing_item_reject(it, "invalid", "channel",
                           "unknown channel %.40s (web, email, whatsapp, sms, call, chat, social, survey, open311, in_person, other)", ch);

  const cJSON *ca = ing_json_at(o, "created_at");
  if (!ca) ca = ing_json_at(o, "createdAt");
  if (ca && !cJSON_IsNull(ca)) {
    int64_t ms;
    if (whole_number(ca, &ms)) it->created_at = ms;
    else if (!cJSON_IsString(ca) || ing_parse_time(ca->valuestring, &it->created_at) != 0)
      return ing_item_reject(it, "invalid", "created_at", "created_at must be ms since epoch or an RFC 3339 time");
  }
  if (take_int(it, o, "nps", 0, 10, &it->has_nps, &it->nps) ||
      take_int(it, o, "csat", 1, 5, &it->has_csat, &it->csat) || take_location(it, o) ||
      take_attributes(it, o))
    return -1;
  return 0;
}

int ing_item_from_proto(ing_item *it, const Escucha__V1__Feedback *fb) {
  if (!fb->text) return ing_item_reject(it, "invalid", "text", "text is required");
  if (strlen(fb->text) > MAX_TEXT)
    return ing_item_reject(it, "too_long", "text", "text is longer than %d bytes", MAX_TEXT);
  if (!fb->agency || !*fb->agency) return ing_item_reject(it, "invalid", "agency", "agency is required");
  it->text = strdup(fb->text);
  it->agency = strndup(fb->agency, 64);
  if (fb->service) it->service = strndup(fb->service, MAX_FIELD);
  if (fb->external_id && *fb->external_id) it->external_id = strndup(fb->external_id, MAX_FIELD);
  if (fb->language && *fb->language) it->language = strndup(fb->language, 8);
  it->channel = fb->has_channel && fb->channel > 0 ? (int)fb->channel : ESCUCHA__V1__CHANNEL__OTHER;
  if (fb->has_created_at) it->created_at = fb->created_at;
  if (fb->has_nps) {
    if (fb->nps < 0 || fb->nps > 10) return ing_item_reject(it, "invalid", "nps", "nps must be between 0 and 10");
    it->has_nps = 1, it->nps = fb->nps;
  }
  if (fb->has_csat) {
    if (fb->csat < 1 || fb->csat > 5) return ing_item_reject(it, "invalid", "csat", "csat must be between 1 and 5");
    it->has_csat = 1, it->csat = fb->csat;
  }
  if (fb->location) {
    it->has_location = 1;
    it->lat = fb->location->lat;
    it->lon = fb->location->lon;
    if (fb->location->address) it->address = strndup(fb->location->address, 512);
  }
  size_t n = fb->n_attributes < MAX_ATTRS ? fb->n_attributes : MAX_ATTRS;
  it->attr_keys = calloc(n ? n : 1, sizeof(char *));
  it->attr_vals = calloc(n ? n : 1, sizeof(char *));
  if (!it->attr_keys || !it->attr_vals) return ing_item_reject(it, "internal", "", "out of memory");
  for (size_t i = 0; i < n; i++) {
    it->attr_keys[i] = strdup(fb->attributes[i]->key ? fb->attributes[i]->key : "");
    it->attr_vals[i] = strdup(fb->attributes[i]->value ? fb->attributes[i]->value : "");
    it->nattrs++;
  }
  return 0;
}

uint8_t *ing_item_pack(const ing_item *it, size_t *len) {
  Escucha__V1__Feedback fb = ESCUCHA__V1__FEEDBACK__INIT;
  Escucha__V1__Redactions red = ESCUCHA__V1__REDACTIONS__INIT;
  Escucha__V1__Location loc = ESCUCHA__V1__LOCATION__INIT;
  Escucha__V1__Feedback__AttributesEntry entries[MAX_ATTRS], *eptr[MAX_ATTRS];
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
    loc.has_lat = loc.has_lon = 1;
    loc.lat = it->lat;
    loc.lon = it->lon;
    loc.address = it->address;
    fb.location = &loc;
  }
  for (size_t i = 0; i < it->nattrs && i < MAX_ATTRS; i++) {
    escucha__v1__feedback__attributes_entry__init(&entries[i]);
    entries[i].key = it->attr_keys[i];
    entries[i].value = it->attr_vals[i];
    eptr[i] = &entries[i];
  }
  fb.n_attributes = it->nattrs;
  fb.attributes = eptr;
  fb.content_hash = (char *)it->content_hash;
#define RED(f) red.has_##f = 1, red.f = it->red.f
  RED(email); RED(phone); RED(rut); RED(dni); RED(cedula); RED(card); RED(iban);
#undef RED
  fb.redactions = &red;
  *len = escucha__v1__feedback__get_packed_size(&fb);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (buf) escucha__v1__feedback__pack(&fb, buf);
  return buf;
}
