/* GitLab Issues (REST v4, PRIVATE-TOKEN). Key = label; `project` may be a
 * numeric id or a "group/project" path (URL-encoded as GitLab requires). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static int gl_prep(ac_conn *c, char **auth, char **proj, ac_error *err) {
  const char *p = ac_conn_opt(c, "project", NULL);
  *auth = c->token ? ac_header("PRIVATE-TOKEN", "%s", c->token) : NULL;
  *proj = p ? ac_urlenc(p) : NULL;
  if (!*auth || !*proj) {
    snprintf(err->msg, sizeof err->msg, "gitlab: project and token are required");
    free(*auth);
    free(*proj);
    *auth = *proj = NULL;
    return AC_ECONFIG;
  }
  return AC_OK;
}

static void fill(json_t *is, ac_ticket *t) {
  const char *state = json_string_value(json_object_get(is, "state"));
  snprintf(t->key, sizeof t->key, "%lld", (long long)json_integer_value(json_object_get(is, "iid")));
  ac_copy(t->url, sizeof t->url, json_string_value(json_object_get(is, "web_url")));
  ac_copy(t->status_name, sizeof t->status_name, state);
  t->state = state && strcmp(state, "closed") == 0                   ? AC_ST_DONE
             : json_array_size(json_object_get(is, "assignees")) > 0 ? AC_ST_IN_PROGRESS
                                                                     : AC_ST_OPEN;
}

static int gl_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth, *proj, *path = NULL, *labels = NULL;
  int rc = gl_prep(c, &auth, &proj, err);
  json_t *resp = NULL, *body = NULL;
  if (rc) return rc;
  rc = AC_ETRANSIENT;
  const char *extra = ac_conn_opt(c, "labels", NULL);
  /* GitLab takes labels as one comma-separated string. */
  if (asprintf(&labels, "%s%s%s", is->idem_key, extra ? "," : "", extra ? extra : "") < 0 ||
      asprintf(&path, "/api/v4/projects/%s/issues", proj) < 0)
    goto cleanup;
  body = json_pack("{s:s, s:s, s:s}", "title", is->title, "description", is->body ? is->body : "", "labels", labels);
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "POST", path, h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(resp, out);
    if (strcmp(out->key, "0") == 0) rc = AC_ETRANSIENT;
  }
cleanup:
  json_decref(body);
  json_decref(resp);
  free(labels);
  free(path);
  free(auth);
  free(proj);
  return rc;
}

static int gl_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth, *proj, *path = NULL, *enc = ac_urlenc(key);
  int rc = gl_prep(c, &auth, &proj, err);
  json_t *resp = NULL;
  if (rc) goto cleanup;
  rc = AC_ETRANSIENT;
  if (!enc || asprintf(&path, "/api/v4/projects/%s/issues?labels=%s&state=all&per_page=10", proj, enc) < 0)
    goto cleanup;
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    json_t *first = json_array_get(resp, 0);
    if (first) fill(first, out);
    else rc = AC_NOTFOUND;
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(proj);
  free(enc);
  free(path);
  return rc;
}

static int gl_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth, *proj;
  int rc = gl_prep(c, &auth, &proj, err);
  json_t *resp = NULL;
  if (rc) return rc;
  rc = ac_get_json(c, auth, &resp, err, "/api/v4/projects/%s/issues/%lld", proj, strtoll(ext, NULL, 10));
  if (rc == AC_OK) fill(resp, out);
  json_decref(resp);
  free(auth);
  free(proj);
  return rc;
}

const ac_connector_ops ac_gitlab_ops = {"gitlab", gl_create, gl_find, gl_status};
