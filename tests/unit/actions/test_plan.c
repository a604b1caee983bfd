/* Plan builder on hand-made data: distinctive terms, typical quotes,
 * playbook lookup, templates and the idempotency marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "plan.h"

static const ac_doc TOPIC[] = {
    {"f1", "La fila en la sucursal demoró tres horas, la espera es eterna"},
    {"f2", "Espera de dos horas en la fila de la sucursal centro"},
    {"f3", "Horas de espera en la fila, la sucursal tiene un solo funcionario"},
    {"f4", "La espera en la sucursal fue larga, la fila no avanzaba"},
    {"f5", "¡¡¡PÉSIMO!!! Nunca más, me robaron el tiempo, horrible horrible horrible"},
    {"f6", "Espera de dos horas en la fila de la sucursal centro"}, /* duplicate of f2 */
    {"f7", "fila"},
};
static const ac_doc REST[] = {
    {"r1", "El formulario web no carga y la página da error"},
    {"r2", "La página web tiene un error al pagar con tarjeta"},
    {"r3", "No pude pagar en la página, el formulario falla"},
    {"r4", "El funcionario fue amable y resolvió mi problema"},
    {"r5", "La página del formulario es confusa"},
};

static void test_logodds_terms(void **st) {
  (void)st;
  ac_term t[5];
  int n = ac_logodds(TOPIC, 7, REST, 5, 500, t, 5);
  assert_true(n >= 3);
  /* the topic's own vocabulary ranks first; the rest's does not appear */
  int seen_fila = 0, seen_espera = 0;
  for (int i = 0; i < n; i++) {
    seen_fila |= strcmp(t[i].term, "fila") == 0;
    seen_espera |= strcmp(t[i].term, "espera") == 0;
    assert_string_not_equal(t[i].term, "página");
    assert_string_not_equal(t[i].term, "formulario");
    if (i) assert_true(t[i - 1].z >= t[i].z);
  }
  assert_true(seen_fila && seen_espera);
}

static void test_typical_quotes(void **st) {
  (void)st;
  size_t idx[5];
  int n = ac_typical_quotes(TOPIC, 7, 5, idx);
  assert_true(n >= 3 && n <= 5);
  for (int i = 0; i < n; i++) {
    assert_int_not_equal(idx[i], 4); /* the rant is atypical */
    assert_int_not_equal(idx[i], 6); /* too short to say anything */
    for (int j = 0; j < i; j++)      /* f2 and f6 are the same text: only one of them */
      assert_false((idx[i] == 1 && idx[j] == 5) || (idx[i] == 5 && idx[j] == 1));
  }
}

