/* Dashboard sessions: a browser exchanges a key for a random session id kept
 * server-side (in memory: a restart signs everyone out), sent back as an
 * HttpOnly SameSite=Strict cookie. Each session has its own CSRF token for
 * state-changing requests. Used on the loop thread only (not thread-safe);
 * time is passed in so tests need no clock. */
#ifndef ESCUCHA_API_SESSION_H
#define ESCUCHA_API_SESSION_H
#include <stddef.h>
#include <stdint.h>

#include "util.h" /* ES_MUST_CHECK */

#define API_SESSION_COOKIE "escucha_session"
#define API_SESSION_ID_LEN 43 /* 32 random bytes, unpadded base64url */
#define API_AGENCY_MAX 64
/* A key's id in audit rows: the first 12 hex digits of sha256(key), the
 * start of the hash its keys-file line holds (so an operator can tell which
 * key it was) and never the key itself. */
#define API_KEY_ID_LEN 12

typedef struct {
  char id[API_SESSION_ID_LEN + 1];
  char csrf[API_SESSION_ID_LEN + 1];
  char agency[API_AGENCY_MAX + 1];
  unsigned roles;                  /* ES_ROLE_* as lib/keys gave them (admin expanded) */
  char key_id[API_KEY_ID_LEN + 1]; /* of the key that signed in (api_key_id) */
  int64_t last_ms;                 /* last use; idle longer than the table's limit = gone */
} api_session;

typedef struct api_sessions api_sessions;

/* At most max sessions (the least recently used is dropped for a new one);
 * idle_ms: expiry after the last use. Aborts on OOM (start-up). */
ES_MUST_CHECK api_sessions *api_sessions_new(size_t max, int64_t idle_ms);
void api_sessions_free(api_sessions *s); /* accepts NULL; wipes the ids */
size_t api_sessions_count(const api_sessions *s);

/* A new session for agency/roles, signed in with the key whose api_key_id is
 * key_id (NULL: none); its id and csrf are random. Returns the session
 * (borrowed, valid until the next call on s), or NULL when agency is too long
 * or the random source failed. */
const api_session *api_session_create(api_sessions *s, const char *agency, unsigned roles, const char *key_id,
                                      int64_t now_ms);
/* The live session with this id (len bytes, compared in constant time), its
 * last use moved to now; NULL when unknown or expired (then removed). */
const api_session *api_session_find(api_sessions *s, const char *id, size_t len, int64_t now_ms);
/* Removes the session; 0 removed, -1 unknown. */
int api_session_delete(api_sessions *s, const char *id, size_t len);
/* 1 when token (len bytes) equals the session's CSRF token (constant time). */
int api_session_csrf_ok(const api_session *ss, const char *token, size_t len);

/* out = the key's id (API_KEY_ID_LEN hex digits of sha256(key[0..len))). */
void api_key_id(const char *key, size_t len, char out[API_KEY_ID_LEN + 1]);

/* The value of cookie name in a Cookie header ("a=1; b=2"): 0 with val and len set,
 * pointing into header, -1 when absent. */
int api_cookie_get(const char *header, const char *name, const char **val, size_t *len);
#endif
