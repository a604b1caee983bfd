/* escucha-api request handling (see server.h). */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "health.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "q_extra.h"
#include "query.h"
#include "route.h"
#include "static.h"
#include "util.h"

const char API_SECURITY_HEADERS[] =
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

#define SESSION_IDLE_MS (12LL * 3600 * 1000)
#define STATIC_MAX (8u << 20)
#define REVIEW_BODY_MAX 4096

static es_metric *m_requests, *m_latency, *m_sessions;

void api_server_metrics_init(void) {
  m_requests = es_counter("escucha_api_requests_total", "HTTP requests by route and status", "route", "status", NULL);
  m_latency = es_histogram("escucha_api_request_seconds", "HTTP request latency (including the database)",
                           ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, "route", NULL);
  m_sessions = es_gauge("escucha_api_sessions", "Live dashboard sessions", NULL);
}

/* ---- replies ---- */

static void count(es_http_req *req, const char *route, int status) {
  char s[8];
  snprintf(s, sizeof s, "%d", status);
  es_metric_add(m_requests, 1, route, s);
  es_metric_observe(m_latency, (double)(es_mono_ns() - req->start_ns) / 1e9, route);
}

/* extra: more header lines or NULL; the security headers are always added. */
static void reply(es_http_req *req, const char *route, int status, const char *ctype, const char *body, size_t len,
                  const char *extra) {
  char h[1024];
  snprintf(h, sizeof h, "%s%s", API_SECURITY_HEADERS, extra ? extra : "");
  count(req, route, status);
  es_http_reply(req, status, ctype, body ? body : "", len, h);
}

static int is_o311(const api_route *r) { return r->id == API_R_O311_LIST || r->id == API_R_O311_GET; }

static void reply_error(es_http_req *req, const api_route *r, int status, const char *code, const char *msg,
                        const char *field, const char *extra) {
  char h[1024];
  snprintf(h, sizeof h, "%sCache-Control: no-store\r\n%s", API_SECURITY_HEADERS, extra ? extra : "");
  count(req, r->name, status);
  if (!is_o311(r)) {
    es_http_reply_error(req, status, code, msg, field, h);
    return;
  }
  /* GeoReport v2 errors: [{"code":400,"description":"..."}] */
  char body[400];
  es_buf d = {0};
  int n = -1;
  if (es_buf_json_str(&d, msg, strlen(msg)) == 0)
    n = snprintf(body, sizeof body, "[{\"code\":%d,\"description\":%.*s}]", status, (int)d.len, d.data);
  es_buf_free(&d);
  if (n < 0 || (size_t)n >= sizeof body)
    n = snprintf(body, sizeof body, "[{\"code\":%d,\"description\":\"error\"}]", status);
  es_http_reply(req, status, "application/json", body, (size_t)n, h);
}

static void reply_api_err(es_http_req *req, const api_route *r, const api_err *e) {
  int st = e->status ? e->status : 500;
  reply_error(req, r, st, e->code ? e->code : "error", e->message[0] ? e->message : "error", e->field,
              st == 503 ? "Retry-After: 1\r\n" : NULL);
}

/* A GET's JSON: with an ETag (hash of the body); If-None-Match with it -> 304. */
static void reply_json_get(es_http_req *req, const api_route *r, const es_buf *b) {
  unsigned char h[16];
  char hex[33], etag[40], extra[128];
  crypto_generichash(h, sizeof h, (const unsigned char *)(b->data ? b->data : ""), b->len, NULL, 0);
  es_hex(h, sizeof h, hex);
  snprintf(etag, sizeof etag, "\"%s\"", hex);
  snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: private, no-cache\r\nVary: Cookie, Authorization\r\n",
           etag);
  const char *inm = es_http_header(req, "If-None-Match");
  if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
    reply(req, r->name, 304, NULL, "", 0, extra);
    return;
  }
  reply(req, r->name, 200, "application/json", b->data, b->len, extra);
}

/* ---- authentication ---- */

typedef struct {
  char agency[API_AGENCY_MAX + 1];
  unsigned roles;
  char key_id[API_KEY_ID_LEN + 1]; /* api_key_id of the key (or of the session's key) */
  const api_session *session;      /* set when the cookie authenticated */
} who;

