/* libFuzzer: labelled CSV / corrections JSONL reader, then the text pipeline
 * (ASCII fast path or utf8proc, stem cache kept across inputs), features
 * and the danger detector (rules, negation, and the matched phrase mapped
 * back onto the original bytes) over every parsed text. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dataset.h"
#include "hashfeat.h"
#include "text.h"
#include "urgent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static cl_text *t;
  static cl_fvec f;
  char err[512];
  cl_dataset ds = {0};
  cl_feat_cfg fc = {1u << 12, 2, 3, 5};
  if (!t) t = cl_text_new();
  int jsonl = size > 0 && data[0] == 'J'; /* exercise both formats */
  if (cl_dataset_parse(&ds, jsonl ? "in.jsonl" : "in.csv", (const char *)data, size, err, sizeof err) == 0)
    for (size_t i = 0; i < ds.n; i++)
      if (cl_text_analyze(t, ds.ex[i].text, strlen(ds.ex[i].text), ds.ex[i].lang) == 0) {
        cl_features(&fc, t, NULL, &f);
        cl_urgent_hit h;
        char phrase[96];
        if (cl_urgent_detect(t, &h)) {
          cl_urgent_phrase(t, ds.ex[i].text, strlen(ds.ex[i].text), &h, phrase, sizeof phrase);
          if (strlen(phrase) >= sizeof phrase) __builtin_trap();
        }
      }
  cl_dataset_free(&ds);
  return 0;
}
