#include "notify.h"

#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ac_conn.h"
#include "log.h"
#include "receipt.h"
#include "seal.h"
#include "util.h"

/* ---- statuses ---- */

const char *ac_notify_closure(const char *w) {
  /* first match wins: "duplicado" must not read as anything else */
  static const char *const MAP[][2] = {
      {"duplic", "duplicate"},        {"forward", "forwarded"},   {"derivad", "forwarded"}, {"transfer", "forwarded"},
      {"reject", "not_fixed"},        {"rechaz", "not_fixed"},    {"won't", "not_fixed"},   {"wont", "not_fixed"},
      {"not fixed", "not_fixed"},     {"no resuel", "not_fixed"}, {"invalid", "not_fixed"}, {"cannot", "not_fixed"},
      {"no corresponde", "not_fixed"}};
  for (size_t i = 0; w && i < sizeof MAP / sizeof MAP[0]; i++)
    if (strcasestr(w, MAP[i][0])) return MAP[i][1];
  return "resolved";
}

const char *ac_notify_status(int state, const char *status_name) {
  switch (state) {
    case AC_ST_OPEN: return "opened";
    case AC_ST_IN_PROGRESS: return "in_progress";
    case AC_ST_DONE: return ac_notify_closure(status_name);
    default: return NULL;
  }
}

int ac_notify_final(const char *s) {
  return strcmp(s, "resolved") == 0 || strcmp(s, "not_fixed") == 0 || strcmp(s, "forwarded") == 0 ||
         strcmp(s, "duplicate") == 0;
}

void ac_notify_key(const char *feedback_id, const char *status, char out[40]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const unsigned char *)feedback_id, strlen(feedback_id));
  crypto_hash_sha256_update(&st, (const unsigned char *)"/", 1);
  crypto_hash_sha256_update(&st, (const unsigned char *)status, strlen(status));
  crypto_hash_sha256_final(&st, h);
  memcpy(out, "esn-", 4);
  es_hex(h, 16, out + 4);
}

/* ---- messages: short sentences, no jargon ---- */

typedef struct words {
  const char *status; /* ac_notify_status value */
  const char *subject, *body;
} words;

/* %s in body: the tool's word (not_fixed: why; forwarded: to whom) */
static const words ES[] = {
    {"opened", "recibido y asignado", "Recibimos su reporte. Ya hay un equipo a cargo. Le avisaremos cuando avance."},
    {"in_progress", "en curso", "Estamos trabajando en el problema que nos contó."},
    {"resolved", "resuelto", "El problema que nos contó fue resuelto. Gracias por avisarnos."},
    {"not_fixed", "cerrado sin solución", "Revisamos su reporte, pero no pudimos solucionar el problema. Motivo: %s."},
    {"forwarded", "derivado", "Su reporte fue enviado a quien está a cargo del tema: %s."},
    {"duplicate", "unido a otro reporte",
     "Otra persona ya nos había contado el mismo problema. Seguimos su caso en ese reporte."},
};
static const words EN[] = {
    {"opened", "received and assigned",
     "We received your report. A team is now in charge. We will tell you when it moves."},
    {"in_progress", "in progress", "We are working on the problem you told us about."},
    {"resolved", "resolved", "The problem you told us about has been fixed. Thank you for letting us know."},
    {"not_fixed", "closed, not fixed", "We looked into your report, but we could not fix the problem. Reason: %s."},
    {"forwarded", "forwarded", "Your report was sent to the people in charge of this: %s."},
    {"duplicate", "joined to another report",
     "Someone had already told us about the same problem. We follow your case in that report."},
};

static const words *words_for(const ac_notice *n) {
  const words *w = n->lang && strncmp(n->lang, "en", 2) == 0 ? EN : ES;
  for (size_t i = 0; i < sizeof ES / sizeof ES[0]; i++)
    if (strcmp(w[i].status, n->status) == 0) return &w[i];
  return NULL;
}

