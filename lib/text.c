/* Shared text helpers: fold profiles, word test, stop lists (see text.h). */
#include "text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MODEL_OPTS \
  (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE)
#define TERMS_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK)
#define CASE_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD)

/* utf8proc_map rejects invalid UTF-8 as a whole; replace bad bytes (and NUL)
 * with spaces first so one broken byte does not lose the message. */
static char *sanitize(const char *in, size_t len) {
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t i = 0;
  while (i < len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)in + i, (utf8proc_ssize_t)(len - i), &cp);
    if (n <= 0 || cp == 0) {
      out[i++] = ' ';
      continue;
    }
    memcpy(out + i, in + i, (size_t)n);
    i += (size_t)n;
  }
  out[len] = '\0';
  return out;
}

static char *fold_model(const char *text, size_t len, size_t *outlen) {
  char *clean = sanitize(text, len);
  if (!clean) return NULL;
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)len, &dst, MODEL_OPTS);
  free(clean);
  if (n < 0) return NULL;
  *outlen = (size_t)n;
  return (char *)dst;
}

/* Fast path for text made only of code points below U+0250 (Basic Latin to
 * Latin Extended-B: Spanish, English, ...) and of U+2000-U+20CF (General
 * Punctuation: curly quotes, dashes, the ellipsis, zero-width spaces;
 * superscripts and subscripts; currency symbols such as the euro),
 * for ES_FOLD_TERMS and ES_FOLD_MODEL. None of them is a combining mark or
 * composes with a neighbour, and the marks their compatibility
 * decompositions add are stripped, so folding acts code point by code point
 * and a table filled from utf8proc itself gives exactly utf8proc_map's
 * output, without its per-text decomposition and recomposition (40 % of
 * classify's instructions before; docs/performance.md).
 * tests/unit/lib/test_text.c compares every entry, and texts mixing them,
 * with utf8proc_map. */
#define FAST_LATIN 0x250
#define FAST_PUNCT 0x2000
#define FAST_SLOTS (FAST_LATIN + 0xD0)
typedef struct fold_table {
  char out[FAST_SLOTS][8];       /* 7 bytes at most, copied 8 at a time */
  unsigned char len[FAST_SLOTS]; /* 255: not handled here */
} fold_table;
static fold_table terms_tab, model_tab;
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

/* The table slot of a code point, or -1. */
static int fold_slot(utf8proc_int32_t cp) {
  if (cp < FAST_LATIN) return (int)cp;
  if (cp >= FAST_PUNCT && cp < FAST_PUNCT + (FAST_SLOTS - FAST_LATIN)) return (int)(cp - FAST_PUNCT + FAST_LATIN);
  return -1;
}

static void fold_fill(fold_table *t, utf8proc_option_t opts) {
  for (int slot = 0; slot < FAST_SLOTS; slot++) {
    utf8proc_int32_t cp = slot < FAST_LATIN ? slot : FAST_PUNCT + (slot - FAST_LATIN);
    utf8proc_uint8_t in[8], *out = NULL;
    utf8proc_ssize_t n = utf8proc_encode_char(cp, in);
    utf8proc_ssize_t r = cp ? utf8proc_map(in, n, &out, opts) : -1;
    t->len[slot] = 255;
    if (r >= 0 && (size_t)r < sizeof t->out[slot]) {
      memcpy(t->out[slot], out, (size_t)r);
      t->len[slot] = (unsigned char)r;
    }
    free(out);
  }
}

static void fold_init(void) {
  fold_fill(&terms_tab, TERMS_OPTS);
  fold_fill(&model_tab, MODEL_OPTS);
  model_tab.out[0][0] = ' ', model_tab.len[0] = 1; /* NUL becomes a space, as in sanitize */
}

/* A code point every fold profile leaves as it is, wherever it stands: not a
 * mark, no decomposition, no case folding, not ignorable, in no composition
 * pair (nor Hangul, which composes by rule). Emoji, CJK, most symbols:
 * a text with one of them need not go through utf8proc_map. test_text.c
 * checks every code point this accepts against utf8proc_map. */
int es_text_fold_keeps(int32_t cp) {
  if (cp < 0x80 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF)) return 0;
  const utf8proc_property_t *pr = utf8proc_get_property(cp);
  switch (pr->category) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CS: return 0;
    default: break;
  }
  return pr->combining_class == 0 && pr->decomp_seqindex == UINT16_MAX && pr->casefold_seqindex == UINT16_MAX &&
         pr->comb_index == UINT16_MAX && !pr->ignorable;
}

/* The folded text (malloc'd), or NULL when the text needs utf8proc_map (or
 * memory ran out: utf8proc_map then answers for it). */
static char *fold_fast(const fold_table *t, const char *text, size_t len, size_t *outlen) {
  pthread_once(&fold_once, fold_init);
  size_t cap = len + 16, o = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  const unsigned char *p = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    utf8proc_int32_t cp = p[i];
    utf8proc_ssize_t step = 1;
    if (cp >= 0x80) step = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
    int slot = step > 0 ? fold_slot(cp) : -1;
    int table = slot >= 0 && t->len[slot] != 255;
    if (!table && (slot >= 0 || step <= 0 || !es_text_fold_keeps(cp))) {
      free(out);
      return NULL;
    }
    if (o + 8 + 1 > cap) {
      char *q = realloc(out, cap *= 2);
      if (!q) {
        free(out);
        return NULL;
      }
      out = q;
    }
    if (table) { /* a fixed 8-byte copy is one move; a variable one a call */
      memcpy(out + o, t->out[slot], 8);
      o += t->len[slot];
    } else {
      memcpy(out + o, p + i, (size_t)step);
      o += (size_t)step;
    }
    i += (size_t)step;
  }
  out[o] = '\0';
  *outlen = o;
  return out;
}

