#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <unistd.h>

#include "auth.h"
#include "csv.h"
#include "keys.h"
#include "item.h"
#include "pipeline.h"

static ing_item *from_json(const char *js, const char *agency) {
  cJSON *o = ing_json_parse(js, strlen(js), NULL);
  assert_non_null(o);
  ing_item *it = calloc(1, sizeof *it);
  ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__WEB);
  cJSON_Delete(o);
  return it;
}

static void test_json_validation_names_fields(void **st) {
  (void)st;
  struct {
    const char *js, *field;
  } cases[] = {
      {"{\"csat\":\"3\"}", "csat"},
      {"{\"text\":1}", "text"},
      {"{\"text\":\"x\",\"nps\":11}", "nps"},
      {"{\"text\":\"x\",\"nps\":\"7a\"}", "nps"},
      {"{\"text\":\"x\",\"csat\":6}", "csat"},
      {"{\"text\":\"x\",\"channel\":\"fax\"}", "channel"},
      {"{\"text\":\"x\",\"created_at\":\"31/13/2024\"}", "created_at"},
      {"{\"text\":\"x\",\"location\":{\"lat\":1}}", "location.lon"},
      {"{\"text\":\"x\",\"attributes\":{\"k\":1}}", "attributes"},
      {"{\"text\":\"x\",\"service\":[]}", "service"},
      {"[1]", ""},
      {"{\"Text\":\"x\"}", "text"}, /* keys are case-sensitive */
      {"{\"text\":\"x\",\"nps\":2.5}", "nps"},
      {"{\"text\":\"x\",\"created_at\":1e300}", "created_at"},
      {"{\"text\":\"x\",\"location\":{\"lat\":1,\"lon\":1e999}}", "location.lon"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ing_item *it = from_json(cases[i].js, "demo");
    assert_int_equal(it->state, ING_ITEM_REJECTED);
    assert_string_equal(it->err_field, cases[i].field);
    ing_item_free(it);
  }
  ing_item *ok = from_json(
      "{\"text\":\"hola\",\"nps\":9,\"csat\":5,\"channel\":\"WhatsApp\","
      "\"externalId\":\"e\",\"created_at\":\"2024-05-01T10:00:00-04:00\"}",
      "demo");
  assert_int_equal(ok->state, ING_ITEM_PENDING);
  assert_int_equal(ok->nps, 9);
  assert_int_equal(ok->channel, ESCUCHA__V1__CHANNEL__WHATSAPP);
  assert_string_equal(ok->external_id, "e");
  assert_true(ok->created_at == 1714572000000LL); /* 14:00Z */
  ing_item_free(ok);
  ing_item *noag = from_json("{\"text\":\"x\"}", NULL);
  assert_string_equal(noag->err_field, "agency");
  ing_item_free(noag);
  ing_item *other = from_json("{\"text\":\"x\",\"agency\":\"b\"}", "a");
  assert_string_equal(other->err_code, "forbidden");
  ing_item_free(other);
}

/* The parser keeps jansson's strictness: what it refuses, and where it says the problem is. */
static void test_json_parse_strict(void **st) {
  (void)st;
  struct {
    const char *js;
    int line, column;
    const char *why;
  } bad[] = {
      {"{\"text\":\"a\xff\"}", 1, 11, "invalid UTF-8"},
      {"{\"text\":\"a\\u0000b\"}", 1, 11, "\\u0000"},
      {"{\"text\":\"a\",\"text\":\"b\"}", 1, 1, "duplicate object key \"text\""},
      {"{\"text\":\"a\",\"attributes\":{\"k\":\"1\",\"k\":\"2\"}}", 1, 1, "duplicate object key \"k\""},
      {"{\"text\":\"a\"} x", 1, 14, "end of input expected"},
      {"{\"text\":\"a\",\n \"nps\": }", 2, 9, "unexpected '}'"},
      {"{\"text\":\"caf\xc3\xa9", 1, 10, "unterminated string"},
      {"", 1, 1, "unexpected end of input"},
      {"{\"a\"}", 1, 5, "unexpected '}'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ing_json_error e = {0};
    cJSON *v = ing_json_parse(bad[i].js, strlen(bad[i].js), &e);
    if (v) fail_msg("accepted %s", bad[i].js);
    if (!strstr(e.text, bad[i].why)) fail_msg("%s: said %s", bad[i].js, e.text);
    assert_int_equal(e.line, bad[i].line);
    assert_int_equal(e.column, bad[i].column);
  }
  /* 40 keys: the sorted duplicate check finds one at the end */
  char big[1024] = "{";
  for (int i = 0; i < 40; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "\"k%d\":%d,", i, i);
  strcat(big, "\"k7\":0}");
  ing_json_error e = {0};
  assert_null(ing_json_parse(big, strlen(big), &e));
  assert_non_null(strstr(e.text, "\"k7\""));
  big[strlen(big) - 8] = '}', big[strlen(big) - 7] = '\0'; /* drop the repeat */
  cJSON *v = ing_json_parse(big, strlen(big), &e);
  assert_non_null(v);
  cJSON_Delete(v);
  /* an escaped backslash before u0000 is text, not a NUL */
  const char *ok = "{\"text\":\"C:\\\\u0000\"} \r\n";
  v = ing_json_parse(ok, strlen(ok), NULL);
  assert_non_null(v);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "text")->valuestring, "C:\\u0000");
  cJSON_Delete(v);
}

