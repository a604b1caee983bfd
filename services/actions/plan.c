/* Plan assembly: drivers and concentrations, taxonomy playbook, templates
 * (es/en, plain language), idempotency key. */
#include "plan.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "escucha/v1/escucha.pb-c.h"
#include "util.h"

const char *const AC_DIM_NAMES[AC_NDIMS] = {"subcategory", "service", "channel", "location", "weekday", "hour"};

void ac_plan_key(const char *request_id, char out[64]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)(request_id ? request_id : ""), request_id ? strlen(request_id) : 0);
  memcpy(out, "esk-", 4);
  sodium_bin2hex(out + 4, 33, h, 16);
}

void ac_plan_from_request(ac_plan *p, const Escucha__V1__ActionRequest *req) {
  snprintf(p->agency, sizeof p->agency, "%s", req->agency);
  snprintf(p->topic, sizeof p->topic, "%s", req->topic);
  const Escucha__V1__PriorityUpdate *pu = req->priority;
  if (!pu) return;
  p->ev = (ac_evidence){(long)pu->volume,
                        pu->negative_share,
                        pu->negative_ci ? pu->negative_ci->low : 0,
                        pu->negative_ci ? pu->negative_ci->high : 0,
                        pu->spike_z,
                        pu->nps,
                        pu->nps_impact,
                        pu->csat,
                        pu->score,
                        (int)pu->rank,
                        pu->urgent,
                        pu->window,
                        pu->explanation_es,
                        pu->explanation_en,
                        pu->has_csat,
                        pu->csat_impact};
}

/* ---------- statistics (pure) ---------- */

void ac_wilson(long k, long n, double z, double *lo, double *hi) {
  if (n <= 0) {
    *lo = 0;
    *hi = 1;
    return;
  }
  double ph = (double)k / (double)n, z2 = z * z, nn = (double)n;
  double den = 1 + z2 / nn, mid = (ph + z2 / (2 * nn)) / den;
  double half = z * sqrt(ph * (1 - ph) / nn + z2 / (4 * nn * nn)) / den;
  *lo = mid - half < 0 ? 0 : mid - half;
  *hi = mid + half > 1 ? 1 : mid + half;
}

static int cmp_conc(const void *a, const void *b) {
  const ac_cell *x = a, *y = b;
  if (x->lift_lo != y->lift_lo) return x->lift_lo < y->lift_lo ? 1 : -1;
  if (x->lift != y->lift) return x->lift < y->lift ? 1 : -1;
  if (x->dim != y->dim) return x->dim - y->dim;
  return strcmp(x->key, y->key);
}

int ac_concentrations(const ac_cell *cells, size_t n, long agency_n, long agency_neg, ac_cell *out, int k) {
  if (agency_n <= 0 || agency_neg <= 0 || k <= 0) return 0;
  double base = (double)agency_neg / (double)agency_n;
  ac_cell *all = calloc(n ? n : 1, sizeof *all);
  int m = 0;
  if (!all) return 0;
  for (size_t i = 0; i < n; i++) {
    ac_cell c = cells[i];
    if (c.n < AC_CONC_MIN_N || c.neg < 0 || c.neg > c.n || !c.key[0]) continue;
    c.rate = (double)c.neg / (double)c.n;
    ac_wilson(c.neg, c.n, 1.96, &c.lo, &c.hi);
    if (!(c.lo > base)) continue; /* not clearly above the agency's rate */
    c.lift = c.rate / base;
    c.lift_lo = c.lo / base;
    c.lift_hi = c.hi / base;
    all[m++] = c;
  }
  qsort(all, (size_t)m, sizeof *all, cmp_conc);
  if (m > k) m = k;
  memcpy(out, all, sizeof *all * (size_t)m);
  free(all);
  return m;
}

void ac_stats_free(ac_stats *st) {
  free(st->cells);
  st->cells = NULL;
  st->ncells = 0;
}

static int cmp_driver(const void *a, const void *b) {
  const ac_driver *x = a, *y = b;
  if (x->neg != y->neg) return x->neg < y->neg ? 1 : -1;
  return strcmp(x->sub, y->sub);
}

void ac_plan_set_stats(ac_plan *p, const ac_stats *st) {
  p->has_stats = 1;
  p->st = *st;
  p->st.cells = NULL;
  p->st.ncells = 0;
  p->urgent_items = st->topic_urgent;
  /* A cell holding the whole topic says nothing about where: left out. */
  ac_cell *parts = calloc(st->ncells ? st->ncells : 1, sizeof *parts);
  size_t np = 0;
  for (size_t i = 0; parts && i < st->ncells; i++)
    if (st->cells[i].n < st->topic_n) parts[np++] = st->cells[i];
  p->nconc = parts ? ac_concentrations(parts, np, st->agency_n, st->agency_neg, p->conc, AC_PLAN_MAX_CONC) : 0;
  free(parts);
  /* Drivers: the subcategories holding the topic's negatives, largest first;
   * one that holds under a tenth of them is not a driver (unless first). */
  ac_driver all[64];
  int m = 0;
  for (size_t i = 0; i < st->ncells && m < 64; i++) {
    const ac_cell *c = &st->cells[i];
    if (c->dim != AC_DIM_SUB || c->neg <= 0 || !c->key[0]) continue;
    memset(&all[m], 0, sizeof all[m]);
    snprintf(all[m].sub, sizeof all[m].sub, "%s", c->key);
    all[m].n = c->n;
    all[m].neg = c->neg;
    m++;
  }
  qsort(all, (size_t)m, sizeof *all, cmp_driver);
  long tneg = st->topic_neg > 0 ? st->topic_neg : 1;
  p->ndrivers = 0;
  for (int i = 0; i < m && p->ndrivers < AC_PLAN_MAX_DRIVERS; i++) {
    all[i].share = (double)all[i].neg / (double)tneg;
    if (all[i].share > 1) all[i].share = 1;
    if (p->ndrivers && all[i].share < 0.1) break;
    p->drivers[p->ndrivers++] = all[i];
  }
}

