/* Consumer lag per group/topic/partition from librdkafka's statistics (every
 * 5 s, served by the consumer's own poll calls): the gauge
 * escucha_kafka_consumer_lag{group,topic,partition} = high watermark minus the
 * stored offset (what the next commit makes durable). Partitions the consumer
 * no longer owns are dropped from the gauge, so another instance's value is
 * the only one left. */
#ifndef ESCUCHA_LIB_KAFKA_LAG_H
#define ESCUCHA_LIB_KAFKA_LAG_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "util.h" /* ES_MUST_CHECK */

#define ES_KAFKA_STATS_INTERVAL_MS "5000"

/* Sets statistics.interval.ms and the stats callback on a consumer's conf. 0 ok. */
ES_MUST_CHECK
int es_kafka_lag_install(rd_kafka_conf_t *conf, char *err, size_t errlen);
/* Applies one statistics document for group; returns the number of partitions
 * whose lag was set, or -1 when json is not a librdkafka statistics object. */
int es_kafka_lag_apply(const char *group, const char *json, size_t len);
#endif
