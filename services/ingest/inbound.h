/* Kafka intake: consumes escucha.feedback.inbound.v1 (protobuf Feedback or
 * JSON) and treats each message exactly like an HTTP submission. Offsets are
 * stored only when the message (and every earlier one of its partition) is
 * in the ingested topic, answered as a duplicate, or in the DLQ. A rejected
 * message reaches the DLQ without its clear bytes (dlq.h): sealed to the
 * operator's public key in seal_key_file, or not kept when that is NULL. */
#ifndef ESCUCHA_INGEST_INBOUND_H
#define ESCUCHA_INGEST_INBOUND_H
#include <uv.h>

#include "pipeline.h"

typedef struct ing_inbound ing_inbound;
ing_inbound *ing_inbound_start(uv_loop_t *loop, ing_pipeline *g, const char *brokers, const char *group,
                               const char *seal_key_file, char *err, size_t errlen);
void ing_inbound_stop(ing_inbound *ib);
/* on: every message of the topic is trusted history, filed at its created_at
 * (--inbound-trust-created-at: an agency system replaying its own records;
 * docs/ingest.md "History"). Off by default. */
void ing_inbound_trust_created_at(ing_inbound *ib, int on);
#endif
