/* Jira Cloud (REST v3, Basic email:API-token) and Server/Data Center (REST v2,
 * Bearer personal access token). The idempotency key is an issue label;
 * status comes from the status category (new / indeterminate / done). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

/* Auth header: Cloud uses Basic base64(email:token); without an e-mail we
 * assume a Server/DC personal access token (Bearer). */
static char *jira_auth(ac_conn *c) {
  const char *email = ac_conn_opt(c, "email", NULL);
  if (!c->token) return NULL;
  if (!email) return ac_header("Authorization", "Bearer %s", c->token);
  char *raw = NULL, *hdr = NULL;
  if (asprintf(&raw, "%s:%s", email, c->token) < 0) return NULL;
  size_t n = sodium_base64_encoded_len(strlen(raw), sodium_base64_VARIANT_ORIGINAL);
  char *b64 = malloc(n);
  if (b64) {
    sodium_bin2base64(b64, n, (unsigned char *)raw, strlen(raw), sodium_base64_VARIANT_ORIGINAL);
    hdr = ac_header("Authorization", "Basic %s", b64);
  }
  sodium_memzero(raw, strlen(raw));
  free(raw);
  free(b64);
  return hdr;
}

static const char *api(ac_conn *c) { return ac_conn_opt(c, "api_version", "3"); }

static void fill_ticket(ac_conn *c, json_t *issue, ac_ticket *t) {
  const char *key = json_string_value(json_object_get(issue, "key"));
  const char *base = ac_conn_opt(c, "base_url", "");
  ac_copy(t->key, sizeof t->key, key);
  snprintf(t->url, sizeof t->url, "%s/browse/%s", base, key ? key : "");
  json_t *st = json_object_get(json_object_get(issue, "fields"), "status");
  const char *name = json_string_value(json_object_get(st, "name"));
  const char *cat = json_string_value(json_object_get(json_object_get(st, "statusCategory"), "key"));
  ac_copy(t->status_name, sizeof t->status_name, name);
  t->state = !st                                        ? AC_ST_OPEN
             : cat && strcmp(cat, "done") == 0          ? AC_ST_DONE
             : cat && strcmp(cat, "indeterminate") == 0 ? AC_ST_IN_PROGRESS
                                                        : AC_ST_OPEN;
}

/* v3 wants the description as an Atlassian Document Format document: a
 * paragraph per line, and each run of quote lines ("> " or ">", written by
 * ac_text_quote for citizen text) as one blockquote whose lines are joined by
 * hard breaks. ADF text nodes are never parsed (mentions and links are nodes
 * of their own), so the quoted text needs no escaping here. */
static json_t *adf(const char *text) {
  json_t *content = json_array(), *quote = NULL; /* the open blockquote's inline nodes */
  const char *p = text ? text : "";
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (p[0] == '>' && (n == 1 || p[1] == ' ')) {
      size_t skip = n > 1 ? 2 : 1;
      if (!quote) {
        json_t *q = json_array();
        if (json_array_append_new(content, json_pack("{s:s, s:[{s:s, s:O}]}", "type", "blockquote", "content", "type",
                                                     "paragraph", "content", q)) == 0)
          quote = q; /* held by the document */
        json_decref(q);
      } else {
        json_array_append_new(quote, json_pack("{s:s}", "type", "hardBreak"));
      }
      if (quote && n > skip) /* ADF text nodes must not be empty */
        json_array_append_new(quote, json_pack("{s:s, s:s%}", "type", "text", "text", p + skip, n - skip));
    } else {
      quote = NULL;
      if (n)
        json_array_append_new(
            content, json_pack("{s:s, s:[{s:s, s:s%}]}", "type", "paragraph", "content", "type", "text", "text", p, n));
    }
    p += n + (nl ? 1 : 0);
  }
  return json_pack("{s:s, s:i, s:o}", "type", "doc", "version", 1, "content", content);
}

static int jira_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  const char *project = ac_conn_opt(c, "project", NULL);
  char *auth = jira_auth(c), path[64];
  json_t *resp = NULL, *body = NULL;
  int rc = AC_ECONFIG;
  if (!project || !auth) {
    snprintf(err->msg, sizeof err->msg, "jira: project and token are required");
    goto cleanup;
  }
  int v3 = strcmp(api(c), "2") != 0;
  body = json_pack("{s:{s:{s:s}, s:s, s:{s:s}, s:[s], s:o}}", "fields", "project", "key", project, "summary", is->title,
                   "issuetype", "name", ac_conn_opt(c, "issue_type", "Task"), "labels", is->idem_key, "description",
                   v3 ? adf(is->body) : json_string(is->body ? is->body : ""));
  snprintf(path, sizeof path, "/rest/api/%s/issue", v3 ? "3" : "2");
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "POST", path, h, body, 0, &resp, err);
  if (rc == AC_OK) {
    /* 201 {"id","key","self"}: a new issue's status category is "new". */
    fill_ticket(c, resp, out);
    ac_copy(out->status_name, sizeof out->status_name, "created");
    out->state = AC_ST_OPEN;
    if (!out->key[0]) rc = AC_ETRANSIENT;
  }
cleanup:
  json_decref(body);
  json_decref(resp);
  free(auth);
  return rc;
}

static int jira_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth = jira_auth(c), *jql = NULL, *path = NULL, *enc = NULL;
  json_t *resp = NULL;
  int rc = AC_ECONFIG;
  const char *project = ac_conn_opt(c, "project", NULL);
  if (!auth || !project) goto cleanup;
  rc = AC_ETRANSIENT;
  if (asprintf(&jql, "project = \"%s\" AND labels = \"%s\"", project, key) < 0) jql = NULL;
  if (!jql || !(enc = ac_urlenc(jql))) goto cleanup;
  /* Cloud retired GET /rest/api/3/search for /rest/api/3/search/jql; Server
   * still has /rest/api/2/search. Both return {"issues":[…]}. */
  int v3 = strcmp(api(c), "2") != 0;
  if (asprintf(&path, "/rest/api/%s?jql=%s&fields=status&maxResults=1", v3 ? "3/search/jql" : "2/search", enc) < 0)
    path = NULL;
  if (!path) goto cleanup;
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    json_t *first = json_array_get(json_object_get(resp, "issues"), 0);
    if (first) fill_ticket(c, first, out);
    else rc = AC_NOTFOUND;
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(jql);
  free(enc);
  free(path);
  return rc;
}

static int jira_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth = jira_auth(c), *enc = ac_urlenc(ext);
  json_t *resp = NULL;
  int rc =
      auth && enc ? ac_get_json(c, auth, &resp, err, "/rest/api/%s/issue/%s?fields=status", api(c), enc) : AC_ECONFIG;
  if (rc == AC_OK) fill_ticket(c, resp, out);
  json_decref(resp);
  free(auth);
  free(enc);
  return rc;
}

const ac_connector_ops ac_jira_ops = {"jira", jira_create, jira_find, jira_status};