/* ---------- evidence ---------- */

static int add_quotes(ac_plan *p, const ac_doc *docs, size_t n, int k, int driver) {
  size_t idx[AC_PLAN_MAX_QUOTES];
  if (k > AC_PLAN_MAX_QUOTES - p->nquotes) k = AC_PLAN_MAX_QUOTES - p->nquotes;
  if (k <= 0 || !n) return 0;
  int got = ac_typical_quotes(docs, n, k, idx);
  for (int i = 0; i < got; i++) {
    int q = p->nquotes;
    snprintf(p->quotes[q].id, sizeof p->quotes[q].id, "%s", docs[idx[i]].id ? docs[idx[i]].id : "");
    if (!(p->quotes[q].text = strdup(docs[idx[i]].text ? docs[idx[i]].text : ""))) return -1;
    p->quote_driver[q] = driver;
    p->nquotes = q + 1;
  }
  return 0;
}

int ac_plan_analyze(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr) {
  p->nterms = ac_logodds(topic, nt, rest, nr, 500.0, p->terms, AC_PLAN_MAX_TERMS);
  ac_doc *sub = calloc(nt ? nt : 1, sizeof *sub);
  if (!sub) return -1;
  int rc = 0;
  /* Quotes per driver: its negative comments (5 quotes: 5 / 3+2 / 2+2+1). */
  static const int QUOTA[3][3] = {{5, 0, 0}, {3, 2, 0}, {2, 2, 1}};
  for (int d = 0; d < p->ndrivers && rc == 0; d++) {
    size_t m = 0;
    for (size_t i = 0; i < nt; i++)
      if (topic[i].subcategory && strcmp(topic[i].subcategory, p->drivers[d].sub) == 0 &&
          topic[i].sentiment == AC_SENT_NEGATIVE)
        sub[m++] = topic[i];
    rc = add_quotes(p, sub, m, QUOTA[p->ndrivers - 1][d], d);
  }
  if (rc == 0 && p->nquotes == 0) rc = add_quotes(p, topic, nt, AC_PLAN_MAX_QUOTES, -1);
  /* Counter-example: what a positive comment on the same topic says works. */
  size_t m = 0;
  for (size_t i = 0; i < nt; i++)
    if (topic[i].sentiment == AC_SENT_POSITIVE && topic[i].text && *topic[i].text) sub[m++] = topic[i];
  if (rc == 0 && m) {
    size_t idx = 0;
    if (ac_typical_quotes(sub, m, 1, &idx) != 1) idx = 0;
    snprintf(p->counter.id, sizeof p->counter.id, "%s", sub[idx].id ? sub[idx].id : "");
    if (!(p->counter.text = strdup(sub[idx].text))) rc = -1;
  }
  free(sub);
  return rc;
}

void ac_plan_new_terms(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *base, size_t nb) {
  ac_term t[AC_PLAN_MAX_NEW_TERMS];
  p->nnew_terms = 0;
  if (!nb) return; /* without a baseline every word is "new": say nothing */
  int n = ac_logodds(topic, nt, base, nb, 500.0, t, AC_PLAN_MAX_NEW_TERMS);
  for (int i = 0; i < n; i++)
    if (t[i].z > 1.96) p->new_terms[p->nnew_terms++] = t[i];
}

/* ---------- playbook ---------- */

static const char *lang_str(json_t *v, const char *lang) {
  if (json_is_string(v)) return json_string_value(v);
  const char *s = json_string_value(json_object_get(v, lang));
  return s ? s : json_string_value(json_object_get(v, "es"));
}

static const char *action_text(json_t *a, const char *lang) {
  const char *s = lang_str(a, lang);
  if (!s && json_is_object(a)) s = lang_str(json_object_get(a, "title"), lang);
  return s && *s ? s : NULL;
}

static void add_recs(ac_plan *p, json_t *arr, const char *lang) {
  size_t i;
  json_t *a;
  json_array_foreach(arr, i, a) {
    const char *s = action_text(a, lang);
    if (s && p->nrecs < AC_PLAN_MAX_RECS && (p->recs[p->nrecs] = strdup(s))) p->nrecs++;
  }
}

int ac_driver_recs(const double *shares, json_t *const *actions, int nd, const char *lang, char **out, int max) {
  int n = 0;
  /* Largest remaining score first (D'Hondt): a driver with twice the share
   * gets its second action before the other's first. */
  size_t next[AC_PLAN_MAX_DRIVERS] = {0};
  if (nd > AC_PLAN_MAX_DRIVERS) nd = AC_PLAN_MAX_DRIVERS;
  while (n < max) {
    int best = -1;
    double bs = 0;
    for (int d = 0; d < nd; d++) {
      if (next[d] >= json_array_size(actions[d]) || !(shares[d] > 0)) continue;
      double sc = shares[d] / (double)(next[d] + 1);
      if (best < 0 || sc > bs) best = d, bs = sc;
    }
    if (best < 0) break;
    const char *s = action_text(json_array_get(actions[best], next[best]++), lang);
    int dup = !s;
    for (int i = 0; i < n && !dup; i++) dup = strcmp(out[i], s) == 0;
    if (!dup && (out[n] = strdup(s))) n++;
  }
  return n;
}

/* The subcategory of category cat with id sid ("cat/sub" or "sub"). */
static json_t *find_sub(json_t *cat, const char *sid) {
  json_t *s;
  size_t j;
  const char *slash = strchr(sid, '/');
  json_array_foreach(json_object_get(cat, "subcategories"), j, s) {
    const char *id = json_string_value(json_object_get(s, "id"));
    if (id && (strcmp(id, sid) == 0 || (slash && strcmp(id, slash + 1) == 0))) return s;
  }
  return NULL;
}

