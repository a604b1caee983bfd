/* Helpers for tests that drive a local python test server (contract tests):
 * spawn it, read "PORT <n>" from its stdout with a deadline, talk to its
 * control endpoints, kill it. Header-only so each test stays one file. */
#ifndef ESCUCHA_TESTS_ACTIONS_CONTRACT_UTIL_H
#define ESCUCHA_TESTS_ACTIONS_CONTRACT_UTIL_H
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ac_http.h"

#define TEST_PYTHON "/usr/bin/python3" /* Debian's: has aiosmtpd */

/* Finds tests/contract/<name>: $ESCUCHA_CONTRACT_DIR, the cwd, or three
 * levels above the test binary (build/tests/actions/test_x). */
static inline int tc_script(const char *name, char *out, size_t n) {
  const char *d = getenv("ESCUCHA_CONTRACT_DIR");
  if (d) {
    snprintf(out, n, "%s/%s", d, name);
    return access(out, R_OK);
  }
  snprintf(out, n, "tests/contract/%s", name);
  if (access(out, R_OK) == 0) return 0;
  char exe[PATH_MAX];
  ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (l <= 0) return -1;
  exe[l] = 0;
  for (int i = 0; i < 4; i++) {
    char *s = strrchr(exe, '/');
    if (!s) return -1;
    *s = 0;
  }
  if (snprintf(out, n, "%s/tests/contract/%s", exe, name) >= (int)n) return -1;
  return access(out, R_OK);
}

typedef struct tc_server {
  pid_t pid;
  int port;
  int out_fd;
} tc_server;

/* Starts `python3 script args...`; waits (poll, 15 s deadline) for "PORT n". */
static inline int tc_start(tc_server *s, const char *script, const char *const *args) {
  int p[2];
  char path[PATH_MAX];
  if (tc_script(script, path, sizeof path) != 0 || pipe(p) != 0) return -1;
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    const char *argv[16] = {TEST_PYTHON, path};
    int i = 2;
    for (; args && args[i - 2] && i < 15; i++) argv[i] = args[i - 2];
    argv[i] = NULL;
    execv(TEST_PYTHON, (char *const *)argv);
    _exit(127);
  }
  close(p[1]);
  s->out_fd = p[0];
  char buf[256];
  size_t len = 0;
  for (;;) {
    struct pollfd pf = {s->out_fd, POLLIN, 0};
    int r = poll(&pf, 1, 15000);
    if (r <= 0) return -1;
    ssize_t k = read(s->out_fd, buf + len, sizeof buf - 1 - len);
    if (k <= 0) return -1;
    len += (size_t)k;
    buf[len] = 0;
    char *pp = strstr(buf, "PORT ");
    if (pp && strchr(pp, '\n')) {
      s->port = atoi(pp + 5);
      return s->port > 0 ? 0 : -1;
    }
    if (len >= sizeof buf - 1) return -1;
  }
}

static inline void tc_stop(tc_server *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
  if (s->out_fd > 0) close(s->out_fd);
  s->out_fd = 0;
}

/* Plain request to the control API; returns status, body in *out (malloc'd). */
static inline long tc_http(int port, const char *method, const char *path, const char *body, char **out) {
  char url[256], err[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  const char *h[] = {"Content-Type: application/json", NULL};
  ac_http_req req = {method, url, h, body, body ? strlen(body) : 0, 1};
  ac_http_resp resp;
  ac_retry r;
  ac_retry_defaults(&r);
  r.max_attempts = 1;
  long st = -1;
  if (ac_http_do(&r, NULL, &req, &resp, err, sizeof err) == AC_HTTP_OK) st = resp.status;
  if (out) { *out = resp.body.data ? es_strndup(resp.body.data, resp.body.len) : es_strdup(""); }
  ac_http_resp_free(&resp);
  return st;
}
#endif
