/* /v1/health's Kafka part: each consumer group's lag per topic (the last probe
 * of lib/kafka_groups' monitor: committed offsets against high watermarks) and
 * the number of messages kept in the DLQ. Blocking (bounded by timeout_ms per
 * call): run on the thread pool. */
#ifndef ESCUCHA_API_HEALTH_H
#define ESCUCHA_API_HEALTH_H
#include <librdkafka/rdkafka.h>

#include "kafka_groups.h"
#include "util.h"

/* Appends "consumer_lag":[{"group","topic","lag"}...],"dlq":{"count":N} to out
 * (count null when Kafka does not answer; a group not probed yet, or unknown
 * to Kafka, is left out). lag: borrowed, may be NULL. rk: any client handle
 * (borrowed; the producer). 0 ok, -1 out of memory. */
ES_MUST_CHECK int api_health_kafka(rd_kafka_t *rk, es_lagmon *lag, const char *dlq_topic, int timeout_ms, es_buf *out);
#endif
