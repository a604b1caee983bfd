/* Redis helpers (hiredis). Sync for workers, async on libuv for ingest. */
#ifndef ESCUCHA_LIB_RDS_H
#define ESCUCHA_LIB_RDS_H
#include "util.h" /* ES_MUST_CHECK */
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <uv.h>

/* redis://host:port[/db] -> host, port, db. 0 ok. */
ES_MUST_CHECK
int es_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db);
/* Sync connection with connect and command timeouts; NULL on failure. */
ES_MUST_CHECK
redisContext *es_redis_connect(const char *url, int timeout_ms);
/* Async connection attached to loop; NULL on immediate failure. */
ES_MUST_CHECK
redisAsyncContext *es_redis_async_connect(uv_loop_t *loop, const char *url);
#endif
