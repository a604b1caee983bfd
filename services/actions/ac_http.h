/* HTTP client for connectors: libcurl easy handle per call, bounded retries
 * with exponential backoff + jitter, Retry-After, and a circuit breaker.
 * Thread-safe as long as each ac_breaker is shared only through its mutex. */
#ifndef ESCUCHA_ACTIONS_AC_HTTP_H
#define ESCUCHA_ACTIONS_AC_HTTP_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* Retry policy; tests shrink the delays and inject sleep so nothing waits. */
typedef struct ac_retry {
  int max_attempts;        /* total tries (>= 1) */
  long base_ms;            /* first backoff */
  long max_ms;             /* backoff ceiling */
  long retry_after_cap_ms; /* a longer Retry-After gives up (caller reschedules) */
  long timeout_ms;         /* whole request */
  long connect_timeout_ms;
  int tls_verify;                       /* 1 unless explicitly disabled (never in production) */
  void (*sleep_ms)(void *ctx, long ms); /* NULL -> nanosleep */
  void *sleep_ctx;
} ac_retry;

void ac_retry_defaults(ac_retry *r);
/* Delay before retry number `attempt` (0-based): min(max, base*2^attempt) with
 * "equal jitter" (uniform in [d/2, d]) so synchronized clients spread out. */
long ac_backoff_ms(const ac_retry *r, int attempt);

/* Per-connector circuit breaker: after `threshold` consecutive transient
 * failures it opens for `cooldown_ms`; then one probe is let through
 * (half-open); success closes it, failure re-opens it. */
typedef struct ac_breaker {
  pthread_mutex_t mu;
  int threshold;
  long cooldown_ms;
  int failures;
  int probing;
  int64_t open_until;      /* ms on now_ms clock; 0 = closed */
  int64_t (*now_ms)(void); /* NULL -> monotonic clock */
} ac_breaker;

void ac_breaker_init(ac_breaker *b, int threshold, long cooldown_ms);
void ac_breaker_destroy(ac_breaker *b);
int ac_breaker_allow(ac_breaker *b);           /* 1 allowed, 0 open */
void ac_breaker_record(ac_breaker *b, int ok); /* ok=0: transient failure */
int ac_breaker_is_open(ac_breaker *b);

typedef struct ac_http_req {
  const char *method; /* GET, POST, PUT */
  const char *url;
  const char *const *headers; /* NULL-terminated "Name: value" list */
  const char *body;           /* may be NULL */
  size_t body_len;
  int idempotent; /* 0: only retry when the server surely did nothing */
} ac_http_req;

typedef struct ac_http_resp {
  long status;         /* 0 when no response */
  es_buf body;         /* owned; free with ac_http_resp_free */
  long retry_after_ms; /* -1 when absent */
  int attempts;
} ac_http_resp;

enum {
  AC_HTTP_OK = 0,         /* a final response is in resp (any status) */
  AC_HTTP_TRANSIENT = -1, /* retries exhausted: network, 5xx, 429 */
  AC_HTTP_BREAKER = -2    /* circuit open; nothing sent */
};

/* Performs req with retries. err gets a short reason on failure (no secrets:
 * headers and bodies are never copied into it). */
int ac_http_do(const ac_retry *r, ac_breaker *b, const ac_http_req *req, ac_http_resp *resp, char *err, size_t errlen);
void ac_http_resp_free(ac_http_resp *resp);
/* Whether an HTTP status is worth retrying for (non-)idempotent requests. */
int ac_http_retryable(long status, int idempotent);
/* Whether a final status is the vendor's definitive "no" (bad request, auth,
 * not found, validation: 4xx other than 408/409/423/425/429, and unfollowed
 * 3xx). Anything else that is not 2xx is worth trying again later. */
int ac_http_permanent(long status);
/* Parses a Retry-After value (delta-seconds or HTTP-date) into ms, -1 if bad. */
long ac_parse_retry_after(const char *v, int64_t now_ms_wall);
/* Test/fuzz hook: when set, every attempt is answered by this function
 * instead of the network (0: resp->status/body filled; -1: connection
 * refused). Never set in the service. */
typedef int (*ac_http_transport)(const ac_http_req *req, ac_http_resp *resp);
extern ac_http_transport ac_http_transport_override;
/* Initialises libcurl once (thread-safe). */
void ac_http_global_init(void);
#endif
