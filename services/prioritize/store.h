/* PostgreSQL store of escucha-prioritize: one transaction per batch writes the
 * new feedback rows, folds exactly those rows into topic_window_stats, ranks
 * the touched windows into priorities and applies action-plan hysteresis.
 * A replayed batch inserts no feedback row and therefore changes nothing. */
#ifndef ESCUCHA_PRIORITIZE_STORE_H
#define ESCUCHA_PRIORITIZE_STORE_H
#include "util.h" /* ES_MUST_CHECK */
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "escucha/v1/escucha.pb-c.h"
#include "stats.h"
#include "taxonomy.h"

/* One classified feedback, validated. Strings are borrowed (usually from the
 * unpacked protobuf message) and must outlive the write. */
typedef struct pz_row {
  const char *id, *agency, *service, *channel, *external_id, *text, *language;
  const char *category, *subcategory, *sentiment, *journey_stage, *model_version, *content_hash;
  int64_t created_at, received_at, classified_at; /* ms; 0 = unknown (not received_at) */
  int nps, csat;                                  /* -1 = not answered */
  double confidence, sentiment_score;             /* NAN = unknown */
  int urgent;
  const char *urgent_reason; /* NULL unless urgent */
  double urgent_confidence;  /* NAN = unknown */
  double runner_up;          /* NAN = unknown (019: the review queue's margin) */
  const char *predicted;     /* the model's most probable subcategory; NULL = unknown */
  char redactions[192];      /* JSON object text or "" */
  int has_latlon;            /* lat/lon set (else NULL) */
  double lat, lon;
  const char *address;           /* NULL = none */
  char top_terms[512];           /* JSON array text or "" */
  const uint8_t *sealed_contact; /* NULL: no contact kept (migrations/008_contacts.sql) */
  size_t sealed_len;
  const char *contact_via; /* email, whatsapp, sms with sealed_contact */
} pz_row;

/* Validates and maps a message; on failure returns -1 with a reason for the DLQ. */
int pz_row_from_pb(const Escucha__V1__ClassifiedFeedback *m, pz_row *r, char *why, size_t whylen);

typedef struct pz_store_cfg {
  pz_params params;
  pz_hyst_cfg hyst;
  int history_windows;         /* earlier windows in the EWMA baseline */
  int action_window;           /* PZ_HOUR/PZ_DAY/PZ_WEEK that drives action plans */
  int action_level;            /* 1 categories, 2 subcategories */
  double emerging_confidence;  /* below this (or category "other") feeds the sketch */
  int publish_top;             /* PriorityUpdates per agency x window x level */
  double spike_p;              /* p-value under which a topic counts as spiking */
  int rank_interval_ms;        /* rank an agency at most this often (0 = every batch) */
  double rank_share;           /* of the service's time ranking may take (rank_allowance) */
  const char *quiet_topics;    /* comma list of categories ranked but never given a plan */
  int contact_retention_days;  /* a sealed contact expires this long after its feedback arrived */
  int effect_days;             /* effectiveness: days before vs after a plan's closure (0: no check) */
  int effect_min_events;       /* fewer complaints than this in both periods: inconclusive */
  const es_taxonomy *taxonomy; /* borrowed; NULL: labels are topic ids */
  int derive_later;            /* 1: a batch's aggregates and rankings are queued for pz_store_derive */
} pz_store_cfg;
void pz_store_cfg_default(pz_store_cfg *c);

/* A ranked topic to publish after commit (owned strings). */
typedef struct pz_priority {
  char *agency, *topic, *expl_es, *expl_en;
  int kind, level;
  int64_t window_start;
  unsigned rank;
  pz_factors f;
} pz_priority;

typedef struct pz_text {
  char *agency, *text;
} pz_text;

typedef struct pz_batch_result {
  size_t inserted;       /* feedback rows new in this batch */
  size_t ranked;         /* priorities rows written */
  size_t new_spikes;     /* topic windows that started spiking */
  size_t opened, closed; /* action plans */
  uint64_t rank_wait_ns; /* longest an agency ranked here waited since its first unranked rows */
  pz_priority *prio;
  size_t nprio, capprio;
  pz_text *emerging; /* new low-confidence texts, for the sketch after commit */
  size_t nemerging, capemerging;
} pz_batch_result;
void pz_batch_result_free(pz_batch_result *r);

