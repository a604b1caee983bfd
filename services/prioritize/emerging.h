/* Emerging topics: word n-grams of feedback the taxonomy does not cover
 * (low confidence or category "other"), counted in a Space-Saving sketch. */
#ifndef ESCUCHA_PRIORITIZE_EMERGING_H
#define ESCUCHA_PRIORITIZE_EMERGING_H
#include <stddef.h>

#include "spacesaving.h"

typedef void (*pz_ngram_cb)(const char *gram, size_t len, void *arg);
/* Folds with ES_FOLD_TERMS (lib/text.h: case folded, accents stripped),
 * splits on non-word characters (es_text_next_word), drops short words,
 * numbers and Spanish/English stop words (es_text_is_stop), then calls cb for
 * every run of n consecutive kept words joined by one space (n in 1..3).
 * Returns the number of n-grams, -1 on error. */
int pz_ngrams(const char *text, int n, pz_ngram_cb cb, void *arg);
/* Adds text's n-grams to the sketch under "agency\x1f<gram>" keys so one
 * bounded sketch serves every agency. Returns n-grams added or -1. */
int pz_emerging_add(pz_ss *s, const char *agency, const char *text, int n);
#endif
