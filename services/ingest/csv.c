#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ing_csv_reader {
  const char *p, *end;
  size_t line, rec_line;
  es_buf field; /* all fields of the record, NUL-separated */
  size_t *offs;
  char **ptrs;
  size_t nf, cap;
  char err[96];
};

ing_csv_reader *ing_csv_open(const char *data, size_t len) {
  ing_csv_reader *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->p = data;
  r->end = data + len;
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) r->p += 3;
  r->line = 1;
  return r;
}

static int end_field(ing_csv_reader *r) {
  if (r->nf == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    size_t *o = realloc(r->offs, cap * sizeof *o);
    if (!o) return -1;
    r->offs = o;
    char **p = realloc(r->ptrs, cap * sizeof *p);
    if (!p) return -1;
    r->ptrs = p;
    r->cap = cap;
  }
  if (es_buf_append(&r->field, "", 1) != 0) return -1; /* NUL terminator */
  r->offs[r->nf++] = r->field.len;                     /* start of the next field */
  return 0;
}

int ing_csv_next(ing_csv_reader *r, char ***fields, size_t *nfields) {
  if (r->p >= r->end) return 0;
  r->field.len = 0;
  r->nf = 0;
  r->rec_line = r->line;
  int quoted = 0, at_start = 1;
  for (;;) {
    if (r->p >= r->end) {
      if (quoted) {
        snprintf(r->err, sizeof r->err, "unterminated quoted field starting on line %zu", r->rec_line);
        return -1;
      }
      break;
    }
    char c = *r->p++;
    if (quoted) {
      if (c == '"') {
        if (r->p < r->end && *r->p == '"') {
          r->p++;
          if (es_buf_append(&r->field, "\"", 1)) return -1;
        } else quoted = 0;
      } else {
        if (c == '\n') r->line++;
        if (es_buf_append(&r->field, &c, 1)) return -1;
      }
      continue;
    }
    if (c == '"' && at_start) {
      quoted = 1;
      at_start = 0;
      continue;
    }
    if (c == ',') {
      if (end_field(r)) return -1;
      at_start = 1;
      continue;
    }
    if (c == '\r' && r->p < r->end && *r->p == '\n') continue;
    if (c == '\n') {
      r->line++;
      break;
    }
    at_start = 0;
    if (es_buf_append(&r->field, &c, 1)) return -1;
  }
  if (end_field(r)) return -1;
  r->ptrs[0] = r->field.data;
  for (size_t i = 1; i < r->nf; i++) r->ptrs[i] = r->field.data + r->offs[i - 1];
  *fields = r->ptrs;
  *nfields = r->nf;
  return 1;
}

size_t ing_csv_line(const ing_csv_reader *r) { return r->rec_line; }

size_t ing_csv_field_len(const ing_csv_reader *r, size_t i) {
  if (i >= r->nf) return 0;
  return r->offs[i] - 1 - (i ? r->offs[i - 1] : 0); /* offs[i] is past field i's terminator */
}
const char *ing_csv_error(const ing_csv_reader *r) { return r->err; }

void ing_csv_close(ing_csv_reader *r) {
  if (!r) return;
  es_buf_free(&r->field);
  free(r->offs);
  free(r->ptrs);
  free(r);
}
