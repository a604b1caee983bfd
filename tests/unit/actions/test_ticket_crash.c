/* Exactly one ticket per plan when the process is killed (SIGKILL, via
 * ESCUCHA_CRASH_AT) at every step of ticket creation, for every searchable
 * connector, against the contract server. The store is a directory so that
 * what was "recorded" survives the kill like a database row would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ticket.h"
#include "contract_util.h"

static tc_server g_srv;
static char g_dir[64];

static void path_of(char *out, size_t n, const char *key, const char *ext) {
  snprintf(out, n, "%s/%s.%s", g_dir, key, ext);
}

static int fs_lookup(void *ctx, const char *key, ac_ticket *t) {
  (void)ctx;
  char p[160];
  path_of(p, sizeof p, key, "rec");
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  int ok = fscanf(f, "%127s %511s", t->key, t->url) == 2;
  fclose(f);
  return ok ? 1 : -1;
}

static int fs_record(void *ctx, const char *plan, const char *tool, const char *key, const ac_ticket *t) {
  (void)ctx, (void)plan, (void)tool;
  char p[160], tmp[170];
  path_of(p, sizeof p, key, "rec");
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%s %s\n", t->key, t->url[0] ? t->url : "-");
  fclose(f);
  return link(tmp, p) == 0 || access(p, F_OK) == 0 ? (unlink(tmp), 0) : -1; /* first one wins */
}

/* A lock older than its TTL is stale (its owner died); TTL 0 in this test.
 * A new file's mtime can be a second ahead of time(NULL) (the kernel stamps
 * it with a finer clock than time()'s): such an age counts as 0, not as
 * negative, or a TTL-0 lock would look alive (measured: 0.6% of new files,
 * so about one run of this test in ten failed). */
static int fs_lock(void *ctx, const char *key, long ttl_ms) {
  (void)ctx;
  char p[160];
  path_of(p, sizeof p, key, "lock");
  struct stat st;
  if (stat(p, &st) == 0) {
    long age_ms = (long)(time(NULL) - st.st_mtime) * 1000;
    if ((age_ms > 0 ? age_ms : 0) >= ttl_ms) unlink(p);
  }
  int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

static void fs_unlock(void *ctx, const char *key) {
  (void)ctx;
  char p[160];
  path_of(p, sizeof p, key, "lock");
  unlink(p);
}

static const ac_store STORE = {NULL, fs_lookup, fs_record, fs_lock, fs_unlock};

static ac_conn *conn_for(const char *tool) {
  char base[128], tok[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d/%s", g_srv.port, tool);
  snprintf(tok, sizeof tok, "tok-%s-secret", tool);
  json_t *cfg = json_pack("{s:s, s:s}", "base_url", base, "token", tok);
  if (!strcmp(tool, "jira")) {
    json_object_set_new(cfg, "email", json_string("bot@example.org"));
    json_object_set_new(cfg, "project", json_string("ESC"));
  } else if (!strcmp(tool, "github")) json_object_set_new(cfg, "repo", json_string("escucha/ops"));
  else if (!strcmp(tool, "gitlab")) json_object_set_new(cfg, "project", json_string("escucha/ops"));
  else if (!strcmp(tool, "redmine")) json_object_set_new(cfg, "project", json_string("escucha"));
  else if (!strcmp(tool, "asana")) json_object_set_new(cfg, "project", json_string("1200000000000001"));
  else if (!strcmp(tool, "clickup")) json_object_set_new(cfg, "list", json_string("901"));
  else if (!strcmp(tool, "monday")) {
    char u[160];
    snprintf(u, sizeof u, "%s/v2", base);
    json_object_set_new(cfg, "base_url", json_string(u));
    json_object_set_new(cfg, "board", json_string("123"));
  } else if (!strcmp(tool, "trello")) {
    json_object_set_new(cfg, "api_key", json_string("trello-api-key"));
    json_object_set_new(cfg, "list", json_string("list-todo"));
    json_object_set_new(cfg, "board", json_string("board-1"));
  }
  ac_conn *c = ac_conn_new(tool, cfg);
  json_decref(cfg);
  c->retry.max_attempts = 1;
  return c;
}

static long created_count(const char *tool) {
  char path[96], *out = NULL;
  snprintf(path, sizeof path, "/__stats?vendor=%s", tool);
  tc_http(g_srv.port, "GET", path, NULL, &out);
  json_t *j = json_loads(out, 0, NULL);
  long v = (long)json_integer_value(json_object_get(j, "created"));
  json_decref(j);
  free(out);
  return v;
}

static void test_crash_every_step(void **st) {
  (void)st;
  static const char *tools[] = {"jira", "github", "gitlab", "redmine", "asana", "clickup", "monday", "trello"};
  static const char *points[] = {"after_lock", "after_search", "after_create", "after_record", "none"};
  int seq = 0;
  for (size_t ti = 0; ti < sizeof tools / sizeof tools[0]; ti++) {
    for (size_t pi = 0; pi < sizeof points / sizeof points[0]; pi++) {
      char key[64], body[256];
      snprintf(key, sizeof key, "esk-%016x", ++seq);
      snprintf(body, sizeof body, "plan\n" AC_MARKER_PREFIX "%s\n", key);
      ac_issue is = {key, "[Escucha] crash test", body, NULL, "demo", "t"};
      long before = created_count(tools[ti]);
      pid_t pid = fork();
      assert_true(pid >= 0);
      if (pid == 0) {
        ac_crash_at = points[pi];
        ac_conn *c = conn_for(tools[ti]);
        ac_ticket t;
        ac_error e = {0};
        int created;
        int rc = ac_ensure_ticket(c, &STORE, "plan-1", &is, 0, &t, &created, &e);
        _exit(rc == AC_OK ? 0 : 3);
      }
      int status;
      assert_int_equal(waitpid(pid, &status, 0), pid);
      if (strcmp(points[pi], "none") == 0) assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      else assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
      /* restart: twice, as a redelivered message would */
      for (int round = 0; round < 2; round++) {
        ac_conn *c = conn_for(tools[ti]);
        ac_ticket t;
        ac_error e = {0};
        int created;
        int rc = ac_ensure_ticket(c, &STORE, "plan-1", &is, 0, &t, &created, &e);
        if (rc != AC_OK) fail_msg("%s/%s: rc %d %s", tools[ti], points[pi], rc, e.msg);
        assert_true(t.key[0]);
        ac_conn_free(c);
      }
      if (created_count(tools[ti]) != before + 1)
        fail_msg("%s crash %s: %ld tickets", tools[ti], points[pi], created_count(tools[ti]) - before);
    }
  }
}

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/escucha-crash-XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  return tc_start(&g_srv, "vendor_server.py", NULL);
}

static int teardown(void **st) {
  (void)st;
  tc_stop(&g_srv);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash_every_step)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
