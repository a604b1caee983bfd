/* PII redaction for ingest: pure function, thread-safe, no I/O. */
#ifndef ESCUCHA_INGEST_REDACT_H
#define ESCUCHA_INGEST_REDACT_H

#include <stddef.h>

typedef struct {
  unsigned email, phone, rut, dni, cedula, card, iban;
} ing_redact_counts;

/* Replaces personal data in UTF-8 text with typed placeholders [EMAIL] [PHONE] [RUT] [DNI]
 * [CEDULA] [CARD] [IBAN] (a Spanish NIE counts as DNI).
 * Returns malloc'd NUL-terminated string (caller frees), *out_len set; NULL on OOM.
 * counts zeroed then filled (may be NULL; out_len may be NULL).
 *
 * Disguises are seen through: the rules read a shadow of the text in which default-ignorable
 * code points (zero-width space/joiners, soft hyphen, word joiner, variation selectors, BOM)
 * are dropped (a space instead when one sat between a letter and a digit), compatibility
 * forms are NFKC-decomposed (full-width letters and digits, super/subscripts, mathematical
 * digits), digits of every script read as ASCII digits, Unicode spaces as ' ', the hyphens
 * U+2010-2013, U+2212, U+FE63, U+FF0D as '-', and combining marks on a digit are dropped (º
 * and ª are kept: "Nº" is a keyword). The match is mapped back to whole characters of the
 * input: the output is the input with each match replaced, everything around it byte for
 * byte. Text with none of those characters (plain ASCII/Latin) is scanned as it is.
 * Valid UTF-8 in gives valid UTF-8 out; invalid bytes are copied.
 *
 * One left-to-right pass; precision first. Rules, all requiring word boundaries:
 *  - e-mail: local@domain.tld (ASCII domain, TLD >= 2 letters); always wins overlaps.
 *  - IBAN: 2 letters + 2 digits + BBAN (<= 4 letters), compact or in groups of 4, 15-34
 *    characters, mod 97 == 1.
 *  - card: 13-19 digits, plain or in groups (first group of 4) separated by one space or
 *    hyphen, Luhn-valid; the whole digit group sequence must be the card.
 *  - RUT: 12.345.678-5, 1.234.567-4, 12345678-5, 12345678k with a valid mod-11 check digit.
 *    A RUT-shaped token with a wrong check digit is left alone (its "-d" tail is not a phone
 *    shape, and a wrong check digit usually means it is not a RUT).
 *  - DNI: 8 digits + checksum letter; NIE: X/Y/Z + 7 digits + letter; optional hyphen (or a
 *    space before an upper-case letter) before the letter.
 *  - cédula: 6-10 digits (optionally dotted in thousands) within 4 words after cédula, CC,
 *    C.C., documento, identificación or ID.
 *  - phone: '+'/'00' international with 8-15 digits, or national 8-12 digits in groups
 *    (separators: one space or hyphen; the first group may be parenthesised; groups of 2-6
 *    digits after the first, except Chile's "56-9-1234-5678" / "56 2 2345 6789": country
 *    code without '+', one-digit 9 or 2 prefix, 11 digits), or 9-12 plain digits. Not a phone: years, dates, HHMM-HHMM ranges, thousands-like groups ("15 000 000")
 *    unless a phone word (teléfono, celular, phone, ...) is near or it is a 9-digit number
 *    starting with 6-9, amounts after a currency sign or before a currency word or %, and
 *    any number within 2 words after N°, #, expediente, caso, ticket, pedido, folio, ...
 * Precedence when two rules start at the same place: email > iban > card > rut > dni/nie >
 * cedula > phone. */
char *ing_redact(const char *in, size_t len, size_t *out_len, ing_redact_counts *counts);

#endif
