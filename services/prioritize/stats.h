/* Pure statistics for prioritisation: no I/O, no allocation, no globals.
 * Every formula is documented (with its reasoning) in docs/prioritization.md;
 * tests/unit/prioritize/test_stats.c checks each against hand-computed values. */
#ifndef ESCUCHA_PRIORITIZE_STATS_H
#define ESCUCHA_PRIORITIZE_STATS_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

#define PZ_Z95 1.959963984540054 /* two-sided 95% normal quantile */

/* Window kinds, in the order used everywhere (arrays, loops). */
enum { PZ_HOUR = 0, PZ_DAY = 1, PZ_WEEK = 2, PZ_NWINDOWS = 3 };
extern const char *const PZ_WINDOW_NAMES[PZ_NWINDOWS]; /* "hour", "day", "week" */
int64_t pz_window_len_ms(int kind);
/* Start (ms, UTC) of the window containing t; weeks start Monday 00:00 UTC,
 * matching PostgreSQL date_trunc('week', t, 'UTC'). */
int64_t pz_window_start(int kind, int64_t t_ms);

/* Counts of one agency x topic x window (a topic_window_stats row). */
typedef struct pz_counts {
  uint64_t total, positive, neutral, negative;
  uint64_t promoters, passives, detractors; /* NPS 9-10 / 7-8 / 0-6 */
  uint64_t csat_responses, csat_satisfied;  /* CSAT answers / answers 4-5 */
  uint64_t urgent;
} pz_counts;

typedef struct {
  double low, high;
} pz_interval;

/* Wilson score interval for k successes out of n at normal quantile z.
 * n == 0 gives the uninformative [0, 1]. */
pz_interval pz_wilson(uint64_t k, uint64_t n, double z);
/* NPS in points (-100..100): 100 * (promoters - detractors) / responses; NAN without responses. */
double pz_nps(uint64_t promoters, uint64_t passives, uint64_t detractors);
/* CSAT in percent: 100 * satisfied / responses; NAN without responses. */
double pz_csat(uint64_t satisfied, uint64_t responses);
/* Impact of a topic on the overall score: overall minus overall-without-topic.
 * Negative = the topic pulls the score down. NAN when either side is undefined. */
double pz_nps_impact(const pz_counts *all, const pz_counts *topic);
double pz_csat_impact(const pz_counts *all, const pz_counts *topic);

/* EWMA of xs[0..n) oldest first: b = xs[0]; b = a*x + (1-a)*b. NAN if n == 0. */
double pz_ewma(const double *xs, int n, double alpha);
/* Poisson upper tail P(X >= k | lambda); 1 for k == 0. */
double pz_poisson_sf(uint64_t k, double lambda);
/* (x - lambda) / sqrt(lambda); 0 when lambda <= 0. */
double pz_poisson_z(uint64_t x, double lambda);

/* Scoring parameters; defaults from pz_params_default (documented). */
typedef struct pz_params {
  double w_volume, w_negative, w_spike, w_nps, w_urgency;
  double spike_z_ref;      /* z at which the spike component saturates at 1 */
  double nps_impact_ref;   /* NPS points lost at which the NPS component saturates */
  double spike_min_lambda; /* floor of the expected count (a new topic has baseline 0) */
  double ewma_alpha;
  double min_fraction; /* floor of the elapsed fraction of the current window */
} pz_params;
void pz_params_default(pz_params *p);
/* Parses "volume=0.3,negative=0.2,..." into p (unknown key or bad number -> -1). */
ES_MUST_CHECK
int pz_params_parse_weights(pz_params *p, const char *spec);

/* Everything that goes into a score, kept so each row can explain itself. */
typedef struct pz_factors {
  uint64_t volume;
  double volume_share, negative_share, negative_low, negative_high;
  int has_baseline; /* 0: agency has no earlier window; no spike evidence */
  double baseline;  /* EWMA of earlier full windows */
  double expected;  /* baseline scaled to the elapsed part of the window, floored */
  double spike_z, spike_p;
  double nps, nps_impact, csat, csat_impact; /* NAN when undefined */
  double urgent_share;
  double c_volume, c_negative, c_spike, c_nps, c_urgency; /* components in [0, 1] */
  double score;                                           /* weighted mean of the components, in [0, 1] */
} pz_factors;

/* history: counts of this topic in the earlier windows, oldest first (nhist
 * may be 0 when the agency has no earlier window); fraction: elapsed part of
 * the current window in (0, 1]. */
void pz_factors_compute(const pz_counts *topic, const pz_counts *all, const double *history, int nhist, double fraction,
                        const pz_params *p, pz_factors *out);

/* One sentence explaining a row. lang "es" or "en". Returns the length
 * snprintf would have written (truncates safely). */
int pz_explain(char *buf, size_t len, const char *lang, const char *label, const char *agency, int window_kind,
               const pz_factors *f);

/* Action hysteresis: open above open_threshold, stay open while the score
 * stays above close_threshold, close after close_after_ms below it, and do
 * not reopen within cooldown_ms of a close. */
typedef struct pz_hyst_cfg {
  double open_threshold, close_threshold;
  uint64_t min_volume;
  int64_t close_after_ms, cooldown_ms;
} pz_hyst_cfg;
typedef struct pz_plan_state {
  int has_open;
  int64_t last_hot_ms; /* last time an open plan's score was >= close threshold */
  int has_closed;
  int64_t last_closed_ms; /* most recent close of this topic */
} pz_plan_state;
enum { PZ_ACT_NONE = 0, PZ_ACT_OPEN, PZ_ACT_HOT, PZ_ACT_CLOSE };
int pz_hysteresis(const pz_hyst_cfg *c, const pz_plan_state *s, double score, uint64_t volume, int64_t now_ms);
#endif
