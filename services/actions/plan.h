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
  const char *text; /* already redacted */
} ac_doc;

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

typedef struct ac_evidence {
  long volume;
  double negative_share, neg_ci_low, neg_ci_high;
  double spike_z, nps, nps_impact, csat, score;
  int rank;
  int urgent;
  const char *window;
  const char *explanation_es, *explanation_en;
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
  char *recs[AC_PLAN_MAX_RECS];
  int nrecs;
  char *summary_es, *summary_en; /* extractive (or LLM-rewritten) */
} ac_plan;

/* Fills terms/quotes from the documents (texts are copied). */
int ac_plan_analyze(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr);
/* Looks the topic up in a taxonomy document; fills labels, recommendations
 * (language lang) and returns the routing object (borrowed, may be NULL).
 * Tolerates a NULL taxonomy and unknown topics. */
json_t *ac_plan_playbook(ac_plan *p, json_t *taxonomy, const char *lang);
/* Builds summary_es / summary_en from the evidence (templates). */
int ac_plan_summarize(ac_plan *p);
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