static void test_plan_render(void **st) {
  (void)st;
  json_error_t je;
  json_t *tax = json_loads(
      "{\"categories\":[{\"id\":\"waiting\",\"labels\":{\"es\":\"Tiempos de espera\",\"en\":\"Waiting times\"},"
      "\"routing\":{\"tool\":\"jira\",\"project\":\"ESP\"},"
      "\"subcategories\":[{\"id\":\"waiting/branch\",\"labels\":{\"es\":\"Espera en sucursal\",\"en\":\"Branch "
      "queues\"},"
      "\"actions\":[\"Abrir más ventanillas en horas punta\",{\"es\":\"Dar número de atención\",\"en\":\"Hand out "
      "queue numbers\"}],"
      "\"routing\":{\"tool\":\"github\",\"repo\":\"a/b\"}}]}]}",
      0, &je);
  assert_non_null(tax);
  ac_plan p = {0};
  strcpy(p.id, "01PLAN");
  strcpy(p.agency, "demo");
  strcpy(p.topic, "waiting/branch");
  ac_plan_key("demo/waiting/branch/1", p.idem_key);
  assert_int_equal(strlen(p.idem_key), 36);
  assert_memory_equal(p.idem_key, "esk-", 4);
  p.ev = (ac_evidence){.volume = 42,
                       .negative_share = 0.8,
                       .neg_ci_low = 0.66,
                       .neg_ci_high = 0.89,
                       .spike_z = 3.2,
                       .nps_impact = -4.5,
                       .score = 0.91,
                       .rank = 1,
                       .window = "day"};
  assert_int_equal(ac_plan_analyze(&p, TOPIC, 7, REST, 5), 0);
  json_t *routing = ac_plan_playbook(&p, tax, "es");
  assert_string_equal(json_string_value(json_object_get(routing, "tool")), "github");
  assert_int_equal(p.nrecs, 2);
  assert_string_equal(p.recs[1], "Dar número de atención");
  assert_false(p.generic_rec);
  assert_int_equal(ac_plan_summarize(&p), 0);
  assert_non_null(strstr(p.summary_es, "Espera en sucursal"));
  assert_non_null(strstr(p.summary_es, "42 comentarios"));
  assert_non_null(strstr(p.summary_en, "Branch queues"));
  assert_non_null(strstr(p.summary_en, "unusual rise"));
  assert_null(strstr(p.summary_en, "z = ")); /* no jargon */
  char *body = ac_plan_body(&p, "es", 0), *html = ac_plan_body(&p, "en", 1), *title = ac_plan_title(&p, "es");
  assert_true(ac_has_marker(body, p.idem_key));
  assert_true(ac_has_marker(html, p.idem_key));
  assert_false(ac_has_marker(body, "esk-0000"));
  assert_non_null(strstr(body, "Acciones recomendadas"));
  assert_non_null(strstr(html, "<h3>Recommended actions</h3>"));
  assert_non_null(strstr(title, "Espera en sucursal"));
  free(body);
  free(html);
  free(title);
  ac_plan_free(&p);
  /* unknown topic and no taxonomy: labels fall back, still one recommendation */
  strcpy(p.topic, "nope/x");
  assert_null(ac_plan_playbook(&p, NULL, "en"));
  assert_string_equal(p.label_en, "nope/x");
  assert_int_equal(p.nrecs, 1);
  assert_true(p.generic_rec);
  ac_plan_free(&p);
  json_decref(tax);
}

static void test_wilson(void **st) {
  (void)st;
  double lo, hi;
  ac_wilson(8, 10, 1.96, &lo, &hi); /* 0.4902 .. 0.9433 */
  assert_true(fabs(lo - 0.4902) < 1e-3 && fabs(hi - 0.9433) < 1e-3);
  ac_wilson(0, 10, 1.96, &lo, &hi); /* 0 .. 0.2775 */
  assert_true(lo == 0 && fabs(hi - 0.2775) < 1e-3);
  ac_wilson(0, 0, 1.96, &lo, &hi);
  assert_true(lo == 0 && hi == 1);
}

/* The agency: 1000 items, 200 negative (2 in 10). One service has 18 of 20
 * negative (4.5 times): planted. */
static const ac_cell CELLS[] = {
    {.dim = AC_DIM_SUB, .key = "waiting/queue", .n = 25, .neg = 19},
    {.dim = AC_DIM_SUB, .key = "waiting/desk", .n = 25, .neg = 7},
    {.dim = AC_DIM_SERVICE, .key = "Registro Centro", .n = 20, .neg = 18},
    {.dim = AC_DIM_SERVICE, .key = "Registro Norte", .n = 30, .neg = 8}, /* 27 %: chance explains it */
    {.dim = AC_DIM_CHANNEL, .key = "WEB", .n = 3, .neg = 3},             /* too few items */
    {.dim = AC_DIM_HOUR, .key = "10", .n = 6, .neg = 6},
    {.dim = AC_DIM_WEEKDAY, .key = "1", .n = 10, .neg = 1}, /* below the agency's rate */
};
#define NCELLS (sizeof CELLS / sizeof CELLS[0])

