#ifndef ESCUCHA_INGEST_IMPORT_H
#define ESCUCHA_INGEST_IMPORT_H
#include "pipeline.h"
/* `escucha-ingest import FILE.csv`: every row through the same pipeline as
 * HTTP. Columns by header name (text, channel, created_at, nps, csat,
 * service, external_id; a few common aliases). Returns the exit code. */
int ing_import_csv(uv_loop_t *loop, ing_pipeline *g, const char *path, const char *agency, int quiet);
#endif
