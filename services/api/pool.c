/* PostgreSQL connection pool (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

struct api_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *dsn;      /* owned */
  PGconn **conn;  /* owned: NULL = not connected */
  int *busy;
  int size;
  long timeout_ms;
  _Atomic int healthy;
};

api_pool *api_pool_new(const char *dsn, int size, long statement_timeout_ms) {
  api_pool *p = es_xcalloc(1, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->dsn = es_xstrdup(dsn);
  p->size = size > 0 ? size : 1;
  p->conn = es_xcalloc((size_t)p->size, sizeof *p->conn);
  p->busy = es_xcalloc((size_t)p->size, sizeof *p->busy);
  p->timeout_ms = statement_timeout_ms;
  return p;
}

void api_pool_free(api_pool *p) {
  if (!p) return;
  for (int i = 0; i < p->size; i++)
    if (p->conn[i]) PQfinish(p->conn[i]);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->conn);
  free(p->busy);
  free(p->dsn);
  free(p);
}

static PGconn *open_conn(api_pool *p) {
  char err[256];
  PGconn *c = es_pg_connect(p->dsn, err, sizeof err);
  if (!c) {
    es_warn("pg_connect_failed", "%s", err);
    return NULL;
  }
  if (p->timeout_ms > 0) {
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %ld", p->timeout_ms);
    if (es_pg_exec(c, sql) != 0) {
      PQfinish(c);
      return NULL;
    }
  }
  return c;
}

PGconn *api_pool_take(api_pool *p) {
  pthread_mutex_lock(&p->mu);
  int slot = -1;
  for (;;) {
    for (int i = 0; i < p->size && slot < 0; i++)
      if (!p->busy[i]) slot = i;
    if (slot >= 0) break;
    pthread_cond_wait(&p->cv, &p->mu);
  }
  p->busy[slot] = 1;
  PGconn *c = p->conn[slot];
  pthread_mutex_unlock(&p->mu);
  /* connecting and resetting happen outside the lock: other slots stay usable */
  if (c && !es_pg_ensure(c)) {
    PQfinish(c);
    c = NULL;
  }
  if (!c) c = open_conn(p);
  p->healthy = c != NULL;
  pthread_mutex_lock(&p->mu);
  p->conn[slot] = c;
  if (!c) {
    p->busy[slot] = 0;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return c;
}

void api_pool_give(api_pool *p, PGconn *c) {
  if (!c) return;
  /* a connection left inside a transaction (an error mid-way) is rolled back */
  if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) (void)es_pg_exec(c, "ROLLBACK");
  if (PQstatus(c) != CONNECTION_OK) p->healthy = 0;
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->size; i++)
    if (p->conn[i] == c && p->busy[i]) {
      p->busy[i] = 0;
      break;
    }
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

int api_pool_healthy(const api_pool *p) { return p->healthy; }
