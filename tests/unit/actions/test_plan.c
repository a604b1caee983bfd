/* Plan builder on hand-made data: distinctive terms, typical quotes,
 * playbook lookup, templates and the idempotency marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "plan.h"

static const ac_doc TOPIC[] = {
    {"f1", "La fila en la sucursal demoró tres horas, la espera es eterna"},
    {"f2", "Espera de dos horas en la fila de la sucursal centro"},
    {"f3", "Horas de espera en la fila, la sucursal tiene un solo funcionario"},
    {"f4", "La espera en la sucursal fue larga, la fila no avanzaba"},
    {"f5", "¡¡¡PÉSIMO!!! Nunca más, me robaron el tiempo, horrible horrible horrible"},
    {"f6", "Espera de dos horas en la fila de la sucursal centro"}, /* duplicate of f2 */
    {"f7", "fila"},
};
static const ac_doc REST[] = {
    {"r1", "El formulario web no carga y la página da error"},
    {"r2", "La página web tiene un error al pagar con tarjeta"},
    {"r3", "No pude pagar en la página, el formulario falla"},
    {"r4", "El funcionario fue amable y resolvió mi problema"},
    {"r5", "La página del formulario es confusa"},
};

static void test_logodds_terms(void **st) {
  (void)st;
  ac_term t[5];
  int n = ac_logodds(TOPIC, 7, REST, 5, 500, t, 5);
  assert_true(n >= 3);
  /* the topic's own vocabulary ranks first; the rest's does not appear */
  int seen_fila = 0, seen_espera = 0;
  for (int i = 0; i < n; i++) {
    seen_fila |= strcmp(t[i].term, "fila") == 0;
    seen_espera |= strcmp(t[i].term, "espera") == 0;
    assert_string_not_equal(t[i].term, "página");
    assert_string_not_equal(t[i].term, "formulario");
    if (i) assert_true(t[i - 1].z >= t[i].z);
  }
  assert_true(seen_fila && seen_espera);
}

static void test_typical_quotes(void **st) {
  (void)st;
  size_t idx[5];
  int n = ac_typical_quotes(TOPIC, 7, 5, idx);
  assert_true(n >= 3 && n <= 5);
  for (int i = 0; i < n; i++) {
    assert_int_not_equal(idx[i], 4); /* the rant is atypical */
    assert_int_not_equal(idx[i], 6); /* too short to say anything */
    for (int j = 0; j < i; j++)      /* f2 and f6 are the same text: only one of them */
      assert_false((idx[i] == 1 && idx[j] == 5) || (idx[i] == 5 && idx[j] == 1));
  }
}

static void test_plan_render(void **st) {
  (void)st;
  json_error_t je;
  json_t *tax = json_loads(
      "{\"categories\":[{\"id\":\"waiting\",\"labels\":{\"es\":\"Tiempos de espera\",\"en\":\"Waiting times\"},"
      "\"routing\":{\"tool\":\"jira\",\"project\":\"ESP\"},"
      "\"subcategories\":[{\"id\":\"waiting/branch\",\"labels\":{\"es\":\"Espera en sucursal\",\"en\":\"Branch "
      "queues\"},"
      "\"actions\":[\"Abrir más ventanillas en horas punta\",{\"es\":\"Dar número de atención\",\"en\":\"Hand out "
      "queue numbers\"}],"
      "\"routing\":{\"tool\":\"github\",\"repo\":\"a/b\"}}]}]}",
      0, &je);
  assert_non_null(tax);
  ac_plan p = {0};
  strcpy(p.id, "01PLAN");
  strcpy(p.agency, "demo");
  strcpy(p.topic, "waiting/branch");
  ac_plan_key("demo/waiting/branch/1", p.idem_key);
  assert_int_equal(strlen(p.idem_key), 36);
  assert_memory_equal(p.idem_key, "esk-", 4);
  p.ev = (ac_evidence){.volume = 42,
                       .negative_share = 0.8,
                       .neg_ci_low = 0.66,
                       .neg_ci_high = 0.89,
                       .spike_z = 3.2,
                       .nps_impact = -4.5,
                       .score = 0.91,
                       .rank = 1,
                       .window = "day"};
  assert_int_equal(ac_plan_analyze(&p, TOPIC, 7, REST, 5), 0);
  json_t *routing = ac_plan_playbook(&p, tax, "es");
  assert_string_equal(json_string_value(json_object_get(routing, "tool")), "github");
  assert_int_equal(p.nrecs, 2);
  assert_string_equal(p.recs[1], "Dar número de atención");
  assert_int_equal(ac_plan_summarize(&p), 0);
  assert_non_null(strstr(p.summary_es, "Espera en sucursal"));
  assert_non_null(strstr(p.summary_es, "42 comentarios"));
  assert_non_null(strstr(p.summary_en, "Branch queues"));
  assert_non_null(strstr(p.summary_en, "z = 3.2"));
  char *body = ac_plan_body(&p, "es", 0), *html = ac_plan_body(&p, "en", 1), *title = ac_plan_title(&p, "es");
  assert_true(ac_has_marker(body, p.idem_key));
  assert_true(ac_has_marker(html, p.idem_key));
  assert_false(ac_has_marker(body, "esk-0000"));
  assert_non_null(strstr(body, "Acciones recomendadas"));
  assert_non_null(strstr(html, "<h3>Recommended actions</h3>"));
  assert_non_null(strstr(title, "Espera en sucursal"));
  free(body);
  free(html);
  free(title);
  ac_plan_free(&p);
  /* unknown topic and no taxonomy: labels fall back, still one recommendation */
  strcpy(p.topic, "nope/x");
  assert_null(ac_plan_playbook(&p, NULL, "en"));
  assert_string_equal(p.label_en, "nope/x");
  assert_int_equal(p.nrecs, 1);
  ac_plan_free(&p);
  json_decref(tax);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logodds_terms),
      cmocka_unit_test(test_typical_quotes),
      cmocka_unit_test(test_plan_render),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
