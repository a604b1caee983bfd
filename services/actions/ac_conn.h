/* Connector interface: one small module per project tool behind the same
 * three operations. Every connector speaks the vendor's documented REST API;
 * see docs/actions.md for the table of endpoints, auth and markers. */
#ifndef ESCUCHA_ACTIONS_AC_CONN_H
#define ESCUCHA_ACTIONS_AC_CONN_H
#include "util.h" /* ES_MUST_CHECK */
#include <jansson.h>
#include "ac_http.h"
#include "config.h"

enum {
  AC_OK = 0,
  AC_NOTFOUND = 1,    /* find_by_key: nothing carries the key; get_status: ticket gone */
  AC_ETRANSIENT = -1, /* retry later (network, 5xx, 429 beyond budget) */
  AC_EPERM = -2,      /* permanent (ac_http_permanent 4xx): DLQ with the vendor's message */
  AC_EBREAKER = -3,   /* circuit open: nothing sent */
  AC_ECONFIG = -4     /* connector misconfigured (missing project, token…) */
};

/* Values equal escucha.v1.ActionState so they can be copied into ActionStatus. */
enum { AC_ST_UNKNOWN = 0, AC_ST_OPEN = 1, AC_ST_IN_PROGRESS = 2, AC_ST_DONE = 3 };

typedef struct ac_issue {
  const char *idem_key; /* [a-z0-9-], used as label/tag/marker */
  const char *title;
  const char *body;      /* in the tool's markup (ac_conn_markup); ends with the marker line */
  const char *body_html; /* optional (e-mail) */
  const char *agency, *topic;
} ac_issue;

typedef struct ac_ticket {
  char key[128];        /* the tool's key: PROJ-12, issue number, gid, card id */
  char url[512];        /* human link */
  char status_name[96]; /* the tool's own status word */
  int state;            /* AC_ST_* */
} ac_ticket;

typedef struct ac_error {
  long http_status;
  char msg[512]; /* the vendor's message (never contains our secrets) */
} ac_error;

typedef struct ac_conn ac_conn;
typedef struct ac_connector_ops {
  const char *tool; /* "jira", "github", … */
  int (*create)(ac_conn *c, const ac_issue *is, ac_ticket *out, ac_error *err);
  /* AC_OK with out filled when a ticket already carries the key. */
  int (*find_by_key)(ac_conn *c, const char *idem_key, ac_ticket *out, ac_error *err);
  int (*get_status)(ac_conn *c, const char *ext_key, ac_ticket *out, ac_error *err);
  /* Optional (NULL: the tool gets no follow-up comments): adds body (in the
   * tool's markup) as a comment on ext_key. Not retried: a lost answer must
   * not post it twice. */
  int (*comment)(ac_conn *c, const char *ext_key, const char *body, ac_error *err);
} ac_connector_ops;

struct ac_conn {
  const ac_connector_ops *ops;
  json_t *cfg; /* owned: routing/settings (project, repo, base_url, …) */
  char *token; /* owned secret; never logged */
  ac_retry retry;
  ac_breaker breaker;
};

/* Marker written into every ticket body so a crash between "created" and
 * "recorded" can be recovered by search. */
#define AC_MARKER_PREFIX "escucha-key: "

const ac_connector_ops *ac_connector_find(const char *tool);
/* Every connector's environment settings (ESCUCHA_<TOOL>_<NAME>): a section
 * of actions' option table (ES_INCLUDE), filled by es_config_parse. */
extern es_opt ac_conn_opts[];
/* cfg is borrowed (a reference is taken). Token: cfg "token", else
 * ESCUCHA_<TOOL>_TOKEN, else the file named by ESCUCHA_<TOOL>_TOKEN_FILE. */
ES_MUST_CHECK
ac_conn *ac_conn_new(const char *tool, json_t *cfg);
void ac_conn_free(ac_conn *c);
/* Setting: cfg[name] (string or number), else env ESCUCHA_<TOOL>_<NAME>, else def. */
const char *ac_conn_opt(ac_conn *c, const char *name, const char *def);

/* ---- helpers shared by connectors ---- */
/* Sends a JSON request (body may be NULL) to base_url + path (or an absolute
 * URL). headers: NULL-terminated extra headers. On 2xx *out gets the parsed
 * body (json null when empty or not JSON). Non-2xx: AC_EPERM (AC_ETRANSIENT
 * for 408/409/423/425, see ac_http_permanent) with err filled
 * from the vendor's error body; 404 gives AC_NOTFOUND when notfound_ok. */
int ac_json_call(ac_conn *c, const char *method, const char *path, const char *const *headers, json_t *body,
                 int notfound_ok, json_t **out, ac_error *err);
/* Same with explicit idempotency (GraphQL queries are POSTs but safe to repeat). */
int ac_json_call_ex(ac_conn *c, const char *method, const char *path, const char *const *headers, json_t *body,
                    int notfound_ok, int idempotent, json_t **out, ac_error *err);
/* GET base_url + printf(fmt, ...) with one auth header (the shape of every
 * connector's status call); 404 is AC_NOTFOUND. */
int ac_get_json(ac_conn *c, const char *auth, json_t **out, ac_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Pulls a readable message out of any vendor's error body shape. */
void ac_vendor_message(const char *body, size_t len, char *out, size_t outlen);
/* URL-encodes s (malloc'd). */
char *ac_urlenc(const char *s);
void ac_copy(char *dst, size_t n, const char *src);
/* Builds an "Authorization"-style header "Name: value" (malloc'd). */
char *ac_header(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether text has the marker line for key: AC_MARKER_PREFIX at the start of
 * a line (never inside a quote), then the key and no more key characters. */
int ac_has_marker(const char *text, const char *key);
/* The markup the tool renders its ticket body in (AC_MU_*, ac_text.h): the
 * `markup` setting when set (Redmine: its text formatting; a webhook
 * receiver's choice), else the tool's own. Jira Cloud (REST v3) is always
 * ADF. -1 for an unknown `markup` value. */
int ac_conn_markup(ac_conn *c);

extern const ac_connector_ops ac_jira_ops, ac_github_ops, ac_gitlab_ops, ac_redmine_ops, ac_asana_ops, ac_clickup_ops,
    ac_monday_ops, ac_trello_ops, ac_webhook_ops, ac_email_ops;
/* "sha256=" + hex HMAC-SHA-256(secret, body): the X-Escucha-Signature of
 * our signed POSTs (webhook connector, SMS gateway). 0 ok. */
int ac_webhook_sign(const char *secret, const char *body, size_t len, char out[72]);
#endif
