/* Structured JSON logs on stderr, one object per line. Never pass secrets. */
#ifndef ESCUCHA_LIB_LOG_H
#define ESCUCHA_LIB_LOG_H
#include <stdarg.h>

enum { ES_DEBUG = 0, ES_INFO = 1, ES_WARN = 2, ES_ERROR = 3 };

/* service: name put in every line; level_name: "debug".."error" or NULL for info. */
void es_log_init(const char *service, const char *level_name);
/* The service name given to es_log_init ("escucha" before it). */
const char *es_log_service(void);
/* Emits {"ts":...,"level":...,"service":...,"event":event,"msg":<printf fmt>} */
void es_log(int level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define es_debug(ev, ...) es_log(ES_DEBUG, ev, __VA_ARGS__)
#define es_info(ev, ...) es_log(ES_INFO, ev, __VA_ARGS__)
#define es_warn(ev, ...) es_log(ES_WARN, ev, __VA_ARGS__)
#define es_error(ev, ...) es_log(ES_ERROR, ev, __VA_ARGS__)
#endif
