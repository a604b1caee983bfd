/* The taxonomy file (agency-editable JSON): playbook lookup, labels,
 * routing, then the summary, title and ticket bodies built from it. Input:
 * byte 0 picks the topic and language, rest = taxonomy JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static const char *const TOPICS[] = {
    "procedures", "procedures/requirements_documents", "waiting_times/queue_wait", "queue_wait", "x/", "/", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  json_t *tax = json_loadb((const char *)data + 1, size - 1, 0, NULL);
  if (!tax) return 0;
  ac_plan p = {0};
  strcpy(p.agency, "demo");
  snprintf(p.topic, sizeof p.topic, "%s", TOPICS[data[0] % (sizeof TOPICS / sizeof TOPICS[0])]);
  ac_plan_key("req-1", p.idem_key);
  p.ev.volume = 12;
  p.ev.negative_share = 0.5;
  p.ev.spike_z = (data[0] & 16) ? 3.5 : 0;
  p.ev.urgent = data[0] & 32;
  const char *lang = (data[0] & 128) ? "en" : "es";
  json_t *routing = ac_plan_playbook(&p, tax, lang);
  if (routing) {
    char *s = json_dumps(routing, JSON_COMPACT | JSON_ENCODE_ANY);
    free(s);
  }
  if (ac_plan_summarize(&p) == 0) {
    char *t = ac_plan_title(&p, lang), *b = ac_plan_body(&p, lang, 0), *h = ac_plan_body(&p, lang, 1);
    json_t *r = ac_plan_recs_json(&p);
    json_decref(r);
    free(t);
    free(b);
    free(h);
  }
  ac_plan_free(&p);
  json_decref(tax);
  return 0;
}
