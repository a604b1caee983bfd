/* escucha-ingest: the single intake for every channel (HTTP, Open311, the
 * inbound Kafka topic, CSV import). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "config.h"
#include "contact.h"
#include "dlq.h"
#include "import.h"
#include "inbound.h"
#include "kafka.h"
#include "log.h"
#include "process.h"
#include "metrics.h"
#include "receipt.h"
#include "util.h"

/* The options, typed and bound to their fields (lib/config.h). */
static struct {
  es_common_cfg common;
  const char *http_host, *api_keys_file, *api_keys, *taxonomy, *group, *agency, *whatsapp_agency,
      *whatsapp_verify_token, *dlq_seal_public_key_file, *dlq_secret_key_file, *contact_public_key_file,
      *test_fail_text, *receipt_secret_file, *public_api_url, *open311_read_url;
  char *whatsapp_app_secret; /* value or the file's content */
  long http_port, admin_port, http_max_conns, dedup_window, dedup_anonymous_window, max_body, max_batch, max_inflight;
  long open311_read_max_bytes;
  double http_header_timeout_s, http_body_timeout_s, http_idle_timeout_s, rate_limit, open311_read_timeout_s;
  int utf8_repair, inbound, trust_created_at, inbound_trust_created_at;
} C;

static const char *const UTF8_MODES[] = {"reject", "repair", NULL};

static es_opt OPTS[] = {
    ES_COMMON_OPTS(C.common),
    ES_STR("http-host", "127.0.0.1", "Address for the ingest API (0.0.0.0: every interface)", &C.http_host),
    ES_LONG("http-port", "8080", 0, ES_PORT_MAX, "Port for the ingest API", &C.http_port),
    ES_DOUBLE("http-header-timeout-s", "10", 0, 86400,
              "Seconds to receive a request head (from its first byte; 0 = none)", &C.http_header_timeout_s),
    ES_DOUBLE("http-body-timeout-s", "30", 0, 86400,
              "Seconds to receive a request body (from the end of the head; 0 = none)", &C.http_body_timeout_s),
    ES_DOUBLE("http-idle-timeout-s", "60", 0, 86400,
              "Seconds a keep-alive connection may idle between requests (0 = none)", &C.http_idle_timeout_s),
    ES_LONG("http-max-conns", "0", 0, 1000000, "Most open API connections (0 = min(4096, 3/4 of RLIMIT_NOFILE))",
            &C.http_max_conns),
    ES_LONG("admin-port", "9101", 0, ES_PORT_MAX, "Port for /metrics /healthz /readyz", &C.admin_port),
    ES_STR("api-keys-file", NULL,
           "File of agency:role[,role]:<sha256 hex of key> lines (legacy agency:<hex>: submit+read+review)",
           &C.api_keys_file),
    ES_STR("api-keys", NULL, "agency[:role+role]:key[,...] (hashed at load; prefer the file)", &C.api_keys),
    ES_STR("receipt-secret-file", NULL,
           "File of 64 hex chars: the secret of citizen receipt tokens (status_url); unset: no status_url",
           &C.receipt_secret_file),
    ES_STR("public-api-url", "http://127.0.0.1:8081", "escucha-api's base URL as citizens reach it (status_url)",
           &C.public_api_url),
    ES_STR("open311-read-url", "http://127.0.0.1:8081",
           "escucha-api's base URL for forwarded Open311 GETs (empty: not forwarded, 404)", &C.open311_read_url),
    ES_DOUBLE("open311-read-timeout-s", "10", 0.1, 300, "Seconds a forwarded Open311 GET may take (then 503)",
              &C.open311_read_timeout_s),
    ES_LONG("open311-read-max-bytes", "8388608", 1024, 1L << 30,
            "Largest forwarded Open311 answer in bytes (larger: 502)", &C.open311_read_max_bytes),
    ES_DOUBLE("rate-limit", "1000", 0, 1e9,
              "Items per second per API key: a batch costs one per item; burst 2x (0 = unlimited)", &C.rate_limit),
    ES_LONG("dedup-window", "604800", 0, 315360000, "Seconds a re-sent external_id is answered as a duplicate",
            &C.dedup_window),
    ES_LONG("dedup-anonymous-window", "600", 0, 315360000,
            "Seconds identical content without external_id (same channel, service, scores) is a duplicate",
            &C.dedup_anonymous_window),
    ES_LONG("max-body", "16777216", 1, 1L << 31, "Largest request body in bytes", &C.max_body),
    ES_LONG("max-batch", "10000", 1, 10000000, "Most items in one batch request", &C.max_batch),
    ES_LONG("max-inflight", "200000", 1, 100000000, "Items in flight before answering 503", &C.max_inflight),
    ES_ENUM("utf8", "reject", UTF8_MODES, "What to do with invalid UTF-8 text", &C.utf8_repair),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy (Open311 services list)", &C.taxonomy),
    ES_BOOL("inbound", "on", "Consume escucha.feedback.inbound.v1", &C.inbound),
    ES_STR("group", "escucha-ingest", "Consumer group for the inbound topic", &C.group),
    ES_BOOL("inbound-trust-created-at", "off",
            "The inbound topic carries trusted history (an agency system replaying its records): file each message "
            "at its created_at, not now (docs/ingest.md)",
            &C.inbound_trust_created_at),
    ES_STR("agency", "demo", "Agency for `import`", &C.agency),
    ES_BOOL("trust-created-at", "off",
            "`import`: the file is the agency's history; file each row at its created_at, not now (docs/ingest.md)",
            &C.trust_created_at),
    ES_STR("whatsapp-agency", NULL, "Agency of the WhatsApp Business number (enables /v1/channels/whatsapp)",
           &C.whatsapp_agency),
    ES_SECRET("whatsapp-app-secret", "Meta app secret that signs webhook calls (or a file holding it)",
              &C.whatsapp_app_secret),
    ES_STR("whatsapp-verify-token", NULL, "Token for Meta's webhook subscription handshake", &C.whatsapp_verify_token),
    ES_STR("dlq-seal-public-key-file", NULL,
           "Operator public key (dlq-keygen) sealing rejected inbound messages in the DLQ; unset: not kept",
           &C.dlq_seal_public_key_file),
    ES_STR("contact-public-key-file", NULL,
           "Notifier public key (keygen) sealing reporters' contacts; unset: contacts are dropped",
           &C.contact_public_key_file),
    ES_STR("dlq-secret-key-file", NULL, "For `dlq-open`: the operator secret key (dlq-keygen)", &C.dlq_secret_key_file),
    ES_STR("test-fail-text", NULL, "Tests only: items whose text contains this fail as if Kafka refused them",
           &C.test_fail_text),
    ES_OPT_END,
};

