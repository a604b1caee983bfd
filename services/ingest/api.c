#include "api.h"

#include "channels.h"
#include <ctype.h>
#include <http_parser.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "receipt.h"
#include "util.h"

enum { KIND_SINGLE, KIND_BATCH, KIND_OPEN311, KIND_WHATSAPP };
#define ING_URL_MAX 512 /* public_url (checked at start: at most 256) + /v1/receipts/ + a token */

typedef struct {
  es_http_req *req;
  ing_api_ctx *api;
  const char *route;
  int kind;
  size_t n, ndone;
  ing_item **items;
} req_ctx;

static es_metric *m_requests, *m_latency, *m_contact, *m_forward;

void ing_api_metrics_init(void) {
  m_requests =
      es_counter("escucha_ingest_requests_total", "HTTP requests by route and status", "route", "status", NULL);
  m_contact = es_counter("escucha_ingest_open311_contact_dropped_total",
                         "Open311 contact fields (personal data) received and not kept, by field", "field", NULL);
  m_forward = es_counter("escucha_ingest_open311_forward_total",
                         "Open311 reads forwarded to escucha-api, by outcome (ok or the failure)", "result", NULL);
  m_latency = es_histogram("escucha_ingest_request_seconds", "HTTP request latency", ES_LATENCY_BUCKETS,
                           ES_LATENCY_NBUCKETS, "route", NULL);
}

static void count(es_http_req *req, const char *route, int status) {
  char s[8];
  snprintf(s, sizeof s, "%d", status);
  es_metric_add(m_requests, 1, route, s);
  es_metric_observe(m_latency, (double)(es_mono_ns() - req->start_ns) / 1e9, route);
}

static void reply_json(es_http_req *req, const char *route, int status, es_buf *b, const char *extra) {
  count(req, route, status);
  es_http_reply(req, status, "application/json", b->data ? b->data : "", b->len, extra);
}

static void reply_error(es_http_req *req, const char *route, int status, const char *code, const char *msg,
                        const char *field, const char *extra) {
  count(req, route, status);
  es_http_reply_error(req, status, code, msg, field, extra);
}

static void ctx_free(req_ctx *c) {
  for (size_t i = 0; i < c->n; i++) ing_item_free(c->items[i]);
  free(c->items);
  free(c);
}

static int reject_status(const ing_item *it) { return strcmp(it->err_code, "forbidden") == 0 ? 403 : 400; }

static void put_error(es_buf *b, const ing_item *it) {
  es_buf_puts(b, "{\"code\":");
  es_buf_json_str(b, it->err_code, strlen(it->err_code));
  es_buf_puts(b, ",\"message\":");
  es_buf_json_str(b, it->err_msg, strlen(it->err_msg));
  if (it->err_field[0]) {
    es_buf_puts(b, ",\"field\":");
    es_buf_json_str(b, it->err_field, strlen(it->err_field));
  }
  es_buf_puts(b, "}");
}

/* The citizen's receipt URL for id into out; 0 ok, -1 when receipts are off
 * (no secret) or id cannot be made a token (never for our ULIDs). */
