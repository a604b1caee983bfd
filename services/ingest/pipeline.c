#include "pipeline.h"

#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "lang.h"
#include "log.h"
#include "metrics.h"
#include "normalize.h"
#include "rds.h"
#include "redact.h"
#include "util.h"

/* Dedup key values: "<id>" once Kafka acknowledged the item; "p:<id>:<lease
 * end, ms>" while it is in flight. A pending claim whose lease ended belongs
 * to an instance that died (or to a send that failed): a twin takes it over
 * and produces under the *same id*, so if Kafka had the first copy after all,
 * prioritize stores it once (feedback's primary key).
 *
 * Items submitted together (a batch; the single requests of one event-loop
 * iteration) claim "p:<id>:<lease end>:<group>" instead and are not rewritten
 * one by one: when every item of the group is acknowledged, one key
 * "escucha:dedup:g:<group>" says so for all of them (one Redis write per group
 * instead of one per item; Redis CPU was a third of the batch path's). A twin
 * that finds such a claim reads the group key: there = acknowledged. If any
 * item of the group failed, the group key is not written and the acknowledged
 * items are settled one by one as above. */
#define LEASE_MS 30000 /* > message.timeout.ms (20 s): a live owner settles first */
#define CLAIM_LEN 96   /* "p:" + id + ":" + lease end + ":" + group, with room */

/* Take a lapsed claim over: if one of KEYS still holds ARGV[1], set them all
 * to ARGV[2]. 1 = taken, 0 = it changed meanwhile. */
static const char TAKEOVER_LUA[] =
    "local ok = false for _, k in ipairs(KEYS) do if redis.call('GET', k) == ARGV[1] then ok = true end end "
    "if not ok then return 0 end "
    "for _, k in ipairs(KEYS) do redis.call('SET', k, ARGV[2], 'EX', ARGV[3]) end return 1";

/* Settling keys: one script call per loop iteration for all the items Kafka
 * answered in it, instead of a SET each (the event loop formats and parses
 * far less; Redis, which has CPU to spare, loops). KEYS: keys; ARGV: value,
 * ttl pairs (an item's key keeps its own window: long for external ids, short
 * for anonymous content). */
static const char SETTLE_LUA[] =
    "for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[2 * i - 1], 'EX', ARGV[2 * i]) end return #KEYS";
#define SETTLE_CHUNK 2048

/* Ids this process claimed in Redis and has not finished yet: a "p:<id>"
 * dedup answer naming one of them is a live twin (a real duplicate); any
 * other pending claim may belong to an instance that died. */
#define CLAIM_BUCKETS 4096

/* Items submitted together: one batch (HTTP, CSV chunk, inbound poll), or the
 * single submissions of one event-loop iteration. */
struct ing_group {
  size_t refs; /* items not finished yet, +1 while the submission is being sent */
  int failed;  /* a grouped item's send failed: no group key, settle one by one */
  int grouped; /* some item claimed under this group */
  char id[27];
  es_buf acked; /* key\0value\0ttl\0 of acknowledged grouped items, used if failed */
};
typedef struct claim {
  struct claim *next;
  char id[27];
} claim;

struct ing_pipeline {
  claim *claims[CLAIM_BUCKETS];
  uv_loop_t *loop;
  ing_pipeline_config cfg;
  rd_kafka_t *producer; /* single submissions: short linger (2 ms) */
  rd_kafka_t *bulk;     /* batches, imports, inbound: lingers 5 ms to fill batches */
  es_kafka_uv *bulk_uv;
  es_kafka_uv *kuv;
  redisAsyncContext *redis;
  int redis_connected, redis_warned;
  uv_timer_t redis_timer;
  size_t inflight;
  int kafka_ok;
  /* keys to settle at the end of this loop iteration: NUL-separated key, value pairs */
  es_buf settle;
  struct ing_group *open_group; /* this loop iteration's single submissions */
  uv_check_t loop_end;          /* end of a loop iteration: close open_group, flush settle and Redis */
  char ttl[24];                 /* the dedup window in seconds, as Redis wants it */
  char ttl_anon[24];            /* the anonymous (no external_id) window */
  int closed;
};

static struct {
  es_metric *items, *produced, *dups, *takeovers, *redactions, *delivery_errors, *degraded, *latency, *dedup_latency;
} M;

