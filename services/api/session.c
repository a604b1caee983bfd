/* Server-side dashboard sessions (see session.h). */
#include "session.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "route.h" /* api_b64url_encode */

struct api_sessions {
  api_session *v; /* owned */
  size_t n, max;
  int64_t idle_ms;
};

api_sessions *api_sessions_new(size_t max, int64_t idle_ms) {
  api_sessions *s = es_xcalloc(1, sizeof *s);
  s->v = es_xcalloc(max ? max : 1, sizeof *s->v);
  s->max = max ? max : 1;
  s->idle_ms = idle_ms;
  return s;
}

void api_sessions_free(api_sessions *s) {
  if (!s) return;
  sodium_memzero(s->v, s->max * sizeof *s->v);
  free(s->v);
  free(s);
}

size_t api_sessions_count(const api_sessions *s) { return s->n; }

static void drop(api_sessions *s, size_t i) {
  s->v[i] = s->v[--s->n];
  sodium_memzero(&s->v[s->n], sizeof s->v[s->n]);
}

static void expire(api_sessions *s, int64_t now_ms) {
  for (size_t i = 0; i < s->n;)
    if (now_ms - s->v[i].last_ms > s->idle_ms) drop(s, i);
    else i++;
}

static int random_id(char out[API_SESSION_ID_LEN + 1]) {
  unsigned char b[32];
  randombytes_buf(b, sizeof b);
  int rc = api_b64url_encode(b, sizeof b, out, API_SESSION_ID_LEN + 1);
  sodium_memzero(b, sizeof b);
  return rc;
}

const api_session *api_session_create(api_sessions *s, const char *agency, unsigned roles, const char *key_id,
                                      int64_t now_ms) {
  if (!agency || strlen(agency) > API_AGENCY_MAX) return NULL;
  expire(s, now_ms);
  if (s->n == s->max) { /* full: the least recently used goes */
    size_t lru = 0;
    for (size_t i = 1; i < s->n; i++)
      if (s->v[i].last_ms < s->v[lru].last_ms) lru = i;
    drop(s, lru);
  }
  api_session *ss = &s->v[s->n];
  memset(ss, 0, sizeof *ss);
  if (random_id(ss->id) != 0 || random_id(ss->csrf) != 0) return NULL;
  memcpy(ss->agency, agency, strlen(agency) + 1);
  ss->roles = roles;
  if (key_id) snprintf(ss->key_id, sizeof ss->key_id, "%s", key_id);
  ss->last_ms = now_ms;
  s->n++;
  return ss;
}

static long find(const api_sessions *s, const char *id, size_t len) {
  if (len != API_SESSION_ID_LEN) return -1;
  long found = -1;
  for (size_t i = 0; i < s->n; i++) /* every entry compared: no early exit */
    if (sodium_memcmp(s->v[i].id, id, API_SESSION_ID_LEN) == 0) found = (long)i;
  return found;
}

const api_session *api_session_find(api_sessions *s, const char *id, size_t len, int64_t now_ms) {
  long i = find(s, id, len);
  if (i < 0) return NULL;
  if (now_ms - s->v[i].last_ms > s->idle_ms) {
    drop(s, (size_t)i);
    return NULL;
  }
  s->v[i].last_ms = now_ms;
  return &s->v[i];
}

int api_session_delete(api_sessions *s, const char *id, size_t len) {
  long i = find(s, id, len);
  if (i < 0) return -1;
  drop(s, (size_t)i);
  return 0;
}

int api_session_csrf_ok(const api_session *ss, const char *token, size_t len) {
  return ss && token && len == API_SESSION_ID_LEN && sodium_memcmp(ss->csrf, token, len) == 0;
}

int api_cookie_get(const char *header, const char *name, const char **val, size_t *len) {
  if (!header) return -1;
  size_t nl = strlen(name);
  const char *p = header;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ';') p++;
    const char *e = p;
    while (*e && *e != ';') e++;
    if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *v = p + nl + 1, *ve = e;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if (ve - v >= 2 && *v == '"' && ve[-1] == '"') v++, ve--;
      *val = v;
      *len = (size_t)(ve - v);
      return 0;
    }
    p = e;
  }
  return -1;
}

void api_key_id(const char *key, size_t len, char out[API_KEY_ID_LEN + 1]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  crypto_hash_sha256(h, (const unsigned char *)key, len);
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  memcpy(out, hex, API_KEY_ID_LEN);
  out[API_KEY_ID_LEN] = '\0';
}