static int status_url(const ing_api_ctx *api, const char *id, char *out, size_t cap) {
  char tok[ES_RECEIPT_TOKEN_MAX];
  if (!api->receipt_key || es_receipt_token(api->receipt_key, id, tok, sizeof tok) != 0) return -1;
  int n = snprintf(out, cap, "%s/v1/receipts/%s", api->public_url, tok);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ,"status_url":"…" when receipts are on; 0 ok (also when off), -1 out of memory. */
ES_MUST_CHECK static int put_status_url(es_buf *b, const ing_api_ctx *api, const char *id) {
  char url[ING_URL_MAX];
  if (status_url(api, id, url, sizeof url) != 0) return 0;
  if (es_buf_puts(b, ",\"status_url\":") != 0) return -1;
  return es_buf_json_str(b, url, strlen(url));
}

/* An answer that could not be built whole is not sent in part. */
static void reply_built(req_ctx *c, int status, es_buf *b, int oom, const char *extra) {
  if (oom) return reply_error(c->req, c->route, 500, "internal", "out of memory", NULL, NULL);
  reply_json(c->req, c->route, status, b, extra);
}

static void respond_single(req_ctx *c) {
  ing_item *it = c->items[0];
  es_buf b = {0};
  switch (it->state) {
    case ING_ITEM_ACCEPTED: {
      int oom = es_buf_printf(&b, "{\"id\":\"%s\",\"status\":\"accepted\"", it->id) != 0;
      oom |= put_status_url(&b, c->api, it->id) != 0;
      oom |= es_buf_puts(&b, "}") != 0;
      reply_built(c, 202, &b, oom, NULL);
      break;
    }
    case ING_ITEM_DUPLICATE: {
      int oom = es_buf_puts(&b, "{\"id\":") != 0;
      oom |= es_buf_json_str(&b, it->dup_id, strlen(it->dup_id)) != 0;
      oom |= es_buf_puts(&b, ",\"status\":\"duplicate\"") != 0;
      oom |= put_status_url(&b, c->api, it->dup_id) != 0; /* the receipt of the first copy */
      oom |= es_buf_puts(&b, "}") != 0;
      reply_built(c, 200, &b, oom, NULL);
      break;
    }
    case ING_ITEM_REJECTED:
      es_buf_puts(&b, "{\"error\":");
      put_error(&b, it);
      es_buf_puts(&b, "}");
      reply_json(c->req, c->route, reject_status(it), &b, NULL);
      break;
    default:
      reply_error(c->req, c->route, 503, "unavailable", "Kafka cannot accept feedback now; retry", NULL,
                  "Retry-After: 1\r\n");
  }
  es_buf_free(&b);
}

static void respond_batch(req_ctx *c) {
  size_t cnt[5] = {0};
  es_buf b = {0};
  int oom = 0;
  es_buf_puts(&b, "{\"results\":[");
  for (size_t i = 0; i < c->n; i++) {
    ing_item *it = c->items[i];
    cnt[it->state]++;
    es_buf_printf(&b, "%s{\"index\":%zu,", i ? "," : "", i);
    switch (it->state) {
      case ING_ITEM_ACCEPTED:
        oom |= es_buf_printf(&b, "\"id\":\"%s\",\"status\":\"accepted\"", it->id) != 0;
        oom |= put_status_url(&b, c->api, it->id) != 0;
        oom |= es_buf_puts(&b, "}") != 0;
        break;
      case ING_ITEM_DUPLICATE:
        es_buf_puts(&b, "\"id\":");
        es_buf_json_str(&b, it->dup_id, strlen(it->dup_id));
        es_buf_puts(&b, ",\"status\":\"duplicate\"");
        oom |= put_status_url(&b, c->api, it->dup_id) != 0;
        oom |= es_buf_puts(&b, "}") != 0;
        break;
      case ING_ITEM_REJECTED:
        es_buf_puts(&b, "\"status\":\"rejected\",\"error\":");
        put_error(&b, it);
        es_buf_puts(&b, "}");
        break;
      default: es_buf_puts(&b, "\"status\":\"unavailable\"}");
    }
  }
  es_buf_printf(&b, "],\"accepted\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"unavailable\":%zu}",
                cnt[ING_ITEM_ACCEPTED], cnt[ING_ITEM_DUPLICATE], cnt[ING_ITEM_REJECTED], cnt[ING_ITEM_UNAVAILABLE]);
  /* 503 when anything could not be queued: the client retries the batch, dedup absorbs the rest */
  int status = cnt[ING_ITEM_UNAVAILABLE] ? 503 : cnt[ING_ITEM_ACCEPTED] ? 202 : 200;
  reply_built(c, status, &b, oom, status == 503 ? "Retry-After: 1\r\n" : NULL);
  es_buf_free(&b);
}

static void respond_open311(req_ctx *c) {
  ing_item *it = c->items[0];
  es_buf b = {0};
  if (it->state == ING_ITEM_ACCEPTED || it->state == ING_ITEM_DUPLICATE) {
    const char *id = it->state == ING_ITEM_ACCEPTED ? it->id : it->dup_id;
    /* GeoReport v2 has no receipt field: service_notice (a string every client
     * shows or keeps) holds the URL, and status_url repeats it for programs
     * (JSON clients ignore members they don't know). */
    char url[ING_URL_MAX];
    int has_url = status_url(c->api, id, url, sizeof url) == 0;
    int oom = es_buf_puts(&b, "[{\"service_request_id\":") != 0;
    oom |= es_buf_json_str(&b, id, strlen(id)) != 0;
    oom |= es_buf_puts(&b, ",\"service_notice\":") != 0;
    oom |= es_buf_json_str(&b, has_url ? url : "", has_url ? strlen(url) : 0) != 0;
    if (has_url) {
      oom |= es_buf_puts(&b, ",\"status_url\":") != 0;
      oom |= es_buf_json_str(&b, url, strlen(url)) != 0;
    }
    oom |= es_buf_puts(&b, ",\"account_id\":null}]") != 0;
    reply_built(c, it->state == ING_ITEM_ACCEPTED ? 201 : 200, &b, oom, NULL);
  } else if (it->state == ING_ITEM_REJECTED) {
    /* GeoReport v2 error format: [{"code":400,"description":"..."}] */
    es_buf_printf(&b, "[{\"code\":%d,\"description\":", reject_status(it));
    es_buf_json_str(&b, it->err_msg, strlen(it->err_msg));
    es_buf_puts(&b, "}]");
    reply_json(c->req, c->route, reject_status(it), &b, NULL);
  } else {
    es_buf_puts(&b, "[{\"code\":503,\"description\":\"temporarily unavailable; retry\"}]");
    reply_json(c->req, c->route, 503, &b, "Retry-After: 1\r\n");
  }
  es_buf_free(&b);
}

/* Meta only needs a 200 once the messages are safe; anything else makes it redeliver. */
static void respond_whatsapp(req_ctx *c) {
  size_t cnt[5] = {0};
  for (size_t i = 0; i < c->n; i++) cnt[c->items[i]->state]++;
  es_buf b = {0};
  es_buf_printf(&b, "{\"accepted\":%zu,\"duplicate\":%zu,\"rejected\":%zu", cnt[ING_ITEM_ACCEPTED],
                cnt[ING_ITEM_DUPLICATE], cnt[ING_ITEM_REJECTED]);
  if (cnt[ING_ITEM_REJECTED]) { /* a reject is final (a 200: Meta would only redeliver it), so it is said here */
    es_buf_puts(&b, ",\"errors\":[");
    for (size_t i = 0, k = 0; i < c->n; i++) {
      if (c->items[i]->state != ING_ITEM_REJECTED) continue;
      es_buf_printf(&b, "%s{\"index\":%zu,\"error\":", k++ ? "," : "", i);
      put_error(&b, c->items[i]);
      es_buf_puts(&b, "}");
    }
    es_buf_puts(&b, "]");
  }
  es_buf_puts(&b, "}");
  if (cnt[ING_ITEM_UNAVAILABLE])
    reply_error(c->req, c->route, 503, "unavailable", "retry later", NULL, "Retry-After: 1\r\n");
  else reply_json(c->req, c->route, 200, &b, NULL);
  es_buf_free(&b);
}

static void on_item_done(ing_item *it, void *ud) {
  (void)it;
  req_ctx *c = ud;
  if (++c->ndone < c->n) return;
  if (c->kind == KIND_SINGLE) respond_single(c);
  else if (c->kind == KIND_BATCH) respond_batch(c);
  else if (c->kind == KIND_WHATSAPP) respond_whatsapp(c);
  else respond_open311(c);
  ctx_free(c);
}

static req_ctx *ctx_new(es_http_req *req, ing_api_ctx *api, const char *route, int kind, size_t n) {
  req_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->items = calloc(n ? n : 1, sizeof *c->items);
  if (!c->items) {
    free(c);
    return NULL;
  }
  c->req = req;
  c->api = api;
  c->route = route;
  c->kind = kind;
  return c;
}

static ing_item *ctx_add(req_ctx *c) {
  ing_item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->done = on_item_done;
  it->ctx = c;
  it->index = c->n;
  c->items[c->n++] = it;
  return it;
}

/* A request carrying one item; on OOM answers 500 itself and returns NULL. */
static ing_item *single_item(es_http_req *req, ing_api_ctx *api, const char *route, int kind) {
  req_ctx *c = ctx_new(req, api, route, kind, 1);
  ing_item *it = c ? ctx_add(c) : NULL;
  if (!it) {
    if (c) ctx_free(c);
    reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
  }
  return it;
}

static int content_type_is(const es_http_req *req, const char *want) {
  const char *ct = es_http_header(req, "content-type");
  if (!ct) return 0;
  size_t n = strlen(want);
  return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void handle_single(es_http_req *req, ing_api_ctx *api, const char *agency, int trust) {
  const char *route = "feedback";
  if (!content_type_is(req, "application/json"))
    return reply_error(req, route, 415, "unsupported_media_type", "Content-Type must be application/json", NULL, NULL);
  ing_json_error jerr;
  cJSON *o = ing_json_parse(req->body, req->body_len, &jerr);
  if (!o) {
    char msg[256];
    snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return reply_error(req, route, 400, "malformed_json", msg, "body", NULL);
  }
  ing_item *it = single_item(req, api, route, KIND_SINGLE);
  if (!it) {
    cJSON_Delete(o);
    return;
  }
  ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__WEB);
  it->trust_created_at = trust;
  cJSON_Delete(o);
  ing_pipeline_submit(api->g, it);
}

/* parse_batch's answer for the whole request (an item's own errors are its rejects). */
typedef enum {
  BATCH_OK = 0,
  BATCH_MALFORMED, /* 400: not a JSON array / not JSON; message in err */
  BATCH_TOO_MANY,  /* 413: more than max_batch items */
  BATCH_NO_MEMORY, /* 500: an item could not be allocated; the whole request is refused */
} batch_rc;

/* Splits NDJSON or parses a JSON array into items; per-item parse errors become rejects. */
ES_MUST_CHECK static batch_rc parse_batch(req_ctx *c, es_http_req *req, const char *agency, int ndjson, char *err,
                                          size_t errlen) {
  ing_json_error jerr;
  if (!ndjson) {
    cJSON *arr = ing_json_parse(req->body, req->body_len, &jerr);
    if (!cJSON_IsArray(arr)) {
      if (arr) snprintf(err, errlen, "body must be a JSON array (or send application/x-ndjson)");
      else snprintf(err, errlen, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
      cJSON_Delete(arr);
      return BATCH_MALFORMED;
    }
    if ((size_t)cJSON_GetArraySize(arr) > c->api->max_batch) {
      snprintf(err, errlen, "at most %zu items per batch", c->api->max_batch);
      cJSON_Delete(arr);
      return BATCH_TOO_MANY;
    }
    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
      ing_item *it = ctx_add(c);
      if (!it) { /* not a shorter batch: the items not added would be lost without an answer */
        cJSON_Delete(arr);
        return BATCH_NO_MEMORY;
      }
      if (ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__WEB) != 0) {
        char f[160];
        snprintf(f, sizeof f, "[%zu]%s%s", i, it->err_field[0] ? "." : "", it->err_field);
        snprintf(it->err_field, sizeof it->err_field, "%.63s", f);
      }
    }
    cJSON_Delete(arr);
    return BATCH_OK;
  }
  const char *p = req->body, *end = req->body + req->body_len;
  size_t line = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    line++;
    const char *q = p;
    while (q < le && isspace((unsigned char)*q)) q++;
    if (q < le) {
      if (c->n >= c->api->max_batch) {
        snprintf(err, errlen, "at most %zu items per batch", c->api->max_batch);
        return BATCH_TOO_MANY;
      }
      ing_item *it = ctx_add(c);
      if (!it) return BATCH_NO_MEMORY;
      cJSON *o = ing_json_parse(p, (size_t)(le - p), &jerr);
      char f[64];
      snprintf(f, sizeof f, "line %zu", line);
      if (!o) ing_item_reject(it, "malformed_json", f, "malformed JSON at column %d: %s", jerr.column, jerr.text);
      else if (ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__WEB) != 0) {
        char f2[160];
        snprintf(f2, sizeof f2, "%s%s%s", f, it->err_field[0] ? ": " : "", it->err_field);
        snprintf(it->err_field, sizeof it->err_field, "%.63s", f2);
      }
      cJSON_Delete(o);
    }
    p = le + 1;
  }
  return BATCH_OK;
}

