/* Ingest text normalisation: UTF-8 validation/repair, NFC clean-up, folding, content hash.
 * Hot path (>100k msg/s): ASCII and Latin-1/Latin Extended-A text is handled by single-pass
 * scanners; anything else falls back to utf8proc, which stays the reference (the fuzzers check
 * that both paths agree). */
#include "normalize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define FOLD_OPTS \
  (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE)

/* ---- UTF-8 decoding ---------------------------------------------------------------- */

/* Length of the maximal subpart of an ill-formed sequence at s (Unicode 15 §3.9), >= 1. */
static size_t bad_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t need;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) need = 2;
  else if (c >= 0xF0 && c <= 0xF4) need = 3;
  else return 1;
  if (c == 0xE0) lo = 0xA0;
  else if (c == 0xED) hi = 0x9F;
  else if (c == 0xF0) lo = 0x90;
  else if (c == 0xF4) hi = 0x8F;
  size_t k = 1;
  while (k <= need && k < n && s[k] >= lo && s[k] <= hi) {
    lo = 0x80;
    hi = 0xBF;
    k++;
  }
  return k;
}

/* Strict decode (same acceptance as utf8proc_iterate): length, or 0 if ill-formed. */
static size_t u8_decode(const unsigned char *s, size_t n, int32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t k = bad_len(s, n);
  size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  if (c < 0xC2 || c > 0xF4 || k != want) return 0;
  if (want == 2) *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
  else if (want == 3) *cp = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
  else *cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  return want;
}

long ing_utf8_invalid_at(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    int32_t cp;
    size_t k = u8_decode(u + i, n - i, &cp);
    if (k == 0) return (long)i;
    i += k;
  }
  return -1;
}

static size_t u8_encode(int32_t cp, char *out) { return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out); }

/* ---- normalisation ------------------------------------------------------------------ */

/* True if cp can be copied through NFC unchanged whatever surrounds it. Conservative:
 * scripts with ccc=0 composing characters (Indic, Hangul, ...) always take the slow path. */
static int nfc_stable(int32_t cp) {
  if (cp < 0x300) return 1;
  if (cp < 0x370 || (cp >= 0x900 && cp < 0x1200) || (cp >= 0x1B00 && cp < 0x1B80) || (cp >= 0x3099 && cp <= 0x309A) ||
      (cp >= 0xAC00 && cp < 0xD7B0) || (cp >= 0x11000 && cp < 0x12000))
    return 0;
  const utf8proc_property_t *p = utf8proc_get_property(cp);
  if (p->combining_class != 0 || p->comp_exclusion) return 0;
  /* a canonical (decomp_type 0) decomposition may recompose differently */
  return p->decomp_seqindex == UINT16_MAX || p->decomp_type != 0;
}

enum { CH_TEXT, CH_DROP, CH_SPACE, CH_NL };

static int classify_cp(int32_t cp) {
  if (cp == '\n' || cp == 0x85 || cp == 0x2028 || cp == 0x2029) return CH_NL;
  if (cp == ' ' || cp == '\t' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F ||
      cp == 0x205F || cp == 0x3000)
    return CH_SPACE;
  if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0xFEFF) return CH_DROP;
  return CH_TEXT;
}

/* Whitespace state shared by the clean-up and fold writers. */
typedef struct {
  char *out;
  size_t n;
  int nl, sp;
} ws_writer;

static void ws_flush(ws_writer *w) {
  if (w->n > 0) {
    if (w->nl > 0) {
      for (int i = 0; i < w->nl && i < 2; i++) w->out[w->n++] = '\n';
    } else if (w->sp) {
      w->out[w->n++] = ' ';
    }
  }
  w->nl = 0;
  w->sp = 0;
}

/* Clean-up pass writing at most n bytes to out. strict=1 (fast path): stops with -1 at
 * invalid UTF-8 or a character NFC might change; strict=0: input is valid UTF-8. */
