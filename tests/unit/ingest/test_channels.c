#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth.h"
#include "channels.h"
#include "csv.h"

static const char WA[] =
    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"messages\","
    "\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{\"phone_number_id\":\"9\"},"
    "\"contacts\":[{\"profile\":{\"name\":\"Ana\"},\"wa_id\":\"56912345678\"}],"
    "\"messages\":[{\"from\":\"56912345678\",\"id\":\"wamid.A1\",\"timestamp\":\"1714608000\",\"type\":\"text\","
    "\"text\":{\"body\":\"El consultorio no contesta\"}},"
    "{\"from\":\"56912345678\",\"id\":\"wamid.A2\",\"timestamp\":\"1714608001\",\"type\":\"image\",\"image\":{\"id\":"
    "\"x\"}}]}}]}]}";

static void test_whatsapp_items_keep_text_not_sender(void **st) {
  (void)st;
  ing_item **items;
  char err[128];
  int n = ing_ch_whatsapp_items(WA, strlen(WA), "salud", &items, err, sizeof err);
  assert_int_equal(n, 1); /* the image carries no text */
  assert_string_equal(items[0]->text, "El consultorio no contesta");
  assert_string_equal(items[0]->external_id, "wamid.A1");
  assert_string_equal(items[0]->agency, "salud");
  assert_true(items[0]->created_at == 1714608000000LL);
  assert_int_equal(items[0]->channel, ESCUCHA__V1__CHANNEL__WHATSAPP);
  assert_null(items[0]->attr_keys); /* neither the number nor the name travel */
  ing_item_free(items[0]);
  free(items);
  const char status_only[] =
      "{\"entry\":[{\"changes\":[{\"value\":{\"statuses\":[{\"id\":\"w\",\"status\":\"read\"}]}}]}]}";
  assert_int_equal(ing_ch_whatsapp_items(status_only, strlen(status_only), "a", &items, err, sizeof err), 0);
  free(items);
  assert_int_equal(ing_ch_whatsapp_items("{\"x\":1}", 7, "a", &items, err, sizeof err), -1);
  assert_int_equal(ing_ch_whatsapp_items("{", 1, "a", &items, err, sizeof err), -1);
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
  assert_true(ing_ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), header));
  assert_false(ing_ch_whatsapp_signature_ok("other", WA, strlen(WA), header));
  assert_false(ing_ch_whatsapp_signature_ok("appsecret", WA, strlen(WA) - 1, header));
  assert_false(ing_ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), hex));
  assert_false(ing_ch_whatsapp_signature_ok("appsecret", WA, strlen(WA), NULL));
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
  assert_int_equal(ing_ch_email_item(msg, strlen(msg), it), 0);
  assert_string_equal(it->text,
                      "Reclamo por el trámite de licencia\n\n"
                      "Llevo tres semanas esperando la licencia de conducir. Nadie me responde.\r\n");
  char mid[37];
  ing_ch_email_message_id_hash("abc.123@mail.example", 20, mid);
  assert_string_equal(it->external_id, mid); /* a hash: the id names the sender's host */
  assert_int_equal(strlen(mid), 36);
  assert_memory_equal(mid, "mid-", 4);
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
  assert_int_equal(ing_ch_email_item(msg, strlen(msg), it), 0);
  assert_string_equal(it->text, "Queja\n\nAtención pésima");
  char mid[37];
  ing_ch_email_message_id_hash("<m1>", 4, mid);
  assert_string_equal(it->external_id, mid);
  ing_item_free(it);
  const char empty[] = "From: a@b.c\n\n";
  it = calloc(1, sizeof *it);
  assert_int_equal(ing_ch_email_item(empty, strlen(empty), it), -1);
  assert_string_equal(it->err_field, "body");
  ing_item_free(it);
}

