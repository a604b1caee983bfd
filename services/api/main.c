/* escucha-api: the read side. The dashboard and its JSON API for agency
 * staff, citizen receipts and Open311 GETs, reading PostgreSQL (as a role
 * that can only read, and write audit rows) on libuv's thread pool; reviews
 * go to escucha.corrections.v1. See docs/api.md. */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "kafka.h"
#include "kafka_groups.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "process.h"
#include "query.h"
#include "receipt.h"
#include "server.h"
#include "session.h"
#include "taxo.h"
#include "util.h"

static struct {
  es_common_cfg common;
  const char *http_host, *api_pg_dsn, *api_keys_file, *api_keys, *receipt_secret_file, *taxonomy, *web_root,
      *corrections_topic, *lag_groups;
  long http_port, admin_port, http_max_conns, pg_pool_size, pg_statement_timeout_ms, max_sessions, session_idle_s,
      max_inflight, lag_interval_ms;
  double http_header_timeout_s, http_body_timeout_s, http_idle_timeout_s;
  int cookie_secure;
} C;

static es_opt OPTS[] = {
    ES_COMMON_OPTS(C.common),
    ES_STR("http-host", "127.0.0.1", "Address for the API and dashboard (0.0.0.0: every interface)", &C.http_host),
    ES_LONG("http-port", "8081", 0, ES_PORT_MAX, "Port for the API and dashboard", &C.http_port),
    ES_DOUBLE("http-header-timeout-s", "10", 0, 86400, "Seconds to receive a request head (0 = none)",
              &C.http_header_timeout_s),
    ES_DOUBLE("http-body-timeout-s", "30", 0, 86400, "Seconds to receive a request body (0 = none)",
              &C.http_body_timeout_s),
    ES_DOUBLE("http-idle-timeout-s", "60", 0, 86400, "Seconds a keep-alive connection may idle (0 = none)",
              &C.http_idle_timeout_s),
    ES_LONG("http-max-conns", "0", 0, 1000000, "Most open connections (0 = min(4096, 3/4 of RLIMIT_NOFILE))",
            &C.http_max_conns),
    ES_LONG("admin-port", "9105", 0, ES_PORT_MAX, "Port for /metrics /healthz /readyz", &C.admin_port),
    ES_STR("api-pg-dsn", "host=127.0.0.1 port=15432 dbname=escucha user=escucha_api",
           "PostgreSQL connection of the read side: the escucha_api role (SELECT, and INSERT into audit_log); "
           "ESCUCHA_PG_DSN is not used",
           &C.api_pg_dsn),
    ES_LONG("pg-pool-size", "4", 1, 64, "PostgreSQL connections, and threads running queries", &C.pg_pool_size),
    ES_LONG("pg-statement-timeout-ms", "10000", 0, 3600000, "Longest query before PostgreSQL cancels it (0 = none)",
            &C.pg_statement_timeout_ms),
    ES_STR("api-keys-file", NULL, "Keys file: agency:role[,role]:<sha256 hex of key> lines (lib/keys.h)",
           &C.api_keys_file),
    ES_STR("api-keys", NULL, "agency:key or agency:role+role:key, comma-separated (hashed at load; prefer the file)",
           &C.api_keys),
    ES_STR("receipt-secret-file", NULL,
           "File with the 64 hex chars of the receipt secret (ingest's); unset: receipts answer 404",
           &C.receipt_secret_file),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy (review validation, Open311 service names)",
           &C.taxonomy),
    ES_STR("corrections-topic", ES_TOPIC_CORRECTIONS, "Topic reviews are published to (classify retraining)",
           &C.corrections_topic),
    ES_STR("web-root", NULL,
           "Dashboard folder (default: services/api/web beside the build, else under the working directory)",
           &C.web_root),
    ES_LONG("max-sessions", "10000", 1, 10000000, "Most dashboard sessions (the least recently used goes)",
            &C.max_sessions),
    ES_LONG("session-idle-s", "43200", 60, 31536000, "Seconds a dashboard session lives after its last use",
            &C.session_idle_s),
    ES_BOOL("cookie-secure", "off", "Mark the session cookie Secure (the dashboard is served over HTTPS by a proxy)",
            &C.cookie_secure),
    ES_STR("lag-groups", "escucha-ingest,escucha-classify,escucha-prioritize,escucha-actions",
           "Consumer groups whose lag is probed from outside (escucha_kafka_group_lag, /v1/health; comma-separated)",
           &C.lag_groups),
    ES_LONG("lag-interval-ms", "15000", 100, 3600000, "How often the groups' lag is probed", &C.lag_interval_ms),
    ES_LONG("max-inflight", "1000", 1, 1000000, "Database requests queued before answering 503", &C.max_inflight),
    ES_LONG("stale-after", "14", 0, 3650,
            "Days without ticket movement after which an open action plan is shown stale (0 = never)",
            &api_q_stale_after_days),
    ES_OPT_END,
};

static struct {
  uv_loop_t *loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t ready_timer, drain_timer;
  uv_work_t ping;
  int ping_busy, ping_ok, draining;
  es_http_server *http;
  es_kafka_uv *kuv;
  api_server srv;
} S;

