/* Shared by the feedback fuzzers: what ing_pipeline_prepare accepted is what may be
 * published, so it must hold the limits and be valid UTF-8 everywhere. */
#ifndef ESCUCHA_FUZZ_INGEST_PREPARED_CHECK_H
#define ESCUCHA_FUZZ_INGEST_PREPARED_CHECK_H
#include <string.h>

#include "item.h"
#include "normalize.h"

/* What prepare accepts goes out as valid UTF-8 within the limits. */
static inline void check_prepared(const ing_item *it) {
  const char *s[] = {it->text, it->service, it->address, it->external_id, it->language, it->agency};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++)
    if (s[i] && ing_utf8_invalid_at(s[i], strlen(s[i])) >= 0) __builtin_trap();
  if (it->nattrs > ING_MAX_ATTRS || !ing_agency_ok(it->agency)) __builtin_trap();
  for (size_t i = 0; i < it->nattrs; i++)
    if (ing_utf8_invalid_at(it->attr_vals[i], strlen(it->attr_vals[i])) >= 0) __builtin_trap();
}
#endif
