/* Citizen text in ticket bodies (ac_text.c): every line stays in the quote,
 * markup is escaped per tool, mentions/references/links and marker-shaped
 * text are neutralized, and the only marker in a body is Escucha's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "plan.h"

#define WJ AC_WJ

static char *quote(const char *text, const char *attrib, int mu) {
  es_buf b = {0};
  assert_int_equal(ac_text_quote(&b, text, attrib, mu), 0);
  return b.data ? b.data : strdup("");
}

static char *inl(const char *text, int mu) {
  es_buf b = {0};
  assert_int_equal(ac_text_inline(&b, text, mu), 0);
  return b.data ? b.data : strdup("");
}

static void expect_quote(const char *text, const char *attrib, int mu, const char *want) {
  char *got = quote(text, attrib, mu);
  assert_string_equal(got, want);
  free(got);
}

/* Multi-line text with CRLF and lone CR, blank runs, mentions, references,
 * links, markup, HTML and a marker-shaped line. */
static const char *EVIL =
    "  Esperé 3 *horas*_ya_\r\n\r\n\r\n@admin mira #12\n# Título\r"
    "escucha-key: esk-0123\n<b>x</b> & [a](http://e.io)\n 1. lista \n\n";

static void test_markdown(void **st) {
  (void)st;
  expect_quote(EVIL, "fb-1", AC_MU_MARKDOWN,
               "> Esperé 3 \\*horas\\*\\_ya\\_\n"
               ">\n"
               "> @" WJ "admin mira #" WJ
               "12\n"
               "> \\# Título\n"
               "> escucha" WJ
               "-key: esk-0123\n"
               "> \\<b\\>x\\</b\\> \\& \\[a\\](http:" WJ
               "//e.io)\n"
               "> 1\\. lista (fb-1)\n");
  /* line-start syntax: lists, setext/thematic breaks, nested quotes, fences */
  expect_quote("- a\n+ b\n= c\n> d\n```\n~~~\n2) e\n|x|", NULL, AC_MU_MARKDOWN,
               "> \\- a\n> \\+ b\n> \\= c\n> \\> d\n> \\`\\`\\`\n> \\~\\~\\~\n> 2\\) e\n> \\|x\\|\n");
  /* GitLab references and math */
  expect_quote("!7 ~bug %v1 $5 &3 $x$", NULL, AC_MU_MARKDOWN,
               "> !" WJ "7 \\~" WJ "bug %" WJ "v1 \\$" WJ "5 \\&" WJ "3 \\$" WJ "x\\$\n");
}

static void test_textile(void **st) {
  (void)st;
  expect_quote(EVIL, "fb-1", AC_MU_TEXTILE,
               "> Esperé 3 &#42;horas&#42;&#95;ya&#95;\n"
               ">\n"
               "> &#64;" WJ "admin mira &#35;" WJ
               "12\n"
               "> &#35; Título\n"
               "> escucha" WJ
               "&#45;key&#58; esk&#45;0123\n"
               "> &#60;b&#62;x&#60;/b&#62; &#38; &#91;a&#93;&#40;http&#58;" WJ
               "//e.io&#41;\n"
               "> 1. lista &#40;fb&#45;1&#41;\n");
  /* block signatures, macros, wiki links, tables, notextile */
  expect_quote("h1. T\nbq. q\nfn12. f\n{{include(Secret)}} [[Wiki]] |a| ==raw==", NULL, AC_MU_TEXTILE,
               "> h1" WJ ". T\n> bq" WJ ". q\n> fn12" WJ
               ". f\n"
               "> &#123;&#123;include&#40;Secret&#41;&#125;&#125; &#91;&#91;Wiki&#93;&#93; &#124;a&#124; "
               "&#61;&#61;raw&#61;&#61;\n");
}

static void test_jira(void **st) {
  (void)st;
  expect_quote(EVIL, "fb-1", AC_MU_JIRA,
               "{quote}\n"
               "Esperé 3 \\*horas\\*\\_ya\\_\n"
               "\n"
               "@" WJ "admin mira \\#" WJ
               "12\n"
               "\\# Título\n"
               "escucha" WJ
               "\\-key: esk\\-0123\n"
               "<b>x</b> & \\[a\\](http:" WJ
               "//e.io)\n"
               "1. lista (fb\\-1)\n"
               "{quote}\n");
  /* a citizen cannot close the quote, open a macro, mention, or force breaks */
  expect_quote("{quote}\n{code}x{code} [~admin] h2. t \\\\ ??c?? !img.png!", NULL, AC_MU_JIRA,
               "{quote}\n\\{quote\\}\n\\{code\\}x\\{code\\} \\[\\~" WJ
               "admin\\] h2. t \xef\xbc\xbc\xef\xbc\xbc "
               "\\?\\?c\\?\\? \\!" WJ "img.png\\!\n{quote}\n");
}

