#include "hashfeat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum { KIND_WORD = 0x5744, KIND_CHAR = 0x4348 };
#define MAX_CHAR_WORD 40 /* longer "words" are URLs or noise; cap their n-grams */

uint64_t cl_hash(const void *p, size_t n, uint64_t kind) { return XXH3_64bits_withSeed(p, n, kind); }

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* Merges duplicate bucket ids with a small open-addressing table (a
 * generation stamp per slot avoids clearing it per document), then emits
 * sublinear tf * idf in first-occurrence order and L2-normalises; appends
 * to out. Sorting was the largest cost of prediction. */
static int emit_block(cl_fvec *out, const uint64_t *ids, size_t n, const cl_lookup *lk) {
  if (n == 0) return 0;
  size_t cap = 64;
  while (cap < 2 * n) cap *= 2;
  if (cap > out->ht_cap) {
    uint32_t *k = realloc(out->ht_key, cap * sizeof *k), *c = NULL, *g = NULL;
    if (k) out->ht_key = k;
    if (k) c = realloc(out->ht_cnt, cap * sizeof *c);
    if (c) out->ht_cnt = c;
    if (c) g = calloc(cap, sizeof *g);
    if (!g) return -1;
    free(out->ht_gen);
    out->ht_gen = g;
    out->ht_cap = cap;
    out->gen = 0;
  }
  if (grow((void **)&out->ht_order, &out->ord_cap, n, sizeof *out->ht_order)) return -1;
  if (++out->gen == 0) { /* wrapped: clear the stamps once */
    memset(out->ht_gen, 0, out->ht_cap * sizeof *out->ht_gen);
    out->gen = 1;
  }
  size_t mask = out->ht_cap - 1, nu = 0;
  uint32_t gen = out->gen;
  for (size_t i = 0; i < n; i++) {
    uint32_t key = (uint32_t)ids[i];
    size_t h = (key * 0x9E3779B1u) & mask;
    while (out->ht_gen[h] == gen && out->ht_key[h] != key) h = (h + 1) & mask;
    if (out->ht_gen[h] != gen) {
      out->ht_gen[h] = gen;
      out->ht_key[h] = key;
      out->ht_cnt[h] = 0;
      out->ht_order[nu++] = (uint32_t)h;
    }
    out->ht_cnt[h]++;
  }
  size_t start = out->n;
  if (grow((void **)&out->idx, &out->cap, out->n + nu, sizeof *out->idx)) return -1;
  float *nv = realloc(out->val, out->cap * sizeof *out->val);
  if (!nv) return -1;
  out->val = nv;
  static const float SUBLIN[8] = {0, 1.0f, 1.6931472f, 2.0986123f, 2.3862944f, 2.6094379f, 2.7917595f, 2.9459102f};
  double norm = 0;
  for (size_t u = 0; u < nu; u++) {
    size_t h = out->ht_order[u];
    uint32_t b = out->ht_key[h], cnt = out->ht_cnt[h];
    float w = 1.0f;
    if (lk) {
      b = cl_row(lk, b);
      w = b == CL_NO_ROW ? 0.0f : lk->idf[b];
      if (lk->W && b != CL_NO_ROW) { /* the dot product needs this row soon */
        const float *row = lk->W + (size_t)b * lk->stride;
        __builtin_prefetch(row);
        __builtin_prefetch(row + 16);
        __builtin_prefetch(row + 32);
      }
    }
    if (w > 0) {
      float tf = cnt < 8 ? SUBLIN[cnt] : (float)(1.0 + log((double)cnt));
      float v = tf * w;
      out->idx[out->n] = b;
      out->val[out->n++] = v;
      norm += (double)v * v;
    }
  }
  if (norm > 0) {
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t k = start; k < out->n; k++) out->val[k] *= inv;
  }
  return 0;
}

/* Bucket range of the text's language space: with spaces, each space owns
 * one half of the buckets, so no feature of one language shares a weight row
 * with the other's (without spaces, old models hash exactly as before). */
static void space_range(const cl_feat_cfg *cfg, const cl_text *t, uint32_t *mask, uint32_t *base) {
  *mask = cfg->nbuckets - 1, *base = 0;
  if (!cfg->lang_space) return;
  *mask = cfg->nbuckets / 2 - 1;
  *base = cl_lang_space(t->lang) ? cfg->nbuckets / 2 : 0;
}

static int word_block(const cl_feat_cfg *cfg, const cl_text *t, const cl_lookup *lk, cl_fvec *out) {
  size_t n = t->nwords, need = n * 2 + 1;
  uint32_t mask, base;
  space_range(cfg, t, &mask, &base);
  if (grow((void **)&out->tmp, &out->tmp_cap, need, sizeof *out->tmp)) return -1;
  if (grow((void **)&out->word_bucket, &out->word_cap, n + 1, sizeof *out->word_bucket)) return -1;
  size_t k = 0;
  uint64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t h = cl_hash(t->stems[i].s, t->stems[i].len, KIND_WORD);
    uint32_t b = (uint32_t)(h & mask) | base;
    out->word_bucket[i] = lk ? cl_row(lk, b) : b;
    out->tmp[k++] = b;
    if (cfg->word_ngrams >= 2 && i > 0) out->tmp[k++] = (mix(prev, h) & mask) | base;
    prev = h;
  }
  return emit_block(out, out->tmp, k, lk);
}

static int char_block(const cl_feat_cfg *cfg, const cl_text *t, const cl_lookup *lk, cl_fvec *out) {
  if (cfg->minn == 0) return 0;
  uint32_t mask, base;
  space_range(cfg, t, &mask, &base);
  size_t k = 0;
  char buf[MAX_CHAR_WORD + 2];
  for (size_t i = 0; i < t->nwords; i++) {
    size_t len = t->words[i].len < MAX_CHAR_WORD ? t->words[i].len : MAX_CHAR_WORD;
    buf[0] = '<';
    memcpy(buf + 1, t->words[i].s, len);
    buf[len + 1] = '>';
    size_t L = len + 2;
    if (grow((void **)&out->tmp, &out->tmp_cap, k + L * (cfg->maxn - cfg->minn + 1), sizeof *out->tmp)) return -1;
    for (size_t s = 0; s < L; s++)
      for (uint32_t g = cfg->minn; g <= cfg->maxn && s + g <= L; g++)
        out->tmp[k++] = (cl_hash(buf + s, g, KIND_CHAR) & mask) | base;
  }
  return emit_block(out, out->tmp, k, lk);
}

int cl_features(const cl_feat_cfg *cfg, const cl_text *t, const cl_lookup *lk, cl_fvec *out) {
  out->n = 0;
  out->space = cfg->lang_space ? cl_lang_space(t->lang) : 0;
  if (word_block(cfg, t, lk, out)) return -1;
  return char_block(cfg, t, lk, out);
}

void cl_fvec_free(cl_fvec *v) {
  free(v->idx);
  free(v->val);
  free(v->word_bucket);
  free(v->tmp);
  free(v->sort_tmp);
  free(v->ht_key);
  free(v->ht_cnt);
  free(v->ht_gen);
  free(v->ht_order);
  memset(v, 0, sizeof *v);
}
