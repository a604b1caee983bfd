/* Small HTTP/1.1 server on libuv + http-parser: keep-alive, pipelining (one
 * request in flight per connection), body/header limits, header/body/idle
 * timeouts, a connection cap, Expect: 100-continue, and asynchronous replies
 * (the handler may answer later, e.g. after a Kafka delivery report).
 * Single-threaded: everything runs on the loop's thread. */
#ifndef ESCUCHA_LIB_HTTP_H
#define ESCUCHA_LIB_HTTP_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <uv.h>

typedef struct es_http_server es_http_server;

typedef struct es_http_req {
  int method;              /* enum http_method (HTTP_GET, HTTP_POST, ...) */
  const char *method_name; /* "GET" ... */
  const char *path;        /* decoded? no: raw path without query, NUL-terminated */
  const char *query;       /* raw query string without '?', or NULL */
  const char *body;        /* NUL-terminated for convenience; body_len excludes NUL */
  size_t body_len;
  void *user;                 /* free for the handler */
  struct es_http_conn *conn_; /* private */
  uint64_t start_ns;          /* when the request was complete (monotonic) */
  int head;                   /* a HEAD request: method reads HTTP_GET, the reply's body is not sent */
} es_http_req;

typedef void (*es_http_handler)(es_http_req *req, void *ud);

typedef struct {
  size_t max_body;         /* larger -> 413 without calling the handler */
  size_t max_header_bytes; /* larger -> 431 */
  /* Timeouts (0 = never). header: from a request's first byte (or the accept)
   * to the end of its head; body: from the end of the head to the end of the
   * body; both are deadlines, not reset by trickled bytes. idle: a keep-alive
   * connection after a reply, until the next request's first byte. */
  unsigned header_timeout_ms;
  unsigned body_timeout_ms;
  unsigned idle_timeout_ms;
  /* Most open connections; at the cap a new one evicts the longest-idle
   * connection that has no request in progress, or is refused (503, closed).
   * 0 = min(4096, 3/4 of RLIMIT_NOFILE). */
  unsigned max_conns;
  const char *name; /* server label in metrics and logs ("api", "admin"); default "http" */
  /* Header lines ("Name: value\r\n"...) added to the answers lib/http makes
   * itself, before a request reaches the handler (a malformed request's 400,
   * 413, 431, 408, the connection cap's 503), so they carry the same headers
   * as the service's own (a CSP, nosniff...). Borrowed: must outlive the
   * server. NULL = none. */
  const char *default_headers;
} es_http_limits;

/* Case-insensitive header lookup; NULL if absent. Valid until the reply. */
const char *es_http_header(const es_http_req *req, const char *name);

/* host NULL = 127.0.0.1; IPv6 literals are accepted. port 0 = any free port. */
ES_MUST_CHECK
es_http_server *es_http_listen(uv_loop_t *loop, const char *host, int port, const es_http_limits *lim,
                               es_http_handler h, void *ud);
/* The bound port (for port 0), or -1; the bound address into host if not NULL. */
int es_http_port(const es_http_server *s, char *host, size_t hostlen);
/* The connection cap in force (after deriving the default). */
unsigned es_http_max_conns(const es_http_server *s);
/* Exactly once per request, on the loop thread; copies body. extra_headers is
 * zero or more "Name: value\r\n" lines. If the client went away the reply is
 * dropped and the request freed. */
void es_http_reply(es_http_req *req, int status, const char *content_type, const char *body, size_t len,
                   const char *extra_headers);
/* Convenience: JSON error body {"error":{"code":..,"message":..,"field":..}}. */
void es_http_reply_error(es_http_req *req, int status, const char *code, const char *message, const char *field,
                         const char *extra_headers);
/* Stops accepting; open connections finish their in-flight request then close. */
void es_http_close(es_http_server *s, void (*on_closed)(void *), void *arg);
const char *es_http_status_text(int status);
/* Parses requests from a buffer with the server's parser and limits, calling
 * cb for each complete one (no socket; for tests and fuzzing). Returns the
 * number of requests, or -status (400, 413, 431, 501, 505) on a protocol error. */
ES_MUST_CHECK
int es_http_parse_buffer(const char *data, size_t len, const es_http_limits *lim,
                         void (*cb)(const es_http_req *req, void *ud), void *ud);
#endif
