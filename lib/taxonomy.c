/* The one taxonomy reader (validation, content hash, journey stages); moved
 * from classify unchanged so models trained before keep their hash. */
#include "taxonomy.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

const char *const ES_JOURNEYS[ES_NJOURNEYS] = {"AWARENESS",   "REGISTRATION", "ACTIVATION",
                                               "ONGOING_USE", "SUPPORT",      "RENEWAL"};

int es_journey_index(const char *s) {
  if (!s) return -1;
  for (int i = 0; i < ES_NJOURNEYS; i++)
    if (strcasecmp(s, ES_JOURNEYS[i]) == 0) return i;
  return -1;
}

typedef struct {
  char *err;
  size_t errlen;
} vctx;

static int fail(vctx *v, const char *path, const char *what) {
  snprintf(v->err, v->errlen, "%s: %s", path, what);
  return -1;
}

/* A slug: lowercase ASCII letters, digits, '_' and '-'. */
static int is_slug(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-')) return 0;
  return 1;
}

static int get_str(vctx *v, json_t *o, const char *key, const char *path, char **out) {
  char p[256];
  snprintf(p, sizeof p, "%s.%s", path, key);
  json_t *x = json_object_get(o, key);
  if (!x) return fail(v, p, "missing");
  if (!json_is_string(x)) return fail(v, p, "must be a string");
  if (json_string_length(x) == 0) return fail(v, p, "must not be empty");
  *out = strdup(json_string_value(x));
  return *out ? 0 : fail(v, p, "out of memory");
}

static int get_labels(vctx *v, json_t *o, const char *path, char **es, char **en) {
  char p[256];
  snprintf(p, sizeof p, "%s.labels", path);
  json_t *l = json_object_get(o, "labels");
  if (!l) return fail(v, p, "missing");
  if (!json_is_object(l)) return fail(v, p, "must be an object with es and en");
  if (get_str(v, l, "es", p, es)) return -1;
  return get_str(v, l, "en", p, en);
}

static int get_bool(vctx *v, json_t *o, const char *key, const char *path, int *out) {
  json_t *x = json_object_get(o, key);
  if (!x) return 0;
  if (!json_is_boolean(x)) {
    char p[256];
    snprintf(p, sizeof p, "%s.%s", path, key);
    return fail(v, p, "must be true or false");
  }
  *out = json_is_true(x);
  return 0;
}

static int get_keywords(vctx *v, json_t *o, const char *path, es_tax_subcat *s) {
  static const char *const LANGS[2] = {"es", "en"};
  char p[256];
  snprintf(p, sizeof p, "%s.keywords", path);
  json_t *k = json_object_get(o, "keywords");
  if (!k) return fail(v, p, "missing");
  if (!json_is_object(k)) return fail(v, p, "must be an object with es and en lists");
  for (int l = 0; l < 2; l++) {
    char q[300];
    snprintf(q, sizeof q, "%s.%s", p, LANGS[l]);
    json_t *arr = json_object_get(k, LANGS[l]);
    if (!arr) return fail(v, q, "missing");
    if (!json_is_array(arr)) return fail(v, q, "must be a list of strings");
    s->kw[l] = calloc(json_array_size(arr) + 1, sizeof(char *));
    if (!s->kw[l]) return fail(v, q, "out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *w = json_array_get(arr, i);
      if (!json_is_string(w) || json_string_length(w) == 0) {
        char r[400];
        snprintf(r, sizeof r, "%s[%zu]", q, i);
        return fail(v, r, "must be a non-empty string");
      }
      s->kw[l][s->nkw[l]++] = es_xstrdup(json_string_value(w)); /* loading: out of memory aborts */
    }
  }
  return 0;
}

/* The playbook: every subcategory says what to do about it (a plan's
 * recommendations come from the subcategories that drive it). Each action is
 * a non-empty string or {"es": "...", "en": "..."} (both non-empty). */
static int get_actions(vctx *v, json_t *o, const char *path) {
  char p[256];
  snprintf(p, sizeof p, "%s.actions", path);
  json_t *a = json_object_get(o, "actions");
  if (!a) return fail(v, p, "missing (every subcategory needs at least one action)");
  if (!json_is_array(a) || json_array_size(a) == 0)
    return fail(v, p, "must be a non-empty list of strings or {es, en} objects");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *x = json_array_get(a, i);
    char q[300];
    snprintf(q, sizeof q, "%s[%zu]", p, i);
    if (json_is_string(x) && json_string_length(x) > 0) continue;
    if (json_is_object(x)) {
      char *es = NULL, *en = NULL;
      int rc = get_str(v, x, "es", q, &es) || get_str(v, x, "en", q, &en);
      free(es);
      free(en);
      if (rc) return -1;
      continue;
    }
    return fail(v, q, "must be a non-empty string or an object with es and en");
  }
  return 0;
}

