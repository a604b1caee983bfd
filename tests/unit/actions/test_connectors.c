/* Contract tests: every connector against tests/contract/vendor_server.py,
 * which checks method, path, headers and body against the vendor's documented
 * API and answers with the vendor's documented success and error shapes
 * (401, 404, 422, 429 + Retry-After, 500, 503). Sleeping is injected, so the
 * retry delays are recorded instead of waited for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "plan.h"
#include "contract_util.h"

static tc_server g_srv;
static long g_sleeps[64];
static int g_nsleeps;

static void fake_sleep(void *ctx, long ms) {
  (void)ctx;
  if (g_nsleeps < 64) g_sleeps[g_nsleeps++] = ms;
}

typedef struct vcase {
  const char *tool;
  const char *msg401, *msg422; /* substrings of the vendor's error message */
  const char *status_method;   /* HTTP method used for status reads */
  int post_idempotent;         /* create may be retried on 5xx (webhook: Idempotency-Key) */
  int searchable;              /* find_by_key is meaningful */
} vcase;

static const vcase CASES[] = {
    {"jira", "Client must be authenticated", "You must specify a summary", "GET", 0, 1},
    {"github", "Bad credentials", "Validation Failed; title missing_field", "GET", 0, 1},
    {"gitlab", "401 Unauthorized", "title: can't be blank", "GET", 0, 1},
    {"redmine", "no error body", "Subject cannot be blank", "GET", 0, 1},
    {"asana", "Not Authorized", "Not a recognized ID", "GET", 0, 1},
    {"clickup", "Token invalid", "Task name invalid", "GET", 0, 1},
    {"monday", "Not Authenticated", "Board not found", "POST", 0, 1},
    {"trello", "invalid token", "invalid value for idList", "GET", 0, 1},
    {"webhook", "status 401", "status 422", "GET", 1, 0},
};

static ac_conn *make_conn(const char *tool) {
  char base[128], url[160], url2[160];
  snprintf(base, sizeof base, "http://127.0.0.1:%d/%s", g_srv.port, tool);
  char tok[64];
  snprintf(tok, sizeof tok, "tok-%s-secret", tool);
  json_t *cfg = json_pack("{s:s, s:s}", "base_url", base, "token", tok);
  if (!strcmp(tool, "jira")) {
    json_object_set_new(cfg, "email", json_string("bot@example.org"));
    json_object_set_new(cfg, "project", json_string("ESC"));
  } else if (!strcmp(tool, "github")) {
    json_object_set_new(cfg, "repo", json_string("escucha/ops"));
  } else if (!strcmp(tool, "gitlab")) {
    json_object_set_new(cfg, "project", json_string("escucha/ops"));
  } else if (!strcmp(tool, "redmine")) {
    json_object_set_new(cfg, "project", json_string("escucha"));
  } else if (!strcmp(tool, "asana")) {
    json_object_set_new(cfg, "project", json_string("1200000000000001"));
  } else if (!strcmp(tool, "clickup")) {
    json_object_set_new(cfg, "list", json_string("901"));
  } else if (!strcmp(tool, "monday")) {
    snprintf(url, sizeof url, "%s/v2", base);
    json_object_set_new(cfg, "base_url", json_string(url));
    json_object_set_new(cfg, "board", json_integer(123));
  } else if (!strcmp(tool, "trello")) {
    json_object_set_new(cfg, "api_key", json_string("trello-api-key"));
    json_object_set_new(cfg, "list", json_string("list-todo"));
    json_object_set_new(cfg, "board", json_string("board-1"));
    json_object_set_new(cfg, "done_list", json_string("list-done"));
    json_object_set_new(cfg, "doing_list", json_string("list-doing"));
  } else if (!strcmp(tool, "webhook")) {
    snprintf(url, sizeof url, "%s/hook", base);
    snprintf(url2, sizeof url2, "%s/status", base);
    json_object_set_new(cfg, "url", json_string(url));
    json_object_set_new(cfg, "status_url", json_string(url2));
  }
  ac_conn *c = ac_conn_new(tool, cfg);
  json_decref(cfg);
  assert_non_null(c);
  c->retry.sleep_ms = fake_sleep;
  c->retry.base_ms = 10;
  c->retry.max_ms = 40;
  c->retry.max_attempts = 4;
  c->retry.timeout_ms = 5000;
  return c;
}

