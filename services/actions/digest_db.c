/* Digest queries and the once-per-period send (see digest_db.h). SQL only
 * with parameters. */
#include "digest_db.h"

#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "plan.h"
#include "util.h"

/* Advisory lock class for digests ("ESCD"); the key's hashtext is the object. */
#define DIGEST_LOCK_CLASS "1163088708"

static const char *own(ac_digest_data *dd, const char *s) {
  if (!s) return NULL;
  if (dd->nowned == dd->capowned) {
    int cap = dd->capowned ? 2 * dd->capowned : 32;
    char **n = realloc(dd->owned, (size_t)cap * sizeof *n);
    if (!n) return NULL;
    dd->owned = n;
    dd->capowned = cap;
  }
  char *c = es_strdup(s);
  if (c) dd->owned[dd->nowned++] = c;
  return c;
}

/* Taxonomy label of a topic in lang (the topic id when unknown). */
static const char *label(ac_digest_data *dd, json_t *tax, const char *topic, const char *lang) {
  if (!tax) return own(dd, topic);
  ac_plan p = {0};
  snprintf(p.topic, sizeof p.topic, "%s", topic);
  ac_plan_playbook(&p, tax, lang);
  const char *l = own(dd, strcmp(lang, "en") == 0 ? p.label_en : p.label_es);
  ac_plan_free(&p);
  return l;
}

static PGresult *q(PGconn *pg, const char *what, const char *sql, int n, const char *const *prm) {
  char why[512];
  PGresult *r = es_pg_query(pg, sql, n, prm, why, sizeof why);
  if (!r) es_error("pg_error", "digest %s: %s", what, why);
  return r;
}

static const char *val(PGresult *r, int i, int j) { return PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j); }

