#include "inbound.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "redact.h"
#include "util.h"

#define MAX_INFLIGHT 20000
#define POLL_BATCH 1000

typedef struct entry {
  struct ing_inbound *ib;
  rd_kafka_message_t *msg;
  ing_item *it;
  uint8_t *dl; /* its packed DeadLetter until the DLQ acked it (resent as is on failure) */
  size_t dl_len;
  int done, retrying;
  uv_timer_t retry;
  struct entry *next;
} entry;

typedef struct {
  entry *head, *tail;
} part_q;

struct ing_inbound {
  uv_loop_t *loop;
  ing_pipeline *g;
  rd_kafka_t *consumer, *dlq;
  es_kafka_uv *dlq_uv;
  ing_dlq_seal_key seal;
  int sealing; /* 0: no operator key, originals are not kept */
  uv_timer_t timer;
  part_q *parts;
  int nparts;
  size_t pending;
  int stopping;
  int trust_created_at; /* the topic carries trusted history (ing_inbound_trust_created_at) */
};

static es_metric *m_dlq, *m_consumed;

static part_q *queue_for(ing_inbound *ib, int32_t p) {
  if (p >= ib->nparts) {
    int n = p + 8;
    part_q *q = realloc(ib->parts, (size_t)n * sizeof *q);
    if (!q) return NULL;
    memset(q + ib->nparts, 0, (size_t)(n - ib->nparts) * sizeof *q);
    ib->parts = q;
    ib->nparts = n;
  }
  return &ib->parts[p];
}

/* Commit point: the longest completed prefix of each partition's queue. */
static void advance(ing_inbound *ib, int32_t p) {
  part_q *q = &ib->parts[p];
  entry *last = NULL;
  while (q->head && q->head->done) {
    entry *e = q->head;
    q->head = e->next;
    if (last) {
      rd_kafka_message_destroy(last->msg);
      free(last);
    }
    last = e;
    ib->pending--;
  }
  if (!q->head) q->tail = NULL;
  if (last) {
    es_kafka_store(ib->consumer, last->msg);
    rd_kafka_message_destroy(last->msg);
    free(last);
  }
}

static void complete(entry *e) {
  e->done = 1;
  advance(e->ib, e->msg->partition);
}

/* lib's dead-letter send (back-pressure on a full queue, bounded); the sealed record is ours.
 * wait_ms: how long the loop may wait for room (0 inside the DLQ producer's own callback). */
#define ING_DLQ_WAIT_MS 100
static rd_kafka_resp_err_t send_dlq(entry *e, int wait_ms) {
  const rd_kafka_message_t *m = e->msg;
  return es_kafka_dlq_send(e->ib->dlq, m->key, m->key_len, e->dl, e->dl_len, e, wait_ms);
}

static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  entry *e = m->_private;
  if (!e) return;
  if (m->err) {
    /* not acked: retry rather than commit past a message nobody kept */
    es_warn("dlq_delivery_failed", "%s; retrying", rd_kafka_err2str(m->err));
    rd_kafka_resp_err_t r = send_dlq(e, 0);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) /* not committed: redelivered after a restart */
      es_error("dlq_send_failed", "partition=%d: %s", (int)e->msg->partition, rd_kafka_err2str(r));
    return;
  }
  free(e->dl);
  e->dl = NULL;
  es_metric_add(m_dlq, 1);
  es_kafka_dlq_count("ingest");
  complete(e);
}

/* The DLQ gets no clear original (dlq.h); neither does the log: the reason may quote the
 * message (an agency name, an attribute key), so it is redacted in both. */
