#include "lexicon.h"

#include <string.h>

static const char *const URGENT[] = {
    /* en: self-harm, violence, threats, danger to life */
    "kill myself", "killing myself", "suicid*", "self harm*", "end my life", "want to die",
    "take my own life", "overdos*", "threat*", "assault*", "violen*", "abus*", "rape*", "raped",
    "weapon*", "knife", "gun", "stab*", "beat me", "beaten", "hit me", "punched", "dangerous",
    "life threatening", "unsafe", "harass*", "not breathing", "unconscious", "chest pain",
    "bleeding heavily", "kidnap*",
    /* es (folded: accents stripped) */
    "suicid*", "quitarme la vida", "matarme", "me quiero morir", "quiero morir", "autolesion*",
    "hacerme dano", "amenaz*", "agredi*", "agresion*", "golpe*", "golpearon", "violen*", "abus*",
    "violacion", "violada", "violado", "arma", "armas", "cuchillo", "pistola", "peligro*",
    "apunal*", "acoso*", "acosa*", "no respira", "inconsciente", "dolor en el pecho",
    "riesgo vital", "secuestr*", "me pego", "me pegaron", "maltrato fisico",
    NULL};

static const char *const POSITIVE[] = {
    "good", "great", "excellent", "thank*", "kind", "helpful", "quick*", "brilliant", "amazing",
    "lovely", "perfect*", "satisf*", "friendly", "professional", "best", "fantastic", "happy",
    "bueno", "buena", "buen", "excelente*", "genial", "gracias", "agradec*", "amable*", "rapid*",
    "feliz", "encant*", "perfect*", "maravillos*", "satisfech*", "recomiend*", "eficien*",
    "atent*", "felicit*", "mejor", NULL};
static const char *const NEGATIVE[] = {
    "bad", "poor", "terrible", "awful", "rude", "slow", "worst", "complain*", "unhappy",
    "disappoint*", "late", "problem*", "useless", "dirty", "horrible", "waited", "ignored",
    "malo", "mala", "mal", "pesim*", "horrible", "terrible", "lent*", "demora*", "reclam*",
    "queja*", "groser*", "maltrat*", "insatisf*", "molest*", "problema*", "peor", "abandon*",
    "tard*", "caro", "injust*", "sucio*", "nadie", "decepcion*", "esperando", NULL};
static const char *const NEGATORS[] = {"no", "not", "never", "nunca", "sin", "nothing", "nada",
                                       "didn", "wasn", "don", "isn", "ni", NULL};

static int word_match(const char *pat, size_t plen, const cl_span *w) {
  if (plen > 0 && pat[plen - 1] == '*') return w->len >= plen - 1 && memcmp(w->s, pat, plen - 1) == 0;
  return w->len == plen && memcmp(w->s, pat, plen) == 0;
}

/* Does the space-separated phrase match the words starting at i? */
static int phrase_at(const char *phrase, const cl_span *words, size_t n, size_t i) {
  const char *p = phrase;
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (i >= n || !word_match(p, len, &words[i])) return 0;
    i++;
    p += len + (e ? 1 : 0);
  }
  return 1;
}

const char *cl_urgent_match(const cl_text *t) {
  for (size_t i = 0; i < t->nwords; i++)
    for (const char *const *u = URGENT; *u; u++)
      if (t->words[i].len > 1 && t->words[i].s[0] == (*u)[0] && t->words[i].s[1] == (*u)[1] &&
          phrase_at(*u, t->words, t->nwords, i))
        return *u; /* every pattern starts with 2+ letters */
  return NULL;
}

static int in_list(const char *const *list, const cl_span *w) {
  for (; *list; list++)
    if (word_match(*list, strlen(*list), w)) return 1;
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
    if (pol > 0)
      (*pos)++;
    else
      (*neg)++;
  }
}
