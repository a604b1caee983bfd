/* Open311 GeoReport v2 request bodies: the first byte picks form (odd) or JSON. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "normalize.h"

static int ok_str(const char *s, size_t max) {
  return !s || (strlen(s) <= max && ing_utf8_invalid_at(s, strlen(s)) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  ing_item *it = calloc(1, sizeof *it);
  const char *services = "[{\"service_code\":\"baches\"},{\"service_code\":\"alumbrado\"}]";
  if (ing_ch_open311_item((const char *)data + 1, size - 1, data[0] & 1, "demo", services, it) == 0) {
    int bad = !it->text || !ok_str(it->text, ING_MAX_TEXT) || !it->service ||
              (strcmp(it->service, "baches") != 0 && strcmp(it->service, "alumbrado") != 0) ||
              !ok_str(it->address, ING_MAX_ADDRESS) ||
              (it->has_location && (!isfinite(it->lat) || fabs(it->lat) > 90 || fabs(it->lon) > 180));
    for (size_t i = 0; i < it->nattrs; i++) bad |= !ok_str(it->attr_vals[i], ING_MAX_ATTR_VALUE);
    if (bad) __builtin_trap();
  } else if (it->state != ING_ITEM_REJECTED) {
    __builtin_trap();
  }
  ing_item_free(it);
  return 0;
}
