#include "channels.h"

#include <ctype.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

int ch_whatsapp_signature_ok(const char *secret, const char *body, size_t len, const char *header) {
  if (!secret || !*secret || !header || strncmp(header, "sha256=", 7) != 0) return 0;
  unsigned char mac[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
  size_t binlen = 0;
  if (sodium_hex2bin(got, sizeof got, header + 7, strlen(header + 7), NULL, &binlen, NULL) != 0 ||
      binlen != sizeof got)
    return 0;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
  crypto_auth_hmacsha256_final(&st, mac);
  return sodium_memcmp(mac, got, sizeof mac) == 0;
}

/* The array under k, or NULL: iterating an object would walk its members. */
static const cJSON *arr_at(const cJSON *o, const char *k) {
  const cJSON *a = ing_json_at(o, k);
  return cJSON_IsArray(a) ? a : NULL;
}

static ing_item *wa_item(const cJSON *msg, const char *agency) {
  const char *type = ing_json_str_at(msg, "type");
  const char *text = ing_json_str_at(ing_json_at(msg, "text"), "body");
  if (!type || strcmp(type, "text") != 0 || !text) return NULL; /* media, reactions: nothing to read */
  ing_item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->agency = strdup(agency);
  it->text = strdup(text);
  it->channel = ESCUCHA__V1__CHANNEL__WHATSAPP;
  const char *id = ing_json_str_at(msg, "id");
  if (id) it->external_id = strndup(id, 256); /* Meta redelivers: the wamid dedups it */
  const char *ts = ing_json_str_at(msg, "timestamp");
  if (ts) it->created_at = strtoll(ts, NULL, 10) * 1000;
  return it;
}

int ch_whatsapp_items(const char *body, size_t len, const char *agency, ing_item ***out, char *err, size_t errlen) {
  ing_json_error jerr;
  cJSON *root = ing_json_parse(body, len, &jerr);
  *out = NULL;
  if (!arr_at(root, "entry")) {
    snprintf(err, errlen, root ? "not a WhatsApp webhook: no entry array" : "malformed JSON: %s", jerr.text);
    cJSON_Delete(root);
    return -1;
  }
  size_t cap = 0, n = 0;
  ing_item **items = NULL;
  const cJSON *entry, *change, *msg;
  cJSON_ArrayForEach(entry, arr_at(root, "entry")) {
    cJSON_ArrayForEach(change, arr_at(entry, "changes")) {
      cJSON_ArrayForEach(msg, arr_at(ing_json_at(change, "value"), "messages")) {
        ing_item *it = wa_item(msg, agency);
        if (!it) continue;
        if (n == cap) {
          cap = cap ? cap * 2 : 4;
          ing_item **grown = realloc(items, cap * sizeof *items);
          if (!grown) { ing_item_free(it); break; }
          items = grown;
        }
        items[n++] = it;
      }
    }
  }
  cJSON_Delete(root);
  *out = items;
  return (int)n;
}

/* ---- e-mail ---- */

typedef struct {
  const char *p;
  size_t n;
} span;

/* Value of header name (unfolded, malloc'd) from the header block, or NULL. */
static char *header(span h, const char *name) {
  size_t nl = strlen(name);
  const char *p = h.p, *end = h.p + h.n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      es_buf v = {0};
      const char *s = p + nl + 1;
      for (;;) {
        while (s < eol && (*s == ' ' || *s == '\t')) s++;
        const char *e = eol;
        while (e > s && (e[-1] == '\r' || e[-1] == ' ')) e--;
        if (v.len) es_buf_append(&v, " ", 1);
        es_buf_append(&v, s, (size_t)(e - s));
        if (eol + 1 < end && (eol[1] == ' ' || eol[1] == '\t')) { /* folded line */
          s = eol + 1;
          eol = memchr(s, '\n', (size_t)(end - s));
          if (!eol) eol = end;
          continue;
        }
        break;
      }
      if (!v.data) es_buf_append(&v, "", 0);
      return v.data;
    }
    p = eol + 1;
  }
  return NULL;
}

/* Splits a message into header block and body at the first empty line. */
static void split(span m, span *h, span *b) {
  const char *p = m.p, *end = m.p + m.n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) break;
    const char *next = eol + 1;
    if (next < end && (*next == '\n' || (*next == '\r' && next + 1 < end && next[1] == '\n'))) {
      *h = (span){m.p, (size_t)(eol + 1 - m.p)};
      const char *body = next + (*next == '\r' ? 2 : 1);
      *b = (span){body, (size_t)(end - body)};
      return;
    }
    p = next;
  }
  *h = m;
  *b = (span){end, 0};
}

