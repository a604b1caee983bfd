#include "kafka_groups.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define PROBE_TIMEOUT_MS 5000

typedef struct {
  es_lagmon_topic t[ES_LAGMON_MAX_TOPICS];
  int n; /* -1: not probed yet */
} group_topics;

struct es_lagmon {
  rd_kafka_t *rk;    /* watermarks and metadata */
  rd_kafka_t **cons; /* per group: its committed offsets (made on first use) */
  int *failing;      /* per group: the last probe failed (logged once per spell) */
  char *brokers;
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
                              int timeout_ms, group_topics *gt, const char **why) {
  gt->n = 0;
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        p->err ? p->err : rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout_ms);
    if (e) {
      *why = rd_kafka_err2str(e);
      return -1;
    }
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

/* The group's committed offsets come from a consumer handle of its own that
 * never subscribes (so it never joins the group): rd_kafka_committed() asks
 * the group coordinator (OffsetFetch). Not the Admin API's
 * ListConsumerGroupOffsets: librdkafka 2.0 aborts in it when a broker
 * restarts mid-request (confluentinc/librdkafka#3663, eonce->refcnt). */
static rd_kafka_t *group_handle(es_lagmon *m, size_t i) {
  if (m->cons[i]) return m->cons[i];
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", m->brokers, err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "group.id", m->groups[i], err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", "escucha-lag-probe", err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != RD_KAFKA_CONF_OK ||
      !(m->cons[i] = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
    es_warn("lag_probe", "group %s: %s", m->groups[i], err);
    rd_kafka_conf_destroy(conf);
  }
  return m->cons[i];
}

/* Every partition of every non-internal topic (the groups' topics among them). */
static rd_kafka_topic_partition_list_t *all_partitions(rd_kafka_t *rk, int timeout_ms) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
  for (int t = 0; t < md->topic_cnt; t++) {
    const rd_kafka_metadata_topic_t *mt = &md->topics[t];
    if (mt->err || strncmp(mt->topic, "__", 2) == 0) continue;
    for (int p = 0; p < mt->partition_cnt; p++) rd_kafka_topic_partition_list_add(l, mt->topic, mt->partitions[p].id);
  }
  rd_kafka_metadata_destroy(md);
  return l;
}

static int probe(es_lagmon *m, size_t i, const rd_kafka_topic_partition_list_t *all, int timeout_ms, group_topics *gt) {
  metrics_init();
  int rc = -1;
  const char *why = all ? "no consumer handle" : "no metadata";
  rd_kafka_t *c = group_handle(m, i);
  rd_kafka_topic_partition_list_t *parts = all && c ? rd_kafka_topic_partition_list_copy(all) : NULL;
  rd_kafka_resp_err_t ce = parts ? rd_kafka_committed(c, parts, timeout_ms) : RD_KAFKA_RESP_ERR_NO_ERROR;
  if (ce) why = rd_kafka_err2str(ce);
  if (parts && !ce) {
    /* only what the group has committed: the topics it consumes */
    rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int k = 0; k < parts->cnt; k++)
      if (!parts->elems[k].err && parts->elems[k].offset >= 0)
        rd_kafka_topic_partition_list_add(mine, parts->elems[k].topic, parts->elems[k].partition)->offset =
            parts->elems[k].offset;
    rc = set_partition_lags(m->rk, m->groups[i], mine, timeout_ms, gt, &why);
    rd_kafka_topic_partition_list_destroy(mine);
  }
  if (c) rd_kafka_poll(c, 0); /* its errors and logs, so nothing piles up */
  if (rc) es_metric_add(m_err, 1, m->groups[i]);
  if (rc && !m->failing[i]) es_warn("lag_probe_failed", "group %s: %s", m->groups[i], why); /* once per spell */
  if (!rc && m->failing[i]) es_info("lag_probe_ok", "group %s: probing again", m->groups[i]);
  m->failing[i] = rc != 0;
  if (parts) rd_kafka_topic_partition_list_destroy(parts);
  return rc;
}

static void *run(void *arg) {
  es_lagmon *m = arg;
  pthread_mutex_lock(&m->mu);
  while (!m->stop) {
    pthread_mutex_unlock(&m->mu);
    rd_kafka_topic_partition_list_t *all = all_partitions(m->rk, PROBE_TIMEOUT_MS);
    for (size_t i = 0; i < m->n; i++) {
      group_topics gt;
      int ok = probe(m, i, all, PROBE_TIMEOUT_MS, &gt) == 0;
      pthread_mutex_lock(&m->mu);
      if (ok) m->topics[i] = gt;
      pthread_mutex_unlock(&m->mu);
    }
    if (all) rd_kafka_topic_partition_list_destroy(all);
    struct timespec until;
    es_realtime_after_ms(&until, (long)m->interval_ms);
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
  m->brokers = es_xstrdup(brokers);
  m->cons = es_xcalloc(n ? n : 1, sizeof *m->cons);
  m->failing = es_xcalloc(n ? n : 1, sizeof *m->failing);
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
  for (size_t i = 0; i < m->n; i++)
    if (m->cons[i]) rd_kafka_destroy(m->cons[i]);
  rd_kafka_destroy(m->rk);
  free(m->cons);
  free(m->failing);
  free(m->brokers);
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
