/* escucha-classify retrain / rollback: see retrain.h and docs/classification.md
 * ("Learning from reviewers"). */
#include "retrain.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hashfeat.h"
#include "log.h"
#include "model.h"
#include "pg.h"
#include "train.h"
#include "util.h"

/* ---- scoring ---- */

typedef struct {
  const char **name; /* borrowed label strings */
  uint32_t *tp, *fp, *fn;
  size_t n, cap;
} f1_table;

static int f1_class(f1_table *t, const char *label) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->name[i], label) == 0) return (int)i;
  if (t->n == t->cap) {
    size_t c = t->cap ? t->cap * 2 : 16;
    const char **nm = realloc(t->name, c * sizeof *nm);
    if (!nm) return -1;
    t->name = nm;
    uint32_t *a = realloc(t->tp, c * sizeof *a);
    if (!a) return -1;
    t->tp = a;
    a = realloc(t->fp, c * sizeof *a);
    if (!a) return -1;
    t->fp = a;
    a = realloc(t->fn, c * sizeof *a);
    if (!a) return -1;
    t->fn = a;
    t->cap = c;
  }
  t->name[t->n] = label;
  t->tp[t->n] = t->fp[t->n] = t->fn[t->n] = 0;
  return (int)t->n++;
}

static int f1_add(f1_table *t, const char *gold, const char *pred) {
  int g = f1_class(t, gold), p = f1_class(t, pred);
  if (g < 0 || p < 0) return -1;
  if (g == p) t->tp[g]++;
  else t->fn[g]++, t->fp[p]++;
  return 0;
}

/* Mean F1 over the classes seen in gold or predictions (as `eval` computes it). */
static double f1_macro(const f1_table *t) {
  double sum = 0;
  for (size_t k = 0; k < t->n; k++) {
    double tp = t->tp[k], p = tp + t->fp[k] > 0 ? tp / (tp + t->fp[k]) : 0,
           r = tp + t->fn[k] > 0 ? tp / (tp + t->fn[k]) : 0;
    sum += p + r > 0 ? 2 * p * r / (p + r) : 0;
  }
  return t->n ? sum / (double)t->n : 0;
}

static void f1_free(f1_table *t) {
  free(t->name);
  free(t->tp);
  free(t->fp);
  free(t->fn);
}

int cl_score(cl_classifier *c, const cl_dataset *ds, cl_scores *s) {
  f1_table t[CL_NHEADS];
  memset(t, 0, sizeof t);
  memset(s, 0, sizeof *s);
  int rc = -1;
  for (size_t i = 0; i < ds->n; i++) {
    const cl_example *e = &ds->ex[i];
    cl_result r;
    if (cl_classify(c, e->text, strlen(e->text), e->lang, &r)) goto cleanup;
    const char *pred[CL_NHEADS] = {r.subcategory, r.sentiment >= 0 && r.sentiment < 3 ? CL_SENTIMENTS[r.sentiment] : "",
                                   r.journey >= 0 && r.journey < ES_NJOURNEYS ? ES_JOURNEYS[r.journey] : ""};
    int si = cl_sentiment_index(e->label[CL_HEAD_SENT]), ji = es_journey_index(e->label[CL_HEAD_JOURNEY]);
    const char *gold[CL_NHEADS] = {e->label[CL_HEAD_SUB], si >= 0 ? CL_SENTIMENTS[si] : NULL,
                                   ji >= 0 ? ES_JOURNEYS[ji] : NULL};
    for (int h = 0; h < CL_NHEADS; h++) {
      if (!gold[h]) continue;
      if (f1_add(&t[h], gold[h], pred[h] ? pred[h] : "")) goto cleanup;
      s->n[h]++;
    }
  }
  for (int h = 0; h < CL_NHEADS; h++) s->f1[h] = f1_macro(&t[h]);
  rc = 0;
cleanup:
  for (int h = 0; h < CL_NHEADS; h++) f1_free(&t[h]);
  return rc;
}

static const char *const HEADS[CL_NHEADS] = {"subcategory", "sentiment", "journey_stage"};

int cl_gate(const cl_scores *cand, const cl_scores *active, double max_drop, const char *set, char *why,
            size_t whylen) {
  for (int h = 0; h < CL_NHEADS; h++) {
    if (!cand->n[h] || !active->n[h]) continue;
    if (cand->f1[h] < active->f1[h] - max_drop - 1e-9) {
      snprintf(why, whylen, "%s: %s macro-F1 %.4f < active %.4f - %.4f", set, HEADS[h], cand->f1[h], active->f1[h],
               max_drop);
      return 1;
    }
  }
  return 0;
}

