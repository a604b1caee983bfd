/* Cases (urgent items): request validation, ticket and alert text, urgent
 * routing (see case.h). */
#include "case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "escucha/v1/escucha.pb-c.h"
#include "plan.h"

static int id_ok(const char *s) {
  if (!s || !*s || strlen(s) >= 96) return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z') || *s == '_' || *s == '-')) return 0;
  return 1;
}

int ac_case_from_request(ac_case *c, const Escucha__V1__ActionRequest *req) {
  memset(c, 0, sizeof *c);
  const Escucha__V1__UrgentCase *uc = req ? req->urgent_case : NULL;
  if (!uc || !req->agency || !*req->agency || strlen(req->agency) >= sizeof c->agency || !req->topic ||
      !req->request_id || !id_ok(uc->feedback_id))
    return -1;
  char want[400];
  snprintf(want, sizeof want, "case/%s", uc->feedback_id);
  if (strcmp(req->topic, want) != 0) return -1;
  snprintf(want, sizeof want, "case/%s/%s", req->agency, uc->feedback_id);
  if (strcmp(req->request_id, want) != 0) return -1;
  snprintf(c->agency, sizeof c->agency, "%s", req->agency);
  snprintf(c->topic, sizeof c->topic, "%s", req->topic);
  snprintf(c->feedback_id, sizeof c->feedback_id, "%s", uc->feedback_id);
  ac_plan_key(req->request_id, c->idem_key);
  /* Second and third, independent deliveries: their own keys, derived from
   * the case's request id. */
  snprintf(want, sizeof want, "%s#oncall-webhook", req->request_id);
  ac_plan_key(want, c->oncall_key[0]);
  snprintf(want, sizeof want, "%s#oncall-email", req->request_id);
  ac_plan_key(want, c->oncall_key[1]);
  c->uc = uc;
  return 0;
}

/* clang-format off */
static const char *const REASONS[][3] = {
    {"threat",            "Amenaza",                "Threat"},
    {"gender_violence",   "Violencia de género",    "Gender-based violence"},
    {"self_harm",         "Riesgo de autolesión",   "Self-harm risk"},
    {"child_at_risk",     "Niño o niña en riesgo",  "Child at risk"},
    {"medical_emergency", "Emergencia médica",      "Medical emergency"},
    {"danger_to_life",    "Peligro para la vida",   "Danger to life"},
    {"abuse",             "Abuso",                  "Abuse"},
    {"violence",          "Violencia",              "Violence"},
    {"category",          "Categoría urgente",      "Urgent category"},
};
static const char *const CHANNELS[] = {"?", "Web", "E-mail", "WhatsApp", "SMS", "Teléfono / Phone", "Chat",
                                       "Redes sociales / Social", "Encuesta / Survey", "Open311",
                                       "Presencial / In person", "Otro / Other"};
/* clang-format on */

const char *ac_case_reason_label(const char *reason, const char *lang) {
  int en = lang && strcmp(lang, "en") == 0;
  if (!reason || !*reason) return en ? "Urgent" : "Urgente";
  for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
    if (strcmp(REASONS[i][0], reason) == 0) return REASONS[i][en ? 2 : 1];
  /* A reason this version does not know is shown as it is only when it is a
   * plain word (it is written unescaped, and the request is outside input). */
  size_t n = 0;
  for (; reason[n] && n <= 40; n++)
    if (!((reason[n] >= 'a' && reason[n] <= 'z') || reason[n] == '_')) return en ? "Urgent" : "Urgente";
  return n <= 40 ? reason : en ? "Urgent" : "Urgente";
}

const char *ac_case_channel_label(int channel) {
  return channel > 0 && channel < (int)(sizeof CHANNELS / sizeof CHANNELS[0]) ? CHANNELS[channel] : "?";
}

void ac_case_time(int64_t ms, char *out, size_t n) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%d %H:%M UTC", &tm) == 0) snprintf(out, n, "?");
}

static int en_of(const char *lang) { return lang && strcmp(lang, "en") == 0; }

