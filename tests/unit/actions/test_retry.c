/* Transient ticket failures are never final: the retry schedule of pending
 * plans (backoff, grace, due order, pruning), the split between transient
 * and permanent failures, and repeated ac_ensure_ticket calls against a tool
 * that fails (or times out after creating) before it succeeds: exactly one
 * ticket. In-memory store and connector; no network, no waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "retry.h"
#include "ticket.h"

/* ---- schedule ---- */

static void test_delay_doubles_with_equal_jitter(void **st) {
  (void)st;
  ac_sched s;
  ac_sched_init(&s, 1000, 8000, 0);
  for (int i = 0; i < 200; i++) {
    long d1 = ac_sched_delay_ms(&s, 1), d2 = ac_sched_delay_ms(&s, 2), d3 = ac_sched_delay_ms(&s, 3);
    long d9 = ac_sched_delay_ms(&s, 9), dbig = ac_sched_delay_ms(&s, 1000000);
    assert_true(d1 >= 500 && d1 <= 1000);
    assert_true(d2 >= 1000 && d2 <= 2000);
    assert_true(d3 >= 2000 && d3 <= 4000);
    assert_true(d9 >= 4000 && d9 <= 8000); /* ceiling */
    assert_true(dbig >= 4000 && dbig <= 8000);
  }
  ac_sched_free(&s);
}

static void test_failed_plans_come_back_with_backoff(void **st) {
  (void)st;
  ac_sched s;
  char due[8][64];
  ac_sched_init(&s, 1000, 60000, 30000);
  ac_pending *p = ac_sched_failed(&s, "plan-a", 10000);
  assert_non_null(p);
  assert_int_equal(p->attempts, 1);
  assert_true(p->next_ms >= 10500 && p->next_ms <= 11000);
  assert_int_equal(ac_sched_due(&s, 10499, due, 8), 0);
  assert_int_equal(ac_sched_due(&s, 11000, due, 8), 1);
  assert_string_equal(due[0], "plan-a");
  p = ac_sched_failed(&s, "plan-a", 11000); /* the retry failed too */
  assert_int_equal(p->attempts, 2);
  assert_true(p->next_ms >= 12000 && p->next_ms <= 13000);
  assert_int_equal(ac_sched_next(&s), p->next_ms);
  /* found again by the scan: keeps its own schedule, not the grace */
  assert_ptr_equal(ac_sched_seen(&s, "plan-a", 999999, 11500), p);
  assert_int_equal(p->attempts, 2);
  assert_true(p->next_ms >= 12000);
  ac_sched_done(&s, "plan-a"); /* ticket opened */
  assert_null(ac_sched_get(&s, "plan-a"));
  assert_int_equal(ac_sched_next(&s), INT64_MAX);
  ac_sched_free(&s);
}

static void test_unknown_pending_plans_wait_for_the_grace(void **st) {
  (void)st;
  ac_sched s;
  char due[8][64];
  ac_sched_init(&s, 1000, 60000, 30000);
  ac_sched_seen(&s, "young", 5000, 100000);  /* request 5 s old: Kafka is probably on it */
  ac_sched_seen(&s, "old", 3600000, 100000); /* an hour old, e.g. after a restart */
  assert_int_equal(ac_sched_due(&s, 100000, due, 8), 1);
  assert_string_equal(due[0], "old");
  assert_int_equal(ac_sched_get(&s, "young")->next_ms, 125000);
  assert_int_equal(ac_sched_due(&s, 125000, due, 8), 2);
  assert_string_equal(due[0], "old"); /* earliest first */
  assert_string_equal(due[1], "young");
  assert_int_equal(ac_sched_due(&s, 125000, due, 1), 1); /* bounded */
  ac_sched_free(&s);
}

static void test_prune_drops_plans_no_longer_pending(void **st) {
  (void)st;
  ac_sched s;
  char due[8][64];
  ac_sched_init(&s, 1000, 60000, 0);
  ac_sched_failed(&s, "gone", 1000); /* got its ticket elsewhere */
  ac_sched_seen(&s, "still", 0, 1000);
  ac_sched_seen(&s, "still", 0, 5000); /* seen in the new cycle */
  ac_sched_failed(&s, "fresh", 6000);  /* failed during the cycle */
  ac_sched_prune(&s, 4000);
  assert_null(ac_sched_get(&s, "gone"));
  assert_non_null(ac_sched_get(&s, "still"));
  assert_non_null(ac_sched_get(&s, "fresh"));
  assert_int_equal(ac_sched_due(&s, 1000000, due, 8), 2);
  ac_sched_free(&s);
}

