/* Replays fuzz corpora without libFuzzer: links with a target's
 * LLVMFuzzerTestOneInput so the ASan unit suite re-runs every kept input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  size_t len = 0;
  char *data = es_read_file(path, &len);
  if (!data) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  LLVMFuzzerTestOneInput((const uint8_t *)data, len);
  free(data);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      bad += run_file(argv[i]);
      n++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
      bad += run_file(p);
      n++;
    }
    if (d) closedir(d);
  }
  printf("replayed %d inputs\n", n);
  return bad ? 1 : 0;
}
