/* Helpers of query.h that touch libpq (the pure ones live in route.c). */
#include <stdio.h>

#include "log.h"
#include "query.h"

api_rc api_dberror(api_err *err, PGconn *pg, const char *what) {
  /* the server's message names the statement's problem, never the parameters' values */
  const char *m = pg ? PQerrorMessage(pg) : "no connection";
  es_warn("pg_query_failed", "%s: %.300s", what, m && *m ? m : "error");
  err->status = 503;
  err->code = "unavailable";
  err->field = NULL;
  snprintf(err->message, sizeof err->message, "the database is not available; retry");
  return API_EDB;
}
