/* Idempotent ticket creation: never two tickets for one plan.
 *   1. the store already has a ticket for the key        -> reuse it
 *   2. take the short lock (Redis SET NX PX)              -> else retry later
 *   3. search the tool for the key (label/tag/marker)     -> found: record it
 *   4. create, then record (INSERT … ON CONFLICT DO NOTHING on the unique key)
 * A crash between 4's create and record is healed by 3 on the next attempt.
 * ESCUCHA_CRASH_AT=<point> kills the process with SIGKILL at that point
 * (after_lock, after_search, after_create, after_record) for tests. */
#ifndef ESCUCHA_ACTIONS_TICKET_H
#define ESCUCHA_ACTIONS_TICKET_H
#include "ac_conn.h"

typedef struct ac_store {
  void *ctx;
  /* 1 found (t filled), 0 none, -1 error */
  int (*lookup)(void *ctx, const char *idem_key, ac_ticket *t);
  /* records the ticket; a second record of the same key is a no-op. 0 ok */
  int (*record)(void *ctx, const char *plan_id, const char *tool, const char *idem_key, const ac_ticket *t);
  /* 1 acquired, 0 held elsewhere, -1 error (Redis down: the creation is a
   * transient failure and is retried later; without the lock two replicas
   * could both search, find nothing and create). NULL: no lock at all. */
  int (*lock)(void *ctx, const char *idem_key, long ttl_ms);
  void (*unlock)(void *ctx, const char *idem_key);
} ac_store;

/* AC_OK with out filled (created=1 when this call opened it), or an AC_E*. */
int ac_ensure_ticket(ac_conn *c, const ac_store *s, const char *plan_id, const ac_issue *is, long lock_ttl_ms,
                     ac_ticket *out, int *created, ac_error *err);
/* Whether a failure of ac_ensure_ticket is final (the vendor said no, or the
 * connector is misconfigured): DLQ + audit. Everything else is transient:
 * the plan stays pending and the retry pass tries again. */
int ac_ticket_permanent(int rc);
/* Test hook, tests only (--crash-at / ESCUCHA_CRASH_AT): SIGKILL self when ac_crash_at equals point (set from the option). */
extern const char *ac_crash_at;
void ac_crash_point(const char *point);
#endif