static void metrics_init(void) {
  M.items = es_counter("escucha_ingest_items_total", "Feedback items by outcome", "result", NULL);
  M.produced = es_counter("escucha_ingest_produced_total", "Feedback acked by Kafka", NULL);
  M.dups = es_counter("escucha_ingest_duplicates_total", "Duplicates answered with the original id", NULL);
  M.takeovers =
      es_counter("escucha_ingest_claim_takeovers_total",
                 "Retries produced under the id of a lapsed pending claim (dead instance, failed send)", NULL);
  M.redactions = es_counter("escucha_ingest_redactions_total", "PII redactions by kind", "kind", NULL);
  M.delivery_errors = es_counter("escucha_ingest_kafka_delivery_errors_total", "Produce failures", "error", NULL);
  M.degraded = es_counter("escucha_ingest_dedup_degraded_total",
                          "Items accepted without a dedup check (Redis unavailable)", NULL);
  M.dedup_latency = es_histogram("escucha_ingest_dedup_seconds", "Submit to Redis dedup answer", ES_LATENCY_BUCKETS,
                                 ES_LATENCY_NBUCKETS, NULL);
  M.latency =
      es_histogram("escucha_ingest_item_seconds", "Submit to Kafka ack", ES_LATENCY_BUCKETS, ES_LATENCY_NBUCKETS, NULL);
}

static unsigned claim_bucket(const char *id) {
  return es_fnv1a(ES_FNV1A_BASIS, id, strlen(id)) % CLAIM_BUCKETS; /* ULIDs' random tail spreads well */
}

static void claim_add(ing_pipeline *g, ing_item *it) {
  claim *c = malloc(sizeof *c);
  if (!c) return; /* then a twin gets 503 and retries: safe */
  memcpy(c->id, it->id, sizeof c->id);
  unsigned b = claim_bucket(it->id);
  c->next = g->claims[b];
  g->claims[b] = c;
  it->claimed = 1;
}

static void claim_del(ing_pipeline *g, ing_item *it) {
  for (claim **pp = &g->claims[claim_bucket(it->id)]; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->id, it->id) == 0) {
      claim *c = *pp;
      *pp = c->next;
      free(c);
      break;
    }
  it->claimed = 0;
}

static int claim_has(const ing_pipeline *g, const char *id) {
  for (const claim *c = g->claims[claim_bucket(id)]; c; c = c->next)
    if (strcmp(c->id, id) == 0) return 1;
  return 0;
}

static void settle_add(ing_pipeline *g, const char *key, const char *val, const char *ttl);

static void group_release(ing_pipeline *g, struct ing_group *grp) {
  if (--grp->refs > 0) return;
  if (g && g->redis && grp->grouped) {
    if (!grp->failed) {
      char key[64];
      snprintf(key, sizeof key, "escucha:dedup:g:%s", grp->id);
      settle_add(g, key, "1", g->ttl); /* the longest window: any of its claims may name it */
    } else {                           /* the acknowledged ones one by one; the failed ones are lapsed already */
      for (const char *p = grp->acked.data, *end = p ? p + grp->acked.len : NULL; p && p < end;) {
        const char *k = p, *v = p + strlen(p) + 1, *ttl = v + strlen(v) + 1;
        p = ttl + strlen(ttl) + 1;
        settle_add(g, k, v, ttl);
      }
    }
  }
  es_buf_free(&grp->acked);
  free(grp);
}

static const char *const RESULT[] = {"pending", "accepted", "duplicate", "rejected", "unavailable"};

static void finish(ing_pipeline *g, ing_item *it, int state) {
  if (it->state != ING_ITEM_REJECTED) it->state = state;
  if (it->claimed && g) claim_del(g, it);
  es_metric_add(M.items, 1, RESULT[it->state]);
  if (it->state == ING_ITEM_ACCEPTED) es_metric_observe(M.latency, (double)(es_mono_ns() - it->start_ns) / 1e9);
  if (g) g->inflight--;
  struct ing_group *grp = it->group;
  it->group = NULL;
  if (grp) group_release(g, grp);
  it->done(it, it->ctx);
}

static void add_counts(ing_redact_counts *r, const ing_redact_counts *c) {
  r->email += c->email, r->phone += c->phone, r->rut += c->rut, r->dni += c->dni;
  r->cedula += c->cedula, r->card += c->card, r->iban += c->iban;
}

/* Normalises and redacts one more free-text field in place (service, address,
 * attribute values): personal data is redacted in every field, not only text. */
