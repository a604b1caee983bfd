/* Optional summary rewrite by an OpenAI-compatible chat-completions endpoint
 * (ESCUCHA_LLM_URL). The extractive summary is always built first; the model
 * only rephrases it. Any failure (network, timeout, non-2xx, unparsable or
 * suspicious answer) keeps the extractive text: the plan never depends on it.
 *
 * Sent: the extractive summaries (es/en), the topic label, distinctive terms
 * and recommendations. Not sent: citizen quotes (privacy; they stay in the
 * ticket verbatim). A rewrite is rejected when it contains a number that is
 * not in the extractive summary (no invented figures) or is empty/too long. */
#ifndef ESCUCHA_ACTIONS_LLM_H
#define ESCUCHA_ACTIONS_LLM_H
#include "util.h" /* ES_MUST_CHECK */
#include "ac_http.h"
#include "plan.h"

typedef struct ac_llm {
  const char *url;   /* full URL, e.g. https://host/v1/chat/completions */
  const char *model; /* "model" field */
  const char *token; /* bearer (may be NULL for local servers) */
  long timeout_ms;   /* whole request */
  ac_retry retry;    /* filled by ac_llm_init; one attempt by default */
} ac_llm;

void ac_llm_init(ac_llm *l, const char *url, const char *model, const char *token, long timeout_ms);
/* 0: p->summary_es/en replaced; -1: kept (reason in why). */
int ac_llm_rewrite(const ac_llm *l, ac_plan *p, char *why, size_t whylen);
/* Request body for p (malloc'd JSON). */
char *ac_llm_request_json(const ac_llm *l, const ac_plan *p);
/* Parses a chat-completions response body; on success *es and *en are malloc'd.
 * source_es/en are the extractive texts the numbers are checked against. */
ES_MUST_CHECK
int ac_llm_parse_response(const char *body, size_t len, const char *source_es, const char *source_en, char **es,
                          char **en, char *why, size_t whylen);
#endif
