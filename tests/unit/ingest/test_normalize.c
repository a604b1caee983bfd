/* ing_normalize_text, ing_fold_text, ing_content_hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "normalize.h"

typedef struct {
  const char *in;
  size_t len; /* 0 = strlen(in) */
  const char *want;
} norm_case;

static const norm_case NORM[] = {
    {"  Hola   mundo  ", 0, "Hola mundo"},
    {"a\t\tb", 0, "a b"},
    {"línea 1\r\nlínea 2\rlínea 3", 0, "línea 1\nlínea 2\nlínea 3"},
    {"a\n\n\n\n\nb", 0, "a\n\nb"},
    {"a\n\nb", 0, "a\n\nb"},
    {"a  \n   b", 0, "a\nb"},
    {"\n\n  texto \n\n", 0, "texto"},
    {"a\x01"
     "b\x7f"
     "c\x1b[0m",
     0, "abc[0m"},
    {"a\xc2\x85"
     "b",
     0, "a\nb"}, /* NEL */
    {"a\xc2\xa0\xc2\xa0"
     "b",
     0, "a b"},                         /* NBSP */
    {"\xef\xbb\xbfHola", 0, "Hola"},    /* BOM */
    {"cafe\xcc\x81", 0, "caf\xc3\xa9"}, /* NFD -> NFC */
    {"n\xcc\x83"
     "and\xc3\xba",
     0,
     "\xc3\xb1"
     "and\xc3\xba"},
    {"\xe2\x84\xab", 0, "\xc3\x85"},     /* Angstrom sign -> Å */
    {"\xef\xac\x81", 0, "\xef\xac\x81"}, /* ﬁ ligature kept (compat only) */
    {"¿Dónde está?  ¡Ya!", 0, "¿Dónde está? ¡Ya!"},
    {"emoji \xf0\x9f\x98\xa1 ok", 0, "emoji \xf0\x9f\x98\xa1 ok"},
    {"a\0b", 3, "ab"},
    {"", 0, ""},
    {"   \t\n ", 0, ""},
};

static void test_normalize_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof NORM / sizeof NORM[0]; i++) {
    const norm_case *c = &NORM[i];
    size_t len = c->len ? c->len : strlen(c->in), n = 99;
    long bad = 99;
    char *out = ing_normalize_text(c->in, len, 0, &n, &bad);
    assert_non_null(out);
    assert_string_equal(out, c->want);
    assert_int_equal(n, strlen(c->want));
    assert_int_equal(bad, -1);
    /* the utf8proc-only reference path agrees */
    char *ref = ing_normalize_text_ref(c->in, len, 0, &n, &bad);
    assert_string_equal(ref, c->want);
    free(ref);
    free(out);
  }
}

static void test_normalize_invalid(void **state) {
  (void)state;
  size_t n;
  long bad = 0;
  /* reject: offset of the first bad byte */
  assert_null(
      ing_normalize_text("abc\xff"
                         "def",
                         7, 0, &n, &bad));
  assert_int_equal(bad, 3);
  assert_null(ing_normalize_text("\xc3\xa9t\xc3", 4, 0, &n, &bad)); /* truncated */
  assert_int_equal(bad, 3);
  assert_null(ing_normalize_text("\xed\xa0\x80", 3, 0, &n, &bad)); /* surrogate */
  assert_int_equal(bad, 0);
  assert_null(ing_normalize_text("x\xc0\xaf", 3, 0, &n, &bad)); /* overlong */
  assert_int_equal(bad, 1);

  /* repair: one U+FFFD per maximal subpart */
  char *out = ing_normalize_text(
      "abc\xff"
      "def",
      7, 1, &n, &bad);
  assert_string_equal(out,
                      "abc\xef\xbf\xbd"
                      "def");
  assert_int_equal(bad, -1);
  free(out);
  out = ing_normalize_text(
      "a\xe2\x82"
      "b",
      4, 1, &n, &bad); /* truncated 3-byte seq */
  assert_string_equal(out,
                      "a\xef\xbf\xbd"
                      "b");
  free(out);
  out = ing_normalize_text("\xc0\xaf", 2, 1, &n, &bad); /* two bad bytes -> two FFFD */
  assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
  free(out);
  out = ing_normalize_text("cafe\xcc\x81 \xff  x", 11, 1, &n, &bad); /* repair + NFC + spaces */
  assert_string_equal(out, "caf\xc3\xa9 \xef\xbf\xbd x");
  free(out);
  /* NULL input is an empty text */
  out = ing_normalize_text(NULL, 0, 0, NULL, NULL);
  assert_string_equal(out, "");
  free(out);
}

