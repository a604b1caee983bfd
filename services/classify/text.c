#include "text.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const char *const LANG_NAMES[CL_NLANG] = {"en", "es", "pt", "und"};
static const char *const STEMMER_NAMES[CL_NLANG] = {"english", "spanish", "portuguese", NULL};

int cl_lang_code(const char *lang) {
  if (!lang) return -1;
  for (int i = 0; i < CL_LANG_OTHER; i++)
    if (strncmp(lang, LANG_NAMES[i], 2) == 0 && (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_'))
      return i;
  return -1;
}

const char *cl_lang_name(int lang) {
  return lang >= 0 && lang < CL_NLANG ? LANG_NAMES[lang] : "und";
}

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
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)len, &dst,
                                    UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                        UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
  free(clean);
  if (n < 0) return NULL;
  if (outlen) *outlen = (size_t)n;
  return (char *)dst;
}

static int is_word_cp(utf8proc_int32_t cp) {
  if (cp < 128)
    return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
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
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) k = 1, cp = ' ';
    int w = is_word_cp(cp);
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
    {"the", "and", "to", "of", "was", "is", "it", "for", "that", "with", "they", "were", "very",
     "my", "have", "this", "are", "not", "you", "be", "had", "me", "but", "i"},
    {"el", "la", "los", "las", "que", "de", "y", "en", "por", "para", "con", "muy", "pero", "no",
     "una", "se", "del", "mi", "es", "fue", "hay", "me", "lo", "al"},
    {"o", "os", "as", "que", "de", "e", "em", "para", "com", "muito", "mas", "nao", "uma", "se",
     "do", "da", "meu", "foi", "ha", "um", "no", "na", "ao", "voce"}};

int cl_lang_guess(const cl_span *words, size_t n) {
  int score[3] = {0, 0, 0};
  static unsigned char fwlen[3][24];
  if (!fwlen[0][0]) /* idempotent, so a benign race between threads */
    for (int l = 0; l < 3; l++)
      for (int j = 0; j < 24; j++) fwlen[l][j] = (unsigned char)strlen(FW[l][j]);
  for (size_t i = 0; i < n; i++) {
    if (words[i].len > 5) continue; /* no function word is longer */
    for (int l = 0; l < 3; l++)
      for (int j = 0; j < 24; j++)
        if (fwlen[l][j] == words[i].len && memcmp(FW[l][j], words[i].s, words[i].len) == 0) {
          score[l]++;
          break;
        }
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

static int stem_words(cl_text *t) {
  struct sb_stemmer *st = t->stemmer[t->lang < CL_LANG_OTHER ? t->lang : CL_LANG_EN];
  t->arena_len = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)t->words[i].s, (int)t->words[i].len);
    const char *s = r ? (const char *)r : t->words[i].s;
    size_t len = r ? (size_t)sb_stemmer_length(st) : t->words[i].len;
    if (arena_put(t, s, len, &t->stems[i])) return -1;
  }
  for (size_t i = 0; i < t->nwords; i++) t->stems[i].s = t->arena + (uintptr_t)t->stems[i].s;
  return 0;
}

int cl_text_analyze(cl_text *t, const char *text, size_t len, const char *lang) {
  free(t->folded);
  t->nwords = 0;
  t->folded = cl_fold(text, len, &t->folded_len);
  if (!t->folded) return -1;
  if (tokenize(t)) return -1;
  int l = cl_lang_code(lang);
  if (l < 0) l = cl_lang_guess(t->words, t->nwords);
  t->lang = l < 0 ? CL_LANG_OTHER : l;
  return stem_words(t);
}
