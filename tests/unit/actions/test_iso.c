/* ISO 9001 evidence report rendering: CSV quoting (RFC 4180, formula
 * guard), HTML escaping of every value, links only for http(s) URLs, the
 * NPS interval. The database side is tests/integration/test_iso_report.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iso.h"

static char *csv1(const char *s) {
  es_buf b = {0};
  assert_int_equal(ac_iso_csv_field(&b, s), 0);
  assert_int_equal(es_buf_append(&b, "", 1), 0);
  return b.data;
}

static void check_csv(const char *in, const char *want) {
  char *got = csv1(in);
  assert_string_equal(got, want);
  free(got);
}

static void test_csv_field(void **st) {
  (void)st;
  check_csv("plain", "plain");
  check_csv("", "");
  check_csv("a,b", "\"a,b\"");
  check_csv("say \"hi\"", "\"say \"\"hi\"\"\"");
  check_csv("two\nlines", "\"two\nlines\"");
  check_csv("cr\rhere", "\"cr\rhere\"");
  check_csv(" padded ", "\" padded \"");
  /* a spreadsheet would run these as formulas */
  check_csv("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"");
  check_csv("+1 call", "\"'+1 call\"");
  check_csv("@SUM(A1)", "\"'@SUM(A1)\"");
  check_csv("-x", "\"'-x\"");
  /* numbers stay numbers */
  check_csv("-0.2500", "-0.2500");
  check_csv("+3", "+3");
}

static void test_csv_table(void **st) {
  (void)st;
  static const char *const head[] = {"a", "b"};
  ac_iso_table t = {.file = "t.csv", .ncols = 2, .head = head, .labels = head};
  const char *r1[] = {"x,y", NULL}, *r2[] = {"1", "q\"q"};
  ac_iso_table_add(&t, r1);
  ac_iso_table_add(&t, r2);
  es_buf b = {0};
  assert_int_equal(ac_iso_render_csv(&t, &b), 0);
  assert_int_equal(es_buf_append(&b, "", 1), 0);
  assert_string_equal(b.data, "a,b\r\n\"x,y\",\r\n1,\"q\"\"q\"\r\n");
  es_buf_free(&b);
  ac_iso_table_free(&t);
}

