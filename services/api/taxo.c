/* Taxonomy ids and labels for escucha-api (see taxo.h). Read-only after
 * load, so the thread pool's workers share it without locks. */
#include "taxo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_taxo {
  char **cat;  /* owned ids */
  size_t ncat;
  char **sub;  /* owned full ids "cat/sub" */
  size_t nsub;
  char *names; /* owned JSON object */
};

void api_taxo_free(api_taxo *t) {
  if (!t) return;
  for (size_t i = 0; i < t->ncat; i++) free(t->cat[i]);
  for (size_t i = 0; i < t->nsub; i++) free(t->sub[i]);
  free(t->cat);
  free(t->sub);
  free(t->names);
  free(t);
}

api_taxo *api_taxo_parse(const char *json, size_t len, char *err, size_t errlen) {
  json_error_t je;
  json_t *doc = json_loadb(json, len, 0, &je), *names = json_object();
  api_taxo *t = es_xcalloc(1, sizeof *t);
  json_t *cats = json_object_get(doc, "categories");
  if (!json_is_array(cats) || json_array_size(cats) == 0) {
    snprintf(err, errlen, "categories: missing or empty");
    goto fail;
  }
  size_t i;
  json_t *c;
  json_array_foreach(cats, i, c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    if (!id || !*id) {
      snprintf(err, errlen, "categories[%zu].id: missing", i);
      goto fail;
    }
    t->cat = es_xrealloc(t->cat, (t->ncat + 1) * sizeof *t->cat);
    t->cat[t->ncat++] = es_xstrdup(id);
    const char *label = json_string_value(json_object_get(json_object_get(c, "labels"), "es"));
    json_object_set_new(names, id, json_string(label && *label ? label : id));
    json_t *subs = json_object_get(c, "subcategories"), *s;
    size_t j;
    json_array_foreach(subs, j, s) {
      const char *sid = json_string_value(json_object_get(s, "id"));
      if (!sid || strncmp(sid, id, strlen(id)) != 0 || sid[strlen(id)] != '/') {
        snprintf(err, errlen, "categories[%zu].subcategories[%zu].id: missing or not under its category", i, j);
        goto fail;
      }
      t->sub = es_xrealloc(t->sub, (t->nsub + 1) * sizeof *t->sub);
      t->sub[t->nsub++] = es_xstrdup(sid);
    }
  }
  t->names = json_dumps(names, JSON_COMPACT);
  if (!t->names) es_oom_abort("taxonomy names", 0);
  json_decref(doc);
  json_decref(names);
  return t;
fail:
  if (!doc) snprintf(err, errlen, "not JSON (line %d)", je.line);
  json_decref(doc);
  json_decref(names);
  api_taxo_free(t);
  return NULL;
}

api_taxo *api_taxo_load(const char *path, char *err, size_t errlen) {
  size_t len = 0;
  char *buf = path ? es_read_file(path, &len) : NULL;
  if (!buf) {
    snprintf(err, errlen, "%s: cannot read", path ? path : "(no taxonomy)");
    return NULL;
  }
  char e2[200] = "";
  api_taxo *t = api_taxo_parse(buf, len, e2, sizeof e2);
  free(buf);
  if (!t) snprintf(err, errlen, "%s: %s", path, e2);
  return t;
}

int api_taxo_has_category(const api_taxo *t, const char *category) {
  for (size_t i = 0; t && category && i < t->ncat; i++)
    if (strcmp(t->cat[i], category) == 0) return 1;
  return 0;
}

const char *api_taxo_subcategory(const api_taxo *t, const char *category, const char *sub) {
  if (!t || !category || !sub) return NULL;
  size_t cl = strlen(category);
  for (size_t i = 0; i < t->nsub; i++) {
    const char *s = t->sub[i];
    if (strncmp(s, category, cl) != 0 || s[cl] != '/') continue;
    if (strcmp(s, sub) == 0 || strcmp(s + cl + 1, sub) == 0) return s;
  }
  return NULL;
}

const char *api_taxo_names_json(const api_taxo *t) { return t ? t->names : "{}"; }
