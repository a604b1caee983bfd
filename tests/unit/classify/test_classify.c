/* Unit tests for the classifier: text pipeline, hashing, CSV/corrections,
 * taxonomy validation, training, model file integrity, thresholds, cold
 * start and urgency. No timing assertions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "classifier.h"
#include "cli.h"
#include "dataset.h"
#include "hashfeat.h"
#include "model.h"
#include "retrain.h"
#include "review.h"
#include "taxonomy.h"
#include "text.h"
#include "train.h"

static const char *TAX =
    "{\"categories\":["
    "{\"id\":\"waiting_times\",\"labels\":{\"es\":\"Espera\",\"en\":\"Waiting\"},\"subcategories\":["
    " {\"id\":\"waiting_times/queue\",\"labels\":{\"es\":\"Fila\",\"en\":\"Queue\"},"
    "  \"keywords\":{\"es\":[\"fila\",\"espera\"],\"en\":[\"queue\",\"wait\"]},\"journey_stage\":\"ONGOING_USE\","
    "  \"actions\":[\"Open desks\"]}]},"
    "{\"id\":\"staff\",\"labels\":{\"es\":\"Personal\",\"en\":\"Staff\"},\"subcategories\":["
    " {\"id\":\"staff/courtesy\",\"labels\":{\"es\":\"Trato\",\"en\":\"Courtesy\"},"
    "  \"keywords\":{\"es\":[\"amable\",\"grosero\"],\"en\":[\"kind\",\"rude\"]},\"actions\":[\"Train\"]},"
    " {\"id\":\"staff/violence\",\"labels\":{\"es\":\"Violencia\",\"en\":\"Violence\"},\"urgent\":true,"
    "  \"keywords\":{\"es\":[\"golpe\"],\"en\":[\"hit\"]},\"actions\":[\"Protect\"]}]}]}";

static es_taxonomy *tax(void) {
  char err[256];
  es_taxonomy *t = NULL;
  assert_int_equal(es_taxonomy_parse(TAX, strlen(TAX), &t, err, sizeof err), 0);
  return t;
}

static const char *words_of(cl_text *t, size_t i, char *buf) {
  memcpy(buf, t->words[i].s, t->words[i].len);
  buf[t->words[i].len] = '\0';
  return buf;
}

static const char *stem_of(cl_text *t, size_t i, char *buf) {
  memcpy(buf, t->stems[i].s, t->stems[i].len);
  buf[t->stems[i].len] = '\0';
  return buf;
}

static void test_fold_tokenize(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  char b[64];
  const char *s = "¡Atención MÉDICA, pésima! Ｃｉｔａ";
  assert_int_equal(cl_text_analyze(t, s, strlen(s), "es"), 0);
  assert_int_equal(t->nwords, 4);
  assert_string_equal(words_of(t, 0, b), "atencion");
  assert_string_equal(words_of(t, 1, b), "medica");
  assert_string_equal(words_of(t, 2, b), "pesima");
  assert_string_equal(words_of(t, 3, b), "cita"); /* NFKC folds full-width letters */
  const char *bad = "ok\xff\xfe done";            /* invalid UTF-8 must not lose the text */
  assert_int_equal(cl_text_analyze(t, bad, strlen(bad), "en"), 0);
  assert_int_equal(t->nwords, 2);
  cl_text_free(t);
}

static void test_stemming(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  char a[64], b[64];
  assert_int_equal(cl_text_analyze(t, "citas cita", 10, "es"), 0);
  assert_string_equal(stem_of(t, 0, a), stem_of(t, 1, b));
  assert_int_equal(cl_text_analyze(t, "waiting waited", 14, "en"), 0);
  assert_string_equal(stem_of(t, 0, a), "wait");
  assert_string_equal(stem_of(t, 1, b), "wait");
  const char *es = "la atención fue muy lenta y no me ayudaron";
  assert_int_equal(cl_text_analyze(t, es, strlen(es), NULL), 0);
  assert_int_equal(t->lang, CL_LANG_ES);
  const char *en = "the staff were very kind and it was quick";
  assert_int_equal(cl_text_analyze(t, en, strlen(en), "und"), 0);
  assert_int_equal(t->lang, CL_LANG_EN);
  cl_text_free(t);
}

static void test_hash_determinism(void **state) {
  (void)state;
  cl_feat_cfg fc = {1u << 16, 2, 3, 5};
  cl_text *t = cl_text_new();
  cl_fvec a = {0}, b = {0};
  const char *s = "Waited two hours in the queue";
  assert_int_equal(cl_text_analyze(t, s, strlen(s), "en"), 0);
  assert_int_equal(cl_features(&fc, t, NULL, &a), 0);
  assert_int_equal(cl_text_analyze(t, s, strlen(s), "en"), 0);
  assert_int_equal(cl_features(&fc, t, NULL, &b), 0);
  assert_true(a.n > 10);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.idx, b.idx, a.n * sizeof *a.idx);
  for (size_t i = 0; i < a.n; i++) assert_true(a.idx[i] < fc.nbuckets);
  assert_true(cl_hash("abc", 3, 1) == cl_hash("abc", 3, 1));
  assert_true(cl_hash("abc", 3, 1) != cl_hash("abc", 3, 2));
  cl_fvec_free(&a);
  cl_fvec_free(&b);
  cl_text_free(t);
}