/* sla_days: a number of days, or {"urgent": n, "normal": n}. 0: not set. */
static int sla_of(json_t *o, int urgent) {
  json_t *v = json_object_get(o, "sla_days");
  if (json_is_object(v)) v = json_object_get(v, urgent ? "urgent" : "normal");
  json_int_t d = json_is_integer(v) ? json_integer_value(v) : 0;
  return d > 0 && d <= 365 ? (int)d : 0;
}

static void owner_of(ac_plan *p, json_t *routing) {
  const char *o = json_string_value(json_object_get(routing, "assignee"));
  if (!o || !*o) o = json_string_value(json_object_get(routing, "team"));
  if (o && *o && !p->owner[0]) snprintf(p->owner, sizeof p->owner, "%s", o);
}

json_t *ac_plan_playbook(ac_plan *p, json_t *tax, const char *lang) {
  json_t *cats = json_object_get(tax, "categories"), *cat, *routing = NULL;
  size_t i;
  char catid[128];
  snprintf(catid, sizeof catid, "%s", p->topic);
  char *slash = strchr(catid, '/');
  if (slash) *slash = 0;
  int urgent = p->urgent_items > 0, sla = 0;
  json_array_foreach(cats, i, cat) {
    if (strcmp(json_string_value(json_object_get(cat, "id")) ?: "", catid) != 0) continue;
    json_t *labels = json_object_get(cat, "labels"), *sub = slash ? find_sub(cat, p->topic) : NULL;
    routing = json_object_get(cat, "routing");
    /* Drivers: their labels, and their actions weighted by their share. */
    json_t *acts[AC_PLAN_MAX_DRIVERS] = {0};
    double shares[AC_PLAN_MAX_DRIVERS] = {0};
    for (int d = 0; d < p->ndrivers; d++) {
      json_t *ds = find_sub(cat, p->drivers[d].sub);
      json_t *dl = json_object_get(ds, "labels");
      snprintf(p->drivers[d].label_es, sizeof p->drivers[d].label_es, "%s", lang_str(dl, "es") ?: p->drivers[d].sub);
      snprintf(p->drivers[d].label_en, sizeof p->drivers[d].label_en, "%s", lang_str(dl, "en") ?: p->drivers[d].sub);
      acts[d] = json_object_get(ds, "actions");
      if (!json_array_size(acts[d])) acts[d] = json_object_get(ds, "recommended_actions");
      shares[d] = p->drivers[d].share;
      if (d == 0 && ds) {
        owner_of(p, json_object_get(ds, "routing"));
        sla = sla_of(ds, urgent);
      }
    }
    int nd = ac_driver_recs(shares, acts, p->ndrivers, lang, p->recs, AC_PLAN_MAX_DRIVER_RECS);
    p->nrecs = nd;
    if (sub) {
      labels = json_object_get(sub, "labels");
      if (json_object_get(sub, "routing")) routing = json_object_get(sub, "routing");
      if (!sla) sla = sla_of(sub, urgent);
      if (!nd) {
        add_recs(p, json_object_get(sub, "recommended_actions"), lang);
        add_recs(p, json_object_get(sub, "actions"), lang);
      }
    }
    if (!nd) {
      add_recs(p, json_object_get(cat, "recommended_actions"), lang);
      add_recs(p, json_object_get(cat, "actions"), lang);
    }
    if (!sla) sla = sla_of(cat, urgent);
    owner_of(p, routing);
    snprintf(p->label_es, sizeof p->label_es, "%s", lang_str(labels, "es") ?: p->topic);
    snprintf(p->label_en, sizeof p->label_en, "%s", lang_str(labels, "en") ?: p->topic);
    break;
  }
  /* Default SLA (docs/actions.md): 2 days with urgent items, else 14. */
  p->sla_days = sla ? sla : urgent ? 2 : 14;
  if (!p->label_es[0]) snprintf(p->label_es, sizeof p->label_es, "%s", p->topic);
  if (!p->label_en[0]) snprintf(p->label_en, sizeof p->label_en, "%s", p->topic);
  if (!p->nrecs) { /* no playbook entry: a generic, still actionable step */
    p->generic_rec = 1;
    p->recs[p->nrecs] = strdup(
        strcmp(lang, "en") == 0 ? "Review the quoted cases with the service owner and define a fix"
                                : "Revisar los casos citados con el responsable del servicio y definir una corrección");
    if (p->recs[p->nrecs]) p->nrecs++;
  }
  return routing;
}

/* ---------- plain-language text ---------- */

/* A share as "6 de cada 10" / "6 in 10" (rounded to tenths, the extremes said
 * in words). cap: capital first letter, for a sentence start. */
static void frac10(double r, int en, int cap, char *out, size_t n) {
  int t = (int)lround(r * 10);
  if (r >= 1) snprintf(out, n, "%s", en ? "all" : "todos");
  else if (t >= 10) snprintf(out, n, "%s", en ? "almost all" : "casi todos");
  else if (t <= 0) snprintf(out, n, "%s", en ? "fewer than 1 in 10" : "menos de 1 de cada 10");
  else snprintf(out, n, en ? "%d in 10" : "%d de cada 10", t);
  if (cap && out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 'a' + 'A');
}

/* A ratio with one decimal ("4,5" in Spanish), none from 10 up. */
static void times(double x, int en, char *out, size_t n) {
  if (x >= 10 || fabs(x - round(x)) < 0.05) snprintf(out, n, "%.0f", x);
  else {
    snprintf(out, n, "%.1f", x);
    char *dot = strchr(out, '.');
    if (dot && !en) *dot = ',';
  }
}

