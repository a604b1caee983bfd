/* Citizen text in ticket bodies: sanitize, neutralize, quote and escape per
 * markup (see ac_text.h and docs/actions.md). */
#include "ac_text.h"

#include <string.h>
#include <strings.h>
#include <utf8proc.h>

static const char *const NAMES[] = {"plain", "html", "markdown", "textile", "jira", "adf"};
#define NMARKUPS (int)(sizeof NAMES / sizeof NAMES[0])

int ac_markup_parse(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < NMARKUPS; i++)
    if (strcasecmp(name, NAMES[i]) == 0) return i;
  /* Redmine calls its Markdown settings "markdown" and "common_mark". */
  if (strcasecmp(name, "commonmark") == 0 || strcasecmp(name, "common_mark") == 0 || strcasecmp(name, "gfm") == 0)
    return AC_MU_MARKDOWN;
  return -1;
}

const char *ac_markup_name(int markup) { return markup >= 0 && markup < NMARKUPS ? NAMES[markup] : "?"; }

static int is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Step 1: valid UTF-8, '\n' as the only line break, no control characters. */
static int sanitize(es_buf *o, const char *s) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  size_t n = strlen(s), i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) { /* one bad byte at a time, as browsers do */
      cp = 0xFFFD;
      k = 1;
    }
    i += (size_t)k;
    if (cp == '\r' && i < n && p[i] == '\n') i++;
    /* Every renderer's line break, so none can start an unquoted line. */
    if (cp == '\r' || cp == '\n' || cp == '\v' || cp == '\f' || cp == 0x85 || cp == 0x2028 || cp == 0x2029) cp = '\n';
    else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) cp = ' ';
    else if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
      continue; /* bidi overrides could make a quote display like our own text */
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t m = utf8proc_encode_char(cp, u);
    if (es_buf_append(o, u, (size_t)m) != 0) return -1;
  }
  return 0;
}

/* Step 2: what tools link or act on after rendering (so escaping cannot stop
 * it) gets an invisible word joiner where their patterns need adjacency. */
static int neutralize(es_buf *o, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int wj = 0;
    if (es_buf_append(o, s + i, 1) != 0) return -1;
    if (c == '@') wj = 1; /* @user, @group, e-mail autolinks */
    else if (strchr("#!~%$&^", c) && i + 1 < n && is_alnum((unsigned char)s[i + 1]))
      wj = 1; /* #12 issues, !12 merge requests, ~label, %milestone, $snippet, &epic */
    else if (c == ':' && i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/') wj = 1; /* scheme://, bare links */
    else if ((c | 32) == 'w' && i >= 2 && i + 1 < n && s[i + 1] == '.' && ((unsigned char)s[i - 1] | 32) == 'w' &&
             ((unsigned char)s[i - 2] | 32) == 'w')
      wj = 1; /* www. links */
    else if ((c | 32) == 'a' && i >= 6 && i + 4 < n && strncasecmp(s + i - 6, "escucha", 7) == 0 &&
             strncasecmp(s + i + 1, "-key", 4) == 0)
      wj = 1; /* only Escucha writes its marker */
    if (wj && es_buf_puts(o, AC_WJ) != 0) return -1;
  }
  return 0;
}

/* Step 3: one line (no '\n') escaped for the markup; its start is a line
 * start in the output, where block syntax (headings, lists, …) applies. */
static int esc_line(es_buf *o, const char *s, size_t n, int mu) {
  size_t i = 0;
  int rc = 0;
  if (mu == AC_MU_MARKDOWN && n) {
    size_t d = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9') d++;
    if (d && d < n && (s[d] == '.' || s[d] == ')')) { /* "1." / "1)" ordered list */
      rc |= es_buf_append(o, s, d) || es_buf_puts(o, "\\") || es_buf_append(o, s + d, 1);
      i = d + 1;
    } else if (strchr("#+-=>:", s[0])) { /* heading, list, setext, nested quote, ::include */
      rc |= es_buf_puts(o, "\\") || es_buf_append(o, s, 1);
      i = 1;
    }
  } else if (mu == AC_MU_TEXTILE || mu == AC_MU_JIRA) {
    /* Block signatures "h1.", "bq.", "p.", "fn1.", "notextile.": their
     * attribute characters are escaped below, so "word[digits]." is all. */
    size_t a = 0, d;
    while (a < n && ((s[a] | 32) >= 'a' && (s[a] | 32) <= 'z')) a++;
    for (d = a; d < n && s[d] >= '0' && s[d] <= '9'; d++) {}
    if (a && d < n && s[d] == '.') {
      rc |= es_buf_append(o, s, d) || es_buf_puts(o, AC_WJ);
      i = d;
    }
  }
  for (; i < n && !rc; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (mu) {
      case AC_MU_MARKDOWN: /* CommonMark: any ASCII punctuation may be backslash-escaped */
        if (strchr("\\`*_{}[]<>&~$|", c)) rc |= es_buf_puts(o, "\\");
        rc |= es_buf_append(o, s + i, 1);
        break;
      case AC_MU_TEXTILE: /* Redmine keeps numeric entities as text (checked on 5.0) */
        if (strchr("!\"#$%&()*+-:<=>?@[\\]^_`{|}~", c)) rc |= es_buf_printf(o, "&#%d;", c);
        else rc |= es_buf_append(o, s + i, 1);
        break;
      case AC_MU_JIRA:
        /* "\\" is a forced line break in wiki markup: show a fullwidth one. */
        if (c == '\\') rc |= es_buf_puts(o, "\xef\xbc\xbc");
        else {
          if (strchr("*_?-+^~{}[]|!#", c)) rc |= es_buf_puts(o, "\\");
          rc |= es_buf_append(o, s + i, 1);
        }
        break;
      case AC_MU_HTML:
        switch (c) {
          case '&': rc |= es_buf_puts(o, "&amp;"); break;
          case '<': rc |= es_buf_puts(o, "&lt;"); break;
          case '>': rc |= es_buf_puts(o, "&gt;"); break;
          case '"': rc |= es_buf_puts(o, "&quot;"); break;
          case '\'': rc |= es_buf_puts(o, "&#39;"); break;
          default: rc |= es_buf_append(o, s + i, 1);
        }
        break;
      default: /* PLAIN, ADF: text as it is (ADF text nodes are never parsed) */ rc |= es_buf_append(o, s + i, 1);
    }
  }
  return rc ? -1 : 0;
}