static void control(const char *tool, const char *fmt, ...) {
  char inner[512], body[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(inner, sizeof inner, fmt, ap);
  va_end(ap);
  snprintf(body, sizeof body, "{\"vendor\":\"%s\",%s}", tool, inner);
  assert_int_equal(tc_http(g_srv.port, "POST", "/__control", body, NULL), 200);
}

static long stat_of(const char *tool, const char *field) {
  char path[96], *out = NULL;
  snprintf(path, sizeof path, "/__stats?vendor=%s", tool);
  assert_int_equal(tc_http(g_srv.port, "GET", path, NULL, &out), 200);
  json_t *j = json_loads(out, 0, NULL);
  long v = (long)json_integer_value(json_object_get(j, field));
  json_decref(j);
  free(out);
  return v;
}

static void assert_no_violations(void) {
  char *out = NULL;
  assert_int_equal(tc_http(g_srv.port, "GET", "/__violations", NULL, &out), 200);
  json_t *j = json_loads(out, 0, NULL);
  if (json_array_size(json_object_get(j, "violations"))) fail_msg("contract violations: %s", out);
  json_decref(j);
  free(out);
}

/* The decoy key: a citizen quote carries its marker, which must neither
 * count for the vendor's body check nor make a search for it succeed. */
#define DECOY "esk-0000000000000000"

/* The body as the service renders it for the tool's markup, with a citizen
 * quote that tries to leave the quote, mention someone and plant a marker. */
static void mk_issue(ac_conn *c, ac_issue *is, const char *key, char *body, size_t n) {
  ac_plan p = {0};
  strcpy(p.id, "01PLAN");
  snprintf(p.idem_key, sizeof p.idem_key, "%s", key);
  p.summary_es = strdup("Problema: esperas largas en la sucursal.");
  p.quotes[0].text = strdup("Tres horas en la fila\r\n" AC_MARKER_PREFIX DECOY "\n@admin #1 <b>*x*</b>");
  strcpy(p.quotes[0].id, "fb-1");
  p.nquotes = 1;
  char *b = ac_plan_body(&p, "es", ac_conn_markup(c));
  assert_non_null(b);
  assert_true(strlen(b) < n);
  snprintf(body, n, "%s", b);
  free(b);
  ac_plan_free(&p);
  is->idem_key = key;
  is->title = "[Escucha] Tiempos de espera — demo";
  is->body = body;
  is->body_html = NULL;
  is->agency = "demo";
  is->topic = "waiting_times/branch";
}

static void run_case(const vcase *vc) {
  ac_conn *c = make_conn(vc->tool);
  ac_ticket t = {0}, f = {0}, s = {0};
  ac_error err = {0};
  ac_issue is;
  char body[2048], key[64];
  static int seq;
  snprintf(key, sizeof key, "esk-%08x%08x", (unsigned)(++seq), 0xabcdef01u);
  mk_issue(c, &is, key, body, sizeof body);

  /* create -> a ticket with key and link */
  long created0 = stat_of(vc->tool, "created");
  assert_int_equal(c->ops->create(c, &is, &t, &err), AC_OK);
  assert_true(t.key[0]);
  assert_true(t.url[0]);
  assert_int_equal(t.state, AC_ST_OPEN);
  assert_int_equal(stat_of(vc->tool, "created"), created0 + 1);

  /* search by key finds it (the crash-recovery path); another key does not */
  if (vc->searchable) {
    assert_int_equal(c->ops->find_by_key(c, key, &f, &err), AC_OK);
    assert_string_equal(f.key, t.key);
    assert_int_equal(c->ops->find_by_key(c, DECOY, &f, &err), AC_NOTFOUND);
  } else {
    assert_int_equal(c->ops->find_by_key(c, key, &f, &err), AC_NOTFOUND);
  }

  /* status mapping: open -> in_progress -> done */
  assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_OK);
  assert_int_equal(s.state, AC_ST_OPEN);
  control(vc->tool, "\"set_state\":{\"id\":\"%s\",\"state\":\"in_progress\"}", t.key);
  assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_OK);
  assert_int_equal(s.state, AC_ST_IN_PROGRESS);
  control(vc->tool, "\"set_state\":{\"id\":\"%s\",\"state\":\"done\"}", t.key);
  assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_OK);
  assert_int_equal(s.state, AC_ST_DONE);

  /* 429 with Retry-After: retried after at least the server's delay */
  g_nsleeps = 0;
  control(vc->tool, "\"fail\":[{\"status\":429,\"retry_after\":\"2\",\"method\":\"POST\"}]");
  snprintf(key, sizeof key, "esk-%08x%08x", (unsigned)(++seq), 0xabcdef01u);
  mk_issue(c, &is, key, body, sizeof body);
  assert_int_equal(c->ops->create(c, &is, &t, &err), AC_OK);
  assert_true(g_nsleeps >= 1);
  assert_true(g_sleeps[0] >= 2000);

  /* 500 on a read: retried with backoff and succeeds */
  g_nsleeps = 0;
  control(vc->tool, "\"fail\":[{\"status\":500,\"method\":\"%s\"},{\"status\":502,\"method\":\"%s\"}]",
          vc->status_method, vc->status_method);
  assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_OK);
  assert_int_equal(g_nsleeps, 2);
  assert_true(g_sleeps[0] >= 5 && g_sleeps[0] <= 10); /* base 10, equal jitter */
  assert_true(g_sleeps[1] >= 10 && g_sleeps[1] <= 20);

  /* 500 on create: not blindly repeated (may have half-happened) unless the
   * request carries an idempotency key the receiver honours */
  long c1 = stat_of(vc->tool, "created");
  control(vc->tool, "\"fail\":[{\"status\":500,\"method\":\"POST\"}]");
  snprintf(key, sizeof key, "esk-%08x%08x", (unsigned)(++seq), 0xabcdef01u);
  mk_issue(c, &is, key, body, sizeof body);
  int rc = c->ops->create(c, &is, &t, &err);
  if (vc->post_idempotent) {
    assert_int_equal(rc, AC_OK);
    assert_int_equal(stat_of(vc->tool, "created"), c1 + 1);
  } else {
    assert_int_equal(rc, AC_ETRANSIENT);
    assert_int_equal(stat_of(vc->tool, "created"), c1);
  }

  /* permanent errors carry the vendor's message */
  control(vc->tool, "\"fail\":[{\"status\":401}]");
  assert_int_equal(c->ops->create(c, &is, &t, &err), AC_EPERM);
  if (!strstr(err.msg, vc->msg401)) fail_msg("%s 401 message: '%s'", vc->tool, err.msg);
  control(vc->tool, "\"fail\":[{\"status\":422}]");
  assert_int_equal(c->ops->create(c, &is, &t, &err), AC_EPERM);
  if (!strstr(err.msg, vc->msg422)) fail_msg("%s 422 message: '%s'", vc->tool, err.msg);
  /* a secret never appears in a message */
  assert_null(strstr(err.msg, "secret"));

  /* unknown ticket -> not found */
  const char *missing = !strcmp(vc->tool, "jira")      ? "ESC-9999"
                        : !strcmp(vc->tool, "trello")  ? "ffffffffffffffffffffffff"
                        : !strcmp(vc->tool, "clickup") ? "zzz999"
                                                       : "99999";
  assert_int_equal(c->ops->get_status(c, missing, &s, &err), AC_NOTFOUND);

  /* circuit breaker: consecutive 503s open it; then nothing is sent */
  c->retry.max_attempts = 1;
  control(vc->tool, "\"fail\":[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503}]");
  for (int i = 0; i < 5; i++) assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_ETRANSIENT);
  long req0 = stat_of(vc->tool, "requests");
  assert_int_equal(c->ops->get_status(c, t.key, &s, &err), AC_EBREAKER);
  assert_int_equal(stat_of(vc->tool, "requests"), req0);
  assert_true(ac_breaker_is_open(&c->breaker));

  assert_no_violations();
  ac_conn_free(c);
}

