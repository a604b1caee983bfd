#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"
#include "util.h"

#define MAX_LABELS 4

enum { COUNTER, GAUGE, HISTOGRAM };

typedef struct series {
  struct series *next;
  char *values[MAX_LABELS];
  double value;      /* counter/gauge; histogram sum */
  uint64_t count;    /* histogram */
  uint64_t *buckets; /* histogram, cumulative at render time */
} series;

struct es_metric {
  struct es_metric *next;
  int type;
  char *name, *help;
  int nlabels;
  char *labels[MAX_LABELS];
  double *bounds;
  int nbounds;
  pthread_mutex_t mu;
  series *series;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static es_metric *g_head, *g_tail;

const double ES_LATENCY_BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const int ES_LATENCY_NBUCKETS = (int)(sizeof ES_LATENCY_BUCKETS / sizeof ES_LATENCY_BUCKETS[0]);

static es_metric *family_new(int type, const char *name, const char *help, const double *bounds, int nbounds,
                             va_list ap) {
  /* the registry is control-plane state: out of memory aborts (util.h) */
  es_metric *m = es_xcalloc(1, sizeof *m);
  m->type = type;
  m->name = es_xstrdup(name);
  m->help = es_xstrdup(help ? help : "");
  const char *l;
  while ((l = va_arg(ap, const char *)) != NULL && m->nlabels < MAX_LABELS) m->labels[m->nlabels++] = es_xstrdup(l);
  if (nbounds > 0) {
    m->bounds = es_xcalloc((size_t)nbounds, sizeof(double));
    memcpy(m->bounds, bounds, sizeof(double) * (size_t)nbounds);
    m->nbounds = nbounds;
  }
  pthread_mutex_init(&m->mu, NULL);
  pthread_mutex_lock(&g_mu);
  /* Re-registering a name returns the existing family (services may init twice in tests). */
  for (es_metric *e = g_head; e; e = e->next)
    if (strcmp(e->name, name) == 0) {
      pthread_mutex_unlock(&g_mu);
      for (int i = 0; i < m->nlabels; i++) free(m->labels[i]);
      free(m->name);
      free(m->help);
      free(m->bounds);
      pthread_mutex_destroy(&m->mu);
      free(m);
      return e;
    }
  if (g_tail) g_tail->next = m;
  else g_head = m;
  g_tail = m;
  pthread_mutex_unlock(&g_mu);
  return m;
}

es_metric *es_counter(const char *name, const char *help, ...) {
  va_list ap;
  va_start(ap, help);
  es_metric *m = family_new(COUNTER, name, help, NULL, 0, ap);
  va_end(ap);
  return m;
}

es_metric *es_gauge(const char *name, const char *help, ...) {
  va_list ap;
  va_start(ap, help);
  es_metric *m = family_new(GAUGE, name, help, NULL, 0, ap);
  va_end(ap);
  return m;
}

es_metric *es_histogram(const char *name, const char *help, const double *buckets, int nbuckets, ...) {
  va_list ap;
  va_start(ap, nbuckets);
  es_metric *m = family_new(HISTOGRAM, name, help, buckets, nbuckets, ap);
  va_end(ap);
  return m;
}

/* Caller holds m->mu. */
static series *find_series(es_metric *m, va_list ap, int create) {
  const char *vals[MAX_LABELS];
  for (int i = 0; i < m->nlabels; i++) {
    vals[i] = va_arg(ap, const char *);
    if (!vals[i]) vals[i] = "";
  }
  for (series *s = m->series; s; s = s->next) {
    int i = 0;
    while (i < m->nlabels && strcmp(s->values[i], vals[i]) == 0) i++;
    if (i == m->nlabels) return s;
  }
  if (!create) return NULL;
  /* a new label combination: bounded, control-plane; out of memory aborts */
  series *s = es_xcalloc(1, sizeof *s);
  for (int i = 0; i < m->nlabels; i++) s->values[i] = es_xstrdup(vals[i]);
  if (m->type == HISTOGRAM) s->buckets = es_xcalloc((size_t)m->nbounds + 1, sizeof(uint64_t));
  /* append: keeps first-seen order, stable output */
  series **pp = &m->series;
  while (*pp) pp = &(*pp)->next;
  *pp = s;
  return s;
}

void es_metric_add(es_metric *m, double v, ...) {
  if (!m) return;
  va_list ap;
  va_start(ap, v);
  pthread_mutex_lock(&m->mu);
  series *s = find_series(m, ap, 1);
  if (s) s->value += v;
  pthread_mutex_unlock(&m->mu);
  va_end(ap);
}

void es_metric_set(es_metric *m, double v, ...) {
  if (!m) return;
  va_list ap;
  va_start(ap, v);
  pthread_mutex_lock(&m->mu);
  series *s = find_series(m, ap, 1);
  if (s) s->value = v;
  pthread_mutex_unlock(&m->mu);
  va_end(ap);
}

void es_metric_observe(es_metric *m, double v, ...) {
  if (!m || m->type != HISTOGRAM) return;
  va_list ap;
  va_start(ap, v);
  pthread_mutex_lock(&m->mu);
  series *s = find_series(m, ap, 1);
  if (s && s->buckets) {
    int i = 0;
    while (i < m->nbounds && v > m->bounds[i]) i++;
    s->buckets[i]++; /* per-bucket; made cumulative when rendering */
    s->count++;
    s->value += v;
  }
  pthread_mutex_unlock(&m->mu);
  va_end(ap);
}

static void series_free(const es_metric *m, series *s) {
  for (int i = 0; i < m->nlabels; i++) free(s->values[i]);
  free(s->buckets);
  free(s);
}

void es_metric_remove(es_metric *m, ...) {
  if (!m) return;
  va_list ap;
  va_start(ap, m);
  pthread_mutex_lock(&m->mu);
  series *s = find_series(m, ap, 0);
  for (series **pp = &m->series; s && *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      series_free(m, s);
      break;
    }
  pthread_mutex_unlock(&m->mu);
  va_end(ap);
}

double es_metric_value(es_metric *m, ...) {
  if (!m) return 0;
  va_list ap;
  va_start(ap, m);
  pthread_mutex_lock(&m->mu);
  series *s = find_series(m, ap, 0);
  double v = s ? (m->type == HISTOGRAM ? (double)s->count : s->value) : 0;
  pthread_mutex_unlock(&m->mu);
  va_end(ap);
  return v;
}

/* The put/render helpers return 0, or -1 when an append ran out of memory:
 * a scrape then gets no text rather than a silently truncated one. */
static int put_num(es_buf *b, double v) {
  if (isinf(v)) return es_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  if (v == (double)(int64_t)v && fabs(v) < 1e15) return es_buf_printf(b, "%lld", (long long)v);
  return es_buf_printf(b, "%.9g", v);
}

/* Label values are escaped per the exposition format: \ " and newline. */
static int put_labels(es_buf *b, const es_metric *m, const series *s, const char *le) {
  if (m->nlabels == 0 && !le) return 0;
  int rc = es_buf_puts(b, "{");
  for (int i = 0; i < m->nlabels; i++) {
    rc |= es_buf_printf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
    for (const char *p = s->values[i]; *p; p++) {
      if (*p == '\\' || *p == '"') rc |= es_buf_printf(b, "\\%c", *p);
      else if (*p == '\n') rc |= es_buf_puts(b, "\\n");
      else rc |= es_buf_append(b, p, 1);
    }
    rc |= es_buf_puts(b, "\"");
  }
  if (le) rc |= es_buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
  rc |= es_buf_puts(b, "}");
  return rc;
}

static int render_family(es_buf *b, es_metric *m) {
  static const char *const T[] = {"counter", "gauge", "histogram"};
  int rc = es_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, T[m->type]);
  pthread_mutex_lock(&m->mu);
  for (series *s = m->series; s; s = s->next) {
    if (m->type != HISTOGRAM) {
      rc |= es_buf_puts(b, m->name);
      rc |= put_labels(b, m, s, NULL);
      rc |= es_buf_puts(b, " ");
      rc |= put_num(b, s->value);
      rc |= es_buf_puts(b, "\n");
      continue;
    }
    uint64_t cum = 0;
    for (int i = 0; i <= m->nbounds; i++) {
      char le[32];
      cum += s->buckets[i];
      if (i < m->nbounds) snprintf(le, sizeof le, "%g", m->bounds[i]);
      else snprintf(le, sizeof le, "+Inf");
      rc |= es_buf_printf(b, "%s_bucket", m->name);
      rc |= put_labels(b, m, s, le);
      rc |= es_buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    rc |= es_buf_printf(b, "%s_sum", m->name);
    rc |= put_labels(b, m, s, NULL);
    rc |= es_buf_puts(b, " ");
    rc |= put_num(b, s->value);
    rc |= es_buf_printf(b, "\n%s_count", m->name);
    rc |= put_labels(b, m, s, NULL);
    rc |= es_buf_printf(b, " %llu\n", (unsigned long long)s->count);
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

char *es_metrics_render(size_t *len) {
  es_buf b = {0};
  int rc = 0;
  es_process_refresh(); /* registers families: before g_mu is taken */
  pthread_mutex_lock(&g_mu);
  for (es_metric *m = g_head; m; m = m->next) rc |= render_family(&b, m);
  pthread_mutex_unlock(&g_mu);
  if (rc == 0) rc = es_process_render(&b);
  if (rc == 0 && !b.data) rc = es_buf_puts(&b, "");
  if (rc != 0) es_buf_free(&b);
  if (len) *len = b.len;
  return b.data;
}

void es_metrics_reset(void) {
  pthread_mutex_lock(&g_mu);
  es_metric *m = g_head;
  g_head = g_tail = NULL;
  pthread_mutex_unlock(&g_mu);
  while (m) {
    es_metric *next = m->next;
    series *s = m->series;
    while (s) {
      series *sn = s->next;
      series_free(m, s);
      s = sn;
    }
    for (int i = 0; i < m->nlabels; i++) free(m->labels[i]);
    free(m->name);
    free(m->help);
    free(m->bounds);
    pthread_mutex_destroy(&m->mu);
    free(m);
    m = next;
  }
}
