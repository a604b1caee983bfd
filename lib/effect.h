/* Did an action work? The effectiveness check of a closed action plan
 * (docs/prioritization.md, "Effectiveness"): the topic's complaint rate per
 * 1,000 feedback of the agency in the K days after closure against the K
 * days before, as a rate ratio with an exact interval. Pure: no I/O. */
#ifndef ESCUCHA_LIB_EFFECT_H
#define ESCUCHA_LIB_EFFECT_H
#include <stdint.h>

/* Counts before and after: complaints (the topic's negative items) out of
 * all the agency's feedback in the same days (the exposure). */
typedef struct es_effect_counts {
  uint64_t x_before, n_before, x_after, n_after;
} es_effect_counts;

enum { ES_EFFECTIVE = 0, ES_NOT_EFFECTIVE = 1, ES_INCONCLUSIVE = 2 };
extern const char *const ES_EFFECT_NAMES[3]; /* "effective", "not_effective", "inconclusive" */

typedef struct es_effect {
  double rate_before, rate_after; /* per 1,000 feedback; NAN without exposure */
  double rr, rr_low, rr_high;     /* after / before; interval at level conf (INFINITY allowed) */
  double p_drop;                  /* one-sided exact p-value of "the rate dropped" */
  int verdict;                    /* PZ_* */
} es_effect;

/* Regularized incomplete beta I_x(a, b), a, b > 0 (continued fraction). */
double es_betainc(double a, double b, double x);
/* Its inverse in x: the q-quantile of Beta(a, b) (bisection to 1e-12). */
double es_beta_quantile(double q, double a, double b);

/* Exact conditional test (Poisson counts with exposures): given
 * m = x_after + x_before, x_after ~ Binomial(m, n_after / (n_after + n_before))
 * when the rates are equal; Clopper-Pearson for that proportion mapped to the
 * rate ratio. Verdict: inconclusive with fewer than min_events complaints in
 * both periods together or no exposure on either side; effective when the
 * interval's upper end is below 1; else not effective (no drop shown). */
void es_effect_compute(const es_effect_counts *c, double conf, uint64_t min_events, es_effect *out);

/* The agency-level figure over several plans: Mantel-Haenszel rate ratio
 * (strata = plans) with the Greenland-Robins variance; 0 ok, -1 when
 * undefined (no complaints on one side). */
int es_effect_pooled(const es_effect_counts *c, int n, double conf, double *rr, double *lo, double *hi);
#endif
