/* ISO 9001:2015 evidence report (see iso.h). SQL does the formatting of
 * dates and stored numbers, so each record table is loaded as text; C adds
 * the intervals and the pooled effect, and renders. */
#include "iso.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "effect.h"
#include "pg.h"
#include "plan.h" /* ac_wilson */

/* clang-format off */
static const char *const SAT_HEAD[] = {"week_start", "feedback", "negative", "nps_answers", "nps", "nps_low",
                                       "nps_high", "csat_answers", "csat_pct", "csat_low", "csat_high"};
static const char *const SAT_LABEL[] = {"Week (Monday, UTC)", "Feedback", "Negative", "NPS answers", "NPS",
                                        "NPS 95% low", "NPS 95% high", "CSAT answers", "CSAT %", "CSAT 95% low",
                                        "CSAT 95% high"};
static const char *const NC_HEAD[] = {"plan_id", "kind", "topic", "status", "opened_at", "closed_at",
                                      "evidence_feedback", "evidence_negatives", "evidence_days", "priority_score",
                                      "root_cause", "drivers", "actions", "tickets", "closure", "effectiveness",
                                      "rate_before", "rate_after", "rate_ratio", "rr_low", "rr_high",
                                      "follows_plan", "followup_plan"};
static const char *const NC_LABEL[] = {"Plan", "Kind", "Topic", "Status", "Opened", "Closed",
                                       "Evidence: feedback on the topic", "Evidence: negative", "Evidence: days",
                                       "Priority score", "Root-cause note", "Drivers", "Corrective actions",
                                       "Tickets", "Closure reason", "Effectiveness", "Complaints per 1,000 before",
                                       "Complaints per 1,000 after", "Rate ratio", "Rate ratio 95% low",
                                       "Rate ratio 95% high", "Follows plan", "Follow-up plan"};
static const char *const TK_HEAD[] = {"plan_id", "tool", "key", "url", "status", "opened_at", "updated_at",
                                      "closed_at", "closure", "closure_note"};
static const char *const TK_LABEL[] = {"Plan", "Tool", "Key", "URL", "Status", "Opened", "Last change", "Closed",
                                       "Closure", "Closure note"};
static const char *const AC_HEAD[] = {"entity", "action", "rows", "first_at", "last_at"};
static const char *const AC_LABEL[] = {"Entity", "Action", "Rows", "First", "Last"};
static const char *const AR_HEAD[] = {"id", "at", "actor", "entity", "entity_id", "action", "hash"};
static const char *const AR_LABEL[] = {"Id", "At", "Actor", "Entity", "Entity id", "Action", "SHA-256"};
static const char *const SAT_LABEL_ES[] = {"Semana (lunes, UTC)", "Comentarios", "Negativos", "Respuestas NPS", "NPS",
                                           "NPS 95% mín.", "NPS 95% máx.", "Respuestas CSAT", "CSAT %",
                                           "CSAT 95% mín.", "CSAT 95% máx."};
static const char *const NC_LABEL_ES[] = {"Plan", "Tipo", "Tema", "Estado", "Abierto", "Cerrado",
                                          "Evidencia: comentarios del tema", "Evidencia: negativos",
                                          "Evidencia: días", "Puntaje de prioridad", "Nota de causa raíz",
                                          "Factores", "Acciones correctivas", "Tickets", "Motivo de cierre",
                                          "Eficacia", "Reclamos por 1.000 antes", "Reclamos por 1.000 después",
                                          "Razón de tasas", "Razón de tasas 95% mín.", "Razón de tasas 95% máx.",
                                          "Sigue al plan", "Plan de seguimiento"};
static const char *const TK_LABEL_ES[] = {"Plan", "Herramienta", "Clave", "URL", "Estado", "Abierto",
                                          "Último cambio", "Cerrado", "Cierre", "Nota de cierre"};
static const char *const AC_LABEL_ES[] = {"Entidad", "Acción", "Filas", "Primera", "Última"};
static const char *const AR_LABEL_ES[] = {"Id", "Fecha", "Actor", "Entidad", "Id de entidad", "Acción", "SHA-256"};
/* clang-format on */

/* Every word of the page, per language (--lang; Spanish first). Formats
 * take the same arguments in both. */
typedef struct iso_words {
  const char *html_lang, *title, *to, *h1, *meta_agency, *meta_period, *meta_generated, *nav;
  const char *no_records;                                                /* %d: colspan */
  const char *sat_intro, *sat_totals, *sat_nps, *sat_csat, *sat_caption; /* formats as used below */
  const char *nc_intro, *nc_key, *nc_pooled, *nc_pooled_none, *nc_files, *nc_none, *nc_title, *nc_plan;
  const char *tk_head, *tk_none;
  const char *verdict[3]; /* effective, not_effective, inconclusive */
  const char *au_intro, *au_intact, *au_broken, *au_unverified, *au_latest, *au_hash, *au_keep, *au_caption, *au_rows;
} iso_words;

