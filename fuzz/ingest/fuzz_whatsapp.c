/* WhatsApp Cloud API webhook bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ing_item **items = NULL;
  char err[128];
  int n = ch_whatsapp_items((const char *)data, size, "a", &items, err, sizeof err);
  for (int i = 0; i < n; i++) {
    if (!items[i]->text) __builtin_trap();
    ing_item_free(items[i]);
  }
  free(items);
  char *header = malloc(size + 1); /* headers reach us NUL-terminated */
  memcpy(header, data, size);
  header[size] = '\0';
  ch_whatsapp_signature_ok("s", (const char *)data, size, header);
  free(header);
  return 0;
}
