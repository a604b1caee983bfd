/* Static file names and types for the dashboard (see static.h). */
#include "static.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const TYPES[][2] = {
    {".html", "text/html; charset=utf-8"},        {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},                {".svg", "image/svg+xml"},
    {".png", "image/png"},                        {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},                     {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
};

const char *api_static_type(const char *name) {
  const char *dot = strrchr(name, '.');
  const char *slash = strrchr(name, '/');
  if (!dot || (slash && dot < slash)) return NULL;
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
    if (strcasecmp(dot, TYPES[i][0]) == 0) return TYPES[i][1];
  return NULL;
}

static int ok_char(int c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '-' ||
         c == '.' || c == '/';
}

int api_static_path(const char *url_path, char *out, size_t cap) {
  if (!url_path || url_path[0] != '/') return -1;
  const char *p = url_path + 1;
  size_t n = strlen(p);
  if (n > API_STATIC_PATH_MAX) return -1;
  for (size_t i = 0; i < n; i++) {
    if (!ok_char((unsigned char)p[i])) return -1;
    int seg_start = i == 0 || p[i - 1] == '/';
    if (seg_start && (p[i] == '.' || (p[i] == '/'))) return -1; /* hidden, "..", "//" */
  }
  int w;
  if (n == 0) w = snprintf(out, cap, "index.html");
  else if (p[n - 1] == '/') w = snprintf(out, cap, "%sindex.html", p);
  else {
    const char *last = strrchr(p, '/');
    last = last ? last + 1 : p;
    if (!strchr(last, '.')) { /* a dashboard route (/inbox): the app itself */
      if (strchr(p, '/')) return -1; /* only top-level routes */
      w = snprintf(out, cap, "index.html");
    } else w = snprintf(out, cap, "%s", p);
  }
  if (w < 0 || (size_t)w >= cap) return -1;
  return api_static_type(out) ? 0 : -1;
}