static size_t count_lines(const char *s, size_t n) {
  size_t k = 1;
  for (size_t i = 0; i < n; i++) k += s[i] == '\n';
  return k;
}

static void reply_rate_limited(es_http_req *req, const char *route, int wait, size_t items, double rate) {
  char hdr[48], msg[160];
  snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", wait);
  if (items)
    snprintf(msg, sizeof msg,
             "a batch of %zu items does not fit this API key's rate limit (%g items/s) now; retry in %d s", items, rate,
             wait);
  else snprintf(msg, sizeof msg, "too many items for this API key; retry in %d s", wait);
  reply_error(req, route, 429, "rate_limited", msg, NULL, hdr);
}

static void handle_batch(es_http_req *req, ing_api_ctx *api, const char *agency, int key, int trust) {
  const char *route = "feedback_batch";
  int ndjson = content_type_is(req, "application/x-ndjson") || content_type_is(req, "application/ndjson");
  if (!ndjson && !content_type_is(req, "application/json"))
    return reply_error(req, route, 415, "unsupported_media_type",
                       "Content-Type must be application/x-ndjson or application/json (array)", NULL, NULL);
  size_t cap = ndjson ? count_lines(req->body, req->body_len) : api->max_batch;
  if (cap > api->max_batch + 1) cap = api->max_batch + 1;
  req_ctx *c = ctx_new(req, api, route, KIND_BATCH, cap);
  if (!c) return reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
  char err[256] = "";
  batch_rc rc = parse_batch(c, req, agency, ndjson, err, sizeof err);
  if (rc != BATCH_OK || c->n == 0) {
    ctx_free(c);
    switch (rc) {
      case BATCH_TOO_MANY: return reply_error(req, route, 413, "too_many_items", err, "body", NULL);
      case BATCH_MALFORMED: return reply_error(req, route, 400, "malformed_json", err, "body", NULL);
      case BATCH_NO_MEMORY: return reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
      case BATCH_OK:
      default: return reply_error(req, route, 400, "empty_batch", "batch has no items", "body", NULL);
    }
  }
  /* every item costs a token, rejected ones too (they were sent and parsed) */
  int wait = ing_auth_rate_take(api->keys, key, es_mono_ns(), c->n);
  if (wait) {
    size_t n = c->n;
    ctx_free(c);
    return reply_rate_limited(req, route, wait, n, ing_auth_rate(api->keys));
  }
  for (size_t i = 0; i < c->n; i++) c->items[i]->trust_created_at = trust;
  ing_pipeline_submit_many(api->g, c->items, c->n);
}