static int is_en(const ac_notice *n) { return n->lang && strncmp(n->lang, "en", 2) == 0; }

char *ac_notify_subject(const ac_notice *n) {
  const words *w = words_for(n);
  es_buf b = {0};
  if (!w || es_buf_printf(&b, is_en(n) ? "%s: your report %s" : "%s: su reporte %s", n->agency_name, w->subject) != 0) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

char *ac_notify_text(const ac_notice *n) {
  const words *w = words_for(n);
  es_buf b = {0};
  int en = is_en(n), bad = !w;
  const char *note = n->note && *n->note ? n->note : (en ? "not given" : "no indicado");
  bad = bad || es_buf_puts(&b, en ? "Hello,\n\n" : "Hola:\n\n");
  bad = bad || es_buf_printf(&b, strstr(w->body, "%s") ? w->body : "%s", strstr(w->body, "%s") ? note : w->body);
  bad = bad || es_buf_printf(&b, en ? "\n\nYour reference: %s\n" : "\n\nSu número de referencia: %s\n", n->ref);
  if (n->optout_url)
    bad = bad || es_buf_printf(&b,
                               en ? "\nTo stop these messages, open this link: %s\n"
                                  : "\nSi no quiere recibir más mensajes, abra este enlace: %s\n",
                               n->optout_url);
  bad = bad || es_buf_printf(&b, "\n%s\n%s\n", n->signature && *n->signature ? n->signature : "", n->agency_name);
  if (bad) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* HTML: the text, escaped, one paragraph per block, the link clickable. */
char *ac_notify_html(const ac_notice *n) {
  char *t = ac_notify_text(n);
  es_buf b = {0};
  int bad = !t || es_buf_puts(&b, "<html><body><p>");
  for (const char *p = t; !bad && p && *p; p++) {
    if (p[0] == '\n' && p[1] == '\n') bad = es_buf_puts(&b, "</p><p>"), p++;
    else if (*p == '\n') bad = es_buf_puts(&b, "<br>");
    else if (*p == '<') bad = es_buf_puts(&b, "&lt;");
    else if (*p == '>') bad = es_buf_puts(&b, "&gt;");
    else if (*p == '&') bad = es_buf_puts(&b, "&amp;");
    else if (*p == '"') bad = es_buf_puts(&b, "&quot;");
    else bad = es_buf_append(&b, p, 1);
  }
  bad = bad || es_buf_puts(&b, "</p></body></html>");
  free(t);
  if (bad) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

static char *dump(json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return s;
}

char *ac_notify_whatsapp_json(const ac_notice *n, const char *to, const char *template_prefix, const char *idem) {
  char name[128];
  snprintf(name, sizeof name, "%s_%s", template_prefix, n->status);
  const char *note = n->note && *n->note ? n->note : "-";
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:{s:s}, s:[{s:s, s:[{s:s,s:s}, {s:s,s:s}, {s:s,s:s}]}]}, s:s}",
                        "messaging_product", "whatsapp", "recipient_type", "individual", "to", to, "type", "template",
                        "template", "name", name, "language", "code", is_en(n) ? "en" : "es", "components", "type",
                        "body", "parameters", "type", "text", "text", n->agency_name, "type", "text", "text", n->ref,
                        "type", "text", "text", note, "biz_opaque_callback_data", idem);
  /* The opt-out link is the template's dynamic URL button: a bare link in a
   * template body is not clickable on every client. */
  json_t *button = j && n->optout_tok
                       ? json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "type", "button", "sub_type", "url", "index", "0",
                                   "parameters", "type", "text", "text", n->optout_tok)
                       : NULL;
  if (j && n->optout_tok &&
      (!button || json_array_append_new(json_object_get(json_object_get(j, "template"), "components"), button))) {
    json_decref(j);
    return NULL;
  }
  return dump(j);
}

