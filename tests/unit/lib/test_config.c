/* lib/config: typed options bound to fields; precedence and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static struct {
  es_common_cfg common;
  long port, batch;
  double ratio;
  int on, mode;
  char *secret;
  const char *name;
  const char *const *per;
} C;

static const char *const MODES[] = {"reject", "repair", NULL};

static es_opt OPTS[] = {ES_COMMON_OPTS(C.common),
                        ES_LONG("http-port", "8080", 0, 65535, "port", &C.port),
                        ES_LONG("max-batch", "10", 1, 100, "n", &C.batch),
                        ES_DOUBLE("ratio", "0.5", 0, 1, "r", &C.ratio),
                        ES_BOOL("inbound", "on", "b", &C.on),
                        ES_ENUM("utf8", "reject", MODES, "e", &C.mode),
                        ES_SECRET("tcfg-secret", "s", &C.secret),
                        ES_STR("tcfg-name", NULL, "n", &C.name),
                        ES_ENVMAP("tcfg-to-<AGENCY>", "m", &C.per),
                        ES_OPT_END};

static const char *const VARS[] = {"ESCUCHA_KAFKA_BROKERS", "ESCUCHA_HTTP_PORT",        "ESCUCHA_MAX_BATCH",
                                   "ESCUCHA_RATIO",         "ESCUCHA_INBOUND",          "ESCUCHA_UTF8",
                                   "ESCUCHA_TCFG_SECRET",   "ESCUCHA_TCFG_SECRET_FILE", "ESCUCHA_TCFG_NAME",
                                   "ESCUCHA_TCFG_TO_AG_1",  "ESCUCHA_LOG_LEVEL",        NULL};

static int clean(void **st) {
  (void)st;
  for (size_t i = 0; VARS[i]; i++) unsetenv(VARS[i]);
  es_config_free(OPTS);
  return 0;
}

static int parse(int argc, char **argv) {
  es_config_free(OPTS);
  FILE *keep = stderr;
  stderr = fopen("/dev/null", "w"); /* the refusal messages */
  int rc = es_config_parse(OPTS, "prog", NULL, argc, argv, 1, NULL, NULL);
  fclose(stderr);
  stderr = keep;
  return rc;
}

static void test_defaults_fill_fields(void **st) {
  (void)st;
  char *argv[] = {"prog", NULL};
  assert_int_equal(parse(1, argv), 0);
  assert_string_equal(C.common.kafka_brokers, "127.0.0.1:19092");
  assert_string_equal(ES_LOG_LEVELS[C.common.log_level], "info");
  assert_int_equal(C.port, 8080);
  assert_int_equal(C.batch, 10);
  assert_true(C.ratio == 0.5);
  assert_int_equal(C.on, 1);
  assert_int_equal(C.mode, 0);
  assert_null(C.secret);
  assert_null(C.name);
  assert_non_null(C.per);
  assert_null(C.per[0]);
}

static void test_precedence(void **st) {
  (void)st;
  setenv("ESCUCHA_HTTP_PORT", "9000", 1);
  setenv("ESCUCHA_MAX_BATCH", "20", 1);
  setenv("ESCUCHA_INBOUND", "off", 1);
  setenv("ESCUCHA_UTF8", "", 1);      /* empty: the default stays for a typed value */
  setenv("ESCUCHA_TCFG_NAME", "", 1); /* ... but is a value for a string */
  char *argv[] = {"prog",        "--max-batch=30", "import", "file.csv", "--redis-url",
                  "redis://x:1", "--ratio",        "0.25",   NULL};
  char *rest[4];
  int nrest = 0;
  es_config_free(OPTS);
  assert_int_equal(es_config_parse(OPTS, "prog", NULL, 8, argv, 1, rest, &nrest), 0);
  assert_int_equal(C.port, 9000); /* env beats default */
  assert_int_equal(C.batch, 30);  /* flag beats env */
  assert_int_equal(C.on, 0);
  assert_int_equal(C.mode, 0);
  assert_string_equal(C.name, "");
  assert_true(C.ratio == 0.25);
  assert_string_equal(C.common.redis_url, "redis://x:1");
  assert_int_equal(nrest, 2);
  assert_string_equal(rest[0], "import");
  assert_string_equal(rest[1], "file.csv");
  char env[64];
  es_opt_envname("dedup-window", env, sizeof env);
  assert_string_equal(env, "ESCUCHA_DEDUP_WINDOW");
}