static void test_csv_and_corrections(void **state) {
  (void)state;
  char err[256];
  cl_dataset ds = {0};
  const char *a =
      "id,text,subcategory,sentiment\n1,\"Long queue, \"\"again\"\"\nsecond line\",waiting_times/queue,negative\n"
      "2,Kind staff,staff/courtesy,positive\n";
  const char *fix = "text,subcategory\n\"Kind  STAFF\",waiting_times/queue\n";
  assert_int_equal(cl_dataset_parse(&ds, "a.csv", a, strlen(a), err, sizeof err), 0);
  assert_int_equal(ds.n, 2);
  assert_string_equal(ds.ex[0].text, "Long queue, \"again\"\nsecond line");
  assert_int_equal(cl_dataset_parse(&ds, "fix.csv", fix, strlen(fix), err, sizeof err), 0);
  assert_int_equal(ds.n, 2);
  assert_int_equal(ds.overridden, 1);
  assert_string_equal(ds.ex[1].label[CL_HEAD_SUB], "waiting_times/queue");
  assert_string_equal(ds.ex[1].label[CL_HEAD_SENT], "positive"); /* unknown in fix: kept */
  const char *j =
      "{\"id\":\"x\",\"text\":\"kind "
      "staff\",\"category\":\"staff\",\"subcategory\":\"staff/courtesy\",\"sentiment\":\"neutral\"}\n";
  assert_int_equal(cl_dataset_parse(&ds, "c.jsonl", j, strlen(j), err, sizeof err), 0);
  assert_string_equal(ds.ex[1].label[CL_HEAD_SUB], "staff/courtesy");
  assert_string_equal(ds.ex[1].label[CL_HEAD_SENT], "neutral");
  const char *bad = "text,sentiment\nhello,happy\n";
  assert_int_equal(cl_dataset_parse(&ds, "b.csv", bad, strlen(bad), err, sizeof err), -1);
  assert_non_null(strstr(err, "b.csv:2"));
  cl_dataset_free(&ds);
}

static void test_taxonomy_errors(void **state) {
  (void)state;
  char err[256];
  es_taxonomy *t = NULL;
  const char *missing =
      "{\"categories\":[{\"id\":\"a\",\"labels\":{\"es\":\"A\",\"en\":\"A\"},\"subcategories\":["
      "{\"id\":\"a/x\",\"labels\":{\"es\":\"X\",\"en\":\"X\"},\"keywords\":{\"es\":[],\"en\":[]},"
      "\"actions\":[\"x\"]},"
      "{\"id\":\"a/y\",\"labels\":{\"en\":\"Y\"},\"keywords\":{\"es\":[],\"en\":[]}}]}]}";
  assert_int_equal(es_taxonomy_parse(missing, strlen(missing), &t, err, sizeof err), -1);
  assert_string_equal(err, "categories[0].subcategories[1].labels.es: missing");
  const char *badid =
      "{\"categories\":[{\"id\":\"a\",\"labels\":{\"es\":\"A\",\"en\":\"A\"},\"subcategories\":["
      "{\"id\":\"b/x\",\"labels\":{\"es\":\"X\",\"en\":\"X\"},\"keywords\":{\"es\":[],\"en\":[]}}]}]}";
  assert_int_equal(es_taxonomy_parse(badid, strlen(badid), &t, err, sizeof err), -1);
  assert_non_null(strstr(err, "categories[0].subcategories[0].id:"));
  const char *stage =
      "{\"categories\":[{\"id\":\"a\",\"labels\":{\"es\":\"A\",\"en\":\"A\"},\"subcategories\":["
      "{\"id\":\"a/x\",\"labels\":{\"es\":\"X\",\"en\":\"X\"},\"keywords\":{\"es\":[1],\"en\":[]}}]}]}";
  assert_int_equal(es_taxonomy_parse(stage, strlen(stage), &t, err, sizeof err), -1);
  assert_string_equal(err, "categories[0].subcategories[0].keywords.es[0]: must be a non-empty string");
  assert_null(t);
  t = tax();
  assert_int_equal(t->nsubs, 3);
  assert_int_equal(es_taxonomy_find(t, "staff/courtesy"), 1);
  es_taxonomy_free(t);
  /* The shipped default taxonomy must stay valid (tests run from the repo root). */
  if (access("config/taxonomy.default.json", R_OK) == 0) {
    assert_int_equal(es_taxonomy_load("config/taxonomy.default.json", &t, err, sizeof err), 0);
    assert_true(t->ncats >= 10 && t->ncats <= 14);
    es_taxonomy_free(t);
  }
}

/* A tiny separable dataset: each class has its own vocabulary. */
static const char *TINY =
    "text,subcategory,sentiment,language\n"
    "waited hours in the queue,waiting_times/queue,negative,en\n"
    "the queue was endless,waiting_times/queue,negative,en\n"
    "long queue at the counter,waiting_times/queue,negative,en\n"
    "queue never moved,waiting_times/queue,negative,en\n"
    "another queue another wait,waiting_times/queue,negative,en\n"
    "the nurse was kind and lovely,staff/courtesy,positive,en\n"
    "very kind lovely staff,staff/courtesy,positive,en\n"
    "kind helpful receptionist,staff/courtesy,positive,en\n"
    "lovely kind doctor,staff/courtesy,positive,en\n"
    "such kind lovely people,staff/courtesy,positive,en\n"
    "the guard hit me hard,staff/violence,negative,en\n"
    "a man hit my son,staff/violence,negative,en\n"
    "officer hit a patient,staff/violence,negative,en\n"
    "someone hit the cleaner,staff/violence,negative,en\n"
    "he hit her in the hall,staff/violence,negative,en\n";

static void quick_opts(cl_train_opts *o) {
  cl_train_defaults(o);
  o->nbuckets = 1u << 12;
  o->epochs = 40;
  o->holdout = 0;
}

static void *train_buf(const char *csv, const cl_train_opts *o, size_t *len) {
  char err[256];
  cl_dataset ds = {0};
  es_taxonomy *t = tax();
  void *buf = NULL;
  assert_int_equal(cl_dataset_parse(&ds, "tiny.csv", csv, strlen(csv), err, sizeof err), 0);
  assert_int_equal(cl_train(&ds, t, o, &buf, len, err, sizeof err), 0);
  cl_dataset_free(&ds);
  es_taxonomy_free(t);
  return buf;
}

