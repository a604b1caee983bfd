/* ClickUp tasks (API v2; personal token in Authorization, no scheme).
 * Key = task tag (ClickUp lowercases tags; our keys are lowercase already).
 * State from status.type: open / custom / done / closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static void fill(json_t *t, ac_ticket *o) {
  json_t *st = json_object_get(t, "status");
  const char *type = json_string_value(json_object_get(st, "type"));
  ac_copy(o->key, sizeof o->key, json_string_value(json_object_get(t, "id")));
  ac_copy(o->url, sizeof o->url, json_string_value(json_object_get(t, "url")));
  ac_copy(o->status_name, sizeof o->status_name, json_string_value(json_object_get(st, "status")));
  o->state = !type                                                      ? AC_ST_OPEN
             : strcmp(type, "closed") == 0 || strcmp(type, "done") == 0 ? AC_ST_DONE
             : strcmp(type, "custom") == 0                              ? AC_ST_IN_PROGRESS
                                                                        : AC_ST_OPEN;
}

static char *auth_of(ac_conn *c, ac_error *err) {
  char *a = c->token ? ac_header("Authorization", "%s", c->token) : NULL;
  if (!a || !ac_conn_opt(c, "list", NULL)) {
    snprintf(err->msg, sizeof err->msg, "clickup: list (id) and token are required");
    free(a);
    return NULL;
  }
  return a;
}

static int cu_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *list = NULL, *path = NULL;
  int rc = AC_ECONFIG;
  json_t *resp = NULL, *body = NULL;
  if (!auth) goto cleanup;
  rc = AC_ETRANSIENT;
  if (!(list = ac_urlenc(ac_conn_opt(c, "list", ""))) || asprintf(&path, "/list/%s/task", list) < 0) {
    path = NULL;
    goto cleanup;
  }
  body =
      json_pack("{s:s, s:s, s:[s]}", "name", is->title, "description", is->body ? is->body : "", "tags", is->idem_key);
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "POST", path, h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(resp, out);
    if (!out->key[0]) rc = AC_ETRANSIENT;
  }
cleanup:
  json_decref(body);
  json_decref(resp);
  free(auth);
  free(list);
  free(path);
  return rc;
}

static int cu_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *list = NULL, *path = NULL, *k = ac_urlenc(key);
  int rc = AC_ECONFIG;
  json_t *resp = NULL;
  if (!auth) goto cleanup;
  rc = AC_ETRANSIENT;
  if (!k || !(list = ac_urlenc(ac_conn_opt(c, "list", ""))) ||
      asprintf(&path, "/list/%s/task?tags%%5B%%5D=%s&include_closed=true", list, k) < 0) {
    path = NULL;
    goto cleanup;
  }
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    json_t *first = json_array_get(json_object_get(resp, "tasks"), 0);
    if (first) fill(first, out);
    else rc = AC_NOTFOUND;
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(list);
  free(path);
  free(k);
  return rc;
}

static int cu_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *id = ac_urlenc(ext);
  json_t *resp = NULL;
  int rc = auth && id ? ac_get_json(c, auth, &resp, err, "/task/%s", id) : AC_ECONFIG;
  if (rc == AC_OK) fill(resp, out);
  json_decref(resp);
  free(auth);
  free(id);
  return rc;
}

const ac_connector_ops ac_clickup_ops = {"clickup", cu_create, cu_find, cu_status};
