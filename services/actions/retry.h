/* Ticket retry schedule: open plans whose ticket could not be created yet
 * (a transient failure: timeout, connection error, 5xx, 429, breaker open,
 * Redis or PostgreSQL error). The durable side is the database itself — an
 * open plan with its request payload and no `actions` row is pending — so
 * this is only the backoff bookkeeping of one process: when to try each
 * pending plan next. After a restart every pending plan is simply found
 * again by the status pass (see docs/actions.md, "Transient failures").
 * Times are milliseconds on any monotonic clock the caller chooses. */
#ifndef ESCUCHA_ACTIONS_RETRY_H
#define ESCUCHA_ACTIONS_RETRY_H
#include <stddef.h>
#include <stdint.h>

typedef struct ac_pending {
  char plan[64];
  int attempts;    /* failed attempts seen by this process */
  int64_t next_ms; /* not before */
  int64_t seen_ms; /* last time the plan was found pending (or failed) */
} ac_pending;

typedef struct ac_sched {
  ac_pending *v;
  size_t n, cap;
  long base_ms;  /* delay after the first failure; doubles per failure */
  long max_ms;   /* ceiling */
  long grace_ms; /* a plan this process has not tried waits this long after its request */
} ac_sched;

void ac_sched_init(ac_sched *s, long base_ms, long max_ms, long grace_ms);
void ac_sched_free(ac_sched *s);
ac_pending *ac_sched_get(ac_sched *s, const char *plan);
/* Delay after `attempts` failures (>= 1): min(max, base*2^(attempts-1)),
 * equal jitter (uniform in [d/2, d]). */
long ac_sched_delay_ms(const ac_sched *s, int attempts);
/* A try failed transiently: attempts+1, next = now + delay. Returns the entry. */
ac_pending *ac_sched_failed(ac_sched *s, const char *plan, int64_t now_ms);
/* The status pass found the plan pending, its request `age_ms` old. An
 * unknown plan becomes due once the request is grace_ms old (the Kafka path
 * is probably handling it right now); a known one keeps its schedule. */
ac_pending *ac_sched_seen(ac_sched *s, const char *plan, int64_t age_ms, int64_t now_ms);
/* The plan has its ticket, was closed, or failed permanently. */
void ac_sched_done(ac_sched *s, const char *plan);
/* Plans due at now_ms, earliest first, at most max (copied into out). */
size_t ac_sched_due(const ac_sched *s, int64_t now_ms, char (*out)[64], size_t max);
/* Earliest next_ms, or INT64_MAX when nothing is scheduled. */
int64_t ac_sched_next(const ac_sched *s);
/* Drops entries not seen since before_ms (plans no longer pending). */
void ac_sched_prune(ac_sched *s, int64_t before_ms);
#endif
