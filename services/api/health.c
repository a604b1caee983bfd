/* Consumer lag (from lib/kafka_groups) and DLQ size for /v1/health (see health.h). */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Messages currently kept in topic (sum of high - low watermarks), or -1. */
static long long topic_size(rd_kafka_t *rk, const char *topic, int timeout_ms) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  long long total = -1;
  if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
      !md->topics[0].err) {
    total = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
      int64_t lo, hi;
      if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo, &hi, timeout_ms) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        total = -1;
        break;
      }
      total += hi - lo;
    }
  }
  if (md) rd_kafka_metadata_destroy(md);
  if (rkt) rd_kafka_topic_destroy(rkt);
  return total;
}

int api_health_kafka(rd_kafka_t *rk, es_lagmon *lag, const char *dlq_topic, int timeout_ms, es_buf *out) {
  int ok = es_buf_puts(out, "\"consumer_lag\":[") == 0, first = 1;
  const char *const *groups = lag ? es_lagmon_groups(lag) : NULL;
  for (size_t g = 0; groups && groups[g] && ok; g++) {
    es_lagmon_topic t[ES_LAGMON_MAX_TOPICS];
    int n = es_lagmon_topics(lag, groups[g], t, ES_LAGMON_MAX_TOPICS);
    for (int i = 0; i < n && ok; i++) {
      ok = es_buf_printf(out, "%s{\"group\":", first ? "" : ",") == 0 &&
           es_buf_json_str(out, groups[g], strlen(groups[g])) == 0 && es_buf_puts(out, ",\"topic\":") == 0 &&
           es_buf_json_str(out, t[i].topic, strlen(t[i].topic)) == 0 &&
           es_buf_printf(out, ",\"lag\":%lld}", t[i].lag) == 0;
      first = 0;
    }
  }
  long long dlq = rk ? topic_size(rk, dlq_topic, timeout_ms) : -1;
  if (dlq < 0) ok = ok && es_buf_puts(out, "],\"dlq\":{\"count\":null}") == 0;
  else ok = ok && es_buf_printf(out, "],\"dlq\":{\"count\":%lld}", dlq) == 0;
  return ok ? 0 : -1;
}