/* ---- corrections split ---- */

typedef struct {
  uint64_t key;
  size_t agency; /* index into agencies */
  const char *line;
  size_t len;
} corr_line;

static int cmp_line(const void *a, const void *b) {
  const corr_line *x = a, *y = b;
  if (x->agency != y->agency) return x->agency < y->agency ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}

static int append(char **buf, size_t *len, const char *s, size_t n) {
  char *b = realloc(*buf, *len + n + 2);
  if (!b) return -1;
  memcpy(b + *len, s, n);
  b[*len + n] = '\n';
  b[*len + n + 1] = '\0';
  *buf = b;
  *len += n + 1;
  return 0;
}

int cl_split_corrections(const char *buf, size_t len, double share, cl_corrections_split *out) {
  memset(out, 0, sizeof *out);
  corr_line *lines = NULL;
  size_t n = 0, cap = 0, i = 0;
  int rc = -1;
  while (i < len) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    json_error_t je;
    json_t *o = j > i ? json_loadb(buf + i, j - i, 0, &je) : NULL;
    json_t *text = json_object_get(o, "text"), *ag = json_object_get(o, "agency"), *id = json_object_get(o, "id");
    if (json_is_object(o) && json_is_string(text) && json_string_length(text) > 0) {
      const char *agency = json_is_string(ag) ? json_string_value(ag) : "";
      size_t a = 0;
      while (a < out->nagencies && strcmp(out->agencies[a].agency, agency) != 0) a++;
      if (a == out->nagencies) {
        cl_agency_slice *na = realloc(out->agencies, (a + 1) * sizeof *na);
        if (!na) goto oom;
        out->agencies = na;
        memset(&na[a], 0, sizeof na[a]);
        if (!(na[a].agency = strdup(agency))) goto oom;
        out->nagencies++;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        corr_line *nl = realloc(lines, cap * sizeof *nl);
        if (!nl) goto oom;
        lines = nl;
      }
      char idbuf[64] = "";
      if (json_is_string(id)) snprintf(idbuf, sizeof idbuf, "%s", json_string_value(id));
      else if (json_is_integer(id)) snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(id));
      lines[n++] =
          (corr_line){cl_hash(idbuf, strlen(idbuf), cl_hash(json_string_value(text), json_string_length(text), 7)), a,
                      buf + i, j - i};
    }
    json_decref(o);
    i = j + 1;
  }
  qsort(lines, n, sizeof *lines, cmp_line);
  for (size_t s = 0; s < n;) {
    size_t e = s;
    while (e < n && lines[e].agency == lines[s].agency) e++;
    size_t cnt = e - s, nval = (size_t)(share * (double)cnt);
    if (nval == 0 && cnt >= 2 && share > 0) nval = 1;
    cl_agency_slice *ag = &out->agencies[lines[s].agency];
    for (size_t k = s; k < e; k++) {
      if (k - s < nval) {
        if (append(&ag->val, &ag->nval_len, lines[k].line, lines[k].len)) goto oom;
        ag->nval++;
      } else {
        if (append(&out->train, &out->train_len, lines[k].line, lines[k].len)) goto oom;
        out->ntrain++;
      }
    }
    s = e;
  }
  rc = 0;
  goto cleanup;
oom:
  cl_corrections_split_free(out);
cleanup:
  free(lines);
  return rc;
}

void cl_corrections_split_free(cl_corrections_split *s) {
  if (!s) return;
  free(s->train);
  for (size_t a = 0; a < s->nagencies; a++) free(s->agencies[a].agency), free(s->agencies[a].val);
  free(s->agencies);
  memset(s, 0, sizeof *s);
}

/* ---- the subcommands ---- */

static struct {
  es_common_cfg common;
  const char *model, *taxonomy, *train_data, *test_data, *corrections_file, *models_dir, *migrations_dir;
  double share, max_drop;
  long every, seed;
} R;

