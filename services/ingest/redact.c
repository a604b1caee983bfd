/* PII redaction: one left-to-right hand scanner (no regex), see redact.h for the rules.
 * Output is built lazily: literal text between matches is copied only when a match is
 * emitted, so an e-mail can still claim a local part the scanner already walked over.
 * Text holding characters that could disguise personal data (zero-width, full-width, other
 * digits, Unicode spaces and hyphens) is scanned as a normalised shadow whose bytes map back
 * to the original characters; plain ASCII/Latin text is scanned as it is (the hot path). */
#include "redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { K_EMAIL, K_IBAN, K_CARD, K_RUT, K_DNI, K_CEDULA, K_PHONE };

static const char *const PLACEHOLDER[] = {"[EMAIL]", "[IBAN]", "[CARD]", "[RUT]", "[DNI]", "[CEDULA]", "[PHONE]"};

#define CEDULA_WINDOW 4 /* words allowed between a cédula keyword and the number */
#define CASE_WINDOW 2   /* words allowed between N°/expediente/... and the number */
#define PHONE_WINDOW 3  /* words allowed between teléfono/phone/... and the number */
#define NONE SIZE_MAX

typedef struct {
  const unsigned char *s; /* what the rules read: the input, or its shadow */
  size_t n;
  const unsigned char *orig; /* the input, where the output is copied from */
  size_t orig_n;
  const size_t *src;                /* shadow byte -> start of its input character; NULL: no shadow */
  size_t em_s, em_e;                /* next e-mail span, em_s == NONE if there is none */
  int ctx_ced, ctx_case, ctx_phone; /* words since the keyword, -1 when out of range */
} scan;

/* ---- character classes ---------------------------------------------------------------- */

/* ASCII classes (1 = digit, 2 = letter): one load per byte in the scanning loops. */
/* A table laid out by hand: */
/* clang-format off */
static const unsigned char CLS[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

static inline int is_digit(unsigned char c) { return CLS[c] & 1; }
static inline int is_alpha(unsigned char c) { return (CLS[c] & 2) != 0; }
static inline int is_alnum(unsigned char c) { return CLS[c] != 0; }

/* Length of a Latin-1 / Latin Extended-A letter at s[i] (U+00C0..U+017F minus the
 * multiplication and division signs), 0 if not one: spares utf8proc for es/pt text. */
static inline size_t latin_letter(const unsigned char *s, size_t n, size_t i) {
  if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
  if (s[i] == 0xC3) return (s[i + 1] != 0x97 && s[i + 1] != 0xB7) ? 2 : 0;
  return (s[i] == 0xC4 || s[i] == 0xC5) ? 2 : 0;
}

static int word_cp(int32_t cp) {
  if (cp < 0x80) return is_alnum((unsigned char)cp) || cp == '_';
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO);
}

/* Code point starting at s[i] (0xFFFD-ish -1 if invalid); *k = its length (>= 1). */
static int32_t cp_at(const scan *sc, size_t i, size_t *k) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t r = utf8proc_iterate(sc->s + i, (utf8proc_ssize_t)(sc->n - i), &cp);
  *k = r > 0 ? (size_t)r : 1;
  return r > 0 ? cp : -1;
}

/* Code point ending just before s[i] (i > 0), -1 if invalid; *start = where it begins. */
static int32_t cp_before_at(const scan *sc, size_t i, size_t *start) {
  size_t j = i - 1, k;
  while (j > 0 && i - j < 4 && (sc->s[j] & 0xC0) == 0x80) j--;
  int32_t cp = cp_at(sc, j, &k);
  *start = j;
  if (j + k != i) *start = i - 1, cp = -1;
  return cp;
}

static int32_t cp_before(const scan *sc, size_t i) {
  size_t start;
  return cp_before_at(sc, i, &start);
}

static int word_byte_at(const scan *sc, size_t i) {
  unsigned char c = sc->s[i];
  if (c < 0x80) return is_alnum(c) || c == '_';
  if (latin_letter(sc->s, sc->n, i)) return 1;
  size_t k;
  return word_cp(cp_at(sc, i, &k));
}

static int num_punct(unsigned char c) { return c == '.' || c == ',' || c == '/' || c == ':' || c == '-'; }

/* A match at [i, e) is glued if a letter/digit touches it, or "1." / ".5"-style number
 * punctuation joins it to a neighbouring number (decimals, dates, ranges). */
static int glued_left(const scan *sc, size_t i) {
  if (i == 0) return 0;
  unsigned char c = sc->s[i - 1];
  if (c == '@') return 1;
  if (c >= 0x80) return word_cp(cp_before(sc, i));
  if (is_alnum(c) || c == '_') return 1;
  return num_punct(c) && i >= 2 && is_digit(sc->s[i - 2]);
}

static int glued_right(const scan *sc, size_t e) {
  if (e >= sc->n) return 0;
  unsigned char c = sc->s[e];
  if (c == '@') return 1;
  if (c >= 0x80) return word_byte_at(sc, e);
  if (is_alnum(c) || c == '_') return 1;
  return num_punct(c) && e + 1 < sc->n && is_digit(sc->s[e + 1]);
}

/* Accepts [i, e) as a match: not glued on the right, not overlapping the next e-mail. */
static size_t accept(const scan *sc, size_t e) {
  return (!glued_right(sc, e) && (sc->em_s == NONE || e <= sc->em_s)) ? e : 0;
}

/* ---- e-mail ----------------------------------------------------------------------------- */

