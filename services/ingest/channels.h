/* Channel adapters: vendor payloads -> feedback items.
 * - WhatsApp Cloud API webhooks (Meta): text messages become feedback; the
 *   sender's number and name are personal data and are not kept.
 * - E-mail: one RFC 5322 message (as fetched from a mailbox) becomes one item;
 *   From/To are not kept, Subject + the text/plain body are. */
#ifndef INGEST_CHANNELS_H
#define INGEST_CHANNELS_H
#include <stddef.h>

#include "item.h"

/* Verifies X-Hub-Signature-256 ("sha256=<hex>") over the raw body; 1 ok. */
int ch_whatsapp_signature_ok(const char *app_secret, const char *body, size_t len, const char *header);
/* Text messages of a webhook body as new items (caller frees each and the
 * array). Returns the count (0: nothing to ingest, e.g. status updates), -1
 * if the body is not a WhatsApp webhook (err set). */
int ch_whatsapp_items(const char *body, size_t len, const char *agency, ing_item ***out, char *err, size_t errlen);
/* Fills it (text, external_id, created_at, channel) from a message; 0 ok,
 * -1 rejected (it->err_* set). */
int ch_email_item(const char *msg, size_t len, ing_item *it);
/* RFC 5322 date ("Tue, 1 Jul 2003 10:52:37 +0200") -> ms; 0 ok. */
int ch_parse_email_date(const char *s, int64_t *ms);
#endif