#define CASE_TEST(i)                \
  static void test_##i(void **st) { \
    (void)st;                       \
    run_case(&CASES[i]);            \
  }
CASE_TEST(0)
CASE_TEST(1)
CASE_TEST(2)
CASE_TEST(3)
CASE_TEST(4)
CASE_TEST(5)
CASE_TEST(6)
CASE_TEST(7)
CASE_TEST(8)

static void test_vendor_message_shapes(void **st) {
  (void)st;
  char m[256];
  const char *jira = "{\"errorMessages\":[\"a\"],\"errors\":{\"summary\":\"b\"}}";
  ac_vendor_message(jira, strlen(jira), m, sizeof m);
  assert_string_equal(m, "a; summary: b");
  ac_vendor_message("invalid token", 13, m, sizeof m);
  assert_string_equal(m, "invalid token");
  const char *cu = "{\"err\":\"Token invalid\",\"ECODE\":\"OAUTH_025\"}";
  ac_vendor_message(cu, strlen(cu), m, sizeof m);
  assert_string_equal(m, "Token invalid");
  ac_vendor_message("", 0, m, sizeof m);
  assert_string_equal(m, "no error body");
}

static void test_retry_after_parse(void **st) {
  (void)st;
  assert_int_equal(ac_parse_retry_after("120", 0), 120000);
  assert_int_equal(ac_parse_retry_after(" 1.5", 0), 1500);
  assert_int_equal(ac_parse_retry_after("nonsense", 0), -1);
  /* HTTP-date: 10 s after "now" */
  assert_int_equal(ac_parse_retry_after("Thu, 01 Jan 1970 00:00:20 GMT", 10000), 10000);
}

