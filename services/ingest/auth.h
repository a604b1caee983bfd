/* API keys (lib/keys.h: SHA-256 hashes, one agency and a set of roles per key)
 * and a per-key token-bucket rate limit. */
#ifndef ESCUCHA_INGEST_AUTH_H
#define ESCUCHA_INGEST_AUTH_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

typedef struct ing_auth ing_auth;

/* file and env_keys as es_keys_load (lib/keys.h): lines
 * "agency:role[,role]:<sha256 hex>" or legacy "agency:<sha256 hex>"
 * (submit+read+review); env "agency:key" or "agency:role+role:key". Either may
 * be NULL. rate: items/s per key (0 = unlimited); burst = 2 * rate items. */
ES_MUST_CHECK
ing_auth *ing_auth_new(const char *file, const char *env_keys, double rate, char *err, size_t errlen);
void ing_auth_free(ing_auth *a);
size_t ing_auth_count(const ing_auth *a);
/* Authorization header value ("Bearer <key>") -> agency (owned by auth) or NULL. */
const char *ing_auth_check(ing_auth *a, const char *authorization, int *key_index);
/* A bare key (len bytes; Open311's api_key) -> agency (owned by auth) or NULL. */
const char *ing_auth_key(ing_auth *a, const char *key, size_t len, int *key_index);
/* The roles (ES_ROLE_*, admin expanded) of a key found above; 0 for a bad index. */
unsigned ing_auth_roles(const ing_auth *a, int key_index);
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