static char *fold_map(const char *text, size_t len, utf8proc_option_t opts, size_t *outlen) {
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &dst, opts);
  if (n < 0) return NULL; /* invalid UTF-8: ingest should have rejected it */
  *outlen = (size_t)n;
  return (char *)dst;
}

char *es_text_fold(es_fold_profile p, const char *text, size_t len, size_t *outlen) {
  size_t n = 0;
  char *f = NULL;
  switch (p) {
    case ES_FOLD_MODEL:
      f = fold_fast(&model_tab, text, len, &n);
      if (!f) f = fold_model(text, len, &n);
      break;
    case ES_FOLD_TERMS:
      f = fold_fast(&terms_tab, text, len, &n);
      if (!f) f = fold_map(text, len, TERMS_OPTS, &n);
      break;
    case ES_FOLD_CASE: f = fold_map(text, len, CASE_OPTS, &n); break;
  }
  if (f && outlen) *outlen = n;
  return f;
}

/* Pure ASCII text (most feedback) folds under ES_FOLD_MODEL to itself
 * lower-cased: NFKC, case folding and mark stripping change no other ASCII
 * character, so utf8proc is skipped (NUL still becomes a space, as in
 * sanitize). Checked against es_text_fold for every ASCII byte by
 * classify's unit tests. */
int es_text_fold_into(es_fold_profile p, const char *text, size_t len, char **buf, size_t *cap, size_t *outlen) {
  size_t i = 0;
  if (p == ES_FOLD_MODEL)
    while (i < len && (unsigned char)text[i] < 0x80) i++;
  if (p == ES_FOLD_MODEL && i == len) {
    if (len + 1 > *cap) {
      size_t c = *cap ? *cap : 256;
      while (c < len + 1) c *= 2;
      char *f = malloc(c);
      if (!f) return -1;
      free(*buf);
      *buf = f;
      *cap = c;
    }
    for (size_t j = 0; j < len; j++) {
      unsigned char ch = (unsigned char)text[j];
      (*buf)[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch == 0 ? ' ' : (char)ch;
    }
    (*buf)[len] = '\0';
    *outlen = len;
    return 0;
  }
  size_t n;
  char *f = es_text_fold(p, text, len, &n);
  if (!f) return -1;
  free(*buf);
  *buf = f;
  *outlen = n;
  *cap = n + 1;
  return 0;
}

int es_text_is_word_cp(int32_t cp) {
  if (cp < 128) return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_MN;
}

int es_text_word_at(const char *s, size_t i, size_t len, size_t *k) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
  *k = 1;
  if (n <= 0) return 0;
  *k = (size_t)n;
  return es_text_is_word_cp(cp);
}

/* Function words carry no topic signal. Short lists, as the services had
 * them (their union): each folded spelling once, 3 bytes or more. */
static const char *const STOP_ES[] = {
    "para",  "por",   "con",     "los",     "las",  "del",   "que",   "una",   "uno",    "unos",   "unas",
    "como",  "pero",  "mas",     "más",     "muy",  "esta",  "está",  "este",  "estos",  "estas",  "estan",
    "están", "eso",   "esto",    "ese",     "esa",  "son",   "sin",   "sus",   "porque", "cuando", "donde",
    "hay",   "fue",   "ser",     "han",     "hace", "tiene", "tengo", "nos",   "les",    "ellos",  "ella",
    "entre", "sobre", "tambien", "también", "todo", "toda",  "todos", "todas", "nada",   "solo",   "hoy",
    "aun",   "mis",   "tus",     "mucho",   "poco", "estoy", "era",   "sí",    NULL};
static const char *const STOP_EN[] = {"the",  "and",   "for",   "with", "that", "this",  "was",  "are",  "were",
                                      "but",  "not",   "you",   "your", "have", "has",   "had",  "they", "them",
                                      "from", "there", "their", "what", "when", "which", "who",  "will", "would",
                                      "can",  "could", "been",  "very", "just", "about", "into", "our",  "out",
                                      "all",  "any",   "its",   "than", "then", "too",   "also", NULL};

/* Both lists in one open-addressing table: word -> mask of ES_STOP_*. */
#define STOP_SLOTS 512
static struct {
  const char *w[STOP_SLOTS];
  uint8_t len[STOP_SLOTS], mask[STOP_SLOTS];
} ST;
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;

static size_t stop_slot(const char *w, size_t len) {
  uint32_t h = es_fnv1a(ES_FNV1A_BASIS, w, len);
  return (h ^ h >> 16) & (STOP_SLOTS - 1);
}

static size_t stop_find(const char *w, size_t len) {
  size_t h = stop_slot(w, len);
  while (ST.w[h] && !(ST.len[h] == len && memcmp(ST.w[h], w, len) == 0)) h = (h + 1) & (STOP_SLOTS - 1);
  return h;
}

static void stop_compile(void) {
  const char *const *lists[2] = {STOP_ES, STOP_EN};
  for (int l = 0; l < 2; l++)
    for (const char *const *p = lists[l]; *p; p++) {
      size_t len = strlen(*p), h = stop_find(*p, len);
      ST.w[h] = *p;
      ST.len[h] = (uint8_t)len;
      ST.mask[h] |= (uint8_t)(1u << l);
    }
}

int es_text_is_stop(const char *w, size_t len, unsigned langs) {
  if (len < 3 || len > 16) return 0; /* the longest listed word has 8 bytes */
  pthread_once(&stop_once, stop_compile);
  size_t h = stop_find(w, len);
  return ST.w[h] && (ST.mask[h] & langs) != 0;
}
