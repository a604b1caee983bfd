/* Contacts sealed at the door (services/ingest/contact.c): validated naming
 * the field, sealed only with consent and a key, and nothing in clear in the
 * packed Feedback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "contact.h"
#include "item.h"
#include "metrics.h"
#include "seal.h"

static char pub_path[64], sec_path[64];
static unsigned char sk[ES_SEAL_KEY_BYTES];

static int setup(void **st) {
  (void)st;
  char err[256];
  snprintf(pub_path, sizeof pub_path, "/tmp/escucha-contact-%d.pub", (int)getpid());
  snprintf(sec_path, sizeof sec_path, "/tmp/escucha-contact-%d.key", (int)getpid());
  unlink(pub_path), unlink(sec_path);
  if (es_seal_keygen(pub_path, sec_path, err, sizeof err) != 0 || es_seal_read_key(sec_path, sk, err, sizeof err) != 0)
    return -1;
  return ing_contact_init(pub_path, err, sizeof err);
}

static int teardown(void **st) {
  (void)st;
  unlink(pub_path), unlink(sec_path);
  return 0;
}

static ing_item *parse(const char *js) {
  cJSON *o = ing_json_parse(js, strlen(js), NULL);
  if (!o) fail_msg("not JSON: %s", js);
  ing_item *it = calloc(1, sizeof *it);
  ing_item_from_json(it, o, "demo", ESCUCHA__V1__CHANNEL__WEB);
  cJSON_Delete(o);
  return it;
}

static void rejected(const char *js, const char *field) {
  ing_item *it = parse(js);
  if (it->state != ING_ITEM_REJECTED) fail_msg("accepted %s", js);
  if (strcmp(it->err_field, field) != 0) fail_msg("%s: field %s, want %s (%s)", js, it->err_field, field, it->err_msg);
  ing_item_free(it);
}

/* The sealed contact opens with the secret key to want; the packed Feedback
 * holds the sealed bytes and contact_via, and the clear value nowhere. */
static void sealed(const char *js, const char *want, const char *via, const char *clear) {
  ing_item *it = parse(js);
  if (it->state == ING_ITEM_REJECTED) fail_msg("refused %s: %s %s", js, it->err_field, it->err_msg);
  assert_non_null(it->sealed_contact);
  assert_string_equal(it->contact_via, via);
  size_t n = 0;
  uint8_t *m = es_seal_open(sk, it->sealed_contact, it->sealed_len, &n);
  assert_non_null(m);
  assert_string_equal((char *)m, want);
  free(m);
  size_t len = 0;
  uint8_t *pb = ing_item_pack(it, &len);
  assert_non_null(pb);
  assert_null(memmem(pb, len, clear, strlen(clear)));
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, len, pb);
  assert_non_null(fb);
  assert_true(fb->has_sealed_contact);
  assert_int_equal(fb->sealed_contact.len, it->sealed_len);
  assert_string_equal(fb->contact_via, via);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  free(pb);
  ing_item_free(it);
}

static void test_sealed_with_consent(void **st) {
  (void)st;
  sealed("{\"text\":\"bache\",\"contact\":{\"email\":\"ana.perez@example.cl\"},\"consent\":true}",
         "{\"v\":1,\"email\":\"ana.perez@example.cl\"}", "email", "ana.perez@example.cl");
  sealed("{\"text\":\"bache\",\"contact\":{\"phone\":\"+56 9 8765-4321\",\"via\":\"whatsapp\"},\"consent\":true}",
         "{\"v\":1,\"phone\":\"+56987654321\",\"via\":\"whatsapp\"}", "whatsapp", "87654321");
  sealed("{\"text\":\"bache\",\"contact\":{\"phone\":\"(02) 2345 6789\",\"via\":\"sms\"},\"consent\":true}",
         "{\"v\":1,\"phone\":\"0223456789\",\"via\":\"sms\"}", "sms", "23456789");
}

static void test_no_consent_dropped(void **st) {
  (void)st;
  const char *js[] = {"{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\"}}",
                      "{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\"},\"consent\":false}",
                      "{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\"},\"consent\":null}"};
  for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
    ing_item *it = parse(js[i]);
    assert_int_not_equal(it->state, ING_ITEM_REJECTED);
    assert_null(it->sealed_contact);
    assert_null(it->contact_via);
    ing_item_free(it);
  }
}

static void test_bad_contact_names_field(void **st) {
  (void)st;
  rejected("{\"text\":\"x\",\"contact\":\"a@b.cl\",\"consent\":true}", "contact");
  rejected("{\"text\":\"x\",\"contact\":{},\"consent\":true}", "contact");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\",\"phone\":\"+56987654321\"},\"consent\":true}",
           "contact");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\",\"name\":\"Ana\"},\"consent\":true}", "contact");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"not an address\"},\"consent\":true}", "contact.email");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"a@b\"},\"consent\":true}", "contact.email");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":7},\"consent\":true}", "contact.email");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\",\"via\":\"sms\"},\"consent\":true}", "contact.via");
  rejected("{\"text\":\"x\",\"contact\":{\"phone\":\"+56987654321\"},\"consent\":true}", "contact.via");
  rejected("{\"text\":\"x\",\"contact\":{\"phone\":\"+56987654321\",\"via\":\"fax\"},\"consent\":true}", "contact.via");
  rejected("{\"text\":\"x\",\"contact\":{\"phone\":\"12345\",\"via\":\"sms\"},\"consent\":true}", "contact.phone");
  rejected("{\"text\":\"x\",\"contact\":{\"phone\":\"+56 9 abc\",\"via\":\"sms\"},\"consent\":true}", "contact.phone");
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"a@b.cl\"},\"consent\":\"yes\"}", "consent");
  /* a bad contact is refused even without consent: the sender meant to give one */
  rejected("{\"text\":\"x\",\"contact\":{\"email\":\"nope\"}}", "contact.email");
}

static void test_proto_cannot_bring_sealed(void **st) {
  (void)st;
  Escucha__V1__Feedback fb = ESCUCHA__V1__FEEDBACK__INIT;
  uint8_t junk[60] = {1};
  fb.agency = "demo", fb.text = "x";
  fb.has_sealed_contact = 1, fb.sealed_contact.data = junk, fb.sealed_contact.len = sizeof junk;
  ing_item *it = calloc(1, sizeof *it);
  assert_int_equal(ing_item_from_proto(it, &fb), -1);
  assert_string_equal(it->err_field, "sealed_contact");
  ing_item_free(it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sealed_with_consent),
      cmocka_unit_test(test_no_consent_dropped),
      cmocka_unit_test(test_bad_contact_names_field),
      cmocka_unit_test(test_proto_cannot_bring_sealed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
