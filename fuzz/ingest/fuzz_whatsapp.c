/* WhatsApp Cloud API webhook bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ing_item **items = NULL;
  char err[128];
  int n = ing_ch_whatsapp_items((const char *)data, size, "a", &items, err, sizeof err);
  for (int i = 0; i < n; i++) {
    ing_item *it = items[i];
    /* an item is either rejected or carries checked text (UTF-8, within the limit) */
    if (it->state != ING_ITEM_REJECTED &&
        (!it->text || strlen(it->text) > ING_MAX_TEXT || ing_utf8_invalid_at(it->text, strlen(it->text)) >= 0 ||
         (it->external_id && strlen(it->external_id) > ING_MAX_FIELD)))
      __builtin_trap();
    ing_item_free(it);
  }
  free(items);
  char *header = malloc(size + 1); /* headers reach us NUL-terminated */
  memcpy(header, data, size);
  header[size] = '\0';
  ing_ch_whatsapp_signature_ok("s", (const char *)data, size, header);
  free(header);
  return 0;
}
