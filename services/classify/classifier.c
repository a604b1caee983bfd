#include "classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexicon.h"
#include "urgent.h"

typedef struct {
  uint64_t *h; /* stem hashes */
  uint32_t n;
  int sub;          /* taxonomy index */
  int lang;         /* 0 es, 1 en (taxonomy keyword slots) */
  const char *text; /* the keyword as written (for top terms) */
} kw_phrase;

struct cl_classifier {
  cl_model *m;
  es_taxonomy *tax; /* owned when given; else NULL and m->tax is used */
  const es_taxonomy *T;
  float threshold;
  kw_phrase *kw;
  size_t nkw;
  cl_text *t;
  cl_fvec f;
  float *z, *p, *ptax, *pkw;
  uint64_t *dochash;
  size_t dochash_cap;
  /* keyword index: chains of phrases by first-word hash */
  uint32_t *kw_head, *kw_next, kw_mask;
  uint32_t *kw_seen, kw_gen; /* per-phrase stamp: matched in this document */
  uint32_t *kw_hits;         /* matched phrase indices of this document */
};

static void free_kw(cl_classifier *c) {
  for (size_t i = 0; i < c->nkw; i++) free(c->kw[i].h);
  free(c->kw);
  free(c->kw_head);
  free(c->kw_next);
  free(c->kw_seen);
  free(c->kw_hits);
}

#define KW_NONE 0xFFFFFFFFu
static uint32_t kw_slot(const cl_classifier *c, uint64_t h) {
  return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 32) & c->kw_mask;
}

void cl_classifier_free(cl_classifier *c) {
  if (!c) return;
  free_kw(c);
  cl_text_free(c->t);
  cl_fvec_free(&c->f);
  free(c->z);
  free(c->p);
  free(c->ptax);
  free(c->pkw);
  free(c->dochash);
  es_taxonomy_free(c->tax);
  cl_model_free(c->m);
  free(c);
}

/* Keywords go through the same pipeline as documents (fold + stem in the
 * keyword's language), so "citas" in a text matches the keyword "cita". */