static int clean_field(ing_item *it, const char *field, char **v) {
  if (!*v) return 0;
  size_t n = 0, rn = 0;
  long bad = -1;
  char *norm = ing_normalize_text(*v, strlen(*v), 0, &n, &bad);
  if (!norm)
    return bad >= 0 ? ing_item_reject(it, "invalid", field, "%s is not valid UTF-8", field)
                    : ing_item_reject(it, "internal", field, "out of memory");
  ing_redact_counts c = {0};
  char *red = ing_redact(norm, n, &rn, &c);
  free(norm);
  if (!red) return ing_item_reject(it, "internal", field, "out of memory");
  add_counts(&it->red, &c);
  free(*v);
  *v = red;
  return 0;
}

/* What makes a submission the same one re-sent: with an external_id, that id
 * (different ids are different submissions, whatever their text); without one,
 * the redacted text with everything else the citizen gave (channel, service,
 * scores), remembered only for the short anonymous window. */
static void dedup_hash(const ing_item *it, char out[33]) {
  es_buf b = {0};
  es_buf_printf(&b, "%s\n%d\n%s\n%d:%d\n%d:%d", it->content_hash, it->channel, it->service ? it->service : "",
                it->has_nps, it->has_nps ? it->nps : 0, it->has_csat, it->has_csat ? it->csat : 0);
  ing_content_hash(it->agency, b.data ? b.data : "", b.len, out);
  es_buf_free(&b);
}

int ing_pipeline_prepare(ing_item *it, int repair_utf8) {
  if (ing_item_validate(it, es_now_ms()) != 0) return -1;
  size_t n = 0, rn = 0, fn = 0;
  long bad = -1;
  char *norm = ing_normalize_text(it->text, strlen(it->text), repair_utf8, &n, &bad);
  if (!norm) {
    if (bad >= 0) return ing_item_reject(it, "invalid", "text", "text is not valid UTF-8 (byte %ld)", bad);
    return ing_item_reject(it, "internal", "text", "out of memory");
  }
  int rc = -1;
  char *red = NULL, *folded = NULL;
  if (n == 0 && !it->has_nps && !it->has_csat) { /* a score without a comment is a survey answer */
    ing_item_reject(it, "invalid", "text", "text is empty (and there is no nps or csat score)");
    goto cleanup;
  }
  if (!it->language || !*it->language) {
    free(it->language);
    it->language = strdup(ing_detect_language(norm, n));
  }
  ing_redact_counts rc_ = {0};
  red = ing_redact(norm, n, &rn, &rc_);
  if (!red) {
    ing_item_reject(it, "internal", "text", "out of memory");
    goto cleanup;
  }
  it->red = rc_;
  if (clean_field(it, "service", &it->service) || clean_field(it, "location.address", &it->address)) goto cleanup;
  for (size_t i = 0; i < it->nattrs; i++)
    if (clean_field(it, "attributes", &it->attr_vals[i])) goto cleanup;
  /* hash the redacted text: the same complaint with another phone number is still a duplicate */
  folded = ing_fold_text(red, rn, &fn);
  if (!folded) {
    ing_item_reject(it, "internal", "text", "out of memory");
    goto cleanup;
  }
  ing_content_hash(it->agency, folded, fn, it->content_hash);
  free(it->text);
  it->text = red;
  red = NULL;
  es_ulid(it->id);
  it->received_at = es_now_ms();
  /* history from a trusted source goes to its own windows (docs/ingest.md "History") */
  if (it->trust_created_at && it->created_at > 0 && it->created_at < it->received_at) it->received_at = it->created_at;
  if (!it->created_at) it->created_at = it->received_at;
  rc = 0;
cleanup:
  free(norm);
  free(red);
  free(folded);
  return rc;
}

static void count_redactions(const ing_item *it) {
  const ing_redact_counts *r = &it->red;
  const unsigned v[] = {r->email, r->phone, r->rut, r->dni, r->cedula, r->card, r->iban};
  static const char *const K[] = {"email", "phone", "rut", "dni", "cedula", "card", "iban"};
  for (int i = 0; i < 7; i++)
    if (v[i]) es_metric_add(M.redactions, v[i], K[i]);
}

/* ":<lease end>" or ":<lease end>:<group>": what follows "p:<id>" in a claim
 * (alone it is what the claim script appends). */
static void claim_suffix(char *out, size_t len, int64_t lease_end_ms, const struct ing_group *grp) {
  if (grp) snprintf(out, len, ":%lld:%s", (long long)lease_end_ms, grp->id);
  else snprintf(out, len, ":%lld", (long long)lease_end_ms);
}

