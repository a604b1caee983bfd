/* Topic labels from the taxonomy JSON (jansson, read once at start). */
#include "taxonomy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct pz_taxonomy {
  json_t *root;
};

/* Takes ownership of root. */
static pz_taxonomy *wrap(json_t *root) {
  if (!root) return NULL;
  pz_taxonomy *t = NULL;
  if (json_is_array(json_object_get(root, "categories"))) t = malloc(sizeof *t);
  if (!t) {
    json_decref(root);
    return NULL;
  }
  t->root = root;
  return t;
}

pz_taxonomy *pz_taxonomy_parse(const char *text) {
  json_error_t err;
  return wrap(json_loads(text, 0, &err));
}

pz_taxonomy *pz_taxonomy_load(const char *path) {
  if (!path || !*path) return NULL;
  json_error_t err;
  return wrap(json_load_file(path, 0, &err));
}

void pz_taxonomy_free(pz_taxonomy *t) {
  if (!t) return;
  json_decref(t->root);
  free(t);
}

static json_t *find_by_id(json_t *arr, const char *id, size_t len) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    const char *vid = json_string_value(json_object_get(v, "id"));
    if (vid && strlen(vid) == len && memcmp(vid, id, len) == 0) return v;
  }
  return NULL;
}

static const char *label_of(json_t *node, const char *lang) {
  json_t *labels = json_object_get(node, "labels");
  const char *s = json_string_value(json_object_get(labels, lang));
  if (s && *s) return s;
  s = json_string_value(json_object_get(labels, strcmp(lang, "es") == 0 ? "en" : "es"));
  return s && *s ? s : NULL;
}

const char *pz_taxonomy_label(const pz_taxonomy *t, const char *topic, const char *lang) {
  if (!t || !topic) return topic;
  const char *slash = strchr(topic, '/');
  size_t clen = slash ? (size_t)(slash - topic) : strlen(topic);
  json_t *cat = find_by_id(json_object_get(t->root, "categories"), topic, clen);
  if (!cat) return topic;
  json_t *node = cat;
  if (slash) {
    /* Subcategory ids are either "category/sub" (default taxonomy) or "sub". */
    json_t *subs = json_object_get(cat, "subcategories");
    node = find_by_id(subs, topic, strlen(topic));
    if (!node) node = find_by_id(subs, slash + 1, strlen(slash + 1));
    if (!node) return topic;
  }
  const char *l = label_of(node, lang ? lang : "es");
  return l ? l : topic;
}