static es_opt RETRAIN_OPTS[] = {
    ES_COMMON_OPTS(R.common),
    ES_STR("model", NULL, "Active model file the workers load and watch (default: <state-dir>/model.bin)", &R.model),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy JSON file", &R.taxonomy),
    ES_STR("train-data", "build/data/train.csv", "Bundled training data (scripts/prepare-data.py)", &R.train_data),
    ES_STR("test-data", "build/data/test.csv", "Bundled test data (scripts/prepare-data.py)", &R.test_data),
    ES_STR("corrections-file", NULL, "Reviewers' corrections (default: <state-dir>/corrections.jsonl)",
           &R.corrections_file),
    ES_STR("models-dir", NULL, "Where model versions are kept (default: <state-dir>/models)", &R.models_dir),
    ES_STR("migrations-dir", "migrations", "SQL migrations applied before use", &R.migrations_dir),
    ES_DOUBLE("validation-share", "0.2", 0, 0.9, "Share of each agency's corrections kept out as its validation slice",
              &R.share),
    ES_DOUBLE("max-drop", "0.01", 0, 1, "Refuse a candidate when a head's macro-F1 drops by more than this",
              &R.max_drop),
    ES_LONG("retrain-every", "0", 0, 31536000, "Retrain every N seconds when the corrections changed (0: once)",
            &R.every),
    ES_LONG("retrain-seed", "42", 0, LONG_MAX, "Training seed", &R.seed),
    ES_OPT_END};

static void path_or(const char *v, const char *leaf, char *out, size_t n) {
  if (v && *v) snprintf(out, n, "%s", v);
  else snprintf(out, n, "%s/%s", R.common.state_dir, leaf);
}

