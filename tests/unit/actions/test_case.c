/* Cases (urgent items): request validation and keys, the ticket's title and
 * body in each markup (citizen text quoted and neutralized, the contact
 * never shown, one marker line at the end), the on-call alert (no citizen
 * text), the urgent routing lookup and lib/taxonomy's urgent_routing rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "case.h"
#include "escucha/v1/escucha.pb-c.h"
#include "plan.h"
#include "taxonomy.h"

/* 2026-12-01 13:02:05 UTC = 1796130125 s since the epoch (`date -u -d @1796130125`). */
#define RECEIVED_MS 1796130125000LL

typedef struct fixture {
  Escucha__V1__UrgentCase uc;
  Escucha__V1__ActionRequest req;
  uint8_t sealed[4];
} fixture;

static void make(fixture *f, const char *text) {
  Escucha__V1__UrgentCase uc = ESCUCHA__V1__URGENT_CASE__INIT;
  Escucha__V1__ActionRequest req = ESCUCHA__V1__ACTION_REQUEST__INIT;
  f->uc = uc;
  f->req = req;
  f->uc.feedback_id = "01JABCDEF0123456789XYZ";
  f->uc.has_channel = 1, f->uc.channel = ESCUCHA__V1__CHANNEL__WHATSAPP;
  f->uc.service = "Línea violeta";
  f->uc.text = (char *)text;
  f->uc.language = "es";
  f->uc.has_received_at = 1, f->uc.received_at = RECEIVED_MS;
  f->uc.category = "safety";
  f->uc.subcategory = "safety/violence_threats";
  f->uc.reason = "threat";
  f->uc.has_confidence = 1, f->uc.confidence = 0.9;
  f->uc.phrase = "me amenazó con matarme";
  f->req.agency = "demo";
  f->req.topic = "case/01JABCDEF0123456789XYZ";
  f->req.request_id = "case/demo/01JABCDEF0123456789XYZ";
  f->req.urgent_case = &f->uc;
}

static void test_from_request_and_keys(void **st) {
  (void)st;
  fixture f;
  make(&f, "mi expareja me amenazó con matarme, tengo miedo");
  ac_case c;
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  assert_string_equal(c.agency, "demo");
  assert_string_equal(c.topic, "case/01JABCDEF0123456789XYZ");
  assert_string_equal(c.feedback_id, "01JABCDEF0123456789XYZ");
  char k[64];
  ac_plan_key("case/demo/01JABCDEF0123456789XYZ", k); /* the ticket's key is the plans' derivation */
  assert_string_equal(c.idem_key, k);
  ac_plan_key("case/demo/01JABCDEF0123456789XYZ#oncall-webhook", k);
  assert_string_equal(c.oncall_key[0], k);
  ac_plan_key("case/demo/01JABCDEF0123456789XYZ#oncall-email", k);
  assert_string_equal(c.oncall_key[1], k);
  assert_string_not_equal(c.oncall_key[0], c.idem_key);
  assert_string_not_equal(c.oncall_key[0], c.oncall_key[1]);

  /* refused: ids that disagree, an id that is not [A-Za-z0-9_-], no case */
  f.req.topic = "case/other";
  assert_int_equal(ac_case_from_request(&c, &f.req), -1);
  make(&f, "x");
  f.req.request_id = "case/otra/01JABCDEF0123456789XYZ";
  assert_int_equal(ac_case_from_request(&c, &f.req), -1);
  make(&f, "x");
  f.uc.feedback_id = "a b";
  f.req.topic = "case/a b";
  f.req.request_id = "case/demo/a b";
  assert_int_equal(ac_case_from_request(&c, &f.req), -1);
  make(&f, "x");
  f.req.urgent_case = NULL;
  assert_int_equal(ac_case_from_request(&c, &f.req), -1);
}

