/* The review queue's order: the most informative item first. This is the
 * definition the benchmark (bench/learning) uses and escucha-api's review
 * queue follows (docs/classification.md, "Review queue order"). */
#ifndef ESCUCHA_CLASSIFY_REVIEW_H
#define ESCUCHA_CLASSIFY_REVIEW_H
#include <stddef.h>
#include <stdio.h>

#include "classifier.h"

/* Uncertainty of an item on one head (CL_HEAD_SUB: the topic, as the queue;
 * CL_HEAD_SENT: sentiment): 1 - the margin between the two most probable
 * classes' calibrated probabilities (confidence - runner_up), in [0, 1];
 * CL_HEAD_JOURNEY keeps no runner-up: 1 - its confidence. */
double cl_review_priority(const cl_result *r, int head);

/* The item's class on that head for balancing: the subcategory's taxonomy
 * index (r->sub; classify with threshold 0 so that it is the most probable
 * class) or the sentiment 0..2; -1 = none. */
int cl_review_class(const cl_result *r, int head);

/* The queue's order, class-balanced: each class is a line of its items, most
 * uncertain first, and the item of rank k (0-based) in class c's line has
 * the key prio / (1 + counts[c] + k), where counts[c] = labels of class c so
 * far; idx[0..n) gets the items by key descending (ties: higher prio, then
 * input order). This is taking, one at a time, the most uncertain item of
 * the class whose labels (counting the ones just taken) are fewest, weighed
 * by uncertainty: a macro-F1 over imbalanced classes gains most from the
 * rare classes' labels. cls[i] outside [0, ncls) = a line of its own with no
 * labels; counts NULL = none so far; cls NULL = by prio alone.
 * 0 ok, -1 out of memory. */
int cl_review_order(const double *prio, const int *cls, size_t n, const unsigned *counts, size_t ncls, size_t *idx);

/* `escucha-classify review-order --model M [--head subcategory|sentiment]
 * [--lang es|en] [--labels FILE] < texts`: prints the 0-based line numbers in
 * queue order; FILE holds the labels given so far, one class per line. */
int cl_cmd_review_order(int argc, char **argv, FILE *in, FILE *out);
#endif
