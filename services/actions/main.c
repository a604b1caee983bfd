/* escucha-actions: consumes ActionRequest, writes the plan, opens one ticket
 * per plan (idempotent), follows it and publishes ActionStatus.
 * One thread: Kafka poll, then a status pass over open tickets when due, and
 * the retry of pending plans. The offset is stored once the plan (with its
 * request) is recorded: with its ticket, or pending after a transient
 * failure — the retry pass then opens the ticket through the same idempotent
 * flow. Only a permanent failure (the vendor said no) goes to the DLQ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "admin.h"
#include "audit.h"
#include "iso.h"
#include "record.h"
#include "case.h"
#include "config.h"
#include "digest_db.h"
#include "escucha/v1/escucha.pb-c.h"
#include "kafka.h"
#include "llm.h"
#include "log.h"
#include "process.h"
#include "metrics.h"
#include "notify.h"
#include "pg.h"
#include "plan.h"
#include "rds.h"
#include "retry.h"
#include "store.h"
#include "taxonomy.h"
#include "ticket.h"
#include "util.h"

/* The options, typed and bound to their fields (lib/config.h). */
static struct {
  es_common_cfg common;
  const char *taxonomy, *llm_url, *llm_model, *digest_to, *digest_agencies, *dashboard_url;
  char *llm_token, *oncall_webhook_secret;
  const char *const *digest_to_env; /* ESCUCHA_DIGEST_TO_<AGENCY>=... */
  long admin_port, evidence_days, lock_ttl_ms, http_timeout_ms, retry_max, retry_base_ms, retry_max_ms,
      breaker_threshold, breaker_cooldown_ms, llm_timeout_ms, digest_hour, digest_top, baseline_days, stale_after;
  double poll_interval_s, ticket_retry_base_s, ticket_retry_max_s, ticket_retry_grace_s, digest_check_s;
  int default_tool, lang, digest_period, crash_at; /* indices into the lists below (-1: unset) */
} C;

static const char *const TOOLS[] = {"jira",   "github", "gitlab",  "redmine", "asana", "clickup",
                                    "monday", "trello", "webhook", "email",   NULL};
static const char *const LANGS[] = {"es", "en", NULL};
static const char *const PERIODS[] = {"off", "daily", "weekly", NULL};
static const char *const CRASH_POINTS[] = {"after_lock", "after_search", "after_create", "after_record", NULL};

static es_opt OPTS[] = {
    ES_COMMON_OPTS(C.common),
    ES_LONG("admin-port", "9104", 0, ES_PORT_MAX, "Admin port (/metrics, /healthz, /readyz)", &C.admin_port),
    ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy file (routing + playbook; empty: none)", &C.taxonomy),
    ES_ENUM("default-tool", "email", TOOLS, "Connector when the taxonomy has no routing", &C.default_tool),
    ES_ENUM("lang", "es", LANGS, "Ticket language", &C.lang),
    ES_LONG("evidence-days", "14", 1, 3650, "Days of feedback used as evidence", &C.evidence_days),
    ES_LONG("baseline-days", "28", 1, 3650, "Days before the evidence window the plan compares against",
            &C.baseline_days),
    ES_STR("dashboard-url", "http://127.0.0.1:8081/", "Dashboard base URL for item links in plans (empty: no links)",
           &C.dashboard_url),
    ES_DOUBLE("poll-interval-s", "300", 0, 604800, "Seconds between ticket status passes (fractions allowed)",
              &C.poll_interval_s),
    ES_LONG("lock-ttl-ms", "60000", 1, 86400000, "Redis creation lock TTL", &C.lock_ttl_ms),
    ES_LONG("http-timeout-ms", "15000", 0, 3600000, "Per-request timeout for tool APIs", &C.http_timeout_ms),
    ES_LONG("retry-max", "5", 1, 100, "Attempts per tool request", &C.retry_max),
    ES_LONG("retry-base-ms", "500", 0, 3600000, "First retry backoff (doubles, jittered)", &C.retry_base_ms),
    ES_LONG("retry-max-ms", "30000", 0, 86400000, "Backoff ceiling", &C.retry_max_ms),
    ES_LONG("breaker-threshold", "5", 0, 1000000, "Consecutive failures that open a connector's circuit",
            &C.breaker_threshold),
    ES_LONG("breaker-cooldown-ms", "30000", 0, 86400000, "Open-circuit duration", &C.breaker_cooldown_ms),
    ES_DOUBLE("ticket-retry-base-s", "10", 0, 604800,
              "Pending plan (transient ticket failure): first retry after this many seconds "
              "(doubles, jittered; fractions allowed)",
              &C.ticket_retry_base_s),
    ES_DOUBLE("ticket-retry-max-s", "900", 0, 604800, "Ceiling of the pending-plan retry backoff",
              &C.ticket_retry_max_s),
    ES_DOUBLE("ticket-retry-grace-s", "60", 0, 604800,
              "A pending plan this process has not tried itself (found by the status pass, "
              "e.g. after a restart) is retried once its request is this old",
              &C.ticket_retry_grace_s),
    ES_STR("llm-url", NULL, "Optional OpenAI-compatible chat-completions URL for the summary rewrite", &C.llm_url),
    ES_SECRET("llm-token", "Bearer token of the chat-completions endpoint", &C.llm_token),
    ES_STR("llm-model", "gpt-4o-mini", "Model name sent to the chat-completions endpoint", &C.llm_model),
    ES_LONG("llm-timeout-ms", "20000", 0, 600000,
            "Timeout of the summary rewrite; on timeout the extractive plan is kept", &C.llm_timeout_ms),
    ES_ENUM("digest-period", "off", PERIODS, "E-mail digest per agency (last complete UTC day / ISO week)",
            &C.digest_period),
    ES_LONG("digest-hour", "7", 0, 23, "UTC hour from which the digest of the period just ended is due",
            &C.digest_hour),
    ES_STR("digest-to", NULL, "Digest recipients, comma-separated (default ESCUCHA_EMAIL_TO)", &C.digest_to),
    ES_ENVMAP("digest-to-<AGENCY>", "Digest recipients of one agency (upper case, other characters as _)",
              &C.digest_to_env),
    ES_STR("digest-agencies", NULL,
           "Comma-separated agencies (default: those with priorities in the period "
           "or an open action plan)",
           &C.digest_agencies),
    ES_LONG("digest-top", "10", 1, 1000, "Priorities listed in a digest", &C.digest_top),
    ES_LONG("stale-after", "14", 0, 3650,
            "Days without ticket movement after which a digest flags an open plan as stale (0 = never)",
            &C.stale_after),
    ES_DOUBLE("digest-check-s", "60", 0, 86400, "Seconds between checks whether a digest is due", &C.digest_check_s),
    ES_STR("dashboard-url", "http://127.0.0.1:8081/",
           "Operator dashboard base URL (case tickets link <url>#/feedback/<id>)", &C.dashboard_url),
    ES_SECRET("oncall-webhook-secret",
              "HMAC key of the on-call webhook of urgent cases (urgent_routing.oncall_webhook)",
              &C.oncall_webhook_secret),
    ES_ENUM("crash-at", NULL, CRASH_POINTS, "Test only: SIGKILL at that point of the ticket flow", &C.crash_at),
    /* connector settings, per tool (services/actions/ac_conn.c) */
    ES_INCLUDE(ac_conn_opts),
    /* telling reporters (services/actions/notify.c) */
    ES_INCLUDE(ac_notify_opts), ES_OPT_END};

/* Connector settings are per tool: ESCUCHA_<TOOL>_<SETTING>; a taxonomy
 * routing object overrides them per category. */