/* application/x-www-form-urlencoded decoding, in place; -1 when it decodes to a
 * NUL byte (%00), which a C string would silently cut at. */
static int url_decode(char *s) {
  char *o = s;
  int nul = 0;
  for (; *s; s++) {
    if (*s == '+') *o++ = ' ';
    else if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
      char h[3] = {s[1], s[2], 0};
      *o = (char)strtol(h, NULL, 16);
      nul |= *o++ == '\0';
      s += 2;
    } else *o++ = *s;
  }
  *o = '\0';
  return nul ? -1 : 0;
}

static void handle_open311_post(es_http_req *req, ing_api_ctx *api, const char *agency) {
  const char *route = "open311_requests";
  int form = content_type_is(req, "application/x-www-form-urlencoded");
  if (!form && !content_type_is(req, "application/json"))
    return reply_error(req, route, 415, "unsupported_media_type",
                       "Content-Type must be application/x-www-form-urlencoded or application/json", NULL, NULL);
  /* first_name, last_name, email, phone: never copied into the item; counted */
  unsigned contact = ing_ch_open311_contact_fields(req->body, req->body_len, form);
  for (int i = 0; i < ING_CH_OPEN311_NCONTACT; i++)
    if (contact & (1u << i)) es_metric_add(m_contact, 1, ING_CH_OPEN311_CONTACT[i]);
  ing_item *it = single_item(req, api, route, KIND_OPEN311);
  if (!it) return;
  /* no services list (out of memory at start) checks nothing; an empty one refuses every code */
  ing_ch_open311_item(req->body, req->body_len, form, agency, api->services, it);
  ing_pipeline_submit(api->g, it);
}

