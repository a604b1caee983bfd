/* Term statistics for the plan: tokenizer, log-odds with an informative
 * Dirichlet prior, and centroid-typical quotes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "text.h"

typedef struct vocab {
  char **terms;
  int n, cap;
  int *slots; /* open addressing: -1 empty, else term id */
  int nslots;
} vocab;

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int vocab_grow(vocab *v) {
  int ns = v->nslots ? v->nslots * 2 : 256;
  int *slots = malloc(sizeof(int) * (size_t)ns);
  if (!slots) return -1;
  for (int i = 0; i < ns; i++) slots[i] = -1;
  for (int i = 0; i < v->n; i++) {
    size_t h = fnv(v->terms[i]) & (size_t)(ns - 1);
    while (slots[h] >= 0) h = (h + 1) & (size_t)(ns - 1);
    slots[h] = i;
  }
  free(v->slots);
  v->slots = slots;
  v->nslots = ns;
  return 0;
}

/* Id of term t; adds it when add is set. -1 when absent / OOM. */
static int vocab_id(vocab *v, const char *t, int add) {
  if ((v->n + 1) * 2 > v->nslots && vocab_grow(v) != 0) return -1;
  size_t h = fnv(t) & (size_t)(v->nslots - 1);
  while (v->slots[h] >= 0) {
    if (strcmp(v->terms[v->slots[h]], t) == 0) return v->slots[h];
    h = (h + 1) & (size_t)(v->nslots - 1);
  }
  if (!add) return -1;
  if (v->n == v->cap) {
    int nc = v->cap ? v->cap * 2 : 256;
    char **nt = realloc(v->terms, sizeof(char *) * (size_t)nc);
    if (!nt) return -1;
    v->terms = nt;
    v->cap = nc;
  }
  if (!(v->terms[v->n] = strdup(t))) return -1;
  v->slots[h] = v->n;
  return v->n++;
}

static void vocab_free(vocab *v) {
  for (int i = 0; i < v->n; i++) free(v->terms[i]);
  free(v->terms);
  free(v->slots);
}

/* Calls cb for each word (ES_FOLD_CASE: case-folded, accents kept) of >= 3
 * bytes that is not a stop word, a number, or a redaction placeholder like
 * [EMAIL]. */
typedef void (*tok_cb)(const char *tok, void *ud);
static void each_token(const char *text, tok_cb cb, void *ud) {
  if (!text) return;
  size_t n;
  char *s = es_text_fold(ES_FOLD_CASE, text, strlen(text), &n);
  if (!s) return;
  char tok[48];
  size_t pos = 0, st, len;
  while ((len = es_text_next_word(s, n, &pos, &st)) > 0) {
    int digits = 1;
    for (size_t i = st; i < st + len && digits; i++) digits = s[i] >= '0' && s[i] <= '9';
    int placeholder = st > 0 && (s[st - 1] == '[' || s[st - 1] == '<');
    if (len >= 3 && len < sizeof tok && !digits && !placeholder && !es_text_is_stop(s + st, len, ES_STOP_ALL)) {
      memcpy(tok, s + st, len);
      tok[len] = 0;
      cb(tok, ud);
    }
  }
  free(s);
}

typedef struct count_ctx {
  vocab *v;
  double **counts; /* two arrays: [0] topic, [1] rest; grown with vocab */
  int *cap;
  int side;
  int add;
} count_ctx;

static void count_cb(const char *tok, void *ud) {
  count_ctx *c = ud;
  int id = vocab_id(c->v, tok, c->add);
  if (id < 0) return;
  if (id >= *c->cap) {
    int nc = *c->cap ? *c->cap * 2 : 256;
    while (nc <= id) nc *= 2;
    for (int s = 0; s < 2; s++) {
      double *n = realloc(c->counts[s], sizeof(double) * (size_t)nc);
      if (!n) return;
      memset(n + *c->cap, 0, sizeof(double) * (size_t)(nc - *c->cap));
      c->counts[s] = n;
    }
    *c->cap = nc;
  }
  c->counts[c->side][id] += 1;
}