/* The Bearer token of an Authorization value as es_keys_bearer reads it. */
static void bearer_token(const char *h, const char **key, size_t *len) {
  const char *k = h + 7;
  while (*k == ' ') k++;
  size_t n = strlen(k);
  while (n && (k[n - 1] == ' ' || k[n - 1] == '\t')) n--;
  *key = k, *len = n;
}

/* 0 ok; else the status to answer (401) with *why set. */
static int authenticate(api_server *s, es_http_req *req, who *w, const char **why) {
  memset(w, 0, sizeof *w);
  const char *authz = es_http_header(req, "Authorization");
  const char *agency = NULL;
  if (authz) {
    if (es_keys_bearer(s->keys, authz, &agency, &w->roles) < 0) {
      *why = "the API key is not valid";
      return 401;
    }
    const char *k;
    size_t kl;
    bearer_token(authz, &k, &kl);
    api_key_id(k, kl, w->key_id);
  } else {
    const char *v;
    size_t len;
    if (api_cookie_get(es_http_header(req, "Cookie"), API_SESSION_COOKIE, &v, &len) != 0) {
      *why = "an API key (Authorization: Bearer) or a session is required";
      return 401;
    }
    w->session = api_session_find(s->sessions, v, len, es_mono_ms());
    if (!w->session) {
      *why = "the session has expired; sign in again";
      return 401;
    }
    agency = w->session->agency;
    w->roles = w->session->roles;
    memcpy(w->key_id, w->session->key_id, sizeof w->key_id);
  }
  if (!agency || strlen(agency) > API_AGENCY_MAX) {
    *why = "the API key is not valid";
    return 401;
  }
  memcpy(w->agency, agency, strlen(agency) + 1);
  return 0;
}

static const char WWW_AUTH[] = "WWW-Authenticate: Bearer realm=\"escucha\"\r\n";

/* ---- database jobs ---- */

typedef struct job {
  uv_work_t w;
  api_server *s;
  es_http_req *req;
  api_route r;
  api_params p;
  who who;
  int step;                                    /* review: 1 read the item, 2 write the audit row */
  char *text, *language, *correction, *detail; /* review (owned) */
  char actor[API_AGENCY_MAX + 16];
  api_viewer viewer; /* actor and detail, for the audit rows of urgent reads and case handling */
  char id[ES_RECEIPT_ID_MAX + 1];
  es_buf out;
  api_err err;
  api_rc rc;
} job;

static void job_free(job *j) {
  api_params_free(&j->p);
  es_buf_free(&j->out);
  free(j->text), free(j->language), free(j->correction), free(j->detail);
  free(j);
}

