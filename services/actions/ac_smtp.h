/* SMTP submission through libcurl (smtp:// or smtps://, STARTTLS when the
 * server offers it) and a small MIME builder for multipart/alternative. */
#ifndef ESCUCHA_AC_SMTP_H
#define ESCUCHA_AC_SMTP_H
#include <stddef.h>
#include "util.h"

typedef struct ac_smtp {
  const char *url;        /* smtp://host:port */
  const char *user, *password; /* optional */
  const char *from;
  int tls_verify;
  long timeout_ms;
} ac_smtp;

/* Builds an RFC 5322 message with text and html parts (each base64 so long
 * UTF-8 lines survive any relay). msgid without <>; may be NULL. */
int ac_mime_build(es_buf *out, const char *from, const char *const *to, const char *subject,
                  const char *msgid, const char *text, const char *html);
/* 0 ok; -1 transient (connection, 4xx reply); -2 permanent (5xx reply). */
int ac_smtp_send(const ac_smtp *s, const char *const *to, const char *msg, size_t len, char *err,
                 size_t errlen);
#endif