char *ing_api_open311_services(const char *path) {
  size_t len = 0;
  char *text = path ? es_read_file(path, &len) : NULL, *s = NULL;
  cJSON *tax = text ? cJSON_ParseWithLength(text, len) : NULL, *out = cJSON_CreateArray();
  const cJSON *cats = ing_json_at(tax, "categories"), *cat;
  if (!out) goto cleanup;
  cJSON_ArrayForEach(cat, (cJSON_IsArray(cats) ? cats : NULL)) {
    const char *id = ing_json_str_at(cat, "id");
    if (!id) continue;
    const cJSON *labels = ing_json_at(cat, "labels");
    const char *name = ing_json_str_at(labels, "es");
    if (!name) name = ing_json_str_at(labels, "en");
    const cJSON *desc = ing_json_at(cat, "description");
    const char *d = cJSON_IsObject(desc) ? ing_json_str_at(desc, "es") : cJSON_GetStringValue(desc);
    cJSON *svc = cJSON_CreateObject();
    if (!svc || !cJSON_AddItemToArray(out, svc)) {
      cJSON_Delete(svc);
      goto cleanup;
    }
    cJSON_AddStringToObject(svc, "service_code", id);
    cJSON_AddStringToObject(svc, "service_name", name ? name : id);
    cJSON_AddStringToObject(svc, "description", d ? d : "");
    cJSON_AddFalseToObject(svc, "metadata");
    cJSON_AddStringToObject(svc, "type", "realtime");
    cJSON_AddStringToObject(svc, "keywords", "");
    cJSON_AddStringToObject(svc, "group", cJSON_IsTrue(ing_json_at(cat, "urgent")) ? "urgent" : "general");
  }
  s = cJSON_PrintUnformatted(out);
cleanup:
  cJSON_Delete(out);
  cJSON_Delete(tax);
  free(text);
  return s;
}

