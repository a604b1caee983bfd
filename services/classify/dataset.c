#include "dataset.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hashfeat.h"
#include "text.h"

const char *const CL_SENTIMENTS[3] = {"negative", "neutral", "positive"};

int cl_sentiment_index(const char *s) {
  if (!s) return -1;
  for (int i = 0; i < 3; i++)
    if (strcasecmp(s, CL_SENTIMENTS[i]) == 0) return i;
  return -1;
}

void cl_csv_free_fields(char **fields, size_t n) {
  for (size_t i = 0; i < n; i++) free(fields[i]);
  free(fields);
}

static int add_field(char ***fields, size_t *n, size_t *cap, const char *s, size_t len) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    char **f = realloc(*fields, c * sizeof *f);
    if (!f) return -1;
    *fields = f;
    *cap = c;
  }
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, s, len);
  copy[len] = '\0';
  (*fields)[(*n)++] = copy;
  return 0;
}

/* Unescapes one quoted field starting after the opening quote; returns the
 * index just past the closing quote, or (size_t)-1 if unterminated. */
static size_t quoted(const char *b, size_t len, size_t i, char *out, size_t *olen) {
  size_t o = 0;
  while (i < len) {
    if (b[i] == '"') {
      if (i + 1 < len && b[i + 1] == '"') {
        out[o++] = '"';
        i += 2;
        continue;
      }
      *olen = o;
      return i + 1;
    }
    out[o++] = b[i++];
  }
  return (size_t)-1;
}

int cl_csv_next(const char *b, size_t len, size_t *pos, char ***fields, size_t *nfields, char *err, size_t errlen) {
  size_t i = *pos, cap = 0;
  *fields = NULL;
  *nfields = 0;
  if (i >= len) return 0;
  char *tmp = malloc(len - i + 1);
  if (!tmp) goto oom;
  for (;;) {
    size_t flen = 0, start = i;
    if (i < len && b[i] == '"') {
      i = quoted(b, len, i + 1, tmp, &flen);
      if (i == (size_t)-1) {
        snprintf(err, errlen, "unterminated quoted field");
        goto fail;
      }
      while (i < len && b[i] != ',' && b[i] != '\n' && b[i] != '\r') i++; /* junk after quote */
      if (add_field(fields, nfields, &cap, tmp, flen)) goto oom;
    } else {
      while (i < len && b[i] != ',' && b[i] != '\n' && b[i] != '\r') i++;
      if (add_field(fields, nfields, &cap, b + start, i - start)) goto oom;
    }
    if (i < len && b[i] == ',') {
      i++;
      continue;
    }
    if (i < len && b[i] == '\r') i++;
    if (i < len && b[i] == '\n') i++;
    break;
  }
  free(tmp);
  *pos = i;
  return 1;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(tmp);
  cl_csv_free_fields(*fields, *nfields);
  *fields = NULL;
  *nfields = 0;
  return -1;
}

static uint64_t text_key(const char *text) {
  size_t n = 0;
  char *f = cl_fold(text, strlen(text), &n);
  if (!f) return cl_hash(text, strlen(text), 7);
  size_t o = 0;
  int space = 1;
  for (size_t i = 0; i < n; i++) { /* collapse whitespace so re-typed text still matches */
    int sp = f[i] == ' ' || f[i] == '\t' || f[i] == '\n' || f[i] == '\r';
    if (sp && space) continue;
    f[o++] = sp ? ' ' : f[i];
    space = sp;
  }
  while (o > 0 && f[o - 1] == ' ') o--;
  uint64_t k = cl_hash(f, o, 7);
  free(f);
  return k;
}

static int rehash(cl_dataset *ds) {
  size_t ns = ds->nslots ? ds->nslots * 2 : 1024;
  uint64_t *s = calloc(ns, sizeof *s);
  if (!s) return -1;
  for (size_t i = 0; i < ds->n; i++) {
    size_t h = (size_t)ds->ex[i].key & (ns - 1);
    while (s[h]) h = (h + 1) & (ns - 1);
    s[h] = i + 1;
  }
  free(ds->slots);
  ds->slots = s;
  ds->nslots = ns;
  return 0;
}

static char *dup_or_null(const char *s) {
  if (!s || !*s) return NULL;
  return strdup(s);
}

static void free_example(cl_example *e) {
  free(e->text);
  free(e->lang);
  free(e->category);
  for (int h = 0; h < CL_NHEADS; h++) free(e->label[h]);
}

/* Takes ownership of e's strings. Same text as an earlier row: the later
 * row's known labels replace the earlier ones. */
static int add_example(cl_dataset *ds, cl_example *e) {
  e->key = text_key(e->text);
  if ((ds->n + 1) * 2 > ds->nslots && rehash(ds)) goto oom;
  size_t h = (size_t)e->key & (ds->nslots - 1);
  while (ds->slots[h] && !ds->keep_duplicates) {
    cl_example *old = &ds->ex[ds->slots[h] - 1];
    if (old->key == e->key) {
      for (int k = 0; k < CL_NHEADS; k++)
        if (e->label[k]) free(old->label[k]), old->label[k] = e->label[k], e->label[k] = NULL;
      if (e->category) free(old->category), old->category = e->category, e->category = NULL;
      free_example(e);
      ds->overridden++;
      return 0;
    }
    h = (h + 1) & (ds->nslots - 1);
  }
  if (ds->n == ds->cap) {
    size_t c = ds->cap ? ds->cap * 2 : 256;
    cl_example *x = realloc(ds->ex, c * sizeof *x);
    if (!x) goto oom;
    ds->ex = x;
    ds->cap = c;
  }
  ds->ex[ds->n] = *e;
  if (!ds->keep_duplicates) ds->slots[h] = ds->n + 1;
  ds->n++;
  return 0;
oom:
  free_example(e);
  return -1;
}

