/* Did an action work? The effectiveness check of a closed action plan
 * (docs/prioritization.md, "Effectiveness"): the topic's complaint rate per
 * 1,000 feedback of the agency in the K days after closure against the K
 * days before, as a rate ratio with an exact interval. Pure: no I/O. */
#ifndef ESCUCHA_PRIORITIZE_EFFECT_H
#define ESCUCHA_PRIORITIZE_EFFECT_H
#include <stdint.h>

/* Counts before and after: complaints (the topic's negative items) out of
 * all the agency's feedback in the same days (the exposure). */
typedef struct pz_effect_counts {
  uint64_t x_before, n_before, x_after, n_after;
} pz_effect_counts;

enum { PZ_EFFECTIVE = 0, PZ_NOT_EFFECTIVE = 1, PZ_INCONCLUSIVE = 2 };
extern const char *const PZ_EFFECT_NAMES[3]; /* "effective", "not_effective", "inconclusive" */

typedef struct pz_effect {
  double rate_before, rate_after; /* per 1,000 feedback; NAN without exposure */
  double rr, rr_low, rr_high;     /* after / before; interval at level conf (INFINITY allowed) */
  double p_drop;                  /* one-sided exact p-value of "the rate dropped" */
  int verdict;                    /* PZ_* */
} pz_effect;

/* Regularized incomplete beta I_x(a, b), a, b > 0 (continued fraction). */
double pz_betainc(double a, double b, double x);
/* Its inverse in x: the q-quantile of Beta(a, b) (bisection to 1e-12). */
double pz_beta_quantile(double q, double a, double b);

/* Exact conditional test (Poisson counts with exposures): given
 * m = x_after + x_before, x_after ~ Binomial(m, n_after / (n_after + n_before))
 * when the rates are equal; Clopper-Pearson for that proportion mapped to the
 * rate ratio. Verdict: inconclusive with fewer than min_events complaints in
 * both periods together or no exposure on either side; effective when the
 * interval's upper end is below 1; else not effective (no drop shown). */
void pz_effect_compute(const pz_effect_counts *c, double conf, uint64_t min_events, pz_effect *out);

/* The agency-level figure over several plans: Mantel-Haenszel rate ratio
 * (strata = plans) with the Greenland-Robins variance; 0 ok, -1 when
 * undefined (no complaints on one side). */
int pz_effect_pooled(const pz_effect_counts *c, int n, double conf, double *rr, double *lo, double *hi);
#endif