static struct {
  uv_loop_t *loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t ready_timer;
  es_http_server *http;
  ing_pipeline *g;
  ing_inbound *ib;
  int draining;
} S;

static void on_drain_tick(uv_timer_t *t);

static void begin_shutdown(void) {
  if (S.draining) return;
  S.draining = 1;
  es_info("shutdown", "draining in-flight feedback");
  es_admin_set_ready(0);
  if (S.http) es_http_close(S.http, NULL, NULL);
  S.http = NULL;
  uv_timer_stop(&S.ready_timer);
  uv_timer_start(&S.ready_timer, on_drain_tick, 20, 20);
}

static void on_signal(uv_signal_t *s, int sig) {
  (void)s;
  es_info("signal", "%s", strsignal(sig));
  begin_shutdown();
}

/* Waits (bounded) for in-flight items, then lets the loop end. */
static void on_drain_tick(uv_timer_t *t) {
  static int ticks;
  if (ing_pipeline_inflight(S.g) > 0 && ++ticks < 500) return;
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, NULL);
  uv_close((uv_handle_t *)&S.sigterm, NULL);
  uv_close((uv_handle_t *)&S.sigint, NULL);
  if (S.ib) ing_inbound_stop(S.ib);
  S.ib = NULL;
  ing_pipeline_free(S.g);
  S.g = NULL;
}

static void on_ready_tick(uv_timer_t *t) {
  (void)t;
  int kafka = ing_pipeline_kafka_ok(S.g) && !es_kafka_fatal;
  char detail[96];
  snprintf(detail, sizeof detail, "kafka=%s redis=%s", kafka ? "ok" : "down",
           ing_pipeline_redis_ok(S.g) ? "ok" : "degraded");
  es_admin_set_status(detail);
  es_admin_set_ready(kafka);
  if (es_kafka_fatal) {
    es_error("kafka_fatal_shutdown", "the producer hit a fatal error; exiting for a restart");
    begin_shutdown();
  }
}

