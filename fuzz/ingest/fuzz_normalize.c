/* libFuzzer: ing_normalize_text / ing_fold_text / ing_content_hash invariants.
 * Output is valid UTF-8, NFC, free of controls and tabs (only \n survives), trimmed,
 * idempotent, and the fast paths agree with the utf8proc-only reference. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "normalize.h"

#define CHECK(c)                \
  do {                          \
    if (!(c)) __builtin_trap(); \
  } while (0)

/* Offset of the first invalid byte per utf8proc, -1 if valid. */
static long first_invalid(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r < 0) return (long)i;
    i += (size_t)r;
  }
  return -1;
}

static void check_normalized(const char *s, size_t n) {
  CHECK(s[n] == '\0' && strlen(s) == n);
  CHECK(first_invalid((const uint8_t *)s, n) < 0);
  if (n == 0) return;
  CHECK(s[0] != ' ' && s[0] != '\n' && s[n - 1] != ' ' && s[n - 1] != '\n');
  CHECK(!strstr(s, "  ") && !strstr(s, "\n\n\n") && !strstr(s, " \n") && !strstr(s, "\n "));
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    CHECK(c >= 0x20 || c == '\n');
    CHECK(c != 0x7F && c != '\t' && c != '\r');
  }
  utf8proc_uint8_t *nfc = NULL;
  utf8proc_ssize_t m = utf8proc_map((const uint8_t *)s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  CHECK(m == (utf8proc_ssize_t)n && memcmp(nfc, s, n) == 0);
  free(nfc);
}

static void check_folded(const char *s, size_t n) {
  CHECK(s[n] == '\0' && strlen(s) == n);
  CHECK(first_invalid((const uint8_t *)s, n) < 0);
  if (n == 0) return;
  CHECK(s[0] != ' ' && s[n - 1] != ' ' && !strstr(s, "  "));
  for (size_t i = 0; i < n; i++) CHECK(!(s[i] >= 'A' && s[i] <= 'Z'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  size_t n1 = 0, n2 = 0;
  long bad1 = 0, bad2 = 0;
  long want_bad = first_invalid(data, size);

  char *strict = ing_normalize_text(in, size, 0, &n1, &bad1);
  if (want_bad >= 0) {
    CHECK(!strict && bad1 == want_bad);
  } else {
    CHECK(strict && bad1 == -1);
    check_normalized(strict, n1);
  }

  char *fixed = ing_normalize_text(in, size, 1, &n1, &bad1);
  char *ref = ing_normalize_text_ref(in, size, 1, &n2, &bad2);
  CHECK(fixed && ref && bad1 == -1 && n1 == n2 && memcmp(fixed, ref, n1) == 0);
  check_normalized(fixed, n1);
  if (strict) CHECK(strcmp(strict, fixed) == 0);
  char *again = ing_normalize_text(fixed, n1, 0, &n2, &bad2);
  CHECK(again && n2 == n1 && memcmp(again, fixed, n1) == 0);

  char *f1 = ing_fold_text(in, size, &n1);
  char *f2 = ing_fold_text_ref(in, size, &n2);
  CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0);
  check_folded(f1, n1);

  char hex[33];
  ing_content_hash("agency", f1, n1, hex);
  CHECK(strlen(hex) == 32);

  free(strict);
  free(fixed);
  free(ref);
  free(again);
  free(f1);
  free(f2);
  return 0;
}
