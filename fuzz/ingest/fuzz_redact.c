/* libFuzzer: ing_redact invariants. Output length bound and termination, valid UTF-8 in ->
 * valid UTF-8 out, every placeholder accounted for by the counts, literal text kept; and a
 * card disguised as the input's first bytes choose (zero-width characters, soft hyphens,
 * NBSP, full-width / Arabic-Indic / mathematical digits), set between two copies of the
 * input, never survives. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "redact.h"

#define CHECK(c)                \
  do {                          \
    if (!(c)) __builtin_trap(); \
  } while (0)

static int valid_utf8(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r < 0) return 0;
    i += (size_t)r;
  }
  return 1;
}

static unsigned occurrences(const char *s, size_t n, const char *pat) {
  size_t pl = strlen(pat);
  unsigned k = 0;
  for (size_t i = 0; i + pl <= n; i++) k += memcmp(s + i, pat, pl) == 0;
  return k;
}

/* Appends one digit of the card in the form f picks (UTF-8). */
static size_t put_digit(char *o, int d, unsigned f) {
  static const char *const FORMS[] = {"%c", "\xef\xbc%c", "\xd9%c", "\xdb%c", "\xf0\x9d\x9f%c"};
  static const unsigned char BASE[] = {'0', 0x90, 0xA0, 0xB0, 0x8E}; /* 0 0 ٠ ۰ 𝟎 */
  f %= sizeof BASE;
  return (size_t)sprintf(o, FORMS[f], BASE[f] + d);
}

/* prefix ; <disguised Luhn-valid card> ; prefix: the card must be redacted. */
static void check_disguised_card(const uint8_t *data, size_t size) {
  static const char *const CARDS[] = {"4111111111111111", "5500000000000004", "4532015112830366", "378282246310005"};
  static const char *const SEPS[] = {"", " ", "-", "\xc2\xa0", "\xe2\x80\x93"};
  static const char *const INVIS[] = {"\xe2\x80\x8b", "\xc2\xad",     "\xe2\x81\xa0",
                                      "\xef\xbb\xbf", "\xe2\x80\x8d", "\xef\xb8\x8f"};
  if (size < 3 || size > 4096) return;
  const char *card = CARDS[data[0] % 4];
  const char *sep = SEPS[data[1] % 5];
  char disg[512];
  size_t dn = 0;
  for (size_t k = 0; card[k]; k++) {
    unsigned b = data[2 + k % (size - 2)];
    if (k && k % 4 == 0) dn += (size_t)sprintf(disg + dn, "%s", sep);
    dn += put_digit(disg + dn, card[k] - '0', b);
    if (k + 1 < strlen(card) && (b & 0x80)) dn += (size_t)sprintf(disg + dn, "%s", INVIS[b % 6]);
  }
  size_t n2 = 2 * size + dn + 6;
  char *in = malloc(n2);
  CHECK(in);
  memcpy(in, data, size);
  memcpy(in + size, " ; ", 3);
  memcpy(in + size + 3, disg, dn);
  memcpy(in + size + 3 + dn, " ; ", 3);
  memcpy(in + size + 6 + dn, data, size);
  ing_redact_counts c;
  size_t n = 0;
  char *out = ing_redact(in, n2, &n, &c);
  CHECK(out && c.card >= 1);
  /* redaction only removes: copies of the prefix may hold it, the middle one must not */
  CHECK(occurrences(out, n, disg) <= 2 * occurrences((const char *)data, size, disg));
  free(out);
  free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_disguised_card(data, size);
  const char *in = (const char *)data;
  ing_redact_counts c;
  size_t n = 0;
  char *out = ing_redact(in, size, &n, &c);
  CHECK(out && out[n] == '\0' && n <= size + size / 2 + 16);
  if (valid_utf8(data, size)) CHECK(valid_utf8((const uint8_t *)out, n));

  static const char *const P[] = {"[EMAIL]", "[PHONE]", "[RUT]", "[DNI]", "[CEDULA]", "[CARD]", "[IBAN]"};
  const unsigned got[] = {c.email, c.phone, c.rut, c.dni, c.cedula, c.card, c.iban};
  unsigned total = 0;
  for (int k = 0; k < 7; k++) {
    CHECK(occurrences(out, n, P[k]) == occurrences(in, size, P[k]) + got[k]);
    total += got[k];
  }
  if (total == 0) CHECK(n == size && memcmp(out, in, size) == 0);
  else CHECK(n != size || memcmp(out, in, size) != 0);
  free(out);
  return 0;
}