static int hexval(int c) {
  return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

static void qp_decode(span s, es_buf *out, int header_mode) {
  for (size_t i = 0; i < s.n; i++) {
    char c = s.p[i];
    if (c == '=' && i + 2 < s.n + 1 && i + 1 < s.n) {
      if (s.p[i + 1] == '\n') { i += 1; continue; }                       /* soft break */
      if (s.p[i + 1] == '\r' && i + 2 < s.n && s.p[i + 2] == '\n') { i += 2; continue; }
      int a = i + 2 < s.n ? hexval((unsigned char)s.p[i + 1]) : -1, b = i + 2 < s.n ? hexval((unsigned char)s.p[i + 2]) : -1;
      if (a >= 0 && b >= 0) {
        char v = (char)(a * 16 + b);
        es_buf_append(out, &v, 1);
        i += 2;
        continue;
      }
    }
    if (header_mode && c == '_') c = ' ';
    es_buf_append(out, &c, 1);
  }
}

static void b64_decode(span s, es_buf *out) {
  unsigned char *bin = malloc(s.n + 1);
  size_t len = 0;
  if (bin && sodium_base642bin(bin, s.n + 1, s.p, s.n, " \r\n\t", &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0)
    es_buf_append(out, bin, len);
  free(bin);
}

/* ISO-8859-1 -> UTF-8 (the one legacy charset common enough to handle here). */
static void latin1_to_utf8(es_buf *b) {
  es_buf o = {0};
  for (size_t i = 0; i < b->len; i++) {
    unsigned char c = (unsigned char)b->data[i];
    if (c < 0x80) es_buf_append(&o, (char *)&c, 1);
    else {
      char two[2] = {(char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F))};
      es_buf_append(&o, two, 2);
    }
  }
  es_buf_free(b);
  *b = o;
}

static int is_latin1(const char *ctype) {
  return ctype && (strcasestr(ctype, "iso-8859-1") || strcasestr(ctype, "latin1") || strcasestr(ctype, "windows-1252"));
}

/* RFC 2047 encoded words in a header (UTF-8 or Latin-1, B or Q). */
static char *decode_words(const char *s) {
  es_buf out = {0};
  while (*s) {
    const char *start = strstr(s, "=?");
    if (!start) { es_buf_puts(&out, s); break; }
    const char *q1 = strchr(start + 2, '?');
    const char *q2 = q1 ? strchr(q1 + 1, '?') : NULL;
    const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
    if (!q1 || !q2 || !end || q2 - q1 != 2) { es_buf_append(&out, s, (size_t)(start + 2 - s)); s = start + 2; continue; }
    /* whitespace between two encoded words is dropped (RFC 2047 §6.2) */
    size_t lead = (size_t)(start - s);
    int only_ws = 1;
    for (size_t i = 0; i < lead; i++) only_ws &= s[i] == ' ' || s[i] == '\t';
    if (!(only_ws && out.len)) es_buf_append(&out, s, lead);
    char charset[32];
    snprintf(charset, sizeof charset, "%.*s", (int)(q1 - start - 2), start + 2);
    span text = {q2 + 1, (size_t)(end - q2 - 1)};
    es_buf dec = {0};
    if (toupper((unsigned char)q1[1]) == 'B') b64_decode(text, &dec);
    else qp_decode(text, &dec, 1);
    if (is_latin1(charset)) latin1_to_utf8(&dec);
    if (dec.len) es_buf_append(&out, dec.data, dec.len);
    es_buf_free(&dec);
    s = end + 2;
  }
  if (!out.data) es_buf_append(&out, "", 0);
  return out.data;
}

static char *param(const char *ctype, const char *name) {
  const char *p = ctype ? strcasestr(ctype, name) : NULL;
  if (!p) return NULL;
  p += strlen(name);
  if (*p != '=') return NULL;
  p++;
  if (*p == '"') {
    const char *e = strchr(p + 1, '"');
    return e ? es_strndup(p + 1, (size_t)(e - p - 1)) : NULL;
  }
  return es_strndup(p, strcspn(p, "; \t\r\n"));
}

/* Decoded text of a leaf part, or NULL if it is not text/plain. */
static char *leaf_text(span h, span b) {
  char *ctype = header(h, "content-type"), *cte = header(h, "content-transfer-encoding");
  char *res = NULL;
  if (ctype && strncasecmp(ctype, "text/plain", 10) != 0) goto done; /* no Content-Type means text/plain */
  es_buf out = {0};
  if (cte && strcasecmp(cte, "quoted-printable") == 0) qp_decode(b, &out, 0);
  else if (cte && strcasecmp(cte, "base64") == 0) b64_decode(b, &out);
  else es_buf_append(&out, b.p, b.n);
  if (is_latin1(ctype)) latin1_to_utf8(&out);
  if (!out.data) es_buf_append(&out, "", 0);
  res = out.data;
done:
  free(ctype);
  free(cte);
  return res;
}

/* First text/plain part, depth-first through multipart parts (bounded depth). */
static char *find_text(span h, span b, int depth) {
  char *ctype = header(h, "content-type");
  char *res = NULL;
  if (ctype && strncasecmp(ctype, "multipart/", 10) == 0 && depth < 4) {
    char *boundary = param(ctype, "boundary");
    if (boundary && *boundary && strlen(boundary) <= 200) { /* RFC 2046: at most 70 */
      char delim[256];
      int dl = snprintf(delim, sizeof delim, "--%s", boundary);
      const char *p = b.p, *end = b.p + b.n;
      const char *cur = NULL;
      while (!res && p < end) {
        const char *hit = memmem(p, (size_t)(end - p), delim, (size_t)dl);
        if (!hit) break;
        if (cur) {
          const char *pe = hit;
          if (pe > cur && pe[-1] == '\n') pe--;
          if (pe > cur && pe[-1] == '\r') pe--;
          span ph, pb;
          split((span){cur, (size_t)(pe - cur)}, &ph, &pb);
          res = find_text(ph, pb, depth + 1);
        }
        p = hit + dl;
        if (p + 1 < end && p[0] == '-' && p[1] == '-') break; /* closing delimiter */
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        cur = eol ? eol + 1 : end;
        p = cur;
      }
    }
    free(boundary);
  } else {
    res = leaf_text(h, b);
  }
  free(ctype);
  return res;
}

int ch_parse_email_date(const char *s, int64_t *ms) {
  static const char *const MON[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                    "jul", "aug", "sep", "oct", "nov", "dec"};
  const char *comma = strchr(s, ',');
  if (comma) s = comma + 1;
  int d, y, h, mi, sec = 0, n = 0;
  char mon[4] = "", zone[8] = "";
  if (sscanf(s, " %d %3s %d %d:%d%n", &d, mon, &y, &h, &mi, &n) < 5) return -1;
  s += n;
  if (*s == ':') { int m2 = 0; if (sscanf(s + 1, "%d%n", &sec, &m2) < 1) return -1; s += 1 + m2; }
  sscanf(s, " %7s", zone);
  int m = -1;
  for (int i = 0; i < 12; i++)
    if (strcasecmp(mon, MON[i]) == 0) m = i + 1;
  if (m < 0) return -1;
  char iso[64];
  int off = 0;
  if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5) {
    off = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 60 + (zone[3] - '0') * 10 + (zone[4] - '0');
    if (zone[0] == '-') off = -off;
  }
  snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, h, mi, sec);
  if (ing_parse_time(iso, ms) != 0) return -1;
  *ms -= (int64_t)off * 60000;
  return 0;
}

