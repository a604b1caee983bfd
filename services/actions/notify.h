/* Telling reporters what happened (docs/actions.md, "Telling the reporter").
 * When a plan's ticket moves, every consenting reporter whose feedback
 * counts toward the plan is queued once per status (notifications, migration
 * 011); a pass sends the queue over e-mail (SMTP), WhatsApp (Cloud API
 * template messages) or SMS (a signed HTTP gateway), opening each sealed
 * contact only for the send. Plain language, Spanish or English by the
 * item's language, with a one-click opt-out link. */
#ifndef ESCUCHA_ACTIONS_NOTIFY_H
#define ESCUCHA_ACTIONS_NOTIFY_H
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "ac_http.h"
#include "ac_smtp.h"
#include "config.h"
#include "metrics.h"

/* The status a reporter is told for a ticket state (AC_ST_*) and the tool's
 * own status word: "opened", "in_progress", or for a done ticket a closure
 * reason — "resolved", "not_fixed", "forwarded", "duplicate" (from the word,
 * see ac_notify_closure) — or NULL for an unknown state. */
const char *ac_notify_status(int state, const char *status_name);
/* Closure reason of a done ticket from the tool's word (Redmine "Rejected",
 * Jira "Won't Do", "Duplicate", "Derivado", ...): case-insensitive, Spanish
 * and English; anything else is "resolved". */
const char *ac_notify_closure(const char *status_name);
/* Whether a status is the final one (the contact is purged after it). */
int ac_notify_final(const char *status);

/* One message to render. */
typedef struct ac_notice {
  const char *status;      /* ac_notify_status's values */
  const char *note;        /* the tool's status word, or NULL */
  const char *lang;        /* "es" or "en" (anything else: es) */
  const char *agency_name; /* how the agency signs */
  const char *signature;   /* closing line, or NULL */
  const char *ref;         /* the feedback id (the reporter's reference) */
  const char *optout_url;  /* NULL: no link */
  const char *optout_tok;  /* the link's last segment (WhatsApp's URL button suffix), or NULL */
} ac_notice;
/* malloc'd (NULL: out of memory). */
char *ac_notify_subject(const ac_notice *n);
char *ac_notify_text(const ac_notice *n);
char *ac_notify_html(const ac_notice *n);
/* WhatsApp Cloud API template message: template <prefix>_<status>, language
 * es/en, body parameters agency, reference, note; with an opt-out token, the
 * template's URL button 0 (…/v1/optout/{{1}}) gets it. to: digits only. */
char *ac_notify_whatsapp_json(const ac_notice *n, const char *to, const char *template_prefix, const char *idem);
/* SMS gateway body {"to","text","idempotency_key"}; the text ends with the
 * opt-out link when there is one. */
char *ac_notify_sms_json(const ac_notice *n, const char *to, const char *idem);
/* "esn-" + 32 hex of SHA-256(feedback id "/" status): the same on every retry. */
void ac_notify_key(const char *feedback_id, const char *status, char out[40]);

/* ---- queue (PostgreSQL) ---- */
/* Queues the plan's reporters for status (once per reporter and status;
 * none opted out, expired or already told the final outcome). A plan's
 * reporters: the items of the plan's topic received from evidence_days
 * before the plan opened; an urgent case's reporter is never messaged.
 * Returns rows queued, -1. */
int ac_notify_enqueue(PGconn *pg, const char *plan_id, const char *status, const char *note, int evidence_days);

typedef struct ac_notify_job {
  long long id;
  char feedback_id[64], agency[64], status[16], via[12], lang[8], note[96];
  uint8_t *sealed; /* owned */
  size_t sealed_len;
  int attempts; /* including this one */
  int usable;   /* 0: opted out or expired since it was queued */
} ac_notify_job;
/* Claims up to max due rows (a lease of lease_s seconds: a crash mid-send
 * lets another pass take them after it). Returns the count, -1. */
int ac_notify_claim(PGconn *pg, ac_notify_job *out, int max, long lease_s);
void ac_notify_job_free(ac_notify_job *j, int n);

/* ---- the notifier in escucha-actions ---- */
extern es_opt ac_notify_opts[];
typedef struct ac_notifier ac_notifier;
/* NULL with err set on a bad setting; a notifier that does nothing (and says
 * so once) when no contact secret key is configured. */
ac_notifier *ac_notifier_new(const ac_retry *retry, char *err, size_t errlen);
void ac_notifier_free(ac_notifier *n);
/* A plan's ticket is at state (AC_ST_*) with the tool's word: queue it. */
void ac_notifier_on_status(ac_notifier *n, PGconn *pg, const char *plan_id, int state, const char *status_name,
                           int evidence_days);
/* Sends what is due (at most ~10 s). Returns messages sent. */
int ac_notifier_pass(ac_notifier *n, PGconn *pg);
/* Seconds between passes. */
double ac_notifier_interval(const ac_notifier *n);
#endif
