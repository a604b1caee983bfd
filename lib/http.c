#include "http.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

struct es_http_server {
  uv_tcp_t tcp;
  uv_loop_t *loop;
  es_http_limits lim;
  es_http_handler handler;
  void *ud;
  struct es_http_conn *conns;
  int closing, listen_closed;
  void (*on_closed)(void *);
  void *on_closed_arg;
};

typedef struct es_http_conn {
  uv_tcp_t tcp;
  es_http_server *srv;
  struct es_http_conn *prev, *next;
  http_parser parser;
  es_buf in;             /* bytes read but not parsed yet */
  /* request being parsed */
  es_buf url, body, hdrs, hfield, hval;
  int nhdrs, in_value;
  size_t header_bytes;
  int error_status;      /* 413/431 decided while parsing */
  es_http_req *ready;    /* parsed, not yet dispatched */
  es_http_req *pending;  /* dispatched, reply outstanding */
  int reading, closed, in_dispatch, close_after_write, discard;
} es_http_conn;

typedef struct req_priv {
  es_http_req pub;
  char *path, *query, *body;
  char *hdrs; /* name\0value\0... */
  int nhdrs;
  int keep_alive;
} req_priv;

typedef struct {
  uv_write_t w;
  es_http_conn *conn;
  char *data;
} write_req;