static int64_t g_now;
static int64_t fake_now(void) { return g_now; }

static void test_breaker_half_open(void **st) {
  (void)st;
  ac_breaker b;
  ac_breaker_init(&b, 2, 1000);
  b.now_ms = fake_now;
  g_now = 100;
  assert_true(ac_breaker_allow(&b));
  ac_breaker_record(&b, 0);
  assert_true(ac_breaker_allow(&b));
  ac_breaker_record(&b, 0);
  assert_false(ac_breaker_allow(&b)); /* open */
  g_now = 1200;
  assert_true(ac_breaker_allow(&b));  /* half-open probe */
  assert_false(ac_breaker_allow(&b)); /* only one probe */
  ac_breaker_record(&b, 0);           /* probe failed: open again */
  assert_false(ac_breaker_allow(&b));
  g_now = 2300;
  assert_true(ac_breaker_allow(&b));
  ac_breaker_record(&b, 1); /* probe ok: closed */
  assert_true(ac_breaker_allow(&b));
  assert_true(ac_breaker_allow(&b));
  ac_breaker_destroy(&b);
}

static int setup(void **st) {
  (void)st;
  return tc_start(&g_srv, "vendor_server.py", NULL);
}
static int teardown(void **st) {
  (void)st;
  tc_stop(&g_srv);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vendor_message_shapes),
      cmocka_unit_test(test_retry_after_parse),
      cmocka_unit_test(test_breaker_half_open),
      cmocka_unit_test(test_0),
      cmocka_unit_test(test_1),
      cmocka_unit_test(test_2),
      cmocka_unit_test(test_3),
      cmocka_unit_test(test_4),
      cmocka_unit_test(test_5),
      cmocka_unit_test(test_6),
      cmocka_unit_test(test_7),
      cmocka_unit_test(test_8),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
