/* Operator subcommands: train, eval, urgent-eval, predict. Each returns a process exit
 * code (0 ok, 1 runtime error, 2 usage error). */
#ifndef ESCUCHA_CLASSIFY_CLI_H
#define ESCUCHA_CLASSIFY_CLI_H
#include <stdio.h>

#include "taxonomy.h" /* es_taxonomy (lib) */

int cl_cmd_train(int argc, char **argv);
int cl_cmd_eval(int argc, char **argv);
/* Precision/recall of the urgent flag on the NHS CSV (urgent_eval.h). */
int cl_cmd_urgent_eval(int argc, char **argv);
int cl_cmd_predict(int argc, char **argv, FILE *in, FILE *out);
/* Loads a model (or, when path is NULL or missing and allow_cold is set,
 * builds a keyword-only cold-start model from the taxonomy) and wraps it in
 * a classifier. tax_path may be NULL (use the model's embedded taxonomy). */
struct cl_classifier *cl_load_classifier(const char *model_path, const char *tax_path, double threshold, int allow_cold,
                                         char *err, size_t errlen);
/* The same with the taxonomy already loaded: tax is taken over (freed on
 * failure too) and may be NULL (use the model's embedded taxonomy). */
struct cl_classifier *cl_classifier_open(const char *model_path, es_taxonomy *tax, double threshold, int allow_cold,
                                         char *err, size_t errlen);
/* Writes r as one JSON object (no newline) into buf; returns length or -1. */
struct cl_result;
int cl_result_json(const struct cl_result *r, const char *model_version, const char *id, char *buf, size_t cap);
#define CL_DEFAULT_THRESHOLD 0.35
#endif
