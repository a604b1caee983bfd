/* libFuzzer: the service's full-text vectors (vector.h) of any bytes, as
 * Spanish (first byte odd) or English. A vector made must be a well-formed
 * literal: 'lexeme':position items, positions 1..255 increasing, lexemes
 * without quotes, blanks or backslashes; a text left to the database must
 * leave the buffer as it was. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pz_vector *v;
  if (!v) v = pz_vector_new();
  if (!v) return 0;
  es_buf out = {0};
  if (es_buf_puts(&out, "x") != 0) return 0;
  const char *lang = size > 0 && (data[0] & 1) ? "es" : "en";
  int r = pz_vector_make(v, lang, (const char *)data, size, &out);
  if (r == 0 && out.len != 1) __builtin_trap();
  if (r == 1) check(out.data + 1, out.len - 1);
  es_buf_free(&out);
  return 0;
}
