/* E-mail "connector": sends the plan to a team mailbox. The Message-ID is
 * derived from the key so a resend is recognisable; there is no state to poll
 * (tickets stay open until closed in the database by a person). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "ac_smtp.h"

static int em_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  const char *to1 = ac_conn_opt(c, "to", NULL);
  ac_smtp s = {ac_conn_opt(c, "smtp_url", NULL),
               ac_conn_opt(c, "user", NULL),
               c->token,
               ac_conn_opt(c, "from", "escucha@localhost"),
               strcmp(ac_conn_opt(c, "tls_verify", "true"), "false") != 0,
               c->retry.timeout_ms};
  if (!to1 || !s.url) {
    snprintf(err->msg, sizeof err->msg, "email: to and smtp_url are required");
    return AC_ECONFIG;
  }
  char msgid[200];
  snprintf(msgid, sizeof msgid, "%s@escucha", is->idem_key);
  const char *to[] = {to1, NULL};
  es_buf m = {0};
  int rc = AC_ETRANSIENT;
  if (ac_mime_build(&m, s.from, to, is->title, msgid, is->body, is->body_html) != 0) goto cleanup;
  if (!ac_breaker_allow(&c->breaker)) {
    rc = AC_EBREAKER;
    goto cleanup;
  }
  ac_smtp_rc sr = ac_smtp_send(&s, to, m.data, m.len, err->msg, sizeof err->msg);
  ac_breaker_record(&c->breaker, sr != -1);
  if (sr == AC_SMTP_OK) {
    ac_copy(out->key, sizeof out->key, msgid);
    snprintf(out->url, sizeof out->url, "mailto:%s", to1);
    ac_copy(out->status_name, sizeof out->status_name, "sent");
    out->state = AC_ST_OPEN;
    rc = AC_OK;
  } else rc = sr == AC_SMTP_PERMANENT ? AC_EPERM : AC_ETRANSIENT;
cleanup:
  es_buf_free(&m);
  return rc;
}

static int em_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  (void)c, (void)key, (void)out, (void)err;
  return AC_NOTFOUND;
}

static int em_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  (void)c, (void)err;
  ac_copy(out->key, sizeof out->key, ext);
  ac_copy(out->status_name, sizeof out->status_name, "sent");
  out->state = AC_ST_OPEN;
  return AC_OK;
}

const ac_connector_ops ac_email_ops = {"email", em_create, em_find, em_status};
