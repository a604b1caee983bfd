/* The taxonomy as escucha-api needs it: which categories and subcategories
 * exist (review validation), the categories' Spanish labels (Open311
 * service_name) and every label in both languages (GET /v1/taxonomy). Loaded through lib/taxonomy. */
#ifndef ESCUCHA_API_TAXO_H
#define ESCUCHA_API_TAXO_H
#include <stddef.h>

#include "util.h" /* ES_MUST_CHECK */

typedef struct api_taxo api_taxo;

/* NULL with the reason in err (path, JSON path) when unreadable or invalid
 * (lib/taxonomy's rules). */
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
/* {"categories":[{"id","labels":{"es","en"},"subcategories":[{"id","labels":{"es","en"}}]}]}
 * in the file's order (borrowed): GET /v1/taxonomy, the dashboard's labels. */
const char *api_taxo_labels_json(const api_taxo *t);
#endif
