/* Durable side of the actions service: PostgreSQL (action_plans, actions,
 * audit_log, feedback for evidence) and the Redis creation lock. */
#ifndef ESCUCHA_ACTIONS_STORE_H
#define ESCUCHA_ACTIONS_STORE_H
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "plan.h"
#include "ticket.h"

typedef struct ac_db {
  PGconn *pg;
  redisContext *rds;     /* NULL while Redis is unreachable (reconnected on use) */
  const char *redis_url; /* NULL or "": no creation lock at all (search + unique key remain) */
  char owner[40];        /* lock value: this process */
} ac_db;

/* ac_store over ac_db. */
void ac_db_store(ac_db *db, ac_store *out);
/* Plan row for a request: existing id by request_id (or the open plan of the
 * agency and topic), else inserts one. The serialized request is kept in
 * request_pb (when the row has none) so the retry pass can rebuild the ticket;
 * detail (ac_plan_detail_json) is written with the due date (opened_at +
 * sla_days, returned in p->due) and p->reported gets the snapshot the ticket
 * was last told (kept across rebuilds);
 * request_sent_at is set (the request was delivered: the outbox never resends
 * it). plan_request_id gets the plan's own request_id (the ticket key derives
 * from it, so a plan adopted by a second request keeps one key). 0 ok. */
int ac_db_plan_upsert(ac_db *db, const char *request_id, ac_plan *p, const char *priority_json, const void *request_pb,
                      size_t request_len, char *plan_request_id, size_t idlen);
/* Plans that follow the problem: whether the change `hash` was already told
 * on the plan's ticket (audit_log `plan_updated`): 1 yes, 0 no, -1 error. */
int ac_db_change_told(ac_db *db, const char *plan, const char *hash);
/* Records a change told on the ticket: detail.reported = the plan's snapshot
 * and the `plan_updated` audit row (hash, tool, key), one statement. */
int ac_db_plan_reported(ac_db *db, const ac_plan *p, const char *hash, const char *tool, const char *ext_key);
/* Pending = open plan with its request payload (request_pb), no `actions`
 * row, whose last `ticket_pending` / `ticket_failed` audit row is
 * `ticket_pending` (written before the request's offset is stored). */
typedef struct ac_db_pending {
  char plan[64];
  long long age_ms; /* since it was marked pending */
} ac_db_pending;
/* Up to max pending plans with id > after, by id. Returns the count, -1. */
int ac_db_pending_scan(ac_db *db, const char *after, ac_db_pending *out, int max);
/* The request payload of a plan if it is still pending: 1 (*pb malloc'd),
 * 0 not pending any more, -1 error. */
int ac_db_pending_request(ac_db *db, const char *plan, void **pb, size_t *len);
/* Audit rows: `ticket_pending` (a transient failure; written once per pending
 * spell: not when the plan's last such row already is one) and
 * `ticket_failed` (permanent; the retry pass skips the plan from then on, until
 * a new request for it fails transiently). detail: tool, error, http_status.
 * 0 ok (also when nothing needed writing). */
int ac_db_ticket_pending(ac_db *db, const char *plan, const char *tool, const char *error, long http_status);
int ac_db_ticket_failed(ac_db *db, const char *plan, const char *tool, const char *error, long http_status);
/* Loads up to 500 topic texts (with subcategory and sentiment) and 3000
 * background texts (last `days` days). The arrays and strings are malloc'd;
 * free with ac_db_docs_free. */
int ac_db_docs(ac_db *db, const char *agency, const char *topic, int days, ac_doc **topic_docs, size_t *nt,
               ac_doc **rest_docs, size_t *nr);
void ac_db_docs_free(ac_doc *d, size_t n);
/* The topic's texts of the baseline window (the base_days before the last
 * days), at most 500, for "new words". Free with ac_db_docs_free. */
int ac_db_base_docs(ac_db *db, const char *agency, const char *topic, int days, int base_days, ac_doc **out, size_t *n);
/* Counts of the agency and the topic (evidence window of `days`, baseline of
 * the base_days before it) and the topic's breakdown per subcategory,
 * service, channel, address, weekday and hour (one GROUP BY GROUPING SETS
 * query; cells of other dimensions with fewer than 5 items are left out).
 * st->cells malloc'd: ac_stats_free. 0 ok, -1 error. */
int ac_db_stats(ac_db *db, const char *agency, const char *topic, int days, int base_days, ac_stats *st);
/* Status change of a ticket (no-op when unchanged); writes closed_at when
 * done and an audit_log row in the same statement. Returns rows changed, -1. */
int ac_db_action_update(ac_db *db, const char *idem_key, int state, const char *status_name);
int ac_db_audit(ac_db *db, const char *entity, const char *id, const char *action, const char *detail_json);

/* ---- cases (urgent items; case.h) ---- */
struct ac_case;
/* The case's plan row (kind 'case', feedback_id), by its request_id: the
 * existing one, else a new one with the serialized request (request_pb) so the
 * retry pass and a restart redeliver it. summary: the ticket title (no
 * citizen text); priority_json: ac_case_priority_json. c->id gets the plan id.
 * 0 ok, -1 PostgreSQL. */
int ac_db_case_upsert(ac_db *db, const char *request_id, struct ac_case *c, const char *summary,
                      const char *priority_json, const void *request_pb, size_t request_len);
/* ac_store for the on-call alert: the same lookup (actions by idempotency
 * key), but the record is an `actions` row with status 'done' (delivered;
 * the status pass skips it) and detail {"role":"oncall"}, and its audit row
 * says `oncall_notified`. The unique idempotency key makes it once per case. */
void ac_db_oncall_store(ac_db *db, ac_store *out);
/* A case is pending while its last `ticket_pending` / `ticket_failed` /
 * `case_delivered` audit row is `ticket_pending` (a case has up to two
 * deliveries, so "no actions row" cannot say it). mark "ticket_pending" writes
 * one unless that is already the last; "case_delivered" writes one only when
 * the case was pending. 0 ok (also when nothing needed writing). */
int ac_db_case_mark(ac_db *db, const char *plan, const char *action, const char *tool, const char *error,
                    long http_status);
/* The case's ticket is done: the case row is closed too (plans are closed by
 * prioritize, by score; a case has no score). No-op for a plan. 0 ok. */
int ac_db_case_close(ac_db *db, const char *plan);
/* As ac_db_pending_scan / ac_db_pending_request, for cases. */
int ac_db_case_pending_scan(ac_db *db, ac_db_pending *out, int max);
int ac_db_case_pending_request(ac_db *db, const char *plan, void **pb, size_t *len);
#endif
