#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hashfeat.h"
#include "model.h"
#include "text.h"

void cl_train_defaults(cl_train_opts *o) {
  *o = (cl_train_opts){.seed = 42,
                       .epochs = 30,
                       .lr = 0.5f,
                       .l2 = 1e-4f,
                       .l2_sent = 2e-3f,
                       .l2_sent_es = 1e-3f,
                       .nbuckets = 1u << 20,
                       .word_ngrams = 2,
                       .minn = 4,
                       .maxn = 4,
                       .lang_space = 1,
                       .holdout = 0.1f,
                       .balanced = 1,
                       .progress = 0};
}

typedef struct {
  size_t n;
  size_t *off; /* CSR row starts, n + 1 */
  uint32_t *idx;
  float *val;
  size_t nnz, cap;
  int *y[CL_NHEADS]; /* class or -1 */
  uint32_t ncls[CL_NHEADS], hoff[CL_NHEADS], stride;
  const char *const *labels[CL_NHEADS];
  const char **sub_labels; /* owned array; strings owned by the taxonomy */
  uint32_t nrows;
  uint32_t *rowmap;   /* nbuckets */
  float *idf;         /* nrows */
  uint8_t *row_space; /* nrows: language space of each weight row */
  uint8_t *doc_space; /* n: language space of each document */
  float *zs;          /* scratch: CL_NSPACE * stride partial logits */
  uint32_t lang_count[CL_NHEADS][CL_NLANG];
} tdata;

