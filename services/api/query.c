/* Helpers of query.h that touch libpq (the pure ones live in route.c). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "query.h"

api_rc api_dberror(api_err *err, PGconn *pg, const char *what) {
  /* the server's message names the statement's problem, never the parameters' values */
  /* the server's first line, cut before any quoted part: PostgreSQL quotes an
   * offending input value there ('invalid input syntax ...: "..."') */
  const char *m = pg ? PQerrorMessage(pg) : NULL;
  if (!m || !*m) m = "no connection";
  int n = (int)strcspn(m, "\"\n");
  es_warn("pg_query_failed", "%s: %.*s", what, n > 300 ? 300 : n, m);
  err->status = 503;
  err->code = "unavailable";
  err->field = NULL;
  snprintf(err->message, sizeof err->message, "the database is not available; retry");
  return API_EDB;
}