static void test_email_date(void **st) {
  (void)st;
  int64_t ms;
  assert_int_equal(ing_ch_parse_email_date("Tue, 1 Jul 2003 10:52:37 +0200", &ms), 0);
  assert_true(ms == 1057049557000LL);
  assert_int_equal(ing_ch_parse_email_date("1 Jul 2003 10:52 GMT", &ms), 0);
  assert_int_equal(ing_ch_parse_email_date("yesterday", &ms), -1);
}

/* ---- hardening: e-mail ---- */

static ing_item *email(const char *msg, size_t len, int want_rc) {
  ing_item *it = calloc(1, sizeof *it);
  assert_non_null(it);
  int rc = ing_ch_email_item(msg, len, it);
  if (rc != want_rc) fprintf(stderr, "unexpected rc %d: %s: %s\n", rc, it->err_field, it->err_msg);
  assert_int_equal(rc, want_rc);
  return it;
}

static void expect_email_reject(const char *msg, size_t len, const char *field, const char *in_msg) {
  ing_item *it = email(msg, len, -1);
  assert_int_equal(it->state, ING_ITEM_REJECTED);
  assert_string_equal(it->err_field, field);
  if (in_msg && !strstr(it->err_msg, in_msg)) fail_msg("message \"%s\" lacks \"%s\"", it->err_msg, in_msg);
  assert_null(it->text);
  ing_item_free(it);
}

static void test_email_message_id_hashed_and_stable(void **st) {
  (void)st;
  char a[37], b[37], c[37];
  ing_ch_email_message_id_hash("<CAF=x1@mail.gmail.com>", 23, a);
  ing_ch_email_message_id_hash("  CAF=x1@mail.gmail.com ", 24, b);
  ing_ch_email_message_id_hash("<CAF=x2@mail.gmail.com>", 23, c);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  assert_null(strstr(a, "gmail"));
  /* the same message sent twice gets the same external_id */
  const char msg[] = "Subject: hola\r\nMessage-ID: <CAF=x1@mail.gmail.com>\r\n\r\ncuerpo\r\n";
  ing_item *x = email(msg, strlen(msg), 0), *y = email(msg, strlen(msg), 0);
  assert_string_equal(x->external_id, a);
  assert_string_equal(x->external_id, y->external_id);
  ing_item_free(x);
  ing_item_free(y);
  /* a Message-ID over the id limit is refused, not cut */
  char big[400];
  int n = snprintf(big, sizeof big, "Subject: s\nMessage-ID: <%0300d@x>\n\nbody\n", 0);
  expect_email_reject(big, (size_t)n, "message-id", "256");
}

static void test_email_nul_bytes_refused(void **st) {
  (void)st;
  const char qp[] = "Subject: s\nContent-Transfer-Encoding: quoted-printable\n\nantes=00despues\n";
  expect_email_reject(qp, strlen(qp), "body", "NUL");
  /* "antes\0despues" in base64 */
  const char b64[] = "Subject: s\nContent-Transfer-Encoding: base64\n\nYW50ZXMAZGVzcHVlcw==\n";
  expect_email_reject(b64, strlen(b64), "body", "NUL");
  const char subj[] = "Subject: =?UTF-8?Q?a=00b?=\n\nbody\n";
  expect_email_reject(subj, strlen(subj), "subject", "NUL");
  const char raw[] = "Subject: s\n\nantes\0despues\n";
  expect_email_reject(raw, sizeof raw - 1, "body", "NUL");
  const char hdr[] = "Subject: a\0b\nX: y\n\nbody\n";
  expect_email_reject(hdr, sizeof hdr - 1, "subject", "NUL");
}