static const char *window_phrase(const char *w, int en) {
  if (w && strcmp(w, "hour") == 0) return en ? "the last hour" : "la última hora";
  if (w && strcmp(w, "week") == 0) return en ? "the last week" : "la última semana";
  return en ? "the last day" : "el último día";
}

static const char *sub_label(const ac_plan *p, const char *sub, int en) {
  for (int d = 0; d < p->ndrivers; d++)
    if (strcmp(p->drivers[d].sub, sub) == 0 && p->drivers[d].label_es[0])
      return en ? p->drivers[d].label_en : p->drivers[d].label_es;
  return sub;
}

/* Where a concentration is, as a phrase ("el servicio «X»"). */
static void where_phrase(const ac_plan *p, const ac_cell *c, int en, char *out, size_t n) {
  static const char *const DAYS_ES[] = {"los lunes",   "los martes",  "los miércoles", "los jueves",
                                        "los viernes", "los sábados", "los domingos"};
  static const char *const DAYS_EN[] = {"on Mondays", "on Tuesdays",  "on Wednesdays", "on Thursdays",
                                        "on Fridays", "on Saturdays", "on Sundays"};
  int v = atoi(c->key);
  switch (c->dim) {
    case AC_DIM_SUB: snprintf(out, n, en ? "the subtopic \"%s\"" : "el subtema «%s»", sub_label(p, c->key, en)); break;
    case AC_DIM_SERVICE: snprintf(out, n, en ? "the service \"%s\"" : "el servicio «%s»", c->key); break;
    case AC_DIM_CHANNEL: snprintf(out, n, en ? "the channel %s" : "el canal %s", c->key); break;
    case AC_DIM_LOCATION: snprintf(out, n, en ? "the place \"%s\"" : "el lugar «%s»", c->key); break;
    case AC_DIM_WEEKDAY: snprintf(out, n, "%s", v >= 1 && v <= 7 ? (en ? DAYS_EN : DAYS_ES)[v - 1] : c->key); break;
    case AC_DIM_HOUR:
      snprintf(out, n, en ? "between %d:00 and %d:00 (UTC)" : "entre las %d y las %d h (UTC)", v, (v + 1) % 24);
      break;
    default: snprintf(out, n, "%s", c->key);
  }
}

static double agency_rate(const ac_plan *p) {
  return p->st.agency_n > 0 ? (double)p->st.agency_neg / (double)p->st.agency_n : -1;
}

char *ac_plan_success(const ac_plan *p, const char *lang) {
  int en = lang && strcmp(lang, "en") == 0;
  es_buf b = {0};
  char now[40], goal[40];
  double ar = agency_rate(p);
  double cur =
      p->has_stats && p->st.topic_n > 0 ? (double)p->st.topic_neg / (double)p->st.topic_n : p->ev.negative_share;
  frac10(cur, en, 0, now, sizeof now);
  if (ar >= 0) {
    frac10(ar, en, 0, goal, sizeof goal);
    es_buf_printf(&b,
                  en ? "For 2 weeks in a row, at most %s comments on this topic are negative (%.0f%%, the rate of the "
                       "whole agency). Today it is %s."
                     : "Durante 2 semanas seguidas, como mucho %s comentarios de este tema son negativos (%.0f%%, la "
                       "tasa de toda la institución). Hoy son %s.",
                  goal, ar * 100, now);
  } else {
    es_buf_printf(&b,
                  en ? "For 2 weeks in a row, fewer negative comments on this topic than today (%s)."
                     : "Durante 2 semanas seguidas, menos comentarios negativos en este tema que hoy (%s).",
                  now);
  }
  if (p->has_stats && p->ev.spike_z > 2 && p->st.base_n > 0 && p->st.base_days > 0) {
    double bw = (double)p->st.base_n * 7.0 / p->st.base_days;
    es_buf_printf(&b,
                  en ? " And the volume is back to about %.0f comments a week, as before."
                     : " Y el volumen vuelve a unos %.0f comentarios por semana, como antes.",
                  bw < 1 ? 1 : bw);
  }
  return b.data;
}