static void test_concentrations(void **st) {
  (void)st;
  ac_cell out[6];
  int n = ac_concentrations(CELLS, NCELLS, 1000, 200, out, 6);
  assert_int_equal(n, 3);
  assert_int_equal(out[0].dim, AC_DIM_SERVICE);
  assert_string_equal(out[0].key, "Registro Centro");
  assert_true(fabs(out[0].lift - 4.5) < 1e-9);
  assert_true(out[0].lift_lo > 1 && out[0].lift_lo < out[0].lift && out[0].lift < out[0].lift_hi);
  assert_string_equal(out[1].key, "10");
  assert_string_equal(out[2].key, "waiting/queue");
  for (int i = 1; i < n; i++) assert_true(out[i - 1].lift_lo >= out[i].lift_lo);
  assert_int_equal(ac_concentrations(CELLS, NCELLS, 0, 0, out, 6), 0); /* no agency rate: nothing to compare */
  assert_int_equal(ac_concentrations(CELLS, NCELLS, 1000, 200, out, 1), 1);
}

static void test_driver_recs(void **st) {
  (void)st;
  json_t *a = json_loads("[\"a1\",\"a2\",{\"es\":\"a3 es\",\"en\":\"a3 en\"}]", 0, NULL);
  json_t *b = json_loads("[\"b1\",\"a1\"]", 0, NULL);
  json_t *acts[] = {a, b};
  double shares[] = {0.7, 0.3};
  char *out[5];
  /* scores: a1 .7, a2 .35, b1 .3, a3 .23, a1 (dup) .15 */
  int n = ac_driver_recs(shares, acts, 2, "en", out, 5);
  assert_int_equal(n, 4);
  assert_string_equal(out[0], "a1");
  assert_string_equal(out[1], "a2");
  assert_string_equal(out[2], "b1");
  assert_string_equal(out[3], "a3 en");
  for (int i = 0; i < n; i++) free(out[i]);
  assert_int_equal(ac_driver_recs(shares, acts, 2, "es", out, 2), 2); /* at most max */
  free(out[0]);
  free(out[1]);
  json_decref(a);
  json_decref(b);
}

static const char TAX2[] =
    "{\"categories\":[{\"id\":\"waiting\",\"labels\":{\"es\":\"Tiempos de espera\",\"en\":\"Waiting times\"},"
    "\"routing\":{\"tool\":\"jira\",\"team\":\"operaciones\"},\"actions\":[\"Category step\"],"
    "\"subcategories\":["
    "{\"id\":\"waiting/desk\",\"labels\":{\"es\":\"Mesón\",\"en\":\"Desk\"},"
    "\"actions\":[{\"es\":\"Reforzar el mesón\",\"en\":\"Staff the desk\"}]},"
    "{\"id\":\"waiting/queue\",\"labels\":{\"es\":\"Filas\",\"en\":\"Queues\"},\"sla_days\":{\"urgent\":1,"
    "\"normal\":10},\"routing\":{\"assignee\":\"ana.perez\"},"
    "\"actions\":[{\"es\":\"Abrir más ventanillas en horas punta\",\"en\":\"Open more windows at peak "
    "hours\"},{\"es\":\"Dar número de atención\",\"en\":\"Hand out queue numbers\"}]}]}]}";

static const ac_doc DOCS[] = {
    {"f1", "La fila en la sucursal demoró tres horas, la espera es eterna", "waiting/queue", AC_SENT_NEGATIVE},
    {"f2", "Espera de dos horas en la fila de la sucursal centro", "waiting/queue", AC_SENT_NEGATIVE},
    {"f3", "Horas de espera en la fila, la sucursal tiene un solo funcionario", "waiting/queue", AC_SENT_NEGATIVE},
    {"f4", "El mesón de informaciones estaba vacío toda la mañana", "waiting/desk", AC_SENT_NEGATIVE},
    {"f5", "Nadie atendía en el mesón de informaciones, esperé sola", "waiting/desk", AC_SENT_NEGATIVE},
    {"f6", "Me atendieron rápido con número de atención, muy buena fila", "waiting/queue", AC_SENT_POSITIVE},
};

/* Planted: the plan names the service first with its lift; the queue
 * subcategory drives (19 of 26 negatives) so its actions lead. */
