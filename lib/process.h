/* The standard process_* metrics, as Prometheus client libraries define them
 * (CPU seconds, resident and virtual memory, open and max fds, start time),
 * and escucha_build_info{service,version,commit}; read from /proc at scrape
 * time, appended by es_metrics_render. */
#ifndef ESCUCHA_LIB_PROCESS_H
#define ESCUCHA_LIB_PROCESS_H
#include "util.h" /* es_buf, ES_MUST_CHECK */

typedef struct {
  double cpu_seconds; /* user + system */
  double resident_bytes;
  double virtual_bytes;
  double open_fds;
  double max_fds;
  double start_time; /* seconds since the epoch */
} es_process_stats;

/* 0 ok; -1 when /proc could not be read (the metrics are then left out). */
ES_MUST_CHECK
int es_process_read(es_process_stats *st);
/* Sets the state folder's disk gauges (registered families, so their labels are
 * escaped like any other); es_metrics_render calls it before rendering. */
void es_process_refresh(void);
/* Appends the process_* families and escucha_build_info; 0 ok, -1 out of memory. */
ES_MUST_CHECK
int es_process_render(es_buf *b);
/* Also report free and total bytes of the filesystem holding path (the state
 * folder: Kafka, PostgreSQL and Redis data) as escucha_state_disk_{free,size}_bytes.
 * Copied; call once at start-up. */
void es_process_watch_dir(const char *path);
/* The commit the binary was built from ("unknown" outside a git checkout). */
const char *es_build_commit(void);
#endif
