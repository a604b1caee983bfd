/* escucha-api's pure parsing: routes, query strings, cursors, limits, RFC 3339,
 * static file names, sessions and cookies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "route.h"
#include "session.h"
#include "static.h"
#include "taxo.h"

static void test_routes(void **state) {
  (void)state;
  static const struct {
    const char *path;
    api_route_id id;
    const char *arg;
  } C[] = {
      {"/v1/feedback", API_R_FEEDBACK_LIST, ""},
      {"/v1/feedback/01JD0ABC", API_R_FEEDBACK_GET, "01JD0ABC"},
      {"/v1/feedback/01JD0ABC/review", API_R_REVIEW, "01JD0ABC"},
      {"/v1/session", API_R_SESSION, ""},
      {"/v1/priorities", API_R_PRIORITIES, ""},
      {"/v1/topics/waiting_times/series", API_R_TOPIC_SERIES, "waiting_times"},
      {"/v1/topics/waiting_times/queue_wait/series", API_R_TOPIC_SERIES, "waiting_times/queue_wait"},
      {"/v1/action-plans", API_R_PLANS_LIST, ""},
      {"/v1/action-plans/p1", API_R_PLAN_GET, "p1"},
      {"/v1/satisfaction", API_R_SATISFACTION, ""},
      {"/v1/review-queue", API_R_REVIEW_QUEUE, ""},
      {"/v1/health", API_R_HEALTH, ""},
      {"/v1/receipts/01JD.abc_-", API_R_RECEIPT, "01JD.abc_-"},
      {"/open311/v2/requests.json", API_R_O311_LIST, ""},
      {"/open311/v2/requests/01JD.json", API_R_O311_GET, "01JD"},
      {"/v1/cases", API_R_CASES_LIST, ""},
      {"/v1/cases/01JDCASE", API_R_CASE_GET, "01JDCASE"},
      {"/v1/cases/01JDCASE/ack", API_R_CASE_ACK, "01JDCASE"},
      {"/v1/cases/01JDCASE/other", API_R_NONE, ""},
      {"/v1/taxonomy", API_R_TAXONOMY, ""},
      {"/v1/taxonomy/x", API_R_NONE, ""},
      {"/", API_R_STATIC, ""},
      {"/app.js", API_R_STATIC, ""},
      {"/v1/feedback/", API_R_NONE, ""}, /* empty segment */
      {"/v1/feedback/a/b/c", API_R_NONE, ""},
      {"/v1/topics/a/b/c/series", API_R_NONE, ""},
      {"/v1", API_R_NONE, ""},
      {"/v1/nothing", API_R_NONE, ""},
      {"/open311/v2/services.json", API_R_NONE, ""}, /* ingest's */
      {"/open311/v2/requests/a/b.json", API_R_NONE, ""},
  };
  for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
    api_route r;
    assert_int_equal(api_route_match(C[i].path, &r), 0);
    assert_int_equal(r.id, C[i].id);
    assert_string_equal(r.arg, C[i].arg);
  }
  api_route r;
  /* malformed parameters: the route is known, the id cannot exist (404) */
  assert_int_equal(api_route_match("/v1/feedback/a%2Fb", &r), -1);
  assert_int_equal(r.id, API_R_FEEDBACK_GET);
  assert_int_equal(api_route_match("/v1/feedback/%zz", &r), -1);
  assert_int_equal(api_route_match("/v1/topics/Waiting/series", &r), -1);
  assert_int_equal(api_route_match("/v1/feedback/a%41", &r), 0); /* escapes decode: "aA" */
  assert_string_equal(r.arg, "aA");
  char allow[64];
  assert_int_equal(api_route_match("/v1/session", &r), 0);
  api_route_allow(&r, allow, sizeof allow);
  assert_string_equal(allow, "GET, HEAD, POST, DELETE");
  assert_int_equal(api_route_match("/v1/feedback/x/review", &r), 0);
  api_route_allow(&r, allow, sizeof allow);
  assert_string_equal(allow, "POST");
  assert_int_equal(api_route_match("/v1/cases/x/ack", &r), 0);
  api_route_allow(&r, allow, sizeof allow);
  assert_string_equal(allow, "POST");
  assert_int_equal(api_route_match("/v1/cases/a%2Fb/ack", &r), -1); /* a case id that cannot exist */
  assert_int_equal(r.id, API_R_CASE_ACK);
}

