/* lib/taxonomy: the one validated reader classify, prioritize and actions
 * load through. Its refusals (each naming the JSON path and the rule), the
 * content hash models depend on, labels, journeys and the kept document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <xxhash.h>

#include "taxonomy.h"

/* Two categories, three subcategories; every optional field present once. */
#define CAT_WAITING                                                                        \
  "{\"id\":\"waiting\",\"labels\":{\"es\":\"Espera\",\"en\":\"Waiting\"},\"urgent\":true," \
  "\"routing\":{\"tool\":\"jira\"},\"subcategories\":["                                    \
  "{\"id\":\"waiting/queue\",\"labels\":{\"es\":\"Filas\",\"en\":\"Queues\"},"             \
  "\"keywords\":{\"es\":[\"fila\"],\"en\":[\"queue\"]},\"journey_stage\":\"support\","     \
  "\"actions\":[\"Open more desks\"],\"sla_days\":{\"urgent\":1,\"normal\":7}},"           \
  "{\"id\":\"waiting/desk\",\"labels\":{\"es\":\"Mesón\",\"en\":\"Desk\"},"               \
  "\"keywords\":{\"es\":[],\"en\":[]},\"urgent\":false,\"actions\":[{\"es\":\"Abrir\",\"en\":\"Open\"}]}]}"
#define CAT_OTHER                                                                                  \
  "{\"id\":\"other\",\"labels\":{\"es\":\"Otro\",\"en\":\"Other\"},\"subcategories\":["            \
  "{\"id\":\"other/unclassified\",\"labels\":{\"es\":\"Sin clasificar\",\"en\":\"Unclassified\"}," \
  "\"keywords\":{\"es\":[],\"en\":[]},\"actions\":[\"Triage\"]}]}"
static const char GOOD[] = "{\"categories\":[" CAT_WAITING "," CAT_OTHER "]}";

static es_taxonomy *parse_ok(const char *json) {
  char err[512] = "";
  es_taxonomy *t = NULL;
  int rc = es_taxonomy_parse(json, strlen(json), &t, err, sizeof err);
  if (rc != 0) fail_msg("refused: %s", err);
  assert_non_null(t);
  return t;
}

static void test_valid(void **state) {
  (void)state;
  es_taxonomy *t = parse_ok(GOOD);
  assert_int_equal(t->ncats, 2);
  assert_int_equal(t->nsubs, 3);
  const es_tax_subcat *q = &t->subs[es_taxonomy_find(t, "waiting/queue")];
  assert_int_equal(q->category, 0);
  assert_int_equal(q->urgent, 1);  /* inherited from the category */
  assert_int_equal(q->journey, 4); /* "support", any case -> SUPPORT */
  assert_string_equal(q->kw[0][0], "fila");
  assert_string_equal(q->kw[1][0], "queue");
  assert_int_equal(t->subs[es_taxonomy_find(t, "waiting/desk")].urgent, 0); /* its own flag wins */
  assert_int_equal(t->subs[es_taxonomy_find(t, "waiting/desk")].journey, -1);
  assert_int_equal(es_taxonomy_find(t, "waiting/nope"), -1);
  assert_int_equal(t->json_len, strlen(GOOD));
  assert_memory_equal(t->json, GOOD, strlen(GOOD));
  es_taxonomy_free(t);
  es_taxonomy_free(NULL);
}

/* The hash is XXH3-64 over the subcategory ids sorted by strcmp, each with
 * its NUL: "other/unclassified\0waiting/desk\0waiting/queue\0". The constant
 * was printed by classify's reader before it moved to lib (commit 56522db):
 * a different value means every trained model is refused. */
static void test_hash_unchanged(void **state) {
  (void)state;
  static const char ids[] = "other/unclassified\0waiting/desk\0waiting/queue";
  es_taxonomy *t = parse_ok(GOOD);
  assert_true(t->hash == XXH3_64bits(ids, sizeof ids));
  assert_true(t->hash == 0x9a3ea2634acc14ffULL);
  es_taxonomy_free(t);
  /* order and labels do not matter, ids do */
  t = parse_ok("{\"categories\":[" CAT_OTHER "," CAT_WAITING "]}");
  assert_true(t->hash == 0x9a3ea2634acc14ffULL);
  es_taxonomy_free(t);
  t = parse_ok("{\"categories\":[" CAT_OTHER "]}");
  assert_true(t->hash != 0x9a3ea2634acc14ffULL);
  es_taxonomy_free(t);
}

