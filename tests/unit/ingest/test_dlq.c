/* Dead letters of the inbound topic: no clear personal data in the record, the sealed original
 * opens with the operator's secret key (and only with it), renderings of JSON, protobuf and
 * text are redacted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "escucha/v1/escucha.pb-c.h"

static const char JSON_IN[] =
    "{\"agency\": \"demo\", \"text\": \"Cobro doble en la tarjeta 4111 1111 1111 1111, escribir a "
    "juan\\u0040example.com\", \"attributes\": {\"fono\": \"+56 9 8765 4321\"}}";

/* Whether needle occurs in the n bytes at h. */
static int has(const void *h, size_t n, const char *needle) { return memmem(h, n, needle, strlen(needle)) != NULL; }

static Escucha__V1__DeadLetter *unpack(const uint8_t *rec, size_t n) {
  Escucha__V1__DeadLetter *dl = escucha__v1__dead_letter__unpack(NULL, n, rec);
  assert_non_null(dl);
  return dl;
}

static void test_sealed_json(void **state) {
  (void)state;
  ing_dlq_seal_key key;
  unsigned char sk[crypto_box_SECRETKEYBYTES], pk2[32], sk2[32];
  assert_true(sodium_init() >= 0);
  crypto_box_keypair(key.pk, sk);
  crypto_box_keypair(pk2, sk2);
  size_t n = 0, in_len = strlen(JSON_IN);
  uint8_t *rec = ing_dlq_pack(&key, "invalid: agency: this API key cannot submit for agency ana@example.com",
                              "escucha.feedback.inbound.v1", 3, 42, JSON_IN, in_len, &n);
  assert_non_null(rec);
  /* no clear personal data anywhere in the record's bytes */
  assert_false(has(rec, n, "4111"));
  assert_false(has(rec, n, "juan"));
  assert_false(has(rec, n, "8765"));
  assert_false(has(rec, n, "ana@"));
  Escucha__V1__DeadLetter *dl = unpack(rec, n);
  assert_string_equal(dl->stage, "ingest");
  assert_false(dl->has_original);
  assert_string_equal(dl->topic, "escucha.feedback.inbound.v1");
  assert_int_equal(dl->partition, 3);
  assert_int_equal(dl->offset, 42);
  assert_int_equal(dl->original_size, in_len);
  assert_int_equal(dl->original_hash.len, 32);
  assert_string_equal(dl->reason, "invalid: agency: this API key cannot submit for agency [EMAIL]");
  /* the rendering is the decoded JSON (escape resolved) with its data redacted */
  assert_non_null(dl->original_redacted);
  assert_non_null(strstr(dl->original_redacted, "tarjeta [CARD], escribir a [EMAIL]"));
  assert_non_null(strstr(dl->original_redacted, "\"fono\":\"[PHONE]\""));
  assert_true(dl->has_original_sealed);
  escucha__v1__dead_letter__free_unpacked(dl, NULL);

  uint8_t *orig = NULL;
  size_t olen = 0;
  assert_int_equal(ing_dlq_unseal(rec, n, sk, &orig, &olen), DLQ_UNSEALED);
  assert_int_equal(olen, in_len);
  assert_memory_equal(orig, JSON_IN, in_len);
  free(orig);
  assert_int_equal(ing_dlq_unseal(rec, n, sk2, &orig, &olen), DLQ_SEAL_MISMATCH); /* another key */
  rec[n - 1] ^= 1;                                                                /* corrupt sealed bytes */
  assert_int_equal(ing_dlq_unseal(rec, n, sk, &orig, &olen), DLQ_SEAL_MISMATCH);
  free(rec);
}

static void test_unsealed_and_binary(void **state) {
  (void)state;
  static const uint8_t garbage[] = {0x08, 0x96, 0x01, 'g', 'a', 'r', 'b', 'a', 'g', 'e', 0xff, 0xff};
  size_t n = 0;
  uint8_t *rec = ing_dlq_pack(NULL, "neither JSON nor a valid escucha.v1.Feedback protobuf",
                              "escucha.feedback.inbound.v1", 0, 7, garbage, sizeof garbage, &n);
  assert_non_null(rec);
  Escucha__V1__DeadLetter *dl = unpack(rec, n);
  assert_false(dl->has_original);
  assert_false(dl->has_original_sealed); /* no key: the original is not kept */
  assert_null(dl->original_redacted);    /* binary: size and hash only */
  assert_int_equal(dl->original_size, sizeof garbage);
  escucha__v1__dead_letter__free_unpacked(dl, NULL);
  unsigned char sk[32] = {0};
  uint8_t *orig = NULL;
  size_t olen = 0;
  assert_int_equal(ing_dlq_unseal(rec, n, sk, &orig, &olen), DLQ_NOT_SEALED);
  free(rec);
}

static void test_render(void **state) {
  (void)state;
  /* a protobuf Feedback: its fields as JSON, redacted */
  Escucha__V1__Feedback fb = ESCUCHA__V1__FEEDBACK__INIT;
  Escucha__V1__Location loc = ESCUCHA__V1__LOCATION__INIT;
  fb.text = "Mi RUT es 12.345.678-5 y mi correo ana@example.com";
  fb.external_id = "x-1";
  fb.has_channel = 1;
  fb.channel = ESCUCHA__V1__CHANNEL__CALL;
  loc.address = "fono 9 8765 4321";
  fb.location = &loc;
  size_t pn = escucha__v1__feedback__get_packed_size(&fb);
  uint8_t *pb = malloc(pn);
  assert_non_null(pb);
  escucha__v1__feedback__pack(&fb, pb);
  char *r = ing_dlq_render(pb, pn, 4096);
  assert_non_null(r);
  assert_string_equal(r,
                      "{\"channel\":\"CALL\",\"external_id\":\"x-1\",\"text\":\"Mi RUT es [RUT] y mi correo "
                      "[EMAIL]\",\"location\":{\"address\":\"fono [PHONE]\"}}");
  free(r);
  free(pb);
  /* malformed JSON: the text itself, \u escapes resolved first */
  static const char bad[] = "{\"text\": \"tarjeta 4111\\u00201111\\u00201111\\u00201111\", ";
  r = ing_dlq_render(bad, strlen(bad), 4096);
  assert_non_null(r);
  assert_string_equal(r, "{\"text\": \"tarjeta [CARD]\",");
  free(r);
  /* disguised data (zero-width, full-width) is redacted too; the cut keeps UTF-8 whole */
  static const char fw[] = "correo ｊｕａｎ＠ｅｘａｍｐｌｅ.ｃｌ y ñññ";
  r = ing_dlq_render(fw, strlen(fw), 13);
  assert_non_null(r);
  assert_string_equal(r, "correo [EMAIL"); /* 13 bytes */
  free(r);
  r = ing_dlq_render("ñ", 2, 1);
  assert_non_null(r);
  assert_string_equal(r, "");
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sealed_json),
      cmocka_unit_test(test_unsealed_and_binary),
      cmocka_unit_test(test_render),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