static void test_many_plans(void **st) {
  (void)st;
  ac_sched s;
  static char due[1000][64];
  ac_sched_init(&s, 10, 100, 0);
  char id[64];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "p%04d", i);
    ac_sched_seen(&s, id, 0, i);
  }
  assert_int_equal(s.n, 1000);
  assert_int_equal(ac_sched_due(&s, 499, due, 1000), 500);
  for (int i = 0; i < 500; i++) {
    snprintf(id, sizeof id, "p%04d", i);
    assert_string_equal(due[i], id);
    ac_sched_done(&s, id);
  }
  assert_int_equal(s.n, 500);
  assert_int_equal(ac_sched_next(&s), 500);
  ac_sched_free(&s);
}

/* ---- transient vs permanent ---- */

static void test_only_definitive_refusals_are_permanent(void **st) {
  (void)st;
  long perm[] = {400, 401, 403, 404, 405, 410, 422, 301, 302};
  long trans[] = {408, 409, 423, 425, 429, 500, 502, 503, 504, 0, 200};
  for (size_t i = 0; i < sizeof perm / sizeof perm[0]; i++) assert_true(ac_http_permanent(perm[i]));
  for (size_t i = 0; i < sizeof trans / sizeof trans[0]; i++) assert_false(ac_http_permanent(trans[i]));
  assert_true(ac_ticket_permanent(AC_EPERM));
  assert_true(ac_ticket_permanent(AC_ECONFIG));
  assert_false(ac_ticket_permanent(AC_ETRANSIENT));
  assert_false(ac_ticket_permanent(AC_EBREAKER));
}

/* ---- repeated ensure against a flaky tool ---- */

typedef struct fake {
  int fail_creates; /* next creates that fail transiently (nothing created) */
  int lost_creates; /* next creates that create but "time out" (the answer is lost) */
  int fail_records; /* next records that fail (database down) */
  int lock_rc;      /* what lock answers */
  int tickets;      /* tickets at the tool carrying the key */
  int creates, finds;
  int recorded; /* rows in the store */
  char rec_key[128];
} fake;
static fake F;

static int f_create(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err) {
  (void)c, (void)is;
  F.creates++;
  if (F.fail_creates > 0) {
    F.fail_creates--;
    snprintf(err->msg, sizeof err->msg, "HTTP 503");
    return AC_ETRANSIENT;
  }
  F.tickets++;
  if (F.lost_creates > 0) {
    F.lost_creates--;
    snprintf(err->msg, sizeof err->msg, "Timeout was reached");
    return AC_ETRANSIENT;
  }
  snprintf(out->key, sizeof out->key, "T-%d", F.tickets);
  out->state = AC_ST_OPEN;
  return AC_OK;
}

static int f_find(ac_conn *c, const char *key, ac_ticket *out, ac_error *err) {
  (void)c, (void)key, (void)err;
  F.finds++;
  if (!F.tickets) return AC_NOTFOUND;
  snprintf(out->key, sizeof out->key, "T-%d", F.tickets);
  out->state = AC_ST_OPEN;
  return AC_OK;
}

static int f_status(ac_conn *c, const char *ext, ac_ticket *out, ac_error *err) {
  (void)c, (void)ext, (void)out, (void)err;
  return AC_ETRANSIENT;
}

static const ac_connector_ops FAKE_OPS = {"fake", f_create, f_find, f_status};

static int s_lookup(void *ctx, const char *key, ac_ticket *t) {
  (void)ctx, (void)key;
  if (!F.recorded) return 0;
  snprintf(t->key, sizeof t->key, "%s", F.rec_key);
  return 1;
}

static int s_record(void *ctx, const char *plan, const char *tool, const char *key, const ac_ticket *t) {
  (void)ctx, (void)plan, (void)tool, (void)key;
  if (F.fail_records > 0) {
    F.fail_records--;
    return -1;
  }
  if (!F.recorded) snprintf(F.rec_key, sizeof F.rec_key, "%s", t->key);
  F.recorded = 1;
  return 0;
}

static int s_lock(void *ctx, const char *key, long ttl) {
  (void)ctx, (void)key, (void)ttl;
  return F.lock_rc;
}

static void s_unlock(void *ctx, const char *key) { (void)ctx, (void)key; }

static const ac_store STORE = {NULL, s_lookup, s_record, s_lock, s_unlock};