static int local_byte(unsigned char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* Start of the local part ending before '@' at a, not before lo; NONE if empty. */
static size_t email_left(const scan *sc, size_t a, size_t lo) {
  size_t s = a;
  while (s > lo) {
    unsigned char c = sc->s[s - 1];
    if (c < 0x80) {
      if (!local_byte(c)) break;
      s--;
      continue;
    }
    size_t start;
    int32_t cp = cp_before_at(sc, s, &start);
    if (cp < 0 || !word_cp(cp) || start < lo) break;
    s = start;
  }
  while (s < a && (sc->s[s] == '.' || sc->s[s] == '+' || sc->s[s] == '-' || sc->s[s] == '%')) s++;
  if (s == a || a - s > 64 || sc->s[a - 1] == '.') return NONE;
  return s;
}

/* End of the domain after '@' at a, or 0: labels of [A-Za-z0-9-], TLD of >= 2 letters. */
static size_t email_right(const scan *sc, size_t a) {
  size_t e = a + 1, dot[16];
  int dots = 0;
  if (e >= sc->n || !is_alnum(sc->s[e])) return 0;
  while (e < sc->n) {
    unsigned char c = sc->s[e];
    if (is_alnum(c) || c == '-') {
      e++;
    } else if (c == '.' && dots < 16 && sc->s[e - 1] != '.' && e + 1 < sc->n && is_alnum(sc->s[e + 1])) {
      dot[dots++] = e++;
    } else {
      break;
    }
  }
  /* the last label must be a TLD; otherwise drop labels ("a@b.cl.123" -> "a@b.cl") */
  while (dots > 0) {
    size_t j = dot[dots - 1] + 1;
    while (j < e && is_alpha(sc->s[j])) j++;
    if (j == e && e - dot[dots - 1] - 1 >= 2) return e;
    e = dot[--dots];
  }
  return 0;
}

/* Next e-mail span at or after from; left side bounded by lo. */
static void next_email(scan *sc, size_t from, size_t lo) {
  sc->em_s = sc->em_e = NONE;
  while (from < sc->n) {
    const unsigned char *at = memchr(sc->s + from, '@', sc->n - from);
    if (!at) return;
    size_t a = (size_t)(at - sc->s);
    size_t s = email_left(sc, a, lo);
    size_t e = s == NONE ? 0 : email_right(sc, a);
    if (e && (e == sc->n || (sc->s[e] != '@' && !word_byte_at(sc, e)))) {
      sc->em_s = s;
      sc->em_e = e;
      return;
    }
    from = a + 1;
  }
}

/* ---- digit helpers ---------------------------------------------------------------------- */

static size_t digit_run(const scan *sc, size_t i) {
  size_t j = i;
  while (j < sc->n && is_digit(sc->s[j])) j++;
  return j - i;
}

static int luhn_ok(const char *d, size_t n) {
  unsigned sum = 0;
  for (size_t k = 0; k < n; k++) {
    unsigned v = (unsigned)(d[n - 1 - k] - '0');
    if (k & 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
  }
  return sum % 10 == 0;
}

/* ---- IBAN --------------------------------------------------------------------------------- */

static unsigned mod97_add(unsigned r, unsigned char c) {
  if (is_digit(c)) return (r * 10 + (unsigned)(c - '0')) % 97;
  return (r * 100 + 10 + (unsigned)((c | 0x20) - 'a')) % 97;
}

/* IBAN check over the alphanumerics of [i, e): country + check digits moved to the end. */
static int iban_ok(const scan *sc, size_t i, size_t e) {
  unsigned r = 0, letters = 0, count = 0;
  for (size_t j = i + 4; j < e; j++) {
    if (sc->s[j] == ' ') continue;
    letters += is_alpha(sc->s[j]);
    r = mod97_add(r, sc->s[j]);
    count++;
  }
  if (letters > 4 || count + 4 < 15 || count + 4 > 34) return 0;
  for (size_t j = i; j < i + 4; j++) r = mod97_add(r, sc->s[j]);
  return r == 1;
}

static size_t alnum_run(const scan *sc, size_t i) {
  size_t j = i;
  while (j < sc->n && is_alnum(sc->s[j])) j++;
  return j - i;
}

static size_t match_iban(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  if (i + 4 > sc->n || !is_alpha(s[i]) || !is_alpha(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3])) return 0;
  size_t run = alnum_run(sc, i);
  if (run != 4) return (run >= 15 && run <= 34 && iban_ok(sc, i, i + run)) ? accept(sc, i + run) : 0;
  /* grouped: every group but the last has 4 characters */
  size_t ends[12], g = 0, e = i + 4;
  while (g < 12 && e + 1 < sc->n && s[e] == ' ' && is_alnum(s[e + 1])) {
    size_t r = alnum_run(sc, e + 1);
    if (r > 4) break;
    e += 1 + r;
    ends[g++] = e;
    if (r < 4) break;
  }
  while (g > 0) {
    size_t end = ends[--g];
    if (iban_ok(sc, i, end) && accept(sc, end)) return end;
  }
  return 0;
}

/* ---- card ----------------------------------------------------------------------------------- */

static size_t match_card(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  char d[20];
  size_t nd = 0, e = i, r = digit_run(sc, i);
  if (r >= 13 && r <= 19) {
    memcpy(d, s + i, r);
    return luhn_ok(d, r) ? accept(sc, i + r) : 0;
  }
  if (r != 4 || i + 5 >= sc->n || (s[i + 4] != ' ' && s[i + 4] != '-')) return 0;
  unsigned char sep = s[i + 4];
  for (;;) {
    if (r < 3 || r > 6 || nd + r > 19) return 0;
    memcpy(d + nd, s + e, r);
    nd += r;
    e += r;
    if (e + 1 < sc->n && s[e] == sep && is_digit(s[e + 1])) {
      e++;
      r = digit_run(sc, e);
      continue;
    }
    break;
  }
  return (nd >= 13 && luhn_ok(d, nd)) ? accept(sc, e) : 0;
}

/* ---- RUT --------------------------------------------------------------------------------- */

static char rut_dv(const char *body, size_t n) {
  unsigned sum = 0, w = 2;
  for (size_t k = n; k-- > 0;) {
    sum += (unsigned)(body[k] - '0') * w;
    w = w == 7 ? 2 : w + 1;
  }
  unsigned r = 11 - sum % 11;
  return r == 11 ? '0' : r == 10 ? 'k' : (char)('0' + r);
}

static size_t match_rut(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  char body[8];
  size_t nb = 0, e = i, r = digit_run(sc, i);
  int dotted = 0;
  if ((r == 1 || r == 2) && i + r < sc->n && s[i + r] == '.') {
    /* 1.234.567 / 12.345.678 */
    memcpy(body, s + i, r);
    nb = r;
    e = i + r;
    for (int g = 0; g < 2; g++) {
      if (e >= sc->n || s[e] != '.' || digit_run(sc, e + 1) != 3) return 0;
      memcpy(body + nb, s + e + 1, 3);
      nb += 3;
      e += 4;
    }
    dotted = 1;
  } else if (r == 7 || r == 8) {
    memcpy(body, s + i, r);
    nb = r;
    e = i + r;
  } else {
    return 0;
  }
  if (e >= sc->n) return 0;
  unsigned char dv;
  if (s[e] == '-' && e + 1 < sc->n) {
    dv = s[e + 1];
    e += 2;
  } else if (!dotted && (s[e] | 0x20) == 'k') {
    dv = s[e];
    e += 1;
  } else {
    return 0;
  }
  if (!is_digit(dv) && (dv | 0x20) != 'k') return 0;
  char want = rut_dv(body, nb);
  if ((char)(is_digit(dv) ? dv : 'k') != want) return 0;
  return accept(sc, e);
}

/* ---- DNI / NIE ------------------------------------------------------------------------------ */

/* Checks the letter after the number ending at e; returns the match end or 0. */
static size_t dni_letter(const scan *sc, size_t e, unsigned long num) {
  static const char LETTERS[] = "TRWAGMYFPDXBNJZSQVHLCKE";
  const unsigned char *s = sc->s;
  int space = 0;
  if (e < sc->n && (s[e] == '-' || s[e] == ' ')) space = s[e] == ' ', e++;
  if (e >= sc->n || !is_alpha(s[e])) return 0;
  if (space && !(s[e] >= 'A' && s[e] <= 'Z')) return 0; /* "... 12345678 y ..." */
  if ((s[e] & ~0x20) != LETTERS[num % 23]) return 0;
  return accept(sc, e + 1);
}

static unsigned long parse_ul(const unsigned char *s, size_t n) {
  unsigned long v = 0;
  for (size_t k = 0; k < n; k++) v = v * 10 + (unsigned long)(s[k] - '0');
  return v;
}

static size_t match_dni(const scan *sc, size_t i) {
  if (digit_run(sc, i) != 8) return 0;
  return dni_letter(sc, i + 8, parse_ul(sc->s + i, 8));
}

static size_t match_nie(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  unsigned char c = s[i] & ~0x20;
  if (c != 'X' && c != 'Y' && c != 'Z') return 0;
  size_t j = i + 1;
  if (j < sc->n && s[j] == '-') j++;
  if (digit_run(sc, j) != 7) return 0;
  unsigned long num = (unsigned long)(c - 'X') * 10000000UL + parse_ul(s + j, 7);
  return dni_letter(sc, j + 7, num);
}

/* ---- cédula ------------------------------------------------------------------------------ */

static size_t match_cedula(const scan *sc, size_t i) {
  if (sc->ctx_ced < 0) return 0;
  size_t r = digit_run(sc, i), e = i + r, nd = r;
  if (r <= 3 && e + 4 <= sc->n && sc->s[e] == '.') {
    while (e + 4 <= sc->n && sc->s[e] == '.' && digit_run(sc, e + 1) == 3) {
      e += 4;
      nd += 3;
    }
  }
  if (nd < 6 || nd > 10) return 0;
  return accept(sc, e);
}

/* ---- phone ------------------------------------------------------------------------------- */

#define MAX_GROUPS 8

typedef struct {
  size_t len[MAX_GROUPS], end[MAX_GROUPS];
  unsigned char paren[MAX_GROUPS];
  int n;
  size_t digits; /* over all groups */
} groups;

/* Reads digit groups separated by one space/hyphen, the first may be "(..)". */
static size_t read_groups(const scan *sc, size_t p, groups *g) {
  const unsigned char *s = sc->s;
  g->n = 0;
  g->digits = 0;
  while (g->n < MAX_GROUPS && p < sc->n) {
    int paren = s[p] == '(';
    size_t q = p + paren, r = digit_run(sc, q);
    if (r == 0 || (paren && (r > 4 || q + r >= sc->n || s[q + r] != ')'))) break;
    p = q + r + paren;
    g->len[g->n] = r;
    g->paren[g->n] = (unsigned char)paren;
    g->end[g->n++] = p;
    g->digits += r;
    if (g->digits > 15 || p >= sc->n) break;
    if ((s[p] == ' ' || s[p] == '-') && p + 1 < sc->n && (is_digit(s[p + 1]) || s[p + 1] == '(')) p++;
    else if (!(paren && is_digit(s[p]))) /* "(0)20 ..." or "(555)123-4567" */ break;
  }
  return g->digits;
}

static int is_year(const unsigned char *d, size_t n) {
  return n == 4 && ((d[0] == '1' && d[1] == '9') || (d[0] == '2' && d[1] == '0'));
}

static int is_hhmm(const unsigned char *d) { return (d[0] - '0') * 10 + (d[1] - '0') < 24 && d[2] - '0' < 6; }

/* National number in k groups starting at i: shape rules and date/year/amount guards. */
static int national_ok(const scan *sc, size_t i, const groups *g, int k, size_t digits) {
  const unsigned char *s = sc->s;
  if (digits < 8 || digits > 12) return 0;
  if (k == 1) return !g->paren[0] && digits >= 9;
  if (g->len[0] > 5) return 0;
  int thousands = g->len[0] <= 3 && !g->paren[0];
  const unsigned char *first = s + i + g->paren[0];
  /* "56-9-1234-5678": Chile's country code without '+', then a one-digit mobile (9) or
     * Santiago (2) prefix, the only national form with a one-digit group */
  int cl = k >= 3 && digits == 11 && g->len[0] == 2 && first[0] == '5' && first[1] == '6' && g->len[1] == 1 &&
           (s[g->end[1] - 1] == '9' || s[g->end[1] - 1] == '2');
  for (int j = 1; j < k; j++) {
    if ((g->len[j] < 2 && !(cl && j == 1)) || g->len[j] > 6 || g->paren[j]) return 0;
    thousands &= g->len[j] == 3;
  }
  if (is_year(first, g->len[0])) return 0;
  if (k == 3 && g->len[0] <= 2 && g->len[1] <= 2 && is_year(s + g->end[2] - 4, g->len[2])) return 0; /* 12-05-2024 */
  if (k == 2 && g->len[0] == 4 && g->len[1] == 4 && is_hhmm(first) && is_hhmm(s + g->end[1] - 4))
    return 0;                                                                                          /* 0800-1730 */
  if (thousands && sc->ctx_phone < 0 && !(digits == 9 && first[0] >= '6' && g->len[0] == 3)) return 0; /* 15 000 000 */
  return 1;
}

static int intl_ok(const groups *g, int k, size_t digits, int plus) {
  size_t cc = plus ? g->len[0] : g->len[0] - 2; /* "0056 ..." */
  if (!plus) digits -= 2;
  if (digits < 8 || digits > 15) return 0;
  return k == 1 || (cc >= 1 && cc <= 4);
}

static int currency_before(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  while (i > 0 && s[i - 1] == ' ') i--;
  if (i == 0) return 0;
  if (s[i - 1] == '$') return 1;
  if (i >= 2 && s[i - 2] == 0xC2 && s[i - 1] == 0xA3) return 1;              /* £ */
  return i >= 3 && s[i - 3] == 0xE2 && s[i - 2] == 0x82 && s[i - 1] == 0xAC; /* € */
}

static size_t fold_word(const scan *sc, size_t i, char *w, size_t cap, size_t *end);

static int currency_after(const scan *sc, size_t e) {
  static const char *const WORDS[] = {"pesos", "euros",    "eur",    "usd",    "clp",    "cop",   "dolares", "dollars",
                                      "mil",   "millones", "millon", "libras", "pounds", "soles", "reales",  "uf"};
  const unsigned char *s = sc->s;
  while (e < sc->n && s[e] == ' ') e++;
  if (e >= sc->n) return 0;
  if (s[e] == '%' || s[e] == '$') return 1;
  if (e + 2 < sc->n && s[e] == 0xE2 && s[e + 1] == 0x82 && s[e + 2] == 0xAC) return 1;
  char w[16];
  size_t end;
  if (!fold_word(sc, e, w, sizeof w, &end)) return 0;
  for (size_t k = 0; k < sizeof WORDS / sizeof WORDS[0]; k++) {
    if (strcmp(w, WORDS[k]) == 0) return 1;
  }
  return 0;
}

static size_t match_phone(const scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  if (sc->ctx_case >= 0 || currency_before(sc, i)) return 0;
  int plus = s[i] == '+';
  groups g;
  size_t total = read_groups(sc, i + plus, &g);
  if (g.n == 0 || total > 15) return 0;
  int intl = plus || (g.len[0] >= 4 && !g.paren[0] && s[i] == '0' && s[i + 1] == '0');
  size_t digits = total;
  for (int k = g.n; k >= 1; digits -= g.len[--k]) {
    int ok = intl ? intl_ok(&g, k, digits, plus) : national_ok(sc, i, &g, k, digits);
    if (ok && !currency_after(sc, g.end[k - 1]) && accept(sc, g.end[k - 1])) return g.end[k - 1];
  }
  return 0;
}

/* ---- context words ----------------------------------------------------------------------- */

/* Lower-cased, accent-stripped copy of the word at i (ASCII + Latin-1 + combining marks);
 * returns its length, 0 if it does not fit. *end = index after the word. */
static size_t fold_word(const scan *sc, size_t i, char *w, size_t cap, size_t *end) {
  static const char LATIN1[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts"; /* U+00C0..U+00DF */
  const unsigned char *s = sc->s;
  size_t k = 0, j = i;
  int fits = 1;
  while (j < sc->n) {
    unsigned char c = s[j];
    char out;
    size_t step = 1;
    if (is_alnum(c)) {
      out = (char)(is_alpha(c) ? c | 0x20 : c);
    } else if (c == 0xC3 && j + 1 < sc->n && s[j + 1] >= 0x80 && s[j + 1] <= 0xBF && s[j + 1] != 0x97 &&
               s[j + 1] != 0xB7) {
      out = LATIN1[(s[j + 1] & 0x1F)];
      step = 2;
    } else if (c == 0xCC && j + 1 < sc->n && s[j + 1] >= 0x80 && s[j + 1] <= 0xBF) {
      j += 2; /* combining accent (NFD input) */
      continue;
    } else if (c >= 0x80 && word_byte_at(sc, j)) {
      size_t kk;
      cp_at(sc, j, &kk);
      j += kk;
      fits = 0;
      continue;
    } else {
      break;
    }
    if (k + 1 < cap) w[k++] = out;
    else fits = 0;
    j += step;
  }
  w[k] = '\0';
  *end = j;
  return fits ? k : 0;
}

enum { CTX_NONE, CTX_CED, CTX_CASE, CTX_PHONE };

/* Keyword -> context; w is folded, n = strlen(w). Sorted by length: this runs per word. */
static int context_of(const char *w, size_t n) {
  static const struct {
    unsigned char len, ctx;
    const char *w;
  } KEYS[] = {
      {2, CTX_CED, "cc"},           {2, CTX_CED, "id"},
      {3, CTX_PHONE, "cel"},        {3, CTX_CASE, "nro"},
      {3, CTX_CASE, "ref"},         {3, CTX_PHONE, "tel"},
      {3, CTX_PHONE, "tlf"},        {3, CTX_PHONE, "wsp"},
      {4, CTX_PHONE, "call"},       {4, CTX_CASE, "case"},
      {4, CTX_CASE, "caso"},        {4, CTX_PHONE, "fono"},
      {4, CTX_PHONE, "telf"},       {5, CTX_CASE, "folio"},
      {5, CTX_PHONE, "movil"},      {5, CTX_CASE, "orden"},
      {5, CTX_CASE, "order"},       {5, CTX_PHONE, "phone"},
      {6, CTX_CASE, "boleta"},      {6, CTX_CED, "cedula"},
      {6, CTX_PHONE, "llamar"},     {6, CTX_PHONE, "mobile"},
      {6, CTX_PHONE, "numero"},     {6, CTX_CASE, "pedido"},
      {6, CTX_CASE, "ticket"},      {7, CTX_CED, "cedulas"},
      {7, CTX_PHONE, "celular"},    {7, CTX_CASE, "factura"},
      {7, CTX_CASE, "invoice"},     {7, CTX_PHONE, "llamame"},
      {7, CTX_CASE, "reclamo"},     {8, CTX_PHONE, "contacto"},
      {8, CTX_CASE, "radicado"},    {8, CTX_PHONE, "telefono"},
      {8, CTX_PHONE, "whatsapp"},   {9, CTX_CED, "documento"},
      {9, CTX_CASE, "reference"},   {9, CTX_CASE, "solicitud"},
      {10, CTX_CASE, "expediente"}, {14, CTX_CED, "identificacion"},
  };
  /* START[n] = first key of length >= n */
  static const unsigned char START[16] = {0, 0, 0, 2, 8, 13, 18, 25, 31, 35, 38, 39, 39, 39, 39, 40};
  if (n < 2 || n > 14) return CTX_NONE;
  for (size_t k = START[n]; k < START[n + 1]; k++) {
    if (KEYS[k].w[0] == w[0] && memcmp(KEYS[k].w, w, n) == 0) return KEYS[k].ctx;
  }
  return CTX_NONE;
}

/* Cheap pre-filter before folding a word: bit L of KEY_LEN[initial] is set if a keyword with
 * that initial has L raw bytes (folded length + 0..2 for one accent, NFC or NFD). Keep in
 * sync with KEYS (test_redact exercises every keyword). */
static int maybe_keyword(unsigned char first, size_t raw_len) {
  static const uint32_t KEY_LEN[26] = {0x0,   0x1c0, 0x7fc, 0xe00, 0x1c00, 0x3f0, 0x0,   0x0, 0x1c39c,
                                       0x0,   0x0,   0x3c0, 0x1e0, 0x1f8,  0xe0,  0x1e0, 0x0, 0xfb8,
                                       0xe00, 0x7f8, 0x0,   0x0,   0x738,  0x0,   0x0,   0x0};
  unsigned l = (unsigned)((first | 0x20) - 'a');
  return l < 26 && raw_len < 32 && (KEY_LEN[l] >> raw_len & 1);
}

static void ctx_tick(int *ctx, int window) {
  if (*ctx >= 0 && ++*ctx > window) *ctx = -1;
}

/* Raw end of the word at i; 0 if it cannot be a keyword. */
static int maybe_word_end(const scan *sc, size_t i, size_t *end) {
  size_t j = i, k;
  for (;;) {
    while (j < sc->n && is_alnum(sc->s[j])) j++;
    if (j >= sc->n || sc->s[j] < 0x80) break;
    if ((k = latin_letter(sc->s, sc->n, j)) == 0) return 1; /* other scripts, NFD marks */
    j += k;
  }
  *end = j;
  return maybe_keyword(sc->s[i], j - i);
}

/* A word that was not a match: updates the keyword windows, returns the index after it. */
static size_t note_word(scan *sc, size_t i) {
  const unsigned char *s = sc->s;
  char w[20];
  size_t end, wl;
  int ctx = CTX_NONE;
  if (i + 4 <= sc->n && (s[i] | 0x20) == 'c' && s[i + 1] == '.' && (s[i + 2] | 0x20) == 'c' && s[i + 3] == '.') {
    end = i + 4; /* "C.C." */
    ctx = CTX_CED;
  } else if ((s[i] | 0x20) == 'n' && i + 2 < sc->n && s[i + 1] == 0xC2 && (s[i + 2] == 0xB0 || s[i + 2] == 0xBA)) {
    end = i + 3; /* N° / Nº (º is a letter, so it is tested before word folding) */
    ctx = CTX_CASE;
  } else if (maybe_word_end(sc, i, &end) && (wl = fold_word(sc, i, w, sizeof w, &end))) {
    ctx = context_of(w, wl);
  }
  if (end == i) end = i + 1;
  ctx_tick(&sc->ctx_ced, CEDULA_WINDOW);
  ctx_tick(&sc->ctx_case, CASE_WINDOW);
  ctx_tick(&sc->ctx_phone, PHONE_WINDOW);
  if (ctx == CTX_CED) sc->ctx_ced = 0;
  else if (ctx == CTX_CASE) sc->ctx_case = 0;
  else if (ctx == CTX_PHONE) sc->ctx_phone = 0;
  return end;
}

/* ---- shadow ------------------------------------------------------------------------------ */

/* Hyphens a number's groups may be typed with (U+00AD soft hyphen is default-ignorable). */
static int hyphen_cp(int32_t cp) {
  return (cp >= 0x2010 && cp <= 0x2013) || cp == 0x2212 || cp == 0xFE63 || cp == 0xFF0D;
}

static int mark_cp(int32_t cp) {
  utf8proc_category_t c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

/* A non-ASCII character the byte rules would not see through: default-ignorable (zero-width
 * characters, soft hyphen, word joiner, variation selectors, BOM), a digit of another script,
 * a Unicode space or hyphen, or a compatibility form NFKC rewrites (full-width, super- and
 * subscripts, circled, mathematical). º and ª are kept: "Nº" is a keyword. */
static int disguise_cp(int32_t cp) {
  const utf8proc_property_t *p = utf8proc_get_property(cp);
  if (p->ignorable || p->category == UTF8PROC_CATEGORY_ND || p->category == UTF8PROC_CATEGORY_ZS) return 1;
  return hyphen_cp(cp) || (p->decomp_type != 0 && cp != 0xAA && cp != 0xBA);
}

/* Length of a common character at s[i] that is no disguise (Latin letters, Latin-1
 * punctuation, curly quotes, em dash, euro sign), 0 if it needs a closer look. */
static inline size_t plain_char(const unsigned char *s, size_t n, size_t i) {
  /* bit b - 0xA0 for U+00A0..U+00BF: ¡¢£¤¥¦§ © ª«¬ ® °± ¶· º» ¿ */
  static const uint32_t LATIN1_PUNCT = 0x8CC35EFEu;
  size_t k = latin_letter(s, n, i);
  if (k) return k;
  if (i + 1 >= n) return 0;
  if (s[i] == 0xC2 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF) return LATIN1_PUNCT >> (s[i + 1] - 0xA0) & 1 ? 2 : 0;
  if (s[i] != 0xE2 || i + 2 >= n) return 0;
  unsigned char t = s[i + 2];
  if (s[i + 1] == 0x80 && (t == 0x94 || t == 0x95 || (t >= 0x98 && t <= 0x9F))) return 3;
  return s[i + 1] == 0x82 && t == 0xAC ? 3 : 0;
}

/* Whether the text needs a shadow: also a combining mark on a digit ("4\u0301", keycaps).
 * Runs on every call: ASCII is skipped 8 bytes at a time, to the first high byte. */
static int needs_shadow(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      w &= 0x8080808080808080ULL;
      if (!w) {
        i += 8;
        continue;
      }
      i += (size_t)__builtin_ctzll(w) / 8; /* little-endian; elsewhere just slower */
    } else if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = plain_char(s, n, i);
    if (k) {
      i += k;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r <= 0) {
      i++;
      continue;
    }
    if (disguise_cp(cp) || (i > 0 && is_digit(s[i - 1]) && mark_cp(cp))) return 1;
    i += (size_t)r;
  }
  return 0;
}

typedef struct {
  unsigned char *s;
  size_t *src;
  size_t n, cap;
} shadow;

static int shadow_put(shadow *sh, const unsigned char *b, size_t k, size_t from) {
  if (sh->n + k > sh->cap) {
    size_t cap = sh->cap * 2 + k;
    unsigned char *s = realloc(sh->s, cap);
    if (!s) return -1;
    sh->s = s;
    size_t *src = realloc(sh->src, cap * sizeof *src);
    if (!src) return -1;
    sh->src = src;
    sh->cap = cap;
  }
  memcpy(sh->s + sh->n, b, k);
  for (size_t j = 0; j < k; j++) sh->src[sh->n + j] = from;
  sh->n += k;
  return 0;
}

/* Decimal value of a digit (Nd digits are encoded in runs starting at 0). */
static int digit_value(int32_t cp) {
  int32_t z = cp;
  while (cp - z < 64 && utf8proc_category(z - 1) == UTF8PROC_CATEGORY_ND) z--;
  return (int)((cp - z) % 10);
}

/* 0 letter-ish, 1 digit, 2 neither: dropping a zero-width character between a letter and a
 * digit would glue them ("tarjeta\u200b4111..." must stay a card), so it becomes a space. */
static int glue_class(unsigned char c) { return is_digit(c) ? 1 : (is_alpha(c) || c >= 0x80) ? 0 : 2; }

/* Shadow of one input character: NFKD (compatibility) with default-ignorables dropped, every
 * digit as its ASCII digit, spaces as ' ', hyphens as '-'. Untouched characters are copied. */
static int shadow_char(shadow *sh, const unsigned char *in, size_t i, size_t k, int32_t cp, int *gap) {
  if (cp < 0 || !disguise_cp(cp)) {
    if (cp >= 0 && mark_cp(cp) && sh->n && is_digit(sh->s[sh->n - 1])) return 0;
    goto put_raw;
  }
  utf8proc_int32_t d[32];
  int last = 0;
  utf8proc_ssize_t nd = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &last);
  if (nd <= 0 || nd > 32) goto put_raw;
  for (utf8proc_ssize_t j = 0; j < nd; j++) {
    unsigned char b[4];
    size_t bl;
    const utf8proc_property_t *p = utf8proc_get_property(d[j]);
    if (p->ignorable) {
      *gap = 1;
      continue;
    }
    if (p->category == UTF8PROC_CATEGORY_ND) b[0] = (unsigned char)('0' + digit_value(d[j])), bl = 1;
    else if (p->category == UTF8PROC_CATEGORY_ZS) b[0] = ' ', bl = 1;
    else if (hyphen_cp(d[j])) b[0] = '-', bl = 1;
    else bl = (size_t)utf8proc_encode_char(d[j], b);
    if (*gap && sh->n && glue_class(sh->s[sh->n - 1]) + glue_class(b[0]) == 1 &&
        shadow_put(sh, (const unsigned char *)" ", 1, i) != 0)
      return -1;
    *gap = 0;
    if (shadow_put(sh, b, bl, i) != 0) return -1;
  }
  return 0;
put_raw:
  if (*gap && sh->n && glue_class(sh->s[sh->n - 1]) + glue_class(in[i]) == 1 &&
      shadow_put(sh, (const unsigned char *)" ", 1, i) != 0)
    return -1;
  *gap = 0;
  return shadow_put(sh, in + i, k, i);
}

