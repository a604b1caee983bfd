/* RFC 4180 CSV reader over an in-memory buffer: quoted fields, "" escapes,
 * embedded newlines, CRLF or LF, optional UTF-8 BOM. */
#ifndef INGEST_CSV_H
#define INGEST_CSV_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

typedef struct csv_reader csv_reader;

ES_MUST_CHECK
csv_reader *csv_open(const char *data, size_t len);
/* Next record: fields valid until the next call. 1 row, 0 end, -1 error
 * (unterminated quote) with csv_error() describing it. */
ES_MUST_CHECK
int csv_next(csv_reader *r, char ***fields, size_t *nfields);
size_t csv_line(const csv_reader *r); /* line where the last record started */
/* Byte length of field i of the last record: a field holding a NUL byte is
 * longer than its strlen (the caller refuses it rather than read it cut). */
size_t csv_field_len(const csv_reader *r, size_t i);
const char *csv_error(const csv_reader *r);
void csv_close(csv_reader *r);
#endif
