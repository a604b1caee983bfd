/* Kafka worker: consumes escucha.feedback.ingested.v1 in a consumer group,
 * classifies, produces ClassifiedFeedback to escucha.feedback.classified.v1
 * (key agency/category). At-least-once: an input offset is stored only after
 * its output (or its dead letter) is acknowledged, and offsets are stored in
 * consumption order so a failed delivery can never be skipped by a commit of
 * a later offset. Operator corrections on escucha.corrections.v1 are appended
 * to a JSON-lines file that `train --data` reads. SIGHUP reloads taxonomy and
 * model between messages (the old pair stays on error); SIGTERM drains. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "classifier.h"
#include "cli.h"
#include "config.h"
#include "escucha/v1/escucha.pb-c.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define RING 8192 /* in-flight messages awaiting their delivery report */

enum { SLOT_FREE = 0, SLOT_WAIT, SLOT_DONE, SLOT_FAILED };

typedef struct {
  rd_kafka_message_t *m;
  int state;
} slot;

typedef struct {
  es_opt *opts;
  rd_kafka_t *consumer, *producer;
  cl_classifier *cls;
  slot ring[RING];
  size_t head, tail; /* head: oldest in flight; tail: next free */
  int failed;
  int corrections_fd;
  es_metric *m_msgs, *m_classified, *m_latency, *m_low, *m_low_share, *m_model, *m_reloads;
  double n_classified, n_low;
  char model_version[32];
} worker;

static es_opt OPTS[] = {
    ES_COMMON_OPTS,
    {"admin-port", "9102", "Admin (metrics/health) port", 0},
    {"model", NULL, "Model file (default: <state-dir>/model.bin)", 0},
    {"taxonomy", "config/taxonomy.default.json", "Taxonomy JSON file", 0},
    {"confidence-threshold", "0.35", "Below this calibrated confidence: other/unclassified", 0},
    {"group", "escucha-classify", "Kafka consumer group", 0},
    {"input-topic", ES_TOPIC_INGESTED, "Topic to classify", 0},
    {"output-topic", ES_TOPIC_CLASSIFIED, "Topic for ClassifiedFeedback", 0},
    {"corrections-file", NULL, "Where corrections are appended (default: <state-dir>/corrections.jsonl)", 0},
    {0}};

static void init_metrics(worker *w) {
  w->m_msgs = es_counter("escucha_classify_messages_total", "Input messages by outcome", "result", NULL);
  w->m_classified = es_counter("escucha_classify_classified_total", "Classified feedback by category",
                               "category", NULL);
  w->m_latency = es_histogram("escucha_classify_latency_seconds", "Classification latency per message",
                              ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, NULL);
  w->m_low = es_counter("escucha_classify_low_confidence_total",
                        "Items below the confidence threshold (other/unclassified)", NULL);
  w->m_low_share = es_gauge("escucha_classify_low_confidence_share",
                            "Share of classified items that were below the threshold", NULL);
  w->m_model = es_gauge("escucha_classify_model_info", "Loaded model version (1 = active)", "version", NULL);
  w->m_reloads = es_counter("escucha_classify_reloads_total", "SIGHUP reloads", "result", NULL);
}

static void set_model_gauge(worker *w) {
  if (w->model_version[0]) es_metric_set(w->m_model, 0, w->model_version);
  snprintf(w->model_version, sizeof w->model_version, "%s", cl_classifier_model(w->cls)->version);
  es_metric_set(w->m_model, 1, w->model_version);
}

static const char *model_path(worker *w, char *buf, size_t n) {
  const char *m = es_opt_get(w->opts, "model");
  if (m && *m) return m;
  snprintf(buf, n, "%s/model.bin", es_opt_get(w->opts, "state-dir"));
  return buf;
}

static cl_classifier *load(worker *w, char *err, size_t errlen) {
  char mp[1024];
  return cl_load_classifier(model_path(w, mp, sizeof mp), es_opt_get(w->opts, "taxonomy"),
                            es_opt_double(w->opts, "confidence-threshold"), 1, err, errlen);
}