static void test_email_limits(void **st) {
  (void)st;
  size_t n = 100 * 1000;
  char *m = malloc(n + 64);
  int k = sprintf(m, "Subject: ");
  memset(m + k, 'a', n);
  strcpy(m + k + n, "\n\nbody\n");
  expect_email_reject(m, strlen(m), "subject", "20000");
  free(m);
  /* a 1 MiB message: refused for its size (400), not a retryable Kafka failure */
  n = 1 << 20;
  m = malloc(n + 64);
  k = sprintf(m, "Subject: s\n\n");
  memset(m + k, 'b', n);
  m[k + n] = '\0';
  expect_email_reject(m, strlen(m), "body", "20000");
  free(m);
  /* exactly at the limit: subject + blank line + body = 20000 bytes */
  m = malloc(20100);
  k = sprintf(m, "Subject: s\n\n");
  memset(m + k, 'c', 20000 - 3);
  m[k + 20000 - 3] = '\0';
  ing_item *it = email(m, strlen(m), 0);
  assert_int_equal(strlen(it->text), 20000);
  ing_item_free(it);
  m[k] = 'd';
  strcat(m, "e");
  expect_email_reject(m, strlen(m), "body", "20001");
  free(m);
}

static void test_email_charsets(void **st) {
  (void)st;
  /* windows-1252: “ ” € — … (0x93 0x94 0x80 0x97 0x85) */
  const char cp[] =
      "Subject: =?windows-1252?Q?=93Cobro=94_de_=8020?=\nContent-Type: text/plain; charset=windows-1252\n"
      "Content-Transfer-Encoding: quoted-printable\n\nMe cobraron =8020 =97 otra vez=85\n";
  ing_item *it = email(cp, strlen(cp), 0);
  assert_string_equal(it->text, "“Cobro” de €20\n\nMe cobraron €20 — otra vez…\n");
  ing_item_free(it);
  const char cp2[] = "Subject: x\nContent-Type: text/plain; charset=\"cp1252\"\n\n\x93hola\x94\n";
  it = email(cp2, strlen(cp2), 0);
  assert_string_equal(it->text, "x\n\n“hola”\n");
  ing_item_free(it);
  /* iso-8859-1 is read as windows-1252 (its superset), like browsers do */
  const char l1[] = "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\nCanci\xf3n \x80\n";
  it = email(l1, strlen(l1), 0);
  assert_string_equal(it->text, "x\n\nCanción €\n");
  ing_item_free(it);
  /* other charsets through iconv */
  const char koi[] = "Subject: =?koi8-r?B?8NLJ18XU?=\nContent-Type: text/plain; charset=ISO-8859-15\n\n\xa4 caf\xe9\n";
  it = email(koi, strlen(koi), 0);
  assert_string_equal(it->text, "Привет\n\n€ café\n");
  ing_item_free(it);
  /* no charset: UTF-8 when valid, windows-1252 otherwise */
  const char none[] = "Subject: Atenci\xc3\xb3n\n\nCami\xf3n\n";
  it = email(none, strlen(none), 0);
  assert_string_equal(it->text, "Atención\n\nCamión\n");
  ing_item_free(it);
  /* an unknown charset: taken when the text is valid UTF-8, refused otherwise */
  const char unk_ok[] = "Subject: x\nContent-Type: text/plain; charset=x-unknown-42\n\nvale \xc3\xa1\n";
  it = email(unk_ok, strlen(unk_ok), 0);
  assert_string_equal(it->text, "x\n\nvale á\n");
  ing_item_free(it);
  const char unk_bad[] = "Subject: x\nContent-Type: text/plain; charset=x-unknown-42\n\nmal \xe1\n";
  expect_email_reject(unk_bad, strlen(unk_bad), "body", "x-unknown-42");
  const char weird[] = "Subject: x\nContent-Type: text/plain; charset=\"../../etc/x\"\n\nmal \xe1\n";
  expect_email_reject(weird, strlen(weird), "body", "not supported");
  /* declared UTF-8 must be UTF-8 */
  const char bad8[] = "Subject: x\nContent-Type: text/plain; charset=utf-8\n\nmal \xe1 aqui\n";
  expect_email_reject(bad8, strlen(bad8), "body", "UTF-8");
  const char badsubj[] = "Subject: =?utf-8?Q?mal_=E1?=\n\nbody\n";
  expect_email_reject(badsubj, strlen(badsubj), "subject", "UTF-8");
  /* bytes that are not text in the declared charset are refused, not skipped */
  const char sjis[] = "Subject: x\nContent-Type: text/plain; charset=Shift_JIS\n\n\x93\xfa\x96\x7b \x81\n";
  expect_email_reject(sjis, strlen(sjis), "body", "Shift_JIS");
  const char sjis_ok[] = "Subject: x\nContent-Type: text/plain; charset=Shift_JIS\n\n\x93\xfa\x96\x7b\n";
  it = email(sjis_ok, strlen(sjis_ok), 0);
  assert_string_equal(it->text, "x\n\n日本\n");
  ing_item_free(it);
}

