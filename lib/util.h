#ifndef ESCUCHA_UTIL_H
#define ESCUCHA_UTIL_H
#include <stddef.h>
#include <stdint.h>

int64_t es_now_ms(void);              /* wall clock, ms since epoch */
uint64_t es_mono_ns(void);            /* monotonic */
/* ULID (26 chars Crockford base32 + NUL), monotonic within a process, thread-safe. */
void es_ulid(char out[27]);
void es_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* malloc'd copy; NULL in -> NULL out */
char *es_strdup(const char *s);
char *es_strndup(const char *s, size_t n);
/* Reads a whole file; malloc'd, NUL-terminated; NULL on error (errno set). */
char *es_read_file(const char *path, size_t *len);

/* Growable byte buffer. */
typedef struct { char *data; size_t len, cap; } es_buf;
int es_buf_reserve(es_buf *b, size_t extra);
int es_buf_append(es_buf *b, const void *p, size_t n);
int es_buf_puts(es_buf *b, const char *s);
int es_buf_printf(es_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes + escapes). */
int es_buf_json_str(es_buf *b, const char *s, size_t n);
void es_buf_free(es_buf *b);

/* SIGTERM/SIGINT set this flag (and wake a uv loop if registered). */
extern volatile int es_stopping;
void es_install_signals(void);
/* SIGHUP sets this flag; consumer reloads. */
extern volatile int es_reload_requested;
#endif
