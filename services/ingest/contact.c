#include "contact.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "seal.h"

static struct {
  int keyed;
  unsigned char pk[ES_SEAL_KEY_BYTES];
  es_metric *m;
} K;

int ing_contact_init(const char *public_key_file, char *err, size_t errlen) {
  K.m = es_counter("escucha_ingest_contacts_total",
                   "Contacts submitted with feedback, by outcome (sealed, no_consent, no_key)", "result", NULL);
  K.keyed = 0;
  if (!public_key_file || !*public_key_file) {
    es_warn("contacts_not_kept", "no --contact-public-key-file: contacts submitted with consent are dropped");
    return 0;
  }
  if (es_seal_read_key(public_key_file, K.pk, err, errlen) != 0) return -1;
  K.keyed = 1;
  return 0;
}

/* local@domain: printable, no spaces, one '@', a dot in the domain. */
static int email_ok(const char *s) {
  size_t n = strlen(s);
  const char *at = strchr(s, '@');
  if (n < 3 || n > ING_MAX_EMAIL || !at || at == s || strchr(at + 1, '@') || (size_t)(at - s) > 64) return 0;
  const char *dot = strrchr(at + 1, '.');
  if (!dot || dot == at + 1 || !dot[1]) return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == ',' || *p == ';') return 0;
  return 1;
}

/* Keeps an optional leading '+' and the digits; spaces, dots, dashes and
 * parentheses are separators. 0 ok (out: "+56912345678" or "56912345678"). */
static int phone_norm(const char *s, char *out, size_t outlen) {
  size_t k = 0, digits = 0;
  if (*s == '+') out[k++] = *s++;
  for (; *s; s++) {
    if (*s >= '0' && *s <= '9') {
      if (k + 1 >= outlen) return -1;
      out[k++] = *s, digits++;
    } else if (!strchr(" .-()", *s)) return -1;
  }
  out[k] = 0;
  return digits >= ING_MIN_PHONE_DIGITS && digits <= ING_MAX_PHONE_DIGITS ? 0 : -1;
}

static const char *str_at(const cJSON *o, const char *k, int *bad) {
  const cJSON *v = ing_json_at(o, k);
  if (!v || cJSON_IsNull(v)) return NULL;
  if (!cJSON_IsString(v)) {
    *bad = 1;
    return NULL;
  }
  return v->valuestring;
}

int ing_contact_take(ing_item *it, const cJSON *o) {
  const cJSON *c = ing_json_at(o, "contact"), *consent = ing_json_at(o, "consent");
  if (consent && !cJSON_IsBool(consent) && !cJSON_IsNull(consent))
    return ing_item_reject(it, "invalid", "consent", "consent must be true or false");
  if (!c || cJSON_IsNull(c)) return 0;
  if (!cJSON_IsObject(c))
    return ing_item_reject(it, "invalid", "contact", "contact must be an object: {\"email\"} or {\"phone\", \"via\"}");
  for (const cJSON *f = c->child; f; f = f->next)
    if (!f->string || (strcmp(f->string, "email") && strcmp(f->string, "phone") && strcmp(f->string, "via")))
      return ing_item_reject(it, "invalid", "contact", "contact takes only email, or phone and via");
  int bad = 0;
  const char *email = str_at(c, "email", &bad);
  if (bad) return ing_item_reject(it, "invalid", "contact.email", "contact.email must be a string");
  const char *phone = str_at(c, "phone", &bad);
  if (bad) return ing_item_reject(it, "invalid", "contact.phone", "contact.phone must be a string");
  const char *via = str_at(c, "via", &bad);
  if (bad) return ing_item_reject(it, "invalid", "contact.via", "contact.via must be a string");
  if (!email == !phone) return ing_item_reject(it, "invalid", "contact", "contact needs exactly one of email or phone");
  char clear[ING_MAX_EMAIL + 64], num[24];
  int rc = -1;
  if (email) {
    if (via && strcmp(via, "email") != 0)
      return ing_item_reject(it, "invalid", "contact.via", "an e-mail contact is reached by e-mail (omit via)");
    if (!email_ok(email))
      return ing_item_reject(it, "invalid", "contact.email", "contact.email is not an e-mail address");
    it->contact_via = "email";
    snprintf(clear, sizeof clear, "{\"v\":1,\"email\":\"%s\"}", email); /* email_ok: no '"' or controls */
  } else {
    if (!via || (strcmp(via, "whatsapp") != 0 && strcmp(via, "sms") != 0))
      return ing_item_reject(it, "invalid", "contact.via", "a phone contact needs via: whatsapp or sms");
    if (phone_norm(phone, num, sizeof num) != 0)
      return ing_item_reject(it, "invalid", "contact.phone", "contact.phone must have %d to %d digits",
                             ING_MIN_PHONE_DIGITS, ING_MAX_PHONE_DIGITS);
    it->contact_via = strcmp(via, "sms") == 0 ? "sms" : "whatsapp";
    snprintf(clear, sizeof clear, "{\"v\":1,\"phone\":\"%s\",\"via\":\"%s\"}", num, it->contact_via);
  }
  if (!cJSON_IsTrue(consent)) {
    it->contact_via = NULL;
    es_metric_add(K.m, 1, "no_consent");
    rc = 0;
    goto cleanup;
  }
  if (!K.keyed) {
    it->contact_via = NULL;
    es_metric_add(K.m, 1, "no_key");
    rc = 0;
    goto cleanup;
  }
  size_t n = strlen(clear);
  if (!(it->sealed_contact = es_seal(K.pk, clear, n))) {
    it->contact_via = NULL;
    rc = ing_item_reject(it, "internal", "contact", "out of memory");
    goto cleanup;
  }
  it->sealed_len = n + ES_SEAL_OVERHEAD;
  es_metric_add(K.m, 1, "sealed");
  rc = 0;
cleanup:
  sodium_memzero(clear, sizeof clear);
  sodium_memzero(num, sizeof num);
  return rc;
}
