/* escucha-api's HTTP handler: routing, authentication (Bearer keys and
 * dashboard sessions), roles, static files, and the query functions run on
 * libuv's thread pool with a pooled PostgreSQL connection (the loop never
 * waits for the database). Replies carry the security headers (CSP, nosniff)
 * and lists an ETag. */
#ifndef ESCUCHA_API_SERVER_H
#define ESCUCHA_API_SERVER_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "kafka_groups.h"
#include "keys.h"
#include "pool.h"
#include "receipt.h"
#include "session.h"
#include "taxo.h"

typedef struct api_server {
  uv_loop_t *loop;                  /* borrowed */
  api_pool *pool;                   /* borrowed */
  const es_keys *keys;              /* borrowed */
  api_sessions *sessions;           /* borrowed */
  const api_taxo *taxo;             /* borrowed; NULL: reviews answer 503 */
  const char *web_root;             /* borrowed: real path of the dashboard folder; NULL: none */
  const unsigned char *receipt_key; /* borrowed (ES_RECEIPT_KEY_BYTES); NULL: receipts 404 */
  const unsigned char *optout_key;  /* borrowed: es_receipt_subkey(receipt key, "optout"); NULL: opt-outs 404 */
  rd_kafka_t *producer;             /* borrowed; NULL: reviews answer 503 */
  const char *corrections_topic;
  es_lagmon *lagmon;   /* borrowed: the groups' lag, probed on its own thread; NULL: none */
  int cookie_secure;   /* the session cookie gets "Secure" (served over HTTPS) */
  size_t max_inflight; /* queued database jobs before answering 503 */
  size_t inflight;     /* loop thread only */
} api_server;

/* The security headers every reply carries ("Name: value\r\n" lines). */
extern const char API_SECURITY_HEADERS[];

/* Creates the metric families (once, before serving). */
void api_server_metrics_init(void);
/* es_http_handler; ud is the api_server. */
void api_server_handle(es_http_req *req, void *ud);
/* The corrections producer's delivery report callback (es_kafka_producer_new's dr). */
void api_server_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
#endif