static int cmp_term(const void *a, const void *b) {
  const ac_term *x = a, *y = b;
  if (x->z != y->z) return x->z < y->z ? 1 : -1;
  return strcmp(x->term, y->term); /* deterministic ties */
}

int ac_logodds(const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr, double alpha0, ac_term *out, int k) {
  vocab v = {0};
  double *counts[2] = {NULL, NULL};
  int cap = 0, nout = 0;
  ac_term *all = NULL;
  count_ctx cc = {&v, counts, &cap, 0, 1};
  for (size_t i = 0; i < nt; i++) each_token(topic[i].text, count_cb, &cc);
  cc.side = 1;
  for (size_t i = 0; i < nr; i++) each_token(rest[i].text, count_cb, &cc);
  if (!v.n) goto cleanup;
  double n_i = 0, n_j = 0;
  for (int w = 0; w < v.n; w++) {
    n_i += counts[0][w];
    n_j += counts[1][w];
  }
  double n = n_i + n_j;
  if (alpha0 <= 0) alpha0 = 500;
  if (!(all = calloc((size_t)v.n, sizeof *all))) goto cleanup;
  int m = 0;
  for (int w = 0; w < v.n; w++) {
    double yi = counts[0][w], yj = counts[1][w];
    if (yi < 2) continue; /* a single mention is not a pattern */
    /* Informative prior: the pooled corpus frequency, scaled to alpha0. */
    double aw = alpha0 * (yi + yj) / n;
    double di = log((yi + aw) / (n_i + alpha0 - yi - aw));
    double dj = log((yj + aw) / (n_j + alpha0 - yj - aw));
    double var = 1.0 / (yi + aw) + 1.0 / (yj + aw);
    double z = (di - dj) / sqrt(var);
    if (!(z > 0)) continue;
    snprintf(all[m].term, sizeof all[m].term, "%s", v.terms[w]);
    all[m].z = z;
    all[m].count = (int)yi;
    m++;
  }
  qsort(all, (size_t)m, sizeof *all, cmp_term);
  for (nout = 0; nout < k && nout < m; nout++) out[nout] = all[nout];
cleanup:
  free(all);
  free(counts[0]);
  free(counts[1]);
  vocab_free(&v);
  return nout;
}

typedef struct vec_ctx {
  vocab *v;
  int *ids;
  int n, cap;
} vec_ctx;

