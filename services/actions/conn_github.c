/* GitHub Issues (REST, API version 2022-11-28). The key is an issue label:
 * listing by label is strongly consistent, unlike the search API whose index
 * lags, which matters when recovering right after a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

#define GH_HEADERS(auth) \
  { auth, "Accept: application/vnd.github+json", "X-GitHub-Api-Version: 2022-11-28", NULL }

static int gh_prep(ac_conn *c, char **auth, const char **repo, ac_error *err) {
  *repo = ac_conn_opt(c, "repo", NULL); /* "owner/name" */
  *auth = c->token ? ac_header("Authorization", "Bearer %s", c->token) : NULL;
  if (!*repo || !*auth || !strchr(*repo, '/')) {
    snprintf(err->msg, sizeof err->msg, "github: repo (owner/name) and token are required");
    free(*auth);
    *auth = NULL;
    return AC_ECONFIG;
  }
  return AC_OK;
}

static void fill(json_t *is, ac_ticket *t) {
  json_int_t num = json_integer_value(json_object_get(is, "number"));
  const char *state = json_string_value(json_object_get(is, "state"));
  snprintf(t->key, sizeof t->key, "%lld", (long long)num);
  ac_copy(t->url, sizeof t->url, json_string_value(json_object_get(is, "html_url")));
  ac_copy(t->status_name, sizeof t->status_name, state);
  /* GitHub has only open/closed; an assignee means someone is on it. */
  size_t nassign = json_array_size(json_object_get(is, "assignees"));
  t->state = state && strcmp(state, "closed") == 0                        ? AC_ST_DONE
             : nassign || json_is_object(json_object_get(is, "assignee")) ? AC_ST_IN_PROGRESS
                                                                          : AC_ST_OPEN;
}

static int gh_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth, path[300];
  const char *repo;
  int rc = gh_prep(c, &auth, &repo, err);
  if (rc) return rc;
  json_t *resp = NULL;
  json_t *body =
      json_pack("{s:s, s:s, s:[s]}", "title", is->title, "body", is->body ? is->body : "", "labels", is->idem_key);
  const char *extra = ac_conn_opt(c, "labels", NULL); /* routing labels, comma separated */
  if (extra) {
    char *dup = es_xstrdup(extra), *save = NULL; /* actions: out of memory aborts */
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
      json_array_append_new(json_object_get(body, "labels"), json_string(t));
    free(dup);
  }
  snprintf(path, sizeof path, "/repos/%s/issues", repo);
  const char *h[] = GH_HEADERS(auth);
  rc = ac_json_call(c, "POST", path, h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(resp, out);
    if (!out->key[0] || strcmp(out->key, "0") == 0) rc = AC_ETRANSIENT;
  }
  json_decref(body);
  json_decref(resp);
  free(auth);
  return rc;
}

static int gh_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth, *path = NULL, *enc = ac_urlenc(key);
  const char *repo;
  int rc = gh_prep(c, &auth, &repo, err);
  json_t *resp = NULL;
  if (rc) goto cleanup;
  rc = AC_ETRANSIENT;
  if (!enc || asprintf(&path, "/repos/%s/issues?labels=%s&state=all&per_page=10", repo, enc) < 0) goto cleanup;
  const char *h[] = GH_HEADERS(auth);
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    size_t i;
    json_t *x;
    rc = AC_NOTFOUND;
    json_array_foreach(resp, i, x) {
      if (json_object_get(x, "pull_request")) continue; /* the endpoint also lists PRs */
      fill(x, out);
      rc = AC_OK;
      break;
    }
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(enc);
  free(path);
  return rc;
}

static int gh_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth, path[320];
  const char *repo;
  int rc = gh_prep(c, &auth, &repo, err);
  if (rc) return rc;
  json_t *resp = NULL;
  snprintf(path, sizeof path, "/repos/%s/issues/%lld", repo, strtoll(ext, NULL, 10));
  const char *h[] = GH_HEADERS(auth);
  rc = ac_json_call(c, "GET", path, h, NULL, 1, &resp, err);
  if (rc == AC_OK) fill(resp, out);
  json_decref(resp);
  free(auth);
  return rc;
}

const ac_connector_ops ac_github_ops = {"github", gh_create, gh_find, gh_status};
