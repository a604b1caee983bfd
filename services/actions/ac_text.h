/* Citizen text in ticket bodies. Each tool renders its description in a
 * markup of its own, and what citizens wrote must be shown there, never
 * interpreted: no line may leave the quote, no markup, HTML, link, @mention
 * or issue reference may take effect, and nothing may look like the
 * idempotency marker that search-before-create trusts (AC_MARKER_PREFIX,
 * which only Escucha writes, at the start of a line outside any quote).
 *
 * Every text goes through the same three steps:
 *   1. sanitize: invalid UTF-8 -> U+FFFD; CR LF, CR, VT, FF, NEL, U+2028/9 ->
 *      one line break; other control characters -> space; bidi overrides
 *      dropped;
 *   2. neutralize (whatever the markup, since tools link these after
 *      rendering): a WORD JOINER (U+2060, invisible) after '@' (mentions,
 *      e-mail links), after # ! ~ % $ & ^ before a letter or digit (issue,
 *      merge-request, label, milestone… references), inside "://" and "www."
 *      (bare links) and inside "escucha-key" (any case);
 *   3. escape for the markup, line by line, each line under the quote prefix.
 * See docs/actions.md "Citizen text in tickets" for the per-tool choices. */
#ifndef ESCUCHA_ACTIONS_AC_TEXT_H
#define ESCUCHA_ACTIONS_AC_TEXT_H
#include "util.h"

/* Markups of ticket bodies. PLAIN and HTML keep the values 0 and 1 that
 * ac_plan_body's callers have always passed. */
enum {
  AC_MU_PLAIN = 0,    /* Asana notes, ClickUp description, webhook, e-mail text part */
  AC_MU_HTML = 1,     /* e-mail HTML part, monday updates */
  AC_MU_MARKDOWN = 2, /* GitHub, GitLab, Trello; Redmine set to Markdown/CommonMark */
  AC_MU_TEXTILE = 3,  /* Redmine (its default text formatting) */
  AC_MU_JIRA = 4,     /* Jira Server/DC wiki markup (REST v2) */
  AC_MU_ADF = 5       /* Jira Cloud (REST v3): "> " lines that conn_jira turns into ADF nodes */
};

#define AC_WJ "\xe2\x81\xa0" /* U+2060 WORD JOINER */

/* "plain", "html", "markdown" (also "commonmark", "common_mark", "gfm"),
 * "textile", "jira", "adf" -> AC_MU_*; -1 when unknown. */
ES_MUST_CHECK
int ac_markup_parse(const char *name);
const char *ac_markup_name(int markup);

/* Appends text as running text (line breaks become spaces), neutralized and
 * escaped for markup. It may start a line: line-start syntax is escaped too.
 * 0 ok, -1 out of memory. */
int ac_text_inline(es_buf *b, const char *text, int markup);

/* Appends text as one quotation: leading/trailing spaces of each line and
 * leading/trailing blank lines dropped, runs of blank lines kept as one;
 * attrib (may be NULL) goes in parentheses at the end of the last line.
 *   PLAIN, MARKDOWN, TEXTILE, ADF: every line "> " + text (">" alone for a
 *     blank one), each ending with '\n';
 *   JIRA: "{quote}\n" lines "\n{quote}\n" ('{' is escaped inside);
 *   HTML: "<blockquote>" lines joined by "<br>\n" "</blockquote>\n".
 * Text without visible characters appends nothing. 0 ok, -1 out of memory. */
int ac_text_quote(es_buf *b, const char *text, const char *attrib, int markup);
#endif
