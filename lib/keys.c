#include "keys.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
  unsigned char hash[crypto_hash_sha256_BYTES];
  char *agency;
  unsigned roles;
} key_entry;

struct es_keys {
  key_entry *keys;
  size_t n, cap;
};

/* Control plane (start-up): out of memory aborts. */
static void add_key(es_keys *k, const char *agency, size_t alen, unsigned roles, const unsigned char *hash) {
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 8;
    k->keys = es_xrealloc(k->keys, k->cap * sizeof *k->keys);
  }
  key_entry *e = &k->keys[k->n++];
  memcpy(e->hash, hash, sizeof e->hash);
  e->agency = es_xstrndup(agency, alen);
  e->roles = roles;
}

/* "submit,read" (sep ',') or "submit+read" (sep '+') -> bits; 0 when a name is unknown. */
static unsigned parse_roles(const char *s, size_t len, char sep) {
  static const struct {
    const char *name;
    unsigned bit;
  } R[] = {{"submit", ES_ROLE_SUBMIT},
           {"read", ES_ROLE_READ},
           {"review", ES_ROLE_REVIEW},
           {"admin", ES_ROLE_ADMIN},
           {"backfill", ES_ROLE_BACKFILL}};
  unsigned roles = 0;
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && s[j] != sep) j++;
    unsigned bit = 0;
    for (size_t r = 0; r < sizeof R / sizeof R[0]; r++)
      if (strlen(R[r].name) == j - i && strncmp(R[r].name, s + i, j - i) == 0) bit = R[r].bit;
    if (!bit) return 0;
    roles |= bit;
    i = j + 1;
  }
  return roles;
}

static int agency_ok(const char *s, size_t len) {
  if (len == 0 || len > 64) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return 0;
  return 1;
}

/* "agency[:roles]:rest" -> pieces; 0 ok. roles 0 when absent (caller's default). */
static int split_line(char *line, char sep, size_t *alen, unsigned *roles, char **rest) {
  char *c1 = strchr(line, ':');
  if (!c1 || !agency_ok(line, (size_t)(c1 - line))) return -1;
  *alen = (size_t)(c1 - line);
  char *c2 = strchr(c1 + 1, ':');
  *roles = ES_ROLE_LEGACY;
  *rest = c1 + 1;
  if (c2) {
    *roles = parse_roles(c1 + 1, (size_t)(c2 - c1 - 1), sep);
    if (!*roles) return -1;
    *rest = c2 + 1;
  }
  return **rest ? 0 : -1;
}

static int load_file(es_keys *k, const char *path, char *err, size_t errlen) {
  char *data = es_read_file(path, NULL);
  if (!data) {
    snprintf(err, errlen, "cannot read API keys file %s", path);
    return -1;
  }
  int rc = 0, lineno = 0;
  char *save = NULL;
  for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    while (isspace((unsigned char)*line)) line++;
    line[strcspn(line, " \t\r")] = '\0';
    if (!*line || *line == '#') continue;
    size_t alen, binlen = 0;
    unsigned roles;
    char *hex;
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (split_line(line, ',', &alen, &roles, &hex) != 0 ||
        sodium_hex2bin(hash, sizeof hash, hex, strlen(hex), NULL, &binlen, NULL) != 0 || binlen != sizeof hash) {
      snprintf(err, errlen,
               "%s:%d: expected agency[:role,role]:<64 hex chars of sha256(key)>, "
               "roles submit read review admin",
               path, lineno);
      rc = -1;
      break;
    }
    add_key(k, line, alen, roles, hash);
  }
  free(data);
  return rc;
}

static int load_env(es_keys *k, const char *spec, char *err, size_t errlen) {
  char *copy = es_xstrdup(spec);
  size_t copylen = strlen(copy);
  int rc = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    size_t alen;
    unsigned roles;
    char *key;
    if (split_line(tok, '+', &alen, &roles, &key) != 0) {
      snprintf(err, errlen,
               "api-keys (environment): expected agency[:role+role]:key[,...], "
               "roles submit read review admin");
      rc = -1;
      break;
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)key, strlen(key));
    add_key(k, tok, alen, roles, hash);
  }
  sodium_memzero(copy, copylen); /* plain keys don't linger in memory */
  free(copy);
  return rc;
}

es_keys *es_keys_load(const char *file, const char *env_keys, char *err, size_t errlen) {
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium init failed");
    return NULL;
  }
  es_keys *k = es_xcalloc(1, sizeof *k);
  if ((file && *file && load_file(k, file, err, errlen) != 0) ||
      (env_keys && *env_keys && load_env(k, env_keys, err, errlen) != 0)) {
    es_keys_free(k);
    return NULL;
  }
  return k;
}

void es_keys_free(es_keys *k) {
  if (!k) return;
  for (size_t i = 0; i < k->n; i++) free(k->keys[i].agency);
  free(k->keys);
  free(k);
}

size_t es_keys_count(const es_keys *k) { return k ? k->n : 0; }

int es_keys_has(unsigned roles, unsigned role) {
  if (role & ES_ROLE_BACKFILL) return (roles & role) == role;
  return (roles & ES_ROLE_ADMIN) || (roles & role) == role;
}

int es_keys_find(const es_keys *k, const char *key, size_t len, const char **agency, unsigned *roles) {
  if (!k || !key || len == 0) return -1;
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, (const unsigned char *)key, len);
  int found = -1; /* every entry compared; no early exit */
  for (size_t i = 0; i < k->n; i++)
    if (sodium_memcmp(hash, k->keys[i].hash, sizeof hash) == 0) found = (int)i;
  if (found < 0) return -1;
  if (agency) *agency = k->keys[found].agency;
  if (roles) {
    unsigned r = k->keys[found].roles;
    *roles = (r & ES_ROLE_ADMIN) ? (ES_ROLE_ADMIN | ES_ROLE_LEGACY | (r & ES_ROLE_BACKFILL)) : r;
  }
  return found;
}

int es_keys_bearer(const es_keys *k, const char *h, const char **agency, unsigned *roles) {
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return -1;
  const char *key = h + 7;
  while (*key == ' ') key++;
  size_t len = strlen(key);
  while (len && (key[len - 1] == ' ' || key[len - 1] == '\t')) len--;
  return es_keys_find(k, key, len, agency, roles);
}
