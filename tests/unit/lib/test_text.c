/* lib/text: the fold profiles (each one the folding its service did before
 * the move), the word-character test, the tokenizer and the stop lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "text.h"

static void check(es_fold_profile p, const char *in, size_t len, const char *want) {
  size_t n = 99;
  char *got = es_text_fold(p, in, len, &n);
  assert_non_null(got);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(got, want, n + 1); /* NUL-terminated too */
  free(got);
}

static void test_profiles(void **state) {
  (void)state;
  const char *s = "Ñandú CAFÉ ﬁla ²";
  check(ES_FOLD_MODEL, s, strlen(s), "nandu cafe fila 2"); /* NFKC: ² -> 2 */
  check(ES_FOLD_TERMS, s, strlen(s), "nandu cafe fila ²"); /* NFC: ² kept (ﬁ case-folds) */
  check(ES_FOLD_CASE, s, strlen(s), "ñandú café fila ²");  /* accents kept */
  /* MODEL: invalid bytes and NUL become one space each; the others refuse */
  check(ES_FOLD_MODEL, "a\xff\0B", 4, "a  b");
  assert_null(es_text_fold(ES_FOLD_TERMS, "\xff\xfe bad", 6, NULL));
  assert_null(es_text_fold(ES_FOLD_CASE, "\xff\xfe bad", 6, NULL));
  assert_null(es_text_fold((es_fold_profile)7, "a", 1, NULL));
  check(ES_FOLD_TERMS, "Straße İstanbul", strlen("Straße İstanbul"), "strasse istanbul");
}

/* The table fast paths (ES_FOLD_TERMS, ES_FOLD_MODEL) equal utf8proc_map's
 * output, for every code point below U+0250 alone, after each other in both
 * orders and next to a combining mark (which takes the utf8proc path). */
#define TERMS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK)
#define MODEL (TERMS | UTF8PROC_COMPAT | UTF8PROC_IGNORE)
static void check_map(es_fold_profile p, utf8proc_option_t opts, const char *in) {
  utf8proc_uint8_t *want = NULL;
  assert_true(utf8proc_map((const utf8proc_uint8_t *)in, 0, &want, UTF8PROC_NULLTERM | opts) >= 0);
  check(p, in, strlen(in), (const char *)want);
  free(want);
}

static void fast_path(es_fold_profile p, utf8proc_option_t opts) {
  static const utf8proc_int32_t RANGES[2][2] = {{1, 0x250}, {0x2000, 0x20D0}};
  char up[0x320 * 4 + 1], down[0x320 * 4 + 1], one[16];
  size_t nu = 0, nd = 0;
  for (int r = 0; r < 2; r++)
    for (utf8proc_int32_t cp = RANGES[r][0]; cp < RANGES[r][1]; cp++) {
      utf8proc_ssize_t k = utf8proc_encode_char(cp, (utf8proc_uint8_t *)one);
      one[k] = '\0';
      check_map(p, opts, one);
      memcpy(up + nu, one, (size_t)k), nu += (size_t)k;
      k = utf8proc_encode_char(RANGES[1 - r][1] - 1 - (cp - RANGES[r][0]) % (RANGES[1 - r][1] - RANGES[1 - r][0]),
                               (utf8proc_uint8_t *)down + nd),
      nd += (size_t)k;
    }
  up[nu] = down[nd] = '\0';
  check_map(p, opts, up);
  check_map(p, opts, down);
  check_map(p, opts, "Ñandú CAFE\xcc\x81 İstanbul straße ǅemal ΣΊΣΥΦΟΣ trámite ½ ª º ¹ µ \xc2\xad ﬁla");
  check_map(p, opts,
            "¡Pésima atención! ¿Por qué? «señora» — “quote” ‘x’ año 2º 3ª… 12 € ₂ ⁵ a\xe2\x80\x8b"
            "b ‼ x\xcc\x81’");
}

static void test_terms_fast_path(void **state) {
  (void)state;
  fast_path(ES_FOLD_TERMS, TERMS);
}

/* Every code point es_text_fold_keeps accepts is left as it is by every
 * profile, alone and between Latin letters; the rest of the text around it
 * folds as usual. */
