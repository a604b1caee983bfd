/* Text pipeline: Unicode normalisation with case and accent folding
 * (utf8proc), word tokenisation, language guess and Snowball stemming.
 * One cl_text per thread: it owns the stemmers and reusable buffers. */
#ifndef ESCUCHA_CLASSIFY_TEXT_H
#define ESCUCHA_CLASSIFY_TEXT_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

enum { CL_LANG_EN = 0, CL_LANG_ES = 1, CL_LANG_PT = 2, CL_LANG_OTHER = 3, CL_NLANG = 4 };

typedef struct {
  const char *s; /* into cl_text's buffers, not NUL-terminated */
  uint32_t len;
} cl_span;

#define CL_STEM_CACHE 8192 /* entries (64 bytes each), power of two */
typedef struct {
  char word[29], stem[32];
  uint8_t wlen, slen, lang; /* lang + 1; 0 = empty slot */
} cl_stem_entry;

typedef struct cl_text {
  char *folded; /* folded text (owned) */
  size_t folded_len, folded_cap;
  cl_span *words; /* folded words */
  cl_span *stems; /* stems of words (same count) */
  size_t nwords, cap_words;
  char *arena; /* stem storage */
  size_t arena_len, arena_cap;
  int lang; /* CL_LANG_* used for stemming */
  struct sb_stemmer *stemmer[CL_NLANG];
  cl_stem_entry *stem_cache; /* CL_STEM_CACHE entries, allocated on first use */
} cl_text;

ES_MUST_CHECK
cl_text *cl_text_new(void);
void cl_text_free(cl_text *t);
/* Folds (NFKC, casefold, strip marks; invalid UTF-8 bytes become spaces),
 * tokenises, picks the language (lang may be "es"/"en"/"pt"/NULL/"und" =
 * guess) and stems. 0 ok, -1 out of memory. */
int cl_text_analyze(cl_text *t, const char *text, size_t len, const char *lang);
/* Folds only (lib/text.h's ES_FOLD_MODEL); malloc'd NUL-terminated result or NULL. */
char *cl_fold(const char *text, size_t len, size_t *outlen);
int cl_lang_code(const char *lang); /* "es" -> CL_LANG_ES; unknown -> -1 */
const char *cl_lang_name(int lang); /* CL_LANG_ES -> "es" */
/* Guesses the language of folded words from function words; -1 if unsure. */
int cl_lang_guess(const cl_span *words, size_t n);
#endif
