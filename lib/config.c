#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

extern char **environ;

const char *const ES_LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};

#define MAX_OPTS 512

void es_opt_envname(const char *name, char *out, size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, "ESCUCHA_");
  for (const char *p = name; *p && n + 1 < outlen; p++) out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  out[n < outlen ? n : outlen - 1] = '\0';
}

/* The tables (with their included sections) as one list. */
static size_t flatten(es_opt *t, es_opt **out, size_t n, size_t max) {
  for (es_opt *o = t; o && o->type != ES_T_END; o++) {
    if (o->type == ES_T_INCLUDE) n = flatten(o->dest, out, n, max);
    else if (n < max) out[n++] = o;
  }
  return n;
}

/* ESCUCHA_DIGEST_TO_ for "digest-to-<agency>" */
static void envmap_prefix(const es_opt *o, char *out, size_t outlen) {
  char base[96];
  const char *lt = strchr(o->name, '<');
  size_t len = lt ? (size_t)(lt - o->name) : strlen(o->name);
  while (len > 0 && o->name[len - 1] == '-') len--;
  snprintf(base, sizeof base, "%.*s", (int)len, o->name);
  es_opt_envname(base, out, outlen);
  size_t k = strlen(out);
  if (k + 1 < outlen) out[k] = '_', out[k + 1] = '\0';
}

const char *es_envmap_get(const char *const *map, const char *env_name) {
  size_t n = strlen(env_name);
  for (size_t i = 0; map && map[i]; i++)
    if (strncmp(map[i], env_name, n) == 0 && map[i][n] == '=') return map[i][n + 1] ? map[i] + n + 1 : NULL;
  return NULL;
}

static const char *kind(const es_opt *o, char *buf, size_t n) {
  switch (o->type) {
    case ES_T_LONG:
      if (o->lmax == LONG_MAX) snprintf(buf, n, "integer >= %ld", o->lmin);
      else snprintf(buf, n, "integer %ld..%ld", o->lmin, o->lmax);
      return buf;
    case ES_T_DOUBLE:
      if (isinf(o->dmax)) snprintf(buf, n, "number >= %g", o->dmin);
      else snprintf(buf, n, "number %g..%g", o->dmin, o->dmax);
      return buf;
    case ES_T_BOOL: return "on|off (true|false, yes|no, 1|0)";
    case ES_T_ENUM: {
      size_t k = 0;
      buf[0] = '\0';
      for (size_t i = 0; o->choices[i] && k + 1 < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "|" : "", o->choices[i]);
      return buf;
    }
    default: return NULL;
  }
}