static void summary_lang(const ac_plan *p, es_buf *b, int en) {
  const ac_evidence *e = &p->ev;
  char f[48], g[48], x[16], w[400];
  es_buf_printf(b, en ? "\"%s\": %ld comments in %s. " : "«%s»: %ld comentarios en %s. ",
                en ? p->label_en : p->label_es, e->volume, window_phrase(e->window, en));
  frac10(e->negative_share, en, 1, f, sizeof f);
  es_buf_printf(b, en ? "%s are negative (%.0f%%). " : "%s son negativos (%.0f%%). ", f, e->negative_share * 100);
  double ar = agency_rate(p);
  if (ar >= 0) {
    frac10(ar, en, 0, g, sizeof g);
    es_buf_printf(b, en ? "Across the agency it is %s. " : "En toda la institución son %s. ", g);
  }
  if (e->spike_z > 2) es_buf_puts(b, en ? "This is an unusual rise. " : "Es un aumento fuera de lo normal. ");
  if (p->has_stats && p->st.days > 0 && p->st.base_days > 0) {
    int weeks = (p->st.base_days + 6) / 7;
    if (p->st.base_n == 0 && p->st.topic_n > 0)
      es_buf_printf(b,
                    en ? "It is a new topic: no comments in the %d weeks before. "
                       : "Es un tema nuevo: no hubo comentarios en las %d semanas anteriores. ",
                    weeks);
    else if (p->st.base_n > 0) {
      double bw = (double)p->st.base_n * 7.0 / p->st.base_days, cw = (double)p->st.topic_n * 7.0 / p->st.days;
      es_buf_printf(b,
                    en ? "Before, about %.0f comments came in a week; now about %.0f. "
                       : "Antes llegaban unos %.0f comentarios por semana; ahora, unos %.0f. ",
                    bw, cw);
      frac10((double)p->st.base_neg / (double)p->st.base_n, en, 0, g, sizeof g);
      es_buf_printf(b, en ? "Before, %s were negative. " : "Antes eran negativos %s. ", g);
    }
  }
  for (int d = 0; d < p->ndrivers && d < 2; d++) {
    frac10(p->drivers[d].share, en, en, f, sizeof f);
    if (en) es_buf_printf(b, "%s negative comments are about \"%s\". ", f, p->drivers[d].label_en);
    else es_buf_printf(b, "«%s» reúne %s comentarios negativos. ", p->drivers[d].label_es, f);
  }
  if (p->nconc) {
    where_phrase(p, &p->conc[0], en, w, sizeof w);
    frac10(p->conc[0].rate, en, 0, f, sizeof f);
    times(p->conc[0].lift, en, x, sizeof x);
    es_buf_printf(b,
                  en ? "Most are in %s. There, %s are negative. That is %s times the rate of the agency. "
                     : "Se concentran sobre todo en %s. Allí son negativos %s. Es %s veces la tasa de la institución. ",
                  w, f, x);
  }
  if (e->nps_impact <= -0.5 || e->nps_impact >= 0.5)
    es_buf_printf(
        b,
        en ? "It %s the recommend score (NPS) by %.0f points. " : "%s en %.0f puntos la nota de recomendación (NPS). ",
        e->nps_impact < 0 ? (en ? "lowers" : "Baja") : (en ? "raises" : "Sube"), fabs(e->nps_impact));
  if (e->has_csat) {
    frac10(e->csat / 100.0, en, 0, f, sizeof f);
    es_buf_printf(b,
                  en ? "Of those who rated it, %s are satisfied (%.0f%%). "
                     : "De quienes lo evaluaron, están satisfechos %s (%.0f%%). ",
                  f, e->csat);
    if (e->csat_impact <= -0.5)
      es_buf_printf(b,
                    en ? "It lowers the agency's satisfaction by %.0f points. "
                       : "Baja en %.0f puntos la satisfacción de toda la institución. ",
                    -e->csat_impact);
  }
  if (p->urgent_items == 1)
    es_buf_puts(b, en ? "1 comment is marked urgent. Review it today. "
                      : "1 comentario está marcado como urgente. Revíselo hoy. ");
  else if (p->urgent_items > 1)
    es_buf_printf(b,
                  en ? "%ld comments are marked urgent. Review them today. "
                     : "%ld comentarios están marcados como urgentes. Revíselos hoy. ",
                  p->urgent_items);
  if (e->rank > 0) es_buf_printf(b, en ? "It is priority number %d. " : "Es la prioridad número %d. ", e->rank);
  if (p->nterms) {
    es_buf_puts(b, en ? "Frequent words: " : "Palabras frecuentes: ");
    for (int i = 0; i < p->nterms && i < 5; i++) es_buf_printf(b, "%s%s", i ? ", " : "", p->terms[i].term);
    es_buf_puts(b, ". ");
  }
  if (p->nnew_terms) {
    es_buf_puts(b, en ? "New words: " : "Palabras nuevas: ");
    for (int i = 0; i < p->nnew_terms; i++) es_buf_printf(b, "%s%s", i ? ", " : "", p->new_terms[i].term);
    es_buf_puts(b, ". ");
  }
  if (b->data && b->len && b->data[b->len - 1] == ' ') b->data[--b->len] = 0;
}

int ac_plan_summarize(ac_plan *p) {
  es_buf es = {0}, en = {0};
  summary_lang(p, &es, 0);
  summary_lang(p, &en, 1);
  if (!es.data || !en.data) {
    es_buf_free(&es);
    es_buf_free(&en);
    return -1;
  }
  free(p->summary_es);
  free(p->summary_en);
  p->summary_es = es.data;
  p->summary_en = en.data;
  return 0;
}

char *ac_plan_title(const ac_plan *p, const char *lang) {
  es_buf b = {0};
  int en = lang && strcmp(lang, "en") == 0;
  char urg[48] = "";
  /* Urgent only from items flagged urgent, with their count. */
  if (p->urgent_items > 0) snprintf(urg, sizeof urg, "%s (%ld) ", en ? "URGENT" : "URGENTE", p->urgent_items);
  es_buf_printf(&b, "[Escucha] %s%s — %s (%ld, #%d)", urg, en ? p->label_en : p->label_es, p->agency, p->ev.volume,
                p->ev.rank);
  return b.data;
}

/* The dashboard link of an item: our own configured base (only plain URL
 * characters, else no link) and the id percent-encoded, so no markup can
 * ride on either. */
static int item_link(es_buf *b, const char *base, const char *id, int markup, int en) {
  if (!base || !*base || !id || !*id) return 0;
  if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) return 0;
  for (const char *c = base; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-._~:/%", *c)))
      return 0;
  es_buf u = {0};
  int rc = es_buf_printf(&u, "%s%s#/feedback/", base, base[strlen(base) - 1] == '/' ? "" : "/");
  for (const unsigned char *c = (const unsigned char *)id; *c; c++)
    rc |= ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')
              ? es_buf_printf(&u, "%c", *c)
              : es_buf_printf(&u, "%%%02X", *c);
  if (rc || !u.data) {
    es_buf_free(&u);
    return -1;
  }
  const char *see = en ? "See it in the dashboard" : "Verlo en el panel";
  if (markup == AC_MU_HTML) rc = es_buf_printf(b, "<p><a href=\"%s\">%s</a></p>\n", u.data, see);
  else rc = es_buf_printf(b, "%s: %s\n\n", see, u.data);
  es_buf_free(&u);
  return rc;
}