static long clean_pass(const unsigned char *s, size_t n, char *out, int strict) {
  ws_writer w = {out, 0, 0, 0};
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    int32_t cp = c;
    size_t k = 1;
    if ((unsigned char)(c - 0x21) < 0x5E) { /* run of printable ASCII: the common case */
      if (w.nl | w.sp) ws_flush(&w);
      do w.out[w.n++] = (char)s[i++];
      while (i < n && (unsigned char)(s[i] - 0x21) < 0x5E);
      continue;
    }
    if (c == ' ') {
      w.sp = 1;
      i++;
      continue;
    }
    if (c >= 0x80) {
      k = u8_decode(s + i, n - i, &cp);
      if (k == 0 || (strict && !nfc_stable(cp))) return -1;
    }
    if (c == '\r') cp = '\n', k = (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
    switch (classify_cp(cp)) {
      case CH_NL: w.nl++, w.sp = 0; break;
      case CH_SPACE: w.sp = 1; break;
      case CH_DROP: break;
      default:
        ws_flush(&w);
        memcpy(w.out + w.n, s + i, k);
        w.n += k;
    }
    i += k;
  }
  return (long)w.n;
}

/* Replaces each maximal ill-formed subpart with U+FFFD; *first_bad = offset of the first or
 * -1. Returns malloc'd copy when repairing (NULL on OOM), NULL with *first_bad = -1 if valid. */
static char *repair_utf8(const unsigned char *s, size_t n, int repair, long *first_bad, size_t *out_n, int *oom) {
  char *out = NULL;
  size_t o = 0, i = 0;
  *first_bad = -1;
  *oom = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r > 0) {
      if (out) memcpy(out + o, s + i, (size_t)r), o += (size_t)r;
      i += (size_t)r;
      continue;
    }
    if (*first_bad < 0) {
      *first_bad = (long)i;
      if (!repair) return NULL;
      out = malloc(3 * n + 1);
      if (!out) {
        *oom = 1;
        return NULL;
      }
      memcpy(out, s, i);
      o = i;
    }
    o += u8_encode(0xFFFD, out + o);
    i += bad_len(s + i, n - i);
  }
  *out_n = out ? o : n;
  return out;
}

/* Clean-up before NFC so that dropping a control character between a letter and its
 * accent still yields NFC output; NFC creates no spaces or controls, so order is safe. */
static char *normalize_slow(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset) {
  char *fixed = NULL, *clean = NULL;
  utf8proc_uint8_t *nfc = NULL;
  const unsigned char *src = (const unsigned char *)in;
  size_t n = len;
  long first_bad;
  int oom;

  fixed = repair_utf8(src, n, repair, &first_bad, &n, &oom);
  if (oom) goto cleanup;
  if (first_bad >= 0 && !repair) {
    *bad_offset = first_bad;
    goto cleanup;
  }
  if (fixed) src = (const unsigned char *)fixed;
  clean = malloc(n + 1);
  if (!clean) goto cleanup;
  long m = clean_pass(src, n, clean, 0);
  utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)clean, m, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (k < 0) goto cleanup; /* only OOM is possible: the input is valid now */
  *out_len = (size_t)k;
cleanup:
  free(fixed);
  free(clean);
  return (char *)nfc;
}

static char *normalize_impl(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset, int allow_fast) {
  size_t dummy_len;
  long dummy_bad;
  if (!out_len) out_len = &dummy_len;
  if (!bad_offset) bad_offset = &dummy_bad;
  *bad_offset = -1;
  *out_len = 0;
  if (!in) len = 0, in = "";
  if (allow_fast) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    long n = clean_pass((const unsigned char *)in, len, out, 1);
    if (n >= 0) {
      out[n] = '\0';
      *out_len = (size_t)n;
      return out;
    }
    free(out);
  }
  return normalize_slow(in, len, repair, out_len, bad_offset);
}

char *ing_normalize_text(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset) {
  return normalize_impl(in, len, repair, out_len, bad_offset, 1);
}

char *ing_normalize_text_ref(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset) {
  return normalize_impl(in, len, repair, out_len, bad_offset, 0);
}

/* ---- folding ------------------------------------------------------------------------ */

/* Fold of U+0080..U+017F under FOLD_OPTS, generated with utf8proc 2.8 (each code point
 * folded between two letters): "" = ignorable, " " = separator. */