static const char USAGE[] =
    "Opens and follows tickets for action requests.\n\n"
    "Connector settings: the <tool>-* options below (ESCUCHA_<TOOL>_<NAME>); a taxonomy routing object\n"
    "overrides them per category with the same names in lower case (base_url, project, ...).\n\n"
    "E-mail digest (uses the email settings; sent once per agency and period, recorded in audit_log):\n"
    "  escucha-actions [options] --digest-period daily|weekly --digest-hour H\n"
    "  escucha-actions digest --agency A --period daily|weekly [--date YYYY-MM-DD] [--dry-run] [--force]\n"
    "    sends (or, with --dry-run, prints the text part of) the digest of the last complete period,\n"
    "    or of the period containing --date; --force sends again a digest already sent\n\n"
    "Audit trail: escucha-actions audit-verify [options] checks audit_log's hash chain (exit 1: broken)\n"
    "ISO 9001 evidence: escucha-actions iso-report --agency A --from YYYY-MM-DD --to YYYY-MM-DD [--out DIR]\n"
    "Earlier actions: escucha-actions record-plan --agency A --topic T --opened D --closed D --note TEXT";

static es_metric *m_in, *m_tickets, *m_fail, *m_tta, *m_ttr, *m_digest, *m_retry, *m_pending, *m_cases, *m_case_tta,
    *m_oncall;

typedef struct svc {
  ac_db db;
  ac_store store;
  es_taxonomy *taxonomy; /* owned; NULL: default routing and generic playbook */
  json_t *tax;           /* borrowed from taxonomy: its validated document */
  rd_kafka_t *prod;
  ac_conn *conns[16];
  int nconns;
  ac_llm llm; /* url NULL: no rewrite */
  char *llm_token;
  long long poll_after; /* status pass cursor (actions.id) */
  ac_sched sched;       /* backoff of pending plans (transient ticket failures) */
  char retry_after[64]; /* pending scan cursor (action_plans.id) */
  int64_t retry_cycle;  /* ms when the pending scan last started from the first plan */
  ac_conn *email;       /* digest SMTP settings (ESCUCHA_EMAIL_*); NULL: digest off */
  ac_conn *oncall[8];   /* on-call connectors of urgent cases, one per target (owned) */
  int noncall;
  rd_kafka_t *cons;      /* borrowed: the request consumer (served between slow steps) */
  int serving;           /* serve_waiting is running: no nesting */
  ac_notifier *notifier; /* tells reporters when a ticket moves */
} svc;

/* The retry policy and breaker of the options, for every connector made here. */
static void conn_tune(ac_conn *c) {
  c->retry.timeout_ms = C.http_timeout_ms;
  c->retry.max_attempts = (int)C.retry_max;
  c->retry.base_ms = C.retry_base_ms;
  c->retry.max_ms = C.retry_max_ms;
  c->breaker.threshold = (int)C.breaker_threshold;
  c->breaker.cooldown_ms = C.breaker_cooldown_ms;
}