/* sla_days (optional, category or subcategory): days to a plan's due date,
 * a number or {"urgent": n, "normal": n}, each 1..365 (docs/actions.md). */
static int check_sla(vctx *v, json_t *o, const char *path) {
  char p[256];
  snprintf(p, sizeof p, "%s.sla_days", path);
  json_t *x = json_object_get(o, "sla_days");
  if (!x) return 0;
  const char *const keys[] = {"urgent", "normal"};
  for (int i = 0; i < (json_is_object(x) ? 2 : 1); i++) {
    json_t *d = json_is_object(x) ? json_object_get(x, keys[i]) : x;
    if (json_is_object(x) && !d) continue;
    if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 365)
      return fail(v, p, "must be a number of days (1..365) or {\"urgent\": n, \"normal\": n}");
  }
  return 0;
}

/* Keys of an urgent_routing object: the tool, the connector settings a
 * routing object may override (services/actions: same names in lower case)
 * and the on-call targets. Anything else is refused, so a typo cannot send a
 * case to the wrong queue silently. */
static const char *const URGENT_KEYS[] = {
    "tool",           "project",      "team",       "assignee",   "assigned_to_id",
    "priority_id",    "tracker_id",   "base_url",   "markup",     "email",
    "issue_type",     "api_version",  "repo",       "labels",     "key_field_id",
    "new_status_id",  "list",         "board",      "key_column", "status_column",
    "api_key",        "done_list",    "doing_list", "url",        "status_url",
    "smtp_url",       "to",           "from",       "user",       "tls_verify",
    "oncall_webhook", "oncall_email", NULL};
static const char *const URGENT_TOOLS[] = {"jira",   "github", "gitlab",  "redmine", "asana", "clickup",
                                           "monday", "trello", "webhook", "email",   NULL};

static int in_list(const char *const *l, const char *s) {
  for (; *l; l++)
    if (strcmp(*l, s) == 0) return 1;
  return 0;
}

/* urgent_routing (taxonomy level, or a category's override): where cases
 * (urgent items) go and whom to alert. Secrets never live here: the on-call
 * webhook's key comes from ESCUCHA_ONCALL_WEBHOOK_SECRET, tool tokens from
 * ESCUCHA_<TOOL>_TOKEN. */
static int check_urgent_routing(vctx *v, json_t *r, const char *path) {
  char p[300];
  snprintf(p, sizeof p, "%s%surgent_routing", path, path[0] ? "." : "");
  if (!json_is_object(r)) return fail(v, p, "must be an object");
  const char *k;
  json_t *x;
  json_object_foreach(r, k, x) {
    char q[400];
    snprintf(q, sizeof q, "%s.%.60s", p, k);
    if (strstr(k, "token") || strstr(k, "secret") || strstr(k, "password"))
      return fail(v, q,
                  "secrets do not belong in the taxonomy (escucha-actions: --oncall-webhook-secret, --<tool>-token)");
    if (!in_list(URGENT_KEYS, k))
      return fail(v, q, "unknown key (tool, a connector setting, oncall_webhook or oncall_email)");
    if (!json_is_string(x) && !json_is_integer(x)) return fail(v, q, "must be a string or an integer");
    const char *sv = json_string_value(x);
    if (strcmp(k, "tool") == 0 && (!sv || !in_list(URGENT_TOOLS, sv)))
      return fail(v, q, "must be one of jira, github, gitlab, redmine, asana, clickup, monday, trello, webhook, email");
    if (strcmp(k, "oncall_webhook") == 0 &&
        (!sv || (strncmp(sv, "http://", 7) != 0 && strncmp(sv, "https://", 8) != 0) || strpbrk(sv, " \t\r\n")))
      return fail(v, q, "must be an http:// or https:// URL");
    /* one mailbox: the e-mail connector sends to one recipient (a list there is the team's alias) */
    if (strcmp(k, "oncall_email") == 0 && (!sv || !strchr(sv, '@') || strpbrk(sv, " \t\r\n,;<>")))
      return fail(v, q, "must be one e-mail address");
  }
  return 0;
}