static cl_classifier *classifier_from(void *buf, size_t len, float threshold) {
  char err[256];
  cl_model *m = cl_model_from_buffer(buf, len, err, sizeof err);
  assert_non_null(m);
  cl_classifier *c = cl_classifier_new(m, NULL, threshold, err, sizeof err);
  assert_non_null(c);
  return c;
}

static void test_train_separable(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.0f);
  cl_dataset ds = {0};
  char err[256];
  assert_int_equal(cl_dataset_parse(&ds, "tiny.csv", TINY, strlen(TINY), err, sizeof err), 0);
  for (size_t i = 0; i < ds.n; i++) {
    cl_result r;
    assert_int_equal(cl_classify(c, ds.ex[i].text, strlen(ds.ex[i].text), "en", &r), 0);
    assert_string_equal(r.subcategory, ds.ex[i].label[CL_HEAD_SUB]);
    assert_string_equal(CL_SENTIMENTS[r.sentiment], ds.ex[i].label[CL_HEAD_SENT]);
    assert_int_equal(r.source, CL_SRC_MODEL);
    /* the runner-up (the review queue's margin) is the second probability */
    assert_true(r.runner_up > 0 && r.runner_up <= r.confidence && r.confidence + r.runner_up <= 1.0f + 1e-6f);
    assert_true(r.sentiment_runner_up > 0 && r.sentiment_runner_up <= r.sentiment_conf &&
                r.sentiment_conf + r.sentiment_runner_up <= 1.0f + 1e-6f);
  }
  cl_result r;
  /* a score without a comment: no topic, neutral (the sample has 965 "Did not answer") */
  const char *none[] = {"", "Did not answer.", "N/A", "  nothing ", "Sin comentarios", "Ningún comentario"};
  for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
    assert_int_equal(cl_classify(c, none[i], strlen(none[i]), "en", &r), 0);
    assert_string_equal(r.subcategory, CL_NO_COMMENT_SUBCATEGORY);
    assert_true(r.runner_up == 0 && cl_review_priority(&r, CL_HEAD_SUB) == 0); /* last in the review queue */
    assert_int_equal(r.sentiment, 1);
    assert_int_equal(r.urgent, 0);
  }
  assert_int_equal(cl_classify(c, "nothing works", 13, "en", &r), 0);
  assert_string_not_equal(r.subcategory, CL_NO_COMMENT_SUBCATEGORY);
  assert_int_equal(cl_classify(c, "the queue", 9, "en", &r), 0);
  assert_string_equal(r.category, "waiting_times");
  assert_int_equal(r.journey, es_journey_index("ONGOING_USE")); /* taxonomy hint */
  assert_true(r.nterms >= 1);
  assert_string_equal(r.terms[0], "queue");
  cl_dataset_free(&ds);
  cl_classifier_free(c);
}

static void test_seed_determinism(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  o.holdout = 0.2f;
  size_t la, lb, lc;
  void *a = train_buf(TINY, &o, &la), *b = train_buf(TINY, &o, &lb);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  o.seed = 4242;
  void *c = train_buf(TINY, &o, &lc);
  assert_int_equal(la, lc);
  assert_true(memcmp(a, c, la) != 0);
  free(a);
  free(b);
  free(c);
}

static void test_model_corruption(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  char err[512], path[] = "/tmp/escucha-test-model-XXXXXX";
  unsigned char *buf = train_buf(TINY, &o, &len);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(cl_write_file(path, buf, len, err, sizeof err), 0);
  cl_model *m = cl_model_open(path, err, sizeof err);
  assert_non_null(m);
  cl_model_free(m);
  unsigned char *bad = malloc(len);
  memcpy(bad, buf, len);
  bad[len / 2] ^= 0x40; /* one flipped bit in the weights */
  assert_int_equal(cl_write_file(path, bad, len, err, sizeof err), 0);
  assert_null(cl_model_open(path, err, sizeof err));
  assert_non_null(strstr(err, "checksum"));
  memcpy(bad, buf, len);
  bad[0] = 'X';
  assert_null(cl_model_from_buffer(bad, len, err, sizeof err)); /* takes ownership */
  assert_non_null(strstr(err, "magic"));
  bad = malloc(len);
  memcpy(bad, buf, len);
  ((cl_model_hdr *)bad)->version = 99;
  assert_null(cl_model_from_buffer(bad, len, err, sizeof err));
  assert_non_null(strstr(err, "version 99"));
  bad = malloc(len);
  memcpy(bad, buf, len - 10);
  assert_null(cl_model_from_buffer(bad, len - 10, err, sizeof err));
  assert_non_null(strstr(err, "size"));
  unlink(path);
  /* A taxonomy with different subcategory ids is refused. */
  const char *other =
      "{\"categories\":[{\"id\":\"a\",\"labels\":{\"es\":\"A\",\"en\":\"A\"},\"subcategories\":["
      "{\"id\":\"a/"
      "x\",\"labels\":{\"es\":\"X\",\"en\":\"X\"},\"keywords\":{\"es\":[],\"en\":[]},\"actions\":[\"x\"]}]}]}";
  es_taxonomy *t = NULL;
  assert_int_equal(es_taxonomy_parse(other, strlen(other), &t, err, sizeof err), 0);
  m = cl_model_from_buffer(buf, len, err, sizeof err);
  assert_non_null(m);
  assert_null(cl_classifier_new(m, t, 0.3f, err, sizeof err));
  assert_non_null(strstr(err, "taxonomy"));
}

