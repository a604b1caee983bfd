/* Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005): the top
 * items of a stream in fixed memory. With capacity m and stream weight N,
 * every item whose true count exceeds N/m is kept, and for each kept item
 * count - error <= true count <= count. Not thread-safe (one owner). */
#ifndef ESCUCHA_PRIORITIZE_SPACESAVING_H
#define ESCUCHA_PRIORITIZE_SPACESAVING_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>
#include <stdint.h>

typedef struct pz_ss pz_ss;
typedef struct pz_ss_item {
  const char *key; /* owned by the sketch; valid until the next add/free */
  uint64_t count;  /* upper bound of the true count */
  uint64_t error;  /* count - error is a lower bound */
} pz_ss_item;

ES_MUST_CHECK
pz_ss *pz_ss_new(size_t capacity); /* capacity >= 1; NULL on OOM */
void pz_ss_free(pz_ss *s);
/* Adds weight w to key[0..len). 0 ok, -1 on OOM (sketch unchanged). */
int pz_ss_add(pz_ss *s, const char *key, size_t len, uint64_t w);
size_t pz_ss_size(const pz_ss *s);
uint64_t pz_ss_total(const pz_ss *s); /* stream weight N seen so far */
/* Up to n items by count descending (ties: key ascending); returns how many. */
size_t pz_ss_top(const pz_ss *s, pz_ss_item *out, size_t n);
#endif
