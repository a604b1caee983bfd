/* Pins classify's folding and tokens byte for byte (the model's hashed
 * features depend on them), before the fold profiles, the word test and the
 * stop lists move to a shared lib/text (issue 12, item 4). The expected
 * values were printed by classify's text.c at commit 56522db; a change here
 * means every trained model reads different features. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static const struct {
  const char *in, *lang, *folded, *tokens; /* tokens: "word/stem" separated by spaces */
} PINS[] = {
    /* accents and case folded, ligature (U+FB01) and Ñ decomposed */
    {"Ñandú CAFÉ ﬁla", "en", "nandu cafe fila", "nandu/nandu cafe/cafe fila/fila"},
    /* full case folding (ß -> ss), dotted İ, titlecase digraph ǅ */
    {"Straße İstanbul ǅemal", "en", "strasse istanbul dzemal", "strasse/strass istanbul/istanbul dzemal/dzemal"},
    /* invalid UTF-8 bytes become spaces, one per byte */
    {"Trámite\xff\xfe roto", "en", "tramite   roto", "tramite/tramit roto/roto"},
    /* NFKC: superscript and fraction, full-width letters; final sigma folded to σ */
    {"ΣΊΣΥΦΟΣ ²½ Ａｂｃ", "en",
     "σισυφοσ 21\xe2\x81\x84"
     "2 abc",
     "σισυφοσ/σισυφοσ 21/21 2/2 abc/abc"},
    /* Spanish stemming; punctuation kept in the folded text, not in words */
    {"la fila del SII es muy larga!!", "es", "la fila del sii es muy larga!!",
     "la/la fila/fil del/del sii/sii es/es muy/muy larga/larg"},
    /* the word test: '-', ':' ',' and '\'' split words, digits stay in them */
    {"Waiting-times: 3h, don't", "en", "waiting-times: 3h, don't", "waiting/wait times/time 3h/3h don/don t/t"},
};

static void test_fold_pinned(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof PINS / sizeof PINS[0]; i++) {
    size_t n = 0;
    char *f = cl_fold(PINS[i].in, strlen(PINS[i].in), &n);
    assert_non_null(f);
    assert_int_equal(n, strlen(PINS[i].folded));
    assert_memory_equal(f, PINS[i].folded, n);
    free(f);
  }
}

static void test_tokens_pinned(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  assert_non_null(t);
  for (size_t i = 0; i < sizeof PINS / sizeof PINS[0]; i++) {
    assert_int_equal(cl_text_analyze(t, PINS[i].in, strlen(PINS[i].in), PINS[i].lang), 0);
    char got[512] = "";
    size_t o = 0;
    for (size_t k = 0; k < t->nwords; k++)
      o += (size_t)snprintf(got + o, sizeof got - o, "%s%.*s/%.*s", k ? " " : "", (int)t->words[k].len, t->words[k].s,
                            (int)t->stems[k].len, t->stems[k].s);
    assert_string_equal(got, PINS[i].tokens);
  }
  cl_text_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_pinned),
      cmocka_unit_test(test_tokens_pinned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
