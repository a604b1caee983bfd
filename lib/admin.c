#include "admin.h"

#include <http_parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

static struct {
  pthread_t thread;
  uv_loop_t loop;
  uv_async_t stop;
  es_http_server *srv;
  int running;
  atomic_int ready;
  pthread_mutex_t mu;
  char status[256];
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

void es_admin_set_ready(int ready) {
  static es_metric *m;
  if (!m) m = es_gauge("escucha_ready", "1 when the service answers /readyz with 200", NULL);
  atomic_store(&A.ready, ready);
  es_metric_set(m, ready ? 1 : 0);
}

void es_admin_set_status(const char *detail) {
  pthread_mutex_lock(&A.mu);
  snprintf(A.status, sizeof A.status, "%s", detail ? detail : "");
  pthread_mutex_unlock(&A.mu);
}

static void handle(es_http_req *req, void *ud) {
  (void)ud;
  if (req->method != HTTP_GET) { /* HEAD reads as GET */
    es_http_reply_error(req, 405, "method_not_allowed", "use GET", NULL, "Allow: GET\r\n");
    return;
  }
  if (strcmp(req->path, "/metrics") == 0) {
    size_t len = 0;
    char *text = es_metrics_render(&len);
    if (!text) { /* a scrape never gets a silently truncated text */
      es_http_reply_error(req, 503, "unavailable", "out of memory", NULL, NULL);
      return;
    }
    es_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
  } else if (strcmp(req->path, "/healthz") == 0) {
    static const char ok[] = "{\"status\":\"ok\"}";
    es_http_reply(req, 200, "application/json", ok, sizeof ok - 1, NULL);
  } else if (strcmp(req->path, "/readyz") == 0) {
    int ready = atomic_load(&A.ready);
    es_buf b = {0};
    pthread_mutex_lock(&A.mu);
    es_buf_printf(&b, "{\"status\":\"%s\",\"detail\":", ready ? "ready" : "not_ready");
    es_buf_json_str(&b, A.status, strlen(A.status));
    pthread_mutex_unlock(&A.mu);
    es_buf_puts(&b, "}");
    es_http_reply(req, ready ? 200 : 503, "application/json", b.data, b.len, NULL);
    es_buf_free(&b);
  } else {
    es_http_reply_error(req, 404, "not_found", "no such endpoint", NULL, NULL);
  }
}

static void on_stop(uv_async_t *a) {
  (void)a;
  es_http_close(A.srv, NULL, NULL);
  uv_close((uv_handle_t *)&A.stop, NULL);
}

static void *run(void *arg) {
  (void)arg;
  uv_run(&A.loop, UV_RUN_DEFAULT);
  return NULL;
}

int es_admin_start(const char *host, int port) {
  if (A.running) return 0;
  if (uv_loop_init(&A.loop) != 0) return -1;
  /* probes and scrapes only: short deadlines, a small cap (the process' fds are
   * shared with the service; eviction keeps a fresh probe answered) */
  es_http_limits lim = {.max_body = 4096,
                        .max_header_bytes = 16384,
                        .header_timeout_ms = 5000,
                        .body_timeout_ms = 5000,
                        .idle_timeout_ms = 120000,
                        .max_conns = 64,
                        .name = "admin"};
  A.srv = es_http_listen(&A.loop, host, port, &lim, handle, NULL);
  if (!A.srv) {
    uv_run(&A.loop, UV_RUN_NOWAIT);
    uv_loop_close(&A.loop);
    return -1;
  }
  uv_async_init(&A.loop, &A.stop, on_stop);
  if (pthread_create(&A.thread, NULL, run, NULL) != 0) return -1;
  A.running = 1;
  es_info("admin_listening", "host=%s port=%d", host && *host ? host : "127.0.0.1", port);
  return 0;
}

void es_admin_stop(void) {
  if (!A.running) return;
  uv_async_send(&A.stop);
  pthread_join(A.thread, NULL);
  uv_loop_close(&A.loop);
  A.running = 0;
}
