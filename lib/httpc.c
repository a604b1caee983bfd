/* Asynchronous HTTP/1.1 client (lib/httpc.h): the response parser on
 * http-parser, then one connection per request on libuv. */
#include "httpc.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CT_MAX 127

/* ---------------- response parser ---------------- */

struct es_httpc_parser {
  http_parser hp;
  http_parser_settings st;
  es_httpc_limits lim;
  es_httpc_rc err; /* set by a callback that stopped the parse */
  int done;
  size_t head_bytes;
  /* header being read: its name (lower-cased, cut at 15: only Content-Type matters) */
  char field[16];
  size_t field_len;
  int in_value, is_ct, ct_bad;
  char ct[CT_MAX + 1];
  size_t ct_len;
  es_buf body; /* owned */
  es_httpc_resp resp;
};

static es_httpc_parser *P(http_parser *hp) { return hp->data; }

/* -1, not 1: from on_headers_complete 1 would mean "no body", not "stop" */
static int stop(es_httpc_parser *p, es_httpc_rc rc) {
  p->err = rc;
  return -1;
}

static int count_head(es_httpc_parser *p, size_t n) {
  p->head_bytes += n;
  return p->head_bytes > p->lim.max_header_bytes ? stop(p, ES_HTTPC_ETOOBIG) : 0;
}

static int on_begin(http_parser *hp) {
  es_httpc_parser *p = P(hp);
  /* a new answer (after an interim 1xx one): start over */
  p->head_bytes = 0;
  p->field_len = 0;
  p->in_value = p->is_ct = p->ct_bad = 0;
  p->ct_len = 0;
  p->body.len = 0;
  return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n) {
  (void)at;
  return count_head(P(hp), n);
}

static int on_field(http_parser *hp, const char *at, size_t n) {
  es_httpc_parser *p = P(hp);
  if (count_head(p, n)) return -1;
  if (p->in_value) { /* a new header starts */
    p->in_value = 0;
    p->field_len = 0;
  }
  for (size_t i = 0; i < n && p->field_len < sizeof p->field - 1; i++) {
    char c = at[i];
    p->field[p->field_len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  /* a longer name cannot be content-type: make it never match */
  if (n && p->field_len == sizeof p->field - 1) p->field[0] = '\0';
  return 0;
}

static int on_value(http_parser *hp, const char *at, size_t n) {
  es_httpc_parser *p = P(hp);
  if (count_head(p, n)) return -1;
  if (!p->in_value) {
    p->in_value = 1;
    p->field[p->field_len] = '\0';
    p->is_ct = strcmp(p->field, "content-type") == 0;
    if (p->is_ct) { /* a repeated Content-Type: the last one, as most clients take */
      p->ct_len = 0;
      p->ct_bad = 0;
    }
  }
  if (!p->is_ct) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)at[i];
    if (c < 0x20 || c > 0x7e || p->ct_len >= CT_MAX) p->ct_bad = 1;
    else p->ct[p->ct_len++] = (char)c;
  }
  return 0;
}

static int on_headers_complete(http_parser *hp) {
  es_httpc_parser *p = P(hp);
  if (hp->status_code < 100 || hp->status_code > 999) return stop(p, ES_HTTPC_EPROTO);
  /* something we would have to cut or guess at is refused, not repaired */
  if (p->ct_bad) return stop(p, ES_HTTPC_EPROTO);
  if (hp->status_code >= 200 && (hp->flags & F_CONTENTLENGTH) && hp->content_length > p->lim.max_body)
    return stop(p, ES_HTTPC_ETOOBIG);
  return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n) {
  es_httpc_parser *p = P(hp);
  if (n > p->lim.max_body - p->body.len) return stop(p, ES_HTTPC_ETOOBIG);
  if (es_buf_append(&p->body, at, n) != 0) return stop(p, ES_HTTPC_ENOMEM);
  return 0;
}

