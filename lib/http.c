#include "http.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/* Where a connection is; each phase but BUSY has a deadline (lim's timeouts). */
enum {
  PH_FRESH,   /* accepted, no request byte yet (header timeout; evictable) */
  PH_IDLE,    /* keep-alive after a reply (idle timeout; evictable) */
  PH_HEAD,    /* reading a request head (header timeout) */
  PH_BODY,    /* reading a request body (body timeout) */
  PH_BUSY,    /* the handler owes a reply: no deadline */
  PH_CLOSING, /* delivering a last answer / draining a refused upload (body timeout) */
};

/* Why the server dropped a connection (metric label). */
enum { DROP_HEADER, DROP_BODY, DROP_IDLE, DROP_CLOSING, DROP_EVICTED, DROP_REFUSED, NDROP };
static const char *const DROP_NAME[NDROP] = {"header_timeout",  "body_timeout", "idle_timeout",
                                             "closing_timeout", "evicted",      "refused"};

struct es_http_server {
  uv_tcp_t tcp;
  uv_loop_t *loop;
  es_http_limits lim;
  es_http_handler handler;
  void *ud;
  struct es_http_conn *conns;
  struct es_http_conn *idle_head, *idle_tail; /* FRESH/IDLE conns, longest idle first */
  unsigned nconns;                            /* open (not closing) connections */
  uv_timer_t sweep;                           /* closes connections past their deadline */
  uint64_t last_log_ms;
  unsigned dropped[NDROP]; /* since the last log line */
  es_metric *m_conns, *m_dropped;
  int closing, listen_closed;
  void (*on_closed)(void *);
  void *on_closed_arg;
};

typedef struct es_http_conn {
  uv_tcp_t tcp;
  es_http_server *srv;
  struct es_http_conn *prev, *next;
  http_parser parser;
  es_buf in; /* bytes read but not parsed yet */
  /* request being parsed */
  es_buf url, body, hdrs, hfield, hval;
  int nhdrs, in_value;
  size_t header_bytes;
  int error_status;       /* 4xx/5xx decided while parsing */
  const char *error_msg;  /* its message, when ours rather than the parser's */
  int head;               /* the request being parsed is a HEAD */
  const char *exec_start; /* the buffer http_parser_execute runs on */
  int lf_ws;              /* the bytes parsed before it end in LF + SP/HT*: see is_fold */
  es_http_req *ready;     /* parsed, not yet dispatched */
  es_http_req *pending;   /* dispatched, reply outstanding */
  int reading, closed, in_dispatch, close_after_write, discard;
  int phase;
  uint64_t deadline;                  /* uv_now ms; 0 = none */
  struct es_http_conn *iprev, *inext; /* the server's idle list */
  int on_idle;
} es_http_conn;

typedef struct req_priv {
  es_http_req pub;
  char *path, *query, *body;
  char *hdrs; /* name\0value\0... */
  int nhdrs;
  int keep_alive;
  int head;
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
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

static void set_phase(es_http_conn *c, int phase);

static void reset_parse_state(es_http_conn *c) {
  c->url.len = c->body.len = c->hdrs.len = c->hfield.len = c->hval.len = 0;
  c->nhdrs = 0;
  c->in_value = 0;
  c->header_bytes = 0;
  c->head = 0;
}

static int refuse(es_http_conn *c, int status, const char *msg) {
  c->error_status = status;
  c->error_msg = msg;
  return -1;
}

static int is_ows(char ch) { return ch == ' ' || ch == '\t'; }

static const char *find_hdr(const char *h, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    const char *v = h + strlen(h) + 1;
    if (strcasecmp(h, name) == 0) return v;
    h = v + strlen(v) + 1;
  }
  return NULL;
}

/* Headers a request may carry once: a second copy is ambiguous (which one
 * did a proxy check?) and, for credentials, a way to smuggle one past it. */
