/* PostgreSQL helpers (libpq). SQL only through parameters. */
#ifndef ESCUCHA_LIB_PG_H
#define ESCUCHA_LIB_PG_H
#include "util.h" /* ES_MUST_CHECK */
#include <libpq-fe.h>
#include <stdint.h>

/* Connects; NULL on failure with the reason in err (no password in it). */
ES_MUST_CHECK
PGconn *es_pg_connect(const char *dsn, char *err, size_t errlen);
/* Applies the .sql files of dir in lexical order once each, recorded in schema_migrations,
 * each in its own transaction, under an advisory lock. 0 ok. */
ES_MUST_CHECK
int es_pg_migrate(PGconn *c, const char *dir);
/* Runs a statement without results; 0 ok (error logged; not ES_MUST_CHECK: unlock and
 * rollback calls ignore it on purpose). */
int es_pg_exec(PGconn *c, const char *sql);
/* Runs a statement with text parameters: its result (rows or none; the
 * caller PQclears it), or NULL with the server's message in why. */
ES_MUST_CHECK
PGresult *es_pg_query(PGconn *c, const char *sql, int n, const char *const *params, char *why, size_t whylen);
/* True when the connection is usable; tries one PQreset otherwise. */
int es_pg_ensure(PGconn *c);

/* PostgreSQL's binary formats (COPY BINARY, binary parameters, *_recv) are
 * big-endian: v written at p. */
static inline void es_pg_be16(void *p, uint16_t v) {
  unsigned char *b = p;
  b[0] = (unsigned char)(v >> 8), b[1] = (unsigned char)v;
}
static inline void es_pg_be32(void *p, uint32_t v) {
  unsigned char *b = p;
  for (int i = 3; i >= 0; i--, v >>= 8) b[i] = (unsigned char)v;
}
static inline void es_pg_be64(void *p, uint64_t v) {
  unsigned char *b = p;
  for (int i = 7; i >= 0; i--, v >>= 8) b[i] = (unsigned char)v;
}
/* ... and read back from p. */
static inline uint32_t es_pg_rd32(const void *p) {
  const unsigned char *b = p;
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t es_pg_rd64(const void *p) {
  return (uint64_t)es_pg_rd32(p) << 32 | es_pg_rd32((const unsigned char *)p + 4);
}
#endif
