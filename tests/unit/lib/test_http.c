/* lib/http: request parsing and conformance (es_http_parse_buffer), and the
 * socket server's timeouts, connection cap, binding and HEAD answers (a real
 * loop on a thread of its own, blocking client sockets here). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <http_parser.h>

#include "http.h"
#include "metrics.h"
#include "util.h"

typedef struct {
  int n;
  char paths[4][64];
  char bodies[4][64];
  char auth[4][64];
  int method[4], head[4];
} seen;

static void collect(const es_http_req *r, void *ud) {
  seen *s = ud;
  if (s->n < 4) {
    const char *a = es_http_header(r, "authorization");
    snprintf(s->paths[s->n], 64, "%s %s?%s", r->method_name, r->path, r->query ? r->query : "");
    snprintf(s->bodies[s->n], 64, "%s|%s", r->body, es_http_header(r, "x-test") ? es_http_header(r, "x-test") : "");
    snprintf(s->auth[s->n], 64, "[%s]", a ? a : "(none)");
    s->method[s->n] = r->method;
    s->head[s->n] = r->head;
  }
  s->n++;
}

static int parse(const char *text, size_t max_body, seen *s) {
  es_http_limits lim = {.max_body = max_body, .max_header_bytes = 200};
  memset(s, 0, sizeof *s);
  return es_http_parse_buffer(text, strlen(text), &lim, collect, s);
}

static void test_pipelining_and_limits(void **st) {
  (void)st;
  seen s;
  const char *two =
      "POST /v1/feedback?a=1 HTTP/1.1\r\nHost: a\r\nX-Test: yes\r\nContent-Length: 5\r\n\r\nhello"
      "GET /metrics HTTP/1.1\r\nHost: a\r\nx-test: 2\r\n\r\n";
  assert_int_equal(parse(two, 10, &s), 2);
  assert_string_equal(s.paths[0], "POST /v1/feedback?a=1");
  assert_string_equal(s.bodies[0], "hello|yes");
  assert_string_equal(s.paths[1], "GET /metrics?");
  assert_string_equal(s.bodies[1], "|2");
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", 10, &s), -413);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "6\r\nhello!\r\n6\r\nhello!\r\n0\r\n\r\n",
                         10, &s),
                   -413);
  char hdr[400];
  snprintf(hdr, sizeof hdr, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: %0300d\r\n\r\n", 0);
  assert_int_equal(parse(hdr, 10, &s), -431);
  assert_int_equal(parse("NOT HTTP AT ALL\r\n\r\n", 10, &s), -400);
}

static void test_head_reads_as_get(void **st) {
  (void)st;
  seen s;
  assert_int_equal(parse("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", 10, &s), 1);
  assert_int_equal(s.method[0], HTTP_GET);
  assert_int_equal(s.head[0], 1);
  assert_string_equal(s.paths[0], "HEAD /x?");
  assert_int_equal(parse("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 10, &s), 1);
  assert_int_equal(s.head[0], 0);
}

static void test_transfer_coding_only_chunked(void **st) {
  (void)st;
  seen s;
  /* gzip would reach the handler still compressed */
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "2\r\nhi\r\n0\r\n\r\n",
                         100, &s),
                   -501);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
                         100, &s),
                   -501);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                         "2\r\nhi\r\n0\r\n\r\n",
                         100, &s),
                   -400);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n"
                         "2\r\nhi\r\n0\r\n\r\n",
                         100, &s),
                   1);
  assert_string_equal(s.bodies[0], "hi|");
}