static int section(es_buf *b, const char *title, int html) {
  return es_buf_printf(b, html ? "<h3>%s</h3>\n" : "%s\n\n", title);
}

/* One sentence of ours as a paragraph (html) or a "- " line. */
static int item(es_buf *b, const char *text, int markup, int bullet) {
  int html = markup == AC_MU_HTML;
  int rc = es_buf_puts(b, html ? (bullet ? "<li>" : "<p>") : (bullet ? "- " : ""));
  rc |= ac_text_inline(b, text, markup);
  rc |= es_buf_puts(b, html ? (bullet ? "</li>\n" : "</p>\n") : "\n");
  return rc;
}

/* The "where" lines, one per concentration (es or en). */
static int where_lines(const ac_plan *p, es_buf *b, int en, int markup) {
  int rc = 0, html = markup == AC_MU_HTML;
  char f[48], w[400], x[3][16];
  double ar = agency_rate(p);
  es_buf t = {0};
  if (ar >= 0) {
    frac10(ar, en, 0, f, sizeof f);
    es_buf_printf(&t,
                  en ? "Across the agency, %s comments are negative (%.0f%%)."
                     : "En toda la institución, %s comentarios son negativos (%.0f%%).",
                  f, ar * 100);
    rc |= item(b, t.data ? t.data : "", markup, 0);
    t.len = 0;
  }
  if (!p->nconc) {
    rc |= item(b,
               en ? "No service, channel, place or time stands out more than chance explains."
                  : "Ningún servicio, canal, lugar u horario destaca más de lo que explica el azar.",
               markup, 0);
    es_buf_free(&t);
    return rc;
  }
  if (html) rc |= es_buf_puts(b, "<ul>\n");
  for (int i = 0; i < p->nconc; i++) {
    const ac_cell *c = &p->conc[i];
    where_phrase(p, c, en, w, sizeof w);
    frac10(c->rate, en, 0, f, sizeof f);
    if (!en && (strcmp(f, "todos") == 0 || strcmp(f, "casi todos") == 0))
      strcat(f, " los"); /* "todos los comentarios" */
    times(c->lift, en, x[0], sizeof x[0]);
    times(c->lift_lo, en, x[1], sizeof x[1]);
    times(c->lift_hi, en, x[2], sizeof x[2]);
    if (t.data) t.data[t.len = 0] = 0;
    es_buf_printf(&t,
                  en ? "In %s, %s comments are negative (%ld of %ld). That is %s times the agency's rate (between %s "
                       "and %s, with 95%% confidence)."
                     : "En %s, %s comentarios son negativos (%ld de %ld). Es %s veces la tasa de la institución (entre "
                       "%s y %s, con 95%% de confianza).",
                  w, f, c->neg, c->n, x[0], x[1], x[2]);
    if (t.data) t.data[0] = (char)(t.data[0] == 'e' ? 'E' : t.data[0]);
    rc |= item(b, t.data ? t.data : "", markup, 1);
  }
  if (html) rc |= es_buf_puts(b, "</ul>\n");
  es_buf_free(&t);
  return rc;
}

char *ac_plan_body(const ac_plan *p, const char *lang, int markup) {
  int en = lang && strcmp(lang, "en") == 0, html = markup == AC_MU_HTML, rc = 0;
  es_buf b = {0};
  const char *sum = en ? p->summary_en : p->summary_es;
  char f[48];
  /* Summary (possibly the LLM's) and recommendations (the taxonomy's) are
   * text too: escaped, so "#1" or "@team" in them cannot link or notify. */
  rc |= section(&b, en ? "Problem summary" : "Resumen del problema", html);
  rc |= es_buf_puts(&b, html ? "<p>" : "");
  rc |= ac_text_inline(&b, sum ? sum : "", markup);
  rc |= es_buf_puts(&b, html ? "</p>\n" : "\n\n");
  if (p->has_stats) {
    rc |= section(&b, en ? "Where the negative comments concentrate" : "Dónde se concentran los comentarios negativos",
                  html);
    rc |= where_lines(p, &b, en, markup);
    rc |= es_buf_puts(&b, html ? "" : "\n");
  }
  rc |= section(&b, en ? "Recommended actions" : "Acciones recomendadas", html);
  rc |= es_buf_puts(&b, html ? "<ul>\n" : "");
  for (int i = 0; i < p->nrecs; i++) rc |= item(&b, p->recs[i], markup, 1);
  rc |= es_buf_puts(&b, html ? "</ul>\n" : "\n");
  /* Owner, due date and what counts as fixed. */
  rc |= section(&b, en ? "Owner, due date and goal" : "Responsable, plazo y meta", html);
  rc |= es_buf_puts(&b, html ? "<ul>\n" : "");
  es_buf t = {0};
  if (p->owner[0]) es_buf_printf(&t, en ? "Owner: %s." : "Responsable: %s.", p->owner);
  else es_buf_puts(&t, en ? "Owner: the service's manager." : "Responsable: la jefatura del servicio.");
  rc |= item(&b, t.data ? t.data : "", markup, 1);
  if (t.data) t.data[t.len = 0] = 0;
  if (p->due[0]) es_buf_printf(&t, en ? "Due: %s (%d days)." : "Plazo: %s (%d días).", p->due, p->sla_days);
  else es_buf_printf(&t, en ? "Due: %d days after opening." : "Plazo: %d días desde la apertura.", p->sla_days);
  rc |= item(&b, t.data ? t.data : "", markup, 1);
  es_buf_free(&t);
  char *goal = ac_plan_success(p, lang);
  es_buf g = {0};
  es_buf_printf(&g, "%s %s", en ? "Goal:" : "Meta:", goal ? goal : "");
  rc |= goal && g.data ? item(&b, g.data, markup, 1) : -1;
  free(goal);
  es_buf_free(&g);
  rc |= es_buf_puts(&b, html ? "</ul>\n" : "\n");
  rc |= section(&b, en ? "Representative comments" : "Comentarios representativos", html);
  /* Citizen text: every line quoted; each quote a block of its own. */
  int last = -2;
  for (int i = 0; i < p->nquotes; i++) {
    int d = p->quote_driver[i];
    if (d >= 0 && d < p->ndrivers && d != last) {
      frac10(p->drivers[d].share, en, 0, f, sizeof f);
      es_buf h = {0};
      es_buf_printf(&h, en ? "\"%s\" (%s negative comments):" : "«%s» (%s comentarios negativos):",
                    en ? p->drivers[d].label_en : p->drivers[d].label_es, f);
      rc |= h.data ? item(&b, h.data, markup, 0) : -1;
      es_buf_free(&h);
      if (!html) rc |= es_buf_puts(&b, "\n");
    }
    last = d;
    rc |= ac_text_quote(&b, p->quotes[i].text, p->quotes[i].id, markup);
    if (!html) rc |= es_buf_puts(&b, "\n");
    rc |= item_link(&b, p->dashboard, p->quotes[i].id, markup, en);
  }
  if (p->counter.text) {
    rc |= section(&b, en ? "What works (a positive comment)" : "Lo que funciona (un comentario positivo)", html);
    rc |= ac_text_quote(&b, p->counter.text, p->counter.id, markup);
    if (!html) rc |= es_buf_puts(&b, "\n");
    rc |= item_link(&b, p->dashboard, p->counter.id, markup, en);
  }
  /* The marker lets a restarted service find the ticket by searching. It is
   * the only line that starts with it (ac_has_marker wants a line start, and
   * citizen lines are quoted and neutralized). */
  rc |= es_buf_printf(&b, html ? "<p><small>plan %s<br>\n%s%s</small></p>\n" : "plan %s\n%s%s\n", p->id,
                      AC_MARKER_PREFIX, p->idem_key);
  if (rc || !b.data) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

json_t *ac_plan_recs_json(const ac_plan *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->nrecs; i++) json_array_append_new(a, json_string(p->recs[i]));
  return a;
}

