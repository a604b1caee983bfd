/* The review queue's order: the most informative item first. This is the
 * definition the benchmark (bench/learning) uses; escucha-api's review queue
 * SQL orders by the stored topic confidence ascending, which is the same
 * order for the topic head. */
#ifndef ESCUCHA_CLASSIFY_REVIEW_H
#define ESCUCHA_CLASSIFY_REVIEW_H
#include <stddef.h>
#include <stdio.h>

#include "classifier.h"

/* Priority of an item for review on one head (CL_HEAD_SUB: the topic, as the
 * queue; CL_HEAD_SENT: sentiment): 1 - the calibrated confidence of the
 * served answer, in [0, 1]; higher = reviewed first. */
double cl_review_priority(const cl_result *r, int head);

/* Sorts idx[0..n) by prio descending (most informative first), ties in input
 * order (stable). 0 ok, -1 out of memory. */
int cl_review_order(const double *prio, size_t n, size_t *idx);

/* `escucha-classify review-order --model M [--head subcategory|sentiment]
 * [--lang es|en] < texts`: prints the 0-based line numbers in queue order. */
int cl_cmd_review_order(int argc, char **argv, FILE *in, FILE *out);
#endif