static void pending_value(char *out, size_t len, const char *id, int64_t lease_end_ms, const struct ing_group *grp) {
  char suffix[CLAIM_LEN - 32];
  claim_suffix(suffix, sizeof suffix, lease_end_ms, grp);
  snprintf(out, len, "p:%.26s%s", id, suffix);
}

static void on_loop_end(uv_check_t *h);

/* Queues a command; it is written at the end of this loop iteration. */
static int redis_send(ing_pipeline *g, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                      const size_t *argl) {
  int rc = redisAsyncCommandArgv(g->redis, fn, priv, argc, argv, argl);
  if (rc == REDIS_OK) uv_check_start(&g->loop_end, on_loop_end);
  return rc;
}

static void settle_flush(ing_pipeline *g) {
  const char *argv[3 + 3 * SETTLE_CHUNK];
  size_t argl[3 + 3 * SETTLE_CHUNK];
  char nk[16];
  const char *p = g->settle.data, *end = p ? p + g->settle.len : NULL;
  while (g->redis && p && p < end) {
    size_t n = 0;
    const char *keys[SETTLE_CHUNK], *vals[SETTLE_CHUNK], *ttls[SETTLE_CHUNK];
    for (; p < end && n < SETTLE_CHUNK; n++) {
      keys[n] = p;
      p += strlen(p) + 1;
      vals[n] = p;
      p += strlen(p) + 1;
      ttls[n] = p;
      p += strlen(p) + 1;
    }
    snprintf(nk, sizeof nk, "%zu", n);
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = SETTLE_LUA;
    argv[argc++] = nk;
    for (size_t i = 0; i < n; i++) argv[argc++] = keys[i];
    for (size_t i = 0; i < n; i++) argv[argc++] = vals[i], argv[argc++] = ttls[i];
    for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
    redis_send(g, NULL, NULL, argc, argv, argl);
  }
  g->settle.len = 0;
}

static void close_open_group(ing_pipeline *g) {
  struct ing_group *grp = g->open_group;
  g->open_group = NULL;
  if (grp) group_release(g, grp);
}

static void on_loop_end(uv_check_t *h) {
  ing_pipeline *g = h->data;
  close_open_group(g); /* may add the group key to settle */
  settle_flush(g);
  uv_check_stop(h);
  /* Write this iteration's commands now: left to the adapter, they wait for the
   * next iteration's poll, and the replies for the one after (~1 ms at 30k req/s). */
  if (g->redis && g->redis_connected && g->redis->c.obuf && sdslen(g->redis->c.obuf) > 0)
    redisAsyncHandleWrite(g->redis);
}

/* A settling write, sent with the others at the end of this loop iteration. */
static void settle_add(ing_pipeline *g, const char *key, const char *val, const char *ttl) {
  if (g->settle.len == 0) uv_check_start(&g->loop_end, on_loop_end);
  size_t mark = g->settle.len;
  if (es_buf_append(&g->settle, key, strlen(key) + 1) != 0 || es_buf_append(&g->settle, val, strlen(val) + 1) != 0 ||
      es_buf_append(&g->settle, ttl, strlen(ttl) + 1) != 0)
    g->settle.len = mark; /* out of memory: the claim lapses; a twin takes it over under the same id */
}

/* Key updates once the send settled (fire-and-forget): acknowledged → "<id>",
 * or left to the group key; failed → a lapsed claim, so the client's retry is
 * produced under the same id (a timed-out send may still have been written). */
static void keys_cmd(ing_pipeline *g, ing_item *it, int acked) {
  char lapsed[CLAIM_LEN];
  pending_value(lapsed, sizeof lapsed, it->id, 0, NULL);
  if (it->grouped && !acked) it->group->failed = 1;
  for (int i = 0; i < it->nkeys && g->redis; i++) {
    if (it->grouped && acked) { /* the group key settles it, unless a sibling fails */
      es_buf *b = &it->group->acked;
      if (es_buf_append(b, it->keys[i], strlen(it->keys[i]) + 1) != 0 || es_buf_append(b, it->id, sizeof it->id) != 0 ||
          es_buf_append(b, it->key_ttl, strlen(it->key_ttl) + 1) != 0)
        it->group->failed = 1; /* out of memory: then no group key; claims lapse, twins take over */
      continue;
    }
    settle_add(g, it->keys[i], acked ? it->id : lapsed, it->key_ttl);
  }
}

/* Errors a retry cannot fix: the client gets 400 naming the reason, never a
 * 503 it would retry forever (the limits keep items far below the broker's
 * message size; this is the backstop). */
