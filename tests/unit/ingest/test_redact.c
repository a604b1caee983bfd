/* ing_redact: table of positives and negatives (exact output + counts), PII-leak check,
 * edge cases, and a throughput figure (printed, never asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redact.h"

typedef struct {
  const char *in, *want;
  /* email, phone, rut, dni, cedula, card, iban */
  ing_redact_counts counts;
  const char *pii; /* substring that must not survive (positives), NULL for negatives */
} redact_case;

#define C(e, p, r, d, ce, ca, i) \
  { e, p, r, d, ce, ca, i }
#define NONE_ C(0, 0, 0, 0, 0, 0, 0)

static const redact_case CASES[] = {
    /* ---- e-mail ---- */
    {"Escríbanme a juan.perez@gmail.com por favor", "Escríbanme a [EMAIL] por favor", C(1, 0, 0, 0, 0, 0, 0),
     "juan.perez@gmail.com"},
    {"Mi correo: maria-jose.rojas+reclamos@correo.municipalidad.cl.", "Mi correo: [EMAIL].", C(1, 0, 0, 0, 0, 0, 0),
     "rojas+reclamos"},
    {"Contact me at John_Smith99@mail.co.uk or by post", "Contact me at [EMAIL] or by post", C(1, 0, 0, 0, 0, 0, 0),
     "John_Smith99"},
    {"(josé.núñez@correo.es)", "([EMAIL])", C(1, 0, 0, 0, 0, 0, 0), "correo.es"},
    {"912345678@wsp.cl escribió", "[EMAIL] escribió", C(1, 0, 0, 0, 0, 0, 0), "912345678"},
    {"a@b.c no es correo", "a@b.c no es correo", NONE_, NULL},
    {"Twitter @municipalidad no responde", "Twitter @municipalidad no responde", NONE_, NULL},
    /* ---- RUT ---- */
    {"Mi RUT es 12.345.678-5 y no me atienden", "Mi RUT es [RUT] y no me atienden", C(0, 0, 1, 0, 0, 0, 0), "345.678"},
    {"rut 12345678-5", "rut [RUT]", C(0, 0, 1, 0, 0, 0, 0), "12345678"},
    {"RUN: 1.234.567-4.", "RUN: [RUT].", C(0, 0, 1, 0, 0, 0, 0), "234.567"},
    {"rut 15678902k del titular", "rut [RUT] del titular", C(0, 0, 1, 0, 0, 0, 0), "15678902"},
    {"RUT 15.678.902-K", "RUT [RUT]", C(0, 0, 1, 0, 0, 0, 0), "678.902"},
    {"rut de mi madre 7654321-6", "rut de mi madre [RUT]", C(0, 0, 1, 0, 0, 0, 0), "7654321"},
    {"RUT 12.345.678-9 (mal digitado)", "RUT 12.345.678-9 (mal digitado)", NONE_, NULL},
    {"rut 12345678-0", "rut 12345678-0", NONE_, NULL},
    {"rut 12345678k", "rut 12345678k", NONE_, NULL},
    /* ---- DNI / NIE ---- */
    {"DNI 12345678Z, domicilio en Madrid", "DNI [DNI], domicilio en Madrid", C(0, 0, 0, 1, 0, 0, 0), "12345678"},
    {"con DNI 87654321-X", "con DNI [DNI]", C(0, 0, 0, 1, 0, 0, 0), "87654321"},
    {"dni 50123456 Q", "dni [DNI]", C(0, 0, 0, 1, 0, 0, 0), "50123456"},
    {"NIE X7654321J", "NIE [DNI]", C(0, 0, 0, 1, 0, 0, 0), "7654321"},
    {"NIE Y-1234567-X caducado", "NIE [DNI] caducado", C(0, 0, 0, 1, 0, 0, 0), "1234567"},
    {"mi dni 11223344b", "mi dni [DNI]", C(0, 0, 0, 1, 0, 0, 0), "11223344"},
    {"DNI 12345678A (letra errónea)", "DNI 12345678A (letra errónea)", NONE_, NULL},
    {"NIE X7654321K", "NIE X7654321K", NONE_, NULL},
    {"pagué 12345678 y me cobraron", "pagué 12345678 y me cobraron", NONE_, NULL},
    /* ---- cédula ---- */
    {"Cédula de ciudadanía 1.020.304.050 de Bogotá", "Cédula de ciudadanía [CEDULA] de Bogotá", C(0, 0, 0, 0, 1, 0, 0),
     "304.050"},
    {"CC 52123456", "CC [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "52123456"},
    {"C.C. No. 79.456.123 expedida en Cali", "C.C. No. [CEDULA] expedida en Cali", C(0, 0, 0, 0, 1, 0, 0), "456.123"},
    {"mi cedula es la numero 1020304050", "mi cedula es la numero [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "1020304050"},
    {"IDENTIFICACIÓN: 123456", "IDENTIFICACIÓN: [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "123456"},
    {"documento de identidad 9876543", "documento de identidad [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "9876543"},
    {"ID 4567890", "ID [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "4567890"},
    {"el número 1234567 no sirve", "el número 1234567 no sirve", NONE_, NULL},
    {"cédula pendiente desde hace más de un mes, turno 1234567",
     "cédula pendiente desde hace más de un mes, turno 1234567", NONE_, NULL},
    {"cédula 12345", "cédula 12345", NONE_, NULL},
    /* ---- cards ---- */
    {"Me cobraron dos veces en la tarjeta 4111 1111 1111 1111", "Me cobraron dos veces en la tarjeta [CARD]",
     C(0, 0, 0, 0, 0, 1, 0), "1111 1111"},
    {"card 5500-0000-0000-0004 was charged", "card [CARD] was charged", C(0, 0, 0, 0, 0, 1, 0), "0000-0004"},
    {"amex 3782 822463 10005.", "amex [CARD].", C(0, 0, 0, 0, 0, 1, 0), "822463"},
    {"tarjeta 4532015112830366", "tarjeta [CARD]", C(0, 0, 0, 0, 0, 1, 0), "4532015112830366"},
    {"tarjeta 4111 1111 1111 1112", "tarjeta 4111 1111 1111 1112", NONE_, NULL},
    {"número 1234567812345678", "número 1234567812345678", NONE_, NULL},
    /* ---- IBAN ---- */
    {"Devuelvan el dinero a ES91 2100 0418 4502 0005 1332 por favor", "Devuelvan el dinero a [IBAN] por favor",
     C(0, 0, 0, 0, 0, 0, 1), "0418 4502"},
    {"IBAN ES9121000418450200051332", "IBAN [IBAN]", C(0, 0, 0, 0, 0, 0, 1), "21000418"},
    {"refund to GB29 NWBK 6016 1331 9268 19 thanks", "refund to [IBAN] thanks", C(0, 0, 0, 0, 0, 0, 1), "6016 1331"},
    {"cuenta PT50 0002 0123 1234 5678 9015 4", "cuenta [IBAN]", C(0, 0, 0, 0, 0, 0, 1), "0123 1234"},
    {"IBAN ES91 2100 0418 4502 0005 1333 (erróneo)", "IBAN ES91 2100 0418 4502 0005 1333 (erróneo)", NONE_, NULL},
    /* ---- phones ---- */
    {"Llámenme al +56 9 1234 5678 urgente", "Llámenme al [PHONE] urgente", C(0, 1, 0, 0, 0, 0, 0), "1234 5678"},
    {"móvil +34 612 345 678", "móvil [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "345 678"},
    {"cel +57 300 123 4567", "cel [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "123 4567"},
    {"Call me on +1 (555) 123-4567.", "Call me on [PHONE].", C(0, 1, 0, 0, 0, 0, 0), "123-4567"},
    {"phone +44 20 7946 0958", "phone [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "7946 0958"},
    {"fono 9 8765 4321", "fono [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "8765 4321"},
    {"teléfono 612 34 56 78", "teléfono [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "34 56 78"},
    {"oficina (02) 2345 6789", "oficina [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "2345 6789"},
    {"ring 555-123-4567 anytime", "ring [PHONE] anytime", C(0, 1, 0, 0, 0, 0, 0), "123-4567"},
    {"helpline 0300 123 4567 never answers", "helpline [PHONE] never answers", C(0, 1, 0, 0, 0, 0, 0), "0300 123"},
    {"whatsapp 912345678", "whatsapp [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "912345678"},
    {"+56912345678", "[PHONE]", C(0, 1, 0, 0, 0, 0, 0), "912345678"},
    {"Me llamó el 2024 y luego el 2025", "Me llamó el 2024 y luego el 2025", NONE_, NULL},
    {"cita el 12/05/2024 a las 10:30", "cita el 12/05/2024 a las 10:30", NONE_, NULL},
    {"fecha 2024-05-12 y 12-05-2024", "fecha 2024-05-12 y 12-05-2024", NONE_, NULL},
    {"cobran $15.000 y 1.500 euros", "cobran $15.000 y 1.500 euros", NONE_, NULL},
    {"subió un 12,5% en 2023", "subió un 12,5% en 2023", NONE_, NULL},
    {"expediente N° 1234567", "expediente N° 1234567", NONE_, NULL},
    {"ticket #4567123", "ticket #4567123", NONE_, NULL},
    {"caso 20240512 sin respuesta", "caso 20240512 sin respuesta", NONE_, NULL},
    {"pedido 123456789012 no llegó", "pedido 123456789012 no llegó", NONE_, NULL},
    {"presupuesto de 15 000 000 pesos", "presupuesto de 15 000 000 pesos", NONE_, NULL},
    {"costó $ 1 250 000", "costó $ 1 250 000", NONE_, NULL},
    {"atención de 0800-1730 horas", "atención de 0800-1730 horas", NONE_, NULL},
    {"años 2019 2020 2021 sin cambios", "años 2019 2020 2021 sin cambios", NONE_, NULL},
    {"pi es 3.14159265358", "pi es 3.14159265358", NONE_, NULL},
    {"esperé 45 minutos, 3 veces", "esperé 45 minutos, 3 veces", NONE_, NULL},
    {"código ABC12345678XYZ", "código ABC12345678XYZ", NONE_, NULL},
    /* ---- several in one text, precedence ---- */
    {"Soy Ana, RUT 20.123.456-5, fono +56 9 8765 4321, correo ana@gmail.com",
     "Soy Ana, RUT [RUT], fono [PHONE], correo [EMAIL]", C(1, 1, 1, 0, 0, 0, 0), "123.456"},
    {"cédula 12.345.678-5", "cédula [RUT]", C(0, 0, 1, 0, 0, 0, 0), "345.678"},
    {"CC 12345678Z", "CC [DNI]", C(0, 0, 0, 1, 0, 0, 0), "12345678"},
};

/* Digits of s, in order, into out (NUL-terminated). */
static void digits_of(const char *s, char *out, size_t cap) {
  size_t k = 0;
  for (; *s && k + 1 < cap; s++) {
    if (*s >= '0' && *s <= '9') out[k++] = *s;
  }
  out[k] = '\0';
}

static void check_case(const redact_case *c) {
  ing_redact_counts got;
  size_t n = 0;
  char *out = ing_redact(c->in, strlen(c->in), &n, &got);
  assert_non_null(out);
  if (strcmp(out, c->want) != 0) print_error("input: %s\n", c->in);
  assert_string_equal(out, c->want);
  assert_int_equal(n, strlen(out));
  assert_memory_equal(&got, &c->counts, sizeof got);
  if (c->pii) {
    char pd[64], od[512];
    assert_null(strstr(out, c->pii));
    digits_of(c->pii, pd, sizeof pd);
    digits_of(out, od, sizeof od);
    if (strlen(pd) >= 6) assert_null(strstr(od, pd));
  }
  free(out);
}

static void test_table(void **state) {
  (void)state;
  size_t n = sizeof CASES / sizeof CASES[0];
  assert_true(n >= 60);
  for (size_t i = 0; i < n; i++) check_case(&CASES[i]);
}

/* Every context keyword (and accented / upper-case spellings) switches its rule on. */
static void test_keywords(void **state) {
  (void)state;
  static const char *const CED[] = {"cédula", "CÉDULA",    "cedula",         "cédulas",        "CC", "c.c.",
                                    "C.C.",   "documento", "identificación", "IDENTIFICACION", "ID", "id:"};
  static const char *const CASE[] = {"expediente", "caso",   "ticket",       "folio",     "pedido",   "orden",
                                     "factura",    "boleta", "reclamo",      "solicitud", "radicado", "order",
                                     "case",       "ref",    "reference",    "invoice",   "nro",      "N°",
                                     "nº",         "#",      "Expediente N°"};
  static const char *const PHONE[] = {"tel",   "teléfono", "telefono", "fono",   "celular", "cel",      "móvil",
                                      "movil", "whatsapp", "wsp",      "llamar", "llámame", "phone",    "mobile",
                                      "call",  "número",   "contacto", "tlf",    "telf",    "Teléfono:"};
  char in[96], want[96];
  for (size_t k = 0; k < sizeof CED / sizeof CED[0]; k++) {
    snprintf(in, sizeof in, "%s 1234567", CED[k]);
    snprintf(want, sizeof want, "%s [CEDULA]", CED[k]);
    redact_case c = {in, want, C(0, 0, 0, 0, 1, 0, 0), "1234567"};
    check_case(&c);
  }
  for (size_t k = 0; k < sizeof CASE / sizeof CASE[0]; k++) {
    snprintf(in, sizeof in, "%s 912345678", CASE[k]);
    redact_case c = {in, in, NONE_, NULL};
    check_case(&c);
  }
  for (size_t k = 0; k < sizeof PHONE / sizeof PHONE[0]; k++) {
    snprintf(in, sizeof in, "%s 22 345 678", PHONE[k]); /* thousands-like: needs the word */
    snprintf(want, sizeof want, "%s [PHONE]", PHONE[k]);
    redact_case c = {in, want, C(0, 1, 0, 0, 0, 0, 0), "345 678"};
    check_case(&c);
  }
  redact_case plain = {"son 22 345 678", "son 22 345 678", NONE_, NULL};
  check_case(&plain);
}

static void test_edges(void **state) {
  (void)state;
  ing_redact_counts c;
  size_t n = 99;
  char *out = ing_redact("", 0, &n, &c);
  assert_non_null(out);
  assert_string_equal(out, "");
  assert_int_equal(n, 0);
  free(out);
  out = ing_redact(NULL, 0, NULL, NULL);
  assert_non_null(out);
  free(out);
  /* not NUL-terminated input: only len bytes are read */
  const char buf[] = {'9', '1', '2', '3', '4', '5', '6', '7', '8', '9', '9'};
  out = ing_redact(buf, 9, &n, &c);
  assert_string_equal(out, "[PHONE]");
  free(out);
  /* embedded NUL is kept as-is in the copy */
  out = ing_redact("a\0b", 3, &n, &c);
  assert_int_equal(n, 3);
  assert_memory_equal(out, "a\0b", 3);
  free(out);
  /* growth bound: many short e-mails and cédulas */
  const char *many = "a@b.cd a@b.cd cc 123456 cc 123456 a@b.cd";
  out = ing_redact(many, strlen(many), &n, &c);
  assert_string_equal(out, "[EMAIL] [EMAIL] cc [CEDULA] cc [CEDULA] [EMAIL]");
  assert_int_equal(c.email, 3);
  assert_int_equal(c.cedula, 2);
  free(out);
}

/* Disguised personal data (zero-width and other default-ignorable characters, full-width
 * forms, other digits, Unicode spaces and hyphens): matched on the shadow, the original span
 * replaced, the text around it kept byte for byte (disguises outside the match included). */
static const redact_case DISGUISED[] = {
    {"escríbanme a juan\u200b@example.com hoy", "escríbanme a [EMAIL] hoy", C(1, 0, 0, 0, 0, 0, 0), "juan\u200b@"},
    {"tarjeta 4111\u200b1111\u200b1111\u200b1111 gracias", "tarjeta [CARD] gracias", C(0, 0, 0, 0, 0, 1, 0),
     "1111\u200b1111"},
    {"Mi RUT es １２.３４５.６７８-５, gracias", "Mi RUT es [RUT], gracias", C(0, 0, 1, 0, 0, 0, 0), "３４５.６７８"},
    {"correo ｊｕａｎ＠ｅｘａｍｐｌｅ.ｃｌ, gracias", "correo [EMAIL], gracias", C(1, 0, 0, 0, 0, 0, 0), "ｊｕａｎ"},
    {"llamar al 56-9-1234-5678 en la tarde", "llamar al [PHONE] en la tarde", C(0, 1, 0, 0, 0, 0, 0), "1234-5678"},
    {"fono 56 9 1234 5678.", "fono [PHONE].", C(0, 1, 0, 0, 0, 0, 0), "1234 5678"},
    {"oficina 56-2-2345-6789", "oficina [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "2345-6789"},
    {"fono 56\u20139\u20131234\u20135678 (en dash)", "fono [PHONE] (en dash)", C(0, 1, 0, 0, 0, 0, 0),
     "1234\u20135678"},
    {"fono 9\u20118765\u20114321", "fono [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "8765\u20114321"},
    {"tarjeta 4111\u00ad1111\u00ad1111\u00ad1111 (soft hyphen)", "tarjeta [CARD] (soft hyphen)", C(0, 0, 0, 0, 0, 1, 0),
     "1111\u00ad1111"},
    {"tarjeta 4111\u00a01111\u00a01111\u00a01111 nbsp", "tarjeta [CARD] nbsp", C(0, 0, 0, 0, 0, 1, 0),
     "1111\u00a01111"},
    {"tarjeta 4111\u202f1111\u20091111\u30001111", "tarjeta [CARD]", C(0, 0, 0, 0, 0, 1, 0), "1111\u20091111"},
    {"tarjeta ４１１１ １１１１ １１１１ １１１１ ok", "tarjeta [CARD] ok", C(0, 0, 0, 0, 0, 1, 0),
     "１１１１ １１１１"},
    {"بطاقة ٤١١١١١١١١١١١١١١١ شكرا", "بطاقة [CARD] شكرا", C(0, 0, 0, 0, 0, 1, 0), "١١١١١١١١"},
    {"card ۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱", "card [CARD]", C(0, 0, 0, 0, 0, 1, 0), "۱۱۱۱۱۱۱۱"},
    {"card 𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", "card [CARD]", C(0, 0, 0, 0, 0, 1, 0), "𝟏𝟏𝟏𝟏𝟏𝟏"},
    {"card 4\u20e31\u20e31\u20e31\u20e3 1111 1111 1111", "card [CARD]", C(0, 0, 0, 0, 0, 1, 0), "1\u20e31"},
    {"llame al ⁹¹²³⁴⁵⁶⁷⁸", "llame al [PHONE]", C(0, 1, 0, 0, 0, 0, 0), "²³⁴⁵⁶"},
    {"correo ana\u2060.rojas@gmail\u200c.com y fono +56\u200b9\u200b8765\u200b4321", "correo [EMAIL] y fono [PHONE]",
     C(1, 1, 0, 0, 0, 0, 0), "rojas"},
    {"DNI 12345678\u200bZ", "DNI [DNI]", C(0, 0, 0, 1, 0, 0, 0), "12345678"},
    {"IBAN ES91\u200b2100\u200b0418\u200b4502\u200b0005\u200b1332", "IBAN [IBAN]", C(0, 0, 0, 0, 0, 0, 1),
     "0418\u200b4502"},
    {"cc ١٢٣٤٥٦٧", "cc [CEDULA]", C(0, 0, 0, 0, 1, 0, 0), "٣٤٥٦"},
    /* a zero-width character between a word and a number separates them, as before */
    {"tarjeta\u200b4111111111111111 x", "tarjeta\u200b[CARD] x", C(0, 0, 0, 0, 0, 1, 0), "4111111111111111"},
    /* what surrounds a match is untouched, disguises included */
    {"ｈｏｌａ\u200b, mi RUT １２.３４５.６７８-５\u200b. ¡gracias!", "ｈｏｌａ\u200b, mi RUT [RUT]\u200b. ¡gracias!",
     C(0, 0, 1, 0, 0, 0, 0), "６７８"},
    {"\xff\xfe 4111\u200b1111\u200b1111\u200b1111 \xc3", "\xff\xfe [CARD] \xc3", C(0, 0, 0, 0, 0, 1, 0),
     "1111\u200b1111"},
    /* the precision rules still hold on the shadow */
    {"expediente Nº\u00a0912345678", "expediente Nº\u00a0912345678", NONE_, NULL},
    {"cobran $\u00a015.000 y 1\u00a0500 euros", "cobran $\u00a015.000 y 1\u00a0500 euros", NONE_, NULL},
    {"fecha 12\u201105\u20112024, de 0800\u20131730", "fecha 12\u201105\u20112024, de 0800\u20131730", NONE_, NULL},
    {"tarjeta ４１１１ １１１１ １１１１ １１１２", "tarjeta ４１１１ １１１１ １１１１ １１１２", NONE_, NULL},
    {"rut １２.３４５.６７８-９", "rut １２.３４５.６７８-９", NONE_, NULL},
    {"56-1-1234-5678 y 56-9-123-456", "56-1-1234-5678 y 56-9-123-456", NONE_, NULL},
    {"⑴⑵⑶⑷⑸ ½ ﬁn ㎏", "⑴⑵⑶⑷⑸ ½ ﬁn ㎏", NONE_, NULL},
    {"emoji 👍\ufe0f 2024 ok", "emoji 👍\ufe0f 2024 ok", NONE_, NULL},
};

static void test_disguised(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof DISGUISED / sizeof DISGUISED[0]; i++) check_case(&DISGUISED[i]);
}

/* The shadow path gives the fast path's answer: every table case again with a zero-width
 * space appended (which forces the shadow) keeps its output and counts. */
static void test_shadow_agrees(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    char in[512], want[512];
    snprintf(in, sizeof in, "%s \u200b", CASES[i].in);
    snprintf(want, sizeof want, "%s \u200b", CASES[i].want);
    redact_case c = {in, want, CASES[i].counts, CASES[i].pii};
    check_case(&c);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Throughput figure only (sanitizer builds are slow; no assertion). */
static void test_throughput(void **state) {
  (void)state;
  const char *text =
      "Buenas tardes, llevo tres semanas esperando respuesta de la municipalidad por el "
      "reclamo de la basura en la calle Los Aromos. Mi RUT es 12.345.678-5 y mi teléfono "
      "+56 9 1234 5678; también pueden escribirme a vecina.aromos@gmail.com. El camión no "
      "pasa desde el 12/05/2024 y pagamos $15.000 de derechos de aseo.";
  size_t len = strlen(text), n;
  ing_redact_counts c;
  int iters = 50000;
  double t0 = now_s();
  for (int i = 0; i < iters; i++) {
    char *out = ing_redact(text, len, &n, &c);
    assert_non_null(out);
    free(out);
  }
  double dt = now_s() - t0;
  printf("ing_redact: %zu-byte text, %.0f items/s, %.1f MB/s\n", len, iters / dt, iters * (double)len / dt / 1e6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),     cmocka_unit_test(test_keywords),      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_disguised), cmocka_unit_test(test_shadow_agrees), cmocka_unit_test(test_throughput),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
