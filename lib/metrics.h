/* Prometheus metrics registry (text exposition format 0.0.4). Thread-safe.
 * Families are created once at start and live for the process lifetime. */
#ifndef ESCUCHA_LIB_METRICS_H
#define ESCUCHA_LIB_METRICS_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

typedef struct es_metric es_metric;

/* Label names are given as a NULL-terminated list of strings, e.g.
 * es_counter("escucha_ingest_requests_total", "HTTP requests", "route", "status", NULL). */
es_metric *es_counter(const char *name, const char *help, ...);
es_metric *es_gauge(const char *name, const char *help, ...);
/* buckets: ascending upper bounds (+Inf implied). */
es_metric *es_histogram(const char *name, const char *help, const double *buckets, int nbuckets, ...);

/* Label values follow v, in the order of the label names (exactly that many). */
void es_metric_add(es_metric *m, double v, ...);     /* counter/gauge += v */
void es_metric_set(es_metric *m, double v, ...);     /* gauge = v */
void es_metric_observe(es_metric *m, double v, ...); /* histogram */
/* Drops one series (e.g. a partition no longer assigned); absent is fine. */
void es_metric_remove(es_metric *m, ...);

/* Renders every family; returns malloc'd text, *len set; NULL (and *len 0)
 * when out of memory, never a truncated text. */
ES_MUST_CHECK
char *es_metrics_render(size_t *len);
/* Current value of a counter/gauge series (0 if absent); for tests. */
double es_metric_value(es_metric *m, ...);
/* Frees everything (tests / shutdown). */
void es_metrics_reset(void);

extern const double ES_LATENCY_BUCKETS[]; /* seconds, 0.0005 .. 10 */
extern const int ES_LATENCY_NBUCKETS;
#endif
