/* Action plan builder: extractive evidence summary for one priority.
 *  - distinctive terms: weighted log-odds ratio with an informative Dirichlet
 *    prior (Monroe, Colaresi & Quinn 2008), topic documents vs the rest;
 *  - representative quotes: the documents closest (cosine, term space) to the
 *    topic centroid, i.e. typical rather than extreme, near-duplicates skipped;
 *  - recommendations from the taxonomy playbook; Spanish and English text. */
#ifndef ESCUCHA_ACTIONS_PLAN_H
#define ESCUCHA_ACTIONS_PLAN_H
#include <jansson.h>
#include <stddef.h>

typedef struct ac_doc {
  const char *id;
  const char *text;        /* already redacted */
  const char *subcategory; /* NULL: unknown */
  int sentiment;           /* AC_SENT_*; 0 unknown */
} ac_doc;
enum { AC_SENT_UNKNOWN = 0, AC_SENT_NEGATIVE, AC_SENT_NEUTRAL, AC_SENT_POSITIVE };

typedef struct ac_term {
  char term[48];
  double z;  /* z-score of the log-odds ratio */
  int count; /* occurrences in the topic */
} ac_term;

/* Top-k distinctive terms of topic vs rest; alpha0 = prior strength (e.g. 500).
 * Returns how many were written (only terms with z > 0). */
int ac_logodds(const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr, double alpha0, ac_term *out, int k);
/* Indices of up to k typical documents (closest to centroid). Returns count. */
int ac_typical_quotes(const ac_doc *docs, size_t n, int k, size_t *idx_out);

#define AC_PLAN_MAX_TERMS 8
#define AC_PLAN_MAX_QUOTES 5
#define AC_PLAN_MAX_RECS 8
#define AC_PLAN_MAX_DRIVER_RECS 5 /* recommendations taken from the drivers */
#define AC_PLAN_MAX_DRIVERS 3
#define AC_PLAN_MAX_CONC 6
#define AC_PLAN_MAX_NEW_TERMS 4

/* Wilson score interval of k successes in n trials (z = 1.96: 95 %). n = 0
 * gives [0, 1]. */
void ac_wilson(long k, long n, double z, double *lo, double *hi);

/* Where the negatives of a topic fall: one cell per value of a dimension. */
typedef enum {
  AC_DIM_SUB,
  AC_DIM_SERVICE,
  AC_DIM_CHANNEL,
  AC_DIM_LOCATION,
  AC_DIM_WEEKDAY,
  AC_DIM_HOUR,
  AC_NDIMS
} ac_dim;
extern const char *const AC_DIM_NAMES[AC_NDIMS]; /* "subcategory", "service", ... */
typedef struct ac_cell {
  int dim;       /* ac_dim */
  char key[128]; /* the value (weekday 1..7 = Monday..Sunday, hour 0..23 as text) */
  long n, neg;
  double rate, lo, hi;           /* negative share and its 95 % Wilson interval */
  double lift, lift_lo, lift_hi; /* the same over the agency's negative rate */
} ac_cell;
/* Cells with at least AC_CONC_MIN_N items whose whole interval lies above the
 * agency's rate (agency_neg / agency_n): a concentration that chance does not
 * explain. Fills rate/lo/hi/lift* and writes up to k of them to out, by the
 * interval's lower lift bound (a large clear excess before a small noisy one),
 * then lift, then key. Returns how many. */
#define AC_CONC_MIN_N 5
int ac_concentrations(const ac_cell *cells, size_t n, long agency_n, long agency_neg, ac_cell *out, int k);

/* The topic in the evidence window, as PostgreSQL counts it (store.c). */
typedef struct ac_stats {
  int days;                  /* evidence window, days */
  int base_days;             /* baseline window before it, days */
  long agency_n, agency_neg; /* whole agency, evidence window */
  long topic_n, topic_neg, topic_pos, topic_urgent;
  long base_n, base_neg; /* the topic in the baseline window */
  ac_cell *cells;        /* malloc'd; free with ac_stats_free */
  size_t ncells;
} ac_stats;
void ac_stats_free(ac_stats *st);

typedef struct ac_driver {
  char sub[128];
  char label_es[128], label_en[128];
  long n, neg;
  double share; /* of the topic's negatives */
} ac_driver;

typedef struct ac_evidence {
  long volume;
  double negative_share, neg_ci_low, neg_ci_high;
  double spike_z, nps, nps_impact, csat, score;
  int rank;
  int urgent;
  const char *window;
  const char *explanation_es, *explanation_en;
  int has_csat;       /* csat: percent satisfied (4-5 of 1-5) */
  double csat_impact; /* points the topic moves the agency's CSAT */
} ac_evidence;

