#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CK_START 24 /* magic + version + header_size + checksum */

void cl_model_free(cl_model *m) {
  if (!m) return;
  for (int h = 0; h < CL_NHEADS; h++) free(m->labels[h]);
  free(m->sub_tax);
  free(m->row_bits);
  free(m->row_rank);
  es_taxonomy_free(m->tax);
  if (m->mapped) munmap(m->base, m->size);
  else free(m->base);
  free(m);
}

static int bad(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "model refused: %s", what);
  return -1;
}

static int section_ok(const cl_model_hdr *h, uint64_t off, uint64_t len) {
  return off >= h->header_size && off <= h->file_size && len <= h->file_size - off && (off % 4) == 0;
}

static int check_header(const unsigned char *b, size_t len, char *err, size_t errlen) {
  const cl_model_hdr *h = (const cl_model_hdr *)b;
  if (len < sizeof *h || memcmp(h->magic, CL_MODEL_MAGIC, 8) != 0)
    return bad(err, errlen, "not an Escucha classifier model (wrong magic)");
  if (h->version != CL_MODEL_VERSION) {
    char m[96];
    snprintf(m, sizeof m, "unsupported model version %u (this build reads %u)", h->version, CL_MODEL_VERSION);
    return bad(err, errlen, m);
  }
  if (h->header_size != sizeof *h || h->file_size != len)
    return bad(err, errlen, "truncated or resized file (size does not match header)");
  uint64_t ck = XXH3_64bits(b + CK_START, len - CK_START);
  if (ck != h->checksum) {
    char m[128];
    snprintf(m, sizeof m, "checksum mismatch (xxh3 %016llx, header says %016llx): file is corrupted",
             (unsigned long long)ck, (unsigned long long)h->checksum);
    return bad(err, errlen, m);
  }
  uint64_t stride = (uint64_t)h->ncls[0] + h->ncls[1] + h->ncls[2];
  if (h->stride != stride || h->nbuckets == 0 || (h->nbuckets & (h->nbuckets - 1)) ||
      !section_ok(h, h->off_rowmap, (uint64_t)h->nbuckets * 4) || !section_ok(h, h->off_idf, (uint64_t)h->nrows * 4) ||
      !section_ok(h, h->off_w, (uint64_t)h->nrows * stride * 4) ||
      !section_ok(h, h->off_bias, stride * 4 * (h->flags & CL_MODEL_F_SPACE_BIAS ? CL_NSPACE : 1)) ||
      !section_ok(h, h->off_labels, h->len_labels) || !section_ok(h, h->off_tax, h->len_tax) || h->minn > h->maxn ||
      h->maxn > 16)
    return bad(err, errlen, "inconsistent header fields");
  if (h->flags & ~CL_MODEL_F_KNOWN) return bad(err, errlen, "unknown feature flags (written by a newer build)");
  return 0;
}

/* Splits the NUL-separated label section into per-head arrays. */
static int read_labels(cl_model *m, char *err, size_t errlen) {
  const cl_model_hdr *h = m->h;
  const char *p = (const char *)m->base + h->off_labels, *end = p + h->len_labels;
  for (int k = 0; k < CL_NHEADS; k++) {
    m->labels[k] = calloc(h->ncls[k] + 1, sizeof(char *));
    if (!m->labels[k]) return bad(err, errlen, "out of memory");
    for (uint32_t c = 0; c < h->ncls[k]; c++) {
      const char *z = memchr(p, '\0', (size_t)(end - p));
      if (!z) return bad(err, errlen, "label table is malformed");
      m->labels[k][c] = p;
      p = z + 1;
    }
  }
  return 0;
}

static int read_taxonomy(cl_model *m, char *err, size_t errlen) {
  char msg[400];
  const cl_model_hdr *h = m->h;
  if (es_taxonomy_parse((const char *)m->base + h->off_tax, h->len_tax, &m->tax, msg, sizeof msg)) {
    char e[460];
    snprintf(e, sizeof e, "embedded taxonomy invalid: %s", msg);
    return bad(err, errlen, e);
  }
  if (m->tax->hash != h->tax_hash) return bad(err, errlen, "embedded taxonomy does not match its hash");
  m->sub_tax = calloc(h->ncls[CL_HEAD_SUB] + 1, sizeof *m->sub_tax);
  if (!m->sub_tax) return bad(err, errlen, "out of memory");
  for (uint32_t c = 0; c < h->ncls[CL_HEAD_SUB]; c++)
    if ((m->sub_tax[c] = es_taxonomy_find(m->tax, m->labels[CL_HEAD_SUB][c])) < 0)
      return bad(err, errlen, "a subcategory label is missing from the embedded taxonomy");
  return 0;
}

/* The bitmap + rank form of the row map (192 KB instead of 4 MB for 2^20
 * buckets); the row map's pages are then dropped from memory. */
static int build_row_index(cl_model *m) {
  const cl_model_hdr *h = m->h;
  size_t nw = (h->nbuckets + 63) / 64;
  m->row_bits = calloc(nw, sizeof *m->row_bits);
  m->row_rank = calloc(nw, sizeof *m->row_rank);
  if (!m->row_bits || !m->row_rank) return -1;
  uint32_t rank = 0;
  for (size_t w = 0; w < nw; w++) {
    m->row_rank[w] = rank;
    for (uint32_t j = 0; j < 64 && w * 64 + j < h->nbuckets; j++)
      if (m->lk.rowmap[w * 64 + j] != CL_NO_ROW) m->row_bits[w] |= 1ull << j, rank++;
  }
  m->lk.bits = m->row_bits;
  m->lk.rank = m->row_rank;
  if (m->mapped) { /* not read again: give the pages back (re-read from the file if ever touched) */
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)m->lk.rowmap + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t e = ((uintptr_t)m->lk.rowmap + (uintptr_t)h->nbuckets * 4) & ~(uintptr_t)(pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
  }
  return 0;
}

