/* escucha-prioritize: classified feedback -> PostgreSQL aggregates, ranked
 * priorities and action requests. One loop: collect a batch (N messages or
 * T ms), write it in one PostgreSQL transaction, publish, then store offsets.
 * While PostgreSQL inserts a batch, the next one is polled and decoded (one
 * thread: the store calls back between sending the COPY and reading its
 * result), and the previous batch's texts feed the emerging-topics sketch.
 * PostgreSQL down -> the assignment is paused and the batch retried with
 * backoff; nothing is acknowledged that is not committed. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "config.h"
#include "effect.h"
#include "emerging.h"
#include "escucha/v1/escucha.pb-c.h"
#include "kafka.h"
#include "log.h"
#include "process.h"
#include "metrics.h"
#include "search.h"
#include "spacesaving.h"
#include "store.h"
#include "taxonomy.h"
#include "vector.h"
#include "util.h"

/* The options, typed and bound to their fields (lib/config.h). */
static struct {
  es_common_cfg common;
  const char *group, *migrations_dir, *taxonomy, *weights, *quiet_topics;
  long admin_port, batch_size, batch_ms, batch_idle_ms, close_after, cooldown, min_volume, history_windows,
      rank_interval, publish_top, emerging_capacity, emerging_ngram, emerging_interval, contact_retention,
      contact_purge_interval, effect_days, effect_min_events, search_rows, search_gap_ms, derive_max_lag;
  double open_threshold, close_threshold, ewma_alpha, spike_p, emerging_confidence, rank_share;
  int action_window, action_level; /* PZ_HOUR..PZ_WEEK; 0 category, 1 subcategory */
  int search_vectors, derive_thread;
} C;

static const char *const WINDOWS[] = {"hour", "day", "week", NULL}; /* PZ_WINDOW_NAMES order */
static const char *const LEVELS[] = {"category", "subcategory", NULL};

static es_opt OPTS[] = {
    ES_COMMON_OPTS(C.common),
    ES_LONG("admin-port", "9103", 0, ES_PORT_MAX, "Port for /metrics /healthz /readyz", &C.admin_port),
    ES_STR("group", "escucha-prioritize", "Consumer group", &C.group),
    ES_STR("migrations-dir", "migrations", "SQL migrations applied at start (empty = skip)", &C.migrations_dir),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy JSON (topic labels; empty: none, labels are ids)",
           &C.taxonomy),
    ES_LONG("batch-size", "5000", 1, 1000000, "Most messages per PostgreSQL transaction", &C.batch_size),
    ES_LONG("batch-ms", "200", 0, 3600000, "Longest wait to fill a batch (ms)", &C.batch_ms),
    ES_LONG("batch-idle-ms", "10", 0, 3600000,
            "A batch closes early when no message came for this long (ms; >= batch-ms: never early)", &C.batch_idle_ms),
    ES_LONG("search-fill-rows", "5000", 1, 1000000,
            "Most full-text vectors per fill (after each commit, on a second connection)", &C.search_rows),
    ES_LONG("search-fill-gap-ms", "200", 0, 60000,
            "Least time between two fills unless the last one stopped at search-fill-rows (ms; 0: a fill per commit)",
            &C.search_gap_ms),
    ES_BOOL("search-vectors", "on",
            "Make full-text vectors here when the text allows it exactly (off: PostgreSQL's parser makes all)",
            &C.search_vectors),
    ES_BOOL("derive-thread", "on",
            "Aggregates and rankings on a second connection and thread, after each batch's rows commit"
            " (off: in the rows' transaction)",
            &C.derive_thread),
    ES_LONG("derive-max-lag-ms", "30000", 1000, 86400000,
            "With derive-thread: consumption pauses while the oldest queued batch is older than this,"
            " until it is half as old",
            &C.derive_max_lag),
    ES_STR("weights", "volume=0.25,negative=0.25,spike=0.25,nps=0.15,urgency=0.10",
           "Score weights (docs/prioritization.md)", &C.weights),
    ES_DOUBLE("open-threshold", "0.5", 0, 1, "Score at which an action plan opens", &C.open_threshold),
    ES_DOUBLE("close-threshold", "0.3", 0, 1, "Score under which an open plan starts to close", &C.close_threshold),
    ES_LONG("close-after", "3600", 0, 31536000, "Seconds below the close threshold before closing", &C.close_after),
    ES_LONG("cooldown", "86400", 0, 31536000, "Seconds after a close before the topic may reopen", &C.cooldown),
    ES_LONG("min-volume", "20", 0, LONG_MAX, "Fewest feedback in the window to open a plan", &C.min_volume),
    ES_STR("quiet-topics", "other,praise", "Categories ranked but never given an action plan", &C.quiet_topics),
    ES_ENUM("action-window", "hour", WINDOWS, "Window driving action plans", &C.action_window),
    ES_ENUM("action-level", "category", LEVELS, "Topics that open plans", &C.action_level),
    ES_LONG("history-windows", "8", 1, 1000, "Earlier windows in the EWMA baseline", &C.history_windows),
    ES_DOUBLE("ewma-alpha", "0.3", 0, 1, "EWMA smoothing factor of the baseline (above 0)", &C.ewma_alpha),
    ES_DOUBLE("spike-p", "0.001", 0, 1, "Poisson p-value under which a topic is spiking", &C.spike_p),
    ES_LONG("rank-interval", "1000", 0, 86400000, "Rank an agency at most every N ms (0 = every batch)",
            &C.rank_interval),
    ES_DOUBLE("rank-share", "0.5", 0.05, 1,
              "Share of the service's time ranking may take; a round over more agencies is spread", &C.rank_share),
    ES_LONG("publish-top", "10", 0, 100000, "PriorityUpdates per agency x window x level and batch", &C.publish_top),
    ES_DOUBLE("emerging-confidence", "0.5", 0, 1, "Confidence under which feedback feeds emerging topics",
              &C.emerging_confidence),
    ES_LONG("emerging-capacity", "1000", 1, 10000000, "Space-Saving sketch size (entries)", &C.emerging_capacity),
    ES_LONG("emerging-ngram", "2", 1, 3, "Words per emerging-topic n-gram", &C.emerging_ngram),
    ES_LONG("emerging-interval", "60", 1, 86400, "Seconds between emerging-topic reports", &C.emerging_interval),
    ES_LONG("effect-days", "28", 0, 3650,
            "Effectiveness check: days after a plan's closure compared with as many before (0: no check)",
            &C.effect_days),
    ES_LONG("effect-min-events", "10", 1, 1000000,
            "Effectiveness check: fewer complaints than this before and after together is inconclusive",
            &C.effect_min_events),
    ES_LONG("contact-retention", "180", 1, 3650, "Days a reporter's sealed contact is kept after the feedback arrived",
            &C.contact_retention),
    ES_LONG("contact-purge-interval", "3600", 1, 86400,
            "Seconds between purges of expired contacts and those already told the final outcome",
            &C.contact_purge_interval),
    ES_OPT_END,
};

