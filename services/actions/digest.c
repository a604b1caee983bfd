/* E-mail digest rendering and sending (see digest.h). */
#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void esc(es_buf *b, const char *s) {
  for (; s && *s; s++) {
    if (*s == '<') es_buf_puts(b, "&lt;");
    else if (*s == '>') es_buf_puts(b, "&gt;");
    else if (*s == '&') es_buf_puts(b, "&amp;");
    else if (*s == '"') es_buf_puts(b, "&quot;");
    else es_buf_append(b, s, 1);
  }
}

int ac_digest_render(const ac_digest *d, char **subject, char **text, char **html) {
  int en = d->lang && strcmp(d->lang, "en") == 0;
  int weekly = d->period && strcmp(d->period, "weekly") == 0;
  es_buf s = {0}, t = {0}, h = {0};
  es_buf_printf(&s, en ? "Escucha %s digest — %s" : "Resumen %s de Escucha — %s",
                en ? (weekly ? "weekly" : "daily") : (weekly ? "semanal" : "diario"), d->agency);
  es_buf_printf(&t, "%s\n\n%s\n", s.data, en ? "Top priorities" : "Prioridades principales");
  es_buf_puts(&h, "<html><body>\n<h2>");
  esc(&h, s.data);
  es_buf_printf(&h, "</h2>\n<h3>%s</h3>\n<table>\n<tr><th>#</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
                en ? "Top priorities" : "Prioridades principales", en ? "Topic" : "Tema",
                en ? "Volume" : "Volumen", en ? "Negative" : "Negativos", en ? "Score" : "Puntaje");
  for (int i = 0; i < d->nprios; i++) {
    const ac_digest_prio *p = &d->prios[i];
    const char *name = p->label ? p->label : p->topic;
    es_buf_printf(&t, "%d. %s — %ld, %.0f%% %s, %s %.2f\n", i + 1, name, p->volume,
                  p->negative_share * 100, en ? "negative" : "negativos", en ? "score" : "puntaje", p->score);
    es_buf_printf(&h, "<tr><td>%d</td><td>", i + 1);
    esc(&h, name);
    es_buf_printf(&h, "</td><td>%ld</td><td>%.0f%%</td><td>%.2f</td></tr>\n", p->volume,
                  p->negative_share * 100, p->score);
  }
  if (!d->nprios) es_buf_puts(&t, en ? "(none)\n" : "(ninguna)\n");
  es_buf_printf(&t, "\n%s\n", en ? "Open actions" : "Acciones abiertas");
  es_buf_printf(&h, "</table>\n<h3>%s</h3>\n<ul>\n", en ? "Open actions" : "Acciones abiertas");
  for (int i = 0; i < d->nactions; i++) {
    const ac_digest_action *a = &d->actions[i];
    es_buf_printf(&t, "- %s: %s %s (%s, %.0f %s) %s\n", a->topic, a->tool, a->key, a->status,
                  a->age_days, en ? "days" : "días", a->url ? a->url : "");
    es_buf_puts(&h, "<li>");
    esc(&h, a->topic);
    es_buf_puts(&h, ": <a href=\"");
    esc(&h, a->url ? a->url : "");
    es_buf_puts(&h, "\">");
    esc(&h, a->tool);
    es_buf_puts(&h, " ");
    esc(&h, a->key);
    es_buf_printf(&h, "</a> (%s, %.0f %s)</li>\n", a->status, a->age_days, en ? "days" : "días");
  }
  if (!d->nactions) es_buf_puts(&t, en ? "(none)\n" : "(ninguna)\n");
  es_buf_puts(&h, "</ul>\n</body></html>\n");
  if (!s.data || !t.data || !h.data) {
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

int ac_digest_send(const ac_digest *d, const ac_smtp *s, const char *const *to, char *err, size_t errlen) {
  char *subj = NULL, *text = NULL, *html = NULL;
  es_buf msg = {0};
  int rc = -1;
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
