#include "kafka.h"
#include "kafka_lag.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escucha/v1/escucha.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

volatile int es_kafka_fatal = 0;

typedef struct {
  es_kafka_dr_cb cb;
  void *opaque;
} dr_ctx;

static es_metric *m_errors(void) {
  static es_metric *m;
  if (!m) m = es_counter("escucha_kafka_errors_total", "Kafka client errors by code", "code", NULL);
  return m;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  (void)opaque;
  es_metric_add(m_errors(), 1, rd_kafka_err2name((rd_kafka_resp_err_t)err));
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    es_error("kafka_fatal", "%s: %s", rd_kafka_err2name(orig), buf);
    es_kafka_fatal = 1;
    return;
  }
  /* Transport errors are recovered by librdkafka itself; keep them at warn. */
  es_warn("kafka_error", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  if (strcmp(fac, "FAIL") == 0) return; /* the error callback reports these */
  es_log(level <= 3 ? ES_ERROR : level <= 4 ? ES_WARN : ES_DEBUG, "rdkafka", "%s: %s", fac, buf);
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  dr_ctx *ctx = opaque;
  if (ctx && ctx->cb) ctx->cb(rk, m, ctx->opaque);
}

/* Operator overrides, "k=v,k=v", applied last. */
static int apply_env(rd_kafka_conf_t *conf, const char *env, char *err, size_t errlen) {
  const char *spec = getenv(env);
  if (!spec || !*spec) return 0;
  char *copy = es_xstrdup(spec); /* start-up: aborts when out of memory */
  int rc = 0;
  for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv && rc == 0; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) {
      snprintf(err, errlen, "%s: expected key=value, got %s", env, kv);
      rc = -1;
    } else {
      *eq = '\0';
      if (rd_kafka_conf_set(conf, kv, eq + 1, err, errlen) != RD_KAFKA_CONF_OK) rc = -1;
    }
  }
  free(copy);
  return rc;
}

/* Time-sliced: all messages of one 5 ms window go to one partition, so the
 * batches librdkafka sends hold one partition each instead of a few messages
 * for every partition (fewer, larger batches: less broker CPU per message). */
static int32_t sticky_partitioner(const rd_kafka_topic_t *rkt, const void *key, size_t keylen, int32_t cnt,
                                  void *rkt_opaque, void *msg_opaque) {
  (void)rkt, (void)key, (void)keylen, (void)rkt_opaque, (void)msg_opaque;
  return cnt > 0 ? (int32_t)((es_mono_ns() / 5000000u) % (uint64_t)cnt) : RD_KAFKA_PARTITION_UA;
}

static rd_kafka_conf_t *base_conf(const char *brokers, const char *client_id, int consumer, const char *const *defaults,
                                  const char *const *extra, char *err, size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  int sticky = 0;
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", client_id ? client_id : "escucha", err, errlen) != RD_KAFKA_CONF_OK)
    goto fail;
  for (int pass = 0; pass < 2; pass++) {
    const char *const *kv = pass == 0 ? defaults : extra;
    for (; kv && kv[0] && kv[1]; kv += 2) {
      if (strcmp(kv[0], "partitioner") == 0 && strcmp(kv[1], "sticky") == 0) {
        sticky = 1;
        continue;
      }
      if (rd_kafka_conf_set(conf, kv[0], kv[1], err, errlen) != RD_KAFKA_CONF_OK) goto fail;
    }
  }
  if (sticky) {
    /* on the topic conf the settings above went into: a new default topic conf
     * would silently drop them (message.timeout.ms, compression) */
    rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf);
    if (!tc) {
      tc = rd_kafka_topic_conf_new();
      rd_kafka_conf_set_default_topic_conf(conf, tc); /* conf owns tc now */
    }
    rd_kafka_topic_conf_set_partitioner_cb(tc, sticky_partitioner);
  }
  if (apply_env(conf, consumer ? "ESCUCHA_KAFKA_CONSUMER_CONFIG" : "ESCUCHA_KAFKA_PRODUCER_CONFIG", err, errlen) != 0)
    goto fail;
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);
  return conf;
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

