/* Kafka worker: consumes escucha.feedback.ingested.v1 in a consumer group,
 * classifies, produces ClassifiedFeedback to escucha.feedback.classified.v1
 * (key agency/category), and for an urgent item also its case request
 * (ActionRequest with urgent_case) to escucha.actions.requested.v1 (key
 * agency/case): both outputs go out before the input offset does.
 * Exactly-once (default, --delivery exactly-once): a transactional producer
 * (transactional.id per instance) writes outputs, dead letters and the
 * consumer's input offsets in one Kafka transaction (KIP-447,
 * send_offsets_to_transaction), committed every --commit-interval-ms or
 * --commit-messages; on an abortable error the transaction is aborted and the
 * input rewound to the committed offsets; a rebalance commits (or, when the
 * partitions were lost, aborts) before giving partitions up. Readers of the
 * output use isolation.level=read_committed (librdkafka's default).
 * At-least-once (--delivery at-least-once): an input offset is stored only after
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
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "classifier.h"
#include "cli.h"
#include "config.h"
#include "escucha/v1/escucha.pb-c.h"
#include "kafka.h"
#include "log.h"
#include "process.h"
#include "metrics.h"
#include "util.h"

#define RING 8192 /* in-flight messages awaiting their delivery report */

enum { SLOT_FREE = 0, SLOT_WAIT, SLOT_DONE, SLOT_FAILED };

typedef struct {
  rd_kafka_message_t *m;
  int state;
  int pending; /* outputs not yet acknowledged (2 for an urgent item: its case request too) */
} slot;

/* The options, typed and bound to their fields (lib/config.h). */
typedef struct cl_cfg {
  es_common_cfg common;
  const char *model, *taxonomy, *group, *input_topic, *output_topic, *corrections_topic, *corrections_file,
      *transactional_id;
  long admin_port, transaction_timeout_ms, commit_interval_ms, commit_messages, test_fatal_after, model_watch_ms;
  double confidence_threshold, case_max_age_h;
  int delivery; /* index into DELIVERY */
} cl_cfg;

static cl_cfg C;
static const char *const DELIVERY[] = {"exactly-once", "at-least-once", NULL};
enum { DELIVERY_EOS = 0, DELIVERY_ALO = 1 };

typedef struct {
  const cl_cfg *cfg;
  rd_kafka_t *consumer, *producer;
  cl_classifier *cls;
  slot ring[RING];
  size_t head, tail; /* head: oldest in flight; tail: next free */
  int failed;
  int corrections_fd;
  es_metric *m_msgs, *m_classified, *m_latency, *m_low, *m_low_share, *m_model, *m_reloads, *m_txn, *m_assigned,
      *m_cases, *m_cases_old;
  double n_classified, n_low;
  char model_version[32];
  /* the model file as last seen (retrain/rollback replace it by rename) */
  struct stat model_st;
  int model_seen;
  uint64_t model_checked_ns;
  /* exactly-once */
  int eos;
  size_t txn_msgs;       /* input messages in the open transaction */
  uint64_t txn_start_ns; /* when its first message was consumed */
  int txn_bad;           /* a produce failed: abort instead of commit */
  int recover;           /* the producer hit a fatal error: replace it */
  long commit_ms, commit_max;
  long fatal_after; /* test hook: raise a fatal producer error after this many messages */
  long handled;
  /* producer settings, kept to build a replacement */
  char pbuf[1024], txid[300], txto[32], msgto[32];
  const char *parr[34], *txarr[48];
  const char *const *pextra;
} worker;

