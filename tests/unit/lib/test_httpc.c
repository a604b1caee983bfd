/* lib/httpc: the response parser on canned answers, and the client against a
 * listener on the same loop (answers, refused connections, the deadline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "httpc.h"

/* Feeds s in pieces of `step` bytes (0: at once), then EOF when eof is set. */
static es_httpc_rc parse(const char *s, size_t step, int eof, const es_httpc_limits *lim, es_httpc_parser **out) {
  es_httpc_parser *p = es_httpc_parser_new(lim);
  assert_non_null(p);
  size_t n = strlen(s), i = 0;
  es_httpc_rc rc = ES_HTTPC_MORE;
  while (i < n && rc == ES_HTTPC_MORE) {
    size_t k = step && step < n - i ? step : n - i;
    rc = es_httpc_parser_feed(p, s + i, k);
    i += k;
  }
  if (rc == ES_HTTPC_MORE && eof) rc = es_httpc_parser_eof(p);
  *out = p;
  return rc;
}

static void test_parser_content_length(void **st) {
  (void)st;
  const char *a =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 7\r\n\r\n[1,2,3]";
  for (size_t step = 0; step < 4; step++) { /* at once, then 1, 2, 3 bytes at a time */
    es_httpc_parser *p;
    assert_int_equal(parse(a, step, 0, NULL, &p), ES_HTTPC_OK);
    const es_httpc_resp *r = es_httpc_parser_resp(p);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->content_type, "application/json; charset=utf-8");
    assert_int_equal(r->body_len, 7);
    assert_string_equal(r->body, "[1,2,3]");
    es_httpc_parser_free(p);
  }
}

static void test_parser_chunked_close_interim(void **st) {
  (void)st;
  es_httpc_parser *p;
  /* chunked: "ab" + "cde" */
  assert_int_equal(parse("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n",
                         1, 0, NULL, &p),
                   ES_HTTPC_OK);
  assert_int_equal(es_httpc_parser_resp(p)->status, 404);
  assert_string_equal(es_httpc_parser_resp(p)->body, "abcde");
  assert_string_equal(es_httpc_parser_resp(p)->content_type, "");
  es_httpc_parser_free(p);
  /* no length: the body runs to the close */
  assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\nhasta el cierre", 5, 1, NULL, &p), ES_HTTPC_OK);
  assert_string_equal(es_httpc_parser_resp(p)->body, "hasta el cierre");
  es_httpc_parser_free(p);
  /* an interim 100 is skipped; the real answer is the one returned */
  assert_int_equal(
      parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 0, 0, NULL, &p),
      ES_HTTPC_OK);
  assert_int_equal(es_httpc_parser_resp(p)->status, 201);
  assert_int_equal(es_httpc_parser_resp(p)->body_len, 0);
  assert_string_equal(es_httpc_parser_resp(p)->body, "");
  es_httpc_parser_free(p);
}

static void test_parser_refusals(void **st) {
  (void)st;
  es_httpc_limits lim = {.max_body = 4, .max_header_bytes = 64};
  es_httpc_parser *p;
  /* a declared length above max_body is refused before any byte of it */
  assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 0, &lim, &p), ES_HTTPC_ETOOBIG);
  assert_null(es_httpc_parser_resp(p));
  es_httpc_parser_free(p);
  /* chunks that add up past it too (2 + 3 = 5 > 4) */
  assert_int_equal(
      parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", 0, 0, &lim, &p),
      ES_HTTPC_ETOOBIG);
  es_httpc_parser_free(p);
  /* a head over 64 bytes (status text, names and values: 2 + 9 + 72) */
  assert_int_equal(
      parse(
          "HTTP/1.1 200 OK\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
          0, 0, &lim, &p),
      ES_HTTPC_ETOOBIG);
  es_httpc_parser_free(p);
  /* cut short: 3 of 4 bytes, then the close */
  assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc", 0, 1, &lim, &p), ES_HTTPC_EPROTO);
  es_httpc_parser_free(p);
  /* not HTTP */
  assert_int_equal(parse("SSH-2.0-OpenSSH\r\n", 0, 1, NULL, &p), ES_HTTPC_EPROTO);
  es_httpc_parser_free(p);
  /* nothing at all before the close */
  assert_int_equal(parse("", 0, 1, NULL, &p), ES_HTTPC_EPROTO);
  es_httpc_parser_free(p);
  /* a Content-Type with a control byte is refused, not cleaned */
  assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Type: a\x01"
                         "b\r\nContent-Length: 0\r\n\r\n",
                         0, 0, NULL, &p),
                   ES_HTTPC_EPROTO);
  es_httpc_parser_free(p);
}

/* ---- client against a listener on the same loop ---- */

typedef struct {
  uv_tcp_t server, peer;
  const char *answer; /* NULL: accept and say nothing (for the deadline) */
  char got[4096];
  size_t got_len;
  int peer_open;
  uv_write_t wr;
} listener;

typedef struct {
  int called;
  es_httpc_rc rc;
  int status;
  char body[256], ct[128];
} result;

static void on_result(es_httpc_rc rc, const es_httpc_resp *r, void *ud) {
  result *res = ud;
  res->called++;
  res->rc = rc;
  if (r) {
    res->status = r->status;
    snprintf(res->body, sizeof res->body, "%s", r->body);
    snprintf(res->ct, sizeof res->ct, "%s", r->content_type);
  }
}

static void peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  listener *l = h->data;
  *b = uv_buf_init(l->got + l->got_len, (unsigned)(sizeof l->got - 1 - l->got_len));
}

static void on_peer_closed(uv_handle_t *h) {
  listener *l = h->data;
  l->peer_open = 0;
}

