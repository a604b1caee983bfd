/* Dead letters of the inbound topic without clear personal data. A rejected inbound message
 * may hold card numbers, e-mails, ... in clear, so its DeadLetter (stage "ingest") carries no
 * `original`; instead: the reason (redacted), source topic/partition/offset, original_size,
 * original_hash (BLAKE2b-256, keyed with the seal public key when one is configured, so a DLQ
 * reader without it cannot test guesses), original_redacted (a readable rendering of the
 * message with ing_redact applied, when it decodes as text) and original_sealed
 * (crypto_box_seal of the original bytes to the operator's X25519 public key; absent when no
 * key is configured: the original is then not kept at all). `escucha-ingest dlq-open` with
 * the secret key writes the originals back out for replay. docs/ingest.md, "Dead letters". */
#ifndef ESCUCHA_INGEST_DLQ_H
#define ESCUCHA_INGEST_DLQ_H
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "util.h"

typedef struct {
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
} ing_dlq_seal_key;

/* Reads a key file: 64 hex digits (whitespace around ignored). 0 ok, -1 with err filled. */
ES_MUST_CHECK
int ing_dlq_read_key(const char *path, unsigned char key[32], char *err, size_t errlen);

/* Readable rendering of an inbound message with personal data redacted, or NULL when it is
 * neither JSON, a Feedback protobuf nor UTF-8 text (or on OOM). JSON and protobuf are
 * re-printed as compact JSON from what they decode to (escapes resolved, so "\u0040" cannot
 * hide an '@'); other text gets its \uXXXX escapes resolved. Then normalised (invalid UTF-8
 * repaired) and redacted; at most max bytes (cut on a character boundary). malloc'd. */
ES_MUST_CHECK
char *ing_dlq_render(const void *orig, size_t n, size_t max);

/* Packs the DeadLetter of a rejected inbound message (see above). key NULL: nothing sealed.
 * The reason is redacted too. Returns malloc'd bytes (*len set), NULL on OOM. */
ES_MUST_CHECK
uint8_t *ing_dlq_pack(const ing_dlq_seal_key *key, const char *reason, const char *topic, int32_t partition,
                      int64_t offset, const void *orig, size_t n, size_t *len);

/* What ing_dlq_unseal found (the values are the old 0/-1/-2). */
typedef enum {
  DLQ_UNSEALED = 0,       /* *orig malloc'd, *olen set */
  DLQ_NOT_SEALED = -1,    /* not a sealed ingest record (another stage, no key configured) */
  DLQ_SEAL_MISMATCH = -2, /* sealed to another key, or corrupt (out of memory lands here too) */
} dlq_unseal_rc;

/* Opens the sealed original of a packed DeadLetter with the secret key and checks it against
 * original_size/original_hash. */
ES_MUST_CHECK
dlq_unseal_rc ing_dlq_unseal(const uint8_t *rec, size_t n, const unsigned char sk[crypto_box_SECRETKEYBYTES],
                             uint8_t **orig, size_t *olen);

/* escucha-ingest dlq-keygen PUBLIC_FILE SECRET_FILE: a new key pair as hex files (the secret
 * one mode 0600); refuses to overwrite. Exit status. */
int ing_dlq_keygen_main(const char *pub_path, const char *sec_path);

/* escucha-ingest dlq-open: reads escucha.dlq.v1 from its start to its current end and writes
 * each sealed ingest original that opens with the secret key to
 * DIR/<topic>.<partition>.<offset>, printing one line per record. Exit status. */
int ing_dlq_open_main(const char *brokers, const char *secret_key_file, const char *dir);
#endif
