#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile int es_stopping = 0;
volatile int es_reload_requested = 0;

int64_t es_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void es_realtime_after_ms(struct timespec *ts, long ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

uint64_t es_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t es_mono_ms(void) { return (int64_t)(es_mono_ns() / 1000000ull); }

/* ULID: 48-bit ms timestamp + 80 random bits; within one ms the random part
 * is incremented so ids stay sortable (the spec's monotonic mode). */
void es_ulid(char out[27]) {
  static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static uint64_t last_ms;
  static unsigned char last_rand[10];
  unsigned char b[16];

  pthread_mutex_lock(&mu);
  uint64_t ms = (uint64_t)es_now_ms();
  if (ms <= last_ms) {
    ms = last_ms;
    for (int i = 9; i >= 0 && ++last_rand[i] == 0; i--) {}
  } else {
    if (getrandom(last_rand, sizeof last_rand, 0) != (ssize_t)sizeof last_rand) {
      /* getrandom on Linux does not fail for 10 bytes once seeded; fall back anyway. */
      for (int i = 0; i < 10; i++) last_rand[i] = (unsigned char)rand();
    }
    last_ms = ms;
  }
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
  memcpy(b + 6, last_rand, 10);
  pthread_mutex_unlock(&mu);

  /* 128 bits -> 26 base32 chars, the first holding the top 3 bits */
  int bit = -2; /* 130 bits of output, 2 leading zero bits */
  for (int i = 0; i < 26; i++, bit += 5) {
    unsigned v = 0;
    for (int k = 0; k < 5; k++) {
      int pos = bit + k;
      unsigned bitval = 0;
      if (pos >= 0) bitval = (b[pos / 8] >> (7 - pos % 8)) & 1u;
      v = (v << 1) | bitval;
    }
    out[i] = B32[v];
  }
  out[26] = '\0';
}

void es_hex(const unsigned char *in, size_t n, char *out) {
  static const char H[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = H[in[i] >> 4];
    out[2 * i + 1] = H[in[i] & 15];
  }
  out[2 * n] = '\0';
}

char *es_strdup(const char *s) { return s ? strdup(s) : NULL; }

char *es_strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void *es_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) es_oom_abort("malloc", n);
  return p;
}

void *es_xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) es_oom_abort("calloc", count * size); /* an overflowing product also lands here */
  return p;
}

void *es_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) es_oom_abort("realloc", n);
  return q;
}

char *es_xstrdup(const char *s) { return s ? es_xstrndup(s, strlen(s)) : NULL; }

char *es_xstrndup(const char *s, size_t n) {
  char *p = es_strndup(s, n);
  if (!p) es_oom_abort("strndup", n + 1);
  return p;
}

int es_write_new_file(const char *path, const void *p, size_t n, unsigned mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return -1;
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      close(fd);
      errno = e;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return close(fd);
}

char *es_read_file(const char *path, size_t *len) {
  char *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  es_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (es_buf_append(&b, chunk, n) != 0) goto cleanup;
  if (ferror(f)) goto cleanup;
  if (es_buf_reserve(&b, 1) != 0) goto cleanup;
  b.data[b.len] = '\0';
  if (len) *len = b.len;
  data = b.data;
  b.data = NULL;
cleanup:
  es_buf_free(&b);
  fclose(f);
  return data;
}

int es_buf_reserve(es_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int es_buf_append(es_buf *b, const void *p, size_t n) {
  if (es_buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int es_buf_puts(es_buf *b, const char *s) { return es_buf_append(b, s, strlen(s)); }

int es_buf_printf(es_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n < sizeof tmp) return es_buf_append(b, tmp, (size_t)n);
  if (es_buf_reserve(b, (size_t)n) != 0) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

int es_buf_json_str(es_buf *b, const char *s, size_t n) {
  static const char H[] = "0123456789abcdef";
  if (es_buf_reserve(b, n + 2) != 0) return -1;
  b->data[b->len++] = '"';
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (es_buf_append(b, s + start, i - start) != 0) return -1;
    char esc[7] = {'\\', 0};
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = H[c >> 4];
        esc[5] = H[c & 15];
    }
    if (es_buf_append(b, esc, strlen(esc)) != 0) return -1;
    start = i + 1;
  }
  if (es_buf_append(b, s + start, n - start) != 0) return -1;
  return es_buf_append(b, "\"", 1);
}

void es_buf_free(es_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static void on_stop_signal(int sig) {
  (void)sig;
  es_stopping = 1;
}
static void on_hup(int sig) {
  (void)sig;
  es_reload_requested = 1;
}

void es_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
}
