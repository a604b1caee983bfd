/* Statistics against hand-computed values (arithmetic in the comments).
 * z = 1.959963984540054, z^2 = 3.841458820694124. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "stats.h"

#define EPS 1e-9
#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < EPS)

static void test_wilson(void **state) {
  (void)state;
  /* k=8, n=10: p=0.8, z^2/n=0.38414588206941, denom=1.38414588206941
   * center=(0.8+0.19207294103471)/denom=0.71674016004113
   * half=z*sqrt(0.8*0.2/10 + z^2/400)/denom = z*sqrt(0.02560364705174)/denom
   *     =1.959963984540054*0.16001139663/1.38414588206941=0.22657768425225
   * -> [0.49016247153664, 0.94331784854562] */
  pz_interval r = pz_wilson(8, 10, PZ_Z95);
  NEAR(r.low, 0.490162471536641740);
  NEAR(r.high, 0.943317848545624737);
  /* k=0, n=10: low = 0; high = (z^2/n)/(1+z^2/n) = 0.38414588/1.38414588 = 0.27753279986 */
  r = pz_wilson(0, 10, PZ_Z95);
  NEAR(r.low, 0.0);
  NEAR(r.high, 0.277532799862889205);
  /* k=15, n=20: p=0.75, z^2/n=0.19207294103471, denom=1.19207294103471
   * center=(0.75+0.09603647051735)/denom=0.70972471048679
   * half=z*sqrt(0.009375+0.00240091176293)/denom=0.17841558824554 */
  r = pz_wilson(15, 20, PZ_Z95);
  NEAR(r.low, 0.531299122381255990);
  NEAR(r.high, 0.888138298592334333);
  /* k=1, n=1: low = 1/(1+z^2) = 1/4.841458820694124 = 0.20654931437724 */
  r = pz_wilson(1, 1, PZ_Z95);
  NEAR(r.low, 0.206549314377237427);
  NEAR(r.high, 1.0);
  r = pz_wilson(0, 0, PZ_Z95); /* no data: uninformative */
  NEAR(r.low, 0.0);
  NEAR(r.high, 1.0);
}

static void test_nps_csat(void **state) {
  (void)state;
  NEAR(pz_nps(5, 3, 2), 30.0);      /* 100*(5-2)/10 */
  NEAR(pz_nps(0, 0, 4), -100.0);    /* all detractors */
  NEAR(pz_nps(1, 2, 0), 100.0 / 3); /* 100*1/3 = 33.333... */
  assert_true(isnan(pz_nps(0, 0, 0)));
  NEAR(pz_csat(7, 10), 70.0); /* 100*7/10 */
  assert_true(isnan(pz_csat(0, 0)));
}

static void fill_impact(pz_counts *all, pz_counts *t) {
  memset(all, 0, sizeof *all);
  memset(t, 0, sizeof *t);
  all->total = 100, all->negative = 40, all->urgent = 3;
  all->promoters = 50, all->passives = 30, all->detractors = 20;
  all->csat_responses = 100, all->csat_satisfied = 60;
  t->total = 20, t->negative = 15, t->urgent = 2;
  t->promoters = 2, t->passives = 3, t->detractors = 15;
  t->csat_responses = 20, t->csat_satisfied = 5;
}

static void test_impact(void **state) {
  (void)state;
  pz_counts all, t;
  fill_impact(&all, &t);
  /* overall NPS = 100*(50-20)/100 = 30
   * without: promoters 48, passives 27, detractors 5 -> 100*(48-5)/80 = 53.75
   * impact = 30 - 53.75 = -23.75 (the topic costs 23.75 points) */
  NEAR(pz_nps_impact(&all, &t), -23.75);
  /* overall CSAT = 60/100 = 60%; without 55/80 = 68.75%; impact = -8.75 */
  NEAR(pz_csat_impact(&all, &t), -8.75);
  /* A topic with every response: "without" is undefined. */
  assert_true(isnan(pz_nps_impact(&all, &all)));
  pz_counts none = {0};
  none.total = 3;
  assert_true(isnan(pz_nps_impact(&all, &none)));
  assert_true(isnan(pz_csat_impact(&all, &none)));
}

