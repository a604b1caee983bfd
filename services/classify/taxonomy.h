/* Agency-editable taxonomy (JSON): categories -> subcategories with es/en
 * labels and descriptions, seed keywords per language, urgency flag, journey
 * stage hint, recommended actions and ticket routing. Validation errors name
 * the JSON path, e.g. "categories[3].subcategories[1].labels.es: missing". */
#ifndef ESCUCHA_CLASSIFY_TAXONOMY_H
#define ESCUCHA_CLASSIFY_TAXONOMY_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *id;             /* "waiting_times/appointment_delay" */
  char *label_es, *label_en;
  int category;         /* index into cats */
  int urgent;
  int journey;          /* 0..5 (CL_JOURNEYS) or -1 */
  char **kw[2];         /* seed keywords: [0] es, [1] en */
  size_t nkw[2];
} cl_subcat;

typedef struct {
  char *id, *label_es, *label_en;
  int urgent;
} cl_category;

typedef struct {
  cl_category *cats;
  size_t ncats;
  cl_subcat *subs;
  size_t nsubs;
  uint64_t hash;        /* of the sorted subcategory ids: what a model depends on */
  char *json;           /* the source text (embedded into trained models) */
  size_t json_len;
} cl_taxonomy;

/* 0 ok (*out owned by caller), -1 with the first problem in err. */
ES_MUST_CHECK
int cl_taxonomy_parse(const char *json, size_t len, cl_taxonomy **out, char *err, size_t errlen);
ES_MUST_CHECK
int cl_taxonomy_load(const char *path, cl_taxonomy **out, char *err, size_t errlen);
void cl_taxonomy_free(cl_taxonomy *t);
int cl_taxonomy_find(const cl_taxonomy *t, const char *sub_id); /* index or -1 */
#endif