static void test_labels_and_doc(void **state) {
  (void)state;
  es_taxonomy *t = parse_ok(GOOD);
  assert_string_equal(es_taxonomy_label(t, "waiting", "es"), "Espera");
  assert_string_equal(es_taxonomy_label(t, "waiting", "en"), "Waiting");
  assert_string_equal(es_taxonomy_label(t, "waiting/desk", "es"), "Mesón");
  assert_string_equal(es_taxonomy_label(t, "waiting/desk", "en"), "Desk");
  assert_string_equal(es_taxonomy_label(t, "waiting/other", "en"), "waiting/other");
  assert_string_equal(es_taxonomy_label(t, "nope", "es"), "nope");
  assert_string_equal(es_taxonomy_label(NULL, "nope", "es"), "nope");
  json_t *doc = es_taxonomy_doc(t);
  assert_non_null(doc);
  json_t *c0 = json_array_get(json_object_get(doc, "categories"), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(c0, "routing"), "tool")), "jira");
  assert_null(es_taxonomy_doc(NULL));
  es_taxonomy_free(t);
}

static void test_journeys(void **state) {
  (void)state;
  assert_int_equal(ES_NJOURNEYS, 6);
  assert_string_equal(ES_JOURNEYS[0], "AWARENESS");
  assert_string_equal(ES_JOURNEYS[5], "RENEWAL");
  assert_int_equal(es_journey_index("ongoing_use"), 3);
  assert_int_equal(es_journey_index("RENEWAL"), 5);
  assert_int_equal(es_journey_index("LATER"), -1);
  assert_int_equal(es_journey_index(NULL), -1);
}

/* One refused document: -1, *out NULL, err exactly want. */
static void refused(const char *json, const char *want) {
  char err[512] = "";
  es_taxonomy *t = (es_taxonomy *)1;
  assert_int_equal(es_taxonomy_parse(json, strlen(json), &t, err, sizeof err), -1);
  assert_null(t);
  if (strcmp(err, want) != 0) fail_msg("for %s\n  got  '%s'\n  want '%s'", json, err, want);
}

/* A category with one subcategory whose fields are SUB (after its id). */
#define ONE_SUB(SUB)                                                                          \
  "{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"subcategories\":[" \
  "{\"id\":\"c/s\"" SUB "}]}]}"
#define LABELS ",\"labels\":{\"es\":\"S\",\"en\":\"S\"}"
#define KW ",\"keywords\":{\"es\":[],\"en\":[]}"
#define ACT ",\"actions\":[\"Act\"]"