static int never_produced(ing_item *it, rd_kafka_resp_err_t e) {
  if (e != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && e != RD_KAFKA_RESP_ERR_INVALID_RECORD) return 0;
  es_warn("feedback_unproducible", "id=%s err=%s", it->id, rd_kafka_err2name(e));
  ing_item_reject(it, "too_large", "", "the feedback cannot be stored (%s)", rd_kafka_err2str(e));
  return 1;
}

static void produce(ing_pipeline *g, ing_item *it) {
  size_t len = 0;
  uint8_t *buf = ing_item_pack(it, &len);
  int refuse = g->cfg.test_fail_text && *g->cfg.test_fail_text && strstr(it->text, g->cfg.test_fail_text);
  rd_kafka_resp_err_t e = buf && !refuse ? es_kafka_produce(it->bulk ? g->bulk : g->producer, ES_TOPIC_INGESTED,
                                                            RD_KAFKA_PARTITION_UA, it->id, strlen(it->id), buf, len, it)
                                         : RD_KAFKA_RESP_ERR__FAIL;
  free(buf);
  if (e) {
    es_metric_add(M.delivery_errors, 1, rd_kafka_err2name(e));
    keys_cmd(g, it, 0);
    finish(g, it, never_produced(it, e) ? ING_ITEM_REJECTED : ING_ITEM_UNAVAILABLE);
  }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  ing_pipeline *g = opaque;
  ing_item *it = m->_private;
  if (!it) return; /* not ours (e.g. DLQ sends without opaque) */
  if (m->err) {
    es_metric_add(M.delivery_errors, 1, rd_kafka_err2name(m->err));
    int never = never_produced(it, m->err);
    if (!never) g->kafka_ok = 0;
    keys_cmd(g, it, 0);
    finish(g, it, never ? ING_ITEM_REJECTED : ING_ITEM_UNAVAILABLE);
    return;
  }
  g->kafka_ok = 1;
  es_metric_add(M.produced, 1);
  count_redactions(it);
  keys_cmd(g, it, 1);
  finish(g, it, ING_ITEM_ACCEPTED);
}

static void drop_keys(ing_item *it) {
  for (int i = 0; i < it->nkeys; i++) free(it->keys[i]);
  it->nkeys = 0;
}

static void on_takeover(redisAsyncContext *ac, void *r, void *priv) {
  ing_item *it = priv;
  redisReply *reply = r;
  if (!ac || !ac->data) return; /* shutting down */
  ing_pipeline *g = ac->data;
  if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
    es_metric_add(M.takeovers, 1);
    claim_add(g, it);
    produce(g, it);
  } else {
    drop_keys(it); /* someone else settled or took it first: the retry will see */
    finish(g, it, ING_ITEM_UNAVAILABLE);
  }
}

/* A twin of a pending claim whose lease ended: adopt the claim's id. */
static void takeover(ing_pipeline *g, ing_item *it, const char *found, const char *oid, size_t oidlen) {
  char claim_val[CLAIM_LEN];
  if (oidlen != sizeof it->id - 1) { /* not an id of ours: leave it alone */
    drop_keys(it);
    finish(g, it, ING_ITEM_UNAVAILABLE);
    return;
  }
  memcpy(it->id, oid, oidlen);
  it->id[oidlen] = 0;
  it->grouped = 0; /* the new claim names no group: settled on its own */
  pending_value(claim_val, sizeof claim_val, it->id, es_now_ms() + LEASE_MS, NULL);
  const char *argv[8] = {"EVAL", TAKEOVER_LUA, NULL};
  char nk[4];
  snprintf(nk, sizeof nk, "%d", it->nkeys);
  int argc = 2;
  argv[argc++] = nk;
  for (int i = 0; i < it->nkeys; i++) argv[argc++] = it->keys[i];
  argv[argc++] = found;
  argv[argc++] = claim_val;
  argv[argc++] = it->key_ttl;
  size_t argl[8];
  for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
  if (redis_send(g, on_takeover, it, argc, argv, argl) != REDIS_OK) {
    drop_keys(it);
    finish(g, it, ING_ITEM_UNAVAILABLE);
  }
}

static void answer_duplicate(ing_pipeline *g, ing_item *it, const char *orig) {
  it->dup_id = strdup(orig);
  drop_keys(it); /* the keys belong to the original */
  es_metric_add(M.dups, 1);
  finish(g, it, ING_ITEM_DUPLICATE);
}