/* Builds the shadow of in[0..n); -1 on OOM (sh freed by the caller). */
static int shadow_build(shadow *sh, const unsigned char *in, size_t n) {
  sh->cap = n + n / 4 + 64;
  sh->s = malloc(sh->cap);
  sh->src = malloc(sh->cap * sizeof *sh->src);
  if (!sh->s || !sh->src) return -1;
  int gap = 0;
  for (size_t i = 0; i < n;) {
    if (in[i] < 0x80) {
      if (gap && sh->n && glue_class(sh->s[sh->n - 1]) + glue_class(in[i]) == 1 &&
          shadow_put(sh, (const unsigned char *)" ", 1, i) != 0)
        return -1;
      gap = 0;
      if (shadow_put(sh, in + i, 1, i) != 0) return -1;
      i++;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(in + i, (utf8proc_ssize_t)(n - i), &cp);
    size_t k = r > 0 ? (size_t)r : 1;
    if (shadow_char(sh, in, i, k, r > 0 ? cp : -1, &gap) != 0) return -1;
    i += k;
  }
  return 0;
}

/* ---- driver -------------------------------------------------------------------------------- */

/* Tries every rule at i in precedence order; returns the match end or 0, *kind set. */
static size_t match_at(const scan *sc, size_t i, int *kind) {
  unsigned char c = sc->s[i];
  size_t e = 0;
  if (c == '+' || c == '(') {
    *kind = K_PHONE;
    return match_phone(sc, i);
  }
  if (is_alpha(c)) {
    if ((e = match_iban(sc, i))) *kind = K_IBAN;
    else if ((e = match_nie(sc, i))) *kind = K_DNI;
    return e;
  }
  /* cheap reject: every numeric rule needs >= 6 digits or a separator early on */
  size_t r = digit_run(sc, i);
  if (r < 6 && (i + r >= sc->n || (sc->s[i + r] != ' ' && sc->s[i + r] != '-' && sc->s[i + r] != '.'))) return 0;
  if ((e = match_card(sc, i))) *kind = K_CARD;
  else if ((e = match_rut(sc, i))) *kind = K_RUT;
  else if ((e = match_dni(sc, i))) *kind = K_DNI;
  else if ((e = match_cedula(sc, i))) *kind = K_CEDULA;
  else if ((e = match_phone(sc, i))) *kind = K_PHONE;
  return e;
}

typedef struct {
  char *buf;
  size_t n, cap;
  size_t lit; /* start of pending literal input (input offsets) */
} out_buf;

/* Index after the input character at i (1 for an invalid byte). */
static size_t char_end(const unsigned char *s, size_t n, size_t i) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
  return i + (r > 0 ? (size_t)r : 1);
}

