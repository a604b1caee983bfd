/* Pure statistics for prioritisation; formulas in docs/prioritization.md. */
#include "stats.h"

#include <float.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const PZ_WINDOW_NAMES[PZ_NWINDOWS] = {"hour", "day", "week"};

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define WEEK_MS (7 * DAY_MS)
/* 1970-01-01 was a Thursday: the first Monday 00:00 UTC is 4 days later. */
#define WEEK_OFFSET_MS (4 * DAY_MS)

int64_t pz_window_len_ms(int kind) {
  switch (kind) {
    case PZ_HOUR: return HOUR_MS;
    case PZ_DAY: return DAY_MS;
    default: return WEEK_MS;
  }
}

/* Floor division that also rounds negative numerators down. */
static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t pz_window_start(int kind, int64_t t) {
  int64_t len = pz_window_len_ms(kind);
  int64_t off = kind == PZ_WEEK ? WEEK_OFFSET_MS : 0;
  return floor_div(t - off, len) * len + off;
}

pz_interval pz_wilson(uint64_t k, uint64_t n, double z) {
  pz_interval r = {0.0, 1.0};
  if (n == 0) return r;
  double nn = (double)n, p = (double)k / nn, z2 = z * z;
  double denom = 1.0 + z2 / nn;
  double center = (p + z2 / (2.0 * nn)) / denom;
  double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  r.low = center - half;
  r.high = center + half;
  /* Rounding can leave -1e-17 at k == 0; the interval lives in [0, 1]. */
  if (r.low < 0.0) r.low = 0.0;
  if (r.high > 1.0) r.high = 1.0;
  return r;
}

double pz_nps(uint64_t promoters, uint64_t passives, uint64_t detractors) {
  uint64_t n = promoters + passives + detractors;
  if (n == 0) return NAN;
  return 100.0 * ((double)promoters - (double)detractors) / (double)n;
}

double pz_csat(uint64_t satisfied, uint64_t responses) {
  if (responses == 0) return NAN;
  return 100.0 * (double)satisfied / (double)responses;
}

double pz_nps_impact(const pz_counts *all, const pz_counts *t) {
  /* Counts of a topic are a subset of the overall counts; guard anyway so
   * inconsistent input cannot wrap around. */
  if (t->promoters > all->promoters || t->passives > all->passives || t->detractors > all->detractors) return NAN;
  double with = pz_nps(all->promoters, all->passives, all->detractors);
  double without = pz_nps(all->promoters - t->promoters, all->passives - t->passives, all->detractors - t->detractors);
  if (isnan(with) || isnan(without)) return NAN;
  if (t->promoters + t->passives + t->detractors == 0) return NAN;
  return with - without;
}

double pz_csat_impact(const pz_counts *all, const pz_counts *t) {
  if (t->csat_responses > all->csat_responses || t->csat_satisfied > all->csat_satisfied) return NAN;
  if (t->csat_responses == 0) return NAN;
  double with = pz_csat(all->csat_satisfied, all->csat_responses);
  double without = pz_csat(all->csat_satisfied - t->csat_satisfied, all->csat_responses - t->csat_responses);
  if (isnan(with) || isnan(without)) return NAN;
  return with - without;
}

double pz_ewma(const double *xs, int n, double alpha) {
  if (n <= 0) return NAN;
  double b = xs[0];
  for (int i = 1; i < n; i++) b = alpha * xs[i] + (1.0 - alpha) * b;
  return b;
}

/* Regularised lower incomplete gamma P(a, x), Numerical Recipes style:
 * the series converges fast for x < a + 1, the continued fraction otherwise. */
static double gamma_p(double a, double x) {
  double lead = exp(-x + a * log(x) - lgamma(a));
  if (x < a + 1.0) {
    double ap = a, del = 1.0 / a, sum = del;
    for (int i = 0; i < 100000; i++) {
      ap += 1.0;
      del *= x / ap;
      sum += del;
      if (fabs(del) < fabs(sum) * 1e-17) break;
    }
    return sum * lead;
  }
  const double tiny = DBL_MIN / DBL_EPSILON;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 100000; i++) {
    double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-17) break;
  }
  return 1.0 - lead * h;
}

