/* The ingest engine shared by HTTP, the inbound Kafka topic and CSV import:
 * normalise -> detect language -> redact PII -> hash -> dedup (Redis) ->
 * produce Feedback to escucha.feedback.ingested.v1 -> done callback once the
 * broker acked it (or it was a duplicate / rejected / Kafka unavailable). */
#ifndef ESCUCHA_INGEST_PIPELINE_H
#define ESCUCHA_INGEST_PIPELINE_H
#include "util.h" /* ES_MUST_CHECK */
#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "item.h"

typedef struct ing_pipeline ing_pipeline;

typedef struct {
  const char *brokers;
  const char *redis_url;    /* NULL or "" disables dedup */
  long dedup_window_s;      /* how long a re-sent external_id is remembered */
  long dedup_anon_window_s; /* how long anonymous content (no external_id) is: short, so
                               * identical comments from different people are all kept */
  int repair_utf8;          /* 1: replace invalid bytes with U+FFFD; 0: reject */
  const char *client_id;
  const char *const *producer_extra; /* extra librdkafka settings, key/value, NULL-terminated */
  const char *test_fail_text;        /* tests only: items whose text holds it fail as a refused send */
} ing_pipeline_config;

ES_MUST_CHECK
ing_pipeline *ing_pipeline_new(uv_loop_t *loop, const ing_pipeline_config *cfg, char *err, size_t errlen);
/* Takes the item through the pipeline; it->done(it, it->ctx) runs exactly
 * once, possibly before this returns (rejects). The caller owns it. */
void ing_pipeline_submit(ing_pipeline *g, ing_item *it);
/* Same for many items: one Redis round trip per chunk (batches, imports). */
void ing_pipeline_submit_many(ing_pipeline *g, ing_item **items, size_t n);
/* Runs the synchronous steps only (normalise, language, redact, hash, id);
 * exposed for tests and fuzzing. 0 ok, -1 rejected. */
int ing_pipeline_prepare(ing_item *it, int repair_utf8);
size_t ing_pipeline_inflight(const ing_pipeline *g);
int ing_pipeline_kafka_ok(const ing_pipeline *g);
int ing_pipeline_redis_ok(const ing_pipeline *g);
/* Stops timers and Redis; flushes the producer (bounded). */
void ing_pipeline_free(ing_pipeline *g);
#endif