/* Value of a query parameter (decoded, malloc'd) or NULL. */
static char *query_param(const char *query, const char *name) {
  if (!query) return NULL;
  char *copy = strdup(query), *res = NULL;
  if (!copy) return NULL; /* out of memory: the handshake is refused, Meta retries it */
  for (char *save = NULL, *kv = strtok_r(copy, "&", &save); kv && !res; kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) continue;
    *eq = '\0';
    if (url_decode(kv) == 0 && strcmp(kv, name) == 0) {
      if (url_decode(eq + 1) == 0) res = strdup(eq + 1); /* a %00 would cut the value short */
      break;
    }
  }
  free(copy);
  return res;
}

/* Meta's subscription handshake: echo hub.challenge when the verify token matches. */
static void handle_whatsapp_verify(es_http_req *req, ing_api_ctx *api) {
  const char *route = "whatsapp";
  char *mode = query_param(req->query, "hub.mode"), *token = query_param(req->query, "hub.verify_token"),
       *challenge = query_param(req->query, "hub.challenge");
  int ok = api->wa_verify && mode && token && challenge && strcmp(mode, "subscribe") == 0 &&
           strlen(token) == strlen(api->wa_verify) && sodium_memcmp(token, api->wa_verify, strlen(token)) == 0;
  if (ok) {
    count(req, route, 200);
    es_http_reply(req, 200, "text/plain", challenge, strlen(challenge), NULL);
  } else {
    reply_error(req, route, 403, "forbidden", "verify token mismatch", "hub.verify_token", NULL);
  }
  free(mode);
  free(token);
  free(challenge);
}

static void handle_whatsapp(es_http_req *req, ing_api_ctx *api) {
  const char *route = "whatsapp";
  if (!api->wa_secret || !api->wa_agency)
    return reply_error(req, route, 404, "not_configured", "the WhatsApp channel is not configured", NULL, NULL);
  if (!ing_ch_whatsapp_signature_ok(api->wa_secret, req->body, req->body_len,
                                    es_http_header(req, "x-hub-signature-256")))
    return reply_error(req, route, 401, "bad_signature", "X-Hub-Signature-256 does not match the body", NULL, NULL);
  ing_item **items = NULL;
  char err[256];
  int n = ing_ch_whatsapp_items(req->body, req->body_len, api->wa_agency, &items, err, sizeof err);
  if (n < 0) return reply_error(req, route, 400, "invalid", err, "body", NULL);
  if (n == 0) { /* delivery/read statuses: acknowledged, nothing to ing_pipeline */
    es_buf b = {0};
    es_buf_puts(&b, "{\"accepted\":0,\"duplicate\":0,\"rejected\":0}");
    reply_json(req, route, 200, &b, NULL);
    es_buf_free(&b);
    return;
  }
  req_ctx *c = ctx_new(req, api, route, KIND_WHATSAPP, (size_t)n);
  if (!c) {
    for (int i = 0; i < n; i++) ing_item_free(items[i]);
    free(items);
    return reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
  }
  for (int i = 0; i < n; i++) {
    items[i]->done = on_item_done;
    items[i]->ctx = c;
    items[i]->index = (size_t)i;
    c->items[c->n++] = items[i];
  }
  free(items);
  ing_pipeline_submit_many(api->g, c->items, c->n);
}

