/* monday.com (GraphQL API v2, token in Authorization, API-Version header).
 * The key is written into a text column (`key_column`) and found with
 * items_page_by_column_values; state comes from the status column's label.
 * GraphQL errors may arrive with HTTP 200, so the body is always checked. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static int gql(ac_conn *c, const char *query, json_t *vars, json_t **data, ac_error *err) {
  char *auth = c->token ? ac_header("Authorization", "%s", c->token) : NULL;
  char *ver = ac_header("API-Version", "%s", ac_conn_opt(c, "api_version", "2024-10"));
  json_t *resp = NULL, *body = json_pack("{s:s, s:O}", "query", query, "variables", vars);
  int rc = AC_ECONFIG;
  *data = NULL;
  if (!auth || !ver || !ac_conn_opt(c, "board", NULL)) {
    snprintf(err->msg, sizeof err->msg, "monday: board and token are required");
    goto cleanup;
  }
  const char *h[] = {auth, ver, NULL};
  int idem = strncmp(query, "mutation", 8) != 0; /* queries are safe to repeat */
  rc = ac_json_call_ex(c, "POST", "", h, body, 0, idem, &resp, err);
  if (rc != AC_OK) goto cleanup;
  json_t *errs = json_object_get(resp, "errors");
  const char *emsg = json_string_value(json_object_get(resp, "error_message"));
  if (json_array_size(errs) || emsg) {
    char *dump = json_dumps(resp, JSON_COMPACT);
    ac_vendor_message(dump, dump ? strlen(dump) : 0, err->msg, sizeof err->msg);
    free(dump);
    /* Budget/rate errors are temporary; anything else (bad board, column) is not. */
    const char *code =
        json_string_value(json_object_get(json_object_get(json_array_get(errs, 0), "extensions"), "code"));
    const char *ecode = json_string_value(json_object_get(resp, "error_code"));
    int temp = (code && (strstr(code, "RATE_LIMIT") || strstr(code, "Complexity") || strstr(code, "COMPLEXITY"))) ||
               (ecode && strstr(ecode, "Complexity"));
    rc = temp ? AC_ETRANSIENT : AC_EPERM;
    goto cleanup;
  }
  *data = json_incref(json_object_get(resp, "data"));
  if (!*data) rc = AC_ETRANSIENT;
cleanup:
  json_decref(resp);
  json_decref(body);
  free(auth);
  free(ver);
  return rc;
}

static int label_state(const char *label) {
  char l[96];
  size_t i = 0;
  for (; label && label[i] && i + 1 < sizeof l; i++) l[i] = (char)tolower((unsigned char)label[i]);
  l[i] = 0;
  if (strstr(l, "done") || strstr(l, "listo") || strstr(l, "hecho") || strstr(l, "complet") || strstr(l, "closed") ||
      strstr(l, "cerrad"))
    return AC_ST_DONE;
  if (strstr(l, "working") || strstr(l, "progress") || strstr(l, "curso") || strstr(l, "stuck"))
    return AC_ST_IN_PROGRESS;
  return AC_ST_OPEN;
}

static void fill(json_t *item, ac_ticket *o) {
  ac_copy(o->key, sizeof o->key, json_string_value(json_object_get(item, "id")));
  ac_copy(o->url, sizeof o->url, json_string_value(json_object_get(item, "url")));
  const char *label =
      json_string_value(json_object_get(json_array_get(json_object_get(item, "column_values"), 0), "text"));
  ac_copy(o->status_name, sizeof o->status_name, label);
  o->state = label_state(label);
}

static int mo_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  json_t *data = NULL, *d2 = NULL;
  json_t *cols = json_pack("{s:s}", ac_conn_opt(c, "key_column", "text"), is->idem_key);
  char *cols_s = json_dumps(cols, JSON_COMPACT); /* column_values is a JSON-encoded string */
  json_t *vars = json_pack("{s:s, s:s, s:s}", "board", ac_conn_opt(c, "board", ""), "name", is->title, "cols",
                           cols_s ? cols_s : "{}");
  int rc = gql(c,
               "mutation ($board: ID!, $name: String!, $cols: JSON) { create_item (board_id: "
               "$board, item_name: $name, column_values: $cols) { id url } }",
               vars, &data, err);
  if (rc == AC_OK) {
    fill(json_object_get(data, "create_item"), out);
    ac_copy(out->status_name, sizeof out->status_name, "created");
    out->state = AC_ST_OPEN;
    if (!out->key[0]) rc = AC_ETRANSIENT;
  }
  if (rc == AC_OK && is->body) {
    /* The plan goes into an update on the item; best effort (the item and its
     * key column already exist, which is what idempotency relies on). */
    json_t *v2 = json_pack("{s:s, s:s}", "item", out->key, "body", is->body);
    ac_error e2 = {0};
    if (gql(c, "mutation ($item: ID!, $body: String!) { create_update (item_id: $item, body: $body) { id } }", v2, &d2,
            &e2) != AC_OK)
      ac_copy(err->msg, sizeof err->msg, e2.msg);
    json_decref(v2);
  }
  json_decref(d2);
  json_decref(data);
  json_decref(vars);
  json_decref(cols);
  free(cols_s);
  return rc;
}

static int mo_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  json_t *data = NULL;
  json_t *vars =
      json_pack("{s:s, s:s, s:s, s:[s]}", "board", ac_conn_opt(c, "board", ""), "col",
                ac_conn_opt(c, "key_column", "text"), "key", key, "st", ac_conn_opt(c, "status_column", "status"));
  int rc = gql(c,
               "query ($board: ID!, $col: String!, $key: String!, $st: [String!]) { "
               "items_page_by_column_values (limit: 1, board_id: $board, columns: [{column_id: "
               "$col, column_values: [$key]}]) { items { id url column_values (ids: $st) { id text } } } }",
               vars, &data, err);
  if (rc == AC_OK) {
    json_t *item = json_array_get(json_object_get(json_object_get(data, "items_page_by_column_values"), "items"), 0);
    if (item) fill(item, out);
    else rc = AC_NOTFOUND;
  }
  json_decref(data);
  json_decref(vars);
  return rc;
}

static int mo_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  json_t *data = NULL;
  json_t *vars = json_pack("{s:[s], s:[s]}", "ids", ext, "st", ac_conn_opt(c, "status_column", "status"));
  int rc = gql(c,
               "query ($ids: [ID!], $st: [String!]) { items (ids: $ids) { id url state "
               "column_values (ids: $st) { id text } } }",
               vars, &data, err);
  if (rc == AC_OK) {
    json_t *item = json_array_get(json_object_get(data, "items"), 0);
    if (!item) rc = AC_NOTFOUND;
    else {
      fill(item, out);
      const char *state = json_string_value(json_object_get(item, "state"));
      if (state && strcmp(state, "active") != 0) out->state = AC_ST_DONE; /* archived/deleted */
    }
  }
  json_decref(data);
  json_decref(vars);
  return rc;
}

const ac_connector_ops ac_monday_ops = {"monday", mo_create, mo_find, mo_status};