static void build_planted(ac_plan *p, json_t *tax, long urgent) {
  ac_stats st = {.days = 14,
                 .base_days = 28,
                 .agency_n = 1000,
                 .agency_neg = 200,
                 .topic_n = 50,
                 .topic_neg = 26,
                 .topic_pos = 10,
                 .topic_urgent = urgent,
                 .base_n = 20,
                 .base_neg = 4};
  st.cells = (ac_cell *)CELLS;
  st.ncells = NCELLS;
  memset(p, 0, sizeof *p);
  strcpy(p->id, "01PLAN");
  strcpy(p->agency, "demo");
  strcpy(p->topic, "waiting");
  strcpy(p->dashboard, "http://dash.example/");
  p->ev = (ac_evidence){.volume = 50,
                        .negative_share = 0.52,
                        .spike_z = 3.1,
                        .rank = 2,
                        .window = "week",
                        .urgent = 1 /* the priority's category flag: ignored */,
                        .has_csat = 1,
                        .csat = 62,
                        .csat_impact = -3.2};
  ac_plan_set_stats(p, &st);
  assert_int_equal(ac_plan_analyze(p, DOCS, 6, REST, 5), 0);
  ac_plan_playbook(p, tax, "es");
  assert_int_equal(ac_plan_summarize(p), 0);
}

static void test_planted_plan(void **st) {
  (void)st;
  json_t *tax = json_loads(TAX2, 0, NULL);
  assert_non_null(tax);
  ac_plan p;
  build_planted(&p, tax, 0);
  assert_int_equal(p.ndrivers, 2);
  assert_string_equal(p.drivers[0].sub, "waiting/queue");
  assert_string_equal(p.drivers[0].label_es, "Filas");
  assert_string_equal(p.conc[0].key, "Registro Centro");
  /* the driving subcategory's own actions lead; the desk's follow */
  assert_false(p.generic_rec);
  assert_string_equal(p.recs[0], "Abrir más ventanillas en horas punta");
  assert_string_equal(p.recs[1], "Dar número de atención");
  assert_string_equal(p.recs[2], "Reforzar el mesón");
  assert_int_equal(p.nrecs, 3);
  assert_string_equal(p.owner, "ana.perez");
  assert_int_equal(p.sla_days, 10);
  /* quotes per driver, and a counter-example */
  assert_int_equal(p.quote_driver[0], 0);
  assert_int_equal(p.quote_driver[p.nquotes - 1], 1);
  assert_string_equal(p.counter.id, "f6");
  /* the summary names the service with its lift; no urgency without urgent items */
  assert_non_null(strstr(p.summary_es, "el servicio «Registro Centro». Allí son negativos 9 de cada 10. Es 4,5 veces"));
  assert_non_null(
      strstr(p.summary_en, "the service \"Registro Centro\". There, 9 in 10 are negative. That is 4.5 times"));
  assert_non_null(strstr(p.summary_es, "5 de cada 10 son negativos (52%)"));
  assert_null(strstr(p.summary_es, "urgente"));
  assert_non_null(strstr(p.summary_es, "De quienes lo evaluaron, están satisfechos 6 de cada 10 (62%)."));
  assert_non_null(strstr(p.summary_en, "It lowers the agency's satisfaction by 3 points."));
  char *title = ac_plan_title(&p, "es");
  assert_null(strstr(title, "URGENTE"));
  free(title);
  char *body = ac_plan_body(&p, "es", 0), *html = ac_plan_body(&p, "en", 1);
  assert_non_null(strstr(body, "Dónde se concentran"));
  assert_non_null(
      strstr(body, "- En el servicio «Registro Centro», 9 de cada 10 comentarios son negativos (18 de 20)"));
  assert_non_null(strstr(body, "Responsable: ana.perez."));
  assert_non_null(strstr(body, "Plazo: 10 días desde la apertura."));
  assert_non_null(strstr(body, "Meta: Durante 2 semanas seguidas, como mucho 2 de cada 10"));
  assert_non_null(strstr(body, "Verlo en el panel: http://dash.example/#/feedback/f1\n"));
  assert_non_null(strstr(body, "Lo que funciona"));
  assert_true(ac_has_marker(body, p.idem_key));
  assert_non_null(strstr(html, "<a href=\"http://dash.example/#/feedback/f6\">"));
  assert_non_null(strstr(html, "<h3>Owner, due date and goal</h3>\n<ul>\n<li>Owner: ana.perez.</li>"));
  /* every list item inside a list */
  for (const char *li = strstr(html, "<li>"); li; li = strstr(li + 1, "<li>")) {
    const char *open = NULL, *close = NULL;
    for (const char *u = html; (u = strstr(u, "<ul>")) && u < li; u++) open = u;
    for (const char *u = html; (u = strstr(u, "</ul>")) && u < li; u++) close = u;
    assert_true(open && (!close || close < open));
  }
  json_t *d = ac_plan_detail_json(&p);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(d, "concentrations"), 0), "value")),
      "Registro Centro");
  assert_true(json_real_value(json_object_get(json_object_get(d, "success"), "target_negative_share")) == 0.2);
  json_decref(d);
  free(body);
  free(html);
  ac_plan_free(&p);
  /* urgent only from urgent items, with their count */
  build_planted(&p, tax, 3);
  title = ac_plan_title(&p, "es");
  assert_non_null(strstr(title, "URGENTE (3)"));
  assert_non_null(strstr(p.summary_es, "3 comentarios están marcados como urgentes"));
  assert_int_equal(p.sla_days, 1);
  free(title);
  ac_plan_free(&p);
  json_decref(tax);
}