json_t *ac_plan_quotes_json(const ac_plan *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->nquotes; i++) {
    int d = p->quote_driver[i];
    json_array_append_new(a, json_pack("{s:s, s:s, s:s?}", "feedback_id", p->quotes[i].id, "text", p->quotes[i].text,
                                       "subcategory", d >= 0 && d < p->ndrivers ? p->drivers[d].sub : NULL));
  }
  return a;
}

json_t *ac_plan_detail_json(const ac_plan *p) {
  json_t *drv = json_array(), *conc = json_array();
  for (int d = 0; d < p->ndrivers; d++)
    json_array_append_new(
        drv, json_pack("{s:s, s:s, s:s, s:I, s:I, s:f}", "subcategory", p->drivers[d].sub, "label_es",
                       p->drivers[d].label_es, "label_en", p->drivers[d].label_en, "n", (json_int_t)p->drivers[d].n,
                       "negatives", (json_int_t)p->drivers[d].neg, "share", p->drivers[d].share));
  for (int i = 0; i < p->nconc; i++) {
    const ac_cell *c = &p->conc[i];
    json_array_append_new(conc, json_pack("{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "dimension",
                                          AC_DIM_NAMES[c->dim], "value", c->key, "n", (json_int_t)c->n, "negatives",
                                          (json_int_t)c->neg, "rate", c->rate, "rate_low", c->lo, "rate_high", c->hi,
                                          "lift", c->lift, "lift_low", c->lift_lo, "lift_high", c->lift_hi));
  }
  char *ses = ac_plan_success(p, "es"), *sen = ac_plan_success(p, "en");
  double ar = agency_rate(p);
  json_t *succ =
      json_pack("{s:s, s:i, s:s?, s:s?}", "kind", "negative_share_below", "weeks", 2, "text_es", ses, "text_en", sen);
  if (ar >= 0) json_object_set_new(succ, "target_negative_share", json_real(ar));
  if (p->has_stats && p->ev.spike_z > 2 && p->st.base_n > 0 && p->st.base_days > 0)
    json_object_set_new(succ, "target_volume_per_week", json_real((double)p->st.base_n * 7.0 / p->st.base_days));
  free(ses);
  free(sen);
  json_t *nt = json_array();
  for (int i = 0; i < p->nnew_terms; i++) json_array_append_new(nt, json_string(p->new_terms[i].term));
  json_t *d = json_pack("{s:o, s:o, s:o, s:I, s:s, s:i, s:o}", "drivers", drv, "concentrations", conc, "success", succ,
                        "urgent_items", (json_int_t)p->urgent_items, "owner", p->owner, "sla_days", p->sla_days,
                        "new_terms", nt);
  if (!d) return NULL;
  if (p->has_stats)
    json_object_set_new(d, "counts",
                        json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "days", p->st.days, "base_days",
                                  p->st.base_days, "agency_n", (json_int_t)p->st.agency_n, "agency_negatives",
                                  (json_int_t)p->st.agency_neg, "topic_n", (json_int_t)p->st.topic_n, "topic_negatives",
                                  (json_int_t)p->st.topic_neg, "topic_positives", (json_int_t)p->st.topic_pos, "base_n",
                                  (json_int_t)p->st.base_n, "base_negatives", (json_int_t)p->st.base_neg));
  if (p->counter.text)
    json_object_set_new(d, "counter_example",
                        json_pack("{s:s, s:s}", "feedback_id", p->counter.id, "text", p->counter.text));
  json_object_set_new(d, "generic_recommendation", json_boolean(p->generic_rec));
  return d;
}