/* One connector per tool+routing settings, reused so its breaker persists. */
static ac_conn *conn_for(svc *s, json_t *routing) {
  const char *tool = json_string_value(json_object_get(routing, "tool"));
  if (!tool) tool = TOOLS[C.default_tool];
  char *sig = json_dumps(routing ? routing : json_null(), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  for (int i = 0; i < s->nconns; i++) {
    const char *cs = json_string_value(json_object_get(s->conns[i]->cfg, "_sig"));
    if (cs && sig && strcmp(cs, sig) == 0) {
      free(sig);
      return s->conns[i];
    }
  }
  ac_conn *c = s->nconns < 16 ? ac_conn_new(tool, json_is_object(routing) ? routing : NULL) : NULL;
  if (c) {
    json_object_set_new(c->cfg, "_sig", json_string(sig ? sig : ""));
    conn_tune(c);
    s->conns[s->nconns++] = c;
  }
  free(sig);
  return c;
}

static void emit_status(svc *s, const char *plan_id, const char *tool, const ac_ticket *t) {
  Escucha__V1__ActionStatus st = ESCUCHA__V1__ACTION_STATUS__INIT;
  st.plan_id = (char *)plan_id;
  st.tool = (char *)tool;
  st.external_key = (char *)t->key;
  st.url = (char *)t->url;
  st.has_status = 1;
  st.status = (Escucha__V1__ActionState)t->state;
  st.has_updated_at = 1;
  st.updated_at = es_now_ms();
  if (t->state == AC_ST_DONE) st.has_closed_at = 1, st.closed_at = st.updated_at;
  size_t n = escucha__v1__action_status__get_packed_size(&st);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return;
  escucha__v1__action_status__pack(&st, buf);
  rd_kafka_resp_err_t e = es_kafka_produce(s->prod, ES_TOPIC_ACTIONS, -1, plan_id, strlen(plan_id), buf, n, NULL);
  if (e) es_warn("status_not_sent", "plan %s: %s", plan_id, rd_kafka_err2str(e));
  free(buf);
  /* queued once per reporter and status, whoever saw the change first */
  ac_notifier_on_status(s->notifier, s->db.pg, plan_id, t->state, t->status_name, (int)C.evidence_days);
}

/* Outcome of one try at a request (from Kafka or from the retry pass). */
enum {
  H_OK = 0,      /* ticket recorded (now or before) */
  H_PENDING = 1, /* plan and request recorded, ticket failed transiently: the retry pass goes on */
  H_RETRY = -1,  /* nothing recorded (PostgreSQL): the same request must be handled again */
  H_PERM = -2    /* invalid request, or the vendor said no: DLQ (and ticket_failed audit) */
};

/* Copies agency, topic and the priority evidence of req into p (p->ev's
 * strings are borrowed from req). *prio: the priority as JSON for the plan
 * row, malloc'd (stays NULL without a priority; "{}" is stored then). */
static void plan_from_request(const Escucha__V1__ActionRequest *req, ac_plan *p, char **prio) {
  ac_plan_from_request(p, req);
  const Escucha__V1__PriorityUpdate *pu = req->priority;
  if (!pu) return;
  json_t *pj = json_pack("{s:I, s:f, s:f, s:f, s:i, s:b}", "volume", (json_int_t)pu->volume, "negative_share",
                         pu->negative_share, "spike_z", pu->spike_z, "score", pu->score, "rank", (int)pu->rank,
                         "urgent", pu->urgent);
  *prio = json_dumps(pj, JSON_COMPACT);
  json_decref(pj);
}

/* Fills p's evidence (the documents are only read here), playbook and
 * summary, rewritten by the LLM when one is set. *routing: the taxonomy's
 * routing object (borrowed from s->tax, may be NULL). 0 ok, -1 PostgreSQL or
 * out of memory. */
static int plan_build(svc *s, ac_plan *p, json_t **routing) {
  ac_doc *td = NULL, *rd = NULL, *bd = NULL;
  size_t nt = 0, nr = 0, nb = 0;
  ac_stats st = {0};
  int rc = -1, days = (int)C.evidence_days, base = (int)C.baseline_days;
  snprintf(p->dashboard, sizeof p->dashboard, "%s", C.dashboard_url ? C.dashboard_url : "");
  if (ac_db_stats(&s->db, p->agency, p->topic, days, base, &st) != 0 ||
      ac_db_docs(&s->db, p->agency, p->topic, days, &td, &nt, &rd, &nr) != 0 ||
      ac_db_base_docs(&s->db, p->agency, p->topic, days, base, &bd, &nb) != 0)
    goto cleanup;
  ac_plan_set_stats(p, &st); /* drivers and concentrations first: quotes and actions follow them */
  if (ac_plan_analyze(p, td, nt, rd, nr) != 0) goto cleanup;
  ac_plan_new_terms(p, td, nt, bd, nb);
  *routing = ac_plan_playbook(p, s->tax, LANGS[C.lang]);
  if (ac_plan_summarize(p) != 0) goto cleanup;
  if (s->llm.url) {
    char lw[300];
    if (ac_llm_rewrite(&s->llm, p, lw, sizeof lw) != 0) es_warn("llm", "extractive summary kept: %s", lw);
  }
  rc = 0;
cleanup:
  ac_stats_free(&st);
  ac_db_docs_free(td, nt);
  ac_db_docs_free(rd, nr);
  ac_db_docs_free(bd, nb);
  return rc;
}

/* The connector for routing (*c, borrowed from s) and its markup. H_OK, or
 * H_PERM with why set and the ticket_failed audit row written. */
static int ticket_conn(svc *s, const ac_plan *p, json_t *routing, ac_conn **c, int *markup, char *why, size_t whylen) {
  if (!(*c = conn_for(s, routing))) {
    snprintf(why, whylen, "no connector for routing");
    ac_db_ticket_failed(&s->db, p->id, json_string_value(json_object_get(routing, "tool")), why, 0);
    return H_PERM;
  }
  if ((*markup = ac_conn_markup(*c)) < 0) {
    snprintf(why, whylen, "%s: unknown markup %s", (*c)->ops->tool, ac_conn_opt(*c, "markup", ""));
    ac_db_ticket_failed(&s->db, p->id, (*c)->ops->tool, why, 0);
    return H_PERM;
  }
  return H_OK;
}

/* The ticket exists (created now or found): counts it, emits its status. */
static int ticket_opened(svc *s, const Escucha__V1__ActionRequest *req, const ac_plan *p, ac_conn *c, ac_ticket *t,
                         int created, char *why) {
  if (created) { /* the audit row was written with the actions row (store.c) */
    es_metric_add(m_tickets, 1, c->ops->tool);
    if (req->has_requested_at) es_metric_observe(m_tta, (double)(es_now_ms() - req->requested_at) / 1000.0);
  }
  if (!t->state) t->state = AC_ST_OPEN;
  emit_status(s, p->id, c->ops->tool, t);
  es_info("ticket", "plan %s -> %s %s", p->id, c->ops->tool, t->key);
  why[0] = 0;
  return H_OK;
}

/* The ticket failed (tr): the plan is marked failed (permanent: H_PERM) or
 * pending (transient: H_PENDING; H_RETRY when the mark could not be written). */
static int ticket_not_opened(svc *s, const ac_plan *p, ac_conn *c, int tr, const ac_error *err, char *why,
                             size_t whylen) {
  es_metric_add(m_fail, 1, c->ops->tool);
  snprintf(why, whylen, "%s: %s", c->ops->tool, err->msg); /* vendor message; no secrets */
  if (ac_ticket_permanent(tr)) {
    ac_db_ticket_failed(&s->db, p->id, c->ops->tool, err->msg, err->http_status);
    return H_PERM;
  }
  /* The mark is what the retry pass looks for: without it the request
   * must be handled again (not stored). */
  if (ac_db_ticket_pending(&s->db, p->id, c->ops->tool, err->msg, err->http_status) == 0) return H_PENDING;
  es_pg_ensure(s->db.pg);
  return H_RETRY;
}

/* Plans that follow the problem: the plan's ticket existed already; when the
 * topic grew, shrank or changed drivers since what the ticket was last told,
 * one comment says so (once per change: its hash in audit_log). Best effort:
 * a failure is logged and tried again by the next request for the plan. */
static void plan_follow(svc *s, const ac_plan *p, ac_conn *c, const ac_ticket *t, int markup) {
  char *text = NULL, hash[65];
  es_buf b = {0};
  if (!c->ops->comment || ac_plan_change(p->reported, p, LANGS[C.lang], &text, hash) != 1) goto cleanup;
  if (ac_db_change_told(&s->db, p->id, hash) != 0) goto cleanup;
  ac_error err = {0};
  if (ac_text_inline(&b, text, markup) != 0 || !b.data) goto cleanup;
  if (c->ops->comment(c, t->key, b.data, &err) != AC_OK) {
    es_warn("plan_update", "plan %s: comment on %s %s failed: %s", p->id, c->ops->tool, t->key, err.msg);
    goto cleanup;
  }
  if (ac_db_plan_reported(&s->db, p, hash, c->ops->tool, t->key) == 0)
    es_info("plan_update", "plan %s: change told on %s %s", p->id, c->ops->tool, t->key);
cleanup:
  free(text);
  es_buf_free(&b);
}

/* Renders the ticket of p for c and ensures it (lock, search, create,
 * record). H_* as process. */
static int ticket_ensure(svc *s, const Escucha__V1__ActionRequest *req, const ac_plan *p, ac_conn *c, int markup,
                         char *why, size_t whylen) {
  /* The body in the tool's markup (citizen quotes escaped for it); the HTML
   * one for the e-mail connector's second part. */
  const char *lang = LANGS[C.lang];
  char *title = ac_plan_title(p, lang);
  char *body = ac_plan_body(p, lang, markup);
  char *html = ac_plan_body(p, lang, AC_MU_HTML);
  int rc = H_RETRY;
  if (!title || !body || !html) { /* out of memory: handled again */
    snprintf(why, whylen, "out of memory rendering the ticket");
    goto cleanup;
  }
  ac_issue is = {p->idem_key, title, body, html, p->agency, p->topic};
  ac_ticket t;
  ac_error err = {0};
  int created = 0;
  int tr = ac_ensure_ticket(c, &s->store, p->id, &is, C.lock_ttl_ms, &t, &created, &err);
  if (tr == AC_OK && !created) plan_follow(s, p, c, &t, markup);
  rc = tr == AC_OK ? ticket_opened(s, req, p, c, &t, created, why) : ticket_not_opened(s, p, c, tr, &err, why, whylen);
cleanup:
  free(title);
  free(body);
  free(html);
  return rc;
}

/* ---- cases (urgent items; case.h) ---- */

/* The on-call connector of a target (0 webhook URL, 1 e-mail addresses),
 * created once and reused so its breaker persists. NULL: no more room. */
static ac_conn *oncall_conn(svc *s, int which, const char *target) {
  const char *tool = which == 0 ? "webhook" : "email";
  for (int i = 0; i < s->noncall; i++) {
    ac_conn *c = s->oncall[i];
    const char *t = ac_conn_opt(c, which == 0 ? "url" : "to", NULL);
    if (strcmp(c->ops->tool, tool) == 0 && t && strcmp(t, target) == 0) return c;
  }
  if (s->noncall >= (int)(sizeof s->oncall / sizeof s->oncall[0])) return NULL;
  json_t *cfg = json_pack("{s:s, s:s}", which == 0 ? "url" : "to", target, "markup", "plain");
  ac_conn *c = ac_conn_new(tool, cfg);
  json_decref(cfg);
  if (!c) return NULL;
  if (which == 0) { /* the on-call key, not the webhook connector's own */
    free(c->token);
    c->token = C.oncall_webhook_secret && *C.oncall_webhook_secret ? es_xstrdup(C.oncall_webhook_secret) : NULL;
  }
  conn_tune(c);
  s->oncall[s->noncall++] = c;
  return c;
}

/* The case ticket in the urgent queue (rt->ticket; NULL: the default tool).
 * AC_OK with t filled, or AC_E* with err set; *tool gets the tool's name. */
static int case_ticket(svc *s, const Escucha__V1__ActionRequest *req, const ac_case *k, const ac_case_route *rt,
                       const char *title, ac_ticket *t, ac_error *err, const char **tool) {
  const char *lang = LANGS[C.lang];
  ac_conn *c = conn_for(s, rt->ticket);
  *tool = c ? c->ops->tool : json_string_value(json_object_get(rt->ticket, "tool"));
  if (!c) {
    snprintf(err->msg, sizeof err->msg, "no connector for the urgent routing");
    return AC_ECONFIG;
  }
  int markup = ac_conn_markup(c);
  if (markup < 0) {
    snprintf(err->msg, sizeof err->msg, "%s: unknown markup %s", c->ops->tool, ac_conn_opt(c, "markup", ""));
    return AC_ECONFIG;
  }
  const Escucha__V1__UrgentCase *uc = k->uc;
  const char *topic = uc->subcategory && *uc->subcategory ? uc->subcategory : uc->category;
  ac_case_view v = {lang, topic ? es_taxonomy_label(s->taxonomy, topic, lang) : NULL, C.dashboard_url, NULL};
  char *body = ac_case_body(k, &v, markup), *html = ac_case_body(k, &v, AC_MU_HTML);
  int rc = AC_ETRANSIENT, created = 0;
  if (!body || !html) snprintf(err->msg, sizeof err->msg, "out of memory rendering the case");
  else {
    ac_issue is = {k->idem_key, title, body, html, k->agency, k->topic};
    rc = ac_ensure_ticket(c, &s->store, k->id, &is, C.lock_ttl_ms, t, &created, err);
  }
  if (rc == AC_OK) {
    if (created) {
      es_metric_add(m_tickets, 1, c->ops->tool);
      if (req->has_requested_at) es_metric_observe(m_case_tta, (double)(es_now_ms() - req->requested_at) / 1000.0);
    }
    if (!t->state) t->state = AC_ST_OPEN;
    emit_status(s, k->id, c->ops->tool, t);
    es_info("case_ticket", "case %s -> %s %s%s", k->id, c->ops->tool, t->key, created ? "" : " (existing)");
  } else es_metric_add(m_fail, 1, c->ops->tool);
  free(body);
  free(html);
  return rc;
}

/* One on-call alert (which: 0 webhook, 1 e-mail) through the same
 * idempotent flow, recorded as an `actions` row of its own key (status done,
 * role oncall). AC_OK or AC_E* with err set. */
static int case_oncall(svc *s, const ac_case *k, int which, const char *target, const char *title,
                       const char *ticket_url, ac_error *err) {
  ac_conn *c = oncall_conn(s, which, target);
  if (!c) {
    snprintf(err->msg, sizeof err->msg, "no connector for the on-call target");
    return AC_ECONFIG;
  }
  if (which == 0 && !c->token) {
    snprintf(err->msg, sizeof err->msg, "on-call webhook: ESCUCHA_ONCALL_WEBHOOK_SECRET is not set");
    return AC_ECONFIG;
  }
  const char *key = k->oncall_key[which];
  ac_case_view v = {LANGS[C.lang], NULL, C.dashboard_url, ticket_url};
  char *text = ac_case_alert(k, &v, AC_MU_PLAIN, key), *html = ac_case_alert(k, &v, AC_MU_HTML, key);
  int rc = AC_ETRANSIENT, created = 0;
  ac_ticket t = {0};
  if (!text || !html) snprintf(err->msg, sizeof err->msg, "out of memory rendering the alert");
  else {
    ac_store st;
    ac_db_oncall_store(&s->db, &st);
    ac_issue is = {key, title, text, html, k->agency, k->topic};
    rc = ac_ensure_ticket(c, &st, k->id, &is, C.lock_ttl_ms, &t, &created, err);
  }
  es_metric_add(m_oncall, 1, c->ops->tool,
                rc == AC_OK               ? (created ? "sent" : "already_sent")
                : ac_ticket_permanent(rc) ? "failed"
                                          : "pending");
  if (rc == AC_OK && created) es_info("oncall_notified", "case %s -> %s", k->id, c->ops->tool);
  free(text);
  free(html);
  return rc;
}

/* A case request: the case row (kind 'case', with the request), then its
 * deliveries, each idempotent and independent of the others: the ticket in
 * the urgent queue, the on-call webhook, the on-call e-mail. H_* as process:
 * any transient failure leaves the case pending (the retry pass tries again
 * what is missing), else a permanent one is H_PERM. */
static int case_process(svc *s, const Escucha__V1__ActionRequest *req, const void *payload, size_t len, char *plan_id,
                        char *why, size_t whylen) {
  ac_case k;
  ac_case_route rt = {0};
  char *title = NULL, *prio = NULL;
  json_t *pj = NULL;
  int rc = H_PERM;
  if (ac_case_from_request(&k, req) != 0) {
    snprintf(why, whylen, "invalid case request");
    es_metric_add(m_cases, 1, "invalid");
    return H_PERM;
  }
  ac_case_route_find(s->tax, k.uc->category, &rt);
  rc = H_RETRY;
  snprintf(why, whylen, "out of memory");
  title = ac_case_title(&k, LANGS[C.lang]);
  pj = ac_case_priority_json(&k);
  prio = pj ? json_dumps(pj, JSON_COMPACT) : NULL;
  if (!title || !prio) goto cleanup;
  snprintf(why, whylen, "database unavailable");
  if (ac_db_case_upsert(&s->db, req->request_id, &k, title, prio, payload, len) != 0) goto cleanup;
  snprintf(plan_id, 64, "%s", k.id);
  ac_ticket t = {0};
  ac_error err[3] = {{0}};
  const char *tool[3] = {NULL, "webhook", "email"};
  int r[3] = {AC_OK, AC_OK, AC_OK};
  r[0] = case_ticket(s, req, &k, &rt, title, &t, &err[0], &tool[0]);
  if (rt.oncall_webhook) r[1] = case_oncall(s, &k, 0, rt.oncall_webhook, title, r[0] == AC_OK ? t.url : NULL, &err[1]);
  if (rt.oncall_email) r[2] = case_oncall(s, &k, 1, rt.oncall_email, title, r[0] == AC_OK ? t.url : NULL, &err[2]);
  int transient = -1, permanent = -1;
  for (int i = 0; i < 3; i++) {
    if (r[i] == AC_OK) continue;
    if (ac_ticket_permanent(r[i])) permanent = permanent < 0 ? i : permanent;
    else transient = transient < 0 ? i : transient;
  }
  if (transient >= 0) {
    int i = transient;
    snprintf(why, whylen, "%s: %s", tool[i] ? tool[i] : "?", err[i].msg);
    if (ac_db_case_mark(&s->db, k.id, "ticket_pending", tool[i], err[i].msg, err[i].http_status) == 0) rc = H_PENDING;
    else es_pg_ensure(s->db.pg); /* not marked: handled again (H_RETRY) */
    es_metric_add(m_cases, 1, "pending");
  } else if (permanent >= 0) {
    int i = permanent;
    snprintf(why, whylen, "%s: %s", tool[i] ? tool[i] : "?", err[i].msg);
    ac_db_ticket_failed(&s->db, k.id, tool[i], err[i].msg, err[i].http_status);
    es_metric_add(m_cases, 1, "failed");
    rc = H_PERM;
  } else {
    /* Ends a pending spell (nothing is written when there was none). */
    if (ac_db_case_mark(&s->db, k.id, "case_delivered", tool[0], "", 0) != 0)
      es_warn("case_mark", "case %s: delivered, not marked yet (the retry pass finds everything done)", k.id);
    es_metric_add(m_cases, 1, "delivered");
    why[0] = 0;
    rc = H_OK;
  }
cleanup:
  free(title);
  free(prio);
  json_decref(pj);
  ac_case_route_free(&rt);
  return rc;
}

/* Builds the plan for one serialized ActionRequest, records it (with the
 * request) and ensures its ticket. plan_id gets the plan's id once it is
 * recorded (else ""). why: the reason of a failure (vendor message; no
 * secrets). */
static int process(svc *s, const void *payload, size_t len, char *plan_id, char *why, size_t whylen) {
  Escucha__V1__ActionRequest *req = escucha__v1__action_request__unpack(NULL, len, payload);
  ac_plan p = {0};
  char *prio = NULL;
  char plan_req[256];
  json_t *routing = NULL;
  ac_conn *c = NULL;
  int markup = 0, rc = H_PERM;
  plan_id[0] = 0;
  if (!req || !req->agency || !req->topic || !req->request_id) {
    snprintf(why, whylen, "invalid ActionRequest");
    goto cleanup;
  }
  if (req->urgent_case) { /* a case: no evidence, no statistics, at once */
    rc = case_process(s, req, payload, len, plan_id, why, whylen);
    goto cleanup;
  }
  rc = H_RETRY;
  snprintf(why, whylen, "database unavailable");
  plan_from_request(req, &p, &prio);
  if (plan_build(s, &p, &routing) != 0 ||
      ac_db_plan_upsert(&s->db, req->request_id, &p, prio ? prio : "{}", payload, len, plan_req, sizeof plan_req) != 0)
    goto cleanup;
  snprintf(plan_id, 64, "%s", p.id);
  /* From here the plan and its request are durable: a transient failure
   * leaves it pending, the retry pass takes over. One key per plan. */
  ac_plan_key(plan_req, p.idem_key);
  rc = ticket_conn(s, &p, routing, &c, &markup, why, whylen);
  if (rc == H_OK) rc = ticket_ensure(s, req, &p, c, markup, why, whylen);
cleanup:
  free(prio);
  ac_plan_free(&p);
  if (req) escucha__v1__action_request__free_unpacked(req, NULL);
  return rc;
}

static void serve_waiting(svc *s);

/* Pending scan (with the status pass): finds the plans marked pending —
 * those this process failed on, other replicas' and those left by a restart —
 * walking action_plans by id with a cursor that wraps. */
static void retry_scan(svc *s) {
  static ac_db_pending v[200];
  int64_t now = es_mono_ms();
  /* Cases first (a case with its ticket but an on-call alert still missing
   * is pending too), seen now, so the plans' cycle below never prunes them. */
  int nc = ac_db_case_pending_scan(&s->db, v, 200);
  for (int i = 0; i < nc; i++) ac_sched_seen(&s->sched, v[i].plan, v[i].age_ms, now);
  if (nc < 0) es_pg_ensure(s->db.pg);
  if (!s->retry_after[0]) s->retry_cycle = now;
  int n = ac_db_pending_scan(&s->db, s->retry_after, v, 200);
  if (n < 0) {
    es_pg_ensure(s->db.pg);
    return;
  }
  for (int i = 0; i < n; i++) ac_sched_seen(&s->sched, v[i].plan, v[i].age_ms, now);
  if (n < 200) { /* a whole cycle: what was not seen in it is no longer pending */
    ac_sched_prune(&s->sched, s->retry_cycle);
    s->retry_after[0] = 0;
  } else memcpy(s->retry_after, v[n - 1].plan, sizeof s->retry_after); /* same size, NUL-terminated */
  es_metric_set(m_pending, (double)s->sched.n);
}

/* Retries the pending plans that are due (at most ~10 s per call, so the
 * Kafka loop keeps being polled): the stored request through the same flow
 * (lock, search, create, record). */
static void retry_due(svc *s) {
  char due[32][64];
  size_t k = ac_sched_due(&s->sched, es_mono_ms(), due, 32);
  uint64_t deadline = es_mono_ns() + 10ULL * 1000000000ULL;
  for (size_t i = 0; i < k && !es_stopping && es_mono_ns() < deadline; i++) {
    void *pb = NULL;
    size_t len = 0;
    int q = ac_db_pending_request(&s->db, due[i], &pb, &len);
    if (q == 0) q = ac_db_case_pending_request(&s->db, due[i], &pb, &len);
    if (q <= 0) {
      if (q == 0) ac_sched_done(&s->sched, due[i]); /* has its ticket, closed, or failed for good */
      else {
        es_pg_ensure(s->db.pg);
        ac_sched_failed(&s->sched, due[i], es_mono_ms());
        break;
      }
      continue;
    }
    char plan[64], why[600] = "";
    int h = process(s, pb, len, plan, why, sizeof why);
    ac_pending *e = ac_sched_get(&s->sched, due[i]);
    int attempt = e ? e->attempts + 1 : 1;
    switch (h) {
      case H_OK:
        ac_sched_done(&s->sched, due[i]);
        es_metric_add(m_retry, 1, "ok");
        es_info("ticket_retry", "plan %s: ticket opened on attempt %d", due[i], attempt);
        break;
      case H_PERM:
        ac_sched_done(&s->sched, due[i]);
        es_metric_add(m_retry, 1, "failed");
        es_warn("dlq", "plan %s: %s", due[i], why);
        rd_kafka_resp_err_t e = es_kafka_dlq(s->prod, "actions", why, NULL, pb, len, NULL);
        if (e) es_error("dlq_failed", "plan %s: %s", due[i], rd_kafka_err2str(e));
        break;
      default: {
        ac_pending *f = ac_sched_failed(&s->sched, due[i], es_mono_ms());
        es_metric_add(m_retry, 1, "pending");
        es_warn("ticket_pending", "plan %s: attempt %d failed (%s); next in %.1f s", due[i], attempt, why,
                f ? (double)(f->next_ms - es_mono_ms()) / 1000.0 : 0.0);
        if (h == H_RETRY) es_pg_ensure(s->db.pg);
      }
    }
    if (plan[0] && strcmp(plan, due[i]) != 0 && h == H_OK) ac_sched_done(&s->sched, plan);
    free(pb);
    serve_waiting(s);
  }
  es_metric_set(m_pending, (double)s->sched.n);
}

/* One ActionRequest from Kafka. Returns 1 when its offset may be stored. */
static int on_request(svc *s, rd_kafka_t *cons, const rd_kafka_message_t *m) {
  char why[600] = "", plan[64];
  int h;
  /* Nothing recorded (PostgreSQL down): try again in place for a few
   * seconds, then rewind the partition to this message and let the loop run
   * (the status pass, the group session) before it comes back. */
  for (int attempt = 0; (h = process(s, m->payload, m->len, plan, why, sizeof why)) == H_RETRY && !es_stopping;
       attempt++) {
    es_pg_ensure(s->db.pg);
    if (attempt >= 3) {
      char serr[256];
      if (es_kafka_rewind(cons, m, serr, sizeof serr) == 0) {
        es_warn("request_retry", "%s; the request will be handled again", why);
        es_metric_add(m_in, 1, "retry");
        return 0;
      }
      attempt = 2; /* could not rewind: keep the partition here */
    }
    struct timespec ts = {0, (500L << attempt) * 1000000L};
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec = ts.tv_nsec / 1000000000L, ts.tv_nsec %= 1000000000L;
    nanosleep(&ts, NULL);
  }
  if (h == H_RETRY) return 0; /* stopping: redelivered after the restart */
  if (h == H_OK) ac_sched_done(&s->sched, plan);
  else if (h == H_PENDING) {
    ac_pending *f = ac_sched_failed(&s->sched, plan, es_mono_ms());
    es_warn("ticket_pending", "plan %s: %s; retry in %.1f s", plan, why,
            f ? (double)(f->next_ms - es_mono_ms()) / 1000.0 : 0.0);
  } else {
    if (plan[0]) ac_sched_done(&s->sched, plan);
    es_warn("dlq", "%s", why);
    rd_kafka_resp_err_t e = es_kafka_dlq(s->prod, "actions", why, m, NULL, 0, NULL);
    if (e) es_error("dlq_failed", "%s", rd_kafka_err2str(e));
  }
  es_metric_add(m_in, 1, h == H_OK ? "ok" : h == H_PENDING ? "pending" : "dlq");
  es_metric_set(m_pending, (double)s->sched.n);
  return 1;
}

/* Status pass: up to 200 non-done tickets per pass, walking the table by id
 * (a cursor that wraps), so tickets a tool cannot answer for never starve the
 * others. Changes are recorded with their audit row and emitted. */
static void poll_status(svc *s) {
  char after[32];
  snprintf(after, sizeof after, "%lld", s->poll_after);
  const char *prm[] = {after};
  PGresult *r = PQexecParams(s->db.pg,
                             "SELECT a.idempotency_key, a.tool, a.external_key, a.status, a.plan_id, "
                             "extract(epoch from now() - a.opened_at), a.id FROM actions a "
                             "WHERE a.status <> 'done' AND a.id > $1::bigint ORDER BY a.id LIMIT 200",
                             1, NULL, prm, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    es_pg_ensure(s->db.pg);
    PQclear(r);
    return;
  }
  static const char *names[] = {"unknown", "open", "in_progress", "done"};
  int n = PQntuples(r);
  s->poll_after = n < 200 ? 0 : atoll(PQgetvalue(r, n - 1, 6));
  for (int i = 0; i < n && !es_stopping; i++) {
    json_t *routing = json_pack("{s:s}", "tool", PQgetvalue(r, i, 1));
    ac_conn *c = conn_for(s, routing); /* settings from env for polling */
    json_decref(routing);
    ac_ticket t = {0};
    ac_error err = {0};
    serve_waiting(s); /* a request (a case) that arrived meanwhile does not wait for the pass */
    if (!c || c->ops->get_status(c, PQgetvalue(r, i, 2), &t, &err) != AC_OK) continue;
    if (t.state < 1 || t.state > 3 || strcmp(names[t.state], PQgetvalue(r, i, 3)) == 0) continue;
    if (ac_db_action_update(&s->db, PQgetvalue(r, i, 0), t.state, t.status_name) <= 0) continue;
    if (!t.key[0]) snprintf(t.key, sizeof t.key, "%s", PQgetvalue(r, i, 2));
    emit_status(s, PQgetvalue(r, i, 4), c->ops->tool, &t);
    es_info("ticket_status", "%s %s -> %s", c->ops->tool, t.key, names[t.state]);
    if (t.state == AC_ST_DONE) {
      es_metric_observe(m_ttr, atof(PQgetvalue(r, i, 5)));
      if (ac_db_case_close(&s->db, PQgetvalue(r, i, 4)) != 0) es_pg_ensure(s->db.pg); /* a case: closed with it */
    }
  }
  PQclear(r);
}

/* ---- e-mail digest ---- */

static ac_smtp digest_smtp(ac_conn *email) {
  return (ac_smtp){ac_conn_opt(email, "smtp_url", NULL),
                   ac_conn_opt(email, "user", NULL),
                   email->token,
                   ac_conn_opt(email, "from", "escucha@localhost"),
                   strcmp(ac_conn_opt(email, "tls_verify", "true"), "false") != 0,
                   C.http_timeout_ms};
}

static const char *digest_to_default(ac_conn *email) {
  const char *to = C.digest_to;
  return to && *to ? to : ac_conn_opt(email, "to", NULL);
}

static const char *digest_result_name(int rc) {
  switch (rc) {
    case AC_DG_SENT: return "sent";
    case AC_DG_ALREADY: return "already_sent";
    case AC_DG_BUSY: return "busy";
    case AC_DG_CONFIG: return "no_recipients";
    case AC_DG_PERMANENT: return "failed_permanent";
    default: return "failed";
  }
}

/* Sends the digests that are due and not yet sent (one check per
 * --digest-check-s; audit_log makes it once per agency and period). One query
 * finds the digests already sent; the others are sent under their lock. A
 * pass stops after ~20 s of sending so the Kafka loop keeps being polled;
 * returns 1 when agencies are left for the next iteration. */
static int digest_pass(svc *s) {
  const char *period = PERIODS[C.digest_period];
  int64_t now = es_now_ms() / 1000, start, end;
  if (ac_digest_period(period, now, &start, &end) != 0 || !ac_digest_due(end, (int)C.digest_hour, now)) return 0;
  const char *list = C.digest_agencies;
  char **ag = NULL, **keys = NULL;
  unsigned char *done = NULL;
  int n = 0, left = 0;
  if (list && *list) {
    ag = ac_digest_recipients(list); /* the same comma-list splitter */
    while (ag && ag[n]) n++;
  } else if (ac_digest_agencies(s->db.pg, period, start, end, &ag, &n) != 0) {
    es_pg_ensure(s->db.pg);
    return 0;
  }
  keys = calloc((size_t)n + 1, sizeof *keys);
  done = calloc((size_t)n + 1, 1);
  int nk = 0;
  for (; keys && nk < n; nk++) {
    if (!(keys[nk] = malloc(320))) break;
    ac_digest_key(ag[nk], period, start, keys[nk], 320);
  }
  if (!keys || !done || nk < n || ac_digest_done(s->db.pg, keys, n, done) != 0) {
    es_pg_ensure(s->db.pg);
    goto out;
  }
  ac_smtp sm = digest_smtp(s->email);
  ac_digest_cfg c = {period,          LANGS[C.lang],     (int)C.digest_top, s->tax, &sm, digest_to_default(s->email),
                     C.digest_to_env, (int)C.stale_after};
  uint64_t deadline = es_mono_ns() + 20ULL * 1000000000ULL;
  for (int i = 0; i < n && !es_stopping; i++) {
    if (done[i]) {
      es_metric_add(m_digest, 1, "already_sent");
      continue;
    }
    if (es_mono_ns() > deadline) {
      left = 1;
      break;
    }
    char err[512] = "";
    serve_waiting(s);
    int rc = ac_digest_send_once(s->db.pg, &c, ag[i], start, end, 0, err, sizeof err);
    es_metric_add(m_digest, 1, digest_result_name(rc));
    if (rc == AC_DG_SENT) es_info("digest_sent", "%s", keys[i]);
    else if (rc == AC_DG_ALREADY || rc == AC_DG_BUSY)
      es_debug("digest_skip", "%s: %s", keys[i], digest_result_name(rc));
    else {
      es_warn("digest_failed", "%s: %s", keys[i], err);
      if (rc == AC_DG_TRANSIENT) es_pg_ensure(s->db.pg);
    }
  }
out:
  for (int i = 0; keys && i < n; i++) free(keys[i]); /* calloc'd: unset entries are NULL */
  free(keys);
  free(done);
  ac_digest_agencies_free(ag, n);
  return left;
}

/* "--name value" or "--name=value"; advances *i. */
static int take_arg(const char *name, int argc, char **argv, int *i, const char **out) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return 0;
  if (argv[*i][n] == '=') {
    *out = argv[*i] + n + 1;
    return 1;
  }
  if (argv[*i][n] != 0) return 0;
  if (*i + 1 >= argc) return -1;
  *out = argv[++*i];
  return 1;
}

