/* Read queries: PostgreSQL -> JSON, one function per endpoint. Each is pure
 * and blocking (run on libuv's thread pool with a connection of its own), so
 * it can be unit-tested against PostgreSQL without HTTP. Every query is
 * scoped to the caller's agency: another agency's row answers API_NOTFOUND,
 * exactly like a missing one. */
#ifndef ESCUCHA_API_QUERY_H
#define ESCUCHA_API_QUERY_H
#include <libpq-fe.h>
#include <stddef.h>

#include "util.h" /* es_buf, ES_MUST_CHECK */

/* Results: API_OK with JSON in out; otherwise err says what to answer. */
typedef enum { API_OK = 0, API_EINVAL = -1, API_NOTFOUND = -2, API_EDB = -3, API_NOTMODIFIED = -4 } api_rc;

typedef struct {
  int status;        /* 400, 404, 500, 503 */
  const char *code;  /* "invalid", "not_found", "unavailable" */
  const char *field; /* the offending parameter (400), or NULL */
  char message[200]; /* plain language; never repeats a submitted value */
} api_err;

/* Decoded query-string parameters (and path parts the router extracted). */
typedef struct {
  size_t n;
  struct {
    char *name, *value;
  } kv[32];
} api_params;

/* Who reads or handles an urgent item or a case, for its audit_log row:
 * actor "<agency>:<role>" and detail, a JSON object naming the key by its id
 * (never the key), the role and how it signed in (borrowed strings). */
typedef struct {
  const char *actor;
  const char *detail;
} api_viewer;

/* The value of name, or NULL. */
const char *api_param(const api_params *p, const char *name);

/* API_EINVAL and err filled (400, field = name); printf-style message. */
api_rc api_invalid(api_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
api_rc api_notfound(api_err *err);
/* Logs PQerrorMessage (never the parameters) and fills a 503. */
api_rc api_dberror(api_err *err, PGconn *pg, const char *what);

/* One endpoint each; agency is the authenticated key's. out is appended to. */
ES_MUST_CHECK api_rc api_q_feedback_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out,
                                         api_err *err);
/* An urgent item's read also writes an audit_log row (entity feedback, action
 * viewed, who from v) in the same statement. */
ES_MUST_CHECK api_rc api_q_feedback_get(PGconn *pg, const char *agency, const char *id, const api_viewer *v,
                                        es_buf *out, api_err *err);
ES_MUST_CHECK api_rc api_q_priorities(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err);
/* topic: "category" or "category/subcategory" */
ES_MUST_CHECK api_rc api_q_topic_series(PGconn *pg, const char *agency, const char *topic, const api_params *p,
                                        es_buf *out, api_err *err);
/* Days without ticket movement after which an open plan is "stale" in the
 * plan JSON (--stale-after; 0: never). Set once at start-up. */
extern long api_q_stale_after_days;
ES_MUST_CHECK api_rc api_q_plans_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err);
ES_MUST_CHECK api_rc api_q_plan_get(PGconn *pg, const char *agency, const char *id, es_buf *out, api_err *err);
ES_MUST_CHECK api_rc api_q_satisfaction(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err);
ES_MUST_CHECK api_rc api_q_review_queue(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err);
#endif