/* Emits the literal input before match [s, e) (scanned text offsets) and its placeholder;
 * -1 on OOM. A shadow match covers the whole input characters its bytes came from. */
static int emit(out_buf *o, const scan *sc, size_t s, size_t e, int kind, ing_redact_counts *c) {
  if (sc->src) {
    s = sc->src[s];
    e = char_end(sc->orig, sc->orig_n, sc->src[e - 1]);
    if (s < o->lit) s = o->lit; /* two matches in one expanded character ("⑴⑵") */
    if (e < s) e = s;
  }
  size_t pl = strlen(PLACEHOLDER[kind]);
  if (o->n + (s - o->lit) + pl + 1 > o->cap) { /* only shadows can outgrow the estimate */
    size_t cap = o->cap * 2 + (s - o->lit) + pl + 1;
    char *b = realloc(o->buf, cap);
    if (!b) return -1;
    o->buf = b;
    o->cap = cap;
  }
  memcpy(o->buf + o->n, sc->orig + o->lit, s - o->lit);
  o->n += s - o->lit;
  memcpy(o->buf + o->n, PLACEHOLDER[kind], pl);
  o->n += pl;
  o->lit = e;
  unsigned *slot[] = {&c->email, &c->iban, &c->card, &c->rut, &c->dni, &c->cedula, &c->phone};
  (*slot[kind])++;
  return 0;
}

