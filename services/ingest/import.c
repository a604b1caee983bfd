#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "channels.h"
#include "csv.h"
#include "log.h"
#include "util.h"

#define CHUNK 1000
#define MAX_INFLIGHT 20000
#define MAX_REASONS 32

enum { C_TEXT, C_CHANNEL, C_CREATED, C_NPS, C_CSAT, C_SERVICE, C_EXTID, C_LANG, NCOLS };
static const char *const ALIASES[NCOLS][6] = {
    {"text", "comment", "comments", "feedback", "comentario", "description"},
    {"channel", "canal", NULL},
    {"created_at", "date", "fecha", "timestamp", NULL},
    {"nps", "nps_score", NULL},
    {"csat", "csat_score", NULL},
    {"service", "servicio", NULL},
    {"external_id", "id", "folio", NULL},
    {"language", "idioma", NULL},
};

typedef struct {
  size_t rows, done, counts[5];
  char reasons[MAX_REASONS][160];
  size_t reason_n[MAX_REASONS];
  int nreasons;
  int tty;
  uint64_t t0;
} import_state;

static void note_reason(import_state *s, const ing_item *it) {
  char r[160];
  snprintf(r, sizeof r, "%.40s: %.110s", it->err_field[0] ? it->err_field : it->err_code, it->err_msg);
  for (int i = 0; i < s->nreasons; i++)
    if (strcmp(s->reasons[i], r) == 0) {
      s->reason_n[i]++;
      return;
    }
  if (s->nreasons < MAX_REASONS) {
    memcpy(s->reasons[s->nreasons], r, sizeof r);
    s->reason_n[s->nreasons++] = 1;
  }
}

static void on_done(ing_item *it, void *ud) {
  import_state *s = ud;
  s->done++;
  s->counts[it->state]++;
  if (it->state == ING_ITEM_REJECTED) {
    note_reason(s, it);
    if (s->counts[ING_ITEM_REJECTED] <= 10)
      es_info("import_row_rejected", "row=%zu %s: %s", it->index, it->err_field, it->err_msg);
  }
  ing_item_free(it);
}

static void progress(import_state *s, int final) {
  if (!s->tty) return;
  double secs = (double)(es_mono_ns() - s->t0) / 1e9;
  fprintf(stderr, "\r%zu/%zu rows  %.0f rows/s  accepted %zu  duplicate %zu  rejected %zu%s", s->done, s->rows,
          secs > 0 ? (double)s->done / secs : 0.0, s->counts[ING_ITEM_ACCEPTED], s->counts[ING_ITEM_DUPLICATE],
          s->counts[ING_ITEM_REJECTED], final ? "\n" : "   ");
}

static int parse_int_field(ing_item *it, const char *v, const char *name, int lo, int hi, int *has, int *dst) {
  if (!v || !*v) return 0;
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x < lo || x > hi)
    return ing_item_reject(it, "invalid", name, "%s must be an integer %d..%d", name, lo, hi);
  *has = 1;
  *dst = (int)x;
  return 0;
}

static const char *const COL_NAME[NCOLS] = {"text", "channel", "created_at",  "nps",
                                            "csat", "service", "external_id", "language"};
static const size_t COL_MAX[NCOLS] = {ING_MAX_TEXT, 32, 64, 8, 8, ING_MAX_FIELD, ING_MAX_EXTERNAL_ID, 8};

