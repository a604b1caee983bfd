/* The dashboard's static files: which file under the web root a URL path
 * names, and its content type. Pure (no I/O); the server opens the file and
 * checks that its real path is still under the root (symlinks). */
#ifndef ESCUCHA_API_STATIC_H
#define ESCUCHA_API_STATIC_H
#include <stddef.h>

#define API_STATIC_PATH_MAX 200

/* URL path ("/", "/app.js", "/css/site.css", "/inbox") -> a relative file
 * name under the root: "/" and any path whose last segment has no '.' (the
 * dashboard's own routes) -> "index.html"; a trailing '/' -> ".../index.html".
 * 0 ok; -1 refused (404): an escape ('%'), a segment starting with '.'
 * (hidden files, "..") or empty ("//"), a byte outside [A-Za-z0-9._-/],
 * longer than API_STATIC_PATH_MAX, or a type not served. */
int api_static_path(const char *url_path, char *out, size_t cap);
/* Content type of a relative name by its extension; NULL = not served. */
const char *api_static_type(const char *name);
#endif
