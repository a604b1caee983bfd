#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "channels.h"

static const char WA[] =
    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"messages\","
    "\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{\"phone_number_id\":\"9\"},"
    "\"contacts\":[{\"profile\":{\"name\":\"Ana\"},\"wa_id\":\"56912345678\"}],"
    "\"messages\":[{\"from\":\"56912345678\",\"id\":\"wamid.A1\",\"timestamp\":\"1714608000\",\"type\":\"text\","
    "\"text\":{\"body\":\"El consultorio no contesta\"}},"
    "{\"from\":\"56912345678\",\"id\":\"wamid.A2\",\"timestamp\":\"1714608001\",\"type\":\"image\",\"image\":{\"id\":\"x\"}}]}}]}]}";

static void test_whatsapp_items_keep_text_not_sender(void **st) {
  (void)st;
  ing_item **items;
  char err[128];
  int n = ch_whatsapp_items(WA, strlen(WA), "salud", &items, err, sizeof err);
  assert_int_equal(n, 1); /* the image carries no text */
  assert_string_equal(items[0]->text, "El consultorio no contesta");
  assert_string_equal(items[0]->external_id, "wamid.A1");
  assert_string_equal(items[0]->agency, "salud");
  assert_true(items[0]->created_at == 1714608000000LL);
  assert_int_equal(items[0]->channel, ESCUCHA__V1__CHANNEL__WHATSAPP);
  assert_null(items[0]->attr_keys); /* neither the number nor the name travel */
  ing_item_free(items[0]);
  free(items);
  const char status_only[] = "{\"entry\":[{\"changes\":[{\"value\":{\"statuses\":[{\"id\":\"w\",\"status\":\"read\"}]}}]}]}";
  assert_int_equal(ch_whatsapp_items(status_only, strlen(status_only), "a", &items, err, sizeof err), 0);
  free(items);
  assert_int_equal(ch_whatsapp_items("{\"x\":1}", 7, "a", &items, err, sizeof err), -1);
  assert_int_equal(ch_whatsapp_items("{", 1, "a", &items, err, sizeof err), -1);
}

static void test_whatsapp_signature(void **st) {
  (void)st;
  unsigned char mac[32];
  char hex[65], header[80];
  crypto_auth_hmacsha256_state s;
  crypto_auth_hmacsha256_init(&s, (const unsigned char *)"appsecret", 9);
  crypto_auth_hmacsha256_update(&s, (const unsigned char *)WA, strlen(WA));
  crypto_auth_hmacsha256_final(&s, mac);
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  snprintf(header, sizeof header, "sha256=%s", hex);
  assert_true(ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), header));
  assert_false(ch_whatsapp_signature_ok("other", WA, strlen(WA), header));
  assert_false(ch_whatsapp_signature_ok("appsecret", WA, strlen(WA) - 1, header));
  assert_false(ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), hex));
  assert_false(ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), NULL));
}

static void test_email_plain_and_encoded_subject(void **st) {
  (void)st;
  const char msg[] =
      "From: Vecina <vecina@example.cl>\r\nTo: oirs@muni.cl\r\n"
      "Subject: =?UTF-8?Q?Reclamo_por_el_tr=C3=A1mite?=\r\n =?UTF-8?B?IGRlIGxpY2VuY2lh?=\r\n"
      "Date: Thu, 2 May 2024 10:30:00 -0400\r\nMessage-ID: <abc.123@mail.example>\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "Llevo tres semanas esperando la licencia de conducir. Nadie me respon=\r\nde.\r\n";
  ing_item *it = calloc(1, sizeof *it);
  assert_int_equal(ch_email_item(msg, strlen(msg), it), 0);
  assert_string_equal(it->text, "Reclamo por el trámite de licencia\n\n"
                                "Llevo tres semanas esperando la licencia de conducir. Nadie me responde.\r\n");
  assert_string_equal(it->external_id, "abc.123@mail.example");
  assert_true(it->created_at == 1714660200000LL); /* 14:30Z */
  assert_int_equal(it->channel, ESCUCHA__V1__CHANNEL__EMAIL);
  assert_null(strstr(it->text, "vecina@example.cl"));
  ing_item_free(it);
}

static void test_email_multipart_latin1_base64(void **st) {
  (void)st;
  const char msg[] =
      "Subject: Queja\nMessage-ID: m1\nContent-Type: multipart/alternative; boundary=\"XX\"\n\n"
      "preamble\n--XX\nContent-Type: text/html\n\n<p>html</p>\n"
      "--XX\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: base64\n\n"
      "QXRlbmNp824gcOlzaW1h\n--XX--\n";
  ing_item *it = calloc(1, sizeof *it);
  assert_int_equal(ch_email_item(msg, strlen(msg), it), 0);
  assert_string_equal(it->text, "Queja\n\nAtención pésima");
  assert_string_equal(it->external_id, "m1");
  ing_item_free(it);
  const char empty[] = "From: a@b.c\n\n";
  it = calloc(1, sizeof *it);
  assert_int_equal(ch_email_item(empty, strlen(empty), it), -1);
  assert_string_equal(it->err_field, "body");
  ing_item_free(it);
}

static void test_email_date(void **st) {
  (void)st;
  int64_t ms;
  assert_int_equal(ch_parse_email_date("Tue, 1 Jul 2003 10:52:37 +0200", &ms), 0);
  assert_true(ms == 1057049557000LL);
  assert_int_equal(ch_parse_email_date("1 Jul 2003 10:52 GMT", &ms), 0);
  assert_int_equal(ch_parse_email_date("yesterday", &ms), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whatsapp_items_keep_text_not_sender),
      cmocka_unit_test(test_whatsapp_signature),
      cmocka_unit_test(test_email_plain_and_encoded_subject),
      cmocka_unit_test(test_email_multipart_latin1_base64),
      cmocka_unit_test(test_email_date),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
