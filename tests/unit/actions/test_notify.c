/* Messages to reporters (services/actions/notify.c): closure reasons from the
 * tools' words, plain-language text in the item's language with the opt-out
 * link, and the WhatsApp / SMS request bodies the vendors document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ac_conn.h"
#include "notify.h"

static void test_closure_reasons(void **st) {
  (void)st;
  static const char *const cases[][2] = {
      {"Resolved", "resolved"},        {"Closed", "resolved"},     {"Done", "resolved"},
      {"Cerrado", "resolved"},         {"Rejected", "not_fixed"},  {"Rechazada", "not_fixed"},
      {"Won't Do", "not_fixed"},       {"Won't Fix", "not_fixed"}, {"Duplicate", "duplicate"},
      {"Duplicado", "duplicate"},      {"Forwarded", "forwarded"}, {"Derivado a MOP", "forwarded"},
      {"No corresponde", "not_fixed"}, {NULL, "resolved"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(ac_notify_closure(cases[i][0]), cases[i][1]) != 0)
      fail_msg("%s -> %s, want %s", cases[i][0] ? cases[i][0] : "(null)", ac_notify_closure(cases[i][0]), cases[i][1]);
  assert_string_equal(ac_notify_status(AC_ST_OPEN, "New"), "opened");
  assert_string_equal(ac_notify_status(AC_ST_IN_PROGRESS, "In Progress"), "in_progress");
  assert_string_equal(ac_notify_status(AC_ST_DONE, "Rejected"), "not_fixed");
  assert_null(ac_notify_status(AC_ST_UNKNOWN, "x"));
  assert_true(ac_notify_final("resolved") && ac_notify_final("duplicate") && !ac_notify_final("in_progress"));
}

static void test_text_by_language(void **st) {
  (void)st;
  ac_notice es = {"not_fixed",
                  "Rechazado: fuera de la comuna",
                  "es",
                  "Municipalidad de Ñuñoa",
                  "Atentamente,",
                  "01JABCDEF",
                  "http://127.0.0.1:8081/v1/optout/01JABCDEF.xyz",
                  "01JABCDEF.xyz"};
  char *s = ac_notify_subject(&es), *t = ac_notify_text(&es), *h = ac_notify_html(&es);
  assert_non_null(s);
  assert_non_null(t);
  assert_non_null(h);
  assert_string_equal(s, "Municipalidad de Ñuñoa: su reporte cerrado sin solución");
  assert_non_null(strstr(t, "no pudimos solucionar el problema. Motivo: Rechazado: fuera de la comuna."));
  assert_non_null(strstr(t, "Su número de referencia: 01JABCDEF"));
  assert_non_null(strstr(t, "abra este enlace: http://127.0.0.1:8081/v1/optout/01JABCDEF.xyz"));
  assert_non_null(strstr(t, "Atentamente,\nMunicipalidad de Ñuñoa"));
  assert_null(strstr(h, "<script"));
  free(s), free(t), free(h);
  ac_notice en = {"resolved", NULL, "en", "City <Hall>", NULL, "01JX", NULL, NULL};
  t = ac_notify_text(&en), h = ac_notify_html(&en);
  assert_non_null(strstr(t, "has been fixed"));
  assert_null(strstr(t, "stop these messages")); /* no link without a secret */
  assert_non_null(strstr(h, "City &lt;Hall&gt;"));
  free(t), free(h);
  /* every status has words in both languages, sentences short */
  const char *all[] = {"opened", "in_progress", "resolved", "not_fixed", "forwarded", "duplicate"};
  for (size_t i = 0; i < 6; i++)
    for (int l = 0; l < 2; l++) {
      ac_notice n = {all[i], "x", l ? "en" : "es", "A", NULL, "R", NULL, NULL};
      t = ac_notify_text(&n);
      assert_non_null(t);
      for (char *p = t, *q; (q = strpbrk(p, ".:\n")); p = q + 1) assert_true(q - p < 120);
      free(t);
    }
}

static void test_vendor_bodies(void **st) {
  (void)st;
  ac_notice n = {"forwarded", "SERVIU", "es", "Muni", NULL, "01JREF", NULL, NULL};
  char key[40];
  ac_notify_key("01JREF", "forwarded", key);
  assert_int_equal(strlen(key), 36);
  assert_memory_equal(key, "esn-", 4);
  char again[40];
  ac_notify_key("01JREF", "forwarded", again);
  assert_string_equal(key, again);
  ac_notify_key("01JREF", "resolved", again);
  assert_string_not_equal(key, again);

  char *w = ac_notify_whatsapp_json(&n, "56987654321", "escucha_status", key);
  json_t *j = json_loads(w, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "messaging_product")), "whatsapp");
  assert_string_equal(json_string_value(json_object_get(j, "to")), "56987654321");
  assert_string_equal(json_string_value(json_object_get(j, "type")), "template");
  json_t *t = json_object_get(j, "template");
  assert_string_equal(json_string_value(json_object_get(t, "name")), "escucha_status_forwarded");
  assert_string_equal(json_string_value(json_object_get(json_object_get(t, "language"), "code")), "es");
  json_t *params = json_object_get(json_array_get(json_object_get(t, "components"), 0), "parameters");
  assert_int_equal(json_array_size(params), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(params, 2), "text")), "SERVIU");
  json_decref(j);
  free(w);

  char *s = ac_notify_sms_json(&n, "+56987654321", key);
  j = json_loads(s, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "to")), "+56987654321");
  assert_string_equal(json_string_value(json_object_get(j, "idempotency_key")), key);
  const char *text = json_string_value(json_object_get(j, "text"));
  assert_non_null(strstr(text, "Muni: Su reporte fue enviado a quien está a cargo del tema: SERVIU."));
  assert_non_null(strstr(text, "Ref. 01JREF"));
  assert_true(strlen(text) <= 480);
  assert_null(strstr(text, "optout"));
  json_decref(j);
  free(s);

  /* with an opt-out link: WhatsApp's URL button carries the token, SMS ends with the link */
  ac_notice o = {"resolved", NULL, "en", "Muni", NULL, "01JREF", "https://api.example/v1/optout/TOK-1", "TOK-1"};
  w = ac_notify_whatsapp_json(&o, "56987654321", "escucha_status", key);
  j = json_loads(w, 0, NULL);
  json_t *comps = json_object_get(json_object_get(j, "template"), "components");
  assert_int_equal(json_array_size(comps), 2);
  json_t *b = json_array_get(comps, 1);
  assert_string_equal(json_string_value(json_object_get(b, "type")), "button");
  assert_string_equal(json_string_value(json_object_get(b, "sub_type")), "url");
  assert_string_equal(json_string_value(json_object_get(b, "index")), "0");
  assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(b, "parameters"), 0), "text")),
                      "TOK-1");
  json_decref(j);
  free(w);
  s = ac_notify_sms_json(&o, "+56987654321", key);
  j = json_loads(s, 0, NULL);
  text = json_string_value(json_object_get(j, "text"));
  assert_non_null(strstr(text, "Muni: The problem you told us about has been fixed."));
  assert_non_null(strstr(text, "Ref. 01JREF Stop: https://api.example/v1/optout/TOK-1"));
  json_decref(j);
  free(s);
  o.lang = "es";
  s = ac_notify_sms_json(&o, "+56987654321", key);
  assert_non_null(strstr(s, "Para no recibir más: https://api.example/v1/optout/TOK-1"));
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_closure_reasons),
      cmocka_unit_test(test_text_by_language),
      cmocka_unit_test(test_vendor_bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