/* The digest command's own arguments (the others go to the option table). */
typedef struct digest_args {
  const char *agency, *period, *date; /* borrowed from argv */
  int dry, force;
} digest_args;

/* Takes the digest command's own arguments out of argv; av gets argv[0] and
 * the others (*ac of them). 0 ok, 2 after printing which flag has no value. */
static int digest_take_args(int argc, char **argv, digest_args *a, char **av, int *ac) {
  *ac = 0;
  av[(*ac)++] = argv[0];
  for (int i = 2; i < argc; i++) {
    int t = 0;
    if (strcmp(argv[i], "--dry-run") == 0) a->dry = 1;
    else if (strcmp(argv[i], "--force") == 0) a->force = 1;
    else if ((t = take_arg("--agency", argc, argv, &i, &a->agency)) ||
             (t = take_arg("--period", argc, argv, &i, &a->period)) ||
             (t = take_arg("--date", argc, argv, &i, &a->date))) {
      if (t < 0) {
        fprintf(stderr, "escucha-actions digest: %s needs a value\n", argv[i]);
        return 2;
      }
    } else av[(*ac)++] = argv[i];
  }
  return 0;
}

/* The period to send: the last complete one, or the one containing --date.
 * 0 ok, 2 after printing the rule (bad date, or usage). */
