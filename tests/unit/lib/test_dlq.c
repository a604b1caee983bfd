/* lib/kafka: the shared dead-letter send (es_kafka_dlq_send) and its bounded
 * back-pressure. No broker: the producer points at a closed port and its
 * local queue holds one message, so the queue stays full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "kafka.h"
#include "util.h"

static int reports; /* delivery reports served (by the send's polling or close) */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk, (void)m, (void)opaque;
  reports++;
}

static rd_kafka_t *full_producer(void) {
  static const char *const extra[] = {"queue.buffering.max.messages", "1", "message.timeout.ms", "60000", NULL};
  char err[256];
  rd_kafka_t *p = es_kafka_producer_new("127.0.0.1:1", "test-dlq", on_dr, NULL, extra, err, sizeof err);
  assert_non_null(p);
  /* the one slot of the local queue */
  assert_int_equal(es_kafka_dlq_send(p, "k", 1, "first", 5, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  return p;
}

static void test_queue_full_waits_bounded(void **state) {
  (void)state;
  rd_kafka_t *p = full_producer();
  /* wait 0: one attempt, the error as it is */
  int64_t t0 = es_mono_ms();
  assert_int_equal(es_kafka_dlq_send(p, "k", 1, "second", 6, NULL, 0), RD_KAFKA_RESP_ERR__QUEUE_FULL);
  /* 250 ms: polls and retries until the deadline, then gives the queue-full result */
  t0 = es_mono_ms();
  assert_int_equal(es_kafka_dlq_send(p, "k", 1, "second", 6, NULL, 250), RD_KAFKA_RESP_ERR__QUEUE_FULL);
  int64_t waited = es_mono_ms() - t0;
  assert_true(waited >= 250);
  assert_true(waited < 5000); /* bounded (a generous margin for a loaded machine) */
  /* stopping cuts the wait short */
  es_stopping = 1;
  t0 = es_mono_ms();
  assert_int_equal(es_kafka_dlq_send(p, "k", 1, "second", 6, NULL, 60000), RD_KAFKA_RESP_ERR__QUEUE_FULL);
  assert_true(es_mono_ms() - t0 < 5000);
  es_stopping = 0;
  es_kafka_producer_close(p, 0); /* purges "first": its failure report is served */
  assert_int_equal(reports, 1);
}

static void test_dead_letter_goes_through_the_send(void **state) {
  (void)state;
  reports = 0;
  rd_kafka_t *p = full_producer();
  /* es_kafka_dlq packs the DeadLetter and uses the same send: with a full
   * queue and es_stopping set it returns queue-full at once */
  es_stopping = 1;
  assert_int_equal(es_kafka_dlq(p, "test", "why", NULL, "orig", 4, NULL), RD_KAFKA_RESP_ERR__QUEUE_FULL);
  es_stopping = 0;
  es_kafka_producer_close(p, 0);
  assert_int_equal(reports, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue_full_waits_bounded),
      cmocka_unit_test(test_dead_letter_goes_through_the_send),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
