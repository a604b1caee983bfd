#include "lexicon.h"

#include <string.h>

static const char *const POSITIVE[] = {
    "good",     "great",  "excellent", "thank*",  "kind",       "helpful",      "quick*",     "brilliant",
    "amazing",  "lovely", "perfect*",  "satisf*", "friendly",   "professional", "best",       "fantastic",
    "happy",    "bueno",  "buena",     "buen",    "excelente*", "genial",       "gracias",    "agradec*",
    "amable*",  "rapid*", "feliz",     "encant*", "perfect*",   "maravillos*",  "satisfech*", "recomiend*",
    "eficien*", "atent*", "felicit*",  "mejor",   NULL};
static const char *const NEGATIVE[] = {
    "bad",         "poor",     "terrible",  "awful",      "rude",      "slow",     "worst",    "complain*", "unhappy",
    "disappoint*", "late",     "problem*",  "useless",    "dirty",     "horrible", "waited",   "ignored",   "malo",
    "mala",        "mal",      "pesim*",    "horrible",   "terrible",  "lent*",    "demora*",  "reclam*",   "queja*",
    "groser*",     "maltrat*", "insatisf*", "molest*",    "problema*", "peor",     "abandon*", "tard*",     "caro",
    "injust*",     "sucio*",   "nadie",     "decepcion*", "esperando", NULL};
static const char *const NEGATORS[] = {"no",   "not",  "never", "nunca", "sin", "nothing", "nada",
                                       "didn", "wasn", "don",   "isn",   "ni",  NULL};

static int word_match(const char *pat, size_t plen, const cl_span *w) {
  if (plen > 0 && pat[plen - 1] == '*') return w->len >= plen - 1 && memcmp(w->s, pat, plen - 1) == 0;
  return w->len == plen && memcmp(w->s, pat, plen) == 0;
}

static int in_list(const char *const *list, const cl_span *w) {
  if (w->len == 0) return 0;
  for (; *list; list++) /* first byte first: it rejects almost every entry without a strlen */
    if ((*list)[0] == w->s[0] && word_match(*list, strlen(*list), w)) return 1;
  return 0;
}

void cl_polarity(const cl_text *t, int *pos, int *neg) {
  *pos = *neg = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    int pol = in_list(POSITIVE, &t->words[i]) ? 1 : in_list(NEGATIVE, &t->words[i]) ? -1 : 0;
    if (!pol) continue;
    for (size_t k = 1; k <= 2 && k <= i; k++)
      if (in_list(NEGATORS, &t->words[i - k])) {
        pol = -pol;
        break;
      }
    if (pol > 0) (*pos)++;
    else (*neg)++;
  }
}
