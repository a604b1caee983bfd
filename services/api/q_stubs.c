/* Placeholders for the dashboard queries written on branch api-read
 * (q_read.c): weak, so the real ones win as soon as they are linked; each
 * answers 503 until then. Deleted when api-read is merged. */
#include <stdio.h>

#include "query.h"

static api_rc pending(api_err *err) {
  err->status = 503;
  err->code = "unavailable";
  err->field = NULL;
  snprintf(err->message, sizeof err->message, "not available yet");
  return API_EDB;
}

#define STUB __attribute__((weak))
STUB api_rc api_q_priorities(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  (void)pg, (void)agency, (void)p, (void)out;
  return pending(err);
}
STUB api_rc api_q_topic_series(PGconn *pg, const char *agency, const char *topic, const api_params *p, es_buf *out,
                               api_err *err) {
  (void)pg, (void)agency, (void)topic, (void)p, (void)out;
  return pending(err);
}
STUB api_rc api_q_plans_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  (void)pg, (void)agency, (void)p, (void)out;
  return pending(err);
}
STUB api_rc api_q_plan_get(PGconn *pg, const char *agency, const char *id, es_buf *out, api_err *err) {
  (void)pg, (void)agency, (void)id, (void)out;
  return pending(err);
}
STUB api_rc api_q_satisfaction(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  (void)pg, (void)agency, (void)p, (void)out;
  return pending(err);
}
STUB api_rc api_q_review_queue(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err) {
  (void)pg, (void)agency, (void)p, (void)out;
  return pending(err);
}