enum { COL_TEXT, COL_CAT, COL_SUB, COL_SENT, COL_JOURNEY, COL_LANG, NCOLS };
static const char *const COLS[NCOLS] = {"text", "category", "subcategory", "sentiment", "journey_stage", "language"};

static int validate_labels(const cl_example *e, const char *name, size_t line, char *err, size_t errlen) {
  if (e->label[CL_HEAD_SENT] && cl_sentiment_index(e->label[CL_HEAD_SENT]) < 0) {
    snprintf(err, errlen, "%s:%zu: sentiment '%s' is not negative|neutral|positive", name, line,
             e->label[CL_HEAD_SENT]);
    return -1;
  }
  if (e->label[CL_HEAD_JOURNEY] && es_journey_index(e->label[CL_HEAD_JOURNEY]) < 0) {
    snprintf(err, errlen, "%s:%zu: journey_stage '%s' is not one of AWARENESS..RENEWAL", name, line,
             e->label[CL_HEAD_JOURNEY]);
    return -1;
  }
  return 0;
}

static int parse_csv(cl_dataset *ds, const char *name, const char *buf, size_t len, char *err, size_t errlen) {
  size_t pos = 0, nf = 0, line = 1;
  char **f = NULL, msg[128];
  int col[NCOLS], rc = -1;
  if (cl_csv_next(buf, len, &pos, &f, &nf, msg, sizeof msg) != 1) {
    snprintf(err, errlen, "%s: missing header line", name);
    return -1;
  }
  for (int c = 0; c < NCOLS; c++) {
    col[c] = -1;
    for (size_t i = 0; i < nf; i++)
      if (strcmp(f[i], COLS[c]) == 0 ||
          (i == 0 && strncmp(f[i], "\xEF\xBB\xBF", 3) == 0 && strcmp(f[i] + 3, COLS[c]) == 0))
        col[c] = (int)i;
  }
  cl_csv_free_fields(f, nf);
  if (col[COL_TEXT] < 0) {
    snprintf(err, errlen, "%s: header has no 'text' column", name);
    return -1;
  }
  for (;;) {
    line++;
    int r = cl_csv_next(buf, len, &pos, &f, &nf, msg, sizeof msg);
    if (r == 0) break;
    if (r < 0) {
      snprintf(err, errlen, "%s: record %zu: %s", name, line, msg);
      return -1;
    }
    const char *v[NCOLS];
    for (int c = 0; c < NCOLS; c++) v[c] = col[c] >= 0 && (size_t)col[c] < nf ? f[col[c]] : NULL;
    if (v[COL_TEXT] && *v[COL_TEXT]) {
      cl_example e = {.text = strdup(v[COL_TEXT]),
                      .lang = dup_or_null(v[COL_LANG]),
                      .category = dup_or_null(v[COL_CAT]),
                      .label = {dup_or_null(v[COL_SUB]), dup_or_null(v[COL_SENT]), dup_or_null(v[COL_JOURNEY])}};
      if (validate_labels(&e, name, line, err, errlen)) {
        free_example(&e);
        cl_csv_free_fields(f, nf);
        goto done;
      }
      if (!e.text || add_example(ds, &e)) {
        snprintf(err, errlen, "out of memory");
        cl_csv_free_fields(f, nf);
        goto done;
      }
    }
    cl_csv_free_fields(f, nf);
  }
  rc = 0;
done:
  return rc;
}

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_jsonl(cl_dataset *ds, const char *name, const char *buf, size_t len, char *err, size_t errlen) {
  size_t line = 0, i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    line++;
    json_error_t je;
    json_t *o = j > i ? json_loadb(buf + i, j - i, 0, &je) : NULL;
    i = j + 1;
    if (!o) continue; /* blank or broken line: a correction stream may hold noise */
    const char *text = jstr(o, "text");
    if (json_is_object(o) && text && *text) {
      cl_example e = {.text = strdup(text),
                      .lang = dup_or_null(jstr(o, "language")),
                      .category = dup_or_null(jstr(o, "category")),
                      .label = {dup_or_null(jstr(o, "subcategory")), dup_or_null(jstr(o, "sentiment")),
                                dup_or_null(jstr(o, "journey_stage"))}};
      if (validate_labels(&e, name, line, err, errlen)) {
        free_example(&e);
        json_decref(o);
        return -1;
      }
      if (!e.text || add_example(ds, &e)) {
        json_decref(o);
        snprintf(err, errlen, "out of memory");
        return -1;
      }
    }
    json_decref(o);
  }
  return 0;
}

int cl_dataset_parse(cl_dataset *ds, const char *name, const char *buf, size_t len, char *err, size_t errlen) {
  size_t nl = strlen(name);
  int jsonl = (nl > 6 && strcmp(name + nl - 6, ".jsonl") == 0) || (len > 0 && buf[0] == '{');
  return jsonl ? parse_jsonl(ds, name, buf, len, err, errlen) : parse_csv(ds, name, buf, len, err, errlen);
}

int cl_dataset_load(cl_dataset *ds, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  int rc = -1;
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, len = 0, n;
  buf = malloc(cap);
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      char *b = realloc(buf, cap *= 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
    }
  }
  if (!buf || ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    goto cleanup;
  }
  rc = cl_dataset_parse(ds, path, buf, len, err, errlen);
cleanup:
  free(buf);
  fclose(f);
  return rc;
}

void cl_dataset_free(cl_dataset *ds) {
  for (size_t i = 0; i < ds->n; i++) free_example(&ds->ex[i]);
  free(ds->ex);
  free(ds->slots);
  memset(ds, 0, sizeof *ds);
}
