/* Connector registry and the helpers every connector shares. */
#include "ac_conn.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ac_text.h"
#include "config.h"

static const ac_connector_ops *const g_ops[] = {
    &ac_jira_ops,    &ac_github_ops, &ac_gitlab_ops, &ac_redmine_ops, &ac_asana_ops,
    &ac_clickup_ops, &ac_monday_ops, &ac_trello_ops, &ac_webhook_ops, &ac_email_ops,
};

const ac_connector_ops *ac_connector_find(const char *tool) {
  for (size_t i = 0; tool && i < sizeof g_ops / sizeof g_ops[0]; i++)
    if (strcmp(g_ops[i]->tool, tool) == 0) return g_ops[i];
  return NULL;
}

void ac_copy(char *dst, size_t n, const char *src) {
  if (!n) return;
  snprintf(dst, n, "%s", src ? src : "");
}

/* Every tool's settings from the environment (ESCUCHA_<TOOL>_<NAME>, or
 * --<tool>-<name>), one table section per connector joined into actions'
 * option table so --help lists them. A taxonomy routing object overrides them
 * key by key (ac_conn_opt), which is why they are looked up by name. */
static char *g_token[10]; /* one per tool, in the order of the sections below */
#define AC_TOOL(t, i)                                                                                         \
  ES_SECRET(t "-token", "Secret of the " t " connector (API token; webhook: HMAC key; email: SMTP password)", \
            &g_token[i]),                                                                                     \
      ES_STR(t "-base-url", NULL, "API root of " t " (SaaS tools have a built-in one)", NULL),                \
      ES_STR(t "-markup", NULL, "Ticket body markup of " t " (default: the tool's)", NULL)

es_opt ac_conn_opts[] = {
    AC_TOOL("jira", 0),
    ES_STR("jira-email", NULL, "Jira Cloud account e-mail (omit for a Server PAT)", NULL),
    ES_STR("jira-project", NULL, "Jira project key", NULL),
    ES_STR("jira-issue-type", NULL, "Jira issue type", NULL),
    ES_STR("jira-api-version", NULL, "Jira REST API version: 3 | 2", NULL),
    AC_TOOL("github", 1),
    ES_STR("github-repo", NULL, "GitHub repository owner/name", NULL),
    ES_STR("github-labels", NULL, "GitHub labels, comma-separated", NULL),
    AC_TOOL("gitlab", 2),
    ES_STR("gitlab-project", NULL, "GitLab project (id or group/name)", NULL),
    ES_STR("gitlab-labels", NULL, "GitLab labels, comma-separated", NULL),
    AC_TOOL("redmine", 3),
    ES_STR("redmine-project", NULL, "Redmine project identifier", NULL),
    ES_STR("redmine-tracker-id", NULL, "Redmine tracker id", NULL),
    ES_STR("redmine-key-field-id", NULL, "Redmine custom field holding the idempotency key", NULL),
    ES_STR("redmine-new-status-id", NULL, "Redmine status id of new issues", NULL),
    ES_STR("redmine-priority-id", NULL, "Redmine priority id of new issues (default: Redmine's)", NULL),
    ES_STR("redmine-assigned-to-id", NULL, "Redmine user or group id new issues are assigned to", NULL),
    AC_TOOL("asana", 4),
    ES_STR("asana-project", NULL, "Asana project gid", NULL),
    AC_TOOL("clickup", 5),
    ES_STR("clickup-list", NULL, "ClickUp list id", NULL),
    AC_TOOL("monday", 6),
    ES_STR("monday-board", NULL, "monday.com board id", NULL),
    ES_STR("monday-key-column", NULL, "monday.com column holding the idempotency key", NULL),
    ES_STR("monday-status-column", NULL, "monday.com status column", NULL),
    ES_STR("monday-api-version", NULL, "monday.com API-Version header", NULL),
    AC_TOOL("trello", 7),
    ES_STR("trello-api-key", NULL, "Trello API key (TOKEN is the user token)", NULL),
    ES_STR("trello-list", NULL, "Trello list id for new cards", NULL),
    ES_STR("trello-board", NULL, "Trello board id", NULL),
    ES_STR("trello-done-list", NULL, "Trello list id meaning done", NULL),
    ES_STR("trello-doing-list", NULL, "Trello list id meaning in progress", NULL),
    AC_TOOL("webhook", 8),
    ES_STR("webhook-url", NULL, "Webhook URL receiving signed tickets", NULL),
    ES_STR("webhook-status-url", NULL, "Webhook status URL", NULL),
    AC_TOOL("email", 9),
    ES_STR("email-smtp-url", NULL, "SMTP server URL (smtp:// or smtps://); also the digest's", NULL),
    ES_STR("email-to", NULL, "E-mail recipients, comma-separated", NULL),
    ES_STR("email-from", NULL, "E-mail sender (default escucha@localhost)", NULL),
    ES_STR("email-user", NULL, "SMTP user", NULL),
    ES_STR("email-tls-verify", NULL, "Verify the SMTP server's certificate: true | false (default true)", NULL),
    ES_OPT_END};