static void test_params(void **state) {
  (void)state;
  api_params p = {0};
  api_err e = {0};
  assert_int_equal(api_params_parse("q=espera+larga&category=waiting_times&&x=%C3%B1&empty=&flag", &p, &e), API_OK);
  assert_int_equal(p.n, 5);
  assert_string_equal(api_param(&p, "q"), "espera larga");
  assert_string_equal(api_param(&p, "x"), "\xc3\xb1"); /* ñ */
  assert_string_equal(api_param(&p, "empty"), "");
  assert_string_equal(api_param(&p, "flag"), "");
  assert_null(api_param(&p, "nope"));
  api_params_free(&p);
  static const struct {
    const char *q, *field;
  } BAD[] = {
      {"a=1&a=2", "a"},                             /* duplicate */
      {"q=%ff", "q"},                               /* not UTF-8 */
      {"q=%c0%af", "q"},                            /* overlong '/' */
      {"q=%ed%a0%80", "q"},                         /* surrogate */
      {"q=%f4%90%80%80", "q"},                      /* > U+10FFFF */
      {"q=%0a", "q"},                               /* control */
      {"q=%c2%85", "q"},                            /* C1 control */
      {"q=%00", "q"},                               /* NUL */
      {"q=%4", "q"},                                /* truncated escape */
      {"q=%g1", "q"},          {"b%ad=1", "query"}, /* bad name */
      {"=1", "query"},                              /* empty name */
      {"a b=1", "query"},
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    api_params b = {0};
    memset(&e, 0, sizeof e);
    assert_int_equal(api_params_parse(BAD[i].q, &b, &e), API_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.field, BAD[i].field);
    api_params_free(&b);
  }
  /* value too long: 1025 bytes */
  char *big = malloc(1100);
  memcpy(big, "q=", 2);
  memset(big + 2, 'x', 1025);
  big[1027] = '\0';
  api_params b = {0};
  assert_int_equal(api_params_parse(big, &b, &e), API_EINVAL);
  assert_string_equal(e.field, "q");
  api_params_free(&b);
  big[1026] = '\0'; /* 1024: the limit itself is fine */
  assert_int_equal(api_params_parse(big, &b, &e), API_OK);
  api_params_free(&b);
  free(big);
  /* 33 parameters */
  char many[400] = "";
  for (int i = 0; i < 33; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "%sp%d=1", i ? "&" : "", i);
  assert_int_equal(api_params_parse(many, &b, &e), API_EINVAL);
  assert_string_equal(e.field, "query");
  api_params_free(&b);
}

static void test_limit(void **state) {
  (void)state;
  api_params p = {0};
  api_err e = {0};
  long n;
  assert_int_equal(api_limit(&p, 50, 500, &n, &e), API_OK);
  assert_int_equal(n, 50);
  static const char *const OK[] = {"limit=1", "limit=500"};
  static const long WANT[] = {1, 500};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(api_params_parse(OK[i], &p, &e), API_OK);
    assert_int_equal(api_limit(&p, 50, 500, &n, &e), API_OK);
    assert_int_equal(n, WANT[i]);
    api_params_free(&p);
  }
  static const char *const BAD[] = {
      "limit=0", "limit=501", "limit=-1", "limit=1e2", "limit=", "limit=+5", "limit=9999999999999999999"};
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    assert_int_equal(api_params_parse(BAD[i], &p, &e), API_OK);
    assert_int_equal(api_limit(&p, 50, 500, &n, &e), API_EINVAL);
    assert_string_equal(e.field, "limit");
    api_params_free(&p);
  }
}

