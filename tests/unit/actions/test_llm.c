/* Optional LLM summary rewrite against tests/contract/llm_server.py: a canned
 * completion replaces the summaries; 500, a hang (client timeout), garbage, a
 * number not in the evidence, a wrong token and an unreachable server all
 * keep the extractive text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm.h"
#include "contract_util.h"

static tc_server g_srv;

static int setup(void **st) {
  (void)st;
  const char *args[] = {"--token", "sk-test", NULL};
  return tc_start(&g_srv, "llm_server.py", args);
}

static int teardown(void **st) {
  (void)st;
  tc_stop(&g_srv);
  return 0;
}

static void make_plan(ac_plan *p) {
  memset(p, 0, sizeof *p);
  strcpy(p->agency, "demo");
  strcpy(p->topic, "waiting_times");
  strcpy(p->label_es, "Tiempos de espera");
  strcpy(p->label_en, "Waiting times");
  p->ev.volume = 8;
  p->ev.negative_share = 0.75;
  p->ev.neg_ci_low = 0.41;
  p->ev.neg_ci_high = 0.93;
  p->ev.rank = 1;
  p->ev.score = 0.81;
  p->recs[p->nrecs++] = strdup("Publicar tiempos de espera");
  p->quotes[0].text = strdup("Esperé tres horas en la fila");
  p->nquotes = 1;
  assert_int_equal(ac_plan_summarize(p), 0);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs one rewrite against mode; returns the rewrite's result. */
static int rewrite(const char *mode, const char *token, long timeout_ms, ac_plan *p, char *why, size_t wl) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/%s/v1/chat/completions", g_srv.port, mode);
  ac_llm l;
  ac_llm_init(&l, url, "tiny-test", token, timeout_ms);
  return ac_llm_rewrite(&l, p, why, wl);
}

static void test_ok_replaces_summaries(void **st) {
  (void)st;
  ac_plan p;
  make_plan(&p);
  char why[300] = "";
  assert_int_equal(rewrite("ok", "sk-test", 5000, &p, why, sizeof why), 0);
  assert_non_null(strstr(p.summary_es, "REESCRITO:"));
  assert_non_null(strstr(p.summary_en, "REWRITTEN:"));
  /* the request: model, bearer, the summary; never the citizen quote */
  char *seen = NULL;
  assert_int_equal(tc_http(g_srv.port, "GET", "/__requests", NULL, &seen), 200);
  assert_non_null(strstr(seen, "Bearer sk-test"));
  assert_non_null(strstr(seen, "tiny-test"));
  assert_non_null(strstr(seen, "Tiempos de espera"));
  assert_null(strstr(seen, "tres horas"));
  free(seen);
  ac_plan_free(&p);
}

static void expect_kept(const char *mode, const char *token, long timeout_ms, const char *reason) {
  ac_plan p;
  make_plan(&p);
  char *before = strdup(p.summary_es);
  char why[300] = "";
  int64_t t0 = mono_ms();
  assert_int_equal(rewrite(mode, token, timeout_ms, &p, why, sizeof why), -1);
  assert_true(mono_ms() - t0 < timeout_ms + 2000);
  assert_string_equal(p.summary_es, before);
  if (!strstr(why, reason)) fail_msg("%s: reason '%s' lacks '%s'", mode, why, reason);
  free(before);
  ac_plan_free(&p);
}

static void test_500_keeps_extractive(void **st) {
  (void)st;
  expect_kept("500", "sk-test", 5000, "HTTP 500");
}

static void test_hang_times_out(void **st) {
  (void)st;
  expect_kept("hang", "sk-test", 700, "llm:");
}

static void test_garbage_keeps_extractive(void **st) {
  (void)st;
  expect_kept("garbage", "sk-test", 5000, "not a JSON object");
}

static void test_invented_number_rejected(void **st) {
  (void)st;
  expect_kept("badnum", "sk-test", 5000, "4321");
}

static void test_wrong_token(void **st) {
  (void)st;
  expect_kept("ok", "sk-wrong", 5000, "HTTP 401");
}

static void test_unreachable(void **st) {
  (void)st;
  ac_plan p;
  make_plan(&p);
  ac_llm l;
  char why[300] = "";
  ac_llm_init(&l, "http://127.0.0.1:1/v1/chat/completions", NULL, NULL, 1000);
  assert_int_equal(ac_llm_rewrite(&l, &p, why, sizeof why), -1);
  assert_non_null(strstr(p.summary_es, "8 comentarios"));
  ac_plan_free(&p);
}

static void test_parse_grounding(void **st) {
  (void)st;
  const char *src = "8 comentarios; 75% negativos (IC 95% 41–93%). Prioridad #1 (puntaje 0.81).";
  char *es, *en, why[200];
  const char *good =
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"es\\\":\\\"Hay 8 comentarios, 75% negativos, "
      "puntaje 0,81.\\\",\\\"en\\\":\\\"There are 8 comments, 75% negative.\\\"}\"}}]}";
  assert_int_equal(ac_llm_parse_response(good, strlen(good), src, NULL, &es, &en, why, sizeof why), 0);
  free(es);
  free(en);
  const char *bad =
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"es\\\":\\\"Hay 9 comentarios negativos.\\\","
      "\\\"en\\\":\\\"There are 8 comments.\\\"}\"}}]}";
  assert_int_equal(ac_llm_parse_response(bad, strlen(bad), src, NULL, &es, &en, why, sizeof why), -1);
  assert_non_null(strstr(why, "(9)"));
  assert_int_equal(ac_llm_parse_response("{}", 2, src, NULL, &es, &en, why, sizeof why), -1);
  assert_int_equal(ac_llm_parse_response(NULL, 0, src, NULL, &es, &en, why, sizeof why), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_grounding),
      cmocka_unit_test(test_ok_replaces_summaries),
      cmocka_unit_test(test_500_keeps_extractive),
      cmocka_unit_test(test_hang_times_out),
      cmocka_unit_test(test_garbage_keeps_extractive),
      cmocka_unit_test(test_invented_number_rejected),
      cmocka_unit_test(test_wrong_token),
      cmocka_unit_test(test_unreachable),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