static struct {
  es_metric *messages, *rows, *dupes, *batch_latency, *pg_errors, *tracked, *spikes, *plans, *published, *paused,
      *emerging, *ranked_at, *rank_wait, *aggregate_lag, *contacts_purged, *searchable, *vectors_here,
      *vectors_verified, *vectors_differ;
} M;

static void metrics_init(void) {
  M.messages = es_counter("escucha_prioritize_messages_total", "Classified messages consumed", "result", NULL);
  M.rows = es_counter("escucha_prioritize_rows_written_total", "New feedback rows committed", NULL);
  M.dupes = es_counter("escucha_prioritize_duplicates_total", "Feedback already stored (replays, duplicates)", NULL);
  M.batch_latency = es_histogram("escucha_prioritize_batch_seconds", "PostgreSQL batch transaction latency",
                                 ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, NULL);
  M.pg_errors = es_counter("escucha_prioritize_pg_errors_total", "Failed PostgreSQL batches", NULL);
  M.tracked = es_gauge("escucha_prioritize_topics_tracked", "Topic windows ranked by the last batch", NULL);
  M.aggregate_lag = es_gauge("escucha_prioritize_aggregate_lag_seconds",
                             "Age of the oldest batch in aggregate_queue, one being applied included (0: empty)", NULL);
  M.ranked_at = es_gauge("escucha_prioritize_last_ranked_timestamp_seconds",
                         "When a ranking was last committed (Unix time): the dashboard's freshness", NULL);
  M.rank_wait = es_gauge("escucha_prioritize_rank_wait_seconds",
                         "Longest an agency ranked by the last ranking waited since its first unranked rows", NULL);
  M.contacts_purged = es_counter("escucha_prioritize_contacts_purged_total",
                                 "Sealed contacts deleted (expired, or told the final outcome)", NULL);
  M.searchable = es_counter("escucha_prioritize_search_rows_total",
                            "Full-text vectors filled after commit (the item is then searchable)", NULL);
  M.vectors_here = es_counter("escucha_prioritize_search_vectors_made_here_total",
                              "Of those, vectors this service made instead of the database's parser", NULL);
  M.vectors_verified = es_counter("escucha_prioritize_search_vectors_verified_total",
                                  "Vectors made here that a verifying fill compared with the database's", NULL);
  M.vectors_differ =
      es_counter("escucha_prioritize_search_vectors_differ_total",
                 "Vectors made here that a verifying fill found different (then the database makes all)", NULL);
  M.spikes = es_counter("escucha_prioritize_spikes_total", "Topic windows that started spiking", NULL);
  M.plans = es_counter("escucha_prioritize_action_plans_total", "Action plans opened/closed", "event", NULL);
  M.published = es_counter("escucha_prioritize_published_total", "Messages produced", "topic", "result", NULL);
  M.paused = es_gauge("escucha_prioritize_paused", "1 while consumption waits for PostgreSQL", NULL);
  M.emerging =
      es_gauge("escucha_prioritize_emerging_top_count", "Upper-bound count of the top emerging n-grams", "rank", NULL);
}

/* ---- configuration ---- */

static int build_cfg(pz_store_cfg *c) {
  pz_store_cfg_default(c);
  if (pz_params_parse_weights(&c->params, C.weights) != 0) {
    es_error("config_error", "bad --weights (volume=,negative=,spike=,nps=,urgency=)");
    return -1;
  }
  c->params.ewma_alpha = C.ewma_alpha;
  c->hyst.open_threshold = C.open_threshold;
  c->hyst.close_threshold = C.close_threshold;
  c->hyst.close_after_ms = C.close_after * 1000;
  c->hyst.cooldown_ms = C.cooldown * 1000;
  c->hyst.min_volume = (uint64_t)C.min_volume;
  c->quiet_topics = C.quiet_topics;
  c->contact_retention_days = (int)C.contact_retention;
  c->effect_days = (int)C.effect_days;
  c->effect_min_events = (int)C.effect_min_events;
  c->history_windows = (int)C.history_windows;
  c->action_window = C.action_window;
  c->action_level = C.action_level + 1;
  c->spike_p = C.spike_p;
  c->rank_interval_ms = (int)C.rank_interval;
  c->rank_share = C.rank_share;
  c->publish_top = (int)C.publish_top;
  c->emerging_confidence = C.emerging_confidence;
  c->derive_later = C.derive_thread;
  if (c->hyst.open_threshold <= c->hyst.close_threshold) {
    es_error("config_error", "open-threshold must be above close-threshold (hysteresis)");
    return -1;
  }
  if (c->action_window < 0 || c->history_windows < 1 || c->history_windows > 1000 ||
      !(c->params.ewma_alpha > 0 && c->params.ewma_alpha <= 1)) {
    es_error("config_error", "bad action-window, history-windows or ewma-alpha");
    return -1;
  }
  return 0;
}

