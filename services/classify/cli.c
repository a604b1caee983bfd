#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "classifier.h"
#include "config.h"
#include "dataset.h"
#include "model.h"
#include "taxonomy.h"
#include "train.h"
#include "urgent_eval.h"

#define MAX_DATA 32

/* "--name value" or "--name=value"; returns the value and advances *i. */
static const char *flag(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0) return NULL;
  if (a[2 + n] == '=') return a + 3 + n;
  if (a[2 + n] == '\0' && *i + 1 < argc) return argv[++*i];
  return NULL;
}

/* The settings the subcommands share with `serve`, from the typed table
 * (lib/config.h) so a bad ESCUCHA_CONFIDENCE_THRESHOLD is refused instead of
 * read as 0, and `escucha-classify --help` lists them. Only the environment
 * is read here; each subcommand's own flags come after (and win). */
static struct {
  const char *model, *taxonomy;
  double threshold;
} K;
static es_opt ENV_OPTS[] = {ES_STR("model", NULL, "Model file", &K.model),
                            ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy JSON file", &K.taxonomy),
                            ES_DOUBLE("confidence-threshold", "0.35", 0, 1,
                                      "Below this calibrated confidence: other/unclassified", &K.threshold),
                            ES_OPT_END};

/* Fills K from the environment; 0 ok, -1 refused (message on stderr). */
static int env_settings(const char *prog) {
  char *none[] = {NULL};
  int r = es_config_parse(ENV_OPTS, prog, NULL, 0, none, 0, NULL, NULL);
  es_config_free(ENV_OPTS);
  return r == 0 ? 0 : -1;
}

/* A --confidence-threshold flag value, checked like the table's; 0 ok, -1 refused. */
static int threshold_flag(const char *prog, const char *v, double *out) {
  char why[256];
  es_opt *o = es_opt_find(ENV_OPTS, "confidence-threshold");
  if (es_opt_check(o, v, why, sizeof why) != 0) {
    fprintf(stderr, "%s: --confidence-threshold / ESCUCHA_CONFIDENCE_THRESHOLD: %s (from the command line)\n", prog,
            why);
    return -1;
  }
  *out = strtod(v, NULL);
  return 0;
}

static void train_usage(void) {
  fprintf(stderr,
          "Usage: escucha-classify train --taxonomy T --data labelled.csv [--data corrections.csv ...]\n"
          "         --out model.bin [--seed N] [--epochs N] [--lr X] [--l2 X] [--l2-sentiment X] [--l2-sentiment-es X] "
          "[--buckets 2^k]\n"
          "         [--holdout X] [--no-balance] [--no-lang-space] [--quiet]\n"
          "CSV columns (header-named): text, category, subcategory, sentiment, journey_stage, language;\n"
          "empty = unknown for that head. .jsonl files use the escucha.corrections.v1 JSON format.\n"
          "Later files override earlier rows with the same text (corrections win).\n");
}