static int digest_window(const digest_args *a, int nrest, int64_t *start, int64_t *end) {
  int64_t now = es_now_ms() / 1000;
  if (a->date) { /* the period containing that day */
    struct tm tm = {0};
    char tail = 0;
    if (sscanf(a->date, "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tail) != 3) {
      fprintf(stderr, "escucha-actions digest: --date wants YYYY-MM-DD\n");
      return 2;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    now = (int64_t)timegm(&tm) + (a->period && strcmp(a->period, "weekly") == 0 ? 7 : 1) * 86400;
  }
  if (nrest || !a->agency || !*a->agency || ac_digest_period(a->period, now, start, end) != 0) {
    fprintf(stderr,
            "usage: escucha-actions digest --agency A --period daily|weekly [--date YYYY-MM-DD] "
            "[--dry-run] [--force] [options]\n");
    return 2;
  }
  return 0;
}

/* --dry-run: prints the text part of the digest. 0 printed, 1 otherwise. */
static int digest_print(svc *s, const digest_args *a, int64_t start, int64_t end) {
  ac_digest_data dd;
  char *subj = NULL, *text = NULL, *html = NULL;
  int rc = 1;
  if (ac_digest_load(s->db.pg, a->agency, a->period, start, end, LANGS[C.lang], s->tax, (int)C.digest_top,
                     (int)C.stale_after, &dd) != 0)
    return 1;
  if (ac_digest_render(&dd.d, &subj, &text, &html) == 0) {
    fputs(text, stdout);
    rc = 0;
  }
  free(subj);
  free(text);
  free(html);
  ac_digest_data_free(&dd);
  return rc;
}

/* Sends the digest unless already sent (again with --force) and prints the
 * result; s->email gets the SMTP settings. 0 sent or already sent, else 1. */
static int digest_send_now(svc *s, const digest_args *a, int64_t start, int64_t end) {
  char err[512] = "", key[320];
  s->email = ac_conn_new("email", NULL);
  if (!s->email || !ac_conn_opt(s->email, "smtp_url", NULL)) {
    fprintf(stderr, "escucha-actions digest: ESCUCHA_EMAIL_SMTP_URL is not set\n");
    return 1;
  }
  ac_smtp sm = digest_smtp(s->email);
  ac_digest_cfg c = {a->period,       LANGS[C.lang],     (int)C.digest_top, s->tax, &sm, digest_to_default(s->email),
                     C.digest_to_env, (int)C.stale_after};
  ac_digest_key(a->agency, a->period, start, key, sizeof key);
  int r = ac_digest_send_once(s->db.pg, &c, a->agency, start, end, a->force, err, sizeof err);
  if (r == AC_DG_SENT || r == AC_DG_ALREADY) {
    printf("%s: %s\n", key, r == AC_DG_SENT ? "sent" : "already sent (use --force to send again)");
    return 0;
  }
  fprintf(stderr, "escucha-actions digest: %s: %s%s%s\n", key, digest_result_name(r), err[0] ? ": " : "", err);
  return 1;
}

/* The taxonomy through lib's validating reader, so a file classify refuses
 * is refused here too (the caller exits 2, like a bad option); s->tax is its
 * document. An empty --taxonomy means none: default routing and the generic
 * playbook. 0 ok, -1 refused (logged). */
static int load_taxonomy(svc *s) {
  char err[512];
  if (!C.taxonomy || !*C.taxonomy) {
    es_warn("taxonomy", "no taxonomy: default routing and generic playbook");
    return 0;
  }
  if (es_taxonomy_load(C.taxonomy, &s->taxonomy, err, sizeof err) != 0) {
    es_error("taxonomy_invalid", "%s", err);
    return -1;
  }
  s->tax = es_taxonomy_doc(s->taxonomy);
  return 0;
}

/* escucha-actions digest --agency A --period daily|weekly [--date D] [--dry-run] [--force] */
static int digest_cmd(int argc, char **argv) {
  digest_args a = {0};
  char **av = es_xcalloc((size_t)argc + 1, sizeof *av), **rest = es_xcalloc((size_t)argc + 1, sizeof *rest);
  char err[512] = "";
  svc s = {0};
  int ac = 0, nrest = 0, rc;
  int64_t start, end;
  if ((rc = digest_take_args(argc, argv, &a, av, &ac)) != 0) goto cleanup;
  int pr = es_config_parse(OPTS, "escucha-actions digest",
                           "--agency A --period daily|weekly [--date YYYY-MM-DD] [--dry-run] [--force] [options]", ac,
                           av, 1, rest, &nrest);
  if (pr != 0) {
    rc = pr > 0 ? 0 : 2;
    goto cleanup;
  }
  if ((rc = digest_window(&a, nrest, &start, &end)) != 0) goto cleanup;
  rc = 1;
  es_log_init("actions", ES_LOG_LEVELS[C.common.log_level]);
  if (load_taxonomy(&s) != 0) {
    rc = 2;
    goto cleanup;
  }
  if (!(s.db.pg = es_pg_connect(C.common.pg_dsn, err, sizeof err))) {
    fprintf(stderr, "escucha-actions digest: %s\n", err);
    goto cleanup;
  }
  rc = a.dry ? digest_print(&s, &a, start, end) : digest_send_now(&s, &a, start, end);
cleanup:
  if (s.email) ac_conn_free(s.email);
  if (s.db.pg) PQfinish(s.db.pg);
  es_taxonomy_free(s.taxonomy);
  free(av);
  free(rest);
  es_config_free(OPTS);
  return rc;
}

/* Registers the service's metrics (names in docs/actions.md). */
static void metrics_init(void) {
  m_in = es_counter("escucha_actions_requests_total", "Action requests consumed", "result", NULL);
  m_tickets = es_counter("escucha_actions_tickets_opened_total", "Tickets opened", "tool", NULL);
  m_fail = es_counter("escucha_actions_ticket_failures_total", "Ticket failures", "tool", NULL);
  m_tta = es_histogram("escucha_actions_time_to_action_seconds", "Request to ticket opened", ES_LATENCY_BUCKETS,
                       ES_LATENCY_NBUCKETS, NULL);
  static const double days[] = {3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400};
  m_ttr = es_histogram("escucha_actions_time_to_resolution_seconds", "Ticket opened to done", days, 7, NULL);
  m_digest = es_counter("escucha_actions_digests_total", "Digest attempts per agency and period", "result", NULL);
  m_retry = es_counter("escucha_actions_ticket_retries_total", "Retries of pending plans (transient ticket failures)",
                       "result", NULL);
  m_pending = es_gauge("escucha_actions_pending_plans", "Open plans waiting for their ticket (this process)", NULL);
  m_cases =
      es_counter("escucha_actions_cases_total", "Case requests (urgent items) handled, by outcome", "result", NULL);
  m_case_tta =
      es_histogram("escucha_actions_case_time_to_ticket_seconds", "Case requested (classify) to its ticket created",
                   ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, NULL);
  m_oncall = es_counter("escucha_actions_oncall_alerts_total", "On-call alerts of cases by tool and outcome", "tool",
                        "result", NULL);
}

/* The scheduled digest: *on when --digest-period is not off, with s->email
 * (its SMTP settings) opened. 0 ok, -1 with err set. */
static int digest_setup(svc *s, int *on, char *err, size_t errlen) {
  const char *dperiod = PERIODS[C.digest_period];
  *on = dperiod && strcmp(dperiod, "off") != 0;
  if (!*on) return 0;
  int64_t a, b;
  if (ac_digest_period(dperiod, 0, &a, &b) != 0 || C.digest_hour < 0 || C.digest_hour > 23) {
    snprintf(err, errlen, "--digest-period must be off|daily|weekly and --digest-hour 0-23");
    return -1;
  }
  s->email = ac_conn_new("email", NULL);
  if (!s->email || !ac_conn_opt(s->email, "smtp_url", NULL)) {
    snprintf(err, errlen, "--digest-period %s needs ESCUCHA_EMAIL_SMTP_URL", dperiod);
    return -1;
  }
  return 0;
}

/* The optional summary rewrite; s owns its copy of the token. */
static void llm_setup(svc *s) {
  if (!C.llm_url || !*C.llm_url) return;
  s->llm_token = C.llm_token ? strdup(C.llm_token) : NULL;
  ac_llm_init(&s->llm, C.llm_url, C.llm_model, s->llm_token, C.llm_timeout_ms);
}

/* PostgreSQL (required) and Redis (optional: the creation lock). 0 ok. */
static int db_connect(svc *s, char *err, size_t errlen) {
  if (!(s->db.pg = es_pg_connect(C.common.pg_dsn, err, errlen))) {
    es_error("pg_connect", "%s", err);
    return -1;
  }
  s->db.redis_url = C.common.redis_url;
  if (!s->db.redis_url || !*s->db.redis_url)
    es_warn("redis", "no Redis URL: creation lock disabled (search + unique key still apply)");
  else if (!(s->db.rds = es_redis_connect(s->db.redis_url, 2000)))
    es_warn("redis", "Redis unreachable: tickets stay pending until it answers");
  ac_db_store(&s->db, &s->store);
  return 0;
}

/* The status producer (s->prod) and the request consumer (*cons, owned by
 * the caller). 0 ok, -1 with err set. */
static int kafka_connect(svc *s, rd_kafka_t **cons, char *err, size_t errlen) {
  const char *brokers = C.common.kafka_brokers;
  if (!(s->prod = es_kafka_producer_new(brokers, "escucha-actions", NULL, NULL, NULL, err, errlen))) return -1;
  const char *topics[] = {ES_TOPIC_ACTIONS_REQUESTED};
  /* Only committed requests (classify writes case requests in its Kafka
   * transactions); librdkafka's default, said here so it stays. */
  static const char *const extra[] = {"isolation.level", "read_committed", NULL};
  if (!(*cons = es_kafka_consumer_new(brokers, "escucha-actions", "escucha-actions", topics, 1, extra, err, errlen)))
    return -1;
  s->cons = *cons;
  return 0;
}

/* How long the Kafka poll may block: shorter for a sub-second status
 * interval, and no later than the next pending retry. */
static int poll_wait_ms(svc *s) {
  double piv = C.poll_interval_s;
  int wait_ms = piv > 0 && piv < 0.5 ? (int)(piv * 1000) + 1 : 500;
  int64_t until_retry = ac_sched_next(&s->sched) - es_mono_ms();
  if (until_retry < wait_ms) wait_ms = until_retry < 1 ? 1 : (int)until_retry;
  return wait_ms;
}

/* Handles the requests already waiting (up to 16, without blocking) from
 * inside the slow passes (status, pending retries, digest), so a case never
 * waits for them: the same handling as the main loop, in offset order. */
static void serve_waiting(svc *s) {
  if (!s->cons || s->serving) return;
  s->serving = 1;
  for (int i = 0; i < 16 && !es_stopping; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->cons, 0);
    if (!m) break;
    int err = m->err != RD_KAFKA_RESP_ERR_NO_ERROR, stored = !err && on_request(s, s->cons, m);
    if (stored) es_kafka_store(s->cons, m);
    rd_kafka_message_destroy(m);
    if (!err && !stored) break; /* rewound (PostgreSQL down): the main loop takes it again */
  }
  s->serving = 0;
}

/* Until es_stopping: one request, then the status and pending passes and the
 * digest when due. */
static void run_loop(svc *s, rd_kafka_t *cons, int digest_on) {
  uint64_t next_poll = 0, next_digest = 0, next_notify = 0;
  while (!es_stopping) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, poll_wait_ms(s));
    if (m && !m->err && on_request(s, cons, m)) es_kafka_store(cons, m);
    if (m) rd_kafka_message_destroy(m);
    rd_kafka_poll(s->prod, 0);
    if (es_mono_ns() >= next_poll) {
      poll_status(s);
      retry_scan(s);
      double iv = C.poll_interval_s;
      next_poll = es_mono_ns() + (uint64_t)((iv > 0.01 ? iv : 0.01) * 1e9);
    }
    if (ac_sched_next(&s->sched) <= es_mono_ms()) retry_due(s);
    if (es_mono_ns() >= next_notify) {
      ac_notifier_pass(s->notifier, s->db.pg);
      next_notify = es_mono_ns() + (uint64_t)(ac_notifier_interval(s->notifier) * 1e9);
    }
    if (digest_on && es_mono_ns() >= next_digest) {
      double iv = digest_pass(s) ? 0 : C.digest_check_s;
      next_digest = es_mono_ns() + (uint64_t)((iv > 0.1 ? iv : 0.1) * 1e9);
    }
  }
}