static void on_answer_written(uv_write_t *w, int status) {
  (void)status;
  listener *l = w->data;
  uv_close((uv_handle_t *)&l->peer, on_peer_closed); /* read to the close works too */
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  listener *l = s->data;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_peer_closed);
    return;
  }
  l->got_len += (size_t)n;
  l->got[l->got_len] = '\0';
  if (l->answer && strstr(l->got, "\r\n\r\n")) {
    uv_read_stop(s);
    uv_buf_t out = uv_buf_init((char *)l->answer, (unsigned)strlen(l->answer));
    l->wr.data = l;
    assert_int_equal(uv_write(&l->wr, s, &out, 1, on_answer_written), 0);
  }
}

static void on_conn(uv_stream_t *srv, int status) {
  assert_int_equal(status, 0);
  listener *l = srv->data;
  assert_int_equal(uv_tcp_init(srv->loop, &l->peer), 0);
  l->peer.data = l;
  l->peer_open = 1;
  assert_int_equal(uv_accept(srv, (uv_stream_t *)&l->peer), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&l->peer, peer_alloc, peer_read), 0);
}

static int listen_on(uv_loop_t *loop, listener *l) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_init(loop, &l->server), 0);
  l->server.data = l;
  assert_int_equal(uv_tcp_bind(&l->server, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&l->server, 8, on_conn), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  assert_int_equal(uv_tcp_getsockname(&l->server, (struct sockaddr *)&got, &len), 0);
  return ntohs(got.sin_port);
}

static void close_listener(listener *l) {
  uv_close((uv_handle_t *)&l->server, NULL);
  if (l->peer_open && !uv_is_closing((uv_handle_t *)&l->peer)) uv_close((uv_handle_t *)&l->peer, on_peer_closed);
}

static void test_client_exchange(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  listener l = {.answer = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n[{\"code\":404}]"};
  int port = listen_on(&loop, &l);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/base/", port);
  const char *hdrs[] = {"Authorization: Bearer k1", NULL};
  result res = {0};
  assert_int_equal(
      es_httpc_request(&loop, "GET", url, "/open311/v2/requests/x.json?a=1", hdrs, NULL, 0, NULL, on_result, &res), 0);
  assert_int_equal(res.called, 0); /* never from inside the call */
  while (!res.called) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(res.rc, ES_HTTPC_OK);
  assert_int_equal(res.status, 404);
  assert_string_equal(res.ct, "application/json");
  assert_string_equal(res.body, "[{\"code\":404}]");
  /* what the listener saw: the prefix before the target, our headers, the caller's */
  assert_non_null(strstr(l.got, "GET /base/open311/v2/requests/x.json?a=1 HTTP/1.1\r\n"));
  char host[64];
  snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", port);
  assert_non_null(strstr(l.got, host));
  assert_non_null(strstr(l.got, "\r\nConnection: close\r\n"));
  assert_non_null(strstr(l.got, "\r\nAuthorization: Bearer k1\r\n"));
  close_listener(&l);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res.called, 1);
  assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed, nothing leaked */
}

static void test_client_refused_and_deadline(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  /* a port that was just free: bind, read its number, close */
  listener gone = {0};
  int port = listen_on(&loop, &gone);
  uv_close((uv_handle_t *)&gone.server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  result res = {0};
  assert_int_equal(es_httpc_request(&loop, "GET", url, "/x", NULL, NULL, 0, NULL, on_result, &res), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res.called, 1);
  assert_int_equal(res.rc, ES_HTTPC_ECONNECT);
  /* a listener that accepts and never answers: the deadline ends it */
  listener mute = {.answer = NULL};
  port = listen_on(&loop, &mute);
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  es_httpc_limits lim = {.timeout_ms = 100};
  result res2 = {0};
  assert_int_equal(es_httpc_request(&loop, "GET", url, "/x", NULL, NULL, 0, &lim, on_result, &res2), 0);
  while (!res2.called) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(res2.rc, ES_HTTPC_ETIMEOUT);
  close_listener(&mute);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res2.called, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_client_bad_arguments(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  result res = {0};
  const char *crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
  const char *host[] = {"Host: elsewhere", NULL};
  assert_int_equal(es_httpc_request(&loop, "GET", "https://127.0.0.1:1", "/x", NULL, NULL, 0, NULL, on_result, &res),
                   -1);
  assert_int_equal(es_httpc_request(&loop, "GET", "http://127.0.0.1:1?q", "/x", NULL, NULL, 0, NULL, on_result, &res),
                   -1);
  assert_int_equal(es_httpc_request(&loop, "GET", "http://127.0.0.1:1", "x", NULL, NULL, 0, NULL, on_result, &res), -1);
  assert_int_equal(es_httpc_request(&loop, "GET", "http://127.0.0.1:1", "/a b", NULL, NULL, 0, NULL, on_result, &res),
                   -1);
  assert_int_equal(es_httpc_request(&loop, "GET", "http://127.0.0.1:1", "/x", crlf, NULL, 0, NULL, on_result, &res),
                   -1);
  assert_int_equal(es_httpc_request(&loop, "GET", "http://127.0.0.1:1", "/x", host, NULL, 0, NULL, on_result, &res),
                   -1);
  assert_int_equal(es_httpc_request(&loop, "get", "http://127.0.0.1:1", "/x", NULL, NULL, 0, NULL, on_result, &res),
                   -1);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res.called, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parser_content_length),
      cmocka_unit_test(test_parser_chunked_close_interim),
      cmocka_unit_test(test_parser_refusals),
      cmocka_unit_test(test_client_exchange),
      cmocka_unit_test(test_client_refused_and_deadline),
      cmocka_unit_test(test_client_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