static void tdata_free(tdata *d) {
  free(d->off);
  free(d->idx);
  free(d->val);
  for (int h = 0; h < CL_NHEADS; h++) free(d->y[h]);
  free(d->sub_labels);
  free(d->rowmap);
  free(d->idf);
  free(d->row_space);
  free(d->doc_space);
  free(d->zs);
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void shuffle(size_t *a, size_t n, uint64_t *rng) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(splitmix(rng) % i), t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

/* Class indices per head; subcategory classes are the taxonomy's ids that
 * occur in the data, in taxonomy order. */
static int map_labels(const cl_dataset *ds, const es_taxonomy *tax, tdata *d, char *err, size_t errlen) {
  int *cls = malloc((tax->nsubs + 1) * sizeof *cls);
  d->sub_labels = calloc(tax->nsubs + 1, sizeof *d->sub_labels);
  for (int h = 0; h < CL_NHEADS; h++) d->y[h] = malloc((ds->n + 1) * sizeof(int));
  if (!cls || !d->sub_labels || !d->y[0] || !d->y[1] || !d->y[2]) goto oom;
  for (size_t s = 0; s < tax->nsubs; s++) cls[s] = -1;
  int any[CL_NHEADS] = {0, 0, 0};
  for (size_t i = 0; i < ds->n; i++) {
    const cl_example *e = &ds->ex[i];
    int s = e->label[CL_HEAD_SUB] ? es_taxonomy_find(tax, e->label[CL_HEAD_SUB]) : -1;
    if (e->label[CL_HEAD_SUB] && s < 0) {
      snprintf(err, errlen, "example %zu: subcategory '%s' is not in the taxonomy", i + 1, e->label[CL_HEAD_SUB]);
      goto fail;
    }
    if (s >= 0 && e->category && strcmp(tax->cats[tax->subs[s].category].id, e->category) != 0) {
      snprintf(err, errlen, "example %zu: subcategory '%s' does not belong to category '%s'", i + 1,
               e->label[CL_HEAD_SUB], e->category);
      goto fail;
    }
    if (s >= 0) cls[s] = 0;
    d->y[CL_HEAD_SUB][i] = s;
    d->y[CL_HEAD_SENT][i] = cl_sentiment_index(e->label[CL_HEAD_SENT]);
    d->y[CL_HEAD_JOURNEY][i] = es_journey_index(e->label[CL_HEAD_JOURNEY]);
    for (int h = 0; h < CL_NHEADS; h++) any[h] |= d->y[h][i] >= 0;
  }
  uint32_t k = 0;
  for (size_t s = 0; s < tax->nsubs; s++)
    if (cls[s] == 0) d->sub_labels[k] = tax->subs[s].id, cls[s] = (int)k++;
  for (size_t i = 0; i < ds->n; i++)
    if (d->y[CL_HEAD_SUB][i] >= 0) d->y[CL_HEAD_SUB][i] = cls[d->y[CL_HEAD_SUB][i]];
  d->ncls[CL_HEAD_SUB] = k;
  d->ncls[CL_HEAD_SENT] = any[CL_HEAD_SENT] ? 3 : 0;
  d->ncls[CL_HEAD_JOURNEY] = any[CL_HEAD_JOURNEY] ? 6 : 0;
  d->labels[CL_HEAD_SUB] = d->sub_labels;
  d->labels[CL_HEAD_SENT] = CL_SENTIMENTS;
  d->labels[CL_HEAD_JOURNEY] = ES_JOURNEYS;
  d->stride = 0;
  for (int h = 0; h < CL_NHEADS; h++) d->hoff[h] = d->stride, d->stride += d->ncls[h];
  d->zs = malloc((CL_NSPACE * d->stride + 1) * sizeof *d->zs);
  if (!d->zs) goto oom;
  free(cls);
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(cls);
  return -1;
}

static int csr_append(tdata *d, const cl_fvec *f) {
  if (d->nnz + f->n > d->cap) {
    size_t c = d->cap ? d->cap : 1 << 16;
    while (c < d->nnz + f->n) c *= 2;
    uint32_t *i = realloc(d->idx, c * sizeof *i);
    if (!i) return -1;
    d->idx = i;
    float *v = realloc(d->val, c * sizeof *v);
    if (!v) return -1;
    d->val = v;
    d->cap = c;
  }
  memcpy(d->idx + d->nnz, f->idx, f->n * sizeof *f->idx);
  memcpy(d->val + d->nnz, f->val, f->n * sizeof *f->val);
  d->nnz += f->n;
  return 0;
}

/* Two passes: document frequencies decide which buckets get a weight row
 * and their idf; then TF-IDF vectors are stored as CSR. With language spaces
 * a bucket's idf counts the documents of its own space only (its half of the
 * buckets), so adding Spanish reviews leaves the English idf as it was. */
static int featurize(const cl_dataset *ds, const cl_feat_cfg *fc, tdata *d, char *err, size_t errlen) {
  cl_text *t = cl_text_new();
  cl_fvec f = {0};
  uint32_t *df = calloc(fc->nbuckets, sizeof *df), *last = calloc(fc->nbuckets, sizeof *last);
  size_t ndocs[2] = {0, 0};
  int rc = -1;
  d->n = ds->n;
  d->off = calloc(ds->n + 1, sizeof *d->off);
  d->rowmap = malloc(fc->nbuckets * sizeof *d->rowmap);
  d->doc_space = calloc(ds->n + 1, 1);
  if (!d->doc_space || !t || !df || !last || !d->off || !d->rowmap) goto cleanup;
  for (size_t i = 0; i < ds->n; i++) {
    const cl_example *e = &ds->ex[i];
    if (cl_text_analyze(t, e->text, strlen(e->text), e->lang) || cl_features(fc, t, NULL, &f)) goto cleanup;
    uint8_t sp = fc->lang_space ? (uint8_t)cl_lang_space(t->lang) : 0;
    ndocs[sp]++;
    d->doc_space[i] = sp;
    for (size_t k = 0; k < f.n; k++)
      if (last[f.idx[k]] != i + 1) last[f.idx[k]] = (uint32_t)(i + 1), df[f.idx[k]]++;
    for (int h = 0; h < CL_NHEADS; h++)
      if (d->y[h][i] >= 0) d->lang_count[h][t->lang]++;
  }
  d->nrows = 0;
  for (uint32_t b = 0; b < fc->nbuckets; b++) d->rowmap[b] = df[b] ? d->nrows++ : CL_NO_ROW;
  d->idf = malloc((d->nrows + 1) * sizeof *d->idf);
  d->row_space = malloc(d->nrows + 1);
  if (!d->idf || !d->row_space) goto cleanup;
  for (uint32_t b = 0; b < fc->nbuckets; b++) {
    if (!df[b]) continue;
    uint8_t sp = fc->lang_space && b >= fc->nbuckets / 2;
    d->row_space[d->rowmap[b]] = sp;
    d->idf[d->rowmap[b]] = (float)(log((1.0 + (double)ndocs[sp]) / (1.0 + df[b])) + 1.0);
  }
  cl_lookup lk = {d->rowmap, d->idf};
  for (size_t i = 0; i < ds->n; i++) {
    const cl_example *e = &ds->ex[i];
    if (cl_text_analyze(t, e->text, strlen(e->text), e->lang) || cl_features(fc, t, &lk, &f) || csr_append(d, &f))
      goto cleanup;
    d->off[i + 1] = d->nnz;
  }
  rc = 0;
cleanup:
  if (rc) snprintf(err, errlen, "out of memory while extracting features");
  cl_text_free(t);
  cl_fvec_free(&f);
  free(df);
  free(last);
  return rc;
}

/* Logits of document i. The lazy L2 scale is kept per head and language
 * space (scale[h * CL_NSPACE + space]), applied by the space of each row. */
static void doc_logits(const tdata *d, const float *W, const float *bias, const float *scale, size_t i, float *z) {
  uint32_t st = d->stride;
  float *zs = d->zs;
  for (uint32_t k = 0; k < CL_NSPACE * st; k++) zs[k] = 0;
  for (size_t j = d->off[i]; j < d->off[i + 1]; j++) {
    const float *w = W + (size_t)d->idx[j] * st;
    float v = d->val[j], *zz = zs + d->row_space[d->idx[j]] * st;
    for (uint32_t k = 0; k < st; k++) zz[k] += v * w[k];
  }
  bias += (size_t)d->doc_space[i] * st; /* each language space has its own bias row */
  for (int h = 0; h < CL_NHEADS; h++)
    for (uint32_t k = 0; k < d->ncls[h]; k++) {
      uint32_t c = d->hoff[h] + k;
      z[c] = bias[c];
      for (int sp = 0; sp < CL_NSPACE; sp++) z[c] += zs[sp * st + c] * scale[h * CL_NSPACE + sp];
    }
}

/* Balanced class weights n / (K n_k), counted per language space so that
 * each language's classes are balanced on their own (cw[space * stride + c]). */
static void class_weights(const tdata *d, const size_t *docs, size_t n, int balanced, float *cw) {
  for (int sp = 0; sp < CL_NSPACE; sp++)
    for (int h = 0; h < CL_NHEADS; h++) {
      float *w = cw + sp * d->stride + d->hoff[h];
      double *cnt = calloc(d->ncls[h] + 1, sizeof *cnt), tot = 0;
      if (!cnt) {
        for (uint32_t k = 0; k < d->ncls[h]; k++) w[k] = 1.0f;
        continue;
      }
      for (size_t i = 0; i < n; i++)
        if (d->y[h][docs[i]] >= 0 && d->doc_space[docs[i]] == sp) cnt[d->y[h][docs[i]]]++, tot++;
      for (uint32_t k = 0; k < d->ncls[h]; k++)
        w[k] = !balanced ? 1.0f : cnt[k] > 0 ? (float)(tot / (d->ncls[h] * cnt[k])) : 0.0f;
      free(cnt);
    }
}

/* Folds a head's lazy L2 scale of one language space into its weight columns. */
static void rescale(const tdata *d, float *W, float *scale, int h, int sp) {
  float f = scale[h * CL_NSPACE + sp];
  for (size_t r = 0; r < d->nrows; r++)
    if (d->row_space[r] == sp)
      for (uint32_t k = 0; k < d->ncls[h]; k++) W[r * d->stride + d->hoff[h] + k] *= f;
  scale[h * CL_NSPACE + sp] = 1.0f;
}

typedef struct {
  const tdata *d;
  const cl_train_opts *o;
  float *W, *bias, *cw, *z, *g;
  float scale[CL_NHEADS * CL_NSPACE];
  double loss;
} sgd;

/* Per-example L2 strength of head h for documents of space sp. */
static float l2_of(const cl_train_opts *o, int h, int sp) {
  if (h != CL_HEAD_SENT) return o->l2;
  return sp == 1 && o->l2_sent_es >= 0 ? o->l2_sent_es : o->l2_sent;
}

/* One SGD step on document i at learning rate lr. */
/* One SGD step on document i at learning rate lr. A document shrinks (L2)
 * only the rows of its own language space: Spanish reviews do not
 * regularise the English weights away. */
static void step(sgd *s, size_t i, float lr) {
  const tdata *d = s->d;
  int sp = d->doc_space[i];
  doc_logits(d, s->W, s->bias, s->scale, i, s->z);
  int active[CL_NHEADS];
  for (int h = 0; h < CL_NHEADS; h++) {
    int y = d->y[h][i];
    active[h] = y >= 0 && d->ncls[h] > 0;
    if (!active[h]) continue;
    float *p = s->g + d->hoff[h], cw = s->cw[sp * d->stride + d->hoff[h] + y];
    cl_softmax(s->z + d->hoff[h], (int)d->ncls[h], 1.0f, p);
    s->loss -= cw * log(p[y] + 1e-12);
    for (uint32_t k = 0; k < d->ncls[h]; k++) p[k] = cw * (p[k] - (k == (uint32_t)y));
    s->scale[h * CL_NSPACE + sp] *= 1.0f - lr * l2_of(s->o, h, sp);
  }
  for (size_t j = d->off[i]; j < d->off[i + 1]; j++) {
    float *w = s->W + (size_t)d->idx[j] * d->stride;
    int rs = d->row_space[d->idx[j]];
    for (int h = 0; h < CL_NHEADS; h++) {
      if (!active[h]) continue;
      float a = lr * d->val[j] / s->scale[h * CL_NSPACE + rs];
      for (uint32_t k = 0; k < d->ncls[h]; k++) w[d->hoff[h] + k] -= a * s->g[d->hoff[h] + k];
    }
  }
  for (int h = 0; h < CL_NHEADS; h++) {
    if (!active[h]) continue;
    for (uint32_t k = 0; k < d->ncls[h]; k++) s->bias[sp * d->stride + d->hoff[h] + k] -= lr * s->g[d->hoff[h] + k];
    if (s->scale[h * CL_NSPACE + sp] < 1e-3f) rescale(d, s->W, s->scale, h, sp);
  }
}

static int fit(const tdata *d, const size_t *docs, size_t n, const cl_train_opts *o, const char *pass, float **Wout,
               float **bout) {
  sgd s = {.d = d, .o = o};
  for (int k = 0; k < CL_NHEADS * CL_NSPACE; k++) s.scale[k] = 1.0f;
  size_t *order = malloc((n + 1) * sizeof *order);
  s.W = calloc((size_t)d->nrows * d->stride + 1, sizeof *s.W);
  s.bias = calloc(CL_NSPACE * d->stride + 1, sizeof *s.bias);
  s.cw = calloc(CL_NSPACE * d->stride + 1, sizeof *s.cw);
  s.z = calloc(d->stride + 1, sizeof *s.z);
  s.g = calloc(d->stride + 1, sizeof *s.g);
  int rc = -1;
  if (!order || !s.W || !s.bias || !s.cw || !s.z || !s.g) goto cleanup;
  memcpy(order, docs, n * sizeof *order);
  class_weights(d, docs, n, o->balanced, s.cw);
  uint64_t rng = o->seed;
  double total = (double)o->epochs * (double)n, t = 0;
  for (int ep = 0; ep < o->epochs; ep++) {
    shuffle(order, n, &rng);
    s.loss = 0;
    for (size_t i = 0; i < n; i++, t++) {
      float lr = o->lr * (float)(1.0 - t / total); /* linear decay to 0, as fastText */
      step(&s, order[i], lr > 1e-6f ? lr : 1e-6f);
    }
    if (o->progress)
      fprintf(stderr, "\r[train] %s: epoch %d/%d  loss %.4f   ", pass, ep + 1, o->epochs, s.loss / (n ? n : 1));
  }
  if (o->progress) fprintf(stderr, "\n");
  for (int h = 0; h < CL_NHEADS; h++)
    for (int sp = 0; sp < CL_NSPACE; sp++) rescale(d, s.W, s.scale, h, sp);
  *Wout = s.W, *bout = s.bias;
  s.W = s.bias = NULL;
  rc = 0;
cleanup:
  free(order);
  free(s.W);
  free(s.bias);
  free(s.cw);
  free(s.z);
  free(s.g);
  return rc;
}

/* Negative log-likelihood of the held-out labels at temperature T. */
static double nll(const float *Z, const int *y, size_t n, uint32_t K, double T) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    const float *z = Z + i * K;
    float mx = z[0];
    for (uint32_t k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double se = 0;
    for (uint32_t k = 0; k < K; k++) se += exp((z[k] - mx) / T);
    sum -= (z[y[i]] - mx) / T - log(se);
  }
  return sum;
}

