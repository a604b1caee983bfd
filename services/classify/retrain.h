/* Learning from reviewers: `escucha-classify retrain` trains a candidate on
 * the bundled training data plus the reviewers' corrections (each agency's
 * validation slice kept out), scores it and the active model on the bundled
 * test data and on every agency's slice, and refuses it when any head's
 * macro-F1 drops by more than --max-drop; an accepted candidate becomes the
 * active row of the `models` table (migrations/013_models.sql) and is
 * published to the workers' model file, which they watch. `rollback` makes
 * the previously active model active again. */
#ifndef ESCUCHA_CLASSIFY_RETRAIN_H
#define ESCUCHA_CLASSIFY_RETRAIN_H
#include <stddef.h>

#include "classifier.h"
#include "dataset.h"

/* Macro-F1 of what a classifier serves, per head, on a labelled dataset
 * (n[h] = rows with a gold label for head h; f1[h] meaningless when 0). */
typedef struct {
  double f1[CL_NHEADS];
  size_t n[CL_NHEADS];
} cl_scores;

/* Classifies every row of ds with c (served answers, as a worker gives them)
 * and fills s. 0 ok, -1 out of memory. */
int cl_score(cl_classifier *c, const cl_dataset *ds, cl_scores *s);

/* The gate: 0 when no head scored on both sides drops by more than max_drop
 * (candidate vs active), else 1 with the first failing head named in why. */
int cl_gate(const cl_scores *cand, const cl_scores *active, double max_drop, const char *set, char *why, size_t whylen);

/* Corrections (escucha.corrections.v1 JSON lines) split per agency: for each
 * agency, floor(share * n) of its items (at least 1 when it has 2 or more),
 * chosen by a hash of id and text (deterministic), go to its validation
 * slice; the rest to training. Lines that are not a JSON object with a text
 * are dropped. */
typedef struct {
  char *agency; /* owned; "" = none given */
  char *val;    /* owned JSON lines of its validation slice */
  size_t nval, nval_len;
} cl_agency_slice;

typedef struct {
  char *train; /* owned JSON lines for training */
  size_t ntrain, train_len;
  cl_agency_slice *agencies; /* owned */
  size_t nagencies;
} cl_corrections_split;

/* 0 ok, -1 out of memory. */
int cl_split_corrections(const char *buf, size_t len, double share, cl_corrections_split *out);
void cl_corrections_split_free(cl_corrections_split *s);

/* Subcommands (exit codes: 0 accepted / done, 3 refused, 1 error, 2 usage). */
int cl_cmd_retrain(int argc, char **argv);
int cl_cmd_rollback(int argc, char **argv);
#endif