static int ensure(ac_ticket *t, int *created) {
  ac_conn c = {.ops = &FAKE_OPS};
  ac_issue is = {"esk-0123456789abcdef0123456789abcdef", "title", "body", NULL, "ag", "topic"};
  ac_error err = {0};
  return ac_ensure_ticket(&c, &STORE, "plan-1", &is, 1000, t, created, &err);
}

/* The retry pass calls ensure again until it succeeds. */
static int ensure_until_ok(int max, int *calls, ac_ticket *t) {
  int created = 0, rc = AC_ETRANSIENT;
  for (*calls = 0; *calls < max && rc != AC_OK; (*calls)++) {
    rc = ensure(t, &created);
    assert_true(rc == AC_OK || !ac_ticket_permanent(rc));
  }
  return rc;
}

static void test_transient_creates_then_one_ticket(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  F.lock_rc = 1;
  F.fail_creates = 3; /* 503 beyond the HTTP retry budget, three passes in a row */
  ac_ticket t;
  int calls;
  assert_int_equal(ensure_until_ok(10, &calls, &t), AC_OK);
  assert_int_equal(calls, 4);
  assert_int_equal(F.tickets, 1);
  assert_int_equal(F.creates, 4);
  assert_int_equal(F.recorded, 1);
  assert_string_equal(t.key, "T-1");
  /* and again: the store answers, the tool is not asked */
  int created = 1;
  assert_int_equal(ensure(&t, &created), AC_OK);
  assert_int_equal(created, 0);
  assert_int_equal(F.creates, 4);
}

static void test_timeout_after_create_is_adopted(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  F.lock_rc = 1;
  F.lost_creates = 1; /* created at the tool, the answer timed out */
  ac_ticket t;
  int calls;
  assert_int_equal(ensure_until_ok(10, &calls, &t), AC_OK);
  assert_int_equal(calls, 2);
  assert_int_equal(F.tickets, 1); /* the retry found it by its key */
  assert_int_equal(F.creates, 1);
  assert_string_equal(t.key, "T-1");
}

static void test_record_failure_then_adopted(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  F.lock_rc = 1;
  F.fail_records = 2; /* PostgreSQL down after the create */
  ac_ticket t;
  int calls;
  assert_int_equal(ensure_until_ok(10, &calls, &t), AC_OK);
  assert_int_equal(calls, 3);
  assert_int_equal(F.tickets, 1);
  assert_int_equal(F.creates, 1);
}

static void test_redis_error_is_transient(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  F.lock_rc = -1; /* Redis unreachable: no create without the lock */
  ac_ticket t;
  int created;
  for (int i = 0; i < 3; i++) assert_int_equal(ensure(&t, &created), AC_ETRANSIENT);
  assert_int_equal(F.creates + F.finds, 0);
  F.lock_rc = 0; /* held by another worker */
  assert_int_equal(ensure(&t, &created), AC_ETRANSIENT);
  assert_int_equal(F.creates + F.finds, 0);
  F.lock_rc = 1; /* back */
  assert_int_equal(ensure(&t, &created), AC_OK);
  assert_int_equal(created, 1);
  assert_int_equal(F.tickets, 1);
  /* a store without a lock at all (no Redis configured) proceeds */
  memset(&F, 0, sizeof F);
  ac_store nolock = STORE;
  nolock.lock = NULL;
  nolock.unlock = NULL;
  ac_conn c = {.ops = &FAKE_OPS};
  ac_issue is = {"esk-0123456789abcdef0123456789abcdef", "title", "body", NULL, "ag", "topic"};
  ac_error err = {0};
  assert_int_equal(ac_ensure_ticket(&c, &nolock, "plan-1", &is, 1000, &t, &created, &err), AC_OK);
  assert_int_equal(F.tickets, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delay_doubles_with_equal_jitter),
      cmocka_unit_test(test_failed_plans_come_back_with_backoff),
      cmocka_unit_test(test_unknown_pending_plans_wait_for_the_grace),
      cmocka_unit_test(test_prune_drops_plans_no_longer_pending),
      cmocka_unit_test(test_many_plans),
      cmocka_unit_test(test_only_definitive_refusals_are_permanent),
      cmocka_unit_test(test_transient_creates_then_one_ticket),
      cmocka_unit_test(test_timeout_after_create_is_adopted),
      cmocka_unit_test(test_record_failure_then_adopted),
      cmocka_unit_test(test_redis_error_is_transient),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