/* Registered with the first producer, so the family is on /metrics before any dead letter. */
static es_metric *dlq_metric(void) {
  static es_metric *m;
  if (!m)
    m = es_counter("escucha_dlq_messages_total", "Messages sent to the dead-letter topic, by stage", "stage", NULL);
  return m;
}

rd_kafka_t *es_kafka_producer_new(const char *brokers, const char *client_id, es_kafka_dr_cb dr, void *opaque,
                                  const char *const *extra, char *err, size_t errlen) {
  static const char *const defaults[] = {"enable.idempotence",
                                         "true", /* acks=all, no reordering, no dup on retry */
                                         "linger.ms",
                                         "2",
                                         "compression.codec",
                                         "lz4",
                                         "queue.buffering.max.messages",
                                         "500000",
                                         "queue.buffering.max.kbytes",
                                         "524288",
                                         "message.timeout.ms",
                                         "30000",
                                         "socket.keepalive.enable",
                                         "true",
                                         "socket.nagle.disable",
                                         "true", /* Nagle + delayed ACK stalls small produce requests ~40 ms */
                                         NULL};
  rd_kafka_conf_t *conf = base_conf(brokers, client_id, 0, defaults, extra, err, errlen);
  if (!conf) return NULL;
  (void)dlq_metric();
  dr_ctx *ctx = es_xcalloc(1, sizeof *ctx);
  ctx->cb = dr;
  ctx->opaque = opaque;
  rd_kafka_conf_set_opaque(conf, ctx);
  rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    free(ctx);
  }
  return rk;
}

rd_kafka_resp_err_t es_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, size_t klen,
                                     const void *val, size_t vlen, void *msg_opaque) {
  return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                           RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
}

/* librdkafka before 2.3.0 (librdkafka #4312) aborts in rd_kafka_destroy() --
 * "rd_kafka_sticky_assignor_state_destroy: Assertion 'assignor_state' failed" --
 * when a cooperative-sticky consumer got a JoinGroup answer but never a SyncGroup
 * one (Kafka restarted between the two, the session timed out, the leader
 * stalled): the assignor's state only exists after a first assignment. So that
 * assignor is refused there, also from ESCUCHA_KAFKA_CONSUMER_CONFIG. */
static int assignor_ok(const rd_kafka_conf_t *conf, char *err, size_t errlen) {
  char v[256];
  size_t n = sizeof v;
  if (rd_kafka_version() >= 0x020300ff) return 0;
  if (rd_kafka_conf_get(conf, "partition.assignment.strategy", v, &n) != RD_KAFKA_CONF_OK) return 0;
  if (!strstr(v, "cooperative-sticky")) return 0;
  snprintf(err, errlen,
           "partition.assignment.strategy: cooperative-sticky makes librdkafka %s abort when a consumer "
           "closes before its first assignment (fixed in 2.3.0); use range or roundrobin",
           rd_kafka_version_str());
  return -1;
}

