/* SMTP submission through libcurl (smtp:// or smtps://, STARTTLS when the
 * server offers it) and a small MIME builder for multipart/alternative. */
#ifndef ESCUCHA_ACTIONS_AC_SMTP_H
#define ESCUCHA_ACTIONS_AC_SMTP_H
#include <stddef.h>
#include "util.h"

typedef struct ac_smtp {
  const char *url;             /* smtp://host:port */
  const char *user, *password; /* optional */
  const char *from;
  int tls_verify;
  long timeout_ms;
} ac_smtp;

/* Builds an RFC 5322 message with text and html parts (each base64 so long
 * UTF-8 lines survive any relay). msgid without <>; may be NULL. */
ES_MUST_CHECK
int ac_mime_build(es_buf *out, const char *from, const char *const *to, const char *subject, const char *msgid,
                  const char *text, const char *html);
/* What a submission came to (the values are the old 0/-1/-2). */
typedef enum {
  AC_SMTP_OK = 0,
  AC_SMTP_TRANSIENT = -1, /* connection, 4xx reply: try again later */
  AC_SMTP_PERMANENT = -2, /* 5xx reply: the same message will not go through */
} ac_smtp_rc;
ES_MUST_CHECK
ac_smtp_rc ac_smtp_send(const ac_smtp *s, const char *const *to, const char *msg, size_t len, char *err, size_t errlen);
#endif