static void test_keeps(void **state) {
  (void)state;
  static const utf8proc_option_t OPTS[] = {TERMS, MODEL};
  static const es_fold_profile PROF[] = {ES_FOLD_TERMS, ES_FOLD_MODEL};
  size_t kept = 0;
  for (utf8proc_int32_t cp = 0x250; cp <= 0x10FFFF; cp++) {
    if (!es_text_fold_keeps(cp)) continue;
    kept++;
    char in[16];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, (utf8proc_uint8_t *)in + 1);
    in[0] = 'E', in[k + 1] = 'e', in[k + 2] = '\0';
    for (int i = 0; i < 2; i++) {
      utf8proc_uint8_t *want = NULL;
      assert_true(utf8proc_map((const utf8proc_uint8_t *)in, 0, &want, UTF8PROC_NULLTERM | OPTS[i]) >= 0);
      if (strlen((const char *)want) != (size_t)k + 2 || memcmp(want + 1, in + 1, (size_t)k) != 0)
        fail_msg("U+%04X changed by profile %d", (unsigned)cp, i);
      free(want);
      if (cp % 97 == 0) check_map(PROF[i], OPTS[i], in); /* the fast path's own output, on a sample */
    }
  }
  assert_true(kept > 100000);               /* CJK, emoji, symbols: most assigned code points */
  assert_false(es_text_fold_keeps(0x301));  /* a combining mark */
  assert_false(es_text_fold_keeps(0x391));  /* Greek capital: case-folds */
  assert_false(es_text_fold_keeps(0xAC00)); /* Hangul syllable: decomposes */
  assert_false(es_text_fold_keeps(0xFB01)); /* the fi ligature: compatibility */
  assert_false(es_text_fold_keeps(0x200B)); /* zero-width space: ignorable */
  assert_true(es_text_fold_keeps(0x1F642)); /* an emoji */
  check_map(ES_FOLD_MODEL, MODEL, "Muy buena atención 🙂👏 ¡gracias! 東京 €");
  check_map(ES_FOLD_TERMS, TERMS, "Muy buena atención 🙂👏 ¡gracias! 東京 €");
}

static void test_model_fast_path(void **state) {
  (void)state;
  fast_path(ES_FOLD_MODEL, MODEL);
  check(ES_FOLD_MODEL, "Año\0fin", 8, "ano fin"); /* NUL inside Latin text: a space, as on the slow path */
}

static void test_fold_into(void **state) {
  (void)state;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  char in[128];
  for (int ch = 0; ch < 128; ch++) in[ch] = (char)ch;
  for (int p = ES_FOLD_MODEL; p <= ES_FOLD_CASE; p++) {
    size_t len = p == ES_FOLD_MODEL ? sizeof in : sizeof in - 1;
    const char *src = p == ES_FOLD_MODEL ? in : in + 1; /* TERMS, CASE: no NUL */
    assert_int_equal(es_text_fold_into((es_fold_profile)p, src, len, &buf, &cap, &n), 0);
    size_t rn;
    char *ref = es_text_fold((es_fold_profile)p, src, len, &rn);
    assert_non_null(ref);
    assert_int_equal(n, rn);
    assert_memory_equal(buf, ref, n + 1);
    free(ref);
  }
  assert_int_equal(es_text_fold_into(ES_FOLD_MODEL, "PÉSIMA", strlen("PÉSIMA"), &buf, &cap, &n), 0);
  assert_string_equal(buf, "pesima");
  assert_int_equal(es_text_fold_into(ES_FOLD_CASE, "\xff", 1, &buf, &cap, &n), -1);
  free(buf);
}

static void test_word_cp(void **state) {
  (void)state;
  const int32_t yes[] = {'a', 'Z', '7', 0xF1 /* ñ */, 0x3A3 /* Σ */, 0xB2 /* ² */, 0x301 /* Mn */, 0x4E2D};
  const int32_t no[] = {' ', '-', '\'', '_', ':', 0xA1 /* ¡ */, 0x2026 /* … */, 0x1F600, -1, 0};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) assert_true(es_text_is_word_cp(yes[i]));
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) assert_false(es_text_is_word_cp(no[i]));
}

static void test_next_word(void **state) {
  (void)state;
  const char *s = "¡hola…mundo! don't 3h \xff x-y";
  const char *want[] = {"hola", "mundo", "don", "t", "3h", "x", "y"};
  size_t pos = 0, start, len, k = 0;
  while ((len = es_text_next_word(s, strlen(s), &pos, &start)) > 0) {
    assert_true(k < sizeof want / sizeof *want);
    assert_int_equal(len, strlen(want[k]));
    assert_memory_equal(s + start, want[k], len);
    k++;
  }
  assert_int_equal(k, sizeof want / sizeof *want);
  assert_int_equal(pos, strlen(s));
  pos = 0;
  assert_int_equal(es_text_next_word("  ", 2, &pos, &start), 0);
}

static void test_stop(void **state) {
  (void)state;
  assert_true(es_text_is_stop("the", 3, ES_STOP_EN));
  assert_false(es_text_is_stop("the", 3, ES_STOP_ES));
  assert_true(es_text_is_stop("porque", 6, ES_STOP_ES));
  assert_true(es_text_is_stop("también", strlen("también"), ES_STOP_ALL));
  assert_true(es_text_is_stop("tambien", 7, ES_STOP_ALL));
  assert_true(es_text_is_stop("theory", 3, ES_STOP_ALL)); /* length-bounded, not NUL */
  assert_false(es_text_is_stop("theory", 6, ES_STOP_ALL));
  assert_false(es_text_is_stop("vacuna", 6, ES_STOP_ALL));
  assert_false(es_text_is_stop("de", 2, ES_STOP_ALL));  /* under 3 bytes: never listed */
  assert_false(es_text_is_stop("The", 3, ES_STOP_ALL)); /* lists hold folded words */
  assert_false(es_text_is_stop("para", 4, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profiles),        cmocka_unit_test(test_terms_fast_path),
      cmocka_unit_test(test_model_fast_path), cmocka_unit_test(test_keeps),
      cmocka_unit_test(test_fold_into),       cmocka_unit_test(test_word_cp),
      cmocka_unit_test(test_next_word),       cmocka_unit_test(test_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