static void to_dlq(entry *e, const char *reason) {
  const rd_kafka_message_t *m = e->msg;
  char *why = ing_redact(reason, strlen(reason), NULL, NULL);
  es_info("inbound_rejected", "partition=%d offset=%lld bytes=%zu reason=%s", m->partition, (long long)m->offset,
          m->len, why ? why : "(out of memory)");
  free(why);
  free(e->dl);
  e->dl = ing_dlq_pack(e->ib->sealing ? &e->ib->seal : NULL, reason, rd_kafka_topic_name(m->rkt), m->partition,
                       m->offset, m->payload, m->len, &e->dl_len);
  if (!e->dl) { /* not committed: redelivered after a restart */
    es_error("dlq_oom", "partition=%d offset=%lld: cannot build the dead letter", m->partition, (long long)m->offset);
    return;
  }
  rd_kafka_resp_err_t r = send_dlq(e, ING_DLQ_WAIT_MS);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR) /* not committed: redelivered after a restart */
    es_error("dlq_send_failed", "partition=%d offset=%lld: %s", m->partition, (long long)m->offset,
             rd_kafka_err2str(r));
}

static int parse(entry *e);

static void on_retry_closed(uv_handle_t *h) {
  entry *e = h->data;
  e->retrying = 0;
  if (!e->ib) { /* ing_inbound_stop ran meanwhile: the entry is ours to free */
    free(e);
    return;
  }
  if (parse(e) == 0) ing_pipeline_submit(e->ib->g, e->it);
}

static void on_retry(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, on_retry_closed); /* resubmit once the handle is released */
}

static void on_item_done(ing_item *it, void *ud) {
  entry *e = ud;
  if (it->state == ING_ITEM_REJECTED) {
    char reason[320];
    snprintf(reason, sizeof reason, "%s: %s%s%s", it->err_code, it->err_field, it->err_field[0] ? ": " : "",
             it->err_msg);
    ing_item_free(it);
    e->it = NULL;
    to_dlq(e, reason);
    return;
  }
  if (it->state == ING_ITEM_UNAVAILABLE) {
    /* Kafka refused it, or its twin is still in flight: submit again shortly
     * (the offset is not stored meanwhile) */
    ing_item_free(it);
    e->it = NULL;
    e->retry.data = e;
    e->retrying = 1;
    uv_timer_init(e->ib->loop, &e->retry);
    uv_timer_start(&e->retry, on_retry, 500, 0);
    return;
  }
  ing_item_free(it);
  e->it = NULL;
  complete(e);
}

/* Builds e->it from the message; on undecodable input sends to the DLQ and returns -1. */
static int parse(entry *e) {
  const rd_kafka_message_t *m = e->msg;
  const char *p = m->payload;
  size_t n = m->len, i = 0;
  while (i < n && isspace((unsigned char)p[i])) i++;
  if (n == 0 || i == n) {
    to_dlq(e, "empty message");
    return -1;
  }
  ing_item *it = calloc(1, sizeof *it);
  if (!it) return -1;
  it->done = on_item_done;
  it->ctx = e;
  it->trust_created_at = e->ib->trust_created_at;
  e->it = it;
  if (p[i] == '{') {
    ing_json_error jerr;
    cJSON *o = ing_json_parse(p, n, &jerr);
    if (!o) {
      char reason[256];
      snprintf(reason, sizeof reason, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
      ing_item_free(it);
      e->it = NULL;
      to_dlq(e, reason);
      return -1;
    }
    ing_item_from_json(it, o, NULL, ESCUCHA__V1__CHANNEL__OTHER);
    cJSON_Delete(o);
    return 0;
  }
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, n, (const uint8_t *)p);
  if (!fb) {
    ing_item_free(it);
    e->it = NULL;
    to_dlq(e, "neither JSON nor a valid escucha.v1.Feedback protobuf");
    return -1;
  }
  ing_item_from_proto(it, fb);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  return 0;
}