static void fill(ing_item *it, const ing_csv_reader *r, char **f, size_t nf, const int *col, const char *agency) {
#define COL(c) (col[c] >= 0 && (size_t)col[c] < nf ? f[col[c]] : NULL)
  const char *v;
  it->agency = strdup(agency);
  it->channel = ESCUCHA__V1__CHANNEL__OTHER;
  /* every column we read: no NUL (a C string would cut it), within its limit (refused, not
   * cut); UTF-8 too, except the text, whose invalid bytes --utf8 decides (reject or repair) */
  for (int c = 0; c < NCOLS; c++) {
    if (!(v = COL(c))) continue;
    size_t n = ing_csv_field_len(r, (size_t)col[c]);
    int bad = 0;
    if (c != C_TEXT) bad = ing_ch_check_str(it, COL_NAME[c], v, n, COL_MAX[c]);
    else if (strlen(v) != n)
      bad = ing_item_reject(it, "invalid", "text", "text contains a NUL byte (at byte %zu)", strlen(v));
    else if (n > ING_MAX_TEXT)
      bad = ing_item_reject(it, "too_long", "text", "text is %zu bytes; at most %d", n, ING_MAX_TEXT);
    if (bad) return;
  }
  v = COL(C_TEXT);
  if (!v || !*v) {
    ing_item_reject(it, "invalid", "text", "text is empty");
    return;
  }
  it->text = strdup(v);
  if ((v = COL(C_CHANNEL)) && *v && (it->channel = ing_channel_parse(v)) < 0) {
    ing_item_reject(it, "invalid", "channel", "unknown channel");
    return;
  }
  if ((v = COL(C_CREATED)) && *v && ing_parse_time(v, &it->created_at) != 0) {
    ing_item_reject(it, "invalid", "created_at", "unrecognised date (use RFC 3339, YYYY-MM-DD or DD/MM/YYYY)");
    return;
  }
  if (parse_int_field(it, COL(C_NPS), "nps", 0, 10, &it->has_nps, &it->nps) ||
      parse_int_field(it, COL(C_CSAT), "csat", 1, 5, &it->has_csat, &it->csat))
    return;
  if ((v = COL(C_SERVICE)) && *v) it->service = strdup(v);
  if ((v = COL(C_EXTID)) && *v) it->external_id = strdup(v);
  if ((v = COL(C_LANG)) && *v) it->language = strdup(v);
#undef COL
}

static int map_header(char **f, size_t nf, int *col) {
  for (int c = 0; c < NCOLS; c++) {
    col[c] = -1;
    for (size_t i = 0; i < nf && col[c] < 0; i++)
      for (int a = 0; a < 6 && ALIASES[c][a]; a++)
        if (strcasecmp(f[i], ALIASES[c][a]) == 0) {
          col[c] = (int)i;
          break;
        }
  }
  return col[C_TEXT] >= 0 ? 0 : -1;
}

int ing_import_csv(uv_loop_t *loop, ing_pipeline *g, const char *path, const char *agency, int trust_created_at,
                   int quiet) {
  size_t len = 0;
  char *data = es_read_file(path, &len);
  if (!data) {
    fprintf(stderr, "import: cannot read %s\n", path);
    return 2;
  }
  import_state s = {.tty = !quiet && isatty(2), .t0 = es_mono_ns()};
  for (size_t i = 0; i < len; i++) s.rows += data[i] == '\n';
  ing_csv_reader *r = ing_csv_open(data, len);
  char **f;
  size_t nf;
  int col[NCOLS], rc = 0, st;
  if (!r || ing_csv_next(r, &f, &nf) != 1 || map_header(f, nf, col) != 0) {
    fprintf(stderr, "import: %s: the header must name a text column (text, comment, feedback, ...)\n", path);
    rc = 2;
    goto cleanup;
  }
  s.rows = s.rows ? s.rows - 1 : 0;
  size_t row = 1, submitted = 0;
  ing_item *chunk[CHUNK];
  size_t nc = 0;
  while ((st = ing_csv_next(r, &f, &nf)) == 1) {
    row++;
    if (nf == 1 && !f[0][0]) continue; /* blank line */
    ing_item *it = calloc(1, sizeof *it);
    if (!it) break;
    it->done = on_done;
    it->ctx = &s;
    it->index = row;
    fill(it, r, f, nf, col, agency);
    it->trust_created_at = trust_created_at;
    chunk[nc++] = it;
    if (nc == CHUNK) {
      ing_pipeline_submit_many(g, chunk, nc);
      submitted += nc;
      nc = 0;
      while (submitted - s.done > MAX_INFLIGHT) uv_run(loop, UV_RUN_ONCE);
      progress(&s, 0);
    }
  }
  if (st < 0) fprintf(stderr, "import: %s: %s\n", path, ing_csv_error(r));
  if (nc) ing_pipeline_submit_many(g, chunk, nc), submitted += nc;
  while (s.done < submitted) uv_run(loop, UV_RUN_ONCE);
  if (s.rows < s.done) s.rows = s.done;
  progress(&s, 1);
  printf("import %s: %zu rows: accepted %zu, duplicate %zu, rejected %zu, unavailable %zu\n", path, s.done,
         s.counts[ING_ITEM_ACCEPTED], s.counts[ING_ITEM_DUPLICATE], s.counts[ING_ITEM_REJECTED],
         s.counts[ING_ITEM_UNAVAILABLE]);
  for (int i = 0; i < s.nreasons; i++) printf("  rejected %zu x %s\n", s.reason_n[i], s.reasons[i]);
  rc = s.counts[ING_ITEM_UNAVAILABLE] || st < 0 ? 1 : 0;
cleanup:
  ing_csv_close(r);
  free(data);
  return rc;
}