json_t *ac_plan_snapshot_json(const ac_plan *p) {
  json_t *drv = json_array();
  for (int d = 0; d < p->ndrivers; d++)
    json_array_append_new(
        drv, json_pack("{s:s, s:s, s:s, s:f}", "subcategory", p->drivers[d].sub, "label_es", p->drivers[d].label_es,
                       "label_en", p->drivers[d].label_en, "share", p->drivers[d].share));
  json_t *o = json_pack("{s:I, s:I, s:i, s:o}", "topic_n", (json_int_t)p->st.topic_n, "topic_negatives",
                        (json_int_t)p->st.topic_neg, "days", p->st.days, "drivers", drv);
  if (o && p->nconc)
    json_object_set_new(o, "top",
                        json_pack("{s:s, s:s}", "dimension", AC_DIM_NAMES[p->conc[0].dim], "value", p->conc[0].key));
  return o;
}

/* Driver ids of a snapshot, sorted, joined by ',' (for comparison). */
static void driver_set(const json_t *drivers, char *out, size_t n) {
  const char *ids[AC_PLAN_MAX_DRIVERS];
  size_t k = 0, i;
  json_t *d;
  json_array_foreach(drivers, i, d) {
    const char *id = json_string_value(json_object_get(d, "subcategory"));
    if (id && k < AC_PLAN_MAX_DRIVERS) ids[k++] = id;
  }
  for (size_t a = 1; a < k; a++) /* insertion sort: at most 3 */
    for (size_t b = a; b > 0 && strcmp(ids[b - 1], ids[b]) > 0; b--) {
      const char *t = ids[b];
      ids[b] = ids[b - 1];
      ids[b - 1] = t;
    }
  out[0] = 0;
  for (size_t j = 0; j < k; j++) snprintf(out + strlen(out), n - strlen(out), "%s%s", j ? "," : "", ids[j]);
}

int ac_plan_change(const json_t *rep, const ac_plan *p, const char *lang, char **text, char hash[65]) {
  *text = NULL;
  hash[0] = 0;
  if (!json_is_object(rep) || !p->has_stats) return 0;
  int en = lang && strcmp(lang, "en") == 0;
  long pn = (long)json_integer_value(json_object_get(rep, "topic_n")), cn = p->st.topic_n;
  json_t *pd = json_object_get(rep, "drivers");
  char was[400], now[400];
  driver_set(pd, was, sizeof was);
  json_t *cur = ac_plan_snapshot_json(p);
  driver_set(json_object_get(cur, "drivers"), now, sizeof now);
  json_decref(cur);
  int grew = cn >= pn * 3 / 2 && cn - pn >= 5, shrank = cn * 2 <= pn && pn - cn >= 5;
  /* drivers changed: another set, or another one first */
  const char *pfirst = json_string_value(json_object_get(json_array_get(pd, 0), "subcategory"));
  int drivers =
      was[0] && now[0] && (strcmp(was, now) != 0 || (pfirst && p->ndrivers && strcmp(pfirst, p->drivers[0].sub) != 0));
  if (!grew && !shrank && !drivers) return 0;
  es_buf b = {0}, k = {0};
  char f[48];
  es_buf_puts(&b, en ? "Plan update. " : "Actualización del plan. ");
  if (grew || shrank)
    es_buf_printf(&b,
                  en ? "The topic %s: %ld comments in the last %d days, %ld before. "
                     : "El tema %s: %ld comentarios en los últimos %d días; antes eran %ld. ",
                  grew ? (en ? "grew" : "creció") : (en ? "shrank" : "bajó"), cn, p->st.days, pn);
  if (drivers && p->ndrivers) {
    const char *old = json_string_value(json_object_get(json_array_get(pd, 0), en ? "label_en" : "label_es"));
    frac10(p->drivers[0].share, en, 0, f, sizeof f);
    es_buf_printf(&b,
                  en ? "What weighs most changed: now \"%s\" (%s negative comments)"
                     : "Cambió lo que más pesa: ahora «%s» (%s comentarios negativos)",
                  en ? p->drivers[0].label_en : p->drivers[0].label_es, f);
    if (old && *old) es_buf_printf(&b, en ? "; before \"%s\". " : "; antes «%s». ", old);
    else es_buf_puts(&b, ". ");
  }
  if (p->st.topic_n > 0) {
    frac10((double)p->st.topic_neg / (double)p->st.topic_n, en, 0, f, sizeof f);
    es_buf_printf(&b, en ? "Now %s are negative. " : "Ahora son negativos %s. ", f);
  }
  if (p->nrecs && !p->generic_rec)
    es_buf_printf(&b, en ? "First recommended action: %s." : "Primera acción recomendada: %s.", p->recs[0]);
  /* The hash names the change, not its wording: the same change is one comment. */
  es_buf_printf(&k, "%s|%s|%ld|%ld|%s|%s|%s|%s", p->id,
                grew     ? "grew"
                : shrank ? "shrank"
                         : "same",
                pn, cn, was, now, pfirst ? pfirst : "", p->ndrivers ? p->drivers[0].sub : "");
  if (!b.data || !k.data) {
    es_buf_free(&b);
    es_buf_free(&k);
    return -1;
  }
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)k.data, k.len);
  sodium_bin2hex(hash, 65, h, sizeof h);
  es_buf_free(&k);
  if (b.len && b.data[b.len - 1] == ' ') b.data[--b.len] = 0;
  *text = b.data;
  return 1;
}

void ac_plan_free(ac_plan *p) {
  json_decref(p->reported);
  for (int i = 0; i < p->nquotes; i++) free(p->quotes[i].text);
  for (int i = 0; i < p->nrecs; i++) free(p->recs[i]);
  free(p->counter.text);
  free(p->summary_es);
  free(p->summary_en);
  memset(p, 0, sizeof *p);
}
