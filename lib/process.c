#include "process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h" /* ESCUCHA_VERSION */
#include "log.h"
#include "metrics.h"

#ifndef ESCUCHA_COMMIT
#define ESCUCHA_COMMIT "unknown"
#endif

const char *es_build_commit(void) { return ESCUCHA_COMMIT; }

static char g_dir[4096];

void es_process_watch_dir(const char *path) { snprintf(g_dir, sizeof g_dir, "%s", path ? path : ""); }

void es_process_refresh(void) {
  struct statvfs v;
  if (!g_dir[0] || statvfs(g_dir, &v) != 0) return;
  es_metric_set(es_gauge("escucha_state_disk_free_bytes",
                         "Bytes available to the service on the state folder's filesystem.", "path", NULL),
                (double)v.f_bavail * (double)v.f_frsize, g_dir);
  es_metric_set(
      es_gauge("escucha_state_disk_size_bytes", "Size of the state folder's filesystem in bytes.", "path", NULL),
      (double)v.f_blocks * (double)v.f_frsize, g_dir);
}

static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[256];
  double bt = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "btime ", 6) == 0) bt = strtod(line + 6, NULL);
  fclose(f);
  return bt;
}

static double count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  double n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory stream's own fd */
}

int es_process_read(es_process_stats *st) {
  memset(st, 0, sizeof *st);
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* fields after the command name, which may hold spaces: find the last ')' */
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long utime = 0, stime = 0, vsize = 0;
  unsigned long long start = 0;
  long rss = 0;
  /* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld", &utime,
             &stime, &start, &vsize, &rss) != 5)
    return -1;
  double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE), bt = boot_time();
  if (tick <= 0 || bt < 0) return -1;
  st->cpu_seconds = (double)(utime + stime) / tick;
  st->virtual_bytes = (double)vsize;
  st->resident_bytes = (double)rss * page;
  st->start_time = bt + (double)start / tick;
  st->open_fds = count_fds();
  struct rlimit rl;
  st->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : -1;
  return 0;
}

static int family(es_buf *b, const char *name, const char *type, const char *help, double v) {
  if (v < 0) return 0; /* unknown: left out rather than a made-up value */
  return es_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

int es_process_render(es_buf *b) {
  es_process_stats st;
  int rc = 0;
  if (es_process_read(&st) == 0) {
    rc |= family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                 st.cpu_seconds);
    rc |= family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", st.resident_bytes);
    rc |= family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", st.virtual_bytes);
    rc |= family(b, "process_open_fds", "gauge", "Number of open file descriptors.", st.open_fds);
    rc |= family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", st.max_fds);
    rc |= family(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                 st.start_time);
  }
  rc |= es_buf_printf(b,
                      "# HELP escucha_build_info The running build: service, version and commit.\n"
                      "# TYPE escucha_build_info gauge\n"
                      "escucha_build_info{service=\"%s\",version=\"%s\",commit=\"%s\"} 1\n",
                      es_log_service(), ESCUCHA_VERSION, ESCUCHA_COMMIT);
  return rc ? -1 : 0;
}