/* ---- readiness: a cheap query on the pool every second ---- */

static void ping_work(uv_work_t *w) {
  (void)w;
  PGconn *c = api_pool_take(S.srv.pool);
  int ok = 0;
  if (c) {
    PGresult *r = PQexec(c, "SELECT 1");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    api_pool_give(S.srv.pool, c);
  }
  S.ping_ok = ok;
}

static void ping_done(uv_work_t *w, int status) {
  (void)w, (void)status;
  S.ping_busy = 0;
  char detail[64];
  snprintf(detail, sizeof detail, "postgres=%s", S.ping_ok ? "ok" : "down");
  es_admin_set_status(detail);
  es_admin_set_ready(S.ping_ok && !S.draining);
}

static void on_ready_tick(uv_timer_t *t) {
  (void)t;
  if (S.ping_busy || S.draining) return;
  S.ping.data = NULL;
  if (uv_queue_work(S.loop, &S.ping, ping_work, ping_done) == 0) S.ping_busy = 1;
}

/* ---- shutdown ---- */

static void on_drain_tick(uv_timer_t *t) {
  static int ticks;
  if ((S.srv.inflight > 0 || S.ping_busy) && ++ticks < 1000) return;
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, NULL);
  uv_close((uv_handle_t *)&S.ready_timer, NULL);
  uv_close((uv_handle_t *)&S.sigterm, NULL);
  uv_close((uv_handle_t *)&S.sigint, NULL);
  es_kafka_uv_detach(S.kuv);
  S.kuv = NULL;
}

static void on_signal(uv_signal_t *s, int sig) {
  (void)s;
  if (S.draining) return;
  S.draining = 1;
  es_info("signal", "%s: finishing requests in progress", strsignal(sig));
  es_admin_set_ready(0);
  uv_timer_stop(&S.ready_timer);
  if (S.http) es_http_close(S.http, NULL, NULL);
  S.http = NULL;
  uv_timer_init(S.loop, &S.drain_timer);
  uv_timer_start(&S.drain_timer, on_drain_tick, 0, 20);
}

/* services/api/web beside the build (bin/../../services/api/web), else relative to the cwd. */
static char *find_web_root(void) {
  char exe[PATH_MAX], cand[PATH_MAX + 64], real[PATH_MAX];
  const char *given = C.web_root;
  if (given) return realpath(given, real) ? es_xstrdup(real) : NULL;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    snprintf(cand, sizeof cand, "%s/../../services/api/web", dirname(exe));
    if (realpath(cand, real)) return es_xstrdup(real);
  }
  return realpath("services/api/web", real) ? es_xstrdup(real) : NULL;
}

/* "a,b" -> {"a","b",NULL} (malloc'd; start-up memory). */
static char **split_groups(const char *list) {
  size_t n = 0, cap = 4;
  char **v = es_xcalloc(cap + 1, sizeof *v);
  for (const char *p = list ? list : ""; *p;) {
    size_t l = strcspn(p, ",");
    if (l > 0) {
      if (n == cap) v = es_xrealloc(v, ((cap *= 2) + 1) * sizeof *v);
      v[n++] = es_xstrndup(p, l);
      v[n] = NULL;
    }
    p += l + (p[l] == ',');
  }
  return v;
}