static void test_parse_time(void **st) {
  (void)st;
  int64_t ms;
  assert_int_equal(ing_parse_time("2024-05-02", &ms), 0);
  assert_true(ms == 1714608000000LL);
  assert_int_equal(ing_parse_time("02/05/2024", &ms), 0);
  assert_true(ms == 1714608000000LL);
  assert_int_equal(ing_parse_time("2024-05-02 01:02:03", &ms), 0);
  assert_true(ms == 1714608000000LL + 3723000);
  assert_int_equal(ing_parse_time("1714608000", &ms), 0);
  assert_true(ms == 1714608000000LL);
  assert_int_equal(ing_parse_time("2024-02-30x", &ms), -1);
  assert_int_equal(ing_parse_time("", &ms), -1);
  assert_int_equal(ing_parse_time("18000-01-01", &ms), -1);
}

static void test_prepare_redacts_hashes_and_ids(void **st) {
  (void)st;
  ing_item *a =
      from_json("{\"text\":\"  Mi  correo es ana@x.cl y mi RUT 12.345.678-5. ¿Por qué tanta espera?\"}", "demo");
  ing_item *b = from_json("{\"text\":\"mi correo es otra@y.cl y mi rut 12.345.678-5 ¿por que tanta espera\"}", "demo");
  assert_int_equal(ing_pipeline_prepare(a, 0), 0);
  assert_int_equal(ing_pipeline_prepare(b, 0), 0);
  assert_null(strstr(a->text, "ana@x.cl"));
  assert_non_null(strstr(a->text, "[EMAIL]"));
  assert_int_equal(a->red.email, 1);
  assert_int_equal(a->red.rut, 1);
  assert_string_equal(a->language, "es");
  assert_int_equal(strlen(a->id), 26);
  /* case, accents, punctuation, spacing and the redacted values don't change the hash */
  assert_string_equal(a->content_hash, b->content_hash);
  size_t len;
  uint8_t *buf = ing_item_pack(a, &len);
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, len, buf);
  assert_non_null(fb);
  assert_string_equal(fb->id, a->id);
  assert_int_equal(fb->redactions->email, 1);
  assert_string_equal(fb->text, a->text);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  free(buf);
  ing_item_free(a);
  ing_item_free(b);

  ing_item *bad = from_json("{\"text\":\"ok\"}", "demo");
  free(bad->text);
  bad->text = strdup("caf\xe9 con leche");
  assert_int_equal(ing_pipeline_prepare(bad, 0), -1);
  assert_string_equal(bad->err_field, "text");
  assert_non_null(strstr(bad->err_msg, "UTF-8"));
  bad->state = ING_ITEM_PENDING;
  assert_int_equal(ing_pipeline_prepare(bad, 1), 0); /* repair mode */
  assert_non_null(strstr(bad->text, "\xEF\xBF\xBD"));
  ing_item_free(bad);
}

