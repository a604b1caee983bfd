#include "kafka_groups.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define PROBE_TIMEOUT_MS 5000

typedef struct {
  es_lagmon_topic t[ES_LAGMON_MAX_TOPICS];
  int n; /* -1: not probed yet */
} group_topics;

struct es_lagmon {
  rd_kafka_t *rk;
  char **groups; /* NULL-terminated */
  group_topics *topics;
  size_t n;
  unsigned interval_ms;
  int stop;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static es_metric *m_lag, *m_err;

static void metrics_init(void) {
  if (m_lag) return;
  m_lag = es_gauge(
      "escucha_kafka_group_lag",
      "Messages between a partition's high watermark and the group's committed offset (probed from outside the group)",
      "group", "topic", "partition", NULL);
  m_err = es_counter("escucha_kafka_group_lag_errors_total", "Failed lag probes", "group", NULL);
}

static void add_topic(group_topics *gt, const char *topic, long long lag) {
  int k = 0;
  while (k < gt->n && strcmp(gt->t[k].topic, topic) != 0) k++;
  if (k == gt->n) {
    if (gt->n == ES_LAGMON_MAX_TOPICS) return;
    snprintf(gt->t[k].topic, sizeof gt->t[k].topic, "%s", topic);
    gt->t[k].lag = 0;
    gt->n++;
  }
  gt->t[k].lag += lag;
}

static int set_partition_lags(rd_kafka_t *rk, const char *group, const rd_kafka_topic_partition_list_t *parts,
                              int timeout_ms, group_topics *gt) {
  gt->n = 0;
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    int64_t lo = 0, hi = 0;
    if (p->err || rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout_ms)) return -1;
    /* no commit yet: everything retained is still to be read (auto.offset.reset=earliest) */
    long long lag = p->offset >= 0 ? (long long)(hi - p->offset) : (long long)(hi - lo);
    if (lag < 0) lag = 0;
    char pbuf[24];
    snprintf(pbuf, sizeof pbuf, "%d", (int)p->partition);
    es_metric_set(m_lag, (double)lag, group, p->topic, pbuf);
    add_topic(gt, p->topic, lag);
  }
  return 0;
}

static int probe(rd_kafka_t *rk, const char *group, int timeout_ms, group_topics *gt) {
  metrics_init();
  char err[256];
  int rc = -1;
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
  rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_event_t *ev = NULL;
  if (rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, err, sizeof err)) goto cleanup;
  rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opt, q);
  ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
  const rd_kafka_ListConsumerGroupOffsets_result_t *res =
      ev ? rd_kafka_event_ListConsumerGroupOffsets_result(ev) : NULL;
  if (!res || rd_kafka_event_error(ev)) goto cleanup;
  size_t cnt = 0;
  const rd_kafka_group_result_t **groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &cnt);
  if (cnt != 1 || rd_kafka_group_result_error(groups[0])) goto cleanup;
  const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(groups[0]);
  rc = parts ? set_partition_lags(rk, group, parts, timeout_ms, gt) : -1;
cleanup:
  if (rc) es_metric_add(m_err, 1, group);
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opt);
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  rd_kafka_queue_destroy(q);
  return rc;
}

static void *run(void *arg) {
  es_lagmon *m = arg;
  pthread_mutex_lock(&m->mu);
  while (!m->stop) {
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
      group_topics gt;
      int ok = probe(m->rk, m->groups[i], PROBE_TIMEOUT_MS, &gt) == 0;
      pthread_mutex_lock(&m->mu);
      if (ok) m->topics[i] = gt;
      pthread_mutex_unlock(&m->mu);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += m->interval_ms / 1000;
    until.tv_nsec += (long)(m->interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&m->mu);
    while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0) {}
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

es_lagmon *es_lagmon_start(const char *brokers, const char *const *groups, size_t n, unsigned interval_ms, char *err,
                           size_t errlen) {
  metrics_init();
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", "escucha-lag-probe", err, errlen) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  /* start-up, control plane: out of memory aborts */
  es_lagmon *m = es_xcalloc(1, sizeof *m);
  m->rk = rk;
  m->n = n;
  m->interval_ms = interval_ms ? interval_ms : 15000;
  m->groups = es_xcalloc(n + 1, sizeof *m->groups);
  m->topics = es_xcalloc(n ? n : 1, sizeof *m->topics);
  for (size_t i = 0; i < n; i++) {
    m->groups[i] = es_xstrdup(groups[i]);
    m->topics[i].n = -1;
  }
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  if (pthread_create(&m->thread, NULL, run, m) != 0) {
    snprintf(err, errlen, "cannot start the lag probe thread");
    m->stop = 2; /* no thread to join */
    es_lagmon_stop(m);
    return NULL;
  }
  return m;
}

void es_lagmon_stop(es_lagmon *m) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  int joined = m->stop == 2;
  m->stop = 1;
  pthread_cond_signal(&m->cv);
  pthread_mutex_unlock(&m->mu);
  if (!joined) pthread_join(m->thread, NULL);
  rd_kafka_destroy(m->rk);
  for (size_t i = 0; i < m->n; i++) free(m->groups[i]);
  free(m->groups);
  free(m->topics);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m);
}

int es_lagmon_topics(es_lagmon *m, const char *group, es_lagmon_topic *out, int cap) {
  int n = -1;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n; i++) {
    if (strcmp(m->groups[i], group) != 0 || m->topics[i].n < 0) continue;
    n = m->topics[i].n < cap ? m->topics[i].n : cap;
    memcpy(out, m->topics[i].t, (size_t)n * sizeof *out);
  }
  pthread_mutex_unlock(&m->mu);
  return n;
}

const char *const *es_lagmon_groups(const es_lagmon *m) { return (const char *const *)m->groups; }
