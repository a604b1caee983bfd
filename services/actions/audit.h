/* The audit trail's integrity (migrations/009_audit_chain.sql): each
 * audit_log row carries SHA-256(previous row's hash || its own content),
 * chained by a trigger. */
#ifndef ESCUCHA_ACTIONS_AUDIT_H
#define ESCUCHA_ACTIONS_AUDIT_H
#include <libpq-fe.h>
#include <stddef.h>

/* Recomputes the chain (in PostgreSQL, with the same digest function the
 * trigger uses). 0: intact (*rows = rows checked); 1: broken, *bad_id and
 * why name the first row that does not match; -1: query failed (why). */
int ac_audit_verify(PGconn *pg, long long *rows, long long *bad_id, char *why, size_t whylen);
/* escucha-actions audit-verify [options]: prints the result; exit 0 intact,
 * 1 broken, 2 bad options or database error. */
int ac_audit_verify_main(int argc, char **argv);
#endif
