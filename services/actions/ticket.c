/* Idempotent ticket creation flow (see ticket.h). */
#include "ticket.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ac_crash_at;

void ac_crash_point(const char *point) {
  const char *at = ac_crash_at;
  if (at && strcmp(at, point) == 0) raise(SIGKILL);
}

int ac_ticket_permanent(int rc) { return rc == AC_EPERM || rc == AC_ECONFIG; }

int ac_ensure_ticket(ac_conn *c, const ac_store *s, const char *plan_id, const ac_issue *is, long lock_ttl_ms,
                     ac_ticket *out, int *created, ac_error *err) {
  int rc, locked = 0;
  *created = 0;
  memset(out, 0, sizeof *out);
  int have = s->lookup(s->ctx, is->idem_key, out);
  if (have == 1) return AC_OK;
  if (have < 0) {
    snprintf(err->msg, sizeof err->msg, "store lookup failed");
    return AC_ETRANSIENT;
  }
  int lk = s->lock ? s->lock(s->ctx, is->idem_key, lock_ttl_ms) : 2;
  if (lk == 0) {
    snprintf(err->msg, sizeof err->msg, "another worker is creating this ticket");
    return AC_ETRANSIENT;
  }
  if (lk < 0) {
    snprintf(err->msg, sizeof err->msg, "creation lock unavailable (Redis)");
    return AC_ETRANSIENT;
  }
  locked = lk == 1;
  ac_crash_point("after_lock");
  /* Re-check under the lock: another worker may have finished meanwhile. */
  if (s->lookup(s->ctx, is->idem_key, out) == 1) {
    rc = AC_OK;
    goto cleanup;
  }
  rc = c->ops->find_by_key(c, is->idem_key, out, err);
  ac_crash_point("after_search");
  if (rc == AC_OK) goto record; /* created before a crash: adopt it */
  if (rc != AC_NOTFOUND) goto cleanup;
  rc = c->ops->create(c, is, out, err);
  if (rc != AC_OK) goto cleanup;
  *created = 1;
  ac_crash_point("after_create");
record:
  if (s->record(s->ctx, plan_id, c->ops->tool, is->idem_key, out) != 0) {
    /* The ticket exists and carries the key: the next attempt adopts it. */
    snprintf(err->msg, sizeof err->msg, "ticket %s created but not recorded yet", out->key);
    rc = AC_ETRANSIENT;
    goto cleanup;
  }
  ac_crash_point("after_record");
  rc = AC_OK;
cleanup:
  if (locked && s->unlock) s->unlock(s->ctx, is->idem_key);
  return rc;
}
