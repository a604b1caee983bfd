/* Runtime classifier: model heads + cold-start seed keywords + urgency.
 *
 * Cold start: for a language with fewer than CL_MIN_LANG_EXAMPLES labelled
 * topic examples in the model (e.g. Spanish before an agency supplies data),
 * the taxonomy's seed keywords for that language give a keyword distribution
 * p_kw (matched phrase weight per subcategory, with one unit of "no match"
 * mass) that is mixed with the model: p = 0.25 p_model + 0.75 p_kw. Once
 * the language has labelled data, keywords are not used at all. Sentiment
 * falls back to a polarity lexicon the same way; the journey stage falls
 * back to the subcategory's journey hint. Below the confidence threshold the
 * item is "other/unclassified"; an empty text or a survey non-answer ("did
 * not answer", "sin comentarios") is "other/no_comment", neutral. */
#ifndef ESCUCHA_CLASSIFY_CLASSIFIER_H
#define ESCUCHA_CLASSIFY_CLASSIFIER_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

#include "hashfeat.h"
#include "model.h"
#include "taxonomy.h"
#include "text.h"

#define CL_MIN_LANG_EXAMPLES 10
#define CL_OTHER_CATEGORY "other"
#define CL_OTHER_SUBCATEGORY "other/unclassified"
#define CL_NO_COMMENT_SUBCATEGORY "other/no_comment" /* empty or a survey non-answer */
#define CL_MAX_TERMS 3

enum { CL_SRC_MODEL = 0, CL_SRC_KEYWORDS = 1, CL_SRC_MIXED = 2 };

typedef struct cl_result {
  const char *category, *subcategory; /* valid while the classifier lives */
  int sub;                            /* taxonomy index or -1 (other/unclassified) */
  float confidence;                   /* calibrated probability of the subcategory */
  float runner_up;                    /* probability of the second most probable subcategory */
  const char *predicted;              /* the most probable subcategory, also under the threshold; or NULL */
  int sentiment;                      /* 0 negative, 1 neutral, 2 positive */
  float sentiment_score;              /* p(positive) - p(negative), in [-1, 1] */
  float sentiment_conf;
  float sentiment_runner_up; /* the second most probable sentiment's probability */
  int journey;               /* 0..5 (ES_JOURNEYS) or -1 */
  float journey_conf;
  int urgent;
  const char *urgent_reason; /* Classification.urgent_reason (static string) or NULL */
  float urgent_conf;         /* 0..1 when urgent */
  char urgent_phrase[96];    /* the matched words ("" for the category rule) */
  char terms[CL_MAX_TERMS][48];
  int nterms;
  int lang;   /* CL_LANG_* used */
  int source; /* CL_SRC_* for the topic */
} cl_result;

/* Urgency (urgent.h): a danger phrase, else an urgent taxonomy subcategory
 * when the item is negative with at least this sentiment confidence; the
 * category rule's confidence is CL_URGENT_CATEGORY_CONF times the smaller
 * of the topic and sentiment confidences (below every phrase rule's). */
#define CL_URGENT_MIN_NEGATIVE 0.5f
#define CL_URGENT_CATEGORY_CONF 0.5f

typedef struct cl_classifier cl_classifier;

/* Takes ownership of m and tax (tax may be NULL: the model's embedded
 * taxonomy is used). Fails if tax does not match the model. */
ES_MUST_CHECK
cl_classifier *cl_classifier_new(cl_model *m, es_taxonomy *tax, float threshold, char *err, size_t errlen);
void cl_classifier_free(cl_classifier *c);
int cl_classify(cl_classifier *c, const char *text, size_t len, const char *lang, cl_result *r);
const cl_model *cl_classifier_model(const cl_classifier *c);
/* The category rule alone: r's subcategory is urgent in T and r is negative. */
int cl_category_urgent(const es_taxonomy *T, const cl_result *r);
const es_taxonomy *cl_classifier_taxonomy(const cl_classifier *c);
/* Raw model argmax per head without threshold or cold start (for eval):
 * class index per head or -1. */
int cl_classify_raw(cl_classifier *c, const char *text, size_t len, const char *lang, int out[CL_NHEADS]);
#endif