static void vec_cb(const char *tok, void *ud) {
  vec_ctx *c = ud;
  int id = vocab_id(c->v, tok, 1);
  if (id < 0) return;
  if (c->n == c->cap) {
    int nc = c->cap ? c->cap * 2 : 32;
    int *n = realloc(c->ids, sizeof(int) * (size_t)nc);
    if (!n) return;
    c->ids = n;
    c->cap = nc;
  }
  c->ids[c->n++] = id;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int ac_typical_quotes(const ac_doc *docs, size_t n, int k, size_t *idx_out) {
  vocab v = {0};
  vec_ctx *vc = calloc(n ? n : 1, sizeof *vc);
  double *cent = NULL, *sim = NULL, *df = NULL;
  int nout = 0;
  if (!vc) goto cleanup;
  for (size_t d = 0; d < n; d++) {
    vc[d].v = &v;
    each_token(docs[d].text, vec_cb, &vc[d]);
    if (vc[d].n) qsort(vc[d].ids, (size_t)vc[d].n, sizeof(int), cmp_int);
  }
  if (!v.n) goto cleanup;
  cent = calloc((size_t)v.n, sizeof *cent);
  df = calloc((size_t)v.n, sizeof *df);
  sim = calloc(n, sizeof *sim);
  if (!cent || !df || !sim) goto cleanup;
  for (size_t d = 0; d < n; d++)
    for (int i = 0; i < vc[d].n; i++)
      if (i == 0 || vc[d].ids[i] != vc[d].ids[i - 1]) df[vc[d].ids[i]] += 1;
        /* Weight: (1 + log tf) * idf, unit length, so long rants do not dominate. */
#define FOR_TERMS(d, BODY)                                              \
  for (int i = 0; i < vc[d].n;) {                                       \
    int id = vc[d].ids[i], tf = 0;                                      \
    while (i < vc[d].n && vc[d].ids[i] == id) tf++, i++;                \
    double w = (1.0 + log((double)tf)) * log(1.0 + (double)n / df[id]); \
    BODY                                                                \
  }
  for (size_t d = 0; d < n; d++) {
    double norm = 0;
    FOR_TERMS(d, norm += w * w;)
    if (norm <= 0) continue;
    norm = sqrt(norm);
    FOR_TERMS(d, cent[id] += w / norm / (double)n;)
  }
  for (size_t d = 0; d < n; d++) {
    double norm = 0, dot = 0;
    FOR_TERMS(d, norm += w * w; dot += w * cent[id];)
    /* Very short texts say little: require three content words. */
    int distinct = 0;
    FOR_TERMS(d, (void)w; distinct++;)
    sim[d] = norm > 0 && distinct >= 3 ? dot / sqrt(norm) : -1;
  }
  double first = 0;
  /* Greedy: best similarity first, skipping near-duplicates of a chosen one. */
  while (nout < k) {
    size_t best = n;
    for (size_t d = 0; d < n; d++)
      if (sim[d] > -1 && (best == n || sim[d] > sim[best])) best = d;
    if (best == n || sim[best] < 0) break;
    /* Three quotes always; more only while they stay close to the typical one. */
    if (nout >= 3 && sim[best] < 0.5 * first) break;
    if (nout == 0) first = sim[best];
    int dup = 0;
    for (int j = 0; j < nout && !dup; j++) {
      size_t o = idx_out[j];
      int a = 0, b = 0, common = 0;
      while (a < vc[best].n && b < vc[o].n) {
        if (vc[best].ids[a] == vc[o].ids[b]) common++, a++, b++;
        else if (vc[best].ids[a] < vc[o].ids[b]) a++;
        else b++;
      }
      int mx = vc[best].n > vc[o].n ? vc[best].n : vc[o].n;
      dup = mx && (double)common / mx > 0.8;
    }
    sim[best] = -2; /* consumed */
    if (!dup) idx_out[nout++] = best;
  }
#undef FOR_TERMS
cleanup:
  for (size_t d = 0; vc && d < n; d++) free(vc[d].ids);
  free(vc);
  free(cent);
  free(df);
  free(sim);
  vocab_free(&v);
  return nout;
}

/* ---------- readability ---------- */

/* A lowercase letter of a word as a vowel class: 0 consonant, 1 weak (i u ü,
 * and y in English), 2 strong (a e o, and accented í ú in Spanish, which
 * break a diphthong). *adv: bytes of the character. */
static int vowel_class(const unsigned char *s, size_t len, size_t i, int es, size_t *adv) {
  *adv = 1;
  unsigned char c = s[i];
  if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
  if (c == 0xC3 && i + 1 < len) {
    *adv = 2;
    unsigned char d = s[i + 1] | 0x20; /* folds Á É Í Ó Ú Ü (0x81 …) onto á é í ó ú ü (0xA1 …) */
    switch (d) {
      case 0xA1:
      case 0xA9:
      case 0xB3:
      case 0xAD:
      case 0xBA: return 2; /* á é ó í ú */
      case 0xBC: return 1; /* ü */
      case 0xA0:
      case 0xA8:
      case 0xB2:
      case 0xAC:
      case 0xB9: return 2; /* à è ò ì ù */
      default: return 0;
    }
  }
  if (c >= 0x80) { /* other multibyte characters: consonants */
    while (i + *adv < len && (s[i + *adv] & 0xC0) == 0x80) (*adv)++;
    return 0;
  }
  if (c == 'a' || c == 'e' || c == 'o') return 2;
  if (c == 'i' || c == 'u') return 1;
  if (c == 'y' && !es && i > 0) return 1;
  return 0;
}

int ac_syllables(const char *word, size_t len, const char *lang) {
  const unsigned char *s = (const unsigned char *)word;
  int es = !lang || strcmp(lang, "en") != 0, n = 0, prev = 0, cls = 0, any = 0;
  if (len == 0) return 0;
  if (s[0] >= '0' && s[0] <= '9') return 2; /* a number, read aloud: counted as two syllables */
  if (es && len == 1 && (s[0] | 0x20) == 'y') return 1;
  size_t adv;
  for (size_t i = 0; i < len; i += adv) {
    cls = vowel_class(s, len, i, es, &adv);
    any = 1;
    if (cls) {
      if (!prev) n++;
      /* Spanish: two strong vowels are two syllables (hiatus); a weak one
       * joins its neighbour (diphthong). English: a vowel group is one. */
      else if (es && prev == 2 && cls == 2) n++;
    }
    prev = cls;
  }
  if (!es && n > 1) {
    char l1 = (char)(s[len - 1] | 0x20), l2 = len > 1 ? (char)(s[len - 2] | 0x20) : 0,
         l3 = len > 2 ? (char)(s[len - 3] | 0x20) : 0;
    /* silent final e ("make"), but "table" keeps its "-ble" */
    if (l1 == 'e' && !(l2 == 'l' && l3 && !strchr("aeiouy", l3)) && !strchr("aeiouy", l2)) n--;
    /* "-ed" after a sound other than t/d ("walked"), "-es" after a plain consonant ("makes") */
    else if (l2 == 'e' && l1 == 'd' && l3 && !strchr("tdaeiouy", l3)) n--;
    else if (l2 == 'e' && l1 == 's' && l3 && !strchr("sxzcghaeiouy", l3)) n--;
  }
  return n ? n : any;
}

/* Bytes of the UTF-8 character at s[i] (1 for a stray byte) and whether it
 * belongs in a word: ASCII letters and digits, and multibyte letters; the
 * C2 and E2 blocks (« » “ ” — … and the like) are punctuation. */
static int word_byte_ascii(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static size_t u8char(const unsigned char *s, size_t n, size_t i, int *letter) {
  size_t k = 1;
  unsigned char c = s[i];
  if (c >= 0xC0)
    while (i + k < n && (s[i + k] & 0xC0) == 0x80) k++;
  *letter =
      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 0xC3 && c != 0xE2 && k > 1);
  return k;
}

double ac_readability(const char *text, const char *lang, int *words, int *sentences, int *syllables) {
  const unsigned char *s = (const unsigned char *)(text ? text : "");
  size_t n = strlen((const char *)s), i = 0;
  int es = !lang || strcmp(lang, "en") != 0, w = 0, st = 0, sy = 0, open = 0;
  while (i < n) {
    int letter;
    size_t k = u8char(s, n, i, &letter);
    if (letter) {
      size_t a = i;
      for (;;) {
        i += k;
        if (i >= n) break;
        k = u8char(s, n, i, &letter);
        /* 4.5 / 4,5 and don't stay one word */
        int digits = s[i - 1] >= '0' && s[i - 1] <= '9' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9';
        int inner =
            ((s[i] == '.' || s[i] == ',') && digits) || (s[i] == '\'' && i + 1 < n && word_byte_ascii(s[i + 1]));
        if (!letter && !inner) break;
      }
      w++;
      sy += ac_syllables((const char *)s + a, i - a, es ? "es" : "en");
      open = 1;
      continue;
    }
    if ((s[i] == '.' || s[i] == '!' || s[i] == '?' || s[i] == '\n') && open) {
      st++;
      open = 0;
    }
    i += k;
  }
  if (open) st++;
  if (words) *words = w;
  if (sentences) *sentences = st;
  if (syllables) *syllables = sy;
  if (!w || !st) return 0;
  double wps = (double)w / st, spw = (double)sy / w;
  /* Fernández-Huerta (1959, as corrected by Law 2011): 206.84 - 0.60 P - 1.02 F,
   * P syllables per 100 words, F words per sentence. Flesch (1948): 206.835 -
   * 1.015 words per sentence - 84.6 syllables per word. */
  return es ? 206.84 - 0.60 * (100.0 * spw) - 1.02 * wps : 206.835 - 1.015 * wps - 84.6 * spw;
}
