/* API keys: stored as SHA-256 hashes, each bound to one agency and a set of
 * roles. Shared by ingest (submit) and api (read, review, admin).
 *
 * Keys file lines ('#' comments, blank lines ignored):
 *   agency:role[,role]:<64 hex of sha256(key)>   roles: submit read review admin backfill
 *   agency:<64 hex>                              legacy: submit+read+review
 * ESCUCHA_API_KEYS (tests, demos): "agency:key" or "agency:role+role:key",
 * comma-separated; plain keys are hashed at load and wiped. */
#ifndef ESCUCHA_LIB_KEYS_H
#define ESCUCHA_LIB_KEYS_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

enum {
  ES_ROLE_SUBMIT = 1u << 0,
  ES_ROLE_READ = 1u << 1,
  ES_ROLE_REVIEW = 1u << 2,
  ES_ROLE_ADMIN = 1u << 3, /* implies every other role but backfill */
  /* A trusted source of history (with submit): ingest files its items at
   * their own created_at (docs/ingest.md "History"). Never implied by admin:
   * placing items in past windows is given to a key made for it. */
  ES_ROLE_BACKFILL = 1u << 4,
  ES_ROLE_LEGACY = ES_ROLE_SUBMIT | ES_ROLE_READ | ES_ROLE_REVIEW
};

typedef struct es_keys es_keys;

/* Either source may be NULL or empty. NULL with the reason in err (file:line,
 * never a key) on a malformed line or an unknown role. */
ES_MUST_CHECK
es_keys *es_keys_load(const char *file, const char *env_keys, char *err, size_t errlen);
void es_keys_free(es_keys *k);
size_t es_keys_count(const es_keys *k);

/* A presented key (not NUL-terminated: len bytes) -> its index, or -1. Every
 * entry is compared in constant time. agency (owned by k) and roles (with
 * admin expanded to all roles) are set when found; either may be NULL. */
int es_keys_find(const es_keys *k, const char *key, size_t len, const char **agency, unsigned *roles);
/* "Bearer <key>" header value -> as es_keys_find; -1 for NULL or another scheme. */
int es_keys_bearer(const es_keys *k, const char *authorization, const char **agency, unsigned *roles);
/* True when roles include role (admin includes all but backfill). */
int es_keys_has(unsigned roles, unsigned role);
#endif