static void test_html_plain_adf(void **st) {
  (void)st;
  expect_quote(EVIL, "fb-1", AC_MU_HTML,
               "<blockquote>Esperé 3 *horas*_ya_<br>\n"
               "<br>\n"
               "@" WJ "admin mira #" WJ
               "12<br>\n"
               "# Título<br>\n"
               "escucha" WJ
               "-key: esk-0123<br>\n"
               "&lt;b&gt;x&lt;/b&gt; &amp; [a](http:" WJ
               "//e.io)<br>\n"
               "1. lista (fb-1)</blockquote>\n");
  const char *plain =
      "> Esperé 3 *horas*_ya_\n"
      ">\n"
      "> @" WJ "admin mira #" WJ
      "12\n"
      "> # Título\n"
      "> escucha" WJ
      "-key: esk-0123\n"
      "> <b>x</b> & [a](http:" WJ
      "//e.io)\n"
      "> 1. lista (fb-1)\n";
  expect_quote(EVIL, "fb-1", AC_MU_PLAIN, plain);
  expect_quote(EVIL, "fb-1", AC_MU_ADF, plain);
  /* attribution is text too */
  expect_quote("a", "<i>@x</i>", AC_MU_HTML, "<blockquote>a (&lt;i&gt;@" WJ "x&lt;/i&gt;)</blockquote>\n");
}

/* Nothing visible: nothing appended (no empty quote); line breaks of every
 * kind; invalid UTF-8 and control characters; bidi overrides dropped. */
static void test_edges(void **st) {
  (void)st;
  for (int mu = 0; mu <= AC_MU_ADF; mu++) {
    expect_quote("", "id", mu, "");
    expect_quote(NULL, NULL, mu, "");
    expect_quote(" \r\n\t \n\r\n ", "id", mu, "");
  }
  expect_quote(
      "a\xe2\x80\xa8"
      "b\xc2\x85"
      "c\xe2\x80\xa9"
      "d\ve\ff\rg",
      NULL, AC_MU_PLAIN, "> a\n> b\n> c\n> d\n> e\n> f\n> g\n");
  expect_quote("x\xff\xc3y\x01z\x7f\xe2\x80\xaeq", NULL, AC_MU_PLAIN, "> x\xef\xbf\xbd\xef\xbf\xbdy z q\n");
  /* "www." and "escucha-key" in any case, "://" anywhere */
  expect_quote("WWW.x.org ESCUCHA-KEY ftp://h", NULL, AC_MU_PLAIN,
               "> WWW" WJ ".x.org ESCUCHA" WJ "-KEY ftp:" WJ "//h\n");
  /* sigils before punctuation or at the end stay as they are ('@' always gets one) */
  expect_quote("# 1 #. !! a@", NULL, AC_MU_PLAIN, "> # 1 #. !! a@" WJ "\n");
}

/* A very long line is one quoted line, escaped throughout. */
static void test_long_line(void **st) {
  (void)st;
  size_t n = 200000;
  char *in = malloc(n + 1);
  for (size_t i = 0; i < n; i++) in[i] = i % 2 ? '*' : 'a';
  in[n] = 0;
  char *md = quote(in, NULL, AC_MU_MARKDOWN), *tx = quote(in, NULL, AC_MU_TEXTILE);
  assert_int_equal(strlen(md), 2 + n / 2 + n / 2 * 2 + 1);
  assert_int_equal(strlen(tx), 2 + n / 2 + n / 2 * 5 + 1);
  assert_ptr_equal(strchr(md, '\n'), md + strlen(md) - 1);
  assert_ptr_equal(strchr(tx, '\n'), tx + strlen(tx) - 1);
  free(md);
  free(tx);
  free(in);
}

static void test_inline(void **st) {
  (void)st;
  char *a = inl("# Prioridad #1\r\n@equipo", AC_MU_MARKDOWN);
  assert_string_equal(a, "\\# Prioridad #" WJ "1 @" WJ "equipo");
  free(a);
  a = inl(" p. <x> ", AC_MU_TEXTILE);
  assert_string_equal(a, "p" WJ ". &#60;x&#62;");
  free(a);
  a = inl("a\nb", AC_MU_HTML);
  assert_string_equal(a, "a b");
  free(a);
}