int cl_cmd_train(int argc, char **argv) {
  cl_train_opts o;
  cl_train_defaults(&o);
  o.progress = isatty(2);
  if (env_settings("escucha-classify train") != 0) return 2;
  const char *tax_path = K.taxonomy && *K.taxonomy ? K.taxonomy : "config/taxonomy.default.json", *out = NULL, *v;
  const char *data[MAX_DATA];
  int ndata = 0;
  for (int i = 0; i < argc; i++) {
    if ((v = flag(argc, argv, &i, "taxonomy"))) tax_path = v;
    else if ((v = flag(argc, argv, &i, "data")) && ndata < MAX_DATA) data[ndata++] = v;
    else if ((v = flag(argc, argv, &i, "out"))) out = v;
    else if ((v = flag(argc, argv, &i, "seed"))) o.seed = strtoull(v, NULL, 10);
    else if ((v = flag(argc, argv, &i, "epochs"))) o.epochs = atoi(v);
    else if ((v = flag(argc, argv, &i, "lr"))) o.lr = strtof(v, NULL);
    else if ((v = flag(argc, argv, &i, "l2"))) o.l2 = strtof(v, NULL);
    else if ((v = flag(argc, argv, &i, "l2-sentiment-es"))) o.l2_sent_es = strtof(v, NULL);
    else if ((v = flag(argc, argv, &i, "l2-sentiment"))) o.l2_sent = strtof(v, NULL);
    else if ((v = flag(argc, argv, &i, "buckets"))) o.nbuckets = (uint32_t)strtoul(v, NULL, 10);
    else if ((v = flag(argc, argv, &i, "holdout"))) o.holdout = strtof(v, NULL);
    else if ((v = flag(argc, argv, &i, "minn"))) o.minn = (uint32_t)atoi(v);
    else if ((v = flag(argc, argv, &i, "maxn"))) o.maxn = (uint32_t)atoi(v);
    else if ((v = flag(argc, argv, &i, "word-ngrams"))) o.word_ngrams = (uint32_t)atoi(v);
    else if (strcmp(argv[i], "--no-balance") == 0) o.balanced = 0;
    else if (strcmp(argv[i], "--no-lang-space") == 0) o.lang_space = 0;
    else if (strcmp(argv[i], "--quiet") == 0) o.progress = 0;
    else {
      train_usage();
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (!out) {
    train_usage();
    return 2;
  }
  char err[512];
  es_taxonomy *tax = NULL;
  cl_dataset ds = {0};
  void *buf = NULL;
  size_t len = 0;
  int rc = 1;
  if (es_taxonomy_load(tax_path, &tax, err, sizeof err)) goto fail;
  for (int i = 0; i < ndata; i++)
    if (cl_dataset_load(&ds, data[i], err, sizeof err)) goto fail;
  if (o.progress)
    fprintf(stderr, "[train] %zu examples (%zu overridden by later files), taxonomy %zu subcategories\n", ds.n,
            ds.overridden, tax->nsubs);
  if (cl_train(&ds, tax, &o, &buf, &len, err, sizeof err)) goto fail;
  if (cl_write_file(out, buf, len, err, sizeof err)) goto fail;
  fprintf(stderr, "[train] wrote %s (%zu bytes)\n", out, len);
  rc = 0;
  goto cleanup;
fail:
  fprintf(stderr, "escucha-classify train: %s\n", err);
cleanup:
  free(buf);
  cl_dataset_free(&ds);
  es_taxonomy_free(tax);
  return rc;
}

cl_classifier *cl_load_classifier(const char *model_path, const char *tax_path, double threshold, int allow_cold,
                                  char *err, size_t errlen) {
  es_taxonomy *tax = NULL;
  if (tax_path && es_taxonomy_load(tax_path, &tax, err, errlen)) return NULL;
  return cl_classifier_open(model_path, tax, threshold, allow_cold, err, errlen);
}

cl_classifier *cl_classifier_open(const char *model_path, es_taxonomy *tax, double threshold, int allow_cold, char *err,
                                  size_t errlen) {
  cl_model *m = NULL;
  if (model_path && access(model_path, F_OK) == 0) {
    m = cl_model_open(model_path, err, errlen);
  } else if (allow_cold && tax) {
    /* No model yet: an untrained model over the taxonomy, so only the seed
     * keywords and lexicons classify (cold start). */
    cl_dataset empty = {0};
    cl_train_opts o;
    cl_train_defaults(&o);
    o.nbuckets = 1024;
    void *buf = NULL;
    size_t len = 0;
    if (cl_train(&empty, tax, &o, &buf, &len, err, errlen) == 0) m = cl_model_from_buffer(buf, len, err, errlen);
  } else {
    snprintf(err, errlen, "%s: no such model file", model_path ? model_path : "(none)");
  }
  if (!m) {
    es_taxonomy_free(tax);
    return NULL;
  }
  return cl_classifier_new(m, tax, (float)threshold, err, errlen);
}

/* ---- eval ---- */

typedef struct {
  uint32_t K;
  uint32_t *conf; /* K x K, gold row, predicted column */
} confusion;

static double macro_f1(const confusion *c, FILE *out, const char *const *labels) {
  double sum = 0;
  int n = 0;
  for (uint32_t k = 0; k < c->K; k++) {
    double tp = c->conf[k * c->K + k], fp = 0, fn = 0;
    for (uint32_t j = 0; j < c->K; j++)
      if (j != k) fp += c->conf[j * c->K + k], fn += c->conf[k * c->K + j];
    if (tp + fp + fn == 0) continue; /* class absent from gold and predictions */
    double p = tp + fp > 0 ? tp / (tp + fp) : 0, r = tp + fn > 0 ? tp / (tp + fn) : 0;
    double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
    if (out) fprintf(out, "    %-45s P %.3f  R %.3f  F1 %.3f  n=%.0f\n", labels[k], p, r, f, tp + fn);
    sum += f;
    n++;
  }
  return n ? sum / n : 0;
}

static void print_confusion(const confusion *c, const char *const *labels, FILE *out) {
  fprintf(out, "  confusion matrix (rows gold, columns predicted; class numbers below)\n      ");
  for (uint32_t j = 0; j < c->K; j++) fprintf(out, "%4u", j);
  fprintf(out, "\n");
  for (uint32_t k = 0; k < c->K; k++) {
    fprintf(out, "  %3u ", k);
    for (uint32_t j = 0; j < c->K; j++) fprintf(out, "%4u", c->conf[k * c->K + j]);
    fprintf(out, "  %s\n", labels[k]);
  }
}

/* label_index's answers besides a class number (>= 0) */
enum { LABEL_NONE = -1 /* the example has no gold label */, LABEL_UNKNOWN = -2 /* not a class of the model */ };

static int label_index(const cl_model *m, int head, const char *label) {
  if (!label) return LABEL_NONE;
  for (uint32_t k = 0; k < m->h->ncls[head]; k++)
    if (strcasecmp(m->labels[head][k], label) == 0) return (int)k;
  return LABEL_UNKNOWN;
}

typedef struct {
  confusion all, lang[CL_NLANG];
  size_t n, correct, unknown; /* unknown: rows whose gold label the model lacks */
  const char **names;         /* the model's labels, then the unknown gold labels */
  uint32_t nunk;              /* distinct unknown gold labels (classes K..K+nunk) */
} head_eval;

/* Gold labels the model has no class for are classes of their own in the
 * confusion (after the model's K): their rows are misses and their F1 is 0
 * in the macro average. Skipping them (as before) scored a model that never
 * saw a class as if that class did not exist, e.g. bench/learning's early
 * models with a few rare classes unlabelled. */
static int unknown_class(head_eval *e, uint32_t K, const char *label) {
  for (uint32_t u = 0; u < e->nunk; u++)
    if (strcasecmp(e->names[K + u], label) == 0) return (int)(K + u);
  return -1;
}

static const char *const HEAD_NAMES[CL_NHEADS] = {"subcategory", "sentiment", "journey_stage"};

static void report_head(int h, head_eval *e, int verbose) {
  const char *const *labels = e->names;
  printf("%s: n=%zu accuracy %.4f", HEAD_NAMES[h], e->n, e->n ? (double)e->correct / e->n : 0);
  if (e->unknown) printf(" (%zu rows of %u gold labels unknown to the model: counted as misses)", e->unknown, e->nunk);
  printf("\n  per class:\n");
  double f = macro_f1(&e->all, stdout, labels);
  printf("  macro-F1 %.4f\n", f);
  for (int l = 0; l < CL_NLANG; l++) {
    size_t tot = 0;
    for (uint32_t k = 0; k < e->lang[l].K * e->lang[l].K; k++) tot += e->lang[l].conf[k];
    if (tot) printf("  language %s: n=%zu macro-F1 %.4f\n", cl_lang_name(l), tot, macro_f1(&e->lang[l], NULL, labels));
  }
  if (verbose) print_confusion(&e->all, labels, stdout);
  printf("RESULT head=%s macro_f1=%.4f accuracy=%.4f n=%zu\n", HEAD_NAMES[h], f, e->n ? (double)e->correct / e->n : 0,
         e->n);
}

static double now_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int cl_cmd_eval(int argc, char **argv) {
  const char *model = NULL, *data = NULL, *tax = NULL, *v;
  double threshold = CL_DEFAULT_THRESHOLD;
  int verbose = 1;
  for (int i = 0; i < argc; i++) {
    if ((v = flag(argc, argv, &i, "model"))) model = v;
    else if ((v = flag(argc, argv, &i, "data"))) data = v;
    else if ((v = flag(argc, argv, &i, "taxonomy"))) tax = v;
    else if ((v = flag(argc, argv, &i, "confidence-threshold"))) {
      if (threshold_flag("escucha-classify eval", v, &threshold) != 0) return 2;
    } else if (strcmp(argv[i], "--brief") == 0) verbose = 0;
    else {
      fprintf(stderr,
              "Usage: escucha-classify eval --model M --data test.csv [--taxonomy T] [--confidence-threshold X] "
              "[--brief]\n");
      return 2;
    }
  }
  if (!model || !data) {
    fprintf(stderr, "Usage: escucha-classify eval --model M --data test.csv\n");
    return 2;
  }
  char err[512];
  cl_dataset ds = {0};
  head_eval ev[CL_NHEADS];
  memset(ev, 0, sizeof ev);
  int rc = 1;
  ds.keep_duplicates = 1; /* every test row counts, as in the baselines */
  cl_classifier *c = cl_load_classifier(model, tax, threshold, 0, err, sizeof err);
  if (!c || cl_dataset_load(&ds, data, err, sizeof err)) goto fail;
  const cl_model *m = cl_classifier_model(c);
  for (int h = 0; h < CL_NHEADS; h++) {
    uint32_t K = m->h->ncls[h];
    ev[h].names = calloc((size_t)K + ds.n + 1, sizeof *ev[h].names);
    if (!ev[h].names) goto oom;
    for (uint32_t k = 0; k < K; k++) ev[h].names[k] = m->labels[h][k];
    for (size_t i = 0; i < ds.n && K > 0; i++) {
      const char *g = ds.ex[i].label[h];
      if (label_index(m, h, g) == LABEL_UNKNOWN && unknown_class(&ev[h], K, g) < 0) ev[h].names[K + ev[h].nunk++] = g;
    }
    size_t KU = (size_t)K + ev[h].nunk;
    ev[h].all = (confusion){(uint32_t)KU, calloc(KU * KU + 1, sizeof(uint32_t))};
    if (!ev[h].all.conf) goto oom;
    for (int l = 0; l < CL_NLANG; l++) {
      ev[h].lang[l] = (confusion){(uint32_t)KU, calloc(KU * KU + 1, sizeof(uint32_t))};
      if (!ev[h].lang[l].conf) goto oom;
    }
  }
  size_t covered = 0, covered_ok = 0;
  double t0 = now_cpu();
  for (size_t i = 0; i < ds.n; i++) {
    const cl_example *e = &ds.ex[i];
    int pred[CL_NHEADS];
    cl_result r;
    if (cl_classify_raw(c, e->text, strlen(e->text), e->lang, pred) ||
        cl_classify(c, e->text, strlen(e->text), e->lang, &r))
      goto fail;
    for (int h = 0; h < CL_NHEADS; h++) {
      int g = label_index(m, h, e->label[h]);
      if (g == LABEL_NONE || pred[h] < 0) continue;
      if (g == LABEL_UNKNOWN) {
        g = unknown_class(&ev[h], m->h->ncls[h], e->label[h]);
        ev[h].unknown++;
      }
      uint32_t K = ev[h].all.K;
      ev[h].all.conf[(size_t)g * K + pred[h]]++;
      ev[h].lang[r.lang].conf[(size_t)g * K + pred[h]]++;
      ev[h].n++;
      ev[h].correct += g == pred[h];
      if (h == CL_HEAD_SUB && r.sub >= 0) covered++, covered_ok += strcmp(r.subcategory, e->label[h]) == 0;
    }
  }
  double dt = now_cpu() - t0;
  printf("model %s, %zu examples, %.0f docs/s (cpu, incl. 2 passes)\n", m->version, ds.n, dt > 0 ? 2 * ds.n / dt : 0);
  for (int h = 0; h < CL_NHEADS; h++)
    if (m->h->ncls[h]) report_head(h, &ev[h], verbose);
  if (ev[0].n)
    printf("threshold %.2f: %.1f%% of labelled items classified (rest other/unclassified), accuracy on those %.4f\n",
           threshold, 100.0 * covered / ev[0].n, covered ? (double)covered_ok / covered : 0);
  rc = 0;
  goto cleanup;
oom:
  snprintf(err, sizeof err, "out of memory");
fail:
  fprintf(stderr, "escucha-classify eval: %s\n", err);
cleanup:
  for (int h = 0; h < CL_NHEADS; h++) {
    free(ev[h].names);
    free(ev[h].all.conf);
    for (int l = 0; l < CL_NLANG; l++) free(ev[h].lang[l].conf);
  }
  cl_dataset_free(&ds);
  cl_classifier_free(c);
  return rc;
}

/* ---- urgent-eval ---- */

int cl_cmd_urgent_eval(int argc, char **argv) {
  const char *model = NULL, *data = NULL, *tax = NULL, *v;
  double threshold = CL_DEFAULT_THRESHOLD;
  int detail = 0;
  for (int i = 0; i < argc; i++) {
    if ((v = flag(argc, argv, &i, "model"))) model = v;
    else if ((v = flag(argc, argv, &i, "data"))) data = v;
    else if ((v = flag(argc, argv, &i, "taxonomy"))) tax = v;
    else if ((v = flag(argc, argv, &i, "confidence-threshold"))) {
      if (threshold_flag("escucha-classify urgent-eval", v, &threshold) != 0) return 2;
    } else if (strcmp(argv[i], "--detail") == 0) detail = 1;
    else {
      data = NULL;
      break;
    }
  }
  if (!data) {
    fprintf(stderr,
            "Usage: escucha-classify urgent-eval --data nhs-feedback.csv [--model M [--taxonomy T] "
            "[--confidence-threshold X]] [--detail]\n"
            "Without --model only the phrase detector is measured.\n");
    return 2;
  }
  char err[512] = "";
  size_t len = 0;
  char *buf = es_read_file(data, &len);
  cl_classifier *c = NULL;
  cl_urgent_eval ev;
  int rc = 1;
  if (!buf) {
    snprintf(err, sizeof err, "%s: cannot read", data);
    goto fail;
  }
  if (model && !(c = cl_load_classifier(model, tax, threshold, 0, err, sizeof err))) goto fail;
  if (cl_urgent_eval_nhs(buf, len, c, &ev, detail ? stdout : NULL, err, sizeof err)) goto fail;
  cl_urgent_eval_report(&ev, stdout);
  rc = 0;
  goto cleanup;
fail:
  fprintf(stderr, "escucha-classify urgent-eval: %s\n", err);
cleanup:
  free(buf);
  cl_classifier_free(c);
  return rc;
}

/* ---- predict ---- */

static int json_str(char *buf, size_t cap, size_t *o, const char *s) {
  if (*o + 2 >= cap) return -1;
  buf[(*o)++] = '"';
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (*o + 8 >= cap) return -1;
    if (ch == '"' || ch == '\\') buf[(*o)++] = '\\', buf[(*o)++] = (char)ch;
    else if (ch < 0x20) *o += (size_t)snprintf(buf + *o, cap - *o, "\\u%04x", ch);
    else buf[(*o)++] = (char)ch;
  }
  buf[(*o)++] = '"';
  return 0;
}

static const char *const SOURCES[3] = {"model", "keywords", "model+keywords"};

/* Appends without printf (JSON formatting was ~10 % of predict). */
static int put_raw(char *buf, size_t cap, size_t *o, const char *s) {
  size_t n = strlen(s);
  if (*o + n >= cap) return -1;
  memcpy(buf + *o, s, n);
  *o += n;
  return 0;
}

/* Same text as printf("%.4f", v) for a float: v * 10^4 is exact in double
 * (24 + 14 bits), so rint() (ties to even, like glibc's printf) rounds it
 * the way printf rounds the exact decimal expansion. */
static int put_f4(char *buf, size_t cap, size_t *o, float f) {
  double v = f;
  if (!isfinite(v) || fabs(v) >= 1e9) {
    int n = snprintf(buf + *o, cap - *o, "%.4f", v);
    if (n < 0 || (size_t)n >= cap - *o) return -1;
    *o += (size_t)n;
    return 0;
  }
  if (*o + 24 >= cap) return -1;
  char *p = buf + *o;
  if (signbit(v)) *p++ = '-', v = -v;
  uint64_t x = (uint64_t)rint(v * 10000.0), ip = x / 10000, fp = x % 10000;
  char tmp[20];
  int k = 0;
  do tmp[k++] = (char)('0' + ip % 10), ip /= 10;
  while (ip);
  while (k) *p++ = tmp[--k];
  *p++ = '.';
  p[0] = (char)('0' + fp / 1000), p[1] = (char)('0' + fp / 100 % 10);
  p[2] = (char)('0' + fp / 10 % 10), p[3] = (char)('0' + fp % 10);
  *o = (size_t)(p + 4 - buf);
  return 0;
}

int cl_result_json(const cl_result *r, const char *version, const char *id, char *buf, size_t cap) {
  size_t o = 0;
#define RAW(s)                                 \
  do {                                         \
    if (put_raw(buf, cap, &o, (s))) return -1; \
  } while (0)
#define STR(s)                                  \
  do {                                          \
    if (json_str(buf, cap, &o, (s))) return -1; \
  } while (0)
#define F4(v)                                 \
  do {                                        \
    if (put_f4(buf, cap, &o, (v))) return -1; \
  } while (0)
  RAW("{");
  if (id) {
    RAW("\"id\":");
    STR(id);
    RAW(",");
  }
  RAW("\"category\":");
  STR(r->category);
  RAW(",\"subcategory\":");
  STR(r->subcategory);
  RAW(",\"confidence\":");
  F4(r->confidence);
  RAW(",\"sentiment\":");
  STR(CL_SENTIMENTS[r->sentiment]);
  RAW(",\"sentiment_score\":");
  F4(r->sentiment_score);
  RAW(",\"sentiment_confidence\":");
  F4(r->sentiment_conf);
  if (r->journey >= 0) {
    RAW(",\"journey_stage\":");
    STR(ES_JOURNEYS[r->journey]);
    RAW(",\"journey_confidence\":");
    F4(r->journey_conf);
    RAW(",");
  } else {
    RAW(",\"journey_stage\":null,");
  }
  RAW(r->urgent ? "\"urgent\":true," : "\"urgent\":false,");
  if (r->urgent_reason) {
    RAW("\"urgent_reason\":");
    STR(r->urgent_reason);
    RAW(",\"urgent_confidence\":");
    F4(r->urgent_conf);
    RAW(",");
    if (r->urgent_phrase[0]) {
      RAW("\"urgent_phrase\":");
      STR(r->urgent_phrase);
      RAW(",");
    }
  }
  RAW("\"top_terms\":[");
  for (int i = 0; i < r->nterms; i++) {
    if (i) RAW(",");
    STR(r->terms[i]);
  }
  RAW("],\"language\":\"");
  RAW(cl_lang_name(r->lang));
  RAW("\",\"source\":\"");
  RAW(SOURCES[r->source]);
  RAW("\",\"model_version\":");
  STR(version);
  RAW("}");
#undef RAW
#undef STR
#undef F4
  return (int)o;
}

int cl_cmd_predict(int argc, char **argv, FILE *in, FILE *out) {
  if (env_settings("escucha-classify predict") != 0) return 2;
  const char *model = K.model && *K.model ? K.model : NULL, *tax = NULL, *lang = NULL, *v;
  double threshold = K.threshold;
  for (int i = 0; i < argc; i++) {
    if ((v = flag(argc, argv, &i, "model"))) model = v;
    else if ((v = flag(argc, argv, &i, "taxonomy"))) tax = v;
    else if ((v = flag(argc, argv, &i, "lang"))) lang = v;
    else if ((v = flag(argc, argv, &i, "confidence-threshold"))) {
      if (threshold_flag("escucha-classify predict", v, &threshold) != 0) return 2;
    } else {
      fprintf(
          stderr,
          "Usage: escucha-classify predict --model M [--taxonomy T] [--lang es|en] [--confidence-threshold X] < lines\n"
          "Each input line is plain text; output is one JSON object per line.\n");
      return 2;
    }
  }
  char err[512];
  cl_classifier *c = cl_load_classifier(model, tax, threshold, 1, err, sizeof err);
  if (!c) {
    fprintf(stderr, "escucha-classify predict: %s\n", err);
    return 1;
  }
  const char *version = cl_classifier_model(c)->version;
  char *line = NULL, out_buf[8192];
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &cap, in)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    cl_result r;
    if (cl_classify(c, line, (size_t)n, lang, &r)) {
      rc = 1;
      break;
    }
    int len = cl_result_json(&r, version, NULL, out_buf, sizeof out_buf);
    if (len < 0) continue;
    out_buf[len] = '\n';
    fwrite(out_buf, 1, (size_t)len + 1, out);
  }
  free(line);
  cl_classifier_free(c);
  return rc;
}