static void test_threshold_other(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.999f);
  cl_result r;
  const char *s = "something entirely unrelated";
  assert_int_equal(cl_classify(c, s, strlen(s), "en", &r), 0);
  assert_string_equal(r.subcategory, CL_OTHER_SUBCATEGORY);
  assert_string_equal(r.category, CL_OTHER_CATEGORY);
  assert_int_equal(r.sub, -1);
  assert_int_equal(r.journey, -1);
  cl_classifier_free(c);
}

/* The taxonomy's urgent subcategory counts only for a negative item, with a
 * confidence below any phrase's; a danger phrase wins with its reason. */
static void test_urgent(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.0f);
  cl_result r;
  assert_int_equal(cl_classify(c, "the guard hit me hard", 21, "en", &r), 0);
  assert_string_equal(r.subcategory, "staff/violence");
  assert_int_equal(r.sentiment, 0);
  assert_true(r.urgent);
  assert_string_equal(r.urgent_reason, "category");
  assert_true(r.urgent_conf > 0 && r.urgent_conf <= CL_URGENT_CATEGORY_CONF);
  assert_string_equal(r.urgent_phrase, "");
  const char *s = "a man hit my son";
  assert_int_equal(cl_classify(c, s, strlen(s), "en", &r), 0);
  assert_true(r.urgent);
  assert_string_equal(r.urgent_reason, "child_at_risk");
  assert_true(r.urgent_conf > CL_URGENT_CATEGORY_CONF);
  assert_string_equal(r.urgent_phrase, "hit my son");
  s = "Me amenazaron con un cuchillo en la fila";
  assert_int_equal(cl_classify(c, s, strlen(s), "es", &r), 0);
  assert_true(r.urgent);
  assert_string_equal(r.urgent_reason, "threat");
  assert_string_equal(r.urgent_phrase, "amenazaron con un cuchillo");
  s = "such kind lovely people, I felt safe";
  assert_int_equal(cl_classify(c, s, strlen(s), "en", &r), 0);
  assert_false(r.urgent);
  assert_null(r.urgent_reason);
  /* the category rule alone: urgent subcategory and a clear negative */
  const es_taxonomy *T = cl_classifier_taxonomy(c);
  cl_result x = {.sub = r.sub, .sentiment = 0, .sentiment_conf = 0.9f};
  for (size_t i = 0; i < T->nsubs; i++)
    if (strcmp(T->subs[i].id, "staff/violence") == 0) x.sub = (int)i;
  assert_true(cl_category_urgent(T, &x));
  x.sentiment = 2; /* "Felt safe and comfortable" in an urgent subcategory */
  assert_false(cl_category_urgent(T, &x));
  x.sentiment = 0, x.sentiment_conf = CL_URGENT_MIN_NEGATIVE - 0.01f;
  assert_false(cl_category_urgent(T, &x));
  x.sentiment_conf = 0.9f, x.sub = -1;
  assert_false(cl_category_urgent(T, &x));
  cl_classifier_free(c);
}

static void test_cold_start_spanish(void **state) {
  (void)state;
  /* English-only model: Spanish text is served by the Spanish seed terms. */
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.3f);
  cl_result r;
  const char *s = "Estuve tres horas en la fila, una espera horrible";
  assert_int_equal(cl_classify(c, s, strlen(s), "es", &r), 0);
  assert_string_equal(r.subcategory, "waiting_times/queue");
  assert_int_equal(r.source, CL_SRC_MIXED);
  assert_int_equal(r.sentiment, 0); /* polarity lexicon: negative */
  cl_classifier_free(c);
}

static void test_train_spanish(void **state) {
  (void)state;
  /* An agency supplies Spanish data: the model learns it (no keywords). */
  const char *es =
      "text,subcategory,sentiment,language\n"
      "esperé dos horas para la atención,waiting_times/queue,negative,es\n"
      "demasiadas horas de espera,waiting_times/queue,negative,es\n"
      "horas y horas esperando turno,waiting_times/queue,negative,es\n"
      "tres horas sentada esperando,waiting_times/queue,negative,es\n"
      "perdí horas esperando el número,waiting_times/queue,negative,es\n"
      "la funcionaria fue muy cariñosa,staff/courtesy,positive,es\n"
      "funcionarios cariñosos y atentos,staff/courtesy,positive,es\n"
      "una funcionaria muy cariñosa conmigo,staff/courtesy,positive,es\n"
      "trato cariñoso de los funcionarios,staff/courtesy,positive,es\n"
      "funcionario cariñoso y respetuoso,staff/courtesy,positive,es\n"
      "el guardia me empujó,staff/violence,negative,es\n"
      "me empujaron en la entrada,staff/violence,negative,es\n"
      "un guardia empujó a mi madre,staff/violence,negative,es\n"
      "empujones del guardia,staff/violence,negative,es\n"
      "el guardia empujó a un señor,staff/violence,negative,es\n";
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(es, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.0f);
  assert_true(cl_classifier_model(c)->h->lang_count[CL_HEAD_SUB][CL_LANG_ES] == 15);
  cl_result r;
  const char *s1 = "las funcionarias son cariñosas";
  assert_int_equal(cl_classify(c, s1, strlen(s1), "es", &r), 0);
  assert_string_equal(r.subcategory, "staff/courtesy");
  assert_int_equal(r.source, CL_SRC_MODEL);
  assert_int_equal(r.sentiment, 2);
  const char *s2 = "esperamos muchas horas";
  assert_int_equal(cl_classify(c, s2, strlen(s2), "es", &r), 0);
  assert_string_equal(r.subcategory, "waiting_times/queue");
  cl_classifier_free(c);
}

