/* librdkafka helpers: idempotent producer with delivery reports, group
 * consumer with manual offset store (at-least-once), DLQ, libuv wiring. */
#ifndef ESCUCHA_LIB_KAFKA_H
#define ESCUCHA_LIB_KAFKA_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <uv.h>

#define ES_TOPIC_INBOUND "escucha.feedback.inbound.v1"
#define ES_TOPIC_INGESTED "escucha.feedback.ingested.v1"
#define ES_TOPIC_CLASSIFIED "escucha.feedback.classified.v1"
#define ES_TOPIC_PRIORITIES "escucha.priorities.v1"
#define ES_TOPIC_ACTIONS_REQUESTED "escucha.actions.requested.v1"
#define ES_TOPIC_ACTIONS "escucha.actions.v1"
#define ES_TOPIC_DLQ "escucha.dlq.v1"
#define ES_TOPIC_CORRECTIONS "escucha.corrections.v1"

/* Delivery report callback: msg->_private is the opaque given to es_kafka_produce. */
typedef void (*es_kafka_dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Counts one dead letter of stage in escucha_dlq_messages_total{stage} (es_kafka_dlq
 * does; a stage with its own record format calls it itself). */
void es_kafka_dlq_count(const char *stage);

/* Idempotent (acks=all) producer. extra: NULL-terminated key,value pairs of
 * librdkafka settings to override (may be NULL). One setting of ours:
 * "partitioner" = "sticky" sends every message of a 5 ms window to one
 * partition, whatever its key: a produce request then carries one batch
 * instead of one per partition (for topics whose consumers do not need a
 * key's messages on one partition). */
ES_MUST_CHECK
rd_kafka_t *es_kafka_producer_new(const char *brokers, const char *client_id, es_kafka_dr_cb dr, void *opaque,
                                  const char *const *extra, char *err, size_t errlen);
/* Copies key/value. Never polls (so no delivery report runs re-entrantly);
 * a full local queue comes back as RD_KAFKA_RESP_ERR__QUEUE_FULL for the
 * caller to handle (back-pressure). partition: RD_KAFKA_PARTITION_UA = by key. */
ES_MUST_CHECK
rd_kafka_resp_err_t es_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, size_t klen,
                                     const void *val, size_t vlen, void *msg_opaque);
/* Group consumer: enable.auto.commit=true, enable.auto.offset.store=false,
 * auto.offset.reset=earliest, partition.assignment.strategy=range,roundrobin
 * (eager; cooperative-sticky is refused with librdkafka < 2.3.0, whose
 * rd_kafka_destroy can abort on it). Subscribes to topics. */
ES_MUST_CHECK
rd_kafka_t *es_kafka_consumer_new(const char *brokers, const char *group, const char *client_id,
                                  const char *const *topics, int ntopics, const char *const *extra, char *err,
                                  size_t errlen);
/* The group consumer of a consume-transform-produce loop (exactly-once): no
 * auto-commit (offsets go with the transaction), read_committed, the caller's
 * rebalance callback and opaque; otherwise as es_kafka_consumer_new. */
typedef void (*es_kafka_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                                      void *opaque);
ES_MUST_CHECK
rd_kafka_t *es_kafka_consumer_new_txn(const char *brokers, const char *group, const char *client_id,
                                      const char *const *topics, int ntopics, const char *const *extra,
                                      es_kafka_rebalance_cb rebalance, void *opaque, char *err, size_t errlen);
/* Marks m processed: its offset+1 will be committed. Not ES_MUST_CHECK: it fails
 * only for a partition no longer assigned, whose new owner reads m again. */
rd_kafka_resp_err_t es_kafka_store(rd_kafka_t *rk, const rd_kafka_message_t *m);
/* Seeks m's partition back to m's offset (waiting up to 5 s), so m and what
 * follows are fetched again: for a message that cannot be handled now and
 * whose offset was not stored (dropping it would let a later stored offset
 * skip it). 0 ok; -1 with librdkafka's reason in err (either the seek call
 * or the partition's own error). m is borrowed. */
ES_MUST_CHECK
int es_kafka_rewind(rd_kafka_t *consumer, const rd_kafka_message_t *m, char *err, size_t errlen);
/* How long a dead-letter send of a consumer (classify, prioritize, actions)
 * waits for room in a full local queue: message.timeout.ms, after which
 * librdkafka has failed (and so removed) what filled it. */
#define ES_DLQ_WAIT_MS 30000
/* The one dead-letter send with back-pressure: produces rec (a packed
 * DeadLetter; copied) to escucha.dlq.v1 under key; while the local queue is
 * full it polls producer (serving its delivery reports, so never call it from
 * inside one of this producer's callbacks with wait_ms > 0) and tries again,
 * for at most wait_ms, and not past a fatal producer error or es_stopping.
 * wait_ms 0: one attempt. msg_opaque goes to the delivery report. Returns
 * RD_KAFKA_RESP_ERR_NO_ERROR when queued (the delivery report has the outcome),
 * RD_KAFKA_RESP_ERR__QUEUE_FULL when the wait ran out, or librdkafka's error. */
ES_MUST_CHECK
rd_kafka_resp_err_t es_kafka_dlq_send(rd_kafka_t *producer, const void *key, size_t klen, const void *rec, size_t len,
                                      void *msg_opaque, int wait_ms);
/* Sends a DeadLetter{stage, reason, original, topic, partition, offset} to
 * escucha.dlq.v1 (key = original key) through es_kafka_dlq_send with
 * ES_DLQ_WAIT_MS. src may be NULL (then bytes given). __FAIL when out of memory. */
ES_MUST_CHECK
rd_kafka_resp_err_t es_kafka_dlq(rd_kafka_t *producer, const char *stage, const char *reason,
                                 const rd_kafka_message_t *src, const void *bytes, size_t len, void *msg_opaque);
/* Flushes (bounded), purges what is left, destroys. */
void es_kafka_producer_close(rd_kafka_t *rk, int timeout_ms);
void es_kafka_consumer_close(rd_kafka_t *rk);

/* Serve a producer's callbacks (delivery reports, errors) from a libuv loop:
 * librdkafka signals a pipe whenever events are queued. */
typedef struct es_kafka_uv es_kafka_uv;
ES_MUST_CHECK
es_kafka_uv *es_kafka_uv_attach(uv_loop_t *loop, rd_kafka_t *rk);
void es_kafka_uv_detach(es_kafka_uv *k);

/* Set when librdkafka reports a fatal error: the client must be recreated.
 * classify replaces its transactional producer in process; the other
 * services exit non-zero and are restarted by their supervisor. */
extern volatile int es_kafka_fatal;
#endif
