/* Display labels of topics from the taxonomy JSON
 * (categories[].id, .labels.es/.en, .subcategories[].id/.labels). */
#ifndef ESCUCHA_PRIORITIZE_TAXONOMY_H
#define ESCUCHA_PRIORITIZE_TAXONOMY_H
#include "util.h" /* ES_MUST_CHECK */

typedef struct pz_taxonomy pz_taxonomy;
/* NULL path or unreadable/invalid file -> NULL (labels fall back to ids). */
ES_MUST_CHECK
pz_taxonomy *pz_taxonomy_load(const char *path);
ES_MUST_CHECK
pz_taxonomy *pz_taxonomy_parse(const char *json);
void pz_taxonomy_free(pz_taxonomy *t);
/* Label of "category" or "category/subcategory" in lang ("es"/"en");
 * falls back to the other language, then to the topic itself. The result
 * points into t or into topic. t may be NULL. */
const char *pz_taxonomy_label(const pz_taxonomy *t, const char *topic, const char *lang);
#endif
