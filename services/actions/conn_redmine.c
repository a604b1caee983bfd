/* Redmine (REST, X-Redmine-API-Key). Redmine has no labels: the key goes into
 * a custom field when `key_field_id` is configured (filter cf_<id>=key), else
 * into the subject as "[key]" and is found with the subject~ filter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static void fill(ac_conn *c, json_t *is, ac_ticket *t) {
  json_t *st = json_object_get(is, "status");
  json_int_t id = json_integer_value(json_object_get(is, "id"));
  snprintf(t->key, sizeof t->key, "%lld", (long long)id);
  snprintf(t->url, sizeof t->url, "%s/issues/%lld", ac_conn_opt(c, "base_url", ""), (long long)id);
  ac_copy(t->status_name, sizeof t->status_name, json_string_value(json_object_get(st, "name")));
  /* is_closed exists since Redmine 5.1; older servers: closed_on is set. */
  json_t *closed = json_object_get(st, "is_closed");
  int done = closed ? json_is_true(closed) : json_is_string(json_object_get(is, "closed_on"));
  json_int_t sid = json_integer_value(json_object_get(st, "id"));
  long new_id = strtol(ac_conn_opt(c, "new_status_id", "1"), NULL, 10);
  t->state = done ? AC_ST_DONE : (!st || sid == new_id) ? AC_ST_OPEN : AC_ST_IN_PROGRESS;
}

static int prep(ac_conn *c, char **auth, ac_error *err) {
  *auth = c->token ? ac_header("X-Redmine-API-Key", "%s", c->token) : NULL;
  if (!*auth || !ac_conn_opt(c, "project", NULL)) {
    free(*auth);
    *auth = NULL;
    snprintf(err->msg, sizeof err->msg, "redmine: project and token are required");
    return AC_ECONFIG;
  }
  return AC_OK;
}

static int rm_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth, *subject = NULL;
  int rc = prep(c, &auth, err);
  if (rc) return rc;
  json_t *resp = NULL;
  const char *cf = ac_conn_opt(c, "key_field_id", NULL);
  if (asprintf(&subject, cf ? "%s" : "%s [%s]", is->title, is->idem_key) < 0) subject = NULL;
  json_t *issue = json_pack("{s:s, s:s, s:s}", "project_id", ac_conn_opt(c, "project", ""), "subject",
                            subject ? subject : is->title, "description", is->body ? is->body : "");
  const char *tracker = ac_conn_opt(c, "tracker_id", NULL);
  if (tracker) json_object_set_new(issue, "tracker_id", json_integer(strtol(tracker, NULL, 10)));
  /* urgent cases: e.g. the "Immediate" priority and an on-call assignee */
  const char *prio = ac_conn_opt(c, "priority_id", NULL), *who = ac_conn_opt(c, "assigned_to_id", NULL);
  if (prio) json_object_set_new(issue, "priority_id", json_integer(strtol(prio, NULL, 10)));
  if (who) json_object_set_new(issue, "assigned_to_id", json_integer(strtol(who, NULL, 10)));
  if (cf)
    json_object_set_new(issue, "custom_fields",
                        json_pack("[{s:I, s:s}]", "id", (json_int_t)strtol(cf, NULL, 10), "value", is->idem_key));
  json_t *body = json_pack("{s:o}", "issue", issue);
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "POST", "/issues.json", h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(c, json_object_get(resp, "issue"), out);
    if (strcmp(out->key, "0") == 0) rc = AC_ETRANSIENT;
  }
  json_decref(body);
  json_decref(resp);
  free(subject);
  free(auth);
  return rc;
}

static int rm_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth, *path = NULL, *proj = NULL, *k = NULL, *sub = NULL;
  int rc = prep(c, &auth, err);
  json_t *resp = NULL;
  if (rc) return rc;
  rc = AC_ETRANSIENT;
  const char *cf = ac_conn_opt(c, "key_field_id", NULL);
  proj = ac_urlenc(ac_conn_opt(c, "project", ""));
  k = ac_urlenc(key);
  if (!proj || !k) goto cleanup;
  /* status_id=* includes closed issues; "~" is the "contains" operator. */
  if (cf) {
    if (asprintf(&path, "/issues.json?project_id=%s&status_id=*&cf_%s=%s&limit=1", proj, cf, k) < 0) path = NULL;
  } else {
    char *tilde = ac_urlenc("~");
    if (tilde && asprintf(&path, "/issues.json?project_id=%s&status_id=*&subject=%s%s&limit=1", proj, tilde, k) < 0)
      path = NULL;
    free(tilde);
  }
  if (!path) goto cleanup;
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    json_t *first = json_array_get(json_object_get(resp, "issues"), 0);
    if (first) fill(c, first, out);
    else rc = AC_NOTFOUND;
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(path);
  free(proj);
  free(k);
  free(sub);
  return rc;
}

static int rm_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth;
  int rc = prep(c, &auth, err);
  if (rc) return rc;
  json_t *resp = NULL;
  rc = ac_get_json(c, auth, &resp, err, "/issues/%lld.json", strtoll(ext, NULL, 10));
  if (rc == AC_OK) fill(c, json_object_get(resp, "issue"), out);
  json_decref(resp);
  free(auth);
  return rc;
}

/* A journal note: PUT /issues/<id>.json {"issue": {"notes": …}} (204). */
static int rm_comment(ac_conn *c, const char *ext, const char *body, ac_error *err) {
  char *auth, path[64];
  int rc = prep(c, &auth, err);
  if (rc) return rc;
  json_t *resp = NULL, *req = json_pack("{s:{s:s}}", "issue", "notes", body ? body : "");
  snprintf(path, sizeof path, "/issues/%lld.json", strtoll(ext, NULL, 10));
  const char *h[] = {auth, NULL};
  rc = req ? ac_json_call_ex(c, "PUT", path, h, req, 0, 0, &resp, err) : AC_ETRANSIENT;
  json_decref(req);
  json_decref(resp);
  free(auth);
  return rc;
}

const ac_connector_ops ac_redmine_ops = {"redmine", rm_create, rm_find, rm_status, rm_comment};
