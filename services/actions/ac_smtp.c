/* SMTP via libcurl; MIME by hand (tiny, and keeps headers under our control). */
#include "ac_smtp.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_http.h"

static int b64_lines(es_buf *b, const char *s) {
  size_t n = strlen(s);
  size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
  char *enc = malloc(cap);
  if (!enc) return -1;
  sodium_bin2base64(enc, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
  int rc = 0;
  for (size_t i = 0, L = strlen(enc); i < L && rc == 0; i += 76)
    rc = es_buf_printf(b, "%.*s\r\n", (int)(L - i < 76 ? L - i : 76), enc + i);
  free(enc);
  return rc;
}

/* RFC 2047 encoded-word so Spanish subjects survive. */
static int enc_subject(es_buf *b, const char *s) {
  size_t n = strlen(s);
  size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
  char *enc = malloc(cap);
  if (!enc) return -1;
  sodium_bin2base64(enc, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
  int rc = es_buf_printf(b, "Subject: =?UTF-8?B?%s?=\r\n", enc);
  free(enc);
  return rc;
}

int ac_mime_build(es_buf *out, const char *from, const char *const *to, const char *subject, const char *msgid,
                  const char *text, const char *html) {
  char date[64], boundary[48];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  unsigned char rnd[12];
  if (sodium_init() < 0) return -1;
  randombytes_buf(rnd, sizeof rnd);
  memcpy(boundary, "=_escucha_", 10);
  sodium_bin2hex(boundary + 10, sizeof boundary - 10, rnd, sizeof rnd);
  int rc = es_buf_printf(out, "Date: %s\r\nFrom: %s\r\nTo: ", date, from);
  for (int i = 0; to[i] && rc == 0; i++) rc = es_buf_printf(out, "%s%s", i ? ", " : "", to[i]);
  rc |= es_buf_puts(out, "\r\n");
  rc |= enc_subject(out, subject);
  if (msgid) rc |= es_buf_printf(out, "Message-ID: <%s>\r\n", msgid);
  rc |= es_buf_printf(out,
                      "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                      "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                      boundary, boundary);
  rc |= b64_lines(out, text ? text : "");
  rc |= es_buf_printf(
      out, "--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary);
  rc |= b64_lines(out, html ? html : "");
  rc |= es_buf_printf(out, "--%s--\r\n", boundary);
  return rc ? -1 : 0;
}

typedef struct {
  const char *p;
  size_t left;
} rd_ctx;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
  rd_ctx *r = ud;
  size_t k = sz * n < r->left ? sz * n : r->left;
  memcpy(buf, r->p, k);
  r->p += k;
  r->left -= k;
  return k;
}

ac_smtp_rc ac_smtp_send(const ac_smtp *s, const char *const *to, const char *msg, size_t len, char *err,
                        size_t errlen) {
  ac_http_global_init();
  CURL *h = curl_easy_init();
  struct curl_slist *rcpt = NULL;
  ac_smtp_rc rc = AC_SMTP_TRANSIENT;
  rd_ctx rd = {msg, len};
  char from[320];
  if (!h) goto cleanup;
  /* MAIL FROM wants the bare address: take what is inside <> if present. */
  const char *lt = strchr(s->from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt) snprintf(from, sizeof from, "<%.*s>", (int)(gt - lt - 1), lt + 1);
  else snprintf(from, sizeof from, "<%s>", s->from);
  for (int i = 0; to[i]; i++) {
    struct curl_slist *t = curl_slist_append(rcpt, to[i]);
    if (!t) goto cleanup;
    rcpt = t;
  }
  curl_easy_setopt(h, CURLOPT_URL, s->url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(h, CURLOPT_READDATA, &rd);
  curl_easy_setopt(h, CURLOPT_INFILESIZE, (long)len);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms > 0 ? s->timeout_ms : 30000L);
  /* Use STARTTLS when offered; refuse to fall back only when verification is on and it's smtps. */
  curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->tls_verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->tls_verify ? 2L : 0L);
  if (s->user) curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
  if (s->password) curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
  CURLcode cr = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (cr == CURLE_OK) rc = AC_SMTP_OK;
  else {
    snprintf(err, errlen, "smtp: %s (reply %ld)", curl_easy_strerror(cr), code);
    rc = code >= 500 ? AC_SMTP_PERMANENT : AC_SMTP_TRANSIENT;
  }
cleanup:
  curl_slist_free_all(rcpt);
  if (h) curl_easy_cleanup(h);
  return rc;
}