static void on_work(uv_work_t *w) {
  job *j = w->data;
  api_server *s = j->s;
  PGconn *c = api_pool_take(s->pool);
  if (!c) {
    j->rc = api_dberror(&j->err, NULL, j->r.name);
    return;
  }
  const char *ag = j->who.agency;
  switch (j->r.id) {
    case API_R_FEEDBACK_LIST: j->rc = api_q_feedback_list(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_FEEDBACK_GET: j->rc = api_q_feedback_get(c, ag, j->r.arg, &j->viewer, &j->out, &j->err); break;
    case API_R_CASES_LIST: j->rc = api_q_cases_list(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_CASE_GET: j->rc = api_q_case_get(c, ag, j->r.arg, &j->viewer, &j->out, &j->err); break;
    case API_R_CASE_ACK: j->rc = api_q_case_ack(c, ag, j->r.arg, &j->viewer, &j->out, &j->err); break;
    case API_R_PRIORITIES: j->rc = api_q_priorities(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_TOPIC_SERIES: j->rc = api_q_topic_series(c, ag, j->r.arg, &j->p, &j->out, &j->err); break;
    case API_R_PLANS_LIST: j->rc = api_q_plans_list(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_PLAN_GET: j->rc = api_q_plan_get(c, ag, j->r.arg, &j->out, &j->err); break;
    case API_R_SATISFACTION: j->rc = api_q_satisfaction(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_REVIEW_QUEUE: j->rc = api_q_review_queue(c, ag, &j->p, &j->out, &j->err); break;
    case API_R_HEALTH: j->rc = api_q_model_version(c, ag, &j->out, &j->err); break;
    case API_R_RECEIPT: j->rc = api_q_receipt(c, j->id, &j->out, &j->err); break;
    case API_R_OPTOUT: j->rc = api_q_optout(c, j->id, &j->out, &j->err); break;
    case API_R_O311_LIST: j->rc = api_q_o311_list(c, ag, api_taxo_names_json(s->taxo), &j->p, &j->out, &j->err); break;
    case API_R_O311_GET: j->rc = api_q_o311_get(c, ag, api_taxo_names_json(s->taxo), j->r.arg, &j->out, &j->err); break;
    case API_R_REVIEW:
      if (j->step == 1) j->rc = api_q_review_item(c, ag, j->r.arg, &j->text, &j->language, &j->err);
      else j->rc = api_q_review_audit(c, j->actor, j->r.arg, j->detail, &j->err);
      break;
    default: j->rc = api_notfound(&j->err);
  }
  api_pool_give(s->pool, c);
  if (j->r.id == API_R_HEALTH && j->rc == API_OK) {
    /* {"model_version":..} -> {"consumer_lag":[..],"dlq":{..},"model_version":..} */
    es_buf b = {0};
    int ok = es_buf_puts(&b, "{") == 0 && api_health_kafka(s->producer, s->lagmon, ES_TOPIC_DLQ, 2000, &b) == 0 &&
             es_buf_puts(&b, ",") == 0 && j->out.len > 1 && es_buf_append(&b, j->out.data + 1, j->out.len - 1) == 0;
    es_buf_free(&j->out);
    j->out = b;
    if (!ok) {
      j->err.status = 503, j->err.code = "unavailable", j->err.field = NULL;
      snprintf(j->err.message, sizeof j->err.message, "out of memory; retry");
      j->rc = API_EDB;
    }
  }
}

static void after_work(uv_work_t *w, int status);

static int queue_job(job *j) {
  j->w.data = j;
  if (uv_queue_work(j->s->loop, &j->w, on_work, after_work) != 0) return -1;
  j->s->inflight++;
  return 0;
}

static void review_publish(job *j);

static void after_work(uv_work_t *w, int status) {
  job *j = w->data;
  j->s->inflight--;
  if (status != 0) { /* cancelled at shutdown */
    reply_error(j->req, &j->r, 503, "unavailable", "shutting down; retry", NULL, "Retry-After: 1\r\n");
    job_free(j);
    return;
  }
  if (j->rc != API_OK) {
    if (j->rc == API_NOTMODIFIED) reply(j->req, j->r.name, 304, NULL, "", 0, NULL);
    else reply_api_err(j->req, &j->r, &j->err);
    job_free(j);
    return;
  }
  if (j->r.id == API_R_REVIEW && j->step == 1) {
    review_publish(j); /* continues in the delivery report */
    return;
  }
  if (j->r.id == API_R_OPTOUT) { /* a person clicked a link in a message: a page, in both languages */
    static const char DONE[] =
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>Listo</title></head><body>"
        "<h1>Listo</h1><p>No le enviaremos más mensajes sobre este reporte.</p>"
        "<p lang=\"en\">Done: we will not send you more messages about this report.</p></body></html>";
    reply(j->req, j->r.name, 200, "text/html; charset=utf-8", DONE, sizeof DONE - 1, "Cache-Control: no-store\r\n");
  } else if (j->r.id == API_R_CASE_ACK) {
    reply(j->req, j->r.name, 200, "application/json", j->out.data, j->out.len, "Cache-Control: no-store\r\n");
  } else if (j->r.id == API_R_REVIEW) {
    char body[160];
    int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"status\":\"queued\"}", j->r.arg);
    reply(j->req, j->r.name, 202, "application/json", body, (size_t)n, "Cache-Control: no-store\r\n");
  } else {
    reply_json_get(j->req, &j->r, &j->out);
  }
  job_free(j);
}

static job *job_new(api_server *s, es_http_req *req, const api_route *r) {
  job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->s = s;
  j->req = req;
  j->r = *r;
  return j;
}

static void start_job(api_server *s, es_http_req *req, job *j) {
  (void)s;
  if (j->s->inflight >= j->s->max_inflight || queue_job(j) != 0) {
    reply_error(req, &j->r, 503, "unavailable", "too many requests in progress; retry", NULL, "Retry-After: 1\r\n");
    job_free(j);
  }
}

/* ---- who reads and handles ---- */

static const char *role_name(unsigned roles) {
  return (roles & ES_ROLE_ADMIN) ? "admin" : (roles & ES_ROLE_REVIEW) ? "review" : "read";
}

/* Fills j->viewer for an audit row: actor "<agency>:<role>", detail
 * {"key_id","role","via"} (the key's id, never the key). 0 ok, -1 out of memory. */
static int set_viewer(job *j, unsigned role_needed) {
  const char *role =
      role_needed == ES_ROLE_REVIEW && !(j->who.roles & ES_ROLE_ADMIN) ? "review" : role_name(j->who.roles);
  snprintf(j->actor, sizeof j->actor, "%s:%s", j->who.agency, role);
  json_t *d =
      json_pack("{s:s, s:s, s:s}", "key_id", j->who.key_id, "role", role, "via", j->who.session ? "session" : "key");
  free(j->detail);
  j->detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
  json_decref(d);
  j->viewer.actor = j->actor;
  j->viewer.detail = j->detail;
  return j->detail ? 0 : -1;
}

/* ---- review ---- */

static const char *const SENTIMENTS[] = {"POSITIVE", "NEUTRAL", "NEGATIVE", NULL};
static const char *const JOURNEYS[] = {"AWARENESS", "REGISTRATION", "ACTIVATION", "ONGOING_USE",
                                       "SUPPORT",   "RENEWAL",      NULL};

static int one_of(const char *v, const char *const *set) {
  for (size_t i = 0; set[i]; i++)
    if (strcmp(v, set[i]) == 0) return 1;
  return 0;
}

/* Validates a review body; 0 with the normalised fields in *out (a JSON object
 * the caller decrefs); else 400 with err filled. */
static int review_validate(const api_taxo *t, const char *body, size_t len, json_t **out, api_err *err) {
  *out = NULL;
  json_error_t je;
  json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object(o)) {
    json_decref(o);
    (void)api_invalid(err, "body", "the body must be a JSON object");
    return -1;
  }
  const char *k;
  json_t *v;
  static const char *const KNOWN[] = {"category", "subcategory", "sentiment", "journey_stage", NULL};
  json_object_foreach(o, k, v) {
    if (!one_of(k, KNOWN)) {
      json_decref(o);
      (void)api_invalid(err, "body", "unknown field (allowed: category, subcategory, sentiment, journey_stage)");
      return -1;
    }
    if (!json_is_string(v) && !(json_is_null(v) && strcmp(k, "journey_stage") == 0)) {
      json_decref(o);
      (void)api_invalid(err,
                        strcmp(k, "category") == 0      ? "category"
                        : strcmp(k, "subcategory") == 0 ? "subcategory"
                        : strcmp(k, "sentiment") == 0   ? "sentiment"
                                                        : "journey_stage",
                        "must be a string");
      return -1;
    }
  }
  const char *cat = json_string_value(json_object_get(o, "category"));
  const char *sub = json_string_value(json_object_get(o, "subcategory"));
  const char *sent = json_string_value(json_object_get(o, "sentiment"));
  const char *jour = json_string_value(json_object_get(o, "journey_stage"));
  const char *full = NULL;
  int rc = -1;
  if (!cat || !api_taxo_has_category(t, cat))
    (void)api_invalid(err, "category", "category must be a category of the taxonomy");
  else if (!sub || !(full = api_taxo_subcategory(t, cat, sub)))
    (void)api_invalid(err, "subcategory", "subcategory must be one of the category's subcategories in the taxonomy");
  else if (!sent || !one_of(sent, SENTIMENTS))
    (void)api_invalid(err, "sentiment", "sentiment must be POSITIVE, NEUTRAL or NEGATIVE");
  else if (jour && !one_of(jour, JOURNEYS))
    (void)api_invalid(
        err, "journey_stage",
        "journey_stage must be one of AWARENESS, REGISTRATION, ACTIVATION, ONGOING_USE, SUPPORT, RENEWAL");
  else rc = 0;
  if (rc == 0) {
    json_t *n = json_pack("{s:s, s:s, s:s}", "category", cat, "subcategory", full, "sentiment", sent);
    if (n && jour) json_object_set_new(n, "journey_stage", json_string(jour));
    if (!n) {
      err->status = 503, err->code = "unavailable", err->field = NULL;
      snprintf(err->message, sizeof err->message, "out of memory; retry");
      rc = -1;
    }
    *out = n;
  }
  json_decref(o);
  return rc;
}

static void review_publish(job *j) {
  /* the correction as classify's retraining reads it (docs/contracts.md) */
  json_t *c = json_loads(j->detail, 0, NULL); /* the audit detail minus "via" */
  int ok = c != NULL && json_object_del(c, "via") == 0;
  ok = ok && json_object_set_new(c, "id", json_string(j->r.arg)) == 0;
  ok = ok && json_object_set_new(c, "text", json_string(j->text)) == 0;
  if (ok && j->language) ok = json_object_set_new(c, "language", json_string(j->language)) == 0;
  ok = ok && json_object_set_new(c, "agency", json_string(j->who.agency)) == 0;
  j->correction = ok ? json_dumps(c, JSON_COMPACT) : NULL;
  json_decref(c);
  if (!j->correction) {
    reply_error(j->req, &j->r, 503, "unavailable", "out of memory; retry", NULL, "Retry-After: 1\r\n");
    job_free(j);
    return;
  }
  rd_kafka_resp_err_t e = es_kafka_produce(j->s->producer, j->s->corrections_topic, RD_KAFKA_PARTITION_UA, j->r.arg,
                                           strlen(j->r.arg), j->correction, strlen(j->correction), j);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
    j->s->inflight++; /* until its delivery report: shutdown waits for it */
  } else {
    es_warn("correction_produce_failed", "%s", rd_kafka_err2str(e));
    reply_error(j->req, &j->r, 503, "unavailable", "corrections cannot be queued now; retry", NULL,
                "Retry-After: 1\r\n");
    job_free(j);
  }
}

void api_server_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
  (void)rk, (void)opaque;
  job *j = msg->_private;
  if (!j) return;
  j->s->inflight--;
  if (msg->err) {
    es_warn("correction_not_delivered", "%s", rd_kafka_err2str(msg->err));
    reply_error(j->req, &j->r, 503, "unavailable", "corrections cannot be queued now; retry", NULL,
                "Retry-After: 1\r\n");
    job_free(j);
    return;
  }
  j->step = 2;
  start_job(j->s, j->req, j);
}

static void handle_review(api_server *s, es_http_req *req, const api_route *r, const who *w) {
  if (!s->producer || !s->taxo) {
    reply_error(req, r, 503, "unavailable", "reviews are not available (no Kafka producer or taxonomy)", NULL, NULL);
    return;
  }
  const char *ct = es_http_header(req, "Content-Type");
  if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
    reply_error(req, r, 415, "unsupported_media_type", "the body must be application/json", NULL, NULL);
    return;
  }
  if (req->body_len > REVIEW_BODY_MAX) {
    reply_error(req, r, 413, "too_large", "the review body is too large", NULL, NULL);
    return;
  }
  api_err err = {0};
  json_t *norm;
  if (review_validate(s->taxo, req->body, req->body_len, &norm, &err) != 0) {
    reply_api_err(req, r, &err);
    return;
  }
  job *j = job_new(s, req, r);
  if (j) {
    j->who = *w;
    j->step = 1;
    snprintf(j->actor, sizeof j->actor, "%s:%s", w->agency, (w->roles & ES_ROLE_ADMIN) ? "admin" : "review");
    json_object_set_new(norm, "via", json_string(w->session ? "session" : "key"));
    j->detail = json_dumps(norm, JSON_COMPACT);
  }
  json_decref(norm);
  if (!j || !j->detail) {
    if (j) job_free(j);
    reply_error(req, r, 503, "unavailable", "out of memory; retry", NULL, NULL);
    return;
  }
  start_job(s, req, j);
}

