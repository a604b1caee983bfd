/* The hardening issue's probes against item validation and ing_pipeline_prepare:
 * every field limited, validated or redacted, the same way for every channel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "item.h"
#include "pipeline.h"

static ing_item *from_json(const char *js, const char *agency) {
  cJSON *o = ing_json_parse(js, strlen(js), NULL);
  if (!o) fail_msg("not JSON: %s", js);
  ing_item *it = calloc(1, sizeof *it);
  ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__WEB);
  cJSON_Delete(o);
  return it;
}

/* Parsed and prepared: 0 accepted, else the rejected field is in err_field. */
static int prepare(ing_item *it) { return it->state == ING_ITEM_REJECTED ? -1 : ing_pipeline_prepare(it, 0); }

static void expect_rejected(const char *js, const char *agency, const char *field) {
  ing_item *it = from_json(js, agency);
  if (prepare(it) == 0) fail_msg("accepted %s", js);
  if (strcmp(it->err_field, field) != 0) fail_msg("%s: field %s, want %s (%s)", js, it->err_field, field, it->err_msg);
  ing_item_free(it);
}

static ing_item *expect_accepted(const char *js, const char *agency) {
  ing_item *it = from_json(js, agency);
  if (prepare(it) != 0) fail_msg("refused %s: %s %s", js, it->err_field, it->err_msg);
  return it;
}

static void test_parse_time_is_strict(void **st) {
  (void)st;
  int64_t ms;
  const char *bad[] = {"2024-05-02T10:00:00+25:00",
                       "2024-02-30",
                       "2023-02-29",
                       "2024-05-02T10:00:00+05",
                       "2024-05-02T10:00:00+0500",
                       "2024-05-02T24:00",
                       "2024-05-02T10:60",
                       "2024-5-2",
                       "31/02/2024",
                       "12345678901",
                       "12345678901234",
                       "2024-05-02x",
                       "2024-05-02T10:00:00.Z",
                       "+1714608000",
                       "2024-05-02 10",
                       "yesterday",
                       ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (ing_parse_time(bad[i], &ms) == 0) fail_msg("accepted %s", bad[i]);
  assert_int_equal(ing_parse_time("2024-02-29", &ms), 0);
  assert_true(ms == 1709164800000LL);
  assert_int_equal(ing_parse_time("2024-05-02T10:00:00.123456Z", &ms), 0);
  assert_true(ms == 1714644000000LL);
  assert_int_equal(ing_parse_time("2024-05-02T10:00-04:00", &ms), 0);
  assert_true(ms == 1714658400000LL);
  assert_int_equal(ing_parse_time(" 1714608000000 ", &ms), 0);
  assert_true(ms == 1714608000000LL);
}

static void test_created_at_one_range_every_spelling(void **st) {
  (void)st;
  expect_rejected("{\"text\":\"hola\",\"created_at\":9e15}", "demo", "created_at");
  expect_rejected("{\"text\":\"hola\",\"created_at\":\"2100-01-01\"}", "demo", "created_at");
  expect_rejected("{\"text\":\"hola\",\"created_at\":\"9999-12-31\"}", "demo", "created_at");
  expect_rejected("{\"text\":\"hola\",\"created_at\":\"1989-12-31T23:59:59Z\"}", "demo", "created_at");
  expect_rejected("{\"text\":\"hola\",\"created_at\":0}", "demo", "created_at");
  expect_rejected("{\"text\":\"hola\",\"created_at\":\"2024-05-01\",\"createdAt\":\"2024-05-02\"}", "demo",
                  "created_at");
  expect_rejected("{\"text\":\"hola\",\"external_id\":\"a\",\"externalId\":\"b\"}", "demo", "external_id");
  ing_item *it = expect_accepted("{\"text\":\"hola\",\"created_at\":\"1990-01-01\"}", "demo");
  assert_true(it->created_at == ING_MIN_CREATED_AT);
  ing_item_free(it);
}

static void test_lenient_fields_refused(void **st) {
  (void)st;
  expect_rejected("{\"text\":\"hola\",\"language\":\"<i>\"}", "demo", "language");
  expect_rejected("{\"text\":\"hola\",\"language\":\"es\\n\"}", "demo", "language");
  expect_rejected("{\"text\":\"hola\",\"nps\":\"7\"}", "demo", "nps");
  expect_rejected("{\"text\":\"hola\",\"location\":{\"lat\":10}}", "demo", "location.lon");
  expect_rejected("{\"text\":\"hola\",\"location\":{\"lat\":\"-33.4junk\",\"lon\":-70}}", "demo", "location.lat");
  expect_rejected("{\"text\":\"hola\",\"location\":{\"lat\":0,\"lon\":0}}", "demo", "location");
  expect_rejected("{\"text\":\"hola\",\"location\":{\"lat\":1,\"lon\":2,\"long\":2}}", "demo", "location.lon");
  ing_item *it =
      expect_accepted("{\"text\":\"hola\",\"language\":\"es-CL\",\"location\":{\"lat\":-33.4,\"long\":-70.6}}", "demo");
  assert_true(it->has_location && it->lat == -33.4 && it->lon == -70.6);
  ing_item_free(it);
  /* an address alone is a location without coordinates, not (0, 0) */
  it = expect_accepted("{\"text\":\"hola\",\"location\":{\"address\":\"Plaza de Armas\"}}", "demo");
  size_t len;
  uint8_t *buf = ing_item_pack(it, &len);
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, len, buf);
  assert_non_null(fb);
  assert_non_null(fb->location);
  assert_false(fb->location->has_lat || fb->location->has_lon);
  assert_string_equal(fb->location->address, "Plaza de Armas");
  escucha__v1__feedback__free_unpacked(fb, NULL);
  free(buf);
  ing_item_free(it);
}

