/* Built-in es+en polarity lexicon over folded words, for cold start only
 * (urgency: urgent.h). Entries ending in '*' match word prefixes. */
#ifndef ESCUCHA_CLASSIFY_LEXICON_H
#define ESCUCHA_CLASSIFY_LEXICON_H
#include <stddef.h>

#include "text.h"

/* Counts positive and negative polarity words; a negator ("no", "not",
 * "sin", "never" ...) up to two words before flips a word's polarity. */
void cl_polarity(const cl_text *t, int *pos, int *neg);
#endif