static void test_host_and_version(void **st) {
  (void)st;
  seen s;
  assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", 10, &s), -400);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 10, &s), -400);
  assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", 10, &s), 1); /* Host is 1.1's */
  assert_int_equal(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 10, &s), -505);
  assert_int_equal(parse("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 10, &s), -505);
}

static void test_values_trimmed_and_singletons(void **st) {
  (void)st;
  seen s;
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization:   Bearer KEY \t \r\n\r\n", 10, &s), 1);
  assert_string_equal(s.auth[0], "[Bearer KEY]");
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization:  \r\n\r\n", 10, &s), 1);
  assert_string_equal(s.auth[0], "[]");
  /* the first one used to win: a second credential must not slip past a proxy */
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer A\r\n"
                         "authorization: Bearer B\r\n\r\n",
                         10, &s),
                   -400);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n"
                         "Content-Length: 0\r\n\r\n",
                         10, &s),
                   -400);
  /* repeatable fields stay as they were (the first is found) */
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Test: 1\r\nX-Test: 2\r\n\r\n", 10, &s), 1);
  assert_string_equal(s.bodies[0], "|1");
}

static void test_obs_fold_refused(void **st) {
  (void)st;
  seen s;
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Test: a\r\n b\r\n\r\n", 10, &s), -400);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Test: a\r\n\tb\r\n\r\n", 10, &s), -400);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer\r\n  KEY\r\n\r\n", 10, &s), -400);
  /* a value with inner spaces is no fold */
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Test: a  b\r\n\r\n", 10, &s), 1);
  assert_string_equal(s.bodies[0], "|a  b");
}

static void test_chunk_size_checked_before_data(void **st) {
  (void)st;
  seen s;
  /* no chunk data at all: the size line alone is refused */
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n", 100, &s), -413);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "32\r\nabc",
                         100, &s),
                   0); /* 50 bytes: fine, they may come */
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n60\r\n",
                         100, &s),
                   -413);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n5f\r\n",
                         100, &s),
                   0); /* 5 + 95 fits */
}

/* ---- socket server ---- */

typedef struct {
  uv_loop_t loop;
  uv_async_t stop;
  es_http_server *srv;
  pthread_t thread;
  int port;
} server;

static void handler(es_http_req *req, void *ud) {
  (void)ud;
  if (strcmp(req->path, "/x") == 0 && req->method == HTTP_GET) es_http_reply(req, 200, "text/plain", "hello", 5, NULL);
  else if (strcmp(req->path, "/x") == 0)
    es_http_reply_error(req, 405, "method_not_allowed", "use GET", NULL, "Allow: GET\r\n");
  else es_http_reply_error(req, 404, "not_found", "no such endpoint", NULL, NULL);
}

static void on_stop(uv_async_t *a) {
  server *s = a->data;
  es_http_close(s->srv, NULL, NULL);
  uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *run(void *arg) {
  server *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

static server *start(const char *host, const es_http_limits *lim) {
  server *s = calloc(1, sizeof *s);
  assert_non_null(s);
  assert_int_equal(uv_loop_init(&s->loop), 0);
  s->srv = es_http_listen(&s->loop, host, 0, lim, handler, NULL);
  assert_non_null(s->srv);
  s->port = es_http_port(s->srv, NULL, 0);
  assert_true(s->port > 0);
  uv_async_init(&s->loop, &s->stop, on_stop);
  s->stop.data = s;
  assert_int_equal(pthread_create(&s->thread, NULL, run, s), 0);
  return s;
}

static void stop(server *s) {
  uv_async_send(&s->stop);
  pthread_join(s->thread, NULL);
  assert_int_equal(uv_loop_close(&s->loop), 0);
  free(s);
}

static double now_s(void) { return (double)es_mono_ns() / 1e9; }

/* Polls the server's open-connection gauge until it reads n (5 s deadline). */
static void wait_conns(double n) {
  es_metric *g = es_gauge("escucha_http_connections", "Open HTTP connections", "server", NULL);
  double t0 = now_s();
  while (es_metric_value(g, "http") != n) {
    if (now_s() - t0 > 5) fail_msg("the server never held %.0f connections", n);
    usleep(1000);
  }
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void say(int fd, const char *text) {
  assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads until the peer closes (or 5 s pass); returns the bytes, *eof set. */
static size_t read_all(int fd, char *buf, size_t cap, int *eof) {
  size_t n = 0;
  *eof = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) {
      *eof = 1;
      break;
    }
    if (r < 0) break; /* timeout */
    n += (size_t)r;
    if (n + 1 >= cap) break;
  }
  buf[n] = '\0';
  return n;
}

/* Reads one answer with a Content-Length body (bodyless when head). */
static size_t read_answer(int fd, char *buf, size_t cap, int head) {
  size_t n = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    assert_true(r > 0);
    n += (size_t)r;
    buf[n] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    const char *cl = strstr(buf, "Content-Length: ");
    if (end && cl && (head || n >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))) return n;
  }
}

