/* RFC 5322 / MIME e-mail adapter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ing_item *it = calloc(1, sizeof *it);
  if (ing_ch_email_item((const char *)data, size, it) == 0) {
    /* what is accepted is whole: valid UTF-8, within the text limit, a hashed id */
    size_t n = it->text ? strlen(it->text) : 0;
    if (!it->text || n > ING_MAX_TEXT || ing_utf8_invalid_at(it->text, n) >= 0 ||
        (it->external_id && (strlen(it->external_id) != 36 || strncmp(it->external_id, "mid-", 4) != 0)))
      __builtin_trap();
  } else if (it->state != ING_ITEM_REJECTED || !it->err_field[0]) {
    __builtin_trap();
  }
  ing_item_free(it);
  return 0;
}
