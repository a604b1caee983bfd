/* Durable side of the actions service: PostgreSQL (action_plans, actions,
 * audit_log, feedback for evidence) and the Redis creation lock. */
#ifndef ESCUCHA_AC_STORE_H
#define ESCUCHA_AC_STORE_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "plan.h"
#include "ticket.h"

typedef struct ac_db {
  PGconn *pg;
  redisContext *rds; /* may be NULL: the lock is then skipped (search + unique key remain) */
  char owner[40];    /* lock value: this process */
} ac_db;

/* ac_store over ac_db. */
void ac_db_store(ac_db *db, ac_store *out);
/* Plan row for a request: existing id by request_id, else inserts one. 0 ok. */
int ac_db_plan_upsert(ac_db *db, const char *request_id, ac_plan *p, const char *priority_json);
/* Loads up to max topic texts and background texts (last `days` days). The
 * arrays and strings are malloc'd; free with ac_db_docs_free. */
int ac_db_docs(ac_db *db, const char *agency, const char *topic, int days, ac_doc **topic_docs,
               size_t *nt, ac_doc **rest_docs, size_t *nr);
void ac_db_docs_free(ac_doc *d, size_t n);
/* Status change of a ticket (no-op when unchanged); writes closed_at when
 * done and an audit_log row in the same statement. Returns rows changed, -1. */
int ac_db_action_update(ac_db *db, const char *idem_key, int state, const char *status_name);
int ac_db_audit(ac_db *db, const char *entity, const char *id, const char *action, const char *detail_json);
#endif
