/* escucha-api's query functions beyond query.h's dashboard set: citizen
 * receipts, Open311 GeoReport v2 reads, the review endpoint's two steps and
 * urgent cases (q_cases.c).
 * Like query.h's: pure, blocking, run on the thread pool. */
#ifndef ESCUCHA_API_Q_EXTRA_H
#define ESCUCHA_API_Q_EXTRA_H
#include "query.h"

/* {"status":"received|classified|in_action_plan|ticket_open|resolved","updated_at":..}
 * for a feedback id whose receipt token was already verified. */
ES_MUST_CHECK api_rc api_q_receipt(PGconn *pg, const char *id, es_buf *out, api_err *err);
/* The reporter of a feedback id (opt-out token already verified) stops
 * being told: contacts.opted_out_at is set (kept when already set).
 * {"opted_out":true|false} — false when no contact is kept (never left, or
 * already purged), which is no error for the person clicking. */
ES_MUST_CHECK api_rc api_q_optout(PGconn *pg, const char *id, es_buf *out, api_err *err);

/* GeoReport v2 GET requests.json: a JSON array of service requests of the
 * agency that came in through Open311 (channel OPEN311). names_json maps a
 * service_code to its service_name ({"code":"label"}). Parameters:
 * service_request_id (comma list; overrides the others), service_code
 * (comma list), start_date, end_date (RFC 3339; at most 90 days apart;
 * default the last 90 days), status (open|closed, comma list). At most 1000. */
ES_MUST_CHECK api_rc api_q_o311_list(PGconn *pg, const char *agency, const char *names_json, const api_params *p,
                                     es_buf *out, api_err *err);
/* GET requests/{id}.json: a one-element array, or API_NOTFOUND. */
ES_MUST_CHECK api_rc api_q_o311_get(PGconn *pg, const char *agency, const char *names_json, const char *id, es_buf *out,
                                    api_err *err);

/* Review, step 1: the item's redacted text and language (malloc'd, caller
 * frees) for the correction message; API_NOTFOUND for another agency's id. */
ES_MUST_CHECK api_rc api_q_review_item(PGconn *pg, const char *agency, const char *id, char **text, char **language,
                                       api_err *err);
/* Review, step 2 (after the correction is on Kafka): the audit_log row.
 * detail_json: a JSON object (no feedback text). */
ES_MUST_CHECK api_rc api_q_review_audit(PGconn *pg, const char *actor, const char *id, const char *detail_json,
                                        api_err *err);

/* GET /v1/cases: {"items":[case],"next_cursor"}: the agency's cases (action
 * plans of kind 'case'), newest first; status open|closed, limit, cursor. */
ES_MUST_CHECK api_rc api_q_cases_list(PGconn *pg, const char *agency, const api_params *p, es_buf *out, api_err *err);
/* GET /v1/cases/{id}: the case with its item's redacted text and its audit
 * trail; writes the view's audit_log row (entity case, action viewed) first,
 * in the same statement as the read. API_NOTFOUND for another agency's id. */
ES_MUST_CHECK api_rc api_q_case_get(PGconn *pg, const char *agency, const char *id, const api_viewer *who, es_buf *out,
                                    api_err *err);
/* POST /v1/cases/{id}/ack: audit_log row (entity case, action acknowledged);
 * {"id","acknowledged":{"at","actor"}}, or API_NOTFOUND. */
ES_MUST_CHECK api_rc api_q_case_ack(PGconn *pg, const char *agency, const char *id, const api_viewer *who, es_buf *out,
                                    api_err *err);

/* /v1/health's database part: {"model_version":..} for the agency's latest item. */
ES_MUST_CHECK api_rc api_q_model_version(PGconn *pg, const char *agency, es_buf *out, api_err *err);
#endif
