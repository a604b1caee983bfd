/* Word n-grams for the emerging-topics sketch. */
#include "emerging.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_WORDS 512 /* bounds the work per feedback text */
#define MIN_WORD 3    /* bytes; shorter words are mostly function words */

static const char *const STOP[] = {
    /* es */ "para", "por",   "con",     "los",   "las",   "del",   "que",    "una",    "uno",   "unos",
    "unas",          "como",  "pero",    "mas",   "muy",   "esta",  "este",   "estos",  "estas", "eso",
    "esto",          "ese",   "esa",     "son",   "sin",   "sus",   "porque", "cuando", "donde", "hay",
    "fue",           "ser",   "han",     "hace",  "tiene", "tengo", "nos",    "les",    "ellos", "ella",
    "entre",         "sobre", "tambien", "todo",  "todos", "nada",  "solo",   "ya",     "hoy",   "aun",
    "mis",           "mucho", "poco",    "estoy", "esta",  "era",
    /* en */ "the",  "and",   "for",     "with",  "that",  "this",  "was",    "are",    "were",  "but",
    "not",           "you",   "your",    "have",  "has",   "had",   "they",   "them",   "from",  "there",
    "their",         "what",  "when",    "which", "who",   "will",  "would",  "can",    "could", "been",
    "very",          "just",  "about",   "into",  "our",   "out",   "all",    "any",    "its",   "it's",
    "than",          "then",  "too",     "also",  NULL};

static int is_stop(const char *w, size_t len) {
  for (int i = 0; STOP[i]; i++)
    if (strlen(STOP[i]) == len && memcmp(STOP[i], w, len) == 0) return 1;
  return 0;
}

/* Letters and digits of any script are word characters (by Unicode
 * category), so "¡" or "…" split words like ASCII punctuation does. */
static int is_word_cp(utf8proc_int32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9');
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_MN;
}

/* Length in bytes of the code point at p (1 for an invalid byte), its value in *cp. */
static size_t next_cp(const unsigned char *p, utf8proc_int32_t *cp) {
  utf8proc_ssize_t n = utf8proc_iterate(p, -1, cp);
  if (n <= 0) {
    *cp = -1;
    return 1;
  }
  return (size_t)n;
}

static int all_digits(const char *w, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (w[i] < '0' || w[i] > '9') return 0;
  return 1;
}

typedef struct {
  const char *p;
  size_t len;
} word;

static int split_words(const char *s, word *out, int max) {
  int n = 0;
  const unsigned char *p = (const unsigned char *)s;
  utf8proc_int32_t cp;
  while (*p && n < max) {
    size_t step;
    while (*p && !is_word_cp((step = next_cp(p, &cp), cp))) p += step;
    const unsigned char *start = p;
    while (*p && is_word_cp((step = next_cp(p, &cp), cp))) p += step;
    size_t len = (size_t)(p - start);
    if (len >= MIN_WORD && !all_digits((const char *)start, len) && !is_stop((const char *)start, len))
      out[n++] = (word){(const char *)start, len};
  }
  return n;
}

#define FOLD_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK)

/* Fast fold for text made only of code points below U+0250 (Basic Latin to
 * Latin Extended-B: Spanish, English, ...). None of them is a combining mark
 * or composes with a neighbour, so folding acts code point by code point and
 * a table filled from utf8proc itself gives exactly utf8proc_map's output,
 * without its per-text decomposition and recomposition. */
#define FAST_LIMIT 0x250
static struct {
  char out[7];
  unsigned char len; /* 255: not handled here */
} fold_tab[FAST_LIMIT];
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

static void fold_init(void) {
  fold_tab[0].len = 255;
  for (utf8proc_int32_t cp = 1; cp < FAST_LIMIT; cp++) {
    utf8proc_uint8_t in[8], *out = NULL;
    utf8proc_ssize_t n = utf8proc_encode_char(cp, in);
    utf8proc_ssize_t r = utf8proc_map(in, n, &out, FOLD_OPTS);
    fold_tab[cp].len = 255;
    if (r >= 0 && (size_t)r <= sizeof fold_tab[cp].out) {
      memcpy(fold_tab[cp].out, out, (size_t)r);
      fold_tab[cp].len = (unsigned char)r;
    }
    free(out);
  }
}

/* The folded text (malloc'd), or NULL when the text needs utf8proc_map. */
static char *fold_fast(const char *text) {
  pthread_once(&fold_once, fold_init);
  size_t len = strlen(text), cap = len + 16, o = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  for (const unsigned char *p = (const unsigned char *)text; *p;) {
    utf8proc_int32_t cp = *p;
    utf8proc_ssize_t step = 1;
    if (cp >= 0x80) step = utf8proc_iterate(p, -1, &cp);
    if (step <= 0 || cp >= FAST_LIMIT || fold_tab[cp].len == 255) {
      free(out);
      return NULL;
    }
    if (o + fold_tab[cp].len + 1 > cap) {
      char *q = realloc(out, cap *= 2);
      if (!q) {
        free(out);
        return NULL;
      }
      out = q;
    }
    memcpy(out + o, fold_tab[cp].out, fold_tab[cp].len);
    o += fold_tab[cp].len;
    p += step;
  }
  out[o] = '\0';
  return out;
}

char *pz_fold(const char *text) {
  char *f = fold_fast(text);
  if (f) return f;
  utf8proc_uint8_t *folded = NULL;
  if (utf8proc_map((const utf8proc_uint8_t *)text, 0, &folded, UTF8PROC_NULLTERM | FOLD_OPTS) < 0)
    return NULL; /* invalid UTF-8: ingest should have rejected it */
  return (char *)folded;
}

int pz_ngrams(const char *text, int n, pz_ngram_cb cb, void *arg) {
  if (!text || n < 1 || n > 3) return -1;
  char *folded = pz_fold(text);
  if (!folded) return -1;
  size_t r = strlen(folded);
  word *w = malloc(MAX_WORDS * sizeof *w);
  char *gram = malloc(r + 4);
  int count = -1;
  if (!w || !gram) goto cleanup;
  int nw = split_words((const char *)folded, w, MAX_WORDS);
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