char *ac_notify_sms_json(const ac_notice *n, const char *to, const char *idem) {
  const words *w = words_for(n);
  if (!w) return NULL;
  const char *note = n->note && *n->note ? n->note : "-";
  int en = is_en(n), has_note = strstr(w->body, "%s") != NULL;
  es_buf b = {0};
  int bad = es_buf_printf(&b, "%s: ", n->agency_name);
  bad = bad || es_buf_printf(&b, has_note ? w->body : "%s", has_note ? note : w->body);
  bad = bad || es_buf_printf(&b, " Ref. %s", n->ref);
  if (n->optout_url) bad = bad || es_buf_printf(&b, en ? " Stop: %s" : " Para no recibir más: %s", n->optout_url);
  char *out = bad ? NULL : dump(json_pack("{s:s, s:s, s:s}", "to", to, "text", b.data, "idempotency_key", idem));
  es_buf_free(&b);
  return out;
}

/* ---- queue ---- */

/* A plan's reporters: the topic's items received from evidence_days before
 * the plan opened; only live, consenting contacts. Never an urgent case's
 * reporter: a status message on the person's phone could tell an abuser
 * they reported; staff reach them through the case (docs/privacy.md). */
static const char SQL_ENQUEUE[] =
    "INSERT INTO notifications (feedback_id, agency, plan_id, status, note, via, language)"
    " SELECT c.feedback_id, c.agency, p.id, $2, $3, c.via, f.language"
    " FROM action_plans p JOIN contacts c ON c.agency = p.agency JOIN feedback f ON f.id = c.feedback_id"
    " WHERE p.id = $1 AND c.opted_out_at IS NULL AND c.expires_at > now() AND c.final_notified_at IS NULL"
    "  AND p.kind = 'plan' AND f.received_at >= p.opened_at - make_interval(days => $4::int)"
    "  AND (f.category = p.topic OR f.subcategory = p.topic OR f.category || '/' || f.subcategory = p.topic)"
    " ON CONFLICT (feedback_id, status) DO NOTHING";

int ac_notify_enqueue(PGconn *pg, const char *plan_id, const char *status, const char *note, int evidence_days) {
  char days[16];
  snprintf(days, sizeof days, "%d", evidence_days);
  const char *p[] = {plan_id, status, note && *note ? note : NULL, days};
  PGresult *r = PQexecParams(pg, SQL_ENQUEUE, 4, NULL, p, NULL, NULL, 0);
  int n = PQresultStatus(r) == PGRES_COMMAND_OK ? atoi(PQcmdTuples(r)) : -1;
  if (n < 0) es_warn("notify_enqueue", "plan %s: %s", plan_id, PQresultErrorMessage(r));
  PQclear(r);
  return n;
}

static const char SQL_CLAIM[] =
    "UPDATE notifications n SET next_at = now() + make_interval(secs => $2::int), attempts = n.attempts + 1"
    " FROM (SELECT id FROM notifications WHERE state = 'pending' AND next_at <= now() ORDER BY next_at"
    "  LIMIT $1 FOR UPDATE SKIP LOCKED) d"
    " WHERE n.id = d.id RETURNING n.id, n.feedback_id, n.agency, n.status, n.via, coalesce(n.language, ''),"
    "  coalesce(n.note, ''), n.attempts,"
    "  (SELECT c.sealed FROM contacts c WHERE c.feedback_id = n.feedback_id AND c.opted_out_at IS NULL"
    "   AND c.expires_at > now())";