static PGconn *connect_db(void) {
  char err[512];
  PGconn *c = es_pg_connect(R.common.pg_dsn, err, sizeof err);
  if (!c) {
    es_error("pg_connect", "%s", err);
    return NULL;
  }
  if (es_pg_migrate(c, R.migrations_dir) != 0) {
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* One-row query with text parameters; the result or NULL (logged). */
static PGresult *q(PGconn *c, const char *sql, int n, const char *const *params) {
  char why[512];
  PGresult *r = es_pg_query(c, sql, n, params, why, sizeof why);
  if (!r) es_error("pg_query", "%s", why);
  return r;
}

static cl_classifier *open_bytes(const void *bytes, size_t len, char *err, size_t errlen) {
  es_taxonomy *tax = NULL;
  if (es_taxonomy_load(R.taxonomy, &tax, err, errlen)) return NULL;
  void *copy = malloc(len);
  if (!copy) {
    es_taxonomy_free(tax);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  memcpy(copy, bytes, len);
  cl_model *m = cl_model_from_buffer(copy, len, err, errlen);
  if (!m) {
    es_taxonomy_free(tax);
    return NULL;
  }
  /* threshold 0: every item gets the model's best guess, so both models are scored alike */
  return cl_classifier_new(m, tax, 0.0f, err, errlen);
}

static json_t *scores_json(const cl_scores *s) {
  json_t *o = json_object();
  for (int h = 0; h < CL_NHEADS; h++)
    if (s->n[h]) json_object_set_new(o, HEADS[h], json_real((double)(long)(s->f1[h] * 10000 + 0.5) / 10000));
  return o;
}

/* Copies a model version's file to the workers' model path (tmp + rename:
 * a worker never reads half a file; the watch sees the new inode). */
static int publish(const char *src, const char *dst) {
  size_t len = 0;
  char *b = es_read_file(src, &len), err[512];
  if (!b) {
    es_error("model_read", "%s: %s", src, strerror(errno));
    return -1;
  }
  int rc = cl_write_file(dst, b, len, err, sizeof err);
  if (rc) es_error("model_publish", "%s", err);
  free(b);
  return rc;
}

typedef struct {
  char version[32], path[1024];
  long long id;
} active_row;

/* The active row (0), none (1), error (-1). */
static int get_active(PGconn *c, active_row *a) {
  PGresult *r = q(c, "SELECT id, version, coalesce(path, '') FROM models WHERE active", 0, NULL);
  if (!r) return -1;
  int rc = PQntuples(r) ? 0 : 1;
  if (!rc) {
    a->id = atoll(PQgetvalue(r, 0, 0));
    snprintf(a->version, sizeof a->version, "%s", PQgetvalue(r, 0, 1));
    snprintf(a->path, sizeof a->path, "%s", PQgetvalue(r, 0, 2));
  }
  PQclear(r);
  return rc;
}

static int version_path(const char *dir, const char *version, char *out, size_t n) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    es_error("models_dir", "%s: %s", dir, strerror(errno));
    return -1;
  }
  snprintf(out, n, "%s/%s.bin", dir, version);
  return 0;
}

/* A model file that predates the table becomes its first (active) row, so
 * that rollback can return to it. */
static int register_existing(PGconn *c, const char *model_path, const char *dir, active_row *a) {
  char err[512];
  cl_model *m = cl_model_open(model_path, err, sizeof err);
  if (!m) {
    es_warn("active_model_unreadable", "%s", err);
    return 1;
  }
  char path[1024];
  int rc = -1;
  if (version_path(dir, m->version, path, sizeof path) || publish(model_path, path)) goto cleanup;
  const char *p[2] = {m->version, path};
  PGresult *r = q(c,
                  "INSERT INTO models (version, status, active, activated_at, training_rows, path) "
                  "VALUES ($1, 'active', true, now(), '{\"registered\": true}', $2) RETURNING id",
                  2, p);
  if (!r) goto cleanup;
  a->id = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  snprintf(a->version, sizeof a->version, "%s", m->version);
  snprintf(a->path, sizeof a->path, "%s", path);
  rc = 0;
cleanup:
  cl_model_free(m);
  return rc;
}

static json_t *rows_json(const cl_model *m, size_t ncorr) {
  json_t *o = json_object();
  for (int h = 0; h < CL_NHEADS; h++) {
    json_t *l = json_object();
    for (int k = 0; k < CL_NLANG; k++)
      if (m->h->lang_count[h][k]) json_object_set_new(l, cl_lang_name(k), json_integer(m->h->lang_count[h][k]));
    json_object_set_new(o, HEADS[h], l);
  }
  json_object_set_new(o, "corrections", json_integer((json_int_t)ncorr));
  json_object_set_new(o, "total", json_integer(m->h->ntrain));
  return o;
}

/* One retrain: 0 accepted, 3 refused, 1 error. */
static int retrain_once(PGconn *c) {
  char model_path[1024], corr_path[1024], dir[1024], err[1536] = "", why[512] = "";
  path_or(R.model, "model.bin", model_path, sizeof model_path);
  path_or(R.corrections_file, "corrections.jsonl", corr_path, sizeof corr_path);
  path_or(R.models_dir, "models", dir, sizeof dir);
  cl_corrections_split sp = {0};
  cl_dataset train = {0}, test = {0}, *val = NULL;
  es_taxonomy *tax = NULL;
  void *bytes = NULL;
  size_t blen = 0, clen = 0;
  char *corr = NULL;
  cl_classifier *cand = NULL, *act = NULL;
  json_t *metrics = json_object(), *rows = NULL;
  active_row a = {0};
  int rc = 1, have_active;

  if (access(corr_path, R_OK) == 0 && !(corr = es_read_file(corr_path, &clen))) {
    snprintf(err, sizeof err, "%.1000s: cannot read", corr_path);
    goto fail;
  }
  if (cl_split_corrections(corr ? corr : "", clen, R.share, &sp)) goto oom;
  val = calloc(sp.nagencies + 1, sizeof *val);
  if (!val) goto oom;
  test.keep_duplicates = 1;
  if (es_taxonomy_load(R.taxonomy, &tax, err, sizeof err) || cl_dataset_load(&train, R.train_data, err, sizeof err) ||
      (sp.train_len && cl_dataset_parse(&train, "corrections.jsonl", sp.train, sp.train_len, err, sizeof err)) ||
      cl_dataset_load(&test, R.test_data, err, sizeof err))
    goto fail;
  for (size_t k = 0; k < sp.nagencies; k++) {
    val[k].keep_duplicates = 1;
    if (sp.agencies[k].nval_len &&
        cl_dataset_parse(&val[k], "validation.jsonl", sp.agencies[k].val, sp.agencies[k].nval_len, err, sizeof err))
      goto fail;
  }
  cl_train_opts o;
  cl_train_defaults(&o);
  o.seed = (uint64_t)R.seed;
  if (cl_train(&train, tax, &o, &bytes, &blen, err, sizeof err)) goto fail;
  if (!(cand = open_bytes(bytes, blen, err, sizeof err))) goto fail;
  const cl_model *m = cl_classifier_model(cand);
  rows = rows_json(m, sp.ntrain);

  have_active = get_active(c, &a);
  if (have_active < 0) goto fail;
  if (have_active == 1 && access(model_path, F_OK) == 0) {
    int reg = register_existing(c, model_path, dir, &a);
    if (reg < 0) goto fail;
    have_active = reg;
  }
  if (have_active == 0) {
    size_t alen = 0;
    char *ab = es_read_file(a.path, &alen);
    if (!ab) {
      snprintf(err, sizeof err, "active model %s: cannot read %.1000s", a.version, a.path);
      goto fail;
    }
    act = open_bytes(ab, alen, err, sizeof err);
    free(ab);
    if (!act) goto fail;
  }
  /* every evaluation set: the bundled test data, then each agency's slice */
  int refused = 0;
  for (size_t k = 0; k <= sp.nagencies; k++) {
    const cl_dataset *ds = k == 0 ? &test : &val[k - 1];
    char set[160];
    if (k == 0) snprintf(set, sizeof set, "test");
    else snprintf(set, sizeof set, "validation:%s", sp.agencies[k - 1].agency[0] ? sp.agencies[k - 1].agency : "-");
    if (ds->n == 0) continue;
    cl_scores sc, sa;
    if (cl_score(cand, ds, &sc)) goto oom;
    json_t *e = json_object();
    json_object_set_new(e, "candidate", scores_json(&sc));
    json_object_set_new(e, "rows", json_integer((json_int_t)ds->n));
    if (act) {
      if (cl_score(act, ds, &sa)) {
        json_decref(e);
        goto oom;
      }
      json_object_set_new(e, "active", scores_json(&sa));
      if (!refused && cl_gate(&sc, &sa, R.max_drop, set, why, sizeof why)) refused = 1;
    }
    json_object_set_new(metrics, set, e);
  }
  if (act) json_object_set_new(metrics, "compared_with", json_string(a.version));

  size_t jf = JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6);
  char *mj = json_dumps(metrics, jf), *rj = json_dumps(rows, jf);
  char path[1024] = "";
  if (!mj || !rj) {
    free(mj);
    free(rj);
    goto oom;
  }
  if (refused) {
    const char *p[4] = {m->version, rj, mj, why};
    PGresult *r = q(c,
                    "INSERT INTO models (version, status, active, training_rows, metrics, reason) "
                    "VALUES ($1, 'refused', false, $2::jsonb, $3::jsonb, $4)",
                    4, p);
    int recorded = r != NULL;
    PQclear(r);
    printf("{\"result\":\"refused\",\"version\":\"%s\",\"reason\":", m->version);
    json_t *w = json_string(why);
    json_dumpf(w, stdout, JSON_ENCODE_ANY);
    json_decref(w);
    printf(",\"metrics\":%s}\n", mj);
    es_warn("model_refused", "candidate %s refused: %s", m->version, why);
    rc = recorded ? 3 : 1;
  } else if (version_path(dir, m->version, path, sizeof path) == 0 &&
             cl_write_file(path, bytes, blen, err, sizeof err) == 0) {
    const char *p[4] = {m->version, rj, mj, path};
    int ok = es_pg_exec(c, "BEGIN") == 0;
    PGresult *r = ok ? q(c, "UPDATE models SET active = false, status = 'retired' WHERE active", 0, NULL) : NULL;
    PQclear(r);
    ok = ok && r;
    r = ok ? q(c,
               "INSERT INTO models (version, status, active, activated_at, training_rows, metrics, path) "
               "VALUES ($1, 'active', true, now(), $2::jsonb, $3::jsonb, $4)",
               4, p)
           : NULL;
    PQclear(r);
    ok = ok && r && es_pg_exec(c, "COMMIT") == 0;
    if (!ok) es_pg_exec(c, "ROLLBACK");
    /* the table says what is active; the file follows it (a failed copy is retried by rollback/retrain) */
    if (ok && publish(path, model_path) == 0) {
      printf("{\"result\":\"accepted\",\"version\":\"%s\",\"metrics\":%s}\n", m->version, mj);
      es_info("model_accepted", "model %s active (%zu corrections)", m->version, sp.ntrain);
      rc = 0;
    }
  } else if (!err[0]) {
    snprintf(err, sizeof err, "%.1000s: cannot write the model version", dir);
  }
  free(mj);
  free(rj);
  if (rc == 1 && err[0]) es_error("retrain_failed", "%s", err);
  goto cleanup;
oom:
  snprintf(err, sizeof err, "out of memory");
fail:
  es_error("retrain_failed", "%s", err);
  fprintf(stderr, "escucha-classify retrain: %s\n", err);
cleanup:
  fflush(stdout);
  json_decref(metrics);
  json_decref(rows);
  cl_classifier_free(cand);
  cl_classifier_free(act);
  free(bytes);
  free(corr);
  for (size_t k = 0; val && k < sp.nagencies; k++) cl_dataset_free(&val[k]);
  free(val);
  cl_dataset_free(&train);
  cl_dataset_free(&test);
  es_taxonomy_free(tax);
  cl_corrections_split_free(&sp);
  return rc;
}