/* A pending claim not ours and not settled: lapsed → take it over; else retry later. */
static void pending_elsewhere(ing_pipeline *g, ing_item *it, const char *found) {
  const char *oid = found + 2, *colon = strchr(oid, ':');
  size_t oidlen = colon ? (size_t)(colon - oid) : strlen(oid);
  if (colon && strtoll(colon + 1, NULL, 10) <= es_now_ms()) {
    takeover(g, it, found, oid, oidlen);
  } else {
    /* In flight at another instance, which may yet fail or die: answering
     * "duplicate" could lose it. Ask to retry; by then it is settled. */
    drop_keys(it);
    finish(g, it, ING_ITEM_UNAVAILABLE);
  }
}

typedef struct {
  ing_item *it;
  char found[CLAIM_LEN];
} group_check;

static void on_group_key(redisAsyncContext *ac, void *r, void *priv) {
  group_check *gc = priv;
  redisReply *reply = r;
  if (ac && ac->data) {
    ing_pipeline *g = ac->data;
    if (reply && reply->type == REDIS_REPLY_STRING) {
      char idbuf[27];
      snprintf(idbuf, sizeof idbuf, "%.26s", gc->found + 2);
      answer_duplicate(g, gc->it, idbuf); /* its whole batch was acknowledged */
    } else if (reply && reply->type == REDIS_REPLY_NIL) {
      pending_elsewhere(g, gc->it, gc->found);
    } else {
      drop_keys(gc->it);
      finish(g, gc->it, ING_ITEM_UNAVAILABLE);
    }
  }
  free(gc);
}

/* One item's dedup answer: NULL = Redis failed, "" = new, else the stored value. */
static void dedup_outcome(ing_pipeline *g, ing_item *it, const char *found, size_t len) {
  es_metric_observe(M.dedup_latency, (double)(es_mono_ns() - it->start_ns) / 1e9);
  if (!found) {
    /* Redis failed mid-way: accept without dedup rather than lose input. The
     * claim may have been made before the connection broke, and this item's
     * outcome will not reach its group: no group key may vouch for it. */
    if (it->group) it->group->failed = 1;
    es_metric_add(M.degraded, 1);
    drop_keys(it);
    produce(g, it);
  } else if (len == 0) {
    claim_add(g, it);
    it->grouped = it->group != NULL;
    if (it->grouped) it->group->grouped = 1;
    produce(g, it);
  } else if (strncmp(found, "p:", 2) == 0) {
    const char *oid = found + 2, *colon = strchr(oid, ':');
    const char *gcolon = colon ? strchr(colon + 1, ':') : NULL;
    size_t oidlen = colon ? (size_t)(colon - oid) : strlen(oid);
    char idbuf[sizeof it->id];
    snprintf(idbuf, sizeof idbuf, "%.*s", (int)oidlen, oid);
    group_check *gc;
    if (claim_has(g, idbuf)) { /* a twin still in flight here: a real duplicate */
      answer_duplicate(g, it, idbuf);
    } else if (gcolon && len < sizeof gc->found && (gc = malloc(sizeof *gc))) {
      /* claimed in a batch: settled if the batch's group key is there */
      gc->it = it;
      memcpy(gc->found, found, len);
      gc->found[len] = 0;
      const char *argv[] = {"GET", NULL};
      char key[64];
      snprintf(key, sizeof key, "escucha:dedup:g:%.26s", gcolon + 1);
      argv[1] = key;
      size_t argl[] = {3, strlen(key)};
      if (redis_send(g, on_group_key, gc, 2, argv, argl) != REDIS_OK) {
        free(gc);
        drop_keys(it);
        finish(g, it, ING_ITEM_UNAVAILABLE);
      }
    } else if (gcolon) { /* out of memory: ask to retry */
      drop_keys(it);
      finish(g, it, ING_ITEM_UNAVAILABLE);
    } else {
      pending_elsewhere(g, it, found);
    }
  } else {
    answer_duplicate(g, it, found);
  }
}

/* SET key p:<id>:<lease> NX GET EX ttl: nil = claimed (new), string = already there. */
static void on_dedup_one(redisAsyncContext *ac, void *r, void *priv) {
  ing_item *it = priv;
  redisReply *reply = r;
  if (!ac || !ac->data) return; /* shutting down */
  if (reply && reply->type == REDIS_REPLY_NIL) dedup_outcome(ac->data, it, "", 0);
  else if (reply && reply->type == REDIS_REPLY_STRING) dedup_outcome(ac->data, it, reply->str, reply->len);
  else dedup_outcome(ac->data, it, NULL, 0);
}

