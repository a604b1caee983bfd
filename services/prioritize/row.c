/* Mapping between protobuf messages and the store's rows. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "store.h"

static const char *enum_name(const ProtobufCEnumDescriptor *d, int has, int v) {
  if (!has || v == 0) return NULL; /* *_UNSPECIFIED stored as NULL */
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  return ev ? ev->name : NULL;
}

/* PostgreSQL rejects invalid UTF-8 for the whole COPY; catch it per row. */
static int valid_utf8(const char *s) {
  if (!s) return 1;
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  utf8proc_int32_t cp;
  while (*p) {
    utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
    if (n <= 0) return 0;
    p += n;
  }
  return 1;
}

static double finite_or_nan(int has, double v) { return has && isfinite(v) ? v : NAN; }

static void redactions_json(const Escucha__V1__Redactions *r, char *out, size_t len) {
  out[0] = '\0';
  if (!r) return;
  snprintf(out, len,
           "{\"email\":%u,\"phone\":%u,\"rut\":%u,\"dni\":%u,\"cedula\":%u,\"card\":%u,"
           "\"iban\":%u}",
           r->email, r->phone, r->rut, r->dni, r->cedula, r->card, r->iban);
}

/* The classifier's top terms as a JSON array of strings; terms that are not
 * valid UTF-8, or that would not fit, are left out ("" when none). */
static void top_terms_json(const Escucha__V1__Classification *c, char *out, size_t len) {
  size_t o = 0, kept = 0;
  out[0] = '\0';
  if (len < 3) return;
  out[o++] = '[';
  for (size_t i = 0; i < c->n_top_terms; i++) {
    const char *t = c->top_terms[i];
    if (!t || !*t || !valid_utf8(t)) continue;
    char tmp[256];
    size_t k = 0;
    int fits = 1;
    tmp[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)t; *p && fits; p++) {
      if (k + 8 >= sizeof tmp) fits = 0;
      else if (*p == '"' || *p == '\\') tmp[k++] = '\\', tmp[k++] = (char)*p;
      else if (*p < 0x20) k += (size_t)snprintf(tmp + k, sizeof tmp - k, "\\u%04x", *p);
      else tmp[k++] = (char)*p;
    }
    tmp[k++] = '"';
    if (!fits || o + k + (kept ? 1 : 0) + 2 > len) continue;
    if (kept++) out[o++] = ',';
    memcpy(out + o, tmp, k);
    o += k;
  }
  if (!kept) {
    out[0] = '\0';
    return;
  }
  out[o++] = ']';
  out[o] = '\0';
}

/* Timestamps PostgreSQL accepts, kept to years 1..9999 (ms since 1970). */
#define MS_MIN (-62135596800000LL)
#define MS_MAX 253402300799999LL
static int64_t ms_or_unknown(int has, int64_t v) { return has && v >= MS_MIN && v <= MS_MAX ? v : 0; }

static int fail(char *why, size_t len, const char *msg) {
  snprintf(why, len, "%s", msg);
  return -1;
}