static es_opt OPTS[] = {
    ES_COMMON_OPTS(C.common),
    ES_LONG("admin-port", "9102", 0, ES_PORT_MAX, "Admin (metrics/health) port", &C.admin_port),
    ES_STR("model", NULL, "Model file (default: <state-dir>/model.bin)", &C.model),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy JSON file", &C.taxonomy),
    ES_DOUBLE("case-max-age-h", "168", 0, 87600,
              "An urgent item received longer ago than this (imported history) is flagged but opens no case",
              &C.case_max_age_h),
    ES_LONG("model-watch-ms", "1000", 0, 3600000,
            "Reload when the model file is replaced (retrain/rollback), checked this often (0: SIGHUP only)",
            &C.model_watch_ms),
    ES_DOUBLE("confidence-threshold", "0.35", 0, 1, "Below this calibrated confidence: other/unclassified",
              &C.confidence_threshold),
    ES_STR("group", "escucha-classify", "Kafka consumer group", &C.group),
    ES_STR("input-topic", ES_TOPIC_INGESTED, "Topic to classify", &C.input_topic),
    ES_STR("output-topic", ES_TOPIC_CLASSIFIED, "Topic for ClassifiedFeedback", &C.output_topic),
    ES_STR("corrections-topic", ES_TOPIC_CORRECTIONS, "Operator corrections topic (empty: not consumed)",
           &C.corrections_topic),
    ES_STR("corrections-file", NULL, "Where corrections are appended (default: <state-dir>/corrections.jsonl)",
           &C.corrections_file),
    ES_ENUM("delivery", "exactly-once", DELIVERY, "exactly-once (Kafka transactions) or at-least-once", &C.delivery),
    ES_STR("transactional-id", NULL, "Stable per instance (default: escucha-classify-<host>-<admin-port>)",
           &C.transactional_id),
    ES_LONG("transaction-timeout-ms", "10000", 1000, 900000,
            "Broker aborts a dead instance's open transaction after this", &C.transaction_timeout_ms),
    ES_LONG("commit-interval-ms", "100", 0, 86400000, "Exactly-once: commit the transaction at least this often",
            &C.commit_interval_ms),
    /* A safety cap, not the latency bound (the interval is): at 1000, a slow commit under load
     * (0.5-1 s on a busy broker) let each transaction carry ~1000 messages, below the input
     * rate, and the backlog grew (docs/performance.md, "Freshness under steady load"). */
    ES_LONG("commit-messages", "50000", 1, LONG_MAX, "Exactly-once: ... or after this many input messages",
            &C.commit_messages),
    ES_LONG("test-fatal-after", "0", 0, LONG_MAX,
            "Tests only: raise one fatal producer error after this many messages (0: never)", &C.test_fatal_after),
    ES_OPT_END};

static void init_metrics(worker *w) {
  w->m_msgs = es_counter("escucha_classify_messages_total", "Input messages by outcome", "result", NULL);
  w->m_classified =
      es_counter("escucha_classify_classified_total", "Classified feedback by category", "category", NULL);
  w->m_latency = es_histogram("escucha_classify_latency_seconds", "Classification latency per message",
                              ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, NULL);
  w->m_low = es_counter("escucha_classify_low_confidence_total",
                        "Items below the confidence threshold (other/unclassified)", NULL);
  w->m_low_share = es_gauge("escucha_classify_low_confidence_share",
                            "Share of classified items that were below the threshold", NULL);
  w->m_model = es_gauge("escucha_classify_model_info", "Loaded model version (1 = active)", "version", NULL);
  w->m_reloads = es_counter("escucha_classify_reloads_total", "SIGHUP reloads", "result", NULL);
  w->m_assigned =
      es_gauge("escucha_classify_assigned_partitions", "Input-topic partitions assigned to this worker", NULL);
  w->m_txn = es_counter("escucha_classify_transactions_total", "Kafka transactions by outcome", "result", NULL);
  w->m_cases = es_counter("escucha_classify_case_requests_total",
                          "Case requests (urgent items) produced to the action-request topic", "reason", NULL);
  w->m_cases_old = es_counter("escucha_classify_cases_too_old_total",
                              "Urgent items older than --case-max-age-h (imported history): no case", NULL);
}

static void set_model_gauge(worker *w) {
  if (w->model_version[0]) es_metric_set(w->m_model, 0, w->model_version);
  snprintf(w->model_version, sizeof w->model_version, "%s", cl_classifier_model(w->cls)->version);
  es_metric_set(w->m_model, 1, w->model_version);
}

static const char *model_path(worker *w, char *buf, size_t n) {
  const char *m = w->cfg->model;
  if (m && *m) return m;
  snprintf(buf, n, "%s/model.bin", w->cfg->common.state_dir);
  return buf;
}

static cl_classifier *load(worker *w, char *err, size_t errlen) {
  char mp[1024];
  return cl_load_classifier(model_path(w, mp, sizeof mp), w->cfg->taxonomy, w->cfg->confidence_threshold, 1, err,
                            errlen);
}

/* Remembers the model file's identity; 1 when it differs from the last seen. */
static int model_changed(worker *w) {
  char mp[1024];
  struct stat st;
  if (stat(model_path(w, mp, sizeof mp), &st) != 0) return 0; /* missing: keep serving the loaded one */
  int changed = !w->model_seen || st.st_ino != w->model_st.st_ino || st.st_size != w->model_st.st_size ||
                st.st_mtim.tv_sec != w->model_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != w->model_st.st_mtim.tv_nsec;
  w->model_st = st;
  w->model_seen = 1;
  return changed;
}

