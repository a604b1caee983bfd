/* Text normalisation for ingest: pure functions, thread-safe, no I/O. */
#ifndef ESCUCHA_INGEST_NORMALIZE_H
#define ESCUCHA_INGEST_NORMALIZE_H

#include <stddef.h>

/* Validates UTF-8 and cleans feedback text for storage and display.
 * Invalid UTF-8: repair=0 -> NULL with *bad_offset = byte offset of the first bad byte;
 * repair=1 -> each maximal invalid subpart (Unicode "best practice") becomes U+FFFD.
 * Then: NFC; control characters dropped except \n and \t (\r\n and lone \r -> \n,
 * U+2028/2029/0085 -> \n, U+FEFF dropped); runs of horizontal space (space, tab, NBSP and
 * other Zs) -> one space; spaces next to a newline dropped; >=3 newlines -> 2; trimmed.
 * Returns a malloc'd NUL-terminated string (caller frees); NULL on OOM with *bad_offset = -1.
 * On success *bad_offset = -1. out_len and bad_offset may be NULL. */
char *ing_normalize_text(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset);

/* Offset of the first byte of s[0..n) that is not well-formed UTF-8, or -1. */
long ing_utf8_invalid_at(const char *s, size_t n);

/* Folds text for dedup hashing and classification: NFKC + case fold + accents stripped
 * ("canción" -> "cancion", "ß" -> "ss"), default-ignorable characters removed, every
 * character that is not a letter, number or other-symbol (emoji) -> space, whitespace
 * collapsed, trimmed. Invalid UTF-8 bytes count as separators. Returns malloc'd
 * NUL-terminated string (caller frees), NULL on OOM. out_len may be NULL. */
char *ing_fold_text(const char *in, size_t len, size_t *out_len);

/* xxh3-128 of agency + '\0' + folded, as 32 lowercase hex digits + NUL. agency may be NULL
 * (hashed as ""). */
void ing_content_hash(const char *agency, const char *folded, size_t len, char out_hex[33]);

/* Testing only: the same functions without the ASCII/Latin fast paths (everything through
 * utf8proc). Fuzzers check that both paths agree. */
char *ing_normalize_text_ref(const char *in, size_t len, int repair, size_t *out_len, long *bad_offset);
char *ing_fold_text_ref(const char *in, size_t len, size_t *out_len);

#endif