typedef struct {
  const char *a, *b;
} fold_pair;

static void test_fold(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } F[] = {
      {"¡Hola,   MUNDO!", "hola mundo"},
      {"Canción Ñandú ÁRBOL", "cancion nandu arbol"},
      {"Straße", "strasse"},
      {"ﬁnal ① ²", "final 1 2"},
      {"no-responden... (otra vez)", "no responden otra vez"},
      {"precio: $15.000", "precio 15 000"},
      {"  ", ""},
      {"Ça não está", "ca nao esta"},
      {"ΑΘΗΝΑ", "αθηνα"},
      {"enojado 😡!!", "enojado 😡"},
      {"soft\xc2\xad"
       "hyphen",
       "softhyphen"},
      {"bad\xff"
       "byte",
       "bad byte"},
  };
  for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
    size_t n;
    char *out = ing_fold_text(F[i].in, strlen(F[i].in), &n);
    assert_non_null(out);
    assert_string_equal(out, F[i].want);
    assert_int_equal(n, strlen(out));
    char *ref = ing_fold_text_ref(F[i].in, strlen(F[i].in), &n);
    assert_string_equal(ref, F[i].want);
    free(ref);
    free(out);
  }
}

/* Fast and reference fold agree on every code point the fast table covers. */
static void test_fold_table_matches_utf8proc(void **state) {
  (void)state;
  for (int cp = 0x80; cp < 0x180; cp++) {
    char buf[8] = "x";
    buf[1] = (char)(0xC0 | (cp >> 6));
    buf[2] = (char)(0x80 | (cp & 0x3F));
    buf[3] = 'y';
    size_t n1, n2;
    char *a = ing_fold_text(buf, 4, &n1), *b = ing_fold_text_ref(buf, 4, &n2);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
}

static void test_hash(void **state) {
  (void)state;
  char h1[33], h2[33], h3[33];
  size_t n1, n2;
  char *f1 = ing_fold_text("¡Hola,   MUNDO!", strlen("¡Hola,   MUNDO!"), &n1);
  char *f2 = ing_fold_text("hola mundo", 10, &n2);
  ing_content_hash("muni-stgo", f1, n1, h1);
  ing_content_hash("muni-stgo", f2, n2, h2);
  ing_content_hash("muni-valpo", f2, n2, h3);
  assert_string_equal(h1, h2);
  assert_string_not_equal(h1, h3);
  assert_int_equal(strlen(h1), 32);
  for (int i = 0; i < 32; i++) assert_non_null(strchr("0123456789abcdef", h1[i]));
  /* the separator matters: ("ab","c") != ("a","bc") */
  ing_content_hash("ab", "c", 1, h1);
  ing_content_hash("a", "bc", 2, h2);
  assert_string_not_equal(h1, h2);
  /* a NULL agency hashes like "" */
  ing_content_hash(NULL, "", 0, h1);
  ing_content_hash("", "", 0, h2);
  assert_string_equal(h1, h2);
  free(f1);
  free(f2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_throughput(void **state) {
  (void)state;
  const char *text =
      "Buenas tardes,  llevo tres semanas esperando respuesta de la municipalidad por el "
      "reclamo de la basura en la calle Los Aromos.\r\nMi RUT es 12.345.678-5 y mi teléfono "
      "+56 9 1234 5678; también pueden escribirme a vecina.aromos@gmail.com. El camión no "
      "pasa desde el 12/05/2024 y pagamos $15.000 de derechos de aseo. ¿Hasta cuándo?";
  size_t len = strlen(text), n;
  long bad;
  int iters = 50000;
  double t0 = now_s();
  for (int i = 0; i < iters; i++) free(ing_normalize_text(text, len, 1, &n, &bad));
  double t1 = now_s();
  for (int i = 0; i < iters; i++) free(ing_fold_text(text, len, &n));
  double t2 = now_s();
  printf("ing_normalize_text: %.0f items/s, %.1f MB/s\n", iters / (t1 - t0), iters * (double)len / (t1 - t0) / 1e6);
  printf("ing_fold_text:      %.0f items/s, %.1f MB/s\n", iters / (t2 - t1), iters * (double)len / (t2 - t1) / 1e6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalize_table),
      cmocka_unit_test(test_normalize_invalid),
      cmocka_unit_test(test_fold),
      cmocka_unit_test(test_fold_table_matches_utf8proc),
      cmocka_unit_test(test_hash),
      cmocka_unit_test(test_throughput),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
