/* libcurl wrapper with retry/backoff and a circuit breaker (see ac_http.h). */
#include "ac_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
void ac_http_global_init(void) { pthread_once(&g_curl_once, curl_init_once); }

static void real_sleep(void *ctx, long ms) {
  (void)ctx;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

void ac_retry_defaults(ac_retry *r) {
  memset(r, 0, sizeof *r);
  r->max_attempts = 5;
  r->base_ms = 500;
  r->max_ms = 30000;
  r->retry_after_cap_ms = 120000;
  r->timeout_ms = 15000;
  r->connect_timeout_ms = 5000;
  r->tls_verify = 1;
}

/* xorshift per thread: jitter needs spread, not cryptographic quality. */
static _Thread_local uint64_t g_rng;
static uint64_t rng_next(void) {
  if (!g_rng) g_rng = (uint64_t)es_mono_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&g_rng;
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

long ac_backoff_ms(const ac_retry *r, int attempt) {
  long d = r->base_ms > 0 ? r->base_ms : 1;
  for (int i = 0; i < attempt && d < r->max_ms; i++) d *= 2;
  if (r->max_ms > 0 && d > r->max_ms) d = r->max_ms;
  long half = d / 2;
  return half + (long)(rng_next() % (uint64_t)(d - half + 1));
}

void ac_breaker_init(ac_breaker *b, int threshold, long cooldown_ms) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
  b->threshold = threshold > 0 ? threshold : 5;
  b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 30000;
}

void ac_breaker_destroy(ac_breaker *b) { pthread_mutex_destroy(&b->mu); }

static int64_t br_now(ac_breaker *b) { return b->now_ms ? b->now_ms() : es_mono_ms(); }

int ac_breaker_allow(ac_breaker *b) {
  int ok = 1;
  pthread_mutex_lock(&b->mu);
  if (b->open_until) {
    if (br_now(b) < b->open_until || b->probing) ok = 0;
    else b->probing = 1; /* half-open: this caller is the probe */
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

void ac_breaker_record(ac_breaker *b, int ok) {
  pthread_mutex_lock(&b->mu);
  if (ok) {
    b->failures = 0;
    b->open_until = 0;
  } else if (++b->failures >= b->threshold || b->probing) {
    b->open_until = br_now(b) + b->cooldown_ms;
  }
  b->probing = 0;
  pthread_mutex_unlock(&b->mu);
}

int ac_breaker_is_open(ac_breaker *b) {
  pthread_mutex_lock(&b->mu);
  int open = b->open_until && br_now(b) < b->open_until;
  pthread_mutex_unlock(&b->mu);
  return open;
}

int ac_http_retryable(long status, int idempotent) {
  /* 429 and 503 mean "not processed, come back later" for every vendor we
   * speak to; other 5xx may have half-happened, so a non-idempotent create is
   * not blindly repeated (the flow searches for the key first). */
  if (status == 429 || status == 503) return 1;
  if (!idempotent) return 0;
  return status == 408 || status == 500 || status == 502 || status == 504;
}

int ac_http_permanent(long status) {
  if (status >= 300 && status < 400) return 1; /* redirects are not followed: a wrong URL */
  if (status < 400 || status >= 500) return 0;
  return status != 408 && status != 409 && status != 423 && status != 425 && status != 429;
}

long ac_parse_retry_after(const char *v, int64_t now_wall_ms) {
  while (v && isspace((unsigned char)*v)) v++;
  if (!v || !*v) return -1;
  if (isdigit((unsigned char)*v)) {
    char *end;
    double s = strtod(v, &end); /* some vendors send fractional seconds */
    if (s < 0 || s > 86400.0) return -1;
    return (long)(s * 1000.0);
  }
  time_t t = curl_getdate(v, NULL);
  if (t == (time_t)-1) return -1;
  int64_t d = (int64_t)t * 1000 - now_wall_ms;
  return d < 0 ? 0 : (long)d;
}

typedef struct {
  long retry_after_ms;
} hdr_ctx;

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  hdr_ctx *h = ud;
  size_t len = sz * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
    char v[128];
    size_t vl = len - (sizeof name - 1);
    if (vl >= sizeof v) vl = sizeof v - 1;
    memcpy(v, p + sizeof name - 1, vl);
    v[vl] = 0;
    for (char *e = v + strlen(v); e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '); e--) e[-1] = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->retry_after_ms = ac_parse_retry_after(v, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  }
  return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  es_buf *b = ud;
  if (b->len + sz * n > (size_t)8 << 20) return 0; /* 8 MiB: no vendor answer is that big */
  return es_buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

ac_http_transport ac_http_transport_override = NULL;

/* One attempt. Returns curl code; fills status/body/retry-after. */
static CURLcode perform_once(const ac_retry *r, const ac_http_req *req, ac_http_resp *resp) {
  if (ac_http_transport_override) {
    resp->status = 0;
    resp->retry_after_ms = -1;
    return ac_http_transport_override(req, resp) == 0 ? CURLE_OK : CURLE_COULDNT_CONNECT;
  }
  CURL *h = curl_easy_init();
  struct curl_slist *hl = NULL;
  CURLcode rc = CURLE_OUT_OF_MEMORY;
  hdr_ctx hc = {-1};
  if (!h) goto cleanup;
  for (const char *const *x = req->headers; x && *x; x++) {
    struct curl_slist *t = curl_slist_append(hl, *x);
    if (!t) goto cleanup;
    hl = t;
  }
  /* Some servers stall on Expect: 100-continue for small JSON bodies. */
  struct curl_slist *t = curl_slist_append(hl, "Expect:");
  if (!t) goto cleanup;
  hl = t;
  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
  if (strcmp(req->method, "GET") == 0) curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  if (req->body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_USERAGENT,
                   "escucha-actions/"
                   "0.1");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hc);
  rc = curl_easy_perform(h);
  resp->status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  resp->retry_after_ms = hc.retry_after_ms;
cleanup:
  curl_slist_free_all(hl);
  if (h) curl_easy_cleanup(h);
  return rc;
}

int ac_http_do(const ac_retry *r, ac_breaker *b, const ac_http_req *req, ac_http_resp *resp, char *err, size_t errlen) {
  ac_http_global_init();
  memset(resp, 0, sizeof *resp);
  resp->retry_after_ms = -1;
  if (b && !ac_breaker_allow(b)) {
    snprintf(err, errlen, "circuit open");
    return AC_HTTP_BREAKER;
  }
  int attempts = r->max_attempts > 0 ? r->max_attempts : 1;
  for (int i = 0; i < attempts; i++) {
    resp->body.len = 0;
    resp->attempts = i + 1;
    CURLcode rc = perform_once(r, req, resp);
    int retry;
    if (rc != CURLE_OK) {
      /* Only a refused/unresolved connection proves nothing was sent. */
      retry = req->idempotent || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
      snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    } else if (ac_http_retryable(resp->status, req->idempotent)) {
      retry = 1;
      snprintf(err, errlen, "HTTP %ld", resp->status);
    } else {
      if (b) ac_breaker_record(b, resp->status < 500);
      if (resp->status >= 500) snprintf(err, errlen, "HTTP %ld", resp->status);
      return resp->status >= 500 ? AC_HTTP_TRANSIENT : AC_HTTP_OK;
    }
    if (!retry || i + 1 >= attempts) break;
    long wait = ac_backoff_ms(r, i);
    if (resp->retry_after_ms >= 0) {
      if (resp->retry_after_ms > r->retry_after_cap_ms) break; /* too long: reschedule instead */
      if (resp->retry_after_ms > wait) wait = resp->retry_after_ms;
    }
    if (r->sleep_ms) r->sleep_ms(r->sleep_ctx, wait);
    else real_sleep(NULL, wait);
  }
  if (b) ac_breaker_record(b, 0);
  return AC_HTTP_TRANSIENT;
}

void ac_http_resp_free(ac_http_resp *resp) { es_buf_free(&resp->body); }