static const char *const SINGLETONS[] = {"host", "authorization", "proxy-authorization", "content-type", NULL};

static int flush_header(es_http_conn *c) {
  if (c->hfield.len == 0) return 0;
  /* RFC 9110 5.5: a field value excludes leading and trailing whitespace
   * (the parser skips the leading part only) */
  size_t vlen = c->hval.len, v0 = 0;
  while (vlen > 0 && is_ows(c->hval.data[vlen - 1])) vlen--;
  while (v0 < vlen && is_ows(c->hval.data[v0])) v0++;
  if (es_buf_append(&c->hfield, "", 1) != 0) return -1;
  c->hfield.len--;
  for (int i = 0; SINGLETONS[i]; i++)
    if (strcasecmp(c->hfield.data, SINGLETONS[i]) == 0 && find_hdr(c->hdrs.data, c->nhdrs, SINGLETONS[i]))
      return refuse(c, 400, "repeated header field");
  if (es_buf_append(&c->hdrs, c->hfield.data, c->hfield.len + 1) != 0) return -1;
  if (es_buf_append(&c->hdrs, vlen > v0 ? c->hval.data + v0 : "", vlen - v0) != 0 ||
      es_buf_append(&c->hdrs, "", 1) != 0)
    return -1;
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
  es_http_conn *c = p->data;
  reset_parse_state(c);
  set_phase(c, PH_HEAD);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  c->head = p->method == HTTP_HEAD; /* known once the URL starts */
  return es_buf_append(&c->url, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  if (c->in_value && flush_header(c) != 0) return -1;
  c->in_value = 0;
  return es_buf_append(&c->hfield, at, n);
}

/* Whether a header value piece at `at` starts a continuation line (obs-fold):
 * only whitespace back to an LF. http-parser joins such lines silently; the
 * bytes before the current buffer are summed up in lf_ws. */
static int is_fold(const es_http_conn *c, const char *at) {
  const char *q = at;
  while (q > c->exec_start && is_ows(q[-1])) q--;
  return q > c->exec_start ? q[-1] == '\n' : c->lf_ws;
}

/* lf_ws after the parser consumed buf[0..n) */
static int tail_lf_ws(const char *buf, size_t n, int before) {
  while (n > 0 && is_ows(buf[n - 1])) n--;
  return n == 0 ? before : buf[n - 1] == '\n';
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  es_http_conn *c = p->data;
  if (header_limit(c, n)) return -1;
  /* RFC 9112 5.2: reject rather than guess how a proxy joined the lines
   * (an empty line before the fold reaches us as a value only: as if the
   * fold were a space, which the RFC allows too) */
  if (n > 0 && is_fold(c, at)) return refuse(c, 400, "obsolete line folding in a header");
  c->in_value = 1;
  return es_buf_append(&c->hval, at, n);
}

/* Only "chunked" is implemented: any other transfer coding (gzip, ...) would
 * reach the handler still encoded. */
static int check_transfer_encoding(es_http_conn *c) {
  const char *h = c->hdrs.data;
  int chunked = 0;
  for (int i = 0; i < c->nhdrs; i++) {
    const char *v = h + strlen(h) + 1;
    if (strcasecmp(h, "transfer-encoding") == 0) {
      for (const char *t = v; *t;) {
        while (*t == ',' || is_ows(*t)) t++;
        if (!*t) break;
        const char *e = t;
        while (*e && *e != ',') e++;
        size_t len = (size_t)(e - t);
        while (len > 0 && is_ows(t[len - 1])) len--;
        if (len != 7 || strncasecmp(t, "chunked", 7) != 0)
          return refuse(c, 501, "unsupported transfer coding (only chunked)");
        chunked++;
        t = e;
      }
    }
    h = v + strlen(v) + 1;
  }
  return chunked > 1 ? refuse(c, 400, "chunked applied more than once") : 0;
}

static void raw_write(es_http_conn *c, char *data, size_t len);

static int on_headers_complete(http_parser *p) {
  es_http_conn *c = p->data;
  if (flush_header(c) != 0) return -1;
  if (p->http_major != 1) return refuse(c, 505, "only HTTP/1.x is supported");
  if (p->http_minor >= 1 && !find_hdr(c->hdrs.data, c->nhdrs, "host")) return refuse(c, 400, "missing Host header");
  if (check_transfer_encoding(c) != 0) return -1;
  size_t max = c->srv->lim.max_body;
  if (max && p->content_length != ULLONG_MAX && p->content_length > max) {
    c->error_status = 413;
    return -1;
  }
  set_phase(c, PH_BODY);
  const char *expect = find_hdr(c->hdrs.data, c->nhdrs, "expect");
  if (expect && strcasecmp(expect, "100-continue") == 0) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    raw_write(c, es_strndup(cont, sizeof cont - 1), sizeof cont - 1);
  }
  return 0;
}

