/* Typed configuration: built-in default < ESCUCHA_* environment < --flag=value.
 * Each service declares a table of options; an option has a type, bounds and
 * the address of the field it fills in the service's config struct.
 * es_config_parse refuses (message naming the flag, the variable and what is
 * allowed) a value that is not a number, has trailing characters, is out of
 * range, or is not one of an enum's / a bool's words. --help lists every
 * option with its variable, type and default. */
#ifndef ESCUCHA_LIB_CONFIG_H
#define ESCUCHA_LIB_CONFIG_H
#include <limits.h>
#include <stdio.h>

typedef enum es_opt_type {
  ES_T_END = 0,
  ES_T_STR,    /* dest: const char ** (points into env/argv/def; not owned; may be NULL) */
  ES_T_SECRET, /* dest: char ** malloc'd by es_config_parse, freed by es_config_free:
                   ESCUCHA_X (--x) or else the file named by ESCUCHA_X_FILE (--x-file) */
  ES_T_LONG,   /* dest: long *, within [lmin, lmax] */
  ES_T_DOUBLE, /* dest: double *, finite, within [dmin, dmax] */
  ES_T_BOOL,   /* dest: int * 0/1; on|off, true|false, yes|no, 1|0 */
  ES_T_ENUM,   /* dest: int *, index into choices (NULL-terminated) */
  ES_T_ENVMAP, /* environment only: every ESCUCHA_<PREFIX>_<SUFFIX>; name is "prefix-<what>";
                   dest: const char *const ** NULL-terminated "NAME=value" (see es_envmap_get) */
  ES_T_INCLUDE /* dest: another es_opt table (a section, e.g. per connector) */
} es_opt_type;

typedef struct es_opt {
  const char *name; /* flag name without dashes, e.g. "http-port"; env = ESCUCHA_HTTP_PORT */
  es_opt_type type;
  const char *def; /* default as text (parsed like any value) or NULL */
  const char *help;
  void *dest; /* field filled by es_config_parse (NULL: value only kept in .value) */
  long lmin, lmax;
  double dmin, dmax;
  const char *const *choices;
  /* resolved by es_config_parse */
  const char *value; /* text of the value (points into env/argv/def) */
  const char *file;  /* ES_T_SECRET: the *_FILE path */
  const char **map;  /* ES_T_ENVMAP: owned array */
} es_opt;

#define ES_STR(n, d, h, dst) \
  { (n), ES_T_STR, (d), (h), (dst), 0, 0, 0, 0, NULL, NULL, NULL, NULL }
#define ES_SECRET(n, h, dst) \
  { (n), ES_T_SECRET, NULL, (h), (dst), 0, 0, 0, 0, NULL, NULL, NULL, NULL }
#define ES_LONG(n, d, lo, hi, h, dst) \
  { (n), ES_T_LONG, (d), (h), (dst), (lo), (hi), 0, 0, NULL, NULL, NULL, NULL }
#define ES_DOUBLE(n, d, lo, hi, h, dst) \
  { (n), ES_T_DOUBLE, (d), (h), (dst), 0, 0, (lo), (hi), NULL, NULL, NULL, NULL }
#define ES_BOOL(n, d, h, dst) \
  { (n), ES_T_BOOL, (d), (h), (dst), 0, 0, 0, 0, NULL, NULL, NULL, NULL }
#define ES_ENUM(n, d, ch, h, dst) \
  { (n), ES_T_ENUM, (d), (h), (dst), 0, 0, 0, 0, (ch), NULL, NULL, NULL }
#define ES_ENVMAP(n, h, dst) \
  { (n), ES_T_ENVMAP, NULL, (h), (dst), 0, 0, 0, 0, NULL, NULL, NULL, NULL }
#define ES_INCLUDE(tbl) \
  { "", ES_T_INCLUDE, NULL, NULL, (tbl), 0, 0, 0, 0, NULL, NULL, NULL, NULL }
#define ES_OPT_END \
  { 0 }
#define ES_PORT_MAX 65535L

extern const char *const ES_LOG_LEVELS[]; /* debug info warn error */

/* Options every service has (ES_COMMON_OPTS(cfg.common)); services append their own. */
typedef struct es_common_cfg {
  const char *kafka_brokers, *pg_dsn, *redis_url, *admin_host, *state_dir;
  const char *kafka_producer_config, *kafka_consumer_config;
  int log_level; /* index into ES_LOG_LEVELS */
} es_common_cfg;

#define ES_COMMON_OPTS(c)                                                                                       \
  ES_STR("kafka-brokers", "127.0.0.1:19092", "Kafka bootstrap servers", &(c).kafka_brokers),                    \
      ES_STR("pg-dsn", "host=127.0.0.1 port=15432 dbname=escucha user=escucha", "PostgreSQL connection string", \
             &(c).pg_dsn),                                                                                      \
      ES_STR("redis-url", "redis://127.0.0.1:16379", "Redis URL", &(c).redis_url),                              \
      ES_ENUM("log-level", "info", ES_LOG_LEVELS, "Least severe level logged", &(c).log_level),                 \
      ES_STR("admin-host", "127.0.0.1", "Address of the admin endpoint (/metrics /healthz /readyz; no auth)",   \
             &(c).admin_host),                                                                                  \
      ES_STR("state-dir", ".escucha", "Local state folder", &(c).state_dir),                                    \
      ES_STR("kafka-producer-config", NULL, "Extra librdkafka producer settings: k=v,k=v",                      \
             &(c).kafka_producer_config),                                                                       \
      ES_STR("kafka-consumer-config", NULL, "Extra librdkafka consumer settings: k=v,k=v", &(c).kafka_consumer_config)

/* Parses env then argv (from argv[first]) and fills every option's dest.
 * Non-flag arguments are left in *rest (pointers into argv), count in *nrest
 * (rest may be NULL). Handles --help (prints usage, returns 1) and --version
 * (returns 1). Returns 0 ok, 1 exit-success (help/version), -1 error (message
 * on stderr: unknown option, missing value, or a value refused by its type). */
int es_config_parse(es_opt *opts, const char *prog, const char *usage, int argc, char **argv, int first, char **rest,
                    int *nrest);
/* Frees what es_config_parse allocated (secrets are wiped first). */
void es_config_free(es_opt *opts);
/* Checks one value against an option's type; 0 ok, else -1 with why filled. */
int es_opt_check(const es_opt *o, const char *value, char *why, size_t whylen);
/* The option named name (also in included sections), or NULL. */
es_opt *es_opt_find(es_opt *opts, const char *name);
/* Env name for a flag name: "http-port" -> "ESCUCHA_HTTP_PORT". */
void es_opt_envname(const char *name, char *out, size_t outlen);
/* The value of env_name in an ES_T_ENVMAP map ("NAME=value" entries; empty = unset), or NULL. */
const char *es_envmap_get(const char *const *map, const char *env_name);
/* Reads a secret either from NAME (env/flag value) or NAME_FILE path; malloc'd or NULL. */
char *es_secret(const char *value, const char *file_path);

#define ESCUCHA_VERSION "0.1.0"
#endif
