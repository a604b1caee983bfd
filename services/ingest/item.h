/* One piece of feedback travelling through ingest: parsed input, derived
 * fields, and its outcome. Owned by whoever submitted it (HTTP request,
 * Kafka message, CSV row) until its done callback has run. */
#ifndef ESCUCHA_INGEST_ITEM_H
#define ESCUCHA_INGEST_ITEM_H
#include "util.h" /* ES_MUST_CHECK */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "escucha/v1/escucha.pb-c.h"
#include "redact.h"

/* Limits every channel shares (docs/ingest.md "Field limits"): over a limit is
 * refused naming the field, never cut. */
#define ING_MAX_TEXT 20000
#define ING_MAX_FIELD 256 /* service */
#define ING_MAX_EXTERNAL_ID 128
#define ING_MAX_AGENCY 64
#define ING_MAX_ADDRESS 512
#define ING_MAX_ATTRS 32
#define ING_MAX_ATTR_KEY 64
#define ING_MAX_ATTR_VALUE 1024
#define ING_MIN_CREATED_AT 631152000000LL          /* 1990-01-01T00:00:00Z */
#define ING_MAX_CLOCK_SKEW_MS (24LL * 3600 * 1000) /* created_at up to a day ahead of us */

enum { ING_ITEM_PENDING, ING_ITEM_ACCEPTED, ING_ITEM_DUPLICATE, ING_ITEM_REJECTED, ING_ITEM_UNAVAILABLE };

typedef struct ing_item ing_item;
typedef void (*ing_done_cb)(ing_item *it, void *ctx);

struct ing_item {
  int state;
  char id[27];
  char *dup_id; /* original id when duplicate */
  char err_code[32];
  char err_field[64];
  char err_msg[192];
  /* input */
  char *agency, *service, *external_id, *text, *language;
  int channel; /* Escucha__V1__Channel */
  int64_t created_at, received_at;
  int has_nps, nps, has_csat, csat, has_location, has_coords; /* a location may be an address alone */
  double lat, lon;
  char *address;
  size_t nattrs;
  char **attr_keys, **attr_vals;
  uint8_t *sealed_contact; /* contact.c: sealed to the notifier, NULL: none kept */
  size_t sealed_len;
  const char *contact_via; /* static "email", "whatsapp", "sms" with sealed_contact */
  /* From a trusted source of history (a backfill key, import --trust-created-at,
   * --inbound-trust-created-at): ing_pipeline_prepare files it at its own
   * created_at (received_at = created_at, never later than now). */
  int trust_created_at;
  /* derived */
  char content_hash[33];
  ing_redact_counts red;
  /* processing */
  char *keys[1]; /* its dedup key (external_id or anonymous content) */
  int nkeys;
  const char *key_ttl; /* that key's window in seconds (the ingest's string) */
  ing_done_cb done;
  void *ctx;
  size_t index; /* position in a batch / row in a CSV */
  uint64_t start_ns;
  int bulk;                /* part of a batch: goes through the lingering producer */
  int claimed;             /* its dedup keys are claimed by this process, not yet finished */
  struct ing_group *group; /* the submission it came in with (batches), see pipeline.c */
  int grouped;             /* its claim names the group: settled by the group's marker */
  struct ing_item *next;   /* free for the owner's lists */
};

void ing_item_free(ing_item *it);
/* Marks rejected with a field-naming error; returns -1 for convenience. */
int ing_item_reject(ing_item *it, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills it from a JSON object (HTTP body, inbound JSON). Agency: the
 * authenticated one (HTTP) or NULL to require the "agency" field (Kafka).
 * default_channel applies when the object has none. 0 ok, -1 rejected. */
int ing_item_from_json(ing_item *it, const cJSON *obj, const char *agency, int default_channel);

/* Where and why a JSON text was refused. */
typedef struct {
  int line, column;
  char text[160];
} ing_json_error;
/* Parses one JSON value from p[0..n) (cJSON: a feedback line parses in a fifth of
 * jansson's time, bench/ingest/json_bench.c) with jansson's strictness kept: UTF-8
 * validated, "\u0000" refused, duplicate keys refused, only whitespace after the
 * value. NULL (with e filled when not NULL) on error; cJSON_Delete the result. */
ES_MUST_CHECK
cJSON *ing_json_parse(const char *p, size_t n, ing_json_error *e);
/* Member k of o, case-sensitive (cJSON's plain lookup ignores case); NULL when o
 * is not an object or lacks it. The second gives its string value or NULL. */
const cJSON *ing_json_at(const cJSON *o, const char *k);
const char *ing_json_str_at(const cJSON *o, const char *k);
/* Fills it from a protobuf Feedback (inbound topic). 0 ok, -1 rejected. */
int ing_item_from_proto(ing_item *it, const Escucha__V1__Feedback *fb);
/* Channel name (case-insensitive, e.g. "whatsapp") -> enum, -1 unknown. */
ES_MUST_CHECK
int ing_channel_parse(const char *s);
/* Parses a time into ms since epoch (UTC): 9-10 digits (seconds) or 12-13 digits (ms);
 * RFC 3339 "YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][Z|±HH:MM]" (offsets up to 23:59); or
 * "DD/MM/YYYY". Real calendar dates only (no February 30). Leading/trailing spaces
 * are ignored. 0 ok, -1 malformed. The accepted range is ing_item_validate's. */
ES_MUST_CHECK
int ing_parse_time(const char *s, int64_t *ms);
/* The checks every channel's item goes through before anything else (ing_pipeline_prepare
 * calls it): agency charset, limits (ING_MAX_*), UTF-8 of every string, external_id's
 * charset, language tag, attribute names, created_at in [1990-01-01, now + 24 h].
 * 0 ok, -1 rejected naming the field. */
int ing_item_validate(ing_item *it, int64_t now_ms);
/* 1-64 of [A-Za-z0-9_.-]: agency names appear in keys (dedup) and topics' keys. */
int ing_agency_ok(const char *s);
/* 1-128 of letters, digits, space (not at the ends) and _-.:/#&()+=, (no '@'). */
int ing_external_id_ok(const char *s);
/* Serialises the (processed) item as a Feedback protobuf; malloc'd bytes. */
uint8_t *ing_item_pack(const ing_item *it, size_t *len);
#endif