/* `escucha-classify retrain`/`rollback` publish the active model by renaming
 * a new file over the model path: every worker watching it reloads, as on
 * SIGHUP, without a restart. */
static void watch_model(worker *w) {
  if (w->cfg->model_watch_ms <= 0) return;
  uint64_t now = es_mono_ns();
  if (now - w->model_checked_ns < (uint64_t)w->cfg->model_watch_ms * 1000000ull) return;
  w->model_checked_ns = now;
  if (model_changed(w)) {
    es_info("model_file_changed", "reloading");
    es_reload_requested = 1;
  }
}

/* Called between messages: load new, swap, keep the old pair on error. */
static void maybe_reload(worker *w) {
  watch_model(w);
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
      if (!w->failed)
        es_error("delivery_failed", "stopping without committing past offset %lld", (long long)s->m->offset);
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
  (void)rk;
  worker *w = opaque;
  slot *s = msg->_private;
  if (msg->err) {
    es_error("produce_failed", "%s", rd_kafka_err2str(msg->err));
    if (w && w->eos) w->txn_bad = 1; /* the commit would fail anyway: abort and rewind */
  }
  if (!s) return;
  /* done once every output of the input message is acknowledged */
  if (msg->err) s->state = SLOT_FAILED;
  else if (--s->pending <= 0 && s->state == SLOT_WAIT) s->state = SLOT_DONE;
}

static void set_failed(worker *w, slot *s) {
  if (s) s->state = SLOT_FAILED;
  if (w->eos) w->txn_bad = 1;
}

/* Produces, waiting while the local queue is full. */
static rd_kafka_resp_err_t produce(worker *w, const char *topic, const char *key, const void *val, size_t len,
                                   slot *s) {
  for (;;) {
    rd_kafka_resp_err_t e = es_kafka_produce(w->producer, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), val, len, s);
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || es_kafka_fatal) return e;
    rd_kafka_poll(w->producer, 100);
  }
}

/* At-least-once: a ring slot holds m until its delivery report. Exactly-once:
 * no slot (NULL); handle() frees m and the transaction commits its offset. */
static slot *take_slot(worker *w, rd_kafka_message_t *m) {
  if (w->eos) return NULL;
  while (w->tail - w->head >= RING && !w->failed) { /* back-pressure */
    rd_kafka_poll(w->producer, 100);
    drain_done(w);
  }
  slot *s = &w->ring[w->tail++ % RING];
  s->m = m;
  s->state = SLOT_WAIT;
  s->pending = 1;
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
  c.has_runner_up = 1, c.runner_up = r->runner_up;
  c.predicted_subcategory = (char *)r->predicted;
  c.has_sentiment = 1, c.sentiment = SENT_PB[r->sentiment];
  c.has_sentiment_score = 1, c.sentiment_score = r->sentiment_score;
  c.has_sentiment_confidence = 1, c.sentiment_confidence = r->sentiment_conf;
  if (r->journey >= 0) {
    c.has_journey_stage = 1, c.journey_stage = (Escucha__V1__JourneyStage)(r->journey + 1);
    c.has_journey_confidence = 1, c.journey_confidence = r->journey_conf;
  }
  c.has_urgent = 1, c.urgent = r->urgent;
  if (r->urgent) {
    c.urgent_reason = (char *)r->urgent_reason;
    c.has_urgent_confidence = 1, c.urgent_confidence = r->urgent_conf;
    if (r->urgent_phrase[0]) c.urgent_phrase = (char *)r->urgent_phrase;
  }
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
  /* lib's dead-letter send waits (bounded) for room in a full queue */
  rd_kafka_resp_err_t e = es_kafka_dlq(w->producer, "classify", reason, m, NULL, 0, s);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) set_failed(w, s);
}

/* Packs the case request of an urgent item: ActionRequest{topic
 * "case/<id>", request_id "case/<agency>/<id>", urgent_case} (one case per
 * item, opened by actions at once whatever the volume). malloc'd bytes, or
 * NULL (out of memory). fb must have an id. */
