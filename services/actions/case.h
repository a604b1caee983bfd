/* Cases: one urgent item (a person in danger) is one case, opened at once
 * whatever the topic's volume: no evidence query, no statistics. A case is an
 * action_plans row of kind 'case' (migrations/004), so it reuses the ticket
 * machinery (idempotency key, lock + search + record, pending retries,
 * status pass). This module holds what can be tested without a service:
 * the request's validation, the ticket's title and body (es/en, the tool's
 * markup, citizen text quoted through ac_text_quote), the on-call alert's
 * text and the urgent routing lookup in the taxonomy. The flow itself is in
 * main.c (case_process). See docs/actions.md, "Cases (urgent items)". */
#ifndef ESCUCHA_ACTIONS_CASE_H
#define ESCUCHA_ACTIONS_CASE_H
#include <jansson.h>
#include <stdint.h>

#include "util.h"

struct Escucha__V1__ActionRequest;
struct Escucha__V1__UrgentCase;

typedef struct ac_case {
  char id[64];            /* the plan id, once recorded ("" before) */
  char agency[64];        /* from the request */
  char topic[160];        /* "case/<feedback id>" */
  char feedback_id[96];   /* the urgent item */
  char idem_key[64];      /* the ticket's key: ac_plan_key(request id) */
  char oncall_key[2][64]; /* the on-call alerts' keys, [0] webhook, [1] e-mail: ac_plan_key(request id +
                             "#oncall-webhook" / "#oncall-email") */
  const struct Escucha__V1__UrgentCase *uc; /* borrowed from the request */
} ac_case;

/* Fills c from a case request (req->urgent_case set): agency, topic
 * "case/<id>" and request_id "case/<agency>/<id>" must agree, and the id is
 * [A-Za-z0-9_-] (it goes into a link). c->uc borrows from req. 0 ok, -1 not a
 * valid case request (permanent: DLQ). */
ES_MUST_CHECK
int ac_case_from_request(ac_case *c, const struct Escucha__V1__ActionRequest *req);

/* "Amenaza" / "Threat" for Classification.urgent_reason (unknown reasons: the
 * reason itself when it is a word of [a-z_], up to 40; else "Urgente" /
 * "Urgent"). Static strings or reason. */
const char *ac_case_reason_label(const char *reason, const char *lang);
/* "WhatsApp", "Web", … for an escucha.v1.Channel value ("?" unknown). */
const char *ac_case_channel_label(int channel);
/* "2026-12-01 13:02 UTC" of ms since the epoch into out (n >= 24). */
void ac_case_time(int64_t ms, char *out, size_t n);

/* What the body shows besides the request's own fields. All borrowed. */
typedef struct ac_case_view {
  const char *lang;           /* "es" or "en" */
  const char *category_label; /* the taxonomy's label of the item's (sub)category; NULL: the id */
  const char *dashboard_url;  /* e.g. "http://127.0.0.1:8081/" (the link is <url>#/feedback/<id>) */
  const char *ticket_url;     /* the alert only: the case ticket, when it exists (may be NULL) */
} ac_case_view;

/* "URGENTE · Amenaza · WhatsApp · 2026-12-01 13:02 UTC"; malloc'd, NULL out
 * of memory. */
char *ac_case_title(const ac_case *c, const char *lang);
/* The case ticket's body in markup (AC_MU_*): reason, confidence and matched
 * phrase, the redacted text as a quote, channel, service, time received,
 * category, the dashboard link, and how to reach the person (a sealed contact
 * is only announced, never shown). Ends with the idempotency marker line.
 * malloc'd, NULL out of memory. */
char *ac_case_body(const ac_case *c, const ac_case_view *v, int markup);
/* The on-call alert (plain text, or HTML for markup AC_MU_HTML): what, when,
 * where to look (ticket, dashboard) — no citizen text, no phrase, no
 * contact. Ends with the marker line of key (one of c->oncall_key). malloc'd,
 * NULL out of memory. */
char *ac_case_alert(const ac_case *c, const ac_case_view *v, int markup, const char *key);

/* Urgent routing of a category: the category's urgent_routing, else the
 * taxonomy's, else none. */
typedef struct ac_case_route {
  json_t *ticket;             /* owned: the connector routing (on-call keys removed); NULL: default tool */
  const char *oncall_webhook; /* borrowed from the taxonomy document; NULL: none */
  const char *oncall_email;   /* borrowed; NULL: none */
} ac_case_route;
void ac_case_route_find(json_t *taxonomy, const char *category, ac_case_route *out);
void ac_case_route_free(ac_case_route *r);

/* The plan row's priority column for a case: reason, confidence, channel,
 * category, subcategory, received_at (no text). New reference. */
json_t *ac_case_priority_json(const ac_case *c);
#endif
