/* libFuzzer: the retrain's split of reviewers' corrections (JSON lines,
 * agency slices), then the dataset reader over both parts; every kept line
 * lands on exactly one side. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dataset.h"
#include "retrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cl_corrections_split s;
  char err[512];
  if (cl_split_corrections((const char *)data, size, 0.2, &s) != 0) return 0;
  size_t nval = 0;
  for (size_t a = 0; a < s.nagencies; a++) {
    cl_dataset v = {0};
    v.keep_duplicates = 1;
    nval += s.agencies[a].nval;
    if (s.agencies[a].nval_len &&
        cl_dataset_parse(&v, "v.jsonl", s.agencies[a].val, s.agencies[a].nval_len, err, sizeof err) == 0 &&
        v.n > s.agencies[a].nval)
      __builtin_trap(); /* a slice never yields more rows than it kept */
    cl_dataset_free(&v);
  }
  cl_dataset t = {0};
  if (s.train_len && cl_dataset_parse(&t, "t.jsonl", s.train, s.train_len, err, sizeof err) == 0 && t.n > s.ntrain)
    __builtin_trap();
  cl_dataset_free(&t);
  if (s.ntrain + nval > size) __builtin_trap(); /* one line at least per item */
  cl_corrections_split_free(&s);
  return 0;
}
