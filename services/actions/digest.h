/* Daily/weekly e-mail digest per agency: top priorities and open actions,
 * plain text + HTML (multipart/alternative), sent over SMTP. */
#ifndef ESCUCHA_ACTIONS_DIGEST_H
#define ESCUCHA_ACTIONS_DIGEST_H
#include <stdint.h>

#include "ac_smtp.h"

typedef struct ac_digest_prio {
  const char *topic, *label;
  long volume;
  double negative_share, score;
  const char *explanation; /* explanation_es/en of the priorities row; may be NULL */
} ac_digest_prio;

typedef struct ac_digest_action {
  const char *topic, *tool, *key, *url, *status; /* tool/key/url/status NULL: no ticket yet */
  double age_days;
  const char *label; /* topic label; may be NULL */
  /* The plan's tickets have not moved (status changes; none: since the plan
   * opened) for idle_days, at least the digest's stale_days, and are not all
   * done: the reminder of docs/actions.md "Stale plans". */
  int stale;
  double idle_days;
} ac_digest_action;

/* An urgent case (one urgent item; docs/actions.md "Cases"): its title (the
 * case row's summary: reason, channel, time — no citizen text) and ticket. */
typedef struct ac_digest_case {
  const char *title;
  const char *tool, *key, *url, *status; /* NULL: no ticket yet */
  const char *state;                     /* the case row: "open" | "closed" */
  double age_days;
} ac_digest_case;

/* Feedback received in the period (all topics of the agency). */
typedef struct ac_digest_totals {
  long feedback, negative;
  long nps_answers, csat_answers; /* 0: no NPS / CSAT line */
  double nps;                     /* points, -100..100 */
  double csat;                    /* % of answers 4-5 */
} ac_digest_totals;

typedef struct ac_digest {
  const char *agency, *period, *lang; /* period: "daily" | "weekly"; lang es|en */
  const ac_digest_prio *prios;
  int nprios;
  const ac_digest_action *actions;
  int nactions;
  const char *period_start, *period_last; /* "YYYY-MM-DD", first and last day; may be NULL */
  const ac_digest_totals *totals;         /* may be NULL */
  /* Urgent cases, shown first: those opened in the period and those still
   * open (newest first); cases_opened counts the period's. None: no section. */
  const ac_digest_case *cases;
  int ncases;
  long cases_opened;
  int stale_days; /* --stale-after, for the reminder line; 0: no reminders */
} ac_digest;

/* Renders subject, text and html (malloc'd). Every value is HTML-escaped in
 * the HTML part. 0 ok. */
int ac_digest_render(const ac_digest *d, char **subject, char **text, char **html);
/* Renders and sends to the recipients (a rendering failure is transient). */
ES_MUST_CHECK
ac_smtp_rc ac_digest_send(const ac_digest *d, const ac_smtp *s, const char *const *to, char *err, size_t errlen);

/* The period a digest sent at `now` reports: the last complete UTC day
 * (daily) or ISO week, Monday 00:00 UTC (weekly). start and end in seconds since
 * the epoch, end exclusive. -1 for an unknown period name. */
int ac_digest_period(const char *period, int64_t now_s, int64_t *start, int64_t *end);
/* Whether the digest of that period is due at now: now >= end + hour*3600. */
int ac_digest_due(int64_t end, int hour, int64_t now_s);
/* "YYYY-MM-DD" of t (UTC). */
void ac_digest_date(int64_t t, char out[11]);
#endif