/* A table laid out by hand: */
/* clang-format off */
static const char *const latin_fold[256] = {
    /* U+0080 */ " ", " ", " ", " ", " ", " ", " ", " ",
    /* U+0088 */ " ", " ", " ", " ", " ", " ", " ", " ",
    /* U+0090 */ " ", " ", " ", " ", " ", " ", " ", " ",
    /* U+0098 */ " ", " ", " ", " ", " ", " ", " ", " ",
    /* U+00A0 */ " ", " ", " ", " ", " ", " ", "\xc2""\xa6", " ",
    /* U+00A8 */ " ", "\xc2""\xa9", "a", " ", " ", "", "\xc2""\xae", " ",
    /* U+00B0 */ "\xc2""\xb0", " ", "2", "3", " ", "\xce""\xbc", " ", " ",
    /* U+00B8 */ " ", "1", "o", " ", "1 4", "1 2", "3 4", " ",
    /* U+00C0 */ "a", "a", "a", "a", "a", "a", "\xc3""\xa6", "c",
    /* U+00C8 */ "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00D0 */ "\xc3""\xb0", "n", "o", "o", "o", "o", "o", " ",
    /* U+00D8 */ "\xc3""\xb8", "u", "u", "u", "u", "y", "\xc3""\xbe", "ss",
    /* U+00E0 */ "a", "a", "a", "a", "a", "a", "\xc3""\xa6", "c",
    /* U+00E8 */ "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00F0 */ "\xc3""\xb0", "n", "o", "o", "o", "o", "o", " ",
    /* U+00F8 */ "\xc3""\xb8", "u", "u", "u", "u", "y", "\xc3""\xbe", "y",
    /* U+0100 */ "a", "a", "a", "a", "a", "a", "c", "c",
    /* U+0108 */ "c", "c", "c", "c", "c", "c", "d", "d",
    /* U+0110 */ "\xc4""\x91", "\xc4""\x91", "e", "e", "e", "e", "e", "e",
    /* U+0118 */ "e", "e", "e", "e", "g", "g", "g", "g",
    /* U+0120 */ "g", "g", "g", "g", "h", "h", "\xc4""\xa7", "\xc4""\xa7",
    /* U+0128 */ "i", "i", "i", "i", "i", "i", "i", "i",
    /* U+0130 */ "i", "\xc4""\xb1", "ij", "ij", "j", "j", "k", "k",
    /* U+0138 */ "\xc4""\xb8", "l", "l", "l", "l", "l", "l", "l ",
    /* U+0140 */ "l ", "\xc5""\x82", "\xc5""\x82", "n", "n", "n", "n", "n",
    /* U+0148 */ "n", "\xca""\xbc""n", "\xc5""\x8b", "\xc5""\x8b", "o", "o", "o", "o",
    /* U+0150 */ "o", "o", "\xc5""\x93", "\xc5""\x93", "r", "r", "r", "r",
    /* U+0158 */ "r", "r", "s", "s", "s", "s", "s", "s",
    /* U+0160 */ "s", "s", "t", "t", "t", "t", "\xc5""\xa7", "\xc5""\xa7",
    /* U+0168 */ "u", "u", "u", "u", "u", "u", "u", "u",
    /* U+0170 */ "u", "u", "u", "u", "w", "w", "y", "y",
    /* U+0178 */ "y", "z", "z", "z", "z", "z", "z", "s",
};
/* clang-format on */

/* ASCII fold: lower-case letters and digits kept, 0 = separator. */
/* A table laid out by hand: */
/* clang-format off */
static const unsigned char FOLD_ASCII[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 0, 0, 0, 0, 0, 0,
    0, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 0, 0, 0, 0, 0,
    0, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 0, 0, 0, 0, 0,
};
/* clang-format on */

static void fold_put(ws_writer *w, const char *s, size_t k) {
  for (size_t j = 0; j < k; j++) {
    if (s[j] == ' ') {
      w->sp = 1;
      continue;
    }
    if (w->sp) ws_flush(w);
    w->out[w->n++] = s[j];
  }
}