static void test_ewma_poisson(void **state) {
  (void)state;
  double xs[] = {10, 20, 30};
  /* a=0.5: 10 -> 0.5*20+0.5*10=15 -> 0.5*30+0.5*15=22.5 */
  NEAR(pz_ewma(xs, 3, 0.5), 22.5);
  /* a=0.3: 10 -> 0.3*20+0.7*10=13 -> 0.3*30+0.7*13=18.1 */
  NEAR(pz_ewma(xs, 3, 0.3), 18.1);
  assert_true(isnan(pz_ewma(xs, 0, 0.3)));
  /* P(X>=5 | 2) = 1 - e^-2 (1 + 2 + 4/2 + 8/6 + 16/24) = 1 - 7 e^-2 = 0.05265301734371 */
  NEAR(pz_poisson_sf(5, 2.0), 0.0526530173437111567);
  /* P(X>=1 | 3) = 1 - e^-3 = 0.95021293163214 */
  NEAR(pz_poisson_sf(1, 3.0), 0.950212931632136057);
  NEAR(pz_poisson_sf(0, 3.0), 1.0);
  NEAR(pz_poisson_sf(3, 0.0), 0.0);
  /* Continued-fraction branch (x >= a+1): P(X>=3 | 50) = 1 - e^-50 (1 + 50 + 1250) ~ 1 */
  NEAR(pz_poisson_sf(3, 50.0), 1.0 - exp(-50.0) * 1301.0);
  /* Series branch, deep tail: P(X>=30 | 10) = 1 - sum_{i<30} e^-10 10^i/i!
   * compared relatively against the direct sum (mpmath: 2.5099512015279e-7). */
  double tail = pz_poisson_sf(30, 10.0);
  assert_true(fabs(tail - 2.50995120152790782e-7) < 1e-15);
  NEAR(pz_poisson_z(9, 4.0), 2.5); /* (9-4)/sqrt(4) */
  NEAR(pz_poisson_z(9, 0.0), 0.0);
}

static void test_windows(void **state) {
  (void)state;
  /* 2024-01-03T15:30:00Z (a Wednesday) = 1704295800000 ms */
  int64_t t = 1704295800000LL;
  assert_int_equal(pz_window_start(PZ_HOUR, t), 1704294000000LL); /* 15:00 */
  assert_int_equal(pz_window_start(PZ_DAY, t), 1704240000000LL);  /* 2024-01-03 00:00 */
  assert_int_equal(pz_window_start(PZ_WEEK, t), 1704067200000LL); /* Monday 2024-01-01 */
  assert_int_equal(pz_window_start(PZ_WEEK, 1704067200000LL), 1704067200000LL);
  assert_int_equal(pz_window_start(PZ_WEEK, 1704067199999LL), 1704067200000LL - 604800000LL);
  assert_int_equal(pz_window_start(PZ_HOUR, -1), -3600000LL);
  assert_string_equal(PZ_WINDOW_NAMES[PZ_WEEK], "week");
}

static void test_factors_and_score(void **state) {
  (void)state;
  pz_counts all, t;
  fill_impact(&all, &t);
  pz_params p;
  pz_params_default(&p);
  double hist[] = {4, 4, 4};
  pz_factors f;
  pz_factors_compute(&t, &all, hist, 3, 1.0, &p, &f);
  NEAR(f.volume_share, 0.2);    /* 20/100 */
  NEAR(f.negative_share, 0.75); /* 15/20 */
  NEAR(f.negative_low, 0.531299122381255990);
  NEAR(f.baseline, 4.0);     /* EWMA of a constant */
  NEAR(f.expected, 4.0);     /* full window */
  NEAR(f.spike_z, 8.0);      /* (20-4)/2 */
  NEAR(f.c_spike, 1.0);      /* min(8/4, 1) */
  NEAR(f.c_nps, 1.0);        /* min(23.75/10, 1) */
  NEAR(f.urgent_share, 0.1); /* 2/20 */
  /* score = 0.25*0.2 + 0.25*0.53129912238126 + 0.25*1 + 0.15*1 + 0.10*0.1
   *       = 0.05 + 0.13282478059531 + 0.25 + 0.15 + 0.01 = 0.59282478059531 */
  NEAR(f.score, 0.592824780595313997);

  /* Half the window elapsed: expected = max(4*0.5, 1) = 2; z = (20-2)/sqrt(2) */
  pz_factors_compute(&t, &all, hist, 3, 0.5, &p, &f);
  NEAR(f.expected, 2.0);
  NEAR(f.spike_z, 18.0 / sqrt(2.0));
  /* No earlier window: no spike evidence, component 0; score drops by 0.25 */
  pz_factors_compute(&t, &all, NULL, 0, 1.0, &p, &f);
  NEAR(f.spike_z, 0.0);
  NEAR(f.c_spike, 0.0);
  NEAR(f.score, 0.342824780595313997);
  /* New topic (history of zeros): expected floored at 1; z = (20-1)/1 = 19 */
  double zeros[] = {0, 0};
  pz_factors_compute(&t, &all, zeros, 2, 1.0, &p, &f);
  NEAR(f.expected, 1.0);
  NEAR(f.spike_z, 19.0);
}

