/* Consumer-group lag seen from outside the group: committed offsets (Admin
 * API ListConsumerGroupOffsets) against each partition's high watermark. A
 * consumer reports its own lag (kafka_lag.h) only while it runs; this view
 * keeps counting when a whole stage is down, which is when lag matters most.
 * Gauge escucha_kafka_group_lag{group,topic,partition}; probe failures in
 * escucha_kafka_group_lag_errors_total{group}. */
#ifndef ESCUCHA_LIB_KAFKA_GROUPS_H
#define ESCUCHA_LIB_KAFKA_GROUPS_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "util.h" /* ES_MUST_CHECK */

typedef struct es_lagmon es_lagmon;

/* Measures every interval_ms on a thread of its own (first run at once).
 * groups are copied. NULL with the reason in err. */
ES_MUST_CHECK
es_lagmon *es_lagmon_start(const char *brokers, const char *const *groups, size_t ngroups, unsigned interval_ms,
                           char *err, size_t errlen);
/* Stops the thread (waits for an in-flight probe, bounded by its timeout). */
void es_lagmon_stop(es_lagmon *m);
#define ES_LAGMON_MAX_TOPICS 16
typedef struct {
  char topic[256];
  long long lag;
} es_lagmon_topic;
/* The group's lag per topic at the last successful probe: count (at most cap),
 * or -1 when the group is unknown or not probed yet. */
int es_lagmon_topics(es_lagmon *m, const char *group, es_lagmon_topic *out, int cap);
/* The monitored group names (owned by m; NULL-terminated). */
const char *const *es_lagmon_groups(const es_lagmon *m);
#endif