/* Called between messages: load new, swap, keep the old pair on error. */
static void maybe_reload(worker *w) {
  if (!es_reload_requested) return;
  es_reload_requested = 0;
  char err[512];
  cl_classifier *n = load(w, err, sizeof err);
  if (!n) {
    es_error("reload_failed", "keeping the current model and taxonomy: %s", err);
    es_metric_add(w->m_reloads, 1, "error");
    return;
  }
  cl_classifier_free(w->cls);
  w->cls = n;
  set_model_gauge(w);
  es_metric_add(w->m_reloads, 1, "ok");
  es_info("reloaded", "model %s", w->model_version);
}

/* Stores offsets of finished messages in consumption order. */
static void drain_done(worker *w) {
  while (w->head != w->tail) {
    slot *s = &w->ring[w->head % RING];
    if (s->state == SLOT_WAIT) break;
    if (s->state == SLOT_FAILED) {
      /* Nothing after this may be committed: stop; a restart re-reads it. */
      if (!w->failed) es_error("delivery_failed", "stopping without committing past offset %lld",
                               (long long)s->m->offset);
      w->failed = 1;
      es_stopping = 1;
      break;
    }
    es_kafka_store(w->consumer, s->m);
    rd_kafka_message_destroy(s->m);
    s->m = NULL;
    s->state = SLOT_FREE;
    w->head++;
  }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
  (void)rk, (void)opaque;
  slot *s = msg->_private;
  if (!s) return;
  if (msg->err) es_error("produce_failed", "%s", rd_kafka_err2str(msg->err));
  s->state = msg->err ? SLOT_FAILED : SLOT_DONE;
}

static slot *take_slot(worker *w, rd_kafka_message_t *m) {
  while (w->tail - w->head >= RING && !w->failed) { /* back-pressure */
    rd_kafka_poll(w->producer, 100);
    drain_done(w);
  }
  slot *s = &w->ring[w->tail++ % RING];
  s->m = m;
  s->state = SLOT_WAIT;
  return s;
}

static Escucha__V1__Sentiment SENT_PB[3] = {ESCUCHA__V1__SENTIMENT__NEGATIVE, ESCUCHA__V1__SENTIMENT__NEUTRAL,
                                            ESCUCHA__V1__SENTIMENT__POSITIVE};

/* Packs ClassifiedFeedback{fb, r}; malloc'd bytes or NULL. */
static uint8_t *pack_classified(Escucha__V1__Feedback *fb, const cl_result *r, const char *version, size_t *len) {
  Escucha__V1__Classification c = ESCUCHA__V1__CLASSIFICATION__INIT;
  Escucha__V1__ClassifiedFeedback cf = ESCUCHA__V1__CLASSIFIED_FEEDBACK__INIT;
  char *terms[CL_MAX_TERMS];
  c.category = (char *)r->category;
  c.subcategory = (char *)r->subcategory;
  c.has_confidence = 1, c.confidence = r->confidence;
  c.has_sentiment = 1, c.sentiment = SENT_PB[r->sentiment];
  c.has_sentiment_score = 1, c.sentiment_score = r->sentiment_score;
  c.has_sentiment_confidence = 1, c.sentiment_confidence = r->sentiment_conf;
  if (r->journey >= 0) {
    c.has_journey_stage = 1, c.journey_stage = (Escucha__V1__JourneyStage)(r->journey + 1);
    c.has_journey_confidence = 1, c.journey_confidence = r->journey_conf;
  }
  c.has_urgent = 1, c.urgent = r->urgent;
  for (int i = 0; i < r->nterms; i++) terms[i] = (char *)r->terms[i];
  c.n_top_terms = (size_t)r->nterms;
  c.top_terms = terms;
  c.model_version = (char *)version;
  cf.feedback = fb;
  cf.classification = &c;
  cf.has_classified_at = 1, cf.classified_at = es_now_ms();
  *len = escucha__v1__classified_feedback__get_packed_size(&cf);
  uint8_t *buf = malloc(*len + 1);
  if (buf) escucha__v1__classified_feedback__pack(&cf, buf);
  return buf;
}