/* ---- delivery tracking ---- */

typedef struct {
  int done, ok;
} dr_slot;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  dr_slot *s = m->_private;
  if (!s) { /* a PriorityUpdate: counted only */
    es_metric_add(M.published, 1, ES_TOPIC_PRIORITIES, m->err ? "failed" : "ok");
    return;
  }
  s->done = 1;
  s->ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Waits for every delivery report (bounded by message.timeout.ms). */
static void wait_deliveries(rd_kafka_t *p) {
  while (rd_kafka_outq_len(p) > 0 && rd_kafka_flush(p, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
    if (es_stopping && rd_kafka_outq_len(p) == 0) break;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the batch ---- */

typedef struct batch {
  rd_kafka_message_t **msgs; /* every message, stored after commit */
  Escucha__V1__ClassifiedFeedback **pb;
  pz_row *rows;
  size_t n, nrows, cap;
  size_t *dlq; /* indices of messages for the DLQ */
  char (*why)[96];
  size_t ndlq;
} batch;

static int batch_init(batch *b, size_t cap) {
  memset(b, 0, sizeof *b);
  b->cap = cap;
  b->msgs = calloc(cap, sizeof *b->msgs);
  b->pb = calloc(cap, sizeof *b->pb);
  b->rows = calloc(cap, sizeof *b->rows);
  b->dlq = calloc(cap, sizeof *b->dlq);
  b->why = calloc(cap, sizeof *b->why);
  return b->msgs && b->pb && b->rows && b->dlq && b->why ? 0 : -1;
}

static void batch_clear(batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    if (b->pb[i]) escucha__v1__classified_feedback__free_unpacked(b->pb[i], NULL);
    rd_kafka_message_destroy(b->msgs[i]);
    b->pb[i] = NULL;
  }
  b->n = b->nrows = b->ndlq = 0;
}

static void batch_free(batch *b) {
  batch_clear(b);
  free(b->msgs);
  free(b->pb);
  free(b->rows);
  free(b->dlq);
  free(b->why);
}

/* Takes ownership of m. Bad messages are kept (their offsets must be stored
 * too) and marked for the DLQ. */
static void batch_add(batch *b, rd_kafka_message_t *m) {
  size_t i = b->n++;
  b->msgs[i] = m;
  b->pb[i] = escucha__v1__classified_feedback__unpack(NULL, m->len, m->payload);
  if (!b->pb[i]) snprintf(b->why[b->ndlq], sizeof b->why[0], "protobuf decode failed");
  else if (pz_row_from_pb(b->pb[i], &b->rows[b->nrows], b->why[b->ndlq], sizeof b->why[0]) == 0) {
    b->nrows++;
    es_metric_add(M.messages, 1, "ok");
    return;
  }
  b->dlq[b->ndlq++] = i;
  es_metric_add(M.messages, 1, "dlq");
}

/* Returns the next message or NULL; drops transient errors. */
static rd_kafka_message_t *poll_one(rd_kafka_t *c, int timeout_ms) {
  rd_kafka_message_t *m = rd_kafka_consumer_poll(c, timeout_ms);
  if (!m) return NULL;
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) es_warn("kafka_consume_error", "%s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return NULL;
  }
  return m;
}

/* The search fill (search.h): never waits; called wherever the loop waits. */
static void search_step(pz_search *f, int poke) {
  long n = pz_search_step(f, poke);
  if (n > 0) es_metric_add(M.searchable, (double)n);
  long used, verified, differ;
  pz_search_take(f, &used, &verified, &differ);
  if (used > 0) es_metric_add(M.vectors_here, (double)used);
  if (verified > 0) es_metric_add(M.vectors_verified, (double)verified);
  if (differ > 0) es_metric_add(M.vectors_differ, (double)differ);
}

/* Fills b until it is full, batch_ms after it was started, or no message came for idle_ms.
 * Classify's transactions reach a read_committed consumer as bursts (one per commit): the
 * idle close writes each burst when it is in instead of waiting out batch_ms (up to 200 ms
 * of latency at a steady load), while a backlog, which never pauses, still fills batches. */
static void collect(rd_kafka_t *c, batch *b, long batch_ms, long idle_ms, pz_search *f) {
  uint64_t deadline = es_mono_ns() + (uint64_t)batch_ms * 1000000ULL;
  while (b->n < b->cap && !es_stopping) {
    search_step(f, 0);
    uint64_t now = es_mono_ns();
    int wait = 100;
    if (b->n > 0) {
      if (now >= deadline) return;
      long left = (long)((deadline - now) / 1000000ULL);
      wait = (int)(idle_ms < left ? idle_ms : left);
    }
    rd_kafka_message_t *m = poll_one(c, wait);
    if (m) batch_add(b, m);
    else if (b->n > 0 && (wait == idle_ms || es_mono_ns() >= deadline)) return;
    else if (b->n == 0) return; /* idle: let the caller do periodic work */
  }
}

static void set_paused(rd_kafka_t *c, int pause) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  if (rd_kafka_assignment(c, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return;
  if (pause) rd_kafka_pause_partitions(c, parts);
  else rd_kafka_resume_partitions(c, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  es_metric_set(M.paused, pause ? 1 : 0);
}

/* A message that fits in no batch: rewind its partition so it is fetched
 * again (dropping it would let a later stored offset skip it). */
static void rewind_to(rd_kafka_t *c, rd_kafka_message_t *m) {
  char err[256];
  if (es_kafka_rewind(c, m, err, sizeof err) != 0) es_warn("kafka_seek_failed", "%s", err);
  rd_kafka_message_destroy(m);
}

/* Writes the batch, retrying with backoff while PostgreSQL is unavailable.
 * Messages polled meanwhile go to b, else to next. Returns 0 once committed,
 * -1 when stopping first. */
static int write_until_committed(pz_store *st, rd_kafka_t *c, batch *b, batch *next, const char *mig,
                                 pz_batch_result *res) {
  long backoff = 100;
  int paused = 0;
  for (;;) {
    uint64_t t0 = es_mono_ns();
    if (pz_store_connect(st, mig) == 0 && pz_store_write(st, b->rows, b->nrows, res) == 0) {
      es_metric_observe(M.batch_latency, (double)(es_mono_ns() - t0) / 1e9);
      if (paused) {
        set_paused(c, 0);
        es_info("pg_recovered", "resuming consumption");
      }
      es_admin_set_ready(1);
      es_admin_set_status("pg=ok");
      return 0;
    }
    es_metric_add(M.pg_errors, 1);
    if (!paused) es_warn("pg_unavailable", "batch of %zu not committed; pausing consumption", b->n);
    paused = 1;
    es_admin_set_ready(0);
    es_admin_set_status("pg=down");
    set_paused(c, 1); /* again each round: a rebalance may have added partitions */
    /* Poll (not sleep) so the group membership stays alive; a paused
     * consumer returns no messages, except from partitions assigned since. */
    uint64_t until = es_mono_ns() + (uint64_t)backoff * 1000000ULL;
    while (!es_stopping && es_mono_ns() < until) {
      rd_kafka_message_t *m = poll_one(c, 50);
      if (m && b->n < b->cap) batch_add(b, m);
      else if (m && next->n < next->cap) batch_add(next, m);
      else if (m) rewind_to(c, m);
    }
    if (es_stopping) return -1;
    backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
  }
}

/* ---- publishing ---- */

/* PriorityUpdates are a view of committed state: a lost one is replaced by the
 * next batch's, so they are not waited for (opaque NULL: the delivery callback
 * only counts them). */
static void publish_priorities(rd_kafka_t *p, const pz_batch_result *res, int poll) {
  for (size_t i = 0; i < res->nprio; i++) {
    const pz_priority *pr = &res->prio[i];
    Escucha__V1__PriorityUpdate u;
    Escucha__V1__WilsonInterval ci;
    Escucha__V1__PriorityUpdate__FactorsEntry fe[16], *fv[16];
    size_t nf;
    pz_priority_to_pb(pr, &u, &ci, fe, fv, &nf);
    size_t len = escucha__v1__priority_update__get_packed_size(&u);
    unsigned char *buf = malloc(len ? len : 1);
    char key[512];
    int klen = snprintf(key, sizeof key, "%s/%s", pr->agency, pr->topic);
    if (!buf) continue;
    escucha__v1__priority_update__pack(&u, buf);
    if (es_kafka_produce(p, ES_TOPIC_PRIORITIES, RD_KAFKA_PARTITION_UA, key,
                         (size_t)klen < sizeof key ? (size_t)klen : sizeof key - 1, buf, len,
                         NULL) != RD_KAFKA_RESP_ERR_NO_ERROR)
      es_metric_add(M.published, 1, ES_TOPIC_PRIORITIES, "failed");
    free(buf);
  }
  if (poll) rd_kafka_poll(p, 0); /* serve delivery reports */
}

/* DLQ messages must be delivered before their offsets are stored. */
static int publish_dlq(rd_kafka_t *p, batch *b) {
  dr_slot *slots = calloc(b->ndlq + 1, sizeof *slots);
  if (!slots) return -1;
  int rc = -1;
  long backoff = 200;
  for (;;) {
    int pending = 0;
    for (size_t i = 0; i < b->ndlq; i++) {
      if (slots[i].ok) continue;
      slots[i] = (dr_slot){0, 0};
      if (es_kafka_dlq(p, "prioritize", b->why[i], b->msgs[b->dlq[i]], NULL, 0, &slots[i]) != 0)
        slots[i] = (dr_slot){1, 0};
      pending++;
    }
    if (!pending) break;
    wait_deliveries(p);
    int failed = 0;
    for (size_t i = 0; i < b->ndlq; i++) failed += !slots[i].ok;
    es_metric_add(M.published, (double)(b->ndlq - (size_t)failed), ES_TOPIC_DLQ, "ok");
    if (!failed) break;
    es_metric_add(M.published, failed, ES_TOPIC_DLQ, "failed");
    if (es_stopping) goto cleanup;
    sleep_ms(backoff);
    backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
  }
  rc = 0;
cleanup:
  free(slots);
  return rc;
}

/* Sends undelivered action requests (outbox) and marks the delivered ones. */
static void publish_outbox(pz_store *st, rd_kafka_t *p) {
  pz_outbox_item *items;
  int n = pz_store_outbox(st, &items, 100);
  if (n <= 0) {
    pz_outbox_free(n < 0 ? NULL : items, 0);
    return;
  }
  dr_slot *slots = calloc((size_t)n, sizeof *slots);
  for (int i = 0; slots && i < n; i++)
    if (es_kafka_produce(p, ES_TOPIC_ACTIONS_REQUESTED, RD_KAFKA_PARTITION_UA, items[i].key, strlen(items[i].key),
                         items[i].payload, items[i].len, &slots[i]) != 0)
      slots[i] = (dr_slot){1, 0};
  wait_deliveries(p);
  for (int i = 0; slots && i < n; i++) {
    es_metric_add(M.published, 1, ES_TOPIC_ACTIONS_REQUESTED, slots[i].ok ? "ok" : "failed");
    if (slots[i].ok && pz_store_outbox_done(st, items[i].plan_id) == 0)
      es_info("action_requested", "plan=%s key=%s", items[i].plan_id, items[i].key);
  }
  free(slots);
  pz_outbox_free(items, n);
}

/* ---- emerging topics ---- */

static void emerging_report(pz_ss *ss, pz_store *st) {
  enum { TOP = 10 };
  pz_ss_item top[TOP];
  size_t n = pz_ss_top(ss, top, TOP);
  if (n == 0) return;
  const char *keys[TOP];
  uint64_t counts[TOP], errors[TOP];
  es_buf line = {0};
  for (size_t i = 0; i < n; i++) {
    keys[i] = top[i].key, counts[i] = top[i].count, errors[i] = top[i].error;
    char rank[24];
    snprintf(rank, sizeof rank, "%zu", i + 1);
    es_metric_set(M.emerging, (double)top[i].count, rank);
    const char *sep = strchr(top[i].key, '\x1f');
    es_buf_printf(&line, "%s%.*s:%s=%llu", i ? ", " : "", sep ? (int)(sep - top[i].key) : 0, top[i].key,
                  sep ? sep + 1 : top[i].key, (unsigned long long)top[i].count);
  }
  es_info("emerging_topics", "%s", line.data ? line.data : "");
  es_buf_free(&line);
  if (pz_store_connected(st)) pz_store_emerging(st, keys, counts, errors, (int)n);
}

/* ---- main loop ---- */

typedef struct svc {
  pz_store *st;
  pz_search *search; /* full-text vectors of committed rows */
  pz_vector *vec;    /* ... made here when it can (NULL: all by the database) */
  es_buf vbuf;
  rd_kafka_t *producer, *consumer;
  pz_ss *ss;
  const char *mig;
  int ngram;
  batch *next;             /* filled while the current batch is written */
  pz_batch_result pending; /* committed texts not yet in the sketch (emerging only) */
  struct deriver *d;       /* --derive-thread: aggregates and rankings (NULL: off) */
  uint64_t next_lag_check; /* derive_backpressure */
} svc;

/* Texts of committed batches into the emerging-topics sketch. */
static void feed_pending(svc *s) {
  pz_batch_result *p = &s->pending;
  for (size_t i = 0; i < p->nemerging; i++)
    pz_emerging_add(s->ss, p->emerging[i].agency, p->emerging[i].text, s->ngram);
  pz_batch_result_free(p);
}

/* Moves res's committed texts to pending (fed during the next COPY). */
static void defer_emerging(svc *s, pz_batch_result *res) {
  pz_batch_result *p = &s->pending;
  if (res->nemerging == 0) return;
  if (p->nemerging + res->nemerging > p->capemerging) {
    size_t cap = p->nemerging + res->nemerging;
    pz_text *e = realloc(p->emerging, cap * sizeof *e);
    if (!e) { /* feed now instead */
      feed_pending(s);
      for (size_t i = 0; i < res->nemerging; i++)
        pz_emerging_add(s->ss, res->emerging[i].agency, res->emerging[i].text, s->ngram);
      return;
    }
    p->emerging = e, p->capemerging = cap;
  }
  memcpy(p->emerging + p->nemerging, res->emerging, res->nemerging * sizeof *res->emerging);
  p->nemerging += res->nemerging;
  res->nemerging = 0; /* ownership moved */
}

/* Runs while PostgreSQL inserts the current batch. */
static void overlap(void *arg) {
  svc *s = arg;
  uint64_t t0 = es_mono_ns();
  size_t had = s->next->n;
  search_step(s->search, 0);
  feed_pending(s);
  uint64_t t1 = es_mono_ns();
  while (s->next->n < s->next->cap && !es_stopping) { /* what has arrived, no waiting */
    rd_kafka_message_t *m = poll_one(s->consumer, 0);
    if (!m) break;
    batch_add(s->next, m);
  }
  es_debug("overlap_timing", "emerging_ms=%.1f decode_ms=%.1f decoded=%zu", (double)(t1 - t0) / 1e6,
           (double)(es_mono_ns() - t1) / 1e6, s->next->n - had);
}

static void rank_metrics(const pz_batch_result *res) {
  if (res->ranked) {
    es_metric_set(M.tracked, (double)res->ranked);
    es_metric_set(M.ranked_at, (double)es_now_ms() / 1e3);
    es_metric_set(M.rank_wait, (double)res->rank_wait_ns / 1e9);
  }
  es_metric_add(M.spikes, (double)res->new_spikes);
  es_metric_add(M.plans, (double)res->opened, "opened");
  es_metric_add(M.plans, (double)res->closed, "closed");
}

/* Metrics and messages for what a transaction ranked. */
static void after_rank(svc *s, const pz_batch_result *res) {
  rank_metrics(res);
  publish_priorities(s->producer, res, 1);
  if (res->opened) publish_outbox(s->st, s->producer);
}

static void after_commit(svc *s, batch *b, pz_batch_result *res) {
  es_metric_add(M.rows, (double)res->inserted);
  es_metric_add(M.dupes, (double)(b->nrows - res->inserted));
  defer_emerging(s, res);
  after_rank(s, res);
}

/* Agencies whose ranking was deferred (rank-interval); force when idle. */
static void rank_pending(svc *s, int force) {
  pz_batch_result res;
  if (!pz_store_connected(s->st)) return;
  if (pz_store_rank_pending(s->st, &res, force) != 0) {
    es_metric_add(M.pg_errors, 1);
    return;
  }
  after_rank(s, &res);
  pz_batch_result_free(&res);
}

/* ---- the derive thread (--derive-thread) ----
 * The rows' transaction queues each batch's aggregates (pz_store_derive); this
 * thread applies them and ranks on its own connection, so with many agencies
 * the rows are not held up by their upserts and rankings and two PostgreSQL
 * backends work at once. Shared with the main thread: the producer
 * (thread-safe; only the main thread polls it) and the flags below. */
typedef struct deriver {
  pthread_t thread;
  pz_store *st;
  rd_kafka_t *producer;
  atomic_int idle;   /* the main loop found no message: rank every pending agency */
  atomic_int stop;   /* the main loop ended: apply what is queued, then exit */
  atomic_int outbox; /* a plan opened: the main loop publishes the outbox */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int kicked; /* a batch committed (under mu) */
} deriver;

/* Waits up to ms for a commit's kick. */
static void derive_wait(deriver *d, long ms) {
  struct timespec ts;
  es_realtime_after_ms(&ts, ms);
  pthread_mutex_lock(&d->mu);
  while (!d->kicked && !atomic_load(&d->stop))
    if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) != 0) break;
  d->kicked = 0;
  pthread_mutex_unlock(&d->mu);
}

static void derive_kick(deriver *d) {
  pthread_mutex_lock(&d->mu);
  d->kicked = 1;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

static void derived(deriver *d, pz_batch_result *res) {
  rank_metrics(res);
  publish_priorities(d->producer, res, 0);
  if (res->opened) atomic_store(&d->outbox, 1);
  pz_batch_result_free(res);
}

static void *derive_run(void *arg) {
  deriver *d = arg;
  long backoff = 100;
  uint64_t stop_by = 0;
  for (;;) {
    int stop = atomic_load(&d->stop);
    if (stop && !stop_by) stop_by = es_mono_ns() + 10000000000ULL; /* what is left waits for the next start */
    if (stop && es_mono_ns() >= stop_by) break;
    pz_batch_result res;
    int r = pz_store_connect(d->st, NULL) == 0 ? pz_store_derive(d->st, &res) : -1;
    if (r < 0) {
      es_metric_add(M.pg_errors, 1);
      if (stop) break; /* queued batches stay queued */
      derive_wait(d, backoff);
      backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
      continue;
    }
    backoff = 100;
    if (r == 1) {
      derived(d, &res);
      continue;
    }
    /* Nothing queued: the rankings deferred by rank-interval, all of them when idle. */
    if (pz_store_rank_pending(d->st, &res, stop || atomic_load(&d->idle)) == 0) derived(d, &res);
    else es_metric_add(M.pg_errors, 1);
    if (stop) break;
    derive_wait(d, 100);
  }
  return NULL;
}

static void derive_free(deriver *d) {
  pz_store_free(d->st);
  pthread_cond_destroy(&d->cv);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static deriver *derive_start(const char *dsn, const pz_store_cfg *cfg, rd_kafka_t *producer) {
  deriver *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->producer = producer;
  d->st = pz_store_new(dsn, cfg);
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  if (d->st && pthread_create(&d->thread, NULL, derive_run, d) == 0) return d;
  derive_free(d);
  return NULL;
}

/* Applies what is queued (for at most 10 s), ranks what is pending, joins.
 * Returns whether a plan opened since the main loop last published the outbox. */
static int derive_stop(deriver *d) {
  if (!d) return 0;
  atomic_store(&d->stop, 1);
  derive_kick(d);
  pthread_join(d->thread, NULL);
  int opened = atomic_load(&d->outbox);
  derive_free(d);
  return opened;
}

/* The age of the oldest queued batch (escucha_prioritize_aggregate_lag_seconds),
 * -1 when it cannot be read. */
static int64_t queue_age(svc *s) {
  int64_t age;
  if (pz_store_queue_age(s->st, &age) != 0) return -1;
  es_metric_set(M.aggregate_lag, (double)age / 1e3);
  return age;
}

/* --derive-max-lag-ms: when the derive thread falls that far behind (more
 * agencies active than the machine ranks, or a stuck thread), consumption
 * pauses until the oldest queued batch is half as old: the backlog then waits
 * in Kafka (consumer lag, alerted on) instead of growing aggregate_queue.
 * Messages polled meanwhile go to the next batch. Checked every 200 ms. */
static void derive_backpressure(svc *s) {
  uint64_t now = es_mono_ns();
  if (!s->d || now < s->next_lag_check) return;
  s->next_lag_check = now + 200000000ULL;
  int64_t age = queue_age(s);
  if (age <= C.derive_max_lag) return;
  es_warn("derive_behind", "the oldest queued batch is %lld ms old; consumption paused until it is under %ld ms",
          (long long)age, C.derive_max_lag / 2);
  while (!es_stopping && (age < 0 || age > C.derive_max_lag / 2)) {
    set_paused(s->consumer, 1); /* again each round: a rebalance may have added partitions */
    uint64_t until = es_mono_ns() + 200000000ULL;
    while (!es_stopping && es_mono_ns() < until) {
      rd_kafka_message_t *m = poll_one(s->consumer, 50);
      if (m && s->next->n < s->next->cap) batch_add(s->next, m);
      else if (m) rewind_to(s->consumer, m);
    }
    derive_kick(s->d);
    age = queue_age(s);
  }
  set_paused(s->consumer, 0);
  es_info("derive_caught_up", "the oldest queued batch is %lld ms old; consuming again", (long long)age);
}

/* The full-text vectors of the rows just inserted, made here rather than by
 * the database's parser (vector.h): the next fill stores them. A text this
 * service does not do exactly is left to the database. */
static void give_vectors(svc *s, const batch *b) {
  if (!s->vec) return;
  for (size_t i = 0; i < b->nrows; i++) {
    const pz_row *r = &b->rows[i];
    if (!pz_store_inserted(s->st, i)) continue;
    s->vbuf.len = 0;
    int made = pz_vector_make(s->vec, r->language, r->text, r->text ? strlen(r->text) : 0, 1, &s->vbuf);
    if (made == 1 && pz_search_give(s->search, r->id, s->vbuf.data ? s->vbuf.data : "", s->vbuf.len) == 0) break;
  }
}

static int process(svc *s, batch *b) {
  pz_batch_result res;
  uint64_t t0 = es_mono_ns();
  if (write_until_committed(s->st, s->consumer, b, s->next, s->mig, &res) != 0) return -1;
  give_vectors(s, b);
  search_step(s->search, res.inserted > 0); /* the database fills while we publish and collect */
  uint64_t t1 = es_mono_ns();
  after_commit(s, b, &res);
  es_debug("publish_timing", "write_ms=%.1f publish_ms=%.1f", (double)(t1 - t0) / 1e6,
           (double)(es_mono_ns() - t1) / 1e6);
  pz_batch_result_free(&res);
  if (s->d) derive_kick(s->d);
  if (b->ndlq && publish_dlq(s->producer, b) != 0) return -1;
  /* Only now: PostgreSQL committed and the DLQ holds the rejects. */
  for (size_t i = 0; i < b->n; i++) es_kafka_store(s->consumer, b->msgs[i]);
  return 0;
}

static int run(svc *s) {
  batch bufs[2], *b = &bufs[0];
  int rc = 1;
  size_t cap = (size_t)C.batch_size;
  long batch_ms = C.batch_ms;
  uint64_t report_ns = (uint64_t)C.emerging_interval * 1000000000ULL;
  uint64_t next_report = es_mono_ns() + report_ns, next_outbox = 0, next_purge = 0;
  s->next = &bufs[1];
  int ok = batch_init(&bufs[0], cap < 1 ? 1 : cap) == 0;
  if (batch_init(&bufs[1], cap < 1 ? 1 : cap) != 0 || !ok) goto cleanup;
  pz_store_set_overlap(s->st, overlap, s);
  while (!es_stopping && !es_kafka_fatal) {
    uint64_t tc = es_mono_ns();
    size_t had = b->n;
    collect(s->consumer, b, batch_ms, C.batch_idle_ms, s->search);
    if (b->n)
      es_debug("collect_timing", "n=%zu overlapped=%zu collect_ms=%.1f", b->n, had, (double)(es_mono_ns() - tc) / 1e6);
    if (b->n > 0 && process(s, b) != 0) break;
    if (b->n == 0) feed_pending(s); /* idle */
    if (s->d) {
      atomic_store(&s->d->idle, b->n == 0);
      rd_kafka_poll(s->producer, 0); /* the derive thread's PriorityUpdates' reports */
      if (atomic_exchange(&s->d->outbox, 0) && pz_store_connect(s->st, s->mig) == 0) publish_outbox(s->st, s->producer);
      derive_backpressure(s);
    } else rank_pending(s, b->n == 0);
    batch_clear(b);
    batch *t = b; /* the batch decoded during the write is next */
    b = s->next, s->next = t;
    uint64_t now = es_mono_ns();
    if (now >= next_outbox) { /* retries requests whose delivery failed earlier */
      if (pz_store_connect(s->st, s->mig) == 0) publish_outbox(s->st, s->producer);
      next_outbox = now + 10000000000ULL;
    }
    if (now >= next_report) {
      emerging_report(s->ss, s->st);
      next_report = now + report_ns;
    }
    if (now >= next_purge) {
      long k = pz_store_purge_contacts(s->st);
      if (k > 0) es_metric_add(M.contacts_purged, (double)k);
      if (k > 0) es_info("contacts_purged", "%ld expired or closed contacts deleted", k);
      next_purge = now + (uint64_t)C.contact_purge_interval * 1000000000ULL;
    }
  }
  if (!s->d) rank_pending(s, 1); /* deferred rankings of what was committed */
  rc = es_kafka_fatal ? 1 : 0;
cleanup:
  pz_store_set_overlap(s->st, NULL, NULL);
  feed_pending(s);
  batch_free(&bufs[0]);
  batch_free(&bufs[1]);
  return rc;
}

/* The taxonomy through lib's validating reader: a file classify refuses is
 * refused here too (exit 2, like a bad option). An empty --taxonomy means
 * none (*tax NULL: labels are topic ids). 0 ok, -1 refused (logged). */
static int load_taxonomy(es_taxonomy **tax) {
  char err[512];
  *tax = NULL;
  if (!C.taxonomy || !*C.taxonomy) {
    es_warn("taxonomy_unavailable", "no --taxonomy: labels fall back to topic ids");
    return 0;
  }
  if (es_taxonomy_load(C.taxonomy, tax, err, sizeof err) != 0) {
    es_error("taxonomy_invalid", "%s", err);
    return -1;
  }
  return 0;
}

static int start(svc *s, pz_store_cfg *cfg, const es_taxonomy *tax) {
  char err[512];
  const char *brokers = C.common.kafka_brokers;
  cfg->taxonomy = tax;
  s->st = pz_store_new(C.common.pg_dsn, cfg);
  s->ss = pz_ss_new((size_t)C.emerging_capacity);
  s->search = pz_search_new(C.common.pg_dsn, C.search_rows);
  if (s->search) pz_search_set_gap(s->search, C.search_gap_ms);
  if (!s->st || !s->ss || !s->search) return -1;
  s->vec = C.search_vectors ? pz_vector_new() : NULL;
  if (C.search_vectors && !s->vec)
    es_warn("search_vectors_off", "no Snowball stemmer: the database makes every full-text vector");
  /* Migrations first: PostgreSQL may still be starting, so wait for it. */
  for (long backoff = 100; pz_store_connect(s->st, s->mig) != 0 && !es_stopping;) {
    es_admin_set_status("pg=down");
    sleep_ms(backoff);
    backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
  }
  if (es_stopping) return -1;
  s->producer = es_kafka_producer_new(brokers, "escucha-prioritize", on_delivery, NULL, NULL, err, sizeof err);
  if (!s->producer) {
    es_error("kafka_config_error", "%s", err);
    return -1;
  }
  const char *topics[] = {ES_TOPIC_CLASSIFIED};
  s->consumer = es_kafka_consumer_new(brokers, C.group, "escucha-prioritize", topics, 1, NULL, err, sizeof err);
  if (!s->consumer) {
    es_error("kafka_config_error", "%s", err);
    return -1;
  }
  if (C.derive_thread && !(s->d = derive_start(C.common.pg_dsn, cfg, s->producer))) {
    es_error("derive_thread_failed", "could not start the derive thread");
    return -1;
  }
  es_admin_set_status("pg=ok");
  es_admin_set_ready(1);
  return 0;
}

static void stop(svc *s) {
  if (derive_stop(s->d) && pz_store_connect(s->st, s->mig) == 0) publish_outbox(s->st, s->producer);
  s->d = NULL;
  if (s->consumer) es_kafka_consumer_close(s->consumer); /* commits stored offsets */
  if (s->producer) es_kafka_producer_close(s->producer, 10000);
  pz_store_free(s->st);
  pz_search_free(s->search); /* waits for the fill in flight */
  pz_vector_free(s->vec);
  es_buf_free(&s->vbuf);
  pz_ss_free(s->ss);
}

static void json_num(const char *key, double v, const char *sep) {
  if (isfinite(v)) printf("\"%s\":%.17g%s", key, v, sep);
  else printf("\"%s\":null%s", key, sep); /* NAN (undefined) and INFINITY (no complaint before) */
}

/* escucha-prioritize effect-stats XA:NA:XB:NB... : the effectiveness
 * statistics of each stratum and pooled, as JSON (checked against scipy by
 * tests/integration/test_effect_stats.py). */
static int effect_stats_cmd(int argc, char **argv) {
  es_effect_counts c[64];
  int n = 0;
  for (int i = 2; i < argc; i++) {
    unsigned long long v[4];
    char tail;
    if (n == 64 || sscanf(argv[i], "%llu:%llu:%llu:%llu%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) {
      fprintf(stderr, "effect-stats: give up to 64 strata as X_AFTER:N_AFTER:X_BEFORE:N_BEFORE\n");
      return 2;
    }
    c[n++] = (es_effect_counts){.x_after = v[0], .n_after = v[1], .x_before = v[2], .n_before = v[3]};
  }
  printf("{\"strata\":[");
  for (int i = 0; i < n; i++) {
    es_effect e;
    es_effect_compute(&c[i], 0.95, 10, &e);
    printf("%s{", i ? "," : "");
    json_num("rr", e.rr, ","), json_num("low", e.rr_low, ","), json_num("high", e.rr_high, ",");
    json_num("p_drop", e.p_drop, ",");
    printf("\"verdict\":\"%s\"}", ES_EFFECT_NAMES[e.verdict]);
  }
  double rr, lo, hi;
  printf("],\"pooled\":");
  if (es_effect_pooled(c, n, 0.95, &rr, &lo, &hi) == 0) {
    printf("{");
    json_num("rr", rr, ","), json_num("low", lo, ","), json_num("high", hi, "}}\n");
  } else printf("null}\n");
  return 0;
}

/* escucha-prioritize search-vector: for each JSON line {"language": L, "text": T}
 * on stdin, the line the service would give the search fill: the tsvector
 * literal, or "-" when the text is left to PostgreSQL (vector.h). For
 * tests/integration/test_search_vector.py and a look by hand. */
static int search_vector_cmd(void) {
  pz_vector *v = pz_vector_new();
  char *line = NULL;
  size_t cap = 0;
  es_buf out = {0};
  int rc = 2;
  if (!v) goto cleanup;
  for (ssize_t len; (len = getline(&line, &cap, stdin)) >= 0;) {
    json_error_t e;
    json_t *o = json_loadb(line, (size_t)len, 0, &e);
    const char *lang = json_string_value(json_object_get(o, "language"));
    json_t *t = json_object_get(o, "text");
    if (!o || !json_is_object(o) || (t && !json_is_string(t) && !json_is_null(t))) {
      fprintf(stderr, "search-vector: line is not {\"language\": ..., \"text\": ...}: %s\n", o ? "text" : e.text);
      json_decref(o);
      goto cleanup;
    }
    out.len = 0;
    int r = pz_vector_make(v, lang, json_string_value(t), json_string_length(t), 0, &out);
    json_decref(o);
    if (r < 0) goto cleanup;
    if (r == 0) fputs("-\n", stdout);
    else printf("%.*s\n", (int)out.len, out.data ? out.data : "");
  }
  rc = 0;
cleanup:
  free(line);
  es_buf_free(&out);
  pz_vector_free(v);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "effect-stats") == 0) return effect_stats_cmd(argc, argv);
  if (argc > 1 && strcmp(argv[1], "search-vector") == 0) return search_vector_cmd();
  int r = es_config_parse(OPTS, "escucha-prioritize", "[options | effect-stats XA:NA:XB:NB... | search-vector]", argc,
                          argv, 1, NULL, NULL);
  if (r != 0) {
    es_config_free(OPTS);
    return r > 0 ? 0 : 2;
  }
  es_log_init("prioritize", ES_LOG_LEVELS[C.common.log_level]);
  es_install_signals();
  metrics_init();
  pz_store_cfg cfg;
  if (build_cfg(&cfg) != 0) return 2;
  const char *mig = C.migrations_dir;
  svc s = {.mig = mig && *mig ? mig : NULL, .ngram = (int)C.emerging_ngram};
  if (s.ngram < 1 || s.ngram > 3) s.ngram = 2;
  es_taxonomy *tax = NULL;
  if (load_taxonomy(&tax) != 0) return 2;
  es_process_watch_dir(C.common.state_dir); /* escucha_state_disk_*_bytes */
  if (es_admin_start(C.common.admin_host, (int)C.admin_port) != 0) {
    es_taxonomy_free(tax);
    return 1;
  }
  int rc = 1;
  if (start(&s, &cfg, tax) == 0) {
    es_info("started", "consuming %s", ES_TOPIC_CLASSIFIED);
    rc = run(&s);
  }
  es_info("shutdown", "stopping");
  es_admin_set_ready(0);
  stop(&s);
  es_admin_stop();
  es_taxonomy_free(tax);
  es_config_free(OPTS);
  return es_stopping ? 0 : rc;
}