static const iso_words EN = {
    "en",
    "ISO 9001:2015 evidence — ",
    " to ",
    "ISO 9001:2015 evidence report",
    "Agency ",
    " · period ",
    " (inclusive, UTC) · generated ",
    "<nav><ol><li><a href=\"#c912\">9.1.2 Customer satisfaction</a></li><li><a href=\"#c102\">10.2 "
    "Nonconformity and corrective action</a></li><li><a href=\"#c75\">7.5 Documented "
    "information</a></li></ol></nav>\n",
    "<tr><td colspan=\"%d\">No records in the period.</td></tr>\n",
    "<h2 id=\"c912\">9.1.2 Customer satisfaction</h2>\n<p>The organization monitors customers' perception of the "
    "degree to which their needs and expectations have been fulfilled. Evidence: every piece of feedback received "
    "from citizens, and the Net Promoter Score (NPS, answers 0–10) and Customer Satisfaction (CSAT, share of "
    "answers 4–5 of 5) given with it, per ISO week. NPS intervals are normal-approximation 95% intervals; CSAT "
    "intervals are Wilson score 95% intervals.</p>\n<div class=\"key\">",
    "Period totals: <b>%lld</b> feedback, %lld negative",
    " · NPS <b>%s</b> (95%% CI %s to %s; %lld answers)",
    " · CSAT <b>%s%%</b> (95%% CI %s%% to %s%%; %lld answers)",
    "Satisfaction per week (file 9.1.2-satisfaction.csv)",
    "<h2 id=\"c102\">10.2 Nonconformity and corrective action</h2>\n<p>Each action plan open at any time in the "
    "period is a nonconformity record: the evidence that raised it (feedback on the topic and how much of it was "
    "negative), the root-cause note (the plan's summary and the subtopics driving the complaints), the corrective "
    "actions recommended, the tickets that carried them out with their status and closure reason, and the "
    "effectiveness review: the topic's complaints per 1,000 feedback of the agency in the weeks after the plan "
    "closed against the weeks before, as a rate ratio with an exact 95% interval (effective: the whole interval is "
    "below 1).</p>\n",
    "<b>%d</b> nonconformities · effectiveness reviewed: %d effective, %d not effective, %d inconclusive.<br>",
    "Complaints on topics with closed plans changed by <b>%+.0f%%</b> (95%% CI %+.0f%% to %+.0f%%; "
    "Mantel-Haenszel rate ratio %.3f over %d reviewed plans).",
    "The agency-level change in complaints cannot be computed yet: no plan in the period has been reviewed with "
    "complaints both before and after its closure.",
    "</div>\n<p class=\"muted\">Files 10.2-nonconformities.csv and 10.2-tickets.csv.</p>\n",
    "<p>No nonconformity recorded in the period.</p>\n",
    "Nonconformity ",
    "plan ",
    "<table class=\"tk\"><thead><tr><th scope=\"col\">Tool</th><th scope=\"col\">Ticket</th><th "
    "scope=\"col\">Status</th><th scope=\"col\">Opened</th><th scope=\"col\">Last change</th><th "
    "scope=\"col\">Closure</th></tr></thead><tbody>\n",
    "<p class=\"muted\">No ticket recorded for this plan.</p>\n",
    {"effective", "not effective", "inconclusive"},
    "<h2 id=\"c75\">7.5 Documented information</h2>\n<p>Every step from complaint to priority, action and "
    "resolution is recorded in the audit log. Each row carries the SHA-256 of the previous row's hash and its own "
    "content, so a changed or deleted row is detected. The whole log was verified when this report was "
    "generated.</p>\n",
    "<div class=\"key\">Hash chain verified: <b>intact</b>, %lld rows.",
    "<div class=\"key bad\">Hash chain verified: <b>BROKEN at row %lld</b> (%lld rows checked): ",
    "<div class=\"key bad\">Hash chain could not be verified: ",
    "<br>Latest row: id %lld at ",
    ", hash <code>",
    "</code>. Keep this value: a later log that no longer holds this row with this hash has been truncated or "
    "rewritten.",
    "The agency's audit records in the period by kind (file 7.5-audit-summary.csv)",
    "<p class=\"muted\">The %d rows themselves, with their hashes, are in 7.5-audit-trail.csv.</p>\n"};