/* End of the digit groups at i joined by single spaces/hyphens/dots if they hold more than
 * 15 digits (longer than any phone), else 0: such a number is skipped as a whole. */
static size_t long_number_end(const scan *sc, size_t i) {
  size_t digits = 0, e = i;
  for (;;) {
    size_t r = digit_run(sc, e);
    digits += r;
    e += r;
    if (e + 1 < sc->n && (sc->s[e] == ' ' || sc->s[e] == '-' || sc->s[e] == '.') && is_digit(sc->s[e + 1])) e++;
    else break;
  }
  return digits > 15 ? e : 0;
}

/* Index after the alphanumeric/letter run at i, not beyond lim. */
static size_t skip_word(const scan *sc, size_t i, size_t lim) {
  while (i < lim) {
    unsigned char c = sc->s[i];
    if (c < 0x80) {
      if (!is_alnum(c) && c != '_') break;
      i++;
      continue;
    }
    size_t k = latin_letter(sc->s, sc->n, i);
    if (!k && !word_cp(cp_at(sc, i, &k))) break;
    i += k;
  }
  return i;
}

/* The scan over sc (input or shadow); returns the malloc'd output, NULL on OOM. */
static char *redact_scan(scan *sc, size_t *out_len, ing_redact_counts *counts) {
  size_t len = sc->n;
  /* every match is >= 6 bytes and its placeholder at most 2 bytes longer (a shadow's
     * output may outgrow it: emit grows the buffer) */
  out_buf o = {malloc(sc->orig_n + sc->orig_n / 2 + 16), 0, sc->orig_n + sc->orig_n / 2 + 16, 0};
  if (!o.buf) return NULL;
  next_email(sc, 0, 0);

  size_t i = 0;
  while (i < len) {
    if (i == sc->em_s) {
      if (emit(&o, sc, sc->em_s, sc->em_e, K_EMAIL, counts) != 0) goto oom;
      i = sc->em_e;
      next_email(sc, i, i);
      continue;
    }
    unsigned char c = sc->s[i];
    if (c == '#') sc->ctx_case = 0;
    int word = is_alnum(c) || (c >= 0xC2 && word_byte_at(sc, i));
    if (!word && c != '+' && c != '(') {
      i++;
      continue;
    }
    int kind = 0;
    size_t e = (c < 0x80 && !glued_left(sc, i)) ? match_at(sc, i, &kind) : 0;
    if (e) {
      if (emit(&o, sc, i, e, kind, counts) != 0) goto oom;
      i = e;
      ctx_tick(&sc->ctx_ced, CEDULA_WINDOW);
      ctx_tick(&sc->ctx_case, CASE_WINDOW);
      ctx_tick(&sc->ctx_phone, PHONE_WINDOW);
      continue;
    }
    if (!word) {
      i++;
      continue;
    }
    size_t lim = sc->em_s == NONE ? len : sc->em_s;
    size_t end = is_digit(c) ? long_number_end(sc, i) : 0;
    if (end > i) {
      i = end < lim ? end : lim; /* e.g. the tail of a Luhn-invalid card is no phone */
      continue;
    }
    end = note_word(sc, i);
    i = skip_word(sc, end < lim ? end : lim, lim);
  }
  if (o.n + (sc->orig_n - o.lit) + 1 > o.cap) {
    char *b = realloc(o.buf, o.n + (sc->orig_n - o.lit) + 1);
    if (!b) goto oom;
    o.buf = b;
  }
  memcpy(o.buf + o.n, sc->orig + o.lit, sc->orig_n - o.lit);
  o.n += sc->orig_n - o.lit;
  o.buf[o.n] = '\0';
  *out_len = o.n;
  return o.buf;
oom:
  free(o.buf);
  return NULL;
}

char *ing_redact(const char *in, size_t len, size_t *out_len, ing_redact_counts *counts) {
  ing_redact_counts dummy_counts;
  size_t dummy_len;
  if (!counts) counts = &dummy_counts;
  if (!out_len) out_len = &dummy_len;
  memset(counts, 0, sizeof *counts);
  *out_len = 0;
  if (!in) in = "", len = 0;

  const unsigned char *u = (const unsigned char *)in;
  scan sc = {u, len, u, len, NULL, NONE, NONE, -1, -1, -1};
  shadow sh = {0};
  char *out = NULL;
  if (needs_shadow(u, len)) {
    if (shadow_build(&sh, u, len) != 0) goto cleanup;
    sc.s = sh.s;
    sc.n = sh.n;
    sc.src = sh.src;
  }
  out = redact_scan(&sc, out_len, counts);
cleanup:
  free(sh.s);
  free(sh.src);
  return out;
}