/* Fast fold for text made of ASCII and U+0080..U+017F; -1 if another character shows up.
 * out needs 2*n bytes: the longest table entry is 3 bytes for a 2-byte character. */
static long fold_fast(const unsigned char *s, size_t n, char *out) {
  ws_writer w = {out, 0, 0, 0};
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (!FOLD_ASCII[c]) {
        w.sp = 1;
        i++;
        continue;
      }
      if (w.sp) ws_flush(&w);
      do w.out[w.n++] = (char)FOLD_ASCII[s[i++]];
      while (i < n && s[i] < 0x80 && FOLD_ASCII[s[i]]);
      continue;
    }
    int32_t cp;
    size_t k = u8_decode(s + i, n - i, &cp);
    if (k == 0) {
      w.sp = 1; /* stray byte: separator, as in the reference path */
      i += bad_len(s + i, n - i);
      continue;
    }
    if (cp >= 0x180) return -1;
    const char *f = latin_fold[cp - 0x80];
    fold_put(&w, f, strlen(f));
    i += k;
  }
  return (long)w.n;
}

static int fold_keep(int32_t cp) {
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_SO;
}

static char *fold_slow(const char *in, size_t len, size_t *out_len) {
  char *clean = NULL, *res = NULL;
  utf8proc_uint8_t *map = NULL;
  const unsigned char *s = (const unsigned char *)in;
  size_t n = 0;

  /* invalid bytes -> space, so utf8proc accepts the text */
  clean = malloc(len + 1);
  if (!clean) goto cleanup;
  for (size_t i = 0; i < len;) {
    int32_t cp;
    size_t k = u8_decode(s + i, len - i, &cp);
    if (k == 0) {
      clean[n++] = ' ';
      i += bad_len(s + i, len - i);
    } else {
      memcpy(clean + n, s + i, k);
      n += k, i += k;
    }
  }
  utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)n, &map, FOLD_OPTS);
  if (m < 0) goto cleanup;
  res = malloc((size_t)m + 1);
  if (!res) goto cleanup;
  ws_writer w = {res, 0, 0, 0};
  for (utf8proc_ssize_t i = 0; i < m;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(map + i, m - i, &cp);
    if (fold_keep(cp)) fold_put(&w, (const char *)map + i, (size_t)k);
    else w.sp = 1;
    i += k;
  }
  res[w.n] = '\0';
  *out_len = w.n;
cleanup:
  free(clean);
  free(map);
  return res;
}

static char *fold_impl(const char *in, size_t len, size_t *out_len, int allow_fast) {
  size_t dummy;
  if (!out_len) out_len = &dummy;
  *out_len = 0;
  if (!in) len = 0, in = "";
  if (allow_fast) {
    char *out = malloc(2 * len + 1);
    if (!out) return NULL;
    long n = fold_fast((const unsigned char *)in, len, out);
    if (n >= 0) {
      out[n] = '\0';
      *out_len = (size_t)n;
      return out;
    }
    free(out);
  }
  return fold_slow(in, len, out_len);
}

char *ing_fold_text(const char *in, size_t len, size_t *out_len) { return fold_impl(in, len, out_len, 1); }

char *ing_fold_text_ref(const char *in, size_t len, size_t *out_len) { return fold_impl(in, len, out_len, 0); }

/* ---- content hash ------------------------------------------------------------------- */

void ing_content_hash(const char *agency, const char *folded, size_t len, char out_hex[33]) {
  static const char hex[] = "0123456789abcdef";
  XXH3_state_t st;
  XXH3_INITSTATE(&st);
  XXH3_128bits_reset(&st);
  if (!agency) agency = "";
  XXH3_128bits_update(&st, agency, strlen(agency) + 1); /* includes the '\0' separator */
  if (len) XXH3_128bits_update(&st, folded, len);
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
  for (int i = 0; i < 16; i++) {
    out_hex[2 * i] = hex[c.digest[i] >> 4];
    out_hex[2 * i + 1] = hex[c.digest[i] & 15];
  }
  out_hex[32] = '\0';
}
