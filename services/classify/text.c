#include "text.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

char *cl_fold(const char *text, size_t len, size_t *outlen) {
  char *clean = sanitize(text, len);
  if (!clean) return NULL;
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t n = utf8proc_map(
      (const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)len, &dst,
      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
  free(clean);
  if (n < 0) return NULL;
  if (outlen) *outlen = (size_t)n;
  return (char *)dst;
}

static int is_word_cp(utf8proc_int32_t cp) {
  if (cp < 128) return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_MN;
}

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
  const char *s = t->folded;
  size_t i = 0, n = t->folded_len, start = 0;
  int in_word = 0;
  while (i < n) {
    utf8proc_int32_t cp = (unsigned char)s[i];
    utf8proc_ssize_t k = 1;
    int w;
    if (cp < 0x80) {
      w = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
    } else {
      k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
      if (k <= 0) k = 1, cp = ' ';
      w = is_word_cp(cp);
    }
    if (w && !in_word) start = i;
    if (!w && in_word && push_word(t, s + start, (uint32_t)(i - start))) return -1;
    in_word = w;
    i += (size_t)k;
  }
  if (in_word && push_word(t, s + start, (uint32_t)(n - start))) return -1;
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
  uint32_t h = 2166136261u ^ (uint32_t)lang;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
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

/* Pure ASCII text (most feedback) folds to itself lower-cased: NFKC, case
 * folding and mark stripping change no other ASCII character, so utf8proc
 * is skipped (NUL still becomes a space, as in sanitize). Checked against
 * utf8proc for every ASCII byte by a unit test. */
static int fold_text(cl_text *t, const char *text, size_t len) {
  size_t i = 0;
  while (i < len && (unsigned char)text[i] < 0x80) i++;
  if (i == len) {
    if (len + 1 > t->folded_cap) {
      size_t cap = t->folded_cap ? t->folded_cap : 256;
      while (cap < len + 1) cap *= 2;
      char *f = malloc(cap);
      if (!f) return -1;
      free(t->folded);
      t->folded = f;
      t->folded_cap = cap;
    }
    for (size_t j = 0; j < len; j++) {
      unsigned char ch = (unsigned char)text[j];
      t->folded[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch == 0 ? ' ' : (char)ch;
    }
    t->folded[len] = '\0';
    t->folded_len = len;
    return 0;
  }
  size_t n;
  char *f = cl_fold(text, len, &n);
  if (!f) return -1;
  free(t->folded);
  t->folded = f;
  t->folded_len = n;
  t->folded_cap = n + 1;
  return 0;
}

int cl_text_analyze(cl_text *t, const char *text, size_t len, const char *lang) {
  t->nwords = 0;
  if (fold_text(t, text, len)) return -1;
  if (tokenize(t)) return -1;
  int l = cl_lang_code(lang);
  if (l < 0) l = cl_lang_guess(t->words, t->nwords);
  t->lang = l < 0 ? CL_LANG_OTHER : l;
  return stem_words(t);
}