static void test_email_invalid_base64_refused(void **st) {
  (void)st;
  const char bad[] = "Subject: s\nContent-Transfer-Encoding: base64\n\nSG9s*YQ==\n";
  expect_email_reject(bad, strlen(bad), "body", "base64");
  const char badw[] = "Subject: =?UTF-8?B?SG9s*YQ==?=\n\nbody\n";
  expect_email_reject(badw, strlen(badw), "subject", "base64");
  /* missing padding is tolerated */
  const char nopad[] = "Subject: s\nContent-Transfer-Encoding: base64\n\nSG9sYQ\n";
  ing_item *it = email(nopad, strlen(nopad), 0);
  assert_string_equal(it->text, "s\n\nHola");
  ing_item_free(it);
  /* a text/plain attachment is not the body */
  const char att[] =
      "Subject: s\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/html\n\n<p>x</p>\n"
      "--B\nContent-Type: text/plain\nContent-Disposition: attachment; filename=log.txt\n\nlog\n--B--\n";
  it = email(att, strlen(att), 0);
  assert_string_equal(it->text, "s\n\n");
  ing_item_free(it);
}

/* ---- hardening: WhatsApp ---- */

static int wa_one(const char *msg_json, ing_item **out) {
  char body[40000], err[128];
  snprintf(body, sizeof body, "{\"entry\":[{\"changes\":[{\"value\":{\"messages\":[%s]}}]}]}", msg_json);
  ing_item **items = NULL;
  int n = ing_ch_whatsapp_items(body, strlen(body), "a", &items, err, sizeof err);
  assert_int_equal(n, 1);
  *out = items[0];
  free(items);
  return (*out)->state == ING_ITEM_REJECTED ? -1 : 0;
}

static void test_whatsapp_limits_and_fields(void **st) {
  (void)st;
  ing_item *it;
  char m[30000];
  snprintf(m, sizeof m, "{\"id\":\"w1\",\"type\":\"text\",\"text\":{\"body\":\"%020001d\"}}", 0);
  assert_int_equal(wa_one(m, &it), -1);
  assert_string_equal(it->err_field, "text.body");
  ing_item_free(it);
  snprintf(m, sizeof m, "{\"id\":\"%0257d\",\"type\":\"text\",\"text\":{\"body\":\"hola\"}}", 0);
  assert_int_equal(wa_one(m, &it), -1);
  assert_string_equal(it->err_field, "id");
  ing_item_free(it);
  assert_int_equal(wa_one("{\"id\":\"w\",\"type\":\"text\",\"timestamp\":\"17x\",\"text\":{\"body\":\"hola\"}}", &it),
                   -1);
  assert_string_equal(it->err_field, "timestamp");
  ing_item_free(it);
  assert_int_equal(wa_one("{\"id\":\"w\",\"type\":\"text\",\"text\":{\"body\":5}}", &it), -1);
  assert_string_equal(it->err_field, "text.body");
  ing_item_free(it);
  assert_int_equal(
      wa_one("{\"id\":\"w\",\"type\":\"text\",\"timestamp\":\"1714608000\",\"text\":{\"body\":\"hola\"}}", &it), 0);
  assert_true(it->created_at == 1714608000000LL);
  ing_item_free(it);
}