double pz_poisson_sf(uint64_t k, double lambda) {
  if (k == 0) return 1.0;
  if (lambda <= 0.0) return 0.0;
  /* P(X >= k) = P(k, lambda) (regularised lower gamma), exact for integer k. */
  double p = gamma_p((double)k, lambda);
  return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

double pz_poisson_z(uint64_t x, double lambda) {
  if (lambda <= 0.0) return 0.0;
  return ((double)x - lambda) / sqrt(lambda);
}

void pz_params_default(pz_params *p) {
  p->w_volume = 0.25;
  p->w_negative = 0.25;
  p->w_spike = 0.25;
  p->w_nps = 0.15;
  p->w_urgency = 0.10;
  p->spike_z_ref = 4.0;
  p->nps_impact_ref = 10.0;
  p->spike_min_lambda = 1.0;
  p->ewma_alpha = 0.3;
  p->min_fraction = 0.1;
}

static double *weight_slot(pz_params *p, const char *key, size_t klen) {
  static const struct {
    const char *name;
    size_t off;
  } names[] = {
      {"volume", offsetof(pz_params, w_volume)},   {"negative", offsetof(pz_params, w_negative)},
      {"spike", offsetof(pz_params, w_spike)},     {"nps", offsetof(pz_params, w_nps)},
      {"urgency", offsetof(pz_params, w_urgency)},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == klen && memcmp(names[i].name, key, klen) == 0)
      return (double *)((char *)p + names[i].off);
  return NULL;
}

int pz_params_parse_weights(pz_params *p, const char *spec) {
  const char *s = spec;
  while (s && *s) {
    const char *eq = strchr(s, '=');
    if (!eq) return -1;
    double *slot = weight_slot(p, s, (size_t)(eq - s));
    if (!slot) return -1;
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || !(v >= 0.0) || isinf(v)) return -1;
    if (*end != ',' && *end != '\0') return -1;
    *slot = v;
    s = *end == ',' ? end + 1 : end;
  }
  return 0;
}

static double clamp01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

static void spike_factors(const pz_counts *t, const double *hist, int nhist, double fraction, const pz_params *p,
                          pz_factors *f) {
  f->has_baseline = nhist > 0;
  f->baseline = nhist > 0 ? pz_ewma(hist, nhist, p->ewma_alpha) : 0.0;
  double frac = fraction < p->min_fraction ? p->min_fraction : (fraction > 1.0 ? 1.0 : fraction);
  f->expected = f->baseline * frac;
  if (f->expected < p->spike_min_lambda) f->expected = p->spike_min_lambda;
  if (f->has_baseline) {
    f->spike_z = pz_poisson_z(t->total, f->expected);
    f->spike_p = pz_poisson_sf(t->total, f->expected);
  } else {
    f->spike_z = 0.0; /* no earlier window: nothing to compare with */
    f->spike_p = 1.0;
  }
  f->c_spike = f->has_baseline ? clamp01(f->spike_z / p->spike_z_ref) : 0.0;
}

void pz_factors_compute(const pz_counts *t, const pz_counts *all, const double *hist, int nhist, double fraction,
                        const pz_params *p, pz_factors *f) {
  memset(f, 0, sizeof *f);
  f->volume = t->total;
  f->volume_share = all->total ? (double)t->total / (double)all->total : 0.0;
  f->negative_share = t->total ? (double)t->negative / (double)t->total : 0.0;
  pz_interval ci = pz_wilson(t->negative, t->total, PZ_Z95);
  f->negative_low = ci.low;
  f->negative_high = ci.high;
  spike_factors(t, hist, nhist, fraction, p, f);
  f->nps = pz_nps(t->promoters, t->passives, t->detractors);
  f->nps_impact = pz_nps_impact(all, t);
  f->csat = pz_csat(t->csat_satisfied, t->csat_responses);
  f->csat_impact = pz_csat_impact(all, t);
  f->urgent_share = t->total ? (double)t->urgent / (double)t->total : 0.0;

  f->c_volume = clamp01(f->volume_share);
  f->c_negative = clamp01(f->negative_low);
  f->c_nps = isnan(f->nps_impact) ? 0.0 : clamp01(-f->nps_impact / p->nps_impact_ref);
  f->c_urgency = clamp01(f->urgent_share);
  double wsum = p->w_volume + p->w_negative + p->w_spike + p->w_nps + p->w_urgency;
  double s = p->w_volume * f->c_volume + p->w_negative * f->c_negative + p->w_spike * f->c_spike + p->w_nps * f->c_nps +
             p->w_urgency * f->c_urgency;
  f->score = wsum > 0.0 ? s / wsum : 0.0;
}