/* The section entry of tool's setting name ("base_url" -> "<tool>-base-url"). */
static es_opt *env_opt(const char *tool, const char *name) {
  char flag[96];
  size_t j = (size_t)snprintf(flag, sizeof flag, "%s-", tool);
  for (const char *p = name; *p && j + 1 < sizeof flag; p++) flag[j++] = *p == '_' ? '-' : *p;
  flag[j < sizeof flag ? j : sizeof flag - 1] = 0;
  return es_opt_find(ac_conn_opts, flag);
}

/* Settings are kept as strings so ac_conn_opt can hand out stable pointers. */
static json_t *stringify_cfg(json_t *cfg) {
  json_t *o = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(cfg, k, v) {
    char tmp[64];
    if (json_is_string(v)) json_object_set(o, k, v);
    else if (json_is_integer(v)) {
      snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
      json_object_set_new(o, k, json_string(tmp));
    } else if (json_is_boolean(v)) json_object_set_new(o, k, json_string(json_is_true(v) ? "true" : "false"));
    else if (json_is_real(v)) {
      snprintf(tmp, sizeof tmp, "%g", json_real_value(v));
      json_object_set_new(o, k, json_string(tmp));
    }
  }
  return o;
}

ac_conn *ac_conn_new(const char *tool, json_t *cfg) {
  const ac_connector_ops *ops = ac_connector_find(tool);
  if (!ops) return NULL;
  ac_conn *c = es_xcalloc(1, sizeof *c); /* start-up: out of memory aborts (docs/architecture.md) */
  c->ops = ops;
  c->cfg = cfg && json_is_object(cfg) ? stringify_cfg(cfg) : json_object();
  /* SaaS tools have a fixed API root; self-hosted ones (Jira, Redmine) must be configured. */
  static const char *const defaults[][2] = {
      {"github", "https://api.github.com"},       {"gitlab", "https://gitlab.com"},
      {"asana", "https://app.asana.com/api/1.0"}, {"clickup", "https://api.clickup.com/api/v2"},
      {"monday", "https://api.monday.com/v2"},    {"trello", "https://api.trello.com/1"}};
  if (!ac_conn_opt(c, "base_url", NULL))
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
      if (strcmp(defaults[i][0], tool) == 0) json_object_set_new(c->cfg, "base_url", json_string(defaults[i][1]));
  ac_retry_defaults(&c->retry);
  ac_breaker_init(&c->breaker, 5, 30000);
  const char *t = json_string_value(json_object_get(c->cfg, "token"));
  if (t) {
    c->token = es_xstrdup(t);
    json_object_del(c->cfg, "token"); /* keep the secret in one place only */
  } else {
    es_opt *o = env_opt(tool, "token");
    const char *tok = o && o->dest ? *(char **)o->dest : NULL;
    c->token = tok ? strdup(tok) : NULL;
  }
  return c;
}

void ac_conn_free(ac_conn *c) {
  if (!c) return;
  if (c->token) {
    memset(c->token, 0, strlen(c->token));
    free(c->token);
  }
  json_decref(c->cfg);
  ac_breaker_destroy(&c->breaker);
  free(c);
}

