/* Plan assembly: taxonomy playbook, templates (es/en), idempotency key. */
#include "plan.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "escucha/v1/escucha.pb-c.h"
#include "ac_text.h"
#include "util.h"

void ac_plan_key(const char *request_id, char out[64]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)(request_id ? request_id : ""), request_id ? strlen(request_id) : 0);
  memcpy(out, "esk-", 4);
  sodium_bin2hex(out + 4, 33, h, 16);
}

void ac_plan_from_request(ac_plan *p, const Escucha__V1__ActionRequest *req) {
  snprintf(p->agency, sizeof p->agency, "%s", req->agency);
  snprintf(p->topic, sizeof p->topic, "%s", req->topic);
  const Escucha__V1__PriorityUpdate *pu = req->priority;
  if (!pu) return;
  p->ev = (ac_evidence){(long)pu->volume,
                        pu->negative_share,
                        pu->negative_ci ? pu->negative_ci->low : 0,
                        pu->negative_ci ? pu->negative_ci->high : 0,
                        pu->spike_z,
                        pu->nps,
                        pu->nps_impact,
                        pu->csat,
                        pu->score,
                        (int)pu->rank,
                        pu->urgent,
                        pu->window,
                        pu->explanation_es,
                        pu->explanation_en};
}

int ac_plan_analyze(ac_plan *p, const ac_doc *topic, size_t nt, const ac_doc *rest, size_t nr) {
  size_t idx[AC_PLAN_MAX_QUOTES];
  p->nterms = ac_logodds(topic, nt, rest, nr, 500.0, p->terms, AC_PLAN_MAX_TERMS);
  int k = ac_typical_quotes(topic, nt, AC_PLAN_MAX_QUOTES, idx);
  for (int i = 0; i < k; i++) {
    snprintf(p->quotes[i].id, sizeof p->quotes[i].id, "%s", topic[idx[i]].id ? topic[idx[i]].id : "");
    if (!(p->quotes[i].text = strdup(topic[idx[i]].text))) return -1;
    p->nquotes = i + 1;
  }
  return 0;
}

static const char *lang_str(json_t *v, const char *lang) {
  if (json_is_string(v)) return json_string_value(v);
  const char *s = json_string_value(json_object_get(v, lang));
  return s ? s : json_string_value(json_object_get(v, "es"));
}

static void add_recs(ac_plan *p, json_t *arr, const char *lang) {
  size_t i;
  json_t *a;
  json_array_foreach(arr, i, a) {
    const char *s = lang_str(a, lang);
    if (!s && json_is_object(a)) s = lang_str(json_object_get(a, "title"), lang);
    if (s && p->nrecs < AC_PLAN_MAX_RECS) p->recs[p->nrecs++] = strdup(s);
  }
}

json_t *ac_plan_playbook(ac_plan *p, json_t *tax, const char *lang) {
  json_t *cats = json_object_get(tax, "categories"), *cat, *routing = NULL;
  size_t i;
  char catid[128];
  snprintf(catid, sizeof catid, "%s", p->topic);
  char *slash = strchr(catid, '/');
  if (slash) *slash = 0;
  json_array_foreach(cats, i, cat) {
    if (strcmp(json_string_value(json_object_get(cat, "id")) ?: "", catid) != 0) continue;
    json_t *labels = json_object_get(cat, "labels"), *sub = NULL, *s;
    routing = json_object_get(cat, "routing");
    size_t j;
    json_array_foreach(json_object_get(cat, "subcategories"), j, s) {
      const char *sid = json_string_value(json_object_get(s, "id"));
      /* ids are either "cat/sub" or just "sub" */
      if (sid && slash && (strcmp(sid, p->topic) == 0 || strcmp(sid, slash + 1) == 0)) sub = s;
    }
    if (sub) {
      labels = json_object_get(sub, "labels");
      if (json_object_get(sub, "routing")) routing = json_object_get(sub, "routing");
      add_recs(p, json_object_get(sub, "recommended_actions"), lang);
      add_recs(p, json_object_get(sub, "actions"), lang);
    }
    add_recs(p, json_object_get(cat, "recommended_actions"), lang);
    add_recs(p, json_object_get(cat, "actions"), lang);
    snprintf(p->label_es, sizeof p->label_es, "%s", lang_str(labels, "es") ?: p->topic);
    snprintf(p->label_en, sizeof p->label_en, "%s", lang_str(labels, "en") ?: p->topic);
    break;
  }
  if (!p->label_es[0]) snprintf(p->label_es, sizeof p->label_es, "%s", p->topic);
  if (!p->label_en[0]) snprintf(p->label_en, sizeof p->label_en, "%s", p->topic);
  if (!p->nrecs) { /* no playbook entry: a generic, still actionable step */
    p->recs[p->nrecs++] = strdup(
        strcmp(lang, "en") == 0 ? "Review the quoted cases with the service owner and define a fix"
                                : "Revisar los casos citados con el responsable del servicio y definir una corrección");
  }
  return routing;
}

static void terms_list(const ac_plan *p, es_buf *b) {
  for (int i = 0; i < p->nterms; i++) es_buf_printf(b, "%s%s", i ? ", " : "", p->terms[i].term);
}

