#ifndef ESCUCHA_INGEST_IMPORT_H
#define ESCUCHA_INGEST_IMPORT_H
#include "pipeline.h"
/* `escucha-ingest import FILE.csv`: every row through the same pipeline as
 * HTTP. Columns by header name (text, channel, created_at, nps, csat,
 * service, external_id; a few common aliases). trust_created_at: the file is
 * the agency's own history, each row filed at its created_at (--trust-created-at,
 * docs/ingest.md "History"). Returns the exit code. */
int ing_import_csv(uv_loop_t *loop, ing_pipeline *g, const char *path, const char *agency, int trust_created_at,
                   int quiet);
#endif
