/* Citizen receipt tokens: "<feedback id>.<mac>", mac = the first 16 bytes of
 * HMAC-SHA-256(secret, id) in unpadded base64url (22 chars). Ingest makes them
 * for every accepted item (status_url); api checks them before any lookup, so
 * an id alone (or a guessed token) reveals nothing. */
#ifndef ESCUCHA_LIB_RECEIPT_H
#define ESCUCHA_LIB_RECEIPT_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

#define ES_RECEIPT_KEY_BYTES 32
#define ES_RECEIPT_ID_MAX 64
/* id + '.' + 22 + NUL */
#define ES_RECEIPT_TOKEN_MAX (ES_RECEIPT_ID_MAX + 24)

/* Reads the secret from a file holding 64 hex chars (what `make up` writes);
 * surrounding whitespace allowed. 0 ok; -1 with the reason in err. */
ES_MUST_CHECK
int es_receipt_key_load(const char *path, unsigned char key[ES_RECEIPT_KEY_BYTES], char *err, size_t errlen);
/* 0 ok; -1 when id is empty, longer than ES_RECEIPT_ID_MAX, holds '.' or
 * anything outside [0-9A-Za-z_-], or out is too small. */
ES_MUST_CHECK
int es_receipt_token(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *id, char *out, size_t cap);
/* Checks a token (len bytes) in constant time; 0 and the id copied to id_out
 * (cap >= ES_RECEIPT_ID_MAX + 1) when genuine, -1 otherwise. */
ES_MUST_CHECK
int es_receipt_verify(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *token, size_t len, char *id_out,
                      size_t cap);
/* A key for another purpose ("optout", ...) derived from the receipt secret
 * (HMAC-SHA-256(secret, "escucha-" purpose)), so a token made for one purpose
 * never verifies for another. */
void es_receipt_subkey(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *purpose,
                       unsigned char out[ES_RECEIPT_KEY_BYTES]);
#endif