int pz_row_from_pb(const Escucha__V1__ClassifiedFeedback *m, pz_row *r, char *why, size_t wl) {
  memset(r, 0, sizeof *r);
  const Escucha__V1__Feedback *f = m->feedback;
  const Escucha__V1__Classification *c = m->classification;
  if (!f || !c) return fail(why, wl, "missing feedback or classification");
  if (!f->id || !*f->id) return fail(why, wl, "missing feedback.id");
  if (!f->agency || !*f->agency) return fail(why, wl, "missing feedback.agency");
  if (!f->has_received_at || f->received_at <= 0) return fail(why, wl, "missing received_at");
  /* Out of PostgreSQL's range it would fail the whole batch's COPY. */
  if (f->received_at > MS_MAX) return fail(why, wl, "received_at out of range");
  /* '*' is the reserved all-topics aggregate. */
  if (c->category && strcmp(c->category, "*") == 0) return fail(why, wl, "invalid category");
  const char *strs[] = {f->id,
                        f->agency,
                        f->service,
                        f->external_id,
                        f->text,
                        f->language,
                        f->content_hash,
                        c->category,
                        c->subcategory,
                        c->model_version,
                        f->location ? f->location->address : NULL,
                        c->urgent_reason,
                        c->predicted_subcategory};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (!valid_utf8(strs[i])) return fail(why, wl, "invalid UTF-8");
  r->id = f->id, r->agency = f->agency, r->service = f->service;
  r->channel = enum_name(&escucha__v1__channel__descriptor, f->has_channel, f->channel);
  r->external_id = f->external_id, r->text = f->text, r->language = f->language;
  r->created_at = ms_or_unknown(f->has_created_at, f->created_at);
  r->received_at = f->received_at;
  r->classified_at = ms_or_unknown(m->has_classified_at, m->classified_at);
  /* Out-of-range scores are dropped rather than rejecting the feedback. */
  r->nps = f->has_nps && f->nps >= 0 && f->nps <= 10 ? f->nps : -1;
  r->csat = f->has_csat && f->csat >= 1 && f->csat <= 5 ? f->csat : -1;
  r->category = c->category && *c->category ? c->category : "other";
  r->subcategory = c->subcategory && *c->subcategory ? c->subcategory : NULL;
  r->confidence = finite_or_nan(c->has_confidence, c->confidence);
  r->runner_up = finite_or_nan(c->has_runner_up, c->runner_up);
  r->predicted = c->predicted_subcategory && *c->predicted_subcategory ? c->predicted_subcategory : NULL;
  r->sentiment = enum_name(&escucha__v1__sentiment__descriptor, c->has_sentiment, c->sentiment);
  r->sentiment_score = finite_or_nan(c->has_sentiment_score, c->sentiment_score);
  r->journey_stage = enum_name(&escucha__v1__journey_stage__descriptor, c->has_journey_stage, c->journey_stage);
  r->urgent = c->has_urgent && c->urgent;
  r->urgent_reason = r->urgent && c->urgent_reason && *c->urgent_reason ? c->urgent_reason : NULL;
  r->urgent_confidence = r->urgent ? finite_or_nan(c->has_urgent_confidence, c->urgent_confidence) : NAN;
  r->model_version = c->model_version;
  r->content_hash = f->content_hash;
  redactions_json(f->redactions, r->redactions, sizeof r->redactions);
  const Escucha__V1__Location *loc = f->location;
  /* out-of-range coordinates are dropped rather than rejecting the feedback */
  if (loc && loc->has_lat && loc->has_lon && isfinite(loc->lat) && isfinite(loc->lon) && fabs(loc->lat) <= 90 &&
      fabs(loc->lon) <= 180)
    r->has_latlon = 1, r->lat = loc->lat, r->lon = loc->lon;
  r->address = loc && loc->address && *loc->address ? loc->address : NULL;
  top_terms_json(c, r->top_terms, sizeof r->top_terms);
  if (f->has_sealed_contact && f->sealed_contact.len) {
    static const char *const VIA[] = {"email", "whatsapp", "sms"};
    for (size_t i = 0; i < 3 && !r->contact_via; i++)
      if (f->contact_via && strcmp(f->contact_via, VIA[i]) == 0) r->contact_via = VIA[i];
    if (!r->contact_via) return fail(why, wl, "sealed_contact without a valid contact_via (email, whatsapp, sms)");
    r->sealed_contact = f->sealed_contact.data, r->sealed_len = f->sealed_contact.len;
  }
  return 0;
}

static double nan_to_zero(double v) { return isnan(v) ? 0.0 : v; }

void pz_priority_to_pb(const pz_priority *p, Escucha__V1__PriorityUpdate *u, Escucha__V1__WilsonInterval *ci,
                       Escucha__V1__PriorityUpdate__FactorsEntry *fe, Escucha__V1__PriorityUpdate__FactorsEntry **fv,
                       size_t *nf) {
  const pz_factors *f = &p->f;
  escucha__v1__priority_update__init(u);
  escucha__v1__wilson_interval__init(ci);
  u->agency = p->agency;
  u->topic = p->topic;
  u->window = (char *)PZ_WINDOW_NAMES[p->kind];
  u->has_window_start = 1, u->window_start = p->window_start;
  u->has_volume = 1, u->volume = f->volume;
  u->has_negative_share = 1, u->negative_share = f->negative_share;
  ci->has_low = 1, ci->low = f->negative_low, ci->has_high = 1, ci->high = f->negative_high;
  u->negative_ci = ci;
  u->has_spike_z = 1, u->spike_z = f->spike_z;
  u->has_spike_p = 1, u->spike_p = f->spike_p;
  u->has_baseline = 1, u->baseline = f->baseline;
  /* proto2 has_ flags carry "undefined" (no NPS answers) instead of NaN. */
  u->has_nps = !isnan(f->nps), u->nps = nan_to_zero(f->nps);
  u->has_nps_impact = !isnan(f->nps_impact), u->nps_impact = nan_to_zero(f->nps_impact);
  u->has_csat = !isnan(f->csat), u->csat = nan_to_zero(f->csat);
  u->has_csat_impact = !isnan(f->csat_impact), u->csat_impact = nan_to_zero(f->csat_impact);
  u->has_urgent = 1, u->urgent = f->urgent_share > 0.0;
  u->has_score = 1, u->score = f->score;
  u->has_rank = 1, u->rank = p->rank;
  u->explanation_es = p->expl_es;
  u->explanation_en = p->expl_en;
  const struct {
    const char *k;
    double v;
  } kv[] = {
      {"volume_share", f->volume_share}, {"negative_low", f->negative_low}, {"spike", f->c_spike}, {"nps", f->c_nps},
      {"urgency", f->c_urgency},         {"expected", f->expected},         {"level", p->level},
  };
  size_t n = sizeof kv / sizeof kv[0];
  for (size_t i = 0; i < n; i++) {
    escucha__v1__priority_update__factors_entry__init(&fe[i]);
    fe[i].key = (char *)kv[i].k;
    fe[i].has_value = 1;
    fe[i].value = kv[i].v;
    fv[i] = &fe[i];
  }
  u->n_factors = n;
  u->factors = fv;
  *nf = n;
}