/* "escucha:dedup:<agency>:<kind>:<value>": unambiguous because an agency has
 * no ':' (ing_agency_ok) and the value is last. */
static char *dedup_key(const ing_item *it, char kind, const char *v) {
  es_buf b = {0};
  es_buf_printf(&b, "escucha:dedup:%s:%c:%s", it->agency, kind, v);
  return b.data;
}

/* One key per item: a plain SET NX GET, several times cheaper in Redis than a
 * script; hiredis pipelines consecutive ones into one write. */
static void dedup_send_one(ing_pipeline *g, ing_item *it) {
  char val[CLAIM_LEN];
  pending_value(val, sizeof val, it->id, es_now_ms() + LEASE_MS, it->group);
  const char *argv[] = {"SET", it->keys[0], val, "NX", "GET", "EX", it->key_ttl};
  size_t argl[7];
  for (int i = 0; i < 7; i++) argl[i] = strlen(argv[i]);
  if (redis_send(g, on_dedup_one, it, 7, argv, argl) != REDIS_OK) dedup_outcome(g, it, NULL, 0);
}

static struct ing_group *group_new(void) {
  struct ing_group *grp = calloc(1, sizeof *grp); /* none (OOM): settled one by one */
  if (grp) {
    grp->refs = 1; /* held while sending: items may finish before the last is sent */
    es_ulid(grp->id);
  }
  return grp;
}

void ing_pipeline_submit_many(ing_pipeline *g, ing_item **items, size_t n) {
  struct ing_group *grp = NULL;
  if (n > 1) {
    grp = group_new();
  } else { /* single submissions of this loop iteration share one, closed at its end */
    if (!g->open_group && (g->open_group = group_new())) uv_check_start(&g->loop_end, on_loop_end);
    grp = g->open_group;
  }
  for (size_t i = 0; i < n; i++) {
    ing_item *it = items[i];
    it->bulk = n > 1;
    it->start_ns = es_mono_ns();
    g->inflight++;
    it->group = grp;
    if (grp) grp->refs++;
    if (it->state == ING_ITEM_REJECTED || ing_pipeline_prepare(it, g->cfg.repair_utf8) != 0) {
      finish(g, it, ING_ITEM_REJECTED);
      continue;
    }
    if (!g->redis) { /* while connecting, commands queue up in hiredis */
      es_metric_add(M.degraded, 1);
      produce(g, it);
      continue;
    }
    if (it->external_id && *it->external_id) {
      it->keys[0] = dedup_key(it, 'x', it->external_id);
      it->key_ttl = g->ttl;
    } else {
      char h[33];
      dedup_hash(it, h);
      it->keys[0] = dedup_key(it, 'h', h);
      it->key_ttl = g->ttl_anon;
    }
    if (!it->keys[0]) { /* out of memory: accepted without a dedup check */
      es_metric_add(M.degraded, 1);
      produce(g, it);
      continue;
    }
    it->nkeys = 1;
    dedup_send_one(g, it);
  }
  if (grp && n > 1) group_release(g, grp);
}

void ing_pipeline_submit(ing_pipeline *g, ing_item *it) { ing_pipeline_submit_many(g, &it, 1); }

static void redis_connect(ing_pipeline *g);

static void on_redis_connect(const redisAsyncContext *ac, int status) {
  ing_pipeline *g = ac->data;
  if (!g) return;
  if (status != REDIS_OK) {
    /* warn once per outage; the retries every second stay at debug */
    es_log(g->redis_warned++ ? ES_DEBUG : ES_WARN, "redis_unavailable", "%s; dedup degraded until it is back",
           ac->errstr);
    g->redis = NULL; /* hiredis frees a context whose connect failed */
    g->redis_connected = 0;
    return;
  }
  g->redis_connected = 1;
  g->redis_warned = 0;
  es_info("redis_connected", "dedup enabled");
}

static void on_redis_disconnect(const redisAsyncContext *ac, int status) {
  ing_pipeline *g = ac->data;
  (void)status;
  if (!g) return;
  es_warn("redis_disconnected", "dedup degraded until it is back");
  g->redis_warned = 1;
  g->redis = NULL;
  g->redis_connected = 0;
}

