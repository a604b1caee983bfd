#include "text.h"

/* lib's text.h by path: this directory's text.h (classify's) shadows it */
#include "../../lib/text.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const LANG_NAMES[CL_NLANG] = {"en", "es", "pt", "und"};
static const char *const STEMMER_NAMES[CL_NLANG] = {"english", "spanish", "portuguese", NULL};

int cl_lang_code(const char *lang) {
  if (!lang) return -1;
  for (int i = 0; i < CL_LANG_OTHER; i++)
    if (strncmp(lang, LANG_NAMES[i], 2) == 0 && (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_')) return i;
  return -1;
}

const char *cl_lang_name(int lang) { return lang >= 0 && lang < CL_NLANG ? LANG_NAMES[lang] : "und"; }

cl_text *cl_text_new(void) {
  cl_text *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  for (int i = 0; i < CL_LANG_OTHER; i++) {
    t->stemmer[i] = sb_stemmer_new(STEMMER_NAMES[i], "UTF_8");
    if (!t->stemmer[i]) {
      cl_text_free(t);
      return NULL;
    }
  }
  return t;
}

void cl_text_free(cl_text *t) {
  if (!t) return;
  for (int i = 0; i < CL_NLANG; i++)
    if (t->stemmer[i]) sb_stemmer_delete(t->stemmer[i]);
  free(t->folded);
  free(t->words);
  free(t->stems);
  free(t->arena);
  free(t->stem_cache);
  free(t);
}

char *cl_fold(const char *text, size_t len, size_t *outlen) { return es_text_fold(ES_FOLD_MODEL, text, len, outlen); }

static int push_word(cl_text *t, const char *s, uint32_t len) {
  if (t->nwords == t->cap_words) {
    size_t cap = t->cap_words ? t->cap_words * 2 : 64;
    cl_span *w = realloc(t->words, cap * sizeof *w);
    if (!w) return -1;
    t->words = w;
    cl_span *st = realloc(t->stems, cap * sizeof *st);
    if (!st) return -1;
    t->stems = st;
    t->cap_words = cap;
  }
  t->words[t->nwords++] = (cl_span){s, len};
  return 0;
}

static int tokenize(cl_text *t) {
  size_t pos = 0, start, len;
  while ((len = es_text_next_word(t->folded, t->folded_len, &pos, &start)) > 0)
    if (push_word(t, t->folded + start, (uint32_t)len)) return -1;
  return 0;
}

/* Function words are the cheapest reliable language signal for short texts. */
static const char *const FW[3][24] = {
    {"the",  "and", "to",   "of",   "was", "is",  "it",  "for", "that", "with", "they", "were",
     "very", "my",  "have", "this", "are", "not", "you", "be",  "had",  "me",   "but",  "i"},
    {"el",   "la", "los", "las", "que", "de", "y",  "en",  "por", "para", "con", "muy",
     "pero", "no", "una", "se",  "del", "mi", "es", "fue", "hay", "me",   "lo",  "al"},
    {"o",   "os", "as", "que", "de",  "e",   "em", "para", "com", "muito", "mas", "nao",
     "uma", "se", "do", "da",  "meu", "foi", "ha", "um",   "no",  "na",    "ao",  "voce"}};

/* Function words packed into a 64-bit key (bytes + length) in a small
 * open-addressing table: key -> bit mask of the languages listing it. */
#define FW_SLOTS 256
static struct {
  uint64_t key[FW_SLOTS];
  uint8_t mask[FW_SLOTS];
} FWT;
static pthread_once_t FWT_once = PTHREAD_ONCE_INIT;

static uint64_t fw_key(const char *s, size_t len) {
  uint64_t k = (uint64_t)len << 56;
  for (size_t i = 0; i < len; i++) k |= (uint64_t)(unsigned char)s[i] << (8 * i);
  return k;
}

static size_t fw_slot(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 56) & (FW_SLOTS - 1); }

static void fw_compile(void) {
  for (int l = 0; l < 3; l++)
    for (int j = 0; j < 24; j++) {
      uint64_t k = fw_key(FW[l][j], strlen(FW[l][j]));
      size_t h = fw_slot(k);
      while (FWT.key[h] && FWT.key[h] != k) h = (h + 1) & (FW_SLOTS - 1);
      FWT.key[h] = k;
      FWT.mask[h] |= (uint8_t)(1u << l);
    }
}

int cl_lang_guess(const cl_span *words, size_t n) {
  int score[3] = {0, 0, 0};
  pthread_once(&FWT_once, fw_compile);
  for (size_t i = 0; i < n; i++) {
    if (words[i].len > 5 || words[i].len == 0) continue; /* no function word is longer */
    uint64_t k = fw_key(words[i].s, words[i].len);
    size_t h = fw_slot(k);
    while (FWT.key[h] && FWT.key[h] != k) h = (h + 1) & (FW_SLOTS - 1);
    if (FWT.key[h] != k) continue;
    for (int l = 0; l < 3; l++) score[l] += FWT.mask[h] >> l & 1;
  }
  int best = 0;
  for (int l = 1; l < 3; l++)
    if (score[l] > score[best]) best = l;
  return score[best] > 0 ? best : -1;
}

static int arena_put(cl_text *t, const char *s, size_t len, cl_span *out) {
  if (t->arena_len + len > t->arena_cap) {
    size_t cap = (t->arena_cap ? t->arena_cap : 1024);
    while (cap < t->arena_len + len) cap *= 2;
    char *a = realloc(t->arena, cap);
    if (!a) return -1;
    t->arena = a;
    t->arena_cap = cap;
  }
  memcpy(t->arena + t->arena_len, s, len);
  /* offsets, not pointers: the arena may move while we fill it */
  out->s = (const char *)(uintptr_t)t->arena_len;
  out->len = (uint32_t)len;
  t->arena_len += len;
  return 0;
}

/* Snowball stemming was ~15 % of prediction; words repeat a lot, so stems
 * are memoised in a direct-mapped cache per cl_text (a stem is a pure
 * function of language and word: the cache never changes a result). */
static uint32_t stem_slot(const char *s, size_t len, int lang) {
  uint32_t h = es_fnv1a(ES_FNV1A_BASIS ^ (uint32_t)lang, s, len);
  return (h ^ h >> 15) & (CL_STEM_CACHE - 1);
}

static int stem_words(cl_text *t) {
  int lang = t->lang < CL_LANG_OTHER ? t->lang : CL_LANG_EN;
  struct sb_stemmer *st = t->stemmer[lang];
  if (!t->stem_cache) t->stem_cache = calloc(CL_STEM_CACHE, sizeof *t->stem_cache);
  t->arena_len = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    const char *w = t->words[i].s;
    size_t wl = t->words[i].len;
    cl_stem_entry *e = NULL;
    if (t->stem_cache && wl <= sizeof e->word) {
      e = &t->stem_cache[stem_slot(w, wl, lang)];
      if (e->wlen == wl && e->lang == lang + 1 && memcmp(e->word, w, wl) == 0) {
        if (arena_put(t, e->stem, e->slen, &t->stems[i])) return -1;
        continue;
      }
    }
    const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)w, (int)wl);
    const char *s = r ? (const char *)r : w;
    size_t len = r ? (size_t)sb_stemmer_length(st) : wl;
    if (e && len <= sizeof e->stem) {
      memcpy(e->word, w, wl);
      memcpy(e->stem, s, len);
      e->wlen = (uint8_t)wl;
      e->slen = (uint8_t)len;
      e->lang = (uint8_t)(lang + 1);
    }
    if (arena_put(t, s, len, &t->stems[i])) return -1;
  }
  for (size_t i = 0; i < t->nwords; i++) t->stems[i].s = t->arena + (uintptr_t)t->stems[i].s;
  return 0;
}

int cl_text_analyze(cl_text *t, const char *text, size_t len, const char *lang) {
  t->nwords = 0;
  if (es_text_fold_into(ES_FOLD_MODEL, text, len, &t->folded, &t->folded_cap, &t->folded_len)) return -1;
  if (tokenize(t)) return -1;
  int l = cl_lang_code(lang);
  if (l < 0) l = cl_lang_guess(t->words, t->nwords);
  t->lang = l < 0 ? CL_LANG_OTHER : l;
  return stem_words(t);
}
