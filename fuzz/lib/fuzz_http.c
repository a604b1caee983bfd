/* HTTP request parsing (http-parser + our callbacks and limits). */
#include <stdint.h>
#include <string.h>

#include <http_parser.h>

#include "http.h"

static void check(const es_http_req *r, void *ud) {
  size_t *total = ud;
  /* every field we hand to handlers is NUL-terminated and consistent */
  *total += strlen(r->path) + r->body_len + (r->query ? strlen(r->query) : 0);
  if (r->body[r->body_len] != '\0') __builtin_trap();
  (void)es_http_header(r, "content-type");
  /* values come trimmed of OWS; HEAD reaches handlers as GET */
  const char *a = es_http_header(r, "authorization");
  size_t n = a ? strlen(a) : 0;
  if (n && (a[0] == ' ' || a[0] == '\t' || a[n - 1] == ' ' || a[n - 1] == '\t')) __builtin_trap();
  if (r->head && r->method != HTTP_GET) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  es_http_limits lim = {.max_body = 4096, .max_header_bytes = 2048};
  size_t total = 0;
  int n = es_http_parse_buffer((const char *)data, size, &lim, check, &total);
  (void)n; /* any count or -status is a fine answer; check() looks at the requests */
  return 0;
}