static void test_cursor(void **state) {
  (void)state;
  char c[API_CURSOR_MAX + 1], id[80];
  int64_t us;
  /* "1:1764590400000000:01JD" = 23 bytes -> 31 base64url chars (7*4 + 3) */
  assert_int_equal(api_cursor_encode(1764590400000000LL, "01JD", c, sizeof c), 0);
  assert_int_equal(strlen(c), 31);
  assert_int_equal(api_cursor_decode(c, &us, id, sizeof id), 0);
  assert_true(us == 1764590400000000LL);
  assert_string_equal(id, "01JD");
  assert_int_equal(api_cursor_encode(-5, "a", c, sizeof c), 0); /* before 1970 */
  assert_int_equal(api_cursor_decode(c, &us, id, sizeof id), 0);
  assert_true(us == -5);
  assert_int_equal(api_cursor_encode(1, "bad id", c, sizeof c), -1);
  assert_int_equal(api_cursor_encode(1, "", c, sizeof c), -1);
  assert_int_equal(api_cursor_encode(1, "a", c, 4), -1);
  static const char *const BAD[] = {"",
                                    "!!!!",
                                    "MTox",
                                    /* "1:1" */ "MjoxOmE", /* "2:1:a" */
                                    "MTp4OmE",
                                    /* "1:x:a" */ "MToxOg",
                                    /* "1:1:" */ "MToxOmEgYg" /* "1:1:a b" */,
                                    "MToxOmE=",
                                    "MToxOmF"};
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
    assert_int_equal(api_cursor_decode(BAD[i], &us, id, sizeof id), -1);
  assert_int_equal(api_cursor_decode("MToxOmE", &us, id, sizeof id), 0); /* "1:1:a" */
  assert_string_equal(id, "a");
}

static void test_rfc3339(void **state) {
  (void)state;
  static const char *const OK[] = {"2026-12-01T10:00:00Z",        "2026-12-01t10:00:00z",      "2024-02-29T00:00:00Z",
                                   "2026-12-01T10:00:00.123456Z", "2026-12-01T10:00:00-03:00", "2016-12-31T23:59:60Z",
                                   "9999-12-31T23:59:59-14:59"};
  static const char *const BAD[] = {"2026-12-01",
                                    "2026-12-01 10:00:00Z",
                                    "2026-13-01T00:00:00Z",
                                    "2025-02-29T00:00:00Z",
                                    "2026-04-31T00:00:00Z",
                                    "2026-12-01T24:00:00Z",
                                    "2026-12-01T10:00:00",
                                    "2026-12-01T10:00:00.Z",
                                    "2026-12-01T10:00:00+0300",
                                    "2026-12-01T10:00:00+15:00",
                                    "2026-12-01T10:00:00Zjunk",
                                    "0000-01-01T00:00:00Z",
                                    "yesterday"};
  for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) assert_true(api_rfc3339_ok(OK[i]));
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) assert_false(api_rfc3339_ok(BAD[i]));
}

static void test_static_paths(void **state) {
  (void)state;
  char out[256];
  static const struct {
    const char *in, *out;
  } OK[] = {{"/", "index.html"},      {"/app.js", "app.js"},         {"/css/site.css", "css/site.css"},
            {"/inbox", "index.html"}, {"/docs/", "docs/index.html"}, {"/icons/a-b_c.svg", "icons/a-b_c.svg"}};
  for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
    assert_int_equal(api_static_path(OK[i].in, out, sizeof out), 0);
    assert_string_equal(out, OK[i].out);
  }
  static const char *const BAD[] = {"/../etc/passwd", "/css/../app.js", "/.env",     "/css/.hidden.css",
                                    "//app.js",       "/%2e%2e/x.js",   "/app.exe",  "/a b.js",
                                    "/x/inbox",       "relative.js",    "/app.js\\x"};
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
    assert_int_equal(api_static_path(BAD[i], out, sizeof out), -1);
  assert_string_equal(api_static_type("a.HTML"), "text/html; charset=utf-8");
  assert_null(api_static_type("a.php"));
  assert_null(api_static_type("dir.d/file"));
}

