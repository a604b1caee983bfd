/* A case request (ActionRequest with urgent_case) from
 * escucha.actions.requested.v1 -> the case's title, ticket body in every
 * markup and on-call alert. Invariants: a body ends with the marker line of
 * the case's key and has exactly one line starting with the marker prefix
 * (citizen text cannot forge one); the alert carries the on-call key's
 * marker and never the ticket's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "case.h"
#include "escucha/v1/escucha.pb-c.h"

static int marker_lines(const char *b) {
  int n = 0;
  size_t pl = strlen(AC_MARKER_PREFIX);
  for (const char *l = b; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    n += strncmp(l, AC_MARKER_PREFIX, pl) == 0;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Escucha__V1__ActionRequest *req = escucha__v1__action_request__unpack(NULL, size, data);
  if (!req) return 0;
  ac_case c;
  if (ac_case_from_request(&c, req) == 0) {
    memcpy(c.id, "01CASE", 7);
    static const int MU[] = {AC_MU_PLAIN, AC_MU_MARKDOWN, AC_MU_TEXTILE, AC_MU_JIRA, AC_MU_ADF, AC_MU_HTML};
    ac_case_view v = {"es", req->topic, "http://127.0.0.1:8081/", "http://tool/1"};
    free(ac_case_title(&c, "en"));
    for (size_t i = 0; i < sizeof MU / sizeof MU[0]; i++) {
      char *b = ac_case_body(&c, &v, MU[i]);
      if (b && !ac_has_marker(b, c.idem_key)) __builtin_trap();
      if (b && MU[i] != AC_MU_HTML && marker_lines(b) != 1) __builtin_trap();
      free(b);
    }
    char *a = ac_case_alert(&c, &v, AC_MU_PLAIN, c.oncall_key[0]);
    if (a && (!ac_has_marker(a, c.oncall_key[0]) || ac_has_marker(a, c.idem_key))) __builtin_trap();
    free(a);
    ac_case_route r;
    ac_case_route_find(NULL, c.uc->category, &r);
    ac_case_route_free(&r);
  }
  escucha__v1__action_request__free_unpacked(req, NULL);
  return 0;
}