static void expect_refused(const char *flag) {
  char *argv[] = {"prog", (char *)flag, NULL};
  if (parse(2, argv) != -1) fail_msg("%s was accepted", flag);
}

static void test_refusals(void **st) {
  (void)st;
  expect_refused("--http-port=abc"); /* non-numeric */
  expect_refused("--http-port=80x"); /* trailing junk */
  expect_refused("--http-port=80 ");
  expect_refused("--http-port= 80");
  expect_refused("--http-port="); /* empty */
  expect_refused("--http-port=8.5");
  expect_refused("--http-port=-1");                      /* below min */
  expect_refused("--http-port=65536");                   /* above max */
  expect_refused("--http-port=99999999999999999999999"); /* overflow */
  expect_refused("--max-batch=0");
  expect_refused("--ratio=1.5");
  expect_refused("--ratio=-0.1");
  expect_refused("--ratio=nan");
  expect_refused("--ratio=inf");
  expect_refused("--ratio=0.5s");
  expect_refused("--utf8=fix"); /* unknown enum */
  expect_refused("--utf8=REPAIR");
  expect_refused("--inbound=maybe"); /* bad bool */
  expect_refused("--inbound=");
  expect_refused("--log-level=verbose");
  expect_refused("--nope=1"); /* unknown option */
  char *argv[] = {"prog", "--http-port", NULL};
  assert_int_equal(parse(2, argv), -1); /* no value */
  /* the environment is checked the same way */
  setenv("ESCUCHA_MAX_BATCH", "1e3", 1);
  char *none[] = {"prog", NULL};
  assert_int_equal(parse(1, none), -1);
  setenv("ESCUCHA_MAX_BATCH", "101", 1);
  assert_int_equal(parse(1, none), -1);
  /* ... unless a valid flag replaces it */
  char *fix[] = {"prog", "--max-batch=100", NULL};
  assert_int_equal(parse(2, fix), 0);
  assert_int_equal(C.batch, 100);
}

static void test_accepted_forms(void **st) {
  (void)st;
  char *argv[] = {"prog",          "--http-port=0", "--max-batch",       "+7", "--ratio=1",
                  "--inbound=YES", "--utf8=repair", "--log-level=debug", NULL};
  assert_int_equal(parse(8, argv), 0);
  assert_int_equal(C.port, 0);
  assert_int_equal(C.batch, 7);
  assert_true(C.ratio == 1.0);
  assert_int_equal(C.on, 1);
  assert_int_equal(C.mode, 1);
  assert_int_equal(C.common.log_level, 0);
  const char *bools[][2] = {{"on", "1"},    {"true", "1"}, {"1", "1"}, {"off", "0"},
                            {"false", "0"}, {"no", "0"},   {"0", "0"}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
    char flag[32];
    snprintf(flag, sizeof flag, "--inbound=%s", bools[i][0]);
    char *a[] = {"prog", flag, NULL};
    assert_int_equal(parse(2, a), 0);
    assert_int_equal(C.on, bools[i][1][0] - '0');
  }
}

static void test_check_messages(void **st) {
  (void)st;
  char why[256];
  es_opt *o = es_opt_find(OPTS, "http-port");
  assert_non_null(o);
  assert_int_equal(es_opt_check(o, "70000", why, sizeof why), -1);
  assert_non_null(strstr(why, "0..65535"));
  assert_int_equal(es_opt_check(o, "12ab", why, sizeof why), -1);
  assert_non_null(strstr(why, "trailing"));
  o = es_opt_find(OPTS, "utf8");
  assert_int_equal(es_opt_check(o, "x", why, sizeof why), -1);
  assert_non_null(strstr(why, "reject|repair"));
}

