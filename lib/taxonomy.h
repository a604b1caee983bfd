/* The taxonomy (agency-editable JSON), read and validated once for every
 * service: categories -> subcategories with es/en labels, seed keywords per
 * language, urgency flag, journey stage hint, recommended actions and ticket
 * routing. classify, prioritize and actions all load it through
 * es_taxonomy_load, so a file one of them refuses is refused by all.
 * Validation errors name the JSON path, e.g.
 * "categories[3].subcategories[1].labels.es: missing".
 * Needs jansson and libxxhash at link time (a service using it lists them). */
#ifndef ESCUCHA_LIB_TAXONOMY_H
#define ESCUCHA_LIB_TAXONOMY_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

struct json_t; /* jansson's */

/* Journey stages, in the order of the classify model's journey head. */
#define ES_NJOURNEYS 6
extern const char *const ES_JOURNEYS[ES_NJOURNEYS];
/* Journey stage name (AWARENESS..RENEWAL, any case) -> 0..5 or -1. */
int es_journey_index(const char *s);

typedef struct {
  char *id;                  /* owned: "waiting_times/appointment_delay" */
  char *label_es, *label_en; /* owned, non-empty */
  int category;              /* index into cats */
  int urgent;
  int journey;  /* 0..5 (ES_JOURNEYS) or -1 */
  char **kw[2]; /* owned seed keywords: [0] es, [1] en */
  size_t nkw[2];
} es_tax_subcat;

typedef struct {
  char *id, *label_es, *label_en; /* owned, non-empty */
  int urgent;
} es_tax_category;

typedef struct {
  es_tax_category *cats; /* owned */
  size_t ncats;
  es_tax_subcat *subs; /* owned */
  size_t nsubs;
  uint64_t hash; /* XXH3 of the sorted subcategory ids: what a model depends on */
  char *json;    /* owned: the source text (embedded into trained models) */
  size_t json_len;
  struct json_t *doc; /* owned: the validated document (routing, playbook lookups) */
} es_taxonomy;

/* 0 ok (*out malloc'd, released by es_taxonomy_free), -1 with the first
 * problem in err ("<json path>: <rule>"; never echoes a value). */
ES_MUST_CHECK
int es_taxonomy_parse(const char *json, size_t len, es_taxonomy **out, char *err, size_t errlen);
/* es_taxonomy_parse of a file; err starts with the file path. */
ES_MUST_CHECK
int es_taxonomy_load(const char *path, es_taxonomy **out, char *err, size_t errlen);
void es_taxonomy_free(es_taxonomy *t);                          /* accepts NULL */
int es_taxonomy_find(const es_taxonomy *t, const char *sub_id); /* index or -1 */
/* Label of "category" or "category/subcategory" in lang ("en" or else es).
 * Unknown topics and a NULL t give the topic itself. The result points into
 * t or is topic (borrowed). */
const char *es_taxonomy_label(const es_taxonomy *t, const char *topic, const char *lang);
/* The validated document (borrowed from t; jansson's json_t), for lookups of
 * the fields the typed view does not carry (routing, actions). NULL t -> NULL. */
struct json_t *es_taxonomy_doc(const es_taxonomy *t);
#endif
