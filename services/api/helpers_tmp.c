/* TEMPORARY stand-ins for api-core's api_param/api_invalid/api_notfound/api_dberror
 * (query.h), so the read queries build and test before branch api-core is
 * merged. Deleted by that merge: api-core owns the real ones. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "query.h"

const char *api_param(const api_params *p, const char *name) {
  for (size_t i = 0; p && i < p->n; i++)
    if (strcmp(p->kv[i].name, name) == 0) return p->kv[i].value;
  return NULL;
}

api_rc api_invalid(api_err *err, const char *field, const char *fmt, ...) {
  err->status = 400, err->code = "invalid", err->field = field;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return API_EINVAL;
}

api_rc api_notfound(api_err *err) {
  err->status = 404, err->code = "not_found", err->field = NULL;
  snprintf(err->message, sizeof err->message, "not found");
  return API_NOTFOUND;
}

api_rc api_dberror(api_err *err, PGconn *pg, const char *what) {
  es_error("pg_error", "%s: %s", what, PQerrorMessage(pg));
  err->status = 503, err->code = "unavailable", err->field = NULL;
  snprintf(err->message, sizeof err->message, "the database is unavailable; try again");
  return API_EDB;
}
