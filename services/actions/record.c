/* escucha-actions record-plan: a corrective action the agency took before
 * Escucha (or outside it), recorded as a closed plan so its effectiveness is
 * checked on the imported history and it appears in the ISO 9001 evidence
 * (docs/actions.md, "Recorded plans"). Nobody is messaged about it: its
 * reporters, if any, reported long ago through other channels. */
#include "record.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "iso.h"
#include "pg.h"
#include "taxonomy.h"
#include "util.h"

static const char *const CLOSURES[] = {"resolved", "not_fixed", "forwarded", "duplicate", NULL};

/* One transaction: the plan (request_id makes a second run of the same
 * record a no-op), its action with the closure, and the audit row. */
static const char SQL_PLAN[] =
    "INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, summary, request_id,"
    " request_sent_at, kind) VALUES ($1, $2, $3, 'closed', ($4::date::timestamp AT TIME ZONE 'UTC'), "
    "($5::date::timestamp AT TIME ZONE 'UTC'), $6, $7,"
    " now(), 'plan') ON CONFLICT (request_id) DO NOTHING RETURNING id";
static const char SQL_ACTION[] =
    "INSERT INTO actions (plan_id, tool, status, idempotency_key, opened_at, updated_at, closed_at, closure, "
    "closure_note,"
    " detail)"
    " VALUES ($1, 'recorded', 'done', 'recorded:' || $1, ($2::date::timestamp AT TIME ZONE 'UTC'), "
    "($3::date::timestamp AT TIME ZONE 'UTC'),"
    " ($3::date::timestamp AT TIME ZONE 'UTC'), $4, $5,"
    " jsonb_build_object('recorded_by', $6::text))";
static const char SQL_AUDIT[] =
    "INSERT INTO audit_log (actor, entity, entity_id, action, detail) VALUES ($1, 'action_plan', $2, 'record',"
    " jsonb_build_object('topic', $3::text, 'opened', $4::text, 'closed', $5::text, 'closure', $6::text))";
static const char SQL_EXISTING[] = "SELECT id FROM action_plans WHERE request_id = $1";

int ac_record_plan(PGconn *pg, const ac_record *rec, char id[27], int *created, char *err, size_t errlen) {
  char request_id[400], mine[27];
  PGresult *r = NULL;
  int rc = -1;
  *created = 0;
  int n = snprintf(request_id, sizeof request_id, "recorded/%s/%s/%s", rec->agency, rec->topic, rec->closed);
  if (n < 0 || (size_t)n >= sizeof request_id) {
    snprintf(err, errlen, "--agency and --topic are too long together");
    return -1;
  }
  es_ulid(mine);
  if (!(r = es_pg_query(pg, "BEGIN", 0, NULL, err, errlen))) return -1;
  PQclear(r);
  const char *pp[] = {mine, rec->agency, rec->topic, rec->opened, rec->closed, rec->note, request_id};
  if (!(r = es_pg_query(pg, SQL_PLAN, 7, pp, err, errlen))) goto cleanup;
  if (PQntuples(r) == 0) { /* recorded before: report that one */
    PQclear(r);
    const char *pe[] = {request_id};
    if (!(r = es_pg_query(pg, SQL_EXISTING, 1, pe, err, errlen))) goto cleanup;
    if (PQntuples(r) != 1) {
      snprintf(err, errlen, "the plan recorded for %s vanished", request_id);
      goto cleanup;
    }
    snprintf(id, 27, "%s", PQgetvalue(r, 0, 0));
    rc = 0;
    goto cleanup;
  }
  memcpy(id, mine, 27);
  PQclear(r);
  const char *pa[] = {id, rec->opened, rec->closed, rec->closure, rec->closure_note, rec->by};
  const char *pu[] = {rec->by, id, rec->topic, rec->opened, rec->closed, rec->closure};
  if (!(r = es_pg_query(pg, SQL_ACTION, 6, pa, err, errlen))) goto cleanup;
  PQclear(r);
  if (!(r = es_pg_query(pg, SQL_AUDIT, 6, pu, err, errlen))) goto cleanup;
  *created = 1;
  rc = 0;
cleanup:
  PQclear(r);
  PQclear(PQexec(pg, rc == 0 ? "COMMIT" : "ROLLBACK"));
  return rc;
}

