/* RFC 5322 / MIME e-mail adapter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ing_item *it = calloc(1, sizeof *it);
  if (ch_email_item((const char *)data, size, it) == 0 && !it->text) __builtin_trap();
  ing_item_free(it);
  return 0;
}
