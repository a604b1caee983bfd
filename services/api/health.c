/* Consumer lag and DLQ size for /v1/health (see health.h). */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct {
  char topic[256];
  long long lag;
} topic_lag;

/* Committed offsets of one group -> lag per topic (at most cap topics); count or -1. */
static int group_lag(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group, int timeout_ms, topic_lag *t, int cap) {
  char errstr[256];
  int n = -1;
  rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
  rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  if (!req || !opt ||
      rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR)
    goto cleanup;
  rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opt, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
  if (!ev) goto cleanup;
  const rd_kafka_ListConsumerGroupOffsets_result_t *res = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
  size_t ng = 0;
  const rd_kafka_group_result_t **gr = res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &ng) : NULL;
  if (!rd_kafka_event_error(ev) && ng == 1 && !rd_kafka_group_result_error(gr[0])) {
    const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr[0]);
    n = 0;
    for (int i = 0; parts && i < parts->cnt; i++) {
      const rd_kafka_topic_partition_t *p = &parts->elems[i];
      int64_t lo, hi;
      if (p->offset < 0 || p->err) continue; /* nothing committed there */
      if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout_ms) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      int k = 0;
      while (k < n && strcmp(t[k].topic, p->topic) != 0) k++;
      if (k == n) {
        if (n == cap || strlen(p->topic) >= sizeof t[k].topic) continue;
        snprintf(t[k].topic, sizeof t[k].topic, "%s", p->topic);
        t[k].lag = 0;
        n++;
      }
      t[k].lag += hi > p->offset ? hi - p->offset : 0;
    }
  }
  rd_kafka_event_destroy(ev);
cleanup:
  if (req) rd_kafka_ListConsumerGroupOffsets_destroy(req);
  if (opt) rd_kafka_AdminOptions_destroy(opt);
  return n;
}

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

int api_health_kafka(rd_kafka_t *rk, const char *const *groups, const char *dlq_topic, int timeout_ms, es_buf *out) {
  int ok = es_buf_puts(out, "\"consumer_lag\":[") == 0, first = 1;
  rd_kafka_queue_t *q = rk ? rd_kafka_queue_new(rk) : NULL;
  for (size_t g = 0; q && groups && groups[g] && ok; g++) {
    topic_lag t[16];
    int n = group_lag(rk, q, groups[g], timeout_ms, t, 16);
    for (int i = 0; i < n && ok; i++) {
      ok = es_buf_printf(out, "%s{\"group\":", first ? "" : ",") == 0 &&
           es_buf_json_str(out, groups[g], strlen(groups[g])) == 0 && es_buf_puts(out, ",\"topic\":") == 0 &&
           es_buf_json_str(out, t[i].topic, strlen(t[i].topic)) == 0 &&
           es_buf_printf(out, ",\"lag\":%lld}", t[i].lag) == 0;
      first = 0;
    }
  }
  if (q) rd_kafka_queue_destroy(q);
  long long dlq = rk ? topic_size(rk, dlq_topic, timeout_ms) : -1;
  if (dlq < 0) ok = ok && es_buf_puts(out, "],\"dlq\":{\"count\":null}") == 0;
  else ok = ok && es_buf_printf(out, "],\"dlq\":{\"count\":%lld}", dlq) == 0;
  return ok ? 0 : -1;
}