/* A chunk that cannot fit is refused before its bytes arrive. */
static int on_chunk_header(http_parser *p) {
  es_http_conn *c = p->data;
  size_t max = c->srv->lim.max_body;
  if (max && p->content_length > max - c->body.len) {
    c->error_status = 413;
    return -1;
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

static void req_free(req_priv *r) {
  if (!r) return;
  free(r->path);
  free(r->query);
  free(r->body);
  free(r->hdrs);
  free(r);
}

static int on_message_complete(http_parser *p) {
  es_http_conn *c = p->data;
  /* a request's own memory: out of memory refuses this request (503), not the process */
  req_priv *r = calloc(1, sizeof *r);
  if (!r) return refuse(c, 503, "out of memory; retry");
  const char *url = c->url.data ? c->url.data : "/";
  const char *q = strchr(url, '?');
  r->path = q ? es_strndup(url, (size_t)(q - url)) : es_strdup(url);
  r->query = q ? es_strdup(q + 1) : NULL;
  r->body = c->body.data ? es_strndup(c->body.data, c->body.len) : es_strdup("");
  r->hdrs = c->hdrs.len ? es_strndup(c->hdrs.data, c->hdrs.len) : NULL;
  if (!r->path || (q && !r->query) || !r->body || (c->hdrs.len && !r->hdrs)) {
    req_free(r);
    return refuse(c, 503, "out of memory; retry");
  }
  r->nhdrs = c->nhdrs;
  r->keep_alive = http_should_keep_alive(p);
  /* HEAD is GET without the body (RFC 9110 9.3.2): handlers see a GET */
  r->head = p->method == HTTP_HEAD;
  r->pub.method = r->head ? HTTP_GET : (int)p->method;
  r->pub.method_name = http_method_str((enum http_method)p->method);
  r->pub.head = r->head;
  r->pub.path = r->path;
  r->pub.query = r->query;
  r->pub.body = r->body;
  r->pub.body_len = c->body.len;
  r->pub.conn_ = c;
  r->pub.start_ns = es_mono_ns();
  c->ready = &r->pub;
  set_phase(c, PH_BUSY);
  http_parser_pause(p, 1); /* one request in flight per connection */
  return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

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

static void idle_unlink(es_http_conn *c) {
  if (!c->on_idle) return;
  es_http_server *s = c->srv;
  if (c->iprev) c->iprev->inext = c->inext;
  else s->idle_head = c->inext;
  if (c->inext) c->inext->iprev = c->iprev;
  else s->idle_tail = c->iprev;
  c->iprev = c->inext = NULL;
  c->on_idle = 0;
}

/* Phase changes are the only timer work per request: the deadline is a field
 * the server's sweep timer checks (no timer per connection). */
static void set_phase(es_http_conn *c, int phase) {
  es_http_server *s = c->srv;
  if (!s || !s->loop || c->closed) return; /* es_http_parse_buffer has no clock */
  const es_http_limits *l = &s->lim;
  unsigned ms = phase == PH_IDLE                        ? l->idle_timeout_ms
                : phase == PH_FRESH || phase == PH_HEAD ? l->header_timeout_ms
                : phase == PH_BUSY                      ? 0
                                                        : l->body_timeout_ms;
  c->phase = phase;
  c->deadline = ms ? uv_now(s->loop) + ms : 0;
  idle_unlink(c);
  if (phase == PH_FRESH || phase == PH_IDLE) { /* appended: the list stays oldest first */
    c->iprev = s->idle_tail;
    if (s->idle_tail) s->idle_tail->inext = c;
    else s->idle_head = c;
    s->idle_tail = c;
    c->on_idle = 1;
  }
}

static void on_closed(uv_handle_t *h) {
  es_http_conn *c = h->data;
  es_http_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->srv = NULL;
  /* A reply still owed keeps the conn struct alive; es_http_reply frees it. */
  if (!c->pending) conn_free(c);
  maybe_finish(s);
}

static void on_sweep_closed(uv_handle_t *h) {
  es_http_server *s = h->data;
  if (s->on_closed) s->on_closed(s->on_closed_arg);
  free(s);
}

/* The server struct lives until the listener, every connection and the sweep
 * timer closed. */
static void maybe_finish(es_http_server *s) {
  if (!s->closing || !s->listen_closed || s->conns || uv_is_closing((uv_handle_t *)&s->sweep)) return;
  uv_close((uv_handle_t *)&s->sweep, on_sweep_closed);
}

static void conn_close(es_http_conn *c) {
  if (c->closed) return;
  idle_unlink(c);
  c->closed = 1;
  es_http_server *s = c->srv;
  s->nconns--;
  es_metric_set(s->m_conns, s->nconns, s->lim.name);
  uv_close((uv_handle_t *)&c->tcp, on_closed); /* closes the fd now: the cap counts it free */
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
  if (c->closed || !c->srv->loop) {
    free(data);
    return;
  } /* no socket: es_http_parse_buffer */
  write_req *wr = malloc(sizeof *wr);
  if (!wr) {
    free(data);
    conn_close(c);
    return;
  }
  wr->conn = c;
  wr->data = data;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    free(data);
    free(wr);
    conn_close(c);
  }
}

/* head: a HEAD request's answer, the GET's headers (Content-Length included)
 * without the body. */
static void write_response(es_http_conn *c, int status, const char *ctype, const char *body, size_t len,
                           const char *extra, int keep_alive, int head) {
  es_buf b = {0};
  es_buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n", status,
                es_http_status_text(status), ctype ? ctype : "application/json", len,
                keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
  if (len && !head && es_buf_append(&b, body, len) != 0) {
    /* out of memory: close rather than send headers announcing a body that never comes */
    es_buf_free(&b);
    c->close_after_write = 1;
    if (!c->closed && c->srv && c->srv->loop) conn_close(c);
    return;
  }
  if (!keep_alive) c->close_after_write = 1;
  raw_write(c, b.data, b.len);
}

void es_http_reply(es_http_req *req, int status, const char *ctype, const char *body, size_t len, const char *extra) {
  req_priv *r = (req_priv *)req;
  es_http_conn *c = req->conn_;
  int keep = r->keep_alive, head = r->head;
  req_free(r);
  c->pending = NULL;
  if (!c->srv) { /* client went away while we worked */
    conn_free(c);
    return;
  }
  if (c->srv->closing) keep = 0;
  write_response(c, status, ctype, body, len, extra, keep, head);
  /* the idle deadline also bounds a client that never reads the reply */
  set_phase(c, keep && !c->close_after_write ? PH_IDLE : PH_CLOSING);
  if (keep && !c->in_dispatch) conn_process(c);
}

void es_http_reply_error(es_http_req *req, int status, const char *code, const char *message, const char *field,
                         const char *extra) {
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
  const char *msg = c->error_msg    ? c->error_msg
                    : status == 413 ? "request body too large"
                    : status == 431 ? "request headers too large"
                                    : http_errno_description(HTTP_PARSER_ERRNO(&c->parser));
  const char *code = status == 413   ? "too_large"
                     : status == 431 ? "headers_too_large"
                     : status == 501 ? "not_implemented"
                     : status == 505 ? "http_version_not_supported"
                     : status == 503 ? "unavailable"
                                     : "bad_request";
  char body[256];
  int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
  c->discard = 1;
  write_response(c, status, "application/json", body, (size_t)n, c->srv ? c->srv->lim.default_headers : NULL, 0,
                 c->head);
  set_phase(c, PH_CLOSING);
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
    c->exec_start = c->in.data;
    size_t n = http_parser_execute(&c->parser, &SETTINGS, c->in.data, c->in.len);
    c->lf_ws = tail_lf_ws(c->in.data, n, c->lf_ws);
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

static void count_drop(es_http_server *s, int why) {
  s->dropped[why]++;
  es_metric_add(s->m_dropped, 1, s->lim.name, DROP_NAME[why]);
}

/* A timed-out request gets a best-effort 408 (no queueing behind a client
 * that does not read); an idle connection is just closed (RFC 9112 9.5). */
static void drop(es_http_conn *c, int why) {
  if ((why == DROP_HEADER && c->phase == PH_HEAD) || why == DROP_BODY) {
    char timeout[1024];
    const char *dh = c->srv->lim.default_headers;
    if (dh && strlen(dh) > 900) dh = NULL; /* too long for this best-effort answer */
    int n = snprintf(timeout, sizeof timeout,
                     "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                     "Content-Length: 68\r\nConnection: close\r\n%s\r\n"
                     "{\"error\":{\"code\":\"timeout\",\"message\":\"request not received in time\"}}",
                     dh ? dh : "");
    if (n > 0 && (size_t)n < sizeof timeout) {
      uv_buf_t b = uv_buf_init(timeout, (unsigned)n);
      uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
  }
  count_drop(c->srv, why);
  conn_close(c);
}

static void on_sweep(uv_timer_t *t) {
  es_http_server *s = t->data;
  uint64_t now = uv_now(s->loop);
  for (es_http_conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->closed || !c->deadline || now < c->deadline) continue;
    drop(c, c->phase == PH_IDLE      ? DROP_IDLE
            : c->phase == PH_BODY    ? DROP_BODY
            : c->phase == PH_CLOSING ? DROP_CLOSING
                                     : DROP_HEADER);
  }
  /* one line a second at most, whatever the flood; idle closes are routine */
  unsigned *d = s->dropped;
  if (now - s->last_log_ms >= 1000 && d[DROP_HEADER] + d[DROP_BODY] + d[DROP_EVICTED] + d[DROP_REFUSED]) {
    es_warn("http_connections_dropped",
            "server=%s header_timeout=%u body_timeout=%u evicted=%u refused=%u open=%u max=%u", s->lim.name,
            d[DROP_HEADER], d[DROP_BODY], d[DROP_EVICTED], d[DROP_REFUSED], s->nconns, s->lim.max_conns);
    memset(s->dropped, 0, sizeof s->dropped);
    s->last_log_ms = now;
  }
}

/* At the cap: the longest-idle connection with nothing in progress makes room
 * (a keep-alive client reconnects; an idle flood cannot lock real clients out). */
static es_http_conn *evictable(es_http_server *s) {
  int n = 0;
  for (es_http_conn *c = s->idle_head; c && n < 16; c = c->inext, n++)
    if (c->tcp.write_queue_size == 0) return c;
  return NULL;
}

static void on_connection(uv_stream_t *server, int status) {
  es_http_server *s = server->data;
  if (status < 0 || s->closing) return;
  if (s->nconns >= s->lim.max_conns) {
    es_http_conn *v = evictable(s);
    if (v) {
      count_drop(s, DROP_EVICTED);
      conn_close(v);
    }
  }
  if (s->nconns >= s->lim.max_conns) {
    /* every slot is mid-request: accept (or libuv stops watching the listen
     * socket) and refuse; the deadlines free slots within the timeouts */
    char full[1024];
    int n = snprintf(full, sizeof full,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                     "Retry-After: 1\r\nConnection: close\r\n%s\r\n",
                     s->lim.default_headers && strlen(s->lim.default_headers) < 900 ? s->lim.default_headers : "");
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) return;
    uv_tcp_init(s->loop, t);
    if (uv_accept(server, (uv_stream_t *)t) == 0) {
      uv_buf_t b = uv_buf_init(full, (unsigned)n);
      uv_try_write((uv_stream_t *)t, &b, 1);
      count_drop(s, DROP_REFUSED);
    }
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    return;
  }
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
  s->nconns++;
  es_metric_set(s->m_conns, s->nconns, s->lim.name);
  set_phase(c, PH_FRESH);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  c->reading = 1;
}

/* Leaves room for the process' other descriptors (Kafka, Redis, files). */
static unsigned default_max_conns(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  rlim_t n = rl.rlim_cur / 4 * 3;
  return n < 16 ? 16 : n > 4096 ? 4096 : (unsigned)n;
}

es_http_server *es_http_listen(uv_loop_t *loop, const char *host, int port, const es_http_limits *lim,
                               es_http_handler h, void *ud) {
  es_http_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->handler = h;
  s->ud = ud;
  if (lim) s->lim = *lim;
  if (!s->lim.name) s->lim.name = "http";
  if (!s->lim.max_conns) s->lim.max_conns = default_max_conns();
  struct sockaddr_storage addr;
  if (!host || !*host) host = "127.0.0.1"; /* exposing a port is a decision, not a default */
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
  if (rc == 0) rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->tcp, 1024, on_connection);
  if (rc != 0) {
    es_error("http_listen_failed", "host=%s port=%d err=%s", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
    return NULL;
  }
  s->m_conns = es_gauge("escucha_http_connections", "Open HTTP connections", "server", NULL);
  s->m_dropped =
      es_counter("escucha_http_connections_dropped_total",
                 "Connections the server closed: timeouts, evicted or refused at the cap", "server", "reason", NULL);
  es_metric_set(s->m_conns, 0, s->lim.name);
  /* sweep often enough that a deadline is late by a quarter of the shortest timeout at most */
  unsigned tick = 1000;
  const unsigned tos[] = {s->lim.header_timeout_ms, s->lim.body_timeout_ms, s->lim.idle_timeout_ms};
  for (int i = 0; i < 3; i++)
    if (tos[i] && tos[i] / 4 < tick) tick = tos[i] / 4;
  if (tick < 10) tick = 10;
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  uv_timer_start(&s->sweep, on_sweep, tick, tick);
  uv_unref((uv_handle_t *)&s->sweep); /* connections keep the loop alive, not the sweep */
  return s;
}

int es_http_port(const es_http_server *s, char *host, size_t hostlen) {
  struct sockaddr_storage a;
  int len = sizeof a;
  if (!s || uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, &len) != 0) return -1;
  int v6 = a.ss_family == AF_INET6;
  if (host && hostlen) {
    host[0] = '\0';
    if (v6) uv_ip6_name((struct sockaddr_in6 *)&a, host, hostlen);
    else uv_ip4_name((struct sockaddr_in *)&a, host, hostlen);
  }
  return v6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port) : ntohs(((struct sockaddr_in *)&a)->sin_port);
}

unsigned es_http_max_conns(const es_http_server *s) { return s ? s->lim.max_conns : 0; }

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
    c->exec_start = data + off;
    size_t used = http_parser_execute(&c->parser, &SETTINGS, data + off, len - off);
    c->lf_ws = tail_lf_ws(data + off, used, c->lf_ws);
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
