/* ActionRequest protobuf from escucha.actions.requested.v1 -> the plan the
 * service builds from it (evidence numbers, key, summary, title, bodies),
 * with the request's texts also used as evidence documents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escucha/v1/escucha.pb-c.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Escucha__V1__ActionRequest *req = escucha__v1__action_request__unpack(NULL, size, data);
  if (!req) return 0;
  if (!req->agency || !req->topic || !req->request_id) goto done;
  ac_plan p = {0};
  ac_plan_from_request(&p, req);
  ac_plan_key(req->request_id, p.idem_key);
  Escucha__V1__PriorityUpdate *pu = req->priority;
  ac_doc docs[4] = {{"a", req->agency},
                    {"b", req->topic},
                    {"c", req->request_id},
                    {"d", pu && pu->explanation_es ? pu->explanation_es : "espera en la fila"}};
  ac_doc rest[2] = {{"e", pu && pu->explanation_en ? pu->explanation_en : "web form"}, {"f", req->agency}};
  if (ac_plan_analyze(&p, docs, 4, rest, 2) == 0) {
    ac_plan_playbook(&p, NULL, "es");
    if (ac_plan_summarize(&p) == 0) {
      char *t = ac_plan_title(&p, "en"), *b = ac_plan_body(&p, "es", 0), *h = ac_plan_body(&p, "en", 1);
      free(t);
      free(b);
      free(h);
    }
  }
  ac_plan_free(&p);
done:
  escucha__v1__action_request__free_unpacked(req, NULL);
  return 0;
}