int ch_email_item(const char *msg, size_t len, ing_item *it) {
  span h, b;
  split((span){msg, len}, &h, &b);
  char *subject_raw = header(h, "subject"), *date = header(h, "date"), *mid = header(h, "message-id");
  char *subject = subject_raw ? decode_words(subject_raw) : NULL;
  char *body = find_text(h, b, 0);
  int rc = -1;
  it->channel = ESCUCHA__V1__CHANNEL__EMAIL;
  if ((!body || !*body) && (!subject || !*subject)) {
    ing_item_reject(it, "invalid", "body", "the message has neither a text/plain part nor a subject");
    goto cleanup;
  }
  es_buf t = {0};
  if (subject && *subject) es_buf_printf(&t, "%s\n\n", subject);
  if (body) es_buf_puts(&t, body);
  it->text = t.data;
  if (mid && *mid) {
    size_t n = strlen(mid);
    it->external_id = (mid[0] == '<' && mid[n - 1] == '>') ? es_strndup(mid + 1, n - 2) : strdup(mid);
  }
  if (date) ch_parse_email_date(date, &it->created_at); /* a bad Date is not a reason to lose the message */
  rc = 0;
cleanup:
  free(subject_raw);
  free(subject);
  free(date);
  free(mid);
  free(body);
  return rc;
}