static void test_csv_reader(void **st) {
  (void)st;
  const char *data = "\xEF\xBB\xBFtext,nps\r\n\"a, \"\"b\"\"\nc\",9\r\nplain,\n\"open";
  ing_csv_reader *r = ing_csv_open(data, strlen(data));
  char **f;
  size_t n;
  assert_int_equal(ing_csv_next(r, &f, &n), 1);
  assert_int_equal(n, 2);
  assert_string_equal(f[0], "text");
  assert_int_equal(ing_csv_next(r, &f, &n), 1);
  assert_string_equal(f[0], "a, \"b\"\nc");
  assert_string_equal(f[1], "9");
  assert_int_equal(ing_csv_line(r), 2);
  assert_int_equal(ing_csv_next(r, &f, &n), 1);
  assert_int_equal(n, 2);
  assert_string_equal(f[1], "");
  assert_int_equal(ing_csv_next(r, &f, &n), -1);
  assert_non_null(strstr(ing_csv_error(r), "unterminated"));
  ing_csv_close(r);
}

static void test_auth_hashed_keys_and_rate_limit(void **st) {
  (void)st;
  unsigned char h[32];
  char hex[65], path[] = "/tmp/escucha-keys-XXXXXX";
  crypto_hash_sha256(h, (const unsigned char *)"s3cret", 6);
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  int fd = mkstemp(path);
  dprintf(fd, "# comment\nagencia-a:%s\n", hex);
  close(fd);
  char err[256];
  ing_auth *a = ing_auth_new(path, "agencia-b:other", 2, err, sizeof err);
  assert_non_null(a);
  assert_int_equal(ing_auth_count(a), 2);
  int k = -1;
  assert_string_equal(ing_auth_check(a, "Bearer s3cret", &k), "agencia-a");
  assert_string_equal(ing_auth_check(a, "bearer other", &k), "agencia-b");
  assert_null(ing_auth_check(a, "Bearer s3cre", &k));
  assert_null(ing_auth_check(a, "Basic s3cret", &k));
  assert_null(ing_auth_check(a, NULL, &k));
  /* 2/s with a burst of 4: the fifth immediate request waits */
  uint64_t t = 1000000000ull;
  for (int i = 0; i < 4; i++) assert_int_equal(ing_auth_rate_limit(a, k, t), 0);
  assert_int_equal(ing_auth_rate_limit(a, k, t), 1);
  assert_int_equal(ing_auth_rate_limit(a, k, t + 500000000ull), 0); /* half a second refills one */
  ing_auth_free(a);
  FILE *f = fopen(path, "w");
  fputs("agency-without-hash\n", f);
  fclose(f);
  assert_null(ing_auth_new(path, NULL, 0, err, sizeof err));
  assert_non_null(strstr(err, ":1:"));
  /* roles (lib/keys): legacy lines submit+read+review, admin all, read only read */
  f = fopen(path, "w");
  fprintf(f, "leg:%s\nrd:read:%s\n", hex, hex);
  fclose(f);
  a = ing_auth_new(path, "adm:admin:ka,sub:submit:ks", 0, err, sizeof err);
  assert_non_null(a);
  /* the same hash on two lines: the last one wins, as in lib/keys */
  assert_string_equal(ing_auth_check(a, "Bearer s3cret", &k), "rd");
  assert_int_equal(ing_auth_roles(a, k), ES_ROLE_READ);
  assert_false(es_keys_has(ing_auth_roles(a, k), ES_ROLE_SUBMIT));
  assert_string_equal(ing_auth_key(a, "ka", 2, &k), "adm");
  assert_true(es_keys_has(ing_auth_roles(a, k), ES_ROLE_SUBMIT));
  assert_string_equal(ing_auth_key(a, "ks", 2, &k), "sub");
  assert_int_equal(ing_auth_roles(a, k), ES_ROLE_SUBMIT);
  assert_null(ing_auth_key(a, "k", 1, &k));
  assert_int_equal(ing_auth_roles(a, -1), 0);
  ing_auth_free(a);
  f = fopen(path, "w");
  fprintf(f, "leg:%s\n", hex);
  fclose(f);
  a = ing_auth_new(path, NULL, 0, err, sizeof err);
  assert_non_null(a);
  assert_non_null(ing_auth_check(a, "Bearer s3cret", &k));
  assert_int_equal(ing_auth_roles(a, k), ES_ROLE_LEGACY);
  ing_auth_free(a);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_validation_names_fields),
      cmocka_unit_test(test_json_parse_strict),
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_prepare_redacts_hashes_and_ids),
      cmocka_unit_test(test_csv_reader),
      cmocka_unit_test(test_auth_hashed_keys_and_rate_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