/* ---- hardening: Open311 ---- */

static const char SERVICES[] = "[{\"service_code\":\"baches\"},{\"service_code\":\"alumbrado\"}]";

static ing_item *o311(const char *body, int form, int want_rc) {
  ing_item *it = calloc(1, sizeof *it);
  assert_non_null(it);
  int rc = ing_ch_open311_item(body, strlen(body), form, "demo", SERVICES, it);
  if (rc != want_rc) fprintf(stderr, "unexpected rc %d for %s: %s: %s\n", rc, body, it->err_field, it->err_msg);
  assert_int_equal(rc, want_rc);
  return it;
}

static void expect_o311_reject(const char *body, int form, const char *field, const char *in_msg) {
  ing_item *it = o311(body, form, -1);
  assert_string_equal(it->err_field, field);
  if (in_msg && !strstr(it->err_msg, in_msg)) fail_msg("message \"%s\" lacks \"%s\"", it->err_msg, in_msg);
  ing_item_free(it);
}

static void test_open311_form(void **st) {
  (void)st;
  ing_item *it = o311(
      "service_code=baches&description=Hoyo+en+la+calle&lat=-33.45&long=-70.66"
      "&address_string=Av.%20Matta%20123&email=a%40b.c&media_url=http%3A%2F%2Fx%2Fy.jpg",
      1, 0);
  assert_string_equal(it->text, "Hoyo en la calle");
  assert_string_equal(it->service, "baches");
  assert_int_equal(it->channel, ESCUCHA__V1__CHANNEL__OPEN311);
  assert_true(it->has_location && it->lat == -33.45 && it->lon == -70.66);
  assert_string_equal(it->address, "Av. Matta 123");
  int media = 0;
  for (size_t i = 0; i < it->nattrs; i++) {
    assert_string_not_equal(it->attr_vals[i], "a@b.c");
    media |= strcmp(it->attr_keys[i], "media_url") == 0 && strcmp(it->attr_vals[i], "http://x/y.jpg") == 0;
  }
  assert_true(media);
  ing_item_free(it);
  /* empty coordinates are absent ones */
  it = o311("service_code=baches&description=x&lat=&long=", 1, 0);
  assert_false(it->has_location);
  ing_item_free(it);
  /* 6: NUL bytes */
  expect_o311_reject("service_code=baches&description=antes%00despues", 1, "description", "NUL");
  expect_o311_reject("service_code=bac%00hes&description=x", 1, "service_code", "NUL");
  /* 9: invalid UTF-8 */
  expect_o311_reject("service_code=baches&description=x&media_url=%FF%FE", 1, "media_url", "UTF-8");
  expect_o311_reject("service_code=baches&description=x&address_string=%C3", 1, "address_string", "UTF-8");
  expect_o311_reject("service_code=baches&description=caf%E9", 1, "description", "UTF-8");
  /* 8: coordinates */
  expect_o311_reject("service_code=baches&description=x&lat=10", 1, "long", "required");
  expect_o311_reject("service_code=baches&description=x&long=10", 1, "lat", "required");
  expect_o311_reject("service_code=baches&description=x&lat=-33.4junk&long=-70", 1, "lat", "number");
  expect_o311_reject("service_code=baches&description=x&lat=nan&long=-70", 1, "lat", NULL);
  expect_o311_reject("service_code=baches&description=x&lat=0x10&long=-70", 1, "lat", NULL);
  expect_o311_reject("service_code=baches&description=x&lat=91&long=-70", 1, "lat", "90");
  expect_o311_reject("service_code=baches&description=x&lat=-33&long=180.5", 1, "long", "180");
  /* 14: unknown service_code */
  expect_o311_reject("service_code=nope&description=x", 1, "service_code", "unknown");
  expect_o311_reject("description=x", 1, "service_code", "required");
  expect_o311_reject("service_code=baches", 1, "description", "required");
  /* a field twice is refused, not merged or dropped */
  expect_o311_reject("service_code=baches&description=a&description=b", 1, "description", "more than once");
  /* limits: never cut */
  char big[1200];
  snprintf(big, sizeof big, "service_code=baches&description=x&media_url=%01030d", 0);
  expect_o311_reject(big, 1, "media_url", "1024");
  snprintf(big, sizeof big, "service_code=baches&description=x&address_string=%0513d", 0);
  expect_o311_reject(big, 1, "address_string", "512");
  char *huge = malloc(20100);
  int k = sprintf(huge, "service_code=baches&description=");
  memset(huge + k, 'a', 20001);
  huge[k + 20001] = '\0';
  expect_o311_reject(huge, 1, "description", "20000");
  free(huge);
}

