/* Single-core throughput of the ingest text path on a ~300-byte Spanish complaint with PII.
 * Build and run from the repository root:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iservices/ingest -o build/redact_bench bench/ingest/redact_bench.c services/ingest/normalize.c services/ingest/redact.c services/ingest/lang.c -lutf8proc -lxxhash && build/redact_bench
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lang.h"
#include "normalize.h"
#include "redact.h"

static const char TEXT[] =
    "Buenas tardes,  llevo tres semanas esperando respuesta de la municipalidad por el "
    "reclamo de la basura en la calle Los Aromos.\r\nMi RUT es 12.345.678-5 y mi teléfono "
    "+56 9 1234 5678; también pueden escribirme a vecina.aromos@gmail.com. El camión no "
    "pasa desde el 12/05/2024 y pagamos $15.000 de derechos de aseo. ¿Hasta cuándo?";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One message through normalize -> redact -> fold -> hash (what ingest does per item). */
static size_t pipeline(const char *in, size_t len) {
  size_t n1 = 0, n2 = 0, n3 = 0;
  long bad;
  ing_redact_counts c;
  char hex[33];
  char *norm = ing_normalize_text(in, len, 1, &n1, &bad);
  char *red = norm ? ing_redact(norm, n1, &n2, &c) : NULL;
  char *fold = red ? ing_fold_text(red, n2, &n3) : NULL;
  if (fold) ing_content_hash("demo", fold, n3, hex);
  size_t r = n3 + c.rut + c.phone + c.email;
  free(norm);
  free(red);
  free(fold);
  return r;
}

static void report(const char *name, double dt, long iters, size_t len) {
  printf("%-28s %10.0f items/s %8.1f MB/s %7.0f ns/item\n", name, (double)iters / dt,
         (double)iters * (double)len / dt / 1e6, dt / (double)iters * 1e9);
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 500000;
  size_t len = sizeof TEXT - 1, sink = 0, n;
  long bad;
  ing_redact_counts c;

  printf("text: %zu bytes, %ld iterations, one core\n", len, iters);
  double t = now_s();
  for (long i = 0; i < iters; i++) {
    char *s = ing_normalize_text(TEXT, len, 1, &n, &bad);
    sink += n;
    free(s);
  }
  report("ing_normalize_text", now_s() - t, iters, len);
  t = now_s();
  for (long i = 0; i < iters; i++) {
    char *s = ing_redact(TEXT, len, &n, &c);
    sink += n;
    free(s);
  }
  report("ing_redact", now_s() - t, iters, len);
  t = now_s();
  for (long i = 0; i < iters; i++) {
    char *s = ing_fold_text(TEXT, len, &n);
    sink += n;
    free(s);
  }
  report("ing_fold_text", now_s() - t, iters, len);
  t = now_s();
  for (long i = 0; i < iters; i++) sink += ing_detect_language(TEXT, len)[0];
  report("ing_detect_language", now_s() - t, iters, len);
  t = now_s();
  for (long i = 0; i < iters; i++) sink += pipeline(TEXT, len);
  report("normalize+redact+fold+hash", now_s() - t, iters, len);
  return sink == 0;
}