/* Golden-section search over log T: NLL is unimodal in T for a fixed model. */
static float fit_temperature(const float *Z, const int *y, size_t n, uint32_t K) {
  if (n < 10 || K < 2) return 1.0f;
  double a = log(0.05), b = log(20.0), gr = (sqrt(5.0) - 1) / 2;
  for (int it = 0; it < 60; it++) {
    double c = b - gr * (b - a), e = a + gr * (b - a);
    if (nll(Z, y, n, K, exp(c)) < nll(Z, y, n, K, exp(e))) b = e;
    else a = c;
  }
  return (float)exp((a + b) / 2);
}

static int calibrate(const tdata *d, const size_t *hold, size_t nh, const float *W, const float *bias,
                     float temp[CL_NHEADS]) {
  float one[CL_NHEADS * CL_NSPACE] = {1, 1, 1, 1, 1, 1};
  float *z = malloc((d->stride + 1) * sizeof *z);
  float *Z = malloc((nh * d->stride + 1) * sizeof *Z);
  int *y = malloc((nh + 1) * sizeof *y);
  int rc = -1;
  if (!z || !Z || !y) goto cleanup;
  for (int h = 0; h < CL_NHEADS; h++) {
    size_t m = 0;
    for (size_t i = 0; i < nh; i++) {
      if (d->y[h][hold[i]] < 0 || d->ncls[h] == 0) continue;
      doc_logits(d, W, bias, one, hold[i], z);
      memcpy(Z + m * d->ncls[h], z + d->hoff[h], d->ncls[h] * sizeof *z);
      y[m++] = d->y[h][hold[i]];
    }
    temp[h] = fit_temperature(Z, y, m, d->ncls[h]);
  }
  rc = 0;
cleanup:
  free(z);
  free(Z);
  free(y);
  return rc;
}

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static int serialize(const tdata *d, const es_taxonomy *tax, const cl_train_opts *o, const float *W, const float *bias,
                     const float temp[CL_NHEADS], void **out, size_t *outlen) {
  cl_model_hdr h = {.version = CL_MODEL_VERSION,
                    .header_size = sizeof h,
                    .tax_hash = tax->hash,
                    .seed = o->seed,
                    .nbuckets = o->nbuckets,
                    .nrows = d->nrows,
                    .word_ngrams = o->word_ngrams,
                    .minn = o->minn,
                    .maxn = o->maxn,
                    .stride = d->stride,
                    .ntrain = (uint32_t)d->n,
                    .flags = o->lang_space ? CL_MODEL_F_LANG_SPACE | CL_MODEL_F_SPACE_BIAS : 0};
  uint64_t nbias = (uint64_t)d->stride * (o->lang_space ? CL_NSPACE : 1);
  memcpy(h.magic, CL_MODEL_MAGIC, 8);
  memcpy(h.lang_count, d->lang_count, sizeof h.lang_count);
  for (int k = 0; k < CL_NHEADS; k++) h.ncls[k] = d->ncls[k], h.temp[k] = temp[k];
  for (int k = 0; k < CL_NHEADS; k++)
    for (uint32_t c = 0; c < d->ncls[k]; c++) h.len_labels += strlen(d->labels[k][c]) + 1;
  h.off_rowmap = align64(sizeof h);
  h.off_idf = align64(h.off_rowmap + (uint64_t)o->nbuckets * 4);
  h.off_w = align64(h.off_idf + (uint64_t)d->nrows * 4);
  h.off_bias = align64(h.off_w + (uint64_t)d->nrows * d->stride * 4);
  h.off_labels = align64(h.off_bias + nbias * 4);
  h.off_tax = align64(h.off_labels + h.len_labels);
  h.len_tax = tax->json_len;
  h.file_size = h.off_tax + h.len_tax;
  unsigned char *b = calloc(1, h.file_size);
  if (!b) return -1;
  memcpy(b + h.off_rowmap, d->rowmap, (size_t)o->nbuckets * 4);
  memcpy(b + h.off_idf, d->idf, (size_t)d->nrows * 4);
  memcpy(b + h.off_w, W, (size_t)d->nrows * d->stride * 4);
  memcpy(b + h.off_bias, bias, (size_t)nbias * 4);
  char *p = (char *)b + h.off_labels;
  for (int k = 0; k < CL_NHEADS; k++)
    for (uint32_t c = 0; c < d->ncls[k]; c++) {
      size_t l = strlen(d->labels[k][c]) + 1;
      memcpy(p, d->labels[k][c], l);
      p += l;
    }
  memcpy(b + h.off_tax, tax->json, tax->json_len);
  memcpy(b, &h, sizeof h);
  h.checksum = XXH3_64bits(b + 24, h.file_size - 24);
  memcpy(b, &h, sizeof h);
  *out = b;
  *outlen = h.file_size;
  return 0;
}

