/* Full-text vectors made by the service (vector.h). Every expected literal
 * here was checked against PostgreSQL 15's to_tsvector on the same text;
 * tests/integration/test_search_vector.py compares every bundled text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vector.h"

static pz_vector *V;

/* The literal for text, or "-" when the text is left to the database. */
static const char *make(const char *lang, const char *text) {
  static es_buf out;
  static char copy[4096];
  out.len = 0;
  int r = pz_vector_make(V, lang, text, text ? strlen(text) : 0, 0, &out);
  assert_true(r >= 0);
  if (r == 0) {
    assert_int_equal(out.len, 0); /* nothing appended when the database does it */
    return "-";
  }
  assert_true(out.len < sizeof copy);
  memcpy(copy, out.data ? out.data : "", out.len);
  copy[out.len] = 0;
  return copy;
}

static void test_spanish_words_stop_words_and_positions(void **state) {
  (void)state;
  /* stop words (El, y, el, está, Él) take positions; accents and upper case fold as the server's */
  assert_string_equal(make("es", "El gato, y el perro. ¿Dónde está ÁRBOL Él? «hola» “cita”"),
                      "'gat':2 'perr':5 'dond':6 'arbol':8 'hol':10 'cit':11");
  /* apostrophes are blanks; numbers and numwords go through as they are */
  assert_string_equal(make("es", "don’t l'agua 3,5 12 fin. 3er piso"),
                      "'don':1 't':2 'l':3 'agu':4 '3':5 '5':6 '12':7 'fin':8 '3er':9 'pis':10");
  assert_string_equal(make("es", "Solicitud 123: llevo 20€ y 10:30 h, 15% fin 7. ok"),
                      "'solicitud':1 '123':2 'llev':3 '20':4 '10':6 '30':7 'h':8 '15':9 'fin':10 '7':11 'ok':12");
  assert_string_equal(make("es", "abc1ñ 1a ÁRBOL ß ÿ ñandú"), "'abc1ñ':1 '1a':2 'arbol':3 'ß':4 'ÿ':5 'ñandu':6");
  assert_string_equal(make("es", "- guion suelto - "), "'guion':1 'suelt':2");
  assert_string_equal(make("es", "tres... el x.... y"), "'tres':1 'x':3");
}

static void test_english_and_the_language_rule(void **state) {
  (void)state;
  assert_string_equal(make("en", "The cats sat, on the mats! Running runners easily 2024"),
                      "'cat':2 'sat':3 'mat':6 'run':7 'runner':8 'easili':9 '2024':10");
  /* anything but "es" is English, as feedback_search_vector */
  assert_string_equal(make(NULL, "The cats"), "'cat':2");
  assert_string_equal(make("fr", "The cats"), "'cat':2");
  assert_string_equal(make("es", "The cats"), "'the':1 'cats':2");
}

static void test_empty_and_only_stop_words(void **state) {
  (void)state;
  assert_string_equal(make("es", ""), "");
  assert_string_equal(make("es", NULL), "");
  assert_string_equal(make("es", "el de la"), "");
  assert_string_equal(make("en", " , ; "), "");
}

static void test_left_to_the_database(void **state) {
  (void)state;
  const char *left[] = {
      "punto.final",     /* a host or file name */
      "hola.. chao",     /* exactly two dots are a token */
      "socio-económico", /* hyphenated word */
      "3-4 días",        /* a signed number */
      "2.5 km",          /* a decimal */
      "1.2.3",           /* a version */
      "ver http://x.cl", /* a URL */
      "ana@example.org", /* an e-mail */
      "1º piso",         /* º: not a Latin-1 letter here */
      "en 20–30",        /* a non-ASCII mark next to a number */
      "ok\xff",          /* not UTF-8 */
      "\xe2\x82",        /* a truncated sequence */
      "Ωmega",           /* another script */
      "a/b",             /* a path */
      "x_y",             /* underscore */
      "<b>negrita</b>",  /* a tag */
  };
  for (size_t i = 0; i < sizeof left / sizeof *left; i++) assert_string_equal(make("es", left[i]), "-");
}