/* ---- sessions ---- */

static void handle_session(api_server *s, es_http_req *req, const api_route *r) {
  const char *v;
  size_t len;
  int has_cookie = api_cookie_get(es_http_header(req, "Cookie"), API_SESSION_COOKIE, &v, &len) == 0;
  if (req->method == HTTP_POST) {
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    const char *key = json_string_value(json_object_get(o, "key"));
    if (!json_is_object(o) || !key) {
      json_decref(o);
      reply_error(req, r, 400, "invalid", "the body must be {\"key\": \"...\"}", "key", NULL);
      return;
    }
    const char *agency = NULL;
    unsigned roles = 0;
    char key_id[API_KEY_ID_LEN + 1];
    int found = es_keys_find(s->keys, key, strlen(key), &agency, &roles);
    api_key_id(key, strlen(key), key_id);
    json_decref(o);
    if (found < 0) {
      reply_error(req, r, 401, "unauthorized", "the API key is not valid", "key", WWW_AUTH);
      return;
    }
    if (!es_keys_has(roles, ES_ROLE_READ)) {
      reply_error(req, r, 403, "forbidden", "this key cannot read (role read needed)", "key", NULL);
      return;
    }
    if (has_cookie) (void)api_session_delete(s->sessions, v, len); /* a sign-in replaces the old session */
    const api_session *ss = api_session_create(s->sessions, agency, roles, key_id, es_mono_ms());
    if (!ss) {
      reply_error(req, r, 503, "unavailable", "no session could be created; retry", NULL, NULL);
      return;
    }
    char h[256];
    snprintf(h, sizeof h, "Set-Cookie: %s=%s; HttpOnly; SameSite=Strict; Path=/%s\r\nCache-Control: no-store\r\n",
             API_SESSION_COOKIE, ss->id, s->cookie_secure ? "; Secure" : "");
    es_metric_set(m_sessions, (double)api_sessions_count(s->sessions));
    reply(req, r->name, 204, NULL, "", 0, h);
    return;
  }
  if (req->method == HTTP_DELETE) {
    if (has_cookie) (void)api_session_delete(s->sessions, v, len);
    es_metric_set(m_sessions, (double)api_sessions_count(s->sessions));
    char h[200];
    snprintf(h, sizeof h,
             "Set-Cookie: %s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0\r\nCache-Control: no-store\r\n",
             API_SESSION_COOKIE);
    reply(req, r->name, 204, NULL, "", 0, h);
    return;
  }
  const api_session *ss = has_cookie ? api_session_find(s->sessions, v, len, es_mono_ms()) : NULL;
  if (!ss) { /* a question, not a failure: 200, so the dashboard's first look logs no error */
    static const char no[] = "{\"authenticated\":false}";
    reply(req, r->name, 200, "application/json", no, sizeof no - 1, "Cache-Control: no-store\r\n");
    return;
  }
  json_t *roles = json_array();
  static const struct {
    unsigned bit;
    const char *name;
  } R[] = {{ES_ROLE_SUBMIT, "submit"}, {ES_ROLE_READ, "read"}, {ES_ROLE_REVIEW, "review"}, {ES_ROLE_ADMIN, "admin"}};
  for (size_t i = 0; i < 4; i++)
    if (ss->roles & R[i].bit) json_array_append_new(roles, json_string(R[i].name));
  json_t *o =
      json_pack("{s:b, s:s, s:o, s:s}", "authenticated", 1, "agency", ss->agency, "roles", roles, "csrf", ss->csrf);
  char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!body) {
    reply_error(req, r, 503, "unavailable", "out of memory; retry", NULL, NULL);
    return;
  }
  reply(req, r->name, 200, "application/json", body, strlen(body), "Cache-Control: no-store\r\n");
  free(body);
}

