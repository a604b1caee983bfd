/* ISO 9001:2015 evidence report (docs/actions.md "ISO 9001 evidence"):
 * `escucha-actions iso-report --agency A --from D --to D [--out DIR]` writes
 * one self-contained HTML report for an auditor and one CSV file per record
 * table, mapping Escucha's records to clauses 9.1.2 (customer satisfaction),
 * 10.2 (nonconformity and corrective action) and 7.5 (documented
 * information: the audit trail and its hash chain). */
#ifndef ESCUCHA_ACTIONS_ISO_H
#define ESCUCHA_ACTIONS_ISO_H
#include <libpq-fe.h>
#include <stddef.h>

#include "util.h"

/* One record table: a CSV file and a table (or record cards) in the HTML.
 * Every cell is a string ("" for none). */
typedef struct ac_iso_table {
  const char *file;          /* CSV file name (borrowed, a literal) */
  int ncols;                 /* columns */
  const char *const *head;   /* CSV header names (borrowed) */
  const char *const *labels; /* HTML labels (borrowed) */
  char **cells;              /* owned: nrows * ncols malloc'd strings */
  int nrows, cap;
} ac_iso_table;

/* Appends a row of t->ncols values (copied; NULL -> ""). Aborts when out of
 * memory (a one-shot command: nothing to refuse). */
void ac_iso_table_add(ac_iso_table *t, const char *const *row);
const char *ac_iso_cell(const ac_iso_table *t, int row, int col);
void ac_iso_table_free(ac_iso_table *t);

/* Everything the report shows. Strings owned unless said otherwise. */
typedef struct ac_iso_report {
  char agency[128], from[11], to[11], generated[32];                       /* dates "YYYY-MM-DD", to inclusive */
  ac_iso_table sat;                                                        /* 9.1.2: one row per ISO week */
  long long fb_total, fb_negative, nps_p, nps_pa, nps_d, csat_n, csat_sat; /* the period's totals */
  ac_iso_table nc;                                  /* 10.2: one row per plan (column 0: plan id) */
  ac_iso_table tickets;                             /* 10.2: one row per ticket (column 0: plan id) */
  int n_effective, n_not_effective, n_inconclusive; /* verdicts of the plans listed */
  int pooled_n;                                     /* plans pooled (with exposure on both sides) */
  int pooled_ok;                                    /* 0: undefined (no complaint on one side) */
  double pooled_rr, pooled_lo, pooled_hi;           /* Mantel-Haenszel rate ratio, 95 % interval */
  ac_iso_table audit_counts;                        /* 7.5: entity, action, rows, first, last */
  ac_iso_table audit_rows;                          /* 7.5: the agency's rows in the period */
  int chain_rc;                                     /* ac_audit_verify: 0 intact, 1 broken, -1 error */
  long long chain_rows, chain_bad_id, head_id;      /* head: the latest row of the whole log */
  char chain_why[300], head_hash[65], head_at[32];
  char lang[3]; /* the HTML's language: "es" (default) or "en" */
} ac_iso_report;

/* Initialises the tables' columns (empty report, Spanish). */
void ac_iso_report_init(ac_iso_report *r);
/* The HTML's language, "es" or "en" (labels and text; CSV headers stay). 0 ok, -1 other. */
int ac_iso_report_lang(ac_iso_report *r, const char *lang);
void ac_iso_report_free(ac_iso_report *r);

/* Loads the report of agency for [from, to] (whole UTC days) from pg, in one
 * read-only repeatable-read transaction. 0 ok, -1 database error (why). */
ES_MUST_CHECK
int ac_iso_load(PGconn *pg, const char *agency, const char *from, const char *to, ac_iso_report *r, char *why,
                size_t whylen);

/* Appends s as one CSV field (RFC 4180: quoted when it holds a comma, quote,
 * CR or LF or spaces at its ends, quotes doubled; a text that a spreadsheet
 * would run as a formula, starting with = + - @ TAB CR and not a number,
 * gets a leading apostrophe). 0 ok, -1 out of memory. */
int ac_iso_csv_field(es_buf *b, const char *s);
/* The table as CSV (header line, then rows; CRLF line ends). 0 ok, -1 out of memory. */
int ac_iso_render_csv(const ac_iso_table *t, es_buf *b);
/* The whole report as one HTML page (inline CSS, no script, no outside
 * resource; every value escaped). 0 ok, -1 out of memory. */
int ac_iso_render_html(const ac_iso_report *r, es_buf *b);

/* NPS in points and its 95 % normal interval (the API's, docs/api.md). 0 when no answer. */
int ac_iso_nps(long long p, long long pa, long long d, double *nps, double *lo, double *hi);

/* escucha-actions iso-report [options]: exit 0 written, 2 bad options,
 * database or file error. */
int ac_iso_main(int argc, char **argv);
/* 1 when s is a real calendar date YYYY-MM-DD (2025-02-30 is not). */
int ac_iso_date_valid(const char *s);
#endif
