/* lib/process: process_* metrics from /proc and escucha_build_info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "metrics.h"
#include "process.h"
#include "kafka_lag.h"

static void test_read(void **st) {
  (void)st;
  es_process_stats a, b;
  assert_int_equal(es_process_read(&a), 0);
  double now = (double)time(NULL);
  assert_true(a.start_time > now - 3600 && a.start_time <= now + 1);
  assert_true(a.resident_bytes > 1024 * 1024); /* at least a MiB */
  assert_true(a.virtual_bytes >= a.resident_bytes);
  assert_true(a.open_fds >= 3 && a.max_fds > a.open_fds);
  /* an fd we open shows up */
  int fd = open("/dev/null", O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(es_process_read(&b), 0);
  assert_true(b.open_fds == a.open_fds + 1);
  close(fd);
  /* CPU time moves when we burn some */
  volatile double x = 0;
  for (long i = 0; i < 60000000; i++) x += (double)i * 1e-9;
  assert_int_equal(es_process_read(&b), 0);
  assert_true(b.cpu_seconds > a.cpu_seconds);
}

static void test_render(void **st) {
  (void)st;
  es_log_init("ingest", "info");
  size_t len;
  char *text = es_metrics_render(&len);
  assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
  assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
  assert_non_null(strstr(text, "\nprocess_open_fds "));
  assert_non_null(strstr(text, "\nprocess_max_fds "));
  assert_non_null(strstr(text, "\nprocess_start_time_seconds "));
  char want[128];
  snprintf(want, sizeof want, "escucha_build_info{service=\"ingest\",version=\"0.1.0\",commit=\"%s\"} 1\n",
           es_build_commit());
  assert_non_null(strstr(text, want));
  assert_true(strlen(es_build_commit()) > 0);
  assert_null(strstr(text, "escucha_state_disk_free_bytes"));
  free(text);
  es_process_watch_dir("/tmp");
  text = es_metrics_render(&len);
  assert_non_null(strstr(text, "escucha_state_disk_free_bytes{path=\"/tmp\"} "));
  assert_non_null(strstr(text, "escucha_state_disk_size_bytes{path=\"/tmp\"} "));
  es_process_watch_dir(NULL);
  free(text);
  es_metrics_reset();
}

static void test_remove_series(void **st) {
  (void)st;
  es_metric *g = es_gauge("t_lag", "Lag", "topic", "partition", NULL);
  es_metric_set(g, 5, "a", "0");
  es_metric_set(g, 7, "a", "1");
  es_metric_remove(g, "a", "0");
  es_metric_remove(g, "zz", "9"); /* absent: nothing happens */
  char *text = es_metrics_render(NULL);
  assert_null(strstr(text, "t_lag{topic=\"a\",partition=\"0\"}"));
  assert_non_null(strstr(text, "t_lag{topic=\"a\",partition=\"1\"} 7\n"));
  free(text);
  es_metrics_reset();
}

static void test_lag_from_stats(void **st) {
  (void)st;
  const char *doc =
      "{\"name\":\"c#consumer-1\",\"type\":\"consumer\",\"topics\":{\"escucha.feedback.ingested.v1\":{"
      "\"partitions\":{"
      "\"0\":{\"partition\":0,\"desired\":true,\"consumer_lag\":12,\"consumer_lag_stored\":15},"
      "\"1\":{\"partition\":1,\"desired\":true,\"consumer_lag\":4,\"consumer_lag_stored\":-1},"
      "\"2\":{\"partition\":2,\"desired\":false,\"consumer_lag\":9,\"consumer_lag_stored\":9},"
      "\"-1\":{\"partition\":-1,\"desired\":false,\"consumer_lag\":-1}}}}}";
  es_metric *g = es_gauge("escucha_kafka_consumer_lag", "", "group", "topic", "partition", NULL);
  es_metric_set(g, 99, "g1", "escucha.feedback.ingested.v1", "2"); /* owned before a rebalance */
  assert_int_equal(es_kafka_lag_apply("g1", doc, strlen(doc)), 2);
  char *text = es_metrics_render(NULL);
  assert_non_null(strstr(
      text, "escucha_kafka_consumer_lag{group=\"g1\",topic=\"escucha.feedback.ingested.v1\",partition=\"0\"} 15\n"));
  assert_non_null(strstr(text, "partition=\"1\"} 4\n")); /* stored unknown: the fetch position's lag */
  assert_null(strstr(text, "partition=\"2\"}"));         /* no longer ours: dropped */
  assert_null(strstr(text, "partition=\"-1\"}"));
  free(text);
  assert_int_equal(es_kafka_lag_apply("g1", "not json", 8), -1);
  assert_int_equal(es_kafka_lag_apply("g1", "{\"topics\":[]}", 13), -1);
  es_metrics_reset();
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_read), cmocka_unit_test(test_render),
                                     cmocka_unit_test(test_remove_series), cmocka_unit_test(test_lag_from_stats)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