static int on_complete(http_parser *hp) {
  es_httpc_parser *p = P(hp);
  if (hp->status_code < 200) return 0; /* interim (100 Continue, 103): the real answer follows */
  /* the terminating NUL: reserve so data is never NULL, even for an empty body */
  if (es_buf_reserve(&p->body, 1) != 0) return stop(p, ES_HTTPC_ENOMEM);
  p->body.data[p->body.len] = '\0';
  p->ct[p->ct_len] = '\0';
  p->resp.status = hp->status_code;
  p->resp.content_type = p->ct;
  p->resp.body = p->body.data;
  p->resp.body_len = p->body.len;
  p->done = 1;
  http_parser_pause(hp, 1); /* bytes after the answer are not ours to read */
  return 0;
}

es_httpc_parser *es_httpc_parser_new(const es_httpc_limits *lim) {
  es_httpc_parser *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (lim) p->lim = *lim;
  if (!p->lim.max_body) p->lim.max_body = 1u << 20;
  if (!p->lim.max_header_bytes) p->lim.max_header_bytes = 16384;
  if (!p->lim.timeout_ms) p->lim.timeout_ms = 10000;
  http_parser_init(&p->hp, HTTP_RESPONSE);
  p->hp.data = p;
  http_parser_settings_init(&p->st);
  p->st.on_message_begin = on_begin;
  p->st.on_status = on_status;
  p->st.on_header_field = on_field;
  p->st.on_header_value = on_value;
  p->st.on_headers_complete = on_headers_complete;
  p->st.on_body = on_body;
  p->st.on_message_complete = on_complete;
  return p;
}

void es_httpc_parser_free(es_httpc_parser *p) {
  if (!p) return;
  es_buf_free(&p->body);
  free(p);
}

static es_httpc_rc after(es_httpc_parser *p, size_t got, size_t len) {
  if (p->done) return ES_HTTPC_OK;
  if (p->err) return p->err;
  if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK || got != len) return p->err = ES_HTTPC_EPROTO;
  return ES_HTTPC_MORE;
}

es_httpc_rc es_httpc_parser_feed(es_httpc_parser *p, const char *data, size_t len) {
  if (p->done) return ES_HTTPC_OK;
  if (p->err) return p->err;
  if (len == 0) return ES_HTTPC_MORE; /* 0 bytes would mean EOF to http-parser */
  size_t got = http_parser_execute(&p->hp, &p->st, data, len);
  return after(p, got, len);
}

es_httpc_rc es_httpc_parser_eof(es_httpc_parser *p) {
  if (p->done) return ES_HTTPC_OK;
  if (p->err) return p->err;
  (void)http_parser_execute(&p->hp, &p->st, NULL, 0); /* ends a body read to the close */
  es_httpc_rc rc = after(p, 0, 0);
  return rc == ES_HTTPC_MORE ? (p->err = ES_HTTPC_EPROTO) : rc;
}

const es_httpc_resp *es_httpc_parser_resp(const es_httpc_parser *p) { return p->done ? &p->resp : NULL; }

const char *es_httpc_strerror(es_httpc_rc rc) {
  switch (rc) {
    case ES_HTTPC_OK: return "ok";
    case ES_HTTPC_MORE: return "incomplete";
    case ES_HTTPC_ECONNECT: return "connect";
    case ES_HTTPC_ETIMEOUT: return "timeout";
    case ES_HTTPC_EPROTO: return "protocol";
    case ES_HTTPC_ETOOBIG: return "too_big";
    case ES_HTTPC_ENOMEM: return "no_memory";
  }
  return "unknown";
}

/* ---------------- client ---------------- */

