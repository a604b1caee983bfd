/* The taxonomy as the review endpoint needs it: which categories and
 * subcategories exist, and their labels (Open311 service_name). A small
 * reader of config/taxonomy*.json (categories[].id/.labels,
 * .subcategories[].id/.labels) until lib/taxonomy lands on main. */
#ifndef ESCUCHA_API_TAXO_H
#define ESCUCHA_API_TAXO_H
#include <stddef.h>

#include "util.h" /* ES_MUST_CHECK */

typedef struct api_taxo api_taxo;

/* NULL with the reason in err (path, JSON path) when unreadable or invalid. */
ES_MUST_CHECK api_taxo *api_taxo_load(const char *path, char *err, size_t errlen);
ES_MUST_CHECK api_taxo *api_taxo_parse(const char *json, size_t len, char *err, size_t errlen);
void api_taxo_free(api_taxo *t); /* accepts NULL */
/* 1 when category is a category id. */
int api_taxo_has_category(const api_taxo *t, const char *category);
/* The full subcategory id ("cat/sub") for sub given as "cat/sub" or "sub"
 * under category, or NULL when it is not one of category's (borrowed). */
const char *api_taxo_subcategory(const api_taxo *t, const char *category, const char *sub);
/* {"<category id>":"<label es>",...} (borrowed), the Open311 service names. */
const char *api_taxo_names_json(const api_taxo *t);
#endif