/* Steps 1 and 2 into o. */
static int prepare(es_buf *o, const char *text) {
  es_buf s = {0};
  int rc = sanitize(&s, text ? text : "");
  if (rc == 0 && s.len) rc = neutralize(o, s.data, s.len);
  es_buf_free(&s);
  return rc;
}

static void trim(const char **s, size_t *n) {
  while (*n && (*s)[0] == ' ') (*s)++, (*n)--;
  while (*n && (*s)[*n - 1] == ' ') (*n)--;
}

int ac_text_inline(es_buf *b, const char *text, int markup) {
  es_buf t = {0};
  int rc = prepare(&t, text);
  if (rc == 0 && t.len) {
    for (size_t i = 0; i < t.len; i++)
      if (t.data[i] == '\n') t.data[i] = ' ';
    const char *s = t.data;
    size_t n = t.len;
    trim(&s, &n);
    rc = esc_line(b, s, n, markup);
  }
  es_buf_free(&t);
  return rc;
}

int ac_text_quote(es_buf *b, const char *text, const char *attrib, int markup) {
  es_buf t = {0}, at = {0};
  int rc = prepare(&t, text);
  const char *first = NULL, *last = NULL; /* first and last line with something visible */
  if (rc != 0 || !t.len) goto cleanup;
  for (const char *l = t.data; l <= t.data + t.len;) {
    const char *e = memchr(l, '\n', (size_t)(t.data + t.len - l));
    size_t n = e ? (size_t)(e - l) : (size_t)(t.data + t.len - l);
    const char *s = l;
    trim(&s, &n);
    if (n) {
      if (!first) first = l;
      last = l;
    }
    if (!e) break;
    l = e + 1;
  }
  if (!first) goto cleanup;
  if (attrib && *attrib) {
    es_buf a = {0};
    rc = es_buf_puts(&a, "(") | es_buf_puts(&a, attrib) | es_buf_puts(&a, ")");
    if (rc == 0) rc = ac_text_inline(&at, a.data, markup);
    es_buf_free(&a);
    if (rc != 0) goto cleanup;
  }
  if (markup == AC_MU_JIRA) rc |= es_buf_puts(b, "{quote}\n");
  else if (markup == AC_MU_HTML) rc |= es_buf_puts(b, "<blockquote>");
  int blank = 0;
  for (const char *l = first; !rc;) {
    const char *e = memchr(l, '\n', (size_t)(t.data + t.len - l));
    size_t n = e ? (size_t)(e - l) : (size_t)(t.data + t.len - l);
    const char *s = l;
    trim(&s, &n);
    if (n || !blank) { /* a run of blank lines is kept as one */
      if (markup == AC_MU_HTML) rc |= l != first ? es_buf_puts(b, "<br>\n") : 0;
      else if (markup != AC_MU_JIRA) rc |= es_buf_puts(b, n ? "> " : ">");
      rc |= esc_line(b, s, n, markup);
      if (l == last && at.len) rc |= es_buf_puts(b, " ") || es_buf_append(b, at.data, at.len);
      if (markup != AC_MU_HTML) rc |= es_buf_puts(b, "\n");
    }
    blank = !n;
    if (l == last) break;
    l = e + 1;
  }
  if (markup == AC_MU_JIRA) rc |= es_buf_puts(b, "{quote}\n");
  else if (markup == AC_MU_HTML) rc |= es_buf_puts(b, "</blockquote>\n");
cleanup:
  es_buf_free(&t);
  es_buf_free(&at);
  return rc ? -1 : 0;
}