/* Plans that follow the problem: a change against the reported snapshot. */
static void test_plan_change(void **st) {
  (void)st;
  json_t *tax = json_loads(TAX2, 0, NULL);
  ac_plan p;
  build_planted(&p, tax, 0);
  char *text = NULL, h1[65], h2[65];
  json_t *same = ac_plan_snapshot_json(&p);
  assert_int_equal(ac_plan_change(same, &p, "es", &text, h1), 0); /* what it was told: nothing to say */
  assert_null(text);
  assert_int_equal(ac_plan_change(NULL, &p, "es", &text, h1), 0); /* never told: nothing to compare */
  /* grew from 20 to 50 items */
  json_object_set_new(same, "topic_n", json_integer(20));
  assert_int_equal(ac_plan_change(same, &p, "es", &text, h1), 1);
  assert_non_null(strstr(text, "El tema creció: 50 comentarios en los últimos 14 días; antes eran 20."));
  assert_null(strstr(text, "Cambió lo que más pesa"));
  assert_int_equal(strlen(h1), 64);
  free(text);
  assert_int_equal(ac_plan_change(same, &p, "en", &text, h2), 1); /* the same change: the same hash */
  assert_string_equal(h1, h2);
  assert_non_null(strstr(text, "The topic grew"));
  free(text);
  /* 48 of 50 is no news; another driver first is */
  json_object_set_new(same, "topic_n", json_integer(48));
  assert_int_equal(ac_plan_change(same, &p, "es", &text, h2), 0);
  json_t *drv = json_object_get(same, "drivers"), *d0 = json_deep_copy(json_array_get(drv, 0));
  json_array_remove(drv, 0);
  json_array_append_new(drv, d0); /* desk first, queue second */
  assert_int_equal(ac_plan_change(same, &p, "es", &text, h2), 1);
  assert_non_null(
      strstr(text, "Cambió lo que más pesa: ahora «Filas» (7 de cada 10 comentarios negativos); antes «Mesón»."));
  assert_non_null(strstr(text, "Primera acción recomendada: Abrir más ventanillas en horas punta."));
  assert_string_not_equal(h1, h2);
  free(text);
  /* shrank to under half */
  json_object_set_new(same, "topic_n", json_integer(200));
  json_array_remove(drv, 1);
  json_array_insert_new(drv, 0, json_deep_copy(json_array_get(drv, 0)));
  assert_int_equal(ac_plan_change(same, &p, "es", &text, h2), 1);
  assert_non_null(strstr(text, "El tema bajó"));
  free(text);
  json_decref(same);
  ac_plan_free(&p);
  json_decref(tax);
}

