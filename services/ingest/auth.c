#include "auth.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

typedef struct {
  unsigned char hash[crypto_hash_sha256_BYTES];
  char *agency;
  double tokens;
  uint64_t last_ns;
} key_entry;

struct ing_auth {
  key_entry *keys;
  size_t n, cap;
  double rate;
};

static int add_key(ing_auth *a, const char *agency, size_t alen, const unsigned char *hash) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    key_entry *k = realloc(a->keys, cap * sizeof *k);
    if (!k) return -1;
    a->keys = k;
    a->cap = cap;
  }
  key_entry *e = &a->keys[a->n];
  memset(e, 0, sizeof *e);
  memcpy(e->hash, hash, sizeof e->hash);
  e->agency = es_strndup(agency, alen);
  e->tokens = a->rate * 2;
  if (!e->agency) return -1;
  a->n++;
  return 0;
}

static int load_file(ing_auth *a, const char *path, char *err, size_t errlen) {
  char *data = es_read_file(path, NULL);
  if (!data) {
    snprintf(err, errlen, "cannot read API keys file %s", path);
    return -1;
  }
  int rc = 0, lineno = 0;
  for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    while (isspace((unsigned char)*line)) line++;
    if (!*line || *line == '#') continue;
    char *colon = strchr(line, ':');
    unsigned char hash[crypto_hash_sha256_BYTES];
    size_t binlen = 0;
    char *hex = colon ? colon + 1 : NULL;
    if (hex) hex[strcspn(hex, " \t\r")] = '\0';
    if (!colon || colon == line ||
        sodium_hex2bin(hash, sizeof hash, hex, strlen(hex), NULL, &binlen, NULL) != 0 ||
        binlen != sizeof hash) {
      snprintf(err, errlen, "%s:%d: expected agency:<64 hex chars of sha256(key)>", path, lineno);
      rc = -1;
      break;
    }
    if (add_key(a, line, (size_t)(colon - line), hash) != 0) { rc = -1; break; }
  }
  free(data);
  return rc;
}

static int load_env(ing_auth *a, const char *spec, char *err, size_t errlen) {
  char *copy = es_xstrdup(spec); /* start-up: out of memory aborts */
  int rc = 0;
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon || colon == tok || !colon[1]) {
      snprintf(err, errlen, "ESCUCHA_API_KEYS: expected agency:key[,agency:key]");
      rc = -1;
      break;
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)colon + 1, strlen(colon + 1));
    if (add_key(a, tok, (size_t)(colon - tok), hash) != 0) { rc = -1; break; }
  }
  sodium_memzero(copy, strlen(copy)); /* plain keys don't linger in memory */
  free(copy);
  return rc;
}

ing_auth *ing_auth_new(const char *file, const char *env_keys, double rate, char *err, size_t errlen) {
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium init failed");
    return NULL;
  }
  ing_auth *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->rate = rate;
  if ((file && *file && load_file(a, file, err, errlen) != 0) ||
      (env_keys && *env_keys && load_env(a, env_keys, err, errlen) != 0)) {
    ing_auth_free(a);
    return NULL;
  }
  return a;
}

void ing_auth_free(ing_auth *a) {
  if (!a) return;
  for (size_t i = 0; i < a->n; i++) free(a->keys[i].agency);
  free(a->keys);
  free(a);
}

size_t ing_auth_count(const ing_auth *a) { return a->n; }
double ing_auth_rate(const ing_auth *a) { return a->rate; }

const char *ing_auth_check(ing_auth *a, const char *h, int *key_index) {
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
  const char *key = h + 7;
  while (*key == ' ') key++;
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, (const unsigned char *)key, strlen(key));
  /* compare against every entry in constant time; no early exit */
  int found = -1;
  for (size_t i = 0; i < a->n; i++)
    if (sodium_memcmp(hash, a->keys[i].hash, sizeof hash) == 0) found = (int)i;
  if (found < 0) return NULL;
  if (key_index) *key_index = found;
  return a->keys[found].agency;
}

int ing_auth_rate_limit(ing_auth *a, int idx, uint64_t now_ns) { return ing_auth_rate_take(a, idx, now_ns, 1); }

int ing_auth_rate_take(ing_auth *a, int idx, uint64_t now_ns, size_t cost) {
  if (a->rate <= 0 || idx < 0 || (size_t)idx >= a->n) return 0;
  key_entry *e = &a->keys[idx];
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