static void test_sessions(void **state) {
  (void)state;
  api_sessions *s = api_sessions_new(2, 1000);
  const api_session *a = api_session_create(s, "demo", ES_ROLE_READ, NULL, 0);
  assert_non_null(a);
  char id_a[API_SESSION_ID_LEN + 1], csrf_a[API_SESSION_ID_LEN + 1];
  memcpy(id_a, a->id, sizeof id_a);
  memcpy(csrf_a, a->csrf, sizeof csrf_a);
  assert_int_equal(strlen(id_a), 43);
  assert_string_not_equal(id_a, csrf_a);
  assert_non_null(api_session_find(s, id_a, 43, 900)); /* used at 900: lives until 1900 */
  assert_non_null(api_session_find(s, id_a, 43, 1800));
  assert_null(api_session_find(s, id_a, 42, 1800)); /* wrong length */
  const api_session *f = api_session_find(s, id_a, 43, 1800);
  assert_true(api_session_csrf_ok(f, csrf_a, 43));
  assert_false(api_session_csrf_ok(f, id_a, 43));
  assert_false(api_session_csrf_ok(f, NULL, 0));
  assert_null(api_session_find(s, id_a, 43, 2801)); /* idle 1001 ms > 1000: gone */
  assert_int_equal(api_sessions_count(s), 0);
  /* full table: the least recently used goes */
  const api_session *b = api_session_create(s, "demo", ES_ROLE_READ, NULL, 3000);
  char id_b[44];
  memcpy(id_b, b->id, sizeof id_b);
  const api_session *c = api_session_create(s, "otra", ES_ROLE_ADMIN, NULL, 3001);
  char id_c[44];
  memcpy(id_c, c->id, sizeof id_c);
  assert_non_null(api_session_find(s, id_b, 43, 3002)); /* b used later than c */
  assert_non_null(api_session_create(s, "x", ES_ROLE_READ, "abc", 3003));
  assert_null(api_session_find(s, id_c, 43, 3004));
  assert_non_null(api_session_find(s, id_b, 43, 3004));
  assert_int_equal(api_session_delete(s, id_b, 43), 0);
  assert_int_equal(api_session_delete(s, id_b, 43), -1);
  char long_agency[100];
  memset(long_agency, 'a', 99);
  long_agency[99] = '\0';
  assert_null(api_session_create(s, long_agency, 0, NULL, 0));
  api_sessions_free(s);
  const char *v;
  size_t len;
  assert_int_equal(api_cookie_get("a=1; escucha_session=xyz; b=2", "escucha_session", &v, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(v, "xyz", 3);
  assert_int_equal(api_cookie_get("escucha_session=\"q\"", "escucha_session", &v, &len), 0);
  assert_memory_equal(v, "q", 1);
  assert_int_equal(api_cookie_get("xescucha_session=1", "escucha_session", &v, &len), -1);
  assert_int_equal(api_cookie_get(NULL, "escucha_session", &v, &len), -1);
}

static void test_taxonomy(void **state) {
  (void)state;
  char err[300];
  /* the shipped taxonomy, read through lib/taxonomy (the unit run starts in the repository) */
  api_taxo *t = api_taxo_load("config/taxonomy.default.json", err, sizeof err);
  assert_non_null(t);
  assert_true(api_taxo_has_category(t, "waiting_times"));
  assert_false(api_taxo_has_category(t, "waiting"));
  assert_false(api_taxo_has_category(t, "waiting_times/queue_wait"));
  assert_string_equal(api_taxo_subcategory(t, "waiting_times", "queue_wait"), "waiting_times/queue_wait");
  assert_string_equal(api_taxo_subcategory(t, "waiting_times", "waiting_times/queue_wait"), "waiting_times/queue_wait");
  assert_null(api_taxo_subcategory(t, "praise", "queue_wait"));
  assert_null(api_taxo_subcategory(t, "waiting_times", "praise/general_thanks"));
  assert_non_null(strstr(api_taxo_names_json(t), "\"waiting_times\":\""));
  api_taxo_free(t);
  assert_null(
      api_taxo_parse("{\"categories\":[{\"id\":\"a\",\"subcategories\":[{\"id\":\"b/c\"}]}]}", 50, err, sizeof err));
  assert_null(api_taxo_parse("nope", 4, err, sizeof err));
  assert_null(api_taxo_load("/nonexistent.json", err, sizeof err));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes),   cmocka_unit_test(test_params),   cmocka_unit_test(test_limit),
      cmocka_unit_test(test_cursor),   cmocka_unit_test(test_rfc3339),  cmocka_unit_test(test_static_paths),
      cmocka_unit_test(test_sessions), cmocka_unit_test(test_taxonomy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