int ac_plan_summarize(ac_plan *p) {
  es_buf es = {0}, en = {0};
  const ac_evidence *e = &p->ev;
  const char *w = e->window ? e->window : "day";
  es_buf_printf(&es, "«%s»: %ld comentarios en la ventana (%s); %.0f%% negativos (IC 95%% %.0f–%.0f%%)", p->label_es,
                e->volume, w, e->negative_share * 100, e->neg_ci_low * 100, e->neg_ci_high * 100);
  es_buf_printf(&en, "\"%s\": %ld comments in the window (%s); %.0f%% negative (95%% CI %.0f–%.0f%%)", p->label_en,
                e->volume, w, e->negative_share * 100, e->neg_ci_low * 100, e->neg_ci_high * 100);
  if (e->spike_z > 2) {
    es_buf_printf(&es, ", un aumento inusual (z = %.1f)", e->spike_z);
    es_buf_printf(&en, ", an unusual rise (z = %.1f)", e->spike_z);
  }
  if (e->nps_impact != 0) {
    es_buf_printf(&es, "; impacto en NPS %+.1f puntos", e->nps_impact);
    es_buf_printf(&en, "; NPS impact %+.1f points", e->nps_impact);
  }
  es_buf_printf(&es, ". Prioridad #%d (puntaje %.2f)%s.", e->rank, e->score, e->urgent ? ", URGENTE" : "");
  es_buf_printf(&en, ". Priority #%d (score %.2f)%s.", e->rank, e->score, e->urgent ? ", URGENT" : "");
  if (p->nterms) {
    es_buf_puts(&es, " Términos distintivos: ");
    terms_list(p, &es);
    es_buf_puts(&es, ".");
    es_buf_puts(&en, " Distinctive terms: ");
    terms_list(p, &en);
    es_buf_puts(&en, ".");
  }
  if (!es.data || !en.data) {
    es_buf_free(&es);
    es_buf_free(&en);
    return -1;
  }
  free(p->summary_es);
  free(p->summary_en);
  p->summary_es = es.data;
  p->summary_en = en.data;
  return 0;
}

char *ac_plan_title(const ac_plan *p, const char *lang) {
  es_buf b = {0};
  int en = lang && strcmp(lang, "en") == 0;
  es_buf_printf(&b, "[Escucha] %s%s — %s (%ld, #%d)", p->ev.urgent ? (en ? "URGENT " : "URGENTE ") : "",
                en ? p->label_en : p->label_es, p->agency, p->ev.volume, p->ev.rank);
  return b.data;
}

char *ac_plan_body(const ac_plan *p, const char *lang, int markup) {
  int en = lang && strcmp(lang, "en") == 0, html = markup == AC_MU_HTML, rc = 0;
  es_buf b = {0};
  const char *h_sum = en ? "Problem summary" : "Resumen del problema";
  const char *h_rec = en ? "Recommended actions" : "Acciones recomendadas";
  const char *h_quo = en ? "Representative comments" : "Comentarios representativos";
  const char *sum = en ? p->summary_en : p->summary_es;
  /* Summary (possibly the LLM's) and recommendations (the taxonomy's) are
   * text too: escaped, so "#1" or "@team" in them cannot link or notify. */
  rc |= es_buf_printf(&b, html ? "<h3>%s</h3>\n<p>" : "%s\n\n", h_sum);
  rc |= ac_text_inline(&b, sum ? sum : "", markup);
  rc |= es_buf_puts(&b, html ? "</p>\n" : "\n\n");
  rc |= es_buf_printf(&b, html ? "<h3>%s</h3>\n<ul>\n" : "%s\n", h_rec);
  for (int i = 0; i < p->nrecs; i++) {
    rc |= es_buf_puts(&b, html ? "<li>" : "- ");
    rc |= ac_text_inline(&b, p->recs[i], markup);
    rc |= es_buf_puts(&b, html ? "</li>\n" : "\n");
  }
  rc |= es_buf_printf(&b, html ? "</ul>\n<h3>%s</h3>\n" : "\n%s\n\n", h_quo);
  /* Citizen text: every line quoted; each quote a block of its own. */
  for (int i = 0; i < p->nquotes; i++) {
    rc |= ac_text_quote(&b, p->quotes[i].text, p->quotes[i].id, markup);
    if (!html) rc |= es_buf_puts(&b, "\n");
  }
  /* The marker lets a restarted service find the ticket by searching. It is
   * the only line that starts with it (ac_has_marker wants a line start, and
   * citizen lines are quoted and neutralized). */
  rc |= es_buf_printf(&b, html ? "<p><small>plan %s<br>\n%s%s</small></p>\n" : "plan %s\n%s%s\n", p->id,
                      AC_MARKER_PREFIX, p->idem_key);
  if (rc || !b.data) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

json_t *ac_plan_recs_json(const ac_plan *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->nrecs; i++) json_array_append_new(a, json_string(p->recs[i]));
  return a;
}

json_t *ac_plan_quotes_json(const ac_plan *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->nquotes; i++)
    json_array_append_new(a, json_pack("{s:s, s:s}", "feedback_id", p->quotes[i].id, "text", p->quotes[i].text));
  return a;
}

void ac_plan_free(ac_plan *p) {
  for (int i = 0; i < p->nquotes; i++) free(p->quotes[i].text);
  for (int i = 0; i < p->nrecs; i++) free(p->recs[i]);
  free(p->summary_es);
  free(p->summary_en);
  memset(p, 0, sizeof *p);
}
