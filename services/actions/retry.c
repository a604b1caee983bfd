/* Ticket retry schedule (see retry.h). A few hundred entries at most: a
 * plain array with linear search is enough. */
#include "retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ac_sched_init(ac_sched *s, long base_ms, long max_ms, long grace_ms) {
  memset(s, 0, sizeof *s);
  s->base_ms = base_ms > 0 ? base_ms : 1;
  s->max_ms = max_ms >= s->base_ms ? max_ms : s->base_ms;
  s->grace_ms = grace_ms > 0 ? grace_ms : 0;
}

void ac_sched_free(ac_sched *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

ac_pending *ac_sched_get(ac_sched *s, const char *plan) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i].plan, plan) == 0) return &s->v[i];
  return NULL;
}

static ac_pending *add(ac_sched *s, const char *plan) {
  ac_pending *p = ac_sched_get(s, plan);
  if (p) return p;
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    ac_pending *nv = realloc(s->v, nc * sizeof *nv);
    if (!nv) return NULL;
    s->v = nv;
    s->cap = nc;
  }
  p = &s->v[s->n++];
  memset(p, 0, sizeof *p);
  snprintf(p->plan, sizeof p->plan, "%s", plan);
  return p;
}

static _Thread_local uint64_t g_rng;
static uint64_t rng(void) {
  if (!g_rng) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    g_rng = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(uintptr_t)&g_rng;
    if (!g_rng) g_rng = 1;
  }
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

long ac_sched_delay_ms(const ac_sched *s, int attempts) {
  long d = s->base_ms;
  for (int i = 1; i < attempts && d < s->max_ms; i++) d *= 2;
  if (d > s->max_ms) d = s->max_ms;
  long half = d / 2;
  return half + (long)(rng() % (uint64_t)(d - half + 1));
}

ac_pending *ac_sched_failed(ac_sched *s, const char *plan, int64_t now_ms) {
  ac_pending *p = add(s, plan);
  if (!p) return NULL;
  if (p->attempts < 1000000) p->attempts++;
  p->next_ms = now_ms + ac_sched_delay_ms(s, p->attempts);
  p->seen_ms = now_ms;
  return p;
}

ac_pending *ac_sched_seen(ac_sched *s, const char *plan, int64_t age_ms, int64_t now_ms) {
  ac_pending *p = ac_sched_get(s, plan);
  if (!p) {
    if (!(p = add(s, plan))) return NULL;
    int64_t wait = s->grace_ms - (age_ms > 0 ? age_ms : 0);
    p->next_ms = now_ms + (wait > 0 ? wait : 0);
  }
  p->seen_ms = now_ms;
  return p;
}

void ac_sched_done(ac_sched *s, const char *plan) {
  ac_pending *p = ac_sched_get(s, plan);
  if (!p) return;
  *p = s->v[--s->n];
}

size_t ac_sched_due(const ac_sched *s, int64_t now_ms, char (*out)[64], size_t max) {
  size_t k = 0;
  /* Selection of the `max` earliest due entries (n is small). */
  int64_t after = INT64_MIN;
  const char *after_plan = "";
  while (k < max) {
    const ac_pending *best = NULL;
    for (size_t i = 0; i < s->n; i++) {
      const ac_pending *p = &s->v[i];
      if (p->next_ms > now_ms) continue;
      /* strictly after the previous pick in (next_ms, plan) order */
      if (p->next_ms < after || (p->next_ms == after && strcmp(p->plan, after_plan) <= 0)) continue;
      if (!best || p->next_ms < best->next_ms || (p->next_ms == best->next_ms && strcmp(p->plan, best->plan) < 0))
        best = p;
    }
    if (!best) break;
    memcpy(out[k++], best->plan, 64);
    after = best->next_ms;
    after_plan = best->plan;
  }
  return k;
}

int64_t ac_sched_next(const ac_sched *s) {
  int64_t m = INT64_MAX;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].next_ms < m) m = s->v[i].next_ms;
  return m;
}

void ac_sched_prune(ac_sched *s, int64_t before_ms) {
  for (size_t i = 0; i < s->n;) {
    if (s->v[i].seen_ms < before_ms) s->v[i] = s->v[--s->n];
    else i++;
  }
}
