/* Review queue order (review.h). */
#include "review.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"

double cl_review_priority(const cl_result *r, int head) {
  double conf = head == CL_HEAD_SENT ? r->sentiment_conf : head == CL_HEAD_JOURNEY ? r->journey_conf : r->confidence;
  if (conf < 0) conf = 0;
  if (conf > 1) conf = 1;
  return 1.0 - conf;
}

static const double *g_prio; /* qsort has no context argument; single-threaded CLI/bench use */

static int cmp_idx(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  if (g_prio[x] != g_prio[y]) return g_prio[x] > g_prio[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

int cl_review_order(const double *prio, size_t n, size_t *idx) {
  for (size_t i = 0; i < n; i++) idx[i] = i;
  g_prio = prio;
  qsort(idx, n, sizeof *idx, cmp_idx);
  g_prio = NULL;
  return 0;
}

int cl_cmd_review_order(int argc, char **argv, FILE *in, FILE *out) {
  const char *model = NULL, *lang = NULL;
  int head = CL_HEAD_SUB;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
    else if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) lang = argv[++i];
    else if (strcmp(argv[i], "--head") == 0 && i + 1 < argc) {
      const char *h = argv[++i];
      if (strcmp(h, "sentiment") == 0) head = CL_HEAD_SENT;
      else if (strcmp(h, "subcategory") != 0) return fprintf(stderr, "review-order: --head subcategory|sentiment\n"), 2;
    } else {
      fprintf(stderr,
              "Usage: escucha-classify review-order --model M [--head subcategory|sentiment] [--lang es|en] "
              "< texts (one per line)\n");
      return 2;
    }
  }
  char err[512];
  cl_classifier *c = cl_load_classifier(model, NULL, CL_DEFAULT_THRESHOLD, 0, err, sizeof err);
  if (!c) {
    fprintf(stderr, "escucha-classify review-order: %s\n", err);
    return 1;
  }
  double *prio = NULL;
  size_t n = 0, cap = 0, lcap = 0, *idx = NULL;
  char *line = NULL;
  ssize_t len;
  int rc = 1;
  while ((len = getline(&line, &lcap, in)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    cl_result r;
    if (cl_classify(c, line, (size_t)len, lang, &r)) goto cleanup;
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      double *p = realloc(prio, cap * sizeof *p);
      if (!p) goto cleanup;
      prio = p;
    }
    prio[n++] = cl_review_priority(&r, head);
  }
  idx = malloc((n + 1) * sizeof *idx);
  if (!idx || cl_review_order(prio, n, idx)) goto cleanup;
  for (size_t i = 0; i < n; i++) fprintf(out, "%zu\n", idx[i]);
  rc = 0;
cleanup:
  if (rc) fprintf(stderr, "escucha-classify review-order: out of memory\n");
  free(line);
  free(prio);
  free(idx);
  cl_classifier_free(c);
  return rc;
}
