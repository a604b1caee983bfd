/* /v1/health's Kafka part: each consumer group's lag per topic (committed
 * offsets from the admin API against the partitions' high watermarks) and the
 * number of messages kept in the DLQ. Blocking (bounded by timeout_ms per
 * call): run on the thread pool. */
#ifndef ESCUCHA_API_HEALTH_H
#define ESCUCHA_API_HEALTH_H
#include <librdkafka/rdkafka.h>

#include "util.h"

/* Appends "consumer_lag":[{"group","topic","lag"}...],"dlq":{"count":N} to out
 * (count null when Kafka does not answer; a group Kafka does not know is left
 * out). groups: NULL-terminated. rk: any client handle (borrowed; the
 * producer). 0 ok, -1 out of memory. */
ES_MUST_CHECK int api_health_kafka(rd_kafka_t *rk, const char *const *groups, const char *dlq_topic, int timeout_ms,
                                   es_buf *out);
#endif