/* Releases what s owns (the producer is flushed for up to 5 s). */
static void svc_close(svc *s) {
  if (s->prod) es_kafka_producer_close(s->prod, 5000);
  for (int i = 0; i < s->nconns; i++) ac_conn_free(s->conns[i]);
  for (int i = 0; i < s->noncall; i++) ac_conn_free(s->oncall[i]);
  if (s->email) ac_conn_free(s->email);
  ac_notifier_free(s->notifier);
  if (s->db.rds) redisFree(s->db.rds);
  if (s->db.pg) PQfinish(s->db.pg);
  es_taxonomy_free(s->taxonomy);
  ac_sched_free(&s->sched);
  if (s->llm_token) {
    memset(s->llm_token, 0, strlen(s->llm_token));
    free(s->llm_token);
  }
}

int main(int argc, char **argv) {
  int rc = 1, digest_on = 0;
  char err[512] = "";
  svc s = {0};
  rd_kafka_t *cons = NULL;
  if (argc > 1 && strcmp(argv[1], "digest") == 0) return digest_cmd(argc, argv);
  if (argc > 1 && strcmp(argv[1], "audit-verify") == 0) return ac_audit_verify_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "iso-report") == 0) return ac_iso_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "record-plan") == 0) return ac_record_main(argc - 1, argv + 1);
  int pr = es_config_parse(OPTS, "escucha-actions", USAGE, argc, argv, 1, NULL, NULL);
  if (pr != 0) {
    es_config_free(OPTS);
    return pr > 0 ? 0 : 2;
  }
  ac_crash_at = C.crash_at >= 0 ? CRASH_POINTS[C.crash_at] : NULL;
  es_log_init("actions", ES_LOG_LEVELS[C.common.log_level]);
  es_install_signals();
  metrics_init();
  if (load_taxonomy(&s) != 0) {
    rc = 2;
    goto cleanup;
  }
  ac_sched_init(&s.sched, (long)(C.ticket_retry_base_s * 1000), (long)(C.ticket_retry_max_s * 1000),
                (long)(C.ticket_retry_grace_s * 1000));
  if (digest_setup(&s, &digest_on, err, sizeof err) != 0) goto cleanup;
  es_process_watch_dir(C.common.state_dir); /* escucha_state_disk_*_bytes */
  if (es_admin_start(C.common.admin_host, (int)C.admin_port) != 0) goto cleanup;
  llm_setup(&s);
  ac_retry nr;
  ac_retry_defaults(&nr);
  nr.timeout_ms = C.http_timeout_ms;
  if (!(s.notifier = ac_notifier_new(&nr, err, sizeof err))) goto cleanup;
  if (db_connect(&s, err, sizeof err) != 0 || kafka_connect(&s, &cons, err, sizeof err) != 0) goto cleanup;
  es_admin_set_ready(1);
  run_loop(&s, cons, digest_on);
  rc = 0;
cleanup:
  if (rc == 1) es_error("startup", "%s", err); /* 2: refused taxonomy, logged by load_taxonomy */
  es_admin_set_ready(0);
  if (cons) es_kafka_consumer_close(cons);
  svc_close(&s);
  es_admin_stop();
  es_config_free(OPTS);
  return rc;
}