int ac_notify_claim(PGconn *pg, ac_notify_job *out, int max, long lease_s) {
  char smax[16], slease[16];
  snprintf(smax, sizeof smax, "%d", max);
  snprintf(slease, sizeof slease, "%ld", lease_s);
  const char *p[] = {smax, slease};
  /* binary results: the sealed bytes come back as they are */
  PGresult *r = PQexecParams(pg, SQL_CLAIM, 2, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    es_warn("notify_claim", "%s", PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    ac_notify_job *j = &out[i];
    memset(j, 0, sizeof *j);
    j->id = atoll(PQgetvalue(r, i, 0));
    snprintf(j->feedback_id, sizeof j->feedback_id, "%s", PQgetvalue(r, i, 1));
    snprintf(j->agency, sizeof j->agency, "%s", PQgetvalue(r, i, 2));
    snprintf(j->status, sizeof j->status, "%s", PQgetvalue(r, i, 3));
    snprintf(j->via, sizeof j->via, "%s", PQgetvalue(r, i, 4));
    snprintf(j->lang, sizeof j->lang, "%s", PQgetvalue(r, i, 5));
    snprintf(j->note, sizeof j->note, "%s", PQgetvalue(r, i, 6));
    j->attempts = atoi(PQgetvalue(r, i, 7));
    if (!PQgetisnull(r, i, 8)) {
      size_t len = 0;
      unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 8), &len);
      if (b && (j->sealed = malloc(len ? len : 1))) memcpy(j->sealed, b, len), j->sealed_len = len, j->usable = 1;
      PQfreemem(b);
    }
  }
  PQclear(r);
  return n;
}

void ac_notify_job_free(ac_notify_job *j, int n) {
  for (int i = 0; i < n; i++) free(j[i].sealed), j[i].sealed = NULL;
}

/* state sent/failed/skipped; a final status told also marks the contact for the purge */
static const char SQL_DONE[] =
    "WITH n AS (UPDATE notifications SET state = $2, sent_at = CASE WHEN $2 = 'sent' THEN now() END, error = $3"
    " WHERE id = $1 RETURNING feedback_id, status)"
    " UPDATE contacts c SET final_notified_at = now() FROM n WHERE $2 = 'sent' AND c.feedback_id = n.feedback_id"
    "  AND n.status IN ('resolved', 'not_fixed', 'forwarded', 'duplicate')";
static const char SQL_RETRY[] =
    "UPDATE notifications SET next_at = now() + make_interval(secs => $2::double precision), error = $3,"
    " attempts = attempts - $4::int WHERE id = $1";

static void job_done(PGconn *pg, long long id, const char *state, const char *error) {
  char sid[24];
  snprintf(sid, sizeof sid, "%lld", id);
  const char *p[] = {sid, state, error};
  PGresult *r = PQexecParams(pg, SQL_DONE, 3, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) es_warn("notify_done", "%lld: %s", id, PQresultErrorMessage(r));
  PQclear(r);
}

/* back to pending in delay_s; uncount: the attempt did not really happen (rate limit) */
static void job_retry(PGconn *pg, long long id, double delay_s, const char *error, int uncount) {
  char sid[24], sd[32], su[4];
  snprintf(sid, sizeof sid, "%lld", id);
  snprintf(sd, sizeof sd, "%.3f", delay_s);
  snprintf(su, sizeof su, "%d", uncount ? 1 : 0);
  const char *p[] = {sid, sd, error, su};
  PGresult *r = PQexecParams(pg, SQL_RETRY, 4, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) es_warn("notify_retry", "%lld: %s", id, PQresultErrorMessage(r));
  PQclear(r);
}

/* ---- the notifier ---- */

static struct {
  const char *secret_key_file, *receipt_secret_file, *public_api_url, *agency_name, *signature, *wa_url, *wa_phone_id,
      *wa_template, *sms_url;
  char *wa_token, *sms_secret;
  long rate_per_min, max_attempts;
  double interval_s, retry_base_s, retry_max_s;
} O;