static void test_weights(void **state) {
  (void)state;
  pz_params p;
  pz_params_default(&p);
  assert_int_equal(pz_params_parse_weights(&p, "volume=0.5,spike=2"), 0);
  NEAR(p.w_volume, 0.5);
  NEAR(p.w_spike, 2.0);
  NEAR(p.w_negative, 0.25);
  assert_int_equal(pz_params_parse_weights(&p, "bogus=1"), -1);
  assert_int_equal(pz_params_parse_weights(&p, "volume=x"), -1);
  assert_int_equal(pz_params_parse_weights(&p, "volume=-1"), -1);
  assert_int_equal(pz_params_parse_weights(&p, ""), 0);
}

static void test_explain(void **state) {
  (void)state;
  pz_counts all, t;
  fill_impact(&all, &t);
  pz_params p;
  pz_params_default(&p);
  double hist[] = {4, 4, 4};
  pz_factors f;
  pz_factors_compute(&t, &all, hist, 3, 1.0, &p, &f);
  char buf[512];
  /* +400% = (20/4 - 1)*100; NPS impact -23.75 rounds to 24 */
  pz_explain(buf, sizeof buf, "es", "Tiempos de espera", "demo", PZ_WEEK, &f);
  assert_string_equal(buf,
                      "Tiempos de espera (demo): 20 comentarios esta semana (+400% vs. lo "
                      "habitual), 75% negativos, resta 24 puntos al NPS, 2 urgentes.");
  pz_explain(buf, sizeof buf, "en", "Waiting times", "demo", PZ_WEEK, &f);
  assert_string_equal(buf,
                      "Waiting times (demo): 20 comments this week (+400% vs. usual), 75% "
                      "negative, costs 24 NPS points, 2 urgent.");
  double zeros[] = {0};
  pz_factors_compute(&t, &all, zeros, 1, 1.0, &p, &f);
  pz_explain(buf, sizeof buf, "es", "X", "a", PZ_HOUR, &f);
  assert_string_equal(buf,
                      "X (a): 20 comentarios esta hora (tema nuevo), 75% negativos, resta 24 "
                      "puntos al NPS, 2 urgentes.");
  /* Truncation is safe and reports the full length. */
  char small[8];
  int n = pz_explain(small, sizeof small, "en", "Waiting times", "demo", PZ_DAY, &f);
  assert_true(n > 8);
  assert_int_equal(strlen(small), 7);
}

static void test_hysteresis(void **state) {
  (void)state;
  pz_hyst_cfg c = {0.5, 0.3, 20, 3600000, 86400000};
  pz_plan_state s = {0};
  assert_int_equal(pz_hysteresis(&c, &s, 0.49, 100, 0), PZ_ACT_NONE); /* below open */
  assert_int_equal(pz_hysteresis(&c, &s, 0.9, 19, 0), PZ_ACT_NONE);   /* too few */
  assert_int_equal(pz_hysteresis(&c, &s, 0.5, 20, 0), PZ_ACT_OPEN);
  s.has_open = 1, s.last_hot_ms = 1000;
  /* Between the thresholds: stays open (no flapping). */
  assert_int_equal(pz_hysteresis(&c, &s, 0.35, 100, 5000), PZ_ACT_HOT);
  /* Below close but not for a full close_after period yet. */
  assert_int_equal(pz_hysteresis(&c, &s, 0.1, 100, 1000 + 3599999), PZ_ACT_NONE);
  assert_int_equal(pz_hysteresis(&c, &s, 0.1, 100, 1000 + 3600000), PZ_ACT_CLOSE);
  s.has_open = 0, s.has_closed = 1, s.last_closed_ms = 10000000;
  /* Cooldown: no reopen within 24 h of the close, even far above the threshold. */
  assert_int_equal(pz_hysteresis(&c, &s, 0.99, 500, 10000000 + 86399999), PZ_ACT_NONE);
  assert_int_equal(pz_hysteresis(&c, &s, 0.99, 500, 10000000 + 86400000), PZ_ACT_OPEN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wilson),       cmocka_unit_test(test_nps_csat), cmocka_unit_test(test_impact),
      cmocka_unit_test(test_ewma_poisson), cmocka_unit_test(test_windows),  cmocka_unit_test(test_factors_and_score),
      cmocka_unit_test(test_weights),      cmocka_unit_test(test_explain),  cmocka_unit_test(test_hysteresis),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
