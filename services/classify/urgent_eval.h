/* Evaluation of the urgent flag on the NHS patient feedback CSV
 * (data/nhs-patient-feedback/feedback.csv: columns id, text, sentiment,
 * subcategories):
 *   positives   "Safeguarding concerns?" comments and the negative
 *               "Feeling safe" ones;
 *   look-alikes the other "Feeling safe" comments ("I felt safe"): should
 *               not be urgent;
 *   ordinary    every other comment with a human sentiment label (rows
 *               without one are survey non-answers).
 * Rules compared: the old category flag (urgent subcategory, any
 * sentiment), the phrase detector alone, and the new flag (phrase, or an
 * urgent subcategory on a negative item). Without a classifier only the
 * phrase detector is measured. */
#ifndef ESCUCHA_CLASSIFY_URGENT_EVAL_H
#define ESCUCHA_CLASSIFY_URGENT_EVAL_H
#include <stddef.h>
#include <stdio.h>

#include "classifier.h"

enum { CL_UE_POS = 0, CL_UE_LOOK = 1, CL_UE_ORD = 2, CL_UE_NSETS = 3 };
enum { CL_UE_CATEGORY = 0, CL_UE_PHRASE = 1, CL_UE_NEW = 2, CL_UE_NRULES = 3 };

typedef struct {
  size_t n[CL_UE_NSETS];                 /* items per set */
  size_t hit[CL_UE_NRULES][CL_UE_NSETS]; /* flagged urgent, per rule and set */
  int with_model;                        /* the category rules were measured */
} cl_urgent_eval;

/* Runs the rules over the CSV in buf. c may be NULL (phrase detector only).
 * detail, when not NULL, gets one line per positive and per flagged item
 * (id, set, rule, reason, phrase). 0 ok, -1 with a message in err. */
int cl_urgent_eval_nhs(const char *buf, size_t len, cl_classifier *c, cl_urgent_eval *ev, FILE *detail, char *err,
                       size_t errlen);
/* Prints precision, recall and false-positive rates with counts. */
void cl_urgent_eval_report(const cl_urgent_eval *ev, FILE *out);
#endif