static void conn_process(es_http_conn *c);
static void conn_close(es_http_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void maybe_finish(es_http_server *s);

const char *es_http_status_text(int s) {
  switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

static void reset_parse_state(es_http_conn *c) {
  c->url.len = c->body.len = c->hdrs.len = c->hfield.len = c->hval.len = 0;
  c->nhdrs = 0;
  c->in_value = 0;
  c->header_bytes = 0;
}

static int flush_header(es_http_conn *c) {
  if (c->hfield.len == 0) return 0;
  if (es_buf_append(&c->hdrs, c->hfield.data, c->hfield.len + 1) != 0) return -1;
  if (c->hval.len == 0 && es_buf_reserve(&c->hval, 1) == 0) c->hval.data[0] = '\0';
  if (es_buf_append(&c->hdrs, c->hval.data ? c->hval.data : "", c->hval.len + 1) != 0) return -1;
  c->nhdrs++;
  c->hfield.len = c->hval.len = 0;
  return 0;
}

static int header_limit(es_http_conn *c, size_t n) {
  c->header_bytes += n;
  if (c->srv->lim.max_header_bytes && c->header_bytes > c->srv->lim.max_header_bytes) {
    c->error_status = 431;
    return -1;
  }
  return 0;
}

static int on_message_begin(http_parser *p) {
  reset_parse_state(p->data);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  return es_buf_append(&c->url, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  if (c->in_value && flush_header(c) != 0) return -1;
  c->in_value = 0;
  return es_buf_append(&c->hfield, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  c->in_value = 1;
  return es_buf_append(&c->hval, at, n);
}

static const char *find_hdr(const char *h, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    const char *v = h + strlen(h) + 1;
    if (strcasecmp(h, name) == 0) return v;
    h = v + strlen(v) + 1;
  }
  return NULL;
}

static void raw_write(es_http_conn *c, char *data, size_t len);

static int on_headers_complete(http_parser *p) {
  es_http_conn *c = p->data;
  if (flush_header(c) != 0) return -1;
  size_t max = c->srv->lim.max_body;
  if (max && p->content_length != ULLONG_MAX && p->content_length > max) {
    c->error_status = 413;
    return -1;
  }
  const char *expect = find_hdr(c->hdrs.data, c->nhdrs, "expect");
  if (expect && strcasecmp(expect, "100-continue") == 0) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    raw_write(c, es_strndup(cont, sizeof cont - 1), sizeof cont - 1);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (c->srv->lim.max_body && c->body.len + n > c->srv->lim.max_body) {
    c->error_status = 413; /* chunked bodies have no Content-Length to check upfront */
    return -1;
  }
  return es_buf_append(&c->body, at, n);
}

static int on_message_complete(http_parser *p) {
  es_http_conn *c = p->data;
  req_priv *r = calloc(1, sizeof *r);
  if (!r) return -1;
  const char *url = c->url.data ? c->url.data : "/";
  const char *q = strchr(url, '?');
  r->path = q ? es_strndup(url, (size_t)(q - url)) : strdup(url);
  r->query = q ? strdup(q + 1) : NULL;
  r->body = c->body.data ? es_strndup(c->body.data, c->body.len) : strdup("");
  r->hdrs = c->hdrs.len ? es_strndup(c->hdrs.data, c->hdrs.len) : NULL;
  r->nhdrs = c->nhdrs;
  r->keep_alive = http_should_keep_alive(p);
  r->pub.method = (int)p->method;
  r->pub.method_name = http_method_str((enum http_method)p->method);
  r->pub.path = r->path;
  r->pub.query = r->query;
  r->pub.body = r->body;
  r->pub.body_len = c->body.len;
  r->pub.conn_ = c;
  r->pub.start_ns = es_mono_ns();
  c->ready = &r->pub;
  http_parser_pause(p, 1); /* one request in flight per connection */
  return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void req_free(req_priv *r) {
  if (!r) return;
  free(r->path);
  free(r->query);
  free(r->body);
  free(r->hdrs);
  free(r);
}

const char *es_http_header(const es_http_req *req, const char *name) {
  const req_priv *r = (const req_priv *)req;
  return r->hdrs ? find_hdr(r->hdrs, r->nhdrs, name) : NULL;
}

static void conn_free(es_http_conn *c) {
  es_buf_free(&c->in);
  es_buf_free(&c->url);
  es_buf_free(&c->body);
  es_buf_free(&c->hdrs);
  es_buf_free(&c->hfield);
  es_buf_free(&c->hval);
  req_free((req_priv *)c->ready);
  free(c);
}

static void on_closed(uv_handle_t *h) {
  es_http_conn *c = h->data;
  es_http_server *s = c->srv;
  if (c->prev) c->prev->next = c->next; else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->srv = NULL;
  /* A reply still owed keeps the conn struct alive; es_http_reply frees it. */
  if (!c->pending) conn_free(c);
  maybe_finish(s);
}

/* The server struct lives until the listener and every connection closed. */
static void maybe_finish(es_http_server *s) {
  if (!s->closing || !s->listen_closed || s->conns) return;
  if (s->on_closed) s->on_closed(s->on_closed_arg);
  free(s);
}

static void conn_close(es_http_conn *c) {
  if (c->closed) return;
  c->closed = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *sr, int status) {
  (void)status;
  free(sr);
}

static void on_write(uv_write_t *w, int status) {
  write_req *wr = (write_req *)w;
  es_http_conn *c = wr->conn;
  free(wr->data);
  free(wr);
  if (!c->close_after_write || c->closed) return;
  if (c->discard && status == 0) {
    /* Lingering close: the client may still be uploading a body we refused;
     * closing now would reset the connection before it reads our answer. */
    uv_shutdown_t *sr = malloc(sizeof *sr);
    if (sr && uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
      if (!c->reading) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read), c->reading = 1;
      return;
    }
    free(sr);
  }
  conn_close(c);
}

static void raw_write(es_http_conn *c, char *data, size_t len) {
  if (!data) return;
  if (c->closed || !c->srv->loop) { free(data); return; } /* no socket: es_http_parse_buffer */
  write_req *wr = malloc(sizeof *wr);
  if (!wr) { free(data); conn_close(c); return; }
  wr->conn = c;
  wr->data = data;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    free(data);
    free(wr);
    conn_close(c);
  }
}

static void write_response(es_http_conn *c, int status, const char *ctype, const char *body,
                           size_t len, const char *extra, int keep_alive) {
  es_buf b = {0};
  es_buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                status, es_http_status_text(status), ctype ? ctype : "application/json", len,
                keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
  if (len) es_buf_append(&b, body, len);
  if (!keep_alive) c->close_after_write = 1;
  raw_write(c, b.data, b.len);
}

void es_http_reply(es_http_req *req, int status, const char *ctype, const char *body, size_t len,
                   const char *extra) {
  req_priv *r = (req_priv *)req;
  es_http_conn *c = req->conn_;
  int keep = r->keep_alive;
  req_free(r);
  c->pending = NULL;
  if (!c->srv) { /* client went away while we worked */
    conn_free(c);
    return;
  }
  if (c->srv->closing) keep = 0;
  write_response(c, status, ctype, body, len, extra, keep);
  if (keep && !c->in_dispatch) conn_process(c);
}

void es_http_reply_error(es_http_req *req, int status, const char *code, const char *message,
                         const char *field, const char *extra) {
  es_buf b = {0};
  es_buf_puts(&b, "{\"error\":{\"code\":");
  es_buf_json_str(&b, code, strlen(code));
  es_buf_puts(&b, ",\"message\":");
  es_buf_json_str(&b, message, strlen(message));
  if (field) {
    es_buf_puts(&b, ",\"field\":");
    es_buf_json_str(&b, field, strlen(field));
  }
  es_buf_puts(&b, "}}");
  es_http_reply(req, status, "application/json", b.data, b.len, extra);
  es_buf_free(&b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  es_http_conn *c = h->data;
  (void)suggested;
  if (es_buf_reserve(&c->in, 65536) != 0) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void fail_parse(es_http_conn *c) {
  int status = c->error_status ? c->error_status : 400;
  const char *msg = status == 413   ? "request body too large"
                    : status == 431 ? "request headers too large"
                                    : http_errno_description(HTTP_PARSER_ERRNO(&c->parser));
  char body[256];
  int n = snprintf(body, sizeof body,
                   "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                   status == 413 ? "too_large" : status == 431 ? "headers_too_large" : "bad_request",
                   msg);
  c->discard = 1;
  write_response(c, status, "application/json", body, (size_t)n, NULL, 0);
  c->in.len = 0;
}

static void conn_process(es_http_conn *c) {
  while (!c->pending && !c->closed && !c->close_after_write) {
    if (c->ready) {
      es_http_req *req = c->ready;
      c->ready = NULL;
      c->pending = req;
      c->in_dispatch = 1;
      c->srv->handler(req, c->srv->ud);
      c->in_dispatch = 0;
      continue;
    }
    if (c->in.len == 0) break;
    size_t n = http_parser_execute(&c->parser, &SETTINGS, c->in.data, c->in.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
    } else if (e != HPE_OK) {
      fail_parse(c);
      return;
    } else if (n == 0) {
      break;
    }
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
  }
  /* Keep reading while a reply is pending (toggling epoll interest per
   * request costs two syscalls); only a client that pipelines a lot is paused. */
  int want_read = !c->closed && !c->close_after_write && (!c->pending || c->in.len < 1024 * 1024);
  if (want_read && !c->reading) {
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->reading = 1;
  } else if (!want_read && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  es_http_conn *c = s->data;
  (void)buf;
  if (nread < 0) {
    if (nread == UV_EOF && c->pending) { /* half-closed: answer, then close */
      c->close_after_write = 1;
      uv_read_stop(s);
      c->reading = 0;
      return;
    }
    conn_close(c);
    return;
  }
  if (c->discard) { /* draining a refused upload until the client closes */
    c->in.len = 0;
    return;
  }
  c->in.len += (size_t)nread;
  conn_process(c);
}

static void on_connection(uv_stream_t *server, int status) {
  es_http_server *s = server->data;
  if (status < 0 || s->closing) return;
  es_http_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  c->reading = 1;
}

es_http_server *es_http_listen(uv_loop_t *loop, const char *host, int port,
                               const es_http_limits *lim, es_http_handler h, void *ud) {
  es_http_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->handler = h;
  s->ud = ud;
  if (lim) s->lim = *lim;
  struct sockaddr_in addr;
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  int rc = uv_ip4_addr(host ? host : "0.0.0.0", port, &addr);
  if (rc == 0) rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->tcp, 1024, on_connection);
  if (rc != 0) {
    es_error("http_listen_failed", "port=%d err=%s", port, uv_strerror(rc));
    uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
    return NULL;
  }
  return s;
}

static void on_server_closed(uv_handle_t *h) {
  es_http_server *s = h->data;
  s->listen_closed = 1;
  maybe_finish(s);
}

void es_http_close(es_http_server *s, void (*on_done)(void *), void *arg) {
  if (!s || s->closing) return;
  s->closing = 1;
  s->on_closed = on_done;
  s->on_closed_arg = arg;
  for (es_http_conn *c = s->conns; c; c = c->next)
    if (!c->pending) conn_close(c); /* busy ones close after their reply */
  uv_close((uv_handle_t *)&s->tcp, on_server_closed);
}

int es_http_parse_buffer(const char *data, size_t len, const es_http_limits *lim,
                         void (*cb)(const es_http_req *req, void *ud), void *ud) {
  es_http_server srv = {0};
  if (lim) srv.lim = *lim;
  es_http_conn *c = calloc(1, sizeof *c);
  if (!c) return -1;
  c->srv = &srv;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  int n = 0, rc = 0;
  size_t off = 0;
  while (off < len) {
    size_t used = http_parser_execute(&c->parser, &SETTINGS, data + off, len - off);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    off += used;
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
    } else if (e != HPE_OK) {
      rc = c->error_status ? -c->error_status : -400;
      break;
    } else if (used == 0) {
      break;
    }
    if (c->ready) {
      cb(c->ready, ud);
      req_free((req_priv *)c->ready);
      c->ready = NULL;
      n++;
    }
  }
  conn_free(c);
  return rc ? rc : n;
}