static void test_refusals(void **state) {
  (void)state;
  refused("{\"categories\":", "line 1 column 14: unexpected token near end of file");
  refused("[]", "$: must be an object");
  refused("{}", "categories: missing");
  refused("{\"categories\":[]}", "categories: must be a non-empty list");
  refused("{\"categories\":{}}", "categories: must be a non-empty list");
  refused("{\"categories\":[1]}", "categories[0]: must be an object");
  refused("{\"categories\":[{}]}", "categories[0].id: missing");
  refused("{\"categories\":[{\"id\":\"Bad Id\"}]}",
          "categories[0].id: must be a slug (lowercase letters, digits, _ or -)");
  refused("{\"categories\":[{\"id\":\"c\"}]}", "categories[0].labels: missing");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\"}}]}", "categories[0].labels.en: missing");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"\",\"en\":\"C\"}}]}",
          "categories[0].labels.es: must not be empty");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":1,\"en\":\"C\"}}]}",
          "categories[0].labels.es: must be a string");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"urgent\":\"yes\"}]}",
          "categories[0].urgent: must be true or false");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"}}]}",
          "categories[0].subcategories: missing");
  refused(ONE_SUB(LABELS), "categories[0].subcategories[0].keywords: missing");
  refused(ONE_SUB(KW), "categories[0].subcategories[0].labels: missing");
  refused(
      "{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"subcategories\":["
      "{\"id\":\"s\"" LABELS KW "}]}]}",
      "categories[0].subcategories[0].id: must be '<category id>/<slug>' (lowercase letters, digits, _ or -)");
  refused(ONE_SUB(LABELS ",\"keywords\":{\"es\":[]}"), "categories[0].subcategories[0].keywords.en: missing");
  refused(ONE_SUB(LABELS ",\"keywords\":{\"es\":[\"\"],\"en\":[]}"),
          "categories[0].subcategories[0].keywords.es[0]: must be a non-empty string");
  refused(ONE_SUB(LABELS KW ",\"journey_stage\":\"LATER\""),
          "categories[0].subcategories[0].journey_stage: must be one of AWARENESS, REGISTRATION, ACTIVATION, "
          "ONGOING_USE, SUPPORT, RENEWAL");
  refused(ONE_SUB(LABELS KW),
          "categories[0].subcategories[0].actions: missing (every subcategory needs at least one action)");
  refused(ONE_SUB(LABELS KW ",\"actions\":\"call\""),
          "categories[0].subcategories[0].actions: must be a non-empty list of strings or {es, en} objects");
  refused(ONE_SUB(LABELS KW ",\"actions\":[]"),
          "categories[0].subcategories[0].actions: must be a non-empty list of strings or {es, en} objects");
  refused(ONE_SUB(LABELS KW ",\"actions\":[\"\"]"),
          "categories[0].subcategories[0].actions[0]: must be a non-empty string or an object with es and en");
  refused(ONE_SUB(LABELS KW ",\"actions\":[\"a\",{\"es\":\"b\"}]"),
          "categories[0].subcategories[0].actions[1].en: missing");
  refused(ONE_SUB(LABELS KW ",\"routing\":[]" ACT), "categories[0].subcategories[0].routing: must be an object");
  refused(
      ONE_SUB(LABELS KW ACT ",\"sla_days\":0"),
      "categories[0].subcategories[0].sla_days: must be a number of days (1..365) or {\"urgent\": n, \"normal\": n}");
  refused(
      ONE_SUB(LABELS KW ACT ",\"sla_days\":{\"urgent\":\"2\"}"),
      "categories[0].subcategories[0].sla_days: must be a number of days (1..365) or {\"urgent\": n, \"normal\": n}");
  refused("{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"sla_days\":400}]}",
          "categories[0].sla_days: must be a number of days (1..365) or {\"urgent\": n, \"normal\": n}");
  refused(
      "{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"subcategories\":["
      "{\"id\":\"c/s\"" LABELS KW ACT "},{\"id\":\"c/s\"" LABELS KW ACT "}]}]}",
      "categories: duplicate subcategory id 'c/s'");
  refused("{\"categories\":[" CAT_OTHER "," CAT_OTHER "]}",
          "categories: duplicate subcategory id 'other/unclassified'");
  refused(
      "{\"categories\":[{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"subcategories\":[{\"id\":\"c/a\"" LABELS
          KW ACT
      "}]},{\"id\":\"c\",\"labels\":{\"es\":\"C\",\"en\":\"C\"},\"subcategories\":[{\"id\":\"c/b\"" LABELS KW ACT
      "}]}]}",
      "categories[1].id: duplicate category id");
  /* duplicate keys are refused by the JSON parser itself */
  refused("{\"categories\":[],\"categories\":[]}", "line 1 column 29: duplicate object key near '\"categories\"'");
}

static void test_load(void **state) {
  (void)state;
  char err[512] = "", path[] = "/tmp/escucha-test-taxonomy-XXXXXX";
  es_taxonomy *t = (es_taxonomy *)1;
  assert_int_equal(es_taxonomy_load("/nonexistent/taxonomy.json", &t, err, sizeof err), -1);
  assert_null(t);
  assert_string_equal(err, "/nonexistent/taxonomy.json: No such file or directory");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{}", 2), 2);
  close(fd);
  assert_int_equal(es_taxonomy_load(path, &t, err, sizeof err), -1);
  assert_null(t);
  char want[600];
  snprintf(want, sizeof want, "%s: categories: missing", path); /* the file, then the JSON path */
  assert_string_equal(err, want);
  fd = open(path, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, GOOD, strlen(GOOD)), (ssize_t)strlen(GOOD));
  close(fd);
  assert_int_equal(es_taxonomy_load(path, &t, err, sizeof err), 0);
  assert_int_equal(t->nsubs, 3);
  es_taxonomy_free(t);
  unlink(path);
  /* the shipped taxonomy is valid */
  assert_int_equal(es_taxonomy_load("config/taxonomy.default.json", &t, err, sizeof err), 0);
  assert_true(t->nsubs > 0);
  es_taxonomy_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),    cmocka_unit_test(test_hash_unchanged), cmocka_unit_test(test_labels_and_doc),
      cmocka_unit_test(test_journeys), cmocka_unit_test(test_refusals),       cmocka_unit_test(test_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
