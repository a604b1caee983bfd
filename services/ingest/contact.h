/* A reporter's contact, sealed at the door (docs/privacy.md "Contacts").
 * A submission may carry "contact": {"email"} or {"phone", "via":
 * "whatsapp"|"sms"} with "consent": true. The contact is validated, sealed
 * to the notifier's public key (crypto_box_seal: ingest itself cannot open
 * it) and only the sealed bytes travel on (Feedback.sealed_contact). Without
 * consent, or without a configured key, it is dropped and counted. */
#ifndef ESCUCHA_INGEST_CONTACT_H
#define ESCUCHA_INGEST_CONTACT_H
#include <cjson/cJSON.h>
#include <stddef.h>

#include "item.h"

#define ING_MAX_EMAIL 254
#define ING_MIN_PHONE_DIGITS 8
#define ING_MAX_PHONE_DIGITS 15

/* Loads the notifier's public key (path NULL or "": contacts are not kept).
 * Registers escucha_ingest_contacts_total. 0 ok, -1 with err. */
int ing_contact_init(const char *public_key_file, char *err, size_t errlen);
/* Takes "contact" and "consent" from a submitted object into it (sealed) or
 * drops the contact; 0, or -1 with it rejected naming the field. */
int ing_contact_take(ing_item *it, const cJSON *o);
#endif
