#ifndef ESCUCHA_ACTIONS_RECORD_H
#define ESCUCHA_ACTIONS_RECORD_H
#include <libpq-fe.h>
#include <stddef.h>

/* A corrective action taken outside Escucha, recorded as a closed plan. */
typedef struct ac_record {
  const char *agency, *topic;
  const char *opened, *closed; /* YYYY-MM-DD, validated */
  const char *note;            /* what was done: the plan's summary */
  const char *closure;         /* resolved, not_fixed, forwarded, duplicate */
  const char *closure_note;    /* why / to whom, or NULL */
  const char *by;              /* audit actor */
} ac_record;

/* 0: id is the plan (created 1: new; 0: the same record existed), -1 with
 * err. One transaction: plan, its 'recorded' action, the audit row. */
int ac_record_plan(PGconn *pg, const ac_record *rec, char id[27], int *created, char *err, size_t errlen);
int ac_record_main(int argc, char **argv);
#endif