/* New words: distinctive of the topic now against its own baseline texts. */
static void test_new_terms(void **st) {
  (void)st;
  ac_plan p = {0};
  ac_plan_new_terms(&p, TOPIC, 7, REST, 0);
  assert_int_equal(p.nnew_terms, 0); /* no baseline: nothing is "new" */
  ac_doc now[280], base[200];        /* the same texts forty times: enough words against the prior */
  for (int i = 0; i < 280; i++) now[i] = TOPIC[i % 7];
  for (int i = 0; i < 200; i++) base[i] = REST[i % 5];
  ac_plan_new_terms(&p, now, 280, base, 200);
  assert_true(p.nnew_terms >= 1);
  for (int i = 0; i < p.nnew_terms; i++) {
    assert_true(p.new_terms[i].z > 1.96);
    assert_string_not_equal(p.new_terms[i].term, "página");
  }
}

static void test_syllables(void **st) {
  (void)st;
  static const struct {
    const char *w, *lang;
    int n;
  } W[] = {{"murciélago", "es", 4},  {"país", "es", 2},        {"aéreo", "es", 4}, {"ciudad", "es", 2},
           {"guerra", "es", 2},      {"que", "es", 1},         {"y", "es", 1},     {"buey", "es", 1},
           {"comentarios", "es", 4}, {"institución", "es", 4}, {"Antes", "es", 2}, {"beautiful", "en", 3},
           {"table", "en", 2},       {"make", "en", 1},        {"the", "en", 1},   {"walked", "en", 1},
           {"wanted", "en", 2},      {"makes", "en", 1},       {"boxes", "en", 2}, {"agency", "en", 3},
           {"comments", "en", 2},    {"negative", "en", 3}};
  for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
    if (ac_syllables(W[i].w, strlen(W[i].w), W[i].lang) != W[i].n)
      fail_msg("%s: %d syllables, want %d", W[i].w, ac_syllables(W[i].w, strlen(W[i].w), W[i].lang), W[i].n);
}

static void test_readability(void **st) {
  (void)st;
  int w, s, y;
  /* 4 words, 1 sentence, 7 syllables: 206.84 - 0.60 * 175 - 1.02 * 4 */
  assert_true(fabs(ac_readability("El perro come carne.", "es", &w, &s, &y) - 97.76) < 1e-9);
  assert_true(w == 4 && s == 1 && y == 7);
  /* 6 words, 6 syllables: 206.835 - 1.015 * 6 - 84.6 */
  assert_true(fabs(ac_readability("The cat sat on the mat.", "en", &w, &s, &y) - 116.145) < 1e-9);
  /* punctuation is not a word, a decimal is one, and each sentence counts */
  ac_readability("«Filas» reúne 4,5 veces más. ¿Por qué?", "es", &w, &s, &y);
  assert_true(w == 7 && s == 2);
  assert_true(ac_readability("", "en", NULL, NULL, NULL) == 0);
  /* long words in one long sentence read worse than short sentences */
  assert_true(ac_readability("La institucionalización administrativa interdepartamental obstaculiza "
                             "significativamente la implementación.",
                             "es", NULL, NULL, NULL) < 30);
}

/* Our own text of a plain body: quotes, links and the marker lines out. */
static char *own_text(const char *body) {
  char *out = calloc(strlen(body) + 1, 1), *o = out;
  for (const char *l = body; *l;) {
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    int skip = l[0] == '>' || strncmp(l, "Verlo en el panel:", 18) == 0 ||
               strncmp(l, "See it in the dashboard:", 24) == 0 || strncmp(l, "plan ", 5) == 0 ||
               strncmp(l, "escucha-key", 11) == 0;
    if (!skip) {
      memcpy(o, l, n);
      o += n;
      *o++ = '\n';
    }
    l += n + (e ? 1 : 0);
  }
  return out;
}

/* Every category of the shipped taxonomy: the plan's recommendations are its
 * drivers' own actions (never the generic step), and every section we write
 * reads above the floors of docs/actions.md. */
