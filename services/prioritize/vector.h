/* An item's full-text vector computed here, as PostgreSQL's
 * feedback_search_vector (migrations/016) computes it: to_tsvector('spanish')
 * for Spanish items, 'english' otherwise. PostgreSQL's default parser was
 * two thirds of the search fill's cost (docs/performance.md, "Search vectors
 * from the writer"); the service that has the text anyway makes the vector,
 * and the server only reads it.
 *
 * Exact or nothing: only texts whose tokens this module provably splits as
 * PostgreSQL's parser does are done here — words of ASCII and Latin-1 letters,
 * plain numbers, spaces and common punctuation. Anything else (a URL, an
 * e-mail, a hyphenated word, a decimal, another script, over 255 tokens) is
 * left to the server (pz_vector_make returns 0). Words are lower-cased, stop
 * words take a position but give no lexeme, the rest go through the same
 * Snowball stemmers (libstemmer). tests/integration/test_search_vector.py
 * compares every bundled text with the server; search.c's fills also check
 * samples on the live server and stop using these vectors on a mismatch. */
#ifndef ESCUCHA_PRIORITIZE_VECTOR_H
#define ESCUCHA_PRIORITIZE_VECTOR_H
#include <stddef.h>

#include "util.h"

typedef struct pz_vector pz_vector;

/* NULL when out of memory or libstemmer lacks a language. */
ES_MUST_CHECK pz_vector *pz_vector_new(void);
void pz_vector_free(pz_vector *v);

/* The vector of text[0, len) appended to out: the tsvector literal (e.g.
 * "'gat':2 'perr':5"), or with binary its binary form (tsvectorsend's, for a
 * binary parameter). lang: "es" for Spanish, anything else (NULL too)
 * English, as the SQL function. Returns 1 done, 0 the text is not one this
 * module does exactly (out unchanged: PostgreSQL makes the vector), -1 out of
 * memory. */
ES_MUST_CHECK int pz_vector_make(pz_vector *v, const char *lang, const char *text, size_t len, int binary, es_buf *out);

/* stopwords.c: PostgreSQL's lists, sorted by strcmp */
extern const char *const *pz_vector_stop_es, *const *pz_vector_stop_en;
extern const size_t pz_vector_nstop_es, pz_vector_nstop_en;
#endif
