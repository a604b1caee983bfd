#include "seal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(ES_SEAL_OVERHEAD == crypto_box_SEALBYTES, "sealed box overhead");
_Static_assert(ES_SEAL_KEY_BYTES == crypto_box_PUBLICKEYBYTES && ES_SEAL_KEY_BYTES == crypto_box_SECRETKEYBYTES,
               "X25519 key size");

int es_seal_read_key(const char *path, unsigned char key[ES_SEAL_KEY_BYTES], char *err, size_t errlen) {
  size_t n = 0, used = 0;
  char *s = es_read_file(path, &n);
  if (!s) {
    snprintf(err, errlen, "cannot read key file %s", path);
    return -1;
  }
  size_t a = 0, b = n;
  while (a < n && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t')) a++;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\r' || s[b - 1] == '\t')) b--;
  int rc = (b - a == 2 * ES_SEAL_KEY_BYTES &&
            sodium_hex2bin(key, ES_SEAL_KEY_BYTES, s + a, b - a, NULL, &used, NULL) == 0 && used == ES_SEAL_KEY_BYTES)
               ? 0
               : -1;
  if (rc != 0) snprintf(err, errlen, "key file %s: expected 64 hex digits (a keygen subcommand writes one)", path);
  sodium_memzero(s, n);
  free(s);
  return rc;
}

int es_seal_keygen(const char *pub_path, const char *sec_path, char *err, size_t errlen) {
  unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  char hex[2 * ES_SEAL_KEY_BYTES + 2];
  int rc = -1;
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium did not initialise");
    return -1;
  }
  crypto_box_keypair(pk, sk);
  sodium_bin2hex(hex, sizeof hex - 1, sk, sizeof sk);
  strcat(hex, "\n");
  if (es_write_new_file(sec_path, hex, strlen(hex), 0600) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", sec_path, strerror(errno));
    goto cleanup;
  }
  sodium_bin2hex(hex, sizeof hex - 1, pk, sizeof pk);
  strcat(hex, "\n");
  if (es_write_new_file(pub_path, hex, strlen(hex), 0644) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", pub_path, strerror(errno));
    unlink(sec_path);
    goto cleanup;
  }
  rc = 0;
cleanup:
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(hex, sizeof hex);
  return rc;
}

uint8_t *es_seal(const unsigned char pk[ES_SEAL_KEY_BYTES], const void *msg, size_t n) {
  if (sodium_init() < 0) return NULL;
  uint8_t *box = malloc(n + crypto_box_SEALBYTES);
  if (box && crypto_box_seal(box, msg, n, pk) != 0) {
    free(box);
    box = NULL;
  }
  return box;
}

uint8_t *es_seal_open(const unsigned char sk[ES_SEAL_KEY_BYTES], const uint8_t *box, size_t n, size_t *outlen) {
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  if (n < crypto_box_SEALBYTES || sodium_init() < 0) return NULL;
  crypto_scalarmult_base(pk, sk);
  uint8_t *m = malloc(n - crypto_box_SEALBYTES + 1);
  if (!m) return NULL;
  if (crypto_box_seal_open(m, box, n, pk, sk) != 0) {
    free(m);
    return NULL;
  }
  m[n - crypto_box_SEALBYTES] = 0;
  *outlen = n - crypto_box_SEALBYTES;
  return m;
}