typedef struct ac_plan {
  char id[64];
  char agency[64];
  char topic[128];
  char label_es[128], label_en[128]; /* topic labels from the taxonomy */
  char idem_key[64];                 /* esk-<hex>, derived from the request id */
  ac_evidence ev;
  ac_term terms[AC_PLAN_MAX_TERMS];
  int nterms;
  struct {
    char id[40];
    char *text;
  } quotes[AC_PLAN_MAX_QUOTES];
  int nquotes;
  int quote_driver[AC_PLAN_MAX_QUOTES]; /* index into drivers, -1: the topic as a whole */
  char *recs[AC_PLAN_MAX_RECS];
  int nrecs;
  char *summary_es, *summary_en; /* extractive (or LLM-rewritten) */
  /* Filled from ac_stats (ac_plan_set_stats); all zero without them. */
  int has_stats;
  ac_stats st; /* counts only (cells not kept) */
  ac_driver drivers[AC_PLAN_MAX_DRIVERS];
  int ndrivers;
  ac_cell conc[AC_PLAN_MAX_CONC];
  int nconc;
  long urgent_items; /* items flagged urgent: the only source of "urgent" */
  struct {
    char id[40];
    char *text;
  } counter;                                /* a positive comment on the same topic (text NULL: none) */
  ac_term new_terms[AC_PLAN_MAX_NEW_TERMS]; /* distinctive now vs the topic's baseline */
  int nnew_terms;
  char owner[128];     /* routing assignee (or team); "" unknown */
  int sla_days;        /* days to the due date */
  char due[16];        /* YYYY-MM-DD, from opened_at + sla_days (store) */
  char dashboard[256]; /* base URL for item links; "" none */
  int generic_rec;     /* the only recommendation is the generic step */
  json_t *reported;    /* owned: the snapshot last told to the ticket (store; NULL unknown) */
} ac_plan;

/* Concentrations, driver subcategories (by their share of the topic's
 * negatives) and the urgent count from the topic's counts. Call before
 * ac_plan_analyze (quotes per driver) and ac_plan_playbook (their actions).
 * st->cells is only read. */
void ac_plan_set_stats(ac_plan *p, const ac_stats *st);
/* Fills terms/quotes from the documents (texts are copied): with drivers,
 * typical negative quotes of each driver and one positive counter-example. */
int ac_plan_analyze(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr);
/* Terms distinctive of the topic now against its own baseline documents
 * (new_terms; only clear ones, z > 1.96). */
void ac_plan_new_terms(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *base, size_t nb);
/* Recommendations from weighted driver actions (pure; see plan.c): for each
 * driver d with share w_d, its j-th action scores w_d / (j + 1); the best
 * scores first, duplicates dropped, at most max. actions[d] is a taxonomy
 * "actions" array. Returns how many were written to out (strdup'd). */
int ac_driver_recs(const double *shares, json_t *const *actions, int ndrivers, const char *lang, char **out, int max);
/* Looks the topic up in a taxonomy document; fills labels, recommendations
 * (language lang) and returns the routing object (borrowed, may be NULL).
 * Tolerates a NULL taxonomy and unknown topics. */
json_t *ac_plan_playbook(ac_plan *p, json_t *taxonomy, const char *lang);
/* Builds summary_es / summary_en from the evidence (templates). */
int ac_plan_summarize(ac_plan *p);
/* The success measure in a language (malloc'd; NULL: out of memory). */
char *ac_plan_success(const ac_plan *p, const char *lang);
/* The plan's detail (action_plans.detail): drivers, concentrations, counts,
 * success measure, owner, SLA, counter-example. New reference. */
json_t *ac_plan_detail_json(const ac_plan *p);
/* What a plan's ticket was last told (detail.reported): topic counts,
 * drivers with labels, the top concentration. New reference. */
json_t *ac_plan_snapshot_json(const ac_plan *p);
/* Whether the plan's topic changed since `reported` (a snapshot): it grew
 * (1.5 times the items and at least 5 more), shrank (half or less, at least 5
 * fewer) or its drivers changed (another set of subcategories). 1: changed,
 * with *text the ticket comment in lang (plain text, malloc'd) and hash the
 * SHA-256 (hex) of the change, for idempotency; 0: nothing to say; -1: out
 * of memory. */
int ac_plan_change(const json_t *reported, const ac_plan *p, const char *lang, char **text, char hash[65]);
/* Readability of a text: Fernández-Huerta (lang "es") or Flesch reading
 * ease (otherwise), with each language's syllable rules; see docs/actions.md.
 * Counts are returned through the optional pointers. */
double ac_readability(const char *text, const char *lang, int *words, int *sentences, int *syllables);
int ac_syllables(const char *word, size_t len, const char *lang);
/* Ticket title and body in lang "es" or "en"; malloc'd (NULL: out of
 * memory). markup: AC_MU_* (ac_text.h; 0 plain text, 1 HTML) — the body is
 * rendered for the tool's markup, citizen quotes through ac_text_quote. The
 * body ends with the idempotency marker line. */
char *ac_plan_title(const ac_plan *p, const char *lang);
char *ac_plan_body(const ac_plan *p, const char *lang, int markup);
/* Idempotency key from a request id: "esk-" + 32 hex of SHA-256. */
void ac_plan_key(const char *request_id, char out[64]);
/* Agency, topic and evidence numbers from an ActionRequest (agency and topic
 * must be set; evidence stays zero without a priority). The evidence's texts
 * point into req. */
struct Escucha__V1__ActionRequest;
void ac_plan_from_request(ac_plan *p, const struct Escucha__V1__ActionRequest *req);
void ac_plan_free(ac_plan *p);
/* JSON for action_plans columns (recommendations, quotes). New references. */
json_t *ac_plan_recs_json(const ac_plan *p);
json_t *ac_plan_quotes_json(const ac_plan *p);
#endif
