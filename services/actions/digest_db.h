/* The digest's data from PostgreSQL (priorities, open plans + tickets,
 * feedback totals) and the once-per-agency-and-period send, recorded in
 * audit_log (entity 'digest', entity_id '<agency>/<period>/<YYYY-MM-DD>'). */
#ifndef ESCUCHA_ACTIONS_DIGEST_DB_H
#define ESCUCHA_ACTIONS_DIGEST_DB_H
#include "util.h" /* ES_MUST_CHECK */
#include <jansson.h>
#include <libpq-fe.h>

#include "digest.h"

/* A digest loaded from the database; owns every string d points to. */
typedef struct ac_digest_data {
  ac_digest d;
  ac_digest_prio *prios;
  ac_digest_action *actions;
  ac_digest_case *cases;
  ac_digest_totals totals;
  char start[11], last[11];
  char **owned;
  int nowned, capowned;
} ac_digest_data;

/* Loads the digest of agency for [start, end) (seconds since the epoch):
 *  - priorities of window kind day (daily) / week (weekly) whose window starts
 *    in the period, the latest computation per topic, best `top` by score,
 *    with the explanation in lang and the taxonomy label (tax may be NULL);
 *  - open action plans of the agency with their tickets (oldest first, max 100),
 *    each flagged stale when its tickets have not moved for stale_days (0: never);
 *  - urgent cases opened in the period or still open, with their tickets
 *    (newest first, max 50; the on-call alerts are not listed);
 *  - feedback received in the period: count, negative share, NPS, CSAT.
 * 0 ok, -1 database error. Free with ac_digest_data_free. */
ES_MUST_CHECK
int ac_digest_load(PGconn *pg, const char *agency, const char *period, int64_t start, int64_t end, const char *lang,
                   json_t *tax, int top, int stale_days, ac_digest_data *out);
void ac_digest_data_free(ac_digest_data *dd);

/* Agencies with priorities in the period or an open action plan (sorted,
 * max 1000). *out malloc'd array of malloc'd strings. 0 ok, -1 error. */
int ac_digest_agencies(PGconn *pg, const char *period, int64_t start, int64_t end, char ***out, int *n);
void ac_digest_agencies_free(char **a, int n);

/* Comma-separated list -> NULL-terminated array (malloc'd, strings trimmed;
 * empty items dropped). NULL when there is no address. */
char **ac_digest_recipients(const char *csv);
void ac_digest_recipients_free(char **to);
/* Recipients of an agency: ESCUCHA_DIGEST_TO_<AGENCY> (upper case,
 * non-alphanumerics as '_') in to_env (the "NAME=value" entries actions'
 * option table collected), else to_default. Returns the csv or NULL. */
const char *ac_digest_to_for(const char *const *to_env, const char *agency, const char *to_default);

typedef struct ac_digest_cfg {
  const char *period; /* daily | weekly */
  const char *lang;
  int top;
  json_t *tax; /* labels; may be NULL */
  const ac_smtp *smtp;
  const char *to_default;    /* comma list; per-agency env overrides it */
  const char *const *to_env; /* ESCUCHA_DIGEST_TO_<AGENCY>=list entries (es_config ES_T_ENVMAP); may be NULL */
  int stale_days;            /* --stale-after */
} ac_digest_cfg;

enum {
  AC_DG_SENT = 0,
  AC_DG_ALREADY = 1,    /* sent (or failed permanently) for this period before */
  AC_DG_BUSY = 2,       /* another process is sending it right now */
  AC_DG_TRANSIENT = -1, /* database or SMTP 4xx/connection: try again later */
  AC_DG_PERMANENT = -2, /* SMTP 5xx: recorded as digest_failed, not retried */
  AC_DG_CONFIG = -3     /* no recipients */
};

/* Sends the digest of agency for [start, end) once: under a PostgreSQL
 * advisory lock on the key, skips when audit_log has digest_sent (or
 * digest_failed) for it, else sends and records digest_sent. force: send
 * even if already sent. A crash between the SMTP reply and the audit insert
 * sends it again on the next attempt (at-least-once). */
int ac_digest_send_once(PGconn *pg, const ac_digest_cfg *c, const char *agency, int64_t start, int64_t end, int force,
                        char *err, size_t errlen);
/* done[i] = 1 when keys[i] (ac_digest_key) has digest_sent or digest_failed
 * in audit_log: one query for a whole pass. 0 ok, -1 database error. */
int ac_digest_done(PGconn *pg, char *const *keys, int n, unsigned char *done);
/* audit_log entity_id of a digest: "<agency>/<period>/<YYYY-MM-DD>". */
void ac_digest_key(const char *agency, const char *period, int64_t start, char *out, size_t n);
#endif