static int serve(void) {
  char err[512];
  int rc = 1;
  unsigned char rkey[ES_RECEIPT_KEY_BYTES], okey[ES_RECEIPT_KEY_BYTES];
  es_keys *keys = NULL;
  api_taxo *taxo = NULL;
  rd_kafka_t *producer = NULL;
  char *web = NULL, **groups = NULL;
  api_server *srv = &S.srv;

  keys = es_keys_load(C.api_keys_file, C.api_keys, err, sizeof err);
  if (!keys) {
    es_error("config_error", "api keys: %s", err);
    goto cleanup;
  }
  if (es_keys_count(keys) == 0) es_warn("no_api_keys", "no API keys loaded: every request needing a key gets 401");
  if (C.receipt_secret_file && access(C.receipt_secret_file, F_OK) != 0) {
    /* not provisioned (yet): receipts cannot be checked, the rest works */
    es_warn("no_receipt_secret", "%s does not exist: every receipt answers 404", C.receipt_secret_file);
  } else if (C.receipt_secret_file) {
    if (es_receipt_key_load(C.receipt_secret_file, rkey, err, sizeof err) != 0) {
      es_error("config_error", "receipt secret: %s", err);
      goto cleanup;
    }
    srv->receipt_key = rkey;
    es_receipt_subkey(rkey, "optout", okey); /* the notifier signs opt-out links with it */
    srv->optout_key = okey;
  } else es_warn("no_receipt_secret", "ESCUCHA_RECEIPT_SECRET_FILE unset: every receipt answers 404");
  taxo = api_taxo_load(C.taxonomy, err, sizeof err);
  if (!taxo) {
    es_error("config_error", "taxonomy: %s", err);
    goto cleanup;
  }
  web = find_web_root();
  if (!web) es_warn("no_web_root", "the dashboard folder was not found: / answers 404");
  static const char *const PRODUCER_EXTRA[] = {"message.timeout.ms", "10000", NULL};
  producer = es_kafka_producer_new(C.common.kafka_brokers, "escucha-api", api_server_delivery, NULL, PRODUCER_EXTRA,
                                   err, sizeof err);
  if (!producer) {
    es_error("kafka_config_error", "%s", err);
    goto cleanup;
  }
  S.kuv = es_kafka_uv_attach(S.loop, producer);
  if (!S.kuv) {
    es_error("kafka_config_error", "cannot watch the producer's events");
    goto cleanup;
  }
  srv->loop = S.loop;
  srv->pool = api_pool_new(C.api_pg_dsn, (int)C.pg_pool_size, C.pg_statement_timeout_ms);
  srv->keys = keys;
  srv->sessions = api_sessions_new((size_t)C.max_sessions, C.session_idle_s * 1000);
  srv->taxo = taxo;
  srv->web_root = web;
  srv->producer = producer;
  srv->corrections_topic = C.corrections_topic;
  srv->cookie_secure = C.cookie_secure;
  srv->max_inflight = (size_t)C.max_inflight;
  groups = split_groups(C.lag_groups);
  size_t ngroups = 0;
  while (groups[ngroups]) ngroups++;
  api_server_metrics_init();
  es_http_limits lim = {.max_body = 65536,
                        .max_header_bytes = 32768,
                        .header_timeout_ms = (unsigned)(C.http_header_timeout_s * 1000),
                        .body_timeout_ms = (unsigned)(C.http_body_timeout_s * 1000),
                        .idle_timeout_ms = (unsigned)(C.http_idle_timeout_s * 1000),
                        .max_conns = (unsigned)C.http_max_conns,
                        .name = "api",
                        /* lib/http's own refusals (400, 413, 431, 408, 503) carry the CSP too */
                        .default_headers = API_SECURITY_HEADERS};
  S.http = es_http_listen(S.loop, C.http_host, (int)C.http_port, &lim, api_server_handle, srv);
  if (!S.http) {
    es_error("listen_failed", "%s:%ld", C.http_host, C.http_port);
    goto cleanup;
  }
  if (es_admin_start(C.common.admin_host, (int)C.admin_port) != 0) goto cleanup;
  es_process_watch_dir(C.common.state_dir); /* escucha_state_disk_*_bytes */
  /* consumer-group lag from outside the groups, on a thread of its own */
  srv->lagmon = es_lagmon_start(C.common.kafka_brokers, (const char *const *)groups, ngroups,
                                (unsigned)C.lag_interval_ms, err, sizeof err);
  if (!srv->lagmon) {
    es_error("kafka_config_error", "lag probe: %s", err);
    goto cleanup;
  }
  uv_signal_init(S.loop, &S.sigterm);
  uv_signal_init(S.loop, &S.sigint);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  uv_timer_init(S.loop, &S.ready_timer);
  uv_timer_start(&S.ready_timer, on_ready_tick, 0, 1000);
  es_info("listening", "http=%s:%ld keys=%zu pool=%ld web=%s", C.http_host, C.http_port, es_keys_count(keys),
          C.pg_pool_size, web ? "yes" : "no");
  uv_run(S.loop, UV_RUN_DEFAULT);
  rc = 0;
  es_info("stopped", "bye");
cleanup:
  if (S.http) { /* start-up failure after listening */
    es_http_close(S.http, NULL, NULL);
    S.http = NULL;
  }
  if (S.kuv) es_kafka_uv_detach(S.kuv);
  S.kuv = NULL;
  uv_run(S.loop, UV_RUN_NOWAIT);
  es_lagmon_stop(srv->lagmon);
  srv->lagmon = NULL;
  es_admin_stop();
  if (producer) es_kafka_producer_close(producer, 5000);
  api_pool_free(srv->pool);
  api_sessions_free(srv->sessions);
  api_taxo_free(taxo);
  es_keys_free(keys);
  free(web);
  for (size_t i = 0; groups && groups[i]; i++) free(groups[i]);
  free(groups);
  sodium_memzero(rkey, sizeof rkey);
  return rc;
}

int main(int argc, char **argv) {
  int pr = es_config_parse(OPTS, "escucha-api", "[options]", argc, argv, 1, NULL, NULL);
  if (pr != 0) {
    es_config_free(OPTS);
    return pr > 0 ? 0 : 2;
  }
  es_log_init("api", ES_LOG_LEVELS[C.common.log_level]);
  /* one libuv worker thread per pooled connection (set before the first uv_queue_work) */
  char threads[16];
  snprintf(threads, sizeof threads, "%ld", C.pg_pool_size);
  setenv("UV_THREADPOOL_SIZE", threads, 1);
  S.loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  int rc = serve();
  uv_run(S.loop, UV_RUN_NOWAIT);
  uv_loop_close(S.loop);
  es_metrics_reset();
  es_config_free(OPTS);
  return rc;
}