static int check_opts(const cl_train_opts *o, char *err, size_t errlen) {
  if (o->nbuckets < 1024 || (o->nbuckets & (o->nbuckets - 1)) || o->epochs < 1 || o->lr <= 0 || o->l2 < 0 ||
      o->l2_sent < 0 || o->word_ngrams < 1 || o->word_ngrams > 2 || o->maxn > 16 || o->minn > o->maxn) {
    snprintf(
        err, errlen,
        "invalid training options (buckets power of two >= 1024, epochs >= 1, lr > 0, ngrams 1-2, minn <= maxn <= 16)");
    return -1;
  }
  return 0;
}

int cl_train(const cl_dataset *ds, const es_taxonomy *tax, const cl_train_opts *o, void **out, size_t *outlen,
             char *err, size_t errlen) {
  tdata d = {0};
  float *W = NULL, *bias = NULL, temp[CL_NHEADS] = {1, 1, 1};
  size_t *all = NULL, *train = NULL, *hold = NULL, ntr = 0, nh = 0;
  int rc = -1;
  cl_feat_cfg fc = {o->nbuckets, o->word_ngrams, o->minn, o->maxn, o->lang_space != 0};
  *out = NULL;
  if (check_opts(o, err, errlen) || map_labels(ds, tax, &d, err, errlen) || featurize(ds, &fc, &d, err, errlen))
    goto cleanup;
  all = malloc((ds->n + 1) * sizeof *all);
  train = malloc((ds->n + 1) * sizeof *train);
  hold = malloc((ds->n + 1) * sizeof *hold);
  if (!all || !train || !hold) goto oom;
  for (size_t i = 0; i < ds->n; i++) all[i] = i;
  uint64_t rng = o->seed ^ 0x5EEDull;
  memcpy(train, all, ds->n * sizeof *all);
  shuffle(train, ds->n, &rng); /* a seeded random slice is held out for calibration */
  size_t want = o->holdout > 0 && ds->n >= 50 ? (size_t)(ds->n * o->holdout) : 0;
  nh = want;
  memcpy(hold, train, nh * sizeof *hold);
  ntr = ds->n - nh;
  memmove(train, train + nh, ntr * sizeof *train);
  if (nh > 0) {
    if (fit(&d, train, ntr, o, "calibration fit", &W, &bias)) goto oom;
    if (calibrate(&d, hold, nh, W, bias, temp)) goto oom;
    free(W);
    free(bias);
    W = bias = NULL;
  }
  if (fit(&d, all, ds->n, o, "final fit", &W, &bias)) goto oom;
  if (serialize(&d, tax, o, W, bias, temp, out, outlen)) goto oom;
  rc = 0;
  goto cleanup;
oom:
  snprintf(err, errlen, "out of memory while training");
cleanup:
  tdata_free(&d);
  free(W);
  free(bias);
  free(all);
  free(train);
  free(hold);
  return rc;
}