static void test_open311_json(void **st) {
  (void)st;
  /* numeric coordinates are kept */
  ing_item *it = o311("{\"service_code\":\"baches\",\"description\":\"x\",\"lat\":-33.45,\"long\":-70.66}", 0, 0);
  assert_true(it->has_location && it->lat == -33.45 && it->lon == -70.66);
  ing_item_free(it);
  it = o311("{\"service_code\":\"baches\",\"description\":\"x\",\"lat\":\"-33.45\",\"long\":\"-70.66\"}", 0, 0);
  assert_true(it->has_location && it->lat == -33.45);
  ing_item_free(it);
  expect_o311_reject("{\"service_code\":\"baches\",\"description\":\"x\",\"lat\":-33.45}", 0, "long", "required");
  expect_o311_reject("{\"service_code\":\"baches\",\"description\":\"x\",\"lat\":true,\"long\":1}", 0, "lat", "number");
  expect_o311_reject("{\"service_code\":\"baches\",\"description\":5}", 0, "description", "string");
  expect_o311_reject("{\"service_code\":\"baches\",\"description\":\"a\\u0000b\"}", 0, "body", "u0000");
  /* malformed JSON says so, with its position */
  expect_o311_reject("{\"service_code\":\"baches\",\n \"description\": oops}", 0, "body", "line 2 column");
  expect_o311_reject("[1]", 0, "body", "object");
  expect_o311_reject("{\"service_code\":\"otro\",\"description\":\"x\"}", 0, "service_code", "unknown");
  /* no list: any code */
  it = calloc(1, sizeof *it);
  assert_int_equal(ing_ch_open311_item("service_code=z&description=x", 28, 1, "demo", NULL, it), 0);
  ing_item_free(it);
}

/* ---- hardening: rate limit counts items ---- */

static void test_rate_limit_counts_items(void **st) {
  (void)st;
  char err[128];
  ing_auth *a = ing_auth_new(NULL, "ag:k", 10, err, sizeof err); /* 10 items/s, burst 20 */
  int k = -1;
  assert_non_null(ing_auth_check(a, "Bearer k", &k));
  uint64_t t = 1000000000ull, s = 1000000000ull;
  assert_int_equal(ing_auth_rate_take(a, k, t, 15), 0);
  assert_int_equal(ing_auth_rate_take(a, k, t, 0), 0); /* 5 left: a peek takes nothing */
  assert_int_equal(ing_auth_rate_take(a, k, t, 6), 1); /* 6 > 5: wait 1 s */
  assert_int_equal(ing_auth_rate_take(a, k, t, 5), 0);
  assert_int_equal(ing_auth_rate_limit(a, k, t), 1); /* empty */
  /* a batch larger than the burst passes with a full bucket, then is paid back */
  assert_int_equal(ing_auth_rate_take(a, k, t + s, 100), 1); /* 10 of 20: wait for a full bucket */
  assert_int_equal(ing_auth_rate_take(a, k, t + 2 * s, 100), 0);
  int w = ing_auth_rate_limit(a, k, t + 2 * s);
  assert_int_equal(w, 9);                                     /* 80 in debt + 1 at 10/s */
  assert_int_equal(ing_auth_rate_limit(a, k, t + 10 * s), 1); /* 8 s later: debt paid, no token yet */
  assert_int_equal(ing_auth_rate_limit(a, k, t + 11 * s), 0);
  ing_auth_free(a);
}