/* A request waits for the broker's ack; past this it gets 503 instead. */
static const char *const PRODUCER_EXTRA[] = {
    "message.timeout.ms", "20000", /* rides out a broker restart; a timeout past a send is ambiguous */
    /* Feedback ids are keys, not routing: nothing downstream needs one id's
     * messages on one partition, so fill one partition at a time (larger batches,
     * less broker CPU per message). */
    "partitioner", "sticky",
    /* Not 0: under load, requests of one message each queue up behind one another
     * on the broker connection. With the sticky partitioner a short wait fills a
     * batch: bench/ingest at 128 clients 20k/s at 0, 24k at 2 ms, 34k at 0.2 ms. */
    "linger.ms", "0.2", NULL};

static ing_pipeline *make_ingest(char *err, size_t errlen) {
  ing_pipeline_config cfg = {
      .brokers = C.common.kafka_brokers,
      .redis_url = C.common.redis_url,
      .dedup_window_s = C.dedup_window,
      .dedup_anon_window_s = C.dedup_anonymous_window,
      .repair_utf8 = C.utf8_repair,
      .producer_extra = PRODUCER_EXTRA,
      .test_fail_text = C.test_fail_text,
  };
  return ing_pipeline_new(S.loop, &cfg, err, errlen);
}

static int run_import(int nrest, char **rest) {
  if (nrest < 2) {
    fprintf(stderr, "usage: escucha-ingest import FILE.csv [--agency NAME] [--trust-created-at on]\n");
    return 2;
  }
  char err[512];
  S.g = make_ingest(err, sizeof err);
  if (!S.g) {
    fprintf(stderr, "import: %s\n", err);
    return 1;
  }
  int rc = 0;
  for (int i = 1; i < nrest; i++) rc |= ing_import_csv(S.loop, S.g, rest[i], C.agency, C.trust_created_at, 0);
  ing_pipeline_free(S.g);
  uv_run(S.loop, UV_RUN_NOWAIT);
  return rc;
}

/* A base URL we put in answers or call: http(s)://…, printable, no quotes;
 * trailing '/' removed (into buf). 0 ok. */
static int base_url_ok(const char *name, const char *url, int https_ok, char *buf, size_t cap) {
  size_t n = url ? strlen(url) : 0;
  int ok = n > 0 && n < cap && n <= 256 &&
           (strncmp(url, "http://", 7) == 0 || (https_ok && strncmp(url, "https://", 8) == 0));
  for (size_t i = 0; ok && i < n; i++)
    if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f || url[i] == '"' || url[i] == '\\') ok = 0;
  if (!ok) {
    es_error("config_error", "%s must be an %s URL of at most 256 printable characters", name,
             https_ok ? "http:// or https://" : "http://");
    return -1;
  }
  memcpy(buf, url, n + 1);
  while (n > 0 && buf[n - 1] == '/') buf[--n] = '\0';
  return 0;
}