/* argv[0] is the program, argv[1] the subcommand. */
static int parse(int argc, char **argv, const char *prog) {
  int pr = es_config_parse(RETRAIN_OPTS, prog, "[options]", argc, argv, 2, NULL, NULL);
  if (pr != 0) return pr > 0 ? 0 : 2;
  es_log_init("classify", ES_LOG_LEVELS[R.common.log_level]);
  return -1;
}

int cl_cmd_retrain(int argc, char **argv) {
  int pr = parse(argc, argv, "escucha-classify retrain");
  if (pr >= 0) {
    es_config_free(RETRAIN_OPTS);
    return pr;
  }
  es_install_signals();
  PGconn *c = connect_db();
  int rc = 1;
  if (!c) goto done;
  if (!R.every) {
    rc = retrain_once(c);
    goto done;
  }
  /* schedule: a retrain whenever the corrections file changed since the last one */
  char corr_path[1024];
  path_or(R.corrections_file, "corrections.jsonl", corr_path, sizeof corr_path);
  struct stat last = {0};
  rc = 0;
  while (!es_stopping) {
    struct stat st;
    if (stat(corr_path, &st) == 0 && (st.st_size != last.st_size || st.st_mtim.tv_sec != last.st_mtim.tv_sec ||
                                      st.st_mtim.tv_nsec != last.st_mtim.tv_nsec || st.st_ino != last.st_ino)) {
      last = st;
      if (!es_pg_ensure(c)) es_warn("pg_unavailable", "retrain postponed");
      else (void)retrain_once(c); /* refused or failed: logged and in the table; the next change retries */
    }
    for (long s = 0; s < R.every && !es_stopping; s++) sleep(1);
  }
done:
  if (c) PQfinish(c);
  es_config_free(RETRAIN_OPTS);
  return rc;
}