static void test_limits_refuse_never_cut(void **st) {
  (void)st;
  char *v = malloc(1100), *js = malloc(1300);
  memset(v, 'a', 1025);
  v[1025] = 0;
  snprintf(js, 1300, "{\"text\":\"hola\",\"attributes\":{\"k\":\"%s\"}}", v);
  expect_rejected(js, "demo", "attributes");
  /* 1,023 ASCII + a 2-byte character: over the limit, refused rather than cut mid-character */
  memset(v, 'a', 1023);
  memcpy(v + 1023, "\xc3\xa9", 3);
  snprintf(js, 1300, "{\"text\":\"hola\",\"attributes\":{\"k\":\"%s\"}}", v);
  expect_rejected(js, "demo", "attributes");
  v[1023] = 0;
  snprintf(js, 1300, "{\"text\":\"hola\",\"attributes\":{\"k\":\"%s\"}}", v);
  ing_item_free(expect_accepted(js, "demo"));
  memset(v, 'b', 129);
  v[129] = 0;
  snprintf(js, 1300, "{\"text\":\"hola\",\"external_id\":\"%s\"}", v);
  expect_rejected(js, "demo", "external_id");
  free(v);
  free(js);
  expect_rejected("{\"text\":\"hola\",\"attributes\":{\"bad key\":\"x\"}}", "demo", "attributes");
}

static void test_raw_nul_refused(void **st) {
  (void)st;
  const char js[] = "{\"text\":\"antes\0despues\"}";
  ing_json_error e = {0};
  assert_null(ing_json_parse(js, sizeof js - 1, &e));
  assert_non_null(strstr(e.text, "NUL"));
  assert_int_equal(e.column, 15);
}

/* Item 5: agency "demo:x:zz" + id "PRB8E" must not share a key with "demo" + "zz:x:PRB8E". */
static void test_agency_names_validated(void **st) {
  (void)st;
  expect_rejected("{\"agency\":\"demo:x:zz\",\"text\":\"hola\",\"external_id\":\"PRB8E\"}", NULL, "agency");
  expect_rejected("{\"agency\":\"de mo\",\"text\":\"hola\"}", NULL, "agency");
  ing_item_free(
      expect_accepted("{\"agency\":\"muni-santiago.cl_2\",\"text\":\"hola\",\"external_id\":\"zz:x:PRB8E\"}", NULL));
}