static void test_csv_field_len_sees_nul(void **st) {
  (void)st;
  const char data[] = "a,b\nuno,an\0tes\n\"x\0y\",\n";
  ing_csv_reader *r = ing_csv_open(data, sizeof data - 1);
  char **f;
  size_t nf;
  assert_int_equal(ing_csv_next(r, &f, &nf), 1);
  assert_int_equal(ing_csv_field_len(r, 0), 1);
  assert_int_equal(ing_csv_next(r, &f, &nf), 1);
  assert_int_equal(nf, 2);
  assert_int_equal(ing_csv_field_len(r, 0), 3);
  assert_int_equal(ing_csv_field_len(r, 1), 6); /* "an\0tes": longer than its strlen */
  assert_int_equal(strlen(f[1]), 2);
  assert_int_equal(ing_csv_next(r, &f, &nf), 1);
  assert_int_equal(ing_csv_field_len(r, 0), 3);
  assert_int_equal(ing_csv_field_len(r, 1), 0);
  assert_int_equal(ing_csv_field_len(r, 5), 0);
  ing_csv_close(r);
}

/* GeoReport v2 contact fields: found (to be counted), never copied into the item. */
static void test_open311_contact_fields(void **st) {
  (void)st;
  const char *form = "service_code=z&description=x&first_name=Ana&last_name=&email=a%40b.cl&phone=%2B569&api_key=k";
  /* bits: first_name 1, last_name (empty) no, email 4, phone 8 */
  assert_int_equal(ing_ch_open311_contact_fields(form, strlen(form), 1), 1u | 4u | 8u);
  const char *json = "{\"description\":\"x\",\"last_name\":\"P\",\"email\":null,\"phone\":\"\"}";
  assert_int_equal(ing_ch_open311_contact_fields(json, strlen(json), 0), 2u);
  assert_int_equal(ing_ch_open311_contact_fields("not json", 8, 0), 0u);
  ing_item *it = calloc(1, sizeof *it);
  assert_non_null(it);
  assert_int_equal(ing_ch_open311_item(form, strlen(form), 1, "demo", NULL, it), 0);
  assert_string_equal(it->text, "x");
  /* only Open311's own attributes are kept (the service code); no contact, no api_key */
  for (size_t i = 0; i < it->nattrs; i++) {
    assert_null(strstr(it->attr_vals[i], "Ana"));
    assert_null(strstr(it->attr_vals[i], "a@b.cl"));
    assert_null(strstr(it->attr_keys[i], "email"));
    assert_null(strstr(it->attr_keys[i], "api_key"));
  }
  ing_item_free(it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whatsapp_items_keep_text_not_sender),
      cmocka_unit_test(test_whatsapp_signature),
      cmocka_unit_test(test_email_plain_and_encoded_subject),
      cmocka_unit_test(test_email_multipart_latin1_base64),
      cmocka_unit_test(test_email_date),
      cmocka_unit_test(test_email_message_id_hashed_and_stable),
      cmocka_unit_test(test_email_nul_bytes_refused),
      cmocka_unit_test(test_email_limits),
      cmocka_unit_test(test_email_charsets),
      cmocka_unit_test(test_email_invalid_base64_refused),
      cmocka_unit_test(test_whatsapp_limits_and_fields),
      cmocka_unit_test(test_open311_form),
      cmocka_unit_test(test_open311_json),
      cmocka_unit_test(test_rate_limit_counts_items),
      cmocka_unit_test(test_open311_contact_fields),
      cmocka_unit_test(test_csv_field_len_sees_nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