/* ---- static files ---- */

static void handle_static(api_server *s, es_http_req *req, const api_route *r) {
  char rel[API_STATIC_PATH_MAX + 32], full[PATH_MAX], real[PATH_MAX];
  if (!s->web_root || api_static_path(req->path, rel, sizeof rel) != 0) {
    reply_error(req, r, 404, "not_found", "not found", NULL, NULL);
    return;
  }
  size_t rl = strlen(s->web_root);
  int n = snprintf(full, sizeof full, "%s/%s", s->web_root, rel);
  /* the file's real path must stay under the root (no symlink out of it) */
  if (n < 0 || (size_t)n >= sizeof full || !realpath(full, real) || strncmp(real, s->web_root, rl) != 0 ||
      real[rl] != '/') {
    reply_error(req, r, 404, "not_found", "not found", NULL, NULL);
    return;
  }
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)STATIC_MAX) {
    if (fd >= 0) close(fd);
    reply_error(req, r, 404, "not_found", "not found", NULL, NULL);
    return;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  ssize_t got = 0;
  while (buf && got < st.st_size) {
    ssize_t k = read(fd, buf + got, (size_t)(st.st_size - got));
    if (k <= 0) break;
    got += k;
  }
  close(fd);
  if (!buf || got != st.st_size) {
    free(buf);
    reply_error(req, r, 503, "unavailable", "the file cannot be read now; retry", NULL, NULL);
    return;
  }
  reply(req, r->name, 200, api_static_type(rel), buf, (size_t)got, "Cache-Control: no-cache\r\n");
  free(buf);
}

