/* Model file: versioned, xxh3-checksummed, mmap-loadable. Little-endian;
 * a fixed header then 64-byte aligned sections:
 *   rowmap  uint32[nbuckets]   bucket -> weight row (or CL_NO_ROW)
 *   idf     float[nrows]
 *   W       float[nrows][stride]   columns: subcategory | sentiment | journey
 *   bias    float[stride] (float[CL_NSPACE][stride] with CL_MODEL_F_SPACE_BIAS)
 *   labels  NUL-separated class names, head by head
 *   taxonomy  the taxonomy JSON the model was trained with
 * The checksum covers every byte after the checksum field. */
#ifndef ESCUCHA_CLASSIFY_MODEL_H
#define ESCUCHA_CLASSIFY_MODEL_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "hashfeat.h"
#include "taxonomy.h"
#include "text.h"

#define CL_MODEL_MAGIC "ESCLSMDL"
#define CL_MODEL_VERSION 1u

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t checksum; /* XXH3-64 of bytes [24, file_size) */
  uint64_t file_size;
  uint64_t tax_hash;
  uint64_t seed;
  uint32_t nbuckets, nrows, word_ngrams, minn, maxn;
  uint32_t ncls[CL_NHEADS];
  uint32_t stride;
  float temp[CL_NHEADS];                    /* softmax temperature per head (calibration) */
  uint32_t lang_count[CL_NHEADS][CL_NLANG]; /* labelled examples per head and language */
  uint64_t off_rowmap, off_idf, off_w, off_bias, off_labels, len_labels, off_tax, len_tax;
  uint32_t ntrain, flags; /* CL_MODEL_F_*; 0 in files written before the flags existed */
} cl_model_hdr;

#define CL_MODEL_F_LANG_SPACE 1u /* features hashed per language space (cl_feat_cfg.lang_space) */
#define CL_MODEL_F_SPACE_BIAS 2u /* one bias row per language space: bias float[CL_NSPACE][stride] */
#define CL_MODEL_F_KNOWN (CL_MODEL_F_LANG_SPACE | CL_MODEL_F_SPACE_BIAS)

typedef struct cl_model {
  const cl_model_hdr *h;
  cl_feat_cfg fc;
  cl_lookup lk;
  const float *W, *bias;
  uint32_t off[CL_NHEADS];
  const char **labels[CL_NHEADS];
  es_taxonomy *tax;   /* parsed embedded taxonomy (owned) */
  int *sub_tax;       /* subcategory class -> taxonomy subcategory index */
  char version[32];   /* "v1-<checksum prefix>" */
  uint64_t *row_bits; /* compact row lookup (see cl_lookup), owned */
  uint32_t *row_rank;
  void *base; /* mmap'd file or malloc'd buffer (owned) */
  size_t size;
  int mapped;
} cl_model;

/* Opens a model file with mmap and validates it. NULL + message on error
 * (wrong magic, version, size, checksum, or inconsistent sections). */
ES_MUST_CHECK
cl_model *cl_model_open(const char *path, char *err, size_t errlen);
/* Same from memory; takes ownership of buf (malloc'd) even on failure. */
cl_model *cl_model_from_buffer(void *buf, size_t len, char *err, size_t errlen);
void cl_model_free(cl_model *m);
/* 0 when tax has the model's taxonomy hash, else -1 with message. */
int cl_model_check_taxonomy(const cl_model *m, const es_taxonomy *tax, char *err, size_t errlen);
/* logits[stride] = bias (of x's language space) + W^T x. */
void cl_model_logits(const cl_model *m, const cl_fvec *x, float *logits);
/* p = softmax(z / T); returns argmax. */
int cl_softmax(const float *z, int n, float T, float *p);
/* Writes buf to path atomically (tmp + rename). 0 ok. */
int cl_write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen);
#endif