static void test_keyword_only_model(void **state) {
  (void)state;
  /* No labelled data at all: a cold-start model from the taxonomy alone. */
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf("text,subcategory\n", &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.3f);
  cl_result r;
  const char *s = "The receptionist was rude to me";
  assert_int_equal(cl_classify(c, s, strlen(s), "en", &r), 0);
  assert_string_equal(r.subcategory, "staff/courtesy");
  assert_int_equal(r.source, CL_SRC_KEYWORDS);
  assert_int_equal(cl_classify(c, "nothing to see", 14, "en", &r), 0);
  assert_string_equal(r.subcategory, CL_OTHER_SUBCATEGORY);
  cl_classifier_free(c);
}

/* Duplicate features merge into sublinear tf (1 + ln n); each block is
 * L2-normalised; the dedup table survives many documents (generation wrap). */
static void test_feature_merge(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  cl_fvec f = {0};
  cl_feat_cfg cfg = {1u << 16, 1, 0, 0}; /* unigrams only */
  const char *doc = "wait wait wait nurse";
  for (int rep = 0; rep < 3; rep++) {
    assert_int_equal(cl_text_analyze(t, doc, strlen(doc), "en"), 0);
    assert_int_equal(cl_features(&cfg, t, NULL, &f), 0);
    assert_int_equal(f.n, 2);
    /* raw mode (no lookup): tf 1+ln3 and 1, normalised */
    double a = 1 + log(3.0), norm = sqrt(a * a + 1);
    assert_true(fabs(f.val[0] - a / norm) < 1e-5);
    assert_true(fabs(f.val[1] - 1 / norm) < 1e-5);
  }
  f.gen = 0xFFFFFFFEu; /* force the generation counter to wrap */
  for (int rep = 0; rep < 3; rep++) {
    assert_int_equal(cl_features(&cfg, t, NULL, &f), 0);
    assert_int_equal(f.n, 2);
  }
  cl_fvec_free(&f);
  cl_text_free(t);
}

/* The ASCII fast path of cl_text_analyze folds exactly as utf8proc does,
 * for every ASCII byte (NUL included) and for mixed text. */
static void test_ascii_fold_fast_path(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  char in[3 * 128];
  for (int ch = 0; ch < 128; ch++) in[3 * ch] = 'a', in[3 * ch + 1] = (char)ch, in[3 * ch + 2] = 'B';
  for (int ch = 0; ch < 128; ch++) {
    assert_int_equal(cl_text_analyze(t, in + 3 * ch, 3, "en"), 0);
    size_t n;
    char *ref = cl_fold(in + 3 * ch, 3, &n);
    assert_non_null(ref);
    assert_int_equal(t->folded_len, n);
    assert_memory_equal(t->folded, ref, n);
    free(ref);
  }
  assert_int_equal(cl_text_analyze(t, in, sizeof in, "en"), 0);
  size_t n;
  char *ref = cl_fold(in, sizeof in, &n);
  assert_int_equal(t->folded_len, n);
  assert_memory_equal(t->folded, ref, n);
  free(ref);
  /* a non-ASCII text after an ASCII one still goes through utf8proc */
  const char *s = "PÉSIMA atención";
  assert_int_equal(cl_text_analyze(t, s, strlen(s), "es"), 0);
  assert_int_equal(t->nwords, 2);
  assert_memory_equal(t->words[0].s, "pesima", 6);
  cl_text_free(t);
}

/* Memoised stems equal fresh ones, per language (same word, other stem). */
static void test_stem_cache(void **state) {
  (void)state;
  const char *doc = "waiting appointments nurses citas esperando cariñosas organisation";
  cl_text *a = cl_text_new(), *b = cl_text_new();
  char x[64], y[64];
  for (int l = 0; l < 2; l++) {
    const char *lang = l ? "es" : "en";
    assert_int_equal(cl_text_analyze(a, doc, strlen(doc), lang), 0);
    for (int rep = 0; rep < 2; rep++) { /* second pass: from the cache */
      cl_text *fresh = cl_text_new();
      assert_int_equal(cl_text_analyze(fresh, doc, strlen(doc), lang), 0);
      assert_int_equal(cl_text_analyze(b, doc, strlen(doc), lang), 0);
      assert_int_equal(b->nwords, fresh->nwords);
      for (size_t i = 0; i < b->nwords; i++) assert_string_equal(stem_of(b, i, x), stem_of(fresh, i, y));
      cl_text_free(fresh);
    }
  }
  assert_int_equal(cl_text_analyze(b, "citas", 5, "es"), 0);
  assert_string_equal(stem_of(b, 0, x), "cit");
  assert_int_equal(cl_text_analyze(b, "citas", 5, "en"), 0);
  assert_string_equal(stem_of(b, 0, x), "cita");
  cl_text_free(a);
  cl_text_free(b);
}

/* The compact row lookup (bitmap + rank) agrees with the stored row map for
 * every bucket. */
static void test_row_index(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  char err[256];
  cl_model *m = cl_model_from_buffer(buf, len, err, sizeof err);
  assert_non_null(m);
  assert_non_null(m->lk.bits);
  const uint32_t *rowmap = (const uint32_t *)((const char *)m->base + m->h->off_rowmap);
  size_t rows = 0;
  for (uint32_t b = 0; b < m->h->nbuckets; b++) {
    assert_int_equal(cl_row(&m->lk, b), rowmap[b]);
    rows += rowmap[b] != CL_NO_ROW;
  }
  assert_int_equal(rows, m->h->nrows);
  cl_model_free(m);
}