static void handle_email(es_http_req *req, ing_api_ctx *api, const char *agency) {
  const char *route = "email";
  if (!content_type_is(req, "message/rfc822"))
    return reply_error(req, route, 415, "unsupported_media_type", "Content-Type must be message/rfc822", NULL, NULL);
  ing_item *it = single_item(req, api, route, KIND_SINGLE);
  if (!it) return;
  if (!(it->agency = strdup(agency))) { /* the request's own memory: refuse it, as single_item does */
    ctx_free(it->ctx);
    return reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
  }
  ing_ch_email_item(req->body, req->body_len, it);
  ing_pipeline_submit(api->g, it);
}

static void handle_open311_services(es_http_req *req, ing_api_ctx *api) {
  const char *s = api->services ? api->services : "[]";
  es_buf b = {(char *)s, strlen(s), strlen(s) + 1};
  reply_json(req, "open311_services", 200, &b, NULL);
}

/* GeoReport v2 errors are a list: [{"code":401,"description":"…"}]. */
static void reply_open311_error(es_http_req *req, const char *route, int status, const char *desc, const char *extra) {
  es_buf b = {0};
  int oom = es_buf_printf(&b, "[{\"code\":%d,\"description\":", status) != 0;
  oom |= es_buf_json_str(&b, desc, strlen(desc)) != 0;
  oom |= es_buf_puts(&b, "}]") != 0;
  if (oom) reply_error(req, route, 500, "internal", "out of memory", NULL, NULL);
  else reply_json(req, route, status, &b, extra);
  es_buf_free(&b);
}

/* Open311's api_key, as a form field of the body or a query parameter; the
 * decoded copies are wiped. Never logged. */
static const char *open311_api_key(es_http_req *req, ing_api_ctx *api, int *key) {
  char *k = content_type_is(req, "application/x-www-form-urlencoded") ? query_param(req->body, "api_key") : NULL;
  if (!k) k = query_param(req->query, "api_key");
  if (!k) return NULL;
  size_t n = strlen(k);
  const char *agency = ing_auth_key(api->keys, k, n, key);
  sodium_memzero(k, n);
  free(k);
  return agency;
}

/* ---- Open311 reads: forwarded to escucha-api, the answer relayed ---- */

static void on_forwarded(es_httpc_rc rc, const es_httpc_resp *r, void *ud) {
  es_http_req *req = ud;
  const char *route = "open311_read";
  es_metric_add(m_forward, 1, es_httpc_strerror(rc));
  if (rc == ES_HTTPC_OK) {
    count(req, route, r->status);
    es_http_reply(req, r->status, r->content_type[0] ? r->content_type : "application/json", r->body, r->body_len,
                  NULL);
    return;
  }
  es_warn("open311_read_failed", "upstream=escucha-api result=%s", es_httpc_strerror(rc));
  if (rc == ES_HTTPC_EPROTO || rc == ES_HTTPC_ETOOBIG)
    return reply_open311_error(req, route, 502, "the request service gave an invalid answer", NULL);
  reply_open311_error(req, route, 503, "the request service is unavailable; retry later", "Retry-After: 5\r\n");
}

/* "/open311/v2/requests/{id}.json" with id of [A-Za-z0-9_-], 1..64 chars. */
static int open311_request_path(const char *p) {
  static const char pre[] = "/open311/v2/requests/";
  if (strncmp(p, pre, sizeof pre - 1) != 0) return 0;
  p += sizeof pre - 1;
  size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
  return n >= 1 && n <= 64 && strcmp(p + n, ".json") == 0;
}

static void forward_open311_read(es_http_req *req, ing_api_ctx *api) {
  const char *route = "open311_read";
  if (!api->open311_read_url)
    return reply_open311_error(req, route, 404, "reading requests is not configured here", NULL);
  es_buf target = {0}, auth = {0};
  const char *authz = es_http_header(req, "authorization");
  int oom = es_buf_puts(&target, req->path) != 0;
  if (req->query) oom |= es_buf_printf(&target, "?%s", req->query) != 0;
  if (authz) oom |= es_buf_printf(&auth, "Authorization: %s", authz) != 0;
  const char *headers[] = {authz ? auth.data : NULL, NULL};
  es_httpc_limits lim = {.timeout_ms = api->open311_read_timeout_ms, .max_body = api->open311_read_max_bytes};
  int rc = oom ? -1
               : es_httpc_request(api->loop, "GET", api->open311_read_url, target.data, headers, NULL, 0, &lim,
                                  on_forwarded, req);
  if (auth.data) sodium_memzero(auth.data, auth.len);
  es_buf_free(&auth);
  es_buf_free(&target);
  if (rc != 0) { /* out of memory, or a header we cannot pass on as it is */
    es_metric_add(m_forward, 1, "refused");
    reply_open311_error(req, route, 503, "the request service is unavailable; retry later", "Retry-After: 5\r\n");
  }
}

