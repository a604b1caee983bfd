#include "kafka_lag.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

static es_metric *lag_gauge(void) {
  static es_metric *m;
  if (!m)
    m = es_gauge("escucha_kafka_consumer_lag",
                 "Messages between a partition's high watermark and the group's stored offset", "group", "topic",
                 "partition", NULL);
  return m;
}

static int apply_topic(const char *group, const char *topic, json_t *parts) {
  int n = 0;
  const char *pkey;
  json_t *p;
  json_object_foreach(parts, pkey, p) {
    json_int_t part = json_integer_value(json_object_get(p, "partition"));
    if (part < 0 || !json_is_integer(json_object_get(p, "partition"))) continue; /* -1: the UA placeholder */
    char pbuf[24];
    snprintf(pbuf, sizeof pbuf, "%lld", (long long)part);
    json_t *lag = json_object_get(p, "consumer_lag_stored");
    if (!json_is_integer(lag) || json_integer_value(lag) < 0) lag = json_object_get(p, "consumer_lag");
    int owned = json_is_true(json_object_get(p, "desired"));
    if (owned && json_is_integer(lag) && json_integer_value(lag) >= 0) {
      es_metric_set(lag_gauge(), (double)json_integer_value(lag), group, topic, pbuf);
      n++;
    } else if (!owned) {
      es_metric_remove(lag_gauge(), group, topic, pbuf);
    }
  }
  return n;
}

int es_kafka_lag_apply(const char *group, const char *json, size_t len) {
  json_t *root = json_loadb(json, len, 0, NULL);
  json_t *topics = root ? json_object_get(root, "topics") : NULL;
  if (!json_is_object(topics)) {
    json_decref(root);
    return -1;
  }
  int n = 0;
  const char *tkey;
  json_t *t;
  json_object_foreach(topics, tkey, t) {
    json_t *parts = json_object_get(t, "partitions");
    if (json_is_object(parts)) n += apply_topic(group, tkey, parts);
  }
  json_decref(root);
  return n;
}

/* librdkafka calls this from the consumer's poll; returning 0 lets it free json. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
  (void)opaque;
  char group[256];
  size_t glen = sizeof group;
  if (rd_kafka_conf_get(rd_kafka_conf(rk), "group.id", group, &glen) != RD_KAFKA_CONF_OK) return 0;
  if (es_kafka_lag_apply(group, json, len) < 0) es_warn("kafka_stats", "unreadable statistics document");
  return 0;
}

int es_kafka_lag_install(rd_kafka_conf_t *conf, char *err, size_t errlen) {
  if (rd_kafka_conf_set(conf, "statistics.interval.ms", ES_KAFKA_STATS_INTERVAL_MS, err, errlen) != RD_KAFKA_CONF_OK)
    return -1;
  (void)lag_gauge(); /* on /metrics from the start */
  rd_kafka_conf_set_stats_cb(conf, on_stats);
  return 0;
}
