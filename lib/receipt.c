#include "receipt.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_BYTES 16
#define MAC_B64 22 /* unpadded base64url of 16 bytes */

int es_receipt_key_load(const char *path, unsigned char key[ES_RECEIPT_KEY_BYTES], char *err, size_t errlen) {
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium init failed");
    return -1;
  }
  size_t len = 0, binlen = 0;
  char *data = es_read_file(path, &len);
  if (!data) {
    snprintf(err, errlen, "cannot read receipt secret file %s", path);
    return -1;
  }
  const char *end = NULL;
  char *hex = data;
  while (isspace((unsigned char)*hex)) hex++;
  size_t hexlen = strcspn(hex, " \t\r\n");
  int rc = sodium_hex2bin(key, ES_RECEIPT_KEY_BYTES, hex, hexlen, NULL, &binlen, &end) == 0 &&
                   binlen == ES_RECEIPT_KEY_BYTES && end == hex + hexlen
               ? 0
               : -1;
  sodium_memzero(data, len);
  free(data);
  if (rc) snprintf(err, errlen, "receipt secret file %s: expected 64 hex characters", path);
  return rc;
}

static int id_ok(const char *id, size_t len) {
  if (len == 0 || len > ES_RECEIPT_ID_MAX) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-') return 0;
  return 1;
}

static void mac_of(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *id, size_t len,
                   unsigned char mac[MAC_BYTES]) {
  unsigned char full[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, ES_RECEIPT_KEY_BYTES);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, len);
  crypto_auth_hmacsha256_final(&st, full);
  memcpy(mac, full, MAC_BYTES);
}

int es_receipt_token(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *id, char *out, size_t cap) {
  size_t len = id ? strlen(id) : 0;
  if (!id_ok(id, len) || cap < len + 1 + MAC_B64 + 1) return -1;
  unsigned char mac[MAC_BYTES];
  mac_of(key, id, len, mac);
  memcpy(out, id, len);
  out[len] = '.';
  sodium_bin2base64(out + len + 1, cap - len - 1, mac, MAC_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

int es_receipt_verify(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *token, size_t len, char *id_out,
                      size_t cap) {
  if (!token || len < MAC_B64 + 2) return -1;
  size_t idlen = len - MAC_B64 - 1;
  if (token[idlen] != '.' || !id_ok(token, idlen) || cap < idlen + 1) return -1;
  unsigned char got[MAC_BYTES], want[MAC_BYTES];
  size_t binlen = 0;
  const char *end = NULL;
  if (sodium_base642bin(got, sizeof got, token + idlen + 1, MAC_B64, NULL, &binlen, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      binlen != MAC_BYTES || end != token + len)
    return -1;
  mac_of(key, token, idlen, want);
  if (sodium_memcmp(got, want, MAC_BYTES) != 0) return -1;
  memcpy(id_out, token, idlen);
  id_out[idlen] = '\0';
  return 0;
}

void es_receipt_subkey(const unsigned char key[ES_RECEIPT_KEY_BYTES], const char *purpose,
                       unsigned char out[ES_RECEIPT_KEY_BYTES]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, ES_RECEIPT_KEY_BYTES);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)"escucha-", 8);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose));
  crypto_auth_hmacsha256_final(&st, out);
}
