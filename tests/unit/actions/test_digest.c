/* E-mail digest delivered to a local aiosmtpd server; content checked. Also
 * the e-mail connector through the same server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../services/actions/ac_conn.h"
#include "../../../services/actions/digest.h"
#include "contract_util.h"

static tc_server g_srv;
static char g_dir[64];

/* Polls for <dir>/<n>.eml with a deadline; returns its content. */
static char *wait_mail(int n) {
  char p[128];
  snprintf(p, sizeof p, "%s/%d.eml", g_dir, n);
  for (int i = 0; i < 1000; i++) { /* 10 s deadline */
    if (access(p, R_OK) == 0) return es_read_file(p, NULL);
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* Decodes the base64 body of the part whose Content-Type starts with ctype. */
static char *part(const char *msg, const char *ctype) {
  const char *p = strstr(msg, ctype);
  if (!p || !(p = strstr(p, "\r\n\r\n"))) return NULL;
  p += 4;
  const char *end = strstr(p, "\r\n--");
  if (!end) return NULL;
  size_t cap = (size_t)(end - p);
  unsigned char *out = calloc(1, cap + 1);
  size_t len = 0;
  if (sodium_base642bin(out, cap, p, (size_t)(end - p), "\r\n", &len, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    free(out);
    return NULL;
  }
  out[len] = 0;
  return (char *)out;
}

static void test_digest_delivered(void **st) {
  (void)st;
  char url[64], err[256];
  snprintf(url, sizeof url, "smtp://127.0.0.1:%d", g_srv.port);
  ac_smtp s = {url, NULL, NULL, "Escucha <escucha@example.org>", 1, 10000};
  ac_digest_prio prios[] = {{"waiting/branch", "Espera en sucursal", 42, 0.8, 0.91},
                            {"digital/web", "Canales <digitales>", 17, 0.5, 0.4}};
  ac_digest_action acts[] = {{"waiting/branch", "jira", "ESC-12", "https://x.atlassian.net/browse/ESC-12", "open", 3}};
  ac_digest d = {"demo", "weekly", "es", prios, 2, acts, 1};
  const char *to[] = {"<ops@demo.example.org>", NULL};
  assert_int_equal(ac_digest_send(&d, &s, to, err, sizeof err), 0);
  char *m = wait_mail(1);
  assert_non_null(m);
  assert_non_null(strstr(m, "X-Envelope-From: escucha@example.org"));
  assert_non_null(strstr(m, "X-Envelope-To: ops@demo.example.org"));
  assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary="));
  assert_non_null(strstr(m, "Subject: =?UTF-8?B?"));
  char *text = part(m, "Content-Type: text/plain"), *html = part(m, "Content-Type: text/html");
  assert_non_null(text);
  assert_non_null(html);
  assert_non_null(strstr(text, "Resumen semanal de Escucha — demo"));
  assert_non_null(strstr(text, "1. Espera en sucursal — 42, 80% negativos"));
  assert_non_null(strstr(text, "jira ESC-12 (open"));
  assert_non_null(strstr(html, "<td>Canales &lt;digitales&gt;</td>")); /* escaped */
  assert_non_null(strstr(html, "href=\"https://x.atlassian.net/browse/ESC-12\""));
  free(text);
  free(html);
  free(m);
}

static void test_email_connector(void **st) {
  (void)st;
  char url[64];
  snprintf(url, sizeof url, "smtp://127.0.0.1:%d", g_srv.port);
  json_t *cfg = json_pack("{s:s, s:s, s:s}", "smtp_url", url, "to", "<team@demo.example.org>", "from",
                          "escucha@example.org");
  ac_conn *c = ac_conn_new("email", cfg);
  json_decref(cfg);
  ac_issue is = {"esk-00112233", "[Escucha] Espera", "Resumen\n" AC_MARKER_PREFIX "esk-00112233\n",
                 "<p>Resumen</p>", "demo", "waiting"};
  ac_ticket t;
  ac_error e = {0};
  assert_int_equal(c->ops->create(c, &is, &t, &e), AC_OK);
  assert_string_equal(t.key, "esk-00112233@escucha");
  char *m = wait_mail(2);
  assert_non_null(m);
  assert_non_null(strstr(m, "Message-ID: <esk-00112233@escucha>"));
  char *text = part(m, "Content-Type: text/plain");
  assert_non_null(text);
  assert_true(ac_has_marker(text, "esk-00112233"));
  free(text);
  free(m);
  ac_conn_free(c);
}

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/escucha-smtp-XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  const char *args[] = {g_dir, NULL};
  return tc_start(&g_srv, "smtp_server.py", args);
}

static int teardown(void **st) {
  (void)st;
  tc_stop(&g_srv);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_digest_delivered),
                                     cmocka_unit_test(test_email_connector)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