/* Takes ownership of base (munmap'd or freed with the model, even on failure). */
static cl_model *wrap(void *base, size_t len, int mapped, char *err, size_t errlen) {
  cl_model *m = calloc(1, sizeof *m);
  if (!m) {
    if (mapped) munmap(base, len);
    else free(base);
    bad(err, errlen, "out of memory");
    return NULL;
  }
  m->base = base;
  m->size = len;
  m->mapped = mapped;
  if (check_header(base, len, err, errlen)) goto fail;
  const unsigned char *b = base;
  const cl_model_hdr *h = m->h = (const cl_model_hdr *)b;
  m->fc = (cl_feat_cfg){h->nbuckets, h->word_ngrams, h->minn, h->maxn, (h->flags & CL_MODEL_F_LANG_SPACE) != 0};
  m->lk.rowmap = (const uint32_t *)(b + h->off_rowmap);
  m->lk.idf = (const float *)(b + h->off_idf);
  m->W = (const float *)(b + h->off_w);
  m->bias = (const float *)(b + h->off_bias);
  m->off[0] = 0;
  m->off[1] = h->ncls[0];
  m->off[2] = h->ncls[0] + h->ncls[1];
  int ordered = 1; /* rows numbered in bucket order: the compact lookup applies */
  uint32_t next = 0;
  for (uint32_t i = 0; i < h->nbuckets; i++) {
    uint32_t r = m->lk.rowmap[i];
    if (r == CL_NO_ROW) continue;
    if (r >= h->nrows) {
      bad(err, errlen, "row map points outside the weights");
      goto fail;
    }
    ordered &= r == next++;
  }
  if (ordered && build_row_index(m)) {
    bad(err, errlen, "out of memory");
    goto fail;
  }
  m->lk.W = m->W;
  m->lk.stride = h->stride;
  if (read_labels(m, err, errlen) || read_taxonomy(m, err, errlen)) goto fail;
  snprintf(m->version, sizeof m->version, "v%u-%08llx", h->version, (unsigned long long)(h->checksum >> 32));
  return m;
fail:
  cl_model_free(m);
  return NULL;
}

cl_model *cl_model_from_buffer(void *buf, size_t len, char *err, size_t errlen) {
  return wrap(buf, len, 0, err, errlen);
}

cl_model *cl_model_open(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return NULL;
  }
  if ((size_t)st.st_size < sizeof(cl_model_hdr)) {
    close(fd);
    snprintf(err, errlen, "%s: model refused: file too small to be a model", path);
    return NULL;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
    return NULL;
  }
  char msg[400];
  cl_model *m = wrap(p, (size_t)st.st_size, 1, msg, sizeof msg);
  if (!m) snprintf(err, errlen, "%s: %s", path, msg);
  return m;
}

int cl_model_check_taxonomy(const cl_model *m, const es_taxonomy *tax, char *err, size_t errlen) {
  if (m->h->tax_hash == tax->hash) return 0;
  snprintf(err, errlen,
           "model refused: trained for taxonomy %016llx but the taxonomy is %016llx "
           "(subcategory ids differ; retrain with this taxonomy)",
           (unsigned long long)m->h->tax_hash, (unsigned long long)tax->hash);
  return -1;
}

typedef float cl_v4 __attribute__((vector_size(16)));

void cl_model_logits(const cl_model *m, const cl_fvec *x, float *z) {
  uint32_t S = m->h->stride;
  const float *bias = m->bias;
  if ((m->h->flags & CL_MODEL_F_SPACE_BIAS) && x->space < CL_NSPACE) bias += (size_t)x->space * S;
  memcpy(z, bias, S * sizeof *z);
  for (size_t i = 0; i < x->n; i++) {
    const float *w = m->W + (size_t)x->idx[i] * S;
    float v = x->val[i];
    uint32_t k = 0;
    /* Four classes per SIMD multiply-add (GCC/clang vector extension; -O2
     * leaves this loop of unknown length scalar). Each z[k] sees the same
     * additions in the same order, so the logits are bit for bit the
     * scalar ones. */
    for (; k + 4 <= S; k += 4) {
      cl_v4 a, b;
      memcpy(&a, z + k, sizeof a), memcpy(&b, w + k, sizeof b);
      a += v * b;
      memcpy(z + k, &a, sizeof a);
    }
    for (; k < S; k++) z[k] += v * w[k];
  }
}

int cl_softmax(const float *z, int n, float T, float *p) {
  if (n <= 0) return -1;
  int best = 0;
  for (int k = 1; k < n; k++)
    if (z[k] > z[best]) best = k;
  double sum = 0, inv = 1.0 / (T > 0 ? T : 1.0f);
  for (int k = 0; k < n; k++) sum += (p[k] = (float)exp((z[k] - z[best]) * inv));
  for (int k = 0; k < n; k++) p[k] = (float)(p[k] / sum);
  return best;
}

int cl_write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    return -1;
  }
  int ok = fwrite(buf, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