static void test_markup_names(void **st) {
  (void)st;
  assert_int_equal(ac_markup_parse("textile"), AC_MU_TEXTILE);
  assert_int_equal(ac_markup_parse("Markdown"), AC_MU_MARKDOWN);
  assert_int_equal(ac_markup_parse("common_mark"), AC_MU_MARKDOWN);
  assert_int_equal(ac_markup_parse("html"), AC_MU_HTML);
  assert_int_equal(ac_markup_parse("rst"), -1);
  assert_int_equal(ac_markup_parse(NULL), -1);
  assert_string_equal(ac_markup_name(AC_MU_JIRA), "jira");
  /* each tool's markup; Redmine and webhooks can be told */
  static const struct {
    const char *tool;
    int mu;
  } want[] = {{"jira", AC_MU_ADF},        {"github", AC_MU_MARKDOWN}, {"gitlab", AC_MU_MARKDOWN},
              {"redmine", AC_MU_TEXTILE}, {"asana", AC_MU_PLAIN},     {"clickup", AC_MU_PLAIN},
              {"monday", AC_MU_HTML},     {"trello", AC_MU_MARKDOWN}, {"webhook", AC_MU_PLAIN},
              {"email", AC_MU_PLAIN}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ac_conn *c = ac_conn_new(want[i].tool, NULL);
    assert_non_null(c);
    assert_int_equal(ac_conn_markup(c), want[i].mu);
    ac_conn_free(c);
  }
  json_t *cfg = json_pack("{s:s}", "api_version", "2");
  ac_conn *c = ac_conn_new("jira", cfg);
  assert_int_equal(ac_conn_markup(c), AC_MU_JIRA);
  ac_conn_free(c);
  json_decref(cfg);
  cfg = json_pack("{s:s}", "markup", "common_mark");
  c = ac_conn_new("redmine", cfg);
  assert_int_equal(ac_conn_markup(c), AC_MU_MARKDOWN);
  ac_conn_free(c);
  json_decref(cfg);
  cfg = json_pack("{s:s, s:s}", "markup", "markdown", "api_version", "3");
  c = ac_conn_new("jira", cfg); /* Cloud takes ADF only */
  assert_int_equal(ac_conn_markup(c), AC_MU_ADF);
  ac_conn_free(c);
  json_decref(cfg);
  cfg = json_pack("{s:s}", "markup", "bbcode");
  c = ac_conn_new("webhook", cfg);
  assert_int_equal(ac_conn_markup(c), -1);
  ac_conn_free(c);
  json_decref(cfg);
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* The marker: only at a line start, so a quoted one never counts; a body
 * whose citizen text carries another plan's marker (even this plan's) has
 * exactly one marker, Escucha's, in every markup. */
static void test_marker_only_from_escucha(void **st) {
  (void)st;
  assert_true(ac_has_marker("escucha-key: esk-1\n", "esk-1"));
  assert_true(ac_has_marker("x\nescucha-key: esk-1", "esk-1"));
  assert_false(ac_has_marker("> escucha-key: esk-1\n", "esk-1"));
  assert_false(ac_has_marker("x escucha-key: esk-1\n", "esk-1"));
  assert_false(ac_has_marker("escucha-key: esk-12\n", "esk-1"));

  ac_plan p = {0};
  strcpy(p.id, "01PLAN");
  strcpy(p.agency, "demo");
  strcpy(p.topic, "waiting");
  ac_plan_key("req-A", p.idem_key);
  char other[64], text[400];
  ac_plan_key("req-B", other);
  snprintf(text, sizeof text, "Mucha espera\nescucha-key: %s\n\nescucha-key: %s\r\n@admin", other, p.idem_key);
  p.quotes[0].text = strdup(text);
  strcpy(p.quotes[0].id, "fb-9");
  p.quotes[1].text = strdup("Otra\n\n#1 *fila*");
  p.nquotes = 2;
  p.recs[0] = strdup("Abrir #2 ventanillas para @equipo");
  p.nrecs = 1;
  p.summary_es = strdup("«Espera»: Prioridad #1 (puntaje 0.81).");
  for (int mu = 0; mu <= AC_MU_ADF; mu++) {
    char *body = ac_plan_body(&p, "es", mu);
    assert_non_null(body);
    assert_int_equal(count(body, AC_MARKER_PREFIX), 1);
    assert_true(ac_has_marker(body, p.idem_key));
    assert_false(ac_has_marker(body, other));
    assert_null(strstr(body, "@admin"));
    assert_null(strstr(body, "@equipo"));
    assert_null(strstr(body, "#1"));
    assert_null(strstr(body, "#2"));
    /* the marker is the body's last line, outside the quotes */
    char want[128];
    snprintf(want, sizeof want,
             mu == AC_MU_HTML ? "\n" AC_MARKER_PREFIX "%s</small></p>\n" : "\n" AC_MARKER_PREFIX "%s\n", p.idem_key);
    assert_string_equal(body + strlen(body) - strlen(want), want);
    if (mu == AC_MU_PLAIN || mu == AC_MU_MARKDOWN || mu == AC_MU_ADF) { /* every citizen line quoted */
      assert_non_null(strstr(body, "\n\n> Mucha espera\n> escucha" WJ "-key: "));
      assert_non_null(strstr(body, "(fb-9)\n\n> Otra\n>\n> "));
    }
    free(body);
  }
  char *md = ac_plan_body(&p, "es", AC_MU_MARKDOWN);
  assert_non_null(strstr(md, "\n\n> Otra\n>\n> \\#" WJ "1 \\*fila\\*\n\nplan 01PLAN\n"));
  assert_non_null(strstr(md, "\n- Abrir #" WJ "2 ventanillas para @" WJ "equipo\n"));
  free(md);
  ac_plan_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_markdown),
      cmocka_unit_test(test_textile),
      cmocka_unit_test(test_jira),
      cmocka_unit_test(test_html_plain_adf),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_long_line),
      cmocka_unit_test(test_inline),
      cmocka_unit_test(test_markup_names),
      cmocka_unit_test(test_marker_only_from_escucha),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
