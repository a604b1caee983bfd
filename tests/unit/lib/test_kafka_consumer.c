/* Group consumer settings of lib/kafka.c: the assignor every service's consumer uses,
 * and the refusal of cooperative-sticky where librdkafka aborts on it (#4312). No
 * broker is needed: creating a consumer does not connect before it is polled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"

#define NOWHERE "127.0.0.1:1"

static const char *const TOPICS[] = {"escucha.test.v1"};

static void strategy_of(rd_kafka_t *rk, char *out, size_t len) {
  size_t n = len;
  assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), "partition.assignment.strategy", out, &n), RD_KAFKA_CONF_OK);
}

/* Does this librdkafka abort destroying a cooperative-sticky consumer that never synced? */
static int affected(void) { return rd_kafka_version() < 0x020300ff; }

static void test_default_is_eager(void **st) {
  (void)st;
  char err[512] = "", v[256];
  rd_kafka_t *rk = es_kafka_consumer_new(NOWHERE, "g", "t", TOPICS, 1, NULL, err, sizeof err);
  assert_non_null(rk);
  strategy_of(rk, v, sizeof v);
  assert_string_equal(v, "range,roundrobin");
  es_kafka_consumer_close(rk);
  rk = es_kafka_consumer_new_txn(NOWHERE, "g", "t", TOPICS, 1, NULL, NULL, NULL, err, sizeof err);
  assert_non_null(rk);
  strategy_of(rk, v, sizeof v);
  assert_string_equal(v, "range,roundrobin");
  es_kafka_consumer_close(rk);
}

static void test_cooperative_sticky_refused_where_it_aborts(void **st) {
  (void)st;
  char err[512] = "";
  const char *const extra[] = {"partition.assignment.strategy", "cooperative-sticky", NULL};
  rd_kafka_t *rk = es_kafka_consumer_new(NOWHERE, "g", "t", TOPICS, 1, extra, err, sizeof err);
  if (affected()) {
    assert_null(rk);
    assert_non_null(strstr(err, "partition.assignment.strategy: cooperative-sticky"));
  } else {
    assert_non_null(rk);
  }
  es_kafka_consumer_close(rk);
  /* the operator's override is applied last: refused the same way */
  setenv("ESCUCHA_KAFKA_CONSUMER_CONFIG", "partition.assignment.strategy=roundrobin,cooperative-sticky", 1);
  err[0] = '\0';
  rk = es_kafka_consumer_new_txn(NOWHERE, "g", "t", TOPICS, 1, NULL, NULL, NULL, err, sizeof err);
  unsetenv("ESCUCHA_KAFKA_CONSUMER_CONFIG");
  if (affected()) {
    assert_null(rk);
    assert_non_null(strstr(err, "cooperative-sticky"));
  } else {
    /* librdkafka itself refuses mixing eager and cooperative assignors */
    assert_null(rk);
  }
  es_kafka_consumer_close(rk);
}

static void test_other_overrides_kept(void **st) {
  (void)st;
  char err[512] = "", v[256];
  setenv("ESCUCHA_KAFKA_CONSUMER_CONFIG", "partition.assignment.strategy=roundrobin", 1);
  rd_kafka_t *rk = es_kafka_consumer_new(NOWHERE, "g", "t", TOPICS, 1, NULL, err, sizeof err);
  unsetenv("ESCUCHA_KAFKA_CONSUMER_CONFIG");
  assert_non_null(rk);
  strategy_of(rk, v, sizeof v);
  assert_string_equal(v, "roundrobin");
  es_kafka_consumer_close(rk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_is_eager),
      cmocka_unit_test(test_cooperative_sticky_refused_where_it_aborts),
      cmocka_unit_test(test_other_overrides_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
