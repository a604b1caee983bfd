/* Daily/weekly e-mail digest per agency: top priorities and open actions,
 * plain text + HTML (multipart/alternative), sent over SMTP. */
#ifndef ESCUCHA_AC_DIGEST_H
#define ESCUCHA_AC_DIGEST_H
#include "ac_smtp.h"

typedef struct ac_digest_prio {
  const char *topic, *label;
  long volume;
  double negative_share, score;
} ac_digest_prio;

typedef struct ac_digest_action {
  const char *topic, *tool, *key, *url, *status;
  double age_days;
} ac_digest_action;

typedef struct ac_digest {
  const char *agency, *period, *lang; /* period: "daily" | "weekly"; lang es|en */
  const ac_digest_prio *prios;
  int nprios;
  const ac_digest_action *actions;
  int nactions;
} ac_digest;

/* Renders subject, text and html (malloc'd). 0 ok. */
int ac_digest_render(const ac_digest *d, char **subject, char **text, char **html);
/* Renders and sends to the recipients. 0 ok, -1 transient, -2 permanent. */
int ac_digest_send(const ac_digest *d, const ac_smtp *s, const char *const *to, char *err, size_t errlen);
#endif
