/* Space-Saving sketch and n-gram extraction: hand-traced small cases plus
 * the algorithm's guarantees on a deterministic skewed stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emerging.h"
#include "spacesaving.h"
#include "taxonomy.h"

static void add(pz_ss *s, const char *k) { assert_int_equal(pz_ss_add(s, k, strlen(k), 1), 0); }

static void test_hand_traced(void **state) {
  (void)state;
  pz_ss *s = pz_ss_new(2);
  pz_ss_item top[4];
  add(s, "a"), add(s, "a"), add(s, "b"); /* a=2/0, b=1/0 */
  add(s, "c");                           /* full: c replaces min b -> c=1+1=2, error 1 */
  assert_int_equal(pz_ss_top(s, top, 4), 2);
  assert_string_equal(top[0].key, "a"); /* tie on 2: key order */
  assert_int_equal(top[0].count, 2);
  assert_int_equal(top[0].error, 0);
  assert_string_equal(top[1].key, "c");
  assert_int_equal(top[1].count, 2);
  assert_int_equal(top[1].error, 1);
  add(s, "c"); /* c=3/1 */
  add(s, "d"); /* replaces min a(2): d=3, error 2 */
  assert_int_equal(pz_ss_top(s, top, 4), 2);
  assert_string_equal(top[0].key, "c");
  assert_int_equal(top[0].count, 3);
  assert_string_equal(top[1].key, "d");
  assert_int_equal(top[1].count, 3);
  assert_int_equal(top[1].error, 2);
  assert_int_equal(pz_ss_total(s), 6);
  pz_ss_free(s);
}

/* Exact while the distinct keys fit; exercises the hash index. */
static void test_exact_when_fits(void **state) {
  (void)state;
  pz_ss *s = pz_ss_new(100);
  char k[16];
  for (int i = 0; i < 100; i++)
    for (int j = 0; j <= i; j++) {
      snprintf(k, sizeof k, "k%d", i);
      add(s, k);
    }
  pz_ss_item top[100];
  assert_int_equal(pz_ss_top(s, top, 100), 100);
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof k, "k%d", 99 - i);
    assert_string_equal(top[i].key, k);
    assert_int_equal(top[i].count, 100 - i);
    assert_int_equal(top[i].error, 0);
  }
  pz_ss_free(s);
}

/* Skewed stream (deterministic LCG): the bounds hold for every kept item and
 * every item with true count > N/m is kept. */
static void test_guarantees(void **state) {
  (void)state;
  enum { KEYS = 2000, CAP = 50, N = 60000 };
  uint64_t *truth = calloc(KEYS, sizeof *truth);
  pz_ss *s = pz_ss_new(CAP);
  uint64_t x = 12345;
  char k[16];
  for (int i = 0; i < N; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(x >> 11) / 9007199254740992.0;
    int key = (int)(KEYS * u * u * u * u); /* heavy head */
    truth[key]++;
    snprintf(k, sizeof k, "w%d", key);
    add(s, k);
  }
  pz_ss_item top[CAP];
  size_t n = pz_ss_top(s, top, CAP);
  assert_int_equal(n, CAP);
  for (size_t i = 0; i < n; i++) {
    int key = atoi(top[i].key + 1);
    assert_true(top[i].count >= truth[key]);
    assert_true(top[i].count - top[i].error <= truth[key]);
  }
  for (int key = 0; key < KEYS; key++) {
    if (truth[key] <= N / CAP) continue;
    snprintf(k, sizeof k, "w%d", key);
    int found = 0;
    for (size_t i = 0; i < n; i++) found |= strcmp(top[i].key, k) == 0;
    assert_true(found);
  }
  pz_ss_free(s);
  free(truth);
}

typedef struct {
  char grams[16][64];
  int n;
} collected;
static void collect(const char *g, size_t len, void *arg) {
  collected *c = arg;
  assert_true(len < 64);
  if (c->n < 16) memcpy(c->grams[c->n++], g, len + 1);
}

static void test_ngrams(void **state) {
  (void)state;
  collected c = {0};
  /* "El"/"de"/"la" are stop words, "no" is too short, accents and case fold:
   * words = tramite licencia funciona licencia 2024 -> digits dropped */
  int n = pz_ngrams("El TRÁMITE de la Licencia no funciona, ¡la licencia! 2024", 2, collect, &c);
  assert_int_equal(n, 3);
  assert_string_equal(c.grams[0], "tramite licencia");
  assert_string_equal(c.grams[1], "licencia funciona");
  assert_string_equal(c.grams[2], "funciona licencia");
  memset(&c, 0, sizeof c);
  assert_int_equal(pz_ngrams("vacuna", 2, collect, &c), 0);
  assert_int_equal(pz_ngrams("vacuna", 1, collect, &c), 1);
  assert_string_equal(c.grams[0], "vacuna");
  assert_int_equal(pz_ngrams("x", 4, collect, &c), -1);
  assert_int_equal(pz_ngrams("\xff\xfe bad", 1, collect, &c), -1);

  pz_ss *s = pz_ss_new(8);
  assert_int_equal(pz_emerging_add(s, "demo", "vacuna influenza agotada", 2), 2);
  assert_int_equal(pz_emerging_add(s, "demo", "Vacuna Influenza", 2), 1);
  pz_ss_item top[8];
  assert_int_equal(pz_ss_top(s, top, 8), 2);
  assert_string_equal(top[0].key, "demo\x1fvacuna influenza");
  assert_int_equal(top[0].count, 2);
  pz_ss_free(s);
}

static void test_taxonomy(void **state) {
  (void)state;
  /* A fixture valid under lib/taxonomy's rules (the ones classify applies):
   * subcategory ids are "<category>/<slug>", labels have es and en, and
   * every subcategory lists its es/en seed keywords. */
  static const char J[] =
      "{\"categories\":[{\"id\":\"waiting\",\"labels\":{\"es\":\"Tiempos de espera\","
      "\"en\":\"Waiting times\"},\"subcategories\":[{\"id\":\"waiting/queue\",\"labels\":{"
      "\"es\":\"Filas\",\"en\":\"Queues\"},\"keywords\":{\"es\":[\"fila\"],\"en\":[\"queue\"]},\"actions\":[\"a\"]},"
      "{\"id\":\"waiting/desk\",\"labels\":{\"es\":\"Mesón\",\"en\":\"Desk\"},"
      "\"keywords\":{\"es\":[],\"en\":[]},\"actions\":[\"b\"]}]}]}";
  char err[256];
  es_taxonomy *t = NULL;
  assert_int_equal(es_taxonomy_parse(J, sizeof J - 1, &t, err, sizeof err), 0);
  /* the topics prioritize builds: "category" and "category/subcategory" */
  static const char *const LABELS[][3] = {
      {"waiting", "es", "Tiempos de espera"},
      {"waiting", "en", "Waiting times"},
      {"waiting/queue", "es", "Filas"},
      {"waiting/queue", "en", "Queues"},
      {"waiting/desk", "es", "Mesón"},
      {"waiting/other", "es", "waiting/other"}, /* unknown: the id */
      {"nope", "es", "nope"},
  };
  for (size_t i = 0; i < sizeof LABELS / sizeof LABELS[0]; i++)
    assert_string_equal(es_taxonomy_label(t, LABELS[i][0], LABELS[i][1]), LABELS[i][2]);
  es_taxonomy_free(t); /* refusals: tests/unit/lib/test_taxonomy.c */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_traced), cmocka_unit_test(test_exact_when_fits), cmocka_unit_test(test_guarantees),
      cmocka_unit_test(test_ngrams),      cmocka_unit_test(test_taxonomy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
