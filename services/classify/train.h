/* Trainer: multinomial logistic regression per head (subcategory,
 * sentiment, journey stage) over hashed TF-IDF features, SGD with L2
 * (lazy weight scaling), linear learning-rate decay and balanced class
 * weights (macro-F1 is what operators care about: small themes matter).
 * Confidence is calibrated with per-head temperature scaling fitted on a
 * held-out slice; the final weights are then refitted on all data.
 * Deterministic: a given dataset, options and seed give identical bytes. */
#ifndef ESCUCHA_CLASSIFY_TRAIN_H
#define ESCUCHA_CLASSIFY_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "taxonomy.h"

typedef struct {
  uint64_t seed;
  int epochs;
  float lr;
  float l2;          /* per-example L2 strength (subcategory and journey heads) */
  float l2_sent;     /* per-example L2 strength of the sentiment head */
  float l2_sent_es;  /* the same for Spanish-space documents; < 0 = l2_sent */
  uint32_t nbuckets; /* power of two */
  uint32_t word_ngrams, minn, maxn;
  int lang_space; /* features and idf per language space (hashfeat.h) */
  float holdout;  /* share held out for calibration (0 disables) */
  int balanced;   /* class weights n / (K n_k) */
  int progress;   /* progress lines on stderr */
} cl_train_opts;

void cl_train_defaults(cl_train_opts *o);
/* Serialised model in *out (malloc'd; load with cl_model_from_buffer or
 * write with cl_write_file). 0 ok, -1 with message. */
int cl_train(const cl_dataset *ds, const es_taxonomy *tax, const cl_train_opts *o, void **out, size_t *outlen,
             char *err, size_t errlen);
#endif