typedef struct {
  uv_loop_t *loop;
  es_httpc_cb cb;
  void *ud;
  es_httpc_parser *parser; /* owned */
  es_buf out;              /* owned: the request bytes */
  char host[256], port[8];
  uv_getaddrinfo_t gai;
  struct addrinfo *ai, *next_ai; /* owned (ai) */
  uv_tcp_t tcp;
  uv_connect_t conn;
  uv_write_t wr;
  uv_timer_t timer;
  char rbuf[16384];
  int finished, resolving, tcp_open, timer_open;
} client;

static void maybe_free(client *c) {
  if (!c->finished || c->resolving || c->tcp_open || c->timer_open) return;
  if (c->ai) uv_freeaddrinfo(c->ai);
  es_buf_free(&c->out);
  es_httpc_parser_free(c->parser);
  free(c);
}

static void on_timer_closed(uv_handle_t *h) {
  client *c = h->data;
  c->timer_open = 0;
  maybe_free(c);
}

static void on_tcp_closed(uv_handle_t *h) {
  client *c = h->data;
  c->tcp_open = 0;
  maybe_free(c);
}

static void finish(client *c, es_httpc_rc rc) {
  if (c->finished) return;
  c->finished = 1;
  c->cb(rc, rc == ES_HTTPC_OK ? es_httpc_parser_resp(c->parser) : NULL, c->ud);
  if (c->resolving) (void)uv_cancel((uv_req_t *)&c->gai); /* its callback still runs (ECANCELED) */
  if (c->timer_open) uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
  maybe_free(c);
}

static void on_timeout(uv_timer_t *t) { finish(t->data, ES_HTTPC_ETIMEOUT); }

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  client *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (c->finished || n == 0) return;
  es_httpc_rc rc;
  if (n > 0) rc = es_httpc_parser_feed(c->parser, buf->base, (size_t)n);
  else if (n == UV_EOF) rc = es_httpc_parser_eof(c->parser);
  else rc = ES_HTTPC_ECONNECT;
  if (rc != ES_HTTPC_MORE) finish(c, rc);
}

static void on_written(uv_write_t *w, int status) {
  client *c = w->data;
  if (status < 0) finish(c, ES_HTTPC_ECONNECT);
}

static void try_connect(client *c);
static void on_failed_closed(uv_handle_t *h);

static void on_connect(uv_connect_t *req, int status) {
  client *c = req->data;
  if (c->finished) return;
  if (status < 0) { /* the next address, if any (localhost: ::1 then 127.0.0.1) */
    uv_close((uv_handle_t *)&c->tcp, on_failed_closed);
    return;
  }
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) != 0)
    finish(c, ES_HTTPC_ECONNECT);
}

static void try_connect(client *c) {
  while (c->next_ai) {
    struct addrinfo *a = c->next_ai;
    c->next_ai = a->ai_next;
    if (uv_tcp_init(c->loop, &c->tcp) != 0) break;
    c->tcp.data = c;
    c->tcp_open = 1;
    c->conn.data = c;
    if (uv_tcp_connect(&c->conn, &c->tcp, a->ai_addr, on_connect) == 0) return;
    uv_close((uv_handle_t *)&c->tcp, on_failed_closed);
    return;
  }
  finish(c, ES_HTTPC_ECONNECT);
}

/* The failed connection's handle is closed: try the next address. */
static void on_failed_closed(uv_handle_t *h) {
  client *c = h->data;
  c->tcp_open = 0;
  if (c->finished) return maybe_free(c);
  try_connect(c);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  client *c = g->data;
  c->resolving = 0;
  c->ai = res;
  c->next_ai = res;
  if (c->finished) return maybe_free(c);
  if (status < 0 || !res) return finish(c, ES_HTTPC_ECONNECT);
  try_connect(c);
}