static int parse_sub(vctx *v, json_t *o, const char *path, const es_tax_category *c, int ci, es_tax_subcat *s) {
  char p[256];
  if (!json_is_object(o)) return fail(v, path, "must be an object");
  s->category = ci;
  s->journey = -1;
  s->urgent = c->urgent;
  if (get_str(v, o, "id", path, &s->id)) return -1;
  size_t cl = strlen(c->id);
  snprintf(p, sizeof p, "%s.id", path);
  if (strncmp(s->id, c->id, cl) != 0 || s->id[cl] != '/' || !is_slug(s->id + cl + 1, strlen(s->id + cl + 1)))
    return fail(v, p, "must be '<category id>/<slug>' (lowercase letters, digits, _ or -)");
  if (get_labels(v, o, path, &s->label_es, &s->label_en)) return -1;
  if (get_keywords(v, o, path, s)) return -1;
  if (get_bool(v, o, "urgent", path, &s->urgent)) return -1;
  json_t *j = json_object_get(o, "journey_stage");
  if (j) {
    snprintf(p, sizeof p, "%s.journey_stage", path);
    if (!json_is_string(j) || (s->journey = es_journey_index(json_string_value(j))) < 0)
      return fail(v, p, "must be one of AWARENESS, REGISTRATION, ACTIVATION, ONGOING_USE, SUPPORT, RENEWAL");
  }
  json_t *r = json_object_get(o, "routing");
  snprintf(p, sizeof p, "%s.routing", path);
  if (r && !json_is_object(r)) return fail(v, p, "must be an object");
  if (check_sla(v, o, path)) return -1;
  return get_actions(v, o, path);
}

static int grow_subs(es_taxonomy *t, size_t *cap) {
  if (t->nsubs < *cap) return 0;
  size_t c = *cap ? *cap * 2 : 64;
  es_tax_subcat *s = realloc(t->subs, c * sizeof *s);
  if (!s) return -1;
  t->subs = s;
  *cap = c;
  return 0;
}

