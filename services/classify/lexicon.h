/* Built-in es+en lexicons over folded words: urgent signals (threats,
 * violence, self-harm, danger to life) and, for cold start only, polarity
 * words. Entries ending in '*' match word prefixes. */
#ifndef ESCUCHA_CLASSIFY_LEXICON_H
#define ESCUCHA_CLASSIFY_LEXICON_H
#include <stddef.h>

#include "text.h"

/* Returns the first urgent phrase found in t's words (static string) or NULL. */
const char *cl_urgent_match(const cl_text *t);
/* Counts positive and negative polarity words; a negator ("no", "not",
 * "sin", "never" ...) up to two words before flips a word's polarity. */
void cl_polarity(const cl_text *t, int *pos, int *neg);
#endif
