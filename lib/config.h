/* Configuration: built-in default < ESCUCHA_* environment < --flag=value.
 * Each service declares a table of options; --help lists flags and env names. */
#ifndef ESCUCHA_CONFIG_H
#define ESCUCHA_CONFIG_H
#include <stdio.h>

typedef struct es_opt {
  const char *name;   /* flag name without dashes, e.g. "http-port"; env = ESCUCHA_HTTP_PORT */
  const char *def;    /* default value or NULL */
  const char *help;
  const char *value;  /* resolved value (points into env/argv/def; not owned) */
} es_opt;

/* Common options every service has; services append their own.
 * Terminate tables with {0}. */
#define ES_COMMON_OPTS \
  {"kafka-brokers", "127.0.0.1:19092", "Kafka bootstrap servers", 0}, \
  {"pg-dsn", "host=127.0.0.1 port=15432 dbname=escucha user=escucha", "PostgreSQL connection string", 0}, \
  {"redis-url", "redis://127.0.0.1:16379", "Redis URL", 0}, \
  {"log-level", "info", "debug|info|warn|error", 0}, \
  {"admin-host", "127.0.0.1", "Address of the admin endpoint (/metrics /healthz /readyz; no auth)", 0}, \
  {"state-dir", ".escucha", "Local state folder", 0}, \
  {"kafka-producer-config", NULL, "Extra librdkafka producer settings: k=v,k=v", 0}, \
  {"kafka-consumer-config", NULL, "Extra librdkafka consumer settings: k=v,k=v", 0}

/* Parses env then argv (from argv[first]). Non-flag arguments are left in
 * *rest (pointers into argv), count in *nrest (rest may be NULL).
 * Handles --help (prints usage, returns 1) and --version (returns 1).
 * Returns 0 ok, 1 exit-success (help/version), -1 error (message printed). */
int es_config_parse(es_opt *opts, const char *prog, const char *usage, int argc, char **argv,
                    int first, char **rest, int *nrest);
const char *es_opt_get(const es_opt *opts, const char *name);
long es_opt_long(const es_opt *opts, const char *name);
double es_opt_double(const es_opt *opts, const char *name);
/* Env name for a flag name: "http-port" -> "ESCUCHA_HTTP_PORT". */
void es_opt_envname(const char *name, char *out, size_t outlen);
/* Reads a secret either from NAME (env/flag value) or NAME_FILE path; malloc'd or NULL. */
char *es_secret(const char *value, const char *file_path);

#define ESCUCHA_VERSION "0.1.0"
#endif