int ac_digest_load(PGconn *pg, const char *agency, const char *period, int64_t start, int64_t end, const char *lang,
                   json_t *tax, int top, int stale_days, ac_digest_data *dd) {
  memset(dd, 0, sizeof *dd);
  int en = lang && strcmp(lang, "en") == 0;
  lang = en ? "en" : "es";
  const char *kind = strcmp(period, "weekly") == 0 ? "week" : "day";
  char s0[24], s1[24], lim[16];
  snprintf(s0, sizeof s0, "%lld", (long long)start);
  snprintf(s1, sizeof s1, "%lld", (long long)end);
  snprintf(lim, sizeof lim, "%d", top > 0 ? top : 10);
  ac_digest_date(start, dd->start);
  ac_digest_date(end - 86400, dd->last);
  const char *pp[] = {agency, kind, s0, s1, lim};
  PGresult *rp = NULL, *ra = NULL, *rc = NULL, *rt = NULL;
  int ok = 0;
  /* The latest computation per topic among the windows of the period (one
   * window per topic when window kind and period match), best score first. */
  rp = q(pg, "priorities",
         "SELECT topic, volume, coalesce(negative_share, 0), score, explanation_es, explanation_en "
         "FROM (SELECT DISTINCT ON (topic) * FROM priorities WHERE agency = $1 AND window_kind = $2 "
         "AND window_start >= to_timestamp($3::double precision) "
         "AND window_start < to_timestamp($4::double precision) AND topic <> '*' "
         "ORDER BY topic, window_start DESC, computed_at DESC) p "
         "ORDER BY score DESC, level, rank, topic LIMIT $5::int",
         5, pp);
  if (!rp) goto cleanup;
  const char *pa[] = {agency};
  /* A plan's last movement is its tickets' latest status change
   * (actions.updated_at moves only then), else its opening; the API's plan
   * JSON computes the same (services/api/q_read.c). */
  ra = q(pg, "actions",
         "SELECT p.topic, a.tool, a.external_key, a.url, a.status, "
         "extract(epoch from now() - coalesce(a.opened_at, p.opened_at)) / 86400, "
         "extract(epoch from now() - m.moved) / 86400, m.pending "
         "FROM action_plans p LEFT JOIN actions a ON a.plan_id = p.id "
         "CROSS JOIN LATERAL (SELECT coalesce(max(x.updated_at), p.opened_at) AS moved, "
         "NOT coalesce(bool_and(x.status = 'done'), false) AS pending FROM actions x "
         "WHERE x.plan_id = p.id) m "
         "WHERE p.agency = $1 AND p.status = 'open' AND p.kind = 'plan' "
         "ORDER BY p.opened_at, p.id, a.id LIMIT 100",
         1, pa);
  if (!ra) goto cleanup;
  /* Cases: the ticket only (the on-call alerts are rows of role oncall). */
  const char *pc[] = {agency, s0, s1};
  rc = q(pg, "cases",
         "SELECT p.summary, a.tool, a.external_key, a.url, a.status, p.status, "
         "extract(epoch from now() - p.opened_at) / 86400, count(*) FILTER (WHERE p.opened_at >= "
         "to_timestamp($2::double precision) AND p.opened_at < to_timestamp($3::double precision)) OVER () "
         "FROM action_plans p LEFT JOIN actions a ON a.plan_id = p.id "
         "AND coalesce(a.detail->>'role', '') <> 'oncall' WHERE p.agency = $1 AND p.kind = 'case' "
         "AND p.opened_at < to_timestamp($3::double precision) AND (p.status = 'open' OR p.opened_at >= "
         "to_timestamp($2::double precision)) ORDER BY p.opened_at DESC, p.id LIMIT 50",
         3, pc);
  if (!rc) goto cleanup;
  const char *pt[] = {agency, s0, s1};
  rt = q(pg, "totals",
         "SELECT count(*), count(*) FILTER (WHERE sentiment = 'NEGATIVE'), count(nps), "
         "count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps <= 6), count(csat), "
         "count(*) FILTER (WHERE csat >= 4) FROM feedback WHERE agency = $1 "
         "AND received_at >= to_timestamp($2::double precision) "
         "AND received_at < to_timestamp($3::double precision)",
         3, pt);
  if (!rt) goto cleanup;
  int np = PQntuples(rp), na = PQntuples(ra), nc = PQntuples(rc);
  dd->prios = calloc((size_t)np + 1, sizeof *dd->prios);
  dd->actions = calloc((size_t)na + 1, sizeof *dd->actions);
  dd->cases = calloc((size_t)nc + 1, sizeof *dd->cases);
  ok = dd->prios && dd->actions && dd->cases;
  long opened = nc ? atol(PQgetvalue(rc, 0, 7)) : 0;
  for (int i = 0; ok && i < nc; i++) {
    ac_digest_case *c = &dd->cases[i];
    c->title = own(dd, val(rc, i, 0));
    c->tool = own(dd, val(rc, i, 1));
    c->key = own(dd, val(rc, i, 2));
    c->url = own(dd, val(rc, i, 3));
    c->status = own(dd, val(rc, i, 4));
    c->state = own(dd, val(rc, i, 5));
    c->age_days = atof(PQgetvalue(rc, i, 6));
  }
  for (int i = 0; ok && i < np; i++) {
    ac_digest_prio *p = &dd->prios[i];
    p->topic = own(dd, val(rp, i, 0));
    p->label = label(dd, tax, PQgetvalue(rp, i, 0), lang);
    p->volume = atol(PQgetvalue(rp, i, 1));
    p->negative_share = atof(PQgetvalue(rp, i, 2));
    p->score = atof(PQgetvalue(rp, i, 3));
    p->explanation = own(dd, val(rp, i, en ? 5 : 4));
  }
  for (int i = 0; ok && i < na; i++) {
    ac_digest_action *a = &dd->actions[i];
    a->topic = own(dd, val(ra, i, 0));
    a->label = label(dd, tax, PQgetvalue(ra, i, 0), lang);
    a->tool = own(dd, val(ra, i, 1));
    a->key = own(dd, val(ra, i, 2));
    a->url = own(dd, val(ra, i, 3));
    a->status = own(dd, val(ra, i, 4));
    a->age_days = atof(PQgetvalue(ra, i, 5));
    a->idle_days = atof(PQgetvalue(ra, i, 6));
    a->stale = stale_days > 0 && strcmp(PQgetvalue(ra, i, 7), "t") == 0 && a->idle_days >= (double)stale_days;
  }
  ac_digest_totals *t = &dd->totals;
  t->feedback = atol(PQgetvalue(rt, 0, 0));
  t->negative = atol(PQgetvalue(rt, 0, 1));
  t->nps_answers = atol(PQgetvalue(rt, 0, 2));
  if (t->nps_answers)
    t->nps = 100.0 * (double)(atol(PQgetvalue(rt, 0, 3)) - atol(PQgetvalue(rt, 0, 4))) / (double)t->nps_answers;
  t->csat_answers = atol(PQgetvalue(rt, 0, 5));
  if (t->csat_answers) t->csat = 100.0 * (double)atol(PQgetvalue(rt, 0, 6)) / (double)t->csat_answers;
  if (!ok) goto cleanup;
  dd->d = (ac_digest){own(dd, agency),
                      strcmp(period, "weekly") == 0 ? "weekly" : "daily",
                      lang,
                      dd->prios,
                      np,
                      dd->actions,
                      na,
                      dd->start,
                      dd->last,
                      &dd->totals,
                      dd->cases,
                      nc,
                      opened,
                      stale_days};
cleanup:
  PQclear(rp);
  PQclear(ra);
  PQclear(rc);
  PQclear(rt);
  if (!ok) ac_digest_data_free(dd);
  return ok ? 0 : -1;
}

