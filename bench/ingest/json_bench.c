/* Single-core cost of parsing one feedback line of bench/ingest/batch.lua: ingest's parser
 * (cJSON plus the strictness checks jansson had: UTF-8, \u0000, duplicate keys) beside
 * jansson's json_loadb with JSON_REJECT_DUPLICATES, the parser ingest used before.
 * Build and run from the repository root after `make bins`:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Ilib -Ibuild/gen -Iservices/ingest -o build/json_bench \
 *      bench/ingest/json_bench.c build/ingest/libingest.a build/libescucha.a \
 *      -ljansson -lcjson -lutf8proc -lxxhash -lprotobuf-c -lm && build/json_bench
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "item.h"

static const char LINE[] =
    "{\"text\":\"Lote 123456789-12 item 345: llevo tres semanas esperando respuesta sobre mi tr\xc3\xa1mite "
    "de licencia m\xc3\xa9"
    "dica en la sucursal del centro y nadie contesta el tel\xc3\xa9"
    "fono ni los correos, "
    "la atenci\xc3\xb3n fue lenta\",\"channel\":\"web\",\"service\":\"licencias\",\"csat\":2}";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  const int n = 1000000;
  size_t len = strlen(LINE), sink = 0;
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    json_t *o = json_loadb(LINE, len, JSON_REJECT_DUPLICATES, NULL);
    sink += json_string_length(json_object_get(o, "text"));
    json_decref(o);
  }
  double jansson = (now_s() - t0) / n * 1e9;
  t0 = now_s();
  for (int i = 0; i < n; i++) {
    cJSON *o = ing_json_parse(LINE, len, NULL);
    sink += strlen(cJSON_GetObjectItemCaseSensitive(o, "text")->valuestring);
    cJSON_Delete(o);
  }
  double ours = (now_s() - t0) / n * 1e9;
  printf("%-44s %9.0f ns %8s\n", "jansson json_loadb (reference)", jansson, "1.00");
  printf("%-44s %9.0f ns %8.2f\n", "ingest ing_json_parse (cJSON + checks)", ours, ours / jansson);
  return sink == 0;
}