int es_opt_check(const es_opt *o, const char *v, char *why, size_t whylen) {
  char k[256];
  if (o->type == ES_T_STR || o->type == ES_T_SECRET || o->type == ES_T_ENVMAP || !v) return 0;
  const char *allowed = kind(o, k, sizeof k);
  if (!*v || isspace((unsigned char)v[0])) {
    snprintf(why, whylen, "\"%s\" is not %s%s", v, o->type == ES_T_ENUM ? "one of " : "", allowed);
    return -1;
  }
  char *end = NULL;
  errno = 0;
  if (o->type == ES_T_LONG) {
    long x = strtol(v, &end, 10);
    if (end == v) snprintf(why, whylen, "\"%s\" is not an integer (allowed: %s)", v, allowed);
    else if (*end) snprintf(why, whylen, "\"%s\" has trailing characters \"%s\" (allowed: %s)", v, end, allowed);
    else if (errno == ERANGE || x < o->lmin || x > o->lmax)
      snprintf(why, whylen, "%s is out of range (allowed: %s)", v, allowed);
    else return 0;
    return -1;
  }
  if (o->type == ES_T_DOUBLE) {
    double x = strtod(v, &end);
    if (end == v) snprintf(why, whylen, "\"%s\" is not a number (allowed: %s)", v, allowed);
    else if (*end) snprintf(why, whylen, "\"%s\" has trailing characters \"%s\" (allowed: %s)", v, end, allowed);
    else if (errno == ERANGE || !isfinite(x) || x < o->dmin || x > o->dmax)
      snprintf(why, whylen, "%s is out of range (allowed: %s)", v, allowed);
    else return 0;
    return -1;
  }
  if (o->type == ES_T_BOOL) {
    static const char *const words[] = {"on", "off", "true", "false", "yes", "no", "1", "0"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
      if (strcasecmp(v, words[i]) == 0) return 0;
    snprintf(why, whylen, "\"%s\" is not a boolean (allowed: %s)", v, allowed);
    return -1;
  }
  if (o->type == ES_T_ENUM) {
    for (size_t i = 0; o->choices[i]; i++)
      if (strcmp(v, o->choices[i]) == 0) return 0;
    snprintf(why, whylen, "\"%s\" is not one of %s", v, allowed);
    return -1;
  }
  return 0;
}

/* Stores a checked value in the option's field. */
static void store(es_opt *o) {
  const char *v = o->value;
  if (!o->dest) return;
  switch (o->type) {
    case ES_T_STR: *(const char **)o->dest = v; break;
    case ES_T_SECRET: {
      char **d = o->dest;
      if (*d) memset(*d, 0, strlen(*d)), free(*d); /* parsed again */
      *d = es_secret(v, o->file);
      break;
    }
    case ES_T_LONG: *(long *)o->dest = v ? strtol(v, NULL, 10) : 0; break;
    case ES_T_DOUBLE: *(double *)o->dest = v ? strtod(v, NULL) : 0.0; break;
    case ES_T_BOOL: {
      int on = 0;
      static const char *const yes[] = {"on", "true", "yes", "1"};
      for (size_t i = 0; v && i < 4; i++) on |= strcasecmp(v, yes[i]) == 0;
      *(int *)o->dest = on;
      break;
    }
    case ES_T_ENUM: {
      int idx = -1;
      for (int i = 0; v && o->choices[i]; i++)
        if (strcmp(v, o->choices[i]) == 0) idx = i;
      *(int *)o->dest = idx;
      break;
    }
    case ES_T_ENVMAP: *(const char *const **)o->dest = o->map; break;
    default: break;
  }
}

static void usage(es_opt **all, size_t n, const char *prog, const char *text) {
  printf("Usage: %s %s\n\nOptions (flag / environment variable / default):\n", prog, text ? text : "[options]");
  for (size_t i = 0; i < n; i++) {
    const es_opt *o = all[i];
    char env[160], flag[128], k[256];
    const char *ty = kind(o, k, sizeof k);
    if (o->type == ES_T_ENVMAP) {
      envmap_prefix(o, env, sizeof env);
      const char *lt = strchr(o->name, '<');
      printf("  %-26s %s%s %s (environment only)\n", "", env, lt ? lt : "<NAME>", o->help ? o->help : "");
      continue;
    }
    es_opt_envname(o->name, env, sizeof env);
    snprintf(flag, sizeof flag, "--%s", o->name);
    if (o->type == ES_T_SECRET) {
      char base[96];
      size_t e = strlen(env), f = strlen(flag);
      memcpy(base, env, e + 1 < sizeof base ? e + 1 : sizeof base);
      base[sizeof base - 1] = '\0';
      snprintf(env + e, sizeof env - e, " or %s_FILE", base);
      snprintf(flag + f, sizeof flag - f, "[-file]");
    }
    printf("  %-26s %-34s %s%s%s%s%s%s%s\n", flag, env, o->help ? o->help : "", ty ? " [" : "", ty ? ty : "",
           ty ? "]" : "", o->def ? " (default: " : "", o->def ? o->def : "", o->def ? ")" : "");
  }
  printf("  --help, --version\n");
}

/* Where a value came from, for messages. */
enum { SRC_DEFAULT, SRC_ENV, SRC_FLAG };

static int refuse(const char *prog, const es_opt *o, int src, const char *why) {
  char env[96];
  es_opt_envname(o->name, env, sizeof env);
  fprintf(stderr, "%s: --%s / %s: %s%s\n", prog, o->name, env, why,
          src == SRC_ENV    ? " (from the environment)"
          : src == SRC_FLAG ? " (from the command line)"
                            : " (built-in default)");
  return -1;
}

static es_opt *find_flag(es_opt **all, size_t n, const char *name, size_t len, int *is_file) {
  *is_file = 0;
  for (size_t i = 0; i < n; i++) {
    es_opt *o = all[i];
    if (o->type == ES_T_ENVMAP) continue;
    size_t l = strlen(o->name);
    if (l == len && strncmp(o->name, name, len) == 0) return o;
    if (o->type == ES_T_SECRET && len == l + 5 && strncmp(o->name, name, l) == 0 &&
        strncmp(name + l, "-file", 5) == 0) {
      *is_file = 1;
      return o;
    }
  }
  return NULL;
}

es_opt *es_opt_find(es_opt *opts, const char *name) {
  es_opt *all[MAX_OPTS];
  size_t n = flatten(opts, all, 0, MAX_OPTS);
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i]->name, name) == 0) return all[i];
  return NULL;
}

