/* RFC 4180 CSV reader over an in-memory buffer: quoted fields, "" escapes,
 * embedded newlines, CRLF or LF, optional UTF-8 BOM. */
#ifndef ESCUCHA_INGEST_CSV_H
#define ESCUCHA_INGEST_CSV_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

typedef struct ing_csv_reader ing_csv_reader;

ES_MUST_CHECK
ing_csv_reader *ing_csv_open(const char *data, size_t len);
/* Next record: fields valid until the next call. 1 row, 0 end, -1 error
 * (unterminated quote) with ing_csv_error() describing it. */
ES_MUST_CHECK
int ing_csv_next(ing_csv_reader *r, char ***fields, size_t *nfields);
size_t ing_csv_line(const ing_csv_reader *r); /* line where the last record started */
/* Byte length of field i of the last record: a field holding a NUL byte is
 * longer than its strlen (the caller refuses it rather than read it cut). */
size_t ing_csv_field_len(const ing_csv_reader *r, size_t i);
const char *ing_csv_error(const ing_csv_reader *r);
void ing_csv_close(ing_csv_reader *r);
#endif
