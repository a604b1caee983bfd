/* Review queue order (review.h). */
#include "review.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"

/* 1 - margin rather than 1 - confidence: an item torn between two classes
 * teaches more than one spread thinly over many (bench/learning measured it,
 * docs/performance.md "Learning curves"). */
double cl_review_priority(const cl_result *r, int head) {
  double top = r->confidence, second = r->runner_up;
  if (head == CL_HEAD_SENT) top = r->sentiment_conf, second = r->sentiment_runner_up;
  else if (head == CL_HEAD_JOURNEY) top = r->journey_conf, second = 0; /* no runner-up kept: 1 - confidence */
  double margin = top - second;
  if (margin < 0) margin = 0;
  if (margin > 1) margin = 1;
  return 1.0 - margin;
}

/* qsort has no context argument; single-threaded CLI/bench use */
static const double *g_key, *g_prio;

static int cmp_idx(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  if (g_key[x] != g_key[y]) return g_key[x] > g_key[y] ? -1 : 1;
  if (g_prio && g_prio[x] != g_prio[y]) return g_prio[x] > g_prio[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

static void sort_by(const double *key, const double *prio, size_t n, size_t *idx) {
  g_key = key, g_prio = prio;
  qsort(idx, n, sizeof *idx, cmp_idx);
  g_key = g_prio = NULL;
}

int cl_review_order(const double *prio, const int *cls, size_t n, const unsigned *counts, size_t ncls, size_t *idx) {
  for (size_t i = 0; i < n; i++) idx[i] = i;
  sort_by(prio, NULL, n, idx);
  if (!cls || n == 0) return 0;
  /* taken[c]: items of class c already ahead in its own line (slot ncls:
   * items without a class, one line of their own with no labels) */
  unsigned *taken = calloc(ncls + 1, sizeof *taken);
  double *key = malloc(n * sizeof *key);
  if (!taken || !key) {
    free(taken);
    free(key);
    return -1;
  }
  for (size_t k = 0; k < n; k++) {
    size_t i = idx[k];
    size_t c = cls[i] >= 0 && (size_t)cls[i] < ncls ? (size_t)cls[i] : ncls;
    double labels = (c < ncls && counts ? counts[c] : 0) + taken[c]++;
    key[i] = prio[i] / (1.0 + labels);
  }
  sort_by(key, prio, n, idx);
  free(taken);
  free(key);
  return 0;
}

int cl_review_class(const cl_result *r, int head) { return head == CL_HEAD_SENT ? r->sentiment : r->sub; }

/* Counts the labels of --labels (one class name per line) per class of the
 * head; an unknown name is an error (a typo must not silently unbalance). */
static int read_counts(const char *path, const es_taxonomy *T, int head, unsigned *counts, size_t ncls) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "review-order: cannot open %s\n", path);
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    int c = -1;
    if (head == CL_HEAD_SENT) c = cl_sentiment_index(line);
    else
      for (size_t s = 0; s < T->nsubs && c < 0; s++)
        if (strcmp(T->subs[s].id, line) == 0) c = (int)s;
    if (c < 0 || (size_t)c >= ncls) {
      fprintf(stderr, "review-order: %s: unknown label \"%s\"\n", path, line);
      rc = -1;
    } else counts[c]++;
  }
  free(line);
  fclose(f);
  return rc;
}

int cl_cmd_review_order(int argc, char **argv, FILE *in, FILE *out) {
  const char *model = NULL, *lang = NULL, *labels = NULL;
  int head = CL_HEAD_SUB;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
    else if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) lang = argv[++i];
    else if (strcmp(argv[i], "--labels") == 0 && i + 1 < argc) labels = argv[++i];
    else if (strcmp(argv[i], "--head") == 0 && i + 1 < argc) {
      const char *h = argv[++i];
      if (strcmp(h, "sentiment") == 0) head = CL_HEAD_SENT;
      else if (strcmp(h, "subcategory") != 0) return fprintf(stderr, "review-order: --head subcategory|sentiment\n"), 2;
    } else {
      fprintf(stderr,
              "Usage: escucha-classify review-order --model M [--head subcategory|sentiment] [--lang es|en] "
              "[--labels FILE] < texts (one per line)\n"
              "--labels: the labels given so far, one class per line (a subcategory id or a sentiment)\n");
      return 2;
    }
  }
  char err[512];
  /* threshold 0: every item keeps the model's most probable class (an item
   * served as "other" still belongs to a class's line) */
  cl_classifier *c = cl_load_classifier(model, NULL, 0, 0, err, sizeof err);
  if (!c) {
    fprintf(stderr, "escucha-classify review-order: %s\n", err);
    return 1;
  }
  const es_taxonomy *T = cl_classifier_taxonomy(c);
  size_t ncls = head == CL_HEAD_SENT ? 3 : T->nsubs;
  double *prio = NULL;
  int *cls = NULL;
  unsigned *counts = calloc(ncls, sizeof *counts);
  size_t n = 0, cap = 0, lcap = 0, *idx = NULL;
  char *line = NULL;
  ssize_t len;
  int rc = 1, oom = 1;
  if (!counts) goto cleanup;
  if (labels && read_counts(labels, T, head, counts, ncls)) {
    oom = 0;
    goto cleanup;
  }
  while ((len = getline(&line, &lcap, in)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    cl_result r;
    if (cl_classify(c, line, (size_t)len, lang, &r)) goto cleanup;
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      double *p = realloc(prio, cap * sizeof *p);
      if (!p) goto cleanup;
      prio = p;
      int *q = realloc(cls, cap * sizeof *q);
      if (!q) goto cleanup;
      cls = q;
    }
    cls[n] = cl_review_class(&r, head);
    prio[n++] = cl_review_priority(&r, head);
  }
  idx = malloc((n + 1) * sizeof *idx);
  if (!idx || cl_review_order(prio, cls, n, counts, ncls, idx)) goto cleanup;
  for (size_t i = 0; i < n; i++) fprintf(out, "%zu\n", idx[i]);
  rc = 0;
cleanup:
  if (rc && oom) fprintf(stderr, "escucha-classify review-order: out of memory\n");
  free(line);
  free(prio);
  free(cls);
  free(counts);
  free(idx);
  cl_classifier_free(c);
  return rc;
}
