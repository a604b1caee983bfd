/* Hashed features (fastText-style hashing trick): stemmed word unigrams and
 * bigrams, and character n-grams of the folded words with boundary marks,
 * each block TF-IDF weighted (sublinear tf) and L2-normalised on its own so
 * that long words do not drown the word block. */
#ifndef ESCUCHA_CLASSIFY_HASHFEAT_H
#define ESCUCHA_CLASSIFY_HASHFEAT_H
#include <stddef.h>
#include <stdint.h>

#include "text.h"

#define CL_NO_ROW 0xFFFFFFFFu

typedef struct {
  uint32_t nbuckets;    /* power of two */
  uint32_t word_ngrams; /* 1 or 2 */
  uint32_t minn, maxn;  /* character n-gram lengths; minn = 0 disables */
  uint32_t lang_space;  /* 1 = features hashed per language space (cl_lang_space) */
} cl_feat_cfg;

/* Language space of a text's features: Spanish and Portuguese share one,
 * English and unknown text the other. With cfg.lang_space each space hashes
 * into its own half of the buckets (the Spanish one is the upper half), so a
 * Spanish review never moves the weights or the idf of English features. */
#define CL_NSPACE 2
static inline uint32_t cl_lang_space(int lang) { return lang == CL_LANG_ES || lang == CL_LANG_PT ? 1u : 0u; }

typedef struct {
  uint32_t *idx;
  float *val;
  size_t n, cap;
  uint32_t *word_bucket; /* unigram row (or bucket) of each word, for top terms */
  size_t word_cap;
  uint64_t *tmp; /* scratch hashes */
  size_t tmp_cap;
  uint64_t *sort_tmp; /* unused (kept for layout) */
  size_t sort_cap;
  uint32_t *ht_key, *ht_cnt, *ht_gen, *ht_order; /* per-block dedup table (open addressing) */
  size_t ht_cap, ord_cap;
  uint32_t gen;
  uint32_t space; /* language space of the text (0 without cfg.lang_space) */
} cl_fvec;

/* A trained model keeps weight rows only for buckets seen in training:
 * rowmap[bucket] = row or CL_NO_ROW, idf[row]. */
typedef struct {
  const uint32_t *rowmap;
  const float *idf;
  /* Optional compact form of rowmap when rows are numbered in bucket order
   * (as train writes them): bit b of bits = bucket b has a row, and
   * row = rank[b / 64] + popcount(bits below b). 192 KB for 2^20 buckets
   * instead of 4 MB, so the lookup stays in cache. NULL = use rowmap. */
  const uint64_t *bits;
  const uint32_t *rank;
  const float *W; /* optional: weight rows to prefetch (stride floats) */
  uint32_t stride;
} cl_lookup;

static inline uint32_t cl_popcount64(uint64_t x) { /* no popcnt instruction at the baseline ISA */
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

static inline uint32_t cl_row(const cl_lookup *lk, uint32_t b) {
  if (!lk->bits) return lk->rowmap[b];
  uint64_t w = lk->bits[b >> 6], below = w & ((2ull << (b & 63)) - 1);
  if (!(w >> (b & 63) & 1)) return CL_NO_ROW;
  return lk->rank[b >> 6] + cl_popcount64(below) - 1;
}

/* Fills out from analysed text. With lk == NULL, out->idx holds raw bucket
 * ids with value 1 (used to count document frequencies while training);
 * otherwise out->idx holds model rows with TF-IDF values, and buckets never
 * seen in training are dropped as an out-of-vocabulary term would be.
 * 0 ok, -1 out of memory. */
int cl_features(const cl_feat_cfg *cfg, const cl_text *t, const cl_lookup *lk, cl_fvec *out);
void cl_fvec_free(cl_fvec *v);
/* Stable 64-bit hash of a token for feature kind (seeded xxh3). */
uint64_t cl_hash(const void *p, size_t n, uint64_t kind);
#endif
