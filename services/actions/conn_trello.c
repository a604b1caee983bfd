/* Trello cards (REST 1). Auth with the documented OAuth header
 * (oauth_consumer_key = API key, oauth_token = token) so neither ends up in
 * URLs or access logs. Key = marker line in the card description, found by
 * listing the board's cards (all, including archived). State: archived or in
 * the `done_list` -> done; in `doing_list` -> in progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"

static char *auth_of(ac_conn *c, ac_error *err) {
  const char *key = ac_conn_opt(c, "api_key", NULL);
  if (!key || !c->token || !ac_conn_opt(c, "list", NULL)) {
    snprintf(err->msg, sizeof err->msg, "trello: api_key, token and list are required");
    return NULL;
  }
  return ac_header("Authorization", "OAuth oauth_consumer_key=\"%s\", oauth_token=\"%s\"", key, c->token);
}

static void fill(ac_conn *c, json_t *card, ac_ticket *o) {
  const char *list = json_string_value(json_object_get(card, "idList"));
  const char *done = ac_conn_opt(c, "done_list", NULL), *doing = ac_conn_opt(c, "doing_list", NULL);
  int closed = json_is_true(json_object_get(card, "closed"));
  ac_copy(o->key, sizeof o->key, json_string_value(json_object_get(card, "id")));
  ac_copy(o->url, sizeof o->url, json_string_value(json_object_get(card, "shortUrl")));
  if (!o->url[0]) ac_copy(o->url, sizeof o->url, json_string_value(json_object_get(card, "url")));
  o->state = closed || (list && done && strcmp(list, done) == 0) ? AC_ST_DONE
             : list && doing && strcmp(list, doing) == 0         ? AC_ST_IN_PROGRESS
                                                                 : AC_ST_OPEN;
  ac_copy(o->status_name, sizeof o->status_name, closed ? "archived" : list);
}

static int tr_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err);
  if (!auth) return AC_ECONFIG;
  json_t *resp = NULL;
  json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "idList", ac_conn_opt(c, "list", ""), "name", is->title, "desc",
                           is->body ? is->body : "", "pos", "bottom");
  const char *h[] = {auth, NULL};
  int rc = ac_json_call(c, "POST", "/cards", h, body, 0, &resp, err);
  if (rc == AC_OK) {
    fill(c, resp, out);
    if (!out->key[0]) rc = AC_ETRANSIENT;
  }
  json_decref(body);
  json_decref(resp);
  free(auth);
  return rc;
}

static int tr_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *board = NULL, *path = NULL;
  int rc = AC_ECONFIG;
  json_t *resp = NULL;
  if (!auth) goto cleanup;
  const char *b = ac_conn_opt(c, "board", NULL);
  if (!b) {
    snprintf(err->msg, sizeof err->msg, "trello: board is required to search for the key");
    goto cleanup;
  }
  rc = AC_ETRANSIENT;
  if (!(board = ac_urlenc(b)) ||
      asprintf(&path, "/boards/%s/cards/all?fields=id,name,desc,closed,idList,url,shortUrl", board) < 0) {
    path = NULL;
    goto cleanup;
  }
  const char *h[] = {auth, NULL};
  rc = ac_json_call(c, "GET", path, h, NULL, 0, &resp, err);
  if (rc == AC_OK) {
    size_t i;
    json_t *card;
    rc = AC_NOTFOUND;
    json_array_foreach(resp, i, card) {
      if (ac_has_marker(json_string_value(json_object_get(card, "desc")), key)) {
        fill(c, card, out);
        rc = AC_OK;
        break;
      }
    }
  }
cleanup:
  json_decref(resp);
  free(auth);
  free(board);
  free(path);
  return rc;
}

static int tr_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  char *auth = auth_of(c, err), *id = ac_urlenc(ext);
  json_t *resp = NULL;
  int rc = auth && id ? ac_get_json(c, auth, &resp, err, "/cards/%s?fields=id,name,closed,idList,url,shortUrl", id)
                      : AC_ECONFIG;
  if (rc == AC_OK) fill(c, resp, out);
  json_decref(resp);
  free(auth);
  free(id);
  return rc;
}

const ac_connector_ops ac_trello_ops = {"trello", tr_create, tr_find, tr_status};