/* Appends with snprintf semantics, tracking the would-be length. */
static void cat(char *buf, size_t len, int *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void cat(char *buf, size_t len, int *pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t at = (size_t)*pos < len ? (size_t)*pos : len;
  int n = vsnprintf(buf + at, len - at, fmt, ap);
  va_end(ap);
  if (n > 0) *pos += n;
}

typedef struct {
  const char *window[PZ_NWINDOWS];
  const char *one, *many, *new_topic, *vs_usual, *negative, *costs, *adds, *urgent_one, *urgent_many;
} explain_words;

static const explain_words WORDS_ES = {{"esta hora", "hoy", "esta semana"},
                                       "comentario",
                                       "comentarios",
                                       "tema nuevo",
                                       "vs. lo habitual",
                                       "negativos",
                                       "resta %.0f puntos al NPS",
                                       "suma %.0f puntos al NPS",
                                       "urgente",
                                       "urgentes"};
static const explain_words WORDS_EN = {{"this hour", "today", "this week"},
                                       "comment",
                                       "comments",
                                       "new topic",
                                       "vs. usual",
                                       "negative",
                                       "costs %.0f NPS points",
                                       "adds %.0f NPS points",
                                       "urgent",
                                       "urgent"};

int pz_explain(char *buf, size_t len, const char *lang, const char *label, const char *agency, int kind,
               const pz_factors *f) {
  const explain_words *w = (lang && strcmp(lang, "es") == 0) ? &WORDS_ES : &WORDS_EN;
  int pos = 0;
  if (len) buf[0] = '\0';
  if (kind < 0 || kind >= PZ_NWINDOWS) kind = PZ_DAY;
  cat(buf, len, &pos, "%s (%s): %llu %s %s", label, agency, (unsigned long long)f->volume,
      f->volume == 1 ? w->one : w->many, w->window[kind]);
  if (f->has_baseline && f->baseline < 0.5) cat(buf, len, &pos, " (%s)", w->new_topic);
  else if (f->has_baseline && f->expected > 0.0)
    cat(buf, len, &pos, " (%+.0f%% %s)", ((double)f->volume / f->expected - 1.0) * 100.0, w->vs_usual);
  cat(buf, len, &pos, ", %.0f%% %s", f->negative_share * 100.0, w->negative);
  if (!isnan(f->nps_impact) && fabs(f->nps_impact) >= 0.5) {
    cat(buf, len, &pos, ", ");
    cat(buf, len, &pos, f->nps_impact < 0 ? w->costs : w->adds, fabs(f->nps_impact));
  }
  unsigned long long urgent = (unsigned long long)llround(f->urgent_share * (double)f->volume);
  if (urgent > 0) cat(buf, len, &pos, ", %llu %s", urgent, urgent == 1 ? w->urgent_one : w->urgent_many);
  cat(buf, len, &pos, ".");
  return pos;
}

int pz_hysteresis(const pz_hyst_cfg *c, const pz_plan_state *s, double score, uint64_t volume, int64_t now_ms) {
  if (s->has_open) {
    if (score >= c->close_threshold) return PZ_ACT_HOT;
    /* Below the close threshold: close only after a full quiet period so a
     * fresh, still-empty window does not close a plan that is still needed. */
    return now_ms - s->last_hot_ms >= c->close_after_ms ? PZ_ACT_CLOSE : PZ_ACT_NONE;
  }
  if (score < c->open_threshold || volume < c->min_volume) return PZ_ACT_NONE;
  if (s->has_closed && now_ms - s->last_closed_ms < c->cooldown_ms) return PZ_ACT_NONE;
  return PZ_ACT_OPEN;
}