static int compile_keywords(cl_classifier *c) {
  const es_taxonomy *T = c->T;
  size_t total = 0;
  for (size_t s = 0; s < T->nsubs; s++) total += T->subs[s].nkw[0] + T->subs[s].nkw[1];
  c->kw = calloc(total + 1, sizeof *c->kw);
  if (!c->kw) return -1;
  static const char *const LANG[2] = {"es", "en"};
  for (size_t s = 0; s < T->nsubs; s++)
    for (int l = 0; l < 2; l++)
      for (size_t k = 0; k < T->subs[s].nkw[l]; k++) {
        const char *w = T->subs[s].kw[l][k];
        if (cl_text_analyze(c->t, w, strlen(w), LANG[l])) return -1;
        if (c->t->nwords == 0) continue;
        kw_phrase *p = &c->kw[c->nkw];
        p->h = malloc(c->t->nwords * sizeof *p->h);
        if (!p->h) return -1;
        for (size_t i = 0; i < c->t->nwords; i++) p->h[i] = cl_hash(c->t->stems[i].s, c->t->stems[i].len, 0x4B57);
        p->n = (uint32_t)c->t->nwords;
        p->sub = (int)s;
        p->lang = l;
        p->text = w;
        c->nkw++;
      }
  uint32_t slots = 64;
  while (slots < 2 * c->nkw) slots *= 2;
  c->kw_mask = slots - 1;
  c->kw_head = malloc(slots * sizeof *c->kw_head);
  c->kw_next = malloc((c->nkw + 1) * sizeof *c->kw_next);
  c->kw_seen = calloc(c->nkw + 1, sizeof *c->kw_seen);
  c->kw_hits = malloc((c->nkw + 1) * sizeof *c->kw_hits);
  if (!c->kw_head || !c->kw_next || !c->kw_seen || !c->kw_hits) return -1;
  memset(c->kw_head, 0xFF, slots * sizeof *c->kw_head);
  for (size_t k = c->nkw; k-- > 0;) { /* chains in phrase order */
    uint32_t sl = kw_slot(c, c->kw[k].h[0]);
    c->kw_next[k] = c->kw_head[sl];
    c->kw_head[sl] = (uint32_t)k;
  }
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

cl_classifier *cl_classifier_new(cl_model *m, es_taxonomy *tax, float threshold, char *err, size_t errlen) {
  cl_classifier *c = calloc(1, sizeof *c);
  if (!c) {
    cl_model_free(m);
    es_taxonomy_free(tax);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->m = m;
  c->tax = tax;
  c->T = tax ? tax : m->tax;
  c->threshold = threshold;
  if (tax && cl_model_check_taxonomy(m, tax, err, errlen)) goto fail;
  size_t S = m->h->stride + 1, N = c->T->nsubs + 1;
  c->t = cl_text_new();
  c->z = calloc(S, sizeof *c->z);
  c->p = calloc(S, sizeof *c->p);
  c->ptax = calloc(N, sizeof *c->ptax);
  c->pkw = calloc(N, sizeof *c->pkw);
  if (!c->t || !c->z || !c->p || !c->ptax || !c->pkw || compile_keywords(c)) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  return c;
fail:
  cl_classifier_free(c);
  return NULL;
}

const cl_model *cl_classifier_model(const cl_classifier *c) { return c->m; }
const es_taxonomy *cl_classifier_taxonomy(const cl_classifier *c) { return c->T; }

static int head_ready(const cl_classifier *c, int head, int lang) {
  return c->m->h->ncls[head] > 0 && c->m->h->lang_count[head][lang] >= CL_MIN_LANG_EXAMPLES;
}

/* Fills c->pkw with matched keyword weight per subcategory; returns the sum. */
static double keyword_scores(cl_classifier *c, int lang, cl_result *r) {
  const cl_text *t = c->t;
  size_t N = c->T->nsubs;
  memset(c->pkw, 0, N * sizeof *c->pkw);
  if (t->nwords > c->dochash_cap) {
    uint64_t *h = realloc(c->dochash, t->nwords * sizeof *h);
    if (!h) return 0;
    c->dochash = h;
    c->dochash_cap = t->nwords;
  }
  for (size_t i = 0; i < t->nwords; i++) c->dochash[i] = cl_hash(t->stems[i].s, t->stems[i].len, 0x4B57);
  /* Phrases starting at each word, via the first-word index; a phrase
   * counts once per document, and phrases are applied in taxonomy order
   * (the order of the reported terms). */
  if (++c->kw_gen == 0) {
    memset(c->kw_seen, 0, c->nkw * sizeof *c->kw_seen);
    c->kw_gen = 1;
  }
  size_t nhits = 0;
  for (size_t i = 0; i < t->nwords; i++)
    for (uint32_t k = c->kw_head[kw_slot(c, c->dochash[i])]; k != KW_NONE; k = c->kw_next[k]) {
      const kw_phrase *p = &c->kw[k];
      if (c->kw_seen[k] == c->kw_gen || p->h[0] != c->dochash[i] || i + p->n > t->nwords) continue;
      if ((lang == CL_LANG_ES && p->lang != 0) || (lang == CL_LANG_EN && p->lang != 1)) continue;
      if (memcmp(c->dochash + i, p->h, p->n * sizeof *p->h) != 0) continue;
      c->kw_seen[k] = c->kw_gen;
      c->kw_hits[nhits++] = k;
    }
  if (nhits > 1) qsort(c->kw_hits, nhits, sizeof *c->kw_hits, cmp_u32);
  double total = 0;
  for (size_t j = 0; j < nhits; j++) {
    const kw_phrase *p = &c->kw[c->kw_hits[j]];
    c->pkw[p->sub] += (float)p->n; /* longer phrases are more specific */
    total += p->n;
    if (r->nterms < CL_MAX_TERMS) snprintf(r->terms[r->nterms++], sizeof r->terms[0], "%s", p->text);
  }
  return total;
}

typedef struct {
  float w;
  uint32_t word;
} term_w;

/* The words whose unigram weights pushed most towards class k. */
static void model_terms(cl_classifier *c, uint32_t col, cl_result *r) {
  const cl_model *m = c->m;
  term_w best[CL_MAX_TERMS] = {{0, 0}};
  for (size_t i = 0; i < c->t->nwords; i++) {
    uint32_t row = c->f.word_bucket[i];
    if (row == CL_NO_ROW) continue;
    float w = m->W[(size_t)row * m->h->stride + col] * m->lk.idf[row];
    int dup = 0;
    for (int b = 0; b < CL_MAX_TERMS; b++)
      if (best[b].w > 0 && c->f.word_bucket[best[b].word] == row) dup = 1;
    if (dup || w <= best[CL_MAX_TERMS - 1].w) continue;
    int pos = CL_MAX_TERMS - 1;
    while (pos > 0 && best[pos - 1].w < w) best[pos] = best[pos - 1], pos--;
    best[pos] = (term_w){w, (uint32_t)i};
  }
  for (int b = 0; b < CL_MAX_TERMS && best[b].w > 0; b++) {
    const cl_span *s = &c->t->words[best[b].word];
    int n = s->len < sizeof r->terms[0] - 1 ? (int)s->len : (int)sizeof r->terms[0] - 1;
    snprintf(r->terms[r->nterms++], sizeof r->terms[0], "%.*s", n, s->s);
  }
}

static void topic(cl_classifier *c, cl_result *r) {
  const cl_model *m = c->m;
  size_t N = c->T->nsubs;
  uint32_t K = m->h->ncls[CL_HEAD_SUB];
  memset(c->ptax, 0, N * sizeof *c->ptax);
  if (K > 0) {
    cl_softmax(c->z, (int)K, m->h->temp[CL_HEAD_SUB], c->p);
    for (uint32_t k = 0; k < K; k++) c->ptax[m->sub_tax[k]] = c->p[k];
  }
  r->source = CL_SRC_MODEL;
  if (!head_ready(c, CL_HEAD_SUB, r->lang)) {
    double total = keyword_scores(c, r->lang, r);
    if (total > 0) {
      float a = K > 0 ? 0.25f : 0.0f;
      for (size_t s = 0; s < N; s++) c->ptax[s] = a * c->ptax[s] + (1 - a) * (float)(c->pkw[s] / (total + 1.0));
      r->source = K > 0 ? CL_SRC_MIXED : CL_SRC_KEYWORDS;
    }
  }
  int best = -1;
  for (size_t s = 0; s < N; s++)
    if (best < 0 || c->ptax[s] > c->ptax[best]) best = (int)s;
  r->confidence = best >= 0 ? c->ptax[best] : 0;
  for (size_t s = 0; s < N; s++)
    if ((int)s != best && c->ptax[s] > r->runner_up) r->runner_up = c->ptax[s];
  r->predicted = best >= 0 ? c->T->subs[best].id : NULL;
  if (best < 0 || r->confidence < c->threshold) {
    r->sub = -1;
    r->category = CL_OTHER_CATEGORY;
    r->subcategory = CL_OTHER_SUBCATEGORY;
    return;
  }
  r->sub = best;
  r->subcategory = c->T->subs[best].id;
  r->category = c->T->cats[c->T->subs[best].category].id;
  if (r->source == CL_SRC_MODEL)
    for (uint32_t k = 0; k < K; k++)
      if (m->sub_tax[k] == best) model_terms(c, k, r);
}

static void sentiment(cl_classifier *c, cl_result *r) {
  const cl_model *m = c->m;
  if (head_ready(c, CL_HEAD_SENT, r->lang)) {
    int k = cl_softmax(c->z + m->off[CL_HEAD_SENT], 3, m->h->temp[CL_HEAD_SENT], c->p);
    r->sentiment = k;
    r->sentiment_conf = c->p[k];
    for (int j = 0; j < 3; j++)
      if (j != k && c->p[j] > r->sentiment_runner_up) r->sentiment_runner_up = c->p[j];
    r->sentiment_score = c->p[2] - c->p[0];
    return;
  }
  int pos, neg;
  cl_polarity(c->t, &pos, &neg);
  r->sentiment = pos > neg ? 2 : neg > pos ? 0 : 1;
  r->sentiment_score = (float)(pos - neg) / (float)(pos + neg + 1);
  r->sentiment_conf = pos == neg ? 0.5f : 0.5f + 0.5f * fabsf(r->sentiment_score);
  r->sentiment_runner_up = 1 - r->sentiment_conf; /* no distribution: as if two classes */
}

static void journey(cl_classifier *c, cl_result *r) {
  const cl_model *m = c->m;
  if (head_ready(c, CL_HEAD_JOURNEY, r->lang)) {
    int k = cl_softmax(c->z + m->off[CL_HEAD_JOURNEY], 6, m->h->temp[CL_HEAD_JOURNEY], c->p);
    r->journey = k;
    r->journey_conf = c->p[k];
    return;
  }
  r->journey = r->sub >= 0 ? c->T->subs[r->sub].journey : -1;
  r->journey_conf = r->journey >= 0 ? r->confidence : 0;
}

/* What the text says about danger (urgent.h) wins; otherwise a taxonomy
 * subcategory marked urgent counts only for a negative item ("Felt safe
 * and comfortable" is in safety/feeling_safe and is not urgent), with a
 * confidence below any phrase's. */
static void urgency(cl_classifier *c, const char *text, size_t len, cl_result *r) {
  cl_urgent_hit h;
  if (cl_urgent_detect(c->t, &h)) {
    r->urgent = 1;
    r->urgent_reason = h.reason;
    r->urgent_conf = h.conf;
    cl_urgent_phrase(c->t, text, len, &h, r->urgent_phrase, sizeof r->urgent_phrase);
    return;
  }
  if (cl_category_urgent(c->T, r)) {
    r->urgent = 1;
    r->urgent_reason = "category";
    float m = r->confidence < r->sentiment_conf ? r->confidence : r->sentiment_conf;
    r->urgent_conf = CL_URGENT_CATEGORY_CONF * m;
  }
}

int cl_category_urgent(const es_taxonomy *T, const cl_result *r) {
  return r->sub >= 0 && T->subs[r->sub].urgent && r->sentiment == 0 && r->sentiment_conf >= CL_URGENT_MIN_NEGATIVE;
}

static int analyze(cl_classifier *c, const char *text, size_t len, const char *lang) {
  if (cl_text_analyze(c->t, text, len, lang)) return -1;
  if (cl_features(&c->m->fc, c->t, &c->m->lk, &c->f)) return -1;
  cl_model_logits(c->m, &c->f, c->z);
  return 0;
}

/* Survey non-answers, compared on folded words: a score given without a
 * comment is an answer (NPS/CSAT count it) with no topic to rank. */
static const char *const NO_COMMENT[] = {"",
                                         "did not answer",
                                         "didn t answer",
                                         "no answer",
                                         "nothing",
                                         "none",
                                         "n a",
                                         "na",
                                         "no comment",
                                         "no comments",
                                         "nothing to add",
                                         "nothing to say",
                                         "not applicable",
                                         "no",
                                         "nil",
                                         "sin comentarios",
                                         "sin comentario",
                                         "ningun comentario",
                                         "sin respuesta",
                                         "no responde",
                                         "no contesta",
                                         "nada",
                                         "nada que agregar",
                                         "nada que decir",
                                         "ninguno",
                                         "ninguna",
                                         "no aplica",
                                         "sem comentarios",
                                         "nenhum",
                                         NULL};

static int no_comment(const cl_text *t) {
  char buf[64];
  size_t n = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    if (n + t->words[i].len + 2 > sizeof buf) return 0;
    if (i) buf[n++] = ' ';
    memcpy(buf + n, t->words[i].s, t->words[i].len);
    n += t->words[i].len;
  }
  buf[n] = 0;
  for (const char *const *p = NO_COMMENT; *p; p++)
    if (strcmp(buf, *p) == 0) return 1;
  return 0;
}

int cl_classify(cl_classifier *c, const char *text, size_t len, const char *lang, cl_result *r) {
  memset(r, 0, sizeof *r);
  if (analyze(c, text, len, lang)) return -1;
  r->lang = c->t->lang;
  if (no_comment(c->t)) {
    r->sub = r->journey = -1;
    r->category = CL_OTHER_CATEGORY;
    r->subcategory = CL_NO_COMMENT_SUBCATEGORY;
    r->confidence = r->sentiment_conf = 1;
    r->sentiment = 1;
    return 0;
  }
  topic(c, r);
  sentiment(c, r);
  journey(c, r);
  urgency(c, text, len, r);
  return 0;
}

int cl_classify_raw(cl_classifier *c, const char *text, size_t len, const char *lang, int out[CL_NHEADS]) {
  if (analyze(c, text, len, lang)) return -1;
  for (int h = 0; h < CL_NHEADS; h++) {
    uint32_t K = c->m->h->ncls[h];
    out[h] = K ? cl_softmax(c->z + c->m->off[h], (int)K, 1.0f, c->p) : -1;
  }
  return 0;
}