#define FLOOR_ES 60.0 /* Fernández-Huerta */
#define FLOOR_EN 45.0 /* Flesch reading ease */
static void test_default_taxonomy_plans(void **st) {
  (void)st;
  json_t *tax = json_load_file("config/taxonomy.default.json", 0, NULL);
  assert_non_null(tax);
  size_t i;
  json_t *cat;
  double worst[2] = {200, 200};
  json_array_foreach(json_object_get(tax, "categories"), i, cat) {
    json_t *subs = json_object_get(cat, "subcategories");
    ac_cell cells[4] = {
        {.dim = AC_DIM_SUB, .n = 20, .neg = 14},
        {.dim = AC_DIM_SUB, .n = 20, .neg = 6},
        {.dim = AC_DIM_SERVICE, .key = "Oficina Centro", .n = 20, .neg = 16},
        {.dim = AC_DIM_HOUR, .key = "9", .n = 12, .neg = 9},
    };
    snprintf(cells[0].key, sizeof cells[0].key, "%s",
             json_string_value(json_object_get(json_array_get(subs, 0), "id")));
    snprintf(cells[1].key, sizeof cells[1].key, "%s",
             json_string_value(json_object_get(json_array_get(subs, json_array_size(subs) > 1), "id")));
    ac_stats sts = {.days = 14,
                    .base_days = 28,
                    .agency_n = 900,
                    .agency_neg = 180,
                    .topic_n = 40,
                    .topic_neg = 20,
                    .topic_urgent = (long)i % 2,
                    .base_n = 30,
                    .base_neg = 6,
                    .cells = cells,
                    .ncells = 4};
    for (int l = 0; l < 2; l++) {
      const char *lang = l ? "en" : "es";
      ac_plan p = {0};
      snprintf(p.topic, sizeof p.topic, "%s", json_string_value(json_object_get(cat, "id")));
      strcpy(p.agency, "demo");
      p.ev = (ac_evidence){
          .volume = 40, .negative_share = 0.5, .spike_z = 2.5, .nps_impact = -3.2, .rank = 3, .window = "day"};
      ac_plan_set_stats(&p, &sts);
      assert_int_equal(ac_plan_analyze(&p, DOCS, 6, REST, 5), 0);
      ac_plan_playbook(&p, tax, lang);
      assert_int_equal(ac_plan_summarize(&p), 0);
      assert_false(p.generic_rec);
      json_t *a0 = json_array_get(json_object_get(json_array_get(subs, 0), "actions"), 0);
      const char *want = json_is_string(a0) ? json_string_value(a0) : json_string_value(json_object_get(a0, lang));
      assert_string_equal(p.recs[0], want);
      char *body = ac_plan_body(&p, lang, 0), *own = own_text(body);
      const char *texts[] = {p.summary_es, p.summary_en, own};
      for (int k = 0; k < 3; k++) {
        const char *tl = k == 0 ? "es" : k == 1 ? "en" : lang;
        double r = ac_readability(texts[k], tl, NULL, NULL, NULL), floor = strcmp(tl, "es") == 0 ? FLOOR_ES : FLOOR_EN;
        if (r < worst[strcmp(tl, "en") == 0]) worst[strcmp(tl, "en") == 0] = r;
        if (r < floor) fail_msg("%s (%s) reads %.1f < %.1f:\n%s", p.topic, tl, r, floor, texts[k]);
      }
      free(body);
      free(own);
      ac_plan_free(&p);
    }
  }
  print_message("lowest readability: es %.1f, en %.1f\n", worst[0], worst[1]);
  json_decref(tax);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logodds_terms),  cmocka_unit_test(test_typical_quotes),
      cmocka_unit_test(test_plan_render),    cmocka_unit_test(test_wilson),
      cmocka_unit_test(test_concentrations), cmocka_unit_test(test_driver_recs),
      cmocka_unit_test(test_planted_plan),   cmocka_unit_test(test_syllables),
      cmocka_unit_test(test_readability),    cmocka_unit_test(test_default_taxonomy_plans),
      cmocka_unit_test(test_plan_change),    cmocka_unit_test(test_new_terms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