static void to_dlq(worker *w, rd_kafka_message_t *m, const char *reason) {
  slot *s = take_slot(w, m);
  es_metric_add(w->m_msgs, 1, "dlq");
  es_warn("dead_letter", "%s (partition %d offset %lld)", reason, (int)m->partition, (long long)m->offset);
  if (es_kafka_dlq(w->producer, "classify", reason, m, NULL, 0, s) != RD_KAFKA_RESP_ERR_NO_ERROR)
    s->state = SLOT_FAILED;
}

static void classify_one(worker *w, rd_kafka_message_t *m) {
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, m->len, m->payload);
  if (!fb) {
    to_dlq(w, m, "undecodable protobuf Feedback");
    return;
  }
  uint64_t t0 = es_mono_ns();
  cl_result r;
  const char *text = fb->text ? fb->text : "";
  if (cl_classify(w->cls, text, strlen(text), fb->language, &r)) {
    escucha__v1__feedback__free_unpacked(fb, NULL);
    to_dlq(w, m, "classification failed (out of memory)");
    return;
  }
  size_t len = 0;
  uint8_t *out = pack_classified(fb, &r, w->model_version, &len);
  char key[512];
  snprintf(key, sizeof key, "%s/%s", fb->agency && *fb->agency ? fb->agency : "unknown", r.category);
  es_metric_observe(w->m_latency, (double)(es_mono_ns() - t0) / 1e9);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  if (!out) {
    to_dlq(w, m, "out of memory packing the result");
    return;
  }
  slot *s = take_slot(w, m);
  if (es_kafka_produce(w->producer, es_opt_get(w->opts, "output-topic"), RD_KAFKA_PARTITION_UA, key,
                       strlen(key), out, len, s) != RD_KAFKA_RESP_ERR_NO_ERROR)
    s->state = SLOT_FAILED;
  free(out);
  es_metric_add(w->m_msgs, 1, "classified");
  es_metric_add(w->m_classified, 1, r.category);
  w->n_classified++;
  if (r.sub < 0) w->n_low++, es_metric_add(w->m_low, 1);
  es_metric_set(w->m_low_share, w->n_low / w->n_classified);
}

/* Corrections are appended as one JSON line each (a single write() on an
 * O_APPEND descriptor, so concurrent workers do not interleave lines). */
static void correction(worker *w, rd_kafka_message_t *m) {
  slot *s = take_slot(w, m);
  s->state = SLOT_DONE;
  if (m->len == 0 || ((const char *)m->payload)[0] != '{' || memchr(m->payload, '\n', m->len)) {
    es_warn("bad_correction", "ignored a correction that is not one JSON object");
    es_metric_add(w->m_msgs, 1, "correction_invalid");
    return;
  }
  char *line = malloc(m->len + 1);
  if (!line) return;
  memcpy(line, m->payload, m->len);
  line[m->len] = '\n';
  if (write(w->corrections_fd, line, m->len + 1) != (ssize_t)(m->len + 1)) {
    es_error("corrections_write", "%s", strerror(errno));
    s->state = SLOT_FAILED;
  }
  free(line);
  es_metric_add(w->m_msgs, 1, "correction");
}

static void handle(worker *w, rd_kafka_message_t *m) {
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      es_warn("consume_error", "%s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return;
  }
  if (strcmp(rd_kafka_topic_name(m->rkt), ES_TOPIC_CORRECTIONS) == 0)
    correction(w, m);
  else
    classify_one(w, m);
}

static int open_corrections(worker *w) {
  const char *p = es_opt_get(w->opts, "corrections-file");
  char buf[1024];
  if (!p || !*p) {
    snprintf(buf, sizeof buf, "%s/corrections.jsonl", es_opt_get(w->opts, "state-dir"));
    p = buf;
  }
  w->corrections_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (w->corrections_fd < 0) es_warn("corrections_file", "%s: %s (corrections will be skipped)", p, strerror(errno));
  return 0;
}

/* "k=v,k=v" -> NULL-terminated key,value array in storage (for librdkafka). */
static const char *const *kv_list(const char *spec, char *buf, size_t buflen, const char **arr, int max) {
  if (!spec || !*spec) return NULL;
  snprintf(buf, buflen, "%s", spec);
  int n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n + 2 < max; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = '\0';
    arr[n++] = tok;
    arr[n++] = eq + 1;
  }
  arr[n] = NULL;
  return arr;
}