const char *ac_conn_opt(ac_conn *c, const char *name, const char *def) {
  const char *v = json_string_value(json_object_get(c->cfg, name));
  if (v && *v) return v;
  es_opt *o = env_opt(c->ops->tool, name);
  v = o ? o->value : NULL;
  return v && *v ? v : def;
}

char *ac_urlenc(const char *s) {
  char *e = curl_easy_escape(NULL, s ? s : "", 0);
  char *r = e ? strdup(e) : NULL;
  curl_free(e);
  return r;
}

char *ac_header(const char *name, const char *fmt, ...) {
  es_buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  char *v = NULL;
  if (vasprintf(&v, fmt, ap) < 0) v = NULL;
  va_end(ap);
  if (!v || es_buf_printf(&b, "%s: %s", name, v) != 0) {
    free(v);
    es_buf_free(&b);
    return NULL;
  }
  free(v);
  return b.data;
}

int ac_has_marker(const char *text, const char *key) {
  if (!text || !key) return 0;
  size_t kl = strlen(key);
  for (const char *p = strstr(text, AC_MARKER_PREFIX); p; p = strstr(p + 1, AC_MARKER_PREFIX)) {
    if (p != text && p[-1] != '\n') continue; /* citizen lines start with a quote prefix */
    const char *k = p + strlen(AC_MARKER_PREFIX);
    if (strncmp(k, key, kl) == 0 && !isalnum((unsigned char)k[kl]) && k[kl] != '-') return 1;
  }
  return 0;
}

int ac_conn_markup(ac_conn *c) {
  const char *tool = c->ops->tool;
  if (strcmp(tool, "jira") == 0 && strcmp(ac_conn_opt(c, "api_version", "3"), "2") != 0)
    return AC_MU_ADF; /* v3 takes nothing but an ADF document */
  const char *m = ac_conn_opt(c, "markup", NULL);
  if (m) return ac_markup_parse(m);
  static const struct {
    const char *tool;
    int markup;
  } defaults[] = {
      {"jira", AC_MU_JIRA},       {"github", AC_MU_MARKDOWN}, {"gitlab", AC_MU_MARKDOWN},
      {"trello", AC_MU_MARKDOWN}, {"redmine", AC_MU_TEXTILE}, /* Redmine < 6 default */
      {"monday", AC_MU_HTML},                                 /* updates are HTML */
  };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if (strcmp(defaults[i].tool, tool) == 0) return defaults[i].markup;
  return AC_MU_PLAIN; /* asana notes, clickup description, webhook, e-mail text */
}

static void append_msg(es_buf *b, const char *s) {
  if (!s || !*s) return;
  if (b->len) es_buf_puts(b, "; ");
  es_buf_puts(b, s);
}

/* Jira {"errorMessages":[],"errors":{f:msg}}, GitHub {"message","errors":[{field,code}]},
 * GitLab {"message":str|{f:[..]}} or {"error"}, Redmine {"errors":[str]},
 * Asana/monday {"errors":[{"message"}]}, ClickUp {"err","ECODE"}, monday
 * {"error_message"}, Trello plain text. */
static void collect(json_t *v, es_buf *b, const char *field) {
  if (json_is_string(v)) {
    if (field) {
      char tmp[600];
      snprintf(tmp, sizeof tmp, "%s: %s", field, json_string_value(v));
      append_msg(b, tmp);
    } else append_msg(b, json_string_value(v));
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) collect(x, b, field);
  } else if (json_is_object(v)) {
    json_t *m = json_object_get(v, "message");
    if (m) {
      collect(m, b, field);
      return;
    }
    const char *code = json_string_value(json_object_get(v, "code"));
    const char *f = json_string_value(json_object_get(v, "field"));
    if (code && f) {
      char tmp[300];
      snprintf(tmp, sizeof tmp, "%s %s", f, code);
      append_msg(b, tmp);
      return;
    }
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) collect(x, b, k);
  }
}

