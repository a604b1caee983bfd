#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static char g_service[32] = "escucha";
static int g_min = ES_INFO;
static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

void es_log_init(const char *service, const char *level_name) {
  if (service) snprintf(g_service, sizeof g_service, "%s", service);
  g_min = ES_INFO;
  for (int i = 0; level_name && i < 4; i++)
    if (strcmp(level_name, LEVELS[i]) == 0) g_min = i;
}

const char *es_log_service(void) { return g_service; }

void es_log(int level, const char *event, const char *fmt, ...) {
  if (level < g_min) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

  es_buf b = {0};
  es_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":", when,
                LEVELS[level < 0   ? 0
                       : level > 3 ? 3
                                   : level]);
  es_buf_json_str(&b, g_service, strlen(g_service));
  es_buf_puts(&b, ",\"event\":");
  es_buf_json_str(&b, event, strlen(event));
  es_buf_puts(&b, ",\"msg\":");
  es_buf_json_str(&b, msg, strlen(msg));
  es_buf_puts(&b, "}\n");
  if (b.data) fwrite(b.data, 1, b.len, stderr); /* one write per line: lines don't interleave */
  es_buf_free(&b);
}

/* es_x* wrappers' end (util.h): no heap here, the heap is what ran out.
 * g_service is set from a program name or flag: printable, no quotes. */
void es_oom_abort(const char *what, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + k, sizeof when - k, ".%03ldZ", ts.tv_nsec / 1000000);
  char line[256];
  int len = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"error\",\"service\":\"%s\",\"event\":\"out_of_memory\","
                     "\"msg\":\"%s of %zu bytes failed; aborting\"}\n",
                     when, g_service, what, n);
  if (len > 0) fwrite(line, 1, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1, stderr);
  fflush(stderr);
  abort();
}