/* Item 1: personal data in every free-text field; identifiers refused when they are personal data. */
static void test_every_field_redacted(void **st) {
  (void)st;
  ing_item *it = expect_accepted(
      "{\"text\":\"hola\",\"service\":\"Aseo, avisar a juan@example.com\","
      "\"location\":{\"lat\":-33.4,\"lon\":-70.6,\"address\":\"Calle 1, tel +56 9 1234 5678\"},"
      "\"attributes\":{\"card\":\"4111 1111 1111 1111\",\"mail\":\"ana@x.cl\",\"rut\":\"12.345.678-5\",\"ok\":\"sin "
      "datos\"}}",
      "demo");
  assert_string_equal(it->service, "Aseo, avisar a [EMAIL]");
  assert_string_equal(it->address, "Calle 1, tel [PHONE]");
  assert_string_equal(it->attr_vals[0], "[CARD]");
  assert_string_equal(it->attr_vals[1], "[EMAIL]");
  assert_string_equal(it->attr_vals[2], "[RUT]");
  assert_string_equal(it->attr_vals[3], "sin datos");
  assert_int_equal(it->red.email, 2);
  assert_int_equal(it->red.card, 1);
  assert_int_equal(it->red.rut, 1);
  assert_int_equal(it->red.phone, 1);
  size_t len;
  uint8_t *buf = ing_item_pack(it, &len);
  assert_null(memmem(buf, len, "4111", 4));
  assert_null(memmem(buf, len, "example.com", 11));
  free(buf);
  ing_item_free(it);
  expect_rejected("{\"text\":\"hola\",\"external_id\":\"juan@example.com\"}", "demo", "external_id");
  expect_rejected("{\"text\":\"hola\",\"external_id\":\"4111111111111111\"}", "demo", "external_id");
  expect_rejected("{\"text\":\"hola\",\"external_id\":\"12.345.678-5\"}", "demo", "external_id");
  expect_rejected("{\"text\":\"hola\",\"external_id\":\"+56 9 1234 5678\"}", "demo", "external_id");
  expect_rejected("{\"text\":\"hola\",\"attributes\":{\"4111111111111111\":\"x\"}}", "demo", "attributes");
  /* ids of the agency's own systems pass, numeric ones too */
  ing_item_free(expect_accepted("{\"text\":\"hola\",\"external_id\":\"NEAS S&C 4876 - Q2\"}", "demo"));
  ing_item_free(expect_accepted("{\"text\":\"hola\",\"external_id\":\"912345678\"}", "demo"));
}

/* Item 4: a score without a comment is an answer. */
static void test_scores_without_comment_kept(void **st) {
  (void)st;
  ing_item *a = expect_accepted("{\"text\":\"\",\"csat\":4}", "demo");
  assert_string_equal(a->text, "");
  ing_item *b = expect_accepted("{\"nps\":0}", "demo");
  assert_int_equal(b->has_nps, 1);
  ing_item_free(a);
  ing_item_free(b);
  expect_rejected("{\"text\":\"  \"}", "demo", "text");
  expect_rejected("{}", "demo", "text");
}

static void test_proto_fields_validated(void **st) {
  (void)st;
  Escucha__V1__Feedback fb = ESCUCHA__V1__FEEDBACK__INIT;
  Escucha__V1__Location loc = ESCUCHA__V1__LOCATION__INIT;
  Escucha__V1__Feedback__AttributesEntry e = ESCUCHA__V1__FEEDBACK__ATTRIBUTES_ENTRY__INIT, *ep[40];
  fb.agency = "demo";
  fb.text = "hola";
  e.key = "k";
  e.value = "caf\xc3";
  ep[0] = &e;
  fb.n_attributes = 1;
  fb.attributes = ep;
  ing_item *it = calloc(1, sizeof *it);
  assert_int_equal(ing_item_from_proto(it, &fb), -1);
  assert_string_equal(it->err_field, "attributes");
  ing_item_free(it);
  e.value = "ok";
  for (int i = 0; i < 40; i++) ep[i] = &e;
  fb.n_attributes = 40; /* was silently cut at 32 */
  it = calloc(1, sizeof *it);
  assert_int_equal(ing_item_from_proto(it, &fb), -1);
  assert_string_equal(it->err_field, "attributes");
  ing_item_free(it);
  fb.n_attributes = 0;
  loc.has_lat = 1;
  loc.lat = 10;
  fb.location = &loc;
  it = calloc(1, sizeof *it);
  assert_int_equal(ing_item_from_proto(it, &fb), -1);
  assert_string_equal(it->err_field, "location.lon");
  ing_item_free(it);
  fb.location = NULL;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_time_is_strict),   cmocka_unit_test(test_created_at_one_range_every_spelling),
      cmocka_unit_test(test_lenient_fields_refused), cmocka_unit_test(test_limits_refuse_never_cut),
      cmocka_unit_test(test_raw_nul_refused),        cmocka_unit_test(test_agency_names_validated),
      cmocka_unit_test(test_every_field_redacted),   cmocka_unit_test(test_scores_without_comment_kept),
      cmocka_unit_test(test_proto_fields_validated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