es_opt ac_notify_opts[] = {
    ES_STR("contact-secret-key-file", NULL,
           "Secret key opening reporters' sealed contacts (escucha-ingest keygen); unset: nobody is told",
           &O.secret_key_file),
    ES_STR("receipt-secret-file", NULL, "Receipt secret: signs the opt-out links (the one ingest and api use)",
           &O.receipt_secret_file),
    ES_STR("public-api-url", "http://127.0.0.1:8081", "Where citizens reach escucha-api (opt-out links)",
           &O.public_api_url),
    ES_STR("notify-agency-name", NULL, "How messages to reporters are signed (default: the agency id)", &O.agency_name),
    ES_STR("notify-signature", NULL, "A closing line above the agency name", &O.signature),
    ES_LONG("notify-rate", "60", 1, 1000000, "Messages to reporters per agency and minute", &O.rate_per_min),
    ES_DOUBLE("notify-interval-s", "2", 0.05, 3600, "Seconds between sending passes", &O.interval_s),
    ES_LONG("notify-max-attempts", "12", 1, 1000, "Tries of one message before it is marked failed", &O.max_attempts),
    ES_DOUBLE("notify-retry-base-s", "10", 0, 86400, "First retry after a failed send (doubles)", &O.retry_base_s),
    ES_DOUBLE("notify-retry-max-s", "3600", 0, 604800, "Ceiling of the retry backoff", &O.retry_max_s),
    ES_STR("whatsapp-api-url", "https://graph.facebook.com/v19.0", "WhatsApp Cloud API base URL", &O.wa_url),
    ES_STR("whatsapp-phone-number-id", NULL, "The agency's WhatsApp Business phone number id (unset: no WhatsApp)",
           &O.wa_phone_id),
    ES_SECRET("whatsapp-token", "WhatsApp Cloud API access token (or a file holding it)", &O.wa_token),
    ES_STR("whatsapp-template", "escucha_status",
           "Approved template name prefix: <prefix>_<status> (opened, in_progress, resolved, ...)", &O.wa_template),
    ES_STR("sms-gateway-url", NULL, "SMS gateway endpoint (JSON POST, signed; unset: no SMS)", &O.sms_url),
    ES_SECRET("sms-gateway-secret", "HMAC secret signing SMS gateway requests (or a file holding it)", &O.sms_secret),
    ES_OPT_END};

#define MAX_AGENCIES 256
struct ac_notifier {
  int on;
  unsigned char sk[ES_SEAL_KEY_BYTES];
  unsigned char optout_key[ES_RECEIPT_KEY_BYTES];
  int has_optout;
  ac_conn *email; /* SMTP settings: ESCUCHA_EMAIL_* */
  ac_retry retry;
  ac_breaker breaker;
  struct {
    char agency[64];
    double tokens;
    int64_t at_ms;
  } bucket[MAX_AGENCIES];
  int nbucket;
  es_metric *m_sent, *m_queued;
};

ac_notifier *ac_notifier_new(const ac_retry *retry, char *err, size_t errlen) {
  ac_notifier *n = calloc(1, sizeof *n);
  if (!n) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  n->retry = *retry;
  n->retry.max_attempts = 1; /* the queue is the retry: a failed send is rescheduled */
  ac_breaker_init(&n->breaker, 5, 30000);
  n->m_sent = es_counter("escucha_actions_notifications_total", "Messages to reporters by channel and result", "via",
                         "result", NULL);
  n->m_queued =
      es_counter("escucha_actions_notifications_queued_total", "Messages to reporters queued", "status", NULL);
  if (!O.secret_key_file || !*O.secret_key_file) {
    es_warn("notify_off", "no --contact-secret-key-file: reporters are not told when their problem moves");
    return n;
  }
  if (es_seal_read_key(O.secret_key_file, n->sk, err, errlen) != 0) goto fail;
  if (O.receipt_secret_file && *O.receipt_secret_file) {
    unsigned char k[ES_RECEIPT_KEY_BYTES];
    if (es_receipt_key_load(O.receipt_secret_file, k, err, errlen) != 0) goto fail;
    es_receipt_subkey(k, "optout", n->optout_key);
    sodium_memzero(k, sizeof k);
    n->has_optout = 1;
  } else es_warn("notify_no_optout", "no --receipt-secret-file: messages go out without an opt-out link");
  n->email = ac_conn_new("email", NULL);
  n->on = 1;
  return n;
fail:
  ac_notifier_free(n);
  return NULL;
}

