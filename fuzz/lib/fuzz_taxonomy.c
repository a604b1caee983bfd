/* libFuzzer: taxonomy loader/validator must never crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "taxonomy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  es_taxonomy *t = NULL;
  if (es_taxonomy_parse((const char *)data, size, &t, err, sizeof err) == 0) es_taxonomy_free(t);
  return 0;
}
