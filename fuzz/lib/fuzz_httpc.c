/* The HTTP client's response parser (lib/httpc.h): what an upstream sends us.
 * Invariants: the same bytes give the same answer whether they come at once or
 * in pieces (an error may be named differently: which limit or rule trips
 * first depends on where http-parser's callbacks cut the bytes); a complete answer is final (2xx..9xx), within the limits,
 * NUL-terminated, with a printable Content-Type. */
#include <stdint.h>
#include <string.h>

#include "httpc.h"

static const es_httpc_limits LIM = {.max_body = 4096, .max_header_bytes = 2048};

/* step 0: at once; otherwise pieces of step bytes. eof after the bytes. */
static es_httpc_rc run(const char *d, size_t n, size_t step, es_httpc_parser **out) {
  es_httpc_parser *p = es_httpc_parser_new(&LIM);
  if (!p) return ES_HTTPC_ENOMEM;
  es_httpc_rc rc = ES_HTTPC_MORE;
  for (size_t i = 0; i < n && rc == ES_HTTPC_MORE;) {
    size_t k = step && step < n - i ? step : n - i;
    rc = es_httpc_parser_feed(p, d + i, k);
    i += k;
  }
  if (rc == ES_HTTPC_MORE) rc = es_httpc_parser_eof(p);
  *out = p;
  return rc;
}

static void check(const es_httpc_resp *r) {
  if (!r || r->status < 200 || r->status > 999 || r->body_len > LIM.max_body) __builtin_trap();
  if (r->body[r->body_len] != '\0' || !r->content_type) __builtin_trap();
  for (const char *c = r->content_type; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 17; /* the first byte picks the piece size */
  const char *d = (const char *)data + 1;
  size_t n = size - 1;
  es_httpc_parser *a = NULL, *b = NULL;
  es_httpc_rc ra = run(d, n, 0, &a), rb = run(d, n, step, &b);
  if (ra == ES_HTTPC_MORE || rb == ES_HTTPC_MORE) __builtin_trap(); /* EOF always decides */
  if (ra == ES_HTTPC_ENOMEM || rb == ES_HTTPC_ENOMEM) goto done;
  if ((ra == ES_HTTPC_OK) != (rb == ES_HTTPC_OK)) __builtin_trap();
  if (ra == ES_HTTPC_OK) {
    const es_httpc_resp *x = es_httpc_parser_resp(a), *y = es_httpc_parser_resp(b);
    check(x);
    check(y);
    if (x->status != y->status || x->body_len != y->body_len || memcmp(x->body, y->body, x->body_len) != 0 ||
        strcmp(x->content_type, y->content_type) != 0)
      __builtin_trap();
  } else if (es_httpc_parser_resp(a) || es_httpc_parser_resp(b)) {
    __builtin_trap(); /* no answer handed out after an error */
  }
done:
  es_httpc_parser_free(a);
  es_httpc_parser_free(b);
  return 0;
}
