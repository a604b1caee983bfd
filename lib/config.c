#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void es_opt_envname(const char *name, char *out, size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, "ESCUCHA_");
  for (const char *p = name; *p && n + 1 < outlen; p++)
    out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  out[n < outlen ? n : outlen - 1] = '\0';
}

static es_opt *find(es_opt *opts, const char *name, size_t len) {
  for (es_opt *o = opts; o->name; o++)
    if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
  return NULL;
}

static void usage(const es_opt *opts, const char *prog, const char *text) {
  printf("Usage: %s %s\n\nOptions (flag / environment variable / default):\n", prog,
         text ? text : "[options]");
  for (const es_opt *o = opts; o->name; o++) {
    char env[96];
    es_opt_envname(o->name, env, sizeof env);
    printf("  --%-24s %-34s %s%s%s%s\n", o->name, env, o->help ? o->help : "",
           o->def ? " (default: " : "", o->def ? o->def : "", o->def ? ")" : "");
  }
  printf("  --help, --version\n");
}

int es_config_parse(es_opt *opts, const char *prog, const char *usage_text, int argc, char **argv,
                    int first, char **rest, int *nrest) {
  int nr = 0;
  for (es_opt *o = opts; o->name; o++) {
    char env[96];
    es_opt_envname(o->name, env, sizeof env);
    const char *v = getenv(env);
    o->value = v ? v : o->def;
  }
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(opts, prog, usage_text);
      return 1;
    }
    if (strcmp(a, "--version") == 0) {
      printf("%s %s\n", prog, ESCUCHA_VERSION);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      if (rest) rest[nr] = argv[i];
      nr++;
      continue;
    }
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    es_opt *o = find(opts, name, len);
    if (!o) {
      fprintf(stderr, "%s: unknown option --%.*s (see --help)\n", prog, (int)len, name);
      return -1;
    }
    if (eq) {
      o->value = eq + 1;
    } else if (i + 1 < argc) {
      o->value = argv[++i];
    } else {
      fprintf(stderr, "%s: option --%s needs a value\n", prog, o->name);
      return -1;
    }
  }
  if (nrest) *nrest = nr;
  /* lib/kafka.c reads these from the environment; a flag must win there too */
  for (es_opt *o = opts; o->name; o++)
    if (o->value && strncmp(o->name, "kafka-", 6) == 0 && strstr(o->name, "-config")) {
      char env[96];
      es_opt_envname(o->name, env, sizeof env);
      setenv(env, o->value, 1);
    }
  return 0;
}

const char *es_opt_get(const es_opt *opts, const char *name) {
  for (const es_opt *o = opts; o->name; o++)
    if (strcmp(o->name, name) == 0) return o->value;
  return NULL;
}

long es_opt_long(const es_opt *opts, const char *name) {
  const char *v = es_opt_get(opts, name);
  return v ? strtol(v, NULL, 10) : 0;
}

double es_opt_double(const es_opt *opts, const char *name) {
  const char *v = es_opt_get(opts, name);
  return v ? strtod(v, NULL) : 0.0;
}

char *es_secret(const char *value, const char *file_path) {
  if (value && *value) return strdup(value);
  if (!file_path || !*file_path) return NULL;
  size_t len = 0;
  char *s = es_read_file(file_path, &len);
  while (s && len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = '\0';
  return s;
}
