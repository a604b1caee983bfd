#include "item.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

static const char *jstr(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(o, a);
  if (!v && b) v = json_object_get(o, b);
  return v ? (json_is_string(v) ? json_string_value(v) : (const char *)-1) : NULL;
}

static int take_string(ing_item *it, json_t *o, const char *name, const char *alias, char **dst,
                       size_t maxlen) {
  const char *s = jstr(o, name, alias);
  if (!s) return 0;
  if (s == (const char *)-1) return ing_item_reject(it, "invalid", name, "%s must be a string", name);
  if (strlen(s) > maxlen)
    return ing_item_reject(it, "invalid", name, "%s is longer than %zu bytes", name, maxlen);
  *dst = strdup(s);
  return 0;
}

static int take_int(ing_item *it, json_t *o, const char *name, int lo, int hi, int *has, int *dst) {
  json_t *v = json_object_get(o, name);
  if (!v || json_is_null(v)) return 0;
  json_int_t x;
  if (json_is_integer(v)) x = json_integer_value(v);
  else if (json_is_string(v) && *json_string_value(v)) {
    char *end;
    x = strtoll(json_string_value(v), &end, 10);
    if (*end) return ing_item_reject(it, "invalid", name, "%s must be an integer %d..%d", name, lo, hi);
  } else
    return ing_item_reject(it, "invalid", name, "%s must be an integer %d..%d", name, lo, hi);
  if (x < lo || x > hi)
    return ing_item_reject(it, "invalid", name, "%s must be between %d and %d", name, lo, hi);
  *has = 1;
  *dst = (int)x;
  return 0;
}

static int take_location(ing_item *it, json_t *o) {
  json_t *loc = json_object_get(o, "location");
  if (!loc || json_is_null(loc)) return 0;
  if (!json_is_object(loc)) return ing_item_reject(it, "invalid", "location", "location must be an object");
  json_t *lat = json_object_get(loc, "lat"), *lon = json_object_get(loc, "lon");
  if (!lon) lon = json_object_get(loc, "long");
  if (lat || lon) {
    if (!json_is_number(lat) || fabs(json_number_value(lat)) > 90)
      return ing_item_reject(it, "invalid", "location.lat", "lat must be a number -90..90");
    if (!json_is_number(lon) || fabs(json_number_value(lon)) > 180)
      return ing_item_reject(it, "invalid", "location.lon", "lon must be a number -180..180");
    it->lat = json_number_value(lat);
    it->lon = json_number_value(lon);
  }
  const char *addr = jstr(loc, "address", NULL);
  if (addr == (const char *)-1) return ing_item_reject(it, "invalid", "location.address", "address must be a string");
  if (addr) it->address = strndup(addr, 512);
  it->has_location = 1;
  return 0;
}

static int take_attributes(ing_item *it, json_t *o) {
  json_t *a = json_object_get(o, "attributes");
  if (!a || json_is_null(a)) return 0;
  if (!json_is_object(a)) return ing_item_reject(it, "invalid", "attributes", "attributes must be an object of strings");
  size_t n = json_object_size(a);
  if (n > MAX_ATTRS) return ing_item_reject(it, "invalid", "attributes", "at most %d attributes", MAX_ATTRS);
  it->attr_keys = calloc(n ? n : 1, sizeof(char *));
  it->attr_vals = calloc(n ? n : 1, sizeof(char *));
  if (!it->attr_keys || !it->attr_vals) return ing_item_reject(it, "internal", "attributes", "out of memory");
  const char *k;
  json_t *v;
  json_object_foreach(a, k, v) {
    if (!json_is_string(v))
      return ing_item_reject(it, "invalid", "attributes", "attribute %.40s must be a string", k);
    it->attr_keys[it->nattrs] = strndup(k, MAX_FIELD);
    it->attr_vals[it->nattrs] = strndup(json_string_value(v), 1024);
    it->nattrs++;
  }
  return 0;
}

int ing_item_from_json(ing_item *it, json_t *o, const char *agency, int default_channel) {
  if (!json_is_object(o)) return ing_item_reject(it, "invalid", "", "feedback must be a JSON object");
  json_t *t = json_object_get(o, "text");
  if (!t) return ing_item_reject(it, "invalid", "text", "text is required");
  if (!json_is_string(t)) return ing_item_reject(it, "invalid", "text", "text must be a string");
  if (json_string_length(t) > MAX_TEXT)
    return ing_item_reject(it, "too_long", "text", "text is longer than %d bytes", MAX_TEXT);
  it->text = strndup(json_string_value(t), json_string_length(t));

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

  json_t *ca = json_object_get(o, "created_at");
  if (!ca) ca = json_object_get(o, "createdAt");
  if (ca && !json_is_null(ca)) {
    if (json_is_integer(ca)) it->created_at = json_integer_value(ca);
    else if (!json_is_string(ca) || ing_parse_time(json_string_value(ca), &it->created_at) != 0)
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
