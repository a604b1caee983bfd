/* libFuzzer: taxonomy loader/validator must never crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "taxonomy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  cl_taxonomy *t = NULL;
  if (cl_taxonomy_parse((const char *)data, size, &t, err, sizeof err) == 0) cl_taxonomy_free(t);
  return 0;
}