typedef struct pz_store pz_store;
/* Does not connect yet; pz_store_connect does (and re-does after a failure). */
ES_MUST_CHECK
pz_store *pz_store_new(const char *dsn, const pz_store_cfg *cfg);
void pz_store_free(pz_store *s);
/* Connects if needed, applies migrations when dir is non-NULL (first time
 * only), prepares the session. 0 ok, -1 (logged). */
int pz_store_connect(pz_store *s, const char *migrations_dir);
int pz_store_connected(const pz_store *s);
/* Called at most once per pz_store_write, while PostgreSQL inserts the batch
 * (after the COPY data is sent, before its result is read): the caller's
 * client-side work (e.g. decoding the next batch) overlaps the server's. It
 * must not use the store. */
typedef void (*pz_overlap_fn)(void *arg);
void pz_store_set_overlap(pz_store *s, pz_overlap_fn fn, void *arg);
/* The whole batch in one transaction. 0 committed; -1 rolled back (nothing
 * written; the connection is dropped when it is unusable). */
int pz_store_write(pz_store *s, const pz_row *rows, size_t n, pz_batch_result *res);
/* After pz_store_write returned 0: whether rows[i] of that batch was inserted
 * by it (not a repeat of a row stored before or earlier in the batch). */
int pz_store_inserted(const pz_store *s, size_t i);

/* With cfg.derive_later: applies the oldest queued batches (aggregate_queue,
 * migrations/021; up to 8) no other instance is applying, in one transaction:
 * their aggregates, and the rankings they make due (as pz_store_write does
 * without derive_later). 1 applied, 0 nothing queued, -1 rolled back (the
 * batches stay queued). */
int pz_store_derive(pz_store *s, pz_batch_result *res);

/* How long ago (ms, wall clock) the oldest batch still in aggregate_queue
 * committed, including one being applied right now; 0 when it is empty. 0 ok, -1 error. */
int pz_store_queue_age(pz_store *s, int64_t *age_ms);

/* Ranks, in their own transaction, agencies with rows committed since their
 * last ranking whose rank interval has passed (all of them when force).
 * 0 ok (res may be empty), -1 rolled back (they stay pending). */
int pz_store_rank_pending(pz_store *s, pz_batch_result *res, int force);

/* Outbox of action requests not yet delivered. */
typedef struct pz_outbox_item {
  char *plan_id;
  unsigned char *payload; /* serialized ActionRequest */
  size_t len;
  char *key; /* Kafka key: agency/topic */
} pz_outbox_item;
/* Up to max pending items (malloc'd array in *out). Returns count or -1. */
int pz_store_outbox(pz_store *s, pz_outbox_item **out, int max);
int pz_store_outbox_done(pz_store *s, const char *plan_id);
void pz_outbox_free(pz_outbox_item *items, int n);

/* Replaces the emerging_topics snapshot rows of the items given (agency\x1fterm keys). */
int pz_store_emerging(pz_store *s, const char *const *keys, const uint64_t *counts, const uint64_t *errors, int n);

PGconn *pz_store_conn(pz_store *s);                  /* for tests */
void pz_store_set_rank_chunk(pz_store *s, size_t n); /* for tests: agencies whose reads are fetched together */

/* PriorityUpdate for a ranked topic; strings point into p (no copies). The
 * factors map entries are allocated in fe/fv (caller-provided, >= 16). */
void pz_priority_to_pb(const pz_priority *p, Escucha__V1__PriorityUpdate *u, Escucha__V1__WilsonInterval *ci,
                       Escucha__V1__PriorityUpdate__FactorsEntry *fe, Escucha__V1__PriorityUpdate__FactorsEntry **fv,
                       size_t *nf);
/* Deletes expired contacts and those of reporters already told the final
 * outcome. Returns the rows deleted, -1 on error. */
long pz_store_purge_contacts(pz_store *s);
#endif