static rd_kafka_t *consumer_new(const char *brokers, const char *group, const char *client_id,
                                const char *const *topics, int ntopics, const char *const *defaults,
                                const char *const *extra, es_kafka_rebalance_cb rebalance, void *opaque, char *err,
                                size_t errlen) {
  rd_kafka_conf_t *conf = base_conf(brokers, client_id, 1, defaults, extra, err, errlen);
  if (!conf) return NULL;
  if (assignor_ok(conf, err, errlen) != 0 ||
      rd_kafka_conf_set(conf, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK ||
      es_kafka_lag_install(conf, err, errlen) != 0) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  if (rebalance) rd_kafka_conf_set_rebalance_cb(conf, rebalance);
  if (opaque) rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(ntopics);
  for (int i = 0; i < ntopics; i++) rd_kafka_topic_partition_list_add(tl, topics[i], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, tl);
  rd_kafka_topic_partition_list_destroy(tl);
  if (e) {
    snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
    return NULL;
  }
  return rk;
}

/* session settings shared by both kinds: a kill -9'd peer's partitions move in ~6 s.
 * Eager assignors: see assignor_ok (a rebalance revokes every partition, and
 * each service commits what it stored, or its transaction, before letting go). */
#define CONSUMER_COMMON                                                                                               \
  "auto.offset.reset", "earliest", "partition.assignment.strategy", "range,roundrobin", "session.timeout.ms", "6000", \
      "heartbeat.interval.ms", "1500", "socket.nagle.disable", "true"

rd_kafka_t *es_kafka_consumer_new(const char *brokers, const char *group, const char *client_id,
                                  const char *const *topics, int ntopics, const char *const *extra, char *err,
                                  size_t errlen) {
  static const char *const defaults[] = {"enable.auto.commit",       "true",  /* commits only what we stored */
                                         "enable.auto.offset.store", "false", /* we store after the output is durable */
                                         "auto.commit.interval.ms",  "1000",  CONSUMER_COMMON, NULL};
  return consumer_new(brokers, group, client_id, topics, ntopics, defaults, extra, NULL, NULL, err, errlen);
}

rd_kafka_t *es_kafka_consumer_new_txn(const char *brokers, const char *group, const char *client_id,
                                      const char *const *topics, int ntopics, const char *const *extra,
                                      es_kafka_rebalance_cb rebalance, void *opaque, char *err, size_t errlen) {
  static const char *const defaults[] = {
      "enable.auto.commit",       "false", /* offsets go with the producer's transaction */
      "enable.auto.offset.store", "false", "isolation.level", "read_committed", CONSUMER_COMMON, NULL};
  return consumer_new(brokers, group, client_id, topics, ntopics, defaults, extra, rebalance, opaque, err, errlen);
}

rd_kafka_resp_err_t es_kafka_store(rd_kafka_t *rk, const rd_kafka_message_t *m) {
  (void)rk;
  /* 2.0.2 has no rd_kafka_offset_store_message(); this stores offset+1 */
  return rd_kafka_offset_store(m->rkt, m->partition, m->offset);
}

int es_kafka_rewind(rd_kafka_t *consumer, const rd_kafka_message_t *m, char *err, size_t errlen) {
  if (errlen) err[0] = '\0';
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset;
  rd_kafka_error_t *e = rd_kafka_seek_partitions(consumer, l, 5000);
  int rc = 0;
  if (e) {
    snprintf(err, errlen, "%s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    rc = -1;
  } else if (l->elems[0].err) {
    snprintf(err, errlen, "%s", rd_kafka_err2str(l->elems[0].err));
    rc = -1;
  }
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}

void es_kafka_dlq_count(const char *stage) { es_metric_add(dlq_metric(), 1, stage); }

rd_kafka_resp_err_t es_kafka_dlq(rd_kafka_t *producer, const char *stage, const char *reason,
                                 const rd_kafka_message_t *src, const void *bytes, size_t len, void *msg_opaque) {
  Escucha__V1__DeadLetter dl = ESCUCHA__V1__DEAD_LETTER__INIT;
  dl.stage = (char *)stage;
  dl.reason = (char *)reason;
  dl.has_original = 1;
  dl.has_failed_at = 1;
  dl.failed_at = es_now_ms();
  const void *key = NULL;
  size_t klen = 0;
  if (src) {
    dl.original.data = src->payload;
    dl.original.len = src->len;
    dl.topic = (char *)rd_kafka_topic_name(src->rkt);
    dl.has_partition = dl.has_offset = 1;
    dl.partition = src->partition;
    dl.offset = src->offset;
    key = src->key;
    klen = src->key_len;
  } else {
    dl.original.data = (uint8_t *)bytes;
    dl.original.len = len;
  }
  size_t n = escucha__v1__dead_letter__get_packed_size(&dl);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return RD_KAFKA_RESP_ERR__FAIL;
  escucha__v1__dead_letter__pack(&dl, buf);
  rd_kafka_resp_err_t e = es_kafka_dlq_send(producer, key, klen, buf, n, msg_opaque, ES_DLQ_WAIT_MS);
  free(buf);
  if (!e) es_kafka_dlq_count(stage);
  return e;
}

rd_kafka_resp_err_t es_kafka_dlq_send(rd_kafka_t *producer, const void *key, size_t klen, const void *rec, size_t len,
                                      void *msg_opaque, int wait_ms) {
  int64_t deadline = es_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
  for (;;) {
    rd_kafka_resp_err_t e =
        es_kafka_produce(producer, ES_TOPIC_DLQ, RD_KAFKA_PARTITION_UA, key, klen, rec, len, msg_opaque);
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || es_kafka_fatal || es_stopping) return e;
    int64_t left = deadline - es_mono_ms();
    if (left <= 0) return e;
    rd_kafka_poll(producer, left < 100 ? (int)left : 100); /* delivery reports make room */
  }
}

void es_kafka_producer_close(rd_kafka_t *rk, int timeout_ms) {
  if (!rk) return;
  if (rd_kafka_flush(rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    es_warn("kafka_flush_timeout", "%d messages not delivered", rd_kafka_outq_len(rk));
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0); /* failure reports for what was purged */
  }
  dr_ctx *ctx = rd_kafka_opaque(rk);
  rd_kafka_destroy(rk);
  free(ctx);
}

void es_kafka_consumer_close(rd_kafka_t *rk) {
  if (!rk) return;
  /* revokes the assignment (through the service's rebalance callback, if any),
   * commits stored offsets, leaves the group */
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

struct es_kafka_uv {
  rd_kafka_t *rk;
  rd_kafka_queue_t *q;
  int fds[2];
  uv_poll_t poll;
  uv_timer_t timer;
  int closing;
};

static void drain(es_kafka_uv *k) {
  char buf[256];
  while (read(k->fds[0], buf, sizeof buf) > 0) {}
  rd_kafka_poll(k->rk, 0);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  drain(p->data);
}

/* io-event wakeups only fire on an empty->non-empty transition; the timer is the safety net. */
static void on_tick(uv_timer_t *t) { drain(t->data); }

es_kafka_uv *es_kafka_uv_attach(uv_loop_t *loop, rd_kafka_t *rk) {
  es_kafka_uv *k = es_xcalloc(1, sizeof *k);
  k->rk = rk;
  if (pipe2(k->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    free(k);
    return NULL;
  }
  k->q = rd_kafka_queue_get_main(rk);
  rd_kafka_queue_io_event_enable(k->q, k->fds[1], "1", 1);
  uv_poll_init(loop, &k->poll, k->fds[0]);
  k->poll.data = k;
  uv_poll_start(&k->poll, UV_READABLE, on_readable);
  uv_timer_init(loop, &k->timer);
  k->timer.data = k;
  uv_timer_start(&k->timer, on_tick, 50, 50);
  return k;
}

static void on_handle_closed(uv_handle_t *h) {
  es_kafka_uv *k = h->data;
  if (++k->closing < 3) return; /* both handles closed (closing started at 1) */
  close(k->fds[0]);
  close(k->fds[1]);
  free(k);
}

void es_kafka_uv_detach(es_kafka_uv *k) {
  if (!k) return;
  rd_kafka_queue_io_event_enable(k->q, -1, NULL, 0);
  rd_kafka_queue_destroy(k->q);
  k->closing = 1;
  uv_poll_stop(&k->poll);
  uv_timer_stop(&k->timer);
  uv_close((uv_handle_t *)&k->poll, on_handle_closed);
  uv_close((uv_handle_t *)&k->timer, on_handle_closed);
}
