/* Shared text helpers (issue 12, item 4): named case/accent fold profiles,
 * the tokenizer's word-character test and the es/en stop lists, used by
 * classify, prioritize and actions. Each profile reproduces, byte for byte,
 * the folding its service did before the move: ES_FOLD_MODEL's output feeds
 * classify's hashed features, so changing it means retraining every model. */
#ifndef ESCUCHA_LIB_TEXT_H
#define ESCUCHA_LIB_TEXT_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

typedef enum {
  /* classify (model features): invalid UTF-8 bytes and NUL become one space
   * each, then NFKC, full case folding, marks stripped, default-ignorable
   * code points dropped. Never fails on bad input. */
  ES_FOLD_MODEL = 0,
  /* prioritize (emerging n-grams): NFC, full case folding, marks stripped;
   * invalid UTF-8 is refused (NULL). */
  ES_FOLD_TERMS = 1,
  /* actions (distinctive terms shown in plans): NFC and full case folding,
   * accents kept; invalid UTF-8 is refused (NULL). */
  ES_FOLD_CASE = 2,
} es_fold_profile;

/* Folds text (len bytes) with profile p. Returns the folded text, malloc'd
 * and NUL-terminated (free()), its length in *outlen when outlen is not NULL;
 * NULL when out of memory, on an unknown profile, or (TERMS, CASE) when the
 * text is not valid UTF-8. */
ES_MUST_CHECK char *es_text_fold(es_fold_profile p, const char *text, size_t len, size_t *outlen);

/* The same into a reusable buffer: *buf (malloc'd, owned by the caller,
 * may be NULL) of *cap bytes is grown or replaced as needed; the result is
 * NUL-terminated and *outlen bytes long. Pure ASCII text under ES_FOLD_MODEL
 * is lower-cased in place of utf8proc (same bytes, no allocation per call).
 * 0 ok, -1 as es_text_fold's NULL. */
ES_MUST_CHECK int es_text_fold_into(es_fold_profile p, const char *text, size_t len, char **buf, size_t *cap,
                                    size_t *outlen);

/* 1 when every fold profile leaves cp as it is wherever it stands (emoji,
 * CJK, most symbols): the fast folding path copies it. */
int es_text_fold_keeps(int32_t cp);

/* Word characters: ASCII letters and digits, and outside ASCII any letter
 * (L*), number (N*) or non-spacing mark (Mn) by Unicode category; so "¡",
 * "…", "'" and "-" split words. cp < 0 (an invalid byte) is not one. */
int es_text_is_word_cp(int32_t cp);

/* Is the code point at s[i] (of len bytes) a word character; its length in
 * bytes in *k (1 for an invalid byte, which is not one). */
int es_text_word_at(const char *s, size_t i, size_t len, size_t *k);

/* The next word of s[*pos, len) by es_text_is_word_cp (an invalid byte
 * separates words). Its length is returned and its start offset stored in
 * *start; *pos moves past it. 0 when no word is left. Inline with ASCII
 * tested in place: classify tokenizes every document with it. */
static inline size_t es_text_next_word(const char *s, size_t len, size_t *pos, size_t *start) {
  size_t i = *pos, st = 0;
  int in_word = 0;
  while (i < len) {
    unsigned c = (unsigned char)s[i];
    size_t k = 1;
    int w = c < 0x80 ? c - 'a' < 26u || c - '0' < 10u || c - 'A' < 26u : es_text_word_at(s, i, len, &k);
    if (w != in_word) {
      if (in_word) break;
      st = i;
      in_word = 1;
    }
    i += k;
  }
  *pos = i;
  *start = in_word ? st : i;
  return in_word ? i - st : 0;
}

/* Stop lists: function words that carry no topic, as folded by
 * ES_FOLD_TERMS (accents stripped) and ES_FOLD_CASE (accents kept): the
 * Spanish list holds both spellings ("tambien", "también"). Words shorter
 * than 3 bytes are not listed (the services skip them before asking). */
enum { ES_STOP_ES = 1, ES_STOP_EN = 2, ES_STOP_ALL = ES_STOP_ES | ES_STOP_EN };
/* 1 when the len bytes at w are a stop word of one of langs (ES_STOP_*). */
int es_text_is_stop(const char *w, size_t len, unsigned langs);
#endif