static int serve(void) {
  char err[512];
  int rc = 1;
  ing_api_ctx api = {0};
  static unsigned char receipt_key[ES_RECEIPT_KEY_BYTES];
  static char public_url[260], read_url[260];
  /* Receipts are optional (an intake without escucha-api still works), but a
   * secret that was asked for and cannot be read is a configuration error. */
  if (C.receipt_secret_file && *C.receipt_secret_file) {
    if (es_receipt_key_load(C.receipt_secret_file, receipt_key, err, sizeof err) != 0) {
      es_error("config_error", "ESCUCHA_RECEIPT_SECRET_FILE: %s", err);
      goto cleanup;
    }
    api.receipt_key = receipt_key;
  } else {
    es_warn("receipts_off", "ESCUCHA_RECEIPT_SECRET_FILE is not set: answers carry no status_url");
  }
  if (base_url_ok("ESCUCHA_PUBLIC_API_URL", C.public_api_url, 1, public_url, sizeof public_url) != 0) goto cleanup;
  api.public_url = public_url;
  if (C.open311_read_url && *C.open311_read_url) {
    if (base_url_ok("ESCUCHA_OPEN311_READ_URL", C.open311_read_url, 0, read_url, sizeof read_url) != 0) goto cleanup;
    api.open311_read_url = read_url;
  }
  api.loop = S.loop;
  api.open311_read_timeout_ms = (unsigned)(C.open311_read_timeout_s * 1000);
  api.open311_read_max_bytes = (size_t)C.open311_read_max_bytes;
  api.keys = ing_auth_new(C.api_keys_file, C.api_keys, C.rate_limit, err, sizeof err);
  if (!api.keys) {
    es_error("config_error", "%s", err);
    goto cleanup;
  }
  if (ing_auth_count(api.keys) == 0) es_warn("no_api_keys", "no API keys loaded: every POST will get 401");
  api.max_batch = (size_t)C.max_batch;
  api.inflight_limit = (size_t)C.max_inflight;
  api.services = ing_api_open311_services(C.taxonomy);
  api.wa_secret = C.whatsapp_app_secret;
  api.wa_verify = C.whatsapp_verify_token;
  api.wa_agency = C.whatsapp_agency;
  ing_api_metrics_init();
  if (ing_contact_init(C.contact_public_key_file, err, sizeof err) != 0) {
    es_error("config_error", "%s", err);
    goto cleanup;
  }
  S.g = make_ingest(err, sizeof err);
  if (!S.g) {
    es_error("kafka_config_error", "%s", err);
    goto cleanup;
  }
  api.g = S.g;
  if (C.inbound) {
    S.ib = ing_inbound_start(S.loop, S.g, C.common.kafka_brokers, C.group, C.dlq_seal_public_key_file, err, sizeof err);
    if (!S.ib) {
      es_error("kafka_config_error", "%s", err);
      goto cleanup;
    }
    ing_inbound_trust_created_at(S.ib, C.inbound_trust_created_at); /* before the loop runs: no message read yet */
  }
  es_http_limits lim = {.max_body = (size_t)C.max_body,
                        .max_header_bytes = 32768,
                        .header_timeout_ms = (unsigned)(C.http_header_timeout_s * 1000),
                        .body_timeout_ms = (unsigned)(C.http_body_timeout_s * 1000),
                        .idle_timeout_ms = (unsigned)(C.http_idle_timeout_s * 1000),
                        .max_conns = (unsigned)C.http_max_conns,
                        .name = "api"};
  S.http = es_http_listen(S.loop, C.http_host, (int)C.http_port, &lim, ing_api_handle, &api);
  if (!S.http) goto cleanup;
  /* admin last: a 200 from /healthz means the API port is bound too */
  es_process_watch_dir(C.common.state_dir); /* escucha_state_disk_*_bytes */
  if (es_admin_start(C.common.admin_host, (int)C.admin_port) != 0) goto cleanup;
  uv_signal_init(S.loop, &S.sigterm);
  uv_signal_init(S.loop, &S.sigint);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  uv_timer_init(S.loop, &S.ready_timer);
  uv_timer_start(&S.ready_timer, on_ready_tick, 0, 500);
  es_info("listening", "http=%s:%ld keys=%zu max_conns=%u", C.http_host, C.http_port, ing_auth_count(api.keys),
          es_http_max_conns(S.http));
  uv_run(S.loop, UV_RUN_DEFAULT);
  rc = es_kafka_fatal ? 1 : 0;
  es_info("stopped", "bye");
cleanup:
  if (S.g && !S.draining) { /* start-up failure: nothing in flight */
    if (S.ib) ing_inbound_stop(S.ib);
    ing_pipeline_free(S.g);
  }
  es_admin_stop();
  sodium_memzero(receipt_key, sizeof receipt_key);
  ing_auth_free(api.keys);
  free(api.services);
  return rc;
}

int main(int argc, char **argv) {
  char *rest[16];
  int nrest = 0;
  int pr =
      es_config_parse(OPTS, "escucha-ingest", "[import FILE.csv... | keygen PUB SECRET | dlq-open [DIR]] [options]",
                      argc, argv, 1, rest, &nrest);
  if (pr != 0) {
    es_config_free(OPTS);
    return pr > 0 ? 0 : 2;
  }
  es_log_init("ingest", ES_LOG_LEVELS[C.common.log_level]);
  S.loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  int rc;
  if (nrest == 3 && (strcmp(rest[0], "keygen") == 0 || strcmp(rest[0], "dlq-keygen") == 0))
    rc = ing_dlq_keygen_main(rest[1], rest[2]);
  else if (nrest >= 1 && nrest <= 2 && strcmp(rest[0], "dlq-open") == 0)
    rc = ing_dlq_open_main(C.common.kafka_brokers, C.dlq_secret_key_file, nrest == 2 ? rest[1] : ".");
  else rc = nrest > 0 && strcmp(rest[0], "import") == 0 ? run_import(nrest, rest) : serve();
  uv_run(S.loop, UV_RUN_NOWAIT); /* close callbacks of whatever shut down last */
  uv_loop_close(S.loop);
  es_metrics_reset();
  es_config_free(OPTS);
  return rc;
}