static int start(worker *w) {
  char pbuf[1024], cbuf[1024];
  const char *parr[34], *carr[34];
  const char *const *pextra = kv_list(es_opt_get(w->opts, "kafka-producer-config"), pbuf, sizeof pbuf, parr, 34);
  const char *const *cextra = kv_list(es_opt_get(w->opts, "kafka-consumer-config"), cbuf, sizeof cbuf, carr, 34);
  char err[512];
  if (!(w->cls = load(w, err, sizeof err))) {
    es_error("model_load", "%s", err);
    return -1;
  }
  set_model_gauge(w);
  es_info("model_loaded", "model %s, taxonomy %zu subcategories", w->model_version,
          cl_classifier_taxonomy(w->cls)->nsubs);
  const char *brokers = es_opt_get(w->opts, "kafka-brokers");
  w->producer = es_kafka_producer_new(brokers, "escucha-classify", on_delivery, w, pextra, err, sizeof err);
  if (!w->producer) {
    es_error("kafka_producer", "%s", err);
    return -1;
  }
  const char *topics[2] = {es_opt_get(w->opts, "input-topic"), ES_TOPIC_CORRECTIONS};
  w->consumer = es_kafka_consumer_new(brokers, es_opt_get(w->opts, "group"), "escucha-classify", topics, 2,
                                      cextra, err, sizeof err);
  if (!w->consumer) {
    es_error("kafka_consumer", "%s", err);
    return -1;
  }
  return open_corrections(w);
}

/* Drain: wait (bounded) for delivery reports so their offsets get stored. */
static void drain(worker *w) {
  uint64_t deadline = es_mono_ns() + 15ull * 1000000000ull;
  while (w->head != w->tail && !w->failed && es_mono_ns() < deadline) {
    rd_kafka_poll(w->producer, 100);
    drain_done(w);
  }
  if (w->head != w->tail) es_warn("drain_incomplete", "%zu messages not acknowledged; they will be re-read", w->tail - w->head);
}

static void stop(worker *w) {
  if (w->producer) drain(w);
  /* Un-acked consumer messages are dropped without storing their offsets. */
  for (; w->head != w->tail; w->head++) rd_kafka_message_destroy(w->ring[w->head % RING].m);
  if (w->consumer) es_kafka_consumer_close(w->consumer);
  if (w->producer) es_kafka_producer_close(w->producer, 10000);
  if (w->corrections_fd >= 0) close(w->corrections_fd);
  cl_classifier_free(w->cls);
  es_admin_stop();
}

int cl_serve(int argc, char **argv, int first) {
  static worker w; /* large ring: keep it off the stack */
  memset(&w, 0, sizeof w);
  w.corrections_fd = -1;
  w.opts = OPTS;
  int pr = es_config_parse(OPTS, "escucha-classify", "[serve|train|eval|predict] [options]\n"
                           "  (train/eval/predict: run `escucha-classify train --help` etc.)",
                           argc, argv, first, NULL, NULL);
  if (pr != 0) return pr > 0 ? 0 : 2;
  es_log_init("classify", es_opt_get(OPTS, "log-level"));
  es_install_signals();
  init_metrics(&w);
  if (es_admin_start(NULL, (int)es_opt_long(OPTS, "admin-port")) != 0)
    es_warn("admin", "admin server did not start on port %ld", es_opt_long(OPTS, "admin-port"));
  int rc = 1;
  if (start(&w) == 0) {
    es_admin_set_ready(1);
    es_info("started", "consuming %s as group %s", es_opt_get(OPTS, "input-topic"), es_opt_get(OPTS, "group"));
    while (!es_stopping && !es_kafka_fatal) {
      maybe_reload(&w);
      rd_kafka_message_t *m = rd_kafka_consumer_poll(w.consumer, 100);
      if (m) handle(&w, m);
      rd_kafka_poll(w.producer, 0);
      drain_done(&w);
    }
    es_admin_set_ready(0);
    rc = w.failed ? 1 : 0;
  }
  stop(&w);
  es_info("stopped", "exit %d", rc);
  return rc;
}