void ing_api_handle(es_http_req *req, void *ud) {
  ing_api_ctx *api = ud;
  const char *p = req->path;
  int post = req->method == HTTP_POST, get = req->method == HTTP_GET;
  /* an Open311 client knows one base URL: its reads go to escucha-api through here */
  if (get && (strcmp(p, "/open311/v2/requests.json") == 0 || open311_request_path(p)))
    return forward_open311_read(req, api);
  const char *route = strcmp(p, "/v1/feedback") == 0                ? "feedback"
                      : strcmp(p, "/v1/feedback:batch") == 0        ? "feedback_batch"
                      : strcmp(p, "/open311/v2/requests.json") == 0 ? "open311_requests"
                      : strcmp(p, "/open311/v2/services.json") == 0 ? "open311_services"
                      : strcmp(p, "/v1/channels/whatsapp") == 0     ? "whatsapp"
                      : strcmp(p, "/v1/channels/email") == 0        ? "email"
                                                                    : NULL;
  if (!route) return reply_error(req, "other", 404, "not_found", "no such endpoint", NULL, NULL);
  if (strcmp(route, "open311_services") == 0) {
    if (!get) return reply_error(req, route, 405, "method_not_allowed", "use GET", NULL, "Allow: GET\r\n");
    return handle_open311_services(req, api); /* public per GeoReport v2 */
  }
  if (strcmp(route, "whatsapp") == 0) { /* Meta signs its calls; no API key */
    if (get) return handle_whatsapp_verify(req, api);
    if (post) return handle_whatsapp(req, api);
    return reply_error(req, route, 405, "method_not_allowed", "use GET or POST", NULL, "Allow: GET, POST\r\n");
  }
  int open311 = strcmp(route, "open311_requests") == 0;
  if (!post) {
    const char *allow = open311 ? "Allow: GET, POST\r\n" : "Allow: POST\r\n";
    return reply_error(req, route, 405, "method_not_allowed", open311 ? "use GET or POST" : "use POST", NULL, allow);
  }
  int key = -1;
  const char *authz = es_http_header(req, "authorization");
  const char *agency = ing_auth_check(api->keys, authz, &key);
  /* Open311 clients send the spec's api_key; a wrong Bearer header is not retried with it */
  if (!agency && !authz && open311) agency = open311_api_key(req, api, &key);
  if (!agency) {
    if (open311)
      return reply_open311_error(req, route, 401,
                                 "missing or invalid api_key (form field, query parameter or "
                                 "Authorization: Bearer)",
                                 "WWW-Authenticate: Bearer\r\n");
    return reply_error(req, route, 401, "unauthorized", "missing or invalid API key (Authorization: Bearer <key>)",
                       NULL, "WWW-Authenticate: Bearer\r\n");
  }
  if (!es_keys_has(ing_auth_roles(api->keys, key), ES_ROLE_SUBMIT)) {
    static const char msg[] = "this API key cannot submit feedback (it has no submit role)";
    if (open311) return reply_open311_error(req, route, 403, msg, NULL);
    return reply_error(req, route, 403, "forbidden", msg, NULL, NULL);
  }
  /* the bucket counts items: one per single request here, a batch's items once it is parsed */
  int batch = strcmp(route, "feedback_batch") == 0;
  int wait = ing_auth_rate_take(api->keys, key, es_mono_ns(), batch ? 0 : 1);
  if (wait) return reply_rate_limited(req, route, wait, 0, 0);
  if (api->inflight_limit && ing_pipeline_inflight(api->g) > api->inflight_limit)
    return reply_error(req, route, 503, "overloaded", "too much feedback in flight; retry", NULL, "Retry-After: 1\r\n");
  int trust = es_keys_has(ing_auth_roles(api->keys, key), ES_ROLE_BACKFILL);
  if (strcmp(route, "feedback") == 0) handle_single(req, api, agency, trust);
  else if (batch) handle_batch(req, api, agency, key, trust);
  else if (strcmp(route, "email") == 0) handle_email(req, api, agency);
  else handle_open311_post(req, api, agency);
}
