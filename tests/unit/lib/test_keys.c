/* lib/keys (roles, legacy lines, refusals) and lib/receipt (tokens). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"
#include "receipt.h"

static char *write_tmp(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/escucha-keys-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static void hex_sha256(const char *key, char out[65]);

static void test_roles_from_file(void **st) {
  (void)st;
  char a[65], r[65], l[65], text[512];
  hex_sha256("k-admin", a);
  hex_sha256("k-read", r);
  hex_sha256("k-legacy", l);
  snprintf(text, sizeof text, "# comment\n\ndemo:admin:%s\ndemo:read:%s\notra:%s\n", a, r, l);
  char err[256] = "";
  char *path = write_tmp(text);
  es_keys *k = es_keys_load(path, NULL, err, sizeof err);
  unlink(path);
  assert_non_null(k);
  assert_int_equal(es_keys_count(k), 3);
  const char *agency = NULL;
  unsigned roles = 0;
  assert_int_equal(es_keys_bearer(k, "Bearer k-admin", &agency, &roles), 0);
  assert_string_equal(agency, "demo");
  assert_true(es_keys_has(roles, ES_ROLE_REVIEW) && es_keys_has(roles, ES_ROLE_SUBMIT));
  assert_int_equal(es_keys_bearer(k, "bearer  k-read", &agency, &roles), 1);
  assert_true(es_keys_has(roles, ES_ROLE_READ));
  assert_false(es_keys_has(roles, ES_ROLE_REVIEW));
  assert_false(es_keys_has(roles, ES_ROLE_SUBMIT));
  assert_int_equal(es_keys_bearer(k, "Bearer k-legacy", &agency, &roles), 2);
  assert_string_equal(agency, "otra");
  assert_int_equal(roles, ES_ROLE_LEGACY);
  assert_false(es_keys_has(roles, ES_ROLE_ADMIN));
  assert_int_equal(es_keys_bearer(k, "Bearer nope", NULL, NULL), -1);
  assert_int_equal(es_keys_bearer(k, "Basic k-admin", NULL, NULL), -1);
  assert_int_equal(es_keys_bearer(k, NULL, NULL, NULL), -1);
  assert_int_equal(es_keys_find(k, "k-adminX", 7, NULL, NULL), 0); /* length counts, not NUL */
  es_keys_free(k);
}

/* backfill (a trusted source of history) is given explicitly: admin does not imply it */
static void test_backfill_role(void **st) {
  (void)st;
  char err[256] = "";
  es_keys *k = es_keys_load(NULL, "demo:submit+backfill:h1,demo:admin:h2,demo:admin+backfill:h3", err, sizeof err);
  assert_non_null(k);
  unsigned roles = 0;
  assert_int_equal(es_keys_find(k, "h1", 2, NULL, &roles), 0);
  assert_true(es_keys_has(roles, ES_ROLE_SUBMIT) && es_keys_has(roles, ES_ROLE_BACKFILL));
  assert_false(es_keys_has(roles, ES_ROLE_READ));
  assert_int_equal(es_keys_find(k, "h2", 2, NULL, &roles), 1);
  assert_true(es_keys_has(roles, ES_ROLE_SUBMIT));
  assert_false(es_keys_has(roles, ES_ROLE_BACKFILL));
  assert_int_equal(es_keys_find(k, "h3", 2, NULL, &roles), 2);
  assert_true(es_keys_has(roles, ES_ROLE_BACKFILL) && es_keys_has(roles, ES_ROLE_REVIEW));
  es_keys_free(k);
}

static void test_env_keys(void **st) {
  (void)st;
  char err[256] = "";
  es_keys *k = es_keys_load(NULL, "demo:s1,otra:read+review:s2", err, sizeof err);
  assert_non_null(k);
  unsigned roles = 0;
  const char *agency = NULL;
  assert_int_equal(es_keys_find(k, "s2", 2, &agency, &roles), 1);
  assert_string_equal(agency, "otra");
  assert_int_equal(roles, ES_ROLE_READ | ES_ROLE_REVIEW);
  es_keys_free(k);
}

