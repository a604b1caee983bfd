#include "rds.h"

#include <hiredis/adapters/libuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int es_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db) {
  *port = 6379;
  *db = 0;
  if (!url || strncmp(url, "redis://", 8) != 0) return -1;
  const char *p = url + 8;
  const char *at = strchr(p, '@'); /* credentials are not supported; skip them */
  if (at) p = at + 1;
  size_t n = strcspn(p, ":/");
  if (n == 0 || n >= hostlen) return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  p += n;
  if (*p == ':') {
    *port = (int)strtol(p + 1, (char **)&p, 10);
    if (*port <= 0 || *port > 65535) return -1;
  }
  if (*p == '/' && p[1]) *db = (int)strtol(p + 1, NULL, 10);
  return 0;
}

redisContext *es_redis_connect(const char *url, int timeout_ms) {
  char host[256];
  int port, db;
  if (es_redis_parse_url(url, host, sizeof host, &port, &db) != 0) {
    es_error("redis_bad_url", "cannot parse redis url");
    return NULL;
  }
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (!c || c->err) {
    es_warn("redis_connect_failed", "%s:%d %s", host, port, c ? c->errstr : "oom");
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  if (db) {
    redisReply *r = redisCommand(c, "SELECT %d", db);
    if (r) freeReplyObject(r);
  }
  return c;
}

/* hiredis 0.14's libuv adapter drops poll events that carry an error
 * status, so a refused or reset connection never reaches hiredis and a
 * reconnect attempt hangs forever. Same adapter, but errors are handed to
 * hiredis as readiness so it reads the socket error and reports it. */
static void poll_cb(uv_poll_t *handle, int status, int events) {
  redisLibuvEvents *p = handle->data;
  if (status != 0) events = p->events ? p->events : UV_READABLE;
  if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

/* Only on a change: hiredis asks to add write interest for every command,
 * and uv_poll_start re-registers the fd with epoll each time (a DEL now, an
 * ADD at the next poll): two syscalls per command, half of them failing. */
static void set_events(redisLibuvEvents *p, int add, int del) {
  int events = (p->events | add) & ~del;
  if (events == p->events && (events == 0) == !uv_is_active((uv_handle_t *)&p->handle)) return;
  p->events = events;
  if (p->events) uv_poll_start(&p->handle, p->events, poll_cb);
  else uv_poll_stop(&p->handle);
}
static void add_read(void *d) { set_events(d, UV_READABLE, 0); }
static void del_read(void *d) { set_events(d, 0, UV_READABLE); }
static void add_write(void *d) { set_events(d, UV_WRITABLE, 0); }
static void del_write(void *d) { set_events(d, 0, UV_WRITABLE); }

redisAsyncContext *es_redis_async_connect(uv_loop_t *loop, const char *url) {
  char host[256];
  int port, db;
  if (es_redis_parse_url(url, host, sizeof host, &port, &db) != 0) return NULL;
  redisAsyncContext *ac = redisAsyncConnect(host, port);
  if (!ac) return NULL;
  if (ac->err) {
    es_warn("redis_connect_failed", "%s:%d %s", host, port, ac->errstr);
    redisAsyncFree(ac);
    return NULL;
  }
  if (redisLibuvAttach(ac, loop) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  if (db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", db);
  return ac;
}
