/* Ingest HTTP API: routes, auth, rate limit, request -> items -> response. */
#ifndef ESCUCHA_INGEST_API_H
#define ESCUCHA_INGEST_API_H
#include "auth.h"
#include "http.h"
#include "pipeline.h"

typedef struct {
  ing_pipeline *g;
  ing_auth *keys;
  size_t max_batch;      /* items per batch request */
  char *services;        /* Open311 services.json answer, rendered (owned) */
  size_t inflight_limit; /* 503 when more items are in flight than this */
  const char *wa_secret; /* WhatsApp app secret (signs webhook bodies); NULL = channel off */
  const char *wa_verify; /* verify token for Meta's subscription handshake */
  const char *wa_agency; /* agency the WhatsApp number belongs to */
  /* Citizen receipts: with a key, every accepted or duplicate item's answer
   * carries status_url = public_url + "/v1/receipts/" + es_receipt_token(id). */
  const unsigned char *receipt_key; /* borrowed, ES_RECEIPT_KEY_BYTES; NULL = no status_url */
  const char *public_url;           /* borrowed; escucha-api's public base URL, no trailing '/' */
  /* Open311 reads (GET requests.json, requests/{id}.json) are forwarded here. */
  uv_loop_t *loop;              /* borrowed */
  const char *open311_read_url; /* borrowed; escucha-api's base URL; NULL = 404 */
  unsigned open311_read_timeout_ms;
  size_t open311_read_max_bytes;
} ing_api_ctx;

void ing_api_handle(es_http_req *req, void *ud);
void ing_api_metrics_init(void);
/* Renders the Open311 services list (JSON) from a taxonomy file; NULL on error. */
char *ing_api_open311_services(const char *taxonomy_path);
#endif