static void test_default_binds_loopback(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  es_http_server *s = es_http_listen(&loop, NULL, 0, NULL, handler, NULL);
  assert_non_null(s);
  char host[64];
  assert_true(es_http_port(s, host, sizeof host) > 0);
  assert_string_equal(host, "127.0.0.1");
  es_http_close(s, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  s = es_http_listen(&loop, "0.0.0.0", 0, NULL, handler, NULL); /* when asked for */
  assert_non_null(s);
  assert_true(es_http_port(s, host, sizeof host) > 0);
  assert_string_equal(host, "0.0.0.0");
  es_http_close(s, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_head_answer_has_no_body(void **st) {
  (void)st;
  server *s = start(NULL, NULL);
  int fd = dial(s->port);
  char buf[4096] = "";
  say(fd, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
  read_answer(fd, buf, sizeof buf, 1);
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "Content-Length: 5\r\n"));
  assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\n");
  /* the next answer on the connection starts right there: no stray body */
  say(fd, "HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  size_t n = 0;
  while (!strstr(buf, "hello")) {
    ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
    assert_true(r > 0);
    n += (size_t)r;
    buf[n] = '\0';
  }
  assert_memory_equal(buf, "HTTP/1.1 404 ", 13);
  char *rest = strstr(buf, "\r\n\r\n") + 4;
  assert_memory_equal(rest, "HTTP/1.1 200 ", 13);
  assert_string_equal(strstr(rest, "\r\n\r\n"), "\r\n\r\nhello");
  close(fd);
  stop(s);
}

static void test_fold_across_reads_and_early_413(void **st) {
  (void)st;
  es_http_limits lim = {.max_body = 100};
  server *s = start(NULL, &lim);
  char buf[4096];
  int eof;
  int fd = dial(s->port);
  say(fd, "GET /x HTTP/1.1\r\nHost: a\r\nX-A: a\r\n");
  usleep(50000); /* the continuation arrives in a read of its own */
  say(fd, " b\r\n\r\n");
  read_all(fd, buf, sizeof buf, &eof);
  assert_true(eof);
  assert_memory_equal(buf, "HTTP/1.1 400 ", 13);
  assert_non_null(strstr(buf, "folding"));
  close(fd);
  /* the refusal comes before any of the chunk's data was sent */
  fd = dial(s->port);
  say(fd, "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n");
  read_answer(fd, buf, sizeof buf, 0);
  assert_memory_equal(buf, "HTTP/1.1 413 ", 13);
  close(fd);
  stop(s);
}

/* Sends `first`, then `trickle` a byte every 50 ms until the server closes;
 * returns the seconds it took and the answer in buf. */
static double time_to_close(int port, const char *first, const char *trickle, char *buf, size_t cap) {
  int fd = dial(port);
  double t0 = now_s();
  if (first) say(fd, first);
  int eof = 0;
  if (trickle) {
    struct timeval tv = {.tv_usec = 50000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t i = 0; !eof && now_s() - t0 < 5; i++) {
      char c = trickle[i % strlen(trickle)];
      if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
        eof = 1; /* reset: closed */
        break;
      }
      ssize_t r = recv(fd, buf, cap - 1, 0);
      if (r >= 0) buf[r] = '\0';
      eof = r == 0 || (r < 0 && errno == ECONNRESET) || r > 0;
    }
    if (eof && buf[0]) read_all(fd, buf + strlen(buf), cap - strlen(buf), &eof);
  } else {
    read_all(fd, buf, cap, &eof);
  }
  double dt = now_s() - t0;
  assert_true(eof);
  close(fd);
  return dt;
}

static void test_timeouts(void **st) {
  (void)st;
  es_http_limits lim = {.header_timeout_ms = 300, .body_timeout_ms = 400, .idle_timeout_ms = 500};
  server *s = start(NULL, &lim);
  char buf[4096];
  /* silent client: closed at the header timeout, no answer */
  double dt = time_to_close(s->port, NULL, NULL, buf, sizeof buf);
  assert_true(dt >= 0.29 && dt < 0.8);
  assert_string_equal(buf, "");
  /* trickled head: the deadline does not move with each byte; 408 */
  buf[0] = '\0';
  dt = time_to_close(s->port, "GET /x HTTP/1.1\r\n", "X-Slow: aaaaaaaa\r\n", buf, sizeof buf);
  assert_true(dt >= 0.29 && dt < 0.8);
  assert_memory_equal(buf, "HTTP/1.1 408 ", 13);
  /* trickled body */
  buf[0] = '\0';
  dt = time_to_close(s->port, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n", "b", buf, sizeof buf);
  assert_true(dt >= 0.39 && dt < 0.9);
  assert_memory_equal(buf, "HTTP/1.1 408 ", 13);
  /* keep-alive: idle timeout after the answer */
  int fd = dial(s->port);
  say(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  read_answer(fd, buf, sizeof buf, 0);
  double t0 = now_s();
  int eof;
  assert_int_equal(read_all(fd, buf, sizeof buf, &eof), 0);
  dt = now_s() - t0;
  assert_true(eof && dt >= 0.49 && dt < 1.0);
  close(fd);
  stop(s);
}

static void test_connection_cap(void **st) {
  (void)st;
  es_http_limits lim = {.header_timeout_ms = 10000, .idle_timeout_ms = 10000, .max_conns = 4};
  server *s = start(NULL, &lim);
  char buf[4096];
  int eof;
  /* four idle connections: a fifth evicts the oldest and is served */
  int idle[4];
  for (int i = 0; i < 4; i++) idle[i] = dial(s->port);
  wait_conns(4); /* all accepted */
  int fd = dial(s->port);
  say(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  read_answer(fd, buf, sizeof buf, 0);
  assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
  assert_int_equal(read_all(idle[0], buf, sizeof buf, &eof), 0);
  assert_true(eof);
  close(idle[0]);
  close(fd); /* frees its slot */
  /* four requests in progress: nothing to evict, a fifth is refused at once */
  for (int i = 1; i < 4; i++) say(idle[i], "GET /x HTTP/1.1\r\n");
  int busy = dial(s->port);
  say(busy, "GET /x HTTP/1.1\r\n");
  usleep(100000);
  double t0 = now_s();
  fd = dial(s->port);
  read_all(fd, buf, sizeof buf, &eof);
  assert_true(eof && now_s() - t0 < 1.0);
  assert_memory_equal(buf, "HTTP/1.1 503 ", 13);
  close(fd);
  /* the ones in progress are unharmed */
  say(busy, "Host: a\r\n\r\n");
  read_answer(busy, buf, sizeof buf, 0);
  assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
  close(busy);
  for (int i = 1; i < 4; i++) close(idle[i]);
  stop(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pipelining_and_limits),
      cmocka_unit_test(test_head_reads_as_get),
      cmocka_unit_test(test_transfer_coding_only_chunked),
      cmocka_unit_test(test_host_and_version),
      cmocka_unit_test(test_values_trimmed_and_singletons),
      cmocka_unit_test(test_obs_fold_refused),
      cmocka_unit_test(test_chunk_size_checked_before_data),
      cmocka_unit_test(test_default_binds_loopback),
      cmocka_unit_test(test_head_answer_has_no_body),
      cmocka_unit_test(test_fold_across_reads_and_early_413),
      cmocka_unit_test(test_timeouts),
      cmocka_unit_test(test_connection_cap),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  es_metrics_reset();
  return rc;
}
