/* Asana tasks (REST 1.0, Bearer PAT). Asana's `external` field needs an OAuth
 * app, so the key is the marker line in `notes`, found by listing the
 * project's tasks (paginated with next_page.offset). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

#define ASANA_FIELDS "name,notes,completed,permalink_url,assignee"

static void fill(json_t *t, ac_ticket *o) {
  ac_copy(o->key, sizeof o->key, json_string_value(json_object_get(t, "gid")));
  ac_copy(o->url, sizeof o->url, json_string_value(json_object_get(t, "permalink_url")));
  int done = json_is_true(json_object_get(t, "completed"));
  int assigned = json_is_object(json_object_get(t, "assignee"));
  ac_copy(o->status_name, sizeof o->status_name, done ? "completed" : assigned ? "assigned" : "incomplete");
  o->state = done ? AC_ST_DONE : assigned ? AC_ST_IN_PROGRESS : AC_ST_OPEN;
}

static char *auth_of(ac_conn *c, ac_error *err) {
  char *a = c->token ? ac_header("Authorization", "Bearer %s", c->token) : NULL;
  if (!a || !ac_conn_opt(c, "project", NULL)) {
    snprintf(err->msg, sizeof err->msg, "asana: project (gid) and token are required");
    free(a);
    return NULL;
  }
  return a;
}

static int as_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err);
  if (!auth) return AC_ECONFIG;
  json_t *resp = NULL;
  json_t *body = json_pack("{s:{s:s, s:s, s:[s]}}", "data", "name", is->title, "notes", is->body ? is->body : "",
                           "projects", ac_conn_opt(c, "project", ""));
  const char *h[] = {auth, NULL};
  int rc = ac_json_call(c, "POST", "/tasks?opt_fields=" ASANA_FIELDS, h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(json_object_get(resp, "data"), out);
    if (!out->key[0]) rc = AC_ETRANSIENT;
  }
  json_decref(body);
  json_decref(resp);
  free(auth);
  return rc;
}

static int as_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *proj = NULL, *path = NULL, *offset = NULL;
  if (!auth) return AC_ECONFIG;
  int rc = AC_ETRANSIENT;
  json_t *resp = NULL;
  if (!(proj = ac_urlenc(ac_conn_opt(c, "project", "")))) goto cleanup;
  const char *h[] = {auth, NULL};
  for (int page = 0; page < 50; page++) { /* 5000 tasks is plenty for one project */
    free(path);
    path = NULL;
    if (asprintf(&path, "/projects/%s/tasks?opt_fields=" ASANA_FIELDS "&limit=100%s%s", proj, offset ? "&offset=" : "",
                 offset ? offset : "") < 0) {
      path = NULL;
      goto cleanup;
    }
    json_decref(resp);
    resp = NULL;
    rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
    if (rc != AC_OK) goto cleanup;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(resp, "data"), i, t) {
      if (ac_has_marker(json_string_value(json_object_get(t, "notes")), key)) {
        fill(t, out);
        goto cleanup;
      }
    }
    const char *next = json_string_value(json_object_get(json_object_get(resp, "next_page"), "offset"));
    free(offset);
    offset = next ? ac_urlenc(next) : NULL;
    if (!offset) break;
  }
  rc = AC_NOTFOUND;
cleanup:
  json_decref(resp);
  free(auth);
  free(proj);
  free(path);
  free(offset);
  return rc;
}

static int as_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *gid = ac_urlenc(ext);
  json_t *resp = NULL;
  int rc = auth && gid ? ac_get_json(c, auth, &resp, err, "/tasks/%s?opt_fields=" ASANA_FIELDS, gid) : AC_ECONFIG;
  if (rc == AC_OK) fill(json_object_get(resp, "data"), out);
  json_decref(resp);
  free(auth);
  free(gid);
  return rc;
}

const ac_connector_ops ac_asana_ops = {"asana", as_create, as_find, as_status};
