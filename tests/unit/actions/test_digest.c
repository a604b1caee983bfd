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

#include "ac_conn.h"
#include "digest.h"
#include "digest_db.h"
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
  if (sodium_base642bin(out, cap, p, (size_t)(end - p), "\r\n", &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
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
  json_t *cfg =
      json_pack("{s:s, s:s, s:s}", "smtp_url", url, "to", "<team@demo.example.org>", "from", "escucha@example.org");
  ac_conn *c = ac_conn_new("email", cfg);
  json_decref(cfg);
  ac_issue is = {"esk-00112233", "[Escucha] Espera", "Resumen\n" AC_MARKER_PREFIX "esk-00112233\n", "<p>Resumen</p>",
                 "demo",         "waiting"};
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

/* Periods: the last complete UTC day / ISO week (Monday) before now. */
static void test_period(void **st) {
  (void)st;
  int64_t a, b;
  char d[11];
  const int64_t wed_10h = 1715162400; /* 2024-05-08 10:00 UTC, a Wednesday */
  assert_int_equal(ac_digest_period("daily", wed_10h, &a, &b), 0);
  assert_int_equal(a, 1715040000); /* 2024-05-07 */
  assert_int_equal(b, 1715040000 + 86400);
  ac_digest_date(a, d);
  assert_string_equal(d, "2024-05-07");
  assert_int_equal(ac_digest_period("weekly", wed_10h, &a, &b), 0);
  assert_int_equal(a, 1714348800); /* Monday 2024-04-29 */
  assert_int_equal(b, 1714953600); /* Monday 2024-05-06 */
  /* Monday 00:00 exactly: the week that just ended; Sunday 23:59:59: the one before */
  assert_int_equal(ac_digest_period("weekly", 1714953600, &a, &b), 0);
  assert_int_equal(a, 1714348800);
  assert_int_equal(ac_digest_period("weekly", 1714953599, &a, &b), 0);
  assert_int_equal(b, 1714348800);
  assert_int_equal(a, 1714348800 - 7 * 86400);
  assert_int_equal(ac_digest_period("monthly", wed_10h, &a, &b), -1);
  assert_int_equal(ac_digest_period(NULL, wed_10h, &a, &b), -1);
  /* due from hour H of the day after the period */
  assert_false(ac_digest_due(1715126400, 7, 1715126400 + 7 * 3600 - 1));
  assert_true(ac_digest_due(1715126400, 7, 1715126400 + 7 * 3600));
  assert_true(ac_digest_due(1715126400, 0, 1715126400));
  char key[128];
  ac_digest_key("demo", "weekly", 1714348800, key, sizeof key);
  assert_string_equal(key, "demo/weekly/2024-04-29");
}

static void test_render_content(void **st) {
  (void)st;
  ac_digest_prio prios[] = {{"waiting", "Espera", 10, 0.5, 0.7, "volumen <alto> & \"negativo\""}};
  ac_digest_action acts[] = {
      {"waiting", "redmine", "12", "https://t.example.org/i/12?a=1&b=2", "in_progress", 2.4, "Espera"},
      {"digital", NULL, NULL, NULL, NULL, 1, "Canales"}};
  ac_digest_totals tot = {120, 30, 40, 10, -12.5, 71.0};
  ac_digest d = {"demo", "daily", "es", prios, 1, acts, 2, "2024-05-07", "2024-05-07", &tot};
  char *s, *t, *h;
  assert_int_equal(ac_digest_render(&d, &s, &t, &h), 0);
  assert_string_equal(s, "Resumen diario de Escucha — demo — 2024-05-07");
  assert_non_null(strstr(t, "Periodo: 2024-05-07 (UTC)"));
  assert_non_null(
      strstr(t, "Comentarios recibidos: 120 · negativos 25% · NPS -12 (40 respuestas) · CSAT 71% (10 respuestas)"));
  assert_non_null(strstr(t, "1. Espera — 10, 50% negativos, puntaje 0.70\n   volumen <alto> & \"negativo\"\n"));
  assert_non_null(strstr(t, "- Espera: redmine 12 (in_progress, 2 días) https://t.example.org/i/12?a=1&b=2\n"));
  assert_non_null(strstr(t, "- Canales: (sin ticket todavía, 1 día)"));
  assert_non_null(strstr(h, "<td>volumen &lt;alto&gt; &amp; &quot;negativo&quot;</td>"));
  assert_non_null(strstr(h, "<a href=\"https://t.example.org/i/12?a=1&amp;b=2\">redmine 12</a>"));
  assert_null(strstr(h, "<alto>"));
  assert_null(strstr(h, "a=1&b"));
  free(s);
  free(t);
  free(h);
  /* weekly, English, no totals */
  ac_digest w = {"demo", "weekly", "en", prios, 0, acts, 0, "2024-04-29", "2024-05-05", NULL};
  assert_int_equal(ac_digest_render(&w, &s, &t, &h), 0);
  assert_string_equal(s, "Escucha weekly digest — demo — 2024-04-29 – 2024-05-05");
  assert_non_null(strstr(t, "Top priorities\n(none)\n\nOpen actions\n(none)\n"));
  free(s);
  free(t);
  free(h);
}

/* Reminders: a plan whose tickets have not moved for --stale-after days is
 * counted once (its rows are adjacent) and each of its rows marked. */
static void test_render_stale(void **st) {
  (void)st;
  ac_digest_action acts[] = {{"waiting", "redmine", "12", "https://t/i/12", "in_progress", 30, "Espera", 1, 21.4},
                             {"waiting", "jira", "E-1", NULL, "open", 30, "Espera", 1, 21.4},
                             {"digital", "redmine", "13", NULL, "open", 3, "Canales", 0, 2},
                             {"roads", NULL, NULL, NULL, NULL, 20, "Calles", 1, 20}};
  ac_digest d = {"demo", "daily", "es", NULL, 0, acts, 4, NULL, NULL, NULL, NULL, 0, 0, 14};
  char *s, *t, *h;
  assert_int_equal(ac_digest_render(&d, &s, &t, &h), 0);
  assert_non_null(strstr(t, "Recordatorio: 2 planes abiertos sin movimiento de tickets desde hace 14 días o más"));
  assert_non_null(strstr(t,
                         "- Espera: redmine 12 (in_progress, 30 días) — SIN MOVIMIENTO desde hace 21 días "
                         "https://t/i/12\n"));
  assert_non_null(strstr(t, "- Canales: redmine 13 (open, 3 días) \n"));
  assert_non_null(strstr(t, "- Calles: (sin ticket todavía, 20 días) — SIN MOVIMIENTO desde hace 20 días\n"));
  assert_non_null(strstr(h, "<p><strong>Recordatorio: 2 planes abiertos"));
  assert_non_null(strstr(h, "(in_progress, 30 días)<strong> — SIN MOVIMIENTO desde hace 21 días</strong>"));
  free(s), free(t), free(h);
  d.lang = "en", d.nactions = 3;
  assert_int_equal(ac_digest_render(&d, &s, &t, &h), 0);
  assert_non_null(strstr(t, "Reminder: 1 open plan with no ticket movement for 14 days or more (marked STALE)."));
  assert_non_null(strstr(t, "jira E-1 (open, 30 days) — STALE: no movement for 21 days \n"));
  free(s), free(t), free(h);
  /* nothing stale: no reminder line */
  d.nactions = 1, d.actions = &acts[2];
  assert_int_equal(ac_digest_render(&d, &s, &t, &h), 0);
  assert_null(strstr(t, "Reminder"));
  assert_null(strstr(t, "STALE"));
  free(s), free(t), free(h);
}

/* Urgent cases come first (before the totals), each with its ticket. */
static void test_render_cases(void **st) {
  (void)st;
  ac_digest_totals tot = {120, 30, 0, 0, 0, 0};
  ac_digest_case cases[] = {
      {"URGENTE · Amenaza · WhatsApp · 2024-05-07 13:02 UTC", "redmine", "7", "https://rm/issues/7?a=1&b", "New",
       "open", 0.2},
      {"URGENTE · Riesgo de autolesión · Web · 2024-05-07 09:00 UTC", NULL, NULL, NULL, NULL, "closed", 0.5}};
  ac_digest d = {"demo", "daily", "es", NULL, 0, NULL, 0, "2024-05-07", "2024-05-07", &tot, cases, 2, 2};
  char *s, *t, *h;
  assert_int_equal(ac_digest_render(&d, &s, &t, &h), 0);
  const char *c = strstr(t, "Casos urgentes: 2 abiertos en el periodo, 1 sin cerrar\n");
  assert_non_null(c);
  assert_true(c < strstr(t, "Comentarios recibidos")); /* first */
  assert_non_null(strstr(t,
                         "- URGENTE · Amenaza · WhatsApp · 2024-05-07 13:02 UTC [abierto]: redmine 7 (New) "
                         "https://rm/issues/7?a=1&b\n"));
  assert_non_null(strstr(t,
                         "- URGENTE · Riesgo de autolesión · Web · 2024-05-07 09:00 UTC [cerrado]: (sin ticket "
                         "todavía)\n"));
  assert_non_null(strstr(h, "<h3>Casos urgentes</h3>"));
  assert_non_null(strstr(h, "<a href=\"https://rm/issues/7?a=1&amp;b\">redmine 7</a> (New)</li>"));
  free(s);
  free(t);
  free(h);
  /* no case at all: no section */
  ac_digest n = {"demo", "daily", "en", NULL, 0, NULL, 0, NULL, NULL, NULL};
  assert_int_equal(ac_digest_render(&n, &s, &t, &h), 0);
  assert_null(strstr(t, "Urgent cases"));
  free(s);
  free(t);
  free(h);
}

static void test_recipients(void **st) {
  (void)st;
  char **to = ac_digest_recipients(" a@x.org , ,<b@y.org>,");
  assert_non_null(to);
  assert_string_equal(to[0], "a@x.org");
  assert_string_equal(to[1], "<b@y.org>");
  assert_null(to[2]);
  ac_digest_recipients_free(to);
  assert_null(ac_digest_recipients(" , "));
  assert_null(ac_digest_recipients(NULL));
  const char *const env[] = {"ESCUCHA_DIGEST_TO_AG_1_XY=no@ag.org", "ESCUCHA_DIGEST_TO_AG_1_X=boss@ag.org", NULL};
  assert_string_equal(ac_digest_to_for(env, "ag-1.x", "all@x.org"), "boss@ag.org");
  assert_string_equal(ac_digest_to_for(env, "ag-2", "all@x.org"), "all@x.org");
  assert_null(ac_digest_to_for(env, "ag-2", ""));
  assert_string_equal(ac_digest_to_for(NULL, "ag-1.x", "all@x.org"), "all@x.org");
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
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_digest_delivered), cmocka_unit_test(test_email_connector),
                                     cmocka_unit_test(test_period),           cmocka_unit_test(test_render_content),
                                     cmocka_unit_test(test_render_cases),     cmocka_unit_test(test_render_stale),
                                     cmocka_unit_test(test_recipients)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
