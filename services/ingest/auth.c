/* Keys come from lib/keys (one parser for ingest and api); ingest adds only the
 * per-key token bucket, indexed like the keys. */
#include "auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "keys.h"
#include "util.h"

typedef struct {
  double tokens;
  uint64_t last_ns;
  unsigned roles; /* set by the lookup that found the key (a key's roles never change) */
} bucket;

struct ing_auth {
  es_keys *keys;   /* owned */
  bucket *buckets; /* owned; one per key, same index */
  size_t n;
  double rate;
};

ing_auth *ing_auth_new(const char *file, const char *env_keys, double rate, char *err, size_t errlen) {
  es_keys *k = es_keys_load(file, env_keys, err, errlen);
  if (!k) return NULL;
  /* start-up: out of memory aborts */
  ing_auth *a = es_xcalloc(1, sizeof *a);
  a->keys = k;
  a->n = es_keys_count(k);
  a->rate = rate;
  a->buckets = es_xcalloc(a->n ? a->n : 1, sizeof *a->buckets);
  for (size_t i = 0; i < a->n; i++) a->buckets[i].tokens = rate * 2;
  return a;
}

void ing_auth_free(ing_auth *a) {
  if (!a) return;
  es_keys_free(a->keys);
  free(a->buckets);
  free(a);
}

size_t ing_auth_count(const ing_auth *a) { return a->n; }
double ing_auth_rate(const ing_auth *a) { return a->rate; }

const char *ing_auth_check(ing_auth *a, const char *h, int *key_index) {
  const char *agency = NULL;
  unsigned roles = 0;
  int i = es_keys_bearer(a->keys, h, &agency, &roles);
  if (i < 0) return NULL;
  a->buckets[i].roles = roles;
  if (key_index) *key_index = i;
  return agency;
}

const char *ing_auth_key(ing_auth *a, const char *key, size_t len, int *key_index) {
  const char *agency = NULL;
  unsigned roles = 0;
  int i = es_keys_find(a->keys, key, len, &agency, &roles);
  if (i < 0) return NULL;
  a->buckets[i].roles = roles;
  if (key_index) *key_index = i;
  return agency;
}

unsigned ing_auth_roles(const ing_auth *a, int idx) {
  if (idx < 0 || (size_t)idx >= a->n) return 0;
  return a->buckets[idx].roles;
}

int ing_auth_rate_limit(ing_auth *a, int idx, uint64_t now_ns) { return ing_auth_rate_take(a, idx, now_ns, 1); }

int ing_auth_rate_take(ing_auth *a, int idx, uint64_t now_ns, size_t cost) {
  if (a->rate <= 0 || idx < 0 || (size_t)idx >= a->n) return 0;
  bucket *e = &a->buckets[idx];
  double burst = a->rate * 2;
  if (e->last_ns && now_ns > e->last_ns) e->tokens += (double)(now_ns - e->last_ns) / 1e9 * a->rate;
  if (e->tokens > burst) e->tokens = burst;
  if (now_ns > e->last_ns) e->last_ns = now_ns;
  /* A request needs its cost in tokens, or a full bucket when it costs more than
   * the bucket holds (a batch larger than the burst is never refused forever);
   * the bucket then goes into debt that later requests wait out, so over time a
   * key never gets more than rate items/s. cost 0 only asks whether one token is there. */
  double need = cost == 0 ? 1 : (double)cost < burst ? (double)cost : burst;
  if (e->tokens >= need - 1e-9) {
    e->tokens -= (double)cost;
    return 0;
  }
  double wait = ceil((need - e->tokens) / a->rate);
  return wait < 1 ? 1 : wait > 86400 ? 86400 : (int)wait;
}
