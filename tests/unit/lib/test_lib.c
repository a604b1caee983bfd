#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "metrics.h"
#include "rds.h"
#include "util.h"

static void test_metrics_render(void **st) {
  (void)st;
  es_metric *c = es_counter("t_requests_total", "Requests", "route", "status", NULL);
  es_metric *h = es_histogram("t_latency_seconds", "Latency", (const double[]){0.1, 1}, 2, NULL);
  es_metric_add(c, 1, "feedback", "202");
  es_metric_add(c, 2, "feedback", "202");
  es_metric_add(c, 1, "a\"b\\c", "400");
  es_metric_observe(h, 0.05);
  es_metric_observe(h, 0.5);
  es_metric_observe(h, 5);
  assert_true(es_metric_value(c, "feedback", "202") == 3);
  size_t len;
  char *text = es_metrics_render(&len);
  assert_non_null(strstr(text, "# TYPE t_requests_total counter\n"));
  assert_non_null(strstr(text, "t_requests_total{route=\"feedback\",status=\"202\"} 3\n"));
  assert_non_null(strstr(text, "t_requests_total{route=\"a\\\"b\\\\c\",status=\"400\"} 1\n"));
  assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"0.1\"} 1\n"));
  assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"1\"} 2\n"));
  assert_non_null(strstr(text, "t_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  assert_non_null(strstr(text, "t_latency_seconds_count 3\n"));
  assert_int_equal(len, strlen(text));
  free(text);
  es_metrics_reset();
}

static void test_ulid_sortable_and_unique(void **st) {
  (void)st;
  char prev[27] = "", id[27];
  for (int i = 0; i < 10000; i++) {
    es_ulid(id);
    assert_int_equal(strlen(id), 26);
    assert_true(strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == 26);
    assert_true(strcmp(prev, id) < 0); /* strictly increasing, even within one ms */
    memcpy(prev, id, 27);
  }
}

static void test_json_escape(void **st) {
  (void)st;
  es_buf b = {0};
  es_buf_json_str(&b, "a\"b\\\n\x01ñ", 8);
  assert_string_equal(b.data, "\"a\\\"b\\\\\\n\\u0001ñ\"");
  es_buf_free(&b);
}

static void test_redis_url(void **st) {
  (void)st;
  char host[64];
  int port, db;
  assert_int_equal(es_redis_parse_url("redis://127.0.0.1:16379/2", host, sizeof host, &port, &db), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 16379);
  assert_int_equal(db, 2);
  assert_int_equal(es_redis_parse_url("redis://cache", host, sizeof host, &port, &db), 0);
  assert_int_equal(port, 6379);
  assert_int_equal(es_redis_parse_url("http://x", host, sizeof host, &port, &db), -1);
  assert_int_equal(es_redis_parse_url("redis://h:99999", host, sizeof host, &port, &db), -1);
}

/* The aborting wrappers' normal path (their out-of-memory end aborts: not faked here). */
/* A deadline whose milliseconds carry into the next second stays normalised. */
static void test_realtime_after_ms(void **st) {
  (void)st;
  for (long ms = 0; ms <= 2999; ms += 7) {
    int64_t before = es_now_ms();
    struct timespec ts;
    es_realtime_after_ms(&ts, ms);
    assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    int64_t at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(at >= before + ms);
    assert_true(at <= es_now_ms() + ms);
  }
}

static void test_x_alloc(void **st) {
  (void)st;
  char *s = es_xstrdup("agencia");
  assert_string_equal(s, "agencia");
  free(s);
  assert_null(es_xstrdup(NULL)); /* like es_strdup */
  s = es_xstrndup("abcdef", 3);
  assert_string_equal(s, "abc");
  free(s);
  int *v = es_xcalloc(4, sizeof *v);
  assert_int_equal(v[0] | v[1] | v[2] | v[3], 0);
  v = es_xrealloc(v, 8 * sizeof *v);
  v[7] = 7;
  assert_int_equal(v[7], 7);
  free(v);
  void *z = es_xmalloc(0); /* size 0: a real, freeable pointer */
  assert_non_null(z);
  free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_render), cmocka_unit_test(test_ulid_sortable_and_unique),
      cmocka_unit_test(test_json_escape),    cmocka_unit_test(test_redis_url),
      cmocka_unit_test(test_x_alloc),        cmocka_unit_test(test_realtime_after_ms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
