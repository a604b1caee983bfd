/* Vendor API responses: every connector's create / find-by-key / status
 * parsing fed arbitrary bodies and statuses through the HTTP transport hook.
 * Input: byte 0 = connector, byte 1 = operation, byte 2 = HTTP status pick,
 * rest = response body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static const char *const TOOLS[] = {"jira",    "github", "gitlab", "redmine", "asana",
                                    "clickup", "monday", "trello", "webhook"};
static const long STATUSES[] = {200, 201, 200, 204, 400, 401, 404, 422, 429, 500, 503, 302};

static const uint8_t *g_body;
static size_t g_len;
static long g_status;

static int transport(const ac_http_req *req, ac_http_resp *resp) {
  (void)req;
  resp->status = g_status;
  if (g_status == 429) resp->retry_after_ms = 1000;
  return es_buf_append(&resp->body, (const char *)g_body, g_len) == 0 ? 0 : -1;
}

static void no_sleep(void *ctx, long ms) { (void)ctx, (void)ms; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  const char *tool = TOOLS[data[0] % (sizeof TOOLS / sizeof TOOLS[0])];
  int op = data[1] % 3;
  g_status = STATUSES[data[2] % (sizeof STATUSES / sizeof STATUSES[0])];
  g_body = data + 3;
  g_len = size - 3;
  ac_http_transport_override = transport;
  json_t *cfg =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "base_url",
                "http://127.0.0.1:9/x", "token", "tok", "email", "bot@example.org", "project", "P", "repo", "o/r",
                "list", "123", "board", "456", "api_key", "k", "key_column", "text", "status_column", "status", "url",
                "http://127.0.0.1:9/hook", "status_url", "http://127.0.0.1:9/st", "done_list", "list-done",
                "doing_list", "list-doing", "tracker_id", "1", "api_version", (data[1] & 4) ? "2" : "3");
  if (data[1] & 8) json_object_set_new(cfg, "key_field_id", json_string("7"));
  ac_conn *c = ac_conn_new(tool, cfg);
  json_decref(cfg);
  if (!c) return 0;
  c->retry.max_attempts = 1 + (data[1] >> 6);
  c->retry.sleep_ms = no_sleep;
  ac_ticket t = {0};
  ac_error err = {0};
  ac_issue is = {"esk-0123456789abcdef0123456789abcdef",
                 "Title",
                 "Body\nescucha-key: esk-0123456789abcdef0123456789abcdef",
                 "<p>Body</p>",
                 "agency",
                 "topic"};
  if (op == 0) c->ops->create(c, &is, &t, &err);
  else if (op == 1) c->ops->find_by_key(c, is.idem_key, &t, &err);
  else c->ops->get_status(c, "12", &t, &err);
  /* every output is a terminated string */
  if (strlen(t.key) >= sizeof t.key || strlen(t.url) >= sizeof t.url || strlen(err.msg) >= sizeof err.msg) abort();
  char msg[256];
  ac_vendor_message((const char *)g_body, g_len, msg, sizeof msg);
  ac_conn_free(c);
  ac_http_transport_override = NULL;
  return 0;
}