static uint8_t *pack_case(const Escucha__V1__Feedback *fb, const cl_result *r, const char *agency, size_t *len) {
  Escucha__V1__UrgentCase uc = ESCUCHA__V1__URGENT_CASE__INIT;
  Escucha__V1__ActionRequest ar = ESCUCHA__V1__ACTION_REQUEST__INIT;
  char topic[300], rid[400];
  *len = 0;
  snprintf(topic, sizeof topic, "case/%s", fb->id);
  snprintf(rid, sizeof rid, "case/%s/%s", agency, fb->id);
  uc.feedback_id = fb->id;
  if (fb->has_channel) uc.has_channel = 1, uc.channel = fb->channel;
  uc.service = fb->service;
  uc.text = fb->text; /* redacted by ingest */
  uc.language = fb->language;
  if (fb->has_received_at) uc.has_received_at = 1, uc.received_at = fb->received_at;
  uc.category = (char *)r->category;
  uc.subcategory = (char *)r->subcategory;
  uc.reason = (char *)(r->urgent_reason ? r->urgent_reason : "category");
  uc.has_confidence = 1, uc.confidence = r->urgent_conf;
  if (r->urgent_phrase[0]) uc.phrase = (char *)r->urgent_phrase;
  if (fb->has_sealed_contact) uc.has_sealed_contact = 1, uc.sealed_contact = fb->sealed_contact;
  ar.agency = (char *)agency;
  ar.topic = topic;
  ar.request_id = rid;
  ar.has_requested_at = 1, ar.requested_at = es_now_ms();
  ar.urgent_case = &uc;
  size_t n = escucha__v1__action_request__get_packed_size(&ar);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf) escucha__v1__action_request__pack(&ar, buf), *len = n;
  return buf;
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
  size_t len = 0, clen = 0;
  uint8_t *out = pack_classified(fb, &r, w->model_version, &len), *cas = NULL;
  const char *agency = fb->agency && *fb->agency ? fb->agency : "unknown";
  char key[512], ckey[512];
  snprintf(key, sizeof key, "%s/%s", agency, r.category);
  snprintf(ckey, sizeof ckey, "%s/case", agency);
  /* Only urgent items pay for the second message. */
  int has_id = fb->id && *fb->id;
  /* history placed in its own past (a trusted import) is not an emergency now */
  int recent = !fb->has_received_at || (double)(es_now_ms() - fb->received_at) <= C.case_max_age_h * 3600000.0;
  if (r.urgent && !recent) es_metric_add(w->m_cases_old, 1);
  if (r.urgent && recent && out && has_id && !(cas = pack_case(fb, &r, agency, &clen))) {
    free(out);
    out = NULL; /* out of memory: the whole item is refused, never half-published */
  }
  if (r.urgent && !has_id) es_warn("case_skipped", "urgent item without an id: no case request");
  es_metric_observe(w->m_latency, (double)(es_mono_ns() - t0) / 1e9);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  if (!out) {
    to_dlq(w, m, "out of memory packing the result");
    return;
  }
  slot *s = take_slot(w, m);
  /* Both outputs before the offset: at-least-once, the slot is done after
   * both delivery reports; exactly-once, both are in the open transaction
   * with the input offset. */
  if (s && cas) s->pending = 2;
  if (produce(w, w->cfg->output_topic, key, out, len, s) != RD_KAFKA_RESP_ERR_NO_ERROR) set_failed(w, s);
  else if (cas && produce(w, ES_TOPIC_ACTIONS_REQUESTED, ckey, cas, clen, s) != RD_KAFKA_RESP_ERR_NO_ERROR)
    set_failed(w, s);
  if (cas) es_metric_add(w->m_cases, 1, r.urgent_reason ? r.urgent_reason : "category");
  free(out);
  free(cas);
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
  if (s) s->state = SLOT_DONE;
  if (m->len == 0 || ((const char *)m->payload)[0] != '{' || memchr(m->payload, '\n', m->len)) {
    es_warn("bad_correction", "ignored a correction that is not one JSON object");
    es_metric_add(w->m_msgs, 1, "correction_invalid");
    return;
  }
  if (w->corrections_fd < 0) return; /* no file: skipped (warned at start) */
  char *line = malloc(m->len + 1);
  if (!line) return;
  memcpy(line, m->payload, m->len);
  line[m->len] = '\n';
  if (write(w->corrections_fd, line, m->len + 1) != (ssize_t)(m->len + 1)) {
    es_error("corrections_write", "%s", strerror(errno));
    if (s) s->state = SLOT_FAILED; /* exactly-once: not transactional; logged and skipped */
  }
  free(line);
  es_metric_add(w->m_msgs, 1, "correction");
}

