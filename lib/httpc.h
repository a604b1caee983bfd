/* Small asynchronous HTTP/1.1 client on libuv + http-parser, for one service
 * calling another on the same loop (ingest forwarding Open311 reads to api).
 * One request per connection (Connection: close): resolve, connect, write,
 * read to Content-Length, the last chunk or the close, under one deadline and
 * size limits. Plain http:// only (services talk on a private network). */
#ifndef ESCUCHA_LIB_HTTPC_H
#define ESCUCHA_LIB_HTTPC_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <uv.h>

typedef enum {
  ES_HTTPC_OK = 0,
  ES_HTTPC_MORE,     /* parser: the answer is not complete yet */
  ES_HTTPC_ECONNECT, /* could not resolve, connect, write or read (refused, reset) */
  ES_HTTPC_ETIMEOUT, /* the deadline passed */
  ES_HTTPC_EPROTO,   /* the answer is not valid HTTP/1.x, or was cut short */
  ES_HTTPC_ETOOBIG,  /* the answer's head or body is larger than the limits */
  ES_HTTPC_ENOMEM,
} es_httpc_rc;

typedef struct {
  unsigned timeout_ms;     /* the whole exchange, resolving included; 0 = 10000 */
  size_t max_body;         /* 0 = 1 MiB */
  size_t max_header_bytes; /* status line + headers; 0 = 16 KiB */
} es_httpc_limits;

typedef struct {
  int status;               /* 200..999 (interim 1xx answers are skipped) */
  const char *content_type; /* printable ASCII, NUL-terminated; "" when absent */
  const char *body;         /* NUL-terminated (body_len excludes the NUL); de-chunked */
  size_t body_len;
} es_httpc_resp;

/* ---- the response parser (separate so it can be fuzzed) ---- */
typedef struct es_httpc_parser es_httpc_parser;
/* lim borrowed (copied); NULL on out of memory. */
ES_MUST_CHECK es_httpc_parser *es_httpc_parser_new(const es_httpc_limits *lim);
void es_httpc_parser_free(es_httpc_parser *p);
/* Bytes as they arrive: ES_HTTPC_MORE, ES_HTTPC_OK once a final answer is
 * complete (later bytes are ignored), or an error (then final). */
ES_MUST_CHECK es_httpc_rc es_httpc_parser_feed(es_httpc_parser *p, const char *data, size_t len);
/* The peer closed: OK when that ends the answer (a body read to the close),
 * EPROTO when it was cut short. */
ES_MUST_CHECK es_httpc_rc es_httpc_parser_eof(es_httpc_parser *p);
/* The answer after OK (owned by p, valid until es_httpc_parser_free); NULL before. */
const es_httpc_resp *es_httpc_parser_resp(const es_httpc_parser *p);

/* ---- the client ---- */
/* Called exactly once, on the loop, never from inside es_httpc_request. resp is
 * non-NULL only with ES_HTTPC_OK and valid during the call only. */
typedef void (*es_httpc_cb)(es_httpc_rc rc, const es_httpc_resp *resp, void *ud);

/* method: "GET", "POST"...; url: "http://host[:port][/prefix]" (the prefix is
 * put before target); target: "/path[?query]" (no spaces or control bytes);
 * headers: NULL or a NULL-terminated list of "Name: value" lines without CR/LF
 * (Host, Connection and Content-Length are set here); body may be NULL. All are
 * borrowed (copied). lim NULL = defaults. 0 started; -1 (nothing started, cb
 * never called) on a bad url/target/header or out of memory. An exchange
 * cannot be cancelled: it ends by itself within lim->timeout_ms. */
ES_MUST_CHECK int es_httpc_request(uv_loop_t *loop, const char *method, const char *url, const char *target,
                                   const char *const *headers, const char *body, size_t body_len,
                                   const es_httpc_limits *lim, es_httpc_cb cb, void *ud);
/* "ok", "connect", "timeout", "protocol", "too_big", "no_memory": for logs and metrics. */
const char *es_httpc_strerror(es_httpc_rc rc);
#endif
