/* Admin HTTP server on its own thread: GET /metrics, /healthz, /readyz.
 * Runs on a separate libuv loop so a busy service still answers probes. */
#ifndef ESCUCHA_LIB_ADMIN_H
#define ESCUCHA_LIB_ADMIN_H
#include "util.h" /* ES_MUST_CHECK */

/* Starts listening on host:port (host NULL = 127.0.0.1). 0 ok, -1 error. */
ES_MUST_CHECK
int es_admin_start(const char *host, int port);
void es_admin_stop(void);
/* /readyz answers 200 only when ready (e.g. Kafka connected, loop running). */
void es_admin_set_ready(int ready);
/* Optional detail shown by /readyz, e.g. "kafka=ok redis=degraded"; copied. */
void es_admin_set_status(const char *detail);
#endif
