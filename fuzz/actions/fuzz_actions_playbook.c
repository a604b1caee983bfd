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
  /* With bit 64: counts whose drivers are two subcategories of the topic, so
   * their actions, labels, routing and sla_days come from the input too. */
  ac_cell cells[3] = {{.dim = AC_DIM_SUB, .key = "procedures/requirements_documents", .n = 20, .neg = 12},
                      {.dim = AC_DIM_SUB, .key = "queue_wait", .n = 10, .neg = 6},
                      {.dim = AC_DIM_SERVICE, .key = "Oficina", .n = 10, .neg = 9}};
  ac_stats st = {.days = 14,
                 .base_days = 28,
                 .agency_n = 100,
                 .agency_neg = 20,
                 .topic_n = 30,
                 .topic_neg = 18,
                 .topic_urgent = data[0] & 32 ? 2 : 0,
                 .base_n = 4,
                 .base_neg = 1,
                 .cells = cells,
                 .ncells = 3};
  if (data[0] & 64) ac_plan_set_stats(&p, &st);
  json_t *routing = ac_plan_playbook(&p, tax, lang);
  if (routing) {
    char *s = json_dumps(routing, JSON_COMPACT | JSON_ENCODE_ANY);
    free(s);
  }
  if (ac_plan_summarize(&p) == 0) {
    char *t = ac_plan_title(&p, lang), *b = ac_plan_body(&p, lang, 0), *h = ac_plan_body(&p, lang, 1);
    json_t *r = ac_plan_recs_json(&p), *d = ac_plan_detail_json(&p);
    json_decref(r);
    json_decref(d);
    free(t);
    free(b);
    free(h);
  }
  ac_plan_free(&p);
  json_decref(tax);
  return 0;
}