/* ---- the handler ---- */

static unsigned method_bit(int m) {
  return m == HTTP_GET ? API_M_GET : m == HTTP_POST ? API_M_POST : m == HTTP_DELETE ? API_M_DELETE : 0;
}

static int agency_ok(const char *a) {
  size_t n = strlen(a);
  return n > 0 && n <= API_AGENCY_MAX && strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Open311 GETs: a key (Bearer, or api_key as Open311 clients send it) names
 * the agency; without one, jurisdiction_id does (public, Open311 items only). */
static int open311_agency(api_server *s, es_http_req *req, const api_route *r, job *j) {
  const char *authz = es_http_header(req, "Authorization"), *key = api_param(&j->p, "api_key");
  const char *juris = api_param(&j->p, "jurisdiction_id"), *agency = NULL;
  unsigned roles = 0;
  if (authz || key) {
    int f = authz ? es_keys_bearer(s->keys, authz, &agency, &roles)
                  : es_keys_find(s->keys, key, strlen(key), &agency, &roles);
    if (f < 0) {
      reply_error(req, r, 401, "unauthorized", "api_key is not valid", NULL, WWW_AUTH);
      return -1;
    }
    if (juris && strcmp(juris, agency) != 0) {
      reply_error(req, r, 400, "invalid", "jurisdiction_id is not the api_key's jurisdiction", "jurisdiction_id", NULL);
      return -1;
    }
  } else if (juris) {
    if (!agency_ok(juris)) {
      reply_error(req, r, 400, "invalid", "jurisdiction_id is not a valid jurisdiction", "jurisdiction_id", NULL);
      return -1;
    }
    agency = juris;
  } else {
    reply_error(req, r, 400, "invalid", "jurisdiction_id (or an api_key) is required", "jurisdiction_id", NULL);
    return -1;
  }
  if (strlen(agency) > API_AGENCY_MAX) {
    reply_error(req, r, 400, "invalid", "jurisdiction_id is not a valid jurisdiction", "jurisdiction_id", NULL);
    return -1;
  }
  memcpy(j->who.agency, agency, strlen(agency) + 1);
  return 0;
}

void api_server_handle(es_http_req *req, void *ud) {
  api_server *s = ud;
  api_route r;
  int bad_arg = api_route_match(req->path, &r) != 0;
  if (r.id == API_R_NONE) {
    reply_error(req, &r, 404, "not_found", "no such endpoint", NULL, NULL);
    return;
  }
  if (!(method_bit(req->method) & r.methods)) {
    char allow[64], h[96];
    api_route_allow(&r, allow, sizeof allow);
    snprintf(h, sizeof h, "Allow: %s\r\n", allow);
    reply_error(req, &r, 405, "method_not_allowed", "method not allowed here", NULL, h);
    return;
  }
  if (r.id == API_R_STATIC) {
    handle_static(s, req, &r);
    return;
  }
  if (r.id == API_R_SESSION) {
    handle_session(s, req, &r);
    return;
  }
  job *j = job_new(s, req, &r);
  if (!j) {
    reply_error(req, &r, 503, "unavailable", "out of memory; retry", NULL, "Retry-After: 1\r\n");
    return;
  }
  api_err err = {0};
  if (api_params_parse(req->query, &j->p, &err) != API_OK) {
    reply_api_err(req, &r, &err);
    job_free(j);
    return;
  }
  if (r.id == API_R_OPTOUT) { /* no key: the link in the message is the capability */
    if (bad_arg || !s->optout_key || es_receipt_verify(s->optout_key, r.arg, strlen(r.arg), j->id, sizeof j->id) != 0) {
      reply_error(req, &r, 404, "not_found", "unknown opt-out link", NULL, NULL);
      job_free(j);
      return;
    }
    start_job(s, req, j);
    return;
  }
  if (r.id == API_R_RECEIPT) { /* no key: the token is the capability */
    if (bad_arg || !s->receipt_key ||
        es_receipt_verify(s->receipt_key, r.arg, strlen(r.arg), j->id, sizeof j->id) != 0) {
      reply_error(req, &r, 404, "not_found", "unknown receipt", NULL, NULL);
      job_free(j);
      return;
    }
    start_job(s, req, j);
    return;
  }
  if (is_o311(&r)) {
    if (open311_agency(s, req, &r, j) != 0) {
      job_free(j);
      return;
    }
    if (bad_arg) {
      reply_error(req, &r, 404, "not_found", "no such service request", NULL, NULL);
      job_free(j);
      return;
    }
    start_job(s, req, j);
    return;
  }
  const char *why = NULL;
  int st = authenticate(s, req, &j->who, &why);
  if (st) {
    reply_error(req, &r, st, "unauthorized", why, NULL, WWW_AUTH);
    job_free(j);
    return;
  }
  unsigned need =
      (r.id == API_R_REVIEW || r.id == API_R_REVIEW_QUEUE || r.id == API_R_CASE_ACK) ? ES_ROLE_REVIEW : ES_ROLE_READ;
  if (!es_keys_has(j->who.roles, need)) {
    reply_error(req, &r, 403, "forbidden",
                need == ES_ROLE_REVIEW ? "this key cannot review (role review needed)"
                                       : "this key cannot read (role read needed)",
                NULL, NULL);
    job_free(j);
    return;
  }
  if (req->method == HTTP_POST && j->who.session) {
    const char *tok = es_http_header(req, "X-Escucha-CSRF");
    if (!api_session_csrf_ok(j->who.session, tok, tok ? strlen(tok) : 0)) {
      reply_error(req, &r, 403, "csrf", "X-Escucha-CSRF is missing or wrong (GET /v1/session gives it)",
                  "X-Escucha-CSRF", NULL);
      job_free(j);
      return;
    }
  }
  if (bad_arg) { /* an id that cannot exist: like a missing one */
    reply_error(req, &r, 404, "not_found", "not found", NULL, NULL);
    job_free(j);
    return;
  }
  if (r.id == API_R_REVIEW) {
    who w = j->who;
    job_free(j);
    handle_review(s, req, &r, &w);
    return;
  }
  if (r.id == API_R_TAXONOMY) { /* loaded at start: no database */
    const char *tx = api_taxo_labels_json(s->taxo);
    es_buf b = {.data = (char *)tx, .len = strlen(tx)};
    reply_json_get(req, &r, &b);
    job_free(j);
    return;
  }
  if ((r.id == API_R_FEEDBACK_GET || r.id == API_R_CASE_GET || r.id == API_R_CASE_ACK) && set_viewer(j, need) != 0) {
    reply_error(req, &r, 503, "unavailable", "out of memory; retry", NULL, "Retry-After: 1\r\n");
    job_free(j);
    return;
  }
  start_job(s, req, j);
}
