/* A small pool of PostgreSQL connections for the query functions, which run
 * on libuv's thread pool: each work item takes one connection and gives it
 * back. Connections are opened lazily and re-opened after a failure (through
 * es_pg_ensure), so PostgreSQL being down makes requests 503, not the
 * service exit. Thread-safe. */
#ifndef ESCUCHA_API_POOL_H
#define ESCUCHA_API_POOL_H
#include <libpq-fe.h>

#include "util.h" /* ES_MUST_CHECK */

typedef struct api_pool api_pool;

/* dsn is copied; size connections at most; statement_timeout_ms applied to
 * each connection (0 = none). Aborts on OOM (start-up). */
ES_MUST_CHECK api_pool *api_pool_new(const char *dsn, int size, long statement_timeout_ms);
void api_pool_free(api_pool *p); /* accepts NULL; every connection must be back */
/* Blocks until a slot is free; a usable connection (borrowed until
 * api_pool_give), or NULL when PostgreSQL cannot be reached (nothing to give
 * back then). */
PGconn *api_pool_take(api_pool *p);
void api_pool_give(api_pool *p, PGconn *c);
/* 1 when the last connection attempt or check succeeded. */
int api_pool_healthy(const api_pool *p);
#endif