/* JSON numbers are written without printf but read as printf's "%.4f". */
static void test_json_numbers(void **state) {
  (void)state;
  static const float fixed[] = {0.0f,     -0.0f, 1.0f,  -1.0f,     0.03125f,   0.00005f, -0.00005f, 0.99995f,
                                0.12345f, 0.5f,  0.35f, -0.65915f, 123.45678f, 1e-7f,    -1e-7f};
  uint64_t seed = 12345;
  for (int i = 0; i < 20000; i++) {
    float v;
    if (i < (int)(sizeof fixed / sizeof *fixed)) {
      v = fixed[i];
    } else if (i % 2) { /* exact ties at the 5th decimal and their neighbours */
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      v = (float)((double)(seed >> 40 & 0xFFFF) / 32768.0 - 1.0);
    } else {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      v = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    cl_result r;
    memset(&r, 0, sizeof r);
    r.category = "c";
    r.subcategory = "c/s";
    r.confidence = v;
    r.sentiment_score = -v;
    r.sentiment_conf = v * 0.5f;
    r.journey = -1;
    char got[1024], want[256];
    assert_true(cl_result_json(&r, "v1-x", NULL, got, sizeof got) > 0);
    snprintf(want, sizeof want,
             "\"confidence\":%.4f,\"sentiment\":\"negative\",\"sentiment_score\":%.4f,"
             "\"sentiment_confidence\":%.4f,",
             (double)v, (double)-v, (double)(v * 0.5f));
    if (!strstr(got, want)) fail_msg("%.9g: got %s want %s", (double)v, got, want);
  }
}

static void test_language_spaces(void **state) {
  (void)state;
  /* Spanish features hash into the upper half of the buckets, English (and
   * unknown) ones into the lower half; without spaces nothing moves. */
  cl_text *t = cl_text_new();
  cl_fvec f = {0};
  cl_feat_cfg on = {1u << 12, 2, 4, 4, 1}, off = {1u << 12, 2, 4, 4, 0};
  const char *es = "la atención fue muy lenta y no me ayudaron", *en = "the staff were very kind";
  assert_int_equal(cl_text_analyze(t, es, strlen(es), "es"), 0);
  assert_int_equal(cl_features(&on, t, NULL, &f), 0);
  assert_true(f.n > 0);
  for (size_t k = 0; k < f.n; k++) assert_true(f.idx[k] >= (1u << 11));
  assert_int_equal(cl_text_analyze(t, en, strlen(en), "en"), 0);
  assert_int_equal(cl_features(&on, t, NULL, &f), 0);
  size_t n_on = f.n;
  uint32_t first = f.idx[0];
  for (size_t k = 0; k < f.n; k++) assert_true(f.idx[k] < (1u << 11));
  assert_int_equal(cl_features(&off, t, NULL, &f), 0);
  assert_int_equal(f.n, n_on);
  assert_int_equal(f.idx[0] & ((1u << 11) - 1), first); /* same hash, one bit less */
  cl_fvec_free(&f);
  cl_text_free(t);
  /* the model file records it */
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  assert_int_equal(((const cl_model_hdr *)buf)->flags, CL_MODEL_F_LANG_SPACE | CL_MODEL_F_SPACE_BIAS);
  cl_classifier *c = classifier_from(buf, len, 0.0f);
  assert_int_equal(cl_classifier_model(c)->fc.lang_space, 1);
  cl_classifier_free(c);
}

static void test_corrections_split(void **state) {
  (void)state;
  const char *in =
      "{\"id\":\"a1\",\"text\":\"uno\",\"sentiment\":\"negative\",\"agency\":\"A\"}\n"
      "{\"id\":\"a2\",\"text\":\"dos\",\"sentiment\":\"negative\",\"agency\":\"A\"}\n"
      "not json\n"
      "{\"id\":\"a3\",\"text\":\"tres\",\"sentiment\":\"positive\",\"agency\":\"A\"}\n"
      "{\"id\":\"a4\",\"text\":\"cuatro\",\"sentiment\":\"positive\",\"agency\":\"A\"}\n"
      "{\"id\":\"a5\",\"text\":\"cinco\",\"sentiment\":\"neutral\",\"agency\":\"A\"}\n"
      "{\"id\":\"b1\",\"text\":\"seis\",\"sentiment\":\"neutral\",\"agency\":\"B\"}\n"
      "{\"id\":\"b2\",\"text\":\"siete\",\"sentiment\":\"neutral\",\"agency\":\"B\"}\n"
      "{\"id\":\"x\",\"text\":\"\",\"agency\":\"B\"}\n"
      "{\"id\":\"c1\",\"text\":\"ocho\",\"sentiment\":\"neutral\"}\n";
  cl_corrections_split s, s2;
  assert_int_equal(cl_split_corrections(in, strlen(in), 0.2, &s), 0);
  assert_int_equal(s.nagencies, 3);
  size_t nval = 0;
  for (size_t a = 0; a < s.nagencies; a++) {
    nval += s.agencies[a].nval;
    /* A: 5 items -> 1; B: 2 items -> at least 1; no agency, 1 item -> none */
    if (strcmp(s.agencies[a].agency, "A") == 0 || strcmp(s.agencies[a].agency, "B") == 0)
      assert_int_equal(s.agencies[a].nval, 1);
    else assert_int_equal(s.agencies[a].nval, 0);
  }
  assert_int_equal(nval + s.ntrain, 8); /* the broken line and the empty text are dropped */
  /* deterministic, and a validation item is never in training */
  assert_int_equal(cl_split_corrections(in, strlen(in), 0.2, &s2), 0);
  assert_string_equal(s.train, s2.train);
  for (size_t a = 0; a < s.nagencies; a++)
    if (s.agencies[a].val) assert_null(strstr(s.train, s.agencies[a].val));
  cl_dataset ds = {0};
  char err[256];
  assert_int_equal(cl_dataset_parse(&ds, "t.jsonl", s.train, s.train_len, err, sizeof err), 0);
  assert_int_equal(ds.n, s.ntrain);
  cl_dataset_free(&ds);
  cl_corrections_split_free(&s);
  cl_corrections_split_free(&s2);
}

static void test_gate_and_review_order(void **state) {
  (void)state;
  cl_scores act = {{0.50, 0.70, 0}, {100, 100, 0}}, ok = {{0.495, 0.75, 0.9}, {100, 100, 10}},
            bad = {{0.50, 0.68, 0}, {100, 100, 0}};
  char why[256] = "";
  assert_int_equal(cl_gate(&ok, &act, 0.01, "test", why, sizeof why), 0); /* -0.5 pt: within 1 */
  assert_int_equal(cl_gate(&bad, &act, 0.01, "validation:A", why, sizeof why), 1);
  assert_non_null(strstr(why, "validation:A: sentiment"));
  /* the review queue: smallest margin (top-1 - top-2 probability) first,
   * ties in input order; item 2 is as confident as item 0 is not, but its
   * runner-up is close, so it goes before item 1 (less confident, clearer) */
  cl_result r[4];
  memset(r, 0, sizeof r);
  float conf[4] = {0.9f, 0.4f, 0.5f, 0.4f}, second[4] = {0.05f, 0.1f, 0.45f, 0.1f};
  double prio[4];
  for (int i = 0; i < 4; i++)
    r[i].confidence = conf[i], r[i].runner_up = second[i], prio[i] = cl_review_priority(&r[i], CL_HEAD_SUB);
  assert_true(fabs(prio[0] - 0.15) < 1e-6);
  assert_true(fabs(prio[2] - 0.95) < 1e-6);
  size_t idx[4];
  assert_int_equal(cl_review_order(prio, NULL, 4, NULL, 0, idx), 0);
  assert_int_equal(idx[0], 2);
  assert_int_equal(idx[1], 1);
  assert_int_equal(idx[2], 3);
  assert_int_equal(idx[3], 0);
  r[0].sentiment_conf = 0.5f, r[0].sentiment_runner_up = 0.3f;
  assert_true(fabs(cl_review_priority(&r[0], CL_HEAD_SENT) - 0.8) < 1e-6);
  r[0].journey_conf = 0.7f; /* no runner-up kept for the journey: 1 - confidence */
  assert_true(fabs(cl_review_priority(&r[0], CL_HEAD_JOURNEY) - 0.3) < 1e-6);
  r[0].sub = 7, r[0].sentiment = 2;
  assert_int_equal(cl_review_class(&r[0], CL_HEAD_SUB), 7);
  assert_int_equal(cl_review_class(&r[0], CL_HEAD_SENT), 2);
}

/* Class balance: an item of a class with few labels goes before a more
 * uncertain one of a class with many; within one class the k-th item counts
 * the k items taken before it as labels. */
static void test_review_order_balance(void **state) {
  (void)state;
  size_t idx[6];
  double p2[2] = {0.9, 0.3};
  int c2[2] = {0, 1};
  unsigned n2[2] = {100, 0};
  assert_int_equal(cl_review_order(p2, c2, 2, n2, 2, idx), 0);
  assert_int_equal(idx[0], 1); /* 0.3 / 1 > 0.9 / 101 */
  assert_int_equal(idx[1], 0);
  assert_int_equal(cl_review_order(p2, c2, 2, NULL, 2, idx), 0); /* no labels yet: by uncertainty */
  assert_int_equal(idx[0], 0);
  /* class 1's second item (0.4 / 2) waits behind class 2's first (0.3 / 1) */
  double p3[3] = {0.4, 0.5, 0.3};
  int c3[3] = {1, 1, 2};
  assert_int_equal(cl_review_order(p3, c3, 3, NULL, 3, idx), 0);
  assert_int_equal(idx[0], 1);
  assert_int_equal(idx[1], 2);
  assert_int_equal(idx[2], 0);
  /* no class (-1, or outside [0, ncls)): one line of its own with no labels;
   * equal keys: the more uncertain first, then input order */
  double p6[6] = {0.2, 0.6, 0.3, 0.6, 0.2, 0.4};
  int c6[6] = {9, 0, 1, 0, 0, -1};
  unsigned n6[2] = {1, 0};
  /* keys: 0.2/2 (second in the no-class line), 0.6/2, 0.3/1, 0.6/3, 0.2/4, 0.4/1 */
  assert_int_equal(cl_review_order(p6, c6, 6, n6, 2, idx), 0);
  size_t want[6] = {5, 1, 2, 3, 0, 4};
  for (int i = 0; i < 6; i++) assert_int_equal(idx[i], want[i]);
  assert_int_equal(cl_review_order(p6, c6, 0, n6, 2, idx), 0); /* empty */
}

/* review-order --labels end to end on a trained model: the labels given so
 * far move the other class's item to the front; an unknown label fails
 * (exit 1, named) instead of counting as nothing. */
static char *run_review_order(const char *model, const char *labels, const char *texts, int want_rc) {
  char *argv[] = {"--model", (char *)model, "--lang", "en", "--labels", (char *)labels};
  FILE *in = fmemopen((void *)texts, strlen(texts), "r");
  char *out = NULL;
  size_t outlen = 0;
  FILE *o = open_memstream(&out, &outlen);
  assert_non_null(in);
  assert_non_null(o);
  assert_int_equal(cl_cmd_review_order(6, argv, in, o), want_rc);
  fclose(in);
  fclose(o);
  return out;
}

static void write_text(const char *path, const char *s) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(s, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void test_review_order_cli(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  o.epochs = 2; /* an unsure model: both items keep some uncertainty */
  size_t len;
  char err[256], model[] = "/tmp/escucha-test-review-XXXXXX", labels[] = "/tmp/escucha-test-labels-XXXXXX";
  void *buf = train_buf(TINY, &o, &len);
  int fd = mkstemp(model), fl = mkstemp(labels);
  assert_true(fd >= 0 && fl >= 0);
  close(fd);
  close(fl);
  assert_int_equal(cl_write_file(model, buf, len, err, sizeof err), 0);
  free(buf);
  const char *texts = "the queue was long\nkind lovely nurse\n";
  write_text(labels,
             "waiting_times/queue\nwaiting_times/queue\nwaiting_times/queue\nwaiting_times/queue\n"
             "waiting_times/queue\nwaiting_times/queue\nwaiting_times/queue\nwaiting_times/queue\n");
  char *out = run_review_order(model, labels, texts, 0);
  assert_string_equal(out, "1\n0\n");
  free(out);
  write_text(labels,
             "staff/courtesy\nstaff/courtesy\nstaff/courtesy\nstaff/courtesy\nstaff/courtesy\n"
             "staff/courtesy\nstaff/courtesy\nstaff/courtesy\n");
  out = run_review_order(model, labels, texts, 0);
  assert_string_equal(out, "0\n1\n");
  free(out);
  write_text(labels, "staff/courtesy\nstaff/no_such_thing\n");
  out = run_review_order(model, labels, texts, 1);
  assert_string_equal(out, "");
  free(out);
  unlink(model);
  unlink(labels);
}

/* eval scores a test class the model never saw as a class (its rows misses,
 * F1 0 in the macro average): skipping it scored a model trained without the
 * violence rows 1.0 on a test set that has them. */
static void test_eval_unseen_class(void **state) {
  (void)state;
  cl_train_opts o;
  quick_opts(&o);
  size_t len, n = strlen(TINY);
  const char *cut = strstr(TINY, "the guard hit me hard");
  assert_non_null(cut);
  char *known = strndup(TINY, (size_t)(cut - TINY)); /* queue and courtesy rows only */
  assert_non_null(known);
  void *buf = train_buf(known, &o, &len);
  free(known);
  char err[256], model[] = "/tmp/escucha-test-eval-XXXXXX", data[] = "/tmp/escucha-test-evaldata-XXXXXX",
                 out[] = "/tmp/escucha-test-evalout-XXXXXX";
  int fm = mkstemp(model), fd = mkstemp(data), fo = mkstemp(out);
  assert_true(fm >= 0 && fd >= 0 && fo >= 0);
  close(fm);
  close(fd);
  assert_int_equal(cl_write_file(model, buf, len, err, sizeof err), 0);
  free(buf);
  assert_int_equal(cl_write_file(data, TINY, n, err, sizeof err), 0);
  char *argv[] = {"--model", model, "--data", data, "--brief"};
  fflush(stdout);
  int saved = dup(1);
  assert_true(saved >= 0 && dup2(fo, 1) == 1);
  int rc = cl_cmd_eval(5, argv);
  fflush(stdout);
  assert_int_equal(dup2(saved, 1), 1);
  close(saved);
  close(fo);
  assert_int_equal(rc, 0);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char text[8192];
  size_t got = fread(text, 1, sizeof text - 1, f);
  text[got] = 0;
  fclose(f);
  assert_non_null(strstr(text, "(5 rows of 1 gold labels unknown to the model: counted as misses)"));
  const char *res = strstr(text, "RESULT head=subcategory macro_f1=");
  assert_non_null(res);
  double f1 = atof(res + strlen("RESULT head=subcategory macro_f1="));
  assert_true(f1 > 0.5 && f1 < 2.0 / 3 + 1e-9); /* two learnt classes of three, the third 0 */
  assert_non_null(strstr(res, "n=15"));
  unlink(model);
  unlink(data);
  unlink(out);
}

static void test_score(void **state) {
  (void)state;
  /* cl_score measures what is served: trained on TINY, scored on TINY */
  cl_train_opts o;
  quick_opts(&o);
  size_t len;
  void *buf = train_buf(TINY, &o, &len);
  cl_classifier *c = classifier_from(buf, len, 0.0f);
  cl_dataset ds = {0};
  char err[256];
  ds.keep_duplicates = 1;
  assert_int_equal(cl_dataset_parse(&ds, "tiny.csv", TINY, strlen(TINY), err, sizeof err), 0);
  cl_scores sc;
  assert_int_equal(cl_score(c, &ds, &sc), 0);
  assert_int_equal(sc.n[CL_HEAD_SUB], ds.n);
  assert_true(sc.f1[CL_HEAD_SUB] > 0.9);
  assert_int_equal(sc.n[CL_HEAD_JOURNEY], 0);
  cl_dataset_free(&ds);
  cl_classifier_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_tokenize),
      cmocka_unit_test(test_stemming),
      cmocka_unit_test(test_hash_determinism),
      cmocka_unit_test(test_csv_and_corrections),
      cmocka_unit_test(test_taxonomy_errors),
      cmocka_unit_test(test_train_separable),
      cmocka_unit_test(test_seed_determinism),
      cmocka_unit_test(test_model_corruption),
      cmocka_unit_test(test_threshold_other),
      cmocka_unit_test(test_urgent),
      cmocka_unit_test(test_cold_start_spanish),
      cmocka_unit_test(test_train_spanish),
      cmocka_unit_test(test_keyword_only_model),
      cmocka_unit_test(test_feature_merge),
      cmocka_unit_test(test_ascii_fold_fast_path),
      cmocka_unit_test(test_stem_cache),
      cmocka_unit_test(test_row_index),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_language_spaces),
      cmocka_unit_test(test_corrections_split),
      cmocka_unit_test(test_gate_and_review_order),
      cmocka_unit_test(test_review_order_balance),
      cmocka_unit_test(test_review_order_cli),
      cmocka_unit_test(test_eval_unseen_class),
      cmocka_unit_test(test_score),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