/* A report whose every value tries to break out of the page. */
static void test_html_escaped(void **st) {
  (void)st;
  ac_iso_report r;
  ac_iso_report_init(&r);
  assert_string_equal(r.lang, "es"); /* Spanish first */
  assert_int_equal(ac_iso_report_lang(&r, "fr"), -1);
  assert_int_equal(ac_iso_report_lang(&r, "en"), 0);
  strcpy(r.agency, "<b>ag&\"x'</b>");
  strcpy(r.from, "2026-01-05"), strcpy(r.to, "2026-02-01"), strcpy(r.generated, "2026-02-02T00:00:00Z");
  const char *nc[23] = {"PLAN1",
                        "plan",
                        "roads<script>alert(1)</script>",
                        "closed",
                        "2026-01-06T00:00:00Z",
                        "2026-01-20T00:00:00Z",
                        "120",
                        "80",
                        "14",
                        "0.8123",
                        "Potholes \"everywhere\" & <i>more</i>",
                        "surface (70% of negatives)",
                        "Fix <img src=x onerror=alert(2)>",
                        "2",
                        "not_fixed",
                        "effective",
                        "4.0000",
                        "2.0000",
                        "0.5000",
                        "0.3000",
                        "0.8000",
                        "",
                        ""};
  ac_iso_table_add(&r.nc, nc);
  const char *tk1[10] = {"PLAN1", "redmine", "#7", "javascript:alert(3)", "done",
                         "",      "",        "",   "not_fixed",           "<no budget>"};
  const char *tk2[10] = {
      "PLAN1", "jira", "CIV-9", "https://jira.example/browse/CIV-9?a=1&b=\"2\"", "in_progress", "", "", "", "", ""};
  ac_iso_table_add(&r.tickets, tk1);
  ac_iso_table_add(&r.tickets, tk2);
  const char *ac[5] = {"action_plan", "<open>", "3", "", ""};
  ac_iso_table_add(&r.audit_counts, ac);
  r.chain_rc = 1, r.chain_bad_id = 42, r.chain_rows = 50;
  strcpy(r.chain_why, "<why>");
  r.head_id = 50;
  strcpy(r.head_hash, "ab12");
  r.pooled_ok = 1, r.pooled_rr = 0.63, r.pooled_lo = 0.55, r.pooled_hi = 0.72, r.pooled_n = 3;
  es_buf b = {0};
  assert_int_equal(ac_iso_render_html(&r, &b), 0);
  assert_int_equal(es_buf_append(&b, "", 1), 0);
  const char *h = b.data;
  assert_null(strstr(h, "<script"));
  assert_null(strstr(h, "<img"));
  assert_null(strstr(h, "<i>"));
  assert_null(strstr(h, "<open>"));
  assert_null(strstr(h, "<why>"));
  assert_null(strstr(h, "<no budget>"));
  assert_null(strstr(h, "href=\"javascript"));
  assert_non_null(strstr(h, "&lt;b&gt;ag&amp;&quot;x&#39;&lt;/b&gt;"));
  assert_non_null(strstr(h, "roads&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_non_null(strstr(h, "href=\"https://jira.example/browse/CIV-9?a=1&amp;b=&quot;2&quot;\""));
  assert_non_null(strstr(h, "BROKEN at row 42"));
  assert_non_null(strstr(h, "changed by <b>-37%</b> (95% CI -45% to -28%"));
  assert_non_null(strstr(h, "10.2 Nonconformity and corrective action"));
  assert_non_null(strstr(h, "9.1.2 Customer satisfaction"));
  assert_non_null(strstr(h, "7.5 Documented information"));
  assert_non_null(strstr(h, "<html lang=\"en\">"));
  assert_non_null(strstr(h, "<dt>Evidence: negative</dt>"));
  /* self-contained: no outside resource, no script */
  assert_null(strstr(h, "<link"));
  assert_null(strstr(h, "<script"));

  /* the same report in Spanish: every heading, label and verdict translated, values as escaped */
  assert_int_equal(ac_iso_report_lang(&r, "es"), 0);
  b.len = 0;
  assert_int_equal(ac_iso_render_html(&r, &b), 0);
  assert_int_equal(es_buf_append(&b, "", 1), 0);
  h = b.data;
  assert_non_null(strstr(h, "<html lang=\"es\">"));
  assert_non_null(strstr(h, "9.1.2 Satisfacción del cliente"));
  assert_non_null(strstr(h, "10.2 No conformidad y acción correctiva"));
  assert_non_null(strstr(h, "7.5 Información documentada"));
  assert_non_null(strstr(h, "ROTA en la fila 42"));
  assert_non_null(strstr(h, "cambiaron <b>-37%</b> (IC 95% -45% a -28%"));
  assert_non_null(strstr(h, "<dt>Nota de causa raíz</dt>"));
  assert_non_null(strstr(h, "<span class=\"v effective\">eficaz</span>"));
  assert_non_null(strstr(h, "roads&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_null(strstr(h, "Nonconformity"));
  assert_null(strstr(h, "<script"));
  es_buf_free(&b);
  ac_iso_report_free(&r);
}

static void test_nps(void **st) {
  (void)st;
  double v, lo, hi;
  assert_int_equal(ac_iso_nps(0, 0, 0, &v, &lo, &hi), 0);
  assert_true(isnan(v));
  /* 50 promoters, 30 passives, 20 detractors: NPS 30, se = sqrt((0.7 - 0.09) / 100) */
  assert_int_equal(ac_iso_nps(50, 30, 20, &v, &lo, &hi), 1);
  double se = sqrt(0.61 / 100.0);
  assert_true(fabs(v - 30.0) < 1e-9);
  assert_true(fabs(lo - 100 * (0.3 - 1.959963984540054 * se)) < 1e-9);
  assert_true(fabs(hi - 100 * (0.3 + 1.959963984540054 * se)) < 1e-9);
  assert_int_equal(ac_iso_nps(3, 0, 0, &v, &lo, &hi), 1); /* clipped to the scale */
  assert_true(hi <= 100.0 && lo <= 100.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_csv_field), cmocka_unit_test(test_csv_table),
                                     cmocka_unit_test(test_html_escaped), cmocka_unit_test(test_nps)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