static void free_map(es_opt *o) {
  for (size_t i = 0; o->map && o->map[i]; i++) free((char *)o->map[i]);
  free(o->map);
  o->map = NULL;
}

static int collect_envmap(es_opt *o) {
  char pre[160];
  envmap_prefix(o, pre, sizeof pre);
  size_t pl = strlen(pre), n = 0, cap = 8;
  free_map(o);
  o->map = calloc(cap, sizeof *o->map);
  if (!o->map) return -1;
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, pre, pl) != 0 || !strchr(*e + pl, '=') || (*e)[pl] == '=') continue;
    if (n + 2 > cap) {
      const char **m = realloc(o->map, (cap *= 2) * sizeof *m);
      if (!m) return -1;
      o->map = m;
    }
    if (!(o->map[n] = strdup(*e))) return -1;
    o->map[++n] = NULL;
  }
  return 0;
}

int es_config_parse(es_opt *opts, const char *prog, const char *usage_text, int argc, char **argv, int first,
                    char **rest, int *nrest) {
  es_opt *all[MAX_OPTS];
  int src[MAX_OPTS];
  size_t n = flatten(opts, all, 0, MAX_OPTS);
  int nr = 0;
  for (size_t i = 0; i < n; i++) {
    es_opt *o = all[i];
    char env[96], fenv[112];
    src[i] = SRC_DEFAULT;
    o->value = o->def;
    o->file = NULL;
    if (o->type == ES_T_ENVMAP) {
      if (collect_envmap(o) != 0) return -1;
      continue;
    }
    es_opt_envname(o->name, env, sizeof env);
    const char *v = getenv(env);
    /* An empty variable is unset for a typed value (VAR= in an env file keeps the default). */
    if (v && (*v || o->type == ES_T_STR || o->type == ES_T_SECRET)) o->value = v, src[i] = SRC_ENV;
    if (o->type == ES_T_SECRET) {
      snprintf(fenv, sizeof fenv, "%s_FILE", env);
      o->file = getenv(fenv);
    }
  }
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(all, n, prog, usage_text);
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
    int is_file;
    es_opt *o = find_flag(all, n, name, len, &is_file);
    if (!o) {
      fprintf(stderr, "%s: unknown option --%.*s (see --help)\n", prog, (int)len, name);
      return -1;
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      fprintf(stderr, "%s: option --%.*s needs a value\n", prog, (int)len, name);
      return -1;
    }
    if (is_file) o->file = v;
    else o->value = v;
    for (size_t k = 0; k < n; k++)
      if (all[k] == o) src[k] = SRC_FLAG;
  }
  if (nrest) *nrest = nr;
  for (size_t i = 0; i < n; i++) {
    char why[512];
    if (es_opt_check(all[i], all[i]->value, why, sizeof why) != 0) return refuse(prog, all[i], src[i], why);
  }
  for (size_t i = 0; i < n; i++) store(all[i]);
  /* lib/kafka.c reads these from the environment; a flag must win there too */
  for (size_t i = 0; i < n; i++) {
    es_opt *o = all[i];
    if (o->value && strncmp(o->name, "kafka-", 6) == 0 && strstr(o->name, "-config")) {
      char env[96];
      es_opt_envname(o->name, env, sizeof env);
      setenv(env, o->value, 1);
    }
  }
  return 0;
}

void es_config_free(es_opt *opts) {
  es_opt *all[MAX_OPTS];
  size_t n = flatten(opts, all, 0, MAX_OPTS);
  for (size_t i = 0; i < n; i++) {
    es_opt *o = all[i];
    if (o->type == ES_T_SECRET && o->dest && *(char **)o->dest) {
      char *s = *(char **)o->dest;
      memset(s, 0, strlen(s));
      free(s);
      *(char **)o->dest = NULL;
    }
    if (o->type == ES_T_ENVMAP) {
      free_map(o);
      if (o->dest) *(const char *const **)o->dest = NULL;
    }
  }
}

char *es_secret(const char *value, const char *file_path) {
  if (value && *value) return strdup(value);
  if (!file_path || !*file_path) return NULL;
  size_t len = 0;
  char *s = es_read_file(file_path, &len);
  while (s && len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = '\0';
  return s;
}
