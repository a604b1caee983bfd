/* E-mail digest rendering and sending (see digest.h). */
#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 0 ok, -1 out of memory (the render is then refused, never sent shorter). */
static int esc(es_buf *b, const char *s) {
  for (; s && *s; s++) {
    if (*s == '<') es_buf_puts(b, "&lt;");
    else if (*s == '>') es_buf_puts(b, "&gt;");
    else if (*s == '&') es_buf_puts(b, "&amp;");
    else if (*s == '"') es_buf_puts(b, "&quot;");
    else if (*s == '\'') es_buf_puts(b, "&#39;");
    else if (es_buf_append(b, s, 1) != 0) return -1;
  }
  return 0;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* "2024-05-06" or "2024-04-29 – 2024-05-05" */
static void period_text(es_buf *b, const ac_digest *d) {
  if (!d->period_start) return;
  es_buf_puts(b, d->period_start);
  if (d->period_last && strcmp(d->period_last, d->period_start) != 0) es_buf_printf(b, " – %s", d->period_last);
}

static int totals_text(es_buf *t, es_buf *h, const ac_digest_totals *x, int en) {
  int bad = 0;
  double neg = x->feedback ? 100.0 * (double)x->negative / (double)x->feedback : 0;
  es_buf line = {0};
  es_buf_printf(&line, "%s: %ld · %s %.0f%%", en ? "Feedback received" : "Comentarios recibidos", x->feedback,
                en ? "negative" : "negativos", neg);
  if (x->nps_answers)
    es_buf_printf(&line, " · NPS %.0f (%ld %s)", x->nps, x->nps_answers, en ? "answers" : "respuestas");
  if (x->csat_answers)
    es_buf_printf(&line, " · CSAT %.0f%% (%ld %s)", x->csat, x->csat_answers, en ? "answers" : "respuestas");
  if (line.data) {
    es_buf_printf(t, "%s\n", line.data);
    es_buf_puts(h, "<p>");
    bad |= esc(h, line.data);
    es_buf_puts(h, "</p>\n");
  }
  es_buf_free(&line);
  return bad;
}

/* Urgent cases first: a person may be in danger behind each. */
static int cases_text(es_buf *t, es_buf *h, const ac_digest *d, int en) {
  int bad = 0;
  long open = 0;
  for (int i = 0; i < d->ncases; i++) open += d->cases[i].state && strcmp(d->cases[i].state, "open") == 0;
  es_buf_printf(t,
                en ? "Urgent cases: %ld opened in the period, %ld still open\n"
                   : "Casos urgentes: %ld abiertos en el periodo, %ld sin cerrar\n",
                d->cases_opened, open);
  es_buf_printf(h,
                en ? "<h3>Urgent cases</h3>\n<p>%ld opened in the period, %ld still open</p>\n<ul>\n"
                   : "<h3>Casos urgentes</h3>\n<p>%ld abiertos en el periodo, %ld sin cerrar</p>\n<ul>\n",
                d->cases_opened, open);
  for (int i = 0; i < d->ncases; i++) {
    const ac_digest_case *c = &d->cases[i];
    const char *st =
        c->state && strcmp(c->state, "open") == 0 ? (en ? "open" : "abierto") : (en ? "closed" : "cerrado");
    es_buf_printf(t, "- %s [%s]: ", nz(c->title), st);
    es_buf_puts(h, "<li>");
    bad |= esc(h, c->title);
    es_buf_printf(h, " [%s]: ", st);
    if (!c->tool) {
      const char *none = en ? "no ticket yet" : "sin ticket todavía";
      es_buf_printf(t, "(%s)\n", none);
      es_buf_printf(h, "(%s)</li>\n", none);
      continue;
    }
    es_buf_printf(t, "%s %s (%s) %s\n", c->tool, nz(c->key), nz(c->status), nz(c->url));
    if (c->url && *c->url) {
      es_buf_puts(h, "<a href=\"");
      bad |= esc(h, c->url);
      es_buf_puts(h, "\">");
    }
    bad |= esc(h, c->tool);
    es_buf_puts(h, " ");
    bad |= esc(h, c->key);
    if (c->url && *c->url) es_buf_puts(h, "</a>");
    es_buf_puts(h, " (");
    bad |= esc(h, c->status);
    es_buf_puts(h, ")</li>\n");
  }
  es_buf_puts(h, "</ul>\n");
  return bad;
}

int ac_digest_render(const ac_digest *d, char **subject, char **text, char **html) {
  int en = d->lang && strcmp(d->lang, "en") == 0;
  int weekly = d->period && strcmp(d->period, "weekly") == 0;
  es_buf s = {0}, t = {0}, h = {0}, per = {0};
  int bad = 0; /* an esc ran out of memory */
  period_text(&per, d);
  es_buf_printf(&s, en ? "Escucha %s digest — %s" : "Resumen %s de Escucha — %s",
                en ? (weekly ? "weekly" : "daily") : (weekly ? "semanal" : "diario"), nz(d->agency));
  if (per.data) es_buf_printf(&s, " — %s", per.data);
  es_buf_printf(&t, "%s\n", s.data);
  es_buf_puts(&h, "<html><body>\n<h2>");
  esc(&h, s.data);
  es_buf_puts(&h, "</h2>\n");
  if (per.data) {
    es_buf_printf(&t, "%s: %s (UTC)\n", en ? "Period" : "Periodo", per.data);
    es_buf_printf(&h, "<p>%s: ", en ? "Period" : "Periodo");
    bad |= esc(&h, per.data);
    es_buf_puts(&h, " (UTC)</p>\n");
  }
  es_buf_puts(&t, "\n");
  if (d->ncases || d->cases_opened) {
    bad |= cases_text(&t, &h, d, en);
    es_buf_puts(&t, "\n");
  }
  if (d->totals) {
    bad |= totals_text(&t, &h, d->totals, en);
    es_buf_puts(&t, "\n");
  }
  es_buf_printf(&t, "%s\n", en ? "Top priorities" : "Prioridades principales");
  es_buf_printf(&h,
                "<h3>%s</h3>\n<table>\n<tr><th>#</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
                en ? "Top priorities" : "Prioridades principales", en ? "Topic" : "Tema", en ? "Volume" : "Volumen",
                en ? "Negative" : "Negativos", en ? "Score" : "Puntaje", en ? "Why" : "Por qué");
  for (int i = 0; i < d->nprios; i++) {
    const ac_digest_prio *p = &d->prios[i];
    const char *name = p->label ? p->label : nz(p->topic);
    es_buf_printf(&t, "%d. %s — %ld, %.0f%% %s, %s %.2f\n", i + 1, name, p->volume, p->negative_share * 100,
                  en ? "negative" : "negativos", en ? "score" : "puntaje", p->score);
    if (p->explanation && *p->explanation) es_buf_printf(&t, "   %s\n", p->explanation);
    es_buf_printf(&h, "<tr><td>%d</td><td>", i + 1);
    bad |= esc(&h, name);
    es_buf_printf(&h, "</td><td>%ld</td><td>%.0f%%</td><td>%.2f</td><td>", p->volume, p->negative_share * 100,
                  p->score);
    bad |= esc(&h, p->explanation);
    es_buf_puts(&h, "</td></tr>\n");
  }
  if (!d->nprios) es_buf_puts(&t, en ? "(none)\n" : "(ninguna)\n");
  es_buf_printf(&t, "\n%s\n", en ? "Open actions" : "Acciones abiertas");
  es_buf_printf(&h, "</table>\n<h3>%s</h3>\n", en ? "Open actions" : "Acciones abiertas");
  /* Reminders: the plans whose tickets have not moved (one open plan per topic, its rows adjacent) */
  int nstale = 0;
  for (int i = 0; i < d->nactions; i++)
    nstale += d->actions[i].stale && (i == 0 || strcmp(nz(d->actions[i - 1].topic), nz(d->actions[i].topic)) != 0);
  if (nstale) {
    es_buf line = {0};
    if (en)
      es_buf_printf(&line, "Reminder: %d open plan%s with no ticket movement for %d days or more (marked STALE).",
                    nstale, nstale == 1 ? "" : "s", d->stale_days);
    else
      es_buf_printf(&line,
                    "Recordatorio: %d %s sin movimiento de tickets desde hace %d días o más (marcados SIN "
                    "MOVIMIENTO).",
                    nstale, nstale == 1 ? "plan abierto" : "planes abiertos", d->stale_days);
    es_buf_printf(&t, "%s\n", nz(line.data));
    es_buf_puts(&h, "<p><strong>");
    bad |= esc(&h, line.data);
    es_buf_puts(&h, "</strong></p>\n");
    es_buf_free(&line);
  }
  es_buf_puts(&h, "<ul>\n");
  for (int i = 0; i < d->nactions; i++) {
    const ac_digest_action *a = &d->actions[i];
    const char *name = a->label ? a->label : nz(a->topic);
    int one = a->age_days >= 0.5 && a->age_days < 1.5; /* as printed with %.0f */
    const char *days = en ? (one ? "day" : "days") : (one ? "día" : "días");
    char stale[96] = "";
    if (a->stale)
      snprintf(stale, sizeof stale,
               en ? " — STALE: no movement for %.0f days" : " — SIN MOVIMIENTO desde hace %.0f días", a->idle_days);
    es_buf_puts(&h, "<li>");
    bad |= esc(&h, name);
    es_buf_puts(&h, ": ");
    if (!a->tool) {
      const char *none = en ? "no ticket yet" : "sin ticket todavía";
      es_buf_printf(&t, "- %s: (%s, %.0f %s)%s\n", name, none, a->age_days, days, stale);
      es_buf_printf(&h, "(%s, %.0f %s)", none, a->age_days, days);
      if (*stale) es_buf_printf(&h, "<strong>%s</strong>", stale);
      es_buf_puts(&h, "</li>\n");
      continue;
    }
    es_buf_printf(&t, "- %s: %s %s (%s, %.0f %s)%s %s\n", name, a->tool, nz(a->key), nz(a->status), a->age_days, days,
                  stale, nz(a->url));
    if (a->url && *a->url) {
      es_buf_puts(&h, "<a href=\"");
      bad |= esc(&h, a->url);
      es_buf_puts(&h, "\">");
    }
    bad |= esc(&h, a->tool);
    es_buf_puts(&h, " ");
    bad |= esc(&h, a->key);
    if (a->url && *a->url) es_buf_puts(&h, "</a>");
    es_buf_puts(&h, " (");
    bad |= esc(&h, a->status);
    es_buf_printf(&h, ", %.0f %s)", a->age_days, days);
    if (*stale) es_buf_printf(&h, "<strong>%s</strong>", stale);
    if (a->url && *a->url) {
      es_buf_puts(&h, " <code>");
      bad |= esc(&h, a->url);
      es_buf_puts(&h, "</code>");
    }
    es_buf_puts(&h, "</li>\n");
  }
  if (!d->nactions) es_buf_puts(&t, en ? "(none)\n" : "(ninguna)\n");
  es_buf_puts(&h, "</ul>\n</body></html>\n");
  es_buf_free(&per);
  if (bad || !s.data || !t.data || !h.data) {
    es_buf_free(&s);
    es_buf_free(&t);
    es_buf_free(&h);
    return -1;
  }
  *subject = s.data;
  *text = t.data;
  *html = h.data;
  return 0;
}

ac_smtp_rc ac_digest_send(const ac_digest *d, const ac_smtp *s, const char *const *to, char *err, size_t errlen) {
  char *subj = NULL, *text = NULL, *html = NULL;
  es_buf msg = {0};
  ac_smtp_rc rc = AC_SMTP_TRANSIENT;
  if (ac_digest_render(d, &subj, &text, &html) != 0) goto cleanup;
  if (ac_mime_build(&msg, s->from, to, subj, NULL, text, html) != 0) goto cleanup;
  rc = ac_smtp_send(s, to, msg.data, msg.len, err, errlen);
cleanup:
  free(subj);
  free(text);
  free(html);
  es_buf_free(&msg);
  return rc;
}

#define DAY 86400LL

int ac_digest_period(const char *period, int64_t now_s, int64_t *start, int64_t *end) {
  int64_t day = now_s >= 0 ? now_s / DAY : (now_s - DAY + 1) / DAY; /* floor */
  if (period && strcmp(period, "daily") == 0) {
    *end = day * DAY;
    *start = *end - DAY;
    return 0;
  }
  if (period && strcmp(period, "weekly") == 0) {
    /* 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7 */
    int64_t wd = ((day + 3) % 7 + 7) % 7;
    *end = (day - wd) * DAY;
    *start = *end - 7 * DAY;
    return 0;
  }
  return -1;
}

int ac_digest_due(int64_t end, int hour, int64_t now_s) { return now_s >= end + (int64_t)hour * 3600; }

void ac_digest_date(int64_t t, char out[11]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}
