/* API keys (stored as SHA-256 hashes, one agency per key) and a per-key
 * token-bucket rate limit. */
#ifndef INGEST_AUTH_H
#define INGEST_AUTH_H
#include <stddef.h>
#include <stdint.h>

typedef struct auth auth;

/* file: lines "agency:<sha256 hex of key>" ('#' comments); env_keys:
 * "agency:plainkey,agency2:key2" (hashed at load). Either may be NULL.
 * rate: requests/s per key (0 = unlimited); burst = 2 * rate. */
auth *auth_new(const char *file, const char *env_keys, double rate, char *err, size_t errlen);
void auth_free(auth *a);
size_t auth_count(const auth *a);
/* Authorization header value -> agency (owned by auth) or NULL. */
const char *auth_check(auth *a, const char *authorization, int *key_index);
/* 0 allowed; otherwise seconds to wait (Retry-After). now_ns monotonic. */
int auth_rate_limit(auth *a, int key_index, uint64_t now_ns);
#endif