static void test_at_most_255_tokens_and_255_bytes(void **state) {
  (void)state;
  char text[256 * 2 + 8];
  size_t n = 0;
  for (int i = 0; i < 255; i++) text[n++] = 'x', text[n++] = ' ';
  text[n] = 0;
  const char *v = make("es", text);
  assert_string_not_equal(v, "-");
  assert_non_null(strstr(v, "'x':255"));
  /* the 256th token: to_tsvector keeps 255 positions of a lexeme, the literal's reader 256 */
  text[n++] = 'x', text[n] = 0;
  assert_string_equal(make("es", text), "-");
  char word[300];
  memset(word, 'a', 255), word[255] = 0;
  assert_string_not_equal(make("es", word), "-");
  memset(word, 'a', 256), word[256] = 0;
  assert_string_equal(make("es", word), "-");
}

static void test_appends_after_what_the_buffer_holds(void **state) {
  (void)state;
  es_buf out = {0};
  assert_int_equal(es_buf_puts(&out, "[\"x\","), 0);
  assert_int_equal(pz_vector_make(V, "en", "cats", 4, 0, &out), 1);
  assert_int_equal(pz_vector_make(V, "en", "a.b", 3, 0, &out), 0); /* left as it was */
  assert_int_equal(out.len, strlen("[\"x\",'cat':1"));
  assert_memory_equal(out.data, "[\"x\",'cat':1", out.len);
  es_buf_free(&out);
}

static void test_binary_form(void **state) {
  (void)state;
  es_buf out = {0};
  /* perr:2,5 gat:3 (the server's order: bytes, then the shorter first); "el" a position */
  assert_int_equal(pz_vector_make(V, "es", "el perro gato y perro", 21, 1, &out), 1);
  static const unsigned char want[] = {0,   0,   0,   2,   'g', 'a', 't', 0, 0, 1, 0, 3,
                                       'p', 'e', 'r', 'r', 0,   0,   2,   0, 2, 0, 5};
  assert_int_equal(out.len, sizeof want);
  assert_memory_equal(out.data, want, sizeof want);
  out.len = 0;
  assert_int_equal(pz_vector_make(V, "es", "a aa a", 6, 1, &out), 1); /* 'a' is a stop word: aa alone */
  static const unsigned char want2[] = {0, 0, 0, 1, 'a', 'a', 0, 0, 1, 0, 2};
  assert_int_equal(out.len, sizeof want2);
  assert_memory_equal(out.data, want2, sizeof want2);
  out.len = 0;
  assert_int_equal(pz_vector_make(V, "es", "", 0, 1, &out), 1);
  assert_int_equal(out.len, 4); /* no lexemes */
  es_buf_free(&out);
}

static void test_stop_lists_sorted(void **state) {
  (void)state;
  for (size_t i = 1; i < pz_vector_nstop_es; i++)
    assert_true(strcmp(pz_vector_stop_es[i - 1], pz_vector_stop_es[i]) < 0);
  for (size_t i = 1; i < pz_vector_nstop_en; i++)
    assert_true(strcmp(pz_vector_stop_en[i - 1], pz_vector_stop_en[i]) < 0);
  assert_int_equal(pz_vector_nstop_es, 313);
  assert_int_equal(pz_vector_nstop_en, 127);
}

int main(void) {
  V = pz_vector_new();
  if (!V) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spanish_words_stop_words_and_positions),
      cmocka_unit_test(test_english_and_the_language_rule),
      cmocka_unit_test(test_empty_and_only_stop_words),
      cmocka_unit_test(test_left_to_the_database),
      cmocka_unit_test(test_at_most_255_tokens_and_255_bytes),
      cmocka_unit_test(test_appends_after_what_the_buffer_holds),
      cmocka_unit_test(test_binary_form),
      cmocka_unit_test(test_stop_lists_sorted),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  pz_vector_free(V);
  return rc;
}
