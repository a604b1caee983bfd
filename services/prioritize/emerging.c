/* Word n-grams for the emerging-topics sketch. */
#include "emerging.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define MAX_WORDS 512 /* bounds the work per feedback text */
#define MIN_WORD 3    /* bytes; shorter words are mostly function words */

static int all_digits(const char *w, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (w[i] < '0' || w[i] > '9') return 0;
  return 1;
}

typedef struct {
  const char *p;
  size_t len;
} word;

static int split_words(const char *s, size_t slen, word *out, int max) {
  int n = 0;
  size_t pos = 0, start, len;
  while (n < max && (len = es_text_next_word(s, slen, &pos, &start)) > 0)
    if (len >= MIN_WORD && !all_digits(s + start, len) && !es_text_is_stop(s + start, len, ES_STOP_ALL))
      out[n++] = (word){s + start, len};
  return n;
}

int pz_ngrams(const char *text, int n, pz_ngram_cb cb, void *arg) {
  if (!text || n < 1 || n > 3) return -1;
  size_t r;
  char *folded = es_text_fold(ES_FOLD_TERMS, text, strlen(text), &r);
  if (!folded) return -1;
  word *w = malloc(MAX_WORDS * sizeof *w);
  char *gram = malloc(r + 4);
  int count = -1;
  if (!w || !gram) goto cleanup;
  int nw = split_words(folded, r, w, MAX_WORDS);
  count = 0;
  for (int i = 0; i + n <= nw; i++) {
    size_t len = 0;
    for (int j = 0; j < n; j++) {
      if (j) gram[len++] = ' ';
      memcpy(gram + len, w[i + j].p, w[i + j].len);
      len += w[i + j].len;
    }
    gram[len] = '\0';
    cb(gram, len, arg);
    count++;
  }
cleanup:
  free(gram);
  free(w);
  free(folded);
  return count;
}

typedef struct {
  pz_ss *s;
  const char *agency;
  size_t alen;
  int failed;
} add_ctx;

static void add_gram(const char *gram, size_t len, void *arg) {
  add_ctx *c = arg;
  char stackbuf[256];
  size_t need = c->alen + 1 + len;
  char *key = need <= sizeof stackbuf ? stackbuf : malloc(need);
  if (!key) {
    c->failed = 1;
    return;
  }
  memcpy(key, c->agency, c->alen);
  key[c->alen] = '\x1f';
  memcpy(key + c->alen + 1, gram, len);
  if (pz_ss_add(c->s, key, need, 1) != 0) c->failed = 1;
  if (key != stackbuf) free(key);
}

int pz_emerging_add(pz_ss *s, const char *agency, const char *text, int n) {
  add_ctx c = {s, agency ? agency : "", agency ? strlen(agency) : 0, 0};
  int r = pz_ngrams(text, n, add_gram, &c);
  return c.failed ? -1 : r;
}