static void handle(worker *w, rd_kafka_message_t *m) {
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) es_warn("consume_error", "%s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return;
  }
  if (w->eos && w->txn_msgs++ == 0) w->txn_start_ns = es_mono_ns();
  const char *ct = w->cfg->corrections_topic;
  if (ct && *ct && strcmp(rd_kafka_topic_name(m->rkt), ct) == 0) correction(w, m);
  else classify_one(w, m);
  if (w->fatal_after > 0 && ++w->handled == w->fatal_after)
    rd_kafka_test_fatal_error(w->producer, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, "test-fatal-after");
  if (w->eos) rd_kafka_message_destroy(m); /* its offset goes with the transaction */
}

/* ---- exactly-once: transactions ---- */

static int fenced(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* The producer hit a fatal error. Fenced: another live instance owns this
 * transactional.id — leave it the work. Anything else (e.g. INVALID_TXN_STATE
 * after a broker restart): the main loop replaces the producer and re-reads
 * from the committed offsets. */
static void producer_fatal(worker *w, const char *what, rd_kafka_resp_err_t code, const char *reason) {
  es_metric_add(w->m_txn, 1, "fatal");
  if (fenced(code)) {
    es_error("transaction_fenced", "%s: %s; another instance took over this transactional.id, exiting", what, reason);
    w->failed = 1;
    es_stopping = 1;
    return;
  }
  es_error("transaction_fatal", "%s: %s (%s); replacing the producer, re-reading from the committed offsets", what,
           reason, rd_kafka_err2name(code));
  w->recover = 1;
}

static void txn_fatal(worker *w, const char *what, rd_kafka_error_t *e) {
  producer_fatal(w, what, rd_kafka_error_code(e), rd_kafka_error_string(e));
}

static void txn_begin(worker *w) {
  w->txn_msgs = 0;
  w->txn_bad = 0;
  if (w->failed || w->recover) return;
  rd_kafka_error_t *e = rd_kafka_begin_transaction(w->producer);
  if (e) {
    txn_fatal(w, "begin_transaction", e);
    rd_kafka_error_destroy(e);
  }
}

/* Seeks the given partitions back to their committed offsets (the start of
 * the aborted transaction's input). */
static void rewind_to_committed(worker *w, rd_kafka_topic_partition_list_t *parts) {
  if (!parts || parts->cnt == 0) return;
  rd_kafka_resp_err_t err = rd_kafka_committed(w->consumer, parts, 30000);
  if (err) {
    es_error("rewind_failed", "committed offsets: %s; exiting so a restart resumes from them", rd_kafka_err2str(err));
    w->failed = 1;
    es_stopping = 1;
    return;
  }
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; /* none: auto.offset.reset */
  rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, parts, -1);
  if (e) {
    es_error("rewind_failed", "seek: %s; exiting", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    w->failed = 1;
    es_stopping = 1;
  }
}

/* Rewinds every partition still assigned to its committed offset. */
static void rewind_assignment(worker *w) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if (rd_kafka_assignment(w->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  rewind_to_committed(w, a);
  rd_kafka_topic_partition_list_destroy(a);
}

/* Aborts the open transaction and rewinds the input (whole assignment). */
static void txn_abort(worker *w, const char *why) {
  es_warn("transaction_abort", "%s: aborting %zu messages and re-reading them", why, w->txn_msgs);
  es_metric_add(w->m_txn, 1, "aborted");
  rd_kafka_error_t *e = rd_kafka_abort_transaction(w->producer, -1);
  if (e) {
    txn_fatal(w, "abort_transaction", e);
    rd_kafka_error_destroy(e);
    return;
  }
  rewind_assignment(w);
  txn_begin(w);
}

typedef enum {
  TXN_DONE = 0,
  TXN_ABORT = -1, /* the transaction must be aborted (input rewound) */
  TXN_FATAL = -2, /* the producer is unusable; already reported (txn_fatal) */
} txn_rc;

/* Retries retriable errors up to `retries` times. */
ES_MUST_CHECK static txn_rc txn_call(worker *w, const char *what, rd_kafka_error_t *(*fn)(worker *, void *), void *arg,
                                     int retries) {
  for (int attempt = 0;; attempt++) {
    rd_kafka_error_t *e = fn(w, arg);
    if (!e) return TXN_DONE;
    if (rd_kafka_error_is_retriable(e) && attempt >= retries) {
      es_warn("transaction_error", "%s: %s (giving up)", what, rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return TXN_ABORT;
    }
    if (rd_kafka_error_is_retriable(e) && !es_kafka_fatal) {
      es_warn("transaction_retry", "%s: %s", what, rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      continue;
    }
    if (rd_kafka_error_txn_requires_abort(e)) {
      es_warn("transaction_error", "%s: %s", what, rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return TXN_ABORT;
    }
    txn_fatal(w, what, e);
    rd_kafka_error_destroy(e);
    return TXN_FATAL;
  }
}

static rd_kafka_error_t *do_send_offsets(worker *w, void *arg) {
  rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(w->consumer);
  /* Bounded: while the group rebalances the offset commit cannot complete,
   * and the rebalance waits for this thread to serve the rebalance callback;
   * after the timeout the transaction is aborted and the input rewound. */
  rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(w->producer, arg, gm, 5000);
  rd_kafka_consumer_group_metadata_destroy(gm);
  return e;
}

static rd_kafka_error_t *do_commit(worker *w, void *arg) {
  (void)arg;
  return rd_kafka_commit_transaction(w->producer, 30000);
}

/* Commits outputs + input positions of the open transaction (if any
 * messages), then begins the next one. */
static void txn_commit(worker *w) {
  if (w->failed || w->recover || w->txn_msgs == 0) return;
  if (w->txn_bad) {
    txn_abort(w, "a message of the transaction could not be produced");
    return;
  }
  rd_kafka_topic_partition_list_t *a = NULL, *pos = NULL;
  if (rd_kafka_assignment(w->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    txn_abort(w, "no assignment");
    return;
  }
  rd_kafka_position(w->consumer, a); /* next offsets to read, i.e. consumed + 1 */
  pos = rd_kafka_topic_partition_list_new(a->cnt > 0 ? a->cnt : 1);
  for (int i = 0; i < a->cnt; i++)
    if (a->elems[i].offset >= 0)
      rd_kafka_topic_partition_list_add(pos, a->elems[i].topic, a->elems[i].partition)->offset = a->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(a);
  txn_rc rc = pos->cnt > 0 ? txn_call(w, "send_offsets_to_transaction", do_send_offsets, pos, 0) : TXN_DONE;
  rd_kafka_topic_partition_list_destroy(pos);
  if (rc == TXN_DONE) rc = txn_call(w, "commit_transaction", do_commit, NULL, 20);
  if (rc == TXN_ABORT) {
    txn_abort(w, "abortable transaction error");
    return;
  }
  if (rc == TXN_DONE) { /* TXN_FATAL: reported, the producer is replaced */
    es_metric_add(w->m_txn, 1, "committed");
    txn_begin(w);
  }
}

static void txn_maybe_commit(worker *w) {
  if (w->txn_msgs == 0) return;
  if ((long)w->txn_msgs >= w->commit_max || w->txn_bad ||
      es_mono_ns() - w->txn_start_ns >= (uint64_t)w->commit_ms * 1000000ull)
    txn_commit(w);
}

static void update_assigned(worker *w, rd_kafka_t *rk) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if (rd_kafka_assignment(rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  int n = 0;
  for (int i = 0; i < a->cnt; i++) n += strcmp(a->elems[i].topic, w->cfg->input_topic) == 0;
  rd_kafka_topic_partition_list_destroy(a);
  es_metric_set(w->m_assigned, n);
}

/* Rebalance (eager by default, lib/kafka.c; cooperative if an operator chose it
 * on a librdkafka that allows it): commit (or abort, if the partitions are
 * already someone else's) before giving partitions up, so no output is
 * committed without its input offset. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  worker *w = opaque;
  int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  rd_kafka_error_t *e = NULL;
  char list[512] = "";
  for (int i = 0, o = 0; i < parts->cnt && o < (int)sizeof list - 64; i++)
    o += snprintf(list + o, sizeof list - (size_t)o, "%s%s[%d]", i ? " " : "", parts->elems[i].topic,
                  (int)parts->elems[i].partition);
  es_info(err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "partitions_assigned" : "partitions_revoked", "%s%s", list,
          err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && rd_kafka_assignment_lost(rk) ? " (lost)" : "");
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (coop) e = rd_kafka_incremental_assign(rk, parts);
    else rd_kafka_assign(rk, parts);
  } else {
    if (w->producer && !w->failed && !w->recover) {
      if (rd_kafka_assignment_lost(rk)) {
        if (w->txn_msgs > 0) {
          /* abort, drop the lost partitions, rewind the ones still ours */
          es_warn("transaction_abort", "partitions lost: aborting %zu messages", w->txn_msgs);
          es_metric_add(w->m_txn, 1, "aborted");
          rd_kafka_error_t *ae = rd_kafka_abort_transaction(w->producer, -1);
          if (ae) {
            txn_fatal(w, "abort_transaction", ae);
            rd_kafka_error_destroy(ae);
          }
          if (coop) {
            rd_kafka_error_t *ue = rd_kafka_incremental_unassign(rk, parts);
            if (ue) rd_kafka_error_destroy(ue);
          } else {
            rd_kafka_assign(rk, NULL);
          }
          if (!w->failed) rewind_assignment(w);
          txn_begin(w);
          update_assigned(w, rk);
          return;
        }
      } else {
        txn_commit(w);
      }
    }
    if (coop) e = rd_kafka_incremental_unassign(rk, parts);
    else rd_kafka_assign(rk, NULL);
  }
  if (e) {
    es_error("rebalance", "%s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  update_assigned(w, rk);
}

static int open_corrections(worker *w) {
  const char *p = w->cfg->corrections_file;
  char buf[1024];
  if (!p || !*p) {
    snprintf(buf, sizeof buf, "%s/corrections.jsonl", w->cfg->common.state_dir);
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

static int producer_start(worker *w) {
  char err[512];
  w->producer = es_kafka_producer_new(w->cfg->common.kafka_brokers, "escucha-classify", on_delivery, w, w->pextra, err,
                                      sizeof err);
  if (!w->producer) {
    es_error("kafka_producer", "%s", err);
    return -1;
  }
  if (!w->eos) return 0;
  /* fences an earlier incarnation with the same id and aborts its open transaction */
  rd_kafka_error_t *e = rd_kafka_init_transactions(w->producer, 60000);
  if (e) {
    es_error("kafka_transactions", "init_transactions (%s): %s", w->txid, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
  }
  es_info("transactions", "exactly-once with transactional.id %s", w->txid);
  txn_begin(w);
  return 0;
}

/* tax: the validated taxonomy (taken over). */
static int start(worker *w, es_taxonomy *tax) {
  char cbuf[1024];
  const char *carr[34];
  const char *const *pextra = kv_list(w->cfg->common.kafka_producer_config, w->pbuf, sizeof w->pbuf, w->parr, 34);
  const char *const *cextra = kv_list(w->cfg->common.kafka_consumer_config, cbuf, sizeof cbuf, carr, 34);
  char err[512], mp[1024];
  (void)model_changed(w); /* the file as loaded now (before: a replacement during the load is seen next) */
  w->model_checked_ns = es_mono_ns();
  w->cls = cl_classifier_open(model_path(w, mp, sizeof mp), tax, w->cfg->confidence_threshold, 1, err, sizeof err);
  if (!w->cls) {
    es_error("model_load", "%s", err);
    return -1;
  }
  set_model_gauge(w);
  es_info("model_loaded", "model %s, taxonomy %zu subcategories", w->model_version,
          cl_classifier_taxonomy(w->cls)->nsubs);
  const char *brokers = w->cfg->common.kafka_brokers;
  w->eos = w->cfg->delivery == DELIVERY_EOS; /* the only other value: at-least-once */
  char *txid = w->txid, *txto = w->txto, *msgto = w->msgto;
  const char **txarr = w->txarr;
  if (w->eos) {
    /* transactional.id + timeouts first, the operator's producer settings after */
    const char *id = w->cfg->transactional_id;
    if (id && *id) {
      snprintf(txid, sizeof w->txid, "%s", id);
    } else {
      char host[256] = "localhost";
      gethostname(host, sizeof host - 1);
      snprintf(txid, sizeof w->txid, "escucha-classify-%s-%ld", host, w->cfg->admin_port);
    }
    long tto = w->cfg->transaction_timeout_ms;
    if (tto < 1000) tto = 1000;
    snprintf(txto, sizeof w->txto, "%ld", tto);
    snprintf(msgto, sizeof w->msgto, "%ld", tto - 500); /* must not exceed transaction.timeout.ms */
    w->commit_ms = w->cfg->commit_interval_ms;
    w->commit_max = w->cfg->commit_messages;
    if (w->commit_max < 1) w->commit_max = 1;
    int n = 0;
    txarr[n++] = "transactional.id", txarr[n++] = txid;
    txarr[n++] = "transaction.timeout.ms", txarr[n++] = txto;
    txarr[n++] = "message.timeout.ms", txarr[n++] = msgto;
    for (const char *const *kv = pextra; kv && kv[0] && kv[1] && n + 3 < 48; kv += 2)
      txarr[n++] = kv[0], txarr[n++] = kv[1];
    txarr[n] = NULL;
    pextra = txarr;
  }
  w->pextra = pextra;
  w->fatal_after = w->cfg->test_fatal_after;
  if (producer_start(w) != 0) return -1;
  const char *ct = w->cfg->corrections_topic;
  const char *topics[2] = {w->cfg->input_topic, ct};
  int ntopics = ct && *ct ? 2 : 1;
  w->consumer = w->eos ? es_kafka_consumer_new_txn(brokers, w->cfg->group, "escucha-classify", topics, ntopics, cextra,
                                                   on_rebalance, w, err, sizeof err)
                       : es_kafka_consumer_new(brokers, w->cfg->group, "escucha-classify", topics, ntopics, cextra, err,
                                               sizeof err);
  if (!w->consumer) {
    es_error("kafka_consumer", "%s", err);
    return -1;
  }
  return open_corrections(w);
}

/* Replaces a producer that hit a fatal error; init_transactions aborts its
 * open transaction, and the input is re-read from the committed offsets. */
static int recover(worker *w) {
  es_kafka_producer_close(w->producer, 0);
  w->producer = NULL;
  es_kafka_fatal = 0; /* it was the producer's (checked by the caller) */
  w->recover = 0;
  if (producer_start(w) != 0) return -1;
  rewind_assignment(w);
  if (w->failed) return -1;
  es_metric_add(w->m_txn, 1, "recovered");
  es_info("transaction_recovered", "new producer ready; re-reading from the committed offsets");
  return 0;
}

/* Drain: wait (bounded) for delivery reports so their offsets get stored. */
static void drain(worker *w) {
  uint64_t deadline = es_mono_ns() + 15ull * 1000000000ull;
  while (w->head != w->tail && !w->failed && es_mono_ns() < deadline) {
    rd_kafka_poll(w->producer, 100);
    drain_done(w);
  }
  if (w->head != w->tail)
    es_warn("drain_incomplete", "%zu messages not acknowledged; they will be re-read", w->tail - w->head);
}

static void stop(worker *w) {
  if (w->eos && w->producer && w->consumer && !es_kafka_fatal) txn_commit(w);
  if (w->producer && !w->eos) drain(w);
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
  w.cfg = &C;
  int pr = es_config_parse(OPTS, "escucha-classify",
                           "[serve|train|eval|predict] [options]\n"
                           "  (train/eval/predict: run `escucha-classify train --help` etc.)",
                           argc, argv, first, NULL, NULL);
  if (pr != 0) {
    es_config_free(OPTS);
    return pr > 0 ? 0 : 2;
  }
  es_log_init("classify", ES_LOG_LEVELS[C.common.log_level]);
  es_install_signals();
  /* lib's validating reader, before anything starts: the same refusal (and
   * exit code, as a bad option) as prioritize and actions give this file */
  char err[512];
  es_taxonomy *tax = NULL;
  if (es_taxonomy_load(C.taxonomy ? C.taxonomy : "", &tax, err, sizeof err) != 0) {
    es_error("taxonomy_invalid", "%s", err);
    es_config_free(OPTS);
    return 2;
  }
  init_metrics(&w);
  es_process_watch_dir(C.common.state_dir); /* escucha_state_disk_*_bytes */
  if (es_admin_start(C.common.admin_host, (int)C.admin_port) != 0)
    es_warn("admin", "admin server did not start on port %ld", C.admin_port);
  int rc = 1;
  if (start(&w, tax) == 0) {
    es_admin_set_ready(1);
    es_info("started", "consuming %s as group %s", C.input_topic, C.group);
    while (!es_stopping) {
      /* a fatal producer error seen before any transaction call reported it */
      if (es_kafka_fatal && w.eos && !w.failed && !w.recover && !rd_kafka_fatal_error(w.consumer, NULL, 0)) {
        char why[256];
        rd_kafka_resp_err_t fe = rd_kafka_fatal_error(w.producer, why, sizeof why);
        producer_fatal(&w, "producer", fe, why);
      }
      if (es_stopping || (es_kafka_fatal && !w.recover)) break;
      if (w.recover && recover(&w) != 0) {
        w.failed = 1;
        break;
      }
      maybe_reload(&w);
      rd_kafka_message_t *m = rd_kafka_consumer_poll(w.consumer, 100);
      if (m) handle(&w, m);
      rd_kafka_poll(w.producer, 0);
      if (w.eos) txn_maybe_commit(&w);
      else drain_done(&w);
    }
    es_admin_set_ready(0);
    rc = w.failed || es_kafka_fatal ? 1 : 0;
  }
  stop(&w);
  es_info("stopped", "exit %d", rc);
  es_config_free(OPTS);
  return rc;
}
