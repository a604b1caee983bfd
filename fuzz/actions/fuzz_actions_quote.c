/* Citizen text -> ticket text (ac_text_quote, ac_text_inline, ac_plan_body):
 * checks the invariants the tools rely on, aborting when one breaks:
 *  - output is valid UTF-8 without CR, NEL, U+2028/9;
 *  - nothing spells "escucha-key" (any case), "://" or "www."; every '@'
 *    is followed by a word joiner;
 *  - every line of a quote is a quote line ("> …" or ">"; Jira: inside
 *    {quote} … {quote}; HTML: one <blockquote> with only <br> tags);
 *  - the markup's special characters appear only escaped;
 *  - a plan body quoting the text has exactly one marker, its own.
 * Input: byte 0 picks the markup, the rest is the citizen text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "ac_conn.h"
#include "ac_text.h"
#include "plan.h"

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static void common(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    CHECK(k > 0);
    CHECK(cp != '\r' && cp != 0x85 && cp != 0x2028 && cp != 0x2029);
    if (cp == '@') CHECK(strncmp(s + i + 1, AC_WJ, 3) == 0);
    CHECK(strncasecmp(s + i, "escucha-key", 11) != 0);
    CHECK(strncmp(s + i, "://", 3) != 0);
    CHECK(strncasecmp(s + i, "www.", 4) != 0);
    i += (size_t)k;
  }
}

/* The text of one output line (quote prefix removed) for the markup. */
static void content(const char *s, size_t n, int mu) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (mu == AC_MU_MARKDOWN) {
      if (c == '\\') {
        CHECK(i + 1 < n);
        i++;
        continue;
      }
      CHECK(!strchr("`*_{}[]<>&~$|", c) || !c);
      if (i == 0) CHECK(!strchr("#+-=:", c) || !c);
    } else if (mu == AC_MU_TEXTILE) {
      if (c == '&' && i + 1 < n && s[i + 1] == '#') {
        size_t j = i + 2;
        while (j < n && s[j] >= '0' && s[j] <= '9') j++;
        CHECK(j > i + 2 && j < n && s[j] == ';');
        i = j;
        continue;
      }
      CHECK(!strchr("!\"#$%&()*+-:<=>?@[\\]^_`{|}~", c) || !c);
    } else if (mu == AC_MU_JIRA) {
      if (c == '\\') {
        CHECK(i + 1 < n && strchr("*_?-+^~{}[]|!#", s[i + 1]));
        i++;
        continue;
      }
      CHECK(!strchr("*_?-+^~{}[]|!#", c) || !c);
    } else if (mu == AC_MU_HTML) {
      CHECK(c != '<' && c != '>' && c != '"' && c != '\'');
      if (c == '&') CHECK(strchr(s + i, ';') != NULL);
    }
  }
}

/* Textile and Jira block signatures ("h1.", "bq.", "fn1.") never start a line. */
static void no_signature(const char *s, size_t n) {
  size_t a = 0, d;
  while (a < n && ((s[a] | 32) >= 'a' && (s[a] | 32) <= 'z')) a++;
  for (d = a; d < n && s[d] >= '0' && s[d] <= '9'; d++) {}
  CHECK(!(a && d < n && s[d] == '.'));
}

static void check_quote(const char *q, size_t n, int mu) {
  common(q, n);
  if (!n) return;
  if (mu == AC_MU_HTML) {
    CHECK(n >= 26 && strncmp(q, "<blockquote>", 12) == 0 && strcmp(q + n - 14, "</blockquote>\n") == 0);
    const char *s = q + 12, *end = q + n - 14;
    while (s < end) { /* lines joined by "<br>\n" */
      const char *br = strstr(s, "<br>\n");
      const char *e = br && br < end ? br : end;
      CHECK(!memchr(s, '\n', (size_t)(e - s)));
      content(s, (size_t)(e - s), mu);
      s = e == end ? end : e + 5;
    }
    return;
  }
  CHECK(q[n - 1] == '\n');
  const char *s = q, *end = q + n;
  if (mu == AC_MU_JIRA) {
    CHECK(n >= 16 && strncmp(q, "{quote}\n", 8) == 0 && strcmp(q + n - 8, "{quote}\n") == 0);
    s += 8;
    end -= 8;
  }
  while (s < end) {
    const char *e = memchr(s, '\n', (size_t)(end - s));
    CHECK(e);
    if (mu == AC_MU_JIRA) {
      content(s, (size_t)(e - s), mu);
      no_signature(s, (size_t)(e - s));
    } else {
      CHECK(s[0] == '>' && (e == s + 1 || (s[1] == ' ' && e > s + 2)));
      if (e > s + 1) content(s + 2, (size_t)(e - s - 2), mu);
      if (e > s + 1 && mu == AC_MU_TEXTILE) no_signature(s + 2, (size_t)(e - s - 2));
    }
    s = e + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mu = data[0] % 6;
  char *text = malloc(size);
  if (!text) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  es_buf q = {0}, in = {0};
  CHECK(ac_text_quote(&q, text, "fb-1", mu) == 0);
  check_quote(q.data ? q.data : "", q.len, mu);
  CHECK(ac_text_inline(&in, text, mu) == 0);
  common(in.data ? in.data : "", in.len);
  CHECK(!in.len || !memchr(in.data, '\n', in.len));
  content(in.data ? in.data : "", in.len, mu);

  ac_plan p = {0};
  strcpy(p.id, "01PLAN");
  ac_plan_key("req-1", p.idem_key);
  p.quotes[0].text = text; /* owned by p from here */
  p.nquotes = 1;
  char *body = ac_plan_body(&p, "es", mu);
  CHECK(body);
  size_t markers = 0;
  for (const char *m = strstr(body, AC_MARKER_PREFIX); m; m = strstr(m + 1, AC_MARKER_PREFIX)) markers++;
  CHECK(markers == 1 && ac_has_marker(body, p.idem_key));
  free(body);
  ac_plan_free(&p);
  es_buf_free(&q);
  es_buf_free(&in);
  return 0;
}