static const iso_words ES = {
    "es",
    "Evidencia ISO 9001:2015 — ",
    " a ",
    "Informe de evidencia ISO 9001:2015",
    "Organismo ",
    " · período ",
    " (inclusive, UTC) · generado ",
    "<nav><ol><li><a href=\"#c912\">9.1.2 Satisfacción del cliente</a></li><li><a href=\"#c102\">10.2 No "
    "conformidad y acción correctiva</a></li><li><a href=\"#c75\">7.5 Información "
    "documentada</a></li></ol></nav>\n",
    "<tr><td colspan=\"%d\">No hay registros en el período.</td></tr>\n",
    "<h2 id=\"c912\">9.1.2 Satisfacción del cliente</h2>\n<p>La organización hace seguimiento de la percepción de "
    "los clientes del grado en que se cumplen sus necesidades y expectativas. Evidencia: cada comentario recibido "
    "de la ciudadanía, y el Net Promoter Score (NPS, respuestas 0–10) y la satisfacción (CSAT, proporción de "
    "respuestas 4–5 de 5) que lo acompañan, por semana ISO. Los intervalos del NPS son intervalos al 95% por "
    "aproximación normal; los del CSAT, intervalos de Wilson al 95%.</p>\n<div class=\"key\">",
    "Totales del período: <b>%lld</b> comentarios, %lld negativos",
    " · NPS <b>%s</b> (IC 95%% %s a %s; %lld "
    "respuestas)",
    " · CSAT <b>%s%%</b> (IC 95%% %s%% a %s%%; %lld respuestas)",
    "Satisfacción por semana (archivo "
    "9.1.2-satisfaction.csv)",
    "<h2 id=\"c102\">10.2 No conformidad y acción correctiva</h2>\n<p>Cada plan de acción abierto en algún momento "
    "del período es un registro de no conformidad: la evidencia que lo originó (comentarios sobre el tema y cuántos "
    "fueron negativos), la nota de causa raíz (el resumen del plan y los subtemas que concentran los reclamos), las "
    "acciones correctivas recomendadas, los tickets que las ejecutaron con su estado y motivo de cierre, y la "
    "revisión de eficacia: los reclamos del tema por cada 1.000 comentarios del organismo en las semanas después "
    "del cierre frente a las semanas anteriores, como razón de tasas con un intervalo exacto al 95% (eficaz: todo "
    "el intervalo bajo 1).</p>\n",
    "<b>%d</b> no conformidades · eficacia revisada: %d eficaces, %d no eficaces, %d no concluyentes.<br>",
    "Los reclamos en temas con planes cerrados cambiaron <b>%+.0f%%</b> (IC 95%% %+.0f%% a %+.0f%%; razón de tasas "
    "de Mantel-Haenszel %.3f sobre %d planes revisados).",
    "Aún no se puede calcular el cambio de reclamos del organismo: ningún plan del período se ha revisado con "
    "reclamos antes y después de su cierre.",
    "</div>\n<p class=\"muted\">Archivos 10.2-nonconformities.csv y 10.2-tickets.csv.</p>\n",
    "<p>No hay no conformidades registradas en el período.</p>\n",
    "No conformidad ",
    "plan ",
    "<table class=\"tk\"><thead><tr><th scope=\"col\">Herramienta</th><th scope=\"col\">Ticket</th><th "
    "scope=\"col\">Estado</th><th scope=\"col\">Abierto</th><th scope=\"col\">Último cambio</th><th "
    "scope=\"col\">Cierre</th></tr></thead><tbody>\n",
    "<p class=\"muted\">No hay tickets registrados para este plan.</p>\n",
    {"eficaz", "no eficaz", "no concluyente"},
    "<h2 id=\"c75\">7.5 Información documentada</h2>\n<p>Cada paso, del reclamo a la prioridad, la acción y la "
    "resolución, queda en el registro de auditoría. Cada fila lleva el SHA-256 del hash de la fila anterior y de su "
    "propio contenido, de modo que una fila cambiada o borrada se detecta. El registro completo se verificó al "
    "generar este informe.</p>\n",
    "<div class=\"key\">Cadena de hashes verificada: <b>íntegra</b>, %lld filas.",
    "<div class=\"key bad\">Cadena de hashes verificada: <b>ROTA en la fila %lld</b> (%lld filas revisadas): ",
    "<div class=\"key bad\">No se pudo verificar la cadena de hashes: ",
    "<br>Última fila: id %lld del ",
    ", hash <code>",
    "</code>. Guarde este valor: un registro posterior que ya no tenga esta fila con este hash fue truncado o "
    "reescrito.",
    "Registros de auditoría del organismo en el período, por tipo (archivo 7.5-audit-summary.csv)",
    "<p class=\"muted\">Las %d filas, con sus hashes, están en 7.5-audit-trail.csv.</p>\n"};

static const iso_words *words(const ac_iso_report *r) { return strcmp(r->lang, "en") == 0 ? &EN : &ES; }

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

void ac_iso_table_add(ac_iso_table *t, const char *const *row) {
  if (t->nrows == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 16;
    t->cells = es_xrealloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof *t->cells);
  }
  for (int c = 0; c < t->ncols; c++)
    t->cells[(size_t)t->nrows * (size_t)t->ncols + (size_t)c] = es_xstrdup(row[c] ? row[c] : "");
  t->nrows++;
}

const char *ac_iso_cell(const ac_iso_table *t, int row, int col) {
  return t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
}

void ac_iso_table_free(ac_iso_table *t) {
  for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++) free(t->cells[i]);
  free(t->cells);
  t->cells = NULL, t->nrows = t->cap = 0;
}

static void table_init(ac_iso_table *t, const char *file, int n, const char *const *head, const char *const *labels) {
  *t = (ac_iso_table){.file = file, .ncols = n, .head = head, .labels = labels};
}

void ac_iso_report_init(ac_iso_report *r) {
  memset(r, 0, sizeof *r);
  table_init(&r->sat, "9.1.2-satisfaction.csv", NCOLS(SAT_HEAD), SAT_HEAD, SAT_LABEL);
  table_init(&r->nc, "10.2-nonconformities.csv", NCOLS(NC_HEAD), NC_HEAD, NC_LABEL);
  table_init(&r->tickets, "10.2-tickets.csv", NCOLS(TK_HEAD), TK_HEAD, TK_LABEL);
  table_init(&r->audit_counts, "7.5-audit-summary.csv", NCOLS(AC_HEAD), AC_HEAD, AC_LABEL);
  table_init(&r->audit_rows, "7.5-audit-trail.csv", NCOLS(AR_HEAD), AR_HEAD, AR_LABEL);
  r->chain_rc = -1;
  ac_iso_report_lang(r, "es");
}

int ac_iso_report_lang(ac_iso_report *r, const char *lang) {
  int en = strcmp(lang, "en") == 0;
  if (!en && strcmp(lang, "es") != 0) return -1;
  snprintf(r->lang, sizeof r->lang, "%s", lang);
  r->sat.labels = en ? SAT_LABEL : SAT_LABEL_ES, r->nc.labels = en ? NC_LABEL : NC_LABEL_ES;
  r->tickets.labels = en ? TK_LABEL : TK_LABEL_ES, r->audit_counts.labels = en ? AC_LABEL : AC_LABEL_ES;
  r->audit_rows.labels = en ? AR_LABEL : AR_LABEL_ES;
  return 0;
}

void ac_iso_report_free(ac_iso_report *r) {
  ac_iso_table_free(&r->sat);
  ac_iso_table_free(&r->nc);
  ac_iso_table_free(&r->tickets);
  ac_iso_table_free(&r->audit_counts);
  ac_iso_table_free(&r->audit_rows);
}

int ac_iso_nps(long long p, long long pa, long long d, double *nps, double *lo, double *hi) {
  long long n = p + pa + d;
  *nps = *lo = *hi = NAN;
  if (n <= 0) return 0;
  double nn = (double)n, pp = (double)p / nn, pd = (double)d / nn, m = pp - pd;
  /* each answer scores +1, 0 or -1: variance of the mean = (pP + pD - (pP - pD)^2) / n */
  double se = sqrt((pp + pd - m * m) / nn);
  *nps = 100.0 * m;
  *lo = fmax(-100.0, 100.0 * (m - 1.959963984540054 * se));
  *hi = fmin(100.0, 100.0 * (m + 1.959963984540054 * se));
  return 1;
}