static int parse_cat(vctx *v, es_taxonomy *t, json_t *o, size_t ci, size_t *subcap) {
  char path[64], p[128];
  snprintf(path, sizeof path, "categories[%zu]", ci);
  if (!json_is_object(o)) return fail(v, path, "must be an object");
  es_tax_category *c = &t->cats[ci];
  if (get_str(v, o, "id", path, &c->id)) return -1;
  snprintf(p, sizeof p, "%s.id", path);
  if (!is_slug(c->id, strlen(c->id))) return fail(v, p, "must be a slug (lowercase letters, digits, _ or -)");
  if (get_labels(v, o, path, &c->label_es, &c->label_en)) return -1;
  if (get_bool(v, o, "urgent", path, &c->urgent)) return -1;
  if (check_sla(v, o, path)) return -1;
  json_t *ur = json_object_get(o, "urgent_routing");
  if (ur && check_urgent_routing(v, ur, path)) return -1;
  json_t *subs = json_object_get(o, "subcategories");
  snprintf(p, sizeof p, "%s.subcategories", path);
  if (!subs) return fail(v, p, "missing");
  if (!json_is_array(subs) || json_array_size(subs) == 0) return fail(v, p, "must be a non-empty list");
  for (size_t i = 0; i < json_array_size(subs); i++) {
    char sp[160];
    snprintf(sp, sizeof sp, "%s[%zu]", p, i);
    if (grow_subs(t, subcap)) return fail(v, sp, "out of memory");
    es_tax_subcat *s = &t->subs[t->nsubs++];
    memset(s, 0, sizeof *s);
    if (parse_sub(v, json_array_get(subs, i), sp, c, (int)ci, s)) return -1;
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Ids must be unique; the hash covers the sorted id list, so reordering or
 * editing labels/keywords keeps models valid but adding/removing ids does not. */
static int check_ids(vctx *v, es_taxonomy *t) {
  char **ids = malloc((t->nsubs + t->ncats + 1) * sizeof *ids);
  if (!ids) return fail(v, "categories", "out of memory");
  for (size_t i = 0; i < t->nsubs; i++) ids[i] = t->subs[i].id;
  qsort(ids, t->nsubs, sizeof *ids, cmp_str);
  size_t total = 1;
  for (size_t i = 0; i < t->nsubs; i++) total += strlen(ids[i]) + 1;
  char *joined = malloc(total), *p = joined;
  if (!joined) {
    free(ids);
    return fail(v, "categories", "out of memory");
  }
  int rc = 0;
  for (size_t i = 0; i < t->nsubs; i++) {
    if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0) {
      char m[200];
      snprintf(m, sizeof m, "duplicate subcategory id '%s'", ids[i]);
      rc = fail(v, "categories", m);
      break;
    }
    size_t l = strlen(ids[i]) + 1;
    memcpy(p, ids[i], l);
    p += l;
  }
  t->hash = XXH3_64bits(joined, (size_t)(p - joined));
  free(joined);
  for (size_t i = 0; rc == 0 && i < t->ncats; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(t->cats[i].id, t->cats[j].id) == 0) {
        char p[64];
        snprintf(p, sizeof p, "categories[%zu].id", i);
        rc = fail(v, p, "duplicate category id");
        break;
      }
  free(ids);
  return rc;
}

int es_taxonomy_parse(const char *json, size_t len, es_taxonomy **out, char *err, size_t errlen) {
  vctx v = {err, errlen};
  json_error_t je;
  es_taxonomy *t = NULL;
  if (errlen) err[0] = '\0';
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  *out = NULL;
  if (!root) {
    snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
    return -1;
  }
  t = calloc(1, sizeof *t);
  if (!t) goto fail;
  json_t *cats = json_object_get(root, "categories");
  if (!json_is_object(root)) {
    fail(&v, "$", "must be an object");
    goto fail;
  }
  if (!cats) {
    fail(&v, "categories", "missing");
    goto fail;
  }
  if (!json_is_array(cats) || json_array_size(cats) == 0) {
    fail(&v, "categories", "must be a non-empty list");
    goto fail;
  }
  json_t *ur = json_object_get(root, "urgent_routing");
  if (ur && check_urgent_routing(&v, ur, "")) goto fail;
  t->ncats = json_array_size(cats);
  t->cats = calloc(t->ncats, sizeof *t->cats);
  if (!t->cats) goto fail;
  size_t subcap = 0;
  for (size_t i = 0; i < t->ncats; i++)
    if (parse_cat(&v, t, json_array_get(cats, i), i, &subcap)) goto fail;
  if (check_ids(&v, t)) goto fail;
  t->json = malloc(len + 1);
  if (!t->json) goto fail;
  memcpy(t->json, json, len);
  t->json[len] = '\0';
  t->json_len = len;
  t->doc = root; /* kept for lookups of routing and playbook */
  *out = t;
  return 0;
fail:
  if (!err[0]) snprintf(err, errlen, "out of memory");
  json_decref(root);
  es_taxonomy_free(t);
  return -1;
}

int es_taxonomy_load(const char *path, es_taxonomy **out, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  *out = NULL;
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  int rc = -1;
  do {
    if (len == cap) {
      char *b = realloc(buf, cap = cap ? cap * 2 : 65536);
      if (!b) goto cleanup;
      buf = b;
    }
    n = fread(buf + len, 1, cap - len, f);
    len += n;
  } while (n > 0);
  char msg[512] = "";
  rc = es_taxonomy_parse(buf, len, out, msg, sizeof msg);
  if (rc) snprintf(err, errlen, "%s: %s", path, msg);
cleanup:
  if (rc && !buf) snprintf(err, errlen, "%s: out of memory", path);
  free(buf);
  fclose(f);
  return rc;
}

void es_taxonomy_free(es_taxonomy *t) {
  if (!t) return;
  for (size_t i = 0; i < t->ncats; i++) {
    free(t->cats[i].id);
    free(t->cats[i].label_es);
    free(t->cats[i].label_en);
  }
  for (size_t i = 0; i < t->nsubs; i++) {
    es_tax_subcat *s = &t->subs[i];
    free(s->id);
    free(s->label_es);
    free(s->label_en);
    for (int l = 0; l < 2; l++) {
      for (size_t k = 0; k < s->nkw[l]; k++) free(s->kw[l][k]);
      free(s->kw[l]);
    }
  }
  free(t->cats);
  free(t->subs);
  free(t->json);
  json_decref(t->doc);
  free(t);
}

int es_taxonomy_find(const es_taxonomy *t, const char *id) {
  for (size_t i = 0; i < t->nsubs; i++)
    if (strcmp(t->subs[i].id, id) == 0) return (int)i;
  return -1;
}

const char *es_taxonomy_label(const es_taxonomy *t, const char *topic, const char *lang) {
  if (!t || !topic) return topic;
  int en = lang && strcmp(lang, "en") == 0;
  if (!strchr(topic, '/')) {
    for (size_t i = 0; i < t->ncats; i++)
      if (strcmp(t->cats[i].id, topic) == 0) return en ? t->cats[i].label_en : t->cats[i].label_es;
    return topic;
  }
  int i = es_taxonomy_find(t, topic);
  if (i < 0) return topic;
  return en ? t->subs[i].label_en : t->subs[i].label_es;
}

struct json_t *es_taxonomy_doc(const es_taxonomy *t) {
  return t ? t->doc : NULL;
}
