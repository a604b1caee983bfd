/* JSON feedback (HTTP bodies and inbound JSON) -> item -> prepare -> protobuf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include "contact.h"
#include "item.h"
#include "normalize.h"
#include "prepared_check.h"
#include "pipeline.h"
#include "seal.h"

/* Contacts are sealed as in the service: a key pair made once per run. */
static void contact_key_once(void) {
  static int done;
  if (done) return;
  done = 1;
  char pub[64], sec[64], err[256];
  snprintf(pub, sizeof pub, "/tmp/escucha-fuzz-contact-%d.pub", (int)getpid());
  snprintf(sec, sizeof sec, "/tmp/escucha-fuzz-contact-%d.key", (int)getpid());
  unlink(pub), unlink(sec);
  if (es_seal_keygen(pub, sec, err, sizeof err) != 0 || ing_contact_init(pub, err, sizeof err) != 0) abort();
  unlink(pub), unlink(sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  contact_key_once();
  cJSON *o = ing_json_parse((const char *)data, size, NULL);
  if (!o) return 0;
  ing_item *it = calloc(1, sizeof *it);
  if (ing_item_from_json(it, o, size % 2 ? "demo" : NULL, 1) == 0 &&
      ing_pipeline_prepare(it, (int)(size % 3 == 0)) == 0) {
    check_prepared(it);
    size_t len = 0;
    uint8_t *buf = ing_item_pack(it, &len);
    Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, len, buf);
    if (!fb) __builtin_trap(); /* what we produce must decode */
    escucha__v1__feedback__free_unpacked(fb, NULL);
    free(buf);
  }
  ing_item_free(it);
  cJSON_Delete(o);
  return 0;
}