int cl_cmd_rollback(int argc, char **argv) {
  int pr = parse(argc, argv, "escucha-classify rollback");
  if (pr >= 0) {
    es_config_free(RETRAIN_OPTS);
    return pr;
  }
  char model_path[1024];
  path_or(R.model, "model.bin", model_path, sizeof model_path);
  PGconn *c = connect_db();
  int rc = 1;
  active_row a = {0};
  PGresult *prev = NULL;
  if (!c || get_active(c, &a) != 0) {
    fprintf(stderr, "escucha-classify rollback: no active model recorded\n");
    goto done;
  }
  char idbuf[32];
  snprintf(idbuf, sizeof idbuf, "%lld", a.id);
  const char *p[1] = {idbuf};
  prev = q(c,
           "SELECT id, version, path FROM models WHERE status = 'retired' AND id < $1 AND path IS NOT NULL "
           "ORDER BY activated_at DESC NULLS LAST, id DESC LIMIT 1",
           1, p);
  if (!prev || PQntuples(prev) == 0) {
    fprintf(stderr, "escucha-classify rollback: no previous model to return to\n");
    goto done;
  }
  const char *cur[1] = {idbuf}, *back[1] = {PQgetvalue(prev, 0, 0)};
  int ok = es_pg_exec(c, "BEGIN") == 0;
  PGresult *r = ok ? q(c, "UPDATE models SET active = false, status = 'rolled_back' WHERE id = $1", 1, cur) : NULL;
  PQclear(r);
  ok = ok && r;
  r = ok ? q(c, "UPDATE models SET active = true, status = 'active', activated_at = now() WHERE id = $1", 1, back)
         : NULL;
  PQclear(r);
  ok = ok && r && es_pg_exec(c, "COMMIT") == 0;
  if (!ok) {
    es_pg_exec(c, "ROLLBACK");
    goto done;
  }
  if (publish(PQgetvalue(prev, 0, 2), model_path) != 0) goto done;
  printf("{\"result\":\"rolled_back\",\"from\":\"%s\",\"version\":\"%s\"}\n", a.version, PQgetvalue(prev, 0, 1));
  es_info("model_rolled_back", "model %s active again (was %s)", PQgetvalue(prev, 0, 1), a.version);
  rc = 0;
done:
  PQclear(prev);
  if (c) PQfinish(c);
  es_config_free(RETRAIN_OPTS);
  return rc;
}