/* ---- rendering ---------------------------------------------------------- */

static int esc(es_buf *b, const char *s) {
  for (; s && *s; s++) {
    const char *e = *s == '<'    ? "&lt;"
                    : *s == '>'  ? "&gt;"
                    : *s == '&'  ? "&amp;"
                    : *s == '"'  ? "&quot;"
                    : *s == '\'' ? "&#39;"
                                 : NULL;
    if (e ? es_buf_append(b, e, strlen(e)) : es_buf_append(b, s, 1)) return -1;
  }
  return 0;
}

static int is_number(const char *s) {
  char *end;
  if (!*s) return 0;
  errno = 0;
  (void)strtod(s, &end); /* only the end matters */
  return *end == 0;
}

int ac_iso_csv_field(es_buf *b, const char *s) {
  size_t n = strlen(s);
  int formula = n && strchr("=+-@\t\r", s[0]) && !is_number(s);
  int quote = formula || strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
  if (!quote) return es_buf_append(b, s, n);
  if (es_buf_append(b, formula ? "\"'" : "\"", formula ? 2 : 1)) return -1;
  for (const char *p = s; *p; p++)
    if (es_buf_append(b, p, 1) || (*p == '"' && es_buf_append(b, "\"", 1))) return -1;
  return es_buf_append(b, "\"", 1);
}

int ac_iso_render_csv(const ac_iso_table *t, es_buf *b) {
  for (int c = 0; c < t->ncols; c++)
    if ((c && es_buf_append(b, ",", 1)) || ac_iso_csv_field(b, t->head[c])) return -1;
  if (es_buf_append(b, "\r\n", 2)) return -1;
  for (int r = 0; r < t->nrows; r++) {
    for (int c = 0; c < t->ncols; c++)
      if ((c && es_buf_append(b, ",", 1)) || ac_iso_csv_field(b, ac_iso_cell(t, r, c))) return -1;
    if (es_buf_append(b, "\r\n", 2)) return -1;
  }
  return 0;
}

/* Appends fmt with every %s argument escaped: the only way values reach the page. */
static int put(es_buf *b, const char *s) { return es_buf_append(b, s, strlen(s)); }

static int html_table(es_buf *b, const ac_iso_table *t, const char *caption, const iso_words *w) {
  int bad = put(b, "<table>\n<caption>");
  bad |= esc(b, caption);
  bad |= put(b, "</caption>\n<thead><tr>");
  for (int c = 0; c < t->ncols; c++) bad |= put(b, "<th scope=\"col\">") | esc(b, t->labels[c]) | put(b, "</th>");
  bad |= put(b, "</tr></thead>\n<tbody>\n");
  for (int r = 0; r < t->nrows; r++) {
    bad |= put(b, "<tr>");
    for (int c = 0; c < t->ncols; c++) {
      const char *v = ac_iso_cell(t, r, c);
      bad |= put(b, is_number(v) ? "<td class=\"n\">" : "<td>") | esc(b, v) | put(b, "</td>");
    }
    bad |= put(b, "</tr>\n");
  }
  if (!t->nrows) bad |= es_buf_printf(b, w->no_records, t->ncols) < 0;
  return bad | put(b, "</tbody>\n</table>\n");
}

static void fmt_num(char *out, size_t n, double v, const char *f) {
  if (isfinite(v)) snprintf(out, n, f, v);
  else snprintf(out, n, "%s", "");
}

/* A ticket's URL as a link only when it is http(s): anything else stays text. */
static int link(es_buf *b, const char *url, const char *text) {
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) return esc(b, text);
  return put(b, "<a href=\"") | esc(b, url) | put(b, "\">") | esc(b, text) | put(b, "</a>");
}

/* One nonconformity record: the plan's fields as a definition list, then its tickets. */
static int nc_card(es_buf *b, const ac_iso_report *r, int row) {
  const ac_iso_table *t = &r->nc;
  const iso_words *w = words(r);
  const char *id = ac_iso_cell(t, row, 0), *eff = ac_iso_cell(t, row, 15), *shown = eff;
  for (int v = 0; v < 3; v++)
    if (strcmp(eff, ES_EFFECT_NAMES[v]) == 0) shown = w->verdict[v];
  int bad = put(b, "<section class=\"nc\">\n<h3>") | put(b, w->nc_title) | esc(b, ac_iso_cell(t, row, 2)) |
            put(b, " <small>") | put(b, w->nc_plan) | esc(b, id) | put(b, "</small>");
  if (*eff) bad |= put(b, " <span class=\"v ") | esc(b, eff) | put(b, "\">") | esc(b, shown) | put(b, "</span>");
  bad |= put(b, "</h3>\n<dl>\n");
  for (int c = 1; c < t->ncols; c++) {
    const char *v = ac_iso_cell(t, row, c);
    if (!*v || c == 2 || c == 15) continue;
    bad |= put(b, "<dt>") | esc(b, t->labels[c]) | put(b, "</dt><dd>") | esc(b, v) | put(b, "</dd>\n");
  }
  bad |= put(b, "</dl>\n");
  int any = 0;
  for (int k = 0; k < r->tickets.nrows; k++) {
    if (strcmp(ac_iso_cell(&r->tickets, k, 0), id) != 0) continue;
    if (!any++) bad |= put(b, w->tk_head);
    const char *const *c = (const char *const *)&r->tickets.cells[(size_t)k * (size_t)r->tickets.ncols];
    bad |= put(b, "<tr><td>") | esc(b, c[1]) | put(b, "</td><td>") | link(b, c[3], *c[2] ? c[2] : c[3]) |
           put(b, "</td><td>") | esc(b, c[4]) | put(b, "</td><td>") | esc(b, c[5]) | put(b, "</td><td>") |
           esc(b, c[6]) | put(b, "</td><td>") | esc(b, c[8]);
    if (*c[9]) bad |= put(b, ": ") | esc(b, c[9]);
    bad |= put(b, "</td></tr>\n");
  }
  if (any) bad |= put(b, "</tbody></table>\n");
  else bad |= put(b, w->tk_none);
  return bad | put(b, "</section>\n");
}

