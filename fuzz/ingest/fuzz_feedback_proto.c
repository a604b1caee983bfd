/* Protobuf Feedback from the inbound topic -> item -> prepare. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "item.h"
#include "normalize.h"
#include "prepared_check.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, size, data);
  if (!fb) return 0;
  ing_item *it = calloc(1, sizeof *it);
  if (ing_item_from_proto(it, fb) == 0 && ing_pipeline_prepare(it, 1) == 0) check_prepared(it);
  ing_item_free(it);
  escucha__v1__feedback__free_unpacked(fb, NULL);
  return 0;
}
