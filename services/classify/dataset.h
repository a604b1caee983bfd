/* Labelled data: RFC 4180 CSV with header-named columns
 *   text (required), category, subcategory, sentiment, journey_stage, language
 * (other columns such as id are ignored; an empty cell = unknown for that
 * head), or JSON lines as published on escucha.corrections.v1:
 *   {"id":..,"text":..,"category":..,"subcategory":..,"sentiment":..}
 * Files are loaded in order; a row whose folded text equals an earlier row's
 * overrides that row's non-empty labels (operator corrections win). */
#ifndef ESCUCHA_CLASSIFY_DATASET_H
#define ESCUCHA_CLASSIFY_DATASET_H
#include "taxonomy.h" /* ES_JOURNEYS, es_journey_index (lib) */
#include "util.h"     /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

enum { CL_HEAD_SUB = 0, CL_HEAD_SENT = 1, CL_HEAD_JOURNEY = 2, CL_NHEADS = 3 };

typedef struct {
  char *text;
  char *lang;             /* may be NULL */
  char *label[CL_NHEADS]; /* subcategory id, sentiment, journey stage; NULL = unknown */
  char *category;         /* informational; the category follows the subcategory */
  uint64_t key;           /* hash of the folded, space-collapsed text */
} cl_example;

typedef struct {
  cl_example *ex;
  size_t n, cap;
  uint64_t *slots; /* open addressing: key -> index+1 (0 empty) */
  size_t nslots;
  size_t overridden;   /* rows replaced by a later file (corrections) */
  int keep_duplicates; /* set before loading to keep every row (evaluation) */
} cl_dataset;

/* One CSV record from buf at *pos: fields malloc'd into *fields (count
 * *nfields; caller frees each and the array with cl_csv_free_fields).
 * Returns 1 record, 0 end of input, -1 error (unterminated quote) with msg. */
int cl_csv_next(const char *buf, size_t len, size_t *pos, char ***fields, size_t *nfields, char *err, size_t errlen);
void cl_csv_free_fields(char **fields, size_t n);

/* Parses a CSV/JSONL buffer (name is used in messages; jsonl when name ends
 * in .jsonl or the buffer starts with '{'). 0 ok, -1 error with message. */
ES_MUST_CHECK
int cl_dataset_parse(cl_dataset *ds, const char *name, const char *buf, size_t len, char *err, size_t errlen);
ES_MUST_CHECK
int cl_dataset_load(cl_dataset *ds, const char *path, char *err, size_t errlen);
void cl_dataset_free(cl_dataset *ds);
/* Canonical sentiment "negative"/"neutral"/"positive" index 0..2 or -1. */
int cl_sentiment_index(const char *s);
extern const char *const CL_SENTIMENTS[3];
#endif