static const char CSS[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;max-width:70rem;"
    "margin:2rem auto;padding:0 1.5rem}h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.25rem;margin-top:2.2rem;"
    "border-bottom:2px solid #2b5d8a;padding-bottom:.2rem}h3{font-size:1.05rem;margin:.2rem 0 .6rem}"
    "small{color:#555;font-weight:normal}.meta{color:#444}.muted{color:#666}"
    "table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.9rem}caption{text-align:left;"
    "font-weight:600;padding:.3rem 0}th,td{border:1px solid #c9d1d9;padding:.3rem .45rem;vertical-align:top;"
    "text-align:left}th{background:#eef3f8}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".key{background:#f6f8fa;border-left:4px solid #2b5d8a;padding:.6rem 1rem;margin:1rem 0}"
    ".bad{border-left-color:#b42318;background:#fef3f2}.nc{border:1px solid #c9d1d9;border-radius:6px;"
    "padding:.8rem 1rem;margin:1rem 0;break-inside:avoid}dl{display:grid;grid-template-columns:14rem 1fr;"
    "gap:.2rem .8rem;margin:0}dt{font-weight:600;color:#333}dd{margin:0;white-space:pre-wrap}"
    ".v{font-size:.8rem;padding:.1rem .45rem;border-radius:9px;background:#eee;margin-left:.4rem}"
    ".v.effective{background:#dcfce7;color:#14532d}.v.not_effective{background:#fee2e2;color:#7f1d1d}"
    ".v.inconclusive{background:#fef9c3;color:#713f12}code{font-size:.85rem;word-break:break-all}"
    "a{color:#1d4f91}@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}"
    "a{color:inherit;text-decoration:none}a[href]:after{content:' (' attr(href) ')';font-size:.8em}"
    "tr,.key{break-inside:avoid}thead{display:table-header-group}}";

static int section_sat(es_buf *b, const ac_iso_report *r) {
  char nps[16], lo[16], hi[16], csat[16], clo[16], chi[16];
  double v, l, h;
  ac_iso_nps(r->nps_p, r->nps_pa, r->nps_d, &v, &l, &h);
  fmt_num(nps, sizeof nps, v, "%.1f"), fmt_num(lo, sizeof lo, l, "%.1f"), fmt_num(hi, sizeof hi, h, "%.1f");
  double cl = 0, ch = 1;
  ac_wilson((long)r->csat_sat, (long)r->csat_n, 1.959963984540054, &cl, &ch);
  fmt_num(csat, sizeof csat, r->csat_n ? 100.0 * (double)r->csat_sat / (double)r->csat_n : NAN, "%.1f");
  fmt_num(clo, sizeof clo, 100 * cl, "%.1f"), fmt_num(chi, sizeof chi, 100 * ch, "%.1f");
  const iso_words *w = words(r);
  int bad = put(b, w->sat_intro);
  bad |= es_buf_printf(b, w->sat_totals, r->fb_total, r->fb_negative) < 0;
  if (r->nps_p + r->nps_pa + r->nps_d)
    bad |= es_buf_printf(b, w->sat_nps, nps, lo, hi, r->nps_p + r->nps_pa + r->nps_d) < 0;
  if (r->csat_n) bad |= es_buf_printf(b, w->sat_csat, csat, clo, chi, r->csat_n) < 0;
  bad |= put(b, "</div>\n");
  return bad | html_table(b, &r->sat, w->sat_caption, w);
}

static int section_nc(es_buf *b, const ac_iso_report *r) {
  const iso_words *w = words(r);
  int bad = put(b, w->nc_intro) | put(b, "<div class=\"key\">");
  bad |= es_buf_printf(b, w->nc_key, r->nc.nrows, r->n_effective, r->n_not_effective, r->n_inconclusive) < 0;
  if (r->pooled_ok)
    bad |= es_buf_printf(b, w->nc_pooled, 100 * (r->pooled_rr - 1), 100 * (r->pooled_lo - 1), 100 * (r->pooled_hi - 1),
                         r->pooled_rr, r->pooled_n) < 0;
  else bad |= put(b, w->nc_pooled_none);
  bad |= put(b, w->nc_files);
  for (int i = 0; i < r->nc.nrows; i++) bad |= nc_card(b, r, i);
  if (!r->nc.nrows) bad |= put(b, w->nc_none);
  return bad;
}

static int section_audit(es_buf *b, const ac_iso_report *r) {
  const iso_words *w = words(r);
  int bad = put(b, w->au_intro);
  if (r->chain_rc == 0) bad |= es_buf_printf(b, w->au_intact, r->chain_rows) < 0;
  else if (r->chain_rc == 1)
    bad |= es_buf_printf(b, w->au_broken, r->chain_bad_id, r->chain_rows) < 0 || esc(b, r->chain_why);
  else bad |= put(b, w->au_unverified) | esc(b, r->chain_why);
  if (r->head_id)
    bad |= es_buf_printf(b, w->au_latest, r->head_id) < 0 || esc(b, r->head_at) || put(b, w->au_hash) ||
           esc(b, r->head_hash) || put(b, w->au_keep);
  bad |= put(b, "</div>\n");
  bad |= html_table(b, &r->audit_counts, w->au_caption, w);
  bad |= es_buf_printf(b, w->au_rows, r->audit_rows.nrows) < 0;
  return bad;
}

int ac_iso_render_html(const ac_iso_report *r, es_buf *b) {
  const iso_words *w = words(r);
  int bad = put(b, "<!doctype html>\n<html lang=\"") | put(b, w->html_lang) |
            put(b,
                "\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
                "content=\"width=device-width, initial-scale=1\">\n<title>") |
            put(b, w->title);
  bad |= esc(b, r->agency) | put(b, " — ") | esc(b, r->from) | put(b, w->to) | esc(b, r->to);
  bad |= put(b, "</title>\n<style>") | put(b, CSS) | put(b, "</style>\n</head>\n<body>\n<header>\n<h1>") |
         put(b, w->h1) | put(b, "</h1>\n<p class=\"meta\">") | put(b, w->meta_agency) | put(b, "<b>") |
         esc(b, r->agency) | put(b, "</b>") | put(b, w->meta_period);
  bad |= esc(b, r->from) | put(b, w->to) | esc(b, r->to) | put(b, w->meta_generated) | esc(b, r->generated) |
         put(b, " · escucha-actions iso-report</p>\n");
  bad |= put(b, w->nav) | put(b, "</header>\n<main>\n");
  bad |= section_sat(b, r) | section_nc(b, r) | section_audit(b, r);
  bad |= put(b, "</main>\n</body>\n</html>\n");
  return bad ? -1 : 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Loads a query whose columns are the table's, as text. */
static int load_table(PGconn *pg, ac_iso_table *t, const char *sql, int n, const char *const *p, char *why,
                      size_t whylen) {
  PGresult *r = es_pg_query(pg, sql, n, p, why, whylen);
  if (!r) return -1;
  const char *row[32];
  for (int i = 0; i < PQntuples(r); i++) {
    for (int c = 0; c < t->ncols && c < 32; c++) row[c] = PQgetisnull(r, i, c) ? "" : PQgetvalue(r, i, c);
    ac_iso_table_add(t, row);
  }
  PQclear(r);
  return 0;
}

#define TS(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define NUM(x) "trim(to_char(" x ", 'FM999999990.00'))" /* rates per 1,000, scores */
#define RR(x) "trim(to_char(" x ", 'FM999999990.000'))" /* rate ratios */
/* [from, to] as whole UTC days: $2 and $3 are dates */
#define FROM "($2::date::timestamp AT TIME ZONE 'UTC')"
#define UNTIL "(($3::date + 1)::timestamp AT TIME ZONE 'UTC')"
/* The agency's plans open at some time in the period. */
#define PLANS                                                           \
  "SELECT * FROM action_plans WHERE agency = $1 AND opened_at < " UNTIL \
  " AND (closed_at IS NULL OR closed_at >= " FROM ")"

static const char SQL_SAT[] =
    "SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'), total, negative, nps_promoters, nps_passives,"
    " nps_detractors, csat_responses, csat_satisfied FROM topic_window_stats WHERE agency = $1 AND topic = '*'"
    " AND window_kind = 'week' AND window_start >= date_trunc('week', " FROM ") AND window_start < " UNTIL
    " ORDER BY window_start";
/* Totals over whole days, from feedback itself (the weekly rows may overhang the period). */
static const char SQL_TOTALS[] =
    "SELECT count(*), count(*) FILTER (WHERE sentiment = 'NEGATIVE'), count(*) FILTER (WHERE nps >= 9),"
    " count(*) FILTER (WHERE nps BETWEEN 7 AND 8), count(*) FILTER (WHERE nps <= 6), count(csat),"
    " count(*) FILTER (WHERE csat >= 4) FROM feedback WHERE agency = $1 AND received_at >= " FROM
    " AND received_at < " UNTIL;
static const char SQL_NC[] =
    "SELECT p.id, p.kind, p.topic, p.status, " TS("p.opened_at") ", " TS("p.closed_at") ","
    " coalesce(p.detail->'counts'->>'topic_n', p.priority->>'volume'), p.detail->'counts'->>'topic_negatives',"
    " p.detail->'counts'->>'days', " NUM("(p.priority->>'score')::float8") ", p.summary,"
    " (SELECT string_agg(coalesce(d->>'label_en', d->>'subcategory') || ' (' || round(100 * (d->>'share')::numeric)"
    "   || '% of negatives)', '; ') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p.detail->'drivers') = 'array'"
    "   THEN p.detail->'drivers' ELSE '[]' END) d),"
    " (SELECT string_agg(value, E'\\n') FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p.recommendations) ="
    "   'array' THEN p.recommendations ELSE '[]' END)),"
    " (SELECT count(*) FROM actions a WHERE a.plan_id = p.id),"
    " (SELECT string_agg(DISTINCT a.closure, ', ') FROM actions a WHERE a.plan_id = p.id AND a.closure IS NOT NULL),"
    " e.verdict, " NUM("e.rate_before") ", " NUM("e.rate_after") ", " RR("e.rate_ratio") ", " RR("e.ci_low") ", "
    RR("e.ci_high") ", p.follows_plan, e.followup_plan"
    " FROM (" PLANS ") p LEFT JOIN action_effects e ON e.plan_id = p.id ORDER BY p.opened_at, p.id";
static const char SQL_TICKETS[] =
    "SELECT a.plan_id, a.tool, a.external_key, a.url, a.status, " TS("a.opened_at") ", " TS("a.updated_at") ", " TS(
        "a.closed_at") ", a.closure, a.closure_note FROM actions a JOIN (" PLANS
                       ") p ON p.id = a.plan_id"
                       " ORDER BY p.opened_at, a.plan_id, a.id";
static const char SQL_EFFECTS[] =
    "SELECT e.verdict, e.after_complaints, e.after_total, e.before_complaints, e.before_total"
    " FROM action_effects e JOIN (" PLANS ") p ON p.id = e.plan_id";
/* The agency's rows: its plans' and cases', its digests', and any that name it. */
#define AUDIT_ROWS                                                                                           \
  "SELECT * FROM audit_log l WHERE l.at >= " FROM " AND l.at < " UNTIL                                       \
  " AND ((l.entity IN ('action_plan',"                                                                       \
  " 'case') AND l.entity_id IN (SELECT id FROM action_plans WHERE agency = $1)) OR (l.entity = 'digest' AND" \
  " l.entity_id LIKE replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '/%') OR"        \
  " l.detail->>'agency' = $1)"
static const char SQL_AUDIT_COUNTS[] =
    "SELECT entity, action, count(*), " TS("min(at)") ", " TS("max(at)") " FROM (" AUDIT_ROWS
                                                                         ") x GROUP BY 1, 2 ORDER BY 1, 2";
static const char SQL_AUDIT_ROWS[] =
    "SELECT id, " TS("at") ", actor, entity, entity_id, action, encode(hash, 'hex') FROM (" AUDIT_ROWS
                           ") x ORDER BY id";
static const char SQL_HEAD[] = "SELECT id, " TS("at") ", encode(hash, 'hex') FROM audit_log ORDER BY id DESC LIMIT 1";

static long long ll(PGresult *r, int i, int c) { return PQgetisnull(r, i, c) ? 0 : atoll(PQgetvalue(r, i, c)); }

static int load_sat(PGconn *pg, ac_iso_report *r, const char *const *p, char *why, size_t whylen) {
  PGresult *res = es_pg_query(pg, SQL_SAT, 3, p, why, whylen);
  if (!res) return -1;
  for (int i = 0; i < PQntuples(res); i++) {
    char c[11][24];
    long long tot = ll(res, i, 1), pr = ll(res, i, 3), pa = ll(res, i, 4), de = ll(res, i, 5), cn = ll(res, i, 6),
              cs = ll(res, i, 7);
    double v, lo, hi, wl = 0, wh = 1;
    snprintf(c[0], sizeof c[0], "%s", PQgetvalue(res, i, 0));
    snprintf(c[1], sizeof c[1], "%lld", tot), snprintf(c[2], sizeof c[2], "%lld", ll(res, i, 2));
    snprintf(c[3], sizeof c[3], "%lld", pr + pa + de);
    ac_iso_nps(pr, pa, de, &v, &lo, &hi);
    fmt_num(c[4], sizeof c[4], v, "%.1f"), fmt_num(c[5], sizeof c[5], lo, "%.1f"), fmt_num(c[6], 24, hi, "%.1f");
    snprintf(c[7], sizeof c[7], "%lld", cn);
    ac_wilson((long)cs, (long)cn, 1.959963984540054, &wl, &wh);
    fmt_num(c[8], sizeof c[8], cn ? 100.0 * (double)cs / (double)cn : NAN, "%.1f");
    fmt_num(c[9], sizeof c[9], cn ? 100 * wl : NAN, "%.1f"), fmt_num(c[10], sizeof c[10], cn ? 100 * wh : NAN, "%.1f");
    const char *row[11];
    for (int k = 0; k < 11; k++) row[k] = c[k];
    ac_iso_table_add(&r->sat, row);
  }
  PQclear(res);
  if (!(res = es_pg_query(pg, SQL_TOTALS, 3, p, why, whylen))) return -1;
  r->fb_total = ll(res, 0, 0), r->fb_negative = ll(res, 0, 1), r->nps_p = ll(res, 0, 2), r->nps_pa = ll(res, 0, 3);
  r->nps_d = ll(res, 0, 4), r->csat_n = ll(res, 0, 5), r->csat_sat = ll(res, 0, 6);
  PQclear(res);
  return 0;
}

static int load_effects(PGconn *pg, ac_iso_report *r, const char *const *p, char *why, size_t whylen) {
  PGresult *res = es_pg_query(pg, SQL_EFFECTS, 3, p, why, whylen);
  if (!res) return -1;
  int n = PQntuples(res), k = 0;
  es_effect_counts *c = es_xcalloc((size_t)n + 1, sizeof *c);
  for (int i = 0; i < n; i++) {
    const char *v = PQgetvalue(res, i, 0);
    r->n_effective += strcmp(v, "effective") == 0;
    r->n_not_effective += strcmp(v, "not_effective") == 0;
    r->n_inconclusive += strcmp(v, "inconclusive") == 0;
    c[k] = (es_effect_counts){.x_after = (uint64_t)ll(res, i, 1),
                              .n_after = (uint64_t)ll(res, i, 2),
                              .x_before = (uint64_t)ll(res, i, 3),
                              .n_before = (uint64_t)ll(res, i, 4)};
    if (c[k].n_after > 0 && c[k].n_before > 0) k++;
  }
  r->pooled_n = k;
  r->pooled_ok = k > 0 && es_effect_pooled(c, k, 0.95, &r->pooled_rr, &r->pooled_lo, &r->pooled_hi) == 0;
  free(c);
  PQclear(res);
  return 0;
}

int ac_iso_load(PGconn *pg, const char *agency, const char *from, const char *to, ac_iso_report *r, char *why,
                size_t whylen) {
  const char *p[] = {agency, from, to};
  int rc = -1;
  PGresult *res = NULL;
  snprintf(r->agency, sizeof r->agency, "%s", agency);
  snprintf(r->from, sizeof r->from, "%s", from);
  snprintf(r->to, sizeof r->to, "%s", to);
  time_t now = time(NULL);
  strftime(r->generated, sizeof r->generated, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  /* one snapshot: the counts, the records and the chain agree with each other */
  if (!(res = es_pg_query(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, why, whylen))) return -1;
  PQclear(res);
  if (load_sat(pg, r, p, why, whylen) || load_table(pg, &r->nc, SQL_NC, 3, p, why, whylen) ||
      load_table(pg, &r->tickets, SQL_TICKETS, 3, p, why, whylen) || load_effects(pg, r, p, why, whylen) ||
      load_table(pg, &r->audit_counts, SQL_AUDIT_COUNTS, 3, p, why, whylen) ||
      load_table(pg, &r->audit_rows, SQL_AUDIT_ROWS, 3, p, why, whylen))
    goto cleanup;
  r->chain_rc = ac_audit_verify(pg, &r->chain_rows, &r->chain_bad_id, r->chain_why, sizeof r->chain_why);
  if (!(res = es_pg_query(pg, SQL_HEAD, 0, NULL, why, whylen))) goto cleanup;
  if (PQntuples(res) == 1) {
    r->head_id = ll(res, 0, 0);
    snprintf(r->head_at, sizeof r->head_at, "%s", PQgetvalue(res, 0, 1));
    snprintf(r->head_hash, sizeof r->head_hash, "%s", PQgetvalue(res, 0, 2));
  }
  PQclear(res);
  rc = 0;
cleanup:
  PQclear(PQexec(pg, "COMMIT"));
  return rc;
}

/* ---- the command -------------------------------------------------------- */

int ac_iso_date_valid(const char *s) {
  struct tm tm = {0};
  const char *end = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
  if (!end || *end || strlen(s) != 10) return 0;
  char back[11];
  time_t t = timegm(&tm); /* normalises 2025-02-30 to March: refused below */
  struct tm n;
  gmtime_r(&t, &n);
  strftime(back, sizeof back, "%Y-%m-%d", &n);
  return strcmp(back, s) == 0;
}

/* Writes through a temporary file and a rename: a reader never sees half a file. */
static int write_file(const char *dir, const char *name, const es_buf *b, char *why, size_t whylen) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f && (!b->len || fwrite(b->data, 1, b->len, f) == b->len);
  if (f && fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(why, whylen, "%.400s: %s", path, strerror(errno));
    return -1;
  }
  printf("%s\n", path);
  return 0;
}

int ac_iso_main(int argc, char **argv) {
  static es_common_cfg common;
  static const char *agency, *from, *to, *out;
  static const char *const ISO_LANGS[] = {"es", "en", NULL};
  static int lang;
  es_opt opts[] = {ES_COMMON_OPTS(common),
                   ES_STR("agency", NULL, "Agency the report is for", &agency),
                   ES_STR("from", NULL, "First day of the period (YYYY-MM-DD, UTC)", &from),
                   ES_STR("to", NULL, "Last day of the period, included (YYYY-MM-DD, UTC)", &to),
                   ES_STR("out", ".", "Folder the report's files are written to (created if missing)", &out),
                   ES_ENUM("lang", "es", ISO_LANGS, "Language of the HTML report (the CSV headers stay fixed)", &lang),
                   ES_OPT_END};
  char err[512] = "";
  int rc = 2;
  PGconn *pg = NULL;
  ac_iso_report r;
  ac_iso_report_init(&r);
  int pr = es_config_parse(opts, "escucha-actions iso-report",
                           "--agency A --from YYYY-MM-DD --to YYYY-MM-DD [--out DIR]: ISO 9001:2015 evidence (HTML "
                           "report and CSV records for clauses 9.1.2, 10.2 and 7.5)",
                           argc, argv, 1, NULL, NULL);
  if (pr != 0) {
    rc = pr > 0 ? 0 : 2;
    goto cleanup;
  }
  if (!agency || !*agency || strlen(agency) >= sizeof r.agency) {
    fprintf(stderr, "escucha-actions iso-report: --agency is required (up to %zu bytes)\n", sizeof r.agency - 1);
    goto cleanup;
  }
  if (!ac_iso_date_valid(from) || !ac_iso_date_valid(to) || strcmp(from, to) > 0) {
    fprintf(stderr, "escucha-actions iso-report: --from and --to must be dates YYYY-MM-DD, from <= to\n");
    goto cleanup;
  }
  if (mkdir(out, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "escucha-actions iso-report: --out %s: %s\n", out, strerror(errno));
    goto cleanup;
  }
  if (ac_iso_report_lang(&r, ISO_LANGS[lang]) != 0) goto cleanup;
  if (!(pg = es_pg_connect(common.pg_dsn, err, sizeof err)) || ac_iso_load(pg, agency, from, to, &r, err, sizeof err)) {
    fprintf(stderr, "escucha-actions iso-report: %s\n", err);
    goto cleanup;
  }
  const ac_iso_table *tabs[] = {&r.sat, &r.nc, &r.tickets, &r.audit_counts, &r.audit_rows};
  es_buf b = {0};
  int bad = ac_iso_render_html(&r, &b) || write_file(out, "iso9001-report.html", &b, err, sizeof err);
  for (size_t i = 0; !bad && i < sizeof tabs / sizeof *tabs; i++) {
    b.len = 0;
    bad = ac_iso_render_csv(tabs[i], &b) || write_file(out, tabs[i]->file, &b, err, sizeof err);
  }
  es_buf_free(&b);
  if (bad) {
    fprintf(stderr, "escucha-actions iso-report: %s\n", *err ? err : "out of memory");
    goto cleanup;
  }
  printf("nonconformities %d, audit chain %s (%lld rows)\n", r.nc.nrows,
         r.chain_rc == 0   ? "intact"
         : r.chain_rc == 1 ? "BROKEN"
                           : "unverified",
         r.chain_rows);
  rc = 0;
cleanup:
  if (pg) PQfinish(pg);
  ac_iso_report_free(&r);
  es_config_free(opts);
  return rc;
}
