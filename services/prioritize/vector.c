/* Full-text vectors as PostgreSQL makes them (vector.h). */
#include "vector.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#define MAX_TOKENS 255 /* to_tsvector keeps 255 positions per lexeme (tsvector input 256): never pass it */
#define MAX_WORD 255   /* bytes of a lower-cased token (PostgreSQL's limit is 2047) */

/* A lexeme at a position: its bytes are lex.data[off, off + len). */
typedef struct {
  uint32_t off;
  uint16_t len, pos;
} entry;

struct pz_vector {
  struct sb_stemmer *es, *en;
  es_buf lex; /* the lexemes of the text being made */
  entry ent[MAX_TOKENS];
  size_t n;
};

pz_vector *pz_vector_new(void) {
  pz_vector *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  v->es = sb_stemmer_new("spanish", "UTF_8");
  v->en = sb_stemmer_new("english", "UTF_8");
  if (!v->es || !v->en) {
    pz_vector_free(v);
    return NULL;
  }
  return v;
}

void pz_vector_free(pz_vector *v) {
  if (!v) return;
  if (v->es) sb_stemmer_delete(v->es);
  if (v->en) sb_stemmer_delete(v->en);
  es_buf_free(&v->lex);
  free(v);
}

/* What PostgreSQL's default parser makes of a character, for the texts done
 * here: a letter or digit of a token, or a blank between tokens. C_DOT and
 * C_DASH are blanks only where nothing around them can make a decimal,
 * version, host, file name, signed number or hyphenated word; C_UPUNCT never
 * touches a number; C_BAD: not done here. */
enum { C_BAD, C_SPACE, C_PUNCT, C_UPUNCT, C_DOT, C_DASH, C_LETTER, C_DIGIT };

static int class_of(unsigned cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return C_LETTER;
    if (cp >= '0' && cp <= '9') return C_DIGIT;
    switch (cp) {
      case ' ':
      case '\t':
      case '\n':
      case '\r': return C_SPACE;
      case ',':
      case ';':
      case '!':
      case '?':
      case '(':
      case ')':
      case '"':
      case '\'':
      case ':':
      case '%': return C_PUNCT;
      case '.': return C_DOT;
      case '-': return C_DASH;
      default: return C_BAD;
    }
  }
  /* Latin-1 letters (not × and ÷): Spanish, Portuguese, French, German words */
  if (cp >= 0xC0 && cp <= 0xFF && cp != 0xD7 && cp != 0xF7) return C_LETTER;
  if (cp == 0x20AC) return C_PUNCT; /* € (20€: a number, then a blank) */
  switch (cp) {
    case 0xA1:   /* ¡ */
    case 0xBF:   /* ¿ */
    case 0xAB:   /* « */
    case 0xBB:   /* » */
    case 0x2013: /* – */
    case 0x2014: /* — */
    case 0x2018: /* ‘ */
    case 0x2019: /* ’ */
    case 0x201C: /* “ */
    case 0x201D: /* ” */
    case 0x2026: /* … */ return C_UPUNCT;
    default: return C_BAD;
  }
}

/* The code point at s[i] into *cp; its length, 0 when not valid UTF-8 (or
 * one this module does not need to decode: 4-byte sequences are C_BAD). */
static size_t next_cp(const unsigned char *s, size_t len, size_t i, unsigned *cp) {
  unsigned c = s[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
    *cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF && i + 2 < len && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
    *cp = ((c & 0x0F) << 12) | ((unsigned)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    return *cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF) ? 3 : 0;
  }
  return 0;
}

static int cmp_word(const void *a, const void *b) { return strcmp(a, *(const char *const *)b); }

static int is_stop(const char *w, int es) {
  const char *const *list = es ? pz_vector_stop_es : pz_vector_stop_en;
  size_t n = es ? pz_vector_nstop_es : pz_vector_nstop_en;
  return bsearch(w, list, n, sizeof *list, cmp_word) != NULL;
}

/* What may touch a number: not a dash (-5 and 3-4 are signed) nor a
 * non-ASCII mark; a dot only as the blank rules below allow (7. yes, 1.5 no). */
static int digit_neighbour(int c) { return c == C_SPACE || c == C_PUNCT || c == C_DOT; }

static int keep(pz_vector *v, const char *lex, size_t n, unsigned pos) {
  if (v->n >= MAX_TOKENS || v->lex.len > UINT32_MAX - n) return -1; /* cannot happen: tokens are counted */
  v->ent[v->n++] = (entry){(uint32_t)v->lex.len, (uint16_t)n, (uint16_t)pos};
  return es_buf_append(&v->lex, lex, n);
}

/* The text literal: 'lexeme':position items in the text's order (the server
 * sorts and merges them). The lexemes are letters and digits: no quoting. */
static int put_text(const pz_vector *v, es_buf *out) {
  for (size_t i = 0; i < v->n; i++) {
    char num[16];
    int k = snprintf(num, sizeof num, "':%u", v->ent[i].pos);
    if ((i > 0 && es_buf_append(out, " ", 1) != 0) || es_buf_append(out, "'", 1) != 0 ||
        es_buf_append(out, v->lex.data + v->ent[i].off, v->ent[i].len) != 0 || es_buf_append(out, num, (size_t)k) != 0)
      return -1;
  }
  return 0;
}

/* The server's order of lexemes (tsCompareString: bytes, then the shorter
 * first), then positions; qsort has no context argument: single-threaded. */