static void test_secret_value_or_file(void **st) {
  (void)st;
  char path[] = "/tmp/escucha-cfg-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "from-file\n", 10), 10);
  close(fd);
  setenv("ESCUCHA_TCFG_SECRET_FILE", path, 1);
  char *none[] = {"prog", NULL};
  assert_int_equal(parse(1, none), 0);
  assert_string_equal(C.secret, "from-file");
  setenv("ESCUCHA_TCFG_SECRET", "from-env", 1); /* the value wins over the file */
  assert_int_equal(parse(1, none), 0);
  assert_string_equal(C.secret, "from-env");
  char *flag[] = {"prog", "--tcfg-secret=from-flag", NULL};
  assert_int_equal(parse(2, flag), 0);
  assert_string_equal(C.secret, "from-flag");
  unsetenv("ESCUCHA_TCFG_SECRET");
  char *file[] = {"prog", "--tcfg-secret-file", path, NULL};
  assert_int_equal(parse(3, file), 0);
  assert_string_equal(C.secret, "from-file");
  unlink(path);
}

static void test_envmap(void **st) {
  (void)st;
  setenv("ESCUCHA_TCFG_TO_AG_1", "boss@ag.org", 1);
  char *none[] = {"prog", NULL};
  assert_int_equal(parse(1, none), 0);
  assert_string_equal(es_envmap_get(C.per, "ESCUCHA_TCFG_TO_AG_1"), "boss@ag.org");
  assert_null(es_envmap_get(C.per, "ESCUCHA_TCFG_TO_AG"));
  assert_null(es_envmap_get(C.per, "ESCUCHA_TCFG_TO_AG_2"));
}

static es_opt SECTION[] = {ES_STR("tool-url", "u", "x", NULL), ES_OPT_END};
static long g_n;
static es_opt WITH_SECTION[] = {ES_LONG("n", "1", 0, 9, "n", &g_n), ES_INCLUDE(SECTION), ES_OPT_END};

static void test_include_and_help(void **st) {
  (void)st;
  char *argv[] = {"prog", "--tool-url=http://x", "--n=3", NULL};
  assert_int_equal(es_config_parse(WITH_SECTION, "prog", NULL, 3, argv, 1, NULL, NULL), 0);
  assert_int_equal(g_n, 3);
  assert_string_equal(es_opt_find(WITH_SECTION, "tool-url")->value, "http://x");
  /* --help lists flag, variable, type and default of every option, sections included */
  char path[] = "/tmp/escucha-help-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stdout);
  int keep = dup(1);
  dup2(fd, 1);
  char *help[] = {"prog", "--help", NULL};
  int rc = es_config_parse(OPTS, "prog", NULL, 2, help, 1, NULL, NULL);
  int rc2 = es_config_parse(WITH_SECTION, "prog", NULL, 2, help, 1, NULL, NULL);
  fflush(stdout);
  dup2(keep, 1);
  close(keep);
  assert_int_equal(rc, 1);
  assert_int_equal(rc2, 1);
  char buf[8192] = "";
  lseek(fd, 0, SEEK_SET);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  unlink(path);
  assert_true(n > 0);
  buf[n] = 0;
  assert_non_null(strstr(buf, "--http-port"));
  assert_non_null(strstr(buf, "ESCUCHA_HTTP_PORT"));
  assert_non_null(strstr(buf, "[integer 0..65535] (default: 8080)"));
  assert_non_null(strstr(buf, "[reject|repair] (default: reject)"));
  assert_non_null(strstr(buf, "ESCUCHA_TCFG_SECRET or ESCUCHA_TCFG_SECRET_FILE"));
  assert_non_null(strstr(buf, "ESCUCHA_TCFG_TO_<AGENCY>"));
  assert_non_null(strstr(buf, "ESCUCHA_TOOL_URL"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults_fill_fields, clean, clean),
      cmocka_unit_test_setup_teardown(test_precedence, clean, clean),
      cmocka_unit_test_setup_teardown(test_refusals, clean, clean),
      cmocka_unit_test_setup_teardown(test_accepted_forms, clean, clean),
      cmocka_unit_test_setup_teardown(test_check_messages, clean, clean),
      cmocka_unit_test_setup_teardown(test_secret_value_or_file, clean, clean),
      cmocka_unit_test_setup_teardown(test_envmap, clean, clean),
      cmocka_unit_test_setup_teardown(test_include_and_help, clean, clean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