static int target_ok(const char *s) {
  if (!s || s[0] != '/') return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

static int header_ok(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h) return 0;
  for (const char *s = h; *s; s++)
    if (*s == '\r' || *s == '\n' || *s == '\0') return 0;
  for (const char *s = h; s < colon; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
  static const char *const OURS[] = {"host:", "connection:", "content-length:", "transfer-encoding:"};
  for (size_t i = 0; i < sizeof OURS / sizeof *OURS; i++)
    if (strncasecmp(h, OURS[i], strlen(OURS[i])) == 0) return 0;
  return 1;
}

int es_httpc_request(uv_loop_t *loop, const char *method, const char *url, const char *target,
                     const char *const *headers, const char *body, size_t body_len, const es_httpc_limits *lim,
                     es_httpc_cb cb, void *ud) {
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (!loop || !method || !*method || !url || !cb || !target_ok(target) ||
      http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_SCHEMA)) ||
      !(u.field_set & (1 << UF_HOST)) || (u.field_set & ((1 << UF_QUERY) | (1 << UF_FRAGMENT) | (1 << UF_USERINFO))))
    return -1;
  if (u.field_data[UF_SCHEMA].len != 4 || strncasecmp(url + u.field_data[UF_SCHEMA].off, "http", 4) != 0) return -1;
  for (const char *m = method; *m; m++)
    if (*m < 'A' || *m > 'Z') return -1;
  for (size_t i = 0; headers && headers[i]; i++)
    if (!header_ok(headers[i])) return -1;
  client *c = calloc(1, sizeof *c);
  if (!c) return -1;
  c->loop = loop;
  c->cb = cb;
  c->ud = ud;
  c->parser = es_httpc_parser_new(lim);
  size_t hl = u.field_data[UF_HOST].len;
  if (!c->parser || hl == 0 || hl >= sizeof c->host) goto fail;
  memcpy(c->host, url + u.field_data[UF_HOST].off, hl);
  c->host[hl] = '\0';
  snprintf(c->port, sizeof c->port, "%u", (u.field_set & (1 << UF_PORT)) ? u.port : 80u);
  /* the url's path is a prefix: "http://h/base" + "/x" -> "/base/x" */
  const char *prefix = (u.field_set & (1 << UF_PATH)) ? url + u.field_data[UF_PATH].off : "";
  size_t plen = (u.field_set & (1 << UF_PATH)) ? u.field_data[UF_PATH].len : 0;
  while (plen && prefix[plen - 1] == '/') plen--;
  int ipv6 = strchr(c->host, ':') != NULL;
  int bad = es_buf_printf(&c->out, "%s %.*s%s HTTP/1.1\r\nHost: %s%s%s", method, (int)plen, prefix, target,
                          ipv6 ? "[" : "", c->host, ipv6 ? "]" : "") != 0;
  if (u.field_set & (1 << UF_PORT)) bad |= es_buf_printf(&c->out, ":%s", c->port) != 0;
  bad |= es_buf_puts(&c->out, "\r\nConnection: close\r\nUser-Agent: escucha\r\n") != 0;
  for (size_t i = 0; headers && headers[i]; i++) bad |= es_buf_printf(&c->out, "%s\r\n", headers[i]) != 0;
  if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
    bad |= es_buf_printf(&c->out, "Content-Length: %zu\r\n", body ? body_len : 0) != 0;
  bad |= es_buf_puts(&c->out, "\r\n") != 0;
  if (body && body_len) bad |= es_buf_append(&c->out, body, body_len) != 0;
  if (bad) goto fail;
  if (uv_timer_init(loop, &c->timer) != 0) goto fail;
  c->timer.data = c;
  c->timer_open = 1;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  c->gai.data = c;
  if (uv_getaddrinfo(loop, &c->gai, on_resolved, c->host, c->port, &hints) != 0) {
    /* nothing started but the timer: close it, and cb is never called */
    c->finished = 1;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    return -1;
  }
  c->resolving = 1;
  uv_timer_start(&c->timer, on_timeout, c->parser->lim.timeout_ms, 0);
  return 0;
fail:
  es_buf_free(&c->out);
  es_httpc_parser_free(c->parser);
  free(c);
  return -1;
}
