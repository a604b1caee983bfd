/* The effectiveness statistics (effect.h): shared by prioritize (the check) and actions (the ISO report). */
#include "effect.h"

#include <math.h>

#define Z95 1.959963984540054 /* two-sided 95% normal quantile */

const char *const ES_EFFECT_NAMES[3] = {"effective", "not_effective", "inconclusive"};

/* Continued fraction of the incomplete beta (modified Lentz). */
static double betacf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double qab = a + b, qap = a + 1.0, qam = a - 1.0, c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; m++) {
    double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < eps) break;
  }
  return h;
}

double es_betainc(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  /* the fraction converges fast for x < (a + 1) / (a + b + 2); else use symmetry */
  if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * betacf(a, b, x) / a;
  return 1.0 - exp(lbt) * betacf(b, a, 1.0 - x) / b;
}

double es_beta_quantile(double q, double a, double b) {
  double lo = 0.0, hi = 1.0;
  if (q <= 0.0) return 0.0;
  if (q >= 1.0) return 1.0;
  for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
    double mid = 0.5 * (lo + hi);
    if (es_betainc(a, b, mid) < q) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* pi / (1 - pi) * n_before / n_after, the rate ratio for a binomial share pi. */
static double to_rr(double pi, double nb, double na) { return pi >= 1.0 ? INFINITY : pi / (1.0 - pi) * nb / na; }

void es_effect_compute(const es_effect_counts *c, double conf, uint64_t min_events, es_effect *out) {
  double na = (double)c->n_after, nb = (double)c->n_before, xa = (double)c->x_after, xb = (double)c->x_before;
  double m = xa + xb, alpha = 1.0 - conf;
  out->rate_before = nb > 0 ? 1000.0 * xb / nb : NAN;
  out->rate_after = na > 0 ? 1000.0 * xa / na : NAN;
  out->rr = out->rr_low = out->rr_high = out->p_drop = NAN;
  out->verdict = ES_INCONCLUSIVE;
  if (na <= 0 || nb <= 0 || m <= 0) return;
  out->rr = xb > 0 ? (xa / na) / (xb / nb) : INFINITY;
  double pl = xa > 0 ? es_beta_quantile(alpha / 2, xa, m - xa + 1) : 0.0;
  double ph = xa < m ? es_beta_quantile(1 - alpha / 2, xa + 1, m - xa) : 1.0;
  out->rr_low = to_rr(pl, nb, na), out->rr_high = to_rr(ph, nb, na);
  /* P(X <= x_after) under equal rates, X ~ Binomial(m, pi0): 1 - I_pi0(x_after + 1, m - x_after) */
  double pi0 = na / (na + nb);
  out->p_drop = xa >= m ? 1.0 : 1.0 - es_betainc(xa + 1, m - xa, pi0);
  if ((uint64_t)m < min_events) return;
  out->verdict = out->rr_high < 1.0 ? ES_EFFECTIVE : ES_NOT_EFFECTIVE;
}

int es_effect_pooled(const es_effect_counts *c, int n, double conf, double *rr, double *lo, double *hi) {
  double num = 0, den = 0, var = 0;
  for (int i = 0; i < n; i++) {
    double na = (double)c[i].n_after, nb = (double)c[i].n_before, t = na + nb;
    if (na <= 0 || nb <= 0) continue;
    num += (double)c[i].x_after * nb / t;
    den += (double)c[i].x_before * na / t;
    var += ((double)c[i].x_after + (double)c[i].x_before) * na * nb / (t * t);
  }
  if (num <= 0 || den <= 0) return -1;
  double z = Z95;
  if (conf != 0.95) { /* the normal quantile by bisection on erfc */
    double a = 0, b = 10, target = 1 - conf;
    for (int i = 0; i < 200; i++) {
      double mid = 0.5 * (a + b);
      if (erfc(mid / M_SQRT2) > target) a = mid;
      else b = mid;
    }
    z = 0.5 * (a + b);
  }
  double se = sqrt(var / (num * den));
  *rr = num / den;
  *lo = exp(log(*rr) - z * se), *hi = exp(log(*rr) + z * se);
  return 0;
}
