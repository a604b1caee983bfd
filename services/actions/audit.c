#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pg.h"

/* A row is wrong when its link is not the previous row's hash (a row deleted
 * or a hash rewritten before it) or its hash is not the digest of its link
 * and content (the row itself changed). */
static const char SQL_VERIFY[] =
    "WITH c AS (SELECT id, prev_hash IS NOT DISTINCT FROM lag(hash) OVER (ORDER BY id) AS linked,"
    "  hash IS NOT DISTINCT FROM audit_log_digest(prev_hash, id, at, actor, entity, entity_id, action, detail)"
    "  AS intact FROM audit_log)"
    "SELECT (SELECT count(*) FROM c),"
    "  (SELECT id FROM c WHERE NOT (linked AND intact) ORDER BY id LIMIT 1),"
    "  (SELECT linked FROM c WHERE NOT (linked AND intact) ORDER BY id LIMIT 1)";

int ac_audit_verify(PGconn *pg, long long *rows, long long *bad_id, char *why, size_t whylen) {
  PGresult *r = PQexec(pg, SQL_VERIFY);
  int rc = -1;
  *rows = 0, *bad_id = 0;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    snprintf(why, whylen, "%s", PQresultErrorMessage(r));
    goto cleanup;
  }
  *rows = atoll(PQgetvalue(r, 0, 0));
  rc = 0;
  if (!PQgetisnull(r, 0, 1)) {
    *bad_id = atoll(PQgetvalue(r, 0, 1));
    snprintf(why, whylen, "%s",
             strcmp(PQgetvalue(r, 0, 2), "t") == 0
                 ? "its content does not match its hash (changed after it was written)"
                 : "its link does not match the previous row's hash (a row before it was removed or changed)");
    rc = 1;
  }
cleanup:
  PQclear(r);
  return rc;
}

int ac_audit_verify_main(int argc, char **argv) {
  static es_common_cfg common;
  es_opt opts[] = {ES_COMMON_OPTS(common), ES_OPT_END};
  char err[512] = "", why[300] = "";
  long long rows = 0, bad = 0;
  int rc = 2;
  PGconn *pg = NULL;
  int pr = es_config_parse(opts, "escucha-actions audit-verify",
                           "Checks audit_log's hash chain; names the first row that does not match", argc, argv, 1,
                           NULL, NULL);
  if (pr != 0) {
    rc = pr > 0 ? 0 : 2;
    goto cleanup;
  }
  if (!(pg = es_pg_connect(common.pg_dsn, err, sizeof err))) {
    fprintf(stderr, "escucha-actions audit-verify: %s\n", err);
    goto cleanup;
  }
  switch (ac_audit_verify(pg, &rows, &bad, why, sizeof why)) {
    case 0:
      printf("audit_log intact: %lld rows chained\n", rows);
      rc = 0;
      break;
    case 1:
      printf("audit_log broken at row id %lld: %s (%lld rows checked)\n", bad, why, rows);
      rc = 1;
      break;
    default: fprintf(stderr, "escucha-actions audit-verify: %s\n", why);
  }
cleanup:
  if (pg) PQfinish(pg);
  es_config_free(opts);
  return rc;
}