void ac_digest_data_free(ac_digest_data *dd) {
  for (int i = 0; i < dd->nowned; i++) free(dd->owned[i]);
  free(dd->owned);
  free(dd->prios);
  free(dd->actions);
  free(dd->cases);
  memset(dd, 0, sizeof *dd);
}

int ac_digest_agencies(PGconn *pg, const char *period, int64_t start, int64_t end, char ***out, int *n) {
  char s0[24], s1[24];
  snprintf(s0, sizeof s0, "%lld", (long long)start);
  snprintf(s1, sizeof s1, "%lld", (long long)end);
  const char *prm[] = {strcmp(period, "weekly") == 0 ? "week" : "day", s0, s1};
  *out = NULL;
  *n = 0;
  PGresult *r = q(pg, "agencies",
                  "SELECT agency FROM priorities WHERE window_kind = $1 "
                  "AND window_start >= to_timestamp($2::double precision) "
                  "AND window_start < to_timestamp($3::double precision) "
                  "UNION SELECT agency FROM action_plans WHERE status = 'open' ORDER BY 1 LIMIT 1000",
                  3, prm);
  if (!r) return -1;
  int rows = PQntuples(r);
  *out = calloc((size_t)rows + 1, sizeof **out);
  for (int i = 0; *out && i < rows; i++) {
    (*out)[i] = es_strdup(PQgetvalue(r, i, 0));
    if ((*out)[i]) (*n)++;
  }
  PQclear(r);
  return *out ? 0 : -1;
}

void ac_digest_agencies_free(char **a, int n) {
  for (int i = 0; a && i < n; i++) free(a[i]);
  free(a);
}

char **ac_digest_recipients(const char *csv) {
  if (!csv) return NULL;
  size_t cap = 2;
  for (const char *p = csv; *p; p++) cap += *p == ',';
  char **to = calloc(cap, sizeof *to);
  if (!to) return NULL;
  size_t n = 0;
  const char *p = csv;
  while (*p) {
    const char *e = strchr(p, ',');
    if (!e) e = p + strlen(p);
    const char *a = p, *b = e;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    if (b > a) to[n++] = es_strndup(a, (size_t)(b - a));
    p = *e ? e + 1 : e;
  }
  if (!n) {
    free(to);
    return NULL;
  }
  return to;
}

void ac_digest_recipients_free(char **to) {
  for (size_t i = 0; to && to[i]; i++) free(to[i]);
  free(to);
}