static void on_poll(uv_timer_t *t) {
  ing_inbound *ib = t->data;
  ing_item *batch[POLL_BATCH];
  size_t nb = 0;
  while (!ib->stopping && ib->pending < MAX_INFLIGHT && nb < POLL_BATCH) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ib->consumer, 0);
    if (!m) break;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        es_warn("inbound_consume_error", "%s", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    es_metric_add(m_consumed, 1);
    entry *e = calloc(1, sizeof *e);
    part_q *q = e ? queue_for(ib, m->partition) : NULL;
    if (!q) {
      free(e);
      rd_kafka_message_destroy(m);
      es_error("inbound_oom", "dropping poll; the message will be redelivered");
      break;
    }
    e->ib = ib;
    e->msg = m;
    if (q->tail) q->tail->next = e;
    else q->head = e;
    q->tail = e;
    ib->pending++;
    if (parse(e) == 0) batch[nb++] = e->it;
  }
  if (nb) ing_pipeline_submit_many(ib->g, batch, nb);
}

ing_inbound *ing_inbound_start(uv_loop_t *loop, ing_pipeline *g, const char *brokers, const char *group,
                               const char *seal_key_file, char *err, size_t errlen) {
  m_dlq = es_counter("escucha_ingest_dlq_total", "Inbound messages sent to the DLQ", NULL);
  m_consumed = es_counter("escucha_ingest_inbound_consumed_total", "Messages read from the inbound topic", NULL);
  ing_inbound *ib = calloc(1, sizeof *ib);
  if (!ib) return NULL;
  ib->loop = loop;
  ib->g = g;
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium initialisation failed");
    goto fail;
  }
  if (seal_key_file && *seal_key_file) {
    if (ing_dlq_read_key(seal_key_file, ib->seal.pk, err, errlen) != 0) goto fail;
    ib->sealing = 1;
  } else {
    es_warn("dlq_unsealed",
            "no --dlq-seal-public-key-file: rejected inbound messages reach the DLQ "
            "without their original (size, hash and a redacted rendering only)");
  }
  const char *topics[] = {ES_TOPIC_INBOUND};
  ib->consumer = es_kafka_consumer_new(brokers, group, "escucha-ingest-inbound", topics, 1, NULL, err, errlen);
  if (!ib->consumer) goto fail;
  ib->dlq = es_kafka_producer_new(brokers, "escucha-ingest-dlq", on_dlq_delivery, ib, NULL, err, errlen);
  if (!ib->dlq) goto fail;
  ib->dlq_uv = es_kafka_uv_attach(loop, ib->dlq);
  uv_timer_init(loop, &ib->timer);
  ib->timer.data = ib;
  uv_timer_start(&ib->timer, on_poll, 10, 10);
  return ib;
fail:
  if (ib->consumer) es_kafka_consumer_close(ib->consumer);
  free(ib);
  return NULL;
}

static void free_on_close(uv_handle_t *h) { free(h->data); }

void ing_inbound_stop(ing_inbound *ib) {
  if (!ib) return;
  ib->stopping = 1;
  uv_timer_stop(&ib->timer);
  es_kafka_uv_detach(ib->dlq_uv);
  es_kafka_producer_close(ib->dlq, 10000);
  /* whatever is still queued was not committed and will be redelivered */
  for (int p = 0; p < ib->nparts; p++) {
    entry *e = ib->parts[p].head;
    while (e) {
      entry *n = e->next;
      if (e->it) e->it->done = NULL;
      free(e->dl);
      rd_kafka_message_destroy(e->msg);
      if (e->retrying) { /* its timer still holds it: freed in on_retry_closed */
        e->ib = NULL;
        uv_timer_stop(&e->retry);
        if (!uv_is_closing((uv_handle_t *)&e->retry)) uv_close((uv_handle_t *)&e->retry, on_retry_closed);
      } else {
        free(e);
      }
      e = n;
    }
  }
  free(ib->parts);
  es_kafka_consumer_close(ib->consumer);
  uv_close((uv_handle_t *)&ib->timer, free_on_close); /* frees ib once the loop let go */
}

void ing_inbound_trust_created_at(ing_inbound *ib, int on) {
  if (ib) ib->trust_created_at = on;
}