static void test_title(void **st) {
  (void)st;
  fixture f;
  make(&f, "x");
  ac_case c;
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  char *t = ac_case_title(&c, "es");
  assert_string_equal(t, "URGENTE · Amenaza · WhatsApp · 2026-12-01 13:02 UTC");
  free(t);
  t = ac_case_title(&c, "en");
  assert_string_equal(t, "URGENT · Threat · WhatsApp · 2026-12-01 13:02 UTC");
  free(t);
  f.uc.reason = "self_harm";
  f.uc.channel = ESCUCHA__V1__CHANNEL__SMS;
  t = ac_case_title(&c, "en");
  assert_string_equal(t, "URGENT · Self-harm risk · SMS · 2026-12-01 13:02 UTC");
  free(t);
  assert_string_equal(ac_case_reason_label("something_new", "es"), "something_new");
  /* not a plain word: never echoed (it is written unescaped; found by fuzz_actions_case) */
  assert_string_equal(ac_case_reason_label("x\nescucha-key: esk-1", "es"), "Urgente");
  assert_string_equal(ac_case_reason_label("Threat", "en"), "Urgent");
  assert_string_equal(ac_case_channel_label(99), "?");
}

/* Lines of body, split on '\n' (the array and its strings malloc'd). */
static int lines(const char *body, char ***out) {
  int n = 0;
  char **v = NULL, *dup = strdup(body), *save = NULL;
  for (char *l = strtok_r(dup, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    v = realloc(v, sizeof *v * (size_t)(n + 1));
    v[n++] = strdup(l);
  }
  free(dup);
  *out = v;
  return n;
}

static void free_lines(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void test_body_textile(void **st) {
  (void)st;
  fixture f;
  make(&f, "mi expareja me amenazó con matarme, tengo miedo");
  ac_case c;
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  snprintf(c.id, sizeof c.id, "01PLANCASE");
  ac_case_view v = {"es", "Violencia y amenazas", "http://127.0.0.1:8081/", NULL};
  char *b = ac_case_body(&c, &v, AC_MU_TEXTILE);
  assert_non_null(b);
  assert_non_null(strstr(b, "Motivo: Amenaza (confianza 0.90)\n"));
  assert_non_null(strstr(b, "Palabras detectadas: me amenazó con matarme\n"));
  assert_non_null(strstr(b, "> mi expareja me amenazó con matarme, tengo miedo\n"));
  assert_non_null(strstr(b, "Canal: WhatsApp\n"));
  assert_non_null(strstr(b, "Servicio: Línea violeta\n"));
  assert_non_null(strstr(b, "Recibido: 2026-12-01 13:02 UTC\n"));
  assert_non_null(strstr(b, "Categoría: Violencia y amenazas\n"));
  /* the hash route of the dashboard (services/api/web/app.js: #/<page>/<arg>) */
  assert_non_null(strstr(b, "Panel: http://127.0.0.1:8081/#/feedback/01JABCDEF0123456789XYZ\n"));
  assert_non_null(strstr(b, "Contacto con la persona: no dejó contacto\n"));
  /* ends with the plan line and the marker, like a plan's body */
  char want[200];
  snprintf(want, sizeof want, "case 01PLANCASE\nescucha-key: %s\n", c.idem_key);
  size_t bl = strlen(b), wl = strlen(want);
  assert_true(bl > wl);
  assert_string_equal(b + bl - wl, want);
  assert_true(ac_has_marker(b, c.idem_key));
  free(b);

  /* a sealed contact is announced, never shown; no dashboard slash doubled */
  f.uc.has_sealed_contact = 1, f.uc.sealed_contact.data = f.sealed, f.uc.sealed_contact.len = sizeof f.sealed;
  memcpy(f.sealed, "\x01\x02\x03\x04", 4);
  v.lang = "en";
  v.dashboard_url = "https://escucha.example.org";
  b = ac_case_body(&c, &v, AC_MU_MARKDOWN);
  assert_non_null(strstr(b, "Reaching the person: the person left a contact (sealed)"));
  assert_non_null(strstr(b, "Dashboard: https://escucha.example.org/#/feedback/01JABCDEF0123456789XYZ\n"));
  assert_null(strstr(b, "\x01\x02\x03"));
  free(b);
}

/* Hostile citizen text: every line stays a quote line, mentions, references
 * and links are neutralized, and the only marker line is ours, at the end. */
static void test_body_escaping(void **st) {
  (void)st;
  fixture f;
  ac_case c;
  make(&f, "x");
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  char text[400];
  snprintf(text, sizeof text, "me amenazó\r\n@admin ver #1 *urgente* http://evil.example\nescucha-key: %s\nh1. fin",
           c.idem_key);
  f.uc.text = text;
  f.uc.phrase = "@admin #2";
  f.uc.service = "<b>svc</b>";
  static const int MU[] = {AC_MU_TEXTILE, AC_MU_MARKDOWN, AC_MU_PLAIN, AC_MU_JIRA};
  for (size_t m = 0; m < sizeof MU / sizeof MU[0]; m++) {
    ac_case_view v = {"es", NULL, "http://127.0.0.1:8081/", NULL};
    char *b = ac_case_body(&c, &v, MU[m]);
    assert_non_null(b);
    assert_null(strstr(b, "@admin"));                                   /* a word joiner follows '@' */
    assert_null(strstr(b, "#1"));                                       /* and '#' before a digit */
    assert_null(strstr(b, "#2"));                                       /* the matched phrase is citizen text too */
    assert_null(strstr(b, "evil.example") && strstr(b, "http://evil")); /* no bare link */
    char **l;
    int n = lines(b, &l), markers = 0;
    for (int i = 0; i < n; i++) markers += strncmp(l[i], AC_MARKER_PREFIX, strlen(AC_MARKER_PREFIX)) == 0;
    assert_int_equal(markers, 1);
    assert_int_equal(strncmp(l[n - 1], AC_MARKER_PREFIX, strlen(AC_MARKER_PREFIX)), 0);
    if (MU[m] != AC_MU_JIRA) { /* "> " quote lines: the hostile ones are among them */
      int quoted_h1 = 0;
      for (int i = 0; i < n; i++) quoted_h1 += strncmp(l[i], "> ", 2) == 0 && strstr(l[i], "fin") != NULL;
      assert_int_equal(quoted_h1, 1);
    }
    free_lines(l, n);
    free(b);
  }
  /* HTML: the text escaped, the dashboard link an <a> */
  ac_case_view v = {"es", NULL, "http://127.0.0.1:8081/", NULL};
  char *h = ac_case_body(&c, &v, AC_MU_HTML);
  assert_null(strstr(h, "<b>svc</b>"));
  assert_non_null(strstr(h, "<a href=\"http://127.0.0.1:8081/#/feedback/01JABCDEF0123456789XYZ\">"));
  assert_non_null(strstr(h, "<blockquote>"));
  free(h);
}

static void test_alert_has_no_citizen_text(void **st) {
  (void)st;
  fixture f;
  make(&f, "mi expareja me amenazó con matarme, tengo miedo");
  ac_case c;
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  snprintf(c.id, sizeof c.id, "01PLANCASE");
  f.uc.has_sealed_contact = 1, f.uc.sealed_contact.data = f.sealed, f.uc.sealed_contact.len = 4;
  ac_case_view v = {"es", NULL, "http://127.0.0.1:8081/", "http://redmine.local/issues/7"};
  char *a = ac_case_alert(&c, &v, AC_MU_PLAIN, c.oncall_key[0]);
  assert_non_null(a);
  assert_null(strstr(a, "expareja"));
  assert_null(strstr(a, "matarme")); /* neither the text nor the matched phrase */
  assert_null(strstr(a, "Línea violeta"));
  assert_non_null(strstr(a, "Motivo: Amenaza (confianza 0.90)\n"));
  assert_non_null(strstr(a, "Ticket del caso: http://redmine.local/issues/7\n"));
  assert_non_null(strstr(a, "Panel: http://127.0.0.1:8081/#/feedback/01JABCDEF0123456789XYZ\n"));
  assert_true(ac_has_marker(a, c.oncall_key[0]));
  assert_false(ac_has_marker(a, c.idem_key));
  free(a);
}

static const char TAX_HEAD[] =
    "{\"categories\":[{\"id\":\"safety\",\"labels\":{\"es\":\"S\",\"en\":\"S\"},%s\"subcategories\":["
    "{\"id\":\"safety/t\",\"labels\":{\"es\":\"T\",\"en\":\"T\"},\"keywords\":{\"es\":[],\"en\":[]},"
    "\"actions\":[\"a\"]}]},"
    "{\"id\":\"other\",\"labels\":{\"es\":\"O\",\"en\":\"O\"},\"subcategories\":["
    "{\"id\":\"other/x\",\"labels\":{\"es\":\"X\",\"en\":\"X\"},\"keywords\":{\"es\":[],\"en\":[]},"
    "\"actions\":[\"a\"]}]}]%s}";

/* es_taxonomy_parse of TAX_HEAD with a category-level and a top-level part. */
static int parse(const char *cat, const char *top, es_taxonomy **t, char *err, size_t n) {
  char j[2048];
  snprintf(j, sizeof j, TAX_HEAD, cat, top);
  return es_taxonomy_parse(j, strlen(j), t, err, n);
}

static void refused(const char *cat, const char *top, const char *want) {
  es_taxonomy *t = NULL;
  char err[512] = "";
  assert_int_equal(parse(cat, top, &t, err, sizeof err), -1);
  assert_null(t);
  assert_string_equal(err, want);
}

static void test_routing(void **st) {
  (void)st;
  es_taxonomy *t = NULL;
  char err[512] = "";
  assert_int_equal(parse("\"urgent_routing\":{\"tool\":\"webhook\",\"url\":\"http://x/hook\",\"oncall_email\":"
                         "\"guardia@x.org\"},",
                         ",\"urgent_routing\":{\"tool\":\"redmine\",\"project\":\"escucha\",\"priority_id\":5,"
                         "\"oncall_webhook\":\"https://pager.example/hook\"}",
                         &t, err, sizeof err),
                   0);
  json_t *doc = es_taxonomy_doc(t);
  ac_case_route r;
  /* the category's own object wins, whole (no merge with the top level) */
  ac_case_route_find(doc, "safety", &r);
  assert_string_equal(json_string_value(json_object_get(r.ticket, "tool")), "webhook");
  assert_null(json_object_get(r.ticket, "oncall_email")); /* not a connector setting */
  assert_null(r.oncall_webhook);
  assert_string_equal(r.oncall_email, "guardia@x.org");
  ac_case_route_free(&r);
  /* other categories: the taxonomy's */
  ac_case_route_find(doc, "other", &r);
  assert_string_equal(json_string_value(json_object_get(r.ticket, "tool")), "redmine");
  assert_int_equal(json_integer_value(json_object_get(r.ticket, "priority_id")), 5);
  assert_null(json_object_get(r.ticket, "oncall_webhook"));
  assert_string_equal(r.oncall_webhook, "https://pager.example/hook");
  assert_null(r.oncall_email);
  ac_case_route_free(&r);
  es_taxonomy_free(t);
  /* none at all: the default tool, no on-call */
  assert_int_equal(parse("", "", &t, err, sizeof err), 0);
  ac_case_route_find(es_taxonomy_doc(t), "safety", &r);
  assert_null(r.ticket);
  assert_null(r.oncall_webhook);
  assert_null(r.oncall_email);
  ac_case_route_free(&r);
  es_taxonomy_free(t);
  /* only on-call keys: the ticket takes the default tool */
  assert_int_equal(parse("", ",\"urgent_routing\":{\"oncall_webhook\":\"http://h/x\"}", &t, err, sizeof err), 0);
  ac_case_route_find(es_taxonomy_doc(t), "safety", &r);
  assert_null(r.ticket);
  assert_string_equal(r.oncall_webhook, "http://h/x");
  ac_case_route_free(&r);
  es_taxonomy_free(t);
}

static void test_routing_refusals(void **st) {
  (void)st;
  refused("", ",\"urgent_routing\":[]", "urgent_routing: must be an object");
  refused("", ",\"urgent_routing\":{\"tool\":\"redmine\",\"projcet\":\"x\"}",
          "urgent_routing.projcet: unknown key (tool, a connector setting, oncall_webhook or oncall_email)");
  refused("\"urgent_routing\":{\"tool\":\"pager\"},", "",
          "categories[0].urgent_routing.tool: must be one of jira, github, gitlab, redmine, asana, clickup, monday, "
          "trello, webhook, email");
  refused("", ",\"urgent_routing\":{\"oncall_webhook\":\"ftp://x\"}",
          "urgent_routing.oncall_webhook: must be an http:// or https:// URL");
  refused("", ",\"urgent_routing\":{\"oncall_email\":\"nobody\"}",
          "urgent_routing.oncall_email: must be one e-mail address");
  refused("", ",\"urgent_routing\":{\"oncall_email\":\"a@x.org,b@x.org\"}",
          "urgent_routing.oncall_email: must be one e-mail address");
  refused("", ",\"urgent_routing\":{\"oncall_webhook_secret\":\"s3cr3t\"}",
          "urgent_routing.oncall_webhook_secret: secrets do not belong in the taxonomy (escucha-actions: "
          "--oncall-webhook-secret, --<tool>-token)");
  refused("", ",\"urgent_routing\":{\"token\":\"s3cr3t\"}",
          "urgent_routing.token: secrets do not belong in the taxonomy (escucha-actions: "
          "--oncall-webhook-secret, --<tool>-token)");
  refused("", ",\"urgent_routing\":{\"project\":[1]}", "urgent_routing.project: must be a string or an integer");
}

/* The shipped taxonomy routes cases to Redmine with the Immediate priority. */
static void test_default_taxonomy(void **st) {
  (void)st;
  es_taxonomy *t = NULL;
  char err[512] = "";
  if (es_taxonomy_load("config/taxonomy.default.json", &t, err, sizeof err) != 0) fail_msg("%s", err);
  ac_case_route r;
  ac_case_route_find(es_taxonomy_doc(t), "safety", &r);
  assert_string_equal(json_string_value(json_object_get(r.ticket, "tool")), "redmine");
  assert_string_equal(json_string_value(json_object_get(r.ticket, "project")), "escucha");
  assert_non_null(json_object_get(r.ticket, "priority_id"));
  ac_case_route_free(&r);
  es_taxonomy_free(t);
}

static void test_priority_json(void **st) {
  (void)st;
  fixture f;
  make(&f, "mi expareja me amenazó");
  ac_case c;
  assert_int_equal(ac_case_from_request(&c, &f.req), 0);
  json_t *j = ac_case_priority_json(&c);
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(s,
                      "{\"category\":\"safety\",\"channel\":3,\"confidence\":0.90000000000000002,\"has_contact\":false,"
                      "\"kind\":\"case\",\"reason\":\"threat\",\"received_at\":1796130125000,\"subcategory\":"
                      "\"safety/violence_threats\",\"urgent\":true}");
  assert_null(strstr(s, "expareja")); /* no text in the plan row */
  free(s);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_from_request_and_keys),
      cmocka_unit_test(test_title),
      cmocka_unit_test(test_body_textile),
      cmocka_unit_test(test_body_escaping),
      cmocka_unit_test(test_alert_has_no_citizen_text),
      cmocka_unit_test(test_routing),
      cmocka_unit_test(test_routing_refusals),
      cmocka_unit_test(test_default_taxonomy),
      cmocka_unit_test(test_priority_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
