/* Danger detector: is the person writing (or someone they speak of) in
 * danger? Phrase rules over classify's folded words (cl_text), Spanish
 * (Chilean / Latin American usage) and English, each with a reason from
 * Classification.urgent_reason's vocabulary and a base confidence.
 *
 * A match does not count when
 *  - a negator stands just before it, possibly across clitics and
 *    auxiliaries ("no me amenazó", "nunca me sentí en peligro", "did not
 *    feel unsafe"), or inside one of its gaps ("mi hijo no está en peligro");
 *  - an idiom tail follows ("me quiero morir de risa", "want to die of
 *    embarrassment");
 *  - for the kill/die rules that complaints use as hyperbole, a waiting or
 *    comfort noun is in the same clause ("la espera me va a matar").
 * Negation, idioms and hyperbole never cross a sentence or clause mark
 * (. , ; : ! ?). Past or reported danger stays urgent: recall matters more
 * than precision here, within a false-positive budget measured on ordinary
 * comments (docs/classification.md, "Urgent: danger, not category"). */
#ifndef ESCUCHA_CLASSIFY_URGENT_H
#define ESCUCHA_CLASSIFY_URGENT_H
#include <stddef.h>

#include "text.h"

typedef struct {
  const char *reason; /* static: "threat", "gender_violence", "self_harm", ... */
  float conf;         /* the rule's base confidence, 0..1 */
  size_t first, last; /* matched words (indices into t->words, inclusive) */
  const char *rule;   /* the rule's pattern (static; for tests and eval) */
} cl_urgent_hit;

/* The best unnegated match in t (highest confidence, then earliest):
 * 1 and *hit filled, or 0 when nothing in t means danger. */
int cl_urgent_detect(const cl_text *t, cl_urgent_hit *hit);

/* The matched words as written in text (the bytes t was analysed from),
 * whitespace collapsed, or the folded words when the original cannot be
 * mapped word for word (or is not valid UTF-8 there); cut on a UTF-8
 * boundary to fit cap - 1 bytes, always NUL-terminated. */
void cl_urgent_phrase(const cl_text *t, const char *text, size_t len, const cl_urgent_hit *hit, char *out, size_t cap);

/* Number of rules and rule i's pattern, reason and confidence (tests). */
size_t cl_urgent_nrules(void);
const char *cl_urgent_rule(size_t i, const char **reason, float *conf);
#endif
