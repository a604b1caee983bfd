/* libFuzzer: escucha-api's request parsing. The input is "<path>\n<query>"
 * (no newline: all path). Checks: a matched path parameter stays within its
 * charset and length; decoded query values are UTF-8 without control
 * characters, within their limits, names unique; a cursor that decodes
 * re-encodes to the same text (one encoding per position); a static file name
 * never climbs out of the root; base64url round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "static.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static int clean(const unsigned char *s) {
  for (; *s; s++)
    if (*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  if (strlen(buf) != size) { /* NUL inside: the HTTP layer never hands one over */
    free(buf);
    return 0;
  }
  char *nl = strchr(buf, '\n');
  const char *path = buf, *query = NULL;
  if (nl) *nl = '\0', query = nl + 1;

  api_route r;
  int rc = api_route_match(path, &r);
  CHECK(r.id >= API_R_NONE && r.id < API_R_COUNT && r.name);
  if (rc == 0) {
    CHECK(strlen(r.arg) <= API_ARG_MAX);
    for (const char *a = r.arg; *a; a++)
      CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./", *a));
    if (r.id != API_R_TOPIC_SERIES) CHECK(!strchr(r.arg, '/'));
  }

  char rel[API_STATIC_PATH_MAX + 32];
  if (api_static_path(path, rel, sizeof rel) == 0) {
    /* no segment starts with a dot: no "..", no hidden files */
    CHECK(rel[0] != '/' && !strstr(rel, "//") && !strstr(rel, "/."));
    CHECK(rel[0] != '.' && api_static_type(rel));
  }

  api_params p = {0};
  api_err e = {0};
  if (api_params_parse(query ? query : path, &p, &e) == API_OK) {
    CHECK(p.n <= 32);
    for (size_t i = 0; i < p.n; i++) {
      CHECK(strlen(p.kv[i].name) >= 1 && strlen(p.kv[i].name) <= API_PARAM_NAME_MAX);
      CHECK(strlen(p.kv[i].value) <= API_PARAM_VALUE_MAX && clean((const unsigned char *)p.kv[i].value));
      for (size_t j = 0; j < i; j++) CHECK(strcmp(p.kv[i].name, p.kv[j].name) != 0);
    }
    long lim;
    api_err le = {0};
    if (api_limit(&p, 50, 500, &lim, &le) == API_OK) CHECK(lim >= 1 && lim <= 500);
    else CHECK(le.status == 400 && strcmp(le.field, "limit") == 0);
    const char *c = api_param(&p, "cursor");
    if (c) {
      int64_t us;
      char id[80], again[API_CURSOR_MAX + 1];
      if (api_cursor_decode(c, &us, id, sizeof id) == 0) {
        CHECK(api_cursor_encode(us, id, again, sizeof again) == 0);
        /* leading zeros or "+" in the number would give a second text for one position */
        int64_t us2;
        char id2[80];
        CHECK(api_cursor_decode(again, &us2, id2, sizeof id2) == 0 && us2 == us && strcmp(id2, id) == 0);
      }
    }
    for (size_t i = 0; i < p.n; i++) (void)api_rfc3339_ok(p.kv[i].value);
  } else {
    CHECK(e.status == 400 || e.status == 503);
    if (e.status == 400) CHECK(e.field && e.message[0]);
  }
  api_params_free(&p);

  /* base64url round trip of the raw bytes */
  size_t n = size > 600 ? 600 : size;
  char enc[820];
  unsigned char dec[620];
  CHECK(api_b64url_encode(data, n, enc, sizeof enc) == 0);
  long dn = api_b64url_decode(enc, strlen(enc), dec, sizeof dec);
  CHECK(dn == (long)n && memcmp(dec, data, n) == 0);
  free(buf);
  return 0;
}