void ac_notifier_free(ac_notifier *n) {
  if (!n) return;
  if (n->email) ac_conn_free(n->email);
  ac_breaker_destroy(&n->breaker);
  sodium_memzero(n, sizeof *n);
  free(n);
}

double ac_notifier_interval(const ac_notifier *n) { return n && n->on ? O.interval_s : 3600; }

void ac_notifier_on_status(ac_notifier *n, PGconn *pg, const char *plan_id, int state, const char *status_name,
                           int evidence_days) {
  const char *st = ac_notify_status(state, status_name);
  if (!st) return;
  if (state == AC_ST_DONE) { /* the closure reason, for Open311 status_notes and the dashboard */
    const char *p[] = {plan_id, st, status_name && *status_name ? status_name : NULL};
    PGresult *r =
        PQexecParams(pg,
                     "UPDATE actions SET closure = $2, closure_note = $3 WHERE plan_id = $1 AND status = 'done'"
                     " AND (closure IS DISTINCT FROM $2 OR closure_note IS DISTINCT FROM $3)",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      es_warn("closure_not_recorded", "plan %s: %s", plan_id, PQresultErrorMessage(r));
    PQclear(r);
  }
  if (!n || !n->on) return;
  /* the tool's word explains a closure that is not a plain "resolved" */
  const char *note = strcmp(st, "not_fixed") == 0 || strcmp(st, "forwarded") == 0 ? status_name : NULL;
  int k = ac_notify_enqueue(pg, plan_id, st, note, evidence_days);
  if (k > 0) {
    es_metric_add(n->m_queued, (double)k, st);
    es_info("notify_queued", "plan %s: %d reporters to tell \"%s\"", plan_id, k, st);
  }
}

/* Token bucket per agency: 1 when a message may go now. */
static int take_token(ac_notifier *n, const char *agency) {
  int64_t now = es_mono_ms();
  int i = 0;
  while (i < n->nbucket && strcmp(n->bucket[i].agency, agency) != 0) i++;
  if (i == n->nbucket) {
    if (n->nbucket == MAX_AGENCIES) i = 0; /* overflow: agencies share the first bucket */
    else {
      n->nbucket++;
      snprintf(n->bucket[i].agency, sizeof n->bucket[i].agency, "%s", agency);
      n->bucket[i].tokens = (double)O.rate_per_min, n->bucket[i].at_ms = now;
    }
  }
  double cap = (double)O.rate_per_min;
  n->bucket[i].tokens += (double)(now - n->bucket[i].at_ms) * cap / 60000.0;
  if (n->bucket[i].tokens > cap) n->bucket[i].tokens = cap;
  n->bucket[i].at_ms = now;
  if (n->bucket[i].tokens < 1.0) return 0;
  n->bucket[i].tokens -= 1.0;
  return 1;
}

enum { SEND_OK = 0, SEND_TRANSIENT = -1, SEND_PERMANENT = -2 };

static int send_http(ac_notifier *n, const char *url, const char *const *headers, const char *body, char *err,
                     size_t errlen) {
  ac_http_req req = {"POST", url, headers, body, strlen(body), 1};
  ac_http_resp resp = {0};
  int rc = ac_http_do(&n->retry, &n->breaker, &req, &resp, err, errlen);
  if (rc == AC_HTTP_OK) {
    if (resp.status >= 200 && resp.status < 300) rc = SEND_OK;
    else {
      snprintf(err, errlen, "HTTP %ld", resp.status);
      rc = ac_http_permanent(resp.status) ? SEND_PERMANENT : SEND_TRANSIENT;
    }
  } else rc = SEND_TRANSIENT;
  ac_http_resp_free(&resp);
  return rc;
}

static int send_one(ac_notifier *n, const ac_notify_job *j, json_t *contact, const ac_notice *nt, char *err,
                    size_t errlen) {
  char idem[40];
  ac_notify_key(j->feedback_id, j->status, idem);
  int rc = SEND_PERMANENT;
  char *a = NULL, *b = NULL, *c = NULL;
  if (strcmp(j->via, "email") == 0) {
    const char *to1 = json_string_value(json_object_get(contact, "email"));
    const char *smtp_url = n->email ? ac_conn_opt(n->email, "smtp_url", NULL) : NULL;
    if (!to1 || !smtp_url) {
      snprintf(err, errlen, to1 ? "e-mail not configured (ESCUCHA_EMAIL_SMTP_URL)" : "contact has no e-mail");
      return to1 ? SEND_TRANSIENT : SEND_PERMANENT;
    }
    const char *to[] = {to1, NULL};
    ac_smtp s = {smtp_url,
                 ac_conn_opt(n->email, "user", NULL),
                 n->email->token,
                 ac_conn_opt(n->email, "from", "escucha@localhost"),
                 strcmp(ac_conn_opt(n->email, "tls_verify", "true"), "false") != 0,
                 n->retry.timeout_ms};
    es_buf msg = {0};
    char msgid[96];
    snprintf(msgid, sizeof msgid, "%s@escucha", idem); /* the same on a resend: a receiver can tell */
    a = ac_notify_subject(nt), b = ac_notify_text(nt), c = ac_notify_html(nt);
    if (a && b && c && ac_mime_build(&msg, s.from, to, a, msgid, b, c) == 0) {
      ac_smtp_rc r = ac_smtp_send(&s, to, msg.data, msg.len, err, errlen);
      rc = r == AC_SMTP_OK ? SEND_OK : r == AC_SMTP_PERMANENT ? SEND_PERMANENT : SEND_TRANSIENT;
    } else snprintf(err, errlen, "out of memory"), rc = SEND_TRANSIENT;
    sodium_memzero(msg.data, msg.len);
    es_buf_free(&msg);
  } else if (strcmp(j->via, "whatsapp") == 0) {
    const char *phone = json_string_value(json_object_get(contact, "phone"));
    if (!phone || !O.wa_phone_id || !O.wa_token) {
      snprintf(
          err, errlen,
          phone ? "WhatsApp not configured (--whatsapp-phone-number-id, --whatsapp-token)" : "contact has no phone");
      return phone ? SEND_TRANSIENT : SEND_PERMANENT;
    }
    char to[24], url[512], auth[600];
    snprintf(to, sizeof to, "%s", phone[0] == '+' ? phone + 1 : phone); /* the Cloud API takes digits */
    snprintf(url, sizeof url, "%s/%s/messages", O.wa_url, O.wa_phone_id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", O.wa_token);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    if ((a = ac_notify_whatsapp_json(nt, to, O.wa_template, idem))) rc = send_http(n, url, h, a, err, errlen);
    sodium_memzero(auth, sizeof auth);
  } else {
    const char *phone = json_string_value(json_object_get(contact, "phone"));
    if (!phone || !O.sms_url || !O.sms_secret) {
      snprintf(err, errlen,
               phone ? "SMS not configured (--sms-gateway-url, --sms-gateway-secret)" : "contact has no phone");
      return phone ? SEND_TRANSIENT : SEND_PERMANENT;
    }
    char sig[72], sigh[100], idh[80];
    if ((a = ac_notify_sms_json(nt, phone, idem)) && ac_webhook_sign(O.sms_secret, a, strlen(a), sig) == 0) {
      snprintf(sigh, sizeof sigh, "X-Escucha-Signature: %s", sig);
      snprintf(idh, sizeof idh, "Idempotency-Key: %s", idem);
      const char *h[] = {"Content-Type: application/json", sigh, idh, NULL};
      rc = send_http(n, O.sms_url, h, a, err, errlen);
    }
  }
  if (a) sodium_memzero(a, strlen(a));
  if (b) sodium_memzero(b, strlen(b));
  if (c) sodium_memzero(c, strlen(c));
  free(a), free(b), free(c);
  return rc;
}

int ac_notifier_pass(ac_notifier *n, PGconn *pg) {
  if (!n || !n->on) return 0;
  ac_notify_job jobs[32];
  int sent = 0;
  uint64_t deadline = es_mono_ns() + 10ULL * 1000000000ULL;
  int k = ac_notify_claim(pg, jobs, 32, 120);
  for (int i = 0; i < k; i++) {
    ac_notify_job *j = &jobs[i];
    char err[300] = "";
    if (!j->usable) { /* opted out or expired since queued: nothing goes out */
      job_done(pg, j->id, "skipped", "contact opted out or expired");
      es_metric_add(n->m_sent, 1, j->via, "skipped");
      continue;
    }
    if (es_mono_ns() > deadline || !take_token(n, j->agency)) { /* the next pass */
      job_retry(pg, j->id, 1.0, NULL, 1);
      continue;
    }
    size_t len = 0;
    uint8_t *clear = es_seal_open(n->sk, j->sealed, j->sealed_len, &len);
    json_t *contact = clear ? json_loadb((const char *)clear, len, 0, NULL) : NULL;
    if (clear) sodium_memzero(clear, len), free(clear);
    if (!contact) {
      job_done(pg, j->id, "failed", "sealed contact does not open with this key");
      es_metric_add(n->m_sent, 1, j->via, "failed");
      continue;
    }
    char optout[ES_RECEIPT_TOKEN_MAX + 300] = "", tok[ES_RECEIPT_TOKEN_MAX];
    if (n->has_optout && es_receipt_token(n->optout_key, j->feedback_id, tok, sizeof tok) == 0)
      snprintf(optout, sizeof optout, "%s/v1/optout/%s", O.public_api_url, tok);
    ac_notice nt = {j->status,
                    j->note[0] ? j->note : NULL,
                    j->lang,
                    O.agency_name ? O.agency_name : j->agency,
                    O.signature,
                    j->feedback_id,
                    optout[0] ? optout : NULL,
                    optout[0] ? tok : NULL};
    int rc = send_one(n, j, contact, &nt, err, sizeof err);
    json_t *v;
    const char *key;
    json_object_foreach(contact, key, v) if (json_is_string(v))
        sodium_memzero((void *)json_string_value(v), strlen(json_string_value(v)));
    json_decref(contact);
    if (rc == SEND_OK) {
      job_done(pg, j->id, "sent", NULL);
      es_metric_add(n->m_sent, 1, j->via, "sent");
      es_info("notify_sent", "%s %s for %s (attempt %d)", j->via, j->status, j->feedback_id, j->attempts);
      sent++;
    } else if (rc == SEND_PERMANENT || j->attempts >= O.max_attempts) {
      job_done(pg, j->id, "failed", err);
      es_metric_add(n->m_sent, 1, j->via, "failed");
      es_warn("notify_failed", "%s %s for %s: %s", j->via, j->status, j->feedback_id, err);
    } else {
      double d = O.retry_base_s;
      for (int a = 1; a < j->attempts && d < O.retry_max_s; a++) d *= 2;
      if (d > O.retry_max_s) d = O.retry_max_s;
      job_retry(pg, j->id, d, err, 0);
      es_metric_add(n->m_sent, 1, j->via, "retry");
      es_warn("notify_retry", "%s %s for %s: %s; again in %.0f s", j->via, j->status, j->feedback_id, err, d);
    }
  }
  if (k > 0) ac_notify_job_free(jobs, k);
  return sent;
}