void ac_vendor_message(const char *body, size_t len, char *out, size_t outlen) {
  es_buf b = {0};
  json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
  if (json_is_object(j)) {
    static const char *keys[] = {"errorMessages", "message", "error", "err", "error_message", "errors"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      json_t *v = json_object_get(j, keys[i]);
      if (!v) continue;
      /* GitHub: "Validation Failed" + details in errors[]; Jira: both lists. */
      collect(v, &b, NULL);
    }
  } else if (body && len && es_buf_append(&b, body, len < 300 ? len : 300) != 0) {
    es_buf_free(&b); /* out of memory: "no error body" below rather than a cut one */
  }
  snprintf(out, outlen, "%.*s", b.data ? (int)b.len : 0, b.data ? b.data : "");
  /* Bodies can contain newlines; keep one-line messages for logs and DLQ. */
  for (char *p = out; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  if (!*out) snprintf(out, outlen, "no error body");
  es_buf_free(&b);
  json_decref(j);
}

int ac_get_json(ac_conn *c, const char *auth, json_t **out, ac_error *err, const char *fmt, ...) {
  char *path = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&path, fmt, ap);
  va_end(ap);
  if (n < 0) return AC_ETRANSIENT;
  const char *h[] = {auth, NULL};
  int rc = ac_json_call(c, "GET", path, h, NULL, 1, out, err);
  free(path);
  return rc;
}

int ac_json_call(ac_conn *c, const char *method, const char *path, const char *const *headers, json_t *body,
                 int notfound_ok, json_t **out, ac_error *err) {
  return ac_json_call_ex(c, method, path, headers, body, notfound_ok, strcmp(method, "POST") != 0, out, err);
}

int ac_json_call_ex(ac_conn *c, const char *method, const char *path, const char *const *headers, json_t *body,
                    int notfound_ok, int idempotent, json_t **out, ac_error *err) {
  int rc = AC_ETRANSIENT;
  char *url = NULL, *payload = NULL;
  const char *hdrs[16];
  size_t nh = 0;
  ac_http_resp resp = {0};
  *out = NULL;
  err->http_status = 0;
  err->msg[0] = 0;
  if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) url = strdup(path);
  else {
    const char *base = ac_conn_opt(c, "base_url", NULL);
    if (!base) {
      snprintf(err->msg, sizeof err->msg, "%s: base_url not configured", c->ops->tool);
      rc = AC_ECONFIG;
      goto cleanup;
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    if (asprintf(&url, "%.*s%s", (int)bl, base, path) < 0) url = NULL;
  }
  if (!url) goto cleanup;
  int has_accept = 0;
  for (const char *const *h = headers; h && *h; h++) has_accept |= strncasecmp(*h, "Accept:", 7) == 0;
  if (!has_accept) hdrs[nh++] = "Accept: application/json";
  if (body) hdrs[nh++] = "Content-Type: application/json";
  for (const char *const *h = headers; h && *h && nh < 15; h++) hdrs[nh++] = *h;
  hdrs[nh] = NULL;
  if (body && !(payload = json_dumps(body, JSON_COMPACT))) goto cleanup;
  ac_http_req req = {method, url, hdrs, payload, payload ? strlen(payload) : 0, idempotent};
  int hr = ac_http_do(&c->retry, &c->breaker, &req, &resp, err->msg, sizeof err->msg);
  err->http_status = resp.status;
  if (hr == AC_HTTP_BREAKER) {
    rc = AC_EBREAKER;
    goto cleanup;
  }
  if (hr != AC_HTTP_OK) {
    if (resp.status && resp.body.len) ac_vendor_message(resp.body.data, resp.body.len, err->msg, sizeof err->msg);
    rc = AC_ETRANSIENT;
    goto cleanup;
  }
  if (resp.status >= 200 && resp.status < 300) {
    *out = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
    if (!*out) *out = json_null();
    rc = AC_OK;
  } else {
    ac_vendor_message(resp.body.data, resp.body.len, err->msg, sizeof err->msg);
    rc = resp.status == 404 && notfound_ok ? AC_NOTFOUND : ac_http_permanent(resp.status) ? AC_EPERM : AC_ETRANSIENT;
  }
cleanup:
  ac_http_resp_free(&resp);
  free(payload);
  free(url);
  return rc;
}
