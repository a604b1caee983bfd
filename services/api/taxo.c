/* Taxonomy ids and labels for escucha-api (see taxo.h): a view over
 * lib/taxonomy, so the file is validated exactly as classify, prioritize and
 * actions validate it. Read-only after load, so the thread pool's workers
 * share it without locks. */
#include "taxo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taxonomy.h"

struct api_taxo {
  es_taxonomy *t; /* owned */
  char *names;    /* owned JSON object: category id -> Spanish label */
  char *labels;   /* owned JSON: GET /v1/taxonomy's body */
};

void api_taxo_free(api_taxo *t) {
  if (!t) return;
  es_taxonomy_free(t->t);
  free(t->names);
  free(t->labels);
  free(t);
}

static api_taxo *wrap(es_taxonomy *tx) {
  api_taxo *t = es_xcalloc(1, sizeof *t);
  t->t = tx;
  json_t *names = json_object();
  for (size_t i = 0; names && i < tx->ncats; i++)
    if (json_object_set_new(names, tx->cats[i].id, json_string(tx->cats[i].label_es)) != 0)
      es_oom_abort("taxonomy names", 0);
  t->names = names ? json_dumps(names, JSON_COMPACT) : NULL;
  json_decref(names);
  if (!t->names) es_oom_abort("taxonomy names", 0);
  /* {"categories":[{"id","labels":{"es","en"},"subcategories":[{"id","labels"}]}]} */
  json_t *cats = json_array();
  for (size_t i = 0; cats && i < tx->ncats; i++) {
    json_t *subs = json_array();
    for (size_t k = 0; subs && k < tx->nsubs; k++)
      if (tx->subs[k].category == (int)i &&
          json_array_append_new(subs, json_pack("{s:s, s:{s:s, s:s}}", "id", tx->subs[k].id, "labels", "es",
                                                tx->subs[k].label_es, "en", tx->subs[k].label_en)) != 0)
        es_oom_abort("taxonomy labels", 0);
    json_t *c = json_pack("{s:s, s:{s:s, s:s}, s:o}", "id", tx->cats[i].id, "labels", "es", tx->cats[i].label_es, "en",
                          tx->cats[i].label_en, "subcategories", subs);
    if (!c || json_array_append_new(cats, c) != 0) es_oom_abort("taxonomy labels", 0);
  }
  json_t *doc = cats ? json_pack("{s:o}", "categories", cats) : NULL;
  t->labels = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (!t->labels) es_oom_abort("taxonomy labels", 0);
  return t;
}

api_taxo *api_taxo_parse(const char *json, size_t len, char *err, size_t errlen) {
  es_taxonomy *tx = NULL;
  if (es_taxonomy_parse(json, len, &tx, err, errlen) != 0) return NULL;
  return wrap(tx);
}

api_taxo *api_taxo_load(const char *path, char *err, size_t errlen) {
  es_taxonomy *tx = NULL;
  if (!path || es_taxonomy_load(path, &tx, err, errlen) != 0) {
    if (!path) snprintf(err, errlen, "no taxonomy file");
    return NULL;
  }
  return wrap(tx);
}

int api_taxo_has_category(const api_taxo *t, const char *category) {
  for (size_t i = 0; t && category && i < t->t->ncats; i++)
    if (strcmp(t->t->cats[i].id, category) == 0) return 1;
  return 0;
}

const char *api_taxo_subcategory(const api_taxo *t, const char *category, const char *sub) {
  if (!t || !category || !sub) return NULL;
  size_t cl = strlen(category);
  for (size_t i = 0; i < t->t->nsubs; i++) {
    const char *s = t->t->subs[i].id;
    if (strncmp(s, category, cl) != 0 || s[cl] != '/') continue;
    if (strcmp(s, sub) == 0 || strcmp(s + cl + 1, sub) == 0) return s;
  }
  return NULL;
}

const char *api_taxo_names_json(const api_taxo *t) { return t ? t->names : "{}"; }

const char *api_taxo_labels_json(const api_taxo *t) { return t ? t->labels : "{\"categories\":[]}"; }
