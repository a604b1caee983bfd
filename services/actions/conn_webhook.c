/* Generic signed webhook. POST <url> with a JSON body; headers
 *   X-Escucha-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
 *   Idempotency-Key: <key>
 * The body carries sent_at so receivers can reject replays. There is nothing
 * to search, so receivers must dedupe on Idempotency-Key (documented);
 * status is read from `status_url`/<id> ({"status": "open|in_progress|done"})
 * when configured, otherwise a webhook ticket stays open. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_conn.h"

int ac_webhook_sign(const char *secret, const char *body, size_t len, char out[72]) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  if (sodium_init() < 0) return -1;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
  crypto_auth_hmacsha256_final(&st, mac);
  memcpy(out, "sha256=", 7);
  sodium_bin2hex(out + 7, 65, mac, sizeof mac);
  return 0;
}

static int wh_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  const char *url = ac_conn_opt(c, "url", NULL);
  char sig[72], *payload = NULL, *sig_h = NULL, *idem_h = NULL;
  ac_http_resp resp = {0};
  int rc = AC_ECONFIG;
  if (!url || !c->token) {
    snprintf(err->msg, sizeof err->msg, "webhook: url and signing secret (token) are required");
    goto cleanup;
  }
  json_t *body = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I}", "idempotency_key", is->idem_key, "title", is->title,
                           "body", is->body ? is->body : "", "agency", is->agency, "topic", is->topic, "sent_at",
                           (json_int_t)time(NULL) * 1000);
  payload = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  rc = AC_ETRANSIENT;
  if (!payload || ac_webhook_sign(c->token, payload, strlen(payload), sig) != 0) goto cleanup;
  sig_h = ac_header("X-Escucha-Signature", "%s", sig);
  idem_h = ac_header("Idempotency-Key", "%s", is->idem_key);
  if (!sig_h || !idem_h) goto cleanup;
  const char *h[] = {"Content-Type: application/json", "Accept: application/json", sig_h, idem_h, NULL};
  /* The Idempotency-Key makes the POST safe to repeat on 5xx. */
  ac_http_req req = {"POST", url, h, payload, strlen(payload), 1};
  int hr = ac_http_do(&c->retry, &c->breaker, &req, &resp, err->msg, sizeof err->msg);
  err->http_status = resp.status;
  if (hr == AC_HTTP_BREAKER) {
    rc = AC_EBREAKER;
    goto cleanup;
  }
  if (hr != AC_HTTP_OK || resp.status < 200 || resp.status >= 300) {
    if (resp.body.len) ac_vendor_message(resp.body.data, resp.body.len, err->msg, sizeof err->msg);
    rc = hr == AC_HTTP_OK && ac_http_permanent(resp.status) ? AC_EPERM : AC_ETRANSIENT;
    goto cleanup;
  }
  json_t *j = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(j, "id"));
  ac_copy(out->key, sizeof out->key, id ? id : is->idem_key);
  ac_copy(out->url, sizeof out->url, json_string_value(json_object_get(j, "url")));
  ac_copy(out->status_name, sizeof out->status_name, "delivered");
  out->state = AC_ST_OPEN;
  json_decref(j);
  rc = AC_OK;
cleanup:
  ac_http_resp_free(&resp);
  free(payload);
  free(sig_h);
  free(idem_h);
  return rc;
}

static int wh_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  (void)c, (void)key, (void)out, (void)err;
  return AC_NOTFOUND;
}

static int wh_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  const char *su = ac_conn_opt(c, "status_url", NULL);
  ac_copy(out->key, sizeof out->key, ext);
  if (!su) {
    out->state = AC_ST_OPEN;
    ac_copy(out->status_name, sizeof out->status_name, "delivered");
    return AC_OK;
  }
  char *id = ac_urlenc(ext), *url = NULL;
  json_t *resp = NULL;
  int rc = AC_ETRANSIENT;
  if (!id || asprintf(&url, "%s/%s", su, id) < 0) {
    url = NULL;
    goto cleanup;
  }
  char sig[72], *sig_h = NULL;
  if (ac_webhook_sign(c->token ? c->token : "", "", 0, sig) == 0) sig_h = ac_header("X-Escucha-Signature", "%s", sig);
  const char *h[] = {sig_h, NULL};
  rc = ac_json_call(c, "GET", url, sig_h ? h : NULL, NULL, 1, &resp, err);
  free(sig_h);
  if (rc == AC_OK) {
    const char *s = json_string_value(json_object_get(resp, "status"));
    ac_copy(out->status_name, sizeof out->status_name, s);
    out->state = !s                              ? AC_ST_OPEN
                 : strcmp(s, "done") == 0        ? AC_ST_DONE
                 : strcmp(s, "in_progress") == 0 ? AC_ST_IN_PROGRESS
                                                 : AC_ST_OPEN;
    const char *u = json_string_value(json_object_get(resp, "url"));
    if (u) ac_copy(out->url, sizeof out->url, u);
  }
cleanup:
  json_decref(resp);
  free(id);
  free(url);
  return rc;
}

const ac_connector_ops ac_webhook_ops = {"webhook", wh_create, wh_find, wh_status};