static const char *g_lex;
static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = memcmp(g_lex + x->off, g_lex + y->off, x->len < y->len ? x->len : y->len);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int put_be32(es_buf *out, uint32_t x) {
  unsigned char b[4];
  es_pg_be32(b, x);
  return es_buf_append(out, b, 4);
}

static int put_be16(es_buf *out, uint16_t x) {
  unsigned char b[2];
  es_pg_be16(b, x);
  return es_buf_append(out, b, 2);
}

/* tsvector's binary form (tsvectorsend): the number of lexemes (int32), then
 * each distinct lexeme, sorted, NUL-terminated, with its positions (uint16
 * count, then uint16 each, ascending; weight bits 0 = D). */
static int put_binary(pz_vector *v, es_buf *out) {
  g_lex = v->lex.data;
  qsort(v->ent, v->n, sizeof *v->ent, cmp_entry);
  g_lex = NULL;
  size_t at = out->len; /* the count, written once the lexemes are */
  uint32_t distinct = 0;
  if (put_be32(out, 0) != 0) return -1;
  for (size_t i = 0; i < v->n; distinct++) {
    size_t j = i + 1;
    while (j < v->n && v->ent[j].len == v->ent[i].len &&
           memcmp(v->lex.data + v->ent[j].off, v->lex.data + v->ent[i].off, v->ent[i].len) == 0)
      j++;
    if (es_buf_append(out, v->lex.data + v->ent[i].off, v->ent[i].len) != 0 || es_buf_append(out, "", 1) != 0 ||
        put_be16(out, (uint16_t)(j - i)) != 0)
      return -1;
    for (; i < j; i++)
      if (put_be16(out, v->ent[i].pos) != 0) return -1;
  }
  es_pg_be32(out->data + at, distinct);
  return 0;
}

int pz_vector_make(pz_vector *v, const char *lang, const char *text, size_t len, int binary, es_buf *out) {
  const unsigned char *s = (const unsigned char *)text;
  int es = lang && strcmp(lang, "es") == 0;
  struct sb_stemmer *st = es ? v->es : v->en;
  size_t start = out->len, i = 0;
  unsigned pos = 0;
  int prev = C_SPACE; /* the class before i; the text's start counts as a blank */
  char word[MAX_WORD + 1];
  int rc = 0;
  v->n = 0, v->lex.len = 0;
  if (!text) len = 0;
  while (i < len) {
    unsigned cp;
    size_t k = next_cp(s, len, i, &cp);
    int c = k ? class_of(cp) : C_BAD;
    if (c == C_BAD) goto not_mine;
    if (c != C_LETTER && c != C_DIGIT) {
      /* a blank: look at what follows it */
      unsigned ncp = ' ';
      size_t nk = i + k < len ? next_cp(s, len, i + k, &ncp) : 1;
      int next = i + k >= len ? C_SPACE : nk ? class_of(ncp) : C_BAD;
      if (c == C_DOT && (next == C_LETTER || next == C_DIGIT || next == C_DASH || (prev == C_DIGIT && next == C_DOT)))
        goto not_mine;
      /* exactly two dots after a word are a token of their own ('..'); one or three and more are not */
      if (c == C_DOT && next == C_DOT && prev != C_DOT && (i + 2 >= len || s[i + 2] != '.')) goto not_mine;
      if (c == C_DASH && !(prev == C_SPACE && next == C_SPACE)) goto not_mine;
      prev = c;
      i += k;
      continue;
    }
    /* a token: a run of letters and digits (a word, a number, or both: a numword) */
    if (c == C_DIGIT && !digit_neighbour(prev)) goto not_mine;
    size_t n = 0;
    int digits = 0, last = c;
    while (i < len) {
      k = next_cp(s, len, i, &cp);
      int t = k ? class_of(cp) : C_BAD;
      if (t != C_LETTER && t != C_DIGIT) break;
      if (n + k > MAX_WORD) goto not_mine;
      digits |= t == C_DIGIT;
      last = t;
      if (cp < 0x80) word[n++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
      else { /* Latin-1 letter, lower-cased as towlower does (ß and ÿ stay) */
        unsigned lc = cp >= 0xC0 && cp <= 0xDE ? cp + 32 : cp;
        word[n++] = (char)(0xC0 | (lc >> 6));
        word[n++] = (char)(0x80 | (lc & 0x3F));
      }
      i += k;
    }
    if (last == C_DIGIT && i < len) {
      unsigned ncp;
      size_t nk = next_cp(s, len, i, &ncp);
      if (!nk || !digit_neighbour(class_of(ncp))) goto not_mine;
    }
    word[n] = 0;
    if (++pos > MAX_TOKENS) goto not_mine;
    prev = last;
    if (digits) { /* a number or a numword (abc123): the `simple` dictionary, the token lower-cased */
      if (keep(v, word, n, pos) != 0) goto oom;
      continue;
    }
    if (is_stop(word, es)) continue; /* a position, no lexeme */
    const sb_symbol *stem = sb_stemmer_stem(st, (const sb_symbol *)word, (int)n);
    if (!stem) goto oom;
    int sl = sb_stemmer_length(st);
    if (sl <= 0) goto not_mine;
    if (keep(v, (const char *)stem, (size_t)sl, pos) != 0) goto oom;
  }
  if ((binary ? put_binary(v, out) : put_text(v, out)) != 0) goto oom;
  return 1;
not_mine:
  out->len = start;
  return rc;
oom:
  rc = -1;
  goto not_mine;
}