static void redis_connect(ing_pipeline *g) {
  if (!g->cfg.redis_url || !*g->cfg.redis_url) return;
  g->redis = es_redis_async_connect(g->loop, g->cfg.redis_url);
  if (!g->redis) return;
  g->redis->data = g;
  redisAsyncSetConnectCallback(g->redis, on_redis_connect);
  redisAsyncSetDisconnectCallback(g->redis, on_redis_disconnect);
}

static void on_redis_timer(uv_timer_t *t) {
  ing_pipeline *g = t->data;
  if (!g->redis) redis_connect(g);
}

ing_pipeline *ing_pipeline_new(uv_loop_t *loop, const ing_pipeline_config *cfg, char *err, size_t errlen) {
  metrics_init();
  ing_pipeline *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->loop = loop;
  g->cfg = *cfg;
  if (g->cfg.dedup_window_s <= 0) g->cfg.dedup_window_s = 7 * 86400;
  snprintf(g->ttl, sizeof g->ttl, "%ld", g->cfg.dedup_window_s);
  if (g->cfg.dedup_anon_window_s <= 0 || g->cfg.dedup_anon_window_s > g->cfg.dedup_window_s)
    g->cfg.dedup_anon_window_s = g->cfg.dedup_window_s < 600 ? g->cfg.dedup_window_s : 600;
  snprintf(g->ttl_anon, sizeof g->ttl_anon, "%ld", g->cfg.dedup_anon_window_s);
  g->producer = es_kafka_producer_new(cfg->brokers, cfg->client_id ? cfg->client_id : "escucha-ingest", on_delivery, g,
                                      cfg->producer_extra, err, errlen);
  if (!g->producer) {
    free(g);
    return NULL;
  }
  g->kafka_ok = 1;
  g->kuv = es_kafka_uv_attach(loop, g->producer);
  const char *bulk_extra[16];
  int k = 0;
  for (const char *const *kv = cfg->producer_extra; kv && kv[0] && kv[1] && k < 12; kv += 2) {
    if (strcmp(kv[0], "linger.ms") == 0) continue;
    bulk_extra[k++] = kv[0];
    bulk_extra[k++] = kv[1];
  }
  bulk_extra[k++] = "linger.ms";
  bulk_extra[k++] = "5";
  bulk_extra[k] = NULL;
  g->bulk = es_kafka_producer_new(cfg->brokers, "escucha-ingest-bulk", on_delivery, g, bulk_extra, err, errlen);
  if (!g->bulk) {
    es_kafka_uv_detach(g->kuv);
    es_kafka_producer_close(g->producer, 0);
    free(g);
    return NULL;
  }
  g->bulk_uv = es_kafka_uv_attach(loop, g->bulk);
  uv_timer_init(loop, &g->redis_timer);
  g->redis_timer.data = g;
  uv_check_init(loop, &g->loop_end);
  g->loop_end.data = g;
  redis_connect(g);
  uv_timer_start(&g->redis_timer, on_redis_timer, 1000, 1000);
  return g;
}

size_t ing_pipeline_inflight(const ing_pipeline *g) { return g->inflight; }
int ing_pipeline_kafka_ok(const ing_pipeline *g) { return g->kafka_ok; }
int ing_pipeline_redis_ok(const ing_pipeline *g) { return g->redis_connected; }

static void free_on_close(uv_handle_t *h) {
  ing_pipeline *g = h->data;
  if (++g->closed < 2) return; /* the timer and the check handle */
  es_buf_free(&g->settle);
  for (int b = 0; b < CLAIM_BUCKETS; b++)
    for (claim *c = g->claims[b], *n; c; c = n) {
      n = c->next;
      free(c);
    }
  free(g);
}

void ing_pipeline_free(ing_pipeline *g) {
  if (!g) return;
  uv_timer_stop(&g->redis_timer);
  es_kafka_uv_detach(g->kuv);
  /* flush: pending delivery reports run here and complete their items */
  es_kafka_uv_detach(g->bulk_uv);
  es_kafka_producer_close(g->producer, 10000);
  es_kafka_producer_close(g->bulk, 10000);
  uv_check_stop(&g->loop_end);
  close_open_group(g);
  settle_flush(g); /* what the flush just settled; the disconnect sends it */
  if (g->redis) {
    g->redis->data = NULL; /* its callbacks may run after g is gone */
    redisAsyncDisconnect(g->redis);
  }
  /* the loop still references the timer until its close callback: free g there */
  uv_close((uv_handle_t *)&g->redis_timer, free_on_close);
  uv_close((uv_handle_t *)&g->loop_end, free_on_close);
}
