/* escucha-api's pure request parsing: which endpoint a path names, the
 * query string decoded into api_params, list cursors and limits, RFC 3339
 * checks. No I/O and no globals, so the fuzz target and unit tests drive it
 * directly (fuzz/api/fuzz_route.c, tests/unit/api/test_route.c). */
#ifndef ESCUCHA_API_ROUTE_H
#define ESCUCHA_API_ROUTE_H
#include <stddef.h>
#include <stdint.h>

#include "query.h"

typedef enum {
  API_R_NONE = 0,      /* unknown path: 404 */
  API_R_STATIC,        /* anything outside /v1/ and /open311/: the dashboard's files */
  API_R_SESSION,       /* /v1/session */
  API_R_FEEDBACK_LIST, /* /v1/feedback */
  API_R_FEEDBACK_GET,  /* /v1/feedback/{id} */
  API_R_REVIEW,        /* /v1/feedback/{id}/review */
  API_R_PRIORITIES,    /* /v1/priorities */
  API_R_TOPIC_SERIES,  /* /v1/topics/{category}[/{subcategory}]/series (arg "cat" or "cat/sub") */
  API_R_PLANS_LIST,    /* /v1/action-plans */
  API_R_PLAN_GET,      /* /v1/action-plans/{id} */
  API_R_SATISFACTION,  /* /v1/satisfaction */
  API_R_REVIEW_QUEUE,  /* /v1/review-queue */
  API_R_HEALTH,        /* /v1/health */
  API_R_RECEIPT,       /* /v1/receipts/{token} */
  API_R_O311_LIST,     /* /open311/v2/requests.json */
  API_R_O311_GET,      /* /open311/v2/requests/{id}.json */
  API_R_CASES_LIST,    /* /v1/cases */
  API_R_CASE_GET,      /* /v1/cases/{id} */
  API_R_CASE_ACK,      /* /v1/cases/{id}/ack */
  API_R_TAXONOMY,      /* /v1/taxonomy */
  API_R_OPTOUT,        /* /v1/optout/{token} (no key: the token is the capability) */
  API_R_COUNT
} api_route_id;

/* Allowed methods per route (bit masks for the 405 answer's Allow header). */
enum { API_M_GET = 1u << 0, API_M_POST = 1u << 1, API_M_DELETE = 1u << 2 };

#define API_ARG_MAX 200

typedef struct {
  api_route_id id;
  const char *name;          /* static label for metrics and logs ("feedback_list"...) */
  unsigned methods;          /* API_M_* the route answers (GET implies HEAD) */
  char arg[API_ARG_MAX + 1]; /* the path parameter, percent-decoded ("" when none) */
} api_route;

/* Matches a raw path (no query string). Returns 0 with r filled; -1 when a
 * path parameter is malformed (bad escape, too long, a byte outside its
 * charset) with r->id set to the route it would have been (answer 404: an id
 * that cannot exist). Unknown /v1/ or /open311/ paths give r->id API_R_NONE. */
int api_route_match(const char *path, api_route *r);
/* "GET, HEAD" / "POST" / ... for r's methods, into out (at least 32 bytes). */
void api_route_allow(const api_route *r, char *out, size_t cap);

/* Limits of a query string. */
#define API_PARAM_NAME_MAX 64
#define API_PARAM_VALUE_MAX 1024
#define API_QUERY_MAX 8192

/* Decodes query (raw, without '?'; NULL or "" = none) into p, appending to
 * what p holds (so a form body can be added after the URL's parameters).
 * '+' is a space, %XX an escape. Refused with a 400 naming the parameter (or
 * "query" when the name itself is bad): a malformed escape, a name outside
 * [A-Za-z0-9_.-] or longer than API_PARAM_NAME_MAX, a value longer than
 * API_PARAM_VALUE_MAX, a value that is not UTF-8 or holds a control
 * character, a name given twice, more than 32 parameters, a query longer
 * than API_QUERY_MAX. Values are malloc'd (api_params_free); on failure p
 * keeps what was decoded before (still freed by api_params_free). */
ES_MUST_CHECK api_rc api_params_parse(const char *query, api_params *p, api_err *err);
/* Adds one already-decoded pair (copied); API_EINVAL on a duplicate or a full table. */
ES_MUST_CHECK api_rc api_params_add(api_params *p, const char *name, const char *value, api_err *err);
void api_params_free(api_params *p);

/* List page size: parameter "limit", default def, 1..max; 400 naming limit. */
ES_MUST_CHECK api_rc api_limit(const api_params *p, long def, long max, long *out, api_err *err);

/* Keyset cursor: opaque unpadded base64url of "1:<microseconds since the
 * epoch>:<id>". encode: 0 ok, -1 when out is too small or id is not
 * [0-9A-Za-z_-]{1,64}. decode: 0 ok, -1 on anything else. */
#define API_CURSOR_MAX 128
int api_cursor_encode(int64_t usec, const char *id, char *out, size_t cap);
int api_cursor_decode(const char *s, int64_t *usec, char *id, size_t cap);

/* Strict RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
 * 'T'/'t' and 'Z'/'z'); 1 valid, 0 not. Ranges checked (month 1..12, day
 * within the month, hour < 24, minute < 60, second <= 60, offset at most 14:59). */
int api_rfc3339_ok(const char *s);

/* Unpadded base64url into out (cap >= 4*ceil(n/3)+1); 0 ok, -1 too small. */
int api_b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap);
/* Decodes unpadded base64url; the decoded length, or -1 on a bad character,
 * an impossible length or a too small out. */
long api_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);
#endif
