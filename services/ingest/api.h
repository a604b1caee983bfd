/* Ingest HTTP API: routes, auth, rate limit, request -> items -> response. */
#ifndef ESCUCHA_INGEST_API_H
#define ESCUCHA_INGEST_API_H
#include "auth.h"
#include "http.h"
#include "pipeline.h"

typedef struct {
  ing_pipeline *g;
  ing_auth *keys;
  size_t max_batch;        /* items per batch request */
  char *services;          /* Open311 services.json answer, rendered (owned) */
  size_t inflight_limit;   /* 503 when more items are in flight than this */
  const char *wa_secret;   /* WhatsApp app secret (signs webhook bodies); NULL = channel off */
  const char *wa_verify;   /* verify token for Meta's subscription handshake */
  const char *wa_agency;   /* agency the WhatsApp number belongs to */
} ing_api_ctx;

void ing_api_handle(es_http_req *req, void *ud);
void ing_api_metrics_init(void);
/* Renders the Open311 services list (JSON) from a taxonomy file; NULL on error. */
char *ing_api_open311_services(const char *taxonomy_path);
#endif