const char *ac_digest_to_for(const char *const *to_env, const char *agency, const char *to_default) {
  char env[192] = "ESCUCHA_DIGEST_TO_";
  size_t k = strlen(env);
  for (const char *p = agency; *p && k + 1 < sizeof env; p++)
    env[k++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
  env[k] = 0;
  const char *v = es_envmap_get(to_env, env);
  if (v && *v) return v;
  return to_default && *to_default ? to_default : NULL;
}

void ac_digest_key(const char *agency, const char *period, int64_t start, char *out, size_t n) {
  char d[11];
  ac_digest_date(start, d);
  snprintf(out, n, "%s/%s/%s", agency, period, d);
}

static int exec_ok(PGconn *pg, const char *what, const char *sql, int n, const char *const *prm, int *first) {
  PGresult *r = PQexecParams(pg, sql, n, NULL, prm, NULL, NULL, 0);
  int st = PQresultStatus(r);
  int rc = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? 0 : -1;
  if (rc) es_error("pg_error", "digest %s: %s", what, PQerrorMessage(pg));
  else if (first) *first = st == PGRES_TUPLES_OK && PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return rc;
}

static int record(PGconn *pg, const char *key, const char *action, json_t *detail) {
  char *dj = json_dumps(detail, JSON_COMPACT);
  const char *prm[] = {key, action, dj ? dj : "{}"};
  int rc = exec_ok(pg, "audit",
                   "INSERT INTO audit_log (actor, entity, entity_id, action, detail) "
                   "VALUES ('escucha-actions', 'digest', $1, $2, $3::jsonb)",
                   3, prm, NULL);
  free(dj);
  return rc;
}

int ac_digest_send_once(PGconn *pg, const ac_digest_cfg *c, const char *agency, int64_t start, int64_t end, int force,
                        char *err, size_t errlen) {
  char key[320];
  ac_digest_key(agency, c->period, start, key, sizeof key);
  const char *to_csv = ac_digest_to_for(c->to_env, agency, c->to_default);
  char **to = ac_digest_recipients(to_csv);
  if (!to) {
    snprintf(err, errlen, "no digest recipients for %s (--digest-to or ESCUCHA_DIGEST_TO_<AGENCY>)", agency);
    return AC_DG_CONFIG;
  }
  const char *kp[] = {key};
  int locked = 0, rc = AC_DG_TRANSIENT;
  ac_digest_data dd;
  int loaded = 0;
  snprintf(err, errlen, "database error");
  if (exec_ok(pg, "lock", "SELECT pg_try_advisory_lock(" DIGEST_LOCK_CLASS ", hashtext($1))", 1, kp, &locked) != 0)
    goto done;
  if (!locked) {
    rc = AC_DG_BUSY;
    goto done;
  }
  if (!force) {
    int seen = 0;
    if (exec_ok(pg, "check",
                "SELECT true FROM audit_log WHERE entity = 'digest' AND entity_id = $1 "
                "AND action IN ('digest_sent', 'digest_failed') LIMIT 1",
                1, kp, &seen) != 0)
      goto done;
    if (seen) {
      rc = AC_DG_ALREADY;
      goto done;
    }
  }
  if (ac_digest_load(pg, agency, c->period, start, end, c->lang, c->tax, c->top, c->stale_days, &dd) != 0) goto done;
  loaded = 1;
  ac_smtp_rc sr = ac_digest_send(&dd.d, c->smtp, (const char *const *)to, err, errlen);
  json_t *rcpt = json_array();
  for (int i = 0; to[i]; i++) json_array_append_new(rcpt, json_string(to[i]));
  json_t *detail = json_pack("{s:s, s:s, s:s, s:o, s:i, s:i}", "period", c->period, "start", dd.start, "last", dd.last,
                             "to", rcpt, "priorities", dd.d.nprios, "actions", dd.d.nactions);
  if (sr == AC_SMTP_OK) {
    /* Sent: a failure to record means a resend later (at-least-once). */
    rc = record(pg, key, "digest_sent", detail) == 0 ? AC_DG_SENT : AC_DG_TRANSIENT;
    if (rc != AC_DG_SENT) snprintf(err, errlen, "sent but not recorded (database error)");
    else if (errlen) err[0] = 0;
  } else if (sr == AC_SMTP_PERMANENT) {
    json_object_set_new(detail, "error", json_string(err));
    record(pg, key, "digest_failed", detail);
    rc = AC_DG_PERMANENT;
  }
  json_decref(detail);
done:
  if ((rc == AC_DG_ALREADY || rc == AC_DG_BUSY) && errlen) err[0] = 0;
  if (loaded) ac_digest_data_free(&dd);
  if (locked) exec_ok(pg, "unlock", "SELECT pg_advisory_unlock(" DIGEST_LOCK_CLASS ", hashtext($1))", 1, kp, NULL);
  ac_digest_recipients_free(to);
  return rc;
}

int ac_digest_done(PGconn *pg, char *const *keys, int n, unsigned char *done) {
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) {
    json_array_append_new(arr, json_string(keys[i]));
    done[i] = 0;
  }
  char *js = json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  if (!js) return -1;
  const char *prm[] = {js};
  PGresult *r = q(pg, "done",
                  "SELECT DISTINCT entity_id FROM audit_log WHERE entity = 'digest' "
                  "AND action IN ('digest_sent', 'digest_failed') "
                  "AND entity_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                  1, prm);
  free(js);
  if (!r) return -1;
  for (int j = 0; j < PQntuples(r); j++)
    for (int i = 0; i < n; i++)
      if (strcmp(keys[i], PQgetvalue(r, j, 0)) == 0) done[i] = 1;
  PQclear(r);
  return 0;
}