static void refused(const char *file_text, const char *env, const char *needle) {
  char err[256] = "";
  char *path = file_text ? write_tmp(file_text) : NULL;
  es_keys *k = es_keys_load(path, env, err, sizeof err);
  if (path) unlink(path);
  assert_null(k);
  assert_non_null(strstr(err, needle));
  assert_null(strstr(err, "secretkey")); /* never echoes a key */
}

static void test_refusals(void **st) {
  (void)st;
  char a[65], text[256];
  hex_sha256("x", a);
  snprintf(text, sizeof text, "demo:owner:%s\n", a);
  refused(text, NULL, ":1: expected"); /* unknown role */
  snprintf(text, sizeof text, "ok:%s\nde mo:%s\n", a, a);
  refused(text, NULL, ":2: expected");          /* bad agency name */
  refused("demo:abcd\n", NULL, ":1: expected"); /* short hash */
  refused(NULL, "demo:writer:secretkey", "api-keys (environment)");
  refused(NULL, "secretkey", "api-keys (environment)");
  char err[256] = "";
  assert_null(es_keys_load("/nonexistent/keys", NULL, err, sizeof err));
  assert_non_null(strstr(err, "cannot read"));
}

static void test_receipt(void **st) {
  (void)st;
  unsigned char key[ES_RECEIPT_KEY_BYTES], other[ES_RECEIPT_KEY_BYTES];
  memset(key, 7, sizeof key);
  memset(other, 8, sizeof other);
  char tok[ES_RECEIPT_TOKEN_MAX], id[ES_RECEIPT_ID_MAX + 1];
  assert_int_equal(es_receipt_token(key, "01JABCDEFGHJKMNPQRSTVWXYZ0", tok, sizeof tok), 0);
  assert_int_equal(strlen(tok), 26 + 1 + 22);
  assert_int_equal(es_receipt_verify(key, tok, strlen(tok), id, sizeof id), 0);
  assert_string_equal(id, "01JABCDEFGHJKMNPQRSTVWXYZ0");
  assert_int_equal(es_receipt_verify(other, tok, strlen(tok), id, sizeof id), -1);
  char bad[ES_RECEIPT_TOKEN_MAX];
  memcpy(bad, tok, sizeof bad);
  bad[3] = bad[3] == 'A' ? 'B' : 'A'; /* another id, same mac */
  assert_int_equal(es_receipt_verify(key, bad, strlen(bad), id, sizeof id), -1);
  memcpy(bad, tok, sizeof bad);
  bad[strlen(bad) - 2] ^= 1;
  assert_int_equal(es_receipt_verify(key, bad, strlen(bad), id, sizeof id), -1);
  assert_int_equal(es_receipt_verify(key, tok, strlen(tok) - 1, id, sizeof id), -1);
  assert_int_equal(es_receipt_verify(key, "x", 1, id, sizeof id), -1);
  assert_int_equal(es_receipt_token(key, "a.b", tok, sizeof tok), -1);
  assert_int_equal(es_receipt_token(key, "", tok, sizeof tok), -1);
  assert_int_equal(es_receipt_token(key, "abc", tok, 10), -1);
}

static void test_receipt_key_file(void **st) {
  (void)st;
  unsigned char key[ES_RECEIPT_KEY_BYTES];
  char err[256] = "";
  char *p = write_tmp("  0001020304050607080910111213141516171819202122232425262728293031\n");
  assert_int_equal(es_receipt_key_load(p, key, err, sizeof err), 0);
  unlink(p);
  assert_int_equal(key[31], 0x31);
  p = write_tmp("0001\n");
  assert_int_equal(es_receipt_key_load(p, key, err, sizeof err), -1);
  unlink(p);
  assert_non_null(strstr(err, "64 hex"));
}

#include <sodium.h>
static void hex_sha256(const char *key, char out[65]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
  sodium_bin2hex(out, 65, h, sizeof h);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_roles_from_file), cmocka_unit_test(test_env_keys),
                                     cmocka_unit_test(test_backfill_role),   cmocka_unit_test(test_refusals),
                                     cmocka_unit_test(test_receipt),         cmocka_unit_test(test_receipt_key_file)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
