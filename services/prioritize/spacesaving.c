/* Space-Saving sketch: entries + open-addressing index + min-heap on count.
 * The heap gives the minimum (the entry to replace) in O(1) and keeps updates
 * O(log m); the hash index finds a key's entry in O(1). */
#include "spacesaving.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct {
  char *key;
  size_t len;
  uint64_t count, error, hash;
  size_t heap_pos;
} entry;

struct pz_ss {
  entry *e; /* capacity entries, first n used */
  size_t cap, n;
  size_t *heap;  /* entry indices, min count at heap[0] */
  size_t *slots; /* hash index: entry index + 1, 0 = empty */
  size_t nslots; /* power of two >= 2 * cap */
  uint64_t total;
};

pz_ss *pz_ss_new(size_t cap) {
  if (cap == 0) return NULL;
  pz_ss *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cap = cap;
  s->nslots = 4;
  while (s->nslots < 2 * cap) s->nslots <<= 1;
  s->e = calloc(cap, sizeof *s->e);
  s->heap = calloc(cap, sizeof *s->heap);
  s->slots = calloc(s->nslots, sizeof *s->slots);
  if (!s->e || !s->heap || !s->slots) {
    pz_ss_free(s);
    return NULL;
  }
  return s;
}

void pz_ss_free(pz_ss *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free(s->e[i].key);
  free(s->e);
  free(s->heap);
  free(s->slots);
  free(s);
}

size_t pz_ss_size(const pz_ss *s) { return s->n; }
uint64_t pz_ss_total(const pz_ss *s) { return s->total; }

static int less(const pz_ss *s, size_t a, size_t b) { return s->e[s->heap[a]].count < s->e[s->heap[b]].count; }

static void heap_swap(pz_ss *s, size_t a, size_t b) {
  size_t t = s->heap[a];
  s->heap[a] = s->heap[b];
  s->heap[b] = t;
  s->e[s->heap[a]].heap_pos = a;
  s->e[s->heap[b]].heap_pos = b;
}

/* Counts only grow, so an entry only ever needs to move down. */
static void sift_down(pz_ss *s, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->n && less(s, l, m)) m = l;
    if (r < s->n && less(s, r, m)) m = r;
    if (m == i) return;
    heap_swap(s, i, m);
    i = m;
  }
}

static void sift_up(pz_ss *s, size_t i) {
  while (i > 0 && less(s, i, (i - 1) / 2)) {
    heap_swap(s, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

/* Slot holding key, or the empty slot where it would go. */
static size_t find_slot(const pz_ss *s, const char *key, size_t len, uint64_t h) {
  size_t mask = s->nslots - 1, i = (size_t)h & mask;
  while (s->slots[i]) {
    const entry *e = &s->e[s->slots[i] - 1];
    if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) return i;
    i = (i + 1) & mask;
  }
  return i;
}

/* Backward-shift deletion keeps linear probing correct without tombstones. */
static void slot_remove(pz_ss *s, size_t i) {
  size_t mask = s->nslots - 1, j = i;
  s->slots[i] = 0;
  for (;;) {
    j = (j + 1) & mask;
    if (!s->slots[j]) return;
    size_t home = (size_t)s->e[s->slots[j] - 1].hash & mask;
    /* Move j back into the hole i unless its home lies cyclically in (i, j]. */
    int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      s->slots[i] = s->slots[j];
      s->slots[j] = 0;
      i = j;
    }
  }
}

int pz_ss_add(pz_ss *s, const char *key, size_t len, uint64_t w) {
  uint64_t h = XXH3_64bits(key, len);
  size_t slot = find_slot(s, key, len, h);
  if (s->slots[slot]) {
    entry *e = &s->e[s->slots[slot] - 1];
    e->count += w;
    sift_down(s, e->heap_pos);
    s->total += w;
    return 0;
  }
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, key, len);
  copy[len] = '\0';
  size_t idx;
  uint64_t base = 0;
  if (s->n < s->cap) {
    idx = s->n;
    s->heap[s->n] = idx;
    s->e[idx].heap_pos = s->n;
    s->n++;
  } else {
    /* Replace the minimum: the newcomer inherits its count as error. */
    idx = s->heap[0];
    entry *old = &s->e[idx];
    base = old->count;
    slot_remove(s, find_slot(s, old->key, old->len, old->hash));
    free(old->key);
    slot = find_slot(s, key, len, h); /* the deletion may have moved slots */
  }
  entry *e = &s->e[idx];
  e->key = copy;
  e->len = len;
  e->hash = h;
  e->count = base + w;
  e->error = base;
  s->slots[slot] = idx + 1;
  sift_up(s, e->heap_pos);
  sift_down(s, e->heap_pos);
  s->total += w;
  return 0;
}

static int cmp_items(const void *a, const void *b) {
  const pz_ss_item *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->key, y->key);
}

size_t pz_ss_top(const pz_ss *s, pz_ss_item *out, size_t n) {
  pz_ss_item *all = malloc((s->n ? s->n : 1) * sizeof *all);
  if (!all) return 0;
  for (size_t i = 0; i < s->n; i++) all[i] = (pz_ss_item){s->e[i].key, s->e[i].count, s->e[i].error};
  qsort(all, s->n, sizeof *all, cmp_items);
  size_t k = n < s->n ? n : s->n;
  memcpy(out, all, k * sizeof *out);
  free(all);
  return k;
}
