#include "pg.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

PGconn *es_pg_connect(const char *dsn, char *err, size_t errlen) {
  /* the program's name in pg_stat_activity (an SRE's first question about a busy backend);
   * a DSN's own application_name still wins */
  const char *const keys[] = {"dbname", "fallback_application_name", NULL};
  const char *const vals[] = {dsn, program_invocation_short_name, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    /* libpq messages name host/port/user, never the password */
    snprintf(err, errlen, "%s", PQerrorMessage(c));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n')) err[--n] = '\0';
    PQfinish(c);
    return NULL;
  }
  return c;
}

int es_pg_exec(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) es_error("pg_exec_failed", "%s", PQresultErrorMessage(r));
  PQclear(r);
  return ok ? 0 : -1;
}

PGresult *es_pg_query(PGconn *c, const char *sql, int n, const char *const *params, char *why, size_t whylen) {
  PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) return r;
  snprintf(why, whylen, "%s", PQresultErrorMessage(r));
  PQclear(r);
  return NULL;
}

int es_pg_ensure(PGconn *c) {
  if (PQstatus(c) == CONNECTION_OK) return 1;
  PQreset(c);
  return PQstatus(c) == CONNECTION_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int apply_one(PGconn *c, const char *dir, const char *name) {
  const char *params[1] = {name};
  PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
  int done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
  int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
  PQclear(r);
  if (failed) return -1;
  if (done) return 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *sql = es_read_file(path, NULL);
  if (!sql) {
    es_error("migration_read_failed", "%s", path);
    return -1;
  }
  int rc = -1;
  if (es_pg_exec(c, "BEGIN") != 0) goto cleanup;
  if (es_pg_exec(c, sql) != 0) goto rollback;
  r = PQexecParams(c, "INSERT INTO schema_migrations(version, applied_at) VALUES ($1, now())", 1, NULL, params, NULL,
                   NULL, 0);
  failed = PQresultStatus(r) != PGRES_COMMAND_OK;
  PQclear(r);
  if (failed) goto rollback;
  if (es_pg_exec(c, "COMMIT") != 0) goto cleanup;
  es_info("migration_applied", "%s", name);
  rc = 0;
  goto cleanup;
rollback:
  es_pg_exec(c, "ROLLBACK");
cleanup:
  free(sql);
  return rc;
}

int es_pg_migrate(PGconn *c, const char *dir) {
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = -1;
  DIR *d = opendir(dir);
  if (!d) {
    es_error("migrations_dir_missing", "%s", dir);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      names = es_xrealloc(names, cap * sizeof *names); /* start-up: out of memory aborts */
    }
    names[n++] = es_xstrdup(e->d_name);
  }
  qsort(names, n, sizeof *names, cmp_str);
  /* The advisory lock serialises concurrent starters (two services, make up). */
  if (es_pg_exec(c, "SELECT pg_advisory_lock(74657)") != 0) goto cleanup;
  if (es_pg_exec(c,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())") != 0)
    goto unlock;
  rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) rc = apply_one(c, dir, names[i]);
unlock:
  es_pg_exec(c, "SELECT pg_advisory_unlock(74657)");
cleanup:
  closedir(d);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}