char *ac_case_title(const ac_case *c, const char *lang) {
  const Escucha__V1__UrgentCase *uc = c->uc;
  char when[40];
  ac_case_time(uc->has_received_at ? uc->received_at : 0, when, sizeof when);
  es_buf b = {0};
  int en = en_of(lang);
  /* Only our own words: the channel and reason labels are static strings. */
  int rc = es_buf_printf(&b, "%s · %s · %s · %s", en ? "URGENT" : "URGENTE", ac_case_reason_label(uc->reason, lang),
                         ac_case_channel_label(uc->has_channel ? (int)uc->channel : 0), when);
  if (rc || !b.data) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* "<label>: " + value as running text, on a line (a paragraph in HTML). */
static int field(es_buf *b, const char *label, const char *value, int markup) {
  int html = markup == AC_MU_HTML, rc = 0;
  rc |= es_buf_printf(b, html ? "<p><b>%s</b>: " : "%s: ", label);
  rc |= ac_text_inline(b, value && *value ? value : "-", markup);
  rc |= es_buf_puts(b, html ? "</p>\n" : "\n");
  return rc;
}

/* "<label>: " + our own words (static labels, numbers, times: nothing a
 * citizen or an agency wrote), unescaped so they read as written. */
static int field_ours(es_buf *b, const char *label, const char *value, int markup) {
  return es_buf_printf(b, markup == AC_MU_HTML ? "<p><b>%s</b>: %s</p>\n" : "%s: %s\n", label, value);
}

/* Our own link (the operator's --dashboard-url and an id checked to be
 * [A-Za-z0-9_-]): written as is so the tool links it; HTML-escaped in HTML. */
static int link(es_buf *b, const char *label, const char *base, const char *id, int markup) {
  int rc = 0;
  size_t n = base ? strlen(base) : 0;
  const char *sep = n && base[n - 1] == '/' ? "" : "/";
  if (markup != AC_MU_HTML) return es_buf_printf(b, "%s: %s%s#/feedback/%s\n", label, base ? base : "", sep, id);
  es_buf u = {0};
  rc |= es_buf_printf(&u, "%s%s#/feedback/%s", base ? base : "", sep, id);
  if (rc || !u.data) {
    es_buf_free(&u);
    return -1;
  }
  es_buf e = {0};
  for (size_t i = 0; i < u.len; i++) {
    char ch = u.data[i];
    rc |= ch == '&'   ? es_buf_puts(&e, "&amp;")
          : ch == '"' ? es_buf_puts(&e, "&quot;")
          : ch == '<' ? es_buf_puts(&e, "&lt;")
          : ch == '>' ? es_buf_puts(&e, "&gt;")
                      : es_buf_append(&e, &ch, 1);
  }
  if (!rc && e.data) rc |= es_buf_printf(b, "<p><b>%s</b>: <a href=\"%s\">%s</a></p>\n", label, e.data, e.data);
  else rc = -1;
  es_buf_free(&u);
  es_buf_free(&e);
  return rc;
}

/* When it came in, and why it is urgent with our confidence ("Amenaza (confianza 0.95)"). */
static void when_why(const Escucha__V1__UrgentCase *uc, const char *lang, char *when, size_t wlen, char *why,
                     size_t ylen) {
  ac_case_time(uc->has_received_at ? uc->received_at : 0, when, wlen);
  snprintf(why, ylen, "%s (%s %.2f)", ac_case_reason_label(uc->reason, lang), en_of(lang) ? "confidence" : "confianza",
           uc->has_confidence ? uc->confidence : 0.0);
}

static int marker(es_buf *b, const char *what, const char *id, const char *key, int markup) {
  return es_buf_printf(b, markup == AC_MU_HTML ? "<p><small>%s %s<br>\n%s%s</small></p>\n" : "%s %s\n%s%s\n", what, id,
                       AC_MARKER_PREFIX, key);
}

char *ac_case_body(const ac_case *c, const ac_case_view *v, int markup) {
  const Escucha__V1__UrgentCase *uc = c->uc;
  int en = en_of(v->lang), html = markup == AC_MU_HTML, rc = 0;
  es_buf b = {0};
  char when[40], why[400];
  /* The reason and confidence are ours; the matched phrase is the citizen's
   * words, so it goes through ac_text_inline with the rest of the line. */
  when_why(uc, v->lang, when, sizeof when, why, sizeof why);
  rc |= es_buf_printf(&b, html ? "<h3>%s</h3>\n" : "%s\n\n",
                      en ? "Urgent case: a person may be in danger. Act now."
                         : "Caso urgente: una persona puede estar en peligro. Actuar de inmediato.");
  rc |= field_ours(&b, en ? "Reason" : "Motivo", why, markup);
  if (uc->phrase && *uc->phrase) rc |= field(&b, en ? "Matched words" : "Palabras detectadas", uc->phrase, markup);
  rc |= es_buf_printf(&b, html ? "<h3>%s</h3>\n" : "\n%s\n\n",
                      en ? "Message (personal data redacted)" : "Mensaje (datos personales ocultos)");
  size_t before = b.len;
  rc |= ac_text_quote(&b, uc->text ? uc->text : "", NULL, markup);
  if (b.len == before) rc |= es_buf_puts(&b, html ? "<p>-</p>\n" : "-\n");
  rc |= es_buf_puts(&b, html ? "" : "\n");
  rc |= field_ours(&b, en ? "Channel" : "Canal", ac_case_channel_label(uc->has_channel ? (int)uc->channel : 0), markup);
  rc |= field(&b, en ? "Service" : "Servicio", uc->service, markup);
  rc |= field_ours(&b, en ? "Received" : "Recibido", when, markup);
  char cat[300];
  snprintf(cat, sizeof cat, "%s",
           v->category_label && *v->category_label ? v->category_label
           : uc->subcategory && *uc->subcategory   ? uc->subcategory
           : uc->category                          ? uc->category
                                                   : "-");
  rc |= field(&b, en ? "Category" : "Categoría", cat, markup);
  rc |= field(&b, en ? "Language" : "Idioma", uc->language, markup);
  rc |= link(&b, en ? "Dashboard" : "Panel", v->dashboard_url, c->feedback_id, markup);
  /* The contact is sealed to the notifier's key: the ticket only says
   * whether there is one, never what it is. */
  char how[300];
  if (uc->has_sealed_contact && uc->sealed_contact.len > 0)
    snprintf(how, sizeof how,
             en ? "the person left a contact (sealed): only escucha-actions' notifier can open it, for case %s; "
                  "it is never shown here"
                : "la persona dejó un contacto (sellado): solo el notificador de escucha-actions puede abrirlo, "
                  "para el caso %s; nunca se muestra aquí",
             c->feedback_id);
  else snprintf(how, sizeof how, "%s", en ? "no contact left" : "no dejó contacto");
  rc |= field_ours(&b, en ? "Reaching the person" : "Contacto con la persona", how, markup);
  rc |= es_buf_puts(&b, html ? "" : "\n");
  rc |= marker(&b, "case", c->id[0] ? c->id : "-", c->idem_key, markup);
  if (rc || !b.data) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

char *ac_case_alert(const ac_case *c, const ac_case_view *v, int markup, const char *key) {
  const Escucha__V1__UrgentCase *uc = c->uc;
  int en = en_of(v->lang), html = markup == AC_MU_HTML, rc = 0;
  es_buf b = {0};
  char when[40], why[400];
  when_why(uc, v->lang, when, sizeof when, why, sizeof why);
  rc |= es_buf_printf(&b, html ? "<h3>%s</h3>\n" : "%s\n\n",
                      en ? "Urgent case opened: a person may be in danger."
                         : "Caso urgente abierto: una persona puede estar en peligro.");
  rc |= field_ours(&b, en ? "Reason" : "Motivo", why, markup);
  rc |= field_ours(&b, en ? "Channel" : "Canal", ac_case_channel_label(uc->has_channel ? (int)uc->channel : 0), markup);
  rc |= field_ours(&b, en ? "Received" : "Recibido", when, markup);
  rc |= field(&b, en ? "Agency" : "Institución", c->agency, markup);
  if (v->ticket_url && *v->ticket_url) {
    if (html) {
      rc |= es_buf_printf(&b, "<p><b>%s</b>: ", en ? "Case ticket" : "Ticket del caso");
      rc |= ac_text_inline(&b, v->ticket_url, AC_MU_HTML);
      rc |= es_buf_puts(&b, "</p>\n");
    } else rc |= es_buf_printf(&b, "%s: %s\n", en ? "Case ticket" : "Ticket del caso", v->ticket_url);
  }
  rc |= link(&b, en ? "Dashboard" : "Panel", v->dashboard_url, c->feedback_id, markup);
  rc |= es_buf_puts(&b, html ? "" : "\n");
  rc |= marker(&b, "case", c->id[0] ? c->id : "-", key, markup);
  if (rc || !b.data) {
    es_buf_free(&b);
    return NULL;
  }
  return b.data;
}

void ac_case_route_find(json_t *tax, const char *category, ac_case_route *out) {
  memset(out, 0, sizeof *out);
  json_t *r = NULL, *cat;
  size_t i;
  json_array_foreach(json_object_get(tax, "categories"), i, cat) {
    const char *id = json_string_value(json_object_get(cat, "id"));
    if (category && id && strcmp(id, category) == 0) r = json_object_get(cat, "urgent_routing");
  }
  if (!r) r = json_object_get(tax, "urgent_routing");
  if (!json_is_object(r)) return;
  out->oncall_webhook = json_string_value(json_object_get(r, "oncall_webhook"));
  out->oncall_email = json_string_value(json_object_get(r, "oncall_email"));
  out->ticket = json_deep_copy(r);
  if (out->ticket) {
    json_object_del(out->ticket, "oncall_webhook");
    json_object_del(out->ticket, "oncall_email");
    if (json_object_size(out->ticket) == 0) {
      json_decref(out->ticket);
      out->ticket = NULL;
    }
  }
}

void ac_case_route_free(ac_case_route *r) {
  if (!r) return;
  json_decref(r->ticket);
  memset(r, 0, sizeof *r);
}

json_t *ac_case_priority_json(const ac_case *c) {
  const Escucha__V1__UrgentCase *uc = c->uc;
  json_t *o = json_object();
  json_object_set_new(o, "kind", json_string("case"));
  json_object_set_new(o, "urgent", json_true());
  json_object_set_new(o, "reason", json_string(uc->reason ? uc->reason : "category"));
  json_object_set_new(o, "confidence", json_real(uc->has_confidence ? uc->confidence : 0.0));
  if (uc->has_channel) json_object_set_new(o, "channel", json_integer((json_int_t)uc->channel));
  if (uc->category) json_object_set_new(o, "category", json_string(uc->category));
  if (uc->subcategory) json_object_set_new(o, "subcategory", json_string(uc->subcategory));
  if (uc->has_received_at) json_object_set_new(o, "received_at", json_integer((json_int_t)uc->received_at));
  json_object_set_new(o, "has_contact", json_boolean(uc->has_sealed_contact && uc->sealed_contact.len > 0));
  return o;
}
