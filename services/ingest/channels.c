#include "channels.h"

#include <ctype.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "normalize.h"
#include "util.h"

int ing_ch_check_str(ing_item *it, const char *field, const char *s, size_t n, size_t max) {
  const char *nul = n ? memchr(s, '\0', n) : NULL;
  if (nul)
    return ing_item_reject(it, "invalid", field, "%s contains a NUL byte (at byte %zu)", field, (size_t)(nul - s));
  long bad = n ? ing_utf8_invalid_at(s, n) : -1;
  if (bad >= 0)
    return ing_item_reject(it, "invalid", field, "%s is not valid UTF-8 (byte 0x%02x at %ld)", field,
                           (unsigned char)s[bad], bad);
  if (n > max) return ing_item_reject(it, "too_long", field, "%s is %zu bytes; at most %zu", field, n, max);
  return 0;
}

int ing_ch_whatsapp_signature_ok(const char *secret, const char *body, size_t len, const char *header) {
  if (!secret || !*secret || !header || strncmp(header, "sha256=", 7) != 0) return 0;
  unsigned char mac[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
  size_t binlen = 0;
  if (sodium_hex2bin(got, sizeof got, header + 7, strlen(header + 7), NULL, &binlen, NULL) != 0 || binlen != sizeof got)
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

/* A text message -> item (rejected, field named, when a part of it cannot be
 * taken); NULL for media, reactions and the like: nothing to read. */
static ing_item *wa_item(const cJSON *msg, const char *agency) {
  const char *type = ing_json_str_at(msg, "type");
  if (!type || strcmp(type, "text") != 0) return NULL;
  ing_item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->channel = ESCUCHA__V1__CHANNEL__WHATSAPP;
  if (!(it->agency = strdup(agency))) {
    ing_item_reject(it, "internal", "", "out of memory");
    return it;
  }
  const cJSON *body = ing_json_at(ing_json_at(msg, "text"), "body"), *id = ing_json_at(msg, "id"),
              *ts = ing_json_at(msg, "timestamp");
  if (!cJSON_IsString(body)) {
    ing_item_reject(it, "invalid", "text.body", "a text message needs text.body (a string)");
    return it;
  }
  if (ing_ch_check_str(it, "text.body", body->valuestring, strlen(body->valuestring), ING_MAX_TEXT)) return it;
  if (id && !cJSON_IsString(id)) {
    ing_item_reject(it, "invalid", "id", "id must be a string");
    return it;
  }
  /* Meta redelivers: the wamid dedups it (never cut: a cut id could match another) */
  if (id && ing_ch_check_str(it, "id", id->valuestring, strlen(id->valuestring), ING_MAX_FIELD)) return it;
  if (ts) { /* Meta sends seconds since epoch as a string of digits */
    const char *s = cJSON_GetStringValue(ts);
    size_t n = s ? strlen(s) : 0;
    if (!s || n == 0 || n > 12 || strspn(s, "0123456789") != n) {
      ing_item_reject(it, "invalid", "timestamp", "timestamp must be seconds since epoch (a string of digits)");
      return it;
    }
    it->created_at = strtoll(s, NULL, 10) * 1000;
  }
  if (!(it->text = strdup(body->valuestring)) || (id && !(it->external_id = strdup(id->valuestring))))
    ing_item_reject(it, "internal", "", "out of memory");
  return it;
}

int ing_ch_whatsapp_items(const char *body, size_t len, const char *agency, ing_item ***out, char *err, size_t errlen) {
  ing_json_error jerr;
  cJSON *root = ing_json_parse(body, len, &jerr);
  *out = NULL;
  if (!arr_at(root, "entry")) {
    if (root) snprintf(err, errlen, "not a WhatsApp webhook: no entry array");
    else snprintf(err, errlen, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
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
          if (!grown) {
            ing_item_free(it);
            break;
          }
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

/* ---- charsets ---- */

/* The why of a decoding helper that ran out of memory: the item is refused
 * as "internal", not "invalid" (reject_why). */
static const char OOM_WHY[] = "out of memory";

/* windows-1252 0x80..0x9F; the five unassigned bytes map to the C1 control of
 * the same value, as in the WHATWG Encoding Standard's decoder. */
static const unsigned short CP1252[32] = {0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                          0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
                                          0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                          0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

static int cp1252_to_utf8(const char *p, size_t n, es_buf *o) {
  if (es_buf_reserve(o, n * 3) != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned c = (unsigned char)p[i];
    if (c >= 0x80 && c < 0xA0) c = CP1252[c - 0x80];
    char u[3];
    size_t k = 0;
    if (c < 0x80) u[k++] = (char)c;
    else if (c < 0x800) u[k++] = (char)(0xC0 | (c >> 6)), u[k++] = (char)(0x80 | (c & 0x3F));
    else
      u[k++] = (char)(0xE0 | (c >> 12)), u[k++] = (char)(0x80 | ((c >> 6) & 0x3F)), u[k++] = (char)(0x80 | (c & 0x3F));
    if (es_buf_append(o, u, k) != 0) return -1;
  }
  return 0;
}

static int name_in(const char *cs, const char *const *names) {
  for (; *names; names++)
    if (strcasecmp(cs, *names) == 0) return 1;
  return 0;
}

static const char *const NO_CHARSET[] = {"", "us-ascii", "ascii", "ansi_x3.4-1968", "us", NULL};
static const char *const UTF8[] = {"utf-8", "utf8", NULL};
/* Read as windows-1252, its superset, as browsers do: real Latin-1 text never
 * means the C1 controls at 0x80..0x9F, mislabelled Windows text means € “ ” … */
static const char *const CP1252_NAMES[] = {"windows-1252", "cp1252",     "x-cp1252", "iso-8859-1",
                                           "iso8859-1",    "iso_8859-1", "latin1",   "latin-1",
                                           "l1",           "cp819",      "ibm819",   NULL};

/* Appends p[0..n), in charset cs (NULL: none declared), to o as UTF-8.
 * Undeclared or US-ASCII: UTF-8 when it is valid UTF-8 (what 8-bit mail without
 * a charset usually is), windows-1252 otherwise; UTF-8 must be valid; other
 * charsets go through iconv; one iconv does not know is accepted only when the
 * text is valid UTF-8 anyway. 0 ok; -1 with why filled (OOM_WHY when out of memory). */
static int to_utf8(const char *p, size_t n, const char *cs, es_buf *o, char *why, size_t wlen) {
  char name[40];
  snprintf(why, wlen, "%s", OOM_WHY);   /* every other failure below writes its own */
  size_t k = cs ? strcspn(cs, "*") : 0; /* RFC 2231 "charset*language" */
  while (k && isspace((unsigned char)cs[k - 1])) k--;
  if (k >= sizeof name || (k && strspn(cs, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") < k)) {
    snprintf(why, wlen, "charset \"%.40s\" is not supported", cs);
    return -1;
  }
  memcpy(name, cs ? cs : "", k);
  name[k] = '\0';
  long bad = n ? ing_utf8_invalid_at(p, n) : -1;
  if (name_in(name, NO_CHARSET)) return bad < 0 ? es_buf_append(o, p, n) : cp1252_to_utf8(p, n, o);
  if (name_in(name, UTF8)) {
    if (bad >= 0) {
      snprintf(why, wlen, "not valid UTF-8 (byte 0x%02x at %ld)", (unsigned char)p[bad], bad);
      return -1;
    }
    return es_buf_append(o, p, n);
  }
  if (name_in(name, CP1252_NAMES)) return cp1252_to_utf8(p, n, o);
  iconv_t cd = iconv_open("UTF-8", name);
  if (cd == (iconv_t)-1) {
    if (bad < 0) return es_buf_append(o, p, n);
    snprintf(why, wlen, "charset \"%s\" is not supported", name);
    return -1;
  }
  char *in = (char *)p;
  size_t left = n;
  int rc = 0;
  while (left > 0) {
    if (es_buf_reserve(o, left * 2 + 16) != 0) {
      rc = -1;
      snprintf(why, wlen, "out of memory");
      break;
    }
    char *outp = o->data + o->len;
    size_t room = o->cap - o->len - 1; /* keep room for a terminator */
    size_t r = iconv(cd, &in, &left, &outp, &room);
    o->len = (size_t)(outp - o->data);
    if (r != (size_t)-1) break;
    if (errno == E2BIG) continue;
    snprintf(why, wlen, "byte 0x%02x at %zu is not valid %s", left ? (unsigned char)*in : 0, (size_t)(in - p), name);
    rc = -1;
    break;
  }
  if (rc == 0 && es_buf_reserve(o, 16) != 0) {
    rc = -1;
    snprintf(why, wlen, "%s", OOM_WHY);
  }
  if (rc == 0) { /* flush a stateful charset's pending shift */
    char *outp = o->data + o->len;
    size_t room = o->cap - o->len - 1;
    if (iconv(cd, NULL, NULL, &outp, &room) != (size_t)-1) o->len = (size_t)(outp - o->data);
  }
  iconv_close(cd);
  if (o->data) o->data[o->len] = '\0';
  return rc;
}

/* ---- e-mail ---- */

typedef struct {
  const char *p;
  size_t n;
} span;

/* Value of header name (unfolded, malloc'd) from the header block in *out,
 * NULL when absent. The block holds no NUL (checked first). 0 ok, -1 out of
 * memory (*out NULL). */
static int header(span h, const char *name, char **out) {
  size_t nl = strlen(name);
  *out = NULL;
  const char *p = h.p, *end = h.p + h.n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      es_buf v = {0};
      const char *s = p + nl + 1;
      int rc = 0;
      for (;;) {
        while (s < eol && (*s == ' ' || *s == '\t')) s++;
        const char *e = eol;
        while (e > s && (e[-1] == '\r' || e[-1] == ' ')) e--;
        if ((v.len && es_buf_append(&v, " ", 1) != 0) || es_buf_append(&v, s, (size_t)(e - s)) != 0) {
          rc = -1;
          break;
        }
        if (eol + 1 < end && (eol[1] == ' ' || eol[1] == '\t')) { /* folded line */
          s = eol + 1;
          eol = memchr(s, '\n', (size_t)(end - s));
          if (!eol) eol = end;
          continue;
        }
        break;
      }
      if (rc == 0 && !v.data) rc = es_buf_append(&v, "", 0);
      if (rc != 0) {
        es_buf_free(&v);
        return -1;
      }
      *out = v.data;
      return 0;
    }
    p = eol + 1;
  }
  return 0;
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

static int hexval(int c) { return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1; }

/* Quoted-printable; a '=' not followed by two hex digits or a line break is
 * kept as it is (RFC 2045 6.7 note 1: robust decoders pass it through).
 * 0 ok, -1 out of memory. */
static int qp_decode(span s, es_buf *out, int header_mode) {
  for (size_t i = 0; i < s.n; i++) {
    char c = s.p[i];
    if (c == '=' && i + 1 < s.n) {
      if (s.p[i + 1] == '\n') {
        i += 1;
        continue;
      } /* soft break */
      if (s.p[i + 1] == '\r' && i + 2 < s.n && s.p[i + 2] == '\n') {
        i += 2;
        continue;
      }
      int a = i + 2 < s.n ? hexval((unsigned char)s.p[i + 1]) : -1,
          b = i + 2 < s.n ? hexval((unsigned char)s.p[i + 2]) : -1;
      if (a >= 0 && b >= 0) {
        char v = (char)(a * 16 + b);
        if (es_buf_append(out, &v, 1) != 0) return -1;
        i += 2;
        continue;
      }
    }
    if (header_mode && c == '_') c = ' ';
    if (es_buf_append(out, &c, 1) != 0) return -1;
  }
  return 0;
}

/* Base64 with line breaks; missing '=' padding is tolerated, anything else
 * that is not base64 is an error (-1): a part we cannot read is not dropped.
 * why: bad_why, or OOM_WHY when out of memory. */
static int b64_decode(span s, es_buf *out, const char *bad_why, char *why, size_t wlen) {
  char *clean = malloc(s.n + 1);
  unsigned char *bin = malloc(s.n + 1);
  size_t n = 0, len = 0;
  int rc = -1;
  snprintf(why, wlen, "%s", OOM_WHY);
  if (!clean || !bin) goto cleanup;
  for (size_t i = 0; i < s.n; i++)
    if (!isspace((unsigned char)s.p[i])) clean[n++] = s.p[i];
  for (int pad = 0; pad < 2 && n && clean[n - 1] == '='; pad++) n--;
  if (sodium_base642bin(bin, s.n + 1, clean, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
    snprintf(why, wlen, "%s", bad_why);
  else if (es_buf_append(out, bin, len) == 0) rc = 0;
cleanup:
  free(clean);
  free(bin);
  return rc;
}

/* A header's text with RFC 2047 encoded words (any charset, B or Q) decoded,
 * as UTF-8 in out. 0 ok; -1 with why. */
static int decode_words(const char *s, es_buf *out, char *why, size_t wlen) {
  int words = 0; /* the previous piece was an encoded word */
  while (*s) {
    const char *start = strstr(s, "=?");
    const char *q1 = start ? strchr(start + 2, '?') : NULL;
    const char *q2 = q1 ? strchr(q1 + 1, '?') : NULL;
    const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
    int enc = q2 && q2 - q1 == 2 ? toupper((unsigned char)q1[1]) : 0;
    if (!end || (enc != 'B' && enc != 'Q')) { /* not an encoded word: plain text up to and with the "=?" */
      size_t n = start ? (size_t)(start + 2 - s) : strlen(s);
      if (to_utf8(s, n, NULL, out, why, wlen) != 0) return -1;
      s += n;
      words = 0;
      continue;
    }
    /* whitespace between two encoded words is dropped (RFC 2047 §6.2) */
    size_t lead = (size_t)(start - s);
    if (!(words && strspn(s, " \t") >= lead) && to_utf8(s, lead, NULL, out, why, wlen) != 0) return -1;
    char charset[64];
    snprintf(charset, sizeof charset, "%.*s", (int)(q1 - start - 2 < 63 ? q1 - start - 2 : 63), start + 2);
    span text = {q2 + 1, (size_t)(end - q2 - 1)};
    es_buf dec = {0};
    int rc = 0;
    if (enc == 'B') {
      rc = b64_decode(text, &dec, "invalid base64 in an encoded word", why, wlen);
    } else if ((rc = qp_decode(text, &dec, 1)) != 0) {
      snprintf(why, wlen, "%s", OOM_WHY);
    }
    if (rc == 0) rc = to_utf8(dec.data ? dec.data : "", dec.len, charset, out, why, wlen);
    es_buf_free(&dec);
    if (rc != 0) return -1;
    s = end + 2;
    words = 1;
  }
  return 0;
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

/* A leaf part: 1 with out = its text as UTF-8 when it is the text/plain body,
 * 0 when it is not (another type, an attachment), -1 when it cannot be read (why). */
static int leaf_text(span h, span b, es_buf *out, char *why, size_t wlen) {
  char *ctype = NULL, *cte = NULL, *disp = NULL, *charset = NULL;
  es_buf raw = {0};
  int rc = -1, qp;
  if (header(h, "content-type", &ctype) != 0 || header(h, "content-transfer-encoding", &cte) != 0 ||
      header(h, "content-disposition", &disp) != 0) {
    snprintf(why, wlen, "%s", OOM_WHY);
    goto done;
  }
  rc = 0;
  /* no Content-Type means text/plain */
  if ((ctype && strncasecmp(ctype, "text/plain", 10) != 0) || (disp && strncasecmp(disp, "attachment", 10) == 0))
    goto done;
  rc = -1;
  qp = cte && strcasecmp(cte, "quoted-printable") == 0;
  if (cte && strcasecmp(cte, "base64") == 0) {
    if (b64_decode(b, &raw, "the text part is not valid base64", why, wlen) != 0) goto done;
  } else if (qp ? qp_decode(b, &raw, 0) != 0 : es_buf_append(&raw, b.p, b.n) != 0) {
    snprintf(why, wlen, "%s", OOM_WHY);
    goto done;
  }
  charset = param(ctype, "charset");
  if (to_utf8(raw.data ? raw.data : "", raw.len, charset, out, why, wlen) != 0) goto done;
  rc = 1;
done:
  es_buf_free(&raw);
  free(ctype);
  free(cte);
  free(disp);
  free(charset);
  return rc;
}

/* First text/plain part, depth-first through multipart parts (bounded depth):
 * 1 found (out), 0 none, -1 error (why). */
static int find_text(span h, span b, int depth, es_buf *out, char *why, size_t wlen) {
  char *ctype = NULL;
  int res = 0;
  if (header(h, "content-type", &ctype) != 0) {
    snprintf(why, wlen, "%s", OOM_WHY);
    return -1;
  }
  if (ctype && strncasecmp(ctype, "multipart/", 10) == 0) {
    char *boundary = depth < 4 ? param(ctype, "boundary") : NULL;
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
          res = find_text(ph, pb, depth + 1, out, why, wlen);
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
    res = leaf_text(h, b, out, why, wlen);
  }
  free(ctype);
  return res;
}

int ing_ch_parse_email_date(const char *s, int64_t *ms) {
  static const char *const MON[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  const char *comma = strchr(s, ',');
  if (comma) s = comma + 1;
  int d, y, h, mi, sec = 0, n = 0;
  char mon[4] = "", zone[8] = "";
  if (sscanf(s, " %d %3s %d %d:%d%n", &d, mon, &y, &h, &mi, &n) < 5) return -1;
  s += n;
  if (*s == ':') {
    int m2 = 0;
    if (sscanf(s + 1, "%d%n", &sec, &m2) < 1) return -1;
    s += 1 + m2;
  }
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

void ing_ch_email_message_id_hash(const char *mid, size_t n, char out[37]) {
  while (n && isspace((unsigned char)*mid)) mid++, n--;
  while (n && isspace((unsigned char)mid[n - 1])) n--;
  if (n && mid[0] == '<') { /* "<id>": the id without the brackets, so both spellings dedup */
    const char *gt = memchr(mid, '>', n);
    if (gt) n = (size_t)(gt - mid - 1), mid++;
  }
  unsigned char h[16];
  crypto_generichash(h, sizeof h, (const unsigned char *)mid, n, NULL, 0);
  memcpy(out, "mid-", 4);
  sodium_bin2hex(out + 4, 33, h, sizeof h);
}

/* Name of the header whose line holds p (lower case), for errors. */
static void header_name_at(span h, const char *p, char *out, size_t len) {
  const char *line = p;
  for (;;) { /* back to the start of the (unfolded) header */
    while (line > h.p && line[-1] != '\n') line--;
    if (line == h.p || (*line != ' ' && *line != '\t')) break;
    line--;
  }
  size_t n = strcspn(line, ":\r\n");
  if (line + n > p || n == 0 || n >= len) n = 0;
  for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)line[i]);
  snprintf(out + n, len - n, "%s", n ? "" : "headers");
}

/* Refuses it for field with a decoding helper's why: "internal" when that
 * was running out of memory, else "invalid" ("field: why"). */
static void reject_why(ing_item *it, const char *field, const char *why) {
  if (strcmp(why, OOM_WHY) == 0) ing_item_reject(it, "internal", "", "out of memory");
  else ing_item_reject(it, "invalid", field, "%s: %s", field, why);
}

int ing_ch_email_item(const char *msg, size_t len, ing_item *it) {
  span h, b;
  split((span){msg, len}, &h, &b);
  char *subject_raw = NULL, *date = NULL, *mid = NULL, why[192];
  es_buf subject = {0}, body = {0}, text = {0};
  int rc = -1, found;
  it->channel = ESCUCHA__V1__CHANNEL__EMAIL;
  const char *nul = memchr(h.p, '\0', h.n); /* header values are read as C strings: refuse, never cut */
  if (nul) {
    char name[48];
    header_name_at(h, nul, name, sizeof name);
    ing_item_reject(it, "invalid", name, "the %s header contains a NUL byte", name);
    goto cleanup;
  }
  if (header(h, "subject", &subject_raw) != 0 || header(h, "date", &date) != 0 || header(h, "message-id", &mid) != 0) {
    ing_item_reject(it, "internal", "", "out of memory");
    goto cleanup;
  }
  if (subject_raw && decode_words(subject_raw, &subject, why, sizeof why) != 0) {
    reject_why(it, "subject", why);
    goto cleanup;
  }
  if (ing_ch_check_str(it, "subject", subject.data, subject.len, ING_MAX_TEXT) != 0) goto cleanup;
  if ((found = find_text(h, b, 0, &body, why, sizeof why)) < 0) {
    reject_why(it, "body", why);
    goto cleanup;
  }
  if (ing_ch_check_str(it, "body", body.data, body.len, SIZE_MAX) != 0) goto cleanup;
  if (!body.len && !subject.len) {
    ing_item_reject(it, "invalid", "body", "the message has neither a text/plain part nor a subject");
    goto cleanup;
  }
  size_t total = subject.len + (subject.len ? 2 : 0) + body.len;
  if (total > ING_MAX_TEXT) {
    ing_item_reject(it, "too_long", "body", "subject and body are %zu bytes together; at most %d", total, ING_MAX_TEXT);
    goto cleanup;
  }
  if ((subject.len && es_buf_printf(&text, "%s\n\n", subject.data) != 0) ||
      (body.len && es_buf_append(&text, body.data, body.len) != 0) || !text.data) {
    ing_item_reject(it, "internal", "", "out of memory");
    goto cleanup;
  }
  if (mid && *mid) {
    size_t n = strlen(mid);
    if (n > ING_MAX_FIELD) {
      ing_item_reject(it, "too_long", "message-id", "Message-ID is %zu bytes; at most %d", n, ING_MAX_FIELD);
      goto cleanup;
    }
    char hashed[37];
    ing_ch_email_message_id_hash(mid, n, hashed);
    if (!(it->external_id = strdup(hashed))) {
      ing_item_reject(it, "internal", "", "out of memory");
      goto cleanup;
    }
  }
  it->text = text.data;
  text = (es_buf){0};
  if (date && ing_ch_parse_email_date(date, &it->created_at) != 0) {
    /* a bad Date is not a reason to lose the message */
  }
  rc = 0;
cleanup:
  es_buf_free(&subject);
  es_buf_free(&body);
  es_buf_free(&text);
  free(subject_raw);
  free(date);
  free(mid);
  return rc;
}

/* ---- Open311 ---- */

enum { F_DESC, F_CODE, F_LAT, F_LONG, F_ADDR, F_ADDR_ID, F_MEDIA, NFIELDS };
static const char *const O311[NFIELDS] = {"description",    "service_code", "lat",      "long",
                                          "address_string", "address_id",   "media_url"};
static const size_t O311_MAX[NFIELDS] = {ING_MAX_TEXT,       ING_MAX_FIELD,     64, 64, ING_MAX_ADDRESS,
                                         ING_MAX_ATTR_VALUE, ING_MAX_ATTR_VALUE};

static int o311_field(const char *k, size_t n) {
  for (int i = 0; i < NFIELDS; i++)
    if (strlen(O311[i]) == n && memcmp(O311[i], k, n) == 0) return i;
  return -1;
}

/* application/x-www-form-urlencoded decoding of s[0..n) into out (n + 1 bytes);
 * returns the decoded length (a %00 stays in it, to be refused by the caller). */
static size_t url_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') out[o++] = ' ';
    else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
      out[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
      i += 2;
    } else out[o++] = s[i];
  }
  out[o] = '\0';
  return o;
}

typedef struct {
  char *val[NFIELDS];        /* the fields given as strings (checked: UTF-8, no NUL, limits) */
  const cJSON *num[NFIELDS]; /* lat/long given as JSON numbers */
} o311_in;

/* Takes one field value; a field given twice is refused rather than one copy dropped. */
static int o311_take(ing_item *it, o311_in *in, int f, const char *v, size_t n) {
  if (in->val[f] || in->num[f]) return ing_item_reject(it, "invalid", O311[f], "%s is given more than once", O311[f]);
  if (ing_ch_check_str(it, O311[f], v, n, O311_MAX[f]) != 0) return -1;
  if (!(in->val[f] = es_strndup(v, n))) return ing_item_reject(it, "internal", "", "out of memory");
  return 0;
}

static int o311_form(ing_item *it, o311_in *in, const char *body, size_t len) {
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq) {
      char key[32];
      size_t kn = (size_t)(eq - p) < sizeof key ? url_decode(p, (size_t)(eq - p), key) : 0;
      int f = kn ? o311_field(key, kn) : -1; /* others (contact fields, attribute[...]) are not kept */
      if (f >= 0) {
        size_t vn = (size_t)(e - eq - 1);
        char *v = malloc(vn + 1);
        if (!v) return ing_item_reject(it, "internal", "", "out of memory");
        int rc = o311_take(it, in, f, v, url_decode(eq + 1, vn, v));
        free(v);
        if (rc != 0) return -1;
      }
    }
    p = e + 1;
  }
  return 0;
}

static int o311_json(ing_item *it, o311_in *in, const char *body, size_t len, cJSON **root) {
  ing_json_error jerr;
  cJSON *o = *root = ing_json_parse(body, len, &jerr);
  if (!o)
    return ing_item_reject(it, "malformed_json", "body", "malformed JSON at line %d column %d: %s", jerr.line,
                           jerr.column, jerr.text);
  if (!cJSON_IsObject(o)) return ing_item_reject(it, "invalid", "body", "the body must be a JSON object");
  for (int f = 0; f < NFIELDS; f++) {
    const cJSON *v = ing_json_at(o, O311[f]);
    if (!v || cJSON_IsNull(v)) continue;
    if (cJSON_IsString(v)) {
      if (o311_take(it, in, f, v->valuestring, strlen(v->valuestring)) != 0) return -1;
    } else if (cJSON_IsNumber(v) && (f == F_LAT || f == F_LONG)) {
      in->num[f] = v;
    } else {
      return ing_item_reject(it, "invalid", O311[f], "%s must be a %s", O311[f],
                             f == F_LAT || f == F_LONG ? "number" : "string");
    }
  }
  return 0;
}

/* lat/long: a finite decimal number within ±lim, as a JSON number or a string. */
static int o311_coord(ing_item *it, const o311_in *in, int f, double lim, double *out) {
  const char *s = in->val[f];
  double d;
  if (in->num[f]) d = in->num[f]->valuedouble;
  else {
    while (*s == ' ') s++;
    char *end;
    errno = 0;
    d = strtod(s, &end);
    while (*end == ' ') end++;
    /* strtod alone takes "12junk", "nan", "inf" and hex */
    if (end == s || *end || strspn(s, "0123456789+-.eE ") != strlen(s) || errno == ERANGE) d = NAN;
  }
  if (!isfinite(d) || fabs(d) > lim)
    return ing_item_reject(it, "invalid", O311[f], "%s must be a number between %g and %g", O311[f], -lim, lim);
  *out = d;
  return 0;
}

static int o311_known_service(const char *services_json, const char *code) {
  cJSON *list = cJSON_Parse(services_json);
  const cJSON *svc;
  int found = 0;
  cJSON_ArrayForEach(svc, (cJSON_IsArray(list) ? list : NULL)) {
    const char *c = ing_json_str_at(svc, "service_code");
    if (c && strcmp(c, code) == 0) found = 1;
  }
  cJSON_Delete(list);
  return found;
}

/* Our field names in item.c's errors -> the Open311 ones the client sent. */
static void o311_rename_field(ing_item *it) {
  static const char *const MAP[][2] = {{"text", "description"},
                                       {"service", "service_code"},
                                       {"location.lat", "lat"},
                                       {"location.lon", "long"},
                                       {"location.address", "address_string"}};
  for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
    if (strcmp(it->err_field, MAP[i][0]) == 0) {
      snprintf(it->err_field, sizeof it->err_field, "%s", MAP[i][1]);
      return;
    }
}

const char *const ING_CH_OPEN311_CONTACT[ING_CH_OPEN311_NCONTACT] = {"first_name", "last_name", "email", "phone"};

unsigned ing_ch_open311_contact_fields(const char *body, size_t len, int form) {
  unsigned bits = 0;
  if (form) {
    for (const char *p = body, *end = body + len; p < end;) {
      const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
      const char *eq = memchr(p, '=', (size_t)(e - p));
      char key[32];
      if (eq && eq + 1 < e && (size_t)(eq - p) < sizeof key) { /* an empty value gave nothing away */
        size_t kn = url_decode(p, (size_t)(eq - p), key);
        for (int i = 0; i < ING_CH_OPEN311_NCONTACT; i++)
          if (strlen(ING_CH_OPEN311_CONTACT[i]) == kn && memcmp(key, ING_CH_OPEN311_CONTACT[i], kn) == 0)
            bits |= 1u << i;
      }
      p = e + 1;
    }
    return bits;
  }
  cJSON *o = cJSON_ParseWithLength(body, len);
  for (int i = 0; cJSON_IsObject(o) && i < ING_CH_OPEN311_NCONTACT; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, ING_CH_OPEN311_CONTACT[i]);
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !*v->valuestring)) bits |= 1u << i;
  }
  cJSON_Delete(o);
  return bits;
}

int ing_ch_open311_item(const char *body, size_t len, int form, const char *agency, const char *services_json,
                        ing_item *it) {
  o311_in in = {0};
  cJSON *root = NULL, *o = NULL, *attrs = NULL;
  int rc = -1;
  it->channel = ESCUCHA__V1__CHANNEL__OPEN311;
  if ((form ? o311_form(it, &in, body, len) : o311_json(it, &in, body, len, &root)) != 0) goto cleanup;
  const char *desc = in.val[F_DESC], *code = in.val[F_CODE];
  if (!desc || !*desc) {
    ing_item_reject(it, "invalid", "description", "description is required");
    goto cleanup;
  }
  if (!code || !*code) {
    ing_item_reject(it, "invalid", "service_code", "service_code is required");
    goto cleanup;
  }
  /* GeoReport v2: an unknown service_code is a 400 */
  if (services_json && !o311_known_service(services_json, code)) {
    ing_item_reject(it, "invalid", "service_code", "unknown service_code \"%.60s\" (see /open311/v2/services.json)",
                    code);
    goto cleanup;
  }
  /* a location needs both coordinates; an empty form value is an absent one */
  int has_lat = in.num[F_LAT] || (in.val[F_LAT] && *in.val[F_LAT]);
  int has_lon = in.num[F_LONG] || (in.val[F_LONG] && *in.val[F_LONG]);
  if (has_lat != has_lon) {
    ing_item_reject(it, "invalid", has_lat ? "long" : "lat", "%s is required with %s", has_lat ? "long" : "lat",
                    has_lat ? "lat" : "long");
    goto cleanup;
  }
  double lat = 0, lon = 0;
  if (has_lat && (o311_coord(it, &in, F_LAT, 90, &lat) != 0 || o311_coord(it, &in, F_LONG, 180, &lon) != 0))
    goto cleanup;
  o = cJSON_CreateObject();
  attrs = cJSON_CreateObject();
  if (!o || !attrs || !cJSON_AddStringToObject(o, "text", desc) || !cJSON_AddStringToObject(o, "service", code) ||
      !cJSON_AddStringToObject(attrs, "open311_service_code", code))
    goto oom;
  for (int f = F_ADDR_ID; f <= F_MEDIA; f++)
    if (in.val[f] && *in.val[f] && !cJSON_AddStringToObject(attrs, O311[f], in.val[f])) goto oom;
  const char *addr = in.val[F_ADDR] && *in.val[F_ADDR] ? in.val[F_ADDR] : NULL;
  if (has_lat || addr) {
    cJSON *loc = cJSON_AddObjectToObject(o, "location");
    if (!loc || (has_lat && (!cJSON_AddNumberToObject(loc, "lat", lat) || !cJSON_AddNumberToObject(loc, "lon", lon))) ||
        (addr && !cJSON_AddStringToObject(loc, "address", addr)))
      goto oom;
  }
  cJSON_AddItemToObject(o, "attributes", attrs);
  attrs = NULL;
  rc = ing_item_from_json(it, o, agency, ESCUCHA__V1__CHANNEL__OPEN311);
  if (rc != 0) o311_rename_field(it);
  goto cleanup;
oom:
  ing_item_reject(it, "internal", "", "out of memory");
cleanup:
  for (int f = 0; f < NFIELDS; f++) free(in.val[f]);
  cJSON_Delete(attrs);
  cJSON_Delete(o);
  cJSON_Delete(root);
  return rc;
}
