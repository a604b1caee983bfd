#ifndef ESCUCHA_LIB_UTIL_H
#define ESCUCHA_LIB_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* Marks a function whose result must be looked at: an allocation that may
 * fail, a parse, an error code whose failure matters. -Werror makes an
 * ignored result a build error; (void) does not silence it, so handle it. */
#define ES_MUST_CHECK __attribute__((warn_unused_result))

int64_t es_now_ms(void);   /* wall clock, ms since epoch */
uint64_t es_mono_ns(void); /* monotonic */
struct timespec;
/* The wall-clock time ms from now: pthread_cond_timedwait's deadline. */
void es_realtime_after_ms(struct timespec *ts, long ms);
int64_t es_mono_ms(void); /* monotonic, ms (for deadlines kept as int64_t) */
/* ULID (26 chars Crockford base32 + NUL), monotonic within a process, thread-safe. */
void es_ulid(char out[27]);
void es_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* FNV-1a (32 bits) of s[0, n), continuing from h (ES_FNV1A_BASIS to start):
 * the small in-memory tables' hash (callers fold it to their size). */
#define ES_FNV1A_BASIS 2166136261u
static inline uint32_t es_fnv1a(uint32_t h, const void *s, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)s)[i]) * 16777619u;
  return h;
}
/* malloc'd copy; NULL in -> NULL out, and NULL when out of memory */
ES_MUST_CHECK char *es_strdup(const char *s);
ES_MUST_CHECK char *es_strndup(const char *s, size_t n);

/* Out of memory (docs/architecture.md): the es_x* wrappers log one JSON error
 * line ("out_of_memory") and abort(). For start-up and control-plane memory
 * (configuration, clients, registries, loaded models), where there is nobody to
 * refuse and limping on would only fail later and worse. A request's own
 * memory (ingest's items, HTTP requests) uses the checked calls above and
 * refuses that one request instead. Never return NULL (es_xstrdup: NULL in ->
 * NULL out); a size of 0 allocates 1 byte. */
ES_MUST_CHECK void *es_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
ES_MUST_CHECK void *es_xcalloc(size_t count, size_t size) __attribute__((malloc, returns_nonnull));
ES_MUST_CHECK void *es_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
ES_MUST_CHECK char *es_xstrdup(const char *s) __attribute__((malloc));
ES_MUST_CHECK char *es_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* The wrappers' end: the log line without allocating, then abort(). */
_Noreturn void es_oom_abort(const char *what, size_t n);
/* Reads a whole file; malloc'd, NUL-terminated; NULL on error (errno set). */
ES_MUST_CHECK char *es_read_file(const char *path, size_t *len);
/* Creates path (which must not exist) with mode and writes n bytes. 0 ok, -1 (errno set). */
ES_MUST_CHECK int es_write_new_file(const char *path, const void *p, size_t n, unsigned mode);

/* Growable byte buffer. */
typedef struct {
  char *data;
  size_t len, cap;
} es_buf;
int es_buf_reserve(es_buf *b, size_t extra);
/* 0 ok, -1 out of memory (b unchanged): a caller must not go on with a shorter text. */
ES_MUST_CHECK int es_buf_append(es_buf *b, const void *p, size_t n);
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
