/* X25519 sealed boxes (libsodium crypto_box_seal) and their key files, shared
 * by every place that keeps something only another party may open: ingest's
 * dead letters (the operator's key) and reporters' contacts (the notifier's
 * key, escucha-actions). A key file holds 64 hex digits and a newline. */
#ifndef ESCUCHA_SEAL_H
#define ESCUCHA_SEAL_H
#include <stddef.h>
#include <stdint.h>

#include "util.h" /* ES_MUST_CHECK */

#define ES_SEAL_KEY_BYTES 32
#define ES_SEAL_OVERHEAD 48 /* crypto_box_SEALBYTES */

/* Reads a 32-byte key from a hex key file. 0 ok; -1 with err naming the file. */
ES_MUST_CHECK int es_seal_read_key(const char *path, unsigned char key[ES_SEAL_KEY_BYTES], char *err, size_t errlen);
/* Creates a new key pair: sec_path (mode 0600) and pub_path (0644), neither
 * may exist. 0 ok; -1 with err. */
ES_MUST_CHECK int es_seal_keygen(const char *pub_path, const char *sec_path, char *err, size_t errlen);
/* Seals msg to pk: malloc'd ciphertext of n + ES_SEAL_OVERHEAD bytes, or NULL. */
uint8_t *es_seal(const unsigned char pk[ES_SEAL_KEY_BYTES], const void *msg, size_t n);
/* Opens a sealed box with the key pair's secret key (the public key is
 * derived): malloc'd plaintext of n - ES_SEAL_OVERHEAD bytes plus a NUL, or
 * NULL (not sealed to this key, corrupt, out of memory). */
uint8_t *es_seal_open(const unsigned char sk[ES_SEAL_KEY_BYTES], const uint8_t *box, size_t n, size_t *outlen);
#endif