int ac_record_main(int argc, char **argv) {
  static es_common_cfg common;
  static const char *agency, *topic, *opened, *closed, *note, *closure_note, *by, *taxonomy;
  static int closure;
  es_opt opts[] = {
      ES_COMMON_OPTS(common),
      ES_STR("agency", NULL, "Agency that took the action", &agency),
      ES_STR("topic", NULL, "Taxonomy topic it addressed: category or category/subcategory", &topic),
      ES_STR("opened", NULL, "Day the action started (YYYY-MM-DD, UTC)", &opened),
      ES_STR("closed", NULL, "Day it was finished (YYYY-MM-DD, UTC): effectiveness compares the days around it",
             &closed),
      ES_STR("note", NULL, "What was done (the plan's summary; no personal data)", &note),
      ES_ENUM("closure", "resolved", CLOSURES, "How it was closed", &closure),
      ES_STR("closure-note", NULL, "Why not fixed / forwarded to whom (required for those two)", &closure_note),
      ES_STR("by", "escucha-actions record-plan", "Who records it (the audit trail's actor)", &by),
      ES_STR("taxonomy", "config/taxonomy.default.json", "Taxonomy file the topic must be in", &taxonomy),
      ES_OPT_END};
  char err[512] = "", id[27] = "";
  int rc = 2, created = 0;
  PGconn *pg = NULL;
  es_taxonomy *tax = NULL;
  int pr = es_config_parse(opts, "escucha-actions record-plan",
                           "--agency A --topic T --opened D --closed D --note TEXT [--closure C]: records a corrective "
                           "action taken before Escucha as a closed plan (effectiveness check, ISO 9001 evidence)",
                           argc, argv, 1, NULL, NULL);
  if (pr != 0) {
    rc = pr > 0 ? 0 : 2;
    goto cleanup;
  }
  const char *why = !agency || !*agency          ? "--agency is required"
                    : !topic || !*topic          ? "--topic is required"
                    : !note || !*note            ? "--note is required (what was done)"
                    : !ac_iso_date_valid(opened) ? "--opened must be a date YYYY-MM-DD"
                    : !ac_iso_date_valid(closed) ? "--closed must be a date YYYY-MM-DD"
                    : strcmp(opened, closed) > 0 ? "--opened must not be after --closed"
                    : (closure == 1 || closure == 2) && (!closure_note || !*closure_note)
                        ? "--closure-note is required for not_fixed (why) and forwarded (to whom)"
                        : NULL;
  char today[11];
  time_t now = time(NULL);
  strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
  if (!why && strcmp(closed, today) > 0) why = "--closed must not be in the future";
  if (why) {
    fprintf(stderr, "escucha-actions record-plan: %s\n", why);
    goto cleanup;
  }
  if (es_taxonomy_load(taxonomy, &tax, err, sizeof err) != 0) {
    fprintf(stderr, "escucha-actions record-plan: --taxonomy %s\n", err);
    goto cleanup;
  }
  if (es_taxonomy_label(tax, topic, "es") == topic) {
    fprintf(stderr, "escucha-actions record-plan: --topic is not a category or category/subcategory of %s\n", taxonomy);
    goto cleanup;
  }
  ac_record rec = {agency, topic, opened, closed, note, CLOSURES[closure], closure_note, by};
  if (!(pg = es_pg_connect(common.pg_dsn, err, sizeof err)) ||
      ac_record_plan(pg, &rec, id, &created, err, sizeof err) != 0) {
    fprintf(stderr, "escucha-actions record-plan: %s\n", err);
    rc = 1;
    goto cleanup;
  }
  printf("%s plan %s (%s, %s to %s, %s)\n", created ? "recorded" : "already recorded as", id, topic, opened, closed,
         CLOSURES[closure]);
  rc = 0;
cleanup:
  if (pg) PQfinish(pg);
  es_taxonomy_free(tax);
  es_config_free(opts);
  return rc;
}
