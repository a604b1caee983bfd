/* libFuzzer: the service's full-text vectors (vector.h) of any bytes, as
 * Spanish (first byte odd) or English, as text or (second bit) binary. A
 * vector made must be well-formed: a literal of 'lexeme':position items,
 * positions 1..255 increasing, lexemes without quotes, blanks or backslashes;
 * a binary form with its count, distinct lexemes in the server's order, each
 * with ascending positions 1..255. A text left to the database must leave the
 * buffer as it was. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector.h"

static void check(const char *p, size_t n) {
  size_t i = 0;
  unsigned last = 0;
  while (i < n) {
    if (p[i] != '\'') __builtin_trap();
    size_t j = ++i;
    while (i < n && p[i] != '\'') {
      if (p[i] == ' ' || p[i] == '\\' || p[i] == ':') __builtin_trap();
      i++;
    }
    if (i == j || i + 2 >= n || p[i + 1] != ':') __builtin_trap();
    i += 2;
    unsigned pos = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') pos = pos * 10 + (unsigned)(p[i++] - '0');
    if (pos <= last || pos > 255) __builtin_trap();
    last = pos;
    if (i < n && p[i++] != ' ') __builtin_trap();
  }
}

static unsigned be(const unsigned char *p, int n) {
  unsigned x = 0;
  for (int i = 0; i < n; i++) x = x << 8 | p[i];
  return x;
}

static void check_binary(const unsigned char *p, size_t n) {
  if (n < 4) __builtin_trap();
  unsigned count = be(p, 4), seen = 0;
  size_t i = 4;
  const unsigned char *prev = NULL;
  size_t prev_len = 0;
  while (i < n) {
    const unsigned char *lex = p + i;
    size_t len = 0;
    while (i + len < n && lex[len]) len++;
    if (len == 0 || i + len + 3 > n) __builtin_trap();
    if (prev) {
      int c = memcmp(prev, lex, prev_len < len ? prev_len : len);
      if (c > 0 || (c == 0 && prev_len >= len)) __builtin_trap(); /* sorted, distinct */
    }
    prev = lex, prev_len = len;
    i += len + 1;
    unsigned npos = be(p + i, 2), last = 0;
    i += 2;
    if (npos == 0 || i + 2 * npos > n) __builtin_trap();
    for (unsigned k = 0; k < npos; k++, i += 2) {
      unsigned pos = be(p + i, 2);
      if (pos <= last || pos > 255) __builtin_trap();
      last = pos;
    }
    seen++;
  }
  if (seen != count) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pz_vector *v;
  if (!v) v = pz_vector_new();
  if (!v) return 0;
  es_buf out = {0};
  if (es_buf_puts(&out, "x") != 0) return 0;
  const char *lang = size > 0 && (data[0] & 1) ? "es" : "en";
  int binary = size > 0 && (data[0] & 2);
  int r = pz_vector_make(v, lang, (const char *)data, size, binary, &out);
  if (r == 0 && out.len != 1) __builtin_trap();
  if (r == 1 && binary) check_binary((const unsigned char *)out.data + 1, out.len - 1);
  else if (r == 1) check(out.data + 1, out.len - 1);
  es_buf_free(&out);
  return 0;
}
