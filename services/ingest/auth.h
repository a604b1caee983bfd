/* API keys (stored as SHA-256 hashes, one agency per key) and a per-key
 * token-bucket rate limit. */
#ifndef ESCUCHA_INGEST_AUTH_H
#define ESCUCHA_INGEST_AUTH_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

typedef struct ing_auth ing_auth;

/* file: lines "agency:<sha256 hex of key>" ('#' comments); env_keys:
 * "agency:plainkey,agency2:key2" (hashed at load). Either may be NULL.
 * rate: items/s per key (0 = unlimited); burst = 2 * rate items. */
ES_MUST_CHECK
ing_auth *ing_auth_new(const char *file, const char *env_keys, double rate, char *err, size_t errlen);
void ing_auth_free(ing_auth *a);
size_t ing_auth_count(const ing_auth *a);
/* Authorization header value -> agency (owned by auth) or NULL. */
const char *ing_auth_check(ing_auth *a, const char *authorization, int *key_index);
/* One item: 0 allowed; otherwise seconds to wait (Retry-After). now_ns monotonic. */
int ing_auth_rate_limit(ing_auth *a, int key_index, uint64_t now_ns);
/* cost items (a batch's item count) from the key's token bucket; same answer.
 * A cost above the burst passes only with a full bucket and leaves it in debt
 * (the next requests wait until it is paid back). cost 0 takes nothing: it asks
 * whether at least one token is there (checked before parsing a batch). */
int ing_auth_rate_take(ing_auth *a, int key_index, uint64_t now_ns, size_t cost);
/* The configured items/s per key (0 = unlimited). */
double ing_auth_rate(const ing_auth *a);
#endif
