/* Channel adapters: vendor payloads -> feedback items.
 * - WhatsApp Cloud API webhooks (Meta): text messages become feedback; the
 *   sender's number and name are personal data and are not kept.
 * - E-mail: one RFC 5322 message (as fetched from a mailbox) becomes one item;
 *   From/To are not kept, Subject + the text/plain body are.
 * - Open311 GeoReport v2 requests (form or JSON); contact fields are not kept.
 * Every string an adapter hands on is valid UTF-8 without NUL bytes and within
 * the limits below; anything else rejects the item naming the field (never cut). */
#ifndef ESCUCHA_INGEST_CHANNELS_H
#define ESCUCHA_INGEST_CHANNELS_H
#include "util.h" /* ES_MUST_CHECK */
#include <stddef.h>

#include "item.h"

/* Channels check item.h's ING_MAX_* limits first, so an error names the
 * channel's own field (Open311 "address_string", e-mail "subject"). */

/* 0 when s[0..n) has no NUL byte, is valid UTF-8 and is at most max bytes;
 * otherwise rejects it naming field and returns -1. */
int ing_ch_check_str(ing_item *it, const char *field, const char *s, size_t n, size_t max);

/* Verifies X-Hub-Signature-256 ("sha256=<hex>") over the raw body; 1 ok. */
int ing_ch_whatsapp_signature_ok(const char *app_secret, const char *body, size_t len, const char *header);
/* Text messages of a webhook body as new items (caller frees each and the
 * array); a text message that cannot be taken is an item already rejected
 * (field named). Returns the count (0: nothing to ingest, e.g. status
 * updates), -1 if the body is not a WhatsApp webhook (err set). */
int ing_ch_whatsapp_items(const char *body, size_t len, const char *agency, ing_item ***out, char *err, size_t errlen);
/* Fills it (text, external_id, created_at, channel) from a message; 0 ok,
 * -1 rejected (it->err_* set, field: subject, body, message-id or a header). */
int ing_ch_email_item(const char *msg, size_t len, ing_item *it);
/* RFC 5322 date ("Tue, 1 Jul 2003 10:52:37 +0200") -> ms; 0 ok. */
ES_MUST_CHECK
int ing_ch_parse_email_date(const char *s, int64_t *ms);
/* external_id for a Message-ID: "mid-" + 32 hex of a BLAKE2b-128 hash of the id
 * without its angle brackets (the id often names the sender's address or host;
 * the hash is stable, so a re-sent e-mail is still a duplicate). out: 37 bytes. */
void ing_ch_email_message_id_hash(const char *mid, size_t n, char out[37]);
/* An Open311 GeoReport v2 POST body (form-encoded, or a JSON object when
 * form == 0) -> it, for agency. services_json: the services.json list whose
 * service_code values are allowed (NULL: any). 0 ok, -1 rejected with the
 * Open311 field named (description, service_code, lat, long, ...). */
int ing_ch_open311_item(const char *body, size_t len, int form, const char *agency, const char *services_json,
                        ing_item *it);
/* GeoReport v2's contact fields: personal data that ing_ch_open311_item never
 * copies (not stored, published or logged). The bits (1 << index in
 * ING_CH_OPEN311_CONTACT) of those a body gives with a non-empty value, so the
 * API can count what it dropped. */
#define ING_CH_OPEN311_NCONTACT 4
extern const char *const ING_CH_OPEN311_CONTACT[ING_CH_OPEN311_NCONTACT];
unsigned ing_ch_open311_contact_fields(const char *body, size_t len, int form);
#endif
