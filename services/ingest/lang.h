/* Language identification for ingest: pure function, thread-safe, no allocation. */
#ifndef ESCUCHA_INGEST_LANG_H
#define ESCUCHA_INGEST_LANG_H

#include <stddef.h>

/* Returns "es", "en", "pt", or "und" when the text is too short or the evidence unclear.
 * Expects UTF-8 (NFC, as ing_normalize_text produces); looks at the first 4 KiB only.
 * Scores weighted function words and complaint vocabulary plus character evidence; see
 * tests/unit/ingest/test_lang.c for the measured accuracy. The returned string is static. */
const char *ing_detect_language(const char *text, size_t len);

#endif
